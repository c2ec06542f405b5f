/* SPDX-License-Identifier: MIT */
/*
 * Worker pools: a fixed set of threads running tasks from a channel.
 * Depends on: chan (the queue), select (lfc_send_ctx), ctx, lfc_park.h
 * (the event count lfc_pool_wait parks on), lfc_atomic.h.
 *
 * Design
 * ------
 * The queue is an lfchan channel of struct task {fn, arg, phase}, of the
 * pool's capacity (0: unbuffered, so a submit hands its task straight to
 * a parked worker). Submits are lfc_send and its variants; every worker
 * loops on lfc_recv, so idle workers park in the channel's event count
 * (after its bounded adaptive spin) and the channel supplies backpressure,
 * deadlines, cancellation (lfc_send_ctx) and close. This is the shape of
 * Go's worker pools (a goroutine per worker ranging over a jobs channel)
 * and of libuv's threadpool, with the queue lock-free.
 *
 * Waiting for "every task submitted so far". Counting completions against
 * a snapshot of a submit counter is wrong: with several workers a task
 * submitted after the snapshot can finish before an earlier one, and the
 * count would reach the snapshot with the earlier task still running.
 * Waiting for "nothing outstanding" (Go's WaitGroup) is right but may
 * never return while other threads keep submitting. So outstanding tasks
 * are counted in two counters, pending[0] and pending[1], as sleepable
 * RCU counts its readers (Linux's SRCU; userspace-rcu's two-phase grace
 * period): a submit adds 1 to pending[phase] before it sends, the task
 * carries that phase, and whoever finishes it (the worker after running
 * it, the submit itself if the send failed, lfc_pool_shutdown_now after
 * handing it back) subtracts 1. A task whose submit returned before
 * lfc_pool_wait began keeps its counter >= 1 until it is finished, so
 * once the waiter has seen each counter at 0 (at any moments after it
 * began), every such task is finished. New submits add to
 * pending[phase]. With c the phase when it starts, the waiter first waits
 * for pending[!c], which no new submit uses: only tasks counted before
 * the previous wait flipped the phase, and stragglers (below), are left
 * in it. Then it flips phase to !c and waits for pending[c], to which
 * from then on only stragglers add: submits that read the phase before
 * the flip, at most one per submitting thread. So a steady stream of
 * submits cannot keep a wait from returning; it waits at most for the
 * tasks submitted during its first step as well.
 * Waiters hold wait_mu, so two of them never flip against each other.
 *
 * A counter's waiter parks on idle_ec (park.c's event count): it
 * announces, rechecks the counter, sleeps. Whoever takes a counter from 1
 * to 0 executes a seqcst fence and signals idle_ec; since that check of
 * idle_ec.waiters is one load, finishing a task with nobody waiting costs
 * one atomic add, no lock and no system call.
 *
 * Shutdown now: the winner of the `stopped` CAS closes the queue, so no
 * submit can enqueue any more (chan.h), then receives everything left with
 * lfc_recv (which waits out sends that claimed a slot before the close and
 * returns LFC_CLOSED once drained) and hands each task to the callback. A
 * worker that receives a task checks `stopped` first: if set, it keeps the
 * task in its `returned` slot and exits instead of running it; the
 * shutdown thread hands those back after joining. Every task the channel
 * accepted is received exactly once (chan.h), by a worker or by the
 * shutdown thread, and each receiver either runs it or hands it back, so
 * nothing is lost or doubled whichever way the races go; and every
 * callback runs on the shutdown thread. Graceful free closes the queue
 * and lets the workers drain it.
 *
 * Invariants:
 *   - pending[0] + pending[1] counts the tasks between the start of their
 *     submit and their finish (run, handed back, or send failed); each
 *     task is counted in exactly one, its `phase`. Every add happens-before
 *     the matching subtract, so no counter goes below 0 (asserted).
 *   - Every modification of pending[] is an RMW, so a load that reads 0
 *     reads the end of a release sequence that contains every earlier
 *     finish: an acquire load of 0 makes all those tasks' effects visible.
 *   - `stopped` goes from OPEN to STOPPED once, by CAS; the queue is closed
 *     only after it (shutdown_now) or by lfc_pool_free.
 *   - Per worker, started >= completed, each written only by the worker;
 *     `returned` is written by the worker before it exits and read only
 *     after pthread_join.
 *
 * Field table:
 *   | field            | written by                     | read by    | order  |
 *   |------------------|--------------------------------|------------|--------|
 *   | queue, workers,  | lfc_pool_new_opts              | all        | -      |
 *   | nworkers         |                                |            |        |
 *   | stopped          | shutdown_now (CAS)             | workers,   | rlx    |
 *   |                  |                                | free       |        |
 *   | phase            | lfc_pool_wait, under wait_mu   | submitters | rlx    |
 *   | pending[2]       | submitters (+1); workers,      | waiters    | seqcst |
 *   |                  | failed submits, shutdown (-1)  |            | RMW/acq|
 *   | submitted        | submitters (RMW)               | stats      | rlx*   |
 *   | dropped          | the shutdown_now thread        | stats      | rel/acq|
 *   | w.started,       | that worker (load + store)     | stats      | rel/acq|
 *   | w.completed      |                                |            |        |
 *   | w.returned       | that worker, before exiting    | joiner     | join   |
 *   | idle_ec          | see park.c                     |            |        |
 *   (* a seqcst add: lfc_atomic.h has no weaker 64-bit one.)
 *
 * Wake-up argument: a waiter sleeps only after lfc__ec_wait() announced it
 * (seqcst RMW, fence) and then read its counter != 0. The subtract that
 * takes the counter to 0 is a seqcst RMW followed by a seqcst fence and a
 * load of idle_ec.waiters: by park.c's store-buffering argument either
 * the waiter's recheck reads 0, or the load sees the announce and the
 * broadcast wakes it. Only a 1 -> 0 subtract can make "counter == 0" true,
 * and every one of them signals. A later add (a straggler) can make the
 * counter nonzero again; the waiter then sleeps until the next 1 -> 0,
 * which comes because every straggler finishes.
 */
#define _GNU_SOURCE /* pthread_setname_np, pthread_attr_setaffinity_np */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfchan/chan.h"
#include "lfchan/pool.h"
#include "lfchan/select.h"
#include "lfc_atomic.h"
#include "lfc_common.h"
#include "lfc_park.h"

/* One queue element. */
struct task {
    lfc_pool_task_fn fn;
    void *arg;
    uint32_t phase; /* the pending[] counter that counts this task */
};

/* One worker; on its own cache lines, since it writes its counters. */
struct worker {
    LFC_CACHE_ALIGNED uint64_t started; /* this worker (load + rel store) */
    uint64_t completed;                 /* this worker (load + rel store) */
    lfc_pool *pool;                     /* read-only */
    pthread_t thread;                   /* creator; read by the joiner */
    struct task returned; /* this worker, before exiting; joiner */
    bool has_returned;    /* as returned */
};

enum { POOL_OPEN = 0, POOL_STOPPED = 1 };

struct lfc_pool {
    /* Read-mostly: read on every submit or task, written once or rarely. */
    lfc_chan *queue;        /* read-only after new */
    struct worker *workers; /* read-only after new */
    unsigned nworkers;      /* read-only after new */
    uint32_t stopped;       /* POOL_OPEN/STOPPED; shutdown_now (CAS) */
    uint32_t phase;         /* lfc_pool_wait, under wait_mu */
    uint64_t dropped;       /* the shutdown_now thread (load + rel store) */

    /* Outstanding tasks by phase: submitters and finishers (RMW). */
    LFC_CACHE_ALIGNED uint64_t pending[2];

    /* Submitters only. */
    LFC_CACHE_ALIGNED uint64_t submitted; /* submitters (RMW) */

    /* Waiters: written only while someone waits. */
    LFC_CACHE_ALIGNED struct lfc_ec idle_ec; /* waiters park here */
    struct lfc_spin idle_spin;               /* waiters' spin budget */
    pthread_mutex_t wait_mu;                 /* one lfc_pool_wait at a time */
};

_Static_assert(offsetof(struct lfc_pool, pending) % LFC_CACHELINE == 0 &&
                   offsetof(struct lfc_pool, pending) >
                       offsetof(struct lfc_pool, dropped),
               "pending must not share the read-mostly line");
_Static_assert(offsetof(struct lfc_pool, submitted) -
                       offsetof(struct lfc_pool, pending) >=
                   LFC_CACHELINE,
               "submitted must not share the pending line");
_Static_assert(sizeof(struct worker) % LFC_CACHELINE == 0,
               "each worker on its own lines");

/* The pool whose task (or drop callback) this thread is running, if any:
 * lets wait, shutdown_now and free refuse to wait for themselves. */
static __thread const lfc_pool *tls_pool;

/* ---- counters ---------------------------------------------------------- */

/* Add 1 to a counter that only this thread writes. */
static void
own_counter_bump(uint64_t *c)
{
    /* ORDER rlx: we are the only writer, so we read our own last store. */
    uint64_t n = lfc_load_rlx_u64(c);
    /* ORDER rel: pairs with the acq load in lfc_pool_stats(); a reader
     * that sees this value sees our earlier counter stores too. */
    lfc_store_rel_u64(c, n + 1);
}

/* A try function for lfc__ec_wait: whether *counter (a pending[]) is 0. */
static int
counter_idle(void *counter)
{
    /* ORDER acq: pairs with the seqcst (release) subtracts in
     * pending_done(); reading 0 makes every finished task's effects
     * visible (the RMWs form one release sequence). */
    return lfc_load_acq_u64(counter) == 0 ? LFC_OK : LFC_AGAIN;
}

/* A task counted in pending[phase] is finished: it ran, was handed back,
 * or its submit failed. The one that takes the counter to 0 wakes the
 * waiter, if any. */
static void
pending_done(lfc_pool *p, uint32_t phase)
{
    /* ORDER seqcst: the release half publishes the task's effects to the
     * acq load in counter_idle(); the store half is the publication of
     * park.c's store-buffering pair, ordered by the fence below. */
    uint64_t old = lfc_faa_seqcst_u64(&p->pending[phase], (uint64_t)-1);
    LFC_ASSERT(old != 0);
    if (old == 1) {
        /* ORDER seqcst: our subtract before the load of idle_ec.waiters
         * (store→load); pairs with the announce-then-recheck in
         * lfc__ec_wait(). */
        lfc_fence_seqcst();
        lfc__ec_broadcast_fenced(&p->idle_ec, NULL);
    }
}

/* ---- workers ----------------------------------------------------------- */

static bool
pool_stopped(const lfc_pool *p)
{
    /* ORDER rlx: a hint; a stale OPEN only lets this worker take and run
     * one more task, which is allowed: every task still runs or is handed
     * back exactly once (see the design block). */
    return lfc_load_rlx_u32(&p->stopped) != POOL_OPEN;
}

static void
run_task(struct worker *w, const struct task *t)
{
    own_counter_bump(&w->started);
    t->fn(t->arg);
    own_counter_bump(&w->completed);
    pending_done(w->pool, t->phase);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    lfc_pool *p = w->pool;
    struct task t;

    tls_pool = p;
    /* Woken by a send or by the close of the queue (inside lfc_recv). */
    while (!pool_stopped(p) && lfc_recv(p->queue, &t) == LFC_OK) {
        if (pool_stopped(p)) {
            /* shutdown_now hands it back after joining us. */
            w->returned = t;
            w->has_returned = true;
            break;
        }
        run_task(w, &t);
    }
    return NULL;
}

/* "<prefix>-<i>", the prefix cut so that the whole fits in 15 bytes. */
static void
name_worker(pthread_t th, const char *prefix, unsigned i)
{
    char idx[12]; /* "-" and up to 10 digits */
    char name[16];
    size_t ilen = (size_t)snprintf(idx, sizeof(idx), "-%u", i);
    size_t plen = strlen(prefix);

    if (plen > sizeof(name) - 1 - ilen)
        plen = sizeof(name) - 1 - ilen;
    memcpy(name, prefix, plen);
    memcpy(name + plen, idx, ilen + 1);
    pthread_setname_np(th, name); /* failure only costs the name */
}

/* Start worker i; an errno value on failure. */
static int
start_worker(lfc_pool *p, unsigned i, const struct lfc_pool_opts *o)
{
    struct worker *w = &p->workers[i];
    pthread_attr_t attr;
    int err;

    w->pool = p;
    if (pthread_attr_init(&attr) != 0)
        return ENOMEM;
    err = 0;
    if (o->cpus) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)o->cpus[i % o->ncpus], &set);
        err = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
    }
    if (err == 0)
        err = pthread_create(&w->thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (err != 0)
        return err == EINVAL ? EINVAL : ENOMEM;
    /* Named here, so the names are in place when lfc_pool_new returns. */
    name_worker(w->thread, o->name && o->name[0] ? o->name : "lfc-pool", i);
    return 0;
}

static void
join_workers(lfc_pool *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pthread_join(p->workers[i].thread, NULL);
}

/* Start every worker, with all signals blocked (they inherit our mask).
 * On failure, stop and join the ones started. */
static int
start_workers(lfc_pool *p, const struct lfc_pool_opts *o)
{
    sigset_t all;
    sigset_t old;
    unsigned i;
    int err = 0;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; i < p->nworkers; i++) {
        err = start_worker(p, i, o);
        if (err != 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        lfc_close(p->queue); /* workers 0 .. i-1 exit */
        join_workers(p, i);
    }
    return err;
}

/* ---- construction and destruction -------------------------------------- */

static int
check_opts(const struct lfc_pool_opts *o)
{
    if (!o || o->workers == 0 || o->workers > LFC_POOL_MAX_WORKERS)
        return EINVAL;
    if (o->queue_capacity > LFC_CHAN_MAX_CAP)
        return EINVAL;
    if ((o->cpus == NULL) != (o->ncpus == 0))
        return EINVAL;
    for (size_t i = 0; i < o->ncpus; i++)
        if (o->cpus[i] < 0 || o->cpus[i] >= CPU_SETSIZE)
            return EINVAL;
    return 0;
}

lfc_pool *
lfc_pool_new_opts(const struct lfc_pool_opts *opts)
{
    int err = check_opts(opts);
    lfc_pool *p;

    if (err != 0)
        goto out;
    err = ENOMEM;
    p = aligned_alloc(LFC_CACHELINE, sizeof(*p));
    if (!p)
        goto out;
    memset(p, 0, sizeof(*p));
    p->nworkers = opts->workers;
    p->workers = aligned_alloc(LFC_CACHELINE,
                               (size_t)p->nworkers * sizeof(struct worker));
    if (!p->workers)
        goto out_free_pool;
    memset(p->workers, 0, (size_t)p->nworkers * sizeof(struct worker));
    p->queue = lfc_chan_new(opts->queue_capacity, sizeof(struct task));
    if (!p->queue) {
        err = errno;
        goto out_free_workers;
    }
    if (pthread_mutex_init(&p->wait_mu, NULL) != 0)
        goto out_free_queue;
    lfc__ec_init(&p->idle_ec);
    lfc__spin_init(&p->idle_spin);
    err = start_workers(p, opts);
    if (err != 0)
        goto out_destroy_mutex;
    return p;

out_destroy_mutex:
    pthread_mutex_destroy(&p->wait_mu);
out_free_queue:
    lfc_chan_free(p->queue);
out_free_workers:
    free(p->workers);
out_free_pool:
    free(p);
out:
    errno = err;
    return NULL;
}

lfc_pool *
lfc_pool_new(unsigned workers, size_t queue_capacity)
{
    struct lfc_pool_opts o = {.workers = workers,
                              .queue_capacity = queue_capacity};
    return lfc_pool_new_opts(&o);
}

void
lfc_pool_free(lfc_pool *p)
{
    if (!p)
        return;
    if (tls_pool == p)
        LFC_PANIC("lfc_pool_free called from a task of the same pool");
    /* Graceful: the workers drain the closed queue, then exit. After
     * shutdown_now (which the contract orders before us) nothing is left
     * to do but free. */
    if (!pool_stopped(p)) {
        lfc_close(p->queue);
        join_workers(p, p->nworkers);
    }
    pthread_mutex_destroy(&p->wait_mu);
    lfc_chan_free(p->queue);
    free(p->workers);
    free(p);
}

/* ---- submitting -------------------------------------------------------- */

enum submit_kind { SUBMIT_BLOCK, SUBMIT_TRY, SUBMIT_UNTIL, SUBMIT_CTX };

static int
submit(lfc_pool *p, lfc_pool_task_fn fn, void *arg, enum submit_kind kind,
       int64_t deadline_ns, lfc_ctx *ctx)
{
    struct task t = {.fn = fn, .arg = arg};
    int r;

    if (!p || !fn || (kind == SUBMIT_CTX && !ctx))
        return LFC_EINVAL;
    /* ORDER rlx: a hint; either counter is correct for this task (the
     * phase only steers new tasks away from the one a waiter drains). */
    t.phase = lfc_load_rlx_u32(&p->phase) & 1;
    /* ORDER seqcst: rlx would do (the subtract is ordered after this add
     * by the send and receive); lfc_atomic.h has no weaker 64-bit add. */
    lfc_faa_seqcst_u64(&p->pending[t.phase], 1);
    switch (kind) {
    case SUBMIT_TRY:
        r = lfc_try_send(p->queue, &t);
        break;
    case SUBMIT_UNTIL:
        r = lfc_send_until(p->queue, &t, deadline_ns);
        break;
    case SUBMIT_CTX:
        r = lfc_send_ctx(p->queue, &t, ctx);
        break;
    default:
        r = lfc_send(p->queue, &t);
        break;
    }
    if (r != LFC_OK) {
        pending_done(p, t.phase); /* nothing was queued */
        return r;
    }
    /* ORDER seqcst: a statistic (rlx would do); see the add above. */
    lfc_faa_seqcst_u64(&p->submitted, 1);
    return LFC_OK;
}

int
lfc_pool_submit(lfc_pool *p, lfc_pool_task_fn fn, void *arg)
{
    return submit(p, fn, arg, SUBMIT_BLOCK, LFC_FOREVER, NULL);
}

int
lfc_pool_try_submit(lfc_pool *p, lfc_pool_task_fn fn, void *arg)
{
    return submit(p, fn, arg, SUBMIT_TRY, LFC_FOREVER, NULL);
}

int
lfc_pool_submit_until(lfc_pool *p, lfc_pool_task_fn fn, void *arg,
                      int64_t deadline_ns)
{
    return submit(p, fn, arg, SUBMIT_UNTIL, deadline_ns, NULL);
}

int
lfc_pool_submit_ctx(lfc_pool *p, lfc_pool_task_fn fn, void *arg, lfc_ctx *ctx)
{
    return submit(p, fn, arg, SUBMIT_CTX, LFC_FOREVER, ctx);
}

/* ---- waiting ----------------------------------------------------------- */

/* Wait until pending[ph] has been 0 at some moment after the call. */
static void
wait_counter_zero(lfc_pool *p, uint32_t ph)
{
    if (counter_idle(&p->pending[ph]) == LFC_OK)
        return;
    /* Woken by pending_done() taking the counter to 0. */
    int r = lfc__ec_wait(&p->idle_ec, &p->idle_spin, NULL, counter_idle,
                         &p->pending[ph], INT64_MAX);
    LFC_ASSERT(r == LFC_OK);
    (void)r;
}

int
lfc_pool_wait(lfc_pool *p)
{
    if (!p || tls_pool == p)
        return LFC_EINVAL;
    /* Fast path: each counter read as 0 after we began is enough. */
    if (counter_idle(&p->pending[0]) == LFC_OK &&
        counter_idle(&p->pending[1]) == LFC_OK)
        return LFC_OK;
    pthread_mutex_lock(&p->wait_mu);
    /* ORDER rlx: only waiters write phase, and we hold wait_mu. */
    uint32_t ph = lfc_load_rlx_u32(&p->phase) & 1;
    /* The counter new submits do not use: only tasks from before the
     * previous wait's flip, and stragglers, finish there. */
    wait_counter_zero(p, ph ^ 1);
    if (counter_idle(&p->pending[ph]) != LFC_OK) {
        /* ORDER rlx: a hint for submitters (see submit()); correctness
         * never depends on which counter a task lands in. */
        lfc_store_rlx_u32(&p->phase, ph ^ 1);
        wait_counter_zero(p, ph);
    }
    pthread_mutex_unlock(&p->wait_mu);
    return LFC_OK;
}

/* ---- shutting down now ------------------------------------------------- */

static void
hand_back(lfc_pool *p, const struct task *t, lfc_pool_drop_fn dropped,
          void *user)
{
    const lfc_pool *saved = tls_pool;

    tls_pool = p; /* lfc_pool_wait from the callback would wait for it */
    dropped(t->fn, t->arg, user);
    tls_pool = saved;
    own_counter_bump(&p->dropped);
    pending_done(p, t->phase);
}

int64_t
lfc_pool_shutdown_now(lfc_pool *p, lfc_pool_drop_fn dropped, void *user)
{
    uint32_t open = POOL_OPEN;
    struct task t;
    int64_t n = 0;

    if (!p || !dropped || tls_pool == p)
        return LFC_EINVAL;
    /* ORDER acqrel: only "exactly one caller wins" matters (rlx would do);
     * workers read the flag as a hint, and the close below is what stops
     * new tasks. */
    if (!lfc_cas_acqrel_u32(&p->stopped, &open, POOL_STOPPED))
        return LFC_CLOSED;
    lfc_close(p->queue);
    /* Closed: lfc_recv returns what is left, then LFC_CLOSED. */
    while (lfc_recv(p->queue, &t) == LFC_OK) {
        hand_back(p, &t, dropped, user);
        n++;
    }
    join_workers(p, p->nworkers);
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];
        if (w->has_returned) {
            hand_back(p, &w->returned, dropped, user);
            n++;
        }
    }
    return n;
}

/* ---- statistics -------------------------------------------------------- */

int
lfc_pool_stats(lfc_pool *p, struct lfc_pool_stats *out)
{
    uint64_t started = 0;
    uint64_t completed = 0;

    if (!p || !out)
        return LFC_EINVAL;
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];
        /* ORDER acq: pairs with the rel store in own_counter_bump(); read
         * before started, so started >= completed for this worker. */
        completed += lfc_load_acq_u64(&w->completed);
        /* ORDER acq: pairs with the rel store in own_counter_bump(). */
        started += lfc_load_acq_u64(&w->started);
    }
    /* ORDER acq: pairs with the rel store in own_counter_bump(). */
    out->dropped = lfc_load_acq_u64(&p->dropped);
    /* ORDER rlx: a statistic; read last, so it is rarely below the sum
     * of what was taken (a task can start before its submit counts it). */
    out->submitted = lfc_load_rlx_u64(&p->submitted);
    out->completed = completed;
    out->running = started - completed;
    uint64_t taken = started + out->dropped;
    out->queued = out->submitted > taken ? out->submitted - taken : 0;
    return LFC_OK;
}
