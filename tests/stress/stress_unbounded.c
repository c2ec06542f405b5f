/* SPDX-License-Identifier: MIT */
/*
 * Stress tests for unbounded channels (lfc_chan_new_unbounded,
 * include/lfchan/chan.h; src/chan/unbounded.c): long, randomized
 * multi-threaded runs that check every message.
 *
 *   mpmc_4x4            4 producers, 4 consumers. Producers rotate through
 *                       lfc_send, lfc_try_send, lfc_send_until (past
 *                       deadline: never waits) and a select send case
 *                       beside a full ring channel; consumers through
 *                       lfc_recv, lfc_try_recv (yield on LFC_AGAIN),
 *                       lfc_recv_until with short deadlines, and select
 *                       over {this channel, an idle ring channel}. The last
 *                       producer closes. Every message received exactly
 *                       once, per producer in order within each consumer.
 *   mpsc_4x1, spsc_1x1  the same with one consumer.
 *   close_races_receivers
 *                       rounds of 3 producers sending until LFC_CLOSED, 3
 *                       consumers (some parked at the time) receiving until
 *                       LFC_CLOSED, and a closer that closes at a random
 *                       moment: every LFC_OK send received exactly once,
 *                       nothing else received, every thread returns (a
 *                       receiver left parked after the drain is a lost
 *                       wake-up, caught by the watchdog); and no send may
 *                       enqueue after lfc_close has returned (checked: a
 *                       producer that saw lfc_close return first must get
 *                       LFC_CLOSED).
 *
 * Every threaded run starts its workers behind a barrier and runs under a
 * watchdog on a progress counter. Sizes scale with LFC_TEST_SCALE.
 * LFC_TEST_FILTER / LFC_TEST_SKIP pick tests (cmocka's filters).
 * Workers record failures with stress_fail(); the main thread asserts
 * after joining (lfc_stress_support.h).
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#define LFC_STRESS_NAME "stress_unbounded"
#include "lfc_stress_support.h"
#include "lfchan.h"

static unsigned long g_progress;

/* ---- mpmc ------------------------------------------------------------- */

struct run {
    lfc_chan *ch;
    lfc_chan *full_ring; /* a full capacity-1 ring: its send case never ready */
    lfc_chan *idle_ring; /* an empty ring nobody sends to */
    struct tracker tr;
    uint64_t per_prod;
    unsigned nprod;
    int live_producers; /* the last one out closes (atomic) */
    uint64_t sent[8];   /* per producer: messages sent with LFC_OK */
    lfc_test_barrier start;
};

struct worker {
    struct run *r;
    unsigned id;
};

static void *
producer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    uint64_t rng = rng_seed(w->id + 1);
    lfc_test_barrier_wait(&r->start);
    for (uint64_t s = 0; s < r->per_prod; s++) {
        struct msg m = msg_make(w->id, s);
        int rc;
        switch (rng_next(&rng) % 4) {
        case 0: rc = lfc_send(r->ch, &m); break;
        case 1: rc = lfc_try_send(r->ch, &m); break;
        case 2: rc = lfc_send_until(r->ch, &m, INT64_MIN); break;
        default: {
            struct msg dummy = msg_make(99, 0);
            lfc_case c[2] = {{.ch = r->full_ring, .dir = LFC_SEND,
                              .buf = &dummy},
                             {.ch = r->ch, .dir = LFC_SEND, .buf = &m}};
            int i = lfc_select(c, 2);
            WCHECK(i == 1, "producer %u: select chose case %d", w->id, i);
            rc = i == 1 ? c[1].status : LFC_EINVAL;
            break;
        }
        }
        WCHECK(rc == LFC_OK, "producer %u: send %" PRIu64 ": %s", w->id, s,
               lfc_strerror(rc));
        if (rc != LFC_OK)
            break;
        r->sent[w->id] = s + 1;
        lfc_progress_bump(&g_progress);
    }
    if (__atomic_sub_fetch(&r->live_producers, 1, __ATOMIC_ACQ_REL) == 0)
        WCHECK(lfc_close(r->ch) == LFC_OK, "last producer: close");
    return NULL;
}

static void *
consumer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    uint64_t rng = rng_seed(100 + w->id);
    uint64_t *last = last_new(1, r->nprod);
    lfc_test_barrier_wait(&r->start);
    for (;;) {
        struct msg m;
        int rc;
        switch (rng_next(&rng) % 4) {
        case 0: rc = lfc_recv(r->ch, &m); break;
        case 1:
            rc = lfc_try_recv(r->ch, &m);
            if (rc == LFC_AGAIN)
                sched_yield();
            break;
        case 2: {
            int64_t d = short_deadline(&rng, 200 * LFC_TEST_US);
            rc = lfc_recv_until(r->ch, &m, d);
            if (rc == LFC_TIMEDOUT)
                check_timeout_not_early(d, "consumer recv_until", w->id);
            break;
        }
        default: {
            struct msg idle;
            lfc_case c[2] = {{.ch = r->idle_ring, .dir = LFC_RECV,
                              .buf = &idle},
                             {.ch = r->ch, .dir = LFC_RECV, .buf = &m}};
            int i = lfc_select(c, 2);
            WCHECK(i == 1, "consumer %u: select chose case %d", w->id, i);
            rc = i == 1 ? c[1].status : LFC_EINVAL;
            break;
        }
        }
        if (rc == LFC_AGAIN || rc == LFC_TIMEDOUT)
            continue;
        if (rc == LFC_CLOSED)
            break;
        WCHECK(rc == LFC_OK, "consumer %u: %s", w->id, lfc_strerror(rc));
        if (rc != LFC_OK)
            break;
        tracker_note(&r->tr, last, 0, &m, "consumer", w->id);
        lfc_progress_bump(&g_progress);
    }
    free(last);
    return NULL;
}

static void
run_mpmc(unsigned np, unsigned nc, long per_prod)
{
    struct run r = {0};
    pthread_t th[16];
    struct worker w[16];
    struct lfc_watchdog wd;
    struct msg fill = msg_make(98, 0);

    r.ch = lfc_chan_new_unbounded(sizeof(struct msg));
    r.full_ring = lfc_chan_new(1, sizeof(struct msg));
    r.idle_ring = lfc_chan_new(1, sizeof(struct msg));
    assert_non_null(r.ch);
    assert_non_null(r.full_ring);
    assert_non_null(r.idle_ring);
    assert_int_equal(lfc_try_send(r.full_ring, &fill), LFC_OK);
    r.per_prod = (uint64_t)per_prod;
    r.nprod = np;
    r.live_producers = (int)np;
    tracker_init(&r.tr, np, r.per_prod);
    lfc_test_barrier_init(&r.start, np + nc);
    lfc_watchdog_start(&wd, "stress_unbounded mpmc", &g_progress,
                       LFC_TEST_WATCHDOG_S);
    for (unsigned i = 0; i < np + nc; i++) {
        w[i] = (struct worker){&r, i < np ? i : i - np};
        xpthread_create(&th[i], i < np ? producer : consumer, &w[i]);
    }
    for (unsigned i = 0; i < np + nc; i++)
        xpthread_join(th[i]);
    lfc_watchdog_stop(&wd);
    uint64_t got = tracker_verify(&r.tr, r.sent, "mpmc");
    assert_no_failures();
    assert_int_equal(got, (uint64_t)per_prod * np);
    assert_int_equal(lfc_chan_len(r.ch), 0);
    tracker_free(&r.tr);
    lfc_test_barrier_destroy(&r.start);
    lfc_chan_free(r.ch);
    lfc_chan_free(r.full_ring);
    lfc_chan_free(r.idle_ring);
}

static void
test_unbounded_mpmc_4x4(void **state)
{
    (void)state;
    run_mpmc(4, 4, lfc_test_scaled(100000, 2000));
}

static void
test_unbounded_mpsc_4x1(void **state)
{
    (void)state;
    run_mpmc(4, 1, lfc_test_scaled(100000, 2000));
}

static void
test_unbounded_spsc_1x1(void **state)
{
    (void)state;
    run_mpmc(1, 1, lfc_test_scaled(300000, 5000));
}

/* ---- close racing receivers ------------------------------------------- */

enum { CP = 3, CC = 3, CR_MAX = 1 << 16 };

struct cround {
    lfc_chan *ch;
    struct tracker tr;
    uint64_t sent[CP];
    int closed_returned; /* set by the closer after lfc_close returned */
    uint64_t close_delay_ns;
    lfc_test_barrier start;
};

struct cworker {
    struct cround *r;
    unsigned id;
};

static void *
cproducer(void *arg)
{
    struct cworker *w = arg;
    struct cround *r = w->r;
    lfc_test_barrier_wait(&r->start);
    for (uint64_t s = 0; s < CR_MAX; s++) {
        /* Read before the send: if close had returned, the send must
         * fail (no enqueue after close has returned). */
        int closed_before = lfc_test_load_int(&r->closed_returned);
        struct msg m = msg_make(w->id, s);
        int rc = (s & 1) ? lfc_try_send(r->ch, &m) : lfc_send(r->ch, &m);
        if (rc == LFC_CLOSED)
            break;
        WCHECK(rc == LFC_OK, "cproducer %u: %s", w->id, lfc_strerror(rc));
        WCHECK(!closed_before, "cproducer %u: send %" PRIu64
               " enqueued after lfc_close returned", w->id, s);
        if (rc != LFC_OK)
            break;
        r->sent[w->id] = s + 1;
        if ((s & 63) == 0)
            lfc_progress_bump(&g_progress);
    }
    return NULL;
}

static void *
cconsumer(void *arg)
{
    struct cworker *w = arg;
    struct cround *r = w->r;
    uint64_t *last = last_new(1, CP);
    lfc_test_barrier_wait(&r->start);
    for (;;) {
        struct msg m;
        int rc = lfc_recv(r->ch, &m);
        if (rc == LFC_CLOSED)
            break;
        WCHECK(rc == LFC_OK, "cconsumer %u: %s", w->id, lfc_strerror(rc));
        if (rc != LFC_OK)
            break;
        tracker_note(&r->tr, last, 0, &m, "cconsumer", w->id);
    }
    lfc_progress_bump(&g_progress);
    free(last);
    return NULL;
}

static void *
closer(void *arg)
{
    struct cround *r = arg;
    lfc_test_barrier_wait(&r->start);
    spin_ns((int64_t)r->close_delay_ns);
    WCHECK(lfc_close(r->ch) == LFC_OK, "closer: close");
    lfc_test_store_int(&r->closed_returned, 1);
    return NULL;
}

static void
test_unbounded_close_races_receivers(void **state)
{
    (void)state;
    long rounds = lfc_test_scaled(300, 20);
    uint64_t rng = rng_seed(7);
    struct lfc_watchdog wd;
    lfc_watchdog_start(&wd, "stress_unbounded close races", &g_progress,
                       LFC_TEST_WATCHDOG_S);
    for (long k = 0; k < rounds; k++) {
        struct cround r = {0};
        pthread_t th[CP + CC + 1];
        struct cworker w[CP + CC];
        r.ch = lfc_chan_new_unbounded(sizeof(struct msg));
        assert_non_null(r.ch);
        tracker_init(&r.tr, CP, CR_MAX);
        /* 0 to 500 us: some rounds close before anything flows (receivers
         * parked), some with values queued and senders in flight. */
        r.close_delay_ns = rng_next(&rng) % (500 * LFC_TEST_US);
        lfc_test_barrier_init(&r.start, CP + CC + 1);
        for (unsigned i = 0; i < CP + CC; i++) {
            w[i] = (struct cworker){&r, i < CP ? i : i - CP};
            xpthread_create(&th[i], i < CP ? cproducer : cconsumer, &w[i]);
        }
        xpthread_create(&th[CP + CC], closer, &r);
        for (unsigned i = 0; i < CP + CC + 1; i++)
            xpthread_join(th[i]);
        tracker_verify(&r.tr, r.sent, "close races");
        assert_no_failures();
        assert_int_equal(lfc_chan_len(r.ch), 0);
        tracker_free(&r.tr);
        lfc_test_barrier_destroy(&r.start);
        lfc_chan_free(r.ch);
        lfc_progress_bump(&g_progress);
    }
    lfc_watchdog_stop(&wd);
}

int
main(void)
{
    stress_main_init(1200);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbounded_mpmc_4x4),
        cmocka_unit_test(test_unbounded_mpsc_4x1),
        cmocka_unit_test(test_unbounded_spsc_1x1),
        cmocka_unit_test(test_unbounded_close_races_receivers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
