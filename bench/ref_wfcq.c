/* SPDX-License-Identifier: MIT */
/*
 * Reference point: liburcu's wait-free concurrent queue (wfcqueue), with
 * a spin-then-yield wait for an empty queue.
 *
 * The queue is unbounded and intrusive: every send mallocs a node holding
 * the value and every receive frees one, as a user of an unbounded queue
 * would. Enqueue is wait-free (an exchange on the tail); dequeue takes the
 * queue's internal mutex (cds_wfcq_dequeue_blocking, the documented form
 * for several dequeuers) and may briefly wait for an enqueuer that has
 * swapped the tail but not yet linked its node.
 *
 * Being unbounded, it cannot honour a capacity: the matrix runs it only in
 * the cap:1024 rows (a producer may run ahead without limit there) and in
 * ping-pong (one message in flight). No rendezvous. Close is a flag, exact
 * when every sender has returned before close (see ref_ckring.c).
 */
#define _LGPL_SOURCE
#include "bench.h"

#include <lfchan.h>
#include <urcu/wfcqueue.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct wnode {
    struct cds_wfcq_node node;
    unsigned char val[];
};

struct wchan {
    struct cds_wfcq_head head; /* dequeuers; holds the dequeue mutex */
    _Alignas(64) struct cds_wfcq_tail tail; /* enqueuers */
    _Alignas(64) int closed; /* written once by close */
    size_t esz;
};

static void *
w_make(size_t cap, size_t esz)
{
    struct wchan *w;

    (void)cap;
    if (posix_memalign((void **)&w, 64, sizeof(*w)) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    memset(w, 0, sizeof(*w));
    cds_wfcq_init(&w->head, &w->tail);
    w->esz = esz;
    return w;
}

static void
w_destroy(void *ch)
{
    struct wchan *w = ch;
    struct cds_wfcq_node *n;

    if (w == NULL)
        return;
    while ((n = cds_wfcq_dequeue_blocking(&w->head, &w->tail)) != NULL)
        free(caa_container_of(n, struct wnode, node));
    cds_wfcq_destroy(&w->head, &w->tail);
    free(w);
}

static bool
w_is_closed(struct wchan *w)
{
    return __atomic_load_n(&w->closed, __ATOMIC_ACQUIRE) != 0;
}

static int
w_send(void *ch, const void *elem)
{
    struct wchan *w = ch;
    struct wnode *n;

    if (w_is_closed(w))
        return LFC_CLOSED;
    n = malloc(sizeof(*n) + w->esz);
    if (n == NULL)
        return LFC_ENOMEM;
    cds_wfcq_node_init(&n->node);
    memcpy(n->val, elem, w->esz);
    cds_wfcq_enqueue(&w->head, &w->tail, &n->node);
    return LFC_OK;
}

static bool
w_dequeue(struct wchan *w, void *out)
{
    struct cds_wfcq_node *cn;
    struct wnode *n;

    /* Cheap emptiness check first, as urcu recommends for polling. */
    if (cds_wfcq_empty(&w->head, &w->tail))
        return false;
    cn = cds_wfcq_dequeue_blocking(&w->head, &w->tail);
    if (cn == NULL)
        return false;
    n = caa_container_of(cn, struct wnode, node);
    memcpy(out, n->val, w->esz);
    free(n);
    return true;
}

static int
w_try_recv(void *ch, void *out)
{
    struct wchan *w = ch;

    if (w_dequeue(w, out))
        return LFC_OK;
    if (!w_is_closed(w))
        return LFC_AGAIN;
    return w_dequeue(w, out) ? LFC_OK : LFC_CLOSED;
}

static int
w_recv(void *ch, void *out)
{
    unsigned spins = 0;
    int rc;

    while ((rc = w_try_recv(ch, out)) == LFC_AGAIN)
        bench_backoff(&spins);
    return rc;
}

static int
w_close(void *ch)
{
    struct wchan *w = ch;

    return __atomic_exchange_n(&w->closed, 1, __ATOMIC_ACQ_REL) ? LFC_CLOSED
                                                                 : LFC_OK;
}

static size_t
w_real_cap(size_t cap)
{
    (void)cap;
    return SIZE_MAX;
}

const struct bench_ops bench_ops_wfcq = {
    .name = "wfcq",
    .about = "liburcu wfcqueue, unbounded (malloc per message), "
             "spin-then-yield waits; cap:1024 rows and ping-pong only; "
             "close is a flag (close after senders)",
    .flags = BENCH_NO_UNBUFFERED | BENCH_UNBOUNDED,
    .make = w_make,
    .send = w_send,
    .try_send = w_send, /* never full */
    .recv = w_recv,
    .try_recv = w_try_recv,
    .close = w_close,
    .destroy = w_destroy,
    .real_cap = w_real_cap,
};
