/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the batch calls of lfchan channels (include/lfchan/chan.h,
 * "Batches"): lfc_send_many, lfc_send_many_until, lfc_try_send_many,
 * lfc_recv_many, lfc_recv_many_until, lfc_try_recv_many.
 *
 * Every status of each call, and LFC_EINVAL with nothing done; n == 0;
 * FIFO order across claims, laps and the 64-bit wrap of the positions;
 * partial results (*sent, *got) on close and on timeout, with nothing
 * lost or duplicated; the try forms; a receive that returns what is ready
 * without waiting for more; unbuffered batches (a sequence of
 * rendezvous); batches interleaved with single calls and selects; parked
 * waiters of either kind woken by a batch on the other side (one wake-up
 * per batch, then the re-signal chain); and the generic batches a flavor
 * without batch slots gets (lfc_chan_flavor.h).
 *
 * Helpers block in a call on their own thread (lfc_test_async.h): a test
 * waits until the helper sleeps in a futex wait, never for a time. Random
 * multi-threaded runs are tests/stress/stress_batch.c.
 */
#define _GNU_SOURCE

#include <errno.h>
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

#include "lfc_chan_flavor.h"
#include "lfc_chan_internal.h"
#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define STUCK_NS LFC_TEST_STUCK_NS
#define NMAX 4096

/* ---- helpers ----------------------------------------------------------- */

static void
fill_seq(uint64_t *v, size_t n, uint64_t first)
{
    for (size_t i = 0; i < n; i++)
        v[i] = first + i;
}

/* Receives exactly n values with single receives and checks they are
 * first, first + 1, ... */
static void
expect_values(lfc_chan *ch, size_t n, uint64_t first)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        assert_status(lfc_try_recv(ch, &v), LFC_OK);
        if (v != first + i)
            fail_msg("value %zu: got %llu, want %llu", i, (unsigned long long)v,
                     (unsigned long long)(first + i));
    }
}

static void
expect_empty(lfc_chan *ch)
{
    uint64_t v;
    int r = lfc_try_recv(ch, &v);
    if (r != LFC_AGAIN && r != LFC_CLOSED)
        fail_msg("channel not empty: try_recv %d (%s)", r, lfc_strerror(r));
}

/* A batch call on a helper thread. */
enum bop {
    B_SEND,
    B_SEND_UNTIL,
    B_RECV,
    B_RECV_UNTIL,
    B_SINGLE_RECV,
    B_SINGLE_SEND,
};

struct bcall {
    enum bop op;
    lfc_chan *ch;
    uint64_t *buf;
    size_t n;
    int64_t deadline;
    size_t count; /* *sent or *got, read after join */
    struct lfc_test_async a;
};

static int
bcall_run(void *arg)
{
    struct bcall *b = arg;
    switch (b->op) {
    case B_SEND:
        return lfc_send_many(b->ch, b->buf, b->n, &b->count);
    case B_SEND_UNTIL:
        return lfc_send_many_until(b->ch, b->buf, b->n, &b->count, b->deadline);
    case B_RECV:
        return lfc_recv_many(b->ch, b->buf, b->n, &b->count);
    case B_RECV_UNTIL:
        return lfc_recv_many_until(b->ch, b->buf, b->n, &b->count, b->deadline);
    case B_SINGLE_RECV:
        b->count = 0;
        return lfc_recv(b->ch, b->buf);
    case B_SINGLE_SEND:
        return lfc_send(b->ch, b->buf);
    }
    return LFC_EINVAL;
}

static void
bcall_rescue(void *arg)
{
    (void)lfc_close(((struct bcall *)arg)->ch);
}

static void
bcall_start(struct bcall *b, enum bop op, lfc_chan *ch, uint64_t *buf, size_t n,
            int64_t deadline)
{
    b->op = op;
    b->ch = ch;
    b->buf = buf;
    b->n = n;
    b->deadline = deadline;
    b->count = (size_t)-1;
    struct lfc_test_async_opts o = {.rescue = bcall_rescue, .rescue_arg = b};
    lfc_test_async_start_with(&b->a, bcall_run, b, &o);
}

static void
bcall_start_parked(struct bcall *b, enum bop op, lfc_chan *ch, uint64_t *buf,
                   size_t n, int64_t deadline, const char *what)
{
    bcall_start(b, op, ch, buf, n, deadline);
    lfc_test_async_wait_parked(&b->a, what);
}

static int
bcall_join(struct bcall *b, const char *what)
{
    return lfc_test_async_join(&b->a, what);
}

/* ---- arguments --------------------------------------------------------- */

static void
test_batch_einval_null_channel_and_count(void **state)
{
    (void)state;
    uint64_t v[4] = {1, 2, 3, 4};
    size_t c = 77;
    assert_status(lfc_send_many(NULL, v, 4, &c), LFC_EINVAL);
    assert_int_equal(c, 0);
    c = 77;
    assert_status(lfc_send_many_until(NULL, v, 4, &c, LFC_FOREVER), LFC_EINVAL);
    assert_int_equal(c, 0);
    assert_status(lfc_try_send_many(NULL, v, 4, &c), LFC_EINVAL);
    assert_status(lfc_recv_many(NULL, v, 4, &c), LFC_EINVAL);
    assert_status(lfc_recv_many_until(NULL, v, 4, &c, LFC_FOREVER), LFC_EINVAL);
    assert_status(lfc_try_recv_many(NULL, v, 4, &c), LFC_EINVAL);
    assert_status(lfc_send_many(NULL, v, 4, NULL), LFC_EINVAL);

    static const size_t caps[] = {0, 1, 8};
    for (size_t k = 0; k < 3; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        /* NULL count pointer, even with n == 0. */
        assert_status(lfc_send_many(ch, v, 4, NULL), LFC_EINVAL);
        assert_status(lfc_send_many(ch, v, 0, NULL), LFC_EINVAL);
        assert_status(lfc_send_many_until(ch, v, 4, NULL, LFC_FOREVER),
                      LFC_EINVAL);
        assert_status(lfc_try_send_many(ch, v, 4, NULL), LFC_EINVAL);
        assert_status(lfc_recv_many(ch, v, 4, NULL), LFC_EINVAL);
        assert_status(lfc_recv_many_until(ch, v, 4, NULL, 0), LFC_EINVAL);
        assert_status(lfc_try_recv_many(ch, v, 4, NULL), LFC_EINVAL);
        /* NULL buffers with elements of a size: nothing happens, no block
         * (an empty channel's recv_many would otherwise wait). */
        c = 77;
        assert_status(lfc_send_many(ch, NULL, 4, &c), LFC_EINVAL);
        assert_int_equal(c, 0);
        assert_status(lfc_send_many_until(ch, NULL, 1, &c, LFC_FOREVER),
                      LFC_EINVAL);
        assert_status(lfc_try_send_many(ch, NULL, 4, &c), LFC_EINVAL);
        c = 77;
        assert_status(lfc_recv_many(ch, NULL, 4, &c), LFC_EINVAL);
        assert_int_equal(c, 0);
        assert_status(lfc_recv_many_until(ch, NULL, 4, &c, LFC_FOREVER),
                      LFC_EINVAL);
        assert_status(lfc_try_recv_many(ch, NULL, 4, &c), LFC_EINVAL);
        assert_int_equal(lfc_chan_len(ch), 0);
        assert_false(lfc_chan_closed(ch));
        lfc_chan_free(ch);
    }
}

static void
test_batch_null_buffers_ok_for_elem_size_zero(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(4, 0);
    assert_non_null(ch);
    size_t c = 0;
    assert_status(lfc_send_many(ch, NULL, 3, &c), LFC_OK);
    assert_int_equal(c, 3);
    assert_status(lfc_try_send_many(ch, NULL, 3, &c), LFC_OK);
    assert_int_equal(c, 1);
    assert_status(lfc_try_send_many(ch, NULL, 3, &c), LFC_AGAIN);
    assert_int_equal(c, 0);
    assert_status(lfc_recv_many(ch, NULL, 10, &c), LFC_OK);
    assert_int_equal(c, 4);
    assert_status(lfc_try_recv_many(ch, NULL, 10, &c), LFC_AGAIN);
    assert_int_equal(c, 0);
    lfc_chan_free(ch);
}

static void
test_batch_owned_channel_sends_einval(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    lfc_chan *done = lfc_ctx_done(ctx);
    assert_non_null(done);
    uint64_t v[2] = {1, 2};
    size_t c = 77;
    assert_status(lfc_send_many(done, NULL, 0, &c), LFC_EINVAL);
    assert_int_equal(c, 0);
    assert_status(lfc_send_many(done, v, 2, &c), LFC_EINVAL);
    assert_status(lfc_send_many_until(done, v, 2, &c, 0), LFC_EINVAL);
    assert_status(lfc_try_send_many(done, v, 0, &c), LFC_EINVAL);
    assert_status(lfc_try_send_many(done, v, 2, &c), LFC_EINVAL);
    /* Receiving is allowed: nothing there until the cancel, then closed. */
    assert_status(lfc_try_recv_many(done, NULL, 2, &c), LFC_AGAIN);
    lfc_ctx_cancel(ctx);
    assert_status(lfc_recv_many(done, NULL, 2, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    lfc_ctx_free(ctx);
}

static void
test_batch_zero_count_is_noop(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 8};
    for (size_t k = 0; k < 3; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t v = 5;
        size_t c = 77;
        /* Open and empty: nothing blocks, nothing moves. */
        assert_status(lfc_send_many(ch, NULL, 0, &c), LFC_OK);
        assert_int_equal(c, 0);
        assert_status(lfc_send_many_until(ch, &v, 0, &c, 0), LFC_OK);
        assert_status(lfc_try_send_many(ch, &v, 0, &c), LFC_OK);
        c = 77;
        assert_status(lfc_recv_many(ch, NULL, 0, &c), LFC_OK);
        assert_int_equal(c, 0);
        assert_status(lfc_recv_many_until(ch, &v, 0, &c, 0), LFC_OK);
        assert_status(lfc_try_recv_many(ch, &v, 0, &c), LFC_OK);
        if (caps[k] > 0) {
            /* Full: still no block; the value stays. */
            for (size_t i = 0; i < caps[k]; i++)
                assert_status(lfc_try_send(ch, &v), LFC_OK);
            assert_status(lfc_send_many(ch, &v, 0, &c), LFC_OK);
            assert_status(lfc_recv_many(ch, &v, 0, &c), LFC_OK);
            assert_int_equal(lfc_chan_len(ch), caps[k]);
        }
        /* Closed: n == 0 is still LFC_OK (a loop over nothing). */
        assert_status(lfc_close(ch), LFC_OK);
        assert_status(lfc_send_many(ch, &v, 0, &c), LFC_OK);
        assert_status(lfc_try_send_many(ch, &v, 0, &c), LFC_OK);
        assert_status(lfc_recv_many(ch, &v, 0, &c), LFC_OK);
        assert_int_equal(c, 0);
        assert_int_equal(lfc_chan_len(ch), caps[k]);
        lfc_chan_free(ch);
    }
}

/* ---- order, laps, wraparound ------------------------------------------- */

/* Rounds of batches of varying sizes through a channel of capacity cap,
 * single-threaded: every round's values come out in order. */
static void
check_fifo_rounds(lfc_chan *ch, size_t cap)
{
    static uint64_t in[NMAX];
    static uint64_t out[NMAX];
    uint64_t next_in = 1;
    uint64_t next_out = 1;
    static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 13, 64, 100, 1024};
    for (size_t round = 0; round < 60; round++) {
        size_t n = sizes[round % 10];
        size_t room = cap - lfc_chan_len(ch);
        if (n > room)
            n = room;
        size_t c = 0;
        fill_seq(in, n, next_in);
        if (n > 0) {
            if (round % 2) {
                assert_status(lfc_send_many(ch, in, n, &c), LFC_OK);
            } else {
                assert_status(lfc_try_send_many(ch, in, n, &c), LFC_OK);
            }
            assert_int_equal(c, n);
        }
        next_in += n;
        /* Take a part of what is there, alternating the forms. */
        size_t len = lfc_chan_len(ch);
        size_t want = (round % 3 == 0) ? len : (len + 1) / 2;
        if (want == 0)
            continue;
        int r = round % 2 ? lfc_recv_many(ch, out, want, &c)
                          : lfc_try_recv_many(ch, out, want, &c);
        assert_status(r, LFC_OK);
        assert_int_equal(c, want);
        for (size_t i = 0; i < c; i++)
            assert_int_equal(out[i], next_out + i);
        next_out += c;
    }
    size_t c = 0;
    size_t left = lfc_chan_len(ch);
    if (left > 0) {
        assert_status(lfc_recv_many(ch, out, NMAX, &c), LFC_OK);
        assert_int_equal(c, left);
        for (size_t i = 0; i < c; i++)
            assert_int_equal(out[i], next_out + i);
        next_out += c;
    }
    assert_int_equal(next_out, next_in);
    expect_empty(ch);
}

static void
test_batch_fifo_across_laps_any_capacity(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 2, 3, 7, 64, 1000, 1024};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        check_fifo_rounds(ch, caps[k]);
        lfc_chan_free(ch);
    }
}

static void
test_batch_fifo_positions_wrap_2_64(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 3, 7, 64};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        /* Start a few laps below 2^64: one_lap is a power of two, so the
         * positions wrap through zero during the rounds. */
        uint64_t one_lap = 2;
        while (one_lap <= caps[k])
            one_lap <<= 1;
        one_lap <<= 1;
        lfc_chan *ch = lfc__chan_new_at(caps[k], sizeof(uint64_t),
                                        UINT64_MAX / one_lap - 3);
        assert_non_null(ch);
        check_fifo_rounds(ch, caps[k]);
        lfc_chan_free(ch);
    }
}

static void
test_batch_send_many_larger_than_capacity_blocks_until_received(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 4, 7};
    for (size_t k = 0; k < 3; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t in[40];
        fill_seq(in, 40, 100);
        struct bcall b;
        bcall_start_parked(&b, B_SEND, ch, in, 40, 0, "send_many over cap");
        uint64_t out[40];
        size_t have = 0;
        while (have < 40) {
            size_t c = 0;
            assert_status(lfc_recv_many_until(ch, out + have, 40 - have, &c,
                                              lfc_now_ns() + STUCK_NS),
                          LFC_OK);
            /* Several claims if the sender refills meanwhile. */
            assert_true(c >= 1 && c <= 40 - have);
            have += c;
        }
        assert_status(bcall_join(&b, "send_many over cap"), LFC_OK);
        assert_int_equal(b.count, 40);
        for (size_t i = 0; i < 40; i++)
            assert_int_equal(out[i], 100 + i);
        expect_empty(ch);
        lfc_chan_free(ch);
    }
}

/* ---- partial results: close and timeout -------------------------------- */

static void
test_batch_send_many_close_partial_sent_exact(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(4, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t in[10];
    fill_seq(in, 10, 1);
    struct bcall b;
    /* Four fit; the call then parks for room. */
    bcall_start_parked(&b, B_SEND, ch, in, 10, 0, "send_many on full");
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(bcall_join(&b, "send_many closed"), LFC_CLOSED);
    assert_int_equal(b.count, 4);
    /* Exactly the four sent are there, in order, then closed. */
    uint64_t out[10];
    size_t c = 0;
    assert_status(lfc_recv_many(ch, out, 10, &c), LFC_OK);
    assert_int_equal(c, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(out[i], 1 + i);
    assert_status(lfc_recv_many(ch, out, 10, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    /* After close every send form sends nothing. */
    assert_status(lfc_send_many(ch, in, 3, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    assert_status(lfc_send_many_until(ch, in, 3, &c, 0), LFC_CLOSED);
    assert_int_equal(c, 0);
    assert_status(lfc_try_send_many(ch, in, 3, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    lfc_chan_free(ch);
}

static void
test_batch_send_many_close_after_partial_drain(void **state)
{
    (void)state;
    /* The sender gets some room (a partial receive), then close: *sent
     * counts both claims. */
    lfc_chan *ch = lfc_chan_new(3, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t in[10];
    fill_seq(in, 10, 1);
    struct bcall b;
    bcall_start_parked(&b, B_SEND, ch, in, 10, 0, "send_many on full");
    uint64_t out[10];
    size_t c = 0;
    assert_status(lfc_try_recv_many(ch, out, 2, &c), LFC_OK);
    assert_int_equal(c, 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    /* Wait until the sender has refilled the two slots (it must: room). */
    int64_t end = lfc_now_ns() + STUCK_NS;
    while (lfc_chan_len(ch) < 3 && lfc_now_ns() < end)
        lfc_test_sleep_ns(100 * LFC_TEST_US);
    assert_int_equal(lfc_chan_len(ch), 3);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(bcall_join(&b, "send_many closed"), LFC_CLOSED);
    assert_int_equal(b.count, 5);
    assert_status(lfc_recv_many(ch, out, 10, &c), LFC_OK);
    assert_int_equal(c, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(out[i], 3 + i);
    assert_status(lfc_try_recv_many(ch, out, 10, &c), LFC_CLOSED);
    lfc_chan_free(ch);
}

static void
test_batch_send_many_until_timeout_partial_not_early(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(4, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t in[10];
    fill_seq(in, 10, 1);
    size_t c = 0;
    int64_t dl = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_send_many_until(ch, in, 10, &c, dl), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= dl);
    assert_int_equal(c, 4);
    assert_int_equal(lfc_chan_len(ch), 4);
    /* A deadline already past: what fits (two after two receives). */
    expect_values(ch, 2, 1);
    assert_status(lfc_send_many_until(ch, in + 4, 6, &c, INT64_MIN),
                  LFC_TIMEDOUT);
    assert_int_equal(c, 2);
    /* All fit at once: LFC_OK even with a past deadline. */
    expect_values(ch, 4, 3);
    assert_status(lfc_send_many_until(ch, in + 6, 4, &c, 0), LFC_OK);
    assert_int_equal(c, 4);
    expect_values(ch, 4, 7);
    expect_empty(ch);
    lfc_chan_free(ch);
}

static void
test_batch_recv_many_until_timeout_not_early(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 8};
    for (size_t k = 0; k < 3; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out[4] = {9, 9, 9, 9};
        size_t c = 77;
        int64_t dl = lfc_now_ns() + LFC_TEST_SHORT_NS;
        assert_status(lfc_recv_many_until(ch, out, 4, &c, dl), LFC_TIMEDOUT);
        assert_true(lfc_now_ns() >= dl);
        assert_int_equal(c, 0);
        assert_int_equal(out[0], 9);
        assert_status(lfc_recv_many_until(ch, out, 4, &c, INT64_MIN),
                      LFC_TIMEDOUT);
        if (caps[k] > 0) {
            /* A past deadline still takes what is there. */
            uint64_t v = 42;
            assert_status(lfc_try_send(ch, &v), LFC_OK);
            assert_status(lfc_recv_many_until(ch, out, 4, &c, 0), LFC_OK);
            assert_int_equal(c, 1);
            assert_int_equal(out[0], 42);
        }
        lfc_chan_free(ch);
    }
}

/* ---- try forms ---------------------------------------------------------- */

static void
test_batch_try_send_many_fits_what_fits(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(5, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t in[8];
    fill_seq(in, 8, 1);
    size_t c = 77;
    assert_status(lfc_try_send_many(ch, in, 3, &c), LFC_OK);
    assert_int_equal(c, 3);
    assert_status(lfc_try_send_many(ch, in + 3, 5, &c), LFC_OK);
    assert_int_equal(c, 2);
    c = 77;
    assert_status(lfc_try_send_many(ch, in + 5, 3, &c), LFC_AGAIN);
    assert_int_equal(c, 0);
    expect_values(ch, 5, 1);
    assert_status(lfc_close(ch), LFC_OK);
    c = 77;
    assert_status(lfc_try_send_many(ch, in, 3, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    lfc_chan_free(ch);
}

static void
test_batch_try_recv_many_statuses(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(8, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t out[8];
    size_t c = 77;
    assert_status(lfc_try_recv_many(ch, out, 8, &c), LFC_AGAIN);
    assert_int_equal(c, 0);
    uint64_t in[3] = {1, 2, 3};
    assert_status(lfc_send_many(ch, in, 3, &c), LFC_OK);
    assert_status(lfc_try_recv_many(ch, out, 2, &c), LFC_OK);
    assert_int_equal(c, 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    assert_status(lfc_close(ch), LFC_OK);
    /* Closed but not drained: the rest first. */
    assert_status(lfc_try_recv_many(ch, out, 8, &c), LFC_OK);
    assert_int_equal(c, 1);
    assert_int_equal(out[0], 3);
    c = 77;
    assert_status(lfc_try_recv_many(ch, out, 8, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    assert_status(lfc_recv_many_until(ch, out, 8, &c, LFC_FOREVER), LFC_CLOSED);
    assert_status(lfc_recv_many(ch, out, 8, &c), LFC_CLOSED);
    lfc_chan_free(ch);
}

/* ---- receives take what is ready --------------------------------------- */

static void
test_batch_recv_many_returns_ready_without_waiting_for_max(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(16, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t in[5];
    fill_seq(in, 5, 10);
    size_t c = 0;
    assert_status(lfc_send_many(ch, in, 5, &c), LFC_OK);
    uint64_t out[16];
    /* Five ready, room for sixteen: returns the five (on this thread:
     * waiting for more would hang the test). */
    assert_status(lfc_recv_many(ch, out, 16, &c), LFC_OK);
    assert_int_equal(c, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(out[i], 10 + i);
    lfc_chan_free(ch);
}

static void
test_batch_recv_many_parked_wakes_on_batch(void **state)
{
    (void)state;
    static const size_t caps[] = {1, 3, 64};
    for (size_t k = 0; k < 3; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out[8] = {0};
        struct bcall b;
        bcall_start_parked(&b, B_RECV, ch, out, 8, 0, "recv_many on empty");
        uint64_t in[3] = {7, 8, 9};
        size_t n = caps[k] < 3 ? caps[k] : 3;
        size_t c = 0;
        assert_status(lfc_send_many(ch, in, n, &c), LFC_OK);
        assert_int_equal(c, n);
        assert_status(bcall_join(&b, "parked recv_many"), LFC_OK);
        /* At least one; those not taken are still in the channel. */
        assert_true(b.count >= 1 && b.count <= n);
        for (size_t i = 0; i < b.count; i++)
            assert_int_equal(out[i], 7 + i);
        assert_int_equal(lfc_chan_len(ch), n - b.count);
        expect_values(ch, n - b.count, 7 + b.count);
        lfc_chan_free(ch);
    }
}

static void
test_batch_recv_many_parked_wakes_on_close(void **state)
{
    (void)state;
    static const size_t caps[] = {0, 1, 8};
    for (size_t k = 0; k < 3; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        uint64_t out[4];
        struct bcall b;
        bcall_start_parked(&b, B_RECV_UNTIL, ch, out, 4, LFC_FOREVER,
                           "recv_many_until on empty");
        assert_status(lfc_close(ch), LFC_OK);
        assert_status(bcall_join(&b, "recv_many after close"), LFC_CLOSED);
        assert_int_equal(b.count, 0);
        lfc_chan_free(ch);
    }
}

/* One batch to a parked batch receiver costs the sender one futex wake,
 * and the receiver takes the whole batch: the stamps are published last
 * to first, so a receiver sees none of the batch or all of it. */
static void
test_batch_send_many_one_wake_for_parked_receiver(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(1024, sizeof(uint64_t));
    assert_non_null(ch);
    static uint64_t in[64];
    static uint64_t out[64];
    fill_seq(in, 64, 1);
    struct bcall b;
    bcall_start_parked(&b, B_RECV, ch, out, 64, 0, "recv_many on empty");
    unsigned long wakes = lfc_test_futex_t_wakes;
    size_t c = 0;
    assert_status(lfc_send_many(ch, in, 64, &c), LFC_OK);
    /* At most one (none if a spurious return let the receiver take the
     * batch and withdraw before our signal looked). */
    assert_true(lfc_test_futex_t_wakes - wakes <= 1);
    assert_status(bcall_join(&b, "parked recv_many"), LFC_OK);
    assert_int_equal(b.count, 64);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(out[i], 1 + i);
    lfc_chan_free(ch);
}

/* ---- parked single waiters woken by batches (the re-signal chain) ------ */

#define NW 4

static void
test_batch_send_many_wakes_every_parked_receiver(void **state)
{
    (void)state;
    static const size_t caps[] = {4, 64};
    for (size_t k = 0; k < 2; k++) {
        lfc_chan *ch = lfc_chan_new(caps[k], sizeof(uint64_t));
        assert_non_null(ch);
        struct bcall b[NW];
        uint64_t out[NW][2];
        for (int i = 0; i < NW; i++)
            bcall_start_parked(&b[i], i % 2 ? B_RECV : B_SINGLE_RECV, ch,
                               out[i], 1, 0, "receiver on empty");
        /* One batch, one signal: the receivers wake one another. */
        uint64_t in[NW];
        fill_seq(in, NW, 1);
        size_t c = 0;
        assert_status(lfc_send_many(ch, in, NW, &c), LFC_OK);
        uint64_t seen = 0;
        for (int i = 0; i < NW; i++) {
            assert_status(bcall_join(&b[i], "woken receiver"), LFC_OK);
            assert_true(out[i][0] >= 1 && out[i][0] <= NW);
            seen |= 1u << out[i][0];
        }
        assert_int_equal(seen, 0x1e);
        expect_empty(ch);
        lfc_chan_free(ch);
    }
}

static void
test_batch_recv_many_wakes_every_parked_sender(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(NW, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t fill[NW];
    fill_seq(fill, NW, 1);
    size_t c = 0;
    assert_status(lfc_send_many(ch, fill, NW, &c), LFC_OK);
    struct bcall b[NW];
    uint64_t in[NW];
    for (int i = 0; i < NW; i++) {
        in[i] = 100 + (uint64_t)i;
        bcall_start_parked(&b[i], i % 2 ? B_SEND : B_SINGLE_SEND, ch, &in[i], 1,
                           0, "sender on full");
    }
    /* One receive frees all four slots with one signal. */
    uint64_t out[NW];
    assert_status(lfc_recv_many(ch, out, NW, &c), LFC_OK);
    assert_int_equal(c, NW);
    for (int i = 0; i < NW; i++) {
        assert_int_equal(out[i], 1 + (uint64_t)i);
        assert_status(bcall_join(&b[i], "woken sender"), LFC_OK);
    }
    uint64_t seen = 0;
    for (int i = 0; i < NW; i++) {
        uint64_t v = 0;
        assert_status(lfc_try_recv(ch, &v), LFC_OK);
        assert_true(v >= 100 && v < 100 + NW);
        seen |= 1u << (v - 100);
    }
    assert_int_equal(seen, 0xf);
    lfc_chan_free(ch);
}

/* ---- unbuffered --------------------------------------------------------- */

static void
test_batch_unbuffered_send_many_is_rendezvous_sequence(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t in[6];
    fill_seq(in, 6, 1);
    struct bcall b;
    bcall_start_parked(&b, B_SEND, ch, in, 6, 0, "unbuffered send_many");
    uint64_t out[6];
    size_t have = 0;
    size_t c = 0;
    /* Single and batch receives: each rendezvous delivers one value, the
     * sender offers the next one only after that. */
    while (have < 6) {
        if (have % 2) {
            assert_status(lfc_recv(ch, &out[have]), LFC_OK);
            have++;
        } else {
            assert_status(lfc_recv_many_until(ch, out + have, 6 - have, &c,
                                              lfc_now_ns() + STUCK_NS),
                          LFC_OK);
            assert_true(c >= 1);
            have += c;
        }
    }
    assert_status(bcall_join(&b, "unbuffered send_many"), LFC_OK);
    assert_int_equal(b.count, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(out[i], 1 + i);
    lfc_chan_free(ch);
}

static void
test_batch_unbuffered_recv_many_from_parked_sender(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t out[4] = {0};
    struct bcall b;
    bcall_start_parked(&b, B_RECV, ch, out, 4, 0, "unbuffered recv_many");
    uint64_t v = 5;
    size_t c = 0;
    /* One rendezvous; with no other sender the receive takes that one
     * value and returns (it waits for the first only). */
    assert_status(lfc_send_many(ch, &v, 1, &c), LFC_OK);
    assert_int_equal(c, 1);
    assert_status(bcall_join(&b, "unbuffered recv_many"), LFC_OK);
    assert_int_equal(b.count, 1);
    assert_int_equal(out[0], 5);
    lfc_chan_free(ch);
}

static void
test_batch_unbuffered_close_partial(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t in[5];
    fill_seq(in, 5, 1);
    struct bcall b;
    bcall_start_parked(&b, B_SEND, ch, in, 5, 0, "unbuffered send_many");
    uint64_t out[2];
    assert_status(lfc_recv(ch, &out[0]), LFC_OK);
    assert_status(lfc_recv(ch, &out[1]), LFC_OK);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    /* The third is offered (or about to be): close retracts it. */
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(bcall_join(&b, "unbuffered send_many closed"), LFC_CLOSED);
    assert_int_equal(b.count, 2);
    size_t c = 77;
    assert_status(lfc_try_recv_many(ch, out, 2, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    lfc_chan_free(ch);
}

static void
test_batch_unbuffered_try_and_timeout_without_partner(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(0, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t v[3] = {1, 2, 3};
    size_t c = 77;
    assert_status(lfc_try_send_many(ch, v, 3, &c), LFC_AGAIN);
    assert_int_equal(c, 0);
    assert_status(lfc_try_recv_many(ch, v, 3, &c), LFC_AGAIN);
    int64_t dl = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_send_many_until(ch, v, 3, &c, dl), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= dl);
    assert_int_equal(c, 0);
    dl = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_recv_many_until(ch, v, 3, &c, dl), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= dl);
    /* A parked receiver: try_send_many hands it exactly one value. */
    uint64_t out[3] = {0};
    struct bcall b;
    bcall_start_parked(&b, B_SINGLE_RECV, ch, out, 1, 0, "unbuffered recv");
    assert_status(lfc_try_send_many(ch, v, 3, &c), LFC_OK);
    assert_int_equal(c, 1);
    assert_status(bcall_join(&b, "unbuffered recv"), LFC_OK);
    assert_int_equal(out[0], 1);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_try_send_many(ch, v, 3, &c), LFC_CLOSED);
    assert_status(lfc_try_recv_many(ch, v, 3, &c), LFC_CLOSED);
    assert_status(lfc_send_many(ch, v, 3, &c), LFC_CLOSED);
    assert_status(lfc_recv_many(ch, v, 3, &c), LFC_CLOSED);
    lfc_chan_free(ch);
}

/* ---- interleaving with single calls and select -------------------------- */

static void
test_batch_interleaved_with_single_and_select_keeps_order(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(16, sizeof(uint64_t));
    assert_non_null(ch);
    uint64_t next = 1;
    size_t c = 0;
    for (int round = 0; round < 20; round++) {
        uint64_t v = next++;
        assert_status(lfc_send(ch, &v), LFC_OK);
        uint64_t in[3];
        fill_seq(in, 3, next);
        assert_status(lfc_send_many(ch, in, 3, &c), LFC_OK);
        next += 3;
        v = next++;
        lfc_case sc = {.ch = ch, .dir = LFC_SEND, .buf = &v};
        assert_int_equal(lfc_select(&sc, 1), 0);
        assert_status(sc.status, LFC_OK);
        fill_seq(in, 2, next);
        assert_status(lfc_try_send_many(ch, in, 2, &c), LFC_OK);
        assert_int_equal(c, 2);
        next += 2;
        /* 7 values in; take them back by every kind of receive. */
        uint64_t want = next - 7;
        uint64_t out[4];
        assert_status(lfc_recv(ch, &out[0]), LFC_OK);
        assert_int_equal(out[0], want++);
        assert_status(lfc_recv_many(ch, out, 2, &c), LFC_OK);
        assert_int_equal(c, 2);
        assert_int_equal(out[0], want++);
        assert_int_equal(out[1], want++);
        lfc_case rc = {.ch = ch, .dir = LFC_RECV, .buf = &out[0]};
        assert_int_equal(lfc_select(&rc, 1), 0);
        assert_status(rc.status, LFC_OK);
        assert_int_equal(out[0], want++);
        assert_status(lfc_try_recv_many(ch, out, 4, &c), LFC_OK);
        assert_int_equal(c, 3);
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(out[i], want++);
    }
    expect_empty(ch);
    lfc_chan_free(ch);
}

struct sel_arg {
    lfc_chan *ch;
    int dir;
    uint64_t val;
    int status;
};

static int
select_one(void *arg)
{
    struct sel_arg *s = arg;
    lfc_case c = {.ch = s->ch, .dir = s->dir, .buf = &s->val};
    int i = lfc_select(&c, 1);
    s->status = c.status;
    return i;
}

static void
test_batch_parked_select_woken_by_batches(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(2, sizeof(uint64_t));
    assert_non_null(ch);
    /* A receive case parked on empty: a batch send completes it. */
    struct sel_arg r = {ch, LFC_RECV, 0, 99};
    struct lfc_test_async a;
    lfc_test_async_start(&a, select_one, &r);
    lfc_test_async_wait_parked(&a, "select recv on empty");
    uint64_t in[2] = {11, 12};
    size_t c = 0;
    assert_status(lfc_send_many(ch, in, 2, &c), LFC_OK);
    assert_int_equal(lfc_test_async_join(&a, "select recv"), 0);
    assert_status(r.status, LFC_OK);
    assert_int_equal(r.val, 11);
    /* Refill to full; a send case parked on full: a batch receive
     * completes it. */
    uint64_t v = 13;
    assert_status(lfc_send(ch, &v), LFC_OK);
    struct sel_arg s = {ch, LFC_SEND, 14, 99};
    lfc_test_async_start(&a, select_one, &s);
    lfc_test_async_wait_parked(&a, "select send on full");
    uint64_t out[2];
    assert_status(lfc_recv_many(ch, out, 2, &c), LFC_OK);
    assert_int_equal(c, 2);
    assert_int_equal(out[0], 12);
    assert_int_equal(out[1], 13);
    assert_int_equal(lfc_test_async_join(&a, "select send"), 0);
    assert_status(s.status, LFC_OK);
    assert_status(lfc_recv(ch, &v), LFC_OK);
    assert_int_equal(v, 14);
    lfc_chan_free(ch);
}

/* ---- a flavor without batch slots: the generic loops -------------------- */

/* A flavor that forwards every single operation to an inner ring and
 * counts the calls; no batch slots, or (with_slots) a counting slot. */
struct fwd {
    struct lfc_chan base;
    lfc_chan *inner;
    unsigned long singles; /* single operations called (test thread) */
    unsigned long slots;   /* batch slots called */
};

static struct fwd *
fwd_of(lfc_chan *c)
{
    return (struct fwd *)(void *)c;
}

static int
fwd_try_send(lfc_chan *c, const void *e)
{
    fwd_of(c)->singles++;
    return lfc_try_send(fwd_of(c)->inner, e);
}

static int
fwd_send_until(lfc_chan *c, const void *e, int64_t dl)
{
    fwd_of(c)->singles++;
    return lfc_send_until(fwd_of(c)->inner, e, dl);
}

static int
fwd_try_recv(lfc_chan *c, void *o)
{
    fwd_of(c)->singles++;
    return lfc_try_recv(fwd_of(c)->inner, o);
}

static int
fwd_recv_until(lfc_chan *c, void *o, int64_t dl)
{
    fwd_of(c)->singles++;
    return lfc_recv_until(fwd_of(c)->inner, o, dl);
}

static int
fwd_close(lfc_chan *c)
{
    return lfc_close(fwd_of(c)->inner);
}

static bool
fwd_closed(const lfc_chan *c)
{
    return lfc_chan_closed(((const struct fwd *)(const void *)c)->inner);
}

static size_t
fwd_len(const lfc_chan *c)
{
    return lfc_chan_len(((const struct fwd *)(const void *)c)->inner);
}

static void
fwd_destroy(lfc_chan *c)
{
    lfc_chan_free(fwd_of(c)->inner);
}

static int
fwd_try_send_many(lfc_chan *c, const void *e, size_t n, size_t *sent)
{
    fwd_of(c)->slots++;
    return lfc_try_send_many(fwd_of(c)->inner, e, n, sent);
}

static const struct lfc__chan_flavor fwd_plain = {
    .try_send = fwd_try_send,
    .send_until = fwd_send_until,
    .try_recv = fwd_try_recv,
    .recv_until = fwd_recv_until,
    .close = fwd_close,
    .closed = fwd_closed,
    .len = fwd_len,
    .destroy = fwd_destroy,
};

static const struct lfc__chan_flavor fwd_slotted = {
    .try_send = fwd_try_send,
    .send_until = fwd_send_until,
    .try_recv = fwd_try_recv,
    .recv_until = fwd_recv_until,
    .close = fwd_close,
    .closed = fwd_closed,
    .len = fwd_len,
    .destroy = fwd_destroy,
    .try_send_many = fwd_try_send_many,
};

static struct fwd *
fwd_new(const struct lfc__chan_flavor *fl, size_t cap)
{
    struct fwd *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    lfc__chan_init_common(&f->base, NULL, fl, cap, sizeof(uint64_t));
    f->inner = lfc_chan_new(cap, sizeof(uint64_t));
    assert_non_null(f->inner);
    return f;
}

static void
test_batch_flavor_without_slots_uses_single_ops(void **state)
{
    (void)state;
    struct fwd *f = fwd_new(&fwd_plain, 4);
    lfc_chan *ch = &f->base;
    uint64_t in[6];
    fill_seq(in, 6, 1);
    size_t c = 0;
    /* try_send_many: one try_send per value, and one that fails. */
    assert_status(lfc_try_send_many(ch, in, 6, &c), LFC_OK);
    assert_int_equal(c, 4);
    assert_int_equal(f->singles, 5);
    assert_status(lfc_try_send_many(ch, in, 6, &c), LFC_AGAIN);
    assert_int_equal(c, 0);
    /* recv_many: the first value waits (recv_until), the rest are tries. */
    uint64_t out[6];
    f->singles = 0;
    assert_status(lfc_recv_many(ch, out, 3, &c), LFC_OK);
    assert_int_equal(c, 3);
    assert_int_equal(f->singles, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(out[i], 1 + i);
    assert_status(lfc_try_recv_many(ch, out, 6, &c), LFC_OK);
    assert_int_equal(c, 1);
    assert_int_equal(out[0], 4);
    assert_status(lfc_try_recv_many(ch, out, 6, &c), LFC_AGAIN);
    /* send_many_until: partial on timeout. */
    int64_t dl = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_send_many_until(ch, in, 6, &c, dl), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= dl);
    assert_int_equal(c, 4);
    assert_status(lfc_recv_many_until(ch, out, 6, &c, 0), LFC_OK);
    assert_int_equal(c, 4);
    dl = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_recv_many_until(ch, out, 6, &c, dl), LFC_TIMEDOUT);
    assert_int_equal(c, 0);
    /* Close: partial sends are exact, receives drain then LFC_CLOSED. */
    assert_status(lfc_send_many(ch, in, 2, &c), LFC_OK);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_send_many(ch, in, 2, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    assert_status(lfc_try_send_many(ch, in, 2, &c), LFC_CLOSED);
    assert_status(lfc_recv_many(ch, out, 6, &c), LFC_OK);
    assert_int_equal(c, 2);
    assert_status(lfc_recv_many(ch, out, 6, &c), LFC_CLOSED);
    assert_int_equal(c, 0);
    /* The argument checks come before the flavor. */
    f->singles = 0;
    assert_status(lfc_send_many(ch, NULL, 2, &c), LFC_EINVAL);
    assert_status(lfc_recv_many(ch, out, 2, NULL), LFC_EINVAL);
    assert_status(lfc_recv_many(ch, out, 0, &c), LFC_OK);
    assert_int_equal(f->singles, 0);
    lfc_chan_free(ch);
}

static void
test_batch_flavor_slot_is_called(void **state)
{
    (void)state;
    struct fwd *f = fwd_new(&fwd_slotted, 4);
    lfc_chan *ch = &f->base;
    uint64_t in[3] = {1, 2, 3};
    size_t c = 0;
    assert_status(lfc_try_send_many(ch, in, 3, &c), LFC_OK);
    assert_int_equal(c, 3);
    assert_int_equal(f->slots, 1);
    assert_int_equal(f->singles, 0);
    /* n == 0 never reaches the slot. */
    assert_status(lfc_try_send_many(ch, in, 0, &c), LFC_OK);
    assert_int_equal(f->slots, 1);
    /* Slots left NULL still fall back. */
    uint64_t out[3];
    assert_status(lfc_recv_many(ch, out, 3, &c), LFC_OK);
    assert_int_equal(c, 3);
    assert_int_equal(f->singles, 3);
    lfc_chan_free(ch);
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks: helpers note when they sleep. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_einval_null_channel_and_count),
        cmocka_unit_test(test_batch_null_buffers_ok_for_elem_size_zero),
        cmocka_unit_test(test_batch_owned_channel_sends_einval),
        cmocka_unit_test(test_batch_zero_count_is_noop),
        cmocka_unit_test(test_batch_fifo_across_laps_any_capacity),
        cmocka_unit_test(test_batch_fifo_positions_wrap_2_64),
        cmocka_unit_test(
            test_batch_send_many_larger_than_capacity_blocks_until_received),
        cmocka_unit_test(test_batch_send_many_close_partial_sent_exact),
        cmocka_unit_test(test_batch_send_many_close_after_partial_drain),
        cmocka_unit_test(test_batch_send_many_until_timeout_partial_not_early),
        cmocka_unit_test(test_batch_recv_many_until_timeout_not_early),
        cmocka_unit_test(test_batch_try_send_many_fits_what_fits),
        cmocka_unit_test(test_batch_try_recv_many_statuses),
        cmocka_unit_test(
            test_batch_recv_many_returns_ready_without_waiting_for_max),
        cmocka_unit_test(test_batch_recv_many_parked_wakes_on_batch),
        cmocka_unit_test(test_batch_recv_many_parked_wakes_on_close),
        cmocka_unit_test(test_batch_send_many_one_wake_for_parked_receiver),
        cmocka_unit_test(test_batch_send_many_wakes_every_parked_receiver),
        cmocka_unit_test(test_batch_recv_many_wakes_every_parked_sender),
        cmocka_unit_test(
            test_batch_unbuffered_send_many_is_rendezvous_sequence),
        cmocka_unit_test(test_batch_unbuffered_recv_many_from_parked_sender),
        cmocka_unit_test(test_batch_unbuffered_close_partial),
        cmocka_unit_test(test_batch_unbuffered_try_and_timeout_without_partner),
        cmocka_unit_test(
            test_batch_interleaved_with_single_and_select_keeps_order),
        cmocka_unit_test(test_batch_parked_select_woken_by_batches),
        cmocka_unit_test(test_batch_flavor_without_slots_uses_single_ops),
        cmocka_unit_test(test_batch_flavor_slot_is_called),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
