/* report: the one request a booted system makes to the appliance, "I am up", read off the
 * wire and filed in the boot timeline (timeline.h).
 *
 * What it reads: a POST body of "key=value" lines (LF or CRLF), the way the image's
 * pxeforge-boot-report unit writes it:
 *
 *   mac=52:54:00:12:34:56      required: the interface that reached the appliance
 *   hostname=rack1-n7          optional
 *   kernel=6.12.48+deb13-amd64 optional
 *   bootMs=41250               optional: the boot's duration by the system's own clock
 *
 * Every value is printable ASCII, at most TL_FIELD_MAX bytes; a key may come once; keys
 * it does not know are skipped (a newer unit may say more). The body is hostile input:
 * anything else is refused whole.
 *
 * What it decides: each address may report REPORT_BURST times, and once more every
 * REPORT_REFILL_USEC after that (a booted system reports once; its retries are few); the
 * report must then speak for a machine the timeline knows (tl_booted). Every outcome is
 * counted, for the metrics.
 *
 * What it owns: the table of recent reporters (REPORT_SOURCES addresses; the one heard
 * from longest ago makes way) and the counters. The timeline is borrowed. No I/O, no
 * clock.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"
#include "status/timeline.h"

#define REPORT_BURST       3
#define REPORT_REFILL_USEC (20u * 1000000u)
#define REPORT_SOURCES     1024
/* Where a report goes, below the appliance's HTTP API prefix (common.h). */
#define REPORT_API_PATH PXF_API_REPORT

struct report_fields {
        char mac[TL_FIELD_MAX + 1];
        char hostname[TL_FIELD_MAX + 1];
        char kernel[TL_FIELD_MAX + 1];
        uint64_t boot_ms;
};

/* Parses a report's body. -EINVAL (with *why, a static phrase) for anything malformed. */
int report_parse(const char *body, size_t len, struct report_fields *ret, const char **why);

enum report_result {
        REPORT_ACCEPTED,
        REPORT_MALFORMED,    /* 400 */
        REPORT_UNKNOWN,      /* 403: no machine the appliance saw */
        REPORT_MISMATCH,     /* 403: another machine's MAC or address */
        REPORT_RATE_LIMITED, /* 429 */
        REPORT_RESULT_COUNT,
};

struct reports;

struct reports *reports_new(struct timeline *tl);
void reports_free(struct reports *r);

/* One report's body from the address ip (as text) at now: checked, limited, filed. Writes
 * one line for the client into out (what happened, or what to fix) and returns the HTTP
 * status to answer with: 200, 400, 403 or 429. */
int reports_receive(struct reports *r, const char *ip, const char *body, size_t len, uint64_t now,
                    FILE *out);

/* pxeforge_boot_reports_total by result, as Prometheus counters; too_large is the
 * server's count of bodies it refused unread (413). */
void reports_write_metrics(const struct reports *r, uint64_t too_large, FILE *f);
