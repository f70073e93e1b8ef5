/* The appliance: one process tree that serves an artifacts folder to the network.
 *
 *   pxeforge serve / up (root, this code)
 *     ├── pxeforge-server (unprivileged): TFTP and HTTP on sockets bound here as root
 *     ├── dnsmasq (drops to its user itself): proxy or authoritative DHCP, no DNS, no TFTP
 *     └── for `up`: a build child on SIGHUP or a change of the config (see cmd-up.c)
 *
 * The root process never reads network input: it binds the ports, starts and restarts the
 * children, forwards their logs, and stops them all on SIGTERM or SIGINT. The served folder
 * is opened again for every request, so a rebuild publishes new artifacts by swapping a
 * symlink while transfers in flight finish on the old files.
 */
#pragma once

#include <stdint.h>

#include "common/common.h"
#include "config/config.h"
#include "httpd/httpd.h"
#include "status/groups.h"
#include "tftpd/tftpd.h"

struct event_base;

enum appliance_dhcp {
        APPLIANCE_DHCP_OFF,
        APPLIANCE_DHCP_PROXY,
        APPLIANCE_DHCP_AUTHORITATIVE,
};

#define APPLIANCE_TFTP_PORT 69
#define APPLIANCE_HTTP_PORT 80
/* pxeforge-server's own system user (the Debian package creates it); without it, nobody,
 * which other daemons share, with a warning. dnsmasq always drops to nobody: the two
 * processes that read network input never share a user. */
#define APPLIANCE_USER          "pxeforge"
#define APPLIANCE_FALLBACK_USER "nobody"
#define APPLIANCE_DHCP_USER     "nobody"
#define APPLIANCE_RUNTIME_DIR   "/run/pxeforge"

struct appliance_opts {
        const char *artifacts; /* the served folder (or a symlink to it) */
        /* Several builds, each machine booting the one its group names (routing.h): the
         * artifacts are build artifacts_name (NULL: "default"), builds (NULL-terminated, or
         * NULL) the others as "NAME=DIR" with DIR absolute, and groups (NULL: everybody
         * boots the artifacts) who boots what, its names checked against these. */
        const char *artifacts_name;
        char *const *builds;
        const struct grp_set *groups;
        const char *name; /* what the status page says is served; NULL: artifacts */
        bool no_status;   /* no timeline, status page, API, metrics or boot reports */
        /* Where the boot timeline is kept across restarts (its status/ folder, made here
         * for pxeforge-server's user); NULL: in memory only. */
        const char *state_dir;
        const char *interface; /* required for DHCP; NULL: serve on address only */
        const char *address;   /* NULL: the interface's IPv4, else 0.0.0.0 */
        uint16_t tftp_port;    /* 0: APPLIANCE_TFTP_PORT */
        uint16_t http_port;    /* 0: APPLIANCE_HTTP_PORT */
        enum appliance_dhcp dhcp;
        const char *range_start, *range_end; /* authoritative */
        const char *netmask;                 /* NULL: the interface's */
        const char *router;                  /* authoritative, optional */
        const char *user;                    /* pxeforge-server's; NULL: APPLIANCE_USER */
        const char *runtime_dir;             /* NULL: APPLIANCE_RUNTIME_DIR/<pid> */
        const char *dnsmasq;                 /* NULL: found in the usual places */
        /* Which clients are chained to iPXE (the folder must carry it: server.ipxe at
         * build); CFG_IPXE_UNSET: what the folder was built for (its manifest). */
        enum cfg_ipxe_mode ipxe;
        struct tftpd_limits tftp; /* 0: the server's defaults */
        struct httpd_limits http;
        /* Called on SIGHUP inside the loop, before on_hup: the machine groups anew (their
         * config read again). 0 with *ret filled: they replace the running ones, in the
         * server at once (a transfer in flight keeps its file) and in dnsmasq, restarted
         * when what it ignores changed; negative: the running ones stay (the callback said
         * why). NULL: groups change with a restart only. */
        int (*reload_groups)(void *userdata, struct grp_set *ret);
        /* Called on SIGHUP inside the loop (NULL: SIGHUP only logs). */
        void (*on_hup)(struct event_base *base, void *userdata);
        /* Called once everything runs, just before the loop starts (may be NULL). */
        void (*on_start)(struct event_base *base, void *userdata);
        void *userdata;
};

/* Where a running appliance with machine groups keeps the token a reset must carry
 * (`pxeforge machine reset`), by its HTTP port: root's alone (mode 0600), gone when it
 * stops. */
#define APPLIANCE_TOKEN_FORMAT APPLIANCE_RUNTIME_DIR "/http-%u.token"

/* The path of the running pxeforge executable (for starting its siblings and itself), or
 * -errno with err set. */
int appliance_self_exe(char **ret, struct pxf_error *err);

/* The address pxeforge serves on, as resolve_address() finds it: for defaults that need
 * it before serving (the bootstrap ISO's URL). */
int appliance_interface_ipv4(const char *interface, char *ret, size_t size, char *ret_mask,
                             size_t mask_size, struct pxf_error *err);

/* Runs the appliance until SIGTERM or SIGINT (0) or a start-up failure (negative errno,
 * err says what to fix). Must run as root when it binds ports below 1024, runs DHCP or
 * drops privileges. */
int appliance_run(const struct appliance_opts *o, struct pxf_error *err);
