/* SPDX-License-Identifier: MIT */
/*
 * Timer internals shared with other modules (ctx): callback timers.
 *
 * A callback timer runs fn(arg) once on the timer thread at its deadline,
 * outside the timer module's lock, so fn may call back into the timer
 * module (lfc__timer_stop on other timers) and take other locks. The
 * module never touches the timer after fn has begun: fn may free it (and
 * the object embedding it). Its owner must arrange that arg stays valid
 * until either lfc__timer_stop returns true or fn has run; ctx does this
 * by giving the timer a reference of its own, released by whichever of
 * the two happens.
 */
#ifndef LFC_TIMER_INTERNAL_H
#define LFC_TIMER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lfchan/timer.h"
#include "lfc_common.h"

typedef void (*lfc__timer_fn)(void *arg);

/* A callback timer, not yet armed. NULL (errno ENOMEM) on failure. */
lfc_timer *lfc__timer_new_fn(lfc__timer_fn fn, void *arg) LFC_INTERNAL;

/*
 * Queue t to fire at deadline_ns (absolute CLOCK_MONOTONIC; LFC_FOREVER
 * never fires). t must not be queued or firing. Starts the timer thread if
 * none runs. Returns LFC_OK, or LFC_ENOMEM (the heap could not grow or the
 * thread could not start; t is then not queued).
 */
int lfc__timer_arm(lfc_timer *t, int64_t deadline_ns) LFC_INTERNAL;

/*
 * Dequeue t. Returns true if it was queued (fn will never run for this
 * arming); false if it was not queued: never armed, already stopped, or
 * fired (fn may still be running on the timer thread).
 */
bool lfc__timer_stop(lfc_timer *t) LFC_INTERNAL;

/* Free a callback timer that is neither queued nor firing. */
void lfc__timer_destroy(lfc_timer *t) LFC_INTERNAL;

/* Test hook: how many timers of every kind are queued right now (taken
 * under the module's lock; stale as soon as it returns). Never blocks for
 * long; cannot fail. */
size_t lfc__timer_pending(void) LFC_INTERNAL;

#endif /* LFC_TIMER_INTERNAL_H */
