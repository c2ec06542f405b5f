/* SPDX-License-Identifier: MIT */
/*
 * chan_wake.pml - the buffered channel's ring and its wake-up rules
 * (src/chan/lfc_ring.h: ring_try_send, ring_try_recv, after_send,
 * after_free, wake_receivers_at, wake_senders_at; src/chan/chan.c:
 * lfc__chan_owner_close) over the
 * event counts of park.pmh.
 *
 * The ring is lfc_ring.h's exactly: positions lap * ONE_LAP + index, the
 * closed bit MARK in tail, per-slot stamps (free p, full p + 1, freed
 * p + ONE_LAP). Values are published out of order (a sender preempted
 * between its tail CAS and its stamp store), which is what the re-signal
 * rule is for: whoever moves head (tail) onto a position that is already
 * ready signals the next waiter.
 *
 * Configurations (-D):
 *   (none)   capacity 2; 2 senders x 2 receivers, one value each
 *   CAP1     capacity 1: the second sender waits for room (tx_ec)
 *   CLOSE    capacity 2; sender 1 closes instead of sending
 * Properties: no invalid end state (every receiver and sender returns:
 * each one's condition comes true in every run), each value is received
 * exactly once, none is lost.
 * Mutations that must fail:
 *   MUT_NO_HEAD_RESIGNAL  after_free() does not wake a receiver for a
 *                         ready slot at the new head
 *   MUT_NO_TAIL_RESIGNAL  after_send() does not wake a sender for a free
 *                         slot at the next tail (CAP1)
 */
#define NEC  2
#define NID  2
#define NSEL 1   /* no selectors here */

#include "park.pmh"

#define RX 0     /* rx_ec: receivers wait for a value */
#define TX 1     /* tx_ec: senders wait for room */

#ifdef CAP1
#define RING_CAP 1
#define MARK     2      /* next_pow2(ring_cap + 1) */
#else
#define RING_CAP 2
#define MARK     4
#endif
#define ONE_LAP  (2 * MARK)
#define IDX(p)   ((p) & (MARK - 1))

byte tail = 0;                /* position | MARK once closed */
byte head = 0;
byte stamp[RING_CAP];         /* chan_init: stamp(i) = i */
byte data[RING_CAP];          /* the payload: a value id + 1 */
byte got[3];                  /* times value v was received */
byte recv_ok = 0;             /* receives that returned LFC_OK */
byte sent_ok = 0;             /* sends that returned LFC_OK */

/* next_pos() */
#define NEXT(p) (IDX(p) + 1 < RING_CAP -> (p) + 1 : ((p) & ~(ONE_LAP - 1)) + ONE_LAP)

/* wake_receivers_at(): head just moved to h (caller fenced). */
inline wake_receivers_at(h)
{
    if
    :: stamp[IDX(h)] == h + 1 -> ec_wake(RX, 1)     /* ready at new head */
    :: else ->
       if
       :: (tail & MARK) && (tail & ~MARK) == h -> ec_wake(RX, ALL)
       :: else -> skip
       fi
    fi
}

/* after_send(p): fence; signal rx; wake a sender if the next slot is free */
inline after_send(p)
{
    ec_wake(RX, 1);
#ifndef MUT_NO_TAIL_RESIGNAL
    if
    :: (ec_plain[TX] + ec_sels[TX]) != 0 ->     /* has_waiters(tx_ec) */
       nx = NEXT(p);
       if
       :: stamp[IDX(nx)] == nx -> ec_wake(TX, 1)
       :: else -> skip
       fi
    :: else -> skip
    fi
#endif
}

/* after_free(p) on a buffered channel */
inline after_free(p)
{
    ec_wake(TX, 1);
#ifndef MUT_NO_HEAD_RESIGNAL
    if
    :: (ec_plain[RX] + ec_sels[RX]) != 0 -> nx = NEXT(p); wake_receivers_at(nx)
    :: else -> skip
    fi
#endif
}

/* ring_try_send() then after_send() (send_try); value v; r out */
inline try_send(r)
{
    do
    :: /* The rlx guess of tail and the acq stamp load, as one step: a
        * guess that goes stale between them only ever leads to a retry
        * (README.md, "Reductions"). */
       atomic { pos = tail; sv = stamp[IDX(pos)] };
       if
       :: pos & MARK -> r = CLOSED; break
       :: else -> skip
       fi;
       if
       :: sv == pos ->
          atomic {                                /* CAS tail (rlx) */
              if
              :: tail == pos -> tail = NEXT(pos); won = true
              :: else -> won = false
              fi
          };
          if
          :: won ->
             data[IDX(pos)] = v;                  /* memcpy */
             stamp[IDX(pos)] = pos + 1;           /* rel publish */
             r = OK; break
          :: else -> skip
          fi
       :: sv < pos ->                             /* last lap's value */
          if
          :: head + ONE_LAP == pos -> r = AGAIN; break   /* full */
          :: else -> skip                         /* wait_for_peer */
          fi
       :: sv > pos -> skip                        /* stale guess */
       fi
    od;
    if
    :: r == OK -> after_send(pos)
    :: else -> skip
    fi
}

/* ring_try_recv() then after_free() (recv_try); r out, value in out */
inline try_recv(r)
{
    do
    :: atomic { pos = head; sv = stamp[IDX(pos)] };  /* as in try_send */
       if
       :: sv == pos + 1 ->
          atomic {                                /* CAS head (rlx) */
              if
              :: head == pos -> head = NEXT(pos); won = true
              :: else -> won = false
              fi
          };
          if
          :: won ->
             out = data[IDX(pos)];                /* memcpy */
             stamp[IDX(pos)] = pos + ONE_LAP;     /* rel free */
             r = OK; break
          :: else -> skip
          fi
       :: sv < pos + 1 ->                         /* nothing published */
          tv = tail;                              /* acq */
          if
          :: (tv & ~MARK) == pos ->
             if :: tv & MARK -> r = CLOSED :: else -> r = AGAIN fi;
             break
          :: else -> skip                         /* wait_for_peer */
          fi
       :: sv > pos + 1 -> skip                    /* stale guess */
       fi
    od;
    if
    :: r == OK -> after_free(pos)
    :: else -> skip
    fi
}

/* kind 0: a receive, kind 1: a send */
inline try(kind, r)
{
    if
    :: kind == 0 -> try_recv(r)
    :: else -> try_send(r)
    fi
}

inline peek(kind, b) { b = true }  /* no hoisting mutants here */

#define CH_VARS byte pos, sv, tv, out, v, nx; bool won

/* lfc_recv(): recv_try, then lfc__ec_wait(rx_ec) */
proctype Receiver(byte me)
{
    byte r;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    try(0, r);
    if
    :: r == AGAIN -> ec_wait(RX, me, false, 0, r)
    :: else -> skip
    fi;
    assert(r == OK || r == CLOSED);
    if
    :: r == OK -> got[out]++; assert(got[out] == 1); recv_ok++
    :: else -> skip
    fi
}

/* lfc_send() of value val (1 or 2): send_try, then lfc__ec_wait(tx_ec) */
proctype Sender(byte me; byte val)
{
    byte r;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    v = val;
    try(1, r);
    if
    :: r == AGAIN -> ec_wait(TX, me, false, 1, r)
    :: else -> skip
    fi;
    assert(r == OK || r == CLOSED);
    if :: r == OK -> sent_ok++ :: else -> skip fi
}

/* lfc_close() */
proctype Closer()
{
    byte was;
    WAKE_VARS;
    atomic { was = tail; tail = tail | MARK };    /* seqcst RMW */
    if
    :: !(was & MARK) ->                           /* fence, broadcasts */
       ec_wake(RX, ALL);
       ec_wake(TX, ALL)
    :: else -> skip
    fi
}

init
{
    byte i;
    i = 0;
    do
    :: i < RING_CAP -> stamp[i] = i; i++
    :: else -> break
    od;
    atomic {
        run Receiver(0);
        run Receiver(1);
        run Sender(0, 1);
#ifdef CLOSE
        run Closer()
#else
        run Sender(1, 2)
#endif
    };
    (_nr_pr == 1);
    /* every value sent is received exactly once (asserted as it goes) */
    assert(recv_ok == sent_ok)
}
