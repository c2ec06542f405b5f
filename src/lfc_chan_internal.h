/* SPDX-License-Identifier: MIT */
/*
 * Channel internals shared with other modules (timer, ctx, select).
 */
#ifndef LFC_CHAN_INTERNAL_H
#define LFC_CHAN_INTERNAL_H

#include <stdint.h>

#include "lfchan/chan.h"
#include "lfc_common.h"

/*
 * Channels are reference counted inside the library: lfc_chan_new returns
 * a channel holding one reference (the user's), lfc_chan_free drops it, and
 * the memory goes when the last reference does. A module that keeps using
 * a channel the user may free (the timer thread sending to an lfc_after
 * channel, a context's done channel) takes its own reference first.
 */
void lfc__chan_retain(lfc_chan *ch) LFC_INTERNAL;
void lfc__chan_release(lfc_chan *ch) LFC_INTERNAL;

/* Internal constructor, also used by tests to start the counters near
 * 2^64 and check wraparound. */
lfc_chan *lfc__chan_new_at(size_t capacity, size_t elem_size,
                           uint64_t start_lap) LFC_INTERNAL;

#endif /* LFC_CHAN_INTERNAL_H */
