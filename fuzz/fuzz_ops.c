/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ops: the input is a program of lfchan calls, run on one thread
 * against a reference model that says what each call must return.
 *
 * Each step reads an opcode byte and its argument bytes (fuzz_input.h:
 * past the end every byte reads as 0, and the program stops). The state is
 * a handful of slots: channels (user channels of capacity 0..4 or
 * unbounded and element size 0..40, lfc_after channels, timer and ticker
 * handles), contexts,
 * semaphores, wait groups and one worker pool. A step on an empty slot
 * passes NULL, which must give the documented LFC_EINVAL / 0 / no-op.
 *
 * The model is Go's channel semantics, single-threaded:
 *   - a buffered channel is a FIFO of at most cap values; an unbuffered
 *     one never finds a partner (no other thread), so its try forms fail
 *     unless it is closed, and its timed forms time out; an unbounded
 *     one is a FIFO without a bound (sends give LFC_OK or LFC_CLOSED, cap
 *     SIZE_MAX), but no send is made that would queue more than QMAX;
 *   - a batch call is the same number of single calls in order, stopping
 *     at the first that cannot complete: each of the *sent (*got) values
 *     is checked as a single call that succeeded, the one it stopped at
 *     as one that failed, then the status and count chan.h's "Batches"
 *     gives for that outcome (n == 0, bad arguments included);
 *   - a blocking call is made only when the model says it completes at
 *     once (or, for a timer's value, surely and soon); otherwise the step
 *     makes the call's try or timed form instead, so no input blocks for
 *     good;
 *   - timers fire on the timer thread, so their channels are the one
 *     place where the model is not exact. Such a channel is "maybe":
 *     MB_ONESHOT (one value will come: waited for only if the timer is
 *     soon, within 1 ms), MB_TICKER (values keep coming) or MB_FINAL (nothing more
 *     comes, but one value may already be buffered). A result is then
 *     checked against every outcome the model allows, and an observation
 *     that settles the question (a value received, a stop that says the
 *     timer fired) makes the model exact again. A timer's value must be at
 *     least its deadline, and a ticker's values never decrease;
 *   - contexts form a tree; cancellation reaches every live descendant,
 *     the first cause wins, deadlines are the earliest along the
 *     ancestors. A deadline that is near (neither surely past nor far) is
 *     settled at once: waited for, cancelled (then either cause is
 *     right) or freed, so the model knows every context's cause;
 *   - semaphore, wait group: the counters and the documented statuses
 *     for invalid weights and deltas;
 *   - the pool: every task whose submit returned LFC_OK runs exactly once
 *     (or is handed to the drop callback exactly once after
 *     lfc_pool_shutdown_now), every other task never; checked after
 *     lfc_pool_wait, shutdown and free, with the counters.
 * Every mismatch aborts with a message (FZ_CHECK).
 */
#include <lfchan.h>

#include <errno.h>
#include <stdbool.h>

#include "fuzz_input.h"
#include "lfc_unbounded_internal.h" /* lfc__chan_new_unbounded_at */

/* lfc_chan_new is fuzzed with sizes no allocator can serve: it must say
 * ENOMEM, so ASan and TSan must return NULL for them instead of stopping
 * (the options in the environment still win). */
const char *__asan_default_options(void);
const char *__tsan_default_options(void);
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
const char *
__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* ---- time -------------------------------------------------------------- */

#define US ((int64_t)1000)
#define SEC ((int64_t)1000000000)
/* A timer with a delay (or period) at most this fires soon enough to be
 * waited for. */
#define SOON_NS (1000 * US)
/* Far beyond any run: a timer or deadline that never comes. */
#define FAR_NS (3600 * SEC)
/* How long a call that must complete (a soon timer's value) may take
 * before the step calls it stuck: far above any load, a hang detector. */
#define STUCK_NS (60 * SEC)

static int64_t
sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* A deadline for a timed call: surely past (0..3), or a few microseconds
 * ahead (4..6), which a blocked call waits out and then times out. */
static int64_t
pick_deadline(struct fz_in *in, bool *past)
{
    static const int64_t ahead[] = {1 * US, 20 * US, 150 * US};
    unsigned k = fz_below(in, 7);
    int64_t now = lfc_now_ns();
    *past = k < 4;
    switch (k) {
    case 0: return INT64_MIN;
    case 1: return 0;
    case 2: return now - 1;
    case 3: return now - SEC;
    default: return now + ahead[k - 4];
    }
}

/* ---- channel slots ------------------------------------------------------ */

/* QMAX bounds the model's queue: an unbounded channel takes no send
 * (single or batch) that would make it hold more (the generator skips or
 * shortens it). BMAX: the largest batch; BBUF its buffer, canary after. */
enum { NCH = 4, QMAX = 32, BUFSZ = 64, BMAX = 8, BBUF = BMAX * 40 + 24 };
enum { CK_NONE, CK_USER, CK_AFTER, CK_TIMER, CK_TICKER };
enum { MB_NONE, MB_ONESHOT, MB_TICKER, MB_FINAL };

struct mval {
    uint64_t v;   /* a user value */
    bool timer;   /* or a timer's: any int64 >= lo */
    int64_t lo;
};

struct mchan {
    lfc_chan *ch;
    int kind;
    size_t cap, esz;
    struct mval q[QMAX]; /* what is surely buffered, oldest first */
    int qh, qn;
    bool closed;
    int refs;     /* references we hold (timer channels: dup'ed ones) */
    lfc_timer *t; /* CK_TIMER / CK_TICKER, until lfc_timer_free */
    int maybe;    /* MB_*: what the timer may still add */
    bool soon;    /* a MB_ONESHOT / MB_TICKER value comes within SOON_NS */
    int64_t lo;   /* a timer value is >= lo */
    int64_t last; /* the last ticker value received */
    bool unbounded; /* lfc_chan_new_unbounded: cap SIZE_MAX */
};

static struct mchan chans[NCH];
static uint64_t next_val;
static int trace = -1; /* LFC_FUZZ_TRACE set */

static bool
recv_only(const struct mchan *m)
{
    return m->kind == CK_TIMER || m->kind == CK_TICKER;
}

static void
q_push(struct mchan *m, struct mval v)
{
    FZ_CHECK(m->qn < QMAX, "model queue overflow");
    m->q[(m->qh + m->qn++) % QMAX] = v;
}

static struct mval
q_pop(struct mchan *m)
{
    struct mval v = m->q[m->qh];
    m->qh = (m->qh + 1) % QMAX;
    m->qn--;
    return v;
}

/* Readiness of a send or receive on a slot, as the model sees it. */
enum { NOT, MAYBE, READY };

static int
send_readiness(const struct mchan *m)
{
    if (m->closed)
        return READY; /* LFC_CLOSED */
    if ((size_t)m->qn >= m->cap)
        return NOT;
    return m->maybe != MB_NONE ? MAYBE : READY; /* the timer may fill it */
}

static int
recv_readiness(const struct mchan *m)
{
    if (m->qn > 0 || m->closed)
        return READY; /* a value, or (closed, drained) LFC_CLOSED */
    return m->maybe != MB_NONE ? MAYBE : NOT;
}

/* Whether a MAYBE receive surely completes soon (a timer about to fire). */
static bool
recv_arrives_soon(const struct mchan *m)
{
    return m->qn == 0 && m->soon &&
           (m->maybe == MB_ONESHOT || m->maybe == MB_TICKER);
}

static void
fill_canary(uint8_t *buf)
{
    memset(buf, 0xa5, BUFSZ);
}

static bool
canary_intact(const uint8_t *buf, size_t from)
{
    for (size_t i = from; i < BUFSZ; i++)
        if (buf[i] != 0xa5)
            return false;
    return true;
}

/* Check a timer value received into buf and settle the model. */
static void
got_timer_value(struct mchan *m, const uint8_t *buf, int64_t lo)
{
    int64_t v;
    memcpy(&v, buf, sizeof(v));
    FZ_CHECK(v >= lo, "timer value %lld before its deadline %lld",
             (long long)v, (long long)lo);
    if (m->maybe == MB_TICKER) {
        FZ_CHECK(v >= m->last, "ticker value %lld after %lld",
                 (long long)v, (long long)m->last);
        m->last = v;
    } else {
        m->maybe = MB_NONE;
    }
}

/*
 * Check the outcome r of a receive (buf the out buffer, NULL allowed for
 * esz 0) against the model, and apply it. `failed` is the status the call
 * gives when nothing is ready (LFC_AGAIN or LFC_TIMEDOUT).
 */
static void
check_recv(struct mchan *m, int r, const uint8_t *buf, int failed,
           const char *what)
{
    if (m->qn > 0) {
        FZ_EXPECT(r, LFC_OK, what);
        struct mval v = q_pop(m);
        if (buf && v.timer) {
            int64_t lo = v.lo;
            int keep = m->maybe;
            got_timer_value(m, buf, lo);
            m->maybe = keep; /* a known value settles nothing new */
        } else if (buf) {
            FZ_CHECK(fz_matches(v.v, buf, m->esz), "%s: wrong value", what);
        }
        if (buf)
            FZ_CHECK(canary_intact(buf, m->esz), "%s: wrote past elem", what);
        return;
    }
    if (m->maybe != MB_NONE) {
        int other = m->closed ? LFC_CLOSED : failed;
        FZ_CHECK(r == LFC_OK || r == other, "%s: got %d, expected %d or %d",
                 what, r, LFC_OK, other);
        if (r == LFC_OK) {
            if (buf)
                got_timer_value(m, buf, m->lo);
            else if (m->maybe != MB_TICKER)
                m->maybe = MB_NONE;
        } else if (m->maybe == MB_FINAL) {
            m->maybe = MB_NONE; /* seen empty, and nothing more comes */
        }
        if (buf && r != LFC_OK)
            FZ_CHECK(canary_intact(buf, 0), "%s: wrote on failure", what);
        return;
    }
    FZ_EXPECT(r, m->closed ? LFC_CLOSED : failed, what);
    if (buf)
        FZ_CHECK(canary_intact(buf, 0), "%s: wrote on failure", what);
}

/* Check the outcome r of a send of value v and apply it. */
static void
check_send(struct mchan *m, int r, uint64_t v, int failed, const char *what)
{
    if (recv_only(m)) {
        FZ_EXPECT(r, LFC_EINVAL, what);
        return;
    }
    int rd = send_readiness(m);
    if (rd == MAYBE) {
        FZ_CHECK(r == LFC_OK || r == failed, "%s: got %d, expected %d or %d",
                 what, r, LFC_OK, failed);
        if (r == LFC_OK) {
            /* The timer may now find the channel full and drop its value,
             * or fire after ours is received: it may come, but is no
             * longer sure to. */
            q_push(m, (struct mval){.v = v});
            m->soon = false;
        } else {
            /* Full: only the timer can have filled it. */
            q_push(m, (struct mval){.timer = true, .lo = m->lo});
            m->maybe = MB_NONE;
        }
        return;
    }
    if (rd == NOT) {
        FZ_EXPECT(r, failed, what);
        return;
    }
    FZ_EXPECT(r, m->closed ? LFC_CLOSED : LFC_OK, what);
    if (r == LFC_OK)
        q_push(m, (struct mval){.v = v});
}

/* An unbounded channel whose model queue is at QMAX: a send that would
 * enqueue is not made. */
static bool
model_full(const struct mchan *m)
{
    return m->unbounded && !m->closed && m->qn >= QMAX;
}

static void
slot_reset(struct mchan *m)
{
    memset(m, 0, sizeof(*m));
}

/* Drop every reference the model holds on slot s, and the timer. */
static void
slot_release(struct mchan *m)
{
    if (m->kind == CK_NONE)
        return;
    lfc_chan *ch = m->ch;
    if (m->t) {
        lfc_timer_free(m->t);
        m->t = NULL;
    }
    for (int i = 0; i < m->refs; i++)
        lfc_chan_free(ch);
    slot_reset(m);
}

static struct mchan *
pick_chan(struct fz_in *in)
{
    return &chans[fz_below(in, NCH)];
}

static void
op_chan_new(struct fz_in *in)
{
    static const size_t esizes[] = {0, 1, 4, 8, 24, 40};
    struct mchan *m = pick_chan(in);
    size_t cap = fz_below(in, 5);
    size_t esz = FZ_PICK(in, esizes);
    slot_release(m);
    lfc_chan *ch = lfc_chan_new(cap, esz);
    FZ_CHECK(ch, "lfc_chan_new(%zu, %zu) failed", cap, esz);
    m->ch = ch;
    m->kind = CK_USER;
    m->cap = cap;
    m->esz = esz;
    m->refs = 1;
}

/* An out-of-range lfc_chan_new must fail with EINVAL or ENOMEM. */
static void
op_chan_new_bad(struct fz_in *in)
{
    static const size_t caps[] = {LFC_CHAN_MAX_CAP + 1, SIZE_MAX};
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 64};
    bool big_cap = fz_u8(in) & 1;
    size_t cap = big_cap ? FZ_PICK(in, caps) : fz_below(in, 3);
    size_t esz = big_cap ? fz_below(in, 9) : FZ_PICK(in, sizes);
    errno = 0;
    lfc_chan *ch = lfc_chan_new(cap, esz);
    int e = errno;
    FZ_CHECK(!ch && (e == EINVAL || e == ENOMEM),
             "lfc_chan_new(%zu, %zu): %p errno %d", cap, esz, (void *)ch, e);
}

/* The value bytes to send and the element size to send them with. */
static uint64_t
make_value(const struct mchan *m, uint8_t *buf)
{
    uint64_t v = ++next_val;
    fill_canary(buf);
    fz_encode(v, buf, m->esz);
    return v;
}

/* Whether a step passes a NULL buffer (rare; legal only for esz 0). */
static bool
pick_null_buf(struct fz_in *in)
{
    return (fz_u8(in) & 7) == 7;
}

static void
op_send(struct fz_in *in, unsigned form)
{
    struct mchan *m = pick_chan(in);
    bool nullbuf = pick_null_buf(in);
    bool past = true;
    int64_t deadline = form == 2 ? pick_deadline(in, &past) : 0;
    uint8_t buf[BUFSZ];

    if (m->kind == CK_NONE) {
        fill_canary(buf);
        int r = form == 0   ? lfc_send(NULL, buf)
                : form == 1 ? lfc_try_send(NULL, buf)
                            : lfc_send_until(NULL, buf, deadline);
        FZ_EXPECT(r, LFC_EINVAL, "send on NULL");
        return;
    }
    uint64_t v = make_value(m, buf);
    const void *p = nullbuf ? NULL : buf;
    if (nullbuf && m->esz > 0) {
        int r = form == 1 ? lfc_try_send(m->ch, p)
                          : lfc_send_until(m->ch, p, deadline);
        FZ_EXPECT(r, LFC_EINVAL, "send with NULL elem");
        return;
    }
    if (model_full(m))
        return; /* the model holds no more (QMAX) */
    if (form == 0 && !recv_only(m) && send_readiness(m) == READY) {
        check_send(m, lfc_send(m->ch, p), v, LFC_OK, "lfc_send");
    } else if (form == 0 || form == 1) {
        check_send(m, lfc_try_send(m->ch, p), v, LFC_AGAIN, "lfc_try_send");
    } else {
        check_send(m, lfc_send_until(m->ch, p, deadline), v, LFC_TIMEDOUT,
                   "lfc_send_until");
    }
}

static void
op_recv(struct fz_in *in, unsigned form)
{
    struct mchan *m = pick_chan(in);
    bool nullbuf = pick_null_buf(in);
    bool past = true;
    int64_t deadline = form == 2 ? pick_deadline(in, &past) : 0;
    uint8_t buf[BUFSZ];
    fill_canary(buf);

    if (m->kind == CK_NONE) {
        int r = form == 0   ? lfc_recv(NULL, buf)
                : form == 1 ? lfc_try_recv(NULL, buf)
                            : lfc_recv_until(NULL, buf, deadline);
        FZ_EXPECT(r, LFC_EINVAL, "recv on NULL");
        FZ_CHECK(canary_intact(buf, 0), "recv on NULL wrote");
        return;
    }
    uint8_t *p = nullbuf ? NULL : buf;
    if (nullbuf && m->esz > 0) {
        int r = form == 1 ? lfc_try_recv(m->ch, p)
                          : lfc_recv_until(m->ch, p, deadline);
        FZ_EXPECT(r, LFC_EINVAL, "recv with NULL out");
        return;
    }
    int rd = recv_readiness(m);
    if (form == 0 && (rd == READY || recv_arrives_soon(m))) {
        /* Completes now, or as soon as the timer fires. */
        if (rd == READY) {
            check_recv(m, lfc_recv(m->ch, p), p, LFC_AGAIN, "lfc_recv");
        } else {
            int r = lfc_recv_until(m->ch, p, lfc_now_ns() + STUCK_NS);
            FZ_EXPECT(r, LFC_OK, "lfc_recv_until a soon timer");
            check_recv(m, r, p, LFC_TIMEDOUT, "lfc_recv_until timer");
        }
    } else if (form == 0 || form == 1) {
        check_recv(m, lfc_try_recv(m->ch, p), p, LFC_AGAIN, "lfc_try_recv");
    } else {
        check_recv(m, lfc_recv_until(m->ch, p, deadline), p, LFC_TIMEDOUT,
                   "lfc_recv_until");
    }
}

/* ---- unbounded channels and batches ------------------------------------- */

/* lfc_chan_new_unbounded: a FIFO without a capacity bound (the model's
 * QMAX aside), cap SIZE_MAX. Now and then its counters start just below
 * their wraparound (lfc_unbounded_internal.h), so lfc_chan_len is
 * checked across it; or the size is one no node can have (EINVAL). */
static void
op_chan_new_unbounded(struct fz_in *in)
{
    static const size_t esizes[] = {0, 1, 4, 8, 24, 40};
    static const uint64_t starts[] = {0, 0, 0, 0, 0, 0,
                                      ((uint64_t)1 << 38) - 3,
                                      UINT64_MAX - 2};
    struct mchan *m = pick_chan(in);
    size_t esz = FZ_PICK(in, esizes);
    unsigned f = fz_u8(in);
    if ((f & 15) == 15) {
        size_t bad = (f & 16) ? SIZE_MAX : SIZE_MAX - 15;
        errno = 0;
        lfc_chan *ch = lfc_chan_new_unbounded(bad);
        int e = errno;
        FZ_CHECK(!ch && e == EINVAL, "lfc_chan_new_unbounded(%zu): %p errno %d",
                 bad, (void *)ch, e);
        return;
    }
    uint64_t start = starts[f % 8];
    slot_release(m);
    lfc_chan *ch = start ? lfc__chan_new_unbounded_at(esz, start)
                         : lfc_chan_new_unbounded(esz);
    FZ_CHECK(ch, "lfc_chan_new_unbounded(%zu) failed", esz);
    FZ_CHECK(lfc_chan_cap(ch) == SIZE_MAX && lfc_chan_len(ch) == 0 &&
                 lfc_chan_elem_size(ch) == esz && !lfc_chan_closed(ch),
             "a new unbounded channel's shape");
    m->ch = ch;
    m->kind = CK_USER;
    m->cap = SIZE_MAX;
    m->esz = esz;
    m->refs = 1;
    m->unbounded = true;
}

/* The batch's flags byte: a NULL buffer (legal only for esz 0 or an
 * empty batch), a NULL count pointer (always LFC_EINVAL). */
static void
pick_batch_flags(struct fz_in *in, bool *nullbuf, bool *nullcnt)
{
    unsigned f = fz_u8(in);
    *nullbuf = (f & 7) == 7;
    *nullcnt = (f & 0x38) == 0x38;
}

static bool
bbuf_intact(const uint8_t *buf, size_t from)
{
    for (size_t i = from; i < BBUF; i++)
        if (buf[i] != 0xa5)
            return false;
    return true;
}

/*
 * lfc_send_many (form 0), lfc_try_send_many (1), lfc_send_many_until (2)
 * of n values (0..BMAX). The model is the same number of single sends in
 * order, stopping at the first that cannot complete: the *sent first
 * values must each be a send the model allows (check_send with LFC_OK),
 * and if *sent < n the next one must be one the model lets fail (with
 * LFC_CLOSED on a closed channel, else LFC_AGAIN / LFC_TIMEDOUT), so a
 * batch that sends fewer than fit, or more, is caught; then the status:
 * try: LFC_OK iff *sent > 0; the others: LFC_OK iff *sent == n. The
 * blocking form is made only when the model says all n go in at once
 * (or the channel is closed); otherwise the try form is.
 */
static void
op_send_many(struct fz_in *in, unsigned form)
{
    static const char *names[] = {"lfc_send_many", "lfc_try_send_many",
                                  "lfc_send_many_until"};
    struct mchan *m = pick_chan(in);
    size_t n = fz_below(in, BMAX + 1);
    bool nullbuf, nullcnt;
    pick_batch_flags(in, &nullbuf, &nullcnt);
    bool past = true;
    int64_t deadline = form == 2 ? pick_deadline(in, &past) : 0;
    uint8_t buf[BBUF];
    uint64_t vals[BMAX];
    size_t sent = 12345;
    size_t *sp = nullcnt ? NULL : &sent;
    memset(buf, 0xa5, sizeof(buf));
    lfc_chan *ch = m->kind == CK_NONE ? NULL : m->ch;
    size_t esz = ch ? m->esz : 16;

    if (ch && m->unbounded && !m->closed && n > (size_t)(QMAX - m->qn))
        n = (size_t)(QMAX - m->qn); /* the model holds no more */
    for (size_t i = 0; i < n; i++) {
        vals[i] = ++next_val;
        fz_encode(vals[i], buf + i * esz, esz);
    }
    const void *p = nullbuf ? NULL : buf;
    bool einval = !ch || nullcnt || (nullbuf && esz > 0 && n > 0) ||
                  recv_only(m);
    /* The blocking form only where it cannot wait: bad arguments, an
     * empty batch, a closed channel, or room for all n that no timer can
     * take. */
    if (form == 0 && !einval && n > 0 && !m->closed &&
        !(m->maybe == MB_NONE && m->cap - (size_t)m->qn >= n))
        form = 1;
    const char *what = names[form];
    int r = form == 0   ? lfc_send_many(ch, p, n, sp)
            : form == 1 ? lfc_try_send_many(ch, p, n, sp)
                        : lfc_send_many_until(ch, p, n, sp, deadline);
    if (einval) {
        FZ_EXPECT(r, LFC_EINVAL, what);
        FZ_CHECK(!sp || sent == 0, "%s: LFC_EINVAL with *sent %zu", what,
                 sent);
        return;
    }
    if (trace)
        fprintf(stderr, "  %s(slot %td, %zu): %d, *sent %zu\n", what,
                m - chans, n, r, sent);
    FZ_CHECK(sent <= n, "%s: *sent %zu of %zu", what, sent, n);
    if (n == 0) {
        FZ_EXPECT(r, LFC_OK, "empty batch send");
        FZ_CHECK(sent == 0, "%s: empty batch, *sent %zu", what, sent);
        return;
    }
    int fail = m->closed ? LFC_CLOSED : form == 1 ? LFC_AGAIN : LFC_TIMEDOUT;
    for (size_t i = 0; i < sent; i++)
        check_send(m, LFC_OK, vals[i], fail, what);
    if (sent < n)
        check_send(m, fail, vals[sent], fail, what); /* why it stopped */
    int want = form == 1 ? (sent > 0 ? LFC_OK : fail)
                         : (sent == n ? LFC_OK : fail);
    FZ_CHECK(r == want, "%s: %zu of %zu sent, status %d, expected %d", what,
             sent, n, r, want);
}

/*
 * lfc_recv_many (form 0), lfc_try_recv_many (1), lfc_recv_many_until (2)
 * into room for max values (0..BMAX). The model: the first value as the
 * single receive of the same form (check_recv), then every further value
 * the model holds, up to max, each checked as a receive that returned
 * LFC_OK; a call that stops before max with values left in the model
 * failed. A timer's channel may add a value between two claims (a ticker),
 * which check_recv accepts as one of its allowed outcomes.
 */
static void
op_recv_many(struct fz_in *in, unsigned form)
{
    static const char *names[] = {"lfc_recv_many", "lfc_try_recv_many",
                                  "lfc_recv_many_until"};
    struct mchan *m = pick_chan(in);
    size_t max = fz_below(in, BMAX + 1);
    bool nullbuf, nullcnt;
    pick_batch_flags(in, &nullbuf, &nullcnt);
    bool past = true;
    int64_t deadline = form == 2 ? pick_deadline(in, &past) : 0;
    uint8_t buf[BBUF];
    size_t got = 12345;
    size_t *gp = nullcnt ? NULL : &got;
    memset(buf, 0xa5, sizeof(buf));
    lfc_chan *ch = m->kind == CK_NONE ? NULL : m->ch;
    size_t esz = ch ? m->esz : 16;
    uint8_t *p = nullbuf ? NULL : buf;
    bool einval = !ch || nullcnt || (nullbuf && esz > 0 && max > 0);
    int rd = einval ? NOT : recv_readiness(m);
    bool soon = false;
    if (form == 0 && !einval && max > 0 && rd != READY) {
        if (recv_arrives_soon(m))
            soon = true; /* completes as soon as the timer fires */
        else
            form = 1;
    }
    const char *what = names[form];
    int fail = form == 2 ? LFC_TIMEDOUT : LFC_AGAIN;
    int r;
    if (soon) {
        r = lfc_recv_many_until(ch, p, max, gp, lfc_now_ns() + STUCK_NS);
        FZ_EXPECT(r, LFC_OK, "lfc_recv_many_until a soon timer");
        fail = LFC_TIMEDOUT;
    } else {
        r = form == 0   ? lfc_recv_many(ch, p, max, gp)
            : form == 1 ? lfc_try_recv_many(ch, p, max, gp)
                        : lfc_recv_many_until(ch, p, max, gp, deadline);
    }
    if (einval) {
        FZ_EXPECT(r, LFC_EINVAL, what);
        FZ_CHECK(!gp || got == 0, "%s: LFC_EINVAL with *got %zu", what, got);
        FZ_CHECK(bbuf_intact(buf, 0), "%s: LFC_EINVAL wrote", what);
        return;
    }
    if (trace)
        fprintf(stderr, "  %s(slot %td, %zu): %d, *got %zu\n", what,
                m - chans, max, r, got);
    FZ_CHECK(got <= max, "%s: *got %zu of %zu", what, got, max);
    FZ_CHECK(bbuf_intact(buf, got * esz), "%s: wrote past *got (%zu)", what,
             got);
    if (max == 0) {
        FZ_EXPECT(r, LFC_OK, "empty batch receive");
        FZ_CHECK(got == 0, "%s: empty batch, *got %zu", what, got);
        return;
    }
    FZ_CHECK((r == LFC_OK) == (got > 0), "%s: status %d with *got %zu", what,
             r, got);
    uint8_t one[BUFSZ];
    if (got == 0) {
        fill_canary(one);
        check_recv(m, r, p ? one : NULL, fail, what);
        return;
    }
    for (size_t i = 0; i < got; i++) {
        fill_canary(one);
        if (p)
            memcpy(one, buf + i * esz, esz);
        check_recv(m, LFC_OK, p ? one : NULL, fail, what);
    }
    FZ_CHECK(got == max || m->qn == 0,
             "%s: took %zu of %zu with %d more buffered", what, got, max,
             m->qn);
}

static void
op_close(struct fz_in *in)
{
    struct mchan *m = pick_chan(in);
    if (m->kind == CK_NONE) {
        FZ_EXPECT(lfc_close(NULL), LFC_EINVAL, "lfc_close(NULL)");
        return;
    }
    int r = lfc_close(m->ch);
    if (recv_only(m)) {
        FZ_EXPECT(r, LFC_EINVAL, "lfc_close on a timer's channel");
        return;
    }
    FZ_EXPECT(r, m->closed ? LFC_CLOSED : LFC_OK, "lfc_close");
    m->closed = true;
    if (m->maybe != MB_NONE)
        m->maybe = MB_FINAL; /* a later firing finds it closed */
}

static void
op_query(struct fz_in *in)
{
    struct mchan *m = pick_chan(in);
    if (m->kind == CK_NONE) {
        FZ_CHECK(lfc_chan_len(NULL) == 0 && lfc_chan_cap(NULL) == 0 &&
                     lfc_chan_elem_size(NULL) == 0 && !lfc_chan_closed(NULL),
                 "queries on NULL");
        FZ_CHECK(lfc_chan_dup(NULL) == NULL, "lfc_chan_dup(NULL)");
        lfc_chan_free(NULL);
        return;
    }
    size_t len = lfc_chan_len(m->ch);
    size_t lo = (size_t)m->qn;
    size_t hi = lo + (m->maybe != MB_NONE && lo < m->cap ? 1 : 0);
    FZ_CHECK(len >= lo && len <= hi, "lfc_chan_len %zu, expected %zu..%zu",
             len, lo, hi);
    FZ_CHECK(lfc_chan_cap(m->ch) == m->cap, "lfc_chan_cap");
    FZ_CHECK(lfc_chan_elem_size(m->ch) == m->esz, "lfc_chan_elem_size");
    FZ_CHECK(lfc_chan_closed(m->ch) == m->closed, "lfc_chan_closed");
}

static void
op_dup_free(struct fz_in *in)
{
    struct mchan *m = pick_chan(in);
    bool dup = fz_u8(in) & 1;
    if (m->kind == CK_NONE)
        return;
    if (dup) {
        if (m->refs >= 8)
            return;
        FZ_CHECK(lfc_chan_dup(m->ch) == m->ch, "lfc_chan_dup");
        m->refs++;
        return;
    }
    if (m->refs == 0) {
        /* A timer's channel with no reference of ours: a no-op. */
        lfc_chan_free(m->ch);
        return;
    }
    lfc_chan_free(m->ch);
    if (--m->refs == 0 && !m->t)
        slot_reset(m);
}

/* ---- timers ------------------------------------------------------------- */

static const int64_t timer_ns[] = {-1000, 0, 1, 1 * US, 50 * US, FAR_NS};

static void
op_after(struct fz_in *in)
{
    struct mchan *m = pick_chan(in);
    int64_t ns = FZ_PICK(in, timer_ns);
    slot_release(m);
    int64_t t0 = lfc_now_ns();
    lfc_chan *ch = lfc_after(ns);
    FZ_CHECK(ch, "lfc_after(%lld) failed", (long long)ns);
    m->ch = ch;
    m->kind = CK_AFTER;
    m->cap = 1;
    m->esz = sizeof(int64_t);
    m->refs = 1;
    m->maybe = MB_ONESHOT;
    m->soon = ns <= SOON_NS;
    m->lo = ns > 0 ? t0 + ns : t0;
}

static void
op_timer_new(struct fz_in *in)
{
    static const int64_t periods[] = {-1, 0, 1, 10 * US, 1000 * US};
    struct mchan *m = pick_chan(in);
    bool ticker = fz_u8(in) & 1;
    int64_t ns = ticker ? FZ_PICK(in, periods) : FZ_PICK(in, timer_ns);
    slot_release(m);
    int64_t t0 = lfc_now_ns();
    errno = 0;
    lfc_timer *t = ticker ? lfc_tick(ns) : lfc_timer_after(ns);
    if (ticker && ns <= 0) {
        FZ_CHECK(!t && errno == EINVAL, "lfc_tick(%lld): %p errno %d",
                 (long long)ns, (void *)t, errno);
        return;
    }
    FZ_CHECK(t, "timer(%lld) failed", (long long)ns);
    lfc_chan *ch = lfc_timer_chan(t);
    FZ_CHECK(ch && lfc_timer_chan(t) == ch, "lfc_timer_chan");
    m->ch = ch;
    m->t = t;
    m->kind = ticker ? CK_TICKER : CK_TIMER;
    m->cap = 1;
    m->esz = sizeof(int64_t);
    m->maybe = ticker ? MB_TICKER : MB_ONESHOT;
    m->soon = ns <= SOON_NS;
    m->lo = ns > 0 ? t0 + ns : t0;
    m->last = INT64_MIN;
}

static void
op_timer_stop(struct fz_in *in)
{
    struct mchan *m = pick_chan(in);
    if (!m->t) {
        FZ_CHECK(!lfc_timer_stop(NULL), "lfc_timer_stop(NULL)");
        FZ_CHECK(lfc_timer_chan(NULL) == NULL, "lfc_timer_chan(NULL)");
        return;
    }
    bool stopped = lfc_timer_stop(m->t);
    if (m->maybe == MB_TICKER) {
        FZ_CHECK(stopped, "stopping a running ticker returned false");
        m->maybe = MB_FINAL; /* one stale tick may be buffered */
    } else if (m->maybe == MB_ONESHOT) {
        if (stopped) {
            m->maybe = MB_NONE; /* nothing was sent, nothing will be */
        } else {
            /* It fired: its value is in the channel (we received none). */
            q_push(m, (struct mval){.timer = true, .lo = m->lo});
            m->maybe = MB_NONE;
        }
    } else {
        FZ_CHECK(!stopped, "stopping a stopped or fired timer returned true");
    }
}

static void
op_timer_free(struct fz_in *in)
{
    struct mchan *m = pick_chan(in);
    if (!m->t) {
        lfc_timer_free(NULL);
        return;
    }
    lfc_timer_free(m->t);
    m->t = NULL;
    if (m->refs == 0) {
        slot_reset(m);
        return;
    }
    /* Our own references keep the channel; nothing more is sent. */
    if (m->maybe != MB_NONE)
        m->maybe = MB_FINAL;
}

/* ---- contexts ----------------------------------------------------------- */

enum { NCTX = 4, NNODES = 64 };

struct cnode {
    int parent;  /* a node index, or -1 for the background context */
    int cause;   /* LFC_OK, LFC_CANCELED, LFC_TIMEDOUT */
    int64_t dlo; /* the deadline lies in [dlo, dhi] */
    int64_t dhi;
};

static struct cnode nodes[NNODES];
static int nnodes;
static struct {
    lfc_ctx *c;
    int node;
} ctxs[NCTX];

static bool
descends_from(int n, int anc)
{
    for (; n >= 0; n = nodes[n].parent)
        if (n == anc)
            return true;
    return false;
}

/* The model's cancellation of node n with cause: n and every live
 * descendant take it. */
static void
model_cancel(int n, int cause)
{
    for (int i = 0; i < nnodes; i++)
        if (nodes[i].cause == LFC_OK && descends_from(i, n))
            nodes[i].cause = cause;
}

static int
ctx_cause(int node)
{
    return node < 0 ? LFC_OK : nodes[node].cause;
}

/* A context slot's handle; an empty slot is the background context. */
static lfc_ctx *
slot_ctx(unsigned i)
{
    return ctxs[i].c ? ctxs[i].c : lfc_ctx_background();
}

static int
slot_node(unsigned i)
{
    return ctxs[i].c ? ctxs[i].node : -1;
}

static void
ctx_slot_free(unsigned i)
{
    if (!ctxs[i].c)
        return;
    lfc_ctx_free(ctxs[i].c);
    model_cancel(ctxs[i].node, LFC_CANCELED);
    ctxs[i].c = NULL;
}

static void
check_ctx(unsigned i, const char *what)
{
    lfc_ctx *c = slot_ctx(i);
    int node = slot_node(i);
    int cause = ctx_cause(node);
    FZ_EXPECT(lfc_ctx_err(c), cause, what);
    int64_t d = lfc_ctx_deadline(c);
    int64_t dlo = node < 0 ? LFC_FOREVER : nodes[node].dlo;
    int64_t dhi = node < 0 ? LFC_FOREVER : nodes[node].dhi;
    FZ_CHECK(d >= dlo && d <= dhi, "%s: deadline %lld not in %lld..%lld",
             what, (long long)d, (long long)dlo, (long long)dhi);
    lfc_chan *done = lfc_ctx_done(c);
    FZ_CHECK(done && lfc_ctx_done(c) == done, "%s: lfc_ctx_done", what);
    FZ_EXPECT(lfc_try_recv(done, NULL), cause ? LFC_CLOSED : LFC_AGAIN, what);
    FZ_CHECK(lfc_chan_closed(done) == (cause != LFC_OK), "%s: done closed",
             what);
    FZ_CHECK(lfc_chan_cap(done) == 0 && lfc_chan_elem_size(done) == 0 &&
                 lfc_chan_len(done) == 0,
             "%s: done's shape", what);
}

/* A near deadline: wait for it, cancel (either cause may win), or free. */
static void
settle_ctx(struct fz_in *in, unsigned i)
{
    lfc_ctx *c = ctxs[i].c;
    int node = ctxs[i].node;
    switch (fz_below(in, 3)) {
    case 0: {
        int r = lfc_recv_until(lfc_ctx_done(c), NULL, lfc_now_ns() + STUCK_NS);
        FZ_EXPECT(r, LFC_CLOSED, "waiting for a near deadline");
        FZ_EXPECT(lfc_ctx_err(c), LFC_TIMEDOUT, "err after the deadline");
        FZ_CHECK(lfc_now_ns() >= lfc_ctx_deadline(c), "deadline fired early");
        model_cancel(node, LFC_TIMEDOUT);
        break;
    }
    case 1: {
        FZ_EXPECT(lfc_ctx_cancel(c), LFC_OK, "lfc_ctx_cancel near deadline");
        int e = lfc_ctx_err(c);
        FZ_CHECK(e == LFC_CANCELED || e == LFC_TIMEDOUT,
                 "cancel racing a deadline: err %d", e);
        model_cancel(node, e);
        break;
    }
    default:
        ctx_slot_free(i);
        break;
    }
}

static void
op_ctx_new(struct fz_in *in)
{
    unsigned i = fz_below(in, NCTX);
    unsigned p = fz_below(in, NCTX + 1); /* NCTX: the background */
    unsigned kind = fz_below(in, 3);     /* cancel, deadline, timeout */
    unsigned dsel = fz_below(in, 8);
    if (nnodes >= NNODES)
        return;
    lfc_ctx *parent = p < NCTX ? slot_ctx(p) : lfc_ctx_background();
    int pnode = p < NCTX ? slot_node(p) : -1;
    if (p == i)
        i = (i + 1) % NCTX; /* keep the parent: its slot is not reused */
    ctx_slot_free(i);

    int64_t pdlo = pnode < 0 ? LFC_FOREVER : nodes[pnode].dlo;
    int64_t pdhi = pnode < 0 ? LFC_FOREVER : nodes[pnode].dhi;
    static const int64_t rel[] = {INT64_MIN, -SEC, -1, 0,
                                  1 * US,    50 * US, FAR_NS, INT64_MAX};
    int64_t t0 = lfc_now_ns(), own_lo, own_hi;
    lfc_ctx *c;
    if (kind == 0) {
        c = lfc_ctx_with_cancel(parent);
        own_lo = own_hi = LFC_FOREVER;
    } else if (kind == 1) {
        int64_t d = dsel == 0 ? INT64_MIN : dsel == 7 ? INT64_MAX
                                                       : t0 + rel[dsel];
        c = lfc_ctx_with_deadline(parent, d);
        own_lo = own_hi = d;
    } else {
        c = lfc_ctx_with_timeout(parent, rel[dsel]);
        own_lo = sat_add(t0, rel[dsel]);
        own_hi = sat_add(lfc_now_ns(), rel[dsel]);
    }
    FZ_CHECK(c, "context constructor failed");

    struct cnode *n = &nodes[nnodes];
    n->parent = pnode;
    n->dlo = own_lo < pdlo ? own_lo : pdlo;
    n->dhi = own_hi < pdhi ? own_hi : pdhi;
    int pcause = ctx_cause(pnode);
    ctxs[i].c = c;
    ctxs[i].node = nnodes++;
    if (pcause != LFC_OK) {
        n->cause = pcause; /* born cancelled, with the parent's cause */
    } else if (n->dhi < t0) {
        n->cause = LFC_TIMEDOUT; /* surely past: cancelled at once */
    } else if (n->dlo < sat_add(t0, SEC)) {
        /* Near (or exactly now): it may fire at any moment. */
        n->cause = LFC_OK;
        settle_ctx(in, i);
        return;
    } else {
        n->cause = LFC_OK;
    }
    check_ctx(i, "new context");
}

static void
op_ctx_cancel(struct fz_in *in)
{
    unsigned i = fz_below(in, NCTX);
    if (!ctxs[i].c) {
        FZ_EXPECT(lfc_ctx_cancel(lfc_ctx_background()), LFC_EINVAL,
                  "cancel the background");
        FZ_EXPECT(lfc_ctx_cancel(NULL), LFC_EINVAL, "cancel NULL");
        return;
    }
    FZ_EXPECT(lfc_ctx_cancel(ctxs[i].c), LFC_OK, "lfc_ctx_cancel");
    model_cancel(ctxs[i].node, LFC_CANCELED);
    check_ctx(i, "after cancel");
}

static void
op_ctx_query(struct fz_in *in)
{
    unsigned i = fz_below(in, NCTX);
    check_ctx(i, "context query");
    lfc_chan *done = lfc_ctx_done(slot_ctx(i));
    FZ_EXPECT(lfc_send(done, NULL), LFC_EINVAL, "send on done");
    FZ_EXPECT(lfc_try_send(done, NULL), LFC_EINVAL, "try_send on done");
    FZ_EXPECT(lfc_close(done), LFC_EINVAL, "close done");
    FZ_EXPECT(lfc_ctx_err(NULL), LFC_EINVAL, "lfc_ctx_err(NULL)");
    FZ_CHECK(lfc_ctx_deadline(NULL) == LFC_FOREVER, "deadline(NULL)");
    FZ_CHECK(lfc_ctx_done(NULL) == NULL, "done(NULL)");
    errno = 0;
    FZ_CHECK(!lfc_ctx_with_cancel(NULL) && errno == EINVAL,
             "with_cancel(NULL)");
}

static void
op_ctx_free(struct fz_in *in)
{
    unsigned i = fz_below(in, NCTX);
    if (!ctxs[i].c) {
        lfc_ctx_free(NULL);
        lfc_ctx_free(lfc_ctx_background());
        FZ_EXPECT(lfc_ctx_err(lfc_ctx_background()), LFC_OK, "background");
        return;
    }
    ctx_slot_free(i);
}

/* lfc_send_ctx / lfc_recv_ctx on a channel slot and a context slot. */
static void
op_chan_ctx(struct fz_in *in)
{
    struct mchan *m = pick_chan(in);
    unsigned i = fz_below(in, NCTX);
    bool send = fz_u8(in) & 1;
    lfc_ctx *c = slot_ctx(i);
    int cause = ctx_cause(slot_node(i));
    uint8_t buf[BUFSZ];
    fill_canary(buf);
    if (m->kind == CK_NONE) {
        int r = send ? lfc_send_ctx(NULL, buf, c) : lfc_recv_ctx(NULL, buf, c);
        FZ_EXPECT(r, LFC_EINVAL, "ctx op on NULL");
        return;
    }
    if (send) {
        uint64_t v = make_value(m, buf);
        int r;
        if (recv_only(m)) {
            r = lfc_send_ctx(m->ch, buf, c);
            FZ_CHECK(r == LFC_EINVAL || (cause && r == cause),
                     "send_ctx on a timer's channel: %d", r);
        } else if (cause != LFC_OK) {
            FZ_EXPECT(lfc_send_ctx(m->ch, buf, c), cause, "send_ctx ended");
        } else if (send_readiness(m) == READY && !model_full(m)) {
            check_send(m, lfc_send_ctx(m->ch, buf, c), v, LFC_AGAIN,
                       "lfc_send_ctx");
        }
        return;
    }
    if (cause != LFC_OK) {
        FZ_EXPECT(lfc_recv_ctx(m->ch, buf, c), cause, "recv_ctx ended");
        FZ_CHECK(canary_intact(buf, 0), "recv_ctx ended wrote");
    } else if (recv_readiness(m) == READY || recv_arrives_soon(m)) {
        int r = lfc_recv_ctx(m->ch, buf, c);
        if (recv_readiness(m) == MAYBE)
            FZ_EXPECT(r, LFC_OK, "recv_ctx of a soon timer");
        check_recv(m, r, buf, LFC_AGAIN, "lfc_recv_ctx");
    }
    if (!ctxs[i].c)
        FZ_EXPECT(lfc_recv_ctx(m->ch, buf, NULL), LFC_EINVAL, "NULL ctx");
}

/* ---- select ------------------------------------------------------------- */

enum { MAXCASES = 40 };

/* What a case stands for in the model. */
struct mcase {
    struct mchan *m; /* a channel slot, or NULL */
    int ctx_node;    /* a context's done channel (m NULL, src says) */
    bool is_done;
    int ready;       /* NOT, MAYBE, READY */
    uint64_t v;      /* the value a send case sends */
    uint8_t buf[BUFSZ];
};

static void
check_chosen(struct mcase *mc, lfc_case *c, const char *what)
{
    if (mc->is_done) {
        FZ_EXPECT(c->status, LFC_CLOSED, what);
        return;
    }
    struct mchan *m = mc->m;
    int st = c->status;
    if (c->dir == LFC_SEND) {
        FZ_CHECK(st == LFC_OK || st == LFC_CLOSED, "%s: status %d", what, st);
        check_send(m, st, mc->v, LFC_AGAIN, what);
    } else {
        FZ_CHECK(st == LFC_OK || st == LFC_CLOSED, "%s: status %d", what, st);
        check_recv(m, st, c->buf, LFC_AGAIN, what);
    }
}

static void
op_select(struct fz_in *in)
{
    static struct mcase mcs[MAXCASES];
    lfc_case cases[MAXCASES];
    /* 0 select, 1 try, 2 until, 3..5 the biased ones */
    unsigned variant = fz_below(in, 6);
    bool biased = variant >= 3;
    unsigned n = fz_below(in, 7);
    bool pad = (fz_u8(in) & 15) == 15; /* over 32 cases: the heap path */
    bool past = true;
    int64_t deadline = (variant % 3 == 2) ? pick_deadline(in, &past) : 0;
    bool invalid = false, any = false, any_ready = false, sure = false;

    for (unsigned k = 0; k < n; k++) {
        struct mcase *mc = &mcs[k];
        lfc_case *c = &cases[k];
        unsigned src = fz_below(in, NCH + NCTX + 1);
        unsigned d = fz_u8(in);
        memset(mc, 0, offsetof(struct mcase, buf));
        fill_canary(mc->buf);
        c->dir = (d & 15) == 15 ? 3 : (d & 1) ? LFC_SEND : LFC_RECV;
        if (c->dir == LFC_SEND && src < NCH && model_full(&chans[src]))
            c->dir = LFC_RECV; /* the model holds no more (QMAX) */
        c->buf = (d & 0x70) == 0x70 ? NULL : mc->buf;
        c->status = 12345;
        if (src < NCH && chans[src].kind != CK_NONE) {
            mc->m = &chans[src];
            c->ch = mc->m->ch;
            if (c->dir == LFC_SEND)
                mc->v = make_value(mc->m, mc->buf);
        } else if (src >= NCH && src < NCH + NCTX) {
            unsigned i = src - NCH;
            mc->is_done = true;
            mc->ctx_node = slot_node(i);
            c->ch = lfc_ctx_done(slot_ctx(i));
        } else {
            c->ch = NULL;
        }
        if (!c->ch)
            continue;
        any = true;
        size_t esz = mc->m ? mc->m->esz : 0;
        bool ro = mc->is_done || recv_only(mc->m);
        if ((c->dir != LFC_SEND && c->dir != LFC_RECV) ||
            (c->dir == LFC_SEND && ro) || (!c->buf && esz > 0)) {
            invalid = true;
            continue;
        }
        if (mc->is_done)
            mc->ready = ctx_cause(mc->ctx_node) != LFC_OK ? READY : NOT;
        else if (c->dir == LFC_SEND)
            mc->ready = send_readiness(mc->m);
        else {
            mc->ready = recv_readiness(mc->m);
            sure |= mc->ready == MAYBE && recv_arrives_soon(mc->m);
        }
        any_ready |= mc->ready == READY;
    }
    unsigned total = n;
    if (pad) {
        for (; total < 36; total++)
            cases[total] = (lfc_case){.ch = NULL, .dir = 0};
    }

    if (getenv("LFC_FUZZ_TRACE")) {
        fprintf(stderr, "  select variant %u, %u cases:", variant, n);
        for (unsigned k = 0; k < n; k++)
            fprintf(stderr, " [%s%s %d]", cases[k].ch ? "" : "NULL ",
                    cases[k].dir == LFC_SEND ? "send" : "recv", mcs[k].ready);
        fprintf(stderr, "\n");
    }
    bool blocking = variant % 3 == 0;
    if (blocking && !invalid && any && !any_ready && !sure)
        variant += 1; /* it could block for good: use the try form */
    int r;
    switch (variant) {
    case 0: r = lfc_select(cases, (int)total); break;
    case 1: r = lfc_try_select(cases, (int)total); break;
    case 2: r = lfc_select_until(cases, (int)total, deadline); break;
    case 3: r = lfc_select_biased(cases, (int)total); break;
    case 4: r = lfc_try_select_biased(cases, (int)total); break;
    default: r = lfc_select_biased_until(cases, (int)total, deadline); break;
    }
    const char *what = "select";
    if (invalid || (variant % 3 == 0 && !any)) {
        FZ_EXPECT(r, LFC_EINVAL, "select with a bad case or no channel");
        return;
    }
    if (r < 0) {
        int want = variant % 3 == 1 ? LFC_AGAIN : LFC_TIMEDOUT;
        FZ_EXPECT(r, want, "select that completed nothing");
        FZ_CHECK(!any_ready, "select gave %d with a ready case", r);
        FZ_CHECK(variant % 3 != 0, "blocking select returned %d", r);
        return;
    }
    FZ_CHECK((unsigned)r < n, "select returned %d of %u cases", r, n);
    FZ_CHECK(mcs[r].ready != NOT && cases[r].ch,
             "select chose case %d, which is not ready", r);
    if (biased) {
        for (int k = 0; k < r; k++)
            FZ_CHECK(mcs[k].ready != READY || !cases[k].ch,
                     "biased select chose %d over ready case %d", r, k);
    }
    for (unsigned k = 0; k < n; k++)
        if ((int)k != r)
            FZ_CHECK(cases[k].status == 12345, "case %u's status written", k);
    check_chosen(&mcs[r], &cases[r], what);
}

/* Select's argument checks that need no slot. */
static void
op_select_args(struct fz_in *in)
{
    lfc_case one = {.ch = NULL, .dir = LFC_RECV};
    switch (fz_below(in, 5)) {
    case 0: FZ_EXPECT(lfc_select(NULL, 1), LFC_EINVAL, "select(NULL, 1)"); break;
    case 1: FZ_EXPECT(lfc_try_select(&one, -1), LFC_EINVAL, "n -1"); break;
    case 2:
        FZ_EXPECT(lfc_try_select(&one, LFC_SELECT_MAX + 1), LFC_EINVAL,
                  "n too large");
        break;
    case 3: FZ_EXPECT(lfc_try_select(NULL, 0), LFC_AGAIN, "try 0 cases"); break;
    default:
        FZ_EXPECT(lfc_select_biased_until(&one, 1, 0), LFC_TIMEDOUT,
                  "until with no channel");
        break;
    }
}

/* ---- semaphores, wait groups -------------------------------------------- */

enum { NSEM = 2 };
static struct {
    lfc_sem *s;
    int64_t total, free;
} sems[NSEM];

static const int64_t sem_n[] = {0, 1, 2, 3, 5, -1, INT64_MAX, INT64_MIN, 64};

static void
op_sem_new(struct fz_in *in)
{
    static const int64_t totals[] = {0,           1, 2, 5, 64, LFC_SEM_MAX,
                                     LFC_SEM_MAX + 1, -1, INT64_MAX};
    unsigned i = fz_below(in, NSEM);
    int64_t total = FZ_PICK(in, totals);
    lfc_sem_free(sems[i].s);
    sems[i].s = NULL;
    errno = 0;
    lfc_sem *s = lfc_sem_new(total);
    if (total < 0 || total > LFC_SEM_MAX) {
        FZ_CHECK(!s && errno == EINVAL, "lfc_sem_new(%lld)", (long long)total);
        return;
    }
    FZ_CHECK(s, "lfc_sem_new(%lld) failed", (long long)total);
    sems[i].s = s;
    sems[i].total = sems[i].free = total;
    FZ_CHECK(lfc_sem_available(s) == total, "available after new");
}

static void
op_sem_acquire(struct fz_in *in)
{
    unsigned i = fz_below(in, NSEM);
    int64_t n = FZ_PICK(in, sem_n);
    unsigned form = fz_below(in, 5); /* blocking, try, until, ctx, all */
    unsigned ci = fz_below(in, NCTX);
    lfc_sem *s = sems[i].s;
    if (form == 4)
        n = sems[i].free; /* take what is left: exactly enough */
    if (!s) {
        FZ_EXPECT(lfc_sem_try_acquire(NULL, 1), LFC_EINVAL, "sem NULL");
        FZ_EXPECT(lfc_sem_release(NULL, 1), LFC_EINVAL, "sem NULL");
        FZ_CHECK(lfc_sem_available(NULL) == 0, "available(NULL)");
        return;
    }
    bool bad = n < 0 || n > sems[i].total;
    bool fits = !bad && n <= sems[i].free;
    int cause = ctx_cause(slot_node(ci));
    int r;
    const char *what;
    if (form == 3) {
        what = "lfc_sem_acquire_ctx";
        if (!bad && !fits && cause == LFC_OK)
            return; /* would wait for good */
        r = lfc_sem_acquire_ctx(s, n, slot_ctx(ci));
        if (bad)
            FZ_CHECK(r == LFC_EINVAL || (cause && r == cause), "%s: %d", what,
                     r);
        else
            FZ_EXPECT(r, cause ? cause : LFC_OK, what);
    } else if (form == 2 || (form == 0 && !bad && !fits)) {
        bool past = true;
        int64_t d = pick_deadline(in, &past);
        what = "lfc_sem_acquire_until";
        r = lfc_sem_acquire_until(s, n, d);
        FZ_EXPECT(r, bad ? LFC_EINVAL : fits ? LFC_OK : LFC_TIMEDOUT, what);
    } else if (form == 1) {
        what = "lfc_sem_try_acquire";
        r = lfc_sem_try_acquire(s, n);
        FZ_EXPECT(r, bad ? LFC_EINVAL : fits ? LFC_OK : LFC_AGAIN, what);
    } else {
        what = "lfc_sem_acquire";
        r = lfc_sem_acquire(s, n);
        FZ_EXPECT(r, bad ? LFC_EINVAL : LFC_OK, what);
    }
    if (r == LFC_OK)
        sems[i].free -= n;
    FZ_CHECK(lfc_sem_available(s) == sems[i].free, "%s: available %lld, "
             "expected %lld", what, (long long)lfc_sem_available(s),
             (long long)sems[i].free);
}

static void
op_sem_release(struct fz_in *in)
{
    unsigned i = fz_below(in, NSEM);
    int64_t n = FZ_PICK(in, sem_n);
    lfc_sem *s = sems[i].s;
    if (!s)
        return;
    bool bad = n < 0 || n > sems[i].total - sems[i].free;
    FZ_EXPECT(lfc_sem_release(s, n), bad ? LFC_EINVAL : LFC_OK,
              "lfc_sem_release");
    if (!bad)
        sems[i].free += n;
    FZ_CHECK(lfc_sem_available(s) == sems[i].free, "available after release");
}

enum { NWG = 2 };
static struct {
    lfc_wg *wg;
    int64_t count;
} wgs[NWG];

static void
op_wg(struct fz_in *in)
{
    static const int64_t deltas[] = {1,  2,         -1,        -2,
                                     0,  INT64_MAX, INT64_MIN, 100};
    unsigned i = fz_below(in, NWG);
    unsigned what = fz_below(in, 5); /* new, add, done, wait, wait_until */
    int64_t delta = FZ_PICK(in, deltas);
    lfc_wg *wg = wgs[i].wg;
    if (what == 0) {
        lfc_wg_free(wg);
        wgs[i].wg = wg = lfc_wg_new();
        FZ_CHECK(wg, "lfc_wg_new failed");
        wgs[i].count = 0;
    } else if (!wg) {
        FZ_EXPECT(lfc_wg_add(NULL, 1), LFC_EINVAL, "wg NULL");
        FZ_EXPECT(lfc_wg_done(NULL), LFC_EINVAL, "wg NULL");
        FZ_EXPECT(lfc_wg_wait(NULL), LFC_EINVAL, "wg NULL");
        FZ_EXPECT(lfc_wg_wait_until(NULL, 0), LFC_EINVAL, "wg NULL");
        FZ_CHECK(lfc_wg_count(NULL) == 0, "wg NULL count");
        return;
    } else if (what == 1 || what == 2) {
        if (what == 2)
            delta = -1;
        int64_t c;
        bool bad = __builtin_add_overflow(wgs[i].count, delta, &c) || c < 0;
        int r = what == 2 ? lfc_wg_done(wg) : lfc_wg_add(wg, delta);
        FZ_EXPECT(r, bad ? LFC_EINVAL : LFC_OK, "lfc_wg_add");
        if (!bad)
            wgs[i].count = c;
    } else if (what == 3 && wgs[i].count == 0) {
        FZ_EXPECT(lfc_wg_wait(wg), LFC_OK, "lfc_wg_wait at zero");
    } else {
        bool past = true;
        int64_t d = pick_deadline(in, &past);
        FZ_EXPECT(lfc_wg_wait_until(wg, d),
                  wgs[i].count ? LFC_TIMEDOUT : LFC_OK, "lfc_wg_wait_until");
    }
    FZ_CHECK(lfc_wg_count(wg) == wgs[i].count, "lfc_wg_count");
}

/* ---- the pool ----------------------------------------------------------- */

enum { MAXTASKS = 64, MAXPOOLS = 2 };
enum { T_UNUSED, T_ACCEPTED, T_REJECTED };

static lfc_pool *pool;
static bool pool_shut;
static int pools_made;
static unsigned task_ran[MAXTASKS];     /* incremented by the task */
static unsigned task_dropped[MAXTASKS]; /* by the drop callback */
static int task_state[MAXTASKS];
static int ntasks;

static void
task_fn(void *arg)
{
    __atomic_fetch_add((unsigned *)arg, 1, __ATOMIC_RELAXED);
}

static void
drop_fn(lfc_pool_task_fn fn, void *arg, void *user)
{
    FZ_CHECK(fn == task_fn && user == task_dropped, "drop callback args");
    size_t id = (size_t)((unsigned *)arg - task_ran);
    FZ_CHECK(id < MAXTASKS, "drop callback: unknown arg");
    task_dropped[id]++;
}

/* Every accepted task ran or was dropped exactly once (all: the pool is
 * quiet), every rejected one never. */
static void
check_tasks(const char *what)
{
    uint64_t ok = 0, dropped = 0;
    for (int i = 0; i < ntasks; i++) {
        unsigned ran = __atomic_load_n(&task_ran[i], __ATOMIC_RELAXED);
        unsigned d = task_dropped[i];
        if (task_state[i] == T_ACCEPTED) {
            FZ_CHECK(ran + d == 1, "%s: task %d ran %u, dropped %u", what, i,
                     ran, d);
            ok++;
            dropped += d;
        } else {
            FZ_CHECK(ran == 0 && d == 0, "%s: rejected task %d ran %u", what,
                     i, ran);
        }
    }
    if (!pool)
        return;
    struct lfc_pool_stats st;
    FZ_EXPECT(lfc_pool_stats(pool, &st), LFC_OK, "lfc_pool_stats");
    FZ_CHECK(st.submitted == ok && st.dropped == dropped &&
                 st.completed == ok - dropped && st.queued == 0 &&
                 st.running == 0,
             "%s: stats %llu/%llu/%llu/%llu/%llu, expected %llu submitted, "
             "%llu dropped", what, (unsigned long long)st.submitted,
             (unsigned long long)st.completed, (unsigned long long)st.queued,
             (unsigned long long)st.running, (unsigned long long)st.dropped,
             (unsigned long long)ok, (unsigned long long)dropped);
}

/* Free the pool, check its tasks, and forget them (the next pool's
 * counters start from zero). */
static void
pool_release(void)
{
    if (!pool)
        return;
    lfc_pool_free(pool);
    pool = NULL;
    check_tasks("after lfc_pool_free");
    memset(task_ran, 0, sizeof(task_ran));
    memset(task_dropped, 0, sizeof(task_dropped));
    memset(task_state, 0, sizeof(task_state));
    ntasks = 0;
}

static void
op_pool(struct fz_in *in)
{
    unsigned what = fz_below(in, 8);
    unsigned a = fz_u8(in);
    if (what == 0) {
        unsigned workers = a % 4;
        size_t cap = (a >> 2) % 3;
        if (pools_made >= MAXPOOLS)
            return;
        pool_release();
        errno = 0;
        pool = lfc_pool_new(workers, cap);
        if (workers == 0) {
            FZ_CHECK(!pool && errno == EINVAL, "lfc_pool_new(0, ...)");
            return;
        }
        FZ_CHECK(pool, "lfc_pool_new failed");
        pools_made++;
        pool_shut = false;
        return;
    }
    if (!pool) {
        FZ_EXPECT(lfc_pool_submit(NULL, task_fn, NULL), LFC_EINVAL, "NULL");
        FZ_EXPECT(lfc_pool_wait(NULL), LFC_EINVAL, "wait NULL");
        FZ_EXPECT(lfc_pool_stats(NULL, NULL), LFC_EINVAL, "stats NULL");
        return;
    }
    if (what <= 4) { /* submit, try, until, ctx */
        if (ntasks >= MAXTASKS)
            return;
        int id = ntasks++;
        void *arg = &task_ran[id];
        int r;
        if (what == 1) {
            r = lfc_pool_submit(pool, task_fn, arg);
            FZ_EXPECT(r, pool_shut ? LFC_CLOSED : LFC_OK, "lfc_pool_submit");
        } else if (what == 2) {
            r = lfc_pool_try_submit(pool, task_fn, arg);
            FZ_CHECK(pool_shut ? r == LFC_CLOSED
                               : (r == LFC_OK || r == LFC_AGAIN),
                     "lfc_pool_try_submit: %d", r);
        } else if (what == 3) {
            bool past = true;
            int64_t d = pick_deadline(in, &past);
            r = lfc_pool_submit_until(pool, task_fn, arg, d);
            FZ_CHECK(pool_shut ? r == LFC_CLOSED
                               : (r == LFC_OK || r == LFC_TIMEDOUT),
                     "lfc_pool_submit_until: %d", r);
        } else {
            unsigned ci = a % NCTX;
            int cause = ctx_cause(slot_node(ci));
            r = lfc_pool_submit_ctx(pool, task_fn, arg, slot_ctx(ci));
            if (pool_shut && cause)
                FZ_CHECK(r == LFC_CLOSED || r == cause, "submit_ctx: %d", r);
            else
                FZ_EXPECT(r, pool_shut ? LFC_CLOSED : cause, "submit_ctx");
        }
        task_state[id] = r == LFC_OK ? T_ACCEPTED : T_REJECTED;
        return;
    }
    if (what == 5) {
        FZ_EXPECT(lfc_pool_wait(pool), LFC_OK, "lfc_pool_wait");
        check_tasks("after lfc_pool_wait");
        FZ_EXPECT(lfc_pool_submit(pool, NULL, NULL), LFC_EINVAL, "NULL fn");
    } else if (what == 6) {
        int64_t r = lfc_pool_shutdown_now(pool, drop_fn, task_dropped);
        if (pool_shut) {
            FZ_CHECK(r == LFC_CLOSED, "second shutdown: %lld", (long long)r);
            return;
        }
        pool_shut = true;
        int64_t d = 0;
        for (int i = 0; i < ntasks; i++)
            d += task_dropped[i];
        FZ_CHECK(r == d, "shutdown_now returned %lld, %lld dropped",
                 (long long)r, (long long)d);
        check_tasks("after lfc_pool_shutdown_now");
    } else {
        pool_release();
    }
}

/* ---- the interpreter ---------------------------------------------------- */

static void
reset_all(void)
{
    for (int i = 0; i < NCH; i++)
        slot_release(&chans[i]);
    for (unsigned i = 0; i < NCTX; i++)
        ctx_slot_free(i);
    for (int i = 0; i < NSEM; i++) {
        lfc_sem_free(sems[i].s);
        sems[i].s = NULL;
    }
    for (int i = 0; i < NWG; i++) {
        lfc_wg_free(wgs[i].wg);
        wgs[i].wg = NULL;
    }
    pool_release();
    pools_made = 0;
    nnodes = 0;
    next_val = 0;
}

/* At most this many steps: an input's run stays in milliseconds. */
enum { MAXSTEPS = 2000 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    if (trace < 0)
        trace = getenv("LFC_FUZZ_TRACE") != NULL;
    for (int step = 0; step < MAXSTEPS && fz_more(&in); step++) {
        /* 0..31: the original opcodes (the committed seeds use them),
         * 32..39: unbounded channels and batches. */
        unsigned op = fz_below(&in, 40);
        if (trace)
            fprintf(stderr, "step %d: op %u at byte %zu\n", step, op,
                    size - in.n - 1);
        switch (op) {
        case 0: case 1: op_chan_new(&in); break;
        case 2: op_send(&in, 0); break;
        case 3: op_send(&in, 1); break;
        case 4: op_send(&in, 2); break;
        case 5: op_recv(&in, 0); break;
        case 6: op_recv(&in, 1); break;
        case 7: op_recv(&in, 2); break;
        case 8: op_close(&in); break;
        case 9: op_query(&in); break;
        case 10: op_dup_free(&in); break;
        case 11: case 12: op_select(&in); break;
        case 13: op_select_args(&in); break;
        case 14: op_after(&in); break;
        case 15: op_timer_new(&in); break;
        case 16: op_timer_stop(&in); break;
        case 17: op_timer_free(&in); break;
        case 18: op_ctx_new(&in); break;
        case 19: op_ctx_cancel(&in); break;
        case 20: op_ctx_query(&in); break;
        case 21: op_ctx_free(&in); break;
        case 22: op_chan_ctx(&in); break;
        case 23: op_sem_new(&in); break;
        case 24: op_sem_acquire(&in); break;
        case 25: op_sem_release(&in); break;
        case 26: op_wg(&in); break;
        case 27: op_pool(&in); break;
        case 28: op_chan_new_bad(&in); break;
        case 29: op_send(&in, 1); break;
        case 30: op_recv(&in, 1); break;
        case 31: op_send(&in, 0); break;
        case 32: op_chan_new_unbounded(&in); break;
        case 33: op_send_many(&in, 0); break;
        case 34: op_send_many(&in, 1); break;
        case 35: op_send_many(&in, 2); break;
        case 36: op_recv_many(&in, 0); break;
        case 37: op_recv_many(&in, 1); break;
        case 38: op_recv_many(&in, 2); break;
        default: op_chan_new_unbounded(&in); break;
        }
    }
    reset_all();
    return 0;
}
