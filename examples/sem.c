/* SPDX-License-Identifier: MIT */
/*
 * A weighted semaphore as a memory budget, and a wait group: workers run
 * jobs of different sizes, each taking as many permits as the KiB of
 * scratch memory it needs, so never more than BUDGET_KIB are allocated at
 * once. Waiters are served in arrival order, so a big job is not starved
 * by a stream of small ones. The main thread waits for the workers with a
 * wait group. Built and run by the test suite (it exits non-zero if
 * anything is off).
 *
 *   cc examples/sem.c $(pkg-config --cflags --libs lfchan)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lfchan.h>

enum { BUDGET_KIB = 256, WORKERS = 8, JOBS = 200 };

static lfc_sem *budget;
static lfc_wg *wg;
static int64_t in_use;            /* KiB allocated right now (atomic) */
static int64_t peak;              /* the most ever allocated at once (atomic) */
static int64_t done_kib[WORKERS]; /* plain: each worker writes its own */

static int64_t
job_kib(long worker, int job)
{
    return 1 + (worker * 37 + job * 11) % 192; /* 1 to 192 KiB */
}

/* Records how much is allocated, for the check at the end. */
static void
note_use(int64_t delta)
{
    int64_t now = __atomic_add_fetch(&in_use, delta, __ATOMIC_RELAXED);
    int64_t p = __atomic_load_n(&peak, __ATOMIC_RELAXED);
    while (now > p &&
           !__atomic_compare_exchange_n(&peak, &p, now, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

static void *
worker(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (int j = 0; j < JOBS; j++) {
        int64_t kib = job_kib(id, j);
        lfc_sem_acquire(budget, kib); /* waits until kib are free */
        note_use(kib);

        char *buf = malloc((size_t)kib * 1024);
        if (buf) {
            memset(buf, j, (size_t)kib * 1024); /* the "work" */
            free(buf);
            done_kib[id] += kib;
        }

        note_use(-kib);
        lfc_sem_release(budget, kib);
    }
    lfc_wg_done(wg); /* our writes happen-before lfc_wg_wait returns */
    return NULL;
}

int
main(void)
{
    budget = lfc_sem_new(BUDGET_KIB);
    wg = lfc_wg_new();
    pthread_t t[WORKERS];

    for (long i = 0; i < WORKERS; i++) {
        lfc_wg_add(wg, 1); /* before the worker starts, as in Go */
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    }
    lfc_wg_wait(wg); /* every worker has called lfc_wg_done */

    int64_t total = 0, want = 0;
    for (long i = 0; i < WORKERS; i++) {
        total += done_kib[i]; /* safe to read: ordered by the wait */
        for (int j = 0; j < JOBS; j++)
            want += job_kib(i, j);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    int ok = total == want && peak <= BUDGET_KIB &&
             lfc_sem_available(budget) == BUDGET_KIB;

    /* Releasing more than was acquired is an error, not an overflow. */
    ok = ok && lfc_sem_release(budget, 1) == LFC_EINVAL;
    /* A request larger than the budget could never succeed. */
    ok = ok && lfc_sem_acquire(budget, BUDGET_KIB + 1) == LFC_EINVAL;

    printf("%d jobs, %lld KiB processed (want %lld), peak %lld of %d KiB\n",
           WORKERS * JOBS, (long long)total, (long long)want, (long long)peak,
           BUDGET_KIB);
    lfc_wg_free(wg);
    lfc_sem_free(budget);
    return ok ? 0 : 1;
}
