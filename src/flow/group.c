/* SPDX-License-Identifier: MIT */
/*
 * Error groups. Depends on: ctx.c (the group's context), sem.c (the
 * limit), lfc_fork.h.
 *
 * Design: every task is a record {fn, arg, thread} on a list under the
 * group's mutex; its thread runs fn with the group's context, records the
 * first non-zero result with one CAS on `err` (the winner cancels the
 * context), and releases its permit of the limit semaphore, if any.
 * lfc_group_wait takes the whole list under the mutex and joins each
 * thread, repeating until `running` is 0 (tasks may start tasks; a second
 * waiter sleeps on `idle` while the first joins). Joining is what waits:
 * when wait returns, no thread of the group is left. `running` counts
 * tasks from the start of lfc_group_go (before it waits for the limit)
 * until they are joined, so set_limit refuses to swap the semaphore under
 * anyone. Each go first joins the tasks that have finished (their last
 * act is a release store of `finished`), so without a wait the threads
 * alive stay near the limit.
 *
 * Fork: in a child forked after the group was created, its task threads
 * do not exist (a join would never return, and mu may be held by a parent
 * thread that is gone). go, try_go, set_limit and wait compare the fork
 * generation recorded at creation and return LFC_EINVAL; free releases
 * the records, the semaphore and the context without joining, and leaves
 * mu and idle alone (destroying a condition variable with waiters that no
 * longer exist may block).
 *
 * Cancellation: wait, free, go, try_go and set_limit call pthread_join
 * or pthread_cond_wait, which are cancellation points, while the group's
 * state is half updated (a taken list, a running count). They run with
 * cancellation disabled (lfc__nocancel_begin), so a cancelled caller
 * completes the call and acts on the request at its next cancellation
 * point after returning. The semaphore wait of go is a futex wait, which
 * never acts on one anyway.
 *
 * Field table:
 *   | field        | written by                | read by        | order  |
 *   |--------------|---------------------------|----------------|--------|
 *   | err          | first failing task (CAS)  | wait (after    | acqrel |
 *   |              |                           | joins)         |        |
 *   | tasks, running | go, wait (under mu)     | same           | mutex  |
 *   | sem          | set_limit (no task runs)  | go, tasks      | join / |
 *   |              |                           |                | mutex  |
 *   | fork_gen     | lfc_group_new             | every call     | -      |
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "lfchan/group.h"
#include "lfchan/sem.h"
#include "lfc_atomic.h"
#include "lfc_common.h"
#include "lfc_fork.h"

struct task {
    struct task *next;
    lfc_group *g;
    lfc_group_fn fn;
    void *arg;
    pthread_t thread;
    uint32_t finished; /* set by the task's thread as its last act */
};

struct lfc_group {
    lfc_ctx *ctx;
    lfc_sem *sem; /* the limit, or NULL; under mu (and stable while
                     running != 0) */
    uint32_t err; /* an int: first non-zero result; CAS from 0 */
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when running drops to 0 */
    struct task *tasks;  /* started, not yet joined; under mu */
    long running;        /* tasks being started or not yet joined; mu */
    uint32_t fork_gen;   /* lfc__fork_gen() at creation; read-only */
};

/* Whether g was made by the process this child was forked from. */
static bool
forked(const lfc_group *g)
{
    return lfc__forked_since(g->fork_gen);
}

lfc_group *
lfc_group_new(lfc_ctx *parent)
{
    if (!parent) {
        errno = EINVAL;
        return NULL;
    }
    lfc_group *g = calloc(1, sizeof(*g));
    if (!g || lfc__fork_watch() != 0) {
        free(g);
        errno = ENOMEM;
        return NULL;
    }
    g->fork_gen = lfc__fork_gen();
    g->ctx = lfc_ctx_with_cancel(parent);
    if (!g->ctx) {
        free(g);
        return NULL; /* errno from lfc_ctx_with_cancel */
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->idle, NULL);
    return g;
}

lfc_ctx *
lfc_group_ctx(lfc_group *g)
{
    return g ? g->ctx : NULL;
}

/* One task fewer; wake waiters at zero. Under mu. */
static void
drop_running(lfc_group *g)
{
    if (--g->running == 0)
        pthread_cond_broadcast(&g->idle);
}

/* Join the tasks whose threads have finished (a bounded wait: they only
 * have to exit). Keeps the number of threads near the limit when nobody
 * calls wait. Under mu. */
static void
reap_finished(lfc_group *g)
{
    struct task **link = &g->tasks;
    while (*link) {
        struct task *t = *link;
        /* ORDER acq: pairs with the task's release store; its work is
         * done (the join orders it anyway). */
        if (!lfc_load_acq_u32(&t->finished)) {
            link = &t->next;
            continue;
        }
        *link = t->next;
        pthread_join(t->thread, NULL);
        free(t);
        drop_running(g);
    }
}

int
lfc_group_set_limit(lfc_group *g, int limit)
{
    if (!g || limit == 0 || limit < LFC_GROUP_NO_LIMIT || forked(g))
        return LFC_EINVAL;
    lfc_sem *sem = NULL;
    if (limit > 0 && !(sem = lfc_sem_new(limit)))
        return LFC_ENOMEM;
    int cs = lfc__nocancel_begin(); /* reap_finished joins */
    int r = LFC_OK;
    pthread_mutex_lock(&g->mu);
    reap_finished(g);
    if (g->running != 0) {
        r = LFC_EINVAL;
    } else {
        lfc_sem_free(g->sem);
        g->sem = sem;
        sem = NULL;
    }
    pthread_mutex_unlock(&g->mu);
    lfc__nocancel_end(cs);
    lfc_sem_free(sem); /* the one not installed, if any */
    return r;
}

static void *
task_main(void *arg)
{
    struct task *t = arg;
    lfc_group *g = t->g;
    pthread_setname_np(pthread_self(), "lfc-group");
    int r = t->fn(g->ctx, t->arg);
    if (r != 0) {
        uint32_t none = 0;
        /* ORDER acqrel: the first error wins; release orders it before
         * the cancellation below (wait reads it after joining anyway). */
        if (lfc_cas_acqrel_u32(&g->err, &none, (uint32_t)r))
            lfc_ctx_cancel(g->ctx);
    }
    if (g->sem)
        lfc_sem_release(g->sem, 1);
    /* ORDER rel: our last act; the reaper's acquire load then joins. */
    lfc_store_rel_u32(&t->finished, 1);
    return NULL;
}

static int
start(lfc_group *g, lfc_group_fn fn, void *arg, bool block)
{
    if (!g || !fn || forked(g))
        return LFC_EINVAL;
    struct task *t = malloc(sizeof(*t));
    if (!t)
        return LFC_ENOMEM;
    t->g = g;
    t->fn = fn;
    t->arg = arg;
    t->finished = 0;

    int cs = lfc__nocancel_begin(); /* reap_finished joins */
    pthread_mutex_lock(&g->mu);
    reap_finished(g);
    g->running++; /* counted from now: set_limit keeps the sem alive */
    lfc_sem *sem = g->sem;
    pthread_mutex_unlock(&g->mu);

    int r = LFC_OK;
    if (sem)
        r = block ? lfc_sem_acquire(sem, 1) : lfc_sem_try_acquire(sem, 1);
    pthread_mutex_lock(&g->mu);
    /* Created under mu: the task is on the list before wait can look. */
    if (r == LFC_OK && pthread_create(&t->thread, NULL, task_main, t) != 0) {
        if (sem)
            lfc_sem_release(sem, 1);
        r = LFC_ENOMEM;
    }
    if (r == LFC_OK) {
        t->next = g->tasks;
        g->tasks = t;
    } else {
        drop_running(g);
        free(t);
    }
    pthread_mutex_unlock(&g->mu);
    lfc__nocancel_end(cs);
    return r;
}

int
lfc_group_go(lfc_group *g, lfc_group_fn fn, void *arg)
{
    return start(g, fn, arg, true);
}

int
lfc_group_try_go(lfc_group *g, lfc_group_fn fn, void *arg)
{
    return start(g, fn, arg, false);
}

/* lfc_group_wait, with cancellation already disabled. */
static int
group_wait(lfc_group *g)
{
    pthread_mutex_lock(&g->mu);
    /* Woken by drop_running() at zero; every return rechecks. */
    while (g->running != 0) {
        struct task *list = g->tasks;
        g->tasks = NULL;
        if (!list) {
            /* Being started, or being joined by another waiter. */
            pthread_cond_wait(&g->idle, &g->mu);
            continue;
        }
        pthread_mutex_unlock(&g->mu);
        for (struct task *t = list; t; t = list) {
            list = t->next;
            pthread_join(t->thread, NULL);
            free(t);
            pthread_mutex_lock(&g->mu);
            drop_running(g);
            pthread_mutex_unlock(&g->mu);
        }
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    lfc_ctx_cancel(g->ctx);
    /* ORDER acq: the joins already order the tasks' writes before us. */
    return (int)lfc_load_acq_u32(&g->err);
}

int
lfc_group_wait(lfc_group *g)
{
    if (!g || forked(g))
        return LFC_EINVAL;
    /* Not a cancellation point: a waiter cancelled in the join or the
     * condition wait would leave the list it took unjoined, and every
     * later wait asleep on idle. */
    int cs = lfc__nocancel_begin();
    int r = group_wait(g);
    lfc__nocancel_end(cs);
    return r;
}

void
lfc_group_free(lfc_group *g)
{
    if (!g)
        return;
    if (forked(g)) {
        /* A forked child: the task threads do not exist here, nobody may
         * join them; mu and idle may be held or waited on by threads gone
         * with the fork, so they are left alone. */
        for (struct task *t = g->tasks, *next; t; t = next) {
            next = t->next;
            free(t);
        }
        lfc_ctx_free(g->ctx);
        lfc_sem_free(g->sem);
        free(g);
        return;
    }
    int cs = lfc__nocancel_begin();
    group_wait(g);
    lfc_ctx_free(g->ctx);
    lfc_sem_free(g->sem);
    pthread_cond_destroy(&g->idle);
    pthread_mutex_destroy(&g->mu);
    free(g);
    lfc__nocancel_end(cs);
}
