/* SPDX-License-Identifier: MIT */
/*
 * Linearizability checking of channels (include/lfchan/chan.h,
 * "Linearizability"; include/lfchan/select.h): threads run short random
 * programs of channel calls on one channel, each call recorded with its
 * arguments, result and two ticks of a global counter, and the checker of
 * tests/support/lfc_lincheck.h searches for an order of the calls that
 * respects real time and that a sequential Go channel of the same
 * capacity accepts.
 *
 * A history: capacity 0, 1 or 2; 3 or 4 worker threads of 3 to 5 calls
 * each, drawn from lfc_send, lfc_recv, the try_ and _until forms (the
 * deadline now-1us, now, or now+1..100us), lfc_select, lfc_try_select and
 * lfc_select_until (fair or biased, one or two cases on the channel, either
 * direction), lfc_close and lfc_chan_len; every value sent is unique. So
 * that every history ends, the main thread closes the channel (a recorded
 * call, thread t4) once each worker has finished or sleeps in a blocking
 * call (the park hook says so, lfc_test_futex.h); a call still not
 * returned LFC_TEST_STUCK_NS later is a lost wake-up and fails the test.
 *
 * The checker is itself checked, in this binary: hand-written histories
 * it must accept or reject (the model's rules one by one), and broken
 * channels (wrappers over lfchan that fail a try spuriously, drop a sent
 * value, reorder received ones, or stop draining at close) whose random
 * histories it must reject.
 *
 * Environment:
 *   LFC_LINCHECK_HISTORIES=n  histories of the lfchan run (default 30000,
 *                             times LFC_TEST_SCALE)
 *   LFC_LINCHECK_SEED=s       the run's seed (default: from the clock;
 *                             printed at the start). History i's program
 *                             comes from a seed derived from s and i.
 *   LFC_LINCHECK_ATOMIC_SELECT=1  hold selects that complete nothing to
 *                             Go's rule (all cases blocked at one instant)
 *                             rather than lfchan's (each at its own; see
 *                             lfc_lincheck.h): lfchan fails it.
 *   LFC_LINCHECK_PLAN=h       run only the program of history seed h (as
 *                             printed with a rejected history), every time:
 *                             the schedule differs run to run, so repeat it
 *                             with LFC_LINCHECK_HISTORIES.
 *   LFC_TEST_FILTER / LFC_TEST_SKIP: cmocka test filters.
 * A rejected history is printed in full with the seeds that reproduce its
 * program.
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lfc_lincheck.h"
#include "lfc_park.h"
#include "lfc_test_futex.h"
#include "lfc_test_support.h"
#include "lfchan.h"

enum {
    LIN_WORKERS = 4,            /* threads t0..t3 */
    LIN_CLOSER = LIN_WORKERS,   /* t4: the main thread's final close */
    LIN_PRINT_MAX = 3,          /* rejected histories printed per run */
    LIN_DEFAULT_HISTORIES = 30000,
};

/* ---- the implementations under test -------------------------------------
 *
 * lfchan itself, and broken channels the checker must reject: each wraps
 * lfchan and, on a coin flip of its thread's generator, does one thing a
 * sequential channel never does.
 */
enum lin_impl {
    IMPL_LFCHAN,
    IMPL_SPURIOUS_TRY, /* try_send / try_recv say LFC_AGAIN without trying */
    IMPL_DROP,         /* a send says LFC_OK and enqueues nothing */
    IMPL_REORDER,      /* a receive returns the second value, requeues the
                        * first at the back */
    IMPL_NO_DRAIN,     /* a receive on a closed channel says LFC_CLOSED even
                        * if values are buffered */
};

static const char *const impl_names[] = {
    "lfchan", "spurious try", "dropped send", "reordered receive",
    "no drain after close",
};

static void
call_select(lfc_chan *ch, struct lfc_lin_op *op)
{
    enum { UNTOUCHED = 0x5e1ec7 };
    lfc_case cs[LFC_LIN_MAX_CASES];
    int bufs[LFC_LIN_MAX_CASES];
    int r;

    for (int c = 0; c < op->ncases; c++) {
        bufs[c] = op->cases[c].dir == LFC_SEND ? op->cases[c].value : 0;
        cs[c] = (lfc_case){ch, op->cases[c].dir, &bufs[c], UNTOUCHED};
    }
    switch (op->kind) {
    case LFC_LIN_SELECT:
        r = op->biased ? lfc_select_biased(cs, op->ncases)
                       : lfc_select(cs, op->ncases);
        break;
    case LFC_LIN_SELECT_UNTIL:
        r = op->biased
                ? lfc_select_biased_until(cs, op->ncases, op->deadline_ns)
                : lfc_select_until(cs, op->ncases, op->deadline_ns);
        break;
    default:
        r = op->biased ? lfc_try_select_biased(cs, op->ncases)
                       : lfc_try_select(cs, op->ncases);
        break;
    }
    op->ret = r;
    for (int c = 0; c < op->ncases; c++) {
        bool chosen = c == r;
        if (chosen) {
            op->case_status = cs[c].status;
            if (cs[c].dir == LFC_RECV)
                op->got = bufs[c];
        } else if (cs[c].status != UNTOUCHED ||
                   (cs[c].dir == LFC_RECV && bufs[c] != 0)) {
            op->call_error = "select wrote a case it did not complete";
        }
    }
}

/* Makes op's call on ch and fills in its result fields. */
static void
call_lfchan(lfc_chan *ch, struct lfc_lin_op *op)
{
    int v = op->cases[0].value;
    int out = 0;

    switch (op->kind) {
    case LFC_LIN_SEND:
        op->ret = lfc_send(ch, &v);
        break;
    case LFC_LIN_SEND_UNTIL:
        op->ret = lfc_send_until(ch, &v, op->deadline_ns);
        break;
    case LFC_LIN_TRY_SEND:
        op->ret = lfc_try_send(ch, &v);
        break;
    case LFC_LIN_RECV:
        op->ret = lfc_recv(ch, &out);
        break;
    case LFC_LIN_RECV_UNTIL:
        op->ret = lfc_recv_until(ch, &out, op->deadline_ns);
        break;
    case LFC_LIN_TRY_RECV:
        op->ret = lfc_try_recv(ch, &out);
        break;
    case LFC_LIN_CLOSE:
        op->ret = lfc_close(ch);
        break;
    case LFC_LIN_LEN:
        op->len = (long)lfc_chan_len(ch);
        op->ret = LFC_OK;
        break;
    default:
        call_select(ch, op);
        return;
    }
    op->got = out; /* stays 0 unless a value was received */
}

static bool
is_plain_recv(int kind)
{
    return kind == LFC_LIN_RECV || kind == LFC_LIN_RECV_UNTIL ||
           kind == LFC_LIN_TRY_RECV;
}

static bool
is_plain_send(int kind)
{
    return kind == LFC_LIN_SEND || kind == LFC_LIN_SEND_UNTIL ||
           kind == LFC_LIN_TRY_SEND;
}

/* IMPL_REORDER's receive: with two values to take, keep the second and
 * send the first back behind the rest (lost if that finds no room). */
static void
reordered_recv(lfc_chan *ch, struct lfc_lin_op *op)
{
    int a = 0, b = 0;
    if (lfc_try_recv(ch, &a) != LFC_OK) {
        call_lfchan(ch, op);
        return;
    }
    if (lfc_try_recv(ch, &b) == LFC_OK) {
        (void)lfc_try_send(ch, &a);
        a = b;
    }
    op->ret = LFC_OK;
    op->got = a;
}

static void
call_impl(int impl, lfc_chan *ch, struct lfc_lin_op *op, uint64_t *rng)
{
    bool coin = (lfc_test_xorshift64(rng) >> 17) & 1;

    switch (impl) {
    case IMPL_SPURIOUS_TRY:
        if (coin &&
            (op->kind == LFC_LIN_TRY_SEND || op->kind == LFC_LIN_TRY_RECV)) {
            op->ret = LFC_AGAIN;
            return;
        }
        break;
    case IMPL_DROP:
        if (coin && is_plain_send(op->kind)) {
            op->ret = LFC_OK;
            return;
        }
        break;
    case IMPL_REORDER:
        if (coin && is_plain_recv(op->kind)) {
            reordered_recv(ch, op);
            return;
        }
        break;
    case IMPL_NO_DRAIN:
        if (is_plain_recv(op->kind) && lfc_chan_closed(ch)) {
            op->ret = LFC_CLOSED;
            return;
        }
        break;
    default:
        break;
    }
    call_lfchan(ch, op);
}

/* ---- recording ---------------------------------------------------------- */

/* The real-time order: one tick just before each call and one just after
 * it returns (seq_cst RMWs, so the ticks' order is the order the calls
 * were made and returned in). Starts at 1: resp 0 means "never returned". */
static uint64_t lin_clock;

static uint64_t
lin_tick(void)
{
    return __atomic_add_fetch(&lin_clock, 1, __ATOMIC_SEQ_CST);
}

static void
record_call(int impl, lfc_chan *ch, struct lfc_lin_op *op, uint64_t *rng)
{
    if (lfc_lin_mode_of(op->kind) == LFC_LIN_TIMED)
        op->deadline_ns = lfc_now_ns() + op->timeout_ns;
    op->inv = lin_tick();
    call_impl(impl, ch, op, rng);
    op->resp = lin_tick();
    op->returned_ns = lfc_now_ns();
}

/* ---- programs ------------------------------------------------------------ */

/* splitmix64: history seeds from the run seed, and generator states. */
static uint64_t
lin_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static unsigned
lin_rand(uint64_t *s, unsigned n)
{
    return (unsigned)((lfc_test_xorshift64(s) >> 11) % n);
}

/* Relative deadlines: already passed, now, or up to 100 us ahead. */
static int64_t
lin_timeout(uint64_t *s)
{
    unsigned k = lin_rand(s, 8);
    if (k == 0)
        return -1000;
    if (k == 1)
        return 0;
    return 1000 + (int64_t)lin_rand(s, 100) * 1000;
}

/* Calls and their weights in a program. */
static const struct {
    int kind;
    unsigned weight;
} lin_mix_table[] = {
    {LFC_LIN_SEND, 12},       {LFC_LIN_SEND_UNTIL, 8},
    {LFC_LIN_TRY_SEND, 10},   {LFC_LIN_RECV, 12},
    {LFC_LIN_RECV_UNTIL, 8},  {LFC_LIN_TRY_RECV, 10},
    {LFC_LIN_SELECT, 9},      {LFC_LIN_SELECT_UNTIL, 8},
    {LFC_LIN_TRY_SELECT, 6},  {LFC_LIN_CLOSE, 3},
    {LFC_LIN_LEN, 4},
};

static int
lin_pick_kind(uint64_t *s)
{
    unsigned total = 0, i;
    for (i = 0; i < sizeof(lin_mix_table) / sizeof(lin_mix_table[0]); i++)
        total += lin_mix_table[i].weight;
    unsigned x = lin_rand(s, total);
    for (i = 0; x >= lin_mix_table[i].weight; i++)
        x -= lin_mix_table[i].weight;
    return lin_mix_table[i].kind;
}

static void
lin_gen_op(struct lfc_lin_op *op, uint64_t *s, int *next_value)
{
    memset(op, 0, sizeof(*op));
    op->kind = lin_pick_kind(s);
    if (lfc_lin_is_select(op->kind)) {
        op->biased = (int)lin_rand(s, 2);
        op->ncases = 1 + (int)lin_rand(s, LFC_LIN_MAX_CASES);
        for (int c = 0; c < op->ncases; c++)
            op->cases[c].dir = lin_rand(s, 2) ? LFC_SEND : LFC_RECV;
    } else if (is_plain_send(op->kind)) {
        op->ncases = 1;
        op->cases[0].dir = LFC_SEND;
    } else if (is_plain_recv(op->kind)) {
        op->ncases = 1;
        op->cases[0].dir = LFC_RECV;
    }
    for (int c = 0; c < op->ncases; c++) {
        if (op->cases[c].dir == LFC_SEND)
            op->cases[c].value = (*next_value)++;
    }
    if (lfc_lin_mode_of(op->kind) == LFC_LIN_TIMED)
        op->timeout_ns = lin_timeout(s);
}

/* The program of history seed `seed` into h (results cleared). */
static void
lin_plan(struct lfc_lin_history *h, uint64_t seed)
{
    uint64_t s = lin_mix(seed) | 1;
    int value = 1;

    memset(h, 0, sizeof(*h));
    h->cap = lin_rand(&s, 3);
    h->nthreads = LIN_WORKERS + 1;
    int workers = 3 + (int)lin_rand(&s, 2);
    for (int t = 0; t < workers; t++) {
        h->nops[t] = 3 + (int)lin_rand(&s, 3);
        for (int i = 0; i < h->nops[t]; i++)
            lin_gen_op(&h->ops[t][i], &s, &value);
    }
    h->nops[LIN_CLOSER] = 1;
    h->ops[LIN_CLOSER][0].kind = LFC_LIN_CLOSE;
}

/* ---- the runner -----------------------------------------------------------
 *
 * Four worker threads live for the whole run and meet the main thread at a
 * barrier before each history; they publish where they are in `state`.
 */
enum { W_RUNNING, W_BLOCKING, W_DONE };

struct lin_runner;

struct lin_worker {
    pthread_t thread;
    int id;
    struct lin_runner *run;
    int state;    /* W_*: the worker writes, main polls (atomic) */
    int asleep;   /* set by the park hook on the worker's futex waits */
    uint64_t rng; /* the broken implementations' coins */
};

struct lin_runner {
    int impl;       /* enum lin_impl; main writes it between histories */
    lfc_chan *ch;   /* this history's channel; as impl */
    struct lfc_lin_history h; /* workers fill in their own rows */
    pthread_barrier_t start;  /* main + workers, once per history */
    int quit;                 /* main tells the workers to exit (atomic) */
    struct lin_worker w[LIN_WORKERS];
};

static void
lin_worker_op(struct lin_worker *w, struct lfc_lin_op *op)
{
    if (lfc_lin_mode_of(op->kind) == LFC_LIN_BLOCK) {
        __atomic_store_n(&w->asleep, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&w->state, W_BLOCKING, __ATOMIC_RELEASE);
    } else {
        __atomic_store_n(&w->state, W_RUNNING, __ATOMIC_RELEASE);
    }
    record_call(w->run->impl, w->run->ch, op, &w->rng);
}

static void *
lin_worker_main(void *arg)
{
    struct lin_worker *w = arg;
    struct lin_runner *r = w->run;

    /* The counting park ops note this thread's futex waits here. */
    lfc_test_futex_asleep = &w->asleep;
    for (;;) {
        pthread_barrier_wait(&r->start);
        if (__atomic_load_n(&r->quit, __ATOMIC_ACQUIRE))
            return NULL;
        for (int i = 0; i < r->h.nops[w->id]; i++)
            lin_worker_op(w, &r->h.ops[w->id][i]);
        __atomic_store_n(&w->state, W_DONE, __ATOMIC_RELEASE);
    }
}

static void
lin_runner_start(struct lin_runner *r)
{
    memset(r, 0, sizeof(*r));
    pthread_barrier_init(&r->start, NULL, LIN_WORKERS + 1);
    for (int i = 0; i < LIN_WORKERS; i++) {
        r->w[i].id = i;
        r->w[i].run = r;
        if (pthread_create(&r->w[i].thread, NULL, lin_worker_main,
                           &r->w[i]) != 0)
            fail_msg("pthread_create failed");
    }
}

static void
lin_runner_stop(struct lin_runner *r)
{
    __atomic_store_n(&r->quit, 1, __ATOMIC_RELEASE);
    pthread_barrier_wait(&r->start);
    for (int i = 0; i < LIN_WORKERS; i++)
        pthread_join(r->w[i].thread, NULL);
    pthread_barrier_destroy(&r->start);
}

/* Every worker is done, or (with blocking = true) sleeps in a blocking
 * call: the moment for the final close. */
static bool
lin_workers_quiet(struct lin_runner *r, bool blocking)
{
    for (int i = 0; i < LIN_WORKERS; i++) {
        int st = __atomic_load_n(&r->w[i].state, __ATOMIC_ACQUIRE);
        if (st == W_DONE)
            continue;
        if (!blocking || st != W_BLOCKING ||
            !__atomic_load_n(&r->w[i].asleep, __ATOMIC_ACQUIRE))
            return false;
    }
    return true;
}

/* Waits until lin_workers_quiet(r, blocking); false after
 * LFC_TEST_STUCK_NS. Woken by nothing: each poll rechecks, and yields the
 * CPU to the workers in between. */
static bool
lin_await_quiet(struct lin_runner *r, bool blocking)
{
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    while (!lin_workers_quiet(r, blocking)) {
        if (lfc_now_ns() > end)
            return false;
        sched_yield();
    }
    return true;
}

struct lin_stats {
    unsigned long histories, rejected;
    unsigned long per_cap[3];
    unsigned long effects[LFC_LIN_E_LEN + 1]; /* by effect kind */
    unsigned long stuck; /* histories where a call neither returned nor
                          * slept (counted in rejected too) */
};

static struct lfc_lin_checker lin_checker; /* large: not on a stack */

/* Tallies what the history's calls did, for the run's summary. */
static void
lin_count(struct lin_stats *st, const struct lfc_lin_history *h)
{
    st->histories++;
    st->per_cap[h->cap]++;
    for (int t = 0; t < h->nthreads; t++)
        for (int i = 0; i < h->nops[t]; i++)
            st->effects[lfc_lin_effect_of(&h->ops[t][i]).kind]++;
}

/*
 * Runs the program of history seed `seed` on impl and checks it. Returns
 * whether it was linearizable; prints it when not and `print` is set.
 */
static bool
lin_run_history(struct lin_runner *r, int impl, uint64_t run_seed,
                unsigned long index, uint64_t seed, bool print,
                struct lin_stats *st)
{
    lin_plan(&r->h, seed);
    r->impl = impl;
    r->ch = lfc_chan_new(r->h.cap, sizeof(int));
    assert_non_null(r->ch);
    for (int i = 0; i < LIN_WORKERS; i++) {
        r->w[i].state = W_RUNNING;
        r->w[i].rng = lin_mix(seed + 1 + (uint64_t)i) | 1;
    }
    pthread_barrier_wait(&r->start);

    /* A worker that neither returns nor sleeps in a blocking call is
     * stuck in a call that should not wait, or spins: it fails the
     * history (the close still ends it, so the run goes on). */
    bool stuck = !lin_await_quiet(r, true);
    if (stuck && print) {
        fprintf(stderr,
                "lincheck: %s: a call neither returned nor slept for %.1f "
                "s (a try that blocks, or a wait that spins); run seed %"
                PRIu64 ", history %lu, LFC_LINCHECK_PLAN=%" PRIu64
                ", before the final close:\n",
                impl_names[impl], (double)LFC_TEST_STUCK_NS / 1e9, run_seed,
                index, seed);
        lfc_lin_print(stderr, &r->h, NULL);
    }
    uint64_t closer_rng = 1;
    record_call(impl, r->ch, &r->h.ops[LIN_CLOSER][0], &closer_rng);
    if (!lin_await_quiet(r, false)) {
        fprintf(stderr,
                "lincheck: a call has not returned %.1f s after the "
                "final close (lost wake-up or deadlock); run seed %" PRIu64
                ", history %lu, LFC_LINCHECK_PLAN=%" PRIu64 ", %s:\n",
                (double)LFC_TEST_STUCK_NS / 1e9, run_seed, index, seed,
                impl_names[impl]);
        lfc_lin_print(stderr, &r->h, NULL);
        abort(); /* the stuck worker cannot be joined */
    }
    lfc_chan_free(r->ch);
    r->ch = NULL;

    lin_count(st, &r->h);
    if (stuck) {
        st->stuck++;
        st->rejected++;
        return false;
    }
    if (lfc_lin_check(&lin_checker, &r->h))
        return true;
    st->rejected++;
    if (print) {
        fprintf(stderr,
                "lincheck: %s: history NOT linearizable: run seed "
                "(LFC_LINCHECK_SEED) %" PRIu64 ", history %lu, program "
                "(LFC_LINCHECK_PLAN) %" PRIu64 "\n",
                impl_names[impl], run_seed, index, seed);
        lfc_lin_print(stderr, &r->h, &lin_checker);
    }
    return false;
}

static uint64_t
env_u64(const char *name, uint64_t dflt, bool *set)
{
    const char *s = getenv(name);
    if (set)
        *set = s && *s;
    if (!s || !*s)
        return dflt;
    return strtoull(s, NULL, 0);
}

static uint64_t lin_run_seed; /* main() picks it */
/* LFC_LINCHECK_ATOMIC_SELECT: hold lfchan's selects to Go's rule. */
static bool lin_atomic_select;

static void
lin_print_stats(const char *what, const struct lin_stats *st, double secs)
{
    const unsigned long *e = st->effects;
    fprintf(stderr,
            "lincheck: %s: %lu histories (cap 0/1/2: %lu/%lu/%lu) in %.1f "
            "s, %lu not linearizable; calls: send ok %lu closed %lu, recv "
            "ok %lu closed %lu, nothing done %lu, close ok %lu closed %lu, "
            "len %lu; %lu stuck; %lu search steps\n",
            what, st->histories, st->per_cap[0], st->per_cap[1],
            st->per_cap[2], secs, st->rejected, e[LFC_LIN_E_SEND_OK],
            e[LFC_LIN_E_SEND_CLOSED], e[LFC_LIN_E_RECV_OK],
            e[LFC_LIN_E_RECV_CLOSED], e[LFC_LIN_E_NONE],
            e[LFC_LIN_E_CLOSE_OK], e[LFC_LIN_E_CLOSE_CLOSED],
            e[LFC_LIN_E_LEN], st->stuck, lin_checker.steps);
}

/* ---- the checker on hand-written histories ------------------------------- */

static struct lfc_lin_history hand;

static void
hand_reset(size_t cap)
{
    memset(&hand, 0, sizeof(hand));
    hand.cap = cap;
    hand.nthreads = 3;
}

/* Appends to thread t a call of kind with one case (dir from the kind;
 * value sent or received), returning ret, over ticks [inv, resp]. */
static struct lfc_lin_op *
hand_op(int t, int kind, int value, int ret, uint64_t inv, uint64_t resp)
{
    struct lfc_lin_op *op = &hand.ops[t][hand.nops[t]++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->ret = ret;
    op->inv = inv;
    op->resp = resp;
    if (is_plain_send(kind)) {
        op->ncases = 1;
        op->cases[0] = (struct lfc_lin_case){LFC_SEND, value};
    } else if (is_plain_recv(kind)) {
        op->ncases = 1;
        op->cases[0].dir = LFC_RECV;
        op->got = ret == LFC_OK ? value : 0;
    } else if (kind == LFC_LIN_LEN) {
        op->len = value;
    }
    return op;
}

static void
expect_verdict(bool want, const char *what)
{
    bool got = lfc_lin_check(&lin_checker, &hand);
    if (got != want) {
        fprintf(stderr, "hand-written history '%s':\n", what);
        lfc_lin_print(stderr, &hand, &lin_checker);
        fail_msg("'%s': the checker %s it", what,
                 got ? "accepted" : "rejected");
    }
}

static void
test_lincheck_model_buffered(void **state)
{
    (void)state;
    hand_reset(2);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(0, LFC_LIN_SEND, 2, LFC_OK, 3, 4);
    hand_op(1, LFC_LIN_RECV, 1, LFC_OK, 5, 6);
    hand_op(1, LFC_LIN_RECV, 2, LFC_OK, 7, 8);
    expect_verdict(true, "FIFO");

    hand_reset(2);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(0, LFC_LIN_SEND, 2, LFC_OK, 3, 4);
    hand_op(1, LFC_LIN_RECV, 2, LFC_OK, 5, 6);
    expect_verdict(false, "out of FIFO order");

    hand_reset(2);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 4);
    hand_op(1, LFC_LIN_SEND, 2, LFC_OK, 2, 3);
    hand_op(2, LFC_LIN_RECV, 2, LFC_OK, 5, 6);
    expect_verdict(true, "concurrent sends in either order");

    hand_reset(1);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_TRY_SEND, 2, LFC_AGAIN, 3, 4);
    hand_op(1, LFC_LIN_TRY_RECV, 1, LFC_OK, 5, 6);
    hand_op(1, LFC_LIN_TRY_RECV, 0, LFC_AGAIN, 7, 8);
    expect_verdict(true, "try_send full, try_recv empty");

    hand_reset(1);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_TRY_RECV, 0, LFC_AGAIN, 3, 4);
    expect_verdict(false, "try_recv fails on a value sent before");

    hand_reset(1);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 4);
    hand_op(1, LFC_LIN_TRY_RECV, 0, LFC_AGAIN, 2, 3);
    expect_verdict(true, "try_recv fails beside a send in progress");

    hand_reset(2);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_TRY_SEND, 2, LFC_AGAIN, 3, 4);
    expect_verdict(false, "try_send fails with room");

    hand_reset(2);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_LEN, 1, LFC_OK, 3, 4);
    expect_verdict(true, "len 1");
    hand.ops[1][0].len = 0;
    expect_verdict(false, "len 0 after a send");

    hand_reset(1);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_RECV, 1, LFC_OK, 3, 4);
    hand_op(2, LFC_LIN_RECV, 1, LFC_OK, 5, 6);
    expect_verdict(false, "a value received twice");

    hand_reset(1);
    hand_op(0, LFC_LIN_RECV, 7, LFC_OK, 1, 2);
    expect_verdict(false, "a value nobody sent");
}

static void
test_lincheck_model_close(void **state)
{
    (void)state;
    hand_reset(2);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(0, LFC_LIN_CLOSE, 0, LFC_OK, 3, 4);
    hand_op(1, LFC_LIN_RECV, 1, LFC_OK, 5, 6);
    hand_op(1, LFC_LIN_RECV, 0, LFC_CLOSED, 7, 8);
    hand_op(1, LFC_LIN_SEND, 2, LFC_CLOSED, 9, 10);
    hand_op(1, LFC_LIN_CLOSE, 0, LFC_CLOSED, 11, 12);
    expect_verdict(true, "drain, then closed");

    hand_reset(2);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(0, LFC_LIN_CLOSE, 0, LFC_OK, 3, 4);
    hand_op(1, LFC_LIN_RECV, 0, LFC_CLOSED, 5, 6);
    expect_verdict(false, "closed before drained");

    hand_reset(2);
    hand_op(0, LFC_LIN_CLOSE, 0, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_TRY_SEND, 1, LFC_OK, 3, 4);
    expect_verdict(false, "a send after close");

    hand_reset(2);
    hand_op(0, LFC_LIN_CLOSE, 0, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_TRY_RECV, 0, LFC_AGAIN, 3, 4);
    expect_verdict(false, "try_recv LFC_AGAIN after close");

    hand_reset(0);
    hand_op(0, LFC_LIN_CLOSE, 0, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_CLOSE, 0, LFC_OK, 3, 4);
    expect_verdict(false, "closed twice");
}

static void
test_lincheck_model_unbuffered(void **state)
{
    (void)state;
    hand_reset(0);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 4);
    hand_op(1, LFC_LIN_RECV, 1, LFC_OK, 2, 3);
    expect_verdict(true, "rendezvous");

    hand_reset(0);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    hand_op(1, LFC_LIN_RECV, 1, LFC_OK, 3, 4);
    expect_verdict(false, "a send that returned before its receive began");

    hand_reset(0);
    hand_op(0, LFC_LIN_TRY_SEND, 1, LFC_OK, 1, 4);
    hand_op(1, LFC_LIN_RECV, 1, LFC_OK, 2, 3);
    expect_verdict(true, "try_send to a waiting receiver");

    hand_reset(0);
    hand_op(0, LFC_LIN_TRY_SEND, 1, LFC_OK, 1, 4);
    hand_op(1, LFC_LIN_TRY_RECV, 1, LFC_OK, 2, 3);
    expect_verdict(false, "two try calls meet");

    hand_reset(0);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 10);
    hand_op(1, LFC_LIN_CLOSE, 0, LFC_OK, 2, 3);
    hand_op(2, LFC_LIN_RECV, 1, LFC_OK, 8, 12);
    expect_verdict(false, "a rendezvous after close returned");

    hand_reset(0);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 10);
    hand_op(1, LFC_LIN_CLOSE, 0, LFC_OK, 3, 5);
    hand_op(2, LFC_LIN_RECV, 1, LFC_OK, 2, 12);
    expect_verdict(true, "a rendezvous before a concurrent close");

    hand_reset(0);
    hand_op(0, LFC_LIN_SEND, 1, LFC_CLOSED, 1, 10);
    hand_op(1, LFC_LIN_CLOSE, 0, LFC_OK, 3, 5);
    hand_op(2, LFC_LIN_RECV, 0, LFC_CLOSED, 2, 12);
    expect_verdict(true, "close ends a waiting pair");

    hand_reset(0);
    hand_op(0, LFC_LIN_SEND, 1, LFC_CLOSED, 1, 10);
    hand_op(1, LFC_LIN_LEN, 0, LFC_OK, 2, 3);
    hand_op(2, LFC_LIN_CLOSE, 0, LFC_OK, 4, 5);
    expect_verdict(true, "len 0 unbuffered");
    hand.ops[1][0].len = 1;
    expect_verdict(false, "len 1 unbuffered");
}

static void
test_lincheck_model_timeouts(void **state)
{
    (void)state;
    struct lfc_lin_op *op;

    hand_reset(1);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    op = hand_op(1, LFC_LIN_RECV_UNTIL, 0, LFC_TIMEDOUT, 3, 6);
    op->deadline_ns = 100;
    op->returned_ns = 200;
    expect_verdict(false, "recv_until times out beside a value");

    hand_op(2, LFC_LIN_RECV, 1, LFC_OK, 4, 5);
    expect_verdict(true, "recv_until times out after the value was taken");

    op->returned_ns = 99;
    expect_verdict(false, "LFC_TIMEDOUT before the deadline");

    hand_reset(1);
    hand_op(0, LFC_LIN_RECV, 0, LFC_TIMEDOUT, 1, 2);
    expect_verdict(false, "a blocking recv times out");

    hand_reset(1);
    hand_op(0, LFC_LIN_TRY_RECV, 0, LFC_TIMEDOUT, 1, 2);
    expect_verdict(false, "a try_recv times out");

    hand_reset(1);
    hand_op(0, LFC_LIN_CLOSE, 0, LFC_OK, 1, 2);
    op = hand_op(1, LFC_LIN_SEND_UNTIL, 1, LFC_TIMEDOUT, 3, 4);
    expect_verdict(false, "send_until times out on a closed channel");

    hand_reset(0);
    op = hand_op(0, LFC_LIN_SEND_UNTIL, 1, LFC_TIMEDOUT, 1, 4);
    hand_op(1, LFC_LIN_RECV_UNTIL, 0, LFC_TIMEDOUT, 2, 3);
    expect_verdict(true, "an unbuffered pair that does not meet");
}

static void
test_lincheck_model_select(void **state)
{
    (void)state;
    struct lfc_lin_op *op;

    /* The buffer is full: a select with a send case and a receive case
     * can complete the receive, so "none ready" is wrong. */
    hand_reset(1);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    op = hand_op(1, LFC_LIN_TRY_SELECT, 0, LFC_AGAIN, 3, 4);
    op->ncases = 2;
    op->cases[0] = (struct lfc_lin_case){LFC_SEND, 2};
    op->cases[1] = (struct lfc_lin_case){LFC_RECV, 0};
    expect_verdict(false, "try_select: none ready beside a value");

    op->ncases = 1;
    expect_verdict(true, "try_select: a send case on a full channel");

    op->ncases = 2;
    op->ret = 1;
    op->case_status = LFC_OK;
    op->got = 1;
    expect_verdict(true, "try_select receives");

    op->ret = 0;
    expect_verdict(false, "try_select sends into a full channel");

    /* Unbuffered: a select never meets itself. */
    hand_reset(0);
    op = hand_op(0, LFC_LIN_SELECT, 0, 1, 1, 2);
    op->ncases = 2;
    op->cases[0] = (struct lfc_lin_case){LFC_SEND, 1};
    op->cases[1] = (struct lfc_lin_case){LFC_RECV, 0};
    op->case_status = LFC_OK;
    op->got = 1;
    expect_verdict(false, "a select receives its own send");

    op->ret = 2;
    expect_verdict(false, "a select index out of range");

    /* Full, then empty: each case of the select was blocked at some
     * instant, never both at once. lfchan's rule accepts it, Go's (atomic)
     * does not. */
    hand_reset(1);
    hand_op(0, LFC_LIN_SEND, 1, LFC_OK, 1, 2);
    op = hand_op(1, LFC_LIN_TRY_SELECT, 0, LFC_AGAIN, 3, 8);
    op->ncases = 2;
    op->cases[0] = (struct lfc_lin_case){LFC_SEND, 2};
    op->cases[1] = (struct lfc_lin_case){LFC_RECV, 0};
    hand_op(2, LFC_LIN_RECV, 1, LFC_OK, 4, 5);
    expect_verdict(true, "select: each case blocked at its own instant");
    lin_checker.atomic_select = true;
    expect_verdict(false, "select: no instant with both cases blocked");
    lin_checker.atomic_select = false;
}

/* ---- the checker rejects broken channels ---------------------------------
 *
 * Each broken channel misbehaves on about half of the calls it touches;
 * most of its histories still look linearizable (the misbehaviour must be
 * visible in the order), so up to LIN_BROKEN_MAX histories are run and one
 * rejection is enough. The counts it takes are printed; they stay far
 * below the limit (see the report in the commit message).
 */
enum { LIN_BROKEN_MAX = 20000 };

static struct lin_runner lin_run; /* main() starts and stops it */

static void
expect_rejected(int impl)
{
    struct lin_stats st;
    uint64_t seed = lin_mix(lin_run_seed ^ (0x1000u + (unsigned)impl));
    unsigned long i;

    memset(&st, 0, sizeof(st));
    for (i = 0; i < LIN_BROKEN_MAX; i++) {
        if (!lin_run_history(&lin_run, impl, seed, i, lin_mix(seed + i),
                             false, &st))
            break;
    }
    if (i == LIN_BROKEN_MAX)
        fail_msg("the checker accepted %d histories of a broken channel "
                 "(%s)", LIN_BROKEN_MAX, impl_names[impl]);
    fprintf(stderr, "lincheck: %s rejected after %lu histories, e.g.:\n",
            impl_names[impl], i + 1);
    lfc_lin_print(stderr, &lin_run.h, &lin_checker);
}

static void
test_lincheck_rejects_spurious_try(void **state)
{
    (void)state;
    expect_rejected(IMPL_SPURIOUS_TRY);
}

static void
test_lincheck_rejects_dropped_send(void **state)
{
    (void)state;
    expect_rejected(IMPL_DROP);
}

static void
test_lincheck_rejects_reordered_recv(void **state)
{
    (void)state;
    expect_rejected(IMPL_REORDER);
}

static void
test_lincheck_rejects_no_drain(void **state)
{
    (void)state;
    expect_rejected(IMPL_NO_DRAIN);
}

/* ---- lfchan ----------------------------------------------------------------- */

static void
test_lincheck_lfchan(void **state)
{
    (void)state;
    struct lin_stats st;
    bool fixed_plan;
    uint64_t plan = env_u64("LFC_LINCHECK_PLAN", 0, &fixed_plan);
    unsigned long n = (unsigned long)env_u64(
        "LFC_LINCHECK_HISTORIES",
        (uint64_t)lfc_test_scaled(LIN_DEFAULT_HISTORIES, 500), NULL);
    int64_t t0 = lfc_now_ns();

    memset(&st, 0, sizeof(st));
    lin_checker.atomic_select = lin_atomic_select;
    for (unsigned long i = 0; i < n; i++) {
        uint64_t seed = fixed_plan ? plan : lin_mix(lin_run_seed + i);
        lin_run_history(&lin_run, IMPL_LFCHAN, lin_run_seed, i, seed,
                        st.rejected < LIN_PRINT_MAX, &st);
        if (st.rejected >= LIN_PRINT_MAX)
            break;
    }
    lin_checker.atomic_select = false;
    lin_print_stats("lfchan", &st, (double)(lfc_now_ns() - t0) / 1e9);
    if (st.rejected)
        fail_msg("%lu histories of lfchan are not linearizable (printed "
                 "above)", st.rejected);
}

static int
lin_setup(void **state)
{
    (void)state;
    lin_runner_start(&lin_run);
    return 0;
}

static int
lin_teardown(void **state)
{
    (void)state;
    lin_runner_stop(&lin_run);
    return 0;
}

int
main(void)
{
    bool set;
    lfc_test_alarm(LFC_TEST_ALARM_S);
    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    if (getenv("LFC_TEST_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("LFC_TEST_SKIP"));
    lin_run_seed = env_u64("LFC_LINCHECK_SEED", 0, &set);
    lin_atomic_select = env_u64("LFC_LINCHECK_ATOMIC_SELECT", 0, NULL) != 0;
    if (!set)
        lin_run_seed = lin_mix((uint64_t)lfc_now_ns() ^ (uint64_t)getpid());
    fprintf(stderr, "lincheck: run seed LFC_LINCHECK_SEED=%" PRIu64 "\n",
            lin_run_seed);
    /* The counting park ops tell the main thread when a worker sleeps. */
    lfc__park_set_ops(&lfc_test_counting_ops);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lincheck_model_buffered),
        cmocka_unit_test(test_lincheck_model_close),
        cmocka_unit_test(test_lincheck_model_unbuffered),
        cmocka_unit_test(test_lincheck_model_timeouts),
        cmocka_unit_test(test_lincheck_model_select),
        cmocka_unit_test(test_lincheck_rejects_spurious_try),
        cmocka_unit_test(test_lincheck_rejects_dropped_send),
        cmocka_unit_test(test_lincheck_rejects_reordered_recv),
        cmocka_unit_test(test_lincheck_rejects_no_drain),
        cmocka_unit_test(test_lincheck_lfchan),
    };
    return cmocka_run_group_tests(tests, lin_setup, lin_teardown);
}
