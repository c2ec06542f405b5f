/* SPDX-License-Identifier: MIT */
/*
 * lfchan behind the benchmark ops table, plus two spin-budget variants for
 * the spin sweep: lfchan-spin0 (park at once) and lfchan-spin20000 (a long
 * fixed budget). The plain "lfchan" entry runs the library's default
 * (LFC_SPIN_ADAPTIVE); every entry sets the process-wide budget in setup
 * and restores the default in teardown.
 */
#include "bench.h"

#include <lfchan.h>

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

#define LFCHAN_OPS(nm, about_, setup_)                                       \
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
    }

const struct bench_ops bench_ops_lfchan =
    LFCHAN_OPS("lfchan", "lfchan, default (adaptive) spin budget",
               spin_default);
const struct bench_ops bench_ops_lfchan_spin0 =
    LFCHAN_OPS("lfchan-spin0", "lfchan, lfc_spin_set_limit(0): park at once",
               spin_zero);
const struct bench_ops bench_ops_lfchan_spinlong =
    LFCHAN_OPS("lfchan-spin20000",
               "lfchan, lfc_spin_set_limit(20000): long fixed spin",
               spin_long);
