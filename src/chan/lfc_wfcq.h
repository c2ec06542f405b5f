/* SPDX-License-Identifier: MIT */
/*
 * liburcu's wait-free concurrent queue (urcu/wfcqueue.h), header-only, for
 * the unbounded channel (unbounded.c) and nothing else.
 *
 * Linking. With _LGPL_SOURCE the queue's operations are static inline
 * functions of urcu/static/wfcqueue.h, compiled into lfchan: liblfchan
 * does not link liburcu-cds, so lfchan.pc, lfchanConfig.cmake, the
 * subproject and the nodeps checks keep their single dependency on
 * pthreads; only building lfchan needs liburcu-dev (a Debian package, as
 * for the benchmarks). The price is licensing: those inline functions are
 * LGPL-2.1-or-later code that ends up in lfchan's object code. lfchan's
 * own sources stay MIT; whoever distributes lfchan binaries also
 * distributes that LGPL code and owes its terms for it (its source is
 * liburcu's, and lfchan's is public, so relinking is always possible).
 * urcu documents _LGPL_SOURCE for "LGPL-compatible code", which MIT code
 * is. Linking liburcu-cds.so instead would keep the boundary at a shared
 * library, but would add a run-time dependency to every consumer, a
 * function call per operation, and code that ThreadSanitizer cannot see
 * (below).
 *
 * ThreadSanitizer. urcu 0.13's atomics are volatile accesses and x86
 * inline assembly (uatomic/x86.h), which TSan cannot model: it would see
 * the enqueuer's link store and the dequeuer's load of the same `next`
 * as a race, and no happens-before from a node's contents to its reader.
 * Under LFC_TSAN (the same switch that maps lfc_atomic.h to the compiler's
 * builtins) the few primitives wfcqueue uses are redefined, before its
 * functions are parsed, as __atomic builtins of at least the strength
 * urcu documents for them: CMM_LOAD_SHARED / CMM_STORE_SHARED (a single
 * access; here acquire / release), uatomic_xchg and uatomic_cmpxchg (full
 * barriers; here seq_cst). The code compiled is urcu's own; only what its
 * macros expand to differs. The queue's plain accesses to head->node.next
 * are all made by the (exclusive) dequeuer, and unbounded.c never reads
 * that field outside its dequeue lock, so no plain access races.
 */
#ifndef LFC_WFCQ_H
#define LFC_WFCQ_H

#ifndef _LGPL_SOURCE
#define _LGPL_SOURCE
#endif

#include <urcu/arch.h>
#include <urcu/compiler.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#ifdef LFC_TSAN
#undef CMM_LOAD_SHARED
#define CMM_LOAD_SHARED(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#undef CMM_STORE_SHARED
#define CMM_STORE_SHARED(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#undef uatomic_xchg
#define uatomic_xchg(addr, v) __atomic_exchange_n((addr), (v), __ATOMIC_SEQ_CST)
#undef uatomic_cmpxchg
#define uatomic_cmpxchg(addr, old, new_)                                       \
    __extension__({                                                            \
        __typeof__(*(addr)) lfc__wfcq_old_ = (old);                            \
        __atomic_compare_exchange_n((addr), &lfc__wfcq_old_, (new_), 0,        \
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);       \
        lfc__wfcq_old_;                                                        \
    })
#endif /* LFC_TSAN */

#include <urcu/wfcqueue.h>

#endif /* LFC_WFCQ_H */
