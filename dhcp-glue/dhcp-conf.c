/* The pure dnsmasq.conf generator: checks every input, then writes the text.
 *
 * Why each option (dnsmasq 2.90):
 *   port=0, no-resolv, no-hosts   DNS off entirely; nothing read from /etc.
 *   (no enable-tftp)              pxeforge's tftpd serves; "enable-tftp=false" would mean
 *                                 an interface named false, so the option is left out.
 *   interface, except-interface=lo, bind-interfaces
 *                                 answer on one interface only and bind its sockets to it,
 *                                 so other DHCP servers on the host (libvirt) can coexist.
 *   log-dhcp                      every exchange and its tags in the log (to stderr: the
 *                                 supervisor passes --log-facility=-).
 *   dhcp-no-override              file and next-server stay in the BOOTP fields, where old
 *                                 PXE ROMs look for them.
 *   dhcp-leasefile                an explicit path: the default is system-wide.
 *   proxy: dhcp-range=<net>,proxy[,<mask>] and one pxe-service per architecture; proxy
 *          DHCP answers only through pxe-service, and with exactly one service for an
 *          architecture dnsmasq puts the file straight into the reply (UEFI menus are
 *          broken). UEFI clients are sent to port 4011 for it.
 *   authoritative: dhcp-authoritative, dhcp-range=<start>,<end>,<mask>,<lease>, an explicit
 *          (or explicitly empty) router, and dhcp-boot per architecture tag with our
 *          address as next-server.
 *   dhcp-match on option 93 (client-arch): 0 BIOS, 7 and 9 x64 UEFI (firmware differs),
 *          11 arm64 UEFI, 16/19 UEFI HTTP boot; when the folder offers iPXE (its script
 *          or its binaries), set:ipxe on option 175 and tag:!ipxe on every boot line, so
 *          iPXE is not handed a loader again (a loop); otherwise a NIC's iPXE ROM is
 *          answered as the PXE client it also is.
 *   HTTP boot: the reply needs option 60 "HTTPClient" and the URL as file; authoritative
 *          forces option 60, proxy adds HTTPClient to dhcp-pxe-vendor.
 *   machine groups that say ignore: dhcp-mac and dhcp-match tag each group's MACs and
 *          architectures, tag-if lines (run in order, after both) mark the first group
 *          that holds a machine as decided and set pxf-ignore when that group, or the
 *          default, says ignore; dhcp-ignore=tag:pxf-ignore then drops the client, proxy
 *          requests and port 4011 included (dnsmasq checks ignore on every path). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dhcp-glue/dhcp-glue.h"

#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

/* Writes s into buf with control characters, quotes and backslashes escaped and a length
 * cap, so an error message can show a hostile input safely. */
static const char *quote(const char *s, char *buf, size_t size)
{
        size_t o = 0;

        for (; *s && o + 5 < size; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
                        o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
                else
                        buf[o++] = (char)ch;
        }
        if (*s && o + 4 <= size) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = '\0';
        return buf;
}

static bool chars_in(const char *s, const char *extra)
{
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                             (ch >= '0' && ch <= '9');
                if (!alnum && !strchr(extra, ch))
                        return false;
        }
        return true;
}

static int bad(struct pxf_error *err, const char *field, const char *value, const char *why)
{
        char q[160];

        return pxf_error_set(err, -EINVAL, "%s \"%s\" %s", field, quote(value, q, sizeof q), why);
}

static int missing(struct pxf_error *err, const char *field)
{
        return pxf_error_set(err, -EINVAL, "%s is missing", field);
}

static int parse_ipv4(const char *field, const char *s, uint32_t *ret, struct pxf_error *err)
{
        struct in_addr a;

        if (!s || !*s)
                return missing(err, field);
        if (inet_pton(AF_INET, s, &a) != 1)
                return bad(err, field, s, "is not an IPv4 address (dotted quad)");
        *ret = ntohl(a.s_addr);
        return 0;
}

static int parse_netmask(const char *s, uint32_t *ret, struct pxf_error *err)
{
        uint32_t m = 0;
        int r = parse_ipv4("netmask", s, &m, err);

        if (r < 0)
                return r;
        /* Contiguous ones: the inverted mask plus one is a power of two. */
        if (m == 0 || ((~m + 1) & ~m) != 0)
                return bad(err, "netmask", s, "is not a netmask (contiguous leading ones)");
        *ret = m;
        return 0;
}

static int check_interface(const char *s, struct pxf_error *err)
{
        if (!s || !*s)
                return missing(err, "interface");
        if (strlen(s) > IFNAME_MAX || !chars_in(s, "._-") || !strcmp(s, ".") || !strcmp(s, ".."))
                return bad(err, "interface", s,
                           "is not a safe interface name (1-15 of A-Z a-z 0-9 . _ -)");
        return 0;
}

static int check_lease_file(const char *s, struct pxf_error *err)
{
        if (!s || !*s)
                return missing(err, "lease_file");
        if (s[0] != '/' || strlen(s) > DHCP_PATH_MAX || !chars_in(s, "/._+-") ||
            strstr(s, "/../") || strstr(s, "/./"))
                return bad(err, "lease_file", s,
                           "is not a safe absolute path (A-Z a-z 0-9 / . _ + -, no . or ..)");
        return 0;
}

static int check_boot_file(const char *field, const char *s, struct pxf_error *err)
{
        if (!s)
                return 0;
        if (!*s || strlen(s) > DHCP_BOOT_FILE_MAX || !chars_in(s, "/._+-") || s[0] == '/' ||
            strstr(s, ".."))
                return bad(err, field, s,
                           "is not a safe boot file name (relative, at most 127 of A-Z a-z 0-9 "
                           "/ . _ + -, no ..)");
        return 0;
}

/* "http://IPv4[:port][/path]": an IP literal, so booting needs no DNS, and only URL
 * characters that mean nothing to dnsmasq's parser. */
static int check_http_url(const char *s, struct pxf_error *err)
{
        static const char prefix[] = "http://";
        char host[16];
        struct in_addr a;
        size_t n;

        if (!s)
                return 0;
        if (strncmp(s, prefix, sizeof prefix - 1) != 0)
                return bad(err, "http_base_url", s, "does not start with http://");
        if (!chars_in(s + sizeof prefix - 1, "./:_~%-"))
                return bad(err, "http_base_url", s,
                           "has characters other than A-Z a-z 0-9 . / : _ ~ % -");
        n = strcspn(s + sizeof prefix - 1, ":/");
        if (n >= sizeof host)
                return bad(err, "http_base_url", s, "does not name its host by an IPv4 address");
        memcpy(host, s + sizeof prefix - 1, n);
        host[n] = '\0';
        if (inet_pton(AF_INET, host, &a) != 1)
                return bad(err, "http_base_url", s, "does not name its host by an IPv4 address");
        return 0;
}

struct addrs {
        uint32_t server, start, end, mask, router;
};

static int check_range(const struct dhcp_config *c, struct addrs *a, struct pxf_error *err)
{
        uint32_t net = a->server & a->mask, bcast = net | ~a->mask;
        int r = parse_ipv4("range_start", c->range_start, &a->start, err);

        if (r == 0)
                r = parse_ipv4("range_end", c->range_end, &a->end, err);
        if (r < 0)
                return r;
        if (a->server == net || a->server == bcast)
                return bad(err, "server_address", c->server_address,
                           "is the network or broadcast address of its subnet");
        if ((a->start & a->mask) != net || a->start == net || a->start == bcast)
                return bad(err, "range_start", c->range_start,
                           "is not a host address in the server's subnet");
        if ((a->end & a->mask) != net || a->end == net || a->end == bcast)
                return bad(err, "range_end", c->range_end,
                           "is not a host address in the server's subnet");
        if (a->start > a->end)
                return bad(err, "range_end", c->range_end, "is below range_start");
        if (a->server >= a->start && a->server <= a->end)
                return bad(err, "server_address", c->server_address,
                           "lies inside the range it would hand out");
        return 0;
}

static int check_authoritative(const struct dhcp_config *c, struct addrs *a, struct pxf_error *err)
{
        int r = parse_netmask(c->netmask, &a->mask, err);

        if (r == 0)
                r = check_range(c, a, err);
        if (r == 0 && c->router) {
                r = parse_ipv4("router", c->router, &a->router, err);
                if (r == 0 && (a->router & a->mask) != (a->server & a->mask))
                        return bad(err, "router", c->router, "is not in the server's subnet");
        }
        if (r == 0 && c->lease_seconds &&
            (c->lease_seconds < DHCP_LEASE_SECONDS_MIN ||
             c->lease_seconds > DHCP_LEASE_SECONDS_MAX))
                return pxf_error_set(err, -EINVAL, "lease_seconds %u is outside %u..%u",
                                     c->lease_seconds, DHCP_LEASE_SECONDS_MIN,
                                     DHCP_LEASE_SECONDS_MAX);
        return r;
}

/* Over HTTP the file becomes "<base>/<file>", which must fit the BOOTP file field. */
static int check_url_length(const char *base, const char *file, struct pxf_error *err)
{
        if (base && file && strlen(base) + 1 + strlen(file) > DHCP_BOOT_FILE_MAX)
                return bad(err, "http_base_url", base,
                           "makes boot URLs longer than the 127 bytes DHCP can carry");
        return 0;
}

static int check_boot_files(const struct dhcp_config *c, const struct dhcp_boot_files *b,
                            struct pxf_error *err)
{
        int r = check_boot_file("uefi_x64", b->uefi_x64, err);

        if (r == 0)
                r = check_boot_file("uefi_arm64", b->uefi_arm64, err);
        if (r == 0)
                r = check_boot_file("bios", b->bios, err);
        if (r == 0 && !b->uefi_x64 && !b->uefi_arm64 && !b->bios)
                r = pxf_error_set(err, -ENOENT,
                                  "no boot file to offer: the artifacts have no " DHCP_UEFI_X64_FILE
                                  ", " DHCP_UEFI_ARM64_FILE " or BIOS loader");
        if (r == 0)
                r = check_boot_file("uefi_x64_http", b->uefi_x64_http, err);
        if (r == 0)
                r = check_boot_file("uefi_arm64_http", b->uefi_arm64_http, err);
        if (r == 0)
                r = check_boot_file("ipxe_script", b->ipxe_script, err);
        if (r == 0)
                r = check_url_length(c->http_base_url, b->uefi_x64_http, err);
        if (r == 0)
                r = check_url_length(c->http_base_url, b->uefi_arm64_http, err);
        if (r == 0)
                r = check_url_length(c->http_base_url, b->ipxe_script, err);
        return r;
}

static int check_config(const struct dhcp_config *c, const struct dhcp_boot_files *b,
                        struct addrs *a, struct pxf_error *err)
{
        int r;

        if (c->mode != DHCP_PROXY && c->mode != DHCP_AUTHORITATIVE)
                return pxf_error_set(err, -EINVAL, "mode %d is neither proxy nor authoritative",
                                     (int)c->mode);
        r = check_interface(c->interface, err);
        if (r == 0)
                r = parse_ipv4("server_address", c->server_address, &a->server, err);
        if (r == 0)
                r = check_lease_file(c->lease_file, err);
        if (r == 0)
                r = check_http_url(c->http_base_url, err);
        if (r == 0 && c->mode == DHCP_AUTHORITATIVE)
                r = check_authoritative(c, a, err);
        if (r == 0 && c->mode == DHCP_PROXY && c->netmask)
                r = parse_netmask(c->netmask, &a->mask, err);
        if (r == 0)
                r = check_boot_files(c, b, err);
        return r;
}

/* Addresses are written from the parsed values, never copied from the input. */
static const char *ip(uint32_t host_order, char buf[static INET_ADDRSTRLEN])
{
        struct in_addr a = {.s_addr = htonl(host_order)};

        return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void write_common(FILE *f, const struct dhcp_config *c)
{
        fprintf(f,
                "# dnsmasq configuration generated by pxeforge (dhcp-glue); do not edit.\n"
                "# mode: %s\n"
                "# DNS off; no TFTP here (pxeforge's tftpd serves the boot files).\n"
                "port=0\n"
                "no-resolv\n"
                "no-hosts\n"
                "interface=%s\n"
                "except-interface=lo\n"
                "bind-interfaces\n"
                "log-dhcp\n"
                "dhcp-no-override\n"
                "dhcp-leasefile=%s\n",
                c->mode == DHCP_PROXY ? "proxy" : "authoritative", c->interface, c->lease_file);
}

static void write_range(FILE *f, const struct dhcp_config *c, const struct addrs *a)
{
        char s1[INET_ADDRSTRLEN], s2[INET_ADDRSTRLEN], s3[INET_ADDRSTRLEN];

        if (c->mode == DHCP_PROXY && c->netmask) {
                fprintf(f, "dhcp-range=%s,proxy,%s\n", ip(a->server & a->mask, s1),
                        ip(a->mask, s2));
                return;
        }
        if (c->mode == DHCP_PROXY) {
                fprintf(f, "dhcp-range=%s,proxy\n", ip(a->server, s1));
                return;
        }
        fprintf(f, "dhcp-authoritative\n");
        fprintf(f, "dhcp-range=%s,%s,%s,%u\n", ip(a->start, s1), ip(a->end, s2), ip(a->mask, s3),
                c->lease_seconds ? c->lease_seconds : DHCP_LEASE_SECONDS_DEFAULT);
        if (c->router)
                fprintf(f, "dhcp-option=option:router,%s\n", ip(a->router, s1));
        else
                fprintf(f, "# no router: dnsmasq would otherwise announce itself as one\n"
                           "dhcp-option=option:router\n");
}

/* iPXE's own binaries, by their file names: handed to an iPXE client, each would loop. */
static bool is_ipxe_binary(const char *path)
{
        static const char *const names[] = {"undionly.kpxe", "ipxe.pxe", "snponly.efi", "ipxe.efi"};
        const char *base = path ? strrchr(path, '/') : NULL;

        base = base ? base + 1 : path;
        for (size_t i = 0; base && i < PXF_ELEMENTSOF(names); i++)
                if (strcmp(base, names[i]) == 0)
                        return true;
        return false;
}

static bool offers_ipxe(const struct dhcp_boot_files *b)
{
        return b->ipxe_script || is_ipxe_binary(b->bios) || is_ipxe_binary(b->uefi_x64) ||
               is_ipxe_binary(b->uefi_x64_http) || is_ipxe_binary(b->uefi_arm64) ||
               is_ipxe_binary(b->uefi_arm64_http);
}

static void write_tags(FILE *f, const struct dhcp_config *c, const struct dhcp_boot_files *b)
{
        fprintf(f, "# client architecture (option 93) -> tag\n");
        if (b->bios)
                fprintf(f, "dhcp-match=set:bios,option:client-arch,0\n");
        if (b->uefi_x64)
                fprintf(f, "dhcp-match=set:efi-x64,option:client-arch,7\n"
                           "dhcp-match=set:efi-x64,option:client-arch,9\n");
        if (b->uefi_arm64)
                fprintf(f, "dhcp-match=set:efi-arm64,option:client-arch,11\n");
        if (c->http_base_url && b->uefi_x64_http)
                fprintf(f, "dhcp-match=set:efi-x64-http,option:client-arch,16\n");
        if (c->http_base_url && b->uefi_arm64_http)
                fprintf(f, "dhcp-match=set:efi-arm64-http,option:client-arch,19\n");
        if (offers_ipxe(b))
                fprintf(f, "# iPXE (option 175) is never handed a loader again: that would "
                           "loop\n"
                           "dhcp-match=set:ipxe,175\n");
}

/* Proxy DHCP answers only through pxe-service; with exactly one service per architecture
 * dnsmasq puts the file straight into the reply, which broken UEFI menus need. */
static void write_proxy_boot(FILE *f, const struct dhcp_boot_files *b, const char *server)
{
        if (b->uefi_x64)
                fprintf(f,
                        "pxe-service=tag:!ipxe,x86-64_EFI,\"pxeforge UEFI x64\",%s,%s\n"
                        "pxe-service=tag:!ipxe,BC_EFI,\"pxeforge UEFI x64\",%s,%s\n",
                        b->uefi_x64, server, b->uefi_x64, server);
        if (b->uefi_arm64)
                fprintf(f, "pxe-service=tag:!ipxe,ARM64_EFI,\"pxeforge UEFI arm64\",%s,%s\n",
                        b->uefi_arm64, server);
        if (b->bios)
                fprintf(f, "pxe-service=tag:!ipxe,x86PC,\"pxeforge BIOS\",%s,%s\n", b->bios,
                        server);
}

static void write_authoritative_boot(FILE *f, const struct dhcp_boot_files *b, const char *server)
{
        if (b->uefi_x64)
                fprintf(f, "dhcp-boot=tag:efi-x64,tag:!ipxe,%s,,%s\n", b->uefi_x64, server);
        if (b->uefi_arm64)
                fprintf(f, "dhcp-boot=tag:efi-arm64,tag:!ipxe,%s,,%s\n", b->uefi_arm64, server);
        if (b->bios)
                fprintf(f, "dhcp-boot=tag:bios,tag:!ipxe,%s,,%s\n", b->bios, server);
}

static int base_length(const char *base)
{
        int n = (int)strlen(base);

        while (n > 0 && base[n - 1] == '/')
                n--;
        return n;
}

/* UEFI HTTP boot: the reply must carry option 60 "HTTPClient" and a URL as the file. */
static void write_http_boot(FILE *f, const struct dhcp_config *c, const struct dhcp_boot_files *b)
{
        const char *base = c->http_base_url;
        int n;

        if (!base || (!b->uefi_x64_http && !b->uefi_arm64_http))
                return;
        n = base_length(base);
        fprintf(f, "# UEFI HTTP boot\n");
        if (c->mode == DHCP_PROXY)
                fprintf(f, "dhcp-pxe-vendor=PXEClient,HTTPClient\n");
        if (b->uefi_x64_http && c->mode == DHCP_AUTHORITATIVE)
                fprintf(f, "dhcp-option-force=tag:efi-x64-http,60,HTTPClient\n");
        if (b->uefi_x64_http)
                fprintf(f, "dhcp-boot=tag:efi-x64-http,%.*s/%s\n", n, base, b->uefi_x64_http);
        if (b->uefi_arm64_http && c->mode == DHCP_AUTHORITATIVE)
                fprintf(f, "dhcp-option-force=tag:efi-arm64-http,60,HTTPClient\n");
        if (b->uefi_arm64_http)
                fprintf(f, "dhcp-boot=tag:efi-arm64-http,%.*s/%s\n", n, base, b->uefi_arm64_http);
}

/* iPXE, from a NIC's ROM or chained from the folder, fetches its script over HTTP; the
 * tag:!ipxe on every other line keeps it from being handed a loader again. In proxy mode
 * the answer goes through pxe-service like every other, one per architecture. */
static void write_ipxe(FILE *f, const struct dhcp_config *c, const struct dhcp_boot_files *b)
{
        static const char *const csa[] = {"x86PC", "BC_EFI", "x86-64_EFI", "ARM64_EFI"};
        const char *base = c->http_base_url;
        int n;

        if (!base || !b->ipxe_script)
                return;
        n = base_length(base);
        fprintf(f, "# iPXE clients: the script over HTTP\n");
        if (c->mode == DHCP_AUTHORITATIVE) {
                fprintf(f, "dhcp-boot=tag:ipxe,%.*s/%s\n", n, base, b->ipxe_script);
                return;
        }
        for (size_t i = 0; i < PXF_ELEMENTSOF(csa); i++)
                fprintf(f, "pxe-service=tag:ipxe,%s,\"pxeforge iPXE\",%.*s/%s\n", csa[i], n, base,
                        b->ipxe_script);
}

static bool any_ignored(const struct grp_set *g)
{
        if (g->fallback.kind == GRP_IGNORE)
                return true;
        for (size_t i = 0; i < g->n_rules; i++)
                if (g->rules[i].target.kind == GRP_IGNORE)
                        return true;
        return false;
}

/* The client-arch values (option 93) of each PXF_ARCH_* bit, in bit order. */
static const int arch_values[PXF_ARCH_COUNT][2] = {{0, -1}, {7, 9}, {16, -1}, {11, -1}, {19, -1}};

static void write_arch_tags(FILE *f, unsigned used)
{
        for (unsigned b = 0; b < PXF_ARCH_COUNT; b++)
                for (int v = 0; (used & (1u << b)) && v < 2 && arch_values[b][v] >= 0; v++)
                        fprintf(f, "dhcp-match=set:pxf-arch-%s,option:client-arch,%d\n",
                                pxf_arch_name(1u << b), arch_values[b][v]);
}

/* Rule i's tag pxf-rule<i>: its MACs and (any of) its architectures. */
static void write_rule_tag(FILE *f, size_t i, const struct grp_rule *r)
{
        if (r->mac_len) {
                fprintf(f, "dhcp-mac=set:pxf-mac%zu", i);
                for (unsigned o = 0; o < 6; o++)
                        if (o < r->mac_len)
                                fprintf(f, "%c%02x", o ? ':' : ',', r->mac[o]);
                        else
                                fputs(":*", f);
                fputc('\n', f);
        }
        for (unsigned b = 0; b < PXF_ARCH_COUNT; b++)
                if (r->arches & (1u << b))
                        fprintf(f, "tag-if=set:pxf-arch%zu,tag:pxf-arch-%s\n", i,
                                pxf_arch_name(1u << b));
        fprintf(f, "tag-if=set:pxf-rule%zu", i);
        if (r->mac_len)
                fprintf(f, ",tag:pxf-mac%zu", i);
        if (r->arches)
                fprintf(f, ",tag:pxf-arch%zu", i);
        fputc('\n', f);
}

/* Machines the groups send to ignore get no answer: the first group that holds a machine
 * decides, as in pxeforge-server (status/groups.h). */
static void write_ignored(FILE *f, const struct grp_set *g)
{
        unsigned used = 0;

        if (!g || !any_ignored(g))
                return;
        fprintf(f, "# machine groups: who gets no answer (the first group holding a machine "
                   "decides)\n");
        for (size_t i = 0; i < g->n_rules; i++)
                used |= g->rules[i].arches;
        write_arch_tags(f, used);
        for (size_t i = 0; i < g->n_rules; i++) {
                write_rule_tag(f, i, &g->rules[i]);
                if (g->rules[i].target.kind == GRP_IGNORE)
                        fprintf(f, "tag-if=set:pxf-ignore,tag:pxf-rule%zu,tag:!pxf-decided\n", i);
                fprintf(f, "tag-if=set:pxf-decided,tag:pxf-rule%zu\n", i);
        }
        if (g->fallback.kind == GRP_IGNORE)
                fprintf(f, "tag-if=set:pxf-ignore,tag:!pxf-decided\n");
        fprintf(f, "dhcp-ignore=tag:pxf-ignore\n");
}

int dhcp_config_render(const struct dhcp_config *c, const struct dhcp_boot_files *b,
                       char **ret_text, struct pxf_error *err)
{
        struct addrs a = {0};
        char server[INET_ADDRSTRLEN];
        char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r = check_config(c, b, &a, err);

        if (r < 0)
                return r;
        f = open_memstream(&text, &len);
        if (!f)
                return pxf_error_set(err, -errno, "cannot allocate the dnsmasq configuration: %m");
        ip(a.server, server);
        write_common(f, c);
        write_range(f, c, &a);
        write_tags(f, c, b);
        write_ignored(f, c->groups);
        fprintf(f, "# boot files (TFTP from %s)\n", server);
        if (c->mode == DHCP_PROXY)
                write_proxy_boot(f, b, server);
        else
                write_authoritative_boot(f, b, server);
        write_http_boot(f, c, b);
        write_ipxe(f, c, b);
        if (fclose(f) != 0) {
                free(text);
                return pxf_error_set(err, -ENOMEM, "cannot write the dnsmasq configuration");
        }
        *ret_text = text;
        return 0;
}

char **dhcp_boot_notes(const struct dhcp_config *c, const struct dhcp_boot_files *b)
{
        char **v = pxf_calloc(1, sizeof *v);

        if (!b->uefi_x64)
                pxf_strv_push(&v, "x64 UEFI clients (arch 7, 9) get no boot file: the artifacts "
                                  "have no " DHCP_UEFI_X64_FILE);
        if (!b->uefi_arm64)
                pxf_strv_push(&v, "arm64 UEFI clients (arch 11) get no boot file: the artifacts "
                                  "have no " DHCP_UEFI_ARM64_FILE);
        if (!b->bios)
                pxf_strv_push(&v, "BIOS clients (arch 0) get no boot file: the artifacts have no "
                                  "BIOS loader (set server.bios: true for GRUB, or server.ipxe: "
                                  "fallback for iPXE)");
        if (!c->http_base_url)
                pxf_strv_push(&v, "UEFI HTTP boot clients (arch 16, 19) get no boot URL: no HTTP "
                                  "base URL is configured");
        else if (!b->uefi_x64_http && !b->uefi_arm64_http) {
                _cleanup_free_ char *why =
                    pxf_asprintf("UEFI HTTP boot clients (arch 16, 19) get no boot URL: %s",
                                 b->uefi_http_why_not ? b->uefi_http_why_not
                                                      : "the artifacts have no UEFI loader");
                pxf_strv_push(&v, why);
        }
        if (!c->http_base_url || !b->ipxe_script)
                pxf_strv_push(&v, offers_ipxe(b) ? "iPXE clients get no boot file: the artifacts "
                                                   "have no boot.ipxe, or no HTTP base URL is "
                                                   "configured"
                                                 : "iPXE clients (a NIC's iPXE ROM) are "
                                                   "answered as the PXE clients they also are");
        return v;
}

int dhcp_boot_files_from_dir(const char *dir, struct dhcp_boot_files *ret, struct pxf_error *err)
{
        static const char *const bios[] = DHCP_BIOS_FILES;
        struct dhcp_boot_files b = {0};
        struct stat st;

        if (stat(dir, &st) < 0)
                return pxf_error_set(err, -errno, "artifacts folder %s: %m", dir);
        if (!S_ISDIR(st.st_mode))
                return pxf_error_set(err, -ENOTDIR, "artifacts folder %s is not a directory", dir);
        for (size_t i = 0; i < 2 + PXF_ELEMENTSOF(bios); i++) {
                const char *name = i == 0   ? DHCP_UEFI_X64_FILE
                                   : i == 1 ? DHCP_UEFI_ARM64_FILE
                                            : bios[i - 2];
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, name);
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (i == 0)
                        b.uefi_x64 = b.uefi_x64_http = name;
                else if (i == 1)
                        b.uefi_arm64 = b.uefi_arm64_http = name;
                else if (!b.bios)
                        b.bios = name;
        }
        *ret = b;
        return 0;
}
