/* dnsmasq's log-dhcp lines into timeline events (see dhcp-log.h). */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "status/dhcp-log.h"
#include "status/timeline.h"

#define MAC_LEN  17
#define WORD_MAX 64

struct exchange {
        unsigned long xid;
        bool used;
        char mac[MAC_LEN + 1]; /* "" until a line names it */
        char ip[WORD_MAX];
        const char *arch; /* static */
        char hostname[TL_FIELD_MAX + 1];
};

struct dhcp_log {
        struct timeline *tl;
        struct exchange ex[DHCP_LOG_EXCHANGES];
        size_t next; /* the slot reused next: the oldest */
};

struct dhcp_log *dhcp_log_new(struct timeline *tl)
{
        struct dhcp_log *d = pxf_calloc(1, sizeof(*d));

        d->tl = tl;
        return d;
}

void dhcp_log_free(struct dhcp_log *d)
{
        free(d);
}

const char *dhcp_log_arch(const char *vendor_class)
{
        static const struct {
                unsigned code;
                const char *name, *http_name;
        } archs[] = {
            {0, "x86 BIOS", "x86 BIOS HTTP"},
            {6, "x86 UEFI", "x86 UEFI HTTP"},
            {7, "x86-64 UEFI", "x86-64 UEFI HTTP"},
            {9, "x86-64 UEFI", "x86-64 UEFI HTTP"},
            {10, "ARM32 UEFI", "ARM32 UEFI HTTP"},
            {11, "ARM64 UEFI", "ARM64 UEFI HTTP"},
            {15, "x86 UEFI HTTP", "x86 UEFI HTTP"},
            {16, "x86-64 UEFI HTTP", "x86-64 UEFI HTTP"},
            {18, "ARM32 UEFI HTTP", "ARM32 UEFI HTTP"},
            {19, "ARM64 UEFI HTTP", "ARM64 UEFI HTTP"},
        };
        bool http = strncmp(vendor_class, "HTTPClient:Arch:", 16) == 0;
        char *end;
        unsigned long code;

        if (!http && strncmp(vendor_class, "PXEClient:Arch:", 15) != 0)
                return NULL;
        code = strtoul(vendor_class + (http ? 16 : 15), &end, 10);
        if (end == vendor_class + (http ? 16 : 15) || (*end && *end != ':'))
                return NULL;
        for (size_t i = 0; i < PXF_ELEMENTSOF(archs); i++)
                if (archs[i].code == code)
                        return http ? archs[i].http_name : archs[i].name;
        return http ? "unknown UEFI HTTP" : "unknown";
}

static struct exchange *exchange_of(struct dhcp_log *d, unsigned long xid)
{
        struct exchange *e;

        for (size_t i = 0; i < DHCP_LOG_EXCHANGES; i++)
                if (d->ex[i].used && d->ex[i].xid == xid)
                        return &d->ex[i];
        e = &d->ex[d->next];
        d->next = (d->next + 1) % DHCP_LOG_EXCHANGES;
        *e = (struct exchange){.xid = xid, .used = true};
        return e;
}

/* The next space-separated word of *p into buf (cut to size), advancing *p. */
static bool next_word(const char **p, char *buf, size_t size)
{
        size_t len;

        *p += strspn(*p, " ");
        len = strcspn(*p, " ");
        if (!len)
                return false;
        (void)snprintf(buf, size, "%.*s", (int)len, *p);
        *p += len;
        return true;
}

static bool looks_like_mac(const char *s)
{
        return strlen(s) == MAC_LEN && s[2] == ':' && s[5] == ':' && s[14] == ':';
}

/* "DHCPACK(br0) 10.0.0.5 52:54:00:12:34:56 name", "PXE(br0) 52:54:... proxy", ... */
static bool parse_event(struct exchange *e, const char *rest)
{
        static const char *const events[] = {"DHCPDISCOVER(", "DHCPOFFER(",  "DHCPREQUEST(",
                                             "DHCPACK(",      "DHCPINFORM(", "PXE("};
        char word[WORD_MAX];
        bool known = false;

        for (size_t i = 0; i < PXF_ELEMENTSOF(events); i++)
                known = known || strncmp(rest, events[i], strlen(events[i])) == 0;
        if (!known || !next_word(&rest, word, sizeof word))
                return false;
        while (next_word(&rest, word, sizeof word)) {
                if (looks_like_mac(word)) {
                        memcpy(e->mac, word, MAC_LEN + 1);
                        if (strncmp(rest, " ", 1) == 0 && next_word(&rest, word, sizeof word) &&
                            strcmp(word, "proxy") != 0 && strchr(word, '.') == NULL)
                                (void)snprintf(e->hostname, sizeof e->hostname, "%s", word);
                        return true;
                }
                if (strspn(word, "0123456789.:abcdef") == strlen(word))
                        (void)snprintf(e->ip, sizeof e->ip, "%s", word);
        }
        return false;
}

static void report(struct dhcp_log *d, const struct exchange *e, uint64_t now)
{
        if (!e->mac[0])
                return;
        (void)tl_dhcp(d->tl, e->mac, e->ip[0] ? e->ip : NULL, e->hostname[0] ? e->hostname : NULL,
                      e->arch, now);
}

void dhcp_log_line(struct dhcp_log *d, const char *line, uint64_t now)
{
        static const char vendor[] = "vendor class: ", name[] = "client provides name: ";
        const char *p = strstr(line, "]: ");
        struct exchange *e;
        unsigned long xid;
        char *end;

        p = p ? p + 3 : line;
        if (strncmp(p, "dnsmasq-dhcp: ", 14) == 0)
                p += 14;
        xid = strtoul(p, &end, 10);
        if (end == p || *end != ' ')
                return; /* a line about dnsmasq itself, not an exchange */
        p = end + 1;
        e = exchange_of(d, xid);
        if (strncmp(p, vendor, sizeof vendor - 1) == 0) {
                const char *arch = dhcp_log_arch(p + sizeof vendor - 1);

                e->arch = arch ? arch : e->arch;
        } else if (strncmp(p, name, sizeof name - 1) == 0) {
                (void)snprintf(e->hostname, sizeof e->hostname, "%s", p + sizeof name - 1);
        } else if (!parse_event(e, p)) {
                return;
        }
        report(d, e, now);
}
