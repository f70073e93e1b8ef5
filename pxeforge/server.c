/* pxeforge-server: the network-facing part of the appliance, as its own small program.
 *
 * `pxeforge serve` (root) binds the TFTP and HTTP ports, then starts this program with the
 * two sockets as inherited descriptors. It drops to an unprivileged user before it reads a
 * single packet, and serves the artifacts folder read-only with the embedded tftpd and
 * httpd until SIGTERM. Being a separate executable keeps libguestfs and the builder out of
 * the address space that parses network input, and lets the root parent restart it if it
 * ever dies.
 *
 *   pxeforge-server --root DIR [--tftp-fd N] [--http-fd N] [--dhcp-log-fd N] [--user USER]
 *                   [--name NAME] [--no-status] [--history-dir-fd N] [--log-level L]
 *                   [--root-build NAME] [--build NAME=DIR ...] [--groups-fd N]
 *                   [--tftp-max-transfers N ...: the limits of TFTPD_LIMITS and HTTPD_LIMITS]
 */
#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "httpd/httpd.h"
#include "status/dhcp-log.h"
#include "pxeforge/status-api.h"
#include "status/report.h"
#include "status/timeline.h"
#include "pxeforge/routing.h"
#include "tftpd/tftpd.h"

#define BUILDS_MAX 16 /* builds served side by side */

struct server_args {
        const char *root;
        const char *user;
        const char *name; /* what is served, for the status page */
        int tftp_fd, http_fd;
        int dhcp_log_fd;    /* dnsmasq's lines, from the appliance; -1: none */
        int history_dir_fd; /* where the timeline is kept across restarts; -1: nowhere */
        bool no_status;     /* no timeline, no API: files only */
        /* The builds machine groups choose from: the root first (named root_build), then
         * each --build; the paths become the confined view's. */
        struct router_build builds[BUILDS_MAX];
        char *build_paths[BUILDS_MAX]; /* owned: the confined view's paths */
        size_t n_builds;
        int groups_fd; /* the machine groups, from the appliance; -1: none */
        pid_t parent;  /* who must outlive us; 0: whoever started us */
        struct tftpd_limits tftp;
        struct httpd_limits http;
};

/* The limit options; getopt returns LIMIT_OPTION + their index. */
#define LIMIT_OPTION 1000
struct limit_option {
        const char *flag;
        unsigned least, most;
        size_t offset; /* in struct server_args */
};
#define TFTP_LIMIT(field, key, flag, least, most, ...)                                             \
        {flag, least, most, offsetof(struct server_args, tftp.field)},
#define HTTP_LIMIT(field, key, flag, least, most, ...)                                             \
        {flag, least, most, offsetof(struct server_args, http.field)},
static const struct limit_option limit_options[] = {TFTPD_LIMITS(TFTP_LIMIT)
                                                        HTTPD_LIMITS(HTTP_LIMIT)};

static const char usage[] =
    "Usage: pxeforge-server --root DIR [--tftp-fd N] [--http-fd N] [--dhcp-log-fd N]\n"
    "                       [--user USER] [--name NAME] [--no-status]\n"
    "                       [--history-dir-fd N] [--root-build NAME]\n"
    "                       [--build NAME=DIR ...] [--groups-fd N]\n"
    "                       [--parent PID] [--log-level LEVEL] [LIMITS]\n"
    "\n"
    "Serves DIR read-only over TFTP and HTTP on already bound sockets (inherited file\n"
    "descriptors), as USER, and stops when its parent PID does; NAME is what the status\n"
    "page says is served; --no-status: no timeline, page or API; the timeline is kept\n"
    "in the folder open as N. With --build or --groups-fd, each machine sees the build\n"
    "its group names (the root is build NAME, by default \"default\"), the groups read\n"
    "as status/groups.h says from N. LIMITS are the\n"
    "--tftp-* and --http-* options of `pxeforge serve`. Started by `pxeforge serve`; not\n"
    "meant to be run by hand.\n";

/* A decimal number in [min, max]. */
static int parse_number(const char *s, long min, long max, long *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_fd(const char *s, int *ret)
{
        long v;
        int r = parse_number(s, 3, 1024, &v);

        if (r == 0)
                *ret = (int)v;
        return r;
}

static int parse_pid(const char *s, pid_t *ret)
{
        long v;
        int r = parse_number(s, 2, INT32_MAX, &v);

        if (r == 0)
                *ret = (pid_t)v;
        return r;
}

static int parse_limit(const struct limit_option *l, const char *s, struct server_args *a)
{
        long v;
        int r = parse_number(s, l->least, l->most, &v);

        if (r == 0)
                *(unsigned *)((char *)a + l->offset) = (unsigned)v;
        return r;
}

/* --build NAME=DIR: one more build, beside the root. */
static int parse_build(const char *s, struct server_args *a)
{
        const char *eq = strchr(s, '=');
        char name[GRP_NAME_MAX + 1];

        if (!eq || eq - s > GRP_NAME_MAX || eq[1] != '/' || a->n_builds == BUILDS_MAX)
                return -EINVAL;
        memcpy(name, s, (size_t)(eq - s));
        name[eq - s] = '\0';
        if (!grp_name_valid(name))
                return -EINVAL;
        a->builds[a->n_builds++] = (struct router_build){.name = pxf_strdup(name), .root = eq + 1};
        return 0;
}

static int parse_option(int c, struct server_args *a)
{
        enum pxf_log_level level;

        if (c >= LIMIT_OPTION && c < LIMIT_OPTION + (int)PXF_ELEMENTSOF(limit_options))
                return parse_limit(&limit_options[c - LIMIT_OPTION], optarg, a);

        switch (c) {
        case 'r':
                a->root = optarg;
                return 0;
        case 'u':
                a->user = optarg;
                return 0;
        case 'n':
                a->name = optarg;
                return 0;
        case 's':
                a->no_status = true;
                return 0;
        case 't':
                return parse_fd(optarg, &a->tftp_fd);
        case 'w':
                return parse_fd(optarg, &a->http_fd);
        case 'd':
                return parse_fd(optarg, &a->dhcp_log_fd);
        case 'H':
                return parse_fd(optarg, &a->history_dir_fd);
        case 'g':
                return parse_fd(optarg, &a->groups_fd);
        case 'B':
                return parse_build(optarg, a);
        case 'N':
                if (!grp_name_valid(optarg))
                        return -EINVAL;
                a->builds[0].name = pxf_strdup(optarg);
                return 0;
        case 'p':
                return parse_pid(optarg, &a->parent);
        case 'l':
                if (pxf_log_level_from_string(optarg, &level) < 0)
                        return -EINVAL;
                pxf_log_set_level(level);
                return 0;
        default:
                return -EINVAL;
        }
}

static int parse_args(int argc, char **argv, struct server_args *a)
{
        static const struct option fixed[] = {
            {"root", required_argument, NULL, 'r'},
            {"user", required_argument, NULL, 'u'},
            {"tftp-fd", required_argument, NULL, 't'},
            {"http-fd", required_argument, NULL, 'w'},
            {"log-level", required_argument, NULL, 'l'},
            {"parent", required_argument, NULL, 'p'},
            {"dhcp-log-fd", required_argument, NULL, 'd'},
            {"name", required_argument, NULL, 'n'},
            {"no-status", no_argument, NULL, 's'},
            {"history-dir-fd", required_argument, NULL, 'H'},
            {"groups-fd", required_argument, NULL, 'g'},
            {"build", required_argument, NULL, 'B'},
            {"root-build", required_argument, NULL, 'N'},
        };
        struct option opts[PXF_ELEMENTSOF(fixed) + PXF_ELEMENTSOF(limit_options) + 1] = {0};
        size_t n = 0;
        int c;

        for (size_t i = 0; i < PXF_ELEMENTSOF(fixed); i++)
                opts[n++] = fixed[i];
        for (size_t i = 0; i < PXF_ELEMENTSOF(limit_options); i++)
                opts[n++] = (struct option){limit_options[i].flag, required_argument, NULL,
                                            LIMIT_OPTION + (int)i};

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
                if (parse_option(c, a) < 0)
                        return -EINVAL;
        return a->root && optind == argc && (a->tftp_fd >= 0 || a->http_fd >= 0) ? 0 : -EINVAL;
}

/* Each TFTP transfer holds a socket and a file, each HTTP response a connection and a
 * file: the default soft limit of 1024 descriptors would cap a rack booting at once. */
static void raise_fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        log_warning("cannot raise the open file limit: %m");
        }
}

struct server_user {
        const char *name;
        uid_t uid;
        gid_t gid;
};

/* Looked up while /etc/passwd is still in view (confine() hides it). */
static int find_user(const char *name, struct server_user *ret, struct pxf_error *err)
{
        struct passwd *pw = getpwnam(name);

        if (!pw)
                return pxf_error_set(err, -ESRCH, "user '%s' does not exist (--user)", name);
        *ret = (struct server_user){.name = name, .uid = pw->pw_uid, .gid = pw->pw_gid};
        return 0;
}

/* A service manager may already sandbox the whole service and forbid what this process
 * would do on its own (systemd's pxeforge-serve@ unit: no CAP_SYS_ADMIN or CAP_SETPCAP,
 * no mount namespaces). That is said, and serving goes on inside its sandbox. */
static int permitted_or_warn(int r, struct pxf_error *err)
{
        if (r != -EPERM)
                return r;
        log_warning("%s; going on inside the service manager's sandbox", err->msg);
        *err = (struct pxf_error){0};
        return 0;
}

/* Empties the capability bounding set, so that nothing (a set-uid program, a file
 * capability) can give a capability back. Needs CAP_SETPCAP: before the uid changes. */
static int drop_bounding_set(struct pxf_error *err)
{
        for (int cap = 0;; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                        if (errno == EINVAL && cap > 0)
                                return 0; /* past the last capability the kernel knows */
                        return pxf_error_set(err, -errno, "cannot drop capability %d: %m", cap);
                }
}

/* Root gives way to the user for good: no capability left to regain, supplementary
 * groups, group, user, and no way back through set-uid programs. */
static int drop_privileges(const struct server_user *u, struct pxf_error *err)
{
        int r = permitted_or_warn(drop_bounding_set(err), err);

        if (r < 0)
                return r;
        if (setgroups(0, NULL) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
                return pxf_error_set(err, -errno, "cannot become user '%s': %m", u->name);
        if (u->uid != 0 && setuid(0) == 0)
                return pxf_error_set(err, -EPERM, "could still regain root after dropping it");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return pxf_error_set(err, -errno, "cannot set no_new_privs: %m");
        log_info("serving as user %s (uid %u)", u->name, (unsigned)u->uid);
        return 0;
}

/* The folder that must stay in view for root: root itself, or, when it is a symlink that
 * `up` swaps, the folder holding it (*visible, owned) and the symlink's name (*base,
 * into *visible's allocation, or NULL). */
static int visible_folder(const char *root, char **visible, const char **base,
                          struct pxf_error *err)
{
        struct stat st;
        char *slash;

        *base = NULL;
        *visible = pxf_strdup(root);
        if (lstat(root, &st) < 0)
                return pxf_error_set(err, -errno, "cannot reach the artifacts folder '%s': %m",
                                     root);
        if (!S_ISLNK(st.st_mode))
                return 0;
        slash = strrchr(*visible, '/');
        if (!slash || slash == *visible || !slash[1])
                return pxf_error_set(
                    err, -EINVAL, "'%s': a symlink root must be a path such as /dir/current", root);
        *slash = '\0';
        *base = slash + 1;
        return 0;
}

#define VIEW_FLAGS (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* Makes the served folder the whole file system this process sees, read-only: a mount
 * namespace of its own in which the folder (visible_folder) is bind-mounted read-only and
 * made the root. Code run through a parser bug then finds nothing of the host to read.
 * *served is the root path in the new view. */
static int confine(const char *root, char **served, struct pxf_error *err)
{
        _cleanup_free_ char *visible = NULL;
        const char *base;
        int r = visible_folder(root, &visible, &base, err);

        if (r < 0)
                return r;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(visible, visible, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, visible, NULL, VIEW_FLAGS, NULL) < 0 || chdir(visible) < 0 ||
            syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
                return pxf_error_set(err, -errno, "cannot confine the server to '%s': %m", visible);
        *served = base ? pxf_asprintf("/%s", base) : pxf_strdup("/");
        return 0;
}

/* One build's folder at /bI of the confined view (a small read-only tmpfs): bound from
 * its descriptor, as the tmpfs may lie over its path, and not recursively, or the tmpfs
 * itself, mounted below the first build's folder, would come along. */
static int bind_build(const char *top, size_t i, int fd, const char *base, char **served)
{
        _cleanup_free_ char *at = pxf_asprintf("%s/b%zu", top, i);
        char from[64];

        (void)snprintf(from, sizeof from, "/proc/self/fd/%d", fd);
        if (mkdir(at, 0755) < 0 || mount(from, at, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, at, NULL, VIEW_FLAGS, NULL) < 0)
                return -errno;
        *served = base ? pxf_asprintf("/b%zu/%s", i, base) : pxf_asprintf("/b%zu", i);
        return 0;
}

/* confine() for several builds: each build's folder in view at /bI, nothing else. */
static int confine_builds(struct server_args *a, char **served, struct pxf_error *err)
{
        _cleanup_free_ char *top = NULL;
        int fds[BUILDS_MAX], r = 0;
        size_t opened = 0;

        /* first the namespace: a bind mount's source must be a mount of the caller's */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return pxf_error_set(err, -errno, "cannot make the server's view: %m");
        for (; r >= 0 && opened < a->n_builds; opened++) {
                _cleanup_free_ char *visible = NULL;
                const char *base;
                r = visible_folder(a->builds[opened].root, &visible, &base, err);
                fds[opened] = r < 0 ? -1 : open(visible, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (r >= 0 && fds[opened] < 0)
                        r = pxf_error_set(err, -errno, "cannot open '%s': %m", visible);
                if (r >= 0)
                        a->build_paths[opened] = base ? pxf_strdup(base) : NULL;
                if (opened == 0)
                        top = TAKE_PTR(visible);
        }
        if (r >= 0 && mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                            "mode=0755,size=64k") < 0)
                r = pxf_error_set(err, -errno, "cannot make the server's view: %m");
        for (size_t i = 0; r >= 0 && i < a->n_builds; i++) {
                _cleanup_free_ char *base = TAKE_PTR(a->build_paths[i]);
                r = bind_build(top, i, fds[i], base, &a->build_paths[i]);
                if (r < 0)
                        r = pxf_error_set(err, r, "cannot put build '%s' in the server's view: %s",
                                          a->builds[i].name, strerror(-r));
        }
        for (size_t i = 0; i < opened; i++)
                if (fds[i] >= 0)
                        (void)close(fds[i]);
        if (r >= 0 &&
            (mount(NULL, top, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=0755,size=64k") < 0 ||
             chdir(top) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
             umount2(".", MNT_DETACH) < 0 || chdir("/") < 0))
                r = pxf_error_set(err, -errno, "cannot confine the server to its builds: %m");
        for (size_t i = 0; r >= 0 && i < a->n_builds; i++)
                a->builds[i].root = a->build_paths[i];
        if (r >= 0)
                *served = pxf_strdup(a->builds[0].root);
        return r;
}

/* Everything root may do here, in order: look up the user while /etc/passwd is in view,
 * confine (a->root becomes the path in the confined view, owned by *served), then drop to
 * the user. */
static int give_up_privileges(struct server_args *a, char **served, struct pxf_error *err)
{
        struct server_user user = {0};
        int r = a->user ? find_user(a->user, &user, err) : 0;

        if (r >= 0 && geteuid() == 0)
                r = permitted_or_warn(a->n_builds > 1 ? confine_builds(a, served, err)
                                                      : confine(a->root, served, err),
                                      err);
        if (r >= 0 && *served)
                a->root = a->builds[0].root = *served;
        if (r >= 0 && a->user)
                r = drop_privileges(&user, err);
        return r;
}

/* With the parent gone there is nobody to stop or restart us, and the ports must be free
 * for the next start. A change of credentials clears the parent-death signal, so it is
 * set after the privilege drop; a parent that died before that is caught by its pid. */
static int watch_parent(pid_t parent, struct pxf_error *err)
{
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                return pxf_error_set(err, -errno, "cannot set the parent-death signal: %m");
        if (getppid() != parent)
                return pxf_error_set(err, -ESRCH,
                                     "the process that started the server (pid %d) "
                                     "is gone",
                                     (int)parent);
        return 0;
}

/* The served folder must be readable by the user the server runs as: say so at start
 * rather than answer every request with "not found". path is where it is seen now;
 * shown, where the user put it. */
static int check_root(const char *path, const char *shown, struct pxf_error *err)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return pxf_error_set(err, -errno,
                                     "cannot reach the artifacts folder '%s' as uid %u: %m (it "
                                     "and every folder above it must be readable and "
                                     "searchable by that user: chmod o+rx)",
                                     shown, (unsigned)getuid());
        if (!S_ISDIR(st.st_mode))
                return pxf_error_set(err, -ENOTDIR, "'%s' is not a folder", shown);
        if (access(path, R_OK | X_OK) < 0)
                return pxf_error_set(err, -errno,
                                     "the artifacts folder '%s' is not readable by uid %u: %m "
                                     "(chmod o+rx)",
                                     shown, (unsigned)getuid());
        return 0;
}

/* The system calls of the event loop once it runs (traced with strace under TFTP and HTTP
 * traffic, refusals and shutdown) and of glibc's malloc. Everything else (exec, fork,
 * ptrace, kill, mount, a new socket family's tricks) is denied; what open can reach is
 * bounded by confine(). */
static const int allowed_syscalls[] = {
    /* the loop, sockets and files */
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(accept4),
    SCMP_SYS(recvfrom),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendto),
    SCMP_SYS(sendmsg),
    SCMP_SYS(socket),
    SCMP_SYS(bind),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(shutdown),
    SCMP_SYS(sendfile),
    SCMP_SYS(openat),
    SCMP_SYS(openat2),
    SCMP_SYS(close),
    SCMP_SYS(read),
    SCMP_SYS(readv),
    SCMP_SYS(write),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(lseek),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(ioctl),
    SCMP_SYS(fcntl),
    SCMP_SYS(access),
    SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2),
    SCMP_SYS(readlink), /* the status page names the build `current` points at */
    SCMP_SYS(readlinkat),
    /* the timeline's history, in the one folder handed over open */
    SCMP_SYS(renameat),
    SCMP_SYS(renameat2),
    SCMP_SYS(unlinkat),
    SCMP_SYS(fsync),
    SCMP_SYS(getrandom),
    SCMP_SYS(memfd_create), /* a menu made for one machine (routing.c) */
    /* time, memory, signals, the end */
    SCMP_SYS(clock_gettime),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(mprotect),
    SCMP_SYS(futex),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getppid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

/* A denied call: said on stderr (which the parent logs), then the end. Only
 * async-signal-safe calls here. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
        char msg[160];
        int n = snprintf(msg, sizeof msg,
                         "pxeforge: error: system call %d is not on the server's allow-list "
                         "(seccomp): stopping\n",
                         si->si_syscall);

        (void)sig, (void)ctx;
        if (n > 0)
                (void)!write(STDERR_FILENO, msg, (size_t)n);
        _exit(159);
}

/* Installs the allow-list above for the rest of the process's life (no_new_privs is
 * already set by the privilege drop, or set here). */
static int restrict_syscalls(struct pxf_error *err)
{
        struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
        int r = ctx ? 0 : -ENOMEM;

        if (r == 0 &&
            (sigaction(SIGSYS, &sa, NULL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0))
                r = -errno;
        for (size_t i = 0; r == 0 && i < PXF_ELEMENTSOF(allowed_syscalls); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0);
        if (r == 0)
                r = seccomp_load(ctx);
        if (ctx)
                seccomp_release(ctx);
        return r < 0 ? pxf_error_set(err, r, "cannot restrict the server's system calls: %s",
                                     strerror(-r))
                     : 0;
}

static void on_stop(evutil_socket_t sig, short what, void *base)
{
        (void)what;
        log_debug("server: signal %d, stopping", (int)sig);
        event_base_loopexit(base, NULL);
}

struct servers;

/* Lines from a pipe the appliance writes (dnsmasq's log, the machine groups), each whole
 * line handed to on_line; a line longer than PIPE_LINE_MAX is dropped. */
struct line_pipe {
        struct servers *s;
        struct event *ev;
        struct evbuffer *buf;
        void (*on_line)(struct servers *s, const char *line);
};

struct servers {
        struct event_base *base;
        struct tftpd *tftpd;
        struct httpd *httpd;
        struct timeline *timeline; /* what the servers saw of each machine's boot */
        struct dhcp_log *dhcp_log; /* what dnsmasq's lines say, into the timeline */
        struct reports *reports;   /* booted systems' reports, into the timeline */
        struct status_api api;     /* the page, API and metrics, over HTTP */
        int history_dir;           /* the timeline's folder in the state dir; -1: none */
        uint64_t saved_version;    /* tl_version when it was last saved */
        struct event *save_ev;
        struct line_pipe dhcp_lines;
        struct router *router; /* each machine's build; NULL: one build for all */
        struct line_pipe groups_lines;
        struct grp_set groups_in; /* the set being read */
        bool groups_begun;        /* its "begin" came: what comes before one is skipped */
        bool groups_bad;          /* a line of it did not parse: drop it at its end */
        struct event *sigterm, *sigint;
};

#define PIPE_LINE_MAX 4096

static void observe_transfer(void *ctx, const struct tl_transfer *t)
{
        tl_transfer(ctx, t, pxf_wall_usec());
}

/* Read what is there, hand on each whole line. At the writer's end (the appliance
 * stopping), stop watching. */
static void on_pipe_lines(evutil_socket_t fd, short what, void *ctx)
{
        struct line_pipe *p = ctx;
        char *line;
        size_t len;
        int n = evbuffer_read(p->buf, fd, 16384);

        (void)what;
        while ((line = evbuffer_readln(p->buf, &len, EVBUFFER_EOL_LF))) {
                p->on_line(p->s, line);
                free(line);
        }
        if (evbuffer_get_length(p->buf) > PIPE_LINE_MAX)
                (void)evbuffer_drain(p->buf, evbuffer_get_length(p->buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                (void)event_del(p->ev);
}

static int watch_lines(struct servers *s, struct line_pipe *p, int fd,
                       void (*on_line)(struct servers *s, const char *line))
{
        (void)evutil_make_socket_nonblocking(fd); /* a pipe's end, despite the name */
        *p = (struct line_pipe){.s = s, .on_line = on_line, .buf = evbuffer_new()};
        p->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_pipe_lines, p);
        return p->buf && p->ev && event_add(p->ev, NULL) == 0 ? 0 : -ENOMEM;
}

static void unwatch_lines(struct line_pipe *p)
{
        if (p->ev)
                event_free(p->ev);
        if (p->buf)
                evbuffer_free(p->buf);
}

static void on_dhcp_line(struct servers *s, const char *line)
{
        dhcp_log_line(s->dhcp_log, line, pxf_wall_usec());
}

/* The machine groups (status/groups.h), a whole set at a time. */
static void on_groups_line(struct servers *s, const char *line)
{
        bool end = strcmp(line, "end") == 0;

        if (strcmp(line, "begin") == 0) {
                s->groups_begun = true;
                s->groups_bad = false;
        }
        if (!s->groups_begun)
                return; /* the tail of a set a server before this one half read */
        if (!s->groups_bad && grp_parse_line(&s->groups_in, line) < 0) {
                log_error("routing: a machine group line does not parse: dropping the set");
                s->groups_bad = true;
        }
        if (!end)
                return;
        if (s->groups_bad)
                grp_clear(&s->groups_in);
        else
                (void)router_set_groups(s->router, &s->groups_in);
        s->groups_bad = s->groups_begun = false;
}

/* ---- the timeline's history ---------------------------------------------------------- */

#define HISTORY_FILE     "timeline"
#define HISTORY_NEW      "timeline.new"
#define HISTORY_MAX      (64 * 1024 * 1024)
#define HISTORY_SAVE_SEC 30

/* What the last run kept, if anything (its absence is no error: a first start). */
static void load_history(struct servers *s)
{
        int fd = openat(s->history_dir, HISTORY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        FILE *f;
        int n;

        if (fd < 0) {
                if (errno != ENOENT)
                        log_warning("cannot read the boot timeline's history: %m");
                return;
        }
        f = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= HISTORY_MAX
                ? fdopen(fd, "r")
                : NULL;
        if (!f) {
                log_warning("the boot timeline's history is not a file of at most 64 MiB: "
                            "starting afresh");
                (void)close(fd);
                return;
        }
        n = tl_load(s->timeline, f);
        (void)fclose(f);
        if (n < 0)
                log_warning("the boot timeline's history is not pxeforge's: starting afresh");
        else
                log_info("boot timeline: %d machine%s kept from the last run", n,
                         n == 1 ? "" : "s");
        s->saved_version = tl_version(s->timeline);
}

/* The whole table into a new file, renamed over the last: a crash leaves one or the
 * other, never half of one. */
static int save_history(struct servers *s)
{
        int fd = openat(s->history_dir, HISTORY_NEW,
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        bool ok;

        if (!f) {
                int r = -errno;
                if (fd >= 0)
                        (void)close(fd);
                return r;
        }
        tl_save(s->timeline, f);
        ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
        ok = fclose(f) == 0 && ok;
        if (!ok || renameat(s->history_dir, HISTORY_NEW, s->history_dir, HISTORY_FILE) < 0) {
                int r = -errno;
                (void)unlinkat(s->history_dir, HISTORY_NEW, 0);
                return r ? r : -EIO;
        }
        s->saved_version = tl_version(s->timeline);
        return 0;
}

static void save_if_changed(struct servers *s)
{
        int r;

        if (s->history_dir < 0 || tl_version(s->timeline) == s->saved_version)
                return;
        r = save_history(s);
        if (r < 0)
                pxf_log_errno(PXF_LOG_WARNING, r, "cannot save the boot timeline's history");
}

static void on_save(evutil_socket_t fd, short what, void *ctx)
{
        (void)fd, (void)what;
        save_if_changed(ctx);
}

static int keep_history(struct servers *s, int dir_fd, struct pxf_error *err)
{
        const struct timeval every = {.tv_sec = HISTORY_SAVE_SEC};

        s->history_dir = dir_fd;
        load_history(s);
        s->save_ev = event_new(s->base, -1, EV_PERSIST, on_save, s);
        if (!s->save_ev || event_add(s->save_ev, &every) < 0)
                return pxf_error_set(err, -ENOMEM, "cannot arm the history's timer");
        return 0;
}

/* ---- starting and stopping ------------------------------------------------------------ */

/* Each machine's build, when there is a choice: several builds, or groups. */
static int start_routing(struct servers *s, const struct server_args *a, struct pxf_error *err)
{
        if (a->n_builds < 2 && a->groups_fd < 0)
                return 0;
        s->router = router_new(s->timeline, a->builds, a->n_builds);
        s->api.router = s->router;
        tl_set_describe(s->timeline, router_describe, s->router);
        if (a->groups_fd >= 0 && watch_lines(s, &s->groups_lines, a->groups_fd, on_groups_line) < 0)
                return pxf_error_set(err, -ENOMEM, "cannot watch the machine groups");
        return 0;
}

/* The boot timeline, fed by the servers and dnsmasq's lines, and its API; none with
 * --no-status. */
static int start_status(struct servers *s, const struct server_args *a, struct pxf_error *err)
{
        if (a->no_status) {
                if (a->n_builds > 1 || a->groups_fd >= 0)
                        return pxf_error_set(err, -EINVAL,
                                             "machine groups need the boot timeline "
                                             "(--no-status)");
                return 0;
        }
        s->timeline = tl_new(0);
        s->reports = reports_new(s->timeline);
        s->api = (struct status_api){
            .timeline = s->timeline, .reports = s->reports, .root = a->root, .name = a->name};
        if (a->history_dir_fd >= 0) {
                int r = keep_history(s, a->history_dir_fd, err);
                if (r < 0)
                        return r;
        }
        if (a->dhcp_log_fd >= 0) {
                s->dhcp_log = dhcp_log_new(s->timeline);
                if (watch_lines(s, &s->dhcp_lines, a->dhcp_log_fd, on_dhcp_line) < 0)
                        return pxf_error_set(err, -ENOMEM, "cannot watch dnsmasq's lines");
        }
        return start_routing(s, a, err);
}

static int start_servers(struct servers *s, const struct server_args *a, struct pxf_error *err)
{
        const struct tl_observer observer = {s->timeline ? observe_transfer : NULL, s->timeline};
        const struct httpd_api api = {s->timeline ? status_api_answer : NULL,
                                      s->timeline ? status_api_receive : NULL, &s->api};
        const struct pxf_opener opener = {s->router ? router_open : NULL, s->router};
        int r = 0;

        if (a->tftp_fd >= 0) {
                struct tftpd_config tc = {.root = a->root,
                                          .listen_fd = a->tftp_fd,
                                          .observer = observer,
                                          .opener = opener};
                tftpd_config_limits(&tc, &a->tftp);
                r = tftpd_new(s->base, &tc, &s->tftpd, err);
                s->api.tftpd = s->tftpd;
        }
        if (r >= 0 && a->http_fd >= 0) {
                struct httpd_config hc = {.root = a->root,
                                          .listen_fd = a->http_fd,
                                          .observer = observer,
                                          .api = api,
                                          .opener = opener};
                httpd_config_limits(&hc, &a->http);
                r = httpd_new(s->base, &hc, &s->httpd, err);
                s->api.httpd = s->httpd;
        }
        return r;
}

static int start(struct servers *s, const struct server_args *a, struct pxf_error *err)
{
        int r;

        s->base = event_base_new();
        if (!s->base)
                return pxf_error_set(err, -ENOMEM, "cannot create the event loop");
        s->sigterm = evsignal_new(s->base, SIGTERM, on_stop, s->base);
        s->sigint = evsignal_new(s->base, SIGINT, on_stop, s->base);
        if (!s->sigterm || !s->sigint || evsignal_add(s->sigterm, NULL) < 0 ||
            evsignal_add(s->sigint, NULL) < 0)
                return pxf_error_set(err, -ENOMEM, "cannot watch for SIGTERM");
        r = start_status(s, a, err);
        return r < 0 ? r : start_servers(s, a, err);
}

static void stop_servers(struct servers *s)
{
        s->httpd = httpd_free(s->httpd);
        s->tftpd = tftpd_free(s->tftpd);
        unwatch_lines(&s->dhcp_lines);
        unwatch_lines(&s->groups_lines);
        grp_clear(&s->groups_in);
        s->router = router_free(s->router);
        if (s->save_ev)
                event_free(s->save_ev);
        if (s->timeline) /* with the transfers the servers cut as they stopped */
                save_if_changed(s);
        dhcp_log_free(s->dhcp_log);
        reports_free(s->reports);
        tl_free(s->timeline); /* after the servers: they report transfers cut at exit */
        if (s->sigterm)
                event_free(s->sigterm);
        if (s->sigint)
                event_free(s->sigint);
        if (s->base)
                event_base_free(s->base);
}

#ifdef __SANITIZE_ADDRESS__
/* LeakSanitizer reads /proc at exit, which a server confined to its folder cannot see: it
 * would fail every exit. The servers' leaks are checked by their own tests under ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
        return "detect_leaks=0";
}
#endif

int main(int argc, char **argv)
{
        struct server_args a = {.tftp_fd = -1,
                                .http_fd = -1,
                                .dhcp_log_fd = -1,
                                .history_dir_fd = -1,
                                .groups_fd = -1,
                                .n_builds = 1};
        struct servers s = {.history_dir = -1};
        struct pxf_error err = {0};
        int r;

        if (parse_args(argc, argv, &a) < 0) {
                fputs(usage, stderr);
                return 2;
        }
        if (!a.builds[0].name)
                a.builds[0].name = pxf_strdup("default");
        a.builds[0].root = a.root;
        /* A client that closes early must cost its connection, not the server (httpd.h). */
        (void)signal(SIGPIPE, SIG_IGN);
        pid_t parent = a.parent ? a.parent : getppid();
        const char *shown = a.root;
        _cleanup_free_ char *served = NULL;

        raise_fd_limit();
        r = give_up_privileges(&a, &served, &err);
        if (r >= 0)
                r = watch_parent(parent, &err);
        if (r >= 0)
                r = check_root(a.root, shown, &err);
        if (r >= 0)
                r = start(&s, &a, &err);
        if (r >= 0)
                r = permitted_or_warn(restrict_syscalls(&err), &err);
        if (r >= 0) /* the appliance waits for this line (SERVER_READY in appliance.c) */
                log_info("serving '%s' over%s%s", shown, s.tftpd ? " TFTP" : "",
                         s.httpd ? " HTTP" : "");
        if (r >= 0 && event_base_dispatch(s.base) < 0)
                r = pxf_error_set(&err, -EIO, "the event loop failed");
        stop_servers(&s);
        for (size_t i = 0; i < a.n_builds; i++) {
                free((char *)a.builds[i].name);
                free(a.build_paths[i]);
        }
        if (r < 0) {
                log_error("%s", err.msg);
                return 1;
        }
        return 0;
}
