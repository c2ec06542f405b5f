/* SPDX-License-Identifier: MIT */
/*
 * Unbuffered channels: the ring flavor with one slot (lfc_ring.h) plus an
 * acknowledgement, and the hand-off to parked selectors. Depends on: the
 * ring core (lfc_ring.h), core (event counts), the selector.
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
 * interface (chan.c's chan_waitable_ops), like any waiter, with selector
 * nodes instead of a futex sleep on seq. On an unbuffered channel a
 * selecting thread cannot offer its value in the slot (a receiver could
 * take it while another case completes): a receiver, or lfc_try_send,
 * finds a parked selector on the event count's node list and completes
 * its case by hand-off (lfc__unbuf_handoff below), claiming it with
 * lfc__sel_claim first, so exactly one party wins it.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lfc_atomic.h"
#include "lfc_park.h"
#include "lfc_ring.h"
#include "lfc_selector.h"

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


int
lfc__unbuf_send(struct ring *ch, const void *elem, int64_t deadline_ns)
{
    /* A deadline already past allows only the attempt that does not wait
     * (chan.h): lfc_try_send's hand-over to a receiver already waiting.
     * Offering the value and then waiting for the receiver to take it
     * would retract it at once, before a parked receiver could run. */
    if (deadline_ns != INT64_MAX && lfc__now_ns() >= deadline_ns) {
        int r = lfc__unbuf_try_send(ch, elem);
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
void
lfc__unbuf_recv_left(struct ring *ch)
{
    /* ORDER seqcst: our withdraw (a seqcst RMW) before the ack_ec waiters
     * load (store→load); pairs with try_offer_ack_try()'s announce, fence
     * and rx_ec waiters load. */
    lfc_fence_seqcst();
    lfc__ec_broadcast_fenced(&ch->ack_ec, &ch->rx_spin);
}

int
lfc__unbuf_try_send(struct ring *ch, const void *elem)
{
    uint64_t pos;

    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    if (lfc_load_acq_u64(&ch->tail) & ch->mark)
        return LFC_CLOSED;
    /* A receiver parked in select takes the value directly. */
    int r = lfc__unbuf_handoff(ch, LFC_SEND, (void *)(uintptr_t)elem);
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
int
lfc__unbuf_handoff(struct ring *ch, int dir, void *val)
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
bool
lfc__unbuf_peer_waiting(struct lfc_ec *ec, const struct lfc__selector *self)
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

