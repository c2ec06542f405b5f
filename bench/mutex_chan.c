/* SPDX-License-Identifier: MIT */
/*
 * The baseline: a channel as a careful C programmer writes it today.
 *
 * A bounded ring under one pthread mutex, with condition variables
 * not_empty (receivers wait) and not_full (senders wait) and a closed flag.
 * Each side counts its waiters under the mutex, and a send or receive
 * signals the other side's condition variable only when someone waits on
 * it, once (pthread_cond_signal: one waiter suffices for one value or one
 * slot), after unlocking so the woken thread does not block on the mutex
 * still held. close broadcasts every condition variable.
 *
 * Unbuffered channels (capacity 0) are a proper rendezvous, not a
 * capacity-1 ring: the value goes into a one-value slot, and the sender
 * then waits on a third condition variable, `taken`, until a receiver has
 * taken it. Handoff counters tell each sender when that happened: the
 * sender's ticket is the value of `puts` after its put, and its value has
 * been taken once `gets` reaches the ticket. Only one value occupies the
 * slot at a time, and a sender blocks on `taken` in the same critical
 * section as its put, so when a receiver takes ticket t exactly one thread
 * blocked on `taken` still waits (t's sender): signal, not broadcast,
 * suffices. If the channel is closed before its value is taken, the sender
 * takes it back and fails with LFC_CLOSED, having enqueued nothing
 * (lfchan's contract).
 *
 * Invariants (under mu): count <= slots; closed never goes back to false;
 * unbuffered: gets <= puts <= gets + 1, and count == puts - gets.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <lfchan.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mchan {
    pthread_mutex_t mu;
    pthread_cond_t not_empty; /* receivers wait here for a value */
    pthread_cond_t not_full;  /* senders wait here for room */
    pthread_cond_t taken;     /* unbuffered: senders wait for the taker */
    size_t slots;             /* ring size: cap, or 1 when unbuffered */
    size_t esz;
    size_t head;              /* next slot to receive from */
    size_t count;             /* values in the ring */
    unsigned rx_waiting;      /* receivers blocked on not_empty */
    unsigned tx_waiting;      /* senders blocked on not_full */
    uint64_t puts;            /* unbuffered: values put in the slot */
    uint64_t gets;            /* unbuffered: values taken from it */
    bool unbuffered;
    bool closed;
    unsigned char *buf;
};

static void *
m_make(size_t cap, size_t esz)
{
    struct mchan *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->unbuffered = cap == 0;
    m->slots = cap == 0 ? 1 : cap;
    m->esz = esz;
    m->buf = malloc(m->slots * (esz ? esz : 1));
    if (m->buf == NULL) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->not_empty, NULL);
    pthread_cond_init(&m->not_full, NULL);
    pthread_cond_init(&m->taken, NULL);
    return m;
}

static void
m_destroy(void *ch)
{
    struct mchan *m = ch;

    if (m == NULL)
        return;
    pthread_cond_destroy(&m->taken);
    pthread_cond_destroy(&m->not_full);
    pthread_cond_destroy(&m->not_empty);
    pthread_mutex_destroy(&m->mu);
    free(m->buf);
    free(m);
}

/* Under mu, with count < slots: append one value. */
static void
put(struct mchan *m, const void *elem)
{
    size_t i = m->head + m->count;

    if (i >= m->slots)
        i -= m->slots;
    memcpy(m->buf + i * m->esz, elem, m->esz);
    m->count++;
}

/* Under mu, with count > 0: remove the oldest value. */
static void
take(struct mchan *m, void *out)
{
    memcpy(out, m->buf + m->head * m->esz, m->esz);
    if (++m->head == m->slots)
        m->head = 0;
    m->count--;
}

/* Under mu, after put() on an unbuffered channel: wait until a receiver
 * has taken the value (LFC_OK) or the channel closed first (LFC_CLOSED,
 * value taken back). Unlocks mu. */
static int
await_taker(struct mchan *m)
{
    uint64_t ticket = ++m->puts;
    bool wake_rx = m->rx_waiting > 0;

    if (wake_rx)
        pthread_cond_signal(&m->not_empty);
    while (m->gets < ticket && !m->closed)
        pthread_cond_wait(&m->taken, &m->mu);
    if (m->gets < ticket) {
        /* Closed first: ours is the value in the slot; withdraw it. */
        m->count = 0;
        m->puts--;
        pthread_mutex_unlock(&m->mu);
        return LFC_CLOSED;
    }
    pthread_mutex_unlock(&m->mu);
    return LFC_OK;
}

static int
m_send(void *ch, const void *elem)
{
    struct mchan *m = ch;
    bool wake;

    pthread_mutex_lock(&m->mu);
    while (m->count == m->slots && !m->closed) {
        m->tx_waiting++;
        pthread_cond_wait(&m->not_full, &m->mu);
        m->tx_waiting--;
    }
    if (m->closed) {
        pthread_mutex_unlock(&m->mu);
        return LFC_CLOSED;
    }
    put(m, elem);
    if (m->unbuffered)
        return await_taker(m);
    wake = m->rx_waiting > 0;
    pthread_mutex_unlock(&m->mu);
    if (wake)
        pthread_cond_signal(&m->not_empty);
    return LFC_OK;
}

/* Under mu, with count > 0: take a value and wake whoever it unblocks.
 * Unlocks mu. */
static int
recv_locked(struct mchan *m, void *out)
{
    bool wake;

    take(m, out);
    if (m->unbuffered) {
        m->gets++;
        pthread_cond_signal(&m->taken);
    }
    wake = m->tx_waiting > 0;
    pthread_mutex_unlock(&m->mu);
    if (wake)
        pthread_cond_signal(&m->not_full);
    return LFC_OK;
}

static int
m_recv(void *ch, void *out)
{
    struct mchan *m = ch;

    pthread_mutex_lock(&m->mu);
    while (m->count == 0 && !m->closed) {
        m->rx_waiting++;
        pthread_cond_wait(&m->not_empty, &m->mu);
        m->rx_waiting--;
    }
    if (m->count == 0) {
        pthread_mutex_unlock(&m->mu);
        return LFC_CLOSED;
    }
    return recv_locked(m, out);
}

static int
m_try_send(void *ch, const void *elem)
{
    struct mchan *m = ch;
    bool wake;

    pthread_mutex_lock(&m->mu);
    if (m->closed) {
        pthread_mutex_unlock(&m->mu);
        return LFC_CLOSED;
    }
    /* Unbuffered: only when a receiver is already waiting (as lfchan). */
    if (m->count == m->slots || (m->unbuffered && m->rx_waiting == 0)) {
        pthread_mutex_unlock(&m->mu);
        return LFC_AGAIN;
    }
    put(m, elem);
    if (m->unbuffered)
        return await_taker(m);
    wake = m->rx_waiting > 0;
    pthread_mutex_unlock(&m->mu);
    if (wake)
        pthread_cond_signal(&m->not_empty);
    return LFC_OK;
}

static int
m_try_recv(void *ch, void *out)
{
    struct mchan *m = ch;

    pthread_mutex_lock(&m->mu);
    if (m->count == 0) {
        int rc = m->closed ? LFC_CLOSED : LFC_AGAIN;

        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    return recv_locked(m, out);
}

static int
m_close(void *ch)
{
    struct mchan *m = ch;

    pthread_mutex_lock(&m->mu);
    if (m->closed) {
        pthread_mutex_unlock(&m->mu);
        return LFC_CLOSED;
    }
    m->closed = true;
    pthread_cond_broadcast(&m->not_empty);
    pthread_cond_broadcast(&m->not_full);
    pthread_cond_broadcast(&m->taken);
    pthread_mutex_unlock(&m->mu);
    return LFC_OK;
}

static size_t
m_real_cap(size_t cap)
{
    return cap;
}

const struct bench_ops bench_ops_mutex = {
    .name = "mutex",
    .about = "ring + one pthread mutex + condition variables (not-empty, "
             "not-full; unbuffered: a rendezvous with a `taken` condvar)",
    .flags = 0,
    .make = m_make,
    .send = m_send,
    .recv = m_recv,
    .try_send = m_try_send,
    .try_recv = m_try_recv,
    .close = m_close,
    .destroy = m_destroy,
    .real_cap = m_real_cap,
};
