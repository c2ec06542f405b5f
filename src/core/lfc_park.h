/* SPDX-License-Identifier: MIT */
/*
 * Parking: an event count over a Linux futex, with a bounded adaptive spin.
 *
 * Every blocking primitive in lfchan waits through lfc__ec_wait(): it polls
 * a caller-supplied "try" function (spin phase), then announces itself on
 * the event count and sleeps on the futex word until a waker bumps it. A
 * waker calls lfc__ec_signal() after publishing the state change the waiter
 * polls for; it makes a system call only when some waiter has announced.
 *
 * See park.c for the protocol and the argument that no wake-up is lost.
 */
#ifndef LFC_PARK_H
#define LFC_PARK_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "lfc_atomic.h"
#include "lfc_common.h"
#include "lfc_list.h"

struct lfc__park_ops;
struct lfc__ec_node;

/*
 * What a waker does to a node linked on an event count (under the event
 * count's lock, so the node is alive): tell its owner the event fired.
 * Returns whether the owner took the wake (a wake-one is then spent on
 * it), false if it was no longer waiting. The selector module
 * (chan/lfc_selector.h) supplies the one used today.
 */
typedef bool (*lfc__ec_notify_fn)(struct lfc__ec_node *n);

/*
 * A node a thread links on an event count instead of sleeping on `seq`:
 * it sleeps on a word of its own and may wait on several event counts at
 * once (select). The node lives in its owner's memory; the owner unlinks
 * it (lfc__ec_node_remove) before that memory goes, and wakers touch it
 * only under the event count's lock.
 */
struct lfc__ec_node {
    struct lfc__list link;    /* in ec->nodes; under ec->lock */
    lfc__ec_notify_fn notify; /* set by the owner before linking */
    bool passive;             /* a wake-one never picks it: it waits for
                                 a peer thread, not for this ec's event
                                 (unbuffered send cases) */
};

/*
 * An event count. One per condition a thread can wait for ("channel not
 * empty", "channel not full"). Callers place it on a cache line that the
 * fast path of the *other* side only reads.
 *
 * Two kinds of waiter use it: plain waiters (lfc__ec_wait), which sleep on
 * `seq`, and node waiters, which link a struct lfc__ec_node into `nodes`
 * and sleep on a word of their own. `waiters` counts both, in one word,
 * so that the signal fast path stays one load and one branch whether or
 * not anyone selects.
 */
struct lfc_ec {
    uint32_t seq;     /* futex word; bumped by wakers (rel RMW) */
    uint32_t lock;    /* guards `nodes` (lfc__ec_lock) */
    uint64_t waiters; /* low 32 bits: plain waiters; high 32: nodes
                         linked; RMW (seqcst) */
    const struct lfc__park_ops *futex; /* private or process-shared;
                                          read-only after init */
    struct lfc__list nodes; /* lfc__ec_node links, oldest first; lock */
};

/* One linked node in lfc_ec.waiters. */
#define LFC__EC_NODE_ONE ((uint64_t)1 << 32)

/*
 * Adaptive spin budget for one side of one primitive, in polls. Written
 * (relaxed) by that side's waiters only, so it lives on a cache line that
 * side writes anyway.
 */
struct lfc_spin {
    uint32_t budget; /* written by waiters of this side (relaxed) */
    int32_t cpu;     /* CPU a waiter of this side last ran on, or -1;
                        written by waiters of this side (relaxed) */
};

/* Record that a waiter of `spin`'s side runs on cpu (as lfc__ec_wait
 * does), and say whether the partner side last ran there too (then
 * spinning cannot help: the partner needs this CPU). cpu < 0: unknown. */
bool lfc__spin_note_same_cpu(struct lfc_spin *spin,
                             const struct lfc_spin *partner,
                             int cpu) LFC_INTERNAL;

/* Polls between clock reads while spinning toward a deadline (a power of
 * two; a clock read costs about as much as 20-50 polls). */
#define LFC__SPIN_CLOCK_POLLS 256u

/* CLOCK_MONOTONIC in ns (the same clock as lfc_now_ns). */
int64_t lfc__now_ns(void) LFC_INTERNAL;

/* Whether a spin that is at poll i should stop because deadline_ns (absolute
 * CLOCK_MONOTONIC, INT64_MAX for none) has passed; reads the clock only
 * every LFC__SPIN_CLOCK_POLLS polls. */
static inline bool
lfc__spin_past_deadline(uint32_t i, int64_t deadline_ns)
{
    return deadline_ns != INT64_MAX &&
           (i & (LFC__SPIN_CLOCK_POLLS - 1)) == LFC__SPIN_CLOCK_POLLS - 1 &&
           lfc__now_ns() >= deadline_ns;
}

/* Polls for a peer between two of its steps before yielding. */
#define LFC__PEER_SPINS 64u

/*
 * A peer is between two steps we need finished (a ring sender between its
 * claim and its stamp store, an unbounded sender between its exchange and
 * its link): spin a little, then yield, so that a peer preempted there
 * costs us yields, never an unbounded spin. *polls starts at 0 for each
 * wait. Woken by nothing: the caller rechecks after each call.
 */
static inline void
lfc__wait_for_peer(uint32_t *polls)
{
    if (*polls < LFC__PEER_SPINS) {
        (*polls)++;
        lfc_cpu_relax();
    } else {
        sched_yield();
    }
}

/* A try function: LFC_AGAIN means "not yet, keep waiting"; any other
 * status ends the wait and is returned. */
typedef int (*lfc__try_fn)(void *arg);

/* An event count for threads of one process (private futexes), or, with
 * _shared, for an object in memory several processes map (process-shared
 * futexes; for the shared-memory channel to come). */
void lfc__ec_init(struct lfc_ec *ec) LFC_INTERNAL;
void lfc__ec_init_shared(struct lfc_ec *ec) LFC_INTERNAL;
void lfc__spin_init(struct lfc_spin *s) LFC_INTERNAL;

/*
 * Wait until try(arg) returns something other than LFC_AGAIN, or until
 * deadline_ns (absolute CLOCK_MONOTONIC; INT64_MAX for none) passes, in
 * which case one last try is made after withdrawing, and LFC_TIMEDOUT is
 * returned only if it too gives LFC_AGAIN.
 *
 * The caller has usually just tried once itself; the spin phase polls
 * again before parking. try() must be safe to call any number of times.
 * spin is this side's spin state; partner (may be NULL) is the side whose
 * progress we wait for: if its waiters last ran on our CPU, spinning
 * cannot help and we yield instead.
 */
int lfc__ec_wait(struct lfc_ec *ec, struct lfc_spin *spin,
                 const struct lfc_spin *partner, lfc__try_fn try_fn, void *arg,
                 int64_t deadline_ns) LFC_INTERNAL;

/*
 * As lfc__ec_wait(); *announced is set to whether the caller was counted in
 * ec->waiters at some point of the wait (it parked, or was about to). A
 * waiter whose leaving can matter to a waker that counted it (lfc_try_send
 * on an unbuffered channel) uses it to signal that waker after it left.
 */
int lfc__ec_wait_noting(struct lfc_ec *ec, struct lfc_spin *spin,
                        const struct lfc_spin *partner, lfc__try_fn try_fn,
                        void *arg, int64_t deadline_ns,
                        bool *announced) LFC_INTERNAL;

/*
 * Slow part of signal/broadcast: bump seq and wake; out of line. waker (may
 * be NULL) is the waking thread's own side: its CPU is recorded there, so
 * the woken thread can tell whether its partner shares its CPU.
 */
void lfc__ec_wake(struct lfc_ec *ec, int n,
                  struct lfc_spin *waker) LFC_INTERNAL;

/*
 * Wake one waiter of ec, if any has announced. The caller has published its
 * state change (a release store or RMW) and then executed
 * lfc_fence_seqcst(): the fence orders that publication before the
 * waiters load below (store→load), pairing with the waiter's seqcst
 * announce-then-recheck in lfc__ec_wait(). One fence may serve several
 * signals.
 */
static inline void
lfc__ec_signal_fenced(struct lfc_ec *ec, struct lfc_spin *waker)
{
    /* ORDER rlx: the caller's seqcst fence orders this load after the
     * publication; a stale 0 means the waiter's recheck sees the state. */
    if (lfc_unlikely(lfc_load_rlx_u64(&ec->waiters) != 0))
        lfc__ec_wake(ec, 1, waker);
}

/*
 * As lfc__ec_signal_fenced(), but wakes one plain waiter (lfc__ec_wait)
 * and never a selector: for an event only plain waiters may take (an
 * unbuffered lfc_try_send's offer), a wake-one spent on a selector would
 * be lost. The caller has fenced.
 */
void lfc__ec_wake_plain(struct lfc_ec *ec,
                        struct lfc_spin *waker) LFC_INTERNAL;

/* As lfc__ec_signal_fenced(), but wakes every announced waiter. */
static inline void
lfc__ec_broadcast_fenced(struct lfc_ec *ec, struct lfc_spin *waker)
{
    /* ORDER rlx: as in lfc__ec_signal_fenced(). */
    if (lfc_load_rlx_u64(&ec->waiters) != 0)
        lfc__ec_wake(ec, INT32_MAX, waker);
}

/* Whether any waiter, plain or selecting, has announced (a hint: may be
 * stale at once). */
static inline int
lfc__ec_has_waiters(struct lfc_ec *ec)
{
    /* ORDER rlx: a hint; callers that need it exact fence first. */
    return lfc_load_rlx_u64(&ec->waiters) != 0;
}

/* Whether a plain waiter (lfc__ec_wait) has announced; as above. */
static inline int
lfc__ec_has_plain_waiters(struct lfc_ec *ec)
{
    /* ORDER rlx: a hint; callers that need it exact fence first. */
    return (uint32_t)lfc_load_rlx_u64(&ec->waiters) != 0;
}

/* Whether a node is linked on ec; as above. */
static inline int
lfc__ec_has_nodes(struct lfc_ec *ec)
{
    /* ORDER rlx: a hint; callers that need it exact fence first. */
    return (lfc_load_rlx_u64(&ec->waiters) >> 32) != 0;
}

/* ---- node waiters ---------------------------------------------------
 *
 * A thread that waits on several event counts (select.c, through the
 * selector module) links one struct lfc__ec_node on each, rechecks, and
 * sleeps on a word of its own. A waker that finds nodes counted calls
 * their notify function under the lock (lfc__ec_wake): a wake-one stops
 * at the first node that takes it, a broadcast notifies all. Peers that
 * complete a waiting node's operation themselves (an unbuffered
 * hand-off) walk `nodes` under the lock with lfc__ec_for_each_node.
 */

/* for (struct lfc__ec_node *n = each node linked on ec, oldest first);
 * under lfc__ec_lock(ec); the body must not unlink. */
#define lfc__ec_for_each_node(n, ec)                                           \
    for (struct lfc__list *lfc__it_ = (ec)->nodes.next;                        \
         lfc__it_ != &(ec)->nodes &&                                           \
         ((n) = lfc__list_entry(lfc__it_, struct lfc__ec_node, link), 1);      \
         lfc__it_ = lfc__it_->next)

/* A small futex mutex (0 = free): for short sections on slow paths. */
void lfc__lock(uint32_t *lock) LFC_INTERNAL;
void lfc__unlock(uint32_t *lock) LFC_INTERNAL;

/* The event count's lock: guards the node list and every access to a
 * linked node from outside its owner's thread. Short sections. */
void lfc__ec_lock(struct lfc_ec *ec) LFC_INTERNAL;
void lfc__ec_unlock(struct lfc_ec *ec) LFC_INTERNAL;

/* Link / unlink a node (its notify and passive set), counting it in
 * ec->waiters (seqcst RMW, inside the lock: a waker that reads the count
 * and then locks finds the node). */
void lfc__ec_node_add(struct lfc_ec *ec, struct lfc__ec_node *n) LFC_INTERNAL;
void lfc__ec_node_remove(struct lfc_ec *ec,
                         struct lfc__ec_node *n) LFC_INTERNAL;

/*
 * The futex operations, behind a table so tests can count system calls or
 * inject spurious wake-ups. wait() returns 0 on a wake or any benign early
 * return (EINTR, EAGAIN), LFC_TIMEDOUT once deadline_ns has passed.
 *
 * Required of any replacement (the C relies on it, as Linux's futex_wait()
 * guarantees: "If we were woken (and unqueued), we succeeded, whatever."):
 * wait() never returns LFC_TIMEDOUT to a thread that a wake() already
 * dequeued, even if its deadline passed too. Otherwise a timed-out waiter
 * can swallow a wake and leave the event count's PENDING bit set, and
 * later wake-ones coalesce into it while others sleep (verify/README.md,
 * TIMEOUT_AFTER_WAKE). Spurious returns of 0 are always allowed.
 */
struct lfc__park_ops {
    int (*wait)(uint32_t *word, uint32_t expected, int64_t deadline_ns);
    void (*wake)(uint32_t *word, int n);
};

/* The real futex operations: FUTEX_PRIVATE_FLAG (words of one process)
 * and process-shared (words in memory several processes map). */
extern const struct lfc__park_ops lfc__futex_private LFC_INTERNAL;
extern const struct lfc__park_ops lfc__futex_shared LFC_INTERNAL;

/* A test's replacement for every table (lfc__park_set_ops), or NULL. */
extern const struct lfc__park_ops *lfc__park_test_ops LFC_INTERNAL;

/* Wait / wake on a word through ops (an event count's `futex`, or
 * &lfc__futex_private for a thread's own word), or through the table a
 * test installed with lfc__park_set_ops, which then stands in for both. */
static inline int
lfc__futex_wait(const struct lfc__park_ops *ops, uint32_t *word,
                uint32_t expected, int64_t deadline_ns)
{
    if (lfc_unlikely(lfc__park_test_ops != NULL))
        ops = lfc__park_test_ops; /* plain read: set while nothing parks */
    return ops->wait(word, expected, deadline_ns);
}

static inline void
lfc__futex_wake(const struct lfc__park_ops *ops, uint32_t *word, int n)
{
    if (lfc_unlikely(lfc__park_test_ops != NULL))
        ops = lfc__park_test_ops; /* plain read: set while nothing parks */
    ops->wake(word, n);
}

/* Replace every futex operation (NULL restores the real ones). For tests;
 * call only while no thread is parked or waking. */
void lfc__park_set_ops(const struct lfc__park_ops *ops) LFC_INTERNAL;

#endif /* LFC_PARK_H */
