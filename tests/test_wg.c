/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan wait groups (include/lfchan/wg.h): add, done, wait
 * and wait_until, the counter's bounds, reuse, waking every waiter, and
 * the done→wait happens-before.
 *
 * Scenarios adapted from Go's sync package (waitgroup_test.go:
 * TestWaitGroup's two rounds of n done-ers and n waiters, TestWaitGroupMisuse
 * for a negative counter, TestWaitGroupRace for the ordering of the
 * done-ers' writes), rewritten in C. Go panics on misuse; here it is
 * LFC_EINVAL with the counter unchanged.
 *
 * Rules kept here:
 *   - Every blocking wait is bounded (wait_until with a deadline of
 *     seconds) or runs on a helper thread that the test waits for with a
 *     bound; a lost wake-up fails the test within seconds.
 *   - A waiter is known to be asleep once it has called the futex wait:
 *     the futex operations are wrapped (lfc__park_set_ops), as in
 *     test_park.c.
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

#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* ---- futex operations ---------------------------------------------------
 *
 * lfc_test_async_install_park_hook() (lfc_test_async.h) installs
 * lfc_test_counting_ops (lfc_test_futex.h): real futex calls, plus
 * per-thread counters (add and done make no system call while nobody
 * waits), optional spurious early returns, and the "parked" note of a
 * helper: a wait group's waiter calls the futex wait only from
 * lfc__ec_wait, after announcing itself.
 */

/* ---- a wait on a helper thread (lfc_test_async.h) ----------------------- */

struct waiter {
    struct lfc_test_async a;
    lfc_wg *wg;
    int64_t deadline; /* INT64_MAX: lfc_wg_wait; else lfc_wg_wait_until */
};

static int
waiter_call(void *arg)
{
    struct waiter *w = arg;
    return w->deadline == INT64_MAX ? lfc_wg_wait(w->wg)
                                    : lfc_wg_wait_until(w->wg, w->deadline);
}

static void
waiter_start(struct waiter *w, lfc_wg *wg, int64_t deadline)
{
    w->wg = wg;
    w->deadline = deadline;
    lfc_test_async_start(&w->a, waiter_call, w);
}

static bool
waiter_done(const struct waiter *w)
{
    return lfc_test_async_done(&w->a);
}

/* Waits until w sleeps in the futex. */
static void
waiter_wait_asleep(const struct waiter *w)
{
    lfc_test_async_wait_parked(&w->a, "wg wait");
}

/*
 * Waits up to LFC_TEST_STUCK_NS for the call to return, joins it and
 * returns its status. A waiter still blocked then is a lost wake-up: the
 * test aborts (the thread cannot be joined and the wait group could not be
 * freed).
 */
static int
waiter_finish(struct waiter *w)
{
    if (!lfc_test_async_wait_done(&w->a, LFC_TEST_STUCK_NS))
        fprintf(stderr, "wg wait stuck with count %lld\n",
                (long long)lfc_wg_count(w->wg));
    return lfc_test_async_join(&w->a, "wg wait");
}

/* ---- arguments and the counter ------------------------------------------ */

static void
test_wg_null_args(void **state)
{
    (void)state;
    assert_status(lfc_wg_add(NULL, 1), LFC_EINVAL);
    assert_status(lfc_wg_add(NULL, 0), LFC_EINVAL);
    assert_status(lfc_wg_done(NULL), LFC_EINVAL);
    assert_status(lfc_wg_wait(NULL), LFC_EINVAL);
    assert_status(lfc_wg_wait_until(NULL, lfc_now_ns() + SEC), LFC_EINVAL);
    assert_true(lfc_wg_count(NULL) == 0);
    lfc_wg_free(NULL);
}

static void
test_wg_add_done_wait_smoke(void **state)
{
    (void)state;
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    assert_true(lfc_wg_count(wg) == 0);
    /* At zero, waits return at once, even with a past deadline. */
    assert_status(lfc_wg_wait(wg), LFC_OK);
    assert_status(lfc_wg_wait_until(wg, 0), LFC_OK);
    assert_status(lfc_wg_add(wg, 3), LFC_OK);
    assert_true(lfc_wg_count(wg) == 3);
    assert_status(lfc_wg_add(wg, 0), LFC_OK);
    assert_true(lfc_wg_count(wg) == 3);
    assert_status(lfc_wg_done(wg), LFC_OK);
    assert_status(lfc_wg_wait_until(wg, 0), LFC_TIMEDOUT);
    assert_status(lfc_wg_add(wg, -2), LFC_OK);
    assert_true(lfc_wg_count(wg) == 0);
    assert_status(lfc_wg_wait(wg), LFC_OK);
    assert_status(lfc_wg_add(wg, 0), LFC_OK); /* at zero: nothing to do */
    assert_true(lfc_wg_count(wg) == 0);
    lfc_wg_free(wg);
}

static void
test_wg_done_below_zero_einval(void **state)
{
    (void)state;
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    assert_status(lfc_wg_done(wg), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == 0);
    assert_status(lfc_wg_add(wg, -1), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == 0);
    assert_status(lfc_wg_add(wg, 2), LFC_OK);
    assert_status(lfc_wg_add(wg, -3), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == 2);
    assert_status(lfc_wg_add(wg, -INT64_MAX), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == 2);
    assert_status(lfc_wg_done(wg), LFC_OK);
    assert_status(lfc_wg_done(wg), LFC_OK);
    assert_status(lfc_wg_done(wg), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == 0);
    assert_status(lfc_wg_wait(wg), LFC_OK);
    lfc_wg_free(wg);
}

/* The most negative delta: -delta does not exist in int64_t, and it must
 * not slip through the "would go below zero" check. */
static void
test_wg_add_int64_min_einval(void **state)
{
    (void)state;
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    assert_status(lfc_wg_add(wg, INT64_MIN), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == 0);
    assert_status(lfc_wg_add(wg, INT64_MAX), LFC_OK);
    assert_status(lfc_wg_add(wg, INT64_MIN), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == INT64_MAX);
    assert_status(lfc_wg_add(wg, -INT64_MAX), LFC_OK);
    assert_true(lfc_wg_count(wg) == 0);
    lfc_wg_free(wg);
}

static void
test_wg_add_overflow_einval(void **state)
{
    (void)state;
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    assert_status(lfc_wg_add(wg, INT64_MAX), LFC_OK);
    assert_true(lfc_wg_count(wg) == INT64_MAX);
    assert_status(lfc_wg_add(wg, 1), LFC_EINVAL);
    assert_status(lfc_wg_add(wg, INT64_MAX), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == INT64_MAX);
    assert_status(lfc_wg_add(wg, -INT64_MAX), LFC_OK);
    assert_true(lfc_wg_count(wg) == 0);
    assert_status(lfc_wg_add(wg, 1), LFC_OK);
    assert_status(lfc_wg_add(wg, INT64_MAX), LFC_EINVAL); /* 1 + MAX */
    assert_true(lfc_wg_count(wg) == 1);
    assert_status(lfc_wg_add(wg, INT64_MAX - 1), LFC_OK); /* exactly MAX */
    assert_true(lfc_wg_count(wg) == INT64_MAX);
    assert_status(lfc_wg_add(wg, -INT64_MAX), LFC_OK);
    assert_status(lfc_wg_wait(wg), LFC_OK);
    lfc_wg_free(wg);
}

static void
test_wg_wait_until_times_out_not_early(void **state)
{
    (void)state;
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    assert_status(lfc_wg_add(wg, 1), LFC_OK);
    int64_t d = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_wg_wait_until(wg, d), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= d);
    assert_true(lfc_wg_count(wg) == 1);
    assert_status(lfc_wg_wait_until(wg, 0), LFC_TIMEDOUT); /* past: a poll */
    assert_status(lfc_wg_wait_until(wg, lfc_now_ns() - SEC), LFC_TIMEDOUT);

    /* On a helper thread too. */
    struct waiter w;
    waiter_start(&w, wg, lfc_now_ns() + 2 * LFC_TEST_SHORT_NS);
    assert_status(waiter_finish(&w), LFC_TIMEDOUT);
    assert_true(w.a.t_end >= w.deadline);
    assert_true(lfc_wg_count(wg) == 1);

    /* A done before the deadline ends the wait with LFC_OK. */
    waiter_start(&w, wg, lfc_now_ns() + 2 * LFC_TEST_STUCK_NS);
    waiter_wait_asleep(&w);
    assert_status(lfc_wg_done(wg), LFC_OK);
    assert_status(waiter_finish(&w), LFC_OK);
    assert_true(lfc_wg_count(wg) == 0);
    lfc_wg_free(wg);
}

/* ---- waiting for tasks -------------------------------------------------- */

struct task {
    pthread_t thread;
    lfc_wg *wg;
    int64_t sleep_ns;
    long value; /* plain: written by the task, read after the wait */
    long index;
    int done_rc;
};

static void *
task_main(void *arg)
{
    struct task *t = arg;
    if (t->sleep_ns > 0)
        lfc_test_sleep_ns(t->sleep_ns);
    t->value = t->index * 3 + 1;
    t->done_rc = lfc_wg_done(t->wg);
    return NULL;
}

/* Go's TestWaitGroup: wait returns only once every task has called done,
 * and the tasks' plain writes are visible after it. */
static void
test_wg_wait_returns_after_all_done(void **state)
{
    (void)state;
    enum { N = 8 };
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    struct task t[N];
    assert_status(lfc_wg_add(wg, N), LFC_OK);
    for (int i = 0; i < N; i++) {
        t[i] = (struct task){.wg = wg, .index = i, .sleep_ns = (i + 1) * MS};
        assert_int_equal(pthread_create(&t[i].thread, NULL, task_main, &t[i]),
                         0);
    }
    assert_status(lfc_wg_wait_until(wg, lfc_now_ns() + LFC_TEST_STUCK_NS), LFC_OK);
    assert_true(lfc_wg_count(wg) == 0);
    /* Read before the joins: only the wait orders these writes. */
    for (int i = 0; i < N; i++)
        assert_int_equal(t[i].value, i * 3 + 1);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i].thread, NULL);
        assert_status(t[i].done_rc, LFC_OK);
    }
    lfc_wg_free(wg);
}

/* A waiter asleep on a count of 2 stays asleep after one done. */
static void
test_wg_wait_blocks_until_last_done(void **state)
{
    (void)state;
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    assert_status(lfc_wg_add(wg, 2), LFC_OK);
    struct waiter w;
    waiter_start(&w, wg, INT64_MAX);
    waiter_wait_asleep(&w);
    assert_status(lfc_wg_done(wg), LFC_OK);
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS); /* time to wake it wrongly */
    assert_false(waiter_done(&w));
    assert_status(lfc_wg_done(wg), LFC_OK);
    assert_status(waiter_finish(&w), LFC_OK);
    lfc_wg_free(wg);
}

/* Every waiter, plain and timed, wakes on the one done that reaches zero. */
static void
test_wg_many_waiters_woken_at_once(void **state)
{
    (void)state;
    enum { N = 8 };
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    assert_status(lfc_wg_add(wg, 1), LFC_OK);
    struct waiter w[N];
    for (int i = 0; i < N; i++)
        waiter_start(&w[i], wg,
                     i % 2 ? lfc_now_ns() + 3 * LFC_TEST_STUCK_NS : INT64_MAX);
    for (int i = 0; i < N; i++)
        waiter_wait_asleep(&w[i]);
    for (int i = 0; i < N; i++)
        assert_false(waiter_done(&w[i]));
    assert_status(lfc_wg_done(wg), LFC_OK);
    for (int i = 0; i < N; i++)
        assert_status(waiter_finish(&w[i]), LFC_OK);
    assert_true(lfc_wg_count(wg) == 0);
    lfc_wg_free(wg);
}

/* A wait group is reusable: rounds of tasks and waiters on one group. */
static void
test_wg_reuse(void **state)
{
    (void)state;
    enum { N = 4, WAITERS = 3 };
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    long rounds = lfc_test_scaled(20, 5);
    for (long r = 0; r < rounds; r++) {
        struct task t[N];
        struct waiter w[WAITERS];
        assert_status(lfc_wg_add(wg, N), LFC_OK);
        for (int i = 0; i < WAITERS; i++)
            waiter_start(&w[i], wg,
                         r % 2 ? lfc_now_ns() + LFC_TEST_STUCK_NS : INT64_MAX);
        for (int i = 0; i < N; i++) {
            t[i] = (struct task){
                .wg = wg, .index = r * N + i, .sleep_ns = (i % 2) * MS};
            assert_int_equal(
                pthread_create(&t[i].thread, NULL, task_main, &t[i]), 0);
        }
        for (int i = 0; i < WAITERS; i++)
            assert_status(waiter_finish(&w[i]), LFC_OK);
        for (int i = 0; i < N; i++)
            assert_int_equal(t[i].value, (r * N + i) * 3 + 1);
        for (int i = 0; i < N; i++) {
            pthread_join(t[i].thread, NULL);
            assert_status(t[i].done_rc, LFC_OK);
        }
        assert_true(lfc_wg_count(wg) == 0);
    }
    lfc_wg_free(wg);
}

/* ---- ordering and contention -------------------------------------------- */

struct hb {
    lfc_wg *wg;
    lfc_wg *go;  /* the round's start signal: workers wait for it to reach 0 */
    long *slots; /* plain: slot i written by worker i each round */
    int id;
    long rounds;
    lfc_test_barrier *round_start;
    unsigned long *progress;
    int bad;
};

static void *
hb_main(void *arg)
{
    struct hb *h = arg;
    for (long r = 0; r < h->rounds; r++) {
        lfc_test_barrier_wait(h->round_start);
        h->slots[h->id] = r * 100 + h->id; /* plain write */
        if (lfc_wg_done(h->wg) != LFC_OK)
            h->bad = 1;
        lfc_progress_bump(h->progress);
        /* The test thread re-arms the group before the next barrier. */
    }
    return NULL;
}

/* Go's TestWaitGroupRace: the done-ers' plain writes happen-before the
 * return of the wait; TSan would report a race otherwise. Many rounds,
 * with the done-ers racing each other to reach zero. */
static void
test_wg_done_happens_before_wait(void **state)
{
    (void)state;
    enum { N = 4 };
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    long slots[N] = {0};
    unsigned long progress = 0;
    lfc_test_barrier round_start;
    lfc_test_barrier_init(&round_start, N + 1);
    struct hb h[N];
    pthread_t th[N];
    long rounds = lfc_test_scaled(2000, 100);
    struct lfc_watchdog dog;
    lfc_watchdog_start(&dog, "wg rounds", &progress, 0);
    for (int i = 0; i < N; i++) {
        h[i] = (struct hb){.wg = wg,
                           .slots = slots,
                           .id = i,
                           .rounds = rounds,
                           .round_start = &round_start,
                           .progress = &progress};
        assert_int_equal(pthread_create(&th[i], NULL, hb_main, &h[i]), 0);
    }
    bool ok = true;
    for (long r = 0; r < rounds; r++) {
        assert_status(lfc_wg_add(wg, N), LFC_OK);
        lfc_test_barrier_wait(&round_start);
        /* On a failure, go on with the rounds: the workers are at the
         * barrier and would never be joined otherwise. */
        int rc = r % 2 ? lfc_wg_wait(wg)
                       : lfc_wg_wait_until(wg, lfc_now_ns() + LFC_TEST_STUCK_NS);
        if (rc != LFC_OK)
            ok = false;
        for (int i = 0; i < N; i++)
            if (rc == LFC_OK && slots[i] != r * 100 + i)
                ok = false;
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    lfc_watchdog_stop(&dog);
    lfc_test_barrier_destroy(&round_start);
    assert_true(ok);
    for (int i = 0; i < N; i++)
        assert_int_equal(h[i].bad, 0);
    assert_true(lfc_wg_count(wg) == 0);
    lfc_wg_free(wg);
}

struct churn {
    lfc_wg *wg;
    long iters;
    unsigned long *progress;
    int bad;
};

static void *
churn_main(void *arg)
{
    struct churn *c = arg;
    for (long i = 0; i < c->iters; i++) {
        if (lfc_wg_add(c->wg, 1 + i % 3) != LFC_OK ||
            lfc_wg_add(c->wg, -(1 + i % 3)) != LFC_OK)
            c->bad = 1;
        lfc_progress_bump(c->progress);
    }
    if (lfc_wg_done(c->wg) != LFC_OK) /* the +1 the test added for us */
        c->bad = 1;
    return NULL;
}

/* Concurrent adds and dones keep the count exact, and waiters that may see
 * any number of passing zeros all return once the count stays at zero. */
static void
test_wg_concurrent_add_done_count_exact(void **state)
{
    (void)state;
    enum { N = 4, WAITERS = 4 };
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    unsigned long progress = 0;
    struct churn c[N];
    pthread_t th[N];
    struct waiter w[WAITERS];
    struct lfc_watchdog dog;
    lfc_watchdog_start(&dog, "wg churn", &progress, 0);
    assert_status(lfc_wg_add(wg, N), LFC_OK);
    for (int i = 0; i < WAITERS; i++)
        waiter_start(&w[i], wg,
                     i % 2 ? lfc_now_ns() + 3 * LFC_TEST_STUCK_NS : INT64_MAX);
    for (int i = 0; i < N; i++) {
        c[i] = (struct churn){wg, lfc_test_scaled(20000, 1000), &progress, 0};
        assert_int_equal(pthread_create(&th[i], NULL, churn_main, &c[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    lfc_watchdog_stop(&dog);
    for (int i = 0; i < N; i++)
        assert_int_equal(c[i].bad, 0);
    assert_true(lfc_wg_count(wg) == 0);
    for (int i = 0; i < WAITERS; i++)
        assert_status(waiter_finish(&w[i]), LFC_OK);
    lfc_wg_free(wg);
}

/* "add and done are one atomic RMW; done makes a system call only when it
 * brings the counter to zero while someone waits". */
static void
test_wg_no_syscall_without_waiters(void **state)
{
    (void)state;
    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    unsigned long waits = lfc_test_futex_t_waits;
    unsigned long wakes = lfc_test_futex_t_wakes;
    for (int i = 0; i < 10000; i++) {
        assert_status(lfc_wg_add(wg, 2), LFC_OK);
        assert_status(lfc_wg_done(wg), LFC_OK);
        assert_status(lfc_wg_done(wg), LFC_OK);
        assert_status(lfc_wg_wait(wg), LFC_OK);
    }
    assert_true(lfc_test_futex_t_waits == waits);
    assert_true(lfc_test_futex_t_wakes == wakes);
    lfc_wg_free(wg);
}

/* Every futex wait returns early without a wake: waits still return only
 * at zero, and timed waits never early. */
static void
test_wg_spurious_wakeups_harmless(void **state)
{
    __atomic_store_n(&lfc_test_futex_spurious, 1, __ATOMIC_RELAXED);
    lfc_spin_set_limit(0);
    unsigned long waits =
        __atomic_load_n(&lfc_test_futex_waits, __ATOMIC_RELAXED);

    test_wg_wait_blocks_until_last_done(state);
    test_wg_many_waiters_woken_at_once(state);
    test_wg_wait_until_times_out_not_early(state);
    test_wg_wait_returns_after_all_done(state);

    assert_true(__atomic_load_n(&lfc_test_futex_waits, __ATOMIC_RELAXED) >
                waits);
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
        cmocka_unit_test(test_wg_null_args),
        cmocka_unit_test(test_wg_add_done_wait_smoke),
        cmocka_unit_test(test_wg_done_below_zero_einval),
        cmocka_unit_test(test_wg_add_int64_min_einval),
        cmocka_unit_test(test_wg_add_overflow_einval),
        cmocka_unit_test(test_wg_wait_until_times_out_not_early),
        cmocka_unit_test(test_wg_wait_returns_after_all_done),
        cmocka_unit_test(test_wg_wait_blocks_until_last_done),
        cmocka_unit_test(test_wg_many_waiters_woken_at_once),
        cmocka_unit_test(test_wg_reuse),
        cmocka_unit_test(test_wg_done_happens_before_wait),
        cmocka_unit_test(test_wg_concurrent_add_done_count_exact),
        cmocka_unit_test(test_wg_no_syscall_without_waiters),
        cmocka_unit_test_teardown(test_wg_spurious_wakeups_harmless,
                                  teardown_spurious),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    lfc_test_async_remove_park_hook();
    return failed;
}
