/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan fan-in and fan-out (include/lfchan/merge.h):
 * lfc_merge_new[_ex], lfc_merge_stop, lfc_merge_free, lfc_fanout_new[_ex],
 * lfc_fanout_stop, lfc_fanout_free.
 *
 * Every expectation cites the header's contract:
 *   - merger: every value from every input arrives on out exactly once,
 *     in order per input, with inputs closing at random moments, over 2,
 *     8, 64 and 300 inputs (300 is above the fan-in of one thread, so a
 *     tree; a lowered fan-in builds a five-level tree), with unbuffered,
 *     capacity-1 and larger channels; out is closed only after every
 *     input is closed and drained, or left open with LFC_MERGE_KEEP_OPEN;
 *     lfc_merge_stop and an out closed early lose nothing (delivered,
 *     counted as dropped, or still in the input);
 *   - fan-out: round-robin gives each value to exactly one output, every
 *     output sees an increasing subsequence, and a full (never read)
 *     output does not hold the others up; broadcast gives each value to
 *     every output once, in order, and a slow output does not delay this
 *     value for the others; outputs close when in is drained (or stay
 *     open); stop and closed outputs lose nothing silently;
 *   - bad arguments give NULL with errno EINVAL; the threads are named
 *     and none is left after the _free calls.
 *
 * Go's pipelines article (https://go.dev/blog/pipelines, merge and
 * fan-out) is the model; its examples are rewritten here as checks of
 * every message.
 *
 * Rules kept here (as in test_select.c): cmocka assertions run only on the
 * test's thread; helper threads record what they saw and the test thread
 * checks after joining. Every wait is bounded (STUCK_NS), a watchdog
 * aborts a test that stops making progress, and the binary runs under an
 * alarm, so a lost wake-up fails instead of hanging. No speed or tight
 * timing is asserted. Sizes scale with LFC_TEST_SCALE.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfc_merge_internal.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* How long a receive the test expects to complete may take: only a lost
 * wake-up or a deadlock reaches it. */
#define STUCK_NS LFC_TEST_STUCK_NS

/* ---- helpers ------------------------------------------------------------ */

static struct lfc_watchdog g_dog;
static unsigned long g_progress;

static int
dog_setup(void **state)
{
    (void)state;
    lfc_watchdog_start(&g_dog, "test_merge (the last [ RUN ] test)",
                       &g_progress, 30); /* scaled by the watchdog */
    return 0;
}

static int
dog_teardown(void **state)
{
    (void)state;
    lfc__merge_set_fanin(0);
    lfc_watchdog_stop(&g_dog);
    return 0;
}

static void
bump(void)
{
    lfc_progress_bump(&g_progress);
}

static lfc_chan *
chan_new(size_t cap)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(uint64_t));
    assert_non_null(ch);
    return ch;
}

/* A value: which input (or 0 for fan-out) and its sequence number. */
static uint64_t
val(uint32_t input, uint32_t seq)
{
    return (uint64_t)input << 32 | seq;
}

static uint32_t
val_input(uint64_t v)
{
    return (uint32_t)(v >> 32);
}

static uint32_t
val_seq(uint64_t v)
{
    return (uint32_t)v;
}

/* Receive from ch with a generous bound; LFC_TIMEDOUT means stuck. */
static int
recv_bounded(lfc_chan *ch, uint64_t *v)
{
    return lfc_recv_until(ch, v, lfc_now_ns() + STUCK_NS);
}

static void
put(lfc_chan *ch, uint64_t v)
{
    assert_int_equal(lfc_try_send(ch, &v), LFC_OK);
}

/* ---- merger: exactly once, per-input order, random closes -------------- */

/*
 * A producer serves inputs ins[0..k) (global ids ids[]): it sends
 * val(id, 0..count-1) to each, picking the input at random for every
 * message, and closes each input right after its last message, so inputs
 * close at random moments (one with count 0 at once).
 */
struct producer {
    pthread_t th;
    lfc_chan **ins;
    uint32_t *ids;
    uint32_t *counts;
    size_t k;
    uint64_t seed;
    lfc_test_barrier *start;
    unsigned long bad; /* sends that did not return LFC_OK */
};

static void *
producer_main(void *arg)
{
    struct producer *p = arg;
    uint32_t *sent = calloc(p->k, sizeof(*sent));
    size_t *open = malloc(p->k * sizeof(*open)); /* inputs not yet done */
    size_t n_open = 0;
    for (size_t j = 0; j < p->k; j++)
        open[n_open++] = j;
    lfc_test_barrier_wait(p->start);
    while (n_open > 0) {
        size_t o = (size_t)(lfc_test_xorshift64(&p->seed) % n_open);
        size_t j = open[o];
        if (sent[j] < p->counts[j]) {
            uint64_t v = val(p->ids[j], sent[j]);
            if (lfc_send(p->ins[j], &v) != LFC_OK)
                p->bad++;
            sent[j]++;
            bump();
        }
        if (sent[j] == p->counts[j]) {
            lfc_close(p->ins[j]);
            open[o] = open[--n_open];
        }
        if ((lfc_test_xorshift64(&p->seed) & 255) == 0)
            sched_yield();
    }
    free(open);
    free(sent);
    return NULL;
}

struct merge_run {
    size_t n; /* inputs */
    size_t out_cap;
    const size_t *caps; /* input capacities, cycled */
    size_t n_caps;
    long per_input; /* mean messages per input (before scaling) */
    size_t fanin;   /* 0: the default */
    uint64_t seed;
};

static void
merge_run(const struct merge_run *r)
{
    size_t n = r->n;
    size_t n_prod = n < 8 ? n : 8;
    long max = lfc_test_scaled(2 * r->per_input, 2);
    uint64_t seed = r->seed;
    lfc_chan **ins = malloc(n * sizeof(*ins));
    uint32_t *ids = malloc(n * sizeof(*ids));
    uint32_t *counts = malloc(n * sizeof(*counts));
    uint64_t *base = malloc((n + 1) * sizeof(*base));
    uint32_t *next = calloc(n, sizeof(*next));
    assert_non_null(ins);
    assert_non_null(ids);
    assert_non_null(counts);
    assert_non_null(base);
    assert_non_null(next);

    base[0] = 0;
    for (size_t i = 0; i < n; i++) {
        ins[i] = chan_new(r->caps[i % r->n_caps]);
        ids[i] = (uint32_t)i;
        /* Some inputs send nothing and close at once. */
        counts[i] =
            (lfc_test_xorshift64(&seed) % 8 == 0)
                ? 0
                : (uint32_t)(lfc_test_xorshift64(&seed) % (uint64_t)max);
        base[i + 1] = base[i] + counts[i];
    }
    uint64_t total = base[n];
    uint8_t *seen = calloc(total + 1, 1); /* the exactly-once bitmap */
    assert_non_null(seen);
    lfc_chan *out = chan_new(r->out_cap);

    lfc__merge_set_fanin(r->fanin);
    lfc_merger *m = lfc_merge_new(ins, n, out);
    assert_non_null(m);

    /* Producer t serves inputs t, t + n_prod, ... */
    struct producer *prods = calloc(n_prod, sizeof(*prods));
    lfc_test_barrier start;
    lfc_test_barrier_init(&start, (unsigned)n_prod + 1);
    for (size_t t = 0; t < n_prod; t++) {
        struct producer *p = &prods[t];
        p->ins = malloc(n * sizeof(*p->ins));
        p->ids = malloc(n * sizeof(*p->ids));
        p->counts = malloc(n * sizeof(*p->counts));
        for (size_t i = t; i < n; i += n_prod) {
            p->ins[p->k] = ins[i];
            p->ids[p->k] = ids[i];
            p->counts[p->k] = counts[i];
            p->k++;
        }
        p->seed = seed ^ (0x9e3779b97f4a7c15u * (t + 1));
        p->start = &start;
        assert_int_equal(pthread_create(&p->th, NULL, producer_main, p), 0);
    }
    lfc_test_barrier_wait(&start);

    /* Consume on this thread, checking as we go; failures are recorded
     * and asserted once every thread is joined. */
    uint64_t got = 0;
    unsigned long dup = 0, order = 0, range = 0;
    int end;
    uint64_t v;
    while ((end = recv_bounded(out, &v)) == LFC_OK) {
        uint32_t in = val_input(v), seq = val_seq(v);
        bump();
        if (in >= n || seq >= counts[in]) {
            range++;
            continue;
        }
        if (seq != next[in])
            order++; /* out of order, or one before it was lost */
        next[in] = seq + 1;
        if (seen[base[in] + seq]++)
            dup++;
        got++;
        if ((got & 127) == 0)
            sched_yield(); /* let out fill up now and then */
    }
    if (end != LFC_CLOSED) {
        /* Stuck: unblock everything so the threads can be joined. */
        lfc_close(out);
        for (size_t i = 0; i < n; i++)
            lfc_close(ins[i]);
    }
    unsigned long bad = 0;
    for (size_t t = 0; t < n_prod; t++) {
        pthread_join(prods[t].th, NULL);
        bad += prods[t].bad;
        free(prods[t].ins);
        free(prods[t].ids);
        free(prods[t].counts);
    }
    uint64_t dropped = lfc_merge_free(m);
    lfc_test_barrier_destroy(&start);

    if (end != LFC_CLOSED)
        fail_msg("receive from out returned %d (%s) after %llu of %llu "
                 "values: out never closed",
                 end, lfc_strerror(end), (unsigned long long)got,
                 (unsigned long long)total);
    assert_int_equal(bad, 0);
    assert_int_equal(range, 0);
    assert_int_equal(dup, 0);
    assert_int_equal(order, 0);
    assert_int_equal(dropped, 0);
    assert_int_equal(got, total);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(next[i], counts[i]);

    free(prods);
    for (size_t i = 0; i < n; i++)
        lfc_chan_free(ins[i]);
    lfc_chan_free(out);
    free(seen);
    free(next);
    free(base);
    free(counts);
    free(ids);
    free(ins);
}

static const size_t caps_mixed[] = {0, 1, 16, 3};
static const size_t caps_buffered[] = {4};
static const size_t caps_unbuffered[] = {0};
static const size_t caps_one[] = {1};

static void
test_merge_exactly_once_order_random_close_2(void **state)
{
    (void)state;
    struct merge_run r = {2, 16, caps_buffered, 1, 10000, 0, 11};
    merge_run(&r);
}

static void
test_merge_exactly_once_order_random_close_8(void **state)
{
    (void)state;
    struct merge_run r = {8, 1, caps_mixed, 4, 3000, 0, 12};
    merge_run(&r);
}

static void
test_merge_exactly_once_order_random_close_64(void **state)
{
    (void)state;
    struct merge_run r = {64, 64, caps_mixed, 4, 400, 0, 13};
    merge_run(&r);
}

/* 300 inputs: above one thread's fan-in, so a tree (10 leaves, a root). */
static void
test_merge_exactly_once_order_random_close_300_tree(void **state)
{
    (void)state;
    struct merge_run r = {300, 0, caps_mixed, 4, 80, 0, 14};
    merge_run(&r);
}

/* Fan-in 4 over 300 inputs: 75 leaves, 19, 5, 2, a root (five levels). */
static void
test_merge_exactly_once_order_random_close_deep_tree(void **state)
{
    (void)state;
    struct merge_run r = {300, 1, caps_mixed, 4, 60, 4, 15};
    merge_run(&r);
}

static void
test_merge_exactly_once_order_unbuffered(void **state)
{
    (void)state;
    struct merge_run r = {8, 0, caps_unbuffered, 1, 1500, 0, 16};
    merge_run(&r);
    struct merge_run t = {100, 0, caps_unbuffered, 1, 40, 0, 17};
    merge_run(&t);
}

static void
test_merge_exactly_once_order_cap1(void **state)
{
    (void)state;
    struct merge_run r = {8, 1, caps_one, 1, 1500, 0, 18};
    merge_run(&r);
    struct merge_run t = {100, 1, caps_one, 1, 40, 0, 19};
    merge_run(&t);
}

/* ---- merger: closing out, keeping it open ----------------------------- */

static void
test_merge_closes_out_only_after_all_inputs_drained(void **state)
{
    (void)state;
    lfc_chan *ins[3] = {chan_new(4), chan_new(4), chan_new(4)};
    lfc_chan *out = chan_new(16);
    for (uint32_t i = 0; i < 3; i++) {
        put(ins[i], val(i, 0));
        put(ins[i], val(i, 1));
    }
    lfc_close(ins[0]);
    lfc_close(ins[1]);
    lfc_merger *m = lfc_merge_new(ins, 3, out);
    assert_non_null(m);

    uint32_t next[3] = {0, 0, 0};
    uint64_t v;
    for (int k = 0; k < 6; k++) {
        assert_int_equal(recv_bounded(out, &v), LFC_OK);
        assert_true(val_input(v) < 3);
        assert_int_equal(val_seq(v), next[val_input(v)]++);
    }
    /* ins[2] is open: out must stay open and empty. Nothing can say that
     * the forwarding threads have settled (they are the library's, not
     * helpers the park hook follows): give a wrong close time to happen;
     * a correct merger passes however long they take. */
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    assert_false(lfc_chan_closed(out));
    assert_int_equal(lfc_try_recv(out, &v), LFC_AGAIN);

    put(ins[2], val(2, 2));
    lfc_close(ins[2]);
    assert_int_equal(recv_bounded(out, &v), LFC_OK);
    assert_int_equal(v, val(2, 2));
    assert_int_equal(recv_bounded(out, &v), LFC_CLOSED);
    assert_int_equal(lfc_merge_free(m), 0);
    for (int i = 0; i < 3; i++)
        lfc_chan_free(ins[i]);
    lfc_chan_free(out);
}

/* With LFC_MERGE_KEEP_OPEN, out stays open after the inputs are done;
 * lfc_merge_free joins. 40 inputs: a tree, so the root's own keep-open
 * is what counts, not the leaves'. */
static void
test_merge_keep_open_leaves_out_open(void **state)
{
    (void)state;
    enum { N = 40 };
    lfc_chan *ins[N];
    lfc_chan *out = chan_new(2 * N);
    for (uint32_t i = 0; i < N; i++) {
        ins[i] = chan_new(2);
        put(ins[i], val(i, 0));
        put(ins[i], val(i, 1));
        lfc_close(ins[i]);
    }
    lfc_merger *m = lfc_merge_new_ex(ins, N, out, LFC_MERGE_KEEP_OPEN);
    assert_non_null(m);
    assert_int_equal(lfc_merge_free(m), 0); /* inputs done: returns */
    assert_false(lfc_chan_closed(out));
    assert_int_equal(lfc_chan_len(out), 2 * N);

    uint32_t next[N] = {0};
    uint64_t v;
    for (int k = 0; k < 2 * N; k++) {
        assert_int_equal(lfc_try_recv(out, &v), LFC_OK);
        assert_true(val_input(v) < N);
        assert_int_equal(val_seq(v), next[val_input(v)]++);
    }
    assert_int_equal(lfc_try_recv(out, &v), LFC_AGAIN);
    /* Another sender may still use it. */
    put(out, 42);
    assert_int_equal(lfc_try_recv(out, &v), LFC_OK);
    for (int i = 0; i < N; i++)
        lfc_chan_free(ins[i]);
    lfc_chan_free(out);
}

/* elem_size 0 (signals) works like any size. */
static void
test_merge_signal_only_channels(void **state)
{
    (void)state;
    lfc_chan *ins[3];
    lfc_chan *out = lfc_chan_new(0, 0);
    assert_non_null(out);
    for (int i = 0; i < 3; i++) {
        ins[i] = lfc_chan_new(4, 0);
        assert_non_null(ins[i]);
        for (int k = 0; k < 4; k++)
            assert_int_equal(lfc_try_send(ins[i], NULL), LFC_OK);
        lfc_close(ins[i]);
    }
    lfc_merger *m = lfc_merge_new(ins, 3, out);
    assert_non_null(m);
    int got = 0;
    int r;
    while ((r = lfc_recv_until(out, NULL, lfc_now_ns() + STUCK_NS)) == LFC_OK)
        got++;
    assert_int_equal(r, LFC_CLOSED);
    assert_int_equal(got, 12);
    assert_int_equal(lfc_merge_free(m), 0);
    for (int i = 0; i < 3; i++)
        lfc_chan_free(ins[i]);
    lfc_chan_free(out);
}

/* ---- merger: stop and out closed early lose nothing ------------------- */

/*
 * n inputs of capacity K, each prefilled with val(i, 0..K-1) and left
 * open. The test receives `take` values from out (unbuffered), then
 * either calls lfc_merge_stop and receives until LFC_CLOSED, or closes
 * out. Then every value must be accounted for exactly once: received
 * (in order per input), counted as dropped, or still in its input, after
 * everything received from that input.
 */
static void
merge_interrupt(size_t n, bool stop, unsigned take)
{
    enum { K = 16 };
    lfc_chan **ins = malloc(n * sizeof(*ins));
    uint32_t *next = calloc(n, sizeof(*next));
    uint8_t *seen = calloc(n * K, 1);
    assert_non_null(ins);
    assert_non_null(next);
    assert_non_null(seen);
    for (size_t i = 0; i < n; i++) {
        ins[i] = chan_new(K);
        for (uint32_t s = 0; s < K; s++)
            put(ins[i], val((uint32_t)i, s));
    }
    lfc_chan *out = chan_new(0);
    lfc_merger *m = lfc_merge_new(ins, n, out);
    assert_non_null(m);

    uint64_t got = 0;
    uint64_t v;
    int r = LFC_OK;
    while (got < take && (r = recv_bounded(out, &v)) == LFC_OK) {
        uint32_t in = val_input(v), s = val_seq(v);
        assert_true(in < n && s < K);
        assert_true(s >= next[in]);
        next[in] = s + 1;
        assert_int_equal(seen[in * K + s]++, 0);
        got++;
    }
    assert_int_equal(r, LFC_OK);
    uint64_t dropped;
    if (stop) {
        assert_int_equal(lfc_merge_stop(m), LFC_OK);
        assert_int_equal(lfc_merge_stop(m), LFC_OK); /* idempotent */
        uint64_t before = got;
        while ((r = recv_bounded(out, &v)) == LFC_OK) {
            uint32_t in = val_input(v), s = val_seq(v);
            assert_true(in < n && s < K);
            assert_true(s >= next[in]);
            next[in] = s + 1;
            assert_int_equal(seen[in * K + s]++, 0);
            got++;
        }
        assert_int_equal(r, LFC_CLOSED);
        /* One thread (n <= 31): after stop, only the value in hand and
         * one receive already in progress may still come. */
        if (n <= 31)
            assert_true(got - before <= 2);
        dropped = lfc_merge_free(m);
        assert_int_equal(dropped, 0);
    } else {
        lfc_close(out);
        dropped = lfc_merge_free(m);
    }

    /* What the merger did not take is still in the inputs, in order,
     * after what it took; the inputs were not closed. */
    uint64_t left = 0;
    for (size_t i = 0; i < n; i++) {
        assert_false(lfc_chan_closed(ins[i]));
        uint32_t prev = 0;
        bool first = true;
        while (lfc_try_recv(ins[i], &v) == LFC_OK) {
            uint32_t s = val_seq(v);
            assert_int_equal(val_input(v), i);
            assert_true(s >= next[i]);
            assert_true(first || s > prev);
            assert_int_equal(seen[i * K + s]++, 0);
            prev = s;
            first = false;
            left++;
        }
    }
    /* The rest were dropped (only possible when out was closed). */
    assert_int_equal(got + dropped + left, (uint64_t)n * K);
    if (stop)
        assert_true(left > 0 || take >= n * K);

    for (size_t i = 0; i < n; i++)
        lfc_chan_free(ins[i]);
    lfc_chan_free(out);
    free(seen);
    free(next);
    free(ins);
}

static void
test_merge_stop_loses_nothing(void **state)
{
    (void)state;
    merge_interrupt(8, true, 40);
    merge_interrupt(8, true, 0);
    merge_interrupt(100, true, 300); /* a tree */
}

static void
test_merge_out_closed_early_counts_dropped(void **state)
{
    (void)state;
    merge_interrupt(8, false, 40);
    merge_interrupt(100, false, 300); /* a tree: values inside it count */
    lfc__merge_set_fanin(3);
    merge_interrupt(100, false, 50); /* a deep tree */
}

/* Out closed before the merger starts: the first value is dropped and
 * counted, and nothing more is taken. */
static void
test_merge_out_closed_before_start(void **state)
{
    (void)state;
    lfc_chan *ins[2] = {chan_new(4), chan_new(4)};
    lfc_chan *out = chan_new(4);
    put(ins[0], val(0, 0));
    put(ins[0], val(0, 1));
    put(ins[1], val(1, 0));
    lfc_close(out);
    lfc_merger *m = lfc_merge_new(ins, 2, out);
    assert_non_null(m);
    assert_int_equal(lfc_merge_free(m), 1);
    assert_int_equal(lfc_chan_len(ins[0]) + lfc_chan_len(ins[1]), 2);
    lfc_chan_free(ins[0]);
    lfc_chan_free(ins[1]);
    lfc_chan_free(out);
}

/* ---- fan-out ------------------------------------------------------------ */

/* A reader of one output: receives until LFC_CLOSED, keeping the values. */
struct reader {
    pthread_t th;
    lfc_chan *ch;
    uint64_t *vals;
    size_t cap;
    size_t n;
    int end;       /* the status that ended the loop */
    bool overflow; /* more values than cap */
    bool slow;     /* yield now and then */
};

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    uint64_t v;
    while ((r->end = recv_bounded(r->ch, &v)) == LFC_OK) {
        if (r->n < r->cap)
            r->vals[r->n++] = v;
        else
            r->overflow = true;
        bump();
        if (r->slow && (r->n & 15) == 0)
            sched_yield();
    }
    return NULL;
}

static void
reader_start(struct reader *r, lfc_chan *ch, size_t cap, bool slow)
{
    memset(r, 0, sizeof(*r));
    r->ch = ch;
    r->cap = cap;
    r->slow = slow;
    r->vals = malloc(cap * sizeof(*r->vals));
    assert_non_null(r->vals);
    assert_int_equal(pthread_create(&r->th, NULL, reader_main, r), 0);
}

/* Joins; the reader must have ended on LFC_CLOSED. */
static void
reader_join(struct reader *r)
{
    pthread_join(r->th, NULL);
    assert_int_equal(r->end, LFC_CLOSED);
    assert_false(r->overflow);
}

/* Sends 0..m-1 to in (blocking), then closes it. */
static void
send_all(lfc_chan *in, uint64_t m)
{
    for (uint64_t v = 0; v < m; v++) {
        assert_int_equal(lfc_send_until(in, &v, lfc_now_ns() + STUCK_NS),
                         LFC_OK);
        bump();
    }
    lfc_close(in);
}

static void
test_fanout_round_robin_exactly_once_in_order(void **state)
{
    (void)state;
    enum { N = 4 };
    static const size_t caps[N] = {0, 1, 4, 16};
    uint64_t m = (uint64_t)lfc_test_scaled(20000, 200);
    lfc_chan *in = chan_new(16);
    lfc_chan *outs[N];
    struct reader rd[N];
    for (int i = 0; i < N; i++)
        outs[i] = chan_new(caps[i]);
    lfc_fanout *f = lfc_fanout_new(in, outs, N, LFC_FANOUT_ROUND_ROBIN);
    assert_non_null(f);
    for (int i = 0; i < N; i++)
        reader_start(&rd[i], outs[i], (size_t)m, i == 1);
    send_all(in, m);
    for (int i = 0; i < N; i++)
        reader_join(&rd[i]);
    assert_int_equal(lfc_fanout_free(f), 0);

    uint8_t *seen = calloc(m, 1);
    assert_non_null(seen);
    uint64_t total = 0;
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < rd[i].n; k++) {
            uint64_t v = rd[i].vals[k];
            assert_true(v < m);
            assert_true(k == 0 || v > rd[i].vals[k - 1]); /* increasing */
            assert_int_equal(seen[v]++, 0);
        }
        total += rd[i].n;
        free(rd[i].vals);
        assert_true(lfc_chan_closed(outs[i]));
        lfc_chan_free(outs[i]);
    }
    assert_int_equal(total, m);
    free(seen);
    lfc_chan_free(in);
}

/*
 * outs[0] is never read until the end: round-robin must skip it and keep
 * feeding the others; it ends up with at most its capacity (1, or 0 when
 * unbuffered: an unbuffered output takes a value only from a reader).
 */
static void
fanout_full_output(size_t cap0)
{
    enum { N = 3 };
    uint64_t m = (uint64_t)lfc_test_scaled(10000, 100);
    lfc_chan *in = chan_new(4);
    lfc_chan *outs[N] = {chan_new(cap0), chan_new(0), chan_new(4)};
    struct reader rd[N - 1];
    lfc_fanout *f = lfc_fanout_new(in, outs, N, LFC_FANOUT_ROUND_ROBIN);
    assert_non_null(f);
    for (int i = 1; i < N; i++)
        reader_start(&rd[i - 1], outs[i], (size_t)m, false);
    send_all(in, m); /* would hang if outs[0] held the others up */
    for (int i = 1; i < N; i++)
        reader_join(&rd[i - 1]);
    assert_int_equal(lfc_fanout_free(f), 0);

    uint8_t *seen = calloc(m, 1);
    assert_non_null(seen);
    uint64_t total = 0;
    for (int i = 0; i < N - 1; i++) {
        for (size_t k = 0; k < rd[i].n; k++) {
            uint64_t v = rd[i].vals[k];
            assert_true(v < m);
            assert_true(k == 0 || v > rd[i].vals[k - 1]);
            assert_int_equal(seen[v]++, 0);
        }
        total += rd[i].n;
        free(rd[i].vals);
    }
    uint64_t v;
    size_t in0 = 0;
    while (lfc_try_recv(outs[0], &v) == LFC_OK) {
        assert_true(v < m);
        assert_int_equal(seen[v]++, 0);
        in0++;
    }
    assert_true(in0 <= cap0);
    assert_true(lfc_chan_closed(outs[0]));
    assert_int_equal(total + in0, m);
    free(seen);
    for (int i = 0; i < N; i++)
        lfc_chan_free(outs[i]);
    lfc_chan_free(in);
}

static void
test_fanout_round_robin_skips_full_output(void **state)
{
    (void)state;
    fanout_full_output(1);
    fanout_full_output(0);
}

static void
test_fanout_broadcast_exactly_once_per_output_in_order(void **state)
{
    (void)state;
    enum { N = 3 };
    static const size_t caps[N] = {0, 1, 8};
    uint64_t m = (uint64_t)lfc_test_scaled(10000, 100);
    lfc_chan *in = chan_new(1);
    lfc_chan *outs[N];
    struct reader rd[N];
    for (int i = 0; i < N; i++)
        outs[i] = chan_new(caps[i]);
    lfc_fanout *f = lfc_fanout_new(in, outs, N, LFC_FANOUT_BROADCAST);
    assert_non_null(f);
    for (int i = 0; i < N; i++)
        reader_start(&rd[i], outs[i], (size_t)m, i == 2);
    send_all(in, m);
    for (int i = 0; i < N; i++)
        reader_join(&rd[i]);
    assert_int_equal(lfc_fanout_free(f), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rd[i].n, m);
        for (size_t k = 0; k < rd[i].n; k++)
            assert_int_equal(rd[i].vals[k], k);
        free(rd[i].vals);
        lfc_chan_free(outs[i]);
    }
    lfc_chan_free(in);
}

/* A value reaches the outputs that can take it while another output has
 * no reader yet (no timing: the fast output must get it before the slow
 * one is ever read, however long that takes). */
static void
test_fanout_broadcast_slow_output_does_not_delay_others(void **state)
{
    (void)state;
    lfc_chan *in = chan_new(1);
    lfc_chan *outs[3] = {chan_new(0), chan_new(0), chan_new(2)};
    lfc_fanout *f = lfc_fanout_new(in, outs, 3, LFC_FANOUT_BROADCAST);
    assert_non_null(f);
    uint64_t v = 7;
    put(in, v);
    assert_int_equal(recv_bounded(outs[2], &v), LFC_OK);
    assert_int_equal(v, 7);
    assert_int_equal(recv_bounded(outs[1], &v), LFC_OK);
    assert_int_equal(v, 7);
    assert_int_equal(recv_bounded(outs[0], &v), LFC_OK); /* the slow one */
    assert_int_equal(v, 7);
    lfc_close(in);
    for (int i = 0; i < 3; i++)
        assert_int_equal(recv_bounded(outs[i], &v), LFC_CLOSED);
    assert_int_equal(lfc_fanout_free(f), 0);
    for (int i = 0; i < 3; i++)
        lfc_chan_free(outs[i]);
    lfc_chan_free(in);
}

static void
fanout_closes(int mode, unsigned flags)
{
    lfc_chan *in = chan_new(8);
    lfc_chan *outs[2] = {chan_new(8), chan_new(8)};
    for (uint64_t v = 0; v < 5; v++)
        put(in, v);
    lfc_close(in);
    lfc_fanout *f = lfc_fanout_new_ex(in, outs, 2, mode, flags);
    assert_non_null(f);
    assert_int_equal(lfc_fanout_free(f), 0); /* in drained: returns */
    bool keep = flags & LFC_FANOUT_KEEP_OPEN;
    size_t want = mode == LFC_FANOUT_BROADCAST ? 10 : 5;
    assert_int_equal(lfc_chan_len(outs[0]) + lfc_chan_len(outs[1]), want);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(lfc_chan_closed(outs[i]), !keep);
        lfc_chan_free(outs[i]);
    }
    lfc_chan_free(in);
}

static void
test_fanout_closes_outputs_when_in_drained(void **state)
{
    (void)state;
    fanout_closes(LFC_FANOUT_ROUND_ROBIN, 0);
    fanout_closes(LFC_FANOUT_BROADCAST, 0);
}

static void
test_fanout_keep_open_leaves_outputs_open(void **state)
{
    (void)state;
    fanout_closes(LFC_FANOUT_ROUND_ROBIN, LFC_FANOUT_KEEP_OPEN);
    fanout_closes(LFC_FANOUT_BROADCAST, LFC_FANOUT_KEEP_OPEN);
}

/*
 * Stop with the outputs full and the value in hand blocked: the value is
 * still delivered once read, the outputs then close, and what was not
 * taken stays in `in` (open), after everything taken.
 */
static void
fanout_stop(int mode)
{
    enum { M = 64 };
    lfc_chan *in = chan_new(M);
    lfc_chan *outs[2] = {chan_new(2), chan_new(3)};
    for (uint64_t v = 0; v < M; v++)
        put(in, v);
    lfc_fanout *f = lfc_fanout_new(in, outs, 2, mode);
    assert_non_null(f);
    /* Stop once the outputs are full: outs[0] (capacity 2) takes every
     * other value in round-robin mode and every value in broadcast, so it
     * fills first, and the fan-out then holds (or is fetching) the next
     * value, blocked on it. */
    int64_t end = lfc_now_ns() + STUCK_NS;
    while (lfc_chan_len(outs[0]) < 2 && lfc_now_ns() < end)
        lfc_test_sleep_ns(100 * LFC_TEST_US);
    assert_int_equal(lfc_chan_len(outs[0]), 2);
    assert_int_equal(lfc_fanout_stop(f), LFC_OK);
    assert_int_equal(lfc_fanout_stop(f), LFC_OK);

    uint8_t seen[M] = {0};
    uint64_t last = 0;
    uint64_t v;
    for (int i = 0; i < 2; i++) {
        int r;
        uint64_t prev = 0;
        bool first = true;
        while ((r = recv_bounded(outs[i], &v)) == LFC_OK) {
            assert_true(v < M);
            assert_true(first || v > prev);
            prev = v;
            first = false;
            seen[v]++;
            if (v + 1 > last)
                last = v + 1;
        }
        assert_int_equal(r, LFC_CLOSED);
    }
    assert_int_equal(lfc_fanout_free(f), 0);
    assert_false(lfc_chan_closed(in));
    uint64_t left = 0;
    while (lfc_try_recv(in, &v) == LFC_OK) {
        assert_true(v >= last); /* after everything taken */
        seen[v]++;
        left++;
    }
    for (int k = 0; k < M; k++) {
        if (mode == LFC_FANOUT_BROADCAST && k < (int)last)
            assert_int_equal(seen[k], 2);
        else
            assert_int_equal(seen[k], 1);
    }
    /* Taken: at most what fills the outputs (2 + 3), the value in hand
     * and one receive in progress at the stop. */
    assert_true(M - left <= 2 + 3 + 2);
    for (int i = 0; i < 2; i++)
        lfc_chan_free(outs[i]);
    lfc_chan_free(in);
}

static void
test_fanout_stop_loses_nothing(void **state)
{
    (void)state;
    fanout_stop(LFC_FANOUT_ROUND_ROBIN);
    fanout_stop(LFC_FANOUT_BROADCAST);
}

/* A closed output is removed; round-robin loses nothing while another is
 * open; broadcast counts the one value it could not give it. */
static void
test_fanout_closed_output_removed_and_counted(void **state)
{
    (void)state;
    for (int mode = LFC_FANOUT_ROUND_ROBIN; mode <= LFC_FANOUT_BROADCAST;
         mode++) {
        lfc_chan *in = chan_new(4);
        lfc_chan *outs[2] = {chan_new(8), chan_new(8)};
        lfc_close(outs[1]);
        for (uint64_t v = 0; v < 4; v++)
            put(in, v);
        lfc_close(in);
        lfc_fanout *f = lfc_fanout_new(in, outs, 2, mode);
        assert_non_null(f);
        uint64_t dropped = lfc_fanout_free(f);
        assert_int_equal(dropped, mode == LFC_FANOUT_BROADCAST ? 1 : 0);
        uint64_t v;
        for (uint64_t k = 0; k < 4; k++) {
            assert_int_equal(lfc_try_recv(outs[0], &v), LFC_OK);
            assert_int_equal(v, k);
        }
        assert_int_equal(lfc_try_recv(outs[0], &v), LFC_CLOSED);
        lfc_chan_free(outs[0]);
        lfc_chan_free(outs[1]);
        lfc_chan_free(in);
    }
}

/* Every output closed: the value in hand is counted, and the fan-out
 * stops receiving (the rest stays in `in`). */
static void
test_fanout_all_outputs_closed_stops(void **state)
{
    (void)state;
    for (int mode = LFC_FANOUT_ROUND_ROBIN; mode <= LFC_FANOUT_BROADCAST;
         mode++) {
        lfc_chan *in = chan_new(4);
        lfc_chan *outs[2] = {chan_new(1), chan_new(0)};
        lfc_close(outs[0]);
        lfc_close(outs[1]);
        for (uint64_t v = 0; v < 3; v++)
            put(in, v);
        lfc_fanout *f = lfc_fanout_new(in, outs, 2, mode);
        assert_non_null(f);
        uint64_t dropped = lfc_fanout_free(f); /* returns: no output left */
        assert_int_equal(dropped, mode == LFC_FANOUT_BROADCAST ? 2 : 1);
        assert_int_equal(lfc_chan_len(in), 2);
        lfc_chan_free(outs[0]);
        lfc_chan_free(outs[1]);
        lfc_chan_free(in);
    }
}

/* ---- arguments, threads ------------------------------------------------- */

#define ASSERT_EINVAL(call)                                                    \
    do {                                                                       \
        errno = 0;                                                             \
        assert_null(call);                                                     \
        assert_int_equal(errno, EINVAL);                                       \
    } while (0)

static void
test_merge_bad_args_einval(void **state)
{
    (void)state;
    lfc_chan *a = chan_new(1);
    lfc_chan *b = chan_new(1);
    lfc_chan *out = chan_new(1);
    lfc_chan *small = lfc_chan_new(1, sizeof(uint32_t));
    assert_non_null(small);
    lfc_chan *ins[2] = {a, b};
    lfc_chan *with_null[2] = {a, NULL};
    lfc_chan *with_out[2] = {a, out};
    lfc_chan *mixed[2] = {a, small};

    ASSERT_EINVAL(lfc_merge_new(NULL, 2, out));
    ASSERT_EINVAL(lfc_merge_new(ins, 0, out));
    ASSERT_EINVAL(lfc_merge_new(ins, 2, NULL));
    ASSERT_EINVAL(lfc_merge_new(with_null, 2, out));
    ASSERT_EINVAL(lfc_merge_new(with_out, 2, out));
    ASSERT_EINVAL(lfc_merge_new(mixed, 2, out));     /* inputs differ */
    ASSERT_EINVAL(lfc_merge_new(ins, 2, small));     /* out differs */
    ASSERT_EINVAL(lfc_merge_new_ex(ins, 2, out, 2)); /* unknown flag */

    lfc_chan *outs[2] = {a, b};
    lfc_chan *outs_null[2] = {a, NULL};
    lfc_chan *outs_in[2] = {a, out};
    lfc_chan *outs_mixed[2] = {a, small};
    int rr = LFC_FANOUT_ROUND_ROBIN;
    ASSERT_EINVAL(lfc_fanout_new(NULL, outs, 2, rr));
    ASSERT_EINVAL(lfc_fanout_new(out, NULL, 2, rr));
    ASSERT_EINVAL(lfc_fanout_new(out, outs, 0, rr));
    ASSERT_EINVAL(lfc_fanout_new(out, outs, (size_t)LFC_SELECT_MAX + 1, rr));
    ASSERT_EINVAL(lfc_fanout_new(out, outs_null, 2, rr));
    ASSERT_EINVAL(lfc_fanout_new(out, outs_in, 2, rr));
    ASSERT_EINVAL(lfc_fanout_new(out, outs_mixed, 2, rr));
    ASSERT_EINVAL(lfc_fanout_new(small, outs, 2, rr));
    ASSERT_EINVAL(lfc_fanout_new(out, outs, 2, 0));
    ASSERT_EINVAL(lfc_fanout_new(out, outs, 2, 3));
    ASSERT_EINVAL(lfc_fanout_new_ex(out, outs, 2, rr, 4));

    assert_int_equal(lfc_merge_stop(NULL), LFC_EINVAL);
    assert_int_equal(lfc_fanout_stop(NULL), LFC_EINVAL);
    assert_int_equal(lfc_merge_free(NULL), 0);
    assert_int_equal(lfc_fanout_free(NULL), 0);

    /* Nothing was started or consumed. */
    assert_int_equal(lfc_test_count_threads_named("lfc-"), 0);
    lfc_chan_free(a);
    lfc_chan_free(b);
    lfc_chan_free(out);
    lfc_chan_free(small);
}

/* One thread up to 31 inputs; 300 inputs: 10 leaves and a root (the
 * header's numbers). All gone after the _free calls. */
static void
test_merge_threads_named_none_left_after_free(void **state)
{
    (void)state;
    static const size_t sizes[] = {8, 31, 300};
    static const int threads[] = {1, 1, 11};
    for (int t = 0; t < 3; t++) {
        size_t n = sizes[t];
        lfc_chan **ins = malloc(n * sizeof(*ins));
        assert_non_null(ins);
        for (size_t i = 0; i < n; i++)
            ins[i] = chan_new(1);
        lfc_chan *out = chan_new(0);
        lfc_merger *m = lfc_merge_new(ins, n, out);
        assert_non_null(m);
        assert_int_equal(lfc_test_count_threads_named("lfc-merge"), threads[t]);
        for (size_t i = 0; i < n; i++)
            lfc_close(ins[i]);
        uint64_t v;
        assert_int_equal(recv_bounded(out, &v), LFC_CLOSED);
        assert_int_equal(lfc_merge_free(m), 0);
        assert_true(lfc_test_wait_no_threads_named("lfc-merge", STUCK_NS));
        for (size_t i = 0; i < n; i++)
            lfc_chan_free(ins[i]);
        lfc_chan_free(out);
        free(ins);
    }

    lfc_chan *in = chan_new(1);
    lfc_chan *outs[2] = {chan_new(1), chan_new(1)};
    lfc_fanout *f = lfc_fanout_new(in, outs, 2, LFC_FANOUT_BROADCAST);
    assert_non_null(f);
    assert_int_equal(lfc_test_count_threads_named("lfc-fanout"), 1);
    assert_int_equal(lfc_fanout_stop(f), LFC_OK);
    assert_int_equal(lfc_fanout_free(f), 0);
    assert_true(lfc_test_wait_no_threads_named("lfc-fanout", STUCK_NS));
    lfc_chan_free(outs[0]);
    lfc_chan_free(outs[1]);
    lfc_chan_free(in);
}

#define MERGE_TEST(fn)                                                         \
    cmocka_unit_test_setup_teardown(fn, dog_setup, dog_teardown)

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    const struct CMUnitTest tests[] = {
        MERGE_TEST(test_merge_bad_args_einval),
        MERGE_TEST(test_merge_exactly_once_order_random_close_2),
        MERGE_TEST(test_merge_exactly_once_order_random_close_8),
        MERGE_TEST(test_merge_exactly_once_order_random_close_64),
        MERGE_TEST(test_merge_exactly_once_order_random_close_300_tree),
        MERGE_TEST(test_merge_exactly_once_order_random_close_deep_tree),
        MERGE_TEST(test_merge_exactly_once_order_unbuffered),
        MERGE_TEST(test_merge_exactly_once_order_cap1),
        MERGE_TEST(test_merge_closes_out_only_after_all_inputs_drained),
        MERGE_TEST(test_merge_keep_open_leaves_out_open),
        MERGE_TEST(test_merge_signal_only_channels),
        MERGE_TEST(test_merge_stop_loses_nothing),
        MERGE_TEST(test_merge_out_closed_early_counts_dropped),
        MERGE_TEST(test_merge_out_closed_before_start),
        MERGE_TEST(test_fanout_round_robin_exactly_once_in_order),
        MERGE_TEST(test_fanout_round_robin_skips_full_output),
        MERGE_TEST(test_fanout_broadcast_exactly_once_per_output_in_order),
        MERGE_TEST(test_fanout_broadcast_slow_output_does_not_delay_others),
        MERGE_TEST(test_fanout_closes_outputs_when_in_drained),
        MERGE_TEST(test_fanout_keep_open_leaves_outputs_open),
        MERGE_TEST(test_fanout_stop_loses_nothing),
        MERGE_TEST(test_fanout_closed_output_removed_and_counted),
        MERGE_TEST(test_fanout_all_outputs_closed_stops),
        MERGE_TEST(test_merge_threads_named_none_left_after_free),
    };
    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
