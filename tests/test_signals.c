/* SPDX-License-Identifier: MIT */
/*
 * Signal storms at blocked threads (issue 11, "Proof of correctness"):
 * a storm thread sends signals with pthread_kill, thousands a second when
 * the machine lets it, at a thread blocked in each kind of wait lfchan
 * has (recv, send on a full channel, the _until forms, select and
 * select_until, the _ctx calls, semaphore, wait group, pool wait and
 * submit, error group wait and go, timer receives), and checks:
 *   - no spurious status: a wait released the legitimate way (a value
 *     sent, a slot freed, a permit released, ...) returns exactly what
 *     that release gives, with the value sent; a storm alone never ends
 *     a wait;
 *   - no early timeout: a deadline form returns LFC_TIMEDOUT, and only at
 *     or after its deadline by CLOCK_MONOTONIC (no upper bound is
 *     asserted); a timer's value and its receive are never before its due
 *     time; and what timed out consumed and enqueued nothing;
 *   - no lost value: receivers and senders stormed while they move values
 *     through one channel see every value exactly once, in each
 *     producer's order;
 *   - no CPU burnt beyond the handlers: the blocked thread's CPU time
 *     over the storm (pthread_getcpuclockid) stays under a fixed allowance
 *     plus a per-signal one. The spin limit is raised for these tests
 *     (calibrated to two milliseconds of polls), so a waiter that went
 *     back to spinning after each interrupted futex wait would burn about
 *     that per signal, far over the allowance; the case
 *     cpu_check_catches_respin shows that the check catches such a waiter;
 *   - errno: status-returning calls never change errno (status.h), even
 *     when their futex waits return EINTR.
 *
 * Every case runs under two signal set-ups: SIGUSR1 with SA_RESTART (a
 * standard signal: pending ones merge) and a real-time signal without it
 * (queued; interrupted futex waits return EINTR to the library).
 *
 * How the tests stay deterministic on a loaded machine:
 *   - "Blocked" is a fact: the helper's state in /proc/self/task/TID/stat
 *     is 'S' (asleep in a system call; during the calls here only a futex
 *     wait sleeps). No park hook: the library's real futex calls, with
 *     their own EINTR handling, are the ones under test.
 *   - The storm lasts until the handler has run storm_goal() times on
 *     the blocked thread while it was inside the call (counted by the
 *     handler itself), not for a time: a slow machine only makes it
 *     longer. The storm thread paces itself on deliveries: after each
 *     signal it waits (briefly, bounded) until the handler has run and
 *     the thread sleeps again. So each signal finds the waiter asleep, the
 *     CPU check needs no assumption about scheduling (a waiter that spins
 *     after a signal spins its whole budget before the next one), and the
 *     counts report the rate the machine allowed.
 *   - Deadline forms run in rounds: a round's call times out by itself,
 *     and rounds with doubling timeouts follow until the handler has run
 *     storm_goal_timed() times inside the calls (one round on an idle
 *     machine). Every round checks its status and deadline.
 *   - CPU time is not wall time: load does not inflate it. The
 *     allowances are scaled by lfc_test_timeout_mult() for sanitizers,
 *     whose handlers and system-call paths are slower.
 *   - ThreadSanitizer defers a signal's handler to the thread's next
 *     intercepted call; a futex wait without a timeout that the kernel
 *     restarts (SA_RESTART) never returns to user code, so under TSan the
 *     handler of the SA_RESTART set-up cannot run while such a wait
 *     sleeps. There the storm counts signals sent instead (each one still
 *     interrupts the wait in the kernel).
 *
 * LFC_TEST_SIGNALS_REPORT=1 prints each case's counts (signals sent and
 * handled, CPU time) to stderr. Sizes scale with LFC_TEST_SCALE;
 * LFC_TEST_FILTER / LFC_TEST_SKIP select cases (cmocka patterns).
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "lfc_atomic.h"
#include "lfc_test_async.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#define US LFC_TEST_US
#define MS LFC_TEST_MS
#define SEC LFC_TEST_SEC

/* Polls each spin may make before parking, while these tests run:
 * calibrate_spin_limit() sets it so that one spin costs about two
 * milliseconds of CPU here, 20 times the per-signal allowance, so that a
 * waiter that spins again after each signal cannot hide under it. */
static int g_spin_limit = 1 << 16;

/* errno as the helper sets it before each call; the call must keep it. */
#define ERRNO_SENTINEL 0x5e5e

/* A value no call writes: buffers start with it. */
#define UNTOUCHED ((int64_t)-77)

#if defined(__SANITIZE_THREAD__)
#define STORM_TSAN 1
#else
#define STORM_TSAN 0
#endif

/* Handler runs, inside the call, before a released wait is released. */
static unsigned long
storm_goal(void)
{
    return (unsigned long)lfc_test_scaled(100, 20);
}

/* Handler runs, inside the calls, over the rounds of a deadline form. */
static unsigned long
storm_goal_timed(void)
{
    return (unsigned long)lfc_test_scaled(50, 10);
}

/* CPU the blocked thread may use over a storm, besides the handlers. */
static int64_t
cpu_allow_fixed_ns(void)
{
    return lfc_test_timeout_ns(10 * MS);
}

/* CPU each signal may cost the blocked thread: the kernel's delivery, the
 * handler, the return, and the waiter's recheck before it sleeps again
 * (5 to 30 us measured on a virtual machine, 50 on a loaded one). */
static int64_t
cpu_allow_per_signal_ns(void)
{
    return lfc_test_timeout_ns(100 * US);
}

/*
 * Polls (lfc_cpu_relax and a load, the least a library poll does) that
 * take SPIN_TARGET_NS of this thread's CPU, measured over a sample and
 * clamped to [2^12, 2^24]. A PAUSE costs from a few cycles (AMD) to over
 * a hundred (recent Intel), so a fixed count would not do.
 */
#define SPIN_TARGET_NS (2 * LFC_TEST_MS)

static uint32_t calib_word; /* never written: a poll's load (atomic) */

static void
calibrate_spin_limit(void)
{
    enum { SAMPLE = 1 << 16 };
    int64_t best = INT64_MAX;
    for (int round = 0; round < 5; round++) { /* the first warm up */
        int64_t t0 = lfc_test_thread_cpu_ns();
        for (int i = 0; i < SAMPLE; i++) {
            lfc_cpu_relax();
            if (__atomic_load_n(&calib_word, __ATOMIC_ACQUIRE) != 0)
                break;
        }
        int64_t dt = lfc_test_thread_cpu_ns() - t0;
        if (dt > 0 && dt < best)
            best = dt; /* the least disturbed sample */
    }
    double polls = best == INT64_MAX
                       ? (double)(1 << 24)
                       : (double)SAMPLE * (double)SPIN_TARGET_NS / (double)best;
    if (polls < (double)(1 << 12))
        polls = 1 << 12;
    if (polls > (double)(1 << 24))
        polls = 1 << 24;
    g_spin_limit = (int)polls;
}

static bool
report_on(void)
{
    const char *s = getenv("LFC_TEST_SIGNALS_REPORT");
    return s && *s && strcmp(s, "0") != 0;
}

/* ---- signal set-ups --------------------------------------------------- */

struct variant {
    const char *name;
    int sig;   /* set by main(): SIGRTMIN is not a constant */
    int flags; /* sa_flags besides the handler */
};

static struct variant variants[] = {
    {"restart", SIGUSR1, SA_RESTART},
    {"eintr", 0, 0}, /* a real-time signal, no SA_RESTART */
};
enum { NVARIANTS = sizeof(variants) / sizeof(variants[0]) };

/* Whether the handler's count can lag while a wait sleeps (see the file
 * comment on TSan); the storm then counts signals sent. */
static bool
handler_deferred(const struct variant *v)
{
    return STORM_TSAN && (v->flags & SA_RESTART);
}

/* ---- one blocking call, run on a helper thread ------------------------ */

struct op;
typedef int (*op_call_fn)(struct op *op);

struct op {
    struct lfc_test_async a;
    op_call_fn call;
    /* what the call works on; which fields depends on the kind */
    lfc_chan *ch[2];
    lfc_chan *gate; /* pool and group tasks wait on it */
    lfc_ctx *ctx;
    lfc_sem *sem;
    lfc_wg *wg;
    lfc_pool *pool;
    lfc_group *group;
    lfc_timer *timer;
    lfc_case cases[2];
    int64_t deadline; /* the call's deadline or the timer's earliest due */
    int64_t val;      /* the value sent, or where one is received */
    int64_t t_ret;    /* lfc_now_ns() right after the library returned */
    int task_runs;    /* pool and group tasks that finished (atomic) */
    int task_started; /* the first task is running (atomic) */
    /* filled by the helper */
    pid_t tid; /* atomic: the storm thread reads it */
    int errno_after;
    int64_t cpu_end;           /* its CPU time right after the call */
    unsigned long sent_at_end; /* sent, then */
    /* counts: the handler runs on the helper; sent by the storm thread */
    int in_call;                     /* inside the call (atomic) */
    unsigned long delivered;         /* handler runs (atomic) */
    unsigned long delivered_in_call; /* ... while in_call (atomic) */
    unsigned long sent;              /* pthread_kill calls that succeeded */
};

/* The op of the calling thread, for the handler. */
static __thread struct op *tls_op;
static unsigned long g_delivered; /* every handler run (atomic) */

static void
storm_handler(int sig)
{
    int saved = errno;
    struct op *op = tls_op;
    (void)sig;
    __atomic_fetch_add(&g_delivered, 1, __ATOMIC_RELAXED);
    if (op) {
        __atomic_fetch_add(&op->delivered, 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&op->in_call, __ATOMIC_SEQ_CST))
            __atomic_fetch_add(&op->delivered_in_call, 1, __ATOMIC_RELAXED);
    }
    errno = saved;
}

static unsigned long
load_ul(const unsigned long *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int64_t
self_cpu_ns(void)
{
    return lfc_test_thread_cpu_ns();
}

static int
op_main(void *arg)
{
    struct op *op = arg;
    tls_op = op;
    __atomic_store_n(&op->tid, gettid(), __ATOMIC_RELEASE);
    errno = ERRNO_SENTINEL;
    __atomic_store_n(&op->in_call, 1, __ATOMIC_SEQ_CST);
    int r = op->call(op);
    int e = errno;
    __atomic_store_n(&op->in_call, 0, __ATOMIC_SEQ_CST);
    op->cpu_end = self_cpu_ns();
    op->sent_at_end = load_ul(&op->sent);
    op->errno_after = e;
    return r;
}

/* Starts op->call on a helper; returns once it is about to call. Its tid
 * may still be 0 then (op_main writes it): readers poll it. */
static void
op_start(struct op *op, op_call_fn call)
{
    op->call = call;
    lfc_test_async_start(&op->a, op_main, op);
}

/*
 * Waits until the helper sleeps in a system call inside its call, or the
 * call returns (bounded by LFC_TEST_STUCK_NS). Returns whether it sleeps.
 */
static bool
await_asleep(struct op *op, const char *what)
{
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    /* Woken by nothing: each poll reads the state again. */
    while (!lfc_test_async_done(&op->a)) {
        pid_t tid = __atomic_load_n(&op->tid, __ATOMIC_ACQUIRE);
        char s = lfc_test_thread_state(tid);
        if (s == 'S' || s == 'D')
            return !lfc_test_async_done(&op->a);
        if (lfc_now_ns() > end)
            fail_msg("%s neither returned nor slept in %lld ms", what,
                     (long long)(LFC_TEST_STUCK_NS / MS));
        lfc_test_sleep_ns(200 * US);
    }
    return false;
}

/* The helper's CPU time now, or -1 once its thread has exited. */
static int64_t
op_cpu_try_ns(struct op *op)
{
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(op->a.thread, &cid) != 0 ||
        clock_gettime(cid, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* The helper's CPU time now; it must still be running its call. */
static int64_t
op_cpu_ns(struct op *op)
{
    int64_t ns = op_cpu_try_ns(op);
    if (ns < 0)
        fail_msg("cannot read the helper's CPU clock");
    return ns;
}

/* ---- the storm ---------------------------------------------------------- */

struct storm {
    pthread_t thread;
    struct op **ops;
    int n;
    int sig;
    int stop;     /* atomic */
    int kill_err; /* a pthread_kill error other than EAGAIN (atomic) */
};

/*
 * Waits until op's handler has run since `before` and its thread sleeps
 * again, or a couple of hundred short polls: the next signal then finds
 * the waiter asleep, and the CPU it used in between is all that one
 * signal cost it, however the threads are scheduled (a waiter that spins
 * after each signal spins its whole budget before the next). Bounded,
 * since a merged or deferred signal is never handled, and a helper may
 * be running or gone.
 */
static void
storm_pace(struct storm *s, struct op *op, unsigned long before)
{
    struct timespec ts = {0, 2 * 1000};
    /* Woken by nothing: each poll reads the count and the state again. */
    for (int i = 0; i < 200; i++) {
        if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
            return;
        pid_t tid = __atomic_load_n(&op->tid, __ATOMIC_ACQUIRE);
        if (load_ul(&op->delivered) != before &&
            lfc_test_thread_state(tid) == 'S')
            return;
        nanosleep(&ts, NULL);
    }
}

static void *
storm_main(void *arg)
{
    struct storm *s = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s->sig);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* Short sleeps really short: the default 50 us slack caps the rate. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    /* Woken by nothing: stop is read between signals. */
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        /* Acquire: run_flow adds helpers once their threads exist. */
        int n = __atomic_load_n(&s->n, __ATOMIC_ACQUIRE);
        for (int i = 0; i < n; i++) {
            struct op *op = s->ops[i];
            unsigned long before = load_ul(&op->delivered);
            int e = pthread_kill(op->a.thread, s->sig);
            if (e == 0)
                __atomic_fetch_add(&op->sent, 1, __ATOMIC_RELAXED);
            else if (e != EAGAIN && e != ESRCH)
                /* EAGAIN: the real-time queue is full; ESRCH: the helper
                 * returned from its call and exited (not yet joined). */
                __atomic_store_n(&s->kill_err, e, __ATOMIC_RELAXED);
            storm_pace(s, op, before);
        }
    }
    return NULL;
}

/* Starts a storm at the helpers of ops[0..n). None of them may be joined
 * before storm_stop. */
static void
storm_start(struct storm *s, struct op **ops, int n, const struct variant *v)
{
    memset(s, 0, sizeof(*s));
    s->ops = ops;
    s->n = n;
    s->sig = v->sig;
    if (pthread_create(&s->thread, NULL, storm_main, s) != 0)
        fail_msg("storm: pthread_create failed");
}

static void
storm_stop(struct storm *s)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->thread, NULL);
    int e = __atomic_load_n(&s->kill_err, __ATOMIC_RELAXED);
    if (e != 0)
        fail_msg("storm: pthread_kill failed: %s", strerror(e));
}

/* What the storm has achieved at op: handler runs inside the call, or,
 * where the handler is deferred, signals sent. */
static unsigned long
storm_count(struct op *op, const struct variant *v)
{
    return handler_deferred(v) ? load_ul(&op->sent)
                               : load_ul(&op->delivered_in_call);
}

/* ---- the CPU check ------------------------------------------------------ */

static unsigned long g_total_sent, g_total_in_call;
static int64_t g_total_storm_ns;  /* wall time of the blocked waits' storms */
static unsigned long g_flow_sent; /* signals sent in the flow cases */
static int64_t g_total_cpu_ns;
static int64_t g_max_cpu_per_signal_ns;
static double g_max_allowance_used; /* the largest cpu / allowance */

/* Whether cpu_ns over a storm of `sent` signals is within the allowance. */
static int64_t
cpu_allowance_ns(unsigned long sent)
{
    return cpu_allow_fixed_ns() + (int64_t)sent * cpu_allow_per_signal_ns();
}

static bool
cpu_within_allowance(int64_t cpu_ns, unsigned long sent)
{
    return cpu_ns <= cpu_allowance_ns(sent);
}

static void
check_cpu(const char *what, int64_t cpu_ns, unsigned long sent)
{
    g_total_cpu_ns += cpu_ns;
    if (sent > 0 && cpu_ns / (int64_t)sent > g_max_cpu_per_signal_ns)
        g_max_cpu_per_signal_ns = cpu_ns / (int64_t)sent;
    double used = (double)cpu_ns / (double)cpu_allowance_ns(sent);
    if (used > g_max_allowance_used)
        g_max_allowance_used = used;
    if (!cpu_within_allowance(cpu_ns, sent))
        fail_msg("%s: the blocked thread used %lld us of CPU over a storm "
                 "of %lu signals (allowance %lld us + %lld us a signal): "
                 "it spins instead of sleeping",
                 what, (long long)(cpu_ns / US), sent,
                 (long long)(cpu_allow_fixed_ns() / US),
                 (long long)(cpu_allow_per_signal_ns() / US));
}

static void
report(const char *what, const struct op *op, int64_t cpu_ns,
       unsigned long sent, int64_t wall_ns)
{
    g_total_sent += sent;
    g_total_in_call += load_ul(&op->delivered_in_call);
    g_total_storm_ns += wall_ns;
    if (report_on())
        fprintf(stderr,
                "  %-40s sent %6lu handled-in-call %6lu in %5lld ms "
                "(%6.0f/s), cpu %7lld us (%.1f us/signal)\n",
                what, sent, load_ul(&op->delivered_in_call),
                (long long)(wall_ns / MS),
                wall_ns > 0 ? (double)sent * 1e9 / (double)wall_ns : 0.0,
                (long long)(cpu_ns / US),
                sent ? (double)cpu_ns / 1000.0 / (double)sent : 0.0);
}

/* ---- the kinds of wait --------------------------------------------------- */

/*
 * A kind: setup() makes the objects so that call() blocks; call() runs on
 * the helper; release() ends the wait the legitimate way (NULL for a kind
 * that its deadline or a timer ends: `timed`); expect is the status the
 * call must return; check() asserts on the result and the objects after
 * the join; cleanup() frees. `timeout` is the round's duration (timed
 * kinds only).
 */
struct kind {
    const char *name;
    void (*setup)(struct op *op, int64_t timeout);
    op_call_fn call;
    void (*release)(struct op *op);
    int expect;
    void (*check)(struct op *op, int rc);
    void (*cleanup)(struct op *op);
    bool timed;
};

static void
free_all(struct op *op)
{
    for (int i = 0; i < 2; i++)
        lfc_chan_free(op->ch[i]);
    lfc_ctx_free(op->ctx);
    lfc_sem_free(op->sem);
    lfc_wg_free(op->wg);
    lfc_pool_free(op->pool);
    lfc_group_free(op->group);
    lfc_timer_free(op->timer);
    lfc_chan_free(op->gate);
}

static lfc_chan *
new_chan(size_t cap)
{
    lfc_chan *ch = lfc_chan_new(cap, sizeof(int64_t));
    assert_non_null(ch);
    return ch;
}

static void
send_value(lfc_chan *ch, int64_t v)
{
    assert_status(lfc_send_until(ch, &v, lfc_now_ns() + LFC_TEST_STUCK_NS),
                  LFC_OK);
}

static int64_t
recv_value(lfc_chan *ch)
{
    int64_t v = UNTOUCHED;
    assert_status(lfc_recv_until(ch, &v, lfc_now_ns() + LFC_TEST_STUCK_NS),
                  LFC_OK);
    return v;
}

/* Nothing to receive (closed and drained counts as nothing too). */
static void
assert_empty(lfc_chan *ch)
{
    int64_t v = UNTOUCHED;
    assert_status(lfc_try_recv(ch, &v),
                  lfc_chan_closed(ch) ? LFC_CLOSED : LFC_AGAIN);
    assert_int_equal(v, UNTOUCHED);
}

/* Timestamps the library's return for the deadline checks. */
static int
stamp(struct op *op, int r)
{
    op->t_ret = lfc_now_ns();
    return r;
}

/* -- channels -- */

static void
setup_empty(struct op *op, int64_t timeout)
{
    op->ch[0] = new_chan(4);
    op->deadline = lfc_now_ns() + timeout;
}

static void
setup_empty_unbuffered(struct op *op, int64_t timeout)
{
    op->ch[0] = new_chan(0);
    op->deadline = lfc_now_ns() + timeout;
}

static void
setup_full(struct op *op, int64_t timeout)
{
    op->ch[0] = new_chan(1);
    send_value(op->ch[0], 1);
    op->deadline = lfc_now_ns() + timeout;
    op->val = 4242;
}

static void
setup_unbuffered_send(struct op *op, int64_t timeout)
{
    op->ch[0] = new_chan(0);
    op->deadline = lfc_now_ns() + timeout;
    op->val = 4242;
}

static int
call_recv(struct op *op)
{
    op->val = UNTOUCHED;
    return lfc_recv(op->ch[0], &op->val);
}

static int
call_recv_until(struct op *op)
{
    op->val = UNTOUCHED;
    return stamp(op, lfc_recv_until(op->ch[0], &op->val, op->deadline));
}

/* recv_until with a deadline no test reaches: a released wait. */
static int
call_recv_until_far(struct op *op)
{
    op->val = UNTOUCHED;
    return lfc_recv_until(op->ch[0], &op->val, lfc_now_ns() + LFC_TEST_FAR_NS);
}

static int
call_send(struct op *op)
{
    return lfc_send(op->ch[0], &op->val);
}

static int
call_send_until(struct op *op)
{
    return stamp(op, lfc_send_until(op->ch[0], &op->val, op->deadline));
}

static void
release_send_4242(struct op *op)
{
    send_value(op->ch[0], 4242);
}

static void
release_recv_prefill(struct op *op)
{
    assert_int_equal(recv_value(op->ch[0]), 1);
}

static void
release_recv_4242(struct op *op)
{
    assert_int_equal(recv_value(op->ch[0]), 4242);
}

static void
release_close(struct op *op)
{
    assert_status(lfc_close(op->ch[0]), LFC_OK);
}

static void
check_got_4242(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(op->val, 4242);
    assert_empty(op->ch[0]);
}

static void
check_untouched(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(op->val, UNTOUCHED);
    assert_empty(op->ch[0]);
}

/* The sender's value is in the channel, behind nothing. */
static void
check_sent_4242(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(recv_value(op->ch[0]), 4242);
    assert_empty(op->ch[0]);
}

/* A timed-out send enqueued nothing: only the prefill is there. */
static void
check_nothing_enqueued(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(lfc_chan_len(op->ch[0]), 1);
    assert_int_equal(recv_value(op->ch[0]), 1);
    assert_empty(op->ch[0]);
}

/* An unbuffered send that timed out was taken by nobody. */
static void
check_unbuffered_not_taken(struct op *op, int rc)
{
    (void)rc;
    assert_empty(op->ch[0]);
}

/* -- select -- */

static void
setup_select_recv(struct op *op, int64_t timeout)
{
    op->ch[0] = new_chan(2);
    op->ch[1] = new_chan(0);
    op->val = UNTOUCHED;
    op->cases[0] = (lfc_case){op->ch[0], LFC_RECV, &op->val, -1};
    op->cases[1] = (lfc_case){op->ch[1], LFC_RECV, &op->val, -1};
    op->deadline = lfc_now_ns() + timeout;
}

/* Case 0 sends to a full channel, case 1 receives from an empty one. */
static void
setup_select_send(struct op *op, int64_t timeout)
{
    op->ch[0] = new_chan(1);
    op->ch[1] = new_chan(1);
    send_value(op->ch[0], 1);
    op->val = 4242;
    static int64_t sink = UNTOUCHED;
    op->cases[0] = (lfc_case){op->ch[0], LFC_SEND, &op->val, -1};
    op->cases[1] = (lfc_case){op->ch[1], LFC_RECV, &sink, -1};
    op->deadline = lfc_now_ns() + timeout;
}

static int
call_select(struct op *op)
{
    return lfc_select(op->cases, 2);
}

static int
call_select_biased(struct op *op)
{
    return lfc_select_biased(op->cases, 2);
}

static int
call_select_until(struct op *op)
{
    return stamp(op, lfc_select_until(op->cases, 2, op->deadline));
}

static int
call_select_biased_until(struct op *op)
{
    return stamp(op, lfc_select_biased_until(op->cases, 2, op->deadline));
}

/* Case 1's channel is unbuffered: the sender hands the value over. */
static void
release_select_case1(struct op *op)
{
    send_value(op->ch[1], 4242);
}

static void
check_select_case1(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(op->cases[1].status, LFC_OK);
    assert_int_equal(op->val, 4242);
    assert_empty(op->ch[0]);
}

static void
release_select_case0_buffered(struct op *op)
{
    send_value(op->ch[0], 4242);
}

static void
check_select_case0(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(op->cases[0].status, LFC_OK);
    assert_int_equal(op->val, 4242);
    assert_empty(op->ch[0]);
    assert_empty(op->ch[1]);
}

static void
check_select_sent(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(op->cases[0].status, LFC_OK);
    assert_int_equal(recv_value(op->ch[0]), 4242);
    assert_empty(op->ch[0]);
    assert_empty(op->ch[1]);
}

static void
check_select_nothing(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(op->cases[0].status, -1);
    assert_int_equal(op->cases[1].status, -1);
    assert_int_equal(op->val, UNTOUCHED);
    assert_empty(op->ch[0]);
    assert_empty(op->ch[1]);
}

static void
check_select_send_nothing(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(op->cases[0].status, -1);
    assert_int_equal(op->cases[1].status, -1);
    assert_int_equal(lfc_chan_len(op->ch[0]), 1);
    assert_int_equal(recv_value(op->ch[0]), 1);
    assert_empty(op->ch[1]);
}

/* -- contexts -- */

static void
setup_ctx_empty(struct op *op, int64_t timeout)
{
    setup_empty(op, timeout);
    op->ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(op->ctx);
}

static void
setup_ctx_full(struct op *op, int64_t timeout)
{
    setup_full(op, timeout);
    op->ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(op->ctx);
}

static void
setup_ctx_deadline_empty(struct op *op, int64_t timeout)
{
    setup_empty(op, timeout);
    op->ctx = lfc_ctx_with_deadline(lfc_ctx_background(), op->deadline);
    assert_non_null(op->ctx);
}

static int
call_recv_ctx(struct op *op)
{
    op->val = UNTOUCHED;
    return stamp(op, lfc_recv_ctx(op->ch[0], &op->val, op->ctx));
}

static int
call_send_ctx(struct op *op)
{
    return lfc_send_ctx(op->ch[0], &op->val, op->ctx);
}

static int
call_recv_done(struct op *op)
{
    op->val = UNTOUCHED;
    return lfc_recv(lfc_ctx_done(op->ctx), NULL);
}

static void
release_cancel(struct op *op)
{
    assert_status(lfc_ctx_cancel(op->ctx), LFC_OK);
}

/* -- semaphores -- */

static void
setup_sem_taken(struct op *op, int64_t timeout)
{
    op->sem = lfc_sem_new(2);
    assert_non_null(op->sem);
    assert_status(lfc_sem_acquire(op->sem, 2), LFC_OK);
    op->deadline = lfc_now_ns() + timeout;
}

static void
setup_sem_taken_ctx(struct op *op, int64_t timeout)
{
    setup_sem_taken(op, timeout);
    op->ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(op->ctx);
}

static void
setup_sem_taken_ctx_deadline(struct op *op, int64_t timeout)
{
    setup_sem_taken(op, timeout);
    op->ctx = lfc_ctx_with_deadline(lfc_ctx_background(), op->deadline);
    assert_non_null(op->ctx);
}

static int
call_sem_acquire(struct op *op)
{
    return lfc_sem_acquire(op->sem, 1);
}

static int
call_sem_acquire_until(struct op *op)
{
    return stamp(op, lfc_sem_acquire_until(op->sem, 1, op->deadline));
}

static int
call_sem_acquire_ctx(struct op *op)
{
    return stamp(op, lfc_sem_acquire_ctx(op->sem, 1, op->ctx));
}

static void
release_sem_one(struct op *op)
{
    assert_status(lfc_sem_release(op->sem, 1), LFC_OK);
}

/* The waiter holds the permit it was given: none is free. */
static void
check_sem_granted(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(lfc_sem_available(op->sem), 0);
    assert_status(lfc_sem_release(op->sem, 2), LFC_OK);
    assert_int_equal(lfc_sem_available(op->sem), 2);
}

/* The waiter that gave up took nothing. */
static void
check_sem_nothing_taken(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(lfc_sem_available(op->sem), 0);
    assert_status(lfc_sem_release(op->sem, 2), LFC_OK);
    assert_int_equal(lfc_sem_available(op->sem), 2);
    assert_status(lfc_sem_try_acquire(op->sem, 2), LFC_OK);
}

/* -- wait groups -- */

static void
setup_wg_one(struct op *op, int64_t timeout)
{
    op->wg = lfc_wg_new();
    assert_non_null(op->wg);
    assert_status(lfc_wg_add(op->wg, 1), LFC_OK);
    op->deadline = lfc_now_ns() + timeout;
}

static int
call_wg_wait(struct op *op)
{
    return lfc_wg_wait(op->wg);
}

static int
call_wg_wait_until(struct op *op)
{
    return stamp(op, lfc_wg_wait_until(op->wg, op->deadline));
}

static void
release_wg_done(struct op *op)
{
    assert_status(lfc_wg_done(op->wg), LFC_OK);
}

static void
check_wg_zero(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(lfc_wg_count(op->wg), 0);
}

static void
check_wg_still_one(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(lfc_wg_count(op->wg), 1);
    assert_status(lfc_wg_done(op->wg), LFC_OK);
}

/* -- pools: tasks that wait on op->gate -- */

static void
task_gated(void *arg)
{
    struct op *op = arg;
    __atomic_store_n(&op->task_started, 1, __ATOMIC_RELEASE);
    int64_t v = UNTOUCHED;
    if (lfc_recv(op->gate, &v) == LFC_OK && v == 4242)
        __atomic_fetch_add(&op->task_runs, 1, __ATOMIC_RELAXED);
}

static void
task_quick(void *arg)
{
    struct op *op = arg;
    __atomic_fetch_add(&op->task_runs, 1, __ATOMIC_RELAXED);
}

static void
wait_task_started(struct op *op)
{
    if (!lfc_test_wait_flag(&op->task_started, LFC_TEST_STUCK_NS))
        fail_msg("the gated task never started");
}

/* One worker, busy with a gated task. */
static void
setup_pool_busy(struct op *op, int64_t timeout)
{
    op->gate = new_chan(1);
    op->pool = lfc_pool_new(1, 1);
    assert_non_null(op->pool);
    assert_status(lfc_pool_submit(op->pool, task_gated, op), LFC_OK);
    wait_task_started(op);
    op->deadline = lfc_now_ns() + timeout;
}

/* ... and its one-task queue full too: a submit blocks. */
static void
setup_pool_full(struct op *op, int64_t timeout)
{
    setup_pool_busy(op, timeout);
    assert_status(lfc_pool_try_submit(op->pool, task_quick, op), LFC_OK);
}

static void
setup_pool_full_ctx(struct op *op, int64_t timeout)
{
    setup_pool_full(op, timeout);
    op->ctx = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(op->ctx);
}

static int
call_pool_wait(struct op *op)
{
    return lfc_pool_wait(op->pool);
}

static int
call_pool_submit(struct op *op)
{
    return lfc_pool_submit(op->pool, task_quick, op);
}

static int
call_pool_submit_until(struct op *op)
{
    return stamp(op,
                 lfc_pool_submit_until(op->pool, task_quick, op, op->deadline));
}

static int
call_pool_submit_ctx(struct op *op)
{
    return lfc_pool_submit_ctx(op->pool, task_quick, op, op->ctx);
}

static void
release_gate(struct op *op)
{
    send_value(op->gate, 4242);
}

static int
task_runs(struct op *op)
{
    return __atomic_load_n(&op->task_runs, __ATOMIC_RELAXED);
}

/* pool_wait returned: the gated task has finished. */
/* lfc_pool_free waits for the gated task, then joins the worker. */
static int
call_pool_free(struct op *op)
{
    lfc_pool_free(op->pool);
    op->pool = NULL; /* read by cleanup after the join */
    return LFC_OK;
}

static void
check_pool_waited(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(task_runs(op), 1);
}

/* Every task ran once: the gated one, the queued one, the submitted one. */
static void
check_pool_three_ran(struct op *op, int rc)
{
    (void)rc;
    assert_status(lfc_pool_wait(op->pool), LFC_OK);
    assert_int_equal(task_runs(op), 3);
}

/* The submit that gave up queued nothing: two tasks run, not three. */
static void
check_pool_two_ran(struct op *op, int rc)
{
    (void)rc;
    release_gate(op);
    assert_status(lfc_pool_wait(op->pool), LFC_OK);
    assert_int_equal(task_runs(op), 2);
}

/* -- error groups -- */

static int
group_task_gated(lfc_ctx *ctx, void *arg)
{
    struct op *op = arg;
    (void)ctx;
    task_gated(op);
    return 7;
}

static int
group_task_quick(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    task_quick(arg);
    return 0;
}

static void
setup_group_busy(struct op *op, int64_t timeout)
{
    (void)timeout;
    op->gate = new_chan(1);
    op->group = lfc_group_new(lfc_ctx_background());
    assert_non_null(op->group);
    assert_status(lfc_group_set_limit(op->group, 1), LFC_OK);
    assert_status(lfc_group_go(op->group, group_task_gated, op), LFC_OK);
    wait_task_started(op);
}

static int
call_group_wait(struct op *op)
{
    return lfc_group_wait(op->group);
}

static int
call_group_go(struct op *op)
{
    return lfc_group_go(op->group, group_task_quick, op);
}

/* lfc_group_free waits for and joins the gated task. */
static int
call_group_free(struct op *op)
{
    lfc_group_free(op->group);
    op->group = NULL; /* read by cleanup after the join */
    return LFC_OK;
}

static void
check_group_waited(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(task_runs(op), 1);
}

static void
check_group_both_ran(struct op *op, int rc)
{
    (void)rc;
    assert_int_equal(lfc_group_wait(op->group), 7);
    assert_int_equal(task_runs(op), 2);
}

/* -- timers: released by their own firing -- */

static void
setup_after(struct op *op, int64_t timeout)
{
    op->deadline = lfc_now_ns() + timeout; /* the timer's is no earlier */
    op->ch[0] = lfc_after(timeout);
    assert_non_null(op->ch[0]);
}

static void
setup_timer_after(struct op *op, int64_t timeout)
{
    op->deadline = lfc_now_ns() + timeout;
    op->timer = lfc_timer_after(timeout);
    assert_non_null(op->timer);
}

static void
setup_tick(struct op *op, int64_t timeout)
{
    op->deadline = lfc_now_ns() + timeout; /* the first tick's is later */
    op->timer = lfc_tick(timeout);
    assert_non_null(op->timer);
}

/* A select between an idle channel and an lfc_after channel. */
static void
setup_select_after(struct op *op, int64_t timeout)
{
    op->ch[1] = new_chan(1);
    setup_after(op, timeout);
    op->val = UNTOUCHED;
    static int64_t sink = UNTOUCHED;
    op->cases[0] = (lfc_case){op->ch[1], LFC_RECV, &sink, -1};
    op->cases[1] = (lfc_case){op->ch[0], LFC_RECV, &op->val, -1};
}

static int
call_timer_recv(struct op *op)
{
    op->val = UNTOUCHED;
    return stamp(op, lfc_recv(lfc_timer_chan(op->timer), &op->val));
}

static int
call_after_recv(struct op *op)
{
    op->val = UNTOUCHED;
    return stamp(op, lfc_recv(op->ch[0], &op->val));
}

static int
call_timer_recv_until_far(struct op *op)
{
    op->val = UNTOUCHED;
    return stamp(op, lfc_recv_until(lfc_timer_chan(op->timer), &op->val,
                                    lfc_now_ns() + LFC_TEST_FAR_NS));
}

static int
call_select_timer(struct op *op)
{
    return stamp(op, lfc_select(op->cases, 2));
}

/* The fired value is a time no earlier than the due time. */
static void
check_fired(struct op *op, int rc)
{
    (void)rc;
    if (op->val < op->deadline)
        fail_msg("a timer's value %lld is %lld ns before its due time",
                 (long long)op->val, (long long)(op->deadline - op->val));
}

static void
check_select_fired(struct op *op, int rc)
{
    assert_int_equal(op->cases[1].status, LFC_OK);
    check_fired(op, rc);
}

/* ---- the kinds, as a table --------------------------------------------- */

/* clang-format off */
#define RELEASED(n, s, c, r, e, k) {n, s, c, r, e, k, free_all, false}
#define TIMED(n, s, c, e, k) {n, s, c, NULL, e, k, free_all, true}
/* clang-format on */

static const struct kind kinds[] = {
    /* channels */
    RELEASED("recv", setup_empty, call_recv, release_send_4242, LFC_OK,
             check_got_4242),
    RELEASED("recv_unbuffered", setup_empty_unbuffered, call_recv,
             release_send_4242, LFC_OK, check_got_4242),
    RELEASED("recv_until_far", setup_empty, call_recv_until_far,
             release_send_4242, LFC_OK, check_got_4242),
    RELEASED("recv_closed", setup_empty, call_recv, release_close, LFC_CLOSED,
             check_untouched),
    RELEASED("send_full", setup_full, call_send, release_recv_prefill, LFC_OK,
             check_sent_4242),
    RELEASED("send_unbuffered", setup_unbuffered_send, call_send,
             release_recv_4242, LFC_OK, check_unbuffered_not_taken),
    RELEASED("send_full_closed", setup_full, call_send, release_close,
             LFC_CLOSED, check_nothing_enqueued),
    TIMED("recv_until", setup_empty, call_recv_until, LFC_TIMEDOUT,
          check_untouched),
    TIMED("recv_until_unbuffered", setup_empty_unbuffered, call_recv_until,
          LFC_TIMEDOUT, check_untouched),
    TIMED("send_until", setup_full, call_send_until, LFC_TIMEDOUT,
          check_nothing_enqueued),
    TIMED("send_until_unbuffered", setup_unbuffered_send, call_send_until,
          LFC_TIMEDOUT, check_unbuffered_not_taken),
    /* select */
    RELEASED("select_recv_handoff", setup_select_recv, call_select,
             release_select_case1, 1, check_select_case1),
    RELEASED("select_recv_buffered", setup_select_recv, call_select,
             release_select_case0_buffered, 0, check_select_case0),
    RELEASED("select_biased_recv", setup_select_recv, call_select_biased,
             release_select_case1, 1, check_select_case1),
    RELEASED("select_send", setup_select_send, call_select,
             release_recv_prefill, 0, check_select_sent),
    TIMED("select_until", setup_select_recv, call_select_until, LFC_TIMEDOUT,
          check_select_nothing),
    TIMED("select_until_send", setup_select_send, call_select_until,
          LFC_TIMEDOUT, check_select_send_nothing),
    TIMED("select_biased_until", setup_select_recv, call_select_biased_until,
          LFC_TIMEDOUT, check_select_nothing),
    /* contexts */
    RELEASED("recv_ctx_value", setup_ctx_empty, call_recv_ctx,
             release_send_4242, LFC_OK, check_got_4242),
    RELEASED("recv_ctx_cancel", setup_ctx_empty, call_recv_ctx, release_cancel,
             LFC_CANCELED, check_untouched),
    RELEASED("send_ctx_cancel", setup_ctx_full, call_send_ctx, release_cancel,
             LFC_CANCELED, check_nothing_enqueued),
    RELEASED("send_ctx_slot", setup_ctx_full, call_send_ctx,
             release_recv_prefill, LFC_OK, check_sent_4242),
    RELEASED("recv_ctx_done_chan", setup_ctx_empty, call_recv_done,
             release_cancel, LFC_CLOSED, check_untouched),
    TIMED("recv_ctx_deadline", setup_ctx_deadline_empty, call_recv_ctx,
          LFC_TIMEDOUT, check_untouched),
    /* semaphores */
    RELEASED("sem_acquire", setup_sem_taken, call_sem_acquire, release_sem_one,
             LFC_OK, check_sem_granted),
    RELEASED("sem_acquire_ctx_cancel", setup_sem_taken_ctx,
             call_sem_acquire_ctx, release_cancel, LFC_CANCELED,
             check_sem_nothing_taken),
    RELEASED("sem_acquire_ctx_permit", setup_sem_taken_ctx,
             call_sem_acquire_ctx, release_sem_one, LFC_OK, check_sem_granted),
    TIMED("sem_acquire_until", setup_sem_taken, call_sem_acquire_until,
          LFC_TIMEDOUT, check_sem_nothing_taken),
    TIMED("sem_acquire_ctx_deadline", setup_sem_taken_ctx_deadline,
          call_sem_acquire_ctx, LFC_TIMEDOUT, check_sem_nothing_taken),
    /* wait groups */
    RELEASED("wg_wait", setup_wg_one, call_wg_wait, release_wg_done, LFC_OK,
             check_wg_zero),
    TIMED("wg_wait_until", setup_wg_one, call_wg_wait_until, LFC_TIMEDOUT,
          check_wg_still_one),
    /* pools */
    RELEASED("pool_wait", setup_pool_busy, call_pool_wait, release_gate, LFC_OK,
             check_pool_waited),
    RELEASED("pool_free", setup_pool_busy, call_pool_free, release_gate, LFC_OK,
             check_pool_waited),
    RELEASED("pool_submit_full", setup_pool_full, call_pool_submit,
             release_gate, LFC_OK, check_pool_three_ran),
    RELEASED("pool_submit_ctx_cancel", setup_pool_full_ctx,
             call_pool_submit_ctx, release_cancel, LFC_CANCELED,
             check_pool_two_ran),
    TIMED("pool_submit_until", setup_pool_full, call_pool_submit_until,
          LFC_TIMEDOUT, check_pool_two_ran),
    /* error groups */
    RELEASED("group_wait", setup_group_busy, call_group_wait, release_gate, 7,
             check_group_waited),
    RELEASED("group_free", setup_group_busy, call_group_free, release_gate,
             LFC_OK, check_group_waited),
    RELEASED("group_go_at_limit", setup_group_busy, call_group_go, release_gate,
             LFC_OK, check_group_both_ran),
    /* timers */
    TIMED("after_recv", setup_after, call_after_recv, LFC_OK, check_fired),
    TIMED("timer_after_recv_until", setup_timer_after,
          call_timer_recv_until_far, LFC_OK, check_fired),
    TIMED("tick_recv", setup_tick, call_timer_recv, LFC_OK, check_fired),
    TIMED("select_after", setup_select_after, call_select_timer, 1,
          check_select_fired),
};
enum { NKINDS = sizeof(kinds) / sizeof(kinds[0]) };

/* ---- running one kind ---------------------------------------------------- */

struct tcase {
    const struct kind *k;
    const struct variant *v;
    char name[96];
};

static void
check_errno_kept(const char *what, struct op *op)
{
    if (op->errno_after != ERRNO_SENTINEL)
        fail_msg("%s: the call changed errno from %d to %d (%s)", what,
                 ERRNO_SENTINEL, op->errno_after, strerror(op->errno_after));
}

/* Storms op (blocked) until the goal, then stops: the helper is still
 * blocked, and its CPU over the storm is checked. */
static void
storm_blocked(struct op *op, const struct tcase *tc)
{
    struct op *ops[1] = {op};
    struct storm st;
    if (!await_asleep(op, tc->name))
        fail_msg("%s returned %d (%s) instead of blocking", tc->name, op->a.rc,
                 lfc_strerror(op->a.rc));
    int64_t c0 = op_cpu_ns(op);
    int64_t t0 = lfc_now_ns();
    storm_start(&st, ops, 1, tc->v);
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    /* Woken by nothing: polls the handler's count. */
    while (storm_count(op, tc->v) < storm_goal()) {
        if (lfc_test_async_done(&op->a) || lfc_now_ns() > end)
            break;
        lfc_test_sleep_ns(500 * US);
    }
    storm_stop(&st);
    if (lfc_test_async_done(&op->a)) {
        lfc_test_async_join(&op->a, tc->name);
        fail_msg("%s returned %d (%s) under the storm, before its release",
                 tc->name, op->a.rc, lfc_strerror(op->a.rc));
    }
    int64_t cpu = op_cpu_ns(op) - c0;
    unsigned long sent = load_ul(&op->sent);
    if (storm_count(op, tc->v) < storm_goal())
        fail_msg("%s: the storm reached only %lu of %lu signals in %lld ms",
                 tc->name, storm_count(op, tc->v), storm_goal(),
                 (long long)(LFC_TEST_STUCK_NS / MS));
    report(tc->name, op, cpu, sent, lfc_now_ns() - t0);
    check_cpu(tc->name, cpu, sent);
}

static void
run_released(const struct tcase *tc)
{
    const struct kind *k = tc->k;
    struct op op;
    memset(&op, 0, sizeof(op));
    k->setup(&op, LFC_TEST_FAR_NS);
    op_start(&op, k->call);
    storm_blocked(&op, tc);
    k->release(&op);
    int rc = lfc_test_async_join(&op.a, tc->name);
    assert_status(rc, k->expect);
    check_errno_kept(tc->name, &op);
    k->check(&op, rc);
    k->cleanup(&op);
}

/*
 * One round of a timed kind: the call's deadline (or timer) is `timeout`
 * away. Returns the handler runs inside the call (or, deferred, signals
 * sent) while it slept under the storm; 0 if it returned before it was
 * seen asleep. Checks status, deadline and CPU either way.
 */
static unsigned long
timed_round(const struct tcase *tc, int64_t timeout)
{
    const struct kind *k = tc->k;
    struct op op;
    struct op *ops[1] = {&op};
    struct storm st;
    unsigned long got = 0;
    memset(&op, 0, sizeof(op));
    k->setup(&op, timeout);
    op_start(&op, k->call);
    int64_t c0 = await_asleep(&op, tc->name) ? op_cpu_try_ns(&op) : -1;
    if (c0 >= 0) { /* it slept and was still in the call */
        int64_t t0 = lfc_now_ns();
        storm_start(&st, ops, 1, tc->v);
        if (!lfc_test_async_wait_done(&op.a, LFC_TEST_STUCK_NS + timeout)) {
            storm_stop(&st);
            fail_msg("%s did not return %lld ms after its deadline", tc->name,
                     (long long)(LFC_TEST_STUCK_NS / MS));
        }
        storm_stop(&st);
        int64_t cpu = op.cpu_end - c0;
        report(tc->name, &op, cpu, op.sent_at_end, op.t_ret - t0);
        check_cpu(tc->name, cpu, op.sent_at_end);
        got = handler_deferred(tc->v) ? op.sent_at_end
                                      : load_ul(&op.delivered_in_call);
    }
    int rc = lfc_test_async_join(&op.a, tc->name);
    assert_status(rc, k->expect);
    if (op.t_ret < op.deadline)
        fail_msg("%s returned %d (%s) %lld ns before its deadline", tc->name,
                 rc, lfc_strerror(rc), (long long)(op.deadline - op.t_ret));
    check_errno_kept(tc->name, &op);
    k->check(&op, rc);
    k->cleanup(&op);
    return got;
}

static void
run_timed(const struct tcase *tc)
{
    unsigned long got = 0;
    int64_t timeout = 20 * MS;
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    /* Rounds until the goal: a loaded machine delivers fewer a round. */
    do {
        got += timed_round(tc, timeout);
        timeout *= 2;
    } while (got < storm_goal_timed() && lfc_now_ns() < end);
    if (got == 0)
        fail_msg("%s: no signal reached the sleeping call", tc->name);
}

static void
test_kind(void **state)
{
    const struct tcase *tc = *state;
    if (tc->k->timed)
        run_timed(tc);
    else
        run_released(tc);
}

/* ---- no lost value ----------------------------------------------------- */

/*
 * PRODUCERS senders and CONSUMERS receivers on one channel, every one of
 * them stormed. Each consumer records what it got; the test checks that
 * every value arrived exactly once and each producer's values in order.
 * The producers send in batches, and before each batch wait for the
 * storm to have reached every consumer again, so that the storm overlaps
 * the transfer however the threads are scheduled.
 */
enum { PRODUCERS = 2, CONSUMERS = 3, BATCH = 16 };

struct flow {
    lfc_chan *ch;
    long per_producer;
    unsigned char *seen; /* [producer * per_producer + i]: times received */
    const struct variant *v;
    struct op cons[CONSUMERS];
    struct op prod[PRODUCERS];
    int bad; /* first failure, reported by the test thread (atomic) */
};

static int
flow_fail(struct flow *f, int code)
{
    int none = 0;
    __atomic_compare_exchange_n(&f->bad, &none, code, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    return code;
}

static struct flow *g_flow;

/* Total storm progress at the consumers. */
static unsigned long
flow_storm_count(struct flow *f)
{
    unsigned long n = 0;
    for (int i = 0; i < CONSUMERS; i++)
        n += handler_deferred(f->v) ? load_ul(&f->cons[i].sent)
                                    : load_ul(&f->cons[i].delivered);
    return n;
}

static int
flow_produce(struct op *op)
{
    struct flow *f = g_flow;
    int p = (int)(op - f->prod);
    for (long i = 0; i < f->per_producer; i++) {
        if (i % BATCH == 0) {
            int saved = errno; /* the sleeps below are ours, not lfchan's */
            unsigned long want = flow_storm_count(f) + CONSUMERS;
            int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
            /* Woken by nothing: polls the consumers' counts. */
            while (flow_storm_count(f) < want && lfc_now_ns() < end)
                lfc_test_sleep_ns(200 * US);
            errno = saved;
        }
        int64_t v = (int64_t)p << 32 | i;
        int r = lfc_send(f->ch, &v);
        if (r != LFC_OK)
            return flow_fail(f, 100 + r);
    }
    return LFC_OK;
}

static int
flow_consume(struct op *op)
{
    struct flow *f = g_flow;
    long last[PRODUCERS];
    (void)op;
    for (int p = 0; p < PRODUCERS; p++)
        last[p] = -1;
    for (;;) {
        int64_t v = UNTOUCHED;
        int r = lfc_recv(f->ch, &v);
        if (r == LFC_CLOSED)
            return r;
        if (r != LFC_OK)
            return flow_fail(f, 200 + r);
        int p = (int)(v >> 32);
        long i = (long)(v & 0xffffffff);
        if (p < 0 || p >= PRODUCERS || i < 0 || i >= f->per_producer)
            return flow_fail(f, 300);
        if (i <= last[p])
            return flow_fail(f, 400); /* out of order */
        last[p] = i;
        __atomic_fetch_add(&f->seen[p * f->per_producer + i], 1,
                           __ATOMIC_RELAXED);
    }
}

static void
run_flow(const struct variant *v, size_t cap)
{
    struct flow f;
    memset(&f, 0, sizeof(f));
    f.v = v;
    /* No CPU check here: the library's own spin policy, which would
     * otherwise spin the raised limit before each of the many parks. */
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    f.ch = new_chan(cap);
    f.per_producer = lfc_test_scaled(2000, 200);
    f.seen = calloc((size_t)(PRODUCERS * f.per_producer), 1);
    assert_non_null(f.seen);
    g_flow = &f;
    struct op *ops[PRODUCERS + CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        op_start(&f.cons[i], flow_consume);
        ops[i] = &f.cons[i];
    }
    for (int i = 0; i < PRODUCERS; i++)
        ops[CONSUMERS + i] = &f.prod[i];
    struct storm st;
    /* The producers start after the storm: they are stormed too. */
    for (int i = 0; i < CONSUMERS; i++)
        await_asleep(&f.cons[i], "consumer");
    storm_start(&st, ops, CONSUMERS, v);
    for (int i = 0; i < PRODUCERS; i++)
        op_start(&f.prod[i], flow_produce);
    /* The storm thread reads ops[] only up to n; add the producers now
     * that their threads exist. */
    __atomic_store_n(&st.n, PRODUCERS + CONSUMERS, __ATOMIC_RELEASE);
    for (int i = 0; i < PRODUCERS; i++)
        if (!lfc_test_async_wait_done(&f.prod[i].a, 6 * LFC_TEST_STUCK_NS))
            fail_msg("flow: a producer is stuck (sent with no progress)");
    storm_stop(&st);
    assert_status(lfc_close(f.ch), LFC_OK);
    unsigned long handled = 0, sent = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        assert_status(lfc_test_async_join(&f.prod[i].a, "producer"), LFC_OK);
        check_errno_kept("producer", &f.prod[i]);
        handled += load_ul(&f.prod[i].delivered);
        sent += load_ul(&f.prod[i].sent);
    }
    for (int i = 0; i < CONSUMERS; i++) {
        assert_status(lfc_test_async_join(&f.cons[i].a, "consumer"),
                      LFC_CLOSED);
        check_errno_kept("consumer", &f.cons[i]);
        handled += load_ul(&f.cons[i].delivered);
        sent += load_ul(&f.cons[i].sent);
    }
    int bad = __atomic_load_n(&f.bad, __ATOMIC_RELAXED);
    if (bad != 0)
        fail_msg("flow: a helper failed with code %d", bad);
    for (long j = 0; j < PRODUCERS * f.per_producer; j++)
        if (f.seen[j] != 1)
            fail_msg("flow: value %ld of producer %ld received %d times",
                     j % f.per_producer, j / f.per_producer, f.seen[j]);
    if (flow_storm_count(&f) == 0)
        fail_msg("flow: no signal reached the consumers");
    g_flow_sent += sent;
    if (report_on())
        fprintf(stderr,
                "  flow cap %zu: %ld values, signals sent %lu, "
                "handled %lu\n",
                cap, PRODUCERS * f.per_producer, sent, handled);
    free(f.seen);
    lfc_chan_free(f.ch);
}

static void
test_flow_buffered(void **state)
{
    const struct tcase *tc = *state;
    run_flow(tc->v, 4);
}

static void
test_flow_unbuffered(void **state)
{
    const struct tcase *tc = *state;
    run_flow(tc->v, 0);
}

/* ---- the CPU check can fail ------------------------------------------- */

/*
 * A waiter with the defect the CPU check is for: after every return from
 * its futex wait (each signal), it spins a full g_spin_limit budget
 * before sleeping again. The check must flag it.
 */
static uint32_t respin_word; /* 0 until released (atomic) */

enum { RESPIN_GOAL = 300 }; /* signals the respinner takes */

static int
call_respinner(struct op *op)
{
    (void)op;
    /* Woken by the release's futex wake, or by each signal (EINTR). */
    while (__atomic_load_n(&respin_word, __ATOMIC_ACQUIRE) == 0) {
        for (int i = 0; i < g_spin_limit; i++) {
            if (__atomic_load_n(&respin_word, __ATOMIC_ACQUIRE) != 0)
                return LFC_OK;
            lfc_cpu_relax(); /* as the library's spin polls */
        }
        lfc_test_futex_wait(&respin_word, 0, INT64_MAX);
    }
    return LFC_OK;
}

static void
test_signals_cpu_check_catches_respin(void **state)
{
    const struct tcase *tc = *state;
    struct op op;
    struct op *ops[1] = {&op};
    struct storm st;
    memset(&op, 0, sizeof(op));
    __atomic_store_n(&respin_word, 0, __ATOMIC_RELEASE);
    op_start(&op, call_respinner);
    assert_true(await_asleep(&op, "respinner"));
    int64_t c0 = op_cpu_ns(&op);
    storm_start(&st, ops, 1, tc->v);
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    /* Not scaled: under a sanitizer the allowances are three times
     * larger, and the fixed one must stay well below what the spins
     * cost. Woken by nothing: polls the count. */
    while (load_ul(&op.delivered_in_call) < RESPIN_GOAL && lfc_now_ns() < end)
        lfc_test_sleep_ns(500 * US);
    storm_stop(&st);
    int64_t cpu = op_cpu_ns(&op) - c0;
    unsigned long sent = load_ul(&op.sent);
    __atomic_store_n(&respin_word, 1, __ATOMIC_RELEASE);
    lfc_test_futex_wake(&respin_word, 1);
    assert_status(lfc_test_async_join(&op.a, "respinner"), LFC_OK);
    if (report_on())
        fprintf(stderr, "  respinner: sent %lu handled %lu cpu %lld us\n", sent,
                load_ul(&op.delivered_in_call), (long long)(cpu / US));
    if (cpu_within_allowance(cpu, sent))
        fail_msg("the CPU check missed a waiter that spins after each "
                 "signal: %lld us over %lu signals",
                 (long long)(cpu / US), sent);
}

/* ---- set-up and main -------------------------------------------------- */

static int
setup_variant(void **state)
{
    const struct tcase *tc = *state;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = storm_handler;
    sa.sa_flags = tc->v->flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(tc->v->sig, &sa, NULL) != 0)
        return -1;
    lfc_spin_set_limit(g_spin_limit);
    return 0;
}

static int
teardown_variant(void **state)
{
    const struct tcase *tc = *state;
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    signal(tc->v->sig, SIG_IGN); /* a late signal is harmless */
    return 0;
}

enum { NEXTRA = 2, MAXTESTS = (NKINDS + NEXTRA) * NVARIANTS + 1 };

int
main(void)
{
    static struct tcase tcases[MAXTESTS];
    static struct CMUnitTest tests[MAXTESTS];
    int n = 0;

    lfc_test_alarm(LFC_TEST_ALARM_S);
    variants[1].sig = SIGRTMIN + 4;
    calibrate_spin_limit();
    for (int v = 0; v < NVARIANTS; v++) {
        for (int k = 0; k < NKINDS + NEXTRA; k++) {
            struct tcase *tc = &tcases[n];
            tc->v = &variants[v];
            void (*fn)(void **) = test_kind;
            if (k < NKINDS) {
                tc->k = &kinds[k];
                snprintf(tc->name, sizeof(tc->name), "storm_%s_%s",
                         kinds[k].name, variants[v].name);
            } else {
                fn = k == NKINDS ? test_flow_buffered : test_flow_unbuffered;
                snprintf(tc->name, sizeof(tc->name), "storm_flow_%s_%s",
                         k == NKINDS ? "buffered" : "unbuffered",
                         variants[v].name);
            }
            tests[n] = (struct CMUnitTest){tc->name, fn, setup_variant,
                                           teardown_variant, tc};
            n++;
        }
    }
    /* The respinner must see EINTR: the real-time set-up, and not under
     * TSan with a restarting handler (it has none here anyway). */
    tcases[n].v = &variants[1];
    snprintf(tcases[n].name, sizeof(tcases[n].name),
             "cpu_check_catches_respin");
    tests[n] = (struct CMUnitTest){tcases[n].name,
                                   test_signals_cpu_check_catches_respin,
                                   setup_variant, teardown_variant, &tcases[n]};
    n++;

    if (getenv("LFC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LFC_TEST_FILTER"));
    if (getenv("LFC_TEST_SKIP") != NULL)
        cmocka_set_skip_filter(getenv("LFC_TEST_SKIP"));
    int failed =
        _cmocka_run_group_tests("signals", tests, (size_t)n, NULL, NULL);
    fprintf(
        stderr,
        "signals: spin limit %d polls; %lu signals sent (%.0f/s), %lu handled "
        "inside blocked calls "
        "(%lu handled in all), blocked threads' CPU %lld us in all, "
        "at most %.1f us a signal, at most %.0f%% of an allowance; "
        "%lu more sent in the flow cases\n",
        g_spin_limit, g_total_sent,
        g_total_storm_ns > 0
            ? (double)g_total_sent * 1e9 / (double)g_total_storm_ns
            : 0.0,
        g_total_in_call, load_ul(&g_delivered),
        (long long)(g_total_cpu_ns / US),
        (double)g_max_cpu_per_signal_ns / 1000.0, 100.0 * g_max_allowance_used,
        g_flow_sent);
    return failed;
}
