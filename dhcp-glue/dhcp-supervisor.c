/* The dnsmasq supervisor: pre-flight checks, the config file, and dnsmasq as a supervised
 * child (pxf_child: log forwarding, restart, stop). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dhcp-glue/dhcp-glue.h"

struct dhcp_supervisor {
        char *dnsmasq, *config_path;
        struct pxf_child *child;
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
        _cleanup_free_ char *path = NULL;
        int r = pxf_mkdir_p(o->runtime_dir, 0700);

        if (r < 0)
                return pxf_error_set(err, r, "cannot create %s: %s", o->runtime_dir, strerror(-r));
        path = pxf_asprintf("%s/dnsmasq.conf", o->runtime_dir);
        r = pxf_write_file_atomic(path, o->config_text, strlen(o->config_text), 0600, err);
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

/* ---- the child ---------------------------------------------------------------------- */

/* Starts dnsmasq as a supervised child and waits up to settle_ms for it to start serving
 * or to fail, so the common start-up failures (port 67, a missing user, a bad lease file)
 * reach the caller as an error, not a restart loop. */

/* log-dhcp explains every exchange in a dozen lines; the ones that say what happened
 * (DISCOVER, OFFER, REQUEST, ACK, the PXE answer, the boot file) stay news under the rate
 * limit, so that a rack booting at once does not push its leases out of the log; the
 * packet details go to debug. */
static bool dnsmasq_detail(const char *line)
{
        static const char *const details[] = {
            "requested options:",
            "sent size:",
            "available DHCP range:",
            "available DHCP subnet:",
            "vendor class:",
            "user class:",
            "client provides name:",
            "tags:",
            "next server:",
            "broadcast response",
            "DHCP packet received on",
        };

        for (size_t i = 0; i < PXF_ELEMENTSOF(details); i++)
                if (strstr(line, details[i]))
                        return true;
        return false;
}

static int start_dnsmasq(struct dhcp_supervisor *s, struct event_base *base,
                         const struct dhcp_supervisor_opts *o, struct pxf_error *err)
{
        _cleanup_free_ char *conf = pxf_asprintf("--conf-file=%s", s->config_path);
        _cleanup_free_ char *user = o->user ? pxf_asprintf("--user=%s", o->user) : NULL;
        const char *argv[] = {
            s->dnsmasq, "--keep-in-foreground", "--log-facility=-", "--pid-file", conf, user, NULL};
        /* dnsmasq drops to its user itself, which clears a parent-death signal: only its
         * own pid namespace, whose keeper dies with us, takes it along when we are killed
         * outright, so that it never keeps port 67 from the next start. */
        const struct pxf_spawn_opts spawn = {.die_with_parent = true};
        const struct pxf_child_opts child = {
            .name = "dnsmasq",
            .argv = argv,
            .spawn = &spawn,
            .output = PXF_CHILD_OUTPUT_FOREIGN,
            .is_detail = dnsmasq_detail,
            .restart = true,
            .backoff_ms = o->backoff_ms ? o->backoff_ms : DHCP_BACKOFF_MS_DEFAULT,
            .backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : DHCP_BACKOFF_MAX_MS_DEFAULT,
            .grace_ms = o->grace_ms ? o->grace_ms : DHCP_GRACE_MS_DEFAULT,
            .on_line = o->on_line,
            .userdata = o->userdata,
        };
        const char *last;
        int r = pxf_child_start(base, &child, &s->child, err);

        if (r < 0)
                return r;
        r = pxf_child_wait_ready(s->child, "started, version",
                                 o->settle_ms ? o->settle_ms : DHCP_SETTLE_MS_DEFAULT, err);
        last = pxf_child_last_line(s->child);
        if (r == -ECHILD &&
            (strstr(last, "Address already in use") || strstr(last, "Address in use")))
                return pxf_error_set(
                    err, -EADDRINUSE,
                    "dnsmasq could not bind UDP port 67 (\"%s\"): another DHCP "
                    "server runs on this host; find it with `ss -ulpn sport = :67`",
                    last);
        return r;
}

/* ---- public ------------------------------------------------------------------------- */

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
                s = pxf_calloc(1, sizeof *s);
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
                r = start_dnsmasq(s, base, o, err);
        if (r < 0) {
                dhcp_supervisor_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void dhcp_supervisor_get_stats(const struct dhcp_supervisor *s, struct dhcp_supervisor_stats *ret)
{
        struct pxf_child_stats st;

        pxf_child_get_stats(s->child, &st);
        *ret = (struct dhcp_supervisor_stats){
            .pid = st.pid, .restarts = st.restarts, .log_lines = st.log_lines};
}

struct dhcp_supervisor *dhcp_supervisor_free(struct dhcp_supervisor *s)
{
        if (!s)
                return NULL;
        if (s->child) {
                s->child = pxf_child_free(s->child);
                log_info("dhcp: dnsmasq stopped");
        }
        free(s->dnsmasq);
        free(s->config_path);
        free(s);
        return NULL;
}
