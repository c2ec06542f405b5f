/* SPDX-License-Identifier: MIT */
/*
 * Channels: a bounded lock-free MPMC ring with futex parking.
 * Depends on: core (event counts, spin policy, atomics), the selector
 * (hand-offs to parked selects). Implements the ring flavor and the
 * public channel API for every flavor (lfc_chan_flavor.h).
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
 * Unbuffered channels are a one-slot ring plus an acknowledgement: the
 * sender "offers" its value by sending it into the slot, then waits on
 * ack_ec until the slot's stamp moves past p + 1 (a receiver took it). If
 * its deadline passes or the channel closes first, it retracts the offer
 * by claiming its own position with a CAS on head, exactly as a receiver
 * would: if that CAS wins, nobody received the value and the send fails
 * with nothing enqueued; if it loses, a receiver has the value and the
 * sender waits for it to finish copying (a bounded wait) and succeeds.
 *
 * lfc_try_send on an unbuffered channel must succeed only if a receiver is
 * waiting. It offers only if a plain receiver has announced itself on
 * rx_ec, and after offering (seqcst fence) checks again: a receiver
 * counted there has committed to one more try() before it leaves (park.c:
 * withdraw, then a last try on timeout). Its wake goes to a plain receiver
 * only (lfc__ec_wake_plain): only a receive that waits may take this offer.
 * Its position is noted in try_offer before the stamp publishes it, and
 * lfc_try_recv and select's passes leave it alone, since two calls that
 * never wait never meet in Go (tests/test_lincheck.c found lfc_try_recv
 * taking it from under the parked receiver); so a wake-one spent on a
 * selector would be lost. A counted receiver may still leave without
 * taking it: its try() took another value just before, and it had not
 * withdrawn yet. So lfc_try_send waits on ack_ec for "taken, or closed, or
 * no plain receiver counted", and retracts (LFC_AGAIN) in the last case;
 * a receive that was counted on an unbuffered channel signals ack_ec after
 * its withdraw, which is the write that can make that condition true.
 *
 * Select (select.c) waits on rx_ec and tx_ec through the waitable
 * interface (chan_waitable_ops below), like any waiter, with selector
 * nodes instead of a futex sleep on seq, so the signals above reach it. On
 * an unbuffered channel a selecting thread cannot offer its value in the
 * slot (a receiver could take it while another case completes): a
 * receiver, or lfc_try_send, finds a parked selector on the event count's
 * node list and completes its case by hand-off (unbuf_handoff), claiming
 * it with lfc__sel_claim first, so exactly one party wins it.
 *
 * Batches (lfc_send_many, lfc_recv_many and their forms; chan.h,
 * "Batches"). On a buffered ring a batch claims up to k <= ring_cap
 * positions with one CAS, and signals the other side once per claim:
 *
 *   Send: read tail = p; scan q_0 = p, q_{i+1} = next_pos(q_i) while
 *   stamp(q_i) == q_i (free for q_i's lap), at most k slots; CAS tail
 *   p -> q_k. On success copy the k values in, then publish the stamps
 *   q_i + 1 from the last to the first (release each). Receive: scan from
 *   head = p while stamp(q_i) == q_i + 1 (full with q_i's value); CAS head
 *   p -> q_k; copy the k values out, then free the stamps q_i + one_lap
 *   from the last to the first.
 *
 * Why the claim is sound: the scan's observations are about positions
 * no one else can have claimed if the CAS wins. tail only grows (its
 * index and lap parts move only by next_pos; close sets mark, which makes
 * a CAS from an unmarked value fail), so a CAS from p that succeeds
 * proves that tail held p from our load until the CAS, with no claim of
 * p or of any later position in between: a claim of q_i > p by anyone
 * needs tail to move past p first (a claim is a CAS of tail from the
 * position claimed or an earlier one). A free stamp (stamp(q) == q) is
 * changed only by the thread that claims q, so every free stamp the scan
 * saw is still free and now ours; with k <= ring_cap the k positions map
 * to k distinct slots. The same holds for head and full stamps: a full
 * stamp q + 1 changes only when q's claimer frees it, and claiming q
 * moves head past p. So after the CAS the k slots are exactly what k
 * successive single claims at p, q_1, ... would have found, and the
 * invariants below hold as if those claims had been made one by one
 * (as 64-bit free-running counters, ABA on tail or head needs 2^64
 * claims during one scan). The acquire loads of the scan order each
 * slot's previous copy (out or in) before ours, as a single op's does.
 * The scan stops at the first slot that is not free (full), so a claim
 * is always a prefix: the positions a batch uses are consecutive, and
 * per-sender order (positions in claim order) is kept across claims.
 *
 * Publishing last-to-first: no one can claim q_i (i >= 1) before q_0,
 * since head (tail) must pass q_0 first, so the order in which the k
 * stamps appear changes nothing for correctness; publishing q_0 last
 * lets the other side's next scan see the whole batch at once instead
 * of racing the copy slot by slot (and a peer that found q_0 claimed but
 * unpublished waits for the whole copy: wait_for_peer, bounded).
 *
 * Wake-ups per batch: a send claim publishes its k stamps, then fences
 * once and signals rx_ec once (after_send_to), and re-signals tx_ec if
 * the slot at its new tail q_k is free; a receive claim frees its k
 * slots, fences once, signals tx_ec once, and re-signals rx_ec if its
 * new head q_k is ready or closed-and-drained (after_free_to). These are
 * the rules of "Wake-ups" below with the head (tail) move of one claim
 * in place of a single step: the waiters' conditions ("the slot at head
 * holds a value, or closed and drained"; "the slot at tail is free, or
 * closed") are the same for batch and single waiters, since a batch
 * waits for its first value or slot only, and the one signal comes after
 * every write of the claim that can make a condition true. A woken
 * waiter that takes fewer than are ready moves head (tail) onto a ready
 * position and signals the next one: the chain of wake-ups the single
 * ops already rely on. A batch that needs several claims (more than fit
 * or are ready) signals once per claim.
 *
 * Close and deadlines: a batch send whose CAS fails on the mark returns
 * LFC_CLOSED with *sent the values of its earlier claims, all published
 * and drained before receivers see LFC_CLOSED (head must reach the
 * marked tail, which is past them). A timed-out wait returns LFC_TIMEDOUT
 * with the same count; nothing is half-claimed, since a claim either
 * wins its CAS and publishes all k or claims nothing. A batch receive
 * waits (lfc__ec_wait) only for its first claim; later claims in the
 * same call are tries that do not wait for a sender mid-copy.
 *
 * Unbuffered channels and flavors without batch slots run batches as a
 * loop of the single operations (generic_*_many below): one rendezvous,
 * and one wake-up, per value.
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
 * Lifetime: the channel is reference counted. lfc_chan_new returns one
 * reference, lfc_chan_dup adds one, lfc_chan_free drops one and the last
 * drop frees the memory (after the dtor, if the owner set one). The send
 * and receive paths never touch the count: the rule that every thread
 * that may still be inside a call holds its own reference is what makes a
 * free safe, so a sender that finishes its wake-ups after its receiver
 * already freed the channel is holding the reference that keeps it alive.
 *
 * Owned channels (a context's done channel, a lfc_timer's channel) belong
 * to the module that made them: users may receive, select on them, and
 * lfc_chan_dup them, but lfc_send, lfc_try_send, lfc_send_until, send cases
 * and lfc_close return LFC_EINVAL, and lfc_chan_free drops only references
 * the user took with lfc_chan_dup (it is a no-op otherwise). The owner
 * sends and closes through lfc__chan_owner_try_send/close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lfchan/chan.h"
#include "lfc_atomic.h"
#include "lfc_chan_flavor.h"
#include "lfc_chan_internal.h"
#include "lfc_common.h"
#include "lfc_park.h"
#include "lfc_selector.h"
#include "lfc_waitable.h"

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
    PEER_SPINS = 64, /* polls for a peer mid-copy before yielding */
    TRY_OFFER_WITHDRAWN = 1, /* try_offer_ack_try: retracted, not a status */
    /* Stamp of an unbuffered offer at p that a receiver refused because
     * the channel was closed: neither full (p + 1) nor freed
     * (p + one_lap, and one_lap >= 4). */
    UNBUF_REFUSED = 2
};

/*
 * A peer has claimed the position we need and is between its claim and
 * its stamp store (a copy): spin a little, then yield, so that a peer
 * preempted there costs us yields, never an unbounded spin. Woken by
 * nothing: the caller rechecks the stamp after each call.
 */
static void
wait_for_peer(uint32_t *polls)
{
    if (*polls < PEER_SPINS) {
        (*polls)++;
        lfc_cpu_relax();
    } else {
        sched_yield();
    }
}

/*
 * An unbuffered receiver has claimed the offer at p (its head CAS won).
 * If the channel is closed it must not take it: no rendezvous happens
 * after close. It refuses the offer instead (the stamp says so; its
 * sender returns LFC_CLOSED) and reports LFC_CLOSED itself. A receiver
 * whose load of tail misses the mark read it before close's RMW, so its
 * rendezvous is linearized at that load, before the close.
 */
static bool
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
static int
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
            wait_for_peer(&peer_polls);
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
static bool
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
static int
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
            wait_for_peer(&peer_polls);
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
static void
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
static void
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

static int
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

static int unbuf_handoff(struct ring *ch, int dir, void *val);

static int
recv_try(void *arg)
{
    struct recv_op *op = arg;
    uint64_t pos;
    int r = ring_try_recv(op->ch, op->out, &pos, op->waits);
    if (r == LFC_OK)
        after_free(op->ch, pos);
    else if (r == LFC_AGAIN && op->ch->unbuffered)
        r = unbuf_handoff(op->ch, LFC_RECV, op->out); /* a selecting sender */
    return r;
}

/* ---- batches on a buffered ring ("Batches" above) ------------------- */

/* Element i of an array of elements of esz bytes (base may be NULL when
 * esz is 0: no arithmetic on it then). */
static inline const unsigned char *
elem_at(const void *base, size_t i, size_t esz)
{
    return esz ? (const unsigned char *)base + i * esz : base;
}

/* The most positions one claim may take: left, capped at ring_cap so that
 * the positions map to distinct slots. */
static inline uint64_t
claim_max(const struct ring *ch, size_t left)
{
    return (uint64_t)left < ch->ring_cap ? (uint64_t)left : ch->ring_cap;
}

/* Copy k values from elems into the positions claimed from p on, then
 * publish their stamps, the last first ("Publishing last-to-first"). */
static void
ring_publish_many(struct ring *ch, const void *elems, uint64_t p, uint64_t k)
{
    uint64_t q = p;
    if (ch->elem_size) {
        for (uint64_t i = 0; i < k; i++, q = next_pos(ch, q))
            memcpy(slot_data(slot_stamp(ch, q)),
                   elem_at(elems, (size_t)i, ch->elem_size), ch->elem_size);
    }
    for (uint64_t i = k; i-- > 0;) {
        uint64_t pos = pos_add(ch, p, i);
        LFC_DEBUG_YIELD_POINT();
        /* ORDER rel: publishes this slot's payload (and, being after all k
         * copies, every payload of the batch); pairs with the acq stamp
         * loads in ring_try_recv() and ring_try_recv_many(). */
        lfc_store_rel_u64(slot_stamp(ch, pos), pos + 1);
    }
}

/*
 * Try to enqueue up to max (1 <= max <= ring_cap) values from elems with
 * one claim on tail; on LFC_OK *count (>= 1) went in and *end is the new
 * tail. LFC_AGAIN (full) and LFC_CLOSED as ring_try_send(). Never blocks.
 * Buffered rings only.
 */
static int
ring_try_send_many(struct ring *ch, const void *elems, uint64_t max,
                   uint64_t *count, uint64_t *end)
{
    uint32_t peer_polls = 0;
    /* ORDER rlx: a starting guess; the CAS below validates it. */
    uint64_t tail = lfc_load_rlx_u64(&ch->tail);

    for (;;) {
        if (tail & ch->mark)
            return LFC_CLOSED;
        /* ORDER acq: pairs with the rel free in ring_try_recv() and
         * ring_free_many(); the last receiver's copy-out is done before we
         * overwrite the payload. */
        uint64_t s = lfc_load_acq_u64(slot_stamp(ch, tail));
        int64_t d = pos_diff(s, tail);

        if (d == 0) {
            uint64_t k = 1;
            uint64_t q = next_pos(ch, tail);
            /* The scan: how many slots from tail on are free for their
             * position's lap (see "Why the claim is sound"). */
            while (k < max) {
                /* ORDER acq: as the load above, for slot q. */
                if (lfc_load_acq_u64(slot_stamp(ch, q)) != q)
                    break;
                k++;
                q = next_pos(ch, q);
            }
            /* ORDER rlx: only claims positions tail..q; each payload is
             * ordered by its slot's stamp (acq above, rel when published).
             * Success proves tail stayed at `tail` since our load, so no
             * one claimed any of the k scanned positions. */
            if (lfc_cas_rlx_u64(&ch->tail, &tail, q)) {
                LFC_DEBUG_YIELD_POINT();
                ring_publish_many(ch, elems, tail, k);
                *count = k;
                *end = q;
                return LFC_OK;
            }
            /* Lost the race: the failed CAS left the current tail. */
        } else if (d < 0) {
            /* As in ring_try_send(): full only if last lap's value at tail
             * is unclaimed; otherwise a receiver is copying it out.
             * ORDER acq: a snapshot of head; whoever acts on it rechecks
             * the stamp (acq) first. */
            if (lfc_load_acq_u64(&ch->head) == tail - ch->one_lap)
                return LFC_AGAIN;
            wait_for_peer(&peer_polls);
            /* ORDER rlx: reloaded, as the guess above: a close may have
             * marked it meanwhile. */
            tail = lfc_load_rlx_u64(&ch->tail);
        } else {
            /* ORDER rlx: our guess was stale; reload and retry. */
            tail = lfc_load_rlx_u64(&ch->tail);
        }
    }
}

/* Copy k values out of the positions claimed from p on into out, then
 * free their slots, the last first (as ring_publish_many()). */
static void
ring_free_many(struct ring *ch, void *out, uint64_t p, uint64_t k)
{
    uint64_t q = p;
    if (ch->elem_size) {
        for (uint64_t i = 0; i < k; i++, q = next_pos(ch, q))
            memcpy((unsigned char *)out + (size_t)i * ch->elem_size,
                   slot_data(slot_stamp(ch, q)), ch->elem_size);
    }
    for (uint64_t i = k; i-- > 0;) {
        uint64_t pos = pos_add(ch, p, i);
        LFC_DEBUG_YIELD_POINT();
        /* ORDER rel: frees the slot after every copy-out of the batch;
         * pairs with the acq stamp loads in ring_try_send() and
         * ring_try_send_many(). */
        lfc_store_rel_u64(slot_stamp(ch, pos), pos + ch->one_lap);
    }
}

/*
 * Try to dequeue up to max (1 <= max <= ring_cap) values into out with one
 * claim on head; on LFC_OK *count (>= 1) were taken and *end is the new
 * head. LFC_AGAIN (empty) and LFC_CLOSED (closed and drained) as
 * ring_try_recv(). peer_wait: wait for a sender that has claimed the slot
 * at head but not published it yet, as ring_try_recv() does (the first
 * claim of a call); false returns LFC_AGAIN then (a later claim: the call
 * already has values). Never blocks. Buffered rings only.
 */
static int
ring_try_recv_many(struct ring *ch, void *out, uint64_t max, bool peer_wait,
                   uint64_t *count, uint64_t *end)
{
    uint32_t peer_polls = 0;
    /* ORDER rlx: a starting guess; the CAS below validates it. */
    uint64_t head = lfc_load_rlx_u64(&ch->head);

    for (;;) {
        /* ORDER acq: pairs with the rel publish in ring_try_send() and
         * ring_publish_many(); makes the payload visible. */
        uint64_t s = lfc_load_acq_u64(slot_stamp(ch, head));
        int64_t d = pos_diff(s, head + 1);

        if (d == 0) {
            uint64_t k = 1;
            uint64_t q = next_pos(ch, head);
            /* The scan: how many slots from head on hold their position's
             * value (see "Why the claim is sound"). */
            while (k < max) {
                /* ORDER acq: as the load above, for slot q. */
                if (lfc_load_acq_u64(slot_stamp(ch, q)) != q + 1)
                    break;
                k++;
                q = next_pos(ch, q);
            }
            /* ORDER rlx: only claims positions head..q; the payloads are
             * ordered by the stamps. Success proves head stayed at `head`
             * since our load, so the k values are still there and ours. */
            if (lfc_cas_rlx_u64(&ch->head, &head, q)) {
                LFC_DEBUG_YIELD_POINT();
                ring_free_many(ch, out, head, k);
                *count = k;
                *end = q;
                return LFC_OK;
            }
        } else if (d < 0) {
            /* As in ring_try_recv(): nothing published at head.
             * ORDER acq: pairs with the seqcst RMW in lfc_close(), so a
             * LFC_CLOSED returned here happens after the close. */
            uint64_t tail = lfc_load_acq_u64(&ch->tail);
            if ((tail & ~ch->mark) == head)
                return (tail & ch->mark) ? LFC_CLOSED : LFC_AGAIN;
            if (!peer_wait)
                return LFC_AGAIN; /* a sender mid-copy: for the next call */
            wait_for_peer(&peer_polls);
            /* ORDER rlx: a fresh guess, validated as the first one. */
            head = lfc_load_rlx_u64(&ch->head);
        } else {
            /* ORDER rlx: our guess was stale; reload and retry. */
            head = lfc_load_rlx_u64(&ch->head);
        }
    }
}

struct send_many_op {
    struct ring *ch;
    const void *elems;
    size_t n;
    size_t done; /* values enqueued so far */
};

/* One claim of the values not yet sent, then its one wake-up. */
static int
send_many_try(void *arg)
{
    struct send_many_op *op = arg;
    struct ring *ch = op->ch;
    uint64_t k;
    uint64_t end;
    int r = ring_try_send_many(ch, elem_at(op->elems, op->done, ch->elem_size),
                               claim_max(ch, op->n - op->done), &k, &end);
    if (r == LFC_OK) {
        op->done += (size_t)k;
        after_send_to(ch, end);
    }
    return r;
}

struct recv_many_op {
    struct ring *ch;
    void *out;
    size_t max;
    size_t done;    /* values taken so far */
    bool peer_wait; /* see ring_try_recv_many() */
};

/* One claim of up to the room left in out, then its one wake-up. */
static int
recv_many_try(void *arg)
{
    struct recv_many_op *op = arg;
    struct ring *ch = op->ch;
    uint64_t k;
    uint64_t end;
    void *dst = op->out;
    if (ch->elem_size)
        dst = (unsigned char *)op->out + op->done * ch->elem_size;
    int r = ring_try_recv_many(ch, dst, claim_max(ch, op->max - op->done),
                               op->peer_wait, &k, &end);
    if (r == LFC_OK) {
        op->done += (size_t)k;
        after_free_to(ch, end);
    }
    return r;
}

static int
ring_send_many_until(struct ring *ch, const void *elems, size_t n, size_t *sent,
                     int64_t deadline_ns)
{
    struct send_many_op op = {ch, elems, n, 0};
    int r = LFC_OK;
    while (op.done < n) {
        r = send_many_try(&op);
        if (r == LFC_AGAIN)
            r = lfc__ec_wait(&ch->tx_ec, &ch->tx_spin, &ch->rx_spin,
                             send_many_try, &op, deadline_ns);
        if (r != LFC_OK)
            break;
    }
    *sent = op.done;
    return op.done == n ? LFC_OK : r;
}

static int
ring_try_send_many_all(struct ring *ch, const void *elems, size_t n,
                       size_t *sent)
{
    struct send_many_op op = {ch, elems, n, 0};
    int r = LFC_OK;
    while (op.done < n && (r = send_many_try(&op)) == LFC_OK) {
    }
    *sent = op.done;
    return op.done > 0 ? LFC_OK : r;
}

/* The claims after a call's first: take what is ready, never wait. */
static void
recv_many_rest(struct recv_many_op *op)
{
    op->peer_wait = false;
    while (op->done < op->max && recv_many_try(op) == LFC_OK) {
    }
}

static int
ring_recv_many_until(struct ring *ch, void *out, size_t max, size_t *got,
                     int64_t deadline_ns)
{
    struct recv_many_op op = {ch, out, max, 0, true};
    int r = recv_many_try(&op);
    if (r == LFC_AGAIN)
        r = lfc__ec_wait(&ch->rx_ec, &ch->rx_spin, &ch->tx_spin, recv_many_try,
                         &op, deadline_ns);
    if (r == LFC_OK)
        recv_many_rest(&op);
    *got = op.done;
    return r;
}

static int
ring_try_recv_many_all(struct ring *ch, void *out, size_t max, size_t *got)
{
    struct recv_many_op op = {ch, out, max, 0, true};
    int r = recv_many_try(&op);
    if (r == LFC_OK)
        recv_many_rest(&op);
    *got = op.done;
    return r;
}

/* ---- unbuffered channels --------------------------------------------- */

/*
 * Take back our own offer at pos, if no receiver has claimed it: claim the
 * position on head as a receiver would. Returns true if retracted.
 */
static bool
unbuf_retract(struct ring *ch, uint64_t pos)
{
    uint64_t expect = pos;
    /* ORDER rlx: only claims the position, as in ring_try_recv(); nobody
     * reads the payload, and the stamp store below publishes the free. */
    if (!lfc_cas_rlx_u64(&ch->head, &expect, next_pos(ch, pos)))
        return false; /* a receiver claimed it: it is being taken */
    /* ORDER rel: frees the slot after our claim; pairs with the acq stamp
     * load in ring_try_send(). */
    lfc_store_rel_u64(slot_stamp(ch, pos), pos + ch->one_lap);
    /* ORDER seqcst: the free before the waiters loads (store→load), as in
     * after_free(): a sender may wait for the slot, and if the channel is
     * closed, head has just reached tail and receivers must learn it. */
    lfc_fence_seqcst();
    lfc__ec_signal_fenced(&ch->tx_ec, &ch->tx_spin);
    if (lfc__ec_has_waiters(&ch->rx_ec))
        wake_receivers_at(ch, next_pos(ch, pos), &ch->tx_spin);
    return true;
}

struct ack_op {
    struct ring *ch;
    uint64_t pos;
};

/* LFC_OK once our offer was taken; LFC_CLOSED if the channel closed and
 * we retracted it; LFC_AGAIN otherwise. */
static int
ack_try(void *arg)
{
    struct ack_op *op = arg;
    struct ring *ch = op->ch;
    /* ORDER acq: pairs with the rel free in ring_try_recv(): the receiver
     * has finished copying our value out. */
    uint64_t s = lfc_load_acq_u64(slot_stamp(ch, op->pos));
    if (s == op->pos + UNBUF_REFUSED)
        return LFC_CLOSED; /* refused after close (unbuf_closed_refuse) */
    if (s != op->pos + 1)
        return LFC_OK;
    /* ORDER rlx: the mark is read again (acq) by whoever acts on it;
     * here it only decides whether to try retracting. */
    if ((lfc_load_rlx_u64(&ch->tail) & ch->mark) && unbuf_retract(ch, op->pos))
        return LFC_CLOSED;
    return LFC_AGAIN;
}

/* Wait until the offer at pos is taken (LFC_OK), or retract it on timeout
 * (LFC_TIMEDOUT) or close (LFC_CLOSED). */
static int
unbuf_await_taken(struct ring *ch, uint64_t pos, int64_t deadline_ns)
{
    struct ack_op op = {ch, pos};
    int r = ack_try(&op);
    if (r == LFC_AGAIN)
        r = lfc__ec_wait(&ch->ack_ec, &ch->tx_spin, &ch->rx_spin, ack_try, &op,
                         deadline_ns);
    if (r == LFC_TIMEDOUT) {
        if (unbuf_retract(ch, pos))
            return LFC_TIMEDOUT;
        /* A receiver claimed it and is copying it out: a bounded wait. */
        r = lfc__ec_wait(&ch->ack_ec, &ch->tx_spin, &ch->rx_spin, ack_try, &op,
                         INT64_MAX);
    }
    return r;
}

static int unbuf_try_send(struct ring *ch, const void *elem);

static int
unbuf_send(struct ring *ch, const void *elem, int64_t deadline_ns)
{
    /* A deadline already past allows only the attempt that does not wait
     * (chan.h): lfc_try_send's hand-over to a receiver already waiting.
     * Offering the value and then waiting for the receiver to take it
     * would retract it at once, before a parked receiver could run. */
    if (deadline_ns != INT64_MAX && lfc__now_ns() >= deadline_ns) {
        int r = unbuf_try_send(ch, elem);
        return r == LFC_AGAIN ? LFC_TIMEDOUT : r;
    }
    struct send_op op = {ch, elem, 0};
    int r = send_try(&op);
    if (r == LFC_AGAIN)
        r = lfc__ec_wait(&ch->tx_ec, &ch->tx_spin, &ch->rx_spin, send_try, &op,
                         deadline_ns);
    if (r != LFC_OK)
        return r; /* closed or timed out: nothing was offered */
    return unbuf_await_taken(ch, op.pos, deadline_ns);
}

/*
 * lfc_try_send's wait for a receiver to take its offer: LFC_OK once taken;
 * LFC_CLOSED as in ack_try(); TRY_OFFER_WITHDRAWN once no plain receiver
 * is counted on rx_ec any more and we took the offer back (see "lfc_try_send
 * on an unbuffered channel" above).
 */
static int
try_offer_ack_try(void *arg)
{
    struct ack_op *op = arg;
    int r = ack_try(op);
    /* The waiters load comes after our announce on ack_ec and its fence
     * (in lfc__ec_wait), pairing with a leaving receiver's withdraw, fence,
     * and ack_ec load (unbuf_recv_left): one of us sees the other. */
    if (r != LFC_AGAIN || lfc__ec_has_plain_waiters(&op->ch->rx_ec))
        return r;
    /* The head CAS in unbuf_retract() decides between us and a receiver
     * that comes for the offer now. */
    return unbuf_retract(op->ch, op->pos) ? TRY_OFFER_WITHDRAWN : LFC_AGAIN;
}

static int
unbuf_await_try_offer(struct ring *ch, uint64_t pos)
{
    struct ack_op op = {ch, pos};
    /* Woken by the taker's free (after_free broadcasts ack_ec), by close,
     * or by a counted receiver that left (unbuf_recv_left). Bounded: the
     * receivers counted when we committed each take it or leave. */
    int r = lfc__ec_wait(&ch->ack_ec, &ch->tx_spin, &ch->rx_spin,
                         try_offer_ack_try, &op, INT64_MAX);
    return r == TRY_OFFER_WITHDRAWN ? LFC_AGAIN : r;
}

/*
 * A receive on an unbuffered channel that was counted on rx_ec has left
 * (withdrawn): a lfc_try_send that counted it may be waiting for it.
 */
static void
unbuf_recv_left(struct ring *ch)
{
    /* ORDER seqcst: our withdraw (a seqcst RMW) before the ack_ec waiters
     * load (store→load); pairs with try_offer_ack_try()'s announce, fence
     * and rx_ec waiters load. */
    lfc_fence_seqcst();
    lfc__ec_broadcast_fenced(&ch->ack_ec, &ch->rx_spin);
}

static int
unbuf_try_send(struct ring *ch, const void *elem)
{
    uint64_t pos;

    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    if (lfc_load_acq_u64(&ch->tail) & ch->mark)
        return LFC_CLOSED;
    /* A receiver parked in select takes the value directly. */
    int r = unbuf_handoff(ch, LFC_SEND, (void *)(uintptr_t)elem);
    if (r != LFC_AGAIN)
        return r;
    /* Otherwise only a plain receiver, committed to one more try, will do
     * (a parked selector is not: it may complete another case). */
    if (!lfc__ec_has_plain_waiters(&ch->rx_ec)) {
        /* ORDER acq: as above; the channel may have closed meanwhile. */
        return (lfc_load_acq_u64(&ch->tail) & ch->mark) ? LFC_CLOSED
                                                        : LFC_AGAIN;
    }
    r = ring_try_send(ch, elem, &pos, true);
    if (r != LFC_OK)
        return r;
    /* ORDER seqcst: our offer (stamp store) before the waiters load
     * (store→load); pairs with a receiver's withdraw-then-last-try in
     * lfc__ec_wait(): if we still count it, it will see our offer. */
    lfc_fence_seqcst();
    if (lfc__ec_has_plain_waiters(&ch->rx_ec)) {
        lfc__ec_wake_plain(&ch->rx_ec, &ch->tx_spin);
    } else if (unbuf_retract(ch, pos)) {
        return LFC_AGAIN; /* every receiver left before seeing it */
    }
    return unbuf_await_try_offer(ch, pos);
}

/* ---- selecting threads (select.c) ------------------------------------ */

/*
 * Complete the case of a selector parked on this unbuffered channel: give
 * it our value (dir LFC_SEND; it waits on rx_ec with a receive case) or
 * take its value (dir LFC_RECV; it waits on tx_ec with a send case). The
 * caller is not registered anywhere, so the selector is never itself.
 * Returns LFC_OK, or LFC_AGAIN if no selector is WAITING (or the channel
 * closed meanwhile: then the claimed selector is told to try its case,
 * finds the channel closed, and our caller's next try does too).
 */
static int
unbuf_handoff(struct ring *ch, int dir, void *val)
{
    struct lfc_ec *ec = dir == LFC_SEND ? &ch->rx_ec : &ch->tx_ec;
    struct lfc__ec_node *base;
    int r = LFC_AGAIN;

    if (!lfc__ec_has_nodes(ec))
        return LFC_AGAIN; /* the one load and branch plain calls pay */
    lfc__ec_lock(ec);
    lfc__ec_for_each_node(base, ec) {
        struct lfc__sel_node *x = lfc__sel_node_of(base);
        if (!lfc__sel_claim(x))
            continue;
        uint32_t s;
        /* ORDER acq: pairs with the seqcst RMW in lfc_close(); a close
         * that this misses is linearized after the hand-off. */
        if (lfc_load_acq_u64(&ch->tail) & ch->mark) {
            s = LFC__SEL_NOTIFY(x->index);
        } else {
            if (ch->elem_size != 0 && dir == LFC_SEND)
                memcpy(x->buf, val, ch->elem_size);
            else if (ch->elem_size != 0)
                memcpy(val, x->buf, ch->elem_size);
            s = LFC__SEL_DONE(x->index);
            r = LFC_OK;
        }
        lfc__sel_finish(x, s); /* publishes the copy, wakes it */
        break;
    }
    lfc__ec_unlock(ec);
    return r;
}

/* Whether a selector other than self is WAITING on ec (under its lock). */
static bool
unbuf_peer_waiting(struct lfc_ec *ec, const struct lfc__selector *self)
{
    struct lfc__ec_node *base;
    bool found = false;
    if (!lfc__ec_has_nodes(ec))
        return false;
    lfc__ec_lock(ec);
    lfc__ec_for_each_node(base, ec) {
        if ((found = lfc__sel_waiting_other(lfc__sel_node_of(base), self)))
            break;
    }
    lfc__ec_unlock(ec);
    return found;
}

/* ---- the waitable interface (lfc_waitable.h) --------------------------- */

static inline struct ring *
chan_of(const struct lfc__waitable *w)
{
    return (struct ring *)(uintptr_t)w; /* base, then its waitable: first */
}

static int
chan_check(const struct lfc__waitable *w, int dir, const void *buf)
{
    const struct ring *ch = chan_of(w);
    if (dir == LFC_SEND && ch->base.owned)
        return LFC_EINVAL; /* a context's or timer's channel */
    return buf != NULL || ch->elem_size == 0 ? 0 : LFC_EINVAL;
}

static int chan_try_send(struct ring *ch, const void *elem);

static int
chan_w_try_send(struct lfc__waitable *w, const void *elem)
{
    return chan_try_send(chan_of(w), elem);
}

static int
chan_w_try_recv(struct lfc__waitable *w, void *out)
{
    struct recv_op op = {chan_of(w), out, false};
    return recv_try(&op);
}

static bool
chan_ready(struct lfc__waitable *w, int dir, const struct lfc__selector *self)
{
    struct ring *ch = chan_of(w);
    if (dir == LFC_RECV) {
        /* ORDER rlx: a guess; the stamp load decides, as in try_recv. */
        uint64_t head = lfc_load_rlx_u64(&ch->head);
        /* ORDER acq: as in ring_try_recv(). */
        uint64_t s = lfc_load_acq_u64(slot_stamp(ch, head));
        if (pos_diff(s, head + 1) > 0)
            return true; /* a stale head: things moved */
        if (s == head + 1 && !unbuf_try_offer_at(ch, head, false))
            return true; /* a value, or an offer a select may take */
        /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
        uint64_t tail = lfc_load_acq_u64(&ch->tail);
        if ((tail & ch->mark) && (tail & ~ch->mark) == head)
            return true;
        return ch->unbuffered && unbuf_peer_waiting(&ch->tx_ec, self);
    }
    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    uint64_t tail = lfc_load_acq_u64(&ch->tail);
    if (tail & ch->mark)
        return true;
    if (ch->unbuffered) {
        return lfc__ec_has_plain_waiters(&ch->rx_ec) ||
               unbuf_peer_waiting(&ch->rx_ec, self);
    }
    /* ORDER acq: as in ring_try_send(). */
    return pos_diff(lfc_load_acq_u64(slot_stamp(ch, tail)), tail) >= 0;
}

/* The event count a dir case waits on. */
static struct lfc_ec *
case_ec(struct ring *ch, int dir)
{
    return dir == LFC_RECV ? &ch->rx_ec : &ch->tx_ec;
}

static void
chan_link(struct lfc__waitable *w, int dir, struct lfc__sel_node *n)
{
    struct ring *ch = chan_of(w);
    n->ec = case_ec(ch, dir);
    /* An unbuffered send case waits for a receiver to arrive, which is
     * not what tx_ec's wake-one signals ("a slot is free"): receivers
     * find it by hand-off instead, and only close notifies it. */
    n->base.passive = dir == LFC_SEND && ch->unbuffered;
    lfc__ec_node_add(n->ec, &n->base);
}

static void
chan_unlink(struct lfc__waitable *w, int dir, struct lfc__sel_node *n)
{
    (void)w;
    (void)dir;
    lfc__ec_node_remove(n->ec, &n->base);
}

static bool
chan_note_cpu(struct lfc__waitable *w, int dir, int cpu)
{
    struct ring *ch = chan_of(w);
    if (dir == LFC_RECV)
        return lfc__spin_note_same_cpu(&ch->rx_spin, &ch->tx_spin, cpu);
    return lfc__spin_note_same_cpu(&ch->tx_spin, &ch->rx_spin, cpu);
}

/* Bounded and unbuffered channels alike: the functions above branch on
 * ch->unbuffered where the two differ. */
static const struct lfc__waitable_ops chan_waitable_ops = {
    .check = chan_check,
    .try_send = chan_w_try_send,
    .try_recv = chan_w_try_recv,
    .ready = chan_ready,
    .link = chan_link,
    .unlink = chan_unlink,
    .note_cpu = chan_note_cpu,
};

/* ---- construction ------------------------------------------------------ */

static uint64_t
next_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* The slot stride of a channel of elem_size bytes (elem_size checked). */
static size_t
slot_stride(size_t elem_size)
{
    return (sizeof(uint64_t) + elem_size + 7) & ~(size_t)7;
}

void
lfc__chan_init_common(lfc_chan *ch, const struct lfc__waitable_ops *wops,
                      const struct lfc__chan_flavor *flavor, size_t cap,
                      size_t elem_size)
{
    memset(ch, 0, sizeof(*ch)); /* before the channel is shared */
    ch->waitable.ops = wops;
    ch->flavor = flavor;
    ch->cap = cap;
    ch->elem_size = elem_size;
    ch->refs = 1; /* the caller's */
}

/* Lay out a ring in memory that has room for sizeof(struct ring) plus
 * max(capacity, 1) slots of slot_stride(elem_size) bytes. */
static void
chan_init(struct ring *ch, size_t capacity, size_t elem_size, uint64_t start_lap)
{
    size_t head_bytes = sizeof(struct ring);
    uint64_t ring_cap = capacity ? capacity : 1;

    memset(ch, 0, head_bytes);
    lfc__chan_init_common(&ch->base, &chan_waitable_ops, NULL, capacity,
                          elem_size);
    ch->slots = (unsigned char *)ch + head_bytes;
    ch->stride = slot_stride(elem_size);
    ch->ring_cap = ring_cap;
    ch->mark = next_pow2(ring_cap + 1);
    ch->one_lap = ch->mark * 2;
    ch->elem_size = elem_size;
    ch->unbuffered = capacity == 0;
    ch->try_offer = ch->mark; /* no offer yet */

    uint64_t start = start_lap * ch->one_lap; /* wraps: fine, see above */
    ch->head = start;
    ch->tail = start;
    for (uint64_t i = 0; i < ring_cap; i++)
        *slot_stamp(ch, start + i) = start + i;
    lfc__spin_init(&ch->tx_spin);
    lfc__spin_init(&ch->rx_spin);
    lfc__ec_init(&ch->rx_ec);
    lfc__ec_init(&ch->tx_ec);
    lfc__ec_init(&ch->ack_ec);
    /* Publication of the new channel to other threads is the caller's
     * (thread creation, or a release store of the pointer). */
}

lfc_chan *
lfc__chan_new_at(size_t capacity, size_t elem_size, uint64_t start_lap)
{
    if (capacity > LFC_CHAN_MAX_CAP || elem_size > SIZE_MAX - 16) {
        errno = EINVAL;
        return NULL;
    }
    size_t stride = slot_stride(elem_size);
    uint64_t ring_cap = capacity ? capacity : 1;
    size_t head_bytes = sizeof(struct ring);
    if (ring_cap > (SIZE_MAX - head_bytes - LFC_CACHELINE) / stride) {
        errno = ENOMEM;
        return NULL;
    }
    size_t total = head_bytes + (size_t)ring_cap * stride;
    total = (total + LFC_CACHELINE - 1) & ~(size_t)(LFC_CACHELINE - 1);

    struct ring *ch = aligned_alloc(LFC_CACHELINE, total);
    if (!ch) {
        errno = ENOMEM;
        return NULL;
    }
    chan_init(ch, capacity, elem_size, start_lap);
    return &ch->base;
}

/* The never-ready channel: static, so that getting it cannot fail. */
static struct {
    struct ring ch;
    uint64_t slot; /* its one slot's stamp (elem_size 0) */
} g_never;
static pthread_once_t g_never_once = PTHREAD_ONCE_INIT;

static void
never_init(void)
{
    chan_init(&g_never.ch, 0, 0, 0);
    g_never.ch.base.owned = true; /* nobody may send to or close it */
}

lfc_chan *
lfc__chan_never(void)
{
    pthread_once(&g_never_once, never_init);
    return &g_never.ch.base;
}

lfc_chan *
lfc_chan_new(size_t capacity, size_t elem_size)
{
    return lfc__chan_new_at(capacity, elem_size, 0);
}

/* ---- lifetime (every flavor) ------------------------------------------ */

void
lfc__chan_retain(lfc_chan *ch)
{
    /* ORDER rlx: taking a reference needs no ordering; the caller already
     * holds one, so the count cannot reach zero meanwhile. */
    lfc_faa_rlx_u32(&ch->refs, 1);
}

void
lfc__chan_release(lfc_chan *ch)
{
    /* ORDER acqrel: rel orders our uses of the channel before the count
     * drops; acq on the last drop orders the free after everyone's. */
    if (lfc_faa_acqrel_u32(&ch->refs, (uint32_t)-1) != 1)
        return;
    if (ch->dtor)
        ch->dtor(ch);
    if (ch->flavor)
        ch->flavor->destroy(ch);
    if (ch != &g_never.ch.base)
        free(ch);
}

void
lfc__chan_make_owned(lfc_chan *ch, lfc__chan_dtor dtor)
{
    ch->owned = true; /* before the channel is shared */
    ch->dtor = dtor;
}

void
lfc__chan_set_dtor(lfc_chan *ch, lfc__chan_dtor dtor)
{
    ch->dtor = dtor; /* before the channel is shared */
}

void **
lfc__chan_owner_data(lfc_chan *ch)
{
    return &ch->owner_data;
}

bool
lfc__chan_recv_only(const lfc_chan *ch)
{
    return ch->owned;
}

uint32_t
lfc__chan_refs(const lfc_chan *ch)
{
    /* ORDER acq: pairs with the acqrel decrement in lfc__chan_release(): a
     * caller that sees only its own references left also sees everything
     * the other holders did with the channel before they let go. */
    return lfc_load_acq_u32(&ch->refs);
}

lfc_chan *
lfc_chan_dup(lfc_chan *ch)
{
    if (!ch)
        return NULL;
    if (ch->owned) {
        /* ORDER rlx: a count, as refs; lfc_chan_free's CAS reads it. */
        lfc_faa_rlx_u32(&ch->user_refs, 1);
    }
    lfc__chan_retain(ch);
    return ch;
}

/* Take back one user reference of an owned channel, if there is one. */
static bool
owned_take_user_ref(lfc_chan *ch)
{
    /* ORDER rlx: a count; the release that follows orders the uses. */
    uint32_t n = lfc_load_rlx_u32(&ch->user_refs);
    while (n != 0) {
        /* ORDER acqrel: more than a count needs (rlx would do); the only
         * 32-bit CAS lfc_atomic.h has, on a path that is never hot. */
        if (lfc_cas_acqrel_u32(&ch->user_refs, &n, n - 1))
            return true;
    }
    return false;
}

void
lfc_chan_free(lfc_chan *ch)
{
    if (!ch)
        return;
    if (ch->owned && !owned_take_user_ref(ch))
        return; /* not the user's to free: its owner frees it */
    lfc__chan_release(ch);
}

/* ---- public API: checks, then the ring inline or the flavor's table ---- */

static inline struct ring *
ring_of(lfc_chan *ch)
{
    return (struct ring *)(void *)ch; /* base is the first member */
}

static inline const struct ring *
ring_of_const(const lfc_chan *ch)
{
    return (const struct ring *)(const void *)ch;
}

static inline bool
bad_args(const lfc_chan *ch, const void *buf)
{
    return !ch || (!buf && ch->elem_size != 0);
}

/* As bad_args, and the channel must be one users may send to. */
static inline bool
bad_send_args(const lfc_chan *ch, const void *buf)
{
    return bad_args(ch, buf) || ch->owned;
}

/* lfc_try_send on a ring, without the checks: the owner's send, and
 * select's. */
static int
chan_try_send(struct ring *ch, const void *elem)
{
    if (ch->unbuffered)
        return unbuf_try_send(ch, elem);
    struct send_op op = {ch, elem, 0};
    return send_try(&op);
}

static int
owner_try_send(lfc_chan *ch, const void *elem)
{
    if (lfc_unlikely(ch->flavor != NULL))
        return ch->flavor->try_send(ch, elem);
    return chan_try_send(ring_of(ch), elem);
}

int
lfc_try_send(lfc_chan *ch, const void *elem)
{
    if (bad_send_args(ch, elem))
        return LFC_EINVAL;
    return owner_try_send(ch, elem);
}

int
lfc__chan_owner_try_send(lfc_chan *ch, const void *elem)
{
    return owner_try_send(ch, elem);
}

/* lfc_send_until without the checks (every flavor). */
static inline int
chan_send_until(lfc_chan *c, const void *elem, int64_t deadline_ns)
{
    if (lfc_unlikely(c->flavor != NULL))
        return c->flavor->send_until(c, elem, deadline_ns);
    struct ring *ch = ring_of(c);
    if (ch->unbuffered)
        return unbuf_send(ch, elem, deadline_ns);
    struct send_op op = {ch, elem, 0};
    int r = send_try(&op);
    if (lfc_likely(r != LFC_AGAIN))
        return r;
    return lfc__ec_wait(&ch->tx_ec, &ch->tx_spin, &ch->rx_spin, send_try, &op,
                        deadline_ns);
}

int
lfc_send_until(lfc_chan *c, const void *elem, int64_t deadline_ns)
{
    if (bad_send_args(c, elem))
        return LFC_EINVAL;
    return chan_send_until(c, elem, deadline_ns);
}

int
lfc_send(lfc_chan *ch, const void *elem)
{
    return lfc_send_until(ch, elem, INT64_MAX);
}

/* lfc_try_recv without the checks (every flavor). */
static inline int
chan_try_recv(lfc_chan *c, void *out)
{
    if (lfc_unlikely(c->flavor != NULL))
        return c->flavor->try_recv(c, out);
    struct recv_op op = {ring_of(c), out, false};
    return recv_try(&op);
}

int
lfc_try_recv(lfc_chan *c, void *out)
{
    if (bad_args(c, out))
        return LFC_EINVAL;
    return chan_try_recv(c, out);
}

/* lfc_recv_until without the checks (every flavor). */
static inline int
chan_recv_until(lfc_chan *c, void *out, int64_t deadline_ns)
{
    if (lfc_unlikely(c->flavor != NULL))
        return c->flavor->recv_until(c, out, deadline_ns);
    struct ring *ch = ring_of(c);
    struct recv_op op = {ch, out, true};
    int r = recv_try(&op);
    if (lfc_likely(r != LFC_AGAIN))
        return r;
    if (!ch->unbuffered) {
        return lfc__ec_wait(&ch->rx_ec, &ch->rx_spin, &ch->tx_spin, recv_try,
                            &op, deadline_ns);
    }
    bool counted;
    r = lfc__ec_wait_noting(&ch->rx_ec, &ch->rx_spin, &ch->tx_spin, recv_try,
                            &op, deadline_ns, &counted);
    if (counted)
        unbuf_recv_left(ch);
    return r;
}

int
lfc_recv_until(lfc_chan *c, void *out, int64_t deadline_ns)
{
    if (bad_args(c, out))
        return LFC_EINVAL;
    return chan_recv_until(c, out, deadline_ns);
}

int
lfc_recv(lfc_chan *ch, void *out)
{
    return lfc_recv_until(ch, out, INT64_MAX);
}

/* ---- public API: batches (chan.h "Batches"; "Batches" above) ----------- */

/*
 * The generic batches: loops of the single operations (checked already),
 * for unbuffered rings (a batch is a sequence of rendezvous), for
 * flavors whose table has no batch slot, and for batches of one on a
 * ring (the single op is the same claim, on its tuned path). Same results as the ring's
 * batches; one wake-up per value.
 */
static int
generic_send_many_until(lfc_chan *c, const void *elems, size_t n,
                        size_t *sent, int64_t deadline_ns)
{
    size_t i = 0;
    int r = LFC_OK;
    for (; i < n; i++) {
        r = chan_send_until(c, elem_at(elems, i, c->elem_size), deadline_ns);
        if (r != LFC_OK)
            break;
    }
    *sent = i;
    return r;
}

static int
generic_try_send_many(lfc_chan *c, const void *elems, size_t n, size_t *sent)
{
    size_t i = 0;
    int r = LFC_OK;
    for (; i < n; i++) {
        r = owner_try_send(c, elem_at(elems, i, c->elem_size));
        if (r != LFC_OK)
            break;
    }
    *sent = i;
    return i > 0 ? LFC_OK : r;
}

static inline void *
out_at(void *base, size_t i, size_t esz)
{
    return esz ? (unsigned char *)base + i * esz : base;
}

/* After the first value, what is ready now, as a ring's recv_many_rest. */
static size_t
generic_recv_rest(lfc_chan *c, void *out, size_t max, size_t i)
{
    while (i < max && chan_try_recv(c, out_at(out, i, c->elem_size)) == LFC_OK)
        i++;
    return i;
}

static int
generic_recv_many_until(lfc_chan *c, void *out, size_t max, size_t *got,
                        int64_t deadline_ns)
{
    int r = chan_recv_until(c, out, deadline_ns);
    *got = r == LFC_OK ? generic_recv_rest(c, out, max, 1) : 0;
    return r;
}

static int
generic_try_recv_many(lfc_chan *c, void *out, size_t max, size_t *got)
{
    int r = chan_try_recv(c, out);
    *got = r == LFC_OK ? generic_recv_rest(c, out, max, 1) : 0;
    return r;
}

/* chan.h's LFC_EINVAL cases of every batch call; clears *count first. */
static inline bool
bad_many_args(const lfc_chan *ch, const void *buf, size_t n, size_t *count)
{
    if (count)
        *count = 0;
    return !ch || !count || (!buf && n != 0 && ch->elem_size != 0);
}

int
lfc_send_many_until(lfc_chan *c, const void *elems, size_t n, size_t *sent,
                    int64_t deadline_ns)
{
    if (bad_many_args(c, elems, n, sent) || c->owned)
        return LFC_EINVAL;
    if (n == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->send_many_until)
            return f->send_many_until(c, elems, n, sent, deadline_ns);
        return generic_send_many_until(c, elems, n, sent, deadline_ns);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || n == 1) /* n == 1: the single op's fast path */
        return generic_send_many_until(c, elems, n, sent, deadline_ns);
    return ring_send_many_until(ch, elems, n, sent, deadline_ns);
}

int
lfc_send_many(lfc_chan *ch, const void *elems, size_t n, size_t *sent)
{
    return lfc_send_many_until(ch, elems, n, sent, INT64_MAX);
}

int
lfc_try_send_many(lfc_chan *c, const void *elems, size_t n, size_t *sent)
{
    if (bad_many_args(c, elems, n, sent) || c->owned)
        return LFC_EINVAL;
    if (n == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->try_send_many)
            return f->try_send_many(c, elems, n, sent);
        return generic_try_send_many(c, elems, n, sent);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || n == 1)
        return generic_try_send_many(c, elems, n, sent);
    return ring_try_send_many_all(ch, elems, n, sent);
}

int
lfc_recv_many_until(lfc_chan *c, void *out, size_t max, size_t *got,
                    int64_t deadline_ns)
{
    if (bad_many_args(c, out, max, got))
        return LFC_EINVAL;
    if (max == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->recv_many_until)
            return f->recv_many_until(c, out, max, got, deadline_ns);
        return generic_recv_many_until(c, out, max, got, deadline_ns);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || max == 1)
        return generic_recv_many_until(c, out, max, got, deadline_ns);
    return ring_recv_many_until(ch, out, max, got, deadline_ns);
}

int
lfc_recv_many(lfc_chan *ch, void *out, size_t max, size_t *got)
{
    return lfc_recv_many_until(ch, out, max, got, INT64_MAX);
}

int
lfc_try_recv_many(lfc_chan *c, void *out, size_t max, size_t *got)
{
    if (bad_many_args(c, out, max, got))
        return LFC_EINVAL;
    if (max == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->try_recv_many)
            return f->try_recv_many(c, out, max, got);
        return generic_try_recv_many(c, out, max, got);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || max == 1)
        return generic_try_recv_many(c, out, max, got);
    return ring_try_recv_many_all(ch, out, max, got);
}

int
lfc_close(lfc_chan *ch)
{
    if (!ch || ch->owned)
        return LFC_EINVAL;
    return lfc__chan_owner_close(ch);
}

int
lfc__chan_owner_close(lfc_chan *c)
{
    if (c->flavor)
        return c->flavor->close(c);
    struct ring *ch = ring_of(c);
    /* ORDER seqcst: one RMW sets the mark, so a sender's CAS from an
     * unmarked tail fails after it (no value slips in); release for the
     * acq mark loads that return LFC_CLOSED. */
    uint64_t old = lfc_fetch_or_seqcst_u64(&ch->tail, ch->mark);
    if (old & ch->mark)
        return LFC_CLOSED;
    /* ORDER seqcst: the mark before the waiters loads (store→load);
     * pairs with every waiter's announce-then-recheck. */
    lfc_fence_seqcst();
    lfc__ec_broadcast_fenced(&ch->rx_ec, NULL);
    lfc__ec_broadcast_fenced(&ch->tx_ec, NULL);
    lfc__ec_broadcast_fenced(&ch->ack_ec, NULL);
    return LFC_OK;
}

size_t
lfc_chan_len(const lfc_chan *c)
{
    if (!c)
        return 0;
    if (c->flavor)
        return c->flavor->len(c);
    const struct ring *ch = ring_of_const(c);
    if (ch->unbuffered)
        return 0;
    for (;;) {
        /* ORDER rlx: a snapshot; the re-read of tail below checks that
         * head was read while tail held this value. */
        uint64_t tail = lfc_load_rlx_u64(&ch->tail) & ~ch->mark;
        /* ORDER rlx: as above. */
        uint64_t head = lfc_load_rlx_u64(&ch->head);
        /* ORDER rlx: as above. */
        if ((lfc_load_rlx_u64(&ch->tail) & ~ch->mark) != tail)
            continue;
        uint64_t hi = tail & (ch->mark - 1);
        uint64_t lo = head & (ch->mark - 1);
        if (hi > lo)
            return (size_t)(hi - lo);
        if (hi < lo)
            return (size_t)(ch->ring_cap - lo + hi);
        return tail == head ? 0 : c->cap;
    }
}

size_t
lfc_chan_cap(const lfc_chan *ch)
{
    return ch ? ch->cap : 0;
}

size_t
lfc_chan_elem_size(const lfc_chan *ch)
{
    return ch ? ch->elem_size : 0;
}

bool
lfc_chan_closed(const lfc_chan *c)
{
    if (!c)
        return false;
    if (c->flavor)
        return c->flavor->closed(c);
    const struct ring *ch = ring_of_const(c);
    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    return (lfc_load_acq_u64(&ch->tail) & ch->mark) != 0;
}
