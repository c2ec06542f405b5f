/* SPDX-License-Identifier: MIT */
/*
 * Parking-layer tests through the internal hooks: the futex operations are
 * replaced by counting or misbehaving fakes (lfc__park_set_ops), and
 * channels start with their counters just below 2^64
 * (lfc__chan_new_at) to test wraparound.
 *
 *   - the uncontended path makes no system call at all;
 *   - one send wakes one parked receiver (FUTEX_WAKE with n = 1), and close
 *     wakes every waiter;
 *   - spurious and early futex returns change nothing observable;
 *   - positions and stamps wrap through 2^64 safely.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lfc_atomic.h"
#include "lfc_chan_internal.h"
#include "lfc_park.h"
#include "lfc_test_async.h"
#include "lfc_test_futex.h"
#include "lfc_test_support.h"
#include "lfchan.h"

/* ---- fakes ------------------------------------------------------------ */

static unsigned long g_waits;     /* futex waits made (atomic) */
static unsigned long g_wakes;     /* futex wakes made (atomic) */
static unsigned long g_wake_one;  /* wakes with n == 1 (atomic) */
static unsigned long g_wake_all;  /* wakes with n > 1 (atomic) */
static int g_spurious;            /* make every wait return early */

static int
counting_wait(uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    __atomic_fetch_add(&g_waits, 1, __ATOMIC_RELAXED);
    lfc_test_futex_note_asleep(word); /* a helper's "parked" flag */
    /* Spurious: sleep at most 20 us, then claim a wake that never
     * happened. */
    if (__atomic_load_n(&g_spurious, __ATOMIC_RELAXED))
        return lfc_test_futex_wait_spurious(word, expected, deadline_ns);
    return lfc_test_futex_wait(word, expected, deadline_ns);
}

static void
counting_wake(uint32_t *word, int n)
{
    __atomic_fetch_add(&g_wakes, 1, __ATOMIC_RELAXED);
    if (n == 1)
        __atomic_fetch_add(&g_wake_one, 1, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&g_wake_all, 1, __ATOMIC_RELAXED);
    lfc_test_futex_wake(word, n);
}

static const struct lfc__park_ops counting_ops = {counting_wait,
                                                  counting_wake};

static int
setup_counting(void **state)
{
    (void)state;
    g_waits = g_wakes = g_wake_one = g_wake_all = 0;
    g_spurious = 0;
    lfc__park_set_ops(&counting_ops);
    lfc_test_async_set_hooked(true);
    return 0;
}

static int
teardown_counting(void **state)
{
    (void)state;
    lfc_test_async_set_hooked(false);
    lfc__park_set_ops(NULL);
    lfc_spin_set_limit(LFC_SPIN_ADAPTIVE);
    return 0;
}

static unsigned long
counter(unsigned long *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* ---- no system call when nobody waits ---------------------------------- */

static void
test_park_uncontended_makes_no_syscall(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(16, sizeof(uint64_t));
    assert_non_null(ch);
    for (uint64_t i = 0; i < 10000; i++) {
        uint64_t v = 0;
        assert_int_equal(lfc_send(ch, &i), LFC_OK);
        assert_int_equal(lfc_recv(ch, &v), LFC_OK);
        assert_true(v == i);
    }
    /* Fill, overfill with try_send, drain, underflow with try_recv. */
    for (uint64_t i = 0; i < 16; i++)
        assert_int_equal(lfc_try_send(ch, &i), LFC_OK);
    assert_int_equal(lfc_try_send(ch, &(uint64_t){99}), LFC_AGAIN);
    for (uint64_t i = 0; i < 16; i++) {
        uint64_t v;
        assert_int_equal(lfc_try_recv(ch, &v), LFC_OK);
        assert_true(v == i);
    }
    uint64_t v;
    assert_int_equal(lfc_try_recv(ch, &v), LFC_AGAIN);
    assert_int_equal(lfc_close(ch), LFC_OK); /* nobody parked: no wake */
    assert_int_equal(lfc_recv(ch, &v), LFC_CLOSED);

    assert_int_equal(counter(&g_waits), 0);
    assert_int_equal(counter(&g_wakes), 0);
    lfc_chan_free(ch);
}

/* ---- wake one, close wakes all ------------------------------------------ */

/* A receiver on a helper thread (lfc_test_async.h): one receive, and if
 * it got a value, a second one that waits for the close. */
struct parked_rx {
    struct lfc_test_async a;
    lfc_chan *ch;
    int got; /* 1 if it received a value (atomic) */
};

static int
parked_rx_call(void *arg)
{
    struct parked_rx *p = arg;
    uint64_t v;
    int r = lfc_recv(p->ch, &v);
    if (r == LFC_OK) {
        __atomic_store_n(&p->got, 1, __ATOMIC_RELAXED);
        r = lfc_recv(p->ch, &v); /* then wait for close */
    }
    return r;
}

static void
parked_rx_rescue(void *arg)
{
    struct parked_rx *p = arg;
    lfc_close(p->ch);
}

static void
test_park_send_wakes_one_close_wakes_all(void **state)
{
    (void)state;
    enum { NRX = 4 };
    struct parked_rx rx[NRX];
    lfc_chan *ch = lfc_chan_new(8, sizeof(uint64_t));
    assert_non_null(ch);
    lfc_spin_set_limit(0); /* park at once */

    /* Every receiver sleeps in its futex wait before the send. */
    for (int i = 0; i < NRX; i++) {
        rx[i].ch = ch;
        rx[i].got = 0;
        struct lfc_test_async_opts opts = {.rescue = parked_rx_rescue,
                                           .rescue_arg = &rx[i]};
        lfc_test_async_start_with(&rx[i].a, parked_rx_call, &rx[i], &opts);
        lfc_test_async_wait_parked(&rx[i].a, "receiver on empty");
    }
    /* A thread that has called the futex wait may not be asleep in the
     * kernel yet; nothing tells when it is. With or without this pause,
     * one send makes one wake of one waiter: one not yet asleep finds the
     * word changed and looks again. */
    lfc_test_sleep_ns(LFC_TEST_SETTLE_NS);

    unsigned long one_before = counter(&g_wake_one);
    uint64_t v = 7;
    assert_int_equal(lfc_send(ch, &v), LFC_OK);
    /* The value is taken by exactly one receiver. */
    int got = 0;
    int64_t end = lfc_now_ns() + LFC_TEST_STUCK_NS;
    for (;;) {
        got = 0;
        for (int i = 0; i < NRX; i++)
            got += __atomic_load_n(&rx[i].got, __ATOMIC_RELAXED);
        if (got != 0 || lfc_now_ns() > end)
            break;
        lfc_test_sleep_ns(200 * LFC_TEST_US);
    }
    assert_int_equal(got, 1);
    /* One send made exactly one single-waiter wake and no broadcast. */
    assert_int_equal(counter(&g_wake_one) - one_before, 1);
    assert_int_equal(counter(&g_wake_all), 0);

    assert_int_equal(lfc_close(ch), LFC_OK);
    for (int i = 0; i < NRX; i++)
        assert_int_equal(lfc_test_async_join(&rx[i].a, "receiver"),
                         LFC_CLOSED);
    assert_true(counter(&g_wake_all) >= 1); /* close broadcast */
    lfc_chan_free(ch);
}

/* ---- spurious wake-ups ------------------------------------------------- */

struct spsc_arg {
    lfc_chan *ch;
    long n;
    unsigned long *progress;
};

static void *
spsc_producer(void *arg)
{
    struct spsc_arg *a = arg;
    for (long i = 0; i < a->n; i++) {
        uint64_t v = (uint64_t)i;
        if (lfc_send(a->ch, &v) != LFC_OK)
            abort();
    }
    return NULL;
}

static void
test_park_spurious_wakeups_are_harmless(void **state)
{
    (void)state;
    __atomic_store_n(&g_spurious, 1, __ATOMIC_RELAXED);
    lfc_spin_set_limit(0); /* every wait goes through the fake futex */
    unsigned long progress = 0;
    struct lfc_watchdog wd;
    long n = lfc_test_scaled(20000, 2000);

    for (size_t cap = 0; cap <= 1; cap++) {
        lfc_chan *ch = lfc_chan_new(cap, sizeof(uint64_t));
        assert_non_null(ch);
        struct spsc_arg a = {ch, n, &progress};
        pthread_t t;
        lfc_watchdog_start(&wd, "spurious wake-ups", &progress, 30);
        assert_int_equal(pthread_create(&t, NULL, spsc_producer, &a), 0);
        for (long i = 0; i < n; i++) {
            uint64_t v;
            assert_int_equal(lfc_recv(ch, &v), LFC_OK);
            assert_true(v == (uint64_t)i);
            lfc_progress_bump(&progress);
        }
        pthread_join(t, NULL);
        lfc_watchdog_stop(&wd);
        /* Timed waits still time out, never early. */
        uint64_t v;
        int64_t deadline = lfc_now_ns() + LFC_TEST_SHORT_NS / 4;
        assert_int_equal(lfc_recv_until(ch, &v, deadline), LFC_TIMEDOUT);
        assert_true(lfc_now_ns() >= deadline);
        lfc_chan_free(ch);
    }
    assert_true(counter(&g_waits) > 0); /* the fake really was exercised */
}

/* ---- wraparound of positions and stamps -------------------------------- */

static void
test_park_positions_wrap_through_2_64(void **state)
{
    (void)state;
    const size_t caps[] = {1, 3, 64};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        /* Start 5 laps below 2^64: the run crosses zero. */
        lfc_chan *ch = lfc__chan_new_at(caps[c], sizeof(uint64_t),
                                        (uint64_t)-5);
        assert_non_null(ch);
        uint64_t next_in = 0, next_out = 0;
        for (int round = 0; round < 40; round++) {
            /* Fill to capacity, check len, drain half (then all). */
            while (lfc_try_send(ch, &next_in) == LFC_OK)
                next_in++;
            assert_int_equal(lfc_chan_len(ch), caps[c]);
            size_t take = round % 2 ? caps[c] : (caps[c] + 1) / 2;
            for (size_t i = 0; i < take; i++) {
                uint64_t v;
                assert_int_equal(lfc_try_recv(ch, &v), LFC_OK);
                assert_true(v == next_out);
                next_out++;
            }
            assert_int_equal(lfc_chan_len(ch), caps[c] - take);
        }
        assert_int_equal(lfc_close(ch), LFC_OK);
        uint64_t v;
        while (lfc_try_recv(ch, &v) == LFC_OK)
            assert_true(v == next_out++);
        assert_true(next_out == next_in);
        assert_int_equal(lfc_try_recv(ch, &v), LFC_CLOSED);
        assert_true(next_in > 5 * caps[c]); /* really went round */
        lfc_chan_free(ch);
    }
}

static void
test_park_wrap_under_threads(void **state)
{
    (void)state;
    long n = lfc_test_scaled(50000, 5000);
    lfc_chan *ch = lfc__chan_new_at(3, sizeof(uint64_t), (uint64_t)-100);
    assert_non_null(ch);
    unsigned long progress = 0;
    struct lfc_watchdog wd;
    struct spsc_arg a = {ch, n, &progress};
    pthread_t t;
    lfc_watchdog_start(&wd, "wraparound spsc", &progress, 30);
    assert_int_equal(pthread_create(&t, NULL, spsc_producer, &a), 0);
    for (long i = 0; i < n; i++) {
        uint64_t v;
        assert_int_equal(lfc_recv(ch, &v), LFC_OK);
        assert_true(v == (uint64_t)i);
        lfc_progress_bump(&progress);
    }
    pthread_join(t, NULL);
    lfc_watchdog_stop(&wd);
    lfc_chan_free(ch);
}

/* ---- channel reference counts -------------------------------------------- */

static void
test_park_chan_retained_outlives_user_free(void **state)
{
    (void)state;
    lfc_chan *ch = lfc_chan_new(2, sizeof(uint64_t));
    assert_non_null(ch);
    lfc__chan_retain(ch); /* a module (say the timer thread) keeps it */
    lfc_chan_free(ch);    /* the user lets go */
    /* Still usable by the holder: ASan would flag a freed channel. */
    uint64_t v = 42, out = 0;
    assert_int_equal(lfc_try_send(ch, &v), LFC_OK);
    assert_int_equal(lfc_try_recv(ch, &out), LFC_OK);
    assert_true(out == 42);
    lfc__chan_release(ch); /* the last reference: freed (ASan checks no
                              leak, and no double free) */
}

/* ---- a process-shared event count ---------------------------------- */

/* An event count and its condition in memory two processes map. */
struct shared_area {
    struct lfc_ec ec;
    struct lfc_spin spin;
    uint32_t flag; /* the condition: set (release) by the parent */
};

static int
shared_flag_try(void *arg)
{
    struct shared_area *a = arg;
    return __atomic_load_n(&a->flag, __ATOMIC_ACQUIRE) ? LFC_OK : LFC_AGAIN;
}

/* The scheduler state of process pid ('S': asleep in a system call), or
 * 0 once it cannot be read. */
static char
process_state(pid_t pid)
{
    char path[64];
    char buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * lfc__ec_init_shared: a waiter in a child process, asleep in its futex
 * wait on an event count in shared memory, is woken by the parent's
 * signal. With private futex operations it could not be (the kernel keys
 * a private futex by the waiter's own address space), so it would sleep
 * until its deadline; the child reports which it was.
 */
static void
test_park_shared_ec_wakes_another_process(void **state)
{
    (void)state;
    struct shared_area *a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(a != MAP_FAILED);
    lfc__ec_init_shared(&a->ec);
    lfc__spin_init(&a->spin);
    a->flag = 0;

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int64_t deadline = lfc_test_now_ns() + LFC_TEST_STUCK_NS;
        int r = lfc__ec_wait(&a->ec, &a->spin, NULL, shared_flag_try, a,
                             deadline);
        /* 0: woken before the deadline; 1: only the deadline ended it;
         * 2: a wrong status. */
        _exit(r != LFC_OK ? 2 : lfc_test_now_ns() < deadline ? 0 : 1);
    }
    /* Condition poll: the child has announced itself and sleeps in the
     * kernel (its only system call from here on is the futex wait). */
    int64_t end = lfc_test_now_ns() + LFC_TEST_STUCK_NS;
    while (__atomic_load_n(&a->ec.waiters, __ATOMIC_ACQUIRE) == 0 ||
           process_state(pid) != 'S') {
        if (lfc_test_now_ns() > end)
            fail_msg("the child never parked");
        sched_yield();
    }
    __atomic_store_n(&a->flag, 1, __ATOMIC_RELEASE);
    lfc_fence_seqcst(); /* as every waker does (lfc_atomic.h: TSan-safe) */
    lfc__ec_signal_fenced(&a->ec, NULL);

    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(munmap(a, sizeof(*a)), 0);
}

int
main(void)
{
    lfc_test_alarm(LFC_TEST_ALARM_S);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_park_uncontended_makes_no_syscall,
                                        setup_counting, teardown_counting),
        cmocka_unit_test_setup_teardown(
            test_park_send_wakes_one_close_wakes_all, setup_counting,
            teardown_counting),
        cmocka_unit_test_setup_teardown(test_park_spurious_wakeups_are_harmless,
                                        setup_counting, teardown_counting),
        cmocka_unit_test(test_park_shared_ec_wakes_another_process),
        cmocka_unit_test(test_park_positions_wrap_through_2_64),
        cmocka_unit_test(test_park_wrap_under_threads),
        cmocka_unit_test(test_park_chan_retained_outlives_user_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
