/* Unit tests of common/: pxf_open_beneath and pxf_check_beneath, the one place where the
 * TFTP and HTTP servers turn a peer's path into an open file; and how a supervised child
 * is stopped. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/common.h"
#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

struct fixture {
        char *dir;
        char root[PATH_MAX]; /* dir/root: a symlink to dir/a, as the appliance publishes */
};

static int setup(void **state)
{
        struct fixture *f = pxf_calloc(1, sizeof(*f));

        f->dir = tt_make("common");
        tt_write_text(f->dir, "a/file", "first\n", 0644);
        tt_write_text(f->dir, "a/sub/nested", "nested\n", 0644);
        tt_symlink(f->dir, "a/inside", "sub/nested");
        tt_symlink(f->dir, "a/up", "../outside");
        tt_symlink(f->dir, "a/absolute", "/etc/passwd");
        tt_write_text(f->dir, "outside", "not served\n", 0644);
        tt_write_text(f->dir, "b/file", "second\n", 0644);
        tt_symlink(f->dir, "root", "a");
        tt_path(f->root, sizeof f->root, f->dir, "root");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        tt_remove(f->dir);
        free(f);
        return 0;
}

static void assert_contents(int fd, const char *want)
{
        char buf[64] = {0};

        assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), (ssize_t)strlen(want));
        assert_string_equal(buf, want);
}

static void opens_a_regular_file(void **state)
{
        struct fixture *f = *state;
        struct stat st;
        _cleanup_close_ int fd = pxf_open_beneath(f->root, "file", &st);

        assert_true(fd >= 0);
        assert_int_equal(st.st_size, 6);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_contents(fd, "first\n");
}

static void follows_links_that_stay_inside(void **state)
{
        struct fixture *f = *state;
        struct stat st;
        _cleanup_close_ int fd = pxf_open_beneath(f->root, "inside", &st);

        assert_true(fd >= 0);
        assert_contents(fd, "nested\n");
}

static void refuses_every_way_out(void **state)
{
        struct fixture *f = *state;
        static const char *const out[] = {"../outside", "sub/../../outside", "/etc/passwd", "up",
                                          "absolute"};
        struct stat st;

        for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
                assert_int_equal(pxf_open_beneath(f->root, out[i], &st), -EXDEV);
}

static void refuses_magic_links(void **state)
{
        struct stat st;

        (void)state;
        /* /proc/self/root is a magic link: following it would reach the whole file system. */
        assert_int_equal(pxf_open_beneath("/proc/self", "root/etc/passwd", &st), -ELOOP);
}

static void only_regular_files(void **state)
{
        struct fixture *f = *state;
        char fifo[PATH_MAX];
        struct stat st;

        tt_path(fifo, sizeof fifo, f->dir, "a/fifo");
        assert_int_equal(mkfifo(fifo, 0644), 0);
        assert_int_equal(pxf_open_beneath(f->root, "sub", &st), -EISDIR);
        assert_int_equal(pxf_open_beneath(f->root, ".", &st), -EISDIR);
        /* Returns at once: no writer is needed to open a FIFO without blocking. */
        assert_int_equal(pxf_open_beneath(f->root, "fifo", &st), -EISDIR);
        assert_int_equal(pxf_open_beneath(f->root, "missing", &st), -ENOENT);
        assert_int_equal(pxf_open_beneath(f->root, "file/below", &st), -ENOTDIR);
}

/* Both servers' one policy: hidden names and files still being written are not there. */
static void hidden_and_partial_files_are_not_served(void **state)
{
        struct fixture *f = *state;
        static const char *const names[] = {".hidden", "sub/.git-config", "image.iso.partial"};
        char rel[64];
        struct stat st;

        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                (void)snprintf(rel, sizeof rel, "a/%s", names[i]);
                tt_write_text(f->dir, rel, "secret\n", 0644);
                assert_int_equal(pxf_open_beneath(f->root, names[i], &st), -ENOENT);
        }
        tt_write_text(f->dir, "a/partial.cfg", "menu\n", 0644);
        _cleanup_close_ int fd = pxf_open_beneath(f->root, "partial.cfg", &st);
        assert_true(fd >= 0);
}

static void a_swapped_root_applies_to_the_next_open(void **state)
{
        struct fixture *f = *state;
        char next[PATH_MAX];
        struct stat st;
        _cleanup_close_ int before = pxf_open_beneath(f->root, "file", &st), after = -1;

        assert_true(before >= 0);
        tt_symlink(f->dir, "root.next", "b");
        tt_path(next, sizeof next, f->dir, "root.next");
        assert_int_equal(rename(next, f->root), 0);
        after = pxf_open_beneath(f->root, "file", &st);
        assert_true(after >= 0);
        assert_contents(after, "second\n");
        assert_contents(before, "first\n"); /* what was open stays what it was */
}

static void check_beneath_says_what_is_wrong(void **state)
{
        struct fixture *f = *state;
        char missing[PATH_MAX], file[PATH_MAX];

        tt_path(missing, sizeof missing, f->dir, "missing");
        tt_path(file, sizeof file, f->dir, "outside");
        assert_int_equal(pxf_check_beneath(f->root), 0);
        assert_int_equal(pxf_check_beneath(missing), -ENOENT);
        assert_int_equal(pxf_check_beneath(file), -ENOTDIR);
}

static void on_sigchld(int sig)
{
        (void)sig;
}

/* A child that takes a while to stop on SIGTERM gets its grace time, even when another
 * child's SIGCHLD interrupts the wait (as pxeforge-server's does while dnsmasq stops). */
static void a_stopping_child_gets_its_grace_time(void **state)
{
        struct fixture *f = *state;
        char marker[PATH_MAX], script[PATH_MAX + 128];
        struct sigaction sa = {.sa_handler = on_sigchld}, old;
        struct event_base *base = event_base_new();
        struct pxf_child *c = NULL;
        struct pxf_error err = {0};
        pid_t other;

        tt_path(marker, sizeof marker, f->dir, "stopped-cleanly");
        snprintf(script, sizeof script,
                 "trap 'sleep 1; : > %s; exit 0' TERM; echo up >&2; while :; do sleep 0.1; done",
                 marker);
        const char *argv[] = {"/bin/sh", "-c", script, NULL};
        struct pxf_child_opts o = {.name = "slow-stopper", .argv = argv, .grace_ms = 20000};

        assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0); /* no SA_RESTART */
        assert_int_equal(pxf_child_start(base, &o, &c, &err), 0);
        assert_int_equal(pxf_child_wait_ready(c, "up", 10000, &err), 0);
        other = fork();
        if (other == 0) {
                usleep(300 * 1000);
                _exit(0);
        }
        assert_true(other > 0);
        c = pxf_child_free(c);
        assert_int_equal(access(marker, F_OK), 0); /* SIGTERM's trap ran to its end */
        assert_int_equal(waitpid(other, NULL, 0), other);
        assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
        event_base_free(base);
}

/* A failed program's error: its status, its command line, and stdout and stderr as one
 * stream in the order they were written. */
static void a_failure_shows_the_output_in_order(void **state)
{
        const char *argv[] = {"sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3", NULL};
        struct pxf_error err = {0};

        (void)state;
        assert_int_equal(pxf_spawn_run(argv, NULL, &err), -ECHILD);
        assert_non_null(strstr(err.msg, "sh exited with status 3\n"));
        assert_non_null(
            strstr(err.msg, "command: sh -c 'echo out1; echo err1 >&2; echo out2; exit 3'"));
        assert_non_null(strstr(err.msg, "last lines of its output:\nout1\nerr1\nout2"));
}

/* Only the last lines: what says why is at the end. */
static void a_failure_shows_only_the_last_lines(void **state)
{
        const char *argv[] = {"sh", "-c", "seq 1 1000; exit 1", NULL};
        struct pxf_error err = {0};
        char want[32];

        (void)state;
        assert_int_equal(pxf_spawn_run(argv, NULL, &err), -ECHILD);
        (void)snprintf(want, sizeof want, "\n%d\n", 1000 - PXF_SPAWN_OUTPUT_LINES + 1);
        assert_non_null(strstr(err.msg, want));
        (void)snprintf(want, sizeof want, "\n%d\n", 1000 - PXF_SPAWN_OUTPUT_LINES);
        assert_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, "\n1000"));
}

/* The log file gets every message at every level, programs' output lines included, while
 * the console shows errors only. */
static void the_log_file_gets_everything(void **state)
{
        struct fixture *f = *state;
        const char *argv[] = {"sh", "-c", "echo to-stdout; echo to-stderr >&2", NULL};
        char path[PATH_MAX];
        _cleanup_free_ char *buf = NULL;
        struct pxf_error err = {0};
        enum pxf_log_level level = pxf_log_get_level();

        tt_path(path, sizeof path, f->dir, "build.log");
        pxf_log_set_level(PXF_LOG_ERROR);
        assert_int_equal(pxf_log_open_file(path), 0);
        assert_string_equal(pxf_log_file(), path);
        log_info("an info line");
        assert_int_equal(pxf_spawn_run(argv, NULL, &err), 0);
        pxf_log_close_file();
        pxf_log_set_level(level);
        assert_null(pxf_log_file());
        buf = tt_read(f->dir, "build.log");
        assert_non_null(strstr(buf, "] info: an info line\n"));
        assert_non_null(strstr(buf, "] debug: sh: to-stdout\n"));
        assert_non_null(strstr(buf, "] debug: sh: to-stderr\n"));
}

/* A confined child's lines (pxeforge-server's) are logged under its name, at the level
 * it gave them, escaped: none can pass for a line of ours. */
static void a_confined_childs_lines_are_its_own(void **state)
{
        struct fixture *f = *state;
        const char *argv[] = {"/bin/sh", "-c",
                              "printf 'pxeforge: error: forged\\n<4>journal\\n"
                              "pxeforge: ready \\033[31m \\303\\251\\n' >&2; sleep 5",
                              NULL};
        struct pxf_child_opts o = {
            .name = "confined", .argv = argv, .output = PXF_CHILD_OUTPUT_CONFINED};
        struct event_base *base = event_base_new();
        enum pxf_log_level level = pxf_log_get_level();
        char path[PATH_MAX];
        _cleanup_free_ char *buf = NULL;
        struct pxf_child *c = NULL;
        struct pxf_error err = {0};

        tt_path(path, sizeof path, f->dir, "server.log");
        pxf_log_set_level(PXF_LOG_ERROR);
        assert_int_equal(pxf_log_open_file(path), 0);
        assert_int_equal(pxf_child_start(base, &o, &c, &err), 0);
        assert_int_equal(pxf_child_wait_ready(c, "ready", 10000, &err), 0);
        c = pxf_child_free(c);
        pxf_log_close_file();
        pxf_log_set_level(level);
        event_base_free(base);
        buf = tt_read(f->dir, "server.log");
        assert_non_null(strstr(buf, "] error: confined: forged\n"));
        assert_non_null(strstr(buf, "] warning: confined: journal\n"));
        assert_non_null(strstr(buf, "] info: confined: ready \\x1b[31m \\xc3\\xa9\n"));
        assert_null(strchr(buf, '\033'));
}

static void an_error_takes_an_appendix(void **state)
{
        struct pxf_error err = {0};

        (void)state;
        pxf_error_set(&err, -EIO, "it failed");
        assert_int_equal(pxf_error_append(&err, "; see %s", "the log"), -EIO);
        assert_string_equal(err.msg, "it failed; see the log");
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(opens_a_regular_file, setup, teardown),
            cmocka_unit_test_setup_teardown(follows_links_that_stay_inside, setup, teardown),
            cmocka_unit_test_setup_teardown(refuses_every_way_out, setup, teardown),
            cmocka_unit_test_setup_teardown(refuses_magic_links, setup, teardown),
            cmocka_unit_test_setup_teardown(only_regular_files, setup, teardown),
            cmocka_unit_test_setup_teardown(hidden_and_partial_files_are_not_served, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(a_swapped_root_applies_to_the_next_open, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(check_beneath_says_what_is_wrong, setup, teardown),
            cmocka_unit_test_setup_teardown(a_stopping_child_gets_its_grace_time, setup, teardown),
            cmocka_unit_test(a_failure_shows_the_output_in_order),
            cmocka_unit_test(a_failure_shows_only_the_last_lines),
            cmocka_unit_test_setup_teardown(the_log_file_gets_everything, setup, teardown),
            cmocka_unit_test_setup_teardown(a_confined_childs_lines_are_its_own, setup, teardown),
            cmocka_unit_test(an_error_takes_an_appendix),
        };

        return pxf_test_main(tests, argc, argv);
}
