/* The timeline's history file (see tl_save in timeline.h): one machine a line, as
 *
 *   # pxeforge boot timeline 1
 *   first=... last=... mac=52:54:00:00:00:0a ip=10.0.0.5 hostname=rack1-n1 at-dhcp=... ...
 *
 * every value percent-encoded but printable ASCII other than '%', '=' and space, so no
 * client string can end a line or a field; at-STAGE is when the stage was reached (the
 * kernel= key is the kernel's release). Times are microseconds since the epoch. The
 * file is the server's own, but it is read as hostile all the same: a line that does not
 * parse is skipped, every string is bounded again, and the table's cap holds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "status/timeline-internal.h"

#define HEADER       "# pxeforge boot timeline 1\n"
#define LINE_MAX_LEN 8192

static void put_value(FILE *f, const char *key, const char *v)
{
        if (!v)
                return;
        fprintf(f, " %s=", key);
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
                if (*p > ' ' && *p < 0x7f && *p != '%' && *p != '=')
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02X", *p);
}

static void put_number(FILE *f, const char *key, uint64_t v)
{
        if (v)
                fprintf(f, " %s=%" PRIu64, key, v);
}

void tl_save(const struct timeline *tl, FILE *f)
{
        fputs(HEADER, f);
        for (size_t i = 0; i < tl->n; i++) {
                const struct machine *m = &tl->machines[i];

                fprintf(f, "first=%" PRIu64 " last=%" PRIu64, m->first_seen, m->last_seen);
                put_value(f, "mac", m->mac[0] ? m->mac : NULL);
                put_value(f, "ip", m->ip);
                put_value(f, "hostname", m->hostname);
                put_value(f, "arch", m->arch);
                put_value(f, "kernel", m->kernel);
                put_value(f, "failure", m->failure);
                put_number(f, "bootMs", m->boot_ms);
                put_number(f, "bootedOnce", m->booted_once);
                for (size_t s = TL_STAGE_DHCP; s < TL_STAGE_COUNT; s++) {
                        char key[32];
                        (void)snprintf(key, sizeof key, "at-%s", tl_stage_name((enum tl_stage)s));
                        put_number(f, key, m->stage_at[s]);
                }
                fputc('\n', f);
        }
}

/* ---- loading ----------------------------------------------------------------------- */

/* Decodes v in place; false for a broken escape or a NUL. */
static bool decode(char *v)
{
        char *out = v;

        for (char *p = v; *p; p++) {
                int hi, lo;

                if (*p != '%') {
                        *out++ = *p;
                        continue;
                }
                hi = pxf_hex_digit(p[1]);
                lo = hi < 0 ? -1 : pxf_hex_digit(p[2]);
                if (lo < 0 || (hi == 0 && lo == 0))
                        return false;
                *out++ = (char)(hi * 16 + lo);
                p += 2;
        }
        *out = '\0';
        return true;
}

static bool parse_usec(const char *v, uint64_t *ret)
{
        char *end;

        if (*v < '0' || *v > '9')
                return false;
        errno = 0;
        *ret = strtoull(v, &end, 10);
        return errno == 0 && *end == '\0';
}

static bool set_string(char **field, const char *v)
{
        if (*field)
                return false; /* given twice */
        *field = tl_bounded_copy(v);
        return true;
}

/* The stage of an at-STAGE key; TL_STAGE_NONE for any other key. */
static enum tl_stage stage_named(const char *key)
{
        if (strncmp(key, "at-", 3) != 0)
                return TL_STAGE_NONE;
        for (size_t s = TL_STAGE_DHCP; s < TL_STAGE_COUNT; s++)
                if (strcmp(key + 3, tl_stage_name((enum tl_stage)s)) == 0)
                        return (enum tl_stage)s;
        return TL_STAGE_NONE;
}

/* One key=value into m; false if it does not parse. */
static bool load_field(struct machine *m, const char *key, char *v)
{
        enum tl_stage stage = stage_named(key);

        if (!decode(v))
                return false;
        if (stage != TL_STAGE_NONE)
                return parse_usec(v, &m->stage_at[stage]);
        if (strcmp(key, "mac") == 0)
                return !m->mac[0] && tl_normalize_mac(v, m->mac);
        if (strcmp(key, "first") == 0)
                return parse_usec(v, &m->first_seen);
        if (strcmp(key, "last") == 0)
                return parse_usec(v, &m->last_seen);
        if (strcmp(key, "bootMs") == 0)
                return parse_usec(v, &m->boot_ms);
        if (strcmp(key, "bootedOnce") == 0) {
                m->booted_once = strcmp(v, "1") == 0;
                return m->booted_once;
        }
        if (strcmp(key, "ip") == 0)
                return set_string(&m->ip, v);
        if (strcmp(key, "hostname") == 0)
                return set_string(&m->hostname, v);
        if (strcmp(key, "arch") == 0)
                return set_string(&m->arch, v);
        if (strcmp(key, "kernel") == 0)
                return set_string(&m->kernel, v);
        if (strcmp(key, "failure") == 0)
                return set_string(&m->failure, v);
        return true; /* a key of a newer pxeforge */
}

static bool load_line(struct machine *m, char *line)
{
        for (char *save = NULL, *f = strtok_r(line, " \n", &save); f;
             f = strtok_r(NULL, " \n", &save)) {
                char *eq = strchr(f, '=');

                if (!eq || eq == f)
                        return false;
                *eq = '\0';
                if (!load_field(m, f, eq + 1))
                        return false;
        }
        for (size_t s = TL_STAGE_DHCP; s < TL_STAGE_COUNT; s++)
                if (m->stage_at[s])
                        m->stage = (enum tl_stage)s;
        /* a machine is known by its MAC or its address */
        return m->first_seen && m->last_seen >= m->first_seen && (m->mac[0] || m->ip);
}

/* Whether the table has m already: its MAC, or for an address alone, that address alone. */
static bool known(struct timeline *tl, const struct machine *m)
{
        if (m->mac[0])
                return tl_find_mac(tl, m->mac) != NULL;
        for (size_t i = 0; i < tl->n; i++)
                if (!tl->machines[i].mac[0] && tl->machines[i].ip &&
                    strcmp(tl->machines[i].ip, m->ip) == 0)
                        return true;
        return false;
}

/* A parsed machine into the table (a fresh slot, which takes what m holds), unless it is
 * there already. */
static void keep(struct timeline *tl, struct machine *m)
{
        if (known(tl, m))
                tl_machine_clear(m);
        else
                *tl_add_machine(tl, m->last_seen) = *m;
}

int tl_load(struct timeline *tl, FILE *f)
{
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, f);

        if (n < 0 || strcmp(line, HEADER) != 0) {
                free(line);
                return -EINVAL;
        }
        while ((n = getline(&line, &cap, f)) >= 0) {
                struct machine m = {0};

                if (n > LINE_MAX_LEN || !load_line(&m, line)) {
                        tl_machine_clear(&m);
                        continue;
                }
                keep(tl, &m);
        }
        tl->version++;
        free(line);
        return (int)tl->n;
}
