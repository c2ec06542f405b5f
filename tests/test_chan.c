/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan channels (include/lfchan/chan.h), the status codes
 * and time helper (include/lfchan/status.h) and the spin policy knob
 * (include/lfchan/spin.h).
 *
 * The headers are the contract: every expectation below cites behaviour the
 * header documents. Scenarios adapted from Go's runtime/chan_test.go
 * (TestChan's blocking, close and FIFO checks; TestNonblockRecvRace's
 * receive racing close) and crossbeam-channel's tests/array.rs and
 * tests/zero.rs (len and capacity, try_ calls on full and empty,
 * recv_timeout and send_timeout, disconnection waking every waiter),
 * rewritten in C. The slow-send wake-up tests are our own: they widen the
 * window between a sender claiming a slot and publishing it.
 *
 * Rules kept here:
 *   - cmocka assertions run only on the test's own thread; helper threads
 *     record what happened and the test thread checks it after joining.
 *   - Every blocking call made by a helper is waited for with a bound; a
 *     call still blocked after the bound is rescued by closing its channel,
 *     and the test then fails with what it saw.
 *   - A helper is known to be blocked in its call once it sleeps in a
 *     futex wait there (lfc_test_async.h's park hook), not after a sleep
 *     that is usually long enough.
 *   - Timing checks assert lower bounds exactly (a deadline never fires
 *     early) and no upper bounds: what must happen is waited for up to
 *     LFC_TEST_STUCK_NS (tests/support), which only a lost wake-up
 *     reaches, on a loaded host or under a sanitizer too.
 *   - Sizes scale with LFC_TEST_SCALE (see lfc_test_support.h).
 */
#define _GNU_SOURCE

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
#include <time.h>

#include <cmocka.h>

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

/*
 * Let huge allocations fail with NULL under the sanitizers too, as they do
 * with glibc malloc: test_chan_new_total_size_overflow_enomem needs the
 * constructor to see the failure. ASAN_OPTIONS/TSAN_OPTIONS still override.
 */
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

/* How long a helper's call may take before the test calls it stuck. */
#define STUCK_NS LFC_TEST_STUCK_NS

static void
sleep_ns(int64_t ns)
{
    lfc_test_sleep_ns(ns);
}

/*
 * The distinct byte pattern of value number i: byte j of element i. Every
 * byte depends on both i and j, so a swapped, duplicated or torn element
 * shows up as a wrong byte.
 */
static uint8_t
pattern(size_t i, size_t j)
{
    return (uint8_t)(i + 1 + j * 31 + (i >> 8) * 7 + (j >> 8) * 13);
}

static void
fill_pattern(uint8_t *buf, size_t i, size_t n)
{
    for (size_t j = 0; j < n; j++)
        buf[j] = pattern(i, j);
}

/* Returns the first byte index that differs from pattern i, or n if none. */
static size_t
check_pattern(const uint8_t *buf, size_t i, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if (buf[j] != pattern(i, j))
            return j;
    return n;
}

/*
 * One channel call run on a helper thread (lfc_test_async.h), so the test
 * thread can watch it block, wake it and check the result.
 */
enum op_kind {
    OP_SEND,
    OP_RECV,
    OP_SEND_UNTIL,
    OP_RECV_UNTIL,
    OP_TRY_SEND,
    OP_TRY_RECV,
};

struct op {
    struct lfc_test_async a;
    lfc_chan *ch;
    enum op_kind kind;
    void *buf;        /* send source or receive destination */
    int64_t deadline; /* for the _until kinds */
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
    case OP_SEND_UNTIL:
        return lfc_send_until(o->ch, o->buf, o->deadline);
    case OP_RECV_UNTIL:
        return lfc_recv_until(o->ch, o->buf, o->deadline);
    case OP_TRY_SEND:
        return lfc_try_send(o->ch, o->buf);
    case OP_TRY_RECV:
        return lfc_try_recv(o->ch, o->buf);
    }
    return LFC_EINVAL;
}

/* A call still blocked after its bound is rescued by closing its channel,
 * so that its thread can be joined and the test fail with what it saw. */
static void
op_rescue(void *arg)
{
    struct op *o = arg;
    lfc_close(o->ch);
}

/* Starts `o` and returns once its thread is about to make the call. */
static void
op_start(struct op *o, lfc_chan *ch, enum op_kind kind, void *buf,
         int64_t deadline)
{
    o->ch = ch;
    o->kind = kind;
    o->buf = buf;
    o->deadline = deadline;
    struct lfc_test_async_opts opts = {.rescue = op_rescue, .rescue_arg = o};
    lfc_test_async_start_with(&o->a, op_call, o, &opts);
}

static bool
op_done(const struct op *o)
{
    return lfc_test_async_done(&o->a);
}

/* Waits until the call sleeps inside the channel, and checks that it has
 * not returned: what the "blocked" tests are about, as a fact instead of
 * a sleep long enough to get there. */
static void
op_wait_parked(struct op *o, const char *what)
{
    lfc_test_async_wait_parked(&o->a, what);
    lfc_test_async_assert_blocked(&o->a, what);
}

/* Starts `o` and returns once it sleeps in its call. */
static void
op_start_parked(struct op *o, lfc_chan *ch, enum op_kind kind, void *buf,
                int64_t deadline, const char *what)
{
    op_start(o, ch, kind, buf, deadline);
    op_wait_parked(o, what);
}

/*
 * Waits up to `ns` for the call to return, joins it and returns its status.
 * A call still blocked then is rescued by closing the channel (so that the
 * thread can be joined) and the test fails, saying what the call returned
 * after the rescue.
 */
static int
op_finish(struct op *o, int64_t ns, const char *what)
{
    return lfc_test_async_join_within(&o->a, ns, what);
}

/* The calling thread's futex waits so far (lfc_test_futex.h): a call that
 * must return without sleeping leaves it as it was. */
static unsigned long
my_futex_waits(void)
{
    return lfc_test_futex_t_waits;
}

/* ------------------------------------------------------------------ */
/* status.h: codes, lfc_strerror, lfc_now_ns                          */
/* ------------------------------------------------------------------ */

static const int all_codes[] = {
    LFC_OK,       LFC_CLOSED,   LFC_AGAIN, LFC_TIMEDOUT,
    LFC_CANCELED, LFC_EINVAL,   LFC_ENOMEM,
};
#define N_CODES (sizeof(all_codes) / sizeof(all_codes[0]))

static void
test_chan_status_codes_fixed_values(void **state)
{
    (void)state;
    /* The values are part of the ABI ("keeps its value forever"). */
    assert_int_equal(LFC_OK, 0);
    assert_true(LFC_CLOSED == -1);
    assert_true(LFC_AGAIN == -2);
    assert_true(LFC_TIMEDOUT == -3);
    assert_true(LFC_CANCELED == -4);
    assert_true(LFC_EINVAL == -5);
    assert_true(LFC_ENOMEM == -6);
    for (size_t i = 1; i < N_CODES; i++) {
        assert_true(all_codes[i] < 0);
        for (size_t k = 0; k < i; k++)
            assert_true(all_codes[i] != all_codes[k]);
    }
}

static void
test_chan_strerror_distinct_per_code(void **state)
{
    (void)state;
    const char *unknown = lfc_strerror(-1000);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown lfchan status");
    for (size_t i = 0; i < N_CODES; i++) {
        const char *s = lfc_strerror(all_codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, unknown);
        /* Static: the same call gives the same, still valid string. */
        assert_string_equal(lfc_strerror(all_codes[i]), s);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(s, lfc_strerror(all_codes[k]));
    }
}

static void
test_chan_strerror_unknown_values(void **state)
{
    (void)state;
    static const int bogus[] = {1, 2, 100, -7, -8, -100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
        const char *s = lfc_strerror(bogus[i]);
        assert_non_null(s);
        assert_string_equal(s, "unknown lfchan status");
    }
}

static void
test_chan_now_ns_monotonic_matches_clock(void **state)
{
    (void)state;
    /* Brackets: CLOCK_MONOTONIC read before and after must enclose it. */
    for (int i = 0; i < 1000; i++) {
        int64_t a = lfc_test_now_ns();
        int64_t n = lfc_now_ns();
        int64_t b = lfc_test_now_ns();
        if (n < a || n > b)
            fail_msg("lfc_now_ns()=%lld outside CLOCK_MONOTONIC [%lld, %lld]",
                     (long long)n, (long long)a, (long long)b);
    }
    int64_t prev = lfc_now_ns();
    for (int i = 0; i < 100000; i++) {
        int64_t n = lfc_now_ns();
        if (n < prev)
            fail_msg("lfc_now_ns went backwards: %lld after %lld",
                     (long long)n, (long long)prev);
        prev = n;
    }
    int64_t t0 = lfc_now_ns();
    sleep_ns(20 * MS);
    int64_t t1 = lfc_now_ns();
    assert_true(t1 - t0 >= 20 * MS); /* no upper bound: the host may stall */
}

/* ------------------------------------------------------------------ */
/* lfc_chan_new: capacity, elem_size, len, FIFO bytes                  */
/* ------------------------------------------------------------------ */

#define GUARD 16
#define GUARD_BYTE 0xEE

#define ROW_CHECK(cond)                                                       \
    do {                                                                      \
        if (!(cond))                                                          \
            fail_msg("cap=%zu elem_size=%zu: %s failed (line %d)", cap, es,   \
                     #cond, __LINE__);                                        \
    } while (0)

#define ROW_STATUS(got, want)                                                 \
    do {                                                                      \
        int got_ = (got);                                                     \
        int want_ = (want);                                                   \
        if (got_ != want_)                                                    \
            fail_msg("cap=%zu elem_size=%zu: %s gave %d (%s), want %d (%s) "  \
                     "(line %d)",                                             \
                     cap, es, #got, got_, lfc_strerror(got_), want_,          \
                     lfc_strerror(want_), __LINE__);                          \
    } while (0)

static void
new_row_buffered(size_t cap, size_t es)
{
    lfc_chan *ch = lfc_chan_new(cap, es);
    ROW_CHECK(ch != NULL);
    ROW_CHECK(lfc_chan_cap(ch) == cap);
    ROW_CHECK(lfc_chan_elem_size(ch) == es);
    ROW_CHECK(lfc_chan_len(ch) == 0);
    ROW_CHECK(!lfc_chan_closed(ch));

    /* Exactly es bytes, so ASan reports a send that reads past them. */
    uint8_t *src = es ? malloc(es) : NULL;
    uint8_t *out = malloc(es + GUARD);
    ROW_CHECK(es == 0 || src != NULL);
    ROW_CHECK(out != NULL);

    for (size_t i = 0; i < cap; i++) {
        fill_pattern(src, i, es);
        ROW_STATUS(lfc_try_send(ch, src), LFC_OK);
        ROW_CHECK(lfc_chan_len(ch) == i + 1);
    }
    /* Full: one more is refused, and the refusal changes nothing. */
    fill_pattern(src, cap + 5, es);
    ROW_STATUS(lfc_try_send(ch, src), LFC_AGAIN);
    ROW_STATUS(lfc_try_send(ch, src), LFC_AGAIN);
    ROW_CHECK(lfc_chan_len(ch) == cap);

    for (size_t i = 0; i < cap; i++) {
        memset(out, GUARD_BYTE, es + GUARD);
        ROW_STATUS(lfc_try_recv(ch, es ? out : NULL), LFC_OK);
        size_t bad = check_pattern(out, i, es);
        if (bad != es)
            fail_msg("cap=%zu elem_size=%zu: value %zu byte %zu is 0x%02x, "
                     "want 0x%02x (FIFO order or copy broken)",
                     cap, es, i, bad, out[bad], pattern(i, bad));
        for (size_t j = es; j < es + GUARD; j++)
            if (out[j] != GUARD_BYTE)
                fail_msg("cap=%zu elem_size=%zu: recv wrote past elem_size "
                         "at byte %zu",
                         cap, es, j);
        ROW_CHECK(lfc_chan_len(ch) == cap - 1 - i);
    }
    memset(out, GUARD_BYTE, es + GUARD);
    ROW_STATUS(lfc_try_recv(ch, es ? out : NULL), LFC_AGAIN);
    ROW_CHECK(lfc_chan_len(ch) == 0);
    ROW_CHECK(lfc_chan_cap(ch) == cap);
    ROW_CHECK(!lfc_chan_closed(ch));

    free(out);
    free(src);
    lfc_chan_free(ch);
}

static void
new_row_unbuffered(size_t es)
{
    size_t cap = 0;
    lfc_chan *ch = lfc_chan_new(0, es);
    ROW_CHECK(ch != NULL);
    ROW_CHECK(lfc_chan_cap(ch) == 0);
    ROW_CHECK(lfc_chan_elem_size(ch) == es);
    ROW_CHECK(lfc_chan_len(ch) == 0);
    ROW_CHECK(!lfc_chan_closed(ch));

    uint8_t *src = es ? malloc(es) : NULL;
    uint8_t *out = malloc(es + GUARD);
    ROW_CHECK(es == 0 || src != NULL);
    ROW_CHECK(out != NULL);

    /* No partner: both try_ calls would block. */
    fill_pattern(src, 3, es);
    ROW_STATUS(lfc_try_send(ch, src), LFC_AGAIN);
    ROW_STATUS(lfc_try_recv(ch, es ? out : NULL), LFC_AGAIN);

    /* One handoff with exact bytes: a helper sends, this thread receives. */
    fill_pattern(src, 7, es);
    struct op s;
    op_start(&s, ch, OP_SEND, src, 0);
    memset(out, GUARD_BYTE, es + GUARD);
    ROW_STATUS(lfc_recv_until(ch, es ? out : NULL, lfc_now_ns() + STUCK_NS),
               LFC_OK);
    ROW_STATUS(op_finish(&s, STUCK_NS, "unbuffered row send"), LFC_OK);
    ROW_CHECK(check_pattern(out, 7, es) == es);
    for (size_t j = es; j < es + GUARD; j++)
        ROW_CHECK(out[j] == GUARD_BYTE);
    ROW_CHECK(lfc_chan_len(ch) == 0);
    ROW_STATUS(lfc_try_recv(ch, es ? out : NULL), LFC_AGAIN);

    free(out);
    free(src);
    lfc_chan_free(ch);
}

static void
test_chan_new_table_cap_len_fifo(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 2, 3, 1024};
    static const size_t sizes[] = {0, 1, 8, 24, 4096};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        for (size_t e = 0; e < sizeof(sizes) / sizeof(sizes[0]); e++) {
            if (caps[c] == 0)
                new_row_unbuffered(sizes[e]);
            else
                new_row_buffered(caps[c], sizes[e]);
        }
    }
}

static void
test_chan_new_capacity_above_max_einval(void **state)
{
    (void)state;
    static const size_t caps[] = {LFC_CHAN_MAX_CAP + 1,
                                  LFC_CHAN_MAX_CAP * 2, SIZE_MAX};
    static const size_t sizes[] = {0, 1, 8};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        for (size_t e = 0; e < sizeof(sizes) / sizeof(sizes[0]); e++) {
            errno = 0;
            lfc_chan *ch = lfc_chan_new(caps[c], sizes[e]);
            if (ch != NULL) {
                lfc_chan_free(ch);
                fail_msg("lfc_chan_new(%zu, %zu) succeeded", caps[c],
                         sizes[e]);
            }
            if (errno != EINVAL)
                fail_msg("lfc_chan_new(%zu, %zu): errno %d (%s), want EINVAL",
                         caps[c], sizes[e], errno, strerror(errno));
        }
    }
}

static void
test_chan_new_elem_size_max_fails(void **state)
{
    (void)state;
    /*
     * A slot of SIZE_MAX bytes overflows (EINVAL per the header); an
     * implementation whose slots hold no more than the element may instead
     * fail the allocation (ENOMEM). Either is documented; success is not.
     */
    static const size_t caps[] = {0, 1, 16};
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        for (size_t e = 0; e < sizeof(sizes) / sizeof(sizes[0]); e++) {
            errno = 0;
            lfc_chan *ch = lfc_chan_new(caps[c], sizes[e]);
            if (ch != NULL) {
                lfc_chan_free(ch);
                fail_msg("lfc_chan_new(%zu, %zu) succeeded", caps[c],
                         sizes[e]);
            }
            if (errno != EINVAL && errno != ENOMEM)
                fail_msg("lfc_chan_new(%zu, %zu): errno %d (%s), want EINVAL "
                         "or ENOMEM",
                         caps[c], sizes[e], errno, strerror(errno));
        }
    }
}

static void
test_chan_new_total_size_overflow_enomem(void **state)
{
    (void)state;
    /*
     * Slot sizes that cannot overflow (2^20 .. 2^44 bytes) times capacities
     * up to the maximum: the total either overflows size_t or is far beyond
     * the address space. The header says both give ENOMEM. (The sanitizer
     * allocators are told below to return NULL for the second kind instead
     * of aborting, as malloc does.)
     */
    static const struct {
        size_t cap;
        size_t es;
    } rows[] = {
        {LFC_CHAN_MAX_CAP, (size_t)1 << 40},       /* 2^72: overflows */
        {(size_t)1 << 24, (size_t)1 << 40},        /* 2^64: overflows */
        {((size_t)1 << 24) + 3, ((size_t)1 << 40) + 24}, /* > 2^64 */
        {LFC_CHAN_MAX_CAP, SIZE_MAX >> 20},        /* ~2^76: overflows */
        {LFC_CHAN_MAX_CAP, (size_t)1 << 20},       /* 2^52: cannot map */
        {(size_t)3 << 22, (size_t)1 << 40},        /* 3 * 2^62: cannot map */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        errno = 0;
        lfc_chan *ch = lfc_chan_new(rows[i].cap, rows[i].es);
        if (ch != NULL) {
            lfc_chan_free(ch);
            fail_msg("lfc_chan_new(%zu, %zu) succeeded", rows[i].cap,
                     rows[i].es);
        }
        if (errno != ENOMEM)
            fail_msg("lfc_chan_new(%zu, %zu): errno %d (%s), want ENOMEM",
                     rows[i].cap, rows[i].es, errno, strerror(errno));
    }
}

/* ------------------------------------------------------------------ */
/* NULL handling                                                       */
/* ------------------------------------------------------------------ */

static void
test_chan_null_handle_einval(void **state)
{
    (void)state;
    uint64_t v = 1;
    lfc_chan_free(NULL); /* a no-op: must not crash */
    assert_status(lfc_send(NULL, &v), LFC_EINVAL);
    assert_status(lfc_recv(NULL, &v), LFC_EINVAL);
    assert_status(lfc_try_send(NULL, &v), LFC_EINVAL);
    assert_status(lfc_try_recv(NULL, &v), LFC_EINVAL);
    assert_status(lfc_send_until(NULL, &v, lfc_now_ns() + SEC), LFC_EINVAL);
    assert_status(lfc_recv_until(NULL, &v, lfc_now_ns() + SEC), LFC_EINVAL);
    assert_status(lfc_send_until(NULL, &v, LFC_FOREVER), LFC_EINVAL);
    assert_status(lfc_recv_until(NULL, &v, LFC_FOREVER), LFC_EINVAL);
    assert_status(lfc_send(NULL, NULL), LFC_EINVAL);
    assert_status(lfc_recv(NULL, NULL), LFC_EINVAL);
    assert_status(lfc_close(NULL), LFC_EINVAL);
    assert_int_equal(v, 1); /* out untouched */
    assert_int_equal(lfc_chan_len(NULL), 0);
    assert_int_equal(lfc_chan_cap(NULL), 0);
    assert_int_equal(lfc_chan_elem_size(NULL), 0);
    assert_false(lfc_chan_closed(NULL));
}

static void
test_chan_null_buffer_einval_keeps_value(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(4, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t v = 0xABCDEF0123456789u;
    assert_status(lfc_send(ch, &v), LFC_OK);
    assert_int_equal(lfc_chan_len(ch), 1);

    /* Sends with NULL enqueue nothing. */
    assert_status(lfc_send(ch, NULL), LFC_EINVAL);
    assert_status(lfc_try_send(ch, NULL), LFC_EINVAL);
    assert_status(lfc_send_until(ch, NULL, lfc_now_ns() + SEC), LFC_EINVAL);
    assert_status(lfc_send_until(ch, NULL, LFC_FOREVER), LFC_EINVAL);
    assert_int_equal(lfc_chan_len(ch), 1);

    /* Receives with NULL consume nothing. */
    assert_status(lfc_recv(ch, NULL), LFC_EINVAL);
    assert_status(lfc_try_recv(ch, NULL), LFC_EINVAL);
    assert_status(lfc_recv_until(ch, NULL, lfc_now_ns() + SEC), LFC_EINVAL);
    assert_status(lfc_recv_until(ch, NULL, LFC_FOREVER), LFC_EINVAL);
    assert_int_equal(lfc_chan_len(ch), 1);

    uint64_t out = 0;
    assert_status(lfc_try_recv(ch, &out), LFC_OK);
    assert_true(out == v);
    assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
    assert_int_equal(lfc_chan_len(ch), 0);

    /* Nothing was enqueued by the refused sends: close and see CLOSED. */
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_recv(ch, NULL), LFC_EINVAL);
    assert_status(lfc_try_recv(ch, &out), LFC_CLOSED);
    lfc_chan_free(ch);
}

/*
 * A NULL buffer is rejected up front, not after waiting: a NULL receive on
 * an empty channel, a NULL send on a full one, and both on an unbuffered
 * channel with no partner must return LFC_EINVAL at once.
 */
static void
test_chan_null_buffer_einval_without_blocking(void **state)
{
    (void)state;
    lfc_chan *empty = lfc_chan_new(2, sizeof(uint64_t));
    lfc_chan *full = lfc_chan_new(1, sizeof(uint64_t));
    lfc_chan *unbuf = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(empty);
    assert_non_null(full);
    assert_non_null(unbuf);
    uint64_t one = 1;
    assert_status(lfc_try_send(full, &one), LFC_OK);

    static const struct {
        int which; /* 0 empty, 1 full, 2 unbuffered */
        enum op_kind kind;
        const char *what;
    } rows[] = {
        {0, OP_RECV, "recv(empty, NULL)"},
        {0, OP_RECV_UNTIL, "recv_until(empty, NULL)"},
        {1, OP_SEND, "send(full, NULL)"},
        {1, OP_SEND_UNTIL, "send_until(full, NULL)"},
        {2, OP_SEND, "send(unbuffered, NULL)"},
        {2, OP_RECV, "recv(unbuffered, NULL)"},
        {2, OP_SEND_UNTIL, "send_until(unbuffered, NULL)"},
        {2, OP_RECV_UNTIL, "recv_until(unbuffered, NULL)"},
        {2, OP_TRY_SEND, "try_send(unbuffered, NULL)"},
        {2, OP_TRY_RECV, "try_recv(unbuffered, NULL)"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        lfc_chan *ch = rows[i].which == 0 ? empty
                       : rows[i].which == 1 ? full
                                            : unbuf;
        struct op o;
        op_start(&o, ch, rows[i].kind, NULL, LFC_FOREVER);
        int rc = op_finish(&o, STUCK_NS, rows[i].what);
        if (rc != LFC_EINVAL)
            fail_msg("%s gave %d (%s), want LFC_EINVAL", rows[i].what, rc,
                     lfc_strerror(rc));
    }
    assert_int_equal(lfc_chan_len(empty), 0);
    assert_int_equal(lfc_chan_len(full), 1);
    uint64_t out = 0;
    assert_status(lfc_try_recv(full, &out), LFC_OK);
    assert_true(out == 1);
    assert_status(lfc_try_recv(unbuf, &out), LFC_AGAIN);
    lfc_chan_free(empty);
    lfc_chan_free(full);
    lfc_chan_free(unbuf);
}

/* ------------------------------------------------------------------ */
/* Ring wraparound with capacities that are not powers of two          */
/* ------------------------------------------------------------------ */

static void
test_chan_ring_wraps_any_capacity(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 2, 3, 5, 7, 64, 100};
    const size_t es = 5; /* odd: copies are not word-sized */
    uint8_t in[5];
    uint8_t out[5 + GUARD];
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        size_t cap = caps[c];
        lfc_chan *ch = lfc_chan_new(cap, es);
        ROW_CHECK(ch != NULL);
        size_t sent = 0;
        size_t recvd = 0;
        /* Varying batch sizes walk head and tail around the ring. */
        for (size_t round = 0; round < 300; round++) {
            size_t k = 1 + (round * 7 + cap) % cap; /* 1 .. cap */
            /* Make room for the batch, checking what comes out. */
            while (cap - (sent - recvd) < k) {
                ROW_STATUS(lfc_try_recv(ch, out), LFC_OK);
                ROW_CHECK(check_pattern(out, recvd, es) == es);
                recvd++;
            }
            for (size_t i = 0; i < k; i++) {
                fill_pattern(in, sent, es);
                ROW_STATUS(lfc_try_send(ch, in), LFC_OK);
                sent++;
            }
            ROW_CHECK(lfc_chan_len(ch) == sent - recvd);
            if (sent - recvd == cap)
                ROW_STATUS(lfc_try_send(ch, in), LFC_AGAIN);
            size_t take = (round % 3 == 0) ? k : (k + 1) / 2;
            for (size_t i = 0; i < take; i++) {
                memset(out, GUARD_BYTE, sizeof(out));
                ROW_STATUS(lfc_try_recv(ch, out), LFC_OK);
                ROW_CHECK(check_pattern(out, recvd, es) == es);
                ROW_CHECK(out[es] == GUARD_BYTE);
                recvd++;
            }
            ROW_CHECK(lfc_chan_len(ch) == sent - recvd);
        }
        while (recvd < sent) {
            ROW_STATUS(lfc_try_recv(ch, out), LFC_OK);
            ROW_CHECK(check_pattern(out, recvd, es) == es);
            recvd++;
        }
        ROW_STATUS(lfc_try_recv(ch, out), LFC_AGAIN);
        ROW_CHECK(lfc_chan_len(ch) == 0);
        lfc_chan_free(ch);
    }
}

/* ------------------------------------------------------------------ */
/* Close                                                               */
/* ------------------------------------------------------------------ */

static void
test_chan_close_twice_closed(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 8};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        assert_false(lfc_chan_closed(ch));
        assert_status(lfc_close(ch), LFC_OK);
        assert_true(lfc_chan_closed(ch));
        assert_status(lfc_close(ch), LFC_CLOSED);
        assert_status(lfc_close(ch), LFC_CLOSED);
        assert_true(lfc_chan_closed(ch));
        assert_int_equal(lfc_chan_cap(ch), caps[c]);
        lfc_chan_free(ch);
    }
}

static void
test_chan_send_after_close_closed_enqueues_nothing(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 4};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t v = 10;
        size_t pre = caps[c] > 1 ? 1 : 0; /* leave room in the ring */
        for (size_t i = 0; i < pre; i++)
            assert_status(lfc_try_send(ch, &v), LFC_OK);
        assert_status(lfc_close(ch), LFC_OK);

        uint64_t w = 99;
        /* At once: without sleeping (no futex wait on this thread). */
        unsigned long waits = my_futex_waits();
        assert_status(lfc_send(ch, &w), LFC_CLOSED);
        assert_status(lfc_try_send(ch, &w), LFC_CLOSED);
        assert_status(lfc_send_until(ch, &w, lfc_now_ns() + 10 * SEC),
                      LFC_CLOSED);
        assert_status(lfc_send_until(ch, &w, LFC_FOREVER), LFC_CLOSED);
        assert_true(my_futex_waits() == waits);
        assert_int_equal(lfc_chan_len(ch), pre);

        uint64_t out = 0;
        for (size_t i = 0; i < pre; i++) {
            assert_status(lfc_try_recv(ch, &out), LFC_OK);
            assert_true(out == 10);
        }
        out = 7;
        assert_status(lfc_try_recv(ch, &out), LFC_CLOSED);
        assert_true(out == 7); /* untouched on LFC_CLOSED */
        lfc_chan_free(ch);
    }
}

/* Which receive call the drain test uses. */
enum recv_flavor { RF_RECV, RF_TRY_RECV, RF_RECV_UNTIL };

static int
recv_flavor(lfc_chan *ch, uint64_t *out, enum recv_flavor f)
{
    switch (f) {
    case RF_RECV:
        return lfc_recv(ch, out);
    case RF_TRY_RECV:
        return lfc_try_recv(ch, out);
    case RF_RECV_UNTIL:
        return lfc_recv_until(ch, out, lfc_now_ns() + 10 * SEC);
    }
    return LFC_EINVAL;
}

static void
test_chan_close_drains_buffered_in_order(void **state)
{
    (void)state;
    static const char *names[] = {"recv", "try_recv", "recv_until"};
    for (int f = RF_RECV; f <= RF_RECV_UNTIL; f++) {
        lfc_chan *ch = lfc_chan_new(8, sizeof(uint64_t));
        assert_non_null(ch);
        for (uint64_t i = 0; i < 5; i++) {
            uint64_t v = 1000 + i;
            assert_status(lfc_send(ch, &v), LFC_OK);
        }
        assert_status(lfc_close(ch), LFC_OK);
        assert_int_equal(lfc_chan_len(ch), 5);
        for (uint64_t i = 0; i < 5; i++) {
            uint64_t out = 0;
            int rc = recv_flavor(ch, &out, (enum recv_flavor)f);
            if (rc != LFC_OK || out != 1000 + i)
                fail_msg("%s after close: value %llu gave %d (%s) out=%llu",
                         names[f], (unsigned long long)i, rc,
                         lfc_strerror(rc), (unsigned long long)out);
            assert_int_equal(lfc_chan_len(ch), 4 - i);
        }
        for (int again = 0; again < 2; again++) {
            uint64_t out = 4242;
            unsigned long waits = my_futex_waits();
            int rc = recv_flavor(ch, &out, (enum recv_flavor)f);
            if (rc != LFC_CLOSED)
                fail_msg("%s on closed+drained gave %d (%s)", names[f], rc,
                         lfc_strerror(rc));
            assert_true(out == 4242);
            assert_true(my_futex_waits() == waits); /* without sleeping */
        }
        lfc_chan_free(ch);
    }
}

static void
test_chan_close_full_channel_drains(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(3, sizeof(uint64_t));
    assert_non_null(ch);
    for (uint64_t i = 0; i < 3; i++)
        assert_status(lfc_try_send(ch, &i), LFC_OK);
    uint64_t x = 77;
    assert_status(lfc_try_send(ch, &x), LFC_AGAIN);
    assert_status(lfc_close(ch), LFC_OK);
    /* Closed is checked before full. */
    assert_status(lfc_try_send(ch, &x), LFC_CLOSED);
    assert_status(lfc_send(ch, &x), LFC_CLOSED);
    assert_status(lfc_send_until(ch, &x, lfc_now_ns() + 10 * SEC),
                  LFC_CLOSED);
    assert_int_equal(lfc_chan_len(ch), 3);
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t out = 99;
        assert_status(lfc_recv(ch, &out), LFC_OK);
        assert_true(out == i);
    }
    uint64_t out = 99;
    assert_status(lfc_recv(ch, &out), LFC_CLOSED);
    assert_status(lfc_try_send(ch, &x), LFC_CLOSED);
    assert_int_equal(lfc_chan_len(ch), 0);
    lfc_chan_free(ch);
}

static void
test_chan_try_recv_closed_empty_closed_not_again(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 16};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out = 5;
        assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
        assert_status(lfc_close(ch), LFC_OK);
        assert_status(lfc_try_recv(ch, &out), LFC_CLOSED);
        assert_status(lfc_try_recv(ch, &out), LFC_CLOSED);
        assert_true(out == 5);
        lfc_chan_free(ch);
    }
    /* Signal-only channel, NULL buffers. */
    lfc_chan *sig = lfc_chan_new(2, 0);
    assert_non_null(sig);
    assert_status(lfc_try_send(sig, NULL), LFC_OK);
    assert_status(lfc_close(sig), LFC_OK);
    assert_status(lfc_try_recv(sig, NULL), LFC_OK);
    assert_status(lfc_try_recv(sig, NULL), LFC_CLOSED);
    lfc_chan_free(sig);
}

/* ------------------------------------------------------------------ */
/* Blocking calls complete when the other side arrives                 */
/* ------------------------------------------------------------------ */

/* A send made once the test thread sleeps in its receive. */
struct late_send {
    lfc_chan *ch;
    uint64_t value;
    int receiver_parked; /* set by the receiver's futex wait (atomic) */
    int saw_parked;      /* the receiver had parked before the send */
    int64_t t_send;      /* lfc_now_ns() just before the send */
};

static int
late_send_call(void *arg)
{
    struct late_send *d = arg;
    /* Bounded: if the receiver never parks (it is broken, or it returned)
     * send anyway, so that it cannot hang; the test then fails. */
    d->saw_parked = lfc_test_wait_flag(&d->receiver_parked, STUCK_NS);
    d->t_send = lfc_now_ns();
    return lfc_send(d->ch, &d->value);
}

static void
test_chan_recv_blocks_until_send(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 4};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        struct late_send d = {.ch = ch, .value = 0x5151 + c};
        struct lfc_test_async s;
        lfc_test_async_start(&s, late_send_call, &d);
        uint64_t out = 0;
        /* The helper sends only once this thread sleeps in the receive.
         * A far deadline instead of lfc_recv, so a lost wake-up fails the
         * test in seconds instead of hanging it. */
        lfc_test_async_note_parked(&d.receiver_parked, NULL, 0);
        int rc = lfc_recv_until(ch, &out, lfc_now_ns() + 2 * STUCK_NS);
        lfc_test_async_note_parked(NULL, NULL, 0);
        int64_t t1 = lfc_now_ns();
        assert_status(lfc_test_async_join(&s, "send to a parked receiver"),
                      LFC_OK);
        assert_status(rc, LFC_OK);
        assert_true(d.saw_parked);
        assert_true(out == 0x5151 + c);
        /* It waited for the send: it cannot return before the send began. */
        assert_true(t1 >= d.t_send);
        assert_int_equal(lfc_chan_len(ch), 0);
        lfc_chan_free(ch);
    }
}

static void
test_chan_send_blocks_while_full_until_recv(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(2, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t a = 1;
    uint64_t b = 2;
    uint64_t c = 3;
    assert_status(lfc_send(ch, &a), LFC_OK);
    assert_status(lfc_send(ch, &b), LFC_OK);
    struct op s;
    /* Full: the send must wait. */
    op_start_parked(&s, ch, OP_SEND, &c, 0, "send on full");
    assert_int_equal(lfc_chan_len(ch), 2);
    uint64_t out = 0;
    assert_status(lfc_recv(ch, &out), LFC_OK);
    assert_true(out == 1);
    assert_status(op_finish(&s, STUCK_NS, "send on full after recv"), LFC_OK);
    assert_int_equal(lfc_chan_len(ch), 2);
    assert_status(lfc_try_recv(ch, &out), LFC_OK);
    assert_true(out == 2);
    assert_status(lfc_try_recv(ch, &out), LFC_OK);
    assert_true(out == 3);
    assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
    lfc_chan_free(ch);
}

static void
test_chan_recv_parked_wakes_on_send(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 64};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out = 0;
        struct op r;
        /* Empty: the receive must wait. */
        op_start_parked(&r, ch, OP_RECV, &out, 0, "recv on empty");
        uint64_t v = 0xC0FFEE;
        assert_status(lfc_send_until(ch, &v, lfc_now_ns() + STUCK_NS),
                      LFC_OK);
        assert_status(op_finish(&r, STUCK_NS, "parked recv"), LFC_OK);
        assert_true(out == 0xC0FFEE);
        lfc_chan_free(ch);
    }
}

#define N_WAITERS 4

static void
test_chan_close_wakes_all_receivers(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 8};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        struct op r[N_WAITERS];
        uint64_t out[N_WAITERS];
        for (int i = 0; i < N_WAITERS; i++) {
            out[i] = 555;
            /* Half block in lfc_recv, half in lfc_recv_until(FOREVER). */
            op_start_parked(&r[i], ch, i % 2 ? OP_RECV_UNTIL : OP_RECV,
                            &out[i], LFC_FOREVER, "recv on empty");
        }
        for (int i = 0; i < N_WAITERS; i++)
            assert_false(op_done(&r[i]));
        assert_status(lfc_close(ch), LFC_OK);
        for (int i = 0; i < N_WAITERS; i++) {
            assert_status(op_finish(&r[i], STUCK_NS, "receiver after close"),
                          LFC_CLOSED);
            assert_true(out[i] == 555);
        }
        lfc_chan_free(ch);
    }
}

static void
test_chan_close_wakes_all_senders_enqueues_nothing(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(2, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t a = 1;
    uint64_t b = 2;
    assert_status(lfc_send(ch, &a), LFC_OK);
    assert_status(lfc_send(ch, &b), LFC_OK);
    struct op s[N_WAITERS];
    uint64_t in[N_WAITERS];
    for (int i = 0; i < N_WAITERS; i++) {
        in[i] = 100 + (uint64_t)i;
        op_start_parked(&s[i], ch, i % 2 ? OP_SEND_UNTIL : OP_SEND, &in[i],
                        LFC_FOREVER, "send on full");
    }
    for (int i = 0; i < N_WAITERS; i++)
        assert_false(op_done(&s[i]));
    assert_status(lfc_close(ch), LFC_OK);
    for (int i = 0; i < N_WAITERS; i++)
        assert_status(op_finish(&s[i], STUCK_NS, "sender after close"),
                      LFC_CLOSED);
    /* Exactly what was buffered before close, then closed. */
    assert_int_equal(lfc_chan_len(ch), 2);
    uint64_t out = 0;
    assert_status(lfc_recv(ch, &out), LFC_OK);
    assert_true(out == 1);
    assert_status(lfc_recv(ch, &out), LFC_OK);
    assert_true(out == 2);
    assert_status(lfc_recv(ch, &out), LFC_CLOSED);
    lfc_chan_free(ch);
}

/* ------------------------------------------------------------------ */
/* Deadlines                                                           */
/* ------------------------------------------------------------------ */

static void
test_chan_recv_until_empty_timedout_not_early(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 16};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out = 31;
        int64_t start = lfc_now_ns();
        int64_t deadline = start + LFC_TEST_SHORT_NS;
        int rc = lfc_recv_until(ch, &out, deadline);
        int64_t end = lfc_now_ns();
        assert_status(rc, LFC_TIMEDOUT);
        if (end < deadline)
            fail_msg("cap %zu: recv_until returned %lld ns before deadline",
                     caps[c], (long long)(deadline - end));
        /* No upper bound: only that it returned (a deadline ignored would
         * hang here; the binary's alarm ends that). */
        assert_true(out == 31);
        /* Still usable, still empty. */
        assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
        assert_int_equal(lfc_chan_len(ch), 0);
        lfc_chan_free(ch);
    }
}

static void
test_chan_send_until_full_timedout_enqueues_nothing(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 3};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        size_t cap = caps[c];
        lfc_chan *ch = lfc_chan_new(cap, sizeof(uint64_t));
        assert_non_null(ch);
        for (uint64_t i = 0; i < cap; i++)
            assert_status(lfc_try_send(ch, &i), LFC_OK);
        uint64_t v = 9999;
        int64_t start = lfc_now_ns();
        int64_t deadline = start + LFC_TEST_SHORT_NS;
        int rc = lfc_send_until(ch, &v, deadline);
        int64_t end = lfc_now_ns();
        assert_status(rc, LFC_TIMEDOUT);
        if (end < deadline)
            fail_msg("cap %zu: send_until returned %lld ns before deadline",
                     cap, (long long)(deadline - end));
        assert_int_equal(lfc_chan_len(ch), cap);
        for (uint64_t i = 0; i < cap; i++) {
            uint64_t out = 0;
            assert_status(lfc_try_recv(ch, &out), LFC_OK);
            assert_true(out == i);
        }
        uint64_t out = 0;
        assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
        assert_status(lfc_close(ch), LFC_OK);
        assert_status(lfc_try_recv(ch, &out), LFC_CLOSED);
        lfc_chan_free(ch);
    }
}

static void
test_chan_until_past_deadline_immediate(void **state)
{
    (void)state;
    const int64_t pasts[] = {lfc_now_ns() - 1, lfc_now_ns() - SEC, 0, -1,
                             INT64_MIN};
    for (size_t p = 0; p < sizeof(pasts) / sizeof(pasts[0]); p++) {
        int64_t dl = pasts[p];
        lfc_chan *ch = lfc_chan_new(2, sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out = 0;
        /* Every call below returns at once: a past deadline is a try. No
         * time bound is asserted (a host may stall); a call that waited
         * for anything would wait forever, and the alarm ends that. */
        /* Empty: nothing to take. */
        assert_status(lfc_recv_until(ch, &out, dl), LFC_TIMEDOUT);
        /* Room: completes at once despite the past deadline. */
        uint64_t v = 41;
        assert_status(lfc_send_until(ch, &v, dl), LFC_OK);
        v = 42;
        assert_status(lfc_send_until(ch, &v, dl), LFC_OK);
        /* Full. */
        v = 43;
        assert_status(lfc_send_until(ch, &v, dl), LFC_TIMEDOUT);
        assert_int_equal(lfc_chan_len(ch), 2);
        /* Ready values are taken at once. */
        assert_status(lfc_recv_until(ch, &out, dl), LFC_OK);
        assert_true(out == 41);
        assert_status(lfc_recv_until(ch, &out, dl), LFC_OK);
        assert_true(out == 42);
        assert_status(lfc_recv_until(ch, &out, dl), LFC_TIMEDOUT);
        lfc_chan_free(ch);

        /* Unbuffered with no partner: both time out at once. */
        lfc_chan *u = lfc_chan_new(0, sizeof(uint64_t));
        assert_non_null(u);
        assert_status(lfc_recv_until(u, &out, dl), LFC_TIMEDOUT);
        assert_status(lfc_send_until(u, &v, dl), LFC_TIMEDOUT);
        assert_status(lfc_try_recv(u, &out), LFC_AGAIN);
        lfc_chan_free(u);
    }
}

static void
test_chan_until_forever_blocks_until_partner(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(1, sizeof(uint64_t));
    assert_non_null(ch);
    /* recv_until(FOREVER) on empty. */
    uint64_t out = 0;
    struct op r;
    op_start_parked(&r, ch, OP_RECV_UNTIL, &out, LFC_FOREVER,
                    "recv_until(FOREVER) on empty");
    uint64_t v = 8;
    assert_status(lfc_send(ch, &v), LFC_OK);
    assert_status(op_finish(&r, STUCK_NS, "recv_until(FOREVER)"), LFC_OK);
    assert_true(out == 8);

    /* send_until(FOREVER) on full. */
    assert_status(lfc_send(ch, &v), LFC_OK);
    uint64_t w = 9;
    struct op s;
    op_start_parked(&s, ch, OP_SEND_UNTIL, &w, LFC_FOREVER,
                    "send_until(FOREVER) on full");
    assert_status(lfc_recv(ch, &out), LFC_OK);
    assert_true(out == 8);
    assert_status(op_finish(&s, STUCK_NS, "send_until(FOREVER)"), LFC_OK);
    assert_status(lfc_recv(ch, &out), LFC_OK);
    assert_true(out == 9);
    lfc_chan_free(ch);
}

static void
test_chan_recv_until_long_deadline_close_gives_closed(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 8};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out = 12;
        struct op r;
        int64_t deadline = lfc_now_ns() + 3 * STUCK_NS;
        op_start_parked(&r, ch, OP_RECV_UNTIL, &out, deadline,
                        "recv_until, far deadline");
        assert_status(lfc_close(ch), LFC_OK);
        assert_status(op_finish(&r, STUCK_NS, "recv_until racing close"),
                      LFC_CLOSED);
        assert_true(r.a.t_end < deadline);
        assert_true(out == 12);
        lfc_chan_free(ch);
    }
}

/* Senders with a long deadline on a full channel get LFC_CLOSED too. */
static void
test_chan_send_until_long_deadline_close_gives_closed(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t v = 1;
        if (caps[c])
            assert_status(lfc_try_send(ch, &v), LFC_OK);
        uint64_t w = 2;
        struct op s;
        int64_t deadline = lfc_now_ns() + 3 * STUCK_NS;
        op_start_parked(&s, ch, OP_SEND_UNTIL, &w, deadline,
                        "send_until, far deadline");
        assert_status(lfc_close(ch), LFC_OK);
        assert_status(op_finish(&s, STUCK_NS, "send_until racing close"),
                      LFC_CLOSED);
        uint64_t out = 0;
        if (caps[c]) {
            assert_status(lfc_try_recv(ch, &out), LFC_OK);
            assert_true(out == 1);
        }
        assert_status(lfc_try_recv(ch, &out), LFC_CLOSED);
        lfc_chan_free(ch);
    }
}

/*
 * close racing a receiver at random points: with a far deadline the result
 * is always LFC_CLOSED; with a deadline near the close it is LFC_CLOSED or
 * LFC_TIMEDOUT, and LFC_TIMEDOUT never before the deadline.
 */
static void
test_chan_close_races_recv_until(void **state)
{
    (void)state;
    long iters = lfc_test_scaled(200, 20);
    unsigned seed = 12345;
    for (long it = 0; it < iters; it++) {
        lfc_chan *ch = lfc_chan_new((size_t)(it % 3), sizeof(uint64_t));
        assert_non_null(ch);
        bool near = it % 2;
        int64_t deadline =
            lfc_now_ns() + (near ? 200 * 1000 : 3 * STUCK_NS);
        uint64_t out = 3;
        struct op r;
        op_start(&r, ch, OP_RECV_UNTIL, &out, deadline);
        seed = seed * 1103515245u + 12345u;
        int64_t spin_until = lfc_now_ns() + (int64_t)((seed >> 8) % 400000);
        while (lfc_now_ns() < spin_until) {
        }
        assert_status(lfc_close(ch), LFC_OK);
        int rc = op_finish(&r, STUCK_NS, "recv_until racing close");
        if (near) {
            if (rc != LFC_CLOSED && rc != LFC_TIMEDOUT)
                fail_msg("iteration %ld: got %d (%s)", it, rc,
                         lfc_strerror(rc));
            if (rc == LFC_TIMEDOUT && r.a.t_end < deadline)
                fail_msg("iteration %ld: TIMEDOUT %lld ns early", it,
                         (long long)(deadline - r.a.t_end));
        } else if (rc != LFC_CLOSED) {
            fail_msg("iteration %ld (cap %ld): got %d (%s), want LFC_CLOSED",
                     it, it % 3, rc, lfc_strerror(rc));
        }
        assert_true(out == 3);
        lfc_chan_free(ch);
    }
}

/* ------------------------------------------------------------------ */
/* Unbuffered (rendezvous) channels                                    */
/* ------------------------------------------------------------------ */

static void
test_chan_unbuffered_send_waits_for_receiver(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t v = 0xFEED;
    struct op s;
    op_start_parked(&s, ch, OP_SEND, &v, 0, "unbuffered send");
    /* No receiver yet: the send must not have returned or buffered. */
    assert_int_equal(lfc_chan_len(ch), 0);
    assert_int_equal(lfc_chan_cap(ch), 0);
    /* It stays so (time for a wrong return to show). */
    sleep_ns(LFC_TEST_SETTLE_NS);
    assert_false(op_done(&s));
    uint64_t out = 0;
    assert_status(lfc_recv_until(ch, &out, lfc_now_ns() + STUCK_NS), LFC_OK);
    assert_true(out == 0xFEED);
    assert_status(op_finish(&s, STUCK_NS, "unbuffered send"), LFC_OK);
    assert_int_equal(lfc_chan_len(ch), 0);
    lfc_chan_free(ch);
}

static void
test_chan_unbuffered_try_calls_again_without_partner(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t v = 5;
    uint64_t out = 6;
    for (int i = 0; i < 100; i++) {
        assert_status(lfc_try_send(ch, &v), LFC_AGAIN);
        assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
    }
    assert_true(out == 6);
    assert_int_equal(lfc_chan_len(ch), 0);
    /* A failed try_send left nothing behind for a later receiver. */
    assert_status(lfc_recv_until(ch, &out, lfc_now_ns() + LFC_TEST_SHORT_NS),
                  LFC_TIMEDOUT);
    assert_true(out == 6);
    lfc_chan_free(ch);
}

static void
test_chan_unbuffered_try_recv_takes_parked_sender(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t v = 0xABC;
    struct op s;
    op_start_parked(&s, ch, OP_SEND, &v, 0, "unbuffered send");
    assert_int_equal(lfc_chan_len(ch), 0);
    /* Parked, it has offered its value: try_recv takes it at once. */
    uint64_t out = 0;
    assert_status(lfc_try_recv(ch, &out), LFC_OK);
    assert_true(out == 0xABC);
    assert_status(op_finish(&s, STUCK_NS, "parked unbuffered send"), LFC_OK);
    assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
    lfc_chan_free(ch);
}

static void
test_chan_unbuffered_try_send_hands_to_parked_receiver(void **state)
{
    (void)state;
    static const enum op_kind kinds[] = {OP_RECV, OP_RECV_UNTIL};
    for (size_t k = 0; k < 2; k++) {
        lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out = 0;
        struct op r;
        op_start_parked(&r, ch, kinds[k], &out, LFC_FOREVER,
                        "unbuffered recv");
        /* Parked, it is counted as a waiting receiver: try_send hands the
         * value over at once. */
        uint64_t v = 0xD00D + k;
        assert_status(lfc_try_send(ch, &v), LFC_OK);
        assert_status(op_finish(&r, STUCK_NS, "parked unbuffered recv"),
                      LFC_OK);
        assert_true(out == 0xD00D + k);
        /* Exactly one handoff. */
        assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
        assert_status(lfc_try_send(ch, &v), LFC_AGAIN);
        lfc_chan_free(ch);
    }
}

static void
test_chan_unbuffered_send_until_timedout_value_dropped(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t stale = 111;
    int64_t deadline = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_send_until(ch, &stale, deadline), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= deadline);

    /* Nobody may see the timed-out value. */
    uint64_t out = 0;
    assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
    assert_status(lfc_recv_until(ch, &out, lfc_now_ns() + LFC_TEST_SHORT_NS),
                  LFC_TIMEDOUT);
    assert_true(out == 0);

    /* A later receiver gets the later value only. */
    struct op r;
    op_start_parked(&r, ch, OP_RECV_UNTIL, &out, lfc_now_ns() + 2 * STUCK_NS,
                    "receiver after timed-out send");
    uint64_t fresh = 222;
    assert_status(lfc_send_until(ch, &fresh, lfc_now_ns() + STUCK_NS),
                  LFC_OK);
    assert_status(op_finish(&r, STUCK_NS, "receiver after timed-out send"),
                  LFC_OK);
    assert_true(out == 222);
    assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
    lfc_chan_free(ch);
}

static void
test_chan_unbuffered_close_wakes_sender_closed(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t v[2] = {1, 2};
    struct op s[2];
    op_start_parked(&s[0], ch, OP_SEND, &v[0], 0, "unbuffered send");
    op_start_parked(&s[1], ch, OP_SEND_UNTIL, &v[1],
                    lfc_now_ns() + 3 * STUCK_NS, "unbuffered send_until");
    assert_false(op_done(&s[0]));
    assert_int_equal(lfc_chan_len(ch), 0);
    assert_status(lfc_close(ch), LFC_OK);
    /* No receiver ever came, so neither value was taken. */
    assert_status(op_finish(&s[0], STUCK_NS, "unbuffered send after close"),
                  LFC_CLOSED);
    assert_status(
        op_finish(&s[1], STUCK_NS, "unbuffered send_until after close"),
        LFC_CLOSED);
    uint64_t out = 0;
    assert_status(lfc_try_recv(ch, &out), LFC_CLOSED);
    assert_status(lfc_recv(ch, &out), LFC_CLOSED);
    assert_true(out == 0);
    lfc_chan_free(ch);
}

static void
test_chan_unbuffered_close_wakes_receiver_closed(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t out[2] = {7, 7};
    struct op r[2];
    op_start_parked(&r[0], ch, OP_RECV, &out[0], 0, "unbuffered recv");
    op_start_parked(&r[1], ch, OP_RECV_UNTIL, &out[1],
                    lfc_now_ns() + 3 * STUCK_NS, "unbuffered recv_until");
    assert_false(op_done(&r[0]));
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(op_finish(&r[0], STUCK_NS, "unbuffered recv after close"),
                  LFC_CLOSED);
    assert_status(
        op_finish(&r[1], STUCK_NS, "unbuffered recv_until after close"),
        LFC_CLOSED);
    assert_true(out[0] == 7 && out[1] == 7);
    uint64_t v = 1;
    assert_status(lfc_try_send(ch, &v), LFC_CLOSED);
    assert_status(lfc_send(ch, &v), LFC_CLOSED);
    lfc_chan_free(ch);
}

/* ------------------------------------------------------------------ */
/* Spin policy                                                         */
/* ------------------------------------------------------------------ */

static int
restore_adaptive_spin(void **state)
{
    (void)state;
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    return 0;
}

static void
test_chan_spin_limit_roundtrip(void **state)
{
    (void)state;
    lfc_spin_set_limit(0);
    assert_int_equal(lfc_spin_limit(), 0);
    lfc_spin_set_limit(100);
    assert_int_equal(lfc_spin_limit(), 100);
    lfc_spin_set_limit(1);
    assert_int_equal(lfc_spin_limit(), 1);
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    assert_true(lfc_spin_limit() == LFC_SPIN_ADAPTIVE);
    lfc_spin_set_limit(100000);
    assert_int_equal(lfc_spin_limit(), 100000);
    /* Any negative value means adaptive, and reads back as such. */
    lfc_spin_set_limit(-5);
    assert_true(lfc_spin_limit() == LFC_SPIN_ADAPTIVE);
    lfc_spin_set_limit(INT_MIN);
    assert_true(lfc_spin_limit() == LFC_SPIN_ADAPTIVE);
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    assert_true(lfc_spin_limit() == LFC_SPIN_ADAPTIVE);
}

struct pong {
    lfc_chan *ping;
    lfc_chan *pong;
    long rounds;
    unsigned long *progress;
    long bad;   /* first wrong round + 1, or 0 */
    int rc;     /* first non-OK status */
};

static void *
pong_main(void *arg)
{
    struct pong *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        uint64_t v = 0;
        int rc = lfc_recv(p->ping, &v);
        if (rc != LFC_OK) {
            p->rc = rc;
            return NULL;
        }
        if (v != (uint64_t)i * 2 && !p->bad)
            p->bad = i + 1;
        v++;
        rc = lfc_send(p->pong, &v);
        if (rc != LFC_OK) {
            p->rc = rc;
            return NULL;
        }
        lfc_progress_bump(p->progress);
    }
    return NULL;
}

/* Two threads bounce values; every wait parks when the spin limit is 0. */
static void
pingpong(size_t cap, long rounds, const char *what)
{
    lfc_chan *ping = lfc_chan_new(cap, sizeof(uint64_t));
    lfc_chan *pong = lfc_chan_new(cap, sizeof(uint64_t));
    assert_non_null(ping);
    assert_non_null(pong);
    unsigned long progress = 0;
    struct lfc_watchdog wd;
    lfc_watchdog_start(&wd, what, &progress, 0);
    struct pong p = {ping, pong, rounds, &progress, 0, LFC_OK};
    pthread_t t;
    if (pthread_create(&t, NULL, pong_main, &p) != 0)
        abort(); /* not an assertion: the watchdog is running */
    long bad = 0;
    int rc = LFC_OK;
    for (long i = 0; i < rounds && rc == LFC_OK; i++) {
        uint64_t v = (uint64_t)i * 2;
        rc = lfc_send(ping, &v);
        if (rc != LFC_OK)
            break;
        rc = lfc_recv(pong, &v);
        if (rc == LFC_OK && v != (uint64_t)i * 2 + 1 && !bad)
            bad = i + 1;
        lfc_progress_bump(&progress);
    }
    pthread_join(t, NULL);
    lfc_watchdog_stop(&wd);
    assert_status(rc, LFC_OK);
    assert_status(p.rc, LFC_OK);
    if (bad || p.bad)
        fail_msg("%s: wrong value at round %ld (main) / %ld (partner)", what,
                 bad - 1, p.bad - 1);
    assert_int_equal(progress, 2 * (unsigned long)rounds);
    lfc_chan_free(ping);
    lfc_chan_free(pong);
}

static void
test_chan_spin_zero_pingpong_handoff(void **state)
{
    (void)state;
    lfc_spin_set_limit(0);
    assert_int_equal(lfc_spin_limit(), 0);
    pingpong(1, 1000, "ping-pong cap 1, spin 0");
    pingpong(0, lfc_test_scaled(300, 50), "ping-pong cap 0, spin 0");
    lfc_spin_set_limit(100);
    pingpong(1, 1000, "ping-pong cap 1, spin 100");
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    pingpong(1, 1000, "ping-pong cap 1, adaptive");
    assert_true(lfc_spin_limit() == LFC_SPIN_ADAPTIVE);
}

/* ------------------------------------------------------------------ */
/* SPSC FIFO, MPMC conservation, happens-before                        */
/* ------------------------------------------------------------------ */

struct producer {
    lfc_chan *ch;
    lfc_test_barrier *start;
    uint64_t id;       /* high 32 bits of each value */
    uint64_t n;        /* values to send */
    uint64_t sent;     /* values sent with LFC_OK */
    int rc;            /* first non-OK status */
    bool close_after;  /* close the channel when done (single producer) */
};

static void *
producer_main(void *arg)
{
    struct producer *p = arg;
    lfc_test_barrier_wait(p->start);
    for (uint64_t i = 0; i < p->n; i++) {
        uint64_t v = (p->id << 32) | i;
        int rc = lfc_send(p->ch, &v);
        if (rc != LFC_OK) {
            p->rc = rc;
            break;
        }
        p->sent++;
    }
    if (p->close_after)
        lfc_close(p->ch);
    return NULL;
}

static void
spsc_fifo(size_t cap)
{
    uint64_t n = (uint64_t)lfc_test_scaled(100000, 2000);
    lfc_chan *ch = lfc_chan_new(cap, sizeof(uint64_t));
    assert_non_null(ch);
    lfc_test_barrier start;
    lfc_test_barrier_init(&start, 2);
    unsigned long progress = 0;
    struct lfc_watchdog wd;
    lfc_watchdog_start(&wd, cap == 1 ? "spsc cap 1" : "spsc cap 64",
                       &progress, 0);
    struct producer p = {ch, &start, 0, n, 0, LFC_OK, true};
    pthread_t t;
    if (pthread_create(&t, NULL, producer_main, &p) != 0)
        abort(); /* not an assertion: the watchdog is running */
    lfc_test_barrier_wait(&start);
    uint64_t expect = 0;
    uint64_t first_bad = UINT64_MAX;
    uint64_t bad_val = 0;
    int rc;
    for (;;) {
        uint64_t v;
        rc = lfc_recv(ch, &v);
        if (rc != LFC_OK)
            break;
        if (v != expect && first_bad == UINT64_MAX) {
            first_bad = expect;
            bad_val = v;
        }
        expect++;
        lfc_progress_bump(&progress);
    }
    pthread_join(t, NULL);
    lfc_watchdog_stop(&wd);
    lfc_test_barrier_destroy(&start);
    assert_status(rc, LFC_CLOSED);
    assert_status(p.rc, LFC_OK);
    if (first_bad != UINT64_MAX)
        fail_msg("cap %zu: receive #%llu gave %llu", cap,
                 (unsigned long long)first_bad, (unsigned long long)bad_val);
    assert_true(p.sent == n);
    assert_true(expect == n);
    lfc_chan_free(ch);
}

static void
test_chan_spsc_fifo_cap1(void **state)
{
    (void)state;
    spsc_fifo(1);
}

static void
test_chan_spsc_fifo_cap64(void **state)
{
    (void)state;
    spsc_fifo(64);
}

#define MP_PRODUCERS 2
#define MP_CONSUMERS 2

struct consumer {
    lfc_chan *ch;
    lfc_test_barrier *start;
    uint8_t *seen;               /* per value receive counts (atomic) */
    uint64_t per_producer;       /* values each producer sends */
    unsigned long *progress;
    uint64_t got;
    uint64_t order_errors;       /* a producer's values out of order */
    uint64_t range_errors;       /* values no producer sent */
    int rc;                      /* the status that ended the loop */
};

static void *
consumer_main(void *arg)
{
    struct consumer *c = arg;
    int64_t last[MP_PRODUCERS];
    for (int i = 0; i < MP_PRODUCERS; i++)
        last[i] = -1;
    lfc_test_barrier_wait(c->start);
    for (;;) {
        uint64_t v;
        int rc = lfc_recv(c->ch, &v);
        if (rc != LFC_OK) {
            c->rc = rc;
            break;
        }
        uint64_t id = v >> 32;
        uint64_t seq = v & 0xffffffffu;
        if (id >= MP_PRODUCERS || seq >= c->per_producer) {
            c->range_errors++;
            continue;
        }
        /* One producer's values reach any one consumer in send order. */
        if ((int64_t)seq <= last[id])
            c->order_errors++;
        last[id] = (int64_t)seq;
        __atomic_fetch_add(&c->seen[id * c->per_producer + seq], 1,
                           __ATOMIC_RELAXED);
        c->got++;
        lfc_progress_bump(c->progress);
    }
    return NULL;
}

static void
mpmc_conservation(size_t cap, uint64_t per_producer, const char *what)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(uint64_t));
    assert_non_null(ch);
    uint8_t *seen = calloc(MP_PRODUCERS * per_producer, 1);
    assert_non_null(seen);
    lfc_test_barrier start;
    lfc_test_barrier_init(&start, MP_PRODUCERS + MP_CONSUMERS + 1);
    unsigned long progress = 0;
    struct lfc_watchdog wd;
    lfc_watchdog_start(&wd, what, &progress, 0);
    struct producer p[MP_PRODUCERS];
    struct consumer c[MP_CONSUMERS];
    pthread_t pt[MP_PRODUCERS];
    pthread_t ct[MP_CONSUMERS];
    for (int i = 0; i < MP_PRODUCERS; i++) {
        p[i] = (struct producer){ch, &start, (uint64_t)i, per_producer,
                                 0, LFC_OK, false};
        if (pthread_create(&pt[i], NULL, producer_main, &p[i]) != 0)
            abort(); /* not an assertion: the watchdog is running */
    }
    for (int i = 0; i < MP_CONSUMERS; i++) {
        c[i] = (struct consumer){ch, &start, seen, per_producer, &progress,
                                 0, 0, 0, LFC_OK};
        if (pthread_create(&ct[i], NULL, consumer_main, &c[i]) != 0)
            abort();
    }
    lfc_test_barrier_wait(&start);
    for (int i = 0; i < MP_PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    int crc = lfc_close(ch);
    for (int i = 0; i < MP_CONSUMERS; i++)
        pthread_join(ct[i], NULL);
    lfc_watchdog_stop(&wd);
    assert_status(crc, LFC_OK);
    lfc_test_barrier_destroy(&start);

    uint64_t total = 0;
    for (int i = 0; i < MP_PRODUCERS; i++) {
        assert_status(p[i].rc, LFC_OK);
        assert_true(p[i].sent == per_producer);
    }
    for (int i = 0; i < MP_CONSUMERS; i++) {
        assert_status(c[i].rc, LFC_CLOSED);
        if (c[i].order_errors || c[i].range_errors)
            fail_msg("%s: consumer %d saw %llu out-of-order and %llu "
                     "unknown values",
                     what, i, (unsigned long long)c[i].order_errors,
                     (unsigned long long)c[i].range_errors);
        total += c[i].got;
    }
    for (uint64_t k = 0; k < MP_PRODUCERS * per_producer; k++)
        if (seen[k] != 1)
            fail_msg("%s: value (producer %llu, seq %llu) received %u times",
                     what, (unsigned long long)(k / per_producer),
                     (unsigned long long)(k % per_producer), seen[k]);
    assert_true(total == MP_PRODUCERS * per_producer);
    free(seen);
    lfc_chan_free(ch);
}

static void
test_chan_mpmc_every_value_once(void **state)
{
    (void)state;
    mpmc_conservation(8, (uint64_t)lfc_test_scaled(20000, 1000),
                      "mpmc cap 8");
    mpmc_conservation(1, (uint64_t)lfc_test_scaled(5000, 500),
                      "mpmc cap 1");
    mpmc_conservation(0, (uint64_t)lfc_test_scaled(3000, 300),
                      "mpmc cap 0");
}

/*
 * close racing blocked and running senders: every send that returned LFC_OK
 * is received exactly once, and nothing else is.
 */
struct close_race_sender {
    lfc_chan *ch;
    lfc_test_barrier *start;
    uint64_t id;
    uint64_t ok;        /* sends that returned LFC_OK */
    int last_rc;        /* the status that ended the loop */
    int after_rc;       /* one more send after that */
};

static void *
close_race_sender_main(void *arg)
{
    struct close_race_sender *s = arg;
    lfc_test_barrier_wait(s->start);
    for (uint64_t i = 0;; i++) {
        uint64_t v = (s->id << 32) | i;
        int rc = (i % 3 == 2) ? lfc_send_until(s->ch, &v, LFC_FOREVER)
                              : lfc_send(s->ch, &v);
        if (rc != LFC_OK) {
            s->last_rc = rc;
            break;
        }
        s->ok++;
    }
    uint64_t v = UINT64_MAX;
    s->after_rc = lfc_send(s->ch, &v);
    return NULL;
}

struct close_race_recv {
    lfc_chan *ch;
    unsigned long *progress;
    uint64_t next[2];   /* next expected sequence per sender */
    uint64_t errors;
    uint64_t got;
    int rc;
};

static void *
close_race_recv_main(void *arg)
{
    struct close_race_recv *r = arg;
    for (;;) {
        uint64_t v;
        int rc = lfc_recv(r->ch, &v);
        if (rc != LFC_OK) {
            r->rc = rc;
            break;
        }
        uint64_t id = v >> 32;
        if (id > 1 || (v & 0xffffffffu) != r->next[id]) {
            r->errors++;
        } else {
            r->next[id]++;
        }
        r->got++;
        lfc_progress_bump(r->progress);
        /* Slow down now and then so senders also block on a full ring. */
        if ((r->got & 255) == 0)
            sleep_ns(100 * 1000);
    }
    return NULL;
}

static void
test_chan_close_races_senders_conserves(void **state)
{
    (void)state;
    long iters = lfc_test_scaled(20, 4);
    static const size_t caps[] = {0, 1, 16};
    unsigned long progress = 0;
    char err[256] = "";
    struct lfc_watchdog wd;
    /* No cmocka assertion runs while the watchdog does: a failure is
     * recorded in err, and reported after the watchdog has stopped. */
    lfc_watchdog_start(&wd, "close racing senders", &progress, 0);
    for (long it = 0; it < iters && !err[0]; it++) {
        size_t cap = caps[it % 3];
        lfc_progress_bump(&progress);
        lfc_chan *ch = lfc_chan_new(cap, sizeof(uint64_t));
        if (ch == NULL) {
            snprintf(err, sizeof(err), "lfc_chan_new failed");
            break;
        }
        lfc_test_barrier start;
        lfc_test_barrier_init(&start, 3);
        struct close_race_sender s[2];
        pthread_t st[2];
        for (int i = 0; i < 2; i++) {
            s[i] = (struct close_race_sender){ch, &start, (uint64_t)i, 0,
                                              LFC_OK, LFC_OK};
            if (pthread_create(&st[i], NULL, close_race_sender_main, &s[i]))
                abort();
        }
        struct close_race_recv r;
        memset(&r, 0, sizeof(r));
        r.ch = ch;
        r.progress = &progress;
        pthread_t rt;
        if (pthread_create(&rt, NULL, close_race_recv_main, &r))
            abort();
        lfc_test_barrier_wait(&start);
        sleep_ns((int64_t)(1 + it % 5) * MS);
        int crc = lfc_close(ch);
        for (int i = 0; i < 2; i++)
            pthread_join(st[i], NULL);
        pthread_join(rt, NULL);
        lfc_test_barrier_destroy(&start);
        lfc_progress_bump(&progress);
        if (crc != LFC_OK)
            snprintf(err, sizeof(err), "cap %zu: lfc_close gave %d", cap,
                     crc);
        for (int i = 0; i < 2 && !err[0]; i++)
            if (s[i].last_rc != LFC_CLOSED || s[i].after_rc != LFC_CLOSED)
                snprintf(err, sizeof(err),
                         "cap %zu: sender %d ended with %d (%s), then %d "
                         "(%s); want LFC_CLOSED twice",
                         cap, i, s[i].last_rc, lfc_strerror(s[i].last_rc),
                         s[i].after_rc, lfc_strerror(s[i].after_rc));
        if (!err[0] && r.rc != LFC_CLOSED)
            snprintf(err, sizeof(err), "cap %zu: receiver ended with %d (%s)",
                     cap, r.rc, lfc_strerror(r.rc));
        if (!err[0] && r.errors)
            snprintf(err, sizeof(err),
                     "cap %zu: %llu values out of order or duplicated", cap,
                     (unsigned long long)r.errors);
        for (int i = 0; i < 2 && !err[0]; i++)
            if (r.next[i] != s[i].ok)
                snprintf(err, sizeof(err),
                         "cap %zu: sender %d had %llu sends return LFC_OK "
                         "but %llu were received",
                         cap, i, (unsigned long long)s[i].ok,
                         (unsigned long long)r.next[i]);
        lfc_chan_free(ch);
    }
    lfc_watchdog_stop(&wd);
    if (err[0])
        fail_msg("%s", err);
}

/*
 * A send that returns LFC_OK happens-before the receive of its value: the
 * receiver reads plain (non-atomic) memory the sender wrote before sending.
 * ThreadSanitizer reports a race here if the channel does not order it.
 */
struct hb_msg {
    uint64_t seq;
    uint64_t words[7];
};

struct hb_producer {
    lfc_chan *ch;
    uint64_t n;
    int rc;
};

static void *
hb_producer_main(void *arg)
{
    struct hb_producer *p = arg;
    for (uint64_t i = 0; i < p->n; i++) {
        struct hb_msg *m = malloc(sizeof(*m));
        if (m == NULL)
            abort();
        m->seq = i;
        for (int k = 0; k < 7; k++)
            m->words[k] = i * 7 + (uint64_t)k;
        int rc = lfc_send(p->ch, &m);
        if (rc != LFC_OK) {
            free(m);
            p->rc = rc;
            break;
        }
    }
    lfc_close(p->ch);
    return NULL;
}

static void
test_chan_send_happens_before_recv(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 4};
    for (size_t c = 0; c < 2; c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], sizeof(struct hb_msg *));
        assert_non_null(ch);
        struct hb_producer p = {ch, (uint64_t)lfc_test_scaled(5000, 500),
                                LFC_OK};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, hb_producer_main, &p), 0);
        uint64_t got = 0;
        uint64_t bad = 0;
        struct hb_msg *m;
        int rc;
        while ((rc = lfc_recv_until(ch, &m, lfc_now_ns() + STUCK_NS)) ==
               LFC_OK) {
            if (m->seq != got)
                bad++;
            for (int k = 0; k < 7; k++)
                if (m->words[k] != m->seq * 7 + (uint64_t)k)
                    bad++;
            free(m);
            got++;
        }
        if (rc != LFC_CLOSED)
            lfc_close(ch); /* unblock the producer so it can be joined */
        pthread_join(t, NULL);
        assert_status(rc, LFC_CLOSED);
        assert_status(p.rc, LFC_OK);
        assert_true(got == p.n);
        assert_true(bad == 0);
        lfc_chan_free(ch);
    }
}

/* ------------------------------------------------------------------ */
/* Wake-ups around a send whose copy is slow                           */
/* ------------------------------------------------------------------ */

/*
 * Values of 16 MiB make a send's copy into its slot take milliseconds (the
 * slot's pages are first touched then), which opens the window between a
 * sender claiming its slot and publishing it wide enough to hit from a test.
 */
#define BIG_ELEM ((size_t)16 << 20)
#define N_BIG_RECV 3

/* How many of o[0..n) hold `want` as their status. */
static int
count_status(const struct op *o, int n, int want)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += o[i].a.rc == want;
    return k;
}

/*
 * close lands while a send into a buffered channel is claimed but not yet
 * published, with several receivers parked. The header: every blocked
 * receiver wakes, drains what is left (the one value, if its send returns
 * LFC_OK) and then returns LFC_CLOSED. None may stay parked.
 */
static void
test_chan_close_during_slow_send_wakes_all_receivers(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 0};
    for (size_t c = 0; c < 2; c++) {
        lfc_chan *ch = lfc_chan_new(caps[c], BIG_ELEM);
        assert_non_null(ch);
        uint8_t *src = malloc(BIG_ELEM);
        uint8_t *out = malloc(N_BIG_RECV * BIG_ELEM);
        assert_non_null(src);
        assert_non_null(out);
        memset(src, 0x5A, BIG_ELEM);
        memset(out, 0, N_BIG_RECV * BIG_ELEM);
        /* On the heap: a receiver left parked by a failure keeps it. */
        struct op *r = calloc(N_BIG_RECV, sizeof(*r));
        assert_non_null(r);
        for (int i = 0; i < N_BIG_RECV; i++)
            op_start_parked(&r[i], ch, OP_RECV, out + (size_t)i * BIG_ELEM, 0,
                            "receiver before the slow send");
        struct op s;
        op_start(&s, ch, OP_SEND, src, 0);
        /* Aim the close at the copy (no condition marks "claimed, still
         * copying"): the checks below hold wherever it lands, before the
         * claim, during the copy or after the publication. */
        sleep_ns(MS / 2);
        assert_status(lfc_close(ch), LFC_OK);
        int src_rc = op_finish(&s, STUCK_NS, "slow send racing close");
        /* Receivers still parked now are parked on a closed channel. */
        int64_t end = lfc_now_ns() + STUCK_NS;
        int stuck = 0;
        for (int i = 0; i < N_BIG_RECV; i++)
            if (!lfc_test_async_wait_done(&r[i].a, end - lfc_now_ns()))
                stuck++;
        if (stuck) {
            /* Nothing in the API can wake them now: leave them (and r,
             * out and ch, which they use) behind and report. */
            fail_msg("cap %zu: send returned %d (%s); %d of %d receivers "
                     "still parked %lld ms after close (lost wake-up; "
                     "threads left behind)",
                     caps[c], src_rc, lfc_strerror(src_rc), stuck,
                     N_BIG_RECV, (long long)(STUCK_NS / MS));
        }
        for (int i = 0; i < N_BIG_RECV; i++)
            op_finish(&r[i], STUCK_NS, "receiver after close");
        if (src_rc != LFC_OK && src_rc != LFC_CLOSED)
            fail_msg("send racing close gave %d (%s)", src_rc,
                     lfc_strerror(src_rc));
        int oks = count_status(r, N_BIG_RECV, LFC_OK);
        int closed = count_status(r, N_BIG_RECV, LFC_CLOSED);
        assert_int_equal(oks + closed, N_BIG_RECV);
        /* A send that returned LFC_OK is received exactly once. */
        assert_int_equal(oks, src_rc == LFC_OK ? 1 : 0);
        for (int i = 0; i < N_BIG_RECV; i++) {
            if (r[i].a.rc != LFC_OK)
                continue;
            const uint8_t *o = out + (size_t)i * BIG_ELEM;
            for (size_t j = 0; j < BIG_ELEM; j += 4093)
                assert_int_equal(o[j], 0x5A);
            assert_int_equal(o[BIG_ELEM - 1], 0x5A);
        }
        assert_status(lfc_try_recv(ch, out), LFC_CLOSED);
        free(r);
        free(out);
        free(src);
        lfc_chan_free(ch);
    }
}

/*
 * Two sends into a buffered channel publish out of order: the first to
 * claim a slot (slow: fresh pages) publishes after the second (fast). Two
 * receivers are parked. Once both sends have returned LFC_OK, both values
 * are in the channel, so both receivers must get one; neither may stay
 * parked waiting for a wake-up that was spent on the unpublished slot.
 */
static void
test_chan_out_of_order_publish_wakes_both_receivers(void **state)
{
    (void)state;
    long iters = lfc_test_scaled(4, 2);
    for (long it = 0; it < iters; it++) {
        lfc_chan *ch = lfc_chan_new(2, BIG_ELEM);
        assert_non_null(ch);
        uint8_t *a = malloc(BIG_ELEM);
        uint8_t *b = malloc(BIG_ELEM);
        uint8_t *out = malloc(2 * BIG_ELEM);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(out);
        memset(a, 0xA1, BIG_ELEM);
        memset(b, 0xB2, BIG_ELEM);
        /* Touch slot 0 through one round trip; slot 1 stays fresh. */
        assert_status(lfc_try_send(ch, b), LFC_OK);
        assert_status(lfc_try_recv(ch, out), LFC_OK);
        memset(out, 0, 2 * BIG_ELEM);

        struct op r[2];
        op_start_parked(&r[0], ch, OP_RECV, out, 0, "first receiver");
        op_start_parked(&r[1], ch, OP_RECV, out + BIG_ELEM, 0,
                        "second receiver");
        struct op s1;
        struct op s2;
        op_start(&s1, ch, OP_SEND, a, 0); /* slot 1: fresh pages, slow */
        /* Let s1 claim its slot first (no condition marks the claim): if
         * it has not, the sends publish in order, and the checks below
         * hold all the same. */
        sleep_ns(200 * 1000);
        op_start(&s2, ch, OP_SEND, b, 0); /* slot 0: warm, fast */
        int rc1 = op_finish(&s1, STUCK_NS, "first (slow) send");
        int rc2 = op_finish(&s2, STUCK_NS, "second (fast) send");
        assert_status(rc1, LFC_OK);
        assert_status(rc2, LFC_OK);
        bool s2_first = s2.a.t_end < s1.a.t_end;
        int64_t end = lfc_now_ns() + STUCK_NS;
        int stuck = 0;
        for (int i = 0; i < 2; i++)
            if (!lfc_test_async_wait_done(&r[i].a, end - lfc_now_ns()))
                stuck++;
        if (stuck) {
            size_t len = lfc_chan_len(ch);
            /* Closing lets the receivers drain and leave. */
            lfc_close(ch);
            for (int i = 0; i < 2; i++)
                lfc_test_async_join(&r[i].a, "receiver after close");
            fail_msg("iteration %ld: both sends returned LFC_OK (%s "
                     "publishing first) but %d receiver(s) stayed parked "
                     "%lld ms with %zu value(s) buffered (lost wake-up)",
                     it, s2_first ? "the second" : "the first", stuck,
                     (long long)(STUCK_NS / MS), len);
        }
        for (int i = 0; i < 2; i++)
            assert_status(op_finish(&r[i], STUCK_NS, "receiver"), LFC_OK);
        /* One receiver got each value. */
        uint8_t x = out[0];
        uint8_t y = out[BIG_ELEM];
        assert_true((x == 0xA1 && y == 0xB2) || (x == 0xB2 && y == 0xA1));
        assert_int_equal(out[BIG_ELEM - 1], x);
        assert_int_equal(out[2 * BIG_ELEM - 1], y);
        assert_int_equal(lfc_chan_len(ch), 0);
        free(out);
        free(b);
        free(a);
        lfc_chan_free(ch);
    }
}

/* ------------------------------------------------------------------ */
/* A parked receiver uses (almost) no CPU                              */
/* ------------------------------------------------------------------ */

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

static void
test_chan_parked_receiver_uses_no_cpu(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 0};
    for (size_t k = 0; k < 2; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out = 0;
        struct op r;
        op_start_parked(&r, ch, OP_RECV, &out, 0, "recv on empty");
        /* From the moment it sleeps in the futex, a parked receiver runs
         * only if woken: over a second it uses next to no CPU, while a
         * spinning one would use a good part of a CPU even on a loaded
         * host. Measured from outside, so the spin before parking (long
         * under a sanitizer) does not count. */
        int64_t before = thread_cpu_ns(r.a.thread);
        sleep_ns(SEC);
        int64_t after = thread_cpu_ns(r.a.thread);
        assert_false(op_done(&r));
        uint64_t v = 0x1234;
        assert_status(lfc_send_until(ch, &v, lfc_now_ns() + STUCK_NS),
                      LFC_OK);
        assert_status(op_finish(&r, STUCK_NS, "parked recv"), LFC_OK);
        assert_true(out == 0x1234);
        assert_true(before >= 0 && after >= before);
        if (after - before >= 200 * MS)
            fail_msg("cap %zu: receiver parked for 1 s used %lld ms of CPU "
                     "(spinning instead of sleeping?)",
                     caps[k], (long long)((after - before) / MS));
        lfc_chan_free(ch);
    }
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks: helpers note when they sleep. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_status_codes_fixed_values),
        cmocka_unit_test(test_chan_strerror_distinct_per_code),
        cmocka_unit_test(test_chan_strerror_unknown_values),
        cmocka_unit_test(test_chan_now_ns_monotonic_matches_clock),
        cmocka_unit_test(test_chan_new_table_cap_len_fifo),
        cmocka_unit_test(test_chan_new_capacity_above_max_einval),
        cmocka_unit_test(test_chan_new_elem_size_max_fails),
        cmocka_unit_test(test_chan_new_total_size_overflow_enomem),
        cmocka_unit_test(test_chan_null_handle_einval),
        cmocka_unit_test(test_chan_null_buffer_einval_keeps_value),
        cmocka_unit_test(test_chan_null_buffer_einval_without_blocking),
        cmocka_unit_test(test_chan_ring_wraps_any_capacity),
        cmocka_unit_test(test_chan_close_twice_closed),
        cmocka_unit_test(test_chan_send_after_close_closed_enqueues_nothing),
        cmocka_unit_test(test_chan_close_drains_buffered_in_order),
        cmocka_unit_test(test_chan_close_full_channel_drains),
        cmocka_unit_test(test_chan_try_recv_closed_empty_closed_not_again),
        cmocka_unit_test(test_chan_recv_blocks_until_send),
        cmocka_unit_test(test_chan_send_blocks_while_full_until_recv),
        cmocka_unit_test(test_chan_recv_parked_wakes_on_send),
        cmocka_unit_test(test_chan_close_wakes_all_receivers),
        cmocka_unit_test(test_chan_close_wakes_all_senders_enqueues_nothing),
        cmocka_unit_test(test_chan_recv_until_empty_timedout_not_early),
        cmocka_unit_test(test_chan_send_until_full_timedout_enqueues_nothing),
        cmocka_unit_test(test_chan_until_past_deadline_immediate),
        cmocka_unit_test(test_chan_until_forever_blocks_until_partner),
        cmocka_unit_test(
            test_chan_recv_until_long_deadline_close_gives_closed),
        cmocka_unit_test(
            test_chan_send_until_long_deadline_close_gives_closed),
        cmocka_unit_test(test_chan_close_races_recv_until),
        cmocka_unit_test(test_chan_unbuffered_send_waits_for_receiver),
        cmocka_unit_test(test_chan_unbuffered_try_calls_again_without_partner),
        cmocka_unit_test(test_chan_unbuffered_try_recv_takes_parked_sender),
        cmocka_unit_test(
            test_chan_unbuffered_try_send_hands_to_parked_receiver),
        cmocka_unit_test(
            test_chan_unbuffered_send_until_timedout_value_dropped),
        cmocka_unit_test(test_chan_unbuffered_close_wakes_sender_closed),
        cmocka_unit_test(test_chan_unbuffered_close_wakes_receiver_closed),
        cmocka_unit_test_teardown(test_chan_spin_limit_roundtrip,
                                  restore_adaptive_spin),
        cmocka_unit_test_teardown(test_chan_spin_zero_pingpong_handoff,
                                  restore_adaptive_spin),
        cmocka_unit_test(test_chan_spsc_fifo_cap1),
        cmocka_unit_test(test_chan_spsc_fifo_cap64),
        cmocka_unit_test(test_chan_mpmc_every_value_once),
        cmocka_unit_test(test_chan_close_races_senders_conserves),
        cmocka_unit_test(test_chan_send_happens_before_recv),
        cmocka_unit_test(test_chan_close_during_slow_send_wakes_all_receivers),
        cmocka_unit_test(test_chan_out_of_order_publish_wakes_both_receivers),
        cmocka_unit_test(test_chan_parked_receiver_uses_no_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
