/* SPDX-License-Identifier: MIT */
/*
 * Semaphores: weighted, first-come-first-served, with a lock-free fast
 * path. Depends on: park.c (the small futex lock, selector parking words),
 * chan.c (a context's done channel, for lfc_sem_acquire_ctx).
 *
 * Design
 * ------
 * One 64-bit word holds the free permits and a QUEUED bit:
 *
 *   state = free << 1 | QUEUED
 *
 * QUEUED is set exactly while the waiter queue is non-empty, and is
 * changed, like the queue, only under the semaphore's lock. The fast paths
 * act only while it is clear: acquire CASes `free - n` if free >= n,
 * release CASes `free + n` if that stays within the total. Any CAS that
 * raced with the setting of QUEUED fails (the word changed) and goes to
 * the slow path, so while a waiter is queued every permit passes through
 * the lock, and the lock serves the queue in order: FIFO, and no acquire
 * overtakes a queued waiter.
 *
 * Slow acquire (under the lock): if nothing is queued and the permits are
 * free, take them. Otherwise append a waiter {n, parking word} to the
 * queue, set QUEUED, run grant() (a release that won its CAS just before
 * QUEUED was set left permits that the RMW setting QUEUED reads), unlock,
 * and sleep on the parking word.
 *
 * grant() (under the lock): while the head waiter's n permits are free,
 * claim the waiter by CAS on its word (WAITING -> DONE), subtract its
 * permits, unlink it and wake it. A waiter whose CAS fails has given up
 * (timeout, or its context was cancelled, which moved its word first): it
 * is unlinked and skipped. When the queue empties, QUEUED is cleared.
 * Slow release: add the permits under the lock (checking the total), then
 * grant().
 *
 * The parking word is the selectors' (struct lfc__selector, park.c), so a
 * context-aware acquire can also link a node on the context's done
 * channel and exactly one of "granted", "cancelled" and "timed out" wins
 * the word. A waiter that gave up takes the lock, unlinks itself if still
 * queued and runs grant() (it may have been the head holding others up).
 * A granted waiter passes through the lock once before returning, so the
 * granter (which wakes it under the lock) is done with its stack.
 *
 * Why no wake-up is lost: a queued waiter sleeps until its word leaves
 * WAITING. Permits reach the free count either under the lock (then
 * grant() runs) or by a fast release while QUEUED is clear, i.e. before
 * the waiter was queued; the enqueuing thread's grant() reads the word
 * after its own RMW, so it sees those permits. The head can be granted
 * only when its permits are free, and every event that frees permits or
 * removes a head runs grant() afterwards.
 *
 * Field table:
 *   | field          | written by                    | read by | order   |
 *   |----------------|-------------------------------|---------|---------|
 *   | state          | fast paths (CAS), lock holders| all     | acqrel  |
 *   | lock, queue    | lock holders                  | same    | lock    |
 *   | waiter.sel     | granter, ctx close, waiter    | waiter  | acqrel  |
 *   | total          | lfc_sem_new                   | all     | -       |
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lfchan/select.h"
#include "lfchan/sem.h"
#include "lfchan/spin.h"
#include "lfc_atomic.h"
#include "lfc_chan_internal.h"
#include "lfc_common.h"
#include "lfc_park.h"

#define QUEUED 1u

enum {
    SPIN_POLLS = 128, /* fast-path retries before queueing (~1-2 us) */
    CTX_CASE = 1      /* the done channel's node index: NOTIFY(1) */
};

struct waiter {
    struct waiter *next; /* the queue; under the lock */
    struct waiter *prev;
    int64_t n;
    bool queued; /* under the lock */
    struct lfc__selector sel;
};

struct lfc_sem {
    int64_t total;                    /* read-only */
    LFC_CACHE_ALIGNED uint64_t state; /* free << 1 | QUEUED */
    LFC_CACHE_ALIGNED uint32_t lock;  /* guards the queue and QUEUED */
    struct waiter *head;
    struct waiter *tail;
};

static inline int64_t
free_of(uint64_t s)
{
    return (int64_t)(s >> 1);
}

static inline uint64_t
permits(int64_t n)
{
    return (uint64_t)n << 1;
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
    s->lock = 0;
    s->head = s->tail = NULL;
    return s;
}

void
lfc_sem_free(lfc_sem *s)
{
    LFC_ASSERT(!s || s->head == NULL); /* nobody may be waiting */
    free(s);
}

int64_t
lfc_sem_available(const lfc_sem *s)
{
    /* ORDER rlx: a snapshot. */
    return s ? free_of(lfc_load_rlx_u64(&s->state)) : 0;
}

/* ---- fast paths ---------------------------------------------------------- */

/* Take n permits if nobody is queued and they are free. */
static bool
fast_acquire(lfc_sem *s, int64_t n)
{
    /* ORDER rlx: a starting guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&s->state);
    while (!(cur & QUEUED) && free_of(cur) >= n) {
        /* ORDER acqrel: acquire pairs with the release that returned
         * these permits (its critical section happens-before ours). */
        if (lfc_cas_acqrel_u64(&s->state, &cur, cur - permits(n)))
            return true;
    }
    return false;
}

/* Return n permits if nobody is queued: LFC_OK, LFC_EINVAL (over the
 * total), or LFC_AGAIN (someone is queued: take the lock). */
static int
fast_release(lfc_sem *s, int64_t n)
{
    /* ORDER rlx: a starting guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&s->state);
    while (!(cur & QUEUED)) {
        if (n > s->total - free_of(cur))
            return LFC_EINVAL;
        /* ORDER acqrel: release publishes our critical section to the
         * acquirer that takes these permits. */
        if (lfc_cas_acqrel_u64(&s->state, &cur, cur + permits(n)))
            return LFC_OK;
    }
    return LFC_AGAIN;
}

/* ---- the queue (under the lock) -------------------------------------- */

static void
unlink_waiter(lfc_sem *s, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    w->queued = false;
}

static void
set_queued(lfc_sem *s, bool on)
{
    /* ORDER rlx: a guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&s->state);
    uint64_t want;
    do {
        want = on ? cur | QUEUED : cur & ~(uint64_t)QUEUED;
        /* ORDER acqrel: reads the latest free count (a fast release
         * that won before us is seen by the grant() that follows). */
    } while (!lfc_cas_acqrel_u64(&s->state, &cur, want));
}

/* Serve the queue in order while the head's permits are free. */
static void
grant(lfc_sem *s)
{
    struct waiter *w;
    while ((w = s->head) != NULL) {
        /* ORDER acq: pairs with releases' RMWs; only lock holders change
         * the word while QUEUED is set, so this value is current. */
        uint64_t cur = lfc_load_acq_u64(&s->state);
        if (free_of(cur) < w->n)
            return; /* FIFO: nobody overtakes the head */
        uint32_t st = LFC__SEL_WAITING;
        /* ORDER acqrel: claims the waiter (exactly one of granted,
         * cancelled, timed out wins); release publishes the permits. */
        if (lfc_cas_acqrel_u32(&w->sel.state, &st, LFC__SEL_DONE(0))) {
            /* ORDER acqrel: QUEUED is set: no fast path races us. */
            while (!lfc_cas_acqrel_u64(&s->state, &cur, cur - permits(w->n)))
                ;
            unlink_waiter(s, w);
            lfc__sel_wake(&w->sel); /* under the lock: w is alive */
        } else {
            unlink_waiter(s, w); /* it gave up; it will find itself gone */
        }
    }
    set_queued(s, false);
}

/* ---- waiting ------------------------------------------------------------- */

/* Link a node on ctx's done channel for w, then check ctx: true if ctx is
 * already cancelled and we took the word back ourselves. */
static bool
watch_ctx(struct waiter *w, struct lfc__sel_node *node, lfc_ctx *ctx)
{
    lfc_chan *done = lfc_ctx_done(ctx);
    node->sel = &w->sel;
    node->buf = NULL;
    node->index = CTX_CASE;
    node->dir = LFC_RECV;
    node->ec = lfc__chan_case_ec(done, LFC_RECV, &node->passive);
    lfc__ec_sel_add(node->ec, node);
    /* ORDER seqcst: our link before the check (store-buffering with
     * close's mark-fence-load, as in select.c). */
    lfc_fence_seqcst();
    if (!lfc_chan_closed(done))
        return false;
    uint32_t st = LFC__SEL_WAITING;
    /* ORDER acqrel: as in grant(). */
    return lfc_cas_acqrel_u32(&w->sel.state, &st, LFC__SEL_ABORTED);
}

/* Queue for n permits and wait. */
static int
acquire_slow(lfc_sem *s, int64_t n, int64_t deadline_ns, lfc_ctx *ctx)
{
    struct waiter w = {.n = n, .queued = true};
    struct lfc__sel_node node;
    bool cancelled = false;

    lfc__lock(&s->lock);
    /* ORDER rlx: under the lock QUEUED is exact. */
    if (!(lfc_load_rlx_u64(&s->state) & QUEUED) && fast_acquire(s, n)) {
        lfc__unlock(&s->lock);
        return LFC_OK;
    }
    /* ORDER rlx: no other thread sees w before the lock is released. */
    lfc_store_rlx_u32(&w.sel.state, LFC__SEL_WAITING);
    w.prev = s->tail;
    w.next = NULL;
    if (s->tail)
        s->tail->next = &w;
    else
        s->head = &w;
    s->tail = &w;
    set_queued(s, true);
    grant(s); /* permits a fast release left just before QUEUED */
    lfc__unlock(&s->lock);

    if (ctx)
        cancelled = watch_ctx(&w, &node, ctx);
    uint32_t st =
        cancelled ? LFC__SEL_ABORTED : lfc__sel_park(&w.sel, deadline_ns);
    if (ctx)
        lfc__ec_sel_remove(node.ec, &node);

    lfc__lock(&s->lock);
    if (st != LFC__SEL_DONE(0)) {
        if (w.queued)
            unlink_waiter(s, &w);
        grant(s); /* we may have held up those behind us */
    }
    lfc__unlock(&s->lock); /* also: the granter is done with w */

    if (st == LFC__SEL_DONE(0))
        return LFC_OK;
    if (cancelled || st == LFC__SEL_NOTIFY(CTX_CASE))
        return lfc_ctx_err(ctx);
    return LFC_TIMEDOUT;
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
    /* Spin: a holder on another CPU may release soon. Only while nobody
     * is queued (we would not overtake one anyway). Woken by nothing:
     * each poll rechecks. */
    int limit = lfc_spin_limit();
    int polls = limit >= 0 ? limit : SPIN_POLLS;
    for (int i = 0; i < polls; i++) {
        lfc_cpu_relax();
        /* ORDER rlx: a hint; fast_acquire() rechecks. */
        if (lfc_load_rlx_u64(&s->state) & QUEUED)
            break;
        if (fast_acquire(s, n))
            return LFC_OK;
    }
    if (deadline_ns != INT64_MAX && lfc__now_ns() >= deadline_ns) {
        if (fast_acquire(s, n))
            return LFC_OK;
        return LFC_TIMEDOUT;
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
    int r = fast_release(s, n);
    if (r != LFC_AGAIN)
        return r;

    lfc__lock(&s->lock);
    /* ORDER acq: under the lock; pairs with the RMWs of other holders. */
    uint64_t cur = lfc_load_acq_u64(&s->state);
    do {
        if (n > s->total - free_of(cur)) {
            lfc__unlock(&s->lock);
            return LFC_EINVAL;
        }
        /* ORDER acqrel: release publishes our section to the waiter
         * that grant() hands these permits to. A fast path may still
         * race us if the queue emptied meanwhile: the CAS settles it. */
    } while (!lfc_cas_acqrel_u64(&s->state, &cur, cur + permits(n)));
    grant(s);
    lfc__unlock(&s->lock);
    return LFC_OK;
}
