/* SPDX-License-Identifier: MIT */
/*
 * lfchan version: the release these headers belong to, and the release of
 * the library a program runs with.
 *
 * The three numeric macros below are the one place the version is written:
 * CMakeLists.txt reads them (file(STRINGS)) and passes them to project(),
 * which sets the shared library's VERSION, lfchan.pc's Version: and the
 * CMake package version. To release, bump them here and add a CHANGELOG.md
 * entry.
 *
 * Versions follow semantic versioning. While the major version is 0, a
 * minor release may change the API and ABI; a patch release does not.
 *
 * Compile-time checks use the macros:
 *
 *   #if LFC_VERSION_MAJOR == 0 && LFC_VERSION_MINOR < 2
 *   ... code for 0.1.x ...
 *   #endif
 *
 * lfc_version() says which library the program actually loaded, which can
 * differ from the headers it was compiled against (a shared library
 * upgraded or found elsewhere on the library path).
 */
#ifndef LFC_VERSION_H
#define LFC_VERSION_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keep each on one line, "#define NAME <digits>": CMakeLists.txt parses
 * them. */
#define LFC_VERSION_MAJOR 0
#define LFC_VERSION_MINOR 1
#define LFC_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH", e.g. "0.1.0", made from the three numbers above. */
/* clang-format off */
#define LFC_VERSION_STRING                                                     \
    LFC_VERSION_XSTR_(LFC_VERSION_MAJOR) "."                                   \
    LFC_VERSION_XSTR_(LFC_VERSION_MINOR) "."                                   \
    LFC_VERSION_XSTR_(LFC_VERSION_PATCH)
/* clang-format on */

/* Helpers for LFC_VERSION_STRING; not for use on their own. */
#define LFC_VERSION_STR_(x) #x
#define LFC_VERSION_XSTR_(x) LFC_VERSION_STR_(x)

/*
 * lfc_version - the version of the lfchan library this program runs with.
 *
 * Returns: a static "MAJOR.MINOR.PATCH" string that lives forever, equal to
 * the LFC_VERSION_STRING the library was built with; compare it with the
 * program's LFC_VERSION_STRING to detect headers and library that differ.
 * Blocks: never. Threads: any.
 */
LFC_API const char *lfc_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LFC_VERSION_H */
