/* SPDX-License-Identifier: MIT */
/*
 * Channel internals shared with other modules (timer, ctx, select).
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
 * a channel the user may free (the timer thread sending to an lfc_after
 * channel, a context's done channel) takes its own reference first.
 */
void lfc__chan_retain(lfc_chan *ch) LFC_INTERNAL;
void lfc__chan_release(lfc_chan *ch) LFC_INTERNAL;

/* Internal constructor, also used by tests to start the counters near
 * 2^64 and check wraparound. */
lfc_chan *lfc__chan_new_at(size_t capacity, size_t elem_size,
                           uint64_t start_lap) LFC_INTERNAL;

/* ---- for select.c ---- */
struct lfc__selector;
struct lfc_ec;

/*
 * Whether a case on ch in direction dir (LFC_SEND, LFC_RECV) looks ready:
 * its try would complete (or report LFC_CLOSED), or a selector other than
 * self waits to pair with it. Never consumes. Must not miss an event whose
 * waker did not see self's registration (select.c); may say "ready" when
 * the try then fails.
 */
bool lfc__chan_ready(lfc_chan *ch, int dir,
                     const struct lfc__selector *self) LFC_INTERNAL;

/* The event count a case waits on, and whether its node is passive (see
 * struct lfc__sel_node). */
struct lfc_ec *lfc__chan_case_ec(lfc_chan *ch, int dir,
                                 int *passive) LFC_INTERNAL;

/* A selector about to wait on a dir case of ch runs on cpu: record it for
 * the channel's spin policy, and say whether the other side last ran on
 * the same CPU (lfc__spin_note_same_cpu). */
bool lfc__chan_note_cpu(lfc_chan *ch, int dir, int cpu) LFC_INTERNAL;

size_t lfc__chan_elem_size(const lfc_chan *ch) LFC_INTERNAL;

#endif /* LFC_CHAN_INTERNAL_H */
