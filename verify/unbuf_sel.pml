/* SPDX-License-Identifier: MIT */
/*
 * unbuf_sel.pml - select's hand-off on an unbuffered channel U: a
 * selector parked with a SEND case on U (a passive node on U's tx_ec) and
 * a RECV case on a second, buffered channel B (src/chan/select.c:
 * select_blocking, park_once, register_all, unregister_all, any_ready;
 * src/chan/chan.c: chan_ready, chan_link, lfc__chan_owner_close;
 * src/chan/unbuf.c: lfc__unbuf_handoff, lfc__unbuf_peer_waiting,
 * lfc__unbuf_try_send, ack_try, try_offer_ack_try, unbuf_retract,
 * lfc__unbuf_recv_left; src/chan/lfc_ring.h: ring_try_send,
 * ring_try_recv, unbuf_closed_refuse; src/core/park.c and
 * src/chan/selector.c as park.pmh).
 *
 * The protocol (select.c "Unbuffered channels"): a selector's send case on
 * U is passive: a wake-one never picks it. It completes when a receiver
 * finds the selector WAITING and claims it (CAS WAITING -> HANDOFF, copy,
 * release store of DONE(i), wake), when the selector's own pass finds a
 * receiver (lfc_try_send: a receiving selector by hand-off, or a counted
 * plain receiver by an offer in the ring, which only a receive that waits
 * may take), or with LFC_CLOSED after lfc_close, whose broadcast on tx_ec
 * notifies passive nodes too. A receiver that loses the claim race (the
 * selector was notified by B, or took itself back) goes on waiting.
 *
 * U: one slot, positions in steps of ONE_LAP: stamp == p free for
 * position p, p + 1 full (an offer), p + ONE_LAP freed, p + REFUSED
 * refused after close (unbuf_closed_refuse). Its only value is SV, the
 * selector's (a ring value can only be lfc_try_send's offer: no plain
 * sender here, and try_offer is left out: no receive that does not wait
 * can meet an offer, since an offer needs a counted plain receiver and
 * the only one waits; unbuf.pml has try_offer). umark is tail's mark.
 * B: abstract as in select.pml (items, one value BV, its rx_ec).
 * Event counts: URX, UTX, UACK (U's rx_ec, tx_ec, ack_ec), BRX.
 *
 * Configurations (-D):
 *   (none)  Selector 0 runs TWO selects, each {send SV on U, recv B};
 *           Receiver (lfc_recv on U); BSender (one lfc_send of BV on B).
 *           The first select races the receiver's claim (or the offer of
 *           its own pass) against B's notification; whichever case it
 *           completes, the second select must complete the other, so the
 *           receiver that lost the race is served by the second select:
 *           every thread must end (init waits for all).
 *   CLOSE   Selector 0: one select {send SV on U}; Receiver; Closer
 *           (lfc_close(U)). The select's send case completes with OK (the
 *           receiver has SV) or CLOSED (the receiver returns CLOSED, by
 *           the mark or by refusing the select's offer in the ring after
 *           close: unbuf_closed_refuse); everybody ends. With CLOSE_B
 *           (--long) the select also has its receive case on B, which
 *           stays empty (no BSender: it would notify the selector and
 *           hide a close that does not), so the case only adds its node
 *           and its failing tries: twice the states.
 *   SS      select-to-select: Selector 0 {send SV on U} and Selector 1
 *           {recv U}, one select each: both may see the other WAITING,
 *           both abort and go round again. The retries are not bounded by
 *           a counter: an aborted round returns a selector to a state
 *           already seen (nothing is counted), so the state graph is
 *           finite and has a cycle (both abort forever: the livelock
 *           select.c admits and breaks with timing, FUTILE_ROUNDS and
 *           sched_yield, which a model without time does not have); a
 *           safety search explores every finite run around it.
 *
 * Properties (every configuration):
 *   - every thread ends: init waits for all (_nr_pr == 1), so a sleeper
 *     left forever (a lost wake-up, a deadlock) is an invalid end state;
 *   - every select completes exactly one case (it returns at its first
 *     completion; a second completion would show as a value taken that no
 *     case reported, below);
 *   - every value is taken at most once (asserted at each take), and SV
 *     was taken exactly as many times as a send case reported LFC_OK
 *     (asserted at the completion and at the end); BV is taken once;
 *   - CLOSE: the send case completed OK iff the receiver returned OK;
 *   - the receiver's out buffer is written iff it returns OK (chan.h:
 *     on LFC_CLOSED "out is untouched").
 *
 * Mutations that must fail:
 *   MUT_CLAIM_NO_CAS  lfc__unbuf_handoff claims the selector with a load of
 *                     WAITING and then a store of HANDOFF, not a CAS: B's
 *                     notification (or the selector's own abort) and the
 *                     claim both win
 *   MUT_COPY_BEFORE_CLAIM  the receiver copies the selector's value out
 *                     before its claim CAS: when the claim then fails, or
 *                     wins after close (NOTIFY, not DONE), the receiver
 *                     goes on and may return LFC_CLOSED with out written
 *                     (chan.h: "out is untouched") (CLOSE)
 *   MUT_CLOSE_NO_TX   lfc_close does not broadcast tx_ec: the selector's
 *                     passive send node is never notified (CLOSE): it
 *                     sleeps WAITING on a closed channel
 *   MUT_SEL_FENCE     register_all() without its fence: any_ready()'s loads
 *                     happen before the links (store-buffering with the
 *                     receiver's announce and its has_nodes load)
 *   MUT_ANNOUNCE_FENCE (park.pmh) the receiver's side of that pair: its
 *                     recheck's load happens before its announce
 * Not failing here, so not in run.sh (README.md "Findings"):
 *   MUT_WAKE_PASSIVE  (park.pmh) a wake-one may pick a passive node: the
 *                     selector it notifies only passes again; the wake-up
 *                     it spends is a plain sender's on tx_ec, and no plain
 *                     sender waits on U's tx_ec in this model
 */
#define NEC  4
#define NID  1
#if defined(SS)
#define NSEL 2
#define NCASES 1
#elif defined(CLOSE) && !defined(CLOSE_B)
#define NSEL 1
#define NCASES 1
#else
#define NSEL 1
#define NCASES 2
#endif

#include "park.pmh"

#define URX  0
#define UTX  1
#define UACK 2
#define BRX  3

#define ONE_LAP   4
#define REFUSED   2   /* UNBUF_REFUSED */
#define WITHDRAWN 4   /* TRY_OFFER_WITHDRAWN: not a status */

#define SV 1          /* selector 0's value, the only one on U */
#define BV 2          /* B's value */

#define KR 0          /* wait kinds: the receiver on URX */
#define KA 1          /* selector 0's lfc_try_send on UACK */

byte stamp = 0;       /* U's slot stamp */
byte head = 0;
byte tail = 0;
bool umark = false;   /* tail's mark */
byte ts_pos;          /* position of selector 0's offer (lfc_try_send) */
byte items = 0;       /* values ready on B */
byte got[3];          /* times value v was taken */
byte sent_ok = 0;     /* send cases completed with LFC_OK */
byte recv_ok = 0;     /* receive cases on U completed with LFC_OK (SS) */
byte ndone[2];         /* cases completed, by case index */
byte sel_closed = 0;  /* send cases completed with LFC_CLOSED */
byte rcv_result = 255;
bool rcv_out = false; /* the plain receiver's out buffer was written */

/* locals of every thread that runs a channel operation */
#define CH_VARS byte rh, rs, hk, hs, wn, why; bool rcas, won, rm, found

/* take value v (a copy out): at most once */
inline take(v) { got[v]++; assert(got[v] == 1) }

/* ---- U's ring (chan.c) -------------------------------------------------- */

/* wake_receivers_at(h) (caller fenced): one wake-up site, n decided first */
inline wake_receivers_at(h)
{
    if
    :: stamp == h + 1 -> wn = 1                         /* acq stamp */
    :: else -> if :: umark && tail == h -> wn = ALL     /* acq tail */
               :: else -> wn = 0 fi
    fi;
    if :: wn != 0 -> ec_wake(URX, wn) :: else -> skip fi
}

/* unbuf_retract(pos): claim our own offer on head, as a receiver would */
inline retract(pos, won)
{
    atomic { if :: head == pos -> head = pos + ONE_LAP; won = true
                :: else -> won = false fi };            /* CAS head */
    if
    :: won ->
       stamp = pos + ONE_LAP;                           /* rel free; fence */
       ec_wake(UTX, 1);
       if
       :: ec_plain[URX] + ec_sels[URX] != 0 -> wake_receivers_at(pos + ONE_LAP)
       :: else -> skip
       fi
    :: else -> skip
    fi
}

/* ring_try_recv(ch, out, &pos, waits) then recv_try's after_free / the
 * refusal after close. The head guess and the stamp are read in one step
 * (a stale guess only leads to a retry, chan_wake.pml). No offer of
 * lfc_try_send's can be at head when waits is false (see the header). */
inline ring_recv(waits, r)
{
    do
    :: atomic { rh = head; rs = stamp };
       if
       :: rs == rh + 1 ->
          atomic { if :: head == rh -> head = rh + ONE_LAP; rcas = true
                      :: else -> rcas = false fi };     /* CAS head */
          if
          :: rcas ->
             if
             :: umark ->                  /* unbuf_closed_refuse(): acq tail */
                stamp = rh + REFUSED;     /* rel; then a fence */
                ec_wake(UACK, ALL);
                ec_wake(URX, ALL);
                r = CLOSED
             :: else ->
                atomic {                  /* copy out; rel free */
                    assert(waits);        /* see the header */
                    take(SV); rcv_out = true; stamp = rh + ONE_LAP
                };
                /* after_free(): fence; signal tx_ec; broadcast ack_ec; the
                 * next head */
                ec_wake(UTX, 1);
                ec_wake(UACK, ALL);
                if
                :: ec_plain[URX] + ec_sels[URX] != 0 ->
                   wake_receivers_at(rh + ONE_LAP)
                :: else -> skip
                fi;
                r = OK
             fi;
             break
          :: else -> skip                 /* from the current head */
          fi
       :: rs < rh + 1 ->                  /* empty or an offer being made */
          if :: umark -> r = CLOSED :: else -> r = AGAIN fi;  /* acq tail */
          break
       :: rs > rh + 1 -> skip             /* stale guess */
       fi
    od
}

/*
 * lfc__unbuf_handoff(ch, dir, val): e = URX for LFC_SEND (complete a selector's
 * receive case), UTX for LFC_RECV (take a selector's send value). Under
 * e's lock, the first linked node whose selector is WAITING is claimed.
 * mine: val is the plain receiver's out buffer (rcv_out tracks it).
 */
inline handoff(e, mine, r)
{
    r = AGAIN;
    if
    :: ec_sels[e] != 0 ->                               /* rlx */
       lock(ec_lock[e]);
       hk = 0;
       do
       :: hk < NSEL ->
          if
          :: node_linked[NODE(e, hk)] ->
#ifdef MUT_COPY_BEFORE_CLAIM
             if :: mine -> rcv_out = true :: else -> skip fi;  /* the copy */
#endif
#ifdef MUT_CLAIM_NO_CAS
             won = (sel_state[hk] == SEL_WAITING);      /* load, */
             if :: won -> sel_state[hk] = SEL_HANDOFF   /* then store */
                :: else -> skip fi;
#else
             atomic {                                   /* CAS -> HANDOFF */
                 if :: sel_state[hk] == SEL_WAITING ->
                       sel_state[hk] = SEL_HANDOFF; won = true
                    :: else -> won = false fi
             };
#endif
             if
             :: won ->
                if
                :: umark ->                             /* acq tail */
                   hs = SEL_NOTIFY(node_case[NODE(e, hk)])
                :: else -> hs = SEL_DONE(node_case[NODE(e, hk)]); r = OK
                fi;
                /* the copy (seen by nobody before DONE), then the rel store */
                atomic {
                    if
                    :: r == OK -> take(SV);
                       if :: mine -> rcv_out = true :: else -> skip fi
                    :: else -> skip
                    fi;
                    sel_state[hk] = hs
                };
                sel_wake(hk);
                break
             :: else -> skip
             fi
          :: else -> skip
          fi;
          hk++
       :: else -> break
       od;
       unlock(ec_lock[e])
    :: else -> skip
    fi
}

/* recv_try(): the receive, then (LFC_AGAIN) lfc__unbuf_handoff(LFC_RECV) */
inline recv_u(waits, r)
{
    ring_recv(waits, r);
    if :: r == AGAIN -> handoff(UTX, waits, r) :: else -> skip fi
}

/* try_offer_ack_try(ts_pos) = ack_try, then has_plain_waiters and the
 * retract. The C may try a second retract (close's fails, then the
 * withdrawal's): once one failed, head has moved past pos and any later
 * one fails too, so one retract site stands for both. */
inline try_offer_ack_try(r)
{
    rs = stamp;                                         /* acq */
    if
    :: rs == ts_pos + REFUSED -> r = CLOSED
    :: rs != ts_pos + 1 && rs != ts_pos + REFUSED -> r = OK
    :: rs == ts_pos + 1 ->
       if
       :: umark -> why = CLOSED                         /* rlx tail */
       :: else ->
          if :: ec_plain[URX] == 0 -> why = WITHDRAWN   /* rlx */
             :: else -> why = AGAIN fi
       fi;
       r = AGAIN;
       if
       :: why != AGAIN ->
          retract(ts_pos, won);
          if :: won -> r = why :: else -> skip fi
       :: else -> skip
       fi
    fi
}

/* plain waiters' tries (park.pmh) */
inline try(kind, r)
{
    if
    :: kind == KR -> recv_u(true, r)
    :: else -> try_offer_ack_try(r)
    fi
}

/* MUT_ANNOUNCE_FENCE's hoisted load: whether the receiver's try may see
 * something (the other kinds are not hoisted) */
inline peek(kind, b)
{
    if
    :: kind == KR -> b = (stamp == head + 1 || umark || ec_sels[UTX] != 0)
    :: else -> b = true
    fi
}

/* lfc__unbuf_try_send(): lfc_try_send(U, SV) from selector 0's pass */
inline try_send_u(r)
{
    if
    :: umark -> r = CLOSED                              /* acq tail */
    :: else ->
       handoff(URX, false, r);      /* a selector's receive case */
       if
       :: r == AGAIN ->
          if
          :: ec_plain[URX] == 0 ->                      /* rlx */
             if :: umark -> r = CLOSED :: else -> skip fi
          :: else ->
             /* ring_try_send(ch, elem, &pos, true): the guess, the mark
              * and the stamp in one step */
             do
             :: atomic { rh = tail; rm = umark; rs = stamp };
                if
                :: rm -> r = CLOSED; break
                :: rs == rh ->
                   atomic { if :: tail == rh && !umark ->
                                  tail = rh + ONE_LAP; rcas = true
                               :: else -> rcas = false fi };   /* CAS */
                   if
                   :: rcas ->               /* copy in; rel stamp */
                      atomic { stamp = rh + 1; ts_pos = rh }; r = OK; break
                   :: else -> skip
                   fi
                :: rs < rh ->
                   if :: head + ONE_LAP == rh -> r = AGAIN; break
                      :: else -> skip fi       /* wait_for_peer */
                :: rs > rh -> skip
                fi
             od;
             if
             :: r == OK ->
                /* fence; has_plain_waiters */
                if
                :: ec_plain[URX] != 0 -> ec_wake_plain(URX)
                :: else ->
                   retract(ts_pos, won);
                   if :: won -> r = WITHDRAWN :: else -> skip fi
                fi;
                if
                :: r == OK ->
                   /* unbuf_await_try_offer(): lfc__ec_wait's spin (one
                    * try), then the park loop */
                   try_offer_ack_try(r);
                   if
                   :: r == AGAIN -> ec_wait(UACK, 0, false, KA, r)
                   :: else -> skip
                   fi
                :: else -> skip
                fi;
                if :: r == WITHDRAWN -> r = AGAIN :: else -> skip fi
             :: else -> skip
             fi
          fi
       :: else -> skip
       fi
    fi
}

/* ---- select (select.c) -------------------------------------------------- */

/* try_case(): case 0 is on U (send if snd), case 1 a receive from B */
inline try_case(snd, c, r)
{
    if
    :: c == 1 ->
       atomic { if :: items > 0 -> items--; take(BV); r = OK
                   :: else -> r = AGAIN fi }
    :: c == 0 && snd -> try_send_u(r)
    :: c == 0 && !snd -> recv_u(false, r) /* lfc_try_recv(U) */
    fi
}

/* lfc__unbuf_peer_waiting(e, self): a selector other than k WAITING on e */
inline peer_waiting(e, k, found)
{
    found = false;
    if
    :: ec_sels[e] != 0 ->                               /* rlx */
       lock(ec_lock[e]);
       hk = 0;
       do
       :: hk < NSEL && !found ->
          found = (hk != k && node_linked[NODE(e, hk)] &&
                   sel_state[hk] == SEL_WAITING);       /* rlx */
          hk++
       :: else -> break
       od;
       unlock(ec_lock[e])
    :: else -> skip
    fi
}

/* any_ready(): the waitable ready (chan.c chan_ready) of each case */
inline any_ready(k, snd, rdy)
{
    if
    :: snd ->                   /* LFC_SEND on U */
       rdy = umark;                                     /* acq tail */
       if :: !rdy -> rdy = (ec_plain[URX] != 0) :: else -> skip fi;
       if :: !rdy -> peer_waiting(URX, k, rdy) :: else -> skip fi
    :: else ->                  /* LFC_RECV on U */
       /* an offer at head is always lfc_try_send's, which a select may
        * not take (unbuf_try_offer_at): only a stale head counts */
       atomic { rh = head; rs = stamp };
       rdy = (rs > rh + 1);
       if :: !rdy -> rdy = (umark && tail == rh) :: else -> skip fi;
       if :: !rdy -> peer_waiting(UTX, k, rdy) :: else -> skip fi
    fi;
#if NCASES > 1
    if :: !rdy -> rdy = (items > 0) :: else -> skip fi
#endif
}

/* register_all(): WAITING (rlx, no node linked), a node per case in the
 * last pass's order (seqcst RMW under the lock), fence. The send case's
 * node is passive (chan.c chan_link). */
inline register_all(k, snd)
{
    sel_state[k] = SEL_WAITING;
#if NCASES > 1
    if
    :: sel_add(UTX, k, 0, true); sel_add(BRX, k, 1, false)
    :: sel_add(BRX, k, 1, false); sel_add(UTX, k, 0, true)
    fi
#else
    if
    :: snd -> sel_add(UTX, k, 0, true)
    :: else -> sel_add(URX, k, 0, false)
    fi
#endif
}

/* unregister_all(), then a fence */
inline unregister_all(k, snd)
{
    if :: snd -> sel_remove(UTX, k) :: else -> sel_remove(URX, k) fi;
#if NCASES > 1
    sel_remove(BRX, k)
#else
    skip
#endif
}

/* park_once() */
inline park_once(k, snd, s)
{
#ifdef MUT_SEL_FENCE
    any_ready(k, snd, rdy);       /* the recheck's loads, hoisted */
    register_all(k, snd);
#else
    register_all(k, snd);
    any_ready(k, snd, rdy);
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
    :: s == SEL_WAITING || s == SEL_HANDOFF -> sel_park(k, false, s)
    :: else -> skip
    fi;
    unregister_all(k, snd)
}

/* the first case of a random pass (select.c pass: Fisher-Yates) */
inline pick(c)
{
#if NCASES > 1
    if :: c = 0 :: c = 1 fi
#else
    c = 0
#endif
}

/*
 * nsel calls of lfc_select() over {U: send SV if snd, else receive; B:
 * receive} (select_impl, select_blocking). nt: tries left before parking:
 * a pass is NCASES tries; after NOTIFY(i), case i first (try_case), then
 * a pass. One try_case site for all of them keeps the model small.
 */
proctype Selector(byte k; bool snd; byte nsel)
{
    byte r, s, c, nt;
    bool rdy;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    do
    :: nsel > 0 ->
       pick(c); nt = NCASES;      /* select_impl's pass, spin()'s */
       do
       :: nt > 0 ->
          try_case(snd, c, r);
          if :: r != AGAIN -> break :: else -> skip fi;
          nt--;
          if
          :: nt == NCASES -> pick(c)         /* the pass after NOTIFY's try */
          :: nt > 0 && nt < NCASES -> c = 1 - c
          :: else -> skip
          fi
       :: nt == 0 ->
          park_once(k, snd, s);
          if
          :: IS_DONE(s) -> c = CASE_OF(s); r = OK; break   /* handed off */
          :: IS_NOTIFY(s) -> c = CASE_OF(s); nt = NCASES + 1
          :: s == SEL_ABORTED -> pick(c); nt = NCASES
          fi
       od;
       /* case c completed with status r */
       atomic {
           ndone[c]++;
           if
           :: c == 0 && snd && r == OK -> sent_ok++; assert(got[SV] == sent_ok)
           :: c == 0 && snd && r == CLOSED -> sel_closed++
           :: c == 0 && !snd -> assert(r == OK); recv_ok++; assert(got[SV] == 1)
           :: c == 1 -> assert(r == OK && got[BV] == 1)
           fi
       };
       nsel--
    :: else -> break
    od
}

/* ---- the other threads ---------------------------------------------------- */

/* lfc_recv(U): recv_try, then lfc__ec_wait_noting (counted) and
 * lfc__unbuf_recv_left (fence; broadcast ack_ec) */
proctype Receiver()
{
    byte r;
    CH_VARS;
    WAIT_VARS;
    WAKE_VARS;
    recv_u(true, r);
    if
    :: r == AGAIN ->
       ec_wait(URX, 0, false, KR, r);
       ec_wake(UACK, ALL)
    :: else -> skip
    fi;
    atomic {
        assert(r == OK || r == CLOSED);
        assert((r == OK) == rcv_out);  /* on CLOSED out is untouched */
        rcv_result = r
    }
}

/* lfc_send(B, BV): publish, fence, signal B's rx_ec */
proctype BSender()
{
    WAKE_VARS;
    items++;
    ec_wake(BRX, 1)
}

/* lfc_close(U): seqcst fetch_or of the mark, fence, broadcast rx_ec, tx_ec,
 * ack_ec */
proctype Closer()
{
    WAKE_VARS;
    umark = true;                 /* the only closer: old mark was clear */
    ec_wake(URX, ALL);
#ifndef MUT_CLOSE_NO_TX
    ec_wake(UTX, ALL);
#endif
    ec_wake(UACK, ALL)
}

init
{
    atomic {
#if defined(SS)
        run Selector(0, true, 1);
        run Selector(1, false, 1);
#elif defined(CLOSE)
        run Selector(0, true, 1);
        run Receiver();
        run Closer();
#else
        run Selector(0, true, 2);
        run Receiver();
        run BSender();
#endif
    };
    (_nr_pr == 1);
    assert(got[SV] == sent_ok);
#if defined(SS)
    assert(sent_ok == 1 && recv_ok == 1)
#elif defined(CLOSE)
    assert(ndone[0] == 1 && ndone[1] == 0);
    assert((rcv_result == OK) == (sent_ok == 1));
    assert(rcv_result == OK || rcv_result == CLOSED)
#else
    assert(ndone[0] == 1 && ndone[1] == 1 && sent_ok == 1);
    assert(got[BV] == 1 && rcv_result == OK)
#endif
}
