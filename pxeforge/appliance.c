/* The appliance's root process: binds, supervises, forwards logs, stops everything. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "artifacts/artifacts.h"
#include "dhcp-glue/dhcp-glue.h"
#include "httpd/httpd.h"
#include "pxeforge/appliance.h"
#include "tftpd/tftpd.h"

#define SERVER_NAME     "pxeforge-server"
#define SERVER_READY    "serving '" /* in its line once it serves (server.c), whatever the prefix */
#define SERVER_START_MS 10000

struct appliance {
        const struct appliance_opts *o;
        struct event_base *base;
        char address[INET_ADDRSTRLEN], netmask[INET_ADDRSTRLEN];
        char *runtime_dir;
        int tftp_fd, http_fd;
        /* dnsmasq's lines go, unread, through this pipe to pxeforge-server's boot timeline:
         * the root process parses nothing a client chose. */
        int dhcp_log_read, dhcp_log_write;
        uint64_t dhcp_lines_dropped; /* the pipe was full: the server is behind or restarting */
        int history_dir; /* <state dir>/status, which only pxeforge-server writes; -1: none */
        /* The machine groups go to pxeforge-server through this pipe, again to each
         * server started (status/groups.h); -1: one build for all. */
        int groups_read, groups_write;
        char token[GRP_TOKEN_LEN + 1];     /* what a reset must carry */
        struct grp_set groups;             /* the running ones: o->groups, then reloaded */
        struct dhcp_boot_files dhcp_files; /* what each kind of client gets (static names) */
        char *dhcp_text;                   /* the config dnsmasq runs with */
        char *token_path;                  /* where `pxeforge machine reset` finds it */
        char *server_binary;
        const char *server_user;
        struct pxf_child *server; /* restarted with a backoff whenever it dies unasked */
        struct dhcp_supervisor *dhcp;
        struct event *sig_ev[3];
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
        if (r >= 0 && o->address) {
                struct in_addr in;
                /* PXE firmware reaches its boot server over IPv4 only; anything else
                 * would be cut to fit the buffer and bind some other address. */
                if (inet_pton(AF_INET, o->address, &in) != 1)
                        return pxf_error_set(err, -EINVAL,
                                             "--address '%s' is not an IPv4 address (such as "
                                             "192.168.1.10): PXE clients reach the appliance "
                                             "over IPv4",
                                             o->address);
                snprintf(a->address, sizeof a->address, "%s", o->address);
        } else if (r >= 0 && !o->interface)
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

/* ---- the server child ------------------------------------------------------------ */

/* The user asked for, else pxeforge's own, else nobody (see appliance.h). */
static const char *server_user(const struct appliance_opts *o)
{
        if (o->user)
                return o->user;
        if (getpwnam(APPLIANCE_USER))
                return APPLIANCE_USER;
        log_warning("the system user '" APPLIANCE_USER
                    "' does not exist: serving as '" APPLIANCE_FALLBACK_USER
                    "', which other daemons share; create it with "
                    "`adduser --system --group " APPLIANCE_USER "` (the Debian package does)");
        return APPLIANCE_FALLBACK_USER;
}

/* The descriptors pxeforge-server gets, as 3, 4, 5...: the sockets first. */
struct server_fds {
        int fds[5];
        size_t n;
        char numbers[5][8];
};

/* Passes fd on; the number the server sees it as. */
static const char *pass_fd(struct server_fds *p, int fd)
{
        (void)snprintf(p->numbers[p->n], sizeof p->numbers[p->n], "%zu", 3 + p->n);
        p->fds[p->n] = fd;
        return p->numbers[p->n++];
}

/* The builds beside the artifacts, and where their groups come from. */
static void push_routing(const struct appliance *a, struct server_fds *fds, char ***argv)
{
        if (a->groups_read < 0)
                return;
        pxf_strv_push(argv, "--root-build");
        pxf_strv_push(argv, a->o->artifacts_name ? a->o->artifacts_name : "default");
        for (char *const *b = a->o->builds; b && *b; b++) {
                pxf_strv_push(argv, "--build");
                pxf_strv_push(argv, *b);
        }
        pxf_strv_push(argv, "--groups-fd");
        pxf_strv_push(argv, pass_fd(fds, a->groups_read));
}

/* pxeforge-server's command line: the limits set are passed on, the rest it defaults. */
static char **server_argv(const struct appliance *a, struct server_fds *fds)
{
        const char *level = pxf_log_get_level() == PXF_LOG_DEBUG ? "debug" : "info";
        char **argv = NULL, parent[24], value[24];

        (void)snprintf(parent, sizeof parent, "%d", (int)getpid());
        const char *const fixed[] = {a->server_binary,
                                     "--root",
                                     a->o->artifacts,
                                     "--tftp-fd",
                                     pass_fd(fds, a->tftp_fd),
                                     "--http-fd",
                                     pass_fd(fds, a->http_fd),
                                     "--user",
                                     a->server_user,
                                     "--parent",
                                     parent,
                                     "--log-level",
                                     level,
                                     "--name",
                                     a->o->name ? a->o->name : a->o->artifacts,
                                     NULL};
        for (size_t i = 0; fixed[i]; i++)
                pxf_strv_push(&argv, fixed[i]);
        if (a->o->no_status) {
                pxf_strv_push(&argv, "--no-status");
        } else {
                pxf_strv_push(&argv, "--dhcp-log-fd");
                pxf_strv_push(&argv, pass_fd(fds, a->dhcp_log_read));
        }
        if (a->history_dir >= 0) {
                pxf_strv_push(&argv, "--history-dir-fd");
                pxf_strv_push(&argv, pass_fd(fds, a->history_dir));
        }
        push_routing(a, fds, &argv);
#define PUSH_LIMIT(section, field, flag)                                                           \
        if (a->o->section.field) {                                                                 \
                (void)snprintf(value, sizeof value, "%u", a->o->section.field);                    \
                pxf_strv_push(&argv, "--" flag);                                                   \
                pxf_strv_push(&argv, value);                                                       \
        }
#define PUSH_TFTP(field, key, flag, ...) PUSH_LIMIT(tftp, field, flag)
#define PUSH_HTTP(field, key, flag, ...) PUSH_LIMIT(http, field, flag)
        TFTPD_LIMITS(PUSH_TFTP)
        HTTPD_LIMITS(PUSH_HTTP)
        return argv;
}

/* The groups down the pipe, whole (status/groups.h); never waited for. */
static void send_groups(struct appliance *a)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        struct grp_set set = {0};

        if (a->groups_write < 0 || !(f = open_memstream(&text, &len)))
                return;
        if (a->groups.complete)
                set = a->groups; /* borrowed: never cleared here */
        else
                (void)snprintf(set.fallback.build, sizeof set.fallback.build, "%s",
                               a->o->artifacts_name ? a->o->artifacts_name : "default");
        memcpy(set.token, a->token, sizeof set.token);
        grp_write(&set, f);
        if (fclose(f) != 0)
                return;
        r = pxf_write_all(a->groups_write, text, len);
        if (r < 0)
                pxf_log_errno(PXF_LOG_WARNING, r, "cannot hand the machine groups to the server");
}

/* A server started again reads the groups afresh (one that died may have read them
 * half: the next skips to a "begin"). */
static void server_exited(struct pxf_child *c, const siginfo_t *si, void *userdata)
{
        (void)c, (void)si;
        send_groups(userdata);
}

static int server_start(struct appliance *a, struct pxf_error *err)
{
        struct server_fds fds = {0};
        _cleanup_strv_free_ char **argv = server_argv(a, &fds);
        const struct pxf_spawn_opts spawn = {
            .stdout_fd = PXF_SPAWN_INHERIT, .pass_fds = fds.fds, .n_pass_fds = fds.n};
        const struct pxf_child_opts child = {
            .name = SERVER_NAME,
            .argv = (const char *const *)argv,
            .spawn = &spawn,
            .output = PXF_CHILD_OUTPUT_CONFINED,
            .restart = true,
            .on_exit = server_exited,
            .userdata = a,
        };
        int r;

        send_groups(a);
        r = pxf_child_start(a->base, &child, &a->server, err);

        /* A server that cannot start (the folder unreadable as its user, say) is an error
         * of `serve` itself, not a restart loop. */
        return r < 0 ? r : pxf_child_wait_ready(a->server, SERVER_READY, SERVER_START_MS, err);
}

/* ---- DHCP ---------------------------------------------------------------------------- */

/* A line of dnsmasq's, passed on as it is; never waited for: a full pipe drops it. */
static void pass_dhcp_line(const char *line, void *userdata)
{
        struct appliance *a = userdata;
        struct iovec iov[] = {{(void *)line, strlen(line)}, {"\n", 1}};

        if (a->dhcp_log_write < 0) /* --no-status: nobody keeps a timeline */
                return;
        if (writev(a->dhcp_log_write, iov, PXF_ELEMENTSOF(iov)) < 0 && a->dhcp_lines_dropped++ == 0)
                log_debug("dnsmasq's lines are not reaching pxeforge-server's boot timeline: %m");
}

static bool has_file(const char *dir, const char *rel)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, rel);
        struct stat st;

        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The iPXE mode: the one asked for, else the one the folder was built for. A mode the
 * folder cannot serve fails here, at start. */
static int ipxe_mode(const struct appliance_opts *o, enum cfg_ipxe_mode *ret, struct pxf_error *err)
{
        _cleanup_free_ char *built = NULL;
        int r = art_manifest_value(o->artifacts, "ipxe", &built, err);

        if (r < 0 && r != -ENOENT)
                return r;
        *ret = o->ipxe;
        if (*ret == CFG_IPXE_UNSET && (!built || cfg_ipxe_mode_from_name(built, ret) < 0))
                *ret = CFG_IPXE_OFF;
        if (*ret != CFG_IPXE_OFF &&
            (!has_file(o->artifacts, ART_IPXE_UEFI) || !has_file(o->artifacts, ART_IPXE_BIOS)))
                return pxf_error_set(err, -EINVAL,
                                     "iPXE '%s': the artifacts carry no iPXE (%s, %s): build them "
                                     "with server.ipxe: %s (the building host needs the Debian "
                                     "package ipxe)",
                                     cfg_ipxe_mode_name(*ret), ART_IPXE_UEFI, ART_IPXE_BIOS,
                                     cfg_ipxe_mode_name(*ret));
        return 0;
}

/* Which loader each kind of client gets (dhcp-glue names the kinds):
 *   UEFI PXE: shim and GRUB; iPXE with ipxe always.
 *   UEFI HTTP boot: shim and GRUB when that GRUB speaks HTTP, else iPXE when the folder
 *     has it, else nothing (and the log says why).
 *   BIOS: GRUB (server.bios) when the folder has it, else iPXE (fallback); iPXE with
 *     ipxe always.
 *   iPXE (a NIC's ROM, or the chained one): boot.ipxe, unless iPXE is off: then a ROM is
 *     answered as the PXE client it also is. */
static int choose_boot_files(const struct appliance_opts *o, struct dhcp_boot_files *b,
                             struct pxf_error *err)
{
        _cleanup_free_ char *grub_http = NULL;
        enum cfg_ipxe_mode ipxe;
        int r = dhcp_boot_files_from_dir(o->artifacts, b, err);

        if (r >= 0)
                r = ipxe_mode(o, &ipxe, err);
        if (r < 0)
                return r;
        r = art_manifest_value(o->artifacts, "grub-http", &grub_http, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (b->uefi_x64 && (!grub_http || strcmp(grub_http, "yes") != 0)) {
                b->uefi_x64_http = NULL;
                b->uefi_http_why_not = "the artifacts' GRUB has no HTTP client (Debian 12's GRUB "
                                       "2.06 has none, 13's 2.12 has one); set server.ipxe: "
                                       "fallback to boot them with iPXE";
        }
        if (has_file(o->artifacts, ART_BIOS_GRUB))
                b->bios = ART_BIOS_GRUB;
        if (ipxe == CFG_IPXE_FALLBACK) {
                if (!b->bios)
                        b->bios = ART_IPXE_BIOS;
                if (!b->uefi_x64_http)
                        b->uefi_x64_http = ART_IPXE_UEFI;
        }
        if (ipxe == CFG_IPXE_ALWAYS) {
                b->bios = ART_IPXE_BIOS;
                b->uefi_x64 = b->uefi_x64_http = ART_IPXE_UEFI;
        }
        /* With iPXE off, a NIC's iPXE ROM boots like any PXE client: shim or GRUB. */
        if (ipxe != CFG_IPXE_OFF && has_file(o->artifacts, ART_IPXE_SCRIPT))
                b->ipxe_script = ART_IPXE_SCRIPT;
        log_info("boot files: UEFI PXE %s, UEFI HTTP boot %s, BIOS %s, iPXE %s (iPXE %s)",
                 b->uefi_x64 ? b->uefi_x64 : "none", b->uefi_x64_http ? b->uefi_x64_http : "none",
                 b->bios ? b->bios : "none", b->ipxe_script ? b->ipxe_script : "none",
                 cfg_ipxe_mode_name(ipxe));
        return 0;
}

/* What a Secure Boot machine would make of the folder, from its manifest. */
static void log_secure_boot(const struct appliance_opts *o, const struct dhcp_boot_files *b)
{
        _cleanup_free_ char *sb = NULL;
        struct pxf_error err = {0};

        if (art_manifest_value(o->artifacts, "secure-boot", &sb, &err) < 0 || !sb)
                return;
        if (b->uefi_x64 && strcmp(b->uefi_x64, ART_IPXE_UEFI) == 0)
                log_warning("Secure Boot: UEFI PXE clients get iPXE, which Secure Boot refuses "
                            "(Debian's iPXE is not signed); with Secure Boot on, a machine stops "
                            "before loading it");
        else if (strcmp(sb, "signed") == 0)
                log_info("Secure Boot: shim, GRUB and the kernel are signed");
        else
                log_warning("Secure Boot: a machine with Secure Boot on will refuse these "
                            "artifacts (no signature on %s; see the README, Secure Boot)",
                            strncmp(sb, "unsigned: ", 10) == 0 ? sb + 10 : sb);
}

/* dnsmasq's config as the appliance stands (its boot files, chosen at start, and the
 * machine groups as they are now), and, if notes is not NULL, what each kind of client
 * gets no file for. */
static int render_dhcp(const struct appliance *a, char **ret, char ***notes, struct pxf_error *err)
{
        const struct appliance_opts *o = a->o;
        _cleanup_free_ char *leases = pxf_asprintf("%s/dnsmasq.leases", a->runtime_dir);
        _cleanup_free_ char *http = pxf_asprintf("http://%s:%u/", a->address,
                                                 o->http_port ? o->http_port : APPLIANCE_HTTP_PORT);
        const struct dhcp_config c = {
            .mode = o->dhcp == APPLIANCE_DHCP_PROXY ? DHCP_PROXY : DHCP_AUTHORITATIVE,
            .interface = o->interface,
            .server_address = a->address,
            .range_start = o->range_start,
            .range_end = o->range_end,
            .netmask = a->netmask[0] ? a->netmask : NULL,
            .router = o->router,
            .lease_file = leases,
            .http_base_url = http,
            .groups = a->groups.complete ? &a->groups : NULL,
        };
        int r = dhcp_config_render(&c, &a->dhcp_files, ret, err);

        if (r >= 0 && notes)
                *notes = dhcp_boot_notes(&c, &a->dhcp_files);
        return r < 0 ? pxf_error_prefix(err, "DHCP") : 0;
}

/* dnsmasq on text, which becomes the config it runs with. */
static int start_dnsmasq(struct appliance *a, char *text, struct pxf_error *err)
{
        const struct dhcp_supervisor_opts so = {
            .config_text = text,
            .dnsmasq = a->o->dnsmasq,
            .runtime_dir = a->runtime_dir,
            .interface = a->o->interface,
            .user = APPLIANCE_DHCP_USER,
            .on_line = pass_dhcp_line,
            .userdata = a,
        };

        free(a->dhcp_text);
        a->dhcp_text = text;
        return dhcp_supervisor_start(a->base, &so, &a->dhcp, err);
}

static int start_dhcp(struct appliance *a, struct pxf_error *err)
{
        char *text = NULL;
        _cleanup_strv_free_ char **notes = NULL;
        int r = choose_boot_files(a->o, &a->dhcp_files, err);

        if (r < 0)
                return pxf_error_prefix(err, "DHCP");
        log_secure_boot(a->o, &a->dhcp_files);
        r = render_dhcp(a, &text, &notes, err);
        if (r < 0)
                return r;
        for (size_t i = 0; notes && notes[i]; i++)
                log_info("%s", notes[i]);
        return start_dnsmasq(a, text, err);
}

/* ---- the loop ---------------------------------------------------------------------- */

/* SIGHUP: the groups read again, for the server at once and, when what dnsmasq is told
 * changed (whom it ignores), for a new dnsmasq. */
static void reload_groups(struct appliance *a)
{
        struct grp_set fresh = {0};
        struct pxf_error err = {0};
        char *text = NULL;

        if (!a->o->reload_groups || a->groups_write < 0 ||
            a->o->reload_groups(a->o->userdata, &fresh) < 0)
                return;
        fresh.complete = true;
        grp_clear(&a->groups);
        a->groups = fresh;
        send_groups(a);
        log_info("SIGHUP: machine groups read again (%zu rule%s)", a->groups.n_rules,
                 a->groups.n_rules == 1 ? "" : "s");
        if (!a->dhcp || render_dhcp(a, &text, NULL, &err) < 0 || strcmp(text, a->dhcp_text) == 0) {
                if (err.msg[0])
                        log_error("%s", err.msg);
                free(text);
                return;
        }
        a->dhcp = dhcp_supervisor_free(a->dhcp);
        if (start_dnsmasq(a, text, &err) < 0)
                log_error("DHCP could not start again with the new groups: %s", err.msg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
        struct appliance *a = arg;

        (void)what;
        if (sig == SIGHUP) {
                reload_groups(a);
                if (a->o->on_hup)
                        a->o->on_hup(a->base, a->o->userdata);
                else if (!a->o->reload_groups)
                        log_info("SIGHUP: nothing to rebuild (pxeforge serve)");
                return;
        }
        log_info("signal %d: stopping", (int)sig);
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

/* A pipe to pxeforge-server (dnsmasq's lines, the machine groups): its read end goes to
 * every server started, so what is written while one restarts waits for the next.
 * Non-blocking at both ends: the root never waits to write (dnsmasq's lines are short and
 * written whole, below PIPE_BUF; a set of groups is small), the server reads what is
 * there. */
static int open_server_pipe(int *read_end, int *write_end, struct pxf_error *err)
{
        int fds[2];

        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return pxf_error_set(err, -errno, "cannot make a pipe: %m");
        *read_end = fds[0];
        *write_end = fds[1];
        return move_high(read_end, err);
}

/* The token a reset must carry: random, handed to the server with the groups and left
 * for root alone where `pxeforge machine reset` looks. */
static int make_token(struct appliance *a, struct pxf_error *err)
{
        uint8_t raw[GRP_TOKEN_LEN / 2];
        uint16_t port = a->o->http_port ? a->o->http_port : APPLIANCE_HTTP_PORT;
        _cleanup_close_ int fd = -1;
        int r;

        if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
                return pxf_error_set(err, -errno, "cannot make a reset token: %m");
        for (size_t i = 0; i < sizeof raw; i++)
                (void)snprintf(a->token + 2 * i, 3, "%02x", raw[i]);
        r = pxf_mkdir_p(APPLIANCE_RUNTIME_DIR, 0755);
        if (r < 0)
                return pxf_error_set(err, r, "cannot create " APPLIANCE_RUNTIME_DIR ": %s",
                                     strerror(-r));
        a->token_path = pxf_asprintf(APPLIANCE_TOKEN_FORMAT, port);
        (void)unlink(a->token_path); /* an appliance that died left it */
        fd = open(a->token_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || pxf_write_all(fd, a->token, GRP_TOKEN_LEN) < 0)
                return pxf_error_set(err, -errno, "cannot write '%s': %m", a->token_path);
        return 0;
}

/* <state dir>/status, where pxeforge-server keeps the boot timeline: its own user's, mode
 * 0700, handed to it open (it sees nothing of the host's file system else). The mode is
 * set while root still owns it: a service without CAP_FOWNER (pxeforge-serve@) cannot
 * change the mode of a folder it gave away, as on every start after the first. */
static int open_history_dir(struct appliance *a, struct pxf_error *err)
{
        _cleanup_free_ char *dir = pxf_asprintf("%s/status", a->o->state_dir);
        struct passwd *pw = getpwnam(a->server_user);
        struct stat st;
        int r = pxf_mkdir_p(dir, 0700);

        if (r < 0)
                return pxf_error_set(err, r, "cannot create '%s': %s", dir, strerror(-r));
        a->history_dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (a->history_dir < 0 || fstat(a->history_dir, &st) < 0)
                return pxf_error_set(err, -errno, "cannot open '%s': %m", dir);
        if (pw &&
            (st.st_uid != pw->pw_uid || st.st_gid != pw->pw_gid || (st.st_mode & 07777) != 0700) &&
            (fchmod(a->history_dir, 0700) < 0 ||
             fchown(a->history_dir, pw->pw_uid, pw->pw_gid) < 0))
                return pxf_error_set(err, -errno,
                                     "cannot make '%s' user %s's alone (mode 0700): %m", dir,
                                     a->server_user);
        return move_high(&a->history_dir, err);
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
        if (r >= 0 && !o->no_status)
                r = open_server_pipe(&a->dhcp_log_read, &a->dhcp_log_write, err);
        if (r >= 0 && (o->builds || o->groups))
                r = open_server_pipe(&a->groups_read, &a->groups_write, err);
        if (r >= 0 && a->groups_write >= 0)
                r = make_token(a, err);
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
        int r = resolve_address(a, err);

        if (r >= 0)
                r = find_server(&a->server_binary, err);
        if (r >= 0) /* its fallback warning belongs to a start that goes on */
                a->server_user = server_user(a->o);
        if (r >= 0 && (r = pxf_mkdir_p(a->runtime_dir, 0700)) < 0)
                pxf_error_set(err, r, "cannot create '%s': %s", a->runtime_dir, strerror(-r));
        if (r >= 0)
                r = bind_ports(a, err);
        if (r >= 0 && a->o->state_dir && !a->o->no_status)
                r = open_history_dir(a, err);
        if (r < 0)
                return r;
        a->base = event_base_new();
        if (!a->base)
                return pxf_error_set(err, -ENOMEM, "cannot create the event loop");
        r = watch_signals(a, err);
        if (r >= 0 && a->o->dhcp != APPLIANCE_DHCP_OFF)
                r = start_dhcp(a, err);
        if (r >= 0)
                r = server_start(a, err);
        if (r < 0)
                return r;
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
        a->server = pxf_child_free(a->server);
        free(a->server_binary);
        a->dhcp = dhcp_supervisor_free(a->dhcp);
        free(a->dhcp_text);
        for (size_t i = 0; i < PXF_ELEMENTSOF(a->sig_ev); i++)
                if (a->sig_ev[i])
                        event_free(a->sig_ev[i]);
        if (a->base)
                event_base_free(a->base);
        if (a->tftp_fd >= 0)
                (void)close(a->tftp_fd);
        if (a->http_fd >= 0)
                (void)close(a->http_fd);
        /* after dnsmasq, whose last lines still go in; the root keeps a reader till here */
        if (a->dhcp_log_write >= 0)
                (void)close(a->dhcp_log_write);
        if (a->dhcp_log_read >= 0)
                (void)close(a->dhcp_log_read);
        if (a->history_dir >= 0)
                (void)close(a->history_dir);
        if (a->groups_write >= 0)
                (void)close(a->groups_write);
        if (a->groups_read >= 0)
                (void)close(a->groups_read);
        if (a->token_path)
                (void)unlink(a->token_path);
        free(a->token_path);
        grp_clear(&a->groups);
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
            .dhcp_log_read = -1,
            .dhcp_log_write = -1,
            .history_dir = -1,
            .groups_read = -1,
            .groups_write = -1,
        };
        int r;

        if (o->groups)
                grp_copy(&a.groups, o->groups);
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
