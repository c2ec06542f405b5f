/* SPDX-License-Identifier: MIT */
/*
 * A linearizability checker for histories of channel operations on one
 * channel (tests/test_lincheck.c records them; include/lfchan/chan.h,
 * "Linearizability", is the property).
 *
 * A history is a few threads' sequences of calls, each with the call's
 * arguments, what it returned, and two ticks of one global counter taken
 * just before the call (inv) and just after it returned (resp): op a
 * precedes op b in real time iff a.resp < b.inv. The history is
 * linearizable iff some total order of its ops that respects real-time
 * precedence is accepted by the sequential channel model below, each op
 * doing at its place in the order exactly what it returned.
 *
 * The sequential model (Go's channel, lfchan/chan.h and select.h):
 *   state: a FIFO buffer of at most `cap` values, and closed or not.
 *   send v OK       buffered: open and not full; appends v.
 *                   unbuffered: open, and at the same point a receive
 *                   that returned v takes it (a rendezvous: the pair has
 *                   one linearization point, so the two calls overlap).
 *   send CLOSED     closed.
 *   recv v OK       buffered: v is the oldest buffered value; removes it
 *                   (whether closed or not: receivers drain).
 *                   unbuffered: the rendezvous above.
 *   recv CLOSED     closed and empty.
 *   close OK        open; closes. close CLOSED: closed already.
 *   len n           n values buffered (always 0 unbuffered).
 *   nothing done    (try_ LFC_AGAIN, _until LFC_TIMEDOUT): the call's
 *                   case could not complete at that point: a send case
 *                   finds the channel open and full, a receive case open
 *                   and empty; unbuffered: open (whether a partner was
 *                   waiting is not part of the state; see below).
 * A select completes exactly the case it reported, as the plain call of
 * that case would, at one point. One that completed none needs each of its
 * cases blocked at a point of its own in the call's interval, not all at
 * one point: lfchan's select tries its cases one after the other (see
 * select.c) and does not promise more, so a select of a send and a
 * receive case on one buffered channel may fail although at every instant
 * one of the two could complete. Go's select, which locks its channels,
 * is atomic; lfc_lin_checker.atomic_select asks for that. A rendezvous never pairs two non-blocking calls (try_send,
 * try_recv, try_select): a try succeeds on an unbuffered channel only
 * against a peer that waits (chan.h), and a select never with itself.
 *
 * Results no sequential channel could give are rejected before the
 * search: a blocking call that returned LFC_AGAIN or LFC_TIMEDOUT, a try
 * that returned LFC_TIMEDOUT, a timeout returned before its deadline
 * (checked against lfc_now_ns() read after the return), a value received
 * that nobody sent or received twice, a select index out of range.
 *
 * What it cannot see: progress. On an unbuffered channel a call that
 * waited in vain while a peer waited too (both timed out, or a try that
 * failed beside a parked peer) is linearizable, since the model lets any
 * pair of calls meet or not; that a waiting pair does meet is a liveness
 * property, for the stress tests.
 *
 * The search is Wing and Gong's, with Lowe's memoisation (WGL): a depth
 * first search over the ops that are minimal (no op still to place
 * precedes them), caching every (placed ops, channel state) that failed.
 * Each thread's ops are totally ordered, so "placed ops" is one prefix
 * length per thread and the whole configuration packs into 64 bits.
 *
 * Header-only, static inline, like the other helpers here.
 */
#ifndef LFC_LINCHECK_H
#define LFC_LINCHECK_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lfchan.h"

enum {
    LFC_LIN_MAX_THREADS = 5, /* 3 bits of prefix length each, below */
    LFC_LIN_MAX_OPS = 7,     /* per thread */
    LFC_LIN_MAX_CASES = 2,   /* per select */
    LFC_LIN_MAX_CAP = 3,     /* buffered values in the packed state */
    LFC_LIN_MAX_VALUE = 63,  /* values sent: 1..63 (6 bits packed) */
};

/* The calls. */
enum lfc_lin_kind {
    LFC_LIN_SEND,
    LFC_LIN_SEND_UNTIL,
    LFC_LIN_TRY_SEND,
    LFC_LIN_RECV,
    LFC_LIN_RECV_UNTIL,
    LFC_LIN_TRY_RECV,
    LFC_LIN_SELECT,
    LFC_LIN_SELECT_UNTIL,
    LFC_LIN_TRY_SELECT,
    LFC_LIN_CLOSE,
    LFC_LIN_LEN,
};

/* How a call waits: decides which pairs may meet and which results are
 * possible. */
enum lfc_lin_mode { LFC_LIN_BLOCK, LFC_LIN_TIMED, LFC_LIN_TRY };

struct lfc_lin_case {
    int dir;   /* LFC_SEND or LFC_RECV */
    int value; /* the value a send case sends (unique in the history) */
};

struct lfc_lin_op {
    /* The call. Plain sends and receives have one case, cases[0]. */
    int kind;   /* enum lfc_lin_kind */
    int biased; /* selects: the _biased form */
    int ncases;
    struct lfc_lin_case cases[LFC_LIN_MAX_CASES];
    int64_t timeout_ns; /* _until: deadline = lfc_now_ns() + this */
    /* What happened. */
    int ret;           /* the call's return: a status, or a select's index */
    int case_status;   /* selects: the completed case's status */
    int got;           /* the value received, 0 if none */
    long len;          /* LFC_LIN_LEN: what lfc_chan_len returned */
    uint64_t inv;      /* counter tick just before the call */
    uint64_t resp;     /* counter tick just after it returned; 0: never */
    int64_t deadline_ns; /* _until: the absolute deadline passed */
    int64_t returned_ns; /* lfc_now_ns() just after the return */
    /* Set by the recorder when the call broke a rule the fields above
     * cannot show (a select wrote a case it did not complete): the
     * history is then rejected with this reason. */
    const char *call_error;
};

struct lfc_lin_history {
    size_t cap;    /* the channel's capacity */
    int nthreads;
    int nops[LFC_LIN_MAX_THREADS];
    struct lfc_lin_op ops[LFC_LIN_MAX_THREADS][LFC_LIN_MAX_OPS];
};

/* ---- what an op did, in the model's terms ------------------------------ */

enum lfc_lin_effect_kind {
    LFC_LIN_E_INVALID, /* no sequential channel returns this */
    LFC_LIN_E_NONE,    /* completed nothing (AGAIN, TIMEDOUT) */
    LFC_LIN_E_SEND_OK,
    LFC_LIN_E_SEND_CLOSED,
    LFC_LIN_E_RECV_OK,
    LFC_LIN_E_RECV_CLOSED,
    LFC_LIN_E_CLOSE_OK,
    LFC_LIN_E_CLOSE_CLOSED,
    LFC_LIN_E_LEN,
};

struct lfc_lin_effect {
    int kind;        /* enum lfc_lin_effect_kind */
    int value;       /* SEND_OK, RECV_OK: the value; LEN: the length */
    int mode;        /* enum lfc_lin_mode of the call */
    const char *why; /* INVALID: what is wrong */
};

static inline const char *
lfc_lin_kind_name(int kind)
{
    static const char *const names[] = {
        "send",       "send_until",   "try_send",   "recv",
        "recv_until", "try_recv",     "select",     "select_until",
        "try_select", "close",        "len",
    };
    if (kind < 0 || kind > LFC_LIN_LEN)
        return "?";
    return names[kind];
}

static inline int
lfc_lin_mode_of(int kind)
{
    switch (kind) {
    case LFC_LIN_SEND:
    case LFC_LIN_RECV:
    case LFC_LIN_SELECT:
        return LFC_LIN_BLOCK;
    case LFC_LIN_SEND_UNTIL:
    case LFC_LIN_RECV_UNTIL:
    case LFC_LIN_SELECT_UNTIL:
        return LFC_LIN_TIMED;
    default:
        return LFC_LIN_TRY; /* try_*, and close and len never wait */
    }
}

static inline bool
lfc_lin_is_select(int kind)
{
    return kind == LFC_LIN_SELECT || kind == LFC_LIN_SELECT_UNTIL ||
           kind == LFC_LIN_TRY_SELECT;
}

static inline struct lfc_lin_effect
lfc_lin_invalid(int mode, const char *why)
{
    struct lfc_lin_effect e = {LFC_LIN_E_INVALID, 0, mode, why};
    return e;
}

/* The effect of completing case c with status st (and value got). */
static inline struct lfc_lin_effect
lfc_lin_case_effect(const struct lfc_lin_op *op, int c, int st, int mode)
{
    struct lfc_lin_effect e = {LFC_LIN_E_INVALID, 0, mode, NULL};
    int send = op->cases[c].dir == LFC_SEND;
    if (st == LFC_OK) {
        e.kind = send ? LFC_LIN_E_SEND_OK : LFC_LIN_E_RECV_OK;
        e.value = send ? op->cases[c].value : op->got;
        if (!send && (op->got < 1 || op->got > LFC_LIN_MAX_VALUE))
            return lfc_lin_invalid(mode, "received a value nobody sent");
    } else if (st == LFC_CLOSED) {
        e.kind = send ? LFC_LIN_E_SEND_CLOSED : LFC_LIN_E_RECV_CLOSED;
    } else {
        return lfc_lin_invalid(mode, "a completed case's status is neither "
                                     "LFC_OK nor LFC_CLOSED");
    }
    return e;
}

/* The "nothing done" status a call of this mode may return. */
static inline struct lfc_lin_effect
lfc_lin_none_effect(const struct lfc_lin_op *op, int st, int mode)
{
    if (mode == LFC_LIN_BLOCK)
        return lfc_lin_invalid(mode, "a blocking call returned without "
                                     "completing");
    if (mode == LFC_LIN_TRY && st != LFC_AGAIN)
        return lfc_lin_invalid(mode, "a try call returned neither LFC_OK, "
                                     "LFC_CLOSED nor LFC_AGAIN");
    if (mode == LFC_LIN_TIMED) {
        if (st != LFC_TIMEDOUT)
            return lfc_lin_invalid(mode, "a timed call returned neither "
                                         "LFC_OK, LFC_CLOSED nor "
                                         "LFC_TIMEDOUT");
        if (op->returned_ns < op->deadline_ns)
            return lfc_lin_invalid(mode, "LFC_TIMEDOUT before the deadline");
    }
    struct lfc_lin_effect e = {LFC_LIN_E_NONE, 0, mode, NULL};
    return e;
}

/* What op did, or INVALID with the reason. */
static inline struct lfc_lin_effect
lfc_lin_effect_of(const struct lfc_lin_op *op)
{
    int mode = lfc_lin_mode_of(op->kind);
    struct lfc_lin_effect e = {LFC_LIN_E_INVALID, 0, mode, NULL};

    if (op->resp == 0)
        return lfc_lin_invalid(mode, "the call never returned");
    if (op->call_error)
        return lfc_lin_invalid(mode, op->call_error);
    if (op->kind == LFC_LIN_CLOSE) {
        if (op->ret != LFC_OK && op->ret != LFC_CLOSED)
            return lfc_lin_invalid(mode, "close returned neither LFC_OK nor "
                                         "LFC_CLOSED");
        e.kind = op->ret == LFC_OK ? LFC_LIN_E_CLOSE_OK
                                   : LFC_LIN_E_CLOSE_CLOSED;
        return e;
    }
    if (op->kind == LFC_LIN_LEN) {
        if (op->len < 0 || op->len > LFC_LIN_MAX_CAP)
            return lfc_lin_invalid(mode, "len out of range");
        e.kind = LFC_LIN_E_LEN;
        e.value = (int)op->len;
        return e;
    }
    if (lfc_lin_is_select(op->kind)) {
        if (op->ret >= 0 && op->ret < op->ncases)
            return lfc_lin_case_effect(op, op->ret, op->case_status, mode);
        if (op->ret >= 0)
            return lfc_lin_invalid(mode, "select index out of range");
        return lfc_lin_none_effect(op, op->ret, mode);
    }
    if (op->ret == LFC_OK || op->ret == LFC_CLOSED)
        return lfc_lin_case_effect(op, 0, op->ret, mode);
    return lfc_lin_none_effect(op, op->ret, mode);
}

/* ---- the search --------------------------------------------------------- */

/* A configuration: how many ops of each thread are placed, and the
 * sequential channel's state after them. */
struct lfc_lin_conf {
    uint8_t done[LFC_LIN_MAX_THREADS];
    /* The cases of thread t's next op placed so far (a select that
     * completed nothing, placed case by case). */
    uint8_t cases[LFC_LIN_MAX_THREADS];
    uint8_t buf[LFC_LIN_MAX_CAP]; /* oldest first */
    uint8_t len;
    uint8_t closed;
};

enum { LFC_LIN_MEMO_SIZE = 1 << 15 }; /* failed configurations, per search */

struct lfc_lin_checker {
    const struct lfc_lin_history *h;
    struct lfc_lin_effect eff[LFC_LIN_MAX_THREADS][LFC_LIN_MAX_OPS];
    /* Who sent and who received each value: thread * 8 + op, or -1. */
    int sender[LFC_LIN_MAX_VALUE + 1];
    int receiver[LFC_LIN_MAX_VALUE + 1];
    /* Failed configurations: open addressing, valid where gen matches. */
    uint64_t memo_key[LFC_LIN_MEMO_SIZE];
    uint32_t memo_gen[LFC_LIN_MEMO_SIZE];
    uint32_t gen;
    unsigned memo_used;
    /* For the report: the configuration that placed the most ops. */
    struct lfc_lin_conf best;
    int best_placed;
    unsigned long steps; /* configurations explored, all searches */
    bool atomic_select;  /* a select that did nothing: all cases at once */
    char why[256];       /* the verdict's reason when rejected */
};

static inline uint64_t
lfc_lin_pack(const struct lfc_lin_conf *c)
{
    uint64_t k = 0;
    for (int t = 0; t < LFC_LIN_MAX_THREADS; t++)
        k |= (uint64_t)c->done[t] << (3 * t);
    for (int i = 0; i < LFC_LIN_MAX_CAP; i++)
        k |= (uint64_t)c->buf[i] << (16 + 6 * i);
    k |= (uint64_t)c->len << 40;
    k |= (uint64_t)c->closed << 43;
    for (int t = 0; t < LFC_LIN_MAX_THREADS; t++)
        k |= (uint64_t)c->cases[t] << (44 + 2 * t);
    return k;
}

static inline uint32_t
lfc_lin_memo_slot(uint64_t k)
{
    k ^= k >> 29;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 32;
    return (uint32_t)k & (LFC_LIN_MEMO_SIZE - 1);
}

static inline bool
lfc_lin_memo_has(const struct lfc_lin_checker *ck, uint64_t k)
{
    for (uint32_t i = lfc_lin_memo_slot(k);; i = (i + 1) &
                                             (LFC_LIN_MEMO_SIZE - 1)) {
        if (ck->memo_gen[i] != ck->gen)
            return false;
        if (ck->memo_key[i] == k)
            return true;
    }
}

static inline void
lfc_lin_memo_add(struct lfc_lin_checker *ck, uint64_t k)
{
    /* Half full: stop caching. The search stays correct, only slower. */
    if (ck->memo_used >= LFC_LIN_MEMO_SIZE / 2)
        return;
    uint32_t i = lfc_lin_memo_slot(k);
    while (ck->memo_gen[i] == ck->gen)
        i = (i + 1) & (LFC_LIN_MEMO_SIZE - 1);
    ck->memo_gen[i] = ck->gen;
    ck->memo_key[i] = k;
    ck->memo_used++;
}

static inline const struct lfc_lin_op *
lfc_lin_op_at(const struct lfc_lin_checker *ck, int t, int i)
{
    return &ck->h->ops[t][i];
}

/* Whether thread t's next op may be placed now: no op still to place
 * precedes it (checking each thread's first unplaced op suffices, as a
 * thread's later ops respond later). */
static inline bool
lfc_lin_minimal(const struct lfc_lin_checker *ck, const struct lfc_lin_conf *c,
                int t)
{
    const struct lfc_lin_op *op = lfc_lin_op_at(ck, t, c->done[t]);
    for (int u = 0; u < ck->h->nthreads; u++) {
        if (u == t || c->done[u] >= ck->h->nops[u])
            continue;
        if (lfc_lin_op_at(ck, u, c->done[u])->resp < op->inv)
            return false;
    }
    return true;
}

/* Whether a case of direction dir could not complete in state c. */
static inline bool
lfc_lin_case_blocked(const struct lfc_lin_checker *ck,
                     const struct lfc_lin_conf *c, int dir)
{
    if (c->closed)
        return false; /* it completes, with LFC_CLOSED or a value */
    if (ck->h->cap == 0)
        return true; /* open: no partner is in the state; see the top */
    return dir == LFC_SEND ? c->len == ck->h->cap : c->len == 0;
}

/* Whether every case of op is blocked in state c ("nothing done"). */
static inline bool
lfc_lin_blocked(const struct lfc_lin_checker *ck, const struct lfc_lin_conf *c,
                const struct lfc_lin_op *op)
{
    for (int i = 0; i < op->ncases; i++) {
        if (!lfc_lin_case_blocked(ck, c, op->cases[i].dir))
            return false;
    }
    return true;
}

/* Whether thread t's next op is a select that did nothing and is placed
 * case by case. */
static inline bool
lfc_lin_by_case(const struct lfc_lin_checker *ck, const struct lfc_lin_conf *c,
                int t)
{
    return !ck->atomic_select && ck->eff[t][c->done[t]].kind ==
                                     LFC_LIN_E_NONE &&
           ck->h->ops[t][c->done[t]].ncases > 1;
}

/* Place case i of thread t's next op (a select that did nothing) in *c if
 * it is blocked there; the op is placed with its last case. */
static inline bool
lfc_lin_step_case(const struct lfc_lin_checker *ck, struct lfc_lin_conf *c,
                  int t, int i)
{
    const struct lfc_lin_op *op = lfc_lin_op_at(ck, t, c->done[t]);
    if ((c->cases[t] >> i) & 1 ||
        !lfc_lin_case_blocked(ck, c, op->cases[i].dir))
        return false;
    c->cases[t] |= (uint8_t)(1u << i);
    if (c->cases[t] == (1u << op->ncases) - 1) {
        c->cases[t] = 0;
        c->done[t]++;
    }
    return true;
}

/*
 * An unbuffered send or receive of thread t that completed with value v:
 * place it together with its partner (the op at the other end of v),
 * which must be the next op of its thread, minimal, and not a try when
 * t's op is one. Returns whether it could; *c is then updated.
 */
static inline bool
lfc_lin_rendezvous(const struct lfc_lin_checker *ck, struct lfc_lin_conf *c,
                   int t, const struct lfc_lin_effect *e)
{
    int peer = e->kind == LFC_LIN_E_SEND_OK ? ck->receiver[e->value]
                                            : ck->sender[e->value];
    int want = e->kind == LFC_LIN_E_SEND_OK ? LFC_LIN_E_RECV_OK
                                            : LFC_LIN_E_SEND_OK;
    if (c->closed || peer < 0)
        return false;
    int u = peer / 8, j = peer % 8;
    if (u == t || c->done[u] != j || !lfc_lin_minimal(ck, c, u))
        return false;
    const struct lfc_lin_effect *pe = &ck->eff[u][j];
    if (pe->kind != want || pe->value != e->value)
        return false;
    if (e->mode == LFC_LIN_TRY && pe->mode == LFC_LIN_TRY)
        return false; /* two calls that never wait do not meet */
    c->done[u]++;
    return true;
}

/* Place thread t's next op in *c if the model allows it there. */
static inline bool
lfc_lin_step(const struct lfc_lin_checker *ck, struct lfc_lin_conf *c, int t)
{
    const struct lfc_lin_op *op = lfc_lin_op_at(ck, t, c->done[t]);
    const struct lfc_lin_effect *e = &ck->eff[t][c->done[t]];
    size_t cap = ck->h->cap;

    switch (e->kind) {
    case LFC_LIN_E_NONE:
        if (!lfc_lin_blocked(ck, c, op))
            return false;
        break;
    case LFC_LIN_E_SEND_OK:
        if (cap == 0) {
            if (!lfc_lin_rendezvous(ck, c, t, e))
                return false;
            break;
        }
        if (c->closed || c->len >= cap)
            return false;
        c->buf[c->len++] = (uint8_t)e->value;
        break;
    case LFC_LIN_E_RECV_OK:
        if (cap == 0) {
            if (!lfc_lin_rendezvous(ck, c, t, e))
                return false;
            break;
        }
        if (c->len == 0 || c->buf[0] != e->value)
            return false;
        memmove(c->buf, c->buf + 1, --c->len);
        c->buf[c->len] = 0;
        break;
    case LFC_LIN_E_SEND_CLOSED:
    case LFC_LIN_E_CLOSE_CLOSED:
        if (!c->closed)
            return false;
        break;
    case LFC_LIN_E_RECV_CLOSED:
        if (!c->closed || c->len != 0)
            return false;
        break;
    case LFC_LIN_E_CLOSE_OK:
        if (c->closed)
            return false;
        c->closed = 1;
        break;
    case LFC_LIN_E_LEN:
        if (c->len != e->value)
            return false;
        break;
    default:
        return false;
    }
    c->done[t]++;
    return true;
}

static inline int
lfc_lin_placed(const struct lfc_lin_checker *ck, const struct lfc_lin_conf *c)
{
    int n = 0;
    for (int t = 0; t < ck->h->nthreads; t++)
        n += c->done[t];
    return n;
}

static inline bool
lfc_lin_search(struct lfc_lin_checker *ck, const struct lfc_lin_conf *c,
               int total)
{
    int placed = lfc_lin_placed(ck, c);
    ck->steps++;
    if (placed == total)
        return true;
    if (placed > ck->best_placed) {
        ck->best_placed = placed;
        ck->best = *c;
    }
    uint64_t k = lfc_lin_pack(c);
    if (lfc_lin_memo_has(ck, k))
        return false;
    for (int t = 0; t < ck->h->nthreads; t++) {
        if (c->done[t] >= ck->h->nops[t] || !lfc_lin_minimal(ck, c, t))
            continue;
        if (lfc_lin_by_case(ck, c, t)) {
            int n = lfc_lin_op_at(ck, t, c->done[t])->ncases;
            for (int i = 0; i < n; i++) {
                struct lfc_lin_conf next = *c;
                if (lfc_lin_step_case(ck, &next, t, i) &&
                    lfc_lin_search(ck, &next, total))
                    return true;
            }
            continue;
        }
        struct lfc_lin_conf next = *c;
        if (lfc_lin_step(ck, &next, t) && lfc_lin_search(ck, &next, total))
            return true;
    }
    lfc_lin_memo_add(ck, k);
    return false;
}

/* Fills ck->eff, ck->sender and ck->receiver; false (with ck->why) if a
 * result is impossible before any ordering is considered. */
static inline bool
lfc_lin_prepare(struct lfc_lin_checker *ck)
{
    const struct lfc_lin_history *h = ck->h;
    for (int v = 0; v <= LFC_LIN_MAX_VALUE; v++)
        ck->sender[v] = ck->receiver[v] = -1;
    for (int t = 0; t < h->nthreads; t++) {
        for (int i = 0; i < h->nops[t]; i++) {
            const struct lfc_lin_op *op = &h->ops[t][i];
            for (int c = 0; c < op->ncases; c++) {
                if (op->cases[c].dir == LFC_SEND)
                    ck->sender[op->cases[c].value] = t * 8 + i;
            }
        }
    }
    for (int t = 0; t < h->nthreads; t++) {
        for (int i = 0; i < h->nops[t]; i++) {
            struct lfc_lin_effect e = lfc_lin_effect_of(&h->ops[t][i]);
            if (e.kind == LFC_LIN_E_RECV_OK) {
                if (ck->sender[e.value] < 0)
                    e = lfc_lin_invalid(e.mode, "received a value nobody "
                                                "sent");
                else if (ck->receiver[e.value] >= 0)
                    e = lfc_lin_invalid(e.mode, "a value received twice");
                else
                    ck->receiver[e.value] = t * 8 + i;
            }
            ck->eff[t][i] = e;
            if (e.kind == LFC_LIN_E_INVALID) {
                snprintf(ck->why, sizeof(ck->why), "t%d op %d: %s", t, i,
                         e.why);
                return false;
            }
        }
    }
    return true;
}

/*
 * lfc_lin_check - whether history h is linearizable (see the top). ck is
 * scratch space (large: keep it static); on false ck->why says why, and
 * ck->best is the configuration that placed the most ops.
 */
static inline bool
lfc_lin_check(struct lfc_lin_checker *ck, const struct lfc_lin_history *h)
{
    struct lfc_lin_conf start;
    int total = 0;

    ck->h = h;
    ck->why[0] = '\0';
    ck->best_placed = -1;
    memset(&ck->best, 0, sizeof(ck->best));
    if (++ck->gen == 0) { /* wrapped: clear the stale generations */
        memset(ck->memo_gen, 0, sizeof(ck->memo_gen));
        ck->gen = 1;
    }
    ck->memo_used = 0;
    if (!lfc_lin_prepare(ck))
        return false;
    for (int t = 0; t < h->nthreads; t++)
        total += h->nops[t];
    memset(&start, 0, sizeof(start));
    if (lfc_lin_search(ck, &start, total))
        return true;
    snprintf(ck->why, sizeof(ck->why),
             "no linearization: at most %d of %d ops can be ordered",
             ck->best_placed, total);
    return false;
}

/* ---- printing ------------------------------------------------------------ */

static inline void
lfc_lin_print_call(FILE *f, const struct lfc_lin_op *op)
{
    char args[96] = "";
    size_t n = 0;
    if (lfc_lin_is_select(op->kind)) {
        for (int c = 0; c < op->ncases; c++) {
            if (op->cases[c].dir == LFC_SEND)
                n += (size_t)snprintf(args + n, sizeof(args) - n,
                                      "%s[%d] send %d", c ? ", " : "", c,
                                      op->cases[c].value);
            else
                n += (size_t)snprintf(args + n, sizeof(args) - n,
                                      "%s[%d] recv", c ? ", " : "", c);
        }
    } else if (op->ncases > 0 && op->cases[0].dir == LFC_SEND) {
        snprintf(args, sizeof(args), "%d", op->cases[0].value);
    }
    if (op->kind == LFC_LIN_SEND_UNTIL || op->kind == LFC_LIN_RECV_UNTIL ||
        op->kind == LFC_LIN_SELECT_UNTIL) {
        n = strlen(args);
        snprintf(args + n, sizeof(args) - n, "%snow%+" PRId64 "ns",
                 n ? ", " : "", op->timeout_ns);
    }
    fprintf(f, "%s%s(%s)", lfc_lin_kind_name(op->kind),
            op->biased ? "_biased" : "", args);
}

static inline void
lfc_lin_print_result(FILE *f, const struct lfc_lin_op *op)
{
    if (op->resp == 0) {
        fprintf(f, "(never returned)");
        return;
    }
    if (op->kind == LFC_LIN_LEN) {
        fprintf(f, "%ld", op->len);
        return;
    }
    int st = op->ret;
    if (lfc_lin_is_select(op->kind) && op->ret >= 0) {
        fprintf(f, "case %d ", op->ret);
        st = op->case_status;
    }
    fprintf(f, "%s", st == LFC_OK ? "LFC_OK" : lfc_strerror(st));
    bool recv = op->ncases > 0 &&
                (lfc_lin_is_select(op->kind)
                     ? op->ret >= 0 && op->ret < op->ncases &&
                           op->cases[op->ret].dir == LFC_RECV
                     : op->cases[0].dir == LFC_RECV);
    if (recv && st == LFC_OK)
        fprintf(f, ", got %d", op->got);
    if (op->ret == LFC_TIMEDOUT)
        fprintf(f, " (returned %+" PRId64 "ns after the deadline)",
                op->returned_ns - op->deadline_ns);
}

/*
 * lfc_lin_print - the whole history, one line per op: thread, op number,
 * [inv, resp] ticks, call, result; then, if ck is given (after a
 * rejection), its reason and the configuration that placed the most ops.
 */
static inline void
lfc_lin_print(FILE *f, const struct lfc_lin_history *h,
              const struct lfc_lin_checker *ck)
{
    uint64_t base = UINT64_MAX;
    for (int t = 0; t < h->nthreads; t++)
        for (int i = 0; i < h->nops[t]; i++)
            if (h->ops[t][i].inv < base)
                base = h->ops[t][i].inv;
    fprintf(f, "  capacity %zu, %d threads; [inv, resp] are ticks of one "
               "counter (a precedes b iff a.resp < b.inv)\n",
            h->cap, h->nthreads);
    for (int t = 0; t < h->nthreads; t++) {
        for (int i = 0; i < h->nops[t]; i++) {
            const struct lfc_lin_op *op = &h->ops[t][i];
            fprintf(f, "  t%d.%d [%4" PRIu64 ", %4" PRIu64 "] ", t, i,
                    op->inv - base, op->resp ? op->resp - base : 0);
            lfc_lin_print_call(f, op);
            fprintf(f, " -> ");
            lfc_lin_print_result(f, op);
            fprintf(f, "\n");
        }
    }
    if (!ck || !ck->why[0])
        return;
    fprintf(f, "  verdict: %s\n", ck->why);
    if (ck->best_placed < 0)
        return;
    fprintf(f, "  most ops placed:");
    for (int t = 0; t < h->nthreads; t++)
        fprintf(f, " t%d:%d/%d", t, ck->best.done[t], h->nops[t]);
    fprintf(f, ", then the channel holds [");
    for (int i = 0; i < ck->best.len; i++)
        fprintf(f, "%s%d", i ? " " : "", ck->best.buf[i]);
    fprintf(f, "] and is %s\n", ck->best.closed ? "closed" : "open");
}

#endif /* LFC_LINCHECK_H */
