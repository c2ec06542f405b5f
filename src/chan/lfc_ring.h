/* SPDX-License-Identifier: MIT */
/*
 * The ring flavor's core: the channel's bounded lock-free MPMC ring, its
 * try operations and its wake-up rules, for the files that implement the
 * ring flavor: chan.c (the public API, which inlines these on its fast
 * path), unbuf.c (unbuffered channels: a one-slot ring plus an
 * acknowledgement) and batch.c (claims of several slots). Nothing else
 * includes it. Depends on: core (event counts, spin policy, atomics), the
 * channel's common part (lfc_chan_flavor.h).
 *
 * Algorithm
 * ---------
 * The ring is Dmitry Vyukov's bounded MPMC queue with per-slot sequence
 * numbers ("stamps"), in the exact-capacity form of crossbeam-channel's
 * array flavour (crossbeam-channel/src/flavors/array.rs): a position is
 * `lap | index` with index < capacity, so any capacity works without a
 * division, and the top of the index field holds the closed bit (`mark`)
 * in `tail`. http://www.1024cores.net/home/lock-free-algorithms/queues/
 * bounded-mpmc-queue
 *
 *   mark    = next power of two above capacity (bit set in tail = closed)
 *   one_lap = 2 * mark (a position's lap part counts in one_lap steps)
 *
 * A slot is in one of three states for the position p that maps to it:
 *   stamp == p              free: a sender may claim p
 *   stamp == p + 1          full: holds the value sent at p
 *   stamp == p + one_lap    freed again: free for the next lap's position
 *
 * Send: read tail = p; if stamp(p) == p, CAS tail p -> next(p) to claim
 * it, copy the value in, then store stamp = p + 1 (release). If
 * stamp(p) < p (signed difference), the slot still holds last lap's value:
 * the channel is full. Receive mirrors it on head: stamp(p) == p + 1 means
 * a value is ready; claim with a CAS on head, copy out, store
 * stamp = p + one_lap (release). A stamp older than p + 1 means the
 * channel is empty, or a sender has claimed p but not yet published it.
 *
 * Close sets `mark` in tail with one atomic RMW, so a sender's CAS from an
 * unmarked tail fails after it and no value slips in after close; every
 * position claimed before it is published by its sender, and receivers
 * return LFC_CLOSED only when tail is marked and head has caught up with
 * it (closed and drained).
 *
 * Why this design and not a fetch-and-add ring (SCQ, LCRQ): FAA rings win
 * when dozens of cores hammer one index; on 2 to 16 cores the CAS fails
 * rarely, and Vyukov's ring needs no "empty slot" sentinel, no threshold
 * counter, and gives an exact capacity. A sender preempted between its
 * claim and its publish stalls only receivers that reach its slot, and they
 * park (below) instead of spinning on it.
 *
 * Parking: receivers wait on rx_ec for "a value is ready or the channel is
 * closed"; senders wait on tx_ec for "a slot is free or closed". A
 * successful send publishes its stamp, then (seqcst fence) signals rx_ec;
 * a successful receive frees its slot, then signals tx_ec. A signal costs a
 * fence and one load unless a waiter has announced itself, and it wakes one
 * waiter; close wakes all. park.c explains why no wake-up is lost; the
 * publication each try() depends on is exactly the stamp or tail store made
 * before the signal.
 *
 *
 * Invariants:
 *   - head <= tail (as positions, ignoring mark); tail - head <= capacity.
 *   - Only the thread whose CAS moved tail from p writes slot p's value and
 *     sets stamp p + 1; only the thread whose CAS moved head from p reads
 *     it and sets stamp p + one_lap.
 *   - Once mark is set in tail it stays set, and tail never moves again.
 *   - Positions and stamps are free-running 64-bit counters, compared only
 *     through differences, so wraparound is harmless (tested).
 *
 * Field table:
 *   | field        | written by                         | read by | order  |
 *   |--------------|------------------------------------|---------|--------|
 *   | tail         | senders (CAS), close (seqcst RMW)  | all     | rlx/acq|
 *   | try_offer    | lfc_try_send, unbuffered           | rx      | stamp  |
 *   | head         | receivers, retracting senders (CAS)| all     | rlx    |
 *   | slot stamp   | claimer of the position            | both    | rel/acq|
 *   | slot payload | claimer of the position (plain)    | other   | stamp  |
 *   | rx/tx/ack_ec | see park.c                         |         |        |
 *   | tx_spin      | senders, when waiting or waking    | both    | rlx    |
 *   | rx_spin      | receivers, when waiting or waking  | both    | rlx    |
 *   | base         | the common part: lfc_chan_flavor.h's field table  |
 *
 */
#ifndef LFC_RING_H
#define LFC_RING_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lfchan/chan.h"
#include "lfc_atomic.h"
#include "lfc_chan_flavor.h"
#include "lfc_common.h"
#include "lfc_park.h"
#include "lfc_selector.h"

/* A ring channel: the common part (lfc_chan_flavor.h), then the ring. */
struct ring {
    struct lfc_chan base; /* first: an lfc_chan * points here */
    /* Read-only after lfc_chan_new. */
    unsigned char *slots; /* ring_cap slots of `stride` bytes */
    size_t stride;        /* 8-byte stamp + payload, rounded up to 8 */
    uint64_t ring_cap;    /* slots in the ring: capacity, or 1 if unbuffered */
    uint64_t mark;        /* closed bit in tail; above every index */
    uint64_t one_lap;     /* position step from one lap to the next */
    size_t elem_size;     /* base.elem_size, on the line the ops read */
    bool unbuffered;

    /* Senders' line. */
    LFC_CACHE_ALIGNED uint64_t tail; /* senders (CAS), lfc_close (RMW) */
    struct lfc_spin tx_spin;         /* waiting senders */
    /* Unbuffered: the position of lfc_try_send's latest offer (written by
     * it, before the stamp store that publishes the offer); mark, never a
     * position, until the first. */
    uint64_t try_offer;

    /* Receivers' line. */
    LFC_CACHE_ALIGNED uint64_t head; /* receivers, retracting senders (CAS) */
    struct lfc_spin rx_spin;         /* waiting receivers */

    /* Event counts: written only when someone parks, read by every op. */
    LFC_CACHE_ALIGNED struct lfc_ec rx_ec; /* receivers wait for values */
    LFC_CACHE_ALIGNED struct lfc_ec tx_ec; /* senders wait for room */
    struct lfc_ec ack_ec; /* unbuffered senders wait for a receiver */
};

_Static_assert(offsetof(struct ring, head) -
                       offsetof(struct ring, tail) >=
                   LFC_CACHELINE,
               "head and tail must not share a cache line");
_Static_assert(offsetof(struct ring, rx_ec) -
                       offsetof(struct ring, head) >=
                   LFC_CACHELINE,
               "event counts must not share the head's line");
_Static_assert(offsetof(struct ring, base) == 0 &&
                   offsetof(struct lfc_chan, waitable) == 0,
               "select finds the waitable at the start of a channel");
_Static_assert(sizeof(struct ring) % LFC_CACHELINE == 0,
               "slots start on a cache line");

/* Element i of an array of elements of esz bytes (base may be NULL when
 * esz is 0: no arithmetic on it then). */
static inline const unsigned char *
elem_at(const void *base, size_t i, size_t esz)
{
    return esz ? (const unsigned char *)base + i * esz : base;
}

/* ---- what unbuf.c and batch.c lend the ring and the public API ---- */

/* unbuf.c: a selector parked on this unbuffered channel takes our value
 * (dir LFC_SEND) or gives us its (LFC_RECV); LFC_OK or LFC_AGAIN. */
int lfc__unbuf_handoff(struct ring *ch, int dir, void *val) LFC_INTERNAL;
/* unbuf.c: lfc_send_until, lfc_try_send on an unbuffered channel. */
int lfc__unbuf_send(struct ring *ch, const void *elem,
                    int64_t deadline_ns) LFC_INTERNAL;
int lfc__unbuf_try_send(struct ring *ch, const void *elem) LFC_INTERNAL;
/* unbuf.c: a receive that was counted on rx_ec has left. */
void lfc__unbuf_recv_left(struct ring *ch) LFC_INTERNAL;
/* unbuf.c: whether a selector other than self is WAITING on ec. */
bool lfc__unbuf_peer_waiting(struct lfc_ec *ec,
                             const struct lfc__selector *self) LFC_INTERNAL;

/* batch.c: the ring's batch calls (buffered rings, batches of two or
 * more; chan.c checks the arguments and routes the rest). */
int lfc__ring_send_many_until(struct ring *ch, const void *elems, size_t n,
                              size_t *sent, int64_t deadline_ns) LFC_INTERNAL;
int lfc__ring_try_send_many_all(struct ring *ch, const void *elems, size_t n,
                                size_t *sent) LFC_INTERNAL;
int lfc__ring_recv_many_until(struct ring *ch, void *out, size_t max,
                              size_t *got, int64_t deadline_ns) LFC_INTERNAL;
int lfc__ring_try_recv_many_all(struct ring *ch, void *out, size_t max,
                                size_t *got) LFC_INTERNAL;

/* ---- positions and slots -------------------------------------------- */

static inline uint64_t *
slot_stamp(const struct ring *ch, uint64_t pos)
{
    uint64_t idx = pos & (ch->mark - 1);
    return (uint64_t *)(void *)(ch->slots + idx * ch->stride);
}

static inline void *
slot_data(uint64_t *stamp)
{
    return stamp + 1;
}

static inline uint64_t
next_pos(const struct ring *ch, uint64_t pos)
{
    uint64_t idx = pos & (ch->mark - 1);
    if (idx + 1 < ch->ring_cap)
        return pos + 1;
    return (pos & ~(ch->one_lap - 1)) + ch->one_lap;
}

/* The position k steps after pos (k <= ring_cap): next_pos applied k
 * times, wrapping into the next lap as next_pos does. */
static inline uint64_t
pos_add(const struct ring *ch, uint64_t pos, uint64_t k)
{
    uint64_t idx = pos & (ch->mark - 1);
    if (idx + k < ch->ring_cap)
        return pos + k;
    return (pos & ~(ch->one_lap - 1)) + ch->one_lap + (idx + k - ch->ring_cap);
}

static inline int64_t
pos_diff(uint64_t a, uint64_t b)
{
    return (int64_t)(a - b);
}

/* ---- the ring --------------------------------------------------------- */

enum {
    TRY_OFFER_WITHDRAWN = 1, /* try_offer_ack_try: retracted, not a status */
    /* Stamp of an unbuffered offer at p that a receiver refused because
     * the channel was closed: neither full (p + 1) nor freed
     * (p + one_lap, and one_lap >= 4). */
    UNBUF_REFUSED = 2
};

/*
 * An unbuffered receiver has claimed the offer at p (its head CAS won).
 * If the channel is closed it must not take it: no rendezvous happens
 * after close. It refuses the offer instead (the stamp says so; its
 * sender returns LFC_CLOSED) and reports LFC_CLOSED itself. A receiver
 * whose load of tail misses the mark read it before close's RMW, so its
 * rendezvous is linearized at that load, before the close.
 */
static inline bool
unbuf_closed_refuse(struct ring *ch, uint64_t p)
{
    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    if (!(lfc_load_acq_u64(&ch->tail) & ch->mark))
        return false;
    /* ORDER rel: nothing to publish but the verdict; pairs with the acq
     * stamp load in ack_try(). */
    lfc_store_rel_u64(slot_stamp(ch, p), p + UNBUF_REFUSED);
    /* ORDER seqcst: the verdict (and our head CAS) before the waiters
     * loads (store→load), pairing with the announce-then-recheck of the
     * sender on ack_ec and of receivers on rx_ec. */
    lfc_fence_seqcst();
    lfc__ec_broadcast_fenced(&ch->ack_ec, &ch->rx_spin);
    /* We moved head onto the marked tail: closed and drained. Receivers
     * that parked while the offer was still being made wait for exactly
     * this (the re-signal rule, "Wake-ups" above). */
    lfc__ec_broadcast_fenced(&ch->rx_ec, &ch->rx_spin);
    return true;
}

/* Try to enqueue; on LFC_OK *pos is the position used. Never blocks.
 * try_offer: lfc_try_send's offer on an unbuffered channel (see
 * try_offer in struct lfc_chan). */
static inline int
ring_try_send(struct ring *ch, const void *elem, uint64_t *pos, bool try_offer)
{
    uint32_t peer_polls = 0;
    /* ORDER rlx: a starting guess; the CAS below validates it. */
    uint64_t tail = lfc_load_rlx_u64(&ch->tail);

    for (;;) {
        if (tail & ch->mark)
            return LFC_CLOSED;
        uint64_t *stamp = slot_stamp(ch, tail);
        /* ORDER acq: pairs with the rel free in ring_try_recv(); the last
         * receiver's copy-out is done before we overwrite the payload. */
        uint64_t s = lfc_load_acq_u64(stamp);
        int64_t d = pos_diff(s, tail);

        if (d == 0) {
            /* ORDER rlx: only claims position `tail`; the payload is
             * ordered by the slot's stamp (acq above, rel below). */
            if (lfc_cas_rlx_u64(&ch->tail, &tail, next_pos(ch, tail))) {
                LFC_DEBUG_YIELD_POINT();
                if (try_offer) {
                    /* ORDER rlx: published with the payload by the rel
                     * stamp store below. */
                    lfc_store_rlx_u64(&ch->try_offer, tail);
                }
                if (ch->elem_size)
                    memcpy(slot_data(stamp), elem, ch->elem_size);
                /* ORDER rel: publishes the payload; pairs with the acq
                 * stamp load in ring_try_recv(). */
                lfc_store_rel_u64(stamp, tail + 1);
                *pos = tail;
                return LFC_OK;
            }
            /* Lost the race: the failed CAS left the current tail. */
        } else if (d < 0) {
            /* Last lap's value is still in the slot. No one can have moved
             * tail past an unfree slot, so `tail` is current. Full only if
             * that value is unclaimed (head is one lap behind us); if a
             * receiver has claimed it, it is copying it out right now and
             * the channel is not full: wait for it (linearizable try).
             * ORDER acq: a snapshot of head; whoever acts on it rechecks
             * the stamp (acq) first. */
            if (lfc_load_acq_u64(&ch->head) == tail - ch->one_lap)
                return LFC_AGAIN;
            lfc__wait_for_peer(&peer_polls);
            /* ORDER rlx: reloaded, as the guess above: a close may have
             * marked it meanwhile (and an unbuffered receiver that refused
             * an offer after close never frees its slot). */
            tail = lfc_load_rlx_u64(&ch->tail);
        } else {
            /* ORDER rlx: our guess was stale; reload and retry. */
            tail = lfc_load_rlx_u64(&ch->tail);
        }
    }
}

/*
 * An unbuffered receive that does not wait (waits false) found lfc_try_send's
 * offer at head: it must not take it, so for it no sender is waiting.
 */
static inline bool
unbuf_try_offer_at(struct ring *ch, uint64_t head, bool waits)
{
    if (!ch->unbuffered || waits)
        return false;
    /* ORDER rlx: written before the rel stamp store our caller's acq load
     * saw; a later offer's position means head has moved on, and the
     * caller's CAS from head fails. */
    return lfc_load_rlx_u64(&ch->try_offer) == head;
}

/* Try to dequeue into out; on LFC_OK *pos is the position used. Never
 * blocks. waits: the caller is a receive that waits (lfc_recv, _until),
 * which may take lfc_try_send's offer on an unbuffered channel. */
static inline int
ring_try_recv(struct ring *ch, void *out, uint64_t *pos, bool waits)
{
    uint32_t peer_polls = 0;
    /* ORDER rlx: a starting guess; the CAS below validates it. */
    uint64_t head = lfc_load_rlx_u64(&ch->head);

    for (;;) {
        uint64_t *stamp = slot_stamp(ch, head);
        /* ORDER acq: pairs with the rel publish in ring_try_send(); makes
         * the payload visible. */
        uint64_t s = lfc_load_acq_u64(stamp);
        int64_t d = pos_diff(s, head + 1);

        if (d == 0 && unbuf_try_offer_at(ch, head, waits)) {
            /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
            return (lfc_load_acq_u64(&ch->tail) & ch->mark) ? LFC_CLOSED
                                                             : LFC_AGAIN;
        } else if (d == 0) {
            /* ORDER rlx: only claims position `head`; the payload is
             * ordered by the slot's stamp. */
            if (lfc_cas_rlx_u64(&ch->head, &head, next_pos(ch, head))) {
                LFC_DEBUG_YIELD_POINT();
                if (ch->unbuffered && unbuf_closed_refuse(ch, head))
                    return LFC_CLOSED;
                if (ch->elem_size)
                    memcpy(out, slot_data(stamp), ch->elem_size);
                /* ORDER rel: frees the slot after our copy-out; pairs with
                 * the acq stamp load in ring_try_send(). */
                lfc_store_rel_u64(stamp, head + ch->one_lap);
                *pos = head;
                return LFC_OK;
            }
        } else if (d < 0) {
            /* Nothing published at head (nobody can have consumed it, so
             * `head` is current): empty, or a send is in progress.
             * ORDER acq: pairs with the seqcst RMW in lfc_close(), so a
             * LFC_CLOSED returned here happens after the close. */
            uint64_t tail = lfc_load_acq_u64(&ch->tail);
            if ((tail & ~ch->mark) == head)
                return (tail & ch->mark) ? LFC_CLOSED : LFC_AGAIN;
            /* tail is past head: a sender has claimed position head and
             * is copying its value in, so the channel is not empty. Wait
             * for it (linearizable try; crossbeam does the same). On an
             * unbuffered channel that is an offer still being made: no
             * sender is waiting yet, so nothing is ready, and after close
             * nothing will be (its sender takes it back). */
            if (ch->unbuffered)
                return (tail & ch->mark) ? LFC_CLOSED : LFC_AGAIN;
            lfc__wait_for_peer(&peer_polls);
            /* ORDER rlx: a fresh guess, validated as the first one. */
            head = lfc_load_rlx_u64(&ch->head);
        } else {
            /* ORDER rlx: our guess was stale; reload and retry. */
            head = lfc_load_rlx_u64(&ch->head);
        }
    }
}

/*
 * Wake-ups. The rule (park.c has the argument): whoever makes a waiting
 * side's condition true signals that side after a seqcst fence. For
 * receivers the condition is "the slot at head holds a value, or tail is
 * closed and head has reached it"; for senders, "the slot at tail is free,
 * or tail is closed". So a sender that publishes signals receivers; a
 * receiver that frees a slot signals senders; close broadcasts to both;
 * and, because values are published and slots freed out of order, whoever
 * moves head (tail) onto a position that is already ready signals the next
 * waiter too. Without that last rule a woken receiver that finds the head
 * slot still being written by a slower sender goes back to sleep, having
 * absorbed the wake-up meant for a value published behind it.
 */

/* Receivers wait and head has just moved to h (caller fenced). */
static inline void
wake_receivers_at(struct ring *ch, uint64_t h, struct lfc_spin *waker)
{
    /* ORDER acq: after the caller's seqcst fence; a receiver woken here
     * rechecks with its own acq load, so this only picks whom to wake. */
    uint64_t s = lfc_load_acq_u64(slot_stamp(ch, h));
    if (s == h + 1) {
        lfc__ec_wake(&ch->rx_ec, 1, waker); /* ready at the new head */
        return;
    }
    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    uint64_t tail = lfc_load_acq_u64(&ch->tail);
    if ((tail & ch->mark) && (tail & ~ch->mark) == h)
        lfc__ec_wake(&ch->rx_ec, INT32_MAX, waker); /* closed, drained */
}

/* Senders wait and tail has just moved to t (caller fenced). */
static inline void
wake_senders_at(struct ring *ch, uint64_t t)
{
    /* ORDER acq: as in wake_receivers_at(); only picks whom to wake. */
    if (lfc_load_acq_u64(slot_stamp(ch, t)) == t)
        lfc__ec_wake(&ch->tx_ec, 1, &ch->tx_spin); /* new tail slot free */
}

/* After publishing every position before t, our claim's new tail (one
 * position or a batch): wake a receiver, and a sender if the slot at t is
 * free too. */
static inline void
after_send_to(struct ring *ch, uint64_t t)
{
    /* ORDER seqcst: orders our stamp publish (and tail CAS) before the
     * waiters loads (store→load); pairs with the waiters'
     * announce-then-recheck in lfc__ec_wait(). */
    lfc_fence_seqcst();
    lfc__ec_signal_fenced(&ch->rx_ec, &ch->tx_spin);
    if (lfc_unlikely(lfc__ec_has_waiters(&ch->tx_ec)))
        wake_senders_at(ch, t);
}

/* After publishing position p. */
static inline void
after_send(struct ring *ch, uint64_t p)
{
    after_send_to(ch, next_pos(ch, p));
}

/* After freeing every position before h, our claim's new head (one
 * position or a batch): wake a sender (on an unbuffered channel also
 * every sender waiting for its value to be taken), and a receiver if the
 * new head is ready or closed-and-drained. */
static inline void
after_free_to(struct ring *ch, uint64_t h)
{
    /* ORDER seqcst: orders our stamp free (and head CAS) before the
     * waiters loads (store→load); pairs with the waiters'
     * announce-then-recheck in lfc__ec_wait(). */
    lfc_fence_seqcst();
    lfc__ec_signal_fenced(&ch->tx_ec, &ch->rx_spin);
    /* Broadcast: a sender whose value was taken earlier may still be
     * parked here beside the one whose value we just took. */
    if (ch->unbuffered)
        lfc__ec_broadcast_fenced(&ch->ack_ec, &ch->rx_spin);
    if (lfc_unlikely(lfc__ec_has_waiters(&ch->rx_ec)))
        wake_receivers_at(ch, h, &ch->rx_spin);
}

/* After freeing position p. */
static inline void
after_free(struct ring *ch, uint64_t p)
{
    after_free_to(ch, next_pos(ch, p));
}

/* ---- operations as try functions for lfc__ec_wait ---------------------- */

struct send_op {
    struct ring *ch;
    const void *elem;
    uint64_t pos; /* out: the position used */
};

static inline int
send_try(void *arg)
{
    struct send_op *op = arg;
    int r = ring_try_send(op->ch, op->elem, &op->pos, false);
    if (r == LFC_OK)
        after_send(op->ch, op->pos);
    return r;
}

struct recv_op {
    struct ring *ch;
    void *out;
    bool waits; /* lfc_recv, lfc_recv_until: see ring_try_recv() */
};


static inline int
recv_try(void *arg)
{
    struct recv_op *op = arg;
    uint64_t pos;
    int r = ring_try_recv(op->ch, op->out, &pos, op->waits);
    if (r == LFC_OK)
        after_free(op->ch, pos);
    else if (r == LFC_AGAIN && op->ch->unbuffered)
        r = lfc__unbuf_handoff(op->ch, LFC_RECV, op->out); /* a selecting sender */
    return r;
}


#endif /* LFC_RING_H */
