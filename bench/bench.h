/* SPDX-License-Identifier: MIT */
/*
 * The lfchan benchmark harness, C side: what bench_main.cc (the only C++
 * file) calls, and what the workload and implementation files share.
 *
 *   bench.h         this header: the ops table, cases, results, config.
 *   chan_bench.c    the channel workloads (throughput, ping-pong, one-way
 *                   latency), their verification, and the case matrix.
 *   impl_lfchan.c   lfchan behind the ops table (plus spin-budget variants).
 *   mutex_chan.c    the baseline: ring + one mutex + condition variables.
 *   ref_ckring.c    Concurrency Kit ck_ring MPMC, spin-then-yield waits.
 *   ref_wfcq.c      liburcu wfcqueue (unbounded), spin-then-yield waits.
 *   bench_util.c    clocks, CPU placement, rusage, the watchdog.
 *   lfc_hist.[ch]   a small log-linear latency histogram.
 *   report.c        results.csv, summary.md and the gnuplot data files.
 *
 * Every implementation returns lfchan's status codes (LFC_OK, LFC_CLOSED,
 * LFC_AGAIN), so one workload runs them all unchanged.
 */
#ifndef LFC_BENCH_H
#define LFC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lfc_hist.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The ops table: one per channel implementation ------------------- */

/* What an implementation cannot do; the matrix skips those rows. */
enum {
    BENCH_NO_UNBUFFERED = 1u << 0, /* capacity 0 (rendezvous) */
    BENCH_UNBOUNDED = 1u << 1,     /* ignores capacity: cap:1024 rows only */
};

struct bench_ops {
    const char *name;  /* the impl:<name> part of benchmark names */
    const char *about; /* one line for summary.md */
    unsigned flags;    /* BENCH_NO_UNBUFFERED, BENCH_UNBOUNDED */
    /* Called before and after every run (may be NULL): process-wide knobs
     * such as lfchan's spin budget. */
    void (*setup)(void);
    void (*teardown)(void);
    /* A channel of `cap` values of `esz` bytes; NULL on failure. */
    void *(*make)(size_t cap, size_t esz);
    /* Blocking send/recv: LFC_OK or LFC_CLOSED. */
    int (*send)(void *ch, const void *elem);
    int (*recv)(void *ch, void *out);
    /* Never wait for the other side: LFC_OK, LFC_AGAIN or LFC_CLOSED. */
    int (*try_send)(void *ch, const void *elem);
    int (*try_recv)(void *ch, void *out);
    /* Close for sending: LFC_OK, or LFC_CLOSED if already closed.
     * Implementations marked in `about` as "close after senders" need every
     * sender to have returned first; the workloads always do that. */
    int (*close)(void *ch);
    void (*destroy)(void *ch);
    /* The capacity actually used for a requested one (ck_ring rounds). */
    size_t (*real_cap)(size_t cap);
};

extern const struct bench_ops bench_ops_lfchan;
extern const struct bench_ops bench_ops_lfchan_spin0;
extern const struct bench_ops bench_ops_lfchan_spinlong;
extern const struct bench_ops bench_ops_mutex;
extern const struct bench_ops bench_ops_ckring;
extern const struct bench_ops bench_ops_wfcq;

/* The fixed spin budget of the lfchan-spinlong variant. */
#define BENCH_SPIN_LONG 20000

/* ---- Cases and results ------------------------------------------------ */

enum bench_kind {
    BENCH_THROUGHPUT, /* p producers, c consumers, counted and verified */
    BENCH_PINGPONG,   /* round trips over two capacity-1 channels */
    BENCH_LATENCY,    /* one-way latency at a fixed offered load */
};

enum bench_pin {
    BENCH_PIN_NONE,  /* unpinned */
    BENCH_PIN_SPLIT, /* producers on one set of CPUs, consumers on another */
    BENCH_PIN_SAME,  /* every thread on one CPU */
};

enum bench_mode { BENCH_QUICK, BENCH_DEFAULT, BENCH_FULL };

struct bench_config {
    enum bench_mode mode;
    unsigned pins;  /* bit (1 << enum bench_pin) per placement to run */
    uint64_t msgs;  /* messages per iteration; 0: the mode's default */
    double max_s;   /* time cap per iteration; 0: the mode's default */
    int iterations; /* 0: the mode's default */
};

struct bench_case {
    char name[192]; /* BM_chan_<scenario>/impl:../...: STYLE section 10 */
    enum bench_kind kind;
    const struct bench_ops *ops;
    const char *scenario; /* spsc mpsc spmc mpmc pingpong latency */
    int producers;
    int consumers;
    size_t cap;       /* as requested (the real one: ops->real_cap) */
    size_t msg;       /* bytes per message: 8 or 64 */
    enum bench_pin pin;
    uint64_t msgs;    /* messages (round trips) per iteration, at most */
    double max_s;     /* an iteration stops sending after this long */
    int iterations;
    uint64_t rate;    /* BENCH_LATENCY: offered messages per second */
};

struct bench_result {
    bool ok;
    char err[256];  /* why not ok */
    char note[128]; /* e.g. "time cap hit", "split ran unpinned: 1 CPU" */
    uint64_t msgs;  /* messages (round trips) delivered and verified */
    double wall_s;  /* first send to last receive */
    double cpu_s;   /* user + system CPU of the whole process */
    uint64_t ctxsw; /* voluntary + involuntary context switches */
    struct lfc_hist hist; /* ns: round trips (pingpong), one-way (latency) */
};

/* The case matrix for a config: a malloc'ed array (free it), its length in
 * *n. Cases appear in the order they should run. */
struct bench_case *bench_cases(const struct bench_config *cfg, size_t *n);

/* Run one iteration of a case. Clears *res first. Never aborts on a wrong
 * result: res->ok is false and res->err says what was wrong. */
void bench_run(const struct bench_case *c, struct bench_result *res);

/* Adds one iteration's result into an accumulator (msgs, times, hist). */
void bench_result_add(struct bench_result *acc, const struct bench_result *r);

/* Quick self-checks of every implementation's semantics and of lfc_hist;
 * prints what failed to stderr and returns false on any failure. */
bool bench_selftest(void);

/* ---- Reporting (report.c) --------------------------------------------- */

/* Record a finished case (all iterations summed in *res). */
void bench_report_add(const struct bench_case *c,
                      const struct bench_result *res);

/* Write results.csv, summary.md and the gnuplot .dat files into dir.
 * machine_md (may be NULL) is copied into summary.md verbatim; cmdline is
 * quoted there. Returns false (with a message on stderr) on an I/O error. */
bool bench_report_write(const char *dir, const char *machine_md,
                        const char *cmdline);

/* ---- Utilities (bench_util.c) ----------------------------------------- */

int64_t bench_now_ns(void);
const char *bench_pin_name(enum bench_pin pin);
int bench_ncpus(void); /* CPUs this process may run on */

/* Watchdog: a thread (started once) that aborts the process with a clear
 * message if the running workload makes no progress for 30 s. Workloads
 * bump per-thread counters (bench_progress(slot)) and bracket their run
 * with bench_watch_begin/end. */
void bench_watchdog_start(void);
void bench_watch_begin(const char *what, int nslots);
void bench_watch_end(void);
void bench_progress(int slot, uint64_t count);

/* The number of CPU-relax polls before spin-then-yield waits yield. */
#define BENCH_SPIN_POLLS 200

/* One spin-then-yield step: poll `spins` counts the calls so far. */
void bench_backoff(unsigned *spins);

#ifdef __cplusplus
}
#endif

#endif /* LFC_BENCH_H */
