/* SPDX-License-Identifier: MIT */
/*
 * lfchan spin policy: how long a blocked call spins before it parks.
 *
 * A call that must wait (a receive on an empty channel, a send on a full
 * one) first spins for a short, bounded time, polling the channel, because a
 * partner running on another core hands over within a fraction of a
 * microsecond, while waking a parked thread costs microseconds (tens of them
 * on virtual machines). Only then does it park on a futex, using no CPU.
 *
 * By default the spin budget is adaptive, kept per channel and per side: it
 * grows toward twice the spin that recently succeeded and shrinks toward a
 * small floor while spinning keeps failing (both ends sharing one core, or
 * a slow partner). lfc_spin_set_limit() overrides it for the whole process.
 */
#ifndef LFC_SPIN_H
#define LFC_SPIN_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* lfc_spin_set_limit(LFC_SPIN_ADAPTIVE) restores the adaptive default. */
#define LFC_SPIN_ADAPTIVE (-1)

/*
 * lfc_spin_set_limit - set the process-wide spin budget.
 *
 * limit: LFC_SPIN_ADAPTIVE (or any negative value) for the adaptive default;
 * 0 to park at once; n > 0 for a fixed budget of n polls (each poll is one
 * check of the channel and one CPU pause hint, roughly 10 to 50 ns).
 * Returns: nothing. Blocks: never.
 * Threads: any; calls already spinning may finish with the old budget.
 */
LFC_API void lfc_spin_set_limit(int limit);

/*
 * lfc_spin_limit - the value last set by lfc_spin_set_limit().
 *
 * Returns: LFC_SPIN_ADAPTIVE, 0, or the fixed budget. Blocks: never.
 */
LFC_API int lfc_spin_limit(void);

#ifdef __cplusplus
}
#endif

#endif /* LFC_SPIN_H */
