/* SPDX-License-Identifier: MIT */
/*
 * The pattern baselines: a worker pool, a fan-in merger and a semaphore as
 * a careful C programmer builds them today from pthread mutexes and
 * condition variables, and POSIX sem_t. Each is what the pattern rows of
 * pattern_bench.c compare lfc_pool, lfc_merge and lfc_sem with.
 *
 * Pool ("mutex"): N worker threads loop on a blocking receive from the
 * mutex channel of mutex_chan.c (ring + one mutex + not-empty/not-full
 * condition variables, each signalled once and only when someone waits
 * on it), run the task, and count it finished. The pool's wait is a
 * counter of outstanding tasks plus a condition variable: a submit adds 1
 * before it sends, a worker subtracts 1 after the task returns, and the
 * worker that takes the counter to 0 locks the pool mutex and broadcasts
 * `idle`; wait locks it and sleeps on `idle` while the counter is not 0.
 * The counter is an atomic read-modify-write rather than a field under the
 * mutex, so the baseline pays the same per-task counting cost as lfc_pool
 * (one atomic add on each side) and takes a lock only when the pool goes
 * idle. No wake-up is lost: the waiter reads the counter under the mutex
 * and a worker that takes it to 0 afterwards must take that mutex, which
 * the waiter releases only inside pthread_cond_wait. Same semantics as
 * lfc_pool_wait whenever no submit races with the wait (the benchmark's
 * case); with racing submits it waits for them too (WaitGroup-style).
 *
 * Merger, two ways, both over mutex channels:
 *   - "mutex": one thread running the mutex channel's select
 *     (mutex_chan.c: one condition variable per select, registered on
 *     every input while it waits) over a receive case per input,
 *     forwarding each value with a blocking send to out; an input that
 *     reports closed is switched off, and when none is left out is
 *     closed. The same shape as lfc_merge's node (one thread, select over
 *     the inputs), so the rows compare like with like. Unlike lfc_merge it
 *     does not split more than 31 inputs into a tree: one select over all
 *     64, the way a mutex user would write it.
 *   - "mutex-threads": a forwarding thread per input (receive, send, until
 *     the input is closed and drained; the last one to finish closes out),
 *     the other way a pthread user writes fan-in, and Go's merge with
 *     threads for goroutines. With 64 inputs that is 64 threads.
 *   Both forward 8-byte values (the merge rows' message size). A value
 *   whose send to out fails (out closed early) is counted as dropped and
 *   the forwarder stops, as lfc_merge does.
 *
 * Semaphore:
 *   - "mutex": a counting, weighted semaphore: free permits under a mutex,
 *     waiters sleep on one condition variable while fewer than they want
 *     are free. release signals one waiter per permit returned (when every
 *     waiter wants one permit; if any wants more it broadcasts, so a small
 *     waiter is never left asleep behind a big one). Not FIFO: a thread
 *     that arrives while others sleep takes free permits at once
 *     (barging), as pthread code does; lfc_sem serves waiters in arrival
 *     order, a stronger promise.
 *   - "sem_t": POSIX sem_wait / sem_post (glibc: an atomic fast path and a
 *     futex; not FIFO either). Weighted acquire is n sem_waits (not atomic
 *     for n > 1; the rows acquire 1).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <lfchan.h>

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Pool --------------------------------------------------------------- */

struct mtask {
    void (*fn)(void *);
    void *arg;
};

struct mworker {
    struct mpool *pool;
    pthread_t th;
    int cpu; /* -1: unpinned */
};

struct mpool {
    const struct bench_ops *q; /* the mutex channel */
    void *queue;
    unsigned n;
    struct mworker *w;
    uint64_t outstanding; /* atomic: submitted and not yet finished */
    pthread_mutex_t mu;   /* guards the sleep on idle */
    pthread_cond_t idle;  /* broadcast when outstanding reaches 0 */
};

/* One task finished (ran, or its submit failed): the last one out wakes
 * the waiters. */
static void
pool_done(struct mpool *p)
{
    if (__atomic_sub_fetch(&p->outstanding, 1, __ATOMIC_ACQ_REL) == 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *
pool_worker(void *arg)
{
    struct mworker *w = arg;
    struct mpool *p = w->pool;
    struct mtask t;

    bench_pin_self(w->cpu);
    while (p->q->recv(p->queue, &t) == LFC_OK) {
        t.fn(t.arg);
        pool_done(p);
    }
    return NULL;
}

static void *
mp_pool_new(unsigned workers, size_t cap, const int *cpus)
{
    struct mpool *p = calloc(1, sizeof(*p));
    unsigned i;

    if (p == NULL)
        return NULL;
    p->q = &bench_ops_mutex;
    p->n = workers;
    p->queue = p->q->make(cap, sizeof(struct mtask));
    p->w = calloc(workers, sizeof(*p->w));
    if (p->queue == NULL || p->w == NULL)
        goto out_free;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (i = 0; i < workers; i++) {
        p->w[i].pool = p;
        p->w[i].cpu = cpus != NULL ? cpus[i] : -1;
        bench_thread_start(&p->w[i].th, pool_worker, &p->w[i]);
    }
    return p;
out_free:
    if (p->queue != NULL)
        p->q->destroy(p->queue);
    free(p->w);
    free(p);
    return NULL;
}

static int
mp_pool_submit(void *pool, void (*fn)(void *), void *arg)
{
    struct mpool *p = pool;
    struct mtask t = {fn, arg};
    int rc;

    __atomic_add_fetch(&p->outstanding, 1, __ATOMIC_ACQ_REL);
    rc = p->q->send(p->queue, &t);
    if (rc != LFC_OK)
        pool_done(p);
    return rc;
}

static int
mp_pool_wait(void *pool)
{
    struct mpool *p = pool;

    pthread_mutex_lock(&p->mu);
    while (__atomic_load_n(&p->outstanding, __ATOMIC_ACQUIRE) != 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return LFC_OK;
}

static void
mp_pool_free(void *pool)
{
    struct mpool *p = pool;
    unsigned i;

    if (p == NULL)
        return;
    p->q->close(p->queue); /* the workers drain the queue, then exit */
    for (i = 0; i < p->n; i++)
        pthread_join(p->w[i].th, NULL);
    p->q->destroy(p->queue);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
    free(p->w);
    free(p);
}

/* ---- Mergers ------------------------------------------------------------ */

struct mmerge {
    const struct bench_ops *ch; /* the mutex channel */
    void **in;                  /* n inputs */
    int n;
    void *out;
    pthread_t *th; /* select: one; threads: n */
    int nth;
    void *sel;        /* select: over the n inputs */
    uint64_t *buf;    /* select: case i receives into buf[i] */
    bool *closed;     /* select: input i seen closed */
    int live;         /* threads: forwarders still running (atomic) */
    uint64_t dropped; /* atomic */
    struct mfwd *fwd; /* threads: n */
};

struct mfwd {
    struct mmerge *m;
    int i;
};

static void *
merge_select_main(void *arg)
{
    struct mmerge *m = arg;
    int open = m->n;

    while (open > 0) {
        int st = LFC_OK;
        int i = m->ch->select(m->sel, LFC_FOREVER, &st);

        if (i < 0 || i >= m->n)
            break; /* cannot happen: some case is on */
        if (st == LFC_CLOSED) {
            if (!m->closed[i]) {
                m->closed[i] = true;
                m->ch->sel_off(m->sel, i);
                open--;
            }
            continue;
        }
        if (m->ch->send(m->out, &m->buf[i]) != LFC_OK) {
            /* out closed behind our back: count the value, stop. */
            __atomic_add_fetch(&m->dropped, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    m->ch->close(m->out);
    return NULL;
}

static void *
merge_fwd_main(void *arg)
{
    struct mfwd *f = arg;
    struct mmerge *m = f->m;
    uint64_t v;

    while (m->ch->recv(m->in[f->i], &v) == LFC_OK) {
        if (m->ch->send(m->out, &v) != LFC_OK) {
            __atomic_add_fetch(&m->dropped, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    /* Every send of ours has returned: the last forwarder closes out. */
    if (__atomic_sub_fetch(&m->live, 1, __ATOMIC_ACQ_REL) == 0)
        m->ch->close(m->out);
    return NULL;
}

static void
merge_release(struct mmerge *m)
{
    if (m->sel != NULL)
        m->ch->sel_free(m->sel);
    free(m->fwd);
    free(m->closed);
    free(m->buf);
    free(m->th);
    free(m->in);
    free(m);
}

/* Common part: copies the inputs; per-thread arrays for nth threads. */
static struct mmerge *
merge_alloc(void **in, int n, void *out, int nth)
{
    struct mmerge *m;

    if (in == NULL || n < 1 || out == NULL) {
        errno = EINVAL;
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->ch = &bench_ops_mutex;
    m->n = n;
    m->out = out;
    m->nth = nth;
    m->in = malloc((size_t)n * sizeof(*m->in));
    m->th = calloc((size_t)nth, sizeof(*m->th));
    if (m->in == NULL || m->th == NULL) {
        merge_release(m);
        return NULL;
    }
    memcpy(m->in, in, (size_t)n * sizeof(*m->in));
    return m;
}

static void *
mm_merge_new_select(void **in, int n, void *out)
{
    struct mmerge *m = merge_alloc(in, n, out, 1);
    struct bench_sel *cases;
    int i;

    if (m == NULL)
        return NULL;
    m->buf = calloc((size_t)n, sizeof(*m->buf));
    m->closed = calloc((size_t)n, sizeof(*m->closed));
    cases = malloc((size_t)n * sizeof(*cases));
    if (m->buf == NULL || m->closed == NULL || cases == NULL) {
        free(cases);
        merge_release(m);
        return NULL;
    }
    for (i = 0; i < n; i++)
        cases[i] = (struct bench_sel){m->in[i], LFC_RECV, &m->buf[i]};
    m->sel = m->ch->sel_new(cases, n); /* copies the cases */
    free(cases);
    if (m->sel == NULL) {
        merge_release(m);
        return NULL;
    }
    bench_thread_start(&m->th[0], merge_select_main, m);
    return m;
}

static void *
mm_merge_new_threads(void **in, int n, void *out)
{
    struct mmerge *m = merge_alloc(in, n, out, n);
    int i;

    if (m == NULL)
        return NULL;
    m->fwd = calloc((size_t)n, sizeof(*m->fwd));
    if (m->fwd == NULL) {
        merge_release(m);
        return NULL;
    }
    m->live = n;
    for (i = 0; i < n; i++) {
        m->fwd[i] = (struct mfwd){m, i};
        bench_thread_start(&m->th[i], merge_fwd_main, &m->fwd[i]);
    }
    return m;
}

static uint64_t
mm_merge_free(void *merger)
{
    struct mmerge *m = merger;
    uint64_t dropped;
    int i;

    if (m == NULL)
        return 0;
    for (i = 0; i < m->nth; i++)
        pthread_join(m->th[i], NULL);
    dropped = __atomic_load_n(&m->dropped, __ATOMIC_RELAXED);
    merge_release(m);
    return dropped;
}

/* ---- Semaphores --------------------------------------------------------- */

struct msem {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t avail;    /* under mu: free permits */
    int64_t total;    /* constant */
    unsigned waiters; /* under mu: threads asleep on cv */
    unsigned big;     /* under mu: of those, wanting more than 1 */
};

static void *
ms_sem_new(int64_t permits)
{
    struct msem *s;

    if (permits < 0) {
        errno = EINVAL;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->avail = s->total = permits;
    return s;
}

static int
ms_sem_acquire(void *sem, int64_t n)
{
    struct msem *s = sem;

    if (n < 0 || n > s->total)
        return LFC_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (s->avail < n) {
        s->waiters++;
        s->big += n > 1;
        do
            pthread_cond_wait(&s->cv, &s->mu);
        while (s->avail < n);
        s->waiters--;
        s->big -= n > 1;
    }
    s->avail -= n;
    pthread_mutex_unlock(&s->mu);
    return LFC_OK;
}

static int
ms_sem_release(void *sem, int64_t n)
{
    struct msem *s = sem;
    unsigned waiters;
    bool big;
    int64_t k;

    if (n < 0)
        return LFC_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (s->avail + n > s->total) {
        pthread_mutex_unlock(&s->mu);
        return LFC_EINVAL;
    }
    s->avail += n;
    waiters = s->waiters;
    big = s->big > 0;
    pthread_mutex_unlock(&s->mu);
    /* After unlocking, so a woken thread does not block on mu at once. */
    if (waiters > 0 && big)
        pthread_cond_broadcast(&s->cv);
    else
        for (k = 0; k < n && k < (int64_t)waiters; k++)
            pthread_cond_signal(&s->cv);
    return LFC_OK;
}

static void
ms_sem_free(void *sem)
{
    struct msem *s = sem;

    if (s == NULL)
        return;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct psem {
    sem_t s;
    int64_t total;
};

static void *
ps_sem_new(int64_t permits)
{
    struct psem *s;

    if (permits < 0 || permits > (int64_t)SEM_VALUE_MAX) {
        errno = EINVAL;
        return NULL;
    }
    s = malloc(sizeof(*s));
    if (s == NULL)
        return NULL;
    if (sem_init(&s->s, 0, (unsigned)permits) != 0) {
        free(s);
        return NULL;
    }
    s->total = permits;
    return s;
}

static int
ps_sem_acquire(void *sem, int64_t n)
{
    struct psem *s = sem;
    int64_t k;

    if (n < 0 || n > s->total)
        return LFC_EINVAL;
    for (k = 0; k < n; k++)
        while (sem_wait(&s->s) != 0)
            if (errno != EINTR)
                return LFC_EINVAL;
    return LFC_OK;
}

static int
ps_sem_release(void *sem, int64_t n)
{
    struct psem *s = sem;
    int64_t k;

    if (n < 0)
        return LFC_EINVAL;
    for (k = 0; k < n; k++)
        if (sem_post(&s->s) != 0)
            return LFC_EINVAL;
    return LFC_OK;
}

static void
ps_sem_free(void *sem)
{
    struct psem *s = sem;

    if (s == NULL)
        return;
    sem_destroy(&s->s);
    free(s);
}

/* ---- The entries -------------------------------------------------------- */

const struct bench_pat_ops bench_pat_mutex = {
    .pool_new = mp_pool_new,
    .pool_submit = mp_pool_submit,
    .pool_wait = mp_pool_wait,
    .pool_free = mp_pool_free,
    .chan = &bench_ops_mutex,
    .merge_new = mm_merge_new_select,
    .merge_free = mm_merge_free,
    .sem_new = ms_sem_new,
    .sem_acquire = ms_sem_acquire,
    .sem_release = ms_sem_release,
    .sem_free = ms_sem_free,
};

static const struct bench_pat_ops pat_mutex_threads = {
    .chan = &bench_ops_mutex,
    .merge_new = mm_merge_new_threads,
    .merge_free = mm_merge_free,
};

static const struct bench_pat_ops pat_semt = {
    .sem_new = ps_sem_new,
    .sem_acquire = ps_sem_acquire,
    .sem_release = ps_sem_release,
    .sem_free = ps_sem_free,
};

static size_t
same_cap(size_t cap)
{
    return cap;
}

const struct bench_ops bench_ops_mutex_threads = {
    .name = "mutex-threads",
    .about = "pattern rows only: fan-in with a forwarding thread per input "
             "over mutex channels",
    .real_cap = same_cap,
    .pat = &pat_mutex_threads,
};

const struct bench_ops bench_ops_semt = {
    .name = "sem_t",
    .about = "pattern rows only: POSIX sem_wait / sem_post",
    .real_cap = same_cap,
    .pat = &pat_semt,
};
