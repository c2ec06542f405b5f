/* SPDX-License-Identifier: MIT */
/*
 * Stress tests for lfchan channels (include/lfchan/chan.h): long, randomized
 * multi-threaded runs that check the header's guarantees on every message.
 *
 *   mpmc_<P>x<C>_cap<N>   P producers, C consumers, capacity N, all 20
 *                         combinations of {1x1, 4x1, 1x4, 4x4, 8x8} and
 *                         {0, 1, 3, 1024}: every message received exactly
 *                         once, per-producer order within each consumer.
 *   mixed_api_4x4_cap<N>  the same checks while both sides rotate through
 *                         the blocking, try_ and _until calls; a send that
 *                         timed out or got LFC_AGAIN is retried with the
 *                         same value, so one that enqueued anyway shows up
 *                         as a duplicate.
 *   close_races_...       close at a random moment against blocked senders
 *                         and receivers: every LFC_OK send received once,
 *                         no LFC_CLOSED send received, every thread returns.
 *   close_wakes_receivers_after_inflight_send_cap<N>
 *                         close while a send is between claiming its slot
 *                         and publishing it: when the channel then drains,
 *                         every parked receiver must wake with LFC_CLOSED.
 *   recv_until_races_sends_cap<N>, send_until_races_recvs_cap<N>
 *                         one side loops on an _until call with deadlines
 *                         0-200 us ahead, the other pauses at random:
 *                         exactly once (a timed-out send is retried with the
 *                         same value), LFC_TIMEDOUT never before the
 *                         deadline.
 *   pingpong_...          a million park/unpark handoffs over two capacity-1
 *                         channels: adaptive spin, both threads pinned to
 *                         one CPU, and spinning off (every wait parks).
 *   many_parked_receivers_cap<N>, many_parked_senders_cap<N>
 *                         16 threads parked on one channel, released one
 *                         value at a time; then close wakes the rest.
 *
 * Every threaded run starts its workers behind a barrier and runs under a
 * watchdog on a progress counter, so a lost wake-up aborts within seconds
 * instead of hanging. Sizes scale with LFC_TEST_SCALE (see
 * tests/support/lfc_test_support.h). LFC_TEST_FILTER=<pattern> runs only
 * the matching tests, LFC_TEST_SKIP=<pattern> leaves them out (cmocka's
 * test and skip filters: * and ? wildcards).
 *
 * Worker threads never call cmocka's assert macros (cmocka is not thread
 * safe and longjmps in the calling thread). They record failures with
 * stress_fail(), which prints the first few at once, so that even a run the
 * watchdog aborts shows them; the main thread asserts after joining. That
 * and the message tracker are tests/support/lfc_stress_support.h.
 *
 * Scenarios adapted from crossbeam-channel's tests/array.rs (mpmc,
 * stress_iter, stress_timeout_two_threads) and Go's runtime/chan_test.go
 * (TestChan, TestMultiConsumer), rewritten in C and extended to check every
 * message.
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

#define LFC_STRESS_NAME "stress_chan"
#include "lfc_stress_support.h"
#include "lfc_test_async.h"
#include "lfchan.h"

/*
 * Waits until every flags[i] (i < n) is set: the threads that own them
 * sleep in a futex wait (lfc_test_async_note_parked, with the counting
 * park ops main() installs). Under a watchdog, so no cmocka assertion: a
 * thread that never parks is recorded as a failure.
 */
static bool
wait_all_parked(const int *flags, unsigned n, const char *what)
{
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    for (unsigned i = 0; i < n; i++) {
        while (!lfc_test_load_int(&flags[i])) {
            if (lfc_now_ns() > end) {
                stress_fail("%s: thread %u never parked", what, i);
                return false;
            }
            lfc_test_sleep_ns(100 * 1000);
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Small helpers.                                                           */

/* A uniform-enough value in [0, n]. */
static uint64_t
rng_upto(uint64_t *s, uint64_t n)
{
    return rng_next(s) % (n + 1);
}

/* ------------------------------------------------------------------------ */
/* MPMC exactly-once and per-producer order, plain and mixed APIs.          */

enum api_mode {
    API_PLAIN, /* lfc_send / lfc_recv only */
    API_MIXED, /* rotate through blocking, try_ and _until calls */
};

/* Short deadlines of the mixed-API run: 0 to this many ns from now. */
#define MIXED_DEADLINE_NS 50000

/* Polls of one try_recv turn in the mixed-API consumer. */
#define MIXED_TRY_POLLS 16

enum { OP_BLOCK, OP_TRY, OP_UNTIL, OP_N };

struct mpmc_run {
    const char *name;
    unsigned np;
    unsigned nc;
    enum api_mode mode;
    uint64_t per_prod;
    lfc_chan *ch;
    lfc_test_barrier start;
    struct tracker tr;
    unsigned long progress;      /* bumped by every worker (atomic) */
    unsigned long send_ok[OP_N]; /* per op, by producers (atomic) */
    unsigned long recv_ok[OP_N]; /* per op, by consumers (atomic) */
    unsigned long again;         /* LFC_AGAIN seen, both sides (atomic) */
    unsigned long send_timedout; /* LFC_TIMEDOUT from send_until (atomic) */
    unsigned long recv_timedout; /* LFC_TIMEDOUT from recv_until (atomic) */
};

struct mpmc_worker {
    struct mpmc_run *run;
    unsigned id;
    pthread_t thread;
    uint64_t sent; /* producers: messages whose send returned LFC_OK */
};

/* Sends m once, by the op's API; retries on LFC_AGAIN / LFC_TIMEDOUT. */
static int
mixed_send(struct mpmc_run *run, unsigned id, int op, const struct msg *m,
           uint64_t *rng)
{
    int rc;

    switch (op) {
    case OP_TRY:
        while ((rc = lfc_try_send(run->ch, m)) == LFC_AGAIN) {
            __atomic_fetch_add(&run->again, 1, __ATOMIC_RELAXED);
            sched_yield();
        }
        return rc;
    case OP_UNTIL:
        for (;;) {
            int64_t dl = short_deadline(rng, MIXED_DEADLINE_NS);
            rc = lfc_send_until(run->ch, m, dl);
            if (rc != LFC_TIMEDOUT)
                return rc;
            check_timeout_not_early(dl, "producer (send_until)", id);
            __atomic_fetch_add(&run->send_timedout, 1, __ATOMIC_RELAXED);
        }
    default:
        return lfc_send(run->ch, m);
    }
}

static void *
mpmc_producer(void *arg)
{
    struct mpmc_worker *w = arg;
    struct mpmc_run *run = w->run;
    uint64_t rng = rng_seed(w->id + 1);

    lfc_test_barrier_wait(&run->start);
    for (uint64_t seq = 0; seq < run->per_prod; seq++) {
        struct msg m = msg_make(w->id, seq);
        int op =
            run->mode == API_MIXED ? (int)((seq + w->id) % OP_N) : OP_BLOCK;
        int rc = mixed_send(run, w->id, op, &m, &rng);
        if (rc != LFC_OK) {
            stress_fail("%s: producer %u seq %" PRIu64 " op %d: %s", run->name,
                        w->id, seq, op, lfc_strerror(rc));
            break;
        }
        w->sent = seq + 1;
        __atomic_fetch_add(&run->send_ok[op], 1, __ATOMIC_RELAXED);
        lfc_progress_bump(&run->progress);
    }
    return NULL;
}

static void *
mpmc_consumer(void *arg)
{
    struct mpmc_worker *w = arg;
    struct mpmc_run *run = w->run;
    uint64_t *last = last_new(1, run->np);
    uint64_t rng = rng_seed(1000 + w->id);
    unsigned long attempt = w->id;
    struct msg m;
    int rc;

    lfc_test_barrier_wait(&run->start);
    for (;;) {
        /*
         * The mixed consumer rotates per attempt, not per message, so it
         * never spins in try_recv forever while every producer spins in
         * try_send on an unbuffered channel: its next attempt blocks.
         */
        int op = run->mode == API_MIXED ? (int)(attempt++ % OP_N) : OP_BLOCK;
        int64_t dl = 0;

        memset(&m, 0xEE, sizeof(m));
        switch (op) {
        case OP_TRY:
            /*
             * A few polls before moving on: on capacities 0 and 1 the
             * consumers blocked in recv would otherwise take nearly every
             * value first, and this path would hardly run.
             */
            for (int k = 0; (rc = lfc_try_recv(run->ch, &m)) == LFC_AGAIN &&
                            k < MIXED_TRY_POLLS;
                 k++) {
                __atomic_fetch_add(&run->again, 1, __ATOMIC_RELAXED);
                sched_yield();
            }
            break;
        case OP_UNTIL:
            dl = short_deadline(&rng, MIXED_DEADLINE_NS);
            rc = lfc_recv_until(run->ch, &m, dl);
            break;
        default:
            rc = lfc_recv(run->ch, &m);
            break;
        }
        if (rc == LFC_OK) {
            tracker_note(&run->tr, last, 0, &m, "consumer", w->id);
            __atomic_fetch_add(&run->recv_ok[op], 1, __ATOMIC_RELAXED);
            lfc_progress_bump(&run->progress);
        } else if (rc == LFC_CLOSED) {
            break;
        } else if (rc == LFC_AGAIN && op == OP_TRY) {
            __atomic_fetch_add(&run->again, 1, __ATOMIC_RELAXED);
            sched_yield();
        } else if (rc == LFC_TIMEDOUT && op == OP_UNTIL) {
            check_timeout_not_early(dl, "consumer (recv_until)", w->id);
            __atomic_fetch_add(&run->recv_timedout, 1, __ATOMIC_RELAXED);
        } else {
            stress_fail("%s: consumer %u op %d: unexpected %s", run->name,
                        w->id, op, lfc_strerror(rc));
            break;
        }
    }
    /* Closed and drained stays so, whichever call asks. */
    if (rc == LFC_CLOSED) {
        rc = lfc_try_recv(run->ch, &m);
        WCHECK(rc == LFC_CLOSED, "%s: consumer %u: try_recv after close: %s",
               run->name, w->id, lfc_strerror(rc));
        rc = lfc_recv_until(run->ch, &m, 0);
        WCHECK(rc == LFC_CLOSED, "%s: consumer %u: recv_until after close: %s",
               run->name, w->id, lfc_strerror(rc));
    }
    free(last);
    return NULL;
}

/*
 * total: messages for the configuration (split evenly across producers,
 * rounded up); every one is checked.
 */
static void
run_mpmc(unsigned np, unsigned nc, size_t cap, enum api_mode mode, long total)
{
    struct mpmc_run run;
    struct mpmc_worker *prod = calloc(np, sizeof(*prod));
    struct mpmc_worker *cons = calloc(nc, sizeof(*cons));
    struct lfc_watchdog wd;
    char name[96];
    uint64_t *sent = calloc(np, sizeof(*sent));
    uint64_t got;
    int64_t t0;
    int rc;

    assert_non_null(prod);
    assert_non_null(cons);
    assert_non_null(sent);
    failures_reset();
    snprintf(name, sizeof(name), "%s %ux%u cap %zu",
             mode == API_MIXED ? "mixed_api" : "mpmc", np, nc, cap);
    memset(&run, 0, sizeof(run));
    run.name = name;
    run.np = np;
    run.nc = nc;
    run.mode = mode;
    run.per_prod = ((uint64_t)total + np - 1) / np;
    run.ch = lfc_chan_new(cap, sizeof(struct msg));
    assert_non_null(run.ch);
    tracker_init(&run.tr, np, run.per_prod);
    lfc_test_barrier_init(&run.start, np + nc + 1);

    t0 = lfc_test_now_ns();
    lfc_watchdog_start(&wd, name, &run.progress, 30);
    for (unsigned i = 0; i < nc; i++) {
        cons[i].run = &run;
        cons[i].id = i;
        xpthread_create(&cons[i].thread, mpmc_consumer, &cons[i]);
    }
    for (unsigned i = 0; i < np; i++) {
        prod[i].run = &run;
        prod[i].id = i;
        xpthread_create(&prod[i].thread, mpmc_producer, &prod[i]);
    }
    lfc_test_barrier_wait(&run.start);
    /* Shutdown protocol: producers finish, then close, then consumers. */
    for (unsigned i = 0; i < np; i++)
        xpthread_join(prod[i].thread);
    rc = lfc_close(run.ch);
    WCHECK(rc == LFC_OK, "%s: lfc_close: %s", name, lfc_strerror(rc));
    for (unsigned i = 0; i < nc; i++)
        xpthread_join(cons[i].thread);
    lfc_watchdog_stop(&wd);

    for (unsigned i = 0; i < np; i++)
        sent[i] = prod[i].sent;
    got = tracker_verify(&run.tr, sent, name);
    WCHECK(got == np * run.per_prod,
           "%s: received %" PRIu64 " messages, want %" PRIu64, name, got,
           np * run.per_prod);
    WCHECK(lfc_chan_len(run.ch) == 0, "%s: len %zu after drain", name,
           lfc_chan_len(run.ch));
    WCHECK(lfc_chan_closed(run.ch), "%s: not closed after close", name);
    rc = lfc_close(run.ch);
    WCHECK(rc == LFC_CLOSED, "%s: second close: %s", name, lfc_strerror(rc));
    if (mode == API_MIXED) {
        /*
         * Producers use each op for a third of the messages, so these hold
         * by construction; the consumer side shows each receive flavour
         * really delivered (on an unbuffered channel try_recv succeeds
         * only against a blocked sender).
         */
        for (int op = 0; op < OP_N; op++) {
            WCHECK(run.send_ok[op] > 0, "%s: no send succeeded with op %d",
                   name, op);
            WCHECK(run.recv_ok[op] > 0, "%s: no receive succeeded with op %d",
                   name, op);
        }
    }
    print_message("[ stats    ] %s: %" PRIu64 " msgs in %.2f s", name, got,
                  secs_since(t0));
    if (mode == API_MIXED)
        print_message(" (send ok b/t/u %lu/%lu/%lu, recv ok b/t/u %lu/%lu/%lu, "
                      "again %lu, timed out send/recv %lu/%lu)",
                      run.send_ok[0], run.send_ok[1], run.send_ok[2],
                      run.recv_ok[0], run.recv_ok[1], run.recv_ok[2], run.again,
                      run.send_timedout, run.recv_timedout);
    print_message("\n");

    lfc_test_barrier_destroy(&run.start);
    tracker_free(&run.tr);
    lfc_chan_free(run.ch);
    free(sent);
    free(prod);
    free(cons);
    assert_no_failures();
}

/*
 * Messages per configuration: mpmc_total(mult) =
 * lfc_test_scaled(MPMC_BASE * mult, 2000), each one checked. Capacities 0,
 * 1 and 3 keep the minimum of 100,000 at scale 1 (1,000,000 at
 * LFC_TEST_SCALE=10). Measured on the 2-vCPU development VM (plain, -O2;
 * times swing several-fold between runs): one row takes 0.05 to 3 s and the
 * 20 rows 7 to 12 s. The slowest rows were not 8x8 over capacity 0 and 1
 * (0.1 to 0.6 s) but 1x1 and 1x4 over capacity 0 and 1 (up to 3 s), where
 * a lone thread on one side parks on nearly every handoff. Capacity 1024
 * hardly ever parks (0.01 to 0.1 s per 100,000), so those rows run ten
 * times as many messages, for many more laps of the ring.
 */
#define MPMC_BASE 100000L

/* X(producers, consumers, capacity, multiplier) */
#define MPMC_CONFIGS(X)                                                        \
    X(1, 1, 0, 1)                                                              \
    X(1, 1, 1, 1)                                                              \
    X(1, 1, 3, 1)                                                              \
    X(1, 1, 1024, 10)                                                          \
    X(4, 1, 0, 1)                                                              \
    X(4, 1, 1, 1)                                                              \
    X(4, 1, 3, 1)                                                              \
    X(4, 1, 1024, 10)                                                          \
    X(1, 4, 0, 1)                                                              \
    X(1, 4, 1, 1)                                                              \
    X(1, 4, 3, 1)                                                              \
    X(1, 4, 1024, 10)                                                          \
    X(4, 4, 0, 1)                                                              \
    X(4, 4, 1, 1)                                                              \
    X(4, 4, 3, 1)                                                              \
    X(4, 4, 1024, 10)                                                          \
    X(8, 8, 0, 1)                                                              \
    X(8, 8, 1, 1)                                                              \
    X(8, 8, 3, 1)                                                              \
    X(8, 8, 1024, 10)

static long
mpmc_total(long mult)
{
    return lfc_test_scaled(MPMC_BASE * mult, 2000);
}

#define MPMC_TEST_FN(p, c, cap, mult)                                          \
    static void test_chan_stress_mpmc_##p##x##c##_cap##cap(void **state)       \
    {                                                                          \
        (void)state;                                                           \
        run_mpmc(p, c, cap, API_PLAIN, mpmc_total(mult));                      \
    }
MPMC_CONFIGS(MPMC_TEST_FN)
#undef MPMC_TEST_FN

/* Mixed APIs: 4x4 over capacities 0, 1 and 64. */
#define MIXED_CONFIGS(X)                                                       \
    X(0)                                                                       \
    X(1)                                                                       \
    X(64)

#define MIXED_TEST_FN(cap)                                                     \
    static void test_chan_stress_mixed_api_4x4_cap##cap(void **state)          \
    {                                                                          \
        (void)state;                                                           \
        run_mpmc(4, 4, cap, API_MIXED, lfc_test_scaled(MPMC_BASE, 2000));      \
    }
MIXED_CONFIGS(MIXED_TEST_FN)
#undef MIXED_TEST_FN

/* ------------------------------------------------------------------------ */
/* Close racing blocked senders and receivers.                              */

#define CR_SENDERS 4
#define CR_RECEIVERS 4
/*
 * Values per sender per round (bounds the seen[] array). A sender that gets
 * this far stops before close; at the delays below senders reach a few
 * thousand, and the stats line reports the most any sender sent.
 */
#define CR_LIMIT ((uint64_t)1 << 18)

struct cr_round {
    lfc_chan *ch;
    lfc_test_barrier start;
    struct tracker tr;       /* CR_SENDERS x CR_LIMIT, reused every round */
    unsigned long *progress; /* the test's watchdog counter */
};

struct cr_sender {
    struct cr_round *r;
    unsigned id;
    pthread_t thread;
    uint64_t ok; /* values 0..ok-1 returned LFC_OK */
    bool closed; /* value `ok` returned LFC_CLOSED */
};

struct cr_receiver {
    struct cr_round *r;
    unsigned id;
    pthread_t thread;
    uint64_t max_seq[CR_SENDERS]; /* highest seq received + 1, per sender */
};

static void *
cr_send_main(void *arg)
{
    struct cr_sender *s = arg;
    struct cr_round *r = s->r;

    lfc_test_barrier_wait(&r->start);
    while (s->ok < CR_LIMIT) {
        struct msg m = msg_make(s->id, s->ok);
        int rc = lfc_send(r->ch, &m);
        if (rc == LFC_CLOSED) {
            s->closed = true;
            break;
        }
        if (rc != LFC_OK) {
            stress_fail("close race: sender %u: unexpected %s", s->id,
                        lfc_strerror(rc));
            break;
        }
        s->ok++;
        lfc_progress_bump(r->progress);
    }
    if (s->closed) {
        /* No send can enqueue after close has returned. */
        struct msg m = msg_make(s->id, s->ok);
        int rc = lfc_try_send(r->ch, &m);
        WCHECK(rc == LFC_CLOSED,
               "close race: sender %u: try_send after LFC_CLOSED: %s", s->id,
               lfc_strerror(rc));
    }
    return NULL;
}

static void *
cr_recv_main(void *arg)
{
    struct cr_receiver *c = arg;
    struct cr_round *r = c->r;
    uint64_t last[CR_SENDERS];
    struct msg m;
    int rc;

    for (unsigned i = 0; i < CR_SENDERS; i++) {
        last[i] = SEQ_NONE;
        c->max_seq[i] = 0;
    }
    lfc_test_barrier_wait(&r->start);
    while ((rc = lfc_recv(r->ch, &m)) == LFC_OK) {
        if (tracker_note(&r->tr, last, 0, &m, "close race: receiver", c->id) &&
            m.seq + 1 > c->max_seq[m.producer])
            c->max_seq[m.producer] = m.seq + 1;
        lfc_progress_bump(r->progress);
    }
    WCHECK(rc == LFC_CLOSED || rc == LFC_OK,
           "close race: receiver %u: unexpected %s", c->id, lfc_strerror(rc));
    if (rc == LFC_CLOSED) {
        rc = lfc_recv(r->ch, &m);
        WCHECK(rc == LFC_CLOSED,
               "close race: receiver %u: recv after LFC_CLOSED: %s", c->id,
               lfc_strerror(rc));
    }
    return NULL;
}

/* The close at "a random moment" after the start barrier. */
static void
cr_random_delay(uint64_t *rng)
{
    switch (rng_upto(rng, 4)) {
    case 0: /* at once: close may win against every thread's first call */
        break;
    case 1:
        spin_ns((int64_t)rng_upto(rng, 20000));
        break;
    case 2:
        lfc_test_sleep_ns((int64_t)rng_upto(rng, 100000));
        break;
    case 3:
        for (uint64_t i = rng_upto(rng, 3); i > 0; i--)
            sched_yield();
        break;
    default: /* long enough for senders and receivers to park */
        lfc_test_sleep_ns(200000 + (int64_t)rng_upto(rng, 300000));
        break;
    }
}

static void
test_chan_stress_close_races_blocked_senders_receivers(void **state)
{
    static const size_t caps[] = {0, 1, 3};
    long rounds = lfc_test_scaled(2000, 50);
    struct cr_round r;
    struct cr_sender snd[CR_SENDERS];
    struct cr_receiver rcv[CR_RECEIVERS];
    struct lfc_watchdog wd;
    unsigned long progress = 0;
    uint64_t rng = rng_seed(77);
    uint64_t total_ok = 0;
    uint64_t total_closed = 0;
    uint64_t max_sent = 0;
    int64_t t0 = lfc_test_now_ns();

    (void)state;
    failures_reset();
    memset(&r, 0, sizeof(r));
    r.progress = &progress;
    tracker_init(&r.tr, CR_SENDERS, CR_LIMIT);
    lfc_watchdog_start(&wd, "close races blocked senders/receivers", &progress,
                       30);
    for (long round = 0; round < rounds; round++) {
        size_t cap = caps[round % 3];
        char what[64];
        int rc;

        r.ch = lfc_chan_new(cap, sizeof(struct msg));
        if (r.ch == NULL) {
            stress_fail("close race: lfc_chan_new(%zu) failed", cap);
            break;
        }
        lfc_test_barrier_init(&r.start, CR_SENDERS + CR_RECEIVERS + 1);
        for (unsigned i = 0; i < CR_RECEIVERS; i++) {
            rcv[i].r = &r;
            rcv[i].id = i;
            xpthread_create(&rcv[i].thread, cr_recv_main, &rcv[i]);
        }
        for (unsigned i = 0; i < CR_SENDERS; i++) {
            snd[i].r = &r;
            snd[i].id = i;
            snd[i].ok = 0;
            snd[i].closed = false;
            xpthread_create(&snd[i].thread, cr_send_main, &snd[i]);
        }
        lfc_test_barrier_wait(&r.start);
        cr_random_delay(&rng);
        rc = lfc_close(r.ch);
        WCHECK(rc == LFC_OK, "close race round %ld: close: %s", round,
               lfc_strerror(rc));
        {
            struct msg m = msg_make(0, 0);
            rc = lfc_send(r.ch, &m);
            WCHECK(rc == LFC_CLOSED,
                   "close race round %ld: send after close: %s", round,
                   lfc_strerror(rc));
        }
        for (unsigned i = 0; i < CR_SENDERS; i++)
            xpthread_join(snd[i].thread);
        for (unsigned i = 0; i < CR_RECEIVERS; i++)
            xpthread_join(rcv[i].thread);
        lfc_test_barrier_destroy(&r.start);
        lfc_progress_bump(&progress);

        /*
         * Every LFC_OK value received once; the LFC_CLOSED one (seq ok)
         * and everything after it never. Scan, then clear, only the prefix
         * this round touched, to keep the round cheap.
         */
        snprintf(what, sizeof(what), "close race round %ld cap %zu", round,
                 cap);
        for (unsigned s = 0; s < CR_SENDERS; s++) {
            uint64_t hi = snd[s].ok + (snd[s].closed ? 1 : 0);
            for (unsigned c = 0; c < CR_RECEIVERS; c++)
                if (rcv[c].max_seq[s] > hi)
                    hi = rcv[c].max_seq[s];
            for (uint64_t q = 0; q < hi; q++) {
                unsigned n = r.tr.seen[(size_t)s * CR_LIMIT + q];
                unsigned want = q < snd[s].ok ? 1 : 0;
                if (n != want)
                    stress_fail("%s: sender %u value %" PRIu64
                                " (send %s) received %u times",
                                what, s, q,
                                q < snd[s].ok ? "LFC_OK"
                                : q == snd[s].ok && snd[s].closed
                                    ? "LFC_CLOSED"
                                    : "never made",
                                n);
            }
            memset(&r.tr.seen[(size_t)s * CR_LIMIT], 0, (size_t)hi);
            total_ok += snd[s].ok;
            total_closed += snd[s].closed ? 1 : 0;
            if (snd[s].ok > max_sent)
                max_sent = snd[s].ok;
        }
        lfc_chan_free(r.ch);
        r.ch = NULL;
        if (failures_so_far() != 0)
            break; /* the first bad round says it all */
    }
    lfc_watchdog_stop(&wd);
    tracker_free(&r.tr);
    print_message("[ stats    ] close races: %ld rounds, %" PRIu64
                  " sends ok (at most %" PRIu64
                  " by one sender in a round), %" PRIu64
                  " of %ld senders ended by LFC_CLOSED, %.2f s\n",
                  rounds, total_ok, max_sent, total_closed, rounds * CR_SENDERS,
                  secs_since(t0));
    assert_no_failures();
}

/*
 * Close while a send is in flight: the sender has claimed its slot but is
 * still copying its value in (a 16 MiB element makes the copy take
 * milliseconds), so close's wake-up finds the channel closed but not yet
 * drained and the receivers park again. When the send completes (or, on an
 * unbuffered channel, is retracted) the channel becomes drained, and every
 * receiver must wake and return LFC_CLOSED; a hang here is a lost wake-up
 * (the watchdog aborts).
 */
#define IF_ELEM ((size_t)16 << 20)
#define IF_RECEIVERS 3

struct if_run {
    lfc_chan *ch;
    lfc_test_barrier start; /* receivers and main */
    lfc_test_barrier go;    /* the sender and main */
    const unsigned char *src;
    unsigned long progress; /* atomic */
    int send_rc;
    int recv_rc[IF_RECEIVERS];
    unsigned got[IF_RECEIVERS];
    int parked[IF_RECEIVERS]; /* set by each receiver's futex wait */
};

struct if_arg {
    struct if_run *run;
    unsigned id;
};

static void *
if_receiver(void *arg)
{
    struct if_arg *a = arg;
    struct if_run *run = a->run;
    unsigned char *out = malloc(IF_ELEM);
    int rc = LFC_ENOMEM;

    lfc_test_barrier_wait(&run->start);
    lfc_test_async_note_parked(&run->parked[a->id], NULL, 0);
    if (out != NULL) {
        while ((rc = lfc_recv(run->ch, out)) == LFC_OK) {
            WCHECK(out[0] == run->src[0] &&
                       out[IF_ELEM - 1] == run->src[IF_ELEM - 1] &&
                       memcmp(out, run->src, IF_ELEM) == 0,
                   "inflight close: receiver %u got a corrupt value", a->id);
            run->got[a->id]++;
            lfc_progress_bump(&run->progress);
        }
    }
    lfc_test_async_note_parked(NULL, NULL, 0);
    run->recv_rc[a->id] = rc;
    lfc_progress_bump(&run->progress);
    free(out);
    return NULL;
}

static void *
if_sender(void *arg)
{
    struct if_run *run = arg;

    lfc_test_barrier_wait(&run->go);
    run->send_rc = lfc_send(run->ch, run->src);
    lfc_progress_bump(&run->progress);
    return NULL;
}

static void
run_close_inflight(size_t cap)
{
    long rounds = lfc_test_scaled(6, 2);
    unsigned char *src = malloc(IF_ELEM);
    struct lfc_watchdog wd;
    unsigned long done = 0;
    char name[64];
    int64_t t0 = lfc_test_now_ns();

    assert_non_null(src);
    for (size_t i = 0; i < IF_ELEM; i++)
        src[i] = (unsigned char)(i * 131 + 7);
    failures_reset();
    snprintf(name, sizeof(name), "close during in-flight send cap %zu", cap);
    lfc_watchdog_start(&wd, name, &done, 0);
    for (long round = 0; round < rounds && failures_so_far() == 0; round++) {
        struct if_run run;
        struct if_arg args[IF_RECEIVERS];
        pthread_t rt[IF_RECEIVERS];
        pthread_t st;
        unsigned total = 0;
        int rc;

        memset(&run, 0, sizeof(run));
        run.src = src;
        run.ch = lfc_chan_new(cap, IF_ELEM);
        if (run.ch == NULL) {
            stress_fail("%s: lfc_chan_new failed", name);
            break;
        }
        lfc_test_barrier_init(&run.start, IF_RECEIVERS + 1);
        lfc_test_barrier_init(&run.go, 2);
        for (unsigned i = 0; i < IF_RECEIVERS; i++) {
            args[i].run = &run;
            args[i].id = i;
            xpthread_create(&rt[i], if_receiver, &args[i]);
        }
        lfc_test_barrier_wait(&run.start);
        /* Every receiver sleeps in its receive before the send. */
        wait_all_parked(run.parked, IF_RECEIVERS, name);
        xpthread_create(&st, if_sender, &run);
        lfc_test_barrier_wait(&run.go);
        /* The sender is now claiming its slot and copying 16 MiB in. */
        lfc_test_sleep_ns((int64_t)(round % 3) * 500000);
        rc = lfc_close(run.ch);
        WCHECK(rc == LFC_OK, "%s: close: %s", name, lfc_strerror(rc));
        xpthread_join(st);
        for (unsigned i = 0; i < IF_RECEIVERS; i++) {
            xpthread_join(rt[i]);
            __atomic_fetch_add(&done, 1, __ATOMIC_RELAXED);
            WCHECK(run.recv_rc[i] == LFC_CLOSED,
                   "%s: receiver %u ended with %s", name, i,
                   lfc_strerror(run.recv_rc[i]));
            total += run.got[i];
        }
        WCHECK(run.send_rc == LFC_OK || run.send_rc == LFC_CLOSED,
               "%s: send: %s", name, lfc_strerror(run.send_rc));
        /* Exactly once: received iff the send returned LFC_OK. */
        WCHECK(total == (run.send_rc == LFC_OK ? 1u : 0u),
               "%s: send returned %s, value received %u times", name,
               lfc_strerror(run.send_rc), total);
        lfc_test_barrier_destroy(&run.start);
        lfc_test_barrier_destroy(&run.go);
        lfc_chan_free(run.ch);
        __atomic_fetch_add(&done, 1, __ATOMIC_RELAXED);
    }
    lfc_watchdog_stop(&wd);
    free(src);
    print_message("[ stats    ] %s: %ld rounds in %.2f s\n", name, rounds,
                  secs_since(t0));
    assert_no_failures();
}

static void
test_chan_stress_close_wakes_receivers_after_inflight_send_cap0(void **state)
{
    (void)state;
    run_close_inflight(0);
}

static void
test_chan_stress_close_wakes_receivers_after_inflight_send_cap1(void **state)
{
    (void)state;
    run_close_inflight(1);
}

/* ------------------------------------------------------------------------ */
/* Timed operations racing the other side.                                  */

/*
 * recv_until_races_sends: receivers loop on lfc_recv_until with deadlines
 * 0 to 200 us ahead while producers pause at random. send_until_races_recvs
 * is the mirror image: producers retry lfc_send_until (same value) until it
 * succeeds while consumers pause, so a send that timed out but enqueued
 * anyway shows up as a duplicate. Both check exactly once, per-producer
 * order, and that LFC_TIMEDOUT never comes before the deadline.
 */
#define TR_PRODUCERS 4
#define TR_CONSUMERS 4
#define TR_DEADLINE_NS 200000 /* deadlines: 0 to 200 us from now */
/* A timed-out call later than this is a lost timer, not scheduling delay
 * (the stuck bound: scaled for sanitizers and slow hosts). */
#define TR_LATE_LIMIT_NS LFC_TEST_STUCK_NS

struct tr_run {
    const char *name;
    bool timed_send; /* which side uses _until; the other pauses */
    lfc_chan *ch;
    lfc_test_barrier start;
    struct tracker tr;
    unsigned long progress; /* atomic */
    unsigned long timedout; /* atomic */
    int64_t max_late;       /* atomic max: worst lateness of a timeout */
};

struct tr_worker {
    struct tr_run *run;
    unsigned id;
    pthread_t thread;
    uint64_t sent;
};

/* Random pauses, so the other side's deadlines expire now and then. */
static void
tr_pause(uint64_t *rng)
{
    switch (rng_upto(rng, 7)) {
    case 0:
        lfc_test_sleep_ns((int64_t)rng_upto(rng, 2 * TR_DEADLINE_NS));
        break;
    case 1:
        spin_ns((int64_t)rng_upto(rng, 20000));
        break;
    case 2:
        sched_yield();
        break;
    default:
        break;
    }
}

static int64_t
tr_deadline(uint64_t *rng)
{
    return lfc_now_ns() + (int64_t)rng_upto(rng, TR_DEADLINE_NS);
}

/* After LFC_TIMEDOUT: never early, never absurdly late; keep the worst. */
static void
tr_note_timeout(struct tr_run *run, int64_t dl, const char *who, unsigned id)
{
    int64_t now = lfc_now_ns();
    int64_t late = now - dl;
    int64_t prev = __atomic_load_n(&run->max_late, __ATOMIC_RELAXED);

    WCHECK(now >= dl,
           "%s: %s %u: LFC_TIMEDOUT %" PRId64 " ns before its deadline",
           run->name, who, id, -late);
    WCHECK(late < TR_LATE_LIMIT_NS,
           "%s: %s %u: LFC_TIMEDOUT %" PRId64 " ns after its deadline",
           run->name, who, id, late);
    while (late > prev &&
           !__atomic_compare_exchange_n(&run->max_late, &prev, late, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    __atomic_fetch_add(&run->timedout, 1, __ATOMIC_RELAXED);
}

static void *
tr_producer(void *arg)
{
    struct tr_worker *w = arg;
    struct tr_run *run = w->run;
    uint64_t rng = rng_seed(300 + w->id);

    lfc_test_barrier_wait(&run->start);
    for (uint64_t seq = 0; seq < run->tr.per_prod; seq++) {
        struct msg m = msg_make(w->id, seq);
        int rc;

        if (run->timed_send) {
            /* Retry the same value: a timed-out send enqueued nothing. */
            for (;;) {
                int64_t dl = tr_deadline(&rng);
                rc = lfc_send_until(run->ch, &m, dl);
                if (rc != LFC_TIMEDOUT)
                    break;
                tr_note_timeout(run, dl, "producer", w->id);
            }
        } else {
            rc = lfc_send(run->ch, &m);
        }
        if (rc != LFC_OK) {
            stress_fail("%s: producer %u: %s", run->name, w->id,
                        lfc_strerror(rc));
            break;
        }
        w->sent = seq + 1;
        lfc_progress_bump(&run->progress);
        if (!run->timed_send)
            tr_pause(&rng);
    }
    return NULL;
}

static void *
tr_consumer(void *arg)
{
    struct tr_worker *w = arg;
    struct tr_run *run = w->run;
    uint64_t *last = last_new(1, TR_PRODUCERS);
    uint64_t rng = rng_seed(400 + w->id);
    struct msg m;
    int rc;

    lfc_test_barrier_wait(&run->start);
    for (;;) {
        int64_t dl = 0;

        if (run->timed_send) {
            rc = lfc_recv(run->ch, &m);
        } else {
            dl = tr_deadline(&rng);
            rc = lfc_recv_until(run->ch, &m, dl);
        }
        if (rc == LFC_OK) {
            tracker_note(&run->tr, last, 0, &m, "consumer", w->id);
            lfc_progress_bump(&run->progress);
            if (run->timed_send)
                tr_pause(&rng);
        } else if (rc == LFC_TIMEDOUT && !run->timed_send) {
            tr_note_timeout(run, dl, "consumer", w->id);
        } else if (rc == LFC_CLOSED) {
            break;
        } else {
            stress_fail("%s: consumer %u: unexpected %s", run->name, w->id,
                        lfc_strerror(rc));
            break;
        }
    }
    free(last);
    return NULL;
}

static void
run_timed_race(size_t cap, bool timed_send)
{
    struct tr_run run;
    struct tr_worker prod[TR_PRODUCERS];
    struct tr_worker cons[TR_CONSUMERS];
    struct lfc_watchdog wd;
    uint64_t sent[TR_PRODUCERS];
    uint64_t got;
    long total = lfc_test_scaled(MPMC_BASE, 2000);
    char name[64];
    int64_t t0 = lfc_test_now_ns();
    int rc;

    failures_reset();
    snprintf(name, sizeof(name), "%s race cap %zu",
             timed_send ? "send_until" : "recv_until", cap);
    memset(&run, 0, sizeof(run));
    memset(prod, 0, sizeof(prod));
    memset(cons, 0, sizeof(cons));
    run.name = name;
    run.timed_send = timed_send;
    run.ch = lfc_chan_new(cap, sizeof(struct msg));
    assert_non_null(run.ch);
    tracker_init(&run.tr, TR_PRODUCERS,
                 ((uint64_t)total + TR_PRODUCERS - 1) / TR_PRODUCERS);
    lfc_test_barrier_init(&run.start, TR_PRODUCERS + TR_CONSUMERS + 1);
    lfc_watchdog_start(&wd, name, &run.progress, 30);
    for (unsigned i = 0; i < TR_CONSUMERS; i++) {
        cons[i].run = &run;
        cons[i].id = i;
        xpthread_create(&cons[i].thread, tr_consumer, &cons[i]);
    }
    for (unsigned i = 0; i < TR_PRODUCERS; i++) {
        prod[i].run = &run;
        prod[i].id = i;
        xpthread_create(&prod[i].thread, tr_producer, &prod[i]);
    }
    lfc_test_barrier_wait(&run.start);
    for (unsigned i = 0; i < TR_PRODUCERS; i++)
        xpthread_join(prod[i].thread);
    rc = lfc_close(run.ch);
    WCHECK(rc == LFC_OK, "%s: close: %s", name, lfc_strerror(rc));
    for (unsigned i = 0; i < TR_CONSUMERS; i++)
        xpthread_join(cons[i].thread);
    lfc_watchdog_stop(&wd);

    for (unsigned i = 0; i < TR_PRODUCERS; i++)
        sent[i] = prod[i].sent;
    got = tracker_verify(&run.tr, sent, name);
    WCHECK(got == TR_PRODUCERS * run.tr.per_prod,
           "%s: received %" PRIu64 " messages, want %" PRIu64, name, got,
           TR_PRODUCERS * run.tr.per_prod);
    /* Pauses up to 400 us against deadlines up to 200 us: some expire. */
    WCHECK(run.timedout > 0, "%s: no call ever timed out", name);
    print_message("[ stats    ] %s: %" PRIu64 " msgs, %lu timeouts (latest "
                  "%.1f us late) in %.2f s\n",
                  name, got, run.timedout, (double)run.max_late / 1e3,
                  secs_since(t0));
    lfc_test_barrier_destroy(&run.start);
    tracker_free(&run.tr);
    lfc_chan_free(run.ch);
    assert_no_failures();
}

#define TIMED_CONFIGS(X)                                                       \
    X(0)                                                                       \
    X(1)                                                                       \
    X(16)

#define TIMED_TEST_FN(cap)                                                     \
    static void test_chan_stress_recv_until_races_sends_cap##cap(void **state) \
    {                                                                          \
        (void)state;                                                           \
        run_timed_race(cap, false);                                            \
    }                                                                          \
    static void test_chan_stress_send_until_races_recvs_cap##cap(void **state) \
    {                                                                          \
        (void)state;                                                           \
        run_timed_race(cap, true);                                             \
    }
TIMED_CONFIGS(TIMED_TEST_FN)
#undef TIMED_TEST_FN

/* ------------------------------------------------------------------------ */
/* Lost-wake-up hunt: ping-pong over two capacity-1 channels.               */

#define PP_REPLY_XOR UINT64_C(0x5A5A5A5A5A5A5A5A)

struct pp_run {
    lfc_chan *ping; /* pinger -> ponger */
    lfc_chan *pong; /* ponger -> pinger */
    uint64_t rounds;
    lfc_test_barrier start;
    unsigned long progress; /* atomic: one per handoff */
    int cpu;                /* pin both threads here; -1: no pinning */
};

static void
pp_pin(const struct pp_run *pp)
{
    cpu_set_t set;
    int rc;

    if (pp->cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(pp->cpu, &set);
    rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    /* Not a failure of the channel: the run goes on unpinned. */
    if (rc != 0)
        fprintf(stderr,
                "stress_chan: note: cannot pin to cpu %d (%s): unpinned\n",
                pp->cpu, strerror(rc));
}

static void *
pp_pinger(void *arg)
{
    struct pp_run *pp = arg;
    uint64_t v;
    int rc;

    pp_pin(pp);
    lfc_test_barrier_wait(&pp->start);
    for (uint64_t i = 0; i < pp->rounds; i++) {
        rc = lfc_send(pp->ping, &i);
        if (rc != LFC_OK) {
            stress_fail("pingpong: pinger send %" PRIu64 ": %s", i,
                        lfc_strerror(rc));
            break;
        }
        lfc_progress_bump(&pp->progress);
        v = ~(uint64_t)0;
        rc = lfc_recv(pp->pong, &v);
        if (rc != LFC_OK || v != (i ^ PP_REPLY_XOR)) {
            stress_fail("pingpong: pinger round %" PRIu64
                        ": %s, reply %#" PRIx64 " want %#" PRIx64,
                        i, lfc_strerror(rc), v, i ^ PP_REPLY_XOR);
            break;
        }
        lfc_progress_bump(&pp->progress);
    }
    /* Close wakes the ponger parked in recv; it closes pong in turn. */
    rc = lfc_close(pp->ping);
    WCHECK(rc == LFC_OK, "pingpong: close ping: %s", lfc_strerror(rc));
    rc = lfc_recv(pp->pong, &v);
    WCHECK(rc == LFC_CLOSED, "pingpong: pinger final recv: %s",
           lfc_strerror(rc));
    return NULL;
}

static void *
pp_ponger(void *arg)
{
    struct pp_run *pp = arg;
    uint64_t want = 0;
    uint64_t v;
    int rc;

    pp_pin(pp);
    lfc_test_barrier_wait(&pp->start);
    while ((rc = lfc_recv(pp->ping, &v)) == LFC_OK) {
        if (v != want) {
            stress_fail("pingpong: ponger got %" PRIu64 " want %" PRIu64, v,
                        want);
            break;
        }
        want++;
        v ^= PP_REPLY_XOR;
        rc = lfc_send(pp->pong, &v);
        if (rc != LFC_OK) {
            stress_fail("pingpong: ponger send %" PRIu64 ": %s", want - 1,
                        lfc_strerror(rc));
            break;
        }
    }
    WCHECK(rc == LFC_CLOSED, "pingpong: ponger recv: %s", lfc_strerror(rc));
    WCHECK(want == pp->rounds,
           "pingpong: ponger saw %" PRIu64 " pings, want %" PRIu64, want,
           pp->rounds);
    rc = lfc_close(pp->pong);
    WCHECK(rc == LFC_OK, "pingpong: close pong: %s", lfc_strerror(rc));
    return NULL;
}

/* The first CPU this thread may run on, or -1. */
static int
first_allowed_cpu(void)
{
    cpu_set_t set;

    if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0)
        return -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set))
            return i;
    return -1;
}

/*
 * handoffs: messages passed (two per round trip); spin_limit is set for
 * the run and LFC_SPIN_ADAPTIVE restored after; cpu >= 0 pins both threads
 * to that CPU, so every handoff is a park on one side and a wake on the
 * other.
 */
static void
run_pingpong(const char *name, long handoffs, int spin_limit, int cpu)
{
    struct pp_run pp;
    struct lfc_watchdog wd;
    pthread_t a;
    pthread_t b;
    int64_t t0;
    double secs;

    failures_reset();
    memset(&pp, 0, sizeof(pp));
    pp.rounds = (uint64_t)(handoffs + 1) / 2;
    pp.cpu = cpu;
    pp.ping = lfc_chan_new(1, sizeof(uint64_t));
    pp.pong = lfc_chan_new(1, sizeof(uint64_t));
    assert_non_null(pp.ping);
    assert_non_null(pp.pong);
    lfc_test_barrier_init(&pp.start, 3);
    lfc_spin_set_limit(spin_limit);
    t0 = lfc_test_now_ns();
    lfc_watchdog_start(&wd, name, &pp.progress, 0);
    xpthread_create(&a, pp_pinger, &pp);
    xpthread_create(&b, pp_ponger, &pp);
    lfc_test_barrier_wait(&pp.start);
    xpthread_join(a);
    xpthread_join(b);
    lfc_watchdog_stop(&wd);
    secs = secs_since(t0);
    WCHECK(lfc_spin_limit() == spin_limit, "%s: spin limit changed to %d", name,
           lfc_spin_limit());
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    WCHECK(lfc_spin_limit() == LFC_SPIN_ADAPTIVE,
           "%s: spin limit not restored: %d", name, lfc_spin_limit());
    WCHECK(pp.progress == 2 * pp.rounds, "%s: %lu handoffs, want %" PRIu64,
           name, pp.progress, 2 * pp.rounds);
    print_message("[ stats    ] %s: %" PRIu64 " handoffs in %.2f s "
                  "(%.2f us each)\n",
                  name, 2 * pp.rounds, secs,
                  secs * 1e6 / (double)(2 * pp.rounds));
    lfc_test_barrier_destroy(&pp.start);
    lfc_chan_free(pp.ping);
    lfc_chan_free(pp.pong);
    assert_no_failures();
}

#define PP_HANDOFFS lfc_test_scaled(1000000, 20000)

static void
test_chan_stress_pingpong_adaptive_spin(void **state)
{
    (void)state;
    run_pingpong("pingpong adaptive", PP_HANDOFFS, LFC_SPIN_ADAPTIVE, -1);
}

static void
test_chan_stress_pingpong_same_cpu(void **state)
{
    int cpu = first_allowed_cpu();

    (void)state;
    if (cpu < 0)
        skip();
    run_pingpong("pingpong same cpu", PP_HANDOFFS, LFC_SPIN_ADAPTIVE, cpu);
}

static void
test_chan_stress_pingpong_park_always(void **state)
{
    (void)state;
    run_pingpong("pingpong spin 0", PP_HANDOFFS, 0, -1);
}

/* ------------------------------------------------------------------------ */
/* Many threads parked on one channel.                                      */

#define MP_THREADS 16
/* A pause between receives, so that the woken sender often completes
 * before the next one (the test holds either way). */
#define MP_GAP_NS (1 * 1000 * 1000)

struct mp_run {
    lfc_chan *ch;
    lfc_test_barrier start;
    unsigned long progress;       /* atomic: values delivered */
    uint8_t seen[2 * MP_THREADS]; /* atomic increments */
};

struct mp_worker {
    struct mp_run *run;
    unsigned id;
    pthread_t thread;
    int final_rc;
    unsigned got;
    int parked; /* set by its futex wait, cleared by itself (atomic) */
};

static void *
mp_receiver(void *arg)
{
    struct mp_worker *w = arg;
    struct mp_run *run = w->run;
    uint64_t v;
    int rc;

    lfc_test_barrier_wait(&run->start);
    lfc_test_async_note_parked(&w->parked, NULL, 0);
    while ((rc = lfc_recv(run->ch, &v)) == LFC_OK) {
        /* Not parked any more; cleared before the delivery is counted,
         * so the test, seeing the count, waits for it to park again. */
        lfc_test_store_int(&w->parked, 0);
        if (v >= MP_THREADS) {
            stress_fail("parked receivers: receiver %u got %" PRIu64, w->id, v);
            break;
        }
        if (__atomic_fetch_add(&run->seen[v], 1, __ATOMIC_RELAXED) != 0)
            stress_fail("parked receivers: value %" PRIu64 " received twice",
                        v);
        w->got++;
        lfc_progress_bump(&run->progress);
    }
    lfc_test_async_note_parked(NULL, NULL, 0);
    w->final_rc = rc;
    return NULL;
}

static bool
mp_all_parked(struct mp_worker *w, const char *what)
{
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    for (;;) {
        unsigned n = 0;
        for (unsigned i = 0; i < MP_THREADS; i++)
            n += lfc_test_load_int(&w[i].parked) != 0;
        if (n == MP_THREADS)
            return true;
        if (lfc_now_ns() > end) {
            stress_fail("%s: %u of %u threads parked", what, n, MP_THREADS);
            return false;
        }
        lfc_test_sleep_ns(100 * 1000);
    }
}

/* Waits (under the watchdog) until *counter reaches want. */
static void
wait_progress(unsigned long *counter, unsigned long want)
{
    while (__atomic_load_n(counter, __ATOMIC_RELAXED) < want)
        lfc_test_sleep_ns(50000);
}

static void
run_many_parked_receivers(size_t cap)
{
    long rounds = lfc_test_scaled(10, 2);
    struct mp_run run;
    struct mp_worker w[MP_THREADS];
    struct lfc_watchdog wd;
    unsigned long done = 0; /* watchdog counter across rounds */
    char name[64];
    int64_t t0 = lfc_test_now_ns();

    failures_reset();
    snprintf(name, sizeof(name), "many parked receivers cap %zu", cap);
    lfc_watchdog_start(&wd, name, &done, 0);
    for (long round = 0; round < rounds && failures_so_far() == 0; round++) {
        int rc;

        memset(&run, 0, sizeof(run));
        memset(w, 0, sizeof(w));
        run.ch = lfc_chan_new(cap, sizeof(uint64_t));
        if (run.ch == NULL) {
            stress_fail("%s: lfc_chan_new failed", name);
            break;
        }
        lfc_test_barrier_init(&run.start, MP_THREADS + 1);
        for (unsigned i = 0; i < MP_THREADS; i++) {
            w[i].run = &run;
            w[i].id = i;
            w[i].final_rc = 1;
            xpthread_create(&w[i].thread, mp_receiver, &w[i]);
        }
        lfc_test_barrier_wait(&run.start);
        /* Every receiver sleeps in its receive. */
        mp_all_parked(w, name);
        for (uint64_t v = 0; v < MP_THREADS; v++) {
            rc = lfc_send(run.ch, &v);
            WCHECK(rc == LFC_OK, "%s: send %" PRIu64 ": %s", name, v,
                   lfc_strerror(rc));
            /* Each send must wake a parked receiver: wait for delivery,
             * then for the receiver to park again. */
            wait_progress(&run.progress, v + 1);
            __atomic_fetch_add(&done, 1, __ATOMIC_RELAXED);
            mp_all_parked(w, name);
        }
        /* All are parked again: close must wake all. */
        rc = lfc_close(run.ch);
        WCHECK(rc == LFC_OK, "%s: close: %s", name, lfc_strerror(rc));
        for (unsigned i = 0; i < MP_THREADS; i++) {
            xpthread_join(w[i].thread);
            __atomic_fetch_add(&done, 1, __ATOMIC_RELAXED);
            WCHECK(w[i].final_rc == LFC_CLOSED, "%s: receiver %u ended with %s",
                   name, i, lfc_strerror(w[i].final_rc));
        }
        for (unsigned v = 0; v < MP_THREADS; v++)
            WCHECK(run.seen[v] == 1, "%s: value %u received %u times", name, v,
                   (unsigned)run.seen[v]);
        lfc_test_barrier_destroy(&run.start);
        lfc_chan_free(run.ch);
    }
    lfc_watchdog_stop(&wd);
    print_message("[ stats    ] %s: %ld rounds in %.2f s\n", name, rounds,
                  secs_since(t0));
    assert_no_failures();
}

static void
test_chan_stress_many_parked_receivers_cap0(void **state)
{
    (void)state;
    run_many_parked_receivers(0);
}

static void
test_chan_stress_many_parked_receivers_cap1(void **state)
{
    (void)state;
    run_many_parked_receivers(1);
}

static void
test_chan_stress_many_parked_receivers_cap16(void **state)
{
    (void)state;
    run_many_parked_receivers(16);
}

/*
 * The mirror image: 16 senders parked on a full channel (capacity values
 * already buffered; unbuffered: no receiver), the main thread receives
 * one value at a time. Each receive must let exactly one more value in.
 */
static void *
mp_sender(void *arg)
{
    struct mp_worker *w = arg;
    struct mp_run *run = w->run;
    uint64_t v = MP_THREADS + w->id;

    lfc_test_barrier_wait(&run->start);
    lfc_test_async_note_parked(&w->parked, NULL, 0);
    w->final_rc = lfc_send(run->ch, &v);
    lfc_test_async_note_parked(NULL, NULL, 0);
    return NULL;
}

static void
run_many_parked_senders(size_t cap)
{
    long rounds = lfc_test_scaled(10, 2);
    struct mp_run run;
    struct mp_worker w[MP_THREADS];
    struct lfc_watchdog wd;
    unsigned long done = 0;
    char name[64];
    int64_t t0 = lfc_test_now_ns();

    assert_true(cap <= MP_THREADS);
    failures_reset();
    snprintf(name, sizeof(name), "many parked senders cap %zu", cap);
    lfc_watchdog_start(&wd, name, &done, 0);
    for (long round = 0; round < rounds && failures_so_far() == 0; round++) {
        uint64_t v;
        int rc;

        memset(&run, 0, sizeof(run));
        memset(w, 0, sizeof(w));
        run.ch = lfc_chan_new(cap, sizeof(uint64_t));
        if (run.ch == NULL) {
            stress_fail("%s: lfc_chan_new failed", name);
            break;
        }
        /* Fill the buffer: values 0..cap-1. */
        for (v = 0; v < cap; v++) {
            rc = lfc_try_send(run.ch, &v);
            WCHECK(rc == LFC_OK, "%s: prefill %" PRIu64 ": %s", name, v,
                   lfc_strerror(rc));
        }
        lfc_test_barrier_init(&run.start, MP_THREADS + 1);
        for (unsigned i = 0; i < MP_THREADS; i++) {
            w[i].run = &run;
            w[i].id = i;
            w[i].final_rc = 1;
            xpthread_create(&w[i].thread, mp_sender, &w[i]);
        }
        lfc_test_barrier_wait(&run.start);
        /* Every sender sleeps in its send. */
        mp_all_parked(w, name);
        for (unsigned i = 0; i < cap + MP_THREADS; i++) {
            /* Blocks forever (watchdog) if no parked sender was woken. */
            rc = lfc_recv(run.ch, &v);
            if (rc != LFC_OK || v >= 2 * MP_THREADS) {
                stress_fail("%s: recv %u: %s, value %" PRIu64, name, i,
                            lfc_strerror(rc), v);
                break;
            }
            run.seen[v]++;
            __atomic_fetch_add(&done, 1, __ATOMIC_RELAXED);
            lfc_test_sleep_ns(MP_GAP_NS);
        }
        for (unsigned i = 0; i < MP_THREADS; i++) {
            xpthread_join(w[i].thread);
            WCHECK(w[i].final_rc == LFC_OK, "%s: sender %u ended with %s", name,
                   i, lfc_strerror(w[i].final_rc));
        }
        rc = lfc_try_recv(run.ch, &v);
        WCHECK(rc == LFC_AGAIN, "%s: try_recv on the drained channel: %s", name,
               lfc_strerror(rc));
        rc = lfc_close(run.ch);
        WCHECK(rc == LFC_OK, "%s: close: %s", name, lfc_strerror(rc));
        rc = lfc_recv(run.ch, &v);
        WCHECK(rc == LFC_CLOSED, "%s: recv after close: %s", name,
               lfc_strerror(rc));
        for (unsigned i = 0; i < cap; i++)
            WCHECK(run.seen[i] == 1,
                   "%s: prefilled value %u received %u "
                   "times",
                   name, i, (unsigned)run.seen[i]);
        for (unsigned i = MP_THREADS; i < 2 * MP_THREADS; i++)
            WCHECK(run.seen[i] == 1,
                   "%s: sender %u's value received %u "
                   "times",
                   name, i - MP_THREADS, (unsigned)run.seen[i]);
        lfc_test_barrier_destroy(&run.start);
        lfc_chan_free(run.ch);
    }
    lfc_watchdog_stop(&wd);
    print_message("[ stats    ] %s: %ld rounds in %.2f s\n", name, rounds,
                  secs_since(t0));
    assert_no_failures();
}

static void
test_chan_stress_many_parked_senders_cap0(void **state)
{
    (void)state;
    run_many_parked_senders(0);
}

static void
test_chan_stress_many_parked_senders_cap1(void **state)
{
    (void)state;
    run_many_parked_senders(1);
}

/* ------------------------------------------------------------------------ */

#define MPMC_TEST_ENTRY(p, c, cap, mult)                                       \
    cmocka_unit_test(test_chan_stress_mpmc_##p##x##c##_cap##cap),
#define MIXED_TEST_ENTRY(cap)                                                  \
    cmocka_unit_test(test_chan_stress_mixed_api_4x4_cap##cap),
#define TIMED_TEST_ENTRY(cap)                                                  \
    cmocka_unit_test(test_chan_stress_recv_until_races_sends_cap##cap),        \
        cmocka_unit_test(test_chan_stress_send_until_races_recvs_cap##cap),

int
main(void)
{
    /* The X-macro rows confuse clang-format. */
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        MPMC_CONFIGS(MPMC_TEST_ENTRY)
        MIXED_CONFIGS(MIXED_TEST_ENTRY)
        cmocka_unit_test(
            test_chan_stress_close_races_blocked_senders_receivers),
        cmocka_unit_test(
            test_chan_stress_close_wakes_receivers_after_inflight_send_cap0),
        cmocka_unit_test(
            test_chan_stress_close_wakes_receivers_after_inflight_send_cap1),
        TIMED_CONFIGS(TIMED_TEST_ENTRY)
        cmocka_unit_test(test_chan_stress_pingpong_adaptive_spin),
        cmocka_unit_test(test_chan_stress_pingpong_same_cpu),
        cmocka_unit_test(test_chan_stress_pingpong_park_always),
        cmocka_unit_test(test_chan_stress_many_parked_receivers_cap0),
        cmocka_unit_test(test_chan_stress_many_parked_receivers_cap1),
        cmocka_unit_test(test_chan_stress_many_parked_receivers_cap16),
        cmocka_unit_test(test_chan_stress_many_parked_senders_cap0),
        cmocka_unit_test(test_chan_stress_many_parked_senders_cap1),
    };
    /* clang-format on */

    /*
     * LFC_TEST_FILTER / LFC_TEST_SKIP pick the tests. 600 s covers the
     * default scale with room to spare (22 to 55 s on the 2-vCPU VM); a
     * soak run (scale 10: about ten times as long) gets ten times that.
     */
    stress_main_init(1200);
    /* Before any thread parks: threads note when they sleep. */
    lfc_test_async_install_park_hook();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
