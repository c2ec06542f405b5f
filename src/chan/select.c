/* SPDX-License-Identifier: MIT */
/*
 * Select: wait on several channel operations, complete exactly one.
 * Depends on: the waitable interface (lfc_waitable.h: try, ready, link,
 * unlink per case; chan.c implements it), the selector (selector.c: the
 * parking word and its nodes), core/park.c (event counts), ctx.c (for the
 * _ctx calls). It knows no channel internals.
 *
 * Design
 * ------
 * The shape is Go's runtime and crossbeam-channel's: a selecting thread
 * has one parking word (struct lfc__selector, on its stack), links a node
 * per case into the event count that case would wait on, rechecks, and
 * sleeps once on its own word. Wakers take it with a compare-and-swap on
 * that word, so exactly one of them wins.
 *
 *   loop:
 *     pass: try every case (the waitable's try_send / try_recv), in a random
 *           order (Fisher-Yates, per-thread LCG) or, biased, in
 *           array order; the first that does not say LFC_AGAIN completes;
 *     register: state = WAITING; link a node per case (the waitable's
 *           link: a seqcst RMW on the event count's `waiters`), then a
 *           seqcst fence;
 *     recheck: if any case looks ready (the waitable's ready), CAS WAITING ->
 *           ABORTED and go round again;
 *     sleep on state until it leaves WAITING (lfc__sel_park);
 *     unlink every node;
 *     NOTIFY(i): a waker signalled case i's event count: try case i first
 *           (biased: a full ordered pass), then a full pass;
 *     DONE(i): a peer completed case i by hand-off (unbuffered channels);
 *     ABORTED: a case looked ready, or the deadline passed: a full pass.
 *
 * Who changes the state word: the selector itself (WAITING -> ABORTED by
 * CAS, or a plain store of WAITING while no node is linked, so nobody
 * else can see it); a waker of an event count with one of its nodes
 * (WAITING -> NOTIFY(i) by CAS, under that event count's lock, then a
 * futex wake); a peer on an unbuffered channel (WAITING -> HANDOFF by CAS
 * under the lock, copy, release store of DONE(i), wake). Every access from
 * another thread happens under the lock of an event count where one of
 * the selector's nodes is linked, and the selector unlinks every node
 * (taking each lock) before it returns: so its stack outlives them all.
 *
 * Why no wake-up is lost. Take an event E that makes case i ready, made by
 * a thread W that then runs "fence; load waiters" on the case's event
 * count (every channel operation does: park.c, lfc_ring.h "Wake-ups").
 *   1. The selector's recheck comes after its link (seqcst RMW) and a
 *      fence; W's load after E and a fence. Store-buffering with seqcst
 *      fences: either the recheck sees E (the selector aborts and passes
 *      again), or W sees the node counted and takes the lock; the count
 *      is changed inside the lock, so W finds the node (or finds it gone,
 *      and then the count W read was already stale: covered by 4).
 *   2. W, holding the lock, finds the selector WAITING: it CASes NOTIFY(i)
 *      (release, after E) and wakes it; the selector's acquire of the
 *      state makes E visible to its try of case i. A wake-one is spent on
 *      it, exactly as on a plain waiter: if the try fails, another thread
 *      consumed E, and that thread re-signals by the channel's rule.
 *   3. W finds it not WAITING: already notified by another event count,
 *      or ABORTED, or in a hand-off. It is skipped and W's wake goes to the
 *      next waiter. The selector will run a full pass after its own CAS or
 *      the one that moved it (acquire), which is after W's read of the
 *      state, which is after E: the pass sees E. (A skipped wake-one
 *      finds a plain waiter if one sleeps; if none does, E stays in the
 *      channel for whoever tries next, the selector's pass included.)
 *   4. The selector unlinks its node, then (fence) passes. If W's load saw
 *      the node counted but its locked scan came after the unlink, the
 *      unlink's RMW follows W's load in the count's modification order, so
 *      by the fences the selector's pass sees E.
 *   5. A timeout never swallows a notification: the selector takes itself
 *      back by CAS; if a waker got there first, the CAS fails and the
 *      notification is handled as in 2.
 *   6. Biased selects may complete another case than the notified one i
 *      while E is still there: then they re-signal case i's event count.
 *
 * Unbuffered channels (unbuf.c has the hand-off): a send completes only
 * when a receiver takes the value, so a parked selector cannot offer its
 * value in the ring (a receiver could take it while another case
 * completes). Instead a selector's send case is passive: wake-ones never
 * pick it; a receiver that finds it WAITING claims it (CAS to HANDOFF),
 * copies the value out and sets DONE(i). A plain sender's offer in the
 * ring, or lfc_try_send's hand-off into a WAITING receive case, serve
 * selecting receivers. Readiness of an unbuffered send case is "a plain
 * receiver is parked (committed to one more try) or a selecting receiver
 * is WAITING"; of a receive case, "an offer is in the ring or a selecting
 * sender is WAITING". Two selectors on the two ends of one channel may both
 * see the other, both abort and both miss: they go round again, yielding
 * the CPU after a few such rounds, so timing breaks the symmetry (Go
 * avoids this by locking every channel of a select; we keep lock-free
 * channels instead).
 *
 * Cost to channels no select waits on: the signal's `waiters` load is the
 * same single load; an unbuffered receive that finds nothing, and
 * lfc_try_send on an unbuffered channel, load the selector count once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lfchan/ctx.h"
#include "lfchan/spin.h"
#include "lfchan/select.h"
#include "lfc_atomic.h"
#include "lfc_ctx_internal.h"
#include "lfc_common.h"
#include "lfc_park.h"
#include "lfc_selector.h"
#include "lfc_waitable.h"

enum {
    SMALL_SELECT = 32,  /* cases handled with stack memory */
    FUTILE_ROUNDS = 4,  /* aborted rounds before yielding the CPU */
    SPIN_FLOOR = 16,    /* case tries: the adaptive spin's least */
    SPIN_INITIAL = 256, /* case tries (~ a few us) */
    SPIN_CEIL = 8192    /* case tries (~ 100 us) */
};

/* ---- a cheap per-thread generator ----------------------------------- */

/* Per-thread generator state, read once and written back once per select
 * (a thread-local access in a shared library is a function call). */
static __thread uint64_t tls_rng;

static uint64_t
rng_load(void)
{
    uint64_t x = tls_rng;
    if (x == 0) /* seeded from the thread's own address: no system call */
        x = (uint64_t)(uintptr_t)&tls_rng * 0x9e3779b97f4a7c15u | 1;
    return x;
}

/* A value in [0, n), n >= 1: one step of Knuth's MMIX LCG, then Lemire's
 * multiply-shift of its high half (the LCG's good bits). Fair enough to
 * pick among cases; not for anything else. */
static uint32_t
rng_below(uint64_t *x, uint32_t n)
{
    *x = *x * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(((*x >> 32) * n) >> 32);
}

/* ---- one select call ------------------------------------------------ */

struct select_call {
    lfc_case *cases;
    int n;
    bool biased;
    uint64_t rng;                /* this call's generator state */
    uint32_t *order;             /* a permutation of the case indices */
    struct lfc__sel_node *nodes; /* n nodes (unused for NULL channels) */
    struct lfc__selector sel;
};

static inline struct lfc__waitable *
case_w(const lfc_case *c)
{
    return lfc__waitable_of(c->ch);
}

static bool
case_valid(const lfc_case *c)
{
    if (!c->ch)
        return true; /* switched off: never ready, whatever else it says */
    if (c->dir != LFC_SEND && c->dir != LFC_RECV)
        return false;
    return case_w(c)->ops->check(case_w(c), c->dir, c->buf) == 0;
}

/* Try case i; on completion record its status. */
static int
try_case(struct select_call *sc, uint32_t i)
{
    lfc_case *c = &sc->cases[i];
    if (!c->ch)
        return LFC_AGAIN;
    struct lfc__waitable *w = case_w(c);
    int r = c->dir == LFC_SEND ? w->ops->try_send(w, c->buf)
                               : w->ops->try_recv(w, c->buf);
    if (r != LFC_AGAIN)
        c->status = r; /* LFC_OK or LFC_CLOSED: arguments were checked */
    return r;
}

/*
 * Try every case, the first that does not say LFC_AGAIN completes; its
 * index, or LFC_AGAIN. Unbiased, the order is a fresh uniform random
 * permutation, drawn as we go (Fisher-Yates step k picks among the cases
 * not yet tried), so a pass that completes early draws few numbers.
 * Biased: array order.
 */
static int
pass(struct select_call *sc)
{
    uint32_t n = (uint32_t)sc->n;
    for (uint32_t k = 0; k < n; k++) {
        if (!sc->biased) {
            uint32_t j = k + rng_below(&sc->rng, n - k);
            uint32_t t = sc->order[k];
            sc->order[k] = sc->order[j];
            sc->order[j] = t;
        }
        uint32_t i = sc->order[k];
        if (try_case(sc, i) != LFC_AGAIN)
            return (int)i;
    }
    return LFC_AGAIN;
}

static void
register_all(struct select_call *sc)
{
    /* ORDER rlx: no node is linked, so no other thread reads the word;
     * the locks in lfc__ec_node_add publish it with each node. */
    lfc_store_rlx_u32(&sc->sel.state, LFC__SEL_WAITING);
    /* Link in the last pass's order: a random permutation (array order
     * when biased). Peers take the first WAITING node of a list, so two
     * cases on one channel must not always be linked the same way round
     * (Go's TestPseudoRandomSend). */
    for (int k = 0; k < sc->n; k++) {
        uint32_t i = sc->order[k];
        lfc_case *c = &sc->cases[i];
        if (!c->ch)
            continue;
        struct lfc__sel_node *x = &sc->nodes[i];
        lfc__sel_node_init(x, &sc->sel, i, c->buf);
        case_w(c)->ops->link(case_w(c), c->dir, x);
    }
    /* ORDER seqcst: our links (seqcst RMWs) before the recheck's loads:
     * the store-buffering pair of point 1 above. */
    lfc_fence_seqcst();
}

static void
unregister_all(struct select_call *sc)
{
    for (int i = 0; i < sc->n; i++) {
        lfc_case *c = &sc->cases[i];
        if (c->ch)
            case_w(c)->ops->unlink(case_w(c), c->dir, &sc->nodes[i]);
    }
    /* ORDER seqcst: our unlinks before the pass that follows (point 4). */
    lfc_fence_seqcst();
}

static bool
any_ready(struct select_call *sc)
{
    for (int k = 0; k < sc->n; k++) {
        lfc_case *c = &sc->cases[sc->order[k]];
        if (c->ch && case_w(c)->ops->ready(case_w(c), c->dir, &sc->sel))
            return true;
    }
    return false;
}

/* Wake one waiter of the event count of case i, whose notification we
 * did not use (point 6). */
static void
resignal(struct select_call *sc, uint32_t i)
{
    /* ORDER seqcst: as every signal, fence then load waiters; here only
     * to hand the wake on, the channel's state needs no publication. The
     * node's ec is the one the case's link chose. */
    lfc_fence_seqcst();
    lfc__ec_signal_fenced(sc->nodes[i].ec, NULL);
}

/*
 * Register, recheck, sleep. Returns the final state word: ABORTED (a case
 * looked ready, or timed out), NOTIFY(i) or DONE(i).
 */
static uint32_t
park_once(struct select_call *sc, int64_t deadline_ns)
{
    uint32_t s;
    register_all(sc);
    if (any_ready(sc)) {
        s = LFC__SEL_WAITING;
        /* ORDER acqrel: take ourselves back; a failed CAS acquires the
         * waker's or peer's state (then handled like a wake-up). */
        if (lfc_cas_acqrel_u32(&sc->sel.state, &s, LFC__SEL_ABORTED))
            s = LFC__SEL_ABORTED;
        else if (s == LFC__SEL_HANDOFF)
            s = lfc__sel_park(&sc->sel, deadline_ns); /* waits it out */
    } else {
        s = lfc__sel_park(&sc->sel, deadline_ns);
    }
    unregister_all(sc);
    return s;
}

/*
 * Spin policy before parking, after the channels' own (park.c): if the
 * other side of any case last ran on our CPU, spinning only delays it, so
 * yield once instead. Otherwise poll the cases for a per-thread adaptive
 * budget (in case tries): a spin that succeeds after k tries pulls it
 * 1/8 of the way toward 2k + SPIN_FLOOR, one that fails pulls it 1/8 of
 * the way toward the floor (an idle select). lfc_spin_set_limit() fixes
 * it instead. Woken by nothing: each poll rechecks.
 */
static __thread uint32_t tls_spin_budget = SPIN_INITIAL;

static int
spin(struct select_call *sc, int64_t deadline_ns)
{
    int cpu = sched_getcpu();
    bool same = false;
    for (int i = 0; i < sc->n; i++) {
        lfc_case *c = &sc->cases[i];
        if (c->ch)
            same |= case_w(c)->ops->note_cpu(case_w(c), c->dir, cpu);
    }
    int limit = lfc_spin_limit();
    uint32_t budget = limit >= 0 ? (uint32_t)limit : tls_spin_budget;
    if (same && limit < 0) {
        sched_yield(); /* the partner needs our CPU */
        return pass(sc);
    }
    uint32_t per_pass = sc->n > 0 ? (uint32_t)sc->n : 1;
    int r = LFC_AGAIN;
    uint32_t tries = 0;
    for (uint32_t k = 0; tries < budget; k++) {
        lfc_cpu_relax();
        r = pass(sc);
        tries += per_pass;
        if (r != LFC_AGAIN)
            break;
        /* No budget outlasts the deadline: the clock is read every few
         * hundred passes (park_once then times out at once). */
        if (lfc__spin_past_deadline(k, deadline_ns))
            break;
    }
    if (limit < 0) {
        uint32_t target = r != LFC_AGAIN ? 2 * tries + SPIN_FLOOR : 0;
        int64_t b = (int64_t)budget + ((int64_t)target - (int64_t)budget) / 8;
        tls_spin_budget = b < SPIN_FLOOR  ? SPIN_FLOOR
                          : b > SPIN_CEIL ? SPIN_CEIL
                                          : (uint32_t)b;
    }
    return r;
}

static int
select_blocking(struct select_call *sc, int64_t deadline_ns)
{
    int futile = 0;
    int r = spin(sc, deadline_ns);
    if (r != LFC_AGAIN)
        return r;
    for (;;) {
        uint32_t s = park_once(sc, deadline_ns);
        r = LFC_AGAIN;

        if (lfc__sel_is_done(s)) {
            uint32_t i = lfc__sel_case_of(s); /* DONE(i) */
            sc->cases[i].status = LFC_OK;
            return (int)i;
        }
        if (lfc__sel_is_notify(s)) {
            uint32_t i = lfc__sel_case_of(s); /* NOTIFY(i) */
            if (!sc->biased && try_case(sc, i) != LFC_AGAIN)
                return (int)i;
            r = pass(sc);
            if (r >= 0 && sc->biased && (uint32_t)r != i)
                resignal(sc, i);
            futile = 0;
        } else {
            r = pass(sc); /* ABORTED: a case looked ready, or timed out */
        }
        if (r != LFC_AGAIN)
            return r;
        if (deadline_ns != INT64_MAX && lfc__now_ns() >= deadline_ns)
            return LFC_TIMEDOUT;
        if (s == LFC__SEL_ABORTED && ++futile >= FUTILE_ROUNDS) {
            sched_yield(); /* see "Two selectors on the two ends" above */
            futile = 0;
        }
    }
}

static int
select_impl(lfc_case *cases, int n, int64_t deadline_ns, bool biased,
            bool block)
{
    uint32_t order_small[SMALL_SELECT];
    struct lfc__sel_node nodes_small[SMALL_SELECT];
    struct select_call sc = {cases,       n,           biased, 0,
                             order_small, nodes_small, {0}};
    bool any = false;

    if (n < 0 || n > LFC_SELECT_MAX || (n > 0 && !cases))
        return LFC_EINVAL;
    for (int i = 0; i < n; i++) {
        if (!case_valid(&cases[i]))
            return LFC_EINVAL;
        any |= cases[i].ch != NULL;
    }
    if (block && !any && deadline_ns == INT64_MAX)
        return LFC_EINVAL; /* would block forever */

    void *heap = NULL;
    if (n > SMALL_SELECT) {
        heap = malloc((size_t)n * (sizeof(uint32_t) + sizeof(*sc.nodes)));
        if (!heap)
            return LFC_ENOMEM;
        sc.nodes = heap;
        sc.order = (uint32_t *)(void *)(sc.nodes + n);
    }

    for (uint32_t i = 0; i < (uint32_t)n; i++)
        sc.order[i] = i;
    if (!biased)
        sc.rng = rng_load();
    int r = pass(&sc);
    if (r == LFC_AGAIN && block) {
        if (deadline_ns != INT64_MAX && lfc__now_ns() >= deadline_ns)
            r = LFC_TIMEDOUT;
        else
            r = select_blocking(&sc, deadline_ns);
    }
    if (!biased)
        tls_rng = sc.rng;
    free(heap);
    return r;
}

int
lfc_select(lfc_case *cases, int n)
{
    return select_impl(cases, n, INT64_MAX, false, true);
}

int
lfc_try_select(lfc_case *cases, int n)
{
    return select_impl(cases, n, INT64_MAX, false, false);
}

int
lfc_select_until(lfc_case *cases, int n, int64_t deadline_ns)
{
    return select_impl(cases, n, deadline_ns, false, true);
}

int
lfc_select_biased(lfc_case *cases, int n)
{
    return select_impl(cases, n, INT64_MAX, true, true);
}

int
lfc_try_select_biased(lfc_case *cases, int n)
{
    return select_impl(cases, n, INT64_MAX, true, false);
}

int
lfc_select_biased_until(lfc_case *cases, int n, int64_t deadline_ns)
{
    return select_impl(cases, n, deadline_ns, true, true);
}

/* ---- context-aware operations ------------------------------------------ */

/* Run one operation against ctx: the operation first (biased), so a value
 * that is ready wins over a cancellation that races with it; a context
 * already cancelled when we start wins over everything. */
static int
op_ctx(lfc_chan *ch, int dir, void *buf, lfc_ctx *ctx)
{
    if (!ch || !ctx)
        return LFC_EINVAL;
    struct lfc__waitable *w = lfc__waitable_of(ch);
    if (w->ops->check(w, dir, buf) != 0)
        return LFC_EINVAL;
    int err = lfc_ctx_err(ctx);
    if (err != LFC_OK)
        return err;
    lfc_case cases[2] = {
        {.ch = ch, .dir = dir, .buf = buf},
        {.ch = lfc_ctx_done(ctx), .dir = LFC_RECV},
    };
    int r = lfc_select_biased_until(cases, 2, lfc_ctx_deadline(ctx));
    if (r == 0)
        return cases[0].status;
    if (r == 1) {
        /* done closed: the cancellation happens-before (ctx.h), so the
         * cause is set. */
        return lfc_ctx_err(ctx);
    }
    /* LFC_TIMEDOUT: the deadline passed before the timer fired; expire
     * ctx now, so that what we return is lfc_ctx_err(ctx). */
    return r == LFC_TIMEDOUT ? lfc__ctx_expire(ctx) : r;
}

int
lfc_send_ctx(lfc_chan *ch, const void *elem, lfc_ctx *ctx)
{
    return op_ctx(ch, LFC_SEND, (void *)(uintptr_t)elem, ctx);
}

int
lfc_recv_ctx(lfc_chan *ch, void *out, lfc_ctx *ctx)
{
    return op_ctx(ch, LFC_RECV, out, ctx);
}
