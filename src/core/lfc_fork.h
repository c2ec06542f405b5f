/* SPDX-License-Identifier: MIT */
/*
 * Fork generations and cancellation state, for the modules that run
 * threads of their own (pool.c, group.c, merge.c).
 *
 * Fork. A child made by fork() has one thread: the one that called fork.
 * A pool, merger, fan-out or error group created before the fork has no
 * threads in the child, so its calls there would queue work that nobody
 * runs, or join threads that do not exist (forever). Each such object
 * records lfc__fork_gen() when it is created, after lfc__fork_watch().
 * lfc__fork_gen() changes in every child (a pthread_atfork child handler
 * adds one), so one relaxed load and a compare tell a call that it runs
 * in a child of the process that made the object (lfc__forked_since).
 *
 * Cancellation. lfchan functions are not cancellation points: a function
 * that calls one (pthread_join, pthread_cond_wait, nanosleep, ...) does
 * so between lfc__nocancel_begin() and lfc__nocancel_end(), so a cancel
 * request stays pending until the thread reaches a cancellation point
 * outside lfchan. The futex waits (park.c) are raw system calls, which
 * are not cancellation points, and need nothing.
 */
#ifndef LFC_FORK_H
#define LFC_FORK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lfc_atomic.h"
#include "lfc_common.h"

/* Bumped by the atfork child handler; read with lfc__fork_gen(). On a
 * cache line of its own: read on every submit, written only in a child,
 * so no other module's writes may bounce its line. */
struct lfc__fork_line {
    LFC_CACHE_ALIGNED uint32_t gen;
    char pad[LFC_CACHELINE - sizeof(uint32_t)];
};
extern struct lfc__fork_line lfc__fork_generation LFC_INTERNAL;

/*
 * Register the child handler, once per process (a call racing the first
 * may register it again, harmlessly). Call before recording
 * lfc__fork_gen() in a new object. Returns 0, or ENOMEM if pthread_atfork
 * failed (then forks are not noticed: the caller fails; the next call
 * tries again).
 */
int lfc__fork_watch(void) LFC_INTERNAL;

static inline uint32_t
lfc__fork_gen(void)
{
    /* ORDER rlx: written only by the child handler, in a child that has
     * a single thread, before any other thread exists there; every thread
     * reads the value of its own process, and orders nothing by it. */
    return lfc_load_rlx_u32(&lfc__fork_generation.gen);
}

/* Whether the caller runs in a child forked after gen was recorded. */
static inline bool
lfc__forked_since(uint32_t gen)
{
    return lfc_unlikely(lfc__fork_gen() != gen);
}

/* Disable cancellation; returns the state to give lfc__nocancel_end. */
static inline int
lfc__nocancel_begin(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

/* Restore the state lfc__nocancel_begin saved. A request that came
 * meanwhile stays pending (deferred cancellation): the thread acts on it
 * at its next cancellation point, outside lfchan. */
static inline void
lfc__nocancel_end(int old)
{
    pthread_setcancelstate(old, NULL);
}

#endif /* LFC_FORK_H */
