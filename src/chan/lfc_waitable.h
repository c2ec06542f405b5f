/* SPDX-License-Identifier: MIT */
/*
 * The waitable interface: what select needs of anything it can wait on,
 * per kind of case (LFC_SEND, LFC_RECV). C's counterpart of crossbeam's
 * SelectHandle. select.c knows nothing of a channel but this; a channel
 * knows nothing of select but the selector (lfc_selector.h).
 *
 * An object select can wait on starts with a struct lfc__waitable (its
 * first member), so a pointer to it is a pointer to its waitable. Today's
 * implementations: bounded and unbuffered channels (chan.c), unbounded
 * channels (unbounded.c); the readiness descriptor and the shared-memory
 * channel are to come.
 *
 * The contract each implementation keeps, which select.c's argument that
 * no wake-up is lost rests on (select.c, points 1-6):
 *   - try: never blocks; LFC_OK or LFC_CLOSED completes the case, LFC_AGAIN
 *     does not, and then nothing was consumed. The caller has checked the
 *     arguments with check.
 *   - ready: never consumes; may say "ready" when try then fails, but
 *     must not miss an event whose waker could not see self's nodes: it
 *     reads the state that the event's publication writes, after the
 *     caller's link and seqcst fence.
 *   - link: puts node n (lfc__sel_node_init'ed) on the event count this
 *     kind of case waits on, setting n->ec and n->base.passive, with
 *     lfc__ec_node_add (the announce of the store-buffering pair). Every
 *     thread whose write can make the case ready signals that event count
 *     after a seqcst fence, by the waitable's own re-signal rule.
 *   - unlink: takes n off again (lfc__ec_node_remove).
 *   - note_cpu: records that a waiter of this side runs on cpu; true if
 *     the partner side last ran there (spinning cannot help).
 *
 * Lifetime: the caller holds a reference to the object (the public rule
 * of chan.h) for as long as any of its nodes is linked.
 */
#ifndef LFC_WAITABLE_H
#define LFC_WAITABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "lfc_common.h"
#include "lfc_selector.h"

struct lfc__waitable;

struct lfc__waitable_ops {
    /* 0 if a dir case with buffer buf is valid on w, else LFC_EINVAL (a
     * send on a receive-only channel; a NULL buffer for elements). */
    int (*check)(const struct lfc__waitable *w, int dir, const void *buf);
    int (*try_send)(struct lfc__waitable *w, const void *elem);
    int (*try_recv)(struct lfc__waitable *w, void *out);
    bool (*ready)(struct lfc__waitable *w, int dir,
                  const struct lfc__selector *self);
    void (*link)(struct lfc__waitable *w, int dir, struct lfc__sel_node *n);
    void (*unlink)(struct lfc__waitable *w, int dir, struct lfc__sel_node *n);
    bool (*note_cpu)(struct lfc__waitable *w, int dir, int cpu);
};

struct lfc__waitable {
    const struct lfc__waitable_ops *ops; /* read-only after creation */
};

/* The waitable of an object that starts with one (an lfc_chan). */
static inline struct lfc__waitable *
lfc__waitable_of(void *obj)
{
    return (struct lfc__waitable *)obj;
}

#endif /* LFC_WAITABLE_H */
