/* SPDX-License-Identifier: MIT */
/*
 * Stress tests for the batch calls of lfchan channels (include/lfchan/
 * chan.h, "Batches"), mixed with the single calls.
 *
 *   mixed_8x8_cap<N>      8 producers, 8 consumers, capacity N in {0, 1,
 *                         7, 1024}. Each step of a producer picks lfc_send,
 *                         lfc_send_many, lfc_try_send_many or
 *                         lfc_send_many_until (short deadlines) over a
 *                         random batch of 1 to 64 of its next messages; a
 *                         partial result resends the rest, so a *sent that
 *                         says too few shows up as a duplicate and one
 *                         that says too many as a lost message. Consumers
 *                         pick lfc_recv, lfc_recv_many, lfc_try_recv_many
 *                         or lfc_recv_many_until with a random max of 1 to
 *                         64. Every message received exactly once, and in
 *                         order per producer within each consumer.
 *   close_races_8x8_cap<N> eight rounds of the same mix, producers
 *                         sending without end, and a closer that closes the channel after a
 *                         random number of messages: every message counted
 *                         in a producer's *sent (or single LFC_OK) is
 *                         received exactly once, none beyond it, and every
 *                         thread returns (LFC_CLOSED after the drain).
 *
 * Every run starts its workers behind a barrier, under a watchdog on a
 * progress counter (a lost wake-up aborts within seconds). Sizes scale
 * with LFC_TEST_SCALE; LFC_TEST_FILTER / LFC_TEST_SKIP pick tests (cmocka
 * patterns). Workers record failures with stress_fail; the main thread
 * asserts after joining (tests/support/lfc_stress_support.h).
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#define LFC_STRESS_NAME "stress_batch"
#include "lfc_stress_support.h"
#include "lfchan.h"

#define NP 8
#define NC 8
#define BATCH_MAX 64
/* Deadlines of the _until calls: 0 to this many ns from now. */
#define DEADLINE_NS 100000

enum { SOP_SINGLE, SOP_MANY, SOP_TRY_MANY, SOP_UNTIL_MANY, SOP_N };
enum { ROP_SINGLE, ROP_MANY, ROP_TRY_MANY, ROP_UNTIL_MANY, ROP_N };

struct run {
    const char *name;
    lfc_chan *ch;
    size_t cap;
    bool endless;         /* close race: producers send until LFC_CLOSED */
    uint64_t per_prod;    /* messages per producer (the tracker's size) */
    uint64_t close_after; /* close race: received messages before close */
    lfc_test_barrier start;
    struct tracker tr;
    unsigned long progress;   /* bumped by every worker (atomic) */
    unsigned long received;   /* messages received (atomic) */
    unsigned long live;       /* producers still sending (atomic) */
    unsigned long sop[SOP_N]; /* send calls per op (atomic) */
    unsigned long rop[ROP_N]; /* receive calls per op (atomic) */
    unsigned long partial;    /* partial sends (atomic) */
};

struct worker {
    struct run *run;
    unsigned id;
    pthread_t thread;
    uint64_t sent; /* producers: messages whose send went in */
};

static size_t
rand_batch(uint64_t *rng)
{
    /* Favour small and large batches alike: 1..8 half the time. */
    uint64_t r = rng_next(rng);
    if (r & 1)
        return 1 + (size_t)((r >> 1) % 8);
    return 1 + (size_t)((r >> 1) % BATCH_MAX);
}

/*
 * Sends msgs[0..n) by op; returns the status that ended it (LFC_OK: all
 * in) with *in the exact number that went in. Retries on LFC_AGAIN and
 * LFC_TIMEDOUT with the rest, so only LFC_OK and LFC_CLOSED come back.
 */
static int
send_some(struct run *run, unsigned id, int op, const struct msg *msgs,
          size_t n, uint64_t *rng, size_t *in)
{
    size_t done = 0;
    int r = LFC_OK;
    while (done < n) {
        size_t left = n - done;
        size_t c = (size_t)-1;
        int64_t dl = 0;
        bool ok;
        switch (op) {
        case SOP_SINGLE:
            r = lfc_send(run->ch, &msgs[done]);
            c = r == LFC_OK ? 1 : 0;
            ok = r == LFC_OK || r == LFC_CLOSED;
            break;
        case SOP_MANY:
            r = lfc_send_many(run->ch, msgs + done, left, &c);
            ok = (r == LFC_OK && c == left) || (r == LFC_CLOSED && c < left);
            break;
        case SOP_TRY_MANY:
            r = lfc_try_send_many(run->ch, msgs + done, left, &c);
            ok = (r == LFC_OK && c >= 1 && c <= left) ||
                 ((r == LFC_AGAIN || r == LFC_CLOSED) && c == 0);
            break;
        default:
            dl = short_deadline(rng, DEADLINE_NS);
            r = lfc_send_many_until(run->ch, msgs + done, left, &c, dl);
            ok = (r == LFC_OK && c == left) ||
                 ((r == LFC_TIMEDOUT || r == LFC_CLOSED) && c < left);
            break;
        }
        if (!ok) {
            stress_fail("%s: producer %u op %d: %s with %zu of %zu", run->name,
                        id, op, lfc_strerror(r), c, left);
            if (c > left)
                c = 0;
            done += c;
            r = LFC_EINVAL; /* stop */
            break;
        }
        done += c;
        if (r == LFC_CLOSED)
            break;
        if (r == LFC_TIMEDOUT)
            check_timeout_not_early(dl, "producer (send_many_until)", id);
        if (done < n)
            __atomic_fetch_add(&run->partial, 1, __ATOMIC_RELAXED);
        if (r == LFC_AGAIN)
            sched_yield();
    }
    *in = done;
    return done == n ? LFC_OK : r;
}

static void *
producer(void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    uint64_t rng = rng_seed(w->id + 1);
    struct msg batch[BATCH_MAX];

    lfc_test_barrier_wait(&run->start);
    while (w->sent < run->per_prod) {
        size_t n = rand_batch(&rng);
        if (n > run->per_prod - w->sent)
            n = (size_t)(run->per_prod - w->sent);
        for (size_t i = 0; i < n; i++)
            batch[i] = msg_make(w->id, w->sent + i);
        int op = (int)(rng_next(&rng) % SOP_N);
        __atomic_fetch_add(&run->sop[op], 1, __ATOMIC_RELAXED);
        size_t in = 0;
        int r = send_some(run, w->id, op, batch, n, &rng, &in);
        w->sent += in;
        for (size_t i = 0; i < in; i++)
            lfc_progress_bump(&run->progress);
        if (r != LFC_OK) {
            WCHECK(r == LFC_CLOSED && run->endless,
                   "%s: producer %u: %s before the end", run->name, w->id,
                   lfc_strerror(r));
            break;
        }
    }
    WCHECK(run->endless || w->sent == run->per_prod,
           "%s: producer %u sent %" PRIu64 " of %" PRIu64, run->name, w->id,
           w->sent, run->per_prod);
    /* The last producer out closes (the close race closes earlier). */
    if (__atomic_sub_fetch(&run->live, 1, __ATOMIC_ACQ_REL) == 0)
        (void)lfc_close(run->ch);
    return NULL;
}

static void
note_all(struct run *run, uint64_t *last, const struct msg *m, size_t n,
         unsigned id)
{
    for (size_t i = 0; i < n; i++) {
        tracker_note(&run->tr, last, 0, &m[i], "consumer", id);
        lfc_progress_bump(&run->progress);
    }
    __atomic_fetch_add(&run->received, n, __ATOMIC_RELAXED);
}

static void *
consumer(void *arg)
{
    struct worker *w = arg;
    struct run *run = w->run;
    uint64_t rng = rng_seed(100 + w->id);
    uint64_t *last = last_new(1, NP);
    struct msg buf[BATCH_MAX];
    unsigned again = 0;

    lfc_test_barrier_wait(&run->start);
    for (;;) {
        size_t max = rand_batch(&rng);
        int op = (int)(rng_next(&rng) % ROP_N);
        size_t c = (size_t)-1;
        int64_t dl = 0;
        int r;
        __atomic_fetch_add(&run->rop[op], 1, __ATOMIC_RELAXED);
        switch (op) {
        case ROP_SINGLE:
            r = lfc_recv(run->ch, &buf[0]);
            c = r == LFC_OK ? 1 : 0;
            break;
        case ROP_MANY:
            r = lfc_recv_many(run->ch, buf, max, &c);
            break;
        case ROP_TRY_MANY:
            r = lfc_try_recv_many(run->ch, buf, max, &c);
            break;
        default:
            dl = short_deadline(&rng, DEADLINE_NS);
            r = lfc_recv_many_until(run->ch, buf, max, &c, dl);
            break;
        }
        if (r == LFC_OK) {
            WCHECK(c >= 1 && c <= max,
                   "%s: consumer %u: LFC_OK with %zu of %zu", run->name, w->id,
                   c, max);
            if (c > max)
                c = 0;
            note_all(run, last, buf, c, w->id);
            again = 0;
            continue;
        }
        WCHECK(c == 0, "%s: consumer %u: status %d with count %zu", run->name,
               w->id, r, c);
        if (r == LFC_CLOSED)
            break;
        if (r == LFC_TIMEDOUT) {
            check_timeout_not_early(dl, "consumer (recv_many_until)", w->id);
            continue;
        }
        if (r == LFC_AGAIN) {
            if ((++again & 7) == 0)
                sched_yield();
            continue;
        }
        stress_fail("%s: consumer %u: %s", run->name, w->id, lfc_strerror(r));
        break;
    }
    free(last);
    return NULL;
}

/* The close race's closer: closes once close_after messages arrived (or
 * at once when every producer already finished). Woken by nothing: it
 * polls the counter every 50 us. */
static void *
closer(void *arg)
{
    struct run *run = arg;
    lfc_test_barrier_wait(&run->start);
    while (__atomic_load_n(&run->received, __ATOMIC_RELAXED) <
               run->close_after &&
           __atomic_load_n(&run->live, __ATOMIC_ACQUIRE) != 0)
        lfc_test_sleep_ns(50 * LFC_TEST_US);
    (void)lfc_close(run->ch);
    return NULL;
}

static void
run_batch(const char *name, size_t cap, bool endless)
{
    struct run run;
    struct worker w[NP + NC];
    struct lfc_watchdog wd;
    uint64_t sent[NP];
    pthread_t cl;
    uint64_t rng = rng_seed(cap + 7);

    memset(&run, 0, sizeof(run));
    run.name = name;
    run.cap = cap;
    run.endless = endless;
    /* Rendezvous cost a wake-up each: a quarter of the messages. */
    run.per_prod = (uint64_t)lfc_test_scaled(cap == 0 ? 5000 : 20000, 200);
    run.ch = lfc_chan_new(cap, sizeof(struct msg));
    assert_non_null(run.ch);
    run.live = NP;
    if (endless)
        run.close_after = rng_next(&rng) % (NP * run.per_prod / 2 + 1);
    tracker_init(&run.tr, NP, run.per_prod);
    failures_reset();
    lfc_test_barrier_init(&run.start, NP + NC + (endless ? 1 : 0));
    lfc_watchdog_start(&wd, name, &run.progress, 30);

    for (unsigned i = 0; i < NP + NC; i++) {
        w[i] = (struct worker){.run = &run, .id = i < NP ? i : i - NP};
        xpthread_create(&w[i].thread, i < NP ? producer : consumer, &w[i]);
    }
    if (endless)
        xpthread_create(&cl, closer, &run);
    for (unsigned i = 0; i < NP + NC; i++)
        xpthread_join(w[i].thread);
    if (endless)
        xpthread_join(cl);
    lfc_watchdog_stop(&wd);

    for (unsigned p = 0; p < NP; p++)
        sent[p] = w[p].sent;
    uint64_t got = tracker_verify(&run.tr, sent, name);
    uint64_t total = 0;
    for (unsigned p = 0; p < NP; p++)
        total += sent[p];
    WCHECK(got == total, "%s: received %" PRIu64 " of %" PRIu64, name, got,
           total);
    printf("%s: %" PRIu64 " messages; sends single/many/try/until %lu/%lu/"
           "%lu/%lu (partial %lu); receives %lu/%lu/%lu/%lu\n",
           name, total, run.sop[0], run.sop[1], run.sop[2], run.sop[3],
           run.partial, run.rop[0], run.rop[1], run.rop[2], run.rop[3]);
    tracker_free(&run.tr);
    lfc_test_barrier_destroy(&run.start);
    lfc_chan_free(run.ch);
    assert_no_failures();
}

#define CONFIGS(X) X(0) X(1) X(7) X(1024)

#define DEFINE_TESTS(cap)                                                      \
    static void test_batch_stress_mixed_8x8_cap##cap(void **state)             \
    {                                                                          \
        (void)state;                                                           \
        run_batch("mixed_8x8_cap" #cap, cap, false);                           \
    }                                                                          \
    static void test_batch_stress_close_races_8x8_cap##cap(void **state)       \
    {                                                                          \
        (void)state;                                                           \
        /* Rounds: each closes at another random moment. */                    \
        for (int round = 0; round < 8; round++)                                \
            run_batch("close_races_8x8_cap" #cap, cap, true);                  \
    }
CONFIGS(DEFINE_TESTS)

#define TEST_ENTRIES(cap)                                                      \
    cmocka_unit_test(test_batch_stress_mixed_8x8_cap##cap),                    \
        cmocka_unit_test(test_batch_stress_close_races_8x8_cap##cap),

int
main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        CONFIGS(TEST_ENTRIES)
    };
    /* clang-format on */
    /* 1200 s: far above a normal run (seconds), as stress_chan. */
    stress_main_init(1200);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
