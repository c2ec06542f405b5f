/* SPDX-License-Identifier: MIT */
/*
 * Regression test: a receive on an unbuffered channel that was closed while
 * a sender was still making its offer (it had claimed the slot and was
 * copying its value in) must return LFC_CLOSED, never LFC_AGAIN or
 * LFC_TIMEDOUT: no rendezvous happens after close, so the channel is
 * closed with nothing to give. ring_try_recv returned LFC_AGAIN there, so
 * lfc_try_recv, lfc_try_select and lfc_recv_until on a channel known to be
 * closed said "open, nothing yet". Fixed by ff056b0 (found by
 * test_lincheck; test_semantics' test_close_during_offer_copy_then_closed
 * hits the window with a 1 MiB copy, most of the time); found again,
 * independently, by fuzz/fuzz_threads.c (a try_select after the main
 * thread's close returned LFC_AGAIN). This test reaches the window every
 * time.
 *
 * The sender is held inside its copy deterministically: its value lies on
 * a page with no access rights, so the copy faults; the SIGSEGV handler
 * reports that the sender is mid-copy, waits until the test says go, makes
 * the page readable and returns, and the copy resumes. No sleeps decide
 * anything; a watchdog bound turns a hang into a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lfc_test_support.h"
#include "lfchan.h"

static unsigned char *page;
static size_t page_size;
static int in_copy;    /* set by the handler: the sender is mid-copy */
static int go;         /* set by the test: let the copy finish */
static int send_status;
static struct sigaction old_segv;

static void
on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    unsigned char *a = si->si_addr;
    if (a < page || a >= page + page_size) {
        /* Not ours: a real crash. Fall back and let it re-fault. */
        sigaction(sig, &old_segv, NULL);
        return;
    }
    __atomic_store_n(&in_copy, 1, __ATOMIC_RELEASE);
    /* Woken by nothing: polls the test's flag (only async-signal-safe
     * calls in here). */
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    mprotect(page, page_size, PROT_READ | PROT_WRITE);
}

static void *
sender(void *arg)
{
    lfc_chan *ch = arg;
    __atomic_store_n(&send_status, lfc_send(ch, page), __ATOMIC_RELEASE);
    return NULL;
}

static void
test_chan_unbuf_recv_closed_during_offer(void **state)
{
    (void)state;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    page = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(page != MAP_FAILED);
    memset(page, 0x5a, page_size);
    assert_int_equal(mprotect(page, page_size, PROT_NONE), 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGSEGV, &sa, &old_segv), 0);

    lfc_chan *ch = lfc_chan_new(0, page_size);
    assert_non_null(ch);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sender, ch), 0);
    /* The sender has claimed the slot (tail moved) and faulted in its
     * copy: the offer is being made. */
    assert_true(lfc_test_wait_flag(&in_copy, LFC_TEST_STUCK_NS));

    assert_int_equal(lfc_close(ch), LFC_OK);
    unsigned char *out = malloc(page_size);
    assert_non_null(out);
    assert_int_equal(lfc_try_recv(ch, out), LFC_CLOSED);
    assert_int_equal(lfc_recv_until(ch, out, lfc_now_ns() - 1), LFC_CLOSED);
    assert_int_equal(lfc_recv_until(ch, out, lfc_now_ns() + LFC_TEST_SHORT_NS),
                     LFC_CLOSED);
    lfc_case c = {.ch = ch, .dir = LFC_RECV, .buf = out};
    assert_int_equal(lfc_try_select(&c, 1), 0);
    assert_int_equal(c.status, LFC_CLOSED);
    c.status = 0;
    assert_int_equal(lfc_try_select_biased(&c, 1), 0);
    assert_int_equal(c.status, LFC_CLOSED);
    assert_int_equal(lfc_recv(ch, out), LFC_CLOSED);

    /* Let the copy finish: the offer made after close is taken by nobody. */
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(__atomic_load_n(&send_status, __ATOMIC_ACQUIRE),
                     LFC_CLOSED);
    assert_int_equal(lfc_try_recv(ch, out), LFC_CLOSED);
    assert_int_equal(lfc_recv(ch, out), LFC_CLOSED);

    sigaction(SIGSEGV, &old_segv, NULL);
    free(out);
    lfc_chan_free(ch);
    munmap(page, page_size);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chan_unbuf_recv_closed_during_offer),
    };
    lfc_test_alarm(LFC_TEST_ALARM_S);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
