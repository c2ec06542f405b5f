/* SPDX-License-Identifier: MIT */
/*
 * lfchan timers: channels that receive a value after a duration (Go's
 * time.After, time.NewTimer) or every period (time.Ticker).
 *
 * Every timer in the process is served by one shared timer thread, started
 * on first use, which keeps pending timers in a min-heap ordered by
 * deadline and sleeps until the earliest one; there is no thread per
 * timer. When no timer has been pending for a short while (a quarter of a
 * second) the thread exits, and the next timer starts a fresh one, so a
 * program that has freed all its timers has no lfchan thread left. The
 * thread is named "lfc-timer" and blocks all signals.
 *
 * Each firing sends lfc_now_ns() (an int64_t, the CLOCK_MONOTONIC time
 * when it fired, never earlier than the deadline) without blocking (as
 * lfc_try_send would) on a channel of capacity 1, so the timer thread
 * never blocks on a reader.
 * A one-shot timer's value therefore always fits; a ticker whose reader
 * is slow drops ticks, like Go's, and the reader finds at most one stale
 * tick buffered.
 *
 * fork(): a child forked from a process that used timers has working
 * timers. The timer thread is not copied by fork; the child's first timer
 * call that arms a timer (lfc_after, lfc_timer_after, lfc_tick, or a
 * context deadline) starts a new one. Timers pending in the parent at the
 * fork are copied into the child with the rest of its memory and fire
 * there too, on the child's copies of their channels, once that thread
 * has started: a child that only waits on a timer made before the fork,
 * arming none of its own, waits until it arms one. A context deadline
 * that was being delivered at the moment of the fork is not completed in
 * the child (that context may stay live there). fork() waits for any
 * other thread's timer call to leave the module's lock first.
 *
 * Threads:
 *
 *   | call                  | may race with                                |
 *   |-----------------------|----------------------------------------------|
 *   | lfc_after             | every call                                   |
 *   | lfc_timer_after,      | every call                                   |
 *   | lfc_tick              |                                              |
 *   | lfc_timer_chan        | every call on the same timer but free        |
 *   | lfc_timer_stop        | every call on the same timer but free, the   |
 *   |                       | timer firing, receives on its channel        |
 *   | lfc_timer_free        | nothing on the same timer: no call on it may |
 *   |                       | be in progress or follow, nor on its channel |
 *   |                       | but by threads that hold a reference of      |
 *   |                       | their own to it (lfc_chan_dup)               |
 *
 * Ordering (what users may rely on):
 *   - A timer never fires early: the receive that returns a timer's value
 *     returns after its deadline, and the value is >= the deadline.
 *   - Timers fire in deadline order (ties in creation order), so for two
 *     timers the one with the earlier deadline carries the smaller or
 *     equal value.
 *   - After lfc_timer_stop (or lfc_timer_free) returns, the timer sends
 *     nothing more. A value sent before it stays buffered.
 *   - Whatever a thread did before creating a timer happens-before the
 *     receive of that timer's value.
 *
 * Out of memory: a call that returns NULL with ENOMEM queued nothing and
 * keeps nothing. If the timer thread could not be started, the next call
 * that arms a timer tries again. The one exception is the module's
 * one-time set-up on the first arm in the process (registering its fork
 * handlers with pthread_atfork, which fails only when libc is out of
 * memory): if that fails, every later call that arms a timer (and every
 * context with a deadline of its own) fails with ENOMEM too.
 *
 * Ownership: lfc_after's channel is the caller's, an ordinary channel
 * (see lfc_after). A handle's channel (lfc_timer_chan) is owned by the
 * library, as include/lfchan/chan.h "Ownership" describes: receive-only
 * for users (lfc_send, lfc_try_send, lfc_send_until, send cases and
 * lfc_close on it return LFC_EINVAL), freed by lfc_timer_free, and
 * lfc_chan_free on it releases only a reference the caller took with
 * lfc_chan_dup (without one it does nothing). A dup'ed reference keeps
 * the channel, with anything buffered in it, valid after lfc_timer_free
 * until that reference is freed; nothing is sent on it any more.
 *
 * pthread_cancel: no timer function is a cancellation point, and a
 * receive on a timer's channel is an ordinary channel receive
 * (lfchan/chan.h, "Cancellation"): a cancelled receiver gets the value
 * when the timer fires. Durations: ns <= 0 (INT64_MIN included) fires at
 * once; a deadline too far to represent (lfc_after(INT64_MAX)) saturates
 * and never fires.
 *
 * Contract violations (bugs, not statuses): using a timer after
 * lfc_timer_free, or freeing it while a call on it is in progress; using
 * its channel after lfc_timer_free, or while lfc_timer_free runs, without
 * a reference of one's own from lfc_chan_dup; calling lfc_chan_free on an
 * lfc_after channel more times than it has references.
 */
#ifndef LFC_TIMER_H
#define LFC_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_timer lfc_timer;

/*
 * lfc_after - a channel that receives one value after ns nanoseconds.
 *
 * The channel has capacity 1 and elem_size sizeof(int64_t); it receives
 * lfc_now_ns() at the moment the timer fires, at or after
 * lfc_now_ns() + ns as read by this call. ns <= 0 fires at once (on the
 * timer thread, so the value may take a few microseconds to arrive).
 * The channel is the caller's, an ordinary one (the timer holds no
 * reference to it): free it with lfc_chan_free whenever it is no longer
 * wanted, before or after it fires. Releasing its last reference (more
 * than one if you lfc_chan_dup it) before it fires cancels the timer at
 * once: it leaves the timer queue and everything is freed then, however
 * far the deadline (as in Go 1.23), so abandoned timeouts cost nothing
 * and do not keep the timer thread alive. Until then a pending lfc_after
 * holds its channel (about 450 bytes) and a timer entry (about 80 bytes,
 * heap slot included); once it has fired only the channel is left. The
 * lfc_chan_free that drops the last reference takes the timer module's
 * lock briefly. The timer cannot be stopped otherwise; use
 * lfc_timer_after for one that can be stopped and kept. The channel is
 * never closed by the timer; if the caller closes it or fills it with a
 * value of its own first, the timer's value is dropped.
 *
 * Returns: the channel, or NULL with errno ENOMEM (allocation failed, or
 * the timer thread could not be started).
 * Blocks: never (it takes the timer module's lock briefly).
 * Threads: any.
 * Ordering: see the file comment.
 */
LFC_API lfc_chan *lfc_after(int64_t ns);

/*
 * lfc_timer_after - a stoppable one-shot timer that fires after ns ns.
 *
 * As lfc_after, but the caller gets a handle: lfc_timer_chan() is the
 * channel (the timer's, receive-only; see "Ownership"), lfc_timer_stop()
 * cancels it, lfc_timer_free() releases both.
 *
 * Returns: the timer, or NULL with errno ENOMEM (allocation failed, or
 * the timer thread could not be started).
 * Blocks: never. Threads: any.
 */
LFC_API lfc_timer *lfc_timer_after(int64_t ns);

/*
 * lfc_tick - a ticker that sends lfc_now_ns() every period_ns.
 *
 * The first tick is due at lfc_now_ns() + period_ns, the k-th at
 * start + k * period_ns: deadlines advance by whole periods, so delays do
 * not accumulate. Each tick is sent with lfc_try_send on the capacity-1
 * channel: if the previous tick is still unread the new one is dropped.
 * If the timer thread itself falls behind (the machine is overloaded),
 * missed periods are skipped rather than sent in a burst: after each tick
 * the next one is the first period boundary after the moment it was sent.
 * A period shorter than the thread's resolution (50 us, about what a
 * Linux thread's sleep resolves) is valid but ticks at most about once per
 * 50 us: the next tick is then the first period boundary at least 50 us
 * after the last, the boundaries in between count as missed. However
 * short the period, the timer thread releases its lock between two ticks
 * of one ticker (and for such a period sleeps), so a tiny period never
 * holds up other timers or contexts. It runs until lfc_timer_stop or
 * lfc_timer_free.
 *
 * Returns: the ticker, or NULL with errno EINVAL (period_ns <= 0) or
 * ENOMEM (allocation failed, or the timer thread could not be started).
 * Blocks: never. Threads: any.
 */
LFC_API lfc_timer *lfc_tick(int64_t period_ns);

/*
 * lfc_timer_chan - the channel a timer or ticker sends on.
 *
 * Capacity 1, elem_size sizeof(int64_t). It belongs to the timer (see
 * "Ownership" above): receive-only for users (sends and lfc_close return
 * LFC_EINVAL), valid until lfc_timer_free. lfc_chan_free on it does
 * nothing unless the caller took a reference with lfc_chan_dup, which
 * keeps it valid past lfc_timer_free until that reference is freed.
 * The same channel is returned on every call.
 * Returns: the channel; NULL if t is NULL. Blocks: never.
 * Threads: any, until lfc_timer_free (past it, with a dup'ed reference).
 */
LFC_API lfc_chan *lfc_timer_chan(lfc_timer *t);

/*
 * lfc_timer_stop - cancel a pending timer or stop a ticker.
 *
 * After it returns, the timer thread never sends on this timer's channel
 * again (a stopped timer cannot be restarted). A value already sent stays
 * in the channel; drain it with lfc_try_recv if that matters. The channel
 * is not closed: a receiver blocked on it stays blocked.
 *
 * Returns: true if this call stopped a one-shot timer that had not fired
 * or a running ticker; false if the one-shot timer had already fired (its
 * value is then in the channel, unless received), if the timer was
 * already stopped, or if t is NULL.
 * Blocks: never (it takes the timer module's lock briefly; the timer
 * thread holds that lock while sending, which never blocks either).
 * Threads: may race with the timer firing and with other calls on t but
 * lfc_timer_free.
 * Ordering: if it returns true, no value of this firing was sent; if it
 * returns false for a one-shot timer, the value was sent before it
 * returned (lfc_try_recv on the channel finds it unless it was received).
 */
LFC_API bool lfc_timer_stop(lfc_timer *t);

/*
 * lfc_timer_free - stop a timer and release it and its channel.
 *
 * The timer is freed; the channel is freed too unless users hold
 * references taken with lfc_chan_dup (it then goes with the last of them,
 * receiving nothing more). NULL is a no-op. Returns: nothing. Blocks:
 * never (it takes the timer module's lock briefly).
 * Threads: no other call on t may be in progress or follow, nor on its
 * channel but by threads holding a reference of their own to it.
 */
LFC_API void lfc_timer_free(lfc_timer *t);

#ifdef __cplusplus
}
#endif

#endif /* LFC_TIMER_H */
