/* SPDX-License-Identifier: MIT */
/*
 * What the stress binaries (tests/stress/stress_<module>.c) share on top of
 * lfc_test_support.h: thread-safe failure recording, a seeded random
 * generator and pauses, checked thread creation, and the 16-byte message
 * with its exactly-once / per-producer-order tracker.
 *
 * Worker threads never call cmocka's assert macros (cmocka is not thread
 * safe and longjmps in the calling thread). They record failures with
 * stress_fail(), which prints the first few at once, so that even a run the
 * watchdog aborts shows them; the main thread asserts after joining
 * (assert_no_failures).
 *
 * Include it after <cmocka.h>, with LFC_STRESS_NAME defined to the binary's
 * name (it prefixes every message). Like lfc_test_support.h it is
 * header-only and every function is static inline.
 */
#ifndef LFC_STRESS_SUPPORT_H
#define LFC_STRESS_SUPPORT_H

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfc_test_support.h"
#include "lfchan.h"

#ifndef LFC_STRESS_NAME
#error "define LFC_STRESS_NAME (the binary's name) before including this"
#endif

/* ------------------------------------------------------------------------ */
/* Failure recording (thread safe).                                         */

#define FAIL_PRINT_MAX 10

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long fail_count; /* guarded by fail_mu */
static char fail_first[512];     /* guarded by fail_mu */

static inline void stress_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inline void
stress_fail(const char *fmt, ...)
{
    char buf[sizeof(fail_first)];
    va_list ap;
    unsigned long n;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&fail_mu);
    n = fail_count++;
    if (n == 0)
        memcpy(fail_first, buf, sizeof(buf));
    pthread_mutex_unlock(&fail_mu);
    if (n < FAIL_PRINT_MAX) {
        fprintf(stderr, LFC_STRESS_NAME ": FAIL: %s\n", buf);
        fflush(stderr);
    }
}

static inline void
failures_reset(void)
{
    pthread_mutex_lock(&fail_mu);
    fail_count = 0;
    fail_first[0] = '\0';
    pthread_mutex_unlock(&fail_mu);
}

static inline unsigned long
failures_so_far(void)
{
    unsigned long n;

    pthread_mutex_lock(&fail_mu);
    n = fail_count;
    pthread_mutex_unlock(&fail_mu);
    return n;
}

/* Main thread only, after every worker has been joined. */
static inline void
assert_no_failures(void)
{
    unsigned long n;
    char first[sizeof(fail_first)];

    pthread_mutex_lock(&fail_mu);
    n = fail_count;
    memcpy(first, fail_first, sizeof(first));
    pthread_mutex_unlock(&fail_mu);
    if (n != 0)
        fail_msg("%lu failure(s); first: %s", n, first);
}

/* A check inside a worker thread: records, never longjmps. */
#define WCHECK(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond))                                                           \
            stress_fail(__VA_ARGS__);                                          \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Randomness, pauses, time, threads.                                       */

static inline uint64_t
rng_next(uint64_t *s)
{
    /* xorshift64*: plenty for picking delays and operations. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A seed that differs between runs and, through salt, between threads. */
static inline uint64_t
rng_seed(uint64_t salt)
{
    uint64_t s = (uint64_t)lfc_test_now_ns() ^ (salt * 0x9E3779B97F4A7C15ULL);
    return s ? s : 1;
}

/* Busy-waits about ns nanoseconds without entering the kernel. */
static inline void
spin_ns(int64_t ns)
{
    int64_t end = lfc_test_now_ns() + ns;
    while (lfc_test_now_ns() < end) {
    }
}

static inline double
secs_since(int64_t t0)
{
    return (double)(lfc_test_now_ns() - t0) / 1e9;
}

/* A deadline 0 to max_ns from now; a quarter of them "now" (already past
 * by the time the call looks: it succeeds only if it can complete at once,
 * which on an unbuffered channel means retracting an offer nobody took). */
static inline int64_t
short_deadline(uint64_t *rng, int64_t max_ns)
{
    uint64_t r = rng_next(rng);
    int64_t now = lfc_now_ns();

    if ((r & 3) == 0)
        return now;
    return now + (int64_t)((r >> 2) % (uint64_t)(max_ns + 1));
}

/* A timed-out call must not return before its deadline. */
static inline void
check_timeout_not_early(int64_t deadline, const char *what, unsigned id)
{
    int64_t now = lfc_now_ns();
    WCHECK(now >= deadline,
           "%s %u: LFC_TIMEDOUT %" PRId64 " ns before its deadline", what, id,
           deadline - now);
}

static inline void
xpthread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0) {
        fprintf(stderr, LFC_STRESS_NAME ": pthread_create: %s\n", strerror(rc));
        abort();
    }
}

static inline void
xpthread_join(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    if (rc != 0) {
        fprintf(stderr, LFC_STRESS_NAME ": pthread_join: %s\n", strerror(rc));
        abort();
    }
}

/* ------------------------------------------------------------------------ */
/* Messages and the exactly-once / per-producer-order tracker.              */

/*
 * 16 bytes. `pad` carries a check value derived from (producer, seq), so a
 * torn or stale copy of the payload is caught as well as a lost or
 * duplicated one.
 */
struct msg {
    uint32_t producer;
    uint32_t pad;
    uint64_t seq;
};

_Static_assert(sizeof(struct msg) == 16, "messages are 16 bytes");

static inline uint32_t
msg_check(uint32_t producer, uint64_t seq)
{
    uint64_t h = (seq + 1) * 0x9E3779B97F4A7C15ULL ^
                 ((uint64_t)producer + 1) * 0xC2B2AE3D27D4EB4FULL;
    return (uint32_t)(h ^ (h >> 32));
}

static inline struct msg
msg_make(uint32_t producer, uint64_t seq)
{
    struct msg m = {producer, msg_check(producer, seq), seq};
    return m;
}

#define SEQ_NONE UINT64_MAX

/*
 * seen[p * per_prod + seq] counts receptions of message (p, seq). Consumers
 * bump it with an atomic RMW, so concurrent consumers are TSan-clean and a
 * second reception is reported by the thread that makes it.
 */
struct tracker {
    unsigned nprod;
    uint64_t per_prod;
    uint8_t *seen;
};

static inline void
tracker_init(struct tracker *t, unsigned nprod, uint64_t per_prod)
{
    t->nprod = nprod;
    t->per_prod = per_prod;
    t->seen = calloc((size_t)nprod * per_prod, 1);
    if (t->seen == NULL)
        abort();
}

static inline void
tracker_free(struct tracker *t)
{
    free(t->seen);
    t->seen = NULL;
}

/* A consumer's order table for nch channels: last[ch * nprod + p], the
 * last seq received from producer p on channel ch (SEQ_NONE before any). */
static inline uint64_t *
last_new(unsigned nch, unsigned nprod)
{
    uint64_t *last = malloc((size_t)nch * nprod * sizeof(*last));
    if (last == NULL)
        abort();
    for (unsigned i = 0; i < nch * nprod; i++)
        last[i] = SEQ_NONE;
    return last;
}

/*
 * Records one message received on channel `chi` of the order table `last`
 * (order is checked per channel; pass 0 when there is one channel, or when
 * each producer uses one channel only). Returns false if the message was
 * malformed (then only the failure is recorded). Callers keep receiving
 * either way, so a bad message fails the test instead of stranding the
 * other threads.
 */
static inline bool
tracker_note(struct tracker *t, uint64_t *last, unsigned chi,
             const struct msg *m, const char *who, unsigned id)
{
    uint8_t old;
    uint64_t *l;

    if (m->producer >= t->nprod || m->seq >= t->per_prod) {
        stress_fail("%s %u: received impossible message producer=%" PRIu32
                    " seq=%" PRIu64,
                    who, id, m->producer, m->seq);
        return false;
    }
    if (m->pad != msg_check(m->producer, m->seq))
        stress_fail("%s %u: torn payload producer=%" PRIu32 " seq=%" PRIu64
                    " check=%#" PRIx32 " want %#" PRIx32,
                    who, id, m->producer, m->seq, m->pad,
                    msg_check(m->producer, m->seq));
    l = &last[chi * t->nprod + m->producer];
    if (*l != SEQ_NONE && m->seq <= *l)
        stress_fail("%s %u: producer %" PRIu32 " order broken on channel %u: "
                    "seq %" PRIu64 " after %" PRIu64,
                    who, id, m->producer, chi, m->seq, *l);
    *l = m->seq;
    old =
        __atomic_fetch_add(&t->seen[(size_t)m->producer * t->per_prod + m->seq],
                           1, __ATOMIC_RELAXED);
    if (old != 0)
        stress_fail("%s %u: duplicate producer=%" PRIu32 " seq=%" PRIu64
                    " (received %u times before)",
                    who, id, m->producer, m->seq, (unsigned)old);
    return true;
}

/*
 * After every worker is joined: message (p, seq) must have been received
 * exactly once for seq < sent[p], and never for seq >= sent[p].
 * Returns the number of messages received.
 */
static inline uint64_t
tracker_verify(const struct tracker *t, const uint64_t *sent, const char *what)
{
    uint64_t got = 0;
    unsigned long bad = 0;

    for (unsigned p = 0; p < t->nprod; p++) {
        for (uint64_t s = 0; s < t->per_prod; s++) {
            unsigned c = t->seen[(size_t)p * t->per_prod + s];
            unsigned want = s < sent[p] ? 1 : 0;
            got += c;
            if (c != want && bad++ < FAIL_PRINT_MAX)
                stress_fail("%s: producer %u seq %" PRIu64
                            " received %u times, want %u",
                            what, p, s, c, want);
        }
    }
    if (bad > FAIL_PRINT_MAX)
        stress_fail("%s: %lu messages received the wrong number of times", what,
                    bad);
    return got;
}

/* ------------------------------------------------------------------------ */
/* main().                                                                  */

/*
 * Once, from main(): LFC_TEST_FILTER / LFC_TEST_SKIP=<pattern> (cmocka's
 * test and skip filters: * and ? wildcards) pick the tests to run or to
 * leave out, and the whole binary runs under an alarm of `alarm_s`
 * seconds. Sizes grow with LFC_TEST_SCALE, so a soak run (scale above 1)
 * gets a proportional limit; the watchdogs still catch any stall within
 * 20 to 30 s. The alarm is not a time limit on the work: stress_chan took
 * over 600 s beside four busy loops and seven concurrent builds on 2 CPUs
 * (32-44 s alone), and passed every check it reached.
 */
static inline void
stress_main_init(unsigned alarm_s)
{
    double scale = lfc_test_scale();

    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    if (getenv("LFC_TEST_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("LFC_TEST_SKIP"));
    lfc_test_alarm(scale > 1 ? (unsigned)(alarm_s * scale) : alarm_s);
}

#endif /* LFC_STRESS_SUPPORT_H */
