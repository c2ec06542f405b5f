/* SPDX-License-Identifier: MIT */
/*
 * Select, timers and contexts together: workers take jobs from one
 * channel and report on another until their context is cancelled; the
 * main thread multiplexes results, a heartbeat ticker and a timeout.
 * Built and run by the test suite (it exits non-zero if anything is off).
 *
 *   cc examples/select_ctx.c $(pkg-config --cflags --libs lfchan)
 */
#include <pthread.h>
#include <stdio.h>

#include <lfchan.h>

enum { WORKERS = 4, JOBS = 1000 };

struct worker {
    lfc_chan *jobs, *results;
    lfc_ctx *ctx;
};

static void *
work(void *arg)
{
    struct worker *w = arg;
    int job;
    /* Receive a job, or stop when cancelled (LFC_CANCELED) or when the
     * job channel is closed and drained (LFC_CLOSED). */
    while (lfc_recv_ctx(w->jobs, &job, w->ctx) == LFC_OK) {
        int result = job * 2;
        if (lfc_send_ctx(w->results, &result, w->ctx) != LFC_OK)
            break;
    }
    return NULL;
}

int
main(void)
{
    lfc_chan *jobs = lfc_chan_new(64, sizeof(int));
    lfc_chan *results = lfc_chan_new(0, sizeof(int)); /* unbuffered */
    lfc_ctx *ctx = lfc_ctx_with_timeout(lfc_ctx_background(), 30000000000);
    lfc_timer *beat = lfc_tick(100000000); /* 100 ms heartbeat */
    struct worker w = {jobs, results, ctx};
    pthread_t t[WORKERS];

    for (int i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, work, &w);

    int next = 0, got = 0, beats = 0;
    long sum = 0;
    int result;
    int64_t tick;
    while (got < JOBS) {
        /* Feed jobs while there are any (a NULL channel switches the case
         * off), collect results, note heartbeats, give up on a deadline. */
        lfc_case cases[] = {
            {.ch = next < JOBS ? jobs : NULL, .dir = LFC_SEND, .buf = &next},
            {.ch = results, .dir = LFC_RECV, .buf = &result},
            {.ch = lfc_timer_chan(beat), .dir = LFC_RECV, .buf = &tick},
            {.ch = lfc_ctx_done(ctx), .dir = LFC_RECV},
        };
        int i = lfc_select(cases, 4);
        if (i == 0) {
            next++;
        } else if (i == 1) {
            got++;
            sum += result;
        } else if (i == 2) {
            beats++;
        } else {
            fprintf(stderr, "gave up: %s\n", lfc_strerror(lfc_ctx_err(ctx)));
            return 1;
        }
    }

    lfc_ctx_cancel(ctx); /* stops the workers */
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    lfc_timer_free(beat);
    lfc_ctx_free(ctx);
    lfc_chan_free(results);
    lfc_chan_free(jobs);

    long want = (long)JOBS * (JOBS - 1); /* sum of 2 * (0 .. JOBS-1) */
    printf("%d results, sum %ld (want %ld), %d heartbeats\n", got, sum, want,
           beats);
    return sum == want ? 0 : 1;
}
