/* SPDX-License-Identifier: MIT */
/*
 * Channel lifetimes, the way Go code is written: a request carries its own
 * reply channel, and a detached generator sends, closes and forgets.
 * Each thread that may still be inside a call on a channel holds its own
 * reference (lfc_chan_dup) and drops it with lfc_chan_free when done, so
 * whoever finishes last frees the channel; nobody has to join anybody
 * before freeing. Built and run by the test suite (it exits non-zero if
 * anything is off).
 *
 *   cc examples/reply.c $(pkg-config --cflags --libs lfchan)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <lfchan.h>

struct request {
    int n;
    lfc_chan *reply; /* a reference of the server's own */
};

static void *
serve(void *arg)
{
    lfc_chan *requests = arg; /* the server's reference */
    struct request rq;
    while (lfc_recv(requests, &rq) == LFC_OK) {
        int square = rq.n * rq.n;
        lfc_send(rq.reply, &square); /* unbuffered: returns once taken */
        lfc_chan_free(rq.reply);     /* the requester may be gone already */
    }
    lfc_chan_free(requests);
    return NULL;
}

/* A generator: a detached thread sends 1 .. n, closes, and drops its
 * reference; the caller gets the other one. */
struct gen {
    lfc_chan *out;
    int n;
};

static void *
generate(void *arg)
{
    struct gen *g = arg;
    for (int i = 1; i <= g->n; i++) {
        if (lfc_send(g->out, &i) != LFC_OK)
            break; /* closed by the consumer: stop early */
    }
    lfc_close(g->out); /* LFC_CLOSED if the consumer closed it: fine */
    lfc_chan_free(g->out);
    free(g);
    return NULL;
}

static lfc_chan *
count_to(int n)
{
    lfc_chan *ch = lfc_chan_new(0, sizeof(int));
    struct gen *g = malloc(sizeof(*g));
    pthread_t t;
    if (!ch || !g)
        return NULL;
    g->out = lfc_chan_dup(ch); /* the generator's reference */
    g->n = n;
    if (pthread_create(&t, NULL, generate, g) != 0)
        return NULL;
    pthread_detach(t);
    return ch;
}

int
main(void)
{
    lfc_chan *requests = lfc_chan_new(16, sizeof(struct request));
    pthread_t server;
    if (!requests ||
        pthread_create(&server, NULL, serve, lfc_chan_dup(requests)) != 0)
        return 1;

    long sum = 0;
    for (int i = 1; i <= 1000; i++) {
        lfc_chan *reply = lfc_chan_new(0, sizeof(int));
        struct request rq = {i, lfc_chan_dup(reply)};
        int square = 0;
        if (!reply || lfc_send(requests, &rq) != LFC_OK ||
            lfc_recv(reply, &square) != LFC_OK || square != i * i) {
            fprintf(stderr, "reply: request %d failed\n", i);
            return 1;
        }
        lfc_chan_free(reply); /* at once: the server holds its own */
        sum += square;
    }
    lfc_close(requests);
    lfc_chan_free(requests); /* the server frees its reference on exit */

    lfc_chan *numbers = count_to(100);
    int v, expect = 1;
    while (numbers && lfc_recv(numbers, &v) == LFC_OK) {
        if (v != expect++) {
            fprintf(stderr, "reply: generator out of order\n");
            return 1;
        }
    }
    lfc_chan_free(numbers); /* on LFC_CLOSED: the generator may still be in
                               lfc_close, and holds its own reference */
    pthread_join(server, NULL);
    if (sum != 333833500 || expect != 101) {
        fprintf(stderr, "reply: sum %ld, last %d\n", sum, expect - 1);
        return 1;
    }
    printf("reply: 1000 replies (sum of squares %ld), 100 generated\n", sum);
    return 0;
}
