/* SPDX-License-Identifier: MIT */
/*
 * Worker pools: a fixed set of threads running tasks from a channel.
 * Depends on: chan (the queue), select (lfc_send_ctx), ctx, lfc_park.h
 * (the event count lfc_pool_wait parks on), lfc_atomic.h, lfc_fork.h.
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
 * are counted in two phases, 0 and 1, as sleepable RCU counts its readers
 * (Linux's SRCU; userspace-rcu's two-phase grace period): a submit counts
 * its task in phase `phase` before it sends, the task carries that phase,
 * and whoever finishes it (the worker after running it, the submit itself
 * if the send failed, lfc_pool_shutdown_now after handing it back) counts
 * the finish in the same phase.
 *
 * The counts are split, as SRCU splits its lock and unlock counts per
 * CPU, so that no line bounces between submitters and workers on every
 * task (one shared counter, added to by the submitter and subtracted from
 * by the worker, cost 4-5x the throughput of the bare channel):
 *   - add[ph] in the submitting thread's CPU stripe (RMW; a submitter's
 *     stripe stays in its own cache);
 *   - done[ph] per worker, written only by that worker (load + release
 *     store, no RMW);
 *   - fin[ph] in the finishing thread's stripe, for failed submits and
 *     hand-backs (RMW; rare).
 * Phase ph is idle (phase_idle()) when F == A, where F is the sum of every
 * done[ph] and fin[ph], read first (acquire), and A the sum of every
 * add[ph], read after. Why that means what the waiter needs: each finish
 * that F counts was preceded by its task's add, which happens-before the
 * finish (program order, or send -> receive), so our acquire load of the
 * finish count orders that add before our later loads of A: A counts it.
 * So the tasks whose finishes F counts are among the tasks A counts, one
 * finish per task; F == A then means every task A counts has finished.
 * And A counts every task of phase ph whose submit returned before the
 * wait began (its add happens-before our loads). Hence: once the waiter
 * has seen each phase idle (at any moments after it began), every task
 * submitted before it began has finished, and since the acquire loads
 * read the finish counts, their effects happen-before its return.
 * Summing in the other order would be wrong: a task submitted after A was
 * read could finish before F is read and stand in for an earlier task.
 *
 * New submits count in phase `phase`. With c the phase when it starts,
 * the waiter first waits for phase !c to be idle, which no new submit
 * uses: only tasks counted before the previous wait flipped the phase,
 * and stragglers (below), are left in it. Then it flips phase to !c and
 * waits for phase c, to which from then on only stragglers add: submits
 * that read the phase before the flip, at most one per submitting thread.
 * So a steady stream of submits cannot keep a wait from returning; it
 * waits at most for the tasks submitted during its first step as well.
 * Waiters hold wait_mu, so two of them never flip against each other.
 *
 * A phase's waiter parks on idle_ec[ph] (park.c's event count): it
 * announces, rechecks, sleeps. Every finish of a phase-ph task is
 * followed by a seqcst fence and a signal of idle_ec[ph], which is one
 * load of idle_ec[ph].waiters when nobody is parked there: a worker pays
 * two plain stores, a fence and that load per task, on lines nobody else
 * writes. While a waiter is parked, each finish of its phase wakes it to
 * re-sum (wake-ups coalesce in park.c's PENDING bit until it has looked);
 * the waiter's spin phase usually ends the wait before it parks.
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
 * Fork. A child has none of the workers (fork copies the calling thread
 * only), so a task queued there would never run and a join would never
 * return. The pool records lfc__fork_gen() at creation; submits, wait and
 * shutdown_now compare it (one relaxed load of a line nobody writes) and
 * return LFC_EINVAL in a child, queueing nothing; lfc_pool_free there
 * frees the memory without closing, draining or joining (the tasks still
 * queued are neither run nor handed back: the parent's pool runs them).
 * wait_mu is not destroyed there (a parent thread may have held it).
 *
 * Cancellation. lfc_pool_free, lfc_pool_shutdown_now and a failing
 * lfc_pool_new_opts join the workers (pthread_join is a cancellation
 * point) with cancellation disabled, so a cancelled caller still finishes
 * the free (or the shutdown, drop callbacks included: they run inside it)
 * and acts on the request after returning. Everything else waits on
 * futexes, which are not cancellation points.
 *
 * Invariants:
 *   - A task is counted in exactly one add[ph] (its `phase`), from the
 *     start of its submit, and its finish in exactly one done[ph] or
 *     fin[ph] of the same phase. Every add happens-before the matching
 *     finish, so summing finishes first and adds second gives F <= A
 *     (asserted).
 *   - Counters only grow (free-running; compared only for equality and
 *     through their unsigned difference).
 *   - `stopped` goes from OPEN to STOPPED once, by CAS; the queue is closed
 *     only after it (shutdown_now) or by lfc_pool_free.
 *   - Per worker, started >= done[0] + done[1], each written only by the
 *     worker; `returned` is written by the worker before it exits and read
 *     only after pthread_join.
 *
 * Field table:
 *   | field            | written by                     | read by    | order  |
 *   |------------------|--------------------------------|------------|--------|
 *   | queue, workers,  | lfc_pool_new_opts              | all        | -      |
 *   | stripes, nworkers|                                |            |        |
 *   | nstripes         |                                |            |        |
 *   | fork_gen         | lfc_pool_new_opts              | all        | -      |
 *   | stopped          | shutdown_now (CAS)             | workers,   | rlx    |
 *   |                  |                                | free       |        |
 *   | phase            | lfc_pool_wait, under wait_mu   | submitters | rlx    |
 *   | st.add[2]        | submitters (RMW)               | waiters,   | seqcst |
 *   |                  |                                | stats      | RMW/rlx|
 *   | st.fin[2]        | failed submits, shutdown (RMW) | waiters    | seqcst |
 *   |                  |                                |            | RMW/acq|
 *   | st.failed        | failed submits (RMW)           | stats      | rmw/acq|
 *   | w.done[2]        | that worker (load + rel store) | waiters,   | rel/acq|
 *   |                  |                                | stats      |        |
 *   | w.started        | that worker (load + rel store) | stats      | rel/acq|
 *   | dropped          | the shutdown_now thread        | stats      | rel/acq|
 *   | w.returned       | that worker, before exiting    | joiner     | join   |
 *   | idle_ec[2]       | see park.c                     |            |        |
 *   (RMWs are seqcst adds: lfc_atomic.h has no weaker 64-bit one.)
 *
 * Wake-up argument: a waiter sleeps only after lfc__ec_wait() announced it
 * on idle_ec[ph] (seqcst RMW, fence) and then found phase ph not idle.
 * Every finish of a phase-ph task publishes its count (release store or
 * RMW), executes a seqcst fence and loads idle_ec[ph].waiters
 * (signal_finished()): by park.c's store-buffering argument either the
 * waiter's recheck sees that finish, or the load sees the announce and
 * the signal wakes it (one waiter at most, so a wake-one suffices, and a
 * coalesced one is taken by that waiter's next look). Only a finish can
 * make phase ph idle (an add never does), and every one signals. A later
 * add (a straggler) can make it busy again; the waiter then sleeps until
 * that task's finish, which signals.
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
#include <unistd.h>

#include "lfchan/chan.h"
#include "lfchan/pool.h"
#include "lfchan/select.h"
#include "lfc_atomic.h"
#include "lfc_common.h"
#include "lfc_fork.h"
#include "lfc_park.h"

/* One queue element. */
struct task {
    lfc_pool_task_fn fn;
    void *arg;
    uint32_t phase; /* the phase whose counters count this task */
};

/* One worker; on its own cache lines, since it writes its counters. */
struct worker {
    LFC_CACHE_ALIGNED uint64_t started; /* this worker (load + rel store) */
    uint64_t done[2]; /* tasks of each phase it ran; this worker (load + rel
                         store) */
    lfc_pool *pool;   /* read-only */
    pthread_t thread; /* creator; read by the joiner */
    struct task returned; /* this worker, before exiting; joiner */
    bool has_returned;    /* as returned */
};

/* Submit-side counts, one stripe per CPU (modulo nstripes), so submitters
 * on different CPUs never share a line and a stripe bounces only between
 * threads that take turns on one CPU. Any thread may update any stripe
 * (RMW); only sums over all stripes mean anything. */
struct stripe {
    LFC_CACHE_ALIGNED uint64_t add[2]; /* submits, by phase (RMW) */
    uint64_t fin[2]; /* failed submits and hand-backs, by phase (RMW) */
    uint64_t failed; /* failed submits (RMW); for lfc_pool_stats */
};

enum { POOL_OPEN = 0, POOL_STOPPED = 1 };

struct lfc_pool {
    /* Read-mostly: read on every submit or task, written once or rarely. */
    lfc_chan *queue;         /* read-only after new */
    struct worker *workers;  /* read-only after new */
    struct stripe *stripes;  /* read-only after new (the pointer) */
    unsigned nworkers;       /* read-only after new */
    unsigned nstripes;       /* read-only after new; a power of two */
    uint32_t fork_gen;       /* lfc__fork_gen() at new; read-only */
    uint32_t stopped;        /* POOL_OPEN/STOPPED; shutdown_now (CAS) */
    uint32_t phase;          /* lfc_pool_wait, under wait_mu */
    uint64_t dropped;        /* the shutdown_now thread (load + rel store) */

    /* Waiters: written only while someone waits. One event count per
     * phase, so that finishing a task of the phase nobody waits for never
     * wakes the waiter. */
    LFC_CACHE_ALIGNED struct lfc_ec idle_ec[2]; /* waiters park here */
    struct lfc_spin idle_spin;                  /* waiters' spin budget */
    pthread_mutex_t wait_mu; /* one lfc_pool_wait at a time */
};

_Static_assert(offsetof(struct lfc_pool, idle_ec) % LFC_CACHELINE == 0 &&
                   offsetof(struct lfc_pool, idle_ec) >
                       offsetof(struct lfc_pool, dropped),
               "the event counts must not share the read-mostly line");
_Static_assert(sizeof(struct worker) % LFC_CACHELINE == 0,
               "each worker on its own lines");
_Static_assert(sizeof(struct stripe) % LFC_CACHELINE == 0,
               "each stripe on its own line");

/* Stripes: CPUs rounded up to a power of two, at most this many. */
#define POOL_MAX_STRIPES 64u

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
    /* ORDER rel: pairs with the acq loads in lfc_pool_stats() and, for
     * done[], phase_idle(); a reader that sees this value sees all we did
     * before (the task that just ran, our earlier counter stores). */
    lfc_store_rel_u64(c, n + 1);
}

/* This thread's stripe: its current CPU's (a hint: only spreads the
 * lines; any stripe is correct). sched_getcpu() is a read of the rseq
 * area in glibc >= 2.35. */
static struct stripe *
my_stripe(lfc_pool *p)
{
    int cpu = sched_getcpu();
    return &p->stripes[cpu < 0 ? 0 : (unsigned)cpu & (p->nstripes - 1)];
}

struct idle_arg {
    lfc_pool *p;
    uint32_t ph;
};

/*
 * A try function for lfc__ec_wait: LFC_OK if every task counted in phase
 * ph when we read the submit counts has finished. Finishes are summed
 * first (acquire), then submits: see "Waiting" in the design block for why
 * equal sums mean that, and why reading them in this order matters.
 */
static int
phase_idle(void *arg)
{
    const struct idle_arg *a = arg;
    lfc_pool *p = a->p;
    uint32_t ph = a->ph;
    uint64_t fin = 0;
    uint64_t add = 0;

    for (unsigned i = 0; i < p->nworkers; i++) {
        /* ORDER acq: pairs with the rel store in own_counter_bump() from
         * run_task(); the tasks' effects, and their adds, happen-before
         * our loads below. */
        fin += lfc_load_acq_u64(&p->workers[i].done[ph]);
    }
    for (unsigned i = 0; i < p->nstripes; i++) {
        /* ORDER acq: pairs with the seqcst (release) RMW in
         * stripe_finish(); as above. */
        fin += lfc_load_acq_u64(&p->stripes[i].fin[ph]);
    }
    for (unsigned i = 0; i < p->nstripes; i++) {
        /* ORDER rlx: read after the acq loads above, so it counts every
         * submit whose finish they counted (coherence). */
        add += lfc_load_rlx_u64(&p->stripes[i].add[ph]);
    }
    LFC_ASSERT((int64_t)(add - fin) >= 0);
    return add == fin ? LFC_OK : LFC_AGAIN;
}

/* A task of phase ph finished and its count is published: wake the
 * waiter of that phase, if one is parked. Every finish calls this. */
static void
signal_finished(lfc_pool *p, uint32_t ph)
{
    /* ORDER seqcst: our count's store before the load of
     * idle_ec.waiters (store→load); pairs with the announce-then-recheck
     * in lfc__ec_wait(). */
    lfc_fence_seqcst();
    /* One waiter at most (wait_mu): a signal coalesces with a pending one. */
    lfc__ec_signal_fenced(&p->idle_ec[ph], NULL);
}

/* A task of phase ph finished on a thread that is not a worker: its submit
 * failed, or shutdown_now handed it back. */
static void
stripe_finish(lfc_pool *p, uint32_t ph, bool failed)
{
    struct stripe *st = my_stripe(p);
    if (failed) {
        /* ORDER seqcst: a statistic (rlx would do); lfc_atomic.h has no
         * weaker 64-bit add. Before fin, so stats never see it late. */
        lfc_faa_seqcst_u64(&st->failed, 1);
    }
    /* ORDER seqcst: the release half publishes the finish to the acq load
     * in phase_idle(); the store half is ordered before the waiters load
     * by the fence in signal_finished(). */
    lfc_faa_seqcst_u64(&st->fin[ph], 1);
    signal_finished(p, ph);
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
    /* Pairs with the acq load in phase_idle() (the rel store inside). */
    own_counter_bump(&w->done[t->phase]);
    signal_finished(w->pool, t->phase);
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
        int cs = lfc__nocancel_begin();
        join_workers(p, i);
        lfc__nocancel_end(cs);
    }
    return err;
}

/* ---- construction and destruction -------------------------------------- */

/* CPUs rounded up to a power of two, within 1 .. POOL_MAX_STRIPES. */
static unsigned
stripe_count(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    unsigned n = 1;
    while (n < POOL_MAX_STRIPES && (long)n < cpus)
        n <<= 1;
    return n;
}

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
    if (lfc__fork_watch() != 0)
        goto out;
    p = aligned_alloc(LFC_CACHELINE, sizeof(*p));
    if (!p)
        goto out;
    memset(p, 0, sizeof(*p));
    p->fork_gen = lfc__fork_gen();
    p->nworkers = opts->workers;
    p->workers = aligned_alloc(LFC_CACHELINE,
                               (size_t)p->nworkers * sizeof(struct worker));
    if (!p->workers)
        goto out_free_pool;
    memset(p->workers, 0, (size_t)p->nworkers * sizeof(struct worker));
    p->nstripes = stripe_count();
    p->stripes = aligned_alloc(LFC_CACHELINE,
                               (size_t)p->nstripes * sizeof(struct stripe));
    if (!p->stripes)
        goto out_free_workers;
    memset(p->stripes, 0, (size_t)p->nstripes * sizeof(struct stripe));
    p->queue = lfc_chan_new(opts->queue_capacity, sizeof(struct task));
    if (!p->queue) {
        err = errno;
        goto out_free_stripes;
    }
    if (pthread_mutex_init(&p->wait_mu, NULL) != 0)
        goto out_free_queue;
    lfc__ec_init(&p->idle_ec[0]);
    lfc__ec_init(&p->idle_ec[1]);
    lfc__spin_init(&p->idle_spin);
    err = start_workers(p, opts);
    if (err != 0)
        goto out_destroy_mutex;
    return p;

out_destroy_mutex:
    pthread_mutex_destroy(&p->wait_mu);
out_free_queue:
    lfc_chan_free(p->queue);
out_free_stripes:
    free(p->stripes);
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

/* Free the memory; the workers are gone (joined, or never forked). */
static void
pool_release(lfc_pool *p)
{
    lfc_chan_free(p->queue);
    free(p->stripes);
    free(p->workers);
    free(p);
}

void
lfc_pool_free(lfc_pool *p)
{
    if (!p)
        return;
    if (lfc__forked_since(p->fork_gen)) {
        /* A forked child: no worker exists here to close the queue for or
         * to join (a forking task's thread is no worker here either). The
         * queued tasks are abandoned; wait_mu is left as it is. */
        pool_release(p);
        return;
    }
    if (tls_pool == p)
        LFC_PANIC("lfc_pool_free called from a task of the same pool");
    /* Graceful: the workers drain the closed queue, then exit. After
     * shutdown_now (which the contract orders before us) nothing is left
     * to do but free. Not a cancellation point: a cancelled caller still
     * joins and frees. */
    int cs = lfc__nocancel_begin();
    if (!pool_stopped(p)) {
        lfc_close(p->queue);
        join_workers(p, p->nworkers);
    }
    pthread_mutex_destroy(&p->wait_mu);
    pool_release(p);
    lfc__nocancel_end(cs);
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
    if (lfc__forked_since(p->fork_gen))
        return LFC_EINVAL; /* no worker would ever run it */
    /* ORDER rlx: a hint; either counter is correct for this task (the
     * phase only steers new tasks away from the one a waiter drains). */
    t.phase = lfc_load_rlx_u32(&p->phase) & 1;
    /* ORDER seqcst: rlx would do (the finish is ordered after this add
     * by the send and receive); lfc_atomic.h has no weaker 64-bit add. */
    lfc_faa_seqcst_u64(&my_stripe(p)->add[t.phase], 1);
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
    if (r != LFC_OK)
        stripe_finish(p, t.phase, true); /* nothing was queued */
    return r;
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

/* Wait until phase ph has been idle (phase_idle()) after the call. */
static void
wait_phase_idle(lfc_pool *p, uint32_t ph)
{
    struct idle_arg a = {p, ph};
    if (phase_idle(&a) == LFC_OK)
        return;
    /* Woken by signal_finished() after any finish of phase ph. */
    int r = lfc__ec_wait(&p->idle_ec[ph], &p->idle_spin, NULL, phase_idle,
                         &a, INT64_MAX);
    LFC_ASSERT(r == LFC_OK);
    (void)r;
}

int
lfc_pool_wait(lfc_pool *p)
{
    if (!p || tls_pool == p || lfc__forked_since(p->fork_gen))
        return LFC_EINVAL;
    struct idle_arg a0 = {p, 0};
    struct idle_arg a1 = {p, 1};
    /* Fast path: each phase seen idle after we began is enough. */
    if (phase_idle(&a0) == LFC_OK && phase_idle(&a1) == LFC_OK)
        return LFC_OK;
    pthread_mutex_lock(&p->wait_mu);
    /* ORDER rlx: only waiters write phase, and we hold wait_mu. */
    uint32_t ph = lfc_load_rlx_u32(&p->phase) & 1;
    struct idle_arg cur = {p, ph};
    /* The phase new submits do not use: only tasks from before the
     * previous wait's flip, and stragglers, finish there. */
    wait_phase_idle(p, ph ^ 1);
    if (phase_idle(&cur) != LFC_OK) {
        /* ORDER rlx: a hint for submitters (see submit()); correctness
         * never depends on which phase a task lands in. */
        lfc_store_rlx_u32(&p->phase, ph ^ 1);
        wait_phase_idle(p, ph);
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
    stripe_finish(p, t->phase, false);
}

int64_t
lfc_pool_shutdown_now(lfc_pool *p, lfc_pool_drop_fn dropped, void *user)
{
    uint32_t open = POOL_OPEN;
    struct task t;
    int64_t n = 0;

    if (!p || !dropped || tls_pool == p || lfc__forked_since(p->fork_gen))
        return LFC_EINVAL;
    /* ORDER acqrel: only "exactly one caller wins" matters (rlx would do);
     * workers read the flag as a hint, and the close below is what stops
     * new tasks. */
    if (!lfc_cas_acqrel_u32(&p->stopped, &open, POOL_STOPPED))
        return LFC_CLOSED;
    /* Not a cancellation point, callbacks included: once the flag is set
     * the workers must be joined before anyone may free the pool. */
    int cs = lfc__nocancel_begin();
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
    lfc__nocancel_end(cs);
    return n;
}

/* ---- statistics -------------------------------------------------------- */

int
lfc_pool_stats(lfc_pool *p, struct lfc_pool_stats *out)
{
    uint64_t started = 0;
    uint64_t completed = 0;
    uint64_t added = 0;
    uint64_t failed = 0;

    if (!p || !out)
        return LFC_EINVAL;
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];
        /* ORDER acq: pairs with the rel store in own_counter_bump(); read
         * before started, so started >= completed for this worker. */
        completed += lfc_load_acq_u64(&w->done[0]);
        /* ORDER acq: as above. */
        completed += lfc_load_acq_u64(&w->done[1]);
        /* ORDER acq: pairs with the rel store in own_counter_bump(). */
        started += lfc_load_acq_u64(&w->started);
    }
    /* ORDER acq: pairs with the rel store in own_counter_bump(). */
    out->dropped = lfc_load_acq_u64(&p->dropped);
    /* Read last, so submitted is rarely below the sum of what was taken
     * (a task can start before its submit returns). A submit in progress
     * is counted from its add; one that fails is taken back. */
    for (unsigned i = 0; i < p->nstripes; i++) {
        struct stripe *st = &p->stripes[i];
        /* ORDER acq: pairs with the seqcst (release) RMW in
         * stripe_finish(); the failed submit's add, made before it, is
         * then seen by the loads below. */
        failed += lfc_load_acq_u64(&st->failed);
        /* ORDER rlx: a statistic, exact once the pool is quiet; read
         * after failed (see above). */
        added += lfc_load_rlx_u64(&st->add[0]);
        /* ORDER rlx: as above. */
        added += lfc_load_rlx_u64(&st->add[1]);
    }
    out->submitted = added - failed;
    out->completed = completed;
    out->running = started - completed;
    uint64_t taken = started + out->dropped;
    out->queued = out->submitted > taken ? out->submitted - taken : 0;
    return LFC_OK;
}
