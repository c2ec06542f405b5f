/* SPDX-License-Identifier: MIT */
/*
 * Stress tests for lfchan select (include/lfchan/select.h): long,
 * randomized multi-threaded runs that check every message.
 *
 *   mpmc_own_cap<N>       4 producers, each sending with lfc_send to its
 *                         own channel of 4 (capacity N in {0, 1, 1024});
 *                         4 consumers, each an lfc_select over receive
 *                         cases on all 4. Every message received exactly
 *                         once (a global table), and each consumer sees
 *                         each producer's messages in increasing order.
 *                         The run ends by closing the channels: a consumer
 *                         switches a case off (ch = NULL) when it reports
 *                         LFC_CLOSED and exits when all 4 are off.
 *   mpmc_selsend_cap<N>   the producers select over send cases on all 4
 *                         channels (lfc_select, _biased, _until with short
 *                         deadlines, lfc_try_select), and the consumers
 *                         rotate through lfc_recv on their own channel,
 *                         lfc_select, lfc_try_select, lfc_select_until and
 *                         lfc_select_biased. Order is checked per channel
 *                         (a producer's messages on one channel arrive in
 *                         order). With capacity 0 both ends select.
 *   close_races_cap_mix   rounds of 2 selecting senders and 2 selecting
 *                         receivers over 4 channels of mixed capacity,
 *                         while the main thread closes the channels one by
 *                         one at random moments: a send case that reports
 *                         LFC_OK is received exactly once, one that reports
 *                         LFC_CLOSED never (the sender retries that value
 *                         on the channels still open), and every thread
 *                         returns (no lost wake-up). One sender mixes in
 *                         plain lfc_send, one receiver lfc_recv_until and
 *                         lfc_try_select.
 *   until_races_cap<N>    2 producers and 2 consumers over 2 channels, all
 *                         using lfc_select_until with deadlines 0-200 us
 *                         ahead; the producers pause at random. A timed-out
 *                         send is retried with the same value, so one that
 *                         enqueued anyway shows up as a duplicate;
 *                         LFC_TIMEDOUT is never early.
 *   parked_selectors_cap<N>
 *                         8 selectors, each on 2 of 4 channels (every
 *                         channel shared by 2 selectors), and 2 plain
 *                         receivers; the main thread sends one value at a
 *                         time, mostly after the receivers have parked,
 *                         and waits for it to be received: a wake-one
 *                         spent on a selector that is taken elsewhere must
 *                         not strand a value. Then close wakes them all.
 *   spurious_wakeups      some of the above with a fake futex (through the
 *                         park ops table, as tests/test_park.c does) whose
 *                         waits return within 20 us without a wake-up and
 *                         whose wakes are sometimes delayed: every return
 *                         from a park must recheck.
 *
 * Every threaded run starts its workers behind a barrier and runs under a
 * watchdog on a progress counter, so a lost wake-up aborts within seconds
 * instead of hanging. Sizes scale with LFC_TEST_SCALE. LFC_TEST_FILTER /
 * LFC_TEST_SKIP pick tests (cmocka's * and ? wildcards).
 *
 * Worker threads never call cmocka's assert macros; they record failures
 * with stress_fail() (printing the first few at once), and the main thread
 * asserts after joining. That, the messages and their exactly-once tracker
 * are shared with stress_chan.c (tests/support/lfc_stress_support.h).
 *
 * Scenarios adapted from Go's runtime/chan_test.go (TestSelectStress,
 * TestSelectFairness's many-producer form, TestNonblockSelectRace) and
 * crossbeam-channel's tests/select.rs (stress_recv, stress_send,
 * stress_mixed, stress_timeout_two_threads), rewritten in C and extended
 * to check every message.
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

#define LFC_STRESS_NAME "stress_select"
#include "lfc_park.h"
#include "lfc_stress_support.h"
#include "lfc_test_futex.h"
#include "lfchan.h"

/* ------------------------------------------------------------------------ */
/* Small helpers.                                                           */

/* A pause of 0 to max_ns: mostly none, sometimes a spin, rarely a sleep. */
static void
random_pause(uint64_t *rng, int64_t max_ns)
{
    uint64_t r = rng_next(rng);
    switch (r & 15) {
    case 0:
        lfc_test_sleep_ns((int64_t)((r >> 8) % (uint64_t)(max_ns + 1)));
        break;
    case 1:
    case 2:
        spin_ns((int64_t)((r >> 8) % (uint64_t)(max_ns + 1)));
        break;
    case 3:
        sched_yield();
        break;
    default:
        break;
    }
}

static void
set_case(lfc_case *c, lfc_chan *ch, int dir, void *buf)
{
    c->ch = ch;
    c->dir = dir;
    c->buf = buf;
    c->status = 0;
}

/* Send cases on ch[0..n-1], every one sending *m. */
static void
set_send_cases(lfc_case *c, lfc_chan *const *ch, int n, struct msg *m)
{
    for (int i = 0; i < n; i++)
        set_case(&c[i], ch[i], LFC_SEND, m);
}

/* Receive cases on ch[0..n-1], case i receiving into out[i]. */
static void
set_recv_cases(lfc_case *c, lfc_chan *const *ch, int n, struct msg *out)
{
    for (int i = 0; i < n; i++)
        set_case(&c[i], ch[i], LFC_RECV, &out[i]);
}

/* ------------------------------------------------------------------------ */
/* 4 producers, 4 selecting consumers, 4 channels.                          */

#define NCH 4
#define NPROD 4
#define NCONS 4

/* Short deadlines of the _until calls: 0 to this many ns ahead. */
#define UNTIL_MAX_NS 100000
/* Polls of one try_select turn before moving on. */
#define TRY_POLLS 16

enum prod_mode {
    PROD_OWN,    /* producer p: lfc_send to channel p */
    PROD_SELECT, /* a select over send cases on all channels */
};

enum cons_mode {
    CONS_SELECT, /* lfc_select over receive cases on all channels */
    CONS_MIXED,  /* rotate: lfc_recv (own channel), the select kinds */
};

/* The calls workers rotate through (stats index). */
enum { K_SELECT, K_BIASED, K_UNTIL, K_TRY, K_PLAIN, K_N };

static const char *const k_names[K_N] = {"select", "biased", "until", "try",
                                         "plain"};

/* One select of kind k over c[0..n-1]: K_SELECT, K_BIASED, K_TRY, or
 * K_UNTIL with deadline dl. */
static int
select_kind(int k, lfc_case *c, int n, int64_t dl)
{
    switch (k) {
    case K_BIASED:
        return lfc_select_biased(c, n);
    case K_UNTIL:
        return lfc_select_until(c, n, dl);
    case K_TRY:
        return lfc_try_select(c, n);
    default:
        return lfc_select(c, n);
    }
}

struct mpmc_run {
    char name[96];
    enum prod_mode pmode;
    enum cons_mode cmode;
    uint64_t per_prod;
    lfc_chan *ch[NCH];
    lfc_test_barrier start;
    struct tracker tr;
    unsigned long progress;     /* bumped by every worker (atomic) */
    unsigned long send_ok[K_N]; /* by producers (atomic) */
    unsigned long recv_ok[K_N]; /* by consumers (atomic) */
    unsigned long picks[NCH];   /* completions per channel (atomic) */
    unsigned long again;        /* LFC_AGAIN seen (atomic) */
    unsigned long timedout;     /* LFC_TIMEDOUT seen (atomic) */
};

struct mpmc_worker {
    struct mpmc_run *run;
    unsigned id;
    pthread_t thread;
    uint64_t sent; /* producers: messages whose send completed LFC_OK */
};

static void
stat_add(unsigned long *p)
{
    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

/* Sends m with a select over send cases on every channel, by kind k;
 * retries on LFC_AGAIN / LFC_TIMEDOUT. Returns the status of the case that
 * completed, or a negative status. */
static int
select_send(struct mpmc_run *run, unsigned id, int k, struct msg *m,
            uint64_t *rng)
{
    lfc_case c[NCH];
    int rc;

    for (;;) {
        int64_t dl = 0;
        set_send_cases(c, run->ch, NCH, m);
        if (k == K_UNTIL)
            dl = short_deadline(rng, UNTIL_MAX_NS);
        rc = select_kind(k, c, NCH, dl);
        if (rc >= 0 && rc < NCH) {
            stat_add(&run->picks[rc]);
            return c[rc].status;
        }
        if (rc == LFC_AGAIN && k == K_TRY) {
            stat_add(&run->again);
            sched_yield();
        } else if (rc == LFC_TIMEDOUT && k == K_UNTIL) {
            check_timeout_not_early(dl, "producer (select_until)", id);
            stat_add(&run->timedout);
        } else {
            return rc < 0 ? rc : -1000;
        }
    }
}

static void *
mpmc_producer(void *arg)
{
    struct mpmc_worker *w = arg;
    struct mpmc_run *run = w->run;
    uint64_t rng = rng_seed(w->id + 1);

    lfc_test_barrier_wait(&run->start);
    for (uint64_t seq = 0; seq < run->per_prod; seq++) {
        struct msg m = msg_make(w->id, seq);
        int k = K_PLAIN;
        int rc;
        if (run->pmode == PROD_OWN) {
            rc = lfc_send(run->ch[w->id], &m);
        } else {
            k = (int)((seq + w->id) % 4); /* select, biased, until, try */
            rc = select_send(run, w->id, k, &m, &rng);
        }
        if (rc != LFC_OK) {
            stress_fail("%s: producer %u seq %" PRIu64 " (%s): %s", run->name,
                        w->id, seq, k_names[k], lfc_strerror(rc));
            break;
        }
        w->sent = seq + 1;
        stat_add(&run->send_ok[k]);
        lfc_progress_bump(&run->progress);
    }
    return NULL;
}

static void *
mpmc_consumer(void *arg)
{
    struct mpmc_worker *w = arg;
    struct mpmc_run *run = w->run;
    uint64_t *last = last_new(NCH, NPROD);
    uint64_t rng = rng_seed(1000 + w->id);
    unsigned long attempt = w->id;
    struct msg out[NCH];
    lfc_case c[NCH];
    int open = NCH;

    set_recv_cases(c, run->ch, NCH, out);
    lfc_test_barrier_wait(&run->start);
    while (open > 0) {
        int k = K_SELECT;
        int64_t dl = 0;
        int rc;
        int idx = -1;
        int st = LFC_OK;

        if (run->cmode == CONS_MIXED) {
            static const int rot[] = {K_PLAIN, K_SELECT, K_TRY, K_UNTIL,
                                      K_BIASED};
            k = rot[attempt++ % 5];
            if (k == K_PLAIN && c[w->id % NCH].ch == NULL)
                k = K_SELECT; /* own channel already closed */
        }
        for (int i = 0; i < NCH; i++) {
            memset(&out[i], 0xEE, sizeof(out[i]));
            c[i].status = 0;
        }
        switch (k) {
        case K_PLAIN:
            idx = (int)(w->id % NCH);
            st = lfc_recv(run->ch[idx], &out[idx]);
            rc = idx;
            break;
        case K_TRY:
            for (int p = 0;
                 (rc = lfc_try_select(c, NCH)) == LFC_AGAIN && p < TRY_POLLS;
                 p++) {
                stat_add(&run->again);
                sched_yield();
            }
            break;
        default:
            if (k == K_UNTIL)
                dl = short_deadline(&rng, UNTIL_MAX_NS);
            rc = select_kind(k, c, NCH, dl);
            break;
        }
        if (rc >= 0 && rc < NCH) {
            idx = rc;
            if (k != K_PLAIN)
                st = c[idx].status;
            if (st == LFC_OK) {
                /* PROD_OWN: channel == producer; order per producer. */
                tracker_note(&run->tr, last,
                             run->pmode == PROD_OWN ? 0u : (unsigned)idx,
                             &out[idx], "consumer", w->id);
                if (run->pmode == PROD_OWN)
                    WCHECK(out[idx].producer == (uint32_t)idx,
                           "%s: consumer %u: producer %" PRIu32
                           "'s message on channel %d",
                           run->name, w->id, out[idx].producer, idx);
                stat_add(&run->recv_ok[k]);
                lfc_progress_bump(&run->progress);
            } else if (st == LFC_CLOSED) {
                c[idx].ch = NULL; /* switch the case off */
                open--;
            } else {
                stress_fail("%s: consumer %u (%s): case %d status %s",
                            run->name, w->id, k_names[k], idx,
                            lfc_strerror(st));
                break;
            }
        } else if (rc == LFC_AGAIN && k == K_TRY) {
            stat_add(&run->again);
        } else if (rc == LFC_TIMEDOUT && k == K_UNTIL) {
            check_timeout_not_early(dl, "consumer (select_until)", w->id);
            stat_add(&run->timedout);
        } else {
            stress_fail("%s: consumer %u (%s): unexpected %d (%s)", run->name,
                        w->id, k_names[k], rc, lfc_strerror(rc));
            break;
        }
    }
    free(last);
    return NULL;
}

static void
run_mpmc(size_t cap, enum prod_mode pmode, enum cons_mode cmode, long total)
{
    struct mpmc_run run;
    struct mpmc_worker prod[NPROD];
    struct mpmc_worker cons[NCONS];
    struct lfc_watchdog wd;
    uint64_t sent[NPROD];
    uint64_t got;
    int64_t t0;

    failures_reset();
    memset(&run, 0, sizeof(run));
    memset(prod, 0, sizeof(prod));
    memset(cons, 0, sizeof(cons));
    snprintf(run.name, sizeof(run.name), "%s 4x4 over 4 channels cap %zu",
             pmode == PROD_OWN ? "mpmc_own" : "mpmc_selsend", cap);
    run.pmode = pmode;
    run.cmode = cmode;
    run.per_prod = ((uint64_t)total + NPROD - 1) / NPROD;
    for (int i = 0; i < NCH; i++) {
        run.ch[i] = lfc_chan_new(cap, sizeof(struct msg));
        assert_non_null(run.ch[i]);
    }
    tracker_init(&run.tr, NPROD, run.per_prod);
    lfc_test_barrier_init(&run.start, NPROD + NCONS + 1);

    t0 = lfc_test_now_ns();
    lfc_watchdog_start(&wd, run.name, &run.progress, 30);
    for (unsigned i = 0; i < NCONS; i++) {
        cons[i].run = &run;
        cons[i].id = i;
        xpthread_create(&cons[i].thread, mpmc_consumer, &cons[i]);
    }
    for (unsigned i = 0; i < NPROD; i++) {
        prod[i].run = &run;
        prod[i].id = i;
        xpthread_create(&prod[i].thread, mpmc_producer, &prod[i]);
    }
    lfc_test_barrier_wait(&run.start);
    /* Shutdown: producers finish, then close, then consumers drain. */
    for (unsigned i = 0; i < NPROD; i++)
        xpthread_join(prod[i].thread);
    for (int i = 0; i < NCH; i++) {
        int rc = lfc_close(run.ch[i]);
        WCHECK(rc == LFC_OK, "%s: lfc_close: %s", run.name, lfc_strerror(rc));
    }
    for (unsigned i = 0; i < NCONS; i++)
        xpthread_join(cons[i].thread);
    lfc_watchdog_stop(&wd);

    for (unsigned i = 0; i < NPROD; i++) {
        sent[i] = prod[i].sent;
        WCHECK(sent[i] == run.per_prod,
               "%s: producer %u sent %" PRIu64 " of %" PRIu64, run.name, i,
               sent[i], run.per_prod);
    }
    got = tracker_verify(&run.tr, sent, run.name);
    print_message("[ stats    ] %s: %" PRIu64 " msgs in %.2f s; sends "
                  "sel/bias/until/try/plain %lu/%lu/%lu/%lu/%lu, recvs "
                  "%lu/%lu/%lu/%lu/%lu; per channel %lu/%lu/%lu/%lu; "
                  "again %lu, timedout %lu\n",
                  run.name, got, secs_since(t0), run.send_ok[0], run.send_ok[1],
                  run.send_ok[2], run.send_ok[3], run.send_ok[4],
                  run.recv_ok[0], run.recv_ok[1], run.recv_ok[2],
                  run.recv_ok[3], run.recv_ok[4], run.picks[0], run.picks[1],
                  run.picks[2], run.picks[3], run.again, run.timedout);
    for (int i = 0; i < NCH; i++)
        lfc_chan_free(run.ch[i]);
    tracker_free(&run.tr);
    lfc_test_barrier_destroy(&run.start);
    assert_no_failures();
}

#define MPMC_TOTAL lfc_test_scaled(100000, 10000)

/* X(name, capacity, producer mode, consumer mode) */
#define MPMC_CONFIGS(X)                                                        \
    X(own, 0, PROD_OWN, CONS_SELECT)                                           \
    X(own, 1, PROD_OWN, CONS_SELECT)                                           \
    X(own, 1024, PROD_OWN, CONS_SELECT)                                        \
    X(selsend, 0, PROD_SELECT, CONS_MIXED)                                     \
    X(selsend, 1, PROD_SELECT, CONS_MIXED)                                     \
    X(selsend, 1024, PROD_SELECT, CONS_MIXED)

#define MPMC_TEST_FN(name, cap, pmode, cmode)                                  \
    static void test_select_stress_mpmc_##name##_cap##cap(void **state)        \
    {                                                                          \
        (void)state;                                                           \
        run_mpmc(cap, pmode, cmode, MPMC_TOTAL);                               \
    }
MPMC_CONFIGS(MPMC_TEST_FN)
#undef MPMC_TEST_FN

/* ------------------------------------------------------------------------ */
/* Selects racing close.                                                    */

#define CR_SENDERS 2
#define CR_RECEIVERS 2
/* Values a sender may send in one round (more than it ever gets to). */
#define CR_MAX_PER_ROUND 100000

struct cr_run {
    lfc_chan *ch[NCH];
    lfc_test_barrier start;
    struct tracker tr;
    unsigned long *progress;   /* the watchdog's counter (atomic) */
    unsigned long send_closed; /* LFC_CLOSED send cases (atomic) */
};

struct cr_worker {
    struct cr_run *run;
    unsigned id;
    pthread_t thread;
    uint64_t sent; /* senders: values 0..sent-1 completed LFC_OK */
    unsigned long got;
};

static void *
cr_sender(void *arg)
{
    struct cr_worker *w = arg;
    struct cr_run *run = w->run;
    uint64_t rng = rng_seed(7 + w->id);
    lfc_case c[NCH];
    struct msg m = msg_make(w->id, 0);
    int open = NCH;

    set_send_cases(c, run->ch, NCH, &m);
    lfc_test_barrier_wait(&run->start);
    while (open > 0 && w->sent < CR_MAX_PER_ROUND) {
        int rc;
        uint64_t r = rng_next(&rng);
        if (w->id == 1 && (r & 3) == 0) {
            /* A plain send on one open channel, racing the same close. */
            int i = (int)((r >> 2) % NCH);
            while (c[i].ch == NULL)
                i = (i + 1) % NCH;
            c[i].status = lfc_send(c[i].ch, &m);
            rc = i;
        } else if (r & 1) {
            rc = lfc_select(c, NCH);
        } else {
            rc = lfc_select_biased(c, NCH);
        }
        if (rc < 0 || rc >= NCH) {
            stress_fail("close races: sender %u: %d (%s)", w->id, rc,
                        lfc_strerror(rc));
            break;
        }
        if (c[rc].status == LFC_OK) {
            w->sent++;
            m = msg_make(w->id, w->sent); /* the next value */
            lfc_progress_bump(run->progress);
        } else if (c[rc].status == LFC_CLOSED) {
            /* Not sent: retried on the channels still open. */
            c[rc].ch = NULL;
            open--;
            stat_add(&run->send_closed);
        } else {
            stress_fail("close races: sender %u: status %d", w->id,
                        c[rc].status);
            break;
        }
        random_pause(&rng, 20000);
    }
    return NULL;
}

static void *
cr_receiver(void *arg)
{
    struct cr_worker *w = arg;
    struct cr_run *run = w->run;
    uint64_t *last = last_new(NCH, CR_SENDERS);
    uint64_t rng = rng_seed(70 + w->id);
    struct msg out[NCH];
    lfc_case c[NCH];
    int open = NCH;

    set_recv_cases(c, run->ch, NCH, out);
    lfc_test_barrier_wait(&run->start);
    while (open > 0) {
        uint64_t r = rng_next(&rng);
        int rc;
        if (w->id == 1 && (r & 3) == 1) {
            /* A plain receive with a short deadline on one open channel. */
            int i = (int)((r >> 2) % NCH);
            int64_t dl = short_deadline(&rng, 50000);
            while (c[i].ch == NULL)
                i = (i + 1) % NCH;
            c[i].status = lfc_recv_until(c[i].ch, &out[i], dl);
            if (c[i].status == LFC_TIMEDOUT) {
                check_timeout_not_early(dl, "receiver (recv_until)", w->id);
                continue;
            }
            rc = i;
        } else if (w->id == 1 && (r & 3) == 2) {
            rc = lfc_try_select(c, NCH);
            if (rc == LFC_AGAIN) {
                sched_yield();
                continue;
            }
        } else if ((r & 3) == 0) {
            rc = lfc_select_biased(c, NCH);
        } else {
            rc = lfc_select(c, NCH);
        }
        if (rc < 0 || rc >= NCH) {
            stress_fail("close races: receiver %u: %d (%s)", w->id, rc,
                        lfc_strerror(rc));
            break;
        }
        if (c[rc].status == LFC_OK) {
            tracker_note(&run->tr, last, (unsigned)rc, &out[rc], "receiver",
                         w->id);
            w->got++;
            lfc_progress_bump(run->progress);
        } else if (c[rc].status == LFC_CLOSED) {
            c[rc].ch = NULL;
            open--;
        } else {
            stress_fail("close races: receiver %u: status %d", w->id,
                        c[rc].status);
            break;
        }
        random_pause(&rng, 20000);
    }
    free(last);
    return NULL;
}

static void
test_select_stress_close_races_cap_mix(void **state)
{
    (void)state;
    static const size_t caps[NCH] = {0, 1, 0, 4};
    long rounds = lfc_test_scaled(1500, 100);
    unsigned long progress = 0;
    unsigned long total_sent = 0;
    unsigned long send_closed = 0;
    struct lfc_watchdog wd;
    uint64_t rng = rng_seed(99);
    int64_t t0 = lfc_test_now_ns();

    failures_reset();
    lfc_watchdog_start(&wd, "close races", &progress, 20);
    for (long r = 0; r < rounds && failures_so_far() == 0; r++) {
        struct cr_run run;
        struct cr_worker snd[CR_SENDERS];
        struct cr_worker rcv[CR_RECEIVERS];
        uint64_t sent[CR_SENDERS];
        int order[NCH] = {0, 1, 2, 3};

        memset(&run, 0, sizeof(run));
        memset(snd, 0, sizeof(snd));
        memset(rcv, 0, sizeof(rcv));
        run.progress = &progress;
        for (int i = 0; i < NCH; i++) {
            run.ch[i] = lfc_chan_new(caps[(i + r) % NCH], sizeof(struct msg));
            assert_non_null(run.ch[i]);
        }
        tracker_init(&run.tr, CR_SENDERS, CR_MAX_PER_ROUND + 1);
        /* On some rounds only receivers: they are all parked when the
         * closes come. */
        unsigned nsend = (r % 4 == 3) ? 0 : CR_SENDERS;
        lfc_test_barrier_init(&run.start, nsend + CR_RECEIVERS + 1);
        for (unsigned i = 0; i < CR_RECEIVERS; i++) {
            rcv[i].run = &run;
            rcv[i].id = i;
            xpthread_create(&rcv[i].thread, cr_receiver, &rcv[i]);
        }
        for (unsigned i = 0; i < CR_SENDERS; i++) {
            snd[i].run = &run;
            snd[i].id = i;
            if (i < nsend)
                xpthread_create(&snd[i].thread, cr_sender, &snd[i]);
        }
        lfc_test_barrier_wait(&run.start);
        /* Close in a random order at random moments. */
        for (int i = NCH - 1; i > 0; i--) {
            int j = (int)(rng_next(&rng) % (uint64_t)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < NCH; i++) {
            uint64_t x = rng_next(&rng);
            if (x & 1)
                lfc_test_sleep_ns((int64_t)(x >> 1) % 400000);
            else
                spin_ns((int64_t)(x >> 1) % 100000);
            int rc = lfc_close(run.ch[order[i]]);
            WCHECK(rc == LFC_OK, "close races: close: %s", lfc_strerror(rc));
        }
        for (unsigned i = 0; i < nsend; i++)
            xpthread_join(snd[i].thread);
        for (unsigned i = 0; i < CR_RECEIVERS; i++)
            xpthread_join(rcv[i].thread);
        for (unsigned i = 0; i < CR_SENDERS; i++) {
            sent[i] = i < nsend ? snd[i].sent : 0;
            total_sent += sent[i];
        }
        send_closed += run.send_closed;
        (void)tracker_verify(&run.tr, sent, "close races");
        tracker_free(&run.tr);
        lfc_test_barrier_destroy(&run.start);
        for (int i = 0; i < NCH; i++)
            lfc_chan_free(run.ch[i]);
        lfc_progress_bump(&progress);
    }
    lfc_watchdog_stop(&wd);
    print_message("[ stats    ] close races: %ld rounds, %lu values sent, "
                  "%lu send cases closed, in %.2f s\n",
                  rounds, total_sent, send_closed, secs_since(t0));
    assert_no_failures();
}

/* ------------------------------------------------------------------------ */
/* select_until with short deadlines racing sends.                          */

#define UR_NCH 2
#define UR_NPROD 2
#define UR_NCONS 2
#define UR_MAX_NS 200000

struct ur_run {
    char name[64];
    uint64_t per_prod;
    lfc_chan *ch[UR_NCH];
    lfc_test_barrier start;
    struct tracker tr;
    unsigned long progress;      /* atomic */
    unsigned long send_timedout; /* atomic */
    unsigned long recv_timedout; /* atomic */
};

struct ur_worker {
    struct ur_run *run;
    unsigned id;
    pthread_t thread;
    uint64_t sent;
};

static void *
ur_producer(void *arg)
{
    struct ur_worker *w = arg;
    struct ur_run *run = w->run;
    uint64_t rng = rng_seed(300 + w->id);
    lfc_case c[UR_NCH];

    lfc_test_barrier_wait(&run->start);
    for (uint64_t seq = 0; seq < run->per_prod; seq++) {
        struct msg m = msg_make(w->id, seq);
        int rc;
        for (;;) {
            int64_t dl = short_deadline(&rng, UR_MAX_NS);
            set_send_cases(c, run->ch, UR_NCH, &m);
            rc = (seq & 1) ? lfc_select_until(c, UR_NCH, dl)
                           : lfc_select_biased_until(c, UR_NCH, dl);
            if (rc != LFC_TIMEDOUT)
                break;
            check_timeout_not_early(dl, "producer (select_until)", w->id);
            stat_add(&run->send_timedout);
            /* Retry the same value: one that enqueued anyway shows up as
             * a duplicate. */
        }
        if (rc < 0 || rc >= UR_NCH || c[rc].status != LFC_OK) {
            stress_fail("%s: producer %u seq %" PRIu64 ": %d (%s)", run->name,
                        w->id, seq, rc, lfc_strerror(rc));
            break;
        }
        w->sent = seq + 1;
        lfc_progress_bump(&run->progress);
        random_pause(&rng, 100000);
    }
    return NULL;
}

static void *
ur_consumer(void *arg)
{
    struct ur_worker *w = arg;
    struct ur_run *run = w->run;
    uint64_t *last = last_new(UR_NCH, UR_NPROD);
    uint64_t rng = rng_seed(400 + w->id);
    struct msg out[UR_NCH];
    lfc_case c[UR_NCH];
    int open = UR_NCH;

    set_recv_cases(c, run->ch, UR_NCH, out);
    lfc_test_barrier_wait(&run->start);
    while (open > 0) {
        int64_t dl = short_deadline(&rng, UR_MAX_NS);
        int rc = (rng_next(&rng) & 1) ? lfc_select_until(c, UR_NCH, dl)
                                      : lfc_select_biased_until(c, UR_NCH, dl);
        if (rc == LFC_TIMEDOUT) {
            check_timeout_not_early(dl, "consumer (select_until)", w->id);
            stat_add(&run->recv_timedout);
            continue;
        }
        if (rc < 0 || rc >= UR_NCH) {
            stress_fail("%s: consumer %u: %d (%s)", run->name, w->id, rc,
                        lfc_strerror(rc));
            break;
        }
        if (c[rc].status == LFC_OK) {
            tracker_note(&run->tr, last, (unsigned)rc, &out[rc], "consumer",
                         w->id);
            lfc_progress_bump(&run->progress);
        } else if (c[rc].status == LFC_CLOSED) {
            c[rc].ch = NULL;
            open--;
        } else {
            stress_fail("%s: consumer %u: status %d", run->name, w->id,
                        c[rc].status);
            break;
        }
    }
    free(last);
    return NULL;
}

static void
run_until_races(size_t cap)
{
    struct ur_run run;
    struct ur_worker prod[UR_NPROD];
    struct ur_worker cons[UR_NCONS];
    struct lfc_watchdog wd;
    uint64_t sent[UR_NPROD];
    uint64_t got;
    int64_t t0 = lfc_test_now_ns();

    failures_reset();
    memset(&run, 0, sizeof(run));
    memset(prod, 0, sizeof(prod));
    memset(cons, 0, sizeof(cons));
    snprintf(run.name, sizeof(run.name), "until races cap %zu", cap);
    run.per_prod = (uint64_t)lfc_test_scaled(10000, 1000);
    for (int i = 0; i < UR_NCH; i++) {
        run.ch[i] = lfc_chan_new(cap, sizeof(struct msg));
        assert_non_null(run.ch[i]);
    }
    tracker_init(&run.tr, UR_NPROD, run.per_prod);
    lfc_test_barrier_init(&run.start, UR_NPROD + UR_NCONS + 1);
    lfc_watchdog_start(&wd, run.name, &run.progress, 30);
    for (unsigned i = 0; i < UR_NCONS; i++) {
        cons[i].run = &run;
        cons[i].id = i;
        xpthread_create(&cons[i].thread, ur_consumer, &cons[i]);
    }
    for (unsigned i = 0; i < UR_NPROD; i++) {
        prod[i].run = &run;
        prod[i].id = i;
        xpthread_create(&prod[i].thread, ur_producer, &prod[i]);
    }
    lfc_test_barrier_wait(&run.start);
    for (unsigned i = 0; i < UR_NPROD; i++)
        xpthread_join(prod[i].thread);
    for (int i = 0; i < UR_NCH; i++)
        lfc_close(run.ch[i]);
    for (unsigned i = 0; i < UR_NCONS; i++)
        xpthread_join(cons[i].thread);
    lfc_watchdog_stop(&wd);
    for (unsigned i = 0; i < UR_NPROD; i++) {
        sent[i] = prod[i].sent;
        WCHECK(sent[i] == run.per_prod,
               "%s: producer %u sent %" PRIu64 " of %" PRIu64, run.name, i,
               sent[i], run.per_prod);
    }
    got = tracker_verify(&run.tr, sent, run.name);
    print_message("[ stats    ] %s: %" PRIu64 " msgs in %.2f s; timed out: "
                  "%lu sends, %lu receives\n",
                  run.name, got, secs_since(t0), run.send_timedout,
                  run.recv_timedout);
    for (int i = 0; i < UR_NCH; i++)
        lfc_chan_free(run.ch[i]);
    tracker_free(&run.tr);
    lfc_test_barrier_destroy(&run.start);
    assert_no_failures();
}

static void
test_select_stress_until_races_cap0(void **state)
{
    (void)state;
    run_until_races(0);
}

static void
test_select_stress_until_races_cap1(void **state)
{
    (void)state;
    run_until_races(1);
}

/* ------------------------------------------------------------------------ */
/* Many parked selectors, values released one at a time.                    */

#define PS_SELECTORS 8
#define PS_PLAIN 2
#define PS_THREADS (PS_SELECTORS + PS_PLAIN)

struct ps_run {
    lfc_chan *ch[NCH];
    lfc_test_barrier start;
    unsigned long delivered; /* values received (atomic) */
    uint8_t *seen;           /* per value (atomic increments) */
    uint64_t nvals;
};

struct ps_worker {
    struct ps_run *run;
    unsigned id;
    pthread_t thread;
    unsigned long got;
};

static void
ps_note(struct ps_run *run, uint64_t v, unsigned id)
{
    if (v >= run->nvals) {
        stress_fail("parked selectors: receiver %u got %" PRIu64, id, v);
        return;
    }
    if (__atomic_fetch_add(&run->seen[v], 1, __ATOMIC_RELAXED) != 0)
        stress_fail("parked selectors: value %" PRIu64 " received twice", v);
    __atomic_fetch_add(&run->delivered, 1, __ATOMIC_RELEASE);
}

/* Selector i waits on channels i % 4 and (i + 1) % 4: every channel has
 * two selectors, and each selector sits on two event counts, so a
 * wake-one can reach a selector already notified through the other. */
static void *
ps_selector(void *arg)
{
    struct ps_worker *w = arg;
    struct ps_run *run = w->run;
    uint64_t out[2];
    lfc_case c[2];
    int open = 2;
    unsigned long n = 0;

    set_case(&c[0], run->ch[w->id % NCH], LFC_RECV, &out[0]);
    set_case(&c[1], run->ch[(w->id + 1) % NCH], LFC_RECV, &out[1]);
    lfc_test_barrier_wait(&run->start);
    while (open > 0) {
        int rc;
        switch (n++ % 3) {
        case 0:
            rc = lfc_select(c, 2);
            break;
        case 1:
            rc = lfc_select_biased(c, 2);
            break;
        default:
            rc = lfc_select_until(c, 2, LFC_FOREVER);
            break;
        }
        if (rc < 0 || rc > 1) {
            stress_fail("parked selectors: selector %u: %d (%s)", w->id, rc,
                        lfc_strerror(rc));
            break;
        }
        if (c[rc].status == LFC_OK) {
            ps_note(run, out[rc], w->id);
            w->got++;
        } else if (c[rc].status == LFC_CLOSED) {
            c[rc].ch = NULL;
            open--;
        } else {
            stress_fail("parked selectors: selector %u: status %d", w->id,
                        c[rc].status);
            break;
        }
    }
    return NULL;
}

/* Plain receivers on channels 0 and 2 compete with the selectors. */
static void *
ps_plain(void *arg)
{
    struct ps_worker *w = arg;
    struct ps_run *run = w->run;
    lfc_chan *ch = run->ch[(w->id - PS_SELECTORS) * 2];
    uint64_t v;
    int rc;

    lfc_test_barrier_wait(&run->start);
    while ((rc = lfc_recv(ch, &v)) == LFC_OK) {
        ps_note(run, v, w->id);
        w->got++;
    }
    WCHECK(rc == LFC_CLOSED, "parked selectors: plain receiver %u: %s", w->id,
           lfc_strerror(rc));
    return NULL;
}

static void
run_parked_selectors(size_t cap)
{
    struct ps_run run;
    struct ps_worker w[PS_THREADS];
    struct lfc_watchdog wd;
    unsigned long progress = 0;
    uint64_t rng = rng_seed(500 + cap);
    char name[64];
    int64_t t0 = lfc_test_now_ns();
    unsigned long by_sel = 0;

    failures_reset();
    snprintf(name, sizeof(name), "parked selectors cap %zu", cap);
    memset(&run, 0, sizeof(run));
    memset(w, 0, sizeof(w));
    run.nvals = (uint64_t)lfc_test_scaled(8000, 500);
    run.seen = calloc(run.nvals, 1);
    assert_non_null(run.seen);
    for (int i = 0; i < NCH; i++) {
        run.ch[i] = lfc_chan_new(cap, sizeof(uint64_t));
        assert_non_null(run.ch[i]);
    }
    lfc_test_barrier_init(&run.start, PS_THREADS + 1);
    lfc_watchdog_start(&wd, name, &progress, 20);
    for (unsigned i = 0; i < PS_THREADS; i++) {
        w[i].run = &run;
        w[i].id = i;
        xpthread_create(&w[i].thread, i < PS_SELECTORS ? ps_selector : ps_plain,
                        &w[i]);
    }
    lfc_test_barrier_wait(&run.start);
    for (uint64_t v = 0; v < run.nvals && failures_so_far() == 0; v++) {
        int chi = (int)(rng_next(&rng) % NCH);
        uint64_t r = rng_next(&rng);
        /* Mostly let the receivers spin out and park first. */
        if (r & 1)
            lfc_test_sleep_ns((int64_t)((r >> 1) % 300000));
        int rc =
            lfc_send_until(run.ch[chi], &v, lfc_now_ns() + 20 * 1000000000LL);
        WCHECK(rc == LFC_OK, "%s: send %" PRIu64 " on channel %d: %s", name, v,
               chi, lfc_strerror(rc));
        /* Each value must reach a receiver: wait for it (the watchdog
         * turns a lost wake-up into an abort). */
        while (__atomic_load_n(&run.delivered, __ATOMIC_ACQUIRE) < v + 1)
            sched_yield();
        lfc_progress_bump(&progress);
    }
    for (int i = 0; i < NCH; i++)
        lfc_close(run.ch[i]);
    for (unsigned i = 0; i < PS_THREADS; i++) {
        xpthread_join(w[i].thread);
        lfc_progress_bump(&progress);
        if (i < PS_SELECTORS)
            by_sel += w[i].got;
    }
    lfc_watchdog_stop(&wd);
    for (uint64_t v = 0; v < run.nvals; v++)
        WCHECK(run.seen[v] == 1, "%s: value %" PRIu64 " received %u times",
               name, v, (unsigned)run.seen[v]);
    print_message("[ stats    ] %s: %" PRIu64 " values (%lu by selectors) in "
                  "%.2f s\n",
                  name, run.nvals, by_sel, secs_since(t0));
    for (int i = 0; i < NCH; i++)
        lfc_chan_free(run.ch[i]);
    lfc_test_barrier_destroy(&run.start);
    free(run.seen);
    assert_no_failures();
}

static void
test_select_stress_parked_selectors_cap0(void **state)
{
    (void)state;
    run_parked_selectors(0);
}

static void
test_select_stress_parked_selectors_cap1(void **state)
{
    (void)state;
    run_parked_selectors(1);
}

/* ------------------------------------------------------------------------ */
/* Spurious wake-ups (white-box: the park ops table of src/core/lfc_park.h).      */

/* Wakes are delayed a little now and then, widening the window between a
 * waker's state change and the sleeper's return. */
static void
delayed_wake(uint32_t *word, int n)
{
    static __thread uint64_t rng;
    if (rng == 0)
        rng = rng_seed((uint64_t)(uintptr_t)&rng);
    if ((rng_next(&rng) & 7) == 0)
        sched_yield();
    lfc_test_futex_wake(word, n);
}

/* Every wait sleeps at most 20 us, then claims a wake-up that never
 * happened (or, at its deadline, the timeout). */
static const struct lfc__park_ops spurious_ops = {lfc_test_futex_wait_spurious,
                                                  delayed_wake};

/* The whole test runs with the fake installed: nothing is parked between
 * tests, as lfc__park_set_ops requires. */
static int
spurious_setup(void **state)
{
    (void)state;
    lfc__park_set_ops(&spurious_ops);
    return 0;
}

static int
spurious_teardown(void **state)
{
    (void)state;
    lfc__park_set_ops(NULL);
    return 0;
}

static void
test_select_stress_spurious_wakeups(void **state)
{
    (void)state;
    run_mpmc(0, PROD_SELECT, CONS_MIXED, lfc_test_scaled(20000, 4000));
    run_mpmc(1, PROD_OWN, CONS_SELECT, lfc_test_scaled(20000, 4000));
    run_until_races(0);
    run_parked_selectors(0);
}

/* ------------------------------------------------------------------------ */

#define MPMC_TEST_ENTRY(name, cap, pmode, cmode)                               \
    cmocka_unit_test(test_select_stress_mpmc_##name##_cap##cap),

int
main(void)
{
    /* The X-macro rows confuse clang-format. */
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        MPMC_CONFIGS(MPMC_TEST_ENTRY)
        cmocka_unit_test(test_select_stress_close_races_cap_mix),
        cmocka_unit_test(test_select_stress_until_races_cap0),
        cmocka_unit_test(test_select_stress_until_races_cap1),
        cmocka_unit_test(test_select_stress_parked_selectors_cap0),
        cmocka_unit_test(test_select_stress_parked_selectors_cap1),
        cmocka_unit_test_setup_teardown(test_select_stress_spurious_wakeups,
                                        spurious_setup, spurious_teardown),
    };
    /* clang-format on */

    /* LFC_TEST_FILTER / LFC_TEST_SKIP pick the tests; an alarm of 600 s,
     * scaled up with LFC_TEST_SCALE for soak runs. */
    stress_main_init(1200);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
