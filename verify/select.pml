/* SPDX-License-Identifier: MIT */
/*
 * select.pml - the selector protocol (src/chan/select.c: select_impl,
 * select_blocking, park_once, register_all, unregister_all, any_ready,
 * resignal; src/core/park.c: lfc__ec_node_add/remove, ec_notify_nodes; src/chan/selector.c: sel_notify,
 * lfc__sel_park) over two buffered channels.
 *
 * A channel is abstract here, as in ec.pml: items[c] values ready, a try
 * takes one, and a taker signals again if another one is ready (the
 * re-signal rule that chan_wake.pml checks on the real ring). Each
 * channel's rx_ec is event count c.
 *
 * Configurations (-D):
 *   (none)   selectors 0 and 1, unbiased, both receiving from channels 0
 *            and 1; one sender on each channel
 *   BIASED   selector 0 biased over channels 0 and 1; a plain receiver
 *            (lfc_recv) on channel 1; one value sent on each channel.
 *            The receiver may rightly wait forever (the selector took
 *            its value): only the Watchdog judges this configuration.
 *   TIMED    with (none): selector 0 has a deadline
 * Properties: no thread asleep in a terminal state while a value it
 * could take is there (Watchdog); in (none) and TIMED every select
 * returns (init waits for all); every select completes exactly one case
 * (asserted), each value is taken exactly once.
 * Mutations that must fail:
 *   MUT_SEL_FENCE        register_all() without its fence: any_ready()'s
 *                        loads happen before the links
 *   MUT_UNLINK_FENCE     unregister_all() without its fence: the pass's
 *                        loads happen before the unlinks. NOT a failing
 *                        mutant: see README.md (the next round's
 *                        recheck covers a pass that misses)
 *   MUT_NO_BIASED_RESIGNAL  a biased select that completes another case
 *                        than the notified one does not re-signal (BIASED)
 *   MUT_NOTIFY_COUNTS_ANY   ec_notify_nodes() counts a node as woken
 *                        even when its CAS failed (park.pmh)
 */
#define NEC  2
#define NID  1
#define NSEL 2

#include "park.pmh"

#define NSENT 2

/* A selector asleep WAITING while one of its cases is ready, or the
 * plain receiver (BIASED) asleep while a value is on channel 1. */
#define SEL_LOST(k) (sel_inq[k] && sel_state[k] == SEL_WAITING && \
                     (items[0] > 0 || items[1] > 0))
#define LOST_WAKEUP (SEL_LOST(0) || SEL_LOST(1) || \
                     (inq[IQ(1, 0)] && items[1] > 0))

byte items[2];        /* values ready on channel c */
byte taken = 0;       /* values taken */
byte completed[NSEL]; /* cases completed by selector k */

WATCHDOG

/* lfc_try_recv() on channel c, then the re-signal rule */
inline try_recv(c, r)
{
    atomic {
        if
        :: items[c] > 0 -> items[c]--; taken++; r = OK
        :: else -> r = AGAIN
        fi
    };
    if
    :: r == OK && items[c] > 0 -> ec_wake(c, 1)
    :: else -> skip
    fi
}

/* plain waiters (kind = channel) */
inline try(kind, r) { try_recv(kind, r) }
inline peek(kind, b) { b = (items[kind] > 0) }

/* try_case(): selector k's case i is a receive from channel i */
inline try_case(k, i, r)
{
    try_recv(i, r);
    if :: r == OK -> completed[k]++ :: else -> skip fi
}

/* pass(): try every case, in a random order (array order if biased); the
 * first that does not say AGAIN completes. seen0/seen1: whether the loads
 * of each case may see it (false only in MUT_UNLINK_FENCE's stale pass). */
inline pass(k, biased, seen0, seen1, r, c)
{
    if
    :: biased -> c = 0
    :: !biased -> c = 0
    :: !biased -> c = 1
    fi;
    if
    :: (c == 0 && seen0) || (c == 1 && seen1) -> try_case(k, c, r)
    :: else -> r = AGAIN
    fi;
    if
    :: r == AGAIN ->
       c = 1 - c;
       if
       :: (c == 0 && seen0) || (c == 1 && seen1) -> try_case(k, c, r)
       :: else -> r = AGAIN
       fi
    :: else -> skip
    fi
}

/* register_all(): WAITING (plain store, no node linked), link a node per
 * case (seqcst RMW under the lock), fence */
inline register_all(k)
{
    sel_state[k] = SEL_WAITING;
    if
    :: sel_add(0, k, 0, false); sel_add(1, k, 1, false)
    :: sel_add(1, k, 1, false); sel_add(0, k, 0, false)
    fi
}

/* any_ready(): the waitable ready (chan.c chan_ready) of each case */
inline any_ready(rdy)
{
    rdy = (items[0] > 0);
    if :: !rdy -> rdy = (items[1] > 0) :: else -> skip fi
}

/* park_once() */
inline park_once(k, timed, s)
{
#ifdef MUT_SEL_FENCE
    any_ready(rdy);               /* the recheck's loads, hoisted */
    register_all(k);
#else
    register_all(k);
    any_ready(rdy);
#endif
    s = SEL_WAITING;
    if
    :: rdy ->
       atomic {                   /* CAS WAITING -> ABORTED (acqrel) */
           if
           :: sel_state[k] == SEL_WAITING ->
              sel_state[k] = SEL_ABORTED; s = SEL_ABORTED
           :: else -> s = sel_state[k]
           fi
       }
    :: else -> skip
    fi;
    if                            /* not aborted, or a hand-off: park */
    :: s == SEL_WAITING || s == SEL_HANDOFF -> sel_park(k, timed, s)
    :: else -> skip
    fi;
#ifdef MUT_UNLINK_FENCE
    stale0 = (items[0] > 0);      /* the next pass's loads, hoisted */
    stale1 = (items[1] > 0);
#endif
    sel_remove(0, k);             /* unregister_all(), then a fence */
    sel_remove(1, k)
}

/* lfc_select() / lfc_select_biased() / lfc_select_until() over
 * {recv ch0, recv ch1}; lfc_select_biased: array order */
proctype Selector(byte k; bool biased; bool timed)
{
    byte r, c, s, nc;
    bool rdy, stale0 = true, stale1 = true;
    WAKE_VARS;
    pass(k, biased, true, true, r, c);   /* select_impl's pass, spin() */
    if :: r == OK -> goto out :: else -> skip fi;
    do
    :: park_once(k, timed, s);
       r = AGAIN;
       if
       :: IS_DONE(s) -> assert(false)     /* no hand-offs here */
       :: IS_NOTIFY(s) ->
          nc = CASE_OF(s);
          if
          :: !biased -> try_case(k, nc, r)
          :: else -> skip
          fi;
          if
          :: r == AGAIN ->
             pass(k, biased, stale0, stale1, r, c);
#ifndef MUT_NO_BIASED_RESIGNAL
             if
             :: r == OK && biased && c != nc -> ec_wake(nc, 1) /* resignal */
             :: else -> skip
             fi
#endif
          :: else -> skip
          fi
       :: s == SEL_ABORTED -> pass(k, biased, stale0, stale1, r, c)
       fi;
       if :: r == OK -> break :: else -> skip fi;
       if :: timed -> r = TIMEDOUT; break   /* the deadline passed */
          :: else -> skip fi;
       stale0 = true; stale1 = true
    od;
out:
    assert(r == TIMEDOUT || completed[k] == 1);
    assert(r != TIMEDOUT || completed[k] == 0)
}

/* lfc_recv() on channel c: a plain waiter, futex id 0 */
proctype Receiver(byte c)
{
    byte r;
    WAIT_VARS;
    WAKE_VARS;
    try(c, r);
    if
    :: r == AGAIN -> ec_wait(c, 0, false, c, r)
    :: else -> skip
    fi;
    assert(r == OK)
}

/* n calls of lfc_send() on channel c: publish, fence, signal */
proctype Sender(byte c; byte n)
{
    WAKE_VARS;
    do
    :: n > 0 -> items[c]++; ec_wake(c, 1); n--
    :: else -> break
    od
}

init
{
    atomic {
#if defined(BIASED)
        run Selector(0, true, false);
        run Receiver(1);
#elif defined(TIMED)
        run Selector(0, false, true);
        run Selector(1, false, false);
#else
        run Selector(0, false, false);
        run Selector(1, false, false);
#endif
        run Sender(0, 1);
        run Sender(1, 1);
        run Watchdog()
    };
#ifndef BIASED
    (_nr_pr == 1);
    assert(taken + items[0] + items[1] == NSENT);
#ifndef TIMED
    assert(taken == NSENT)
#endif
#endif
}
