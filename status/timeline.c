/* The boot timeline of every machine (see timeline.h). A plain array: a rack is a few
 * hundred machines, and every lookup is a scan of at most max_machines entries made once
 * per event, which is cheap beside the transfer that caused it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "status/timeline-internal.h"

static const char *const stage_names[TL_STAGE_COUNT] = {
    "none", "dhcp", "loader", "kernel", "initramfs", "image", "booted",
};

const char *tl_stage_name(enum tl_stage stage)
{
        return stage < TL_STAGE_COUNT ? stage_names[stage] : "none";
}

static bool has_prefix_ci(const char *s, const char *prefix)
{
        return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_suffix_ci(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

enum tl_stage tl_stage_of_file(const char *path)
{
        static const char *const loader_suffixes[] = {".efi",  ".0",    ".pxe", ".kpxe", ".cfg",
                                                      ".ipxe", ".lkrn", ".mod", ".lst"};
        const char *base = strrchr(path, '/');

        base = base ? base + 1 : path;
        if (has_suffix_ci(base, ".iso"))
                return TL_STAGE_IMAGE;
        if (has_prefix_ci(base, "initrd") || has_prefix_ci(base, "initramfs"))
                return TL_STAGE_INITRAMFS;
        if (has_prefix_ci(base, "vmlinuz") || has_prefix_ci(base, "linux") ||
            has_prefix_ci(base, "bzimage"))
                return TL_STAGE_KERNEL;
        for (size_t i = 0; i < PXF_ELEMENTSOF(loader_suffixes); i++)
                if (has_suffix_ci(base, loader_suffixes[i]))
                        return TL_STAGE_LOADER;
        return TL_STAGE_NONE;
}

/* "52:54:00:AB:cd:ef" or with '-' into lowercase ':'-separated text; false if malformed. */
bool tl_normalize_mac(const char *in, char out[MAC_TEXT_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";

        if (!in || strlen(in) != MAC_TEXT_LEN)
                return false;
        for (size_t i = 0; i < MAC_TEXT_LEN; i++) {
                char c = in[i];

                if (i % 3 == 2) {
                        if (c != ':' && c != '-')
                                return false;
                        out[i] = ':';
                        continue;
                }
                c = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
                if (!memchr(hex, c, 16) || c == '\0')
                        return false;
                out[i] = c;
        }
        out[MAC_TEXT_LEN] = '\0';
        return true;
}

/* A client-chosen string, bounded; NULL stays NULL. */
char *tl_bounded_copy(const char *s)
{
        return s ? pxf_asprintf("%.*s", TL_FIELD_MAX, s) : NULL;
}

static void set_field(char **field, const char *value)
{
        if (!value || !value[0])
                return;
        free(*field);
        *field = tl_bounded_copy(value);
}

void tl_machine_clear(struct machine *m)
{
        free(m->ip);
        free(m->hostname);
        free(m->arch);
        free(m->kernel);
        free(m->xfer.path);
        free(m->failure);
        *m = (struct machine){0};
}

struct timeline *tl_new(size_t max_machines)
{
        struct timeline *tl = pxf_calloc(1, sizeof(*tl));

        tl->max = max_machines ? max_machines : TL_MAX_MACHINES_DEFAULT;
        tl->machines = pxf_calloc(tl->max, sizeof(*tl->machines));
        return tl;
}

void tl_free(struct timeline *tl)
{
        if (!tl)
                return;
        for (size_t i = 0; i < tl->n; i++)
                tl_machine_clear(&tl->machines[i]);
        free(tl->machines);
        free(tl);
}

size_t tl_count(const struct timeline *tl)
{
        return tl->n;
}

uint64_t tl_version(const struct timeline *tl)
{
        return tl->version;
}

struct machine *tl_find_mac(struct timeline *tl, const char *mac)
{
        for (size_t i = 0; i < tl->n; i++)
                if (strcmp(tl->machines[i].mac, mac) == 0)
                        return &tl->machines[i];
        return NULL;
}

/* The machine the address was last handed to, or the address's own entry. */
static struct machine *find_ip(struct timeline *tl, const char *ip)
{
        struct machine *best = NULL;

        for (size_t i = 0; i < tl->n; i++) {
                struct machine *m = &tl->machines[i];

                if (m->ip && strcmp(m->ip, ip) == 0 && (!best || m->last_seen > best->last_seen))
                        best = m;
        }
        return best;
}

static void remove_at(struct timeline *tl, size_t i)
{
        tl_machine_clear(&tl->machines[i]);
        tl->machines[i] = tl->machines[--tl->n];
        tl->machines[tl->n] = (struct machine){0};
}

/* Whether a makes way before b: one whose boot-once mark would be lost last (a flood of
 * made-up MACs must not send a machine back to its build), then the one seen longest ago. */
static bool evict_before(const struct machine *a, const struct machine *b)
{
        if (a->booted_once != b->booted_once)
                return !a->booted_once;
        return a->last_seen < b->last_seen;
}

/* A new entry; at the cap the machine seen longest ago makes way. */
struct machine *tl_add_machine(struct timeline *tl, uint64_t now)
{
        struct machine *m;

        if (tl->n == tl->max) {
                size_t oldest = 0;

                for (size_t i = 1; i < tl->n; i++)
                        if (evict_before(&tl->machines[i], &tl->machines[oldest]))
                                oldest = i;
                remove_at(tl, oldest);
        }
        m = &tl->machines[tl->n++];
        m->first_seen = m->last_seen = now;
        return m;
}

static void reach(struct machine *m, enum tl_stage stage, uint64_t now)
{
        if (stage == TL_STAGE_NONE)
                return;
        if (!m->stage_at[stage])
                m->stage_at[stage] = now;
        if (stage > m->stage)
                m->stage = stage;
        m->last_seen = now;
}

/* Moves what an address-only entry saw into m (the address's first DHCP answer came after
 * its first transfer, as when a lease outlives an appliance restart). Returns m where it
 * is now: the array fills the freed slot with its last entry, which may be m. */
static struct machine *merge_into(struct timeline *tl, struct machine *m, struct machine *ip_only)
{
        for (size_t s = 0; s < TL_STAGE_COUNT; s++)
                if (ip_only->stage_at[s] &&
                    (!m->stage_at[s] || ip_only->stage_at[s] < m->stage_at[s]))
                        m->stage_at[s] = ip_only->stage_at[s];
        if (ip_only->stage > m->stage)
                m->stage = ip_only->stage;
        if (ip_only->first_seen < m->first_seen)
                m->first_seen = ip_only->first_seen;
        if (!m->xfer.path && ip_only->xfer.path) {
                m->xfer = ip_only->xfer;
                ip_only->xfer.path = NULL;
        }
        remove_at(tl, (size_t)(ip_only - tl->machines));
        return m == &tl->machines[tl->n] ? ip_only : m;
}

/* The machine of mac, made if new; NULL for a malformed MAC. */
static struct machine *machine_of_mac(struct timeline *tl, const char *mac_text, uint64_t now)
{
        char mac[MAC_TEXT_LEN + 1];
        struct machine *m;

        if (!tl_normalize_mac(mac_text, mac))
                return NULL;
        m = tl_find_mac(tl, mac);
        if (!m) {
                m = tl_add_machine(tl, now);
                memcpy(m->mac, mac, sizeof(mac));
        }
        return m;
}

int tl_dhcp(struct timeline *tl, const char *mac, const char *ip, const char *hostname,
            const char *arch, uint64_t now)
{
        struct machine *m = machine_of_mac(tl, mac, now), *ip_only;

        if (!m)
                return -EINVAL;
        tl->version++;
        ip_only = ip ? find_ip(tl, ip) : NULL;
        if (ip_only && ip_only != m && !ip_only->mac[0])
                m = merge_into(tl, m, ip_only);
        set_field(&m->ip, ip);
        if (ip)
                m->ip_from_dhcp = true;
        set_field(&m->hostname, hostname);
        /* as the firmware first named it: a chained iPXE names itself a PXE client again */
        if (!m->arch)
                set_field(&m->arch, arch);
        reach(m, TL_STAGE_DHCP, now);
        return 0;
}

static void note_failure(struct machine *m, enum tl_proto proto, const char *file, uint64_t bytes,
                         enum tl_result result)
{
        free(m->failure);
        m->failure = pxf_asprintf("%s %.*s: %s after %" PRIu64 " bytes",
                                  proto == TL_PROTO_TFTP ? "TFTP" : "HTTP", TL_FIELD_MAX, file,
                                  result == TL_RESULT_NOT_FOUND ? "not found" : "aborted", bytes);
}

void tl_transfer(struct timeline *tl, const struct tl_transfer *t, uint64_t now)
{
        struct machine *m = find_ip(tl, t->ip);
        const char *file = t->path + strspn(t->path, "/"); /* HTTP's targets start with one */
        struct transfer_state *x;

        /* A file that is neither there nor a boot file (a browser's favicon.ico) says
         * nothing of a boot: it makes no machine of its own. */
        if (!m && t->result == TL_RESULT_NOT_FOUND && tl_stage_of_file(file) == TL_STAGE_NONE)
                return;
        tl->version++;
        if (!m) {
                m = tl_add_machine(tl, now);
                m->ip = tl_bounded_copy(t->ip);
        }
        x = &m->xfer;
        if (!x->path || strncmp(x->path, file, TL_FIELD_MAX) != 0 || x->proto != t->proto ||
            x->result != TL_RESULT_RUNNING) {
                free(x->path);
                *x = (struct transfer_state){
                    .path = tl_bounded_copy(file), .proto = t->proto, .started = now};
        }
        x->bytes = t->bytes;
        x->size = t->size;
        x->updated = now;
        x->result = t->result;
        m->last_seen = now;
        if (t->result == TL_RESULT_ABORTED || t->result == TL_RESULT_NOT_FOUND) {
                note_failure(m, t->proto, file, t->bytes, t->result);
                return;
        }
        reach(m, tl_stage_of_file(file), now);
        if (tl_stage_of_file(file) >= TL_STAGE_KERNEL)
                m->to_disk = false;
}

int tl_to_disk(struct timeline *tl, const char *mac, uint64_t now)
{
        char norm[MAC_TEXT_LEN + 1];
        struct machine *m;

        if (!tl_normalize_mac(mac, norm) || !(m = tl_find_mac(tl, norm)))
                return -ENOENT;
        tl->version++;
        m->to_disk = true;
        m->last_seen = now;
        return 0;
}

bool tl_observer_due(const struct tl_observer *o, uint64_t *last_usec)
{
        uint64_t now;

        if (!o->observe)
                return false;
        now = pxf_now_usec();
        if (now - *last_usec < TL_PROGRESS_INTERVAL_USEC)
                return false;
        *last_usec = now;
        return true;
}

void tl_observer_tell(const struct tl_observer *o, const struct sockaddr *sa, size_t salen,
                      enum tl_proto proto, const char *path, uint64_t bytes, uint64_t size,
                      enum tl_result result)
{
        char ip[PXF_ADDR_TEXT_MAX];

        if (!o->observe)
                return;
        (void)pxf_addr_text(sa, salen, ip, sizeof ip);
        o->observe(o->ctx, &(struct tl_transfer){.ip = ip,
                                                 .proto = proto,
                                                 .path = path,
                                                 .bytes = bytes,
                                                 .size = size,
                                                 .result = result});
}

/* The machine a report from ip for mac belongs to; NULL with *why set when there is none
 * it may speak for. */
static struct machine *reporting_machine(struct timeline *tl, const char *ip, const char *mac,
                                         int *why)
{
        struct machine *m = tl_find_mac(tl, mac), *by_ip = find_ip(tl, ip);

        *why = -EPERM;
        /* an address learnt from a fetch is left behind when the booted system takes
         * another lease from the LAN's server (proxy mode) */
        if (m && m->ip && m->ip_from_dhcp && strcmp(m->ip, ip) != 0)
                return NULL;
        if (by_ip && by_ip != m && by_ip->mac[0])
                return NULL;
        if (!m && !by_ip) {
                *why = -ENOENT;
                return NULL;
        }
        if (!m) {
                memcpy(by_ip->mac, mac, MAC_TEXT_LEN + 1);
                return by_ip;
        }
        return by_ip && by_ip != m ? merge_into(tl, m, by_ip) : m;
}

int tl_booted(struct timeline *tl, const char *ip, const struct tl_report *r, uint64_t now)
{
        char mac[MAC_TEXT_LEN + 1];
        struct machine *m;
        int why;

        if (!tl_normalize_mac(r->mac, mac))
                return -EINVAL;
        m = reporting_machine(tl, ip, mac, &why);
        if (!m)
                return why;
        tl->version++;
        set_field(&m->ip, ip);
        set_field(&m->hostname, r->hostname);
        set_field(&m->kernel, r->kernel);
        m->boot_ms = r->boot_ms;
        m->booted_once = true;
        reach(m, TL_STAGE_BOOTED, now);
        return 0;
}

int tl_bind(struct timeline *tl, const char *mac, const char *ip, uint64_t now)
{
        struct machine *m = machine_of_mac(tl, mac, now), *ip_only;

        if (!m)
                return -EINVAL;
        tl->version++;
        ip_only = find_ip(tl, ip);
        if (ip_only && ip_only != m && !ip_only->mac[0])
                m = merge_into(tl, m, ip_only);
        set_field(&m->ip, ip);
        m->ip_from_dhcp = false;
        m->last_seen = now;
        return 0;
}

static void identify(const struct machine *m, struct tl_identity *ret)
{
        memcpy(ret->mac, m->mac, sizeof ret->mac);
        ret->arch = m->arch;
        ret->booted_once = m->booted_once;
}

bool tl_identify_ip(struct timeline *tl, const char *ip, struct tl_identity *ret)
{
        const struct machine *m = find_ip(tl, ip);

        if (!m || !m->mac[0])
                return false;
        identify(m, ret);
        return true;
}

bool tl_identify_mac(struct timeline *tl, const char *mac, struct tl_identity *ret)
{
        char norm[MAC_TEXT_LEN + 1];
        const struct machine *m = tl_normalize_mac(mac, norm) ? tl_find_mac(tl, norm) : NULL;

        if (!m)
                return false;
        identify(m, ret);
        return true;
}

int tl_reset(struct timeline *tl, const char *mac)
{
        char norm[MAC_TEXT_LEN + 1];
        struct machine *m;

        if (!tl_normalize_mac(mac, norm))
                return -EINVAL;
        m = tl_find_mac(tl, norm);
        if (!m)
                return -ENOENT;
        tl->version++;
        m->booted_once = false;
        return 0;
}

static void json_field(FILE *f, const char *key, const char *value)
{
        fprintf(f, "\"%s\":", key);
        if (value)
                pxf_json_string(f, value);
        else
                fputs("null", f);
}

static const char *machine_state(const struct machine *m, uint64_t now, uint64_t stall_usec)
{
        if (m->to_disk)
                return "local";
        if (m->stage == TL_STAGE_BOOTED)
                return "booted";
        if (m->failure && m->xfer.result != TL_RESULT_RUNNING && m->xfer.result != TL_RESULT_DONE)
                return "failed";
        if (now > m->last_seen && now - m->last_seen >= stall_usec)
                return "stalled";
        return "booting";
}

static const char *result_name(enum tl_result r)
{
        static const char *const names[] = {"running", "done", "aborted", "not-found"};

        return r < PXF_ELEMENTSOF(names) ? names[r] : "unknown";
}

static void write_transfer(FILE *f, const struct transfer_state *x)
{
        uint64_t span = x->updated > x->started ? x->updated - x->started : 0;

        if (!x->path) {
                fputs("\"transfer\":null", f);
                return;
        }
        fputs("\"transfer\":{", f);
        json_field(f, "file", x->path);
        fprintf(f,
                ",\"protocol\":\"%s\",\"bytes\":%" PRIu64 ",\"size\":%" PRIu64
                ",\"startedMs\":%" PRIu64 ",\"updatedMs\":%" PRIu64
                ",\"result\":\"%s\",\"bytesPerSecond\":%" PRIu64 "}",
                x->proto == TL_PROTO_TFTP ? "tftp" : "http", x->bytes, x->size, x->started / 1000,
                x->updated / 1000, result_name(x->result),
                span ? (uint64_t)((double)x->bytes * 1e6 / (double)span) : 0);
}

static void write_machine(const struct timeline *tl, FILE *f, const struct machine *m, uint64_t now,
                          uint64_t stall_usec)
{
        char boots[TL_DESCRIBE_MAX];
        struct tl_identity id;
        bool first = true;

        fputc('{', f);
        json_field(f, "mac", m->mac[0] ? m->mac : NULL);
        fputc(',', f);
        json_field(f, "ip", m->ip);
        fputc(',', f);
        json_field(f, "hostname", m->hostname);
        fputc(',', f);
        json_field(f, "arch", m->arch);
        fputc(',', f);
        json_field(f, "kernel", m->kernel);
        if (tl->describe && m->mac[0])
                identify(m, &id);
        fputc(',', f);
        json_field(f, "boots",
                   tl->describe && m->mac[0]
                       ? tl->describe(tl->describe_ctx, &id, boots, sizeof boots)
                       : NULL);
        fprintf(f, ",\"stage\":\"%s\",\"state\":\"%s\"", tl_stage_name(m->stage),
                machine_state(m, now, stall_usec));
        fprintf(f, ",\"firstSeenMs\":%" PRIu64 ",\"lastSeenMs\":%" PRIu64 ",\"stages\":{",
                m->first_seen / 1000, m->last_seen / 1000);
        for (size_t s = TL_STAGE_DHCP; s < TL_STAGE_COUNT; s++) {
                if (!m->stage_at[s])
                        continue;
                fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", stage_names[s],
                        m->stage_at[s] / 1000);
                first = false;
        }
        fputs("},", f);
        if (m->boot_ms)
                fprintf(f, "\"bootMs\":%" PRIu64 ",", m->boot_ms);
        else
                fputs("\"bootMs\":null,", f);
        fprintf(f, "\"bootedOnce\":%s,", m->booted_once ? "true" : "false");
        write_transfer(f, &m->xfer);
        fputc(',', f);
        json_field(f, "failure", m->failure);
        fputc('}', f);
}

static int by_last_seen_desc(const void *a, const void *b)
{
        const struct machine *const *x = a, *const *y = b;

        return (*x)->last_seen < (*y)->last_seen ? 1 : (*x)->last_seen > (*y)->last_seen ? -1 : 0;
}

/* The machines, most recently seen first; the caller frees the array. */
static const struct machine **sorted(const struct timeline *tl)
{
        const struct machine **order = pxf_calloc(tl->n + 1, sizeof(*order));

        for (size_t i = 0; i < tl->n; i++)
                order[i] = &tl->machines[i];
        qsort(order, tl->n, sizeof(*order), by_last_seen_desc);
        return order;
}

void tl_set_describe(struct timeline *tl, tl_describe_fn *fn, void *ctx)
{
        tl->describe = fn;
        tl->describe_ctx = ctx;
}

void tl_write_json(const struct timeline *tl, FILE *f, uint64_t now, uint64_t stall_usec)
{
        _cleanup_free_ const struct machine **order = sorted(tl);

        fprintf(f, "{\"nowMs\":%" PRIu64 ",\"machines\":[", now / 1000);
        for (size_t i = 0; i < tl->n; i++) {
                if (i)
                        fputc(',', f);
                write_machine(tl, f, order[i], now, stall_usec);
        }
        fputs("]}\n", f);
}

/* A client string for a terminal: control characters as '?', "-" for none. */
static void put_text(FILE *f, const char *s, int width)
{
        char buf[TL_FIELD_MAX + 1];
        size_t n = 0;

        for (; s && *s && n < TL_FIELD_MAX; s++)
                buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
        buf[n] = '\0';
        fprintf(f, "%-*s ", width, n ? buf : "-");
}

static void put_progress(FILE *f, const struct transfer_state *x)
{
        char buf[64];

        if (!x->path) {
                fputs("-", f);
                return;
        }
        put_text(f, x->path, 0);
        if (x->size)
                (void)snprintf(buf, sizeof buf, "%" PRIu64 "%% of %.1f MiB",
                               x->bytes * 100 / x->size, (double)x->size / 1048576.0);
        else
                (void)snprintf(buf, sizeof buf, "%" PRIu64 " bytes", x->bytes);
        fprintf(f, "%s %s %s", x->proto == TL_PROTO_TFTP ? "tftp" : "http", buf,
                result_name(x->result));
}

void tl_write_text(const struct timeline *tl, FILE *f, uint64_t now, uint64_t stall_usec)
{
        _cleanup_free_ const struct machine **order = sorted(tl);

        fprintf(f, "%-17s %-15s %-20s %-9s %-7s %10s  %s\n", "MAC", "ADDRESS", "HOST", "STAGE",
                "STATE", "SEEN", "TRANSFER");
        for (size_t i = 0; i < tl->n; i++) {
                const struct machine *m = order[i];

                put_text(f, m->mac[0] ? m->mac : NULL, 17);
                put_text(f, m->ip, 15);
                put_text(f, m->hostname, 20);
                fprintf(f, "%-9s %-7s %6" PRIu64 "s ago  ", tl_stage_name(m->stage),
                        machine_state(m, now, stall_usec),
                        now > m->last_seen ? (now - m->last_seen) / 1000000 : 0);
                put_progress(f, &m->xfer);
                fputc('\n', f);
        }
}

void tl_write_metrics(const struct timeline *tl, FILE *f, uint64_t now, uint64_t stall_usec)
{
        static const char *const states[] = {"booting", "stalled", "failed", "booted"};
        unsigned by_stage[TL_STAGE_COUNT] = {0}, by_state[PXF_ELEMENTSOF(states)] = {0};

        for (size_t i = 0; i < tl->n; i++) {
                const char *state = machine_state(&tl->machines[i], now, stall_usec);

                by_stage[tl->machines[i].stage]++;
                for (size_t s = 0; s < PXF_ELEMENTSOF(states); s++)
                        by_state[s] += strcmp(state, states[s]) == 0;
        }
        fputs("# HELP pxeforge_machines Machines the appliance has seen, by the last stage "
              "they reached.\n# TYPE pxeforge_machines gauge\n",
              f);
        for (size_t s = TL_STAGE_NONE; s < TL_STAGE_COUNT; s++)
                fprintf(f, "pxeforge_machines{stage=\"%s\"} %u\n", stage_names[s], by_stage[s]);
        fputs("# HELP pxeforge_machines_by_state Machines the appliance has seen, by state.\n"
              "# TYPE pxeforge_machines_by_state gauge\n",
              f);
        for (size_t s = 0; s < PXF_ELEMENTSOF(states); s++)
                fprintf(f, "pxeforge_machines_by_state{state=\"%s\"} %u\n", states[s], by_state[s]);
}
