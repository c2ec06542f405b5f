/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan timers (include/lfchan/timer.h): lfc_after,
 * lfc_timer_after, lfc_tick, lfc_timer_stop, and the shared timer thread's
 * lifetime.
 *
 * Scenarios adapted from Go's time package tests (sleep_test.go:
 * TestAfter's "not before its time", TestAfterQueuing's firing in
 * deadline order, TestAfterStop and TestTimerStopStress; tick_test.go:
 * TestTicker's ordered ticks), rewritten in C. The stop-versus-fire
 * consistency check is our own; the thread-count check is the "no
 * thread left behind after freeing everything".
 *
 * Rules kept here (a loaded 2-CPU machine, or ASan with debug yields, may
 * stall any thread for a long time at any point):
 *   - Only what the timer contract guarantees is asserted: a timer never
 *     fires early (the receive returns, and the value is, at or after the
 *     deadline, where "the deadline" is computed from a clock read taken
 *     BEFORE the timer was made), timers fire in deadline order, a stopped
 *     timer sends nothing more, a slow reader finds at most one stale
 *     tick. Upper bounds are only "eventually", within LATE_NS.
 *   - No sleep stands in for "the timer thread has got past time T": a
 *     sentinel lfc_after due after T is received instead (one thread
 *     fires in deadline order, so anything due before the sentinel that
 *     was going to fire has fired).
 *   - Every timer and lfc_after channel a test makes is tracked (track_*
 *     below) and freed by the teardown if the test fails half-way, so a
 *     failed test never leaves a ticker running into the next one.
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

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfc_test_support.h"
#include "lfc_timer_internal.h"
#include "lfchan.h"

#define US ((int64_t)1000)
#define MS ((int64_t)1000000)
#define SEC ((int64_t)1000000000)

/* The loose upper bound: a timer must have fired this long after its
 * deadline, however loaded the machine. */
#define LATE_NS (20 * SEC)

/* ---- tracking: what the teardown frees if a test fails ----------------- */

enum live_kind { LIVE_TIMER, LIVE_CHAN };

struct live {
    enum live_kind kind;
    void *p;
};

static struct live *live;
static size_t nlive;
static size_t caplive;

static void
track(enum live_kind kind, void *p)
{
    if (nlive == caplive) {
        size_t cap = caplive ? caplive * 2 : 64;
        struct live *l = realloc(live, cap * sizeof(*l));
        assert_non_null(l);
        live = l;
        caplive = cap;
    }
    live[nlive++] = (struct live){kind, p};
}

/* Forget p (searched from the newest, so freeing in reverse creation
 * order is O(1)). */
static void
untrack(void *p)
{
    for (size_t i = nlive; i-- > 0;) {
        if (live[i].p == p) {
            live[i] = live[--nlive];
            return;
        }
    }
    fail_msg("untrack: %p is not tracked", p);
}

/* lfc_after, lfc_timer_after, lfc_tick, lfc_chan_dup that fail the test
 * on NULL and track what they return. */
static lfc_chan *
track_after(int64_t ns)
{
    lfc_chan *ch = lfc_after(ns);
    assert_non_null(ch);
    track(LIVE_CHAN, ch);
    return ch;
}

static lfc_timer *
track_timer_after(int64_t ns)
{
    lfc_timer *t = lfc_timer_after(ns);
    assert_non_null(t);
    track(LIVE_TIMER, t);
    return t;
}

static lfc_timer *
track_tick(int64_t period)
{
    lfc_timer *t = lfc_tick(period);
    assert_non_null(t);
    track(LIVE_TIMER, t);
    return t;
}

static void
free_chan(lfc_chan *ch)
{
    untrack(ch);
    lfc_chan_free(ch);
}

static void
free_timer(lfc_timer *t)
{
    untrack(t);
    lfc_timer_free(t);
}

/* Teardown of every test: frees what a failed test left (newest first, so
 * a dup'ed channel's references go in any order). */
static int
free_leftovers(void **state)
{
    (void)state;
    while (nlive > 0) {
        struct live l = live[--nlive];
        if (l.kind == LIVE_TIMER)
            lfc_timer_free(l.p);
        else
            lfc_chan_free(l.p);
    }
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

/* Threads of this process (entries of /proc/self/task). */
static int
count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
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

static void *
noop_thread(void *arg)
{
    return arg;
}

/* Receives one timer value within LATE_NS of `due`, and checks that it
 * arrived, and carries a value, no earlier than `due`. `due` must be a
 * lower bound of the deadline: computed from a clock read taken before
 * the timer was made. */
static int64_t
recv_due(lfc_chan *ch, int64_t due)
{
    int64_t v = 0;
    assert_status(lfc_recv_until(ch, &v, due + LATE_NS), LFC_OK);
    int64_t got = lfc_now_ns();
    assert_true(got >= due);
    assert_true(v >= due);
    assert_true(v <= got);
    return v;
}

/* Waits until the timer thread has fired everything due before
 * lfc_now_ns() + ns: a one-shot due then, received (one thread fires in
 * deadline order, ties in creation order). */
static void
wait_thread_past(int64_t ns)
{
    int64_t start = lfc_now_ns();
    lfc_chan *s = track_after(ns);
    recv_due(s, start + ns);
    free_chan(s);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* Reproducible across runs. */
static uint64_t
rng(void)
{
    return lfc_test_xorshift64(&rng_state);
}

/* ---- lfc_after ---------------------------------------------------------- */

static void
test_timer_after_not_early(void **state)
{
    (void)state;
    static const int64_t durs[] = {-5 * MS,  -1,     0,       1,
                                   100 * US, 1 * MS, 10 * MS, 50 * MS};
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        int64_t d = durs[i];
        int64_t start = lfc_now_ns();
        lfc_chan *ch = track_after(d);
        recv_due(ch, start + (d > 0 ? d : 0));
        free_chan(ch);
    }
}

static void
test_timer_after_chan_shape_one_value(void **state)
{
    (void)state;
    int64_t start = lfc_now_ns(); /* before: the deadline is >= start + 1ms */
    lfc_chan *ch = track_after(1 * MS);
    assert_int_equal(lfc_chan_cap(ch), 1);
    assert_int_equal(lfc_chan_elem_size(ch), sizeof(int64_t));
    recv_due(ch, start + 1 * MS);
    /* Exactly one value, and the channel is not closed by the timer: once
     * the thread has fired a later one-shot, nothing more came. */
    wait_thread_past(1 * MS);
    int64_t v;
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_false(lfc_chan_closed(ch));
    free_chan(ch);
}

static void
test_timer_after_freed_before_fire(void **state)
{
    (void)state;
    /* Freeing an lfc_after channel before it fires cancels the timer at
     * once (nothing stays queued until the deadline); ASan checks nothing
     * touches the freed memory afterwards. */
    size_t base = lfc__timer_pending();
    lfc_chan *now = track_after(0);
    free_chan(now);
    long n = lfc_test_scaled(100, 10);
    for (long i = 0; i < n; i++)
        free_chan(track_after((int64_t)(5 * MS + rng() % (20 * MS))));
    assert_int_equal(lfc__timer_pending(), base);
    /* And one received before being freed, for contrast. It is due after
     * every one above, so when it arrives they are all done with. */
    int64_t start = lfc_now_ns();
    lfc_chan *ch = track_after(25 * MS);
    recv_due(ch, start + 25 * MS);
    free_chan(ch);
}

static void
test_timer_after_free_dequeues_at_once(void **state)
{
    (void)state;
    /* Abandoned timeouts cost nothing once freed, however far away: the
     * timer entry leaves the heap with the channel's last reference. */
    enum { N = 100000 };
    static lfc_chan *chs[N + 1];
    size_t base = lfc__timer_pending();
    for (int i = 0; i < N; i++)
        chs[i] = track_after(3600 * SEC);
    chs[N] = track_after(INT64_MAX); /* saturates: never fires */
    assert_int_equal(lfc__timer_pending(), base + N + 1);
    for (int i = N; i >= 0; i--)
        free_chan(chs[i]);
    assert_int_equal(lfc__timer_pending(), base);
}

static void
test_timer_after_dup_keeps_timer(void **state)
{
    (void)state;
    /* Only the last reference cancels: a dup keeps the timer queued, and
     * it fires into the channel the dup holds. */
    size_t base = lfc__timer_pending();
    lfc_chan *far = track_after(3600 * SEC);
    lfc_chan *far2 = lfc_chan_dup(far);
    assert_ptr_equal(far2, far);
    track(LIVE_CHAN, far2);
    free_chan(far);
    assert_int_equal(lfc__timer_pending(), base + 1);
    free_chan(far2);
    assert_int_equal(lfc__timer_pending(), base);

    int64_t start = lfc_now_ns();
    lfc_chan *ch = track_after(1 * MS);
    lfc_chan *dup = lfc_chan_dup(ch);
    track(LIVE_CHAN, dup);
    free_chan(ch);
    recv_due(dup, start + 1 * MS);
    assert_int_equal(lfc__timer_pending(), base); /* fired: gone */
    free_chan(dup);
}

static void
test_timer_after_free_races_fire(void **state)
{
    (void)state;
    /* The last free at about the deadline: either the thread fires first
     * (and forgets the timer) or the free dequeues it; ASan and TSan check
     * both orders, the count checks nothing is left behind. */
    size_t base = lfc__timer_pending();
    long n = lfc_test_scaled(2000, 200);
    long got = 0;
    for (long i = 0; i < n; i++) {
        int64_t d = (int64_t)(rng() % (200 * US));
        int64_t start = lfc_now_ns();
        lfc_chan *ch = track_after(d);
        lfc_chan *dup = NULL;
        if (i % 4 == 0) { /* sometimes the dup is the last reference */
            dup = lfc_chan_dup(ch);
            track(LIVE_CHAN, dup);
        }
        int64_t until = start + (int64_t)(rng() % (300 * US));
        while (lfc_now_ns() < until) {
        }
        int64_t v;
        if (lfc_try_recv(ch, &v) == LFC_OK) {
            assert_true(v >= start + d);
            got++;
        }
        free_chan(ch);
        if (dup)
            free_chan(dup);
    }
    assert_int_equal(lfc__timer_pending(), base);
    print_message("received %ld of %ld before the free\n", got, n);
}

struct pending {
    lfc_chan *ch;
    int64_t lo; /* the deadline is in [lo, hi] */
    int64_t hi;
    int64_t v;
};

static void
test_timer_after_many_fire_in_deadline_order(void **state)
{
    (void)state;
    enum { N = 1000 };
    static struct pending p[N];
    for (int i = 0; i < N; i++) {
        int64_t d = (int64_t)(rng() % (100 * MS));
        p[i].lo = lfc_now_ns() + d;
        p[i].ch = track_after(d);
        p[i].hi = lfc_now_ns() + d;
    }
    for (int i = 0; i < N; i++) {
        p[i].v = recv_due(p[i].ch, p[i].lo);
        free_chan(p[i].ch);
    }
    /* One thread fires in heap order, reading the clock each time: when
     * two deadlines are surely ordered (their uncertainty windows do not
     * overlap), so are the values. */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (p[j].hi < p[i].lo && p[j].v > p[i].v)
                fail_msg("timer %d (deadline >= %lld) fired at %lld, before "
                         "timer %d (deadline <= %lld) at %lld",
                         i, (long long)p[i].lo, (long long)p[i].v, j,
                         (long long)p[j].hi, (long long)p[j].v);
}

/* ---- lfc_timer_after, lfc_timer_stop ---------------------------------- */

static void
test_timer_handle_fires_then_stop_false(void **state)
{
    (void)state;
    int64_t start = lfc_now_ns();
    lfc_timer *t = track_timer_after(2 * MS);
    lfc_chan *ch = lfc_timer_chan(t);
    assert_non_null(ch);
    assert_int_equal(lfc_chan_cap(ch), 1);
    assert_int_equal(lfc_chan_elem_size(ch), sizeof(int64_t));
    recv_due(ch, start + 2 * MS);
    assert_false(lfc_timer_stop(t)); /* already fired */
    assert_false(lfc_timer_stop(t));
    free_timer(t);
}

static void
test_timer_stop_before_fire_no_value(void **state)
{
    (void)state;
    /* Far enough away that the stop surely comes first, however long this
     * thread is descheduled. */
    lfc_timer *t = track_timer_after(3600 * SEC);
    assert_true(lfc_timer_stop(t));
    assert_false(lfc_timer_stop(t)); /* already stopped */
    int64_t v;
    assert_status(lfc_try_recv(lfc_timer_chan(t), &v), LFC_AGAIN);
    free_timer(t);

    /* Near deadlines, checked once the thread is past them: whichever way
     * each race went, true means nothing is ever sent, false means the
     * value is there. */
    for (int i = 0; i < 5; i++) {
        int64_t start = lfc_now_ns();
        t = track_timer_after(1 * MS);
        bool s = lfc_timer_stop(t);
        wait_thread_past(2 * MS); /* due after t's deadline */
        int r = lfc_try_recv(lfc_timer_chan(t), &v);
        if (s) {
            assert_status(r, LFC_AGAIN);
        } else {
            assert_status(r, LFC_OK);
            assert_true(v >= start + 1 * MS);
        }
        assert_false(lfc_timer_stop(t));
        free_timer(t);
    }
}

static void
test_timer_stop_races_fire_consistent(void **state)
{
    (void)state;
    /* Stop at about the deadline: stop true <=> no value, ever; stop
     * false <=> the value is already in the channel. */
    enum { KEEP = 64 };
    lfc_timer *kept[KEEP];
    int nkept = 0;
    long n = lfc_test_scaled(2000, 200);
    long stopped = 0;
    for (long i = 0; i < n; i++) {
        int64_t d = (int64_t)(rng() % (200 * US));
        int64_t start = lfc_now_ns();
        lfc_timer *t = track_timer_after(d);
        int64_t until = start + (int64_t)(rng() % (300 * US));
        while (lfc_now_ns() < until) {
        }
        bool s = lfc_timer_stop(t);
        int64_t v = 0;
        int r = lfc_try_recv(lfc_timer_chan(t), &v);
        if (s) {
            assert_status(r, LFC_AGAIN);
            stopped++;
            if (nkept < KEEP) {
                kept[nkept++] = t; /* checked again below */
                continue;
            }
        } else {
            assert_status(r, LFC_OK);
            assert_true(v >= start + d);
        }
        free_timer(t);
    }
    /* Every deadline above is before the sentinel's: had a kept timer not
     * really been stopped, it would have fired by now. */
    wait_thread_past(1 * MS);
    for (int i = 0; i < nkept; i++) {
        int64_t v;
        assert_status(lfc_try_recv(lfc_timer_chan(kept[i]), &v), LFC_AGAIN);
        free_timer(kept[i]);
    }
    print_message("stop won %ld of %ld races\n", stopped, n);
}

static void
test_timer_free_pending(void **state)
{
    (void)state;
    /* Freeing a pending timer dequeues it at once, a far-future one
     * included (ASan checks nothing touches them afterwards). Every test
     * before this one left nothing queued, so the count is ours alone. */
    size_t base = lfc__timer_pending();
    lfc_timer *a = track_timer_after(5 * MS);
    lfc_timer *b = track_timer_after(3600 * SEC);
    lfc_timer *c = track_timer_after(INT64_MAX); /* saturates: never */
    lfc_timer *d = track_tick(3600 * SEC);
    assert_true(lfc__timer_pending() <= base + 4);
    assert_true(lfc__timer_pending() >= base + 3); /* a may have fired */
    free_timer(a);
    free_timer(b);
    free_timer(c);
    free_timer(d);
    assert_int_equal(lfc__timer_pending(), base);
}

/* ---- lfc_tick ------------------------------------------------------------ */

static void
test_timer_tick_delivers_in_order(void **state)
{
    (void)state;
    const int64_t period = 5 * MS;
    const int n = 10;
    int64_t start = lfc_now_ns();
    lfc_timer *t = track_tick(period);
    lfc_chan *ch = lfc_timer_chan(t);
    int64_t prev = 0;
    for (int k = 1; k <= n; k++) {
        /* The k-th tick received is the k-th or a later one sent. */
        int64_t v = recv_due(ch, start + k * period);
        assert_true(v > prev);
        prev = v;
    }
    assert_true(lfc_timer_stop(t)); /* a running ticker is always queued */
    free_timer(t);
}

static void
test_timer_tick_drops_for_slow_reader(void **state)
{
    (void)state;
    const int64_t period = 10 * MS;
    int64_t start = lfc_now_ns();
    lfc_timer *t = track_tick(period);
    lfc_chan *ch = lfc_timer_chan(t);
    /* Read nothing until a tick is buffered and five periods are past, so
     * the ticks due meanwhile found the channel full. */
    int64_t give_up = start + 5 * period + LATE_NS;
    while (lfc_chan_len(ch) == 0 || lfc_now_ns() < start + 5 * period) {
        if (lfc_now_ns() > give_up)
            fail_msg("no tick within %lld ns", (long long)LATE_NS);
        lfc_test_sleep_ns(1 * MS);
    }
    int64_t drain = lfc_now_ns();
    /* Drain without blocking. Stale values (sent before `drain`): the one
     * buffered, and at most one more, from a firing that read the clock
     * before `drain` and sent once the first receive made room; every
     * later firing reads the clock after that. Queued-up ticks would show
     * as more. */
    int64_t v;
    int64_t prev = 0;
    int stale = 0;
    assert_status(lfc_try_recv(ch, &v), LFC_OK); /* it was buffered */
    do {
        assert_true(v >= start + period); /* never early */
        assert_true(v > prev);
        prev = v;
        if (v <= drain)
            stale++;
    } while (v <= drain && lfc_try_recv(ch, &v) == LFC_OK);
    assert_true(stale >= 1 && stale <= 2);
    /* Ticking goes on after the drops, in order: a tick that surely fired
     * after the drain arrives. */
    while (prev < drain + period) {
        assert_status(lfc_recv_until(ch, &v, drain + period + LATE_NS),
                      LFC_OK);
        assert_true(v > prev);
        prev = v;
    }
    free_timer(t);
}

static void
test_timer_tick_stop_ends_ticks(void **state)
{
    (void)state;
    const int64_t period = 2 * MS;
    int64_t start = lfc_now_ns();
    lfc_timer *t = track_tick(period);
    lfc_chan *ch = lfc_timer_chan(t);
    for (int k = 1; k <= 3; k++)
        recv_due(ch, start + k * period);
    assert_true(lfc_timer_stop(t));
    int64_t stop = lfc_now_ns();
    int64_t v;
    /* A tick sent before the stop may still be buffered; none after. */
    if (lfc_try_recv(ch, &v) == LFC_OK)
        assert_true(v <= stop);
    /* Were the ticker still queued, its next tick (due within a period)
     * would fire into the empty channel before this sentinel. */
    wait_thread_past(2 * period);
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_false(lfc_timer_stop(t));
    free_timer(t);
}

static void
test_timer_chan_owned_by_library(void **state)
{
    (void)state;
    /* lfc_timer_chan's channel is the library's: receive-only, and
     * lfc_chan_free without a reference of one's own does nothing. */
    int64_t start = lfc_now_ns();
    lfc_timer *t = track_timer_after(2 * MS);
    lfc_chan *ch = lfc_timer_chan(t);
    int64_t v = 42;
    assert_status(lfc_send(ch, &v), LFC_EINVAL);
    assert_status(lfc_try_send(ch, &v), LFC_EINVAL);
    assert_status(lfc_send_until(ch, &v, lfc_now_ns() + 1 * MS), LFC_EINVAL);
    assert_status(lfc_close(ch), LFC_EINVAL);
    assert_false(lfc_chan_closed(ch));
    assert_int_equal(lfc_chan_len(ch), 0); /* nothing got in */
    lfc_chan_free(ch);
    lfc_chan_free(ch);
    /* Still the timer's, and it still works (ASan: not freed). */
    recv_due(ch, start + 2 * MS);
    free_timer(t);

    /* A reference of one's own keeps the channel past lfc_timer_free,
     * with what was buffered; nothing more is sent on it. */
    lfc_timer *k = track_tick(1 * MS);
    ch = lfc_timer_chan(k);
    int64_t give_up = lfc_now_ns() + LATE_NS;
    while (lfc_chan_len(ch) == 0) { /* a tick is buffered */
        if (lfc_now_ns() > give_up)
            fail_msg("no tick within %lld ns", (long long)LATE_NS);
        lfc_test_sleep_ns(1 * MS);
    }
    lfc_chan *mine = lfc_chan_dup(ch);
    assert_ptr_equal(mine, ch);
    track(LIVE_CHAN, mine);
    free_timer(k);
    assert_status(lfc_try_send(mine, &v), LFC_EINVAL); /* still owned */
    assert_status(lfc_try_recv(mine, &v), LFC_OK);
    wait_thread_past(2 * MS); /* the ticker, had it survived, ticked */
    assert_status(lfc_try_recv(mine, &v), LFC_AGAIN);
    assert_false(lfc_chan_closed(mine));
    free_chan(mine); /* the last reference: freed (LSan: no leak) */
}

static void
test_timer_tick_invalid_period_einval(void **state)
{
    (void)state;
    errno = 0;
    assert_null(lfc_tick(0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_tick(-1));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_tick(INT64_MIN));
    assert_int_equal(errno, EINVAL);
}

static void
test_timer_null_args(void **state)
{
    (void)state;
    assert_null(lfc_timer_chan(NULL));
    assert_false(lfc_timer_stop(NULL));
    lfc_timer_free(NULL);
}

/* Workers of test_timer_tiny_period_starves_nobody: each does ROUNDS of
 * one kind of timer call and records the first failure (cmocka asserts
 * stay on the test's thread). */
enum starve_kind { STARVE_AFTER, STARVE_HANDLE, STARVE_CTX, STARVE_KINDS };

struct starve_worker {
    pthread_t th;
    enum starve_kind kind;
    long rounds;
    unsigned long *progress; /* bumped once per round (watchdog) */
    const char *err;         /* the first failure, or NULL */
};

static const char *
starve_round(enum starve_kind kind)
{
    int64_t start = lfc_now_ns();
    int64_t v;
    switch (kind) {
    case STARVE_AFTER: {
        lfc_chan *ch = lfc_after(1 * MS);
        if (!ch)
            return "lfc_after failed";
        int r = lfc_recv_until(ch, &v, start + 1 * MS + LATE_NS);
        lfc_chan_free(ch);
        if (r != LFC_OK)
            return "lfc_after's value did not come";
        return v >= start + 1 * MS ? NULL : "lfc_after fired early";
    }
    case STARVE_HANDLE: {
        lfc_timer *t = lfc_timer_after(3600 * SEC);
        if (!t)
            return "lfc_timer_after failed";
        bool stopped = lfc_timer_stop(t);
        lfc_timer_free(t);
        return stopped ? NULL : "a one-hour timer was not pending";
    }
    case STARVE_CTX: {
        lfc_ctx *c = lfc_ctx_with_timeout(lfc_ctx_background(), 1 * MS);
        if (!c)
            return "lfc_ctx_with_timeout failed";
        int r = lfc_recv_until(lfc_ctx_done(c), NULL,
                               start + 1 * MS + LATE_NS);
        int err = lfc_ctx_err(c);
        lfc_ctx_free(c);
        if (r != LFC_CLOSED || err != LFC_TIMEDOUT)
            return "the context deadline did not cancel it";
        return lfc_now_ns() >= start + 1 * MS ? NULL : "deadline early";
    }
    default:
        return "bad kind";
    }
}

static void *
starve_main(void *arg)
{
    struct starve_worker *w = arg;
    for (long i = 0; i < w->rounds && !w->err; i++) {
        w->err = starve_round(w->kind);
        lfc_progress_bump(w->progress);
    }
    return NULL;
}

static void
test_timer_tiny_period_starves_nobody(void **state)
{
    (void)state;
    /* A 1 ns ticker is always due: the timer thread must still let go of
     * its lock between two of its ticks, or every other timer call in the
     * process blocks (the watchdog turns that hang into a failure). */
    unsigned long progress = 0;
    struct lfc_watchdog wd;
    lfc_watchdog_start(&wd, "timer calls beside a 1 ns ticker", &progress,
                       20);
    int64_t start = lfc_now_ns();
    lfc_timer *t = track_tick(1);
    lfc_chan *ch = lfc_timer_chan(t);
    struct starve_worker w[STARVE_KINDS];
    for (int k = 0; k < STARVE_KINDS; k++) {
        w[k] = (struct starve_worker){.kind = (enum starve_kind)k,
                                      .rounds = lfc_test_scaled(50, 10),
                                      .progress = &progress};
        assert_int_equal(pthread_create(&w[k].th, NULL, starve_main, &w[k]),
                         0);
    }
    for (int k = 0; k < STARVE_KINDS; k++)
        assert_int_equal(pthread_join(w[k].th, NULL), 0);
    /* And the ticker still ticks, in order, never early. */
    int64_t prev = 0;
    for (int i = 0; i < 3; i++) {
        int64_t v = recv_due(ch, start + 1);
        assert_true(v > prev);
        prev = v;
        lfc_progress_bump(&progress);
    }
    free_timer(t);
    lfc_watchdog_stop(&wd);
    for (int k = 0; k < STARVE_KINDS; k++)
        if (w[k].err)
            fail_msg("worker %d: %s", k, w[k].err);
}

/* ---- the timer thread ---------------------------------------------------- */

static void
test_timer_no_thread_left_behind(void **state)
{
    (void)state;
    /* Sanitizer runtimes may start a helper thread on the first
     * pthread_create: let that happen before taking the baseline. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, noop_thread, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    /* Earlier tests' timer thread lingers a little after its last timer. */
    assert_true(wait_no_timer_thread(LATE_NS));
    int base = count_tasks();

    for (int round = 0; round < 2; round++) {
        enum { N = 8 };
        lfc_chan *after[N];
        lfc_timer *timers[N];
        lfc_timer *ticks[2];
        int64_t start = lfc_now_ns();
        for (int i = 0; i < N; i++) {
            after[i] = track_after((i + 1) * MS);
            timers[i] = track_timer_after(3600 * SEC); /* never fire here */
        }
        ticks[0] = track_tick(1 * MS);
        ticks[1] = track_tick(3600 * SEC);
        /* One thread serves them all (the far timers keep it alive). */
        assert_int_equal(count_timer_threads(), 1);
        assert_int_equal(count_tasks(), base + 1);
        for (int i = 0; i < N; i++) {
            recv_due(after[i], start + (i + 1) * MS);
            free_chan(after[i]);
        }
        recv_due(lfc_timer_chan(ticks[0]), start + 1 * MS);
        for (int i = 0; i < N; i++)
            free_timer(timers[i]);
        free_timer(ticks[0]);
        free_timer(ticks[1]);
        /* Everything is freed: the thread exits (round 1 checks that the
         * next timer starts a new one). */
        assert_true(wait_no_timer_thread(LATE_NS));
        int64_t end = lfc_now_ns() + LATE_NS;
        while (count_tasks() != base && lfc_now_ns() < end)
            lfc_test_sleep_ns(10 * MS);
        assert_int_equal(count_tasks(), base);
    }
}

#define TIMER_TEST(f) cmocka_unit_test_teardown(f, free_leftovers)

int
main(void)
{
    lfc_test_alarm(240);
    const struct CMUnitTest tests[] = {
        TIMER_TEST(test_timer_after_not_early),
        TIMER_TEST(test_timer_after_chan_shape_one_value),
        TIMER_TEST(test_timer_after_freed_before_fire),
        TIMER_TEST(test_timer_after_free_dequeues_at_once),
        TIMER_TEST(test_timer_after_dup_keeps_timer),
        TIMER_TEST(test_timer_after_free_races_fire),
        TIMER_TEST(test_timer_after_many_fire_in_deadline_order),
        TIMER_TEST(test_timer_handle_fires_then_stop_false),
        TIMER_TEST(test_timer_stop_before_fire_no_value),
        TIMER_TEST(test_timer_stop_races_fire_consistent),
        TIMER_TEST(test_timer_free_pending),
        TIMER_TEST(test_timer_tick_delivers_in_order),
        TIMER_TEST(test_timer_tick_drops_for_slow_reader),
        TIMER_TEST(test_timer_tick_stop_ends_ticks),
        TIMER_TEST(test_timer_chan_owned_by_library),
        TIMER_TEST(test_timer_tick_invalid_period_einval),
        TIMER_TEST(test_timer_null_args),
        TIMER_TEST(test_timer_tiny_period_starves_nobody),
        TIMER_TEST(test_timer_no_thread_left_behind),
    };
    /* LFC_TEST_FILTER=pattern (cmocka's * and ? wildcards) runs only the
     * tests whose names match, e.g. to repeat one. */
    const char *filter = getenv("LFC_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(live);
    return failed;
}
