/* SPDX-License-Identifier: MIT */
/*
 * Parking: event counts over Linux futexes, and the adaptive spin policy.
 * Depends on: lfc_atomic.h, lfc_common.h, lfc_list.h. Used by every
 * blocking primitive: channels, the selector, sem, wg, the pool.
 *
 * Design
 * ------
 * An event count (struct lfc_ec) is, at its heart, two words: `seq`, the
 * 32-bit futex word that wakers bump, and `waiters`, the 64-bit count of
 * threads that announced they may sleep on it (plain waiters in the low
 * half, linked nodes in the high half). Beside them: a small lock for the
 * node list, the list, and the futex operations to use (private, or
 * process-shared for memory several processes map). It is the classic eventcount (Reed and Kanodia,
 * 1979; Vyukov's and ck_ec's variants), with a waiter count instead of a
 * single flag so that a waker can wake one thread, not all of them.
 *
 * Waiter, in lfc__ec_wait():
 *   1. spin: poll try() up to the adaptive budget, pausing between polls;
 *   2. announce: waiters += 1 (seqcst RMW), then a seqcst fence;
 *   3. loop: s = seq (acquire), clearing PENDING if set (then a fence);
 *            if try() succeeds, stop;
 *            futex_wait(&seq, s, deadline) (returns at once if seq != s);
 *   4. withdraw: waiters -= 1 (seqcst RMW), then a seqcst fence;
 *   5. on timeout only: one last try() (see "passing a wake on" below).
 *
 * Waker, after publishing a state change P (a release store or RMW):
 *   seqcst fence; if waiters != 0 and no wake is pending (below)
 *   { seq += 2 and set PENDING (release CAS); futex_wake }.
 *
 * Invariants:
 *   - seq only grows (mod 2^32); every bump is followed by a futex_wake.
 *   - A thread is counted in `waiters` from step 2 to step 4, a span that
 *     covers every futex_wait it makes.
 *
 * Node waiters (selecting threads, through chan/selector.c; a semaphore
 * waiter watching its context) use the same event counts differently:
 * they link a struct lfc__ec_node into ec.nodes and count it in the high
 * half of ec.waiters, and sleep on a word of their own. A waker reaches
 * them in lfc__ec_wake(): before it touches seq it calls the notify
 * function of the oldest node (a wake-one: the first that takes it, passive
 * nodes skipped) or of every one (a broadcast), under ec.lock; for a
 * selector that is a CAS on its word. A wake-one that a node takes is
 * spent; otherwise it goes on to the plain waiters as below. Node wakes
 * bypass the PENDING coalescing, since nodes never read seq. select.c has
 * the argument for selectors.
 *
 * Field table:
 *   | field         | written by                  | read by      | order   |
 *   |---------------|-----------------------------|--------------|---------|
 *   | ec.seq        | wakers (RMW), PENDING clear | waiters      | rel/acq |
 *   |               | by waiters (ec_observe CAS) |              |         |
 *   | ec.waiters    | waiters, node owners (RMW)  | wakers       | seqcst+ |
 *   |               |                             |              | fences  |
 *   | ec.lock       | lfc__ec_lock/unlock (RMW)   | same         | acqrel  |
 *   | ec.nodes      | node owners, under ec.lock  | wakers, peers| lock    |
 *   | ec.futex      | lfc__ec_init (before shared)| all          | -       |
 *   | spin.budget   | waiters of that side        | same         | rlx     |
 *   | g_spin_limit  | lfc_spin_set_limit()        | waiters      | rlx     |
 *
 * Why no wake-up is lost: the waiter is about to sleep only after a try()
 * failed, i.e. its recheck R did not observe P. The waiter did
 * (announce; fence; R) and the waker did (P; fence; load waiters). By the
 * seqcst fences (the store-buffering pattern), the two cannot both miss:
 * either R observes P (then the waiter does not sleep), or the waker's
 * load sees the announce and it bumps seq and calls futex_wake. In that
 * case the waiter's futex_wait(&seq, s) either started before the bump,
 * so the wake finds it in the kernel queue, or starts after it, so the
 * kernel sees seq != s and returns at once. And if the waiter's load of s
 * already read the bumped seq, then P happens-before its try() (release
 * bump, acquire load), so that try() observes P. The futex compares and
 * enqueues atomically, so there is no window between the comparison and
 * the sleep.
 *
 * Coalescing. Bit 0 of seq (PENDING) says "a wake was sent and no waiter
 * has observed it yet". A waker that finds it set skips its own bump and
 * system call: without this, every send to a channel whose woken receiver
 * has not yet been scheduled made a futex_wake that found nobody (40% of
 * the CPU in an oversubscribed 4:4 run). Why the skip is safe: the skipping
 * waker did (publish; fence; load seq, seeing PENDING); the waiter that
 * later clears the bit does (clear; fence; try). Reading the bit before the
 * clear orders the waker's fence first, so that try() observes the
 * publication. Someone always clears it: the futex_wake that followed the
 * set either woke a thread sleeping in the kernel, which clears it on
 * return, or found none, and then every waiter reads seq (seeing the bit,
 * clearing it) before it next sleeps. A waiter never sleeps on a value with
 * PENDING set. One wake may thus stand for several events: the woken
 * waiter takes one, and the re-signal rule below wakes the next.
 *
 * Wake one, and the duty to re-signal. A waiter sleeps on a condition C
 * over shared state (for a channel's receivers: "the slot at head holds a
 * value, or the channel is closed and drained"). The rule every user of an
 * event count follows: any thread whose write can make C true, for any
 * waiter, signals after that write (and its fence). A signal wakes one
 * waiter, which then tries. Its try can fail although C was true when the
 * signal was sent only because another thread changed the state in
 * between, and that thread's write is again one that can make C true for
 * the next waiter (a receiver that moved head onto a ready slot), so by
 * the rule it signals in turn. Hence: while a waiter sleeps with C true,
 * some signal is in flight. Channels spell the rule out in chan.c
 * ("Wake-ups"); a test of it is test_chan_stress_close_wakes_receivers_*.
 *
 * The other way to leave after a wake without consuming the event is a
 * timeout, which could swallow a wake meant for the event while other
 * waiters sleep on. So a timed-out waiter withdraws (step 4, seqcst,
 * pairing with the waker's fence as above) and tries once more: if the
 * event is there it takes it; if not, whatever event comes next finds the
 * other waiters still counted and wakes one of them.
 *
 * Memory model: the argument above is made in sequentially consistent
 * terms. Every store it depends on (a publication, an announce, a
 * withdrawal) is followed by a seqcst fence (or is a seqcst RMW followed
 * by one) before the same thread's next load, and the loads that decide
 * are acquire loads, which is what makes the store-buffering cases SC.
 * The protocol, in these SC terms, is model-checked with Spin: the
 * models in verify/ (ec.pml, chan_wake.pml for the three-party chains of
 * a receiver re-signalling for a slot published by a sender, select.pml,
 * unbuf.pml, unbuf_sel.pml for select's unbuffered hand-off, sem.pml for
 * the semaphore's use of selector words; run by verify/run.sh) pass, and variants with a fence or a
 * re-signal removed report the lost wake-up (the last try after a timeout
 * is kept for promptness: no model needs it for safety or termination any
 * more, see verify/README.md). verify/README.md
 * maps each model step to its C and says why each fence and acquire/release
 * pair gives the interleavings the models assume. The models rely on
 * Linux's futex returning 0, not ETIMEDOUT, to a waiter a FUTEX_WAKE
 * dequeued: a wake is never lost to a timeout, so PENDING is cleared.
 *
 * Spin policy. Spinning pays only while the partner runs on another core:
 * a handoff there is a cache-line transfer (well under a microsecond),
 * while waking a parked thread costs microseconds (tens of them when the
 * host must wake a halted vCPU). Two signals steer it, both per side of
 * each channel:
 *   - Same core: each side records the CPU its waiters last ran on
 *     (sched_getcpu(), which glibc answers from the rseq area). If the
 *     side we wait for last ran on our CPU, spinning would only delay the
 *     context switch it needs, so we skip it and yield the CPU a couple of
 *     times (a yield hands over in about a microsecond, a futex sleep and
 *     wake cost several) before parking.
 *   - Otherwise the budget (in polls) adapts. A spin that succeeds after k
 *     polls pulls it 1/8 of the way toward 2k + SPIN_FLOOR. A spin that
 *     fails is judged by how long the park then lasted: if a spin of that
 *     length would have covered it (it is under the ceiling), the budget
 *     moves toward twice that; if not (an idle channel), toward the floor.
 *     The first rule shrinks the budget to what handoffs really need; the
 *     second breaks the cycle where both ends of a cross-core handoff
 *     park because each one's wake-up is slower than the other's spin.
 * The worst case, an idle channel, costs one spin of at most the current
 * budget (bounded by SPIN_CEIL) per wait, shrinking with every long park.
 * lfc_spin_set_limit() overrides all of it with a fixed budget.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lfchan/spin.h"
#include "lfchan/status.h"
#include "lfc_park.h"

/* seq counts in steps of 2; bit 0 says a wake was sent that no waiter has
 * observed yet (see "Coalescing" above). */
#define EC_PENDING 1u
#define EC_STEP 2u

enum {
    SPIN_FLOOR = 16,    /* polls: probing cost ~0.3 us when spinning fails */
    SPIN_CEIL = 8192,   /* polls: ~100 us, past a cross-vCPU futex wake */
    SPIN_INITIAL = 256, /* polls: a few us, enough for a cross-core partner */
    SPIN_YIELDS = 1     /* yields before parking when sharing a CPU */
};

/* Process-wide override; LFC_SPIN_ADAPTIVE (-1) means per-ec adaptive. */
static int g_spin_limit = LFC_SPIN_ADAPTIVE; /* written by set_limit */

int64_t
lfc__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the futex operations ------------------------------------------- */

static int
futex_wait_flags(uint32_t *word, uint32_t expected, int64_t deadline_ns,
                 int shared_flag)
{
    struct timespec ts;
    struct timespec *tp = NULL;
    int saved = errno;
    int ret = 0;

    if (deadline_ns != INT64_MAX) {
        if (deadline_ns < 0)
            deadline_ns = 0;
        ts.tv_sec = (time_t)(deadline_ns / 1000000000);
        ts.tv_nsec = (long)(deadline_ns % 1000000000);
        tp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout (no
     * FUTEX_CLOCK_REALTIME flag); shared_flag is FUTEX_PRIVATE_FLAG for a
     * process-local word, 0 for a process-shared one. */
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | shared_flag,
                      expected, tp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc != 0) {
        switch (errno) {
        case EAGAIN: /* the word changed before we slept: recheck */
        case EINTR:  /* a signal: recheck */
            break;
        case ETIMEDOUT:
            ret = LFC_TIMEDOUT;
            break;
        default:
            LFC_PANIC("unexpected errno from FUTEX_WAIT_BITSET");
        }
    }
    errno = saved; /* status-returning calls never change errno */
    return ret;
}

static void
futex_wake_flags(uint32_t *word, int n, int shared_flag)
{
    int saved = errno;
    long rc = syscall(SYS_futex, word, FUTEX_WAKE | shared_flag, n, NULL,
                      NULL, 0);
    if (rc < 0)
        LFC_PANIC("unexpected errno from FUTEX_WAKE");
    errno = saved;
}

static int
futex_wait_private(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    return futex_wait_flags(word, expected, deadline_ns, FUTEX_PRIVATE_FLAG);
}

static void
futex_wake_private(uint32_t *word, int n)
{
    futex_wake_flags(word, n, FUTEX_PRIVATE_FLAG);
}

static int
futex_wait_shared(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    return futex_wait_flags(word, expected, deadline_ns, 0);
}

static void
futex_wake_shared(uint32_t *word, int n)
{
    futex_wake_flags(word, n, 0);
}

const struct lfc__park_ops lfc__futex_private = {futex_wait_private,
                                                 futex_wake_private};
const struct lfc__park_ops lfc__futex_shared = {futex_wait_shared,
                                                futex_wake_shared};

const struct lfc__park_ops *lfc__park_test_ops; /* NULL: the real ones */

void
lfc__park_set_ops(const struct lfc__park_ops *ops)
{
    /* Plain store: documented as only callable while nothing parks. */
    lfc__park_test_ops = ops;
}

/* ---- spin policy ------------------------------------------------------ */

void
lfc_spin_set_limit(int limit)
{
    if (limit < 0)
        limit = LFC_SPIN_ADAPTIVE;
    /* ORDER rlx: a tuning knob; spinners may finish with the old value. */
    lfc_store_rlx_int(&g_spin_limit, limit);
}

int
lfc_spin_limit(void)
{
    /* ORDER rlx: a tuning knob, no data depends on it. */
    return lfc_load_rlx_int(&g_spin_limit);
}

void
lfc__spin_init(struct lfc_spin *s)
{
    s->budget = SPIN_INITIAL; /* before the object is shared */
    s->cpu = -1;
}

/* Record our CPU for this side (as a waiter, or as a waker: see
 * ec_wake_plain), so the partner side can tell whether it shares it. */
static void
spin_note_cpu(struct lfc_spin *spin, int cpu)
{
    /* ORDER rlx: a heuristic hint; written only when it changes, to keep
     * the line clean. */
    if (cpu >= 0 && lfc_load_rlx_int(&spin->cpu) != cpu) {
        /* ORDER rlx: as above. */
        lfc_store_rlx_int(&spin->cpu, cpu);
    }
}

bool
lfc__spin_note_same_cpu(struct lfc_spin *spin, const struct lfc_spin *partner,
                        int cpu)
{
    if (cpu < 0)
        return false;
    spin_note_cpu(spin, cpu);
    /* ORDER rlx: a hint; a stale value costs one wasted spin or yield. */
    return partner && lfc_load_rlx_int(&partner->cpu) == cpu;
}

static bool
spin_same_cpu(struct lfc_spin *spin, const struct lfc_spin *partner)
{
    return lfc__spin_note_same_cpu(spin, partner, sched_getcpu());
}

/* The budget for this wait, and whether it adapts. */
static uint32_t
spin_budget(const struct lfc_spin *s, int *adaptive)
{
    /* ORDER rlx: a tuning knob. */
    int lim = lfc_load_rlx_int(&g_spin_limit);
    *adaptive = lim < 0;
    if (lim >= 0)
        return (uint32_t)lim;
    /* ORDER rlx: a heuristic; racing updates may be lost, harmlessly. */
    return lfc_load_rlx_u32(&s->budget);
}

static void
spin_adjust(struct lfc_spin *s, uint32_t old, uint32_t target, uint32_t div)
{
    int64_t b = (int64_t)old + ((int64_t)target - (int64_t)old) / div;
    if (b < SPIN_FLOOR)
        b = SPIN_FLOOR;
    if (b > SPIN_CEIL)
        b = SPIN_CEIL;
    if ((uint32_t)b != old) {
        /* ORDER rlx: a heuristic; a lost racing update only delays
         * adaptation. Skipped when unchanged, to keep the line clean. */
        lfc_store_rlx_u32(&s->budget, (uint32_t)b);
    }
}

/*
 * A spin of `budget` polls took spin_ns and failed; the park that followed
 * lasted park_ns. If a spin that long fits under the ceiling, aim for
 * twice it (next time we catch the partner spinning); otherwise the
 * channel was idle and spinning only costs: aim for the floor.
 */
static void
spin_learn_from_park(struct lfc_spin *s, uint32_t budget, int64_t spin_ns,
                     int64_t park_ns)
{
    int64_t per_poll = spin_ns / (int64_t)budget;
    if (per_poll < 1)
        per_poll = 1;
    int64_t polls = park_ns / per_poll;
    uint32_t target = polls < SPIN_CEIL ? (uint32_t)(2 * polls) : 0;
    spin_adjust(s, budget, target, 8);
}

/* ---- waiting ------------------------------------------------------------ */

static void
ec_init(struct lfc_ec *ec, const struct lfc__park_ops *futex)
{
    ec->seq = 0; /* before the object is shared */
    ec->lock = 0;
    ec->waiters = 0;
    ec->futex = futex;
    lfc__list_init(&ec->nodes);
}

void
lfc__ec_init(struct lfc_ec *ec)
{
    ec_init(ec, &lfc__futex_private);
}

void
lfc__ec_init_shared(struct lfc_ec *ec)
{
    ec_init(ec, &lfc__futex_shared);
}

/* ---- the event count's lock ------------------------------------------- */

/* Lock word values: a three-state futex mutex (Drepper, "Futexes Are
 * Tricky", mutex #2), so a holder preempted on a small machine costs its
 * waiters a sleep, not a spin. */
enum { LOCK_FREE = 0, LOCK_HELD = 1, LOCK_CONTENDED = 2, LOCK_SPINS = 64 };

void
lfc__lock(uint32_t *lock)
{
    uint32_t c = LOCK_FREE;
    /* ORDER acqrel: acquire makes the previous holder's section visible. */
    if (lfc_cas_acqrel_u32(lock, &c, LOCK_HELD))
        return;
    /* Spin briefly: sections are a few loads and CASes (or one wake). */
    for (int i = 0; i < LOCK_SPINS; i++) {
        lfc_cpu_relax();
        c = LOCK_FREE;
        /* ORDER acqrel: as above. */
        if (lfc_cas_acqrel_u32(lock, &c, LOCK_HELD))
            return;
    }
    /* Sleep. Woken by lfc__unlock() of a holder that saw CONTENDED;
     * every return retries the exchange. ORDER acqrel: as above. */
    while (lfc_swap_acqrel_u32(lock, LOCK_CONTENDED) != LOCK_FREE)
        lfc__futex_wait(&lfc__futex_private, lock, LOCK_CONTENDED, INT64_MAX);
}

void
lfc__unlock(uint32_t *lock)
{
    /* ORDER acqrel: release publishes our section to the next holder. */
    if (lfc_swap_acqrel_u32(lock, LOCK_FREE) == LOCK_CONTENDED)
        lfc__futex_wake(&lfc__futex_private, lock, 1);
}

void
lfc__ec_lock(struct lfc_ec *ec)
{
    lfc__lock(&ec->lock);
}

void
lfc__ec_unlock(struct lfc_ec *ec)
{
    lfc__unlock(&ec->lock);
}

/* ---- node waiters ------------------------------------------------------ */

void
lfc__ec_node_add(struct lfc_ec *ec, struct lfc__ec_node *n)
{
    lfc__ec_lock(ec);
    lfc__list_push_back(&ec->nodes, &n->link); /* under the lock */
    /* ORDER seqcst: the announce of the store-buffering pair (select.c);
     * inside the lock, so a waker that reads it and then locks finds n. */
    lfc_faa_seqcst_u64(&ec->waiters, LFC__EC_NODE_ONE);
    lfc__ec_unlock(ec);
}

void
lfc__ec_node_remove(struct lfc_ec *ec, struct lfc__ec_node *n)
{
    lfc__ec_lock(ec);
    lfc__list_remove(&n->link);
    /* ORDER seqcst: the withdrawal; see select.c on why the selector's
     * pass that follows (after a fence) cannot miss an event whose waker
     * no longer found the node. */
    lfc_faa_seqcst_u64(&ec->waiters, (uint64_t)0 - LFC__EC_NODE_ONE);
    lfc__ec_unlock(ec);
}

/*
 * Notify up to n nodes linked on ec (a wake-one skips passive nodes),
 * oldest first; a node counts if its notify took the wake. Returns how
 * many. Bypasses the PENDING coalescing of plain waiters: nodes never
 * read seq, so nothing would clear it.
 */
static int
ec_notify_nodes(struct lfc_ec *ec, int n)
{
    int woken = 0;
    struct lfc__ec_node *x;
    lfc__ec_lock(ec);
    lfc__ec_for_each_node(x, ec) {
        if (woken >= n)
            break;
        if (n == 1 && x->passive)
            continue;
        /* Under the lock: the node, hence its owner's memory, stays alive
         * until the owner unlinks it. */
        if (x->notify(x))
            woken++;
    }
    lfc__ec_unlock(ec);
    return woken;
}

/* Bump seq and wake up to n plain waiters (the caller saw one counted). */
static void
ec_wake_plain(struct lfc_ec *ec, int n, struct lfc_spin *waker)
{
    /* ORDER rlx: a starting guess, read after the caller's seqcst fence
     * (which the coalescing argument needs); the CAS validates it. */
    uint32_t s = lfc_load_rlx_u32(&ec->seq);
    do {
        if (n == 1 && (s & EC_PENDING))
            return; /* coalesced: a woken waiter will see our publication */
        /* ORDER acqrel: rel pairs with the acq load in ec_observe(): a
         * waiter that reads the new seq sees what was published before. */
    } while (!lfc_cas_acqrel_u32(&ec->seq, &s, (s + EC_STEP) | EC_PENDING));
    if (waker)
        spin_note_cpu(waker, sched_getcpu());
    lfc__futex_wake(ec->futex, &ec->seq, n);
}

void
lfc__ec_wake(struct lfc_ec *ec, int n, struct lfc_spin *waker)
{
    /* ORDER rlx: read after the caller's seqcst fence (store→load with
     * the waiters' seqcst announce RMWs), as in lfc__ec_signal_fenced(). */
    uint64_t w = lfc_load_rlx_u64(&ec->waiters);
    /* Nodes first: a wake-one that one takes is spent. */
    if ((w >> 32) != 0 && ec_notify_nodes(ec, n) != 0 && n == 1)
        return;
    if ((uint32_t)w == 0)
        return; /* no plain waiter had announced before our fence */
    ec_wake_plain(ec, n, waker);
}

void
lfc__ec_wake_plain(struct lfc_ec *ec, struct lfc_spin *waker)
{
    /* ORDER rlx: as in lfc__ec_wake(); read after the caller's fence. */
    if ((uint32_t)lfc_load_rlx_u64(&ec->waiters) != 0)
        ec_wake_plain(ec, 1, waker);
}

/*
 * Read seq for a wait, taking any pending wake: clear EC_PENDING if set,
 * then fence, so that a waker who saw the bit and skipped its own wake has
 * its publication seen by the try() that follows.
 */
static uint32_t
ec_observe(struct lfc_ec *ec)
{
    /* ORDER acq: pairs with the rel CAS in lfc__ec_wake(); a bumped seq
     * read here makes its publication visible to the try() that follows. */
    uint32_t s = lfc_load_acq_u32(&ec->seq);
    while (s & EC_PENDING) {
        /* ORDER acqrel: acq as the load above; the clear is ordered before
         * our recheck by the fence below. */
        if (lfc_cas_acqrel_u32(&ec->seq, &s, s & ~EC_PENDING)) {
            s &= ~EC_PENDING;
            /* ORDER seqcst: our clear before the recheck (store→load);
             * pairs with a coalescing waker's publish-fence-load of seq. */
            lfc_fence_seqcst();
            break;
        }
    }
    return s;
}

/* The body of lfc__ec_wait and lfc__ec_wait_noting, inlined into both so
 * that the plain wait (announced == NULL) carries no branch or argument of
 * the noting one (callgrind: 13 instructions per park). */
static inline __attribute__((always_inline)) int
ec_wait(struct lfc_ec *ec, struct lfc_spin *spin,
        const struct lfc_spin *partner, lfc__try_fn try_fn, void *arg,
        int64_t deadline_ns, bool *announced)
{
    int adaptive;
    uint32_t budget = spin_budget(spin, &adaptive);
    int yields = 0;
    int64_t spin_start = 0;
    int64_t park_start = 0;
    int r;

    if (announced)
        *announced = false;
    if (adaptive && spin_same_cpu(spin, partner)) {
        budget = 0; /* the partner needs our CPU: yield it instead */
        yields = SPIN_YIELDS;
    }
    if ((budget != 0 || yields != 0) && deadline_ns != INT64_MAX &&
        lfc__now_ns() >= deadline_ns)
        budget = 0, yields = 0; /* already late: no point spinning */
    if (adaptive && budget != 0)
        spin_start = lfc__now_ns();

    /* Spin phase. Woken by nothing: each poll rechecks the state. A
     * deadline is checked every few hundred polls, so that no budget
     * (lfc_spin_set_limit allows any) outlasts it by more than that. */
    for (uint32_t i = 0; i < budget; i++) {
        lfc_cpu_relax();
        r = try_fn(arg);
        if (r != LFC_AGAIN) {
            if (adaptive)
                spin_adjust(spin, budget, 2 * (i + 1) + SPIN_FLOOR, 8);
            return r;
        }
        if (lfc__spin_past_deadline(i, deadline_ns)) {
            yields = 0; /* the park below times out at once */
            break;
        }
    }
    /* Yield phase (sharing a CPU only). Bounded: an idle partner costs at
     * most SPIN_YIELDS system calls before we park. */
    for (int i = 0; i < yields; i++) {
        sched_yield();
        r = try_fn(arg);
        if (r != LFC_AGAIN)
            return r;
    }
    if (spin_start != 0)
        park_start = lfc__now_ns();

    /* ORDER seqcst: announce; with the fence below, forbids the
     * waker's "publish; fence; load waiters" from missing us while our
     * recheck misses its publication (store→load, both sides). */
    lfc_faa_seqcst_u64(&ec->waiters, 1);
    /* ORDER seqcst: see the announce above (SB pattern with fences). */
    lfc_fence_seqcst();
    if (announced)
        *announced = true;

    /* Park loop. Woken by lfc__ec_wake() (a signal or broadcast after a
     * publication), by the deadline, or spuriously; every return rechecks. */
    for (;;) {
        uint32_t s = ec_observe(ec);
        r = try_fn(arg);
        if (r != LFC_AGAIN)
            break;
        LFC_DEBUG_YIELD_POINT();
        if (lfc__futex_wait(ec->futex, &ec->seq, s, deadline_ns) ==
            LFC_TIMEDOUT) {
            r = LFC_TIMEDOUT;
            break;
        }
    }

    /* ORDER seqcst: withdraw before the last try, so a waker either still
     * counts us or our last try sees its publication (SB, as above). */
    lfc_faa_seqcst_u64(&ec->waiters, (uint64_t)-1);
    if (r == LFC_TIMEDOUT) {
        /* ORDER seqcst: pairs with the waker's fence (SB, as above). */
        lfc_fence_seqcst();
        int last = try_fn(arg);
        if (last != LFC_AGAIN)
            r = last;
    } else if (park_start != 0) {
        spin_learn_from_park(spin, budget, park_start - spin_start,
                             lfc__now_ns() - park_start);
    }
    return r;
}

int
lfc__ec_wait(struct lfc_ec *ec, struct lfc_spin *spin,
             const struct lfc_spin *partner, lfc__try_fn try_fn, void *arg,
             int64_t deadline_ns)
{
    return ec_wait(ec, spin, partner, try_fn, arg, deadline_ns, NULL);
}

int
lfc__ec_wait_noting(struct lfc_ec *ec, struct lfc_spin *spin,
                    const struct lfc_spin *partner, lfc__try_fn try_fn,
                    void *arg, int64_t deadline_ns, bool *announced)
{
    return ec_wait(ec, spin, partner, try_fn, arg, deadline_ns, announced);
}

#ifdef LFC_DEBUG_YIELD
void
lfc__debug_yield(void)
{
    static __thread uint32_t x = 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    if ((x & 7) == 0)
        sched_yield();
}
#endif
