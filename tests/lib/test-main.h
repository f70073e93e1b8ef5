/* test-main.h - the one way a pxeforge cmocka executable runs its cases.
 *
 * With no argument every case runs. With one argument exactly that case runs, and a name
 * that is not in the table fails the run: a stale or misspelled name in a CTest list
 * must never pass by running nothing. `--registered NAME...` checks that the names CTest
 * registered (derived from the source by cmake/PxfTesting.cmake) are exactly the table,
 * so a case cannot be left out of the run either. */
#pragma once

#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

int pxf_test_run(const char *group, const struct CMUnitTest *tests, size_t n, int argc,
                 char **argv);

#define pxf_test_main(tests, argc, argv)                                                           \
        pxf_test_run(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (argc), (argv))
