/* SPDX-License-Identifier: MIT */
/*
 * ec.pml - the event count alone (src/core/park.c): plain waiters, wakers that
 * signal (wake-one) or broadcast, PENDING coalescing, timeouts with the
 * withdraw-and-last-try, and the re-signal rule.
 *
 * The waited-for condition is abstract: `items` values published and not
 * yet taken, and a `closed` flag. A try takes one value, or returns
 * CLOSED if there is none and the flag is set. What a channel's ring adds
 * (values published out of order) is chan_wake.pml's; here a consumer
 * obeys the re-signal rule in its abstract form: after taking a value it
 * signals again if another one is ready (chan.c's wake_receivers_at()).
 *
 * Configurations (-D):
 *   (none)   2 producers x 2 waiters, no deadlines
 *   TIMED    waiter 0 has a deadline (it may time out at any point)
 *   CLOSE    producer 1 closes instead of sending: a broadcast
 *   THREE    a third waiter and a third producer
 * Property: every waiter returns (an invalid end state is a waiter
 * asleep forever; since every waiter's condition comes true in every run,
 * that is a lost wake-up), and no value is taken twice or lost.
 * Model mutations (must fail): those of park.pmh, and
 *   MUT_NO_RESIGNAL    a consumer does not signal for the next value
 *   MUT_WAKER_FENCE    no fence between a publication and the signal's
 *                      load of waiters: the load happens first
 */
#define NEC  1
#ifdef THREE
#define NID  3
#else
#define NID  2
#endif
#define NSEL 1   /* no selectors here */
#ifdef THREE
#define NVALUES 3
#else
#define NVALUES 2
#endif
#ifdef CLOSE
#define NPRODUCED (NVALUES - 1)
#else
#define NPRODUCED NVALUES
#endif

#include "park.pmh"

byte items = 0;      /* published, not yet taken */
byte taken = 0;      /* taken by a try */
bool closed = false; /* set by the closer */
byte done = 0;       /* waiters that returned */

/* The load a try decides on (for the mutants' hoisted loads). */
inline peek(kind, b) { b = (items > 0 || closed) }

inline try(kind, r)
{
    atomic {
        if
        :: items > 0 -> items--; taken++; r = OK
        :: else -> if :: closed -> r = CLOSED :: else -> r = AGAIN fi
        fi
    };
#ifndef MUT_NO_RESIGNAL
    /* The re-signal rule: after a take (an RMW, then a fence), whoever
     * leaves the next value ready signals for it. */
    if
    :: r == OK && items > 0 -> ec_wake(0, 1)
    :: else -> skip
    fi
#endif
}

/* lfc_recv_until() on the abstract channel: one try (the caller's and
 * the spin phase's), then lfc__ec_wait(). */
proctype Waiter(byte id; bool timed)
{
    byte r;
    WAIT_VARS;
    WAKE_VARS;
    try(0, r);
    if
    :: r == AGAIN -> ec_wait(0, id, timed, 0, r)
    :: else -> skip
    fi;
    assert(r == OK || r == CLOSED || (timed && r == TIMEDOUT));
    done++
}

/* A send: publish one value (release), seqcst fence, then
 * lfc__ec_signal_fenced(). */
proctype Producer()
{
    WAKE_VARS;
#ifdef MUT_WAKER_FENCE
    kw_plain = ec_plain[0];  /* the signal's load of waiters, hoisted */
    items++;
    if :: kw_plain != 0 -> ec_wake(0, 1) :: else -> skip fi
#else
    items++;
    ec_wake(0, 1)
#endif
}

/* lfc_close(): set the flag (seqcst RMW), fence, broadcast. */
proctype Closer()
{
    WAKE_VARS;
    closed = true;
    ec_wake(0, ALL)
}

init
{
    atomic {
#ifdef TIMED
        run Waiter(0, true);
#else
        run Waiter(0, false);
#endif
        run Waiter(1, false);
#ifdef THREE
        run Waiter(2, false);
        run Producer();
#endif
        run Producer();
#ifdef CLOSE
        run Closer()
#else
        run Producer()
#endif
    };
    /* All returned: no value taken twice, none left behind but those a
     * timed-out or closed-out waiter did not want. */
    (_nr_pr == 1);                /* every other process has ended */
    assert(done == NID);
    assert(taken + items == NPRODUCED);
#ifndef CLOSE
#ifndef TIMED
    assert(items == 0)
#endif
#endif
}
