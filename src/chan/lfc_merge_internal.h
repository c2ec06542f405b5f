/* SPDX-License-Identifier: MIT */
/*
 * Merge internals for tests: the fan-in limit of one forwarding thread.
 */
#ifndef LFC_MERGE_INTERNAL_H
#define LFC_MERGE_INTERNAL_H

#include <stddef.h>

#include "lfc_common.h"

/*
 * Set how many inputs one forwarding thread of a merger serves (at least
 * 2); 0 restores the default (src/chan/merge.c, MERGE_FANIN). Read by
 * lfc_merge_new: tests lower it to build deep trees from few inputs. Not
 * thread safe: call it while no lfc_merge_new runs.
 */
void lfc__merge_set_fanin(size_t fanin) LFC_INTERNAL;

#endif /* LFC_MERGE_INTERNAL_H */
