/* groups: which machine boots what (the config's server.machines), as the appliance hands
 * the rules to pxeforge-server and as the server applies them to one machine.
 *
 * What it does: keeps an ordered list of rules, each a MAC pattern (exact, an OUI-style
 * prefix, or any) and a set of client architectures, mapped to a target: a build (by its
 * name), `local` (the boot loader is told to exit, so the firmware boots the disk) or
 * `ignore` (no DHCP offer, no menu); plus the target of machines no rule names. The first
 * rule that matches decides. A rule marked boot-once sends a machine that has reported
 * booted to `local` until it is reset.
 *
 * The rules travel as text, one per line, a set from "begin" to "end" (the server applies
 * a set whole, so a change never shows half-applied, and skips what comes before a
 * "begin": the tail of a set an earlier reader left half-read):
 *
 *   begin
 *   rule 52:54:00:77:00:01 * build:storage once
 *   rule 52:54:00 efi-x64,bios local always
 *   default ignore
 *   token 00112233445566778899aabbccddeeff
 *   end
 *
 * What it owns: the rules and their strings. No I/O, no clock.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"

/* A build's name: letters, digits, '-', '_' and '.', not first. */
#define GRP_NAME_MAX 63

enum grp_kind {
        GRP_BUILD,  /* the build named */
        GRP_LOCAL,  /* the firmware's next boot option: the disk */
        GRP_IGNORE, /* nothing at all */
};

struct grp_target {
        enum grp_kind kind;
        char build[GRP_NAME_MAX + 1]; /* GRP_BUILD */
};

struct grp_rule {
        uint8_t mac[6];
        unsigned mac_len; /* octets that must match: 6 exact, 1..5 a prefix, 0 any */
        unsigned arches;  /* PXF_ARCH_* bits; 0: any */
        struct grp_target target;
        bool once; /* after a booted report: local, until reset */
};

/* The secret a reset must carry (`pxeforge machine reset`): hex, from the appliance. */
#define GRP_TOKEN_LEN 32

struct grp_set {
        struct grp_rule *rules;
        size_t n_rules;
        struct grp_target fallback;    /* "default": of machines no rule names */
        char token[GRP_TOKEN_LEN + 1]; /* "token HEX"; "": no reset is taken */
        bool complete;                 /* its "end" was read */
};

/* Whether name can name a build (GRP_NAME_MAX, the characters above). */
bool grp_name_valid(const char *name);

/* "build:NAME", "local", "ignore" into *ret; -EINVAL for anything else. */
int grp_target_parse(const char *s, struct grp_target *ret);

/* Reads one line of the text above into set ("begin" empties it). Returns 1 when the
 * line was "end" (the set is complete), 0 for "begin", a rule or the default, -EINVAL for
 * anything else (the set is then to be dropped). */
int grp_parse_line(struct grp_set *set, const char *line);

/* Writes set as the text above, "end" included. */
void grp_write(const struct grp_set *set, FILE *f);

/* Adds a rule (copied). */
void grp_add(struct grp_set *set, const struct grp_rule *rule);

/* dst (empty, or cleared first) becomes a copy of src. */
void grp_copy(struct grp_set *dst, const struct grp_set *src);

/* Frees the rules; the set is empty again. */
void grp_clear(struct grp_set *set);

/* The PXF_ARCH_* bit of an architecture as DHCP named it in the timeline ("x86-64 UEFI
 * HTTP", status/dhcp-log.c); 0 for one no rule can name (32-bit, NULL). */
unsigned grp_arch_of_client(const char *arch);

/* What the machine with mac (NULL: not known) and architecture arches (one PXF_ARCH_*
 * bit, 0: not known) boots; booted_once: it has reported booted since its last reset.
 * *ret_rule (if not NULL) is the index of the rule that decided, -1 for the default. */
struct grp_target grp_choose(const struct grp_set *set, const uint8_t *mac, unsigned arch,
                             bool booted_once, long *ret_rule);
