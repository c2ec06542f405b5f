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
 *
 * Timed receive (recv_timeout): pthread_cond_timedwait on not_empty, whose
 * clock is CLOCK_MONOTONIC (the clock of bench_now_ns and lfc_now_ns).
 *
 * Select, as pthread-based channel libraries do it (one condition variable
 * per waiting select, registered with every channel it waits on; compare
 * Go's sudog lists, with a condvar where Go parks a goroutine):
 *
 *   - A selecting thread owns a waiter {mutex, condvar, fired}. For each
 *     case it keeps a registration record that it links into the case's
 *     channel, on the list of selects waiting to receive (sel_rx) or to
 *     send (sel_tx), under that channel's mu.
 *   - Whatever makes a case ready notifies that list, under the channel's
 *     mu, besides signalling the channel's own condvars as before: a put
 *     notifies sel_rx, a take notifies sel_tx, close notifies both.
 *     Notifying sets fired under the waiter's mutex and signals its
 *     condvar. Every registered select is notified (each rechecks; several
 *     may want the one value, as with a broadcast), and this costs the
 *     plain send and receive one test of an empty list when nobody selects.
 *   - select: (1) try every case, in a fresh random order (a Fisher-Yates
 *     shuffle per call, as Go and lfc_select do: a random starting point
 *     alone would favour the case after a run of empty ones), each under
 *     its own channel's mu, and complete the first ready one. (2) Clear fired, then
 *     register on each channel in turn, rechecking the case under the same
 *     lock; a case found ready there is completed at once (and the
 *     registrations made so far are withdrawn). (3) Wait on the condvar
 *     until fired (or the deadline). (4) Withdraw every registration, each
 *     under its channel's mu, and go back to (1).
 *   - No lost wake-up: the recheck and the registration of a case are one
 *     critical section of its channel, so an event on that channel either
 *     comes before it (the recheck sees it) or after it (the event sees
 *     the registration and sets fired). The select reads fired under the
 *     waiter's mutex before it waits, and a notifier sets it under that
 *     mutex, so the notification is either seen or wakes the wait.
 *   - Lifetime: a registration and its waiter are only touched by a
 *     notifier holding the channel's mu, and are withdrawn under that mu
 *     before select returns: no notifier can see them afterwards.
 *   - Lock order: a channel's mu, then a waiter's mutex; select never holds
 *     two channel locks, nor its own mutex while taking a channel's.
 *   - Buffered channels only (sel_new refuses capacity 0): a rendezvous
 *     with a select on the far side needs Go's direct hand-off, and the
 *     benchmarks select over buffered channels.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <lfchan.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A waiting select's wake-up: one per select handle. */
struct mwaiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool fired; /* under mu: set by notifiers, cleared by the select */
};

/* One case's registration, on its channel's sel_rx or sel_tx list. */
struct mreg {
    struct mreg *next; /* under the channel's mu: select, notifiers read */
    struct mreg *prev; /* under the channel's mu */
    struct mwaiter *w; /* the select's waiter; constant */
};

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
    struct mreg *sel_rx; /* selects waiting for a value (or close) */
    struct mreg *sel_tx; /* selects waiting for room (or close) */
};

/* Condition variables clocked by CLOCK_MONOTONIC, for timed waits. */
static void
cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec
ts_of(int64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Under the channel's mu: wake every select registered on the list. The
 * waiters stay valid while we hold mu (see the file comment), so the
 * signal may follow the waiter's unlock. */
static void
notify(struct mreg *r)
{
    for (; r != NULL; r = r->next) {
        struct mwaiter *w = r->w;

        pthread_mutex_lock(&w->mu);
        w->fired = true;
        pthread_mutex_unlock(&w->mu);
        pthread_cond_signal(&w->cv);
    }
}

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
    cond_init_mono(&m->not_empty);
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

/* Under mu, with count < slots and not closed: put a value and wake whoever
 * it unblocks. Unlocks mu. */
static int
send_locked(struct mchan *m, const void *elem)
{
    bool wake;

    put(m, elem);
    if (m->unbuffered)
        return await_taker(m);
    if (m->sel_rx != NULL)
        notify(m->sel_rx);
    wake = m->rx_waiting > 0;
    pthread_mutex_unlock(&m->mu);
    if (wake)
        pthread_cond_signal(&m->not_empty);
    return LFC_OK;
}

static int
m_send(void *ch, const void *elem)
{
    struct mchan *m = ch;

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
    return send_locked(m, elem);
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
    if (m->sel_tx != NULL)
        notify(m->sel_tx);
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

/* Locks mu, unless the channel is closed: then false, with mu not held. */
static bool
lock_open(struct mchan *m)
{
    pthread_mutex_lock(&m->mu);
    if (m->closed) {
        pthread_mutex_unlock(&m->mu);
        return false;
    }
    return true;
}

static int
m_try_send(void *ch, const void *elem)
{
    struct mchan *m = ch;

    if (!lock_open(m))
        return LFC_CLOSED;
    /* Unbuffered: only when a receiver is already waiting (as lfchan). */
    if (m->count == m->slots || (m->unbuffered && m->rx_waiting == 0)) {
        pthread_mutex_unlock(&m->mu);
        return LFC_AGAIN;
    }
    return send_locked(m, elem);
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

    if (!lock_open(m))
        return LFC_CLOSED;
    m->closed = true;
    notify(m->sel_rx);
    notify(m->sel_tx);
    pthread_cond_broadcast(&m->not_empty);
    pthread_cond_broadcast(&m->not_full);
    pthread_cond_broadcast(&m->taken);
    pthread_mutex_unlock(&m->mu);
    return LFC_OK;
}

/* recv with an absolute CLOCK_MONOTONIC deadline: LFC_OK, LFC_CLOSED or
 * LFC_TIMEDOUT. */
static int
recv_until(struct mchan *m, void *out, int64_t deadline_ns)
{
    struct timespec ts = ts_of(deadline_ns);

    pthread_mutex_lock(&m->mu);
    while (m->count == 0 && !m->closed) {
        int rc;

        m->rx_waiting++;
        rc = pthread_cond_timedwait(&m->not_empty, &m->mu, &ts);
        m->rx_waiting--;
        if (rc == ETIMEDOUT && m->count == 0 && !m->closed) {
            pthread_mutex_unlock(&m->mu);
            return LFC_TIMEDOUT;
        }
    }
    if (m->count == 0) {
        pthread_mutex_unlock(&m->mu);
        return LFC_CLOSED;
    }
    return recv_locked(m, out);
}

static int
m_recv_timeout(void *ch, void *out, int64_t timeout_ns)
{
    return recv_until(ch, out, bench_now_ns() + timeout_ns);
}

/* ---- Select --------------------------------------------------------- */

struct msel {
    int n;
    uint32_t rng; /* xorshift32, for the order */
    struct mwaiter w;
    struct bench_sel *cases; /* n */
    struct mreg *regs;       /* n: case i's registration */
    int *order;              /* n: this round's checking order */
};

static void *
m_sel_new(const struct bench_sel *cases, int n)
{
    struct msel *s;
    int i;

    if (n < 1) {
        errno = EINVAL;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const struct mchan *m = cases[i].ch;

        if (m != NULL && (m->unbuffered || (cases[i].dir != LFC_SEND &&
                                            cases[i].dir != LFC_RECV))) {
            errno = EINVAL;
            return NULL;
        }
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->cases = malloc((size_t)n * sizeof(*s->cases));
    s->regs = calloc((size_t)n, sizeof(*s->regs));
    s->order = malloc((size_t)n * sizeof(*s->order));
    if (s->cases == NULL || s->regs == NULL || s->order == NULL) {
        free(s->order);
        free(s->cases);
        free(s->regs);
        free(s);
        return NULL;
    }
    memcpy(s->cases, cases, (size_t)n * sizeof(*s->cases));
    s->n = n;
    s->rng = (uint32_t)(uintptr_t)s | 1u;
    pthread_mutex_init(&s->w.mu, NULL);
    cond_init_mono(&s->w.cv);
    for (i = 0; i < n; i++)
        s->regs[i].w = &s->w;
    return s;
}

static void
m_sel_free(void *sel)
{
    struct msel *s = sel;

    if (s == NULL)
        return;
    pthread_cond_destroy(&s->w.cv);
    pthread_mutex_destroy(&s->w.mu);
    free(s->order);
    free(s->regs);
    free(s->cases);
    free(s);
}

static void
m_sel_off(void *sel, int i)
{
    struct msel *s = sel;

    s->cases[i].ch = NULL;
}

/* Under c's channel's mu: complete case c if it is ready, and unlock (the
 * status in *status: LFC_OK or LFC_CLOSED); if not, return false with mu
 * still held. */
static bool
try_case_locked(struct mchan *m, const struct bench_sel *c, int *status)
{
    if (c->dir == LFC_RECV) {
        if (m->count > 0) {
            *status = recv_locked(m, c->buf);
            return true;
        }
        if (m->closed) {
            pthread_mutex_unlock(&m->mu);
            *status = LFC_CLOSED;
            return true;
        }
        return false;
    }
    if (m->closed) {
        pthread_mutex_unlock(&m->mu);
        *status = LFC_CLOSED;
        return true;
    }
    if (m->count < m->slots) {
        *status = send_locked(m, c->buf);
        return true;
    }
    return false;
}

static struct mreg **
list_of(struct mchan *m, int dir)
{
    return dir == LFC_RECV ? &m->sel_rx : &m->sel_tx;
}

/* Under mu: link r at the head of the list. */
static void
reg_link(struct mreg **head, struct mreg *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head != NULL)
        (*head)->prev = r;
    *head = r;
}

/* Under mu: unlink r. */
static void
reg_unlink(struct mreg **head, struct mreg *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
}

/* A fresh random checking order. */
static void
shuffle(struct msel *s)
{
    int i;

    for (i = 0; i < s->n; i++)
        s->order[i] = i;
    for (i = s->n; i > 1; i--) {
        uint32_t j;
        int t;

        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 17;
        s->rng ^= s->rng << 5;
        j = (uint32_t)(((uint64_t)s->rng * (uint32_t)i) >> 32);
        t = s->order[i - 1];
        s->order[i - 1] = s->order[j];
        s->order[j] = t;
    }
}

/* Withdraw the registrations of the first k cases in checking order. */
static void
unregister(struct msel *s, int k)
{
    int j;

    for (j = 0; j < k; j++) {
        int i = s->order[j];
        struct mchan *m = s->cases[i].ch;

        if (m == NULL)
            continue;
        pthread_mutex_lock(&m->mu);
        reg_unlink(list_of(m, s->cases[i].dir), &s->regs[i]);
        pthread_mutex_unlock(&m->mu);
    }
}

/*
 * Checks the cases in this round's order, each under its channel's mu, and
 * completes the first ready one: its index (and *status), or -1 if none
 * was ready. With reg, also registers each case in the same critical
 * section as its check; a case found ready then withdraws the
 * registrations made before it.
 */
static inline int
check_cases(struct msel *s, bool reg, int *status)
{
    int j;

    for (j = 0; j < s->n; j++) {
        int i = s->order[j];
        struct mchan *m = s->cases[i].ch;

        if (m == NULL)
            continue;
        pthread_mutex_lock(&m->mu);
        if (try_case_locked(m, &s->cases[i], status)) {
            if (reg)
                unregister(s, j);
            return i;
        }
        if (reg)
            reg_link(list_of(m, s->cases[i].dir), &s->regs[i]);
        pthread_mutex_unlock(&m->mu);
    }
    return -1;
}

static int
m_select(void *sel, int64_t deadline_ns, int *status)
{
    struct msel *s = sel;
    struct timespec ts = ts_of(deadline_ns);
    int n = s->n;
    int live = 0;
    int j;

    for (j = 0; j < n; j++)
        live += s->cases[j].ch != NULL;
    if (live == 0 && deadline_ns == LFC_FOREVER)
        return LFC_EINVAL; /* would wait forever, as lfc_select says */
    for (;;) {
        bool fired;
        int i;

        shuffle(s);
        /* (1) Anything ready? */
        i = check_cases(s, false, status);
        if (i >= 0)
            return i;
        if (deadline_ns != LFC_FOREVER && bench_now_ns() >= deadline_ns)
            return LFC_TIMEDOUT;
        /* (2) Register everywhere, rechecking each case as we go. No
         * registration is linked now, so no notifier writes fired: it may
         * be cleared without the waiter's mutex (the last notifier's write
         * is ordered before us by the channel mutex of our withdrawal). */
        s->w.fired = false;
        i = check_cases(s, true, status);
        if (i >= 0)
            return i;
        /* (3) Wait for a notification. */
        pthread_mutex_lock(&s->w.mu);
        while (!s->w.fired) {
            if (deadline_ns == LFC_FOREVER)
                pthread_cond_wait(&s->w.cv, &s->w.mu);
            else if (pthread_cond_timedwait(&s->w.cv, &s->w.mu, &ts) ==
                     ETIMEDOUT)
                break;
        }
        fired = s->w.fired;
        pthread_mutex_unlock(&s->w.mu);
        /* (4) Withdraw, then recheck from the top. */
        unregister(s, n);
        if (!fired)
            return LFC_TIMEDOUT;
    }
}

static size_t
m_real_cap(size_t cap)
{
    return cap;
}

const struct bench_ops bench_ops_mutex = {
    .name = "mutex",
    .about = "ring + one pthread mutex + condition variables (not-empty, "
             "not-full; unbuffered: a rendezvous with a `taken` condvar); "
             "select: a per-select condvar registered on every channel; "
             "timeouts: pthread_cond_timedwait",
    .flags = 0,
    .make = m_make,
    .send = m_send,
    .recv = m_recv,
    .try_send = m_try_send,
    .try_recv = m_try_recv,
    .close = m_close,
    .destroy = m_destroy,
    .real_cap = m_real_cap,
    .sel_new = m_sel_new,
    .select = m_select,
    .sel_off = m_sel_off,
    .sel_free = m_sel_free,
    .recv_timeout = m_recv_timeout,
    .pat = &bench_pat_mutex, /* mutex_patterns.c */
};
