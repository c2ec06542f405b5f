/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lfchan timers across fork() (include/lfchan/timer.h,
 * "fork"): a child forked after the parent used timers has working
 * timers of its own, and keeps the ones queued at the fork; forking while
 * another thread is inside timer calls leaves the child a usable module.
 *
 * Each child runs a short timer scenario under its own alarm() and
 * reports through its exit status; the parent waits for it with a
 * timeout of its own (and kills it if it hangs), so a child that hangs
 * fails the test instead of hanging it. Nothing here asserts on timing
 * beyond "never early" and "eventually, within a generous bound".
 *
 * A separate binary from test_timer because ThreadSanitizer must be told
 * (below) to let a child start threads after a multithreaded fork.
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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lfc_test_support.h"
#include "lfc_timer_internal.h"
#include "lfchan.h"

#define MS ((int64_t)1000000)
#define SEC ((int64_t)1000000000)

/* A child's own limit (alarm), and how long the parent waits for it. */
#define CHILD_ALARM_S 20
#define CHILD_WAIT_NS (60 * SEC)

#if defined(__SANITIZE_THREAD__)
/* TSan kills, by default, a child that starts a thread after a fork of a
 * multithreaded process ("starting new threads after multi-threaded fork
 * is not supported"); restarting the timer thread there is what is
 * tested. TSAN_OPTIONS from the environment still override this. */
const char *__tsan_default_options(void);
const char *
__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

/* Exit statuses of the children: 0 is a pass. */
enum {
    CHILD_OK = 0,
    CHILD_NO_TIMER = 10,   /* lfc_after returned NULL */
    CHILD_RECV_FAILED,     /* the receive did not return LFC_OK */
    CHILD_EARLY,           /* a value before its deadline */
    CHILD_PARENT_TIMER,    /* a timer queued before the fork misbehaved */
};

static const char *
child_status_name(int code)
{
    switch (code) {
    case CHILD_NO_TIMER:
        return "lfc_after returned NULL";
    case CHILD_RECV_FAILED:
        return "a receive failed";
    case CHILD_EARLY:
        return "a timer fired early";
    case CHILD_PARENT_TIMER:
        return "a timer queued before the fork misbehaved";
    default:
        return "unknown";
    }
}

/* In the child: a fresh 10 ms lfc_after arrives, not early. */
static int
child_after_10ms(void)
{
    int64_t start = lfc_now_ns();
    lfc_chan *ch = lfc_after(10 * MS);
    if (!ch)
        return CHILD_NO_TIMER;
    int64_t v = 0;
    int r = lfc_recv(ch, &v);
    lfc_chan_free(ch);
    if (r != LFC_OK)
        return CHILD_RECV_FAILED;
    if (v < start + 10 * MS || lfc_now_ns() < start + 10 * MS)
        return CHILD_EARLY;
    return CHILD_OK;
}

/* What a child inherits from the parent, for child_main. */
struct inherited {
    lfc_chan *after;    /* lfc_after due at after_due, or NULL */
    int64_t after_due;  /* lower bound of its deadline */
    lfc_timer *tick;    /* a running ticker, or NULL */
    lfc_timer *far;     /* a one-hour timer, or NULL */
};

static int
child_main(const struct inherited *in)
{
    /* The parent's SIGALRM handler and alarm are the parent's business:
     * the child's limit kills it by the default action. */
    signal(SIGALRM, SIG_DFL);
    alarm(CHILD_ALARM_S);
    int code = child_after_10ms();
    if (code != CHILD_OK)
        return code;
    if (!in)
        return CHILD_OK;
    /* Timers queued at the fork fire in the child too (the thread the
     * child's own lfc_after restarted serves them). */
    int64_t v;
    if (in->after) {
        if (lfc_recv(in->after, &v) != LFC_OK || v < in->after_due)
            return CHILD_PARENT_TIMER;
        lfc_chan_free(in->after);
    }
    if (in->tick) {
        int64_t prev = 0;
        for (int i = 0; i < 2; i++) {
            if (lfc_recv(lfc_timer_chan(in->tick), &v) != LFC_OK || v <= prev)
                return CHILD_PARENT_TIMER;
            prev = v;
        }
        lfc_timer_free(in->tick);
    }
    if (in->far) {
        if (!lfc_timer_stop(in->far))
            return CHILD_PARENT_TIMER;
        lfc_timer_free(in->far);
    }
    return CHILD_OK;
}

/* Forks a child that runs child_main(in) and _exits with its result;
 * returns its wait status, or -1 if it had not exited after
 * CHILD_WAIT_NS (it is then killed and reaped). */
static int
run_child(const struct inherited *in)
{
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_main(in)); /* no atexit handlers, no leak check */
    int64_t end = lfc_test_now_ns() + CHILD_WAIT_NS;
    int st = 0;
    /* Polls waitpid every 2 ms: nothing wakes us when the child exits
     * (SIGCHLD is not used), so the poll is the wake-up. */
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        assert_true(r == 0 || (r < 0 && errno == EINTR));
        if (lfc_test_now_ns() > end) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            return -1;
        }
        lfc_test_sleep_ns(2 * MS);
    }
}

static void
assert_child_passed(int st)
{
    if (st == -1)
        fail_msg("the child hung (killed after %lld s)",
                 (long long)(CHILD_WAIT_NS / SEC));
    if (WIFSIGNALED(st))
        fail_msg("the child died of signal %d (%s)%s", WTERMSIG(st),
                 strsignal(WTERMSIG(st)),
                 WTERMSIG(st) == SIGALRM ? ": its timers hung" : "");
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("the child exited %d: %s", WEXITSTATUS(st),
                 child_status_name(WEXITSTATUS(st)));
}

/* ---- tests ---------------------------------------------------------- */

static void
test_timer_fork_child_timers_work(void **state)
{
    (void)state;
    /* The parent's timer thread is running, and stays (the far timer),
     * when the child is forked; timers of every kind are queued. */
    int64_t start = lfc_now_ns();
    lfc_chan *warm = lfc_after(1 * MS);
    assert_non_null(warm);
    int64_t v;
    assert_status(lfc_recv(warm, &v), LFC_OK);
    lfc_chan_free(warm);
    struct inherited in = {.after_due = start + 50 * MS};
    in.after = lfc_after(50 * MS);
    in.tick = lfc_tick(5 * MS);
    in.far = lfc_timer_after(3600 * SEC);
    assert_non_null(in.after);
    assert_non_null(in.tick);
    assert_non_null(in.far);
    assert_int_equal(lfc_test_count_threads_named("lfc-timer"), 1);

    int st = run_child(&in);

    /* The parent's own copies are untouched by what the child did. Freed
     * before asserting, so a failure leaves no ticker running. */
    int r_after = lfc_recv_until(in.after, &v, in.after_due + 20 * SEC);
    bool after_early = r_after == LFC_OK && v < in.after_due;
    int r_tick = lfc_recv_until(lfc_timer_chan(in.tick), &v,
                                lfc_now_ns() + 20 * SEC);
    bool far_pending = lfc_timer_stop(in.far);
    lfc_chan_free(in.after);
    lfc_timer_free(in.tick);
    lfc_timer_free(in.far);
    assert_child_passed(st);
    assert_status(r_after, LFC_OK);
    assert_false(after_early);
    assert_status(r_tick, LFC_OK);
    assert_true(far_pending);
}

static void
test_timer_fork_child_without_pending_timers(void **state)
{
    (void)state;
    /* The parent's thread exists but has nothing queued (it lingers). */
    lfc_chan *warm = lfc_after(0);
    assert_non_null(warm);
    int64_t v;
    assert_status(lfc_recv(warm, &v), LFC_OK);
    lfc_chan_free(warm);
    assert_child_passed(run_child(NULL));
}

/* The parent's busy thread for the race test: timer calls in a loop, so
 * the fork often comes while it holds the timer module's lock. */
struct hammer {
    pthread_t th;
    int stop;       /* set by the test (lfc_test_store_int) */
    int failed;     /* set by the hammer on a failed call */
    long rounds;    /* rounds done; read after join */
};

static void *
hammer_main(void *arg)
{
    struct hammer *h = arg;
    /* Runs until the test sets stop; polled each round. */
    while (!lfc_test_load_int(&h->stop)) {
        /* Mostly arm-and-free pairs, which spend much of their time under
         * the lock; now and then a timer that fires. */
        for (int i = 0; i < 100; i++) {
            lfc_timer *t = lfc_timer_after(3600 * SEC);
            if (!t) {
                lfc_test_store_int(&h->failed, 1);
                return NULL;
            }
            lfc_timer_free(t);
        }
        lfc_chan *ch = lfc_after(0);
        if (!ch) {
            lfc_test_store_int(&h->failed, 1);
            break;
        }
        int64_t v;
        if (lfc_recv_until(ch, &v, lfc_now_ns() + 20 * SEC) != LFC_OK)
            lfc_test_store_int(&h->failed, 1);
        lfc_chan_free(ch);
        h->rounds++;
    }
    return NULL;
}

static void
test_timer_fork_while_timer_calls_race(void **state)
{
    (void)state;
    struct hammer h = {0};
    assert_int_equal(pthread_create(&h.th, NULL, hammer_main, &h), 0);
    long n = lfc_test_scaled(50, 10);
    int st = 0;
    long i;
    for (i = 0; i < n; i++) {
        st = run_child(NULL);
        if (st != 0)
            break;
    }
    lfc_test_store_int(&h.stop, 1);
    assert_int_equal(pthread_join(h.th, NULL), 0);
    print_message("%ld children passed beside %ld rounds of timer calls\n",
                  i, h.rounds);
    assert_child_passed(st);
    assert_false(h.failed);
}

int
main(void)
{
    lfc_test_alarm(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_fork_child_timers_work),
        cmocka_unit_test(test_timer_fork_child_without_pending_timers),
        cmocka_unit_test(test_timer_fork_while_timer_calls_race),
    };
    const char *filter = getenv("LFC_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
