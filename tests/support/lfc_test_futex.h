/* SPDX-License-Identifier: MIT */
/*
 * The real futex calls, for the fake park ops of white-box tests (struct
 * lfc__park_ops in src/core/lfc_park.h, installed with lfc__park_set_ops) that
 * count, delay or misbehave around them: tests/test_park.c and
 * tests/stress/stress_select.c; and one such fake, the counting park ops
 * that lfc_test_async.h installs for the unit tests, to know when a
 * helper has parked.
 *
 * Needs syscall(): include it from a file that defines _GNU_SOURCE before
 * any system header. Header-only, every function static inline.
 */
#ifndef LFC_TEST_FUTEX_H
#define LFC_TEST_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lfc_park.h"
#include "lfchan.h"

/*
 * A wait on `word` while it holds `expected`, until the absolute
 * CLOCK_MONOTONIC deadline_ns (INT64_MAX: none; a negative one counts as
 * 0): LFC_TIMEDOUT once the deadline has passed, 0 for any other return (a
 * wake-up, EINTR, EAGAIN). errno is left as it was.
 */
static inline int
lfc_test_futex_wait(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    struct timespec ts;
    struct timespec *tp = NULL;
    if (deadline_ns != INT64_MAX) {
        if (deadline_ns < 0)
            deadline_ns = 0;
        ts.tv_sec = (time_t)(deadline_ns / 1000000000);
        ts.tv_nsec = (long)(deadline_ns % 1000000000);
        tp = &ts;
    }
    int saved = errno;
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                      expected, tp, NULL, FUTEX_BITSET_MATCH_ANY);
    int timed_out = rc != 0 && errno == ETIMEDOUT;
    errno = saved;
    return timed_out ? LFC_TIMEDOUT : 0;
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

/* Wakes up to n waiters on `word`; errno is left as it was. */
static inline void
lfc_test_futex_wake(uint32_t *word, int n)
{
    int saved = errno;
    syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
    errno = saved;
}

/* ---- counting park ops ---------------------------------------------------
 *
 * lfc_test_counting_ops makes the real futex calls, plus: counters (an
 * uncontended path makes no system call), optional spurious early returns
 * (lfc_test_futex_spurious), and the "asleep" note of a helper thread: a
 * helper sets lfc_test_futex_asleep to its flag, which its first futex
 * wait sets to 1, unless the word lies in the bytes it has set to skip
 * (lfc_test_futex_skip, lfc_test_futex_skip_len: e.g. a lock inside the
 * object it waits on, which it may sleep on before it has queued).
 */

static unsigned long lfc_test_futex_waits; /* all futex waits (atomic) */
static int lfc_test_futex_spurious; /* every wait returns early (atomic) */
static __thread unsigned long lfc_test_futex_t_waits; /* this thread's */
static __thread unsigned long lfc_test_futex_t_wakes; /* this thread's */
static __thread int *lfc_test_futex_asleep; /* the helper's flag, or NULL */
static __thread const void *lfc_test_futex_skip; /* not "asleep" in here */
static __thread size_t lfc_test_futex_skip_len;

/* The calling thread's "asleep" note, for a futex wait on word: fake park
 * ops of their own (tests/test_park.c) call it too. */
static inline void
lfc_test_futex_note_asleep(const uint32_t *word)
{
    if (lfc_test_futex_asleep &&
        (uintptr_t)word - (uintptr_t)lfc_test_futex_skip >=
            lfc_test_futex_skip_len)
        __atomic_store_n(lfc_test_futex_asleep, 1, __ATOMIC_RELEASE);
}

static inline int
lfc_test_counting_wait(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    __atomic_fetch_add(&lfc_test_futex_waits, 1, __ATOMIC_RELAXED);
    lfc_test_futex_t_waits++;
    lfc_test_futex_note_asleep(word);
    if (__atomic_load_n(&lfc_test_futex_spurious, __ATOMIC_RELAXED))
        return lfc_test_futex_wait_spurious(word, expected, deadline_ns);
    return lfc_test_futex_wait(word, expected, deadline_ns);
}

static inline void
lfc_test_counting_wake(uint32_t *word, int n)
{
    lfc_test_futex_t_wakes++;
    lfc_test_futex_wake(word, n);
}

static const struct lfc__park_ops lfc_test_counting_ops = {
    lfc_test_counting_wait, lfc_test_counting_wake};

/* A counter of the counting ops, read without ordering. */
static inline unsigned long
lfc_test_futex_count(const unsigned long *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif /* LFC_TEST_FUTEX_H */
