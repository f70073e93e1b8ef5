/* The appliance's root process: binds, supervises, forwards logs, stops everything. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "dhcp-glue/dhcp-glue.h"
#include "httpd/httpd.h"
#include "pxeforge/appliance.h"
#include "tftpd/tftpd.h"

#define SERVER_NAME        "pxeforge-server"
#define RESTART_MIN_MS     1000u
#define RESTART_MAX_MS     30000u
#define STABLE_USEC        (60ull * 1000000) /* a run this long resets the backoff */
#define STOP_GRACE_SECONDS 10
#define LINE_MAX_BYTES     4096

/* The pxeforge-server child: restarted with a backoff whenever it dies unasked. */
struct server_child {
        struct appliance *app;
        char *binary;
        struct appliance_child *child;
        struct event *restart_ev;
        unsigned backoff_ms;
        uint64_t started_usec;
};

struct appliance {
        const struct appliance_opts *o;
        struct event_base *base;
        char address[INET_ADDRSTRLEN], netmask[INET_ADDRSTRLEN];
        char *runtime_dir;
        int tftp_fd, http_fd;
        struct server_child server;
        struct dhcp_supervisor *dhcp;
        struct event *sig_ev[3];
        bool stopping;
};

int appliance_interface_ipv4(const char *interface, char *ret, size_t size, char *ret_mask,
                             size_t mask_size, struct pxf_error *err)
{
        struct ifaddrs *all = NULL;
        int r = -EADDRNOTAVAIL;

        if (if_nametoindex(interface) == 0)
                return pxf_error_set(err, -ENODEV, "network interface '%s' does not exist",
                                     interface);
        if (getifaddrs(&all) < 0)
                return pxf_error_set(err, -errno, "cannot list network addresses: %m");
        for (struct ifaddrs *a = all; a && r < 0; a = a->ifa_next) {
                if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET ||
                    strcmp(a->ifa_name, interface) != 0)
                        continue;
                inet_ntop(AF_INET, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, ret, size);
                if (ret_mask && a->ifa_netmask)
                        inet_ntop(AF_INET, &((struct sockaddr_in *)a->ifa_netmask)->sin_addr,
                                  ret_mask, mask_size);
                r = 0;
        }
        freeifaddrs(all);
        return r < 0
                   ? pxf_error_set(err, r, "network interface '%s' has no IPv4 address", interface)
                   : 0;
}

static int resolve_address(struct appliance *a, struct pxf_error *err)
{
        const struct appliance_opts *o = a->o;
        int r = 0;

        if (o->interface)
                r = appliance_interface_ipv4(o->interface, a->address, sizeof a->address,
                                             a->netmask, sizeof a->netmask, err);
        if (r >= 0 && o->address)
                snprintf(a->address, sizeof a->address, "%s", o->address);
        else if (r >= 0 && !o->interface)
                snprintf(a->address, sizeof a->address, "0.0.0.0");
        if (r >= 0 && o->netmask)
                snprintf(a->netmask, sizeof a->netmask, "%s", o->netmask);
        if (r >= 0 && o->dhcp != APPLIANCE_DHCP_OFF && !o->interface)
                r = pxf_error_set(err, -EINVAL, "DHCP needs --interface (or --dhcp off)");
        return r;
}

/* pxeforge-server sits next to the pxeforge binary in a build tree, or in
 * ../libexec/pxeforge/ once installed. */
int appliance_self_exe(char **ret, struct pxf_error *err)
{
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

        if (n <= 0)
                return pxf_error_set(err, -errno, "cannot find my own executable: %m");
        self[n] = '\0';
        *ret = pxf_strdup(self);
        return 0;
}

static int find_server(char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *self = NULL, *dir = NULL;
        int r = appliance_self_exe(&self, err);

        if (r < 0)
                return r;
        dir = pxf_dirname(self);
        for (int i = 0; i < 2; i++) {
                _cleanup_free_ char *p =
                    i == 0 ? pxf_asprintf("%s/" SERVER_NAME, dir)
                           : pxf_asprintf("%s/../libexec/pxeforge/" SERVER_NAME, dir);
                if (access(p, X_OK) == 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return pxf_error_set(err, -ENOENT, SERVER_NAME " not found next to '%s' (reinstall)", self);
}

/* ---- children on the loop --------------------------------------------------------- */

struct appliance_child {
        struct event_base *base;
        pid_t pid;
        int pidfd, errfd;
        struct event *exit_ev, *err_ev;
        appliance_child_exit_fn on_exit;
        void *userdata;
        char line[LINE_MAX_BYTES];
        size_t line_len;
};

/* Its lines already carry "pxeforge: " (it is one of ours); they pass through as they are. */
static void child_relay(evutil_socket_t fd, short what, void *arg)
{
        struct appliance_child *c = arg;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);

        (void)what;
        if (n <= 0) {
                if (c->err_ev && (n == 0 || (errno != EAGAIN && errno != EINTR)))
                        event_del(c->err_ev);
                return;
        }
        for (ssize_t i = 0; i < n; i++) {
                if (buf[i] != '\n' && c->line_len < sizeof c->line - 1) {
                        c->line[c->line_len++] = buf[i];
                        continue;
                }
                c->line[c->line_len] = '\0';
                if (c->line_len)
                        fprintf(stderr, "%s\n", c->line);
                c->line_len = 0;
        }
}

static void child_free(struct appliance_child *c)
{
        if (c->exit_ev)
                event_free(c->exit_ev);
        if (c->err_ev) {
                child_relay(c->errfd, 0, c); /* its last words */
                event_free(c->err_ev);
        }
        if (c->pidfd >= 0)
                (void)close(c->pidfd);
        if (c->errfd >= 0)
                (void)close(c->errfd);
        free(c);
}

static void child_exited(evutil_socket_t fd, short what, void *arg)
{
        struct appliance_child *c = arg;
        appliance_child_exit_fn on_exit = c->on_exit;
        void *userdata = c->userdata;
        siginfo_t si = {0};

        (void)what;
        (void)waitid(P_PIDFD, (id_t)fd, &si, WEXITED);
        child_free(c);
        on_exit(&si, userdata);
}

int appliance_child_start(struct event_base *base, const char *const *argv,
                          const struct pxf_spawn_opts *opts, appliance_child_exit_fn on_exit,
                          void *userdata, struct appliance_child **ret, struct pxf_error *err)
{
        struct appliance_child *c = pxf_calloc(1, sizeof *c);
        int r = pxf_spawn_start(argv, opts, &c->pid, &c->errfd, err);

        c->pidfd = -1;
        if (r < 0) {
                c->errfd = -1;
                child_free(c);
                return r;
        }
        c->base = base;
        c->on_exit = on_exit;
        c->userdata = userdata;
        c->pidfd = pidfd_open(c->pid, 0);
        if (c->pidfd < 0) {
                r = pxf_error_set(err, -errno, "pidfd_open: %m");
                (void)kill(c->pid, SIGKILL);
                (void)waitpid(c->pid, NULL, 0);
                child_free(c);
                return r;
        }
        c->exit_ev = event_new(base, c->pidfd, EV_READ, child_exited, c);
        c->err_ev = event_new(base, c->errfd, EV_READ | EV_PERSIST, child_relay, c);
        event_add(c->exit_ev, NULL);
        event_add(c->err_ev, NULL);
        *ret = c;
        return 0;
}

void appliance_child_stop(struct appliance_child *c, const char *name, int grace_seconds)
{
        siginfo_t si = {0};

        if (!c)
                return;
        (void)pidfd_send_signal(c->pidfd, SIGTERM, NULL, 0);
        for (int i = 0; i < grace_seconds * 10 && si.si_pid == 0; i++) {
                if (waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG) < 0)
                        break;
                if (si.si_pid == 0)
                        (void)usleep(100 * 1000);
        }
        if (si.si_pid == 0) {
                log_warning("%s did not stop in %d s; killing it", name, grace_seconds);
                (void)pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0);
                (void)waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED);
        }
        child_free(c);
}

/* ---- the server child ------------------------------------------------------------ */

static void server_start(struct server_child *c);

static void server_exited(const siginfo_t *si, void *arg)
{
        struct server_child *c = arg;
        struct timeval tv;

        c->child = NULL;
        if (c->app->stopping)
                return;
        if (pxf_now_usec() - c->started_usec > STABLE_USEC)
                c->backoff_ms = RESTART_MIN_MS;
        log_warning(SERVER_NAME " %s %d; restarting it in %u ms",
                    si->si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
                    si->si_status, c->backoff_ms);
        tv = (struct timeval){.tv_sec = c->backoff_ms / 1000,
                              .tv_usec = c->backoff_ms % 1000 * 1000};
        c->backoff_ms = c->backoff_ms * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : c->backoff_ms * 2;
        event_add(c->restart_ev, &tv);
}

static void server_restart(evutil_socket_t fd, short what, void *arg)
{
        (void)fd;
        (void)what;
        server_start(arg);
}

static void server_start(struct server_child *c)
{
        const struct appliance *a = c->app;
        const char *user = a->o->user ? a->o->user : APPLIANCE_USER;
        const char *level = pxf_log_get_level() == PXF_LOG_DEBUG ? "debug" : "info";
        const int fds[] = {a->tftp_fd, a->http_fd};
        const char *argv[] = {c->binary,   "--root", a->o->artifacts, "--tftp-fd", "3",
                              "--http-fd", "4",      "--user",        user,        "--log-level",
                              level,       NULL};
        struct pxf_spawn_opts opts = {
            .stdout_fd = PXF_SPAWN_INHERIT, .pass_fds = fds, .n_pass_fds = 2};
        struct pxf_error err = {0};

        if (appliance_child_start(a->base, argv, &opts, server_exited, c, &c->child, &err) < 0) {
                log_error("cannot start " SERVER_NAME ": %s", err.msg);
                event_base_loopexit(a->base, NULL);
                return;
        }
        c->started_usec = pxf_now_usec();
}

static void server_stop(struct server_child *c)
{
        appliance_child_stop(c->child, SERVER_NAME, STOP_GRACE_SECONDS);
        c->child = NULL;
        if (c->restart_ev)
                event_free(c->restart_ev);
        c->restart_ev = NULL;
        free(c->binary);
        c->binary = NULL;
}

/* ---- DHCP -------------------------------------------------------------------------- */

static int start_dhcp(struct appliance *a, struct pxf_error *err)
{
        const struct appliance_opts *o = a->o;
        _cleanup_free_ char *leases = pxf_asprintf("%s/dnsmasq.leases", a->runtime_dir);
        _cleanup_free_ char *http = pxf_asprintf("http://%s:%u/", a->address,
                                                 o->http_port ? o->http_port : APPLIANCE_HTTP_PORT);
        _cleanup_free_ char *text = NULL;
        _cleanup_strv_free_ char **notes = NULL;
        struct dhcp_boot_files files;
        struct dhcp_config c = {
            .mode = o->dhcp == APPLIANCE_DHCP_PROXY ? DHCP_PROXY : DHCP_AUTHORITATIVE,
            .interface = o->interface,
            .server_address = a->address,
            .range_start = o->range_start,
            .range_end = o->range_end,
            .netmask = a->netmask[0] ? a->netmask : NULL,
            .router = o->router,
            .lease_file = leases,
            .http_base_url = http,
        };
        struct dhcp_supervisor_opts so = {
            .dnsmasq = o->dnsmasq,
            .runtime_dir = a->runtime_dir,
            .interface = o->interface,
            .user = o->user ? o->user : APPLIANCE_USER,
        };
        int r = dhcp_boot_files_from_dir(o->artifacts, &files, err);

        if (r >= 0)
                r = dhcp_config_render(&c, &files, &text, err);
        if (r < 0)
                return pxf_error_prefix(err, "DHCP");
        notes = dhcp_boot_notes(&c, &files);
        for (size_t i = 0; notes && notes[i]; i++)
                log_info("%s", notes[i]);
        so.config_text = text;
        return dhcp_supervisor_start(a->base, &so, &a->dhcp, err);
}

/* ---- the loop ---------------------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
        struct appliance *a = arg;

        (void)what;
        if (sig == SIGHUP) {
                if (a->o->on_hup)
                        a->o->on_hup(a->base, a->o->userdata);
                else
                        log_info("SIGHUP: nothing to rebuild (pxeforge serve)");
                return;
        }
        log_info("signal %d: stopping", (int)sig);
        a->stopping = true;
        event_base_loopexit(a->base, NULL);
}

/* The sockets are handed to pxeforge-server as fds 3 and 4; kept above them here, so
 * placing one never overwrites the other. */
static int move_high(int *fd, struct pxf_error *err)
{
        int high = fcntl(*fd, F_DUPFD_CLOEXEC, 16);

        if (high < 0)
                return pxf_error_set(err, -errno, "cannot move a socket: %m");
        (void)close(*fd);
        *fd = high;
        return 0;
}

static int bind_ports(struct appliance *a, struct pxf_error *err)
{
        const struct appliance_opts *o = a->o;
        int r = tftpd_bind(a->address, o->tftp_port ? o->tftp_port : APPLIANCE_TFTP_PORT,
                           &a->tftp_fd, err);

        if (r >= 0)
                r = httpd_bind(a->address, o->http_port ? o->http_port : APPLIANCE_HTTP_PORT,
                               &a->http_fd, err);
        if (r >= 0)
                r = move_high(&a->tftp_fd, err);
        if (r >= 0)
                r = move_high(&a->http_fd, err);
        return r;
}

static int watch_signals(struct appliance *a, struct pxf_error *err)
{
        static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};

        for (size_t i = 0; i < PXF_ELEMENTSOF(sigs); i++) {
                a->sig_ev[i] = evsignal_new(a->base, sigs[i], on_signal, a);
                if (!a->sig_ev[i] || evsignal_add(a->sig_ev[i], NULL) < 0)
                        return pxf_error_set(err, -ENOMEM, "cannot watch signal %d", sigs[i]);
        }
        return 0;
}

static int setup(struct appliance *a, struct pxf_error *err)
{
        struct server_child *c = &a->server;
        int r = resolve_address(a, err);

        if (r >= 0)
                r = find_server(&c->binary, err);
        if (r >= 0 && (r = pxf_mkdir_p(a->runtime_dir, 0700)) < 0)
                pxf_error_set(err, r, "cannot create '%s': %s", a->runtime_dir, strerror(-r));
        if (r >= 0)
                r = bind_ports(a, err);
        if (r < 0)
                return r;
        a->base = event_base_new();
        if (!a->base)
                return pxf_error_set(err, -ENOMEM, "cannot create the event loop");
        r = watch_signals(a, err);
        if (r >= 0 && a->o->dhcp != APPLIANCE_DHCP_OFF)
                r = start_dhcp(a, err);
        if (r < 0)
                return r;
        c->restart_ev = evtimer_new(a->base, server_restart, c);
        server_start(c);
        log_info("serving '%s' on %s: TFTP port %u, HTTP port %u, DHCP %s", a->o->artifacts,
                 a->address, a->o->tftp_port ? a->o->tftp_port : APPLIANCE_TFTP_PORT,
                 a->o->http_port ? a->o->http_port : APPLIANCE_HTTP_PORT,
                 a->o->dhcp == APPLIANCE_DHCP_OFF     ? "off"
                 : a->o->dhcp == APPLIANCE_DHCP_PROXY ? "proxy"
                                                      : "authoritative");
        return 0;
}

static void teardown(struct appliance *a)
{
        a->stopping = true;
        server_stop(&a->server);
        a->dhcp = dhcp_supervisor_free(a->dhcp);
        for (size_t i = 0; i < PXF_ELEMENTSOF(a->sig_ev); i++)
                if (a->sig_ev[i])
                        event_free(a->sig_ev[i]);
        if (a->base)
                event_base_free(a->base);
        if (a->tftp_fd >= 0)
                (void)close(a->tftp_fd);
        if (a->http_fd >= 0)
                (void)close(a->http_fd);
        if (!a->o->runtime_dir)
                (void)pxf_rm_rf(a->runtime_dir);
        free(a->runtime_dir);
}

int appliance_run(const struct appliance_opts *o, struct pxf_error *err)
{
        struct appliance a = {
            .o = o,
            .tftp_fd = -1,
            .http_fd = -1,
            .server = {.backoff_ms = RESTART_MIN_MS},
        };
        int r;

        a.server.app = &a;
        a.runtime_dir = o->runtime_dir ? pxf_strdup(o->runtime_dir)
                                       : pxf_asprintf(APPLIANCE_RUNTIME_DIR "/%d", (int)getpid());
        r = setup(&a, err);
        if (r >= 0 && o->on_start)
                o->on_start(a.base, o->userdata);
        if (r >= 0 && event_base_dispatch(a.base) < 0)
                r = pxf_error_set(err, -EIO, "the event loop failed");
        teardown(&a);
        return r;
}
