/* SPDX-License-Identifier: MIT */
/*
 * Benchmark utilities: clock, CPU list and placement, CPU time, spin-then-
 * yield, the watchdog, and the pieces every workload file shares (a run's
 * failure and start, per-producer checks, case lists, self-test reports).
 *
 * The watchdog is one detached thread that wakes every second and sums the
 * per-thread progress counters of the running workload. If the sum has not
 * moved for BENCH_WATCHDOG_S seconds while a workload is running, it prints
 * the workload's name and every counter, and aborts: a lost wake-up shows
 * up as a clear message within 30 s, not as a hung CI job.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_WATCHDOG_S 30
#define BENCH_SLOTS 64

int64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *
bench_pin_name(enum bench_pin pin)
{
    switch (pin) {
    case BENCH_PIN_NONE:
        return "none";
    case BENCH_PIN_SPLIT:
        return "split";
    case BENCH_PIN_SAME:
        return "same";
    }
    return "?";
}

int
bench_ncpus(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 1;
    return CPU_COUNT(&set);
}

int
bench_allowed_cpus(int *cpus, int max)
{
    cpu_set_t set;
    int n = 0;
    int i;

    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 0;
    for (i = 0; i < CPU_SETSIZE && n < max; i++)
        if (CPU_ISSET(i, &set))
            cpus[n++] = i;
    return n;
}

int
bench_cpu_for(enum bench_pin pin, const int *cpus, int ncpu, bool producer,
              int i)
{
    int half;

    switch (pin) {
    case BENCH_PIN_NONE:
        return -1;
    case BENCH_PIN_SAME:
        return cpus[0];
    case BENCH_PIN_SPLIT:
        if (ncpu < 2)
            return -1;
        half = ncpu / 2;
        if (producer)
            return cpus[i % half];
        return cpus[half + i % (ncpu - half)];
    }
    return -1;
}

int
bench_pin_self(int cpu)
{
    cpu_set_t set;

    if (cpu < 0)
        return 0;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static double
tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

void
bench_usage(double *cpu_s, uint64_t *ctxsw)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    *cpu_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    *ctxsw = (uint64_t)(ru.ru_nvcsw + ru.ru_nivcsw);
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

void
bench_backoff(unsigned *spins)
{
    if (*spins < BENCH_SPIN_POLLS) {
        (*spins)++;
        cpu_relax();
    } else {
        sched_yield();
    }
}

/* ---- Shared by the workloads -------------------------------------------- */

void
bench_fail(struct bench_sync *s, const char *fmt, ...)
{
    int zero = 0;
    va_list ap;

    if (__atomic_compare_exchange_n(&s->failed, &zero, 1, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        va_start(ap, fmt);
        vsnprintf(s->err, sizeof(s->err), fmt, ap);
        va_end(ap);
    }
    s->close_all(s);
}

bool
bench_failed(struct bench_sync *s)
{
    return __atomic_load_n(&s->failed, __ATOMIC_ACQUIRE) != 0;
}

bool
bench_worker_begin(struct bench_sync *s, int cpu)
{
    int rc = bench_pin_self(cpu);

    if (rc != 0)
        bench_fail(s, "pthread_setaffinity_np(CPU %d): %s", cpu, strerror(rc));
    pthread_barrier_wait(&s->start);
    return rc == 0;
}

int
bench_case_cpus(const struct bench_case *c, int *cpus, struct bench_result *res)
{
    int ncpu = bench_allowed_cpus(cpus, CPU_SETSIZE);

    if (ncpu < 1) {
        cpus[0] = 0;
        ncpu = 1;
    }
    if (c->pin == BENCH_PIN_SPLIT && ncpu < 2)
        snprintf(res->note, sizeof(res->note),
                 "split ran unpinned: only 1 CPU");
    return ncpu;
}

void
bench_thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(th, NULL, fn, arg);

    if (rc != 0) {
        /* The barrier would never open: nothing to do but stop. */
        fprintf(stderr, "lfc_bench: pthread_create: %s\n", strerror(rc));
        abort();
    }
}

struct lfc_hist *
bench_hist_new(void)
{
    struct lfc_hist *h = malloc(sizeof(*h));

    if (h == NULL) {
        fprintf(stderr, "lfc_bench: out of memory\n");
        abort();
    }
    lfc_hist_init(h);
    return h;
}

uint64_t
bench_share(const struct bench_case *c, int id)
{
    return c->msgs / (uint64_t)c->producers +
           ((uint64_t)id < c->msgs % (uint64_t)c->producers);
}

bool
bench_checkpoint(int slot, uint64_t count, int64_t deadline)
{
    bench_progress(slot, count);
    return bench_now_ns() >= deadline;
}

void
bench_add_producer(struct bench_result *res, const struct bench_case *c,
                   uint64_t sent, int64_t t_start, bool capped, int64_t *t0)
{
    if (t_start != 0 && t_start < *t0)
        *t0 = t_start;
    res->msgs += sent;
    if (capped && res->note[0] == '\0')
        snprintf(res->note, sizeof(res->note), "time cap: %.2f s per iteration",
                 c->max_s);
}

bool
bench_conserved(struct bench_result *res, int p, uint64_t sent, uint64_t got,
                uint64_t sum)
{
    /* 1 + 2 + ... + sent, without overflowing first. */
    uint64_t want =
        sent % 2 ? sent * ((sent + 1) / 2) : (sent / 2) * (sent + 1);

    if (got == sent && sum == want)
        return true;
    res->ok = false;
    snprintf(res->err, sizeof(res->err),
             "producer %d sent %" PRIu64 " messages (sum %" PRIu64
             ") but %" PRIu64 " arrived (sum %" PRIu64 ")",
             p, sent, want, got, sum);
    return false;
}

void
bench_builder_append(struct bench_builder *b, const struct bench_case *c)
{
    if (b->n == b->max) {
        b->max = b->max ? 2 * b->max : 256;
        b->v = realloc(b->v, b->max * sizeof(*b->v));
        if (b->v == NULL) {
            fprintf(stderr, "lfc_bench: out of memory\n");
            abort();
        }
    }
    b->v[b->n++] = *c;
}

bool
bench_pin_selected(const struct bench_config *cfg, const struct bench_case *c,
                   bool (*quick_pinned)(const struct bench_case *c))
{
    if (!(cfg->pins & (1u << c->pin)))
        return false;
    return !(cfg->mode == BENCH_QUICK && cfg->pins == 7u &&
             c->pin != BENCH_PIN_NONE && !quick_pinned(c));
}

void
bench_st_fail(int *failures, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "lfc_bench: selftest: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    (*failures)++;
}

/* ---- Watchdog ----------------------------------------------------------- */

struct slot {
    _Alignas(64) uint64_t count; /* written by its workload thread */
};

static struct slot slots[BENCH_SLOTS];
static const char *watch_what;  /* written by bench_watch_begin/end */
static int watch_n;             /* number of slots in use */
static unsigned watch_gen;      /* bumped by every begin */

void
bench_progress(int slot, uint64_t count)
{
    if (slot >= 0 && slot < BENCH_SLOTS)
        __atomic_store_n(&slots[slot].count, count, __ATOMIC_RELAXED);
}

void
bench_watch_begin(const char *what, int nslots)
{
    int i;

    for (i = 0; i < BENCH_SLOTS; i++)
        __atomic_store_n(&slots[i].count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&watch_n, nslots < BENCH_SLOTS ? nslots : BENCH_SLOTS,
                     __ATOMIC_RELAXED);
    __atomic_add_fetch(&watch_gen, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&watch_what, what, __ATOMIC_RELEASE);
}

void
bench_watch_end(void)
{
    __atomic_store_n(&watch_what, NULL, __ATOMIC_RELEASE);
}

static void *
watchdog_main(void *arg)
{
    unsigned gen = 0;
    uint64_t last = 0;
    int still = 0;

    (void)arg;
    for (;;) {
        const char *what;
        uint64_t sum = 0;
        unsigned g;
        int n;
        int i;

        sleep(1);
        what = __atomic_load_n(&watch_what, __ATOMIC_ACQUIRE);
        g = __atomic_load_n(&watch_gen, __ATOMIC_RELAXED);
        if (what == NULL || g != gen) {
            gen = g;
            still = 0;
            last = UINT64_MAX;
            continue;
        }
        n = __atomic_load_n(&watch_n, __ATOMIC_RELAXED);
        for (i = 0; i < n; i++)
            sum += __atomic_load_n(&slots[i].count, __ATOMIC_RELAXED);
        if (sum != last) {
            last = sum;
            still = 0;
            continue;
        }
        if (++still < BENCH_WATCHDOG_S)
            continue;
        fprintf(stderr,
                "\nlfc_bench: WATCHDOG: %s made no progress for %d s "
                "(deadlock or lost wake-up?); per-thread message counts:",
                what, BENCH_WATCHDOG_S);
        for (i = 0; i < n; i++)
            fprintf(stderr, " %llu",
                    (unsigned long long)__atomic_load_n(&slots[i].count,
                                                        __ATOMIC_RELAXED));
        fprintf(stderr, "\nlfc_bench: aborting\n");
        abort();
    }
    return NULL;
}

void
bench_watchdog_start(void)
{
    static int started;
    pthread_t t;

    if (started++)
        return;
    if (pthread_create(&t, NULL, watchdog_main, NULL) != 0) {
        fprintf(stderr, "lfc_bench: cannot start the watchdog thread\n");
        exit(2);
    }
    pthread_detach(t);
}
