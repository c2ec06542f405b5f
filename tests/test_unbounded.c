/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the unbounded channel (lfc_chan_new_unbounded,
 * include/lfchan/chan.h; src/chan/unbounded.c): every public operation and
 * status on it, close semantics, wake-ups of parked receivers and selects
 * (mixed with ring channels), the _ctx calls, dup/free lifetimes including
 * the reply-channel idiom, ENOMEM on a send, the counters' wraparound, and
 * memory going back to the system once a million values are drained.
 *
 * Rules kept: assertions on the test thread only; helpers run through
 * lfc_test_async.h, whose "parked" flag is set by a real futex wait (the
 * counting park ops installed in main), never guessed from a sleep; every
 * helper is joined under a bound; nothing about timing is asserted beyond
 * "a deadline never fires early".
 */
#define _GNU_SOURCE

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfc_unbounded_internal.h"
#include "lfchan.h"

/* Let an allocation that cannot succeed return NULL under the sanitizers
 * too, as with glibc: the ENOMEM test needs the send's malloc to fail. */
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

static lfc_chan *
ub_new(size_t esz)
{
    lfc_chan *ch = lfc_chan_new_unbounded(esz);
    assert_non_null(ch);
    return ch;
}

/* ---- construction and accessors --------------------------------------- */

static void
test_unbounded_new_cap_len_elem_size(void **state)
{
    (void)state;
    lfc_chan *ch = ub_new(24);
    assert_true(lfc_chan_cap(ch) == SIZE_MAX);
    assert_int_equal(lfc_chan_elem_size(ch), 24);
    assert_int_equal(lfc_chan_len(ch), 0);
    assert_false(lfc_chan_closed(ch));
    lfc_chan_free(ch);
}

static void
test_unbounded_new_elem_size_overflow_einval(void **state)
{
    (void)state;
    errno = 0;
    assert_null(lfc_chan_new_unbounded(SIZE_MAX));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_chan_new_unbounded(SIZE_MAX - 15));
    assert_int_equal(errno, EINVAL);
    /* Just below the bound is accepted: nothing is allocated per value
     * until a send (which then fails with LFC_ENOMEM, below). */
    lfc_chan *ch = lfc_chan_new_unbounded(SIZE_MAX - 16);
    assert_non_null(ch);
    lfc_chan_free(ch);
}

static void
test_unbounded_null_args_einval_keep_errno(void **state)
{
    (void)state;
    int v = 7;
    lfc_chan *ch = ub_new(sizeof(int));
    assert_status(lfc_send(ch, &v), LFC_OK);

    errno = 12345;
    assert_status(lfc_send(NULL, &v), LFC_EINVAL);
    assert_status(lfc_send(ch, NULL), LFC_EINVAL);
    assert_status(lfc_try_send(ch, NULL), LFC_EINVAL);
    assert_status(lfc_send_until(ch, NULL, LFC_FOREVER), LFC_EINVAL);
    assert_status(lfc_recv(ch, NULL), LFC_EINVAL);
    assert_status(lfc_try_recv(ch, NULL), LFC_EINVAL);
    assert_status(lfc_recv_until(ch, NULL, INT64_MIN), LFC_EINVAL);
    assert_status(lfc_send_ctx(ch, NULL, lfc_ctx_background()), LFC_EINVAL);
    assert_status(lfc_recv_ctx(ch, NULL, lfc_ctx_background()), LFC_EINVAL);
    assert_status(lfc_send_ctx(ch, &v, NULL), LFC_EINVAL);
    lfc_case c = {.ch = ch, .dir = LFC_RECV, .buf = NULL};
    assert_status(lfc_try_select(&c, 1), LFC_EINVAL);
    c.dir = LFC_SEND;
    assert_status(lfc_try_select(&c, 1), LFC_EINVAL);
    assert_int_equal(errno, 12345);

    /* The rejected calls lost and added nothing. */
    assert_int_equal(lfc_chan_len(ch), 1);
    int out = 0;
    assert_status(lfc_try_recv(ch, &out), LFC_OK);
    assert_int_equal(out, 7);
    assert_status(lfc_try_recv(ch, &out), LFC_AGAIN);
    lfc_chan_free(ch);
}

/* ---- FIFO, every send and receive form, len ---------------------------- */

static void
test_unbounded_fifo_every_call_len_snapshot(void **state)
{
    (void)state;
    enum { N = 3000 };
    lfc_chan *ch = ub_new(sizeof(uint64_t));
    for (uint64_t i = 0; i < N; i++) {
        int r;
        switch (i % 4) {
        case 0: r = lfc_send(ch, &i); break;
        case 1: r = lfc_try_send(ch, &i); break;
        case 2: r = lfc_send_until(ch, &i, INT64_MIN); break; /* never waits */
        default: r = lfc_send_ctx(ch, &i, lfc_ctx_background()); break;
        }
        assert_status(r, LFC_OK);
        assert_int_equal(lfc_chan_len(ch), i + 1);
    }
    for (uint64_t i = 0; i < N; i++) {
        uint64_t v = UINT64_MAX;
        int r;
        switch (i % 4) {
        case 0: r = lfc_recv(ch, &v); break;
        case 1: r = lfc_try_recv(ch, &v); break;
        case 2: r = lfc_recv_until(ch, &v, INT64_MIN); break;
        default: r = lfc_recv_ctx(ch, &v, lfc_ctx_background()); break;
        }
        assert_status(r, LFC_OK);
        assert_int_equal(v, i);
        assert_int_equal(lfc_chan_len(ch), N - 1 - i);
    }
    uint64_t v = 99;
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_status(lfc_recv_until(ch, &v, INT64_MIN), LFC_TIMEDOUT);
    assert_status(lfc_recv_until(ch, &v, 0), LFC_TIMEDOUT);
    assert_int_equal(v, 99); /* untouched */
    lfc_chan_free(ch);
}

static void
test_unbounded_signal_only_null_buffers(void **state)
{
    (void)state;
    lfc_chan *ch = ub_new(0);
    for (int i = 0; i < 10; i++)
        assert_status(lfc_try_send(ch, NULL), LFC_OK);
    assert_int_equal(lfc_chan_len(ch), 10);
    for (int i = 0; i < 10; i++)
        assert_status(lfc_recv(ch, NULL), LFC_OK);
    assert_status(lfc_try_recv(ch, NULL), LFC_AGAIN);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_recv(ch, NULL), LFC_CLOSED);
    lfc_chan_free(ch);
}

static void
test_unbounded_recv_until_empty_timedout_not_early(void **state)
{
    (void)state;
    int v = -1;
    lfc_chan *ch = ub_new(sizeof(int));
    int64_t deadline = lfc_now_ns() + LFC_TEST_SHORT_NS;
    assert_status(lfc_recv_until(ch, &v, deadline), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= deadline);
    assert_int_equal(v, -1);
    lfc_chan_free(ch);
}

/* A send whose node cannot be allocated: LFC_ENOMEM, nothing enqueued. */
static void
test_unbounded_send_enomem_enqueues_nothing(void **state)
{
    (void)state;
    char small[16] = {0};
    /* Values of 2^60 bytes: the channel itself is small; every node
     * allocation fails (before the value is read: small is enough). */
    lfc_chan *ch = ub_new((size_t)1 << 60);
    errno = 0;
    assert_status(lfc_try_send(ch, small), LFC_ENOMEM);
    assert_status(lfc_send(ch, small), LFC_ENOMEM);
    assert_status(lfc_send_until(ch, small, INT64_MIN), LFC_ENOMEM);
    lfc_case c = {.ch = ch, .dir = LFC_SEND, .buf = small};
    assert_int_equal(lfc_try_select(&c, 1), 0);
    assert_status(c.status, LFC_ENOMEM);
    assert_int_equal(errno, 0);
    assert_int_equal(lfc_chan_len(ch), 0);
    assert_status(lfc_try_recv(ch, small), LFC_AGAIN);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_try_recv(ch, small), LFC_CLOSED);
    lfc_chan_free(ch);
}

/* ---- close -------------------------------------------------------------- */

static void
test_unbounded_close_drains_then_closed(void **state)
{
    (void)state;
    lfc_chan *ch = ub_new(sizeof(int));
    for (int i = 0; i < 5; i++)
        assert_status(lfc_send(ch, &i), LFC_OK);
    assert_status(lfc_close(ch), LFC_OK);
    assert_true(lfc_chan_closed(ch));
    assert_status(lfc_close(ch), LFC_CLOSED);
    assert_status(lfc_close(ch), LFC_CLOSED);
    int v = 100;
    assert_status(lfc_send(ch, &v), LFC_CLOSED);
    assert_status(lfc_try_send(ch, &v), LFC_CLOSED);
    assert_status(lfc_send_until(ch, &v, INT64_MIN), LFC_CLOSED);
    assert_status(lfc_send_ctx(ch, &v, lfc_ctx_background()), LFC_CLOSED);
    assert_int_equal(lfc_chan_len(ch), 5);
    for (int i = 0; i < 5; i++) {
        assert_status(lfc_recv(ch, &v), LFC_OK);
        assert_int_equal(v, i);
    }
    v = -1;
    assert_status(lfc_recv(ch, &v), LFC_CLOSED);
    assert_status(lfc_try_recv(ch, &v), LFC_CLOSED);
    assert_status(lfc_recv_until(ch, &v, INT64_MIN), LFC_CLOSED);
    assert_status(lfc_recv_ctx(ch, &v, lfc_ctx_background()), LFC_CLOSED);
    assert_int_equal(v, -1);
    assert_int_equal(lfc_chan_len(ch), 0);
    assert_status(lfc_close(NULL), LFC_EINVAL);
    lfc_chan_free(ch);
}

struct recv_arg {
    lfc_chan *ch;
    int v;
    lfc_ctx *ctx;
};

static int
do_recv(void *p)
{
    struct recv_arg *a = p;
    return lfc_recv(a->ch, &a->v);
}

static int
do_recv_ctx(void *p)
{
    struct recv_arg *a = p;
    return lfc_recv_ctx(a->ch, &a->v, a->ctx);
}

static void
rescue_close(void *p)
{
    lfc_close(p);
}

static void
start_recv(struct lfc_test_async *a, lfc_test_async_fn fn, struct recv_arg *r)
{
    struct lfc_test_async_opts o = {.rescue = rescue_close,
                                    .rescue_arg = r->ch};
    lfc_test_async_start_with(a, fn, r, &o);
}

static void
test_unbounded_parked_receiver_wakes_on_send(void **state)
{
    (void)state;
    lfc_chan *ch = ub_new(sizeof(int));
    struct recv_arg r = {ch, -1, NULL};
    struct lfc_test_async a;
    start_recv(&a, do_recv, &r);
    lfc_test_async_wait_parked(&a, "recv on empty unbounded");
    int v = 42;
    assert_status(lfc_send(ch, &v), LFC_OK);
    assert_status(lfc_test_async_join(&a, "recv on empty unbounded"), LFC_OK);
    assert_int_equal(r.v, 42);
    lfc_chan_free(ch);
}

static void
test_unbounded_close_wakes_all_parked_receivers(void **state)
{
    (void)state;
    enum { K = 4 };
    lfc_chan *ch = ub_new(sizeof(int));
    struct recv_arg r[K];
    struct lfc_test_async a[K];
    for (int i = 0; i < K; i++) {
        r[i] = (struct recv_arg){ch, -1, NULL};
        start_recv(&a[i], do_recv, &r[i]);
    }
    for (int i = 0; i < K; i++)
        lfc_test_async_wait_parked(&a[i], "parked receiver");
    int v = 5;
    assert_status(lfc_send(ch, &v), LFC_OK); /* one of them takes it */
    assert_status(lfc_close(ch), LFC_OK);
    int ok = 0;
    for (int i = 0; i < K; i++) {
        int rc = lfc_test_async_join(&a[i], "parked receiver vs close");
        assert_true(rc == LFC_OK || rc == LFC_CLOSED);
        if (rc == LFC_OK) {
            assert_int_equal(r[i].v, 5);
            ok++;
        }
    }
    assert_int_equal(ok, 1);
    lfc_chan_free(ch);
}

/* ---- select ------------------------------------------------------------- */

static void
test_unbounded_select_mixed_with_ring(void **state)
{
    (void)state;
    lfc_chan *ub = ub_new(sizeof(int));
    lfc_chan *ring = lfc_chan_new(1, sizeof(int));
    assert_non_null(ring);
    int in = 0, rin = 0, out = 11;

    /* Receive: only the unbounded case is ready. */
    int v = 3;
    assert_status(lfc_send(ub, &v), LFC_OK);
    lfc_case c[2] = {{.ch = ring, .dir = LFC_RECV, .buf = &rin},
                     {.ch = ub, .dir = LFC_RECV, .buf = &in}};
    assert_int_equal(lfc_try_select(c, 2), 1);
    assert_status(c[1].status, LFC_OK);
    assert_int_equal(in, 3);
    assert_status(lfc_try_select(c, 2), LFC_AGAIN); /* both empty */

    /* Send: an unbounded send case is always ready. Fill the ring so
     * that its send case is not. */
    assert_status(lfc_send(ring, &v), LFC_OK);
    lfc_case s[2] = {{.ch = ring, .dir = LFC_SEND, .buf = &out},
                     {.ch = ub, .dir = LFC_SEND, .buf = &out}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lfc_select(s, 2), 1);
        assert_status(s[1].status, LFC_OK);
    }
    assert_int_equal(lfc_chan_len(ub), 3);
    assert_int_equal(lfc_select_until(s, 2, INT64_MIN), 1);
    assert_int_equal(lfc_select_biased(s, 2), 1);
    assert_int_equal(lfc_chan_len(ub), 5);

    /* Closed: the send case completes with LFC_CLOSED; the receive case
     * drains, then completes with LFC_CLOSED. */
    assert_status(lfc_close(ub), LFC_OK);
    assert_int_equal(lfc_select(s, 2), 1);
    assert_status(s[1].status, LFC_CLOSED);
    assert_status(lfc_recv(ring, &rin), LFC_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(lfc_select(c, 2), 1);
        assert_status(c[1].status, LFC_OK);
        assert_int_equal(in, 11);
    }
    assert_int_equal(lfc_select(c, 2), 1);
    assert_status(c[1].status, LFC_CLOSED);
    lfc_chan_free(ub);
    lfc_chan_free(ring);
}

struct sel_arg {
    lfc_case c[2];
    int v_ring, v_ub;
};

static int
do_select(void *p)
{
    struct sel_arg *a = p;
    return lfc_select(a->c, 2);
}

static void
rescue_close_all(void *p)
{
    struct sel_arg *a = p;
    lfc_close(a->c[0].ch);
    lfc_close(a->c[1].ch);
}

static void
start_select(struct lfc_test_async *a, struct sel_arg *s, lfc_chan *ring,
             lfc_chan *ub)
{
    *s = (struct sel_arg){.v_ring = -1, .v_ub = -1};
    s->c[0] = (lfc_case){.ch = ring, .dir = LFC_RECV, .buf = &s->v_ring};
    s->c[1] = (lfc_case){.ch = ub, .dir = LFC_RECV, .buf = &s->v_ub};
    struct lfc_test_async_opts o = {.rescue = rescue_close_all,
                                    .rescue_arg = s};
    lfc_test_async_start_with(a, do_select, s, &o);
}

static void
test_unbounded_parked_select_wakes_on_send_and_close(void **state)
{
    (void)state;
    lfc_chan *ub = ub_new(sizeof(int));
    lfc_chan *ring = lfc_chan_new(4, sizeof(int));
    assert_non_null(ring);
    struct sel_arg s;
    struct lfc_test_async a;

    start_select(&a, &s, ring, ub);
    lfc_test_async_wait_parked(&a, "select on empty ring + unbounded");
    int v = 77;
    assert_status(lfc_send(ub, &v), LFC_OK);
    assert_int_equal(lfc_test_async_join(&a, "select woken by send"), 1);
    assert_status(s.c[1].status, LFC_OK);
    assert_int_equal(s.v_ub, 77);

    start_select(&a, &s, ring, ub);
    lfc_test_async_wait_parked(&a, "select on empty ring + unbounded");
    assert_status(lfc_close(ub), LFC_OK);
    assert_int_equal(lfc_test_async_join(&a, "select woken by close"), 1);
    assert_status(s.c[1].status, LFC_CLOSED);
    lfc_chan_free(ub);
    lfc_chan_free(ring);
}

/* ---- contexts ----------------------------------------------------------- */

static void
test_unbounded_ctx_ops_cancel_and_values(void **state)
{
    (void)state;
    lfc_chan *ch = ub_new(sizeof(int));
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(ctx);
    int v = 8;
    assert_status(lfc_send_ctx(ch, &v, ctx), LFC_OK);
    v = 0;
    assert_status(lfc_recv_ctx(ch, &v, ctx), LFC_OK);
    assert_int_equal(v, 8);

    /* A parked lfc_recv_ctx returns LFC_CANCELED on cancel, and took
     * nothing. */
    struct recv_arg r = {ch, -1, ctx};
    struct lfc_test_async a;
    start_recv(&a, do_recv_ctx, &r);
    lfc_test_async_wait_parked(&a, "recv_ctx on empty unbounded");
    assert_status(lfc_ctx_cancel(ctx), LFC_OK);
    assert_status(lfc_test_async_join(&a, "recv_ctx vs cancel"), LFC_CANCELED);
    assert_int_equal(r.v, -1);

    /* Cancelled: a value that is there may still be taken or the cancel
     * reported; a send either enqueues or reports LFC_CANCELED, and what
     * it reports is what happened. */
    v = 9;
    int rc = lfc_send_ctx(ch, &v, ctx);
    assert_true(rc == LFC_OK || rc == LFC_CANCELED);
    assert_int_equal(lfc_chan_len(ch), rc == LFC_OK ? 1 : 0);
    lfc_ctx_free(ctx);
    lfc_chan_free(ch);
}

/* ---- lifetimes ------------------------------------------------------------ */

static void
test_unbounded_dup_free_and_free_with_values_queued(void **state)
{
    (void)state;
    lfc_chan *ch = ub_new(64);
    assert_ptr_equal(lfc_chan_dup(ch), ch);
    char buf[64];
    memset(buf, 0xab, sizeof(buf));
    for (int i = 0; i < 100; i++)
        assert_status(lfc_send(ch, buf), LFC_OK);
    lfc_chan_free(ch); /* the dup's reference */
    assert_int_equal(lfc_chan_len(ch), 100);
    assert_status(lfc_recv(ch, buf), LFC_OK);
    lfc_chan_free(ch); /* the last: frees the 99 still queued (LSan) */
}

/*
 * The reply-channel idiom (chan.h, "Ownership"): the requester dups its
 * reply channel for the worker, and frees its own reference as soon as
 * its receive returns, while the worker may still be inside its send
 * (signalling); the worker frees its reference after its send returns.
 * Under ASan any touch of a freed channel is a report.
 */
struct worker_arg {
    lfc_chan *requests; /* of lfc_chan * */
};

static void *
reply_worker(void *p)
{
    struct worker_arg *w = p;
    lfc_chan *reply;
    while (lfc_recv(w->requests, &reply) == LFC_OK) {
        int v = 1234;
        (void)lfc_send(reply, &v);
        lfc_chan_free(reply);
    }
    return NULL;
}

static void
test_unbounded_reply_channel_free_after_recv(void **state)
{
    (void)state;
    long rounds = lfc_test_scaled(20000, 500);
    struct worker_arg w = {ub_new(sizeof(lfc_chan *))};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reply_worker, &w), 0);
    for (long i = 0; i < rounds; i++) {
        lfc_chan *reply = ub_new(sizeof(int));
        lfc_chan *theirs = lfc_chan_dup(reply);
        assert_status(lfc_send(w.requests, &theirs), LFC_OK);
        int v = 0;
        assert_status(lfc_recv_until(reply, &v,
                                     lfc_now_ns() + LFC_TEST_STUCK_NS),
                      LFC_OK);
        assert_int_equal(v, 1234);
        lfc_chan_free(reply);
    }
    assert_status(lfc_close(w.requests), LFC_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    lfc_chan_free(w.requests);
}

/* ---- counters -------------------------------------------------------------- */

/* The enqueue and dequeue counters are compared mod 2^38 through a
 * difference: start them just below the wrap. */
static void
test_unbounded_len_counters_wrap_around(void **state)
{
    (void)state;
    uint64_t starts[] = {((uint64_t)1 << 38) - 5, ((uint64_t)1 << 38) - 1,
                         UINT64_MAX - 3};
    for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
        lfc_chan *ch = lfc__chan_new_unbounded_at(sizeof(int), starts[k]);
        assert_non_null(ch);
        assert_int_equal(lfc_chan_len(ch), 0);
        for (int i = 0; i < 10; i++) {
            assert_status(lfc_send(ch, &i), LFC_OK);
            assert_int_equal(lfc_chan_len(ch), (size_t)i + 1);
        }
        for (int i = 0; i < 10; i++) {
            int v;
            assert_status(lfc_recv(ch, &v), LFC_OK);
            assert_int_equal(v, i);
            assert_int_equal(lfc_chan_len(ch), (size_t)(9 - i));
        }
        lfc_chan_free(ch);
    }
}

/* ---- memory ------------------------------------------------------------------ */

static long
rss_pages(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident;
}

/*
 * Fill with 10^6 values, drain, and check that the memory went back.
 * glibc keeps freed chunks in its bins and fastbins (a drained channel's
 * nodes are exactly such small chunks), so the test calls malloc_trim(0),
 * which consolidates them and returns the free pages, before measuring;
 * the claim checked is that the channel freed its nodes, not that glibc
 * unmaps eagerly. The bound is generous: after the drain RSS may exceed
 * the start by at most a quarter of what the fill added (the fill adds
 * about 32 MB: 10^6 nodes of 16 bytes in 32-byte chunks).
 *
 * Under ASan and TSan the RSS assertion alone is skipped: their
 * allocators quarantine freed blocks (ASan's holds up to 256 MB) and do
 * not return them on malloc_trim, so RSS says nothing about the channel
 * there. The fill and drain still run, and LeakSanitizer checks that
 * nothing is leaked.
 */
static void
test_unbounded_memory_returns_after_drain(void **state)
{
    (void)state;
    enum { N = 1000000 };
    long page = sysconf(_SC_PAGESIZE);
    lfc_chan *ch = ub_new(sizeof(uint64_t));
    malloc_trim(0);
    long before = rss_pages();
    for (uint64_t i = 0; i < N; i++)
        assert_status(lfc_send(ch, &i), LFC_OK);
    long full = rss_pages();
    assert_int_equal(lfc_chan_len(ch), N);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t v;
        assert_status(lfc_try_recv(ch, &v), LFC_OK);
        if (v != i)
            fail_msg("value %llu at position %llu", (unsigned long long)v,
                     (unsigned long long)i);
    }
    assert_int_equal(lfc_chan_len(ch), 0);
    malloc_trim(0);
    long after = rss_pages();
    lfc_chan_free(ch);
    print_message("rss: %ld kB before, %ld kB full, %ld kB drained\n",
                  before * page / 1024, full * page / 1024,
                  after * page / 1024);
    if (LFC_TEST_SANITIZED)
        return; /* see above: RSS is the sanitizer allocator's */
    assert_true(before > 0 && full > 0 && after > 0);
    long grown = full - before;
    /* The measurement means something: the fill did use memory. */
    assert_true(grown * page >= 16L * 1024 * 1024);
    assert_true(after - before <= grown / 4);
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks: helpers note when they sleep. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbounded_new_cap_len_elem_size),
        cmocka_unit_test(test_unbounded_new_elem_size_overflow_einval),
        cmocka_unit_test(test_unbounded_null_args_einval_keep_errno),
        cmocka_unit_test(test_unbounded_fifo_every_call_len_snapshot),
        cmocka_unit_test(test_unbounded_signal_only_null_buffers),
        cmocka_unit_test(test_unbounded_recv_until_empty_timedout_not_early),
        cmocka_unit_test(test_unbounded_send_enomem_enqueues_nothing),
        cmocka_unit_test(test_unbounded_close_drains_then_closed),
        cmocka_unit_test(test_unbounded_parked_receiver_wakes_on_send),
        cmocka_unit_test(test_unbounded_close_wakes_all_parked_receivers),
        cmocka_unit_test(test_unbounded_select_mixed_with_ring),
        cmocka_unit_test(test_unbounded_parked_select_wakes_on_send_and_close),
        cmocka_unit_test(test_unbounded_ctx_ops_cancel_and_values),
        cmocka_unit_test(test_unbounded_dup_free_and_free_with_values_queued),
        cmocka_unit_test(test_unbounded_reply_channel_free_after_recv),
        cmocka_unit_test(test_unbounded_len_counters_wrap_around),
        cmocka_unit_test(test_unbounded_memory_returns_after_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
