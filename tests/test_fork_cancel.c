/* SPDX-License-Identifier: MIT */
/*
 * fork() and pthread_cancel with the objects that run threads: pools,
 * error groups, mergers and fan-outs (README, "fork() and
 * pthread_cancel"; pool.h, group.h, merge.h).
 *
 * fork: the parent makes the object and uses it, then forks. The child
 * (watched by alarm()) gets LFC_EINVAL from every call that would need
 * the parent's threads, frees the parent's object without hanging, makes
 * a new one of its own and uses it, frees both and exits 0. The parent
 * waits for the child with a bound (kills it if it hangs), asserts exit
 * status 0, and goes on using its own object. Before the fix the child's
 * submit returned LFC_OK for a task that never ran, and the child's free
 * or wait hung (alarm).
 *
 * pthread_cancel: lfchan calls are not cancellation points. A thread
 * blocked in lfc_group_wait (in the join, or in the condition wait behind
 * another waiter), lfc_pool_free, lfc_merge_free or lfc_fanout_free is
 * cancelled; then what it waits for is released. The call completes (the
 * thread sets a flag after it), the thread is cancelled at its next
 * cancellation point (pthread_testcancel, after which it sets a flag that
 * must stay 0), and the object is consistent: a second lfc_group_wait
 * returns, the pool and merger are freed (ASan's leak check sees no
 * leak). Before the fix the thread died inside the join, the flag after
 * the call stayed 0, the next lfc_group_wait hung, and the pool leaked.
 *
 * Under ASan each child runs LeakSanitizer at its exit, which prints
 * "Running thread N was not suspended" for the parent's threads it still
 * lists: noise, not a failure (a leak would make the child exit non-zero).
 *
 * Rules kept here: cmocka assertions run only on the test's thread (and
 * never in a child: it reports through its exit status). Waits are for
 * conditions, each bounded; a watchdog aborts a test that stops making
 * progress, the binary runs under an alarm, and each child under its own.
 * Nothing about timing is asserted.
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lfc_test_support.h"
#include "lfchan.h"

#define MS ((int64_t)1000000)
#define SEC ((int64_t)1000000000)

/* How long anything the test expects to happen may take: 10 s, 30 s
 * under a sanitizer (lfc_test_timeout_mult), as in every other test. */
#define STUCK_NS LFC_TEST_STUCK_NS
/* How long a child may run before the parent kills it: scaled like the
 * child's alarm (lfc_test_alarm), so that it stays the longer of the two. */
#define CHILD_NS lfc_test_timeout_ns(60 * SEC)
/* The child's own alarm, in seconds (shorter: it reports a hang itself). */
#define CHILD_ALARM_S 30

/*
 * Whether a child may start threads. ThreadSanitizer does not support
 * threads started after a fork of a process that has threads: its
 * registry still lists the parent's threads, and a new thread that reuses
 * one's stack (glibc recycles them in the child) makes it die ("dup
 * thread with used id"). Under TSan the children check the statuses and
 * the frees of the parent's objects, but do not make objects of their
 * own; the plain and ASan builds do.
 */
#ifdef __SANITIZE_THREAD__
#define CHILD_MAY_START_THREADS 0
#else
#define CHILD_MAY_START_THREADS 1
#endif

/* ---- helpers ------------------------------------------------------------ */

static struct lfc_watchdog g_dog;
static unsigned long g_progress;

static int
dog_setup(void **state)
{
    (void)state;
    lfc_watchdog_start(&g_dog, "test_fork_cancel (the last [ RUN ] test)",
                       &g_progress, 20);
    return 0;
}

static int
dog_teardown(void **state)
{
    (void)state;
    lfc_watchdog_stop(&g_dog);
    return 0;
}

static void
bump(void)
{
    lfc_progress_bump(&g_progress);
}

/* Best effort: waits (bounded) until thread tid sleeps, so that the cancel
 * that follows finds it blocked inside the call. Valid either way: the
 * request is pending until the call returns. */
static void
wait_sleeping(pid_t tid)
{
    int64_t end = lfc_test_now_ns() + STUCK_NS;
    while (lfc_test_thread_state(tid) != 'S' && lfc_test_now_ns() < end)
        lfc_test_sleep_ns(MS / 4);
}

/*
 * Best effort: waits (bounded) until every other thread of the process
 * sleeps, so that none holds a lock of the allocator at the fork. glibc's
 * malloc takes its locks around fork, but ASan's allocator (gcc 12) does
 * not: a parent thread still in ASan's thread start (a pool's worker,
 * just created) can hold its lock at the fork, and the child's first new
 * thread then waits for it forever.
 */
static void
wait_others_asleep(void)
{
    int64_t end = lfc_test_now_ns() + STUCK_NS;
    pid_t self = gettid();
    for (;;) {
        bool all = true;
        DIR *d = opendir("/proc/self/task");
        if (!d)
            return;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            pid_t tid = (pid_t)atoi(e->d_name);
            if (tid > 0 && tid != self && lfc_test_thread_state(tid) != 'S')
                all = false;
        }
        closedir(d);
        if (all || lfc_test_now_ns() > end)
            return;
        lfc_test_sleep_ns(MS / 4);
    }
}

/* A release gate: tasks wait (bounded) until it is closed. */
static lfc_chan *
gate_new(void)
{
    lfc_chan *g = lfc_chan_new(0, 0);
    assert_non_null(g);
    return g;
}

/* Waits for the gate to close; whether it did (not the bound). */
static bool
gate_wait(lfc_chan *g)
{
    return lfc_recv_until(g, NULL, lfc_now_ns() + STUCK_NS) == LFC_CLOSED;
}

/* ---- fork: run a check in a child ---------------------------------------- */

/* A child check: 0 if every step held, else the number of the first step
 * that did not (it also says which on stderr). */
typedef int (*child_fn)(void *arg);

#define CHILD_CHECK(step, cond)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "child: step %d failed: %s\n", (step), #cond);     \
            return (step);                                                     \
        }                                                                      \
    } while (0)

/* Fork; the child runs fn(arg) under an alarm and exits with its result;
 * the parent waits (bounded: kills a hung child) and asserts exit 0. */
static void
run_in_child(child_fn fn, void *arg)
{
    wait_others_asleep();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lfc_test_alarm(CHILD_ALARM_S); /* a hang aborts the child */
        exit(fn(arg));
    }
    int status = 0;
    int64_t end = lfc_test_now_ns() + CHILD_NS;
    /* Polls: nothing else wakes us when the child ends. */
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        assert_true(r == 0);
        if (lfc_test_now_ns() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the child hung (killed after %lld s)",
                     (long long)(CHILD_NS / SEC));
        }
        bump();
        lfc_test_sleep_ns(MS);
    }
    if (WIFSIGNALED(status))
        fail_msg("the child died of signal %d (6: abort, e.g. its alarm)",
                 WTERMSIG(status));
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("the child failed at step %d", WEXITSTATUS(status));
}

/* ---- fork: pools --------------------------------------------------------- */

static void
count_task(void *arg)
{
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

static void
never_dropped(lfc_pool_task_fn fn, void *arg, void *user)
{
    (void)fn;
    (void)arg;
    (void)user;
}

struct pool_fork {
    lfc_pool *parent_pool;
    int count; /* bumped by count_task */
};

static int
pool_child(void *arg)
{
    struct pool_fork *pf = arg;
    lfc_pool *p = pf->parent_pool;
    int before = pf->count;

    /* The parent's pool: no worker exists here to run anything. */
    CHILD_CHECK(1, lfc_pool_submit(p, count_task, &pf->count) == LFC_EINVAL);
    CHILD_CHECK(2,
                lfc_pool_try_submit(p, count_task, &pf->count) == LFC_EINVAL);
    CHILD_CHECK(3, lfc_pool_submit_until(p, count_task, &pf->count,
                                         lfc_now_ns() + SEC) == LFC_EINVAL);
    CHILD_CHECK(4, lfc_pool_submit_ctx(p, count_task, &pf->count,
                                       lfc_ctx_background()) == LFC_EINVAL);
    CHILD_CHECK(5, lfc_pool_wait(p) == LFC_EINVAL);
    CHILD_CHECK(6, lfc_pool_shutdown_now(p, never_dropped, NULL) ==
                       LFC_EINVAL);
    struct lfc_pool_stats st;
    CHILD_CHECK(7, lfc_pool_stats(p, &st) == LFC_OK);
    CHILD_CHECK(8, st.completed == 1);

    if (CHILD_MAY_START_THREADS) {
        /* A pool of the child's own works. */
        lfc_pool *q = lfc_pool_new(2, 4);
        CHILD_CHECK(9, q != NULL);
        CHILD_CHECK(10, lfc_pool_submit(q, count_task, &pf->count) == LFC_OK);
        CHILD_CHECK(11, lfc_pool_wait(q) == LFC_OK);
        CHILD_CHECK(12, __atomic_load_n(&pf->count, __ATOMIC_RELAXED) ==
                            before + 1);
        lfc_pool_free(q);
    }
    (void)before;
    lfc_pool_free(p); /* the parent's: freed without joining; returns */
    return 0;
}

static void
test_fork_pool_child_gets_einval_and_new_pool_works(void **state)
{
    (void)state;
    struct pool_fork pf = {0};
    pf.parent_pool = lfc_pool_new(2, 8);
    assert_non_null(pf.parent_pool);
    assert_status(lfc_pool_submit(pf.parent_pool, count_task, &pf.count),
                  LFC_OK);
    assert_status(lfc_pool_wait(pf.parent_pool), LFC_OK);
    assert_int_equal(pf.count, 1);

    run_in_child(pool_child, &pf);

    /* The parent's pool is untouched by the child. */
    assert_status(lfc_pool_submit(pf.parent_pool, count_task, &pf.count),
                  LFC_OK);
    assert_status(lfc_pool_wait(pf.parent_pool), LFC_OK);
    assert_int_equal(__atomic_load_n(&pf.count, __ATOMIC_RELAXED), 2);
    lfc_pool_free(pf.parent_pool);
}

/* ---- fork: error groups -------------------------------------------------- */

static int
gated_task(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    return gate_wait(arg) ? 0 : 555;
}

static int
ok_task(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
    return 0;
}

struct group_fork {
    lfc_group *g; /* a task is running in it (in the parent) at the fork */
    int count;
};

static int
group_child(void *arg)
{
    struct group_fork *gf = arg;
    lfc_group *g = gf->g;

    CHILD_CHECK(1, lfc_group_go(g, ok_task, &gf->count) == LFC_EINVAL);
    CHILD_CHECK(2, lfc_group_try_go(g, ok_task, &gf->count) == LFC_EINVAL);
    CHILD_CHECK(3, lfc_group_set_limit(g, 2) == LFC_EINVAL);
    CHILD_CHECK(4, lfc_group_wait(g) == LFC_EINVAL);
    CHILD_CHECK(5, lfc_group_ctx(g) != NULL);

    if (CHILD_MAY_START_THREADS) {
        lfc_group *h = lfc_group_new(lfc_ctx_background());
        CHILD_CHECK(6, h != NULL);
        CHILD_CHECK(7, lfc_group_go(h, ok_task, &gf->count) == LFC_OK);
        CHILD_CHECK(8, lfc_group_wait(h) == 0);
        CHILD_CHECK(9, __atomic_load_n(&gf->count, __ATOMIC_RELAXED) == 1);
        lfc_group_free(h);
    }
    lfc_group_free(g); /* the parent's: freed without joining; returns */
    return 0;
}

static void
test_fork_group_child_gets_einval_and_new_group_works(void **state)
{
    (void)state;
    struct group_fork gf = {0};
    lfc_chan *gate = gate_new();
    gf.g = lfc_group_new(lfc_ctx_background());
    assert_non_null(gf.g);
    assert_status(lfc_group_go(gf.g, gated_task, gate), LFC_OK);

    run_in_child(group_child, &gf);

    assert_int_equal(gf.count, 0); /* the child's task ran in the child */
    lfc_close(gate);
    assert_int_equal(lfc_group_wait(gf.g), 0);
    lfc_group_free(gf.g);
    lfc_chan_free(gate);
}

/* ---- fork: mergers and fan-outs ------------------------------------------ */

struct merge_fork {
    lfc_merger *m;
    lfc_fanout *f;
};

static int
merge_child(void *arg)
{
    struct merge_fork *mf = arg;

    CHILD_CHECK(1, lfc_merge_stop(mf->m) == LFC_EINVAL);
    CHILD_CHECK(2, lfc_fanout_stop(mf->f) == LFC_EINVAL);
    lfc_merge_free(mf->m); /* the parent's: released, nothing joined */
    lfc_fanout_free(mf->f);
    if (!CHILD_MAY_START_THREADS)
        return 0;

    /* A merger of the child's own forwards. */
    lfc_chan *in = lfc_chan_new(2, sizeof(int));
    lfc_chan *out = lfc_chan_new(2, sizeof(int));
    CHILD_CHECK(3, in && out);
    lfc_merger *m = lfc_merge_new(&in, 1, out);
    CHILD_CHECK(4, m != NULL);
    int v = 42;
    CHILD_CHECK(5, lfc_send(in, &v) == LFC_OK);
    CHILD_CHECK(6, lfc_close(in) == LFC_OK);
    v = 0;
    CHILD_CHECK(7, lfc_recv_until(out, &v, lfc_now_ns() + STUCK_NS) ==
                       LFC_OK &&
                       v == 42);
    CHILD_CHECK(8, lfc_recv_until(out, &v, lfc_now_ns() + STUCK_NS) ==
                   LFC_CLOSED);
    CHILD_CHECK(9, lfc_merge_free(m) == 0);
    lfc_chan_free(in);
    lfc_chan_free(out);
    return 0;
}

static void
test_fork_merge_and_fanout_child_gets_einval_and_frees(void **state)
{
    (void)state;
    lfc_chan *in = lfc_chan_new(2, sizeof(int));
    lfc_chan *mid = lfc_chan_new(2, sizeof(int));
    lfc_chan *out = lfc_chan_new(2, sizeof(int));
    assert_true(in && mid && out);
    struct merge_fork mf;
    mf.m = lfc_merge_new(&in, 1, mid);
    assert_non_null(mf.m);
    mf.f = lfc_fanout_new(mid, &out, 1, LFC_FANOUT_ROUND_ROBIN);
    assert_non_null(mf.f);

    run_in_child(merge_child, &mf);

    /* The parent's pipeline still works, and ends as usual. */
    int v = 7;
    assert_status(lfc_send(in, &v), LFC_OK);
    assert_status(lfc_close(in), LFC_OK);
    v = 0;
    assert_status(lfc_recv_until(out, &v, lfc_now_ns() + STUCK_NS), LFC_OK);
    assert_int_equal(v, 7);
    assert_status(lfc_recv_until(out, &v, lfc_now_ns() + STUCK_NS),
                  LFC_CLOSED);
    assert_int_equal(lfc_merge_free(mf.m), 0);
    assert_int_equal(lfc_fanout_free(mf.f), 0);
    lfc_chan_free(in);
    lfc_chan_free(mid);
    lfc_chan_free(out);
}

/* ---- pthread_cancel ------------------------------------------------------ */

/* A thread that makes one blocking lfchan call, then reaches a
 * cancellation point. */
struct victim {
    pthread_t th;
    pid_t tid;
    int entered;  /* about to call */
    int returned; /* the call returned */
    int survived; /* passed pthread_testcancel: must stay 0 */
    int result;
    void (*call)(struct victim *);
    void *obj;
};

static void *
victim_main(void *arg)
{
    struct victim *v = arg;
    v->tid = gettid();
    lfc_test_store_int(&v->entered, 1);
    v->call(v);
    lfc_test_store_int(&v->returned, 1);
    bump();
    pthread_testcancel(); /* a pending request acts here */
    lfc_test_store_int(&v->survived, 1);
    return NULL;
}

static void
victim_start(struct victim *v, void (*call)(struct victim *), void *obj)
{
    memset(v, 0, sizeof(*v));
    v->call = call;
    v->obj = obj;
    assert_int_equal(pthread_create(&v->th, NULL, victim_main, v), 0);
    assert_true(lfc_test_wait_flag(&v->entered, STUCK_NS));
    wait_sleeping(v->tid);
}

/* Join the victim; it must have returned from its call and then been
 * cancelled at pthread_testcancel. */
static void
victim_check_cancelled_after_call(struct victim *v)
{
    void *ret = NULL;
    assert_int_equal(pthread_join(v->th, &ret), 0);
    assert_true(lfc_test_load_int(&v->returned)); /* the call completed */
    assert_ptr_equal(ret, PTHREAD_CANCELED);      /* then was cancelled */
    assert_false(lfc_test_load_int(&v->survived));
}

static void
call_group_wait(struct victim *v)
{
    v->result = lfc_group_wait(v->obj);
}

/* Cancelled while joining the task: the wait completes, and a later wait
 * returns at once. */
static void
test_cancel_group_wait_in_join(void **state)
{
    (void)state;
    lfc_chan *gate = gate_new();
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    assert_status(lfc_group_go(g, gated_task, gate), LFC_OK);

    struct victim v;
    victim_start(&v, call_group_wait, g);
    assert_int_equal(pthread_cancel(v.th), 0);
    lfc_close(gate); /* the task returns; the join can complete */
    victim_check_cancelled_after_call(&v);
    assert_int_equal(v.result, 0);

    assert_int_equal(lfc_group_wait(g), 0); /* no hang */
    assert_true(lfc_test_wait_no_threads_named("lfc-group", STUCK_NS));
    lfc_group_free(g);
    lfc_chan_free(gate);
}

/* Cancelled while in the condition wait behind another waiter that joins
 * the task: both waits complete (the cancelled one does not die holding
 * the group's mutex), and a third returns. */
static void
test_cancel_group_wait_behind_another_waiter(void **state)
{
    (void)state;
    lfc_chan *gate = gate_new();
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    assert_status(lfc_group_go(g, gated_task, gate), LFC_OK);

    struct victim first; /* takes the task list and joins */
    victim_start(&first, call_group_wait, g);
    struct victim second; /* finds the list empty: waits on `idle` */
    victim_start(&second, call_group_wait, g);
    assert_int_equal(pthread_cancel(second.th), 0);
    assert_int_equal(pthread_cancel(first.th), 0);
    lfc_close(gate);
    victim_check_cancelled_after_call(&second);
    assert_int_equal(second.result, 0);
    victim_check_cancelled_after_call(&first);
    assert_int_equal(first.result, 0);

    assert_int_equal(lfc_group_wait(g), 0);
    lfc_group_free(g);
    lfc_chan_free(gate);
}

/* The caller's cancellation state is what it was after the call. */
static void *
state_kept_main(void *arg)
{
    int *bad = arg;
    int old;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    lfc_pool *p = lfc_pool_new(1, 1);
    if (!g || !p) {
        *bad = 1;
        return NULL;
    }
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    lfc_group_wait(g);
    lfc_pool_wait(p);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    if (old != PTHREAD_CANCEL_DISABLE)
        *bad = 2;
    lfc_group_free(g);
    lfc_pool_free(p);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    if (old != PTHREAD_CANCEL_ENABLE)
        *bad = 3;
    return NULL;
}

static void
test_cancel_state_restored(void **state)
{
    (void)state;
    int bad = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, state_kept_main, &bad), 0);
    pthread_join(th, NULL);
    assert_int_equal(bad, 0);
}

struct gated {
    lfc_chan *gate;
    int started;
};

static void
gated_pool_task(void *arg)
{
    struct gated *gt = arg;
    lfc_test_store_int(&gt->started, 1);
    (void)gate_wait(gt->gate);
}

static void
call_pool_free(struct victim *v)
{
    lfc_pool_free(v->obj);
}

/* Cancelled while joining the workers: the free completes (the worker is
 * joined, the memory freed: ASan's leak check) and the thread is
 * cancelled after it. */
static void
test_cancel_pool_free(void **state)
{
    (void)state;
    struct lfc_pool_opts o = {.workers = 1, .queue_capacity = 2,
                              .name = "lfc-cxl"};
    lfc_pool *p = lfc_pool_new_opts(&o);
    assert_non_null(p);
    struct gated gt = {.gate = gate_new()};
    assert_status(lfc_pool_submit(p, gated_pool_task, &gt), LFC_OK);
    assert_true(lfc_test_wait_flag(&gt.started, STUCK_NS));

    struct victim v;
    victim_start(&v, call_pool_free, p);
    assert_int_equal(pthread_cancel(v.th), 0);
    lfc_close(gt.gate);
    victim_check_cancelled_after_call(&v);
    assert_true(lfc_test_wait_no_threads_named("lfc-cxl", STUCK_NS));
    lfc_chan_free(gt.gate);
}

static void
call_merge_free(struct victim *v)
{
    v->result = (int)lfc_merge_free(v->obj);
}

static void
call_fanout_free(struct victim *v)
{
    v->result = (int)lfc_fanout_free(v->obj);
}

/* Cancelled while lfc_merge_free waits for an open input: once the input
 * closes, the free completes, then the cancel acts. */
static void
test_cancel_merge_free(void **state)
{
    (void)state;
    lfc_chan *in = lfc_chan_new(1, 0);
    lfc_chan *out = lfc_chan_new(1, 0);
    assert_true(in && out);
    lfc_merger *m = lfc_merge_new(&in, 1, out);
    assert_non_null(m);

    struct victim v;
    victim_start(&v, call_merge_free, m);
    assert_int_equal(pthread_cancel(v.th), 0);
    lfc_close(in);
    victim_check_cancelled_after_call(&v);
    assert_int_equal(v.result, 0);
    assert_status(lfc_try_recv(out, NULL), LFC_CLOSED); /* it finished */
    assert_true(lfc_test_wait_no_threads_named("lfc-merge", STUCK_NS));
    lfc_chan_free(in);
    lfc_chan_free(out);
}

static void
test_cancel_fanout_free(void **state)
{
    (void)state;
    lfc_chan *in = lfc_chan_new(1, 0);
    lfc_chan *out = lfc_chan_new(1, 0);
    assert_true(in && out);
    lfc_fanout *f = lfc_fanout_new(in, &out, 1, LFC_FANOUT_BROADCAST);
    assert_non_null(f);

    struct victim v;
    victim_start(&v, call_fanout_free, f);
    assert_int_equal(pthread_cancel(v.th), 0);
    lfc_close(in);
    victim_check_cancelled_after_call(&v);
    assert_int_equal(v.result, 0);
    assert_status(lfc_try_recv(out, NULL), LFC_CLOSED);
    assert_true(lfc_test_wait_no_threads_named("lfc-fanout", STUCK_NS));
    lfc_chan_free(in);
    lfc_chan_free(out);
}

int
main(void)
{
    lfc_test_alarm(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_pool_child_gets_einval_and_new_pool_works),
        cmocka_unit_test(
            test_fork_group_child_gets_einval_and_new_group_works),
        cmocka_unit_test(
            test_fork_merge_and_fanout_child_gets_einval_and_frees),
        cmocka_unit_test(test_cancel_group_wait_in_join),
        cmocka_unit_test(test_cancel_group_wait_behind_another_waiter),
        cmocka_unit_test(test_cancel_state_restored),
        cmocka_unit_test(test_cancel_pool_free),
        cmocka_unit_test(test_cancel_merge_free),
        cmocka_unit_test(test_cancel_fanout_free),
    };
    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, dog_setup, dog_teardown);
}
