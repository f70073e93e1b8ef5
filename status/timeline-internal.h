/* timeline-internal: the table's layout, shared by timeline.c (the events, the views)
 * and timeline-store.c (the history file). Private to status/. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "status/timeline.h"

#define MAC_TEXT_LEN 17 /* "52:54:00:12:34:56" */

struct transfer_state {
        char *path;
        enum tl_proto proto;
        uint64_t bytes, size;
        uint64_t started, updated; /* usec */
        enum tl_result result;
};

struct machine {
        char mac[MAC_TEXT_LEN + 1]; /* "" until a DHCP answer names it */
        char *ip, *hostname, *arch, *kernel;
        enum tl_stage stage;
        uint64_t stage_at[TL_STAGE_COUNT]; /* usec; 0: not reached */
        uint64_t first_seen, last_seen;
        uint64_t boot_ms; /* as the booted system measured it */
        bool booted_once; /* it reported booted since its last reset (boot-once groups) */
        /* its address came from our own DHCP answer (authoritative), not from what it
         * fetched: a report from another address is then not its */
        bool ip_from_dhcp;
        bool to_disk; /* its last menu started its disk (local), and it fetched no kernel since */
        struct transfer_state xfer;
        char *failure; /* the last transfer that failed, as a sentence */
};

struct timeline {
        struct machine *machines;
        size_t n, max;
        uint64_t version;         /* counts the changes (tl_version) */
        tl_describe_fn *describe; /* what a machine boots, for the JSON; may be NULL */
        void *describe_ctx;
};

/* "52-54-00-AB-..." or "52:54:00:ab:..." as "52:54:00:ab:..."; false if malformed. */
bool tl_normalize_mac(const char *in, char out[MAC_TEXT_LEN + 1]);
/* A new entry seen first and last at now; at the cap the one seen longest ago makes way. */
struct machine *tl_add_machine(struct timeline *tl, uint64_t now);
/* The machine of a normalized MAC, or NULL. */
struct machine *tl_find_mac(struct timeline *tl, const char *mac);
/* A client's string, at most TL_FIELD_MAX bytes; NULL stays NULL. */
char *tl_bounded_copy(const char *s);
/* Frees what m holds and zeroes it. */
void tl_machine_clear(struct machine *m);
