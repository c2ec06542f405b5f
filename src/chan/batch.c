/* SPDX-License-Identifier: MIT */
/*
 * Batches on a buffered ring: claims of several slots with one CAS, one
 * wake-up per claim. Depends on: the ring core (lfc_ring.h), core. The
 * public batch calls, their argument checks and the loop of single
 * operations for other channels are in chan.c.
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
 * unpublished waits for the whole copy: lfc__wait_for_peer, bounded).
 *
 * Wake-ups per batch: a send claim publishes its k stamps, then fences
 * once and signals rx_ec once (after_send_to), and re-signals tx_ec if
 * the slot at its new tail q_k is free; a receive claim frees its k
 * slots, fences once, signals tx_ec once, and re-signals rx_ec if its
 * new head q_k is ready or closed-and-drained (after_free_to). These are
 * the rules of "Wake-ups" (lfc_ring.h) with the head (tail) move of one claim
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
 * loop of the single operations (chan.c's generic_*_many): one rendezvous,
 * and one wake-up, per value.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lfc_atomic.h"
#include "lfc_park.h"
#include "lfc_ring.h"

/* ---- batches on a buffered ring ("Batches" above) ---------------------- */

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
            lfc__wait_for_peer(&peer_polls);
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
            lfc__wait_for_peer(&peer_polls);
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

int
lfc__ring_send_many_until(struct ring *ch, const void *elems, size_t n, size_t *sent,
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

int
lfc__ring_try_send_many_all(struct ring *ch, const void *elems, size_t n,
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

int
lfc__ring_recv_many_until(struct ring *ch, void *out, size_t max, size_t *got,
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

int
lfc__ring_try_recv_many_all(struct ring *ch, void *out, size_t max, size_t *got)
{
    struct recv_many_op op = {ch, out, max, 0, true};
    int r = recv_many_try(&op);
    if (r == LFC_OK)
        recv_many_rest(&op);
    *got = op.done;
    return r;
}

