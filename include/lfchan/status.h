/* SPDX-License-Identifier: MIT */
/*
 * lfchan status codes and time helpers.
 *
 * Every lfchan function that can fail returns one of these codes. LFC_OK is
 * zero; every other code is negative and keeps its value forever.
 *
 * Outcomes the caller is expected to branch on: LFC_CLOSED, LFC_AGAIN,
 * LFC_TIMEDOUT, LFC_CANCELED. Errors: LFC_EINVAL, LFC_ENOMEM.
 *
 * Functions that return a status never set errno. Constructors (*_new)
 * return NULL and set errno instead, as malloc does.
 */
#ifndef LFC_STATUS_H
#define LFC_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LFC_API
#define LFC_API __attribute__((visibility("default")))
#endif

enum {
    LFC_OK = 0,        /* success */
    LFC_CLOSED = -1,   /* the channel is closed (and, for receives, drained) */
    LFC_AGAIN = -2,    /* a try_ call would have blocked */
    LFC_TIMEDOUT = -3, /* the deadline passed before the call could complete */
    LFC_CANCELED = -4, /* the call's context was canceled */
    LFC_EINVAL = -5,   /* invalid argument (NULL handle, NULL buffer, ...) */
    LFC_ENOMEM = -6,   /* out of memory */
};

/*
 * lfc_strerror - a static, human-readable description of a status code.
 *
 * Returns: a string that lives forever; "unknown lfchan status" for a value
 * that is not one of the codes above.
 * Blocks: never. Threads: any.
 */
LFC_API const char *lfc_strerror(int status);

/*
 * lfc_now_ns - CLOCK_MONOTONIC now, in nanoseconds.
 *
 * Deadlines in lfchan (the *_until functions) are absolute values on this
 * clock: `lfc_recv_until(ch, &v, lfc_now_ns() + 5000000)` waits up to 5 ms.
 * Returns: the time. Blocks: never. Threads: any.
 */
LFC_API int64_t lfc_now_ns(void);

/* A deadline that never comes: the *_until functions then block forever. */
#define LFC_FOREVER INT64_MAX

#ifdef __cplusplus
}
#endif

#endif /* LFC_STATUS_H */
