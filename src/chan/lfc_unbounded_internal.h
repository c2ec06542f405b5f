/* SPDX-License-Identifier: MIT */
/*
 * What unbounded.c lends the tests: a constructor whose free-running
 * counters (completed enqueues, dequeues; compared mod 2^38) start at
 * start_count instead of 0, so that their wraparound can be tested.
 */
#ifndef LFC_UNBOUNDED_INTERNAL_H
#define LFC_UNBOUNDED_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lfchan/chan.h"
#include "lfc_common.h"

/* As lfc_chan_new_unbounded(elem_size), counters starting at start_count. */
lfc_chan *lfc__chan_new_unbounded_at(size_t elem_size,
                                     uint64_t start_count) LFC_INTERNAL;

#endif /* LFC_UNBOUNDED_INTERNAL_H */
