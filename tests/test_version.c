/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the lfchan version (include/lfchan/version.h): the
 * library's lfc_version() agrees with the header's macros, the string is
 * "MAJOR.MINOR.PATCH" made of those numbers, and (when CMake passes it in)
 * both agree with the version CMakeLists.txt read for project().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka must come after the headers above */
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lfchan.h"

/* The numbers are plain integers usable in #if. */
#if !(LFC_VERSION_MAJOR >= 0 && LFC_VERSION_MINOR >= 0 &&                      \
      LFC_VERSION_PATCH >= 0)
#error "LFC_VERSION_MAJOR/MINOR/PATCH must be non-negative integers"
#endif

static void
test_version_string_matches_macros(void **state)
{
    char want[64];

    (void)state;
    snprintf(want, sizeof want, "%d.%d.%d", LFC_VERSION_MAJOR,
             LFC_VERSION_MINOR, LFC_VERSION_PATCH);
    assert_string_equal(LFC_VERSION_STRING, want);
}

static void
test_version_library_matches_header(void **state)
{
    const char *v = lfc_version();

    (void)state;
    assert_non_null(v);
    assert_string_equal(v, LFC_VERSION_STRING);
    /* Static storage: the same string on every call. */
    assert_ptr_equal(lfc_version(), v);
}

static void
test_version_matches_cmake_project(void **state)
{
    (void)state;
#ifdef LFC_TEST_PROJECT_VERSION
    assert_string_equal(lfc_version(), LFC_TEST_PROJECT_VERSION);
#else
    skip();
#endif
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_string_matches_macros),
        cmocka_unit_test(test_version_library_matches_header),
        cmocka_unit_test(test_version_matches_cmake_project),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
