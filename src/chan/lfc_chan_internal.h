/* SPDX-License-Identifier: MIT */
/*
 * Channel internals shared with other modules of chan/ (timer, ctx,
 * merge) and sync/ (sem). Select uses none of them: it waits through
 * lfc_waitable.h, which every lfc_chan starts with.
 */
#ifndef LFC_CHAN_INTERNAL_H
#define LFC_CHAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lfchan/chan.h"
#include "lfc_common.h"

/*
 * Channels are reference counted inside the library: lfc_chan_new returns
 * a channel holding one reference (the user's), lfc_chan_free drops it, and
 * the memory goes when the last reference does. A module that keeps using
 * a channel the user may free (a merger's inputs and output) takes its
 * own reference first; lfc_after's timer instead holds none and is
 * cancelled by the channel's dtor (timer.c).
 */
void lfc__chan_retain(lfc_chan *ch) LFC_INTERNAL;
void lfc__chan_release(lfc_chan *ch) LFC_INTERNAL;

/* Run by the last release, before the memory goes. */
typedef void (*lfc__chan_dtor)(lfc_chan *ch);

/*
 * Make ch a channel the library owns (a context's done channel, a timer's
 * channel): users may receive from it and lfc_chan_dup it, but every send
 * and lfc_close on it returns LFC_EINVAL, and lfc_chan_free drops only the
 * references users took with lfc_chan_dup. The owner holds the reference
 * lfc_chan_new returned and drops it with lfc__chan_release. dtor (may be
 * NULL) runs when the last reference goes. Call before ch is shared.
 */
void lfc__chan_make_owned(lfc_chan *ch, lfc__chan_dtor dtor) LFC_INTERNAL;

/* Set the dtor of a channel that stays the user's (lfc_after's: the timer
 * leaves the heap when the user frees it). Call before ch is shared. */
void lfc__chan_set_dtor(lfc_chan *ch, lfc__chan_dtor dtor) LFC_INTERNAL;

/* A word the owner (or a dtor's module) may use, under its own lock. */
void **lfc__chan_owner_data(lfc_chan *ch) LFC_INTERNAL;

/* The owner's send and close (lfc_try_send and lfc_close, without the
 * ownership check). */
int lfc__chan_owner_try_send(lfc_chan *ch, const void *elem) LFC_INTERNAL;
int lfc__chan_owner_close(lfc_chan *ch) LFC_INTERNAL;

/* Whether users may not send to ch (owned). */
bool lfc__chan_recv_only(const lfc_chan *ch) LFC_INTERNAL;

/* A snapshot of ch's reference count (every holder's: users', owners',
 * modules'). A holder that reads only its own references knows nobody
 * else can reach ch any more (taking a reference needs one), so the value
 * stays put until it takes or drops one itself. Used by merge.c to find
 * channels abandoned by everyone else. */
uint32_t lfc__chan_refs(const lfc_chan *ch) LFC_INTERNAL;

/* A static unbuffered elem_size-0 owned channel nobody ever sends to or
 * closes: never ready. Getting it cannot fail; never freed. */
lfc_chan *lfc__chan_never(void) LFC_INTERNAL;

/* Internal constructor, also used by tests to start the counters near
 * 2^64 and check wraparound. */
lfc_chan *lfc__chan_new_at(size_t capacity, size_t elem_size,
                           uint64_t start_lap) LFC_INTERNAL;

#endif /* LFC_CHAN_INTERNAL_H */
