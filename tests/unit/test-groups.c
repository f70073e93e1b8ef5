/* Unit tests of machine groups (status/groups.h): the rules' text both ways, what is
 * refused, the first rule deciding, prefixes, architectures and boot-once; and the
 * timeline's side of it (tl_bind, tl_identify_*, tl_reset, kept across restarts). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "status/groups.h"
#include "status/timeline.h"
#include "tests/lib/test-main.h"

#define SEC (1000000ull)
#define T0  (1796560000ull * SEC)

static const char rules[] = "begin\n"
                            "rule 52:54:00:77:00:01 * build:storage once\n"
                            "rule 52:54:00 efi-x64,bios local always\n"
                            "rule * efi-arm64-http ignore always\n"
                            "default build:main\n"
                            "end\n";

static void read_set(const char *text, struct grp_set *set)
{
        _cleanup_free_ char *copy = pxf_strdup(text);
        char *save = NULL;
        int last = 0;

        *set = (struct grp_set){0};
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                last = grp_parse_line(set, line);
                assert_true(last >= 0);
        }
        assert_int_equal(last, 1);
        assert_true(set->complete);
}

static void the_text_reads_and_writes_back(void **state)
{
        struct grp_set set;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        (void)state;

        read_set(rules, &set);
        assert_int_equal(set.n_rules, 3);
        assert_int_equal(set.rules[0].mac_len, 6);
        assert_true(set.rules[0].once);
        assert_string_equal(set.rules[0].target.build, "storage");
        assert_int_equal(set.rules[1].mac_len, 3);
        assert_int_equal(set.rules[1].arches, PXF_ARCH_EFI_X64 | PXF_ARCH_BIOS);
        assert_int_equal(set.rules[1].target.kind, GRP_LOCAL);
        assert_int_equal(set.rules[2].mac_len, 0);
        assert_int_equal(set.rules[2].target.kind, GRP_IGNORE);
        assert_string_equal(set.fallback.build, "main");
        grp_write(&set, f);
        assert_int_equal(fclose(f), 0);
        /* the arches come back in bit order */
        assert_string_equal(text, "begin\n"
                                  "rule 52:54:00:77:00:01 * build:storage once\n"
                                  "rule 52:54:00 bios,efi-x64 local always\n"
                                  "rule * efi-arm64-http ignore always\n"
                                  "default build:main\n"
                                  "end\n");
        free(text);
        grp_clear(&set);
}

static void malformed_lines_are_refused(void **state)
{
        static const char *const bad[] = {
            "rule",
            "rule 52:54:00:77:00:01 * build:x",           /* no once/always */
            "rule 52:54:00:77:00:01 * build:x sometimes", /* not once/always */
            "rule 52:54:00:77:00:01:02 * local always",   /* seven octets */
            "rule 52:54:0 * local always",                /* half an octet */
            "rule 52:54-00 * local always",               /* separators mixed */
            "rule * efi-x86 local always",                /* no such architecture */
            "rule * , local always",                      /* no architecture */
            "rule * * build:../etc always",               /* not a build's name */
            "rule * * build: always",                     /* no name */
            "rule * * reboot always",                     /* no such target */
            "default",                                    /* no target */
            "default local extra",                        /* one word too many */
            "defaults local",                             /* no such line */
            "rule * * local always and more",             /* too many words */
        };
        (void)state;

        for (size_t i = 0; i < PXF_ELEMENTSOF(bad); i++) {
                struct grp_set set = {0};
                if (grp_parse_line(&set, bad[i]) != -EINVAL)
                        fail_msg("'%s' was accepted", bad[i]);
                grp_clear(&set);
        }
}

static void the_first_rule_that_holds_a_machine_decides(void **state)
{
        const uint8_t storage[6] = {0x52, 0x54, 0x00, 0x77, 0x00, 0x01};
        const uint8_t qemu[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
        const uint8_t other[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
        struct grp_set set;
        long rule = 99;
        (void)state;

        read_set(rules, &set);
        /* rule 0 holds it whatever its architecture; boot-once sends it home once booted */
        assert_string_equal(grp_choose(&set, storage, PXF_ARCH_BIOS, false, &rule).build,
                            "storage");
        assert_int_equal(rule, 0);
        assert_int_equal(grp_choose(&set, storage, 0, true, NULL).kind, GRP_LOCAL);
        /* a prefix and an architecture must both match */
        assert_int_equal(grp_choose(&set, qemu, PXF_ARCH_EFI_X64, false, &rule).kind, GRP_LOCAL);
        assert_int_equal(rule, 1);
        assert_string_equal(grp_choose(&set, qemu, PXF_ARCH_EFI_X64_HTTP, false, &rule).build,
                            "main");
        assert_int_equal(rule, -1);
        /* an architecture not known matches no rule that names architectures */
        assert_string_equal(grp_choose(&set, qemu, 0, false, NULL).build, "main");
        assert_int_equal(grp_choose(&set, other, PXF_ARCH_EFI_ARM64_HTTP, false, NULL).kind,
                         GRP_IGNORE);
        /* boot-once is the rule's: the default knows nothing of it */
        assert_string_equal(grp_choose(&set, other, 0, true, NULL).build, "main");
        /* a machine not known yet (no MAC): only rules for any MAC */
        assert_int_equal(grp_choose(&set, NULL, PXF_ARCH_EFI_ARM64_HTTP, false, NULL).kind,
                         GRP_IGNORE);
        assert_string_equal(grp_choose(&set, NULL, PXF_ARCH_BIOS, false, NULL).build, "main");
        grp_clear(&set);
}

static void a_begin_starts_afresh(void **state)
{
        struct grp_set set = {0};
        (void)state;

        /* the tail of a set half read, then a whole one */
        assert_int_equal(grp_parse_line(&set, "rule * * local always"), 0);
        assert_int_equal(grp_parse_line(&set, "begin"), 0);
        assert_int_equal(set.n_rules, 0);
        assert_int_equal(grp_parse_line(&set, "default ignore"), 0);
        assert_int_equal(grp_parse_line(&set, "end"), 1);
        assert_int_equal(set.fallback.kind, GRP_IGNORE);
        /* after its end, only another begin */
        assert_int_equal(grp_parse_line(&set, "default local"), -EINVAL);
        assert_int_equal(grp_parse_line(&set, "begin"), 0);
        assert_false(set.complete);
        grp_clear(&set);
}

static void client_architectures_map_to_bits(void **state)
{
        (void)state;
        assert_int_equal(grp_arch_of_client("x86 BIOS"), PXF_ARCH_BIOS);
        assert_int_equal(grp_arch_of_client("x86-64 UEFI"), PXF_ARCH_EFI_X64);
        assert_int_equal(grp_arch_of_client("x86-64 UEFI HTTP"), PXF_ARCH_EFI_X64_HTTP);
        assert_int_equal(grp_arch_of_client("ARM64 UEFI"), PXF_ARCH_EFI_ARM64);
        assert_int_equal(grp_arch_of_client("ARM64 UEFI HTTP"), PXF_ARCH_EFI_ARM64_HTTP);
        assert_int_equal(grp_arch_of_client("x86 UEFI"), 0);
        assert_int_equal(grp_arch_of_client(NULL), 0);
}

static void names_of_builds(void **state)
{
        (void)state;
        assert_true(grp_name_valid("storage-2.x_y"));
        assert_false(grp_name_valid(""));
        assert_false(grp_name_valid(".hidden"));
        assert_false(grp_name_valid("-flag"));
        assert_false(grp_name_valid("a/b"));
        assert_false(grp_name_valid("a b"));
        assert_false(
            grp_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

/* ---- the timeline's side ---------------------------------------------------------------- */

static void a_menu_by_mac_binds_the_address(void **state)
{
        struct timeline *tl = tl_new(0);
        struct tl_identity id;
        (void)state;

        /* a transfer from an address alone, then the menu by MAC from it (proxy DHCP) */
        tl_transfer(tl,
                    &(struct tl_transfer){.ip = "10.0.0.7",
                                          .proto = TL_PROTO_TFTP,
                                          .path = "bootx64.efi",
                                          .size = 10,
                                          .result = TL_RESULT_RUNNING},
                    T0);
        assert_false(tl_identify_ip(tl, "10.0.0.7", &id));
        assert_int_equal(tl_bind(tl, "52-54-00-77-00-01", "10.0.0.7", T0 + SEC), 0);
        assert_int_equal(tl_count(tl), 1); /* the address's entry merged into the machine */
        assert_true(tl_identify_ip(tl, "10.0.0.7", &id));
        assert_string_equal(id.mac, "52:54:00:77:00:01");
        assert_false(id.booted_once);
        /* the address handed on to another machine: the newest binding holds it */
        assert_int_equal(tl_bind(tl, "52:54:00:77:00:02", "10.0.0.7", T0 + 2 * SEC), 0);
        assert_true(tl_identify_ip(tl, "10.0.0.7", &id));
        assert_string_equal(id.mac, "52:54:00:77:00:02");
        assert_int_equal(tl_bind(tl, "52:54:00:77", "10.0.0.7", T0), -EINVAL);
        /* booted, it took another lease from the LAN's server: its report moves it there */
        assert_int_equal(tl_booted(tl, "10.0.0.70", &(struct tl_report){.mac = "52:54:00:77:00:02"},
                                   T0 + 3 * SEC),
                         0);
        assert_true(tl_identify_ip(tl, "10.0.0.70", &id));
        assert_string_equal(id.mac, "52:54:00:77:00:02");
        assert_true(id.booted_once);
        /* but not onto an address another machine holds */
        assert_int_equal(tl_booted(tl, "10.0.0.70", &(struct tl_report){.mac = "52:54:00:77:00:01"},
                                   T0 + 4 * SEC),
                         -EPERM);
        tl_free(tl);
}

static void booted_once_until_reset_and_kept(void **state)
{
        struct timeline *tl = tl_new(0), *again = tl_new(0);
        struct tl_identity id;
        char *text = NULL;
        size_t len = 0;
        FILE *f;
        (void)state;

        assert_int_equal(tl_dhcp(tl, "52:54:00:77:00:01", "10.0.0.7", NULL, "x86-64 UEFI", T0), 0);
        assert_int_equal(
            tl_booted(tl, "10.0.0.7", &(struct tl_report){.mac = "52:54:00:77:00:01"}, T0 + SEC),
            0);
        assert_true(tl_identify_mac(tl, "52-54-00-77-00-01", &id));
        assert_true(id.booted_once);
        assert_string_equal(id.arch, "x86-64 UEFI");
        /* kept across a restart */
        f = open_memstream(&text, &len);
        tl_save(tl, f);
        assert_int_equal(fclose(f), 0);
        f = fmemopen(text, len, "r");
        assert_int_equal(tl_load(again, f), 1);
        fclose(f);
        assert_true(tl_identify_mac(again, "52:54:00:77:00:01", &id));
        assert_true(id.booted_once);
        /* reset: it boots from the network again */
        assert_int_equal(tl_reset(again, "52:54:00:77:00:01"), 0);
        assert_true(tl_identify_mac(again, "52:54:00:77:00:01", &id));
        assert_false(id.booted_once);
        assert_int_equal(tl_reset(again, "52:54:00:77:00:09"), -ENOENT);
        assert_int_equal(tl_reset(again, "nonsense"), -EINVAL);
        free(text);
        tl_free(tl);
        tl_free(again);
}

/* A flood of made-up MACs fills the table: a machine that booted once stays. */
static void a_flood_keeps_the_booted_once(void **state)
{
        struct timeline *tl = tl_new(4);
        struct tl_identity id;
        char mac[18];
        (void)state;

        assert_int_equal(tl_bind(tl, "52:54:00:77:00:01", "10.0.0.7", T0), 0);
        assert_int_equal(
            tl_booted(tl, "10.0.0.7", &(struct tl_report){.mac = "52:54:00:77:00:01"}, T0 + SEC),
            0);
        for (unsigned i = 0; i < 100; i++) {
                (void)snprintf(mac, sizeof mac, "02:00:00:00:%02x:%02x", i >> 8, i & 255);
                assert_int_equal(tl_bind(tl, mac, "10.0.0.99", T0 + (2 + i) * SEC), 0);
        }
        assert_int_equal(tl_count(tl), 4);
        assert_true(tl_identify_mac(tl, "52:54:00:77:00:01", &id));
        assert_true(id.booted_once);
        tl_free(tl);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(the_text_reads_and_writes_back),
            cmocka_unit_test(malformed_lines_are_refused),
            cmocka_unit_test(the_first_rule_that_holds_a_machine_decides),
            cmocka_unit_test(a_begin_starts_afresh),
            cmocka_unit_test(client_architectures_map_to_bits),
            cmocka_unit_test(names_of_builds),
            cmocka_unit_test(a_menu_by_mac_binds_the_address),
            cmocka_unit_test(booted_once_until_reset_and_kept),
            cmocka_unit_test(a_flood_keeps_the_booted_once),
        };

        return pxf_test_main(tests, argc, argv);
}
