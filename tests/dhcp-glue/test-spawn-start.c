/* Unit tests of pxf_spawn_start (common/spawn.c), the non-waiting spawn the dnsmasq
 * supervisor uses. They live here because dhcp-glue added it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>

#include "common/common.h"

/* Reads fd (nonblocking) until EOF, waiting with poll, into buf. */
static size_t read_all(int fd, char *buf, size_t size)
{
        size_t len = 0;

        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                assert_true(poll(&p, 1, 5000) > 0);
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EAGAIN)
                        continue;
                assert_true(n >= 0);
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        return len;
}

static int wait_exit(pid_t pid)
{
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void stderr_comes_through_a_nonblocking_cloexec_pipe(void **state)
{
        const char *argv[] = {"ls", "/nonexistent-pxf-path", NULL};
        struct pxf_error err = {0};
        char buf[512];
        pid_t pid;
        int fd;

        (void)state;
        assert_int_equal(pxf_spawn_start(argv, NULL, &pid, &fd, &err), 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        read_all(fd, buf, sizeof buf);
        assert_non_null(strstr(buf, "/nonexistent-pxf-path"));
        assert_int_not_equal(wait_exit(pid), 0);
        close(fd);
}

/* stdin is /dev/null, stdout goes where asked, and no fd of ours above 2 leaks. */
static void child_fds_are_clean(void **state)
{
        const char *argv[] = {"ls", "/proc/self/fd", NULL};
        const char *argv0[] = {"readlink", "/proc/self/fd/0", NULL};
        struct pxf_error err = {0};
        int out[2], leak, fd;
        char buf[512];
        pid_t pid;

        (void)state;
        leak = open("/dev/null", O_RDONLY); /* deliberately not close-on-exec */
        assert_true(leak > 2);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        struct pxf_spawn_opts o = {.stdout_fd = out[1]};
        assert_int_equal(pxf_spawn_start(argv, &o, &pid, &fd, &err), 0);
        close(out[1]);
        read_all(out[0], buf, sizeof buf);
        assert_int_equal(wait_exit(pid), 0);
        assert_string_equal(buf, "0\n1\n2\n3\n"); /* 3: the directory ls reads */
        close(out[0]);
        close(fd);

        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        o.stdout_fd = out[1];
        assert_int_equal(pxf_spawn_start(argv0, &o, &pid, &fd, &err), 0);
        close(out[1]);
        read_all(out[0], buf, sizeof buf);
        assert_int_equal(wait_exit(pid), 0);
        assert_string_equal(buf, "/dev/null\n");
        close(out[0]);
        close(fd);
        close(leak);
}

static void environment_is_explicit(void **state)
{
        const char *argv[] = {"/usr/bin/env", NULL};
        const char *envp[] = {"PXF_ONLY=1", NULL};
        struct pxf_error err = {0};
        int out[2], fd;
        char buf[512];
        pid_t pid;

        (void)state;
        setenv("PXF_NOT_INHERITED", "1", 1);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        struct pxf_spawn_opts o = {.stdout_fd = out[1], .envp = envp};
        assert_int_equal(pxf_spawn_start(argv, &o, &pid, &fd, &err), 0);
        close(out[1]);
        read_all(out[0], buf, sizeof buf);
        assert_int_equal(wait_exit(pid), 0);
        assert_string_equal(buf, "PXF_ONLY=1\n");
        close(out[0]);
        close(fd);
}

static void missing_program_is_an_error(void **state)
{
        const char *argv[] = {"/nonexistent/pxf-program", NULL};
        struct pxf_error err = {0};
        pid_t pid = 0;
        int fd = -1;

        (void)state;
        assert_int_equal(pxf_spawn_start(argv, NULL, &pid, &fd, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "cannot run /nonexistent/pxf-program"));
        assert_int_equal(fd, -1);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(stderr_comes_through_a_nonblocking_cloexec_pipe),
            cmocka_unit_test(child_fds_are_clean),
            cmocka_unit_test(environment_is_explicit),
            cmocka_unit_test(missing_program_is_an_error),
        };

        return pxf_test_main(tests, argc, argv);
}
