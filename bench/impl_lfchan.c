/* SPDX-License-Identifier: MIT */
/*
 * lfchan behind the benchmark ops table, plus two spin-budget variants for
 * the spin sweep: lfchan-spin0 (park at once) and lfchan-spin20000 (a long
 * fixed budget). The plain "lfchan" entry runs the library's default
 * (LFC_SPIN_ADAPTIVE); every entry sets the process-wide budget in setup
 * and restores the default in teardown.
 *
 * Select is lfc_select / lfc_select_until over an lfc_case array built
 * once by sel_new. A receive with a timeout is, in "lfchan", the Go idiom
 * the issue asks about: select over {the channel, lfc_after(timeout)},
 * the timer channel freed after each receive (which dequeues the
 * abandoned lfc_after timer at once). Two
 * references for it, run only in the timeout rows: "lfchan-timer"
 * (lfc_timer_after, its channel in the select, lfc_timer_free: dequeued at
 * once) and "lfchan-until" (lfc_recv_until: no timer at all).
 *
 * Batch rows (send_many / recv_many): lfc_send_many and lfc_recv_many.
 *
 * Patterns (bench_pat_lfchan, "lfchan" only): lfc_pool_new_opts (pinned
 * workers when the row asks) / lfc_pool_submit / lfc_pool_wait /
 * lfc_pool_free; lfc_merge_new / lfc_merge_free over lfchan channels;
 * lfc_sem_new / lfc_sem_acquire / lfc_sem_release / lfc_sem_free.
 */
#include "bench.h"

#include <lfchan.h>

#include <errno.h>
#include <stdlib.h>

static void *
l_make(size_t cap, size_t esz)
{
    return lfc_chan_new(cap, esz);
}

static int
l_send(void *ch, const void *elem)
{
    return lfc_send(ch, elem);
}

static int
l_recv(void *ch, void *out)
{
    return lfc_recv(ch, out);
}

static int
l_try_send(void *ch, const void *elem)
{
    return lfc_try_send(ch, elem);
}

static int
l_try_recv(void *ch, void *out)
{
    return lfc_try_recv(ch, out);
}

static int
l_send_many(void *ch, const void *elems, size_t n, size_t *sent)
{
    return lfc_send_many(ch, elems, n, sent);
}

static int
l_recv_many(void *ch, void *out, size_t max, size_t *got)
{
    return lfc_recv_many(ch, out, max, got);
}

static int
l_close(void *ch)
{
    return lfc_close(ch);
}

static void
l_destroy(void *ch)
{
    lfc_chan_free(ch);
}

static size_t
l_real_cap(size_t cap)
{
    return cap;
}

/* ---- Select ------------------------------------------------------------ */

struct lsel {
    int n;
    lfc_case c[]; /* n */
};

static void *
l_sel_new(const struct bench_sel *cases, int n)
{
    struct lsel *s;
    int i;

    if (n < 1) {
        errno = EINVAL;
        return NULL;
    }
    s = malloc(sizeof(*s) + (size_t)n * sizeof(s->c[0]));
    if (s == NULL)
        return NULL;
    s->n = n;
    for (i = 0; i < n; i++)
        s->c[i] = (lfc_case){.ch = cases[i].ch,
                             .dir = cases[i].dir,
                             .buf = cases[i].buf};
    return s;
}

static int
l_select(void *sel, int64_t deadline_ns, int *status)
{
    struct lsel *s = sel;
    int i;

    if (deadline_ns == LFC_FOREVER)
        i = lfc_select(s->c, s->n);
    else
        i = lfc_select_until(s->c, s->n, deadline_ns);
    if (i >= 0)
        *status = s->c[i].status;
    return i;
}

static void
l_sel_off(void *sel, int i)
{
    struct lsel *s = sel;

    s->c[i].ch = NULL;
}

static void
l_sel_free(void *sel)
{
    free(sel);
}

/* ---- Receive with a timeout -------------------------------------------- */

/* Case 0 is the data channel, case 1 the timer's: maps the select's result
 * to recv_timeout's. */
static int
timeout_result(int i, const lfc_case *c)
{
    if (i == 0)
        return c[0].status;
    if (i == 1)
        return c[1].status == LFC_OK ? LFC_TIMEDOUT : LFC_CLOSED;
    return i;
}

static int
l_recv_after(void *ch, void *out, int64_t timeout_ns)
{
    int64_t fired;
    lfc_chan *t = lfc_after(timeout_ns);
    lfc_case c[2] = {
        {.ch = ch, .dir = LFC_RECV, .buf = out},
        {.ch = t, .dir = LFC_RECV, .buf = &fired},
    };
    int i;

    if (t == NULL)
        return LFC_ENOMEM;
    i = lfc_select(c, 2);
    lfc_chan_free(t);
    return timeout_result(i, c);
}

static int
l_recv_timer(void *ch, void *out, int64_t timeout_ns)
{
    int64_t fired;
    lfc_timer *t = lfc_timer_after(timeout_ns);
    lfc_case c[2] = {
        {.ch = ch, .dir = LFC_RECV, .buf = out},
        {.ch = lfc_timer_chan(t), .dir = LFC_RECV, .buf = &fired},
    };
    int i;

    if (t == NULL)
        return LFC_ENOMEM;
    i = lfc_select(c, 2);
    lfc_timer_free(t);
    return timeout_result(i, c);
}

static int
l_recv_until(void *ch, void *out, int64_t timeout_ns)
{
    return lfc_recv_until(ch, out, lfc_now_ns() + timeout_ns);
}

/* ---- Patterns ----------------------------------------------------------- */

static void *
l_pool_new(unsigned workers, size_t cap, const int *cpus)
{
    struct lfc_pool_opts o = {
        .workers = workers, .queue_capacity = cap, .name = "bench-pool"};
    lfc_pool *p;
    unsigned i;

    if (cpus != NULL) {
        for (i = 0; i < workers; i++)
            if (cpus[i] < 0)
                break;
        /* lfc_pool pins every worker or none. */
        if (i == workers) {
            o.cpus = cpus;
            o.ncpus = workers;
        }
    }
    p = lfc_pool_new_opts(&o);
    return p;
}

static int
l_pool_submit(void *pool, void (*fn)(void *), void *arg)
{
    return lfc_pool_submit(pool, fn, arg);
}

static int
l_pool_wait(void *pool)
{
    return lfc_pool_wait(pool);
}

static void
l_pool_free(void *pool)
{
    lfc_pool_free(pool);
}

static void *
l_merge_new(void **in, int n, void *out)
{
    if (n < 1) {
        errno = EINVAL;
        return NULL;
    }
    return lfc_merge_new((lfc_chan **)in, (size_t)n, out);
}

static uint64_t
l_merge_free(void *m)
{
    return lfc_merge_free(m);
}

static void *
l_sem_new(int64_t permits)
{
    return lfc_sem_new(permits);
}

static int
l_sem_acquire(void *s, int64_t n)
{
    return lfc_sem_acquire(s, n);
}

static int
l_sem_release(void *s, int64_t n)
{
    return lfc_sem_release(s, n);
}

static void
l_sem_free(void *s)
{
    lfc_sem_free(s);
}

const struct bench_pat_ops bench_pat_lfchan = {
    .pool_new = l_pool_new,
    .pool_submit = l_pool_submit,
    .pool_wait = l_pool_wait,
    .pool_free = l_pool_free,
    .chan = &bench_ops_lfchan,
    .merge_new = l_merge_new,
    .merge_free = l_merge_free,
    .sem_new = l_sem_new,
    .sem_acquire = l_sem_acquire,
    .sem_release = l_sem_release,
    .sem_free = l_sem_free,
};

/* ---- The entries ------------------------------------------------------- */

static void
spin_default(void)
{
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
}

static void
spin_zero(void)
{
    lfc_spin_set_limit(0);
}

static void
spin_long(void)
{
    lfc_spin_set_limit(BENCH_SPIN_LONG);
}

/* Select rows use the entries that have sel_new; timeout rows those that
 * have recv_timeout. */
#define LFCHAN_OPS(nm, about_, setup_, sel_new_, recv_timeout_, pat_)        \
    {                                                                        \
        .name = nm,                                                          \
        .about = about_,                                                     \
        .flags = 0,                                                          \
        .setup = setup_,                                                     \
        .teardown = spin_default,                                            \
        .make = l_make,                                                      \
        .send = l_send,                                                      \
        .recv = l_recv,                                                      \
        .try_send = l_try_send,                                              \
        .try_recv = l_try_recv,                                              \
        .close = l_close,                                                    \
        .destroy = l_destroy,                                                \
        .real_cap = l_real_cap,                                              \
        .sel_new = sel_new_,                                                 \
        .select = l_select,                                                  \
        .sel_off = l_sel_off,                                                \
        .sel_free = l_sel_free,                                              \
        .recv_timeout = recv_timeout_,                                       \
        .send_many = l_send_many,                                            \
        .recv_many = l_recv_many,                                            \
        .pat = pat_,                                                         \
    }

const struct bench_ops bench_ops_lfchan =
    LFCHAN_OPS("lfchan",
               "lfchan, default (adaptive) spin budget; timeouts: "
               "lfc_select over {channel, lfc_after(t)}, then lfc_chan_free",
               spin_default, l_sel_new, l_recv_after, &bench_pat_lfchan);
const struct bench_ops bench_ops_lfchan_spin0 =
    LFCHAN_OPS("lfchan-spin0", "lfchan, lfc_spin_set_limit(0): park at once",
               spin_zero, NULL, NULL, NULL);
const struct bench_ops bench_ops_lfchan_spinlong =
    LFCHAN_OPS("lfchan-spin20000",
               "lfchan, lfc_spin_set_limit(20000): long fixed spin",
               spin_long, NULL, NULL, NULL);
const struct bench_ops bench_ops_lfchan_timer =
    LFCHAN_OPS("lfchan-timer",
               "lfchan, timeouts only: lfc_select over {channel, "
               "lfc_timer_chan(lfc_timer_after(t))}, then lfc_timer_free",
               spin_default, NULL, l_recv_timer, NULL);
const struct bench_ops bench_ops_lfchan_until =
    LFCHAN_OPS("lfchan-until",
               "lfchan, timeouts only: lfc_recv_until (no timer, no select)",
               spin_default, NULL, l_recv_until, NULL);

/* ---- The unbounded channel ------------------------------------------------ */

/* lfc_chan_new_unbounded behind the ops table: the capacity is ignored
 * (an unbounded queue cannot honour one), so like wfcq it runs only in
 * the cap:1024 rows and ping-pong. Default spin budget. */
static void *
l_make_unbounded(size_t cap, size_t esz)
{
    (void)cap;
    return lfc_chan_new_unbounded(esz);
}

static size_t
l_real_cap_unbounded(size_t cap)
{
    (void)cap;
    return SIZE_MAX;
}

const struct bench_ops bench_ops_lfchan_unbounded = {
    .name = "lfchan-unbounded",
    .about = "lfchan, lfc_chan_new_unbounded (wfcqueue + dequeue lock + "
             "lfchan parking; malloc per message); cap:1024 rows and "
             "ping-pong only",
    .flags = BENCH_NO_UNBUFFERED | BENCH_UNBOUNDED,
    .setup = spin_default,
    .teardown = spin_default,
    .make = l_make_unbounded,
    .send = l_send,
    .recv = l_recv,
    .try_send = l_try_send,
    .try_recv = l_try_recv,
    .close = l_close,
    .destroy = l_destroy,
    .real_cap = l_real_cap_unbounded,
};
