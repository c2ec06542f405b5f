/* SPDX-License-Identifier: MIT */
/*
 * Semaphores: weighted, first-come-first-served, with a lock-free fast
 * path. Depends on: core/park.c (the small futex lock), chan/selector.c
 * (its waiters' parking words), a context's done channel through the
 * waitable interface (lfc_sem_acquire_ctx).
 *
 * Design
 * ------
 * One 64-bit word holds the free permits and two bits:
 *
 *   state = free << 2 | HANDOFF | QUEUED
 *
 * QUEUED is set exactly while the waiter queue is non-empty; HANDOFF
 * while the queue is in hand-off mode (below). Both change, like the
 * queue and `head_need` (the oldest waiter's n), only under the lock.
 *
 * Barging, normally. A running thread takes free permits with one CAS,
 * even while others wait, unless an older waiter needs more than are free
 * (free < head_need): then it queues, so a large request is not starved by
 * a stream of small ones. A release CASes the permits back; if someone is
 * queued it then takes the lock and, if the head's n are free, notifies
 * the head (WAITING -> NOTIFY(0)), which wakes and tries under the lock
 * like anyone else. Strict FIFO hand-off to a sleeping thread on every
 * release makes every acquire under contention a futex sleep and wake (a
 * convoy: 0.1 M acquire+release/s with 8 threads on one permit here,
 * against 21 M for a mutex semaphore, which barges); letting the running
 * thread take the permit keeps it on its CPU.
 *
 * Hand-off, when barging starves someone. A woken head that finds its
 * permits taken again and has waited longer than STARVE_NS sets HANDOFF.
 * Then nobody barges (the fast paths see the bit), releases go through
 * the lock, and grant() hands permits to waiters in arrival order: claim
 * the head by CAS on its word (WAITING -> DONE(0)), subtract its permits,
 * unlink and wake it. HANDOFF ends when a waiter served had waited less
 * than STARVE_NS, or the queue empties (Go's sync.Mutex starvation mode).
 * So every waiter is served within about STARVE_NS of reaching the head
 * once permits are released, and FIFO order among waiters always holds.
 *
 * Waiting. A waiter (under the lock) queues itself with its word WAITING,
 * sets QUEUED, and runs wake_head() (a release that won its CAS just
 * before QUEUED was set left permits that the RMW setting QUEUED reads).
 * It sleeps on its word, the selectors' parking word (selector.c), so a
 * context-aware acquire can also link a node on the context's done
 * channel and exactly one of granted, notified, cancelled and timed out
 * wins the word. Notified, it takes the lock and tries; if that fails it
 * re-arms its word (NOTIFY(0) -> WAITING by CAS, so a cancellation that
 * arrives meanwhile is not overwritten) and sleeps again. A waiter that
 * gives up unlinks itself and runs wake_head() (it may have been the head
 * holding others up). Everyone passes through the lock before returning,
 * so a waker (which acts under the lock) is done with its stack.
 *
 * Why no wake-up is lost: a queued waiter sleeps only after a try under
 * the lock found its permits missing (or after queueing behind a head),
 * with its word WAITING. Every release after that sees QUEUED (set before
 * the try, under the same lock) and runs wake_head() or grant() under the
 * lock, after its permits are in the word; so if the head's permits are
 * free, the head is notified or served. A head that leaves makes the next
 * waiter the head and runs wake_head() too.
 *
 * Field table:
 *   | field          | written by                    | read by | order   |
 *   |----------------|-------------------------------|---------|---------|
 *   | state          | fast paths (CAS), lock holders| all     | acqrel  |
 *   | head_need      | lock holders                  | all     | rlx     |
 *   | lock, queue    | lock holders                  | same    | lock    |
 *   | waiter.sel     | wakers, ctx close, waiter     | waiter  | acqrel  |
 *   | total          | lfc_sem_new                   | all     | -       |
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lfchan/chan.h"
#include "lfchan/sem.h"
#include "lfchan/spin.h"
#include "lfc_atomic.h"
#include "lfc_common.h"
#include "lfc_ctx_internal.h"
#include "lfc_list.h"
#include "lfc_park.h"
#include "lfc_selector.h"
#include "lfc_waitable.h"

#define QUEUED 1u
#define HANDOFF 2u
#define FLAGS (QUEUED | HANDOFF)

enum {
    SPIN_POLLS = 128, /* fast-path retries before queueing (~1-2 us) */
    CTX_CASE = 1      /* the done channel's node index: NOTIFY(1) */
};

/* A waiter kept from its permits this long by barging threads turns on
 * hand-off mode (Go's sync.Mutex uses the same 1 ms). */
#define STARVE_NS 1000000

struct waiter {
    struct lfc__list link; /* in the queue (linked: queued); under lock */
    int64_t n;
    int64_t since; /* when it queued (lfc__now_ns) */
    struct lfc__selector sel;
};

struct lfc_sem {
    int64_t total;                    /* read-only */
    LFC_CACHE_ALIGNED uint64_t state; /* free << 2 | HANDOFF | QUEUED */
    uint64_t head_need;               /* the head's n, or 0; see above */
    LFC_CACHE_ALIGNED uint32_t lock;  /* guards the queue and the flags */
    struct lfc__list queue;           /* struct waiter, oldest first */
};

/* The queue's head waiter, or NULL. Under the lock. */
static inline struct waiter *
queue_head(const lfc_sem *s)
{
    struct lfc__list *l = lfc__list_first(&s->queue);
    return l ? lfc__list_entry(l, struct waiter, link) : NULL;
}

static inline int64_t
free_of(uint64_t s)
{
    return (int64_t)(s >> 2);
}

static inline uint64_t
permits(int64_t n)
{
    return (uint64_t)n << 2;
}

lfc_sem *
lfc_sem_new(int64_t n)
{
    if (n < 0 || n > LFC_SEM_MAX) {
        errno = EINVAL;
        return NULL;
    }
    lfc_sem *s = aligned_alloc(LFC_CACHELINE, sizeof(*s));
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->total = n;
    s->state = permits(n); /* before the semaphore is shared */
    s->head_need = 0;
    s->lock = 0;
    lfc__list_init(&s->queue);
    return s;
}

void
lfc_sem_free(lfc_sem *s)
{
    LFC_ASSERT(!s || lfc__list_empty(&s->queue)); /* nobody may wait */
    free(s);
}

int64_t
lfc_sem_available(const lfc_sem *s)
{
    /* ORDER rlx: a snapshot. */
    return s ? free_of(lfc_load_rlx_u64(&s->state)) : 0;
}

/* ---- fast paths ---------------------------------------------------------- */

/* May a running thread take n of the free permits in cur? Not in hand-off
 * mode, and not when an older waiter needs more than are free. */
static bool
may_barge(const lfc_sem *s, uint64_t cur, int64_t n)
{
    if (cur & HANDOFF)
        return false;
    if (free_of(cur) < n)
        return false;
    if (!(cur & QUEUED))
        return true;
    /* ORDER rlx: a hint written under the lock; a stale value only bends
     * fairness for a moment (hand-off mode bounds any starvation). */
    return free_of(cur) >= (int64_t)lfc_load_rlx_u64(&s->head_need);
}

static bool
fast_acquire(lfc_sem *s, int64_t n)
{
    /* ORDER rlx: a starting guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&s->state);
    while (may_barge(s, cur, n)) {
        /* ORDER acqrel: acquire pairs with the release that returned
         * these permits (its critical section happens-before ours). */
        if (lfc_cas_acqrel_u64(&s->state, &cur, cur - permits(n)))
            return true;
    }
    return false;
}

/* Add n permits: LFC_OK, or LFC_EINVAL (over the total: nothing added).
 * *was receives the word before the add. */
static int
add_permits(lfc_sem *s, int64_t n, uint64_t *was)
{
    /* ORDER rlx: a starting guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&s->state);
    do {
        if (n > s->total - free_of(cur))
            return LFC_EINVAL;
        /* ORDER acqrel: release publishes our critical section to the
         * acquirer that takes these permits. */
    } while (!lfc_cas_acqrel_u64(&s->state, &cur, cur + permits(n)));
    *was = cur;
    return LFC_OK;
}

/* ---- the queue (under the lock) -------------------------------------- */

/* Set or clear flag bits in the word (the permits may change meanwhile:
 * barging threads). */
static void
set_flags(lfc_sem *s, uint64_t set, uint64_t clear)
{
    /* ORDER rlx: a guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&s->state);
    /* ORDER acqrel: an RMW reads the latest permits, so the wake_head()
     * that follows sees a release that won just before. */
    while (!lfc_cas_acqrel_u64(&s->state, &cur, (cur | set) & ~clear))
        ;
}

/* After any change to the queue: QUEUED and head_need follow it. */
static void
queue_changed(lfc_sem *s)
{
    /* ORDER rlx: a hint for barging threads (see may_barge()). */
    struct waiter *head = queue_head(s);
    lfc_store_rlx_u64(&s->head_need, head ? (uint64_t)head->n : 0);
    if (head)
        set_flags(s, QUEUED, 0);
    else
        set_flags(s, 0, QUEUED | HANDOFF);
}

static void
enqueue(lfc_sem *s, struct waiter *w)
{
    lfc__list_push_back(&s->queue, &w->link);
    queue_changed(s);
}

static void
unlink_waiter(lfc_sem *s, struct waiter *w)
{
    lfc__list_remove(&w->link);
    queue_changed(s);
}

/* Hand-off mode: serve waiters in order while the head's permits are
 * free (claim by CAS, subtract, unlink, wake). */
static void
grant(lfc_sem *s)
{
    struct waiter *w;
    while ((w = queue_head(s)) != NULL) {
        /* ORDER acq: pairs with the releases' RMWs. */
        uint64_t cur = lfc_load_acq_u64(&s->state);
        if (!(cur & HANDOFF) || free_of(cur) < w->n)
            return;
        uint32_t st = LFC__SEL_WAITING;
        /* ORDER acqrel: claims the waiter (exactly one of granted,
         * cancelled, timed out wins); release publishes the permits. A
         * waiter notified earlier (it will look at its word under the
         * lock) is claimed the same way. */
        if (!lfc_cas_acqrel_u32(&w->sel.state, &st, LFC__SEL_DONE(0)) &&
            (st != LFC__SEL_NOTIFY(0) ||
             /* ORDER acqrel: as above. */
             !lfc_cas_acqrel_u32(&w->sel.state, &st, LFC__SEL_DONE(0)))) {
            unlink_waiter(s, w); /* it gave up; it finds itself gone */
            continue;
        }
        /* ORDER acqrel: HANDOFF is set, so nobody barges: the permits
         * stay; the loop only absorbs concurrent releases. */
        while (!lfc_cas_acqrel_u64(&s->state, &cur, cur - permits(w->n)))
            ;
        bool fresh = lfc__now_ns() - w->since < STARVE_NS;
        unlink_waiter(s, w);
        if (fresh)
            set_flags(s, 0, HANDOFF); /* nobody starves: barge again */
        lfc__sel_wake(&w->sel);       /* under the lock: w is alive */
    }
}

/* Let the head proceed if its permits are free: hand them over in
 * hand-off mode, else notify it (it tries itself, racing bargers). */
static void
wake_head(lfc_sem *s)
{
    grant(s);
    struct waiter *w = queue_head(s);
    if (!w)
        return;
    /* ORDER acq: pairs with the releases' RMWs. */
    uint64_t cur = lfc_load_acq_u64(&s->state);
    if ((cur & HANDOFF) || free_of(cur) < w->n)
        return;
    uint32_t st = LFC__SEL_WAITING;
    /* ORDER acqrel: release orders the permits before the head's acquire
     * of its word. Fails if already notified, or leaving: then it tries
     * (or gives up and calls us again) anyway. */
    if (lfc_cas_acqrel_u32(&w->sel.state, &st, LFC__SEL_NOTIFY(0)))
        lfc__sel_wake(&w->sel); /* under the lock: w is alive */
}

/* ---- waiting ------------------------------------------------------------- */

/* Link a node on ctx's done channel for w (woken with NOTIFY(CTX_CASE)
 * when it closes). */
static void
watch_ctx(struct waiter *w, struct lfc__sel_node *node, lfc_ctx *ctx)
{
    struct lfc__waitable *done = lfc__waitable_of(lfc_ctx_done(ctx));
    lfc__sel_node_init(node, &w->sel, CTX_CASE, NULL);
    done->ops->link(done, LFC_RECV, node);
}

static void
unwatch_ctx(struct lfc__sel_node *node, lfc_ctx *ctx)
{
    struct lfc__waitable *done = lfc__waitable_of(lfc_ctx_done(ctx));
    done->ops->unlink(done, LFC_RECV, node);
}

/* After arming the word WAITING: if ctx is already cancelled, take the
 * word back ourselves (true). The arming RMW and this fence pair with
 * close's mark-fence-notify (store-buffering, as in select.c): either
 * close's notify finds us WAITING, or we see it closed here. */
static bool
ctx_cancelled(struct waiter *w, lfc_ctx *ctx)
{
    if (!ctx)
        return false;
    /* ORDER seqcst: our arming before the check (see above). */
    lfc_fence_seqcst();
    if (!lfc_chan_closed(lfc_ctx_done(ctx)))
        return false;
    uint32_t st = LFC__SEL_WAITING;
    /* ORDER acqrel: as in wake_head(). */
    return lfc_cas_acqrel_u32(&w->sel.state, &st, LFC__SEL_ABORTED);
}

/*
 * Notified: try for our permits under the lock. On failure re-arm the
 * word and, if barging threads have kept us waiting too long, turn on
 * hand-off mode. Returns whether we got them. Under the lock.
 */
static bool
try_as_head(lfc_sem *s, struct waiter *w)
{
    /* ORDER rlx: a guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&s->state);
    while (free_of(cur) >= w->n) {
        /* ORDER acqrel: as in fast_acquire(). We may take permits in
         * hand-off mode too: we are the one it protects or behind it
         * only if the head left, and wake_head() then chose us. */
        if (lfc_cas_acqrel_u64(&s->state, &cur, cur - permits(w->n))) {
            unlink_waiter(s, w);
            wake_head(s); /* the next head may proceed too */
            return true;
        }
    }
    uint32_t st = LFC__SEL_NOTIFY(0);
    /* ORDER acqrel: re-arm; fails only if a cancellation arrived. */
    lfc_cas_acqrel_u32(&w->sel.state, &st, LFC__SEL_WAITING);
    if (queue_head(s) == w && lfc__now_ns() - w->since >= STARVE_NS)
        set_flags(s, HANDOFF, 0);
    return false;
}

/* Queue for n permits and wait. */
static int
acquire_slow(lfc_sem *s, int64_t n, int64_t deadline_ns, lfc_ctx *ctx)
{
    struct waiter w = {.n = n, .since = lfc__now_ns()};
    lfc__list_init(&w.link); /* not queued yet */
    struct lfc__sel_node node;
    int r = LFC_TIMEDOUT;
    bool expire = false; /* ctx's deadline passed: expire it (below) */

    lfc__lock(&s->lock);
    if (fast_acquire(s, n)) {
        lfc__unlock(&s->lock);
        return LFC_OK;
    }
    /* ORDER rlx: no other thread sees w before it is queued (lock). */
    lfc_store_rlx_u32(&w.sel.state, LFC__SEL_WAITING);
    enqueue(s, &w);
    wake_head(s); /* permits a release left just before QUEUED */
    lfc__unlock(&s->lock);

    if (ctx)
        watch_ctx(&w, &node, ctx);
    /* Woken by wake_head() (NOTIFY(0)), grant() (DONE(0)), the context's
     * close (NOTIFY(CTX_CASE)) or the deadline; the word, read under the
     * lock, decides. */
    for (;;) {
        if (!ctx_cancelled(&w, ctx))
            lfc__sel_park(&w.sel, deadline_ns);
        lfc__lock(&s->lock); /* also: a waker is done with w */
        /* ORDER acq: pairs with the waker's release CAS or store. */
        uint32_t st = lfc_load_acq_u32(&w.sel.state);
        if (st == LFC__SEL_DONE(0)) {
            r = LFC_OK; /* granted in hand-off mode, already unlinked */
            break;
        }
        if (st == LFC__SEL_NOTIFY(0)) {
            if (try_as_head(s, &w)) {
                r = LFC_OK;
                break;
            }
            if (deadline_ns == INT64_MAX || lfc__now_ns() < deadline_ns) {
                lfc__unlock(&s->lock);
                continue; /* re-armed: sleep again */
            }
        } else if (st == LFC__SEL_WAITING) {
            lfc__unlock(&s->lock); /* not reached: park returns moved */
            continue;
        }
        /* Timed out or cancelled. Once unlinked nobody looks at w. */
        if (ctx && lfc_chan_closed(lfc_ctx_done(ctx)))
            r = lfc_ctx_err(ctx);
        else
            expire = ctx != NULL;
        if (lfc__list_linked(&w.link))
            unlink_waiter(s, &w);
        wake_head(s); /* we may have held up those behind us */
        break;
    }
    lfc__unlock(&s->lock);
    if (ctx)
        unwatch_ctx(&node, ctx);
    /* Not under the lock: cancelling closes done channels, whose waiters
     * may be ours. */
    return expire ? lfc__ctx_expire(ctx) : r;
}

static int
acquire(lfc_sem *s, int64_t n, int64_t deadline_ns, lfc_ctx *ctx)
{
    if (!s || n < 0 || n > s->total)
        return LFC_EINVAL;
    if (ctx) {
        int err = lfc_ctx_err(ctx);
        if (err != LFC_OK)
            return err;
    }
    if (n == 0)
        return LFC_OK; /* as documented: not queued behind anyone */
    if (fast_acquire(s, n))
        return LFC_OK;
    /* Spin: a holder on another CPU may release soon. Not when others
     * are queued already: then the permits are contended, and spinning
     * only bounces the word's line between CPUs while sleeping lets the
     * running threads work from their caches. Woken by nothing: each
     * poll rechecks. */
    int limit = lfc_spin_limit();
    int polls = limit >= 0 ? limit : SPIN_POLLS;
    for (int i = 0; i < polls; i++) {
        lfc_cpu_relax();
        /* ORDER rlx: a hint; fast_acquire() decides. */
        uint64_t cur = lfc_load_rlx_u64(&s->state);
        if ((cur & FLAGS) && limit < 0)
            break;
        if (fast_acquire(s, n))
            return LFC_OK;
        if (lfc__spin_past_deadline((uint32_t)i, deadline_ns))
            break; /* no budget outlasts the deadline */
    }
    if (deadline_ns != INT64_MAX && lfc__now_ns() >= deadline_ns) {
        if (fast_acquire(s, n))
            return LFC_OK;
        /* A ctx's deadline, passed before its timer fired: expire ctx,
         * so that what we return is lfc_ctx_err(ctx). */
        return ctx ? lfc__ctx_expire(ctx) : LFC_TIMEDOUT;
    }
    return acquire_slow(s, n, deadline_ns, ctx);
}

int
lfc_sem_acquire(lfc_sem *s, int64_t n)
{
    return acquire(s, n, INT64_MAX, NULL);
}

int
lfc_sem_acquire_until(lfc_sem *s, int64_t n, int64_t deadline_ns)
{
    return acquire(s, n, deadline_ns, NULL);
}

int
lfc_sem_acquire_ctx(lfc_sem *s, int64_t n, lfc_ctx *ctx)
{
    if (!ctx)
        return LFC_EINVAL;
    return acquire(s, n, lfc_ctx_deadline(ctx), ctx);
}

int
lfc_sem_try_acquire(lfc_sem *s, int64_t n)
{
    if (!s || n < 0 || n > s->total)
        return LFC_EINVAL;
    return fast_acquire(s, n) ? LFC_OK : LFC_AGAIN;
}

int
lfc_sem_release(lfc_sem *s, int64_t n)
{
    if (!s || n < 0)
        return LFC_EINVAL;
    uint64_t was;
    int r = add_permits(s, n, &was);
    if (r != LFC_OK || !(was & FLAGS))
        return r; /* nobody was queued when we added: nothing to wake */
    lfc__lock(&s->lock);
    wake_head(s);
    lfc__unlock(&s->lock);
    return LFC_OK;
}
