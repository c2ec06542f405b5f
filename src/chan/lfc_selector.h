/* SPDX-License-Identifier: MIT */
/*
 * The selector: one thread's parking word for a wait on several events at
 * once, and the nodes it links on event counts (core/lfc_park.h). Owns the
 * word's state machine; select.c drives it through the waitable interface
 * (lfc_waitable.h), channels complete parked cases through it (unbuffered
 * hand-offs), and the semaphore reuses it for its waiter queue.
 *
 * Every transition of `state` is an RMW or, for the HANDOFF -> DONE step, a
 * release store by the only thread that may make it. See select.c for the
 * protocol and why no wake-up is lost.
 *
 *   WAITING   registered; wakers may notify it, peers may hand off to it
 *   ABORTED   the selector took itself back (a case looked ready, or its
 *             deadline passed): nobody may claim it any more
 *   HANDOFF   a peer claimed it and is copying a value in or out
 *   NOTIFY(i) a waker says case i's event count fired: try case i
 *   DONE(i)   a peer completed case i by hand-off (status LFC_OK)
 *
 * Lifetime: the selector and its nodes live in the waiting thread's memory
 * (its stack). Other threads touch a node, and through it the selector,
 * only under the lock of the event count the node is linked on, and the
 * owner unlinks every node (taking each lock) before it returns.
 */
#ifndef LFC_SELECTOR_H
#define LFC_SELECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "lfc_common.h"
#include "lfc_park.h"

enum {
    LFC__SEL_WAITING = 0,
    LFC__SEL_ABORTED = 1,
    LFC__SEL_HANDOFF = 2,
    LFC__SEL_CASE0 = 4 /* NOTIFY(i) = 4 + 2i; DONE(i) = 5 + 2i */
};
#define LFC__SEL_NOTIFY(i) (LFC__SEL_CASE0 + 2 * (uint32_t)(i))
#define LFC__SEL_DONE(i) (LFC__SEL_CASE0 + 2 * (uint32_t)(i) + 1)

/* Whether state s is DONE(i) / NOTIFY(i) for some i, and that i. */
static inline bool
lfc__sel_is_done(uint32_t s)
{
    return s >= LFC__SEL_CASE0 && ((s - LFC__SEL_CASE0) & 1);
}

static inline bool
lfc__sel_is_notify(uint32_t s)
{
    return s >= LFC__SEL_CASE0 && !((s - LFC__SEL_CASE0) & 1);
}

static inline uint32_t
lfc__sel_case_of(uint32_t s)
{
    return (s - LFC__SEL_CASE0) / 2;
}

struct lfc__selector {
    uint32_t state; /* futex word (private): see above */
};

/* One case's node: an event-count node whose notify is the selector's. */
struct lfc__sel_node {
    struct lfc__ec_node base;  /* linked on `ec`; first member */
    struct lfc__selector *sel; /* its thread's parking word */
    struct lfc_ec *ec;         /* where it is linked (set by the linker) */
    void *buf;                 /* the case's buffer, for hand-offs */
    uint32_t index;            /* the case's index: NOTIFY(index) */
};

/* Prepare node n for case index of selector sel (buf: the case's buffer,
 * or NULL). The waitable that links it sets n->ec and n->base.passive. */
void lfc__sel_node_init(struct lfc__sel_node *n, struct lfc__selector *sel,
                        uint32_t index, void *buf) LFC_INTERNAL;

/* The selector node of an event-count node (every node on a channel's
 * event counts is one: only lfc__sel_node_init sets this notify). */
static inline struct lfc__sel_node *
lfc__sel_node_of(struct lfc__ec_node *n)
{
    return lfc_container_of(n, struct lfc__sel_node, base);
}

/*
 * Claim the selector of a linked node for a hand-off: WAITING -> HANDOFF by
 * CAS (exactly one claimer wins against wakers, other peers and the
 * selector's own abort). On success the caller copies, then ends the
 * hand-off with lfc__sel_finish. Under the node's event-count lock.
 */
bool lfc__sel_claim(struct lfc__sel_node *n) LFC_INTERNAL;

/* End a claimed hand-off with state s (DONE(i), or NOTIFY(i) when the
 * case could not complete): release store, then wake. Under the lock. */
void lfc__sel_finish(struct lfc__sel_node *n, uint32_t s) LFC_INTERNAL;

/* Whether n's selector is WAITING and is not self (a hint: whoever acts
 * on it claims by CAS). Under the node's event-count lock. */
bool lfc__sel_waiting_other(const struct lfc__sel_node *n,
                            const struct lfc__selector *self) LFC_INTERNAL;

/*
 * Sleep while sel->state is WAITING or HANDOFF (woken by a notify or a
 * finished hand-off; every return rechecks). At deadline_ns a WAITING
 * selector takes itself back (CAS to ABORTED); a HANDOFF is always waited
 * out (a peer is copying; a bounded wait). Returns the final state:
 * ABORTED (timed out), NOTIFY(i) or DONE(i).
 */
uint32_t lfc__sel_park(struct lfc__selector *sel,
                       int64_t deadline_ns) LFC_INTERNAL;

/* Wake the selector's thread (after a store to its state). */
void lfc__sel_wake(struct lfc__selector *sel) LFC_INTERNAL;

#endif /* LFC_SELECTOR_H */
