/* SPDX-License-Identifier: MIT */
/*
 * Parking: an event count over a Linux futex, with a bounded adaptive spin.
 *
 * Every blocking primitive in lfchan waits through lfc__ec_wait(): it polls
 * a caller-supplied "try" function (spin phase), then announces itself on
 * the event count and sleeps on the futex word until a waker bumps it. A
 * waker calls lfc__ec_signal() after publishing the state change the waiter
 * polls for; it makes a system call only when some waiter has announced.
 *
 * See park.c for the protocol and the argument that no wake-up is lost.
 */
#ifndef LFC_PARK_H
#define LFC_PARK_H

#include <stdint.h>

#include "lfc_atomic.h"
#include "lfc_common.h"

/*
 * An event count. One per condition a thread can wait for ("channel not
 * empty", "channel not full"). 8 bytes; callers place it on a cache line
 * that the fast path of the *other* side only reads.
 */
struct lfc_ec {
    uint32_t seq;     /* futex word; bumped by wakers (rel RMW) */
    uint32_t waiters; /* announced waiters; RMW by waiters (seqcst) */
};

/*
 * Adaptive spin budget for one side of one primitive, in polls. Written
 * (relaxed) by that side's waiters only, so it lives on a cache line that
 * side writes anyway.
 */
struct lfc_spin {
    uint32_t budget; /* written by waiters of this side (relaxed) */
    int32_t cpu;     /* CPU a waiter of this side last ran on, or -1;
                        written by waiters of this side (relaxed) */
};

/* A try function: LFC_AGAIN means "not yet, keep waiting"; any other
 * status ends the wait and is returned. */
typedef int (*lfc__try_fn)(void *arg);

void lfc__ec_init(struct lfc_ec *ec) LFC_INTERNAL;
void lfc__spin_init(struct lfc_spin *s) LFC_INTERNAL;

/*
 * Wait until try(arg) returns something other than LFC_AGAIN, or until
 * deadline_ns (absolute CLOCK_MONOTONIC; INT64_MAX for none) passes, in
 * which case one last try is made after withdrawing, and LFC_TIMEDOUT is
 * returned only if it too gives LFC_AGAIN.
 *
 * The caller has usually just tried once itself; the spin phase polls
 * again before parking. try() must be safe to call any number of times.
 * spin is this side's spin state; partner (may be NULL) is the side whose
 * progress we wait for: if its waiters last ran on our CPU, spinning
 * cannot help and we yield instead.
 */
int lfc__ec_wait(struct lfc_ec *ec, struct lfc_spin *spin,
                 const struct lfc_spin *partner, lfc__try_fn try_fn, void *arg,
                 int64_t deadline_ns) LFC_INTERNAL;

/*
 * Slow part of signal/broadcast: bump seq and wake; out of line. waker (may
 * be NULL) is the waking thread's own side: its CPU is recorded there, so
 * the woken thread can tell whether its partner shares its CPU.
 */
void lfc__ec_wake(struct lfc_ec *ec, int n,
                  struct lfc_spin *waker) LFC_INTERNAL;

/*
 * Wake one waiter of ec, if any has announced. The caller has published its
 * state change (a release store or RMW) and then executed
 * lfc_fence_seqcst(): the fence orders that publication before the
 * waiters load below (store→load), pairing with the waiter's seqcst
 * announce-then-recheck in lfc__ec_wait(). One fence may serve several
 * signals.
 */
static inline void
lfc__ec_signal_fenced(struct lfc_ec *ec, struct lfc_spin *waker)
{
    /* ORDER rlx: the caller's seqcst fence orders this load after the
     * publication; a stale 0 means the waiter's recheck sees the state. */
    if (lfc_unlikely(lfc_load_rlx_u32(&ec->waiters) != 0))
        lfc__ec_wake(ec, 1, waker);
}

/* As lfc__ec_signal_fenced(), but wakes every announced waiter. */
static inline void
lfc__ec_broadcast_fenced(struct lfc_ec *ec, struct lfc_spin *waker)
{
    /* ORDER rlx: as in lfc__ec_signal_fenced(). */
    if (lfc_load_rlx_u32(&ec->waiters) != 0)
        lfc__ec_wake(ec, INT32_MAX, waker);
}

/* Whether any waiter has announced (a hint: may be stale at once). */
static inline int
lfc__ec_has_waiters(struct lfc_ec *ec)
{
    /* ORDER rlx: a hint; callers that need it exact fence first. */
    return lfc_load_rlx_u32(&ec->waiters) != 0;
}

/*
 * The futex operations, behind a table so tests can count system calls or
 * inject spurious wake-ups. wait() returns 0 on a wake or any benign early
 * return (EINTR, EAGAIN), LFC_TIMEDOUT once deadline_ns has passed.
 */
struct lfc__park_ops {
    int (*wait)(uint32_t *word, uint32_t expected, int64_t deadline_ns);
    void (*wake)(uint32_t *word, int n);
};

/* Replace the futex operations (NULL restores the real ones). For tests;
 * call only while no thread is parked or waking. */
void lfc__park_set_ops(const struct lfc__park_ops *ops) LFC_INTERNAL;

/* CLOCK_MONOTONIC in ns (the same clock as lfc_now_ns). */
int64_t lfc__now_ns(void) LFC_INTERNAL;

#endif /* LFC_PARK_H */
