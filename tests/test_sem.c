/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan semaphores (include/lfchan/sem.h): arguments,
 * try/timed/ctx acquires, release over the total, the permit bound under
 * contention, first-come-first-served order, and the release→acquire
 * happens-before.
 *
 * Scenarios adapted from golang.org/x/sync/semaphore (semaphore_test.go:
 * TestWeighted's hammer, TestWeightedTryAcquire, TestWeightedPanic for
 * releasing more than was held, TestLargeAcquireDoesntStarve,
 * TestAllocCancelDoesntStarve, TestWeightedDoesntBlockIfTooBig), rewritten
 * in C. The 8-thread counter inside the critical section and the weight-5
 * waiter against a stream of weight-1 acquirers are the issue's.
 *
 * Rules kept here:
 *   - Every blocking call runs on a helper thread (struct op) or under a
 *     watchdog; a lost wake-up fails the test within seconds.
 *   - A waiter is known to be queued once it has parked: the futex
 *     operations are wrapped (lfc__park_set_ops) and a helper notes when
 *     it first sleeps on its own parking word (not on the semaphore's
 *     lock). Only then does the next helper start, so "arrival order" is
 *     exact, not a matter of sleeping long enough.
 *   - Timing checks assert lower bounds exactly (a deadline never fires
 *     early) and no upper bounds: what must happen is waited for up to
 *     LFC_TEST_STUCK_NS (tests/support), which only a lost wake-up
 *     reaches, on a loaded host or under a sanitizer too.
 *   - cmocka assertions run only on the test's own thread.
 *   - Sizes scale with LFC_TEST_SCALE (see lfc_test_support.h).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lfc_park.h"
#include "lfc_test_async.h"
#include "lfc_test_futex.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define US LFC_TEST_US
#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* ---- futex operations ---------------------------------------------------
 *
 * lfc_test_async_install_park_hook() (lfc_test_async.h) installs
 * lfc_test_counting_ops (lfc_test_futex.h): real futex calls, plus
 * counters (the uncontended path makes no system call), optional spurious
 * early returns, and the "parked" note of the calling helper, which skips
 * its semaphore's bytes. The only futex word inside the semaphore object
 * is its lock; a helper waits on any other word (its own parking word, or
 * the lock of its context's done channel) only after it has joined the
 * queue.
 */

#define SEM_SPAN 4096 /* bytes surely covering a lfc_sem */

/* ---- one acquire on a helper thread (lfc_test_async.h) ----------------- */

enum op_kind { OP_ACQUIRE, OP_UNTIL, OP_CTX, OP_TRY };

struct op {
    struct lfc_test_async a;
    lfc_sem *s;
    enum op_kind kind;
    int64_t n;
    int64_t deadline; /* OP_UNTIL */
    lfc_ctx *ctx;     /* OP_CTX */
};

static int
op_call(void *arg)
{
    struct op *o = arg;
    switch (o->kind) {
    case OP_ACQUIRE:
        return lfc_sem_acquire(o->s, o->n);
    case OP_UNTIL:
        return lfc_sem_acquire_until(o->s, o->n, o->deadline);
    case OP_CTX:
        return lfc_sem_acquire_ctx(o->s, o->n, o->ctx);
    case OP_TRY:
        return lfc_sem_try_acquire(o->s, o->n);
    }
    return LFC_EINVAL;
}

static bool
op_done(const struct op *o)
{
    return lfc_test_async_done(&o->a);
}

/* Starts `o` and returns once its thread is about to make the call. No
 * rescue: a thread stuck in the semaphore cannot be joined, and its
 * semaphore could not be freed, so a stuck call aborts. */
static void
op_run(struct op *o, lfc_sem *s, enum op_kind kind, int64_t n, int64_t deadline,
       lfc_ctx *ctx)
{
    o->s = s;
    o->kind = kind;
    o->n = n;
    o->deadline = deadline;
    o->ctx = ctx;
    struct lfc_test_async_opts opts = {.skip = s, .skip_len = SEM_SPAN};
    lfc_test_async_start_with(&o->a, op_call, o, &opts);
}

static void
op_start(struct op *o, lfc_sem *s, enum op_kind kind, int64_t n)
{
    op_run(o, s, kind, n, INT64_MAX, lfc_ctx_background());
}

static void
op_start_until(struct op *o, lfc_sem *s, int64_t n, int64_t deadline)
{
    op_run(o, s, OP_UNTIL, n, deadline, NULL);
}

static void
op_start_ctx(struct op *o, lfc_sem *s, int64_t n, lfc_ctx *ctx)
{
    op_run(o, s, OP_CTX, n, INT64_MAX, ctx);
}

/* Waits until `o` has parked in the semaphore's queue, and is still
 * there. Only for calls with nothing that could end them meanwhile (no
 * deadline that may pass, no release). */
static void
op_wait_parked(struct op *o, const char *what)
{
    lfc_test_async_wait_parked(&o->a, what);
    lfc_test_async_assert_blocked(&o->a, what);
}

/* Starts an acquire of n and returns once it is parked in the queue. */
static void
op_start_queued(struct op *o, lfc_sem *s, int64_t n, const char *what)
{
    op_start(o, s, OP_ACQUIRE, n);
    op_wait_parked(o, what);
}

/* The op, parked, is still blocked after LFC_TEST_SETTLE_NS more: what a
 * release that must not serve it would have had time to do wrong. */
static void
op_assert_blocked(struct op *o, const char *what)
{
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    lfc_test_async_assert_blocked(&o->a, what);
}

/* Joins the op (aborting if it is still blocked after LFC_TEST_STUCK_NS: a
 * lost wake-up) and returns its status. */
static int
op_finish(struct op *o, const char *what)
{
    if (!lfc_test_async_wait_done(&o->a, LFC_TEST_STUCK_NS))
        fprintf(stderr, "%s: available %lld while stuck\n", what,
                (long long)lfc_sem_available(o->s));
    return lfc_test_async_join(&o->a, what);
}

/* ---- arguments ---------------------------------------------------------- */

static void
test_sem_new_bad_args(void **state)
{
    (void)state;
    const int64_t bad[] = {-1, INT64_MIN, LFC_SEM_MAX + 1, INT64_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        assert_null(lfc_sem_new(bad[i]));
        assert_int_equal(errno, EINVAL);
    }
    const int64_t good[] = {0, 1, 5, LFC_SEM_MAX};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        lfc_sem *s = lfc_sem_new(good[i]);
        assert_non_null(s);
        assert_true(lfc_sem_available(s) == good[i]);
        lfc_sem_free(s);
    }
}

static void
test_sem_null_and_bad_n_einval(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    int64_t far = lfc_now_ns() + LFC_TEST_FAR_NS;

    assert_status(lfc_sem_acquire(NULL, 1), LFC_EINVAL);
    assert_status(lfc_sem_try_acquire(NULL, 1), LFC_EINVAL);
    assert_status(lfc_sem_acquire_until(NULL, 1, far), LFC_EINVAL);
    assert_status(lfc_sem_acquire_ctx(NULL, 1, bg), LFC_EINVAL);
    assert_status(lfc_sem_release(NULL, 1), LFC_EINVAL);
    assert_status(lfc_sem_acquire(NULL, 0), LFC_EINVAL);
    assert_status(lfc_sem_release(NULL, 0), LFC_EINVAL);
    assert_true(lfc_sem_available(NULL) == 0);
    lfc_sem_free(NULL);

    lfc_sem *s = lfc_sem_new(4);
    assert_non_null(s);
    /* Negative n, and n above the total (it could never succeed: refused
     * at once instead of blocking forever), take nothing. */
    const int64_t bad[] = {-1, INT64_MIN, 5, INT64_MAX, LFC_SEM_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t n = bad[i];
        assert_status(lfc_sem_acquire(s, n), LFC_EINVAL);
        assert_status(lfc_sem_try_acquire(s, n), LFC_EINVAL);
        assert_status(lfc_sem_acquire_until(s, n, far), LFC_EINVAL);
        assert_status(lfc_sem_acquire_ctx(s, n, bg), LFC_EINVAL);
        assert_true(lfc_sem_available(s) == 4);
    }
    assert_status(lfc_sem_release(s, -1), LFC_EINVAL);
    assert_status(lfc_sem_release(s, INT64_MIN), LFC_EINVAL);
    assert_true(lfc_sem_available(s) == 4);
    /* A NULL ctx is an error, not "no ctx". */
    assert_status(lfc_sem_acquire_ctx(s, 1, NULL), LFC_EINVAL);
    assert_true(lfc_sem_available(s) == 4);

    /* n above the total is refused even while all permits are held. */
    assert_status(lfc_sem_acquire(s, 4), LFC_OK);
    assert_status(lfc_sem_acquire(s, 5), LFC_EINVAL);
    assert_status(lfc_sem_acquire_until(s, 5, far), LFC_EINVAL);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_release(s, 4), LFC_OK);
    lfc_sem_free(s);
}

/* ---- single-threaded behaviour ------------------------------------------ */

static void
test_sem_try_acquire_weights_and_again(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(3);
    assert_non_null(s);
    assert_status(lfc_sem_try_acquire(s, 2), LFC_OK);
    assert_true(lfc_sem_available(s) == 1);
    assert_status(lfc_sem_try_acquire(s, 2), LFC_AGAIN); /* nothing taken */
    assert_true(lfc_sem_available(s) == 1);
    assert_status(lfc_sem_try_acquire(s, 1), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_try_acquire(s, 1), LFC_AGAIN);
    assert_status(lfc_sem_release(s, 3), LFC_OK); /* any split is fine */
    assert_true(lfc_sem_available(s) == 3);
    assert_status(lfc_sem_try_acquire(s, 3), LFC_OK);
    for (int i = 0; i < 3; i++)
        assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_true(lfc_sem_available(s) == 3);

    /* The whole range: LFC_SEM_MAX permits taken and returned at once. */
    lfc_sem *big = lfc_sem_new(LFC_SEM_MAX);
    assert_non_null(big);
    assert_status(lfc_sem_try_acquire(big, LFC_SEM_MAX), LFC_OK);
    assert_true(lfc_sem_available(big) == 0);
    assert_status(lfc_sem_try_acquire(big, 1), LFC_AGAIN);
    assert_status(lfc_sem_release(big, LFC_SEM_MAX - 1), LFC_OK);
    assert_status(lfc_sem_acquire(big, LFC_SEM_MAX - 2), LFC_OK);
    assert_true(lfc_sem_available(big) == 1);
    assert_status(lfc_sem_release(big, LFC_SEM_MAX - 1), LFC_OK);
    assert_true(lfc_sem_available(big) == LFC_SEM_MAX);
    lfc_sem_free(big);
    lfc_sem_free(s);
}

static void
test_sem_zero_n_returns_at_once(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(2);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 2), LFC_OK); /* none free */
    assert_status(lfc_sem_acquire(s, 0), LFC_OK);
    assert_status(lfc_sem_try_acquire(s, 0), LFC_OK);
    assert_status(lfc_sem_acquire_until(s, 0, 0), LFC_OK);
    assert_status(lfc_sem_acquire_ctx(s, 0, lfc_ctx_background()), LFC_OK);
    assert_status(lfc_sem_release(s, 0), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_release(s, 2), LFC_OK);
    assert_true(lfc_sem_available(s) == 2);
    lfc_sem_free(s);

    /* A semaphore with no permits at all: only n == 0 makes sense. */
    lfc_sem *z = lfc_sem_new(0);
    assert_non_null(z);
    assert_status(lfc_sem_acquire(z, 0), LFC_OK);
    assert_status(lfc_sem_try_acquire(z, 0), LFC_OK);
    assert_status(lfc_sem_release(z, 0), LFC_OK);
    assert_status(lfc_sem_acquire(z, 1), LFC_EINVAL);
    assert_status(lfc_sem_release(z, 1), LFC_EINVAL);
    assert_true(lfc_sem_available(z) == 0);
    lfc_sem_free(z);
}

static void
test_sem_release_over_total_einval(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(4);
    assert_non_null(s);
    assert_status(lfc_sem_release(s, 1), LFC_EINVAL); /* all are free */
    assert_true(lfc_sem_available(s) == 4);
    assert_status(lfc_sem_acquire(s, 3), LFC_OK);
    assert_status(lfc_sem_release(s, 4), LFC_EINVAL); /* 3 were taken */
    assert_true(lfc_sem_available(s) == 1);           /* nothing released */
    assert_status(lfc_sem_release(s, INT64_MAX), LFC_EINVAL);
    assert_status(lfc_sem_release(s, LFC_SEM_MAX), LFC_EINVAL);
    assert_true(lfc_sem_available(s) == 1);
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    assert_true(lfc_sem_available(s) == 4);
    assert_status(lfc_sem_release(s, 1), LFC_EINVAL);
    assert_true(lfc_sem_available(s) == 4);
    lfc_sem_free(s);

    /* At the top of the range: no overflow into the flag bit. */
    lfc_sem *big = lfc_sem_new(LFC_SEM_MAX);
    assert_non_null(big);
    assert_status(lfc_sem_release(big, 1), LFC_EINVAL);
    assert_status(lfc_sem_release(big, INT64_MAX), LFC_EINVAL);
    assert_true(lfc_sem_available(big) == LFC_SEM_MAX);
    assert_status(lfc_sem_acquire(big, 1), LFC_OK);
    assert_status(lfc_sem_release(big, 2), LFC_EINVAL);
    assert_status(lfc_sem_release(big, 1), LFC_OK);
    assert_true(lfc_sem_available(big) == LFC_SEM_MAX);
    lfc_sem_free(big);
}

/* The slow path (a waiter queued) checks the total too, and a refused
 * release wakes nobody. */
static void
test_sem_release_over_total_with_waiter_einval(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(5);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 3), LFC_OK); /* 2 free */
    struct op w;
    op_start_queued(&w, s, 5, "weight-5 waiter");
    assert_status(lfc_sem_release(s, 4), LFC_EINVAL); /* only 3 are held */
    assert_true(lfc_sem_available(s) == 2);
    op_assert_blocked(&w, "weight-5 waiter after a refused release");
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    assert_status(op_finish(&w, "weight-5 waiter"), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_release(s, 6), LFC_EINVAL);
    assert_status(lfc_sem_release(s, 5), LFC_OK);
    assert_true(lfc_sem_available(s) == 5);
    lfc_sem_free(s);
}

static void
test_sem_acquire_until_times_out_not_early(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(2);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 1), LFC_OK); /* 1 free */

    /* Wants 2, 1 is free: times out, not before the deadline, and takes
     * nothing (not even the free one). */
    int64_t d = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_sem_acquire_until(s, 2, d), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= d);
    assert_true(lfc_sem_available(s) == 1);

    /* On a helper thread, with a longer deadline. */
    struct op o;
    op_start_until(&o, s, 2, lfc_now_ns() + 2 * LFC_TEST_SHORT_NS);
    assert_status(op_finish(&o, "acquire_until"), LFC_TIMEDOUT);
    assert_true(o.a.t_end >= o.deadline);
    assert_true(lfc_sem_available(s) == 1);

    /* A deadline in the past is a try: free permits are taken, others
     * time out at once. */
    assert_status(lfc_sem_acquire_until(s, 2, 0), LFC_TIMEDOUT);
    assert_status(lfc_sem_acquire_until(s, 1, lfc_now_ns() - SEC), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_acquire_until(s, 1, 0), LFC_TIMEDOUT);
    assert_status(lfc_sem_release(s, 2), LFC_OK);

    /* Permits released before the deadline are taken. */
    assert_status(lfc_sem_acquire(s, 2), LFC_OK);
    op_start_until(&o, s, 2, lfc_now_ns() + 2 * LFC_TEST_STUCK_NS);
    op_wait_parked(&o, "acquire_until before the release");
    assert_status(lfc_sem_release(s, 2), LFC_OK);
    assert_status(op_finish(&o, "acquire_until"), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_release(s, 2), LFC_OK);
    lfc_sem_free(s);
}

static void
test_sem_blocked_acquire_completes_on_release(void **state)
{
    (void)state;
    const enum op_kind kinds[] = {OP_ACQUIRE, OP_UNTIL, OP_CTX};
    const char *names[] = {"acquire", "acquire_until", "acquire_ctx"};
    for (size_t k = 0; k < 3; k++) {
        lfc_sem *s = lfc_sem_new(3);
        assert_non_null(s);
        lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
        assert_non_null(ctx);
        assert_status(lfc_sem_acquire(s, 3), LFC_OK);
        struct op o;
        op_run(&o, s, kinds[k], 2, lfc_now_ns() + 2 * LFC_TEST_STUCK_NS, ctx);
        op_wait_parked(&o, names[k]);
        /* One permit is not enough for a weight-2 waiter. */
        assert_status(lfc_sem_release(s, 1), LFC_OK);
        op_assert_blocked(&o, names[k]);
        assert_true(lfc_sem_available(s) == 1);
        assert_status(lfc_sem_release(s, 1), LFC_OK);
        assert_status(op_finish(&o, names[k]), LFC_OK);
        assert_true(lfc_sem_available(s) == 0);
        assert_status(lfc_sem_release(s, 3), LFC_OK);
        lfc_ctx_free(ctx);
        lfc_sem_free(s);
    }
}

/* The issue: "uncontended acquire+release is a couple of atomic operations
 * and no system call". */
static void
test_sem_uncontended_makes_no_syscall(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(4);
    assert_non_null(s);
    /* This thread's counts: others may park. */
    unsigned long waits = lfc_test_futex_t_waits;
    unsigned long wakes = lfc_test_futex_t_wakes;
    lfc_ctx *bg = lfc_ctx_background();
    int64_t far = lfc_now_ns() + LFC_TEST_FAR_NS;
    for (int i = 0; i < 10000; i++) {
        int64_t n = 1 + i % 4;
        assert_status(lfc_sem_acquire(s, n), LFC_OK);
        assert_status(lfc_sem_release(s, n), LFC_OK);
        assert_status(lfc_sem_try_acquire(s, n), LFC_OK);
        assert_status(lfc_sem_release(s, n), LFC_OK);
        assert_status(lfc_sem_acquire_until(s, n, far), LFC_OK);
        assert_status(lfc_sem_release(s, n), LFC_OK);
        assert_status(lfc_sem_acquire_ctx(s, n, bg), LFC_OK);
        assert_status(lfc_sem_release(s, n), LFC_OK);
    }
    assert_status(lfc_sem_acquire(s, 4), LFC_OK);
    assert_status(lfc_sem_try_acquire(s, 1), LFC_AGAIN);
    assert_status(lfc_sem_release(s, 4), LFC_OK);
    assert_true(lfc_test_futex_t_waits == waits);
    assert_true(lfc_test_futex_t_wakes == wakes);
    lfc_sem_free(s);
}

/* ---- first come, first served ------------------------------------------- */

/* A weight-5 waiter queued first is served before weight-1 acquirers that
 * arrive after it, although their permits are free all along. */
static void
test_sem_large_waiter_served_before_later_small(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(5);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 1), LFC_OK); /* 4 free */
    struct op big;
    op_start_queued(&big, s, 5, "weight-5 waiter");
    enum { SMALL = 3 };
    struct op small[SMALL];
    for (int i = 0; i < SMALL; i++)
        op_start_queued(&small[i], s, 1, "weight-1 acquirer");
    /* Nobody overtook the head: the 4 free permits are still free. */
    assert_true(lfc_sem_available(s) == 4);
    assert_status(lfc_sem_try_acquire(s, 1), LFC_AGAIN);

    assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_status(op_finish(&big, "weight-5 waiter"), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    for (int i = 0; i < SMALL; i++)
        op_assert_blocked(&small[i], "weight-1 acquirer behind weight 5");
    assert_status(lfc_sem_release(s, 5), LFC_OK);
    for (int i = 0; i < SMALL; i++)
        assert_status(op_finish(&small[i], "weight-1 acquirer"),
                      LFC_OK);
    assert_true(lfc_sem_available(s) == 5 - SMALL);
    assert_status(lfc_sem_release(s, SMALL), LFC_OK);
    lfc_sem_free(s);
}

struct stream {
    lfc_sem *s;
    int stop;                /* set by the test (atomic) */
    unsigned long *progress; /* acquire/release pairs done (atomic) */
    int bad;                 /* a call failed (atomic) */
};

static void *
stream_main(void *arg)
{
    struct stream *st = arg;
    while (!lfc_test_load_int(&st->stop)) {
        if (lfc_sem_acquire_until(st->s, 1, lfc_now_ns() + 2 * LFC_TEST_STUCK_NS) !=
            LFC_OK) {
            lfc_test_store_int(&st->bad, 1);
            return NULL;
        }
        lfc_test_sleep_ns(20 * US); /* hold it a little */
        if (lfc_sem_release(st->s, 1) != LFC_OK)
            lfc_test_store_int(&st->bad, 1);
        lfc_progress_bump(st->progress);
    }
    return NULL;
}

/* Go's TestLargeAcquireDoesntStarve: while weight-1 acquirers keep some of
 * the 5 permits held at every moment, a weight-5 acquire still completes:
 * once it is queued, newcomers queue behind it. */
static void
test_sem_large_waiter_not_starved_by_stream(void **state)
{
    (void)state;
    enum { STREAMERS = 4 };
    lfc_sem *s = lfc_sem_new(5);
    assert_non_null(s);
    unsigned long progress = 0;
    struct stream st = {s, 0, &progress, 0};
    struct lfc_watchdog dog;
    lfc_watchdog_start(&dog, "weight-1 stream", &progress, 0);
    pthread_t th[STREAMERS];
    for (int i = 0; i < STREAMERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, stream_main, &st), 0);
    /* Let the stream get going. */
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < 200 &&
           lfc_now_ns() < end)
        lfc_test_sleep_ns(MS);
    assert_true(__atomic_load_n(&progress, __ATOMIC_RELAXED) >= 200);

    long rounds = lfc_test_scaled(5, 2);
    for (long r = 0; r < rounds; r++) {
        struct op big;
        op_start(&big, s, OP_ACQUIRE, 5);
        assert_status(op_finish(&big, "weight-5 in the stream"),
                      LFC_OK);
        assert_true(lfc_sem_available(s) == 0);
        unsigned long before = __atomic_load_n(&progress, __ATOMIC_RELAXED);
        assert_status(lfc_sem_release(s, 5), LFC_OK);
        /* The stream was still there and goes on. */
        end = lfc_now_ns() + LFC_TEST_STUCK_NS;
        while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < before + 50 &&
               lfc_now_ns() < end)
            lfc_test_sleep_ns(MS);
        assert_true(__atomic_load_n(&progress, __ATOMIC_RELAXED) >=
                    before + 50);
    }
    lfc_test_store_int(&st.stop, 1);
    for (int i = 0; i < STREAMERS; i++)
        pthread_join(th[i], NULL);
    lfc_watchdog_stop(&dog);
    assert_int_equal(lfc_test_load_int(&st.bad), 0);
    assert_true(lfc_sem_available(s) == 5);
    lfc_sem_free(s);
}

/* Waiters queued A, B, C (each parked before the next arrives) are served
 * in that order, one permit at a time. */
static void
test_sem_fifo_order_among_waiters(void **state)
{
    (void)state;
    enum { N = 4 };
    const enum op_kind kinds[N] = {OP_ACQUIRE, OP_UNTIL, OP_CTX, OP_ACQUIRE};
    lfc_sem *s = lfc_sem_new(1);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 1), LFC_OK);
    struct op w[N];
    for (int i = 0; i < N; i++) {
        op_run(&w[i], s, kinds[i], 1, lfc_now_ns() + 3 * LFC_TEST_STUCK_NS,
               lfc_ctx_background());
        op_wait_parked(&w[i], "queued waiter");
    }
    for (int i = 0; i < N; i++) {
        /* The permit goes to w[i], and only to it. */
        assert_status(lfc_sem_release(s, 1), LFC_OK);
        assert_status(op_finish(&w[i], "queued waiter"), LFC_OK);
        for (int j = i + 1; j < N; j++)
            assert_false(op_done(&w[j]));
        assert_true(lfc_sem_available(s) == 0);
    }
    assert_status(lfc_sem_release(s, 1), LFC_OK);
    lfc_sem_free(s);
}

/* Weighted: A(2), B(1), C(2) queued on 3 held permits. One free permit
 * would fit B, but B must not overtake A. */
static void
test_sem_fifo_weighted_no_overtaking(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(3);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 3), LFC_OK);
    struct op a, b, c;
    op_start_queued(&a, s, 2, "A(2)");
    op_start_queued(&b, s, 1, "B(1)");
    op_start_queued(&c, s, 2, "C(2)");

    assert_status(lfc_sem_release(s, 1), LFC_OK);
    op_assert_blocked(&b, "B(1) with A(2) ahead and 1 free");
    assert_false(op_done(&a));
    assert_true(lfc_sem_available(s) == 1);

    assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_status(op_finish(&a, "A(2)"), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_false(op_done(&b));

    assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_status(op_finish(&b, "B(1)"), LFC_OK);
    op_assert_blocked(&c, "C(2) with nothing free");

    /* One release serves C as soon as 2 are free. */
    assert_status(lfc_sem_release(s, 2), LFC_OK); /* A's */
    assert_status(op_finish(&c, "C(2)"), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    assert_true(lfc_sem_available(s) == 3);
    lfc_sem_free(s);
}

/* try_acquire, and an acquire that arrives later, never take permits a
 * queued waiter is waiting for. */
static void
test_sem_try_acquire_does_not_overtake_waiter(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(3);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 3), LFC_OK);
    struct op w;
    op_start_queued(&w, s, 2, "weight-2 waiter");
    assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_true(lfc_sem_available(s) == 1);
    /* 1 is free, but it is promised to the head. */
    assert_status(lfc_sem_try_acquire(s, 1), LFC_AGAIN);
    assert_status(lfc_sem_try_acquire(s, 0), LFC_AGAIN); /* "queued" */
    int64_t d = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_sem_acquire_until(s, 1, d), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= d);
    assert_status(lfc_sem_acquire_until(s, 1, 0), LFC_TIMEDOUT);
    /* n == 0 is documented to return at once, queue or not. */
    assert_status(lfc_sem_acquire(s, 0), LFC_OK);
    assert_true(lfc_sem_available(s) == 1);
    assert_false(op_done(&w));

    assert_status(lfc_sem_release(s, 1), LFC_OK);
    assert_status(op_finish(&w, "weight-2 waiter"), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    /* The queue is empty again: try_acquire works. */
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    assert_status(lfc_sem_try_acquire(s, 0), LFC_OK);
    assert_status(lfc_sem_try_acquire(s, 3), LFC_OK);
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    lfc_sem_free(s);
}

/* Go's TestAllocCancelDoesntStarve, for a timeout: a head waiter that
 * gives up lets the waiter behind it take the permits it was holding up. */
static void
test_sem_timed_out_head_lets_others_proceed(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(5);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 3), LFC_OK); /* 2 free */

    /* A's deadline must pass while B is queued behind it. B parks only if
     * A is queued ahead of it (2 are free, B wants 2), so B's parking says
     * that it was; a host too slow for that (A gave up before B arrived,
     * and B took the permits at once) repeats the round with a longer
     * deadline. The results are checked in every round. */
    int64_t wait = 3 * LFC_TEST_SHORT_NS;
    bool behind = false;
    for (int round = 0; !behind; round++, wait *= 2) {
        if (round == 8)
            fail_msg("B(2) never queued behind A(5) before A's deadline, "
                     "up to %lld ms away",
                     (long long)(wait / 2 / MS));
        struct op a, b;
        op_start_until(&a, s, 5, lfc_now_ns() + wait);
        if (lfc_test_async_await_park(&a.a, "A(5) until")) {
            op_start(&b, s, OP_ACQUIRE, 2);
            behind = lfc_test_async_await_park(&b.a, "B(2) behind A(5)");
        } else {
            op_start(&b, s, OP_ACQUIRE, 2); /* A is gone: B needs no wait */
        }
        assert_status(op_finish(&a, "A(5) until"), LFC_TIMEDOUT);
        assert_true(a.a.t_end >= a.deadline);
        assert_status(op_finish(&b, "B(2) after A gave up"), LFC_OK);
        assert_true(lfc_sem_available(s) == 0);
        assert_status(lfc_sem_release(s, 2), LFC_OK); /* B's */
    }
    assert_status(lfc_sem_release(s, 3), LFC_OK);
    assert_true(lfc_sem_available(s) == 5);

    /* A waiter in the middle that gives up does not disturb the order. As
     * above, a round in which mid gave up before tail had queued behind
     * it is repeated with a longer deadline (mid still in the call once
     * tail is queued: it was in the middle, or at worst leaving). */
    wait = 3 * LFC_TEST_SHORT_NS;
    bool middle = false;
    for (int round = 0; !middle; round++, wait *= 2) {
        if (round == 8)
            fail_msg("mid(1) never stayed queued until tail(2) queued "
                     "behind it, with deadlines up to %lld ms away",
                     (long long)(wait / 2 / MS));
        assert_status(lfc_sem_acquire(s, 5), LFC_OK);
        struct op head, mid, tail;
        op_start_queued(&head, s, 3, "head(3)");
        op_start_until(&mid, s, 1, lfc_now_ns() + wait);
        bool parked = lfc_test_async_await_park(&mid.a, "mid(1) until");
        op_start_queued(&tail, s, 2, "tail(2)");
        middle = parked && !op_done(&mid);
        assert_status(op_finish(&mid, "mid(1) until"), LFC_TIMEDOUT);
        assert_true(mid.a.t_end >= mid.deadline);
        assert_false(op_done(&head));
        assert_false(op_done(&tail));
        assert_status(lfc_sem_release(s, 5), LFC_OK);
        assert_status(op_finish(&head, "head(3)"), LFC_OK);
        assert_status(op_finish(&tail, "tail(2)"), LFC_OK);
        assert_true(lfc_sem_available(s) == 0);
        assert_status(lfc_sem_release(s, 5), LFC_OK);
    }
    lfc_sem_free(s);
}

/* The same for a cancelled context. */
static void
test_sem_cancelled_head_lets_others_proceed(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(10);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 1), LFC_OK); /* 9 free */
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    struct op a, b;
    op_start_ctx(&a, s, 10, ctx);
    op_wait_parked(&a, "A");
    op_start_queued(&b, s, 1, "B(1) behind A(10)");
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    assert_status(op_finish(&a, "A(10) ctx"), LFC_CANCELED);
    assert_status(op_finish(&b, "B(1) after A was cancelled"),
                  LFC_OK);
    assert_true(lfc_sem_available(s) == 8);
    assert_status(lfc_sem_release(s, 2), LFC_OK);
    assert_true(lfc_sem_available(s) == 10);
    lfc_ctx_free(ctx);
    lfc_sem_free(s);
}

/* ---- contexts ----------------------------------------------------------- */

static void
test_sem_acquire_ctx_already_cancelled_takes_nothing(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(3);
    assert_non_null(s);
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    /* The permits are free, but the cancelled ctx wins. */
    assert_status(lfc_sem_acquire_ctx(s, 1, ctx), LFC_CANCELED);
    assert_status(lfc_sem_acquire_ctx(s, 3, ctx), LFC_CANCELED);
    assert_status(lfc_sem_acquire_ctx(s, 0, ctx), LFC_CANCELED);
    assert_true(lfc_sem_available(s) == 3);
    lfc_ctx_free(ctx);

    /* A ctx whose deadline has passed: LFC_TIMEDOUT, nothing taken. */
    lfc_ctx *late = lfc_ctx_with_deadline(lfc_ctx_background(), 0);
    assert_non_null(late);
    assert_status(lfc_sem_acquire_ctx(s, 1, late), LFC_TIMEDOUT);
    assert_true(lfc_sem_available(s) == 3);
    lfc_ctx_free(late);

    /* A child of a cancelled parent is born cancelled. */
    lfc_ctx *parent = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(parent);
    assert_status(lfc_ctx_cancel(parent), LFC_OK);
    lfc_ctx *child = lfc_ctx_with_cancel(parent);
    assert_non_null(child);
    assert_status(lfc_sem_acquire_ctx(s, 2, child), LFC_CANCELED);
    assert_true(lfc_sem_available(s) == 3);
    lfc_ctx_free(child);
    lfc_ctx_free(parent);
    lfc_sem_free(s);
}

static void
test_sem_acquire_ctx_cancelled_while_blocked(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(2);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 2), LFC_OK);
    for (int via_parent = 0; via_parent <= 1; via_parent++) {
        lfc_ctx *parent = lfc_ctx_with_cancel(lfc_ctx_background());
        assert_non_null(parent);
        lfc_ctx *ctx = lfc_ctx_with_cancel(parent);
        assert_non_null(ctx);
        struct op o;
        op_start_ctx(&o, s, 1, ctx);
        op_wait_parked(&o, "op");
        op_assert_blocked(&o, "acquire_ctx before cancel");
        assert_status(lfc_ctx_cancel(via_parent ? parent : ctx), LFC_OK);
        assert_status(op_finish(&o, "acquire_ctx"), LFC_CANCELED);
        assert_true(lfc_sem_available(s) == 0);
        /* The cancelled waiter is gone: a release is not handed to it. */
        assert_status(lfc_sem_release(s, 1), LFC_OK);
        assert_true(lfc_sem_available(s) == 1);
        assert_status(lfc_sem_acquire(s, 1), LFC_OK);
        lfc_ctx_free(ctx);
        lfc_ctx_free(parent);
    }
    assert_status(lfc_sem_release(s, 2), LFC_OK);
    lfc_sem_free(s);
}

static void
test_sem_acquire_ctx_deadline_timedout(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(1);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 1), LFC_OK);
    lfc_ctx *ctx = lfc_ctx_with_timeout(lfc_ctx_background(),
                                        2 * LFC_TEST_SHORT_NS);
    assert_non_null(ctx);
    int64_t d = lfc_ctx_deadline(ctx);
    struct op o;
    op_start_ctx(&o, s, 1, ctx);
    assert_status(op_finish(&o, "acquire_ctx with deadline"),
                  LFC_TIMEDOUT);
    assert_true(o.a.t_end >= d);
    assert_true(lfc_sem_available(s) == 0);
    lfc_ctx_free(ctx);

    /* A deadline ctx that is cancelled first reports LFC_CANCELED. */
    ctx = lfc_ctx_with_timeout(lfc_ctx_background(), LFC_TEST_FAR_NS);
    assert_non_null(ctx);
    op_start_ctx(&o, s, 1, ctx);
    op_wait_parked(&o, "op");
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    assert_status(op_finish(&o, "acquire_ctx cancelled"),
                  LFC_CANCELED);
    lfc_ctx_free(ctx);
    assert_status(lfc_sem_release(s, 1), LFC_OK);
    lfc_sem_free(s);
}

/* ---- contention --------------------------------------------------------- */

struct hammer {
    lfc_sem *s;
    int64_t total;
    long iters;
    uint64_t seed;
    lfc_ctx *ctx;            /* never cancelled */
    int64_t *inside;         /* permits held right now (atomic) */
    int64_t *peak;           /* most ever held (atomic) */
    unsigned long *progress; /* for the watchdog (atomic) */
    lfc_test_barrier *start;
    long taken;     /* this thread's successful acquires */
    int bad_status; /* an unexpected status (0 if none) */
};

static void
note_peak(int64_t *peak, int64_t v)
{
    int64_t cur = __atomic_load_n(peak, __ATOMIC_RELAXED);
    while (v > cur &&
           !__atomic_compare_exchange_n(peak, &cur, v, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

static void *
hammer_main(void *arg)
{
    struct hammer *h = arg;
    uint64_t r = h->seed;
    lfc_test_barrier_wait(h->start);
    for (long i = 0; i < h->iters; i++) {
        uint64_t x = lfc_test_xorshift64(&r);
        int64_t n = 1 + (int64_t)(x % 3);
        int rc;
        switch ((x >> 8) % 4) {
        case 0:
            rc = lfc_sem_acquire(h->s, n);
            break;
        case 1:
            rc = lfc_sem_try_acquire(h->s, n);
            break;
        case 2:
            rc = lfc_sem_acquire_until(
                h->s, n, lfc_now_ns() + (int64_t)((x >> 16) % 200) * US);
            break;
        default:
            rc = lfc_sem_acquire_ctx(h->s, n, h->ctx);
            break;
        }
        lfc_progress_bump(h->progress);
        if (rc == LFC_AGAIN || rc == LFC_TIMEDOUT)
            continue;
        if (rc != LFC_OK) {
            h->bad_status = rc;
            break;
        }
        h->taken++;
        int64_t in = __atomic_add_fetch(h->inside, n, __ATOMIC_RELAXED);
        note_peak(h->peak, in);
        if ((x >> 24) % 4 == 0)
            sched_yield();
        __atomic_sub_fetch(h->inside, n, __ATOMIC_RELAXED);
        rc = lfc_sem_release(h->s, n);
        if (rc != LFC_OK) {
            h->bad_status = rc;
            break;
        }
    }
    return NULL;
}

/* The issue: never more than the permits inside the critical section, with
 * 8 threads, weights 1..3 and every kind of acquire. */
static void
test_sem_never_more_than_permits_8_threads(void **state)
{
    (void)state;
    enum { THREADS = 8, TOTAL = 4 };
    lfc_sem *s = lfc_sem_new(TOTAL);
    assert_non_null(s);
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    int64_t inside = 0;
    int64_t peak = 0;
    unsigned long progress = 0;
    lfc_test_barrier start;
    lfc_test_barrier_init(&start, THREADS);
    struct hammer h[THREADS];
    pthread_t th[THREADS];
    long iters = lfc_test_scaled(8000, 400);
    struct lfc_watchdog dog;
    lfc_watchdog_start(&dog, "sem hammer", &progress, 0);
    for (int i = 0; i < THREADS; i++) {
        h[i] = (struct hammer){.s = s,
                               .total = TOTAL,
                               .iters = iters,
                               .seed = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1),
                               .ctx = ctx,
                               .inside = &inside,
                               .peak = &peak,
                               .progress = &progress,
                               .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
    }
    long taken = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        taken += h[i].taken;
    }
    lfc_watchdog_stop(&dog);
    lfc_test_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++)
        if (h[i].bad_status != 0)
            fail_msg("thread %d: unexpected status %d (%s)", i, h[i].bad_status,
                     lfc_strerror(h[i].bad_status));
    if (peak > TOTAL)
        fail_msg("%lld permits' worth inside at once; the total is %d",
                 (long long)peak, TOTAL);
    assert_true(peak >= 1);
    assert_true(taken > 0);
    assert_true(inside == 0);
    assert_true(lfc_sem_available(s) == TOTAL); /* nothing lost or made */
    lfc_ctx_free(ctx);
    lfc_sem_free(s);
}

struct giveup {
    lfc_sem *s;
    long iters;
    uint64_t seed;
    lfc_ctx **parents; /* cancelled one by one by the test thread */
    int *cur_parent;   /* index of the live parent (atomic) */
    int64_t *inside;
    int64_t *peak;
    unsigned long *progress;
    lfc_test_barrier *start;
    int *finished; /* workers that have returned (atomic) */
    int bad_status;
};

static void *
giveup_main(void *arg)
{
    struct giveup *g = arg;
    uint64_t r = g->seed;
    lfc_test_barrier_wait(g->start);
    for (long i = 0; i < g->iters; i++) {
        uint64_t x = lfc_test_xorshift64(&r);
        int64_t n = 1 + (int64_t)(x % 3);
        int64_t wait_ns = (int64_t)((x >> 16) % 200) * US;
        lfc_ctx *c = NULL;
        int rc;
        switch ((x >> 8) % 3) {
        case 0:
            rc = lfc_sem_acquire_until(g->s, n, lfc_now_ns() + wait_ns);
            break;
        case 1:
            /* The timer thread cancels it, racing the semaphore's own
             * deadline and the grants. */
            c = lfc_ctx_with_timeout(lfc_ctx_background(), wait_ns);
            rc = c ? lfc_sem_acquire_ctx(g->s, n, c) : LFC_ENOMEM;
            break;
        default:
            /* The test thread cancels the parent while we wait. */
            c = lfc_ctx_with_cancel(
                g->parents[__atomic_load_n(g->cur_parent, __ATOMIC_ACQUIRE)]);
            rc = c ? lfc_sem_acquire_ctx(g->s, n, c) : LFC_ENOMEM;
            break;
        }
        lfc_ctx_free(c);
        lfc_progress_bump(g->progress);
        if (rc == LFC_TIMEDOUT || rc == LFC_CANCELED)
            continue;
        if (rc != LFC_OK) {
            g->bad_status = rc;
            break;
        }
        int64_t in = __atomic_add_fetch(g->inside, n, __ATOMIC_RELAXED);
        note_peak(g->peak, in);
        lfc_test_sleep_ns((int64_t)((x >> 24) % 50) * US);
        __atomic_sub_fetch(g->inside, n, __ATOMIC_RELAXED);
        rc = lfc_sem_release(g->s, n);
        if (rc != LFC_OK) {
            g->bad_status = rc;
            break;
        }
    }
    __atomic_fetch_add(g->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Timeouts and cancellations racing with grants: every permit is either
 * taken by a call that returns LFC_OK or stays free. A waiter that gives
 * up at the moment it is granted must not lose, keep or duplicate permits,
 * and must not leave itself in the queue. */
static void
test_sem_timeouts_and_cancels_keep_permits(void **state)
{
    (void)state;
    enum { THREADS = 6, TOTAL = 3, PARENTS = 64 };
    lfc_sem *s = lfc_sem_new(TOTAL);
    assert_non_null(s);
    lfc_ctx *parents[PARENTS];
    for (int i = 0; i < PARENTS; i++) {
        parents[i] = lfc_ctx_with_cancel(lfc_ctx_background());
        assert_non_null(parents[i]);
    }
    int cur_parent = 0;
    int finished = 0;
    int64_t inside = 0;
    int64_t peak = 0;
    unsigned long progress = 0;
    lfc_test_barrier start;
    lfc_test_barrier_init(&start, THREADS);
    struct giveup g[THREADS];
    pthread_t th[THREADS];
    long iters = lfc_test_scaled(1500, 100);
    struct lfc_watchdog dog;
    lfc_watchdog_start(&dog, "sem give-ups", &progress, 0);
    for (int i = 0; i < THREADS; i++) {
        g[i] = (struct giveup){.s = s,
                               .iters = iters,
                               .seed = 0xd1b54a32d192ed03u * (uint64_t)(i + 7),
                               .parents = parents,
                               .cur_parent = &cur_parent,
                               .inside = &inside,
                               .peak = &peak,
                               .progress = &progress,
                               .start = &start,
                               .finished = &finished};
        assert_int_equal(pthread_create(&th[i], NULL, giveup_main, &g[i]), 0);
    }
    /* Spread over the run: cancel the live parent (and so every child
     * waiting on it), then move the workers to the next one. Parents are
     * freed only after the workers are joined. */
    unsigned long total = (unsigned long)(iters * THREADS);
    for (int k = 0; k < PARENTS - 1; k++) {
        unsigned long mark = total / PARENTS * (unsigned long)(k + 1);
        while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < mark &&
               __atomic_load_n(&finished, __ATOMIC_ACQUIRE) < THREADS)
            lfc_test_sleep_ns(50 * US); /* the watchdog bounds this */
        assert_status(lfc_ctx_cancel(parents[k]), LFC_OK);
        __atomic_store_n(&cur_parent, k + 1, __ATOMIC_RELEASE);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    lfc_watchdog_stop(&dog);
    lfc_test_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++)
        if (g[i].bad_status != 0)
            fail_msg("thread %d: unexpected status %d (%s)", i, g[i].bad_status,
                     lfc_strerror(g[i].bad_status));
    if (peak > TOTAL)
        fail_msg("%lld permits' worth inside at once; the total is %d",
                 (long long)peak, TOTAL);
    assert_true(inside == 0);
    assert_true(lfc_sem_available(s) == TOTAL);
    /* No waiter left queued: a try sees an empty queue. */
    assert_status(lfc_sem_try_acquire(s, 0), LFC_OK);
    assert_status(lfc_sem_try_acquire(s, TOTAL), LFC_OK);
    assert_status(lfc_sem_release(s, TOTAL), LFC_OK);
    for (int i = 0; i < PARENTS; i++)
        lfc_ctx_free(parents[i]);
    lfc_sem_free(s);
}

/* ---- ordering ----------------------------------------------------------- */

/*
 * A release happens-before the acquire that takes its permits: two
 * semaphores with nothing free pass a turn back and forth, and each side
 * writes plain data before its release that the other reads after its
 * acquire. Without the ordering, TSan reports a race (and the values could
 * be stale). Every kind of acquire is used, and both the fast path (the
 * partner released first) and the grant path (the partner was parked).
 */
struct pingpong {
    lfc_sem *to_b; /* A releases, B acquires */
    lfc_sem *to_a; /* B releases, A acquires */
    int64_t weight;
    enum op_kind kind;
    long rounds;
    long data[8]; /* plain: owned by whoever holds the turn */
    unsigned long *progress;
    int bad;
};

static int
take(lfc_sem *s, int64_t n, enum op_kind kind)
{
    switch (kind) {
    case OP_ACQUIRE:
        return lfc_sem_acquire(s, n);
    case OP_UNTIL:
        return lfc_sem_acquire_until(s, n, lfc_now_ns() + 2 * LFC_TEST_STUCK_NS);
    case OP_CTX:
        return lfc_sem_acquire_ctx(s, n, lfc_ctx_background());
    case OP_TRY:
        for (;;) {
            int rc = lfc_sem_try_acquire(s, n);
            if (rc != LFC_AGAIN)
                return rc;
            sched_yield();
        }
    }
    return LFC_EINVAL;
}

static void *
pingpong_b(void *arg)
{
    struct pingpong *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        if (take(p->to_b, p->weight, p->kind) != LFC_OK) {
            p->bad = 1;
            return NULL;
        }
        for (int j = 0; j < 8; j++) {
            if (p->data[j] != i * 8 + j)
                p->bad = 1;
            p->data[j] = -(i * 8 + j);
        }
        if (lfc_sem_release(p->to_a, p->weight) != LFC_OK)
            p->bad = 1;
    }
    return NULL;
}

static void
test_sem_release_happens_before_acquire(void **state)
{
    (void)state;
    const enum op_kind kinds[] = {OP_ACQUIRE, OP_UNTIL, OP_CTX, OP_TRY};
    unsigned long progress = 0;
    struct lfc_watchdog dog;
    lfc_watchdog_start(&dog, "sem ping-pong", &progress, 0);
    for (size_t k = 0; k < 4; k++) {
        for (int64_t weight = 1; weight <= 3; weight += 2) {
            struct pingpong p;
            memset(&p, 0, sizeof(p));
            p.to_b = lfc_sem_new(weight);
            p.to_a = lfc_sem_new(weight);
            assert_non_null(p.to_b);
            assert_non_null(p.to_a);
            assert_status(lfc_sem_acquire(p.to_b, weight), LFC_OK);
            assert_status(lfc_sem_acquire(p.to_a, weight), LFC_OK);
            p.weight = weight;
            p.kind = kinds[k];
            p.rounds = lfc_test_scaled(k == 3 ? 500 : 2000, 50);
            p.progress = &progress;
            pthread_t b;
            assert_int_equal(pthread_create(&b, NULL, pingpong_b, &p), 0);
            bool ok = true;
            for (long i = 0; i < p.rounds && ok; i++) {
                for (int j = 0; j < 8; j++)
                    p.data[j] = i * 8 + j;
                ok = lfc_sem_release(p.to_b, weight) == LFC_OK &&
                     take(p.to_a, weight, kinds[k]) == LFC_OK;
                for (int j = 0; j < 8 && ok; j++)
                    ok = p.data[j] == -(i * 8 + j);
                lfc_progress_bump(&progress);
            }
            pthread_join(b, NULL);
            assert_true(ok);
            assert_int_equal(p.bad, 0);
            assert_true(lfc_sem_available(p.to_a) == 0);
            assert_true(lfc_sem_available(p.to_b) == 0);
            lfc_sem_free(p.to_b);
            lfc_sem_free(p.to_a);
        }
    }
    lfc_watchdog_stop(&dog);
}

/* ---- spurious wake-ups -------------------------------------------------- */

/* Every futex wait returns early (without a wake) and nobody spins: the
 * queue order, timeouts and hand-offs must not change. */
static void
test_sem_spurious_wakeups_harmless(void **state)
{
    (void)state;
    __atomic_store_n(&lfc_test_futex_spurious, 1, __ATOMIC_RELAXED);
    lfc_spin_set_limit(0);
    unsigned long waits = lfc_test_futex_count(&lfc_test_futex_waits);

    test_sem_fifo_weighted_no_overtaking(state);
    test_sem_large_waiter_served_before_later_small(state);
    test_sem_timed_out_head_lets_others_proceed(state);
    test_sem_cancelled_head_lets_others_proceed(state);

    lfc_sem *s = lfc_sem_new(2);
    assert_non_null(s);
    assert_status(lfc_sem_acquire(s, 2), LFC_OK);
    int64_t d = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_sem_acquire_until(s, 1, d), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= d);
    assert_status(lfc_sem_release(s, 2), LFC_OK);
    lfc_sem_free(s);

    assert_true(lfc_test_futex_count(&lfc_test_futex_waits) >
                waits); /* the fake was exercised */
}

static int
teardown_spurious(void **state)
{
    (void)state;
    __atomic_store_n(&lfc_test_futex_spurious, 0, __ATOMIC_RELAXED);
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    return 0;
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks; kept for the whole binary. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sem_new_bad_args),
        cmocka_unit_test(test_sem_null_and_bad_n_einval),
        cmocka_unit_test(test_sem_try_acquire_weights_and_again),
        cmocka_unit_test(test_sem_zero_n_returns_at_once),
        cmocka_unit_test(test_sem_release_over_total_einval),
        cmocka_unit_test(test_sem_release_over_total_with_waiter_einval),
        cmocka_unit_test(test_sem_acquire_until_times_out_not_early),
        cmocka_unit_test(test_sem_blocked_acquire_completes_on_release),
        cmocka_unit_test(test_sem_uncontended_makes_no_syscall),
        cmocka_unit_test(test_sem_large_waiter_served_before_later_small),
        cmocka_unit_test(test_sem_large_waiter_not_starved_by_stream),
        cmocka_unit_test(test_sem_fifo_order_among_waiters),
        cmocka_unit_test(test_sem_fifo_weighted_no_overtaking),
        cmocka_unit_test(test_sem_try_acquire_does_not_overtake_waiter),
        cmocka_unit_test(test_sem_timed_out_head_lets_others_proceed),
        cmocka_unit_test(test_sem_cancelled_head_lets_others_proceed),
        cmocka_unit_test(test_sem_acquire_ctx_already_cancelled_takes_nothing),
        cmocka_unit_test(test_sem_acquire_ctx_cancelled_while_blocked),
        cmocka_unit_test(test_sem_acquire_ctx_deadline_timedout),
        cmocka_unit_test(test_sem_never_more_than_permits_8_threads),
        cmocka_unit_test(test_sem_timeouts_and_cancels_keep_permits),
        cmocka_unit_test(test_sem_release_happens_before_acquire),
        cmocka_unit_test_teardown(test_sem_spurious_wakeups_harmless,
                                  teardown_spurious),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    lfc_test_async_remove_park_hook();
    return failed;
}
