/* SPDX-License-Identifier: MIT */
/*
 * lfchan semaphores: counting and weighted, first-come-first-served, after
 * Go's golang.org/x/sync/semaphore.
 *
 *   lfc_sem *s = lfc_sem_new(8);      (8 permits)
 *   lfc_sem_acquire(s, 2);            (blocks until 2 are free)
 *   ... at most 8 permits' worth of work at once ...
 *   lfc_sem_release(s, 2);
 *   lfc_sem_free(s);
 *
 * Fairness: waiters are served in arrival order, and no waiter starves.
 * A running thread may take free permits ahead of sleeping waiters
 * (barging, as mutexes do: it keeps a contended semaphore off the futex),
 * but never when the oldest waiter needs more than are free, so a large
 * request is not starved by a stream of small ones. A waiter kept waiting
 * by barging threads for more than 1 ms switches the semaphore to strict
 * hand-off (permits go to waiters in order, nobody barges) until a waiter
 * is served promptly again (Go's sync.Mutex starvation mode).
 *
 * Cost: an acquire or release that finds no waiter is one atomic
 * compare-and-swap and makes no system call. A blocked acquire spins
 * briefly, then parks on a futex (see lfchan/spin.h).
 *
 * Permits are not owned by threads: any thread may release what another
 * acquired. Releasing more than was acquired is an error (LFC_EINVAL),
 * detected when it would raise the free permits above the total.
 *
 * Threads: every call may race with every other except lfc_sem_free,
 * which nothing may race with or follow.
 *
 * Ordering: a release happens-before every acquire that takes any of the
 * permits it returned.
 *
 * pthread_cancel: no semaphore function is a cancellation point. A
 * cancelled thread parked in an acquire stays queued, gets its permits
 * when they are released (and holds them), and acts on the request at its
 * next cancellation point (lfchan/chan.h, "Cancellation").
 */
#ifndef LFC_SEM_H
#define LFC_SEM_H

#include <stdint.h>

#include "ctx.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_sem lfc_sem;

/* The most permits a semaphore can have (2^61 - 1). */
#define LFC_SEM_MAX (((int64_t)1 << 61) - 1)

/*
 * lfc_sem_new - a semaphore with `permits` permits, all free.
 *
 * Returns: the semaphore; NULL with errno EINVAL if permits is negative or
 * above LFC_SEM_MAX, ENOMEM if out of memory.
 */
LFC_API lfc_sem *lfc_sem_new(int64_t permits);

/*
 * lfc_sem_acquire - take n permits, waiting (in arrival order) until they
 * are free. n == 0 returns at once.
 *
 * Returns: LFC_OK; LFC_EINVAL (nothing taken) if s is NULL, n is negative,
 * or n exceeds the semaphore's total permits (it could never succeed).
 */
LFC_API int lfc_sem_acquire(lfc_sem *s, int64_t n);

/*
 * lfc_sem_try_acquire - take n permits if they are free now and barging is
 * allowed (see Fairness: not when the oldest waiter needs more than are
 * free, nor in hand-off mode).
 *
 * Returns: LFC_OK; LFC_AGAIN (nothing taken); LFC_EINVAL as lfc_sem_acquire.
 * Blocks: never.
 */
LFC_API int lfc_sem_try_acquire(lfc_sem *s, int64_t n);

/*
 * lfc_sem_acquire_until - lfc_sem_acquire with an absolute CLOCK_MONOTONIC
 * deadline (lfc_now_ns() + timeout; LFC_FOREVER for none).
 *
 * Returns: LFC_OK; LFC_TIMEDOUT (nothing taken, never before the
 * deadline; a deadline already past still takes permits that
 * lfc_sem_try_acquire would); LFC_EINVAL as lfc_sem_acquire, which is
 * checked first. A waiter that gives up lets those queued behind it
 * proceed if permits allow.
 */
LFC_API int lfc_sem_acquire_until(lfc_sem *s, int64_t n, int64_t deadline_ns);

/*
 * lfc_sem_acquire_ctx - lfc_sem_acquire that gives up when ctx is
 * cancelled or its deadline passes.
 *
 * Returns: LFC_OK; LFC_CANCELED or LFC_TIMEDOUT (lfc_ctx_err(ctx); nothing
 * taken); LFC_EINVAL as lfc_sem_acquire, or for a NULL ctx. A ctx already
 * cancelled at the call wins: nothing is taken even if permits are free.
 */
LFC_API int lfc_sem_acquire_ctx(lfc_sem *s, int64_t n, lfc_ctx *ctx);

/*
 * lfc_sem_release - return n permits, serving queued waiters in order.
 *
 * Returns: LFC_OK; LFC_EINVAL (nothing released) if s is NULL, n is
 * negative, or the free permits would exceed the total (more released
 * than was acquired).
 * Blocks: never waits for a permit (it may wait briefly for the queue's
 * lock while waiters are queued).
 */
LFC_API int lfc_sem_release(lfc_sem *s, int64_t n);

/* The free permits right now (a snapshot); 0 for NULL. */
LFC_API int64_t lfc_sem_available(const lfc_sem *s);

/* Free the semaphore; NULL is a no-op. Nobody may be waiting on it. */
LFC_API void lfc_sem_free(lfc_sem *s);

#ifdef __cplusplus
}
#endif

#endif /* LFC_SEM_H */
