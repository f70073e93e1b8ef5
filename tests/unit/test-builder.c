/* Unit tests of the builder's pure helpers: image format detection and the text of the
 * configuration files it writes into images. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"

#include "builder/builder-internal.h"

static void detect_qcow2(void **state)
{
        static const unsigned char head[] = "QFI\xfb\0\0\0\3";
        (void)state;
        assert_int_equal(bld_disk_format_from_bytes(head, 8, NULL, 0), BLD_DISK_QCOW2);
}

static void detect_vhdx(void **state)
{
        static const unsigned char head[] = "vhdxfile";
        (void)state;
        assert_int_equal(bld_disk_format_from_bytes(head, 8, NULL, 0), BLD_DISK_VHDX);
}

static void detect_vhd_dynamic_and_fixed(void **state)
{
        unsigned char zero[512] = {0}, footer[512] = {0};
        (void)state;
        memcpy(footer, "conectix", 8);
        assert_int_equal(bld_disk_format_from_bytes(footer, 512, footer, 512), BLD_DISK_VPC);
        assert_int_equal(bld_disk_format_from_bytes(zero, 512, footer, 512), BLD_DISK_VPC);
}

static void detect_raw(void **state)
{
        unsigned char mbr[512] = {0};
        (void)state;
        mbr[510] = 0x55, mbr[511] = 0xaa;
        assert_int_equal(bld_disk_format_from_bytes(mbr, 512, mbr, 512), BLD_DISK_RAW);
        /* A magic shorter than its full length is not that format. */
        assert_int_equal(bld_disk_format_from_bytes((const unsigned char *)"QFI", 3, NULL, 0),
                         BLD_DISK_RAW);
        assert_string_equal(bld_disk_format_qemu_name(BLD_DISK_VPC), "vpc");
}

static void hosts_replaces_existing_line(void **state)
{
        _cleanup_free_ char *out = NULL;
        (void)state;
        out = bld_hosts_with_hostname("127.0.0.1\tlocalhost\n127.0.1.1\told\n::1 ip6\n", "new");
        assert_string_equal(out, "127.0.0.1\tlocalhost\n127.0.1.1\tnew\n::1 ip6\n");
}

static void hosts_appends_when_missing(void **state)
{
        _cleanup_free_ char *a = NULL, *b = NULL;
        (void)state;
        a = bld_hosts_with_hostname("127.0.0.1 localhost\n127.0.1.10 other\n", "h");
        assert_string_equal(a, "127.0.0.1 localhost\n127.0.1.10 other\n127.0.1.1\th\n");
        b = bld_hosts_with_hostname(NULL, "h");
        assert_string_equal(b, "127.0.1.1\th\n");
}

static const struct cfg_module modules[] = {
    {.name = "pcspkr", .load_mode = CFG_MODULE_DISABLE},
    {.name = "dummy", .load_mode = CFG_MODULE_ALWAYS, .options = "numdummies=3"},
    {.name = "loop", .load_mode = CFG_MODULE_INHERIT, .options = "max_loop=8"},
    {.name = "e1000", .load_mode = CFG_MODULE_AUTO},
};

static void modprobe_conf_text(void **state)
{
        _cleanup_free_ char *out = bld_modprobe_conf(modules, 4);
        (void)state;
        assert_string_equal(out, "# Written by pxeforge from os.modules\n"
                                 "blacklist pcspkr\n"
                                 "options dummy numdummies=3\n"
                                 "options loop max_loop=8\n");
}

static void modules_load_text(void **state)
{
        _cleanup_free_ char *out = bld_modules_load_conf(modules, 4);
        (void)state;
        assert_string_equal(out, "# Written by pxeforge from os.modules\ndummy\n");
}

static void grub_dropin_text(void **state)
{
        char *args[] = {"console=ttyS0,115200", "pxf.marker=1", NULL};
        _cleanup_free_ char *out = NULL, *reset = NULL, *none = NULL;
        (void)state;
        assert_int_equal(bld_grub_default_dropin(args, false, &out), 0);
        assert_string_equal(out, "# Written by pxeforge from os.kernelCommandLine and "
                                 "os.selinux.mode\n"
                                 "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX "
                                 "console=ttyS0,115200 pxf.marker=1\"\n");
        assert_int_equal(bld_grub_default_dropin(args, true, &reset), 0);
        assert_string_equal(reset, "# Written by pxeforge: the config's kernel command line "
                                   "only (os.bootloader.resetType hard-reset)\n"
                                   "GRUB_CMDLINE_LINUX=\"console=ttyS0,115200 pxf.marker=1\"\n"
                                   "GRUB_CMDLINE_LINUX_DEFAULT=\"\"\n");
        assert_int_equal(bld_grub_default_dropin(NULL, false, &none), 0);
        assert_non_null(strstr(none, "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX\"\n"));
}

/* The stanza keeps the control fields as they are and ends with one blank line however
 * the control file ends. */
static void deb_stanza_text(void **state)
{
        _cleanup_free_ char *a =
            bld_deb_stanza("Package: probe\nVersion: 1.0\nArchitecture: all\n\n",
                           "probe_1.0_all.deb", 1234, "ab12");
        _cleanup_free_ char *b = bld_deb_stanza("Package: probe\nVersion: 1.0\nArchitecture: all",
                                                "probe_1.0_all.deb", 1234, "ab12");
        (void)state;
        assert_string_equal(a, "Package: probe\nVersion: 1.0\nArchitecture: all\n"
                               "Filename: ./probe_1.0_all.deb\nSize: 1234\nSHA256: ab12\n\n");
        assert_string_equal(a, b);
}

/* Each local location of a .repo file, and where the fake copy put it. */
static int fake_upload(void *ctx, const struct bld_repo_location *loc, char **ret,
                       struct pxf_error *err)
{
        int *count = ctx;

        (void)err;
        if (strcmp(loc->host_path, "/missing") == 0)
                return pxf_error_set(err, -ENOENT, "no such folder");
        *ret = pxf_asprintf("file:///guest/%d[%s=%s]", (*count)++, loc->key, loc->host_path);
        return 0;
}

static void repo_file_locations(void **state)
{
        int count = 0;
        _cleanup_free_ char *out = NULL;
        struct pxf_error err = {0};
        const char *text = "# mine\n"
                           "[local]\n"
                           "name = Local\n"
                           "baseurl = file+rel://rpms, https://mirror/x\n"
                           "  file:///srv/more\n"
                           "gpgkey=file+chroot:///etc/pki/key\n"
                           "\tfile:///keys/k.asc\n"
                           "gpgcheck=1\n"
                           "\n"
                           "[web]\n"
                           "baseurl=https://example.org/$basearch\n";
        (void)state;
        assert_int_equal(
            bld_repo_file_rewrite("/cfg/my.repo", text, fake_upload, &count, &out, &err), 0);
        assert_string_equal(out, "# mine\n"
                                 "[local]\n"
                                 "name = Local\n"
                                 "baseurl=file:///guest/0[baseurl=/cfg/rpms] https://mirror/x\n"
                                 "  file:///guest/1[baseurl=/srv/more]\n"
                                 "gpgkey=file:///etc/pki/key\n"
                                 "\tfile:///guest/2[gpgkey=/keys/k.asc]\n"
                                 "gpgcheck=1\n"
                                 "\n"
                                 "[web]\n"
                                 "baseurl=https://example.org/$basearch\n");
}

static void repo_file_refusals(void **state)
{
        static const struct {
                const char *text, *message;
        } cases[] = {
            {"baseurl=file:///x\n", "r.repo:1: 'baseurl' comes before any [repository] section"},
            {"[a]\nname=A\n", "r.repo: repository [a] has no baseurl"},
            {"[a]\nbaseurl=file:///x\n[b\n", "r.repo:3: a section header is '[NAME]'"},
            {"[a]\nbaseurl\n", "r.repo:2: neither '[NAME]' nor 'KEY=VALUE'"},
            {"[a]\nbaseurl=file://rel/x\n", "r.repo:2: baseurl 'file://rel/x': a file:// "},
            {"[a]\nbaseurl=file:///missing\n", "r.repo:2: baseurl 'file:///missing': no such"},
            {"# only a comment\n", "r.repo: no [repository] section"},
        };
        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(cases); i++) {
                struct pxf_error err = {0};
                char *out = NULL;
                int count = 0;
                assert_true(bld_repo_file_rewrite("r.repo", cases[i].text, fake_upload, &count,
                                                  &out, &err) < 0);
                assert_null(out);
                if (strncmp(err.msg, cases[i].message, strlen(cases[i].message)) != 0)
                        fail_msg("case %zu: '%s'", i, err.msg);
        }
}

static void os_release_ids(void **state)
{
        char *plain = bld_os_release_id("NAME=\"Microsoft Azure Linux\"\nID=azurelinux\n");
        char *quoted = bld_os_release_id("ID=\"mariner\"\nVERSION_ID=\"2.0\"\n");
        char *single = bld_os_release_id("ID='fedora'\n");
        (void)state;
        assert_string_equal(plain, "azurelinux");
        assert_string_equal(quoted, "mariner");
        assert_string_equal(single, "fedora");
        assert_null(bld_os_release_id("ID_LIKE=fedora\n"));
        assert_null(bld_os_release_id("ID=\"\"\n"));
        assert_null(bld_os_release_id("ID=Weird/Name\n"));
        free(plain);
        free(quoted);
        free(single);
}

static void grub_dropin_refuses_shell(void **state)
{
        char *quote[] = {"a=\"b\"", NULL}, *dollar[] = {"x=$(id)", NULL};
        char *tick[] = {"`id`", NULL}, *slash[] = {"a\\", NULL};
        char *out = NULL;
        (void)state;
        assert_int_equal(bld_grub_default_dropin(quote, false, &out), -EINVAL);
        assert_int_equal(bld_grub_default_dropin(dollar, true, &out), -EINVAL);
        assert_int_equal(bld_grub_default_dropin(tick, false, &out), -EINVAL);
        assert_int_equal(bld_grub_default_dropin(slash, false, &out), -EINVAL);
        assert_null(out);
}

/* The SELinux mode's arguments come first, as the reference tool writes them. */
static void boot_args_of_selinux_modes(void **state)
{
        char *extra[] = {"quiet", NULL};
        struct cfg_os os = {.extra_command_line = extra};
        static const struct {
                enum cfg_selinux_mode mode;
                const char *want;
        } cases[] = {
            {CFG_SELINUX_UNSET, "quiet"},
            {CFG_SELINUX_DISABLED, "selinux=0 quiet"},
            {CFG_SELINUX_PERMISSIVE, "security=selinux selinux=1 quiet"},
            {CFG_SELINUX_ENFORCING, "security=selinux selinux=1 quiet"},
            {CFG_SELINUX_FORCE_ENFORCING, "security=selinux selinux=1 enforcing=1 quiet"},
        };
        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(cases); i++) {
                _cleanup_strv_free_ char **args = NULL;
                char joined[128] = "";

                os.selinux_mode = cases[i].mode;
                args = cfg_os_kernel_args(&os);
                for (size_t j = 0; args && args[j]; j++) {
                        strcat(joined, j ? " " : "");
                        strcat(joined, args[j]);
                }
                assert_string_equal(joined, cases[i].want);
        }
}

/* What a live output refuses before any work: SELinux with a full-os initramfs (also as
 * pxe-dir's default), and a disk-only key beside a mode it accepts. */
static void live_refusals_before_work(void **state)
{
        struct cfg_config cfg = {0};
        struct pxf_error err = {0};
        (void)state;

        cfg.os.selinux_mode = CFG_SELINUX_PERMISSIVE;
        assert_int_equal(bld_extras_check(&cfg, CFG_FORMAT_PXE_DIR, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "the full-os one (the default for pxe-dir)"));
        assert_int_equal(bld_extras_check(&cfg, CFG_FORMAT_QCOW2, &err), 0);
        cfg.pxe.live.initramfs_type = CFG_INITRAMFS_BOOTSTRAP;
        if (geteuid() == 0)
                assert_int_equal(bld_extras_check(&cfg, CFG_FORMAT_PXE_DIR, &err), 0);
        cfg.artifacts = 1;
        err = (struct pxf_error){0};
        assert_true(bld_extras_check(&cfg, CFG_FORMAT_PXE_DIR, &err) < 0);
        assert_non_null(strstr(err.msg, geteuid() == 0 ? "output.artifacts works with disk outputs"
                                                       : "needs root"));
}

static void selinux_config_edits(void **state)
{
        static const char text[] = "# comment SELINUX=x\nSELINUX=disabled\n"
                                   "SELINUXTYPE=default # the policy\n";
        _cleanup_free_ char *changed = bld_selinux_config_with_mode(text, "permissive");
        _cleanup_free_ char *added = bld_selinux_config_with_mode("SELINUXTYPE=mls", "enforcing");
        _cleanup_free_ char *type = bld_selinux_config_type(text);
        _cleanup_free_ char *none = bld_selinux_config_type("SELINUX=enforcing\n");
        (void)state;
        assert_string_equal(changed, "# comment SELINUX=x\nSELINUX=permissive\n"
                                     "SELINUXTYPE=default # the policy\n");
        assert_string_equal(added, "SELINUXTYPE=mls\nSELINUX=enforcing\n");
        assert_string_equal(type, "default");
        assert_null(none);
}

/* A Debian image with the policy installed runs SELinux only when GRUB selects it. */
static void grub_cfg_selects_selinux(void **state)
{
        (void)state;
        assert_true(bld_grub_cfg_enables_selinux("linux /vmlinuz root=x security=selinux\n"));
        assert_true(bld_grub_cfg_enables_selinux("linux /vmlinuz lsm=landlock,selinux ro\n"));
        assert_false(bld_grub_cfg_enables_selinux("linux /vmlinuz lsm=apparmor ro selinux=1\n"));
        assert_false(bld_grub_cfg_enables_selinux("linux /vmlinuz root=x quiet\n"));
        assert_false(bld_grub_cfg_enables_selinux(NULL));
}

static void history_entry_and_list(void **state)
{
        static const char config[] = "os:\n  hostname: h\n  users:\n    - name: a\n"
                                     "      sshPublicKeys: [\"ssh-ed25519 AAAA a@b\"]\n"
                                     "      password: {type: plain-text, value: \"s\\\"x\"}\n";
        struct cfg_config *cfg = NULL;
        _cleanup_free_ char *entry = NULL, *first = NULL, *second = NULL;
        char *bad = NULL;
        (void)state;
        assert_int_equal(cfg_load_buffer("c.yaml", config, strlen(config), NULL, &cfg, NULL), 0);
        entry = bld_history_entry(cfg, 86400);
        cfg_free(cfg);
        assert_non_null(strstr(entry, "\"timestamp\": \"1970-01-02T00:00:00Z\""));
        assert_non_null(strstr(entry, "\"toolVersion\": \"pxeforge "));
        assert_non_null(strstr(entry, "\"os.hostname\": \"h\""));
        assert_non_null(strstr(entry, "\"os.users[0].sshPublicKeys[0]\": \"[redacted]\""));
        assert_non_null(strstr(entry, "\"os.users[0].password.value\": \"[redacted]\""));
        assert_null(strstr(entry, "AAAA"));
        assert_int_equal(bld_history_append(NULL, "{}", &first), 0);
        assert_string_equal(first, "[\n{}\n]\n");
        assert_int_equal(bld_history_append(" [ {\"a\": 1} ]\n", "{}", &second), 0);
        assert_string_equal(second, " [ {\"a\": 1},\n{}\n]\n");
        assert_int_equal(bld_history_append("{\"a\": 1}", "{}", &bad), -EINVAL);
        assert_null(bad);
}

static void listing_finds_modules(void **state)
{
        static const char listing[] = "usr/lib/modules/6.1.0-1-amd64/kernel/drivers/"
                                      "input/misc/pcspkr.ko\n"
                                      "usr/lib/modules/6.1.0-1-amd64/kernel/fs/fat/vfat.ko.xz\n"
                                      "usr/lib/modules/6.1.0-1-amd64/kernel/net/snd-hda.ko.zst\n"
                                      "usr/bin/dummy\n"
                                      "loop.ko.bak";
        (void)state;
        assert_true(bld_listing_has_module(listing, "pcspkr"));
        assert_true(bld_listing_has_module(listing, "vfat"));
        assert_true(bld_listing_has_module(listing, "snd_hda"));
        assert_false(bld_listing_has_module(listing, "dummy"));
        assert_false(bld_listing_has_module(listing, "loop"));
        assert_false(bld_listing_has_module(listing, "pcspk"));
        assert_false(bld_listing_has_module(listing, "fat"));
        assert_false(bld_listing_has_module(NULL, "fat"));
}

/* Debian 12 and 13 build quietly; other Debian-family releases with a warning. */
static void proven_releases(void **state)
{
        (void)state;
        assert_true(bld_release_proven("debian", 12));
        assert_true(bld_release_proven("debian", 13));
        assert_false(bld_release_proven("debian", 11));
        assert_false(bld_release_proven("debian", 14));
        assert_false(bld_release_proven("ubuntu", 24));
        assert_false(bld_release_proven(NULL, 12));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(proven_releases),
            cmocka_unit_test(detect_qcow2),
            cmocka_unit_test(detect_vhdx),
            cmocka_unit_test(detect_vhd_dynamic_and_fixed),
            cmocka_unit_test(detect_raw),
            cmocka_unit_test(hosts_replaces_existing_line),
            cmocka_unit_test(hosts_appends_when_missing),
            cmocka_unit_test(modprobe_conf_text),
            cmocka_unit_test(modules_load_text),
            cmocka_unit_test(grub_dropin_text),
            cmocka_unit_test(grub_dropin_refuses_shell),
            cmocka_unit_test(boot_args_of_selinux_modes),
            cmocka_unit_test(live_refusals_before_work),
            cmocka_unit_test(selinux_config_edits),
            cmocka_unit_test(grub_cfg_selects_selinux),
            cmocka_unit_test(history_entry_and_list),
            cmocka_unit_test(listing_finds_modules),
            cmocka_unit_test(deb_stanza_text),
            cmocka_unit_test(repo_file_locations),
            cmocka_unit_test(repo_file_refusals),
            cmocka_unit_test(os_release_ids),
        };
        return pxf_test_main(tests, argc, argv);
}
