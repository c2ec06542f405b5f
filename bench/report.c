/* SPDX-License-Identifier: MIT */
/*
 * Reports: results.csv (one row per benchmark), summary.md (tables with
 * lfchan's ratio to the mutex channel on every row, the targets,
 * select and timeouts, and every row where lfchan is behind), and the
 * *.dat files plot.gp turns into charts.
 */
#include "bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
    struct bench_case c;
    struct bench_result r; /* all iterations summed */
};

static struct row *rows;
static size_t nrows;

void
bench_report_add(const struct bench_case *c, const struct bench_result *res)
{
    struct row *nr = realloc(rows, (nrows + 1) * sizeof(*rows));

    if (nr == NULL) {
        fprintf(stderr, "lfc_bench: out of memory\n");
        abort();
    }
    rows = nr;
    rows[nrows].c = *c;
    rows[nrows].r = *res;
    nrows++;
}

/* ---- Derived figures ---------------------------------------------------- */

static double
mmsg_s(const struct row *w)
{
    return w->r.wall_s > 0 ? (double)w->r.msgs / w->r.wall_s / 1e6 : 0.0;
}

static double
cpu_per_m(const struct row *w)
{
    return w->r.msgs ? w->r.cpu_s / (double)w->r.msgs * 1e6 : 0.0;
}

static double
q_ns(const struct row *w, double q)
{
    return (double)lfc_hist_quantile(&w->r.hist, q);
}

static const char *kind_names[] = {
    "throughput",    "pingpong", "latency",      "select", "timeout",
    "timeout_fired", "pool",     "pool_latency", "merge",  "sem"};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == BENCH_SEM + 1,
               "a name for every enum bench_kind");

/* Whether a and b are the same row but for the implementation. */
static bool
same_key(const struct bench_case *a, const struct bench_case *b)
{
    return a->kind == b->kind && !strcmp(a->scenario, b->scenario) &&
           a->producers == b->producers && a->consumers == b->consumers &&
           a->inputs == b->inputs && a->permits == b->permits &&
           a->cap == b->cap && a->msg == b->msg && a->pin == b->pin &&
           a->batch == b->batch;
}

/* The same row (everything but the implementation) as `k`, for impl. */
static const struct row *
find(const struct row *k, const char *impl)
{
    size_t i;

    for (i = 0; i < nrows; i++)
        if (same_key(&rows[i].c, &k->c) && !strcmp(rows[i].c.ops->name, impl))
            return &rows[i];
    return NULL;
}

static const struct row *
find_tp(const char *scenario, int p, int c, size_t cap, size_t msg,
        enum bench_pin pin, const char *impl)
{
    struct row k;

    memset(&k, 0, sizeof(k));
    k.c.kind = BENCH_THROUGHPUT;
    k.c.scenario = scenario;
    k.c.producers = p;
    k.c.consumers = c;
    k.c.cap = cap;
    k.c.msg = msg;
    k.c.pin = pin;
    return find(&k, impl);
}

static const struct row *
find_kind(enum bench_kind kind, enum bench_pin pin, const char *impl)
{
    size_t i;

    for (i = 0; i < nrows; i++)
        if (rows[i].c.kind == kind && rows[i].c.pin == pin &&
            !strcmp(rows[i].c.ops->name, impl))
            return &rows[i];
    return NULL;
}

/* Whether rows[i] is the first of its key (all but impl). */
static bool
first_of_key(size_t i)
{
    size_t j;

    for (j = 0; j < i; j++)
        if (same_key(&rows[j].c, &rows[i].c))
            return false;
    return true;
}

static bool
good(const struct row *w)
{
    return w != NULL && w->r.ok && w->r.msgs > 0;
}

/* ---- CSV ---------------------------------------------------------------- */

static bool
write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    size_t i;

    if (f == NULL) {
        perror(path);
        return false;
    }
    fprintf(f, "benchmark,kind,scenario,impl,producers,consumers,cap,"
               "real_cap,msg_bytes,pin,iterations,messages,wall_s,"
               "mmsg_per_s,cpu_s_per_Mmsg,ctxsw_per_msg,p50_ns,p99_ns,"
               "p999_ns,max_ns,mean_ns,ok,error,note,inputs,permits\n");
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct bench_case *c = &w->c;
        size_t rc = c->ops->real_cap(c->cap);
        const struct lfc_hist *h = &w->r.hist;

        fprintf(f, "%s,%s,%s,%s,%d,%d,%zu,", c->name, kind_names[c->kind],
                c->scenario, c->ops->name, c->producers, c->consumers,
                c->cap);
        if (rc == SIZE_MAX)
            fprintf(f, "unbounded,");
        else
            fprintf(f, "%zu,", rc);
        fprintf(f, "%zu,%s,%d,%" PRIu64 ",%.6f,%.6g,%.6g,%.6g,", c->msg,
                bench_pin_name(c->pin), c->iterations, w->r.msgs,
                w->r.wall_s, mmsg_s(w), cpu_per_m(w),
                w->r.msgs ? (double)w->r.ctxsw / (double)w->r.msgs : 0.0);
        if (h->count)
            fprintf(f, "%.0f,%.0f,%.0f,%" PRIu64 ",%.0f,", q_ns(w, 0.5),
                    q_ns(w, 0.99), q_ns(w, 0.999), h->max,
                    (double)h->sum / (double)h->count);
        else
            fprintf(f, ",,,,,");
        /* Messages never contain commas or quotes by construction, but be
         * safe: quote them. */
        fprintf(f, "%d,\"%s\",\"%s\",%d,%d\n", w->r.ok ? 1 : 0, w->r.err,
                w->r.note, c->inputs, c->permits);
    }
    if (fclose(f) != 0) {
        perror(path);
        return false;
    }
    return true;
}

/* ---- summary.md --------------------------------------------------------- */

static const char *const tp_impls[] = {"lfchan", "mutex", "ck_ring", "wfcq",
                                       "lfchan-unbounded"};
static const char *const pp_impls[] = {"lfchan",  "lfchan-spin0",
                                       "lfchan-spin20000", "mutex",
                                       "ck_ring", "wfcq"};
static const char *const lat_impls[] = {"lfchan", "mutex", "ck_ring",
                                        "wfcq"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A throughput figure with its CPU cost, or n/a / FAILED. */
static void
cell_tp(FILE *f, const struct row *w)
{
    if (w == NULL)
        fprintf(f, " n/a |");
    else if (!w->r.ok)
        fprintf(f, " **FAILED** |");
    else
        fprintf(f, " %.3g [%.3g] |", mmsg_s(w), cpu_per_m(w));
}

static void
cell_ratio(FILE *f, double num, double den)
{
    if (num > 0 && den > 0) {
        double r = num / den;

        fprintf(f, r < 1.0 ? " **%.2f** |" : " %.2f |", r);
    } else {
        fprintf(f, " - |");
    }
}

static void
fmt_ns(char *buf, size_t n, double ns)
{
    if (ns >= 1e6)
        snprintf(buf, n, "%.3g ms", ns / 1e6);
    else if (ns >= 1e3)
        snprintf(buf, n, "%.3g us", ns / 1e3);
    else
        snprintf(buf, n, "%.0f ns", ns);
}

static const char *
pattern_label(const struct bench_case *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s %d:%d", c->scenario, c->producers, c->consumers);
    return buf;
}

static const char *
cap_label(size_t cap, char *buf, size_t n)
{
    if (cap == 0)
        snprintf(buf, n, "0 (unbuffered)");
    else
        snprintf(buf, n, "%zu", cap);
    return buf;
}

/* The first row of a kind, or NULL if the run has none. */
static const struct row *
first_of_kind(enum bench_kind kind)
{
    size_t i;

    for (i = 0; i < nrows; i++)
        if (rows[i].c.kind == kind)
            return &rows[i];
    return NULL;
}

/* A table header after its nlead leading columns: a column per
 * implementation, the ntail columns of `tail`, and the separator row. */
static void
head_impls(FILE *f, size_t nlead, const char *const *impls, size_t n,
           const char *tail, size_t ntail)
{
    size_t k;

    for (k = 0; k < n; k++)
        fprintf(f, " %s |", impls[k]);
    fprintf(f, "%s\n|", tail);
    for (k = 0; k < nlead + n + ntail; k++)
        fprintf(f, "---|");
    fprintf(f, "\n");
}

/* The last two cells of a throughput row: lfchan's throughput over the
 * mutex channel's, and its CPU per message over theirs. */
static void
cells_vs_mutex(FILE *f, const struct row *l, const struct row *m)
{
    if (good(l) && good(m)) {
        cell_ratio(f, mmsg_s(l), mmsg_s(m));
        fprintf(f, " %.2f |\n",
                cpu_per_m(m) > 0 ? cpu_per_m(l) / cpu_per_m(m) : 0.0);
    } else {
        fprintf(f, " - | - |\n");
    }
}

/* The rows of a latency table, one per placement: the quantiles qs of each
 * implementation's histogram, and the mutex channel's quantile ratio_q
 * over lfchan's. */
static void
rows_quantiles(FILE *f, enum bench_kind kind, const char *const *impls,
               size_t n, const double *qs, size_t nq, double ratio_q)
{
    size_t k;
    size_t q;
    int pin;

    for (pin = 0; pin < 3; pin++) {
        const struct row *l = find_kind(kind, (enum bench_pin)pin, "lfchan");
        const struct row *m = find_kind(kind, (enum bench_pin)pin, "mutex");
        bool have = false;

        for (k = 0; k < n; k++)
            have =
                have || find_kind(kind, (enum bench_pin)pin, impls[k]) != NULL;
        if (!have)
            continue;
        fprintf(f, "| %s |", bench_pin_name((enum bench_pin)pin));
        for (k = 0; k < n; k++) {
            const struct row *w =
                find_kind(kind, (enum bench_pin)pin, impls[k]);

            if (w == NULL) {
                fprintf(f, " n/a |");
            } else if (!w->r.ok) {
                fprintf(f, " **FAILED** |");
            } else {
                for (q = 0; q < nq; q++) {
                    char a[32];

                    fmt_ns(a, sizeof(a), q_ns(w, qs[q]));
                    fprintf(f, q ? " / %s" : " %s", a);
                }
                fprintf(f, " |");
            }
        }
        if (good(l) && good(m))
            cell_ratio(f, q_ns(m, ratio_q), q_ns(l, ratio_q));
        else
            fprintf(f, " - |");
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

/* Targets from issue 3: lfchan / mutex throughput on given rows. */
struct target {
    const char *what;
    const char *scenario;
    int p;
    int c;
    size_t cap;
    double goal;  /* ratio lfchan/mutex at least */
    bool cpu;     /* also: lfchan's CPU-s/Mmsg at most the mutex's */
};

static const struct target targets[] = {
    {"SPSC, cap 1024", "spsc", 1, 1, 1024, 2.5, false},
    {"MPSC 4:1, cap 1024", "mpsc", 4, 1, 1024, 10, false},
    {"MPMC 4:4, cap 1024", "mpmc", 4, 4, 1024, 3, true},
    {"MPMC 8:8, cap 1024", "mpmc", 8, 8, 1024, 3, true},
    {"SPSC, cap 1", "spsc", 1, 1, 1, 5, false},
    {"MPMC 2:2, cap 1", "mpmc", 2, 2, 1, 5, false},
    {"SPSC, unbuffered", "spsc", 1, 1, 0, 5, false},
    {"MPMC 2:2, unbuffered", "mpmc", 2, 2, 0, 5, false},
};

static void
write_targets(FILE *f)
{
    size_t t;
    int pin;

    fprintf(f, "## Targets (issue 3), 8-byte messages\n\n"
               "Throughput ratio lfchan / mutex (CPU ratio where the target "
               "limits CPU); ping-pong: lfchan's p50 round trip as a "
               "fraction of the mutex channel's. \"yes\"/\"NO\" against "
               "the goal.\n\n"
               "| target | goal | pin:none | pin:split | pin:same |\n"
               "|---|---|---|---|---|\n");
    for (t = 0; t < NELEM(targets); t++) {
        const struct target *g = &targets[t];

        fprintf(f, "| %s | >= %.3gx%s |", g->what, g->goal,
                g->cpu ? ", CPU <= 1x" : "");
        for (pin = 0; pin < 3; pin++) {
            const struct row *l = find_tp(g->scenario, g->p, g->c, g->cap, 8,
                                          (enum bench_pin)pin, "lfchan");
            const struct row *m = find_tp(g->scenario, g->p, g->c, g->cap, 8,
                                          (enum bench_pin)pin, "mutex");

            if (!good(l) || !good(m) || mmsg_s(m) <= 0) {
                fprintf(f, " - |");
                continue;
            }
            {
                double r = mmsg_s(l) / mmsg_s(m);
                double cr = cpu_per_m(m) > 0 ? cpu_per_m(l) / cpu_per_m(m)
                                             : 0;
                bool ok = r >= g->goal && (!g->cpu || cr <= 1.0);

                if (g->cpu)
                    fprintf(f, " %.2fx, CPU %.2fx: %s |", r, cr,
                            ok ? "yes" : "NO");
                else
                    fprintf(f, " %.2fx: %s |", r, ok ? "yes" : "NO");
            }
        }
        fprintf(f, "\n");
    }
    /* Ping-pong: at most half unpinned, a tenth split. */
    fprintf(f, "| ping-pong round trip (p50) | <= 0.5x none, <= 0.1x split "
               "|");
    for (pin = 0; pin < 3; pin++) {
        const struct row *l =
            find_kind(BENCH_PINGPONG, (enum bench_pin)pin, "lfchan");
        const struct row *m =
            find_kind(BENCH_PINGPONG, (enum bench_pin)pin, "mutex");
        double goal = pin == BENCH_PIN_NONE ? 0.5
                      : pin == BENCH_PIN_SPLIT ? 0.1 : 0;

        if (!good(l) || !good(m) || q_ns(m, 0.5) <= 0) {
            fprintf(f, " - |");
            continue;
        }
        {
            double r = q_ns(l, 0.5) / q_ns(m, 0.5);

            if (goal > 0)
                fprintf(f, " %.2fx: %s |", r, r <= goal ? "yes" : "NO");
            else
                fprintf(f, " %.2fx (no goal) |", r);
        }
    }
    fprintf(f, "\n\n");
}

static void
write_throughput(FILE *f)
{
    size_t i;
    size_t k;

    fprintf(f, "## Throughput\n\n"
               "Million messages per second [CPU-seconds per million "
               "messages]. lfchan/mutex: throughput ratio (bold when "
               "lfchan is slower); CPU: lfchan's CPU-s/Mmsg over the mutex "
               "channel's (lower is better).\n\n"
               "| pattern | cap | msg | pin |");
    head_impls(f, 4, tp_impls, NELEM(tp_impls),
               " lfchan/mutex | CPU lfchan/mutex |", 2);
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct row *l;
        const struct row *m;
        char pb[32];
        char cb[32];

        if (w->c.kind != BENCH_THROUGHPUT || !first_of_key(i) ||
            w->c.batch != 0)
            continue; /* batch rows: write_batches() */
        /* Spin variants appear in the spin-sweep table instead. */
        l = find(w, "lfchan");
        m = find(w, "mutex");
        if (l == NULL && m == NULL && find(w, "ck_ring") == NULL &&
            find(w, "wfcq") == NULL)
            continue;
        fprintf(f, "| %s | %s | %zu | %s |",
                pattern_label(&w->c, pb, sizeof(pb)),
                cap_label(w->c.cap, cb, sizeof(cb)), w->c.msg,
                bench_pin_name(w->c.pin));
        for (k = 0; k < NELEM(tp_impls); k++)
            cell_tp(f, find(w, tp_impls[k]));
        cells_vs_mutex(f, l, m);
    }
    fprintf(f, "\n");
}

/* Batch rows against the single-operation row of the same pattern. */
static void
write_batches(FILE *f)
{
    bool any = false;
    size_t i;

    for (i = 0; i < nrows && !any; i++)
        any = rows[i].c.batch != 0;
    if (!any)
        return;
    fprintf(f, "## Batches\n\n"
               "lfc_send_many of B values and lfc_recv_many of up to B, "
               "against lfc_send / lfc_recv on the same pattern (lfchan, "
               "capacity 1024, 8-byte messages). Million messages per "
               "second [CPU-seconds per million messages].\n\n"
               "| pattern | pin | batch | batch Mmsg/s | single Mmsg/s | "
               "batch/single |\n|---|---|---|---|---|---|\n");
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct row *one;
        char pb[32];

        if (w->c.batch == 0)
            continue;
        one = find_tp(w->c.scenario, w->c.producers, w->c.consumers,
                      w->c.cap, w->c.msg, w->c.pin, w->c.ops->name);
        fprintf(f, "| %s | %s | %d |", pattern_label(&w->c, pb, sizeof(pb)),
                bench_pin_name(w->c.pin), w->c.batch);
        cell_tp(f, w);
        cell_tp(f, one);
        cell_ratio(f, good(w) ? mmsg_s(w) : 0, good(one) ? mmsg_s(one) : 0);
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void
write_pingpong(FILE *f)
{
    static const double qs[] = {0.5, 0.99};
    int pin;
    size_t k;
    bool any = false;

    for (pin = 0; pin < 3; pin++)
        for (k = 0; k < NELEM(pp_impls); k++)
            any = any || find_kind(BENCH_PINGPONG, (enum bench_pin)pin,
                                   pp_impls[k]) != NULL;
    if (!any)
        return;
    fprintf(f, "## Ping-pong round trip (two capacity-1 channels)\n\n"
               "p50 / p99 of one round trip. mutex/lfchan: the mutex "
               "channel's p50 over lfchan's (bold when lfchan is "
               "slower).\n\n| pin |");
    head_impls(f, 1, pp_impls, NELEM(pp_impls), " mutex/lfchan |", 1);
    rows_quantiles(f, BENCH_PINGPONG, pp_impls, NELEM(pp_impls), qs, NELEM(qs),
                   0.5);
}

static void
write_latency(FILE *f)
{
    /* 1.0: the maximum. */
    static const double qs[] = {0.5, 0.99, 0.999, 1.0};
    const struct row *any = first_of_kind(BENCH_LATENCY);

    if (any == NULL)
        return;
    fprintf(f, "## One-way latency at a fixed offered load\n\n"
               "%" PRIu64 " messages/s offered by one producer to one "
               "consumer, capacity %zu, %zu-byte messages stamped with "
               "their scheduled send time. p50 / p99 / p99.9 / max; "
               "mutex/lfchan: ratio of p99 (bold when lfchan is "
               "worse).\n\n| pin |",
            any->c.rate, any->c.cap, any->c.msg);
    head_impls(f, 1, lat_impls, NELEM(lat_impls), " mutex/lfchan (p99) |", 1);
    rows_quantiles(f, BENCH_LATENCY, lat_impls, NELEM(lat_impls), qs, NELEM(qs),
                   0.99);
}

/* A row label for the rows compared by throughput. */
static const char *
row_label(const struct bench_case *c, char *buf, size_t n)
{
    if (c->kind == BENCH_SELECT)
        snprintf(buf, n, "select over %d channels", c->producers);
    else if (c->kind == BENCH_TIMEOUT)
        snprintf(buf, n, "receive with a %.3g ms timeout (unfired)",
                 (double)c->timeout_ns / 1e6);
    else
        pattern_label(c, buf, n);
    return buf;
}

static void
write_select(FILE *f)
{
    size_t i;

    if (first_of_kind(BENCH_SELECT) == NULL)
        return;
    fprintf(f, "## Select\n\n"
               "One consumer selects a receive over K channels, each fed by "
               "its own producer, until every channel is closed (8-byte "
               "messages, verified exactly once and in order per "
               "producer). lfchan: lfc_select; mutex: a select over the "
               "mutex channel with a per-select condition variable "
               "registered on every channel (bench/mutex_chan.c). Million "
               "messages per second [CPU-seconds per million messages]; "
               "lfchan/mutex: throughput ratio (bold when lfchan is "
               "slower); CPU: lfchan's CPU-s/Mmsg over the mutex "
               "channel's.\n\n"
               "| chans | cap | pin | lfchan | mutex | lfchan/mutex | "
               "CPU lfchan/mutex |\n|---|---|---|---|---|---|---|\n");
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct row *l;
        const struct row *m;

        if (w->c.kind != BENCH_SELECT || !first_of_key(i))
            continue;
        l = find(w, "lfchan");
        m = find(w, "mutex");
        fprintf(f, "| %d | %zu | %s |", w->c.producers, w->c.cap,
                bench_pin_name(w->c.pin));
        cell_tp(f, l);
        cell_tp(f, m);
        cells_vs_mutex(f, l, m);
    }
    fprintf(f, "\n");
}

static const char *const to_impls[] = {"lfchan", "lfchan-timer",
                                       "lfchan-until", "mutex"};

static void
write_timeouts(FILE *f)
{
    const struct row *any = first_of_kind(BENCH_TIMEOUT);
    size_t i;
    size_t k;

    if (any != NULL) {
        fprintf(f, "## Receive with a timeout that does not fire\n\n"
                   "One producer, one consumer that receives every message "
                   "with a %.3g ms timeout; the data comes first. lfchan: "
                   "lfc_select over {channel, lfc_after(timeout)}, the "
                   "timer channel freed after each receive (it stays "
                   "queued until its deadline); lfchan-timer: the same with "
                   "lfc_timer_after / lfc_timer_free; lfchan-until: "
                   "lfc_recv_until; mutex: pthread_cond_timedwait. The CPU "
                   "time includes the abandoned timers firing. Million "
                   "messages per second [CPU-s per million]; lfchan/mutex "
                   "compares lfchan (lfc_after) with the mutex channel.\n\n"
                   "| cap | pin |",
                (double)any->c.timeout_ns / 1e6);
        head_impls(f, 2, to_impls, NELEM(to_impls),
                   " lfchan/mutex | CPU lfchan/mutex |", 2);
        for (i = 0; i < nrows; i++) {
            const struct row *w = &rows[i];
            const struct row *l;
            const struct row *m;

            if (w->c.kind != BENCH_TIMEOUT || !first_of_key(i))
                continue;
            l = find(w, "lfchan");
            m = find(w, "mutex");
            fprintf(f, "| %zu | %s |", w->c.cap, bench_pin_name(w->c.pin));
            for (k = 0; k < NELEM(to_impls); k++)
                cell_tp(f, find(w, to_impls[k]));
            cells_vs_mutex(f, l, m);
        }
        fprintf(f, "\n");
    }

    any = first_of_kind(BENCH_TIMEOUT_FIRED);
    if (any == NULL)
        return;
    fprintf(f, "## Timeouts that fire\n\n"
               "One thread receives with a %.3g us timeout from a channel "
               "nobody sends on, over and over (same implementations as "
               "above). Timeouts achieved per second, mean lateness "
               "(return minus call minus the timeout), p99 lateness, "
               "[CPU-microseconds per timeout, every thread]; "
               "lfchan/mutex: ratio of timeouts per second (bold when "
               "lfchan achieves fewer).\n\n| pin |",
            (double)any->c.timeout_ns / 1e3);
    head_impls(f, 1, to_impls, NELEM(to_impls), " lfchan/mutex |", 1);
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];

        if (w->c.kind != BENCH_TIMEOUT_FIRED || !first_of_key(i))
            continue;
        fprintf(f, "| %s |", bench_pin_name(w->c.pin));
        for (k = 0; k < NELEM(to_impls); k++) {
            const struct row *x = find(w, to_impls[k]);
            char a[24];
            char b[24];

            if (x == NULL) {
                fprintf(f, " n/a |");
            } else if (!good(x) || x->r.hist.count == 0) {
                fprintf(f, " **FAILED** |");
            } else {
                fmt_ns(a, sizeof(a),
                       (double)x->r.hist.sum / (double)x->r.hist.count);
                fmt_ns(b, sizeof(b), q_ns(x, 0.99));
                fprintf(f, " %.0f/s, late %s (p99 %s) [%.3g] |",
                        mmsg_s(x) * 1e6, a, b, cpu_per_m(x));
            }
        }
        {
            const struct row *l = find(w, "lfchan");
            const struct row *m = find(w, "mutex");

            if (good(l) && good(m))
                cell_ratio(f, mmsg_s(l), mmsg_s(m));
            else
                fprintf(f, " - |");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

/* ---- Patterns ----------------------------------------------------------- */

/* The throughput ratio of lfchan over `base` and, with cpu, the CPU ratio:
 * cells, or dashes when either row is missing or failed. */
static void
cells_ratio(FILE *f, const struct row *l, const struct row *base, bool cpu)
{
    if (good(l) && good(base)) {
        cell_ratio(f, mmsg_s(l), mmsg_s(base));
        if (cpu)
            fprintf(f, " %.2f |",
                    cpu_per_m(base) > 0 ? cpu_per_m(l) / cpu_per_m(base) : 0.0);
    } else {
        fprintf(f, cpu ? " - | - |" : " - |");
    }
}

static double
ctxsw_per_k(const struct row *w)
{
    return w->r.msgs ? (double)w->r.ctxsw / (double)w->r.msgs * 1e3 : 0.0;
}

static void
write_pool(FILE *f)
{
    static const double qs[] = {0.5, 0.99};
    const struct row *lat = first_of_kind(BENCH_POOL_LATENCY);
    size_t i;
    size_t q;

    if (first_of_kind(BENCH_POOL) != NULL) {
        fprintf(f, "### Worker pool, empty tasks\n\n"
                   "S submitters submit empty tasks (each counts itself, "
                   "and every task is checked to have run exactly once) to "
                   "a pool of W workers with a queue of 1024 tasks; the "
                   "last submitter then waits for the pool. lfchan: "
                   "lfc_pool; mutex: W threads over the mutex channel, a "
                   "counter and a condition variable for the wait. Million "
                   "tasks per second [CPU-seconds per million tasks]; "
                   "lfchan/mutex: throughput ratio (bold when lfchan is "
                   "slower); CPU: lfchan's CPU per task over the mutex "
                   "pool's; context switches per 1000 tasks (whole "
                   "process).\n\n"
                   "| submitters | workers | pin | lfchan | mutex | "
                   "lfchan/mutex | CPU lfchan/mutex | ctx sw/1k tasks "
                   "lfchan / mutex |\n|---|---|---|---|---|---|---|---|\n");
        for (i = 0; i < nrows; i++) {
            const struct row *w = &rows[i];
            const struct row *l;
            const struct row *m;

            if (w->c.kind != BENCH_POOL || !first_of_key(i))
                continue;
            l = find(w, "lfchan");
            m = find(w, "mutex");
            fprintf(f, "| %d | %d | %s |", w->c.producers, w->c.consumers,
                    bench_pin_name(w->c.pin));
            cell_tp(f, l);
            cell_tp(f, m);
            cells_ratio(f, l, m, true);
            if (good(l) && good(m))
                fprintf(f, " %.3g / %.3g |\n", ctxsw_per_k(l), ctxsw_per_k(m));
            else
                fprintf(f, " - |\n");
        }
        fprintf(f, "\n");
    }
    if (lat == NULL)
        return;
    fprintf(f,
            "### Worker pool latency, submit to task start\n\n"
            "One submitter, sleeping between submits, offers %" PRIu64
            " empty tasks per second to %d workers (lightly loaded); "
            "each task records when it started, against the time its "
            "submit was called. p50 / p99 [CPU-seconds per million "
            "tasks: what idling between tasks costs]; mutex/lfchan: "
            "ratio of the mutex pool's percentile over lfchan's (bold "
            "when lfchan is worse).\n\n"
            "| pin | lfchan | mutex | mutex/lfchan (p50) | "
            "mutex/lfchan (p99) |\n|---|---|---|---|---|\n",
            lat->c.rate, lat->c.consumers);
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct row *v[2];
        size_t k;

        if (w->c.kind != BENCH_POOL_LATENCY || !first_of_key(i))
            continue;
        v[0] = find(w, "lfchan");
        v[1] = find(w, "mutex");
        fprintf(f, "| %s |", bench_pin_name(w->c.pin));
        for (k = 0; k < 2; k++) {
            if (v[k] == NULL) {
                fprintf(f, " n/a |");
                continue;
            }
            if (!good(v[k])) {
                fprintf(f, " **FAILED** |");
                continue;
            }
            for (q = 0; q < NELEM(qs); q++) {
                char a[32];

                fmt_ns(a, sizeof(a), q_ns(v[k], qs[q]));
                fprintf(f, q ? " / %s" : " %s", a);
            }
            fprintf(f, " [%.3g] |", cpu_per_m(v[k]));
        }
        for (q = 0; q < NELEM(qs); q++) {
            if (good(v[0]) && good(v[1]))
                cell_ratio(f, q_ns(v[1], qs[q]), q_ns(v[0], qs[q]));
            else
                fprintf(f, " - |");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void
write_merge(FILE *f)
{
    size_t i;

    if (first_of_kind(BENCH_MERGE) == NULL)
        return;
    fprintf(f, "### Fan-in merger\n\n"
               "K input channels (capacity 1024) fed by min(K, 8) "
               "producer threads (for 64 inputs, 8 each), merged into one "
               "channel (capacity 1024) read by one consumer; 8-byte "
               "values, verified exactly once and in order per input. "
               "lfchan: lfc_merge (one select thread up to 31 inputs, a "
               "tree of them above); mutex: one thread selecting over the "
               "inputs with the mutex channel's select; mutex-threads: a "
               "forwarding thread per input. Million values per second "
               "[CPU-seconds per million values]; ratios: lfchan's "
               "throughput over each baseline's (bold when lfchan is "
               "slower); CPU: lfchan's CPU per value over the mutex "
               "merger's.\n\n"
               "| inputs | producers | pin | lfchan | mutex | mutex-threads | "
               "lfchan/mutex | CPU lfchan/mutex | lfchan/mutex-threads |\n"
               "|---|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct row *l;

        if (w->c.kind != BENCH_MERGE || !first_of_key(i))
            continue;
        l = find(w, "lfchan");
        fprintf(f, "| %d | %d | %s |", w->c.inputs, w->c.producers,
                bench_pin_name(w->c.pin));
        cell_tp(f, l);
        cell_tp(f, find(w, "mutex"));
        cell_tp(f, find(w, "mutex-threads"));
        cells_ratio(f, l, find(w, "mutex"), true);
        cells_ratio(f, l, find(w, "mutex-threads"), false);
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void
write_sem(FILE *f)
{
    size_t i;

    if (first_of_kind(BENCH_SEM) == NULL)
        return;
    fprintf(f, "### Semaphore, acquire(1) + release(1)\n\n"
               "T threads loop on acquire(1), a critical section (a "
               "counter of threads inside, checked against the permits; "
               "with 1 permit also a non-atomic counter, checked at the "
               "end), release(1). lfchan: lfc_sem (waiters in arrival "
               "order; a running thread may take free permits unless the "
               "oldest waiter needs more, hand-off after 1 ms); mutex: a "
               "counting semaphore from a mutex and a condition variable "
               "(not FIFO: a running thread takes free permits before "
               "sleeping ones); sem_t: POSIX sem_wait / sem_post (not "
               "FIFO). Million acquire+release pairs per second "
               "[CPU-seconds per million]; ratios: lfchan's throughput "
               "over each baseline's (bold when lfchan is slower), and "
               "lfchan's CPU per pair over theirs.\n\n"
               "| threads | permits | pin | lfchan | mutex | sem_t | "
               "lfchan/mutex | CPU lfchan/mutex | lfchan/sem_t | "
               "CPU lfchan/sem_t |\n"
               "|---|---|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct row *l;

        if (w->c.kind != BENCH_SEM || !first_of_key(i))
            continue;
        l = find(w, "lfchan");
        fprintf(f, "| %d | %d | %s |", w->c.producers, w->c.permits,
                bench_pin_name(w->c.pin));
        cell_tp(f, l);
        cell_tp(f, find(w, "mutex"));
        cell_tp(f, find(w, "sem_t"));
        cells_ratio(f, l, find(w, "mutex"), true);
        cells_ratio(f, l, find(w, "sem_t"), true);
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void
write_patterns(FILE *f)
{
    if (first_of_kind(BENCH_POOL) == NULL &&
        first_of_kind(BENCH_POOL_LATENCY) == NULL &&
        first_of_kind(BENCH_MERGE) == NULL && first_of_kind(BENCH_SEM) == NULL)
        return;
    fprintf(f, "## Patterns\n\n"
               "lfchan's pool, merger and semaphore against the same "
               "patterns built from pthread mutexes and condition "
               "variables (bench/mutex_patterns.c) and POSIX sem_t. "
               "Unpinned unless the pin column says otherwise.\n\n");
    write_pool(f);
    write_merge(f);
    write_sem(f);
}

/* The pattern rows where lfchan is behind a baseline: lines into f, and
 * how many. */
static int
behind_patterns(FILE *f)
{
    static const char *const bases[] = {"mutex", "mutex-threads", "sem_t"};
    static const double qs[] = {0.5, 0.99};
    static const char *const ql[] = {"p50", "p99"};
    size_t i;
    size_t k;
    int n = 0;

    for (i = 0; i < nrows; i++) {
        const struct row *l = &rows[i];
        char what[96];

        if (strcmp(l->c.ops->name, "lfchan") || !good(l))
            continue;
        switch (l->c.kind) {
        case BENCH_POOL:
            snprintf(what, sizeof(what), "pool, %d submitter%s, %d worker%s",
                     l->c.producers, l->c.producers > 1 ? "s" : "",
                     l->c.consumers, l->c.consumers > 1 ? "s" : "");
            break;
        case BENCH_POOL_LATENCY:
            snprintf(what, sizeof(what),
                     "pool latency, %d workers, %" PRIu64 " tasks/s",
                     l->c.consumers, l->c.rate);
            break;
        case BENCH_MERGE:
            snprintf(what, sizeof(what), "merger, %d inputs", l->c.inputs);
            break;
        case BENCH_SEM:
            snprintf(what, sizeof(what), "semaphore, %d thread%s, %d permit%s",
                     l->c.producers, l->c.producers > 1 ? "s" : "",
                     l->c.permits, l->c.permits > 1 ? "s" : "");
            break;
        default:
            continue;
        }
        for (k = 0; k < NELEM(bases); k++) {
            const struct row *b = find(l, bases[k]);
            size_t q;

            if (!good(b))
                continue;
            if (l->c.kind != BENCH_POOL_LATENCY) {
                if (mmsg_s(l) >= mmsg_s(b))
                    continue;
                fprintf(f, "- %s pin:%s: %.3g vs %s %.3g Mops/s (%.2fx)\n",
                        what, bench_pin_name(l->c.pin), mmsg_s(l), bases[k],
                        mmsg_s(b), mmsg_s(l) / mmsg_s(b));
                n++;
                continue;
            }
            for (q = 0; q < NELEM(qs); q++) {
                char a[32];
                char c[32];

                if (q_ns(l, qs[q]) <= q_ns(b, qs[q]))
                    continue;
                fmt_ns(a, sizeof(a), q_ns(l, qs[q]));
                fmt_ns(c, sizeof(c), q_ns(b, qs[q]));
                fprintf(f, "- %s pin:%s: %s %s vs %s %s\n", what,
                        bench_pin_name(l->c.pin), ql[q], a, bases[k], c);
                n++;
            }
        }
    }
    return n;
}

static void
write_spin(FILE *f)
{
    static const char *const v[] = {"lfchan-spin0", "lfchan",
                                    "lfchan-spin20000"};
    size_t k;
    int pin;
    bool any = false;

    for (pin = 0; pin < 3; pin++)
        any = any || find_tp("spsc", 1, 1, 1, 8, (enum bench_pin)pin,
                             "lfchan-spin0") != NULL ||
              find_kind(BENCH_PINGPONG, (enum bench_pin)pin,
                        "lfchan-spin0") != NULL;
    if (!any)
        return;
    fprintf(f, "## lfchan spin budget sweep\n\n"
               "lfc_spin_set_limit(0) / the adaptive default / "
               "lfc_spin_set_limit(%d). SPSC capacity 1: Mmsg/s "
               "[CPU-s/Mmsg]; ping-pong: p50 round trip [CPU-s per "
               "million round trips].\n\n"
               "| row | pin | spin 0 | adaptive (default) | spin %d |\n"
               "|---|---|---|---|---|\n",
            BENCH_SPIN_LONG, BENCH_SPIN_LONG);
    for (pin = 0; pin < 3; pin++) {
        if (find_tp("spsc", 1, 1, 1, 8, (enum bench_pin)pin, "lfchan-spin0")) {
            fprintf(f, "| spsc 1:1 cap 1 | %s |",
                    bench_pin_name((enum bench_pin)pin));
            for (k = 0; k < NELEM(v); k++)
                cell_tp(f, find_tp("spsc", 1, 1, 1, 8, (enum bench_pin)pin,
                                   v[k]));
            fprintf(f, "\n");
        }
    }
    for (pin = 0; pin < 3; pin++) {
        if (find_kind(BENCH_PINGPONG, (enum bench_pin)pin, "lfchan-spin0")) {
            fprintf(f, "| ping-pong | %s |",
                    bench_pin_name((enum bench_pin)pin));
            for (k = 0; k < NELEM(v); k++) {
                const struct row *w =
                    find_kind(BENCH_PINGPONG, (enum bench_pin)pin, v[k]);
                char a[32];

                if (!good(w)) {
                    fprintf(f, w ? " **FAILED** |" : " n/a |");
                    continue;
                }
                fmt_ns(a, sizeof(a), q_ns(w, 0.5));
                fprintf(f, " %s [%.3g] |", a, cpu_per_m(w));
            }
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\n");
}

static void
write_behind(FILE *f)
{
    size_t i;
    int n = 0;

    fprintf(f, "## Where lfchan (default) is slower than the mutex "
               "channel\n\n");
    if (first_of_kind(BENCH_POOL) != NULL ||
        first_of_kind(BENCH_POOL_LATENCY) != NULL ||
        first_of_kind(BENCH_MERGE) != NULL || first_of_kind(BENCH_SEM) != NULL)
        fprintf(f, "Pattern rows (pool, merger, semaphore) are compared "
                   "with each of their baselines: the mutex versions, "
                   "mutex-threads and sem_t.\n\n");
    for (i = 0; i < nrows; i++) {
        const struct row *w = &rows[i];
        const struct row *l;
        const struct row *m;
        char pb[64];

        if (w->c.kind == BENCH_LATENCY || strcmp(w->c.ops->name, "lfchan"))
            continue;
        l = w;
        m = find(w, "mutex");
        if (!good(l) || !good(m))
            continue;
        if ((w->c.kind == BENCH_THROUGHPUT || w->c.kind == BENCH_SELECT ||
             w->c.kind == BENCH_TIMEOUT) &&
            mmsg_s(l) < mmsg_s(m)) {
            fprintf(f, "- %s cap %zu msg %zu pin:%s: %.3g vs %.3g Mmsg/s "
                       "(%.2fx)\n",
                    row_label(&w->c, pb, sizeof(pb)), w->c.cap, w->c.msg,
                    bench_pin_name(w->c.pin), mmsg_s(l), mmsg_s(m),
                    mmsg_s(l) / mmsg_s(m));
            n++;
        } else if (w->c.kind == BENCH_TIMEOUT_FIRED &&
                   l->r.hist.count > 0 && m->r.hist.count > 0 &&
                   (mmsg_s(l) < mmsg_s(m) ||
                    (double)l->r.hist.sum / (double)l->r.hist.count >
                        (double)m->r.hist.sum / (double)m->r.hist.count)) {
            fprintf(f, "- %.3g us timeouts that fire, pin:%s: %.0f vs %.0f "
                       "per second, mean lateness %.0f ns vs %.0f ns\n",
                    (double)w->c.timeout_ns / 1e3, bench_pin_name(w->c.pin),
                    mmsg_s(l) * 1e6, mmsg_s(m) * 1e6,
                    (double)l->r.hist.sum / (double)l->r.hist.count,
                    (double)m->r.hist.sum / (double)m->r.hist.count);
            n++;
        } else if (w->c.kind == BENCH_PINGPONG &&
                   q_ns(l, 0.5) > q_ns(m, 0.5)) {
            fprintf(f, "- ping-pong pin:%s: p50 %.0f ns vs %.0f ns\n",
                    bench_pin_name(w->c.pin), q_ns(l, 0.5), q_ns(m, 0.5));
            n++;
        }
    }
    /* Latency: every percentile where lfchan's is higher. */
    for (i = 0; i < nrows; i++) {
        static const double qs[] = {0.5, 0.99, 0.999, 1.0};
        static const char *const ql[] = {"p50", "p99", "p99.9", "max"};
        const struct row *l = &rows[i];
        const struct row *m;
        size_t q;

        if (l->c.kind != BENCH_LATENCY || strcmp(l->c.ops->name, "lfchan"))
            continue;
        m = find(l, "mutex");
        if (!good(l) || !good(m))
            continue;
        for (q = 0; q < NELEM(qs); q++) {
            char a[32];
            char b[32];

            if (q_ns(l, qs[q]) <= q_ns(m, qs[q]))
                continue;
            fmt_ns(a, sizeof(a), q_ns(l, qs[q]));
            fmt_ns(b, sizeof(b), q_ns(m, qs[q]));
            fprintf(f, "- one-way latency pin:%s: %s %s vs %s\n",
                    bench_pin_name(l->c.pin), ql[q], a, b);
            n++;
        }
    }
    n += behind_patterns(f);
    if (n == 0)
        fprintf(f, "None in this run.\n");
    fprintf(f, "\n");
}

/* bench/README.md ("Targets"): lfchan should match the best system on
 * every row. List the rows where a reference queue (ck_ring, wfcq) beats
 * it by over 10%. */
static void
write_behind_refs(FILE *f)
{
    static const char *const refs[] = {"ck_ring", "wfcq"};
    size_t i;
    size_t k;
    int n = 0;

    fprintf(f, "## Where a reference queue beats lfchan (default) by more "
               "than 10%%\n\n"
               "ck_ring spins and yields and never sleeps; wfcq is "
               "unbounded. Throughput rows: Mmsg/s; ping-pong and latency: "
               "p50.\n\n");
    for (i = 0; i < nrows; i++) {
        const struct row *l = &rows[i];
        char pb[32];

        if (strcmp(l->c.ops->name, "lfchan") || !good(l))
            continue;
        for (k = 0; k < NELEM(refs); k++) {
            const struct row *r = find(l, refs[k]);

            if (!good(r))
                continue;
            if (l->c.kind == BENCH_THROUGHPUT &&
                mmsg_s(r) > 1.1 * mmsg_s(l)) {
                fprintf(f, "- %s cap %zu msg %zu pin:%s: %s %.3g vs lfchan "
                           "%.3g Mmsg/s (%.2fx)\n",
                        pattern_label(&l->c, pb, sizeof(pb)), l->c.cap,
                        l->c.msg, bench_pin_name(l->c.pin), refs[k],
                        mmsg_s(r), mmsg_s(l), mmsg_s(r) / mmsg_s(l));
                n++;
            } else if (l->c.kind != BENCH_THROUGHPUT &&
                       1.1 * q_ns(r, 0.5) < q_ns(l, 0.5)) {
                fprintf(f, "- %s pin:%s: %s p50 %.0f ns vs lfchan %.0f ns\n",
                        l->c.kind == BENCH_PINGPONG ? "ping-pong"
                                                    : "one-way latency",
                        bench_pin_name(l->c.pin), refs[k], q_ns(r, 0.5),
                        q_ns(l, 0.5));
                n++;
            }
        }
    }
    if (n == 0)
        fprintf(f, "None in this run.\n");
    fprintf(f, "\n");
}

static void
write_notes(FILE *f)
{
    size_t i;
    int fails = 0;
    int capped = 0;

    for (i = 0; i < nrows; i++) {
        if (!rows[i].r.ok)
            fails++;
        if (rows[i].r.note[0] != '\0')
            capped++;
    }
    fprintf(f, "## Notes\n\n");
    if (fails) {
        fprintf(f, "**%d benchmark(s) FAILED verification:**\n\n", fails);
        for (i = 0; i < nrows; i++)
            if (!rows[i].r.ok)
                fprintf(f, "- `%s`: %s\n", rows[i].c.name, rows[i].r.err);
        fprintf(f, "\n");
    } else {
        fprintf(f, "Every benchmark verified what it received (count, "
                   "per-producer sum and order, 64-byte payloads).\n\n");
    }
    if (capped) {
        fprintf(f, "%d row(s) carry a note (a time cap stopped the "
                   "senders early, so fewer messages than the fixed count "
                   "were sent and verified; or a placement could not be "
                   "honoured): see the note column of results.csv.\n\n",
                capped);
    }
    fprintf(f, "n/a: the implementation cannot run that row (ck_ring and "
               "wfcq have no rendezvous; wfcq is unbounded and runs only "
               "in the cap:1024 rows and ping-pong). ck_ring's real "
               "capacity is a power of two minus one (1, 63, 1023).\n");
}

static bool
write_summary(const char *path, const char *machine_md, const char *cmdline)
{
    const struct bench_ops *impls[] = {
        &bench_ops_lfchan,        &bench_ops_mutex,
        &bench_ops_ckring,        &bench_ops_wfcq,
        &bench_ops_lfchan_spin0,  &bench_ops_lfchan_spinlong,
        &bench_ops_lfchan_timer,  &bench_ops_lfchan_until,
        &bench_ops_mutex_threads, &bench_ops_semt,
        &bench_ops_lfchan_unbounded};
    FILE *f = fopen(path, "w");
    size_t k;

    if (f == NULL) {
        perror(path);
        return false;
    }
    fprintf(f, "# lfchan benchmark summary\n\n");
    if (machine_md != NULL)
        fprintf(f, "%s\n", machine_md);
    if (cmdline != NULL)
        fprintf(f, "Command: `%s`\n\n", cmdline);
    fprintf(f, "Implementations:\n\n");
    for (k = 0; k < NELEM(impls); k++)
        fprintf(f, "- **%s**: %s\n", impls[k]->name, impls[k]->about);
    fprintf(f, "\nPlacement: none = unpinned; split = producers and "
               "consumers on different CPUs; same = every thread on one "
               "CPU.\n\n");
    write_targets(f);
    write_throughput(f);
    write_batches(f);
    write_pingpong(f);
    write_latency(f);
    write_select(f);
    write_timeouts(f);
    write_patterns(f);
    write_spin(f);
    write_behind(f);
    write_behind_refs(f);
    write_notes(f);
    if (fclose(f) != 0) {
        perror(path);
        return false;
    }
    return true;
}

/* ---- gnuplot data ------------------------------------------------------- */

#define DAT_ROWS 8
#define DAT_COLS 8

/* One chart's data: row labels, column (implementation) names, values
 * (<= 0: missing). Columns with no value at all are left out, so gnuplot
 * gets no empty series. */
struct dat {
    const char *title;
    const char *ylabel;
    size_t nr;
    size_t nc;
    char rlabel[DAT_ROWS][40];
    const char *cname[DAT_COLS];
    double v[DAT_ROWS][DAT_COLS];
};

static bool
dat_write(const char *dir, const char *name, const struct dat *d)
{
    bool use[DAT_COLS] = {false};
    bool any = false;
    char path[4096];
    size_t r;
    size_t c;
    FILE *f;

    for (c = 0; c < d->nc; c++)
        for (r = 0; r < d->nr; r++)
            if (d->v[r][c] > 0)
                use[c] = any = true;
    if (!any)
        return true;
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return false;
    }
    fprintf(f, "# title: %s\n# ylabel: %s\nlabel", d->title, d->ylabel);
    for (c = 0; c < d->nc; c++)
        if (use[c])
            fprintf(f, " %s", d->cname[c]);
    fprintf(f, "\n");
    for (r = 0; r < d->nr; r++) {
        fprintf(f, "%s", d->rlabel[r]);
        for (c = 0; c < d->nc; c++) {
            if (!use[c])
                continue;
            if (d->v[r][c] > 0)
                fprintf(f, " %.6g", d->v[r][c]);
            else
                fprintf(f, " -");
        }
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) {
        perror(path);
        return false;
    }
    return true;
}

static void
dat_cols(struct dat *d, const char *const *names, size_t n)
{
    size_t c;

    d->nc = n < DAT_COLS ? n : DAT_COLS;
    for (c = 0; c < d->nc; c++)
        d->cname[c] = names[c];
}

static bool
write_dats(const char *dir)
{
    static const size_t dcaps[] = {1024, 64, 1, 0};
    static const struct {
        const char *s;
        int p;
        int c;
    } pats[] = {{"spsc", 1, 1}, {"mpsc", 4, 1}, {"spmc", 1, 4},
                {"mpmc", 2, 2}, {"mpmc", 4, 4}, {"mpmc", 8, 8}};
    static const double qs[] = {0.5, 0.99, 0.999, 1.0};
    static const char *const ql[] = {"p50", "p99", "p99.9", "max"};
    struct dat *d = calloc(1, sizeof(*d));
    char name[128];
    char title[256];
    bool ok = true;
    size_t ci;
    size_t pi;
    size_t j;
    size_t k;
    int pin;
    int m;

    if (d == NULL)
        return false;
    /* Throughput and CPU cost by pattern and thread count. */
    for (pin = 0; pin < 3; pin++) {
        const char *pn = bench_pin_name((enum bench_pin)pin);

        for (m = 0; m < 2; m++) {
            for (ci = 0; ci < NELEM(dcaps); ci++) {
                size_t msg = m ? 64 : 8;

                for (k = 0; k < 2; k++) {
                    memset(d, 0, sizeof(*d));
                    snprintf(title, sizeof(title),
                             "%s, capacity %zu, %zu-byte messages, pin:%s",
                             k ? "CPU cost" : "Throughput", dcaps[ci], msg,
                             pn);
                    d->title = title;
                    d->ylabel = k ? "CPU-seconds per million messages"
                                  : "million messages per second";
                    dat_cols(d, tp_impls, NELEM(tp_impls));
                    d->nr = NELEM(pats);
                    for (pi = 0; pi < NELEM(pats); pi++) {
                        snprintf(d->rlabel[pi], sizeof(d->rlabel[pi]),
                                 "%s_%d:%d", pats[pi].s, pats[pi].p,
                                 pats[pi].c);
                        for (j = 0; j < d->nc; j++) {
                            const struct row *w = find_tp(
                                pats[pi].s, pats[pi].p, pats[pi].c,
                                dcaps[ci], msg, (enum bench_pin)pin,
                                tp_impls[j]);

                            if (good(w))
                                d->v[pi][j] = k ? cpu_per_m(w) : mmsg_s(w);
                        }
                    }
                    snprintf(name, sizeof(name), "%s_%s_cap%zu_msg%zu",
                             k ? "cpu" : "throughput", pn, dcaps[ci], msg);
                    ok = dat_write(dir, name, d) && ok;
                }
            }
        }
    }
    /* Latency percentiles per placement, in microseconds. */
    for (pin = 0; pin < 3; pin++) {
        const char *pn = bench_pin_name((enum bench_pin)pin);

        memset(d, 0, sizeof(*d));
        snprintf(title, sizeof(title),
                 "One-way latency at a fixed offered load, pin:%s", pn);
        d->title = title;
        d->ylabel = "microseconds";
        dat_cols(d, lat_impls, NELEM(lat_impls));
        d->nr = NELEM(qs);
        for (j = 0; j < d->nr; j++) {
            snprintf(d->rlabel[j], sizeof(d->rlabel[j]), "%s", ql[j]);
            for (k = 0; k < d->nc; k++) {
                const struct row *w = find_kind(
                    BENCH_LATENCY, (enum bench_pin)pin, lat_impls[k]);

                if (good(w))
                    d->v[j][k] = q_ns(w, qs[j]) / 1e3;
            }
        }
        snprintf(name, sizeof(name), "latency_%s", pn);
        ok = dat_write(dir, name, d) && ok;
    }
    /* Ping-pong round trip p50 and p99 by placement. */
    for (k = 0; k < 2; k++) {
        memset(d, 0, sizeof(*d));
        snprintf(title, sizeof(title),
                 "Ping-pong round trip (%s), two capacity-1 channels",
                 k ? "p99" : "p50");
        d->title = title;
        d->ylabel = "microseconds";
        dat_cols(d, pp_impls, NELEM(pp_impls));
        for (pin = 0; pin < 3; pin++) {
            bool have = false;

            for (j = 0; j < d->nc; j++) {
                const struct row *w = find_kind(
                    BENCH_PINGPONG, (enum bench_pin)pin, pp_impls[j]);

                if (good(w)) {
                    d->v[d->nr][j] = q_ns(w, k ? 0.99 : 0.5) / 1e3;
                    have = true;
                }
            }
            if (have) {
                snprintf(d->rlabel[d->nr], sizeof(d->rlabel[d->nr]),
                         "pin:%s", bench_pin_name((enum bench_pin)pin));
                d->nr++;
            }
        }
        snprintf(name, sizeof(name), "pingpong_%s", k ? "p99" : "p50");
        ok = dat_write(dir, name, d) && ok;
    }
    free(d);
    return ok;
}

bool
bench_report_write(const char *dir, const char *machine_md,
                   const char *cmdline)
{
    char path[4096];
    bool ok = true;

    snprintf(path, sizeof(path), "%s/results.csv", dir);
    ok = write_csv(path) && ok;
    snprintf(path, sizeof(path), "%s/summary.md", dir);
    ok = write_summary(path, machine_md, cmdline) && ok;
    ok = write_dats(dir) && ok;
    return ok;
}
