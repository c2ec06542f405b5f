/* SPDX-License-Identifier: MIT */
/*
 * Test support shared by every lfchan test binary: scale, a start barrier,
 * a watchdog that turns a hang into a failure, thread helpers, flags and a
 * reproducible random generator. lfc_test_futex.h adds the futex calls
 * behind the fake parkers, lfc_stress_support.h what only the stress
 * binaries share.
 *
 * Header-only so each test binary stays one translation unit plus this;
 * helpers are static inline, so the ones a test does not use do not warn.
 */
#ifndef LFC_TEST_SUPPORT_H
#define LFC_TEST_SUPPORT_H

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * LFC_TEST_SCALE (environment, default 1.0) multiplies every stress size:
 * lower for sanitizer runs, higher for soak runs.
 */
static inline double
lfc_test_scale(void)
{
    const char *s = getenv("LFC_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

/* n scaled by LFC_TEST_SCALE, at least min. */
static inline long
lfc_test_scaled(long n, long min)
{
    long v = (long)((double)n * lfc_test_scale());
    return v < min ? min : v;
}

/* ---- time constants ------------------------------------------------------
 *
 * One set of time constants for every test, so that no test picks its own
 * guess of how long "soon" is. Each bound a test waits for is multiplied by
 * lfc_test_timeout_mult(): 1 in a plain build, 3 in a sanitized one (ASan
 * and TSan, detected by gcc's __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__,
 * run everything several times slower, and the ASan build adds random debug
 * yields), or LFC_TEST_TIMEOUT_MULT from the environment (any value > 0)
 * for slower hosts. The bounds only decide when a test gives up on
 * something that must happen: a correct run never waits for them, so
 * raising them costs nothing but the time a failing run takes to say so.
 *
 * The rule they serve: a test asserts what is guaranteed (a deadline is
 * never returned before it passes, something happens eventually, ordering,
 * counts), never that something happened within a time.
 */
#define LFC_TEST_US ((int64_t)1000)
#define LFC_TEST_MS ((int64_t)1000000)
#define LFC_TEST_SEC ((int64_t)1000000000)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LFC_TEST_SANITIZED 1
#else
#define LFC_TEST_SANITIZED 0
#endif

/* The factor of every bound below: LFC_TEST_TIMEOUT_MULT (> 0) if set,
 * else 3 under a sanitizer, else 1. */
static inline double
lfc_test_timeout_mult(void)
{
    const char *s = getenv("LFC_TEST_TIMEOUT_MULT");
    double v = s ? atof(s) : 0;
    if (v > 0)
        return v;
    return LFC_TEST_SANITIZED ? 3.0 : 1.0;
}

/* ns multiplied by lfc_test_timeout_mult(). */
static inline int64_t
lfc_test_timeout_ns(int64_t ns)
{
    return (int64_t)((double)ns * lfc_test_timeout_mult());
}

/* A short deadline that is meant to expire (a timeout test's deadline). */
#define LFC_TEST_SHORT_NS lfc_test_timeout_ns(20 * LFC_TEST_MS)
/* How long to let a blocked helper run on when a test checks that it stays
 * blocked, or where no condition can say that something has happened. A
 * test must be correct whether or not the helper ran during it. */
#define LFC_TEST_SETTLE_NS lfc_test_timeout_ns(30 * LFC_TEST_MS)
/* A helper's call, or an event, that has not happened after this is stuck:
 * a lost wake-up or a deadlock. */
#define LFC_TEST_STUCK_NS lfc_test_timeout_ns(10 * LFC_TEST_SEC)
/* A deadline no test waits for (not scaled: it is never reached). */
#define LFC_TEST_FAR_NS (3600 * LFC_TEST_SEC)
/* The hang watchdog's stall limit, in seconds (lfc_watchdog_start). */
#define LFC_TEST_WATCHDOG_S ((int)(20 * lfc_test_timeout_mult() + 0.5))
/* The whole-binary alarm of a unit test binary, in seconds (lfc_test_alarm
 * scales it): a last resort behind the per-call stuck bounds and the
 * watchdogs, so far above a normal run (seconds) that load cannot reach
 * it: test_merge takes 2 s alone and over 180 s beside two busy loops per
 * CPU. Below ctest's TIMEOUT (CMakeLists.txt), which is scaled the same
 * way in a sanitized build. */
#define LFC_TEST_ALARM_S 600u

static inline int64_t
lfc_test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void
lfc_test_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The calling thread's CPU time in ns, or -1 if it cannot be read. */
static inline int64_t
lfc_test_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Flags one thread sets and another polls: an acquire load and a release
 * store, so what the setter wrote before the store is visible to a poller
 * that sees the flag.
 */
static inline int
lfc_test_load_int(const int *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
lfc_test_store_int(int *p, int v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Waits up to `ns` for *flag to become nonzero, polling every 0.5 ms;
 * returns whether it did. */
static inline bool
lfc_test_wait_flag(const int *flag, int64_t ns)
{
    int64_t end = lfc_test_now_ns() + ns;
    while (!lfc_test_load_int(flag)) {
        if (lfc_test_now_ns() > end)
            return false;
        lfc_test_sleep_ns(500 * 1000);
    }
    return true;
}

/*
 * xorshift64: the next value of the generator whose state is *s (nonzero).
 * Reproducible across runs from a fixed seed, and per thread when each
 * thread passes its own state.
 */
static inline uint64_t
lfc_test_xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * Watchdog: a thread that aborts the process (after printing what stalled)
 * if the progress counter does not move for `stall_s` seconds. Stress tests
 * bump the counter as messages flow; a lost wake-up then fails the test in
 * seconds instead of hanging CI. The counter is read with __atomic so
 * ThreadSanitizer sees the accesses as atomic.
 */
struct lfc_watchdog {
    pthread_t thread;
    const char *what;
    unsigned long *progress; /* bumped by workers (atomic relaxed) */
    int stall_s;
    int stop;                /* written by lfc_watchdog_stop (atomic) */
};

static void *
lfc_watchdog_main(void *arg)
{
    struct lfc_watchdog *w = arg;
    unsigned long last = __atomic_load_n(w->progress, __ATOMIC_RELAXED);
    int64_t since = lfc_test_now_ns();
    /* Polls every 10 ms; woken by nothing else: stop is seen on the poll. */
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        lfc_test_sleep_ns(10 * 1000 * 1000);
        unsigned long now = __atomic_load_n(w->progress, __ATOMIC_RELAXED);
        if (now != last) {
            last = now;
            since = lfc_test_now_ns();
        } else if (lfc_test_now_ns() - since >
                   (int64_t)w->stall_s * 1000000000) {
            fprintf(stderr,
                    "WATCHDOG: no progress in %s for %d s (progress=%lu); "
                    "lost wake-up or deadlock\n",
                    w->what, w->stall_s, now);
            fflush(stderr);
            abort();
        }
    }
    return NULL;
}

/* Starts a watchdog over *progress: it fires after stall_s seconds times
 * lfc_test_timeout_mult() without progress; stall_s of 0 means
 * LFC_TEST_WATCHDOG_S (already scaled). */
static inline void
lfc_watchdog_start(struct lfc_watchdog *w, const char *what,
                   unsigned long *progress, int stall_s)
{
    memset(w, 0, sizeof(*w));
    w->what = what;
    w->progress = progress;
    w->stall_s = stall_s > 0
                     ? (int)(stall_s * lfc_test_timeout_mult() + 0.5)
                     : LFC_TEST_WATCHDOG_S;
    if (w->stall_s < 1)
        w->stall_s = 1;
    if (pthread_create(&w->thread, NULL, lfc_watchdog_main, w) != 0)
        abort();
}

static inline void
lfc_watchdog_stop(struct lfc_watchdog *w)
{
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
}

static inline void
lfc_progress_bump(unsigned long *progress)
{
    __atomic_fetch_add(progress, 1, __ATOMIC_RELAXED);
}

/*
 * A whole-test alarm: if the test binary runs longer than `seconds` times
 * lfc_test_timeout_mult(), SIGALRM kills it with a message. Call once from
 * main(); ctest's TIMEOUT is the second line of defence.
 */
static void
lfc_test_alarm_handler(int sig)
{
    static const char msg[] = "ALARM: test binary exceeded its time limit\n";
    (void)sig;
    if (write(2, msg, sizeof(msg) - 1) < 0) {
    }
    abort();
}

static inline void
lfc_test_alarm(unsigned seconds)
{
    signal(SIGALRM, lfc_test_alarm_handler);
    alarm((unsigned)(seconds * lfc_test_timeout_mult() + 0.5));
}

/* The scheduler state of thread tid of this process, from
 * /proc/self/task/TID/stat ('R', 'S': asleep in a system call, 'D', ...),
 * or 0 if it cannot be read (the thread has exited). */
static inline char
lfc_test_thread_state(pid_t tid)
{
    char path[64];
    char buf[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "tid (comm) S ...": comm may hold anything, so from the last ')'. */
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * Threads of this process whose name (/proc/self/task/N/comm) is `name`
 * (exact) or starts with it: sanitizer runtimes add threads of their own,
 * so tests that check "no thread left behind" count by name. -1 if
 * /proc/self/task cannot be read.
 */
static inline int
lfc_test_count_threads_matching(const char *name, bool exact)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    size_t len = strlen(name);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        char comm[64] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread exited meanwhile */
        if (fgets(comm, sizeof(comm), f)) {
            comm[strcspn(comm, "\n")] = '\0';
            if (exact ? strcmp(comm, name) == 0 : strncmp(comm, name, len) == 0)
                n++;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Threads whose name starts with `prefix`, e.g. "lfc-timer". */
static inline int
lfc_test_count_threads_named(const char *prefix)
{
    return lfc_test_count_threads_matching(prefix, false);
}

/* Threads named exactly `name`, e.g. "lfc-pool-0" but not "lfc-pool-01". */
static inline int
lfc_test_count_threads_exact(const char *name)
{
    return lfc_test_count_threads_matching(name, true);
}

/* Polls every 10 ms until no thread named `prefix` is left; false after
 * bound_ns. */
static inline bool
lfc_test_wait_no_threads_named(const char *prefix, int64_t bound_ns)
{
    int64_t end = lfc_test_now_ns() + bound_ns;
    while (lfc_test_count_threads_named(prefix) != 0) {
        if (lfc_test_now_ns() > end)
            return false;
        lfc_test_sleep_ns(10 * 1000 * 1000);
    }
    return true;
}

/*
 * assert_status(got, want): fails a cmocka test unless status `got` equals
 * `want`, naming both codes. Expands to cmocka's fail_msg, so use it only
 * in files that include <cmocka.h>.
 */
#define assert_status(got, want)                                              \
    do {                                                                      \
        int got_ = (got);                                                     \
        int want_ = (want);                                                   \
        if (got_ != want_)                                                    \
            fail_msg("%s: got %d (%s), want %d (%s)", #got, got_,             \
                     lfc_strerror(got_), want_, lfc_strerror(want_));         \
    } while (0)

/* Start barrier: threads wait here so they start together. */
typedef pthread_barrier_t lfc_test_barrier;

static inline void
lfc_test_barrier_init(lfc_test_barrier *b, unsigned n)
{
    pthread_barrier_init(b, NULL, n);
}

static inline void
lfc_test_barrier_wait(lfc_test_barrier *b)
{
    pthread_barrier_wait(b);
}

static inline void
lfc_test_barrier_destroy(lfc_test_barrier *b)
{
    pthread_barrier_destroy(b);
}

#endif /* LFC_TEST_SUPPORT_H */
