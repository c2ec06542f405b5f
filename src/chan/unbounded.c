/* SPDX-License-Identifier: MIT */
/*
 * Unbounded channels: liburcu's wait-free concurrent queue (wfcqueue)
 * with lfchan's parking, as a channel flavor (lfc_chan_flavor.h).
 * Depends on: lfc_wfcq.h (wfcqueue, header-only), core (event counts,
 * spin policy, the small futex lock, atomics), the waitable interface.
 *
 * Design
 * ------
 * The queue is Desnoyers and Jiangshan's wfcqueue (urcu/static/wfcqueue.h;
 * the linking and licensing choice is in lfc_wfcq.h): a singly linked
 * list with a dummy head node. An enqueue is two steps, an exchange on
 * tail (wait-free; the linearization point of a send) and then the store
 * that links the old tail to the new node. Every send mallocs one node
 * holding its value and every receive frees one, so memory goes back as
 * values are consumed (no node cache of our own: glibc's per-thread
 * tcache already serves the hot path, and bench/ref_wfcq.c, the bar this
 * flavor is measured against, allocates the same way; a bounded cache is
 * an option if profiles show malloc/free dominating).
 *
 * Never wfcqueue's blocking dequeue: it sleeps 10 ms (poll()) when it
 * meets an enqueuer between its two steps. We use
 * __cds_wfcq_dequeue_nonblocking, whose CDS_WFCQ_WOULDBLOCK means exactly
 * that: the queue is not empty (tail has moved) but the node at its front
 * is not linked yet. A receive then waits for that sender as a ring
 * receive waits for a sender mid-copy (lfc__wait_for_peer): a bounded
 * spin, then yields, outside the dequeue lock. Not parking: the sender is running
 * (or preempted) two instructions before the store we need, so parking
 * would trade a yield for a futex round trip and a wake-up that the
 * sender's signal only gives after its exit RMW; and a receive that
 * never returns LFC_AGAIN while tail has moved is what makes
 * lfc_try_recv linearizable (empty only if, at an instant, no send had
 * passed its exchange) and lets a woken receiver never absorb a wake-up
 * without taking a value (below). A preempted sender costs receivers
 * yields, as in the ring.
 *
 * Dequeuers need mutual exclusion (wfcqueue's synchronization table:
 * dequeue against dequeue is "X"). A small futex lock (lfc__lock) around
 * the dequeue alone: a few loads, one store and, for the last node, one
 * CAS; the copy-out and free happen after the unlock. Per-consumer
 * splicing (take the whole list into a private queue) was rejected: the
 * values a consumer holds privately would be invisible to the others, so
 * a receiver could block, or lfc_try_recv say LFC_AGAIN, while the
 * channel holds values; and lfc_chan_len and close would have to count
 * private queues. The lock is uncontended with one consumer (one CAS and
 * one exchange per receive, as pthread_mutex in ref_wfcq), and never
 * held across a wait of any kind.
 *
 * Close. wfcqueue's exchange cannot fail, so unlike the ring a close bit
 * cannot make a racing enqueue fail; instead senders announce themselves
 * in `state` around their exchange:
 *
 *   state = total << 26 | inflight << 2 | DRAINED << 1 | CLOSED
 *
 *   send:  malloc; state += INFLIGHT (seqcst RMW); if CLOSED was set,
 *          undo and refuse; else exchange + link; state += TOTAL -
 *          INFLIGHT (seqcst RMW); signal rx_ec.
 *   close: state |= CLOSED (seqcst RMW). The senders counted then
 *          ("pre-close") will enqueue; senders that see CLOSED take
 *          themselves back. Whoever brings inflight to 0 with CLOSED set
 *          (close itself if it was 0, else the last sender out, which
 *          sees it in its RMW's result) sets DRAINED and broadcasts.
 *          Close returns once DRAINED is set.
 *
 * After CLOSED, inflight can only fall to 0 once every pre-close sender
 * has left (refusing senders add 1 and take it back), so DRAINED means
 * "closed, and every send that will ever enqueue has enqueued". Close is
 * linearized at the instant DRAINED is set: every successful send's
 * exchange precedes it, close returns after it (no send enqueues after
 * close has returned), and a send or receive returns LFC_CLOSED only
 * after seeing DRAINED (a refusing sender waits for it: bounded, since
 * senders never block between their two RMWs). Receivers return
 * LFC_CLOSED once DRAINED is set and the queue is empty.
 *
 * Invariants:
 *   - A node is in the queue from its sender's exchange until one
 *     receiver dequeues it under deq_lock; that receiver alone copies and
 *     frees it.
 *   - inflight counts senders between their two RMWs (at most 2^24 - 1
 *     at once); total counts completed enqueues mod 2^38; deq counts
 *     dequeues (free-running, compared with total mod 2^38 only through a
 *     difference: wraparound tested).
 *   - CLOSED and DRAINED, once set, stay set; DRAINED implies CLOSED and
 *     inflight == 0 at the instant it was set, and no enqueue after.
 *
 * Field table:
 *   | field      | written by                       | read by    | order  |
 *   |------------|----------------------------------|------------|--------|
 *   | tail       | senders (xchg), last dequeue (CAS)| all       | urcu   |
 *   | state      | senders, close (seqcst RMW)      | all        | seqcst/acq |
 *   | tx_spin    | senders, when waking             | receivers  | rlx    |
 *   | head       | the dequeuer holding deq_lock    | same       | lock   |
 *   | deq_lock   | receivers (lfc__lock)            | receivers  | acqrel |
 *   | deq        | the dequeuer holding deq_lock    | len        | rlx    |
 *   | rx_spin    | receivers, when waiting          | both       | rlx    |
 *   | rx_ec      | see park.c                       |            |        |
 *   | tx_ec      | select's send-case nodes (never waited on) |  |        |
 *   | node       | its sender, before the exchange  | its taker  | xchg/link |
 *   | base       | lfc_chan_flavor.h's field table  |            |        |
 *
 * Wake-up argument. Receivers wait on rx_ec for "tail has moved off the
 * dummy head (a value is there or being linked), or DRAINED". Senders
 * never wait (sends never block), so nothing signals tx_ec but close.
 *   - A sender's exchange publishes its node; its exit RMW on state is
 *     seqcst (a full fence, lfc_atomic.h), and then it loads rx_ec's
 *     waiters: the store→load half of the store-buffering pair whose
 *     other half is the waiter's announce, fence and recheck of tail in
 *     lfc__ec_wait (and select's link, fence, ready). Either the waiter
 *     sees the moved tail, or the sender sees the waiter and wakes one.
 *   - The setter of DRAINED does so with a seqcst RMW and then
 *     broadcasts rx_ec: same pairing, for "closed and drained".
 *   - A woken receiver never goes back to sleep while tail has moved: on
 *     WOULDBLOCK it waits for the sender ahead (above). So a wake-one is
 *     absorbed without a value only if another receiver took that value,
 *     and then it was spent on the value it announced. Nodes become
 *     reachable in exchange order, not in signal order, but that needs no
 *     re-signal rule (the ring's "whoever moves head onto a ready slot
 *     signals the next waiter"): the woken receiver waits for the node
 *     ahead of the one whose signal woke it, and that node's sender
 *     signals in turn.
 *   - Select: its send case is always ready (ready() says so; try_send
 *     completes it), so only receive cases wait, on rx_ec as above
 *     (select.c, points 1-6).
 *
 * Lifetime: as every channel (chan.c): reference counted in the common
 * part; the send and receive paths never touch the count. A sender
 * touches the channel until its signal returns; the rule that it holds
 * its own reference until its call returns is what lets a receiver free
 * the channel as soon as its lfc_recv has returned. destroy frees the
 * nodes still queued.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lfchan/chan.h"
#include "lfc_atomic.h"
#include "lfc_chan_flavor.h"
#include "lfc_common.h"
#include "lfc_park.h"
#include "lfc_unbounded_internal.h"
#include "lfc_waitable.h"
#include "lfc_wfcq.h"

/* `state` (see "Close" above). */
#define ST_CLOSED ((uint64_t)1)
#define ST_DRAINED ((uint64_t)2)
#define ST_INFLIGHT_SHIFT 2
#define ST_INFLIGHT_ONE ((uint64_t)1 << ST_INFLIGHT_SHIFT)
#define ST_INFLIGHT_MASK ((((uint64_t)1 << 24) - 1) << ST_INFLIGHT_SHIFT)
#define ST_TOTAL_SHIFT 26
#define ST_TOTAL_ONE ((uint64_t)1 << ST_TOTAL_SHIFT)
#define ST_TOTAL_BITS (64 - ST_TOTAL_SHIFT)
#define ST_TOTAL_MASK (((uint64_t)1 << ST_TOTAL_BITS) - 1)


struct ub_node {
    struct cds_wfcq_node node; /* first: a queue node points here */
    unsigned char val[];       /* elem_size bytes */
};

struct unbounded {
    struct lfc_chan base; /* first: an lfc_chan * points here */
    size_t elem_size;     /* base.elem_size, read-only */

    /* Senders' line. */
    LFC_CACHE_ALIGNED struct cds_wfcq_tail tail; /* senders (xchg) */
    uint64_t state;          /* senders, close (seqcst RMW) */
    struct lfc_spin tx_spin; /* senders, when they wake a receiver */

    /* Receivers' line. */
    LFC_CACHE_ALIGNED struct __cds_wfcq_head head; /* under deq_lock */
    uint32_t deq_lock;       /* lfc__lock: 0 free */
    uint64_t deq;            /* dequeues; under deq_lock, read by len */
    struct lfc_spin rx_spin; /* waiting receivers */

    /* Event counts: written only when someone parks. */
    LFC_CACHE_ALIGNED struct lfc_ec rx_ec; /* receivers wait for values */
    struct lfc_ec tx_ec; /* select send cases link here; close broadcasts */
};

_Static_assert(offsetof(struct unbounded, head) -
                       offsetof(struct unbounded, tail) >=
                   LFC_CACHELINE,
               "head and tail must not share a cache line");
_Static_assert(offsetof(struct unbounded, rx_ec) -
                       offsetof(struct unbounded, head) >=
                   LFC_CACHELINE,
               "event counts must not share the head's line");
_Static_assert(offsetof(struct unbounded, base) == 0 &&
                   offsetof(struct lfc_chan, waitable) == 0,
               "select finds the waitable at the start of a channel");

static inline struct unbounded *
ub_of(const void *p)
{
    return (struct unbounded *)(uintptr_t)p; /* base, its waitable: first */
}

static inline uint64_t
st_inflight(uint64_t st)
{
    return (st & ST_INFLIGHT_MASK) >> ST_INFLIGHT_SHIFT;
}

/* Whether tail is at the dummy head: no send has passed its exchange
 * without its node being dequeued since. */
static inline bool
queue_empty(struct unbounded *ch)
{
    /* ORDER acq: pairs with the exchange (a full barrier) in
     * cds_wfcq_enqueue: a moved tail means a node is there or being
     * linked; for LFC_CLOSED it follows the acq load of DRAINED. */
    return lfc_load_acq_ptr((void *const *)&ch->tail.p) == &ch->head.node;
}

/* ---- close -------------------------------------------------------------- */

/* Inflight reached 0 with CLOSED set (our RMW said so): set DRAINED and
 * wake everyone who waits for it. */
static void
set_drained(struct unbounded *ch)
{
    /* ORDER seqcst: a full fence (lfc_atomic.h) between DRAINED and the
     * waiters loads below (store→load), pairing with the waiters'
     * announce-then-recheck; release for the acq loads that see it. */
    uint64_t old = lfc_fetch_or_seqcst_u64(&ch->state, ST_DRAINED);
    if (old & ST_DRAINED)
        return; /* someone else did (and woke them) */
    lfc__ec_broadcast_fenced(&ch->rx_ec, &ch->tx_spin);
    lfc__ec_broadcast_fenced(&ch->tx_ec, &ch->tx_spin);
}

/* The channel is closed: wait until close is complete (DRAINED), so that
 * an LFC_CLOSED we return comes after every successful send's exchange. */
static void
await_drained(struct unbounded *ch)
{
    uint32_t polls = 0;
    /* Woken by nothing: each poll rechecks. Bounded: DRAINED is set by
     * the last pre-close sender to leave, and senders never block between
     * their two RMWs. ORDER acq: pairs with the seqcst RMW in
     * set_drained(). */
    while (!(lfc_load_acq_u64(&ch->state) & ST_DRAINED))
        lfc__wait_for_peer(&polls);
}

static int
ub_close(lfc_chan *c)
{
    struct unbounded *ch = ub_of(c);
    /* ORDER seqcst: one RMW sets CLOSED and reads the senders counted
     * before it; a sender's RMW after it sees CLOSED. */
    uint64_t old = lfc_fetch_or_seqcst_u64(&ch->state, ST_CLOSED);
    if (!(old & ST_CLOSED) && st_inflight(old) == 0)
        set_drained(ch);
    await_drained(ch);
    return (old & ST_CLOSED) ? LFC_CLOSED : LFC_OK;
}

/* ---- send --------------------------------------------------------------- */

/* We counted ourselves in inflight and saw CLOSED: take it back; if that
 * left nobody in flight, close is complete. */
static int
send_refused(struct unbounded *ch)
{
    /* ORDER seqcst: as the counting RMW; the result says whether we were
     * the last sender in flight after close. */
    uint64_t old = lfc_faa_seqcst_u64(&ch->state, (uint64_t)0 - ST_INFLIGHT_ONE);
    if (st_inflight(old) == 1)
        set_drained(ch);
    await_drained(ch);
    return LFC_CLOSED;
}

static int
ub_try_send(lfc_chan *c, const void *elem)
{
    struct unbounded *ch = ub_of(c);
    /* ORDER acq: a hint that spares a closed channel's senders the
     * malloc; the counting RMW below decides. Pairs with set_drained(). */
    if (lfc_unlikely(lfc_load_acq_u64(&ch->state) & ST_CLOSED)) {
        await_drained(ch);
        return LFC_CLOSED;
    }
    int saved_errno = errno; /* status functions leave errno alone */
    struct ub_node *n = malloc(sizeof(*n) + ch->elem_size);
    if (!n) {
        errno = saved_errno;
        return LFC_ENOMEM; /* nothing enqueued */
    }
    cds_wfcq_node_init(&n->node);
    if (ch->elem_size)
        memcpy(n->val, elem, ch->elem_size);

    /* ORDER seqcst: counts us before any close that comes after it in
     * state's modification order, and reads whether one came before. */
    uint64_t old = lfc_faa_seqcst_u64(&ch->state, ST_INFLIGHT_ONE);
    if (lfc_unlikely(old & ST_CLOSED)) {
        free(n);
        return send_refused(ch);
    }
    LFC_DEBUG_YIELD_POINT();
    /* The exchange (a full barrier) publishes the node's contents; the
     * link store that follows makes it reachable. */
    cds_wfcq_enqueue(&ch->head, &ch->tail, &n->node);
    LFC_DEBUG_YIELD_POINT();
    /* ORDER seqcst: release for the acq loads of state that see us gone
     * (DRAINED, len), and a full fence (lfc_atomic.h) between our
     * exchange and the waiters load in the signal below (store→load),
     * pairing with the waiters' announce-then-recheck. */
    old = lfc_faa_seqcst_u64(&ch->state, ST_TOTAL_ONE - ST_INFLIGHT_ONE);
    if (lfc_unlikely(old & ST_CLOSED) && st_inflight(old) == 1)
        set_drained(ch);
    lfc__ec_signal_fenced(&ch->rx_ec, &ch->tx_spin);
    return LFC_OK;
}

static int
ub_send_until(lfc_chan *c, const void *elem, int64_t deadline_ns)
{
    (void)deadline_ns; /* a send never waits: no deadline can pass */
    return ub_try_send(c, elem);
}

/* ---- receive ------------------------------------------------------------ */

enum { RECV_RETRY = 1 }; /* ub_empty_result: look again; not a status */

/* The queue was seen empty: LFC_AGAIN, or LFC_CLOSED if close is complete
 * and the queue is still empty, or RECV_RETRY (a value came meanwhile). */
static int
ub_empty_result(struct unbounded *ch)
{
    /* ORDER acq: pairs with the seqcst RMW in set_drained(): every
     * successful send's exchange is visible after it. */
    if (!(lfc_load_acq_u64(&ch->state) & ST_DRAINED))
        return LFC_AGAIN; /* empty at that load, and not closed yet */
    return queue_empty(ch) ? LFC_CLOSED : RECV_RETRY;
}

/* Dequeue one node under the lock: the node, NULL (empty) or
 * CDS_WFCQ_WOULDBLOCK (a sender is between its exchange and its link). */
static struct cds_wfcq_node *
ub_dequeue(struct unbounded *ch)
{
    lfc__lock(&ch->deq_lock);
    struct cds_wfcq_node *qn =
        __cds_wfcq_dequeue_nonblocking(&ch->head, &ch->tail);
    if (qn != NULL && qn != CDS_WFCQ_WOULDBLOCK) {
        /* ORDER rlx: a counter for lfc_chan_len only; its writers are
         * ordered by deq_lock. */
        uint64_t d = lfc_load_rlx_u64(&ch->deq);
        /* ORDER rlx: as above. */
        lfc_store_rlx_u64(&ch->deq, d + 1);
    }
    lfc__unlock(&ch->deq_lock);
    return qn;
}

/* Take one value into out. Never blocks, but waits for a sender between
 * its two steps (see "Design"). precheck: look at tail before taking the
 * lock (polls); the first try of a receive goes straight to the lock. */
static int
ub_recv_once(struct unbounded *ch, void *out, bool precheck)
{
    uint32_t polls = 0;

    for (;;) {
        if (precheck && queue_empty(ch)) {
            int r = ub_empty_result(ch);
            if (r != RECV_RETRY)
                return r;
        }
        precheck = true;
        struct cds_wfcq_node *qn = ub_dequeue(ch);
        if (qn == CDS_WFCQ_WOULDBLOCK) {
            lfc__wait_for_peer(&polls);
            continue;
        }
        if (qn == NULL) {
            int r = ub_empty_result(ch);
            if (r != RECV_RETRY)
                return r;
            continue;
        }
        LFC_DEBUG_YIELD_POINT();
        struct ub_node *n = lfc_container_of(qn, struct ub_node, node);
        if (ch->elem_size)
            memcpy(out, n->val, ch->elem_size);
        free(n);
        return LFC_OK;
    }
}

static int
ub_try_recv(lfc_chan *c, void *out)
{
    return ub_recv_once(ub_of(c), out, true);
}

struct recv_op {
    struct unbounded *ch;
    void *out;
};

static int
recv_try(void *arg)
{
    struct recv_op *op = arg;
    return ub_recv_once(op->ch, op->out, true);
}

static int
ub_recv_until(lfc_chan *c, void *out, int64_t deadline_ns)
{
    struct unbounded *ch = ub_of(c);
    int r = ub_recv_once(ch, out, false);
    if (lfc_likely(r != LFC_AGAIN))
        return r;
    struct recv_op op = {ch, out};
    /* Woken by a sender's signal after its exit RMW, or by set_drained's
     * broadcast ("Wake-up argument" above). */
    return lfc__ec_wait(&ch->rx_ec, &ch->rx_spin, &ch->tx_spin, recv_try, &op,
                        deadline_ns);
}

/* ---- the rest of the flavor table ---------------------------------------- */

static bool
ub_closed(const lfc_chan *c)
{
    /* ORDER acq: pairs with the seqcst RMW in ub_close(). */
    return (lfc_load_acq_u64(&ub_of(c)->state) & ST_CLOSED) != 0;
}

static size_t
ub_len(const lfc_chan *c)
{
    struct unbounded *ch = ub_of(c);
    /* ORDER rlx: a snapshot. deq first: a dequeue is counted only after
     * its node's enqueue began, so total (read after) minus deq is below
     * 0 only by sends still between their exchange and their exit RMW. */
    uint64_t d = lfc_load_rlx_u64(&ch->deq);
    /* ORDER rlx: as above. */
    uint64_t st = lfc_load_rlx_u64(&ch->state);
    uint64_t diff = ((st >> ST_TOTAL_SHIFT) - d) & ST_TOTAL_MASK;
    if (diff >> (ST_TOTAL_BITS - 1))
        return 0; /* negative: such a send, already received */
    return (size_t)diff;
}

static void
ub_destroy(lfc_chan *c)
{
    struct unbounded *ch = ub_of(c);
    struct cds_wfcq_node *qn;
    /* The last reference: no call is in progress, so no sender is between
     * its steps and the dequeue never says WOULDBLOCK. */
    while ((qn = __cds_wfcq_dequeue_nonblocking(&ch->head, &ch->tail)) !=
           NULL) {
        LFC_ASSERT(qn != CDS_WFCQ_WOULDBLOCK);
        free(lfc_container_of(qn, struct ub_node, node));
    }
}

static const struct lfc__chan_flavor ub_flavor = {
    .try_send = ub_try_send,
    .send_until = ub_send_until,
    .try_recv = ub_try_recv,
    .recv_until = ub_recv_until,
    .close = ub_close,
    .closed = ub_closed,
    .len = ub_len,
    .destroy = ub_destroy,
};

/* ---- the waitable interface (lfc_waitable.h) ------------------------------ */

static int
ub_w_check(const struct lfc__waitable *w, int dir, const void *buf)
{
    (void)dir; /* never owned: both directions are the user's */
    return buf != NULL || ub_of(w)->elem_size == 0 ? 0 : LFC_EINVAL;
}

static int
ub_w_try_send(struct lfc__waitable *w, const void *elem)
{
    return ub_try_send(&ub_of(w)->base, elem);
}

static int
ub_w_try_recv(struct lfc__waitable *w, void *out)
{
    return ub_recv_once(ub_of(w), out, true);
}

static bool
ub_w_ready(struct lfc__waitable *w, int dir, const struct lfc__selector *self)
{
    struct unbounded *ch = ub_of(w);
    (void)self;
    if (dir == LFC_SEND)
        return true; /* try_send completes: LFC_OK, LFC_CLOSED or ENOMEM */
    if (!queue_empty(ch))
        return true;
    /* ORDER acq: pairs with the seqcst RMW in set_drained(). */
    return (lfc_load_acq_u64(&ch->state) & ST_DRAINED) != 0;
}

static void
ub_w_link(struct lfc__waitable *w, int dir, struct lfc__sel_node *n)
{
    struct unbounded *ch = ub_of(w);
    n->ec = dir == LFC_RECV ? &ch->rx_ec : &ch->tx_ec;
    n->base.passive = false;
    lfc__ec_node_add(n->ec, &n->base);
}

static void
ub_w_unlink(struct lfc__waitable *w, int dir, struct lfc__sel_node *n)
{
    (void)w;
    (void)dir;
    lfc__ec_node_remove(n->ec, &n->base);
}

static bool
ub_w_note_cpu(struct lfc__waitable *w, int dir, int cpu)
{
    struct unbounded *ch = ub_of(w);
    if (dir == LFC_RECV)
        return lfc__spin_note_same_cpu(&ch->rx_spin, &ch->tx_spin, cpu);
    return lfc__spin_note_same_cpu(&ch->tx_spin, &ch->rx_spin, cpu);
}

static const struct lfc__waitable_ops ub_waitable_ops = {
    .check = ub_w_check,
    .try_send = ub_w_try_send,
    .try_recv = ub_w_try_recv,
    .ready = ub_w_ready,
    .link = ub_w_link,
    .unlink = ub_w_unlink,
    .note_cpu = ub_w_note_cpu,
};

/* ---- construction ---------------------------------------------------------- */

lfc_chan *
lfc__chan_new_unbounded_at(size_t elem_size, uint64_t start_count)
{
    /* As lfc_chan_new: a node's size (header + value) must not overflow. */
    if (elem_size > SIZE_MAX - 16) {
        errno = EINVAL;
        return NULL;
    }
    struct unbounded *ch = aligned_alloc(LFC_CACHELINE, sizeof(*ch));
    if (!ch) {
        errno = ENOMEM;
        return NULL;
    }
    memset(ch, 0, sizeof(*ch));
    lfc__chan_init_common(&ch->base, &ub_waitable_ops, &ub_flavor, SIZE_MAX,
                          elem_size);
    ch->elem_size = elem_size;
    __cds_wfcq_init(&ch->head, &ch->tail);
    ch->state = (start_count & ST_TOTAL_MASK) << ST_TOTAL_SHIFT;
    ch->deq = start_count;
    lfc__spin_init(&ch->tx_spin);
    lfc__spin_init(&ch->rx_spin);
    lfc__ec_init(&ch->rx_ec);
    lfc__ec_init(&ch->tx_ec);
    /* Publication to other threads is the caller's (thread creation, or a
     * release store of the pointer). */
    return &ch->base;
}

lfc_chan *
lfc_chan_new_unbounded(size_t elem_size)
{
    return lfc__chan_new_unbounded_at(elem_size, 0);
}
