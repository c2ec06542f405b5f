/* SPDX-License-Identifier: MIT */
/*
 * lfc_soak: a long randomized run of every lfchan primitive, checking every
 * message it moves (issue 11, "Proof of correctness": the soak).
 *
 *   lfc_soak [--seconds S] [--seed N] [--report S] [--stall S] [--scaled]
 *            [--only NAME,...] [--rss-margin-mb M] [--inject-loss] [--list]
 *
 * scripts/soak.sh builds and runs it; ctest runs a 5 s smoke of it (label
 * stress) so it keeps building and working in every build.
 *
 * Rounds. Until S seconds have passed (default 60; --scaled multiplies S
 * by LFC_TEST_SCALE), the main thread runs rounds. Each round picks one
 * workload at random, or (one round in three) two that run at the same
 * time, with random parameters drawn from a per-round seed derived from
 * --seed, so a round's choices (not its interleavings) are reproducible.
 * Before each round the process-wide spin budget is set at random
 * (lfc_spin_set_limit: adaptive three times in four, else 0, parking at
 * once, or 1-64 polls). The workloads (--list prints them):
 *   chan     buffered channel of random capacity (0 included: unbuffered),
 *            random producer and consumer counts and call forms (blocking,
 *            try_, _until with short deadlines, _ctx with contexts that
 *            time out or are cancelled while calls are in flight), closed
 *            by the main thread or by a random closer mid-stream
 *   select   senders and receivers selecting over 2-5 channels (fair and
 *            biased, try_ and _until), receivers with an lfc_after timeout
 *            case and a context's done channel as cases, a random closer
 *   pool     random workers, queue capacity and submitters (all submit
 *            forms), lfc_pool_wait mid-stream, graceful free or
 *            lfc_pool_shutdown_now at a random moment
 *   merge    1-40 inputs (a tree above 31) into one output, producers that
 *            close their inputs after a random count, lfc_merge_stop at
 *            random, KEEP_OPEN at random
 *   fanout   round-robin and broadcast to 1-5 outputs, lfc_fanout_stop at
 *            random, KEEP_OPEN at random
 *   sem      weighted acquires (all forms, contexts cancelled in flight)
 *            around a counter of permits in use and, with one permit, a
 *            plain counter the semaphore alone protects
 *   groups   wait groups (a phase of tasks, flags checked after the wait)
 *            and error groups (limits, failing tasks, parent cancelled)
 *   timers   lfc_after (kept and abandoned), stoppable timers, tickers,
 *            contexts with deadlines and cancelled trees
 *   reply    requests carrying a reply channel (the worker's reference
 *            taken with lfc_chan_dup, the requester's freed at once), and
 *            detached generators that send, close and free their own
 *            reference while the reader frees its own on LFC_CLOSED
 *
 * What is checked (each failure is a violation, printed with its detail;
 * the first ten are printed as they happen):
 *   - every message carries (producer, seq, check value): a send that
 *     returned LFC_OK is received exactly once (counting what is left in
 *     the channels after the round), nothing is received that was not
 *     sent, no payload is torn, and each receiver sees each producer's
 *     messages in order per channel (merge: per input, which has one
 *     sender; fan-out: per output, as lfchan/merge.h promises); a send
 *     that returned LFC_CLOSED, LFC_TIMEDOUT or LFC_CANCELED is not
 *     counted as sent and must not arrive;
 *   - statuses are the documented ones, deadlines never return early,
 *     timer values are never before their deadline, a context's error is
 *     its cause, pool tasks run (or are handed back) exactly once and the
 *     pool's counters add up, semaphores never grant more than their
 *     permits, groups return a failing task's error;
 *   - after each round every thread the round started is gone (the
 *     library's "lfc-timer" thread, which exits on its own a quarter of a
 *     second after the last timer, is not counted; at most one may exist).
 *
 * Sampling. Every --report seconds (default 5) a line: elapsed time,
 * rounds, messages moved, checks done, violations, RSS (/proc/self/statm)
 * and threads (/proc/self/status). After each round, with every thread of
 * the round joined, the main thread samples RSS and the thread count
 * again: these "quiescent" samples are what the verdict judges.
 *
 * Flatness verdict (runs of 30 s or more; shorter runs report only; the
 * thirds are of the planned S seconds):
 *   - threads: every quiescent sample equals the first one (lfc-timer
 *     excluded), after waiting up to the stuck bound for threads a round
 *     joined to leave /proc;
 *   - RSS: the largest quiescent sample of the last third of the run is at
 *     most the largest of the first third plus 10% plus --rss-margin-mb
 *     (default 8 MiB). The first third absorbs allocator warm-up (glibc's
 *     arenas, one per thread up to 8 per CPU, keep freed memory); a leak
 *     of even a few hundred bytes per round shows over a long run.
 *
 * Hang watchdog: if no message moves and no check is done for --stall
 * seconds (default 60, times 3 under a sanitizer), it prints the current
 * round, its parameters, the counters and every thread's name and state,
 * and aborts: a hang is a violation.
 *
 * --inject-loss makes the chan workload lose one message a round on
 * purpose (its consumer 0 does not count the first it receives): the run
 * must then report "received 0 times, want 1" and fail. ctest runs it
 * (soak_detects_loss), so a check that can no longer fail is noticed.
 *
 * Exit status: 0 if there was no violation and the verdict is flat (or
 * not judged), 1 otherwise, 2 for a bad command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>

#define LFC_STRESS_NAME "lfc_soak"
#include "lfc_stress_support.h"

/* ------------------------------------------------------------------------ */
/* Counters, the round description, sampling.                               */

/* Written with __atomic by every thread; read by the reporter and main. */
static struct {
    uint64_t msgs;     /* messages received and checked */
    uint64_t checks;   /* individual checks done */
    uint64_t progress; /* moves with both: the watchdog watches it */
    uint64_t rounds;   /* rounds finished */
} S;

/* A thread's counts, added to S in batches (one RMW per 64 events). */
struct tally {
    uint64_t msgs;
    uint64_t checks;
};

static void
tally_flush(struct tally *t)
{
    if (t->msgs == 0 && t->checks == 0)
        return;
    __atomic_fetch_add(&S.msgs, t->msgs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&S.checks, t->checks, __ATOMIC_RELAXED);
    __atomic_fetch_add(&S.progress, t->msgs + t->checks, __ATOMIC_RELAXED);
    t->msgs = 0;
    t->checks = 0;
}

static void
tally_add(struct tally *t, uint64_t msgs, uint64_t checks)
{
    t->msgs += msgs;
    t->checks += checks;
    if (t->msgs + t->checks >= 64)
        tally_flush(t);
}

/* A check done on its own (not for a message). */
static void
tally_check(struct tally *t)
{
    tally_add(t, 0, 1);
}

/* One received message: noted in the tracker (its payload, order and
 * exactly-once checks count as three). */
static void
note_msg(struct tally *tl, struct tracker *tr, uint64_t *last, unsigned chi,
         const struct msg *m, const char *who, unsigned id)
{
    tracker_note(tr, last, chi, m, who, id);
    tally_add(tl, 1, 3);
}

/* The verification of a round's tracker: one check per possible message. */
static void
verify_round(struct tracker *tr, const uint64_t *sent, const char *what)
{
    struct tally tl = {0, 0};
    tracker_verify(tr, sent, what);
    tally_add(&tl, 0, (uint64_t)tr->nprod * tr->per_prod);
    tally_flush(&tl);
}

/* --inject-loss: the chan workload's consumer 0 forgets the first message
 * it receives each round, as a lost message would look (read-only once
 * the rounds run). */
static bool inject_loss;

static pthread_mutex_t desc_mu = PTHREAD_MUTEX_INITIALIZER;
static char desc[1024]; /* the running round's description; desc_mu */

static void round_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Appends to the running round's description (printed by the watchdog and
 * with violations). */
static void
round_note(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&desc_mu);
    size_t len = strlen(desc);
    if (len + 2 < sizeof(desc)) {
        if (len > 0)
            desc[len++] = ' ';
        va_start(ap, fmt);
        vsnprintf(desc + len, sizeof(desc) - len, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&desc_mu);
}

static void
round_describe_copy(char *out, size_t size)
{
    pthread_mutex_lock(&desc_mu);
    snprintf(out, size, "%s", desc);
    pthread_mutex_unlock(&desc_mu);
}

static unsigned long
violations(void)
{
    return failures_so_far();
}

static uint64_t
rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Threads: from /proc/self/status, as the issue asks. */
static int
threads_now(void)
{
    char line[256];
    int n = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Threads other than the library's timer thread, and how many of those. */
static int
threads_but_timer(int *timer_threads)
{
    int all = lfc_test_count_threads_matching("", false);
    int timer = lfc_test_count_threads_exact("lfc-timer");
    *timer_threads = timer;
    return all - timer;
}

/* Every thread: tid, name and state (/proc/self/task/N/stat), to stderr. */
static void
print_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[512] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(buf, sizeof(buf), f)) {
            char *open = strchr(buf, '('), *close = strrchr(buf, ')');
            if (open && close && close[1] == ' ')
                fprintf(stderr, "  thread %s %.*s state %c\n", e->d_name,
                        (int)(close - open + 1), open, close[2]);
        }
        fclose(f);
    }
    closedir(d);
}

/* ------------------------------------------------------------------------ */
/* Random choices.                                                          */

/* splitmix64: per-round and per-thread seeds from one seed. */
static uint64_t
mix_seed(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x ? x : 1;
}

/* Uniform in [lo, hi]. */
static uint64_t
rnd(uint64_t *rng, uint64_t lo, uint64_t hi)
{
    return lo + rng_next(rng) % (hi - lo + 1);
}

/* True with probability 1 / n. */
static bool
one_in(uint64_t *rng, unsigned n)
{
    return rng_next(rng) % n == 0;
}

/* A channel capacity: unbuffered, tiny, odd, or large. */
static size_t
rnd_cap(uint64_t *rng)
{
    static const size_t caps[] = {0, 0, 1, 1, 2, 3, 7, 16, 64, 1024};
    size_t c = caps[rng_next(rng) % (sizeof(caps) / sizeof(caps[0]))];
    return one_in(rng, 8) ? (size_t)rnd(rng, 1, 300) : c;
}

/* Mostly nothing; sometimes a yield or a short spin, to shake schedules. */
static void
jitter(uint64_t *rng)
{
    uint64_t r = rng_next(rng) % 64;
    if (r == 0)
        sched_yield();
    else if (r == 1)
        spin_ns((int64_t)(rng_next(rng) % 20000));
}

static lfc_chan *
xchan_new(size_t cap, size_t elem)
{
    lfc_chan *ch = lfc_chan_new(cap, elem);
    if (!ch) {
        fprintf(stderr, "lfc_soak: lfc_chan_new: %s\n", strerror(errno));
        abort();
    }
    return ch;
}

static lfc_ctx *
xctx(lfc_ctx *ctx, const char *what)
{
    if (!ctx) {
        fprintf(stderr, "lfc_soak: %s: %s\n", what, strerror(errno));
        abort();
    }
    return ctx;
}

/* A context that times out within max_ns, or one a canceller cancels. */
static lfc_ctx *
rnd_ctx(uint64_t *rng, int64_t max_ns)
{
    if (one_in(rng, 2))
        return xctx(lfc_ctx_with_timeout(lfc_ctx_background(),
                                         (int64_t)rnd(rng, 0, (uint64_t)max_ns)),
                    "lfc_ctx_with_timeout");
    return xctx(lfc_ctx_with_cancel(lfc_ctx_background()),
                "lfc_ctx_with_cancel");
}

/* A context call that gave up must report its context's cause. */
static void
check_ctx_status(struct tally *tl, int rc, lfc_ctx *ctx, const char *what,
                 unsigned id)
{
    int err = lfc_ctx_err(ctx);
    WCHECK(rc == err && (err == LFC_CANCELED || err == LFC_TIMEDOUT),
           "%s %u: status %d (%s) but lfc_ctx_err %d (%s)", what, id, rc,
           lfc_strerror(rc), err, lfc_strerror(err));
    if (err == LFC_TIMEDOUT)
        WCHECK(lfc_now_ns() >= lfc_ctx_deadline(ctx),
               "%s %u: context timed out before its deadline", what, id);
    tally_add(tl, 0, 2);
}

/* ---- background actions: close channels or cancel contexts later -------- */

struct later {
    pthread_t thread;
    int64_t delay_ns;
    lfc_chan **chans; /* closed in order, each expected to close (OK) */
    unsigned nchans;
    lfc_ctx *ctx; /* cancelled after the channels, if set */
    lfc_merger *merger;
    lfc_fanout *fanout;
};

static void *
later_main(void *arg)
{
    struct later *l = arg;
    lfc_test_sleep_ns(l->delay_ns);
    if (l->merger)
        WCHECK(lfc_merge_stop(l->merger) == LFC_OK, "lfc_merge_stop failed");
    if (l->fanout)
        WCHECK(lfc_fanout_stop(l->fanout) == LFC_OK, "lfc_fanout_stop failed");
    for (unsigned i = 0; i < l->nchans; i++) {
        int rc = lfc_close(l->chans[i]);
        WCHECK(rc == LFC_OK, "closer: lfc_close of channel %u: %d (%s)", i, rc,
               lfc_strerror(rc));
    }
    if (l->ctx) {
        int rc = lfc_ctx_cancel(l->ctx);
        WCHECK(rc == LFC_OK, "canceller: lfc_ctx_cancel: %d", rc);
    }
    return NULL;
}

static void
later_start(struct later *l, uint64_t *rng, int64_t max_delay_ns)
{
    l->delay_ns = (int64_t)rnd(rng, 0, (uint64_t)max_delay_ns);
    xpthread_create(&l->thread, later_main, l);
}

/* ------------------------------------------------------------------------ */
/* chan: one channel, many producers and consumers.                         */

enum { SEND_BLOCK, SEND_TRY, SEND_UNTIL, SEND_CTX, SEND_MODES };
enum { RECV_BLOCK, RECV_TRY, RECV_UNTIL, RECV_CTX, RECV_MODES };

struct chan_wl {
    lfc_chan *ch;
    uint64_t per_prod;
    struct tracker tr;
    uint64_t *sent;    /* sent[p]: sends of producer p that returned OK */
    lfc_ctx *send_ctx; /* SEND_CTX producers stop when it ends */
    lfc_ctx *recv_ctx; /* RECV_CTX consumers switch to lfc_recv when it ends */
};

struct worker {
    pthread_t thread;
    void *wl;
    unsigned id;
    int mode;
    uint64_t rng;
};

/* One send of m in the producer's mode; retries what may be retried.
 * Returns LFC_OK, or the status that ends the producer. */
static int
chan_send_one(struct worker *k, struct chan_wl *w, const struct msg *m,
              struct tally *tl)
{
    unsigned again = 0;
    for (;;) {
        int mode = k->mode;
        int64_t dl = 0;
        int rc;
        /* A try_ loop against try_ receivers on an unbuffered channel
         * never meets: fall back to a deadline now and then. */
        if (mode == SEND_TRY && again > 64)
            mode = SEND_UNTIL;
        switch (mode) {
        case SEND_TRY:
            rc = lfc_try_send(w->ch, m);
            break;
        case SEND_UNTIL:
            dl = short_deadline(&k->rng, 200 * LFC_TEST_US);
            rc = lfc_send_until(w->ch, m, dl);
            break;
        case SEND_CTX:
            rc = lfc_send_ctx(w->ch, m, w->send_ctx);
            break;
        default:
            rc = lfc_send(w->ch, m);
            break;
        }
        if (rc == LFC_OK || rc == LFC_CLOSED)
            return rc;
        if (rc == LFC_AGAIN && mode == SEND_TRY) {
            again++;
            if ((again & 7) == 0)
                sched_yield();
            continue;
        }
        if (rc == LFC_TIMEDOUT && mode == SEND_UNTIL) {
            check_timeout_not_early(dl, "chan producer", k->id);
            tally_check(tl);
            again = 0;
            continue;
        }
        if (mode == SEND_CTX && (rc == LFC_CANCELED || rc == LFC_TIMEDOUT)) {
            check_ctx_status(tl, rc, w->send_ctx, "chan producer", k->id);
            return rc;
        }
        stress_fail("chan producer %u: mode %d: unexpected status %d (%s)",
                    k->id, mode, rc, lfc_strerror(rc));
        return rc;
    }
}

static void *
chan_producer(void *arg)
{
    struct worker *k = arg;
    struct chan_wl *w = k->wl;
    struct tally tl = {0, 0};
    uint64_t seq = 0;

    while (seq < w->per_prod) {
        struct msg m = msg_make(k->id, seq);
        if (chan_send_one(k, w, &m, &tl) != LFC_OK)
            break;
        seq++;
        jitter(&k->rng);
    }
    w->sent[k->id] = seq;
    tally_flush(&tl);
    return NULL;
}

/* One receive in the consumer's mode. Returns LFC_OK or LFC_CLOSED. */
static int
chan_recv_one(struct worker *k, struct chan_wl *w, struct msg *m,
              struct tally *tl)
{
    unsigned again = 0;
    for (;;) {
        int mode = k->mode;
        int64_t dl = 0;
        int rc;
        if (mode == RECV_TRY && again > 64)
            mode = RECV_UNTIL;
        switch (mode) {
        case RECV_TRY:
            rc = lfc_try_recv(w->ch, m);
            break;
        case RECV_UNTIL:
            dl = short_deadline(&k->rng, 500 * LFC_TEST_US);
            rc = lfc_recv_until(w->ch, m, dl);
            break;
        case RECV_CTX:
            rc = lfc_recv_ctx(w->ch, m, w->recv_ctx);
            break;
        default:
            rc = lfc_recv(w->ch, m);
            break;
        }
        if (rc == LFC_OK || rc == LFC_CLOSED)
            return rc;
        if (rc == LFC_AGAIN && mode == RECV_TRY) {
            again++;
            if ((again & 7) == 0)
                sched_yield();
            continue;
        }
        if (rc == LFC_TIMEDOUT && mode == RECV_UNTIL) {
            check_timeout_not_early(dl, "chan consumer", k->id);
            tally_check(tl);
            again = 0;
            continue;
        }
        if (mode == RECV_CTX && (rc == LFC_CANCELED || rc == LFC_TIMEDOUT)) {
            /* Its context ended while it waited: go on without one, so
             * the values still come out. */
            check_ctx_status(tl, rc, w->recv_ctx, "chan consumer", k->id);
            k->mode = RECV_BLOCK;
            continue;
        }
        stress_fail("chan consumer %u: mode %d: unexpected status %d (%s)",
                    k->id, mode, rc, lfc_strerror(rc));
        return LFC_CLOSED;
    }
}

static void *
chan_consumer(void *arg)
{
    struct worker *k = arg;
    struct chan_wl *w = k->wl;
    struct tally tl = {0, 0};
    uint64_t *last = last_new(1, w->tr.nprod);
    struct msg m;

    bool forget = inject_loss && k->id == 0;
    while (chan_recv_one(k, w, &m, &tl) == LFC_OK) {
        if (forget)
            forget = false;
        else
            note_msg(&tl, &w->tr, last, 0, &m, "chan consumer", k->id);
        jitter(&k->rng);
    }
    free(last);
    tally_flush(&tl);
    return NULL;
}

/* After close and every consumer's LFC_CLOSED: the channel stays empty
 * and closed. */
static void
check_drained_closed(lfc_chan *ch, const char *what)
{
    struct msg m;
    struct tally tl = {0, 0};
    int rc = lfc_try_recv(ch, &m);
    WCHECK(rc == LFC_CLOSED, "%s: try_recv after drain: %d (%s)", what, rc,
           lfc_strerror(rc));
    WCHECK(lfc_chan_len(ch) == 0, "%s: len %zu after drain", what,
           lfc_chan_len(ch));
    WCHECK(lfc_chan_closed(ch), "%s: not closed", what);
    rc = lfc_try_send(ch, &m);
    WCHECK(rc == LFC_CLOSED, "%s: send after close: %d", what, rc);
    tally_add(&tl, 0, 4);
    tally_flush(&tl);
}

static void
wl_chan(uint64_t seed)
{
    uint64_t rng = seed;
    struct chan_wl w;
    unsigned np = (unsigned)rnd(&rng, 1, 5), nc = (unsigned)rnd(&rng, 1, 5);
    size_t cap = rnd_cap(&rng);
    bool closer = one_in(&rng, 3), cancel_send = one_in(&rng, 2);
    struct worker *ks = calloc(np + nc, sizeof(*ks));
    struct later cl = {0}, cs = {0}, cr = {0};

    w.per_prod = rnd(&rng, 100, 4000);
    w.ch = xchan_new(cap, sizeof(struct msg));
    w.sent = calloc(np, sizeof(*w.sent));
    tracker_init(&w.tr, np, w.per_prod);
    w.send_ctx = rnd_ctx(&rng, 20 * LFC_TEST_MS);
    w.recv_ctx = rnd_ctx(&rng, 20 * LFC_TEST_MS);
    round_note("chan(cap=%zu p=%u c=%u n=%" PRIu64 " closer=%d)", cap, np, nc,
               w.per_prod, closer);

    for (unsigned i = 0; i < np + nc; i++) {
        ks[i].wl = &w;
        ks[i].id = i < np ? i : i - np;
        ks[i].rng = mix_seed(seed + i + 1);
        ks[i].mode = (int)(rng_next(&rng) % (i < np ? SEND_MODES : RECV_MODES));
        xpthread_create(&ks[i].thread, i < np ? chan_producer : chan_consumer,
                        &ks[i]);
    }
    if (closer) {
        cl.chans = &w.ch;
        cl.nchans = 1;
        later_start(&cl, &rng, 5 * LFC_TEST_MS);
    }
    if (cancel_send) {
        cs.ctx = w.send_ctx;
        later_start(&cs, &rng, 10 * LFC_TEST_MS);
    }
    cr.ctx = w.recv_ctx;
    later_start(&cr, &rng, 10 * LFC_TEST_MS);

    for (unsigned i = 0; i < np; i++)
        xpthread_join(ks[i].thread);
    if (closer)
        xpthread_join(cl.thread);
    else
        WCHECK(lfc_close(w.ch) == LFC_OK, "chan: close failed");
    for (unsigned i = np; i < np + nc; i++)
        xpthread_join(ks[i].thread);
    if (cancel_send)
        xpthread_join(cs.thread);
    xpthread_join(cr.thread);

    check_drained_closed(w.ch, "chan");
    verify_round(&w.tr, w.sent, "chan");
    tracker_free(&w.tr);
    lfc_ctx_free(w.send_ctx);
    lfc_ctx_free(w.recv_ctx);
    lfc_chan_free(w.ch);
    free(w.sent);
    free(ks);
}

/* ------------------------------------------------------------------------ */
/* select: senders and receivers over several channels.                     */

#define SEL_MAX_CH 5

struct sel_wl {
    unsigned nch;
    lfc_chan *ch[SEL_MAX_CH];
    uint64_t per_prod;
    struct tracker tr;
    uint64_t *sent;
    lfc_ctx *ctx; /* a done case of some receivers */
};

enum { SEL_FAIR, SEL_BIASED, SEL_TRY, SEL_UNTIL, SEL_MODES };

/* One select in mode k->mode (try_ falls back to a deadline now and then,
 * like the chan workload's try_ loops). */
static int
sel_call(struct worker *k, lfc_case *cs, int n, unsigned *again,
         int64_t *deadline)
{
    int mode = k->mode;
    *deadline = LFC_FOREVER;
    if (mode == SEL_TRY && *again > 64)
        mode = SEL_UNTIL;
    switch (mode) {
    case SEL_BIASED:
        return lfc_select_biased(cs, n);
    case SEL_TRY:
        return one_in(&k->rng, 2) ? lfc_try_select(cs, n)
                                  : lfc_try_select_biased(cs, n);
    case SEL_UNTIL:
        *deadline = short_deadline(&k->rng, 300 * LFC_TEST_US);
        return one_in(&k->rng, 2) ? lfc_select_until(cs, n, *deadline)
                                  : lfc_select_biased_until(cs, n, *deadline);
    default:
        return lfc_select(cs, n);
    }
}

static void *
sel_producer(void *arg)
{
    struct worker *k = arg;
    struct sel_wl *w = k->wl;
    struct tally tl = {0, 0};
    lfc_case cs[SEL_MAX_CH];
    unsigned live = w->nch, again = 0;
    uint64_t seq = 0;
    struct msg m = msg_make(k->id, 0);

    for (unsigned i = 0; i < w->nch; i++)
        cs[i] = (lfc_case){.ch = w->ch[i], .dir = LFC_SEND, .buf = &m};
    while (seq < w->per_prod && live > 0) {
        int64_t dl;
        int i = sel_call(k, cs, (int)w->nch, &again, &dl);
        if (i >= 0 && cs[i].status == LFC_OK) {
            m = msg_make(k->id, ++seq);
            again = 0;
            jitter(&k->rng);
        } else if (i >= 0 && cs[i].status == LFC_CLOSED) {
            cs[i].ch = NULL;
            live--;
        } else if (i == LFC_AGAIN) {
            if ((++again & 7) == 0)
                sched_yield();
        } else if (i == LFC_TIMEDOUT) {
            check_timeout_not_early(dl, "select producer", k->id);
            tally_check(&tl);
            again = 0;
        } else {
            stress_fail("select producer %u: select returned %d (status %d)",
                        k->id, i, i >= 0 ? cs[i].status : 0);
            break;
        }
    }
    w->sent[k->id] = seq;
    tally_flush(&tl);
    return NULL;
}

/* The receiver's timeout case: a fresh lfc_after and when it was made. */
struct after_case {
    lfc_chan *ch;
    int64_t made; /* lfc_now_ns() before lfc_after */
    int64_t ns;
};

static void
after_arm(struct after_case *a, uint64_t *rng)
{
    a->ns = (int64_t)rnd(rng, 0, 2 * (uint64_t)LFC_TEST_MS);
    a->made = lfc_now_ns();
    a->ch = lfc_after(a->ns);
    if (!a->ch) {
        fprintf(stderr, "lfc_soak: lfc_after: %s\n", strerror(errno));
        abort();
    }
}

static void *
sel_consumer(void *arg)
{
    struct worker *k = arg;
    struct sel_wl *w = k->wl;
    struct tally tl = {0, 0};
    uint64_t *last = last_new(w->nch, w->tr.nprod);
    lfc_case cs[SEL_MAX_CH + 2];
    struct after_case after = {0}; /* set before use; gcc -O3 cannot tell */
    unsigned live = w->nch, again = 0;
    int n = (int)w->nch, after_i = -1, done_i = -1;
    struct msg m;
    int64_t fired = 0;

    for (unsigned i = 0; i < w->nch; i++)
        cs[i] = (lfc_case){.ch = w->ch[i], .dir = LFC_RECV, .buf = &m};
    if (one_in(&k->rng, 2)) {
        after_arm(&after, &k->rng);
        after_i = n;
        cs[n++] = (lfc_case){.ch = after.ch, .dir = LFC_RECV, .buf = &fired};
    }
    if (one_in(&k->rng, 2)) {
        done_i = n;
        cs[n++] = (lfc_case){.ch = lfc_ctx_done(w->ctx), .dir = LFC_RECV};
    }
    while (live > 0) {
        int64_t dl;
        int i = sel_call(k, cs, n, &again, &dl);
        if (i >= 0 && i == after_i) {
            WCHECK(cs[i].status == LFC_OK && fired >= after.made + after.ns,
                   "select consumer %u: lfc_after(%" PRId64 ") fired %" PRId64
                   " ns early (status %d)",
                   k->id, after.ns, after.made + after.ns - fired,
                   cs[i].status);
            tally_check(&tl);
            lfc_chan_free(after.ch);
            after_arm(&after, &k->rng);
            cs[i].ch = after.ch;
        } else if (i >= 0 && i == done_i) {
            WCHECK(cs[i].status == LFC_CLOSED,
                   "select consumer %u: done case status %d", k->id,
                   cs[i].status);
            check_ctx_status(&tl, lfc_ctx_err(w->ctx), w->ctx,
                             "select consumer", k->id);
            cs[i].ch = NULL;
        } else if (i >= 0 && cs[i].status == LFC_OK) {
            note_msg(&tl, &w->tr, last, (unsigned)i, &m, "select consumer",
                     k->id);
            again = 0;
            jitter(&k->rng);
        } else if (i >= 0 && cs[i].status == LFC_CLOSED) {
            cs[i].ch = NULL;
            live--;
        } else if (i == LFC_AGAIN) {
            if ((++again & 7) == 0)
                sched_yield();
        } else if (i == LFC_TIMEDOUT) {
            check_timeout_not_early(dl, "select consumer", k->id);
            tally_check(&tl);
            again = 0;
        } else {
            stress_fail("select consumer %u: select returned %d", k->id, i);
            break;
        }
    }
    if (after_i >= 0)
        lfc_chan_free(after.ch);
    free(last);
    tally_flush(&tl);
    return NULL;
}

static void
wl_select(uint64_t seed)
{
    uint64_t rng = seed;
    struct sel_wl w;
    unsigned np = (unsigned)rnd(&rng, 1, 4), nc = (unsigned)rnd(&rng, 1, 4);
    bool closer = one_in(&rng, 3);
    struct worker *ks = calloc(np + nc, sizeof(*ks));
    struct later cl = {0}, cc = {0};
    char caps[64] = "";

    w.nch = (unsigned)rnd(&rng, 2, SEL_MAX_CH);
    for (unsigned i = 0; i < w.nch; i++) {
        size_t cap = rnd_cap(&rng);
        w.ch[i] = xchan_new(cap, sizeof(struct msg));
        snprintf(caps + strlen(caps), sizeof(caps) - strlen(caps), "%s%zu",
                 i ? "," : "", cap);
    }
    w.per_prod = rnd(&rng, 100, 3000);
    w.sent = calloc(np, sizeof(*w.sent));
    tracker_init(&w.tr, np, w.per_prod);
    w.ctx = rnd_ctx(&rng, 10 * LFC_TEST_MS);
    round_note("select(caps=%s p=%u c=%u n=%" PRIu64 " closer=%d)", caps, np,
               nc, w.per_prod, closer);

    for (unsigned i = 0; i < np + nc; i++) {
        ks[i].wl = &w;
        ks[i].id = i < np ? i : i - np;
        ks[i].rng = mix_seed(seed + i + 1);
        ks[i].mode = (int)(rng_next(&rng) % SEL_MODES);
        xpthread_create(&ks[i].thread, i < np ? sel_producer : sel_consumer,
                        &ks[i]);
    }
    if (closer) {
        cl.chans = w.ch;
        cl.nchans = w.nch;
        later_start(&cl, &rng, 5 * LFC_TEST_MS);
    }
    cc.ctx = w.ctx;
    later_start(&cc, &rng, 10 * LFC_TEST_MS);

    for (unsigned i = 0; i < np; i++)
        xpthread_join(ks[i].thread);
    if (closer)
        xpthread_join(cl.thread);
    else
        for (unsigned i = 0; i < w.nch; i++)
            WCHECK(lfc_close(w.ch[i]) == LFC_OK, "select: close failed");
    for (unsigned i = np; i < np + nc; i++)
        xpthread_join(ks[i].thread);
    xpthread_join(cc.thread);

    for (unsigned i = 0; i < w.nch; i++) {
        check_drained_closed(w.ch[i], "select");
        lfc_chan_free(w.ch[i]);
    }
    verify_round(&w.tr, w.sent, "select");
    tracker_free(&w.tr);
    lfc_ctx_free(w.ctx);
    free(w.sent);
    free(ks);
}

/* ------------------------------------------------------------------------ */
/* pool: tasks that must run (or be handed back) exactly once.              */

struct pool_wl {
    lfc_pool *pool;
    uint64_t ntasks; /* task i belongs to submitter i % nsub */
    unsigned nsub;
    uint8_t *ran;      /* ran[i]: times task i ran (atomic) */
    uint8_t *dropped;  /* dropped[i]: times it was handed back */
    uint8_t *accepted; /* accepted[i]: its submit returned OK (its submitter) */
    lfc_ctx *ctx;
};

static void
pool_task(void *arg)
{
    uint8_t *ran = arg;
    uint8_t old = __atomic_fetch_add(ran, 1, __ATOMIC_RELAXED);
    WCHECK(old == 0, "pool: a task ran %u times", (unsigned)old + 1);
    __atomic_fetch_add(&S.progress, 1, __ATOMIC_RELAXED);
}

static void
pool_drop(lfc_pool_task_fn fn, void *arg, void *user)
{
    struct pool_wl *w = user;
    size_t i = (size_t)((uint8_t *)arg - w->ran);
    WCHECK(fn == pool_task && i < w->ntasks, "pool: drop of a task never sent");
    if (i < w->ntasks)
        w->dropped[i]++; /* only the shutdown_now caller's thread */
}

/* After lfc_pool_wait: every task this submitter had accepted before it
 * finished (ran, or was handed back: the drop callback ran before any
 * wait could see the task as finished). */
static void
pool_check_finished(struct pool_wl *w, unsigned id, uint64_t upto,
                    struct tally *tl)
{
    for (uint64_t i = id; i < upto; i += w->nsub) {
        if (!w->accepted[i])
            continue;
        unsigned r = __atomic_load_n(&w->ran[i], __ATOMIC_RELAXED);
        unsigned d = __atomic_load_n(&w->dropped[i], __ATOMIC_RELAXED);
        WCHECK(r + d == 1,
               "pool submitter %u: task %" PRIu64
               " accepted before lfc_pool_wait but ran %u, dropped %u",
               id, i, r, d);
        tally_check(tl);
    }
}

static void *
pool_submitter(void *arg)
{
    struct worker *k = arg;
    struct pool_wl *w = k->wl;
    struct tally tl = {0, 0};
    int mode = k->mode;

    for (uint64_t i = k->id; i < w->ntasks; i += w->nsub) {
        unsigned again = 0;
        int rc;
        for (;;) {
            int64_t dl = 0;
            int m = mode == SEND_TRY && again > 64 ? SEND_UNTIL : mode;
            if (m == SEND_TRY)
                rc = lfc_pool_try_submit(w->pool, pool_task, &w->ran[i]);
            else if (m == SEND_UNTIL) {
                dl = short_deadline(&k->rng, 300 * LFC_TEST_US);
                rc = lfc_pool_submit_until(w->pool, pool_task, &w->ran[i], dl);
            } else if (m == SEND_CTX)
                rc = lfc_pool_submit_ctx(w->pool, pool_task, &w->ran[i],
                                         w->ctx);
            else
                rc = lfc_pool_submit(w->pool, pool_task, &w->ran[i]);
            if (rc == LFC_AGAIN && m == SEND_TRY) {
                if ((++again & 7) == 0)
                    sched_yield();
                continue;
            }
            if (rc == LFC_TIMEDOUT && m == SEND_UNTIL) {
                check_timeout_not_early(dl, "pool submitter", k->id);
                tally_check(&tl);
                again = 0;
                continue;
            }
            if (m == SEND_CTX && (rc == LFC_CANCELED || rc == LFC_TIMEDOUT)) {
                check_ctx_status(&tl, rc, w->ctx, "pool submitter", k->id);
                mode = SEND_BLOCK;
                continue;
            }
            break;
        }
        if (rc == LFC_CLOSED)
            break;
        if (rc != LFC_OK) {
            stress_fail("pool submitter %u: status %d (%s)", k->id, rc,
                        lfc_strerror(rc));
            break;
        }
        w->accepted[i] = 1;
        if (one_in(&k->rng, 300)) {
            rc = lfc_pool_wait(w->pool);
            WCHECK(rc == LFC_OK, "pool submitter %u: lfc_pool_wait: %d", k->id,
                   rc);
            pool_check_finished(w, k->id, i + 1, &tl);
        }
        jitter(&k->rng);
    }
    tally_flush(&tl);
    return NULL;
}

static void
wl_pool(uint64_t seed)
{
    uint64_t rng = seed;
    struct pool_wl w;
    unsigned workers = (unsigned)rnd(&rng, 1, 6);
    size_t qcap = rnd_cap(&rng);
    bool shutdown = one_in(&rng, 3);
    struct worker *ks;
    struct tally tl = {0, 0};
    int64_t handed = 0;

    w.nsub = (unsigned)rnd(&rng, 1, 3);
    w.ntasks = rnd(&rng, 100, 5000);
    w.ran = calloc(w.ntasks, 1);
    w.dropped = calloc(w.ntasks, 1);
    w.accepted = calloc(w.ntasks, 1);
    w.ctx = rnd_ctx(&rng, 10 * LFC_TEST_MS);
    ks = calloc(w.nsub, sizeof(*ks));
    round_note("pool(workers=%u queue=%zu submitters=%u tasks=%" PRIu64
               " shutdown_now=%d)",
               workers, qcap, w.nsub, w.ntasks, shutdown);
    w.pool = lfc_pool_new(workers, qcap);
    if (!w.pool) {
        fprintf(stderr, "lfc_soak: lfc_pool_new: %s\n", strerror(errno));
        abort();
    }
    for (unsigned i = 0; i < w.nsub; i++) {
        ks[i].wl = &w;
        ks[i].id = i;
        ks[i].rng = mix_seed(seed + i + 1);
        ks[i].mode = (int)(rng_next(&rng) % SEND_MODES);
        xpthread_create(&ks[i].thread, pool_submitter, &ks[i]);
    }
    if (one_in(&rng, 2))
        lfc_ctx_cancel(w.ctx);
    if (shutdown) {
        lfc_test_sleep_ns((int64_t)rnd(&rng, 0, 5 * (uint64_t)LFC_TEST_MS));
        handed = lfc_pool_shutdown_now(w.pool, pool_drop, &w);
        WCHECK(handed >= 0, "pool: lfc_pool_shutdown_now: %" PRId64, handed);
    }
    for (unsigned i = 0; i < w.nsub; i++)
        xpthread_join(ks[i].thread);
    if (!shutdown)
        WCHECK(lfc_pool_wait(w.pool) == LFC_OK, "pool: lfc_pool_wait failed");

    struct lfc_pool_stats st;
    uint64_t accepted = 0, ran = 0, dropped = 0;
    lfc_pool_stats(w.pool, &st);
    for (uint64_t i = 0; i < w.ntasks; i++) {
        unsigned r = __atomic_load_n(&w.ran[i], __ATOMIC_RELAXED);
        accepted += w.accepted[i];
        ran += r;
        dropped += w.dropped[i];
        WCHECK(r + w.dropped[i] == w.accepted[i],
               "pool: task %" PRIu64 " accepted %u, ran %u, dropped %u", i,
               w.accepted[i], r, w.dropped[i]);
    }
    WCHECK(st.submitted == accepted && st.completed == ran &&
               st.dropped == dropped && st.queued == 0 && st.running == 0 &&
               (uint64_t)handed == dropped,
           "pool: stats submitted %" PRIu64 " completed %" PRIu64
           " queued %" PRIu64 " running %" PRIu64 " dropped %" PRIu64
           "; counted accepted %" PRIu64 " ran %" PRIu64 " dropped %" PRIu64
           " handed back %" PRId64,
           st.submitted, st.completed, st.queued, st.running, st.dropped,
           accepted, ran, dropped, handed);
    tally_add(&tl, 0, w.ntasks + 1);
    tally_flush(&tl);
    lfc_pool_free(w.pool);
    lfc_ctx_free(w.ctx);
    free(w.ran);
    free(w.dropped);
    free(w.accepted);
    free(ks);
}

/* ------------------------------------------------------------------------ */
/* merge: many inputs, one output, per-input order.                         */

#define MERGE_MAX_IN 40

struct merge_wl {
    unsigned nin, nprod;
    lfc_chan *in[MERGE_MAX_IN];
    lfc_chan *out;
    uint64_t per_in;
    uint64_t quota[MERGE_MAX_IN]; /* how many input i's producer tries */
    uint64_t sent[MERGE_MAX_IN];  /* its sends that returned OK */
    struct tracker tr;            /* "producer" = input index */
};

/* Producer thread k feeds inputs k, k + nprod, ...: one sender per input,
 * round-robin over its inputs; closes each after its quota. */
static void *
merge_producer(void *arg)
{
    struct worker *k = arg;
    struct merge_wl *w = k->wl;
    bool live[MERGE_MAX_IN] = {false};
    unsigned nlive = 0;

    for (unsigned i = k->id; i < w->nin; i += w->nprod) {
        live[i] = true;
        nlive++;
    }
    while (nlive > 0) {
        for (unsigned i = k->id; i < w->nin; i += w->nprod) {
            if (!live[i])
                continue;
            int rc = LFC_OK;
            if (w->sent[i] < w->quota[i]) {
                struct msg m = msg_make(i, w->sent[i]);
                rc = lfc_send(w->in[i], &m);
                if (rc == LFC_OK)
                    w->sent[i]++;
                else
                    WCHECK(rc == LFC_CLOSED, "merge producer: status %d", rc);
            }
            if (rc != LFC_OK || w->sent[i] == w->quota[i]) {
                if (rc == LFC_OK)
                    lfc_close(w->in[i]); /* may race main's stop-close */
                live[i] = false;
                nlive--;
            }
            jitter(&k->rng);
        }
    }
    return NULL;
}

struct out_reader {
    pthread_t thread;
    lfc_chan *ch;
    struct tracker *tr;
    unsigned id;
    uint64_t rng;
    const char *what;
};

/* Receives from one channel until LFC_CLOSED, noting every message. */
static void *
out_reader_main(void *arg)
{
    struct out_reader *r = arg;
    struct tally tl = {0, 0};
    uint64_t *last = last_new(1, r->tr->nprod);
    struct msg m;
    int rc;

    while ((rc = lfc_recv(r->ch, &m)) == LFC_OK) {
        note_msg(&tl, r->tr, last, 0, &m, r->what, r->id);
        jitter(&r->rng);
    }
    WCHECK(rc == LFC_CLOSED, "%s %u: recv status %d", r->what, r->id, rc);
    free(last);
    tally_flush(&tl);
    return NULL;
}

/* Takes what is left in ch into the tracker (values never forwarded). */
static void
drain_leftovers(lfc_chan *ch, struct tracker *tr, unsigned ntr,
                const char *what)
{
    struct tally tl = {0, 0};
    uint64_t *last[8];
    struct msg m;
    for (unsigned t = 0; t < ntr; t++)
        last[t] = last_new(1, tr[t].nprod);
    while (lfc_try_recv(ch, &m) == LFC_OK)
        for (unsigned t = 0; t < ntr; t++)
            note_msg(&tl, &tr[t], last[t], 0, &m, what, 0);
    for (unsigned t = 0; t < ntr; t++)
        free(last[t]);
    tally_flush(&tl);
}

static void
wl_merge(uint64_t seed)
{
    uint64_t rng = seed;
    struct merge_wl w;
    unsigned nreaders = (unsigned)rnd(&rng, 1, 3);
    bool stop = one_in(&rng, 3), keep_open = one_in(&rng, 4);
    size_t in_cap = rnd_cap(&rng), out_cap = rnd_cap(&rng);
    struct worker ks[4];
    struct out_reader rs[3];
    struct later st = {0};

    memset(&w, 0, sizeof(w));
    w.nin = one_in(&rng, 5) ? (unsigned)rnd(&rng, 32, MERGE_MAX_IN)
                            : (unsigned)rnd(&rng, 1, 8);
    w.nprod = (unsigned)rnd(&rng, 1, w.nin < 4 ? w.nin : 4);
    w.per_in = rnd(&rng, 50, w.nin > 8 ? 300 : 3000);
    for (unsigned i = 0; i < w.nin; i++) {
        w.in[i] = xchan_new(one_in(&rng, 4) ? rnd_cap(&rng) : in_cap,
                            sizeof(struct msg));
        w.quota[i] = one_in(&rng, 4) ? rnd(&rng, 0, w.per_in) : w.per_in;
    }
    w.out = xchan_new(out_cap, sizeof(struct msg));
    tracker_init(&w.tr, w.nin, w.per_in);
    round_note("merge(inputs=%u cap=%zu out=%zu producers=%u readers=%u "
               "n=%" PRIu64 " stop=%d keep_open=%d)",
               w.nin, in_cap, out_cap, w.nprod, nreaders, w.per_in, stop,
               keep_open);
    lfc_merger *m = lfc_merge_new_ex(w.in, w.nin, w.out,
                                     keep_open ? LFC_MERGE_KEEP_OPEN : 0);
    if (!m) {
        fprintf(stderr, "lfc_soak: lfc_merge_new: %s\n", strerror(errno));
        abort();
    }
    for (unsigned i = 0; i < nreaders; i++) {
        rs[i] = (struct out_reader){.ch = w.out, .tr = &w.tr, .id = i,
                                    .rng = mix_seed(seed + 100 + i),
                                    .what = "merge reader"};
        xpthread_create(&rs[i].thread, out_reader_main, &rs[i]);
    }
    for (unsigned i = 0; i < w.nprod; i++) {
        ks[i] = (struct worker){.wl = &w, .id = i, .rng = mix_seed(seed + i)};
        xpthread_create(&ks[i].thread, merge_producer, &ks[i]);
    }
    if (stop) {
        /* Stop, then close the inputs so their producers end; what the
         * merger never took stays in them. */
        st.merger = m;
        later_start(&st, &rng, 5 * LFC_TEST_MS);
        xpthread_join(st.thread);
        for (unsigned i = 0; i < w.nin; i++)
            lfc_close(w.in[i]); /* LFC_CLOSED if its producer was first */
    }
    for (unsigned i = 0; i < w.nprod; i++)
        xpthread_join(ks[i].thread);
    uint64_t drops = lfc_merge_free(m);
    WCHECK(drops == 0, "merge: %" PRIu64 " values dropped, out never closed",
           drops);
    if (keep_open)
        WCHECK(lfc_close(w.out) == LFC_OK, "merge: out closed despite "
                                           "KEEP_OPEN");
    for (unsigned i = 0; i < nreaders; i++)
        xpthread_join(rs[i].thread);
    for (unsigned i = 0; i < w.nin; i++) {
        drain_leftovers(w.in[i], &w.tr, 1, "merge leftover");
        WCHECK(stop || lfc_chan_len(w.in[i]) == 0, "merge: input left");
        lfc_chan_free(w.in[i]);
    }
    check_drained_closed(w.out, "merge out");
    verify_round(&w.tr, w.sent, "merge");
    tracker_free(&w.tr);
    lfc_chan_free(w.out);
}

/* ------------------------------------------------------------------------ */
/* fanout: one input, several outputs, round-robin or broadcast.            */

#define FAN_MAX_OUT 5

struct fan_wl {
    lfc_chan *in;
    uint64_t per_prod;
    uint64_t *sent;
};

static void *
fan_producer(void *arg)
{
    struct worker *k = arg;
    struct fan_wl *w = k->wl;
    uint64_t seq = 0;
    while (seq < w->per_prod) {
        struct msg m = msg_make(k->id, seq);
        int rc = lfc_send(w->in, &m);
        if (rc != LFC_OK) {
            WCHECK(rc == LFC_CLOSED, "fanout producer: status %d", rc);
            break;
        }
        seq++;
        jitter(&k->rng);
    }
    w->sent[k->id] = seq;
    return NULL;
}

static void
wl_fanout(uint64_t seed)
{
    uint64_t rng = seed;
    struct fan_wl w;
    unsigned nout = (unsigned)rnd(&rng, 1, FAN_MAX_OUT);
    unsigned np = (unsigned)rnd(&rng, 1, 3);
    bool broadcast = one_in(&rng, 2), stop = one_in(&rng, 3);
    bool keep_open = one_in(&rng, 4);
    size_t in_cap = rnd_cap(&rng);
    lfc_chan *outs[FAN_MAX_OUT];
    struct tracker tr[FAN_MAX_OUT]; /* broadcast: one per output */
    unsigned ntr = broadcast ? nout : 1;
    struct out_reader rs[FAN_MAX_OUT];
    struct worker ks[3];
    struct later st = {0};

    w.per_prod = rnd(&rng, 100, 3000);
    w.sent = calloc(np, sizeof(*w.sent));
    w.in = xchan_new(in_cap, sizeof(struct msg));
    for (unsigned i = 0; i < nout; i++)
        outs[i] = xchan_new(rnd_cap(&rng), sizeof(struct msg));
    for (unsigned t = 0; t < ntr; t++)
        tracker_init(&tr[t], np, w.per_prod);
    round_note("fanout(%s outs=%u in=%zu p=%u n=%" PRIu64
               " stop=%d keep_open=%d)",
               broadcast ? "broadcast" : "round-robin", nout, in_cap, np,
               w.per_prod, stop, keep_open);
    lfc_fanout *f = lfc_fanout_new_ex(
        w.in, outs, nout,
        broadcast ? LFC_FANOUT_BROADCAST : LFC_FANOUT_ROUND_ROBIN,
        keep_open ? LFC_FANOUT_KEEP_OPEN : 0);
    if (!f) {
        fprintf(stderr, "lfc_soak: lfc_fanout_new: %s\n", strerror(errno));
        abort();
    }
    for (unsigned i = 0; i < nout; i++) {
        rs[i] = (struct out_reader){.ch = outs[i],
                                    .tr = &tr[broadcast ? i : 0],
                                    .id = i,
                                    .rng = mix_seed(seed + 100 + i),
                                    .what = "fanout reader"};
        xpthread_create(&rs[i].thread, out_reader_main, &rs[i]);
    }
    for (unsigned i = 0; i < np; i++) {
        ks[i] = (struct worker){.wl = &w, .id = i, .rng = mix_seed(seed + i)};
        xpthread_create(&ks[i].thread, fan_producer, &ks[i]);
    }
    if (stop) {
        st.fanout = f;
        st.chans = &w.in; /* then close in, so the producers end */
        st.nchans = 1;
        later_start(&st, &rng, 5 * LFC_TEST_MS);
        xpthread_join(st.thread);
    }
    for (unsigned i = 0; i < np; i++)
        xpthread_join(ks[i].thread);
    if (!stop)
        WCHECK(lfc_close(w.in) == LFC_OK, "fanout: close in failed");
    uint64_t drops = lfc_fanout_free(f);
    WCHECK(drops == 0, "fanout: %" PRIu64 " values dropped, no output closed",
           drops);
    if (keep_open)
        for (unsigned i = 0; i < nout; i++)
            WCHECK(lfc_close(outs[i]) == LFC_OK,
                   "fanout: output closed despite KEEP_OPEN");
    for (unsigned i = 0; i < nout; i++)
        xpthread_join(rs[i].thread);
    drain_leftovers(w.in, tr, ntr, "fanout leftover");
    check_drained_closed(w.in, "fanout in");
    for (unsigned i = 0; i < nout; i++) {
        check_drained_closed(outs[i], "fanout out");
        lfc_chan_free(outs[i]);
    }
    for (unsigned t = 0; t < ntr; t++) {
        verify_round(&tr[t], w.sent, broadcast ? "fanout broadcast"
                                               : "fanout round-robin");
        tracker_free(&tr[t]);
    }
    lfc_chan_free(w.in);
    free(w.sent);
}

/* ------------------------------------------------------------------------ */
/* sem: weighted permits, never more in use than there are.                 */

struct sem_wl {
    lfc_sem *sem;
    int64_t permits;
    int64_t in_use;   /* atomic: permits held now */
    uint64_t guarded; /* plain: only with one permit, under the semaphore */
    uint64_t guarded_adds; /* atomic: how many adds were made */
    uint64_t iters;
    lfc_ctx *ctx;
};

enum { ACQ_BLOCK, ACQ_TRY, ACQ_UNTIL, ACQ_CTX, ACQ_MODES };

/* Takes n permits in mode; false if the attempt ended without them. */
static bool
sem_take(struct worker *k, struct sem_wl *w, int64_t n, struct tally *tl)
{
    int64_t dl = 0;
    int rc;
    switch (k->mode) {
    case ACQ_TRY:
        for (unsigned again = 0;; again++) {
            rc = lfc_sem_try_acquire(w->sem, n);
            if (rc != LFC_AGAIN || again > 64)
                break;
            sched_yield();
        }
        if (rc == LFC_AGAIN)
            rc = lfc_sem_acquire(w->sem, n);
        break;
    case ACQ_UNTIL:
        dl = short_deadline(&k->rng, 300 * LFC_TEST_US);
        rc = lfc_sem_acquire_until(w->sem, n, dl);
        break;
    case ACQ_CTX:
        rc = lfc_sem_acquire_ctx(w->sem, n, w->ctx);
        break;
    default:
        rc = lfc_sem_acquire(w->sem, n);
        break;
    }
    if (rc == LFC_OK)
        return true;
    if (rc == LFC_TIMEDOUT && k->mode == ACQ_UNTIL) {
        check_timeout_not_early(dl, "sem", k->id);
        tally_check(tl);
    } else if (k->mode == ACQ_CTX &&
               (rc == LFC_CANCELED || rc == LFC_TIMEDOUT)) {
        check_ctx_status(tl, rc, w->ctx, "sem", k->id);
        k->mode = ACQ_BLOCK;
    } else {
        stress_fail("sem %u: acquire(%" PRId64 ") mode %d: status %d (%s)",
                    k->id, n, k->mode, rc, lfc_strerror(rc));
    }
    return false;
}

static void *
sem_worker(void *arg)
{
    struct worker *k = arg;
    struct sem_wl *w = k->wl;
    struct tally tl = {0, 0};
    int64_t maxw = w->permits < 3 ? w->permits : 3;

    for (uint64_t it = 0; it < w->iters; it++) {
        int64_t n = (int64_t)rnd(&k->rng, 1, (uint64_t)maxw);
        if (!sem_take(k, w, n, &tl))
            continue;
        int64_t now = __atomic_add_fetch(&w->in_use, n, __ATOMIC_RELAXED);
        WCHECK(now <= w->permits,
               "sem %u: %" PRId64 " permits in use of %" PRId64, k->id, now,
               w->permits);
        if (w->permits == 1) {
            w->guarded++; /* a data race unless the semaphore excludes */
            __atomic_fetch_add(&w->guarded_adds, 1, __ATOMIC_RELAXED);
        }
        jitter(&k->rng);
        __atomic_sub_fetch(&w->in_use, n, __ATOMIC_RELAXED);
        int rc = lfc_sem_release(w->sem, n);
        WCHECK(rc == LFC_OK, "sem %u: release(%" PRId64 "): %d", k->id, n, rc);
        tally_add(&tl, 0, 2);
    }
    tally_flush(&tl);
    return NULL;
}

static void
wl_sem(uint64_t seed)
{
    uint64_t rng = seed;
    struct sem_wl w;
    unsigned nt = (unsigned)rnd(&rng, 2, 6);
    struct worker ks[6];
    struct later cc = {0};
    struct tally tl = {0, 0};

    memset(&w, 0, sizeof(w));
    w.permits = one_in(&rng, 3) ? 1 : (int64_t)rnd(&rng, 1, 8);
    w.iters = rnd(&rng, 200, 3000);
    w.sem = lfc_sem_new(w.permits);
    w.ctx = rnd_ctx(&rng, 5 * LFC_TEST_MS);
    if (!w.sem)
        abort();
    round_note("sem(permits=%" PRId64 " threads=%u iters=%" PRIu64 ")",
               w.permits, nt, w.iters);
    for (unsigned i = 0; i < nt; i++) {
        ks[i] = (struct worker){.wl = &w,
                                .id = i,
                                .rng = mix_seed(seed + i + 1),
                                .mode = (int)(rng_next(&rng) % ACQ_MODES)};
        xpthread_create(&ks[i].thread, sem_worker, &ks[i]);
    }
    cc.ctx = w.ctx;
    later_start(&cc, &rng, 5 * LFC_TEST_MS);
    for (unsigned i = 0; i < nt; i++)
        xpthread_join(ks[i].thread);
    xpthread_join(cc.thread);
    WCHECK(lfc_sem_available(w.sem) == w.permits,
           "sem: %" PRId64 " of %" PRId64 " permits free after the round",
           lfc_sem_available(w.sem), w.permits);
    WCHECK(w.guarded == w.guarded_adds,
           "sem: guarded counter %" PRIu64 " after %" PRIu64 " adds",
           w.guarded, w.guarded_adds);
    int rc = lfc_sem_release(w.sem, 1);
    WCHECK(rc == LFC_EINVAL, "sem: release beyond the total: %d", rc);
    WCHECK(lfc_sem_available(w.sem) == w.permits, "sem: over-release counted");
    tally_add(&tl, 0, 4);
    tally_flush(&tl);
    lfc_ctx_free(w.ctx);
    lfc_sem_free(w.sem);
}

/* ------------------------------------------------------------------------ */
/* groups: wait groups and error groups.                                    */

struct wg_task {
    pthread_t thread;
    lfc_wg *wg;
    int done_flag; /* plain: written before lfc_wg_done, read after wait */
    uint64_t rng;
};

static void *
wg_task_main(void *arg)
{
    struct wg_task *t = arg;
    jitter(&t->rng);
    if (one_in(&t->rng, 4))
        lfc_test_sleep_ns((int64_t)rnd(&t->rng, 0, 200 * LFC_TEST_US));
    t->done_flag = 1;
    WCHECK(lfc_wg_done(t->wg) == LFC_OK, "wg: done failed");
    return NULL;
}

static void
wg_phase(uint64_t *rng, struct tally *tl)
{
    unsigned n = (unsigned)rnd(rng, 1, 8);
    struct wg_task ts[8];
    lfc_wg *wg = lfc_wg_new();
    if (!wg)
        abort();
    WCHECK(lfc_wg_add(wg, n) == LFC_OK, "wg: add failed");
    for (unsigned i = 0; i < n; i++) {
        ts[i] = (struct wg_task){.wg = wg, .rng = mix_seed(rng_next(rng))};
        xpthread_create(&ts[i].thread, wg_task_main, &ts[i]);
    }
    if (one_in(rng, 2)) {
        int rc;
        /* Woken by the last lfc_wg_done, or by the deadline (then again). */
        while ((rc = lfc_wg_wait_until(wg, short_deadline(
                                               rng, 500 * LFC_TEST_US))) ==
               LFC_TIMEDOUT)
            tally_check(tl);
        WCHECK(rc == LFC_OK, "wg: wait_until: %d", rc);
    } else {
        WCHECK(lfc_wg_wait(wg) == LFC_OK, "wg: wait failed");
    }
    for (unsigned i = 0; i < n; i++)
        WCHECK(ts[i].done_flag == 1, "wg: wait returned before task %u", i);
    WCHECK(lfc_wg_count(wg) == 0, "wg: count %" PRId64, lfc_wg_count(wg));
    WCHECK(lfc_wg_done(wg) == LFC_EINVAL, "wg: done below zero accepted");
    tally_add(tl, 0, n + 2);
    for (unsigned i = 0; i < n; i++)
        xpthread_join(ts[i].thread);
    lfc_wg_free(wg);
}

struct group_wl {
    int limit;         /* LFC_GROUP_NO_LIMIT or >= 1 */
    int running;       /* atomic: tasks running now */
    int fail_code;     /* the failing tasks' result (0: none fails) */
    bool parent_cancel;
    lfc_ctx *parent;
};

struct group_task {
    struct group_wl *w;
    bool fails;
    uint64_t rng;
};

static int
group_task_main(lfc_ctx *ctx, void *arg)
{
    struct group_task *t = arg;
    struct group_wl *w = t->w;
    int now = __atomic_add_fetch(&w->running, 1, __ATOMIC_RELAXED);
    int rc = 0;

    WCHECK(w->limit == LFC_GROUP_NO_LIMIT || now <= w->limit,
           "group: %d tasks running, limit %d", now, w->limit);
    jitter(&t->rng);
    if (t->fails) {
        rc = w->fail_code;
    } else if (w->fail_code != 0 || w->parent_cancel) {
        /* Waits for the cancellation a failing task (or the parent)
         * causes. */
        int r = lfc_recv(lfc_ctx_done(ctx), NULL);
        int err = lfc_ctx_err(ctx);
        WCHECK(r == LFC_CLOSED && err == LFC_CANCELED,
               "group: done recv %d, ctx err %d", r, err);
    }
    __atomic_sub_fetch(&w->running, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&S.progress, 1, __ATOMIC_RELAXED);
    return rc;
}

static void
group_round(uint64_t *rng, struct tally *tl)
{
    struct group_wl w = {0};
    unsigned n = (unsigned)rnd(rng, 1, 10);
    struct group_task ts[10];
    struct later pc = {0};

    w.limit = one_in(rng, 2) ? LFC_GROUP_NO_LIMIT : (int)rnd(rng, 1, 4);
    w.parent_cancel = one_in(rng, 4);
    w.fail_code = w.parent_cancel || one_in(rng, 3) ? 0 : (int)rnd(rng, 1, 99);
    w.parent = xctx(lfc_ctx_with_cancel(lfc_ctx_background()), "group parent");
    lfc_group *g = lfc_group_new(w.parent);
    if (!g)
        abort();
    if (w.limit != LFC_GROUP_NO_LIMIT)
        WCHECK(lfc_group_set_limit(g, w.limit) == LFC_OK, "group: set_limit");
    if (w.parent_cancel) {
        /* From another thread: with a limit, lfc_group_go below blocks
         * while waiting tasks hold every slot, until this cancel. */
        pc.ctx = w.parent;
        later_start(&pc, rng, 2 * LFC_TEST_MS);
    }
    for (unsigned i = 0; i < n; i++) {
        /* With a limit the failing task goes first: waiting tasks ahead of
         * it could take every slot and wait forever. */
        ts[i] = (struct group_task){
            .w = &w,
            .fails = w.fail_code != 0 &&
                     (i == 0 || (w.limit == LFC_GROUP_NO_LIMIT &&
                                 one_in(rng, 4))),
            .rng = mix_seed(rng_next(rng))};
        int rc = one_in(rng, 2) ? lfc_group_try_go(g, group_task_main, &ts[i])
                                : LFC_AGAIN;
        if (rc == LFC_AGAIN)
            rc = lfc_group_go(g, group_task_main, &ts[i]);
        WCHECK(rc == LFC_OK, "group: go: %d", rc);
    }
    if (w.parent_cancel)
        xpthread_join(pc.thread);
    int got = lfc_group_wait(g);
    WCHECK(got == w.fail_code, "group: wait returned %d, want %d", got,
           w.fail_code);
    WCHECK(lfc_ctx_err(lfc_group_ctx(g)) == LFC_CANCELED,
           "group: ctx live after wait");
    WCHECK(w.running == 0, "group: %d tasks running after wait", w.running);
    tally_add(tl, 0, 3);
    lfc_group_free(g);
    lfc_ctx_free(w.parent);
}

static void
wl_groups(uint64_t seed)
{
    uint64_t rng = seed;
    unsigned n = (unsigned)rnd(&rng, 5, 40);
    struct tally tl = {0, 0};
    round_note("groups(phases=%u)", n);
    for (unsigned i = 0; i < n; i++) {
        if (one_in(&rng, 2))
            wg_phase(&rng, &tl);
        else
            group_round(&rng, &tl);
        tally_flush(&tl);
    }
}

/* ------------------------------------------------------------------------ */
/* timers: lfc_after, stoppable timers, tickers, contexts.                  */

static void
timer_after_once(uint64_t *rng, struct tally *tl)
{
    int64_t ns = (int64_t)rnd(rng, 0, 2 * (uint64_t)LFC_TEST_MS);
    int64_t made = lfc_now_ns(), v = 0;
    lfc_chan *c = lfc_after(ns);
    if (!c)
        abort();
    if (one_in(rng, 3)) { /* abandoned before (or after) it fires */
        lfc_chan_free(c);
        return;
    }
    int rc = lfc_recv(c, &v);
    WCHECK(rc == LFC_OK && v >= made + ns && lfc_now_ns() >= made + ns,
           "timers: lfc_after(%" PRId64 "): status %d, %" PRId64 " ns early",
           ns, rc, made + ns - v);
    tally_check(tl);
    lfc_chan_free(c);
}

static void
timer_stop_once(uint64_t *rng, struct tally *tl)
{
    int64_t ns = (int64_t)rnd(rng, 0, 1 * (uint64_t)LFC_TEST_MS), v;
    lfc_timer *t = lfc_timer_after(ns);
    if (!t)
        abort();
    if (one_in(rng, 2))
        spin_ns((int64_t)rnd(rng, 0, 2 * (uint64_t)LFC_TEST_MS));
    bool stopped = lfc_timer_stop(t);
    int rc = lfc_try_recv(lfc_timer_chan(t), &v);
    /* Stopped while pending: nothing was sent. Not stopped: it had fired,
     * so its value is there. */
    WCHECK(rc == (stopped ? LFC_AGAIN : LFC_OK),
           "timers: stop returned %d, then try_recv %d", stopped, rc);
    WCHECK(!lfc_timer_stop(t), "timers: second stop returned true");
    tally_add(tl, 0, 2);
    lfc_timer_free(t);
}

static void
timer_tick_once(uint64_t *rng, struct tally *tl)
{
    int64_t period = (int64_t)rnd(rng, 20 * LFC_TEST_US, 1 * LFC_TEST_MS);
    int64_t start = lfc_now_ns(), prev = 0, v;
    unsigned n = (unsigned)rnd(rng, 1, 5);
    lfc_timer *t = lfc_tick(period);
    if (!t)
        abort();
    for (unsigned i = 0; i < n; i++) {
        int rc = lfc_recv(lfc_timer_chan(t), &v);
        WCHECK(rc == LFC_OK && v >= start + period && v > prev,
               "timers: tick %u of period %" PRId64 ": status %d, value %" PRId64
               " after %" PRId64 " (start %" PRId64 ")",
               i, period, rc, v, prev, start);
        prev = v;
        tally_check(tl);
    }
    lfc_timer_free(t);
}

static void
ctx_tree_once(uint64_t *rng, struct tally *tl)
{
    lfc_ctx *root = xctx(lfc_ctx_with_cancel(lfc_ctx_background()), "ctx");
    lfc_ctx *kids[4];
    unsigned n = (unsigned)rnd(rng, 1, 4);
    int64_t tmo = (int64_t)rnd(rng, 0, 2 * (uint64_t)LFC_TEST_MS);
    for (unsigned i = 0; i < n; i++)
        kids[i] = xctx(i % 2 ? lfc_ctx_with_cancel(i ? kids[i - 1] : root)
                             : lfc_ctx_with_timeout(root, tmo),
                       "ctx child");
    if (one_in(rng, 2)) {
        /* The deadline: done closes, the cause is LFC_TIMEDOUT (or the
         * parent's, for the cancel-children of a timed-out one). */
        int rc = lfc_recv(lfc_ctx_done(kids[0]), NULL);
        WCHECK(rc == LFC_CLOSED && lfc_ctx_err(kids[0]) == LFC_TIMEDOUT &&
                   lfc_now_ns() >= lfc_ctx_deadline(kids[0]),
               "timers: ctx timeout: recv %d err %d", rc,
               lfc_ctx_err(kids[0]));
        tally_check(tl);
    }
    lfc_ctx_cancel(root);
    /* When cancel returns, every descendant is cancelled and closed. */
    for (unsigned i = 0; i < n; i++) {
        int err = lfc_ctx_err(kids[i]);
        int rc = lfc_try_recv(lfc_ctx_done(kids[i]), NULL);
        WCHECK(rc == LFC_CLOSED && (err == LFC_CANCELED || err == LFC_TIMEDOUT),
               "timers: ctx child %u after cancel: done %d err %d", i, rc,
               err);
        tally_check(tl);
    }
    for (unsigned i = n; i-- > 0;)
        lfc_ctx_free(kids[i]);
    lfc_ctx_free(root);
}

static void
recv_ctx_timeout_once(uint64_t *rng, struct tally *tl)
{
    lfc_chan *c = xchan_new(rnd_cap(rng), sizeof(int64_t));
    lfc_ctx *ctx = xctx(lfc_ctx_with_timeout(lfc_ctx_background(),
                                             (int64_t)rnd(rng, 0, LFC_TEST_MS)),
                        "ctx");
    int64_t v;
    int rc = lfc_recv_ctx(c, &v, ctx);
    WCHECK(rc == LFC_TIMEDOUT, "timers: recv_ctx on a silent channel: %d",
           rc);
    tally_check(tl);
    check_ctx_status(tl, rc, ctx, "timers recv_ctx", 0);
    lfc_ctx_free(ctx);
    lfc_chan_free(c);
}

static void *
timer_thread(void *arg)
{
    struct worker *k = arg;
    struct tally tl = {0, 0};
    unsigned n = (unsigned)rnd(&k->rng, 10, 60);
    for (unsigned i = 0; i < n; i++) {
        switch (rng_next(&k->rng) % 5) {
        case 0:
            timer_after_once(&k->rng, &tl);
            break;
        case 1:
            timer_stop_once(&k->rng, &tl);
            break;
        case 2:
            timer_tick_once(&k->rng, &tl);
            break;
        case 3:
            ctx_tree_once(&k->rng, &tl);
            break;
        default:
            recv_ctx_timeout_once(&k->rng, &tl);
            break;
        }
        tally_flush(&tl);
    }
    return NULL;
}

static void
wl_timers(uint64_t seed)
{
    uint64_t rng = seed;
    unsigned nt = (unsigned)rnd(&rng, 1, 4);
    struct worker ks[4];
    round_note("timers(threads=%u)", nt);
    for (unsigned i = 0; i < nt; i++) {
        ks[i] = (struct worker){.id = i, .rng = mix_seed(seed + i + 1)};
        xpthread_create(&ks[i].thread, timer_thread, &ks[i]);
    }
    for (unsigned i = 0; i < nt; i++)
        xpthread_join(ks[i].thread);
}

/* ------------------------------------------------------------------------ */
/* reply: reply channels and detached generators (chan.h, "Ownership").     */

/* A request carries its reply channel: a reference of the worker's own. */
struct request {
    lfc_chan *reply;
    struct msg m; /* what the worker must send back */
};

struct reply_wl {
    lfc_chan *requests;
    uint64_t per_req;
};

static void *
reply_worker(void *arg)
{
    struct worker *k = arg;
    struct reply_wl *w = k->wl;
    struct request rq;
    int rc;
    /* Woken by a request or by the close after the last requester. */
    while ((rc = lfc_recv(w->requests, &rq)) == LFC_OK) {
        jitter(&k->rng);
        rc = lfc_send(rq.reply, &rq.m);
        WCHECK(rc == LFC_OK, "reply worker %u: reply send %d", k->id, rc);
        lfc_chan_free(rq.reply); /* the requester may have freed its own */
    }
    WCHECK(rc == LFC_CLOSED, "reply worker %u: recv %d", k->id, rc);
    return NULL;
}

static void *
reply_requester(void *arg)
{
    struct worker *k = arg;
    struct reply_wl *w = k->wl;
    struct tally tl = {0, 0};
    for (uint64_t seq = 0; seq < w->per_req; seq++) {
        lfc_chan *reply = xchan_new(one_in(&k->rng, 2) ? 0 : 1,
                                    sizeof(struct msg));
        struct request rq = {lfc_chan_dup(reply), msg_make(k->id, seq)};
        struct msg got;
        int rc = lfc_send(w->requests, &rq);
        WCHECK(rc == LFC_OK, "reply requester %u: request send %d", k->id, rc);
        if (rc != LFC_OK) {
            lfc_chan_free(rq.reply);
            lfc_chan_free(reply);
            break;
        }
        rc = lfc_recv(reply, &got);
        lfc_chan_free(reply); /* at once: the worker holds its own */
        WCHECK(rc == LFC_OK && got.producer == rq.m.producer &&
                   got.seq == rq.m.seq && got.pad == rq.m.pad,
               "reply requester %u: seq %" PRIu64 ": status %d, got (%" PRIu32
               ", %" PRIu64 ")",
               k->id, seq, rc, got.producer, got.seq);
        tally_add(&tl, 1, 1);
    }
    tally_flush(&tl);
    return NULL;
}

/* A detached generator: sends n values, closes, frees its reference. It
 * owns its argument (nobody joins it). */
struct generator {
    lfc_chan *ch;
    unsigned id;
    uint64_t n;
    uint64_t rng;
};

static void *
generator_main(void *arg)
{
    struct generator *g = arg;
    for (uint64_t seq = 0; seq < g->n; seq++) {
        struct msg m = msg_make(g->id, seq);
        int rc = lfc_send(g->ch, &m);
        WCHECK(rc == LFC_OK, "generator %u: send %d", g->id, rc);
        jitter(&g->rng);
    }
    WCHECK(lfc_close(g->ch) == LFC_OK, "generator %u: close failed", g->id);
    lfc_chan_free(g->ch); /* the consumer may have freed its own already */
    free(g);
    return NULL;
}

static void
start_detached_generator(lfc_chan *ch, unsigned id, uint64_t n, uint64_t seed)
{
    struct generator *g = malloc(sizeof(*g));
    pthread_attr_t attr;
    pthread_t t;
    if (!g || pthread_attr_init(&attr) != 0)
        abort();
    *g = (struct generator){lfc_chan_dup(ch), id, n, mix_seed(seed)};
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, generator_main, g) != 0)
        abort();
    pthread_attr_destroy(&attr);
}

static void
wl_reply(uint64_t seed)
{
    uint64_t rng = seed;
    struct reply_wl w;
    unsigned nreq = (unsigned)rnd(&rng, 1, 4), nwork = (unsigned)rnd(&rng, 1, 3);
    unsigned ngen = (unsigned)rnd(&rng, 1, 4);
    size_t cap = rnd_cap(&rng);
    struct worker ks[7];
    struct out_reader rs[4];
    struct tracker tr;
    uint64_t sent[4];

    w.per_req = rnd(&rng, 50, 1000);
    w.requests = xchan_new(cap, sizeof(struct request));
    uint64_t per_gen = rnd(&rng, 50, 2000);
    tracker_init(&tr, ngen, per_gen);
    round_note("reply(requesters=%u workers=%u queue=%zu n=%" PRIu64
               " generators=%u n=%" PRIu64 ")",
               nreq, nwork, cap, w.per_req, ngen, per_gen);
    for (unsigned i = 0; i < nreq + nwork; i++) {
        ks[i] = (struct worker){.wl = &w,
                                .id = i < nreq ? i : i - nreq,
                                .rng = mix_seed(seed + i + 1)};
        xpthread_create(&ks[i].thread,
                        i < nreq ? reply_requester : reply_worker, &ks[i]);
    }
    for (unsigned i = 0; i < ngen; i++) {
        lfc_chan *ch = xchan_new(rnd_cap(&rng), sizeof(struct msg));
        sent[i] = per_gen;
        start_detached_generator(ch, i, per_gen, seed + 50 + i);
        /* The reader's reference is the one lfc_chan_new gave; it frees
         * it below, on LFC_CLOSED, while the generator may still be in
         * lfc_close. */
        rs[i] = (struct out_reader){.ch = ch, .tr = &tr, .id = i,
                                    .rng = mix_seed(seed + 100 + i),
                                    .what = "generator reader"};
        xpthread_create(&rs[i].thread, out_reader_main, &rs[i]);
    }
    for (unsigned i = 0; i < nreq; i++)
        xpthread_join(ks[i].thread);
    WCHECK(lfc_close(w.requests) == LFC_OK, "reply: close failed");
    for (unsigned i = nreq; i < nreq + nwork; i++)
        xpthread_join(ks[i].thread);
    for (unsigned i = 0; i < ngen; i++) {
        xpthread_join(rs[i].thread);
        lfc_chan_free(rs[i].ch);
    }
    verify_round(&tr, sent, "generators");
    tracker_free(&tr);
    lfc_chan_free(w.requests);
}

/* ------------------------------------------------------------------------ */
/* The run: options, rounds, reporter and watchdog, verdict.                */

struct workload {
    const char *name;
    void (*run)(uint64_t seed);
};

static const struct workload workloads[] = {
    {"chan", wl_chan},   {"select", wl_select}, {"pool", wl_pool},
    {"merge", wl_merge}, {"fanout", wl_fanout}, {"sem", wl_sem},
    {"groups", wl_groups}, {"timers", wl_timers}, {"reply", wl_reply},
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static struct {
    double seconds;
    uint64_t seed;
    double report_s;
    double stall_s;
    double rss_margin_mb;
    bool enabled[NWORKLOADS];
} opt;

static uint64_t round_count[NWORKLOADS]; /* main thread only */

/* Quiescent RSS samples (after a round, every thread of it joined),
 * kept as the largest in the first and in the last third of the planned
 * run: no memory grows with the number of rounds. Main thread only. */
static struct {
    uint64_t first_max, last_max;
    uint64_t nfirst, nlast;
} rss_q;

static int64_t t_start;
static int reporter_stop; /* atomic */

static double
elapsed_s(void)
{
    return (double)(lfc_now_ns() - t_start) / 1e9;
}

static void
print_status_line(const char *tag)
{
    printf("lfc_soak: %s %7.1fs rounds %" PRIu64 " msgs %" PRIu64
           " checks %" PRIu64 " violations %lu rss %.1f MiB threads %d\n",
           tag, elapsed_s(), __atomic_load_n(&S.rounds, __ATOMIC_RELAXED),
           __atomic_load_n(&S.msgs, __ATOMIC_RELAXED),
           __atomic_load_n(&S.checks, __ATOMIC_RELAXED), violations(),
           (double)rss_bytes() / (1024.0 * 1024.0), threads_now());
    fflush(stdout);
}

static void
watchdog_fire(double stalled)
{
    char d[sizeof(desc)];
    round_describe_copy(d, sizeof(d));
    fprintf(stderr,
            "lfc_soak: WATCHDOG: no progress for %.0f s (a hang is a "
            "violation)\n  round %" PRIu64 " (seed %#" PRIx64 "): %s\n",
            stalled, __atomic_load_n(&S.rounds, __ATOMIC_RELAXED) + 1,
            opt.seed, d);
    print_status_line("at-hang");
    print_threads();
    fflush(stderr);
    abort();
}

/* Prints a status line every report_s and aborts on a stall. */
static void *
reporter_main(void *arg)
{
    uint64_t last = 0;
    double last_move = 0, next_report = opt.report_s;
    (void)arg;
    /* Polls every 100 ms; reporter_stop is seen on the poll. */
    while (!__atomic_load_n(&reporter_stop, __ATOMIC_ACQUIRE)) {
        lfc_test_sleep_ns(100 * LFC_TEST_MS);
        double now = elapsed_s();
        uint64_t p = __atomic_load_n(&S.progress, __ATOMIC_RELAXED) +
                     __atomic_load_n(&S.rounds, __ATOMIC_RELAXED);
        if (p != last) {
            last = p;
            last_move = now;
        } else if (now - last_move > opt.stall_s) {
            watchdog_fire(now - last_move);
        }
        if (now >= next_report) {
            print_status_line("at");
            next_report += opt.report_s;
        }
    }
    return NULL;
}

/* After a round: threads back to the baseline (waiting for joined threads
 * to leave /proc), at most one timer thread; then a quiescent sample. */
static void
after_round(int *baseline, const char *d)
{
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    int timer = 0, n = threads_but_timer(&timer);
    /* Woken by nothing: each poll rereads /proc. */
    while ((n != *baseline || timer > 1) && lfc_now_ns() < end) {
        lfc_test_sleep_ns(LFC_TEST_MS);
        n = threads_but_timer(&timer);
    }
    if (n != *baseline || timer > 1) {
        stress_fail("threads: %d after the round (baseline %d, lfc-timer %d) "
                    "after %s",
                    n, *baseline, timer, d);
        print_threads();
        *baseline = n; /* report a leak once, not every round */
    }
    double t = elapsed_s();
    uint64_t rss = rss_bytes();
    if (t <= opt.seconds / 3) {
        rss_q.nfirst++;
        if (rss > rss_q.first_max)
            rss_q.first_max = rss;
    } else if (t >= 2 * opt.seconds / 3) {
        rss_q.nlast++;
        if (rss > rss_q.last_max)
            rss_q.last_max = rss;
    }
}

/* The second workload of a round, on a thread of its own. */
struct side_run {
    pthread_t thread;
    const struct workload *wl;
    uint64_t seed;
};

static void *
side_run_main(void *arg)
{
    struct side_run *r = arg;
    r->wl->run(r->seed);
    return NULL;
}

/* One round: one workload, or two at once (one in three). */
static void
run_round(uint64_t round)
{
    uint64_t rs = mix_seed(opt.seed ^ mix_seed(round));
    uint64_t rng = rs;
    size_t picks[2];
    size_t npick = one_in(&rng, 3) ? 2 : 1;
    struct side_run side;

    /* The process-wide spin budget, between rounds: mostly adaptive,
     * sometimes park at once or after a few polls, so the parking paths
     * carry every hand-off. */
    int spin = LFC_SPIN_ADAPTIVE;
    if (one_in(&rng, 4))
        spin = one_in(&rng, 2) ? 0 : (int)rnd(&rng, 1, 64);
    lfc_spin_set_limit(spin);
    pthread_mutex_lock(&desc_mu);
    snprintf(desc, sizeof(desc), "#%" PRIu64 " spin=%d:", round, spin);
    pthread_mutex_unlock(&desc_mu);
    for (size_t i = 0; i < npick; i++) {
        do
            picks[i] = (size_t)(rng_next(&rng) % NWORKLOADS);
        while (!opt.enabled[picks[i]]);
        round_count[picks[i]]++;
    }
    if (npick == 2) {
        side = (struct side_run){.wl = &workloads[picks[1]],
                                 .seed = mix_seed(rs + 7)};
        xpthread_create(&side.thread, side_run_main, &side);
    }
    workloads[picks[0]].run(mix_seed(rs + 3));
    if (npick == 2)
        xpthread_join(side.thread);
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: lfc_soak [--seconds S] [--seed N] [--report S] "
               "[--stall S] [--scaled]\n"
               "                [--only NAME,...] [--rss-margin-mb M] "
               "[--inject-loss] [--list]\n"
               "(the opening comment of tests/soak/soak.c says more)\n");
}

static bool
enable_only(const char *list)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    memset(opt.enabled, 0, sizeof(opt.enabled));
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < NWORKLOADS; i++)
            if (strcmp(tok, workloads[i].name) == 0)
                break;
        if (i == NWORKLOADS) {
            fprintf(stderr, "lfc_soak: unknown workload '%s' (--list)\n",
                    tok);
            return false;
        }
        opt.enabled[i] = true;
    }
    return true;
}

/* Returns 0, or 2 after printing why the command line is bad. */
static int
parse_args(int argc, char **argv)
{
    bool scaled = false;
    opt.seconds = 60;
    opt.seed = rng_seed((uint64_t)getpid());
    opt.report_s = 5;
    opt.stall_s = 60;
    opt.rss_margin_mb = 8;
    for (size_t i = 0; i < NWORKLOADS; i++)
        opt.enabled[i] = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--scaled") == 0) {
            scaled = true;
            takes = false;
        } else if (strcmp(a, "--inject-loss") == 0) {
            inject_loss = true;
            takes = false;
        } else if (strcmp(a, "--list") == 0) {
            for (size_t w = 0; w < NWORKLOADS; w++)
                printf("%s\n", workloads[w].name);
            exit(0);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (!v) {
            usage(stderr);
            return 2;
        } else if (strcmp(a, "--seconds") == 0) {
            opt.seconds = atof(v);
        } else if (strcmp(a, "--seed") == 0) {
            opt.seed = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--report") == 0) {
            opt.report_s = atof(v);
        } else if (strcmp(a, "--stall") == 0) {
            opt.stall_s = atof(v);
        } else if (strcmp(a, "--rss-margin-mb") == 0) {
            opt.rss_margin_mb = atof(v);
        } else if (strcmp(a, "--only") == 0) {
            if (!enable_only(v))
                return 2;
        } else {
            usage(stderr);
            return 2;
        }
        if (takes)
            i++;
    }
    if (opt.seconds <= 0 || opt.report_s <= 0 || opt.stall_s <= 0) {
        usage(stderr);
        return 2;
    }
    if (scaled)
        opt.seconds *= lfc_test_scale();
    opt.stall_s *= lfc_test_timeout_mult();
    return 0;
}

/* The flatness verdict; true if flat or not judged. */
static bool
rss_verdict(void)
{
    double mib = 1024.0 * 1024.0;
    double limit = (double)rss_q.first_max * 1.10 + opt.rss_margin_mb * mib;
    printf("lfc_soak: rss after rounds: first third max %.1f MiB (%" PRIu64
           " samples), last third max %.1f MiB (%" PRIu64
           " samples), limit %.1f MiB\n",
           (double)rss_q.first_max / mib, rss_q.nfirst,
           (double)rss_q.last_max / mib, rss_q.nlast, limit / mib);
    if (opt.seconds < 30 || rss_q.nfirst == 0 || rss_q.nlast == 0) {
        printf("lfc_soak: rss verdict: not judged (run shorter than 30 s)\n");
        return true;
    }
    bool flat = (double)rss_q.last_max <= limit;
    printf("lfc_soak: rss verdict: %s\n", flat ? "flat" : "GROWING");
    return flat;
}

int
main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    pthread_t reporter;
    int timer = 0;
    if (rc != 0)
        return rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    t_start = lfc_now_ns();
    printf("lfc_soak: seed %#" PRIx64 " (--seed reproduces the rounds' "
           "choices), %.0f s, report every %.0f s, stall limit %.0f s\n",
           opt.seed, opt.seconds, opt.report_s, opt.stall_s);
    xpthread_create(&reporter, reporter_main, NULL);
    int baseline = threads_but_timer(&timer), first_baseline = baseline;
    int first_threads = threads_now();

    uint64_t round = 0;
    while (elapsed_s() < opt.seconds) {
        char d[sizeof(desc)];
        unsigned long before = violations();
        run_round(round);
        round_describe_copy(d, sizeof(d));
        after_round(&baseline, d);
        if (violations() != before)
            fprintf(stderr, "lfc_soak: violation(s) in round %s (seed %#" PRIx64
                            ")\n", d, opt.seed);
        __atomic_fetch_add(&S.rounds, 1, __ATOMIC_RELAXED);
        round++;
    }

    __atomic_store_n(&reporter_stop, 1, __ATOMIC_RELEASE);
    xpthread_join(reporter);
    print_status_line("end");
    printf("lfc_soak: workload runs (two in a round one time in three):");
    for (size_t i = 0; i < NWORKLOADS; i++)
        printf(" %s %" PRIu64, workloads[i].name, round_count[i]);
    printf("\n");
    printf("lfc_soak: threads after rounds: %d at the start, %d at the end "
           "(lfc-timer not counted; %d at the start, all threads)\n",
           first_baseline, baseline, first_threads);
    bool flat = rss_verdict();
    unsigned long v = violations();
    printf("lfc_soak: %s: %.1f s, %" PRIu64 " rounds, %" PRIu64
           " messages, %" PRIu64 " checks, %lu violations, seed %#" PRIx64
           "\n",
           v == 0 && flat ? "PASS" : "FAIL", elapsed_s(), round,
           __atomic_load_n(&S.msgs, __ATOMIC_RELAXED),
           __atomic_load_n(&S.checks, __ATOMIC_RELAXED), v, opt.seed);
    return v == 0 && flat ? 0 : 1;
}
