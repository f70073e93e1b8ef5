/* report: a booted system's report, parsed, limited and filed (see report.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/common.h"
#include "status/report.h"

struct source {
        char ip[PXF_ADDR_TEXT_MAX];
        uint64_t next_due; /* GCRA's theoretical arrival time: when its credit is whole */
        uint64_t last_seen;
};

struct reports {
        struct timeline *tl;
        struct source *sources;
        size_t n_sources;
        uint64_t counts[REPORT_RESULT_COUNT];
};

#define BOOT_MS_MAX 100000000000ull /* over three years: anything above is not a duration */

struct reports *reports_new(struct timeline *tl)
{
        struct reports *r = pxf_calloc(1, sizeof(*r));

        r->tl = tl;
        r->sources = pxf_calloc(REPORT_SOURCES, sizeof(*r->sources));
        return r;
}

void reports_free(struct reports *r)
{
        if (!r)
                return;
        free(r->sources);
        free(r);
}

/* ---- the body --------------------------------------------------------------------- */

static int set_text(char *dst, const char *v, size_t n, const char **why)
{
        if (dst[0]) {
                *why = "a key is given twice";
                return -EINVAL;
        }
        if (n == 0 || n > TL_FIELD_MAX) {
                *why = "a value is empty or longer than 128 bytes";
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) {
                        *why = "a value holds a byte that is not printable ASCII";
                        return -EINVAL;
                }
        memcpy(dst, v, n);
        dst[n] = '\0';
        return 0;
}

static int set_boot_ms(struct report_fields *f, bool *seen, const char *v, size_t n,
                       const char **why)
{
        uint64_t ms = 0;

        *why = "bootMs is not a number of milliseconds";
        if (*seen || n == 0 || n > 12)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -EINVAL;
                ms = ms * 10 + (uint64_t)(v[i] - '0');
        }
        if (ms > BOOT_MS_MAX)
                return -EINVAL;
        *seen = true;
        f->boot_ms = ms;
        return 0;
}

static int parse_line(const char *line, size_t n, struct report_fields *f, bool *boot_ms_seen,
                      const char **why)
{
        const char *eq = memchr(line, '=', n);
        size_t klen = eq ? (size_t)(eq - line) : 0, vlen = eq ? n - klen - 1 : 0;

        if (n == 0)
                return 0;
        if (!eq || klen == 0) {
                *why = "a line is not key=value";
                return -EINVAL;
        }
#define KEY_IS(s) (klen == sizeof(s) - 1 && memcmp(line, s, klen) == 0)
        if (KEY_IS("mac"))
                return set_text(f->mac, eq + 1, vlen, why);
        if (KEY_IS("hostname"))
                return set_text(f->hostname, eq + 1, vlen, why);
        if (KEY_IS("kernel"))
                return set_text(f->kernel, eq + 1, vlen, why);
        if (KEY_IS("bootMs"))
                return set_boot_ms(f, boot_ms_seen, eq + 1, vlen, why);
#undef KEY_IS
        return 0; /* a key a newer unit sends */
}

int report_parse(const char *body, size_t len, struct report_fields *ret, const char **why)
{
        const char *p = body, *end = body + len;
        bool boot_ms_seen = false;

        *ret = (struct report_fields){0};
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                int r;

                if (n > 0 && p[n - 1] == '\r')
                        n--;
                r = parse_line(p, n, ret, &boot_ms_seen, why);
                if (r < 0)
                        return r;
                p = nl ? nl + 1 : end;
        }
        if (!ret->mac[0]) {
                *why = "mac= is missing";
                return -EINVAL;
        }
        return 0;
}

/* ---- the gate --------------------------------------------------------------------- */

static struct source *source_of(struct reports *r, const char *ip, uint64_t now)
{
        struct source *oldest = NULL, *s;

        for (size_t i = 0; i < r->n_sources; i++) {
                s = &r->sources[i];
                if (strcmp(s->ip, ip) == 0)
                        return s;
                if (!oldest || s->last_seen < oldest->last_seen)
                        oldest = s;
        }
        s = r->n_sources < REPORT_SOURCES ? &r->sources[r->n_sources++] : oldest;
        *s = (struct source){.next_due = now};
        (void)snprintf(s->ip, sizeof s->ip, "%s", ip);
        return s;
}

/* GCRA: a source may be up to REPORT_BURST - 1 intervals ahead of its schedule. */
static bool allowed(struct reports *r, const char *ip, uint64_t now)
{
        struct source *s = source_of(r, ip, now);
        uint64_t slack = (uint64_t)(REPORT_BURST - 1) * REPORT_REFILL_USEC;

        s->last_seen = now;
        if (s->next_due > now + slack)
                return false;
        s->next_due = (s->next_due > now ? s->next_due : now) + REPORT_REFILL_USEC;
        return true;
}

/* ---- receiving -------------------------------------------------------------------- */

static enum report_result file_report(struct reports *r, const char *ip, const char *body,
                                      size_t len, uint64_t now, const char **why)
{
        struct report_fields f;
        int e;

        if (!allowed(r, ip, now)) {
                *why = "too many reports from this address; try again later";
                return REPORT_RATE_LIMITED;
        }
        if (report_parse(body, len, &f, why) < 0)
                return REPORT_MALFORMED;
        e = tl_booted(r->tl, ip,
                      &(struct tl_report){.mac = f.mac,
                                          .hostname = f.hostname[0] ? f.hostname : NULL,
                                          .kernel = f.kernel[0] ? f.kernel : NULL,
                                          .boot_ms = f.boot_ms},
                      now);
        if (e == -EINVAL) {
                *why = "mac= is not a MAC address (52:54:00:12:34:56)";
                return REPORT_MALFORMED;
        }
        if (e == -ENOENT) {
                *why = "this appliance has not seen that MAC or this address boot";
                return REPORT_UNKNOWN;
        }
        if (e < 0) {
                *why = "that MAC belongs to another address, or this address to another MAC";
                return REPORT_MISMATCH;
        }
        *why = "recorded";
        return REPORT_ACCEPTED;
}

int reports_receive(struct reports *r, const char *ip, const char *body, size_t len, uint64_t now,
                    FILE *out)
{
        static const int status[REPORT_RESULT_COUNT] = {200, 400, 403, 403, 429};
        const char *why = "";
        enum report_result res = file_report(r, ip, body, len, now, &why);

        r->counts[res]++;
        fprintf(out, "%s\n", why);
        return status[res];
}

void reports_write_metrics(const struct reports *r, uint64_t too_large, FILE *f)
{
        static const char *const names[REPORT_RESULT_COUNT] = {
            "accepted", "malformed", "unknown-machine", "mismatch", "rate-limited"};

        fputs("# HELP pxeforge_boot_reports_total Reports of booted systems by how they were "
              "received.\n"
              "# TYPE pxeforge_boot_reports_total counter\n",
              f);
        for (size_t i = 0; i < REPORT_RESULT_COUNT; i++)
                fprintf(f, "pxeforge_boot_reports_total{result=\"%s\"} %" PRIu64 "\n", names[i],
                        r->counts[i]);
        fprintf(f, "pxeforge_boot_reports_total{result=\"too-large\"} %" PRIu64 "\n", too_large);
}
