/* SPDX-License-Identifier: MIT */
/*
 * sem.pml - the weighted semaphore's wait protocol (src/sync/sem.c:
 * fast_acquire, may_barge, add_permits, set_flags, queue_changed,
 * enqueue, unlink_waiter, grant, wake_head, watch_ctx, ctx_cancelled,
 * try_as_head, acquire_slow, acquire, lfc_sem_release) over the selector
 * parking word of src/chan/selector.c (lfc__sel_park, lfc__sel_wake) and, for a
 * context, a node on the done channel's event count (lfc__ec_node_add /
 * remove, ec_notify_nodes + sel_notify: park.pmh).
 *
 * The state word `free << 2 | HANDOFF | QUEUED` is (sfree, sh, sq), and
 * every access to it is one step on all three. The queue (q, qn, queued)
 * is read and written only under the semaphore's lock, so its updates
 * ride in the step of the lock holder's next shared access. Time is not
 * modelled: "the deadline passed" and "waited >= STARVE_NS" (hand-off
 * mode on or off) are nondeterministic choices wherever the C reads the
 * clock.
 *
 * Configurations (-D), semaphore of CAP = 2 units:
 *   (none)   acquirers 0 (weight 1) and 1 (weight 2), each acquires and
 *            then releases its weight; a releaser that holds 2 units at
 *            the start releases them one by one
 *   TIMED    as (none), acquirer 1 (weight 2) has a deadline
 *   TIMED2   as (none), both acquirers have deadlines
 *   CTX      acquirer 0 (weight 2) waits with a context that a canceller
 *            cancels (closes its done channel); acquirer 1 (weight 1)
 *            acquires and releases; a holder keeps 1 unit until
 *            acquirer 0 has returned, so only the cancellation can end
 *            acquirer 0's wait
 *   THREE    a third acquirer (weight 1) in (none) or TIMED (THREE TIMED:
 *            6 M states, --long only); not with CTX or TIMED2
 *   ANY_HINT with any of the above: the fast path's head_need hint may
 *            read any value (a relaxed load's staleness, at its worst)
 * Properties: every process ends (init waits for all: an acquirer asleep
 * forever is an invalid end state), and in a terminal state no acquirer
 * sleeps WAITING while it is the head and its units are free, or while
 * its context is cancelled (Watchdog); units are conserved in every step
 * (free + held == CAP, no step takes more than are free, no release goes
 * over CAP) and at the end all are back (free == CAP, queue empty, flags
 * clear); an acquirer that returns OK holds exactly its weight, one that
 * returns TIMEDOUT or CANCELED holds nothing and is unqueued; only the
 * queue's head is notified or served (FIFO among waiters); a waker never
 * touches a waiter that has returned.
 * Mutations that must fail:
 *   MUT_NO_ENQUEUE_WAKE  acquire_slow() does not run wake_head() after
 *                        enqueue() (a release that won before QUEUED was
 *                        set saw no flag and woke nobody)
 *   MUT_NO_GIVEUP_WAKE   a waiter that gives up does not run wake_head()
 *                        (TIMED: the one behind a leaving head sleeps)
 *   MUT_FLAGS_STORE      set_flags() writes the word with a store of its
 *                        earlier load instead of a CAS: a concurrent
 *                        release's (or barger's) permits are overwritten
 *   MUT_CTX_FENCE        ctx_cancelled() without its fence: the first
 *                        check's load of `closed` happens before the
 *                        node is linked (CTX)
 * NOT failing (README.md: the word is decided on under the lock):
 *   MUT_NOTIFY_STORE     wake_head() stores NOTIFY(0), no CAS
 *   MUT_GRANT_STORE      grant() stores DONE(0), no CAS
 */
#ifdef THREE
#define NACQ 3
#else
#define NACQ 2
#endif
#define NEC  1      /* the context's done channel's rx_ec */
#define NID  1      /* no plain waiters */
#define NSEL NACQ   /* the acquirers' parking words */

#include "park.pmh"

#define CANCELED 4      /* lfc_ctx_err(ctx) of a cancelled context */
#define CTX_CASE 1      /* NOTIFY(1): the done channel's node */
#define CAP      2      /* lfc_sem_new(2) */
#define NONE     255

/* the state word */
byte sfree;             /* free permits */
bit  sq, sh;            /* QUEUED, HANDOFF */
byte head_need;         /* the head's n, or 0 (a relaxed hint) */
bit  slock;             /* the small futex lock */
/* the queue, under slock */
byte q[NACQ] = NONE;    /* q[0] the head, in arrival order */
byte qn;
bool queued[NACQ];
/* the model's bookkeeping */
byte need[NACQ];        /* acquirer w's weight */
byte held[NACQ];        /* units acquirer w holds */
byte hheld;             /* units the releaser (holder) holds */
bool gone[NACQ];        /* acquirer w has returned from its acquire */
bool closed;            /* the context's done channel is closed */

#ifdef THREE
#define CONSERVED assert(sfree + held[0] + held[1] + held[2] + hheld == CAP)
#else
#define CONSERVED assert(sfree + held[0] + held[1] + hheld == CAP)
#endif

/* asleep with its word WAITING while the head and its units are free, or
 * while its context is cancelled with its node linked */
#define ASLEEP(w) (sel_inq[w] && sel_state[w] == SEL_WAITING)
#define HEAD_LOST(w) (ASLEEP(w) && qn > 0 && q[0] == w && sfree >= need[w])
#define CTX_LOST(w) (ASLEEP(w) && closed && node_linked[NODE(0, w)])
#ifdef THREE
#define LOST_WAKEUP (HEAD_LOST(0) || HEAD_LOST(1) || HEAD_LOST(2))
#else
#define LOST_WAKEUP (HEAD_LOST(0) || HEAD_LOST(1) || CTX_LOST(0) || CTX_LOST(1))
#endif

WATCHDOG

#define SEM_VARS byte hw, gw, fcur, ui; bool wok, wgo

/* set_flags(): a CAS loop from a relaxed guess; it ends at the CAS that
 * succeeds on the latest word, so it is one RMW step. */
#ifdef MUT_FLAGS_STORE
#define SET_FLAGS(x) fcur = sfree; atomic { sfree = fcur; x; CONSERVED }; fcur = 0
#else
#define SET_FLAGS(x) atomic { x }
#endif

/* queue_changed() after the caller's queue edit: the head_need store
 * (the edit, under the lock, rides in it), then set_flags(). */
inline queue_flags()
{
    SET_FLAGS(if :: qn > 0 -> sq = 1 :: else -> sq = 0; sh = 0 fi)
}

/* unlink_waiter(s, x) */
inline unlink(x)
{
    atomic {
        ui = 0;                               /* x's place, then close up */
        do :: ui < qn && q[ui] != x -> ui++ :: else -> break od;
        assert(ui < qn);
        do :: ui + 1 < qn -> q[ui] = q[ui + 1]; ui++ :: else -> break od;
        q[qn - 1] = NONE; ui = 0;
        qn--;
        queued[x] = false;
        if :: qn > 0 -> head_need = need[q[0]] :: else -> head_need = 0 fi
    };
    queue_flags()
}

/* fast_acquire(): may_barge() on the word and the head_need hint (a
 * relaxed load of its own, made before the CAS that decides), then the
 * CAS; the CAS loop is one step: it ends at the CAS that succeeds or at
 * the load (or failed CAS) where may_barge() says no. */
inline fast_acquire(w, n, ok)
{
#ifdef ANY_HINT
    select(fcur : 0 .. CAP + 1);              /* any value at all */
#else
    fcur = head_need;
#endif
    atomic {
        if
        :: !sh && sfree >= n && (!sq || sfree >= fcur) ->
           sfree = sfree - n; held[w] = held[w] + n; ok = true; CONSERVED
        :: else -> ok = false
        fi;
        fcur = 0
    }
}

/* grant(): in hand-off mode serve the head while its permits are free */
inline grant()
{
    do
    :: atomic {                               /* acq load of the word */
           if
           :: qn == 0 -> wgo = false
           :: else -> gw = q[0]; wgo = (sh && sfree >= need[gw])
           fi
       };
       if :: !wgo -> break :: else -> skip fi;
       /* claim: CAS WAITING -> DONE(0), else if it read NOTIFY(0), CAS
        * NOTIFY(0) -> DONE(0). One step: a word NOTIFY(0) changes only
        * under the lock we hold (try_as_head's re-arm). */
       atomic {
           if
#ifdef MUT_GRANT_STORE
           :: true ->                         /* a store: over anything */
#else
           :: sel_state[gw] == SEL_WAITING || sel_state[gw] == SEL_NOTIFY(0) ->
#endif
              sel_state[gw] = SEL_DONE(0); wok = true
           :: else -> wok = false
           fi
       };
       if
       :: !wok -> unlink(gw)                  /* it gave up */
       :: wok ->
          /* the subtract: HANDOFF is set, nobody barges */
          atomic {
              assert(sh && sfree >= need[gw]);
              sfree = sfree - need[gw]; held[gw] = held[gw] + need[gw];
              CONSERVED
          };
          unlink(gw);
          if
          :: skip                             /* waited >= STARVE_NS */
          :: SET_FLAGS(sh = 0)                /* fresh: barge again */
          fi;
          assert(!gone[gw]);
          sel_wake(gw)                        /* under the lock */
       fi;
       gw = 0; wok = false
    od;
    wgo = false
}

/* wake_head() */
inline wake_head()
{
    grant();
    atomic {                                  /* s->head; acq load */
        if
        :: qn == 0 -> wgo = false
        :: else -> hw = q[0]; wgo = (!sh && sfree >= need[hw])
        fi
    };
    if
    :: wgo ->
       atomic {                               /* CAS WAITING -> NOTIFY(0) */
           if
#ifdef MUT_NOTIFY_STORE
           :: sel_state[hw] != SEL_DONE(0) -> /* a store (DONE: unlinked) */
#else
           :: sel_state[hw] == SEL_WAITING ->
#endif
              sel_state[hw] = SEL_NOTIFY(0); wok = true
           :: else -> wok = false
           fi
       };
       if
       :: wok -> assert(!gone[hw]); sel_wake(hw)   /* under the lock */
       :: else -> skip
       fi
    :: else -> skip
    fi;
    hw = 0; wok = false; wgo = false
}

/* lfc_sem_release(n) of units the caller holds (`from`) */
inline release(from, n)
{
    atomic {                                  /* add_permits(): the CAS */
        assert(sfree + n <= CAP);             /* never LFC_EINVAL */
        wok = (sq || sh);                     /* was & FLAGS */
        sfree = sfree + n; from = from - n;
        CONSERVED
    };
    if
    :: wok -> wok = false; lock(slock); wake_head(); unlock(slock)
    :: else -> skip
    fi
}

/* ctx_cancelled(): fence, the closed load, then CAS WAITING -> ABORTED */
inline ctx_cancelled(w, withctx, cx)
{
    cx = false;
    if
    :: withctx ->
#ifdef MUT_CTX_FENCE
       if
       :: first -> cc = stale; first = false   /* loaded before the link */
       :: else -> cc = closed
       fi;
#else
       cc = closed;                            /* lfc_chan_closed, acq */
#endif
       if
       :: cc ->
          atomic {
              if
              :: sel_state[w] == SEL_WAITING -> sel_state[w] = SEL_ABORTED; cx = true
              :: else -> skip
              fi
          }
       :: else -> skip
       fi;
       cc = false
    :: else -> skip
    fi
}

/* try_as_head(): under the lock, after reading NOTIFY(0) */
inline try_as_head(w, n, ok)
{
    assert(qn > 0 && q[0] == w);              /* only the head is notified */
    atomic {                                  /* the CAS loop: one step */
        if
        :: sfree >= n ->
           sfree = sfree - n; held[w] = held[w] + n; ok = true; CONSERVED
        :: else -> ok = false
        fi
    };
    if
    :: ok -> unlink(w); wake_head()
    :: else ->
       atomic {                               /* re-arm: CAS NOTIFY(0) -> WAITING */
           if
           :: sel_state[w] == SEL_NOTIFY(0) -> sel_state[w] = SEL_WAITING
           :: else -> skip
           fi
       };
       if
       :: skip                                /* waited < STARVE_NS */
       :: SET_FLAGS(sh = 1)                   /* starved: hand-off mode */
       fi
    fi
}

/* acquire(s, n, deadline, ctx) then, if OK, lfc_sem_release(s, n) */
proctype Acq(byte w; byte n; bool timed; bool withctx)
{
    byte r = AGAIN, s;
    bool ok, cx, cc;
#ifdef MUT_CTX_FENCE
    bool first = true, stale;
#endif
    SEM_VARS;
    WAKE_VARS;

    if                                        /* lfc_ctx_err(ctx) != OK */
    :: withctx && closed -> r = CANCELED; goto out
    :: else -> skip
    fi;
    /* fast_acquire() and the spin phase's polls: one try (a try at any
     * moment is a choice of the interleaving; failed ones do nothing) */
    fast_acquire(w, n, ok);
    if :: ok -> r = OK; goto out :: else -> skip fi;
    if                                        /* deadline passed: give up */
    :: timed -> r = TIMEDOUT; goto out
    :: true -> skip
    fi;

    /* acquire_slow() */
    lock(slock);
    fast_acquire(w, n, ok);
    if :: ok -> unlock(slock); r = OK; goto out :: else -> skip fi;
    /* the WAITING store (nobody sees w before it is queued) and
     * enqueue(), riding in queue_changed()'s head_need store */
    atomic {
        sel_state[w] = SEL_WAITING;
        q[qn] = w; qn++; queued[w] = true;
        head_need = need[q[0]]
    };
    queue_flags();
#ifndef MUT_NO_ENQUEUE_WAKE
    wake_head();
#endif
    unlock(slock);
    if                                        /* watch_ctx() */
    :: withctx ->
#ifdef MUT_CTX_FENCE
       stale = closed;                        /* the check's load, hoisted */
#endif
       sel_add(0, w, CTX_CASE, false)
    :: else -> skip
    fi;
    do
    :: ctx_cancelled(w, withctx, cx);
       if :: !cx -> sel_park(w, timed, s) :: else -> skip fi;
       lock(slock);
       s = sel_state[w];                      /* acq load, under the lock */
       if
       :: s == SEL_DONE(0) -> r = OK           /* granted, unlinked */
       :: s == SEL_NOTIFY(0) ->
          try_as_head(w, n, ok);
          if
          :: ok -> r = OK
          :: !ok -> skip                      /* re-armed: sleep again */
          :: !ok && timed -> r = TIMEDOUT     /* the deadline has passed */
          fi
       :: else ->                             /* timed out or cancelled */
          assert(s == SEL_ABORTED || s == SEL_NOTIFY(CTX_CASE));
          r = TIMEDOUT
       fi;
       if
       :: r == AGAIN -> unlock(slock)
       :: r == OK -> break
       :: r == TIMEDOUT ->
          if
          :: withctx && closed -> r = CANCELED
          :: else -> assert(timed)
          fi;
          if :: queued[w] -> unlink(w) :: else -> skip fi;
#ifndef MUT_NO_GIVEUP_WAKE
          wake_head();
#endif
          break
       fi
    od;
    unlock(slock);
    if :: withctx -> sel_remove(0, w) :: else -> skip fi;
out:
    assert(!queued[w]);
    assert(r == OK || r == CANCELED || (timed && r == TIMEDOUT));
    assert(r != OK || held[w] == n);          /* its weight, exactly */
    assert(r == OK || held[w] == 0);          /* nothing */
    gone[w] = true;
    if
    :: r == OK -> release(held[w], n)
    :: else -> skip
    fi
}

/* holds the units it starts with and releases them one by one */
proctype Releaser()
{
    SEM_VARS;
    do
    :: hheld > 0 -> release(hheld, 1)
    :: else -> break
    od
}

/* CTX: holds its unit until acquirer 0 has returned */
proctype Holder()
{
    SEM_VARS;
    gone[0];
    release(hheld, 1)
}

/* lfc_ctx_cancel(): cancel_tree() closes the done channel:
 * lfc__chan_owner_close (mark, fence, broadcast rx_ec) */
proctype Canceller()
{
    WAKE_VARS;
    closed = true;
    ec_wake(0, ALL)
}

init
{
    atomic {
#ifdef CTX
        need[0] = 2; need[1] = 1;
        hheld = 1; sfree = CAP - 1;
        run Acq(0, 2, false, true);
        run Acq(1, 1, false, false);
        run Holder();
        run Canceller();
#else
        need[0] = 1; need[1] = 2;
        hheld = 2; sfree = CAP - 2;
#if defined(THREE)
        need[2] = 1;
        run Acq(0, 1, false, false);
#ifdef TIMED
        run Acq(1, 2, true, false);
#else
        run Acq(1, 2, false, false);
#endif
        run Acq(2, 1, false, false);
#elif defined(TIMED2)
        run Acq(0, 1, true, false);
        run Acq(1, 2, true, false);
#elif defined(TIMED)
        run Acq(0, 1, false, false);
        run Acq(1, 2, true, false);
#else
        run Acq(0, 1, false, false);
        run Acq(1, 2, false, false);
#endif
        run Releaser();
#endif
        run Watchdog()
    };
    (_nr_pr == 1);                            /* every other process ended */
    assert(gone[0] && gone[1]);
    assert(sfree == CAP && hheld == 0 && held[0] == 0 && held[1] == 0);
#ifdef THREE
    assert(gone[2] && held[2] == 0);
#endif
    assert(qn == 0 && sq == 0 && sh == 0 && head_need == 0 && slock == 0);
    assert(ec_sels[0] == 0)
}
