/* SPDX-License-Identifier: MIT */
/*
 * Fault injection: every allocation and every thread creation the library
 * makes fails in turn, and each time the call reports its documented
 * status, leaks nothing, and the next call works.
 *
 * How. The binary is linked with --wrap for malloc, calloc, realloc,
 * aligned_alloc, free, pthread_create and pthread_atfork (CMakeLists.txt),
 * which sends the calls made from liblfchan.a's objects (and this file's)
 * to the wrappers below; the runtimes' own calls (libc's, cmocka's, the
 * sanitizers') are not wrapped. An armed injector counts the calls of the
 * kinds it watches, on the arming thread only (the library's constructors
 * allocate on the caller's thread) or, for scenarios whose library
 * threads allocate, on every thread, and fails the k-th one: malloc and
 * friends return NULL with errno ENOMEM, pthread_create returns EAGAIN. A
 * sweep runs a scenario with k = 1, 2, ... until a run meets no injected
 * failure (so every allocation or creation the scenario reaches has
 * failed once), and at each k checks:
 *   - the result is the documented one: a constructor returns NULL with
 *     errno ENOMEM, a status call LFC_ENOMEM (each scenario checks its own
 *     calls, including that nothing was consumed or started);
 *   - a failure injected on the calling thread is reported (nothing is
 *     swallowed), and no call reports a failure that was not injected;
 *   - nothing leaks: the wrappers keep the set of live blocks, and after
 *     the scenario has freed what it made the count must come back to
 *     where it was (waited for, since the timer thread frees some blocks
 *     a moment later); the ASan build's LeakSanitizer checks again at
 *     exit;
 *   - no thread is left behind (counted by name in /proc/self/task), no
 *     timer is left queued;
 *   - the library works on the next call: the same scenario run at once
 *     with no injection must succeed in full.
 * Three sweeps: "one" (only the k-th allocation fails), "from" (the k-th
 * and every later one on the thread fail: cleanup paths must not need
 * memory) and "thread" (the k-th pthread_create fails). A watchdog turns
 * a hang (a permit or a wake-up lost on an error path) into a failure.
 *
 * Allocation sites (grep malloc/calloc/realloc/aligned_alloc/
 * posix_memalign/strdup in src/) and the scenarios that fail them:
 *
 *   | site                          | what                  | scenarios    |
 *   |-------------------------------|-----------------------|--------------|
 *   | chan.c lfc__chan_new_at       | every channel         | chan_*, and  |
 *   |   aligned_alloc               | (users' and internal) | every other  |
 *   | ctx.c ctx_new calloc          | a context             | ctx_*, group |
 *   | timer.c timer_alloc calloc    | every timer           | after_*,     |
 *   |                               |                       | timer_after, |
 *   |                               |                       | tick, ctx_*  |
 *   | timer.c heap_reserve realloc  | heap: first and grow  | heap growth  |
 *   | select.c select_impl malloc   | > 32 cases            | select_40,   |
 *   |                               |                       | merge_wide,  |
 *   |                               |                       | fanout_bc_40 |
 *   | sem.c lfc_sem_new             | semaphore             | sem_wg,      |
 *   |   aligned_alloc               |                       | group        |
 *   | wg.c lfc_wg_new aligned_alloc | wait group            | sem_wg       |
 *   | pool.c lfc_pool_new_opts x3   | pool, workers,        | pool,        |
 *   |   aligned_alloc               | stripes               | pool_opts    |
 *   | group.c lfc_group_new calloc  | group                 | group        |
 *   | group.c start malloc          | a task record         | group        |
 *   | merge.c lfc_merge_new_ex      | merger, level array,  | merge_*      |
 *   |   calloc x3, holds_take       | nodes, held refs;     |              |
 *   |   malloc, node_add calloc,    | per node: cases, the  |              |
 *   |   value_buf malloc            | value buffer          |              |
 *   | merge.c lfc_fanout_new_ex     | fan-out, outs, live,  | fanout_*     |
 *   |   calloc x2, malloc x2,       | cases, held refs,     |              |
 *   |   holds_take, value_buf       | value buffer          |              |
 *
 * Sites on library threads: the only allocation a library thread makes is
 * lfc_select's above 32 cases, in a merger node with more than 31 inputs
 * (only with the lfc__merge_set_fanin test hook; by default every node
 * stays within 32 cases) and in a fan-out over more than 32 outputs; both
 * retry a failed select (merge.c select_retry), so the failure is absorbed
 * and the value still delivered: merge_wide and fanout_bc_40 count every
 * thread's allocations to reach them. The timer thread, pool workers and
 * group task threads allocate nothing (the timer thread frees: fired
 * lfc_after timers, the heap when it exits): ctx_deadline_fires,
 * after_zero, tick, pool and group count every thread's calls too, and
 * their site counts are still the constructors' alone. Operations that
 * allocate nothing (send, receive, close, dup, selects up to 32 cases,
 * the _ctx calls, semaphore and wait group operations, pool submits and
 * waits, timer stop, context cancel) run inside the scenarios too: their
 * sweeps would find their allocations, and each scenario's expected site
 * count says there are none beyond the constructors'.
 *
 * pthread_atfork (its handler list is libc's allocation) is failed through
 * its wrapper for lfc__fork_watch (pools, groups, mergers, fan-outs), in
 * the first test of the binary, since the handler is registered on first
 * use. The timer module's registration is not failed: it runs once per
 * process under pthread_once and a failure is final (timer.h), which
 * would fail every later timer scenario. Not reachable: pthread_mutex_init,
 * pthread_cond_init, pthread_condattr_init and pthread_attr_init failing
 * (glibc's never do for default attributes), and the allocations libc
 * makes inside pthread_create (its failure is what EAGAIN stands for).
 *
 * Thread creation sites (pthread_create in src/):
 *
 *   | site                         | scenarios                            |
 *   |------------------------------|--------------------------------------|
 *   | pool.c start_worker          | pool, pool_opts (pinned, named): the |
 *   |                              | 1st..nth worker fails; the started   |
 *   |                              | ones are joined, NULL ENOMEM         |
 *   | merge.c thread_start, merger | merge_3, merge_70 (each node's)      |
 *   | merge.c thread_start, fan-out| fanout_rr_3                          |
 *   | timer.c ensure_thread        | after_far, timer_after, tick,        |
 *   |                              | ctx_timeout, ctx_deadline_fires,     |
 *   |                              | ctx_tree (timer thread down first;   |
 *   |                              | the next arm starts it)              |
 *   | group.c start                | group (limit 1: a failed go must     |
 *   |                              | give its permit back, or the next go |
 *   |                              | hangs)                               |
 *
 * Timers and determinism: the timer heap is allocated (realloc) by the
 * first arm after the timer thread has exited, so whether a scenario
 * reaches that realloc depends on timing. The allocation sweeps therefore
 * keep one far timer queued (the heap stays, with room for 15 more), and
 * test_faults_timer_heap_growth fails the heap's reallocs on their own:
 * the first, and the growths at the 17th and 33rd timer. The thread sweep
 * waits for the timer thread to exit before each run of a timer scenario,
 * so that the arm has to start one.
 *
 * Besides the sweeps: test_faults_fork_watch_retries_after_atfork_failure
 * (pthread_atfork failing, first in the binary), a channel whose size
 * overflows (ENOMEM with no allocation tried), and
 * test_faults_random_concurrent: three threads at once, one call in eight
 * failing at random, so that error paths race with each other and with
 * the timer thread starting and exiting.
 *
 * LFC_TEST_FILTER=<substring> runs only the sweep scenarios whose name
 * has it; LFC_TEST_SCALE sizes the random test (400 operations per thread
 * at 1). About 5 s in a plain build on two idle cores.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lfchan.h"
#include "lfc_merge_internal.h"
#include "lfc_test_support.h"
#include "lfc_timer_internal.h"

/* ---- the injector ------------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void __real_free(void *p);
int __real_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
int __real_pthread_atfork(void (*prepare)(void), void (*parent)(void),
                          void (*child)(void));
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void __wrap_free(void *p);
int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
int __wrap_pthread_atfork(void (*prepare)(void), void (*parent)(void),
                          void (*child)(void));

/* Kinds of call the injector can fail. */
enum {
    K_MALLOC = 1,
    K_CALLOC = 2,
    K_REALLOC = 4,
    K_ALIGNED = 8,
    K_ALLOC = K_MALLOC | K_CALLOC | K_REALLOC | K_ALIGNED,
    K_THREAD = 16,
    K_ATFORK = 32, /* pthread_atfork: ENOMEM, as glibc's when it cannot
                      grow its handler list */
};

/* Fail only the k-th counted call, or the k-th and every later one. */
enum { M_ONE, M_FROM };

/* Every field is accessed with __atomic (library threads read them while
 * the test thread re-arms); armed is stored last, with release. */
static struct {
    int armed;
    int global; /* count every thread's calls, not only the arming one's */
    unsigned kinds;
    int mode;
    long at;          /* the at-th counted call fails (1-based) */
    long seen;        /* counted calls so far */
    long failed;      /* failures injected */
    long failed_here; /* of which on the arming thread */
} fi;
static __thread bool t_arming; /* this thread armed the injector */
/* Random failures on this thread (test_faults_random_concurrent): one
 * call in t_rand_one fails, drawn from t_rand_state; 0: off. */
static __thread unsigned t_rand_one;
static long g_rand_failed; /* failures it injected, all threads */
static __thread uint64_t t_rand_state;

static void
fault_arm(unsigned kinds, int mode, long at, bool global)
{
    __atomic_store_n(&fi.global, global, __ATOMIC_RELAXED);
    __atomic_store_n(&fi.kinds, kinds, __ATOMIC_RELAXED);
    __atomic_store_n(&fi.mode, mode, __ATOMIC_RELAXED);
    __atomic_store_n(&fi.at, at, __ATOMIC_RELAXED);
    __atomic_store_n(&fi.seen, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fi.failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fi.failed_here, 0, __ATOMIC_RELAXED);
    t_arming = true;
    __atomic_store_n(&fi.armed, 1, __ATOMIC_RELEASE);
}

static void
fault_disarm(void)
{
    __atomic_store_n(&fi.armed, 0, __ATOMIC_RELEASE);
    t_arming = false;
}

/* Whether this call (of kind) is the one to fail. */
static bool
fault_inject(unsigned kind)
{
    if (t_rand_one && (kind & (K_ALLOC | K_THREAD))) {
        if (lfc_test_xorshift64(&t_rand_state) % t_rand_one != 0)
            return false;
        __atomic_fetch_add(&g_rand_failed, 1, __ATOMIC_RELAXED);
        return true;
    }
    if (!__atomic_load_n(&fi.armed, __ATOMIC_ACQUIRE))
        return false;
    bool here = t_arming;
    if (!(__atomic_load_n(&fi.kinds, __ATOMIC_RELAXED) & kind))
        return false;
    if (!here && !__atomic_load_n(&fi.global, __ATOMIC_RELAXED))
        return false;
    long n = __atomic_add_fetch(&fi.seen, 1, __ATOMIC_RELAXED);
    long at = __atomic_load_n(&fi.at, __ATOMIC_RELAXED);
    bool fail = __atomic_load_n(&fi.mode, __ATOMIC_RELAXED) == M_ONE ? n == at
                                                                     : n >= at;
    if (!fail)
        return false;
    __atomic_fetch_add(&fi.failed, 1, __ATOMIC_RELAXED);
    if (here)
        __atomic_fetch_add(&fi.failed_here, 1, __ATOMIC_RELAXED);
    return true;
}

/*
 * The live blocks: an open-addressing set of the pointers the wrappers
 * returned and free has not taken back, with linear probing and
 * backward-shift deletion (no tombstones, so it never fills up with
 * them). Blocks from realloc (only the timer heap grows that way; it is
 * the module's, freed when the timer thread exits) are kept apart, so
 * that live_count() is what scenarios must give back. The pointers are
 * stored disguised (XOR LIVE_HIDE), so that the table does not keep a
 * leaked block reachable in LeakSanitizer's eyes.
 */
enum { LIVE_SLOTS = 1 << 16 };
#define LIVE_HIDE ((uintptr_t)0xa5a5a5a5a5a5a5a5ULL)
struct live_slot {
    uintptr_t p; /* the block's address XOR LIVE_HIDE; 0: empty */
    bool realloced;
};
static struct live_slot live_tab[LIVE_SLOTS];
static long live_n; /* non-realloc entries; under live_mu */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t
live_hash(uintptr_t p)
{
    uint64_t x = (uint64_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (LIVE_SLOTS - 1);
}

static void
live_add(void *block, bool realloced)
{
    uintptr_t p = (uintptr_t)block ^ LIVE_HIDE;
    pthread_mutex_lock(&live_mu);
    size_t i = live_hash(p);
    for (size_t probes = 0; live_tab[i].p; probes++) {
        if (probes == LIVE_SLOTS) {
            fprintf(stderr, "test_faults: live set full\n");
            abort();
        }
        i = (i + 1) & (LIVE_SLOTS - 1);
    }
    live_tab[i] = (struct live_slot){p, realloced};
    if (!realloced)
        live_n++;
    pthread_mutex_unlock(&live_mu);
}

/* Remove slot i, shifting back the entries of its probe run that would
 * no longer be found. Under live_mu. */
static void
live_remove_at(size_t i)
{
    size_t j = i;
    for (;;) {
        live_tab[i].p = 0;
        for (;;) {
            j = (j + 1) & (LIVE_SLOTS - 1);
            if (!live_tab[j].p)
                return;
            size_t h = live_hash(live_tab[j].p);
            /* Entry j may stay if its home h lies cyclically in (i, j]. */
            bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
            if (!stays)
                break;
        }
        live_tab[i] = live_tab[j];
        i = j;
    }
}

static void
live_del(void *block)
{
    if (!block)
        return;
    uintptr_t p = (uintptr_t)block ^ LIVE_HIDE;
    pthread_mutex_lock(&live_mu);
    size_t i = live_hash(p);
    while (live_tab[i].p && live_tab[i].p != p)
        i = (i + 1) & (LIVE_SLOTS - 1);
    if (live_tab[i].p == p) {
        if (!live_tab[i].realloced)
            live_n--;
        live_remove_at(i);
    }
    pthread_mutex_unlock(&live_mu);
}

static long
live_count(void)
{
    pthread_mutex_lock(&live_mu);
    long n = live_n;
    pthread_mutex_unlock(&live_mu);
    return n;
}

void *
__wrap_malloc(size_t n)
{
    if (fault_inject(K_MALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_malloc(n);
    if (p)
        live_add(p, false);
    return p;
}

void *
__wrap_calloc(size_t k, size_t n)
{
    if (fault_inject(K_CALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_calloc(k, n);
    if (p)
        live_add(p, false);
    return p;
}

void *
__wrap_realloc(void *p, size_t n)
{
    if (fault_inject(K_REALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = __real_realloc(p, n);
    if (q) {
        live_del(p);
        live_add(q, true);
    }
    return q;
}

void *
__wrap_aligned_alloc(size_t a, size_t n)
{
    if (fault_inject(K_ALIGNED)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_aligned_alloc(a, n);
    if (p)
        live_add(p, false);
    return p;
}

void
__wrap_free(void *p)
{
    live_del(p);
    __real_free(p);
}

int
__wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                      void *(*fn)(void *), void *arg)
{
    if (fault_inject(K_THREAD))
        return EAGAIN;
    return __real_pthread_create(th, attr, fn, arg);
}

int
__wrap_pthread_atfork(void (*prepare)(void), void (*parent)(void),
                      void (*child)(void))
{
    if (fault_inject(K_ATFORK))
        return ENOMEM;
    return __real_pthread_atfork(prepare, parent, child);
}

/* ---- checks of documented results -------------------------------------- */

/* A constructor returned NULL: errno must be ENOMEM. One failure. */
static int
ctor_enomem(const char *what)
{
    int e = errno;
    if (e != ENOMEM)
        fail_msg("%s: NULL with errno %d (%s), want ENOMEM", what, e,
                 strerror(e));
    return 1;
}

/* A status call that may fail only for want of memory: 1 if it did. */
static int
status_enomem(const char *what, int r)
{
    if (r == LFC_ENOMEM)
        return 1;
    if (r != LFC_OK)
        fail_msg("%s: got %d (%s), want LFC_OK or LFC_ENOMEM", what, r,
                 lfc_strerror(r));
    return 0;
}

/* ---- scenarios --------------------------------------------------------- */

enum { MAXCH = 80 };

/* What a scenario works on: prepared without injection, used by the act
 * (armed), checked and freed by the finish (not armed). */
struct st {
    lfc_chan *ch[MAXCH]; /* the scenario's own channels */
    int nch;
    lfc_chan *out;
    void *obj[6]; /* objects under test; NULL where a constructor failed */
    int counter;  /* bumped by tasks (atomic) */
    int oks;      /* calls that returned LFC_OK */
    int64_t t0;
};

enum {
    SW_ONE = 1,    /* allocation sweep, one failure */
    SW_FROM = 2,   /* allocation sweep, failing from k on */
    SW_THREAD = 4, /* thread creation sweep */
    SW_ALL = SW_ONE | SW_FROM | SW_THREAD,
};

enum {
    SC_GLOBAL = 1, /* sweeps "one" and "thread" count the calls on every
                      thread: to reach the library threads' allocations,
                      or to show there are none (the site count covers
                      them); "from" fails the calling thread's only */
    SC_TIMER = 2,  /* arms a timer: the thread sweep needs the timer
                      thread down first */
};

struct scenario {
    const char *name;
    unsigned sweeps;
    unsigned flags;
    int sites;   /* allocations a clean run makes (caller thread); -1: any */
    int threads; /* thread creations a clean run makes; -1: any */
    void (*prepare)(struct st *s);
    int (*act)(struct st *s); /* failures it reported */
    void (*finish)(struct st *s, int failures);
    const char *thread_prefix; /* threads that must be gone after finish */
};

static void
prep_chans(struct st *s, int n, size_t cap, int fill)
{
    s->nch = n;
    for (int i = 0; i < n; i++) {
        s->ch[i] = lfc_chan_new(cap, sizeof(int));
        assert_non_null(s->ch[i]);
        for (int v = 0; v < fill; v++)
            assert_status(lfc_send(s->ch[i], &(int){i * 1000 + v}), LFC_OK);
    }
}

static void
free_chans(struct st *s)
{
    for (int i = 0; i < s->nch; i++)
        lfc_chan_free(s->ch[i]);
    lfc_chan_free(s->out);
}

/* -- channels -- */

static int
act_chan_buffered(struct st *s)
{
    lfc_chan *ch = lfc_chan_new(8, sizeof(int));
    if (!ch)
        return ctor_enomem("lfc_chan_new(8, int)");
    s->obj[0] = ch;
    for (int i = 0; i < 8; i++)
        assert_status(lfc_send(ch, &i), LFC_OK);
    int v = -1;
    assert_status(lfc_try_send(ch, &v), LFC_AGAIN);
    lfc_chan *d = lfc_chan_dup(ch);
    assert_ptr_equal(d, ch);
    lfc_chan_free(d);
    for (int i = 0; i < 8; i++) {
        assert_status(lfc_recv(ch, &v), LFC_OK);
        assert_int_equal(v, i);
    }
    assert_status(lfc_recv_until(ch, &v, lfc_now_ns()), LFC_TIMEDOUT);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_recv(ch, &v), LFC_CLOSED);
    return 0;
}

static int
act_chan_unbuffered(struct st *s)
{
    lfc_chan *ch = lfc_chan_new(0, sizeof(int));
    if (!ch)
        return ctor_enomem("lfc_chan_new(0, int)");
    s->obj[0] = ch;
    int v = 1;
    assert_status(lfc_try_send(ch, &v), LFC_AGAIN);
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_status(lfc_close(ch), LFC_OK);
    assert_status(lfc_send(ch, &v), LFC_CLOSED);
    assert_status(lfc_recv(ch, &v), LFC_CLOSED);
    return 0;
}

static int
act_chan_signal(struct st *s)
{
    lfc_chan *ch = lfc_chan_new(4, 0);
    if (!ch)
        return ctor_enomem("lfc_chan_new(4, 0)");
    s->obj[0] = ch;
    for (int i = 0; i < 4; i++)
        assert_status(lfc_send(ch, NULL), LFC_OK);
    assert_int_equal(lfc_chan_len(ch), 4);
    for (int i = 0; i < 4; i++)
        assert_status(lfc_recv(ch, NULL), LFC_OK);
    return 0;
}

enum { LARGE_ELEM = 1 << 20 };
static unsigned char large_in[LARGE_ELEM];
static unsigned char large_out[LARGE_ELEM];

static int
act_chan_large(struct st *s)
{
    lfc_chan *ch = lfc_chan_new(2, LARGE_ELEM);
    if (!ch)
        return ctor_enomem("lfc_chan_new(2, 1 MiB)");
    s->obj[0] = ch;
    for (size_t i = 0; i < LARGE_ELEM; i++)
        large_in[i] = (unsigned char)(i * 7 + 3);
    assert_status(lfc_send(ch, large_in), LFC_OK);
    memset(large_out, 0, sizeof(large_out));
    assert_status(lfc_recv(ch, large_out), LFC_OK);
    assert_memory_equal(large_in, large_out, LARGE_ELEM);
    return 0;
}

static void
fin_obj0_chan(struct st *s, int failures)
{
    (void)failures;
    lfc_chan_free(s->obj[0]);
}

/* -- contexts -- */

/* a = cancel(bg); b = cancel(a); c = timeout(b, far) (own timer, armed);
 * d = deadline(a, past) (own timer, born timed out). */
static int
act_ctx_tree(struct st *s)
{
    int f = 0;
    lfc_ctx *a = lfc_ctx_with_cancel(lfc_ctx_background());
    if (!a)
        return ctor_enomem("lfc_ctx_with_cancel(bg)");
    s->obj[0] = a;
    lfc_ctx *b = lfc_ctx_with_cancel(a);
    if (!b)
        f += ctor_enomem("lfc_ctx_with_cancel(a)");
    s->obj[1] = b;
    if (b) {
        s->t0 = lfc_now_ns() + LFC_TEST_FAR_NS;
        lfc_ctx *c = lfc_ctx_with_deadline(b, s->t0);
        if (!c)
            f += ctor_enomem("lfc_ctx_with_deadline(b, far)");
        s->obj[2] = c;
    }
    lfc_ctx *d = lfc_ctx_with_deadline(a, lfc_now_ns() - 1);
    if (!d)
        f += ctor_enomem("lfc_ctx_with_deadline(a, past)");
    s->obj[3] = d;
    return f;
}

static void
fin_ctx_tree(struct st *s, int failures)
{
    (void)failures;
    lfc_ctx *a = s->obj[0], *b = s->obj[1], *c = s->obj[2], *d = s->obj[3];
    if (!a)
        return;
    if (d) {
        assert_status(lfc_ctx_err(d), LFC_TIMEDOUT);
        assert_status(lfc_try_recv(lfc_ctx_done(d), NULL), LFC_CLOSED);
    }
    if (c) {
        assert_status(lfc_ctx_err(c), LFC_OK);
        assert_true(lfc_ctx_deadline(c) == s->t0);
    }
    assert_status(lfc_ctx_cancel(a), LFC_OK);
    if (b)
        assert_status(lfc_ctx_err(b), LFC_CANCELED);
    if (c) {
        assert_status(lfc_ctx_err(c), LFC_CANCELED);
        assert_status(lfc_recv(lfc_ctx_done(c), NULL), LFC_CLOSED);
    }
    /* Parents first: children stay valid. */
    lfc_ctx_free(a);
    lfc_ctx_free(b);
    lfc_ctx_free(c);
    lfc_ctx_free(d);
}

static void
prep_cancelled_parent(struct st *s)
{
    s->obj[0] = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(s->obj[0]);
    assert_status(lfc_ctx_cancel(s->obj[0]), LFC_OK);
}

/* Children born cancelled: the parent's cause wins. */
static int
act_ctx_born_cancelled(struct st *s)
{
    int f = 0;
    lfc_ctx *p = s->obj[0];
    if (!(s->obj[1] = lfc_ctx_with_cancel(p)))
        f += ctor_enomem("lfc_ctx_with_cancel(cancelled)");
    if (!(s->obj[2] = lfc_ctx_with_timeout(p, LFC_TEST_FAR_NS)))
        f += ctor_enomem("lfc_ctx_with_timeout(cancelled, far)");
    if (!(s->obj[3] = lfc_ctx_with_timeout(p, -1)))
        f += ctor_enomem("lfc_ctx_with_timeout(cancelled, past)");
    return f;
}

static void
fin_ctx_born_cancelled(struct st *s, int failures)
{
    (void)failures;
    for (int i = 1; i <= 3; i++) {
        if (!s->obj[i])
            continue;
        assert_status(lfc_ctx_err(s->obj[i]), LFC_CANCELED);
        assert_status(lfc_try_recv(lfc_ctx_done(s->obj[i]), NULL), LFC_CLOSED);
        lfc_ctx_free(s->obj[i]);
    }
    lfc_ctx_free(s->obj[0]);
}

static int
act_ctx_timeout(struct st *s)
{
    lfc_ctx *c = lfc_ctx_with_timeout(lfc_ctx_background(), LFC_TEST_FAR_NS);
    if (!c)
        return ctor_enomem("lfc_ctx_with_timeout(bg, far)");
    s->obj[0] = c;
    assert_status(lfc_ctx_err(c), LFC_OK);
    return 0;
}

/* The deadline fires on the timer thread, which cancels the context and
 * frees nothing of its own: counted on every thread, the allocations are
 * still the constructor's three. */
static int
act_ctx_deadline_fires(struct st *s)
{
    lfc_ctx *c = lfc_ctx_with_timeout(lfc_ctx_background(), LFC_TEST_MS);
    if (!c)
        return ctor_enomem("lfc_ctx_with_timeout(bg, 1 ms)");
    s->obj[0] = c;
    assert_status(lfc_recv(lfc_ctx_done(c), NULL), LFC_CLOSED);
    assert_status(lfc_ctx_err(c), LFC_TIMEDOUT);
    return 0;
}

static void
fin_ctx_obj0(struct st *s, int failures)
{
    (void)failures;
    lfc_ctx_free(s->obj[0]);
}

/* -- timers -- */

static int
act_after_far(struct st *s)
{
    lfc_chan *ch = lfc_after(LFC_TEST_FAR_NS);
    if (!ch)
        return ctor_enomem("lfc_after(far)");
    s->obj[0] = ch;
    int64_t v;
    assert_status(lfc_try_recv(ch, &v), LFC_AGAIN);
    return 0;
}

static int
act_after_zero(struct st *s)
{
    int64_t t0 = lfc_now_ns();
    lfc_chan *ch = lfc_after(0);
    if (!ch)
        return ctor_enomem("lfc_after(0)");
    s->obj[0] = ch;
    int64_t v = 0;
    assert_status(lfc_recv(ch, &v), LFC_OK);
    assert_true(v >= t0);
    return 0;
}

static int
act_timer_after(struct st *s)
{
    lfc_timer *t = lfc_timer_after(LFC_TEST_FAR_NS);
    if (!t)
        return ctor_enomem("lfc_timer_after(far)");
    s->obj[0] = t;
    assert_true(lfc_timer_stop(t));
    assert_false(lfc_timer_stop(t));
    return 0;
}

static int
act_tick(struct st *s)
{
    lfc_timer *t = lfc_tick(LFC_TEST_MS);
    if (!t)
        return ctor_enomem("lfc_tick(1 ms)");
    s->obj[0] = t;
    int64_t a = 0, b = 0;
    assert_status(lfc_recv(lfc_timer_chan(t), &a), LFC_OK);
    assert_status(lfc_recv(lfc_timer_chan(t), &b), LFC_OK);
    assert_true(b > a);
    return 0;
}

static void
fin_timer_obj0(struct st *s, int failures)
{
    (void)failures;
    lfc_timer_free(s->obj[0]);
}

/* -- select -- */

static void
prep_40_full(struct st *s)
{
    prep_chans(s, 40, 1, 1);
}

static void
prep_32_full(struct st *s)
{
    prep_chans(s, 32, 1, 1);
}

typedef int (*select_fn)(lfc_case *cases, int n);

static int
select_until_far(lfc_case *cases, int n)
{
    return lfc_select_until(cases, n, lfc_now_ns() + LFC_TEST_FAR_NS);
}

static int
select_biased_until_far(lfc_case *cases, int n)
{
    return lfc_select_biased_until(cases, n, lfc_now_ns() + LFC_TEST_FAR_NS);
}

/* Every select form over all of s->ch; each either takes one value or
 * fails with LFC_ENOMEM having taken none. */
static int
act_select_all(struct st *s)
{
    static const select_fn fns[] = {
        lfc_try_select,        lfc_select,        select_until_far,
        lfc_try_select_biased, lfc_select_biased, select_biased_until_far,
    };
    lfc_case cases[MAXCH];
    int vals[MAXCH];
    int f = 0;
    for (size_t k = 0; k < sizeof(fns) / sizeof(fns[0]); k++) {
        for (int i = 0; i < s->nch; i++)
            cases[i] =
                (lfc_case){.ch = s->ch[i], .dir = LFC_RECV, .buf = &vals[i]};
        int r = fns[k](cases, s->nch);
        if (r == LFC_ENOMEM) {
            f++;
            continue;
        }
        if (r < 0 || r >= s->nch)
            fail_msg("select form %zu: got %d (%s)", k, r, lfc_strerror(r));
        assert_status(cases[r].status, LFC_OK);
        assert_int_equal(vals[r], r * 1000);
        s->oks++;
    }
    return f;
}

static void
fin_select_all(struct st *s, int failures)
{
    (void)failures;
    size_t left = 0;
    for (int i = 0; i < s->nch; i++)
        left += lfc_chan_len(s->ch[i]);
    /* Exactly the selects that succeeded took a value. */
    assert_int_equal(left, (size_t)(s->nch - s->oks));
    free_chans(s);
}

/* Up to 32 cases and the _ctx calls allocate nothing. */
static void
prep_select_small_ctx(struct st *s)
{
    prep_32_full(s);
    s->obj[0] = lfc_ctx_with_cancel(lfc_ctx_background());
    assert_non_null(s->obj[0]);
}

static int
act_ctx_ops(struct st *s)
{
    int f = act_select_all(s);
    int v = 5;
    lfc_ctx *c = s->obj[0];
    lfc_chan *ch = s->ch[0];
    /* s->ch[0] may be empty or full depending on the selects: make it
     * empty, then send and receive through the context calls. */
    (void)lfc_try_recv(ch, &v);
    assert_status(lfc_send_ctx(ch, &v, c), LFC_OK);
    assert_status(lfc_recv_ctx(ch, &v, lfc_ctx_background()), LFC_OK);
    assert_status(lfc_send_ctx(ch, &v, lfc_ctx_background()), LFC_OK);
    assert_status(lfc_recv_ctx(ch, &v, c), LFC_OK);
    assert_status(lfc_ctx_cancel(c), LFC_OK);
    assert_status(lfc_recv_ctx(ch, &v, c), LFC_CANCELED);
    s->oks = 0; /* fin checks nothing about the lengths */
    return f;
}

static void
fin_ctx_ops(struct st *s, int failures)
{
    (void)failures;
    lfc_ctx_free(s->obj[0]);
    free_chans(s);
}

/* -- semaphore, wait group -- */

static int
act_sem_wg(struct st *s)
{
    int f = 0;
    lfc_sem *sem = lfc_sem_new(2);
    if (!sem) {
        f += ctor_enomem("lfc_sem_new(2)");
    } else {
        s->obj[0] = sem;
        assert_status(lfc_sem_acquire(sem, 1), LFC_OK);
        assert_status(lfc_sem_acquire_ctx(sem, 1, lfc_ctx_background()),
                      LFC_OK);
        assert_status(lfc_sem_try_acquire(sem, 1), LFC_AGAIN);
        assert_status(lfc_sem_release(sem, 2), LFC_OK);
        assert_int_equal(lfc_sem_available(sem), 2);
    }
    lfc_wg *wg = lfc_wg_new();
    if (!wg) {
        f += ctor_enomem("lfc_wg_new()");
    } else {
        s->obj[1] = wg;
        assert_status(lfc_wg_add(wg, 2), LFC_OK);
        assert_status(lfc_wg_done(wg), LFC_OK);
        assert_status(lfc_wg_done(wg), LFC_OK);
        assert_status(lfc_wg_wait(wg), LFC_OK);
    }
    return f;
}

static void
fin_sem_wg(struct st *s, int failures)
{
    (void)failures;
    lfc_sem_free(s->obj[0]);
    lfc_wg_free(s->obj[1]);
}

/* -- pool -- */

static void
task_bump(void *arg)
{
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

enum { POOL_WORKERS = 4, POOL_TASKS = 12 };

static int
act_pool(struct st *s)
{
    lfc_pool *p = lfc_pool_new(POOL_WORKERS, 4);
    if (!p)
        return ctor_enomem("lfc_pool_new(4, 4)");
    s->obj[0] = p;
    for (int i = 0; i < POOL_TASKS; i++) {
        int r = i % 2 ? lfc_pool_submit(p, task_bump, &s->counter)
                      : lfc_pool_submit_ctx(p, task_bump, &s->counter,
                                            lfc_ctx_background());
        assert_status(r, LFC_OK);
        s->oks++;
    }
    assert_status(lfc_pool_wait(p), LFC_OK);
    return 0;
}

static void
fin_pool(struct st *s, int failures)
{
    (void)failures;
    lfc_pool *p = s->obj[0];
    if (!p)
        return;
    assert_int_equal(__atomic_load_n(&s->counter, __ATOMIC_RELAXED), s->oks);
    struct lfc_pool_stats ps;
    assert_status(lfc_pool_stats(p, &ps), LFC_OK);
    assert_true(ps.submitted == (uint64_t)s->oks &&
                ps.completed == (uint64_t)s->oks);
    lfc_pool_free(p);
}

/* lfc_pool_new_opts: named workers pinned to a CPU we may run on, an
 * unbuffered queue. */
static int
act_pool_opts(struct st *s)
{
    cpu_set_t allowed;
    int cpu = 0;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
        while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &allowed))
            cpu++;
    struct lfc_pool_opts o = {.workers = 2,
                              .queue_capacity = 0,
                              .name = "faults",
                              .cpus = &cpu,
                              .ncpus = 1};
    lfc_pool *p = lfc_pool_new_opts(&o);
    if (!p)
        return ctor_enomem("lfc_pool_new_opts");
    s->obj[0] = p;
    for (int i = 0; i < 4; i++) {
        assert_status(lfc_pool_submit(p, task_bump, &s->counter), LFC_OK);
        s->oks++;
    }
    assert_status(lfc_pool_wait(p), LFC_OK);
    return 0;
}

/* -- group -- */

static int
gtask_bump(lfc_ctx *ctx, void *arg)
{
    (void)ctx;
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
    return 0;
}

enum { GROUP_TASKS = 3 };

/* Limit 1: a go that failed after taking the permit must give it back,
 * or the next go waits forever (the watchdog). After the wait every
 * permit is back, so the try_go finds one. */
static int
act_group(struct st *s)
{
    int f = 0;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    if (!g)
        return ctor_enomem("lfc_group_new(bg)");
    s->obj[0] = g;
    f += status_enomem("lfc_group_set_limit(1)", lfc_group_set_limit(g, 1));
    for (int i = 0; i <= GROUP_TASKS; i++) {
        if (i == GROUP_TASKS)
            assert_status(lfc_group_wait(g), LFC_OK);
        int r = i == GROUP_TASKS ? lfc_group_try_go(g, gtask_bump, &s->counter)
                                 : lfc_group_go(g, gtask_bump, &s->counter);
        if (status_enomem("lfc_group_go", r))
            f++;
        else
            s->oks++;
    }
    assert_status(lfc_group_wait(g), LFC_OK);
    return f;
}

static void
fin_group(struct st *s, int failures)
{
    (void)failures;
    lfc_group *g = s->obj[0];
    if (!g)
        return;
    /* Every go that returned LFC_OK ran, and only those. */
    assert_int_equal(__atomic_load_n(&s->counter, __ATOMIC_RELAXED), s->oks);
    /* The running count is back to 0 (set_limit refuses otherwise), and
     * the group still starts tasks. */
    assert_status(lfc_group_set_limit(g, 2), LFC_OK);
    assert_status(lfc_group_go(g, gtask_bump, &s->counter), LFC_OK);
    assert_status(lfc_group_wait(g), LFC_OK);
    assert_int_equal(__atomic_load_n(&s->counter, __ATOMIC_RELAXED),
                     s->oks + 1);
    lfc_group_free(g);
}

/* -- merger -- */

static void
prep_merge(struct st *s, int n)
{
    prep_chans(s, n, 2, 1); /* one value each: "nothing received" shows */
    s->out = lfc_chan_new((size_t)n, sizeof(int));
    assert_non_null(s->out);
}

static void
prep_merge_3(struct st *s)
{
    prep_merge(s, 3);
}

static void
prep_merge_70(struct st *s)
{
    prep_merge(s, 70);
}

static int
act_merge(struct st *s)
{
    lfc_merger *m = lfc_merge_new(s->ch, (size_t)s->nch, s->out);
    if (!m)
        return ctor_enomem("lfc_merge_new");
    s->obj[0] = m;
    return 0;
}

/* Every input's value exactly once on out, then out closed. */
static void
drain_merged(struct st *s)
{
    bool seen[MAXCH] = {false};
    for (int i = 0; i < s->nch; i++)
        assert_status(lfc_close(s->ch[i]), LFC_OK);
    for (int i = 0; i < s->nch; i++) {
        int v = -1;
        assert_status(lfc_recv(s->out, &v), LFC_OK);
        assert_true(v >= 0 && v % 1000 == 0 && v / 1000 < s->nch);
        assert_false(seen[v / 1000]);
        seen[v / 1000] = true;
    }
    int v;
    assert_status(lfc_recv(s->out, &v), LFC_CLOSED);
}

static void
fin_merge(struct st *s, int failures)
{
    (void)failures;
    lfc_merger *m = s->obj[0];
    if (m) {
        drain_merged(s);
        assert_true(lfc_merge_free(m) == 0);
    } else {
        /* A failed constructor received nothing. */
        for (int i = 0; i < s->nch; i++)
            assert_int_equal(lfc_chan_len(s->ch[i]), 1);
        assert_int_equal(lfc_chan_len(s->out), 0);
        assert_false(lfc_chan_closed(s->out));
    }
    free_chans(s);
}

/* One node over 40 inputs (fan-in raised by the test hook): its select
 * has 41 cases and allocates on the merger thread, which retries. */
static void
prep_merge_wide(struct st *s)
{
    lfc__merge_set_fanin(64);
    prep_merge(s, 40);
}

static int
act_merge_wide(struct st *s)
{
    int f = act_merge(s);
    if (s->obj[0]) {
        drain_merged(s); /* the thread's selects run now, armed */
        s->oks = 1;
    }
    return f;
}

static void
fin_merge_wide(struct st *s, int failures)
{
    lfc__merge_set_fanin(0);
    if (s->oks) {
        assert_true(lfc_merge_free(s->obj[0]) == 0);
        free_chans(s);
        return;
    }
    fin_merge(s, failures);
}

/* -- fan-out -- */

static void
prep_fanout_rr_3(struct st *s)
{
    prep_chans(s, 3, 4, 0);
    s->out = lfc_chan_new(8, sizeof(int)); /* the input, here */
    assert_non_null(s->out);
    for (int v = 0; v < 6; v++)
        assert_status(lfc_send(s->out, &v), LFC_OK);
}

static int
act_fanout_rr(struct st *s)
{
    lfc_fanout *f =
        lfc_fanout_new(s->out, s->ch, (size_t)s->nch, LFC_FANOUT_ROUND_ROBIN);
    if (!f)
        return ctor_enomem("lfc_fanout_new(round robin)");
    s->obj[0] = f;
    return 0;
}

static void
fin_fanout_rr(struct st *s, int failures)
{
    (void)failures;
    lfc_fanout *f = s->obj[0];
    if (!f) {
        assert_int_equal(lfc_chan_len(s->out), 6); /* nothing received */
        for (int i = 0; i < s->nch; i++)
            assert_int_equal(lfc_chan_len(s->ch[i]), 0);
        free_chans(s);
        return;
    }
    assert_status(lfc_close(s->out), LFC_OK);
    int got = 0, sum = 0;
    for (int i = 0; i < s->nch; i++) {
        int v;
        while (lfc_recv(s->ch[i], &v) == LFC_OK) {
            got++;
            sum += v;
        }
    }
    assert_int_equal(got, 6);
    assert_int_equal(sum, 0 + 1 + 2 + 3 + 4 + 5);
    assert_true(lfc_fanout_free(f) == 0);
    free_chans(s);
}

/* Broadcast to 40 unbuffered outputs read one by one: the fan-out's
 * selects over the outputs still missing the value have up to 40 cases
 * and allocate on its thread, which retries. */
static void
prep_fanout_bc_40(struct st *s)
{
    prep_chans(s, 40, 0, 0);
    s->out = lfc_chan_new(1, sizeof(int));
    assert_non_null(s->out);
}

static int
act_fanout_bc(struct st *s)
{
    lfc_fanout *f =
        lfc_fanout_new(s->out, s->ch, (size_t)s->nch, LFC_FANOUT_BROADCAST);
    if (!f)
        return ctor_enomem("lfc_fanout_new(broadcast)");
    s->obj[0] = f;
    assert_status(lfc_send(s->out, &(int){77}), LFC_OK);
    /* Last output first: the fan-out offers in order, so every output
     * but maybe the last is still pending when its select runs (read in
     * order, each try_send could meet its reader just in time). */
    for (int i = s->nch - 1; i >= 0; i--) {
        int v = 0;
        assert_status(lfc_recv(s->ch[i], &v), LFC_OK);
        assert_int_equal(v, 77);
    }
    assert_status(lfc_close(s->out), LFC_OK);
    for (int i = 0; i < s->nch; i++) {
        int v;
        assert_status(lfc_recv(s->ch[i], &v), LFC_CLOSED);
    }
    return 0;
}

static void
fin_fanout_bc(struct st *s, int failures)
{
    (void)failures;
    if (s->obj[0])
        assert_true(lfc_fanout_free(s->obj[0]) == 0);
    else
        assert_int_equal(lfc_chan_len(s->out), 0);
    free_chans(s);
}

/*
 * The scenarios. sites: allocations a clean run makes on the calling
 * thread (on every thread, for SC_GLOBAL); threads: thread creations
 * (with the timer thread down, for timer scenarios). Both are checked, so
 * an operation that starts to allocate shows up here (and in the table
 * above).
 */
static const struct scenario scenarios[] = {
    {"chan_buffered", SW_ONE | SW_FROM, 0, 1, 0, NULL, act_chan_buffered,
     fin_obj0_chan, NULL},
    {"chan_unbuffered", SW_ONE | SW_FROM, 0, 1, 0, NULL, act_chan_unbuffered,
     fin_obj0_chan, NULL},
    {"chan_signal", SW_ONE | SW_FROM, 0, 1, 0, NULL, act_chan_signal,
     fin_obj0_chan, NULL},
    {"chan_large_elem", SW_ONE | SW_FROM, 0, 1, 0, NULL, act_chan_large,
     fin_obj0_chan, NULL},
    /* a, b: ctx + done; c, d: ctx + done + timer. */
    /* thread: c's arm, under a linked parent b, cannot start the thread */
    {"ctx_tree", SW_ALL, SC_TIMER, 10, 1, NULL, act_ctx_tree, fin_ctx_tree,
     "lfc-timer"},
    {"ctx_born_cancelled", SW_ONE | SW_FROM, 0, 8, 0, prep_cancelled_parent,
     act_ctx_born_cancelled, fin_ctx_born_cancelled, NULL},
    {"ctx_timeout", SW_ALL, SC_TIMER, 3, 1, NULL, act_ctx_timeout, fin_ctx_obj0,
     "lfc-timer"},
    {"ctx_deadline_fires", SW_ALL, SC_TIMER | SC_GLOBAL, 3, 1, NULL,
     act_ctx_deadline_fires, fin_ctx_obj0, "lfc-timer"},
    /* timer + channel each. */
    {"after_far", SW_ALL, SC_TIMER, 2, 1, NULL, act_after_far, fin_obj0_chan,
     "lfc-timer"},
    {"after_zero", SW_ONE | SW_FROM, SC_TIMER | SC_GLOBAL, 2, 0, NULL,
     act_after_zero, fin_obj0_chan, NULL},
    {"timer_after", SW_ALL, SC_TIMER, 2, 1, NULL, act_timer_after,
     fin_timer_obj0, "lfc-timer"},
    {"tick", SW_ALL, SC_TIMER | SC_GLOBAL, 2, 1, NULL, act_tick, fin_timer_obj0,
     "lfc-timer"},
    /* One allocation per select form. */
    {"select_40", SW_ONE | SW_FROM, 0, 6, 0, prep_40_full, act_select_all,
     fin_select_all, NULL},
    {"select_32_and_ctx_ops", SW_ONE | SW_FROM, 0, 0, 0, prep_select_small_ctx,
     act_ctx_ops, fin_ctx_ops, NULL},
    {"sem_wg", SW_ONE | SW_FROM, 0, 2, 0, NULL, act_sem_wg, fin_sem_wg, NULL},
    /* pool, workers, stripes, queue. */
    {"pool", SW_ALL, SC_GLOBAL, 4, POOL_WORKERS, NULL, act_pool, fin_pool,
     "lfc-pool"},
    {"pool_opts", SW_ALL, 0, 4, 2, NULL, act_pool_opts, fin_pool, "faults-"},
    /* group, ctx, done; the limit's sem; a task record per go. */
    {"group", SW_ALL, SC_GLOBAL, 3 + 1 + GROUP_TASKS + 1, GROUP_TASKS + 1, NULL,
     act_group, fin_group, "lfc-group"},
    /* merger, level, holds, nodes, stop, gate; root: buf, cases. */
    {"merge_3", SW_ALL, 0, 8, 1, prep_merge_3, act_merge, fin_merge,
     "lfc-merge"},
    /* 3 leaves (channel, buf, cases each) and the root. */
    {"merge_70", SW_ALL, 0, 17, 4, prep_merge_70, act_merge, fin_merge,
     "lfc-merge"},
    {"merge_wide_node", SW_ONE | SW_FROM, SC_GLOBAL, -1, 1, prep_merge_wide,
     act_merge_wide, fin_merge_wide, "lfc-merge"},
    /* fan-out, holds, outs, live, cases, buf, stop, gate. */
    {"fanout_rr_3", SW_ALL, 0, 8, 1, prep_fanout_rr_3, act_fanout_rr,
     fin_fanout_rr, "lfc-fanout"},
    {"fanout_bc_40", SW_ONE | SW_FROM, SC_GLOBAL, -1, 1, prep_fanout_bc_40,
     act_fanout_bc, fin_fanout_bc, "lfc-fanout"},
};

/* ---- the sweeps -------------------------------------------------------- */

static struct lfc_watchdog g_dog;
static unsigned long g_progress;

static bool
filtered_out(const struct scenario *sc)
{
    const char *f = getenv("LFC_TEST_FILTER");
    return f && *f && !strstr(sc->name, f);
}

/* Wait until the live blocks are back at want: some are freed by the
 * timer thread a moment after the scenario let go of them. */
static void
expect_live(long want, const char *name, long k)
{
    int64_t end = lfc_test_now_ns() + LFC_TEST_STUCK_NS;
    long n;
    while ((n = live_count()) != want) {
        if (lfc_test_now_ns() > end)
            fail_msg("%s, k=%ld: %ld blocks live, want %ld: a leak", name, k, n,
                     want);
        lfc_test_sleep_ns(LFC_TEST_MS);
    }
}

static void
expect_pending(size_t want, const char *name, long k)
{
    int64_t end = lfc_test_now_ns() + LFC_TEST_STUCK_NS;
    size_t n;
    while ((n = lfc__timer_pending()) != want) {
        if (lfc_test_now_ns() > end)
            fail_msg("%s, k=%ld: %zu timers queued, want %zu", name, k, n,
                     want);
        lfc_test_sleep_ns(LFC_TEST_MS);
    }
}

/* Threads named prefix* must be gone (joined ones leave /proc/self/task
 * a moment after the join). */
static void
expect_no_threads(const char *prefix)
{
    if (!lfc_test_wait_no_threads_named(prefix, LFC_TEST_STUCK_NS))
        fail_msg("%d thread(s) named %s* left running",
                 lfc_test_count_threads_named(prefix), prefix);
}

/* The timer thread exits LINGER (250 ms) after its heap empties. */
static void
wait_timer_thread_gone(void)
{
    expect_no_threads("lfc-timer");
}

struct run_result {
    int failures;     /* documented failures the calls reported */
    long seen;        /* calls the injector counted */
    long failed;      /* failures it injected */
    long failed_here; /* of which on this thread */
};

/* One run of sc: prepare, the act (armed to fail the at-th call of kinds,
 * unless at is 0), the finish; then nothing may be left behind. */
static struct run_result
run_once(const struct scenario *sc, unsigned kinds, int mode, long at)
{
    struct st s;
    struct run_result r = {0};
    memset(&s, 0, sizeof(s));
    long live0 = live_count();
    size_t pending0 = lfc__timer_pending();
    if (sc->prepare)
        sc->prepare(&s);
    if (at > 0)
        fault_arm(kinds, mode, at, (sc->flags & SC_GLOBAL) && mode == M_ONE);
    r.failures = sc->act(&s);
    if (at > 0) {
        fault_disarm();
        r.seen = __atomic_load_n(&fi.seen, __ATOMIC_RELAXED);
        r.failed = __atomic_load_n(&fi.failed, __ATOMIC_RELAXED);
        r.failed_here = __atomic_load_n(&fi.failed_here, __ATOMIC_RELAXED);
    }
    sc->finish(&s, r.failures);
    expect_live(live0, sc->name, at);
    expect_pending(pending0, sc->name, at);
    if (sc->thread_prefix && strcmp(sc->thread_prefix, "lfc-timer") != 0)
        expect_no_threads(sc->thread_prefix);
    lfc_progress_bump(&g_progress);
    return r;
}

static const char *
sweep_name(int sw)
{
    return sw == SW_ONE ? "alloc-one" : sw == SW_FROM ? "alloc-from" : "thread";
}

/* Fail the 1st, 2nd, ... counted call until a run meets none. */
static void
sweep(const struct scenario *sc, int sw)
{
    unsigned kinds = sw == SW_THREAD ? K_THREAD : K_ALLOC;
    int mode = sw == SW_FROM ? M_FROM : M_ONE;
    bool timer_down = sw == SW_THREAD && (sc->flags & SC_TIMER);
    long reported = 0;
    long absorbed = 0;
    const char *sn = sweep_name(sw);

    for (long k = 1;; k++) {
        if (k > 5000)
            fail_msg("%s %s: still failing at k=%ld", sc->name, sn, k);
        if (timer_down)
            wait_timer_thread_gone(); /* so that the arm must start one */
        struct run_result r = run_once(sc, kinds, mode, k);
        if (r.failed == 0) {
            /* Every counted call of a clean run succeeded: done. */
            if (r.failures != 0)
                fail_msg("%s %s k=%ld: %d failure(s) reported, none "
                         "injected",
                         sc->name, sn, k, r.failures);
            int want = sw == SW_THREAD ? sc->threads : sc->sites;
            if (want >= 0 && r.seen != want)
                fail_msg("%s %s: a clean run made %ld counted calls, the "
                         "table says %d",
                         sc->name, sn, r.seen, want);
            printf("faults: %-22s %-10s %3ld site(s): %ld reported, %ld "
                   "absorbed by a library thread\n",
                   sc->name, sn, r.seen, reported, absorbed);
            return;
        }
        /* A failure on this thread must be reported, and a reported one
         * must have been injected on this thread (library threads have
         * nobody to report to: they retry). */
        if ((r.failed_here > 0) != (r.failures > 0))
            fail_msg("%s %s k=%ld: %ld failure(s) injected here, %d "
                     "reported",
                     sc->name, sn, k, r.failed_here, r.failures);
        if (mode == M_ONE && r.failures > 1)
            fail_msg("%s %s k=%ld: one failure injected, %d reported", sc->name,
                     sn, k, r.failures);
        if (r.failures > 0)
            reported++;
        else
            absorbed++;
        /* The library works on the next call. */
        struct run_result c = run_once(sc, kinds, mode, 0);
        if (c.failures != 0)
            fail_msg("%s %s k=%ld: the next clean run reported %d "
                     "failure(s)",
                     sc->name, sn, k, c.failures);
    }
}

static void
sweep_all(int sw)
{
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const struct scenario *sc = &scenarios[i];
        if (!(sc->sweeps & sw) || filtered_out(sc))
            continue;
        sweep(sc, sw);
    }
}

/* One far timer stays queued during the allocation sweeps, so the timer
 * heap stays allocated and no scenario reaches its realloc by chance.
 * Freed by the teardown, also when the test fails. */
static lfc_timer *g_pin;

static void
pin_timer_heap(void)
{
    g_pin = lfc_timer_after(LFC_TEST_FAR_NS);
    assert_non_null(g_pin);
}

static void
test_faults_alloc_each_site(void **state)
{
    (void)state;
    pin_timer_heap();
    sweep_all(SW_ONE);
}

static void
test_faults_alloc_from_each_site(void **state)
{
    (void)state;
    pin_timer_heap();
    sweep_all(SW_FROM);
}

static void
test_faults_thread_each_site(void **state)
{
    (void)state;
    sweep_all(SW_THREAD);
}

/* The timer heap's reallocs: the first arm after the thread exited makes
 * room for 16, the 17th and 33rd timers grow it to 32 and 64. Each fails
 * in turn: that arm returns NULL with ENOMEM, the timers already queued
 * stay queued, and the next arm grows the heap after all. */
static void
test_faults_timer_heap_growth(void **state)
{
    (void)state;
    enum { N = 40 };
    static const int fails_at[] = {0, 16, 32};
    lfc_timer *t[N + 1];

    for (long k = 1; k <= 4; k++) {
        wait_timer_thread_gone(); /* which freed the heap */
        assert_int_equal(lfc__timer_pending(), 0);
        long live0 = live_count();
        int made = 0;
        fault_arm(K_REALLOC, M_ONE, k, false);
        errno = 0;
        while (made < N && (t[made] = lfc_timer_after(LFC_TEST_FAR_NS)))
            made++;
        int e = errno;
        fault_disarm();
        long failed = __atomic_load_n(&fi.failed, __ATOMIC_RELAXED);
        if (k <= 3) {
            assert_int_equal(failed, 1);
            assert_int_equal(made, fails_at[k - 1]);
            assert_int_equal(e, ENOMEM);
            assert_int_equal(lfc__timer_pending(), made);
            t[made] = lfc_timer_after(LFC_TEST_FAR_NS);
            assert_non_null(t[made]);
            made++;
        } else {
            assert_int_equal(failed, 0);
            assert_int_equal(made, N);
        }
        assert_int_equal(lfc__timer_pending(), made);
        for (int i = 0; i < made; i++) {
            assert_true(lfc_timer_stop(t[i]));
            lfc_timer_free(t[i]);
        }
        expect_live(live0, "timer_heap_growth", k);
        lfc_progress_bump(&g_progress);
    }
}

/*
 * pthread_atfork failing (libc's own allocation, reached through the
 * wrapper) fails the constructors that need the fork handler with ENOMEM,
 * and the next call registers it after all. Regression: the registration
 * ran under pthread_once, so one failure made every later lfc_pool_new,
 * lfc_group_new, lfc_merge_new and lfc_fanout_new fail for the life of
 * the process. Must run first: the handler is registered on first use.
 * The timer module's own registration (also under pthread_once, and
 * still permanent if it fails: timer.h) is done before arming.
 */
static void
test_faults_fork_watch_retries_after_atfork_failure(void **state)
{
    (void)state;
    lfc_timer_free(lfc_timer_after(LFC_TEST_FAR_NS));
    lfc_chan *in[2], *out[2];
    for (int i = 0; i < 2; i++) {
        in[i] = lfc_chan_new(1, sizeof(int));
        out[i] = lfc_chan_new(1, sizeof(int));
        assert_true(in[i] && out[i]);
    }
    fault_arm(K_ATFORK, M_FROM, 1, false);
    errno = 0;
    assert_null(lfc_pool_new(1, 0));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_group_new(lfc_ctx_background()));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_merge_new(&in[0], 1, out[0]));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(lfc_fanout_new(in[1], &out[1], 1, LFC_FANOUT_ROUND_ROBIN));
    assert_int_equal(errno, ENOMEM);
    fault_disarm();
    assert_true(__atomic_load_n(&fi.failed, __ATOMIC_RELAXED) >= 4);

    lfc_pool *p = lfc_pool_new(1, 0);
    assert_non_null(p);
    lfc_pool_free(p);
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    assert_non_null(g);
    lfc_group_free(g);
    lfc_merger *m = lfc_merge_new(&in[0], 1, out[0]);
    assert_non_null(m);
    lfc_fanout *f = lfc_fanout_new(in[1], &out[1], 1, LFC_FANOUT_ROUND_ROBIN);
    assert_non_null(f);
    int v;
    for (int i = 0; i < 2; i++) {
        assert_status(lfc_close(in[i]), LFC_OK);
        assert_status(lfc_recv(out[i], &v), LFC_CLOSED);
    }
    assert_true(lfc_merge_free(m) == 0);
    assert_true(lfc_fanout_free(f) == 0);
    for (int i = 0; i < 2; i++) {
        lfc_chan_free(in[i]);
        lfc_chan_free(out[i]);
    }
}

/* ---- random failures, on several threads at once ----------------------- */

/* What the helpers found wrong; the first message is kept. */
static int g_bad;
static char g_bad_msg[256];
static pthread_mutex_t g_bad_mu = PTHREAD_MUTEX_INITIALIZER;

static void
bad(const char *fmt, ...)
{
    pthread_mutex_lock(&g_bad_mu);
    if (!g_bad) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_bad_msg, sizeof(g_bad_msg), fmt, ap);
        va_end(ap);
    }
    g_bad++;
    pthread_mutex_unlock(&g_bad_mu);
}

/* A NULL from a constructor: errno must say ENOMEM. */
static bool
null_ok(const void *p, const char *what)
{
    if (!p && errno != ENOMEM)
        bad("%s: NULL with errno %d", what, errno);
    return p != NULL;
}

static void
rand_after(uint64_t r)
{
    errno = 0;
    lfc_chan *ch = lfc_after((int64_t)(r % (2 * LFC_TEST_MS)));
    if (!null_ok(ch, "lfc_after"))
        return;
    int64_t v;
    if (r & 8 && lfc_recv(ch, &v) != LFC_OK)
        bad("lfc_after: the value never came");
    lfc_chan_free(ch); /* fired or not */
}

static void
rand_ctx(uint64_t r)
{
    errno = 0;
    lfc_ctx *c = lfc_ctx_with_timeout(lfc_ctx_background(),
                                      (int64_t)(r % (2 * LFC_TEST_MS)));
    if (!null_ok(c, "lfc_ctx_with_timeout"))
        return;
    errno = 0;
    lfc_ctx *k = lfc_ctx_with_cancel(c);
    null_ok(k, "lfc_ctx_with_cancel");
    if (r & 8) {
        if (lfc_recv(lfc_ctx_done(c), NULL) != LFC_CLOSED ||
            lfc_ctx_err(c) != LFC_TIMEDOUT)
            bad("ctx: the deadline never fired");
        if (k && lfc_ctx_err(k) != LFC_TIMEDOUT)
            bad("ctx: the child missed its parent's deadline");
    }
    lfc_ctx_free(c);
    lfc_ctx_free(k);
}

static void
rand_pool(uint64_t r)
{
    (void)r;
    int n = 0;
    errno = 0;
    lfc_pool *p = lfc_pool_new(2, 2);
    if (!null_ok(p, "lfc_pool_new"))
        return;
    for (int i = 0; i < 3; i++)
        if (lfc_pool_submit(p, task_bump, &n) != LFC_OK)
            bad("lfc_pool_submit failed");
    if (lfc_pool_wait(p) != LFC_OK ||
        __atomic_load_n(&n, __ATOMIC_RELAXED) != 3)
        bad("pool: %d of 3 tasks ran", n);
    lfc_pool_free(p);
}

static void
rand_group(uint64_t r)
{
    int n = 0;
    int oks = 0;
    errno = 0;
    lfc_group *g = lfc_group_new(lfc_ctx_background());
    if (!null_ok(g, "lfc_group_new"))
        return;
    int l = lfc_group_set_limit(g, 1);
    if (l != LFC_OK && l != LFC_ENOMEM)
        bad("lfc_group_set_limit: %d", l);
    for (int i = 0; i < 3; i++) {
        int rc = lfc_group_go(g, gtask_bump, &n);
        if (rc == LFC_OK)
            oks++;
        else if (rc != LFC_ENOMEM)
            bad("lfc_group_go: %d", rc);
    }
    if (lfc_group_wait(g) != LFC_OK ||
        __atomic_load_n(&n, __ATOMIC_RELAXED) != oks)
        bad("group: %d ran, %d started", n, oks);
    lfc_group_free(g);
    (void)r;
}

static void
rand_merge(uint64_t r)
{
    (void)r;
    lfc_chan *in[3];
    lfc_chan *out;
    t_rand_one = 0; /* the channels are the test's, not under test */
    out = lfc_chan_new(3, sizeof(int));
    for (int i = 0; i < 3; i++) {
        in[i] = lfc_chan_new(1, sizeof(int));
        if (!in[i] || !out || lfc_send(in[i], &i) != LFC_OK)
            bad("merge: setup");
    }
    t_rand_one = 8;
    errno = 0;
    lfc_merger *m = lfc_merge_new(in, 3, out);
    if (null_ok(m, "lfc_merge_new")) {
        int v;
        int sum = 0;
        for (int i = 0; i < 3; i++)
            lfc_close(in[i]);
        while (lfc_recv(out, &v) == LFC_OK)
            sum += v;
        if (sum != 0 + 1 + 2)
            bad("merge: sum %d", sum);
        if (lfc_merge_free(m) != 0)
            bad("merge: drops");
    } else {
        for (int i = 0; i < 3; i++)
            if (lfc_chan_len(in[i]) != 1)
                bad("merge: a failed constructor received");
    }
    for (int i = 0; i < 3; i++)
        lfc_chan_free(in[i]);
    lfc_chan_free(out);
}

struct rand_arg {
    uint64_t seed;
    long iters;
};

static void *
rand_main(void *arg)
{
    struct rand_arg *a = arg;
    static void (*const ops[])(uint64_t) = {rand_after, rand_ctx, rand_pool,
                                            rand_group, rand_merge};
    uint64_t pick = a->seed ^ 0x9e3779b97f4a7c15ULL;
    t_rand_state = a->seed;
    for (long i = 0; i < a->iters; i++) {
        uint64_t r = lfc_test_xorshift64(&pick);
        t_rand_one = 8; /* one call in 8 fails */
        ops[r % (sizeof(ops) / sizeof(ops[0]))](r >> 8);
        t_rand_one = 0;
        lfc_progress_bump(&g_progress);
    }
    return NULL;
}

/*
 * Three threads create, use and free timers, contexts (deadlines firing
 * on the timer thread), pools, groups and mergers while one in eight of
 * their allocations and thread creations fails, at random (fixed seeds):
 * the error paths of one thread race with the others' normal paths and
 * with the timer thread starting and exiting. Every failure must be a
 * documented one, everything that succeeded must work, and at the end
 * nothing may be left: no block, no timer, no thread. Hangs: the
 * watchdog. LFC_TEST_SCALE sizes it.
 */
static void
test_faults_random_concurrent(void **state)
{
    (void)state;
    enum { T = 3 };
    pthread_t th[T];
    struct rand_arg a[T];
    long live0 = live_count();
    for (int i = 0; i < T; i++) {
        a[i] = (struct rand_arg){.seed = 0x51ed2701u + (uint64_t)i * 7919,
                                 .iters = lfc_test_scaled(400, 40)};
        assert_int_equal(pthread_create(&th[i], NULL, rand_main, &a[i]), 0);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    if (g_bad)
        fail_msg("%d problem(s); first: %s", g_bad, g_bad_msg);
    printf("faults: random_concurrent: %d threads x %ld operations, %ld "
           "failures injected\n",
           T, a[0].iters, __atomic_load_n(&g_rand_failed, __ATOMIC_RELAXED));
    assert_true(__atomic_load_n(&g_rand_failed, __ATOMIC_RELAXED) > 0);
    expect_live(live0, "random_concurrent", 0);
    expect_pending(0, "random_concurrent", 0);
    expect_no_threads("lfc-pool");
    expect_no_threads("lfc-merge");
}

/* A channel whose size overflows is refused with ENOMEM before any
 * allocation is tried. */
static void
test_faults_chan_size_overflow_allocates_nothing(void **state)
{
    (void)state;
    fault_arm(K_ALLOC, M_FROM, 1, false);
    errno = 0;
    lfc_chan *ch = lfc_chan_new(8, SIZE_MAX / 4);
    int e = errno;
    fault_disarm();
    assert_null(ch);
    assert_int_equal(e, ENOMEM);
    assert_int_equal(__atomic_load_n(&fi.seen, __ATOMIC_RELAXED), 0);
}

static int
teardown(void **state)
{
    (void)state;
    fault_disarm();
    lfc__merge_set_fanin(0);
    lfc_timer_free(g_pin);
    g_pin = NULL;
    return 0;
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    lfc_watchdog_start(&g_dog, "fault sweeps", &g_progress, 0);
    const struct CMUnitTest tests[] = {
        /* First: it needs the fork handler not registered yet. */
        cmocka_unit_test_teardown(
            test_faults_fork_watch_retries_after_atfork_failure, teardown),
        cmocka_unit_test_teardown(
            test_faults_chan_size_overflow_allocates_nothing, teardown),
        cmocka_unit_test_teardown(test_faults_alloc_each_site, teardown),
        cmocka_unit_test_teardown(test_faults_alloc_from_each_site, teardown),
        cmocka_unit_test_teardown(test_faults_thread_each_site, teardown),
        cmocka_unit_test_teardown(test_faults_timer_heap_growth, teardown),
        cmocka_unit_test_teardown(test_faults_random_concurrent, teardown),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    lfc_watchdog_stop(&g_dog);
    return r;
}
