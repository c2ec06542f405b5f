/* SPDX-License-Identifier: MIT */
/*
 * A worker pool: count the primes below LIMIT in CHUNKS pieces on 4
 * workers, through a queue of 8 tasks (the submit loop blocks while it is
 * full), wait for all of them, and check the total against a count made on
 * one thread. Built and run by the test suite (it exits non-zero if
 * anything is off).
 *
 *   cc examples/pool.c $(pkg-config --cflags --libs lfchan)
 */
#include <stdbool.h>
#include <stdio.h>

#include <lfchan.h>

enum { LIMIT = 200000, CHUNKS = 50, STEP = LIMIT / CHUNKS };

struct chunk {
    int from; /* the numbers [from, to) */
    int to;
    int primes; /* written by the task, read after lfc_pool_wait */
};

static bool
is_prime(int n)
{
    if (n < 2)
        return false;
    for (int d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

static void
count_primes(void *arg)
{
    struct chunk *c = arg;
    for (int n = c->from; n < c->to; n++)
        c->primes += is_prime(n);
}

int
main(void)
{
    static struct chunk chunks[CHUNKS];
    lfc_pool *pool = lfc_pool_new(4, 8); /* 4 workers, 8 queued tasks */
    if (!pool)
        return 1;

    for (int i = 0; i < CHUNKS; i++) {
        chunks[i] = (struct chunk){.from = i * STEP, .to = (i + 1) * STEP};
        if (lfc_pool_submit(pool, count_primes, &chunks[i]) != LFC_OK)
            return 1;
    }
    lfc_pool_wait(pool); /* every task above has finished */

    struct lfc_pool_stats st;
    lfc_pool_stats(pool, &st);
    lfc_pool_free(pool); /* nothing queued any more: just joins */

    int total = 0;
    for (int i = 0; i < CHUNKS; i++)
        total += chunks[i].primes;
    struct chunk all = {.from = 0, .to = LIMIT};
    count_primes(&all);
    printf("%d primes below %d (want %d); %llu tasks submitted, %llu done\n",
           total, LIMIT, all.primes, (unsigned long long)st.submitted,
           (unsigned long long)st.completed);
    return total == all.primes && st.completed == CHUNKS ? 0 : 1;
}
