/* SPDX-License-Identifier: MIT */
/*
 * chan_wake.pml - the buffered channel's ring and its wake-up rules
 * (src/chan/lfc_ring.h: ring_try_send, ring_try_recv, after_send,
 * after_free, after_send_to, after_free_to, wake_receivers_at,
 * wake_senders_at; src/chan/batch.c: ring_try_send_many,
 * ring_publish_many, ring_try_recv_many, ring_free_many and their
 * callers; src/chan/chan.c: lfc__chan_owner_close) over the
 * event counts of park.pmh.
 *
 * The ring is lfc_ring.h's exactly: positions lap * ONE_LAP + index, the
 * closed bit MARK in tail, per-slot stamps (free p, full p + 1, freed
 * p + ONE_LAP). Values are published out of order (a sender preempted
 * between its tail CAS and its stamp store), which is what the re-signal
 * rule is for: whoever moves head (tail) onto a position that is already
 * ready signals the next waiter.
 *
 * Batches (batch.c, "Batches"): a claim scans k <= min(left, RING_CAP)
 * free (full) stamps from tail (head) = p on, moves tail (head) p -> q_k
 * with one CAS, copies, stores the k stamps from the last to the first,
 * then fences once and signals the other side once, re-signalling its
 * own side if the slot at q_k (the claim's end) is ready (after_send_to,
 * after_free_to). A batch send makes claims until all its values are in,
 * waiting (tx_ec) when the ring is full; a batch receive waits (rx_ec)
 * for its first claim only, later claims take only what is ready
 * (peer_wait false).
 *
 * Configurations (-D):
 *   (none)   capacity 2; 2 senders x 2 receivers, one value each
 *   CAP1     capacity 1: the second sender waits for room (tx_ec)
 *   CLOSE    capacity 2; sender 1 closes instead of sending
 * Batch configurations, all of capacity 2 (init drains what is left in
 * the ring at the end):
 *   BATCH        a batch send of 2 values (one claim of 2, one signal)
 *                and 2 receivers: the woken receiver's re-signal
 *                (after_free) is the chain the one signal relies on
 *   BATCH_CLAIMS a batch send of 4 values and one thread receiving 2:
 *                claims of 2, of 1 (the scan stops at a full slot) or
 *                of 2 on the next lap, waits for room between claims
 *   BATCH_SS     a batch send of 3 values, a single send and one thread
 *                receiving 2: both senders may wait on tx_ec, and a
 *                batch claim's end re-signal wakes the other sender
 *                (--long in run.sh: 11.8 M states)
 *   BATCH_RECV   two batch receives of up to 2 values each and one
 *                thread sending 4 (it waits for room): claims of 2 with
 *                one tx signal, later claims that return AGAIN
 *   BATCH_CLOSE  a batch send of 3 values, a receiver and lfc_close: the
 *                send may return LFC_CLOSED after its first claim
 * Properties: no invalid end state (every receiver and sender returns:
 * each one's condition comes true in every run), each value is received
 * exactly once, none is lost (batch configurations: every value sent is
 * received exactly once or is still in the ring, published, at the end;
 * a send's values are 1..sent_ok).
 * Mutations that must fail:
 *   MUT_NO_HEAD_RESIGNAL  after_free() does not wake a receiver for a
 *                         ready slot at the new head (also BATCH)
 *   MUT_NO_TAIL_RESIGNAL  after_send() does not wake a sender for a free
 *                         slot at the next tail (CAP1)
 *   MUT_BATCH_NO_RESIGNAL  (BATCH_SS) after_send_to() and after_free_to()
 *                         do not re-signal their own side at the claim's
 *                         end position
 *   MUT_BATCH_SIGNAL_PER_CALL  (BATCH_CLAIMS) a batch send signals
 *                         receivers after its call's last claim only
 *   MUT_BATCH_SCAN_NO_STOP  (BATCH_CLAIMS, BATCH_RECV) the scan does not
 *                         stop at a slot that is not free (full): it
 *                         claims claim_max() positions
 * A mutation that passes (README.md, "Findings"):
 *   MUT_BATCH_SIGNAL_BEFORE_PUBLISH  the claim's one fence and signal
 *                         come before its last stamp store (that of q_0)
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
#if defined(BATCH) || defined(BATCH_CLAIMS) || defined(BATCH_RECV) || \
    defined(BATCH_SS) || defined(BATCH_CLOSE)
#define BATCHES
#if defined(BATCH)
#define NVAL 2                /* values 1..2 */
#elif defined(BATCH_CLOSE)
#define NVAL 3                /* values 1..3 */
#else
#define NVAL 4                /* values 1..4 */
#endif
/* The try kinds and proctypes a configuration uses (the others are left
 * out: every proctype and every kind of try() is code in pan.c, and
 * pan.c's size is most of a check's time, spent in cc) */
#if defined(BATCH)
#define K_RECV
#define P_RECEIVER
#elif defined(BATCH_CLOSE)
#define K_RECV
#define P_RECEIVER
#define P_CLOSER
#elif defined(BATCH_CLAIMS)
#define K_RECV
#define P_RECEIVERS
#elif defined(BATCH_SS)
#define K_RECV
#define K_SEND
#define P_RECEIVERS
#define P_SENDER
#else /* BATCH_RECV */
#define K_SEND
#define K_RECV_MANY
#define P_SENDERS
#endif
#ifndef BATCH_RECV
#define K_SEND_MANY
#endif
byte got[NVAL + 1];           /* times value v was received */
#else
byte got[3];                  /* times value v was received */
#endif
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

#ifdef BATCHES
/* pos_add(): the position k (<= RING_CAP) steps after p */
#define POS_ADD(p, k) (IDX(p) + (k) < RING_CAP -> (p) + (k) : \
                       ((p) & ~(ONE_LAP - 1)) + ONE_LAP + (IDX(p) + (k) - RING_CAP))

/* after_send_to(t): fence; signal rx; wake a sender if the slot at t, the
 * claim's new tail, is free */
inline after_send_to(t)
{
    ec_wake(RX, 1);
#ifndef MUT_BATCH_NO_RESIGNAL
    if
    :: (ec_plain[TX] + ec_sels[TX]) != 0 ->     /* has_waiters(tx_ec) */
       if
       :: stamp[IDX(t)] == t -> ec_wake(TX, 1)  /* wake_senders_at(t) */
       :: else -> skip
       fi
    :: else -> skip
    fi
#endif
}

/* after_free_to(h): fence; signal tx; wake a receiver if the claim's new
 * head h is ready or closed and drained */
inline after_free_to(h)
{
    ec_wake(TX, 1);
#ifndef MUT_BATCH_NO_RESIGNAL
    if
    :: (ec_plain[RX] + ec_sels[RX]) != 0 -> wake_receivers_at(h)
    :: else -> skip
    fi
#endif
}

#ifdef K_SEND_MANY
/*
 * send_many_try(): ring_try_send_many() of up to m = claim_max() values
 * (bv + done, bv + done + 1, ...), then after_send_to(end); done += k.
 */
inline try_send_many(r)
{
    m = (bn - done < RING_CAP -> bn - done : RING_CAP);   /* claim_max */
    do
    :: /* The rlx guess of tail, the acq stamp load and the scan's acq
        * loads, as one step (README.md, "Reductions"). */
       atomic {
           pos = tail; sv = stamp[IDX(pos)];
           k = 1; q = NEXT(pos);
           do
#ifdef MUT_BATCH_SCAN_NO_STOP
           :: sv == pos && k < m -> k++; q = NEXT(q)
#else
           :: sv == pos && k < m && stamp[IDX(q)] == q -> k++; q = NEXT(q)
#endif
           :: else -> break
           od
       };
       if
       :: pos & MARK -> r = CLOSED; break
       :: else -> skip
       fi;
       if
       :: sv == pos ->
          atomic {                                /* CAS tail p -> q_k */
              if
              :: tail == pos -> tail = q; won = true
              :: else -> won = false
              fi
          };
          if
          :: won ->
             /* the k memcpys, one step: no one reads a slot before its
              * stamp says full */
             atomic {
                 i = 0;
                 do
                 :: i < k -> data[IDX(POS_ADD(pos, i))] = bv + done + i; i++
                 :: else -> break
                 od
             };
#ifdef MUT_BATCH_SIGNAL_BEFORE_PUBLISH
             /* q_{k-1} .. q_1 published, then the signal, then q_0 */
             i = k;
             do
             :: i > 1 -> i--; stamp[IDX(POS_ADD(pos, i))] = POS_ADD(pos, i) + 1
             :: else -> break
             od;
             after_send_to(q);
             stamp[IDX(pos)] = pos + 1;
#else
             /* ring_publish_many(): rel stores, the last first */
             i = k;
             do
             :: i > 0 -> i--; stamp[IDX(POS_ADD(pos, i))] = POS_ADD(pos, i) + 1
             :: else -> break
             od;
#endif
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
    :: r == OK ->
       done = done + k;
#if !defined(MUT_BATCH_SIGNAL_BEFORE_PUBLISH) && !defined(MUT_BATCH_SIGNAL_PER_CALL)
       after_send_to(q)
#elif defined(MUT_BATCH_SIGNAL_PER_CALL)
       if
       :: done == bn -> after_send_to(q)          /* the call's last claim */
       :: else -> skip
       fi
#else
       skip
#endif
    :: else -> skip
    fi
}

#endif

#ifdef K_RECV_MANY
/*
 * recv_many_try(): ring_try_recv_many() of up to m = claim_max() values
 * (pw: peer_wait), then after_free_to(end); done += k. Each value taken
 * is counted in got[] at the copy.
 */
inline try_recv_many(r)
{
    m = (bn - done < RING_CAP -> bn - done : RING_CAP);   /* claim_max */
    do
    :: atomic {                           /* as in try_send_many */
           pos = head; sv = stamp[IDX(pos)];
           k = 1; q = NEXT(pos);
           do
#ifdef MUT_BATCH_SCAN_NO_STOP
           :: sv == pos + 1 && k < m -> k++; q = NEXT(q)
#else
           :: sv == pos + 1 && k < m && stamp[IDX(q)] == q + 1 ->
              k++; q = NEXT(q)
#endif
           :: else -> break
           od
       };
       if
       :: sv == pos + 1 ->
          atomic {                                /* CAS head p -> q_k */
              if
              :: head == pos -> head = q; won = true
              :: else -> won = false
              fi
          };
          if
          :: won ->
             atomic {                             /* the k memcpys */
                 i = 0;
                 do
                 :: i < k ->
                    out = data[IDX(POS_ADD(pos, i))];
                    got[out]++; assert(got[out] == 1); recv_ok++;
                    i++
                 :: else -> break
                 od;
                 out = 0
             };
#ifdef MUT_BATCH_SIGNAL_BEFORE_PUBLISH
             i = k;
             do
             :: i > 1 -> i--; stamp[IDX(POS_ADD(pos, i))] = POS_ADD(pos, i) + ONE_LAP
             :: else -> break
             od;
             after_free_to(q);
             stamp[IDX(pos)] = pos + ONE_LAP;
#else
             /* ring_free_many(): rel stores, the last first */
             i = k;
             do
             :: i > 0 -> i--; stamp[IDX(POS_ADD(pos, i))] = POS_ADD(pos, i) + ONE_LAP
             :: else -> break
             od;
#endif
             r = OK; break
          :: else -> skip
          fi
       :: sv < pos + 1 ->                         /* nothing published */
          tv = tail;                              /* acq */
          if
          :: (tv & ~MARK) == pos ->
             if :: tv & MARK -> r = CLOSED :: else -> r = AGAIN fi;
             break
          :: else ->
             if
             :: !pw -> r = AGAIN; break           /* a later claim */
             :: else -> skip                      /* wait_for_peer */
             fi
          fi
       :: sv > pos + 1 -> skip                    /* stale guess */
       fi
    od;
    if
    :: r == OK ->
       done = done + k;
#ifndef MUT_BATCH_SIGNAL_BEFORE_PUBLISH
       after_free_to(q)
#else
       skip
#endif
    :: else -> skip
    fi
}
#endif
#endif /* BATCHES */

/* kind 0: a receive, kind 1: a send */
#ifdef BATCHES
/* kind 2: a batch send's claim, kind 3: a batch receive's claim */
inline try(kind, r)
{
    if
#ifdef K_RECV
    :: kind == 0 -> try_recv(r)
#endif
#ifdef K_SEND
    :: kind == 1 -> try_send(r)
#endif
#ifdef K_SEND_MANY
    :: kind == 2 -> try_send_many(r)
#endif
#ifdef K_RECV_MANY
    :: kind == 3 -> try_recv_many(r)
#endif
    fi
}
#else
inline try(kind, r)
{
    if
    :: kind == 0 -> try_recv(r)
    :: else -> try_send(r)
    fi
}
#endif

inline peek(kind, b) { b = true }  /* no hoisting mutants here */

#ifdef BATCHES
/* bv, bn: a batch's first value and count; done: values so far (the
 * op's done); m, k, q, i: claim_max, the claim's length, its end, a
 * counter; pw: peer_wait */
#define CH_VARS byte pos, sv, tv, out, v, nx, bv, bn, done, m, k, q, i; \
                bool won, pw
#else
#define CH_VARS byte pos, sv, tv, out, v, nx; bool won
#endif

/* lfc_recv(): recv_try, then lfc__ec_wait(rx_ec) */
#if !defined(BATCHES) || defined(P_RECEIVER)
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

#endif

#if !defined(BATCHES) || defined(P_SENDER)
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

#endif
#ifdef BATCHES
#ifdef K_SEND_MANY
/* lfc__ring_send_many_until() of values val, val + 1, ... (n of them):
 * send_many_try, then lfc__ec_wait(tx_ec) for each claim */
proctype BatchSender(byte me; byte val; byte n)
{
    byte r;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    bv = val; bn = n; done = 0;
    do
    :: done < bn ->
       try(2, r);
       if
       :: r == AGAIN -> ec_wait(TX, me, false, 2, r)
       :: else -> skip
       fi;
       assert(r == OK || r == CLOSED);
       if :: r != OK -> break :: else -> skip fi
    :: else -> break
    od;
    sent_ok = sent_ok + done
}

#endif

#ifdef K_RECV_MANY
/* c calls of lfc__ring_recv_many_until() of up to n values each:
 * recv_many_try (peer_wait), lfc__ec_wait(rx_ec) for the first claim
 * only, then recv_many_rest (no peer_wait, no wait) */
proctype BatchReceiver(byte me; byte n; byte c)
{
    byte r, j;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    j = 0;
    do
    :: j < c ->
       bn = n; done = 0; pw = true;
       try(3, r);
       if
       :: r == AGAIN -> ec_wait(RX, me, false, 3, r)
       :: else -> skip
       fi;
       assert(r == OK);
       pw = false;
       do
       :: done < bn ->
          try(3, r);
          if :: r != OK -> break :: else -> skip fi
       :: else -> break
       od;
       j++
    :: else -> break
    od
}

#endif

#ifdef P_RECEIVERS
/* n lfc_recv()s in a row */
proctype Receivers(byte me; byte n)
{
    byte r, j;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    j = 0;
    do
    :: j < n ->
       try(0, r);
       if
       :: r == AGAIN -> ec_wait(RX, me, false, 0, r)
       :: else -> skip
       fi;
       assert(r == OK);
       got[out]++; assert(got[out] == 1); recv_ok++; j++
    :: else -> break
    od
}

#endif

#ifdef P_SENDERS
/* n lfc_send()s in a row, of values val, val + 1, ... */
proctype Senders(byte me; byte val; byte n)
{
    byte r, j;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    j = 0;
    do
    :: j < n ->
       v = val + j;
       try(1, r);
       if
       :: r == AGAIN -> ec_wait(TX, me, false, 1, r)
       :: else -> skip
       fi;
       assert(r == OK);
       sent_ok++; j++
    :: else -> break
    od
}
#endif
#endif /* BATCHES */

#if !defined(BATCHES) || defined(P_CLOSER)
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
#endif

init
{
    byte i;
    i = 0;
    do
    :: i < RING_CAP -> stamp[i] = i; i++
    :: else -> break
    od;
#if defined(BATCH)
    atomic {
        run Receiver(0);
        run Receiver(1);
        run BatchSender(0, 1, 2)      /* values 1, 2: one claim of 2 */
    };
#elif defined(BATCH_CLAIMS)
    atomic {
        run Receivers(0, 2);
        run BatchSender(0, 1, 4)      /* values 1..4: 2 claims or more */
    };
#elif defined(BATCH_CLOSE)
    atomic {
        run Receiver(0);
        run BatchSender(0, 1, 3);     /* values 1..3 */
        run Closer()
    };
#elif defined(BATCH_SS)
    atomic {
        run Receivers(0, 2);
        run BatchSender(0, 1, 3);     /* values 1..3 */
        run Sender(1, 4)
    };
#elif defined(BATCH_RECV)
    atomic {
        run BatchReceiver(0, 2, 2);   /* 2 calls of up to 2 values */
        run Senders(0, 1, 4)          /* values 1..4 */
    };
#else
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
#endif
    (_nr_pr == 1);
#ifdef BATCHES
    /* what no one received is in the ring, published, exactly once:
     * drain it (the end state only) */
    d_step {
        i = head;
        do
        :: i != (tail & ~MARK) ->
           assert(stamp[IDX(i)] == i + 1);
           got[data[IDX(i)]]++; assert(got[data[IDX(i)]] == 1);
           recv_ok++;
           i = NEXT(i)
        :: else -> break
        od
    };
    /* the values sent are 1..sent_ok (one sender, or values in order) */
    i = 1;
    do
    :: i <= NVAL -> assert(got[i] == (i <= sent_ok -> 1 : 0)); i++
    :: else -> break
    od;
#endif
    /* every value sent is received exactly once (asserted as it goes) */
    assert(recv_ok == sent_ok)
}
