/* SPDX-License-Identifier: MIT */
/*
 * lfchan select: wait on several channel operations at once and complete
 * exactly one of them, as Go's `select` statement does.
 *
 *   int job; struct result res = ...;
 *   lfc_case cases[] = {
 *       { .ch = jobs, .dir = LFC_RECV, .buf = &job },
 *       { .ch = out,  .dir = LFC_SEND, .buf = &res },
 *       { .ch = lfc_ctx_done(ctx), .dir = LFC_RECV },
 *   };
 *   int i = lfc_select(cases, 3);
 *   if (i == 2) ... cancelled ...;
 *   else if (i >= 0 && cases[i].status == LFC_OK) ... case i happened ...;
 *
 * Rules:
 *   - A call completes exactly one case, or none when it returns a negative
 *     status. The other cases consume nothing and enqueue nothing.
 *   - A case is ready when its operation would complete without blocking:
 *     a receive when a value is buffered, a sender waits on an unbuffered
 *     channel, or the channel is closed and drained (status LFC_CLOSED); a
 *     send when there is room, a receiver waits on an unbuffered channel, or
 *     the channel is closed (status LFC_CLOSED: a send to a closed channel
 *     completes the case with that status and enqueues nothing).
 *   - A case whose ch is NULL is never ready (Go's nil channel): a way to
 *     switch a case off without rebuilding the array.
 *   - The same channel may appear in several cases, in either direction; a
 *     select never pairs its own send with its own receive.
 *   - Fairness: lfc_select, lfc_try_select and lfc_select_until check the
 *     cases in a random order (a uniform permutation from a cheap
 *     per-thread generator), so when several cases are ready each is
 *     chosen with about equal probability.
 *     The _biased variants check the cases in array order: the first ready
 *     case wins (priority, e.g. a control channel before a data channel;
 *     a busy early case can starve later ones).
 *   - Blocking: a blocked select parks its thread on one futex word until a
 *     channel of its cases changes (see src/chan/select.c); it does not poll.
 *   - Atomicity: a completed case is linearizable like the plain call it
 *     stands for. A select that completes nothing (lfc_try_select's
 *     LFC_AGAIN, a timeout) checks its cases one after another, not at one
 *     instant as Go's select does under its channel locks: each case was
 *     not ready at some moment during the call, but not necessarily all
 *     at the same moment. So lfc_try_select({send c, recv c}) on a
 *     buffered channel that other threads fill and drain at once can fail
 *     although at every instant one of its cases could complete
 *     (tests/test_lincheck.c checks exactly this weaker rule).
 *
 * Arguments: `cases` points to n cases (n may be 0). For each case with a
 * non-NULL ch, dir is LFC_SEND or LFC_RECV, and buf points to elem_size
 * bytes (the value to send, or where to put the one received; it may be
 * NULL only when elem_size is 0, as for a context's done channel).
 * Only `status` is written, and only in the case that completes; it is
 * LFC_OK or LFC_CLOSED.
 *
 * Threads: any number of threads may select on the same channels, and
 * select races with every channel call except lfc_chan_free. The cases
 * array and buffers belong to the calling thread until the call returns.
 *
 * Ordering: a completed case gives exactly the guarantees of the plain
 * channel call it stands for (lfchan/chan.h).
 *
 * pthread_cancel: no select is a cancellation point. A cancelled thread
 * parked in one stays parked until a case completes, then acts on the
 * request at its next cancellation point (lfchan/chan.h, "Cancellation").
 * Deadlines already past (INT64_MIN included) still complete a ready
 * case; LFC_FOREVER (INT64_MAX) is no deadline.
 */
#ifndef LFC_SELECT_H
#define LFC_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "ctx.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The directions of a case, LFC_SEND and LFC_RECV, are in chan.h. */

/* The most cases one select accepts. */
#define LFC_SELECT_MAX 65536

typedef struct lfc_case {
    lfc_chan *ch; /* NULL: never ready */
    int dir;      /* LFC_SEND or LFC_RECV */
    void *buf;    /* value to send / where to receive (see above) */
    int status;   /* out: LFC_OK or LFC_CLOSED, for the chosen case */
} lfc_case;

/*
 * lfc_select - block until one case is ready, and complete it.
 *
 * Returns: the index of the completed case (its status says LFC_OK or
 * LFC_CLOSED); LFC_EINVAL if cases is NULL with n > 0, n is negative or
 * above LFC_SELECT_MAX, a case has a bad dir or a NULL buf its channel
 * needs, or no case has a channel (it would block forever). Nothing is
 * consumed on LFC_EINVAL. LFC_ENOMEM if more than 32 cases need memory
 * that cannot be had (nothing consumed).
 * Blocks: until a case completes. Threads: see above.
 */
LFC_API int lfc_select(lfc_case *cases, int n);

/*
 * lfc_try_select - complete a ready case, if any, without blocking.
 *
 * Returns: the index of the completed case; LFC_AGAIN if none is ready
 * (nothing consumed); LFC_EINVAL as lfc_select, except that no case
 * having a channel is allowed (LFC_AGAIN).
 * Blocks: never.
 */
LFC_API int lfc_try_select(lfc_case *cases, int n);

/*
 * lfc_select_until - lfc_select with an absolute CLOCK_MONOTONIC deadline
 * (lfc_now_ns() + timeout; LFC_FOREVER for none).
 *
 * Returns: the index of the completed case; LFC_TIMEDOUT once the deadline
 * has passed with no case ready (nothing consumed); LFC_EINVAL and
 * LFC_ENOMEM as lfc_select, except that no case having a channel is
 * allowed with a finite deadline (the call just waits for it).
 * Blocks: until a case completes or the deadline passes.
 */
LFC_API int lfc_select_until(lfc_case *cases, int n, int64_t deadline_ns);

/* As the three calls above, but checking the cases in array order: the
 * first ready case wins. Same returns. */
LFC_API int lfc_select_biased(lfc_case *cases, int n);
LFC_API int lfc_try_select_biased(lfc_case *cases, int n);
LFC_API int lfc_select_biased_until(lfc_case *cases, int n,
                                    int64_t deadline_ns);

/*
 * lfc_send_ctx - lfc_send that gives up when ctx is cancelled or its
 * deadline passes.
 *
 * Returns: LFC_OK (sent); LFC_CLOSED (the channel is closed; nothing sent);
 * LFC_CANCELED or LFC_TIMEDOUT (lfc_ctx_err(ctx): ctx was cancelled, or its
 * deadline passed, before the value could be sent; nothing sent);
 * LFC_EINVAL (NULL ch or ctx, or NULL elem with elem_size != 0).
 * A ctx that is already cancelled wins over a ready channel: nothing is
 * sent. Blocks: until one of the above. Threads: as lfc_send; ctx as in
 * lfchan/ctx.h (it must not be freed during the call).
 */
LFC_API int lfc_send_ctx(lfc_chan *ch, const void *elem, lfc_ctx *ctx);

/*
 * lfc_recv_ctx - lfc_recv that gives up when ctx is cancelled or its
 * deadline passes.
 *
 * Returns: LFC_OK (a value was received into out); LFC_CLOSED (closed and
 * drained); LFC_CANCELED or LFC_TIMEDOUT (as lfc_send_ctx; nothing
 * received); LFC_EINVAL (NULL ch or ctx, or NULL out with elem_size != 0).
 * Blocks and threads: as lfc_send_ctx.
 */
LFC_API int lfc_recv_ctx(lfc_chan *ch, void *out, lfc_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* LFC_SELECT_H */
