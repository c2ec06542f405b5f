/* SPDX-License-Identifier: MIT */
/*
 * Pattern workloads: lfchan's worker pool, fan-in merger and semaphore
 * against the same patterns built from mutexes and condition variables
 * (mutex_patterns.c) and, for the semaphore, POSIX sem_t. Written once
 * against struct bench_pat_ops, so every implementation runs the same code.
 *
 * pool throughput  S submitters (1 or 4) submit `msgs` empty tasks in
 *                  total (or as many as they can in `max_s`) to a pool of
 *                  W workers (1, 2 or 8) with a queue of POOL_CAP tasks;
 *                  the last submitter to finish calls the pool's wait.
 *                  Wall time: first submit to the wait's return. A task
 *                  carries (submitter, sequence number) in its argument
 *                  and adds it to its worker thread's tally (count, sum,
 *                  sum of squares per submitter; thread-local, so counting
 *                  shares no cache line between workers); afterwards the
 *                  tallies of all workers must equal what each submitter
 *                  had accepted: every task ran exactly once.
 * pool latency     one submitter submits at LAT_RATE tasks per second
 *                  (lightly loaded) to W = 2 workers. It sleeps until each
 *                  task's scheduled time (clock_nanosleep on an absolute
 *                  schedule, so a late wake-up does not lower the rate;
 *                  timer slack 1 us), stamps the task's record with the
 *                  time just before the submit call, and the task stores
 *                  the time it started. Histogram: start minus submit, so
 *                  a submit that blocks counts too. Sleeping rather than
 *                  spinning leaves the CPU column to the pool's own cost
 *                  of idling between tasks (workers that spin or park).
 *                  Every record must show exactly one run.
 * merge fanin      K input channels (2, 8, 64) of capacity MERGE_CAP, fed
 *                  by P = min(K, 8) producer threads (producer p feeds the
 *                  inputs p, p + P, ...: one each for K <= 8, eight each
 *                  for K = 64, round-robin), merged into one channel of
 *                  capacity MERGE_CAP read by one consumer until it is
 *                  closed. Each producer closes its inputs when done; the
 *                  merger closes out. Every value carries (input, sequence
 *                  number); the consumer checks that each input's sequence
 *                  numbers arrive strictly increasing, and afterwards count
 *                  and sum per input equal what was sent, and the merger
 *                  dropped nothing.
 * sem              T threads (1: uncontended; 2 or 8: contended) loop on
 *                  acquire(1), critical section, release(1) on a semaphore
 *                  of 1 or 4 permits. In the critical section a shared
 *                  counter of threads inside is raised and must never
 *                  exceed the permits; with 1 permit a non-atomic counter
 *                  is also bumped, and must equal the number of acquires
 *                  at the end (a lost update means two threads were inside
 *                  at once). Either failure fails the run.
 *
 * Times and CPU as in chan_bench.c: wall time from the first worker's
 * start (after a start barrier) to the end of the last; CPU is the whole
 * process's (getrusage) around the run, including creating and freeing
 * the pool or merger, so threads that spin or wake needlessly show.
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
#include <sys/prctl.h>
#include <time.h>

#define MAXS 8     /* submitters, producers, semaphore threads */
#define MAXW 8     /* pool workers */
#define MAXIN 64   /* merger inputs */
#define MAXTALLY 8 /* pool worker threads that count tasks */

/* A pool task's argument: submitter << PSEQ_BITS | sequence number, in a
 * pointer (so 32-bit pointers do too). */
#define PSEQ_BITS 28
#define PSEQ_MAX ((UINT64_C(1) << PSEQ_BITS) - 1)
/* A merged value: input << SEQ_BITS | sequence number. */
#define SEQ_BITS 48
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)

#define POOL_CAP 1024
#define MERGE_CAP 1024
#define LAT_WORKERS 2
#define LAT_RATE 20000 /* tasks per second */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Pool task tallies -------------------------------------------------- */

/* What one worker thread counted, per submitter. */
struct tally {
    _Alignas(64) uint64_t cnt[MAXS];
    uint64_t sum[MAXS];
    uint64_t sq[MAXS]; /* sum of squares, mod 2^64 */
};

/* Slot MAXTALLY takes the tasks of threads beyond MAXTALLY and fails the
 * run (tally_over). */
static struct tally tallies[MAXTALLY + 1];
static int ntallies;   /* slots claimed this run (atomic) */
static unsigned tgen;  /* bumped per run; a thread's slot is for one run */
static int tally_over; /* a thread found no slot (atomic) */
static _Thread_local struct tally *my_tally;
static _Thread_local unsigned my_gen;

static void
tallies_reset(void)
{
    memset(tallies, 0, sizeof(tallies));
    __atomic_store_n(&ntallies, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&tally_over, 0, __ATOMIC_RELAXED);
    /* Release: the cleared slots before any worker claims one. */
    __atomic_add_fetch(&tgen, 1, __ATOMIC_RELEASE);
}

static struct tally *
tally_claim(unsigned gen)
{
    int i = __atomic_fetch_add(&ntallies, 1, __ATOMIC_RELAXED);

    if (i >= MAXTALLY) {
        __atomic_store_n(&tally_over, 1, __ATOMIC_RELAXED);
        i = MAXTALLY;
    }
    my_tally = &tallies[i];
    my_gen = gen;
    return my_tally;
}

/* The empty task of the throughput rows: counts itself and returns. */
static void
task_count(void *arg)
{
    uint64_t tag = (uint64_t)(uintptr_t)arg;
    uint64_t seq = tag & PSEQ_MAX;
    unsigned s = (unsigned)(tag >> PSEQ_BITS) % MAXS;
    unsigned gen = __atomic_load_n(&tgen, __ATOMIC_ACQUIRE);
    struct tally *t = my_tally;

    if (t == NULL || my_gen != gen)
        t = tally_claim(gen);
    t->cnt[s]++;
    t->sum[s] += seq;
    t->sq[s] += seq * seq;
}

/* A latency task's record: written by the submitter before the submit,
 * by the task when it runs. */
struct lrec {
    int64_t due;   /* submit time (just before the call) */
    int64_t start; /* when the task started */
    uint32_t runs;
};

static void
task_stamp(void *arg)
{
    struct lrec *l = arg;

    l->start = bench_now_ns();
    l->runs++;
}

/* ---- Shared run state --------------------------------------------------- */

struct prun {
    struct bench_sync sync; /* first: close_all casts back */
    const struct bench_case *c;
    const struct bench_pat_ops *pat;
    /* Pool. */
    void *pool;
    int live;         /* submitters still submitting (atomic) */
    int64_t t_waited; /* when the last submitter's wait returned */
    struct lrec *lrec;
    /* Merger. */
    const struct bench_ops *ch;
    void *in[MAXIN];
    void *out;
    uint64_t in_sent[MAXIN]; /* written by the input's producer */
    /* Semaphore. */
    void *sem;
    int inside;    /* threads between acquire and release (atomic) */
    uint64_t excl; /* 1 permit: bumped non-atomically inside */
};

struct pworker {
    _Alignas(64) struct prun *run;
    pthread_t th;
    int id;        /* submitter, producer or thread index; 0 for the consumer */
    int slot;      /* watchdog slot */
    int cpu;       /* -1: unpinned */
    uint64_t sent; /* tasks accepted, values sent, acquires done */
    uint64_t sum;  /* pool: of the sequence numbers accepted */
    uint64_t sq;   /* pool: of their squares */
    int64_t t_start;
    int64_t t_done;
    bool capped; /* stopped by the time cap */
    /* Merge consumer. */
    uint64_t last[MAXIN];
    uint64_t cnt[MAXIN];
    uint64_t isum[MAXIN];
};

/* The run's close_all: close the merger's channels so that no thread stays
 * blocked on a partner that has stopped (pool and semaphore threads check
 * bench_failed instead). */
static void
close_all(struct bench_sync *s)
{
    struct prun *r = (struct prun *)s;
    int i;

    if (r->c->kind != BENCH_MERGE)
        return;
    for (i = 0; i < r->c->inputs; i++)
        if (r->in[i] != NULL)
            r->ch->close(r->in[i]);
    if (r->out != NULL)
        r->ch->close(r->out);
}

/* ---- Pool --------------------------------------------------------------- */

/* The last submitter out waits for the pool: every other submitter's
 * submits returned before it left, so before the wait began. */
static void
pool_leave(struct pworker *w)
{
    struct prun *r = w->run;

    if (__atomic_sub_fetch(&r->live, 1, __ATOMIC_ACQ_REL) == 0) {
        int rc = r->pat->pool_wait(r->pool);

        if (rc != LFC_OK)
            bench_fail(&r->sync, "pool wait returned %s", lfc_strerror(rc));
        r->t_waited = bench_now_ns();
    }
}

static void *
pool_submitter(void *arg)
{
    struct pworker *w = arg;
    struct prun *r = w->run;
    const struct bench_case *c = r->c;
    uint64_t share = bench_share(c, w->id);
    int64_t deadline;
    uint64_t seq;

    if (share > PSEQ_MAX)
        share = PSEQ_MAX;
    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (seq = 1; seq <= share; seq++) {
        uint64_t tag = (uint64_t)w->id << PSEQ_BITS | seq;
        int rc =
            r->pat->pool_submit(r->pool, task_count, (void *)(uintptr_t)tag);

        if (rc != LFC_OK) {
            bench_fail(&r->sync, "submitter %d: submit returned %s", w->id,
                       lfc_strerror(rc));
            break;
        }
        w->sent = seq;
        w->sum += seq;
        w->sq += seq * seq;
        if (seq % BENCH_CHECK_EVERY == 0) {
            if (bench_checkpoint(w->slot, seq, deadline)) {
                w->capped = seq < share;
                break;
            }
            if (bench_failed(&r->sync))
                break;
        }
    }
out:
    pool_leave(w);
    return NULL;
}

static void *
pool_lat_submitter(void *arg)
{
    struct pworker *w = arg;
    struct prun *r = w->run;
    const struct bench_case *c = r->c;
    int64_t interval = (int64_t)(1e9 / (double)c->rate);
    int64_t deadline;
    uint64_t i;

    /* Sleep precisely: the default 50 us slack is the whole period. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    /* A pool that cannot sustain the load would make this run long. */
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (i = 0; i < c->msgs; i++) {
        struct lrec *l = &r->lrec[i];
        int64_t due = w->t_start + (int64_t)i * interval;
        struct timespec ts = {(time_t)(due / 1000000000),
                              (long)(due % 1000000000)};
        int rc;

        /* bench_now_ns is CLOCK_MONOTONIC: sleep until `due` on it. */
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
               EINTR)
            ;
        l->due = bench_now_ns();
        rc = r->pat->pool_submit(r->pool, task_stamp, l);
        if (rc != LFC_OK) {
            bench_fail(&r->sync, "submit returned %s", lfc_strerror(rc));
            break;
        }
        w->sent = i + 1;
        if (w->sent % BENCH_CHECK_EVERY == 0 &&
            bench_checkpoint(w->slot, w->sent, deadline)) {
            w->capped = w->sent < c->msgs;
            break;
        }
    }
    /* When the last submit returned: tells whether the load was
     * sustained. */
    w->t_done = bench_now_ns();
out:
    pool_leave(w);
    return NULL;
}

/* Every task ran exactly once: the workers' tallies against what each
 * submitter had accepted. */
static void
pool_verify(struct prun *r, struct pworker *w, struct bench_result *res)
{
    const struct bench_case *c = r->c;
    int s;
    int t;

    if (__atomic_load_n(&tally_over, __ATOMIC_RELAXED)) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err),
                 "tasks ran on more than %d threads", MAXTALLY);
        return;
    }
    for (s = 0; s < c->producers; s++) {
        uint64_t cnt = 0;
        uint64_t sum = 0;
        uint64_t sq = 0;

        for (t = 0; t <= MAXTALLY; t++) {
            cnt += tallies[t].cnt[s];
            sum += tallies[t].sum[s];
            sq += tallies[t].sq[s];
        }
        if (cnt != w[s].sent || sum != w[s].sum || sq != w[s].sq) {
            res->ok = false;
            snprintf(res->err, sizeof(res->err),
                     "submitter %d: %" PRIu64 " tasks accepted (sum %" PRIu64
                     ") but %" PRIu64 " ran (sum %" PRIu64 "%s)",
                     s, w[s].sent, w[s].sum, cnt, sum,
                     sq != w[s].sq ? ", squares differ" : "");
            return;
        }
    }
}

static void
lat_verify(struct prun *r, struct pworker *w, struct bench_result *res)
{
    const struct bench_case *c = r->c;
    uint64_t i;

    for (i = 0; i < w[0].sent; i++) {
        const struct lrec *l = &r->lrec[i];

        if (l->runs != 1) {
            res->ok = false;
            snprintf(res->err, sizeof(res->err),
                     "task %" PRIu64 " of %" PRIu64 " ran %u times", i + 1,
                     w[0].sent, l->runs);
            return;
        }
        lfc_hist_record(&res->hist,
                        (uint64_t)(l->start > l->due ? l->start - l->due : 0));
    }
    if (w[0].sent > 1) {
        /* Offered load not sustained: the last submit was late. */
        double want_s = (double)(w[0].sent - 1) / (double)c->rate;
        double took_s = (double)(w[0].t_done - w[0].t_start) * 1e-9;

        if (took_s > want_s * 1.1 + 0.001)
            snprintf(res->note, sizeof(res->note),
                     "load not sustained: %.0f tasks/s offered, %.0f "
                     "submitted",
                     (double)c->rate, (double)w[0].sent / took_s);
    }
}

/* ---- Merger --------------------------------------------------------------- */

static void *
merge_producer(void *arg)
{
    struct pworker *w = arg;
    struct prun *r = w->run;
    const struct bench_case *c = r->c;
    uint64_t share = bench_share(c, w->id);
    uint64_t seq[MAXIN] = {0};
    int mine = 0; /* inputs w->id, w->id + P, ... */
    int k = 0;
    int64_t deadline;
    uint64_t j;
    int i;

    for (i = w->id; i < c->inputs; i += c->producers)
        mine++;
    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (j = 1; j <= share; j++) {
        int in = w->id + k * c->producers;
        uint64_t tag = (uint64_t)in << SEQ_BITS | (seq[k] + 1);
        int rc = r->ch->send(r->in[in], &tag);

        if (rc != LFC_OK) {
            if (!bench_failed(&r->sync))
                bench_fail(&r->sync, "producer %d: send to input %d: %s", w->id,
                           in, lfc_strerror(rc));
            break;
        }
        seq[k]++;
        w->sent = j;
        if (++k == mine)
            k = 0;
        if (j % BENCH_CHECK_EVERY == 0 &&
            bench_checkpoint(w->slot, j, deadline)) {
            w->capped = j < share;
            break;
        }
    }
out:
    /* Each input has one producer: record what it got, close it. */
    for (k = 0; k < mine; k++) {
        int in = w->id + k * c->producers;

        r->in_sent[in] = seq[k];
        r->ch->close(r->in[in]);
    }
    return NULL;
}

static void *
merge_consumer(void *arg)
{
    struct pworker *w = arg;
    struct prun *r = w->run;
    const struct bench_case *c = r->c;
    uint64_t got = 0;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    for (;;) {
        uint64_t tag;
        uint64_t seq;
        int in;
        int rc = r->ch->recv(r->out, &tag);

        if (rc == LFC_CLOSED)
            break;
        if (rc != LFC_OK) {
            bench_fail(&r->sync, "consumer: recv returned %s",
                       lfc_strerror(rc));
            break;
        }
        in = (int)(tag >> SEQ_BITS);
        seq = tag & SEQ_MASK;
        if (in < 0 || in >= c->inputs || seq == 0) {
            bench_fail(&r->sync, "consumer: corrupt value %#" PRIx64, tag);
            break;
        }
        if (seq <= w->last[in]) {
            bench_fail(&r->sync,
                       "consumer: input %d's value %" PRIu64
                       " arrived after %" PRIu64 " (lost order or duplicate)",
                       in, seq, w->last[in]);
            break;
        }
        w->last[in] = seq;
        w->cnt[in]++;
        w->isum[in] += seq;
        if (++got % BENCH_CHECK_EVERY == 0)
            bench_progress(w->slot, got);
    }
out:
    w->t_done = bench_now_ns();
    return NULL;
}

static void
merge_verify(struct prun *r, const struct pworker *cons,
             struct bench_result *res)
{
    int i;

    for (i = 0; i < r->c->inputs; i++) {
        uint64_t n = r->in_sent[i];
        uint64_t want = n % 2 ? n * ((n + 1) / 2) : (n / 2) * (n + 1);

        if (cons->cnt[i] != n || cons->isum[i] != want) {
            res->ok = false;
            snprintf(res->err, sizeof(res->err),
                     "input %d: %" PRIu64 " values sent (sum %" PRIu64
                     ") but %" PRIu64 " arrived (sum %" PRIu64 ")",
                     i, n, want, cons->cnt[i], cons->isum[i]);
            return;
        }
    }
}

/* ---- Semaphore ---------------------------------------------------------- */

static void *
sem_thread(void *arg)
{
    struct pworker *w = arg;
    struct prun *r = w->run;
    const struct bench_case *c = r->c;
    uint64_t share = bench_share(c, w->id);
    int64_t deadline;
    uint64_t i;

    if (!bench_worker_begin(&r->sync, w->cpu))
        goto out;
    w->t_start = bench_now_ns();
    deadline = w->t_start + (int64_t)(c->max_s * 1e9);
    for (i = 1; i <= share; i++) {
        int in;
        int rc = r->pat->sem_acquire(r->sem, 1);

        if (rc != LFC_OK) {
            bench_fail(&r->sync, "thread %d: acquire returned %s", w->id,
                       lfc_strerror(rc));
            break;
        }
        /* The critical section. */
        in = __atomic_add_fetch(&r->inside, 1, __ATOMIC_RELAXED);
        if (c->permits == 1)
            __atomic_store_n(&r->excl,
                             __atomic_load_n(&r->excl, __ATOMIC_RELAXED) + 1,
                             __ATOMIC_RELAXED);
        __atomic_sub_fetch(&r->inside, 1, __ATOMIC_RELAXED);
        rc = r->pat->sem_release(r->sem, 1);
        if (in > c->permits) {
            bench_fail(&r->sync,
                       "thread %d: %d threads inside a semaphore of %d "
                       "permit(s)",
                       w->id, in, c->permits);
            break;
        }
        if (rc != LFC_OK) {
            bench_fail(&r->sync, "thread %d: release returned %s", w->id,
                       lfc_strerror(rc));
            break;
        }
        w->sent = i;
        if (i % BENCH_CHECK_EVERY == 0) {
            if (bench_checkpoint(w->slot, i, deadline)) {
                w->capped = i < share;
                break;
            }
            if (bench_failed(&r->sync))
                break;
        }
    }
out:
    w->t_done = bench_now_ns();
    return NULL;
}

/* ---- Running a case ----------------------------------------------------- */

/* Creates what the case runs on; false (res failed) if it could not. */
static bool
pattern_setup(struct prun *r, struct bench_result *res, const int *wcpus)
{
    const struct bench_case *c = r->c;
    const char *what = "";
    int i;

    switch (c->kind) {
    case BENCH_POOL:
    case BENCH_POOL_LATENCY:
        tallies_reset();
        r->pool = r->pat->pool_new((unsigned)c->consumers, c->cap, wcpus);
        what = "pool_new";
        if (r->pool == NULL)
            break;
        if (c->kind == BENCH_POOL_LATENCY) {
            r->lrec = calloc(c->msgs ? c->msgs : 1, sizeof(*r->lrec));
            what = "calloc";
            if (r->lrec == NULL)
                break;
        }
        return true;
    case BENCH_MERGE:
        what = "make";
        for (i = 0; i < c->inputs; i++)
            if ((r->in[i] = r->ch->make(c->cap, c->msg)) == NULL)
                break;
        if (i < c->inputs)
            break;
        if ((r->out = r->ch->make(c->cap, c->msg)) == NULL)
            break;
        return true;
    case BENCH_SEM:
        what = "sem_new";
        r->sem = r->pat->sem_new(c->permits);
        if (r->sem == NULL)
            break;
        return true;
    default:
        break;
    }
    res->ok = false;
    snprintf(res->err, sizeof(res->err), "%s: %s: %s", c->ops->name, what,
             strerror(errno));
    return false;
}

void
bench_pattern_run(const struct bench_case *c, struct bench_result *res)
{
    struct pworker w[MAXS + 1];
    struct prun r;
    const struct bench_pat_ops *pat = c->ops->pat;
    int cpus[CPU_SETSIZE];
    int wcpus[MAXW];
    bool pinned_workers = false;
    void *merger = NULL;
    int ncpu;
    int np = c->producers;
    int nt = np + (c->kind == BENCH_MERGE);
    double cpu0;
    double cpu1;
    uint64_t ctx0;
    uint64_t ctx1;
    int64_t t0 = INT64_MAX;
    int64_t t1 = 0;
    int i;

    memset(res, 0, sizeof(*res));
    lfc_hist_init(&res->hist);
    res->ok = true;
    if (pat == NULL || np < 1 || np > MAXS ||
        ((c->kind == BENCH_POOL || c->kind == BENCH_POOL_LATENCY) &&
         (pat->pool_new == NULL || c->consumers < 1 || c->consumers > MAXW ||
          (c->kind == BENCH_POOL_LATENCY && np != 1))) ||
        (c->kind == BENCH_MERGE && (pat->merge_new == NULL || c->inputs < np ||
                                    c->inputs > MAXIN || c->msg != 8)) ||
        (c->kind == BENCH_SEM && (pat->sem_new == NULL || c->permits < 1))) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "bad case %s", c->name);
        return;
    }
    ncpu = bench_case_cpus(c, cpus, res);
    for (i = 0; i < c->consumers && i < MAXW; i++) {
        wcpus[i] = bench_cpu_for(c->pin, cpus, ncpu, false, i);
        pinned_workers = pinned_workers || wcpus[i] >= 0;
    }

    memset(&r, 0, sizeof(r));
    memset(w, 0, sizeof(w));
    r.sync.close_all = close_all;
    r.c = c;
    r.pat = pat;
    r.ch = pat->chan;
    r.live = np;
    if (c->ops->setup != NULL)
        c->ops->setup();
    pthread_barrier_init(&r.sync.start, NULL, (unsigned)nt);
    bench_watch_begin(c->name, nt);
    bench_usage(&cpu0, &ctx0);
    if (!pattern_setup(&r, res, pinned_workers ? wcpus : NULL))
        goto out_free;
    if (c->kind == BENCH_MERGE) {
        merger = pat->merge_new(r.in, c->inputs, r.out);
        if (merger == NULL) {
            res->ok = false;
            snprintf(res->err, sizeof(res->err), "%s: merge_new: %s",
                     c->ops->name, strerror(errno));
            goto out_free;
        }
    }
    for (i = 0; i < nt; i++) {
        void *(*fn)(void *);

        w[i].run = &r;
        w[i].id = i < np ? i : 0;
        w[i].slot = i;
        w[i].cpu = bench_cpu_for(c->pin, cpus, ncpu, i < np, w[i].id);
        switch (c->kind) {
        case BENCH_POOL:
            fn = pool_submitter;
            break;
        case BENCH_POOL_LATENCY:
            fn = pool_lat_submitter;
            break;
        case BENCH_MERGE:
            fn = i < np ? merge_producer : merge_consumer;
            break;
        default:
            fn = sem_thread;
            break;
        }
        bench_thread_start(&w[i].th, fn, &w[i]);
    }
    for (i = 0; i < nt; i++)
        pthread_join(w[i].th, NULL);
    if (merger != NULL) {
        uint64_t dropped = pat->merge_free(merger);

        merger = NULL;
        if (dropped != 0 && !bench_failed(&r.sync))
            bench_fail(&r.sync, "the merger dropped %" PRIu64 " value(s)",
                       dropped);
    }
    if (r.pool != NULL) {
        pat->pool_free(r.pool);
        r.pool = NULL;
    }
    bench_usage(&cpu1, &ctx1);
    res->cpu_s = cpu1 - cpu0;
    res->ctxsw = ctx1 - ctx0;

    for (i = 0; i < np; i++) {
        bench_add_producer(res, c, w[i].sent, w[i].t_start, w[i].capped, &t0);
        if (w[i].t_done > t1)
            t1 = w[i].t_done;
    }
    if (c->kind == BENCH_POOL || c->kind == BENCH_POOL_LATENCY)
        t1 = r.t_waited;
    else if (c->kind == BENCH_MERGE)
        t1 = w[np].t_done;
    res->wall_s = t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0.0;
    if (bench_failed(&r.sync)) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "%s", r.sync.err);
        goto out_free;
    }
    switch (c->kind) {
    case BENCH_POOL:
        pool_verify(&r, w, res);
        break;
    case BENCH_POOL_LATENCY:
        lat_verify(&r, w, res);
        break;
    case BENCH_MERGE:
        merge_verify(&r, &w[np], res);
        break;
    default:
        if (c->permits == 1 && r.excl != res->msgs) {
            res->ok = false;
            snprintf(res->err, sizeof(res->err),
                     "%" PRIu64 " acquires of a 1-permit semaphore but the "
                     "counter inside reads %" PRIu64
                     " (two threads were inside at once)",
                     res->msgs, r.excl);
        }
        break;
    }
    if (res->ok && res->msgs == 0) {
        res->ok = false;
        snprintf(res->err, sizeof(res->err), "nothing was done");
    }
out_free:
    bench_watch_end();
    pthread_barrier_destroy(&r.sync.start);
    if (merger != NULL)
        pat->merge_free(merger);
    if (r.pool != NULL)
        pat->pool_free(r.pool);
    for (i = 0; i < MAXIN; i++)
        if (r.in[i] != NULL)
            r.ch->destroy(r.in[i]);
    if (r.out != NULL)
        r.ch->destroy(r.out);
    if (r.sem != NULL)
        pat->sem_free(r.sem);
    free(r.lrec);
    if (c->ops->teardown != NULL)
        c->ops->teardown();
}

/* ---- The case matrix ---------------------------------------------------- */

static const struct bench_ops *const pool_impls[] = {
    &bench_ops_lfchan,
    &bench_ops_mutex,
};

static const struct bench_ops *const merge_impls[] = {
    &bench_ops_lfchan,
    &bench_ops_mutex,
    &bench_ops_mutex_threads,
};

static const struct bench_ops *const sem_impls[] = {
    &bench_ops_lfchan,
    &bench_ops_mutex,
    &bench_ops_semt,
};

static const int pool_workers[] = {1, 2, 8};
static const int pool_submitters[] = {1, 4};
static const int merge_inputs[] = {2, 8, 64};

/* Threads and permits of the semaphore rows. */
static const struct {
    int threads;
    int permits;
} sem_rows[] = {{1, 1}, {2, 1}, {8, 1}, {8, 4}};

struct psizes {
    uint64_t tasks;  /* pool throughput: tasks per iteration */
    uint64_t values; /* merge: values per iteration */
    uint64_t ops;    /* sem: acquire+release pairs per iteration */
    double max_s;    /* their time cap */
    double lat_s;    /* pool latency: how long */
    int iterations;
};

static struct psizes
sizes_for(const struct bench_config *cfg)
{
    struct psizes s;

    switch (cfg->mode) {
    case BENCH_QUICK:
        s = (struct psizes){100000, 100000, 200000, 0.1, 0.1, 1};
        break;
    case BENCH_FULL:
        s = (struct psizes){5000000, 5000000, 10000000, 5.0, 5.0, 3};
        break;
    default:
        s = (struct psizes){1000000, 1000000, 2000000, 0.5, 0.5, 1};
        break;
    }
    if (cfg->msgs > 0)
        s.tasks = s.values = s.ops = cfg->msgs;
    if (cfg->max_s > 0)
        s.max_s = s.lat_s = cfg->max_s;
    if (cfg->iterations > 0)
        s.iterations = cfg->iterations;
    return s;
}

/* The rows that also run pinned (split, same): the pool's 2 workers and
 * 1 submitter, and the pool latency. Quick mode without an explicit --pin
 * keeps one of them (split), so that pinning a pool is exercised. */
static bool
pinned_row(const struct bench_case *c)
{
    return c->kind == BENCH_POOL_LATENCY ||
           (c->kind == BENCH_POOL && c->consumers == 2 && c->producers == 1);
}

static bool
quick_pinned_row(const struct bench_case *c)
{
    return c->kind == BENCH_POOL && c->pin == BENCH_PIN_SPLIT &&
           c->consumers == 2 && c->producers == 1;
}

static void
name_case(struct bench_case *c)
{
    const char *im = c->ops->name;
    const char *pn = bench_pin_name(c->pin);

    switch (c->kind) {
    case BENCH_POOL:
        snprintf(c->name, sizeof(c->name),
                 "BM_pool_throughput/impl:%s/submitters:%d/workers:%d/"
                 "cap:%zu/pin:%s",
                 im, c->producers, c->consumers, c->cap, pn);
        break;
    case BENCH_POOL_LATENCY:
        snprintf(c->name, sizeof(c->name),
                 "BM_pool_latency/impl:%s/workers:%d/cap:%zu/rate:%" PRIu64
                 "/pin:%s",
                 im, c->consumers, c->cap, c->rate, pn);
        break;
    case BENCH_MERGE:
        snprintf(c->name, sizeof(c->name),
                 "BM_merge_fanin/impl:%s/inputs:%d/producers:%d/cap:%zu/"
                 "msg:%zu/pin:%s",
                 im, c->inputs, c->producers, c->cap, c->msg, pn);
        break;
    default:
        snprintf(c->name, sizeof(c->name),
                 "BM_sem_%s/impl:%s/threads:%d/permits:%d/pin:%s", c->scenario,
                 im, c->producers, c->permits, pn);
        break;
    }
}

/* Names case c and appends it if the config selects it. */
static void
push_case(struct bench_builder *b, struct bench_case c)
{
    if (!bench_pin_selected(b->cfg, &c, quick_pinned_row))
        return;
    if (c.pin != BENCH_PIN_NONE && !pinned_row(&c))
        return;
    name_case(&c);
    bench_builder_append(b, &c);
}

struct bench_case *
bench_pattern_cases(const struct bench_config *cfg, size_t *n)
{
    struct psizes s = sizes_for(cfg);
    struct bench_builder b = {cfg, NULL, 0, 0};
    size_t wi;
    size_t si;
    size_t ii;
    int pin;

    /* Every implementation of one row back to back. */
    for (wi = 0; wi < NELEM(pool_workers); wi++) {
        for (si = 0; si < NELEM(pool_submitters); si++) {
            for (pin = 0; pin < 3; pin++) {
                for (ii = 0; ii < NELEM(pool_impls); ii++) {
                    push_case(&b, (struct bench_case){
                                      .kind = BENCH_POOL,
                                      .ops = pool_impls[ii],
                                      .scenario = "throughput",
                                      .producers = pool_submitters[si],
                                      .consumers = pool_workers[wi],
                                      .cap = POOL_CAP,
                                      .pin = (enum bench_pin)pin,
                                      .msgs = s.tasks,
                                      .max_s = s.max_s,
                                      .iterations = s.iterations,
                                  });
                }
            }
        }
    }
    for (pin = 0; pin < 3; pin++) {
        for (ii = 0; ii < NELEM(pool_impls); ii++) {
            push_case(&b,
                      (struct bench_case){
                          .kind = BENCH_POOL_LATENCY,
                          .ops = pool_impls[ii],
                          .scenario = "latency",
                          .producers = 1,
                          .consumers = LAT_WORKERS,
                          .cap = POOL_CAP,
                          .pin = (enum bench_pin)pin,
                          .rate = LAT_RATE,
                          .msgs = (uint64_t)((double)LAT_RATE * s.lat_s),
                          .max_s = s.lat_s * 2, /* the load is not sustained */
                          .iterations = s.iterations,
                      });
        }
    }
    for (si = 0; si < NELEM(merge_inputs); si++) {
        int k = merge_inputs[si];

        for (ii = 0; ii < NELEM(merge_impls); ii++) {
            push_case(&b, (struct bench_case){
                              .kind = BENCH_MERGE,
                              .ops = merge_impls[ii],
                              .scenario = "fanin",
                              .producers = k < MAXS ? k : MAXS,
                              .consumers = 1,
                              .inputs = k,
                              .cap = MERGE_CAP,
                              .msg = 8,
                              .pin = BENCH_PIN_NONE,
                              .msgs = s.values,
                              .max_s = s.max_s,
                              .iterations = s.iterations,
                          });
        }
    }
    for (si = 0; si < NELEM(sem_rows); si++) {
        for (ii = 0; ii < NELEM(sem_impls); ii++) {
            push_case(&b,
                      (struct bench_case){
                          .kind = BENCH_SEM,
                          .ops = sem_impls[ii],
                          .scenario = sem_rows[si].threads > 1 ? "contended"
                                                               : "uncontended",
                          .producers = sem_rows[si].threads,
                          .consumers = 0,
                          .permits = sem_rows[si].permits,
                          .pin = BENCH_PIN_NONE,
                          .msgs = s.ops,
                          .max_s = s.max_s,
                          .iterations = s.iterations,
                      });
        }
    }
    *n = b.n;
    return b.v;
}

/* ---- Self-test ---------------------------------------------------------- */

static int failures;

#define ST_CHECK(cond, ...) BENCH_ST_CHECK(failures, cond, __VA_ARGS__)

static void
st_bump(void *arg)
{
    __atomic_add_fetch((uint64_t *)arg, 1, __ATOMIC_RELAXED);
}

static void
selftest_pool(const struct bench_ops *ops)
{
    const struct bench_pat_ops *pat = ops->pat;
    uint64_t ran = 0;
    void *p = pat->pool_new(2, 4, NULL);
    int i;

    ST_CHECK(p != NULL, "%s: pool_new(2, 4)", ops->name);
    if (p == NULL)
        return;
    ST_CHECK(pat->pool_wait(p) == LFC_OK, "%s: wait on an idle pool",
             ops->name);
    for (i = 0; i < 1000; i++)
        ST_CHECK(pat->pool_submit(p, st_bump, &ran) == LFC_OK, "%s: submit %d",
                 ops->name, i);
    ST_CHECK(pat->pool_wait(p) == LFC_OK, "%s: wait", ops->name);
    ST_CHECK(__atomic_load_n(&ran, __ATOMIC_RELAXED) == 1000,
             "%s: %d tasks ran before wait returned, want 1000", ops->name,
             (int)ran);
    for (i = 0; i < 10; i++)
        pat->pool_submit(p, st_bump, &ran);
    pat->pool_free(p); /* runs what is queued */
    ST_CHECK(ran == 1010, "%s: free must run the queued tasks (%d of 1010)",
             ops->name, (int)ran);
}

/* n inputs of `per` values each, sent and closed before the merger
 * starts; out holds them all. */
static void
selftest_merge_n(const struct bench_ops *ops, int n, int per)
{
    const struct bench_pat_ops *pat = ops->pat;
    const struct bench_ops *ch = pat->chan;
    void *in[MAXIN];
    uint64_t last[MAXIN] = {0};
    uint64_t got = 0;
    uint64_t v;
    void *out;
    void *m;
    int i;
    int j;
    int rc;

    for (i = 0; i < n; i++) {
        in[i] = ch->make((size_t)per, 8);
        for (j = 1; j <= per; j++) {
            v = (uint64_t)i << SEQ_BITS | (uint64_t)j;
            ch->send(in[i], &v);
        }
        ch->close(in[i]);
    }
    out = ch->make((size_t)(n * per), 8);
    m = pat->merge_new(in, n, out);
    ST_CHECK(m != NULL, "%s: merge_new(%d)", ops->name, n);
    if (m == NULL)
        goto out_free;
    while ((rc = ch->recv(out, &v)) == LFC_OK) {
        i = (int)(v >> SEQ_BITS);
        if (i < 0 || i >= n || (v & SEQ_MASK) != last[i] + 1) {
            ST_CHECK(0, "%s: merge of %d: value %#" PRIx64 " out of order",
                     ops->name, n, v);
            break;
        }
        last[i]++;
        got++;
    }
    ST_CHECK(rc == LFC_CLOSED, "%s: merge of %d: out not closed (%d)",
             ops->name, n, rc);
    ST_CHECK(got == (uint64_t)(n * per), "%s: merge of %d: %d of %d values",
             ops->name, n, (int)got, n * per);
    ST_CHECK(pat->merge_free(m) == 0, "%s: merge of %d dropped values",
             ops->name, n);
out_free:
    for (i = 0; i < n; i++)
        ch->destroy(in[i]);
    ch->destroy(out);
}

struct st_sem {
    const struct bench_pat_ops *pat;
    void *sem;
    int acquired; /* atomic */
};

static void *
st_sem_taker(void *arg)
{
    struct st_sem *a = arg;

    if (a->pat->sem_acquire(a->sem, 1) == LFC_OK)
        __atomic_store_n(&a->acquired, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void
selftest_sem(const struct bench_ops *ops)
{
    const struct bench_pat_ops *pat = ops->pat;
    struct timespec ts = {0, 2000000}; /* 2 ms: the taker blocks */
    struct st_sem a = {pat, pat->sem_new(2), 0};
    pthread_t th;

    ST_CHECK(a.sem != NULL, "%s: sem_new(2)", ops->name);
    if (a.sem == NULL)
        return;
    ST_CHECK(pat->sem_acquire(a.sem, 1) == LFC_OK &&
                 pat->sem_acquire(a.sem, 1) == LFC_OK,
             "%s: acquire twice of 2", ops->name);
    pthread_create(&th, NULL, st_sem_taker, &a);
    nanosleep(&ts, NULL);
    ST_CHECK(__atomic_load_n(&a.acquired, __ATOMIC_ACQUIRE) == 0,
             "%s: a third acquire of 2 permits did not wait", ops->name);
    ST_CHECK(pat->sem_release(a.sem, 1) == LFC_OK, "%s: release", ops->name);
    pthread_join(th, NULL);
    ST_CHECK(a.acquired == 1, "%s: release must wake the waiter", ops->name);
    ST_CHECK(pat->sem_release(a.sem, 2) == LFC_OK, "%s: release 2", ops->name);
    pat->sem_free(a.sem);
}

int
bench_pattern_selftest(void)
{
    static const struct bench_ops *const all[] = {
        &bench_ops_lfchan, &bench_ops_mutex, &bench_ops_mutex_threads,
        &bench_ops_semt};
    size_t i;

    failures = 0;
    for (i = 0; i < NELEM(all); i++) {
        const struct bench_pat_ops *pat = all[i]->pat;

        if (all[i]->setup != NULL)
            all[i]->setup();
        if (pat->pool_new != NULL)
            selftest_pool(all[i]);
        if (pat->merge_new != NULL) {
            selftest_merge_n(all[i], 3, 5);
            selftest_merge_n(all[i], 40, 2); /* above 31: lfchan's tree */
        }
        if (pat->sem_new != NULL)
            selftest_sem(all[i]);
        if (all[i]->teardown != NULL)
            all[i]->teardown();
    }
    return failures;
}
