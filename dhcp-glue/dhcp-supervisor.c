/* The dnsmasq supervisor: pre-flight checks, start, log forwarding, restart, stop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "dhcp-glue/dhcp-glue.h"

#define LOG_PER_SECOND   50 /* dnsmasq lines at info; the rest go to debug, counted */
#define STABLE_USEC      (60ull * 1000000) /* a run this long resets the backoff */
#define ESCAPED_LINE_MAX (DHCP_LOG_LINE_MAX * 4 + 4)

struct dhcp_supervisor {
        struct event_base *base;
        char *dnsmasq, *config_path, *interface, *user;
        unsigned backoff_ms, backoff_max_ms, grace_ms, settle_ms, next_backoff_ms;

        pid_t pid;
        int pidfd, errfd;
        struct event *exit_ev, *err_ev, *restart_ev;
        uint64_t started_usec;
        bool saw_started;

        char line[DHCP_LOG_LINE_MAX];
        size_t line_len;
        bool line_cut;
        char last_line[ESCAPED_LINE_MAX];

        uint64_t window_usec;
        unsigned window_lines, held_back;
        unsigned restarts, log_lines;
};

/* ---- pre-flight checks ------------------------------------------------------------ */

static int find_dnsmasq(const char *given, char **ret, struct pxf_error *err)
{
        static const char *const dirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin"};

        if (given) {
                if (access(given, X_OK) < 0)
                        return pxf_error_set(err, -ENOENT,
                                             "dnsmasq is not installed (Debian package "
                                             "dnsmasq-base): %s: %m",
                                             given);
                *ret = pxf_strdup(given);
                return 0;
        }
        for (size_t i = 0; i < PXF_ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p = pxf_asprintf("%s/dnsmasq", dirs[i]);
                if (access(p, X_OK) == 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return pxf_error_set(err, -ENOENT,
                             "dnsmasq is not installed (Debian package dnsmasq-base): not found "
                             "in " DHCP_DNSMASQ_SEARCH_PATH);
}

/* The inode of a UDP socket bound to port 67 in this network namespace, or 0. */
static unsigned long port67_inode(void)
{
        FILE *f = fopen("/proc/net/udp", "re");
        char line[512];
        unsigned long inode = 0, ino;
        unsigned port;

        if (!f)
                return 0;
        while (!inode && fgets(line, sizeof line, f))
                if (sscanf(line, " %*d: %*x:%x %*x:%*x %*x %*x:%*x %*x:%*x %*x %*u %*u %lu", &port,
                           &ino) == 2 &&
                    port == 67)
                        inode = ino;
        (void)fclose(f);
        return inode;
}

static bool pid_has_socket(const char *pid, const char *want)
{
        _cleanup_free_ char *fddir = pxf_asprintf("/proc/%s/fd", pid);
        DIR *d = opendir(fddir);
        struct dirent *e;
        bool found = false;

        if (!d)
                return false;
        while (!found && (e = readdir(d))) {
                _cleanup_free_ char *p = pxf_asprintf("%s/%s", fddir, e->d_name);
                char target[64];
                ssize_t n = readlink(p, target, sizeof target - 1);
                if (n > 0) {
                        target[n] = '\0';
                        found = strcmp(target, want) == 0;
                }
        }
        (void)closedir(d);
        return found;
}

/* Names the process holding port 67 ("pid 123 (dnsmasq)") into buf, or leaves it empty.
 * Only on the failure path, so a walk of /proc is cheap enough. */
static void port67_holder(char *buf, size_t size)
{
        unsigned long inode = port67_inode();
        _cleanup_free_ char *want = pxf_asprintf("socket:[%lu]", inode);
        DIR *d;
        struct dirent *e;

        buf[0] = '\0';
        if (!inode || !(d = opendir("/proc")))
                return;
        while (!buf[0] && (e = readdir(d))) {
                char comm[64] = "?";
                if (e->d_name[0] < '1' || e->d_name[0] > '9' || !pid_has_socket(e->d_name, want))
                        continue;
                _cleanup_free_ char *cp = pxf_asprintf("/proc/%s/comm", e->d_name);
                FILE *f = fopen(cp, "re");
                if (f && fgets(comm, sizeof comm, f))
                        comm[strcspn(comm, "\n")] = '\0';
                if (f)
                        (void)fclose(f);
                for (char *c = comm; *c; c++)
                        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                                *c = '?'; /* a process names itself */
                (void)snprintf(buf, size, "pid %.20s (%.16s)", e->d_name, comm);
        }
        (void)closedir(d);
}

static int port67_busy(const char *ifname, struct pxf_error *err)
{
        char holder[128];

        port67_holder(holder, sizeof holder);
        return pxf_error_set(err, -EADDRINUSE,
                             "UDP port 67 is busy on %s: another DHCP server runs on this "
                             "host%s%s (see `ss -ulpn sport = :67`); stop it before starting "
                             "pxeforge's DHCP",
                             ifname, holder[0] ? ": " : "", holder);
}

/* Binds 0.0.0.0:67 on the interface, without SO_REUSEADDR/PORT, as a probe: it fails where
 * a socket would receive the same DHCP packets dnsmasq needs. */
static int check_port67(const char *ifname, struct pxf_error *err)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(67)};
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot create a UDP socket: %m");
        if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0)
                return pxf_error_set(err, -errno, "cannot bind a socket to interface %s: %m",
                                     ifname);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
                return 0;
        if (errno == EADDRINUSE)
                return port67_busy(ifname, err);
        if (errno == EACCES)
                return pxf_error_set(err, -EACCES,
                                     "binding UDP port 67 needs root (or CAP_NET_BIND_SERVICE)");
        return pxf_error_set(err, -errno, "cannot bind UDP port 67 on %s: %m", ifname);
}

static int check_interface(const char *ifname, struct pxf_error *err)
{
        if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE)
                return pxf_error_set(err, -EINVAL, "no valid interface name given");
        if (if_nametoindex(ifname) == 0)
                return pxf_error_set(err, -ENODEV, "interface %s does not exist: %m", ifname);
        return 0;
}

/* ---- config file ------------------------------------------------------------------ */

static int write_config(const struct dhcp_supervisor_opts *o, char **ret_path,
                        struct pxf_error *err)
{
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        size_t len = strlen(o->config_text);
        int fd, r;

        r = pxf_mkdir_p(o->runtime_dir, 0700);
        if (r < 0)
                return pxf_error_set(err, r, "cannot create %s: %s", o->runtime_dir, strerror(-r));
        path = pxf_asprintf("%s/dnsmasq.conf", o->runtime_dir);
        tmp = pxf_asprintf("%s/.dnsmasq.conf.tmp", o->runtime_dir);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot create %s: %m", tmp);
        ssize_t n = write(fd, o->config_text, len);
        r = n == (ssize_t)len ? 0
            : n < 0           ? pxf_error_set(err, -errno, "cannot write %s: %m", tmp)
                              : pxf_error_set(err, -EIO, "cannot write %s: short write", tmp);
        r = pxf_finish_partial(fd, tmp, path, r, err);
        if (r == 0)
                *ret_path = TAKE_PTR(path);
        return r;
}

/* dnsmasq --test: a configuration it rejects is a bug to report, not a reason to retry. */
static int test_config(const struct dhcp_supervisor *s, struct pxf_error *err)
{
        _cleanup_free_ char *conf = pxf_asprintf("--conf-file=%s", s->config_path);
        const char *argv[] = {s->dnsmasq, "--test", conf, NULL};
        int r = pxf_spawn_run(argv, NULL, err);

        if (r < 0)
                pxf_error_prefix(err, "dnsmasq rejects the configuration %s", s->config_path);
        return r;
}

/* ---- dnsmasq's output -------------------------------------------------------------- */

static void escape_line(const char *in, size_t n, char *out, size_t size)
{
        size_t o = 0;

        for (size_t i = 0; i < n && o + 5 < size; i++) {
                unsigned char ch = (unsigned char)in[i];
                if (ch < 0x20 || ch >= 0x7f || ch == '\\')
                        o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
                else
                        out[o++] = (char)ch;
        }
        out[o] = '\0';
}

static void report_held_back(struct dhcp_supervisor *s)
{
        if (s->held_back)
                log_info("dnsmasq: %u more lines went to the debug log", s->held_back);
        s->held_back = 0;
}

/* At most LOG_PER_SECOND lines a second at info: a PXE storm must not flood the log. */
static bool rate_ok(struct dhcp_supervisor *s)
{
        uint64_t now = pxf_now_usec();

        if (now - s->window_usec >= 1000000) {
                report_held_back(s);
                s->window_usec = now;
                s->window_lines = 0;
        }
        if (s->window_lines < LOG_PER_SECOND) {
                s->window_lines++;
                return true;
        }
        s->held_back++;
        return false;
}

static void emit_line(struct dhcp_supervisor *s)
{
        if (s->line_len == 0 && !s->line_cut)
                return;
        escape_line(s->line, s->line_len, s->last_line, sizeof s->last_line);
        if (s->line_cut) {
                size_t len = strlen(s->last_line);
                (void)snprintf(s->last_line + len, sizeof s->last_line - len, "...");
        }
        if (strstr(s->last_line, "started, version"))
                s->saw_started = true;
        s->log_lines++;
        pxf_log(rate_ok(s) ? PXF_LOG_INFO : PXF_LOG_DEBUG, "dnsmasq: %s", s->last_line);
        s->line_len = 0;
        s->line_cut = false;
}

static void add_output(struct dhcp_supervisor *s, const char *data, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (data[i] == '\n')
                        emit_line(s);
                else if (s->line_len < sizeof s->line)
                        s->line[s->line_len++] = data[i];
                else
                        s->line_cut = true;
        }
}

/* Reads what is there; returns false at EOF or on an error. */
static bool read_output(struct dhcp_supervisor *s)
{
        char buf[4096];

        for (;;) {
                ssize_t n = read(s->errfd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0) {
                        emit_line(s); /* a last line without a newline */
                        return false;
                }
                add_output(s, buf, (size_t)n);
        }
}

static void on_output(evutil_socket_t fd, short what, void *userdata)
{
        struct dhcp_supervisor *s = userdata;

        (void)fd;
        (void)what;
        if (!read_output(s))
                (void)event_del(s->err_ev);
}

/* ---- the child ---------------------------------------------------------------------- */

static void describe_status(const siginfo_t *si, char *buf, size_t size)
{
        if (si->si_code == CLD_EXITED)
                (void)snprintf(buf, size, "exited with status %d", si->si_status);
        else
                (void)snprintf(buf, size, "was killed by signal %d (%s)", si->si_status,
                               strsignal(si->si_status));
}

static void close_child(struct dhcp_supervisor *s)
{
        if (s->exit_ev)
                event_free(s->exit_ev);
        if (s->err_ev)
                event_free(s->err_ev);
        s->exit_ev = s->err_ev = NULL;
        if (s->pidfd >= 0)
                (void)close(s->pidfd);
        if (s->errfd >= 0)
                (void)close(s->errfd);
        s->pidfd = s->errfd = -1;
        s->pid = 0;
}

/* Reaps the child (it has exited: its pidfd was readable), after reading its last words. */
static void reap(struct dhcp_supervisor *s, siginfo_t *ret)
{
        memset(ret, 0, sizeof *ret);
        while (read_output(s))
                if (poll(&(struct pollfd){.fd = s->errfd, .events = POLLIN}, 1, 100) <= 0)
                        break;
        report_held_back(s);
        while (waitid(P_PIDFD, (id_t)s->pidfd, ret, WEXITED) < 0 && errno == EINTR)
                ;
        close_child(s);
}

static void on_exit_event(evutil_socket_t fd, short what, void *userdata);

static int spawn_child(struct dhcp_supervisor *s, struct pxf_error *err)
{
        _cleanup_free_ char *conf = pxf_asprintf("--conf-file=%s", s->config_path);
        _cleanup_free_ char *user = s->user ? pxf_asprintf("--user=%s", s->user) : NULL;
        const char *argv[] = {
            s->dnsmasq, "--keep-in-foreground", "--log-facility=-", "--pid-file", conf, user, NULL};
        int r = pxf_spawn_start(argv, NULL, &s->pid, &s->errfd, err);

        if (r < 0)
                return r;
        s->started_usec = pxf_now_usec();
        s->saw_started = false;
        s->last_line[0] = '\0';
        s->pidfd = pidfd_open(s->pid, 0);
        if (s->pidfd < 0)
                r = pxf_error_set(err, -errno, "pidfd_open: %m");
        if (r == 0) {
                s->exit_ev = event_new(s->base, s->pidfd, EV_READ, on_exit_event, s);
                s->err_ev = event_new(s->base, s->errfd, EV_READ | EV_PERSIST, on_output, s);
        }
        if (r == 0 && (!s->exit_ev || !s->err_ev || event_add(s->exit_ev, NULL) < 0 ||
                       event_add(s->err_ev, NULL) < 0))
                r = pxf_error_set(err, -ENOMEM, "cannot watch dnsmasq on the event loop");
        if (r < 0) {
                /* A child we cannot watch is not left behind. */
                (void)kill(s->pid, SIGKILL);
                (void)waitpid(s->pid, NULL, 0);
                close_child(s);
                return r;
        }
        log_info("dhcp: dnsmasq started (pid %d)", (int)s->pid);
        return 0;
}

static void schedule_restart(struct dhcp_supervisor *s)
{
        struct timeval tv = {.tv_sec = s->next_backoff_ms / 1000,
                             .tv_usec = (s->next_backoff_ms % 1000) * 1000};

        (void)evtimer_add(s->restart_ev, &tv);
        s->next_backoff_ms =
            s->next_backoff_ms * 2 > s->backoff_max_ms ? s->backoff_max_ms : s->next_backoff_ms * 2;
}

static void on_exit_event(evutil_socket_t fd, short what, void *userdata)
{
        struct dhcp_supervisor *s = userdata;
        uint64_t ran = pxf_now_usec() - s->started_usec;
        char status[96], last[ESCAPED_LINE_MAX];
        siginfo_t si;

        (void)fd;
        (void)what;
        reap(s, &si);
        describe_status(&si, status, sizeof status);
        (void)snprintf(last, sizeof last, "%s", s->last_line);
        if (ran >= STABLE_USEC)
                s->next_backoff_ms = s->backoff_ms;
        log_error("dhcp: dnsmasq %s after %.1f s%s%s%s; restarting it in %.1f s", status,
                  (double)ran / 1e6, last[0] ? " (its last line: \"" : "", last,
                  last[0] ? "\")" : "", s->next_backoff_ms / 1000.0);
        schedule_restart(s);
}

static void on_restart(evutil_socket_t fd, short what, void *userdata)
{
        struct dhcp_supervisor *s = userdata;
        struct pxf_error err = {0};

        (void)fd;
        (void)what;
        s->restarts++;
        if (spawn_child(s, &err) < 0) {
                log_error("dhcp: cannot restart dnsmasq: %s; trying again in %.1f s", err.msg,
                          s->next_backoff_ms / 1000.0);
                schedule_restart(s);
        }
}

/* Waits up to settle_ms for "started" or an exit, so the common start-up failures (port
 * 67, a missing user, a bad lease file) reach the caller as an error, not a restart loop. */
static int settle(struct dhcp_supervisor *s, struct pxf_error *err)
{
        uint64_t deadline = pxf_now_usec() + (uint64_t)s->settle_ms * 1000;
        bool eof = false;
        char status[96];
        siginfo_t si;

        while (!s->saw_started && pxf_now_usec() < deadline) {
                struct pollfd p[2] = {{.fd = s->pidfd, .events = POLLIN},
                                      {.fd = eof ? -1 : s->errfd, .events = POLLIN}};
                int ms = (int)((deadline - pxf_now_usec()) / 1000) + 1;
                if (poll(p, 2, ms) < 0 && errno != EINTR)
                        return pxf_error_set(err, -errno, "poll: %m");
                if (p[1].revents)
                        eof = !read_output(s);
                if (!(p[0].revents & POLLIN))
                        continue;
                reap(s, &si);
                describe_status(&si, status, sizeof status);
                if (strstr(s->last_line, "Address already in use") ||
                    strstr(s->last_line, "Address in use"))
                        return pxf_error_set(err, -EADDRINUSE,
                                             "dnsmasq could not bind UDP port 67 (\"%s\"): "
                                             "another DHCP server runs on this host; find it with "
                                             "`ss -ulpn sport = :67`",
                                             s->last_line);
                return pxf_error_set(err, -ECHILD, "dnsmasq %s at start-up: %s", status,
                                     s->last_line[0] ? s->last_line : "(no message)");
        }
        return 0;
}

/* ---- public ------------------------------------------------------------------------- */

static struct dhcp_supervisor *supervisor_new(struct event_base *base,
                                              const struct dhcp_supervisor_opts *o)
{
        struct dhcp_supervisor *s = pxf_calloc(1, sizeof *s);

        s->base = base;
        s->pidfd = s->errfd = -1;
        s->interface = pxf_strdup(o->interface);
        s->user = o->user ? pxf_strdup(o->user) : NULL;
        s->backoff_ms = o->backoff_ms ? o->backoff_ms : DHCP_BACKOFF_MS_DEFAULT;
        s->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : DHCP_BACKOFF_MAX_MS_DEFAULT;
        s->grace_ms = o->grace_ms ? o->grace_ms : DHCP_GRACE_MS_DEFAULT;
        s->settle_ms = o->settle_ms ? o->settle_ms : DHCP_SETTLE_MS_DEFAULT;
        s->next_backoff_ms = s->backoff_ms;
        s->restart_ev = evtimer_new(base, on_restart, s);
        if (!s->restart_ev)
                abort(); /* only out of memory */
        return s;
}

static int check_opts(const struct dhcp_supervisor_opts *o, struct pxf_error *err)
{
        if (!o->config_text && !o->config_path)
                return pxf_error_set(err, -EINVAL, "neither a config text nor a config path given");
        if (o->config_text && (!o->runtime_dir || o->runtime_dir[0] != '/'))
                return pxf_error_set(err, -EINVAL, "a config text needs an absolute runtime_dir");
        if (o->user && (!*o->user || strpbrk(o->user, " ,\n\t\r") || strlen(o->user) > 64))
                return pxf_error_set(err, -EINVAL, "user \"%s\" is not a valid user name", o->user);
        return check_interface(o->interface, err);
}

int dhcp_supervisor_start(struct event_base *base, const struct dhcp_supervisor_opts *o,
                          struct dhcp_supervisor **ret, struct pxf_error *err)
{
        struct dhcp_supervisor *s = NULL;
        int r = check_opts(o, err);

        if (r == 0) {
                s = supervisor_new(base, o);
                r = find_dnsmasq(o->dnsmasq, &s->dnsmasq, err);
        }
        if (r == 0)
                r = check_port67(o->interface, err);
        if (r == 0 && o->config_text)
                r = write_config(o, &s->config_path, err);
        else if (r == 0)
                s->config_path = pxf_strdup(o->config_path);
        if (r == 0)
                r = test_config(s, err);
        if (r == 0)
                r = spawn_child(s, err);
        if (r == 0)
                r = settle(s, err);
        if (r < 0) {
                dhcp_supervisor_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void dhcp_supervisor_get_stats(const struct dhcp_supervisor *s, struct dhcp_supervisor_stats *ret)
{
        *ret = (struct dhcp_supervisor_stats){
            .pid = s->pid, .restarts = s->restarts, .log_lines = s->log_lines};
}

static void stop_child(struct dhcp_supervisor *s)
{
        siginfo_t si;

        if (s->pidfd < 0)
                return;
        (void)pidfd_send_signal(s->pidfd, SIGTERM, NULL, 0);
        if (poll(&(struct pollfd){.fd = s->pidfd, .events = POLLIN}, 1, (int)s->grace_ms) <= 0) {
                log_warning("dhcp: dnsmasq did not stop within %u ms; killing it", s->grace_ms);
                (void)pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
        }
        reap(s, &si);
        log_info("dhcp: dnsmasq stopped");
}

struct dhcp_supervisor *dhcp_supervisor_free(struct dhcp_supervisor *s)
{
        if (!s)
                return NULL;
        stop_child(s);
        close_child(s);
        if (s->restart_ev)
                event_free(s->restart_ev);
        free(s->dnsmasq);
        free(s->config_path);
        free(s->interface);
        free(s->user);
        free(s);
        return NULL;
}
