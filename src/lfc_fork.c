/* SPDX-License-Identifier: MIT */
/*
 * The fork generation (see lfc_fork.h). Depends on nothing but pthreads.
 *
 * Field table:
 *   | field                 | written by                | read by  | order |
 *   |-----------------------|---------------------------|----------|-------|
 *   | lfc__fork_generation  | child handler (one thread | every    | rlx   |
 *   | .gen                  | in the child)             | call     |       |
 *   | watch_err             | watch_init, under once    | watchers | once  |
 */
#include <errno.h>
#include <pthread.h>

#include "lfc_atomic.h"
#include "lfc_fork.h"

struct lfc__fork_line lfc__fork_generation;

static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static int watch_err;

/* Runs in the child, right after fork, on its only thread. */
static void
fork_child(void)
{
    /* ORDER rlx: the child has one thread; see lfc__fork_gen(). */
    lfc_faa_rlx_u32(&lfc__fork_generation.gen, 1);
}

static void
watch_init(void)
{
    watch_err = pthread_atfork(NULL, NULL, fork_child) == 0 ? 0 : ENOMEM;
}

int
lfc__fork_watch(void)
{
    /* pthread_once orders watch_err (written by watch_init) before every
     * return from it. glibc's pthread_once also restarts an init that a
     * parent thread was running at the fork. */
    pthread_once(&watch_once, watch_init);
    return watch_err;
}
