/* SPDX-License-Identifier: MIT */
/*
 * Status strings and the clock. Depends on: lfc_park.h (the clock).
 */
#include "lfchan/status.h"
#include "lfc_park.h"

const char *
lfc_strerror(int status)
{
    switch (status) {
    case LFC_OK:
        return "success";
    case LFC_CLOSED:
        return "channel closed";
    case LFC_AGAIN:
        return "operation would block";
    case LFC_TIMEDOUT:
        return "deadline passed";
    case LFC_CANCELED:
        return "operation canceled";
    case LFC_EINVAL:
        return "invalid argument";
    case LFC_ENOMEM:
        return "out of memory";
    default:
        return "unknown lfchan status";
    }
}

int64_t
lfc_now_ns(void)
{
    return lfc__now_ns();
}
