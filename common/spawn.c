/* The one place pxeforge starts external programs: posix_spawn with an explicit argv and
 * environment, a clean signal state, and the program's output (stderr, and stdout unless
 * the caller takes it) read in the order it was written: every line goes to the debug log
 * (and so to the build's log file), and its tail into the error when the program fails. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/common.h"
#include "common/container-internal.h"

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL=C.UTF-8",
    "HOME=/root",
    NULL,
};

/* Keeps the last PXF_SPAWN_OUTPUT_TAIL bytes of a stream. */
struct tail {
        char buf[PXF_SPAWN_OUTPUT_TAIL];
        size_t len;
};

static void tail_append(struct tail *t, const char *data, size_t n)
{
        if (n >= sizeof t->buf) {
                memcpy(t->buf, data + n - sizeof t->buf, sizeof t->buf);
                t->len = sizeof t->buf;
                return;
        }
        if (t->len + n > sizeof t->buf) {
                size_t drop = t->len + n - sizeof t->buf;
                memmove(t->buf, t->buf + drop, t->len - drop);
                t->len -= drop;
        }
        memcpy(t->buf + t->len, data, n);
        t->len += n;
}

static void log_lines(const char *prog, const char *data, size_t n)
{
        const char *end = data + n;

        while (data < end) {
                const char *nl = memchr(data, '\n', (size_t)(end - data));
                size_t len = nl ? (size_t)(nl - data) : (size_t)(end - data);
                if (len > 0)
                        log_debug("%s: %.*s", prog, (int)len, data);
                data += len + 1;
        }
}

static int setup_actions(posix_spawn_file_actions_t *fa, const struct pxf_spawn_opts *o, int err_fd)
{
        int r = o->stdin_fd > 0 ? posix_spawn_file_actions_adddup2(fa, o->stdin_fd, 0)
                                : posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);

        if (r == 0 && o->stdout_fd == PXF_SPAWN_INHERIT)
                r = posix_spawn_file_actions_adddup2(fa, STDERR_FILENO, 1);
        else if (r == 0 && o->stdout_fd >= 0)
                r = posix_spawn_file_actions_adddup2(fa, o->stdout_fd, 1);
        else if (r == 0)
                r = posix_spawn_file_actions_adddup2(fa, err_fd, 1);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(fa, err_fd, 2);
        if (r == 0 && o->cwd)
                r = posix_spawn_file_actions_addchdir_np(fa, o->cwd);
        for (size_t i = 0; r == 0 && i < o->n_pass_fds; i++)
                r = o->pass_fds[i] <= 2 + (int)o->n_pass_fds
                        ? EINVAL
                        : posix_spawn_file_actions_adddup2(fa, o->pass_fds[i], 3 + (int)i);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(fa, 3 + (int)o->n_pass_fds);
        return -r;
}

static int setup_attrs(posix_spawnattr_t *attr)
{
        sigset_t all, none;
        int r;

        sigfillset(&all);
        sigemptyset(&none);
        r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawnattr_setsigmask(attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(attr, &all);
        return -r;
}

static int start(const char *const *argv, const struct pxf_spawn_opts *o, int err_fd,
                 pid_t *ret_pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r;

        if (o->container_root || o->die_with_parent)
                return o->n_pass_fds ? -EINVAL
                                     : pxf_container_start(argv, o, err_fd, default_env, ret_pid);
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        r = setup_actions(&fa, o, err_fd);
        if (r == 0)
                r = setup_attrs(&attr);
        if (r == 0)
                r = -posix_spawnp(ret_pid, argv[0], &fa, &attr, (char *const *)argv,
                                  (char *const *)(o->envp ? o->envp : default_env));
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        return r;
}

static int wait_child(pid_t pid, int *ret_status)
{
        while (waitpid(pid, ret_status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static void drain_output(int fd, const char *prog, struct tail *t)
{
        char buf[4096];

        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                tail_append(t, buf, (size_t)n);
                log_lines(prog, buf, (size_t)n);
        }
}

/* The command line as one would type it, shortened past a few hundred characters. */
static void format_command(const char *const *argv, char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; argv[i] && len < size; i++) {
                bool plain = argv[i][0] && !argv[i][strcspn(argv[i], " \t\n'\"\\$`*?;&|<>()")];
                int n = snprintf(buf + len, size - len, plain ? "%s%s" : "%s'%s'", i ? " " : "",
                                 argv[i]);
                len += n > 0 ? (size_t)n : 0;
        }
        if (len >= size && size > 4)
                memcpy(buf + size - 4, "...", 4);
}

/* The last lines of out, at most PXF_SPAWN_OUTPUT_LINES; cut: out starts mid-line. */
static const char *last_lines(const char *out, size_t len, bool cut, size_t *ret_len)
{
        size_t lines = 0, start;

        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
                len--;
        for (start = len; start > 0; start--)
                if (out[start - 1] == '\n' && ++lines == PXF_SPAWN_OUTPUT_LINES)
                        break;
        if (start == 0 && cut)
                while (start < len && out[start++] != '\n')
                        ;
        *ret_len = len - start;
        return out + start;
}

/* The program argv runs: past env(1) and its assignments, the one env starts. */
static const char *program_name(const char *const *argv)
{
        const char *base = strrchr(argv[0], '/');
        size_t i = 1;

        if (strcmp(base ? base + 1 : argv[0], "env") != 0)
                return argv[0];
        while (argv[i] && (argv[i][0] == '-' || strchr(argv[i], '=')))
                i++;
        return argv[i] ? argv[i] : argv[0];
}

int pxf_spawn_failure(const char *const *argv, const char *what, const char *out, size_t len,
                      bool cut, struct pxf_error *err)
{
        char cmd[512];
        const char *tail;

        if (len > PXF_SPAWN_OUTPUT_TAIL) {
                out += len - PXF_SPAWN_OUTPUT_TAIL;
                len = PXF_SPAWN_OUTPUT_TAIL;
                cut = true;
        }
        tail = last_lines(out, len, cut, &len);

        format_command(argv, cmd, sizeof cmd);
        if (len == 0)
                return pxf_error_set(err, -ECHILD, "%s %s (no output)\n  command: %s",
                                     program_name(argv), what, cmd);
        return pxf_error_set(err, -ECHILD,
                             "%s %s\n  command: %s\n  last lines of its output:\n%.*s",
                             program_name(argv), what, cmd, (int)len, tail);
}

static int describe_failure(const char *const *argv, int status, const struct tail *t,
                            struct pxf_error *err)
{
        char what[64];

        if (WIFEXITED(status))
                (void)snprintf(what, sizeof what, "exited with status %d", WEXITSTATUS(status));
        else
                (void)snprintf(what, sizeof what, "was killed by signal %d", WTERMSIG(status));
        return pxf_spawn_failure(argv, what, t->buf, t->len, t->len == sizeof t->buf, err);
}

int pxf_spawn_run(const char *const *argv, const struct pxf_spawn_opts *opts, struct pxf_error *err)
{
        static const struct pxf_spawn_opts defaults = {.stdout_fd = -1};
        const struct pxf_spawn_opts *o = opts ? opts : &defaults;
        _cleanup_close_ int rd = -1, wr = -1;
        struct tail tail = {.len = 0};
        int fds[2], status = 0, r;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return pxf_error_set(err, -errno, "cannot create a pipe: %m");
        rd = fds[0];
        wr = fds[1];
        log_debug("running: %s", argv[0]);
        r = start(argv, o, wr, &pid);
        if (r < 0)
                return pxf_error_set(err, r, "cannot run %s: %s", argv[0], strerror(-r));
        (void)close(TAKE_FD(wr));
        drain_output(rd, argv[0], &tail);
        r = wait_child(pid, &status);
        if (r < 0)
                return pxf_error_set(err, r, "waiting for %s: %s", argv[0], strerror(-r));
        if (o->exit_status && WIFEXITED(status))
                *o->exit_status = WEXITSTATUS(status);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        return describe_failure(argv, status, &tail, err);
}

int pxf_spawn_start(const char *const *argv, const struct pxf_spawn_opts *opts, pid_t *ret_pid,
                    int *ret_stderr_fd, struct pxf_error *err)
{
        static const struct pxf_spawn_opts defaults = {.stdout_fd = -1};
        const struct pxf_spawn_opts *o = opts ? opts : &defaults;
        _cleanup_close_ int rd = -1, wr = -1;
        int fds[2], r;

        /* Only the read end is nonblocking: the child's writes block as usual when we are
         * slow, which is what a program expects of its stderr. */
        if (pipe2(fds, O_CLOEXEC) < 0)
                return pxf_error_set(err, -errno, "cannot create a pipe: %m");
        rd = fds[0];
        wr = fds[1];
        if (fcntl(rd, F_SETFL, O_NONBLOCK) < 0)
                return pxf_error_set(err, -errno, "cannot make a pipe nonblocking: %m");
        log_debug("starting: %s", argv[0]);
        r = start(argv, o, wr, ret_pid);
        if (r < 0)
                return pxf_error_set(err, r, "cannot run %s: %s", argv[0], strerror(-r));
        *ret_stderr_fd = TAKE_FD(rd);
        return 0;
}

int pxf_spawn_tool(const char *const *argv, const char *package, const struct pxf_spawn_opts *opts,
                   struct pxf_error *err)
{
        int r = pxf_spawn_run(argv, opts, err);

        if (r == -ENOENT)
                return pxf_error_set(err, r, "%s is not installed (Debian package %s)", argv[0],
                                     package);
        return r;
}
