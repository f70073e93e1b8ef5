/* routing: which of the served builds each machine sees (server.machines), for
 * pxeforge-server.
 *
 * With several builds or any machine group, the servers open every file through
 * router_open (a struct pxf_opener, common.h):
 *   - A boot menu (ROUTER_MENUS) asked for by its plain path gets two lines that ask for
 *     it again below PXF_BOOT_PREFIX with the loader's own idea of its MAC (GRUB's
 *     ${net_default_mac}, iPXE's ${netX/mac:hexhyp}): neither DHCP mode tells the server for
 *     sure which machine an address is (proxy DHCP never sees the address at all), but
 *     the loader knows.
 *   - Below PXF_BOOT_PREFIX "MAC/": the address is that machine's from now on
 *     (tl_bind), and the rest of the path is the machine's choice (status/groups.h): its
 *     build's file, a menu that exits to the firmware (local: the disk boots next), or
 *     nothing (ignore).
 *   - Any other file comes from the build of the machine the address belongs to; a
 *     machine not yet known, or one that boots local or nothing, gets the first build's
 *     (its boot loader, before the menu says more).
 * Rules change with router_set_groups, between two requests: a transfer in flight keeps
 * the file it opened.
 *
 * What it owns: the rules and the list of builds. The timeline is borrowed.
 */
#pragma once
#include <stddef.h>
#include <sys/stat.h>

#include "status/groups.h"
#include "status/timeline.h"

/* The menus a boot loader asks for by a fixed path, and which loader reads each. */
#define ROUTER_MENUS(X)                                                                            \
        X("grub/grub.cfg", ROUTER_GRUB)       /* Debian's GRUB, EFI and BIOS */                    \
        X("boot/grub2/grub.cfg", ROUTER_GRUB) /* Azure Linux's GRUB */                             \
        X("boot.ipxe", ROUTER_IPXE)

struct router_build {
        const char *name; /* what groups call it (grp_name_valid) */
        const char *root; /* its folder, as the server sees it */
};

struct router;

/* The first build is the one a machine not yet known gets. Copies builds. */
struct router *router_new(struct timeline *tl, const struct router_build *builds, size_t n);
struct router *router_free(struct router *r);

/* Replaces the rules with set's (taken over; set is left empty). A set naming a build
 * that is not served is refused whole (-ENOENT, logged) and the rules stay. */
int router_set_groups(struct router *r, struct grp_set *set);

/* The struct pxf_opener's open: see above. */
int router_open(void *ctx, const struct sockaddr *peer, size_t peer_len, const char *path,
                struct stat *ret_st);

/* Where a reset goes, below the appliance's HTTP API prefix. */
#define ROUTER_RESET_PATH PXF_API_RESET

/* A reset (POST PXF_API_PREFIX ROUTER_RESET_PATH), body "mac=MAC" and "token=HEX" lines,
 * the token the appliance handed over with the groups (`pxeforge machine reset` reads it
 * as root): the machine forgets that it booted (tl_reset), so a boot-once machine boots
 * from the network again. Says what happened in f; returns 200, 400 (malformed), 403
 * (not the token) or 404 (no such machine). */
int router_reset(struct router *r, const char *body, size_t len, FILE *f);

/* What the machine id boots now, as "build NAME", "local" or "ignore" (for the API: a
 * tl_describe_fn, ctx the router); buf is the space for it. */
const char *router_describe(void *ctx, const struct tl_identity *id, char *buf, size_t size);
