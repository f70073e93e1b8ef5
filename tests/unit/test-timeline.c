/* Unit tests of the boot timeline (status/timeline.h): which stage a file stands for,
 * events filed by MAC and by address, the merge of an address-only entry, failures,
 * stalls, the cap on machines, and JSON that escapes what clients chose. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "status/timeline.h"
#include "tests/lib/test-main.h"

#define SEC   1000000ull
#define T0    (1796560000ull * SEC) /* a time in 2026 */
#define STALL (120 * SEC)
#define MAC_A "52:54:00:00:00:0a"
#define MAC_B "52:54:00:00:00:0b"

static char *json_of(const struct timeline *tl, uint64_t now)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        tl_write_json(tl, f, now, STALL);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void assert_contains(const char *haystack, const char *needle)
{
        if (!strstr(haystack, needle))
                fail_msg("'%s' not in %s", needle, haystack);
}

static void fetch(struct timeline *tl, const char *ip, enum tl_proto proto, const char *path,
                  uint64_t bytes, uint64_t size, enum tl_result result, uint64_t now)
{
        struct tl_transfer t = {
            .ip = ip, .proto = proto, .path = path, .bytes = bytes, .size = size, .result = result};

        tl_transfer(tl, &t, now);
}

static void files_map_to_stages(void **state)
{
        static const struct {
                const char *path;
                enum tl_stage stage;
        } cases[] = {
            {"bootx64.efi", TL_STAGE_LOADER},
            {"grub/grub.cfg", TL_STAGE_LOADER},
            {"ipxe/undionly.kpxe", TL_STAGE_LOADER},
            {"grub/i386-pc/core.0", TL_STAGE_LOADER},
            {"boot.ipxe", TL_STAGE_LOADER},
            {"vmlinuz", TL_STAGE_KERNEL},
            {"/boot/vmlinuz-6.1.0-13-amd64", TL_STAGE_KERNEL},
            {"initrd.img", TL_STAGE_INITRAMFS},
            {"INITRAMFS.IMG", TL_STAGE_INITRAMFS},
            {"image.iso", TL_STAGE_IMAGE},
            {"extra/readme.txt", TL_STAGE_NONE},
            {"manifest", TL_STAGE_NONE},
        };
        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(cases); i++)
                if (tl_stage_of_file(cases[i].path) != cases[i].stage)
                        fail_msg("%s: stage %s, expected %s", cases[i].path,
                                 tl_stage_name(tl_stage_of_file(cases[i].path)),
                                 tl_stage_name(cases[i].stage));
}

/* A whole bootstrap boot: DHCP, loader, menu, kernel and initramfs over TFTP, the ISO over
 * HTTP (its rate from two progress events), then the system's report. */
static void a_boot_goes_through_every_stage(void **state)
{
        struct timeline *tl = tl_new(0);
        _cleanup_free_ char *during = NULL, *after = NULL;
        (void)state;

        assert_int_equal(
            tl_dhcp(tl, "52-54-00-00-00-0A", "10.0.0.5", "rack1-n1", "x86-64 UEFI", T0), 0);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "bootx64.efi", 950000, 950000, TL_RESULT_DONE,
              T0 + SEC);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "grub/grub.cfg", 900, 900, TL_RESULT_DONE,
              T0 + 2 * SEC);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "vmlinuz", 1000, 8000000, TL_RESULT_DONE,
              T0 + 3 * SEC);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "initrd.img", 1000, 30000000, TL_RESULT_DONE,
              T0 + 5 * SEC);
        fetch(tl, "10.0.0.5", TL_PROTO_HTTP, "image.iso", 0, 300000000, TL_RESULT_RUNNING,
              T0 + 10 * SEC);
        fetch(tl, "10.0.0.5", TL_PROTO_HTTP, "image.iso", 100000000, 300000000, TL_RESULT_RUNNING,
              T0 + 20 * SEC);
        during = json_of(tl, T0 + 20 * SEC);
        assert_contains(during, "\"mac\":\"52:54:00:00:00:0a\",\"ip\":\"10.0.0.5\","
                                "\"hostname\":\"rack1-n1\",\"arch\":\"x86-64 UEFI\"");
        assert_contains(during, "\"stage\":\"image\",\"state\":\"booting\"");
        assert_contains(during, "\"file\":\"image.iso\",\"protocol\":\"http\",\"bytes\":100000000,"
                                "\"size\":300000000");
        assert_contains(during, "\"bytesPerSecond\":10000000}");
        assert_contains(during, "\"stages\":{\"dhcp\":1796560000000,\"loader\":1796560001000,"
                                "\"kernel\":1796560003000,\"initramfs\":1796560005000,"
                                "\"image\":1796560010000}");
        assert_int_equal(tl_booted(tl, "10.0.0.5",
                                   &(struct tl_report){MAC_A, "rack1-n1", "6.12.0-amd64", 95000},
                                   T0 + 95 * SEC),
                         0);
        after = json_of(tl, T0 + 400 * SEC);
        assert_contains(after, "\"stage\":\"booted\",\"state\":\"booted\"");
        assert_contains(after, "\"kernel\":\"6.12.0-amd64\"");
        assert_contains(after, "\"bootMs\":95000");
        assert_int_equal(tl_count(tl), 1);
        tl_free(tl);
}

/* Transfers before any DHCP answer (a lease older than the appliance) file under the
 * address, and the address's first answer merges them into its machine. */
static void an_address_merges_into_its_machine(void **state)
{
        struct timeline *tl = tl_new(0);
        _cleanup_free_ char *before = NULL, *after = NULL;
        (void)state;

        fetch(tl, "10.0.0.7", TL_PROTO_HTTP, "vmlinuz", 8000000, 8000000, TL_RESULT_DONE, T0);
        before = json_of(tl, T0);
        assert_contains(before, "\"mac\":null,\"ip\":\"10.0.0.7\"");
        assert_contains(before, "\"stage\":\"kernel\"");
        assert_int_equal(tl_dhcp(tl, MAC_B, "10.0.0.7", NULL, NULL, T0 + SEC), 0);
        assert_int_equal(tl_count(tl), 1);
        after = json_of(tl, T0 + SEC);
        assert_contains(after, "\"mac\":\"52:54:00:00:00:0b\",\"ip\":\"10.0.0.7\"");
        assert_contains(after, "\"stages\":{\"dhcp\":1796560001000,\"kernel\":1796560000000}");
        assert_contains(after, "\"file\":\"vmlinuz\"");
        tl_free(tl);
}

/* A failed transfer marks the machine failed until something else comes; silence marks
 * it stalled; a booted machine is neither. */
static void failures_and_stalls(void **state)
{
        struct timeline *tl = tl_new(0);
        _cleanup_free_ char *failed = NULL, *retried = NULL, *stalled = NULL;
        (void)state;

        assert_int_equal(tl_dhcp(tl, MAC_A, "10.0.0.5", NULL, NULL, T0), 0);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "grubx64.efi", 0, 0, TL_RESULT_NOT_FOUND, T0 + SEC);
        failed = json_of(tl, T0 + SEC);
        assert_contains(failed, "\"state\":\"failed\"");
        assert_contains(failed, "\"failure\":\"TFTP grubx64.efi: not found after 0 bytes\"");
        fetch(tl, "10.0.0.5", TL_PROTO_HTTP, "vmlinuz", 10, 100, TL_RESULT_RUNNING, T0 + 2 * SEC);
        retried = json_of(tl, T0 + 2 * SEC);
        assert_contains(retried, "\"state\":\"booting\"");
        stalled = json_of(tl, T0 + 2 * SEC + STALL);
        assert_contains(stalled, "\"state\":\"stalled\"");
        tl_free(tl);
}

/* At the cap, the machine seen longest ago makes way. */
static void the_oldest_machine_makes_way(void **state)
{
        struct timeline *tl = tl_new(2);
        _cleanup_free_ char *json = NULL;
        (void)state;

        assert_int_equal(tl_dhcp(tl, MAC_A, "10.0.0.5", NULL, NULL, T0), 0);
        assert_int_equal(tl_dhcp(tl, MAC_B, "10.0.0.6", NULL, NULL, T0 + SEC), 0);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "bootx64.efi", 1, 1, TL_RESULT_DONE, T0 + 2 * SEC);
        assert_int_equal(tl_dhcp(tl, "52:54:00:00:00:0c", "10.0.0.8", NULL, NULL, T0 + 3 * SEC), 0);
        assert_int_equal(tl_count(tl), 2);
        json = json_of(tl, T0 + 3 * SEC);
        assert_contains(json, MAC_A);
        assert_contains(json, "52:54:00:00:00:0c");
        assert_null(strstr(json, MAC_B));
        /* most recently seen first */
        assert_true(strstr(json, "00:0c") < strstr(json, "00:0a"));
        tl_free(tl);
}

/* What a client chose is kept bounded and written as JSON text, never as markup or as
 * JSON structure; malformed MACs are refused. */
static void client_strings_stay_text(void **state)
{
        struct timeline *tl = tl_new(0);
        char long_name[300];
        _cleanup_free_ char *json = NULL;
        (void)state;

        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_int_equal(
            tl_dhcp(tl, MAC_A, "10.0.0.5", "<img src=x onerror=alert(1)>\"},{", long_name, T0), 0);
        json = json_of(tl, T0);
        assert_contains(json, "\"hostname\":\"<img src=x onerror=alert(1)>\\\"},{\"");
        assert_non_null(strstr(json, "\"arch\":\"xxxx"));
        assert_null(strstr(json, long_name)); /* cut at TL_FIELD_MAX */
        assert_int_equal(tl_dhcp(tl, "52:54:00:00:00", NULL, NULL, NULL, T0), -EINVAL);
        assert_int_equal(tl_dhcp(tl, "52:54:00:00:00:0g", NULL, NULL, NULL, T0), -EINVAL);
        assert_int_equal(tl_dhcp(tl, "52.54.00.00.00.0a", NULL, NULL, NULL, T0), -EINVAL);
        assert_int_equal(tl_booted(tl, "10.0.0.5", &(struct tl_report){.mac = ""}, T0), -EINVAL);
        assert_int_equal(tl_count(tl), 1);
        tl_free(tl);
}

/* A file not found that is no boot file, from an address no machine has, is a browser's
 * (favicon.ico) or a scanner's: no machine. From a machine's address it is its failure. */
static void a_browser_makes_no_machine(void **state)
{
        struct timeline *tl = tl_new(0);
        (void)state;

        fetch(tl, "10.0.0.99", TL_PROTO_HTTP, "/favicon.ico", 0, 0, TL_RESULT_NOT_FOUND, T0);
        fetch(tl, "10.0.0.99", TL_PROTO_TFTP, "robots.txt", 0, 0, TL_RESULT_NOT_FOUND, T0);
        assert_int_equal(tl_count(tl), 0);
        fetch(tl, "10.0.0.99", TL_PROTO_TFTP, "grubx64.efi", 0, 0, TL_RESULT_NOT_FOUND, T0);
        assert_int_equal(tl_count(tl), 1);
        fetch(tl, "10.0.0.98", TL_PROTO_HTTP, "vmlinuz", 5, 5, TL_RESULT_DONE, T0);
        fetch(tl, "10.0.0.98", TL_PROTO_HTTP, "/favicon.ico", 0, 0, TL_RESULT_NOT_FOUND, T0);
        assert_int_equal(tl_count(tl), 2);
        tl_free(tl);
}

/* A report speaks only for a machine the appliance has seen, from its own address; one
 * that comes from the address a proxy-mode machine fetched from joins its two halves. */
static void reports_speak_for_known_machines_only(void **state)
{
        struct timeline *tl = tl_new(0);
        _cleanup_free_ char *json = NULL;
        (void)state;

        assert_int_equal(tl_booted(tl, "10.0.0.9", &(struct tl_report){.mac = MAC_A}, T0), -ENOENT);
        assert_int_equal(tl_count(tl), 0);
        /* authoritative: the MAC's address is known, another one may not speak for it */
        assert_int_equal(tl_dhcp(tl, MAC_A, "10.0.0.5", NULL, NULL, T0), 0);
        assert_int_equal(tl_booted(tl, "10.0.0.6", &(struct tl_report){.mac = MAC_A}, T0), -EPERM);
        assert_int_equal(tl_booted(tl, "10.0.0.5", &(struct tl_report){.mac = MAC_B}, T0), -EPERM);
        /* proxy: DHCP names the MAC without an address, the transfers come by address */
        assert_int_equal(tl_dhcp(tl, MAC_B, NULL, "n2", "x86-64 UEFI", T0), 0);
        fetch(tl, "10.0.0.6", TL_PROTO_HTTP, "image.iso", 9, 9, TL_RESULT_DONE, T0 + SEC);
        assert_int_equal(tl_count(tl), 3);
        assert_int_equal(tl_booted(tl, "10.0.0.6",
                                   &(struct tl_report){MAC_B, "n2", "6.12.0-amd64", 40000},
                                   T0 + 40 * SEC),
                         0);
        assert_int_equal(tl_count(tl), 2);
        json = json_of(tl, T0 + 40 * SEC);
        assert_contains(json,
                        "\"mac\":\"52:54:00:00:00:0b\",\"ip\":\"10.0.0.6\",\"hostname\":\"n2\","
                        "\"arch\":\"x86-64 "
                        "UEFI\",\"kernel\":\"6.12.0-amd64\",\"boots\":null,\"stage\":\"booted\"");
        /* an address-only machine takes the MAC its report names */
        fetch(tl, "10.0.0.7", TL_PROTO_TFTP, "vmlinuz", 9, 9, TL_RESULT_DONE, T0 + SEC);
        assert_int_equal(tl_booted(tl, "10.0.0.7", &(struct tl_report){.mac = "52-54-00-00-00-0C"},
                                   T0 + 50 * SEC),
                         0);
        free(json);
        json = json_of(tl, T0 + 50 * SEC);
        assert_contains(json, "\"mac\":\"52:54:00:00:00:0c\",\"ip\":\"10.0.0.7\"");
        assert_int_equal(tl_count(tl), 3);
        tl_free(tl);
}

/* The history: what tl_save writes, tl_load reads back the same (a client's string with
 * spaces, '=', '%' and line breaks included); broken lines are skipped, the cap holds. */
static void history_survives_a_restart(void **state)
{
        struct timeline *tl = tl_new(0), *back = tl_new(0), *small = tl_new(1);
        char *saved = NULL, *again = NULL;
        size_t len = 0, len2 = 0;
        FILE *f;
        (void)state;

        assert_int_equal(tl_dhcp(tl, MAC_A, "10.0.0.5", "a b=c%d\nmachine", "x86-64 UEFI", T0), 0);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "vmlinuz", 9, 9, TL_RESULT_DONE, T0 + SEC);
        fetch(tl, "10.0.0.5", TL_PROTO_HTTP, "initrd.img", 0, 0, TL_RESULT_NOT_FOUND, T0 + 2 * SEC);
        assert_int_equal(tl_booted(tl, "10.0.0.5",
                                   &(struct tl_report){MAC_A, NULL, "6.12.0-amd64", 30000},
                                   T0 + 30 * SEC),
                         0);
        fetch(tl, "10.0.0.6", TL_PROTO_TFTP, "grubx64.efi", 9, 9, TL_RESULT_DONE, T0);
        f = open_memstream(&saved, &len);
        tl_save(tl, f);
        assert_int_equal(fclose(f), 0);
        assert_non_null(strstr(saved, "hostname=a%20b%3Dc%25d%0Amachine "));

        f = fmemopen(saved, len, "r");
        assert_int_equal(tl_load(back, f), 2);
        assert_int_equal(fclose(f), 0);
        f = open_memstream(&again, &len2);
        tl_save(back, f);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(again, saved);
        {
                _cleanup_free_ char *a = json_of(tl, T0 + 60 * SEC),
                                    *b = json_of(back, T0 + 60 * SEC);
                /* the same but for the transfer in flight, which is not kept */
                assert_contains(b, "\"stage\":\"booted\",\"state\":\"booted\"");
                assert_contains(b, "\"hostname\":\"a b=c%d\\nmachine\"");
                assert_contains(b, "\"bootMs\":30000");
                assert_contains(b, "\"failure\":\"HTTP initrd.img: not found after 0 bytes\"");
                assert_non_null(strstr(a, "\"transfer\":{"));
        }
        /* a loaded MAC is not loaded twice; the cap holds */
        f = fmemopen(saved, len, "r");
        assert_int_equal(tl_load(back, f), 2);
        assert_int_equal(fclose(f), 0);
        f = fmemopen(saved, len, "r");
        assert_int_equal(tl_load(small, f), 1);
        assert_int_equal(fclose(f), 0);
        free(saved);
        free(again);
        tl_free(tl);
        tl_free(back);
        tl_free(small);
}

/* A history file is read as hostile: a wrong header is refused, broken lines skipped. */
static void a_broken_history_is_skipped(void **state)
{
        static const char wrong[] = "# something else\nfirst=1 last=2 ip=10.0.0.1\n";
        static const char lines[] = "# pxeforge boot timeline 1\n"
                                    "first=1 last=2 ip=10.0.0.1 kernel=ok\n"
                                    "first=1 last=2 ip=10.0.0.2 hostname=bad%zz\n"
                                    "first=1 last=2 ip=10.0.0.3 hostname=nul%00\n"
                                    "first=5 last=2 ip=10.0.0.4\n"
                                    "first=1 last=2\n"
                                    "first=1 last=2 mac=52:54:00:00:00 ip=10.0.0.5\n"
                                    "first=1 last=2 ip=10.0.0.6 ip=10.0.0.7\n"
                                    "first=1 last=2 noequals ip=10.0.0.8\n"
                                    "first=1 last=x ip=10.0.0.9\n"
                                    "first=1 last=2 ip=10.0.0.10 at-dhcp=3 futureKey=9\n";
        struct timeline *tl = tl_new(0);
        _cleanup_free_ char *json = NULL;
        FILE *f;
        (void)state;

        f = fmemopen((void *)wrong, sizeof wrong - 1, "r");
        assert_int_equal(tl_load(tl, f), -EINVAL);
        assert_int_equal(fclose(f), 0);
        f = fmemopen((void *)lines, sizeof lines - 1, "r");
        assert_int_equal(tl_load(tl, f), 2);
        assert_int_equal(fclose(f), 0);
        json = json_of(tl, T0);
        assert_contains(json, "\"ip\":\"10.0.0.1\"");
        assert_contains(json, "\"ip\":\"10.0.0.10\"");
        assert_contains(json, "\"stage\":\"dhcp\"");
        tl_free(tl);
}

/* The terminal table: a row per machine, nothing a client chose reaches the terminal as
 * a control character. */
static void the_table_is_safe_for_a_terminal(void **state)
{
        struct timeline *tl = tl_new(0);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        (void)state;

        assert_int_equal(tl_dhcp(tl, MAC_A, "10.0.0.5", "evil\033]0;owned\a\n", NULL, T0), 0);
        fetch(tl, "10.0.0.5", TL_PROTO_HTTP, "image.iso", 150 * 1048576, 300 * 1048576,
              TL_RESULT_RUNNING, T0 + SEC);
        tl_write_text(tl, f, T0 + 3 * SEC, STALL);
        assert_int_equal(fclose(f), 0);
        assert_contains(buf, "52:54:00:00:00:0a 10.0.0.5        evil?]0;owned?? ");
        assert_contains(buf,
                        "image     booting      2s ago  image.iso http 50% of 300.0 MiB running\n");
        for (const char *p = buf; *p; p++)
                assert_true(*p == '\n' || (unsigned char)*p >= 0x20);
        free(buf);
        tl_free(tl);
}

/* The gauges count each machine once, by its last stage and its state. */
static void metrics_count_machines(void **state)
{
        struct timeline *tl = tl_new(0);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        (void)state;

        assert_int_equal(tl_dhcp(tl, MAC_A, "10.0.0.5", NULL, NULL, T0), 0);
        fetch(tl, "10.0.0.5", TL_PROTO_TFTP, "vmlinuz", 1, 1, TL_RESULT_DONE, T0 + SEC);
        assert_int_equal(tl_dhcp(tl, MAC_B, "10.0.0.6", NULL, NULL, T0), 0);
        fetch(tl, "10.0.0.6", TL_PROTO_TFTP, "grubx64.efi", 0, 0, TL_RESULT_NOT_FOUND, T0 + SEC);
        assert_int_equal(tl_dhcp(tl, "52:54:00:00:00:0c", "10.0.0.7", NULL, NULL, T0), 0);
        assert_int_equal(
            tl_booted(tl, "10.0.0.7", &(struct tl_report){.mac = "52:54:00:00:00:0c"}, T0), 0);
        tl_write_metrics(tl, f, T0 + 2 * SEC, STALL);
        assert_int_equal(fclose(f), 0);
        assert_contains(buf, "# TYPE pxeforge_machines gauge\n");
        assert_contains(buf, "pxeforge_machines{stage=\"dhcp\"} 1\n");
        assert_contains(buf, "pxeforge_machines{stage=\"kernel\"} 1\n");
        assert_contains(buf, "pxeforge_machines{stage=\"booted\"} 1\n");
        assert_contains(buf, "pxeforge_machines{stage=\"image\"} 0\n");
        assert_contains(buf, "pxeforge_machines_by_state{state=\"booting\"} 1\n");
        assert_contains(buf, "pxeforge_machines_by_state{state=\"failed\"} 1\n");
        assert_contains(buf, "pxeforge_machines_by_state{state=\"booted\"} 1\n");
        free(buf);
        tl_free(tl);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(files_map_to_stages),
            cmocka_unit_test(a_boot_goes_through_every_stage),
            cmocka_unit_test(an_address_merges_into_its_machine),
            cmocka_unit_test(failures_and_stalls),
            cmocka_unit_test(the_oldest_machine_makes_way),
            cmocka_unit_test(client_strings_stay_text),
            cmocka_unit_test(a_browser_makes_no_machine),
            cmocka_unit_test(reports_speak_for_known_machines_only),
            cmocka_unit_test(history_survives_a_restart),
            cmocka_unit_test(a_broken_history_is_skipped),
            cmocka_unit_test(the_table_is_safe_for_a_terminal),
            cmocka_unit_test(metrics_count_machines),
        };

        return pxf_test_main(tests, argc, argv);
}
