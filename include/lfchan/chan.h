/* SPDX-License-Identifier: MIT */
/*
 * lfchan channels: bounded MPMC channels with Go semantics.
 *
 * A channel carries fixed-size values (elem_size bytes, copied in and out)
 * between any number of sending and receiving threads. Buffered channels
 * hold up to `capacity` values in a lock-free ring; capacity 0 gives an
 * unbuffered (rendezvous) channel, where a send completes only once a
 * receiver has taken the value. Blocked calls spin briefly, then park on a
 * futex (see lfchan/spin.h); the uncontended path makes no system call.
 *
 * Ownership: a channel is reference counted. lfc_chan_new returns one
 * reference; lfc_chan_dup takes another; lfc_chan_free releases one, and
 * the last release destroys the channel. The rule:
 *
 *     Every thread that may still be inside a call on a channel holds its
 *     own reference, and releases it with lfc_chan_free when done.
 *
 * So a requester that hands a reply channel to a worker dups it first
 * (the worker frees its reference after its lfc_send returns), and may
 * free its own as soon as its lfc_recv returns; a producer thread that
 * sends and closes holds its own reference until lfc_close returns. The
 * count is touched only by dup and free, never by sends and receives.
 *
 * Channels the library owns: lfc_ctx_done() and lfc_timer_chan() return
 * channels that belong to their context or timer. They are receive-only
 * for users: lfc_send, lfc_try_send, lfc_send_until, the batch sends
 * (lfc_send_many and its forms), send cases of a select and lfc_close on
 * them return LFC_EINVAL. They live as long as
 * their owner; lfc_chan_dup on one gives the caller a reference of its
 * own (the channel then outlives its owner until that reference is
 * freed), and lfc_chan_free on one releases only such a reference: with
 * none taken it does nothing. lfc_after's channel is an ordinary one, the
 * caller's.
 *
 * Threads: every call may race with every other call on the same channel,
 * from any number of threads, as long as each calling thread holds a
 * reference (above) until its call has returned. Releasing the last
 * reference while a call is in progress, or calling after it, is a bug.
 *
 * Linearizability: lfc_send, lfc_recv, lfc_try_send, lfc_try_recv, the
 * _until forms, lfc_close and lfc_chan_len each take effect atomically at
 * one instant between their call and their return, so every history of
 * them is explained by a sequential Go channel of the same capacity. In
 * particular lfc_try_recv fails with LFC_AGAIN only if, at some instant
 * during the call, the channel held no value (a send that has not
 * returned may not yet count), and lfc_try_send only if it was full
 * (unbuffered: no receiver was waiting).
 *
 * Ordering (what users may rely on):
 *   - A send that returns LFC_OK happens-before the receive that returns its
 *     value: whatever the sender wrote before sending, the receiver sees.
 *   - A send that returns LFC_OK is received exactly once, by exactly one
 *     receiver, provided receivers keep receiving until LFC_CLOSED.
 *   - Values from one sending thread are received in the order sent.
 *   - A send that returns anything but LFC_OK enqueued nothing; the caller
 *     still owns the value.
 *   - lfc_close happens-before every call that returns LFC_CLOSED because of
 *     it. After close, receivers first drain what is buffered, then get
 *     LFC_CLOSED; no send can enqueue after close has returned. On an
 *     unbuffered channel no rendezvous happens after close has returned:
 *     a sender still blocked in lfc_send then gets LFC_CLOSED and its
 *     value was taken by nobody.
 *
 * Cancellation (pthread_cancel): no lfchan function is a cancellation
 * point. A thread cancelled (deferred, the default) while blocked in a
 * send, receive, select, _until or _ctx call, or any other lfchan wait,
 * is not woken by the request: its call goes on waiting and completes as
 * it would have without it (a value it receives is in its buffer when it
 * returns LFC_OK, a value it sends was delivered), and the thread acts on
 * the request at its first cancellation point after the call returns. So
 * a cancelled thread never leaves a waiter behind in a channel, and no
 * value vanishes with it; but a thread blocked for good in lfc_recv
 * cannot be cancelled out of it: give such waits a context (lfc_recv_ctx,
 * lfc_send_ctx, or lfc_ctx_done as a select case) or close the channel.
 * Signals do not end a wait either: a handler runs and the call waits on.
 * Asynchronous cancellation (PTHREAD_CANCEL_ASYNCHRONOUS) around lfchan
 * calls is not supported, as for nearly all of libc. tests/test_cancel.c
 * shows each case.
 *
 * Contract violations (bugs, not statuses): calling on a channel after
 * its last reference was released, or releasing the last reference while
 * a call on it is in progress.
 */
#ifndef LFC_CHAN_H
#define LFC_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_chan lfc_chan;

/* The two directions of an operation on a channel: a select case's dir
 * (select.h), and the side of a channel an operation is on. */
enum { LFC_SEND = 1, LFC_RECV = 2 };

/* The largest capacity lfc_chan_new accepts (2^32). */
#define LFC_CHAN_MAX_CAP ((size_t)1 << 32)

/*
 * lfc_chan_new - create a channel.
 *
 * capacity: how many values it buffers, exactly (3 holds 3); 0 makes an
 * unbuffered channel. elem_size: bytes per value; 0 makes a signal-only
 * channel whose send and receive buffers may be NULL.
 * All memory is allocated here; sends and receives never allocate.
 *
 * Returns: the channel, or NULL with errno EINVAL (capacity above
 * LFC_CHAN_MAX_CAP, or elem_size so large that a slot's size overflows) or
 * ENOMEM (the allocation failed or its total size overflows).
 * Blocks: never. Threads: any.
 */
LFC_API lfc_chan *lfc_chan_new(size_t capacity, size_t elem_size);

/*
 * lfc_chan_new_unbounded - create an unbounded channel: a send never
 * waits for room, because there is always room until memory runs out.
 *
 * elem_size: bytes per value, as for lfc_chan_new (0: signal-only).
 * The handle is an ordinary lfc_chan: every function of this header,
 * select (both send and receive cases) and the _ctx calls take it, with
 * the same ownership and lifetime rules (one reference returned; free it
 * with lfc_chan_free) and the same ordering and linearizability
 * guarantees as a buffered channel of infinite capacity. Unlike
 * lfc_chan_new, each send allocates one node for its value (malloc) and
 * the receive that takes the value frees it, so memory goes back as
 * values are consumed; lfc_chan_free frees what is still queued.
 * What differs, per call:
 *   - lfc_send, lfc_try_send, lfc_send_until (any deadline, past ones
 *     included), lfc_send_ctx and a select's send case never wait: they
 *     return LFC_OK (enqueued), LFC_CLOSED, or LFC_ENOMEM if the node
 *     could not be allocated (nothing was enqueued; the caller still owns
 *     the value). Never LFC_AGAIN or LFC_TIMEDOUT. A select's send case
 *     is always ready, and completes with one of those three as its
 *     status.
 *   - Receives are as on any channel: they wait while the channel is
 *     empty and open; after lfc_close they drain what was sent, then
 *     return LFC_CLOSED. lfc_try_recv may wait briefly for a sender that
 *     is between the two steps of its enqueue (as on a ring).
 *   - lfc_close also waits briefly for sends already in progress to
 *     finish enqueueing, so none enqueues after it returns.
 *   - lfc_chan_cap returns SIZE_MAX ("unbounded"); lfc_chan_len the
 *     number of values queued (a snapshot, as for any channel).
 *
 * Returns: the channel, or NULL with errno EINVAL (elem_size so large
 * that a node's size overflows, as for lfc_chan_new) or ENOMEM (the
 * channel's own allocation failed).
 * Blocks: never. Threads: any.
 */
LFC_API lfc_chan *lfc_chan_new_unbounded(size_t elem_size);

/*
 * lfc_chan_dup - take one more reference to ch (see "Ownership" above).
 *
 * Returns: ch; NULL for NULL. Blocks: never.
 * Threads: any thread that holds a reference (or whose owner context or
 * timer is alive, for the library's channels).
 */
LFC_API lfc_chan *lfc_chan_dup(lfc_chan *ch);

/*
 * lfc_chan_free - release one reference to ch; the last one destroys the
 * channel and any values still buffered in it.
 *
 * NULL is a no-op. On a channel the library owns (lfc_ctx_done,
 * lfc_timer_chan) it releases a reference taken with lfc_chan_dup, and
 * does nothing if the caller took none.
 * Returns: nothing. Blocks: never.
 * Threads: the calling thread gives up its reference: it makes no call on
 * the channel afterwards.
 */
LFC_API void lfc_chan_free(lfc_chan *ch);

/*
 * lfc_send - copy elem_size bytes from elem into the channel.
 *
 * Returns: LFC_OK once the value is enqueued (on an unbuffered channel: once
 * a receiver has taken it); LFC_CLOSED if the channel is closed before the
 * value could be enqueued, including while this call was blocked;
 * LFC_EINVAL if ch is NULL, elem is NULL and elem_size > 0, or ch is a
 * channel the library owns (receive-only for users).
 * Blocks: while the channel is full (unbuffered: until a receiver takes the
 * value), until room appears or the channel is closed.
 */
LFC_API int lfc_send(lfc_chan *ch, const void *elem);

/*
 * lfc_recv - take one value from the channel into out (elem_size bytes).
 *
 * Returns: LFC_OK with the value in out; LFC_CLOSED once the channel is
 * closed and every buffered value has been received (out is untouched);
 * LFC_EINVAL if ch is NULL, or out is NULL and elem_size > 0.
 * Blocks: while the channel is empty and open.
 */
LFC_API int lfc_recv(lfc_chan *ch, void *out);

/*
 * lfc_try_send - lfc_send that never waits for room.
 *
 * Returns: as lfc_send, plus LFC_AGAIN if the channel is full (checked after
 * the closed state: a closed channel gives LFC_CLOSED). Full means every
 * buffered value is unclaimed: if a receiver has taken the oldest value
 * and is still copying it out, this call waits for it (a bounded spin,
 * then yields) rather than fail. On an unbuffered
 * channel it succeeds only if a receiver is already parked in a receive: it
 * hands the value over and then waits for that receiver to copy it, which
 * the receiver does without any other thread's help; otherwise LFC_AGAIN.
 * Blocks: never on the channel's state (see the unbuffered case above).
 */
LFC_API int lfc_try_send(lfc_chan *ch, const void *elem);

/*
 * lfc_try_recv - lfc_recv that never waits.
 *
 * Returns: as lfc_recv, plus LFC_AGAIN if the channel is empty. Empty means
 * no send has claimed a slot: if a sender has claimed the oldest slot and
 * is still copying its value in, this call waits for it (a bounded spin,
 * then yields; a preempted sender costs yields) rather than fail. On an
 * unbuffered channel it succeeds if a sender is blocked offering a value.
 * Blocks: never on the channel's state (see above).
 */
LFC_API int lfc_try_recv(lfc_chan *ch, void *out);

/*
 * lfc_send_until - lfc_send with an absolute CLOCK_MONOTONIC deadline.
 *
 * Returns: as lfc_send, plus LFC_TIMEDOUT if the deadline passed first
 * (never earlier; a deadline already past, INT64_MIN included, gives
 * LFC_TIMEDOUT unless the value can be enqueued at once, that is, unless
 * lfc_try_send would succeed: on an unbuffered channel, unless a receiver
 * is already waiting). LFC_FOREVER (INT64_MAX) never expires.
 * Blocks: as lfc_send, at most until the deadline (plus scheduling delay).
 */
LFC_API int lfc_send_until(lfc_chan *ch, const void *elem,
                           int64_t deadline_ns);

/*
 * lfc_recv_until - lfc_recv with an absolute CLOCK_MONOTONIC deadline.
 *
 * Returns: as lfc_recv, plus LFC_TIMEDOUT if the deadline passed first
 * (never earlier; a deadline already past, INT64_MIN included, still
 * takes a value that is there at once, as lfc_try_recv would, and gives
 * LFC_TIMEDOUT only without one). LFC_FOREVER (INT64_MAX) never expires.
 * Blocks: as lfc_recv, at most until the deadline.
 */
LFC_API int lfc_recv_until(lfc_chan *ch, void *out, int64_t deadline_ns);

/*
 * Batches: many values in one call.
 *
 * The batch calls move up to n values with one call, as the same number
 * of single calls by the same thread would, in order, but they claim
 * several slots of a buffered channel at once and wake the other side
 * once per batch instead of once per value. A batch is not atomic: other
 * threads' values may come between two of a batch's values (each value
 * is linearized on its own, as a single call's is), receivers may see
 * the first values of a batch before its call returns, and a partial
 * result says exactly how many values went in or came out. Values one
 * thread sends, by single or batch calls, are received in the order
 * sent. On an unbuffered channel a batch is a sequence of rendezvous,
 * one per value.
 *
 * Buffers: elems (out) is an array of n (max) values of elem_size bytes
 * each, owned by the caller; only the first *sent (*got) values are read
 * (written). With elem_size 0 they may be NULL.
 *
 * n == 0 (max == 0): the call does nothing and returns LFC_OK with *sent
 * (*got) 0 at once, on any channel, closed or not (as a Go loop over an
 * empty slice, or Rust's read/write of an empty buffer); it still
 * returns LFC_EINVAL for the bad arguments below.
 *
 * LFC_EINVAL, for every batch call, and then nothing happens (*sent,
 * *got set to 0 where the pointer is not NULL): ch NULL; sent (got) NULL;
 * elems (out) NULL while elem_size > 0 and n (max) > 0; a send on a
 * channel the library owns (receive-only for users).
 */

/*
 * lfc_send_many - send elems[0..n) in order, blocking as lfc_send would.
 *
 * Returns: LFC_OK once all n values are enqueued (unbuffered: each taken
 * by a receiver), *sent == n; LFC_CLOSED if the channel was closed first,
 * with *sent the number enqueued before (those are delivered as any sent
 * value is; the rest are not); LFC_EINVAL as above.
 * Blocks: while the channel is full (unbuffered: until a receiver takes
 * each value), until every value is in or the channel is closed.
 * Threads: as lfc_send.
 */
LFC_API int lfc_send_many(lfc_chan *ch, const void *elems, size_t n,
                          size_t *sent);

/*
 * lfc_send_many_until - lfc_send_many with an absolute CLOCK_MONOTONIC
 * deadline.
 *
 * Returns: as lfc_send_many, plus LFC_TIMEDOUT if the deadline passed
 * before every value was in (never earlier), with *sent the number
 * enqueued. A deadline already past sends what lfc_try_send_many would
 * and gives LFC_TIMEDOUT if that was not all. LFC_FOREVER never expires.
 * Blocks: as lfc_send_many, at most until the deadline.
 */
LFC_API int lfc_send_many_until(lfc_chan *ch, const void *elems, size_t n,
                                size_t *sent, int64_t deadline_ns);

/*
 * lfc_try_send_many - send as many of elems[0..n), in order, as fit now.
 *
 * Returns: LFC_OK if at least one value went in, *sent saying how many
 * (all n, or fewer if the channel filled or was closed meanwhile);
 * LFC_AGAIN if none fit (full, as lfc_try_send); LFC_CLOSED if the
 * channel is closed and none went in; *sent is 0 with both; LFC_EINVAL
 * as above. Unbuffered: one lfc_try_send per value while they succeed.
 * Blocks: never on the channel's state (as lfc_try_send).
 */
LFC_API int lfc_try_send_many(lfc_chan *ch, const void *elems, size_t n,
                              size_t *sent);

/*
 * lfc_recv_many - wait for at least one value, then take up to max that
 * are ready, into out[0..*got).
 *
 * Returns: LFC_OK with 1 <= *got <= max values, oldest first (no waiting
 * beyond the first: a value a sender is still copying in is left for the
 * next call once one value is taken); LFC_CLOSED once the channel is
 * closed and drained, *got 0; LFC_EINVAL as above. A call that took
 * values returns LFC_OK even if the channel closed meanwhile: the next
 * one reports it.
 * Blocks: while the channel is empty and open, as lfc_recv.
 * Threads: as lfc_recv.
 */
LFC_API int lfc_recv_many(lfc_chan *ch, void *out, size_t max, size_t *got);

/*
 * lfc_recv_many_until - lfc_recv_many with an absolute CLOCK_MONOTONIC
 * deadline.
 *
 * Returns: as lfc_recv_many, plus LFC_TIMEDOUT with *got 0 if no value
 * came before the deadline (never earlier; a deadline already past still
 * takes what is ready). LFC_FOREVER never expires.
 * Blocks: as lfc_recv_many, at most until the deadline.
 */
LFC_API int lfc_recv_many_until(lfc_chan *ch, void *out, size_t max,
                                size_t *got, int64_t deadline_ns);

/*
 * lfc_try_recv_many - take up to max values that are ready now.
 *
 * Returns: LFC_OK with 1 <= *got <= max; LFC_AGAIN with *got 0 if none is
 * ready (empty, as lfc_try_recv, whose wait for a sender mid-copy it
 * shares for the first value only); LFC_CLOSED with *got 0 once closed
 * and drained; LFC_EINVAL as above.
 * Blocks: never on the channel's state (as lfc_try_recv).
 */
LFC_API int lfc_try_recv_many(lfc_chan *ch, void *out, size_t max,
                              size_t *got);

/*
 * lfc_close - close the channel for sending.
 *
 * Every blocked sender returns LFC_CLOSED (on an unbuffered channel, unless
 * a receiver took its value first, then LFC_OK); every blocked receiver
 * wakes, drains what is left and then returns LFC_CLOSED.
 * On an unbuffered channel, a value a blocked sender offered that no
 * receiver has claimed is retracted by close itself: that sender returns
 * LFC_CLOSED, and no receive that starts after close returns can take it.
 * Returns: LFC_OK; LFC_CLOSED if it was already closed; LFC_EINVAL if ch is
 * NULL or a channel the library owns. Blocks: never.
 */
LFC_API int lfc_close(lfc_chan *ch);

/*
 * lfc_chan_len - how many values are buffered now (a snapshot that may be
 * stale as soon as it returns). Always 0 for unbuffered channels and NULL.
 * Blocks: never.
 */
LFC_API size_t lfc_chan_len(const lfc_chan *ch);

/* lfc_chan_cap - the capacity given to lfc_chan_new; 0 for NULL. */
LFC_API size_t lfc_chan_cap(const lfc_chan *ch);

/* lfc_chan_elem_size - the elem_size given to lfc_chan_new; 0 for NULL. */
LFC_API size_t lfc_chan_elem_size(const lfc_chan *ch);

/* lfc_chan_closed - whether lfc_close has been called; false for NULL. */
LFC_API bool lfc_chan_closed(const lfc_chan *ch);

#ifdef __cplusplus
}
#endif

#endif /* LFC_CHAN_H */
