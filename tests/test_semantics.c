/* SPDX-License-Identifier: MIT */
/*
 * Regression tests for channel semantics that must match Go and
 * crossbeam-channel (include/lfchan/chan.h "Linearizability", lfc_close;
 * include/lfchan/select.h "Fairness"), each for a defect a conformance
 * suite found:
 *
 *   - crossbeam-channel's `linearizable` test: threads loop send then
 *     try_recv; the try_recv must never fail (it did, about 3 times in
 *     100,000, when the head slot was claimed by a slower sender);
 *   - the same for try_send against a receiver still copying out;
 *   - Go's TestPseudoRandomSend: two send cases of one select on the same
 *     channel must each win often (5 zeros in 1,000 before the fix);
 *   - close versus a blocked unbuffered sender: no rendezvous after close
 *     has returned (168 of 200 runs took the parked sender's value);
 *   - a fixed spin budget must not outlast a deadline (a 1 ms deadline took
 *     290 ms with lfc_spin_set_limit(10000000));
 *   - tests/test_lincheck.c: lfc_try_send's offer on an unbuffered channel,
 *     made for a parked receiver, was taken by lfc_try_recv or
 *     lfc_try_select (two calls that never wait met; about 1 history in
 *     1,000);
 *   - the same test: lfc_try_send committed to a receiver that had just
 *     taken another value and was leaving, and then blocked until close
 *     (2 histories in 3,000 of one program);
 *   - the same test, under LFC_DEBUG_YIELD: lfc_try_recv on an unbuffered
 *     channel said LFC_AGAIN after close had returned, while a sender that
 *     had claimed the slot before close was still copying its value in.
 */
#define _GNU_SOURCE

#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lfchan.h"
#include "lfc_chan_internal.h"
#include "lfc_waitable.h"
#include "lfc_test_async.h"
#include "lfc_test_support.h"

/* ---- linearizable try operations ------------------------------------ */

enum { LIN_THREADS = 4 };

struct lin_arg {
    lfc_chan *ch;
    long iters;
    int dir;              /* LFC_RECV: send, try_recv; LFC_SEND: the mirror */
    long failures;        /* try calls that said LFC_AGAIN */
    int bad_status;       /* first unexpected status, or LFC_OK */
    unsigned long *progress;
    lfc_test_barrier *start;
};

/* crossbeam's loop: send (blocking), then try_recv, which must succeed:
 * this thread's own send completed, and every other thread has at most
 * as many receives as sends, so the channel is never empty then. */
static void *
lin_send_then_try_recv(void *p)
{
    struct lin_arg *a = p;
    lfc_test_barrier_wait(a->start);
    for (long i = 0; i < a->iters; i++) {
        int v = (int)i;
        int r = lfc_send(a->ch, &v);
        if (r != LFC_OK && a->bad_status == LFC_OK)
            a->bad_status = r;
        r = lfc_try_recv(a->ch, &v);
        if (r == LFC_AGAIN) {
            a->failures++;
            /* Keep the count balanced, so later iterations stay valid. */
            r = lfc_recv(a->ch, &v);
        }
        if (r != LFC_OK && a->bad_status == LFC_OK)
            a->bad_status = r;
        lfc_progress_bump(a->progress);
    }
    return NULL;
}

/* The mirror: the channel starts full; recv (blocking), then try_send,
 * which must succeed: this thread's receive made room that only a send
 * that completed after it can have taken. */
static void *
lin_recv_then_try_send(void *p)
{
    struct lin_arg *a = p;
    lfc_test_barrier_wait(a->start);
    for (long i = 0; i < a->iters; i++) {
        int v;
        int r = lfc_recv(a->ch, &v);
        if (r != LFC_OK && a->bad_status == LFC_OK)
            a->bad_status = r;
        r = lfc_try_send(a->ch, &v);
        if (r == LFC_AGAIN) {
            a->failures++;
            r = lfc_send(a->ch, &v);
        }
        if (r != LFC_OK && a->bad_status == LFC_OK)
            a->bad_status = r;
        lfc_progress_bump(a->progress);
    }
    return NULL;
}

static void
run_linearizable(size_t cap, int dir)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(int));
    assert_non_null(ch);
    if (dir == LFC_SEND) {
        for (size_t i = 0; i < cap; i++) {
            int v = (int)i;
            assert_status(lfc_send(ch, &v), LFC_OK);
        }
    }
    /* A thread whose try fails once per 30,000 loops is what broke; a
     * failure-free run of this length was one in tens of thousands. */
    long iters = lfc_test_scaled(40000, 2000);
    unsigned long progress = 0;
    struct lfc_watchdog wd;
    lfc_test_barrier start;
    lfc_test_barrier_init(&start, LIN_THREADS);
    struct lin_arg args[LIN_THREADS];
    pthread_t th[LIN_THREADS];
    lfc_watchdog_start(&wd, "linearizable", &progress, 60);
    for (int i = 0; i < LIN_THREADS; i++) {
        args[i] = (struct lin_arg){.ch = ch,
                                   .iters = iters,
                                   .dir = dir,
                                   .bad_status = LFC_OK,
                                   .progress = &progress,
                                   .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL,
                                        dir == LFC_RECV
                                            ? lin_send_then_try_recv
                                            : lin_recv_then_try_send,
                                        &args[i]),
                         0);
    }
    long failures = 0;
    for (int i = 0; i < LIN_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
        assert_status(args[i].bad_status, LFC_OK);
    }
    lfc_watchdog_stop(&wd);
    lfc_test_barrier_destroy(&start);
    if (failures != 0) {
        fail_msg("capacity %zu: %ld of %ld try_%s calls failed", cap, failures,
                 iters * LIN_THREADS, dir == LFC_RECV ? "recv" : "send");
    }
    /* Balanced: what is left is what was there at the start. */
    assert_int_equal(lfc_chan_len(ch), dir == LFC_SEND ? cap : 0);
    lfc_chan_free(ch);
}

static void
test_linearizable_try_recv_cap1(void **state)
{
    (void)state;
    run_linearizable(1, LFC_RECV);
}

static void
test_linearizable_try_recv_cap2(void **state)
{
    (void)state;
    run_linearizable(2, LFC_RECV);
}

static void
test_linearizable_try_recv_cap4(void **state)
{
    (void)state;
    run_linearizable(4, LFC_RECV);
}

static void
test_linearizable_try_send_cap1(void **state)
{
    (void)state;
    run_linearizable(1, LFC_SEND);
}

static void
test_linearizable_try_send_cap4(void **state)
{
    (void)state;
    run_linearizable(4, LFC_SEND);
}

/* ---- fair select on send cases (Go's TestPseudoRandomSend) ----------- */

enum { PRS_N = 1000 };

struct prs_recv {
    lfc_chan *ch;
    int got[PRS_N];
    int status;
};

static void *
prs_receiver(void *p)
{
    struct prs_recv *a = p;
    a->status = LFC_OK;
    for (int i = 0; i < PRS_N; i++) {
        int r = lfc_recv(a->ch, &a->got[i]);
        if (r != LFC_OK) {
            a->status = r;
            break;
        }
    }
    return NULL;
}

static void
run_pseudo_random_send(size_t cap)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(int));
    assert_non_null(ch);
    struct prs_recv rx = {.ch = ch};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, prs_receiver, &rx), 0);
    for (int i = 0; i < PRS_N; i++) {
        int zero = 0;
        int one = 1;
        lfc_case cases[2] = {
            {.ch = ch, .dir = LFC_SEND, .buf = &zero},
            {.ch = ch, .dir = LFC_SEND, .buf = &one},
        };
        int r = lfc_select(cases, 2);
        assert_true(r == 0 || r == 1);
        assert_status(cases[r].status, LFC_OK);
    }
    pthread_join(th, NULL);
    assert_status(rx.status, LFC_OK);
    int n[2] = {0, 0};
    for (int i = 0; i < PRS_N; i++) {
        assert_true(rx.got[i] == 0 || rx.got[i] == 1);
        n[rx.got[i]]++;
    }
    /* Go's bound: each value more than 10% of the time. With fair choices
     * a count below 100 of 1,000 has probability under 1e-150. */
    if (n[0] <= PRS_N / 10 || n[1] <= PRS_N / 10)
        fail_msg("capacity %zu: %d zeros, %d ones", cap, n[0], n[1]);
    lfc_chan_free(ch);
}

static void
test_pseudo_random_send_unbuffered(void **state)
{
    (void)state;
    run_pseudo_random_send(0);
}

static void
test_pseudo_random_send_buffered(void **state)
{
    (void)state;
    run_pseudo_random_send(8);
}

/* ---- close versus a parked unbuffered sender ------------------------- */

struct blocked_send {
    lfc_chan *ch;
    int value;
    int status;
};

static void *
blocked_sender(void *p)
{
    struct blocked_send *a = p;
    a->status = lfc_send(a->ch, &a->value);
    return NULL;
}

/* Start a sender on an unbuffered channel and wait until its offer is
 * visible to receivers (the waitable's ready: a receive would pair with
 * it). */
static void
start_offer(struct blocked_send *a, pthread_t *th, lfc_chan *ch, int v)
{
    *a = (struct blocked_send){.ch = ch, .value = v, .status = 1};
    assert_int_equal(pthread_create(th, NULL, blocked_sender, a), 0);
    int64_t end = lfc_test_now_ns() + (int64_t)30 * 1000000000;
    /* Condition poll: the sender's offer is published in the slot. */
    struct lfc__waitable *w = lfc__waitable_of(ch);
    while (!w->ops->ready(w, LFC_RECV, NULL)) {
        if (lfc_test_now_ns() > end)
            fail_msg("the sender never offered its value");
        sched_yield();
    }
}

static void
run_close_vs_parked_sender(int how)
{
    long runs = lfc_test_scaled(200, 50);
    for (long i = 0; i < runs; i++) {
        lfc_chan *ch = lfc_chan_new(0, sizeof(int));
        assert_non_null(ch);
        struct blocked_send a;
        pthread_t th;
        start_offer(&a, &th, ch, 42);
        assert_status(lfc_close(ch), LFC_OK);
        /* A receive that starts after close returned: no rendezvous. */
        int v = -1;
        if (how == 0) {
            assert_status(lfc_try_recv(ch, &v), LFC_CLOSED);
        } else if (how == 1) {
            assert_status(lfc_recv(ch, &v), LFC_CLOSED);
        } else {
            lfc_case c = {.ch = ch, .dir = LFC_RECV, .buf = &v};
            assert_int_equal(lfc_select(&c, 1), 0);
            assert_status(c.status, LFC_CLOSED);
        }
        assert_int_equal(v, -1);
        pthread_join(th, NULL);
        assert_status(a.status, LFC_CLOSED);
        assert_status(lfc_try_recv(ch, &v), LFC_CLOSED);
        lfc_chan_free(ch);
    }
}

static void
test_close_settles_offer_try_recv(void **state)
{
    (void)state;
    run_close_vs_parked_sender(0);
}

static void
test_close_settles_offer_recv(void **state)
{
    (void)state;
    run_close_vs_parked_sender(1);
}

static void
test_close_settles_offer_select(void **state)
{
    (void)state;
    run_close_vs_parked_sender(2);
}

/* A receive racing close either pairs with the sender (both LFC_OK, the
 * value delivered once) or neither does (both LFC_CLOSED). */
struct race_recv {
    lfc_chan *ch;
    lfc_test_barrier *go;
    int value;
    int status;
};

static void *
race_receiver(void *p)
{
    struct race_recv *a = p;
    lfc_test_barrier_wait(a->go);
    a->status = lfc_try_recv(a->ch, &a->value);
    return NULL;
}

static void
test_close_races_receiver_exactly_once(void **state)
{
    (void)state;
    long runs = lfc_test_scaled(400, 50);
    int paired = 0;
    for (long i = 0; i < runs; i++) {
        lfc_chan *ch = lfc_chan_new(0, sizeof(int));
        assert_non_null(ch);
        struct blocked_send a;
        pthread_t ts;
        pthread_t tr;
        lfc_test_barrier go;
        lfc_test_barrier_init(&go, 2);
        start_offer(&a, &ts, ch, 7);
        struct race_recv rx = {.ch = ch, .go = &go, .value = -1};
        assert_int_equal(pthread_create(&tr, NULL, race_receiver, &rx), 0);
        lfc_test_barrier_wait(&go);
        assert_status(lfc_close(ch), LFC_OK);
        pthread_join(tr, NULL);
        pthread_join(ts, NULL);
        if (rx.status == LFC_OK) {
            assert_int_equal(rx.value, 7);
            assert_status(a.status, LFC_OK);
            paired++;
        } else {
            assert_status(rx.status, LFC_CLOSED);
            assert_status(a.status, LFC_CLOSED);
            assert_int_equal(rx.value, -1);
        }
        lfc_test_barrier_destroy(&go);
        lfc_chan_free(ch);
    }
    print_message("  %d of %ld receives paired before the close\n", paired,
                  runs);
}

/* Blocked senders on a buffered channel still get LFC_CLOSED, and what was
 * buffered is still drained (close semantics unchanged there). */
static void
test_close_buffered_drains_then_closed(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(2, sizeof(int));
    assert_non_null(ch);
    int v = 1;
    assert_status(lfc_send(ch, &v), LFC_OK);
    v = 2;
    assert_status(lfc_send(ch, &v), LFC_OK);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_try_send(ch, &v), LFC_CLOSED);
    assert_status(lfc_recv(ch, &v), LFC_OK);
    assert_int_equal(v, 1);
    assert_status(lfc_try_recv(ch, &v), LFC_OK);
    assert_int_equal(v, 2);
    assert_status(lfc_try_recv(ch, &v), LFC_CLOSED);
    lfc_chan_free(ch);
}

/* ---- spinning never outlasts a deadline ------------------------------ */

/* With the largest fixed spin budget, a wait that spun it out would take
 * minutes (2^31 polls); the deadline must cut the spin short. The bound
 * checked is a watchdog, not a timing window: the wait takes about 1 ms,
 * and 20 s is what a spin of a tenth of the budget would need. */
#define SPIN_DEADLINE_NS ((int64_t)1000000)
#define SPIN_BOUND_NS ((int64_t)20 * 1000000000)

static void
check_bounded(int64_t t0, int64_t deadline)
{
    int64_t t1 = lfc_test_now_ns();
    assert_true(t1 >= deadline); /* never early */
    if (t1 - t0 > SPIN_BOUND_NS)
        fail_msg("a 1 ms deadline returned after %lld ms",
                 (long long)((t1 - t0) / 1000000));
}

static int
spin_setup(void **state)
{
    (void)state;
    lfc_spin_set_limit(INT_MAX);
    return 0;
}

static int
spin_teardown(void **state)
{
    (void)state;
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    return 0;
}

static void
test_spin_limit_respects_recv_deadline(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(1, sizeof(int));
    assert_non_null(ch);
    int v;
    int64_t t0 = lfc_test_now_ns();
    int64_t d = t0 + SPIN_DEADLINE_NS;
    assert_status(lfc_recv_until(ch, &v, d), LFC_TIMEDOUT);
    check_bounded(t0, d);
    v = 1;
    assert_status(lfc_send(ch, &v), LFC_OK);
    t0 = lfc_test_now_ns();
    d = t0 + SPIN_DEADLINE_NS;
    assert_status(lfc_send_until(ch, &v, d), LFC_TIMEDOUT);
    check_bounded(t0, d);
    lfc_chan_free(ch);
}

static void
test_spin_limit_respects_select_deadline(void **state)
{
    (void)state;
    lfc_chan *a = lfc_chan_new(1, sizeof(int));
    lfc_chan *b = lfc_chan_new(0, sizeof(int));
    assert_non_null(a);
    assert_non_null(b);
    int va;
    int vb;
    lfc_case cases[2] = {
        {.ch = a, .dir = LFC_RECV, .buf = &va},
        {.ch = b, .dir = LFC_RECV, .buf = &vb},
    };
    int64_t t0 = lfc_test_now_ns();
    int64_t d = t0 + SPIN_DEADLINE_NS;
    assert_status(lfc_select_until(cases, 2, d), LFC_TIMEDOUT);
    check_bounded(t0, d);
    t0 = lfc_test_now_ns();
    d = t0 + SPIN_DEADLINE_NS;
    assert_status(lfc_select_biased_until(cases, 2, d), LFC_TIMEDOUT);
    check_bounded(t0, d);
    lfc_chan_free(a);
    lfc_chan_free(b);
}

static void
test_spin_limit_respects_sem_deadline(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(1);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 1), LFC_OK);
    int64_t t0 = lfc_test_now_ns();
    int64_t d = t0 + SPIN_DEADLINE_NS;
    assert_status(lfc_sem_acquire_until(s, 1, d), LFC_TIMEDOUT);
    check_bounded(t0, d);
    lfc_sem_release(s, 1);
    lfc_sem_free(s);
}

/* ---- close while an unbuffered offer is being copied in -------------------
 *
 * A sender that claimed the slot before close and is still copying its
 * value (a large one, to widen the window) must not make receives that
 * start after close returned see anything but LFC_CLOSED.
 */
enum { BIG_ELEM = 1 << 20 };

struct big_send {
    lfc_chan *ch;
    unsigned char *value;
    int started; /* atomic */
    int done;    /* atomic */
    int status;
};

static void *
big_sender(void *p)
{
    struct big_send *a = p;
    lfc_test_store_int(&a->started, 1);
    a->status = lfc_send(a->ch, a->value);
    lfc_test_store_int(&a->done, 1);
    return NULL;
}

static void
test_close_during_offer_copy_then_closed(void **state)
{
    (void)state;
    long runs = lfc_test_scaled(300, 50);
    unsigned char *buf = calloc(1, BIG_ELEM);
    assert_non_null(buf);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    for (long i = 0; i < runs; i++) {
        lfc_chan *ch = lfc_chan_new(0, BIG_ELEM);
        assert_non_null(ch);
        struct big_send a = {ch, buf, 0, 0, 1};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, big_sender, &a), 0);
        /* Woken by nothing: polls the flag the sender sets first. */
        while (!lfc_test_load_int(&a.started))
            sched_yield();
        /* Close at a varying point of the sender's claim and copy. */
        for (uint64_t k = lfc_test_xorshift64(&rng) % 20000; k > 0; k--)
            __asm__ volatile("" ::: "memory");
        assert_status(lfc_close(ch), LFC_OK);
        /* Woken by nothing: receives until the sender has returned. */
        do {
            assert_status(lfc_try_recv(ch, buf), LFC_CLOSED);
            assert_status(lfc_recv_until(ch, buf, 0), LFC_CLOSED);
        } while (!lfc_test_load_int(&a.done));
        pthread_join(th, NULL);
        assert_status(a.status, LFC_CLOSED);
        lfc_chan_free(ch);
    }
    free(buf);
}

/* ---- lfc_try_send's offer on an unbuffered channel ------------------------
 *
 * The window: lfc_try_send has offered its value for a receiver parked in
 * lfc_recv, which has not run yet. Fake park ops hold chosen calls of a
 * helper at a gate (a futex wait, which then returns as a spurious
 * wake-up, or a futex wake) until the test opens it, so the window stays
 * open for as long as the test needs.
 */
struct gate {
    int open; /* the test lets the held call go on (atomic) */
    int held; /* a call is held here (atomic) */
};

static struct gate gate_a, gate_b;
static __thread struct gate *gate_of_wait; /* this thread's waits hold here */
static __thread struct gate *gate_of_wake; /* this thread's wakes hold here */

static void
gate_hold(struct gate *g)
{
    lfc_test_store_int(&g->held, 1);
    /* Woken by nothing: polls until the test opens the gate. */
    while (!lfc_test_load_int(&g->open))
        lfc_test_sleep_ns(100 * LFC_TEST_US);
}

static int
gate_wait(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    lfc_test_futex_note_asleep(word);
    if (gate_of_wait) {
        gate_hold(gate_of_wait);
        return 0;
    }
    return lfc_test_futex_wait(word, expected, deadline_ns);
}

static void
gate_wake(uint32_t *word, int n)
{
    if (gate_of_wake)
        gate_hold(gate_of_wake);
    lfc_test_futex_wake(word, n);
}

static const struct lfc__park_ops gate_ops = {gate_wait, gate_wake};

static int
gate_setup(void **state)
{
    (void)state;
    memset(&gate_a, 0, sizeof(gate_a));
    memset(&gate_b, 0, sizeof(gate_b));
    lfc__park_set_ops(&gate_ops);
    lfc_test_async_set_hooked(true);
    return 0;
}

static int
gate_teardown(void **state)
{
    (void)state;
    lfc__park_set_ops(NULL);
    lfc_test_async_set_hooked(false);
    return 0;
}

struct offer_call {
    lfc_chan *ch;
    int value;            /* sent, or received */
    struct gate *at_wait; /* the helper's futex waits hold here, or NULL */
    struct gate *at_wake; /* the helper's futex wakes hold here, or NULL */
};

static int
offer_recv(void *p)
{
    struct offer_call *c = p;
    gate_of_wait = c->at_wait;
    gate_of_wake = c->at_wake;
    return lfc_recv(c->ch, &c->value);
}

static int
offer_try_send(void *p)
{
    struct offer_call *c = p;
    return lfc_try_send(c->ch, &c->value);
}

static int
offer_send(void *p)
{
    struct offer_call *c = p;
    return lfc_send(c->ch, &c->value);
}

static void
gate_await_held(struct gate *g, const char *what)
{
    if (!lfc_test_wait_flag(&g->held, LFC_TEST_STUCK_NS))
        fail_msg("%s never reached its gate", what);
}

static void
offer_rescue(void *p)
{
    lfc_close(p);
}

/* A receiver parked in lfc_recv (held at gate_a), then lfc_try_send: its
 * offer is for that receiver, and calls that never wait must leave it. */
static void
test_try_send_offer_not_taken_by_try_recv(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(int));
    assert_non_null(ch);
    struct lfc_test_async_opts opts = {offer_rescue, ch, NULL, 0};
    struct offer_call rc = {ch, 0, &gate_a, NULL};
    struct offer_call tc = {ch, 7, NULL, NULL};
    struct lfc_test_async r, t;

    lfc_test_async_start_with(&r, offer_recv, &rc, &opts);
    lfc_test_async_wait_parked(&r, "recv");
    lfc_test_async_start_with(&t, offer_try_send, &tc, &opts);
    lfc_test_async_wait_parked(&t, "try_send waiting for its receiver");

    int v = 0;
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    lfc_case c = {ch, LFC_RECV, &v, 0};
    assert_status(lfc_try_select(&c, 1), LFC_AGAIN);
    assert_int_equal(v, 0);

    lfc_test_store_int(&gate_a.open, 1);
    assert_status(lfc_test_async_join(&r, "recv"), LFC_OK);
    assert_int_equal(rc.value, 7);
    assert_status(lfc_test_async_join(&t, "try_send"), LFC_OK);
    lfc_chan_free(ch);
}

/*
 * A receiver whose try has taken a value is still counted on the channel
 * until it withdraws: lfc_try_send, seeing it counted, offers for it, and
 * must not wait for ever once it has left. The receiver is held at
 * gate_a while parked, then at gate_b in the wake-up it sends the
 * sender whose value it took, before it withdraws.
 */
static void
test_try_send_offer_abandoned_by_leaving_receiver(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(int));
    assert_non_null(ch);
    struct lfc_test_async_opts opts = {offer_rescue, ch, NULL, 0};
    struct offer_call rc = {ch, 0, &gate_a, &gate_b};
    struct offer_call sc = {ch, 1, NULL, NULL};
    struct offer_call tc = {ch, 2, NULL, NULL};
    struct lfc_test_async r, s, t;

    lfc_test_async_start_with(&r, offer_recv, &rc, &opts);
    lfc_test_async_wait_parked(&r, "recv");
    lfc_test_async_start_with(&s, offer_send, &sc, &opts);
    lfc_test_async_wait_parked(&s, "send waiting for its receiver");
    lfc_test_store_int(&gate_a.open, 1);
    gate_await_held(&gate_b, "the receiver's wake-up of its sender");

    lfc_test_async_start_with(&t, offer_try_send, &tc, &opts);
    lfc_test_async_wait_parked(&t, "try_send waiting for its receiver");
    lfc_test_store_int(&gate_b.open, 1);
    assert_status(lfc_test_async_join(&r, "recv"), LFC_OK);
    assert_int_equal(rc.value, 1);
    assert_status(lfc_test_async_join(&s, "send"), LFC_OK);
    /* Nobody else receives: the offer must be taken back. */
    assert_status(lfc_test_async_join(&t, "try_send"), LFC_AGAIN);
    int v = 0;
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    lfc_chan_free(ch);
}

int
main(void)
{
    lfc_test_alarm(600);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linearizable_try_recv_cap1),
        cmocka_unit_test(test_linearizable_try_recv_cap2),
        cmocka_unit_test(test_linearizable_try_recv_cap4),
        cmocka_unit_test(test_linearizable_try_send_cap1),
        cmocka_unit_test(test_linearizable_try_send_cap4),
        cmocka_unit_test(test_pseudo_random_send_unbuffered),
        cmocka_unit_test(test_pseudo_random_send_buffered),
        cmocka_unit_test(test_close_settles_offer_try_recv),
        cmocka_unit_test(test_close_settles_offer_recv),
        cmocka_unit_test(test_close_settles_offer_select),
        cmocka_unit_test(test_close_races_receiver_exactly_once),
        cmocka_unit_test(test_close_buffered_drains_then_closed),
        cmocka_unit_test_setup_teardown(test_spin_limit_respects_recv_deadline,
                                        spin_setup, spin_teardown),
        cmocka_unit_test_setup_teardown(
            test_spin_limit_respects_select_deadline, spin_setup,
            spin_teardown),
        cmocka_unit_test_setup_teardown(test_spin_limit_respects_sem_deadline,
                                        spin_setup, spin_teardown),
        cmocka_unit_test(test_close_during_offer_copy_then_closed),
        cmocka_unit_test_setup_teardown(
            test_try_send_offer_not_taken_by_try_recv, gate_setup,
            gate_teardown),
        cmocka_unit_test_setup_teardown(
            test_try_send_offer_abandoned_by_leaving_receiver, gate_setup,
            gate_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
