/* SPDX-License-Identifier: MIT */
/*
 * lfchan error groups: run tasks on their own threads, wait for all of
 * them, get the first error, and cancel the rest when one fails, after
 * Go's golang.org/x/sync/errgroup.
 *
 *   lfc_group *g = lfc_group_new(lfc_ctx_background());
 *   lfc_group_set_limit(g, 4);                (at most 4 at once)
 *   for each url: lfc_group_go(g, fetch, url);
 *   int err = lfc_group_wait(g);              (first non-zero result, or 0)
 *   lfc_group_free(g);
 *
 *   static int fetch(lfc_ctx *ctx, void *url)
 *   {   ... return an error (non-zero) to cancel the others, and give up
 *       early when lfc_ctx_done(ctx) closes (lfc_recv_ctx, select) ... }
 *
 * Each task gets the group's context, a child of the parent given to
 * lfc_group_new. It is cancelled when a task first returns non-zero (that
 * value is what lfc_group_wait returns), when lfc_group_wait returns, or
 * when the parent is cancelled.
 *
 * Threads: each task runs on a thread of its own (named "lfc-group").
 * With a limit, lfc_group_go blocks while that many tasks run (a
 * semaphore). Finished threads are joined by the next lfc_group_go or by
 * lfc_group_wait, so the threads alive stay near the limit. lfc_group_go,
 * lfc_group_try_go and lfc_group_wait may race with each other (tasks may
 * start more tasks; several threads may wait); lfc_group_set_limit
 * succeeds only while no task is running or being started;
 * lfc_group_free races with nothing.
 *
 * Ordering: everything a task did happens-before lfc_group_wait returns.
 *
 * fork(): in a child forked after the group was created, its task threads
 * do not exist. lfc_group_go, lfc_group_try_go, lfc_group_set_limit and
 * lfc_group_wait return LFC_EINVAL there (nothing started, nothing
 * joined); lfc_group_free only frees the child's copy (and the group's
 * context) without joining, so it never blocks; lfc_group_ctx still
 * returns the context. The child may create and use groups of its own.
 *
 * pthread_cancel: no group function is a cancellation point. A thread
 * cancelled while in lfc_group_wait (or lfc_group_free, lfc_group_go,
 * which may join finished tasks) completes the call, tasks joined and
 * state consistent, and acts on the request at its next cancellation
 * point after returning; the next lfc_group_wait works as usual.
 */
#ifndef LFC_GROUP_H
#define LFC_GROUP_H

#include "ctx.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_group lfc_group;

/* A task: returns 0 on success, anything else as its error. */
typedef int (*lfc_group_fn)(lfc_ctx *ctx, void *arg);

/* No limit on concurrent tasks (the default). */
#define LFC_GROUP_NO_LIMIT (-1)

/*
 * lfc_group_new - an empty group whose context is a child of parent.
 * Returns: the group; NULL with errno EINVAL (NULL parent) or ENOMEM
 * (memory, or the fork handler could not be registered).
 */
LFC_API lfc_group *lfc_group_new(lfc_ctx *parent);

/* The group's context (owned by the group; valid until lfc_group_free). */
LFC_API lfc_ctx *lfc_group_ctx(lfc_group *g);

/*
 * lfc_group_set_limit - allow at most limit (>= 1) tasks at once, or
 * LFC_GROUP_NO_LIMIT.
 * Returns: LFC_OK; LFC_EINVAL (unchanged) for NULL, limit 0 or below -1,
 * while a task is running or being started, or in a child forked after g
 * was created; LFC_ENOMEM (no memory for the limit's semaphore; the
 * limit is unchanged).
 */
LFC_API int lfc_group_set_limit(lfc_group *g, int limit);

/*
 * lfc_group_go - run fn(ctx, arg) on a new thread, waiting first while the
 * limit is reached.
 * Returns: LFC_OK (started); LFC_EINVAL (NULL g or fn, or in a child
 * forked after g was created: fn does not run); LFC_ENOMEM (no memory or
 * no thread: fn does not run, the limit's permit it waited for is given
 * back, and lfc_group_wait does not count it).
 * Not a cancellation point (it may join finished tasks).
 */
LFC_API int lfc_group_go(lfc_group *g, lfc_group_fn fn, void *arg);

/* As lfc_group_go (LFC_EINVAL in a forked child too), but LFC_AGAIN (fn
 * does not run) at the limit. */
LFC_API int lfc_group_try_go(lfc_group *g, lfc_group_fn fn, void *arg);

/*
 * lfc_group_wait - wait for every task started so far (and those they
 * start) to return, join their threads, and cancel the group's context.
 * Returns: the first non-zero value a task returned, or 0 (LFC_OK);
 * LFC_EINVAL for NULL, or in a child forked after g was created (its
 * threads do not exist there; nothing joined). A task that returns
 * LFC_EINVAL itself is not told apart from these.
 * Not a cancellation point: a cancelled caller still joins every task and
 * returns; the request is acted on at its next cancellation point.
 */
LFC_API int lfc_group_wait(lfc_group *g);

/* Wait (as lfc_group_wait) and free the group and its context. NULL is a
 * no-op. In a child forked after g was created: frees without waiting or
 * joining. Not a cancellation point. */
LFC_API void lfc_group_free(lfc_group *g);

#ifdef __cplusplus
}
#endif

#endif /* LFC_GROUP_H */
