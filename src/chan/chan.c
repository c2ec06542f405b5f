/* SPDX-License-Identifier: MIT */
/*
 * Channels: the public channel API for every flavor, their lifetime, and
 * the ring flavor's construction and waitable operations. Depends on:
 * the ring core (lfc_ring.h; unbuf.c, batch.c), core (event counts, spin
 * policy, atomics), the selector (hand-offs to parked selects).
 *
 * Flavors. Every lfc_chan starts with the common part of
 * lfc_chan_flavor.h. The ring (bounded and unbuffered; lfc_ring.h has its
 * algorithm, unbuf.c the unbuffered protocol, batch.c its batch claims)
 * is run inline here; any other flavor (unbounded.c) through its table.
 *
 * Select (select.c) waits on rx_ec and tx_ec through the waitable
 * interface (chan_waitable_ops below), like any waiter, with selector
 * nodes instead of a futex sleep on seq, so the ring's signals
 * (lfc_ring.h, "Wake-ups") reach it. On
 * an unbuffered channel a selecting thread cannot offer its value in the
 * slot (a receiver could take it while another case completes): a
 * receiver, or lfc_try_send, finds a parked selector on the event count's
 * node list and completes its case by hand-off (lfc__unbuf_handoff in
 * unbuf.c), claiming it with lfc__sel_claim first, so exactly one party
 * wins it.
 *
 * Lifetime: the channel is reference counted. lfc_chan_new returns one
 * reference, lfc_chan_dup adds one, lfc_chan_free drops one and the last
 * drop frees the memory (after the dtor, if the owner set one). The send
 * and receive paths never touch the count: the rule that every thread
 * that may still be inside a call holds its own reference is what makes a
 * free safe, so a sender that finishes its wake-ups after its receiver
 * already freed the channel is holding the reference that keeps it alive.
 *
 * Owned channels (a context's done channel, a lfc_timer's channel) belong
 * to the module that made them: users may receive, select on them, and
 * lfc_chan_dup them, but lfc_send, lfc_try_send, lfc_send_until, send cases
 * and lfc_close return LFC_EINVAL, and lfc_chan_free drops only references
 * the user took with lfc_chan_dup (it is a no-op otherwise). The owner
 * sends and closes through lfc__chan_owner_try_send/close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lfchan/chan.h"
#include "lfc_atomic.h"
#include "lfc_chan_flavor.h"
#include "lfc_chan_internal.h"
#include "lfc_common.h"
#include "lfc_park.h"
#include "lfc_ring.h"
#include "lfc_selector.h"
#include "lfc_waitable.h"

/* ---- the waitable interface (lfc_waitable.h) --------------------------- */

static inline struct ring *
chan_of(const struct lfc__waitable *w)
{
    return (struct ring *)(uintptr_t)w; /* base, then its waitable: first */
}

static int
chan_check(const struct lfc__waitable *w, int dir, const void *buf)
{
    const struct ring *ch = chan_of(w);
    if (dir == LFC_SEND && ch->base.owned)
        return LFC_EINVAL; /* a context's or timer's channel */
    return buf != NULL || ch->elem_size == 0 ? 0 : LFC_EINVAL;
}

static int chan_try_send(struct ring *ch, const void *elem);

static int
chan_w_try_send(struct lfc__waitable *w, const void *elem)
{
    return chan_try_send(chan_of(w), elem);
}

static int
chan_w_try_recv(struct lfc__waitable *w, void *out)
{
    struct recv_op op = {chan_of(w), out, false};
    return recv_try(&op);
}

static bool
chan_ready(struct lfc__waitable *w, int dir, const struct lfc__selector *self)
{
    struct ring *ch = chan_of(w);
    if (dir == LFC_RECV) {
        /* ORDER rlx: a guess; the stamp load decides, as in try_recv. */
        uint64_t head = lfc_load_rlx_u64(&ch->head);
        /* ORDER acq: as in ring_try_recv(). */
        uint64_t s = lfc_load_acq_u64(slot_stamp(ch, head));
        if (pos_diff(s, head + 1) > 0)
            return true; /* a stale head: things moved */
        if (s == head + 1 && !unbuf_try_offer_at(ch, head, false))
            return true; /* a value, or an offer a select may take */
        /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
        uint64_t tail = lfc_load_acq_u64(&ch->tail);
        if ((tail & ch->mark) && (tail & ~ch->mark) == head)
            return true;
        return ch->unbuffered && lfc__unbuf_peer_waiting(&ch->tx_ec, self);
    }
    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    uint64_t tail = lfc_load_acq_u64(&ch->tail);
    if (tail & ch->mark)
        return true;
    if (ch->unbuffered) {
        return lfc__ec_has_plain_waiters(&ch->rx_ec) ||
               lfc__unbuf_peer_waiting(&ch->rx_ec, self);
    }
    /* ORDER acq: as in ring_try_send(). */
    return pos_diff(lfc_load_acq_u64(slot_stamp(ch, tail)), tail) >= 0;
}

/* The event count a dir case waits on. */
static struct lfc_ec *
case_ec(struct ring *ch, int dir)
{
    return dir == LFC_RECV ? &ch->rx_ec : &ch->tx_ec;
}

static void
chan_link(struct lfc__waitable *w, int dir, struct lfc__sel_node *n)
{
    struct ring *ch = chan_of(w);
    n->ec = case_ec(ch, dir);
    /* An unbuffered send case waits for a receiver to arrive, which is
     * not what tx_ec's wake-one signals ("a slot is free"): receivers
     * find it by hand-off instead, and only close notifies it. */
    n->base.passive = dir == LFC_SEND && ch->unbuffered;
    lfc__ec_node_add(n->ec, &n->base);
}

static void
chan_unlink(struct lfc__waitable *w, int dir, struct lfc__sel_node *n)
{
    (void)w;
    (void)dir;
    lfc__ec_node_remove(n->ec, &n->base);
}

static bool
chan_note_cpu(struct lfc__waitable *w, int dir, int cpu)
{
    struct ring *ch = chan_of(w);
    if (dir == LFC_RECV)
        return lfc__spin_note_same_cpu(&ch->rx_spin, &ch->tx_spin, cpu);
    return lfc__spin_note_same_cpu(&ch->tx_spin, &ch->rx_spin, cpu);
}

/* Bounded and unbuffered channels alike: the functions above branch on
 * ch->unbuffered where the two differ. */
static const struct lfc__waitable_ops chan_waitable_ops = {
    .check = chan_check,
    .try_send = chan_w_try_send,
    .try_recv = chan_w_try_recv,
    .ready = chan_ready,
    .link = chan_link,
    .unlink = chan_unlink,
    .note_cpu = chan_note_cpu,
};

/* ---- construction ------------------------------------------------------ */

static uint64_t
next_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* The slot stride of a channel of elem_size bytes (elem_size checked). */
static size_t
slot_stride(size_t elem_size)
{
    return (sizeof(uint64_t) + elem_size + 7) & ~(size_t)7;
}

void
lfc__chan_init_common(lfc_chan *ch, const struct lfc__waitable_ops *wops,
                      const struct lfc__chan_flavor *flavor, size_t cap,
                      size_t elem_size)
{
    memset(ch, 0, sizeof(*ch)); /* before the channel is shared */
    ch->waitable.ops = wops;
    ch->flavor = flavor;
    ch->cap = cap;
    ch->elem_size = elem_size;
    ch->refs = 1; /* the caller's */
}

/* Lay out a ring in memory that has room for sizeof(struct ring) plus
 * max(capacity, 1) slots of slot_stride(elem_size) bytes. */
static void
chan_init(struct ring *ch, size_t capacity, size_t elem_size, uint64_t start_lap)
{
    size_t head_bytes = sizeof(struct ring);
    uint64_t ring_cap = capacity ? capacity : 1;

    memset(ch, 0, head_bytes);
    lfc__chan_init_common(&ch->base, &chan_waitable_ops, NULL, capacity,
                          elem_size);
    ch->slots = (unsigned char *)ch + head_bytes;
    ch->stride = slot_stride(elem_size);
    ch->ring_cap = ring_cap;
    ch->mark = next_pow2(ring_cap + 1);
    ch->one_lap = ch->mark * 2;
    ch->elem_size = elem_size;
    ch->unbuffered = capacity == 0;
    ch->try_offer = ch->mark; /* no offer yet */

    uint64_t start = start_lap * ch->one_lap; /* wraps: fine, see above */
    ch->head = start;
    ch->tail = start;
    for (uint64_t i = 0; i < ring_cap; i++)
        *slot_stamp(ch, start + i) = start + i;
    lfc__spin_init(&ch->tx_spin);
    lfc__spin_init(&ch->rx_spin);
    lfc__ec_init(&ch->rx_ec);
    lfc__ec_init(&ch->tx_ec);
    lfc__ec_init(&ch->ack_ec);
    /* Publication of the new channel to other threads is the caller's
     * (thread creation, or a release store of the pointer). */
}

lfc_chan *
lfc__chan_new_at(size_t capacity, size_t elem_size, uint64_t start_lap)
{
    if (capacity > LFC_CHAN_MAX_CAP || elem_size > SIZE_MAX - 16) {
        errno = EINVAL;
        return NULL;
    }
    size_t stride = slot_stride(elem_size);
    uint64_t ring_cap = capacity ? capacity : 1;
    size_t head_bytes = sizeof(struct ring);
    if (ring_cap > (SIZE_MAX - head_bytes - LFC_CACHELINE) / stride) {
        errno = ENOMEM;
        return NULL;
    }
    size_t total = head_bytes + (size_t)ring_cap * stride;
    total = (total + LFC_CACHELINE - 1) & ~(size_t)(LFC_CACHELINE - 1);

    struct ring *ch = aligned_alloc(LFC_CACHELINE, total);
    if (!ch) {
        errno = ENOMEM;
        return NULL;
    }
    chan_init(ch, capacity, elem_size, start_lap);
    return &ch->base;
}

/* The never-ready channel: static, so that getting it cannot fail. */
static struct {
    struct ring ch;
    uint64_t slot; /* its one slot's stamp (elem_size 0) */
} g_never;
static pthread_once_t g_never_once = PTHREAD_ONCE_INIT;

static void
never_init(void)
{
    chan_init(&g_never.ch, 0, 0, 0);
    g_never.ch.base.owned = true; /* nobody may send to or close it */
}

lfc_chan *
lfc__chan_never(void)
{
    pthread_once(&g_never_once, never_init);
    return &g_never.ch.base;
}

lfc_chan *
lfc_chan_new(size_t capacity, size_t elem_size)
{
    return lfc__chan_new_at(capacity, elem_size, 0);
}

/* ---- lifetime (every flavor) ------------------------------------------ */

void
lfc__chan_retain(lfc_chan *ch)
{
    /* ORDER rlx: taking a reference needs no ordering; the caller already
     * holds one, so the count cannot reach zero meanwhile. */
    lfc_faa_rlx_u32(&ch->refs, 1);
}

void
lfc__chan_release(lfc_chan *ch)
{
    /* ORDER acqrel: rel orders our uses of the channel before the count
     * drops; acq on the last drop orders the free after everyone's. */
    if (lfc_faa_acqrel_u32(&ch->refs, (uint32_t)-1) != 1)
        return;
    if (ch->dtor)
        ch->dtor(ch);
    if (ch->flavor)
        ch->flavor->destroy(ch);
    if (ch != &g_never.ch.base)
        free(ch);
}

void
lfc__chan_make_owned(lfc_chan *ch, lfc__chan_dtor dtor)
{
    ch->owned = true; /* before the channel is shared */
    ch->dtor = dtor;
}

void
lfc__chan_set_dtor(lfc_chan *ch, lfc__chan_dtor dtor)
{
    ch->dtor = dtor; /* before the channel is shared */
}

void **
lfc__chan_owner_data(lfc_chan *ch)
{
    return &ch->owner_data;
}

bool
lfc__chan_recv_only(const lfc_chan *ch)
{
    return ch->owned;
}

uint32_t
lfc__chan_refs(const lfc_chan *ch)
{
    /* ORDER acq: pairs with the acqrel decrement in lfc__chan_release(): a
     * caller that sees only its own references left also sees everything
     * the other holders did with the channel before they let go. */
    return lfc_load_acq_u32(&ch->refs);
}

lfc_chan *
lfc_chan_dup(lfc_chan *ch)
{
    if (!ch)
        return NULL;
    if (ch->owned) {
        /* ORDER rlx: a count, as refs; lfc_chan_free's CAS reads it. */
        lfc_faa_rlx_u32(&ch->user_refs, 1);
    }
    lfc__chan_retain(ch);
    return ch;
}

/* Take back one user reference of an owned channel, if there is one. */
static bool
owned_take_user_ref(lfc_chan *ch)
{
    /* ORDER rlx: a count; the release that follows orders the uses. */
    uint32_t n = lfc_load_rlx_u32(&ch->user_refs);
    while (n != 0) {
        /* ORDER acqrel: more than a count needs (rlx would do); the only
         * 32-bit CAS lfc_atomic.h has, on a path that is never hot. */
        if (lfc_cas_acqrel_u32(&ch->user_refs, &n, n - 1))
            return true;
    }
    return false;
}

void
lfc_chan_free(lfc_chan *ch)
{
    if (!ch)
        return;
    if (ch->owned && !owned_take_user_ref(ch))
        return; /* not the user's to free: its owner frees it */
    lfc__chan_release(ch);
}

/* ---- public API: checks, then the ring inline or the flavor's table ---- */

static inline struct ring *
ring_of(lfc_chan *ch)
{
    return (struct ring *)(void *)ch; /* base is the first member */
}

static inline const struct ring *
ring_of_const(const lfc_chan *ch)
{
    return (const struct ring *)(const void *)ch;
}

static inline bool
bad_args(const lfc_chan *ch, const void *buf)
{
    return !ch || (!buf && ch->elem_size != 0);
}

/* As bad_args, and the channel must be one users may send to. */
static inline bool
bad_send_args(const lfc_chan *ch, const void *buf)
{
    return bad_args(ch, buf) || ch->owned;
}

/* lfc_try_send on a ring, without the checks: the owner's send, and
 * select's. */
static int
chan_try_send(struct ring *ch, const void *elem)
{
    if (ch->unbuffered)
        return lfc__unbuf_try_send(ch, elem);
    struct send_op op = {ch, elem, 0};
    return send_try(&op);
}

static int
owner_try_send(lfc_chan *ch, const void *elem)
{
    if (lfc_unlikely(ch->flavor != NULL))
        return ch->flavor->try_send(ch, elem);
    return chan_try_send(ring_of(ch), elem);
}

int
lfc_try_send(lfc_chan *ch, const void *elem)
{
    if (bad_send_args(ch, elem))
        return LFC_EINVAL;
    return owner_try_send(ch, elem);
}

int
lfc__chan_owner_try_send(lfc_chan *ch, const void *elem)
{
    return owner_try_send(ch, elem);
}

/* lfc_send_until without the checks (every flavor). */
static inline int
chan_send_until(lfc_chan *c, const void *elem, int64_t deadline_ns)
{
    if (lfc_unlikely(c->flavor != NULL))
        return c->flavor->send_until(c, elem, deadline_ns);
    struct ring *ch = ring_of(c);
    if (ch->unbuffered)
        return lfc__unbuf_send(ch, elem, deadline_ns);
    struct send_op op = {ch, elem, 0};
    int r = send_try(&op);
    if (lfc_likely(r != LFC_AGAIN))
        return r;
    return lfc__ec_wait(&ch->tx_ec, &ch->tx_spin, &ch->rx_spin, send_try, &op,
                        deadline_ns);
}

int
lfc_send_until(lfc_chan *c, const void *elem, int64_t deadline_ns)
{
    if (bad_send_args(c, elem))
        return LFC_EINVAL;
    return chan_send_until(c, elem, deadline_ns);
}

int
lfc_send(lfc_chan *ch, const void *elem)
{
    return lfc_send_until(ch, elem, INT64_MAX);
}

/* lfc_try_recv without the checks (every flavor). */
static inline int
chan_try_recv(lfc_chan *c, void *out)
{
    if (lfc_unlikely(c->flavor != NULL))
        return c->flavor->try_recv(c, out);
    struct recv_op op = {ring_of(c), out, false};
    return recv_try(&op);
}

int
lfc_try_recv(lfc_chan *c, void *out)
{
    if (bad_args(c, out))
        return LFC_EINVAL;
    return chan_try_recv(c, out);
}

/* lfc_recv_until without the checks (every flavor). */
static inline int
chan_recv_until(lfc_chan *c, void *out, int64_t deadline_ns)
{
    if (lfc_unlikely(c->flavor != NULL))
        return c->flavor->recv_until(c, out, deadline_ns);
    struct ring *ch = ring_of(c);
    struct recv_op op = {ch, out, true};
    int r = recv_try(&op);
    if (lfc_likely(r != LFC_AGAIN))
        return r;
    if (!ch->unbuffered) {
        return lfc__ec_wait(&ch->rx_ec, &ch->rx_spin, &ch->tx_spin, recv_try,
                            &op, deadline_ns);
    }
    bool counted;
    r = lfc__ec_wait_noting(&ch->rx_ec, &ch->rx_spin, &ch->tx_spin, recv_try,
                            &op, deadline_ns, &counted);
    if (counted)
        lfc__unbuf_recv_left(ch);
    return r;
}

int
lfc_recv_until(lfc_chan *c, void *out, int64_t deadline_ns)
{
    if (bad_args(c, out))
        return LFC_EINVAL;
    return chan_recv_until(c, out, deadline_ns);
}

int
lfc_recv(lfc_chan *ch, void *out)
{
    return lfc_recv_until(ch, out, INT64_MAX);
}

/* ---- public API: batches (chan.h "Batches"; "Batches" above) ----------- */

/*
 * The generic batches: loops of the single operations (checked already),
 * for unbuffered rings (a batch is a sequence of rendezvous), for
 * flavors whose table has no batch slot, and for batches of one on a
 * ring (the single op is the same claim, on its tuned path). Same results as the ring's
 * batches; one wake-up per value.
 */
static int
generic_send_many_until(lfc_chan *c, const void *elems, size_t n,
                        size_t *sent, int64_t deadline_ns)
{
    size_t i = 0;
    int r = LFC_OK;
    for (; i < n; i++) {
        r = chan_send_until(c, elem_at(elems, i, c->elem_size), deadline_ns);
        if (r != LFC_OK)
            break;
    }
    *sent = i;
    return r;
}

static int
generic_try_send_many(lfc_chan *c, const void *elems, size_t n, size_t *sent)
{
    size_t i = 0;
    int r = LFC_OK;
    for (; i < n; i++) {
        r = owner_try_send(c, elem_at(elems, i, c->elem_size));
        if (r != LFC_OK)
            break;
    }
    *sent = i;
    return i > 0 ? LFC_OK : r;
}

static inline void *
out_at(void *base, size_t i, size_t esz)
{
    return esz ? (unsigned char *)base + i * esz : base;
}

/* After the first value, what is ready now, as a ring's recv_many_rest. */
static size_t
generic_recv_rest(lfc_chan *c, void *out, size_t max, size_t i)
{
    while (i < max && chan_try_recv(c, out_at(out, i, c->elem_size)) == LFC_OK)
        i++;
    return i;
}

static int
generic_recv_many_until(lfc_chan *c, void *out, size_t max, size_t *got,
                        int64_t deadline_ns)
{
    int r = chan_recv_until(c, out, deadline_ns);
    *got = r == LFC_OK ? generic_recv_rest(c, out, max, 1) : 0;
    return r;
}

static int
generic_try_recv_many(lfc_chan *c, void *out, size_t max, size_t *got)
{
    int r = chan_try_recv(c, out);
    *got = r == LFC_OK ? generic_recv_rest(c, out, max, 1) : 0;
    return r;
}

/* chan.h's LFC_EINVAL cases of every batch call; clears *count first. */
static inline bool
bad_many_args(const lfc_chan *ch, const void *buf, size_t n, size_t *count)
{
    if (count)
        *count = 0;
    return !ch || !count || (!buf && n != 0 && ch->elem_size != 0);
}

int
lfc_send_many_until(lfc_chan *c, const void *elems, size_t n, size_t *sent,
                    int64_t deadline_ns)
{
    if (bad_many_args(c, elems, n, sent) || c->owned)
        return LFC_EINVAL;
    if (n == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->send_many_until)
            return f->send_many_until(c, elems, n, sent, deadline_ns);
        return generic_send_many_until(c, elems, n, sent, deadline_ns);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || n == 1) /* n == 1: the single op's fast path */
        return generic_send_many_until(c, elems, n, sent, deadline_ns);
    return lfc__ring_send_many_until(ch, elems, n, sent, deadline_ns);
}

int
lfc_send_many(lfc_chan *ch, const void *elems, size_t n, size_t *sent)
{
    return lfc_send_many_until(ch, elems, n, sent, INT64_MAX);
}

int
lfc_try_send_many(lfc_chan *c, const void *elems, size_t n, size_t *sent)
{
    if (bad_many_args(c, elems, n, sent) || c->owned)
        return LFC_EINVAL;
    if (n == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->try_send_many)
            return f->try_send_many(c, elems, n, sent);
        return generic_try_send_many(c, elems, n, sent);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || n == 1)
        return generic_try_send_many(c, elems, n, sent);
    return lfc__ring_try_send_many_all(ch, elems, n, sent);
}

int
lfc_recv_many_until(lfc_chan *c, void *out, size_t max, size_t *got,
                    int64_t deadline_ns)
{
    if (bad_many_args(c, out, max, got))
        return LFC_EINVAL;
    if (max == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->recv_many_until)
            return f->recv_many_until(c, out, max, got, deadline_ns);
        return generic_recv_many_until(c, out, max, got, deadline_ns);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || max == 1)
        return generic_recv_many_until(c, out, max, got, deadline_ns);
    return lfc__ring_recv_many_until(ch, out, max, got, deadline_ns);
}

int
lfc_recv_many(lfc_chan *ch, void *out, size_t max, size_t *got)
{
    return lfc_recv_many_until(ch, out, max, got, INT64_MAX);
}

int
lfc_try_recv_many(lfc_chan *c, void *out, size_t max, size_t *got)
{
    if (bad_many_args(c, out, max, got))
        return LFC_EINVAL;
    if (max == 0)
        return LFC_OK;
    const struct lfc__chan_flavor *f = c->flavor;
    if (lfc_unlikely(f != NULL)) {
        if (f->try_recv_many)
            return f->try_recv_many(c, out, max, got);
        return generic_try_recv_many(c, out, max, got);
    }
    struct ring *ch = ring_of(c);
    if (ch->unbuffered || max == 1)
        return generic_try_recv_many(c, out, max, got);
    return lfc__ring_try_recv_many_all(ch, out, max, got);
}

int
lfc_close(lfc_chan *ch)
{
    if (!ch || ch->owned)
        return LFC_EINVAL;
    return lfc__chan_owner_close(ch);
}

int
lfc__chan_owner_close(lfc_chan *c)
{
    if (c->flavor)
        return c->flavor->close(c);
    struct ring *ch = ring_of(c);
    /* ORDER seqcst: one RMW sets the mark, so a sender's CAS from an
     * unmarked tail fails after it (no value slips in); release for the
     * acq mark loads that return LFC_CLOSED. */
    uint64_t old = lfc_fetch_or_seqcst_u64(&ch->tail, ch->mark);
    if (old & ch->mark)
        return LFC_CLOSED;
    /* ORDER seqcst: the mark before the waiters loads (store→load);
     * pairs with every waiter's announce-then-recheck. */
    lfc_fence_seqcst();
    lfc__ec_broadcast_fenced(&ch->rx_ec, NULL);
    lfc__ec_broadcast_fenced(&ch->tx_ec, NULL);
    lfc__ec_broadcast_fenced(&ch->ack_ec, NULL);
    return LFC_OK;
}

size_t
lfc_chan_len(const lfc_chan *c)
{
    if (!c)
        return 0;
    if (c->flavor)
        return c->flavor->len(c);
    const struct ring *ch = ring_of_const(c);
    if (ch->unbuffered)
        return 0;
    for (;;) {
        /* ORDER rlx: a snapshot; the re-read of tail below checks that
         * head was read while tail held this value. */
        uint64_t tail = lfc_load_rlx_u64(&ch->tail) & ~ch->mark;
        /* ORDER rlx: as above. */
        uint64_t head = lfc_load_rlx_u64(&ch->head);
        /* ORDER rlx: as above. */
        if ((lfc_load_rlx_u64(&ch->tail) & ~ch->mark) != tail)
            continue;
        uint64_t hi = tail & (ch->mark - 1);
        uint64_t lo = head & (ch->mark - 1);
        if (hi > lo)
            return (size_t)(hi - lo);
        if (hi < lo)
            return (size_t)(ch->ring_cap - lo + hi);
        return tail == head ? 0 : c->cap;
    }
}

size_t
lfc_chan_cap(const lfc_chan *ch)
{
    return ch ? ch->cap : 0;
}

size_t
lfc_chan_elem_size(const lfc_chan *ch)
{
    return ch ? ch->elem_size : 0;
}

bool
lfc_chan_closed(const lfc_chan *c)
{
    if (!c)
        return false;
    if (c->flavor)
        return c->flavor->closed(c);
    const struct ring *ch = ring_of_const(c);
    /* ORDER acq: pairs with the seqcst RMW in lfc_close(). */
    return (lfc_load_acq_u64(&ch->tail) & ch->mark) != 0;
}
