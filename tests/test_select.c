/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan select (include/lfchan/select.h): lfc_select,
 * lfc_try_select, lfc_select_until, their _biased variants, and
 * lfc_send_ctx / lfc_recv_ctx.
 *
 * The header is the contract; every expectation below cites one of its
 * rules: exactly one case completes (the others consume and enqueue
 * nothing), NULL channels are never ready, the same channel may appear
 * several times, a select never pairs with itself, closed channels
 * complete cases with LFC_CLOSED, fairness (and the biased variants'
 * array order), blocking until another thread acts, deadlines never
 * early, and the argument checks.
 *
 * Scenarios adapted from Go's runtime/chan_test.go (TestSelfSelect: a
 * select with a send and a receive on one channel never pairs with
 * itself; TestSelectFairness: a uniform choice among ready cases;
 * TestNonblockSelectRace: a select racing a close; TestSelectDuplicateChannel)
 * and crossbeam-channel's tests/select.rs (both_ready, cloned, timeout,
 * disconnected, preflight, fairness1, stress_mixed: two selects on crossing
 * cases pair consistently), rewritten in C. The ctx tests follow Go's
 * select-on-ctx.Done() idiom, which lfc_send_ctx / lfc_recv_ctx package.
 *
 * Rules kept here:
 *   - cmocka assertions run only on the test's own thread; helper threads
 *     record what they saw and the test thread checks it after joining.
 *   - Every blocking call made by a helper is waited for with a bound; a
 *     call still blocked then is rescued by closing its channels, and the
 *     test fails saying what it saw.
 *   - A helper is known to be blocked in its call once it sleeps in a
 *     futex wait there (lfc_test_async.h's park hook), not after a sleep
 *     that is usually long enough; a call that must meet a parked partner
 *     is made once, not polled until it works. Every test also runs under a watchdog
 *     (tests/support), and the binary under an alarm, so a lost wake-up
 *     fails within seconds instead of hanging CI.
 *   - Timing checks assert lower bounds exactly (a deadline never fires
 *     early) and no upper bounds: what must happen is waited for up to
 *     LFC_TEST_STUCK_NS (tests/support), which only a lost wake-up
 *     reaches, on a loaded host or under a sanitizer too. Fairness bounds are
 *     statistical but wide: 20% around the mean over 10^4 to 10^5 draws is
 *     more than 30 standard deviations.
 *   - Sizes scale with LFC_TEST_SCALE (see lfc_test_support.h), except the
 *     fairness draws, whose count is the issue's.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define US LFC_TEST_US
#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* How long a helper's call may take before the test calls it stuck. */
#define STUCK_NS LFC_TEST_STUCK_NS
/* The short deadline of the timeout tests. */
#define SHORT_NS LFC_TEST_SHORT_NS

/* A status no lfchan call writes: a case whose status still holds it was
 * not completed. */
#define UNTOUCHED 0x5e1ec7
/* What a receive buffer holds before a receive that must not touch it. */
#define POISON UINT64_C(0xdeadbeefcafef00d)

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* Reproducible across runs. */
static uint64_t
rng(void)
{
    return lfc_test_xorshift64(&rng_state);
}

static lfc_chan *
chan_new(size_t cap)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(uint64_t));
    assert_non_null(ch);
    return ch;
}

/* Buffers v in ch, which must have room. */
static void
put(lfc_chan *ch, uint64_t v)
{
    assert_status(lfc_try_send(ch, &v), LFC_OK);
}

/* Takes the value ch must have ready. */
static uint64_t
take(lfc_chan *ch)
{
    uint64_t v = POISON;
    assert_status(lfc_try_recv(ch, &v), LFC_OK);
    return v;
}

static void
set_case(lfc_case *c, lfc_chan *ch, int dir, void *buf)
{
    c->ch = ch;
    c->dir = dir;
    c->buf = buf;
    c->status = UNTOUCHED;
}

static void
reset_status(lfc_case *c, int n)
{
    for (int i = 0; i < n; i++)
        c[i].status = UNTOUCHED;
}

/* Only case `done` (or none, for -1) may have had its status written. */
static void
assert_statuses_untouched_but(const lfc_case *c, int n, int done)
{
    for (int i = 0; i < n; i++)
        if (i != done && c[i].status != UNTOUCHED)
            fail_msg("case %d of %d: status written (%d) but case %d "
                     "completed",
                     i, n, c[i].status, done);
}

/* The six select calls, so every rule can be checked on each. */
enum sel_kind {
    SK_TRY,
    SK_TRY_BIASED,
    SK_SEL,
    SK_SEL_BIASED,
    SK_UNTIL,
    SK_UNTIL_BIASED,
    SK_N
};

static const char *const sk_names[SK_N] = {
    "lfc_try_select",    "lfc_try_select_biased", "lfc_select",
    "lfc_select_biased", "lfc_select_until",      "lfc_select_biased_until",
};

static bool
sk_blocks(int k)
{
    return k == SK_SEL || k == SK_SEL_BIASED || k == SK_UNTIL ||
           k == SK_UNTIL_BIASED;
}

static int
sel_call(int k, lfc_case *c, int n, int64_t deadline)
{
    switch (k) {
    case SK_TRY:
        return lfc_try_select(c, n);
    case SK_TRY_BIASED:
        return lfc_try_select_biased(c, n);
    case SK_SEL:
        return lfc_select(c, n);
    case SK_SEL_BIASED:
        return lfc_select_biased(c, n);
    case SK_UNTIL:
        return lfc_select_until(c, n, deadline);
    case SK_UNTIL_BIASED:
        return lfc_select_biased_until(c, n, deadline);
    default:
        return 1000; /* not a status, not an index the tests expect */
    }
}

/* A call with cases that are ready: every kind completes one at once. The
 * _until kinds get a far deadline. */
static int
sel_ready(int k, lfc_case *c, int n)
{
    return sel_call(k, c, n, lfc_now_ns() + STUCK_NS);
}

/*
 * One call run on a helper thread (lfc_test_async.h), so the test thread
 * can watch it block, wake it and check the result: a select of any kind,
 * or a plain or ctx channel call to be the select's partner.
 */
enum { OP_SEND = SK_N, OP_RECV, OP_SEND_CTX, OP_RECV_CTX };

struct op {
    struct lfc_test_async a;
    int kind;         /* an enum sel_kind or OP_* */
    lfc_case *cases;  /* select kinds */
    int n;            /* select kinds */
    int64_t deadline; /* the _until kinds */
    lfc_chan *ch;     /* OP_* kinds */
    void *buf;        /* OP_* kinds */
    lfc_ctx *ctx;     /* OP_*_CTX kinds */
};

static int
op_call(void *arg)
{
    struct op *o = arg;
    switch (o->kind) {
    case OP_SEND:
        return lfc_send(o->ch, o->buf);
    case OP_RECV:
        return lfc_recv(o->ch, o->buf);
    case OP_SEND_CTX:
        return lfc_send_ctx(o->ch, o->buf, o->ctx);
    case OP_RECV_CTX:
        return lfc_recv_ctx(o->ch, o->buf, o->ctx);
    default:
        return sel_call(o->kind, o->cases, o->n, o->deadline);
    }
}

/* Closes every channel the op uses, so that a stuck op can return. */
static void
op_rescue(struct op *o)
{
    if (o->ch != NULL)
        lfc_close(o->ch);
    if (o->ctx != NULL && o->ctx != lfc_ctx_background())
        lfc_ctx_cancel(o->ctx);
    for (int i = 0; i < o->n; i++)
        if (o->cases[i].ch != NULL)
            lfc_close(o->cases[i].ch);
}

static void
op_rescue_cb(void *arg)
{
    op_rescue(arg);
}

static void
op_launch(struct op *o)
{
    struct lfc_test_async_opts opts = {.rescue = op_rescue_cb,
                                       .rescue_arg = o};
    lfc_test_async_start_with(&o->a, op_call, o, &opts);
}

/* Starts a select of kind k on a helper; the _until kinds get `deadline`. */
static void
op_start_sel(struct op *o, int k, lfc_case *c, int n, int64_t deadline)
{
    memset(o, 0, sizeof(*o));
    o->kind = k;
    o->cases = c;
    o->n = n;
    o->deadline = deadline;
    op_launch(o);
}

/* Starts a select of kind k that should block: the _until kinds get a
 * deadline far beyond any bound the test waits for. */
static void
op_start_blocking(struct op *o, int k, lfc_case *c, int n)
{
    op_start_sel(o, k, c, n, lfc_now_ns() + 6 * STUCK_NS);
}

static void
op_start_chan(struct op *o, int kind, lfc_chan *ch, void *buf, lfc_ctx *ctx)
{
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->ch = ch;
    o->buf = buf;
    o->ctx = ctx;
    op_launch(o);
}

static bool
op_done(const struct op *o)
{
    return lfc_test_async_done(&o->a);
}

/*
 * Waits up to `ns` for the call to return, joins it and returns its
 * result. A call still blocked then is rescued by closing its channels
 * (so that the thread can be joined) and the test fails.
 */
static int
op_finish(struct op *o, int64_t ns, const char *what)
{
    return lfc_test_async_join_within(&o->a, ns, what);
}

/* Waits until the op sleeps in its call (the park hook), and checks that
 * it has not returned; if it returned, joins it and fails. */
static void
op_wait_parked(struct op *o, const char *what)
{
    lfc_test_async_wait_parked(&o->a, what);
    lfc_test_async_assert_blocked(&o->a, what);
}

/* The op, parked, stays blocked: after LFC_TEST_SETTLE_NS more (time for
 * something that must not wake it to do so) it still has not returned. */
static void
op_assert_blocked(struct op *o, const char *what)
{
    op_wait_parked(o, what);
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    lfc_test_async_assert_blocked(&o->a, what);
}

/* Starts a select of kind k that should block and returns once it sleeps
 * in the call. */
static void
op_start_parked(struct op *o, int k, lfc_case *c, int n)
{
    op_start_blocking(o, k, c, n);
    op_wait_parked(o, sk_names[k]);
}

static void op_finish_case(struct op *o, int want, int status, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

/*
 * Joins the select op (as op_finish, within STUCK_NS) and checks that it
 * completed case `want`, with `status`, and wrote no other case's status.
 * fmt says what should have completed it; a failure reads "<kind> <fmt>:
 * <what it returned>".
 */
static void
op_finish_case(struct op *o, int want, int status, const char *fmt, ...)
{
    const char *kind = sk_names[o->kind];
    int rc = op_finish(o, STUCK_NS, kind);
    if (rc != want) {
        char why[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        fail_msg("%s %s: %d (%s)", kind, why, rc, lfc_strerror(rc));
    }
    assert_status(o->cases[want].status, status);
    assert_statuses_untouched_but(o->cases, o->n, want);
}

/* The other side of a blocked call, as a plain call that must succeed
 * within STUCK_NS: a send of *v on ch, or (!send) a receive into *v. */
static void
partner_call(lfc_chan *ch, bool send, uint64_t *v)
{
    if (send)
        assert_status(lfc_send_until(ch, v, lfc_now_ns() + STUCK_NS), LFC_OK);
    else
        assert_status(lfc_recv_until(ch, v, lfc_now_ns() + STUCK_NS), LFC_OK);
}

/* Nothing left behind on ch, of capacity cap: no value, and on an
 * unbuffered channel no parked sender or receiver either. */
static void
assert_nothing_left(lfc_chan *ch, size_t cap)
{
    uint64_t x;
    assert_status(lfc_try_recv(ch, &x), LFC_AGAIN);
    if (cap == 0)
        assert_status(lfc_try_send(ch, &x), LFC_AGAIN);
}

/*
 * Per-test watchdog (setup/teardown): a test that makes no progress for
 * 30 s (times lfc_test_timeout_mult()) aborts the binary with a message.
 * Long loops bump g_progress.
 */
static struct lfc_watchdog g_dog;
static unsigned long g_progress;

static int
dog_setup(void **state)
{
    (void)state;
    lfc_watchdog_start(&g_dog, "test_select (the last [ RUN ] test)",
                       &g_progress, 30); /* scaled by the watchdog */
    return 0;
}

static int
dog_teardown(void **state)
{
    (void)state;
    lfc_watchdog_stop(&g_dog);
    return 0;
}

static void
bump(void)
{
    lfc_progress_bump(&g_progress);
}

/* ---- argument checks -------------------------------------------------- */

/* Calls of every kind with bad arguments: LFC_EINVAL, nothing consumed,
 * no status written. `ch` holds one value and has room for more. */
static void
expect_einval_all_kinds(lfc_case *c, int n, lfc_chan *ch, const char *what)
{
    for (int k = 0; k < SK_N; k++) {
        int rc = sel_call(k, c, n, lfc_now_ns() + STUCK_NS);
        if (rc != LFC_EINVAL)
            fail_msg("%s: %s returned %d (%s), want LFC_EINVAL", what,
                     sk_names[k], rc, lfc_strerror(rc));
        if (lfc_chan_len(ch) != 1)
            fail_msg("%s: %s changed the channel (len %zu, want 1)", what,
                     sk_names[k], lfc_chan_len(ch));
        if (c != NULL && n > 0)
            assert_statuses_untouched_but(c, n < 2 ? n : 2, -1);
    }
}

static void
test_select_einval_bad_arguments(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(4);
    put(ch, 7); /* ready for both a send and a receive */
    uint64_t out = POISON;
    uint64_t v = 9;
    lfc_case c[2];

    /* cases NULL with n > 0. */
    expect_einval_all_kinds(NULL, 1, ch, "NULL cases, n=1");
    expect_einval_all_kinds(NULL, 3, ch, "NULL cases, n=3");

    /* n negative, with a ready case in the array. */
    set_case(&c[0], ch, LFC_RECV, &out);
    set_case(&c[1], ch, LFC_SEND, &v);
    expect_einval_all_kinds(c, -1, ch, "n=-1");
    expect_einval_all_kinds(c, INT_MIN, ch, "n=INT_MIN");

    /* A bad dir, on the ready case or beside it. */
    static const int bad_dirs[] = {0, 3, -1, 4, LFC_SEND | LFC_RECV | 4};
    for (size_t i = 0; i < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++) {
        set_case(&c[0], ch, bad_dirs[i], &out);
        set_case(&c[1], ch, LFC_SEND, &v);
        expect_einval_all_kinds(c, 2, ch, "bad dir on case 0");
        set_case(&c[0], ch, LFC_RECV, &out);
        set_case(&c[1], ch, bad_dirs[i], &v);
        expect_einval_all_kinds(c, 2, ch, "bad dir on case 1");
    }

    /* NULL buf with elem_size != 0, either direction, on either case:
     * validation happens before anything completes. */
    set_case(&c[0], ch, LFC_RECV, NULL);
    set_case(&c[1], ch, LFC_SEND, &v);
    expect_einval_all_kinds(c, 2, ch, "NULL recv buf on case 0");
    set_case(&c[0], ch, LFC_RECV, &out);
    set_case(&c[1], ch, LFC_SEND, NULL);
    expect_einval_all_kinds(c, 2, ch, "NULL send buf on case 1");
    set_case(&c[0], ch, LFC_SEND, NULL);
    expect_einval_all_kinds(c, 1, ch, "NULL send buf, n=1");
    assert_true(out == POISON);

    /* A NULL buf is fine on a channel of elem_size 0, and on a NULL ch. */
    lfc_chan *sig = lfc_chan_new(2, 0);
    assert_non_null(sig);
    set_case(&c[0], sig, LFC_SEND, NULL);
    set_case(&c[1], NULL, LFC_RECV, NULL);
    assert_int_equal(lfc_try_select(c, 2), 0);
    assert_status(c[0].status, LFC_OK);
    assert_int_equal(lfc_chan_len(sig), 1);
    set_case(&c[0], NULL, LFC_SEND, NULL);
    set_case(&c[1], sig, LFC_RECV, NULL);
    assert_int_equal(lfc_select(c, 2), 1);
    assert_status(c[1].status, LFC_OK);
    assert_int_equal(lfc_chan_len(sig), 0);

    assert_int_equal(lfc_chan_len(ch), 1);
    assert_true(take(ch) == 7);
    lfc_chan_free(sig);
    lfc_chan_free(ch);
}

/* lfc_select (a blocking call), or lfc_select_until with LFC_FOREVER, with
 * no channel at all: LFC_EINVAL at once rather than blocking forever. Run on a helper so that a select that does
 * block fails the test (the helper is then left behind, on static data). */
static lfc_case no_chan_cases[3];

static void
test_select_einval_no_channel_blocking(void **state)
{
    (void)state;
    /* The _until kinds with LFC_FOREVER would block forever as well. */
    static const int kinds[] = {SK_SEL, SK_SEL_BIASED, SK_UNTIL,
                                SK_UNTIL_BIASED};
    for (int i = 0; i < 3; i++)
        set_case(&no_chan_cases[i], NULL, LFC_RECV, NULL);
    for (size_t k = 0; k < 4; k++) {
        static struct op ops[3]; /* static: a stuck one keeps its memory */
        op_start_sel(&ops[0], kinds[k], no_chan_cases, 3, LFC_FOREVER);
        op_start_sel(&ops[1], kinds[k], no_chan_cases, 0, LFC_FOREVER);
        op_start_sel(&ops[2], kinds[k], NULL, 0, LFC_FOREVER);
        for (int i = 0; i < 3; i++) {
            const char *what = i == 0   ? "3 NULL-channel cases"
                               : i == 1 ? "n=0"
                                        : "cases=NULL, n=0";
            if (!lfc_test_async_wait_done(&ops[i].a, STUCK_NS))
                fail_msg("%s with %s blocked (want LFC_EINVAL at once)",
                         sk_names[kinds[k]], what);
            /* At once: it never slept. */
            if (lfc_test_async_parked(&ops[i].a))
                fail_msg("%s with %s parked before returning",
                         sk_names[kinds[k]], what);
            assert_status(op_finish(&ops[i], STUCK_NS, what), LFC_EINVAL);
        }
        assert_statuses_untouched_but(no_chan_cases, 3, -1);
    }
}

/* try_select with no channel: LFC_AGAIN; select_until with no channel and
 * a finite deadline: waits for it, then LFC_TIMEDOUT. */
static void
test_select_no_channel_try_again_until_timedout(void **state)
{
    (void)state;
    lfc_case c[2];
    set_case(&c[0], NULL, LFC_RECV, NULL);
    set_case(&c[1], NULL, LFC_SEND, NULL);
    assert_status(lfc_try_select(c, 2), LFC_AGAIN);
    assert_status(lfc_try_select(c, 0), LFC_AGAIN);
    assert_status(lfc_try_select(NULL, 0), LFC_AGAIN);
    assert_status(lfc_try_select_biased(c, 2), LFC_AGAIN);
    assert_status(lfc_try_select_biased(NULL, 0), LFC_AGAIN);
    for (int k = SK_UNTIL; k <= SK_UNTIL_BIASED; k++) {
        for (int form = 0; form < 3; form++) {
            int64_t dl = lfc_now_ns() + SHORT_NS;
            int rc = form == 0   ? sel_call(k, c, 2, dl)
                     : form == 1 ? sel_call(k, c, 0, dl)
                                 : sel_call(k, NULL, 0, dl);
            int64_t now = lfc_now_ns();
            assert_status(rc, LFC_TIMEDOUT);
            if (now < dl)
                fail_msg("%s (form %d): LFC_TIMEDOUT %lld ns early",
                         sk_names[k], form, (long long)(dl - now));
        }
        /* A past deadline: at once. */
        assert_status(sel_call(k, c, 2, 0), LFC_TIMEDOUT);
    }
    assert_statuses_untouched_but(c, 2, -1);
}

/* n above LFC_SELECT_MAX is refused; n == LFC_SELECT_MAX is fine. */
static void
test_select_max_cases(void **state)
{
    (void)state;
    int n = LFC_SELECT_MAX;
    lfc_case *c = calloc((size_t)n + 1, sizeof(*c));
    assert_non_null(c);
    lfc_chan *ch = chan_new(4);
    uint64_t out = POISON;
    uint64_t v = 55;
    for (int i = 0; i <= n; i++)
        set_case(&c[i], NULL, LFC_RECV, NULL);

    /* One ready case, at the very end of an array of n+1: refused. */
    put(ch, 1);
    set_case(&c[n], ch, LFC_RECV, &out);
    set_case(&c[0], ch, LFC_RECV, &out);
    expect_einval_all_kinds(c, n + 1, ch, "n = LFC_SELECT_MAX + 1");
    set_case(&c[0], NULL, LFC_RECV, NULL);
    assert_true(out == POISON);

    /* n == LFC_SELECT_MAX: the last case is the only one with a channel. */
    set_case(&c[n - 1], ch, LFC_RECV, &out);
    for (int k = 0; k < SK_N; k++) {
        reset_status(c, n);
        out = POISON;
        int rc = sel_ready(k, c, n);
        if (rc != n - 1)
            fail_msg("%s over LFC_SELECT_MAX cases: %d (%s), want %d",
                     sk_names[k], rc, lfc_strerror(rc), n - 1);
        assert_status(c[n - 1].status, LFC_OK);
        assert_true(out == 1);
        put(ch, 1);
    }
    /* And as a send. */
    (void)take(ch);
    set_case(&c[n - 1], ch, LFC_SEND, &v);
    assert_int_equal(lfc_try_select(c, n), n - 1);
    assert_true(take(ch) == 55);
    assert_int_equal(lfc_chan_len(ch), 0);
    lfc_chan_free(ch);
    free(c);
}

/* ---- try_select ---------------------------------------------------------- */

/* Nothing ready: LFC_AGAIN (or LFC_TIMEDOUT for a past deadline), and
 * nothing consumed or enqueued, no buffer or status touched. */
static void
test_select_try_none_ready_again_consumes_nothing(void **state)
{
    (void)state;
    lfc_chan *empty = chan_new(2);
    lfc_chan *full = chan_new(1);
    lfc_chan *unb_a = chan_new(0);
    lfc_chan *unb_b = chan_new(0);
    put(full, 5);
    uint64_t out[4];
    uint64_t v[2] = {101, 102};
    lfc_case c[7];
    for (int k = 0; k < SK_N; k++) {
        if (k == SK_SEL || k == SK_SEL_BIASED)
            continue; /* they would block */
        for (int i = 0; i < 4; i++)
            out[i] = POISON;
        set_case(&c[0], empty, LFC_RECV, &out[0]);
        set_case(&c[1], full, LFC_SEND, &v[0]);
        set_case(&c[2], unb_a, LFC_RECV, &out[1]);
        set_case(&c[3], unb_b, LFC_SEND, &v[1]);
        set_case(&c[4], NULL, LFC_RECV, &out[2]);
        set_case(&c[5], NULL, LFC_SEND, &v[0]);
        set_case(&c[6], unb_a, LFC_SEND, &v[1]); /* beside its own recv */
        int64_t past[] = {0, lfc_now_ns() - 1, lfc_now_ns()};
        for (size_t p = 0; p < (sk_blocks(k) ? 3u : 1u); p++) {
            int rc = sel_call(k, c, 7, past[p]);
            assert_status(rc, sk_blocks(k) ? LFC_TIMEDOUT : LFC_AGAIN);
        }
        assert_statuses_untouched_but(c, 7, -1);
        for (int i = 0; i < 4; i++)
            assert_true(out[i] == POISON);
        assert_int_equal(lfc_chan_len(empty), 0);
        assert_int_equal(lfc_chan_len(full), 1);
        /* No offer and no receiver left behind on the unbuffered ones. */
        uint64_t x = 0;
        assert_status(lfc_try_recv(unb_a, &x), LFC_AGAIN);
        assert_status(lfc_try_recv(unb_b, &x), LFC_AGAIN);
        assert_status(lfc_try_send(unb_a, &x), LFC_AGAIN);
        assert_status(lfc_try_send(unb_b, &x), LFC_AGAIN);
        assert_status(lfc_try_recv(empty, &x), LFC_AGAIN);
    }
    assert_true(take(full) == 5);
    lfc_chan_free(empty);
    lfc_chan_free(full);
    lfc_chan_free(unb_a);
    lfc_chan_free(unb_b);
}

/* The one ready case, at every position, is completed and its index
 * returned, with status LFC_OK; every kind. */
static void
test_select_ready_case_index_and_status(void **state)
{
    (void)state;
    enum { N = 5 };
    lfc_chan *ch[N];
    uint64_t out[N];
    uint64_t v[N];
    lfc_case c[N];
    for (int i = 0; i < N; i++)
        ch[i] = chan_new(1);
    for (int k = 0; k < SK_N; k++) {
        for (int pos = 0; pos < N; pos++) {
            for (int send = 0; send < 2; send++) {
                /* Not ready: receive cases on empty channels, send cases on
                 * full ones. The ready case is the other way round. */
                for (int i = 0; i < N; i++) {
                    out[i] = POISON;
                    v[i] = 1000 * (uint64_t)k + 10 * (uint64_t)pos + i;
                    set_case(&c[i], ch[i], send ? LFC_SEND : LFC_RECV,
                             send ? (void *)&v[i] : (void *)&out[i]);
                    /* receive not ready = empty; send not ready = full */
                    bool ready = i == pos;
                    bool want_full = send ? !ready : ready;
                    if (want_full && lfc_chan_len(ch[i]) == 0)
                        put(ch[i], 500 + (uint64_t)i);
                    if (!want_full && lfc_chan_len(ch[i]) == 1)
                        (void)take(ch[i]);
                }
                int rc = sel_ready(k, c, N);
                if (rc != pos)
                    fail_msg("%s, ready %s case at %d: returned %d (%s)",
                             sk_names[k], send ? "send" : "recv", pos, rc,
                             lfc_strerror(rc));
                assert_status(c[pos].status, LFC_OK);
                assert_statuses_untouched_but(c, N, pos);
                for (int i = 0; i < N; i++) {
                    if (send) {
                        /* All full now; only pos holds the sent value. */
                        assert_int_equal(lfc_chan_len(ch[i]), 1);
                    } else {
                        assert_int_equal(lfc_chan_len(ch[i]), 0);
                        if (i == pos)
                            assert_true(out[i] == 500 + (uint64_t)i);
                        else
                            assert_true(out[i] == POISON);
                    }
                }
                if (send)
                    assert_true(take(ch[pos]) == v[pos]);
            }
        }
    }
    for (int i = 0; i < N; i++)
        lfc_chan_free(ch[i]);
}

/* Several ready cases: exactly one completes; the other channels keep
 * their values, room and buffers. */
static void
test_select_exactly_one_of_several_ready(void **state)
{
    (void)state;
    enum { N = 4 };
    lfc_chan *ch[N];
    uint64_t out[N];
    uint64_t v[N];
    lfc_case c[N];
    int hits[N] = {0};
    for (int i = 0; i < N; i++)
        ch[i] = chan_new(2);
    for (int round = 0; round < 600; round++) {
        int k = round % SK_N;
        /* Cases 0 and 1 receive (a value is buffered), 2 and 3 send (there
         * is room); on a third of the rounds all four receive. */
        bool all_recv = round % 3 == 0;
        for (int i = 0; i < N; i++) {
            bool recv = all_recv || i < 2;
            while (lfc_chan_len(ch[i]) > 0)
                (void)take(ch[i]);
            if (recv)
                put(ch[i], 100 + (uint64_t)i);
            out[i] = POISON;
            v[i] = 200 + (uint64_t)i;
            set_case(&c[i], ch[i], recv ? LFC_RECV : LFC_SEND,
                     recv ? (void *)&out[i] : (void *)&v[i]);
        }
        int rc = sel_ready(k, c, N);
        if (rc < 0 || rc >= N) {
            fail_msg("%s with 4 ready cases: %d (%s)", sk_names[k], rc,
                     lfc_strerror(rc));
            return; /* not reached: tells gcc -O3 that rc is in range */
        }
        hits[rc]++;
        assert_status(c[rc].status, LFC_OK);
        assert_statuses_untouched_but(c, N, rc);
        for (int i = 0; i < N; i++) {
            bool recv = all_recv || i < 2;
            size_t want = recv ? (i == rc ? 0u : 1u) : (i == rc ? 1u : 0u);
            if (lfc_chan_len(ch[i]) != want)
                fail_msg("%s: case %d completed, channel %d has len %zu, "
                         "want %zu",
                         sk_names[k], rc, i, lfc_chan_len(ch[i]), want);
            if (recv)
                assert_true(out[i] == (i == rc ? 100 + (uint64_t)i : POISON));
        }
        if (!(all_recv || rc < 2))
            assert_true(take(ch[rc]) == 200 + (uint64_t)rc);
    }
    /* The fair kinds make every case win sometimes. */
    for (int i = 0; i < N; i++)
        assert_true(hits[i] > 0);
    for (int i = 0; i < N; i++)
        lfc_chan_free(ch[i]);
}

/* Two partners parked on unbuffered channels: a try_select completes with
 * exactly one of them; the other stays parked. */
static void
test_select_try_one_of_two_parked_partners(void **state)
{
    (void)state;
    for (int dir = 0; dir < 2; dir++) {
        bool recv = dir == 0; /* the select receives from parked senders */
        for (int k = 0; k < SK_N; k++) {
            lfc_chan *a = chan_new(0);
            lfc_chan *b = chan_new(0);
            uint64_t va = 11;
            uint64_t vb = 22;
            uint64_t ra = POISON;
            uint64_t rb = POISON;
            struct op pa;
            struct op pb;
            op_start_chan(&pa, recv ? OP_SEND : OP_RECV, a, recv ? &va : &ra,
                          NULL);
            op_wait_parked(&pa, "partner a");
            op_start_chan(&pb, recv ? OP_SEND : OP_RECV, b, recv ? &vb : &rb,
                          NULL);
            op_wait_parked(&pb, "partner b");
            uint64_t out[2] = {POISON, POISON};
            uint64_t v[2] = {33, 44};
            lfc_case c[2];
            set_case(&c[0], a, recv ? LFC_RECV : LFC_SEND,
                     recv ? (void *)&out[0] : (void *)&v[0]);
            set_case(&c[1], b, recv ? LFC_RECV : LFC_SEND,
                     recv ? (void *)&out[1] : (void *)&v[1]);
            /* Both partners are parked: every kind completes at once, even
             * a try (or a past deadline, for the _until kinds). */
            int rc = sel_call(k, c, 2, 0);
            if (rc != 0 && rc != 1) {
                op_rescue(&pa);
                op_rescue(&pb);
                (void)op_finish(&pa, STUCK_NS, "partner a");
                (void)op_finish(&pb, STUCK_NS, "partner b");
                fail_msg("%s: %d (%s)", sk_names[k], rc, lfc_strerror(rc));
                return; /* not reached: tells gcc -O3 that rc is 0 or 1 */
            }
            assert_status(c[rc].status, LFC_OK);
            assert_statuses_untouched_but(c, 2, rc);
            struct op *won = rc == 0 ? &pa : &pb;
            struct op *other = rc == 0 ? &pb : &pa;
            assert_status(op_finish(won, STUCK_NS, "partner that paired"),
                          LFC_OK);
            if (recv)
                assert_true(out[rc] == (rc == 0 ? va : vb));
            else
                assert_true((rc == 0 ? ra : rb) == v[rc]);
            assert_true(out[1 - rc] == POISON);
            /* The other partner is still parked, its value not taken. */
            op_assert_blocked(other, "the partner that was not chosen");
            uint64_t x = 77;
            partner_call(other->ch, !recv, &x);
            if (recv)
                assert_true(x == (rc == 0 ? vb : va));
            assert_status(op_finish(other, STUCK_NS, "other partner"), LFC_OK);
            if (!recv)
                assert_true((rc == 0 ? rb : ra) == 77);
            lfc_chan_free(a);
            lfc_chan_free(b);
        }
    }
}

/* ---- NULL channels, duplicates, self-pairing ------------------------------ */

static void
test_select_null_channel_never_ready(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(1);
    uint64_t out[3];
    uint64_t v = 5;
    lfc_case c[4];
    for (int round = 0; round < 300; round++) {
        int k = round % SK_N;
        put(ch, (uint64_t)round);
        out[0] = out[1] = out[2] = POISON;
        set_case(&c[0], NULL, LFC_RECV, &out[0]);
        set_case(&c[1], NULL, LFC_SEND, &v);
        set_case(&c[2], ch, LFC_RECV, &out[1]);
        set_case(&c[3], NULL, LFC_RECV, NULL);
        int rc = sel_ready(k, c, 4);
        if (rc != 2)
            fail_msg("%s: %d (%s), want 2 (the only non-NULL case)",
                     sk_names[k], rc, lfc_strerror(rc));
        assert_status(c[2].status, LFC_OK);
        assert_true(out[1] == (uint64_t)round);
        assert_true(out[0] == POISON);
        assert_statuses_untouched_but(c, 4, 2);
    }
    /* Only NULL cases beside a channel that is not ready: nothing. */
    set_case(&c[0], NULL, LFC_SEND, &v);
    set_case(&c[1], ch, LFC_RECV, &out[0]);
    assert_status(lfc_try_select(c, 2), LFC_AGAIN);
    assert_status(lfc_try_select_biased(c, 2), LFC_AGAIN);
    int64_t dl = lfc_now_ns() + SHORT_NS;
    assert_status(lfc_select_until(c, 2, dl), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= dl);
    assert_statuses_untouched_but(c, 2, -1);
    lfc_chan_free(ch);
}

/* The same channel in several cases, in either direction. */
static void
test_select_same_channel_several_cases(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(4);
    uint64_t out[3];
    uint64_t v = 99;
    lfc_case c[3];
    int hits[3] = {0};

    /* Three receive cases, one value: exactly one completes. */
    for (int round = 0; round < 300; round++) {
        int k = round % SK_N;
        put(ch, (uint64_t)round);
        for (int i = 0; i < 3; i++) {
            out[i] = POISON;
            set_case(&c[i], ch, LFC_RECV, &out[i]);
        }
        int rc = sel_ready(k, c, 3);
        assert_true(rc >= 0 && rc < 3);
        hits[rc]++;
        assert_status(c[rc].status, LFC_OK);
        assert_statuses_untouched_but(c, 3, rc);
        for (int i = 0; i < 3; i++)
            assert_true(out[i] == (i == rc ? (uint64_t)round : POISON));
        assert_int_equal(lfc_chan_len(ch), 0);
    }
    for (int i = 0; i < 3; i++)
        assert_true(hits[i] > 0);

    /* A send and a receive case on one buffered channel holding a value
     * with room to spare: both ready, one completes. */
    int sent = 0;
    int got = 0;
    for (int round = 0; round < 300; round++) {
        int k = round % SK_N;
        put(ch, 7);
        out[0] = POISON;
        set_case(&c[0], ch, LFC_SEND, &v);
        set_case(&c[1], ch, LFC_RECV, &out[0]);
        int rc = sel_ready(k, c, 2);
        assert_true(rc == 0 || rc == 1);
        assert_status(c[rc].status, LFC_OK);
        assert_statuses_untouched_but(c, 2, rc);
        if (rc == 0) {
            sent++;
            assert_int_equal(lfc_chan_len(ch), 2);
            assert_true(out[0] == POISON);
            assert_true(take(ch) == 7);
            assert_true(take(ch) == 99);
        } else {
            got++;
            assert_int_equal(lfc_chan_len(ch), 0);
            assert_true(out[0] == 7);
        }
    }
    assert_true(sent > 0 && got > 0);
    lfc_chan_free(ch);
}

/* A blocked select with two receive cases on one unbuffered channel takes
 * one value, and leaves no receiver behind on it. */
static void
test_select_same_channel_blocked_takes_one(void **state)
{
    (void)state;
    for (int k = SK_SEL; k < SK_N; k++) {
        lfc_chan *ch = chan_new(0);
        uint64_t out[2] = {POISON, POISON};
        lfc_case c[2];
        set_case(&c[0], ch, LFC_RECV, &out[0]);
        set_case(&c[1], ch, LFC_RECV, &out[1]);
        struct op o;
        op_start_parked(&o, k, c, 2);
        uint64_t v = 31;
        partner_call(ch, true, &v);
        int rc = op_finish(&o, STUCK_NS, sk_names[k]);
        assert_true(rc == 0 || rc == 1);
        assert_status(c[rc].status, LFC_OK);
        assert_statuses_untouched_but(c, 2, rc);
        assert_true(out[rc] == 31);
        assert_true(out[1 - rc] == POISON);
        /* Nobody is left to receive: a second send finds no receiver. */
        assert_status(lfc_try_send(ch, &v), LFC_AGAIN);
        assert_status(lfc_send_until(ch, &v, lfc_now_ns() + SHORT_NS),
                      LFC_TIMEDOUT);
        lfc_chan_free(ch);
    }
}

/* The mirror image: two send cases on one unbuffered channel; a receiver
 * takes one value, and no offer is left behind. */
static void
test_select_same_channel_blocked_sends_one(void **state)
{
    (void)state;
    for (int k = SK_SEL; k < SK_N; k++) {
        lfc_chan *ch = chan_new(0);
        uint64_t v[2] = {51, 52};
        lfc_case c[2];
        set_case(&c[0], ch, LFC_SEND, &v[0]);
        set_case(&c[1], ch, LFC_SEND, &v[1]);
        struct op o;
        op_start_parked(&o, k, c, 2);
        uint64_t x = POISON;
        partner_call(ch, false, &x);
        int rc = op_finish(&o, STUCK_NS, sk_names[k]);
        assert_true(rc == 0 || rc == 1);
        assert_status(c[rc].status, LFC_OK);
        assert_statuses_untouched_but(c, 2, rc);
        assert_true(x == v[rc]);
        /* Nobody is left offering. */
        assert_status(lfc_try_recv(ch, &x), LFC_AGAIN);
        assert_status(lfc_recv_until(ch, &x, lfc_now_ns() + SHORT_NS),
                      LFC_TIMEDOUT);
        lfc_chan_free(ch);
    }
}

/* Go's TestSelfSelect: a send and a receive on one unbuffered channel in
 * one select never pair with each other. */
static void
test_select_send_recv_same_unbuffered_never_self_pairs(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(0);
    uint64_t v = 8;
    uint64_t out = POISON;
    lfc_case c[2];
    for (int order = 0; order < 2; order++) {
        set_case(&c[order], ch, LFC_SEND, &v);
        set_case(&c[1 - order], ch, LFC_RECV, &out);
        assert_status(lfc_try_select(c, 2), LFC_AGAIN);
        assert_status(lfc_try_select_biased(c, 2), LFC_AGAIN);
        for (int k = SK_UNTIL; k <= SK_UNTIL_BIASED; k++) {
            int64_t dl = lfc_now_ns() + SHORT_NS;
            int rc = sel_call(k, c, 2, dl);
            int64_t now = lfc_now_ns();
            if (rc != LFC_TIMEDOUT)
                fail_msg("%s with send+recv on one unbuffered channel: %d "
                         "(%s), want LFC_TIMEDOUT (paired with itself?)",
                         sk_names[k], rc, lfc_strerror(rc));
            assert_true(now >= dl);
        }
        assert_statuses_untouched_but(c, 2, -1);
        assert_true(out == POISON);
        uint64_t x;
        assert_status(lfc_try_recv(ch, &x), LFC_AGAIN);
        assert_status(lfc_try_send(ch, &x), LFC_AGAIN);
    }

    /* Blocked with both cases, it pairs with another thread either way. */
    for (int k = SK_SEL; k < SK_N; k++) {
        for (int way = 0; way < 2; way++) {
            out = POISON;
            set_case(&c[0], ch, LFC_SEND, &v);
            set_case(&c[1], ch, LFC_RECV, &out);
            struct op o;
            op_start_blocking(&o, k, c, 2);
            /* Parked, and it stays so: it does not pair with itself. */
            op_assert_blocked(&o, "select with send+recv on one channel");
            uint64_t x = 1234;
            partner_call(ch, way == 1, &x);
            op_finish_case(&o, way, LFC_OK,
                           "with send+recv on one channel, partner %s",
                           way ? "sending" : "receiving");
            if (way == 0) {
                assert_true(x == 8);
                assert_true(out == POISON);
            } else {
                assert_true(out == 1234);
            }
            assert_status(lfc_try_recv(ch, &x), LFC_AGAIN);
            assert_status(lfc_try_send(ch, &x), LFC_AGAIN);
        }
    }
    lfc_chan_free(ch);
}

/* ---- closed channels ------------------------------------------------------- */

static void
test_select_recv_closed_drains_then_closed(void **state)
{
    (void)state;
    for (int k = 0; k < SK_N; k++) {
        lfc_chan *ch = chan_new(4);
        lfc_chan *idle = chan_new(1); /* never ready for a receive */
        lfc_chan *unb = chan_new(0);
        put(ch, 1);
        put(ch, 2);
        put(ch, 3);
        assert_status(lfc_close(ch), LFC_OK);
        assert_status(lfc_close(unb), LFC_OK);
        uint64_t out = POISON;
        uint64_t idle_out = POISON;
        lfc_case c[2];
        /* Buffered values first, in order, with status LFC_OK. */
        for (uint64_t want = 1; want <= 3; want++) {
            set_case(&c[0], idle, LFC_RECV, &idle_out);
            set_case(&c[1], ch, LFC_RECV, &out);
            int rc = sel_ready(k, c, 2);
            if (rc != 1)
                fail_msg("%s on a closed channel with values: %d (%s)",
                         sk_names[k], rc, lfc_strerror(rc));
            assert_status(c[1].status, LFC_OK);
            assert_true(out == want);
            assert_statuses_untouched_but(c, 2, 1);
        }
        /* Then LFC_CLOSED, every time, with the buffer untouched. */
        for (int again = 0; again < 2; again++) {
            out = POISON;
            set_case(&c[0], idle, LFC_RECV, &idle_out);
            set_case(&c[1], ch, LFC_RECV, &out);
            assert_int_equal(sel_ready(k, c, 2), 1);
            assert_status(c[1].status, LFC_CLOSED);
            assert_true(out == POISON);
            assert_statuses_untouched_but(c, 2, 1);
        }
        /* Unbuffered and closed: LFC_CLOSED at once. */
        set_case(&c[0], unb, LFC_RECV, &out);
        set_case(&c[1], idle, LFC_RECV, &idle_out);
        assert_int_equal(sel_ready(k, c, 2), 0);
        assert_status(c[0].status, LFC_CLOSED);
        assert_true(out == POISON);
        assert_true(idle_out == POISON);
        lfc_chan_free(ch);
        lfc_chan_free(idle);
        lfc_chan_free(unb);
    }
}

static void
test_select_send_closed_closed_enqueues_nothing(void **state)
{
    (void)state;
    for (int k = 0; k < SK_N; k++) {
        for (size_t cap = 0; cap <= 4; cap += 4) {
            lfc_chan *ch = chan_new(cap);
            lfc_chan *idle = chan_new(0);
            if (cap > 0)
                put(ch, 1);
            assert_status(lfc_close(ch), LFC_OK);
            uint64_t v = 42;
            uint64_t out = POISON;
            lfc_case c[2];
            set_case(&c[0], idle, LFC_RECV, &out);
            set_case(&c[1], ch, LFC_SEND, &v);
            int rc = sel_ready(k, c, 2);
            if (rc != 1)
                fail_msg("%s send to a closed cap-%zu channel: %d (%s)",
                         sk_names[k], cap, rc, lfc_strerror(rc));
            assert_status(c[1].status, LFC_CLOSED);
            assert_statuses_untouched_but(c, 2, 1);
            assert_int_equal(lfc_chan_len(ch), cap > 0 ? 1 : 0);
            uint64_t x = POISON;
            if (cap > 0) {
                assert_status(lfc_try_recv(ch, &x), LFC_OK);
                assert_true(x == 1);
            }
            assert_status(lfc_try_recv(ch, &x), LFC_CLOSED);
            lfc_chan_free(ch);
            lfc_chan_free(idle);
        }
    }
}

/* ---- fairness ------------------------------------------------------------- */

static void
assert_fair(const long *counts, int n, long total, const char *what)
{
    double mean = (double)total / n;
    for (int i = 0; i < n; i++) {
        if ((double)counts[i] < 0.8 * mean || (double)counts[i] > 1.2 * mean)
            fail_msg("%s: case %d chosen %ld times of %ld; want within 20%% "
                     "of %.0f (counts %ld %ld %ld %ld)",
                     what, i, counts[i], total, mean, counts[0], counts[1],
                     counts[2], counts[3]);
    }
}

/*
 * Four always-ready cases (receives on capacity-1 channels refilled after
 * each receive, or sends on capacity-1 channels drained after each send):
 * each is chosen within 20% of a quarter of the time.
 */
static void
run_fairness(int k, int recv, long draws)
{
    enum { N = 4 };
    lfc_chan *ch[N];
    uint64_t out[N];
    uint64_t v[N];
    lfc_case c[N];
    long counts[N] = {0};
    char what[96];
    for (int i = 0; i < N; i++) {
        ch[i] = chan_new(1);
        if (recv)
            put(ch[i], (uint64_t)i);
        v[i] = (uint64_t)i;
        set_case(&c[i], ch[i], recv ? LFC_RECV : LFC_SEND,
                 recv ? (void *)&out[i] : (void *)&v[i]);
    }
    snprintf(what, sizeof(what), "%s over 4 ready %s cases", sk_names[k],
             recv ? "recv" : "send");
    int64_t dl = lfc_now_ns() + LFC_TEST_FAR_NS;
    for (long d = 0; d < draws; d++) {
        int rc = sel_call(k, c, N, dl);
        if (rc < 0 || rc >= N)
            fail_msg("%s: draw %ld returned %d (%s)", what, d, rc,
                     lfc_strerror(rc));
        counts[rc]++;
        if (recv) {
            if (out[rc] != (uint64_t)rc)
                fail_msg("%s: case %d received %" PRIu64, what, rc, out[rc]);
            put(ch[rc], (uint64_t)rc);
        } else {
            if (take(ch[rc]) != (uint64_t)rc)
                fail_msg("%s: case %d sent the wrong value", what, rc);
        }
        if ((d & 4095) == 0)
            bump();
    }
    print_message("[ fairness ] %s: %ld %ld %ld %ld of %ld\n", what, counts[0],
                  counts[1], counts[2], counts[3], draws);
    assert_fair(counts, N, draws, what);
    for (int i = 0; i < N; i++)
        lfc_chan_free(ch[i]);
}

static void
test_select_try_fair_100k(void **state)
{
    (void)state;
    run_fairness(SK_TRY, 1, 100000);
    run_fairness(SK_TRY, 0, 100000);
}

static void
test_select_blocking_fair(void **state)
{
    (void)state;
    run_fairness(SK_SEL, 1, 20000);
    run_fairness(SK_SEL, 0, 20000);
    run_fairness(SK_UNTIL, 1, 20000);
}

/* The biased variants: the first ready case in array order, always. */
static void
test_select_biased_first_ready_wins(void **state)
{
    (void)state;
    enum { N = 4 };
    lfc_chan *ch[N];
    uint64_t out[N];
    lfc_case c[N];
    for (int i = 0; i < N; i++) {
        ch[i] = chan_new(1);
        put(ch[i], (uint64_t)i);
    }
    static const int kinds[] = {SK_TRY_BIASED, SK_SEL_BIASED, SK_UNTIL_BIASED};
    for (size_t kk = 0; kk < 3; kk++) {
        int k = kinds[kk];
        /* first: the index of the first ready (non-NULL, non-empty) case. */
        for (int first = 0; first < N; first++) {
            for (int rep = 0; rep < 1000; rep++) {
                for (int i = 0; i < N; i++) {
                    /* Before `first`: alternately NULL and empty. */
                    lfc_chan *cc = ch[i];
                    if (i < first && (i & 1))
                        cc = NULL;
                    set_case(&c[i], cc, LFC_RECV, &out[i]);
                    if (i < first && cc != NULL && lfc_chan_len(cc) == 1)
                        (void)take(cc);
                    if (i >= first && lfc_chan_len(ch[i]) == 0)
                        put(ch[i], (uint64_t)i);
                }
                int rc = sel_ready(k, c, N);
                if (rc != first)
                    fail_msg("%s: returned %d (%s), want the first ready "
                             "case %d (rep %d)",
                             sk_names[k], rc, lfc_strerror(rc), first, rep);
                assert_true(out[first] == (uint64_t)first);
                put(ch[first], (uint64_t)first);
            }
            bump();
        }
    }
    for (int i = 0; i < N; i++)
        lfc_chan_free(ch[i]);
}

/* ---- blocking --------------------------------------------------------- */

static const size_t block_caps[] = {0, 1, 8};
#define N_BLOCK_CAPS (sizeof(block_caps) / sizeof(block_caps[0]))

/* A select of receive cases on empty channels blocks until another thread
 * sends on one of them. */
static void
test_select_blocked_recv_wakes_on_send(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < N_BLOCK_CAPS; ci++) {
        for (int k = SK_SEL; k < SK_N; k++) {
            size_t cap = block_caps[ci];
            lfc_chan *a = chan_new(cap);
            lfc_chan *b = chan_new(cap);
            uint64_t out[2] = {POISON, POISON};
            lfc_case c[3];
            set_case(&c[0], a, LFC_RECV, &out[0]);
            set_case(&c[1], NULL, LFC_RECV, NULL);
            set_case(&c[2], b, LFC_RECV, &out[1]);
            struct op o;
            op_start_parked(&o, k, c, 3);
            uint64_t v = 4242;
            int64_t t_send = lfc_now_ns();
            partner_call(b, true, &v);
            op_finish_case(&o, 2, LFC_OK, "(cap %zu) woken by a send on case 2",
                           cap);
            assert_true(out[1] == 4242);
            assert_true(out[0] == POISON);
            /* It waited for the send: it returned only after it began. */
            assert_true(o.a.t_end >= t_send);
            /* Nothing left behind on either channel. */
            assert_nothing_left(a, cap);
            assert_nothing_left(b, cap);
            lfc_chan_free(a);
            lfc_chan_free(b);
        }
    }
}

/* A select of send cases on full channels (unbuffered: no receiver)
 * blocks until another thread receives from one of them. */
static void
test_select_blocked_send_wakes_on_recv(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < 2; ci++) {
        for (int k = SK_SEL; k < SK_N; k++) {
            size_t cap = block_caps[ci];
            lfc_chan *a = chan_new(cap);
            lfc_chan *b = chan_new(cap);
            if (cap) {
                put(a, 1);
                put(b, 2);
            }
            uint64_t v[2] = {10, 20};
            lfc_case c[2];
            set_case(&c[0], a, LFC_SEND, &v[0]);
            set_case(&c[1], b, LFC_SEND, &v[1]);
            struct op o;
            op_start_parked(&o, k, c, 2);
            uint64_t x = POISON;
            partner_call(b, false, &x);
            op_finish_case(&o, 1, LFC_OK, "(cap %zu) woken by a recv on case 1",
                           cap);
            if (cap) {
                /* The receive took the old value; the select's followed. */
                assert_true(x == 2);
                assert_int_equal(lfc_chan_len(b), 1);
                assert_true(take(b) == 20);
                assert_int_equal(lfc_chan_len(a), 1);
                assert_true(take(a) == 1);
            } else {
                assert_true(x == 20);
                assert_status(lfc_try_recv(a, &x), LFC_AGAIN);
                assert_status(lfc_try_recv(b, &x), LFC_AGAIN);
            }
            lfc_chan_free(a);
            lfc_chan_free(b);
        }
    }
}

/* A blocked select wakes when a channel of one of its cases is closed:
 * that case completes with LFC_CLOSED. */
static void
test_select_blocked_wakes_on_close(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < 2; ci++) {
        for (int k = SK_SEL; k < SK_N; k++) {
            for (int send = 0; send < 2; send++) {
                size_t cap = block_caps[ci];
                lfc_chan *a = chan_new(cap);
                lfc_chan *b = chan_new(cap);
                if (send && cap) {
                    put(a, 1);
                    put(b, 2);
                }
                uint64_t buf[2] = {send ? 10 : POISON, send ? 20 : POISON};
                lfc_case c[2];
                set_case(&c[0], a, send ? LFC_SEND : LFC_RECV, &buf[0]);
                set_case(&c[1], b, send ? LFC_SEND : LFC_RECV, &buf[1]);
                struct op o;
                op_start_parked(&o, k, c, 2);
                assert_status(lfc_close(a), LFC_OK);
                op_finish_case(&o, 0, LFC_CLOSED,
                               "(cap %zu, %s cases) woken by close of case 0",
                               cap, send ? "send" : "recv");
                uint64_t x = POISON;
                if (send) {
                    /* Nothing enqueued: only the prefilled value. */
                    if (cap) {
                        assert_status(lfc_try_recv(a, &x), LFC_OK);
                        assert_true(x == 1);
                        assert_int_equal(lfc_chan_len(b), 1);
                    }
                    assert_status(lfc_try_recv(b, &x),
                                  cap ? LFC_OK : LFC_AGAIN);
                } else {
                    assert_true(buf[0] == POISON && buf[1] == POISON);
                }
                assert_status(lfc_try_recv(a, &x), LFC_CLOSED);
                lfc_chan_free(a);
                lfc_chan_free(b);
            }
        }
    }
}

/* select_until with nothing ready: LFC_TIMEDOUT, never before the
 * deadline; nothing consumed or enqueued, no offer or receiver left. */
static void
test_select_until_timedout_not_early_consumes_nothing(void **state)
{
    (void)state;
    lfc_chan *empty = chan_new(1);
    lfc_chan *full = chan_new(1);
    lfc_chan *unb_s = chan_new(0);
    lfc_chan *unb_r = chan_new(0);
    put(full, 3);
    const int64_t waits[] = {SHORT_NS / 20, SHORT_NS, 2 * SHORT_NS};
    for (int k = SK_UNTIL; k <= SK_UNTIL_BIASED; k++) {
        for (size_t w = 0; w < 3; w++) {
            uint64_t out[2] = {POISON, POISON};
            uint64_t v[2] = {5, 6};
            lfc_case c[4];
            set_case(&c[0], empty, LFC_RECV, &out[0]);
            set_case(&c[1], full, LFC_SEND, &v[0]);
            set_case(&c[2], unb_s, LFC_SEND, &v[1]);
            set_case(&c[3], unb_r, LFC_RECV, &out[1]);
            int64_t dl = lfc_now_ns() + waits[w];
            int rc = sel_call(k, c, 4, dl);
            int64_t now = lfc_now_ns();
            assert_status(rc, LFC_TIMEDOUT);
            if (now < dl)
                fail_msg("%s: LFC_TIMEDOUT %lld ns before the deadline",
                         sk_names[k], (long long)(dl - now));
            assert_statuses_untouched_but(c, 4, -1);
            assert_true(out[0] == POISON && out[1] == POISON);
            assert_int_equal(lfc_chan_len(empty), 0);
            assert_int_equal(lfc_chan_len(full), 1);
            uint64_t x;
            assert_status(lfc_try_recv(unb_s, &x), LFC_AGAIN);
            assert_status(lfc_try_send(unb_r, &x), LFC_AGAIN);
        }
    }
    assert_true(take(full) == 3);
    lfc_chan_free(empty);
    lfc_chan_free(full);
    lfc_chan_free(unb_s);
    lfc_chan_free(unb_r);
}

/* A deadline in the past behaves like try: a ready case (a partner parked
 * on an unbuffered channel included) completes; otherwise LFC_TIMEDOUT at
 * once. */
static void
test_select_until_past_deadline_like_try(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(2);
    lfc_chan *unb = chan_new(0);
    uint64_t out = POISON;
    lfc_case c[2];
    for (int k = SK_UNTIL; k <= SK_UNTIL_BIASED; k++) {
        int64_t pasts[] = {0, 1, lfc_now_ns() - SEC, lfc_now_ns()};
        for (size_t p = 0; p < 4; p++) {
            set_case(&c[0], unb, LFC_RECV, &out);
            set_case(&c[1], ch, LFC_RECV, &out);
            /* At once (no time bound asserted: a call that waited would
             * wait forever, and the watchdog ends that). */
            assert_status(sel_call(k, c, 2, pasts[p]), LFC_TIMEDOUT);
            put(ch, 17);
            out = POISON;
            assert_int_equal(sel_call(k, c, 2, pasts[p]), 1);
            assert_status(c[1].status, LFC_OK);
            assert_true(out == 17);
        }
        /* A sender parked on the unbuffered channel is ready. */
        uint64_t v = 71;
        struct op s;
        op_start_chan(&s, OP_SEND, unb, &v, NULL);
        op_wait_parked(&s, "parked sender");
        out = POISON;
        set_case(&c[0], unb, LFC_RECV, &out);
        set_case(&c[1], ch, LFC_RECV, &out);
        int rc = sel_call(k, c, 2, 0);
        assert_status(op_finish(&s, STUCK_NS, "parked sender"), LFC_OK);
        assert_int_equal(rc, 0);
        assert_true(out == 71);
    }
    lfc_chan_free(ch);
    lfc_chan_free(unb);
}

/* ---- unbuffered handoffs between two threads ------------------------------- */

enum side_mode {
    SIDE_SELECT,   /* lfc_select (kind rotating) with an extra idle case */
    SIDE_PLAIN,    /* lfc_send / lfc_recv */
    SIDE_TRY_POLL, /* lfc_try_recv polled (receiver only) */
};

/*
 * Two threads on their own. A thread that goes wrong records it (the first
 * one only) and stops; the test thread then closes the channels so that
 * the other can return, joins both and fails with the first record.
 */
struct pair_run {
    lfc_chan *chans[3];
    lfc_test_barrier start;
    int finished;  /* threads done (atomic) */
    int failed;    /* 0, or 1 once a thread recorded a failure (atomic) */
    char why[256]; /* written by the thread that set failed */
};

static void pair_fail(struct pair_run *pr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pair_fail(struct pair_run *pr, const char *fmt, ...)
{
    int zero = 0;
    if (!__atomic_compare_exchange_n(&pr->failed, &zero, 2, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return; /* not the first: probably woken by the rescue */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pr->why, sizeof(pr->why), fmt, ap);
    va_end(ap);
    lfc_test_store_int(&pr->failed, 1);
}

/* Runs a and b (each given arg) to the end, or rescues and fails. */
static void
pair_join(struct pair_run *pr, void *(*a)(void *), void *(*b)(void *),
          void *arg, const char *what)
{
    pthread_t ta;
    pthread_t tb;
    lfc_test_barrier_init(&pr->start, 2);
    assert_int_equal(pthread_create(&ta, NULL, a, arg), 0);
    assert_int_equal(pthread_create(&tb, NULL, b, arg), 0);
    while (lfc_test_load_int(&pr->finished) < 2 &&
           lfc_test_load_int(&pr->failed) == 0)
        lfc_test_sleep_ns(MS);
    bool failed = lfc_test_load_int(&pr->failed) != 0;
    if (failed) {
        for (int i = 0; i < 3; i++)
            if (pr->chans[i] != NULL)
                lfc_close(pr->chans[i]);
    }
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    lfc_test_barrier_destroy(&pr->start);
    if (failed) {
        while (lfc_test_load_int(&pr->failed) != 1) {
        }
        fail_msg("%s: %s", what, pr->why);
    }
}

struct handoff {
    struct pair_run pr; /* chans: ch, idle_s, idle_r */
    lfc_chan *ch;
    lfc_chan *idle_s; /* the sender's extra case: nobody ever sends */
    lfc_chan *idle_r; /* the receiver's extra case: nobody ever sends */
    long rounds;
    enum side_mode smode;
    enum side_mode rmode;
    long s_done; /* by the sender, read after join */
    long r_done; /* by the receiver, read after join */
};

static const int rot_kinds[] = {SK_SEL, SK_SEL_BIASED, SK_UNTIL,
                                SK_UNTIL_BIASED};

static void *
handoff_sender(void *arg)
{
    struct handoff *h = arg;
    lfc_test_barrier_wait(&h->pr.start);
    for (long i = 0; i < h->rounds; i++) {
        uint64_t v = (uint64_t)i;
        uint64_t idle_out;
        int rc;
        if (h->smode == SIDE_SELECT) {
            lfc_case c[2];
            int at = (int)(i & 1); /* the send case first or second */
            int k = rot_kinds[i % 4];
            set_case(&c[at], h->ch, LFC_SEND, &v);
            set_case(&c[1 - at], h->idle_s, LFC_RECV, &idle_out);
            rc = sel_call(k, c, 2, LFC_FOREVER);
            if (rc != at || c[at].status != LFC_OK) {
                pair_fail(&h->pr,
                          "sender round %ld: %s returned %d (%s), status "
                          "%d; want case %d LFC_OK",
                          i, sk_names[k], rc, lfc_strerror(rc),
                          rc >= 0 && rc < 2 ? c[rc].status : 0, at);
                break;
            }
        } else {
            rc = lfc_send(h->ch, &v);
            if (rc != LFC_OK) {
                pair_fail(&h->pr, "sender round %ld: lfc_send: %s", i,
                          lfc_strerror(rc));
                break;
            }
        }
        h->s_done = i + 1;
        bump();
    }
    __atomic_fetch_add(&h->pr.finished, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void *
handoff_receiver(void *arg)
{
    struct handoff *h = arg;
    lfc_test_barrier_wait(&h->pr.start);
    for (long i = 0; i < h->rounds; i++) {
        uint64_t out = POISON;
        uint64_t idle_out;
        int rc;
        const char *how;
        if (h->rmode == SIDE_SELECT) {
            lfc_case c[2];
            int at = (int)((i >> 1) & 1);
            int k = rot_kinds[(i / 3) % 4];
            how = sk_names[k];
            set_case(&c[at], h->ch, LFC_RECV, &out);
            set_case(&c[1 - at], h->idle_r, LFC_RECV, &idle_out);
            rc = sel_call(k, c, 2, LFC_FOREVER);
            if (rc != at || c[at].status != LFC_OK) {
                pair_fail(&h->pr,
                          "receiver round %ld: %s returned %d (%s), status "
                          "%d; want case %d LFC_OK",
                          i, how, rc, lfc_strerror(rc),
                          rc >= 0 && rc < 2 ? c[rc].status : 0, at);
                break;
            }
        } else if (h->rmode == SIDE_TRY_POLL) {
            how = "lfc_try_recv";
            while ((rc = lfc_try_recv(h->ch, &out)) == LFC_AGAIN)
                sched_yield();
        } else {
            how = "lfc_recv";
            rc = lfc_recv(h->ch, &out);
        }
        /* In order and each exactly once: value i in round i. */
        if (rc < 0 || out != (uint64_t)i) {
            pair_fail(&h->pr,
                      "receiver round %ld: %s: %s, value %" PRIu64
                      " (want %ld)",
                      i, how, lfc_strerror(rc), out, i);
            break;
        }
        h->r_done = i + 1;
        bump();
    }
    __atomic_fetch_add(&h->pr.finished, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void
run_handoff(enum side_mode smode, enum side_mode rmode, long rounds,
            const char *what)
{
    struct handoff h;
    memset(&h, 0, sizeof(h));
    h.ch = chan_new(0);
    h.idle_s = chan_new(0);
    h.idle_r = chan_new(0);
    h.pr.chans[0] = h.ch;
    h.pr.chans[1] = h.idle_s;
    h.pr.chans[2] = h.idle_r;
    h.rounds = rounds;
    h.smode = smode;
    h.rmode = rmode;
    pair_join(&h.pr, handoff_sender, handoff_receiver, &h, what);
    assert_int_equal(h.s_done, rounds);
    assert_int_equal(h.r_done, rounds);
    uint64_t x;
    assert_status(lfc_try_recv(h.ch, &x), LFC_AGAIN);
    assert_status(lfc_try_send(h.ch, &x), LFC_AGAIN);
    assert_status(lfc_try_recv(h.idle_s, &x), LFC_AGAIN);
    assert_status(lfc_try_send(h.idle_r, &x), LFC_AGAIN);
    lfc_chan_free(h.ch);
    lfc_chan_free(h.idle_s);
    lfc_chan_free(h.idle_r);
}

static void
test_select_unbuffered_select_send_to_select_recv(void **state)
{
    (void)state;
    run_handoff(SIDE_SELECT, SIDE_SELECT, lfc_test_scaled(4000, 400),
                "select send -> select recv");
}

static void
test_select_unbuffered_plain_send_to_select_recv(void **state)
{
    (void)state;
    run_handoff(SIDE_PLAIN, SIDE_SELECT, lfc_test_scaled(4000, 400),
                "lfc_send -> select recv");
}

static void
test_select_unbuffered_select_send_to_plain_recv(void **state)
{
    (void)state;
    run_handoff(SIDE_SELECT, SIDE_PLAIN, lfc_test_scaled(4000, 400),
                "select send -> lfc_recv");
    run_handoff(SIDE_SELECT, SIDE_TRY_POLL, lfc_test_scaled(2000, 200),
                "select send -> lfc_try_recv polling");
}

/*
 * crossbeam's stress_mixed / Go's select-with-crossing-cases: thread A
 * selects {send ch, recv x}, thread B selects {recv ch, send x}, on two
 * unbuffered channels. Each round exactly one pair completes, and both
 * threads agree which: A completed its send iff B completed its receive.
 */
struct cross {
    struct pair_run pr; /* chans: ch, x */
    lfc_chan *ch;
    lfc_chan *x;
    long rounds;
    int *a_case;     /* per round, by A */
    int *b_case;     /* per round, by B */
    uint64_t *a_got; /* what A received on x, per round */
    uint64_t *b_got; /* what B received on ch, per round */
};

static void *
cross_a(void *arg)
{
    struct cross *cr = arg;
    lfc_test_barrier_wait(&cr->pr.start);
    for (long i = 0; i < cr->rounds; i++) {
        uint64_t v = 2 * (uint64_t)i;
        uint64_t out = POISON;
        lfc_case c[2];
        int k = rot_kinds[i % 4];
        set_case(&c[0], cr->ch, LFC_SEND, &v);
        set_case(&c[1], cr->x, LFC_RECV, &out);
        int rc = sel_call(k, c, 2, LFC_FOREVER);
        if (rc < 0 || rc > 1 || c[rc].status != LFC_OK) {
            pair_fail(&cr->pr, "A round %ld: %s returned %d (%s)", i,
                      sk_names[k], rc, lfc_strerror(rc));
            break;
        }
        cr->a_case[i] = rc;
        cr->a_got[i] = out;
        bump();
    }
    __atomic_fetch_add(&cr->pr.finished, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void *
cross_b(void *arg)
{
    struct cross *cr = arg;
    lfc_test_barrier_wait(&cr->pr.start);
    for (long i = 0; i < cr->rounds; i++) {
        uint64_t v = 2 * (uint64_t)i + 1;
        uint64_t out = POISON;
        lfc_case c[2];
        int k = rot_kinds[(i + 1) % 4];
        set_case(&c[0], cr->ch, LFC_RECV, &out);
        set_case(&c[1], cr->x, LFC_SEND, &v);
        int rc = sel_call(k, c, 2, LFC_FOREVER);
        if (rc < 0 || rc > 1 || c[rc].status != LFC_OK) {
            pair_fail(&cr->pr, "B round %ld: %s returned %d (%s)", i,
                      sk_names[k], rc, lfc_strerror(rc));
            break;
        }
        cr->b_case[i] = rc;
        cr->b_got[i] = out;
        bump();
    }
    __atomic_fetch_add(&cr->pr.finished, 1, __ATOMIC_ACQ_REL);
    return NULL;
}

static void
test_select_unbuffered_crossing_selects_pair_consistently(void **state)
{
    (void)state;
    struct cross cr;
    memset(&cr, 0, sizeof(cr));
    cr.rounds = lfc_test_scaled(4000, 400);
    cr.ch = chan_new(0);
    cr.x = chan_new(0);
    cr.pr.chans[0] = cr.ch;
    cr.pr.chans[1] = cr.x;
    cr.a_case = calloc((size_t)cr.rounds, sizeof(int));
    cr.b_case = calloc((size_t)cr.rounds, sizeof(int));
    cr.a_got = calloc((size_t)cr.rounds, sizeof(uint64_t));
    cr.b_got = calloc((size_t)cr.rounds, sizeof(uint64_t));
    assert_non_null(cr.a_case);
    assert_non_null(cr.b_case);
    assert_non_null(cr.a_got);
    assert_non_null(cr.b_got);
    for (long i = 0; i < cr.rounds; i++)
        cr.a_case[i] = cr.b_case[i] = -1;
    pair_join(&cr.pr, cross_a, cross_b, &cr, "crossing selects");
    long via_ch = 0;
    for (long i = 0; i < cr.rounds; i++) {
        if (cr.a_case[i] != cr.b_case[i])
            fail_msg("round %ld: A completed case %d, B case %d (a select "
                     "completed more or less than one pair)",
                     i, cr.a_case[i], cr.b_case[i]);
        if (cr.a_case[i] == 0) {
            via_ch++;
            if (cr.b_got[i] != 2 * (uint64_t)i)
                fail_msg("round %ld: B received %" PRIu64 " on ch, want "
                         "%" PRIu64,
                         i, cr.b_got[i], 2 * (uint64_t)i);
        } else if (cr.a_got[i] != 2 * (uint64_t)i + 1) {
            fail_msg("round %ld: A received %" PRIu64 " on x, want %" PRIu64, i,
                     cr.a_got[i], 2 * (uint64_t)i + 1);
        }
    }
    print_message("[ crossing ] %ld rounds: %ld via ch, %ld via x\n", cr.rounds,
                  via_ch, cr.rounds - via_ch);
    uint64_t x;
    assert_status(lfc_try_recv(cr.ch, &x), LFC_AGAIN);
    assert_status(lfc_try_recv(cr.x, &x), LFC_AGAIN);
    lfc_chan_free(cr.ch);
    lfc_chan_free(cr.x);
    free(cr.a_case);
    free(cr.b_case);
    free(cr.a_got);
    free(cr.b_got);
}

/* lfc_try_send hands its value to a receiver blocked in a select (it must
 * succeed once the receiver is blocked); lfc_try_recv takes the value of a
 * sender blocked in a select. */
static void
test_select_unbuffered_try_calls_meet_blocked_select(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(0);
    lfc_chan *idle = chan_new(0);
    for (int round = 0; round < 16; round++) {
        int k = rot_kinds[round % 4];
        bool sel_recv = round < 8;
        uint64_t out = POISON;
        uint64_t idle_out = POISON;
        uint64_t v = 500 + (uint64_t)round;
        lfc_case c[2];
        int at = round & 1;
        set_case(&c[at], ch, sel_recv ? LFC_RECV : LFC_SEND,
                 sel_recv ? (void *)&out : (void *)&v);
        set_case(&c[1 - at], idle, LFC_RECV, &idle_out);
        struct op o;
        op_start_blocking(&o, k, c, 2);
        /* Every other round parked first; the others meet it on the way
         * (polled, since it must succeed once it is blocked). */
        if (round & 2)
            op_wait_parked(&o, sk_names[k]);
        uint64_t x = sel_recv ? 900 + (uint64_t)round : POISON;
        int rc;
        int64_t end = lfc_now_ns() + STUCK_NS;
        while ((rc = sel_recv ? lfc_try_send(ch, &x) : lfc_try_recv(ch, &x)) ==
                   LFC_AGAIN &&
               lfc_now_ns() < end)
            lfc_test_sleep_ns(200 * US);
        if (rc != LFC_OK) {
            lfc_close(ch);
            (void)op_finish(&o, STUCK_NS, sk_names[k]);
            fail_msg("%s: %s into a blocked select never succeeded: %d (%s)",
                     sk_names[k], sel_recv ? "lfc_try_send" : "lfc_try_recv",
                     rc, lfc_strerror(rc));
        }
        op_finish_case(&o, at, LFC_OK, "met by %s on case %d",
                       sel_recv ? "lfc_try_send" : "lfc_try_recv", at);
        if (sel_recv)
            assert_true(out == 900 + (uint64_t)round);
        else
            assert_true(x == 500 + (uint64_t)round);
        assert_true(idle_out == POISON);
        /* One value, one partner: nothing more on either side. */
        assert_status(lfc_try_send(ch, &x), LFC_AGAIN);
        assert_status(lfc_try_recv(ch, &x), LFC_AGAIN);
        assert_status(lfc_try_send(idle, &x), LFC_AGAIN);
        bump();
    }
    lfc_chan_free(ch);
    lfc_chan_free(idle);
}

/* A try_select pairs with a plain lfc_send / lfc_recv parked on an
 * unbuffered channel. */
static void
test_select_try_select_meets_parked_plain_call(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(0);
    for (int round = 0; round < 8; round++) {
        bool partner_sends = round & 1;
        uint64_t pv = partner_sends ? 61 : POISON;
        struct op p;
        op_start_chan(&p, partner_sends ? OP_SEND : OP_RECV, ch, &pv, NULL);
        if (round & 2)
            op_wait_parked(&p, "parked partner"); /* else met on the way */
        uint64_t out = POISON;
        uint64_t v = 62;
        lfc_case c[1];
        set_case(&c[0], ch, partner_sends ? LFC_RECV : LFC_SEND,
                 partner_sends ? (void *)&out : (void *)&v);
        int rc;
        int k = (round & 4) ? SK_TRY_BIASED : SK_TRY;
        int64_t end = lfc_now_ns() + STUCK_NS;
        while ((rc = sel_call(k, c, 1, 0)) == LFC_AGAIN && lfc_now_ns() < end)
            lfc_test_sleep_ns(200 * US);
        if (rc != 0) {
            lfc_close(ch);
            (void)op_finish(&p, STUCK_NS, "parked partner");
            fail_msg("%s never paired with a parked %s: %d (%s)", sk_names[k],
                     partner_sends ? "lfc_send" : "lfc_recv", rc,
                     lfc_strerror(rc));
        }
        assert_status(c[0].status, LFC_OK);
        assert_status(op_finish(&p, STUCK_NS, "parked partner"), LFC_OK);
        if (partner_sends)
            assert_true(out == 61);
        else
            assert_true(pv == 62);
    }
    lfc_chan_free(ch);
}

/* ---- select racing close ------------------------------------------------ */

/*
 * Go's TestNonblockSelectRace, blocking form: a thread blocked (or about
 * to block) in a select over three channels; the test thread, after a
 * random pause, either closes one of them, or sends a value on it and then
 * closes it. The select must return that case: with LFC_CLOSED, or with
 * the value when one was sent.
 */
static void
test_select_races_close(void **state)
{
    (void)state;
    long rounds = lfc_test_scaled(400, 60);
    static const size_t caps[] = {0, 1, 0};
    for (long r = 0; r < rounds; r++) {
        lfc_chan *ch[3];
        for (int i = 0; i < 3; i++)
            ch[i] = chan_new(caps[i]);
        uint64_t out[3] = {POISON, POISON, POISON};
        lfc_case c[3];
        for (int i = 0; i < 3; i++)
            set_case(&c[i], ch[i], LFC_RECV, &out[i]);
        int k = rot_kinds[r % 4];
        struct op o;
        op_start_blocking(&o, k, c, 3);
        int target = (int)(rng() % 3);
        bool send_first = (rng() & 1) != 0;
        /* 0 to ~300 us: sometimes before the select parks, sometimes
         * after. */
        int64_t pause = (int64_t)(rng() % 300) * US;
        if (r % 8 == 7)
            pause = 5 * MS;
        lfc_test_sleep_ns(pause);
        uint64_t v = 10000 + (uint64_t)r;
        if (send_first)
            partner_call(ch[target], true, &v);
        assert_status(lfc_close(ch[target]), LFC_OK);
        op_finish_case(&o, target, send_first ? LFC_OK : LFC_CLOSED,
                       "round %ld: closed case %d%s", r, target,
                       send_first ? " after a send" : "");
        assert_true(out[target] == (send_first ? v : POISON));
        for (int i = 0; i < 3; i++)
            lfc_chan_free(ch[i]);
        bump();
    }
}

/* The same with send cases on full channels: the closed one completes with
 * LFC_CLOSED and nothing is enqueued anywhere. */
static void
test_select_send_races_close(void **state)
{
    (void)state;
    long rounds = lfc_test_scaled(200, 40);
    static const size_t caps[] = {0, 1};
    for (long r = 0; r < rounds; r++) {
        lfc_chan *ch[2];
        for (int i = 0; i < 2; i++) {
            ch[i] = chan_new(caps[i]);
            if (caps[i])
                put(ch[i], 1);
        }
        uint64_t v[2] = {7, 8};
        lfc_case c[2];
        for (int i = 0; i < 2; i++)
            set_case(&c[i], ch[i], LFC_SEND, &v[i]);
        int k = rot_kinds[r % 4];
        struct op o;
        op_start_blocking(&o, k, c, 2);
        int target = (int)(rng() % 2);
        lfc_test_sleep_ns((int64_t)(rng() % 300) * US);
        assert_status(lfc_close(ch[target]), LFC_OK);
        op_finish_case(&o, target, LFC_CLOSED, "round %ld: closed send case %d",
                       r, target);
        uint64_t x;
        assert_int_equal(lfc_chan_len(ch[1]), 1);
        assert_true(take(ch[1]) == 1);
        assert_status(lfc_try_recv(ch[0], &x),
                      target == 0 ? LFC_CLOSED : LFC_AGAIN);
        for (int i = 0; i < 2; i++)
            lfc_chan_free(ch[i]);
        bump();
    }
}

/*
 * A biased select woken for one case may complete an earlier one; the
 * wake-up it was given must then reach the other waiter of the first
 * (select.c, point 6). A biased selector S over {A, X} and a plain
 * receiver R on X are both parked; values arrive on X and on A back to
 * back. Whatever S takes, the other value must not be stranded: if S took
 * A's, R must receive X's.
 */
static void
test_select_biased_passes_unused_wakeup_on(void **state)
{
    (void)state;
    int s_took_a = 0;
    for (int round = 0; round < 24; round++) {
        lfc_chan *a = chan_new(1);
        lfc_chan *x = chan_new(1);
        uint64_t out[2] = {POISON, POISON};
        uint64_t r_out = POISON;
        lfc_case c[2];
        set_case(&c[0], a, LFC_RECV, &out[0]);
        set_case(&c[1], x, LFC_RECV, &out[1]);
        struct op sel;
        struct op r;
        /* Either may be the older waiter on X: the first is parked
         * before the second starts. */
        if (round & 1) {
            op_start_blocking(&sel, round & 2 ? SK_UNTIL_BIASED : SK_SEL_BIASED,
                              c, 2);
            op_wait_parked(&sel, "biased selector");
            op_start_chan(&r, OP_RECV, x, &r_out, NULL);
            op_wait_parked(&r, "plain receiver");
        } else {
            op_start_chan(&r, OP_RECV, x, &r_out, NULL);
            op_wait_parked(&r, "plain receiver");
            op_start_blocking(&sel, round & 2 ? SK_UNTIL_BIASED : SK_SEL_BIASED,
                              c, 2);
            op_wait_parked(&sel, "biased selector");
        }
        /* The second's arrival woke neither. */
        lfc_test_async_assert_blocked(&sel.a, "biased selector");
        lfc_test_async_assert_blocked(&r.a, "plain receiver");
        if (round & 4) {
            put(x, 2);
            put(a, 1);
        } else {
            put(x, 2);
            sched_yield();
            put(a, 1);
        }
        int rc = op_finish(&sel, STUCK_NS, "biased selector");
        assert_true(rc == 0 || rc == 1);
        assert_status(c[rc].status, LFC_OK);
        if (rc == 0) {
            /* S took A's value: X's must reach R. */
            s_took_a++;
            assert_true(out[0] == 1);
            if (op_finish(&r, STUCK_NS, "plain receiver on X") != LFC_OK)
                fail_msg("round %d: receiver on X did not get its value",
                         round);
            assert_true(r_out == 2);
        } else {
            /* S took X's; A's stays buffered; release R. */
            assert_true(out[1] == 2);
            assert_true(take(a) == 1);
            if (op_done(&r)) {
                /* X held one value and S has it: R has nothing to get. */
                (void)op_finish(&r, STUCK_NS, "plain receiver on X");
                fail_msg("round %d: R returned %d (%s) with no value left",
                         round, r.a.rc, lfc_strerror(r.a.rc));
            }
            put(x, 3);
            assert_status(op_finish(&r, STUCK_NS, "plain receiver on X"),
                          LFC_OK);
            assert_true(r_out == 3);
        }
        uint64_t y;
        assert_status(lfc_try_recv(a, &y), LFC_AGAIN);
        assert_status(lfc_try_recv(x, &y), LFC_AGAIN);
        lfc_chan_free(a);
        lfc_chan_free(x);
        bump();
    }
    print_message("[ biased   ] selector took A's value in %d of 24 rounds\n",
                  s_took_a);
}

/*
 * Ordering: a completed case gives the plain call's guarantees, so what
 * the sender wrote before its select happens-before the receiver's use
 * after its select. Plain (non-atomic) payload memory: TSan reports a
 * race if select (on any path: ring, hand-off to a waiting selector, or
 * try_send into one) fails to order it.
 */
#define HB_ROUNDS 2000

struct hb_run {
    lfc_chan *ch[2]; /* unbuffered and capacity 1 */
    lfc_chan *idle;
    uint64_t payload[HB_ROUNDS]; /* plain memory, written before sending */
    long bad;                    /* first bad round + 1, by the receiver */
    lfc_test_barrier start;
};

static void *
hb_sender(void *arg)
{
    struct hb_run *h = arg;
    lfc_test_barrier_wait(&h->start);
    for (uint64_t i = 0; i < HB_ROUNDS; i++) {
        h->payload[i] = i * 3 + 1;
        lfc_chan *ch = h->ch[i & 1];
        uint64_t idle_out;
        if ((i >> 1) % 3 == 0) {
            (void)lfc_send(ch, &i);
        } else if ((i >> 1) % 3 == 1) {
            lfc_case c[2];
            set_case(&c[0], h->idle, LFC_RECV, &idle_out);
            set_case(&c[1], ch, LFC_SEND, &i);
            (void)lfc_select(c, 2);
        } else {
            while (lfc_try_send(ch, &i) == LFC_AGAIN)
                sched_yield();
        }
        bump();
    }
    return NULL;
}

static void *
hb_receiver(void *arg)
{
    struct hb_run *h = arg;
    lfc_test_barrier_wait(&h->start);
    for (uint64_t i = 0; i < HB_ROUNDS; i++) {
        uint64_t got = POISON;
        uint64_t idle_out;
        lfc_case c[2];
        set_case(&c[0], h->ch[i & 1], LFC_RECV, &got);
        set_case(&c[1], h->idle, LFC_RECV, &idle_out);
        int rc = (i % 5 == 0) ? lfc_select_biased(c, 2) : lfc_select(c, 2);
        if (rc != 0 || got != i || h->payload[got] != i * 3 + 1) {
            h->bad = (long)i + 1;
            break;
        }
    }
    return NULL;
}

static void
test_select_send_happens_before_recv(void **state)
{
    (void)state;
    struct hb_run *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    h->ch[0] = chan_new(0);
    h->ch[1] = chan_new(1);
    h->idle = chan_new(0);
    lfc_test_barrier_init(&h->start, 2);
    pthread_t ts;
    pthread_t tr;
    assert_int_equal(pthread_create(&ts, NULL, hb_sender, h), 0);
    assert_int_equal(pthread_create(&tr, NULL, hb_receiver, h), 0);
    pthread_join(tr, NULL);
    if (h->bad != 0) {
        lfc_close(h->ch[0]);
        lfc_close(h->ch[1]);
    }
    pthread_join(ts, NULL);
    if (h->bad != 0)
        fail_msg("round %ld: the receiving select saw the wrong value or "
                 "payload",
                 h->bad - 1);
    lfc_test_barrier_destroy(&h->start);
    lfc_chan_free(h->ch[0]);
    lfc_chan_free(h->ch[1]);
    lfc_chan_free(h->idle);
    free(h);
}

/* ---- timers ------------------------------------------------------------- */

/* lfc_after as a select timeout: a never-ready channel and lfc_after(20ms)
 * give the timer case, not before 20 ms. */
static void
test_select_after_as_timeout(void **state)
{
    (void)state;
    lfc_chan *never = chan_new(0);
    for (int k = SK_SEL; k < SK_N; k++) {
        for (int use_timer = 0; use_timer < 2; use_timer++) {
            int64_t start = lfc_now_ns();
            lfc_timer *t = NULL;
            lfc_chan *tc;
            if (use_timer) {
                t = lfc_timer_after(SHORT_NS);
                assert_non_null(t);
                tc = lfc_timer_chan(t);
            } else {
                tc = lfc_after(SHORT_NS);
            }
            assert_non_null(tc);
            uint64_t out = POISON;
            int64_t fired = 0;
            lfc_case c[2];
            set_case(&c[0], never, LFC_RECV, &out);
            set_case(&c[1], tc, LFC_RECV, &fired);
            int rc = sel_call(k, c, 2, start + 3 * STUCK_NS);
            int64_t now = lfc_now_ns();
            if (rc != 1)
                fail_msg("%s over a never-ready channel and a 20 ms timer: "
                         "%d (%s)",
                         sk_names[k], rc, lfc_strerror(rc));
            assert_status(c[1].status, LFC_OK);
            assert_statuses_untouched_but(c, 2, 1);
            if (now < start + SHORT_NS)
                fail_msg("%s: timer case after %lld us, before 20 ms",
                         sk_names[k], (long long)((now - start) / US));
            assert_true(fired >= start + SHORT_NS);
            assert_true(fired <= now);
            assert_true(out == POISON);
            if (use_timer)
                lfc_timer_free(t);
            else
                lfc_chan_free(tc);
        }
    }
    /* The data case wins when it is ready first. */
    lfc_chan *data = chan_new(1);
    lfc_timer *lt = lfc_timer_after(LFC_TEST_FAR_NS);
    assert_non_null(lt);
    lfc_chan *tc = lfc_timer_chan(lt);
    struct op o;
    uint64_t out = POISON;
    int64_t fired = 0;
    lfc_case c[2];
    set_case(&c[0], tc, LFC_RECV, &fired);
    set_case(&c[1], data, LFC_RECV, &out);
    op_start_blocking(&o, SK_SEL, c, 2);
    op_wait_parked(&o, "select over a timer and data");
    put(data, 3);
    assert_int_equal(op_finish(&o, STUCK_NS, "select timer/data"), 1);
    assert_true(out == 3);
    assert_true(fired == 0);
    lfc_timer_free(lt); /* before it fires: dequeued at once */
    lfc_chan_free(data);
    lfc_chan_free(never);
}

/* ---- lfc_send_ctx / lfc_recv_ctx -------------------------------------- */

static void
test_select_ctx_calls_succeed_when_ready(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    lfc_ctx *dctx = lfc_ctx_with_timeout(lfc_ctx_background(), LFC_TEST_FAR_NS);
    assert_non_null(ctx);
    assert_non_null(dctx);
    lfc_ctx *ctxs[] = {lfc_ctx_background(), ctx, dctx};
    lfc_chan *ch = chan_new(4);
    for (int i = 0; i < 3; i++) {
        uint64_t v = 70 + (uint64_t)i;
        assert_status(lfc_send_ctx(ch, &v, ctxs[i]), LFC_OK);
    }
    assert_int_equal(lfc_chan_len(ch), 3);
    for (int i = 0; i < 3; i++) {
        uint64_t out = POISON;
        assert_status(lfc_recv_ctx(ch, &out, ctxs[i]), LFC_OK);
        assert_true(out == 70 + (uint64_t)i);
    }
    /* Unbuffered: blocks until the partner arrives, then succeeds. */
    lfc_chan *unb = chan_new(0);
    for (int i = 0; i < 3; i++) {
        for (int dir = 0; dir < 2; dir++) {
            uint64_t v = 80 + (uint64_t)i;
            uint64_t out = POISON;
            struct op o;
            op_start_chan(&o, dir ? OP_RECV_CTX : OP_SEND_CTX, unb,
                          dir ? (void *)&out : (void *)&v, ctxs[i]);
            op_wait_parked(&o, dir ? "lfc_recv_ctx" : "lfc_send_ctx");
            uint64_t x = dir ? 90 : POISON;
            partner_call(unb, dir, &x);
            assert_status(op_finish(&o, STUCK_NS, "ctx call"), LFC_OK);
            if (dir)
                assert_true(out == 90);
            else
                assert_true(x == v);
        }
    }
    /* A signal channel (elem_size 0) takes NULL buffers. */
    lfc_chan *sig = lfc_chan_new(1, 0);
    assert_non_null(sig);
    assert_status(lfc_send_ctx(sig, NULL, ctx), LFC_OK);
    assert_status(lfc_recv_ctx(sig, NULL, ctx), LFC_OK);
    assert_status(lfc_ctx_err(ctx), LFC_OK);
    lfc_chan_free(sig);
    lfc_chan_free(unb);
    lfc_chan_free(ch);
    lfc_ctx_free(ctx);
    lfc_ctx_free(dctx);
}

/* A context already cancelled (or timed out) wins over a ready channel:
 * nothing is sent or received, every time. */
static void
test_select_ctx_already_cancelled_wins_over_ready(void **state)
{
    (void)state;
    lfc_ctx *cancelled = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(cancelled);
    assert_status(lfc_ctx_cancel(cancelled), LFC_OK);
    lfc_ctx *child = lfc_ctx_with_cancel(cancelled); /* born cancelled */
    lfc_ctx *expired = lfc_ctx_with_timeout(lfc_ctx_background(), -1);
    assert_non_null(child);
    assert_non_null(expired);
    assert_status(lfc_ctx_err(expired), LFC_TIMEDOUT);
    lfc_ctx *ctxs[] = {cancelled, child, expired};
    const int want[] = {LFC_CANCELED, LFC_CANCELED, LFC_TIMEDOUT};

    lfc_chan *ch = chan_new(2);
    put(ch, 5); /* ready both ways */
    for (int rep = 0; rep < 200; rep++) {
        for (int i = 0; i < 3; i++) {
            uint64_t v = 6;
            uint64_t out = POISON;
            int rc = lfc_send_ctx(ch, &v, ctxs[i]);
            if (rc != want[i])
                fail_msg("lfc_send_ctx with a done ctx and room: %d (%s), "
                         "want %s (rep %d)",
                         rc, lfc_strerror(rc), lfc_strerror(want[i]), rep);
            assert_int_equal(lfc_chan_len(ch), 1);
            rc = lfc_recv_ctx(ch, &out, ctxs[i]);
            if (rc != want[i])
                fail_msg("lfc_recv_ctx with a done ctx and a value: %d (%s), "
                         "want %s (rep %d)",
                         rc, lfc_strerror(rc), lfc_strerror(want[i]), rep);
            assert_int_equal(lfc_chan_len(ch), 1);
            assert_true(out == POISON);
        }
    }
    assert_true(take(ch) == 5);

    /* Unbuffered with a parked partner: still nothing. */
    lfc_chan *unb = chan_new(0);
    for (int dir = 0; dir < 2; dir++) {
        uint64_t pv = dir ? POISON : 41;
        struct op p;
        op_start_chan(&p, dir ? OP_RECV : OP_SEND, unb, &pv, NULL);
        op_wait_parked(&p, "parked partner");
        for (int rep = 0; rep < 50; rep++) {
            for (int i = 0; i < 3; i++) {
                uint64_t v = 42;
                uint64_t out = POISON;
                int rc = dir ? lfc_send_ctx(unb, &v, ctxs[i])
                             : lfc_recv_ctx(unb, &out, ctxs[i]);
                if (rc != want[i]) {
                    lfc_close(unb);
                    (void)op_finish(&p, STUCK_NS, "parked partner");
                    fail_msg("%s with a done ctx and a parked partner: %d "
                             "(%s)",
                             dir ? "lfc_send_ctx" : "lfc_recv_ctx", rc,
                             lfc_strerror(rc));
                }
                assert_true(out == POISON);
            }
        }
        assert_false(op_done(&p));
        /* Release the partner with a plain call. */
        uint64_t x = 43;
        partner_call(unb, dir, &x);
        assert_status(op_finish(&p, STUCK_NS, "parked partner"), LFC_OK);
        assert_true(dir ? pv == 43 : x == 41);
    }
    lfc_chan_free(unb);
    lfc_chan_free(ch);
    lfc_ctx_free(child);
    lfc_ctx_free(cancelled);
    lfc_ctx_free(expired);
}

/* A ready-because-closed channel is ready too: a done ctx still wins. */
static void
test_select_ctx_already_cancelled_wins_over_closed(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    lfc_chan *ch = chan_new(2);
    assert_status(lfc_close(ch), LFC_OK);
    for (int rep = 0; rep < 100; rep++) {
        uint64_t v = 1;
        uint64_t out = POISON;
        assert_status(lfc_send_ctx(ch, &v, ctx), LFC_CANCELED);
        assert_status(lfc_recv_ctx(ch, &out, ctx), LFC_CANCELED);
        assert_true(out == POISON);
    }
    lfc_chan_free(ch);
    lfc_ctx_free(ctx);
}

/* Cancelled from another thread while blocked: LFC_CANCELED, nothing sent
 * or received. */
static void
test_select_ctx_cancel_while_blocked(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 1; cap++) {
        for (int dir = 0; dir < 2; dir++) {
            for (int via_parent = 0; via_parent < 2; via_parent++) {
                lfc_ctx *parent = lfc_ctx_with_cancel(lfc_ctx_background());
                assert_non_null(parent);
                lfc_ctx *ctx = lfc_ctx_with_cancel(parent);
                assert_non_null(ctx);
                lfc_chan *ch = chan_new(cap);
                bool recv = dir == 1;
                if (!recv && cap)
                    put(ch, 1); /* full */
                uint64_t v = 2;
                uint64_t out = POISON;
                struct op o;
                op_start_chan(&o, recv ? OP_RECV_CTX : OP_SEND_CTX, ch,
                              recv ? (void *)&out : (void *)&v, ctx);
                op_wait_parked(&o, recv ? "lfc_recv_ctx" : "lfc_send_ctx");
                assert_status(lfc_ctx_cancel(via_parent ? parent : ctx),
                              LFC_OK);
                int rc = op_finish(&o, STUCK_NS, "ctx call cancelled");
                if (rc != LFC_CANCELED)
                    fail_msg("%s (cap %zu) cancelled%s while blocked: %d (%s)",
                             recv ? "lfc_recv_ctx" : "lfc_send_ctx", cap,
                             via_parent ? " via its parent" : "", rc,
                             lfc_strerror(rc));
                if (recv) {
                    assert_true(out == POISON);
                } else if (cap) {
                    assert_int_equal(lfc_chan_len(ch), 1);
                    assert_true(take(ch) == 1);
                }
                /* Nothing sent, no offer or receiver left behind. */
                assert_nothing_left(ch, cap);
                lfc_chan_free(ch);
                lfc_ctx_free(ctx);
                lfc_ctx_free(parent);
            }
        }
    }
}

/* A deadline context: LFC_TIMEDOUT, not before the deadline; nothing sent
 * or received. */
static void
test_select_ctx_deadline_timedout_not_early(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 1; cap++) {
        for (int dir = 0; dir < 2; dir++) {
            bool recv = dir == 1;
            lfc_ctx *ctx = lfc_ctx_with_timeout(lfc_ctx_background(), SHORT_NS);
            assert_non_null(ctx);
            int64_t dl = lfc_ctx_deadline(ctx);
            lfc_chan *ch = chan_new(cap);
            if (!recv && cap)
                put(ch, 1);
            uint64_t v = 2;
            uint64_t out = POISON;
            int rc =
                recv ? lfc_recv_ctx(ch, &out, ctx) : lfc_send_ctx(ch, &v, ctx);
            int64_t now = lfc_now_ns();
            if (rc != LFC_TIMEDOUT)
                fail_msg("%s (cap %zu) with a 20 ms ctx: %d (%s)",
                         recv ? "lfc_recv_ctx" : "lfc_send_ctx", cap, rc,
                         lfc_strerror(rc));
            if (now < dl)
                fail_msg("LFC_TIMEDOUT %lld ns before the ctx deadline",
                         (long long)(dl - now));
            assert_true(out == POISON);
            if (!recv && cap)
                assert_true(take(ch) == 1);
            assert_nothing_left(ch, cap);
            lfc_chan_free(ch);
            lfc_ctx_free(ctx);
        }
    }
}

static void
test_select_ctx_closed_channel(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    lfc_chan *ch = chan_new(2);
    put(ch, 9);
    assert_status(lfc_close(ch), LFC_OK);
    uint64_t v = 1;
    uint64_t out = POISON;
    assert_status(lfc_send_ctx(ch, &v, ctx), LFC_CLOSED);
    assert_int_equal(lfc_chan_len(ch), 1);
    assert_status(lfc_recv_ctx(ch, &out, ctx), LFC_OK);
    assert_true(out == 9);
    out = POISON;
    assert_status(lfc_recv_ctx(ch, &out, ctx), LFC_CLOSED);
    assert_true(out == POISON);
    lfc_chan_free(ch);

    /* Blocked, then closed. */
    for (size_t cap = 0; cap <= 1; cap++) {
        for (int dir = 0; dir < 2; dir++) {
            bool recv = dir == 1;
            ch = chan_new(cap);
            if (!recv && cap)
                put(ch, 1);
            struct op o;
            out = POISON;
            op_start_chan(&o, recv ? OP_RECV_CTX : OP_SEND_CTX, ch,
                          recv ? (void *)&out : (void *)&v, ctx);
            op_wait_parked(&o, recv ? "lfc_recv_ctx" : "lfc_send_ctx");
            assert_status(lfc_close(ch), LFC_OK);
            assert_status(op_finish(&o, STUCK_NS, "ctx call closed"),
                          LFC_CLOSED);
            assert_true(out == POISON);
            uint64_t x;
            if (!recv && cap)
                assert_true(take(ch) == 1);
            assert_status(lfc_try_recv(ch, &x), LFC_CLOSED);
            lfc_chan_free(ch);
        }
    }
    assert_status(lfc_ctx_err(ctx), LFC_OK);
    lfc_ctx_free(ctx);
}

static void
test_select_ctx_einval(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    lfc_chan *ch = chan_new(2);
    uint64_t v = 1;
    uint64_t out = POISON;
    assert_status(lfc_send_ctx(NULL, &v, ctx), LFC_EINVAL);
    assert_status(lfc_send_ctx(ch, &v, NULL), LFC_EINVAL);
    assert_status(lfc_send_ctx(ch, NULL, ctx), LFC_EINVAL);
    assert_status(lfc_send_ctx(NULL, NULL, NULL), LFC_EINVAL);
    assert_int_equal(lfc_chan_len(ch), 0);
    put(ch, 3);
    assert_status(lfc_recv_ctx(NULL, &out, ctx), LFC_EINVAL);
    assert_status(lfc_recv_ctx(ch, &out, NULL), LFC_EINVAL);
    assert_status(lfc_recv_ctx(ch, NULL, ctx), LFC_EINVAL);
    assert_status(lfc_recv_ctx(NULL, NULL, NULL), LFC_EINVAL);
    assert_int_equal(lfc_chan_len(ch), 1);
    assert_true(out == POISON);
    assert_status(lfc_ctx_err(ctx), LFC_OK);
    assert_true(take(ch) == 3);
    lfc_chan_free(ch);
    lfc_ctx_free(ctx);
}

/* The header's own example: a select over jobs, results and ctx done;
 * cancelling the ctx completes the done case with LFC_CLOSED. */
static void
test_select_ctx_done_case_wakes_select(void **state)
{
    (void)state;
    for (int k = SK_SEL; k < SK_N; k++) {
        lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
        assert_non_null(ctx);
        lfc_chan *jobs = chan_new(4);
        lfc_chan *outc = chan_new(0);
        uint64_t job = POISON;
        uint64_t res = 5;
        lfc_case c[3];
        set_case(&c[0], jobs, LFC_RECV, &job);
        set_case(&c[1], outc, LFC_SEND, &res);
        set_case(&c[2], lfc_ctx_done(ctx), LFC_RECV, NULL);
        struct op o;
        op_start_parked(&o, k, c, 3);
        assert_status(lfc_ctx_cancel(ctx), LFC_OK);
        op_finish_case(&o, 2, LFC_CLOSED, "woken by cancelling its ctx");
        assert_true(job == POISON);
        uint64_t x;
        assert_status(lfc_try_recv(outc, &x), LFC_AGAIN);
        lfc_chan_free(jobs);
        lfc_chan_free(outc);
        lfc_ctx_free(ctx);
    }
}

/* ---- parking, many cases, threads ------------------------------------- */

/* The CPU time thread th has used, or -1 if it cannot be read. */
static int64_t
thread_cpu_ns(pthread_t th)
{
    clockid_t id;
    struct timespec ts;
    if (pthread_getcpuclockid(th, &id) != 0 || clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* The header: a blocked select parks; it does not poll. From the moment
 * it sleeps in the futex, over a second it uses next to no CPU (a polling
 * one would use a good part of a CPU even on a loaded host). Measured from
 * outside, from the park on, so the spin before it does not count. */
static void
test_select_blocked_parks_no_cpu(void **state)
{
    (void)state;
    lfc_chan *ch[4];
    lfc_case c[4];
    uint64_t out[4];
    for (int i = 0; i < 4; i++) {
        ch[i] = chan_new(i & 1);
        out[i] = POISON;
        set_case(&c[i], ch[i], LFC_RECV, &out[i]);
    }
    struct op o;
    op_start_parked(&o, SK_SEL, c, 4);
    int64_t before = thread_cpu_ns(o.a.thread);
    lfc_test_sleep_ns(SEC);
    int64_t after = thread_cpu_ns(o.a.thread);
    assert_false(op_done(&o));
    uint64_t v = 0x1234;
    partner_call(ch[3], true, &v);
    op_finish_case(&o, 3, LFC_OK, "woken by a send on case 3");
    assert_true(out[3] == 0x1234);
    assert_true(before >= 0 && after >= before);
    if (after - before >= 200 * MS)
        fail_msg("select parked for 1 s used %lld ms of CPU (polling "
                 "instead of sleeping?)",
                 (long long)((after - before) / MS));
    for (int i = 0; i < 4; i++)
        lfc_chan_free(ch[i]);
}

/* More than 32 cases (the header: those may need memory): a blocked select
 * over 100 channels wakes on the one that gets a value. */
static void
test_select_many_cases_blocking(void **state)
{
    (void)state;
    enum { N = 100 };
    lfc_chan *ch[N];
    uint64_t out[N];
    lfc_case c[N];
    for (int i = 0; i < N; i++) {
        ch[i] = chan_new((size_t)(i % 3 == 0 ? 0 : 1));
        out[i] = POISON;
        set_case(&c[i], ch[i], LFC_RECV, &out[i]);
    }
    static const int targets[] = {77, 0, 99, 33};
    for (int t = 0; t < 4; t++) {
        int k = rot_kinds[t];
        reset_status(c, N);
        struct op o;
        op_start_parked(&o, k, c, N);
        uint64_t v = 1000 + (uint64_t)targets[t];
        partner_call(ch[targets[t]], true, &v);
        op_finish_case(&o, targets[t], LFC_OK, "woken by a send on case %d",
                       targets[t]);
        assert_true(out[targets[t]] == v);
        out[targets[t]] = POISON;
        /* No registration left behind on any of the 100. */
        for (int i = 0; i < N; i++) {
            uint64_t x;
            assert_status(lfc_try_recv(ch[i], &x), LFC_AGAIN);
            if (i % 3 == 0)
                assert_status(lfc_try_send(ch[i], &x), LFC_AGAIN);
        }
    }
    /* Many cases ready at once: still exactly one. */
    size_t puts = 0;
    for (int i = 1; i < N; i += 3, puts++)
        put(ch[i], (uint64_t)i);
    reset_status(c, N);
    int rc = lfc_try_select(c, N);
    assert_true(rc >= 0 && rc < N && rc % 3 == 1);
    assert_status(c[rc].status, LFC_OK);
    assert_statuses_untouched_but(c, N, rc);
    assert_true(out[rc] == (uint64_t)rc);
    size_t left = 0;
    for (int i = 0; i < N; i++)
        left += lfc_chan_len(ch[i]);
    assert_int_equal(left, puts - 1);
    for (int i = 0; i < N; i++)
        lfc_chan_free(ch[i]);
}

/* Threads of this process named like the test binary: the main thread, the
 * sanitizer's own, and any that lfchan created without a name. */
static char own_comm[64];
static int base_own_threads = -1;

static void *
noop_thread(void *arg)
{
    return arg;
}

static void
read_own_comm(void)
{
    FILE *f = fopen("/proc/self/comm", "r");
    if (f == NULL)
        return;
    if (fgets(own_comm, sizeof(own_comm), f) != NULL)
        own_comm[strcspn(own_comm, "\n")] = '\0';
    fclose(f);
    /* A first thread makes the sanitizer runtimes start theirs. */
    pthread_t t;
    if (pthread_create(&t, NULL, noop_thread, NULL) == 0)
        pthread_join(t, NULL);
    if (own_comm[0] != '\0')
        base_own_threads = lfc_test_count_threads_named(own_comm);
}

/* No thread left behind once everything is freed: the timer thread exits
 * when idle, and select starts no thread of its own. Runs last, without
 * the watchdog thread. */
static void
test_select_no_thread_left_behind(void **state)
{
    (void)state;
    /* Exercise timers, deadlines and blocked selects once more. */
    lfc_ctx *ctx = lfc_ctx_with_timeout(lfc_ctx_background(), SHORT_NS / 4);
    assert_non_null(ctx);
    lfc_chan *tc = lfc_after(SHORT_NS / 4);
    assert_non_null(tc);
    lfc_chan *ch = chan_new(0);
    int64_t fired = 0;
    uint64_t out = POISON;
    lfc_case c[3];
    set_case(&c[0], ch, LFC_RECV, &out);
    set_case(&c[1], tc, LFC_RECV, &fired);
    set_case(&c[2], lfc_ctx_done(ctx), LFC_RECV, NULL);
    for (int i = 0; i < 2; i++) {
        int rc = lfc_select_until(c, 3, lfc_now_ns() + 3 * STUCK_NS);
        assert_true(rc == 1 || rc == 2);
        c[rc].ch = NULL; /* switch it off */
    }
    assert_status(lfc_recv_ctx(ch, &out, ctx), LFC_TIMEDOUT);
    lfc_chan_free(tc);
    lfc_chan_free(ch);
    lfc_ctx_free(ctx);

    if (!lfc_test_wait_no_threads_named("lfc", STUCK_NS))
        fail_msg("%d lfchan thread(s) still alive %lld ms after everything "
                 "was freed",
                 lfc_test_count_threads_named("lfc"),
                 (long long)(STUCK_NS / MS));
    if (base_own_threads > 0) {
        int64_t end = lfc_now_ns() + STUCK_NS;
        int n;
        while ((n = lfc_test_count_threads_named(own_comm)) >
                   base_own_threads &&
               lfc_now_ns() < end)
            lfc_test_sleep_ns(10 * MS);
        if (n > base_own_threads)
            fail_msg("%d thread(s) named \"%s\", %d at start: a thread was "
                     "left behind",
                     n, own_comm, base_own_threads);
    }
}

#define SEL_TEST(fn)                                                           \
    cmocka_unit_test_setup_teardown(fn, dog_setup, dog_teardown)

int
main(void)
{
    read_own_comm();
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks: helpers note when they sleep. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        SEL_TEST(test_select_einval_bad_arguments),
        SEL_TEST(test_select_einval_no_channel_blocking),
        SEL_TEST(test_select_no_channel_try_again_until_timedout),
        SEL_TEST(test_select_max_cases),
        SEL_TEST(test_select_try_none_ready_again_consumes_nothing),
        SEL_TEST(test_select_ready_case_index_and_status),
        SEL_TEST(test_select_exactly_one_of_several_ready),
        SEL_TEST(test_select_try_one_of_two_parked_partners),
        SEL_TEST(test_select_null_channel_never_ready),
        SEL_TEST(test_select_same_channel_several_cases),
        SEL_TEST(test_select_same_channel_blocked_takes_one),
        SEL_TEST(test_select_same_channel_blocked_sends_one),
        SEL_TEST(test_select_send_recv_same_unbuffered_never_self_pairs),
        SEL_TEST(test_select_recv_closed_drains_then_closed),
        SEL_TEST(test_select_send_closed_closed_enqueues_nothing),
        SEL_TEST(test_select_try_fair_100k),
        SEL_TEST(test_select_blocking_fair),
        SEL_TEST(test_select_biased_first_ready_wins),
        SEL_TEST(test_select_blocked_recv_wakes_on_send),
        SEL_TEST(test_select_blocked_send_wakes_on_recv),
        SEL_TEST(test_select_blocked_wakes_on_close),
        SEL_TEST(test_select_until_timedout_not_early_consumes_nothing),
        SEL_TEST(test_select_until_past_deadline_like_try),
        SEL_TEST(test_select_unbuffered_select_send_to_select_recv),
        SEL_TEST(test_select_unbuffered_plain_send_to_select_recv),
        SEL_TEST(test_select_unbuffered_select_send_to_plain_recv),
        SEL_TEST(test_select_unbuffered_crossing_selects_pair_consistently),
        SEL_TEST(test_select_unbuffered_try_calls_meet_blocked_select),
        SEL_TEST(test_select_try_select_meets_parked_plain_call),
        SEL_TEST(test_select_races_close),
        SEL_TEST(test_select_send_races_close),
        SEL_TEST(test_select_biased_passes_unused_wakeup_on),
        SEL_TEST(test_select_send_happens_before_recv),
        SEL_TEST(test_select_after_as_timeout),
        SEL_TEST(test_select_ctx_calls_succeed_when_ready),
        SEL_TEST(test_select_ctx_already_cancelled_wins_over_ready),
        SEL_TEST(test_select_ctx_already_cancelled_wins_over_closed),
        SEL_TEST(test_select_ctx_cancel_while_blocked),
        SEL_TEST(test_select_ctx_deadline_timedout_not_early),
        SEL_TEST(test_select_ctx_closed_channel),
        SEL_TEST(test_select_ctx_einval),
        SEL_TEST(test_select_ctx_done_case_wakes_select),
        SEL_TEST(test_select_blocked_parks_no_cpu),
        SEL_TEST(test_select_many_cases_blocking),
        cmocka_unit_test(test_select_no_thread_left_behind),
    };
    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
