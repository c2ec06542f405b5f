/* SPDX-License-Identifier: MIT */
/*
 * The selector's parking word and its nodes (lfc_selector.h has the state
 * machine). Depends on: core (event counts, futex operations, atomics).
 * Used by: select.c (through the waitable interface), unbuf.c (unbuffered
 * hand-offs), sem.c (its waiter queue and context watch).
 *
 * Field table (struct lfc__selector, struct lfc__sel_node):
 *   | field        | written by                        | read by   | order  |
 *   |--------------|-----------------------------------|-----------|--------|
 *   | sel.state    | owner (store while unlinked, CAS),| owner,    | acqrel |
 *   |              | wakers (CAS), peers (CAS, rel st) | peers     |        |
 *   | node fields  | owner, before linking             | wakers,   | lock   |
 *   |              |                                   | peers     |        |
 */
#include <stdbool.h>
#include <stdint.h>

#include "lfchan/status.h"
#include "lfc_atomic.h"
#include "lfc_park.h"
#include "lfc_selector.h"

/* The node's notify (core/park.c calls it under the event count's lock):
 * WAITING -> NOTIFY(index), then wake. False if the selector had already
 * left WAITING (notified elsewhere, aborted, or in a hand-off): the wake
 * goes on to the next waiter. */
static bool
sel_notify(struct lfc__ec_node *base)
{
    struct lfc__sel_node *n = lfc__sel_node_of(base);
    uint32_t s = LFC__SEL_WAITING;
    /* ORDER acqrel: release orders the waker's publication before the
     * selector's acquire load of its state, so its try sees it. */
    if (!lfc_cas_acqrel_u32(&n->sel->state, &s, LFC__SEL_NOTIFY(n->index)))
        return false;
    /* Under the lock: the node, hence its selector's stack, stays alive
     * until the selector unlinks it. */
    lfc__sel_wake(n->sel);
    return true;
}

void
lfc__sel_node_init(struct lfc__sel_node *n, struct lfc__selector *sel,
                   uint32_t index, void *buf)
{
    lfc__list_init(&n->base.link); /* before it is linked: unshared */
    n->base.notify = sel_notify;
    n->base.passive = false;
    n->sel = sel;
    n->ec = NULL;
    n->buf = buf;
    n->index = index;
}

bool
lfc__sel_claim(struct lfc__sel_node *n)
{
    uint32_t s = LFC__SEL_WAITING;
    /* ORDER acqrel: claims the selector (exactly one claimer wins); the
     * node's fields were published by the lock. */
    return lfc_cas_acqrel_u32(&n->sel->state, &s, LFC__SEL_HANDOFF);
}

void
lfc__sel_finish(struct lfc__sel_node *n, uint32_t s)
{
    /* ORDER rel: publishes the copy (and, for a send case, that our
     * reading of its buffer is done); pairs with the acq in
     * lfc__sel_park(). */
    lfc_store_rel_u32(&n->sel->state, s);
    lfc__sel_wake(n->sel); /* under the lock: n->sel is alive */
}

bool
lfc__sel_waiting_other(const struct lfc__sel_node *n,
                       const struct lfc__selector *self)
{
    /* ORDER rlx: a hint; whoever acts on it claims by CAS. */
    return n->sel != self &&
           lfc_load_rlx_u32(&n->sel->state) == LFC__SEL_WAITING;
}

void
lfc__sel_wake(struct lfc__selector *sel)
{
    lfc__futex_wake(&lfc__futex_private, &sel->state, 1);
}

uint32_t
lfc__sel_park(struct lfc__selector *sel, int64_t deadline_ns)
{
    /* Woken by sel_notify() (NOTIFY), by a peer's hand-off (HANDOFF then
     * DONE, each store followed by lfc__sel_wake), by the deadline, or
     * spuriously; every return reloads the state. */
    for (;;) {
        /* ORDER acq: pairs with the waker's release CAS (or the peer's
         * release store of DONE): its publication is visible to us. */
        uint32_t s = lfc_load_acq_u32(&sel->state);
        if (s == LFC__SEL_HANDOFF) {
            /* bounded: a copy */
            lfc__futex_wait(&lfc__futex_private, &sel->state, s, INT64_MAX);
            continue;
        }
        if (s != LFC__SEL_WAITING)
            return s;
        LFC_DEBUG_YIELD_POINT();
        if (lfc__futex_wait(&lfc__futex_private, &sel->state, s,
                            deadline_ns) == LFC_TIMEDOUT) {
            /* ORDER acqrel: take ourselves back; if a waker or peer got
             * there first, the failed CAS returns its state (acquire). */
            if (lfc_cas_acqrel_u32(&sel->state, &s, LFC__SEL_ABORTED))
                return LFC__SEL_ABORTED;
        }
    }
}
