/* SPDX-License-Identifier: MIT */
/*
 * lfchan wait groups: wait for a set of tasks to finish, after Go's
 * sync.WaitGroup.
 *
 *   lfc_wg *wg = lfc_wg_new();
 *   for each task: lfc_wg_add(wg, 1); start it; (it calls lfc_wg_done(wg))
 *   lfc_wg_wait(wg);                 (returns once every task is done)
 *   lfc_wg_free(wg);
 *
 * The counter starts at 0. lfc_wg_wait returns as soon as it reads 0, so
 * add before starting the task, not inside it (as in Go). A wait group
 * may be reused: waiters wait for the counter to reach zero, whenever that
 * is. lfc_wg_done with no task left is an error (LFC_EINVAL), not a
 * negative counter.
 *
 * Cost: add and done are one atomic RMW; done makes a system call only
 * when it brings the counter to zero while someone waits.
 *
 * Threads: every call may race with every other except lfc_wg_free, which
 * nothing may race with or follow.
 *
 * Ordering: everything a thread did before an lfc_wg_done (or add) that
 * brought the counter to zero happens-before the return of a wait that
 * saw zero.
 *
 * pthread_cancel: neither wait is a cancellation point; a cancelled
 * waiter returns when the counter reaches zero, then acts on the request
 * at its next cancellation point (lfchan/chan.h, "Cancellation").
 */
#ifndef LFC_WG_H
#define LFC_WG_H

#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_wg lfc_wg;

/* A wait group with counter 0; NULL with errno ENOMEM. */
LFC_API lfc_wg *lfc_wg_new(void);

/*
 * lfc_wg_add - add delta (which may be negative) to the counter; at zero,
 * wake every waiter.
 *
 * Returns: LFC_OK; LFC_EINVAL (counter unchanged) if wg is NULL or the
 * counter would go below zero or above INT64_MAX.
 */
LFC_API int lfc_wg_add(lfc_wg *wg, int64_t delta);

/* lfc_wg_done - lfc_wg_add(wg, -1). */
LFC_API int lfc_wg_done(lfc_wg *wg);

/*
 * lfc_wg_wait - wait until the counter is zero.
 * Returns: LFC_OK; LFC_EINVAL for NULL.
 */
LFC_API int lfc_wg_wait(lfc_wg *wg);

/*
 * lfc_wg_wait_until - lfc_wg_wait with an absolute CLOCK_MONOTONIC
 * deadline. Returns: LFC_OK (also with a deadline already past, if the
 * counter is zero); LFC_TIMEDOUT (never before the deadline); LFC_EINVAL
 * for NULL. LFC_FOREVER (INT64_MAX) never expires.
 */
LFC_API int lfc_wg_wait_until(lfc_wg *wg, int64_t deadline_ns);

/* The counter right now (a snapshot); 0 for NULL. */
LFC_API int64_t lfc_wg_count(const lfc_wg *wg);

/* Free the wait group; NULL is a no-op. Nobody may be waiting on it. */
LFC_API void lfc_wg_free(lfc_wg *wg);

#ifdef __cplusplus
}
#endif

#endif /* LFC_WG_H */
