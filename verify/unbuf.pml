/* SPDX-License-Identifier: MIT */
/*
 * unbuf.pml - lfc_try_send on an unbuffered channel (src/chan/unbuf.c:
 * lfc__unbuf_try_send, unbuf_retract, try_offer_ack_try,
 * unbuf_await_try_offer, lfc__unbuf_recv_left; src/chan/lfc_ring.h:
 * ring_try_send's try_offer, ring_try_recv's `waits`, unbuf_try_offer_at;
 * src/chan/chan.c: lfc_recv_until's unbuffered branch; src/core/park.c:
 * lfc__ec_wait_noting, lfc__ec_wake_plain).
 *
 * The protocol (unbuf.c "lfc_try_send on an unbuffered channel must
 * succeed only if a receiver is waiting"): lfc_try_send first hands its
 * value to a selector parked WAITING on rx_ec (lfc__unbuf_handoff); otherwise
 * it offers only if a plain receiver is counted on rx_ec, noting the
 * offer's position in try_offer before the stamp publishes it; receives
 * that do not wait (lfc_try_recv, select's passes) leave such an offer
 * alone. After the offer and a fence it looks at rx_ec's plain waiters
 * again: if one is counted it wakes ONE PLAIN waiter (never a selector),
 * else it retracts. Then it waits on ack_ec for "taken, or no plain
 * receiver counted (retract: LFC_AGAIN)". A receive that was counted on
 * rx_ec signals ack_ec after its withdrawal (fence, broadcast).
 *
 * The channel: one slot, positions in steps of ONE_LAP (the lap, since
 * the ring has one index): stamp == p free for position p, p + 1 full,
 * p + ONE_LAP freed (free for the next position). Values: TV (try_send's)
 * and BV (the blocking sender's). Event counts: RX (rx_ec), TX (tx_ec),
 * ACK (ack_ec). No close here.
 *
 * Threads: TrySender (lfc_try_send) and, by configuration (-D):
 *   (none)    BSender (lfc_send of one ordinary value, no deadline) and
 *             Receiver 0 (lfc_recv): the second value is what lets a
 *             counted receiver leave without taking the offer
 *   TIMED     Receivers 0 and 1, both lfc_recv_until (a deadline that may
 *             pass at any time)
 *   TIMED_BS  BSender and Receiver 0 with a deadline
 *   SEL       Receiver 0 (lfc_recv) and a Selector: lfc_select with one
 *             receive case on the channel (a node on rx_ec); it may take
 *             TV by hand-off while parked, never TV's offer in the ring.
 *             With R: also Receiver 1 with a deadline (--long)
 *   TRYRECV   Receiver 0 (lfc_recv) and one lfc_try_recv, which must not
 *             take TV's offer
 * Every 2-receiver configuration of the earlier model is here (TIMED);
 * the 4-thread ones (2 receivers, a sender and a selector) exceed this
 * machine's memory (more than 22 M states, uncollapsed), so each extra
 * party is checked with try_send and one receiver.
 *
 * Properties:
 *   - lfc_try_send ends: in every terminal state it has returned;
 *   - it returned LFC_OK iff TV was taken, and only a receive that waits
 *     takes TV's offer from the ring (asserted at the take); every value
 *     is taken at most once (asserted), and BV exactly once if lfc_send
 *     returned;
 *   - in a terminal state (Watchdog) nobody sleeps while its condition
 *     holds: a plain receiver while a value is at head; the selector
 *     WAITING while a value it may take is at head; the blocking sender
 *     on tx_ec while the slot is free, on ack_ec once its value is
 *     taken; try_send on ack_ec once its value is taken or no plain
 *     receiver is counted.
 * A thread may rightly sleep forever otherwise (a sender whose value no
 * receiver is left to take; a receiver whose values went to others), so
 * these end states are judged only by the Watchdog.
 *
 * Mutations that must fail:
 *   MUT_WAKE_ANY      try_send wakes with the ordinary wake-one
 *                     (lfc__ec_wake), which a selector node can absorb
 *                     (SEL): the plain receiver sleeps on, try_send waits
 *                     for it forever (the bug tests/test_lincheck.c found)
 *   MUT_NO_LEFT_SIGNAL  no ack_ec broadcast after a counted receiver
 *                     leaves (lfc__unbuf_recv_left): try_send waits forever for
 *                     a receiver that took BV and left
 *   MUT_LEFT_FENCE    no fence in lfc__unbuf_recv_left: its ack_ec waiters load
 *                     happens before the withdrawal (ec_wait's hook)
 *   MUT_TRY_TAKES     lfc_try_recv / select passes take try_send's offer
 *                     (no unbuf_try_offer_at): SEL or TRYRECV
 *   MUT_ANNOUNCE_FENCE (park.pmh)
 * Kept from the earlier protocol, now passing in every configuration,
 * so not in run.sh (README.md "Findings"): MUT_NO_LAST_TRY,
 * MUT_WITHDRAW_FENCE (park.pmh), MUT_OFFER_FENCE (try_send's recheck of
 * rx_ec's plain waiters hoisted above its offer's stamp store).
 */
#define NEC  3
#define NID  2
#define NSEL 1
#define EC_WITHDRAW_HOOK

#include "park.pmh"

#define RX  0
#define TX  1
#define ACK 2
#define ONE_LAP 4
#define WITHDRAWN 4   /* TRY_OFFER_WITHDRAWN: not a status */

#define TV 1          /* try_send's value */
#define BV 2          /* the blocking sender's value */
#define SELK 5        /* taker id of the selector (receivers: 0, 1) */
#define TRK  6        /* taker id of lfc_try_recv */
#define NOBODY 255

byte stamp = 0;       /* the slot's stamp */
byte slot_val = 0;    /* the slot's payload */
byte head = 0;
byte tail = 0;
byte try_offer = NOBODY;  /* ch->try_offer: ch->mark until the first */
byte got[3];          /* times value v was taken */
byte taker[3];        /* who took value v */
byte ts_pos = NOBODY; /* positions of the two senders' offers */
byte bs_pos = NOBODY;
byte ts_result = AGAIN;
bool ts_done = false;

/* locals of every thread that runs a channel operation */
#define CH_VARS byte rh, rs, rp; bool rcas, won, lstale = true

#define RX_READY (stamp == head + 1)
#define LOST_WAKEUP \
    (((inq[IQ(RX, 0)] || inq[IQ(RX, 1)]) && RX_READY) || \
     (sel_inq[0] && sel_state[0] == SEL_WAITING && RX_READY && \
      try_offer != head) || \
     (inq[IQ(TX, 0)] && stamp == tail) || \
     (inq[IQ(ACK, 1)] && stamp != bs_pos + 1) || \
     (inq[IQ(ACK, 0)] && (stamp != ts_pos + 1 || ec_plain[RX] == 0)))

proctype Watchdog()
{
    timeout ->
    assert(ts_done);              /* lfc_try_send never blocks forever */
    assert(!(LOST_WAKEUP));
    assert((ts_result == OK) == (got[TV] == 1))
}

/* ---- the ring (chan.c) -------------------------------------------------- */

/* ring_try_send(): the tail guess and the stamp are read in one step (a
 * stale guess only leads to a retry, chan_wake.pml); is_try: record the
 * position in try_offer before the stamp publishes the offer. */
inline ring_try_send(elem, is_try, pos, r)
{
    do
    :: atomic { rp = tail; rs = stamp };
       if
       :: rs == rp ->
          atomic { if :: tail == rp -> tail = rp + ONE_LAP; rcas = true
                      :: else -> rcas = false fi };           /* CAS tail */
          if
          :: rcas ->
             if :: is_try -> try_offer = rp :: else -> skip fi;  /* rlx */
             atomic { slot_val = elem; stamp = rp + 1 };  /* copy; rel */
             pos = rp; r = OK; break
          :: else -> skip
          fi
       :: rs < rp ->              /* last lap's value is in the slot */
          if
          :: head + ONE_LAP == rp -> r = AGAIN; break        /* full */
          :: else -> skip         /* claimed, being copied: wait_for_peer */
          fi
       :: rs > rp -> skip         /* stale guess */
       fi
    od
}

/* ring_try_recv(): waits = the caller is lfc_recv / lfc_recv_until. No
 * close: unbuf_closed_refuse() says false, and an empty or half-made
 * offer is LFC_AGAIN. */
inline ring_try_recv(me, waits, pos, r)
{
    do
    :: atomic { rh = head; rs = stamp };
       if
       :: rs == rh + 1 ->
          if
#ifndef MUT_TRY_TAKES
          :: !waits && try_offer == rh -> r = AGAIN; break  /* try_offer_at */
#endif
          :: else ->
             atomic { if :: head == rh -> head = rh + ONE_LAP; rcas = true
                         :: else -> rcas = false fi };        /* CAS head */
             if
             :: rcas ->
                atomic {                   /* copy out; rel free */
                    assert(waits || slot_val != TV);
                    got[slot_val]++; taker[slot_val] = me;
                    assert(got[slot_val] == 1);
                    stamp = rh + ONE_LAP
                };
                pos = rh; r = OK; break
             :: else -> skip               /* from the current head */
             fi
          fi
       :: rs < rh + 1 -> r = AGAIN; break   /* empty, or an offer being made */
       :: rs > rh + 1 -> skip               /* stale guess */
       fi
    od
}

/* wake_receivers_at(h), caller fenced: no close here */
inline wake_receivers_at(h)
{
    if :: stamp == h + 1 -> ec_wake(RX, 1) :: else -> skip fi
}

/* after_free(p): fence; signal tx_ec; broadcast ack_ec; the next head */
inline after_free(p)
{
    ec_wake(TX, 1);
    ec_wake(ACK, ALL);
    if
    :: ec_plain[RX] + ec_sels[RX] != 0 -> wake_receivers_at(p + ONE_LAP)
    :: else -> skip
    fi
}

/* after_send(p): fence; signal rx_ec. wake_senders_at() is skipped: the
 * only thread that waits on tx_ec is the sender that calls this. */
inline after_send(p) { ec_wake(RX, 1) }

/* unbuf_retract(pos): claim our own position on head, as a receiver would */
inline retract(pos, won)
{
    atomic { if :: head == pos -> head = pos + ONE_LAP; won = true
                :: else -> won = false fi };
    if
    :: won ->
       stamp = pos + ONE_LAP;      /* rel free; then a fence */
       ec_wake(TX, 1);
       if
       :: ec_plain[RX] + ec_sels[RX] != 0 -> wake_receivers_at(pos + ONE_LAP)
       :: else -> skip
       fi
    :: else -> skip
    fi
}

/* recv_try(): the receive, then (LFC_AGAIN) lfc__unbuf_handoff(LFC_RECV),
 * which finds no selecting sender here (no send cases) */
inline recv_try(me, waits, r)
{
    ring_try_recv(me, waits, rp, r);
    if :: r == OK -> after_free(rp) :: else -> skip fi
}

/* send_try() of lfc_send's value */
inline send_try(r)
{
    ring_try_send(BV, false, bs_pos, r);
    if :: r == OK -> after_send(bs_pos) :: else -> skip fi
}

/* ack_try(pos): taken once the stamp moved past pos + 1 (no close) */
inline ack_try(pos, r)
{
    if :: stamp != pos + 1 -> r = OK :: else -> r = AGAIN fi
}

/* try_offer_ack_try(): after ec_wait's announce and fence */
inline try_offer_ack_try(r)
{
    ack_try(ts_pos, r);
    if
    :: r == AGAIN && ec_plain[RX] == 0 ->     /* has_plain_waiters, rlx */
       retract(ts_pos, won);
       if :: won -> r = WITHDRAWN :: else -> skip fi
    :: else -> skip
    fi
}

/* kinds: 0, 1 receivers; 2 try_send's ack wait; 3 lfc_send's wait for
 * room; 4 lfc_send's ack wait */
inline try(kind, r)
{
    if
    :: kind < 2 -> recv_try(kind, true, r)
    :: kind == 2 -> try_offer_ack_try(r)
    :: kind == 3 -> send_try(r)
    :: kind == 4 -> ack_try(bs_pos, r)
    fi
}

/* the mutants' hoisted loads see what a receiver's try would: only the
 * receivers' are hoisted (the other kinds see everything) */
inline peek(kind, b)
{
    if
    :: kind < 2 -> b = RX_READY
    :: else -> b = true
    fi
}

/* Just before ec_wait's withdrawal. MUT_LEFT_FENCE: lfc__unbuf_recv_left()'s
 * load of ack_ec's waiters, hoisted above the withdrawal; only where no
 * fence follows it (a timed-out wait fences before its last try). */
inline withdraw_hook(e, r)
{
#ifdef MUT_LEFT_FENCE
    if
    :: e == RX && r != TIMEDOUT -> lstale = (ec_plain[ACK] + ec_sels[ACK] != 0)
    :: else -> skip
    fi
#else
    skip
#endif
}

/* ---- the threads ----------------------------------------------------------- */

/* lfc_recv (timed false) / lfc_recv_until (timed true) */
proctype Receiver(byte me; bool timed)
{
    byte r;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    recv_try(me, true, r);
    if
    :: r == AGAIN ->
       ec_wait(RX, me, timed, me, r);  /* lfc__ec_wait_noting: counted */
#ifndef MUT_NO_LEFT_SIGNAL
       /* lfc__unbuf_recv_left(): fence; broadcast ack_ec */
       if :: lstale -> ec_wake(ACK, ALL) :: else -> skip fi
#endif
    :: else -> skip
    fi;
    assert(r == OK || (timed && r == TIMEDOUT))
}

/* lfc__unbuf_handoff(ch, LFC_SEND, TV): complete a WAITING selector's receive
 * case (no close) */
inline handoff_send(r)
{
    r = AGAIN;
    if
    :: ec_sels[RX] != 0 ->
       lock(ec_lock[RX]);
       if
       :: node_linked[NODE(RX, 0)] ->
          atomic {                           /* CAS WAITING -> HANDOFF */
              if :: sel_state[0] == SEL_WAITING -> sel_state[0] = SEL_HANDOFF;
                    won = true
                 :: else -> won = false fi
          };
          if
          :: won ->
             atomic { got[TV]++; taker[TV] = SELK; assert(got[TV] == 1) };
             sel_state[0] = SEL_DONE(0);      /* rel */
             sel_wake(0);
             r = OK
          :: else -> skip
          fi
       :: else -> skip
       fi;
       unlock(ec_lock[RX])
    :: else -> skip
    fi
}

/* lfc_try_send() on the unbuffered channel: lfc__unbuf_try_send() */
proctype TrySender()
{
    byte r, pw;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    handoff_send(r);
    if :: r == OK -> goto out :: else -> skip fi;
    if
    :: ec_plain[RX] == 0 -> r = AGAIN; goto out   /* no plain receiver */
    :: else -> skip
    fi;
#ifdef MUT_OFFER_FENCE
    pw = ec_plain[RX];          /* the recheck's load, hoisted */
#endif
    ring_try_send(TV, true, ts_pos, r);
    if :: r != OK -> goto out :: else -> skip fi;   /* full: LFC_AGAIN */
#ifndef MUT_OFFER_FENCE
    pw = ec_plain[RX];          /* fence; has_plain_waiters */
#endif
    if
    :: pw != 0 ->
#ifdef MUT_WAKE_ANY
       ec_wake(RX, 1)
#else
       ec_wake_plain(RX)
#endif
    :: else ->
       retract(ts_pos, won);
       if :: won -> r = AGAIN; goto out :: else -> skip fi
    fi;
    /* unbuf_await_try_offer(): lfc__ec_wait's spin phase (one try),
     * then the park loop */
    try(2, r);
    if
    :: r == AGAIN -> ec_wait(ACK, 0, false, 2, r)
    :: else -> skip
    fi;
    if :: r == WITHDRAWN -> r = AGAIN :: else -> skip fi;
    assert(r == OK || r == AGAIN);
out:
    atomic {
        ts_result = r;
        assert((r == OK) == (got[TV] == 1));
        ts_done = true
    }
}

/* lfc_send() of BV: send_try, waiting on tx_ec for room, then
 * unbuf_await_taken(pos, INT64_MAX) (no close, no deadline) */
proctype BSender()
{
    byte r;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    send_try(r);
    if
    :: r == AGAIN -> ec_wait(TX, 0, false, 3, r)
    :: else -> skip
    fi;
    assert(r == OK);
    ack_try(bs_pos, r);
    if
    :: r == AGAIN -> ec_wait(ACK, 1, false, 4, r)
    :: else -> skip
    fi;
    assert(r == OK && got[BV] == 1)
}

#ifdef SEL
/* lfc_select() with one case: receive from the channel (select.c
 * select_blocking, park_once; the pass is lfc_try_recv: waits false).
 * After a NOTIFY or ABORTED it makes one try (the C tries the notified
 * case, then a full pass: a second try of the same case). */
proctype Selector()
{
    byte r, s;
    bool rdy;
    CH_VARS;
    WAKE_VARS;
    recv_try(SELK, false, r);
    do
    :: r == OK -> break
    :: else ->
       sel_state[0] = SEL_WAITING;          /* register_all(): rlx store, */
       sel_add(RX, 0, 0, false);            /* link (seqcst RMW), fence */
       /* any_ready(): chan.c chan_ready(LFC_RECV) */
       atomic { rh = head; rs = stamp };
       rdy = (rs > rh + 1) || (rs == rh + 1 && try_offer != rh);
       s = SEL_WAITING;
       if
       :: rdy ->
          atomic {                          /* CAS WAITING -> ABORTED */
              if
              :: sel_state[0] == SEL_WAITING ->
                 sel_state[0] = SEL_ABORTED; s = SEL_ABORTED
              :: else -> s = sel_state[0]
              fi
          }
       :: else -> skip
       fi;
       if
       :: s == SEL_WAITING || s == SEL_HANDOFF -> sel_park(0, false, s)
       :: else -> skip
       fi;
       sel_remove(RX, 0);                   /* unregister_all(), fence */
       if
       :: IS_DONE(s) -> r = OK              /* handed off: TV */
       :: else -> recv_try(SELK, false, r)  /* NOTIFY(0) or ABORTED */
       fi
    od
}
#endif

#ifdef TRYRECV
/* lfc_try_recv(): never waits */
proctype TryRecv()
{
    byte r;
    CH_VARS;
    WAKE_VARS;
    recv_try(TRK, false, r)
}
#endif

init
{
    atomic {
        run TrySender();
#if defined(TIMED)
        run Receiver(0, true);
        run Receiver(1, true);
#elif defined(TIMED_BS)
        run BSender();
        run Receiver(0, true);
#elif defined(SEL)
        run Receiver(0, false);
        run Selector();
#ifdef R1
        run Receiver(1, true);
#endif
#elif defined(TRYRECV)
        run Receiver(0, false);
        run TryRecv();
#else
        run BSender();
        run Receiver(0, false);
#endif
        run Watchdog()
    }
}
