/* SPDX-License-Identifier: MIT */
/*
 * The fork generation (see lfc_fork.h). Depends on nothing but pthreads.
 *
 * Field table:
 *   | field                 | written by                | read by  | order |
 *   |-----------------------|---------------------------|----------|-------|
 *   | lfc__fork_generation  | child handler (one thread | every    | rlx   |
 *   | .gen                  | in the child)             | call     |       |
 *   | watching              | the first watchers (more  | watchers | rlx   |
 *   |                       | than one if they race)    |          |       |
 */
#include <errno.h>
#include <pthread.h>

#include "lfc_atomic.h"
#include "lfc_fork.h"

struct lfc__fork_line lfc__fork_generation;

/* 1 once a child handler is registered. Not under pthread_once: a failed
 * registration must not be final (the next lfc__fork_watch tries again). */
static uint32_t watching;

/* Runs in the child, right after fork, on its only thread. */
static void
fork_child(void)
{
    /* ORDER rlx: the child has one thread; see lfc__fork_gen(). */
    lfc_faa_rlx_u32(&lfc__fork_generation.gen, 1);
}

int
lfc__fork_watch(void)
{
    /* ORDER rlx: a hint; a stale 0 only registers the handler once more,
     * which is harmless (below). pthread_atfork orders the registration
     * itself before any fork that can see it. */
    if (lfc_load_rlx_u32(&watching))
        return 0;
    /* Threads racing here may each register the handler; a child then
     * adds one per registration, which changes nothing: callers only
     * compare the generation for inequality (lfc__forked_since). Taking a
     * lock instead would leave it held forever in a child forked while
     * another thread was here. */
    if (pthread_atfork(NULL, NULL, fork_child) != 0)
        return ENOMEM;
    /* ORDER rlx: see the load above. */
    lfc_store_rlx_u32(&watching, 1);
    return 0;
}
