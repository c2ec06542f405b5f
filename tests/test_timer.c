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
 * Rules kept here:
 *   - Timing checks assert lower bounds exactly (a timer never fires
 *     early, and its value is never below its deadline) and upper bounds
 *     only loosely (seconds), so a loaded host does not make them flaky.
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
#include "lfchan.h"

#define US ((int64_t)1000)
#define MS ((int64_t)1000000)
#define SEC ((int64_t)1000000000)

/* The loose upper bound: a timer must have fired this long after its
 * deadline, however loaded the machine. */
#define LATE_NS (5 * SEC)

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
 * arrived, and carries a value, no earlier than `due`. */
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
        lfc_chan *ch = lfc_after(d);
        assert_non_null(ch);
        recv_due(ch, start + (d > 0 ? d : 0));
        lfc_chan_free(ch);
    }
}

static void
test_timer_after_chan_shape_one_value(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_after(1 * MS);
    assert_non_null(ch);
    assert_int_equal(lfc_chan_cap(ch), 1);
    assert_int_equal(lfc_chan_elem_size(ch), sizeof(int64_t));
    int64_t v;
    int64_t start = lfc_now_ns();
    recv_due(ch, start); /* the deadline was before start + 1 ms */
    /* Exactly one value, and the channel is not closed by the timer. */
    lfc_test_sleep_ns(10 * MS);
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_false(lfc_chan_closed(ch));
    lfc_chan_free(ch);
}

static void
test_timer_after_freed_before_fire(void **state)
{
    (void)state;
    /* ASan checks the timer thread's send and release on a channel whose
     * user reference is gone. */
    lfc_chan *now = lfc_after(0);
    assert_non_null(now);
    lfc_chan_free(now);
    long n = lfc_test_scaled(100, 10);
    for (long i = 0; i < n; i++) {
        lfc_chan *ch = lfc_after((int64_t)(rng() % (20 * MS)));
        assert_non_null(ch);
        lfc_chan_free(ch);
    }
    /* And one received before being freed, for contrast. */
    int64_t start = lfc_now_ns();
    lfc_chan *ch = lfc_after(25 * MS);
    assert_non_null(ch);
    recv_due(ch, start + 25 * MS);
    lfc_chan_free(ch);
    lfc_test_sleep_ns(10 * MS); /* all the freed ones are past due */
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
        p[i].ch = lfc_after(d);
        p[i].hi = lfc_now_ns() + d;
        assert_non_null(p[i].ch);
    }
    for (int i = 0; i < N; i++) {
        p[i].v = recv_due(p[i].ch, p[i].lo);
        lfc_chan_free(p[i].ch);
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
    lfc_timer *t = lfc_timer_after(2 * MS);
    assert_non_null(t);
    lfc_chan *ch = lfc_timer_chan(t);
    assert_non_null(ch);
    assert_int_equal(lfc_chan_cap(ch), 1);
    assert_int_equal(lfc_chan_elem_size(ch), sizeof(int64_t));
    recv_due(ch, start + 2 * MS);
    assert_false(lfc_timer_stop(t)); /* already fired */
    assert_false(lfc_timer_stop(t));
    lfc_timer_free(t);
}

static void
test_timer_stop_before_fire_no_value(void **state)
{
    (void)state;
    lfc_timer *t = lfc_timer_after(50 * MS);
    assert_non_null(t);
    assert_true(lfc_timer_stop(t));
    assert_false(lfc_timer_stop(t)); /* already stopped */
    lfc_test_sleep_ns(100 * MS);     /* well past its deadline */
    int64_t v;
    assert_status(lfc_try_recv(lfc_timer_chan(t), &v), LFC_AGAIN);
    lfc_timer_free(t);
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
        lfc_timer *t = lfc_timer_after(d);
        assert_non_null(t);
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
        lfc_timer_free(t);
    }
    lfc_test_sleep_ns(20 * MS); /* past every deadline above */
    for (int i = 0; i < nkept; i++) {
        int64_t v;
        assert_status(lfc_try_recv(lfc_timer_chan(kept[i]), &v), LFC_AGAIN);
        lfc_timer_free(kept[i]);
    }
    print_message("stop won %ld of %ld races\n", stopped, n);
}

static void
test_timer_free_pending(void **state)
{
    (void)state;
    /* Freeing a pending timer dequeues it: nothing touches it afterwards
     * (ASan), including a far-future one. */
    lfc_timer *a = lfc_timer_after(5 * MS);
    lfc_timer *b = lfc_timer_after(3600 * SEC);
    lfc_timer *c = lfc_timer_after(INT64_MAX); /* saturates: never */
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    lfc_timer_free(a);
    lfc_timer_free(b);
    lfc_timer_free(c);
    lfc_test_sleep_ns(10 * MS);
}

/* ---- lfc_tick ------------------------------------------------------------ */

static void
test_timer_tick_delivers_in_order(void **state)
{
    (void)state;
    const int64_t period = 5 * MS;
    const int n = 10;
    int64_t start = lfc_now_ns();
    lfc_timer *t = lfc_tick(period);
    assert_non_null(t);
    lfc_chan *ch = lfc_timer_chan(t);
    int64_t prev = 0;
    for (int k = 1; k <= n; k++) {
        /* The k-th tick received is the k-th or a later one sent. */
        int64_t v = recv_due(ch, start + k * period);
        assert_true(v > prev);
        prev = v;
    }
    assert_true(lfc_timer_stop(t)); /* a running ticker */
    lfc_timer_free(t);
}

static void
test_timer_tick_drops_for_slow_reader(void **state)
{
    (void)state;
    const int64_t period = 10 * MS;
    int64_t start = lfc_now_ns();
    lfc_timer *t = lfc_tick(period);
    assert_non_null(t);
    lfc_chan *ch = lfc_timer_chan(t);
    lfc_test_sleep_ns(5 * period);
    int64_t drain = lfc_now_ns();
    int64_t v;
    /* About five ticks were due; at most one is buffered. */
    assert_status(lfc_try_recv(ch, &v), LFC_OK);
    assert_true(v >= start + period && v <= drain);
    int r = lfc_try_recv(ch, &v);
    if (r == LFC_OK)
        assert_true(v > drain); /* a fresh tick, not a second stale one */
    else
        assert_status(r, LFC_AGAIN);
    /* Ticking goes on after the drops. */
    int64_t after = lfc_now_ns();
    assert_true(recv_due(ch, after) > drain);
    lfc_timer_free(t);
}

static void
test_timer_tick_stop_ends_ticks(void **state)
{
    (void)state;
    const int64_t period = 2 * MS;
    int64_t start = lfc_now_ns();
    lfc_timer *t = lfc_tick(period);
    assert_non_null(t);
    lfc_chan *ch = lfc_timer_chan(t);
    for (int k = 1; k <= 3; k++)
        recv_due(ch, start + k * period);
    assert_true(lfc_timer_stop(t));
    int64_t stop = lfc_now_ns();
    int64_t v;
    /* A tick sent before the stop may still be buffered; none after. */
    if (lfc_try_recv(ch, &v) == LFC_OK)
        assert_true(v <= stop);
    lfc_test_sleep_ns(10 * period);
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_false(lfc_timer_stop(t));
    lfc_timer_free(t);
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
            after[i] = lfc_after((i + 1) * MS);
            timers[i] = lfc_timer_after(3600 * SEC); /* never fire here */
            assert_non_null(after[i]);
            assert_non_null(timers[i]);
        }
        ticks[0] = lfc_tick(1 * MS);
        ticks[1] = lfc_tick(3600 * SEC);
        assert_non_null(ticks[0]);
        assert_non_null(ticks[1]);
        /* One thread serves them all. */
        assert_int_equal(count_timer_threads(), 1);
        assert_int_equal(count_tasks(), base + 1);
        for (int i = 0; i < N; i++) {
            recv_due(after[i], start + (i + 1) * MS);
            lfc_chan_free(after[i]);
        }
        recv_due(lfc_timer_chan(ticks[0]), start + 1 * MS);
        for (int i = 0; i < N; i++)
            lfc_timer_free(timers[i]);
        lfc_timer_free(ticks[0]);
        lfc_timer_free(ticks[1]);
        /* Everything is freed: the thread exits (round 1 checks that the
         * next timer starts a new one). */
        assert_true(wait_no_timer_thread(LATE_NS));
        int64_t end = lfc_now_ns() + LATE_NS;
        while (count_tasks() != base && lfc_now_ns() < end)
            lfc_test_sleep_ns(10 * MS);
        assert_int_equal(count_tasks(), base);
    }
}

int
main(void)
{
    lfc_test_alarm(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_after_not_early),
        cmocka_unit_test(test_timer_after_chan_shape_one_value),
        cmocka_unit_test(test_timer_after_freed_before_fire),
        cmocka_unit_test(test_timer_after_many_fire_in_deadline_order),
        cmocka_unit_test(test_timer_handle_fires_then_stop_false),
        cmocka_unit_test(test_timer_stop_before_fire_no_value),
        cmocka_unit_test(test_timer_stop_races_fire_consistent),
        cmocka_unit_test(test_timer_free_pending),
        cmocka_unit_test(test_timer_tick_delivers_in_order),
        cmocka_unit_test(test_timer_tick_drops_for_slow_reader),
        cmocka_unit_test(test_timer_tick_stop_ends_ticks),
        cmocka_unit_test(test_timer_tick_invalid_period_einval),
        cmocka_unit_test(test_timer_null_args),
        cmocka_unit_test(test_timer_no_thread_left_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
