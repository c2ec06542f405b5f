/* SPDX-License-Identifier: MIT */
/*
 * Shared internals: cache-line size, branch hints, asserts, debug yields.
 */
#ifndef LFC_COMMON_H
#define LFC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LFC_CACHELINE 64
#define LFC_CACHE_ALIGNED __attribute__((aligned(LFC_CACHELINE)))

#define lfc_likely(x) __builtin_expect(!!(x), 1)
#define lfc_unlikely(x) __builtin_expect(!!(x), 0)

#define LFC_INTERNAL __attribute__((visibility("hidden")))

#define lfc_container_of(ptr, type, member)                                    \
    ((type *)((char *)(ptr)-offsetof(type, member)))

/* Aborts with file:line; used for contract violations and impossible states
 * in every build type (they are cheap, and silent corruption is worse). */
#define LFC_PANIC(msg)                                                         \
    do {                                                                       \
        fprintf(stderr, "lfchan: %s:%d: %s\n", __FILE__, __LINE__, (msg));     \
        abort();                                                               \
    } while (0)

#ifndef NDEBUG
#define LFC_ASSERT(cond)                                                       \
    do {                                                                       \
        if (lfc_unlikely(!(cond)))                                             \
            LFC_PANIC("assertion failed: " #cond);                             \
    } while (0)
#else
#define LFC_ASSERT(cond) ((void)0)
#endif

/*
 * LFC_DEBUG_YIELD_POINT() marks a slow-path window where a preemption is
 * interesting (between claiming a slot and publishing it, between
 * announcing a waiter and sleeping). With the LFC_DEBUG_YIELD build option
 * it yields the CPU at random there, so stress tests explore interleavings
 * a quiet machine would rarely produce.
 */
#ifdef LFC_DEBUG_YIELD
void lfc__debug_yield(void) LFC_INTERNAL;
#define LFC_DEBUG_YIELD_POINT() lfc__debug_yield()
#else
#define LFC_DEBUG_YIELD_POINT() ((void)0)
#endif

#endif /* LFC_COMMON_H */
