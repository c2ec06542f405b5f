/* SPDX-License-Identifier: MIT */
/*
 * The library's version string. Depends on: nothing (lfchan/version.h).
 */
#include "lfchan/version.h"

const char *
lfc_version(void)
{
    return LFC_VERSION_STRING;
}
