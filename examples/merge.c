/* SPDX-License-Identifier: MIT */
/*
 * Fan-out and fan-in: a fan-out deals jobs round-robin to three workers,
 * each with a channel of its own, and a merger collects their results on
 * one channel, which it closes once every worker has closed its own.
 * Built and run by the test suite (it exits non-zero if anything is off).
 *
 *   cc examples/merge.c $(pkg-config --cflags --libs lfchan)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <lfchan.h>

enum { WORKERS = 3, JOBS = 1000 };

struct worker {
    lfc_chan *jobs;    /* its own jobs, from the fan-out */
    lfc_chan *results; /* its results, to the merger */
};

static void *
work(void *arg)
{
    struct worker *w = arg;
    int job;
    while (lfc_recv(w->jobs, &job) == LFC_OK) { /* LFC_CLOSED: no more */
        int result = job * 2;
        lfc_send(w->results, &result);
    }
    lfc_close(w->results); /* this worker is done */
    return NULL;
}

static void *
feed(void *jobs)
{
    for (int job = 1; job <= JOBS; job++)
        lfc_send(jobs, &job);
    lfc_close(jobs); /* the fan-out then closes the workers' channels */
    return NULL;
}

int
main(void)
{
    lfc_chan *jobs = lfc_chan_new(64, sizeof(int));
    lfc_chan *results = lfc_chan_new(64, sizeof(int));
    lfc_chan *to_worker[WORKERS];
    lfc_chan *from_worker[WORKERS];
    struct worker w[WORKERS];
    pthread_t t[WORKERS];
    pthread_t feeder;

    for (int i = 0; i < WORKERS; i++) {
        to_worker[i] = lfc_chan_new(8, sizeof(int));
        from_worker[i] = lfc_chan_new(8, sizeof(int));
        w[i] = (struct worker){to_worker[i], from_worker[i]};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    /* Each job to one worker; a busy worker's full channel is skipped. */
    lfc_fanout *deal =
        lfc_fanout_new(jobs, to_worker, WORKERS, LFC_FANOUT_ROUND_ROBIN);
    /* Every worker's results to one channel, in order per worker. */
    lfc_merger *collect = lfc_merge_new(from_worker, WORKERS, results);
    if (!deal || !collect)
        return 1;
    pthread_create(&feeder, NULL, feed, jobs);

    int result;
    int got = 0;
    long sum = 0;
    while (lfc_recv(results, &result) == LFC_OK) { /* until all are done */
        got++;
        sum += result;
    }

    /* Both return how many values they had to drop: 0 unless someone
     * closed their output channels early. */
    uint64_t dropped = lfc_fanout_free(deal) + lfc_merge_free(collect);
    pthread_join(feeder, NULL);
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        lfc_chan_free(to_worker[i]);
        lfc_chan_free(from_worker[i]);
    }
    lfc_chan_free(results);
    lfc_chan_free(jobs);

    long want = (long)JOBS * (JOBS + 1); /* sum of 2 * (1 .. JOBS) */
    printf("%d results, sum %ld (want %ld), %llu dropped\n", got, sum, want,
           (unsigned long long)dropped);
    return got == JOBS && sum == want && dropped == 0 ? 0 : 1;
}
