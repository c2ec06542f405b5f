/* SPDX-License-Identifier: MIT */
/*
 * Wait groups: a counter and an event count. Depends on: park.c.
 *
 * Design: `count` is a 64-bit counter changed by one CAS per add (the CAS
 * refuses to go below zero). Waiters wait on an event count for the
 * condition "count == 0" (lfc__ec_wait: spin, announce, recheck, sleep).
 * An add that brings the counter to zero publishes it (the CAS, release),
 * fences and broadcasts: park.c's argument then says no waiter sleeps
 * through it. A waiter that reads 0 acquires the CAS that wrote it, so
 * the done-ers' work happens-before its return.
 *
 * Field table:
 *   | field | written by       | read by     | order          |
 *   |-------|------------------|-------------|----------------|
 *   | count | add/done (CAS)   | all         | acqrel / acq   |
 *   | ec    | see park.c       |             |                |
 */
#include <errno.h>
#include <stdlib.h>

#include "lfchan/wg.h"
#include "lfc_atomic.h"
#include "lfc_common.h"
#include "lfc_park.h"

struct lfc_wg {
    uint64_t count; /* an int64_t, >= 0 */
    struct lfc_spin spin;
    LFC_CACHE_ALIGNED struct lfc_ec ec; /* waiters wait for count == 0 */
};

lfc_wg *
lfc_wg_new(void)
{
    lfc_wg *wg = aligned_alloc(LFC_CACHELINE, sizeof(*wg));
    if (!wg) {
        errno = ENOMEM;
        return NULL;
    }
    wg->count = 0; /* before the wait group is shared */
    lfc__spin_init(&wg->spin);
    lfc__ec_init(&wg->ec);
    return wg;
}

void
lfc_wg_free(lfc_wg *wg)
{
    /* ORDER rlx: a contract check; a waiter racing a free is the bug. */
    LFC_ASSERT(!wg || lfc_load_rlx_u64(&wg->ec.waiters) == 0);
    free(wg);
}

int64_t
lfc_wg_count(const lfc_wg *wg)
{
    /* ORDER rlx: a snapshot. */
    return wg ? (int64_t)lfc_load_rlx_u64(&wg->count) : 0;
}

int
lfc_wg_add(lfc_wg *wg, int64_t delta)
{
    if (!wg)
        return LFC_EINVAL;
    /* ORDER rlx: a guess; the CAS validates it. */
    uint64_t cur = lfc_load_rlx_u64(&wg->count);
    int64_t next;
    do {
        int64_t c = (int64_t)cur;
        /* Unsigned negation: -INT64_MIN does not exist as an int64_t. */
        if (delta < 0 ? (uint64_t)c < 0 - (uint64_t)delta
                      : c > INT64_MAX - delta)
            return LFC_EINVAL;
        next = c + delta;
        /* ORDER acqrel: release publishes this task's work to the waiter
         * that reads the zero; acquire chains earlier done-ers' work into
         * ours (a release sequence through the RMWs). */
    } while (!lfc_cas_acqrel_u64(&wg->count, &cur, (uint64_t)next));
    if (next == 0 && delta != 0) {
        /* ORDER seqcst: the zero before the waiters load (store→load);
         * pairs with the waiters' announce-then-recheck (park.c). */
        lfc_fence_seqcst();
        lfc__ec_broadcast_fenced(&wg->ec, NULL);
    }
    return LFC_OK;
}

int
lfc_wg_done(lfc_wg *wg)
{
    return lfc_wg_add(wg, -1);
}

static int
zero_try(void *arg)
{
    lfc_wg *wg = arg;
    /* ORDER acq: pairs with the release CAS that wrote the zero. */
    return lfc_load_acq_u64(&wg->count) == 0 ? LFC_OK : LFC_AGAIN;
}

int
lfc_wg_wait_until(lfc_wg *wg, int64_t deadline_ns)
{
    if (!wg)
        return LFC_EINVAL;
    if (zero_try(wg) == LFC_OK)
        return LFC_OK;
    return lfc__ec_wait(&wg->ec, &wg->spin, NULL, zero_try, wg, deadline_ns);
}

int
lfc_wg_wait(lfc_wg *wg)
{
    return lfc_wg_wait_until(wg, INT64_MAX);
}
