/* SPDX-License-Identifier: MIT */
/*
 * Lifetimes (include/lfchan/chan.h "Ownership"): reference counting with
 * lfc_chan_dup / lfc_chan_free, and the channels the library owns.
 *
 * The first tests are the Go idioms that were use-after-frees before
 * channels had public references (found with ASan by a conformance suite):
 *   - a reply channel: a worker sends the answer on an unbuffered (or
 *     buffered) channel, the requester receives it and frees the channel
 *     at once, while the worker may still be inside lfc_send's wake-ups;
 *   - a detached generator: a thread sends, closes and returns, and the
 *     consumer frees the channel as soon as it sees LFC_CLOSED, while the
 *     generator may still be inside lfc_close.
 * Following the rule in chan.h, each thread holds its own reference; the
 * ASan build of this file is what checks that no call touches freed
 * memory. The values are checked too: every reply answers its request,
 * every generated value arrives once and in order.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lfchan.h"
#include "lfc_test_support.h"

/* ---- reference counting ----------------------------------------------- */

static void
test_dup_returns_same_channel(void **state)
{
    (void)state;
    assert_null(lfc_chan_dup(NULL));
    lfc_chan *ch = lfc_chan_new(2, sizeof(int));
    assert_non_null(ch);
    assert_ptr_equal(lfc_chan_dup(ch), ch);
    int v = 5;
    assert_status(lfc_send(ch, &v), LFC_OK);
    lfc_chan_free(ch); /* one reference left: still usable */
    assert_int_equal(lfc_chan_len(ch), 1);
    assert_status(lfc_recv(ch, &v), LFC_OK);
    assert_int_equal(v, 5);
    lfc_chan_free(ch); /* the last: ASan reports a leak if it is not */
}

/* ---- the reply-channel idiom ----------------------------------------- */

struct request {
    int question;
    lfc_chan *reply; /* the worker's own reference */
};

struct server {
    lfc_chan *requests; /* of struct request */
};

static void *
server_main(void *p)
{
    struct server *s = p;
    struct request rq;
    while (lfc_recv(s->requests, &rq) == LFC_OK) {
        int answer = rq.question * 2 + 1;
        int r = lfc_send(rq.reply, &answer);
        (void)r; /* LFC_OK; the requester checks the value */
        lfc_chan_free(rq.reply); /* done with it: drop our reference */
    }
    return NULL;
}

static void
run_reply_channels(size_t reply_cap)
{
    struct server s = {.requests = lfc_chan_new(16, sizeof(struct request))};
    assert_non_null(s.requests);
    enum { WORKERS = 2 };
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, server_main, &s), 0);
    long n = lfc_test_scaled(20000, 2000);
    for (long i = 0; i < n; i++) {
        lfc_chan *reply = lfc_chan_new(reply_cap, sizeof(int));
        assert_non_null(reply);
        struct request rq = {.question = (int)i, .reply = lfc_chan_dup(reply)};
        assert_status(lfc_send(s.requests, &rq), LFC_OK);
        int answer = -1;
        assert_status(lfc_recv(reply, &answer), LFC_OK);
        lfc_chan_free(reply); /* at once: the worker holds its own */
        assert_int_equal(answer, (int)i * 2 + 1);
    }
    assert_status(lfc_close(s.requests), LFC_OK);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    lfc_chan_free(s.requests);
}

static void
test_reply_channel_unbuffered(void **state)
{
    (void)state;
    run_reply_channels(0);
}

static void
test_reply_channel_buffered(void **state)
{
    (void)state;
    run_reply_channels(1);
}

/* ---- the detached generator idiom ------------------------------------ */

struct gen {
    lfc_chan *out; /* the generator's own reference */
    int count;
};

static void *
generator_main(void *p)
{
    struct gen *g = p;
    for (int i = 0; i < g->count; i++) {
        if (lfc_send(g->out, &i) != LFC_OK)
            break;
    }
    lfc_close(g->out);
    lfc_chan_free(g->out);
    free(g);
    return NULL;
}

/* A channel that receives 0 .. count-1 and is then closed, from a
 * detached thread: the caller owns the returned reference. */
static lfc_chan *
generate(size_t cap, int count)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(int));
    struct gen *g = malloc(sizeof(*g));
    if (!ch || !g)
        abort();
    g->out = lfc_chan_dup(ch);
    g->count = count;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    if (pthread_create(&th, &a, generator_main, g) != 0)
        abort();
    pthread_attr_destroy(&a);
    return ch;
}

static void
run_generators(size_t cap)
{
    long n = lfc_test_scaled(20000, 2000);
    for (long i = 0; i < n; i++) {
        int count = (int)(i % 3); /* 0, 1 or 2 values, then close */
        lfc_chan *ch = generate(cap, count);
        int v;
        int got = 0;
        while (lfc_recv(ch, &v) == LFC_OK) {
            assert_int_equal(v, got); /* in order, exactly once */
            got++;
        }
        lfc_chan_free(ch); /* on LFC_CLOSED, at once */
        assert_int_equal(got, count);
    }
}

static void
test_detached_generator_unbuffered(void **state)
{
    (void)state;
    run_generators(0);
}

static void
test_detached_generator_buffered(void **state)
{
    (void)state;
    run_generators(4);
}

/* ---- channels the library owns --------------------------------------- */

static void
check_receive_only(lfc_chan *ch, size_t elem_size)
{
    int64_t v = 0;
    void *buf = elem_size ? (void *)&v : NULL;
    assert_status(lfc_send(ch, buf), LFC_EINVAL);
    assert_status(lfc_try_send(ch, buf), LFC_EINVAL);
    assert_status(lfc_send_until(ch, buf, lfc_now_ns()), LFC_EINVAL);
    assert_status(lfc_close(ch), LFC_EINVAL);
    lfc_case c = {.ch = ch, .dir = LFC_SEND, .buf = buf};
    assert_status(lfc_try_select(&c, 1), LFC_EINVAL);
    assert_status(lfc_select_until(&c, 1, lfc_now_ns()), LFC_EINVAL);
    assert_false(lfc_chan_closed(ch));
    lfc_chan_free(ch); /* caught: not the user's reference */
    lfc_chan_free(ch);
}

static void
test_ctx_done_is_receive_only(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    lfc_chan *done = lfc_ctx_done(ctx);
    assert_non_null(done);
    check_receive_only(done, 0);
    /* The context still works: an empty channel's _ctx receive waits for
     * the cancel instead of returning LFC_OK with no value. */
    lfc_chan *ch = lfc_chan_new(1, sizeof(int));
    assert_non_null(ch);
    int v;
    assert_status(lfc_try_recv(done, NULL), LFC_AGAIN);
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    assert_status(lfc_recv_ctx(ch, &v, ctx), LFC_CANCELED);
    assert_status(lfc_recv(done, NULL), LFC_CLOSED);
    lfc_chan_free(ch);
    lfc_ctx_free(ctx);
}

static void
test_ctx_done_dup_outlives_ctx(void **state)
{
    (void)state;
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    lfc_chan *done = lfc_chan_dup(lfc_ctx_done(ctx));
    assert_non_null(done);
    lfc_ctx_free(ctx); /* cancels, closes done, drops the context's ref */
    assert_status(lfc_recv(done, NULL), LFC_CLOSED); /* ASan: still alive */
    assert_true(lfc_chan_closed(done));
    lfc_chan_free(done); /* the last reference: the channel is gone */
}

static void
test_background_done_never_ready(void **state)
{
    (void)state;
    lfc_chan *done = lfc_ctx_done(lfc_ctx_background());
    assert_non_null(done);
    check_receive_only(done, 0);
    assert_status(lfc_try_recv(done, NULL), LFC_AGAIN);
    assert_status(lfc_recv_until(done, NULL, lfc_now_ns()), LFC_TIMEDOUT);
    /* The _ctx calls work with the background context. */
    lfc_chan *ch = lfc_chan_new(1, sizeof(int));
    assert_non_null(ch);
    int v = 3;
    assert_status(lfc_send_ctx(ch, &v, lfc_ctx_background()), LFC_OK);
    assert_status(lfc_recv_ctx(ch, &v, lfc_ctx_background()), LFC_OK);
    assert_int_equal(v, 3);
    lfc_sem *s = lfc_sem_new(1);
    assert_non_null(s);
    assert_status(lfc_sem_acquire_ctx(s, 1, lfc_ctx_background()), LFC_OK);
    lfc_sem_release(s, 1);
    lfc_sem_free(s);
    lfc_chan_free(ch);
    /* A dup of the static channel is counted and released like any. */
    assert_ptr_equal(lfc_chan_dup(done), done);
    lfc_chan_free(done);
    assert_status(lfc_try_recv(done, NULL), LFC_AGAIN);
}

static void
test_timer_chan_is_receive_only(void **state)
{
    (void)state;
    lfc_timer *t = lfc_timer_after(0);
    assert_non_null(t);
    lfc_chan *ch = lfc_timer_chan(t);
    check_receive_only(ch, sizeof(int64_t));
    int64_t v;
    assert_status(lfc_recv(ch, &v), LFC_OK); /* still fires */
    lfc_timer_free(t);
}

static void
test_after_chan_stays_callers(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_after(0);
    assert_non_null(ch);
    int64_t v;
    assert_status(lfc_recv(ch, &v), LFC_OK);
    assert_status(lfc_close(ch), LFC_OK); /* an ordinary channel */
    lfc_chan_free(ch);
}

int
main(void)
{
    lfc_test_alarm(600);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dup_returns_same_channel),
        cmocka_unit_test(test_reply_channel_unbuffered),
        cmocka_unit_test(test_reply_channel_buffered),
        cmocka_unit_test(test_detached_generator_unbuffered),
        cmocka_unit_test(test_detached_generator_buffered),
        cmocka_unit_test(test_ctx_done_is_receive_only),
        cmocka_unit_test(test_ctx_done_dup_outlives_ctx),
        cmocka_unit_test(test_background_done_never_ready),
        cmocka_unit_test(test_timer_chan_is_receive_only),
        cmocka_unit_test(test_after_chan_stays_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
