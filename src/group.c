/* SPDX-License-Identifier: MIT */
/*
 * Error groups. Depends on: ctx.c (the group's context), sem.c (the
 * limit).
 *
 * Design: every task is a record {fn, arg, thread} on a list under the
 * group's mutex; its thread runs fn with the group's context, records the
 * first non-zero result with one CAS on `err` (the winner cancels the
 * context), and releases its permit of the limit semaphore, if any.
 * lfc_group_wait takes the whole list under the mutex and joins each
 * thread, repeating until the list stays empty (tasks may start tasks).
 * Joining, not a counter, is what waits: when wait returns, no thread of
 * the group is left. `running` counts started, unjoined tasks, so that
 * set_limit can refuse to change the limit under running tasks.
 *
 * Field table:
 *   | field        | written by                | read by        | order  |
 *   |--------------|---------------------------|----------------|--------|
 *   | err          | first failing task (CAS)  | wait (after    | acqrel |
 *   |              |                           | joins)         |        |
 *   | tasks, running | go, wait (under mu)     | same           | mutex  |
 *   | sem          | set_limit (no task runs)  | go, tasks      | join / |
 *   |              |                           |                | mutex  |
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "lfchan/group.h"
#include "lfchan/sem.h"
#include "lfc_atomic.h"
#include "lfc_common.h"

struct task {
    struct task *next;
    lfc_group *g;
    lfc_group_fn fn;
    void *arg;
    pthread_t thread;
};

struct lfc_group {
    lfc_ctx *ctx;
    lfc_sem *sem; /* the limit, or NULL */
    uint32_t err; /* an int: first non-zero result; CAS from 0 */
    pthread_mutex_t mu;
    struct task *tasks; /* started, not yet joined; under mu */
    long running;       /* same count; under mu */
};

lfc_group *
lfc_group_new(lfc_ctx *parent)
{
    if (!parent) {
        errno = EINVAL;
        return NULL;
    }
    lfc_group *g = calloc(1, sizeof(*g));
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->ctx = lfc_ctx_with_cancel(parent);
    if (!g->ctx) {
        free(g);
        return NULL; /* errno from lfc_ctx_with_cancel */
    }
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

lfc_ctx *
lfc_group_ctx(lfc_group *g)
{
    return g ? g->ctx : NULL;
}

int
lfc_group_set_limit(lfc_group *g, int limit)
{
    if (!g || limit == 0 || limit < LFC_GROUP_NO_LIMIT)
        return LFC_EINVAL;
    lfc_sem *sem = NULL;
    if (limit > 0 && !(sem = lfc_sem_new(limit)))
        return LFC_ENOMEM;
    pthread_mutex_lock(&g->mu);
    if (g->running != 0) {
        pthread_mutex_unlock(&g->mu);
        lfc_sem_free(sem);
        return LFC_EINVAL;
    }
    lfc_sem_free(g->sem);
    g->sem = sem; /* go() reads it under mu, tasks after being started */
    pthread_mutex_unlock(&g->mu);
    return LFC_OK;
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
    return NULL;
}

static int
start(lfc_group *g, lfc_group_fn fn, void *arg, bool block)
{
    if (!g || !fn)
        return LFC_EINVAL;
    pthread_mutex_lock(&g->mu);
    lfc_sem *sem = g->sem;
    pthread_mutex_unlock(&g->mu);
    if (sem) {
        int r = block ? lfc_sem_acquire(sem, 1) : lfc_sem_try_acquire(sem, 1);
        if (r != LFC_OK)
            return r;
    }
    struct task *t = malloc(sizeof(*t));
    if (!t) {
        if (sem)
            lfc_sem_release(sem, 1);
        return LFC_ENOMEM;
    }
    t->g = g;
    t->fn = fn;
    t->arg = arg;
    pthread_mutex_lock(&g->mu);
    /* Created under mu: the task is on the list before wait can look. */
    if (pthread_create(&t->thread, NULL, task_main, t) != 0) {
        pthread_mutex_unlock(&g->mu);
        free(t);
        if (sem)
            lfc_sem_release(sem, 1);
        return LFC_ENOMEM;
    }
    t->next = g->tasks;
    g->tasks = t;
    g->running++;
    pthread_mutex_unlock(&g->mu);
    return LFC_OK;
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

int
lfc_group_wait(lfc_group *g)
{
    if (!g)
        return LFC_EINVAL;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        struct task *list = g->tasks;
        g->tasks = NULL;
        pthread_mutex_unlock(&g->mu);
        if (!list)
            break;
        while (list) {
            struct task *t = list;
            list = t->next;
            pthread_join(t->thread, NULL);
            free(t);
            pthread_mutex_lock(&g->mu);
            g->running--;
            pthread_mutex_unlock(&g->mu);
        }
    }
    lfc_ctx_cancel(g->ctx);
    /* ORDER acq: the joins already order the tasks' writes before us. */
    return (int)lfc_load_acq_u32(&g->err);
}

void
lfc_group_free(lfc_group *g)
{
    if (!g)
        return;
    lfc_group_wait(g);
    lfc_ctx_free(g->ctx);
    lfc_sem_free(g->sem);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
