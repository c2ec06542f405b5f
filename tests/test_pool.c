/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan worker pools (include/lfchan/pool.h): every task
 * runs exactly once, lfc_pool_wait, backpressure, deadlines and
 * cancellation of submits, shutdown-now hand-back, counters, thread names,
 * CPU pinning, bad arguments and thread clean-up.
 *
 * The exactly-once and hand-back tests are the issue's. The steady-stream
 * wait test checks that lfc_pool_wait is not Go's WaitGroup.Wait: it must
 * return while other threads keep the queue full. The free-while-tasks-
 * resubmit test is modelled on Go's "worker pool closes its jobs channel
 * while workers still produce" pattern, rewritten in C.
 *
 * Rules kept here:
 *   - Every blocking call in the test thread is bounded (a deadline, a
 *     watchdog, or the binary's alarm); a lost wake-up fails, never hangs.
 *   - Timing checks assert lower bounds exactly (a deadline never fires
 *     early) and no upper bounds: what must happen is waited for up to
 *     LFC_TEST_STUCK_NS (tests/support), which only a lost wake-up
 *     reaches, on a loaded host or under a sanitizer too.
 *   - cmocka assertions run only on the test's own thread; tasks and
 *     helper threads record what they saw.
 *   - Sizes scale with LFC_TEST_SCALE (see lfc_test_support.h).
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

#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define US LFC_TEST_US
#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* The bound for anything that must happen: only a lost wake-up or a
 * deadlock reaches it. */
#define LATE_NS LFC_TEST_STUCK_NS

/* ---- helpers ---------------------------------------------------------- */

static long
atomic_get(const long *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
atomic_inc(long *p)
{
    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

/* A task: counts itself in *(long *)arg. */
static void
count_task(void *arg)
{
    atomic_inc(arg);
}

/* A task that must never run. */
static void
never_task(void *arg)
{
    (void)arg;
    abort();
}

/*
 * A task that occupies its worker: it announces itself on `started` and
 * then waits for `gate` to close (bounded, so a broken test ends).
 */
struct blocker {
    lfc_chan *started; /* capacity >= the blockers submitted, elem_size 0 */
    lfc_chan *gate;    /* capacity 0, elem_size 0; closed to release */
    long ran;
};

static void
blocker_task(void *arg)
{
    struct blocker *b = arg;
    lfc_send(b->started, NULL);
    lfc_recv_until(b->gate, NULL, lfc_now_ns() + LATE_NS);
    atomic_inc(&b->ran);
}

static void
blocker_init(struct blocker *b)
{
    b->started = lfc_chan_new(64, 0);
    b->gate = lfc_chan_new(0, 0);
    b->ran = 0;
    assert_non_null(b->started);
    assert_non_null(b->gate);
}

static void
blocker_destroy(struct blocker *b)
{
    lfc_chan_free(b->started);
    lfc_chan_free(b->gate);
}

/* Submit one blocker and wait until a worker runs it. */
static void
occupy_worker(lfc_pool *p, struct blocker *b)
{
    assert_status(lfc_pool_submit(p, blocker_task, b), LFC_OK);
    assert_status(lfc_recv_until(b->started, NULL, lfc_now_ns() + LATE_NS),
                  LFC_OK);
}

static void
release_workers(struct blocker *b)
{
    lfc_close(b->gate);
}

static void
assert_stats(lfc_pool *p, uint64_t submitted, uint64_t completed,
             uint64_t queued, uint64_t running, uint64_t dropped)
{
    struct lfc_pool_stats s;
    assert_status(lfc_pool_stats(p, &s), LFC_OK);
    if (s.submitted != submitted || s.completed != completed ||
        s.queued != queued || s.running != running || s.dropped != dropped)
        fail_msg("stats: submitted %llu completed %llu queued %llu running "
                 "%llu dropped %llu; want %llu %llu %llu %llu %llu",
                 (unsigned long long)s.submitted,
                 (unsigned long long)s.completed, (unsigned long long)s.queued,
                 (unsigned long long)s.running, (unsigned long long)s.dropped,
                 (unsigned long long)submitted, (unsigned long long)completed,
                 (unsigned long long)queued, (unsigned long long)running,
                 (unsigned long long)dropped);
}

/* ---- basics ------------------------------------------------------------ */

static void
set_int_task(void *arg)
{
    *(int *)arg = 42; /* plain: lfc_pool_wait orders it before our read */
}

static void
test_pool_smoke(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(2, 16);
    assert_non_null(p);
    int x = 0;
    assert_status(lfc_pool_submit(p, set_int_task, &x), LFC_OK);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(x, 42);
    assert_stats(p, 1, 1, 0, 0, 0);
    lfc_pool_free(p);
}

static void
test_pool_wait_idle_returns_at_once(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(1, 4);
    assert_non_null(p);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_stats(p, 0, 0, 0, 0, 0);
    lfc_pool_free(p);
}

static void
test_pool_bad_args(void **state)
{
    (void)state;
    long n = 0;

    errno = 0;
    assert_null(lfc_pool_new(0, 4));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_pool_new(LFC_POOL_MAX_WORKERS + 1, 4));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_pool_new(1, LFC_CHAN_MAX_CAP + 1));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(lfc_pool_new_opts(NULL));
    assert_int_equal(errno, EINVAL);

    int cpu0 = 0;
    int neg = -1;
    int huge = 1 << 20;
    struct lfc_pool_opts o = {.workers = 1, .queue_capacity = 1};
    o.cpus = &cpu0; /* cpus without ncpus */
    errno = 0;
    assert_null(lfc_pool_new_opts(&o));
    assert_int_equal(errno, EINVAL);
    o.cpus = NULL; /* ncpus without cpus */
    o.ncpus = 1;
    errno = 0;
    assert_null(lfc_pool_new_opts(&o));
    assert_int_equal(errno, EINVAL);
    o.cpus = &neg;
    errno = 0;
    assert_null(lfc_pool_new_opts(&o));
    assert_int_equal(errno, EINVAL);
    o.cpus = &huge;
    errno = 0;
    assert_null(lfc_pool_new_opts(&o));
    assert_int_equal(errno, EINVAL);

    /* Status-returning calls: LFC_EINVAL, and errno untouched. */
    lfc_pool *p = lfc_pool_new(1, 4);
    assert_non_null(p);
    lfc_ctx *ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    struct lfc_pool_stats s;
    errno = 1234;
    assert_status(lfc_pool_submit(NULL, count_task, &n), LFC_EINVAL);
    assert_status(lfc_pool_submit(p, NULL, &n), LFC_EINVAL);
    assert_status(lfc_pool_try_submit(NULL, count_task, &n), LFC_EINVAL);
    assert_status(lfc_pool_try_submit(p, NULL, &n), LFC_EINVAL);
    assert_status(lfc_pool_submit_until(NULL, count_task, &n, LFC_FOREVER),
                  LFC_EINVAL);
    assert_status(lfc_pool_submit_until(p, NULL, &n, LFC_FOREVER), LFC_EINVAL);
    assert_status(lfc_pool_submit_ctx(NULL, count_task, &n, ctx), LFC_EINVAL);
    assert_status(lfc_pool_submit_ctx(p, NULL, &n, ctx), LFC_EINVAL);
    assert_status(lfc_pool_submit_ctx(p, count_task, &n, NULL), LFC_EINVAL);
    assert_status(lfc_pool_wait(NULL), LFC_EINVAL);
    assert_status(lfc_pool_stats(NULL, &s), LFC_EINVAL);
    assert_status(lfc_pool_stats(p, NULL), LFC_EINVAL);
    assert_true(lfc_pool_shutdown_now(NULL, NULL, NULL) == LFC_EINVAL);
    assert_true(lfc_pool_shutdown_now(p, NULL, NULL) == LFC_EINVAL);
    assert_int_equal(errno, 1234);
    lfc_pool_free(NULL); /* a no-op */

    /* None of the refused submits queued anything. */
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(atomic_get(&n), 0);
    assert_stats(p, 0, 0, 0, 0, 0);
    lfc_ctx_free(ctx);
    lfc_pool_free(p);
}

/* ---- every task runs exactly once -------------------------------------- */

struct once_run;

struct once_item {
    struct once_run *run;
    uint64_t in;  /* written by the submitter before submitting (plain) */
    uint64_t out; /* written by the task (plain); read after wait */
};

struct once_run {
    lfc_pool *pool;
    struct once_item *items;
    uint32_t *count; /* per task: how many times it ran (atomic) */
    long n;
    int submitters;
    lfc_test_barrier start;
    unsigned long progress;
};

struct once_submitter {
    struct once_run *run;
    int id;
    int status; /* first failure, or LFC_OK */
};

static void
once_task(void *arg)
{
    struct once_item *it = arg;
    struct once_run *r = it->run;
    __atomic_fetch_add(&r->count[it - r->items], 1, __ATOMIC_RELAXED);
    it->out = it->in * 3 + 1; /* sees `in`: submit happens-before */
    lfc_progress_bump(&r->progress);
}

static void *
once_submitter_main(void *arg)
{
    struct once_submitter *s = arg;
    struct once_run *r = s->run;
    s->status = LFC_OK;
    lfc_test_barrier_wait(&r->start);
    for (long i = s->id; i < r->n; i += r->submitters) {
        r->items[i].in = (uint64_t)i * 7;
        int rc = lfc_pool_submit(r->pool, once_task, &r->items[i]);
        if (rc != LFC_OK) {
            s->status = rc;
            break;
        }
    }
    return NULL;
}

/* n tasks from two submitting threads over `workers` workers; each task
 * must run exactly once and see what its submitter wrote. */
static void
run_exactly_once(unsigned workers, size_t cap, long n, const char *what)
{
    enum { SUBMITTERS = 2 };
    struct once_run r = {.n = n, .submitters = SUBMITTERS};
    r.items = calloc((size_t)n, sizeof(*r.items));
    r.count = calloc((size_t)n, sizeof(*r.count));
    assert_non_null(r.items);
    assert_non_null(r.count);
    for (long i = 0; i < n; i++)
        r.items[i].run = &r;
    r.pool = lfc_pool_new(workers, cap);
    assert_non_null(r.pool);

    struct lfc_watchdog wd;
    lfc_watchdog_start(&wd, what, &r.progress, 0);
    lfc_test_barrier_init(&r.start, SUBMITTERS);
    struct once_submitter s[SUBMITTERS];
    pthread_t th[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        s[i] = (struct once_submitter){.run = &r, .id = i};
        if (pthread_create(&th[i], NULL, once_submitter_main, &s[i]) != 0)
            abort(); /* not an assertion: the watchdog is running */
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    int wait_rc = lfc_pool_wait(r.pool);
    lfc_watchdog_stop(&wd);
    lfc_test_barrier_destroy(&r.start);

    for (int i = 0; i < SUBMITTERS; i++)
        assert_status(s[i].status, LFC_OK);
    assert_status(wait_rc, LFC_OK);
    long bad = -1;
    for (long i = 0; i < n && bad < 0; i++) {
        /* Plain reads of out: ordered by lfc_pool_wait (TSan checks). */
        if (__atomic_load_n(&r.count[i], __ATOMIC_RELAXED) != 1 ||
            r.items[i].out != (uint64_t)i * 21 + 1)
            bad = i;
    }
    if (bad >= 0)
        fail_msg("%s: task %ld ran %u times (out %llu)", what, bad,
                 r.count[bad], (unsigned long long)r.items[bad].out);
    assert_stats(r.pool, (uint64_t)n, (uint64_t)n, 0, 0, 0);
    lfc_pool_free(r.pool);
    for (long i = 0; i < n; i++)
        assert_int_equal(r.count[i], 1);
    free(r.items);
    free(r.count);
}

static void
test_pool_every_task_once_1_worker(void **state)
{
    (void)state;
    run_exactly_once(1, 64, lfc_test_scaled(100000, 1000), "once, 1 worker");
}

static void
test_pool_every_task_once_2_workers(void **state)
{
    (void)state;
    run_exactly_once(2, 64, lfc_test_scaled(100000, 1000), "once, 2 workers");
}

static void
test_pool_every_task_once_8_workers(void **state)
{
    (void)state;
    run_exactly_once(8, 64, lfc_test_scaled(100000, 1000), "once, 8 workers");
}

static void
test_pool_every_task_once_unbuffered(void **state)
{
    (void)state;
    run_exactly_once(2, 0, lfc_test_scaled(20000, 500), "once, unbuffered");
}

/* ---- lfc_pool_wait ------------------------------------------------------ */

struct sleepy {
    long *finished; /* atomic */
    int *flag;      /* plain, set last */
    int64_t ns;
};

static void
sleepy_task(void *arg)
{
    struct sleepy *s = arg;
    lfc_test_sleep_ns(s->ns);
    *s->flag = 1;
    atomic_inc(s->finished);
}

static void
test_pool_wait_returns_after_all_finished(void **state)
{
    (void)state;
    enum { N = 32 };
    lfc_pool *p = lfc_pool_new(4, 8); /* 8 < 32: submits block too */
    assert_non_null(p);
    long finished = 0;
    int flags[N] = {0};
    struct sleepy t[N];
    for (int i = 0; i < N; i++) {
        t[i] = (struct sleepy){&finished, &flags[i], (1 + i % 3) * MS};
        assert_status(lfc_pool_submit(p, sleepy_task, &t[i]), LFC_OK);
    }
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(atomic_get(&finished), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(flags[i], 1); /* plain: ordered by wait */
    assert_stats(p, N, N, 0, 0, 0);
    lfc_pool_free(p);
}

/* Submitters pinned to different CPUs count their tasks in different
 * stripes, some submits fail (try_submit on a full queue: counted as
 * finished on the failing thread's stripe), and each submitter waits after
 * every round while the others keep submitting: each wait must see every
 * task its own thread submitted before it as finished. */
struct striper {
    lfc_pool *pool;
    int cpu;
    long rounds;
    long accepted;
    long failed;
    long ran;      /* atomic: bumped by this submitter's tasks */
    long bad_wait; /* rounds whose wait returned early */
    int wait_rc;
};

static void
striper_task(void *arg)
{
    static __thread uint64_t seed = 0x9e3779b97f4a7c15u;
    if ((lfc_test_xorshift64(&seed) & 3) == 0)
        lfc_test_sleep_ns(20 * US); /* finish out of order */
    atomic_inc(arg);
}

static void *
striper_main(void *arg)
{
    struct striper *s = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)s->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* a hint */
    s->wait_rc = LFC_OK;
    for (long r = 0; r < s->rounds; r++) {
        for (int i = 0; i < 16; i++) {
            int rc = (i & 1) ? lfc_pool_try_submit(s->pool, striper_task,
                                                   &s->ran)
                             : lfc_pool_submit(s->pool, striper_task, &s->ran);
            if (rc == LFC_OK)
                s->accepted++;
            else
                s->failed++;
        }
        int rc = lfc_pool_wait(s->pool);
        if (rc != LFC_OK)
            s->wait_rc = rc;
        if (atomic_get(&s->ran) != s->accepted)
            s->bad_wait++;
    }
    return NULL;
}

static void
test_pool_wait_sums_stripes_of_every_cpu(void **state)
{
    (void)state;
    enum { S = 3 };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    lfc_pool *p = lfc_pool_new(2, 4);
    assert_non_null(p);
    struct striper s[S];
    pthread_t th[S];
    for (int i = 0; i < S; i++) {
        s[i] = (struct striper){.pool = p,
                                .cpu = (int)(i % (ncpu > 0 ? ncpu : 1)),
                                .rounds = lfc_test_scaled(200, 20)};
        assert_int_equal(pthread_create(&th[i], NULL, striper_main, &s[i]), 0);
    }
    long accepted = 0;
    for (int i = 0; i < S; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_status(s[i].wait_rc, LFC_OK);
        assert_int_equal(s[i].bad_wait, 0);
        assert_int_equal(atomic_get(&s[i].ran), s[i].accepted);
        accepted += s[i].accepted;
    }
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_stats(p, (uint64_t)accepted, (uint64_t)accepted, 0, 0, 0);
    lfc_pool_free(p);
}

/* A steady stream of submits from another thread keeps the queue full; a
 * wait must still return once the tasks submitted before it are done. */
struct streamer {
    lfc_pool *pool;
    long *ran;
    int stop; /* atomic */
    long submitted;
    int status;
};

static void
short_sleep_task(void *arg)
{
    lfc_test_sleep_ns(100 * US);
    atomic_inc(arg);
}

static void *
streamer_main(void *arg)
{
    struct streamer *s = arg;
    s->status = LFC_OK;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        int rc = lfc_pool_submit(s->pool, short_sleep_task, s->ran);
        if (rc != LFC_OK) {
            s->status = rc;
            break;
        }
        s->submitted++;
    }
    return NULL;
}

/* lfc_pool_wait on a helper thread (lfc_test_async.h). */
static int
pool_wait_call(void *arg)
{
    return lfc_pool_wait(arg);
}

static void
test_pool_wait_returns_under_steady_submits(void **state)
{
    (void)state;
    enum { MARKED = 8 };
    lfc_pool *p = lfc_pool_new(2, 16);
    assert_non_null(p);
    long ran = 0;
    long marked_done = 0;
    int flags[MARKED] = {0};
    struct sleepy t[MARKED];
    struct streamer st = {.pool = p, .ran = &ran};
    pthread_t sth;
    assert_int_equal(pthread_create(&sth, NULL, streamer_main, &st), 0);
    /* Let the stream get going: more submitted than the queue holds. */
    int64_t end = lfc_now_ns() + LATE_NS;
    for (;;) {
        struct lfc_pool_stats ps;
        assert_status(lfc_pool_stats(p, &ps), LFC_OK);
        if (ps.submitted >= 32)
            break;
        if (lfc_now_ns() > end) {
            __atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
            pthread_join(sth, NULL);
            fail_msg("the stream submitted %llu tasks in %lld ms",
                     (unsigned long long)ps.submitted,
                     (long long)(LATE_NS / MS));
        }
        lfc_test_sleep_ns(200 * US);
    }
    for (int i = 0; i < MARKED; i++) {
        t[i] = (struct sleepy){&marked_done, &flags[i], MS};
        assert_status(lfc_pool_submit(p, sleepy_task, &t[i]), LFC_OK);
    }
    struct lfc_test_async w;
    lfc_test_async_start(&w, pool_wait_call, p);
    /* Bounded: a wait that needs the stream to stop would not return. */
    bool returned = lfc_test_async_wait_done(&w, LATE_NS);
    __atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
    pthread_join(sth, NULL);
    /* Returns now in any case. */
    int wait_rc = lfc_test_async_join(&w, "lfc_pool_wait under the stream");
    if (!returned)
        fail_msg("lfc_pool_wait returned only once the stream stopped");
    assert_status(wait_rc, LFC_OK);
    assert_status(st.status, LFC_OK);
    assert_int_equal(atomic_get(&marked_done), MARKED);
    for (int i = 0; i < MARKED; i++)
        assert_int_equal(flags[i], 1); /* plain: ordered by the wait */
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(atomic_get(&ran), st.submitted);
    print_message("[ stream   ] %ld tasks streamed around the wait\n",
                  st.submitted);
    lfc_pool_free(p);
}

/* Inside a task: waiting for, or shutting down, the task's own pool is
 * refused; waiting for another pool is fine. */
struct inside {
    lfc_pool *self;
    lfc_pool *other;
    long other_ran;
    int wait_self;
    int wait_other;
    int64_t shutdown_self;
};

static void
drop_nothing(lfc_pool_task_fn fn, void *arg, void *user)
{
    (void)fn;
    (void)arg;
    (void)user;
}

static void
inside_task(void *arg)
{
    struct inside *in = arg;
    in->wait_self = lfc_pool_wait(in->self);
    in->shutdown_self = lfc_pool_shutdown_now(in->self, drop_nothing, NULL);
    lfc_pool_submit(in->other, count_task, &in->other_ran);
    in->wait_other = lfc_pool_wait(in->other);
}

static void
test_pool_wait_from_own_task_einval(void **state)
{
    (void)state;
    struct inside in = {0};
    in.self = lfc_pool_new(1, 4);
    in.other = lfc_pool_new(1, 4);
    assert_non_null(in.self);
    assert_non_null(in.other);
    assert_status(lfc_pool_submit(in.self, inside_task, &in), LFC_OK);
    assert_status(lfc_pool_wait(in.self), LFC_OK);
    assert_status(in.wait_self, LFC_EINVAL);
    assert_true(in.shutdown_self == LFC_EINVAL);
    assert_status(in.wait_other, LFC_OK);
    assert_int_equal(atomic_get(&in.other_ran), 1);
    lfc_pool_free(in.other);
    lfc_pool_free(in.self);
}

/* ---- backpressure, deadlines, cancellation ------------------------------ */

/* With no room for a task: try_submit gives LFC_AGAIN, and a submit with
 * a deadline `ns` away gives LFC_TIMEDOUT, not before the deadline. */
static void
assert_submit_refused(lfc_pool *p, int64_t ns)
{
    assert_status(lfc_pool_try_submit(p, never_task, NULL), LFC_AGAIN);
    int64_t deadline = lfc_now_ns() + ns;
    assert_status(lfc_pool_submit_until(p, never_task, NULL, deadline),
                  LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= deadline);
}

/* A submit on a helper thread (lfc_test_async.h). */
struct blocked_submit {
    lfc_pool *pool;
    long *ran;
};

static int
blocked_submit_call(void *arg)
{
    struct blocked_submit *b = arg;
    return lfc_pool_submit(b->pool, count_task, b->ran);
}

static void
test_pool_backpressure_full_queue(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(1, 2);
    assert_non_null(p);
    struct blocker b;
    blocker_init(&b);
    long ran = 0;
    occupy_worker(p, &b);
    assert_status(lfc_pool_submit(p, count_task, &ran), LFC_OK);
    assert_status(lfc_pool_submit(p, count_task, &ran), LFC_OK);

    /* Full: try gives LFC_AGAIN, a deadline gives LFC_TIMEDOUT, not early. */
    assert_submit_refused(p, 2 * LFC_TEST_SHORT_NS);
    assert_status(lfc_pool_submit_until(p, never_task, NULL, 0), LFC_TIMEDOUT);
    assert_stats(p, 3, 0, 2, 1, 0);

    /* A blocking submit sleeps, and stays blocked while the queue is
     * full. */
    struct blocked_submit bs = {.pool = p, .ran = &ran};
    struct lfc_test_async a;
    lfc_test_async_start(&a, blocked_submit_call, &bs);
    lfc_test_async_wait_parked(&a, "submit to a full queue");
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);
    lfc_test_async_assert_blocked(&a, "submit to a full queue");
    release_workers(&b);
    assert_status(lfc_test_async_join(&a, "submit to a full queue"), LFC_OK);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(atomic_get(&ran), 3);
    assert_int_equal(atomic_get(&b.ran), 1);
    assert_stats(p, 4, 4, 0, 0, 0);
    lfc_pool_free(p);
    blocker_destroy(&b);
}

static void
test_pool_unbuffered_try_submit(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(1, 0);
    assert_non_null(p);
    long ran = 0;
    /* Succeeds once the idle worker has parked in its receive. */
    int rc = LFC_AGAIN;
    int64_t end = lfc_now_ns() + LATE_NS;
    while (rc == LFC_AGAIN && lfc_now_ns() < end) {
        rc = lfc_pool_try_submit(p, count_task, &ran);
        if (rc == LFC_AGAIN)
            lfc_test_sleep_ns(MS);
    }
    assert_status(rc, LFC_OK);
    /* With its only worker busy, nobody can take a task. */
    struct blocker b;
    blocker_init(&b);
    occupy_worker(p, &b);
    assert_submit_refused(p, LFC_TEST_SHORT_NS);
    release_workers(&b);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(atomic_get(&ran), 1);
    assert_stats(p, 2, 2, 0, 0, 0);
    lfc_pool_free(p);
    blocker_destroy(&b);
}

/* A ctx submit on a helper thread (lfc_test_async.h). */
struct ctx_submit {
    lfc_pool *pool;
    lfc_ctx *ctx;
};

static int
ctx_submit_call(void *arg)
{
    struct ctx_submit *c = arg;
    return lfc_pool_submit_ctx(c->pool, never_task, NULL, c->ctx);
}

static void
test_pool_submit_ctx_cancelled(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(1, 1);
    assert_non_null(p);
    struct blocker b;
    blocker_init(&b);
    long ran = 0;

    /* Room, live ctx: queued. Already cancelled: refused even with room. */
    lfc_ctx *live = lfc_ctx_with_cancel(lfc_ctx_background());
    lfc_ctx *gone = lfc_ctx_with_cancel(lfc_ctx_background());
    lfc_ctx_cancel(gone);
    occupy_worker(p, &b);
    assert_status(lfc_pool_submit_ctx(p, never_task, NULL, gone), LFC_CANCELED);
    assert_status(lfc_pool_submit_ctx(p, count_task, &ran, live), LFC_OK);

    /* Full from here on. A deadline ends it with LFC_TIMEDOUT, not early. */
    lfc_ctx *soon =
        lfc_ctx_with_timeout(lfc_ctx_background(), LFC_TEST_SHORT_NS);
    assert_status(lfc_pool_submit_ctx(p, never_task, NULL, soon), LFC_TIMEDOUT);
    assert_true(lfc_now_ns() >= lfc_ctx_deadline(soon));

    /* A blocked submit ends with LFC_CANCELED when its ctx is cancelled:
     * cancelled once it sleeps in the submit. */
    lfc_ctx *c = lfc_ctx_with_cancel(lfc_ctx_background());
    struct ctx_submit cs = {.pool = p, .ctx = c};
    struct lfc_test_async a;
    lfc_test_async_start(&a, ctx_submit_call, &cs);
    lfc_test_async_wait_parked(&a, "ctx submit to a full queue");
    lfc_test_async_assert_blocked(&a, "ctx submit to a full queue");
    lfc_ctx_cancel(c);
    assert_status(lfc_test_async_join(&a, "cancelled ctx submit"),
                  LFC_CANCELED);

    release_workers(&b);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_int_equal(atomic_get(&ran), 1);
    assert_stats(p, 2, 2, 0, 0, 0);
    lfc_ctx_free(c);
    lfc_ctx_free(soon);
    lfc_ctx_free(gone);
    lfc_ctx_free(live);
    lfc_pool_free(p);
    blocker_destroy(&b);
}

/* ---- counters ----------------------------------------------------------- */

static void
test_pool_stats_counts(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(2, 8);
    assert_non_null(p);
    struct blocker b;
    blocker_init(&b);
    long ran = 0;
    occupy_worker(p, &b);
    assert_stats(p, 1, 0, 0, 1, 0);
    occupy_worker(p, &b);
    for (int i = 0; i < 5; i++)
        assert_status(lfc_pool_submit(p, count_task, &ran), LFC_OK);
    assert_stats(p, 7, 0, 5, 2, 0);
    release_workers(&b);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_stats(p, 7, 7, 0, 0, 0);
    assert_int_equal(atomic_get(&ran), 5);
    lfc_pool_free(p);
    blocker_destroy(&b);
}

/* ---- shutdown now ------------------------------------------------------- */

struct handback {
    long *ran_base; /* tasks are count_task on &ran_base[i] */
    long n;
    long *handed; /* per task: times handed back (only this thread) */
    long calls;
    bool wrong_fn;
    bool wrong_thread;
    pthread_t caller;
    struct blocker *release; /* released on the first call, if set */
    lfc_pool *pool;
    int wait_rc;
    int submit_rc;
};

static void
handback_cb(lfc_pool_task_fn fn, void *arg, void *user)
{
    struct handback *h = user;
    if (fn != count_task)
        h->wrong_fn = true;
    if (!pthread_equal(pthread_self(), h->caller))
        h->wrong_thread = true;
    long i = (long *)arg - h->ran_base;
    if (i >= 0 && i < h->n)
        h->handed[i]++;
    if (h->calls++ == 0 && h->release) {
        h->wait_rc = lfc_pool_wait(h->pool);
        h->submit_rc = lfc_pool_submit(h->pool, never_task, NULL);
        release_workers(h->release);
    }
}

static void
test_pool_shutdown_now_hands_back_queued(void **state)
{
    (void)state;
    enum { QUEUED = 10 };
    lfc_pool *p = lfc_pool_new(1, 16);
    assert_non_null(p);
    struct blocker b;
    blocker_init(&b);
    long ran[QUEUED] = {0};
    long handed[QUEUED] = {0};
    occupy_worker(p, &b);
    for (int i = 0; i < QUEUED; i++)
        assert_status(lfc_pool_submit(p, count_task, &ran[i]), LFC_OK);

    /* The first callback releases the running blocker, so the join ends. */
    struct handback h = {.ran_base = ran,
                         .n = QUEUED,
                         .handed = handed,
                         .caller = pthread_self(),
                         .release = &b,
                         .pool = p};
    int64_t got = lfc_pool_shutdown_now(p, handback_cb, &h);
    assert_true(got == QUEUED);
    assert_int_equal(h.calls, QUEUED);
    assert_false(h.wrong_fn);
    assert_false(h.wrong_thread);
    assert_status(h.wait_rc, LFC_EINVAL);
    assert_status(h.submit_rc, LFC_CLOSED);
    for (int i = 0; i < QUEUED; i++) {
        assert_int_equal(ran[i], 0);
        assert_int_equal(handed[i], 1);
    }
    assert_int_equal(atomic_get(&b.ran), 1);
    assert_stats(p, QUEUED + 1, 1, 0, 0, QUEUED);

    /* Shut: every submit is refused; wait has nothing to wait for. */
    lfc_ctx *live = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_status(lfc_pool_submit(p, never_task, NULL), LFC_CLOSED);
    assert_status(lfc_pool_try_submit(p, never_task, NULL), LFC_CLOSED);
    assert_status(lfc_pool_submit_until(p, never_task, NULL, LFC_FOREVER),
                  LFC_CLOSED);
    assert_status(lfc_pool_submit_ctx(p, never_task, NULL, live), LFC_CLOSED);
    assert_status(lfc_pool_wait(p), LFC_OK);
    assert_true(lfc_pool_shutdown_now(p, handback_cb, &h) == LFC_CLOSED);
    assert_int_equal(h.calls, QUEUED);
    assert_stats(p, QUEUED + 1, 1, 0, 0, QUEUED);
    lfc_ctx_free(live);
    lfc_pool_free(p);
    blocker_destroy(&b);
    assert_true(lfc_test_wait_no_threads_named("lfc-pool", LATE_NS));
}

/* Submitters race shutdown_now: every accepted task ran or was handed
 * back, exactly once; every refused one did neither. */
enum { RACE_MAX = 1 << 17 };

struct race_sub {
    lfc_pool *pool;
    long *ran;      /* RACE_MAX counters of this submitter */
    bool *accepted; /* this submitter only */
    long tried;     /* tasks offered */
    int last_rc;    /* the status that stopped it */
    lfc_test_barrier *start;
};

static void *
race_sub_main(void *arg)
{
    struct race_sub *s = arg;
    s->last_rc = LFC_OK;
    lfc_test_barrier_wait(s->start);
    /* Until the pool refuses; the refused task counts as tried. */
    while (s->tried < RACE_MAX) {
        long k = s->tried++;
        int rc = lfc_pool_submit(s->pool, count_task, &s->ran[k]);
        if (rc != LFC_OK) {
            s->last_rc = rc;
            break;
        }
        s->accepted[k] = true;
    }
    return NULL;
}

static void
test_pool_shutdown_now_races_submitters(void **state)
{
    (void)state;
    enum { SUBS = 2 };
    static const size_t caps[] = {0, 1, 64};
    long rounds = lfc_test_scaled(24, 6);
    long *ran = calloc((size_t)SUBS * RACE_MAX, sizeof(*ran));
    long *handed = calloc((size_t)SUBS * RACE_MAX, sizeof(*handed));
    bool *accepted = calloc((size_t)SUBS * RACE_MAX, sizeof(*accepted));
    assert_non_null(ran);
    assert_non_null(handed);
    assert_non_null(accepted);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    long total_handed = 0;
    long total_ran = 0;

    for (long round = 0; round < rounds; round++) {
        size_t cap = caps[round % 3];
        memset(ran, 0, (size_t)SUBS * RACE_MAX * sizeof(*ran));
        memset(handed, 0, (size_t)SUBS * RACE_MAX * sizeof(*handed));
        memset(accepted, 0, (size_t)SUBS * RACE_MAX * sizeof(*accepted));
        lfc_pool *p = lfc_pool_new(2, cap);
        assert_non_null(p);
        lfc_test_barrier start;
        lfc_test_barrier_init(&start, SUBS + 1);
        struct race_sub s[SUBS];
        pthread_t th[SUBS];
        for (int i = 0; i < SUBS; i++) {
            s[i] =
                (struct race_sub){.pool = p,
                                  .ran = ran + (size_t)i * RACE_MAX,
                                  .accepted = accepted + (size_t)i * RACE_MAX,
                                  .start = &start};
            assert_int_equal(pthread_create(&th[i], NULL, race_sub_main, &s[i]),
                             0);
        }
        lfc_test_barrier_wait(&start);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        lfc_test_sleep_ns((int64_t)(seed % (2 * MS)));
        struct handback h = {.ran_base = ran,
                             .n = (long)SUBS * RACE_MAX,
                             .handed = handed,
                             .caller = pthread_self()};
        int64_t got = lfc_pool_shutdown_now(p, handback_cb, &h);
        for (int i = 0; i < SUBS; i++)
            pthread_join(th[i], NULL);
        lfc_test_barrier_destroy(&start);

        assert_true(got >= 0);
        assert_int_equal(got, h.calls);
        assert_false(h.wrong_fn);
        assert_false(h.wrong_thread);
        uint64_t accepted_n = 0;
        long ran_n = 0;
        for (int i = 0; i < SUBS; i++) {
            if (s[i].tried < RACE_MAX)
                assert_status(s[i].last_rc, LFC_CLOSED);
            for (long k = 0; k < s[i].tried; k++) {
                size_t x = (size_t)i * RACE_MAX + (size_t)k;
                long want = accepted[x] ? 1 : 0;
                if (ran[x] + handed[x] != want)
                    fail_msg("cap %zu, submitter %d, task %ld: accepted %ld, "
                             "ran %ld, handed back %ld",
                             cap, i, k, want, ran[x], handed[x]);
                accepted_n += accepted[x];
                ran_n += ran[x];
            }
        }
        assert_stats(p, accepted_n, (uint64_t)ran_n, 0, 0, (uint64_t)got);
        total_handed += (long)got;
        total_ran += ran_n;
        lfc_pool_free(p);
    }
    print_message("[ race     ] %ld rounds: %ld ran, %ld handed back\n", rounds,
                  total_ran, total_handed);
    free(ran);
    free(handed);
    free(accepted);
}

/* ---- graceful free ------------------------------------------------------ */

static void
test_pool_free_runs_queued_and_joins(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct lfc_pool_opts o = {
        .workers = 2, .queue_capacity = N, .name = "lfc-pfree"};
    lfc_pool *p = lfc_pool_new_opts(&o);
    assert_non_null(p);
    assert_int_equal(lfc_test_count_threads_named("lfc-pfree-"), 2);
    long ran = 0;
    for (int i = 0; i < N; i++)
        assert_status(lfc_pool_submit(p, count_task, &ran), LFC_OK);
    lfc_pool_free(p); /* runs all that is queued */
    assert_int_equal(atomic_get(&ran), N);
    assert_true(lfc_test_wait_no_threads_named("lfc-pfree", LATE_NS));
}

/* Tasks that resubmit themselves: free must end the chains (their submits
 * get LFC_CLOSED once the queue closes) and run every accepted one. */
struct chain {
    lfc_pool *pool;
    long ran;
    long accepted; /* resubmits that returned LFC_OK */
    long closed;   /* resubmits that returned LFC_CLOSED */
    long other;
};

static void
chain_task(void *arg)
{
    struct chain *c = arg;
    atomic_inc(&c->ran);
    int rc = lfc_pool_submit(c->pool, chain_task, c);
    if (rc == LFC_OK)
        atomic_inc(&c->accepted);
    else if (rc == LFC_CLOSED)
        atomic_inc(&c->closed);
    else
        atomic_inc(&c->other);
}

static void
test_pool_free_while_tasks_resubmit(void **state)
{
    (void)state;
    enum { CHAINS = 2 };
    struct chain c = {0};
    /* Capacity > CHAINS: a chain's resubmit always finds room. */
    c.pool = lfc_pool_new(2, 4);
    assert_non_null(c.pool);
    for (int i = 0; i < CHAINS; i++)
        assert_status(lfc_pool_submit(c.pool, chain_task, &c), LFC_OK);
    /* Free while the chains are surely running: once they have run a
     * while, not after a sleep that may end before they start. */
    int64_t end = lfc_now_ns() + LATE_NS;
    while (atomic_get(&c.ran) < 64 && lfc_now_ns() < end)
        lfc_test_sleep_ns(200 * US);
    assert_true(atomic_get(&c.ran) >= 64);
    lfc_pool_free(c.pool);
    assert_int_equal(c.other, 0);
    assert_int_equal(c.closed, CHAINS);
    assert_int_equal(c.ran, CHAINS + c.accepted);
    print_message("[ chains   ] %ld tasks ran before free ended them\n", c.ran);
}

/* ---- threads: names, pinning, clean-up ---------------------------------- */

static void
test_pool_worker_names(void **state)
{
    (void)state;
    lfc_pool *p = lfc_pool_new(3, 4);
    assert_non_null(p);
    assert_int_equal(lfc_test_count_threads_named("lfc-pool-"), 3);
    assert_int_equal(lfc_test_count_threads_exact("lfc-pool-0"), 1);
    assert_int_equal(lfc_test_count_threads_exact("lfc-pool-2"), 1);
    lfc_pool_free(p);
    assert_true(lfc_test_wait_no_threads_named("lfc-pool", LATE_NS));

    struct lfc_pool_opts o = {.workers = 3, .name = "tpool"};
    p = lfc_pool_new_opts(&o);
    assert_non_null(p);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "tpool-%d", i);
        assert_int_equal(lfc_test_count_threads_exact(name), 1);
    }
    lfc_pool_free(p);
    assert_true(lfc_test_wait_no_threads_named("tpool-", LATE_NS));

    /* A long prefix is cut so that the index still fits in 15 bytes. */
    o = (struct lfc_pool_opts){.workers = 2,
                               .name = "abcdefghijklmnopqrstuvwxyz"};
    p = lfc_pool_new_opts(&o);
    assert_non_null(p);
    assert_int_equal(lfc_test_count_threads_exact("abcdefghijklm-0"), 1);
    assert_int_equal(lfc_test_count_threads_exact("abcdefghijklm-1"), 1);
    lfc_pool_free(p);
    assert_true(lfc_test_wait_no_threads_named("abcdefghijklm", LATE_NS));
}

struct affinity {
    int cpus[2];
    int ncpus;
    long tasks;
    long bad; /* tasks whose mask was not one listed CPU */
};

static void
affinity_task(void *arg)
{
    struct affinity *a = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    bool ok =
        sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1;
    if (ok) {
        ok = false;
        for (int i = 0; i < a->ncpus; i++)
            ok |= CPU_ISSET(a->cpus[i], &set) != 0;
    }
    atomic_inc(&a->tasks);
    if (!ok)
        atomic_inc(&a->bad);
}

static void
test_pool_cpu_pinning(void **state)
{
    (void)state;
    cpu_set_t mine;
    CPU_ZERO(&mine);
    assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
    struct affinity a = {.ncpus = 0};
    for (int c = 0; c < CPU_SETSIZE && a.ncpus < 2; c++)
        if (CPU_ISSET(c, &mine))
            a.cpus[a.ncpus++] = c;
    assert_true(a.ncpus >= 1);
    /* A CPU number the machine does not have (CPUs outside our own
     * affinity mask are allowed: only missing ones are refused). */
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    int missing = conf > 0 && conf < CPU_SETSIZE ? (int)conf : -1;

    /* One CPU for all workers, then (if we have two) one each. */
    for (int round = 0; round < a.ncpus; round++) {
        struct lfc_pool_opts o = {.workers = 2,
                                  .queue_capacity = 8,
                                  .name = "lfc-ppin",
                                  .cpus = a.cpus,
                                  .ncpus = (size_t)round + 1};
        struct affinity r = a;
        r.ncpus = round + 1;
        r.tasks = r.bad = 0;
        lfc_pool *p = lfc_pool_new_opts(&o);
        assert_non_null(p);
        for (int i = 0; i < 16; i++)
            assert_status(lfc_pool_submit(p, affinity_task, &r), LFC_OK);
        assert_status(lfc_pool_wait(p), LFC_OK);
        assert_int_equal(r.tasks, 16);
        assert_int_equal(r.bad, 0);
        lfc_pool_free(p);
    }

    /* A CPU it cannot pin to, for the second worker: EINVAL, and the
     * first worker, already started, is not left behind. */
    if (missing >= 0) {
        int cpus[2] = {a.cpus[0], missing};
        struct lfc_pool_opts o = {.workers = 2,
                                  .queue_capacity = 8,
                                  .name = "lfc-pbad",
                                  .cpus = cpus,
                                  .ncpus = 2};
        errno = 0;
        assert_null(lfc_pool_new_opts(&o));
        assert_int_equal(errno, EINVAL);
        assert_true(lfc_test_wait_no_threads_named("lfc-pbad", LATE_NS));
    }
    assert_true(lfc_test_wait_no_threads_named("lfc-ppin", LATE_NS));
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    /* Before any thread parks: helpers note when they sleep. */
    lfc_test_async_install_park_hook();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_smoke),
        cmocka_unit_test(test_pool_wait_idle_returns_at_once),
        cmocka_unit_test(test_pool_bad_args),
        cmocka_unit_test(test_pool_every_task_once_1_worker),
        cmocka_unit_test(test_pool_every_task_once_2_workers),
        cmocka_unit_test(test_pool_every_task_once_8_workers),
        cmocka_unit_test(test_pool_every_task_once_unbuffered),
        cmocka_unit_test(test_pool_wait_returns_after_all_finished),
        cmocka_unit_test(test_pool_wait_returns_under_steady_submits),
        cmocka_unit_test(test_pool_wait_sums_stripes_of_every_cpu),
        cmocka_unit_test(test_pool_wait_from_own_task_einval),
        cmocka_unit_test(test_pool_backpressure_full_queue),
        cmocka_unit_test(test_pool_unbuffered_try_submit),
        cmocka_unit_test(test_pool_submit_ctx_cancelled),
        cmocka_unit_test(test_pool_stats_counts),
        cmocka_unit_test(test_pool_shutdown_now_hands_back_queued),
        cmocka_unit_test(test_pool_shutdown_now_races_submitters),
        cmocka_unit_test(test_pool_free_runs_queued_and_joins),
        cmocka_unit_test(test_pool_free_while_tasks_resubmit),
        cmocka_unit_test(test_pool_worker_names),
        cmocka_unit_test(test_pool_cpu_pinning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
