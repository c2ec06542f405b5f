/* SPDX-License-Identifier: MIT */
/*
 * Fan-in (lfc_merger) and fan-out (lfc_fanout) over channels and select.
 * Depends on: chan (the channels, lfc__chan_retain/release/refs), select
 * (lfc_select), lfc_fork.h. No atomics of its own: threads share state
 * only through pthread_create/join and channels.
 *
 * Design
 * ------
 * Merger. Go's merge (https://go.dev/blog/pipelines, "Fan-out, fan-in")
 * runs a goroutine per input. Threads cost more than goroutines, so here
 * one thread (a node) serves many inputs with lfc_select over a receive
 * case per input and forwards each value with a blocking lfc_send:
 *
 *   while some input case is on:
 *     i = lfc_select(cases)          a ready input, chosen at random
 *     stop case (closed)  -> switch the input cases off (ch = NULL)
 *     input i LFC_CLOSED  -> switch case i off: closed and drained
 *     a value             -> lfc_send(node's out, value)
 *   close the node's out (the root: unless LFC_MERGE_KEEP_OPEN)
 *
 * A select costs O(cases): a pass tries the cases one by one, and a
 * select that parks links a waiter node into every case's event count
 * (a lock and a seqcst RMW each) and unlinks them all after waking; above
 * 32 cases it also mallocs and frees per call. So a node serves at most
 * MERGE_FANIN inputs. With more, the inputs are split into balanced groups
 * of at most MERGE_FANIN (300 inputs: 10 groups of 30), a leaf node per
 * group sending to an internal channel of capacity INTERNAL_CAP; the
 * internal channels are grouped the same way, level after level, until
 * one node is left: the root, which sends to out. MERGE_FANIN = 31 keeps
 * every leaf's select (31 inputs and the stop case) within select's 32
 * stack cases; the measurements behind it are below.
 *
 * Stop. One stop channel per merger (capacity 0, elem_size 0), closed by
 * lfc_merge_stop. Every node with user inputs checks it before each
 * select, and has a receive case on it (case 0) so that a parked select
 * wakes; seeing it closed, the node switches its inputs off. The case
 * alone is not enough: among ready cases select picks at random, so a node
 * with busy inputs would take more values before picking it. Nodes above
 * the leaves ignore stop: they drain their internal channels until the
 * leaves close them, so a value a leaf already took still reaches out.
 *
 * Out closed early. Only the root can see a send fail: internal channels
 * are closed by nobody but their one sender. The root counts the value as
 * dropped, closes the stop channel (the leaves stop), switches off its own
 * user inputs (so it receives nothing more from them) and goes on draining
 * its internal channels, counting each value, until they close.
 *
 * Start gate. Every thread first receives on a gate channel, which the
 * constructor closes once all threads exist. If one cannot be created,
 * the constructor sets `abort` before closing the gate, the threads return
 * without touching any channel, and the constructor joins them: a failed
 * constructor has received nothing.
 *
 * References. The constructor takes one reference (lfc__chan_retain, the
 * count lfc_chan_dup adds to) to each distinct channel the caller gave
 * (struct holds: the inputs and out, or in and the outputs), and the _free
 * call releases them after joining, so the caller may free its own
 * references at any time. The internal retain rather than lfc_chan_dup:
 * on a channel the library owns (a context's done channel as an input)
 * lfc_chan_dup also counts a user reference, which a stray lfc_chan_free
 * of the user's could then take back from under us.
 *
 * Abandoned channels. Once our reference is a channel's only one
 * (lfc__chan_refs == 1), nobody else can send to it, receive from it or
 * close it, ever: taking a reference needs one. A thread blocked on it
 * would wait forever (an abandoned out with a value in hand, an abandoned
 * input that never closes), and the _free call with it. So lfc_merge_stop,
 * lfc_fanout_stop and the _free calls close such channels themselves
 * (holds_close_abandoned): the close is visible to our threads only, and
 * turns the case into one the design already handles (an input closed and
 * drained; out, or an output, closed early: the value counted as
 * dropped). Nothing signals the release of a reference, so while a _free
 * call waits for a thread it checks again every ABANDON_POLL_NS
 * (join_watching). Channels the library owns cannot be closed by us; one
 * that is abandoned stays open (only an input can be one).
 *
 * Fork. A merger or fan-out used in a child of the process that made it
 * (lfc__forked_since) has no threads there: stop returns LFC_EINVAL and
 * the _free calls release the memory and the references without joining.
 *
 * Cancellation. The _free calls join, and pthread_join is a cancellation
 * point; they run with cancellation disabled (lfc__nocancel_begin), so a
 * cancel request is acted on after they return. The forwarding threads
 * disable it for good (nobody can name them; select_retry's nanosleep).
 *
 * Fan-out. One thread: select {receive in, receive stop}, deliver, repeat.
 * Round-robin: lfc_try_send to each open output in turn, starting after
 * the last one that took a value; if all are full, lfc_select over a send
 * case per open output. Broadcast: lfc_try_send to every open output, then
 * lfc_select over the send cases of those still missing the value,
 * switching each off as it completes. An output found closed (LFC_CLOSED)
 * is removed for good; with none left the thread stops receiving.
 *
 * Choice of MERGE_FANIN, measured (2 vCPUs shared with other jobs, so
 * +-20%; gcc 12 -O2; one reader; best of 7; Mvalues/s):
 *   dense: n inputs of capacity 200000/n, prefilled and closed, out big
 *   enough for all, so this times the forwarding alone:
 *     n \ fan-in     16     31     64    128   (one node: n <= fan-in)
 *       64         11.7   12.3    9.0    9.1
 *      256          9.0    8.0    8.7    8.0
 *     1024          3.9    4.2    6.3    6.4
 *     2048          3.8    2.5    5.2    5.5
 *   One node over n ready inputs: 27.8 (8), 9.1 (64), 4.0 (256), 1.3
 *   (1024): a select costs O(n) even when its first try succeeds (select
 *   checks every case's arguments and initialises its order array before
 *   trying any, and mallocs above 32 cases).
 *   sparse: one producer on one of n open inputs; each value wakes the
 *   node, whose park links and unlinks a waiter per case:
 *     n \ fan-in     16     31     64    128
 *       64          2.8    2.6    1.9    2.3
 *      256          3.1    2.5    1.9    1.4
 *     1024          3.1    3.0    1.9    1.7     (one node: 0.27)
 *     2048          3.1    2.4    2.0    1.5
 * 31 is as fast as 64 when dense up to 961 inputs (two levels) and 25-60%
 * faster when sparse; it also keeps every leaf's select in select's stack
 * path (no malloc per value). Above 961 inputs 64 wins when dense, mostly
 * because half as many leaf threads compete for the 2 CPUs. 16 costs a
 * third level from 257 inputs. INTERNAL_CAP: 1 and 16 were 2-7x and
 * 1.3-2x slower than 64 when dense; 256 gained little more.
 * Depth: 2 levels up to 961 inputs, 3 up to 29791.
 *
 * Invariants:
 *   - Each user input is a case of exactly one leaf (or of the root, when
 *     n <= MERGE_FANIN). Each internal channel has one sender (the node
 *     below) and one receiver (the node above), so it is FIFO between
 *     them, and per-input order survives every hop.
 *   - A node holds at most one received value (buf) and sends it before
 *     it receives again. It closes its out only after its last send, so a
 *     node above that sees LFC_CLOSED has received everything sent.
 *   - live counts a node's input cases that are on; the node selects only
 *     while live > 0, so its select always has a channel (no LFC_EINVAL).
 *   - Every value received is sent (LFC_OK) or counted in dropped.
 *   - The fan-out holds at most one value; it receives the next only when
 *     this one is delivered (round-robin: to one output; broadcast: to
 *     every open output) or counted.
 *
 * Field table (no atomics; "gate" means written before the gate channel
 * is closed and read after a receive on it returned LFC_CLOSED, which
 * chan.h orders):
 *   | field                 | written by           | read by           |
 *   |-----------------------|----------------------|-------------------|
 *   | node cases, n, first, | constructor (gate),  | its thread        |
 *   | live, buf             | then its thread      |                   |
 *   | node out, root        | constructor (gate)   | its thread, free  |
 *   | node dropped          | its thread           | free, after join  |
 *   | m->flags, stop        | constructor (gate)   | threads           |
 *   | gate.abort            | constructor (gate)   | threads           |
 *   | fan-out live, cases,  | constructor (gate),  | the thread        |
 *   | open, next, buf       | then the thread      |                   |
 *   | fan-out dropped       | the thread           | free, after join  |
 *   | holds, fork_gen (both)| constructor          | stop, free (the   |
 *   |                       |                      | constructor's     |
 *   |                       |                      | return orders it) |
 *
 * Wake-up argument: this file parks only inside channel calls and
 * lfc_select, whose own arguments (chan.c, select.c) cover lost wake-ups.
 * What is left is progress. A node blocks only in its select (until an
 * input has a value or closes, or stop closes) or in lfc_send to its out.
 * A leaf's out is read by its parent, which blocks only in its own select
 * over internal channels or in its own send; so by induction up the tree,
 * every blocked send ends once out is read or closed (after which the
 * root's sends fail at once). The _free calls join, so they return once
 * the selects have ended: every input closed, or stop. A channel nobody
 * else holds is never read, closed or sent to by anyone but us, so the
 * _free calls close it (polling, since no event marks the last other
 * release): an input then ends as closed, an out's blocked send fails.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lfchan/chan.h"
#include "lfchan/merge.h"
#include "lfchan/select.h"
#include "lfc_chan_internal.h"
#include "lfc_common.h"
#include "lfc_fork.h"
#include "lfc_merge_internal.h"

enum {
    /* Inputs per node; with the stop case a leaf's select has 32 cases,
     * the most select handles without heap memory. */
    MERGE_FANIN = 31,
    /* Capacity of the channel from a node to its parent: lets a leaf run
     * ahead of the root instead of meeting it for every value. */
    INTERNAL_CAP = 64,
};

/* How often a waiting _free call looks for abandoned channels. */
#define ABANDON_POLL_NS 50000000L

static size_t merge_fanin = MERGE_FANIN; /* test hook; see the header */

void
lfc__merge_set_fanin(size_t fanin)
{
    merge_fanin = fanin < 2                 ? MERGE_FANIN
                  : fanin >= LFC_SELECT_MAX ? LFC_SELECT_MAX - 1
                                            : fanin;
}

/* ---- shared by both: start gate, threads, select ----------------------- */

struct gate {
    lfc_chan *ch; /* closed by the constructor when every thread exists */
    bool abort;   /* constructor, before the close; threads, after it */
};

static int
gate_init(struct gate *g)
{
    g->abort = false;
    g->ch = lfc_chan_new(0, 0);
    return g->ch ? 0 : -1;
}

/* Wait until the constructor opens the gate; false: exit at once. */
static bool
gate_pass(struct gate *g)
{
    int r = lfc_recv(g->ch, NULL);
    LFC_ASSERT(r == LFC_CLOSED); /* nothing is ever sent on it */
    (void)r;
    return !g->abort;
}

static void
gate_open(struct gate *g, bool abort)
{
    g->abort = abort;
    lfc_close(g->ch);
}

/* A thread with every signal blocked (process-directed signals belong to
 * the application's threads), named for top -H. */
static int
thread_start(pthread_t *th, void *(*fn)(void *), void *arg, const char *name)
{
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    /* The thread is waiting at the gate, so it exists; failure only costs
     * the name. */
    pthread_setname_np(*th, name);
    return 0;
}

/* The elem_size bytes a thread holds a value in (1 for elem_size 0, so
 * the buffer is never NULL). */
static void *
value_buf(size_t elem_size)
{
    return malloc(elem_size ? elem_size : 1);
}

/*
 * lfc_select that cannot fail: LFC_EINVAL is excluded by the callers
 * (valid cases, at least one channel); LFC_ENOMEM (more than 32 cases and
 * no memory for them) consumed nothing, so wait a millisecond and retry.
 */
static int
select_retry(lfc_case *cases, int n)
{
    for (;;) {
        int i = lfc_select(cases, n);
        if (i >= 0)
            return i;
        LFC_ASSERT(i == LFC_ENOMEM);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL); /* cancellation is off in our threads */
    }
}

/* ---- shared by both: references to the caller's channels --------------- */

/* The distinct channels the caller gave, one reference to each. */
struct holds {
    lfc_chan **ch; /* sorted by address, no duplicates */
    size_t n;
};

static int
chan_ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (lfc_chan *const *)a;
    uintptr_t y = (uintptr_t) * (lfc_chan *const *)b;
    return x < y ? -1 : x > y;
}

/* Take one reference to each distinct channel of a[0..na) and b[0..nb).
 * -1: no memory (nothing taken). */
static int
holds_take(struct holds *h, lfc_chan **a, size_t na, lfc_chan **b, size_t nb)
{
    h->n = 0;
    if (na > SIZE_MAX / sizeof(*h->ch) - nb)
        return -1;
    h->ch = malloc((na + nb) * sizeof(*h->ch));
    if (!h->ch)
        return -1;
    memcpy(h->ch, a, na * sizeof(*h->ch));
    memcpy(h->ch + na, b, nb * sizeof(*h->ch));
    qsort(h->ch, na + nb, sizeof(*h->ch), chan_ptr_cmp);
    for (size_t i = 0; i < na + nb; i++) {
        if (h->n > 0 && h->ch[h->n - 1] == h->ch[i])
            continue;
        h->ch[h->n++] = h->ch[i];
        lfc__chan_retain(h->ch[i]); /* the caller holds one meanwhile */
    }
    return 0;
}

static void
holds_release(struct holds *h)
{
    for (size_t i = 0; i < h->n; i++)
        lfc__chan_release(h->ch[i]);
    free(h->ch);
    h->ch = NULL;
    h->n = 0;
}

/* Close every channel whose only reference is ours: nobody else can use
 * it again (see "Abandoned channels" above). Racing closes are fine (one
 * gets LFC_CLOSED). */
static void
holds_close_abandoned(const struct holds *h)
{
    for (size_t i = 0; i < h->n; i++) {
        lfc_chan *ch = h->ch[i];
        if (lfc__chan_recv_only(ch) || lfc_chan_closed(ch))
            continue;
        if (lfc__chan_refs(ch) == 1)
            lfc_close(ch);
    }
}

/*
 * Join th. While it runs, close the channels abandoned meanwhile, so that
 * a thread blocked on one gets out: woken by the thread's exit, and every
 * ABANDON_POLL_NS to look again (nothing signals a release). h NULL: a
 * plain join. Call with cancellation disabled (pthread_timedjoin_np and
 * pthread_join are cancellation points).
 */
static void
join_watching(pthread_t th, const struct holds *h)
{
    if (!h) {
        pthread_join(th, NULL);
        return;
    }
    for (;;) {
        holds_close_abandoned(h);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* timedjoin's clock */
        ts.tv_nsec += ABANDON_POLL_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = pthread_timedjoin_np(th, NULL, &ts);
        if (rc != ETIMEDOUT) {
            LFC_ASSERT(rc == 0);
            return;
        }
    }
}

/* ---- merger ------------------------------------------------------------- */

struct node {
    struct lfc_merger *m;
    lfc_case *cases;  /* [0, first): the stop case; then inputs; thread */
    int n;            /* cases */
    int first;        /* 1 if case 0 is the stop case (user inputs) */
    int live;         /* input cases still on; thread */
    lfc_chan *out;    /* the merger's out (root) or an internal channel */
    bool root;        /* read-only */
    void *buf;        /* the value in hand; thread */
    uint64_t dropped; /* thread; read by lfc_merge_free after join */
    pthread_t th;
};

struct lfc_merger {
    struct node *nodes;
    size_t n_nodes; /* initialised so far */
    size_t started; /* threads created so far */
    lfc_chan *stop; /* closed by lfc_merge_stop or an early-closed out */
    struct gate gate;
    struct holds holds; /* the inputs and out; read-only */
    unsigned flags;     /* read-only */
    size_t elem_size;
    uint32_t fork_gen; /* lfc__fork_gen() at creation; read-only */
};

/* Switch the user inputs (and the stop case) off; a node over internal
 * channels keeps draining them until their senders close them. */
static void
node_stop(struct node *x)
{
    if (!x->first)
        return;
    for (int i = 0; i < x->n; i++) {
        if (!x->cases[i].ch)
            continue;
        x->cases[i].ch = NULL;
        if (i >= x->first)
            x->live--;
    }
}

static void
node_forward(struct node *x)
{
    if (lfc_send(x->out, x->buf) == LFC_OK)
        return;
    /* LFC_CLOSED: only out itself can be closed under us (the root). */
    LFC_ASSERT(x->root);
    x->dropped++;
    lfc_close(x->m->stop);
    node_stop(x);
}

static void
node_step(struct node *x)
{
    /* The stop case wakes a parked select, but among ready cases select
     * picks at random, so a node with busy inputs could take many more
     * values before picking it: check for stop before every select. */
    if (x->first && lfc_chan_closed(x->m->stop)) {
        node_stop(x);
        return;
    }
    int i = select_retry(x->cases, x->n);
    lfc_case *c = &x->cases[i];
    if (i < x->first) {
        node_stop(x); /* the stop channel is closed */
    } else if (c->status == LFC_CLOSED) {
        c->ch = NULL; /* closed and drained */
        x->live--;
    } else {
        node_forward(x);
    }
}

static void *
node_main(void *arg)
{
    struct node *x = arg;
    (void)lfc__nocancel_begin(); /* for good: nobody can name us */
    if (!gate_pass(&x->m->gate))
        return NULL;
    while (x->live > 0)
        node_step(x);
    if (!x->root || !(x->m->flags & LFC_MERGE_KEEP_OPEN))
        lfc_close(x->out);
    return NULL;
}

/* Set up node m->nodes[m->n_nodes] over chans[0..k). user: chans are the
 * caller's inputs (the node gets a stop case). out NULL: a new internal
 * channel. */
static struct node *
node_add(lfc_merger *m, lfc_chan **chans, size_t k, bool user, lfc_chan *out)
{
    struct node *x = &m->nodes[m->n_nodes];
    x->m = m;
    x->first = user ? 1 : 0;
    x->n = (int)k + x->first;
    x->live = (int)k;
    x->root = out != NULL;
    x->out = out ? out : lfc_chan_new(INTERNAL_CAP, m->elem_size);
    x->buf = value_buf(m->elem_size);
    x->cases = calloc((size_t)x->n, sizeof(*x->cases));
    if (!x->out || !x->buf || !x->cases)
        goto out_free;
    if (user)
        x->cases[0] = (lfc_case){.ch = m->stop, .dir = LFC_RECV};
    for (size_t i = 0; i < k; i++)
        x->cases[x->first + i] =
            (lfc_case){.ch = chans[i], .dir = LFC_RECV, .buf = x->buf};
    m->n_nodes++;
    return x;

out_free:
    if (!x->root)
        lfc_chan_free(x->out);
    free(x->buf);
    free(x->cases);
    return NULL;
}

/* How many nodes a tree over n inputs needs. */
static size_t
tree_nodes(size_t n, size_t fanin)
{
    size_t total = 1;
    while (n > fanin) {
        n = (n + fanin - 1) / fanin;
        total += n;
    }
    return total;
}

/*
 * Build the nodes level by level. level[0..k) are the channels still to be
 * merged: the inputs at first, then the previous level's internal
 * channels (written back into level[], which has room: a level never has
 * more groups than channels).
 */
static int
tree_build(lfc_merger *m, lfc_chan **level, size_t k, lfc_chan *out,
           size_t fanin)
{
    bool user = true;
    while (k > fanin) {
        size_t groups = (k + fanin - 1) / fanin;
        size_t at = 0;
        for (size_t g = 0; g < groups; g++) {
            /* Balanced: the first k % groups groups get one more. */
            size_t len = k / groups + (g < k % groups ? 1 : 0);
            struct node *x = node_add(m, level + at, len, user, NULL);
            if (!x)
                return -1;
            at += len;
            level[g] = x->out; /* g < at: that slot was already read */
        }
        k = groups;
        user = false;
    }
    return node_add(m, level, k, user, out) ? 0 : -1;
}

/*
 * Join the threads and free everything; returns the drops counted. watch:
 * close abandoned channels while waiting (lfc_merge_free; not for a
 * constructor that failed, whose threads leave at the gate). join false:
 * in a forked child, where the threads do not exist. Call with
 * cancellation disabled.
 */
static uint64_t
merger_destroy(lfc_merger *m, bool watch, bool join)
{
    uint64_t dropped = 0;
    for (size_t i = 0; join && i < m->started; i++)
        join_watching(m->nodes[i].th, watch ? &m->holds : NULL);
    for (size_t i = 0; i < m->n_nodes; i++) {
        struct node *x = &m->nodes[i];
        dropped += x->dropped;
        if (!x->root)
            lfc_chan_free(x->out);
        free(x->buf);
        free(x->cases);
    }
    lfc_chan_free(m->gate.ch);
    lfc_chan_free(m->stop);
    holds_release(&m->holds);
    free(m->nodes);
    free(m);
    return dropped;
}

static bool
merge_args_ok(lfc_chan **inputs, size_t n, lfc_chan *out, unsigned flags)
{
    if (!inputs || n == 0 || !out || (flags & ~LFC_MERGE_KEEP_OPEN))
        return false;
    if (n > SIZE_MAX / sizeof(*inputs))
        return false; /* no array is that long: do not read past one */
    if (lfc__chan_recv_only(out))
        return false; /* the library's: we could not send to it */
    size_t es = lfc_chan_elem_size(out);
    for (size_t i = 0; i < n; i++) {
        if (!inputs[i] || inputs[i] == out ||
            lfc_chan_elem_size(inputs[i]) != es)
            return false;
    }
    return true;
}

lfc_merger *
lfc_merge_new_ex(lfc_chan **inputs, size_t n, lfc_chan *out, unsigned flags)
{
    if (!merge_args_ok(inputs, n, out, flags)) {
        errno = EINVAL;
        return NULL;
    }
    size_t fanin = merge_fanin;
    lfc_merger *m = calloc(1, sizeof(*m));
    lfc_chan **level = calloc(n, sizeof(*level)); /* n * size overflows: NULL */
    if (!m || !level || lfc__fork_watch() != 0 ||
        holds_take(&m->holds, inputs, n, &out, 1) != 0)
        goto out_free_m;
    m->fork_gen = lfc__fork_gen();
    m->flags = flags;
    m->elem_size = lfc_chan_elem_size(out);
    m->nodes = calloc(tree_nodes(n, fanin), sizeof(*m->nodes));
    m->stop = lfc_chan_new(0, 0);
    if (!m->nodes || !m->stop || gate_init(&m->gate) != 0)
        goto out_destroy;
    for (size_t i = 0; i < n; i++)
        level[i] = inputs[i];
    if (tree_build(m, level, n, out, fanin) != 0)
        goto out_destroy;
    for (; m->started < m->n_nodes; m->started++) {
        struct node *x = &m->nodes[m->started];
        if (thread_start(&x->th, node_main, x, "lfc-merge") != 0)
            goto out_destroy;
    }
    free(level);
    gate_open(&m->gate, false);
    return m;

out_destroy:
    /* The threads started so far (if any) leave without touching a
     * channel; merger_destroy joins them. */
    if (m->gate.ch)
        gate_open(&m->gate, true);
    free(level);
    int cs = lfc__nocancel_begin();
    merger_destroy(m, false, true);
    lfc__nocancel_end(cs);
    errno = ENOMEM;
    return NULL;
out_free_m:
    free(level);
    free(m);
    errno = ENOMEM;
    return NULL;
}

lfc_merger *
lfc_merge_new(lfc_chan **inputs, size_t n, lfc_chan *out)
{
    return lfc_merge_new_ex(inputs, n, out, 0);
}

int
lfc_merge_stop(lfc_merger *m)
{
    if (!m || lfc__forked_since(m->fork_gen))
        return LFC_EINVAL;
    lfc_close(m->stop); /* LFC_CLOSED when stopped already: fine */
    /* A value in hand for an out nobody else holds could never be
     * delivered: let the send fail (counted as dropped). */
    holds_close_abandoned(&m->holds);
    return LFC_OK;
}

uint64_t
lfc_merge_free(lfc_merger *m)
{
    if (!m)
        return 0;
    if (lfc__forked_since(m->fork_gen))
        return merger_destroy(m, false, false); /* no threads here */
    int cs = lfc__nocancel_begin();
    uint64_t dropped = merger_destroy(m, true, true);
    lfc__nocancel_end(cs);
    return dropped;
}

/* ---- fan-out ------------------------------------------------------------ */

struct lfc_fanout {
    lfc_chan *in;     /* read-only */
    lfc_chan **outs;  /* as given; read-only (closed at the end) */
    struct holds holds; /* in and the outputs; read-only */
    uint32_t fork_gen;  /* lfc__fork_gen() at creation; read-only */
    lfc_chan **live;  /* outs, NULL once found closed; thread */
    lfc_case *cases;  /* a send case per output; thread */
    size_t n;         /* outputs; read-only */
    size_t open;      /* non-NULL entries of live; thread */
    size_t next;      /* round-robin: the output to try first; thread */
    int mode;         /* read-only */
    unsigned flags;   /* read-only */
    void *buf;        /* the value in hand; thread */
    uint64_t dropped; /* thread; read by lfc_fanout_free after join */
    lfc_chan *stop;   /* closed by lfc_fanout_stop */
    struct gate gate;
    pthread_t th;
};

/* Output i was found closed: remove it for good. */
static void
out_gone(lfc_fanout *f, size_t i)
{
    f->live[i] = NULL;
    f->open--;
}

/* Round-robin, without blocking: the first open output with room, from
 * f->next on, takes the value. */
static bool
rr_try(lfc_fanout *f)
{
    for (size_t k = 0; k < f->n; k++) {
        size_t i = (f->next + k) % f->n;
        if (!f->live[i])
            continue;
        int r = lfc_try_send(f->live[i], f->buf);
        if (r == LFC_OK) {
            f->next = (i + 1) % f->n;
            return true;
        }
        if (r == LFC_CLOSED)
            out_gone(f, i);
    }
    return false;
}

/* Round-robin: every open output is full; wait for the first with room. */
static void
rr_deliver(lfc_fanout *f)
{
    if (rr_try(f))
        return;
    while (f->open > 0) {
        for (size_t i = 0; i < f->n; i++)
            f->cases[i] =
                (lfc_case){.ch = f->live[i], .dir = LFC_SEND, .buf = f->buf};
        int i = select_retry(f->cases, (int)f->n);
        if (f->cases[i].status == LFC_OK) {
            f->next = ((size_t)i + 1) % f->n;
            return;
        }
        out_gone(f, (size_t)i);
    }
    f->dropped++; /* no output left to take it */
}

/* Broadcast: give the value to every open output; the ones that have room
 * (or a waiting reader) first, then whichever is ready next. */
static void
bc_deliver(lfc_fanout *f)
{
    int pending = 0;
    for (size_t i = 0; i < f->n; i++) {
        f->cases[i] = (lfc_case){.dir = LFC_SEND, .buf = f->buf};
        if (!f->live[i])
            continue;
        int r = lfc_try_send(f->live[i], f->buf);
        if (r == LFC_AGAIN) {
            f->cases[i].ch = f->live[i];
            pending++;
        } else if (r == LFC_CLOSED) {
            f->dropped++;
            out_gone(f, i);
        }
    }
    while (pending > 0) {
        int i = select_retry(f->cases, (int)f->n);
        f->cases[i].ch = NULL; /* served: switch it off for this value */
        pending--;
        if (f->cases[i].status == LFC_CLOSED) {
            f->dropped++;
            out_gone(f, (size_t)i);
        }
    }
}

static void *
fanout_main(void *arg)
{
    lfc_fanout *f = arg;
    (void)lfc__nocancel_begin(); /* for good: nobody can name us */
    if (!gate_pass(&f->gate))
        return NULL;
    lfc_case rx[2] = {
        {.ch = f->in, .dir = LFC_RECV, .buf = f->buf},
        {.ch = f->stop, .dir = LFC_RECV},
    };
    /* As node_step: check stop before each receive, not only as a case
     * that a random select may pass over. */
    while (f->open > 0 && !lfc_chan_closed(f->stop)) {
        int i = select_retry(rx, 2);
        if (i == 1 || rx[0].status == LFC_CLOSED)
            break; /* stopped, or in is closed and drained */
        if (f->mode == LFC_FANOUT_ROUND_ROBIN)
            rr_deliver(f);
        else
            bc_deliver(f);
    }
    if (!(f->flags & LFC_FANOUT_KEEP_OPEN)) {
        for (size_t i = 0; i < f->n; i++)
            lfc_close(f->outs[i]); /* LFC_CLOSED if closed already */
    }
    return NULL;
}

static bool
fanout_args_ok(lfc_chan *in, lfc_chan **outs, size_t n, int mode,
               unsigned flags)
{
    if (!in || !outs || n == 0 || n > LFC_SELECT_MAX ||
        (mode != LFC_FANOUT_ROUND_ROBIN && mode != LFC_FANOUT_BROADCAST) ||
        (flags & ~LFC_FANOUT_KEEP_OPEN))
        return false;
    size_t es = lfc_chan_elem_size(in);
    for (size_t i = 0; i < n; i++) {
        if (!outs[i] || outs[i] == in || lfc_chan_elem_size(outs[i]) != es)
            return false;
        if (lfc__chan_recv_only(outs[i]))
            return false; /* the library's: we could not send to it */
    }
    return true;
}

static void
fanout_release(lfc_fanout *f)
{
    holds_release(&f->holds);
    lfc_chan_free(f->gate.ch);
    lfc_chan_free(f->stop);
    free(f->buf);
    free(f->cases);
    free(f->live);
    free(f->outs);
    free(f);
}

lfc_fanout *
lfc_fanout_new_ex(lfc_chan *in, lfc_chan **outs, size_t n, int mode,
                  unsigned flags)
{
    if (!fanout_args_ok(in, outs, n, mode, flags)) {
        errno = EINVAL;
        return NULL;
    }
    lfc_fanout *f = calloc(1, sizeof(*f));
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    if (lfc__fork_watch() != 0 || holds_take(&f->holds, &in, 1, outs, n) != 0)
        goto out_release;
    f->fork_gen = lfc__fork_gen();
    f->in = in;
    f->n = f->open = n;
    f->mode = mode;
    f->flags = flags;
    f->outs = malloc(n * sizeof(*f->outs));
    f->live = malloc(n * sizeof(*f->live));
    f->cases = calloc(n, sizeof(*f->cases));
    f->buf = value_buf(lfc_chan_elem_size(in));
    f->stop = lfc_chan_new(0, 0);
    if (!f->outs || !f->live || !f->cases || !f->buf || !f->stop ||
        gate_init(&f->gate) != 0)
        goto out_release;
    for (size_t i = 0; i < n; i++)
        f->outs[i] = f->live[i] = outs[i];
    if (thread_start(&f->th, fanout_main, f, "lfc-fanout") != 0)
        goto out_release;
    gate_open(&f->gate, false);
    return f;

out_release:
    fanout_release(f);
    errno = ENOMEM;
    return NULL;
}

lfc_fanout *
lfc_fanout_new(lfc_chan *in, lfc_chan **outs, size_t n, int mode)
{
    return lfc_fanout_new_ex(in, outs, n, mode, 0);
}

int
lfc_fanout_stop(lfc_fanout *f)
{
    if (!f || lfc__forked_since(f->fork_gen))
        return LFC_EINVAL;
    lfc_close(f->stop);
    /* As lfc_merge_stop: an output nobody else holds takes no value. */
    holds_close_abandoned(&f->holds);
    return LFC_OK;
}

uint64_t
lfc_fanout_free(lfc_fanout *f)
{
    if (!f)
        return 0;
    if (!lfc__forked_since(f->fork_gen)) {
        int cs = lfc__nocancel_begin();
        join_watching(f->th, &f->holds);
        lfc__nocancel_end(cs);
    } /* else a forked child: the thread does not exist here */
    uint64_t dropped = f->dropped;
    fanout_release(f);
    return dropped;
}
