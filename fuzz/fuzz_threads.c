/* SPDX-License-Identifier: MIT */
/*
 * fuzz_threads: two or three threads run scripts of channel calls that the
 * input decides; afterwards every value is accounted for.
 *
 * Input: a header (thread count, one or two channels and their
 * capacities 0..4 or unbounded, when the main thread closes them,
 * whether it then lets go of them at once, whether the batch calls are
 * in the step set), then a list of
 * steps, each naming its thread, how often that thread yields before it,
 * the call (send, try_send, send_until, recv, try_recv, recv_until, a
 * select of one to three cases, close, len; and with the batch calls, a
 * batch send or receive of 0..BATCH values in its blocking, try or
 * _until form) and its arguments. Each
 * thread runs its own steps in input order; the threads start together
 * behind a barrier and the scheduler (helped by the yields, and in the
 * libFuzzer build by LFC_DEBUG_YIELD) decides the interleaving.
 *
 * Termination: timed calls wait at most a millisecond. Blocking calls may
 * wait for a partner that never comes, so the main thread closes every
 * channel once all threads have finished, or after the input's delay
 * (0 to 2 ms) if not: each blocked call then returns, and the rest of
 * every script runs on closed channels, where nothing blocks. A thread
 * still running STUCK_NS after the close is a lost wake-up: abort.
 *
 * References: each thread holds its own reference to every channel and
 * frees it when its script is done. In detached mode the main thread
 * frees its own right after closing, so the channels are destroyed by
 * whichever thread finishes last (ASan sees any use after that); the
 * final drain and the "every value sent arrived" check are then skipped.
 *
 * Values are 16 bytes, (sender, channel, sequence) and its complement, so
 * a torn copy is caught. After the threads are joined, the main thread
 * drains every channel (try_recv must give the buffered values and then
 * LFC_CLOSED, never LFC_AGAIN), and checks, as chan.h and select.h
 * promise:
 *   - every value whose send (or select send case) returned LFC_OK, and
 *     each of the first *sent values of a batch send, was received
 *     exactly once; no other value was received at all (a send that
 *     failed, a select case that was not chosen, a batch's values from
 *     *sent on, enqueued nothing);
 *   - each receiver got each sender's values on a channel in the order
 *     sent, and the final drain got none older than any a thread got;
 *   - every status is one its call documents, with its count for a
 *     batch (chan.h "Batches": LFC_OK with all n sent, or, for the try
 *     form, 1..n; a receive's LFC_OK with 1..max values, every other
 *     status with *got 0; an empty batch is LFC_OK at once, closed or
 *     not); a select completed exactly one case and wrote no other
 *     case's status;
 *   - unbounded channels: a send (single, batch, select case) never
 *     gives LFC_AGAIN or LFC_TIMEDOUT, a batch send stops short only on
 *     a closed channel, a select with a send case on one always
 *     completes;
 *   - exactly one lfc_close per channel returned LFC_OK;
 *   - in each thread's program order: once it has seen a channel closed
 *     (its own close, a send that gave LFC_CLOSED, or the main thread's
 *     close having returned), sends on it give LFC_CLOSED (try_send too,
 *     never LFC_AGAIN), receives never fail with LFC_AGAIN or
 *     LFC_TIMEDOUT, a select with a case on it completes one, and once a
 *     receive gave LFC_CLOSED every later one does;
 *   - lfc_chan_len never exceeds the capacity (0 when unbuffered).
 */
#include <lfchan.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <time.h>

#include "fuzz_input.h"

#define US ((int64_t)1000)
#define MS ((int64_t)1000000)
#define SEC ((int64_t)1000000000)
/* A thread not done this long after the close is stuck. */
#define STUCK_NS (60 * SEC)

/* BATCH: the largest batch; a step sends at most that many values. */
enum { MAXT = 3, MAXCH = 2, MAXOPS = 40, BATCH = 5 };
enum { MAXSEQ = MAXOPS * BATCH + 1, MAXGOT = MAXOPS * BATCH };
enum {
    K_SEND,
    K_TRY_SEND,
    K_SEND_UNTIL,
    K_RECV,
    K_TRY_RECV,
    K_RECV_UNTIL,
    K_SELECT,
    K_SELECT2, /* more selects: they cover the most code */
    K_CLOSE,
    K_LEN,
    NKINDS, /* the step set without batches (header bit 3 clear) */
    /* With header bit 3 set: */
    K_SEND_MANY = NKINDS,
    K_RECV_MANY,
    NKINDS_BATCH
};

struct msg {
    uint64_t v; /* sender + 1 << 40 | channel << 32 | seq */
    uint64_t nv; /* ~v */
};

struct step {
    uint8_t kind, yields, a, b, c;
};

struct thread {
    int id;
    pthread_t th;
    struct step steps[MAXOPS];
    int nsteps;
    int finished; /* set (release) when the script is done */
    uint64_t seq[MAXCH];
    /* Everything it received, in order. */
    uint64_t got[MAXGOT];
    int ngot;
    bool saw_closed[MAXCH];     /* a close, or a send that gave CLOSED */
    int why_closed[MAXCH];      /* what told it (for messages) */
    bool saw_recv_closed[MAXCH]; /* a receive that gave CLOSED */
};

static struct {
    int nthreads, nch;
    bool batches; /* the step set includes K_SEND_MANY, K_RECV_MANY */
    lfc_chan *ch[MAXCH];
    size_t cap[MAXCH]; /* SIZE_MAX: unbounded */
    bool unb[MAXCH];
    struct thread t[MAXT];
    /* The result of each send attempt: -100 never made, else a status. */
    int sent[MAXT][MAXCH][MAXSEQ];
    int closes_ok[MAXCH];
    int main_closed; /* set (release) once the main thread's closes returned */
    pthread_barrier_t start;
} g;

static const int64_t waits[] = {0, 10 * US, 200 * US, 1 * MS};

static uint64_t
make_v(int sender, int ch, uint64_t seq)
{
    return ((uint64_t)(sender + 1) << 40) | ((uint64_t)ch << 32) | seq;
}

static int
v_sender(uint64_t v)
{
    return (int)(v >> 40) - 1;
}

static int
v_chan(uint64_t v)
{
    return (int)((v >> 32) & 0xff);
}

static unsigned
v_seq(uint64_t v)
{
    return (unsigned)(v & 0xffffffffu);
}

/* A new value for a send by thread t on channel c, recorded as tried. */
static struct msg
new_msg(struct thread *t, int c)
{
    uint64_t s = t->seq[c]++;
    FZ_CHECK(s < MAXSEQ, "too many sends");
    uint64_t v = make_v(t->id, c, s);
    g.sent[t->id][c][s] = 1; /* in flight: a status comes later */
    return (struct msg){v, ~v};
}

static void
note_sent(const struct msg *m, int status)
{
    g.sent[v_sender(m->v)][v_chan(m->v)][v_seq(m->v)] = status;
}

static void
note_got(struct thread *t, int c, const struct msg *m)
{
    FZ_CHECK(m->nv == ~m->v, "torn value %llx/%llx", (unsigned long long)m->v,
             (unsigned long long)m->nv);
    FZ_CHECK(v_chan(m->v) == c && v_sender(m->v) >= 0 &&
                 v_sender(m->v) < g.nthreads && v_seq(m->v) < MAXSEQ,
             "value %llx on channel %d was never made",
             (unsigned long long)m->v, c);
    FZ_CHECK(t->ngot < MAXGOT, "too many receipts");
    t->got[t->ngot++] = m->v;
}

static void
check_send_status(struct thread *t, int c, int r, int failed, const char *w)
{
    FZ_CHECK(r == LFC_OK || r == LFC_CLOSED || (failed && r == failed),
             "%s: status %d", w, r);
    if (t->saw_closed[c])
        FZ_EXPECT(r, LFC_CLOSED, "send after this thread saw the close");
    if (r == LFC_CLOSED && !t->saw_closed[c]) {
        t->saw_closed[c] = true;
        t->why_closed[c] = 2;
    }
}

static void
check_recv_status(struct thread *t, int c, int r, int failed, const char *w)
{
    FZ_CHECK(r == LFC_OK || r == LFC_CLOSED || (failed && r == failed),
             "%s: status %d", w, r);
    if (t->saw_closed[c] && failed)
        FZ_CHECK(r != failed, "%s on a channel seen closed gave %d", w, r);
    if (t->saw_recv_closed[c])
        FZ_EXPECT(r, LFC_CLOSED, "receive after one gave LFC_CLOSED");
    if (r == LFC_CLOSED && !t->saw_closed[c])
        t->why_closed[c] = 4;
    if (r == LFC_CLOSED)
        t->saw_closed[c] = t->saw_recv_closed[c] = true;
}

static void
do_send(struct thread *t, const struct step *s, int c)
{
    struct msg m = new_msg(t, c);
    int r, failed = 0;
    if (s->kind == K_SEND) {
        r = lfc_send(g.ch[c], &m);
    } else if (s->kind == K_TRY_SEND) {
        r = lfc_try_send(g.ch[c], &m);
        failed = LFC_AGAIN;
    } else {
        r = lfc_send_until(g.ch[c], &m, lfc_now_ns() + waits[s->b % 4]);
        failed = LFC_TIMEDOUT;
    }
    if (g.unb[c])
        failed = 0; /* never full: LFC_OK or LFC_CLOSED */
    note_sent(&m, r);
    check_send_status(t, c, r, failed, "send");
}

static void
do_recv(struct thread *t, const struct step *s, int c)
{
    struct msg m;
    memset(&m, 0xa5, sizeof(m));
    int r, failed = 0;
    if (s->kind == K_RECV) {
        r = lfc_recv(g.ch[c], &m);
    } else if (s->kind == K_TRY_RECV) {
        r = lfc_try_recv(g.ch[c], &m);
        failed = LFC_AGAIN;
    } else {
        r = lfc_recv_until(g.ch[c], &m, lfc_now_ns() + waits[s->b % 4]);
        failed = LFC_TIMEDOUT;
    }
    check_recv_status(t, c, r, failed, "recv");
    if (r == LFC_OK)
        note_got(t, c, &m);
}

/* A select of 1..3 cases: a's bits say which channel and direction each
 * has, b the variant (blocking, try, until; fair or biased). */
static void
do_select(struct thread *t, const struct step *s)
{
    lfc_case cases[3];
    struct msg bufs[3];
    int chan_of[3];
    int n = 1 + s->a % 3;
    unsigned variant = s->b % 6;
    int64_t deadline = lfc_now_ns() + waits[s->c % 4];

    for (int k = 0; k < n; k++) {
        unsigned bits = (unsigned)s->a >> (2 + 2 * k);
        int c = (int)(bits & 1) % g.nch;
        bool send = bits & 2;
        chan_of[k] = c;
        if (send)
            bufs[k] = new_msg(t, c);
        else
            memset(&bufs[k], 0xa5, sizeof(bufs[k]));
        cases[k] = (lfc_case){.ch = g.ch[c],
                              .dir = send ? LFC_SEND : LFC_RECV,
                              .buf = &bufs[k],
                              .status = 777};
    }
    int r;
    bool biased = variant >= 3;
    switch (variant % 3) {
    case 0:
        r = biased ? lfc_select_biased(cases, n) : lfc_select(cases, n);
        break;
    case 1:
        r = biased ? lfc_try_select_biased(cases, n)
                   : lfc_try_select(cases, n);
        break;
    default:
        r = biased ? lfc_select_biased_until(cases, n, deadline)
                   : lfc_select_until(cases, n, deadline);
        break;
    }
    if (r < 0) {
        /* A case on a channel this thread knows is closed is ready: a
         * send (LFC_CLOSED), a receive too (a value, or LFC_CLOSED). */
        int want = variant % 3 == 1 ? LFC_AGAIN : LFC_TIMEDOUT;
        FZ_CHECK(variant % 3 != 0 && r == want, "select variant %u gave %d",
                 variant, r);
        for (int k = 0; k < n; k++)
            FZ_CHECK(cases[k].dir != LFC_SEND || !g.unb[chan_of[k]],
                     "select variant %u gave %d with a send case on an "
                     "unbounded channel (always ready)", variant, r);
        for (int k = 0; k < n; k++)
            FZ_CHECK(!t->saw_closed[chan_of[k]],
                     "select variant %u gave %d, but its case %d (%s of %d "
                     "cases) is on channel %d (capacity %zu), which this "
                     "thread saw closed (how: %d, 1 own close, 2 send "
                     "CLOSED, 3 main's close, 4 recv CLOSED)",
                     variant, r, k, cases[k].dir == LFC_SEND ? "send" : "recv",
                     n, chan_of[k], g.cap[chan_of[k]],
                     t->why_closed[chan_of[k]]);
    } else {
        FZ_CHECK(r < n, "select returned %d of %d cases", r, n);
    }
    for (int k = 0; k < n; k++) {
        int c = chan_of[k];
        bool send = cases[k].dir == LFC_SEND;
        if (k != r) {
            FZ_CHECK(cases[k].status == 777, "select wrote case %d's status "
                     "(chose %d)", k, r);
            if (send)
                note_sent(&bufs[k], LFC_AGAIN); /* must not arrive */
            continue;
        }
        int st = cases[k].status;
        FZ_CHECK(st == LFC_OK || st == LFC_CLOSED, "select case status %d",
                 st);
        if (send) {
            note_sent(&bufs[k], st);
            check_send_status(t, c, st, 0, "select send");
        } else {
            check_recv_status(t, c, st, 0, "select recv");
            if (st == LFC_OK)
                note_got(t, c, &bufs[k]);
        }
    }
}

/* A batch send of n = (a >> 1) % (BATCH + 1) values; b: the form (b % 3:
 * lfc_send_many, lfc_try_send_many, lfc_send_many_until) and the wait. */
static void
do_send_many(struct thread *t, const struct step *s, int c)
{
    static const char *names[] = {"lfc_send_many", "lfc_try_send_many",
                                  "lfc_send_many_until"};
    struct msg m[BATCH];
    size_t n = (size_t)(s->a >> 1) % (BATCH + 1);
    unsigned form = s->b % 3;
    const char *w = names[form];
    int64_t deadline = lfc_now_ns() + waits[(s->b >> 2) % 4];
    for (size_t i = 0; i < n; i++)
        m[i] = new_msg(t, c);
    bool was_closed = t->saw_closed[c];
    size_t sent = 999;
    int r = form == 0   ? lfc_send_many(g.ch[c], m, n, &sent)
            : form == 1 ? lfc_try_send_many(g.ch[c], m, n, &sent)
                        : lfc_send_many_until(g.ch[c], m, n, &sent, deadline);
    FZ_CHECK(sent <= n, "%s: *sent %zu of %zu", w, sent, n);
    for (size_t i = 0; i < n; i++)
        note_sent(&m[i], i < sent ? LFC_OK : r == LFC_OK ? LFC_AGAIN : r);
    if (n == 0) {
        FZ_CHECK(r == LFC_OK && sent == 0, "%s of none: %d, *sent %zu", w, r,
                 sent);
        return;
    }
    int failed = g.unb[c]    ? 0
                 : form == 1 ? LFC_AGAIN
                 : form == 2 ? LFC_TIMEDOUT
                             : 0;
    bool bad_fail = r != LFC_CLOSED && !(failed && r == failed);
    if (r == LFC_OK)
        FZ_CHECK(form == 1 ? sent > 0 : sent == n,
                 "%s: LFC_OK with %zu of %zu sent", w, sent, n);
    else
        FZ_CHECK(!bad_fail && (form == 1 ? sent == 0 : sent < n),
                 "%s: status %d with %zu of %zu sent (capacity %zu)", w, r,
                 sent, n, g.cap[c]);
    if (was_closed)
        FZ_CHECK(r == LFC_CLOSED && sent == 0,
                 "%s after this thread saw the close: %d, %zu sent", w, r,
                 sent);
    if (g.unb[c] && sent < n)
        FZ_CHECK(lfc_chan_closed(g.ch[c]),
                 "%s on an unbounded channel stopped at %zu of %zu, open", w,
                 sent, n);
    if (r == LFC_CLOSED && !t->saw_closed[c]) {
        t->saw_closed[c] = true;
        t->why_closed[c] = 2;
    }
}

/* A batch receive of up to max = (a >> 1) % (BATCH + 1) values; b: the
 * form (lfc_recv_many, lfc_try_recv_many, lfc_recv_many_until), the wait. */
static void
do_recv_many(struct thread *t, const struct step *s, int c)
{
    static const char *names[] = {"lfc_recv_many", "lfc_try_recv_many",
                                  "lfc_recv_many_until"};
    struct msg out[BATCH + 1];
    size_t max = (size_t)(s->a >> 1) % (BATCH + 1);
    unsigned form = s->b % 3;
    const char *w = names[form];
    int64_t deadline = lfc_now_ns() + waits[(s->b >> 2) % 4];
    memset(out, 0xa5, sizeof(out));
    size_t got = 999;
    int r = form == 0   ? lfc_recv_many(g.ch[c], out, max, &got)
            : form == 1 ? lfc_try_recv_many(g.ch[c], out, max, &got)
                        : lfc_recv_many_until(g.ch[c], out, max, &got,
                                              deadline);
    FZ_CHECK(got <= max, "%s: *got %zu of %zu", w, got, max);
    const uint8_t *tail = (const uint8_t *)&out[got];
    for (size_t i = 0; i < (BATCH + 1 - got) * sizeof(out[0]); i++)
        FZ_CHECK(tail[i] == 0xa5, "%s: wrote past *got %zu", w, got);
    if (max == 0) {
        FZ_CHECK(r == LFC_OK && got == 0, "%s of none: %d, *got %zu", w, r,
                 got);
        return;
    }
    FZ_CHECK((r == LFC_OK) == (got > 0), "%s: status %d with *got %zu", w, r,
             got);
    int failed = form == 1 ? LFC_AGAIN : form == 2 ? LFC_TIMEDOUT : 0;
    check_recv_status(t, c, r, failed, w);
    for (size_t i = 0; i < got; i++)
        note_got(t, c, &out[i]);
}

static void
run_step(struct thread *t, const struct step *s)
{
    for (int i = 0; i < s->yields; i++)
        sched_yield();
    /* The main thread's lfc_close calls have returned: from now on this
     * thread's sends must see the channels closed. */
    if (__atomic_load_n(&g.main_closed, __ATOMIC_ACQUIRE))
        for (int k = 0; k < g.nch; k++)
            if (!t->saw_closed[k]) {
                t->saw_closed[k] = true;
                t->why_closed[k] = 3;
            }
    int c = s->a % g.nch;
    switch (s->kind) {
    case K_SEND:
    case K_TRY_SEND:
    case K_SEND_UNTIL: do_send(t, s, c); break;
    case K_RECV:
    case K_TRY_RECV:
    case K_RECV_UNTIL: do_recv(t, s, c); break;
    case K_SELECT:
    case K_SELECT2: do_select(t, s); break;
    case K_SEND_MANY: do_send_many(t, s, c); break;
    case K_RECV_MANY: do_recv_many(t, s, c); break;
    case K_CLOSE: {
        int r = lfc_close(g.ch[c]);
        FZ_CHECK(r == LFC_OK || r == LFC_CLOSED, "close: %d", r);
        if (r == LFC_OK)
            __atomic_fetch_add(&g.closes_ok[c], 1, __ATOMIC_RELAXED);
        if (!t->saw_closed[c])
            t->why_closed[c] = 1;
        t->saw_closed[c] = true;
        break;
    }
    case K_LEN:
    default: {
        size_t len = lfc_chan_len(g.ch[c]);
        FZ_CHECK(len <= g.cap[c], "lfc_chan_len %zu above capacity %zu", len,
                 g.cap[c]);
        break;
    }
    }
}

static void *
thread_main(void *arg)
{
    struct thread *t = arg;
    pthread_barrier_wait(&g.start);
    for (int i = 0; i < t->nsteps; i++)
        run_step(t, &t->steps[i]);
    /* Its own references (chan.h's rule): in detached mode the last one
     * to go, on whichever thread finishes last, destroys the channels. */
    for (int c = 0; c < g.nch; c++)
        lfc_chan_free(g.ch[c]);
    __atomic_store_n(&t->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void
sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};
    nanosleep(&ts, NULL);
}

static bool
all_finished(void)
{
    for (int i = 0; i < g.nthreads; i++)
        if (!__atomic_load_n(&g.t[i].finished, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

/* Wait until every thread is done or until the deadline. */
static bool
wait_finished(int64_t deadline)
{
    /* Woken by nothing: each poll rechecks (a fuzz driver, not a test of
     * waking). */
    while (!all_finished()) {
        if (lfc_now_ns() >= deadline)
            return false;
        sleep_ns(20 * US);
    }
    return true;
}

static void
parse(struct fz_in *in)
{
    uint8_t h = fz_u8(in);
    g.nthreads = 2 + (h & 1);
    g.nch = 1 + ((h >> 1) & 1);
    for (int c = 0; c < g.nch; c++) {
        static const size_t caps[] = {0, 1, 2, 4};
        g.cap[c] = caps[(h >> (2 + 2 * c)) & 3];
        /* Bits 6 / 7: channel 0 / 1 unbounded instead. */
        g.unb[c] = (h >> (6 + c)) & 1;
        if (g.unb[c])
            g.cap[c] = SIZE_MAX;
    }
    unsigned nkinds = g.batches ? NKINDS_BATCH : NKINDS;
    for (int i = 0; i < g.nthreads; i++)
        g.t[i].id = i;
    /* Each step: who and how many yields, what, three argument bytes. */
    while (fz_more(in)) {
        uint8_t who = fz_u8(in);
        struct thread *t = &g.t[who % g.nthreads];
        struct step s = {.kind = (uint8_t)(fz_u8(in) % nkinds),
                         .yields = (uint8_t)((who >> 4) & 3),
                         .a = fz_u8(in)};
        if (s.kind == K_SEND_UNTIL || s.kind == K_RECV_UNTIL ||
            s.kind == K_SELECT || s.kind == K_SELECT2 ||
            s.kind == K_SEND_MANY || s.kind == K_RECV_MANY)
            s.b = fz_u8(in);
        if (s.kind == K_SELECT || s.kind == K_SELECT2)
            s.c = fz_u8(in);
        if (t->nsteps < MAXOPS)
            t->steps[t->nsteps++] = s;
    }
}

/* The final drain of channel c after every thread was joined. */
static void
drain(int c, uint64_t *got, int *ngot, int max)
{
    struct msg m;
    int r;
    while ((r = lfc_try_recv(g.ch[c], &m)) == LFC_OK) {
        FZ_CHECK(m.nv == ~m.v && v_chan(m.v) == c && v_sender(m.v) >= 0 &&
                     v_sender(m.v) < g.nthreads && v_seq(m.v) < MAXSEQ,
                 "drained a value never made: %llx",
                 (unsigned long long)m.v);
        FZ_CHECK(*ngot < max, "drained more than was sent");
        got[(*ngot)++] = m.v;
    }
    FZ_EXPECT(r, LFC_CLOSED, "draining a closed channel");
}

/* Check every receipt; with `drain_all`, also drain the channels and check
 * that every value sent OK arrived (in detached mode the channels are
 * gone, with whatever they still buffered: at most once, then). */
static void
verify(bool drain_all)
{
    /* How often each value was received; order per receiver. */
    static uint8_t count[MAXT][MAXCH][MAXSEQ];
    static int thread_max[MAXT][MAXCH];
    static uint64_t drained[MAXCH * MAXT * MAXSEQ];
    int ndrained = 0;
    memset(count, 0, sizeof(count));

    for (int i = 0; i < g.nthreads; i++) {
        int last[MAXT][MAXCH];
        memset(last, -1, sizeof(last));
        struct thread *t = &g.t[i];
        for (int k = 0; k < t->ngot; k++) {
            uint64_t v = t->got[k];
            int s = v_sender(v), c = v_chan(v), q = (int)v_seq(v);
            FZ_CHECK(q > last[s][c], "thread %d got %d:%d seq %d after %d", i,
                     s, c, q, last[s][c]);
            last[s][c] = q;
            count[s][c][q]++;
        }
    }
    memset(thread_max, -1, sizeof(thread_max));
    for (int s = 0; s < g.nthreads; s++)
        for (int c = 0; c < g.nch; c++)
            for (int q = 0; q < MAXSEQ; q++)
                if (count[s][c][q])
                    thread_max[s][c] = q;

    for (int c = 0; c < g.nch && drain_all; c++) {
        int from = ndrained;
        drain(c, drained, &ndrained, (int)(sizeof(drained) / 8));
        int last[MAXT];
        for (int s = 0; s < MAXT; s++)
            last[s] = -1;
        for (int k = from; k < ndrained; k++) {
            uint64_t v = drained[k];
            int s = v_sender(v), q = (int)v_seq(v);
            FZ_CHECK(q > last[s] && q > thread_max[s][c],
                     "drain of %d: sender %d seq %d out of order", c, s, q);
            last[s] = q;
            count[s][c][q]++;
        }
    }
    for (int c = 0; c < g.nch; c++)
        FZ_EXPECT(g.closes_ok[c], 1, "lfc_close calls that returned OK");

    for (int s = 0; s < g.nthreads; s++)
        for (int c = 0; c < g.nch; c++)
            for (int q = 0; q < MAXSEQ; q++) {
                int st = g.sent[s][c][q];
                int n = count[s][c][q];
                if (st == LFC_OK)
                    FZ_CHECK(n == 1 || (!drain_all && n == 0),
                             "value %d:%d:%d sent OK, received %d times", s,
                             c, q, n);
                else
                    FZ_CHECK(n == 0, "value %d:%d:%d (send status %d) "
                             "received %d times", s, c, q, st, n);
            }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t close_after[] = {0, 50 * US, 500 * US, 2 * MS};
    struct fz_in in = {data, size};
    memset(&g, 0, sizeof(g));
    for (int s = 0; s < MAXT; s++)
        for (int c = 0; c < MAXCH; c++)
            for (int q = 0; q < MAXSEQ; q++)
                g.sent[s][c][q] = -100;
    uint8_t h0 = fz_u8(&in);
    int64_t delay = close_after[h0 & 3];
    bool detached = h0 & 4;
    /* Bit 3: the batch calls join the step set (the kinds from NKINDS on;
     * inputs without it decode as before they existed). */
    g.batches = h0 & 8;
    parse(&in);
    for (int c = 0; c < g.nch; c++) {
        g.ch[c] = g.unb[c] ? lfc_chan_new_unbounded(sizeof(struct msg))
                           : lfc_chan_new(g.cap[c], sizeof(struct msg));
        FZ_CHECK(g.ch[c], "lfc_chan_new");
        FZ_CHECK(lfc_chan_cap(g.ch[c]) == g.cap[c], "lfc_chan_cap");
        for (int i = 0; i < g.nthreads; i++)
            FZ_CHECK(lfc_chan_dup(g.ch[c]) == g.ch[c], "lfc_chan_dup");
    }
    pthread_barrier_init(&g.start, NULL, (unsigned)g.nthreads + 1);
    for (int i = 0; i < g.nthreads; i++)
        FZ_CHECK(pthread_create(&g.t[i].th, NULL, thread_main, &g.t[i]) == 0,
                 "pthread_create");
    pthread_barrier_wait(&g.start);

    wait_finished(lfc_now_ns() + delay);
    for (int c = 0; c < g.nch; c++)
        if (lfc_close(g.ch[c]) == LFC_OK)
            __atomic_fetch_add(&g.closes_ok[c], 1, __ATOMIC_RELAXED);
    __atomic_store_n(&g.main_closed, 1, __ATOMIC_RELEASE);
    if (detached) {
        /* Let go at once: the threads' references keep the channels. */
        for (int c = 0; c < g.nch; c++)
            lfc_chan_free(g.ch[c]);
    }
    FZ_CHECK(wait_finished(lfc_now_ns() + STUCK_NS),
             "a thread is still blocked long after every channel was closed");
    for (int i = 0; i < g.nthreads; i++)
        pthread_join(g.t[i].th, NULL);
    pthread_barrier_destroy(&g.start);

    verify(!detached);
    if (!detached)
        for (int c = 0; c < g.nch; c++)
            lfc_chan_free(g.ch[c]);
    return 0;
}
