/* SPDX-License-Identifier: MIT */
/*
 * The lfchan benchmark harness, C side: what bench_main.cc (the only C++
 * file) calls, and what the workload and implementation files share.
 *
 *   bench.h         this header: the ops table, cases, results, config.
 *   chan_bench.c    the channel workloads (throughput, ping-pong, one-way
 *                   latency), their verification, and the case matrix.
 *   select_bench.c  select over K channels and receive-with-timeout
 *                   workloads, their rows of the matrix, their self-test.
 *   pattern_bench.c the pattern workloads (worker pool throughput and
 *                   latency, fan-in merger, semaphore), their rows, their
 *                   self-test.
 *   impl_lfchan.c   lfchan behind the ops table (plus spin-budget variants
 *                   and the unbounded channel),
 *                   and lfc_pool / lfc_merge / lfc_sem behind bench_pat_ops.
 *   mutex_chan.c    the baseline: ring + one mutex + condition variables,
 *                   with a select (per-select waiter, shared condvar).
 *   mutex_patterns.c the pattern baselines: a pool, two mergers and a
 *                   semaphore built from mutexes and condition variables
 *                   (and mutex_chan.c), and POSIX sem_t.
 *   ref_ckring.c    Concurrency Kit ck_ring MPMC, spin-then-yield waits.
 *   ref_wfcq.c      liburcu wfcqueue (unbounded), spin-then-yield waits.
 *   bench_util.c    clocks, CPU placement, rusage, the watchdog, and what
 *                   the workloads share (failure, start, checks, case
 *                   lists, the self-test's report).
 *   lfc_hist.[ch]   a small log-linear latency histogram.
 *   report.c        results.csv, summary.md and the gnuplot data files.
 *
 * Every implementation returns lfchan's status codes (LFC_OK, LFC_CLOSED,
 * LFC_AGAIN), so one workload runs them all unchanged.
 */
#ifndef LFC_BENCH_H
#define LFC_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lfc_hist.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The ops table: one per channel implementation ------------------- */

/* One case of a select, as the workload describes it to sel_new. */
struct bench_sel {
    void *ch;  /* a channel of the same implementation; NULL: never ready */
    int dir;   /* LFC_SEND or LFC_RECV (lfchan/select.h) */
    void *buf; /* the value to send, or where to put the one received */
};

struct bench_pat_ops;

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

    /* Select, as lfchan/select.h (all four NULL: no select rows). sel_new
     * takes n cases over channels of capacity >= 1 (copied; the buffers
     * must outlive the handle) and returns a handle for one thread at a
     * time, or NULL. select completes one ready case, checking the cases
     * in a random order, and returns its index with *status LFC_OK or
     * LFC_CLOSED (as the plain call); or LFC_TIMEDOUT once deadline_ns
     * (CLOCK_MONOTONIC, bench_now_ns; LFC_FOREVER: none) has passed with
     * nothing done. sel_off switches case i off for good (as a NULL
     * channel). */
    void *(*sel_new)(const struct bench_sel *cases, int n);
    int (*select)(void *sel, int64_t deadline_ns, int *status);
    void (*sel_off)(void *sel, int i);
    void (*sel_free)(void *sel);

    /* Receive with a relative timeout, the implementation's own idiom
     * (NULL: no timeout rows): LFC_OK, LFC_CLOSED, or LFC_TIMEDOUT (never
     * before timeout_ns has passed since the call; nothing received). */
    int (*recv_timeout)(void *ch, void *out, int64_t timeout_ns);

    /* Batches, as lfc_send_many / lfc_recv_many (both NULL: no batch
     * rows): send_many sends elems[0..n) (LFC_OK, or LFC_CLOSED with *sent
     * the number that went in); recv_many waits for one value and takes
     * up to max ready ones (LFC_OK with *got >= 1, or LFC_CLOSED). */
    int (*send_many)(void *ch, const void *elems, size_t n, size_t *sent);
    int (*recv_many)(void *ch, void *out, size_t max, size_t *got);

    /* The patterns built on this implementation (NULL: none). Entries that
     * exist only for pattern rows (mutex-threads, sem_t) have a name,
     * about, real_cap and pat, and no channel functions. */
    const struct bench_pat_ops *pat;
};

/*
 * The patterns (pattern_bench.c) an implementation offers; a NULL group
 * means no rows of that kind. Statuses are lfchan's.
 */
struct bench_pat_ops {
    /* Pool: `workers` threads running tasks from a queue of `cap` tasks.
     * cpus: NULL (unpinned), or a CPU per worker (-1: that one unpinned).
     * submit queues fn(arg) (blocking while the queue is full): LFC_OK or
     * LFC_CLOSED. wait returns LFC_OK once every task whose submit returned
     * before it was called has finished. free runs what is queued, joins
     * the workers. */
    void *(*pool_new)(unsigned workers, size_t cap, const int *cpus);
    int (*pool_submit)(void *pool, void (*fn)(void *), void *arg);
    int (*pool_wait)(void *pool);
    void (*pool_free)(void *pool);

    /* Merger: forwards every value from in[0..n) to out, channels of the
     * `chan` implementation (same element size), and closes out once every
     * input is closed and drained. merge_free joins its threads and
     * returns the values it dropped (out closed behind its back). */
    const struct bench_ops *chan;
    void *(*merge_new)(void **in, int n, void *out);
    uint64_t (*merge_free)(void *m);

    /* Semaphore of `permits` permits: acquire waits until n are free;
     * release returns them. LFC_OK, or an error status. */
    void *(*sem_new)(int64_t permits);
    int (*sem_acquire)(void *sem, int64_t n);
    int (*sem_release)(void *sem, int64_t n);
    void (*sem_free)(void *sem);
};

extern const struct bench_ops bench_ops_lfchan;
extern const struct bench_ops bench_ops_lfchan_spin0;
extern const struct bench_ops bench_ops_lfchan_spinlong;
extern const struct bench_ops bench_ops_lfchan_timer;
extern const struct bench_ops bench_ops_lfchan_until;
extern const struct bench_ops bench_ops_mutex;
extern const struct bench_ops bench_ops_ckring;
extern const struct bench_ops bench_ops_wfcq;
extern const struct bench_ops bench_ops_lfchan_unbounded;
extern const struct bench_ops bench_ops_mutex_threads; /* pattern rows only */
extern const struct bench_ops bench_ops_semt;          /* pattern rows only */
extern const struct bench_pat_ops bench_pat_lfchan;
extern const struct bench_pat_ops bench_pat_mutex;

/* The fixed spin budget of the lfchan-spinlong variant. */
#define BENCH_SPIN_LONG 20000

/* ---- Cases and results ------------------------------------------------ */

enum bench_kind {
    BENCH_THROUGHPUT,    /* p producers, c consumers, counted and verified */
    BENCH_PINGPONG,      /* round trips over two capacity-1 channels */
    BENCH_LATENCY,       /* one-way latency at a fixed offered load */
    BENCH_SELECT,        /* K producers, one channel each; one consumer
                            selects over the K (select_bench.c) */
    BENCH_TIMEOUT,       /* a receive with a timeout per message; the data
                            comes first, the timeouts do not fire */
    BENCH_TIMEOUT_FIRED, /* receives with a timeout on an idle channel:
                            every timeout fires; hist: lateness */
    BENCH_POOL,          /* producers submit empty tasks to a pool of
                            `consumers` workers (pattern_bench.c) */
    BENCH_POOL_LATENCY,  /* one submitter at a fixed rate; hist: submit
                            (scheduled) to task start */
    BENCH_MERGE,         /* `inputs` channels fed by `producers` threads,
                            merged into one channel read by one consumer */
    BENCH_SEM,           /* `producers` threads acquire(1)+release(1) on a
                            semaphore of `permits` */
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
    const char *scenario; /* spsc mpsc spmc mpmc pingpong latency
                             select_rx timeout timeout_fired; patterns:
                             throughput latency fanin uncontended
                             contended */
    int producers;        /* BENCH_SELECT: also the number of channels;
                             pool: submitters; sem: threads */
    int consumers;        /* pool: workers; merge: 1; sem: 0 */
    int inputs;           /* BENCH_MERGE: input channels; else 0 */
    int permits;          /* BENCH_SEM: the semaphore's permits; else 0 */
    int batch;            /* BENCH_THROUGHPUT: 0 single sends and
                             receives; B >= 1: send_many of B values,
                             recv_many of up to B (ops->send_many) */
    size_t cap;       /* as requested (the real one: ops->real_cap) */
    size_t msg;       /* bytes per message: 8 or 64 */
    enum bench_pin pin;
    uint64_t msgs;    /* messages (round trips) per iteration, at most */
    double max_s;     /* an iteration stops sending after this long */
    int iterations;
    uint64_t rate;    /* BENCH_LATENCY: offered messages per second */
    int64_t timeout_ns; /* BENCH_TIMEOUT*: per receive */
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

/* select_bench.c: the select and timeout rows of the matrix (appended by
 * bench_cases; a malloc'ed array, its length in *n), running one of them
 * (bench_run hands these kinds over), and the self-test of every select
 * and recv_timeout (run by bench_selftest; returns the failure count). */
struct bench_case *bench_select_cases(const struct bench_config *cfg,
                                      size_t *n);
void bench_select_run(const struct bench_case *c, struct bench_result *res);
int bench_select_selftest(void);

/* pattern_bench.c: the same three for the pool, merger and semaphore rows
 * (kinds BENCH_POOL, BENCH_POOL_LATENCY, BENCH_MERGE, BENCH_SEM). */
struct bench_case *bench_pattern_cases(const struct bench_config *cfg,
                                       size_t *n);
void bench_pattern_run(const struct bench_case *c, struct bench_result *res);
int bench_pattern_selftest(void);

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

/* The CPUs this process may run on, at most max of them, into cpus;
 * returns how many (0 on error). */
int bench_allowed_cpus(int *cpus, int max);
/* The CPU for a producer's or consumer's index i under a placement, from
 * bench_allowed_cpus' list; -1: unpinned. */
int bench_cpu_for(enum bench_pin pin, const int *cpus, int ncpu, bool producer,
                  int i);
/* Pin the calling thread to cpu (-1: leave it); 0 or an errno value. */
int bench_pin_self(int cpu);
/* CPU seconds (user + system) and context switches of the process. */
void bench_usage(double *cpu_s, uint64_t *ctxsw);

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

/* ---- Shared by the workloads (bench_util.c) --------------------------- */

/* Messages between a worker's progress reports and time-cap checks. */
#define BENCH_CHECK_EVERY 64

/*
 * What the threads of one run share: the start barrier and the first
 * failure. A workload's run struct embeds it; close_all (set by the
 * workload) closes the run's channels, so that no thread stays blocked on
 * a partner that has stopped.
 */
struct bench_sync {
    pthread_barrier_t start;
    int failed;    /* set once, by the first thread to fail (atomic) */
    char err[256]; /* written by that thread */
    void (*close_all)(struct bench_sync *s);
};

/* Record the failure (only the first is kept) and close every channel. */
void bench_fail(struct bench_sync *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool bench_failed(struct bench_sync *s);
/* Pin to cpu (-1: unpinned), then wait at the start barrier. Returns false
 * (having failed the run) if pinning failed. */
bool bench_worker_begin(struct bench_sync *s, int cpu);

/* The CPUs this process may run on, into cpus (CPU_SETSIZE entries; at
 * least one), and how many; notes in res that a split placement ran
 * unpinned when there is only one. */
int bench_case_cpus(const struct bench_case *c, int *cpus,
                    struct bench_result *res);
/* pthread_create, or abort: a start barrier would never open. */
void bench_thread_start(pthread_t *th, void *(*fn)(void *), void *arg);
/* A fresh histogram, or abort. */
struct lfc_hist *bench_hist_new(void);

/* Producer id's share of c->msgs, split evenly among c->producers. */
uint64_t bench_share(const struct bench_case *c, int id);
/* Every BENCH_CHECK_EVERY messages: report count to the watchdog's slot,
 * and say whether the time cap (deadline, bench_now_ns) has passed. */
bool bench_checkpoint(int slot, uint64_t count, int64_t deadline);
/* Adds one producer's results to res: the messages it sent, its start time
 * (the earliest one so far into *t0; 0: it never started), and a note if
 * the time cap stopped it. */
void bench_add_producer(struct bench_result *res, const struct bench_case *c,
                        uint64_t sent, int64_t t_start, bool capped,
                        int64_t *t0);
/* Exactly once: producer p sent sequence numbers 1..sent, and got of them
 * arrived, summing to sum. If not, fails res (ok false, err) and returns
 * false. */
bool bench_conserved(struct bench_result *res, int p, uint64_t sent,
                     uint64_t got, uint64_t sum);

/* A growing list of cases. */
struct bench_builder {
    const struct bench_config *cfg;
    struct bench_case *v;
    size_t n;
    size_t max;
};

/* Appends a copy of c (aborts when out of memory). */
void bench_builder_append(struct bench_builder *b, const struct bench_case *c);

/* Whether cfg runs case c at its pin: cfg->pins selects c->pin, and in a
 * quick run over all three pins a pinned case only where quick_pinned(c)
 * says so. */
bool bench_pin_selected(const struct bench_config *cfg,
                        const struct bench_case *c,
                        bool (*quick_pinned)(const struct bench_case *c));

/* A self-test check: when cond is false, says where and what on stderr and
 * counts one more failure in the int `failures`. */
#define BENCH_ST_CHECK(failures, cond, ...)                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            bench_st_fail(&(failures), __FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)
void bench_st_fail(int *failures, const char *file, int line, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif /* LFC_BENCH_H */
