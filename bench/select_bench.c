/* SPDX-License-Identifier: MIT */
/*
 * Select and timeout workloads, written once against struct bench_ops
 * (sel_new/select/sel_off/sel_free and recv_timeout), so lfchan and the
 * mutex channel run the very same code.
 *
 * select_rx      K channels (K = 2, 4, 16), each fed by its own producer;
 *                one consumer selects a receive over all K until every
 *                channel is closed and drained. Producer p sends
 *                (p, 1), (p, 2), ... on channel p (`msgs` in total, or
 *                until the time cap) and then closes it; the consumer
 *                switches a case off when it reports LFC_CLOSED (Go's nil
 *                channel). Checked: a message arrives on its producer's
 *                channel, each producer's sequence numbers arrive strictly
 *                increasing, and afterwards the count and sum per producer
 *                equal what it sent (exactly once).
 * timeout        one producer, one consumer that receives every message
 *                with recv_timeout(TIMEOUT_NS): for lfchan a select over
 *                {channel, lfc_after(TIMEOUT_NS)} with the timer channel
 *                freed after each receive; for the mutex channel
 *                pthread_cond_timedwait. The data comes first: this is the
 *                price of a timeout that does not fire. A timeout that
 *                fires anyway (a descheduled producer) just retries, and is
 *                counted in the row's note. Checked as select_rx.
 * timeout_fired  one thread, recv_timeout(FIRED_NS) in a loop on a channel
 *                nobody sends on: every call must time out, and never
 *                before FIRED_NS has passed. Reports timeouts per second
 *                (the Mmsg/s column, in millions) and the lateness (return
 *                time minus call time minus FIRED_NS) in the histogram.
 *
 * Times and CPU as in chan_bench.c: wall time from the first producer's
 * start (after a start barrier) to the consumer's end; CPU is the whole
 * process's (getrusage) around the run, so lfchan's timer thread counts.
 * An abandoned lfc_after timer leaves the queue when its channel is freed
 * (older versions kept it queued until its deadline); a timeout row still
 * waits TIMEOUT_NS (plus a margin) after the run before it reads the CPU
 * time again, so any such work is counted too
 * (it is outside the wall time).
 *
 * lfchan's timer thread is started by the first timer armed while none
 * runs, and inherits that thread's CPU affinity; it exits after a quarter
 * second without timers, so it would outlive one row into the next. The
 * timeout rows therefore arm one timer from the (unpinned) main thread
 * before their workers start: the timer thread is never pinned, in every
 * placement, and it runs alongside the workers like any other thread.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <lfchan.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXK 16 /* channels (and producers) of one select */
#define SEQ_BITS 48
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)

/* Receive timeouts: far above any wait for data in the timeout rows, and
 * short enough that the abandoned lfc_after timers of one row have all
 * fired (and been counted) before the next row starts. */
#define TIMEOUT_NS INT64_C(10000000) /* 10 ms */
#define FIRED_NS INT64_C(100000)     /* 100 us */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Shared run state ------------------------------------------------- */

struct srun {
    struct bench_sync sync; /* first: close_all casts back */
    const struct bench_case *c;
    const struct bench_ops *ops;
    void *ch[MAXK];
    int nch;
};

struct sworker {
    _Alignas(64) struct srun *run;
    pthread_t th;
    int id;   /* producer index (= its channel), or 0 for the consumer */
    int slot; /* watchdog slot */
    int cpu;  /* -1: unpinned */
    /* Producer results. */
    uint64_t sent;
    int64_t t_start;
    bool capped; /* stopped by the time cap */
    /* Consumer results. */
    int64_t t_done;
    uint64_t got;
    uint64_t fired; /* timeout: timeouts that fired anyway */
    uint64_t last[MAXK];
    uint64_t cnt[MAXK];
    uint64_t sum[MAXK];
    struct lfc_hist *hist; /* timeout_fired: lateness, ns */
};

/* The run's close_all: close every channel, so that no thread stays
 * blocked on a partner that has stopped. */
static void
close_all(struct bench_sync *s)
{
    struct srun *r = (struct srun *)s;
    int i;

    for (i = 0; i < r->nch; i++)
        r->ops->close(r->ch[i]);
}

/* Checks one message received on channel `from` (every channel has one
 * producer, whose index it is). Returns false (and fails the run) on a
 * mismatch. */
static bool
check(struct sworker *w, uint64_t tag, int from)
{
    int pid = (int)(tag >> SEQ_BITS);
    uint64_t seq = tag & SEQ_MASK;

    if (pid != from || seq == 0) {
        bench_fail(&w->run->sync,
                   "consumer: message %#" PRIx64 " (producer %d) received on "
                   "channel %d",
                   tag, pid, from);
        return false;
    }
    if (seq <= w->last[pid]) {
        bench_fail(&w->run->sync,
                   "consumer: producer %d's message %" PRIu64
                   " arrived after %" PRIu64 " (lost order or duplicate)",
                   pid, seq, w->last[pid]);
        return false;
    }
    w->last[pid] = seq;
    w->cnt[pid]++;
    w->sum[pid] += seq;
    return true;
}

/* ---- Workers ---------------------------------------------------------- */

/* select_rx and timeout: producer w->id sends on channel w->id, then
 * closes it (it is that channel's only sender). */
static void *
producer(void *arg)
{
    struct sworker *w = arg;
    struct srun *r = w->run;
    const struct bench_case *c = r->c;
    void *ch = r->ch[w->id];
    uint64_t share = bench_share(c, w->id);
    int64_t deadline;
    uint64_t seq;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (seq = 1; seq <= share; seq++) {
        uint64_t tag = ((uint64_t)w->id << SEQ_BITS) | seq;
        int rc = r->ops->send(ch, &tag);

        if (rc != LFC_OK) {
            if (!bench_failed(&r->sync))
                bench_fail(&r->sync, "producer %d: send returned %s", w->id,
                           lfc_strerror(rc));
            break;
        }
        w->sent = seq;
        if (seq % BENCH_CHECK_EVERY == 0 &&
            bench_checkpoint(w->slot, seq, deadline)) {
            w->capped = seq < share;
            break;
        }
    }
out:
    r->ops->close(ch);
    return NULL;
}

static void *
select_consumer(void *arg)
{
    struct sworker *w = arg;
    struct srun *r = w->run;
    struct bench_sel cases[MAXK];
    uint64_t buf[MAXK];
    bool closed[MAXK] = {false};
    int open = r->nch;
    void *sel;
    int i;

    for (i = 0; i < r->nch; i++)
        cases[i] = (struct bench_sel){r->ch[i], LFC_RECV, &buf[i]};
    sel = r->ops->sel_new(cases, r->nch);
    if (sel == NULL)
        bench_fail(&r->sync, "consumer: sel_new(%d): %s", r->nch,
                   strerror(errno));
    if (!bench_worker_begin(&r->sync, w->cpu) || sel == NULL)
        goto out;
    while (open > 0) {
        int st = 99;

        i = r->ops->select(sel, LFC_FOREVER, &st);
        if (i < 0 || i >= r->nch) {
            bench_fail(&r->sync, "consumer: select returned %d (%s)", i,
                       lfc_strerror(i));
            break;
        }
        if (st == LFC_CLOSED && !closed[i]) {
            closed[i] = true;
            r->ops->sel_off(sel, i);
            open--;
            continue;
        }
        if (st != LFC_OK) {
            bench_fail(&r->sync,
                       "consumer: case %d completed with status %d (%s)%s", i,
                       st, lfc_strerror(st),
                       closed[i] ? " after it was switched off" : "");
            break;
        }
        if (!check(w, buf[i], i))
            break;
        if (++w->got % BENCH_CHECK_EVERY == 0)
            bench_progress(w->slot, w->got);
    }
out:
    w->t_done = bench_now_ns();
    if (sel != NULL)
        r->ops->sel_free(sel);
    return NULL;
}

static void *
timeout_consumer(void *arg)
{
    struct sworker *w = arg;
    struct srun *r = w->run;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    for (;;) {
        uint64_t tag;
        int rc = r->ops->recv_timeout(r->ch[0], &tag, r->c->timeout_ns);

        if (rc == LFC_CLOSED)
            break;
        if (rc == LFC_TIMEDOUT) {
            w->fired++;
            continue;
        }
        if (rc != LFC_OK) {
            bench_fail(&r->sync, "consumer: recv_timeout returned %s",
                       lfc_strerror(rc));
            break;
        }
        if (!check(w, tag, 0))
            break;
        if (++w->got % BENCH_CHECK_EVERY == 0)
            bench_progress(w->slot, w->got);
    }
out:
    w->t_done = bench_now_ns();
    return NULL;
}

/* timeout_fired: the only thread; its results go in the producer fields
 * (sent: timeouts, t_start) and t_done. */
static void *
fired_waiter(void *arg)
{
    struct sworker *w = arg;
    struct srun *r = w->run;
    const struct bench_case *c = r->c;
    int64_t deadline;
    uint64_t n;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (n = 1; n <= c->msgs; n++) {
        uint64_t v;
        int64_t t0 = bench_now_ns();
        int rc = r->ops->recv_timeout(r->ch[0], &v, c->timeout_ns);
        int64_t t1 = bench_now_ns();

        if (rc != LFC_TIMEDOUT) {
            bench_fail(&r->sync, "recv_timeout on an idle channel returned %s",
                       lfc_strerror(rc));
            break;
        }
        if (t1 - t0 < c->timeout_ns) {
            bench_fail(&r->sync,
                       "timeout %" PRIu64 " fired after %" PRId64
                       " ns, before its %" PRId64 " ns",
                       n, t1 - t0, c->timeout_ns);
            break;
        }
        lfc_hist_record(w->hist, (uint64_t)(t1 - t0 - c->timeout_ns));
        w->sent = n;
        bench_progress(w->slot, n);
        if (t1 >= deadline)
            break;
    }
out:
    w->t_done = bench_now_ns();
    return NULL;
}

/* ---- Running a case --------------------------------------------------- */

/* Make sure lfchan's timer thread runs, started by this (unpinned) thread:
 * see the file comment. */
static void
warm_timer_thread(void)
{
    lfc_chan *t = lfc_after(0);
    int64_t v;

    if (t != NULL) {
        lfc_recv(t, &v);
        lfc_chan_free(t);
    }
}

void
bench_select_run(const struct bench_case *c, struct bench_result *res)
{
    struct sworker w[MAXK + 1];
    struct srun r;
    int cpus[CPU_SETSIZE];
    int ncpu;
    int np = c->kind == BENCH_TIMEOUT_FIRED ? 0 : c->producers;
    int nt = np + 1;
    double cpu0;
    double cpu1;
    uint64_t ctx0;
    uint64_t ctx1;
    int64_t t0 = INT64_MAX;
    int i;

    memset(res, 0, sizeof(*res));
    lfc_hist_init(&res->hist);
    res->ok = true;
    if (np > MAXK || c->consumers != 1 || c->msg != 8 ||
        (c->kind != BENCH_TIMEOUT_FIRED && np < 1) ||
        (c->kind == BENCH_SELECT && c->ops->sel_new == NULL) ||
        (c->kind != BENCH_SELECT && c->ops->recv_timeout == NULL)) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "bad case %s", c->name);
        return;
    }
    ncpu = bench_case_cpus(c, cpus, res);

    memset(&r, 0, sizeof(r));
    memset(w, 0, sizeof(w));
    r.sync.close_all = close_all;
    r.c = c;
    r.ops = c->ops;
    r.nch = c->kind == BENCH_SELECT ? np : 1;
    if (r.ops->setup != NULL)
        r.ops->setup();
    for (i = 0; i < r.nch; i++) {
        r.ch[i] = r.ops->make(c->cap, c->msg);
        if (r.ch[i] == NULL) {
            res->ok = false;
            snprintf(res->err, sizeof(res->err), "%s: make(%zu, %zu): %s",
                     r.ops->name, c->cap, c->msg, strerror(errno));
            goto out_free;
        }
    }
    if (c->kind != BENCH_SELECT)
        warm_timer_thread();
    pthread_barrier_init(&r.sync.start, NULL, (unsigned)nt);
    bench_watch_begin(c->name, nt);
    bench_usage(&cpu0, &ctx0);
    for (i = 0; i < nt; i++) {
        void *(*fn)(void *) = producer;

        w[i].run = &r;
        w[i].id = i < np ? i : 0;
        w[i].slot = i;
        w[i].cpu = bench_cpu_for(c->pin, cpus, ncpu, i < np, w[i].id);
        if (i == np)
            fn = c->kind == BENCH_SELECT    ? select_consumer
                 : c->kind == BENCH_TIMEOUT ? timeout_consumer
                                            : fired_waiter;
        if (fn == fired_waiter)
            w[i].hist = bench_hist_new();
        bench_thread_start(&w[i].th, fn, &w[i]);
    }
    for (i = 0; i < nt; i++)
        pthread_join(w[i].th, NULL);
    if (c->kind == BENCH_TIMEOUT) {
        /* Let every abandoned timer fire inside the CPU window. */
        struct timespec ts = {0, (long)(c->timeout_ns + 2000000)};

        nanosleep(&ts, NULL);
    }
    bench_usage(&cpu1, &ctx1);
    bench_watch_end();
    pthread_barrier_destroy(&r.sync.start);

    res->cpu_s = cpu1 - cpu0;
    res->ctxsw = ctx1 - ctx0;
    if (c->kind == BENCH_TIMEOUT_FIRED) {
        /* The waiter is its own producer. */
        t0 = w[0].t_start;
        res->msgs = w[0].sent;
        lfc_hist_merge(&res->hist, w[0].hist);
        free(w[0].hist);
    }
    for (i = 0; i < np; i++)
        bench_add_producer(res, c, w[i].sent, w[i].t_start, w[i].capped, &t0);
    res->wall_s = w[np].t_done > t0 ? (double)(w[np].t_done - t0) * 1e-9 : 0.0;
    if (bench_failed(&r.sync)) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "%s", r.sync.err);
        goto out_free;
    }
    /* Exactly once: per producer, the count and sum of the sequence
     * numbers received equal what it sent. */
    for (i = 0; i < np; i++)
        if (!bench_conserved(res, i, w[i].sent, w[np].cnt[i], w[np].sum[i]))
            goto out_free;
    if (w[np].fired > 0)
        snprintf(res->note, sizeof(res->note),
                 "%" PRIu64 " timeout(s) of %.0f ms fired anyway", w[np].fired,
                 (double)c->timeout_ns / 1e6);
    if (res->msgs == 0) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "no message was delivered");
    }
out_free:
    for (i = 0; i < r.nch; i++)
        if (r.ch[i] != NULL)
            r.ops->destroy(r.ch[i]);
    if (r.ops->teardown != NULL)
        r.ops->teardown();
}

/* ---- The case matrix -------------------------------------------------- */

static const struct bench_ops *const select_impls[] = {
    &bench_ops_lfchan,
    &bench_ops_mutex,
};

static const struct bench_ops *const timeout_impls[] = {
    &bench_ops_lfchan,
    &bench_ops_lfchan_timer,
    &bench_ops_lfchan_until,
    &bench_ops_mutex,
};

static const int select_ks[] = {2, 4, 16};
static const size_t select_caps[] = {1024, 1};
static const size_t timeout_caps[] = {1024, 1};

struct ssizes {
    uint64_t msgs;  /* select_rx and timeout: messages per iteration */
    double max_s;   /* their time cap */
    double fired_s; /* timeout_fired: how long */
    int iterations;
};

static struct ssizes
sizes_for(const struct bench_config *cfg)
{
    struct ssizes s;

    switch (cfg->mode) {
    case BENCH_QUICK:
        s = (struct ssizes){100000, 0.1, 0.05, 1};
        break;
    case BENCH_FULL:
        s = (struct ssizes){5000000, 5.0, 2.0, 3};
        break;
    default:
        s = (struct ssizes){1000000, 0.5, 0.25, 1};
        break;
    }
    if (cfg->msgs > 0)
        s.msgs = cfg->msgs;
    if (cfg->max_s > 0)
        s.max_s = s.fired_s = cfg->max_s;
    if (cfg->iterations > 0)
        s.iterations = cfg->iterations;
    return s;
}

/* Quick mode without an explicit --pin: unpinned rows, plus one split row
 * so that placement is exercised. */
static bool
quick_pinned_row(const struct bench_case *c)
{
    return c->kind == BENCH_SELECT && c->pin == BENCH_PIN_SPLIT &&
           c->producers == 4 && c->cap == 1024;
}

static void
name_case(struct bench_case *c)
{
    const char *pn = bench_pin_name(c->pin);

    if (c->kind == BENCH_SELECT)
        snprintf(c->name, sizeof(c->name),
                 "BM_chan_select_rx/impl:%s/chans:%d/cap:%zu/msg:%zu/pin:%s",
                 c->ops->name, c->producers, c->cap, c->msg, pn);
    else if (c->kind == BENCH_TIMEOUT)
        snprintf(c->name, sizeof(c->name),
                 "BM_timer_timeout/impl:%s/cap:%zu/timeout_us:%" PRId64
                 "/msg:%zu/pin:%s",
                 c->ops->name, c->cap, c->timeout_ns / 1000, c->msg, pn);
    else
        snprintf(c->name, sizeof(c->name),
                 "BM_timer_timeout_fired/impl:%s/timeout_us:%" PRId64 "/pin:%s",
                 c->ops->name, c->timeout_ns / 1000, pn);
}

/* Names case c and appends it if the config selects it. */
static void
push_case(struct bench_builder *b, struct bench_case c)
{
    if (!bench_pin_selected(b->cfg, &c, quick_pinned_row))
        return;
    name_case(&c);
    bench_builder_append(b, &c);
}

struct bench_case *
bench_select_cases(const struct bench_config *cfg, size_t *n)
{
    struct ssizes s = sizes_for(cfg);
    struct bench_builder b = {cfg, NULL, 0, 0};
    size_t ki;
    size_t ci;
    size_t ii;
    int pin;

    /* Select: every implementation of one row back to back. */
    for (ki = 0; ki < NELEM(select_ks); ki++) {
        for (ci = 0; ci < NELEM(select_caps); ci++) {
            for (pin = 0; pin < 3; pin++) {
                for (ii = 0; ii < NELEM(select_impls); ii++) {
                    push_case(&b, (struct bench_case){
                                      .kind = BENCH_SELECT,
                                      .ops = select_impls[ii],
                                      .scenario = "select_rx",
                                      .producers = select_ks[ki],
                                      .consumers = 1,
                                      .cap = select_caps[ci],
                                      .msg = 8,
                                      .pin = (enum bench_pin)pin,
                                      .msgs = s.msgs,
                                      .max_s = s.max_s,
                                      .iterations = s.iterations,
                                  });
                }
            }
        }
    }
    /* Timeouts that do not fire, then timeouts that fire (one thread:
     * unpinned only). */
    for (ci = 0; ci < NELEM(timeout_caps); ci++) {
        for (pin = 0; pin < 3; pin++) {
            for (ii = 0; ii < NELEM(timeout_impls); ii++) {
                push_case(&b, (struct bench_case){
                                  .kind = BENCH_TIMEOUT,
                                  .ops = timeout_impls[ii],
                                  .scenario = "timeout",
                                  .producers = 1,
                                  .consumers = 1,
                                  .cap = timeout_caps[ci],
                                  .msg = 8,
                                  .pin = (enum bench_pin)pin,
                                  .msgs = s.msgs,
                                  .max_s = s.max_s,
                                  .iterations = s.iterations,
                                  .timeout_ns = TIMEOUT_NS,
                              });
            }
        }
    }
    for (ii = 0; ii < NELEM(timeout_impls); ii++) {
        push_case(&b, (struct bench_case){
                          .kind = BENCH_TIMEOUT_FIRED,
                          .ops = timeout_impls[ii],
                          .scenario = "timeout_fired",
                          .producers = 1,
                          .consumers = 1,
                          .cap = 1,
                          .msg = 8,
                          .pin = BENCH_PIN_NONE,
                          .msgs = (uint64_t)(s.fired_s * 1e9 / FIRED_NS),
                          .max_s = s.fired_s,
                          .iterations = s.iterations,
                          .timeout_ns = FIRED_NS,
                      });
    }
    *n = b.n;
    return b.v;
}

/* ---- Self-test -------------------------------------------------------- */

static int failures;

#define ST_CHECK(cond, ...) BENCH_ST_CHECK(failures, cond, __VA_ARGS__)

/* A thread that sends v on ch (send) or receives from it, after a delay. */
struct st_later {
    const struct bench_ops *ops;
    void *ch;
    bool send;
    uint64_t v;
    int rc;
};

static void *
st_later_main(void *arg)
{
    struct st_later *a = arg;
    struct timespec ts = {0, 2000000}; /* 2 ms: the other side blocks */

    nanosleep(&ts, NULL);
    a->rc = a->send ? a->ops->send(a->ch, &a->v) : a->ops->recv(a->ch, &a->v);
    return NULL;
}

static void
st_later(pthread_t *th, struct st_later *a, const struct bench_ops *ops,
         void *ch, bool send, uint64_t v)
{
    *a = (struct st_later){ops, ch, send, v, 99};
    pthread_create(th, NULL, st_later_main, a);
}

static void
selftest_select(const struct bench_ops *ops)
{
    const char *nm = ops->name;
    uint64_t in[2] = {0, 0};
    uint64_t v;
    uint64_t i;
    void *ch[2];
    void *sel;
    int hits[2] = {0, 0};
    int64_t t0;
    int st = 0;
    int rc;
    pthread_t th;
    struct st_later a;
    struct bench_sel cases[2];

    ch[0] = ops->make(2, 8);
    ch[1] = ops->make(2, 8);
    ST_CHECK(ch[0] != NULL && ch[1] != NULL, "%s: make(2, 8)", nm);
    if (ch[0] == NULL || ch[1] == NULL)
        goto out_chans;
    cases[0] = (struct bench_sel){ch[0], LFC_RECV, &in[0]};
    cases[1] = (struct bench_sel){ch[1], LFC_RECV, &in[1]};
    sel = ops->sel_new(cases, 2);
    ST_CHECK(sel != NULL, "%s: sel_new", nm);
    if (sel == NULL)
        goto out_chans;

    /* Nothing ready: times out, not early, consuming nothing. */
    t0 = bench_now_ns();
    rc = ops->select(sel, t0 + 1000000, &st);
    ST_CHECK(rc == LFC_TIMEDOUT, "%s: select on empty channels: %d", nm, rc);
    ST_CHECK(bench_now_ns() - t0 >= 1000000, "%s: select timed out early", nm);
    /* The one ready case wins; the other consumes nothing. */
    v = 7;
    ops->send(ch[1], &v);
    rc = ops->select(sel, LFC_FOREVER, &st);
    ST_CHECK(rc == 1 && st == LFC_OK && in[1] == 7,
             "%s: select with case 1 ready: %d/%d/%d", nm, rc, st, (int)in[1]);
    ST_CHECK(ops->try_recv(ch[0], &v) == LFC_AGAIN, "%s: case 0 consumed", nm);
    /* Both ready: both get chosen (random start). */
    for (i = 0; i < 200; i++) {
        ops->try_send(ch[0], &i);
        ops->try_send(ch[1], &i);
        rc = ops->select(sel, LFC_FOREVER, &st);
        if (rc == 0 || rc == 1)
            hits[rc]++;
    }
    ST_CHECK(hits[0] >= 20 && hits[1] >= 20,
             "%s: select unfair: %d vs %d of 200", nm, hits[0], hits[1]);
    while (ops->try_recv(ch[0], &v) == LFC_OK)
        ;
    while (ops->try_recv(ch[1], &v) == LFC_OK)
        ;
    /* A blocked select wakes for a send on either channel. */
    st_later(&th, &a, ops, ch[0], true, 42);
    rc = ops->select(sel, LFC_FOREVER, &st);
    pthread_join(th, NULL);
    ST_CHECK(rc == 0 && st == LFC_OK && in[0] == 42,
             "%s: blocked select woken by a send: %d/%d", nm, rc, st);
    /* Close: a drained closed channel completes its case with CLOSED;
     * switched off, the other case is waited for. */
    ops->close(ch[1]);
    rc = ops->select(sel, LFC_FOREVER, &st);
    ST_CHECK(rc == 1 && st == LFC_CLOSED, "%s: closed case: %d/%d", nm, rc, st);
    ops->sel_off(sel, 1);
    rc = ops->select(sel, bench_now_ns() + 1000000, &st);
    ST_CHECK(rc == LFC_TIMEDOUT, "%s: select after sel_off: %d", nm, rc);
    ops->sel_free(sel);

    /* A send case on a full channel waits for room; a receive case on a
     * closed one reports it (with a NULL channel beside them). */
    ops->destroy(ch[1]);
    ch[1] = ops->make(1, 8);
    v = 1;
    ops->send(ch[1], &v);
    in[1] = 5;
    cases[0] = (struct bench_sel){NULL, LFC_RECV, &in[0]};
    cases[1] = (struct bench_sel){ch[1], LFC_SEND, &in[1]};
    sel = ops->sel_new(cases, 2);
    ST_CHECK(sel != NULL, "%s: sel_new (send)", nm);
    if (sel == NULL)
        goto out_chans;
    rc = ops->select(sel, bench_now_ns() + 1000000, &st);
    ST_CHECK(rc == LFC_TIMEDOUT, "%s: send case on a full channel: %d", nm, rc);
    st_later(&th, &a, ops, ch[1], false, 0);
    rc = ops->select(sel, LFC_FOREVER, &st);
    pthread_join(th, NULL);
    ST_CHECK(rc == 1 && st == LFC_OK && a.rc == LFC_OK && a.v == 1,
             "%s: send case woken by a receive: %d/%d", nm, rc, st);
    ST_CHECK(ops->try_recv(ch[1], &v) == LFC_OK && v == 5,
             "%s: the send case's value", nm);
    ops->close(ch[1]);
    rc = ops->select(sel, LFC_FOREVER, &st);
    ST_CHECK(rc == 1 && st == LFC_CLOSED,
             "%s: send case on a closed channel: %d/%d", nm, rc, st);
    ops->sel_free(sel);
out_chans:
    if (ch[0] != NULL)
        ops->destroy(ch[0]);
    if (ch[1] != NULL)
        ops->destroy(ch[1]);
}

static void
selftest_timeout(const struct bench_ops *ops)
{
    const char *nm = ops->name;
    void *ch = ops->make(1, 8);
    uint64_t v = 3;
    int64_t t0;
    int rc;
    pthread_t th;
    struct st_later a;

    ST_CHECK(ch != NULL, "%s: make(1, 8)", nm);
    if (ch == NULL)
        return;
    t0 = bench_now_ns();
    rc = ops->recv_timeout(ch, &v, 1000000);
    ST_CHECK(rc == LFC_TIMEDOUT, "%s: recv_timeout on empty: %d", nm, rc);
    ST_CHECK(bench_now_ns() - t0 >= 1000000, "%s: timed out early", nm);
    v = 3;
    ops->send(ch, &v);
    v = 0;
    rc = ops->recv_timeout(ch, &v, 1000000);
    ST_CHECK(rc == LFC_OK && v == 3, "%s: recv_timeout with a value: %d", nm,
             rc);
    st_later(&th, &a, ops, ch, true, 9);
    rc = ops->recv_timeout(ch, &v, 1000000000);
    pthread_join(th, NULL);
    ST_CHECK(rc == LFC_OK && v == 9, "%s: recv_timeout woken by a send: %d", nm,
             rc);
    ops->close(ch);
    rc = ops->recv_timeout(ch, &v, 1000000);
    ST_CHECK(rc == LFC_CLOSED, "%s: recv_timeout on closed: %d", nm, rc);
    ops->destroy(ch);
}

int
bench_select_selftest(void)
{
    size_t i;

    failures = 0;
    for (i = 0; i < NELEM(select_impls); i++) {
        if (select_impls[i]->setup != NULL)
            select_impls[i]->setup();
        selftest_select(select_impls[i]);
        if (select_impls[i]->teardown != NULL)
            select_impls[i]->teardown();
    }
    for (i = 0; i < NELEM(timeout_impls); i++) {
        if (timeout_impls[i]->setup != NULL)
            timeout_impls[i]->setup();
        selftest_timeout(timeout_impls[i]);
        if (timeout_impls[i]->teardown != NULL)
            timeout_impls[i]->teardown();
    }
    return failures;
}
