/* SPDX-License-Identifier: MIT */
/*
 * Out of memory: every allocation the library makes on the test thread
 * can be made to fail. The binary is linked with --wrap for malloc,
 * calloc, realloc and aligned_alloc (CMakeLists.txt), which sends the
 * calls from liblfchan.a's objects (and this file's) to the wrappers
 * below; the runtimes' own allocations (cmocka's, the sanitizers') are
 * not wrapped. Failure is armed per thread, so the timer thread and
 * helpers are never hit by accident.
 *
 * The first test is the regression: the first use of the background
 * context used to allocate its done channel, and if that failed,
 * lfc_ctx_done(lfc_ctx_background()) stayed NULL for the life of the
 * process and lfc_sem_acquire_ctx(s, n, lfc_ctx_background()) crashed.
 * It must run first in the process (it is the first in main's list).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lfchan.h"
#include "lfc_test_support.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);

static __thread bool t_fail;  /* this thread's allocations fail */
static __thread long t_fails; /* how many were refused */

static bool
refuse(void)
{
    if (!t_fail)
        return false;
    t_fails++;
    errno = ENOMEM;
    return true;
}

void *
__wrap_malloc(size_t n)
{
    return refuse() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t k, size_t n)
{
    return refuse() ? NULL : __real_calloc(k, n);
}

void *
__wrap_realloc(void *p, size_t n)
{
    return refuse() ? NULL : __real_realloc(p, n);
}

void *
__wrap_aligned_alloc(size_t a, size_t n)
{
    return refuse() ? NULL : __real_aligned_alloc(a, n);
}

static void
test_background_ctx_needs_no_memory(void **state)
{
    (void)state;
    lfc_sem *s = lfc_sem_new(1);
    lfc_chan *ch = lfc_chan_new(1, sizeof(int));
    assert_non_null(s);
    assert_non_null(ch);
    t_fail = true;
    lfc_ctx *bg = lfc_ctx_background();
    lfc_chan *done = lfc_ctx_done(bg);
    assert_non_null(done);
    assert_status(lfc_sem_acquire_ctx(s, 1, bg), LFC_OK);
    assert_status(lfc_sem_release(s, 1), LFC_OK);
    int v = 9;
    assert_status(lfc_send_ctx(ch, &v, bg), LFC_OK);
    v = 0;
    assert_status(lfc_recv_ctx(ch, &v, bg), LFC_OK);
    assert_int_equal(v, 9);
    assert_status(lfc_try_recv(done, NULL), LFC_AGAIN);
    t_fail = false;
    assert_ptr_equal(lfc_ctx_done(bg), done);
    lfc_chan_free(ch);
    lfc_sem_free(s);
}

/* Constructors fail cleanly: NULL with errno ENOMEM, nothing leaked (the
 * ASan build checks leaks at exit). */
static void
test_constructors_report_enomem(void **state)
{
    (void)state;
    t_fail = true;
    t_fails = 0;
    errno = 0;
    assert_null(lfc_chan_new(4, sizeof(int)));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_chan_new(0, 0));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_ctx_with_cancel(lfc_ctx_background()));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_after(1000));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_timer_after(1000));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_sem_new(3));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_wg_new());
    assert_int_equal(errno, ENOMEM);
    t_fail = false;
    assert_true(t_fails >= 7);
}

/* A select above 32 cases needs memory; without it, LFC_ENOMEM and
 * nothing consumed. */
static void
test_large_select_enomem_consumes_nothing(void **state)
{
    (void)state;
    enum { N = 40 };
    lfc_chan *chs[N];
    lfc_case cases[N];
    int vals[N];
    for (int i = 0; i < N; i++) {
        chs[i] = lfc_chan_new(1, sizeof(int));
        assert_non_null(chs[i]);
        vals[i] = i;
        assert_status(lfc_send(chs[i], &vals[i]), LFC_OK);
        cases[i] = (lfc_case){.ch = chs[i], .dir = LFC_RECV, .buf = &vals[i]};
    }
    t_fail = true;
    assert_status(lfc_try_select(cases, N), LFC_ENOMEM);
    assert_status(lfc_select(cases, N), LFC_ENOMEM);
    t_fail = false;
    for (int i = 0; i < N; i++) {
        assert_int_equal(lfc_chan_len(chs[i]), 1);
        lfc_chan_free(chs[i]);
    }
}

int
main(void)
{
    lfc_test_alarm(300);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_ctx_needs_no_memory),
        cmocka_unit_test(test_constructors_report_enomem),
        cmocka_unit_test(test_large_select_enomem_consumes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
