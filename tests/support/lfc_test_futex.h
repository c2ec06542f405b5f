/* SPDX-License-Identifier: MIT */
/*
 * The real futex calls, for the fake park ops of white-box tests (struct
 * lfc__park_ops in src/lfc_park.h, installed with lfc__park_set_ops) that
 * count, delay or misbehave around them: tests/test_park.c and
 * tests/stress/stress_select.c.
 *
 * Needs syscall(): include it from a file that defines _GNU_SOURCE before
 * any system header. Header-only, every function static inline.
 */
#ifndef LFC_TEST_FUTEX_H
#define LFC_TEST_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lfchan.h"

/*
 * A wait on `word` while it holds `expected`, until the absolute
 * CLOCK_MONOTONIC deadline_ns (INT64_MAX: none): LFC_TIMEDOUT once the
 * deadline has passed, 0 for any other return (a wake-up, EINTR, EAGAIN).
 */
static inline int
lfc_test_futex_wait(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    struct timespec ts;
    struct timespec *tp = NULL;
    if (deadline_ns != INT64_MAX) {
        ts.tv_sec = (time_t)(deadline_ns / 1000000000);
        ts.tv_nsec = (long)(deadline_ns % 1000000000);
        tp = &ts;
    }
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                      expected, tp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc != 0 && errno == ETIMEDOUT)
        return LFC_TIMEDOUT;
    return 0;
}

/* A spurious wait: sleeps at most 20 us, then claims a wake-up that never
 * happened (or, once deadline_ns has passed, the timeout). */
static inline int
lfc_test_futex_wait_spurious(uint32_t *word, uint32_t expected,
                             int64_t deadline_ns)
{
    int64_t soon = lfc_now_ns() + 20000;
    int r = lfc_test_futex_wait(word, expected,
                                deadline_ns < soon ? deadline_ns : soon);
    if (r == LFC_TIMEDOUT && lfc_now_ns() >= deadline_ns)
        return LFC_TIMEDOUT;
    return 0;
}

/* Wakes up to n waiters on `word`. */
static inline void
lfc_test_futex_wake(uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

#endif /* LFC_TEST_FUTEX_H */
