/* Unit tests of dnsmasq's log lines as timeline events (status/dhcp-log.h), on lines as
 * dnsmasq 2.90 wrote them in the test bridge (tests/vm/appliance-*.sh): an authoritative
 * exchange, proxy answers, architectures, names that come before or after the MAC, and
 * lines that must change nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "status/dhcp-log.h"
#include "status/timeline.h"
#include "tests/lib/test-main.h"

#define T0 (1796560000ull * 1000000ull)

static char *json_of(const struct timeline *tl)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        tl_write_json(tl, f, T0, 120000000ull);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void assert_contains(const char *haystack, const char *needle)
{
        if (!strstr(haystack, needle))
                fail_msg("'%s' not in %s", needle, haystack);
}

/* The timeline's JSON after the lines, and how many machines it holds. */
static char *json_after(const char *const *lines, size_t n, size_t *ret_count)
{
        struct timeline *tl = tl_new(0);
        struct dhcp_log *d = dhcp_log_new(tl);
        char *json;

        for (size_t i = 0; i < n; i++)
                dhcp_log_line(d, lines[i], T0 + i);
        json = json_of(tl);
        *ret_count = tl_count(tl);
        dhcp_log_free(d);
        tl_free(tl);
        return json;
}

static void an_authoritative_exchange(void **state)
{
        static const char *const lines[] = {
            "dnsmasq-dhcp[2]: 2538711277 available DHCP range: 192.168.77.100 -- 192.168.77.200",
            "dnsmasq-dhcp[2]: 2538711277 vendor class: PXEClient:Arch:00007:UNDI:003000",
            "dnsmasq-dhcp[2]: 2538711277 DHCPDISCOVER(br0) 52:54:00:77:00:00 ",
            "dnsmasq-dhcp[2]: 2538711277 DHCPOFFER(br0) 192.168.77.198 52:54:00:77:00:00 ",
            "dnsmasq-dhcp[2]: 2538711277 requested options: 42:ntp-server, 43:vendor-encap, ",
            "dnsmasq-dhcp[2]: 2538711277 DHCPREQUEST(br0) 192.168.77.198 52:54:00:77:00:00 ",
            "dnsmasq-dhcp[2]: 2538711277 DHCPACK(br0) 192.168.77.198 52:54:00:77:00:00 rack1-n7",
            "dnsmasq-dhcp[2]: 2538711277 bootfile name: bootx64.efi",
        };
        size_t n;
        _cleanup_free_ char *json = json_after(lines, PXF_ELEMENTSOF(lines), &n);
        (void)state;

        assert_int_equal(n, 1);
        assert_contains(json, "\"mac\":\"52:54:00:77:00:00\",\"ip\":\"192.168.77.198\","
                              "\"hostname\":\"rack1-n7\",\"arch\":\"x86-64 UEFI\"");
        assert_contains(json, "\"stage\":\"dhcp\"");
}

/* Proxy mode: the PXE lines name the MAC; the address comes with a later DHCPACK (the
 * client's DHCPINFORM or boot-server request), the architecture from the vendor class of
 * UEFI HTTP boot, and the name after the MAC. */
static void proxy_answers_and_late_details(void **state)
{
        static const char *const lines[] = {
            "dnsmasq-dhcp[2]: 1554289716 vendor class: HTTPClient:Arch:00016:UNDI:003000",
            "dnsmasq-dhcp[2]: 1554289716 PXE(br0) 52:54:00:77:00:01 proxy",
            "dnsmasq-dhcp[2]: 1554289716 bootfile name: http://192.168.77.1:8089/bootx64.efi",
            "dnsmasq-dhcp[2]: 3298348296 DHCPACK(br0) 192.168.77.199 52:54:00:77:00:01 ",
            "dnsmasq-dhcp[2]: 3298348296 client provides name: pxf-bootstrap",
            /* the iPXE it chained, a PXE client again: the firmware's class stays */
            "dnsmasq-dhcp[2]: 1299147834 vendor class: PXEClient:Arch:00007:UNDI:003010",
            "dnsmasq-dhcp[2]: 1299147834 PXE(br0) 52:54:00:77:00:01 proxy",
        };
        size_t n;
        _cleanup_free_ char *json = json_after(lines, PXF_ELEMENTSOF(lines), &n);
        (void)state;

        assert_int_equal(n, 1);
        assert_contains(json, "\"mac\":\"52:54:00:77:00:01\",\"ip\":\"192.168.77.199\","
                              "\"hostname\":\"pxf-bootstrap\",\"arch\":\"x86-64 UEFI HTTP\"");
}

static void architectures(void **state)
{
        (void)state;
        assert_string_equal(dhcp_log_arch("PXEClient:Arch:00000:UNDI:002001"), "x86 BIOS");
        assert_string_equal(dhcp_log_arch("PXEClient:Arch:00007:UNDI:003000"), "x86-64 UEFI");
        assert_string_equal(dhcp_log_arch("PXEClient:Arch:00011"), "ARM64 UEFI");
        assert_string_equal(dhcp_log_arch("HTTPClient:Arch:00016:UNDI:003000"), "x86-64 UEFI HTTP");
        assert_string_equal(dhcp_log_arch("PXEClient:Arch:00042:UNDI:003000"), "unknown");
        assert_null(dhcp_log_arch("MSFT 5.0"));
        assert_null(dhcp_log_arch("PXEClient:Arch:x7"));
        assert_null(dhcp_log_arch("PXEClient:Arch:7x"));
}

/* dnsmasq's own lines, malformed and hostile ones: no machine, no crash. */
static void other_lines_change_nothing(void **state)
{
        static const char *const lines[] = {
            "dnsmasq[2]: started, version 2.90 DNS disabled",
            "dnsmasq-dhcp[2]: DHCP, proxy on subnet 192.168.77.0",
            "dnsmasq-dhcp[2]: DHCP, IP range 192.168.77.100 -- 192.168.77.200, lease time 1h",
            "dnsmasq-dhcp[2]: 12 DHCPACK(br0) 10.0.0.1 not-a-mac ",
            "dnsmasq-dhcp[2]: 12 DHCPACK(br0)",
            "dnsmasq-dhcp[2]: 12 DHCPACK(br0) 10.0.0.1 52:54:00:77:00:0",
            "dnsmasq-dhcp[2]: x12 DHCPACK(br0) 10.0.0.1 52:54:00:77:00:09 ",
            "dnsmasq-dhcp[2]: 13 client provides name: <script>",
            "dnsmasq-dhcp[2]: 13 vendor class: PXEClient:Arch:99999999999999999999999",
            "",
            "]: ",
            "dnsmasq-dhcp[2]: 14 DHCPACK(br0) 10.0.0.1 52:54:00:zz:00:09 ",
        };
        size_t n;
        _cleanup_free_ char *json = json_after(lines, PXF_ELEMENTSOF(lines), &n);
        (void)state;

        assert_int_equal(n, 0);
        assert_string_equal(json, "{\"nowMs\":1796560000000,\"machines\":[]}\n");
}

/* Old exchanges make way: a name that comes long after its exchange is not given to a
 * machine it never belonged to. */
static void exchanges_are_bounded(void **state)
{
        struct timeline *tl = tl_new(0);
        struct dhcp_log *d = dhcp_log_new(tl);
        _cleanup_free_ char *json = NULL;
        char line[128];
        (void)state;

        dhcp_log_line(d, "dnsmasq-dhcp[2]: 1 DHCPACK(br0) 10.0.0.1 52:54:00:77:00:01 ", T0);
        for (unsigned i = 0; i < DHCP_LOG_EXCHANGES; i++) {
                (void)snprintf(line, sizeof line, "dnsmasq-dhcp[2]: %u vendor class: x", 100 + i);
                dhcp_log_line(d, line, T0 + 1 + i);
        }
        dhcp_log_line(d, "dnsmasq-dhcp[2]: 1 client provides name: late", T0 + 200);
        json = json_of(tl);
        assert_null(strstr(json, "late"));
        dhcp_log_free(d);
        tl_free(tl);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(an_authoritative_exchange),
            cmocka_unit_test(proxy_answers_and_late_details),
            cmocka_unit_test(architectures),
            cmocka_unit_test(other_lines_change_nothing),
            cmocka_unit_test(exchanges_are_bounded),
        };

        return pxf_test_main(tests, argc, argv);
}
