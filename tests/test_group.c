/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan error groups (include/lfchan/group.h): the first
 * error wins and cancels the group's context, parent cancellation and
 * deadlines reach the tasks, the concurrency limit, tasks that start
 * tasks, and that wait (or free) joins every thread.
 *
 * Scenarios adapted from golang.org/x/sync/errgroup (errgroup_test.go:
 * TestZeroGroup, TestWithContext's "first error cancels the context",
 * TestGoLimit's counter of active goroutines, TestTryGo, TestCancelCause
 * for the parent), rewritten in C. The ordering of errors is made
 * deterministic: one task fails at once and the others fail only after
 * they see the cancellation, so the first error is known.
 *
 * Rules kept here:
 *   - Tasks never block without a bound: they wait on the group's done
 *     channel or on a gate with a deadline of seconds, and say so in
 *     their result if it passed, so a missing cancellation fails the test
 *     instead of hanging it.
 *   - cmocka assertions run only on the test's own thread; tasks record
 *     what they saw.
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
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* How long anything that must happen may take: only a lost wake-up or a
 * deadlock reaches it. */
#define STUCK_NS LFC_TEST_STUCK_NS

/* What a task returns when its bounded wait ran out: the event it waited
 * for (a cancellation, a gate) never came. */
#define E_STUCK 555

/* Waits up to `ns` for *p to reach at least v; returns whether it did. */
static bool
wait_at_least(const int *p, int v, int64_t ns)
{
    int64_t end = lfc_test_now_ns() + ns;
    while (lfc_test_load_int(p) < v) {
        if (lfc_test_now_ns() > end)
            return false;
        lfc_test_sleep_ns(MS / 4);
    }
    return true;
}

/* Waits (boundedly) for ctx to be cancelled; true if it was. */
static bool
wait_cancelled(lfc_ctx *ctx)
{
    return lfc_recv_until(lfc_ctx_done(ctx), NULL, lfc_now_ns() + STUCK_NS) ==
           LFC_CLOSED;
}

/* The group's threads are named "lfc-group"; none may outlive wait. */
static bool
no_group_threads_left(void)
{
    return lfc_test_wait_no_threads_named("lfc-group", STUCK_NS);
}

/* A gate tasks wait at: a wait group with count 1, opened by done. */
static lfc_wg *
gate_new(void)
{
    lfc_wg *g = lfc_wg_new();
    assert_non_null(g);
    assert_status(lfc_wg_add(g, 1), LFC_OK);
    return g;
}

static int
gate_pass(lfc_wg *gate)
{
    return lfc_wg_wait_until(gate, lfc_now_ns() + STUCK_NS);
}

/* ---- tasks -------------------------------------------------------------- */

static int
task_ok(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static int
task_return(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    return (int)(intptr_t)arg;
}

/* Writes a plain value: read by the test after wait, which must order it. */
struct slot {
    long value;
    int64_t sleep_ns;
};

static int
task_write(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    struct slot *s = arg;
    if (s->sleep_ns > 0)
        lfc_test_sleep_ns(s->sleep_ns);
    s->value = 42;
    return 0;
}

/* Waits for the group to be cancelled; records what it saw. */
struct follower {
    int saw_err;  /* lfc_ctx_err after the done channel closed */
    int ret;      /* what to return once cancelled */
    int *started; /* counter of followers that have started (atomic) */
};

static int
task_follow(lfc_ctx *ctx, void *arg)
{
    struct follower *f = arg;
    if (f->started)
        __atomic_fetch_add(f->started, 1, __ATOMIC_RELEASE);
    if (!wait_cancelled(ctx))
        return E_STUCK;
    f->saw_err = lfc_ctx_err(ctx);
    return f->ret;
}

/* ---- arguments ---------------------------------------------------------- */

static void
test_group_bad_args(void **state)
{
    (void)state;
    errno = 0;
    assert_null(lfc_group_new(NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(lfc_group_ctx(NULL));
    assert_status(lfc_group_set_limit(NULL, 1), LFC_EINVAL);
    assert_status(lfc_group_go(NULL, task_ok, NULL), LFC_EINVAL);
    assert_status(lfc_group_try_go(NULL, task_ok, NULL), LFC_EINVAL);
    assert_status(lfc_group_wait(NULL), LFC_EINVAL);
    lfc_group_free(NULL);

    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    assert_status(lfc_group_go(g, NULL, NULL), LFC_EINVAL);
    assert_status(lfc_group_try_go(g, NULL, NULL), LFC_EINVAL);
    assert_status(lfc_group_set_limit(g, 0), LFC_EINVAL);
    assert_status(lfc_group_set_limit(g, -2), LFC_EINVAL);
    assert_status(lfc_group_set_limit(g, INT_MIN), LFC_EINVAL);
    assert_status(lfc_group_set_limit(g, 1), LFC_OK);
    assert_status(lfc_group_set_limit(g, INT_MAX), LFC_OK);
    assert_status(lfc_group_set_limit(g, LFC_GROUP_NO_LIMIT), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    lfc_group_free(g);
}

/* Go's TestZeroGroup: an empty group waits for nothing. Its context is a
 * live child of the parent until wait, which cancels it (not the parent). */
static void
test_group_empty_wait_returns_zero(void **state)
{
    (void)state;
    lfc_ctx *parent = lfc_ctx_with_timeout(lfc_ctx_background(), LFC_TEST_FAR_NS);
    assert_non_null(parent);
    lfc_group *g = lfc_group_new(parent);
    assert_non_null(g);
    lfc_ctx *ctx = lfc_group_ctx(g);
    assert_non_null(ctx);
    assert_ptr_not_equal(ctx, parent);
    assert_ptr_equal(lfc_group_ctx(g), ctx);
    assert_status(lfc_ctx_err(ctx), LFC_OK);
    assert_true(lfc_ctx_deadline(ctx) == lfc_ctx_deadline(parent));
    assert_status(lfc_group_wait(g), LFC_OK);
    assert_status(lfc_ctx_err(ctx), LFC_CANCELED);
    assert_status(lfc_ctx_err(parent), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK); /* again: still nothing */
    lfc_group_free(g);
    assert_status(lfc_ctx_err(parent), LFC_OK);
    lfc_ctx_free(parent);
}

/* ---- results ------------------------------------------------------------ */

static void
test_group_all_succeed_returns_zero(void **state)
{
    (void)state;
    enum { N = 16 };
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    struct slot s[N];
    for (int i = 0; i < N; i++) {
        s[i] = (struct slot){0, (i % 4) * MS};
        assert_status(lfc_group_go(g, task_write, &s[i]), LFC_OK);
    }
    assert_status(lfc_group_wait(g), LFC_OK);
    /* Every task ran, and its plain write is visible after wait. */
    for (int i = 0; i < N; i++)
        assert_int_equal(s[i].value, 42);
    assert_status(lfc_ctx_err(lfc_group_ctx(g)), LFC_CANCELED);
    lfc_group_free(g);
}

/* The first non-zero result is what wait returns: one task fails at once;
 * the others wait until the group is cancelled and then fail with another
 * value, necessarily later. The failure cancels the group's context, and
 * the other tasks see LFC_CANCELED. */
static void
test_group_first_error_returned_and_cancels_rest(void **state)
{
    (void)state;
    enum { N = 6 };
    const int firsts[] = {7, -42, INT_MIN, LFC_TIMEDOUT};
    for (size_t k = 0; k < sizeof(firsts) / sizeof(firsts[0]); k++) {
        lfc_group *g = lfc_group_new(lfc_ctx_background());
        assert_non_null(g);
        int started = 0;
        struct follower f[N];
        for (int i = 0; i < N; i++) {
            f[i] = (struct follower){
                .saw_err = 1, .ret = 99 + i, .started = &started};
            assert_status(lfc_group_go(g, task_follow, &f[i]), LFC_OK);
        }
        /* The followers are waiting before the failure comes. */
        assert_true(wait_at_least(&started, N, STUCK_NS));
        assert_status(lfc_ctx_err(lfc_group_ctx(g)), LFC_OK);
        assert_status(lfc_group_go(g, task_return, (void *)(intptr_t)firsts[k]),
                      LFC_OK);
        assert_int_equal(lfc_group_wait(g), firsts[k]);
        for (int i = 0; i < N; i++)
            assert_status(f[i].saw_err, LFC_CANCELED);
        assert_status(lfc_ctx_err(lfc_group_ctx(g)), LFC_CANCELED);
        /* The error stays: a second wait returns it again. */
        assert_int_equal(lfc_group_wait(g), firsts[k]);
        lfc_group_free(g);
    }
}

/* The cancellation comes with the failure, not with wait. */
static void
test_group_error_cancels_ctx_before_wait(void **state)
{
    (void)state;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    lfc_ctx *ctx = lfc_group_ctx(g);
    assert_status(lfc_group_go(g, task_return, (void *)(intptr_t)3), LFC_OK);
    assert_true(wait_cancelled(ctx));
    assert_status(lfc_ctx_err(ctx), LFC_CANCELED);
    assert_int_equal(lfc_group_wait(g), 3);
    lfc_group_free(g);
}

/* Several tasks fail together: wait returns one of their errors, and
 * tasks started after the failure still run (with the cancelled ctx). */
static void
test_group_simultaneous_errors_one_wins(void **state)
{
    (void)state;
    enum { N = 8 };
    long rounds = lfc_test_scaled(10, 3);
    for (long r = 0; r < rounds; r++) {
        lfc_group *g = lfc_group_new(lfc_ctx_background());
        assert_non_null(g);
        for (int i = 0; i < N; i++)
            assert_status(
                lfc_group_go(g, task_return, (void *)(intptr_t)(i + 1)),
                LFC_OK);
        int err = lfc_group_wait(g);
        assert_true(err >= 1 && err <= N);
        struct slot late = {0, 0};
        assert_status(lfc_group_go(g, task_write, &late), LFC_OK);
        assert_int_equal(lfc_group_wait(g), err);
        assert_int_equal(late.value, 42);
        lfc_group_free(g);
    }
}

/* ---- parent and deadline ------------------------------------------------ */

static int
task_return_ctx_err(lfc_ctx *ctx, void *arg)
{
    int *started = arg;
    __atomic_fetch_add(started, 1, __ATOMIC_RELEASE);
    if (!wait_cancelled(ctx))
        return E_STUCK;
    return lfc_ctx_err(ctx);
}

/* Cancelling the parent cancels the group's context: the tasks stop. */
static void
test_group_parent_cancel_cancels_tasks(void **state)
{
    (void)state;
    enum { N = 4 };
    lfc_ctx *parent = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(parent);
    lfc_group *g = lfc_group_new(parent);
    assert_non_null(g);
    int started = 0;
    for (int i = 0; i < N; i++)
        assert_status(lfc_group_go(g, task_return_ctx_err, &started), LFC_OK);
    assert_true(wait_at_least(&started, N, STUCK_NS));
    assert_status(lfc_ctx_cancel(parent), LFC_OK);
    assert_int_equal(lfc_group_wait(g), LFC_CANCELED);
    lfc_group_free(g);
    lfc_ctx_free(parent);

    /* A group made from a cancelled parent: its tasks see it at once. */
    parent = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(parent);
    assert_status(lfc_ctx_cancel(parent), LFC_OK);
    g = lfc_group_new(parent);
    assert_non_null(g);
    assert_status(lfc_ctx_err(lfc_group_ctx(g)), LFC_CANCELED);
    started = 0;
    assert_status(lfc_group_go(g, task_return_ctx_err, &started), LFC_OK);
    assert_int_equal(lfc_group_wait(g), LFC_CANCELED);
    lfc_group_free(g);
    lfc_ctx_free(parent);
}

/* The parent's deadline is the group's: tasks see LFC_TIMEDOUT. */
static void
test_group_parent_deadline_reaches_tasks(void **state)
{
    (void)state;
    lfc_ctx *parent =
        lfc_ctx_with_timeout(lfc_ctx_background(), 2 * LFC_TEST_SHORT_NS);
    assert_non_null(parent);
    int64_t d = lfc_ctx_deadline(parent);
    lfc_group *g = lfc_group_new(parent);
    assert_non_null(g);
    assert_true(lfc_ctx_deadline(lfc_group_ctx(g)) == d);
    int started = 0;
    assert_status(lfc_group_go(g, task_return_ctx_err, &started), LFC_OK);
    assert_status(lfc_group_go(g, task_return_ctx_err, &started), LFC_OK);
    assert_int_equal(lfc_group_wait(g), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= d);
    lfc_group_free(g);
    lfc_ctx_free(parent);
}

/* ---- the limit ---------------------------------------------------------- */

struct counted {
    int inside;   /* tasks in fn right now (atomic) */
    int peak;     /* most at once (atomic) */
    int ran;      /* tasks that ran (atomic) */
    lfc_wg *gate; /* if set: wait here before leaving */
};

static int
task_counted(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    struct counted *c = arg;
    int in = __atomic_add_fetch(&c->inside, 1, __ATOMIC_ACQ_REL);
    int peak = __atomic_load_n(&c->peak, __ATOMIC_RELAXED);
    while (in > peak &&
           !__atomic_compare_exchange_n(&c->peak, &peak, in, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    __atomic_fetch_add(&c->ran, 1, __ATOMIC_RELAXED);
    int rc = 0;
    if (c->gate)
        rc = gate_pass(c->gate) == LFC_OK ? 0 : E_STUCK;
    else
        lfc_test_sleep_ns(MS);
    __atomic_sub_fetch(&c->inside, 1, __ATOMIC_ACQ_REL);
    return rc;
}

/* Go's TestGoLimit: never more than `limit` tasks at once. */
static void
test_group_limit_never_exceeded(void **state)
{
    (void)state;
    const int limits[] = {1, 3};
    for (size_t k = 0; k < 2; k++) {
        int limit = limits[k];
        lfc_group *g = lfc_group_new(lfc_ctx_background());
        assert_non_null(g);
        assert_status(lfc_group_set_limit(g, limit), LFC_OK);
        struct counted c = {0};
        int n = (int)lfc_test_scaled(24, 8);
        for (int i = 0; i < n; i++)
            assert_status(lfc_group_go(g, task_counted, &c), LFC_OK);
        assert_status(lfc_group_wait(g), LFC_OK);
        assert_int_equal(c.ran, n);
        assert_int_equal(c.inside, 0);
        if (c.peak > limit)
            fail_msg("%d tasks ran at once; the limit is %d", c.peak, limit);
        assert_true(c.peak >= 1);
        lfc_group_free(g);
    }
}

/* A blocking lfc_group_go on a helper thread (lfc_test_async.h). */
struct go_call {
    lfc_group *g;
    struct counted *c;
};

static int
go_call_fn(void *arg)
{
    struct go_call *gc = arg;
    return lfc_group_go(gc->g, task_counted, gc->c);
}

/* Go's TestTryGo: at the limit try_go refuses (and fn does not run) and go
 * blocks until a task finishes. */
static void
test_group_try_go_again_at_limit(void **state)
{
    (void)state;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    assert_status(lfc_group_set_limit(g, 2), LFC_OK);
    struct counted c = {0};
    c.gate = gate_new();
    assert_status(lfc_group_try_go(g, task_counted, &c), LFC_OK);
    assert_status(lfc_group_go(g, task_counted, &c), LFC_OK);
    assert_true(wait_at_least(&c.ran, 2, STUCK_NS));
    assert_status(lfc_group_try_go(g, task_counted, &c), LFC_AGAIN);
    assert_status(lfc_group_try_go(g, task_ok, NULL), LFC_AGAIN);

    /* A blocking go waits for a free slot: it sleeps in the limit's
     * semaphore, and stays there. */
    struct go_call gc = {g, &c};
    struct lfc_test_async a;
    lfc_test_async_start(&a, go_call_fn, &gc);
    lfc_test_async_wait_parked(&a, "go at the limit");
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    lfc_test_async_assert_blocked(&a, "go at the limit");
    /* The refused ones never ran. */
    assert_int_equal(lfc_test_load_int(&c.ran), 2);

    assert_status(lfc_wg_done(c.gate), LFC_OK); /* open: all may finish */
    assert_status(lfc_test_async_join(&a, "go at the limit"), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    assert_int_equal(c.ran, 3);
    assert_true(c.peak <= 2);

    /* Slots are free again after wait. */
    assert_status(lfc_group_try_go(g, task_ok, NULL), LFC_OK);
    assert_status(lfc_group_try_go(g, task_ok, NULL), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    lfc_wg_free(c.gate);
    lfc_group_free(g);
}

static void
test_group_set_limit_while_running_einval(void **state)
{
    (void)state;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    struct counted c = {0};
    c.gate = gate_new();
    assert_status(lfc_group_go(g, task_counted, &c), LFC_OK);
    assert_true(wait_at_least(&c.ran, 1, STUCK_NS));
    assert_status(lfc_group_set_limit(g, 2), LFC_EINVAL);
    assert_status(lfc_group_set_limit(g, LFC_GROUP_NO_LIMIT), LFC_EINVAL);
    assert_status(lfc_group_set_limit(g, 0), LFC_EINVAL);
    assert_status(lfc_wg_done(c.gate), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    /* Nothing runs after wait: the limit may change. */
    assert_status(lfc_group_set_limit(g, 1), LFC_OK);
    assert_status(lfc_group_try_go(g, task_ok, NULL), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    assert_status(lfc_group_set_limit(g, LFC_GROUP_NO_LIMIT), LFC_OK);
    lfc_wg_free(c.gate);
    lfc_group_free(g);
}

/* ---- tasks starting tasks ----------------------------------------------- */

struct tree {
    lfc_group *g;
    int depth;
    int *count;         /* tasks that ran (atomic) */
    int fail_at;        /* the task numbered this returns an error */
    struct tree *nodes; /* one per task, preallocated */
    int *next;          /* next free node (atomic) */
    int max_nodes;
};

static int
task_tree(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    struct tree *t = arg;
    int me = __atomic_fetch_add(t->count, 1, __ATOMIC_RELAXED);
    if (t->depth > 0) {
        for (int i = 0; i < 2; i++) {
            int k = __atomic_fetch_add(t->next, 1, __ATOMIC_RELAXED);
            if (k >= t->max_nodes)
                return E_STUCK;
            t->nodes[k] = *t;
            t->nodes[k].depth = t->depth - 1;
            if (lfc_group_go(t->g, task_tree, &t->nodes[k]) != LFC_OK)
                return E_STUCK;
        }
    }
    return me == t->fail_at ? 13 : 0;
}

/* A binary tree of tasks, each starting its children with lfc_group_go
 * while the test thread is already in lfc_group_wait: wait joins them all. */
static void
test_group_tasks_start_tasks(void **state)
{
    (void)state;
    enum { DEPTH = 5, NODES = (1 << (DEPTH + 1)) - 1 };
    for (int fail = 0; fail <= 1; fail++) {
        lfc_group *g = lfc_group_new(lfc_ctx_background());
        assert_non_null(g);
        struct tree *nodes = calloc(NODES, sizeof(*nodes));
        assert_non_null(nodes);
        int count = 0;
        int next = 1;
        nodes[0] = (struct tree){.g = g,
                                 .depth = DEPTH,
                                 .count = &count,
                                 .fail_at = fail ? NODES - 1 : -1,
                                 .nodes = nodes,
                                 .next = &next,
                                 .max_nodes = NODES};
        assert_status(lfc_group_go(g, task_tree, &nodes[0]), LFC_OK);
        assert_int_equal(lfc_group_wait(g), fail ? 13 : 0);
        assert_int_equal(count, NODES);
        assert_true(no_group_threads_left());
        lfc_group_free(g);
        free(nodes);
    }
}

/* A task that starts another after a pause, when wait has probably taken
 * the list already (no condition says so: wait sleeps in pthread_join):
 * wait joins the late one whether it started before or after that. */
struct late_parent {
    lfc_group *g;
    struct slot child;
    int go_rc;
};

static int
task_late_parent(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    struct late_parent *p = arg;
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    p->child.sleep_ns = LFC_TEST_SETTLE_NS;
    p->go_rc = lfc_group_go(p->g, task_write, &p->child);
    return 0;
}

static void
test_group_wait_joins_late_started_task(void **state)
{
    (void)state;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    struct late_parent p = {.g = g};
    assert_status(lfc_group_go(g, task_late_parent, &p), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    assert_status(p.go_rc, LFC_OK);
    assert_int_equal(p.child.value, 42); /* ordered by the join */
    lfc_group_free(g);
}

/* ---- threads ------------------------------------------------------------ */

/* Each task runs on a thread named "lfc-group"; after wait none is left. */
static void
test_group_wait_joins_all_threads(void **state)
{
    (void)state;
    enum { N = 5 };
    assert_true(no_group_threads_left()); /* from earlier tests */
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    struct counted c = {0};
    c.gate = gate_new();
    for (int i = 0; i < N; i++)
        assert_status(lfc_group_go(g, task_counted, &c), LFC_OK);
    assert_true(wait_at_least(&c.ran, N, STUCK_NS));
    /* Each thread names itself as it starts: give them a moment. */
    int64_t end = lfc_test_now_ns() + STUCK_NS;
    while (lfc_test_count_threads_named("lfc-group") < N &&
           lfc_test_now_ns() < end)
        lfc_test_sleep_ns(MS);
    assert_int_equal(lfc_test_count_threads_named("lfc-group"), N);
    assert_status(lfc_wg_done(c.gate), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    assert_true(no_group_threads_left());
    lfc_wg_free(c.gate);
    lfc_group_free(g);
}

/* free without wait waits: the tasks have finished when it returns. */
static void
test_group_free_without_wait_joins(void **state)
{
    (void)state;
    enum { N = 6 };
    struct slot s[N];
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    assert_status(lfc_group_set_limit(g, 4), LFC_OK);
    for (int i = 0; i < N; i++) {
        s[i] = (struct slot){0, 10 * MS};
        assert_status(lfc_group_go(g, task_write, &s[i]), LFC_OK);
    }
    lfc_group_free(g);
    for (int i = 0; i < N; i++)
        assert_int_equal(s[i].value, 42);
    assert_true(no_group_threads_left());

    /* With a failing task: its sibling waits for the cancellation that
     * the failure brings. (free, like wait, joins before it cancels the
     * group's context, so a task that waited for that alone would never
     * finish, as in Go.) */
    g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    struct follower f = {.saw_err = 1, .ret = 0};
    assert_status(lfc_group_go(g, task_follow, &f), LFC_OK);
    assert_status(lfc_group_go(g, task_return, (void *)(intptr_t)5), LFC_OK);
    lfc_group_free(g);
    assert_status(f.saw_err, LFC_CANCELED);
    assert_true(no_group_threads_left());
}

/* Many short tasks under a small limit: all run, none is lost, and the
 * group's bookkeeping survives the churn. */
static void
test_group_many_tasks_with_limit(void **state)
{
    (void)state;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    assert_status(lfc_group_set_limit(g, 4), LFC_OK);
    int n = (int)lfc_test_scaled(400, 50);
    struct slot *s = calloc((size_t)n, sizeof(*s));
    assert_non_null(s);
    for (int i = 0; i < n; i++)
        assert_status(lfc_group_go(g, task_write, &s[i]), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(s[i].value, 42);
    free(s);
    lfc_group_free(g);
    assert_true(no_group_threads_left());
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks: helpers note when they sleep. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_bad_args),
        cmocka_unit_test(test_group_empty_wait_returns_zero),
        cmocka_unit_test(test_group_all_succeed_returns_zero),
        cmocka_unit_test(test_group_first_error_returned_and_cancels_rest),
        cmocka_unit_test(test_group_error_cancels_ctx_before_wait),
        cmocka_unit_test(test_group_simultaneous_errors_one_wins),
        cmocka_unit_test(test_group_parent_cancel_cancels_tasks),
        cmocka_unit_test(test_group_parent_deadline_reaches_tasks),
        cmocka_unit_test(test_group_limit_never_exceeded),
        cmocka_unit_test(test_group_try_go_again_at_limit),
        cmocka_unit_test(test_group_set_limit_while_running_einval),
        cmocka_unit_test(test_group_tasks_start_tasks),
        cmocka_unit_test(test_group_wait_joins_late_started_task),
        cmocka_unit_test(test_group_wait_joins_all_threads),
        cmocka_unit_test(test_group_free_without_wait_joins),
        cmocka_unit_test(test_group_many_tasks_with_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
