/* Integration tests of the dnsmasq supervisor with the real dnsmasq (label integration).
 *
 * Needs root and dnsmasq-base; fails (never skips) without them. Each case runs in its own
 * process (one CTest entry per case) and first moves into private network namespaces
 * (unshare), so its links and addresses vanish when it exits:
 *   client ns: dhc0 (no address) -- the DHCP client written below
 *   server ns: dhs0 10.77.0.1/24 (authoritative) or br0 10.77.0.1/24 (proxy), dnsmasq
 *   lan ns   : dhl0 10.77.0.2/24, a plain dnsmasq playing the LAN's DHCP server (proxy)
 * The namespaces are joined by veth pairs; the client's socket is created inside the
 * client namespace and keeps it, so one single-threaded process drives everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "dhcp-glue/dhcp-glue.h"

#define SERVER_IP "10.77.0.1"
#define LAN_IP    "10.77.0.2"
#define BOOTP_MIN 300

/* ---- environment ---------------------------------------------------------------------- */

static void require_root_and_dnsmasq(void)
{
        if (geteuid() != 0)
                fail_msg("this test needs root (network namespaces, port 67); run it as root");
        if (access("/usr/sbin/dnsmasq", X_OK) < 0)
                fail_msg("dnsmasq is not installed: apt-get install dnsmasq-base");
}

static void run(const char *a0, ...)
{
        const char *argv[24] = {a0};
        struct pxf_error err = {0};
        size_t n = 1;
        va_list ap;

        va_start(ap, a0);
        while (n < PXF_ELEMENTSOF(argv) - 1 && (argv[n] = va_arg(ap, const char *)))
                n++;
        va_end(ap);
        argv[n] = NULL;
        if (pxf_spawn_run(argv, NULL, &err) < 0)
                fail_msg("%s", err.msg);
}

static int new_netns(void)
{
        int fd;

        assert_int_equal(unshare(CLONE_NEWNET), 0);
        fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        run("ip", "link", "set", "lo", "up", NULL);
        return fd;
}

static void enter(int nsfd)
{
        assert_int_equal(setns(nsfd, CLONE_NEWNET), 0);
}

/* A veth pair: `here` in the current namespace, `there` in the namespace nsfd. */
static void veth(const char *here, const char *there, int nsfd)
{
        _cleanup_free_ char *path = pxf_asprintf("/proc/%d/fd/%d", (int)getpid(), nsfd);

        run("ip", "link", "add", here, "type", "veth", "peer", "name", there, "netns", path, NULL);
}

struct net {
        int client_ns, server_ns, lan_ns;
        const char *ifname; /* the server's interface */
};

/* Client and server namespaces; with a LAN server: a bridge in the server namespace. */
static void net_setup(struct net *n, bool with_lan)
{
        n->client_ns = new_netns();
        n->lan_ns = with_lan ? new_netns() : -1;
        n->server_ns = new_netns();
        n->ifname = with_lan ? "br0" : "dhs0";
        if (with_lan) {
                run("ip", "link", "add", "br0", "type", "bridge", NULL);
                veth("dha0", "dhc0", n->client_ns);
                veth("dhb0", "dhl0", n->lan_ns);
                run("ip", "link", "set", "dha0", "master", "br0", "up", NULL);
                run("ip", "link", "set", "dhb0", "master", "br0", "up", NULL);
        } else {
                veth("dhs0", "dhc0", n->client_ns);
        }
        run("ip", "addr", "add", SERVER_IP "/24", "dev", n->ifname, NULL);
        run("ip", "link", "set", n->ifname, "up", NULL);
        if (with_lan) {
                enter(n->lan_ns);
                run("ip", "addr", "add", LAN_IP "/24", "dev", "dhl0", NULL);
                run("ip", "link", "set", "dhl0", "up", NULL);
        }
        enter(n->client_ns);
        run("ip", "link", "set", "dhc0", "up", NULL);
        enter(n->server_ns);
}

/* ---- a small DHCP client ------------------------------------------------------------- */

struct reply {
        uint8_t type; /* option 53 */
        struct in_addr yiaddr, siaddr, server_id;
        char file[129];
        char vendor[64];      /* option 60 */
        char bootfile[256];   /* option 67 */
        bool has_vendor_opts; /* option 43 */
};

static int client_socket(int client_ns, int server_ns)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(68)};
        int one = 1, fd;

        enter(client_ns);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one), 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "dhc0", 4), 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        enter(server_ns);
        return fd;
}

static size_t put_opt(uint8_t *p, size_t o, uint8_t code, const void *data, size_t len)
{
        p[o] = code;
        p[o + 1] = (uint8_t)len;
        memcpy(p + o + 2, data, len);
        return o + 2 + len;
}

/* type 1 DISCOVER or 3 REQUEST (with requested and server id), from client arch `arch`,
 * with option 60 "<cls>:Arch:<arch>:UNDI:003016" unless cls is NULL (a plain client). */
static size_t build_packet(uint8_t *p, uint32_t xid, uint8_t type, uint16_t arch, const char *cls,
                           const struct reply *offer)
{
        static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
        static const uint8_t cookie[4] = {99, 130, 83, 99};
        static const uint8_t prl[] = {1, 3, 6, 43, 54, 60, 66, 67, 97};
        uint8_t arch_be[2] = {(uint8_t)(arch >> 8), (uint8_t)arch};
        uint8_t ndi[3] = {1, 3, 16}, uuid[17] = {0, 1, 2, 3};
        char vendor[40];
        size_t o;

        memset(p, 0, 548);
        p[0] = 1; /* BOOTREQUEST */
        p[1] = 1; /* Ethernet */
        p[2] = 6;
        memcpy(p + 4, &xid, 4);
        p[10] = 0x80; /* broadcast flag: we have no address to be sent to */
        memcpy(p + 28, mac, sizeof mac);
        memcpy(p + 236, cookie, sizeof cookie);
        o = put_opt(p, 240, 53, &type, 1);
        o = put_opt(p, o, 93, arch_be, 2);
        o = put_opt(p, o, 94, ndi, 3);
        o = put_opt(p, o, 97, uuid, sizeof uuid);
        o = put_opt(p, o, 55, prl, sizeof prl);
        if (cls) {
                (void)snprintf(vendor, sizeof vendor, "%s:Arch:%05u:UNDI:003016", cls, arch);
                o = put_opt(p, o, 60, vendor, strlen(vendor));
        }
        if (offer) {
                o = put_opt(p, o, 50, &offer->yiaddr, 4);
                o = put_opt(p, o, 54, &offer->server_id, 4);
        }
        p[o++] = 255;
        return o < BOOTP_MIN ? BOOTP_MIN : o;
}

static void send_to(int fd, const uint8_t *p, size_t len, const char *ip, uint16_t port)
{
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};

        assert_int_equal(inet_pton(AF_INET, ip, &to.sin_addr), 1);
        assert_int_equal(sendto(fd, p, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
}

static void send_packet(int fd, const uint8_t *p, size_t len)
{
        send_to(fd, p, len, "255.255.255.255", 67);
}

static void copy_str(char *dst, size_t size, const uint8_t *src, size_t len)
{
        if (len >= size)
                len = size - 1;
        memcpy(dst, src, len);
        dst[len] = '\0';
}

static bool parse_reply(const uint8_t *p, size_t n, uint32_t xid, struct reply *r)
{
        size_t o = 240;

        memset(r, 0, sizeof *r);
        if (n < 240 || p[0] != 2 || memcmp(p + 4, &xid, 4) != 0)
                return false;
        memcpy(&r->yiaddr, p + 16, 4);
        memcpy(&r->siaddr, p + 20, 4);
        copy_str(r->file, sizeof r->file, p + 108, strnlen((const char *)p + 108, 128));
        while (o + 2 <= n && p[o] != 255) {
                uint8_t code = p[o], len = p[o + 1];
                const uint8_t *d = p + o + 2;
                if (code == 0) {
                        o++;
                        continue;
                }
                if (o + 2 + len > n)
                        break;
                if (code == 53 && len == 1)
                        r->type = d[0];
                else if (code == 54 && len == 4)
                        memcpy(&r->server_id, d, 4);
                else if (code == 60)
                        copy_str(r->vendor, sizeof r->vendor, d, len);
                else if (code == 67)
                        copy_str(r->bootfile, sizeof r->bootfile, d, len);
                else if (code == 43)
                        r->has_vendor_opts = true;
                o += 2 + (size_t)len;
        }
        return true;
}

/* Collects the replies to xid that arrive within ms (at most max). */
static size_t receive(int fd, uint32_t xid, int ms, struct reply *out, size_t max)
{
        uint64_t deadline = pxf_now_usec() + (uint64_t)ms * 1000;
        size_t got = 0;
        uint8_t buf[1500];

        while (got < max && pxf_now_usec() < deadline) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int left = (int)((deadline - pxf_now_usec()) / 1000) + 1;
                if (poll(&p, 1, left) <= 0)
                        continue;
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n > 0 && parse_reply(buf, (size_t)n, xid, &out[got]))
                        got++;
        }
        return got;
}

static bool ip_is(struct in_addr a, const char *want)
{
        char s[INET_ADDRSTRLEN];

        return strcmp(inet_ntop(AF_INET, &a, s, sizeof s), want) == 0;
}

/* ---- supervisor helpers ------------------------------------------------------------- */

struct fixture {
        struct net net;
        char dir[64];
        struct event_base *base;
        char *conf;
        const struct grp_set *groups; /* machine groups rendered into the config */
};

static void fixture_init(struct fixture *f, bool with_lan)
{
        require_root_and_dnsmasq();
        net_setup(&f->net, with_lan);
        (void)snprintf(f->dir, sizeof f->dir, "/tmp/pxf-dhcp-test-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->base = event_base_new();
        assert_non_null(f->base);
}

static void fixture_done(struct fixture *f)
{
        free(f->conf);
        event_base_free(f->base);
        (void)pxf_rm_rf(f->dir);
}

static void render_full(struct fixture *f, enum dhcp_mode mode, const struct dhcp_boot_files *b,
                        const char *url, const char *netmask)
{
        _cleanup_free_ char *leases = pxf_asprintf("%s/dnsmasq.leases", f->dir);
        struct dhcp_config c = {.mode = mode,
                                .interface = f->net.ifname,
                                .server_address = SERVER_IP,
                                .range_start = "10.77.0.50",
                                .range_end = "10.77.0.150",
                                .netmask = netmask,
                                .lease_file = leases,
                                .http_base_url = url,
                                .groups = f->groups};
        struct pxf_error err = {0};

        if (dhcp_config_render(&c, b, &f->conf, &err) < 0)
                fail_msg("%s", err.msg);
}

static void render_url(struct fixture *f, enum dhcp_mode mode, const struct dhcp_boot_files *b,
                       const char *url)
{
        render_full(f, mode, b, url, "255.255.255.0");
}

static void render(struct fixture *f, enum dhcp_mode mode, const struct dhcp_boot_files *b)
{
        render_url(f, mode, b, NULL);
}

static struct dhcp_supervisor_opts opts_for(struct fixture *f)
{
        return (struct dhcp_supervisor_opts){.config_text = f->conf,
                                             .runtime_dir = f->dir,
                                             .interface = f->net.ifname,
                                             .backoff_ms = 200,
                                             .grace_ms = 2000};
}

static struct dhcp_supervisor *start_ok(struct fixture *f)
{
        struct dhcp_supervisor_opts o = opts_for(f);
        struct dhcp_supervisor *s = NULL;
        struct pxf_error err = {0};

        if (dhcp_supervisor_start(f->base, &o, &s, &err) < 0)
                fail_msg("dhcp_supervisor_start: %s", err.msg);
        return s;
}

static pid_t current_pid(const struct dhcp_supervisor *s)
{
        struct dhcp_supervisor_stats st;

        dhcp_supervisor_get_stats(s, &st);
        return st.pid;
}

static bool process_gone(pid_t pid)
{
        return kill(pid, 0) < 0 && errno == ESRCH;
}

/* Runs the loop for up to ms, or until done(s) holds. */
static void loop_until(struct event_base *base, int ms, bool (*done)(const void *), const void *arg)
{
        uint64_t deadline = pxf_now_usec() + (uint64_t)ms * 1000;
        struct timeval tick = {.tv_usec = 50000};

        while (!done(arg) && pxf_now_usec() < deadline) {
                (void)event_base_loopexit(base, &tick);
                (void)event_base_dispatch(base);
        }
}

static const struct dhcp_boot_files x64_only = {.uefi_x64 = "bootx64.efi",
                                                .uefi_x64_http = "bootx64.efi"};

/* ---- (a) authoritative ---------------------------------------------------------------- */

static void authoritative_offer_and_ack(void **state)
{
        struct fixture f = {0};
        struct reply r[4], offer;
        uint8_t pkt[548];
        size_t len;
        int fd;

        (void)state;
        fixture_init(&f, false);
        render(&f, DHCP_AUTHORITATIVE, &x64_only);
        struct dhcp_supervisor *s = start_ok(&f);
        fd = client_socket(f.net.client_ns, f.net.server_ns);

        len = build_packet(pkt, 0x1111, 1, 7, "PXEClient", NULL);
        send_packet(fd, pkt, len);
        assert_int_equal(receive(fd, 0x1111, 5000, r, 1), 1);
        offer = r[0];
        assert_int_equal(offer.type, 2); /* OFFER */
        uint32_t y = ntohl(offer.yiaddr.s_addr);
        assert_true(y >= ntohl(inet_addr("10.77.0.50")) && y <= ntohl(inet_addr("10.77.0.150")));
        assert_string_equal(offer.file, "bootx64.efi");
        assert_true(ip_is(offer.siaddr, SERVER_IP));
        assert_true(ip_is(offer.server_id, SERVER_IP));

        len = build_packet(pkt, 0x2222, 3, 7, "PXEClient", &offer);
        send_packet(fd, pkt, len);
        assert_int_equal(receive(fd, 0x2222, 5000, r, 1), 1);
        assert_int_equal(r[0].type, 5); /* ACK */
        assert_int_equal(r[0].yiaddr.s_addr, offer.yiaddr.s_addr);
        assert_string_equal(r[0].file, "bootx64.efi");

        /* A BIOS client: the artifacts have no BIOS loader, so an address and no file. */
        len = build_packet(pkt, 0x3333, 1, 0, "PXEClient", NULL);
        send_packet(fd, pkt, len);
        assert_int_equal(receive(fd, 0x3333, 5000, r, 1), 1);
        assert_int_equal(r[0].type, 2);
        assert_string_equal(r[0].file, "");

        s = dhcp_supervisor_free(s);
        close(fd);
        fixture_done(&f);
}

/* ---- (b) proxy next to a LAN server ----------------------------------------------------- */

/* Reads a dnsmasq's stderr until its "started" line: its sockets are bound by then. */
static void wait_for_started(int fd)
{
        uint64_t deadline = pxf_now_usec() + 5000000;
        char buf[4096] = "";
        size_t len = 0;

        while (!strstr(buf, "started, version") && pxf_now_usec() < deadline) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                (void)poll(&p, 1, 100);
                ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
                if (n > 0)
                        len += (size_t)n;
                buf[len] = '\0';
        }
        if (!strstr(buf, "started, version"))
                fail_msg("the LAN's dnsmasq did not start: %s", buf);
}

static pid_t start_lan_server(struct fixture *f, int *ret_errfd)
{
        _cleanup_free_ char *leases = pxf_asprintf("--dhcp-leasefile=%s/lan.leases", f->dir);
        const char *argv[] = {"/usr/sbin/dnsmasq",
                              "--keep-in-foreground",
                              "--log-facility=-",
                              "--pid-file",
                              "--conf-file=/dev/null",
                              "--port=0",
                              "--interface=dhl0",
                              "--bind-interfaces",
                              "--dhcp-range=10.77.0.100,10.77.0.200,255.255.255.0",
                              leases,
                              NULL};
        struct pxf_error err = {0};
        pid_t pid;

        enter(f->net.lan_ns);
        if (pxf_spawn_start(argv, NULL, &pid, ret_errfd, &err) < 0)
                fail_msg("%s", err.msg);
        enter(f->net.server_ns);
        wait_for_started(*ret_errfd);
        return pid;
}

/* The proxy beside the LAN's server, and a client's socket (f.groups set or not). */
struct proxy_run {
        struct fixture f;
        pid_t lan_pid;
        int lan_err, fd;
        struct dhcp_supervisor *s;
};

static void proxy_start(struct proxy_run *p)
{
        fixture_init(&p->f, true);
        render(&p->f, DHCP_PROXY, &x64_only);
        p->lan_pid = start_lan_server(&p->f, &p->lan_err);
        p->s = start_ok(&p->f);
        p->fd = client_socket(p->f.net.client_ns, p->f.net.server_ns);
}

static void proxy_stop(struct proxy_run *p)
{
        p->s = dhcp_supervisor_free(p->s);
        assert_int_equal(kill(p->lan_pid, SIGTERM), 0);
        assert_int_equal(waitpid(p->lan_pid, NULL, 0), p->lan_pid);
        close(p->lan_err);
        close(p->fd);
        fixture_done(&p->f);
}

static void proxy_answers_pxe_clients(void **state)
{
        struct proxy_run p = {0};
        struct reply r[4];
        const struct reply *lan = NULL, *proxy = NULL;
        uint8_t pkt[548];
        size_t n, len;
        int fd;

        (void)state;
        proxy_start(&p);
        fd = p.fd;

        send_packet(fd, pkt, build_packet(pkt, 0x4444, 1, 7, "PXEClient", NULL));
        n = receive(fd, 0x4444, 4000, r, 4);
        for (size_t i = 0; i < n; i++) {
                if (ip_is(r[i].server_id, LAN_IP))
                        lan = &r[i];
                if (ip_is(r[i].server_id, SERVER_IP))
                        proxy = &r[i];
        }
        assert_non_null(lan);
        if (!proxy)
                fail_msg("no answer from the proxy (%zu replies)", n);

        /* The LAN server gives the address and no boot information... */
        assert_int_equal(lan->type, 2);
        assert_int_not_equal(lan->yiaddr.s_addr, 0);
        assert_string_equal(lan->file, "");
        /* ...the proxy no address, but PXEClient, and (a UEFI client) it sends the client on
         * to itself, port 4011, for the boot file. */
        assert_int_equal(proxy->type, 2);
        assert_int_equal(proxy->yiaddr.s_addr, 0);
        assert_string_equal(proxy->vendor, "PXEClient");
        assert_true(ip_is(proxy->siaddr, SERVER_IP));

        /* The client took the LAN's address and asks the proxy on port 4011, as UEFI PXE
         * does: the ACK carries the file and our TFTP server (one service per architecture:
         * no menu). */
        enter(p.f.net.client_ns);
        run("ip", "addr", "add", "10.77.0.150/24", "dev", "dhc0", NULL);
        enter(p.f.net.server_ns);
        len = build_packet(pkt, 0x4545, 3, 7, "PXEClient", NULL);
        assert_int_equal(inet_pton(AF_INET, "10.77.0.150", pkt + 12), 1); /* ciaddr */
        send_to(fd, pkt, len, SERVER_IP, 4011);
        assert_int_equal(receive(fd, 0x4545, 4000, r, 1), 1);
        assert_int_equal(r[0].type, 5); /* ACK */
        assert_string_equal(r[0].vendor, "PXEClient");
        assert_string_equal(r[0].file, "bootx64.efi");
        assert_true(ip_is(r[0].siaddr, SERVER_IP));

        /* A plain (non-PXE) client gets nothing from the proxy. */
        send_packet(fd, pkt, build_packet(pkt, 0x5555, 1, 7, NULL, NULL));
        n = receive(fd, 0x5555, 2000, r, 4);
        for (size_t i = 0; i < n; i++)
                assert_false(ip_is(r[i].server_id, SERVER_IP));
        proxy_stop(&p);
}

/* ---- (b2) machine groups that say ignore ------------------------------------------------ */

/* The groups of text (status/groups.h). */
static void read_groups(const char *text, struct grp_set *set)
{
        _cleanup_free_ char *copy = pxf_strdup(text);
        char *save = NULL;

        *set = (struct grp_set){0};
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                assert_true(grp_parse_line(set, l) >= 0);
        assert_true(set->complete);
}

/* Whether the authoritative server answers a DISCOVER of the test client (MAC
 * 52:54:00:12:34:56) of architecture arch. */
static bool answered(int fd, uint32_t xid, uint16_t arch)
{
        struct reply r[1];
        uint8_t pkt[548];

        send_packet(fd, pkt, build_packet(pkt, xid, 1, arch, "PXEClient", NULL));
        return receive(fd, xid, 4000, r, 1) == 1; /* dnsmasq pings an address before it offers it */
}

/* The first group that holds a machine decides; an ignored one gets no answer at all. */
static void groups_ignore_authoritative(void **state)
{
        static const char *const sets[] = {
            /* this MAC as a BIOS client is ignored, as UEFI it boots */
            "begin\nrule 52:54:00:12:34:56 bios ignore always\ndefault build:a\nend\n",
            /* an earlier group holds it as UEFI: the later ignore of its prefix is moot */
            "begin\nrule 52:54:00 efi-x64 build:b always\nrule 52:54 * ignore always\n"
            "default build:a\nend\n",
            /* nobody but 02:... is answered */
            "begin\nrule 02:00 * build:a always\ndefault ignore\nend\n",
        };
        static const bool uefi_answered[] = {true, true, false},
                          bios_answered[] = {false, false, false};
        (void)state;

        for (size_t i = 0; i < PXF_ELEMENTSOF(sets); i++) {
                struct fixture f = {0};
                struct grp_set set;
                int fd;

                read_groups(sets[i], &set);
                f.groups = &set;
                fixture_init(&f, false);
                render(&f, DHCP_AUTHORITATIVE, &x64_only);
                struct dhcp_supervisor *s = start_ok(&f);
                fd = client_socket(f.net.client_ns, f.net.server_ns);
                if (answered(fd, 0x6600 + (uint32_t)i, 7) != uefi_answered[i])
                        fail_msg("set %zu: the UEFI client was %sanswered:\n%s", i,
                                 uefi_answered[i] ? "not " : "", f.conf);
                if (answered(fd, 0x6700 + (uint32_t)i, 0) != bios_answered[i])
                        fail_msg("set %zu: the BIOS client was %sanswered", i,
                                 bios_answered[i] ? "not " : "");
                s = dhcp_supervisor_free(s);
                close(fd);
                grp_clear(&set);
                fixture_done(&f);
        }
}

/* In proxy mode too: an ignored machine gets the LAN's answer alone. */
static void groups_ignore_proxy(void **state)
{
        struct proxy_run p = {0};
        struct reply r[4];
        struct grp_set set;
        uint8_t pkt[548];
        size_t n;

        (void)state;
        read_groups("begin\nrule 52:54:00:12:34:56 * ignore always\ndefault build:a\nend\n", &set);
        p.f.groups = &set;
        proxy_start(&p);
        send_packet(p.fd, pkt, build_packet(pkt, 0x6800, 1, 7, "PXEClient", NULL));
        n = receive(p.fd, 0x6800, 4000, r, 4);
        bool lan = false;
        for (size_t i = 0; i < n; i++) {
                lan = lan || ip_is(r[i].server_id, LAN_IP);
                if (ip_is(r[i].server_id, SERVER_IP))
                        fail_msg("the proxy answered an ignored machine");
        }
        assert_true(lan); /* the exchange itself worked */
        proxy_stop(&p);
        grp_clear(&set);
}

/* UEFI HTTP boot (arch 16): the answer carries option 60 HTTPClient and the URL. */
static void http_boot_client(void **state, bool proxy)
{
        struct fixture f = {0};
        struct reply r[4];
        const struct reply *ours = NULL;
        uint8_t pkt[548];
        int fd, lan_err = -1;
        pid_t lan_pid = 0;
        size_t n;

        (void)state;
        fixture_init(&f, proxy);
        render_url(&f, proxy ? DHCP_PROXY : DHCP_AUTHORITATIVE, &x64_only,
                   "http://" SERVER_IP ":8080/pxe/");
        if (proxy) { /* and the proxy range without a netmask: the interface's own */
                assert_non_null(strstr(f.conf, "dhcp-range=10.77.0.0,proxy,255.255.255.0\n"));
                free(f.conf);
                f.conf = NULL;
                render_full(&f, DHCP_PROXY, &x64_only, "http://" SERVER_IP ":8080/pxe/", NULL);
                assert_non_null(strstr(f.conf, "dhcp-range=" SERVER_IP ",proxy\n"));
        }
        if (proxy)
                lan_pid = start_lan_server(&f, &lan_err);
        struct dhcp_supervisor *s = start_ok(&f);
        fd = client_socket(f.net.client_ns, f.net.server_ns);

        send_packet(fd, pkt, build_packet(pkt, 0x7777, 1, 16, "HTTPClient", NULL));
        n = receive(fd, 0x7777, 4000, r, 4);
        for (size_t i = 0; i < n; i++)
                if (ip_is(r[i].server_id, SERVER_IP))
                        ours = &r[i];
        if (!ours)
                fail_msg("no answer from pxeforge's dnsmasq (%zu replies)", n);
        assert_int_equal(ours->type, 2);
        assert_string_equal(ours->vendor, "HTTPClient");
        assert_string_equal(ours->file[0] ? ours->file : ours->bootfile,
                            "http://" SERVER_IP ":8080/pxe/bootx64.efi");
        if (proxy)
                assert_int_equal(ours->yiaddr.s_addr, 0);

        s = dhcp_supervisor_free(s);
        if (proxy) {
                assert_int_equal(kill(lan_pid, SIGTERM), 0);
                assert_int_equal(waitpid(lan_pid, NULL, 0), lan_pid);
                close(lan_err);
        }
        close(fd);
        fixture_done(&f);
}

static void http_boot_authoritative(void **state)
{
        http_boot_client(state, false);
}

static void http_boot_proxy(void **state)
{
        http_boot_client(state, true);
}

/* ---- (c) restart, (d) stop --------------------------------------------------------------- */

struct restart_wait {
        const struct dhcp_supervisor *s;
        pid_t old;
};

static bool restarted(const void *arg)
{
        const struct restart_wait *w = arg;
        pid_t now = current_pid(w->s);

        return now != 0 && now != w->old;
}

/* Sends stderr (pxeforge's log) into a file for the duration, to read what was logged. */
static int capture_log_begin(const char *path)
{
        int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(saved >= 0 && fd >= 0);
        fflush(stderr);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        close(fd);
        return saved;
}

static char *capture_log_end(int saved, const char *path)
{
        char *text = NULL;
        size_t len;

        fflush(stderr);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        assert_int_equal(pxf_read_file(path, 1 << 20, &text, &len), 0);
        fputs(text, stderr); /* keep it visible in the test output */
        return text;
}

static void restart_after_kill(void **state)
{
        struct fixture f = {0};
        struct reply r[1];
        uint8_t pkt[548];

        (void)state;
        fixture_init(&f, false);
        render(&f, DHCP_AUTHORITATIVE, &x64_only);
        _cleanup_free_ char *logpath = pxf_asprintf("%s/log", f.dir);
        int saved = capture_log_begin(logpath);
        struct dhcp_supervisor *s = start_ok(&f);
        struct restart_wait w = {.s = s, .old = current_pid(s)};

        assert_true(w.old > 0);
        assert_int_equal(kill(w.old, SIGKILL), 0);
        loop_until(f.base, 10000, restarted, &w);
        _cleanup_free_ char *log = capture_log_end(saved, logpath);
        assert_true(restarted(&w));
        assert_true(process_gone(w.old));
        assert_non_null(strstr(log, "error: dnsmasq was killed by signal 9 (Killed) after"));
        assert_non_null(strstr(log, "restarting it in 0.2 s"));
        assert_non_null(strstr(log, "dnsmasq: dnsmasq[")); /* forwarded lines */

        /* The new dnsmasq serves. */
        int fd = client_socket(f.net.client_ns, f.net.server_ns);
        struct timeval settle = {.tv_usec = 500000};
        (void)event_base_loopexit(f.base, &settle);
        (void)event_base_dispatch(f.base);
        send_packet(fd, pkt, build_packet(pkt, 0x6666, 1, 9, "PXEClient", NULL));
        assert_int_equal(receive(fd, 0x6666, 5000, r, 1), 1);
        assert_string_equal(r[0].file, "bootx64.efi");

        pid_t last = current_pid(s);
        s = dhcp_supervisor_free(s);
        assert_true(process_gone(last));
        close(fd);
        fixture_done(&f);
}

static void stop_leaves_no_process(void **state)
{
        struct fixture f = {0};
        char proc[64];
        struct stat st;

        (void)state;
        fixture_init(&f, false);
        render(&f, DHCP_AUTHORITATIVE, &x64_only);
        struct dhcp_supervisor *s = start_ok(&f);
        pid_t pid = current_pid(s);

        assert_true(pid > 0 && !process_gone(pid));
        uint64_t t0 = pxf_now_usec();
        s = dhcp_supervisor_free(s);
        assert_null(s);
        assert_true(pxf_now_usec() - t0 < 2000000); /* SIGTERM sufficed */
        assert_true(process_gone(pid));
        (void)snprintf(proc, sizeof proc, "/proc/%d", (int)pid);
        assert_int_equal(stat(proc, &st), -1);
        /* Nothing left to reap either: it was our child and was waited for. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        fixture_done(&f);
}

/* The first line of a /proc file, "" when there is none. */
static void proc_line(const char *pid, const char *name, char *buf, size_t size)
{
        _cleanup_free_ char *path = pxf_asprintf("/proc/%s/%s", pid, name);
        FILE *f = fopen(path, "re");
        size_t n = 0;

        buf[0] = '\0';
        if (!f)
                return;
        n = fread(buf, 1, size - 1, f);
        fclose(f);
        buf[n] = '\0';
        for (size_t i = 0; i < n; i++) /* the command line's separators, comm's newline */
                if (buf[i] == '\0' || buf[i] == '\n')
                        buf[i] = ' ';
}

/* The dnsmasq whose command line names dir (its config is there), or 0. */
static pid_t dnsmasq_of(const char *dir)
{
        DIR *proc = opendir("/proc");
        struct dirent *e;
        pid_t found = 0;
        char comm[64], cmd[4096];

        assert_non_null(proc);
        while (!found && (e = readdir(proc))) {
                proc_line(e->d_name, "comm", comm, sizeof comm);
                if (strcmp(comm, "dnsmasq ") != 0)
                        continue;
                proc_line(e->d_name, "cmdline", cmd, sizeof cmd);
                if (strstr(cmd, dir))
                        found = (pid_t)atoi(e->d_name);
        }
        closedir(proc);
        return found;
}

/* dnsmasq drops to its user, which clears any parent-death signal it had: when the
 * process that supervises it is killed outright (kill -9 of `pxeforge serve`), dnsmasq
 * must still go, and free port 67 for the next start. */
static void a_killed_supervisor_takes_dnsmasq_along(void **state)
{
        struct fixture f = {0};
        int ready[2];
        char c = 0;
        pid_t supervisor, dnsmasq;

        (void)state;
        fixture_init(&f, false);
        render(&f, DHCP_AUTHORITATIVE, &x64_only);
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        supervisor = fork();
        assert_true(supervisor >= 0);
        if (supervisor == 0) {
                /* Gone with the test if an assertion ends it first. */
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                struct dhcp_supervisor *s = start_ok(&f);

                (void)s;
                (void)!write(ready[1], "1", 1);
                for (;;)
                        (void)event_base_dispatch(f.base);
        }
        assert_int_equal(read(ready[0], &c, 1), 1);
        dnsmasq = dnsmasq_of(f.dir);
        assert_true(dnsmasq > 0);
        char pid_text[16], status[4096];
        (void)snprintf(pid_text, sizeof pid_text, "%d", (int)dnsmasq);
        proc_line(pid_text, "status", status, sizeof status);
        assert_non_null(strstr(status, "Uid:\t"));
        assert_null(strstr(status, "Uid:\t0\t")); /* it did drop to its user */
        assert_int_equal(kill(supervisor, SIGKILL), 0);
        assert_int_equal(waitpid(supervisor, NULL, 0), supervisor);
        for (int i = 0; i < 50 && !process_gone(dnsmasq); i++)
                (void)usleep(100000);
        assert_true(process_gone(dnsmasq));
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(67)};
        assert_int_equal(bind(fd, (struct sockaddr *)&any, sizeof any), 0); /* port 67 free */
        close(fd);
        close(ready[0]);
        close(ready[1]);
        fixture_done(&f);
}

/* A dnsmasq that does not react to SIGTERM (stopped) is killed after the grace period. */
static void stop_kills_after_grace(void **state)
{
        struct fixture f = {0};

        (void)state;
        fixture_init(&f, false);
        render(&f, DHCP_AUTHORITATIVE, &x64_only);
        struct dhcp_supervisor_opts o = opts_for(&f);
        struct dhcp_supervisor *s = NULL;
        struct pxf_error err = {0};
        o.grace_ms = 500;
        if (dhcp_supervisor_start(f.base, &o, &s, &err) < 0)
                fail_msg("%s", err.msg);
        pid_t pid = current_pid(s);
        _cleanup_free_ char *logpath = pxf_asprintf("%s/log", f.dir);
        int saved = capture_log_begin(logpath);

        assert_int_equal(kill(pid, SIGSTOP), 0);
        uint64_t t0 = pxf_now_usec();
        s = dhcp_supervisor_free(s);
        uint64_t took = pxf_now_usec() - t0;
        _cleanup_free_ char *log = capture_log_end(saved, logpath);
        assert_true(took >= 500000 && took < 3000000);
        assert_true(process_gone(pid));
        assert_non_null(strstr(log, "dnsmasq did not stop within 500 ms; killing it"));
        fixture_done(&f);
}

/* ---- log forwarding, with this program as a fake dnsmasq -------------------------------- */

#define FAKE_LONG 2000

/* What the fake dnsmasq writes to stderr before it waits for SIGTERM. */
static int fake_dnsmasq(bool test_mode)
{
        char long_line[FAKE_LONG + 2];

        if (test_mode)
                return 0;
        memset(long_line, 'x', FAKE_LONG);
        long_line[FAKE_LONG] = '\n';
        long_line[FAKE_LONG + 1] = '\0';
        fputs("plain line\n", stderr);
        fputs("esc \x1b[31mred\r\\ done\n", stderr);
        fputs(long_line, stderr);
        fputs("fake[1]: started, version fake\n", stderr);
        for (int i = 0; i < 120; i++)
                fprintf(stderr, "burst %d\n", i);
        fputs("last words without a newline", stderr);
        fflush(stderr);
        for (;;)
                pause();
}

static void log_lines_escaped_cut_and_limited(void **state)
{
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        struct fixture f = {0};

        (void)state;
        assert_true(n > 0);
        self[n] = '\0';
        fixture_init(&f, false);
        render(&f, DHCP_AUTHORITATIVE, &x64_only);
        _cleanup_free_ char *logpath = pxf_asprintf("%s/log", f.dir);
        int saved = capture_log_begin(logpath);
        struct dhcp_supervisor_opts o = opts_for(&f);
        struct dhcp_supervisor *s = NULL;
        struct pxf_error err = {0};
        pxf_log_set_level(PXF_LOG_DEBUG);
        o.dnsmasq = self;
        int r = dhcp_supervisor_start(f.base, &o, &s, &err);
        struct timeval tv = {.tv_usec = 300000};
        (void)event_base_loopexit(f.base, &tv);
        (void)event_base_dispatch(f.base);
        s = dhcp_supervisor_free(s);
        _cleanup_free_ char *log = capture_log_end(saved, logpath);
        _cleanup_free_ char *cut = pxf_calloc(1, DHCP_LOG_LINE_MAX + 16);

        if (r < 0)
                fail_msg("%s", err.msg);
        assert_non_null(strstr(log, "pxeforge: dnsmasq: plain line\n"));
        assert_non_null(strstr(log, "pxeforge: dnsmasq: esc \\x1b[31mred\\x0d\\x5c done\n"));
        memset(cut, 'x', DHCP_LOG_LINE_MAX);
        memcpy(cut + DHCP_LOG_LINE_MAX, "...\n", 4);
        assert_non_null(strstr(log, cut));
        cut[DHCP_LOG_LINE_MAX] = 'x'; /* never more than the cap */
        assert_null(strstr(log, cut));
        assert_non_null(strstr(log, "dnsmasq: burst 0\n"));
        /* 4 lines + 46 of the burst fill the second's 50 at info; the rest go to debug. */
        assert_non_null(strstr(log, "pxeforge: dnsmasq: burst 45\n"));
        assert_non_null(strstr(log, "pxeforge: debug: dnsmasq: burst 46\n"));
        assert_non_null(strstr(log, "pxeforge: debug: dnsmasq: burst 119\n"));
        assert_non_null(strstr(log, "pxeforge: debug: dnsmasq: last words without a newline\n"));
        assert_non_null(strstr(log, "pxeforge: dnsmasq: 75 more lines went to the debug log\n"));
        fixture_done(&f);
}

/* ---- (e) start-up errors ------------------------------------------------------------------ */

static void expect_start_error(struct fixture *f, const struct dhcp_supervisor_opts *o, int code,
                               const char *want)
{
        struct dhcp_supervisor *s = NULL;
        struct pxf_error err = {0};
        int r = dhcp_supervisor_start(f->base, o, &s, &err);

        if (r != code || !strstr(err.msg, want))
                fail_msg("want %d \"%s\", got %d \"%s\"", code, want, r, err.msg);
        assert_null(s);
        /* No dnsmasq was left running: it would be our child. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static int hold_port67(const char *device)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(67)};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        if (device)
                assert_int_equal(
                    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)),
                    0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        return fd;
}

static void startup_errors(void **state)
{
        struct fixture f = {0};
        struct dhcp_supervisor_opts o;
        struct pxf_error err = {0};
        char want[64];
        int fd;

        (void)state;
        fixture_init(&f, false);
        render(&f, DHCP_AUTHORITATIVE, &x64_only);

        o = opts_for(&f);
        o.dnsmasq = "/nonexistent/sbin/dnsmasq";
        expect_start_error(&f, &o, -ENOENT,
                           "dnsmasq is not installed (Debian package dnsmasq-base): "
                           "/nonexistent/sbin/dnsmasq");

        o = opts_for(&f);
        o.interface = "pxfnosuch0";
        expect_start_error(&f, &o, -ENODEV, "interface pxfnosuch0 does not exist");

        /* Port 67 held for every interface: found by the probe, with the holder named. */
        fd = hold_port67(NULL);
        (void)snprintf(want, sizeof want, "pid %d (", (int)getpid());
        o = opts_for(&f);
        expect_start_error(&f, &o, -EADDRINUSE, "UDP port 67 is busy on dhs0");
        expect_start_error(&f, &o, -EADDRINUSE, want);
        expect_start_error(&f, &o, -EADDRINUSE, "ss -ulpn sport = :67");
        close(fd);

        /* Held on another interface only: the probe passes, dnsmasq's own bind of
         * 0.0.0.0:67 fails, and that early exit becomes the same kind of error. */
        fd = hold_port67("lo");
        expect_start_error(&f, &o, -EADDRINUSE, "dnsmasq could not bind UDP port 67");
        close(fd);

        /* Any other early exit: dnsmasq's message is in the error. */
        o.user = "pxf-no-such-user";
        expect_start_error(&f, &o, -ECHILD, "pxf-no-such-user");

        /* A configuration dnsmasq rejects never starts. */
        o = opts_for(&f);
        o.config_text = "port=0\nno-such-option=1\n";
        expect_start_error(&f, &o, -ECHILD, "dnsmasq rejects the configuration");

        /* And after all that, it starts fine; also from a config file the caller wrote. */
        dhcp_supervisor_free(start_ok(&f));
        _cleanup_free_ char *path = pxf_asprintf("%s/own.conf", f.dir);
        FILE *file = fopen(path, "we");
        assert_non_null(file);
        assert_true(fputs(f.conf, file) >= 0);
        assert_int_equal(fclose(file), 0);
        struct dhcp_supervisor *s = NULL;
        o = opts_for(&f);
        o.config_text = NULL;
        o.config_path = path;
        if (dhcp_supervisor_start(f.base, &o, &s, &err) < 0)
                fail_msg("%s", err.msg);
        assert_true(current_pid(s) > 0);
        dhcp_supervisor_free(s);
        fixture_done(&f);
}

/* Every golden file of the generator is accepted by the real dnsmasq. */
static void golden_configs_pass_dnsmasq_test(void **state)
{
        static const char *const names[] = {"proxy-x64", "proxy-all", "authoritative-x64",
                                            "authoritative-all", "authoritative-arm64-bios"};
        struct pxf_error err = {0};

        (void)state;
        require_root_and_dnsmasq();
        for (size_t i = 0; i < PXF_ELEMENTSOF(names); i++) {
                _cleanup_free_ char *conf =
                    pxf_asprintf("--conf-file=%s/golden/%s.conf", PXF_TEST_DIR, names[i]);
                const char *argv[] = {"/usr/sbin/dnsmasq", "--test", conf, NULL};
                if (pxf_spawn_run(argv, NULL, &err) < 0)
                        fail_msg("%s: %s", names[i], err.msg);
        }
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(authoritative_offer_and_ack),
            cmocka_unit_test(proxy_answers_pxe_clients),
            cmocka_unit_test(groups_ignore_authoritative),
            cmocka_unit_test(groups_ignore_proxy),
            cmocka_unit_test(http_boot_authoritative),
            cmocka_unit_test(http_boot_proxy),
            cmocka_unit_test(restart_after_kill),
            cmocka_unit_test(stop_leaves_no_process),
            cmocka_unit_test(a_killed_supervisor_takes_dnsmasq_along),
            cmocka_unit_test(stop_kills_after_grace),
            cmocka_unit_test(log_lines_escaped_cut_and_limited),
            cmocka_unit_test(startup_errors),
            cmocka_unit_test(golden_configs_pass_dnsmasq_test),
        };

        for (int i = 1; i < argc; i++)
                if (!strcmp(argv[i], "--test") || !strcmp(argv[i], "--keep-in-foreground"))
                        return fake_dnsmasq(!strcmp(argv[i], "--test"));
        signal(SIGPIPE, SIG_IGN);
        return pxf_test_main(tests, argc, argv);
}
