/* SPDX-License-Identifier: MIT */
/* lfchan: Go-style channels for C. The umbrella header. */
#ifndef LFCHAN_H
#define LFCHAN_H

#include "lfchan/version.h"
#include "lfchan/status.h"
#include "lfchan/spin.h"
#include "lfchan/chan.h"
#include "lfchan/timer.h"
#include "lfchan/ctx.h"
#include "lfchan/select.h"
#include "lfchan/pool.h"
#include "lfchan/merge.h"
#include "lfchan/sem.h"
#include "lfchan/wg.h"
#include "lfchan/group.h"

#endif /* LFCHAN_H */
