/* SPDX-License-Identifier: MIT */
/*
 * lfchan fan-in and fan-out: a merger forwards every value from many input
 * channels to one output channel; a fan-out forwards every value from one
 * input channel to many outputs, each value to one of them (round-robin)
 * or to all of them (broadcast). Go's "merge" and "fan-out" pipeline
 * patterns, with lifetimes and losses spelled out.
 *
 *   lfc_chan *in[3] = {a, b, c};             (same elem_size as out)
 *   lfc_merger *m = lfc_merge_new(in, 3, out);
 *   while (lfc_recv(out, &v) == LFC_OK)      (closed once a, b and c are
 *       use(v);                               closed and drained)
 *   lfc_merge_free(m);                       (joins its threads)
 *
 * Threads: a merger forwards with one thread ("lfc-merge") doing
 * lfc_select over up to 31 inputs; above that it builds a small tree of
 * such threads joined by internal channels (a leaf per 31 inputs, then a
 * node per 31 leaves, and so on: 300 inputs take 10 leaves and a root).
 * A fan-out forwards with one thread ("lfc-fanout"). Both threads block
 * every signal and are joined by the _free call.
 *
 * Ownership: the merger and the fan-out copy the channel array and take
 * a reference of their own to every channel in it, and to out (or in),
 * when created (the reference lfc_chan_dup takes; chan.h, "Ownership").
 * They release those references in the _free call, after joining their
 * threads. So the caller keeps its own references and may lfc_chan_free
 * them whenever it likes, before the _free call or after it: the merger
 * keeps the channels alive until the _free call returns. A producer that
 * sends to an input and closes it holds its own reference while it does
 * (chan.h's rule), and so does a consumer of out. They never close an
 * input the caller can still reach. They close the output(s) when their
 * input(s) are closed and drained, unless created with the KEEP_OPEN
 * flag. An output must be a channel users may send to: one the library
 * owns (lfc_ctx_done, lfc_timer_chan) gives EINVAL; an input may be one.
 *
 * Abandoned channels: once the merger's (or fan-out's) reference is the
 * only one left to a channel, nobody else can ever send to it, receive
 * from it or close it. lfc_merge_stop, lfc_merge_free and the fan-out's
 * close such a channel themselves (lfc_merge_free also looks again every
 * 50 ms while it waits, since the last other reference may go while it
 * waits), so that neither they nor the threads wait forever on it:
 *   - an abandoned input counts as closed: what it buffers is still
 *     forwarded, then it is done;
 *   - an abandoned out (or fan-out output) counts as closed by someone
 *     else (see Losses): the value in hand is counted as dropped; values
 *     it buffered go with it.
 * A channel the library owns is never closed that way (an abandoned
 * context done channel as an input stays open: stop the merger).
 * Another merger's reference counts as a reference: two mergers sharing
 * an out (KEEP_OPEN) that nobody else holds keep each other waiting;
 * close such an out before freeing it.
 *
 * Losses: nothing is dropped silently. A value is "dropped" only when it
 * was already received from an input and the channel it was to go to was
 * found closed by someone else (the caller closed out early, or a
 * fan-out output). Dropped values are counted, and the _free call
 * returns the count. Values the merger or fan-out has not received stay
 * in their input channels, for the caller to drain.
 *
 *   - Merger, out closed early: the value in hand is counted, the merger
 *     stops receiving from the inputs at once, and values already inside
 *     the tree (at most one per node, plus what the internal channels
 *     buffer) are counted too while the tree winds down.
 *   - Fan-out, an output found closed: it is removed from the outputs.
 *     Round-robin sends the value to another output (dropped only if no
 *     output is left); broadcast counts one drop for the value it could
 *     not give that output. With no output left the fan-out stops
 *     receiving from `in`.
 *
 * Stopping early: lfc_merge_stop / lfc_fanout_stop make them stop
 * receiving from their input(s); a value already received is still
 * delivered (a blocking send, as usual), then the output(s) are closed
 * (unless KEEP_OPEN) and the threads exit. One receive that was already
 * in progress when stop was called may still complete (at most one per
 * thread); its value is delivered like any other. So after a stop,
 * every value is either delivered, counted as dropped, or still in its
 * input channel.
 *
 * Blocking of the _free calls: they join, so they wait for the threads to
 * finish: without a stop, until every input is closed and drained (Go's
 * "the merge goroutine returns when its inputs are done"); and in every
 * case until the values already received have been delivered, which needs
 * a reader on the output(s), or the output(s) closed (those values are
 * then counted as dropped), or abandoned (above). To abandon a merger
 * whose out someone still holds but nobody reads: lfc_close(out), then
 * lfc_merge_free.
 *
 * fork() and pthread_cancel: in a child forked after the merger (or
 * fan-out) was created, its threads do not exist: the _stop calls return
 * LFC_EINVAL and the _free calls only release it (no join, nothing more
 * forwarded), returning the drops counted before the fork. The _free
 * calls are not cancellation points: a thread cancelled while in one
 * finishes it (joins, frees) and acts on the request at its next
 * cancellation point after the return (README, "fork() and
 * pthread_cancel").
 *
 * Threads (calls on one merger; the fan-out's are the same):
 *
 *   | call                   | may race with                               |
 *   |------------------------|---------------------------------------------|
 *   | lfc_merge_new[_ex]     | anything, on any channel (each of them     |
 *   |                        | referenced by the caller during the call)   |
 *   | lfc_merge_stop         | every call on the merger but lfc_merge_free |
 *   | lfc_merge_free         | nothing on the same merger: no call on it   |
 *   |                        | may be in progress or follow                |
 *   | calls on the channels  | anything, lfc_chan_free of the caller's own |
 *   |                        | references included                         |
 *
 * Other threads may send to the inputs, close them, receive from out, and
 * close out at any time; they may also receive from an input or send to
 * out themselves (the merger then just shares the channel with them).
 *
 * Ordering (what users may rely on):
 *   - Merger: values taken from one input appear on out in the order the
 *     merger took them, which for one sender on that input is the order
 *     sent; across the tree too (each input is served by one leaf, each
 *     internal channel has one sender and one receiver). Nothing is
 *     promised about the interleaving of different inputs.
 *   - Fan-out: each output receives the values it gets in the order they
 *     were received from `in` (round-robin: an increasing subsequence;
 *     broadcast: all of them). A value is received from `in` only after
 *     the previous one has been delivered (to one output, or to all).
 *   - A send to an input that returned LFC_OK happens-before the receive
 *     from the output that returns that value (the channels' guarantee,
 *     composed).
 *   - The merger closes out only after every input was seen closed and
 *     drained (or stopped) and every value received was delivered or
 *     counted: a receive from out that returns LFC_CLOSED for that close
 *     happens-after all of it. The same holds for a fan-out's outputs.
 *
 * Contract violations (bugs, not statuses): freeing a reference one does
 * not hold (the caller's own reference is freed once, whenever it likes);
 * using a merger or fan-out after its _free call.
 */
#ifndef LFC_MERGE_H
#define LFC_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lfc_merger lfc_merger;
typedef struct lfc_fanout lfc_fanout;

/* Flags of lfc_merge_new_ex: leave out open when every input is done. */
#define LFC_MERGE_KEEP_OPEN 1u
/* Flags of lfc_fanout_new_ex: leave the outputs open when in is done. */
#define LFC_FANOUT_KEEP_OPEN 1u

/* Modes of lfc_fanout_new. */
enum {
    LFC_FANOUT_ROUND_ROBIN = 1, /* each value to one output */
    LFC_FANOUT_BROADCAST = 2    /* each value to every output */
};

/*
 * lfc_merge_new - forward every value from inputs[0..n) to out.
 *
 * Starts the forwarding thread(s) and returns. The merger receives from
 * every input (fairly: lfc_select's random choice among ready inputs) and
 * sends each value to out with a blocking lfc_send. An input that reports
 * LFC_CLOSED (closed and drained) is dropped from the set; when the last
 * one is done, out is closed. The array `inputs` is copied; the same
 * channel may appear twice (it is then served twice as often).
 *
 * Returns: the merger, or NULL with errno EINVAL (inputs or out is NULL,
 * n is 0 or above SIZE_MAX / sizeof(lfc_chan *) (no array is that long;
 * refused before any element is read), an input is NULL, an input is out
 * itself, out is a channel the library owns (lfc_ctx_done,
 * lfc_timer_chan: receive-only, so the merger could not send to it), or
 * the channels do not all have the same elem_size) or ENOMEM (memory, an
 * internal channel or a thread could not be had, or the fork handler could
 * not be registered with pthread_atfork; nothing was received from any
 * input then, no thread is left running, and no reference is kept).
 * Ownership: takes a reference to every input and to out (see the file
 * comment); the caller's own references stay the caller's.
 * Blocks: never (it starts threads).
 * Threads and ordering: see the file comment.
 */
LFC_API lfc_merger *lfc_merge_new(lfc_chan **inputs, size_t n, lfc_chan *out);

/*
 * lfc_merge_new_ex - lfc_merge_new with flags: 0, or LFC_MERGE_KEEP_OPEN
 * to leave out open when every input is done (so several mergers, or
 * other senders, can share it; the caller closes it).
 *
 * Returns: as lfc_merge_new; also EINVAL for an unknown flag.
 * Blocks: never.
 */
LFC_API lfc_merger *lfc_merge_new_ex(lfc_chan **inputs, size_t n, lfc_chan *out,
                                     unsigned flags);

/*
 * lfc_merge_stop - stop receiving from the inputs, early.
 *
 * Returns at once; the merger then delivers the values it already
 * received (each node holds at most one, plus what its internal channel
 * buffers), closes out (unless LFC_MERGE_KEEP_OPEN) and its threads exit.
 * Values not yet received stay in the inputs, which stay open. At most one
 * receive per thread that was already in progress may still complete (see
 * the file comment). Closes the channels abandoned to the merger (see the
 * file comment). Idempotent.
 *
 * Returns: LFC_OK; LFC_EINVAL if m is NULL, or in a child forked after m
 * was created (its threads do not exist there; only lfc_merge_free may
 * follow).
 * Blocks: never. Threads: any, until lfc_merge_free.
 */
LFC_API int lfc_merge_stop(lfc_merger *m);

/*
 * lfc_merge_free - wait for the merger to finish, then release it.
 *
 * Joins every forwarding thread: waits until every input is closed and
 * drained, or lfc_merge_stop was called, and every value received has
 * been delivered to out, or counted as dropped because out was closed by
 * someone else (or abandoned). Then releases the merger's references to
 * the channels (the last one destroys a channel). NULL is a no-op
 * (returns 0). In a child forked after m was created it joins nothing
 * (the threads do not exist there) and only releases.
 *
 * Returns: the number of values dropped (received from an input, not
 * delivered because out was closed early or abandoned); 0 when out was
 * never closed behind the merger's back. In a forked child: those counted
 * before the fork.
 * Blocks: as described; see "Blocking of the _free calls" above. Never in
 * a forked child.
 * Threads: no other call on m may be in progress or follow. Not a
 * cancellation point (a cancel request waits until after the return).
 * Ordering: everything the merger did happens-before the return.
 */
LFC_API uint64_t lfc_merge_free(lfc_merger *m);

/*
 * lfc_fanout_new - forward every value from in to the n outputs.
 *
 * LFC_FANOUT_ROUND_ROBIN: each value goes to exactly one output. The
 * fan-out tries the outputs without blocking, starting after the one that
 * took the previous value, and skips the full ones; only if every output
 * is full does it wait, with lfc_select over all of them, for the first
 * that has room. A full (or never read) output therefore never holds the
 * others up. An unbuffered output takes a value only when its reader is
 * waiting.
 * LFC_FANOUT_BROADCAST: each value goes to every output, once. The value
 * is offered to each output without blocking, then, for the outputs still
 * missing it, with lfc_select over their send cases, so a slow output
 * does not delay this value for the others; the next value is received
 * only when every output has this one (the slowest output paces the
 * fan-out).
 * When in is closed and drained, the outputs are closed. The array `outs`
 * is copied; each entry counts as one output (a channel listed twice gets
 * each broadcast value twice).
 *
 * Returns: the fan-out, or NULL with errno EINVAL (in or outs is NULL, n
 * is 0 or above LFC_SELECT_MAX (65536), an output is NULL or is in itself,
 * an output is a channel the library owns (receive-only: lfc_ctx_done,
 * lfc_timer_chan), the elem_sizes differ, or mode is not one of the two
 * above) or ENOMEM (memory or the thread could not be had, or the fork
 * handler could not be registered with pthread_atfork; nothing was
 * received, and no reference is kept).
 * Ownership: takes a reference to in and to every output (see the file
 * comment).
 * Blocks: never (it starts a thread).
 * Threads and ordering: see the file comment.
 */
LFC_API lfc_fanout *lfc_fanout_new(lfc_chan *in, lfc_chan **outs, size_t n,
                                   int mode);

/*
 * lfc_fanout_new_ex - lfc_fanout_new with flags: 0, or
 * LFC_FANOUT_KEEP_OPEN to leave the outputs open when in is done.
 *
 * Returns: as lfc_fanout_new; also EINVAL for an unknown flag.
 * Blocks: never.
 */
LFC_API lfc_fanout *lfc_fanout_new_ex(lfc_chan *in, lfc_chan **outs, size_t n,
                                      int mode, unsigned flags);

/*
 * lfc_fanout_stop - stop receiving from in, early.
 *
 * Returns at once; the fan-out delivers the value it holds, if any (to
 * one output, or to all), closes the outputs (unless LFC_FANOUT_KEEP_OPEN)
 * and its thread exits. Values not yet received stay in `in`, which stays
 * open. A receive already in progress may still complete; its value is
 * delivered. Closes the channels abandoned to the fan-out (see the file
 * comment). Idempotent.
 *
 * Returns: LFC_OK; LFC_EINVAL if f is NULL, or in a child forked after f
 * was created (only lfc_fanout_free may follow).
 * Blocks: never. Threads: any, until lfc_fanout_free.
 */
LFC_API int lfc_fanout_stop(lfc_fanout *f);

/*
 * lfc_fanout_free - wait for the fan-out to finish, then release it.
 *
 * Joins the thread: waits until in is closed and drained, or
 * lfc_fanout_stop was called, or every output was found closed; and until
 * the value in hand has been delivered (or counted). Abandoned channels
 * are closed first, and looked for again while it waits (file comment).
 * Then releases the fan-out's references. NULL is a no-op (returns 0). In
 * a child forked after f was created it joins nothing and only releases
 * (returning the drops counted before the fork).
 *
 * Returns: the number of values dropped because an output was found
 * closed: round-robin, values that no open output was left to take (at
 * most one: with no output left the fan-out stops); broadcast, one per
 * output found closed (the value it could not give that output, which is
 * then removed; so at most one per output). An abandoned output counts as
 * one found closed.
 * Blocks: as lfc_merge_free. Threads: no other call on f may be in
 * progress or follow. Not a cancellation point.
 * Ordering: everything the fan-out did happens-before the return.
 */
LFC_API uint64_t lfc_fanout_free(lfc_fanout *f);

#ifdef __cplusplus
}
#endif

#endif /* LFC_MERGE_H */
