/* SPDX-License-Identifier: MIT */
/*
 * lfchan contexts: cancellation and deadlines that propagate down a tree,
 * after Go's context package.
 *
 * A context is live until it is cancelled, by lfc_ctx_cancel, by its
 * deadline passing, by lfc_ctx_free, or by any ancestor being cancelled
 * for any of these reasons. Cancellation is one-way and happens once: the
 * first cause wins and is what lfc_ctx_err reports from then on, for the
 * context and every descendant it cancels. When it happens, the context's
 * done channel (lfc_ctx_done) is closed, so every receive on it returns
 * LFC_CLOSED; a thread can therefore wait for cancellation with lfc_recv,
 * or, with select, for cancellation or a value. Deadlines are served by
 * the shared timer thread (lfchan/timer.h).
 *
 *   lfc_ctx *ctx = lfc_ctx_with_timeout(lfc_ctx_background(), 2000000000);
 *   ... hand ctx to workers; they stop when lfc_ctx_done(ctx) closes ...
 *   lfc_ctx_free(ctx);   (cancels it, like Go's `defer cancel()`)
 *
 * Ownership: every constructor returns a context holding one reference,
 * the caller's, released by lfc_ctx_free. lfc_ctx_free first cancels the
 * context (with LFC_CANCELED, if it is still live) and with it every
 * descendant, then drops the reference. Inside the library contexts are
 * reference counted: a child holds a reference to its parent, so parents
 * and children may be freed in any order; a child whose parent was freed
 * stays valid (cancelled) until it is freed itself. The background
 * context is static: never cancelled, never freed (lfc_ctx_free ignores
 * it). Free every context you create, or its memory (and, for an
 * uncancelled deadline, a queued timer) is kept.
 *
 * Threads:
 *
 *   | call                   | may race with                               |
 *   |------------------------|---------------------------------------------|
 *   | lfc_ctx_with_cancel,   | every call on the parent but lfc_ctx_free   |
 *   | _with_deadline,        | of the parent; calls on other contexts in   |
 *   | _with_timeout          | the tree, lfc_ctx_free included             |
 *   | lfc_ctx_cancel         | every call on the context but lfc_ctx_free; |
 *   |                        | cancels and frees elsewhere in the tree;    |
 *   |                        | the deadline firing                         |
 *   | lfc_ctx_err, _done,    | every call on the context but lfc_ctx_free  |
 *   | _deadline              |                                             |
 *   | receives on the done   | every call on the context but lfc_ctx_free  |
 *   | channel                |                                             |
 *   | lfc_ctx_free           | calls on other contexts (its parent and     |
 *   |                        | children included); nothing on this one:    |
 *   |                        | no call on it or on its done channel may    |
 *   |                        | be in progress or follow                    |
 *
 * Ordering (what users may rely on):
 *   - The cancellation of a context happens-before every call that observes
 *     it: a receive on its done channel that returns LFC_CLOSED, or an
 *     lfc_ctx_err that returns its cause. In particular once done is
 *     closed, lfc_ctx_err returns LFC_CANCELED or LFC_TIMEDOUT.
 *   - When lfc_ctx_cancel (or lfc_ctx_free) returns, the context and every
 *     descendant are cancelled and their done channels closed, even if
 *     another thread (or the deadline) had begun cancelling them.
 *   - A context's done channel closes only after those of all its
 *     descendants: once a receive on it returns LFC_CLOSED, every
 *     descendant is cancelled too. (lfc_ctx_err may report the cause a
 *     moment before the descendants are done.)
 *   - Whatever a thread did before lfc_ctx_cancel happens-before the
 *     return of anything that observes the cancellation, in this context
 *     or a descendant.
 *   - A deadline never fires early: LFC_TIMEDOUT is reported only once
 *     lfc_now_ns() >= lfc_ctx_deadline().
 *
 * Contract violations (bugs, not statuses): using a context or its done
 * channel after lfc_ctx_free, freeing it while a call on it (a receive on
 * its done channel included) is in progress. (lfc_chan_free on a done
 * channel is not one: it releases only a reference taken with
 * lfc_chan_dup, and does nothing without one; chan.h, "Ownership".)
 *
 * pthread_cancel: no context function is a cancellation point, and a
 * receive on a done channel is an ordinary channel receive (chan.h,
 * "Cancellation").
 */
#ifndef LFC_CTX_H
#define LFC_CTX_H

#include <stdint.h>

#include "chan.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_ctx lfc_ctx;

/*
 * lfc_ctx_background - the root context: never cancelled, no deadline.
 *
 * The same static context on every call; lfc_ctx_free ignores it and
 * lfc_ctx_cancel refuses it. Its done channel is never closed.
 * Returns: the context (never NULL). Blocks: never. Threads: any.
 */
LFC_API lfc_ctx *lfc_ctx_background(void);

/*
 * lfc_ctx_with_cancel - a child of parent that can be cancelled on its own.
 *
 * The child is cancelled by lfc_ctx_cancel or lfc_ctx_free on it, or when
 * the parent is cancelled (with the parent's cause). If the parent is
 * already cancelled the child is born cancelled, with the parent's cause.
 * Its deadline is the parent's.
 *
 * Returns: the child, or NULL with errno EINVAL (parent is NULL) or ENOMEM.
 * Blocks: never (it takes the parent's lock briefly).
 * Threads: see the table in the file comment.
 */
LFC_API lfc_ctx *lfc_ctx_with_cancel(lfc_ctx *parent);

/*
 * lfc_ctx_with_deadline - a child of parent cancelled at deadline_ns.
 *
 * deadline_ns is an absolute CLOCK_MONOTONIC time (lfc_now_ns() + ns);
 * LFC_FOREVER means none. The child's deadline is the earlier of the
 * parent's and deadline_ns. When its own deadline passes, the child and
 * its descendants are cancelled with LFC_TIMEDOUT (a parent's deadline
 * reaches it through the parent). A deadline already past cancels the
 * child at once with LFC_TIMEDOUT, unless the parent was already
 * cancelled, in which case the parent's cause wins. Otherwise as
 * lfc_ctx_with_cancel.
 *
 * Returns: the child, or NULL with errno EINVAL (parent is NULL) or ENOMEM
 * (allocation failed, or the timer thread could not be started: see
 * "Out of memory" in lfchan/timer.h). On failure nothing is left behind:
 * the parent has no new child.
 * Blocks: no longer than a moment: it takes the parent's lock briefly, and
 * a child born past its deadline may wait for a concurrent cancellation
 * of the parent to finish with it.
 * Threads: see the table in the file comment.
 */
LFC_API lfc_ctx *lfc_ctx_with_deadline(lfc_ctx *parent, int64_t deadline_ns);

/*
 * lfc_ctx_with_timeout - lfc_ctx_with_deadline(parent, lfc_now_ns() + ns).
 *
 * ns <= 0 gives a child that is born timed out (unless the parent was
 * already cancelled). A timeout too large to represent means none.
 * Returns, Blocks, Threads: as lfc_ctx_with_deadline.
 */
LFC_API lfc_ctx *lfc_ctx_with_timeout(lfc_ctx *parent, int64_t ns);

/*
 * lfc_ctx_cancel - cancel ctx and every descendant with LFC_CANCELED.
 *
 * Idempotent: cancelling a context that is already cancelled (by any
 * cause) changes nothing, and its first cause stays. The context remains
 * valid (and cancelled) until lfc_ctx_free.
 *
 * Returns: LFC_OK; LFC_EINVAL if ctx is NULL or the background context
 * (which cannot be cancelled).
 * Blocks: only while another thread finishes cancelling part of the same
 * subtree (a concurrent cancel, free or deadline), so that the whole
 * subtree is cancelled when this call returns. It takes each cancelled
 * context's lock briefly, one at a time, and the timer module's lock to
 * dequeue deadlines; its cost grows with the number of live descendants.
 * Threads: see the table in the file comment.
 * Ordering: see the file comment.
 */
LFC_API int lfc_ctx_cancel(lfc_ctx *ctx);

/*
 * lfc_ctx_done - a channel that is closed when ctx is cancelled.
 *
 * Capacity 0, elem_size 0: nothing is ever sent on it; receives block
 * while ctx is live and return LFC_CLOSED once it is cancelled. Use it in
 * lfc_recv, lfc_recv_until, lfc_try_recv or a select. The background
 * context's channel is never closed. The channel belongs to the context:
 * valid until lfc_ctx_free. lfc_chan_free on it does nothing unless the
 * caller took a reference with lfc_chan_dup (chan.h, "Ownership").
 *
 * Returns: the channel; NULL if ctx is NULL. Allocates nothing (the
 * background context's channel is static), so it never fails otherwise.
 * Blocks: never. Threads: any, until lfc_ctx_free.
 */
LFC_API lfc_chan *lfc_ctx_done(lfc_ctx *ctx);

/*
 * lfc_ctx_err - why ctx was cancelled, if it was.
 *
 * Returns: LFC_OK while ctx is live; LFC_CANCELED if it (or an ancestor)
 * was cancelled with lfc_ctx_cancel or lfc_ctx_free; LFC_TIMEDOUT if it
 * (or an ancestor) was cancelled by its deadline; LFC_EINVAL if ctx is
 * NULL. Once not LFC_OK, the value never changes.
 * Blocks: never (one atomic load). Threads: any, until lfc_ctx_free.
 * Ordering: a non-OK result happens-after the cancellation.
 */
LFC_API int lfc_ctx_err(lfc_ctx *ctx);

/*
 * lfc_ctx_deadline - the absolute CLOCK_MONOTONIC deadline of ctx.
 *
 * Returns: the deadline (the earliest along its ancestors), or
 * LFC_FOREVER if it has none or ctx is NULL. It is fixed at creation and
 * does not change when the context is cancelled.
 * Blocks: never. Threads: any, until lfc_ctx_free.
 */
LFC_API int64_t lfc_ctx_deadline(lfc_ctx *ctx);

/*
 * lfc_ctx_free - cancel ctx (if still live) and drop the caller's reference.
 *
 * Cancels ctx and its descendants with LFC_CANCELED, as lfc_ctx_cancel
 * does, unless already cancelled, then releases the reference the
 * constructor returned. Descendants stay valid (cancelled) until they are
 * freed themselves. NULL and the background context are no-ops.
 * Returns: nothing. Blocks: as lfc_ctx_cancel.
 * Threads: no other call on ctx or on its done channel may be in progress
 * or follow; calls on other contexts of the tree may race with it.
 */
LFC_API void lfc_ctx_free(lfc_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* LFC_CTX_H */
