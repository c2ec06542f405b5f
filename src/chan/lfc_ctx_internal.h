/* SPDX-License-Identifier: MIT */
/*
 * Context internals shared with the modules whose calls take a context
 * (select: lfc_send_ctx, lfc_recv_ctx; sem: lfc_sem_acquire_ctx).
 */
#ifndef LFC_CTX_INTERNAL_H
#define LFC_CTX_INTERNAL_H

#include "lfchan/ctx.h"
#include "lfc_common.h"

/*
 * A _ctx call whose wait reached ctx's deadline calls this before it
 * returns: it cancels ctx and its subtree with LFC_TIMEDOUT, which is
 * what the deadline timer is about to do (the first cause wins, so a
 * cancel that came first keeps its cause, and the timer, when it fires,
 * finds ctx cancelled), and returns lfc_ctx_err(ctx). So the call returns
 * lfc_ctx_err(ctx), as documented, even when the timer thread is late.
 * The caller holds no lock (cancelling closes done channels, which wakes
 * their waiters) and lfc_now_ns() >= lfc_ctx_deadline(ctx).
 */
int lfc__ctx_expire(lfc_ctx *ctx) LFC_INTERNAL;

#endif /* LFC_CTX_INTERNAL_H */
