/* SPDX-License-Identifier: MIT */
/*
 * The channel handle and its flavors. For the files that implement a
 * flavor (chan.c: the ring, bounded and unbuffered; unbounded.c: the
 * list) and nothing else: other modules use lfc_chan_internal.h.
 *
 * Every lfc_chan starts with this common part. The ring, the fast flavor,
 * is dispatched inline by chan.c (flavor == NULL); any other flavor
 * supplies a table, which the public functions in chan.c call after the
 * argument and ownership checks they do for every flavor. So a new flavor
 * writes its operations and nothing of the lifetime rules, owned
 * channels, or argument checking.
 *
 * Field table (common part):
 *   | field       | written by                         | read by | order  |
 *   |-------------|------------------------------------|---------|--------|
 *   | waitable    | the constructor                    | select  | -      |
 *   | flavor,     | the constructor                    | all     | -      |
 *   | cap,        |                                    |         |        |
 *   | elem_size   |                                    |         |        |
 *   | owned, dtor | lfc__chan_make_owned, before shared| all     | -      |
 *   | refs        | retain/release, dup/free (RMW)     | same    | acqrel |
 *   | user_refs   | lfc_chan_dup / lfc_chan_free (RMW) | same    | rlx    |
 *   | owner_data  | the owner module, under its lock   | owner   | lock   |
 */
#ifndef LFC_CHAN_FLAVOR_H
#define LFC_CHAN_FLAVOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lfchan/chan.h"
#include "lfc_chan_internal.h"
#include "lfc_common.h"
#include "lfc_waitable.h"

/*
 * A flavor other than the ring. Each operation gets a channel of its
 * flavor and arguments already checked (non-NULL buffers where elements
 * have a size; sends only on channels users may send to), and keeps the
 * meaning chan.h documents for the public function of the same name.
 */
struct lfc__chan_flavor {
    int (*try_send)(lfc_chan *ch, const void *elem);
    int (*send_until)(lfc_chan *ch, const void *elem, int64_t deadline_ns);
    int (*try_recv)(lfc_chan *ch, void *out);
    int (*recv_until)(lfc_chan *ch, void *out, int64_t deadline_ns);
    int (*close)(lfc_chan *ch); /* the owner's close: LFC_OK or LFC_CLOSED */
    bool (*closed)(const lfc_chan *ch);
    size_t (*len)(const lfc_chan *ch);
    /* Frees everything but the memory at ch itself, which chan.c frees;
     * run by the last release, after the dtor. */
    void (*destroy)(lfc_chan *ch);
    /* Batches (chan.h, "Batches"); each may be NULL, and chan.c then
     * runs a generic loop over the single operations above (the same
     * results, one wake-up per value). Arguments are checked as above,
     * plus a non-NULL count pointer and n, max > 0; each sets *sent or
     * *got on every return. */
    int (*send_many_until)(lfc_chan *ch, const void *elems, size_t n,
                           size_t *sent, int64_t deadline_ns);
    int (*try_send_many)(lfc_chan *ch, const void *elems, size_t n,
                         size_t *sent);
    int (*recv_many_until)(lfc_chan *ch, void *out, size_t max, size_t *got,
                           int64_t deadline_ns);
    int (*try_recv_many)(lfc_chan *ch, void *out, size_t max, size_t *got);
};

struct lfc_chan {
    struct lfc__waitable waitable; /* first: select waits through it */
    const struct lfc__chan_flavor *flavor; /* NULL: the ring (chan.c) */
    size_t cap;                    /* capacity given by the user */
    size_t elem_size;
    bool owned;    /* the library's (ctx done, timer): receive-only for users */
    uint32_t refs; /* references; RMW by retain/release and lfc_chan_dup */
    /* Owned channels only: the references users took with lfc_chan_dup,
     * the only ones lfc_chan_free may drop (RMW). */
    uint32_t user_refs;
    lfc__chan_dtor dtor; /* run by the last release, or NULL; read-only */
    void *owner_data;    /* the owner module's, under the owner's lock */
};

/* Fill in the common part of a new channel (one reference: the caller's).
 * Before the channel is shared. */
void lfc__chan_init_common(lfc_chan *ch, const struct lfc__waitable_ops *wops,
                           const struct lfc__chan_flavor *flavor, size_t cap,
                           size_t elem_size) LFC_INTERNAL;

#endif /* LFC_CHAN_FLAVOR_H */
