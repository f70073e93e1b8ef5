/* Unit tests of the dnsmasq.conf generator (dhcp_config_render and friends).
 *
 * Generated text is compared with golden/<case>.conf. To update the golden files after a
 * deliberate change, run the cases with PXF_UPDATE_GOLDEN=1 and review the diff:
 *   PXF_UPDATE_GOLDEN=1 ctest --test-dir build/default -R unit.test-dhcp-conf.golden
 *   git diff tests/dhcp-glue/golden
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dhcp-glue/dhcp-glue.h"

static const struct dhcp_boot_files x64_only = {.uefi_x64 = "bootx64.efi",
                                                .uefi_x64_http = "bootx64.efi"};
static const struct dhcp_boot_files all_files = {.uefi_x64 = "bootx64.efi",
                                                 .uefi_arm64 = "bootaa64.efi",
                                                 .bios = "undionly.kpxe",
                                                 .uefi_x64_http = "bootx64.efi",
                                                 .uefi_arm64_http = "bootaa64.efi",
                                                 .ipxe_script = "boot.ipxe"};

static struct dhcp_config proxy_config(void)
{
        return (struct dhcp_config){.mode = DHCP_PROXY,
                                    .interface = "eno1",
                                    .server_address = "192.168.1.10",
                                    .netmask = "255.255.255.0",
                                    .lease_file = "/run/pxeforge/dnsmasq.leases"};
}

static struct dhcp_config auth_config(void)
{
        return (struct dhcp_config){.mode = DHCP_AUTHORITATIVE,
                                    .interface = "pxfbr0",
                                    .server_address = "10.77.0.1",
                                    .range_start = "10.77.0.50",
                                    .range_end = "10.77.0.150",
                                    .netmask = "255.255.255.0",
                                    .lease_file = "/run/pxeforge/dnsmasq.leases"};
}

static void check_golden(const char *name, const char *text)
{
        _cleanup_free_ char *path = pxf_asprintf("golden/%s.conf", name);
        _cleanup_free_ char *want = NULL;
        const char *update = getenv("PXF_UPDATE_GOLDEN");
        size_t len;

        if (update && !strcmp(update, "1")) {
                FILE *f = fopen(path, "we");
                assert_non_null(f);
                assert_int_equal(fputs(text, f) >= 0, 1);
                assert_int_equal(fclose(f), 0);
                return;
        }
        assert_int_equal(pxf_read_file(path, 1 << 20, &want, &len), 0);
        assert_string_equal(text, want);
}

static void render_golden(const char *name, const struct dhcp_config *c,
                          const struct dhcp_boot_files *b)
{
        _cleanup_free_ char *text = NULL;
        struct pxf_error err = {0};

        assert_int_equal(dhcp_config_render(c, b, &text, &err), 0);
        check_golden(name, text);
}

static void golden_proxy_x64(void **state)
{
        struct dhcp_config c = proxy_config();

        (void)state;
        render_golden("proxy-x64", &c, &x64_only);
}

static void golden_proxy_all(void **state)
{
        struct dhcp_config c = proxy_config();

        (void)state;
        c.netmask = NULL; /* the interface's own */
        c.http_base_url = "http://192.168.1.10:8080/pxe/";
        render_golden("proxy-all", &c, &all_files);
}

static void golden_authoritative_x64(void **state)
{
        struct dhcp_config c = auth_config();

        (void)state;
        render_golden("authoritative-x64", &c, &x64_only);
}

static void golden_authoritative_all(void **state)
{
        struct dhcp_config c = auth_config();

        (void)state;
        c.router = "10.77.0.254";
        c.lease_seconds = 600;
        c.http_base_url = "http://10.77.0.1";
        render_golden("authoritative-all", &c, &all_files);
}

static void golden_authoritative_arm64_bios(void **state)
{
        struct dhcp_config c = auth_config();
        struct dhcp_boot_files b = {.uefi_arm64 = "bootaa64.efi", .bios = "pxelinux.0"};

        (void)state;
        render_golden("authoritative-arm64-bios", &c, &b);
}

/* Machine groups that ignore: by MAC, by prefix and architectures, and by default. */
static void golden_proxy_groups(void **state)
{
        static const char *const lines[] = {
            "begin",
            "rule 52:54:00:77:00:01 * build:a always",
            "rule 52:54:00:88 bios,efi-x64-http ignore always",
            "rule 52:54:00 * local once",
            "default ignore",
            "end",
        };
        struct dhcp_config c = proxy_config();
        struct grp_set set = {0};

        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(lines); i++)
                assert_true(grp_parse_line(&set, lines[i]) >= 0);
        c.groups = &set;
        c.http_base_url = "http://192.168.1.10:8080/";
        render_golden("proxy-groups", &c, &all_files);
        grp_clear(&set);
}

/* Renders and expects failure with code and a message containing want. */
static void expect_error(const struct dhcp_config *c, const struct dhcp_boot_files *b, int code,
                         const char *want)
{
        _cleanup_free_ char *text = NULL;
        struct pxf_error err = {0};
        int r = dhcp_config_render(c, b, &text, &err);

        if (r != code || !strstr(err.msg, want))
                fail_msg("want %d \"%s\", got %d \"%s\"", code, want, r, err.msg);
        assert_null(text);
        /* The message never carries a raw control character from the input. */
        for (const char *p = err.msg; *p; p++)
                assert_true((unsigned char)*p >= 0x20);
}

static void injection_interface(void **state)
{
        static const char *const bad[] = {"eth0\nenable-tftp",     "eth0,lo", "eth 0", "eth0#",
                                          "averyveryverylongname", "",        "..",    "eth0/x"};
        struct dhcp_config c = auth_config();

        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(bad); i++) {
                c.interface = bad[i];
                expect_error(&c, &x64_only, -EINVAL,
                             i == 5 ? "interface is missing" : "interface \"");
        }
        c.interface = "eth0\nenable-tftp";
        expect_error(&c, &x64_only, -EINVAL, "interface \"eth0\\x0aenable-tftp\" is not a safe");
}

static void injection_paths_and_files(void **state)
{
        struct dhcp_config c = auth_config();
        struct dhcp_boot_files b = x64_only;

        (void)state;
        c.lease_file = "/run/x.leases\nenable-tftp";
        expect_error(&c, &b, -EINVAL, "lease_file \"/run/x.leases\\x0aenable-tftp\"");
        c.lease_file = "relative.leases";
        expect_error(&c, &b, -EINVAL, "is not a safe absolute path");
        c.lease_file = "/run/a b";
        expect_error(&c, &b, -EINVAL, "lease_file");
        c.lease_file = "/run/../etc/x";
        expect_error(&c, &b, -EINVAL, "lease_file");
        c = auth_config();
        b.uefi_x64 = "bootx64.efi,,6.6.6.6";
        expect_error(&c, &b, -EINVAL, "uefi_x64 \"bootx64.efi,,6.6.6.6\" is not a safe boot file");
        b.uefi_x64 = "boot\nx";
        expect_error(&c, &b, -EINVAL, "uefi_x64");
        b.uefi_x64 = "/abs.efi";
        expect_error(&c, &b, -EINVAL, "uefi_x64");
        b.uefi_x64 = "../up.efi";
        expect_error(&c, &b, -EINVAL, "uefi_x64");
        b = x64_only;
        b.bios = "pxe linux.0";
        expect_error(&c, &b, -EINVAL, "bios \"pxe linux.0\"");
        b = x64_only;
        b.uefi_arm64 = "a\"b";
        expect_error(&c, &b, -EINVAL, "uefi_arm64 \"a\\x22b\"");
}

static void injection_url(void **state)
{
        struct dhcp_config c = auth_config();

        (void)state;
        c.http_base_url = "ftp://10.0.0.1/";
        expect_error(&c, &x64_only, -EINVAL, "does not start with http://");
        c.http_base_url = "http://10.0.0.1/a,b";
        expect_error(&c, &x64_only, -EINVAL, "has characters other than");
        c.http_base_url = "http://10.0.0.1/\ndhcp-range=1.1.1.1,proxy";
        expect_error(&c, &x64_only, -EINVAL, "has characters other than");
        c.http_base_url = "http://server.example/";
        expect_error(&c, &x64_only, -EINVAL, "does not name its host by an IPv4 address");
        c.http_base_url =
            "http://10.0.0.1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        expect_error(&c, &x64_only, -EINVAL, "longer than the 127 bytes");
}

static void bad_addresses(void **state)
{
        struct dhcp_config c = auth_config();

        (void)state;
        c.server_address = "10.77.0.1\n";
        expect_error(&c, &x64_only, -EINVAL, "server_address \"10.77.0.1\\x0a\" is not an IPv4");
        c.server_address = "10.77.0";
        expect_error(&c, &x64_only, -EINVAL, "server_address \"10.77.0\" is not an IPv4");
        c.server_address = "fe80::1";
        expect_error(&c, &x64_only, -EINVAL, "is not an IPv4 address");
        c.server_address = NULL;
        expect_error(&c, &x64_only, -EINVAL, "server_address is missing");
        c = auth_config();
        c.netmask = "255.0.255.0";
        expect_error(&c, &x64_only, -EINVAL, "netmask \"255.0.255.0\" is not a netmask");
        c.netmask = "0.0.0.0";
        expect_error(&c, &x64_only, -EINVAL, "is not a netmask");
        c.netmask = NULL;
        expect_error(&c, &x64_only, -EINVAL, "netmask is missing");
        c = auth_config();
        c.range_start = "10.77.0.x";
        expect_error(&c, &x64_only, -EINVAL, "range_start \"10.77.0.x\" is not an IPv4");
        c = auth_config();
        c.range_end = NULL;
        expect_error(&c, &x64_only, -EINVAL, "range_end is missing");
        c = auth_config();
        c.router = "10.77.1.1";
        expect_error(&c, &x64_only, -EINVAL, "router \"10.77.1.1\" is not in the server's subnet");
        c = proxy_config();
        c.netmask = "255.255.0.255";
        expect_error(&c, &x64_only, -EINVAL, "is not a netmask");
}

static void range_outside_subnet(void **state)
{
        struct dhcp_config c = auth_config();

        (void)state;
        c.range_start = "10.78.0.50";
        expect_error(&c, &x64_only, -EINVAL,
                     "range_start \"10.78.0.50\" is not a host address in the server's subnet");
        c = auth_config();
        c.range_end = "10.77.1.10";
        expect_error(&c, &x64_only, -EINVAL, "range_end \"10.77.1.10\" is not a host address");
        c = auth_config();
        c.range_end = "10.77.0.255";
        expect_error(&c, &x64_only, -EINVAL, "range_end \"10.77.0.255\" is not a host address");
        c = auth_config();
        c.range_start = "10.77.0.0";
        expect_error(&c, &x64_only, -EINVAL, "range_start \"10.77.0.0\"");
        c = auth_config();
        c.range_start = "10.77.0.160";
        expect_error(&c, &x64_only, -EINVAL, "range_end \"10.77.0.150\" is below range_start");
        c = auth_config();
        c.server_address = "10.77.0.60";
        expect_error(&c, &x64_only, -EINVAL, "lies inside the range it would hand out");
        c = auth_config();
        c.server_address = "10.77.0.255";
        expect_error(&c, &x64_only, -EINVAL, "is the network or broadcast address");
}

static void other_errors(void **state)
{
        struct dhcp_config c = auth_config();
        struct dhcp_boot_files none = {0};

        (void)state;
        expect_error(&c, &none, -ENOENT, "no boot file to offer");
        c.lease_seconds = 60;
        expect_error(&c, &x64_only, -EINVAL, "lease_seconds 60 is outside 120..31536000");
        c = auth_config();
        c.lease_file = NULL;
        expect_error(&c, &x64_only, -EINVAL, "lease_file is missing");
        c = auth_config();
        c.mode = (enum dhcp_mode)7;
        expect_error(&c, &x64_only, -EINVAL, "mode 7 is neither proxy nor authoritative");
}

static bool strv_has(char **v, const char *part)
{
        for (; v && *v; v++)
                if (strstr(*v, part))
                        return true;
        return false;
}

static void notes_name_skipped_architectures(void **state)
{
        struct dhcp_config c = auth_config();
        _cleanup_strv_free_ char **n1 = dhcp_boot_notes(&c, &x64_only);
        _cleanup_strv_free_ char **n2 = NULL;

        (void)state;
        assert_true(strv_has(n1, "BIOS clients (arch 0) get no boot file: the artifacts have no "
                                 "BIOS loader"));
        assert_true(strv_has(n1, "arm64 UEFI clients (arch 11) get no boot file"));
        assert_true(strv_has(n1, "no HTTP base URL"));
        assert_false(strv_has(n1, "x64 UEFI clients (arch 7, 9)"));
        assert_true(strv_has(n1, "iPXE clients (a NIC's iPXE ROM) are answered as the PXE "
                                 "clients they also are"));
        c.http_base_url = "http://10.77.0.1";
        n2 = dhcp_boot_notes(&c, &all_files);
        assert_int_equal(pxf_strv_length(n2), 0); /* every client is served */
}

/* iPXE handed to a client must not be handed to it again once it runs: any iPXE binary
 * among the loaders brings the option 175 tag, even without a script for iPXE. */
static void ipxe_binaries_bring_the_loop_guard(void **state)
{
        struct dhcp_config c = auth_config();
        struct dhcp_boot_files b = x64_only;
        _cleanup_free_ char *plain = NULL, *with_ipxe = NULL;
        _cleanup_strv_free_ char **n = NULL;
        struct pxf_error err = {0};

        (void)state;
        assert_int_equal(dhcp_config_render(&c, &b, &plain, &err), 0);
        assert_null(strstr(plain, "dhcp-match=set:ipxe,175"));
        b.bios = "ipxe/undionly.kpxe";
        assert_int_equal(dhcp_config_render(&c, &b, &with_ipxe, &err), 0);
        assert_non_null(strstr(with_ipxe, "dhcp-match=set:ipxe,175\n"));
        assert_non_null(strstr(with_ipxe, "dhcp-boot=tag:bios,tag:!ipxe,ipxe/undionly.kpxe,"));
        n = dhcp_boot_notes(&c, &b);
        assert_true(strv_has(n, "iPXE clients get no boot file"));
}

/* A folder whose GRUB cannot boot over HTTP: the note tells why HTTP boot is off. */
static void notes_say_why_no_http_boot(void **state)
{
        struct dhcp_config c = auth_config();
        struct dhcp_boot_files b = all_files;
        _cleanup_strv_free_ char **n = NULL;

        (void)state;
        c.http_base_url = "http://10.77.0.1";
        b.uefi_x64_http = b.uefi_arm64_http = NULL;
        b.uefi_http_why_not = "GRUB has no HTTP client";
        n = dhcp_boot_notes(&c, &b);
        assert_true(strv_has(n, "UEFI HTTP boot clients (arch 16, 19) get no boot URL: GRUB has no "
                                "HTTP client"));
}

static void touch(const char *dir, const char *name)
{
        _cleanup_free_ char *p = pxf_asprintf("%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        close(fd);
}

static void boot_files_from_dir(void **state)
{
        char dir[] = "/tmp/pxf-dhcp-files-XXXXXX";
        struct dhcp_boot_files b;
        struct pxf_error err = {0};

        (void)state;
        assert_non_null(mkdtemp(dir));
        assert_int_equal(dhcp_boot_files_from_dir(dir, &b, &err), 0);
        assert_null(b.uefi_x64);
        assert_null(b.uefi_arm64);
        assert_null(b.bios);
        touch(dir, "bootx64.efi");
        touch(dir, "pxelinux.0");
        touch(dir, "ipxe.pxe");
        _cleanup_free_ char *sub = pxf_asprintf("%s/bootaa64.efi", dir);
        assert_int_equal(mkdir(sub, 0755), 0); /* a directory is not a loader */
        assert_int_equal(dhcp_boot_files_from_dir(dir, &b, &err), 0);
        assert_string_equal(b.uefi_x64, "bootx64.efi");
        assert_null(b.uefi_arm64);
        assert_string_equal(b.bios, "ipxe.pxe"); /* preferred over pxelinux.0 */
        assert_int_equal(pxf_rm_rf(dir), 0);
        assert_int_equal(dhcp_boot_files_from_dir(dir, &b, &err), -ENOENT);
        assert_non_null(strstr(err.msg, dir));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(golden_proxy_x64),
            cmocka_unit_test(golden_proxy_all),
            cmocka_unit_test(golden_authoritative_x64),
            cmocka_unit_test(golden_authoritative_all),
            cmocka_unit_test(golden_authoritative_arm64_bios),
            cmocka_unit_test(golden_proxy_groups),
            cmocka_unit_test(ipxe_binaries_bring_the_loop_guard),
            cmocka_unit_test(injection_interface),
            cmocka_unit_test(injection_paths_and_files),
            cmocka_unit_test(injection_url),
            cmocka_unit_test(bad_addresses),
            cmocka_unit_test(range_outside_subnet),
            cmocka_unit_test(other_errors),
            cmocka_unit_test(notes_name_skipped_architectures),
            cmocka_unit_test(notes_say_why_no_http_boot),
            cmocka_unit_test(boot_files_from_dir),
        };

        return pxf_test_main(tests, argc, argv);
}
