/* SPDX-License-Identifier: MIT */
/*
 * Contexts: a cancellation tree with deadlines, after Go's context package.
 * Depends on: chan (the done channels), timer (deadlines, through the
 * callback timers of lfc_timer_internal.h), lfc_atomic.h, lfc_park.h (the
 * clock).
 *
 * Design
 * ------
 * After Go's context.cancelCtx (src/context/context.go): each cancellable
 * context keeps the list of its live children under its own mutex, and
 * cancelling it records the cause, cancels every child with the same cause
 * and closes its done channel. A child created under a cancelled parent is
 * cancelled at once with the parent's cause. A child whose deadline is
 * earlier than its parent's arms a callback timer on the shared timer
 * thread, which cancels it with LFC_TIMEDOUT; a later deadline is left to
 * the parent's timer, whose cancellation reaches the child anyway.
 *
 * Cancellation in two steps per context:
 *   claim:  under the context's lock, CAS err from 0 to the cause (exactly
 *           one canceller wins, so the first cause wins), detach the
 *           children into `pending` with a reference on each, and dequeue
 *           the deadline timer. New children of a claimed context are born
 *           cancelled, so the detached list is final.
 *   finish: after every child has been claimed and finished, close done.
 * The winner walks the subtree depth-first without recursion (`pending`
 * and `up` form an explicit stack inside the contexts, owned by the
 * claimer) and without holding any lock across steps. Unlike Go, which
 * holds a parent's lock while cancelling its children recursively, no
 * thread ever holds two context locks, and the stack depth is constant:
 * deep chains (and ThreadSanitizer, which tracks at most 64 held locks per
 * thread) are fine. A canceller that loses a claim waits on that context's
 * done channel, so it too returns only once the subtree is cancelled.
 * Waiting cannot deadlock: a waiter holds no lock, and waits for a
 * context strictly below every context it has claimed, so the waits-for
 * relation follows the tree downwards and has no cycle.
 *
 * Locking: a mutex per context, not one for the whole forest, so unrelated
 * trees (one per request, say) never contend. No thread holds two context
 * locks at once. The timer module's lock is taken under a context lock
 * (claim stops the timer, the constructor arms it, both under the
 * context's lock, so an arm can never follow the stop), and never the
 * other way round: the timer thread runs the deadline callback holding no
 * lock.
 *
 * Lifetime: contexts are reference counted. References are held by the
 * user (one, from the constructor, dropped by lfc_ctx_free), by each child
 * (on its parent, until the child is destroyed), by an armed deadline
 * timer (dropped by the callback after it ran, or by whoever stopped the
 * timer before it fired: lfc__timer_stop returns true to exactly one of
 * them, and the callback runs only if none did), and by a canceller on
 * each child it detached, until it has finished it. The background
 * context is static and never counted.
 *
 * Invariants:
 *   - err goes from 0 to a cause exactly once, by CAS under the context's
 *     own lock; the same critical section empties the children list, which
 *     stays empty from then on.
 *   - done is closed only after err is set and after every descendant
 *     claimed through this context has closed its own done. So done closed
 *     implies the whole subtree is cancelled.
 *   - A linked child (in its parent's list) is alive: its user reference
 *     is dropped only after it has unlinked, which takes the parent's lock.
 *   - refs == 0 implies: cancelled and finished, not linked, no children,
 *     timer neither queued nor firing.
 *
 * Field table:
 *   | field        | written by                     | read by       | order  |
 *   |--------------|--------------------------------|---------------|--------|
 *   | refs         | retain/release (RMW)           | same          | acqrel |
 *   | err          | claim (CAS under mu)           | anyone        | acq    |
 *   | done         | constructor; closed by finish  | anyone        | chan   |
 *   | deadline,    | constructor (read-only)        | anyone        | -      |
 *   | parent,timer |                                |               |        |
 *   | children     | claim, link/unlink, under mu   | same          | mu     |
 *   | link,        | link/unlink and the parent's   | same; then    | parent |
 *   | linked       | claim, under parent's mu       | the claimer   | ->mu   |
 *   | pending, up  | the claimer only               | the claimer   | -      |
 *
 * Wake-up argument: the only thread that parks here is a losing canceller,
 * on a done channel (lfc_recv); lfc_close wakes every receiver (chan.c),
 * and the winner always reaches the close: it holds no lock while walking
 * and its own waits end by induction on the subtree's height. Users wait
 * on done channels the same way; err is set before done is closed, so a
 * receiver that sees the channel closed also sees the cause (close is a
 * seqcst RMW, the receiver's closed check an acquire).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lfchan/chan.h"
#include "lfchan/ctx.h"
#include "lfc_atomic.h"
#include "lfc_chan_internal.h"
#include "lfc_ctx_internal.h"
#include "lfc_common.h"
#include "lfc_list.h"
#include "lfc_park.h"
#include "lfc_timer_internal.h"

struct lfc_ctx {
    /* References; RMW by ctx_retain/ctx_release. */
    uint32_t refs;
    /* 0 while live, else the cause as uint32_t; CAS by claim() under
     * mu, read by anyone. */
    uint32_t err;
    lfc_chan *done;         /* closed by cancel_tree() */
    int64_t deadline;       /* read-only */
    struct lfc_ctx *parent; /* read-only; holds a reference (unless bg) */
    /* Own deadline timer or NULL; read-only pointer. Armed under mu by the
     * constructor, stopped under mu by claim(). */
    lfc_timer *timer;
    pthread_mutex_t mu;       /* guards children and err's transition */
    struct lfc__list children; /* live children's `link`s; under mu */
    /* In parent's children (under parent->mu) while `linked`; once a
     * canceller claimed the parent, in the parent's `pending` (the
     * canceller's alone). */
    struct lfc__list link;
    bool linked; /* in parent's children; under parent->mu */
    /* Children still to cancel, and the context to return to: used only
     * by the canceller that claimed this context (see cancel_tree). */
    struct lfc__list pending;
    struct lfc_ctx *up;
};

/* The background context: never cancelled, never counted, never linked.
 * Its done channel is the static never-ready channel (set on first use:
 * getting it allocates nothing, so it cannot fail). */
static struct lfc_ctx bg = {
    .deadline = LFC_FOREVER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

static void
ctx_lock(lfc_ctx *c)
{
    if (pthread_mutex_lock(&c->mu) != 0)
        LFC_PANIC("pthread_mutex_lock failed");
}

static void
ctx_unlock(lfc_ctx *c)
{
    if (pthread_mutex_unlock(&c->mu) != 0)
        LFC_PANIC("pthread_mutex_unlock failed");
}

static void
ctx_retain(lfc_ctx *c)
{
    /* ORDER rlx: the caller holds a reference, so the count cannot reach
     * zero meanwhile; taking one publishes nothing. */
    lfc_faa_rlx_u32(&c->refs, 1);
}

/* Drop one reference; the last one destroys c, which drops c's reference
 * on its parent, and so on up (a loop, not recursion: chains may be long). */
static void
ctx_release(lfc_ctx *c)
{
    while (c != &bg) {
        /* ORDER acqrel: rel orders our uses of c before the count drops;
         * acq on the last drop orders the destroy after everyone's uses. */
        if (lfc_faa_acqrel_u32(&c->refs, (uint32_t)-1) != 1)
            return;
        LFC_ASSERT(!c->linked && lfc__list_empty(&c->children));
        lfc_ctx *p = c->parent;
        lfc__timer_destroy(c->timer);
        lfc__chan_release(c->done); /* ours; users' dups keep it alive */
        pthread_mutex_destroy(&c->mu);
        free(c);
        c = p;
    }
}

/*
 * Claim c for cancellation with cause: under c's lock, set err (the first
 * cause wins), detach c's children into c->pending, taking a reference on
 * each (the claimer drops it when done with the child), and dequeue c's
 * deadline timer. Returns false if another canceller claimed c first. The
 * caller holds a reference to c and no context lock.
 */
static bool
claim(lfc_ctx *c, int cause)
{
    ctx_lock(c);
    uint32_t live = 0;
    /* ORDER acqrel: rel publishes the canceller's prior writes to the acq
     * loads in lfc_ctx_err(); the CAS makes the first cause win. */
    if (!lfc_cas_acqrel_u32(&c->err, &live, (uint32_t)cause)) {
        ctx_unlock(c);
        return false;
    }
    lfc__list_splice_back(&c->pending, &c->children);
    struct lfc__list *it;
    lfc__list_for_each(it, &c->pending) {
        lfc_ctx *k = lfc__list_entry(it, lfc_ctx, link);
        /* Linked, so alive. Unlinked, its links are now ours: an unlink
         * under c's lock sees !linked and leaves them alone, and no link
         * can add to a claimed context (children are born cancelled). */
        k->linked = false;
        ctx_retain(k);
    }
    /* Under mu, so that the constructor's arm (also under mu, and only if
     * err was 0) cannot slip in after this stop. */
    bool drop = c->timer && lfc__timer_stop(c->timer);
    ctx_unlock(c);
    if (drop)
        ctx_release(c); /* the timer's; not the last (the caller's holds) */
    return true;
}

/* Wait until whoever claimed c has closed c's done channel, which it does
 * only once c's whole subtree is cancelled. */
static void
wait_cancelled(lfc_ctx *c)
{
    int r = lfc_recv(c->done, NULL);
    LFC_ASSERT(r == LFC_CLOSED);
    (void)r;
}

/*
 * Cancel c and its subtree with cause; when it returns, the whole subtree
 * is cancelled, whoever did it. The caller holds a reference to c and no
 * context lock. Iterative, depth-first, with the done channels closed in
 * post-order: a context's done closes only after all its descendants'.
 */
static void
cancel_tree(lfc_ctx *c, int cause)
{
    if (!claim(c, cause)) {
        wait_cancelled(c);
        return;
    }
    c->up = NULL;
    lfc_ctx *top = c;
    while (top) {
        struct lfc__list *first = lfc__list_first(&top->pending);
        if (first) {
            lfc_ctx *k = lfc__list_entry(first, lfc_ctx, link);
            lfc__list_remove(first);
            if (claim(k, cause)) {
                k->up = top; /* descend */
                top = k;
            } else {
                /* Someone else is cancelling k's subtree (its deadline,
                 * or a cancel of k itself): wait for them to finish. */
                wait_cancelled(k);
                ctx_release(k);
            }
            continue;
        }
        /* After err and after every descendant: a receiver that sees done
         * closed sees the cause, and a cancelled subtree. */
        lfc__chan_owner_close(top->done);
        lfc_ctx *n = top;
        top = top->up;
        if (n != c)
            ctx_release(n); /* the reference claim() took on it */
    }
}

/* Remove c from its parent's children, if it is still there. The caller
 * holds a reference to c and no context lock. */
static void
unlink_from_parent(lfc_ctx *c)
{
    lfc_ctx *p = c->parent;
    if (p == &bg)
        return;
    ctx_lock(p);
    if (c->linked) {
        lfc__list_remove(&c->link);
        c->linked = false;
    }
    ctx_unlock(p);
}

/* The deadline timer's callback, on the timer thread, holding no lock. */
static void
deadline_fire(void *arg)
{
    lfc_ctx *c = arg;
    cancel_tree(c, LFC_TIMEDOUT);
    unlink_from_parent(c);
    ctx_release(c); /* the timer's reference; may destroy c and its timer */
}

/* A child of parent whose own deadline is deadline_ns (LFC_FOREVER for
 * none); NULL + errno on failure. */
static lfc_ctx *
ctx_new(lfc_ctx *parent, int64_t deadline_ns)
{
    if (!parent) {
        errno = EINVAL;
        return NULL;
    }
    lfc_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        goto out_enomem;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto out_free_ctx;
    lfc__list_init(&c->children); /* before c is shared */
    lfc__list_init(&c->link);
    lfc__list_init(&c->pending);
    c->done = lfc_chan_new(0, 0);
    if (!c->done)
        goto out_destroy_mu;
    lfc__chan_make_owned(c->done, NULL); /* receive-only for users */
    bool own = deadline_ns < parent->deadline;
    c->deadline = own ? deadline_ns : parent->deadline;
    if (own) {
        c->timer = lfc__timer_new_fn(deadline_fire, c);
        if (!c->timer)
            goto out_free_done;
    }
    c->refs = 1; /* the caller's; published by the return or the link */
    c->parent = parent;

    if (parent != &bg) {
        ctx_retain(parent);
        ctx_lock(parent);
        /* ORDER rlx: under parent->mu, which every write of err holds. */
        uint32_t perr = lfc_load_rlx_u32(&parent->err);
        if (perr == 0) {
            lfc__list_push_back(&parent->children, &c->link);
            c->linked = true;
        }
        ctx_unlock(parent);
        if (perr != 0)
            cancel_tree(c, (int)(int32_t)perr); /* born cancelled */
    }

    if (own) {
        if (deadline_ns <= lfc__now_ns()) {
            cancel_tree(c, LFC_TIMEDOUT); /* no-op if born cancelled */
            unlink_from_parent(c);
            return c;
        }
        int r = LFC_OK;
        ctx_lock(c);
        /* ORDER rlx: under c->mu, which every write of err holds. */
        if (lfc_load_rlx_u32(&c->err) == 0) {
            ctx_retain(c); /* the timer's reference */
            r = lfc__timer_arm(c->timer, deadline_ns);
            if (r != LFC_OK) {
                /* ORDER rlx: undo our own retain; the caller's reference
                 * remains, so this is never the last. */
                lfc_faa_rlx_u32(&c->refs, (uint32_t)-1);
            }
        }
        ctx_unlock(c);
        if (r != LFC_OK) {
            lfc_ctx_free(c);
            errno = ENOMEM;
            return NULL;
        }
    }
    return c;

out_free_done:
    lfc__chan_release(c->done);
out_destroy_mu:
    pthread_mutex_destroy(&c->mu);
out_free_ctx:
    free(c);
out_enomem:
    errno = ENOMEM;
    return NULL;
}

lfc_ctx *
lfc_ctx_background(void)
{
    return &bg;
}

lfc_ctx *
lfc_ctx_with_cancel(lfc_ctx *parent)
{
    return ctx_new(parent, LFC_FOREVER);
}

lfc_ctx *
lfc_ctx_with_deadline(lfc_ctx *parent, int64_t deadline_ns)
{
    return ctx_new(parent, deadline_ns);
}

lfc_ctx *
lfc_ctx_with_timeout(lfc_ctx *parent, int64_t ns)
{
    int64_t d;
    if (__builtin_add_overflow(lfc__now_ns(), ns, &d))
        d = ns > 0 ? LFC_FOREVER : INT64_MIN;
    return ctx_new(parent, d);
}

int
lfc_ctx_cancel(lfc_ctx *ctx)
{
    if (!ctx || ctx == &bg)
        return LFC_EINVAL;
    cancel_tree(ctx, LFC_CANCELED);
    unlink_from_parent(ctx);
    return LFC_OK;
}

int
lfc__ctx_expire(lfc_ctx *ctx)
{
    LFC_ASSERT(ctx != &bg && lfc__now_ns() >= ctx->deadline);
    cancel_tree(ctx, LFC_TIMEDOUT);
    unlink_from_parent(ctx);
    return lfc_ctx_err(ctx);
}

lfc_chan *
lfc_ctx_done(lfc_ctx *ctx)
{
    if (!ctx)
        return NULL;
    if (ctx == &bg)
        return lfc__chan_never();
    return ctx->done;
}

int
lfc_ctx_err(lfc_ctx *ctx)
{
    if (!ctx)
        return LFC_EINVAL;
    /* ORDER acq: pairs with the acqrel CAS in cancel_tree(); what the
     * canceller did before cancelling is visible once we see the cause. */
    return (int)(int32_t)lfc_load_acq_u32(&ctx->err);
}

int64_t
lfc_ctx_deadline(lfc_ctx *ctx)
{
    return ctx ? ctx->deadline : LFC_FOREVER;
}

void
lfc_ctx_free(lfc_ctx *ctx)
{
    if (!ctx || ctx == &bg)
        return;
    cancel_tree(ctx, LFC_CANCELED);
    unlink_from_parent(ctx);
    ctx_release(ctx);
}
