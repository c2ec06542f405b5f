/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan contexts (include/lfchan/ctx.h): cancellation
 * trees, deadlines, causes, ownership and thread safety.
 *
 * Scenarios adapted from Go's context package tests (context_test.go:
 * XTestWithCancel's parent/child propagation, XTestParentFinishesChild,
 * XTestChildFinishesFirst, XTestDeadline and XTestTimeout "not before
 * the deadline", XTestCanceledTimeout's first cause wins,
 * XTestSimultaneousCancels), rewritten in C. The
 * 200-context tree is the issue's. The free-ordering and concurrent
 * create/free tests are our own: C has no garbage collector, so they
 * check that a freed child never leaves its parent pointing at freed
 * memory (ASan) and that creation, free and cancellation race cleanly
 * (TSan).
 *
 * Rules kept here:
 *   - Timing checks assert lower bounds exactly (a deadline never fires
 *     early) and no upper bounds: what must happen is waited for up to
 *     LFC_TEST_STUCK_NS (tests/support), which only a lost wake-up
 *     reaches, on a loaded host or under a sanitizer too.
 *   - cmocka assertions run only on the test's own thread; helper threads
 *     record what they saw.
 *   - Sizes scale with LFC_TEST_SCALE (see lfc_test_support.h).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define US LFC_TEST_US
#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* The bound for anything that must happen: only a lost wake-up or a
 * deadlock reaches it. */
#define LATE_NS LFC_TEST_STUCK_NS
/* A deadline that no test waits for. */
#define FAR_NS LFC_TEST_FAR_NS

/* ---- helpers ---------------------------------------------------------- */

static void
assert_live(lfc_ctx *c)
{
    assert_non_null(c);
    assert_status(lfc_ctx_err(c), LFC_OK);
    assert_status(lfc_try_recv(lfc_ctx_done(c), NULL), LFC_AGAIN);
    assert_false(lfc_chan_closed(lfc_ctx_done(c)));
}

/* c is cancelled with cause: err says so and done is closed for every
 * kind of receive. */
static void
assert_cancelled(lfc_ctx *c, int cause)
{
    assert_non_null(c);
    assert_status(lfc_ctx_err(c), cause);
    lfc_chan *d = lfc_ctx_done(c);
    assert_status(lfc_try_recv(d, NULL), LFC_CLOSED);
    assert_status(lfc_recv(d, NULL), LFC_CLOSED);
    assert_status(lfc_recv_until(d, NULL, 0), LFC_CLOSED);
}

/*
 * c has the deadline d, which may or may not have passed by now: it is
 * live, or timed out (never before d). Done closed implies the cause is
 * set (the header's ordering); the cause set does not imply done closed
 * yet (the subtree is cancelled first).
 */
static void
assert_live_or_due(lfc_ctx *c, int64_t d)
{
    assert_non_null(c);
    int done = lfc_try_recv(lfc_ctx_done(c), NULL);
    int e = lfc_ctx_err(c);
    if (done == LFC_CLOSED)
        assert_status(e, LFC_TIMEDOUT);
    else
        assert_status(done, LFC_AGAIN);
    if (e != LFC_OK) {
        assert_status(e, LFC_TIMEDOUT);
        assert_true(lfc_now_ns() >= d);
    }
}

/* Waits (boundedly) for c's done channel; checks it closed not before
 * not_before. */
static void
wait_done(lfc_ctx *c, int64_t not_before)
{
    int64_t bound = (not_before > 0 ? not_before : lfc_now_ns()) + LATE_NS;
    assert_status(lfc_recv_until(lfc_ctx_done(c), NULL, bound), LFC_CLOSED);
    assert_true(lfc_now_ns() >= not_before);
}

static uint64_t rng_state = 0x2545f4914f6cdd1du;

/* Reproducible across runs; threads use lfc_test_xorshift64 on their own
 * state. */
static uint64_t
rng(void)
{
    return lfc_test_xorshift64(&rng_state);
}

static void
spin_until(int64_t t)
{
    while (lfc_now_ns() < t) {
    }
}

/* The timer thread names itself "lfc-timer". */
static int
count_timer_threads(void)
{
    return lfc_test_count_threads_named("lfc-timer");
}

static bool
wait_no_timer_thread(int64_t bound_ns)
{
    return lfc_test_wait_no_threads_named("lfc-timer", bound_ns);
}

/* ---- basics ------------------------------------------------------------ */

static void
test_ctx_background_never_cancelled(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    assert_non_null(bg);
    assert_ptr_equal(lfc_ctx_background(), bg);
    assert_live(bg);
    assert_true(lfc_ctx_deadline(bg) == LFC_FOREVER);
    assert_int_equal(lfc_chan_cap(lfc_ctx_done(bg)), 0);
    assert_int_equal(lfc_chan_elem_size(lfc_ctx_done(bg)), 0);
    assert_status(lfc_ctx_cancel(bg), LFC_EINVAL);
    lfc_ctx_free(bg); /* a no-op */
    assert_live(bg);
    /* A blocking receive on it times out: never closed. */
    int64_t d = lfc_now_ns() + LFC_TEST_SHORT_NS / 4;
    assert_status(lfc_recv_until(lfc_ctx_done(bg), NULL, d), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= d);
    assert_live(bg);
}

static void
test_ctx_null_args(void **state)
{
    (void)state;
    errno = 0;
    assert_null(lfc_ctx_with_cancel(NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_ctx_with_deadline(NULL, lfc_now_ns() + SEC));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_ctx_with_timeout(NULL, SEC));
    assert_int_equal(errno, EINVAL);
    assert_status(lfc_ctx_cancel(NULL), LFC_EINVAL);
    assert_status(lfc_ctx_err(NULL), LFC_EINVAL);
    assert_null(lfc_ctx_done(NULL));
    assert_true(lfc_ctx_deadline(NULL) == LFC_FOREVER);
    lfc_ctx_free(NULL);
}

static void
test_ctx_cancel_closes_done_idempotent(void **state)
{
    (void)state;
    lfc_ctx *c = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_live(c);
    assert_true(lfc_ctx_deadline(c) == LFC_FOREVER);
    lfc_chan *d = lfc_ctx_done(c);
    assert_int_equal(lfc_chan_cap(d), 0);
    assert_int_equal(lfc_chan_elem_size(d), 0);
    assert_ptr_equal(lfc_ctx_done(c), d); /* the same channel every time */
    assert_status(lfc_ctx_cancel(c), LFC_OK);
    assert_cancelled(c, LFC_CANCELED);
    assert_status(lfc_ctx_cancel(c), LFC_OK);
    assert_cancelled(c, LFC_CANCELED);
    assert_ptr_equal(lfc_ctx_done(c), d);
    lfc_ctx_free(c);
}

/* A receive from a context's done channel on a helper thread
 * (lfc_test_async.h). */
struct waiter {
    struct lfc_test_async a;
    lfc_ctx *ctx;
    int err_after; /* lfc_ctx_err right after the receive returned */
};

static int
waiter_call(void *arg)
{
    struct waiter *w = arg;
    /* Bounded: a lost wake-up fails the test instead of hanging it. */
    int rc =
        lfc_recv_until(lfc_ctx_done(w->ctx), NULL, lfc_now_ns() + 2 * LATE_NS);
    w->err_after = lfc_ctx_err(w->ctx);
    return rc;
}

/* Starts a receive from ctx's done channel and returns once it sleeps
 * there. */
static void
waiter_start_parked(struct waiter *w, lfc_ctx *ctx)
{
    w->ctx = ctx;
    lfc_test_async_start(&w->a, waiter_call, w);
    lfc_test_async_wait_parked(&w->a, "receive from done");
    lfc_test_async_assert_blocked(&w->a, "receive from done");
}

static int
waiter_join(struct waiter *w)
{
    return lfc_test_async_join_within(&w->a, 3 * LATE_NS, "receive from done");
}

static void
test_ctx_cancel_wakes_blocked_receivers(void **state)
{
    (void)state;
    enum { N = 3 };
    lfc_ctx *p = lfc_ctx_with_cancel(lfc_ctx_background());
    lfc_ctx *c = lfc_ctx_with_cancel(p);
    struct waiter w[N];
    /* Waiters on the parent and the child, each asleep in its receive
     * before the next starts. */
    for (int i = 0; i < N; i++)
        waiter_start_parked(&w[i], i == 0 ? p : c);
    assert_status(lfc_ctx_cancel(p), LFC_OK);
    for (int i = 0; i < N; i++) {
        assert_status(waiter_join(&w[i]), LFC_CLOSED);
        /* Done closed => err already set (the header's ordering). */
        assert_status(w[i].err_after, LFC_CANCELED);
    }
    lfc_ctx_free(c);
    lfc_ctx_free(p);
}

/* ---- trees --------------------------------------------------------------- */

static void
test_ctx_tree_200_cancel_root(void **state)
{
    (void)state;
    enum { N = 200 };
    lfc_ctx *node[N];
    int parent[N];
    node[0] = lfc_ctx_with_cancel(lfc_ctx_background());
    parent[0] = -1;
    for (int i = 1; i < N; i++) {
        /* A random tree; one node in four has its own far deadline, so
         * cancellation also dequeues timers. */
        parent[i] = (int)(rng() % (uint64_t)i);
        node[i] = (rng() % 4 == 0)
                      ? lfc_ctx_with_timeout(node[parent[i]], FAR_NS)
                      : lfc_ctx_with_cancel(node[parent[i]]);
        assert_live(node[i]);
    }
    assert_status(lfc_ctx_cancel(node[0]), LFC_OK);
    /* Cancel has returned: every descendant is cancelled already. */
    for (int i = 0; i < N; i++)
        assert_cancelled(node[i], LFC_CANCELED);
    /* Free in a random order: parents before children is fine. */
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rng() % (uint64_t)(i + 1));
        lfc_ctx *t = node[i];
        node[i] = node[j];
        node[j] = t;
    }
    for (int i = 0; i < N; i++)
        lfc_ctx_free(node[i]);
}

static void
test_ctx_cancel_middle_only_subtree(void **state)
{
    (void)state;
    enum { MIDS = 4, LEAVES = 5 };
    lfc_ctx *root = lfc_ctx_with_cancel(lfc_ctx_background());
    lfc_ctx *mid[MIDS];
    lfc_ctx *leaf[MIDS][LEAVES];
    for (int m = 0; m < MIDS; m++) {
        mid[m] = lfc_ctx_with_cancel(root);
        for (int l = 0; l < LEAVES; l++)
            leaf[m][l] = lfc_ctx_with_cancel(mid[m]);
    }
    assert_status(lfc_ctx_cancel(mid[1]), LFC_OK);
    assert_live(root);
    for (int m = 0; m < MIDS; m++) {
        if (m == 1) {
            assert_cancelled(mid[m], LFC_CANCELED);
            for (int l = 0; l < LEAVES; l++)
                assert_cancelled(leaf[m][l], LFC_CANCELED);
        } else {
            assert_live(mid[m]);
            for (int l = 0; l < LEAVES; l++)
                assert_live(leaf[m][l]);
        }
    }
    /* Cancelling a leaf touches nothing above it. */
    assert_status(lfc_ctx_cancel(leaf[2][3]), LFC_OK);
    assert_cancelled(leaf[2][3], LFC_CANCELED);
    assert_live(mid[2]);
    assert_live(leaf[2][2]);
    /* Then the root takes the rest. */
    assert_status(lfc_ctx_cancel(root), LFC_OK);
    for (int m = 0; m < MIDS; m++) {
        assert_cancelled(mid[m], LFC_CANCELED);
        for (int l = 0; l < LEAVES; l++) {
            assert_cancelled(leaf[m][l], LFC_CANCELED);
            lfc_ctx_free(leaf[m][l]);
        }
        lfc_ctx_free(mid[m]);
    }
    lfc_ctx_free(root);
}

/* ---- deadlines ---------------------------------------------------------- */

static void
test_ctx_deadline_timedout_not_early(void **state)
{
    (void)state;
    int64_t d = lfc_now_ns() + LFC_TEST_SHORT_NS;
    lfc_ctx *c = lfc_ctx_with_deadline(lfc_ctx_background(), d);
    lfc_ctx *k = lfc_ctx_with_cancel(c);
    /* Live, unless the deadline has passed already (a slow host): not
     * "live" outright, which would race the deadline. */
    assert_live_or_due(c, d);
    assert_live_or_due(k, d);
    assert_true(lfc_ctx_deadline(c) == d);
    assert_true(lfc_ctx_deadline(k) == d);
    wait_done(c, d);
    assert_cancelled(c, LFC_TIMEDOUT);
    /* Done closes after the whole subtree is cancelled, with the cause. */
    assert_cancelled(k, LFC_TIMEDOUT);
    assert_true(lfc_ctx_deadline(c) == d);
    /* Cancelling afterwards changes nothing. */
    assert_status(lfc_ctx_cancel(c), LFC_OK);
    assert_cancelled(c, LFC_TIMEDOUT);
    lfc_ctx_free(k);
    lfc_ctx_free(c);
}

static void
test_ctx_with_timeout_deadline_window(void **state)
{
    (void)state;
    int64_t t = LFC_TEST_SHORT_NS;
    int64_t lo = lfc_now_ns() + t;
    lfc_ctx *c = lfc_ctx_with_timeout(lfc_ctx_background(), t);
    int64_t hi = lfc_now_ns() + t;
    int64_t d = lfc_ctx_deadline(c);
    assert_true(d >= lo && d <= hi);
    wait_done(c, d);
    assert_cancelled(c, LFC_TIMEDOUT);
    lfc_ctx_free(c);
    /* A timeout too large to add to now means none. */
    c = lfc_ctx_with_timeout(lfc_ctx_background(), INT64_MAX);
    assert_true(lfc_ctx_deadline(c) == LFC_FOREVER);
    assert_live(c);
    lfc_ctx_free(c);
}

static void
test_ctx_deadline_past_cancels_at_once(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    lfc_ctx *c[5] = {
        lfc_ctx_with_deadline(bg, lfc_now_ns() - 1),
        lfc_ctx_with_deadline(bg, lfc_now_ns()),
        lfc_ctx_with_deadline(bg, INT64_MIN),
        lfc_ctx_with_timeout(bg, 0),
        lfc_ctx_with_timeout(bg, INT64_MIN),
    };
    for (int i = 0; i < 5; i++) {
        assert_cancelled(c[i], LFC_TIMEDOUT);
        /* A child of a timed-out context inherits the cause. */
        lfc_ctx *k = lfc_ctx_with_cancel(c[i]);
        assert_cancelled(k, LFC_TIMEDOUT);
        lfc_ctx_free(k);
        lfc_ctx_free(c[i]);
    }
}

static void
test_ctx_child_deadline_min_of_parent(void **state)
{
    (void)state;
    int64_t now = lfc_now_ns();
    int64_t pd = now + 2 * LFC_TEST_SHORT_NS;
    lfc_ctx *p = lfc_ctx_with_deadline(lfc_ctx_background(), pd);
    lfc_ctx *later = lfc_ctx_with_deadline(p, now + FAR_NS);
    lfc_ctx *forever = lfc_ctx_with_deadline(p, LFC_FOREVER);
    lfc_ctx *huge = lfc_ctx_with_timeout(p, INT64_MAX);
    lfc_ctx *plain = lfc_ctx_with_cancel(p);
    int64_t ed = now + LFC_TEST_SHORT_NS / 2;
    lfc_ctx *earlier = lfc_ctx_with_deadline(p, ed);
    assert_true(lfc_ctx_deadline(p) == pd);
    assert_true(lfc_ctx_deadline(later) == pd);
    assert_true(lfc_ctx_deadline(forever) == pd);
    assert_true(lfc_ctx_deadline(huge) == pd);
    assert_true(lfc_ctx_deadline(plain) == pd);
    assert_true(lfc_ctx_deadline(earlier) == ed);

    /* The earlier child times out on its own... */
    wait_done(earlier, ed);
    assert_cancelled(earlier, LFC_TIMEDOUT);
    /* ...not its parent, which is live unless its own deadline has passed
     * by now (the cause read first, then the clock). */
    assert_live_or_due(p, pd);
    /* ...and the others at the parent's deadline, with its cause. The
     * parent's done closes last, after its whole subtree's. */
    wait_done(p, pd);
    assert_cancelled(p, LFC_TIMEDOUT);
    assert_cancelled(later, LFC_TIMEDOUT);
    assert_cancelled(forever, LFC_TIMEDOUT);
    assert_cancelled(huge, LFC_TIMEDOUT);
    assert_cancelled(plain, LFC_TIMEDOUT);
    lfc_ctx_free(earlier);
    lfc_ctx_free(plain);
    lfc_ctx_free(huge);
    lfc_ctx_free(forever);
    lfc_ctx_free(later);
    lfc_ctx_free(p);
}

static void
test_ctx_child_of_cancelled_parent_born_cancelled(void **state)
{
    (void)state;
    lfc_ctx *p = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_status(lfc_ctx_cancel(p), LFC_OK);
    lfc_ctx *a = lfc_ctx_with_cancel(p);
    lfc_ctx *b = lfc_ctx_with_timeout(p, FAR_NS);
    lfc_ctx *c = lfc_ctx_with_deadline(p, lfc_now_ns() - 1); /* p wins */
    lfc_ctx *g = lfc_ctx_with_cancel(a);                     /* grandchild */
    assert_cancelled(a, LFC_CANCELED);
    assert_cancelled(b, LFC_CANCELED);
    assert_cancelled(c, LFC_CANCELED);
    assert_cancelled(g, LFC_CANCELED);
    lfc_ctx_free(g);
    lfc_ctx_free(c);
    lfc_ctx_free(b);
    lfc_ctx_free(a);
    lfc_ctx_free(p);

    /* Under a timed-out parent, children are born timed out. */
    p = lfc_ctx_with_timeout(lfc_ctx_background(), LFC_TEST_SHORT_NS / 4);
    wait_done(p, 0);
    a = lfc_ctx_with_timeout(p, FAR_NS);
    assert_cancelled(a, LFC_TIMEDOUT);
    lfc_ctx_free(a);
    lfc_ctx_free(p);
}

static void
test_ctx_first_cause_wins(void **state)
{
    (void)state;
    /* Cancel first, then the deadline passes: CANCELED stays. The cancel
     * must come first, which a host that stalls us past the deadline
     * between the two calls defeats: such a round (TIMEDOUT, never before
     * the deadline) is repeated with a doubled deadline. */
    int64_t wait = LFC_TEST_SHORT_NS / 4;
    int64_t d;
    lfc_ctx *c;
    for (int round = 0;; round++, wait *= 2) {
        if (round == 10)
            fail_msg("the deadline passed before the cancel in 10 rounds, "
                     "up to %lld ms away",
                     (long long)(wait / 2 / MS));
        d = lfc_now_ns() + wait;
        c = lfc_ctx_with_deadline(lfc_ctx_background(), d);
        assert_status(lfc_ctx_cancel(c), LFC_OK);
        int e = lfc_ctx_err(c);
        if (e == LFC_CANCELED)
            break;
        assert_status(e, LFC_TIMEDOUT);
        assert_true(lfc_now_ns() >= d);
        assert_cancelled(c, LFC_TIMEDOUT);
        lfc_ctx_free(c);
    }
    spin_until(d);
    /* The deadline has passed; a timer left armed by the cancel could
     * fire now. No condition says it has not yet: with or without the
     * timer thread running during this sleep, CANCELED must stay. */
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    assert_cancelled(c, LFC_CANCELED);
    lfc_ctx_free(c);

    /* Deadline first, then cancel: TIMEDOUT stays. */
    d = lfc_now_ns() + LFC_TEST_SHORT_NS / 4;
    c = lfc_ctx_with_deadline(lfc_ctx_background(), d);
    wait_done(c, d);
    assert_status(lfc_ctx_cancel(c), LFC_OK);
    assert_cancelled(c, LFC_TIMEDOUT);
    lfc_ctx_free(c);

    /* The two racing: one cause, the same in the whole subtree, and
     * TIMEDOUT never before the deadline. */
    long n = lfc_test_scaled(300, 30);
    long timed = 0;
    for (long i = 0; i < n; i++) {
        lfc_ctx *p = lfc_ctx_with_timeout(lfc_ctx_background(),
                                          (int64_t)(rng() % (200 * US)));
        lfc_ctx *k = lfc_ctx_with_cancel(p);
        d = lfc_ctx_deadline(p);
        spin_until(lfc_now_ns() + (int64_t)(rng() % (300 * US)));
        assert_status(lfc_ctx_cancel(p), LFC_OK);
        int e = lfc_ctx_err(p);
        if (e == LFC_TIMEDOUT) {
            timed++;
            assert_true(lfc_now_ns() >= d);
        } else {
            assert_status(e, LFC_CANCELED);
        }
        assert_cancelled(p, e);
        assert_cancelled(k, e);
        lfc_ctx_free(k);
        lfc_ctx_free(p);
    }
    print_message("deadline won %ld of %ld races\n", timed, n);
}

/* ---- ownership ----------------------------------------------------------- */

static void
test_ctx_free_child_then_cancel_parent(void **state)
{
    (void)state;
    enum { N = 16 };
    lfc_ctx *p = lfc_ctx_with_cancel(lfc_ctx_background());
    lfc_ctx *kid[N];
    lfc_ctx *grand[N];
    for (int i = 0; i < N; i++) {
        kid[i] =
            (i % 2) ? lfc_ctx_with_timeout(p, FAR_NS) : lfc_ctx_with_cancel(p);
        grand[i] = lfc_ctx_with_cancel(kid[i]);
    }
    /* Free every other child (some before, some after their own child):
     * they unlink from p, which must never touch them again (ASan). */
    for (int i = 0; i < N; i += 2) {
        if (i % 4 == 0) {
            lfc_ctx_free(kid[i]);
            assert_cancelled(grand[i], LFC_CANCELED); /* free cancels */
            lfc_ctx_free(grand[i]);
        } else {
            lfc_ctx_free(grand[i]);
            assert_live(kid[i]);
            lfc_ctx_free(kid[i]);
        }
    }
    for (int i = 1; i < N; i += 2)
        assert_live(kid[i]);
    assert_live(p);
    assert_status(lfc_ctx_cancel(p), LFC_OK);
    for (int i = 1; i < N; i += 2) {
        assert_cancelled(kid[i], LFC_CANCELED);
        assert_cancelled(grand[i], LFC_CANCELED);
        lfc_ctx_free(grand[i]);
        lfc_ctx_free(kid[i]);
    }
    lfc_ctx_free(p);
}

static void
test_ctx_free_parent_first_cancels_children(void **state)
{
    (void)state;
    int64_t d = lfc_now_ns() + FAR_NS;
    lfc_ctx *p = lfc_ctx_with_deadline(lfc_ctx_background(), d);
    lfc_ctx *k = lfc_ctx_with_cancel(p);
    struct waiter w;
    waiter_start_parked(&w, k);
    lfc_ctx_free(p); /* like Go's defer cancel(): cancels the subtree */
    assert_status(waiter_join(&w), LFC_CLOSED);
    assert_status(w.err_after, LFC_CANCELED);
    /* The child outlives its freed parent, cancelled and readable. */
    assert_cancelled(k, LFC_CANCELED);
    assert_true(lfc_ctx_deadline(k) == d);
    lfc_ctx *g = lfc_ctx_with_cancel(k);
    assert_cancelled(g, LFC_CANCELED);
    lfc_ctx_free(k); /* the parent's memory goes with its last child */
    lfc_ctx_free(g);
}

static void
test_ctx_deep_chain_cancel_and_free(void **state)
{
    (void)state;
    /* Freeing the root first and the leaf last makes the leaf's free
     * release the whole chain of ancestors in one go. */
    enum { N = 1000 };
    static lfc_ctx *c[N];
    for (int i = 0; i < N; i++) {
        c[i] = lfc_ctx_with_cancel(i ? c[i - 1] : lfc_ctx_background());
        assert_non_null(c[i]);
    }
    assert_status(lfc_ctx_cancel(c[N / 2]), LFC_OK);
    assert_live(c[N / 2 - 1]);
    assert_cancelled(c[N - 1], LFC_CANCELED);
    for (int i = 0; i < N; i++)
        lfc_ctx_free(c[i]);
}

static void
test_ctx_deadline_fire_races_free(void **state)
{
    (void)state;
    /* The timer thread cancels (and releases) while the user frees: the
     * last reference goes on either side (ASan, TSan). What each side
     * sees is checked on the way: a deadline never fires early, a child
     * whose parent's done is closed is cancelled with the parent's cause,
     * and freeing the parent first leaves the child cancelled. In the end
     * no timer is left: the thread exits. */
    long n = lfc_test_scaled(500, 50);
    long fired = 0;
    for (long i = 0; i < n; i++) {
        lfc_ctx *p = lfc_ctx_with_timeout(lfc_ctx_background(),
                                          (int64_t)(rng() % (100 * US)));
        lfc_ctx *k = lfc_ctx_with_timeout(p, (int64_t)(rng() % (100 * US)));
        assert_non_null(p);
        assert_non_null(k);
        int64_t pd = lfc_ctx_deadline(p);
        int64_t kd = lfc_ctx_deadline(k);
        assert_true(kd <= pd);
        spin_until(lfc_now_ns() + (int64_t)(rng() % (150 * US)));
        /* Done first, then the cause: closed implies the cause is set. */
        bool p_closed = lfc_try_recv(lfc_ctx_done(p), NULL) == LFC_CLOSED;
        int pe = lfc_ctx_err(p);
        int ke = lfc_ctx_err(k);
        int64_t now = lfc_now_ns();
        assert_true(pe == LFC_OK || pe == LFC_TIMEDOUT);
        assert_true(ke == LFC_OK || ke == LFC_TIMEDOUT);
        if (pe == LFC_TIMEDOUT)
            assert_true(now >= pd);
        if (ke == LFC_TIMEDOUT)
            assert_true(now >= kd);
        if (p_closed) {
            fired++;
            assert_status(pe, LFC_TIMEDOUT);
            /* p's done closes after its whole subtree is cancelled. */
            assert_status(ke, LFC_TIMEDOUT);
        }
        if (i % 2) {
            lfc_ctx_free(p);
            /* Cancelled by the free (or timed out before it). */
            ke = lfc_ctx_err(k);
            assert_true(ke == LFC_CANCELED || ke == LFC_TIMEDOUT);
            assert_cancelled(k, ke);
            lfc_ctx_free(k);
        } else {
            lfc_ctx_free(k);
            lfc_ctx_free(p);
        }
    }
    print_message("%ld of %ld parents had fired before the free\n", fired, n);
    assert_true(wait_no_timer_thread(LATE_NS));
}

static void
test_ctx_no_timer_thread_left_behind(void **state)
{
    (void)state;
    /* Far deadlines are dequeued when their contexts are cancelled, so the
     * timer thread has nothing left and exits. */
    enum { N = 10 };
    lfc_ctx *c[N];
    /* An earlier test's thread lingers briefly after its last timer. */
    assert_true(wait_no_timer_thread(LATE_NS));
    for (int i = 0; i < N; i++)
        c[i] = lfc_ctx_with_timeout(i ? c[i - 1] : lfc_ctx_background(),
                                    FAR_NS - i * SEC);
    assert_int_equal(count_timer_threads(), 1);
    lfc_ctx_free(c[0]); /* cancels the chain: every timer is stopped */
    for (int i = 1; i < N; i++)
        assert_cancelled(c[i], LFC_CANCELED);
    for (int i = 1; i < N; i++)
        lfc_ctx_free(c[i]);
    assert_true(wait_no_timer_thread(LATE_NS));
}

/* ---- concurrency ----------------------------------------------------- */

struct churn {
    lfc_ctx *root;
    lfc_test_barrier *start;
    unsigned long *progress;
    uint64_t seed;
    int mismatches; /* born-live children of a cancelled root */
    int bad_err;    /* children whose cause differs from the root's */
    long created;
};

static void *
churn_main(void *arg)
{
    struct churn *w = arg;
    lfc_test_barrier_wait(w->start);
    int after = 0;
    /* Run until a while after the root was seen cancelled. */
    while (after < 20) {
        int rerr = lfc_ctx_err(w->root);
        uint64_t r = lfc_test_xorshift64(&w->seed);
        lfc_ctx *c;
        switch (r % 3) {
        case 0:
            c = lfc_ctx_with_cancel(w->root);
            break;
        case 1:
            c = lfc_ctx_with_timeout(w->root, FAR_NS);
            break;
        default:
            c = lfc_ctx_with_timeout(w->root, (int64_t)(r % (50 * US)));
            break;
        }
        lfc_ctx *g = (r & 8) ? lfc_ctx_with_cancel(c) : NULL;
        w->created++;
        if (rerr != LFC_OK) {
            after++;
            /* Born under a cancelled root: cancelled, with its cause. */
            if (lfc_ctx_err(c) != rerr)
                w->mismatches++;
            if (g && lfc_ctx_err(g) != rerr)
                w->bad_err++;
        }
        if (r & 16)
            lfc_ctx_cancel(c);
        if (r & 32) {
            lfc_ctx_free(c);
            lfc_ctx_free(g);
        } else {
            lfc_ctx_free(g);
            lfc_ctx_free(c);
        }
        lfc_progress_bump(w->progress);
    }
    return NULL;
}

/* Simultaneous cancels of overlapping subtrees: every cancel returns only
 * once its whole subtree is cancelled, even when another thread claimed
 * part of it first (after Go's XTestSimultaneousCancels). */
enum { SIM_N = 100, SIM_T = 4 };

struct sim {
    lfc_ctx **node;
    const int *parent;
    lfc_test_barrier *start;
    uint64_t seed;
    int incomplete; /* descendants found live after a cancel returned */
};

static bool
sim_descends(const int *parent, int j, int i)
{
    for (; j >= 0; j = parent[j])
        if (j == i)
            return true;
    return false;
}

static void *
sim_main(void *arg)
{
    struct sim *w = arg;
    lfc_test_barrier_wait(w->start);
    for (int n = 0; n < 8; n++) {
        /* Mostly shallow nodes, so subtrees overlap; the root last. */
        int i = n == 7 ? 0 : (int)(lfc_test_xorshift64(&w->seed) % (SIM_N / 4));
        lfc_ctx_cancel(w->node[i]);
        for (int j = 0; j < SIM_N; j++)
            if (sim_descends(w->parent, j, i) &&
                (lfc_ctx_err(w->node[j]) != LFC_CANCELED ||
                 lfc_try_recv(lfc_ctx_done(w->node[j]), NULL) != LFC_CLOSED))
                w->incomplete++;
    }
    return NULL;
}

static void
test_ctx_simultaneous_cancels_complete(void **state)
{
    (void)state;
    long rounds = lfc_test_scaled(40, 4);
    for (long r = 0; r < rounds; r++) {
        lfc_ctx *node[SIM_N];
        int parent[SIM_N];
        node[0] = lfc_ctx_with_cancel(lfc_ctx_background());
        parent[0] = -1;
        for (int i = 1; i < SIM_N; i++) {
            parent[i] = (int)(rng() % (uint64_t)i);
            node[i] = lfc_ctx_with_cancel(node[parent[i]]);
        }
        lfc_test_barrier start;
        lfc_test_barrier_init(&start, SIM_T);
        struct sim w[SIM_T];
        pthread_t th[SIM_T];
        for (int t = 0; t < SIM_T; t++) {
            w[t] = (struct sim){node, parent, &start, rng() | 1, 0};
            assert_int_equal(pthread_create(&th[t], NULL, sim_main, &w[t]), 0);
        }
        for (int t = 0; t < SIM_T; t++) {
            pthread_join(th[t], NULL);
            assert_int_equal(w[t].incomplete, 0);
        }
        lfc_test_barrier_destroy(&start);
        for (int i = 0; i < SIM_N; i++) {
            assert_cancelled(node[i], LFC_CANCELED);
            lfc_ctx_free(node[i]);
        }
    }
}

struct canceller {
    lfc_ctx *root;
    lfc_test_barrier *start;
    int64_t delay;
};

static void *
canceller_main(void *arg)
{
    struct canceller *k = arg;
    lfc_test_barrier_wait(k->start);
    lfc_test_sleep_ns(k->delay);
    lfc_ctx_cancel(k->root);
    return NULL;
}

static void
test_ctx_concurrent_create_free_vs_cancel_root(void **state)
{
    (void)state;
    enum { W = 4 };
    unsigned long progress = 0;
    struct lfc_watchdog dog;
    lfc_watchdog_start(&dog, "ctx churn", &progress, 0);
    long rounds = lfc_test_scaled(60, 6);
    long created = 0;
    for (long round = 0; round < rounds; round++) {
        /* Half the rounds race a deadline on the root too. */
        lfc_ctx *root = (round % 2)
                            ? lfc_ctx_with_timeout(lfc_ctx_background(),
                                                   (int64_t)(rng() % (2 * MS)))
                            : lfc_ctx_with_cancel(lfc_ctx_background());
        lfc_test_barrier start;
        lfc_test_barrier_init(&start, W + 1);
        struct churn w[W];
        pthread_t th[W];
        struct canceller k = {root, &start, (int64_t)(rng() % (2 * MS))};
        pthread_t kth;
        for (int i = 0; i < W; i++) {
            w[i] = (struct churn){.root = root,
                                  .start = &start,
                                  .progress = &progress,
                                  .seed = rng() | 1};
            assert_int_equal(pthread_create(&th[i], NULL, churn_main, &w[i]),
                             0);
        }
        assert_int_equal(pthread_create(&kth, NULL, canceller_main, &k), 0);
        pthread_join(kth, NULL);
        for (int i = 0; i < W; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(w[i].mismatches, 0);
            assert_int_equal(w[i].bad_err, 0);
            created += w[i].created;
        }
        lfc_test_barrier_destroy(&start);
        int e = lfc_ctx_err(root);
        assert_true(e == LFC_CANCELED || e == LFC_TIMEDOUT);
        lfc_ctx_free(root);
    }
    lfc_watchdog_stop(&dog);
    print_message("%ld contexts created in %ld rounds\n", created, rounds);
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks: helpers note when they sleep. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_background_never_cancelled),
        cmocka_unit_test(test_ctx_null_args),
        cmocka_unit_test(test_ctx_cancel_closes_done_idempotent),
        cmocka_unit_test(test_ctx_cancel_wakes_blocked_receivers),
        cmocka_unit_test(test_ctx_tree_200_cancel_root),
        cmocka_unit_test(test_ctx_cancel_middle_only_subtree),
        cmocka_unit_test(test_ctx_deadline_timedout_not_early),
        cmocka_unit_test(test_ctx_with_timeout_deadline_window),
        cmocka_unit_test(test_ctx_deadline_past_cancels_at_once),
        cmocka_unit_test(test_ctx_child_deadline_min_of_parent),
        cmocka_unit_test(test_ctx_child_of_cancelled_parent_born_cancelled),
        cmocka_unit_test(test_ctx_first_cause_wins),
        cmocka_unit_test(test_ctx_free_child_then_cancel_parent),
        cmocka_unit_test(test_ctx_free_parent_first_cancels_children),
        cmocka_unit_test(test_ctx_deep_chain_cancel_and_free),
        cmocka_unit_test(test_ctx_deadline_fire_races_free),
        cmocka_unit_test(test_ctx_no_timer_thread_left_behind),
        cmocka_unit_test(test_ctx_simultaneous_cancels_complete),
        cmocka_unit_test(test_ctx_concurrent_create_free_vs_cancel_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
