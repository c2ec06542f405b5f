/* SPDX-License-Identifier: MIT */
/*
 * Bad input at every public entry point (issue 11, "Proof of
 * correctness"): NULL handles and buffers, zero and maximal sizes, sizes
 * whose product overflows, deadlines INT64_MIN, 0, past and INT64_MAX,
 * double close and every operation after close, selects with 0 cases, too
 * many cases, all-NULL cases and bad directions, semaphore weights 0,
 * negative and over the total, bad flags and modes.
 *
 * The table `g_table` below lists every LFC_API function of include/, the
 * bad inputs tried on it and what each returns, and names the test that
 * checks it. test_table_covers_every_public_function reads the headers
 * (the same rule as scripts/test.sh's exports check: the last identifier
 * before the first '(' of an LFC_API declaration) and fails if a public
 * function is missing from the table, or the table names one that is not
 * public: a new function cannot be added without deciding what its bad
 * input gets.
 *
 * Every expected result is the one the function's header documents; a
 * status-returning call must also leave errno alone (status.h), and a
 * constructor must return NULL with the documented errno. Where it
 * matters the test checks that the rejected call lost nothing: the value
 * a rejected send offered was not enqueued, the channel still holds what
 * it held, a semaphore's or wait group's count is unchanged, a select
 * consumed nothing and wrote no status, a rejected merger kept no
 * reference (the input still works and is not closed).
 *
 * Deadlines: INT64_MIN, 0 and past deadlines give LFC_TIMEDOUT only after
 * the non-blocking attempt failed (a past-deadline receive on a non-empty
 * channel returns the value); INT64_MAX (LFC_FOREVER) is no deadline: the
 * call parks (the park hook of lfc_test_async.h says so, not a sleep) and
 * completes when its partner comes, never with LFC_TIMEDOUT.
 *
 * Rules kept here: assertions on the test's thread only; every blocked
 * helper is waited for with a bound and rescued (its channel closed) if
 * stuck; a watchdog aborts a call on the test thread that hangs; nothing
 * about timing is asserted.
 */
#define _GNU_SOURCE

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

/* Let an allocation the library makes fail with NULL under the sanitizers
 * too, as with glibc: a constructor must then report ENOMEM, not abort. */
const char *__asan_default_options(void);
const char *__tsan_default_options(void);

__attribute__((used)) const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

__attribute__((used)) const char *
__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC
#define STUCK_NS LFC_TEST_STUCK_NS

/* An errno value no lfchan call sets: a status-returning call must leave
 * it there. */
#define ERRNO_SENTINEL 7777

/* ---- assertions -------------------------------------------------------- */

static unsigned long g_progress; /* bumped by every check (watchdog) */

/* `call` returns status `want` and leaves errno alone. */
#define ST(call, want)                                                         \
    do {                                                                       \
        lfc_progress_bump(&g_progress);                                        \
        errno = ERRNO_SENTINEL;                                                \
        int st_got_ = (call);                                                  \
        int st_errno_ = errno;                                                 \
        int st_want_ = (want);                                                 \
        if (st_got_ != st_want_)                                               \
            fail_msg("%s: got %d (%s), want %d (%s)", #call, st_got_,          \
                     lfc_strerror(st_got_), st_want_, lfc_strerror(st_want_)); \
        if (st_errno_ != ERRNO_SENTINEL)                                       \
            fail_msg("%s changed errno to %d", #call, st_errno_);              \
    } while (0)

/* Constructor `call` returns NULL and sets errno to `want`. */
#define NUL(call, want)                                                        \
    do {                                                                       \
        lfc_progress_bump(&g_progress);                                        \
        errno = 0;                                                             \
        const void *nul_p_ = (call);                                           \
        int nul_errno_ = errno;                                                \
        if (nul_p_ != NULL)                                                    \
            fail_msg("%s returned an object, want NULL", #call);               \
        if (nul_errno_ != (want))                                              \
            fail_msg("%s: errno %d (%s), want %d", #call, nul_errno_,          \
                     strerror(nul_errno_), (want));                            \
    } while (0)

static int64_t
past(void)
{
    return lfc_now_ns() - SEC;
}

/* The four kinds of deadline that must not be waited for. */
static int64_t
expired_deadline(int k)
{
    switch (k) {
    case 0:
        return INT64_MIN;
    case 1:
        return -1;
    case 2:
        return 0;
    default:
        return past();
    }
}
enum { EXPIRED_KINDS = 4 };

static lfc_chan *
chan_new(size_t cap, size_t es)
{
    lfc_chan *ch = lfc_chan_new(cap, es);
    assert_non_null(ch);
    return ch;
}

static void
put_int(lfc_chan *ch, int v)
{
    ST(lfc_try_send(ch, &v), LFC_OK);
}

/* The channel holds exactly the ints `want[0..n)`, in that order (drained
 * and checked). */
static void
expect_contents(lfc_chan *ch, const int *want, size_t n)
{
    assert_int_equal(lfc_chan_len(ch), n);
    for (size_t i = 0; i < n; i++) {
        int v = -1;
        ST(lfc_try_recv(ch, &v), LFC_OK);
        assert_int_equal(v, want[i]);
    }
    int v;
    int r = lfc_try_recv(ch, &v);
    assert_true(r == LFC_AGAIN || r == LFC_CLOSED);
}

/* ---- helpers that block ------------------------------------------------- */

/* One blocking call run on a helper thread (lfc_test_async.h). */
struct op {
    lfc_chan *ch;
    int v;
    int64_t deadline;
    lfc_case cases[2];
    int ncases;
    lfc_sem *sem;
    lfc_wg *wg;
};

static void
rescue_close(void *arg)
{
    struct op *o = arg;
    if (o->ch)
        lfc_close(o->ch);
}

static void
async_start(struct lfc_test_async *a, lfc_test_async_fn fn, struct op *o)
{
    struct lfc_test_async_opts opts = {.rescue = rescue_close,
                                       .rescue_arg = o};
    lfc_test_async_start_with(a, fn, o, &opts);
}

static int
call_recv_until(void *arg)
{
    struct op *o = arg;
    return lfc_recv_until(o->ch, &o->v, o->deadline);
}

static int
call_send_until(void *arg)
{
    struct op *o = arg;
    return lfc_send_until(o->ch, &o->v, o->deadline);
}

static int
call_recv(void *arg)
{
    struct op *o = arg;
    return lfc_recv(o->ch, &o->v);
}

static int
call_send(void *arg)
{
    struct op *o = arg;
    return lfc_send(o->ch, &o->v);
}

static int
call_select_until(void *arg)
{
    struct op *o = arg;
    return lfc_select_until(o->cases, o->ncases, o->deadline);
}

static int
call_select_biased_until(void *arg)
{
    struct op *o = arg;
    return lfc_select_biased_until(o->cases, o->ncases, o->deadline);
}

/* A receive with deadline INT64_MAX on an empty channel parks, and
 * returns the value sent later (not LFC_TIMEDOUT). */
static void
recv_forever_waits_for_value(lfc_test_async_fn fn, size_t cap)
{
    lfc_chan *ch = chan_new(cap, sizeof(int));
    struct op o = {.ch = ch, .v = -1, .deadline = INT64_MAX};
    struct lfc_test_async a;
    async_start(&a, fn, &o);
    lfc_test_async_wait_parked(&a, "receive with deadline INT64_MAX");
    lfc_test_async_assert_blocked(&a, "receive with deadline INT64_MAX");
    int v = 42;
    ST(lfc_send_until(ch, &v, lfc_now_ns() + STUCK_NS), LFC_OK);
    ST(lfc_test_async_join(&a, "receive with deadline INT64_MAX"), LFC_OK);
    assert_int_equal(o.v, 42);
    lfc_chan_free(ch);
}

/* ---- channels ------------------------------------------------------------ */

static void
test_chan_new_bad_sizes(void **state)
{
    (void)state;
    /* Capacity above the maximum, elem_size so large a slot overflows. */
    NUL(lfc_chan_new(LFC_CHAN_MAX_CAP + 1, 8), EINVAL);
    NUL(lfc_chan_new(SIZE_MAX, 8), EINVAL);
    NUL(lfc_chan_new(SIZE_MAX, 0), EINVAL);
    NUL(lfc_chan_new(1, SIZE_MAX), EINVAL);
    NUL(lfc_chan_new(0, SIZE_MAX), EINVAL);
    NUL(lfc_chan_new(0, SIZE_MAX - 15), EINVAL);
    /* capacity * elem_size overflows size_t. */
    NUL(lfc_chan_new(LFC_CHAN_MAX_CAP, (size_t)1 << 40), ENOMEM);
    NUL(lfc_chan_new(LFC_CHAN_MAX_CAP, SIZE_MAX / 2), ENOMEM);
    NUL(lfc_chan_new(1 << 20, SIZE_MAX / ((size_t)1 << 19)), ENOMEM);
    NUL(lfc_chan_new(1, SIZE_MAX - 16), ENOMEM);
    /* Too large to allocate, without overflow. */
    NUL(lfc_chan_new(1, (size_t)1 << 60), ENOMEM);
    /* Zero sizes are valid: unbuffered, signal-only. */
    lfc_chan *ch = chan_new(0, 0);
    assert_int_equal(lfc_chan_cap(ch), 0);
    assert_int_equal(lfc_chan_elem_size(ch), 0);
    lfc_chan_free(ch);
    ch = chan_new(1, 0);
    ST(lfc_try_send(ch, NULL), LFC_OK);
    ST(lfc_try_recv(ch, NULL), LFC_OK);
    lfc_chan_free(ch);
}

static void
test_chan_new_unbounded_bad_sizes(void **state)
{
    (void)state;
    /* elem_size so large that a node's size overflows. */
    NUL(lfc_chan_new_unbounded(SIZE_MAX), EINVAL);
    NUL(lfc_chan_new_unbounded(SIZE_MAX - 15), EINVAL);
    /* Valid: signal-only; and values too large to allocate, which the
     * sends report (LFC_ENOMEM, nothing enqueued). */
    lfc_chan *ch = lfc_chan_new_unbounded(0);
    assert_non_null(ch);
    assert_true(lfc_chan_cap(ch) == SIZE_MAX);
    ST(lfc_try_send(ch, NULL), LFC_OK);
    ST(lfc_try_recv(ch, NULL), LFC_OK);
    lfc_chan_free(ch);
    char small[8] = {0};
    ch = lfc_chan_new_unbounded((size_t)1 << 60);
    assert_non_null(ch);
    ST(lfc_send(ch, small), LFC_ENOMEM);
    ST(lfc_send_until(ch, small, INT64_MIN), LFC_ENOMEM);
    assert_int_equal(lfc_chan_len(ch), 0);
    ST(lfc_send(ch, NULL), LFC_EINVAL);
    lfc_chan_free(ch);
}

static void
test_chan_null_handle(void **state)
{
    (void)state;
    int v = 1;
    assert_null(lfc_chan_dup(NULL));
    lfc_chan_free(NULL);
    ST(lfc_send(NULL, &v), LFC_EINVAL);
    ST(lfc_recv(NULL, &v), LFC_EINVAL);
    ST(lfc_try_send(NULL, &v), LFC_EINVAL);
    ST(lfc_try_recv(NULL, &v), LFC_EINVAL);
    ST(lfc_send_until(NULL, &v, INT64_MAX), LFC_EINVAL);
    ST(lfc_recv_until(NULL, &v, INT64_MAX), LFC_EINVAL);
    ST(lfc_send_until(NULL, &v, INT64_MIN), LFC_EINVAL);
    ST(lfc_recv_until(NULL, &v, 0), LFC_EINVAL);
    ST(lfc_close(NULL), LFC_EINVAL);
    assert_int_equal(lfc_chan_len(NULL), 0);
    assert_int_equal(lfc_chan_cap(NULL), 0);
    assert_int_equal(lfc_chan_elem_size(NULL), 0);
    assert_false(lfc_chan_closed(NULL));
    assert_int_equal(v, 1);
}

/* NULL buffers with elem_size > 0: rejected, and nothing lost. */
static void
test_chan_null_buffer(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 2; cap++) {
        lfc_chan *ch = chan_new(cap, sizeof(int));
        ST(lfc_send(ch, NULL), LFC_EINVAL);
        ST(lfc_try_send(ch, NULL), LFC_EINVAL);
        ST(lfc_send_until(ch, NULL, INT64_MAX), LFC_EINVAL);
        ST(lfc_send_until(ch, NULL, INT64_MIN), LFC_EINVAL);
        ST(lfc_recv(ch, NULL), LFC_EINVAL);
        ST(lfc_try_recv(ch, NULL), LFC_EINVAL);
        ST(lfc_recv_until(ch, NULL, INT64_MAX), LFC_EINVAL);
        ST(lfc_recv_until(ch, NULL, 0), LFC_EINVAL);
        if (cap > 0) {
            /* A buffered value survives the rejected receives. */
            put_int(ch, 5);
            ST(lfc_recv(ch, NULL), LFC_EINVAL);
            ST(lfc_try_recv(ch, NULL), LFC_EINVAL);
            ST(lfc_recv_until(ch, NULL, past()), LFC_EINVAL);
            expect_contents(ch, (int[]){5}, 1);
        }
        ST(lfc_close(ch), LFC_OK);
        /* Closed: the NULL buffer is still the first thing wrong. */
        ST(lfc_send(ch, NULL), LFC_EINVAL);
        ST(lfc_recv(ch, NULL), LFC_EINVAL);
        lfc_chan_free(ch);
    }
}

/* The batch calls (chan.h, "Batches"): NULL handle, NULL count pointer,
 * NULL buffers with elem_size > 0 and n > 0, owned channels for sends:
 * LFC_EINVAL with the count 0 and nothing moved; n == 0 is LFC_OK. */
static void
test_chan_batch_bad_input(void **state)
{
    (void)state;
    int v[3] = {1, 2, 3};
    size_t c = 9;
    ST(lfc_send_many(NULL, v, 3, &c), LFC_EINVAL);
    assert_int_equal(c, 0);
    ST(lfc_send_many_until(NULL, v, 3, &c, INT64_MIN), LFC_EINVAL);
    ST(lfc_try_send_many(NULL, v, 3, &c), LFC_EINVAL);
    ST(lfc_recv_many(NULL, v, 3, &c), LFC_EINVAL);
    ST(lfc_recv_many_until(NULL, v, 3, &c, INT64_MAX), LFC_EINVAL);
    ST(lfc_try_recv_many(NULL, v, 3, NULL), LFC_EINVAL);
    for (size_t cap = 0; cap <= 2; cap++) {
        lfc_chan *ch = chan_new(cap, sizeof(int));
        c = 9;
        ST(lfc_send_many(ch, NULL, 1, &c), LFC_EINVAL);
        assert_int_equal(c, 0);
        ST(lfc_send_many(ch, v, 1, NULL), LFC_EINVAL);
        ST(lfc_send_many_until(ch, NULL, 2, &c, INT64_MAX), LFC_EINVAL);
        ST(lfc_send_many_until(ch, v, 2, NULL, INT64_MIN), LFC_EINVAL);
        ST(lfc_try_send_many(ch, NULL, 2, &c), LFC_EINVAL);
        ST(lfc_try_send_many(ch, v, 0, NULL), LFC_EINVAL);
        ST(lfc_send_many(ch, NULL, 0, &c), LFC_OK);
        if (cap > 0) {
            put_int(ch, 5);
            ST(lfc_recv_many(ch, NULL, 1, &c), LFC_EINVAL);
            ST(lfc_recv_many(ch, v, 1, NULL), LFC_EINVAL);
            ST(lfc_recv_many_until(ch, NULL, 1, &c, 0), LFC_EINVAL);
            ST(lfc_try_recv_many(ch, NULL, 1, &c), LFC_EINVAL);
            ST(lfc_try_recv_many(ch, v, 0, &c), LFC_OK);
            expect_contents(ch, (int[]){5}, 1);
        }
        ST(lfc_close(ch), LFC_OK);
        ST(lfc_send_many(ch, NULL, 1, &c), LFC_EINVAL);
        ST(lfc_send_many(ch, v, 0, &c), LFC_OK);
        ST(lfc_send_many(ch, v, 1, &c), LFC_CLOSED);
        ST(lfc_send_many_until(ch, v, 1, &c, INT64_MIN), LFC_CLOSED);
        ST(lfc_try_send_many(ch, v, 1, &c), LFC_CLOSED);
        ST(lfc_recv_many(ch, NULL, 1, &c), LFC_EINVAL);
        ST(lfc_recv_many(ch, v, 3, &c), LFC_CLOSED);
        ST(lfc_recv_many_until(ch, v, 3, &c, INT64_MIN), LFC_CLOSED);
        ST(lfc_try_recv_many(ch, v, 3, &c), LFC_CLOSED);
        assert_int_equal(c, 0);
        lfc_chan_free(ch);
    }
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    lfc_chan *done = lfc_ctx_done(ctx);
    ST(lfc_send_many(done, NULL, 0, &c), LFC_EINVAL);
    ST(lfc_send_many_until(done, NULL, 1, &c, 0), LFC_EINVAL);
    ST(lfc_try_send_many(done, NULL, 1, &c), LFC_EINVAL);
    ST(lfc_try_recv_many(done, NULL, 1, &c), LFC_AGAIN);
    lfc_ctx_free(ctx);
}

static void
test_chan_close_twice_and_after_close(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 2; cap++) {
        lfc_chan *ch = chan_new(cap, sizeof(int));
        if (cap == 2)
            put_int(ch, 1);
        if (cap == 2)
            put_int(ch, 2); /* full */
        ST(lfc_close(ch), LFC_OK);
        ST(lfc_close(ch), LFC_CLOSED);
        ST(lfc_close(ch), LFC_CLOSED);
        assert_true(lfc_chan_closed(ch));
        int v = 9;
        ST(lfc_send(ch, &v), LFC_CLOSED);
        ST(lfc_try_send(ch, &v), LFC_CLOSED); /* closed before full */
        for (int k = 0; k < EXPIRED_KINDS; k++)
            ST(lfc_send_until(ch, &v, expired_deadline(k)), LFC_CLOSED);
        ST(lfc_send_until(ch, &v, INT64_MAX), LFC_CLOSED);
        ST(lfc_send_ctx(ch, &v, lfc_ctx_background()), LFC_CLOSED);
        lfc_case sc = {.ch = ch, .dir = LFC_SEND, .buf = &v, .status = 77};
        ST(lfc_select(&sc, 1), 0);
        assert_int_equal(sc.status, LFC_CLOSED);
        /* Receivers drain what is buffered (nothing was added), then
         * LFC_CLOSED from every form. */
        if (cap == 2) {
            ST(lfc_recv_until(ch, &v, INT64_MIN), LFC_OK);
            assert_int_equal(v, 1);
            ST(lfc_recv(ch, &v), LFC_OK);
            assert_int_equal(v, 2);
        }
        ST(lfc_recv(ch, &v), LFC_CLOSED);
        ST(lfc_try_recv(ch, &v), LFC_CLOSED);
        for (int k = 0; k < EXPIRED_KINDS; k++)
            ST(lfc_recv_until(ch, &v, expired_deadline(k)), LFC_CLOSED);
        ST(lfc_recv_until(ch, &v, INT64_MAX), LFC_CLOSED);
        ST(lfc_recv_ctx(ch, &v, lfc_ctx_background()), LFC_CLOSED);
        lfc_case rc = {.ch = ch, .dir = LFC_RECV, .buf = &v, .status = 77};
        ST(lfc_try_select(&rc, 1), 0);
        assert_int_equal(rc.status, LFC_CLOSED);
        assert_int_equal(lfc_chan_len(ch), 0);
        assert_int_equal(lfc_chan_cap(ch), cap);
        assert_int_equal(v, 2 * (cap == 2) + 9 * (cap != 2));
        lfc_chan_free(ch);
    }
}

/* Channels the library owns are receive-only: every send and close is
 * LFC_EINVAL, lfc_chan_free without a dup does nothing. */
static void
test_chan_owned_channels_reject_sends(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    lfc_timer *t = lfc_timer_after(LFC_TEST_FAR_NS);
    assert_non_null(t);
    lfc_chan *owned[] = {lfc_ctx_done(ctx), lfc_timer_chan(t),
                         lfc_ctx_done(lfc_ctx_background())};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        lfc_chan *ch = owned[i];
        assert_non_null(ch);
        int64_t v = 1;
        ST(lfc_send(ch, &v), LFC_EINVAL);
        ST(lfc_try_send(ch, &v), LFC_EINVAL);
        ST(lfc_send_until(ch, &v, INT64_MAX), LFC_EINVAL);
        ST(lfc_send_until(ch, &v, INT64_MIN), LFC_EINVAL);
        ST(lfc_send_ctx(ch, &v, lfc_ctx_background()), LFC_EINVAL);
        ST(lfc_close(ch), LFC_EINVAL);
        lfc_case c = {.ch = ch, .dir = LFC_SEND, .buf = &v, .status = 77};
        ST(lfc_select(&c, 1), LFC_EINVAL);
        ST(lfc_try_select(&c, 1), LFC_EINVAL);
        ST(lfc_select_until(&c, 1, past()), LFC_EINVAL);
        assert_int_equal(c.status, 77);
        lfc_chan_free(ch); /* no reference taken: a no-op */
        assert_false(lfc_chan_closed(ch));
        ST(lfc_try_recv(ch, &v), LFC_AGAIN);
    }
    /* The owners still work after all that. */
    ST(lfc_ctx_cancel(ctx), LFC_OK);
    ST(lfc_recv(lfc_ctx_done(ctx), NULL), LFC_CLOSED);
    assert_true(lfc_timer_stop(t));
    lfc_timer_free(t);
    lfc_ctx_free(ctx);
}

/* Expired deadlines still make the non-blocking attempt; they give
 * LFC_TIMEDOUT only when it fails, and lose nothing then. */
static void
test_chan_expired_deadlines(void **state)
{
    (void)state;
    for (int k = 0; k < EXPIRED_KINDS; k++) {
        lfc_chan *ch = chan_new(1, sizeof(int));
        int v = 100 + k;
        ST(lfc_recv_until(ch, &v, expired_deadline(k)), LFC_TIMEDOUT);
        assert_int_equal(v, 100 + k); /* untouched */
        ST(lfc_send_until(ch, &v, expired_deadline(k)), LFC_OK);
        int w = 200;
        ST(lfc_send_until(ch, &w, expired_deadline(k)), LFC_TIMEDOUT);
        v = -1;
        ST(lfc_recv_until(ch, &v, expired_deadline(k)), LFC_OK);
        assert_int_equal(v, 100 + k); /* the full-channel send added none */
        ST(lfc_try_recv(ch, &v), LFC_AGAIN);
        lfc_chan_free(ch);

        /* Unbuffered: nobody there, so nothing can complete. */
        ch = chan_new(0, sizeof(int));
        ST(lfc_send_until(ch, &w, expired_deadline(k)), LFC_TIMEDOUT);
        ST(lfc_recv_until(ch, &v, expired_deadline(k)), LFC_TIMEDOUT);
        lfc_chan_free(ch);
    }
}

/* Unbuffered, with the partner already parked: an expired deadline still
 * completes the rendezvous (the value can be handed over at once). */
static void
test_chan_expired_deadline_unbuffered_partner_waiting(void **state)
{
    (void)state;
    for (int k = 0; k < EXPIRED_KINDS; k++) {
        lfc_chan *ch = chan_new(0, sizeof(int));
        struct op o = {.ch = ch, .v = -1};
        struct lfc_test_async a;
        async_start(&a, call_recv, &o);
        lfc_test_async_wait_parked(&a, "unbuffered recv");
        int v = 300 + k;
        ST(lfc_send_until(ch, &v, expired_deadline(k)), LFC_OK);
        ST(lfc_test_async_join(&a, "unbuffered recv"), LFC_OK);
        assert_int_equal(o.v, 300 + k);

        o.v = 400 + k;
        async_start(&a, call_send, &o);
        lfc_test_async_wait_parked(&a, "unbuffered send");
        v = -1;
        ST(lfc_recv_until(ch, &v, expired_deadline(k)), LFC_OK);
        assert_int_equal(v, 400 + k);
        ST(lfc_test_async_join(&a, "unbuffered send"), LFC_OK);
        lfc_chan_free(ch);
    }
}

/* INT64_MAX is no deadline: the call parks, and completes when its
 * partner comes. */
static void
test_chan_forever_deadline_waits(void **state)
{
    (void)state;
    recv_forever_waits_for_value(call_recv_until, 1);
    recv_forever_waits_for_value(call_recv_until, 0);

    lfc_chan *ch = chan_new(1, sizeof(int));
    put_int(ch, 1); /* full */
    struct op o = {.ch = ch, .v = 2, .deadline = INT64_MAX};
    struct lfc_test_async a;
    async_start(&a, call_send_until, &o);
    lfc_test_async_wait_parked(&a, "send with deadline INT64_MAX");
    lfc_test_async_assert_blocked(&a, "send with deadline INT64_MAX");
    int v = 0;
    ST(lfc_recv(ch, &v), LFC_OK);
    assert_int_equal(v, 1);
    ST(lfc_test_async_join(&a, "send with deadline INT64_MAX"), LFC_OK);
    ST(lfc_recv(ch, &v), LFC_OK);
    assert_int_equal(v, 2);
    lfc_chan_free(ch);
}

/* A rejected send on a full channel keeps the value the caller's and the
 * channel's contents as they were; a rejected receive takes nothing. */
static void
test_chan_full_and_empty_lose_nothing(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(2, sizeof(int));
    int v = 7;
    ST(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_int_equal(v, 7);
    put_int(ch, 1);
    put_int(ch, 2);
    v = 3;
    ST(lfc_try_send(ch, &v), LFC_AGAIN);
    ST(lfc_send_until(ch, &v, past()), LFC_TIMEDOUT);
    ST(lfc_send_until(ch, &v, lfc_now_ns() + MS), LFC_TIMEDOUT);
    assert_int_equal(lfc_chan_len(ch), 2);
    expect_contents(ch, (int[]){1, 2}, 2);
    lfc_chan_free(ch);
}

/* ---- status, version, spin ------------------------------------------------ */

static void
test_status_strerror_every_value(void **state)
{
    (void)state;
    const int codes[] = {LFC_OK,       LFC_CLOSED,   LFC_AGAIN, LFC_TIMEDOUT,
                         LFC_CANCELED, LFC_EINVAL,   LFC_ENOMEM};
    const char *unknown = lfc_strerror(INT_MIN);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown lfchan status");
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = lfc_strerror(codes[i]);
        assert_non_null(s);
        assert_true(strcmp(s, unknown) != 0);
        for (size_t j = 0; j < i; j++)
            assert_true(strcmp(s, lfc_strerror(codes[j])) != 0);
    }
    const int bad[] = {INT_MIN, -7, 1, 2, INT_MAX, -1000};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_string_equal(lfc_strerror(bad[i]), unknown);
    int64_t a = lfc_now_ns();
    int64_t b = lfc_now_ns();
    assert_true(a > 0 && b >= a);
}

static void
test_version_and_spin_limits(void **state)
{
    (void)state;
    assert_string_equal(lfc_version(), LFC_VERSION_STRING);
    int was = lfc_spin_limit();
    const int neg[] = {INT_MIN, -2, -1};
    for (size_t i = 0; i < sizeof(neg) / sizeof(neg[0]); i++) {
        lfc_spin_set_limit(neg[i]);
        assert_int_equal(lfc_spin_limit(), LFC_SPIN_ADAPTIVE);
    }
    lfc_spin_set_limit(0);
    assert_int_equal(lfc_spin_limit(), 0);
    lfc_spin_set_limit(INT_MAX);
    assert_int_equal(lfc_spin_limit(), INT_MAX);
    /* A huge fixed budget must not outlast a deadline. */
    lfc_chan *ch = chan_new(1, 0);
    ST(lfc_recv_until(ch, NULL, past()), LFC_TIMEDOUT);
    ST(lfc_recv_until(ch, NULL, lfc_now_ns() + MS), LFC_TIMEDOUT);
    lfc_chan_free(ch);
    lfc_spin_set_limit(was);
    assert_int_equal(lfc_spin_limit(), was);
}

/* ---- select ----------------------------------------------------------------- */

typedef int (*select_fn)(lfc_case *cases, int n);

static int
select_until_past(lfc_case *cases, int n)
{
    return lfc_select_until(cases, n, past());
}

static int
select_until_forever(lfc_case *cases, int n)
{
    return lfc_select_until(cases, n, INT64_MAX);
}

static int
select_biased_until_min(lfc_case *cases, int n)
{
    return lfc_select_biased_until(cases, n, INT64_MIN);
}

static int
select_biased_until_forever(lfc_case *cases, int n)
{
    return lfc_select_biased_until(cases, n, INT64_MAX);
}

/* Every select entry, with its deadline where it takes one. */
static const struct {
    const char *name;
    select_fn fn;
    bool blocks;   /* waits when nothing is ready (no finite deadline) */
    bool deadline; /* has an expired deadline: LFC_TIMEDOUT when idle */
} g_selects[] = {
    {"lfc_select", lfc_select, true, false},
    {"lfc_try_select", lfc_try_select, false, false},
    {"lfc_select_until(past)", select_until_past, false, true},
    {"lfc_select_until(INT64_MAX)", select_until_forever, true, false},
    {"lfc_select_biased", lfc_select_biased, true, false},
    {"lfc_try_select_biased", lfc_try_select_biased, false, false},
    {"lfc_select_biased_until(INT64_MIN)", select_biased_until_min, false,
     true},
    {"lfc_select_biased_until(INT64_MAX)", select_biased_until_forever, true,
     false},
};
#define N_SELECTS (sizeof(g_selects) / sizeof(g_selects[0]))

/* What a select with no case that has a channel returns. */
static int
idle_select_result(size_t i)
{
    if (g_selects[i].blocks)
        return LFC_EINVAL; /* it would block forever */
    return g_selects[i].deadline ? LFC_TIMEDOUT : LFC_AGAIN;
}

/* Bad arrays: NULL with n > 0, negative n, n above LFC_SELECT_MAX. The
 * array passed is one case long: n must be checked before any case is
 * read. */
static void
test_select_bad_counts(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(1, sizeof(int));
    put_int(ch, 11);
    int v = -1;
    const int bad_n[] = {-1, INT_MIN, LFC_SELECT_MAX + 1, INT_MAX};
    for (size_t i = 0; i < N_SELECTS; i++) {
        lfc_case one = {.ch = ch, .dir = LFC_RECV, .buf = &v, .status = 77};
        ST(g_selects[i].fn(NULL, 1), LFC_EINVAL);
        ST(g_selects[i].fn(NULL, INT_MAX), LFC_EINVAL);
        ST(g_selects[i].fn(NULL, -1), LFC_EINVAL);
        for (size_t j = 0; j < sizeof(bad_n) / sizeof(bad_n[0]); j++)
            ST(g_selects[i].fn(&one, bad_n[j]), LFC_EINVAL);
        /* Zero cases, with or without an array: nothing can be ready. */
        ST(g_selects[i].fn(NULL, 0), idle_select_result(i));
        ST(g_selects[i].fn(&one, 0), idle_select_result(i));
        assert_int_equal(one.status, 77);
    }
    assert_int_equal(v, -1);
    expect_contents(ch, (int[]){11}, 1);
    lfc_chan_free(ch);
}

/* All-NULL channels: never ready; EINVAL where the call would block
 * forever. A bad dir or NULL buf in a NULL-channel case is not checked
 * (only cases with a channel need them). */
static void
test_select_all_null_cases(void **state)
{
    (void)state;
    lfc_case cases[3] = {
        {.ch = NULL, .dir = LFC_RECV, .buf = NULL, .status = 77},
        {.ch = NULL, .dir = 0, .buf = NULL, .status = 77},
        {.ch = NULL, .dir = 12345, .buf = NULL, .status = 77},
    };
    for (size_t i = 0; i < N_SELECTS; i++) {
        ST(g_selects[i].fn(cases, 3), idle_select_result(i));
        ST(g_selects[i].fn(cases, 1), idle_select_result(i));
    }
    /* A finite deadline in the future: the call waits for it. */
    ST(lfc_select_until(cases, 3, lfc_now_ns() + MS), LFC_TIMEDOUT);
    ST(lfc_select_biased_until(cases, 3, lfc_now_ns() + MS), LFC_TIMEDOUT);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cases[i].status, 77);

    /* Switched-off cases with garbage beside a ready one: it completes. */
    lfc_chan *ch = chan_new(1, sizeof(int));
    put_int(ch, 5);
    int v = -1;
    lfc_case mixed[3] = {cases[1], {.ch = ch, .dir = LFC_RECV, .buf = &v},
                         cases[2]};
    ST(lfc_select(mixed, 3), 1);
    assert_int_equal(mixed[1].status, LFC_OK);
    assert_int_equal(v, 5);
    assert_int_equal(mixed[0].status, 77);
    assert_int_equal(mixed[2].status, 77);
    lfc_chan_free(ch);
}

/* A bad case anywhere rejects the whole select before anything is done:
 * the ready case beside it consumes nothing, no status is written. */
static void
test_select_bad_case_consumes_nothing(void **state)
{
    (void)state;
    lfc_chan *full = chan_new(1, sizeof(int));
    put_int(full, 21);
    lfc_chan *room = chan_new(1, sizeof(int));
    lfc_chan *other = chan_new(1, sizeof(int));
    lfc_timer *t = lfc_timer_after(LFC_TEST_FAR_NS);
    assert_non_null(t);
    int rv = -1;
    int sv = 99;
    int64_t tv = 0;
    const struct {
        const char *what;
        lfc_case bad;
    } bads[] = {
        {"dir 0", {.ch = other, .dir = 0, .buf = &rv}},
        {"dir 3 (both)", {.ch = other, .dir = LFC_SEND | LFC_RECV, .buf = &rv}},
        {"dir -1", {.ch = other, .dir = -1, .buf = &rv}},
        {"dir INT_MAX", {.ch = other, .dir = INT_MAX, .buf = &rv}},
        {"recv NULL buf", {.ch = other, .dir = LFC_RECV, .buf = NULL}},
        {"send NULL buf", {.ch = other, .dir = LFC_SEND, .buf = NULL}},
        {"send to a timer channel",
         {.ch = lfc_timer_chan(t), .dir = LFC_SEND, .buf = &tv}},
    };
    for (size_t b = 0; b < sizeof(bads) / sizeof(bads[0]); b++) {
        for (size_t i = 0; i < N_SELECTS; i++) {
            for (int pos = 0; pos < 3; pos++) {
                lfc_case ok_recv = {.ch = full, .dir = LFC_RECV, .buf = &rv};
                lfc_case ok_send = {.ch = room, .dir = LFC_SEND, .buf = &sv};
                lfc_case cases[3];
                cases[pos] = bads[b].bad;
                cases[(pos + 1) % 3] = ok_recv;
                cases[(pos + 2) % 3] = ok_send;
                for (int c = 0; c < 3; c++)
                    cases[c].status = 77;
                int r = g_selects[i].fn(cases, 3);
                if (r != LFC_EINVAL)
                    fail_msg("%s with a case %s at %d: got %d (%s)",
                             g_selects[i].name, bads[b].what, pos, r,
                             lfc_strerror(r));
                for (int c = 0; c < 3; c++)
                    assert_int_equal(cases[c].status, 77);
                lfc_progress_bump(&g_progress);
            }
        }
    }
    assert_int_equal(rv, -1);
    expect_contents(full, (int[]){21}, 1);
    assert_int_equal(lfc_chan_len(room), 0);
    assert_int_equal(lfc_chan_len(other), 0);
    lfc_timer_free(t);
    lfc_chan_free(full);
    lfc_chan_free(room);
    lfc_chan_free(other);
}

/* The most cases accepted: LFC_SELECT_MAX, only the last one live. */
static void
test_select_max_cases(void **state)
{
    (void)state;
    lfc_case *cases = calloc(LFC_SELECT_MAX + 1, sizeof(*cases));
    assert_non_null(cases);
    lfc_chan *ch = chan_new(1, sizeof(int));
    int v = -1;
    for (size_t i = 0; i < N_SELECTS; i++) {
        put_int(ch, (int)i);
        cases[LFC_SELECT_MAX - 1] =
            (lfc_case){.ch = ch, .dir = LFC_RECV, .buf = &v};
        ST(g_selects[i].fn(cases, LFC_SELECT_MAX), LFC_SELECT_MAX - 1);
        assert_int_equal(v, (int)i);
        assert_int_equal(cases[LFC_SELECT_MAX - 1].status, LFC_OK);
        /* One more is too many, even with a live case. */
        put_int(ch, 1000);
        cases[LFC_SELECT_MAX] = cases[LFC_SELECT_MAX - 1];
        ST(g_selects[i].fn(cases, LFC_SELECT_MAX + 1), LFC_EINVAL);
        expect_contents(ch, (int[]){1000}, 1);
        cases[LFC_SELECT_MAX] = (lfc_case){0};
        cases[LFC_SELECT_MAX - 1] = (lfc_case){0};
        /* All LFC_SELECT_MAX of them switched off. */
        ST(g_selects[i].fn(cases, LFC_SELECT_MAX), idle_select_result(i));
    }
    lfc_chan_free(ch);
    free(cases);
}

/* Expired deadlines still take a ready case; INT64_MAX waits for one. */
static void
test_select_deadlines(void **state)
{
    (void)state;
    for (int k = 0; k < EXPIRED_KINDS; k++) {
        lfc_chan *ch = chan_new(1, sizeof(int));
        int v = -1;
        lfc_case c = {.ch = ch, .dir = LFC_RECV, .buf = &v, .status = 77};
        ST(lfc_select_until(&c, 1, expired_deadline(k)), LFC_TIMEDOUT);
        ST(lfc_select_biased_until(&c, 1, expired_deadline(k)), LFC_TIMEDOUT);
        assert_int_equal(c.status, 77);
        put_int(ch, 50 + k);
        ST(lfc_select_until(&c, 1, expired_deadline(k)), 0);
        assert_int_equal(v, 50 + k);
        put_int(ch, 60 + k);
        ST(lfc_select_biased_until(&c, 1, expired_deadline(k)), 0);
        assert_int_equal(v, 60 + k);
        /* A send case, room and full. */
        lfc_case s = {.ch = ch, .dir = LFC_SEND, .buf = &v};
        ST(lfc_select_until(&s, 1, expired_deadline(k)), 0);
        ST(lfc_select_biased_until(&s, 1, expired_deadline(k)), LFC_TIMEDOUT);
        expect_contents(ch, (int[]){60 + k}, 1);
        lfc_chan_free(ch);
    }
    lfc_test_async_fn forever[] = {call_select_until, call_select_biased_until};
    for (int f = 0; f < 2; f++) {
        lfc_chan *ch = chan_new(0, sizeof(int));
        struct op o = {.ch = ch, .v = -1, .deadline = INT64_MAX, .ncases = 2};
        o.cases[0] = (lfc_case){.ch = NULL, .dir = LFC_RECV};
        o.cases[1] = (lfc_case){.ch = ch, .dir = LFC_RECV, .buf = &o.v};
        struct lfc_test_async a;
        async_start(&a, forever[f], &o);
        lfc_test_async_wait_parked(&a, "select with deadline INT64_MAX");
        lfc_test_async_assert_blocked(&a, "select with deadline INT64_MAX");
        int v = 77;
        ST(lfc_send_until(ch, &v, lfc_now_ns() + STUCK_NS), LFC_OK);
        ST(lfc_test_async_join(&a, "select with deadline INT64_MAX"), 1);
        assert_int_equal(o.v, 77);
        assert_int_equal(o.cases[1].status, LFC_OK);
        lfc_chan_free(ch);
    }
}

/* lfc_send_ctx / lfc_recv_ctx: NULL arguments, ended contexts (which win
 * over a ready channel and lose nothing). */
static void
test_select_ctx_calls(void **state)
{
    (void)state;
    lfc_chan *ch = chan_new(2, sizeof(int));
    lfc_ctx *bg = lfc_ctx_background();
    int v = 3;
    ST(lfc_send_ctx(NULL, &v, bg), LFC_EINVAL);
    ST(lfc_recv_ctx(NULL, &v, bg), LFC_EINVAL);
    ST(lfc_send_ctx(ch, &v, NULL), LFC_EINVAL);
    ST(lfc_recv_ctx(ch, &v, NULL), LFC_EINVAL);
    ST(lfc_send_ctx(ch, NULL, bg), LFC_EINVAL);
    ST(lfc_recv_ctx(ch, NULL, bg), LFC_EINVAL);

    lfc_ctx *cancelled = lfc_ctx_with_cancel(bg);
    assert_non_null(cancelled);
    ST(lfc_ctx_cancel(cancelled), LFC_OK);
    lfc_ctx *timed_out[EXPIRED_KINDS];
    for (int k = 0; k < EXPIRED_KINDS; k++) {
        timed_out[k] = lfc_ctx_with_deadline(bg, expired_deadline(k));
        assert_non_null(timed_out[k]);
    }
    put_int(ch, 1); /* ready both ways: one value, one free slot */
    ST(lfc_send_ctx(ch, &v, cancelled), LFC_CANCELED);
    ST(lfc_recv_ctx(ch, &v, cancelled), LFC_CANCELED);
    /* Bad input still says EINVAL with an ended context. */
    ST(lfc_send_ctx(ch, NULL, cancelled), LFC_EINVAL);
    ST(lfc_recv_ctx(NULL, &v, cancelled), LFC_EINVAL);
    for (int k = 0; k < EXPIRED_KINDS; k++) {
        ST(lfc_send_ctx(ch, &v, timed_out[k]), LFC_TIMEDOUT);
        ST(lfc_recv_ctx(ch, &v, timed_out[k]), LFC_TIMEDOUT);
    }
    assert_int_equal(v, 3);
    expect_contents(ch, (int[]){1}, 1);

    /* The background context: an ordinary send and receive. */
    ST(lfc_send_ctx(ch, &v, bg), LFC_OK);
    v = 0;
    ST(lfc_recv_ctx(ch, &v, bg), LFC_OK);
    assert_int_equal(v, 3);
    for (int k = 0; k < EXPIRED_KINDS; k++)
        lfc_ctx_free(timed_out[k]);
    lfc_ctx_free(cancelled);
    lfc_chan_free(ch);
}

/* ---- contexts ---------------------------------------------------------------- */

static void
test_ctx_null_and_background(void **state)
{
    (void)state;
    NUL(lfc_ctx_with_cancel(NULL), EINVAL);
    NUL(lfc_ctx_with_deadline(NULL, INT64_MAX), EINVAL);
    NUL(lfc_ctx_with_deadline(NULL, INT64_MIN), EINVAL);
    NUL(lfc_ctx_with_timeout(NULL, 0), EINVAL);
    NUL(lfc_ctx_with_timeout(NULL, INT64_MAX), EINVAL);
    ST(lfc_ctx_cancel(NULL), LFC_EINVAL);
    ST(lfc_ctx_err(NULL), LFC_EINVAL);
    assert_null(lfc_ctx_done(NULL));
    assert_true(lfc_ctx_deadline(NULL) == LFC_FOREVER);
    lfc_ctx_free(NULL);

    lfc_ctx *bg = lfc_ctx_background();
    assert_non_null(bg);
    assert_ptr_equal(lfc_ctx_background(), bg);
    ST(lfc_ctx_cancel(bg), LFC_EINVAL);
    lfc_ctx_free(bg); /* ignored */
    ST(lfc_ctx_err(bg), LFC_OK);
    assert_true(lfc_ctx_deadline(bg) == LFC_FOREVER);
    ST(lfc_try_recv(lfc_ctx_done(bg), NULL), LFC_AGAIN);
    assert_false(lfc_chan_closed(lfc_ctx_done(bg)));
}

/* Deadlines INT64_MIN, -1, 0, past: born timed out; INT64_MAX: none. The
 * same through lfc_ctx_with_timeout with ns <= 0 and ns too large. */
static void
test_ctx_deadline_extremes(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    for (int k = 0; k < EXPIRED_KINDS; k++) {
        lfc_ctx *c = lfc_ctx_with_deadline(bg, expired_deadline(k));
        assert_non_null(c);
        ST(lfc_ctx_err(c), LFC_TIMEDOUT);
        assert_true(lfc_ctx_deadline(c) == expired_deadline(k) || k == 3);
        ST(lfc_recv(lfc_ctx_done(c), NULL), LFC_CLOSED);
        ST(lfc_ctx_cancel(c), LFC_OK); /* idempotent; the cause stays */
        ST(lfc_ctx_err(c), LFC_TIMEDOUT);
        lfc_ctx_free(c);
    }
    const int64_t expired_ns[] = {INT64_MIN, -1, 0};
    for (size_t i = 0; i < 3; i++) {
        lfc_ctx *c = lfc_ctx_with_timeout(bg, expired_ns[i]);
        assert_non_null(c);
        ST(lfc_ctx_err(c), LFC_TIMEDOUT);
        ST(lfc_recv(lfc_ctx_done(c), NULL), LFC_CLOSED);
        lfc_ctx_free(c);
    }
    lfc_ctx *forever[3] = {lfc_ctx_with_deadline(bg, INT64_MAX),
                           lfc_ctx_with_timeout(bg, INT64_MAX),
                           lfc_ctx_with_timeout(bg, INT64_MAX - 1)};
    for (int i = 0; i < 3; i++) {
        assert_non_null(forever[i]);
        ST(lfc_ctx_err(forever[i]), LFC_OK);
        assert_true(lfc_ctx_deadline(forever[i]) == LFC_FOREVER);
        ST(lfc_try_recv(lfc_ctx_done(forever[i]), NULL), LFC_AGAIN);
    }
    /* A child of a timed-out parent gets the parent's cause and deadline,
     * whatever its own; a child of a no-deadline parent keeps its own. */
    lfc_ctx *dead = lfc_ctx_with_deadline(bg, INT64_MIN);
    assert_non_null(dead);
    lfc_ctx *kid = lfc_ctx_with_deadline(dead, INT64_MAX);
    assert_non_null(kid);
    ST(lfc_ctx_err(kid), LFC_TIMEDOUT);
    assert_true(lfc_ctx_deadline(kid) == INT64_MIN);
    lfc_ctx *kid2 = lfc_ctx_with_deadline(forever[0], INT64_MIN);
    assert_non_null(kid2);
    ST(lfc_ctx_err(kid2), LFC_TIMEDOUT);
    ST(lfc_ctx_err(forever[0]), LFC_OK);
    /* Cancelling twice, freeing in any order. */
    ST(lfc_ctx_cancel(forever[1]), LFC_OK);
    ST(lfc_ctx_cancel(forever[1]), LFC_OK);
    ST(lfc_ctx_err(forever[1]), LFC_CANCELED);
    lfc_ctx_free(dead);
    ST(lfc_ctx_err(kid), LFC_TIMEDOUT);
    lfc_ctx_free(kid);
    lfc_ctx_free(kid2);
    for (int i = 0; i < 3; i++)
        lfc_ctx_free(forever[i]);
}

/* ---- timers ------------------------------------------------------------------ */

static void
test_timer_null_and_periods(void **state)
{
    (void)state;
    assert_null(lfc_timer_chan(NULL));
    assert_false(lfc_timer_stop(NULL));
    lfc_timer_free(NULL);
    const int64_t bad_period[] = {0, -1, INT64_MIN};
    for (size_t i = 0; i < 3; i++)
        NUL(lfc_tick(bad_period[i]), EINVAL);
    /* A period too long to ever tick is valid; stopping twice. */
    lfc_timer *t = lfc_tick(INT64_MAX);
    assert_non_null(t);
    assert_true(lfc_timer_stop(t));
    assert_false(lfc_timer_stop(t));
    int64_t v;
    ST(lfc_try_recv(lfc_timer_chan(t), &v), LFC_AGAIN);
    lfc_timer_free(t);
}

/*
 * lfc_after / lfc_timer_after with ns INT64_MIN, -1, 0 fire at once; with
 * INT64_MAX never (the deadline saturates rather than wrapping into the
 * past). Timers fire in deadline order, so once a timer made later with
 * ns 0 has fired, a wrapped INT64_MAX one would have fired too: no sleep
 * needed to see that it did not.
 */
static void
test_timer_duration_extremes(void **state)
{
    (void)state;
    lfc_chan *never = lfc_after(INT64_MAX);
    assert_non_null(never);
    lfc_timer *never_t = lfc_timer_after(INT64_MAX);
    assert_non_null(never_t);
    lfc_timer *never_tick = lfc_tick(INT64_MAX);
    assert_non_null(never_tick);
    const int64_t at_once[] = {INT64_MIN, -1, 0};
    for (size_t i = 0; i < 3; i++) {
        int64_t before = lfc_now_ns();
        lfc_chan *c = lfc_after(at_once[i]);
        assert_non_null(c);
        int64_t fired = 0;
        ST(lfc_recv_until(c, &fired, lfc_now_ns() + STUCK_NS), LFC_OK);
        assert_true(fired >= before);
        lfc_chan_free(c);
        lfc_timer *t = lfc_timer_after(at_once[i]);
        assert_non_null(t);
        ST(lfc_recv_until(lfc_timer_chan(t), &fired, lfc_now_ns() + STUCK_NS),
           LFC_OK);
        assert_false(lfc_timer_stop(t)); /* it had fired */
        lfc_timer_free(t);
    }
    int64_t v;
    ST(lfc_try_recv(never, &v), LFC_AGAIN);
    ST(lfc_try_recv(lfc_timer_chan(never_t), &v), LFC_AGAIN);
    ST(lfc_try_recv(lfc_timer_chan(never_tick), &v), LFC_AGAIN);
    assert_true(lfc_timer_stop(never_t));
    lfc_timer_free(never_t);
    lfc_timer_free(never_tick);
    lfc_chan_free(never); /* before it fires: cancels it */
}

/* ---- semaphores ----------------------------------------------------------------- */

static void
test_sem_new_bad_totals(void **state)
{
    (void)state;
    NUL(lfc_sem_new(-1), EINVAL);
    NUL(lfc_sem_new(INT64_MIN), EINVAL);
    NUL(lfc_sem_new(LFC_SEM_MAX + 1), EINVAL);
    NUL(lfc_sem_new(INT64_MAX), EINVAL);
    lfc_sem *s = lfc_sem_new(LFC_SEM_MAX);
    assert_non_null(s);
    assert_true(lfc_sem_available(s) == LFC_SEM_MAX);
    ST(lfc_sem_acquire(s, LFC_SEM_MAX), LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    ST(lfc_sem_release(s, LFC_SEM_MAX), LFC_OK);
    ST(lfc_sem_release(s, 1), LFC_EINVAL);
    assert_true(lfc_sem_available(s) == LFC_SEM_MAX);
    lfc_sem_free(s);
    /* Zero permits: only weight 0 can ever be acquired. */
    s = lfc_sem_new(0);
    assert_non_null(s);
    ST(lfc_sem_acquire(s, 0), LFC_OK);
    ST(lfc_sem_try_acquire(s, 0), LFC_OK);
    ST(lfc_sem_acquire(s, 1), LFC_EINVAL);
    ST(lfc_sem_release(s, 0), LFC_OK);
    ST(lfc_sem_release(s, 1), LFC_EINVAL);
    assert_true(lfc_sem_available(s) == 0);
    lfc_sem_free(s);
}

/* Weights 0, negative, over the total, on every acquire and on release;
 * NULL semaphores and contexts. The count never changes on rejection. */
static void
test_sem_bad_weights(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    const int64_t bad[] = {-1, INT64_MIN, 5, INT64_MAX, LFC_SEM_MAX + 1};
    lfc_sem *s = lfc_sem_new(4);
    assert_non_null(s);
    ST(lfc_sem_acquire(s, 1), LFC_OK); /* 3 free, 1 held */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ST(lfc_sem_acquire(s, bad[i]), LFC_EINVAL);
        ST(lfc_sem_try_acquire(s, bad[i]), LFC_EINVAL);
        ST(lfc_sem_acquire_until(s, bad[i], INT64_MAX), LFC_EINVAL);
        ST(lfc_sem_acquire_until(s, bad[i], INT64_MIN), LFC_EINVAL);
        ST(lfc_sem_acquire_ctx(s, bad[i], bg), LFC_EINVAL);
        ST(lfc_sem_release(s, bad[i]), LFC_EINVAL);
        assert_true(lfc_sem_available(s) == 3);
    }
    ST(lfc_sem_release(s, 2), LFC_EINVAL); /* 1 held: 2 is over the total */
    ST(lfc_sem_acquire(s, 0), LFC_OK);
    ST(lfc_sem_try_acquire(s, 0), LFC_OK);
    ST(lfc_sem_acquire_until(s, 0, INT64_MIN), LFC_OK);
    ST(lfc_sem_acquire_ctx(s, 0, bg), LFC_OK);
    ST(lfc_sem_release(s, 0), LFC_OK);
    assert_true(lfc_sem_available(s) == 3);

    ST(lfc_sem_acquire(NULL, 1), LFC_EINVAL);
    ST(lfc_sem_try_acquire(NULL, 1), LFC_EINVAL);
    ST(lfc_sem_acquire_until(NULL, 1, INT64_MAX), LFC_EINVAL);
    ST(lfc_sem_acquire_ctx(NULL, 1, bg), LFC_EINVAL);
    ST(lfc_sem_acquire_ctx(s, 1, NULL), LFC_EINVAL);
    ST(lfc_sem_release(NULL, 1), LFC_EINVAL);
    assert_true(lfc_sem_available(NULL) == 0);
    lfc_sem_free(NULL);
    assert_true(lfc_sem_available(s) == 3);
    ST(lfc_sem_release(s, 1), LFC_OK);
    assert_true(lfc_sem_available(s) == 4);
    lfc_sem_free(s);
}

static int
call_sem_acquire_until(void *arg)
{
    struct op *o = arg;
    return lfc_sem_acquire_until(o->sem, 2, o->deadline);
}

/* Expired deadlines and ended contexts: a free permit is still taken by
 * an expired deadline, never by an ended context; INT64_MAX waits. */
static void
test_sem_deadlines_and_contexts(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    lfc_sem *s = lfc_sem_new(2);
    assert_non_null(s);
    lfc_ctx *cancelled = lfc_ctx_with_cancel(bg);
    assert_non_null(cancelled);
    ST(lfc_ctx_cancel(cancelled), LFC_OK);
    lfc_ctx *timed_out = lfc_ctx_with_deadline(bg, INT64_MIN);
    assert_non_null(timed_out);
    ST(lfc_sem_acquire_ctx(s, 1, cancelled), LFC_CANCELED);
    ST(lfc_sem_acquire_ctx(s, 1, timed_out), LFC_TIMEDOUT);
    assert_true(lfc_sem_available(s) == 2);
    for (int k = 0; k < EXPIRED_KINDS; k++) {
        ST(lfc_sem_acquire_until(s, 2, expired_deadline(k)), LFC_OK);
        ST(lfc_sem_acquire_until(s, 1, expired_deadline(k)), LFC_TIMEDOUT);
        assert_true(lfc_sem_available(s) == 0);
        ST(lfc_sem_release(s, 2), LFC_OK);
    }
    ST(lfc_sem_acquire(s, 1), LFC_OK);
    struct op o = {.sem = s, .deadline = INT64_MAX};
    struct lfc_test_async a;
    lfc_test_async_start(&a, call_sem_acquire_until, &o);
    lfc_test_async_wait_parked(&a, "sem acquire with deadline INT64_MAX");
    lfc_test_async_assert_blocked(&a, "sem acquire with deadline INT64_MAX");
    ST(lfc_sem_release(s, 1), LFC_OK);
    ST(lfc_test_async_join(&a, "sem acquire with deadline INT64_MAX"),
       LFC_OK);
    assert_true(lfc_sem_available(s) == 0);
    ST(lfc_sem_release(s, 2), LFC_OK);
    lfc_ctx_free(cancelled);
    lfc_ctx_free(timed_out);
    lfc_sem_free(s);
}

/* ---- wait groups ------------------------------------------------------------------ */

static int
call_wg_wait_until(void *arg)
{
    struct op *o = arg;
    return lfc_wg_wait_until(o->wg, o->deadline);
}

static void
test_wg_bad_deltas_and_deadlines(void **state)
{
    (void)state;
    ST(lfc_wg_add(NULL, 1), LFC_EINVAL);
    ST(lfc_wg_done(NULL), LFC_EINVAL);
    ST(lfc_wg_wait(NULL), LFC_EINVAL);
    ST(lfc_wg_wait_until(NULL, INT64_MAX), LFC_EINVAL);
    ST(lfc_wg_wait_until(NULL, INT64_MIN), LFC_EINVAL);
    assert_true(lfc_wg_count(NULL) == 0);
    lfc_wg_free(NULL);

    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    ST(lfc_wg_done(wg), LFC_EINVAL); /* below zero */
    ST(lfc_wg_add(wg, -1), LFC_EINVAL);
    ST(lfc_wg_add(wg, INT64_MIN), LFC_EINVAL);
    ST(lfc_wg_add(wg, 0), LFC_OK);
    assert_true(lfc_wg_count(wg) == 0);
    /* Zero: every wait returns at once, expired deadline or not. */
    ST(lfc_wg_wait(wg), LFC_OK);
    for (int k = 0; k < EXPIRED_KINDS; k++)
        ST(lfc_wg_wait_until(wg, expired_deadline(k)), LFC_OK);
    ST(lfc_wg_wait_until(wg, INT64_MAX), LFC_OK);

    ST(lfc_wg_add(wg, INT64_MAX), LFC_OK);
    ST(lfc_wg_add(wg, 1), LFC_EINVAL); /* above INT64_MAX */
    ST(lfc_wg_add(wg, INT64_MAX), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == INT64_MAX);
    for (int k = 0; k < EXPIRED_KINDS; k++)
        ST(lfc_wg_wait_until(wg, expired_deadline(k)), LFC_TIMEDOUT);
    ST(lfc_wg_add(wg, INT64_MIN), LFC_EINVAL); /* below zero by one */
    ST(lfc_wg_add(wg, -INT64_MAX + 1), LFC_OK);
    assert_true(lfc_wg_count(wg) == 1);

    struct op o = {.wg = wg, .deadline = INT64_MAX};
    struct lfc_test_async a;
    lfc_test_async_start(&a, call_wg_wait_until, &o);
    lfc_test_async_wait_parked(&a, "wg wait with deadline INT64_MAX");
    lfc_test_async_assert_blocked(&a, "wg wait with deadline INT64_MAX");
    ST(lfc_wg_done(wg), LFC_OK);
    ST(lfc_test_async_join(&a, "wg wait with deadline INT64_MAX"), LFC_OK);
    ST(lfc_wg_done(wg), LFC_EINVAL);
    assert_true(lfc_wg_count(wg) == 0);
    lfc_wg_free(wg);
}

/* ---- pools --------------------------------------------------------------------------- */

struct gate_task {
    lfc_chan *gate; /* closed by the test to let the task finish */
    int started;
    int runs;
};

static void
gated_task(void *arg)
{
    struct gate_task *g = arg;
    lfc_test_store_int(&g->started, 1);
    (void)lfc_recv_until(g->gate, NULL, lfc_now_ns() + STUCK_NS);
    __atomic_fetch_add(&g->runs, 1, __ATOMIC_RELAXED);
}

static void
count_task(void *arg)
{
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

static void
count_drop(lfc_pool_task_fn fn, void *arg, void *user)
{
    (void)fn;
    (void)arg;
    (*(int *)user)++;
}

static void
test_pool_new_bad_options(void **state)
{
    (void)state;
    NUL(lfc_pool_new(0, 1), EINVAL);
    NUL(lfc_pool_new(LFC_POOL_MAX_WORKERS + 1, 1), EINVAL);
    NUL(lfc_pool_new(UINT_MAX, 1), EINVAL);
    NUL(lfc_pool_new(1, LFC_CHAN_MAX_CAP + 1), EINVAL);
    NUL(lfc_pool_new(1, SIZE_MAX), EINVAL);
    NUL(lfc_pool_new_opts(NULL), EINVAL);
    struct lfc_pool_opts zero = {0};
    NUL(lfc_pool_new_opts(&zero), EINVAL);
    const int cpu0 = 0;
    const int bad_cpu[] = {-1, INT_MIN, INT_MAX, 1 << 20};
    struct lfc_pool_opts o = {.workers = 1, .queue_capacity = 1};
    o.cpus = NULL;
    o.ncpus = 1;
    NUL(lfc_pool_new_opts(&o), EINVAL);
    o.cpus = &cpu0;
    o.ncpus = 0;
    NUL(lfc_pool_new_opts(&o), EINVAL);
    for (size_t i = 0; i < sizeof(bad_cpu) / sizeof(bad_cpu[0]); i++) {
        o.cpus = &bad_cpu[i];
        o.ncpus = 1;
        NUL(lfc_pool_new_opts(&o), EINVAL);
    }
    /* An over-long name is truncated, not refused; "" is the default. */
    char name[200];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    struct lfc_pool_opts named = {.workers = 1, .name = name};
    lfc_pool *p = lfc_pool_new_opts(&named);
    assert_non_null(p);
    lfc_pool_free(p);
    named.name = "";
    p = lfc_pool_new_opts(&named);
    assert_non_null(p);
    lfc_pool_free(p);
    assert_true(lfc_test_wait_no_threads_named("lfc-pool", STUCK_NS));
    assert_true(lfc_test_wait_no_threads_named("xxx", STUCK_NS));
}

static void
test_pool_null_and_closed(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    int n = 0;
    struct lfc_pool_stats st;
    ST(lfc_pool_submit(NULL, count_task, &n), LFC_EINVAL);
    ST(lfc_pool_try_submit(NULL, count_task, &n), LFC_EINVAL);
    ST(lfc_pool_submit_until(NULL, count_task, &n, INT64_MAX), LFC_EINVAL);
    ST(lfc_pool_submit_ctx(NULL, count_task, &n, bg), LFC_EINVAL);
    ST(lfc_pool_wait(NULL), LFC_EINVAL);
    ST((int)lfc_pool_shutdown_now(NULL, count_drop, &n), LFC_EINVAL);
    ST(lfc_pool_stats(NULL, &st), LFC_EINVAL);
    lfc_pool_free(NULL);

    lfc_pool *p = lfc_pool_new(1, 4);
    assert_non_null(p);
    ST(lfc_pool_submit(p, NULL, &n), LFC_EINVAL);
    ST(lfc_pool_try_submit(p, NULL, &n), LFC_EINVAL);
    ST(lfc_pool_submit_until(p, NULL, &n, INT64_MIN), LFC_EINVAL);
    ST(lfc_pool_submit_ctx(p, NULL, &n, bg), LFC_EINVAL);
    ST(lfc_pool_submit_ctx(p, count_task, &n, NULL), LFC_EINVAL);
    ST(lfc_pool_stats(p, NULL), LFC_EINVAL);
    ST((int)lfc_pool_shutdown_now(p, NULL, &n), LFC_EINVAL);
    ST(lfc_pool_stats(p, &st), LFC_OK);
    assert_true(st.submitted == 0 && st.queued == 0);

    /* Expired deadlines with room still queue; the task runs. */
    for (int k = 0; k < EXPIRED_KINDS; k++)
        ST(lfc_pool_submit_until(p, count_task, &n, expired_deadline(k)),
           LFC_OK);
    ST(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(__atomic_load_n(&n, __ATOMIC_RELAXED), EXPIRED_KINDS);

    /* After shutdown: every submit LFC_CLOSED, a second shutdown too. */
    int drops = 0;
    ST((int)lfc_pool_shutdown_now(p, count_drop, &drops), 0);
    ST((int)lfc_pool_shutdown_now(p, count_drop, &drops), LFC_CLOSED);
    ST(lfc_pool_submit(p, count_task, &n), LFC_CLOSED);
    ST(lfc_pool_try_submit(p, count_task, &n), LFC_CLOSED);
    ST(lfc_pool_submit_until(p, count_task, &n, INT64_MIN), LFC_CLOSED);
    ST(lfc_pool_submit_until(p, count_task, &n, INT64_MAX), LFC_CLOSED);
    ST(lfc_pool_submit_ctx(p, count_task, &n, bg), LFC_CLOSED);
    ST(lfc_pool_submit(p, NULL, &n), LFC_EINVAL);
    ST(lfc_pool_wait(p), LFC_OK);
    ST(lfc_pool_stats(p, &st), LFC_OK);
    assert_true(st.submitted == EXPIRED_KINDS && st.completed == EXPIRED_KINDS);
    assert_int_equal(drops, 0);
    lfc_pool_free(p);
    assert_int_equal(__atomic_load_n(&n, __ATOMIC_RELAXED), EXPIRED_KINDS);
}

/* A full queue: expired deadlines and ended contexts queue nothing. */
static void
test_pool_full_queue_deadlines(void **state)
{
    (void)state;
    lfc_ctx *bg = lfc_ctx_background();
    lfc_pool *p = lfc_pool_new(1, 1);
    assert_non_null(p);
    struct gate_task g = {.gate = chan_new(0, 0)};
    ST(lfc_pool_submit(p, gated_task, &g), LFC_OK);
    assert_true(lfc_test_wait_flag(&g.started, STUCK_NS));
    int n = 0;
    ST(lfc_pool_submit(p, count_task, &n), LFC_OK); /* fills the queue */
    lfc_ctx *cancelled = lfc_ctx_with_cancel(bg);
    assert_non_null(cancelled);
    ST(lfc_ctx_cancel(cancelled), LFC_OK);
    lfc_ctx *timed_out = lfc_ctx_with_deadline(bg, 0);
    assert_non_null(timed_out);
    ST(lfc_pool_try_submit(p, count_task, &n), LFC_AGAIN);
    for (int k = 0; k < EXPIRED_KINDS; k++)
        ST(lfc_pool_submit_until(p, count_task, &n, expired_deadline(k)),
           LFC_TIMEDOUT);
    ST(lfc_pool_submit_ctx(p, count_task, &n, cancelled), LFC_CANCELED);
    ST(lfc_pool_submit_ctx(p, count_task, &n, timed_out), LFC_TIMEDOUT);
    struct lfc_pool_stats st;
    ST(lfc_pool_stats(p, &st), LFC_OK);
    assert_true(st.submitted == 2 && st.queued == 1);
    lfc_close(g.gate);
    ST(lfc_pool_wait(p), LFC_OK);
    /* With room again, an ended context still queues nothing. */
    ST(lfc_pool_submit_ctx(p, count_task, &n, cancelled), LFC_CANCELED);
    ST(lfc_pool_wait(p), LFC_OK);
    ST(lfc_pool_stats(p, &st), LFC_OK);
    assert_true(st.submitted == 2 && st.completed == 2 && st.queued == 0);
    assert_int_equal(__atomic_load_n(&n, __ATOMIC_RELAXED), 1);
    assert_int_equal(g.runs, 1);
    lfc_pool_free(p);
    lfc_ctx_free(cancelled);
    lfc_ctx_free(timed_out);
    lfc_chan_free(g.gate);
}

/* ---- error groups ------------------------------------------------------------------- */

static int
ok_task(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
    return 0;
}

static void
test_group_bad_input(void **state)
{
    (void)state;
    int n = 0;
    NUL(lfc_group_new(NULL), EINVAL);
    assert_null(lfc_group_ctx(NULL));
    ST(lfc_group_set_limit(NULL, 1), LFC_EINVAL);
    ST(lfc_group_go(NULL, ok_task, &n), LFC_EINVAL);
    ST(lfc_group_try_go(NULL, ok_task, &n), LFC_EINVAL);
    ST(lfc_group_wait(NULL), LFC_EINVAL);
    lfc_group_free(NULL);

    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    assert_non_null(lfc_group_ctx(g));
    const int bad_limit[] = {0, -2, INT_MIN};
    for (size_t i = 0; i < 3; i++)
        ST(lfc_group_set_limit(g, bad_limit[i]), LFC_EINVAL);
    ST(lfc_group_go(g, NULL, &n), LFC_EINVAL);
    ST(lfc_group_try_go(g, NULL, &n), LFC_EINVAL);
    ST(lfc_group_set_limit(g, INT_MAX), LFC_OK);
    ST(lfc_group_set_limit(g, LFC_GROUP_NO_LIMIT), LFC_OK);
    ST(lfc_group_set_limit(g, 1), LFC_OK);
    ST(lfc_group_go(g, ok_task, &n), LFC_OK);
    ST(lfc_group_wait(g), LFC_OK);
    ST(lfc_group_wait(g), LFC_OK); /* again: nothing left to wait for */
    assert_int_equal(__atomic_load_n(&n, __ATOMIC_RELAXED), 1);
    ST(lfc_ctx_err(lfc_group_ctx(g)), LFC_CANCELED);
    lfc_group_free(g);

    /* A group whose parent is already cancelled: tasks still run (with
     * a cancelled context). */
    lfc_ctx *dead = lfc_ctx_with_deadline(lfc_ctx_background(), INT64_MIN);
    assert_non_null(dead);
    g = lfc_group_new(dead);
    assert_non_null(g);
    ST(lfc_ctx_err(lfc_group_ctx(g)), LFC_TIMEDOUT);
    ST(lfc_group_try_go(g, ok_task, &n), LFC_OK);
    ST(lfc_group_wait(g), LFC_OK);
    assert_int_equal(__atomic_load_n(&n, __ATOMIC_RELAXED), 2);
    lfc_group_free(g);
    lfc_ctx_free(dead);
    assert_true(lfc_test_wait_no_threads_named("lfc-group", STUCK_NS));
}

/* ---- mergers and fan-outs --------------------------------------------------------- */

/* A rejected constructor kept no reference and took nothing: the channel
 * still holds its value, is open, and frees normally. */
static void
expect_untouched(lfc_chan *ch, int v)
{
    assert_false(lfc_chan_closed(ch));
    expect_contents(ch, (int[]){v}, 1);
    put_int(ch, v);
}

static void
test_merge_bad_input(void **state)
{
    (void)state;
    lfc_chan *a = chan_new(1, sizeof(int));
    lfc_chan *b = chan_new(1, sizeof(int));
    lfc_chan *out = chan_new(2, sizeof(int)); /* room for all: free never
                                                 waits for a reader */
    lfc_chan *wide = chan_new(1, sizeof(int64_t));
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    put_int(a, 1);
    put_int(b, 2);
    lfc_chan *ins[2] = {a, b};
    lfc_chan *with_null[2] = {a, NULL};
    lfc_chan *with_out[2] = {a, out};
    lfc_chan *with_wide[2] = {a, wide};

    NUL(lfc_merge_new(NULL, 1, out), EINVAL);
    NUL(lfc_merge_new(ins, 0, out), EINVAL);
    NUL(lfc_merge_new(ins, 2, NULL), EINVAL);
    NUL(lfc_merge_new(with_null, 2, out), EINVAL);
    NUL(lfc_merge_new(with_out, 2, out), EINVAL);
    NUL(lfc_merge_new(with_wide, 2, out), EINVAL);
    NUL(lfc_merge_new(ins, 2, wide), EINVAL);
    NUL(lfc_merge_new(ins, 2, lfc_ctx_done(ctx)), EINVAL);
    /* More inputs than any array can hold: refused before one is read. */
    NUL(lfc_merge_new(ins, SIZE_MAX, out), EINVAL);
    NUL(lfc_merge_new(ins, SIZE_MAX / sizeof(lfc_chan *) + 1, out), EINVAL);
    const unsigned bad_flags[] = {2, 4, ~0u, LFC_MERGE_KEEP_OPEN | 8};
    for (size_t i = 0; i < 4; i++)
        NUL(lfc_merge_new_ex(ins, 2, out, bad_flags[i]), EINVAL);
    ST(lfc_merge_stop(NULL), LFC_EINVAL);
    assert_true(lfc_merge_free(NULL) == 0);
    expect_untouched(a, 1);
    expect_untouched(b, 2);
    assert_false(lfc_chan_closed(out));
    assert_int_equal(lfc_chan_len(out), 0);

    /* Stop twice (idempotent), then free: each value is in out or still
     * in its input, once. */
    lfc_merger *m = lfc_merge_new_ex(ins, 2, out, LFC_MERGE_KEEP_OPEN);
    assert_non_null(m);
    ST(lfc_merge_stop(m), LFC_OK);
    ST(lfc_merge_stop(m), LFC_OK);
    assert_true(lfc_merge_free(m) == 0);
    assert_false(lfc_chan_closed(out)); /* KEEP_OPEN */
    int seen = 0, v;
    while (lfc_try_recv(out, &v) == LFC_OK)
        seen |= 1 << v;
    if (lfc_try_recv(a, &v) == LFC_OK)
        seen |= 1 << (v + 2);
    if (lfc_try_recv(b, &v) == LFC_OK)
        seen |= 1 << (v + 2);
    /* 1 and 2 each once: in out (bits 1, 2) or in a, b (bits 3, 4). */
    assert_true(((seen >> 1) & 1) + ((seen >> 3) & 1) == 1);
    assert_true(((seen >> 2) & 1) + ((seen >> 4) & 1) == 1);

    lfc_ctx_free(ctx);
    lfc_chan_free(a);
    lfc_chan_free(b);
    lfc_chan_free(out);
    lfc_chan_free(wide);
    assert_true(lfc_test_wait_no_threads_named("lfc-merge", STUCK_NS));
}

static void
test_fanout_bad_input(void **state)
{
    (void)state;
    lfc_chan *in = chan_new(1, sizeof(int));
    lfc_chan *o1 = chan_new(1, sizeof(int));
    lfc_chan *o2 = chan_new(1, sizeof(int));
    lfc_chan *wide = chan_new(1, sizeof(int64_t));
    lfc_timer *t = lfc_timer_after(LFC_TEST_FAR_NS);
    assert_non_null(t);
    put_int(in, 3);
    lfc_chan *outs[2] = {o1, o2};
    lfc_chan *with_null[2] = {o1, NULL};
    lfc_chan *with_in[2] = {o1, in};
    lfc_chan *with_wide[2] = {o1, wide};
    lfc_chan *with_owned[2] = {o1, lfc_timer_chan(t)};
    const int rr = LFC_FANOUT_ROUND_ROBIN;

    NUL(lfc_fanout_new(NULL, outs, 2, rr), EINVAL);
    NUL(lfc_fanout_new(in, NULL, 2, rr), EINVAL);
    NUL(lfc_fanout_new(in, outs, 0, rr), EINVAL);
    NUL(lfc_fanout_new(in, outs, LFC_SELECT_MAX + 1, rr), EINVAL);
    NUL(lfc_fanout_new(in, outs, SIZE_MAX, rr), EINVAL);
    NUL(lfc_fanout_new(in, with_null, 2, rr), EINVAL);
    NUL(lfc_fanout_new(in, with_in, 2, rr), EINVAL);
    NUL(lfc_fanout_new(in, with_wide, 2, rr), EINVAL);
    NUL(lfc_fanout_new(in, with_owned, 2, LFC_FANOUT_BROADCAST), EINVAL);
    NUL(lfc_fanout_new(wide, outs, 2, rr), EINVAL);
    const int bad_mode[] = {0, 3, -1, INT_MAX, INT_MIN};
    for (size_t i = 0; i < 5; i++)
        NUL(lfc_fanout_new(in, outs, 2, bad_mode[i]), EINVAL);
    const unsigned bad_flags[] = {2, ~0u, LFC_FANOUT_KEEP_OPEN | 16};
    for (size_t i = 0; i < 3; i++)
        NUL(lfc_fanout_new_ex(in, outs, 2, rr, bad_flags[i]), EINVAL);
    ST(lfc_fanout_stop(NULL), LFC_EINVAL);
    assert_true(lfc_fanout_free(NULL) == 0);
    expect_untouched(in, 3);
    assert_int_equal(lfc_chan_len(o1) + lfc_chan_len(o2), 0);
    assert_false(lfc_chan_closed(o1) || lfc_chan_closed(o2));

    /* Stop twice, then free: the value is in one output or still in in. */
    lfc_fanout *f = lfc_fanout_new_ex(in, outs, 2, rr, LFC_FANOUT_KEEP_OPEN);
    assert_non_null(f);
    ST(lfc_fanout_stop(f), LFC_OK);
    ST(lfc_fanout_stop(f), LFC_OK);
    assert_true(lfc_fanout_free(f) == 0);
    assert_int_equal(lfc_chan_len(in) + lfc_chan_len(o1) + lfc_chan_len(o2),
                     1);
    assert_false(lfc_chan_closed(o1) || lfc_chan_closed(o2));

    lfc_timer_free(t);
    lfc_chan_free(in);
    lfc_chan_free(o1);
    lfc_chan_free(o2);
    lfc_chan_free(wide);
    assert_true(lfc_test_wait_no_threads_named("lfc-fanout", STUCK_NS));
}

/* ---- the largest finite deadline --------------------------------------------------- */

static int
call_recv_ctx(void *arg)
{
    struct op *o = arg;
    return lfc_recv_ctx(o->ch, &o->v, o->cases[0].buf);
}

/* Waits for the helper to park, then lets `release` complete its call. */
static void
parks_then_completes(lfc_test_async_fn fn, struct op *o, const char *what,
                     void (*release)(struct op *), int want)
{
    struct lfc_test_async a;
    async_start(&a, fn, o);
    lfc_test_async_wait_parked(&a, what);
    lfc_test_async_assert_blocked(&a, what);
    release(o);
    ST(lfc_test_async_join(&a, what), want);
}

static void
release_send(struct op *o)
{
    int v = 61;
    ST(lfc_send_until(o->ch, &v, lfc_now_ns() + STUCK_NS), LFC_OK);
}

static void
release_sem(struct op *o)
{
    ST(lfc_sem_release(o->sem, 2), LFC_OK);
}

static void
release_wg(struct op *o)
{
    ST(lfc_wg_done(o->wg), LFC_OK);
}

/*
 * INT64_MAX - 1 is a real deadline, the latest there is (its timespec
 * has tv_sec near 2^63 / 10^9): every timed wait parks on it as on any
 * other and completes when its partner comes; a context with it is live
 * and reports it; a timer due then does not fire now.
 */
static void
test_far_finite_deadlines_wait(void **state)
{
    (void)state;
    const int64_t far = INT64_MAX - 1;
    lfc_chan *ch = chan_new(0, sizeof(int));
    struct op o = {.ch = ch, .v = -1, .deadline = far};
    parks_then_completes(call_recv_until, &o, "recv_until(INT64_MAX - 1)",
                         release_send, LFC_OK);
    assert_int_equal(o.v, 61);

    o.v = -1;
    o.ncases = 2;
    o.cases[0] = (lfc_case){.ch = NULL};
    o.cases[1] = (lfc_case){.ch = ch, .dir = LFC_RECV, .buf = &o.v};
    parks_then_completes(call_select_until, &o, "select_until(INT64_MAX - 1)",
                         release_send, 1);
    assert_int_equal(o.v, 61);

    lfc_ctx *ctx = lfc_ctx_with_deadline(lfc_ctx_background(), far);
    assert_non_null(ctx);
    ST(lfc_ctx_err(ctx), LFC_OK);
    assert_true(lfc_ctx_deadline(ctx) == far);
    o.v = -1;
    o.cases[0].buf = ctx;
    parks_then_completes(call_recv_ctx, &o, "recv_ctx(deadline INT64_MAX - 1)",
                         release_send, LFC_OK);
    assert_int_equal(o.v, 61);
    ST(lfc_ctx_err(ctx), LFC_OK);
    lfc_ctx_free(ctx);

    lfc_sem *s = lfc_sem_new(2);
    assert_non_null(s);
    ST(lfc_sem_acquire(s, 2), LFC_OK);
    struct op so = {.sem = s, .deadline = far};
    parks_then_completes(call_sem_acquire_until, &so,
                         "sem_acquire_until(INT64_MAX - 1)", release_sem,
                         LFC_OK);
    ST(lfc_sem_release(s, 2), LFC_OK);
    lfc_sem_free(s);

    lfc_wg *wg = lfc_wg_new();
    assert_non_null(wg);
    ST(lfc_wg_add(wg, 1), LFC_OK);
    struct op wo = {.wg = wg, .deadline = far};
    parks_then_completes(call_wg_wait_until, &wo,
                         "wg_wait_until(INT64_MAX - 1)", release_wg, LFC_OK);
    lfc_wg_free(wg);

    /* A timer due at INT64_MAX - 1 (or so): it does not fire before a
     * timer made after it with ns 0 (deadline order). */
    lfc_timer *t = lfc_timer_after(far - lfc_now_ns());
    assert_non_null(t);
    lfc_chan *now = lfc_after(0);
    assert_non_null(now);
    int64_t fired;
    ST(lfc_recv_until(now, &fired, lfc_now_ns() + STUCK_NS), LFC_OK);
    ST(lfc_try_recv(lfc_timer_chan(t), &fired), LFC_AGAIN);
    assert_true(lfc_timer_stop(t));
    lfc_timer_free(t);
    lfc_chan_free(now);
    lfc_chan_free(ch);
}

/* ---- the table ------------------------------------------------------------------ */

typedef void (*any_fn)(void);
typedef void (*test_fn)(void **state);

/* One public function: its name (and address, so that a row for a
 * function that does not exist fails to compile), the bad inputs tried,
 * what each returns, and the test that checks it. */
struct row {
    const char *name;
    any_fn fn;
    const char *bad;
    const char *returns;
    test_fn test;
    const char *test_name;
};

#define ROW(f, t, bad, returns) {#f, (any_fn)f, bad, returns, t, #t}

/* clang-format off */
static const struct row g_table[] = {
    /* status.h, version.h, spin.h */
    ROW(lfc_strerror, test_status_strerror_every_value,
        "every code; INT_MIN, -7, 1, 2, INT_MAX", "a distinct string per code; \"unknown lfchan status\" otherwise"),
    ROW(lfc_now_ns, test_status_strerror_every_value,
        "none (no arguments)", "a positive, non-decreasing time"),
    ROW(lfc_version, test_version_and_spin_limits,
        "none", "LFC_VERSION_STRING"),
    ROW(lfc_spin_set_limit, test_version_and_spin_limits,
        "INT_MIN, -2, -1; 0; INT_MAX", "negative: LFC_SPIN_ADAPTIVE; others kept; a huge budget never outlasts a deadline"),
    ROW(lfc_spin_limit, test_version_and_spin_limits,
        "none", "the value set (negative as LFC_SPIN_ADAPTIVE)"),
    /* chan.h */
    ROW(lfc_chan_new, test_chan_new_bad_sizes,
        "cap > LFC_CHAN_MAX_CAP, SIZE_MAX; elem_size > SIZE_MAX - 16; cap * elem_size overflow; 2^60 bytes; 0 and 0",
        "NULL+EINVAL; NULL+EINVAL; NULL+ENOMEM; NULL+ENOMEM; a channel"),
    ROW(lfc_chan_new_unbounded, test_chan_new_unbounded_bad_sizes,
        "elem_size > SIZE_MAX - 16; 0; 2^60 (then a send)",
        "NULL+EINVAL; a channel; a channel whose sends give LFC_ENOMEM"),
    ROW(lfc_chan_dup, test_chan_null_handle,
        "NULL", "NULL"),
    ROW(lfc_chan_free, test_chan_owned_channels_reject_sends,
        "NULL; a library-owned channel without a dup", "no-op; no-op (still open, usable)"),
    ROW(lfc_send, test_chan_null_buffer,
        "NULL ch; NULL elem (elem_size > 0); owned channel; closed",
        "LFC_EINVAL; LFC_EINVAL (even closed); LFC_EINVAL; LFC_CLOSED"),
    ROW(lfc_recv, test_chan_null_buffer,
        "NULL ch; NULL out (elem_size > 0); closed and drained",
        "LFC_EINVAL; LFC_EINVAL, the value stays buffered; LFC_CLOSED"),
    ROW(lfc_try_send, test_chan_close_twice_and_after_close,
        "NULL ch; NULL elem; owned; full; closed and full",
        "LFC_EINVAL; LFC_EINVAL; LFC_EINVAL; LFC_AGAIN (contents kept); LFC_CLOSED"),
    ROW(lfc_try_recv, test_chan_full_and_empty_lose_nothing,
        "NULL ch; NULL out; empty; closed", "LFC_EINVAL; LFC_EINVAL; LFC_AGAIN (out untouched); LFC_CLOSED"),
    ROW(lfc_send_until, test_chan_expired_deadlines,
        "deadline INT64_MIN, -1, 0, past: room / full / unbuffered alone / receiver parked; INT64_MAX full; closed",
        "LFC_OK / LFC_TIMEDOUT (nothing added) / LFC_TIMEDOUT / LFC_OK; waits, then LFC_OK; LFC_CLOSED"),
    ROW(lfc_recv_until, test_chan_expired_deadlines,
        "deadline INT64_MIN, -1, 0, past: value / empty / sender parked; INT64_MAX, INT64_MAX - 1 empty; closed",
        "LFC_OK with the value / LFC_TIMEDOUT / LFC_OK; waits, then LFC_OK; LFC_CLOSED"),
    ROW(lfc_send_many, test_chan_batch_bad_input,
        "NULL ch; NULL sent; NULL elems (elem_size > 0, n > 0); owned; n 0; closed",
        "LFC_EINVAL (*sent 0); LFC_EINVAL; LFC_EINVAL; LFC_EINVAL; LFC_OK; LFC_CLOSED"),
    ROW(lfc_send_many_until, test_chan_batch_bad_input,
        "as lfc_send_many; deadline INT64_MIN closed",
        "as lfc_send_many; LFC_CLOSED"),
    ROW(lfc_try_send_many, test_chan_batch_bad_input,
        "as lfc_send_many", "as lfc_send_many"),
    ROW(lfc_recv_many, test_chan_batch_bad_input,
        "NULL ch; NULL got; NULL out (elem_size > 0, max > 0); closed and drained",
        "LFC_EINVAL (*got 0); LFC_EINVAL; LFC_EINVAL, the value stays buffered; LFC_CLOSED"),
    ROW(lfc_recv_many_until, test_chan_batch_bad_input,
        "as lfc_recv_many; deadline 0, INT64_MIN", "as lfc_recv_many"),
    ROW(lfc_try_recv_many, test_chan_batch_bad_input,
        "as lfc_recv_many; max 0; owned, empty", "as lfc_recv_many; LFC_OK; LFC_AGAIN"),
    ROW(lfc_close, test_chan_close_twice_and_after_close,
        "NULL; owned channel; twice, three times", "LFC_EINVAL; LFC_EINVAL; LFC_CLOSED"),
    ROW(lfc_chan_len, test_chan_null_handle,
        "NULL; after rejected calls", "0; unchanged"),
    ROW(lfc_chan_cap, test_chan_null_handle,
        "NULL", "0"),
    ROW(lfc_chan_elem_size, test_chan_null_handle,
        "NULL", "0"),
    ROW(lfc_chan_closed, test_chan_null_handle,
        "NULL", "false"),
    /* select.h */
    ROW(lfc_select, test_select_bad_counts,
        "NULL cases, n > 0; n < 0; n > LFC_SELECT_MAX; n = 0; all-NULL channels; bad dir; NULL buf; send to owned; LFC_SELECT_MAX cases",
        "LFC_EINVAL for all but the last (nothing consumed, no status written); the index"),
    ROW(lfc_try_select, test_select_bad_counts,
        "as lfc_select", "as lfc_select, but LFC_AGAIN for n = 0 and all-NULL"),
    ROW(lfc_select_until, test_select_deadlines,
        "as lfc_select; deadline INT64_MIN, -1, 0, past: ready / idle; INT64_MAX, INT64_MAX - 1; all-NULL with finite / INT64_MAX deadline",
        "as lfc_select; the index / LFC_TIMEDOUT; waits; LFC_TIMEDOUT / LFC_EINVAL"),
    ROW(lfc_select_biased, test_select_bad_case_consumes_nothing,
        "as lfc_select", "as lfc_select"),
    ROW(lfc_try_select_biased, test_select_all_null_cases,
        "as lfc_try_select", "as lfc_try_select"),
    ROW(lfc_select_biased_until, test_select_max_cases,
        "as lfc_select_until", "as lfc_select_until"),
    ROW(lfc_send_ctx, test_select_ctx_calls,
        "NULL ch, ctx, elem; owned; cancelled / timed-out ctx with room; closed",
        "LFC_EINVAL (even with an ended ctx); LFC_EINVAL; LFC_CANCELED / LFC_TIMEDOUT, nothing sent; LFC_CLOSED"),
    ROW(lfc_recv_ctx, test_select_ctx_calls,
        "NULL ch, ctx, out; cancelled / timed-out ctx with a value; closed",
        "LFC_EINVAL; LFC_CANCELED / LFC_TIMEDOUT, nothing taken; LFC_CLOSED"),
    /* ctx.h */
    ROW(lfc_ctx_background, test_ctx_null_and_background,
        "cancel and free it", "the same context, still live"),
    ROW(lfc_ctx_with_cancel, test_ctx_null_and_background,
        "NULL parent", "NULL+EINVAL"),
    ROW(lfc_ctx_with_deadline, test_ctx_deadline_extremes,
        "NULL parent; INT64_MIN, -1, 0, past; INT64_MAX; INT64_MAX - 1; under a timed-out parent",
        "NULL+EINVAL; born LFC_TIMEDOUT; no deadline (LFC_FOREVER); live, that deadline; the parent's cause and deadline"),
    ROW(lfc_ctx_with_timeout, test_ctx_deadline_extremes,
        "NULL parent; ns INT64_MIN, -1, 0; INT64_MAX, INT64_MAX - 1",
        "NULL+EINVAL; born LFC_TIMEDOUT; no deadline (saturates to LFC_FOREVER)"),
    ROW(lfc_ctx_cancel, test_ctx_null_and_background,
        "NULL; background; twice; after a timeout", "LFC_EINVAL; LFC_EINVAL; LFC_OK (first cause kept)"),
    ROW(lfc_ctx_done, test_ctx_null_and_background,
        "NULL; background", "NULL; a channel never closed, receive-only"),
    ROW(lfc_ctx_err, test_ctx_null_and_background,
        "NULL", "LFC_EINVAL"),
    ROW(lfc_ctx_deadline, test_ctx_null_and_background,
        "NULL; background", "LFC_FOREVER; LFC_FOREVER"),
    ROW(lfc_ctx_free, test_ctx_null_and_background,
        "NULL; background; parent before child", "no-op; no-op; child stays valid, cancelled"),
    /* timer.h */
    ROW(lfc_after, test_timer_duration_extremes,
        "ns INT64_MIN, -1, 0; INT64_MAX", "fires at once; never fires (no wrap-around)"),
    ROW(lfc_timer_after, test_timer_duration_extremes,
        "as lfc_after; due at INT64_MAX - 1", "as lfc_after; does not fire"),
    ROW(lfc_tick, test_timer_null_and_periods,
        "period 0, -1, INT64_MIN; INT64_MAX", "NULL+EINVAL; a ticker that never ticks"),
    ROW(lfc_timer_chan, test_timer_null_and_periods,
        "NULL; sends and close on it", "NULL; LFC_EINVAL"),
    ROW(lfc_timer_stop, test_timer_null_and_periods,
        "NULL; twice; after firing", "false; true then false; false"),
    ROW(lfc_timer_free, test_timer_null_and_periods,
        "NULL", "no-op"),
    /* sem.h */
    ROW(lfc_sem_new, test_sem_new_bad_totals,
        "-1, INT64_MIN, LFC_SEM_MAX + 1, INT64_MAX; 0; LFC_SEM_MAX", "NULL+EINVAL; a semaphore"),
    ROW(lfc_sem_acquire, test_sem_bad_weights,
        "NULL; n -1, INT64_MIN, over the total, INT64_MAX; 0", "LFC_EINVAL, count unchanged; LFC_OK at once"),
    ROW(lfc_sem_try_acquire, test_sem_bad_weights,
        "as lfc_sem_acquire", "as lfc_sem_acquire"),
    ROW(lfc_sem_acquire_until, test_sem_deadlines_and_contexts,
        "as lfc_sem_acquire; deadline INT64_MIN, -1, 0, past: free / taken; INT64_MAX, INT64_MAX - 1",
        "as lfc_sem_acquire; LFC_OK / LFC_TIMEDOUT; waits"),
    ROW(lfc_sem_acquire_ctx, test_sem_deadlines_and_contexts,
        "as lfc_sem_acquire; NULL ctx; cancelled / timed-out ctx with permits free",
        "as lfc_sem_acquire; LFC_EINVAL; LFC_CANCELED / LFC_TIMEDOUT, nothing taken"),
    ROW(lfc_sem_release, test_sem_bad_weights,
        "NULL; n -1, INT64_MIN, INT64_MAX; over the total; 0", "LFC_EINVAL, count unchanged; LFC_OK"),
    ROW(lfc_sem_available, test_sem_bad_weights,
        "NULL", "0"),
    ROW(lfc_sem_free, test_sem_bad_weights,
        "NULL", "no-op"),
    /* wg.h */
    ROW(lfc_wg_new, test_wg_bad_deltas_and_deadlines,
        "none", "a wait group at 0"),
    ROW(lfc_wg_add, test_wg_bad_deltas_and_deadlines,
        "NULL; below zero (-1, INT64_MIN); above INT64_MAX; 0", "LFC_EINVAL, count unchanged; LFC_OK"),
    ROW(lfc_wg_done, test_wg_bad_deltas_and_deadlines,
        "NULL; at zero", "LFC_EINVAL, count unchanged"),
    ROW(lfc_wg_wait, test_wg_bad_deltas_and_deadlines,
        "NULL", "LFC_EINVAL"),
    ROW(lfc_wg_wait_until, test_wg_bad_deltas_and_deadlines,
        "NULL; INT64_MIN, -1, 0, past: at zero / not; INT64_MAX, INT64_MAX - 1", "LFC_EINVAL; LFC_OK / LFC_TIMEDOUT; waits"),
    ROW(lfc_wg_count, test_wg_bad_deltas_and_deadlines,
        "NULL", "0"),
    ROW(lfc_wg_free, test_wg_bad_deltas_and_deadlines,
        "NULL", "no-op"),
    /* pool.h */
    ROW(lfc_pool_new, test_pool_new_bad_options,
        "0 workers; > LFC_POOL_MAX_WORKERS, UINT_MAX; capacity > LFC_CHAN_MAX_CAP, SIZE_MAX", "NULL+EINVAL"),
    ROW(lfc_pool_new_opts, test_pool_new_bad_options,
        "NULL; zeroed; cpus/ncpus disagreeing; CPU -1, INT_MIN, INT_MAX, 2^20; 199-char name, \"\"",
        "NULL+EINVAL; a pool (name truncated, default)"),
    ROW(lfc_pool_free, test_pool_null_and_closed,
        "NULL; after shutdown", "no-op; frees"),
    ROW(lfc_pool_submit, test_pool_null_and_closed,
        "NULL pool, fn; after shutdown", "LFC_EINVAL; LFC_CLOSED (NULL fn: LFC_EINVAL)"),
    ROW(lfc_pool_try_submit, test_pool_full_queue_deadlines,
        "as lfc_pool_submit; full", "as lfc_pool_submit; LFC_AGAIN, nothing queued"),
    ROW(lfc_pool_submit_until, test_pool_full_queue_deadlines,
        "as lfc_pool_submit; INT64_MIN, -1, 0, past: room / full",
        "as lfc_pool_submit; LFC_OK, the task runs / LFC_TIMEDOUT, nothing queued"),
    ROW(lfc_pool_submit_ctx, test_pool_full_queue_deadlines,
        "as lfc_pool_submit; NULL ctx; cancelled / timed-out ctx, room or full",
        "as lfc_pool_submit; LFC_EINVAL; LFC_CANCELED / LFC_TIMEDOUT, nothing queued"),
    ROW(lfc_pool_wait, test_pool_null_and_closed,
        "NULL; after shutdown", "LFC_EINVAL; LFC_OK"),
    ROW(lfc_pool_shutdown_now, test_pool_null_and_closed,
        "NULL pool; NULL callback; twice", "LFC_EINVAL; LFC_EINVAL; LFC_CLOSED"),
    ROW(lfc_pool_stats, test_pool_null_and_closed,
        "NULL pool; NULL out", "LFC_EINVAL"),
    /* group.h */
    ROW(lfc_group_new, test_group_bad_input,
        "NULL parent; a timed-out parent", "NULL+EINVAL; a group whose context is cancelled"),
    ROW(lfc_group_ctx, test_group_bad_input,
        "NULL", "NULL"),
    ROW(lfc_group_set_limit, test_group_bad_input,
        "NULL; 0, -2, INT_MIN; INT_MAX, LFC_GROUP_NO_LIMIT", "LFC_EINVAL; LFC_EINVAL; LFC_OK"),
    ROW(lfc_group_go, test_group_bad_input,
        "NULL group, fn", "LFC_EINVAL, nothing started"),
    ROW(lfc_group_try_go, test_group_bad_input,
        "NULL group, fn", "LFC_EINVAL, nothing started"),
    ROW(lfc_group_wait, test_group_bad_input,
        "NULL; twice", "LFC_EINVAL; LFC_OK"),
    ROW(lfc_group_free, test_group_bad_input,
        "NULL", "no-op"),
    /* merge.h */
    ROW(lfc_merge_new, test_merge_bad_input,
        "NULL inputs, out; n 0; n SIZE_MAX; a NULL input; an input == out; elem_size mismatch; owned out",
        "NULL+EINVAL, no reference kept, nothing received"),
    ROW(lfc_merge_new_ex, test_merge_bad_input,
        "as lfc_merge_new; unknown flags", "NULL+EINVAL"),
    ROW(lfc_merge_stop, test_merge_bad_input,
        "NULL; twice", "LFC_EINVAL; LFC_OK"),
    ROW(lfc_merge_free, test_merge_bad_input,
        "NULL", "0"),
    ROW(lfc_fanout_new, test_fanout_bad_input,
        "NULL in, outs; n 0, > LFC_SELECT_MAX, SIZE_MAX; a NULL output; output == in; elem_size mismatch; owned output; mode 0, 3, -1, INT_MAX, INT_MIN",
        "NULL+EINVAL, no reference kept, nothing received"),
    ROW(lfc_fanout_new_ex, test_fanout_bad_input,
        "as lfc_fanout_new; unknown flags", "NULL+EINVAL"),
    ROW(lfc_fanout_stop, test_fanout_bad_input,
        "NULL; twice", "LFC_EINVAL; LFC_OK"),
    ROW(lfc_fanout_free, test_fanout_bad_input,
        "NULL", "0"),
};
/* clang-format on */
#define TABLE_ROWS (sizeof(g_table) / sizeof(g_table[0]))

/* ---- the table covers include/ ------------------------------------------------ */

#ifndef LFC_TEST_SOURCE_DIR
#error "CMakeLists.txt defines LFC_TEST_SOURCE_DIR for test_badinput"
#endif

struct names {
    char **v;
    size_t n;
};

static void
names_add(struct names *ns, const char *s, size_t len)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strlen(ns->v[i]) == len && strncmp(ns->v[i], s, len) == 0)
            return;
    ns->v = realloc(ns->v, (ns->n + 1) * sizeof(*ns->v));
    assert_non_null(ns->v);
    ns->v[ns->n] = strndup(s, len);
    assert_non_null(ns->v[ns->n]);
    ns->n++;
}

static bool
ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* The functions an LFC_API declaration in `text` names, as scripts/test.sh
 * finds them: from a line that starts (after blanks) with "LFC_API ", the
 * last identifier before the first '(' that follows. */
static void
scan_header(const char *text, struct names *ns)
{
    const char *p = text;
    while (*p) {
        const char *line = p;
        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, "LFC_API", 7) == 0 &&
            (line[7] == ' ' || line[7] == '\t')) {
            const char *paren = strchr(line, '(');
            assert_non_null(paren);
            const char *end = paren;
            while (end > line && !ident_char(end[-1]))
                end--;
            const char *start = end;
            while (start > line && ident_char(start[-1]))
                start--;
            names_add(ns, start, (size_t)(end - start));
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void
test_table_covers_every_public_function(void **state)
{
    (void)state;
    struct names ns = {0};
    const char *dir = LFC_TEST_SOURCE_DIR "/include/lfchan";
    char path[4096];
    snprintf(path, sizeof(path), "%s/include/lfchan.h", LFC_TEST_SOURCE_DIR);
    char *text = read_file(path);
    scan_header(text, &ns);
    free(text);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    struct dirent *e;
    size_t headers = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".h") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        text = read_file(path);
        scan_header(text, &ns);
        free(text);
        headers++;
    }
    closedir(d);
    assert_true(headers >= 10);

    int missing = 0;
    for (size_t i = 0; i < ns.n; i++) {
        bool found = false;
        for (size_t r = 0; r < TABLE_ROWS && !found; r++)
            found = strcmp(g_table[r].name, ns.v[i]) == 0;
        if (!found) {
            fprintf(stderr, "test_badinput: %s is LFC_API but has no row in "
                            "g_table\n", ns.v[i]);
            missing++;
        }
    }
    for (size_t r = 0; r < TABLE_ROWS; r++) {
        bool found = false;
        for (size_t i = 0; i < ns.n && !found; i++)
            found = strcmp(g_table[r].name, ns.v[i]) == 0;
        if (!found) {
            fprintf(stderr, "test_badinput: g_table row %s is not an LFC_API "
                            "declaration\n", g_table[r].name);
            missing++;
        }
        for (size_t q = 0; q < r; q++)
            if (strcmp(g_table[q].name, g_table[r].name) == 0) {
                fprintf(stderr, "test_badinput: two rows for %s\n",
                        g_table[r].name);
                missing++;
            }
    }
    for (size_t i = 0; i < ns.n; i++)
        free(ns.v[i]);
    free(ns.v);
    if (missing)
        fail_msg("%d table problem(s), see above", missing);
    assert_int_equal(ns.n, TABLE_ROWS);
}

/* ---- main ------------------------------------------------------------------------ */

static struct lfc_watchdog g_dog;

static int
dog_setup(void **state)
{
    (void)state;
    lfc_watchdog_start(&g_dog, "test_badinput (the last [ RUN ] test)",
                       &g_progress, 0);
    return 0;
}

static int
dog_teardown(void **state)
{
    (void)state;
    lfc_watchdog_stop(&g_dog);
    return 0;
}

/* Tests that check more than the table's rows name. */
static const struct {
    test_fn fn;
    const char *name;
} g_extra[] = {
    {test_table_covers_every_public_function,
     "test_table_covers_every_public_function"},
    {test_chan_owned_channels_reject_sends,
     "test_chan_owned_channels_reject_sends"},
    {test_chan_expired_deadline_unbuffered_partner_waiting,
     "test_chan_expired_deadline_unbuffered_partner_waiting"},
    {test_chan_forever_deadline_waits, "test_chan_forever_deadline_waits"},
    {test_far_finite_deadlines_wait, "test_far_finite_deadlines_wait"},
};

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    lfc_test_async_install_park_hook();
    /* One cmocka test per distinct test function: the extras, then the
     * table's in row order. */
    enum { MAX_TESTS = 128 };
    static struct CMUnitTest tests[MAX_TESTS];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(g_extra) / sizeof(g_extra[0]); i++)
        tests[n++] = (struct CMUnitTest){.name = g_extra[i].name,
                                         .test_func = g_extra[i].fn};
    for (size_t r = 0; r < TABLE_ROWS; r++) {
        bool seen = false;
        for (size_t i = 0; i < n && !seen; i++)
            seen = tests[i].test_func == g_table[r].test;
        if (!seen && n < MAX_TESTS)
            tests[n++] = (struct CMUnitTest){.name = g_table[r].test_name,
                                             .test_func = g_table[r].test};
    }
    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    if (getenv("LFC_TEST_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("LFC_TEST_SKIP"));
    return _cmocka_run_group_tests("test_badinput", tests, n, dog_setup,
                                   dog_teardown);
}
