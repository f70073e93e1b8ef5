/* dhcp-glue: DHCP for PXE booting, by a generated dnsmasq configuration and a supervised
 * dnsmasq child.
 *
 * Two parts:
 *   - a pure generator (no I/O, logs nothing): struct dhcp_config + struct dhcp_boot_files
 *     -> dnsmasq.conf text. Proxy mode (DHCP_PROXY) sits next to the LAN's own DHCP server
 *     and only adds boot information for PXE clients; authoritative mode
 *     (DHCP_AUTHORITATIVE) hands out addresses on a network where it is the only server
 *     (a test bridge, a laptop cable). DNS and dnsmasq's own TFTP are always off (pxeforge's
 *     tftpd serves the files). The boot file follows the client's architecture (option
 *     93): x64 UEFI (7, 9), arm64 UEFI (11), BIOS (0), and, when an HTTP base URL is given,
 *     UEFI HTTP boot (16 x64, 19 arm64). Every string that reaches the text is checked, so
 *     no input can add a line or an option.
 *   - a supervisor on the caller's libevent loop: checks what it can before dnsmasq starts
 *     (binary, interface, port 67), runs dnsmasq in the foreground as a child, forwards its
 *     log lines into pxeforge's log ("dnsmasq: ..."), restarts it with a backoff when it
 *     dies, and stops it (SIGTERM, then SIGKILL) when freed.
 *
 * What it owns: the supervisor owns the dnsmasq process, its pidfd and stderr pipe, the
 * events on them, and the config file it writes into the caller's runtime directory. It
 * borrows the event base.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"
#include "status/groups.h"

struct event_base;
struct dhcp_supervisor;

#define DHCP_LEASE_SECONDS_DEFAULT  3600u
#define DHCP_LEASE_SECONDS_MIN      120u /* dnsmasq's own minimum */
#define DHCP_LEASE_SECONDS_MAX      31536000u
#define DHCP_BOOT_FILE_MAX          127u /* the BOOTP file field holds 128 bytes with the NUL */
#define DHCP_PATH_MAX               1024u
#define DHCP_DNSMASQ_SEARCH_PATH    "/usr/sbin:/usr/bin:/sbin:/bin"
#define DHCP_LOG_LINE_MAX           PXF_CHILD_FOREIGN_LINE_MAX /* longer lines: cut, "..." */
#define DHCP_BACKOFF_MS_DEFAULT     1000u
#define DHCP_BACKOFF_MAX_MS_DEFAULT 30000u
#define DHCP_GRACE_MS_DEFAULT       5000u
#define DHCP_SETTLE_MS_DEFAULT      1000u

/* The artifacts' boot loaders, as names relative to the TFTP root. */
#define DHCP_UEFI_X64_FILE   "bootx64.efi"
#define DHCP_UEFI_ARM64_FILE "bootaa64.efi"
/* BIOS loaders, in order of preference (the first one present is offered). */
#define DHCP_BIOS_FILES                                                                            \
        {                                                                                          \
                "undionly.kpxe", "ipxe.pxe", "pxelinux.0"                                          \
        }

enum dhcp_mode {
        DHCP_PROXY,
        DHCP_AUTHORITATIVE,
};

struct dhcp_config {
        enum dhcp_mode mode;
        const char *interface;      /* the only interface dnsmasq binds to */
        const char *server_address; /* our IPv4 on that interface: the TFTP next-server */
        const char *range_start;    /* authoritative: the addresses handed out */
        const char *range_end;
        const char *netmask;       /* authoritative: required; proxy: optional (else the
                                    * interface's own) */
        const char *router;        /* authoritative, optional: NULL sends no router */
        unsigned lease_seconds;    /* authoritative; 0: DHCP_LEASE_SECONDS_DEFAULT */
        const char *lease_file;    /* required, absolute: dnsmasq's default is system-wide */
        const char *http_base_url; /* optional "http://IP[:port][/path]": UEFI HTTP boot */
        /* server.machines: the machines they send to `ignore` get no answer at all; NULL:
         * every machine is answered */
        const struct grp_set *groups;
};

/* What each kind of client is handed, as paths in the artifacts folder. A NULL member: no
 * such loader, and those clients get no boot file. */
struct dhcp_boot_files {
        const char *uefi_x64;   /* UEFI PXE (arch 7, 9), over TFTP */
        const char *uefi_arm64; /* (arch 11) */
        const char *bios;       /* (arch 0) */
        /* UEFI HTTP boot (arch 16, 19): below the HTTP base URL; only with one. */
        const char *uefi_x64_http, *uefi_arm64_http;
        /* iPXE (option 175), the ROM's or one chained from the folder: a script below the
         * HTTP base URL; only with one. NULL, and no iPXE binary among the loaders: an iPXE
         * ROM is answered as the PXE client it also is. */
        const char *ipxe_script;
        /* Why HTTP-boot clients get nothing although the folder has a UEFI loader (a GRUB
         * without an HTTP client, say), for dhcp_boot_notes; NULL: no reason given. */
        const char *uefi_http_why_not;
};

/* Fills ret with the loaders present as regular files in dir (DHCP_UEFI_X64_FILE,
 * DHCP_UEFI_ARM64_FILE, the first of DHCP_BIOS_FILES), each UEFI loader for HTTP boot too.
 * The strings are static. -ENOENT when dir does not exist or is not a directory. */
int dhcp_boot_files_from_dir(const char *dir, struct dhcp_boot_files *ret, struct pxf_error *err);

/* Checks c and b and writes the dnsmasq.conf text into *ret_text (freed by the caller).
 * -EINVAL with err naming the field and the reason for any bad input; -ENOENT when b
 * offers no boot file at all. */
int dhcp_config_render(const struct dhcp_config *c, const struct dhcp_boot_files *b,
                       char **ret_text, struct pxf_error *err);

/* One sentence per client architecture that gets no boot file, and why (for the caller to
 * log at info). A NULL-terminated vector (pxf_strv_free), possibly empty. */
char **dhcp_boot_notes(const struct dhcp_config *c, const struct dhcp_boot_files *b);

/* ---- supervisor ------------------------------------------------------------------- */

struct dhcp_supervisor_opts {
        const char *dnsmasq;     /* binary; NULL: "dnsmasq" in DHCP_DNSMASQ_SEARCH_PATH */
        const char *config_text; /* written to <runtime_dir>/dnsmasq.conf, or: */
        const char *config_path; /* an existing file, used when config_text is NULL */
        const char *runtime_dir; /* private directory, created 0700 when missing */
        const char *interface;   /* must exist; port 67 must be free on it */
        const char *user;        /* dnsmasq drops to it after binding; NULL: its default */
        /* 0: the DHCP_*_DEFAULT values. */
        unsigned backoff_ms, backoff_max_ms, grace_ms, settle_ms;
        /* If set: each line dnsmasq writes, escaped, before it is logged (the appliance
         * passes them on, unread, to the boot timeline in pxeforge-server). */
        void (*on_line)(const char *line, void *userdata);
        void *userdata;
};

struct dhcp_supervisor_stats {
        pid_t pid;         /* the running dnsmasq, 0 while waiting to restart */
        unsigned restarts; /* dnsmasq processes started after the first */
        unsigned log_lines;
};

/* Checks the binary, the interface and port 67, writes the config, checks it with
 * dnsmasq --test, starts dnsmasq and waits up to settle_ms for it to start serving or
 * to fail: a failure in that time (e.g. "failed to bind DHCP server socket") is returned
 * as an error, with dnsmasq's message and what to do. Returns 0 with *ret running. */
int dhcp_supervisor_start(struct event_base *base, const struct dhcp_supervisor_opts *o,
                          struct dhcp_supervisor **ret, struct pxf_error *err);

void dhcp_supervisor_get_stats(const struct dhcp_supervisor *s, struct dhcp_supervisor_stats *ret);

/* Stops dnsmasq (SIGTERM, SIGKILL after grace_ms), reaps it, frees s. Blocks at most
 * grace_ms plus a little. Accepts NULL; returns NULL. */
struct dhcp_supervisor *dhcp_supervisor_free(struct dhcp_supervisor *s);
