/* SPDX-License-Identifier: MIT */
/*
 * Reference point: Concurrency Kit's ck_ring in its MPMC form, with a
 * spin-then-yield wait (BENCH_SPIN_POLLS pause polls, then sched_yield per
 * poll) wherever a channel would block.
 *
 * 8-byte messages use the pointer ring (ck_ring_enqueue_mpmc /
 * ck_ring_dequeue_mpmc, the value carried in the pointer); 64-byte
 * messages use the typed ring CK_RING_PROTOTYPE generates, which copies
 * the value into the slot the same way. Other sizes are refused.
 *
 * Capacity: a ck_ring has a power-of-two number of slots and holds one
 * less than that, so a requested capacity c gets max(2, next power of two
 * >= c) slots: capacity 1 -> 1 value, 64 -> 63, 1024 -> 1023 (real_cap).
 * There is no rendezvous, so unbuffered rows are skipped.
 *
 * Close is a flag, not part of the ring: a receiver that finds the ring
 * empty and the flag set checks the ring once more, then returns
 * LFC_CLOSED. That is exact only when every sender has returned before
 * close (a send racing close could land after a receiver left), which is
 * how every workload here closes; enforcing it for racing senders would
 * need an in-flight count on every send and misrepresent ck_ring's cost.
 */
#include "bench.h"

#include <ck_ring.h>
#include <lfchan.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ck_msg64 {
    uint64_t w[8];
};

CK_RING_PROTOTYPE(msg64, ck_msg64)

struct ckchan {
    ck_ring_t ring; /* CK pads its producer and consumer counters */
    _Alignas(64) int closed; /* written once by close */
    size_t esz;
    void *buf; /* ck_ring_buffer_t[] or struct ck_msg64[] */
};

static size_t
ring_slots(size_t cap)
{
    size_t n = 2;

    while (n < cap)
        n <<= 1;
    return n;
}

static size_t
k_real_cap(size_t cap)
{
    return ring_slots(cap) - 1;
}

static void *
k_make(size_t cap, size_t esz)
{
    struct ckchan *k;
    size_t n = ring_slots(cap);
    size_t ssz;

    if (cap == 0 || cap > (1u << 30) || (esz > 8 && esz != 64)) {
        errno = EINVAL;
        return NULL;
    }
    ssz = esz == 64 ? sizeof(struct ck_msg64) : sizeof(ck_ring_buffer_t);
    if (posix_memalign((void **)&k, 64, sizeof(*k)) != 0)
        return NULL;
    memset(k, 0, sizeof(*k));
    if (posix_memalign(&k->buf, 64, n * ssz) != 0) {
        free(k);
        return NULL;
    }
    memset(k->buf, 0, n * ssz);
    k->esz = esz;
    ck_ring_init(&k->ring, (unsigned int)n);
    return k;
}

static void
k_destroy(void *ch)
{
    struct ckchan *k = ch;

    if (k == NULL)
        return;
    free(k->buf);
    free(k);
}

static bool
k_enqueue(struct ckchan *k, const void *elem)
{
    if (k->esz == 64)
        return ck_ring_enqueue_mpmc_msg64(&k->ring, k->buf,
                                          (struct ck_msg64 *)elem);
    else {
        void *v = NULL;

        memcpy(&v, elem, k->esz);
        return ck_ring_enqueue_mpmc(&k->ring, k->buf, v);
    }
}

static bool
k_dequeue(struct ckchan *k, void *out)
{
    if (k->esz == 64)
        return ck_ring_dequeue_mpmc_msg64(&k->ring, k->buf, out);
    else {
        void *v;

        if (!ck_ring_dequeue_mpmc(&k->ring, k->buf, &v))
            return false;
        memcpy(out, &v, k->esz);
        return true;
    }
}

static bool
k_is_closed(struct ckchan *k)
{
    return __atomic_load_n(&k->closed, __ATOMIC_ACQUIRE) != 0;
}

static int
k_try_send(void *ch, const void *elem)
{
    struct ckchan *k = ch;

    if (k_is_closed(k))
        return LFC_CLOSED;
    return k_enqueue(k, elem) ? LFC_OK : LFC_AGAIN;
}

static int
k_try_recv(void *ch, void *out)
{
    struct ckchan *k = ch;

    if (k_dequeue(k, out))
        return LFC_OK;
    if (!k_is_closed(k))
        return LFC_AGAIN;
    /* Closed: whatever was sent before close is visible now. */
    return k_dequeue(k, out) ? LFC_OK : LFC_CLOSED;
}

static int
k_send(void *ch, const void *elem)
{
    unsigned spins = 0;
    int rc;

    while ((rc = k_try_send(ch, elem)) == LFC_AGAIN)
        bench_backoff(&spins);
    return rc;
}

static int
k_recv(void *ch, void *out)
{
    unsigned spins = 0;
    int rc;

    while ((rc = k_try_recv(ch, out)) == LFC_AGAIN)
        bench_backoff(&spins);
    return rc;
}

static int
k_close(void *ch)
{
    struct ckchan *k = ch;

    return __atomic_exchange_n(&k->closed, 1, __ATOMIC_ACQ_REL) ? LFC_CLOSED
                                                                 : LFC_OK;
}

const struct bench_ops bench_ops_ckring = {
    .name = "ck_ring",
    .about = "Concurrency Kit ck_ring MPMC, spin-then-yield waits; "
             "power-of-two slots (capacity 2^k - 1); no rendezvous; "
             "close is a flag (close after senders)",
    .flags = BENCH_NO_UNBUFFERED,
    .make = k_make,
    .send = k_send,
    .recv = k_recv,
    .try_send = k_try_send,
    .try_recv = k_try_recv,
    .close = k_close,
    .destroy = k_destroy,
    .real_cap = k_real_cap,
};
