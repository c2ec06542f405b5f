/* SPDX-License-Identifier: MIT */
/*
 * unbuf.pml - lfc_try_send on an unbuffered channel against receivers
 * with deadlines (src/chan.c unbuf_try_send, unbuf_retract,
 * unbuf_await_taken, ack_try; src/park.c the withdraw-then-last-try).
 *
 * lfc_try_send offers its value only if a plain receiver is counted on
 * rx_ec, and after the offer (seqcst fence) looks again: a receiver still
 * counted has committed to one more try before it leaves (park.c: the
 * withdrawal, a fence, the last try after a timeout), so the sender waits
 * for it without a deadline. This is where the last try is needed: the
 * event count alone (ec.pml) loses no wake-up without it.
 *
 * One offer, position 0 of the one-slot ring: stamp 0 free, 1 full
 * (offered), ONE_LAP freed (taken or retracted). Event counts: 0 rx_ec
 * (receivers wait), 1 ack_ec (the sender waits for its offer's taker).
 *
 * Configuration: two receivers, both with deadlines (they may time out at
 * any time), one try-sender. Properties: no invalid end state (the
 * committed sender waits forever for a receiver that left), and the
 * value is taken exactly when try_send says LFC_OK.
 * Mutations that must fail: MUT_NO_LAST_TRY, MUT_WITHDRAW_FENCE
 * (park.pmh), MUT_OFFER_FENCE (the sender's recheck of rx_ec's waiters
 * happens before its offer's stamp store).
 */
#define NEC  2
#define NID  2
#define NSEL 1   /* no selectors here */

#include "park.pmh"

#define RX  0
#define ACK 1
#define ONE_LAP 4

byte stamp = 0;      /* slot 0's stamp */
byte head = 0;       /* position: 0, or 1 once the offer is claimed */
byte tail = 0;       /* position: 0, or 1 once the sender claimed it */
byte taken = 0;      /* receivers that got the value */
byte sent = AGAIN;   /* lfc_try_send's result */
byte claimer = 255;  /* who won the head CAS: a receiver id, or 9 (sender) */

/* after_free(): fence; signal tx_ec (nobody waits there in this model);
 * broadcast ack_ec; wake_receivers_at(next) finds no second offer. */
inline after_free() { ec_wake(ACK, ALL) }

/* recv_try() -> ring_try_recv() on the unbuffered ring (no selectors, so
 * unbuf_handoff() returns AGAIN at once; no close). kind = receiver id. */
inline try_recv(id, r)
{
    if
    :: stamp == head + 1 ->                    /* acq load: offered */
       atomic {
           if
           :: head == 0 -> head = 1; claimer = id; r = OK   /* CAS head */
           :: else -> r = AGAIN   /* lost it (to the other receiver, or
                                     to the sender's retraction): the
                                     stamp is 1 lap old now: empty */
           fi
       };
       if
       :: r == OK -> taken++; stamp = ONE_LAP;  /* copy out; rel free */
          after_free()
       :: else -> skip
       fi
    :: else -> r = AGAIN        /* tail == head, or an offer in progress */
    fi
}

/* ack_try(): the offer was taken once its stamp moved past 1. */
inline try_ack(r)
{
    if
    :: stamp != 1 -> r = OK
    :: else -> r = AGAIN
    fi
}

inline try(kind, r)
{
    if
    :: kind < 2 -> try_recv(kind, r)
    :: else -> try_ack(r)
    fi
}

inline peek(kind, b) { b = (stamp == head + 1) }

/* lfc_recv_until(ch, out, deadline) */
proctype Receiver(byte me)
{
    byte r;
    WAIT_VARS;
    WAKE_VARS;
    try(me, r);
    if
    :: r == AGAIN -> ec_wait(RX, me, true, me, r)
    :: else -> skip
    fi;
    assert(r == OK || r == TIMEDOUT);
    assert(r != OK || claimer == me)
}

/* unbuf_retract(): claim our own position on head, as a receiver would. */
inline retract(won)
{
    atomic {
        if
        :: head == 0 -> head = 1; claimer = 9; won = true
        :: else -> won = false
        fi
    };
    if
    :: won -> stamp = ONE_LAP   /* rel free; then fence, signal tx_ec and
                                   wake_receivers_at(): nothing waits for
                                   a second value here */
    :: else -> skip
    fi
}

/* lfc_try_send() on an unbuffered channel (unbuf_try_send) */
proctype TrySender()
{
    byte r, pw;
    bool won;
    WAIT_VARS;
    WAKE_VARS;
    /* no close, no selectors: the mark and unbuf_handoff() say nothing */
    if
    :: ec_plain[RX] == 0 -> sent = AGAIN; goto out  /* no plain receiver */
    :: else -> skip
    fi;
#ifdef MUT_OFFER_FENCE
    pw = ec_plain[RX];          /* the recheck's load, hoisted */
#endif
    tail = 1;                   /* ring_try_send: CAS tail 0 -> 1 */
    stamp = 1;                  /* rel publish: the offer */
#ifndef MUT_OFFER_FENCE
    pw = ec_plain[RX];          /* fence; has_plain_waiters */
#endif
    if
    :: pw != 0 -> ec_wake(RX, 1)
    :: else ->
       retract(won);
       if :: won -> sent = AGAIN; goto out :: else -> skip fi
    fi;
    /* unbuf_await_taken(ch, pos, INT64_MAX) */
    try(2, r);
    if
    :: r == AGAIN -> ec_wait(ACK, 0, false, 2, r)
    :: else -> skip
    fi;
    assert(r == OK);
    sent = OK;
out:
    skip
}

init
{
    atomic {
        run Receiver(0);
        run Receiver(1);
        run TrySender()
    };
    (_nr_pr == 1);
    /* exactly once: taken iff try_send said OK */
    assert(taken <= 1);
    assert((sent == OK) == (taken == 1))
}
