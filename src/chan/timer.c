/* SPDX-License-Identifier: MIT */
/*
 * Timers: one shared timer thread over a binary min-heap.
 * Depends on: chan (the timer channels: lfc__chan_release, owned channels,
 * the dtor and owner word of lfc_after channels), lfc_park.h (the clock).
 *
 * Design
 * ------
 * Pending timers sit in a binary min-heap keyed by (deadline, seq), where
 * seq is a creation counter that makes equal deadlines fire in creation
 * order. Each timer records its heap index, so stopping one is an
 * O(log n) removal from the middle (the indexed priority queue of CLRS
 * chapter 6; Go's runtime/time.go does the same with a 4-ary heap). One
 * thread serves the heap: it sleeps on a condition variable clocked by
 * CLOCK_MONOTONIC until the earliest deadline, pops every timer that is
 * due and fires it.
 * A plain mutex guards everything: the timer thread is not a hot path,
 * and one lock makes "stop versus fire" trivial to reason about.
 *
 * Two kinds of timer share the heap:
 *   - channel timers (lfc_after, lfc_timer_after, lfc_tick) send
 *     lfc_now_ns() with lfc__chan_owner_try_send on their capacity-1
 *     channel. The send never blocks, so it is done under the lock: once
 *     lfc_timer_stop (or an lfc_after channel's dtor) has taken the lock,
 *     the thread is not inside that timer and never will be again.
 *   - callback timers (lfc_timer_internal.h, used by ctx deadlines) run
 *     fn(arg) outside the lock, because fn cancels contexts, which stops
 *     other timers and takes context locks. The thread reads fn and arg
 *     under the lock and never touches the timer afterwards; the owner
 *     keeps arg alive through a reference the timer holds (see the
 *     internal header).
 *
 * Tickers: a fired ticker is pushed back with the first deadline on its
 * period grid (t->when + k * period) that lies strictly after a clock
 * read taken after the firing, or at least TICK_MIN_NS after it when the
 * period is shorter; the periods in between are the "missed" ones the
 * header says are skipped. That alone does not bound the thread's time
 * under the lock (descheduled after the re-arm, it may find the ticker due
 * again), so a ticker also records the pass (tm.pass, bumped by every
 * wait_until) in which it last fired, and is not fired again in the same
 * pass: the thread goes through wait_until first, which releases tm.mu
 * even when the wait is already over. Between two firings of one ticker
 * the lock is therefore always released, and for a period under
 * TICK_MIN_NS the thread really sleeps for about TICK_MIN_NS, so a 1 ns
 * ticker costs a wake-up every ~50 us instead of holding the lock for
 * good.
 *
 * Who owns what:
 *   - lfc_timer_after, lfc_tick: the handle owns the timer and holds the
 *     reference lfc_chan_new returned on its channel, a library-owned one
 *     (receive-only for users, no dtor). lfc_timer_free stops the timer
 *     under tm.mu, then drops that reference; users' lfc_chan_dup
 *     references keep the channel (not the timer) alive after it.
 *   - lfc_after: the channel is an ordinary one and the caller's; the
 *     module holds no reference to it (as Go 1.23 does, so that dropping
 *     the channel drops the timer). Instead the channel's dtor is
 *     after_dtor and its owner word (lfc__chan_owner_data) points to the
 *     timer while, and only while, the timer is queued; both are set by
 *     lfc_after before it returns (the word under tm.mu, in the critical
 *     section that queues the timer). The thread fires it under tm.mu,
 *     then clears the word and frees the timer. The channel's last
 *     release (lfc_chan_free of the last reference, on any thread) runs
 *     after_dtor before the memory goes; after_dtor takes tm.mu and, if
 *     the word is still set, dequeues and frees the timer. The
 *     interleavings:
 *       - fire vs last free: the release's count drop may come while the
 *         thread is inside the send; the memory is still there, because
 *         it is freed only after after_dtor returns, and after_dtor waits
 *         for tm.mu, which the thread holds until it has sent, cleared
 *         the word and freed the timer. after_dtor then finds NULL. The
 *         thread's accesses happen-before the free through tm.mu.
 *         Conversely, if after_dtor takes tm.mu first, the timer leaves
 *         the heap before the thread can pop it, and nothing else points
 *         to it.
 *       - lfc_chan_dup: more references only move the last release (and
 *         so after_dtor) later; until then the timer fires normally into
 *         the live channel, where whoever holds a reference receives it.
 *       - the user sends to or closes the channel: the timer's try_send
 *         gets LFC_AGAIN or LFC_CLOSED, ignored; the timer is freed as
 *         after any firing.
 *       - lfc_after is one-shot only, so "fired" means "gone": the word
 *         is cleared exactly when the timer leaves the heap, whether by
 *         firing or by after_dtor.
 *       - deadlock: after_dtor takes tm.mu, so no channel with it may be
 *         released under tm.mu; the module never releases an lfc_after
 *         channel at all (it has no reference), and callback fns, which
 *         may free anything, run outside tm.mu.
 *       - lfc_after failing to arm: the word stays NULL; lfc_after frees
 *         the timer and then the channel, whose after_dtor finds NULL.
 *   - callback timers: the owner (ctx) owns the timer; see
 *     lfc_timer_internal.h.
 *
 * Lifetime of the thread: started lazily by the first arm; when the heap
 * has been empty for LINGER_NS the thread marks itself gone (under the
 * lock) and returns. The next arm, seeing no thread, starts a new one.
 * Threads are created detached: an exited thread needs no join, so
 * neither the sanitizers nor /proc/self/task see anything left behind,
 * and there is no "exited but not yet joined" state to track. Start and
 * exit decisions are both made under the lock, so exactly one thread
 * serves the heap whenever it is non-empty: a timer armed while the old
 * thread is deciding to exit either lands before that decision (the
 * thread sees a non-empty heap and stays) or after it (running is false
 * and the arm starts a new thread).
 *
 * fork: tm_init registers pthread_atfork handlers. Prepare takes tm.mu,
 * so no thread is inside the module when the address space is copied and
 * the child's copy of the heap is consistent; the parent handler releases
 * it. In the child only the forking thread exists: there is no timer
 * thread, whatever tm.running says, and tm.cv may count the parent's
 * thread as a waiter. The child handler sets tm.running = false, makes
 * tm.cv afresh and releases tm.mu (held by this very thread since
 * prepare). The heap is kept: the parent's timers were copied with the
 * rest of memory, their channels and contexts are the child's copies, so
 * (as a Go programmer would expect) they still fire in the child, for
 * the child. But a thread may not be started inside an atfork child
 * handler of a multithreaded process, so the thread is restarted lazily:
 * the child's next arm (lfc_after, lfc_timer_after, lfc_tick, a context
 * deadline) finds tm.running false and starts one, which serves the whole
 * heap, inherited timers included. Until then inherited timers do not
 * fire. A callback that was running on the parent's timer thread at the
 * fork (outside tm.mu) does not run in the child; its timer had already
 * left the heap.
 *
 * Invariants (all under tm.mu):
 *   - t->idx is t's index in tm.heap, or NOT_QUEUED; tm.heap[t->idx] == t.
 *   - The heap property holds on (when, seq).
 *   - A ticker with t->pass == tm.pass has fired since the thread last
 *     returned from wait_until; the thread does not fire it again before
 *     it has been through wait_until (and so released tm.mu) once more.
 *   - tm.running is true from the start of a thread until it decides to
 *     exit, which it does only with an empty heap; so a non-empty heap
 *     always has a thread that will look at it. The one exception is a
 *     forked child before its first arm (see fork above): tm.running is
 *     false, the heap may hold the parent's timers, and the first arm
 *     starts the thread.
 *   - An lfc_after timer t (t->after) is referenced only by the heap and
 *     by its channel's owner word, and *lfc__chan_owner_data(t->ch) == t
 *     exactly while t->idx != NOT_QUEUED; whoever takes it out of the
 *     heap (the thread after firing it, or after_dtor) clears the word
 *     and frees t in the same critical section. Its channel is alive
 *     while the word is set (its last release runs after_dtor, which
 *     takes tm.mu first). The module holds no reference to it.
 *
 * Field table (no atomics: every shared field is under tm.mu):
 *   | field            | written by                 | read by       |
 *   |------------------|----------------------------|---------------|
 *   | tm.heap/len/cap  | arm, stop, after_dtor,     | same          |
 *   |                  | timer thread               |               |
 *   | tm.seq           | arm, thread (ticker)       | same          |
 *   | tm.pass          | thread (wait_until)        | thread        |
 *   | tm.running       | arm (start), thread (exit),| arm, thread   |
 *   |                  | fork child handler         |               |
 *   | t->when, t->seq  | arm, thread (ticker)       | heap ops      |
 *   | t->idx           | heap ops                   | stop, thread  |
 *   | t->pass          | thread (ticker fired)      | thread        |
 *   | t->ch, period,   | constructor (read-only)    | thread, owner |
 *   | fn, arg, after   |                            |               |
 *   | lfc_after chan's | lfc_after (set), thread    | after_dtor,   |
 *   | owner word       | and after_dtor (clear)     | thread        |
 *
 * Wake-up argument: the thread reads the heap and goes to sleep on tm.cv
 * in one critical section (pthread_cond_timedwait releases tm.mu
 * atomically), with a timeout equal to the earliest deadline (or the end
 * of its idle linger). Every change that can move the earliest
 * deadline earlier (a push that lands at index 0) or empty the heap (a
 * removal from index 0) signals tm.cv under the lock, so the thread either
 * sees the change before waiting or is woken by the signal. A removal that
 * leaves a later earliest deadline needs no signal: the thread wakes at
 * the old deadline, finds nothing due and sleeps again. Timeouts and
 * spurious wake-ups only lead to re-reading the heap, and a timer fires
 * only once lfc__now_ns() >= when, so nothing fires early.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "lfchan/chan.h"
#include "lfchan/timer.h"
#include "lfc_chan_internal.h"
#include "lfc_common.h"
#include "lfc_park.h"
#include "lfc_timer_internal.h"

/* How long the thread waits with an empty heap before exiting. */
#define LINGER_NS ((int64_t)250 * 1000 * 1000)

/* The least a ticker with a shorter period waits between two ticks: about
 * the default timer slack of a Linux thread, below which its sleeps do not
 * resolve anyway. */
#define TICK_MIN_NS ((int64_t)50 * 1000)

#define NOT_QUEUED SIZE_MAX

struct lfc_timer {
    int64_t when;     /* deadline; arm, timer thread (ticker); tm.mu */
    uint64_t seq;     /* tie-break; arm, timer thread; tm.mu */
    size_t idx;       /* heap index or NOT_QUEUED; heap ops; tm.mu */
    uint64_t pass;    /* ticker: tm.pass when it last fired; thread; mu */
    int64_t period;   /* ticker period, 0 for one-shot; read-only */
    lfc_chan *ch;     /* channel timers: the channel; read-only */
    lfc__timer_fn fn; /* callback timers: what to run; read-only */
    void *arg;        /* fn's argument; read-only */
    bool after;       /* lfc_after: its channel's owner word; read-only */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* the thread sleeps here; CLOCK_MONOTONIC */
    struct lfc_timer **heap; /* min-heap on (when, seq); arm, stop, thread */
    size_t len;              /* arm, stop, thread; under mu */
    size_t cap;              /* arm (grow), thread (free on exit); mu */
    uint64_t seq;            /* next creation number; arm, thread; mu */
    uint64_t pass;           /* the thread's waits so far, +1; thread; mu */
    bool running;            /* arm (start), thread (exit); under mu */
} tm = {.mu = PTHREAD_MUTEX_INITIALIZER, .pass = 1};

static pthread_once_t tm_once = PTHREAD_ONCE_INIT;
/* Set by tm_init (and by the fork child handler, in the child's only
 * thread); read after pthread_once. */
static int tm_init_err;

static void
lock(void)
{
    if (pthread_mutex_lock(&tm.mu) != 0)
        LFC_PANIC("pthread_mutex_lock failed");
}

static void
unlock(void)
{
    if (pthread_mutex_unlock(&tm.mu) != 0)
        LFC_PANIC("pthread_mutex_unlock failed");
}

/* (Re)initialize tm.cv on CLOCK_MONOTONIC; false if that failed. */
static bool
cv_init(void)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return false;
    if (pthread_condattr_setclock(&a, CLOCK_MONOTONIC) != 0)
        LFC_PANIC("pthread_condattr_setclock(CLOCK_MONOTONIC) failed");
    bool ok = pthread_cond_init(&tm.cv, &a) == 0;
    pthread_condattr_destroy(&a);
    return ok;
}

/* fork(), see the design comment: the forking thread holds tm.mu across
 * the fork, so the child's copy of the module is consistent. */
static void
tm_fork_prepare(void)
{
    lock();
}

static void
tm_fork_parent(void)
{
    unlock();
}

static void
tm_fork_child(void)
{
    /* This thread, the child's only one, holds tm.mu (prepare took it):
     * releasing it is POSIX's way. tm.cv may count the parent's timer
     * thread as a waiter, which does not exist here (a signal could block
     * or be lost on it): made afresh. No thread serves the heap; the
     * queued timers stay, and the next arm starts a thread for them
     * (starting one here is not allowed after a multithreaded fork). */
    tm.running = false;
    if (!cv_init())
        tm_init_err = ENOMEM;
    unlock();
}

static void
tm_init(void)
{
    if (!cv_init() ||
        pthread_atfork(tm_fork_prepare, tm_fork_parent, tm_fork_child) != 0)
        tm_init_err = ENOMEM;
}

/* ---- the heap (all under tm.mu) --------------------------------------- */

static bool
before(const struct lfc_timer *a, const struct lfc_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void
heap_set(size_t i, struct lfc_timer *t)
{
    tm.heap[i] = t;
    t->idx = i;
}

static void
sift_up(size_t i)
{
    struct lfc_timer *t = tm.heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(t, tm.heap[p]))
            break;
        heap_set(i, tm.heap[p]);
        i = p;
    }
    heap_set(i, t);
}

static void
sift_down(size_t i)
{
    struct lfc_timer *t = tm.heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= tm.len)
            break;
        if (c + 1 < tm.len && before(tm.heap[c + 1], tm.heap[c]))
            c++;
        if (!before(tm.heap[c], t))
            break;
        heap_set(i, tm.heap[c]);
        i = c;
    }
    heap_set(i, t);
}

/* Room for one more; false if the array cannot grow. */
static bool
heap_reserve(void)
{
    if (tm.len < tm.cap)
        return true;
    size_t cap = tm.cap ? tm.cap * 2 : 16;
    if (cap > SIZE_MAX / sizeof(*tm.heap))
        return false;
    struct lfc_timer **h = realloc(tm.heap, cap * sizeof(*h));
    if (!h)
        return false;
    tm.heap = h;
    tm.cap = cap;
    return true;
}

/* Push t (room reserved); wakes the thread if t is the new earliest. */
static void
heap_push(struct lfc_timer *t)
{
    size_t i = tm.len++;
    heap_set(i, t);
    sift_up(i);
    if (t->idx == 0)
        pthread_cond_signal(&tm.cv);
}

/* Remove a queued t; wakes the thread if t was the earliest (the heap may
 * now be empty, which starts the thread's linger). */
static void
heap_remove(struct lfc_timer *t)
{
    size_t i = t->idx;
    LFC_ASSERT(i < tm.len && tm.heap[i] == t);
    t->idx = NOT_QUEUED;
    struct lfc_timer *last = tm.heap[--tm.len];
    if (i < tm.len) {
        heap_set(i, last);
        if (i > 0 && before(last, tm.heap[(i - 1) / 2]))
            sift_up(i);
        else
            sift_down(i);
    }
    if (i == 0)
        pthread_cond_signal(&tm.cv);
}

/* ---- the thread --------------------------------------------------------- */

/* Wait on tm.cv until deadline_ns (LFC_FOREVER: no timeout), releasing
 * tm.mu meanwhile, even when the deadline has already passed (POSIX: the
 * timed wait then "shall nonetheless release and re-acquire the mutex");
 * a new pass of the thread begins. */
static void
wait_until(int64_t deadline_ns)
{
    if (deadline_ns == LFC_FOREVER) {
        pthread_cond_wait(&tm.cv, &tm.mu);
    } else {
        struct timespec ts = {(time_t)(deadline_ns / 1000000000),
                              (long)(deadline_ns % 1000000000)};
        /* ETIMEDOUT and spurious returns alike: the caller re-reads the
         * heap. */
        pthread_cond_timedwait(&tm.cv, &tm.mu, &ts);
    }
    tm.pass++;
}

/* The next deadline of a ticker that was due at t->when and has just been
 * fired, `after` being a clock read taken after the firing (so after >=
 * t->when): the first whole period past t->when that lies strictly after
 * `after`, or, for a period under TICK_MIN_NS, at least TICK_MIN_NS after
 * it. Periods skipped over are the missed ones. LFC_FOREVER on overflow. */
static int64_t
next_tick(const struct lfc_timer *t, int64_t after)
{
    int64_t floor = after;
    if (t->period < TICK_MIN_NS &&
        __builtin_add_overflow(after, TICK_MIN_NS, &floor))
        return LFC_FOREVER;
    if (floor < t->when)
        floor = t->when; /* not reached: after >= t->when */
    /* The least k >= 1 with t->when + k * period > floor. */
    int64_t k = (floor - t->when) / t->period + 1;
    int64_t add;
    int64_t next;
    if (__builtin_mul_overflow(k, t->period, &add) ||
        __builtin_add_overflow(t->when, add, &next))
        return LFC_FOREVER;
    return next;
}

/* Fire a channel timer popped from the heap, under tm.mu. */
static void
fire_send(struct lfc_timer *t, int64_t now)
{
    int64_t v = now;
    /* Never blocks (capacity 1, buffered). LFC_AGAIN drops a tick nobody
     * has read yet (or, for lfc_after, a value the user sent first);
     * LFC_CLOSED (the user closed an lfc_after channel) is ignored. The
     * channel is alive: an lfc_after channel's last release runs
     * after_dtor, which needs tm.mu first; a handle's channel is held by
     * the handle until lfc_timer_free, which stops t under tm.mu first. */
    (void)lfc__chan_owner_try_send(t->ch, &v);
    if (t->period > 0) {
        /* Re-armed from a clock read taken now, after the send: strictly
         * in the future (see timer_main for why that is not enough on its
         * own, and what is). */
        t->when = next_tick(t, lfc__now_ns());
        t->pass = tm.pass;
        t->seq = tm.seq++;
        /* Room is there: t's own slot was just freed by the pop. */
        heap_push(t);
    } else if (t->after) {
        /* Out of the heap and out of the owner word: nothing reaches t. */
        *lfc__chan_owner_data(t->ch) = NULL;
        free(t);
    }
}

/* Remove and return the earliest timer. */
static struct lfc_timer *
heap_pop(void)
{
    struct lfc_timer *t = tm.heap[0];
    heap_remove(t);
    return t;
}

static void *
timer_main(void *unused)
{
    (void)unused;
    lock();
    int64_t idle_since = lfc__now_ns();
    for (;;) {
        int64_t now = lfc__now_ns();
        if (tm.len == 0) {
            if (now - idle_since >= LINGER_NS) {
                /* Decided under the lock: the next arm starts a thread. */
                tm.running = false;
                free(tm.heap);
                tm.heap = NULL;
                tm.cap = 0;
                break;
            }
            wait_until(idle_since + LINGER_NS);
            continue;
        }
        struct lfc_timer *t = tm.heap[0];
        /* A ticker that fired in this pass waits for the next one even if
         * it is due again (a short period, or this thread was descheduled
         * after re-arming it): so between two firings of one ticker the
         * thread always passes through wait_until, which releases tm.mu,
         * and an always-due ticker cannot keep everyone else out. When
         * it is due the wait returns at once. */
        if (t->when > now || (t->period > 0 && t->pass == tm.pass)) {
            wait_until(t->when);
            idle_since = lfc__now_ns();
            continue;
        }
        heap_pop();
        if (t->fn) {
            /* Read fn and arg now: after unlock t may be freed by fn. */
            lfc__timer_fn fn = t->fn;
            void *arg = t->arg;
            unlock();
            fn(arg);
            lock();
        } else {
            fire_send(t, now);
        }
        idle_since = lfc__now_ns();
    }
    unlock();
    return NULL;
}

/* Start the thread if none serves the heap; under tm.mu. */
static int
ensure_thread(void)
{
    if (tm.running)
        return LFC_OK;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return LFC_ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The thread inherits our signal mask: block everything for it, so
     * process-directed signals go to the application's threads. */
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, &attr, timer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return LFC_ENOMEM;
    /* Named here rather than by the thread itself, so the name is in place
     * when the arm returns. th is valid: the thread cannot exit before it
     * takes tm.mu, which we hold. Failure only costs the name. */
    pthread_setname_np(th, "lfc-timer");
    tm.running = true;
    return LFC_OK;
}

/* ---- arming and stopping ---------------------------------------------- */

/* The module's one-time setup; LFC_OK or LFC_ENOMEM. */
static int
tm_ready(void)
{
    pthread_once(&tm_once, tm_init);
    return tm_init_err ? LFC_ENOMEM : LFC_OK;
}

/* Queue t at deadline_ns; under tm.mu, after tm_ready. LFC_OK, or
 * LFC_ENOMEM with t not queued. */
static int
arm_locked(lfc_timer *t, int64_t deadline_ns)
{
    LFC_ASSERT(t->idx == NOT_QUEUED);
    if (!heap_reserve())
        return LFC_ENOMEM;
    int r = ensure_thread();
    if (r != LFC_OK)
        return r;
    t->when = deadline_ns;
    t->seq = tm.seq++;
    heap_push(t);
    return LFC_OK;
}

int
lfc__timer_arm(lfc_timer *t, int64_t deadline_ns)
{
    int r = tm_ready();
    if (r != LFC_OK)
        return r;
    lock();
    r = arm_locked(t, deadline_ns);
    unlock();
    return r;
}

bool
lfc__timer_stop(lfc_timer *t)
{
    /* Nothing is queued before the setup succeeded (arming needs it), and
     * tm.mu must not be taken before the fork handlers that guard it are
     * registered: a fork then could leave the child's copy locked. */
    if (tm_ready() != LFC_OK)
        return false;
    lock();
    bool queued = t->idx != NOT_QUEUED;
    if (queued)
        heap_remove(t);
    unlock();
    return queued;
}

static lfc_timer *
timer_alloc(void)
{
    lfc_timer *t = calloc(1, sizeof(*t));
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->idx = NOT_QUEUED;
    return t;
}

lfc_timer *
lfc__timer_new_fn(lfc__timer_fn fn, void *arg)
{
    lfc_timer *t = timer_alloc();
    if (t) {
        t->fn = fn;
        t->arg = arg;
    }
    return t;
}

size_t
lfc__timer_pending(void)
{
    if (tm_ready() != LFC_OK)
        return 0; /* as in lfc__timer_stop() */
    lock();
    size_t n = tm.len;
    unlock();
    return n;
}

void
lfc__timer_destroy(lfc_timer *t)
{
    if (!t)
        return;
    LFC_ASSERT(t->idx == NOT_QUEUED);
    free(t);
}

/* lfc_now_ns() + ns, saturating; ns <= 0 means now. */
static int64_t
deadline_after(int64_t ns)
{
    int64_t now = lfc__now_ns();
    if (ns <= 0)
        return now;
    int64_t d;
    if (__builtin_add_overflow(now, ns, &d))
        return LFC_FOREVER;
    return d;
}

/* A user-owned channel timer (lfc_timer_after, lfc_tick), armed; NULL +
 * errno ENOMEM on failure. The handle's reference is the channel's only
 * one: the thread sends under tm.mu, so after lfc_timer_stop it is done
 * with the channel and lfc_timer_free may release it. */
static lfc_timer *
chan_timer_new(int64_t deadline_ns, int64_t period_ns)
{
    lfc_timer *t = timer_alloc();
    if (!t)
        return NULL;
    t->ch = lfc_chan_new(1, sizeof(int64_t));
    if (!t->ch)
        goto out_free_timer;
    lfc__chan_make_owned(t->ch, NULL); /* receive-only for users */
    t->period = period_ns;
    if (lfc__timer_arm(t, deadline_ns) != LFC_OK)
        goto out_free_chan;
    return t;

out_free_chan:
    lfc__chan_release(t->ch);
out_free_timer:
    free(t);
    errno = ENOMEM;
    return NULL;
}

/* ---- public API ------------------------------------------------------- */

/*
 * The dtor of an lfc_after channel, run by its last release (on whichever
 * thread drops it) before the memory goes: a timer still queued for it is
 * dequeued and freed. Never called with tm.mu held: the module holds no
 * reference to these channels, so it never releases one.
 */
static void
after_dtor(lfc_chan *ch)
{
    lock();
    void **word = lfc__chan_owner_data(ch);
    lfc_timer *t = *word;
    if (t) {
        /* Non-NULL only while t is queued (see the invariants). Removing
         * the earliest signals the thread, so an emptied heap starts its
         * linger. */
        heap_remove(t);
        *word = NULL;
        free(t);
    }
    unlock();
}

lfc_chan *
lfc_after(int64_t ns)
{
    int64_t deadline = deadline_after(ns);
    lfc_timer *t = timer_alloc();
    if (!t)
        return NULL;
    lfc_chan *ch = lfc_chan_new(1, sizeof(int64_t));
    if (!ch) {
        free(t);
        errno = ENOMEM;
        return NULL;
    }
    t->ch = ch;
    t->after = true;
    int r = tm_ready();
    if (r == LFC_OK) {
        /* Before ch is shared; and only now, as after_dtor takes tm.mu
         * (see lfc__timer_stop()). */
        lfc__chan_set_dtor(ch, after_dtor);
        lock();
        r = arm_locked(t, deadline);
        if (r == LFC_OK)
            *lfc__chan_owner_data(ch) = t; /* before the thread can fire */
        unlock();
    }
    if (r != LFC_OK) {
        free(t);
        lfc_chan_free(ch); /* after_dtor, if set, finds the word NULL */
        errno = ENOMEM;
        return NULL;
    }
    /* From here on t is the timer module's, and may be fired and freed
     * already: only ch is used. */
    return ch;
}

lfc_timer *
lfc_timer_after(int64_t ns)
{
    return chan_timer_new(deadline_after(ns), 0);
}

lfc_timer *
lfc_tick(int64_t period_ns)
{
    if (period_ns <= 0) {
        errno = EINVAL;
        return NULL;
    }
    return chan_timer_new(deadline_after(period_ns), period_ns);
}

lfc_chan *
lfc_timer_chan(lfc_timer *t)
{
    return t ? t->ch : NULL;
}

bool
lfc_timer_stop(lfc_timer *t)
{
    if (!t)
        return false;
    return lfc__timer_stop(t);
}

void
lfc_timer_free(lfc_timer *t)
{
    if (!t)
        return;
    lfc__timer_stop(t);
    lfc__chan_release(t->ch); /* ours; users' dups keep it alive */
    free(t);
}
