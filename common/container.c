/* Guest programs on an exported tree, in a throwaway container: new mount, pid, ipc and uts
 * namespaces (and a network namespace with nothing in it unless the program needs the
 * network), the tree as the root through pivot_root, a private /proc, a minimal /dev, a
 * read-only /sys, an empty /run, and a bounding set without the capabilities that reach
 * past the tree (mounts, modules, raw I/O, device nodes, the clock, ...).
 *
 *   caller ── fork ──> keeper (our pid namespace; PDEATHSIG from the caller)
 *                        └── fork ──> init, pid 1 (sets the container up; PDEATHSIG)
 *                                       └── fork ──> the program
 *
 * The keeper is the pid the caller waits for: it exits as init does, and init exits as the
 * program does. When the caller dies, or the keeper is killed, init is killed, and with it
 * every process left in the namespace; the mounts go with the last of them. Nothing here
 * touches the host's mounts: the container's are made in its own namespace.
 *
 * Without a root (pxf_spawn_opts.die_with_parent) only the pid namespace is made: the
 * program shares everything else with the caller, and the keeper and init pass SIGTERM,
 * SIGINT and SIGHUP on to it, so it can stop cleanly; a daemon that drops privileges
 * still goes when the caller dies, with init.
 *
 * All of this runs after fork() in a program that may have threads, so the children make
 * system calls only: every path and text they need is prepared before the fork. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "common/container-internal.h"

#define HOSTNAME     "pxeforge-build"
#define RESOLV_SIZE  4096
#define RESOLV_STAGE "/run/pxeforge-resolv.conf"

static const struct {
        const char *path;
        unsigned major, minor;
} dev_nodes[] = {
    {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

static const struct {
        const char *path, *target;
} dev_links[] = {
    {"/dev/fd", "/proc/self/fd"},       {"/dev/stdin", "/proc/self/fd/0"},
    {"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"},
    {"/dev/ptmx", "pts/ptmx"},
};

/* What package managers, maintainer scripts and dracut need; the rest is dropped. */
static const int kept_caps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,  CAP_FSETID,
    CAP_KILL,    CAP_SETGID,       CAP_SETUID,          CAP_SETPCAP, CAP_NET_BIND_SERVICE,
    CAP_NET_RAW, CAP_SYS_CHROOT,   CAP_AUDIT_WRITE,     CAP_SETFCAP,
};

/* Everything the children use, prepared before the fork. */
struct plan {
        const char *root;
        bool network;
        char resolv[RESOLV_SIZE];
        size_t resolv_len;
        const char *const *argv;
        const char *const *envp;
        int stdin_fd, stdout_fd, err_fd;
};

/* "pxeforge container: STEP: errno N\n" on fd 2, with write() only. */
static void say_failed(const char *step, int e)
{
        char num[16];
        size_t n = sizeof num;

        num[--n] = '\n';
        do {
                num[--n] = (char)('0' + e % 10);
                e /= 10;
        } while (e > 0 && n > 0);
        (void)!write(2, "pxeforge container: ", 20);
        (void)!write(2, step, strlen(step));
        (void)!write(2, ": errno ", 8);
        (void)!write(2, num + n, sizeof num - n);
}

static int failed(const char *step)
{
        say_failed(step, errno);
        return -1;
}

/* Dies with the parent; false when the parent is already gone. parent is as getppid()
 * sees it: 0 for pid 1 of a namespace, whose parent is outside. */
static bool die_with_parent(pid_t parent)
{
        return prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid() == parent;
}

static int enter_root(const char *root)
{
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return failed("making the mounts private");
        /* Device nodes in the tree (it holds the guest's /dev) open nothing. */
        if (mount(root, root, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_NODEV, NULL) < 0)
                return failed("binding the tree");
        if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
            umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
                return failed("pivot_root into the tree");
        return 0;
}

/* Mount points are looked up inside the new root from here on, so a guest symlink
 * resolves within the tree. */
static int make_dev(void)
{
        if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m") < 0)
                return failed("mounting /dev");
        for (size_t i = 0; i < PXF_ELEMENTSOF(dev_nodes); i++)
                if (mknod(dev_nodes[i].path, S_IFCHR | 0666,
                          makedev(dev_nodes[i].major, dev_nodes[i].minor)) < 0)
                        return failed(dev_nodes[i].path);
        for (size_t i = 0; i < PXF_ELEMENTSOF(dev_links); i++)
                if (symlink(dev_links[i].target, dev_links[i].path) < 0)
                        return failed(dev_links[i].path);
        if (mkdir("/dev/pts", 0755) < 0 || mkdir("/dev/shm", 01777) < 0 ||
            mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620") < 0 ||
            mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
                return failed("mounting /dev/pts and /dev/shm");
        return 0;
}

static int mount_dev(void)
{
        /* The nodes are for every user (apt's downloads run as _apt): no umask. */
        mode_t old_umask = umask(0);
        int r = make_dev();

        (void)umask(old_umask);
        return r;
}

/* Returns whether /run is the container's own tmpfs, or -1. */
static int mount_api_filesystems(void)
{
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return failed("mounting /proc");
        if (mount_dev() < 0)
                return -1;
        /* Read-only, and only where the tree has the mount points. */
        (void)mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        return mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0;
}

/* A guest whose /etc/resolv.conf links into /run (systemd-resolved's stub): the file is
 * written where the link leads, on the container's own /run, and vanishes with it. */
static void resolv_conf_on_run(const struct plan *p)
{
        char full[512] = "/etc/", target[256];
        ssize_t n = readlink("/etc/resolv.conf", target, sizeof target - 1);
        size_t start;
        int fd;

        if (n <= 0)
                return;
        target[n] = '\0';
        if (strncmp(target, "/run/", 5) != 0 && strncmp(target, "../run/", 7) != 0)
                return;
        start = target[0] == '/' ? 0 : 5;
        memcpy(full + start, target, (size_t)n + 1);
        for (char *slash = strchr(full + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                (void)mkdir(full, 0755);
                *slash = '/';
        }
        fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        (void)!write(fd, p->resolv, p->resolv_len);
        (void)close(fd);
}

/* The host's name servers for a program that needs the network, without changing the
 * tree for good: laid over the guest's /etc/resolv.conf, or, when it has none, over an
 * empty one made for the run (true: remove it afterwards, unresolv_conf), or where a
 * symlink there leads into the empty /run. */
static bool offer_resolv_conf(const struct plan *p, bool own_run)
{
        struct stat st;
        bool made = false;
        int fd;

        if (!p->network || !own_run || p->resolv_len == 0)
                return false;
        if (lstat("/etc/resolv.conf", &st) < 0 && errno == ENOENT) {
                fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          0644);
                if (fd < 0)
                        return false;
                (void)close(fd);
                made = true;
        } else if (S_ISLNK(st.st_mode) && stat("/etc/resolv.conf", &st) < 0) {
                resolv_conf_on_run(p);
                return false;
        } else if (stat("/etc/resolv.conf", &st) < 0 || !S_ISREG(st.st_mode)) {
                return false;
        }
        fd = open(RESOLV_STAGE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
                (void)!write(fd, p->resolv, p->resolv_len);
                (void)close(fd);
                (void)mount(RESOLV_STAGE, "/etc/resolv.conf", NULL, MS_BIND, NULL);
        }
        return made;
}

static void unresolv_conf(void)
{
        (void)umount2("/etc/resolv.conf", MNT_DETACH);
        (void)unlink("/etc/resolv.conf");
}

static int confine(void)
{
        struct rlimit no_core = {0, 0};
        bool keep[CAP_LAST_CAP + 1] = {false};

        for (size_t i = 0; i < PXF_ELEMENTSOF(kept_caps); i++)
                keep[kept_caps[i]] = true;
        for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
                if (!keep[cap] && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return failed("dropping capabilities");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || setrlimit(RLIMIT_CORE, &no_core) < 0)
                return failed("confining");
        return 0;
}

/* Returns -1, or whether the run made /etc/resolv.conf (offer_resolv_conf). */
static int set_up(const struct plan *p)
{
        int own_run = enter_root(p->root) < 0 ? -1 : mount_api_filesystems();
        bool made_resolv_conf;

        if (own_run < 0)
                return -1;
        made_resolv_conf = offer_resolv_conf(p, own_run);
        if (sethostname(HOSTNAME, strlen(HOSTNAME)) < 0)
                return failed("setting the host name");
        return confine() < 0 ? -1 : made_resolv_conf;
}

/* fork(), or the end of this process when it fails. */
static pid_t fork_or_exit(void)
{
        pid_t pid = fork();

        if (pid < 0) {
                (void)failed("fork");
                _exit(127);
        }
        return pid;
}

/* Exits as a child that ended with status did. */
static _Noreturn void exit_as(int status)
{
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static void exec_program(const struct plan *p)
{
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        sigset_t none;

        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL); /* forward_until_exit blocked some */

        (void)dup2(p->stdin_fd > 0 ? p->stdin_fd : null, 0);
        /* fd 2 is already the output pipe (or our stderr, for PXF_SPAWN_INHERIT). */
        (void)dup2(p->stdout_fd >= 0 ? p->stdout_fd : 2, 1);
        (void)syscall(SYS_close_range, 3U, ~0U, 0U);
        execvpe(p->argv[0], (char *const *)p->argv, (char *const *)p->envp);
        (void)failed(p->argv[0]);
        _exit(127);
}

/* The signals a bare namespace's keeper and init pass on, and the exit of their child. */
static void forwarded_signals(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
        sigaddset(set, SIGCHLD);
}

/* Passes the forwarded signals (blocked by the caller before child was forked) on to
 * child, reaps whatever else ends up here, and exits as child did. */
static _Noreturn void forward_until_exit(pid_t child)
{
        sigset_t set;
        int sig, status;
        pid_t pid;

        forwarded_signals(&set);
        for (;;) {
                sig = sigwaitinfo(&set, NULL);
                if (sig > 0 && sig != SIGCHLD)
                        (void)kill(child, sig);
                while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                        if (pid == child)
                                exit_as(status);
                if (pid < 0 && errno == ECHILD)
                        _exit(127);
        }
}

/* Pid 1: sets the container up, runs the program, reaps whatever else ends up here, and
 * exits as the program did. */
static _Noreturn void run_init(const struct plan *p)
{
        int status = 0, made_resolv_conf = 0;
        pid_t program, pid;

        if (!die_with_parent(0) || (p->root && (made_resolv_conf = set_up(p)) < 0))
                _exit(127);
        program = fork_or_exit();
        if (program == 0)
                exec_program(p);
        if (!p->root)
                forward_until_exit(program);
        while ((pid = wait(&status)) != program)
                if (pid < 0 && errno != EINTR)
                        _exit(127);
        if (made_resolv_conf)
                unresolv_conf();
        exit_as(status);
}

static _Noreturn void run_keeper(const struct plan *p, pid_t caller)
{
        int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
        int status = 0;
        pid_t init;
        sigset_t forwarded;

        if (!p->root)
                flags = CLONE_NEWPID;
        else if (!p->network)
                flags |= CLONE_NEWNET;
        (void)dup2(p->err_fd, 2);
        if (!die_with_parent(caller))
                _exit(127);
        if (unshare(flags) < 0) {
                /* A service manager's sandbox (RestrictNamespaces) forbids it; its cgroup
                 * then stops what we leave behind, so the program runs without. */
                if (!p->root && errno == EPERM) {
                        say_failed("no pid namespace for it (a service manager's sandbox?), "
                                   "so it may outlive a kill -9 of its parent",
                                   errno);
                        exec_program(p);
                }
                (void)failed("creating the namespaces");
                _exit(127);
        }
        forwarded_signals(&forwarded);
        if (!p->root) /* until forward_until_exit waits for them; init inherits the mask */
                (void)sigprocmask(SIG_BLOCK, &forwarded, NULL);
        init = fork_or_exit();
        if (init == 0)
                run_init(p);
        if (!p->root)
                forward_until_exit(init);
        while (waitpid(init, &status, 0) < 0)
                if (errno != EINTR)
                        _exit(127);
        exit_as(status);
}

static void read_resolv_conf(struct plan *p)
{
        int fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return;
        n = read(fd, p->resolv, sizeof p->resolv);
        p->resolv_len = n > 0 ? (size_t)n : 0;
        (void)close(fd);
}

int pxf_container_start(const char *const *argv, const struct pxf_spawn_opts *o, int err_fd,
                        const char *const *default_envp, pid_t *ret_pid)
{
        struct plan *p = pxf_calloc(1, sizeof *p);
        pid_t caller = getpid(), pid;
        sigset_t none;

        *p = (struct plan){.root = o->container_root,
                           .network = o->container_network,
                           .argv = argv,
                           .envp = o->envp ? o->envp : default_envp,
                           .stdin_fd = o->stdin_fd,
                           .stdout_fd = o->stdout_fd,
                           .err_fd = err_fd};
        if (p->network)
                read_resolv_conf(p);
        sigemptyset(&none);
        pid = fork();
        if (pid == 0) {
                for (int sig = 1; sig < NSIG; sig++)
                        (void)signal(sig, SIG_DFL);
                (void)sigprocmask(SIG_SETMASK, &none, NULL);
                run_keeper(p, caller);
        }
        free(p);
        if (pid < 0)
                return -errno;
        *ret_pid = pid;
        return 0;
}
