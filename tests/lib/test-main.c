/* See test-main.h. */
#include "tests/lib/test-main.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct CMUnitTest *find_case(const struct CMUnitTest *tests, size_t n,
                                          const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(tests[i].name, name) == 0)
                        return &tests[i];
        return NULL;
}

static bool listed(char **names, int count, const char *name)
{
        for (int i = 0; i < count; i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

/* Both directions: every registered name is a case, every case is registered once. */
static int check_registered(const struct CMUnitTest *tests, size_t n, char **names, int count)
{
        int bad = 0;

        for (int i = 0; i < count; i++) {
                if (!find_case(tests, n, names[i])) {
                        fprintf(stderr, "registered but not a test case: %s\n", names[i]);
                        bad++;
                } else if (listed(names, i, names[i])) {
                        fprintf(stderr, "registered twice: %s\n", names[i]);
                        bad++;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (!listed(names, count, tests[i].name)) {
                        fprintf(stderr, "a test case that CTest does not run: %s\n", tests[i].name);
                        bad++;
                }
        }
        if (bad == 0)
                printf("%zu test cases, all registered\n", n);
        return bad == 0 ? 0 : 1;
}

int pxf_test_run(const char *group, const struct CMUnitTest *tests, size_t n, int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "--registered") == 0)
                return check_registered(tests, n, argv + 2, argc - 2);
        if (argc > 2) {
                fprintf(stderr, "usage: %s [CASE | --registered CASE...]\n", argv[0]);
                return 2;
        }
        if (argc == 2) {
                if (!find_case(tests, n, argv[1])) {
                        fprintf(stderr, "%s: no test case named '%s'\n", argv[0], argv[1]);
                        return 1;
                }
                cmocka_set_test_filter(argv[1]);
        }
        return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}
