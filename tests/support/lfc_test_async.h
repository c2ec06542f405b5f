/* SPDX-License-Identifier: MIT */
/*
 * One call run on a helper thread, so that the test thread can watch it
 * block, wake it and check its result: the one copy of what the unit tests
 * used to write each for themselves (struct op, struct waiter, ...).
 *
 *   struct lfc_test_async a;
 *   lfc_test_async_start(&a, call, arg);  // call(arg) runs on a new thread
 *   lfc_test_async_wait_parked(&a, "recv on empty");  // it sleeps in there
 *   ...wake it...
 *   assert_status(lfc_test_async_join(&a, "recv on empty"), LFC_OK);
 *
 * "Parked" is a fact, not a guess: lfc_test_async_install_park_hook()
 * (once, from main, before any test) installs the counting park ops of
 * lfc_test_futex.h, and a helper's first futex wait inside the library
 * sets its `parked` flag. The only futex waits that do not mean "asleep as
 * a waiter" are on the library's small internal locks, which a helper
 * sleeps on only while another thread holds them; a helper started alone,
 * while the test thread polls its flag, cannot meet one. Where it could (a
 * semaphore's lock), opts.skip names the bytes whose waits do not count.
 *
 * A call still blocked after its bound is a lost wake-up (or a deadlock):
 * lfc_test_async_join runs opts.rescue (e.g. closes the call's channel) so
 * the thread can be joined and the test fail with what the call returned,
 * or aborts when there is no rescue, since a thread stuck inside an object
 * cannot be joined and the object could not be freed.
 *
 * Needs <cmocka.h> (fail_msg) and _GNU_SOURCE (lfc_test_futex.h's
 * syscall()) before any system header. Header-only, static inline.
 */
#ifndef LFC_TEST_ASYNC_H
#define LFC_TEST_ASYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lfc_park.h"
#include "lfc_test_futex.h"
#include "lfc_test_support.h"
#include "lfchan.h"

#ifndef fail_msg
#error "lfc_test_async.h needs <cmocka.h> first"
#endif

/* The call a helper runs: returns a status (or, for a select, an index). */
typedef int (*lfc_test_async_fn)(void *arg);

struct lfc_test_async_opts {
    /* Unblocks a stuck call so that its thread can be joined (closes its
     * channels, cancels its context); NULL: a stuck call aborts. */
    void (*rescue)(void *arg);
    void *rescue_arg;
    /* Futex waits on words in [skip, skip + skip_len) do not count as
     * parked: a lock inside the object the helper waits on. */
    const void *skip;
    size_t skip_len;
};

struct lfc_test_async {
    pthread_t thread;
    lfc_test_async_fn fn;
    void *arg;
    struct lfc_test_async_opts opts;
    int64_t t_start; /* lfc_now_ns() just before the call (helper) */
    int64_t t_end;   /* lfc_now_ns() just after the call (helper) */
    int rc;          /* the call's result (helper, before done) */
    int started;     /* set just before the call (atomic) */
    int parked;      /* set by the helper's first futex wait (atomic) */
    int done;        /* set after the call (atomic) */
    int joined;      /* the test thread joined it */
};

/* Whether lfc_test_async_install_park_hook() ran. */
static int lfc_test_async_hooked;

/* Installs the counting park ops (lfc_test_futex.h) that note "parked".
 * Call from main() before any test, while no thread is parked. */
static inline void
lfc_test_async_install_park_hook(void)
{
    lfc__park_set_ops(&lfc_test_counting_ops);
    lfc_test_async_hooked = 1;
}

static inline void
lfc_test_async_remove_park_hook(void)
{
    lfc__park_set_ops(NULL);
    lfc_test_async_hooked = 0;
}

/* For a test that installs fake park ops of its own which call
 * lfc_test_futex_note_asleep(): say whether they are in place. */
static inline void
lfc_test_async_set_hooked(bool on)
{
    lfc_test_async_hooked = on;
}

/*
 * The calling thread's next futex wait in the library sets *flag (unless
 * on a word in [skip, skip + len)); NULL stops it. For a test thread that
 * itself blocks while a helper waits for it to park.
 */
static inline void
lfc_test_async_note_parked(int *flag, const void *skip, size_t len)
{
    lfc_test_futex_skip = skip;
    lfc_test_futex_skip_len = len;
    lfc_test_futex_asleep = flag;
}

static void *
lfc_test_async_main(void *arg)
{
    struct lfc_test_async *a = arg;
    lfc_test_async_note_parked(&a->parked, a->opts.skip, a->opts.skip_len);
    a->t_start = lfc_now_ns();
    lfc_test_store_int(&a->started, 1);
    int rc = a->fn(a->arg);
    a->t_end = lfc_now_ns();
    a->rc = rc;
    lfc_test_async_note_parked(NULL, NULL, 0);
    lfc_test_store_int(&a->done, 1);
    return NULL;
}

/* Starts fn(arg) on a new thread with options `opts` (may be NULL) and
 * returns once the thread is about to make the call. */
static inline void
lfc_test_async_start_with(struct lfc_test_async *a, lfc_test_async_fn fn,
                          void *arg, const struct lfc_test_async_opts *opts)
{
    memset(a, 0, sizeof(*a));
    a->fn = fn;
    a->arg = arg;
    if (opts)
        a->opts = *opts;
    a->rc = 0x5e1ec7; /* not a status */
    if (pthread_create(&a->thread, NULL, lfc_test_async_main, a) != 0)
        fail_msg("lfc_test_async_start: pthread_create failed");
    if (!lfc_test_wait_flag(&a->started, LFC_TEST_STUCK_NS)) {
        fprintf(stderr, "lfc_test_async_start: the helper never started\n");
        abort();
    }
}

static inline void
lfc_test_async_start(struct lfc_test_async *a, lfc_test_async_fn fn,
                     void *arg)
{
    lfc_test_async_start_with(a, fn, arg, NULL);
}

/* Whether the call has returned (its rc and t_end are then readable). */
static inline bool
lfc_test_async_done(const struct lfc_test_async *a)
{
    return lfc_test_load_int(&a->done) != 0;
}

/* Whether the helper has slept in a futex wait inside the call. */
static inline bool
lfc_test_async_parked(const struct lfc_test_async *a)
{
    return lfc_test_load_int(&a->parked) != 0;
}

/* Waits until the call has returned, up to ns; returns whether it has. */
static inline bool
lfc_test_async_wait_done(const struct lfc_test_async *a, int64_t ns)
{
    return lfc_test_wait_flag(&a->done, ns);
}

/*
 * Waits until the helper sleeps in a futex wait inside its call, or until
 * the call returns (bounded by LFC_TEST_STUCK_NS: neither fails the test).
 * Returns whether it parked. For calls that may legitimately complete
 * without parking (a deadline that passed first): the caller then knows
 * that this run did not exercise the parked path and can retry.
 */
static inline bool
lfc_test_async_await_park(const struct lfc_test_async *a, const char *what)
{
    if (!lfc_test_async_hooked)
        fail_msg("%s: waiting for a helper to park needs "
                 "lfc_test_async_install_park_hook() in main()",
                 what);
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    while (!lfc_test_async_parked(a)) {
        /* done is stored after the call, so a parked flag stored during
         * it is visible to whoever sees done. */
        if (lfc_test_async_done(a))
            return lfc_test_async_parked(a);
        if (lfc_now_ns() > end)
            fail_msg("%s neither returned nor parked in %lld ms", what,
                     (long long)(LFC_TEST_STUCK_NS / LFC_TEST_MS));
        lfc_test_sleep_ns(200 * LFC_TEST_US);
    }
    return true;
}

/*
 * Waits until the helper sleeps in a futex wait inside its call (bounded
 * by LFC_TEST_STUCK_NS). Fails if the call returned without parking, or
 * neither returned nor parked. A call that parked and has returned since
 * (its deadline passed) passes: check lfc_test_async_assert_blocked after
 * it where the call must still be blocked.
 */
static inline void
lfc_test_async_wait_parked(const struct lfc_test_async *a, const char *what)
{
    if (!lfc_test_async_await_park(a, what))
        fail_msg("%s returned %d (%s) instead of blocking", what, a->rc,
                 lfc_strerror(a->rc));
}

/* Fails (joining it first, where it returned) unless the call is still
 * blocked now. */
static inline void
lfc_test_async_assert_blocked(struct lfc_test_async *a, const char *what)
{
    if (lfc_test_async_done(a)) {
        pthread_join(a->thread, NULL);
        a->joined = 1;
        fail_msg("%s returned %d (%s) but should still be blocked", what,
                 a->rc, lfc_strerror(a->rc));
    }
}

/*
 * Waits up to `ns` for the call to return, joins it and returns its
 * result. A call still blocked then is rescued (opts.rescue) so that the
 * thread can be joined, and the test fails, saying what the call returned
 * after the rescue; with no rescue, or if the rescue does not free it
 * either, the process aborts.
 */
static inline int
lfc_test_async_join_within(struct lfc_test_async *a, int64_t ns,
                           const char *what)
{
    if (a->joined)
        return a->rc;
    if (!lfc_test_async_wait_done(a, ns)) {
        if (a->opts.rescue) {
            a->opts.rescue(a->opts.rescue_arg);
            if (lfc_test_async_wait_done(a, 2 * LFC_TEST_SEC)) {
                pthread_join(a->thread, NULL);
                a->joined = 1;
                fail_msg("%s: still blocked after %lld ms (lost wake-up?); "
                         "returned %d (%s) only once rescued",
                         what, (long long)(ns / LFC_TEST_MS), a->rc,
                         lfc_strerror(a->rc));
            }
        }
        fprintf(stderr,
                "%s: still blocked after %lld ms%s: lost wake-up or "
                "deadlock (the thread cannot be joined)\n",
                what, (long long)(ns / LFC_TEST_MS),
                a->opts.rescue ? " and after the rescue" : "");
        fflush(stderr);
        abort();
    }
    pthread_join(a->thread, NULL);
    a->joined = 1;
    return a->rc;
}

/* lfc_test_async_join_within with the stuck bound, LFC_TEST_STUCK_NS. */
static inline int
lfc_test_async_join(struct lfc_test_async *a, const char *what)
{
    return lfc_test_async_join_within(a, LFC_TEST_STUCK_NS, what);
}

#endif /* LFC_TEST_ASYNC_H */
