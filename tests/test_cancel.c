/* SPDX-License-Identifier: MIT */
/*
 * pthread_cancel of a thread blocked in each kind of lfchan wait (README,
 * "fork() and pthread_cancel"; chan.h, "Cancellation").
 *
 * The contract: no lfchan call is a cancellation point. A deferred cancel
 * request sent to a thread parked in lfchan neither wakes it nor ends its
 * call: the call goes on waiting, completes as it would have without the
 * request (a value it receives is in its buffer, a value it sends was
 * delivered, a permit it acquires is held, its status says so), and the
 * thread acts on the request at its first cancellation point after the
 * call returns. So a cancelled thread never leaves a waiter registered in
 * an event count or a selector list, and never takes a value with it.
 *
 * Each test: a victim thread makes one blocking call and, after it
 * returns, records the result and reaches pthread_testcancel(). The test
 * waits until the victim is parked in the call (the park hook of
 * lfc_test_async.h: its futex wait, not a sleep), cancels it, lets it run
 * on for LFC_TEST_SETTLE_NS and checks that it is still blocked and
 * alive, then does what the call waits for (sends the value, receives,
 * releases, closes, cancels a context). The victim must then return the
 * status and value that action gives, and die at pthread_testcancel
 * (pthread_join gives PTHREAD_CANCELED; a flag after it stays 0). Last,
 * the object must still work with other threads: a new waiter parks and
 * is served, a value sent after the cancel is received by someone else,
 * and on unbuffered channels lfc_try_send finds no phantom receiver
 * (which a waiter that died registered would be, and the send would
 * hang). Had the call been a cancellation point, the victim would die
 * inside it: the test says so instead of hanging.
 *
 * A second set interrupts a parked waiter with a signal whose handler is
 * installed without SA_RESTART, so that its futex wait returns EINTR (as
 * SIGCANCEL would, in C libraries that send it for deferred
 * cancellation): the call must re-park (the park hook sees a second wait)
 * and return only what its partner gives it.
 *
 * lfc_pool_free, lfc_group_wait, lfc_merge_free and lfc_fanout_free,
 * which join threads, are covered by tests/test_fork_cancel.c.
 *
 * Rules kept here: assertions on the test's thread only; every wait
 * bounded (LFC_TEST_STUCK_NS), a stuck victim rescued by closing its
 * channel; a watchdog and an alarm behind them; nothing about timing
 * asserted (the settle time only gives a wrong wake-up the chance to show
 * itself; the test is correct whether or not the victim ran in it).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define STUCK_NS LFC_TEST_STUCK_NS
#define SEM_SPAN 4096 /* bytes surely covering a lfc_sem (its lock) */

static unsigned long g_progress;

/* ---- the victim ---------------------------------------------------------- */

struct victim {
    pthread_t th;
    pid_t tid; /* its kernel thread id, written before the call */
    int (*call)(struct victim *);
    lfc_chan *ch;
    lfc_ctx *ctx;
    lfc_sem *sem;
    lfc_wg *wg;
    lfc_pool *pool;
    lfc_case cases[2];
    lfc_chan *rescue; /* closed if the victim is stuck */
    const void *skip; /* futex words not counted as parked (a lock) */
    size_t skip_len;
    int v;        /* the value to send, or where one is received */
    int64_t fired; /* a timer's value */
    int result;   /* the call's result */
    int parked;   /* set by each futex wait in the call (atomic) */
    int returned; /* the call returned (atomic) */
    int survived; /* passed pthread_testcancel: must stay 0 */
};

static void *
victim_main(void *arg)
{
    struct victim *v = arg;
    v->tid = gettid(); /* published by the release store of parked */
    lfc_test_async_note_parked(&v->parked, v->skip, v->skip_len);
    v->result = v->call(v);
    lfc_test_async_note_parked(NULL, NULL, 0);
    lfc_test_store_int(&v->returned, 1);
    lfc_progress_bump(&g_progress);
    pthread_testcancel(); /* a pending request acts here */
    lfc_test_store_int(&v->survived, 1);
    return NULL;
}

/* Waits (bounded) until the victim sleeps in a futex wait in its call;
 * fails if the call returned instead. */
static void
victim_wait_parked(struct victim *v, const char *what)
{
    int64_t end = lfc_now_ns() + STUCK_NS;
    while (!lfc_test_load_int(&v->parked)) {
        if (lfc_test_load_int(&v->returned))
            fail_msg("%s returned %d (%s) instead of blocking", what,
                     v->result, lfc_strerror(v->result));
        if (lfc_now_ns() > end)
            fail_msg("%s neither returned nor parked", what);
        lfc_test_sleep_ns(200 * LFC_TEST_US);
    }
}

static void
victim_start(struct victim *v, int (*call)(struct victim *), const char *what)
{
    v->call = call;
    assert_int_equal(pthread_create(&v->th, NULL, victim_main, v), 0);
    victim_wait_parked(v, what);
}

/* Fails if the victim's call returned or its thread is gone. */
static void
victim_assert_blocked(struct victim *v, const char *what)
{
    if (lfc_test_load_int(&v->returned)) {
        pthread_join(v->th, NULL);
        fail_msg("%s returned %d (%s) after pthread_cancel, before its "
                 "partner came",
                 what, v->result, lfc_strerror(v->result));
    }
    if (pthread_tryjoin_np(v->th, NULL) == 0)
        fail_msg("%s: the thread died inside the call (pthread_cancel "
                 "acted there: a cancellation point)",
                 what);
}

/* Cancel the parked victim; it must stay blocked in its call. */
static void
victim_cancel(struct victim *v, const char *what)
{
    assert_int_equal(pthread_cancel(v->th), 0);
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    victim_assert_blocked(v, what);
}

/* Waits for the call to return (rescuing a stuck one), joins, and checks
 * that the thread was then cancelled at pthread_testcancel. Returns the
 * call's result. */
static int
victim_finish(struct victim *v, const char *what)
{
    if (!lfc_test_wait_flag(&v->returned, STUCK_NS)) {
        if (pthread_tryjoin_np(v->th, NULL) == 0)
            fail_msg("%s: the thread died inside the call", what);
        if (v->rescue)
            lfc_close(v->rescue);
        if (!lfc_test_wait_flag(&v->returned, STUCK_NS)) {
            fprintf(stderr, "%s: stuck after the rescue\n", what);
            abort();
        }
        pthread_join(v->th, NULL);
        fail_msg("%s: still blocked after its partner came (lost wake-up); "
                 "returned %d only once rescued",
                 what, v->result);
    }
    void *ret = NULL;
    assert_int_equal(pthread_join(v->th, &ret), 0);
    if (ret != PTHREAD_CANCELED)
        fail_msg("%s: the thread was not cancelled after the call", what);
    assert_false(lfc_test_load_int(&v->survived));
    return v->result;
}

/* ---- the object still works ----------------------------------------------- */

static int
helper_recv(void *arg)
{
    struct victim *h = arg;
    return lfc_recv(h->ch, &h->v);
}

static int
helper_send(void *arg)
{
    struct victim *h = arg;
    return lfc_send(h->ch, &h->v);
}

static void
rescue_close(void *arg)
{
    lfc_close(arg);
}

/* The empty channel serves a new receiver (parked first) and, when
 * unbuffered, has no receiver left behind that lfc_try_send would find. */
static void
chan_still_works(lfc_chan *ch)
{
    if (lfc_chan_cap(ch) == 0)
        assert_status(lfc_try_send(ch, &(int){1}), LFC_AGAIN);
    struct victim h = {.ch = ch, .v = -1};
    struct lfc_test_async a;
    struct lfc_test_async_opts o = {.rescue = rescue_close, .rescue_arg = ch};
    lfc_test_async_start_with(&a, helper_recv, &h, &o);
    lfc_test_async_wait_parked(&a, "a receiver after the cancel");
    int v = 4242;
    assert_status(lfc_send_until(ch, &v, lfc_now_ns() + STUCK_NS), LFC_OK);
    assert_status(lfc_test_async_join(&a, "a receiver after the cancel"),
                  LFC_OK);
    assert_int_equal(h.v, 4242);
    /* And a new sender, on a full (or unbuffered) channel. */
    for (size_t i = 0; i < lfc_chan_cap(ch); i++)
        assert_status(lfc_try_send(ch, &(int){(int)i}), LFC_OK);
    h.v = 777;
    lfc_test_async_start_with(&a, helper_send, &h, &o);
    lfc_test_async_wait_parked(&a, "a sender after the cancel");
    for (size_t i = 0; i < lfc_chan_cap(ch); i++) {
        assert_status(lfc_recv(ch, &v), LFC_OK);
        assert_int_equal(v, (int)i);
    }
    assert_status(lfc_recv_until(ch, &v, lfc_now_ns() + STUCK_NS), LFC_OK);
    assert_int_equal(v, 777);
    assert_status(lfc_test_async_join(&a, "a sender after the cancel"),
                  LFC_OK);
    assert_int_equal(lfc_chan_len(ch), 0);
    if (lfc_chan_cap(ch) == 0)
        assert_status(lfc_try_send(ch, &(int){1}), LFC_AGAIN);
}

/* ---- channel receives ------------------------------------------------------ */

static int
call_recv(struct victim *v)
{
    return lfc_recv(v->ch, &v->v);
}

static int
call_recv_until(struct victim *v)
{
    return lfc_recv_until(v->ch, &v->v, lfc_now_ns() + LFC_TEST_FAR_NS);
}

static int
call_recv_ctx(struct victim *v)
{
    return lfc_recv_ctx(v->ch, &v->v, v->ctx);
}

static int
call_select_recv(struct victim *v)
{
    return lfc_select(v->cases, 2);
}

static int
call_select_until_recv(struct victim *v)
{
    return lfc_select_until(v->cases, 2, lfc_now_ns() + LFC_TEST_FAR_NS);
}

/* A cancelled receiver takes the value sent after the cancel: it is in
 * its buffer when the call returns LFC_OK. */
static void
cancel_receiver(size_t cap, int (*call)(struct victim *), const char *what)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(int));
    lfc_chan *other = lfc_chan_new(cap, sizeof(int));
    assert_true(ch && other);
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    struct victim v = {.ch = ch, .ctx = ctx, .v = -1, .rescue = ch};
    v.cases[0] = (lfc_case){.ch = other, .dir = LFC_RECV, .buf = &v.v};
    v.cases[1] = (lfc_case){.ch = ch, .dir = LFC_RECV, .buf = &v.v};
    victim_start(&v, call, what);
    victim_cancel(&v, what);
    int val = 42;
    assert_status(lfc_send_until(ch, &val, lfc_now_ns() + STUCK_NS), LFC_OK);
    int r = victim_finish(&v, what);
    if (call == call_select_recv || call == call_select_until_recv) {
        assert_int_equal(r, 1);
        assert_status(v.cases[1].status, LFC_OK);
    } else {
        assert_status(r, LFC_OK);
    }
    assert_int_equal(v.v, 42); /* the value went to the cancelled thread */
    assert_int_equal(lfc_chan_len(ch), 0);
    chan_still_works(ch);
    chan_still_works(other);
    lfc_ctx_free(ctx);
    lfc_chan_free(ch);
    lfc_chan_free(other);
}

static void
test_cancel_recv(void **state)
{
    (void)state;
    cancel_receiver(1, call_recv, "lfc_recv (buffered)");
    cancel_receiver(0, call_recv, "lfc_recv (unbuffered)");
}

static void
test_cancel_recv_until(void **state)
{
    (void)state;
    cancel_receiver(4, call_recv_until, "lfc_recv_until (buffered)");
    cancel_receiver(0, call_recv_until, "lfc_recv_until (unbuffered)");
}

static void
test_cancel_recv_ctx(void **state)
{
    (void)state;
    cancel_receiver(1, call_recv_ctx, "lfc_recv_ctx (buffered)");
    cancel_receiver(0, call_recv_ctx, "lfc_recv_ctx (unbuffered)");
}

static void
test_cancel_select_recv(void **state)
{
    (void)state;
    cancel_receiver(1, call_select_recv, "lfc_select recv (buffered)");
    cancel_receiver(0, call_select_recv, "lfc_select recv (unbuffered)");
    cancel_receiver(2, call_select_until_recv, "lfc_select_until (buffered)");
    cancel_receiver(0, call_select_until_recv,
                    "lfc_select_until (unbuffered)");
}

/* A cancelled receiver of a context: released by the cancellation of the
 * context, with LFC_CANCELED, and nothing taken from the channel. */
static void
test_cancel_recv_ctx_released_by_context(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(1, sizeof(int));
    assert_non_null(ch);
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    struct victim v = {.ch = ch, .ctx = ctx, .v = -1, .rescue = ch};
    victim_start(&v, call_recv_ctx, "lfc_recv_ctx");
    victim_cancel(&v, "lfc_recv_ctx");
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    assert_status(victim_finish(&v, "lfc_recv_ctx"), LFC_CANCELED);
    assert_int_equal(v.v, -1);
    chan_still_works(ch);
    lfc_ctx_free(ctx);
    lfc_chan_free(ch);
}

/* ---- channel sends ------------------------------------------------------------ */

static int
call_send(struct victim *v)
{
    return lfc_send(v->ch, &v->v);
}

static int
call_send_until(struct victim *v)
{
    return lfc_send_until(v->ch, &v->v, lfc_now_ns() + LFC_TEST_FAR_NS);
}

static int
call_send_ctx(struct victim *v)
{
    return lfc_send_ctx(v->ch, &v->v, v->ctx);
}

static int
call_select_send(struct victim *v)
{
    return lfc_select_biased(v->cases, 2);
}

/* A cancelled sender on a full (or unbuffered) channel: its value is
 * delivered, exactly once, to the receiver that comes after the cancel. */
static void
cancel_sender(size_t cap, int (*call)(struct victim *), const char *what)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(int));
    assert_non_null(ch);
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    for (size_t i = 0; i < cap; i++)
        assert_status(lfc_try_send(ch, &(int){100 + (int)i}), LFC_OK);
    struct victim v = {.ch = ch, .ctx = ctx, .v = 99, .rescue = ch};
    v.cases[0] = (lfc_case){.ch = NULL};
    v.cases[1] = (lfc_case){.ch = ch, .dir = LFC_SEND, .buf = &v.v};
    victim_start(&v, call, what);
    victim_cancel(&v, what);
    int got = -1;
    for (size_t i = 0; i < cap; i++) {
        assert_status(lfc_recv(ch, &got), LFC_OK);
        assert_int_equal(got, 100 + (int)i);
    }
    assert_status(lfc_recv_until(ch, &got, lfc_now_ns() + STUCK_NS), LFC_OK);
    assert_int_equal(got, 99);
    int r = victim_finish(&v, what);
    if (call == call_select_send) {
        assert_int_equal(r, 1);
        assert_status(v.cases[1].status, LFC_OK);
    } else {
        assert_status(r, LFC_OK);
    }
    assert_status(lfc_try_recv(ch, &got), LFC_AGAIN); /* exactly once */
    chan_still_works(ch);
    lfc_ctx_free(ctx);
    lfc_chan_free(ch);
}

static void
test_cancel_send(void **state)
{
    (void)state;
    cancel_sender(1, call_send, "lfc_send (full)");
    cancel_sender(0, call_send, "lfc_send (unbuffered)");
    cancel_sender(2, call_send_until, "lfc_send_until (full)");
    cancel_sender(0, call_send_until, "lfc_send_until (unbuffered)");
}

static void
test_cancel_send_ctx_and_select(void **state)
{
    (void)state;
    cancel_sender(1, call_send_ctx, "lfc_send_ctx (full)");
    cancel_sender(0, call_send_ctx, "lfc_send_ctx (unbuffered)");
    cancel_sender(1, call_select_send, "lfc_select_biased send (full)");
    cancel_sender(0, call_select_send, "lfc_select_biased send (unbuffered)");
}

/* A cancelled unbuffered sender whose channel is closed: LFC_CLOSED, its
 * value taken by nobody. */
static void
test_cancel_send_released_by_close(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(int));
    assert_non_null(ch);
    struct victim v = {.ch = ch, .v = 5};
    victim_start(&v, call_send, "lfc_send (unbuffered, then closed)");
    victim_cancel(&v, "lfc_send (unbuffered, then closed)");
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(victim_finish(&v, "lfc_send (unbuffered, then closed)"),
                  LFC_CLOSED);
    int got;
    assert_status(lfc_try_recv(ch, &got), LFC_CLOSED);
    lfc_chan_free(ch);
}

/* ---- timers and context done channels ---------------------------------------- */

static int
call_recv_int64(struct victim *v)
{
    int64_t fired = 0;
    int r = lfc_recv(v->ch, &fired);
    v->fired = fired;
    return r;
}

/*
 * A cancelled receiver of a timer's channel gets the timer's value when
 * it fires. The run counts only if the cancel was sent before the
 * deadline (then the victim was blocked when it came); in a run so slow
 * that it was not, the run is repeated with a timer 4x longer.
 */
static void
test_cancel_timer_recv(void **state)
{
    (void)state;
    int64_t ns = lfc_test_timeout_ns(200 * LFC_TEST_MS);
    for (int tries = 0; tries < 6; tries++, ns *= 4) {
        int64_t before = lfc_now_ns();
        lfc_timer *t = lfc_timer_after(ns);
        assert_non_null(t);
        struct victim v = {.ch = lfc_timer_chan(t)};
        v.call = call_recv_int64;
        assert_int_equal(pthread_create(&v.th, NULL, victim_main, &v), 0);
        int64_t end = lfc_now_ns() + STUCK_NS;
        while (!lfc_test_load_int(&v.parked) &&
               !lfc_test_load_int(&v.returned) && lfc_now_ns() < end)
            lfc_test_sleep_ns(200 * LFC_TEST_US);
        assert_int_equal(pthread_cancel(v.th), 0);
        int64_t cancelled_at = lfc_now_ns();
        assert_status(victim_finish(&v, "timer receive"), LFC_OK);
        assert_true(v.fired >= before + ns); /* the timer's own value */
        int64_t got;
        assert_status(lfc_try_recv(v.ch, &got), LFC_AGAIN); /* taken once */
        lfc_timer_free(t);
        if (cancelled_at < before + ns)
            return;
    }
    fail_msg("every run was too slow to cancel before its timer fired");
}

static int
call_recv_done(struct victim *v)
{
    return lfc_recv(lfc_ctx_done(v->ctx), NULL);
}

/* A cancelled waiter on a context's done channel wakes when the context
 * is cancelled, as every other waiter does. */
static void
test_cancel_ctx_done_recv(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    struct victim v = {.ctx = ctx};
    victim_start(&v, call_recv_done, "receive on a done channel");
    victim_cancel(&v, "receive on a done channel");
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    assert_status(victim_finish(&v, "receive on a done channel"), LFC_CLOSED);
    assert_status(lfc_recv(lfc_ctx_done(ctx), NULL), LFC_CLOSED);
    lfc_ctx_free(ctx);
}

/* ---- semaphores, wait groups, pools ---------------------------------------------- */

static int
call_sem_acquire(struct victim *v)
{
    return lfc_sem_acquire(v->sem, 2);
}

static int
call_sem_acquire_until(struct victim *v)
{
    return lfc_sem_acquire_until(v->sem, 2, lfc_now_ns() + LFC_TEST_FAR_NS);
}

static int
call_sem_acquire_ctx(struct victim *v)
{
    return lfc_sem_acquire_ctx(v->sem, 2, v->ctx);
}

static int
helper_sem_acquire(void *arg)
{
    return lfc_sem_acquire(arg, 3);
}

/* A cancelled acquirer gets its permits when they are released, and
 * holds them: nothing is lost or left queued. */
static void
cancel_acquirer(int (*call)(struct victim *), const char *what)
{
    lfc_sem *s = lfc_sem_new(3);
    assert_non_null(s);
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    assert_status(lfc_sem_acquire(s, 3), LFC_OK);
    struct victim v = {.sem = s, .ctx = ctx, .skip = s, .skip_len = SEM_SPAN};
    victim_start(&v, call, what);
    victim_cancel(&v, what);
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    assert_status(victim_finish(&v, what), LFC_OK);
    assert_true(lfc_sem_available(s) == 1); /* the victim holds 2 */
    assert_status(lfc_sem_release(s, 2), LFC_OK); /* on its behalf */
    /* The queue is empty again: a new waiter for all 3 is served. */
    assert_status(lfc_sem_acquire(s, 1), LFC_OK);
    struct lfc_test_async a;
    struct lfc_test_async_opts o = {.skip = s, .skip_len = SEM_SPAN};
    lfc_test_async_start_with(&a, helper_sem_acquire, s, &o);
    lfc_test_async_wait_parked(&a, "an acquirer after the cancel");
    assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_status(lfc_test_async_join(&a, "an acquirer after the cancel"),
                  LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    assert_true(lfc_sem_available(s) == 3);
    lfc_ctx_free(ctx);
    lfc_sem_free(s);
}

static void
test_cancel_sem_acquire(void **state)
{
    (void)state;
    cancel_acquirer(call_sem_acquire, "lfc_sem_acquire");
    cancel_acquirer(call_sem_acquire_until, "lfc_sem_acquire_until");
    cancel_acquirer(call_sem_acquire_ctx, "lfc_sem_acquire_ctx");
}

static int
call_wg_wait(struct victim *v)
{
    return lfc_wg_wait(v->wg);
}

static int
call_wg_wait_until(struct victim *v)
{
    return lfc_wg_wait_until(v->wg, lfc_now_ns() + LFC_TEST_FAR_NS);
}

static int
helper_wg_wait(void *arg)
{
    return lfc_wg_wait(arg);
}

static void
test_cancel_wg_wait(void **state)
{
    (void)state;
    int (*calls[])(struct victim *) = {call_wg_wait, call_wg_wait_until};
    for (int i = 0; i < 2; i++) {
        lfc_wg *wg = lfc_wg_new();
        assert_non_null(wg);
        assert_status(lfc_wg_add(wg, 1), LFC_OK);
        struct victim v = {.wg = wg};
        victim_start(&v, calls[i], "lfc_wg_wait");
        victim_cancel(&v, "lfc_wg_wait");
        assert_status(lfc_wg_done(wg), LFC_OK);
        assert_status(victim_finish(&v, "lfc_wg_wait"), LFC_OK);
        /* Reused: a new waiter waits for the next round. */
        assert_status(lfc_wg_add(wg, 1), LFC_OK);
        struct lfc_test_async a;
        lfc_test_async_start(&a, helper_wg_wait, wg);
        lfc_test_async_wait_parked(&a, "a wg waiter after the cancel");
        assert_status(lfc_wg_done(wg), LFC_OK);
        assert_status(lfc_test_async_join(&a, "a wg waiter after the cancel"),
                      LFC_OK);
        lfc_wg_free(wg);
    }
}

struct gated {
    lfc_chan *gate; /* closed by the test */
    int started;
    int runs;
};

static void
gated_task(void *arg)
{
    struct gated *g = arg;
    lfc_test_store_int(&g->started, 1);
    (void)lfc_recv_until(g->gate, NULL, lfc_now_ns() + STUCK_NS);
    __atomic_fetch_add(&g->runs, 1, __ATOMIC_RELAXED);
}

static int
call_pool_wait(struct victim *v)
{
    return lfc_pool_wait(v->pool);
}

static void
test_cancel_pool_wait(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(1, 1);
    assert_non_null(p);
    struct gated g = {.gate = lfc_chan_new(0, 0)};
    assert_non_null(g.gate);
    assert_status(lfc_pool_submit(p, gated_task, &g), LFC_OK);
    assert_true(lfc_test_wait_flag(&g.started, STUCK_NS));
    struct victim v = {.pool = p};
    victim_start(&v, call_pool_wait, "lfc_pool_wait");
    victim_cancel(&v, "lfc_pool_wait");
    lfc_close(g.gate);
    assert_status(victim_finish(&v, "lfc_pool_wait"), LFC_OK);
    assert_int_equal(__atomic_load_n(&g.runs, __ATOMIC_RELAXED), 1);
    /* The pool goes on: a new task runs, a new wait returns. */
    assert_status(lfc_pool_submit(p, gated_task, &g), LFC_OK);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(__atomic_load_n(&g.runs, __ATOMIC_RELAXED), 2);
    lfc_pool_free(p);
    lfc_chan_free(g.gate);
}

static int
call_pool_submit_gated(struct victim *v)
{
    return lfc_pool_submit(v->pool, gated_task, v->cases[0].buf);
}

/* A cancelled submitter on a full queue: its task is queued once there
 * is room, and runs exactly once. */
static void
test_cancel_pool_submit(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(1, 1);
    assert_non_null(p);
    struct gated g = {.gate = lfc_chan_new(0, 0)};
    assert_non_null(g.gate);
    assert_status(lfc_pool_submit(p, gated_task, &g), LFC_OK); /* runs */
    assert_true(lfc_test_wait_flag(&g.started, STUCK_NS));
    assert_status(lfc_pool_submit(p, gated_task, &g), LFC_OK); /* queued */
    struct victim v = {.pool = p};
    v.cases[0].buf = &g;
    victim_start(&v, call_pool_submit_gated, "lfc_pool_submit");
    victim_cancel(&v, "lfc_pool_submit");
    lfc_close(g.gate); /* every task finishes at once from now on */
    assert_status(victim_finish(&v, "lfc_pool_submit"), LFC_OK);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(__atomic_load_n(&g.runs, __ATOMIC_RELAXED), 3);
    struct lfc_pool_stats st;
    assert_status(lfc_pool_stats(p, &st), LFC_OK);
    assert_true(st.submitted == 3 && st.completed == 3 && st.queued == 0);
    lfc_pool_free(p);
    lfc_chan_free(g.gate);
}

/* ---- signals interrupting a parked wait ------------------------------------------- */

static int g_signals; /* handled SIGUSR1s (atomic) */

static void
on_sigusr1(int sig)
{
    (void)sig;
    __atomic_fetch_add(&g_signals, 1, __ATOMIC_RELAXED);
}

/* SIGUSR1 with a handler and without SA_RESTART: a futex wait it
 * interrupts returns EINTR. */
static void
install_sigusr1(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

/*
 * Waits (bounded) until the parked victim is asleep in the kernel. The
 * park hook notes "parked" just before the futex system call, so a victim
 * that has set the flag may still be running towards it (preempted there,
 * on a loaded host); a signal it handles then interrupts nothing, and the
 * futex wait that follows sleeps without a second note. Only once its
 * state is 'S' (the only sleep inside these calls is the futex wait) is
 * it inside the wait that the signal must interrupt.
 */
static void
victim_wait_asleep(struct victim *v, const char *what)
{
    victim_wait_parked(v, what);
    int64_t end = lfc_now_ns() + STUCK_NS;
    while (lfc_test_thread_state(v->tid) != 'S') {
        if (lfc_test_load_int(&v->returned))
            fail_msg("%s returned %d (%s) instead of blocking", what,
                     v->result, lfc_strerror(v->result));
        if (lfc_now_ns() > end)
            fail_msg("%s parked but never slept in the kernel", what);
        lfc_test_sleep_ns(200 * LFC_TEST_US);
    }
}

/* Interrupt the parked victim `times` times; after each signal it must
 * park again (a new futex wait, seen by the hook) rather than return.
 * Each signal is sent once the victim sleeps in its futex wait, so that
 * it interrupts that wait (EINTR) rather than landing just before it. */
static void
interrupt_parked(struct victim *v, int times, const char *what)
{
    for (int i = 0; i < times; i++) {
        victim_wait_asleep(v, what);
        int before = __atomic_load_n(&g_signals, __ATOMIC_RELAXED);
        lfc_test_store_int(&v->parked, 0);
        assert_int_equal(pthread_kill(v->th, SIGUSR1), 0);
        int64_t end = lfc_now_ns() + STUCK_NS;
        while (__atomic_load_n(&g_signals, __ATOMIC_RELAXED) == before) {
            if (lfc_now_ns() > end)
                fail_msg("%s: the signal was never handled", what);
            lfc_test_sleep_ns(200 * LFC_TEST_US);
        }
        victim_wait_parked(v, what); /* parked again, not returned */
        lfc_progress_bump(&g_progress);
    }
}

static int
call_sem_acquire_plain(struct victim *v)
{
    return lfc_sem_acquire(v->sem, 1);
}

static void
test_signal_interrupts_waits(void **state)
{
    (void)state;
    install_sigusr1();
    /* A receive, a select and a semaphore acquire; each must return only
     * what its partner gives it. */
    lfc_chan *ch = lfc_chan_new(0, sizeof(int));
    assert_non_null(ch);
    int (*calls[])(struct victim *) = {call_recv, call_select_recv,
                                        call_recv_until};
    for (int c = 0; c < 3; c++) {
        struct victim v = {.ch = ch, .v = -1, .rescue = ch};
        v.cases[0] = (lfc_case){.ch = NULL};
        v.cases[1] = (lfc_case){.ch = ch, .dir = LFC_RECV, .buf = &v.v};
        victim_start(&v, calls[c], "an interrupted receive");
        interrupt_parked(&v, 3, "an interrupted receive");
        assert_int_equal(pthread_cancel(v.th), 0);
        assert_status(lfc_send_until(ch, &(int){31}, lfc_now_ns() + STUCK_NS),
                      LFC_OK);
        int r = victim_finish(&v, "an interrupted receive");
        assert_int_equal(r, calls[c] == call_select_recv ? 1 : LFC_OK);
        assert_int_equal(v.v, 31);
    }
    chan_still_works(ch);
    lfc_chan_free(ch);

    lfc_sem *s = lfc_sem_new(1);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 1), LFC_OK);
    struct victim v = {.sem = s, .skip = s, .skip_len = SEM_SPAN};
    victim_start(&v, call_sem_acquire_plain, "an interrupted acquire");
    interrupt_parked(&v, 3, "an interrupted acquire");
    assert_int_equal(pthread_cancel(v.th), 0);
    assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_status(victim_finish(&v, "an interrupted acquire"), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_release(s, 1), LFC_OK);
    lfc_sem_free(s);
    signal(SIGUSR1, SIG_DFL);
}

/* ---- main ----------------------------------------------------------------------- */

static struct lfc_watchdog g_dog;

static int
dog_setup(void **state)
{
    (void)state;
    lfc_watchdog_start(&g_dog, "test_cancel (the last [ RUN ] test)",
                       &g_progress, 0);
    return 0;
}

static int
dog_teardown(void **state)
{
    (void)state;
    lfc_watchdog_stop(&g_dog);
    return 0;
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_recv),
        cmocka_unit_test(test_cancel_recv_until),
        cmocka_unit_test(test_cancel_recv_ctx),
        cmocka_unit_test(test_cancel_select_recv),
        cmocka_unit_test(test_cancel_recv_ctx_released_by_context),
        cmocka_unit_test(test_cancel_send),
        cmocka_unit_test(test_cancel_send_ctx_and_select),
        cmocka_unit_test(test_cancel_send_released_by_close),
        cmocka_unit_test(test_cancel_timer_recv),
        cmocka_unit_test(test_cancel_ctx_done_recv),
        cmocka_unit_test(test_cancel_sem_acquire),
        cmocka_unit_test(test_cancel_wg_wait),
        cmocka_unit_test(test_cancel_pool_wait),
        cmocka_unit_test(test_cancel_pool_submit),
        cmocka_unit_test(test_signal_interrupts_waits),
    };
    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    if (getenv("LFC_TEST_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("LFC_TEST_SKIP"));
    return cmocka_run_group_tests(tests, dog_setup, dog_teardown);
}
