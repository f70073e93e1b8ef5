/* timeline: what the appliance has seen of each machine's network boot, for the status
 * page, its JSON API and metrics, and `pxeforge status`.
 *
 * What it does: files events (a DHCP answer, a TFTP or HTTP transfer starting, moving on,
 * ending; a booted system's report) under the machine they belong to and keeps, per
 * machine, its stage (dhcp, loader, kernel, initramfs, image, booted), when it reached
 * each stage, the transfer in flight (file, protocol, bytes so far, size, rate) and the
 * last failure. A machine is known by its MAC address once a DHCP answer names it;
 * transfers come by IP address and go to the machine that address was last handed to, or,
 * before any DHCP answer named it, to an entry of that address alone, which the first
 * answer for the address merges into its machine. The table is bounded: at max_machines
 * the machine seen longest ago makes way, one that booted once (boot-once groups) last. Strings
 * from clients (host names, vendor classes, file names) are kept as given, bounded in length;
 * whoever shows them escapes them (tl_write_json escapes for JSON).
 *
 * What it owns: the table and every string in it. No I/O, no clock: every event carries
 * its time (microseconds since the Unix epoch: the times are shown and kept across
 * restarts), so it is deterministic under test.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct timeline;

enum tl_stage {
        TL_STAGE_NONE,
        TL_STAGE_DHCP,      /* an address or a boot file was handed out */
        TL_STAGE_LOADER,    /* a boot loader or its menu was fetched */
        TL_STAGE_KERNEL,    /* the kernel */
        TL_STAGE_INITRAMFS, /* the initramfs */
        TL_STAGE_IMAGE,     /* a bootstrap's image.iso */
        TL_STAGE_BOOTED,    /* the booted system reported in */
        TL_STAGE_COUNT,
};

enum tl_proto { TL_PROTO_TFTP, TL_PROTO_HTTP };

enum tl_result {
        TL_RESULT_RUNNING,   /* started or moving on */
        TL_RESULT_DONE,      /* every byte sent */
        TL_RESULT_ABORTED,   /* the client or the server ended it early */
        TL_RESULT_NOT_FOUND, /* no such file */
};

#define TL_MAX_MACHINES_DEFAULT 4096
#define TL_FIELD_MAX            128 /* bytes kept of a client-chosen string */

/* "dhcp", "loader", ...: the names the JSON and the page use. */
const char *tl_stage_name(enum tl_stage stage);
/* The stage a fetched file stands for, from its name: the boot loaders and menus
 * (*.efi, iPXE, GRUB's files, pxelinux), kernels (vmlinuz*, linux*), initramfs images
 * (initrd*, initramfs*), ISO images (*.iso); TL_STAGE_NONE for anything else. */
enum tl_stage tl_stage_of_file(const char *path);

/* A table of at most max_machines (0: TL_MAX_MACHINES_DEFAULT). Aborts on OOM. */
struct timeline *tl_new(size_t max_machines);
void tl_free(struct timeline *tl);

/* A DHCP answer for mac (any case, ':' or '-' separated); ip, hostname and arch (the
 * client's architecture, e.g. "x86-64 UEFI HTTP") may be NULL. The first architecture
 * named stays (the firmware's; a chained iPXE names itself again). -EINVAL for a
 * malformed MAC. */
int tl_dhcp(struct timeline *tl, const char *mac, const char *ip, const char *hostname,
            const char *arch, uint64_t now);

struct tl_transfer {
        const char *ip; /* the client's address, as text */
        enum tl_proto proto;
        const char *path; /* the file asked for */
        uint64_t bytes;   /* sent so far */
        uint64_t size;    /* the whole file; 0: not known */
        enum tl_result result;
};
/* A transfer's start, progress or end. A file not found from an address no machine has,
 * when it is no boot file (tl_stage_of_file), is dropped: a browser, not a boot. */
void tl_transfer(struct timeline *tl, const struct tl_transfer *t, uint64_t now);

/* Who hears of a server's transfers (struct tftpd_config, struct httpd_config): observe
 * (when set) is called on the server's loop with ctx. */
struct sockaddr;
struct tl_observer {
        void (*observe)(void *ctx, const struct tl_transfer *t);
        void *ctx;
};
/* How often a running transfer is reported. */
#define TL_PROGRESS_INTERVAL_USEC 1000000u
/* Whether o observes and a running transfer last reported at *last_usec (monotonic,
 * pxf_now_usec()) is due again; if so, *last_usec becomes now. No clock is read when
 * nobody observes: it is asked on every acknowledgement and every write. */
bool tl_observer_due(const struct tl_observer *o, uint64_t *last_usec);
/* Tells o, if it observes, of a transfer to the client at sa (IPv4 or IPv6). */
void tl_observer_tell(const struct tl_observer *o, const struct sockaddr *sa, size_t salen,
                      enum tl_proto proto, const char *path, uint64_t bytes, uint64_t size,
                      enum tl_result result);

/* What a booted system says of itself (status/report.h reads it off the wire). */
struct tl_report {
        const char *mac;
        const char *hostname, *kernel; /* may be NULL */
        uint64_t boot_ms;              /* how long the boot took by its own clock */
};
/* The booted system's report, sent from the address ip. It is filed only under a machine
 * the appliance has seen: by its MAC (a DHCP answer) or by the address (a transfer; the
 * machine then gets the MAC, which joins a proxy-mode machine's two halves). -EINVAL: a
 * malformed MAC; -ENOENT: neither the MAC nor the address is known; -EPERM: our own DHCP
 * gave the MAC's machine another address, or the address is another MAC's machine's. An
 * address known only from what the machine fetched (proxy mode) moves to the report's:
 * the booted system may take another lease from the LAN's server. */
int tl_booted(struct timeline *tl, const char *ip, const struct tl_report *r, uint64_t now);

/* A boot loader asked from ip for the menu of mac (PXF_BOOT_PREFIX): the address is that
 * machine's from now on (made if new; an entry of the address alone merges into it), which
 * is how a proxy-mode machine's address meets its MAC before it boots. -EINVAL: a
 * malformed MAC. */
int tl_bind(struct timeline *tl, const char *mac, const char *ip, uint64_t now);
/* Who a machine is, for choosing what it boots (status/groups.h). Borrowed strings, valid
 * until the next change of the table. */
struct tl_identity {
        char mac[18];     /* "52:54:00:12:34:56" */
        const char *arch; /* as DHCP named it ("x86-64 UEFI"); NULL: not known */
        bool booted_once; /* it reported booted since its last reset (tl_reset) */
};
/* The machine with a MAC that the address ip was last handed to; false if none. */
bool tl_identify_ip(struct timeline *tl, const char *ip, struct tl_identity *ret);
/* The machine of mac (any case, ':' or '-'); false if none. */
bool tl_identify_mac(struct timeline *tl, const char *mac, struct tl_identity *ret);
/* The machine of mac was sent to its disk (a local menu): its state is "local" until it
 * fetches a kernel again. -ENOENT: no such machine. */
int tl_to_disk(struct timeline *tl, const char *mac, uint64_t now);
/* Forgets that mac booted: a boot-once machine boots from the network again. -EINVAL: a
 * malformed MAC; -ENOENT: no such machine. */
int tl_reset(struct timeline *tl, const char *mac);
/* What the machine of mac boots now (pxeforge/routing.h), as a few words into buf (of
 * TL_DESCRIBE_MAX bytes). */
#define TL_DESCRIBE_MAX 80
typedef const char *tl_describe_fn(void *ctx, const struct tl_identity *id, char *buf, size_t size);
/* tl_write_json then says, as "boots", what each machine with a MAC boots. */
void tl_set_describe(struct timeline *tl, tl_describe_fn *fn, void *ctx);
size_t tl_count(const struct timeline *tl);
/* A number that changes whenever the table may have (to save it only then). */
uint64_t tl_version(const struct timeline *tl);

/* Writes {"nowMs", "machines":[...]} with every machine, most recently seen first (nowMs:
 * now, which the times below are relative to for whoever shows them): mac (null until
 * a DHCP answer names it), ip, hostname, arch, kernel, boots (with machine groups: what it
 * boots now; else null), stage, state ("booting", "stalled":
 * not booted and nothing seen for stall_usec, "failed": the last transfer failed and
 * nothing came after it, "booted", "local": its menu started its disk, tl_to_disk),
 * firstSeenMs, lastSeenMs, stages (each reached stage's
 * time), bootMs, transfer (file, protocol, bytes, size, startedMs, updatedMs, result,
 * bytesPerSecond) and failure. Times are Unix milliseconds. */
void tl_write_json(const struct timeline *tl, FILE *f, uint64_t now, uint64_t stall_usec);

/* The same as a table for a terminal, one machine a line, most recently seen first:
 * MAC (or the address alone), address, host name, stage, state, the transfer in flight
 * and how long ago the machine was last seen. Control characters of client strings are
 * written as '?', so nothing a client chose can drive the terminal. */
void tl_write_text(const struct timeline *tl, FILE *f, uint64_t now, uint64_t stall_usec);

/* The machines as Prometheus gauges (text exposition format): how many are at each stage
 * and in each state. The servers' own counters are their callers' to add. */
void tl_write_metrics(const struct timeline *tl, FILE *f, uint64_t now, uint64_t stall_usec);

/* The history for the state directory: every machine as it stands (not the transfer in
 * flight, which a restart cuts anyway), one a line, in pxeforge's own text format. */
void tl_save(const struct timeline *tl, FILE *f);
/* Adds the machines tl_save wrote to tl (one already there, by its MAC or, known by
 * address alone, by its address, is skipped; the cap holds); a line that does not parse is skipped.
 * Returns how many machines tl holds, or -EINVAL when f is no such history. */
int tl_load(struct timeline *tl, FILE *f);
