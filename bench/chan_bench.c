/* SPDX-License-Identifier: MIT */
/*
 * Channel workloads, written once against struct bench_ops so that lfchan,
 * the mutex channel, ck_ring and wfcqueue run the very same code.
 *
 * throughput  P producers send `msgs` messages in total (or as many as
 *             they can in `max_s` seconds, whichever ends first); C
 *             consumers receive until LFC_CLOSED. The last producer to
 *             finish closes the channel, so every send has returned before
 *             close. Each message carries (producer, sequence number); a
 *             64-byte message also carries a check pattern in its other
 *             words. Each consumer checks that every producer's sequence
 *             numbers arrive strictly increasing and that 64-byte payloads
 *             are intact; afterwards the per-producer counts and sums of
 *             what was received must equal what was sent.
 * pingpong    A sends i on one capacity-1 channel, B echoes it back on
 *             another; A checks the echo and records every round trip.
 * latency     one producer sends at a fixed rate (below saturation), each
 *             message stamped with its *scheduled* send time, so a stalled
 *             channel shows up as latency instead of hiding as a slower
 *             send rate (no coordinated omission); the consumer records
 *             receive time minus stamp.
 *
 * Wall time runs from the first producer's start (after a start barrier:
 * thread creation and pinning are not timed) to the last consumer's
 * LFC_CLOSED. CPU time is getrusage(RUSAGE_SELF) around the whole run,
 * thread creation included, so a design that spins shows what it burns.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <lfchan.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXP 8 /* producers per workload */
#define MAXC 8 /* consumers per workload */
#define SEQ_BITS 48
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)
#define PAT_K UINT64_C(0x9E3779B97F4A7C15)

struct msg64 {
    uint64_t w[8]; /* tag, timestamp, then tag ^ (PAT_K * i) */
};

/* ---- Shared run state ----------------------------------------------- */

struct run {
    struct bench_sync sync; /* first: close_all casts back */
    const struct bench_case *c;
    const struct bench_ops *ops;
    void *ch;
    void *ch2;          /* pingpong: the echo channel */
    int live_producers; /* the last producer to finish closes */
};

struct worker {
    _Alignas(64) struct run *run;
    pthread_t th;
    int id;   /* producer or consumer index */
    int slot; /* watchdog slot */
    int cpu;  /* -1: unpinned */
    bool producer;
    /* Producer results. */
    uint64_t sent;
    int64_t t_start;
    bool capped; /* stopped by the time cap */
    /* Consumer results. */
    uint64_t got;
    int64_t t_done;
    uint64_t last[MAXP];
    uint64_t cnt[MAXP];
    uint64_t sum[MAXP];
    struct lfc_hist *hist; /* pingpong/latency only */
};

/* The run's close_all: close the channel(s), so no thread stays blocked
 * on a partner that has stopped. */
static void
close_all(struct bench_sync *s)
{
    struct run *r = (struct run *)s;

    r->ops->close(r->ch);
    if (r->ch2 != NULL)
        r->ops->close(r->ch2);
}

static inline uint64_t
tag_of(int pid, uint64_t seq)
{
    return ((uint64_t)pid << SEQ_BITS) | seq;
}

static void
fill(void *buf, size_t msg, uint64_t tag, uint64_t stamp)
{
    if (msg == 8) {
        memcpy(buf, &tag, 8);
    } else {
        struct msg64 *m = buf;
        int i;

        m->w[0] = tag;
        m->w[1] = stamp;
        for (i = 2; i < 8; i++)
            m->w[i] = tag ^ (PAT_K * (uint64_t)i);
    }
}

/* Checks one received message against the consumer's per-producer state.
 * Returns false (and fails the run) on a mismatch. */
static bool
check(struct worker *w, const void *buf, int nprod)
{
    const struct bench_case *c = w->run->c;
    uint64_t tag;
    uint64_t seq;
    int pid;

    memcpy(&tag, buf, 8);
    pid = (int)(tag >> SEQ_BITS);
    seq = tag & SEQ_MASK;
    if (pid < 0 || pid >= nprod || seq == 0) {
        bench_fail(&w->run->sync, "consumer %d: corrupt message %#" PRIx64,
                   w->id, tag);
        return false;
    }
    if (seq <= w->last[pid]) {
        bench_fail(&w->run->sync,
                   "consumer %d: producer %d's message %" PRIu64
                   " arrived after %" PRIu64 " (lost order or duplicate)",
                   w->id, pid, seq, w->last[pid]);
        return false;
    }
    if (c->msg == 64) {
        const struct msg64 *m = buf;
        int i;

        for (i = 2; i < 8; i++) {
            if (m->w[i] != (tag ^ (PAT_K * (uint64_t)i))) {
                bench_fail(&w->run->sync,
                           "consumer %d: torn 64-byte message from producer %d "
                           "seq %" PRIu64 " (word %d)",
                           w->id, pid, seq, i);
                return false;
            }
        }
    }
    w->last[pid] = seq;
    w->cnt[pid]++;
    w->sum[pid] += seq;
    return true;
}

static const char *
status_name(int rc)
{
    return lfc_strerror(rc);
}

/* ---- Throughput --------------------------------------------------------- */

#define BATCH_MAX 64 /* the largest batch a row may ask for */

/* A throughput producer that sends c->batch messages per send_many. */
static void
tp_producer_batch(struct worker *w)
{
    struct run *r = w->run;
    const struct bench_case *c = r->c;
    uint64_t share = bench_share(c, w->id);
    static _Thread_local unsigned char buf[BATCH_MAX * sizeof(struct msg64)];
    uint64_t checked = 0;
    int64_t deadline;
    uint64_t seq = 1;

    if (!bench_worker_begin(&r->sync, w->cpu))
        return;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    while (seq <= share) {
        size_t n = (size_t)c->batch;
        size_t sent = 0;
        int rc;

        if (n > share - seq + 1)
            n = (size_t)(share - seq + 1);
        for (size_t i = 0; i < n; i++)
            fill(buf + i * c->msg, c->msg, tag_of(w->id, seq + i), 0);
        rc = r->ops->send_many(r->ch, buf, n, &sent);
        w->sent = seq - 1 + sent;
        if (rc != LFC_OK) {
            if (!bench_failed(&r->sync))
                bench_fail(&r->sync, "producer %d: send_many returned %s",
                           w->id, status_name(rc));
            break;
        }
        seq += n;
        if (w->sent - checked >= BENCH_CHECK_EVERY) {
            checked = w->sent;
            if (bench_checkpoint(w->slot, w->sent, deadline)) {
                w->capped = w->sent < share;
                break;
            }
        }
    }
}

static void *
tp_producer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    const struct bench_case *c = r->c;
    uint64_t share = bench_share(c, w->id);
    struct msg64 buf;
    int64_t deadline;
    uint64_t seq;

    if (c->batch > 0) {
        tp_producer_batch(w);
        goto out;
    }
    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (seq = 1; seq <= share; seq++) {
        int rc;

        fill(&buf, c->msg, tag_of(w->id, seq), 0);
        rc = r->ops->send(r->ch, &buf);
        if (rc != LFC_OK) {
            if (!bench_failed(&r->sync))
                bench_fail(&r->sync, "producer %d: send returned %s", w->id,
                           status_name(rc));
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
    /* Every send of ours has returned: the last one out closes. */
    if (__atomic_sub_fetch(&r->live_producers, 1, __ATOMIC_ACQ_REL) == 0)
        r->ops->close(r->ch);
    return NULL;
}

/* A throughput consumer that takes up to c->batch messages per
 * recv_many. */
static void
tp_consumer_batch(struct worker *w)
{
    struct run *r = w->run;
    const struct bench_case *c = r->c;
    static _Thread_local unsigned char buf[BATCH_MAX * sizeof(struct msg64)];
    uint64_t reported = 0;

    if (!bench_worker_begin(&r->sync, w->cpu))
        return;
    for (;;) {
        size_t got = 0;
        int rc = r->ops->recv_many(r->ch, buf, (size_t)c->batch, &got);

        if (rc == LFC_CLOSED)
            break;
        if (rc != LFC_OK || got < 1 || got > (size_t)c->batch) {
            bench_fail(&r->sync, "consumer %d: recv_many returned %s, %zu",
                       w->id, status_name(rc), got);
            break;
        }
        for (size_t i = 0; i < got; i++)
            if (!check(w, buf + i * c->msg, c->producers))
                return;
        w->got += got;
        if (w->got - reported >= BENCH_CHECK_EVERY) {
            reported = w->got;
            bench_progress(w->slot, w->got);
        }
    }
}

static void *
tp_consumer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    struct msg64 buf;

    if (r->c->batch > 0) {
        tp_consumer_batch(w);
        goto out;
    }
    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    for (;;) {
        int rc = r->ops->recv(r->ch, &buf);

        if (rc == LFC_CLOSED)
            break;
        if (rc != LFC_OK) {
            bench_fail(&r->sync, "consumer %d: recv returned %s", w->id,
                       status_name(rc));
            break;
        }
        if (!check(w, &buf, r->c->producers))
            break;
        if (++w->got % BENCH_CHECK_EVERY == 0)
            bench_progress(w->slot, w->got);
    }
out:
    w->t_done = bench_now_ns();
    return NULL;
}

/* ---- Ping-pong ---------------------------------------------------------- */

static void *
pp_pinger(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    const struct bench_case *c = r->c;
    int64_t prev;
    int64_t deadline;
    uint64_t i;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    prev = w->t_start;
    for (i = 1; i <= c->msgs; i++) {
        uint64_t v = 0;
        int64_t now;
        int rc;

        rc = r->ops->send(r->ch, &i);
        if (rc == LFC_OK)
            rc = r->ops->recv(r->ch2, &v);
        if (rc != LFC_OK) {
            if (!bench_failed(&r->sync))
                bench_fail(&r->sync, "pinger: round %" PRIu64 ": %s", i,
                           status_name(rc));
            break;
        }
        if (v != i) {
            bench_fail(&r->sync, "pinger: sent %" PRIu64 ", got back %" PRIu64,
                       i, v);
            break;
        }
        now = bench_now_ns();
        lfc_hist_record(w->hist, (uint64_t)(now - prev));
        prev = now;
        w->sent = i;
        if (i % BENCH_CHECK_EVERY == 0) {
            bench_progress(w->slot, i);
            if (now >= deadline) {
                w->capped = i < c->msgs;
                break;
            }
        }
    }
    w->t_done = bench_now_ns();
out:
    r->ops->close(r->ch);
    return NULL;
}

static void *
pp_ponger(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;

    if (!bench_worker_begin(&r->sync, w->cpu))
        return NULL;
    for (;;) {
        uint64_t v;
        int rc = r->ops->recv(r->ch, &v);

        if (rc == LFC_CLOSED)
            break;
        if (rc == LFC_OK)
            rc = r->ops->send(r->ch2, &v);
        if (rc != LFC_OK) {
            if (!bench_failed(&r->sync))
                bench_fail(&r->sync, "ponger: %s", status_name(rc));
            break;
        }
        if (++w->got % BENCH_CHECK_EVERY == 0)
            bench_progress(w->slot, w->got);
    }
    return NULL;
}

/* ---- One-way latency at a fixed offered load ---------------------------- */

static void *
lat_producer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    const struct bench_case *c = r->c;
    int64_t interval = (int64_t)(1e9 / (double)c->rate);
    int64_t deadline;
    struct msg64 buf;
    uint64_t seq;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    /* A channel that cannot sustain the load would make this run long. */
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (seq = 1; seq <= c->msgs; seq++) {
        int64_t due = w->t_start + (int64_t)(seq - 1) * interval;
        int rc;

        /* Yield while early: on a shared core the consumer must run. */
        while (bench_now_ns() < due)
            sched_yield();
        fill(&buf, c->msg, tag_of(0, seq), (uint64_t)due);
        rc = r->ops->send(r->ch, &buf);
        if (rc != LFC_OK) {
            if (!bench_failed(&r->sync))
                bench_fail(&r->sync, "producer: send returned %s",
                           status_name(rc));
            break;
        }
        w->sent = seq;
        if (seq % BENCH_CHECK_EVERY == 0 &&
            bench_checkpoint(w->slot, seq, deadline)) {
            w->capped = seq < c->msgs;
            break;
        }
    }
    /* When the last send returned: tells whether the load was sustained. */
    w->t_done = bench_now_ns();
out:
    r->ops->close(r->ch);
    return NULL;
}

static void *
lat_consumer(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    struct msg64 buf;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    for (;;) {
        int rc = r->ops->recv(r->ch, &buf);
        int64_t now = bench_now_ns();

        if (rc == LFC_CLOSED)
            break;
        if (rc != LFC_OK) {
            bench_fail(&r->sync, "consumer: recv returned %s", status_name(rc));
            break;
        }
        if (!check(w, &buf, 1))
            break;
        lfc_hist_record(w->hist, (uint64_t)(now - (int64_t)buf.w[1]));
        if (++w->got % BENCH_CHECK_EVERY == 0)
            bench_progress(w->slot, w->got);
    }
out:
    w->t_done = bench_now_ns();
    return NULL;
}

/* ---- Running a case ----------------------------------------------------- */

void
bench_run(const struct bench_case *c, struct bench_result *res)
{
    struct worker w[MAXP + MAXC];
    struct run r;
    double cpu0;
    double cpu1;
    uint64_t ctx0;
    uint64_t ctx1;
    void *(*pfn)(void *);
    void *(*cfn)(void *);
    int cpus[CPU_SETSIZE];
    int ncpu;
    int np = c->producers;
    int nc = c->consumers;
    int nt = np + nc;
    int started = 0;
    int64_t t0 = INT64_MAX;
    int64_t t1 = 0;
    int i;
    int p;

    if (c->kind == BENCH_SELECT || c->kind == BENCH_TIMEOUT ||
        c->kind == BENCH_TIMEOUT_FIRED) {
        bench_select_run(c, res);
        return;
    }
    if (c->kind == BENCH_POOL || c->kind == BENCH_POOL_LATENCY ||
        c->kind == BENCH_MERGE || c->kind == BENCH_SEM) {
        bench_pattern_run(c, res);
        return;
    }
    memset(res, 0, sizeof(*res));
    lfc_hist_init(&res->hist);
    res->ok = true;
    if (np < 1 || np > MAXP || nc < 1 || nc > MAXC ||
        (c->msg != 8 && c->msg != 64) ||
        (c->kind != BENCH_THROUGHPUT && (np != 1 || nc != 1)) ||
        (c->kind == BENCH_PINGPONG && c->msg != 8) ||
        (c->batch != 0 &&
         (c->kind != BENCH_THROUGHPUT || c->batch < 0 ||
          c->batch > BATCH_MAX || c->ops->send_many == NULL))) {
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
    r.live_producers = np;
    if (r.ops->setup != NULL)
        r.ops->setup();
    r.ch = r.ops->make(c->cap, c->msg);
    if (c->kind == BENCH_PINGPONG)
        r.ch2 = r.ops->make(c->cap, c->msg);
    if (r.ch == NULL || (c->kind == BENCH_PINGPONG && r.ch2 == NULL)) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "%s: make(%zu, %zu): %s",
                 r.ops->name, c->cap, c->msg, strerror(errno));
        goto out_free;
    }
    switch (c->kind) {
    case BENCH_PINGPONG:
        pfn = pp_pinger;
        cfn = pp_ponger;
        break;
    case BENCH_LATENCY:
        pfn = lat_producer;
        cfn = lat_consumer;
        break;
    default:
        pfn = tp_producer;
        cfn = tp_consumer;
        break;
    }
    pthread_barrier_init(&r.sync.start, NULL, (unsigned)nt);
    bench_watch_begin(c->name, nt);
    bench_usage(&cpu0, &ctx0);
    for (i = 0; i < nt; i++) {
        w[i].run = &r;
        w[i].producer = i < np;
        w[i].id = i < np ? i : i - np;
        w[i].slot = i;
        w[i].cpu = bench_cpu_for(c->pin, cpus, ncpu, w[i].producer, w[i].id);
        if (c->kind != BENCH_THROUGHPUT)
            w[i].hist = bench_hist_new();
    }
    for (i = 0; i < nt; i++) {
        bench_thread_start(&w[i].th, w[i].producer ? pfn : cfn, &w[i]);
        started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(w[i].th, NULL);
    bench_usage(&cpu1, &ctx1);
    bench_watch_end();
    pthread_barrier_destroy(&r.sync.start);

    res->cpu_s = cpu1 - cpu0;
    res->ctxsw = ctx1 - ctx0;
    for (i = 0; i < np; i++)
        bench_add_producer(res, c, w[i].sent, w[i].t_start, w[i].capped, &t0);
    for (i = 0; i < nt; i++) {
        if (w[i].t_done > t1)
            t1 = w[i].t_done;
        if (w[i].hist != NULL) {
            lfc_hist_merge(&res->hist, w[i].hist);
            free(w[i].hist);
        }
    }
    res->wall_s = t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0.0;

    if (bench_failed(&r.sync)) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "%s", r.sync.err);
        goto out_free;
    }
    /* Conservation: per producer, the count and sum of sequence numbers
     * received (all consumers together) equal what it sent. */
    if (c->kind != BENCH_PINGPONG) {
        for (p = 0; p < np; p++) {
            uint64_t got = 0;
            uint64_t sum = 0;

            for (i = np; i < nt; i++) {
                got += w[i].cnt[p];
                sum += w[i].sum[p];
            }
            if (!bench_conserved(res, p, w[p].sent, got, sum))
                goto out_free;
        }
    } else if (w[1].got != w[0].sent) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err),
                 "ponger echoed %" PRIu64 " of %" PRIu64 " pings", w[1].got,
                 w[0].sent);
        goto out_free;
    }
    if (c->kind == BENCH_LATENCY && res->msgs > 1) {
        /* Offered load not sustained: the last send was late. */
        double want_s = (double)(res->msgs - 1) / (double)c->rate;
        double took_s = (double)(w[0].t_done - w[0].t_start) * 1e-9;

        if (took_s > want_s * 1.1 + 0.001)
            snprintf(res->note, sizeof(res->note),
                     "load not sustained: %.0f msg/s offered, %.0f sent",
                     (double)c->rate, (double)res->msgs / took_s);
    }
    if (c->kind == BENCH_PINGPONG)
        res->msgs = w[0].sent;
    if (res->msgs == 0) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "no message was delivered");
    }
out_free:
    if (r.ch != NULL)
        r.ops->destroy(r.ch);
    if (r.ch2 != NULL)
        r.ops->destroy(r.ch2);
    if (r.ops->teardown != NULL)
        r.ops->teardown();
}

void
bench_result_add(struct bench_result *acc, const struct bench_result *r)
{
    if (!r->ok && acc->ok) {
        acc->ok = false;
        memcpy(acc->err, r->err, sizeof(acc->err));
    }
    if (acc->note[0] == '\0')
        memcpy(acc->note, r->note, sizeof(acc->note));
    acc->msgs += r->msgs;
    acc->wall_s += r->wall_s;
    acc->cpu_s += r->cpu_s;
    acc->ctxsw += r->ctxsw;
    lfc_hist_merge(&acc->hist, &r->hist);
}

/* ---- The case matrix ---------------------------------------------------- */

static const struct bench_ops *const main_impls[] = {
    &bench_ops_lfchan,
    &bench_ops_mutex,
    &bench_ops_ckring,
    &bench_ops_wfcq,
    &bench_ops_lfchan_unbounded,
};

static const struct bench_ops *const pingpong_impls[] = {
    &bench_ops_lfchan, &bench_ops_lfchan_spin0, &bench_ops_lfchan_spinlong,
    &bench_ops_mutex,  &bench_ops_ckring,       &bench_ops_wfcq,
    &bench_ops_lfchan_unbounded,
};

static const struct {
    const char *scenario;
    int p;
    int c;
} patterns[] = {
    {"spsc", 1, 1}, {"mpsc", 4, 1}, {"spmc", 1, 4},
    {"mpmc", 2, 2}, {"mpmc", 4, 4}, {"mpmc", 8, 8},
};

static const size_t caps[] = {1024, 64, 1, 0};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Whether an implementation can run a throughput row at all. */
static bool
supports(const struct bench_ops *ops, size_t cap)
{
    if (cap == 0 && (ops->flags & BENCH_NO_UNBUFFERED))
        return false;
    if (cap != 1024 && (ops->flags & BENCH_UNBOUNDED))
        return false;
    return true;
}

struct sizes {
    uint64_t msgs;   /* throughput messages per iteration */
    double max_s;    /* throughput time cap */
    uint64_t rounds; /* pingpong round trips */
    double pp_s;     /* pingpong time cap */
    uint64_t rate;   /* latency offered load, msgs/s */
    double lat_s;    /* latency duration */
    int iterations;
};

static struct sizes
mode_sizes(const struct bench_config *cfg)
{
    struct sizes s;

    switch (cfg->mode) {
    case BENCH_QUICK:
        s = (struct sizes){100000, 0.1, 20000, 0.1, 50000, 0.1, 1};
        break;
    case BENCH_FULL:
        s = (struct sizes){5000000, 5.0, 1000000, 5.0, 50000, 5.0, 3};
        break;
    default:
        s = (struct sizes){1000000, 0.75, 200000, 0.75, 50000, 0.5, 1};
        break;
    }
    if (cfg->msgs > 0) {
        s.rounds = cfg->msgs / 5 ? cfg->msgs / 5 : 1;
        s.msgs = cfg->msgs;
    }
    if (cfg->max_s > 0)
        s.max_s = s.pp_s = s.lat_s = cfg->max_s;
    if (cfg->iterations > 0)
        s.iterations = cfg->iterations;
    return s;
}

/* Quick mode without an explicit --pin: every row unpinned, plus a few
 * split and same rows so that each placement is exercised. */
static bool
quick_pinned_row(const struct bench_case *c)
{
    if (c->kind == BENCH_PINGPONG)
        return true;
    return c->kind == BENCH_THROUGHPUT && c->pin == BENCH_PIN_SPLIT &&
           !strcmp(c->scenario, "spsc") && c->cap == 1024 && c->msg == 8;
}

/* Quick mode: 64-byte messages only on a few rows. */
static bool
quick_msg64_row(const struct bench_case *c)
{
    return (c->producers == 1 && c->consumers == 1 && c->cap == 1024) ||
           (c->producers == 4 && c->consumers == 4 && c->cap == 64);
}

static void
push(struct bench_builder *b, const struct bench_case *c)
{
    const struct bench_config *cfg = b->cfg;

    if (!bench_pin_selected(cfg, c, quick_pinned_row))
        return;
    if (cfg->mode == BENCH_QUICK && cfg->pins == 7u &&
        c->kind == BENCH_THROUGHPUT && c->msg == 64 && !quick_msg64_row(c))
        return;
    bench_builder_append(b, c);
}

static void
name_case(struct bench_case *c)
{
    char rate[32] = "";

    if (c->kind == BENCH_LATENCY)
        snprintf(rate, sizeof(rate), "/rate:%" PRIu64, c->rate);
    if (c->batch > 0)
        snprintf(rate, sizeof(rate), "/batch:%d", c->batch);
    if (c->kind == BENCH_PINGPONG)
        snprintf(c->name, sizeof(c->name),
                 "BM_chan_pingpong/impl:%s/cap:%zu/msg:%zu/pin:%s",
                 c->ops->name, c->cap, c->msg, bench_pin_name(c->pin));
    else
        snprintf(c->name, sizeof(c->name),
                 "BM_chan_%s/impl:%s/p:%d/c:%d/cap:%zu/msg:%zu%s/pin:%s",
                 c->scenario, c->ops->name, c->producers, c->consumers, c->cap,
                 c->msg, rate, bench_pin_name(c->pin));
}

/* Names case c and appends it; fields c does not set are zero. */
static void
push_case(struct bench_builder *b, struct bench_case c)
{
    name_case(&c);
    push(b, &c);
}

struct bench_case *
bench_cases(const struct bench_config *cfg, size_t *n)
{
    struct sizes s = mode_sizes(cfg);
    struct bench_builder b = {cfg, NULL, 0, 0};
    size_t pi;
    size_t ci;
    size_t ii;
    int pin;
    int m;

    /* Throughput: rows grouped so that every implementation of one row
     * runs back to back, under the same conditions. */
    for (pi = 0; pi < NELEM(patterns); pi++) {
        for (ci = 0; ci < NELEM(caps); ci++) {
            for (m = 0; m < 2; m++) {
                for (pin = 0; pin < 3; pin++) {
                    for (ii = 0; ii < NELEM(main_impls); ii++) {
                        if (!supports(main_impls[ii], caps[ci]))
                            continue;
                        push_case(&b, (struct bench_case){
                                          .kind = BENCH_THROUGHPUT,
                                          .ops = main_impls[ii],
                                          .scenario = patterns[pi].scenario,
                                          .producers = patterns[pi].p,
                                          .consumers = patterns[pi].c,
                                          .cap = caps[ci],
                                          .msg = m ? 64 : 8,
                                          .pin = (enum bench_pin)pin,
                                          .msgs = s.msgs,
                                          .max_s = s.max_s,
                                          .iterations = s.iterations,
                                      });
                    }
                    /* Spin sweep: SPSC capacity 1. */
                    if (pi == 0 && caps[ci] == 1 && m == 0) {
                        const struct bench_ops *sw[] = {
                            &bench_ops_lfchan_spin0,
                            &bench_ops_lfchan_spinlong};

                        for (ii = 0; ii < NELEM(sw); ii++) {
                            push_case(&b, (struct bench_case){
                                              .kind = BENCH_THROUGHPUT,
                                              .ops = sw[ii],
                                              .scenario = "spsc",
                                              .producers = 1,
                                              .consumers = 1,
                                              .cap = 1,
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
        }
    }
    /* Batches against single operations (issue: batch rows): SPSC and
     * MPSC 4:1, capacity 1024, 8-byte messages; batch:B rows use
     * send_many of B and recv_many of up to B; the single-operation rows
     * to compare with are the plain spsc/mpsc ones above. */
    {
        static const int batches[] = {1, 8, 64};
        static const int bp[] = {1, 4};

        for (pi = 0; pi < NELEM(bp); pi++) {
            for (pin = 0; pin < 3; pin++) {
                for (ii = 0; ii < NELEM(batches); ii++) {
                    push_case(&b, (struct bench_case){
                                      .kind = BENCH_THROUGHPUT,
                                      .ops = &bench_ops_lfchan,
                                      .scenario = bp[pi] == 1 ? "spsc"
                                                              : "mpsc",
                                      .producers = bp[pi],
                                      .consumers = 1,
                                      .batch = batches[ii],
                                      .cap = 1024,
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
    /* Ping-pong over two capacity-1 channels, spin sweep included. */
    for (pin = 0; pin < 3; pin++) {
        for (ii = 0; ii < NELEM(pingpong_impls); ii++) {
            push_case(&b, (struct bench_case){
                              .kind = BENCH_PINGPONG,
                              .ops = pingpong_impls[ii],
                              .scenario = "pingpong",
                              .producers = 1,
                              .consumers = 1,
                              .cap = 1,
                              .msg = 8,
                              .pin = (enum bench_pin)pin,
                              .msgs = s.rounds,
                              .max_s = s.pp_s,
                              .iterations = s.iterations,
                          });
        }
    }
    /* One-way latency at a fixed offered load. */
    for (pin = 0; pin < 3; pin++) {
        for (ii = 0; ii < NELEM(main_impls); ii++) {
            push_case(&b,
                      (struct bench_case){
                          .kind = BENCH_LATENCY,
                          .ops = main_impls[ii],
                          .scenario = "latency",
                          .producers = 1,
                          .consumers = 1,
                          .cap = 1024,
                          .msg = 64,
                          .pin = (enum bench_pin)pin,
                          .rate = s.rate,
                          .msgs = (uint64_t)((double)s.rate * s.lat_s),
                          .max_s = s.lat_s * 2, /* the load is not sustained */
                          .iterations = s.iterations,
                      });
        }
    }
    /* Select and timeouts (select_bench.c, which applies cfg itself). */
    {
        size_t ns = 0;
        struct bench_case *sv = bench_select_cases(cfg, &ns);

        for (ii = 0; ii < ns; ii++)
            bench_builder_append(&b, &sv[ii]);
        free(sv);
    }
    /* Pool, merger and semaphore (pattern_bench.c, which applies cfg). */
    {
        size_t ns = 0;
        struct bench_case *pv = bench_pattern_cases(cfg, &ns);

        for (ii = 0; ii < ns; ii++)
            bench_builder_append(&b, &pv[ii]);
        free(pv);
    }
    *n = b.n;
    return b.v;
}

/* ---- Self-test ---------------------------------------------------------- */

static int selftest_failures;

#define ST_CHECK(cond, ...) BENCH_ST_CHECK(selftest_failures, cond, __VA_ARGS__)

struct st_arg {
    const struct bench_ops *ops;
    void *ch;
    uint64_t n;
    int rc;
};

static void *
st_sender(void *arg)
{
    struct st_arg *a = arg;
    uint64_t i;

    for (i = 1; i <= a->n; i++) {
        a->rc = a->ops->send(a->ch, &i);
        if (a->rc != LFC_OK)
            break;
    }
    return NULL;
}

static void *
st_receiver(void *arg)
{
    struct st_arg *a = arg;
    uint64_t v;

    a->rc = a->ops->recv(a->ch, &v);
    return NULL;
}

static void
selftest_ops(const struct bench_ops *ops)
{
    const char *nm = ops->name;
    uint64_t v = 0;
    uint64_t i;
    size_t rcap = ops->real_cap(4);
    void *ch;
    pthread_t th;
    struct st_arg a;

    if (ops->setup != NULL)
        ops->setup();
    /* Buffered: FIFO, full, close drains then reports closed. */
    ch = ops->make(4, 8);
    ST_CHECK(ch != NULL, "%s: make(4, 8) failed", nm);
    if (ch == NULL)
        goto out;
    ST_CHECK(ops->try_recv(ch, &v) == LFC_AGAIN, "%s: try_recv empty", nm);
    if (!(ops->flags & BENCH_UNBOUNDED)) {
        for (i = 1; i <= rcap; i++)
            ST_CHECK(ops->try_send(ch, &i) == LFC_OK, "%s: try_send %d", nm,
                     (int)i);
        ST_CHECK(ops->try_send(ch, &i) == LFC_AGAIN, "%s: try_send full", nm);
        for (i = 1; i <= rcap; i++) {
            ST_CHECK(ops->try_recv(ch, &v) == LFC_OK && v == i,
                     "%s: try_recv order", nm);
        }
    }
    for (i = 1; i <= 3; i++)
        ST_CHECK(ops->send(ch, &i) == LFC_OK, "%s: send", nm);
    ST_CHECK(ops->close(ch) == LFC_OK, "%s: close", nm);
    ST_CHECK(ops->close(ch) == LFC_CLOSED, "%s: close twice", nm);
    ST_CHECK(ops->send(ch, &i) == LFC_CLOSED, "%s: send after close", nm);
    for (i = 1; i <= 3; i++)
        ST_CHECK(ops->recv(ch, &v) == LFC_OK && v == i, "%s: drain after close",
                 nm);
    ST_CHECK(ops->recv(ch, &v) == LFC_CLOSED, "%s: recv closed", nm);
    ST_CHECK(ops->try_recv(ch, &v) == LFC_CLOSED, "%s: try_recv closed", nm);
    ops->destroy(ch);

    /* A blocked receiver wakes on close. */
    ch = ops->make(1, 8);
    a = (struct st_arg){ops, ch, 0, 99};
    pthread_create(&th, NULL, st_receiver, &a);
    ops->close(ch);
    pthread_join(th, NULL);
    ST_CHECK(a.rc == LFC_CLOSED, "%s: close must wake a receiver (%d)", nm,
             a.rc);
    ops->destroy(ch);

    /* Threaded FIFO through capacity 1 (or unbounded). */
    ch = ops->make(1, 8);
    a = (struct st_arg){ops, ch, 2000, 99};
    pthread_create(&th, NULL, st_sender, &a);
    for (i = 1; i <= a.n; i++) {
        if (ops->recv(ch, &v) != LFC_OK || v != i) {
            ST_CHECK(0, "%s: threaded FIFO: want %d got %d", nm, (int)i,
                     (int)v);
            break;
        }
    }
    pthread_join(th, NULL);
    ST_CHECK(a.rc == LFC_OK, "%s: threaded sender %d", nm, a.rc);
    ops->destroy(ch);

    if (!(ops->flags & BENCH_NO_UNBUFFERED)) {
        /* Unbuffered: nothing to take, nobody to take; a rendezvous. */
        ch = ops->make(0, 8);
        ST_CHECK(ops->try_recv(ch, &v) == LFC_AGAIN, "%s: unbuf try_recv", nm);
        ST_CHECK(ops->try_send(ch, &v) == LFC_AGAIN, "%s: unbuf try_send", nm);
        a = (struct st_arg){ops, ch, 2000, 99};
        pthread_create(&th, NULL, st_sender, &a);
        for (i = 1; i <= a.n; i++) {
            if (ops->recv(ch, &v) != LFC_OK || v != i) {
                ST_CHECK(0, "%s: unbuf FIFO: want %d got %d", nm, (int)i,
                         (int)v);
                break;
            }
        }
        pthread_join(th, NULL);
        ST_CHECK(a.rc == LFC_OK, "%s: unbuf sender %d", nm, a.rc);
        /* A sender with no receiver fails with CLOSED when closed. */
        a = (struct st_arg){ops, ch, 1, 99};
        pthread_create(&th, NULL, st_sender, &a);
        ops->close(ch);
        pthread_join(th, NULL);
        ST_CHECK(a.rc == LFC_CLOSED || a.rc == LFC_OK,
                 "%s: unbuf send vs close %d", nm, a.rc);
        if (a.rc == LFC_CLOSED)
            ST_CHECK(ops->try_recv(ch, &v) == LFC_CLOSED,
                     "%s: a failed unbuffered send must leave nothing", nm);
        ops->destroy(ch);
    }
out:
    if (ops->teardown != NULL)
        ops->teardown();
}

static void
selftest_hist(void)
{
    struct lfc_hist *h = malloc(sizeof(*h));
    uint64_t v;
    uint64_t q;
    unsigned prev = 0;

    if (h == NULL)
        abort();
    /* Every value maps into a bucket whose upper edge is >= it and within
     * 1/32 of it; indices never decrease. */
    for (v = 0; v < (UINT64_C(1) << 22); v += 1 + v / 64) {
        unsigned idx = lfc_hist_index(v);
        uint64_t up = lfc_hist_upper(idx);

        ST_CHECK(idx >= prev, "hist: index not monotonic at %" PRIu64, v);
        ST_CHECK(up >= v && (double)(up - v) <= (double)v / 32.0 + 1.0,
                 "hist: bucket of %" PRIu64 " ends at %" PRIu64, v, up);
        ST_CHECK(idx == 0 || lfc_hist_upper(idx - 1) < v,
                 "hist: %" PRIu64 " belongs to an earlier bucket", v);
        prev = idx;
    }
    lfc_hist_init(h);
    for (v = 1; v <= 1000000; v++)
        lfc_hist_record(h, v);
    q = lfc_hist_quantile(h, 0.5);
    ST_CHECK(q >= 500000 && q <= 500000 * 1.032, "hist: p50 %" PRIu64, q);
    q = lfc_hist_quantile(h, 0.99);
    ST_CHECK(q >= 990000 && q <= 990000 * 1.032, "hist: p99 %" PRIu64, q);
    ST_CHECK(lfc_hist_quantile(h, 1.0) == 1000000, "hist: max");
    ST_CHECK(h->min == 1 && h->count == 1000000, "hist: min/count");
    free(h);
}

bool
bench_selftest(void)
{
    const struct bench_ops *all[] = {&bench_ops_lfchan, &bench_ops_mutex,
                                     &bench_ops_ckring, &bench_ops_wfcq,
                                     &bench_ops_lfchan_unbounded};
    size_t i;

    selftest_failures = 0;
    selftest_hist();
    for (i = 0; i < NELEM(all); i++)
        selftest_ops(all[i]);
    selftest_failures += bench_select_selftest();
    selftest_failures += bench_pattern_selftest();
    return selftest_failures == 0;
}
