/* SPDX-License-Identifier: MIT */
/*
 * lfchan worker pools: a fixed set of threads running submitted tasks.
 *
 *   lfc_pool *pool = lfc_pool_new(4, 256);   (4 workers, 256 queued tasks)
 *   lfc_pool_submit(pool, work, &item);      (blocks while the queue is full)
 *   lfc_pool_wait(pool);                     (every task submitted so far ran)
 *   lfc_pool_free(pool);                     (runs what is queued, joins)
 *
 * A task is a function and its argument, `fn(arg)`. Submitted tasks wait
 * in a bounded queue, which is an lfchan channel (lfchan/chan.h): workers
 * block in a receive on it, so an idle pool's threads are parked on a
 * futex after the channel's short bounded spin, and never poll. A full
 * queue pushes back on submitters: lfc_pool_submit blocks, lfc_pool_try_
 * submit returns LFC_AGAIN, lfc_pool_submit_until and lfc_pool_submit_ctx
 * give up at a deadline or on cancellation. A queue capacity of 0 makes
 * the queue unbuffered: a submit then hands its task directly to an idle
 * worker, and blocks while every worker is busy.
 *
 * Tasks run in no particular order across workers (one worker takes them
 * in queue order, but several run at once). Workers are named
 * "<prefix>-<index>" (pthread_setname_np; "lfc-pool-0", ... by default,
 * truncated to the kernel's 15 characters), run with every signal
 * blocked (process-directed signals go to the application's threads), and
 * may be pinned to CPUs (struct lfc_pool_opts).
 *
 * Ending a pool:
 *   - lfc_pool_free: graceful. Closes the queue to new tasks, lets the
 *     workers run every task already queued, joins them, frees the pool.
 *   - lfc_pool_shutdown_now: closes the queue, lets running tasks finish,
 *     and hands every accepted task that has not started to a callback
 *     instead of running it, then joins the workers. The pool stays
 *     allocated (lfc_pool_stats, lfc_pool_wait still work; submits return
 *     LFC_CLOSED) until lfc_pool_free.
 *   Nothing is dropped silently: every task whose submit returned LFC_OK
 *   either runs exactly once or, after lfc_pool_shutdown_now, is handed to
 *   its callback exactly once. A submit that returns anything else queued
 *   nothing, and its task will never run.
 *
 * Threads:
 *
 *   | call                      | may race with                             |
 *   |---------------------------|-------------------------------------------|
 *   | lfc_pool_submit, _try_,   | every call but lfc_pool_free; from tasks  |
 *   | _until, _ctx              | of the pool, also with lfc_pool_free      |
 *   | lfc_pool_wait             | every call but lfc_pool_free; not from a  |
 *   |                           | task or drop callback of the same pool    |
 *   | lfc_pool_stats            | every call but lfc_pool_free; from tasks  |
 *   |                           | of the pool, also with lfc_pool_free      |
 *   | lfc_pool_shutdown_now     | every call but lfc_pool_free; not from a  |
 *   |                           | task of the same pool                     |
 *   | lfc_pool_free             | only the pool's own tasks (which may call |
 *   |                           | submit and stats); nothing from another   |
 *   |                           | thread may be in progress or follow it    |
 *
 * Ordering (what users may rely on):
 *   - A submit that returns LFC_OK happens-before its task runs (or is
 *     handed to the drop callback): whatever the submitter wrote before,
 *     the task sees.
 *   - The completion of every task whose submit returned before
 *     lfc_pool_wait was called happens-before lfc_pool_wait returns (for a
 *     task handed back by lfc_pool_shutdown_now: the return of its drop
 *     callback).
 *   - Every task's completion happens-before lfc_pool_free and
 *     lfc_pool_shutdown_now return (all workers have been joined).
 *   - Once lfc_pool_shutdown_now or lfc_pool_free has begun closing the
 *     queue, every submit returns LFC_CLOSED, including one that was
 *     blocked on a full queue.
 *
 * fork(): a child has none of the pool's workers (fork copies only the
 * calling thread). In a child forked after the pool was created, every
 * submit, lfc_pool_wait and lfc_pool_shutdown_now return LFC_EINVAL and
 * queue (or wait for, or hand back) nothing; lfc_pool_stats reads the
 * counters as they were at the fork; lfc_pool_free only frees the
 * child's copy of the pool: it closes nothing, runs and hands back
 * nothing (the tasks still queued belong to the parent's pool, which runs
 * them) and joins nothing, so it never blocks. The child may create and
 * use pools of its own.
 *
 * pthread_cancel: no pool function is a cancellation point. A thread
 * cancelled while in lfc_pool_free, lfc_pool_shutdown_now (drop callbacks
 * included: they run with cancellation disabled) or lfc_pool_new_opts
 * finishes the call, and acts on the request at its next cancellation
 * point after returning. Submits and waits park on futexes, which never
 * act on a cancel request: a cancelled submitter's task is queued (and
 * runs) once there is room, a cancelled waiter returns once the tasks
 * finished (chan.h, "Cancellation"). Cancelling a worker (from its own
 * task) is not supported.
 *
 * Contract violations (bugs, not statuses): using a pool after
 * lfc_pool_free; calling lfc_pool_free while a call on the pool from
 * another thread is in progress (a blocked submit or wait included);
 * calling lfc_pool_free from one of the pool's own tasks (it aborts with a
 * message: a worker cannot join itself).
 *
 * Deadlocks the pool cannot detect: tasks that block in lfc_pool_submit on
 * their own pool's full (or unbuffered) queue can leave no worker to drain
 * it; tasks should use lfc_pool_try_submit on their own pool. Tasks of two
 * pools waiting on each other (lfc_pool_wait) can deadlock likewise.
 */
#ifndef LFC_POOL_H
#define LFC_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_pool lfc_pool;

/* A task: the pool calls fn(arg) once on one of its workers. */
typedef void (*lfc_pool_task_fn)(void *arg);

/*
 * A drop callback for lfc_pool_shutdown_now: called once for each accepted
 * task that will not run, with the task's fn and arg and the user pointer
 * given to lfc_pool_shutdown_now (to free arg, log, or resubmit elsewhere).
 */
typedef void (*lfc_pool_drop_fn)(lfc_pool_task_fn fn, void *arg, void *user);

/* The most workers one pool may have. */
#define LFC_POOL_MAX_WORKERS 65536u

/* Options for lfc_pool_new_opts. Zero-initialise, then set what you need. */
struct lfc_pool_opts {
    unsigned workers;      /* worker threads, 1 .. LFC_POOL_MAX_WORKERS */
    size_t queue_capacity; /* tasks the queue holds (0 = unbuffered), up to
                              LFC_CHAN_MAX_CAP */
    const char *name;      /* thread name prefix: workers are named
                              "<name>-<index>", the prefix truncated so the
                              whole fits in 15 characters; NULL or "" means
                              "lfc-pool". Copied: need not outlive the call */
    const int *cpus;       /* NULL: no pinning. Otherwise ncpus CPU numbers;
                              worker i runs only on cpus[i % ncpus]. Copied */
    size_t ncpus;          /* entries in cpus; 0 exactly when cpus is NULL */
};

/* A snapshot of a pool's counters (lfc_pool_stats). */
struct lfc_pool_stats {
    uint64_t submitted; /* submits that returned LFC_OK, ever */
    uint64_t completed; /* tasks that ran and returned, ever */
    uint64_t queued;    /* accepted tasks not yet started nor handed back */
    uint64_t running;   /* tasks running now */
    uint64_t dropped;   /* tasks handed back by lfc_pool_shutdown_now */
};

/*
 * lfc_pool_new - a pool of `workers` threads and a queue of
 * queue_capacity tasks (0: unbuffered), with default options.
 *
 * The same as lfc_pool_new_opts with only workers and queue_capacity set.
 * Returns, Blocks, Threads: as lfc_pool_new_opts.
 */
LFC_API lfc_pool *lfc_pool_new(unsigned workers, size_t queue_capacity);

/*
 * lfc_pool_new_opts - a pool configured by opts.
 *
 * Every worker is started, named and (if asked) pinned before this
 * returns.
 * Returns: the pool, or NULL with errno EINVAL (opts NULL, workers 0 or
 * above LFC_POOL_MAX_WORKERS, queue_capacity above LFC_CHAN_MAX_CAP,
 * cpus and ncpus disagreeing about NULL and 0, a negative CPU number or
 * one the system cannot pin to) or ENOMEM (memory, or a thread could not
 * be created, or the fork handler could not be registered with
 * pthread_atfork). On failure no thread is left running.
 * Blocks: never (it starts threads). Threads: any.
 */
LFC_API lfc_pool *lfc_pool_new_opts(const struct lfc_pool_opts *opts);

/*
 * lfc_pool_free - graceful shutdown, then release the pool.
 *
 * Closes the queue (every submit from now on, including those the pool's
 * running tasks make, returns LFC_CLOSED), waits for the workers to run
 * every task already queued, joins them and frees the pool. After
 * lfc_pool_shutdown_now it only frees. NULL is a no-op.
 * In a child forked after the pool was created: frees the child's copy
 * only (no close, no join, queued tasks neither run nor handed back;
 * see the file comment).
 * Returns: nothing. Blocks: until every queued task has run (never in a
 * forked child). Not a cancellation point: a cancelled caller completes
 * the free first.
 * Threads: see the table above; from one of the pool's own tasks (or a
 * drop callback) it aborts (contract violation).
 * Ordering: every task's completion happens-before the return.
 */
LFC_API void lfc_pool_free(lfc_pool *pool);

/*
 * lfc_pool_submit - queue fn(arg) to run on a worker.
 *
 * Returns: LFC_OK once the task is queued (unbuffered: once a worker has
 * taken it); LFC_CLOSED if lfc_pool_shutdown_now or lfc_pool_free began,
 * including while this call was blocked; LFC_EINVAL if pool or fn is NULL,
 * or in a child forked after the pool was created (no worker exists there
 * to run it). Anything but LFC_OK queued nothing.
 * Blocks: while the queue is full (unbuffered: until a worker is free to
 * take the task), until there is room or the pool is shut down.
 * Threads: see the table above. Ordering: LFC_OK happens-before the task
 * runs.
 */
LFC_API int lfc_pool_submit(lfc_pool *pool, lfc_pool_task_fn fn, void *arg);

/*
 * lfc_pool_try_submit - lfc_pool_submit that never waits for room.
 *
 * Returns: as lfc_pool_submit (LFC_EINVAL in a forked child too), plus
 * LFC_AGAIN if the queue is full (a shut-down pool gives LFC_CLOSED). On an unbuffered pool it succeeds only
 * if a worker is already parked waiting for a task (a worker that has just
 * finished one may still be spinning: LFC_AGAIN).
 * Blocks: never (on an unbuffered pool it waits the moment a parked worker
 * needs to copy the task).
 */
LFC_API int lfc_pool_try_submit(lfc_pool *pool, lfc_pool_task_fn fn, void *arg);

/*
 * lfc_pool_submit_until - lfc_pool_submit with an absolute CLOCK_MONOTONIC
 * deadline (lfc_now_ns() + ns; LFC_FOREVER for none).
 *
 * Returns: as lfc_pool_submit (LFC_EINVAL in a forked child too), plus
 * LFC_TIMEDOUT if the deadline passed before there was room (never
 * earlier; nothing queued). A deadline already past still queues the
 * task if lfc_pool_try_submit would.
 * Blocks: as lfc_pool_submit, at most until the deadline.
 */
LFC_API int lfc_pool_submit_until(lfc_pool *pool, lfc_pool_task_fn fn,
                                  void *arg, int64_t deadline_ns);

/*
 * lfc_pool_submit_ctx - lfc_pool_submit that gives up when ctx is
 * cancelled or its deadline passes.
 *
 * Returns: as lfc_pool_submit, plus LFC_CANCELED or LFC_TIMEDOUT
 * (lfc_ctx_err(ctx)) if ctx ended before there was room (nothing queued;
 * a ctx already ended wins over a free slot); LFC_EINVAL also if ctx is
 * NULL, and in a forked child as lfc_pool_submit.
 * Blocks: as lfc_pool_submit, until ctx ends at the latest.
 * Threads: as lfc_pool_submit; ctx must not be freed during the call.
 */
LFC_API int lfc_pool_submit_ctx(lfc_pool *pool, lfc_pool_task_fn fn, void *arg,
                                lfc_ctx *ctx);

/*
 * lfc_pool_wait - wait until every task submitted so far has finished.
 *
 * "So far": every submit that returned LFC_OK before this call began. A
 * task handed back by lfc_pool_shutdown_now counts as finished once its
 * drop callback has returned. Tasks submitted while it waits may finish
 * before it returns or after: it may wait for some of them too, but a
 * steady stream of new submits cannot keep it from returning (it is not
 * "wait until idle").
 * Returns: LFC_OK; LFC_EINVAL if pool is NULL or the caller is a task (or
 * drop callback) of this same pool, which would wait for itself, or in a
 * child forked after the pool was created (tasks outstanding at the fork
 * never finish there).
 * Blocks: until those tasks have finished. It parks; a finishing task pays
 * a store to its worker's own counter, a fence and one load (and a
 * wake-up system call only when a waiter is parked).
 * Concurrent waits are served one after the other.
 * Threads: see the table above.
 * Ordering: see the file comment.
 */
LFC_API int lfc_pool_wait(lfc_pool *pool);

/*
 * lfc_pool_shutdown_now - stop without running what is queued.
 *
 * Closes the queue (submits return LFC_CLOSED from now on, blocked ones
 * included), takes every task still queued and calls
 * dropped(fn, arg, user) for each, lets running tasks finish, joins the
 * workers, and returns. A task a worker dequeued concurrently either runs
 * or, if the worker sees the shutdown first, is handed back too. Every
 * accepted task runs exactly once or is handed back exactly once.
 * The callback runs only on the calling thread, before this returns, one
 * task at a time, while tasks that had started may still be running on
 * the workers. It may call lfc_pool_submit and lfc_pool_stats on this pool
 * (LFC_CLOSED; counters) and anything on other pools; lfc_pool_wait on
 * this pool from it returns LFC_EINVAL.
 * Returns: how many tasks were handed back (>= 0); LFC_CLOSED if the pool
 * was already shut down (by another call; nothing done); LFC_EINVAL if
 * pool or dropped is NULL, the caller is one of this pool's tasks (a
 * worker cannot join itself), or in a child forked after the pool was
 * created (nothing done).
 * Blocks: until running tasks finish and the workers have exited. Not a
 * cancellation point, callbacks included (they run with cancellation
 * disabled).
 * Threads: see the table above.
 * Ordering: every task's completion happens-before the return.
 */
LFC_API int64_t lfc_pool_shutdown_now(lfc_pool *pool, lfc_pool_drop_fn dropped,
                                      void *user);

/*
 * lfc_pool_stats - read the pool's counters into *out.
 *
 * Each field is exact in itself, but they are read one after the other,
 * not at one instant, so while tasks flow they may disagree a little
 * (queued is clamped at 0). When the pool is quiet (after lfc_pool_wait
 * with no submit in progress, or after lfc_pool_shutdown_now):
 * submitted == completed + queued + running + dropped.
 * In a child forked after the pool was created: the counters as the fork
 * copied them (they no longer move).
 * Returns: LFC_OK; LFC_EINVAL if pool or out is NULL.
 * Blocks: never (a few loads per worker). Threads: see the table above.
 */
LFC_API int lfc_pool_stats(lfc_pool *pool, struct lfc_pool_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* LFC_POOL_H */
