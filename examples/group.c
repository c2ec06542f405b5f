/* SPDX-License-Identifier: MIT */
/*
 * An error group, as Go's errgroup: "fetch" a list of items on at most
 * LIMIT threads at once and wait for all of them. When one fetch fails,
 * the group's context is cancelled: the fetches in flight give up early,
 * no new ones are started, and lfc_group_wait returns the first error.
 * Built and run by the test suite (it exits non-zero if anything is off).
 *
 *   cc examples/group.c $(pkg-config --cflags --libs lfchan)
 */
#include <stdio.h>

#include <lfchan.h>

enum { ITEMS = 20, LIMIT = 4, E_NOT_FOUND = 404 };

struct item {
    int id;
    int bad;         /* this one fails */
    int64_t net_ns;  /* how long a good fetch takes */
    int result;      /* written by its task, read after lfc_group_wait */
};

/* A fetch: a bad item fails at once; a good one takes net_ns of
 * "network", unless the group is cancelled first. */
static int
fetch(lfc_ctx *ctx, void *arg)
{
    struct item *it = arg;
    if (it->bad)
        return E_NOT_FOUND; /* the first error cancels the others */
    int64_t deadline = lfc_now_ns() + it->net_ns;
    if (lfc_recv_until(lfc_ctx_done(ctx), NULL, deadline) == LFC_CLOSED)
        return lfc_ctx_err(ctx); /* cancelled: stop early */
    it->result = it->id * it->id;
    return 0;
}

/* Fetches every item; returns the group's result and counts the items
 * fetched. */
static int
fetch_all(struct item *items, int *fetched)
{
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    lfc_group_set_limit(g, LIMIT); /* lfc_group_go waits for a free slot */
    for (int i = 0; i < ITEMS; i++) {
        if (lfc_ctx_err(lfc_group_ctx(g)) != LFC_OK)
            break; /* something failed: start nothing more */
        lfc_group_go(g, fetch, &items[i]);
    }
    int err = lfc_group_wait(g); /* joins every task */
    lfc_group_free(g);

    *fetched = 0;
    for (int i = 0; i < ITEMS; i++)
        *fetched += items[i].result != 0;
    return err;
}

int
main(void)
{
    struct item items[ITEMS];

    /* All good: every item is fetched. */
    for (int i = 0; i < ITEMS; i++)
        items[i] = (struct item){.id = i + 1, .net_ns = 10000000}; /* 10 ms */
    int fetched;
    int err = fetch_all(items, &fetched);
    long sum = 0;
    for (int i = 0; i < ITEMS; i++)
        sum += items[i].result;
    printf("all good: err %d, %d fetched, sum %ld\n", err, fetched, sum);
    if (err != 0 || fetched != ITEMS || sum != 2870) /* 1^2 + ... + 20^2 */
        return 1;

    /* Item 3 fails: its error comes back and the rest is cut short. The
     * network is slow now (5 s a fetch), so that what ends the good
     * fetches is the cancellation, however late the failing one runs on a
     * loaded machine: with 10 ms fetches, a failure delayed by some 50 ms
     * would let all the others finish first. */
    for (int i = 0; i < ITEMS; i++)
        items[i] = (struct item){.id = i + 1, .bad = i == 2,
                                 .net_ns = 5000000000};
    err = fetch_all(items, &fetched);
    printf("one bad:  err %d, %d fetched\n", err, fetched);
    if (err != E_NOT_FOUND || fetched >= ITEMS - 1)
        return 1;
    return 0;
}
