/* SPDX-License-Identifier: MIT */
/*
 * A _ctx call that gives up at its context's deadline returns
 * lfc_ctx_err(ctx), as select.h and sem.h document: once it has returned
 * LFC_TIMEDOUT, lfc_ctx_err(ctx) is LFC_TIMEDOUT too, and the done
 * channel is closed, even when the timer thread has not fired the
 * deadline yet.
 *
 * Found by the soak (tests/soak/soak.c): lfc_send_ctx, lfc_recv_ctx,
 * lfc_pool_submit_ctx and lfc_sem_acquire_ctx waited with the context's
 * deadline and returned LFC_TIMEDOUT when it passed, while the context
 * stayed live until the timer thread got to it, so a caller that checked
 * lfc_ctx_err(ctx) after the call read LFC_OK.
 *
 * To make the timer thread late for certain, each test runs in a child
 * forked after the context was made: no timer thread runs there until
 * the child arms a timer (lfchan/timer.h, "fork()"), and these children
 * arm none, so only the call itself can see the deadline pass. Before
 * the fix the child's lfc_ctx_err stayed LFC_OK (exit status
 * CHILD_ERR_LIVE). The child reports through its exit status; the parent
 * waits for it with a bound, and the binary runs under an alarm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lfc_test_support.h"
#include "lfchan.h"

/* The context's timeout: long enough that the parent forks before it. */
#define CTX_TIMEOUT_NS (200 * LFC_TEST_MS)
#define CHILD_ALARM_S 60

enum {
    CHILD_OK = 0,
    CHILD_NOT_TIMEDOUT = 10, /* the call returned something else */
    CHILD_EARLY,             /* it returned before the deadline */
    CHILD_ERR_LIVE,          /* lfc_ctx_err(ctx) was not LFC_TIMEDOUT */
    CHILD_DONE_OPEN,         /* the done channel was not closed */
    CHILD_SETUP,             /* the child could not set up */
};

static const char *
child_status_name(int code)
{
    switch (code) {
    case CHILD_NOT_TIMEDOUT:
        return "the call did not return LFC_TIMEDOUT";
    case CHILD_EARLY:
        return "the call returned before the deadline";
    case CHILD_ERR_LIVE:
        return "lfc_ctx_err was not LFC_TIMEDOUT after the call";
    case CHILD_DONE_OPEN:
        return "the done channel was still open after the call";
    case CHILD_SETUP:
        return "set-up failed in the child";
    default:
        return "unknown";
    }
}

/* What the child checks after its call returned rc. */
static int
child_check(int rc, lfc_ctx *ctx)
{
    if (rc != LFC_TIMEDOUT)
        return CHILD_NOT_TIMEDOUT;
    if (lfc_now_ns() < lfc_ctx_deadline(ctx))
        return CHILD_EARLY;
    if (lfc_ctx_err(ctx) != LFC_TIMEDOUT)
        return CHILD_ERR_LIVE;
    if (lfc_try_recv(lfc_ctx_done(ctx), NULL) != LFC_CLOSED)
        return CHILD_DONE_OPEN;
    return CHILD_OK;
}

enum op { OP_RECV, OP_SEND, OP_SEM };

/* In the child: one call on `op` that can only end at ctx's deadline. */
static int
child_main(enum op op, lfc_ctx *ctx, lfc_chan *ch, lfc_sem *sem)
{
    int v = 7;
    alarm(CHILD_ALARM_S);
    switch (op) {
    case OP_RECV:
        return child_check(lfc_recv_ctx(ch, &v, ctx), ctx);
    case OP_SEND:
        return child_check(lfc_send_ctx(ch, &v, ctx), ctx);
    default:
        if (lfc_sem_acquire(sem, 1) != LFC_OK) /* now none is free */
            return CHILD_SETUP;
        return child_check(lfc_sem_acquire_ctx(sem, 1, ctx), ctx);
    }
}

/* Forks a child that runs child_main and returns its wait status (-1 if
 * it had not exited after a generous bound: it is then killed). */
static int
run_child(enum op op, lfc_ctx *ctx, lfc_chan *ch, lfc_sem *sem)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_main(op, ctx, ch, sem)); /* no atexit, no leak check */
    int64_t end = lfc_test_now_ns() + LFC_TEST_STUCK_NS + CTX_TIMEOUT_NS;
    int st = 0;
    /* Polls waitpid every 2 ms: nothing wakes us when the child exits. */
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
        lfc_test_sleep_ns(2 * LFC_TEST_MS);
    }
}

static void
assert_child_passed(int st)
{
    if (st == -1)
        fail_msg("the child hung");
    if (WIFSIGNALED(st))
        fail_msg("the child died of signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("the child exited %d: %s", WEXITSTATUS(st),
                 child_status_name(WEXITSTATUS(st)));
}

/* The context is made, and its deadline armed, before the fork; the
 * parent's own copy must still time out as usual. */
static void
run_case(enum op op)
{
    lfc_chan *ch = lfc_chan_new(op == OP_SEND ? 1 : 0, sizeof(int));
    lfc_sem *sem = lfc_sem_new(1);
    lfc_ctx *ctx = lfc_ctx_with_timeout(lfc_ctx_background(), CTX_TIMEOUT_NS);
    int v = 1;
    assert_non_null(ch);
    assert_non_null(sem);
    assert_non_null(ctx);
    if (op == OP_SEND)
        assert_int_equal(lfc_send(ch, &v), LFC_OK); /* full: sends wait */

    assert_child_passed(run_child(op, ctx, ch, sem));

    /* Woken by the timer thread closing done at the deadline. */
    assert_int_equal(lfc_recv(lfc_ctx_done(ctx), NULL), LFC_CLOSED);
    assert_int_equal(lfc_ctx_err(ctx), LFC_TIMEDOUT);
    lfc_ctx_free(ctx);
    lfc_sem_free(sem);
    lfc_chan_free(ch);
}

static void
test_ctx_expire_recv_ctx_sets_err(void **state)
{
    (void)state;
    run_case(OP_RECV);
}

static void
test_ctx_expire_send_ctx_sets_err(void **state)
{
    (void)state;
    run_case(OP_SEND);
}

static void
test_ctx_expire_sem_acquire_ctx_sets_err(void **state)
{
    (void)state;
    run_case(OP_SEM);
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_expire_recv_ctx_sets_err),
        cmocka_unit_test(test_ctx_expire_send_ctx_sets_err),
        cmocka_unit_test(test_ctx_expire_sem_acquire_ctx_sets_err),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
