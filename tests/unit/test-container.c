/* The container guest programs run in on an exported tree (common/container.c), seen from
 * inside by a shell in a tiny tree: its own pid numbers, host name and root; no network
 * unless asked; device nodes of the tree that open nothing; no CAP_SYS_ADMIN; the exit
 * status and output of the program; nothing left running once it is done. Needs root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

static int setup(void **state)
{
        char *dir = tt_make("container");

        tt_make_os_tree(dir);
        tt_write_text(dir, "marker", "in the tree\n", 0644);
        *state = dir;
        return 0;
}

static int teardown(void **state)
{
        tt_remove(*state);
        return 0;
}

/* Runs `sh -c script` in a container on dir; its stdout in *out (freed by the caller). */
static int run(const char *dir, const char *script, bool network, char **out, int *status,
               struct pxf_error *err)
{
        int fd = memfd_create("out", MFD_CLOEXEC);
        const char *argv[] = {"/bin/sh", "-c", script, NULL};
        struct pxf_spawn_opts o = {.stdout_fd = fd,
                                   .exit_status = status,
                                   .container_root = dir,
                                   .container_network = network};
        int r;

        assert_true(fd >= 0);
        r = pxf_spawn_run(argv, &o, err);
        *out = pxf_calloc(4096, 1);
        assert_true(pread(fd, *out, 4095, 0) >= 0);
        (void)close(fd);
        return r;
}

static char *run_ok(const char *dir, const char *script, bool network)
{
        struct pxf_error err = {0};
        char *out = NULL;
        int status = -1;

        if (run(dir, script, network, &out, &status, &err) < 0)
                fail_msg("the script failed: %s", err.msg);
        return out;
}

static void own_pids_host_name_and_root(void **state)
{
        _cleanup_free_ char *out =
            run_ok(*state,
                   "read h < /proc/sys/kernel/hostname; read m < /marker; "
                   "n=0; for d in /proc/[0-9]*; do n=$((n+1)); done; echo \"$$ $h $m $n\"",
                   false);

        /* pid 1 is the container's init, the program is 2, and nothing else is there */
        assert_string_equal(out, "2 pxeforge-build in the tree 2\n");
}

static unsigned count_interfaces(const char *dir, bool network)
{
        _cleanup_free_ char *out = run_ok(
            dir, "n=0; while read l; do n=$((n+1)); done < /proc/net/dev; echo $((n-2))", network);

        return (unsigned)strtoul(out, NULL, 10);
}

static void network_only_when_asked(void **state)
{
        assert_int_equal(count_interfaces(*state, false), 1); /* lo */
        assert_true(count_interfaces(*state, true) > 1);      /* the host's */
}

/* The first line of the host's /etc/resolv.conf, newline included. */
static char *host_resolv_first_line(void)
{
        _cleanup_free_ char *text = NULL;
        char *nl;

        assert_int_equal(pxf_read_file("/etc/resolv.conf", 65536, &text, NULL), 0);
        nl = strchr(text, '\n');
        assert_non_null(nl);
        return pxf_asprintf("%.*s", (int)(nl - text + 1), text);
}

static void name_servers_for_the_run_only(void **state)
{
        _cleanup_free_ char *host = host_resolv_first_line(), *made = NULL, *laid = NULL,
                            *kept = NULL;

        made = run_ok(*state, "read l < /etc/resolv.conf; echo \"$l\"", true);
        assert_string_equal(made, host);
        assert_false(tt_exists(*state, "etc/resolv.conf")); /* made for the run, then gone */
        tt_write_text(*state, "etc/resolv.conf", "nameserver 192.0.2.1\n", 0644);
        laid = run_ok(*state, "read l < /etc/resolv.conf; echo \"$l\"", true);
        assert_string_equal(laid, host);
        kept = tt_read(*state, "etc/resolv.conf");
        assert_string_equal(kept, "nameserver 192.0.2.1\n"); /* the image's own, unchanged */
}

/* systemd-resolved's images link /etc/resolv.conf to a stub in /run. */
static void name_servers_where_the_link_leads(void **state)
{
        _cleanup_free_ char *host = host_resolv_first_line(), *out = NULL;

        tt_mkdir(*state, "run/systemd", 0755); /* what an image may hold under /run */
        tt_symlink(*state, "etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf");
        out = run_ok(*state, "read l < /etc/resolv.conf; echo \"$l\"", true);
        assert_string_equal(out, host);
        assert_false(tt_exists(*state, "run/systemd/resolve")); /* written on the run's /run */
}

static void device_nodes_of_the_tree_open_nothing(void **state)
{
        char node[PATH_MAX];
        _cleanup_free_ char *out = NULL;

        tt_path(node, sizeof node, *state, "tree-null");
        assert_int_equal(mknod(node, S_IFCHR | 0666, makedev(1, 3)), 0);
        out = run_ok(*state,
                     "{ echo x > /tree-null; } 2>/dev/null && echo opened || echo refused; "
                     "echo x > /dev/null && echo dev-null-works",
                     false);
        assert_string_equal(out, "refused\ndev-null-works\n");
}

static void no_capability_to_mount_or_load_modules(void **state)
{
        /* CapBnd bits: 0 CAP_CHOWN (kept), 16 CAP_SYS_MODULE and 21 CAP_SYS_ADMIN (not) */
        _cleanup_free_ char *out =
            run_ok(*state,
                   "while read k v; do [ \"$k\" = CapBnd: ] && "
                   "echo $(( 0x$v & 1 )) $(( 0x$v >> 16 & 1 )) $(( 0x$v >> 21 & 1 )); done "
                   "< /proc/self/status; true",
                   false);

        assert_string_equal(out, "1 0 0\n");
}

static void exit_status_and_stderr_come_back(void **state)
{
        struct pxf_error err = {0};
        _cleanup_free_ char *out = NULL;
        int status = -1;

        assert_int_equal(
            run(*state, "echo 'no such package' >&2; exit 7", false, &out, &status, &err), -ECHILD);
        assert_int_equal(status, 7);
        assert_non_null(strstr(err.msg, "exited with status 7"));
        assert_non_null(strstr(err.msg, "no such package"));
}

/* Without a descriptor of the caller's, stdout joins stderr, in order, in the failure. */
static void stdout_and_stderr_in_order_in_a_failure(void **state)
{
        const char *argv[] = {"/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3", NULL};
        struct pxf_spawn_opts o = {.stdout_fd = -1, .container_root = *state};
        struct pxf_error err = {0};

        assert_int_equal(pxf_spawn_run(argv, &o, &err), -ECHILD);
        assert_non_null(strstr(err.msg, "/bin/sh exited with status 3\n"));
        assert_non_null(strstr(err.msg, "\nout1\nerr1\nout2"));
}

/* Whether a process on the host has token in its command line. */
static bool process_with(const char *token)
{
        DIR *proc = opendir("/proc");
        struct dirent *e;
        bool found = false;

        assert_non_null(proc);
        while (!found && (e = readdir(proc))) {
                char path[300], cmdline[4097];
                ssize_t len;
                int fd;
                if (e->d_name[0] < '1' || e->d_name[0] > '9')
                        continue;
                (void)snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC); /* /proc says its size is 0 */
                len = fd < 0 ? -1 : read(fd, cmdline, sizeof cmdline - 1);
                if (fd >= 0)
                        (void)close(fd);
                if (len <= 0)
                        continue;
                cmdline[len] = '\0';
                for (ssize_t i = 0; i < len; i += (ssize_t)strlen(cmdline + i) + 1)
                        found = found || strstr(cmdline + i, token);
        }
        closedir(proc);
        return found;
}

/* The check sees a process that runs on (a control on the host). */
static void check_sees_a_running_process(void)
{
        pid_t control = fork();
        int status;

        if (control == 0) {
                execl("/bin/sh", "sh", "-c", ": pxf-control; sleep 30", (char *)NULL);
                _exit(127);
        }
        assert_true(control > 0);
        for (int i = 0; i < 100 && !process_with("pxf-control"); i++)
                usleep(20 * 1000);
        assert_true(process_with("pxf-control"));
        assert_int_equal(kill(control, SIGKILL), 0);
        assert_int_equal(waitpid(control, &status, 0), control);
}

static void nothing_is_left_running(void **state)
{
        check_sees_a_running_process();
        _cleanup_free_ char *out = run_ok(
            *state, "sh -c ': pxf-left-behind; while :; do :; done' & echo left a loop behind",
            false);

        assert_string_equal(out, "left a loop behind\n");
        assert_false(process_with("pxf-left-behind"));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(own_pids_host_name_and_root, setup, teardown),
            cmocka_unit_test_setup_teardown(network_only_when_asked, setup, teardown),
            cmocka_unit_test_setup_teardown(name_servers_for_the_run_only, setup, teardown),
            cmocka_unit_test_setup_teardown(name_servers_where_the_link_leads, setup, teardown),
            cmocka_unit_test_setup_teardown(device_nodes_of_the_tree_open_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(no_capability_to_mount_or_load_modules, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(exit_status_and_stderr_come_back, setup, teardown),
            cmocka_unit_test_setup_teardown(stdout_and_stderr_in_order_in_a_failure, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(nothing_is_left_running, setup, teardown),
        };

        return pxf_test_main(tests, argc, argv);
}
