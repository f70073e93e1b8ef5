/* Unit tests of the live boot configuration: kernel arguments, grub.cfg text and paths, the
 * bootstrap ISO's URL and name, ISO volume labels and dracut versions. The expected texts
 * are inline: each is exactly what a machine boots with. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

#include "artifacts/live-internal.h"

#define HEADER                                                                                     \
        "# Written by pxeforge\n"                                                                  \
        "serial --unit=0 --speed=115200\n"                                                         \
        "terminal_input console serial\n"                                                          \
        "terminal_output console serial\n"                                                         \
        "set timeout=3\n"                                                                          \
        "set default=0\n"                                                                          \
        "\n"

#define URL    "http://192.168.77.1:8080/image.iso"
#define LABEL  "PXF_NODE_0000ABCD"
#define ERRMSG "pxe.kernelCommandLine.extraCommandLine: kernel argument "

static char *const debian_base[] = {"console=ttyS0,115200", NULL};
static char *const no_args[] = {NULL};

/* A Debian bookworm PXE bootstrap boot, the verified recipe. */
static struct art_live_boot debian_pxe(void)
{
        static char *const extra[] = {"quiet", NULL};

        return (struct art_live_boot){
            .initramfs = CFG_INITRAMFS_BOOTSTRAP,
            .medium = ART_LIVE_PXE,
            .kernel = "vmlinuz",
            .initrd = "initrd.img",
            .dracut_major = 59,
            .bootstrap_url = URL,
            .base_args = debian_base,
            .extra_args = extra,
            .title = "Debian 12 (pxeforge)",
        };
}

static char *args_text(const struct art_live_boot *b)
{
        _cleanup_strv_free_ char **args = NULL;
        struct pxf_error err = {0};
        char *out = pxf_strdup("");

        assert_int_equal(art_live_kernel_args(b, &args, &err), 0);
        assert_non_null(args);
        for (size_t i = 0; args[i]; i++) {
                char *old = out;
                out = pxf_asprintf("%s%s%s", old, i ? " " : "", args[i]);
                free(old);
        }
        return out;
}

static void assert_args_error(const struct art_live_boot *b, const char *msg)
{
        char **args = NULL, *cfg = NULL;
        struct pxf_error err = {0};

        assert_int_equal(art_live_kernel_args(b, &args, &err), -EINVAL);
        assert_null(args);
        assert_int_equal(err.code, -EINVAL);
        assert_string_equal(err.msg, msg);
        memset(&err, 0, sizeof err);
        assert_int_equal(art_grub_cfg(b, &cfg, &err), -EINVAL);
        assert_null(cfg);
        assert_string_equal(err.msg, msg);
}

static void assert_cfg_error(const struct art_live_boot *b, const char *msg)
{
        struct pxf_error err = {0};
        char *cfg = NULL;

        assert_int_equal(art_grub_cfg(b, &cfg, &err), -EINVAL);
        assert_null(cfg);
        assert_string_equal(err.msg, msg);
}

/* ---- grub.cfg paths ----------------------------------------------------------------- */

static void grub_paths_per_flavor(void **state)
{
        const char *const *deb = art_grub_cfg_paths(ART_GRUB_DEBIAN);
        const char *const *azl = art_grub_cfg_paths(ART_GRUB_AZURE);
        (void)state;
        assert_string_equal(deb[0], "grub/grub.cfg");
        assert_string_equal(deb[1], "boot/grub2/grub.cfg");
        assert_null(deb[2]);
        assert_string_equal(azl[0], "boot/grub2/grub.cfg");
        assert_null(azl[1]);
        assert_null(art_grub_cfg_paths((enum art_grub_flavor)42));
}

/* ---- kernel arguments --------------------------------------------------------------- */

static void args_bootstrap_pxe_dracut059(void **state)
{
        struct art_live_boot b = debian_pxe();
        _cleanup_free_ char *text = args_text(&b);
        (void)state;
        assert_string_equal(text, "console=ttyS0,115200 root=live:" URL " rd.live.image "
                                  "rd.live.overlay.overlayfs=1 ip=dhcp rd.neednet=1 quiet");
}

static void args_bootstrap_pxe_dracut110(void **state)
{
        struct art_live_boot b = debian_pxe();
        _cleanup_free_ char *a = NULL, *c = NULL, *d = NULL;
        (void)state;
        b.dracut_major = 110;
        a = args_text(&b);
        assert_string_equal(a, "console=ttyS0,115200 root=live:" URL " rd.live.image "
                               "rd.overlay=1 ip=dhcp rd.neednet=1 quiet");
        /* dracut-ng before 110 (trixie ships 106) still has the old name. */
        b.dracut_major = 109;
        c = args_text(&b);
        assert_non_null(strstr(c, " rd.live.overlay.overlayfs=1 "));
        b.dracut_major = 103;
        d = args_text(&b);
        assert_non_null(strstr(d, " rd.live.overlay.overlayfs=1 "));
}

static void args_bootstrap_iso(void **state)
{
        struct art_live_boot b = debian_pxe();
        _cleanup_free_ char *a = NULL, *c = NULL;
        (void)state;
        b.medium = ART_LIVE_ISO;
        b.bootstrap_url = NULL;
        b.volume_label = LABEL;
        b.extra_args = NULL;
        a = args_text(&b);
        assert_string_equal(a, "console=ttyS0,115200 root=live:CDLABEL=" LABEL " rd.live.image "
                               "rd.live.overlay.overlayfs=1");
        b.dracut_major = 110;
        c = args_text(&b);
        assert_string_equal(c, "console=ttyS0,115200 root=live:CDLABEL=" LABEL " rd.live.image "
                               "rd.overlay=1");
}

static void args_full_os(void **state)
{
        static char *const extra[] = {"systemd.unit=multi-user.target", "", NULL};
        struct art_live_boot b = debian_pxe();
        _cleanup_free_ char *pxe = NULL, *iso = NULL, *bare = NULL;
        (void)state;
        b.initramfs = CFG_INITRAMFS_FULL_OS;
        b.bootstrap_url = NULL;
        b.dracut_major = 0; /* not needed: no dracut in a full-OS boot */
        b.extra_args = extra;
        pxe = args_text(&b);
        assert_string_equal(pxe, "console=ttyS0,115200 systemd.unit=multi-user.target");
        b.medium = ART_LIVE_ISO;
        iso = args_text(&b);
        assert_string_equal(iso, "console=ttyS0,115200 systemd.unit=multi-user.target");
        b.base_args = no_args;
        b.extra_args = NULL;
        bare = args_text(&b);
        assert_string_equal(bare, "");
}

static void args_drop_conflicting_base(void **state)
{
        static char *const base[] = {
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-13-amd64",
            "root=UUID=0a1b2c3d",
            "ro",
            "quiet",
            "rw",
            "rootflags=subvol=@",
            "rootfstype=btrfs",
            "ip=eth0:dhcp",
            "console=ttyS0",
            "rd.live.overlay.size=4096",
            "rd.live.image",
            "rd.neednet=0",
            "rd.overlay=/dev/sdb1",
            "rd.overlay.readonly=1",
            "rd.overlayfs=1",
            "initrd=\\EFI\\debian\\initrd.img", /* dropped before it is checked */
            "rootdelay=5",                      /* not root= */
            "iproute=1",                        /* not ip= */
            "rd.liveboot=1",                    /* not rd.live.* */
            NULL,
        };
        struct art_live_boot b = debian_pxe();
        _cleanup_free_ char *bootstrap = NULL, *full = NULL;
        (void)state;
        b.base_args = base;
        b.extra_args = NULL;
        bootstrap = args_text(&b);
        assert_string_equal(bootstrap, "quiet console=ttyS0 rootdelay=5 iproute=1 rd.liveboot=1 "
                                       "root=live:" URL " rd.live.image "
                                       "rd.live.overlay.overlayfs=1 ip=dhcp rd.neednet=1");
        b.initramfs = CFG_INITRAMFS_FULL_OS;
        full = args_text(&b);
        assert_string_equal(full, "quiet console=ttyS0 rootdelay=5 iproute=1 rd.liveboot=1");
}

/* The os section's args (SELinux's, then os.kernelCommandLine's) follow the image's:
 * a live tree's grub.cfg never gets them. Conflicting ones go; bad ones are named. */
static void args_of_os_section(void **state)
{
        static char *const base[] = {"quiet", "selinux=0", NULL};
        static char *const os[] = {"security=selinux", "selinux=1", "root=/dev/sda2", "pxf.os=1",
                                   NULL};
        static char *const bad_os[] = {"pxf.os=a;b", NULL};
        struct art_live_boot b = debian_pxe();
        _cleanup_free_ char *full = NULL;
        (void)state;
        b.initramfs = CFG_INITRAMFS_FULL_OS;
        b.base_args = base;
        b.os_args = os;
        b.extra_args = NULL;
        full = args_text(&b);
        assert_string_equal(full, "quiet selinux=0 security=selinux selinux=1 pxf.os=1");
        b.os_args = bad_os;
        assert_args_error(
            &b, "os.kernelCommandLine.extraCommandLine: kernel argument 'pxf.os=a;b' contains ';', "
                "which GRUB would mis-parse in a linux line");
}

static void args_refuse_grub_chars(void **state)
{
        static const char bad[] = "\n\"';$\\{}&|<># \t\x01";
        struct art_live_boot b = debian_pxe();
        char *extra[2] = {NULL, NULL};
        (void)state;
        b.extra_args = extra;
        for (const char *c = bad; *c; c++) {
                char arg[8] = {'a', *c, 'b', '\0'};
                char **args = NULL;
                struct pxf_error err = {0};
                extra[0] = arg;
                assert_int_equal(art_live_kernel_args(&b, &args, &err), -EINVAL);
                assert_null(args);
                assert_non_null(strstr(err.msg, "which GRUB would mis-parse in a linux line"));
        }
        extra[0] = "foo;bar";
        assert_args_error(&b, ERRMSG "'foo;bar' contains ';', which GRUB would mis-parse in a "
                                     "linux line");
        extra[0] = "a\nb";
        assert_args_error(&b, ERRMSG "'a?b' contains a newline, which GRUB would mis-parse in a "
                                     "linux line");
        extra[0] = "x=\"y z\"";
        assert_args_error(&b, ERRMSG "'x=\"y z\"' contains '\"', which GRUB would mis-parse in a "
                                     "linux line");
        extra[0] = "a b";
        assert_args_error(&b, ERRMSG "'a b' contains a space, which GRUB would mis-parse in a "
                                     "linux line");
        extra[0] = "a{b}";
        b.medium = ART_LIVE_ISO;
        b.volume_label = LABEL;
        assert_args_error(&b, "iso.kernelCommandLine.extraCommandLine: kernel argument 'a{b}' "
                              "contains '{', which GRUB would mis-parse in a linux line");
}

static void args_refuse_in_base_and_url(void **state)
{
        static char *const base[] = {"init=/bin/sh", "x=$y", NULL};
        struct art_live_boot b = debian_pxe();
        (void)state;
        b.base_args = base;
        assert_args_error(&b, "the image's kernel command line: kernel argument 'x=$y' contains "
                              "'$', which GRUB would mis-parse in a linux line");
        b.base_args = debian_base;
        b.bootstrap_url = "http://h/i.iso?a=1&b=2";
        assert_args_error(&b,
                          "the bootstrap URL: kernel argument 'root=live:http://h/i.iso?a=1&b=2'"
                          " contains '&', which GRUB would mis-parse in a linux line");
}

static void args_missing_inputs(void **state)
{
        struct art_live_boot b = debian_pxe();
        (void)state;
        b.initramfs = CFG_INITRAMFS_UNSET;
        assert_args_error(&b, "pxe.initramfsType is not set (expected bootstrap or full-os)");
        b = debian_pxe();
        b.bootstrap_url = NULL;
        assert_args_error(&b, "no URL for the bootstrap ISO");
        b.bootstrap_url = "";
        assert_args_error(&b, "no URL for the bootstrap ISO");
        b = debian_pxe();
        b.dracut_major = 0;
        assert_args_error(&b, "the image's dracut version is unknown; a bootstrap initramfs is "
                              "made by dracut");
        b = debian_pxe();
        b.medium = ART_LIVE_ISO;
        b.volume_label = "cdrom";
        assert_args_error(&b,
                          "invalid ISO volume label 'cdrom' (expected 1 to 32 characters out of "
                          "A-Z 0-9 _)");
        b.volume_label = NULL;
        assert_args_error(&b, "invalid ISO volume label '' (expected 1 to 32 characters out of "
                              "A-Z 0-9 _)");
}

/* ---- grub.cfg ----------------------------------------------------------------------- */

static void grub_cfg_debian_pxe_bootstrap(void **state)
{
        struct art_live_boot b = debian_pxe();
        struct pxf_error err = {0};
        _cleanup_free_ char *cfg = NULL;
        (void)state;
        assert_int_equal(art_grub_cfg(&b, &cfg, &err), 0);
        assert_string_equal(cfg, HEADER "menuentry 'Debian 12 (pxeforge)' {\n"
                                        "\tlinux /vmlinuz console=ttyS0,115200 root=live:" URL
                                        " rd.live.image rd.live.overlay.overlayfs=1 ip=dhcp "
                                        "rd.neednet=1 quiet\n"
                                        "\tinitrd /initrd.img\n"
                                        "}\n");
}

static void grub_cfg_debian_pxe_file_url(void **state)
{
        struct cfg_pxe pxe = {.bootstrap_file_url = "http://10.0.0.1/boot/bookworm-live.iso"};
        struct art_live_boot b = debian_pxe();
        _cleanup_free_ char *url = NULL, *name = NULL, *cfg = NULL;
        struct pxf_error err = {0};
        (void)state;
        assert_int_equal(art_bootstrap_url(&pxe, NULL, &url, &name, &err), 0);
        assert_string_equal(name, "bookworm-live.iso");
        b.bootstrap_url = url;
        b.extra_args = NULL;
        b.title = NULL;
        b.dracut_major = 110;
        assert_int_equal(art_grub_cfg(&b, &cfg, &err), 0);
        assert_string_equal(cfg, HEADER "menuentry 'pxeforge' {\n"
                                        "\tlinux /vmlinuz console=ttyS0,115200 "
                                        "root=live:http://10.0.0.1/boot/bookworm-live.iso "
                                        "rd.live.image rd.overlay=1 ip=dhcp rd.neednet=1\n"
                                        "\tinitrd /initrd.img\n"
                                        "}\n");
}

/* With an HTTP port, GRUB tries its own server over HTTP, then TFTP; port 80 goes
 * unnamed, which GRUB 2.06's device syntax also accepts. */
static void grub_cfg_pxe_http_first(void **state)
{
        struct art_live_boot b = debian_pxe();
        struct pxf_error err = {0};
        _cleanup_free_ char *cfg = NULL, *cfg80 = NULL;
        (void)state;
        b.extra_args = NULL;
        b.http_port = 8089;
        assert_int_equal(art_grub_cfg(&b, &cfg, &err), 0);
        assert_string_equal(cfg, HEADER "menuentry 'Debian 12 (pxeforge)' {\n"
                                        "\t# over HTTP from the server GRUB came from, else over "
                                        "TFTP\n"
                                        "\tif linux (http,${net_default_server}:8089)/vmlinuz "
                                        "console=ttyS0,115200 root=live:" URL
                                        " rd.live.image rd.live.overlay.overlayfs=1 ip=dhcp "
                                        "rd.neednet=1; then\n"
                                        "\t\tinitrd (http,${net_default_server}:8089)/initrd.img\n"
                                        "\telse\n"
                                        "\t\tlinux /vmlinuz console=ttyS0,115200 root=live:" URL
                                        " rd.live.image rd.live.overlay.overlayfs=1 ip=dhcp "
                                        "rd.neednet=1\n"
                                        "\t\tinitrd /initrd.img\n"
                                        "\tfi\n"
                                        "}\n");
        b.http_port = 80;
        assert_int_equal(art_grub_cfg(&b, &cfg80, &err), 0);
        assert_non_null(strstr(cfg80, "\tif linux (http,${net_default_server})/vmlinuz "));
        assert_non_null(strstr(cfg80, "\t\tinitrd (http,${net_default_server})/initrd.img\n"));
}

/* The bootstrap ISO's entry: the PXE one on a CD, found by its label. */
static struct art_live_boot debian_iso(void)
{
        struct art_live_boot b = debian_pxe();

        b.medium = ART_LIVE_ISO;
        b.volume_label = LABEL;
        b.bootstrap_url = NULL;
        return b;
}

/* server.bootReport: both PXE loaders name the report URL on the server they came from
 * (GRUB's and iPXE's variable for it), after every other argument; the ISO has no server
 * and gets none. */
static void report_url_on_pxe_menus_only(void **state)
{
        struct art_live_boot b = debian_pxe();
        struct pxf_error err = {0};
        _cleanup_free_ char *grub = NULL, *ipxe = NULL, *iso = NULL;
        (void)state;
        b.http_port = 8089;
        b.boot_report = true;
        assert_int_equal(art_grub_cfg(&b, &grub, &err), 0);
        assert_non_null(strstr(grub, " pxeforge.report=http://${net_default_server}:8089"
                                     "/.pxeforge/api/report; then\n"));
        assert_non_null(strstr(grub, " pxeforge.report=http://${net_default_server}:8089"
                                     "/.pxeforge/api/report\n\t\tinitrd /initrd.img\n"));
        assert_int_equal(art_ipxe_script(&b, &ipxe, &err), 0);
        assert_non_null(strstr(ipxe,
                               " pxeforge.report=http://${next-server}:8089/.pxeforge/api/report "
                               "|| goto failed\n"));
        b = debian_iso();
        b.http_port = 8089;
        b.boot_report = true;
        assert_int_equal(art_grub_cfg(&b, &iso, &err), 0);
        assert_null(strstr(iso, "pxeforge.report"));
}

/* The ISO has no server to ask: its entry stays as it was whatever the port. */
static void grub_cfg_iso_ignores_http(void **state)
{
        struct art_live_boot b = debian_iso();
        struct pxf_error err = {0};
        _cleanup_free_ char *cfg = NULL;
        (void)state;
        b.http_port = 80;
        assert_int_equal(art_grub_cfg(&b, &cfg, &err), 0);
        assert_null(strstr(cfg, "http"));
}

static void ipxe_script_relative_urls(void **state)
{
        struct art_live_boot b = debian_pxe();
        struct pxf_error err = {0};
        _cleanup_free_ char *text = NULL;
        (void)state;
        b.extra_args = NULL;
        assert_int_equal(art_ipxe_script(&b, &text, &err), 0);
        assert_string_equal(text, "#!ipxe\n"
                                  "# Written by pxeforge: kernel and initramfs over HTTP, beside "
                                  "this script\n"
                                  ":retry\n"
                                  "echo pxeforge: loading vmlinuz and initrd.img over HTTP\n"
                                  "kernel vmlinuz initrd=initrd.img console=ttyS0,115200 "
                                  "root=live:" URL " rd.live.image rd.live.overlay.overlayfs=1 "
                                  "ip=dhcp rd.neednet=1 || goto failed\n"
                                  "initrd initrd.img || goto failed\n"
                                  "boot || goto failed\n"
                                  ":failed\n"
                                  "echo pxeforge: the boot failed; trying again in 10 seconds\n"
                                  "sleep 10\n"
                                  "goto retry\n");
        b.kernel = "../vmlinuz";
        assert_int_equal(art_ipxe_script(&b, &text, &err), -EINVAL);
}

static void grub_cfg_iso_bootstrap(void **state)
{
        struct art_live_boot b = debian_iso();
        struct pxf_error err = {0};
        _cleanup_free_ char *cfg = NULL;
        (void)state;
        assert_int_equal(art_grub_cfg(&b, &cfg, &err), 0);
        assert_string_equal(cfg, HEADER "menuentry 'Debian 12 (pxeforge)' {\n"
                                        "\tsearch --no-floppy --set=root --label " LABEL "\n"
                                        "\tlinux /vmlinuz console=ttyS0,115200 "
                                        "root=live:CDLABEL=" LABEL " rd.live.image "
                                        "rd.live.overlay.overlayfs=1 quiet\n"
                                        "\tinitrd /initrd.img\n"
                                        "}\n");
}

/* Azure Linux 3: dracut 102, its own GRUB reading boot/grub2/grub.cfg. */
static void grub_cfg_azure_full_os(void **state)
{
        static char *const base[] = {"console=tty0", "console=ttyS0",      "root=PARTUUID=1234",
                                     "ro",           "lockdown=integrity", NULL};
        static char *const extra[] = {"audit=0", NULL};
        struct art_live_boot b = {
            .initramfs = CFG_INITRAMFS_FULL_OS,
            .medium = ART_LIVE_PXE,
            .kernel = "vmlinuz",
            .initrd = "initrd.img",
            .dracut_major = 102,
            .base_args = base,
            .extra_args = extra,
            .title = "Azure Linux 3.0",
        };
        struct pxf_error err = {0};
        _cleanup_free_ char *pxe = NULL, *iso = NULL;
        (void)state;
        assert_string_equal(art_grub_cfg_paths(ART_GRUB_AZURE)[0], "boot/grub2/grub.cfg");
        assert_int_equal(art_grub_cfg(&b, &pxe, &err), 0);
        assert_string_equal(pxe, HEADER "menuentry 'Azure Linux 3.0' {\n"
                                        "\tlinux /vmlinuz console=tty0 console=ttyS0 "
                                        "lockdown=integrity audit=0\n"
                                        "\tinitrd /initrd.img\n"
                                        "}\n");
        b.medium = ART_LIVE_ISO;
        b.volume_label = "PXF_AZL_00000001";
        assert_int_equal(art_grub_cfg(&b, &iso, &err), 0);
        assert_string_equal(iso, HEADER "menuentry 'Azure Linux 3.0' {\n"
                                        "\tsearch --no-floppy --set=root --label PXF_AZL_00000001\n"
                                        "\tlinux /vmlinuz console=tty0 console=ttyS0 "
                                        "lockdown=integrity audit=0\n"
                                        "\tinitrd /initrd.img\n"
                                        "}\n");
}

/* Azure Linux bootstrap over PXE with its dracut (102): the pre-110 overlay name. */
static void grub_cfg_azure_pxe_bootstrap(void **state)
{
        static char *const base[] = {"console=ttyS0", NULL};
        struct cfg_pxe pxe = {.bootstrap_base_url = "http://10.0.0.1/azl/"};
        _cleanup_free_ char *url = NULL, *name = NULL, *cfg = NULL;
        struct art_live_boot b = {
            .initramfs = CFG_INITRAMFS_BOOTSTRAP,
            .medium = ART_LIVE_PXE,
            .kernel = "vmlinuz",
            .initrd = "initrd.img",
            .base_args = base,
            .title = "Azure Linux 3.0",
        };
        struct pxf_error err = {0};
        (void)state;
        assert_int_equal(art_dracut_major_version("102-7.azl3", &b.dracut_major), 0);
        assert_int_equal(art_bootstrap_url(&pxe, NULL, &url, &name, &err), 0);
        b.bootstrap_url = url;
        assert_int_equal(art_grub_cfg(&b, &cfg, &err), 0);
        assert_string_equal(cfg, HEADER "menuentry 'Azure Linux 3.0' {\n"
                                        "\tlinux /vmlinuz console=ttyS0 "
                                        "root=live:http://10.0.0.1/azl/image.iso rd.live.image "
                                        "rd.live.overlay.overlayfs=1 ip=dhcp rd.neednet=1\n"
                                        "\tinitrd /initrd.img\n"
                                        "}\n");
}

static void grub_cfg_refuses_bad_entries(void **state)
{
        struct art_live_boot b = debian_pxe();
        (void)state;
        b.kernel = "../vmlinuz";
        assert_cfg_error(&b, "invalid kernel file name '../vmlinuz'");
        b.kernel = "vm linuz";
        assert_cfg_error(&b, "invalid kernel file name 'vm linuz'");
        b.kernel = NULL;
        assert_cfg_error(&b, "invalid kernel file name ''");
        b = debian_pxe();
        b.initrd = "..";
        assert_cfg_error(&b, "invalid initrd file name '..'");
        b.initrd = "-x";
        assert_cfg_error(&b, "invalid initrd file name '-x'");
        b = debian_pxe();
        b.title = "it's";
        assert_cfg_error(&b, "menu title 'it's' must not contain quotes or control characters");
        b = debian_pxe();
        b.medium = ART_LIVE_ISO;
        b.initramfs = CFG_INITRAMFS_FULL_OS;
        b.volume_label = "PXF-1";
        assert_cfg_error(&b, "invalid ISO volume label 'PXF-1' (expected 1 to 32 characters out "
                             "of A-Z 0-9 _)");
}

/* ---- the bootstrap ISO's URL -------------------------------------------------------- */

static void assert_url(const struct cfg_pxe *pxe, const char *def, const char *url,
                       const char *name)
{
        _cleanup_free_ char *u = NULL, *n = NULL;
        struct pxf_error err = {0};

        assert_int_equal(art_bootstrap_url(pxe, def, &u, &n, &err), 0);
        assert_string_equal(u, url);
        assert_string_equal(n, name);
}

static void assert_url_error(const struct cfg_pxe *pxe, const char *def, const char *msg)
{
        char *u = NULL, *n = NULL;
        struct pxf_error err = {0};

        assert_int_equal(art_bootstrap_url(pxe, def, &u, &n, &err), -EINVAL);
        assert_null(u);
        assert_null(n);
        assert_string_equal(err.msg, msg);
}

static void url_from_base_url(void **state)
{
        struct cfg_pxe pxe = {.bootstrap_base_url = "http://10.0.0.1:8080/pxe"};
        (void)state;
        assert_url(&pxe, NULL, "http://10.0.0.1:8080/pxe/image.iso", "image.iso");
        pxe.bootstrap_base_url = "http://10.0.0.1:8080/pxe///";
        assert_url(&pxe, NULL, "http://10.0.0.1:8080/pxe/image.iso", "image.iso");
        pxe.bootstrap_base_url = "https://10.0.0.1/";
        assert_url(&pxe, "http://ignored", "https://10.0.0.1/image.iso", "image.iso");
        pxe.bootstrap_base_url = "tftp://10.0.0.1";
        assert_url(&pxe, NULL, "tftp://10.0.0.1/image.iso", "image.iso");
        pxe.bootstrap_base_url = "http://h/x?y=1";
        assert_url_error(&pxe, NULL,
                         "pxe.bootstrapBaseUrl 'http://h/x?y=1' must not have a query or fragment "
                         "(the ISO's file name is appended to it)");
        pxe.bootstrap_base_url = "http:///";
        assert_url_error(&pxe, NULL, "pxe.bootstrapBaseUrl 'http:///' has no host");
        pxe.bootstrap_base_url = "10.0.0.1/pxe";
        assert_url_error(&pxe, NULL, "pxe.bootstrapBaseUrl '10.0.0.1/pxe' is not a URL");
}

static void url_from_file_url(void **state)
{
        struct cfg_pxe pxe = {
            .bootstrap_file_url = "https://cdn.example.com/images/live-1.2.iso?token=abc#x",
            .bootstrap_base_url = "http://loses.example.com", /* the file URL wins */
        };
        (void)state;
        assert_url(&pxe, NULL, pxe.bootstrap_file_url, "live-1.2.iso");
        pxe.bootstrap_file_url = "nfs://10.0.0.1/export/os.iso";
        assert_url(&pxe, NULL, "nfs://10.0.0.1/export/os.iso", "os.iso");
        pxe.bootstrap_file_url = "http://h/dir/";
        assert_url_error(&pxe, NULL,
                         "pxe.bootstrapFileUrl 'http://h/dir/' does not end in a file "
                         "name");
        pxe.bootstrap_file_url = "http://h?x=/a.iso";
        assert_url_error(&pxe, NULL,
                         "pxe.bootstrapFileUrl 'http://h?x=/a.iso' does not end in a "
                         "file name");
        pxe.bootstrap_file_url = "h/a.iso";
        assert_url_error(&pxe, NULL, "pxe.bootstrapFileUrl 'h/a.iso' is not a URL");
}

static void url_unsafe_iso_name(void **state)
{
        static const char *const names[] = {"..", ".", "-rf.iso", "a%2Fb.iso", "a\\b.iso"};
        struct cfg_pxe pxe = {0};
        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(names); i++) {
                _cleanup_free_ char *url = pxf_asprintf("http://h/d/%s", names[i]);
                _cleanup_free_ char *msg = pxf_asprintf(
                    "pxe.bootstrapFileUrl '%s': '%s' is not a safe file name for the ISO (it must "
                    "not be '.' or '..', start with '-', or contain '/', '\\', '%%', spaces or "
                    "control characters)",
                    url, names[i]);
                pxe.bootstrap_file_url = url;
                assert_url_error(&pxe, NULL, msg);
        }
}

static void url_default_and_missing(void **state)
{
        struct cfg_pxe pxe = {0};
        (void)state;
        assert_url(&pxe, "http://192.168.77.1:8080", URL, "image.iso");
        assert_url_error(&pxe, "http://h/?q",
                         "the default bootstrap base URL 'http://h/?q' must not "
                         "have a query or fragment (the ISO's file name is "
                         "appended to it)");
        assert_url_error(&pxe, NULL,
                         "pxe.initramfsType is bootstrap but neither pxe.bootstrapBaseUrl nor "
                         "pxe.bootstrapFileUrl is set; set one of them");
}

/* ---- volume label ------------------------------------------------------------------- */

static void assert_label(const char *host, uint64_t unique, const char *expected)
{
        _cleanup_free_ char *label = art_iso_volume_label(host, unique);

        assert_string_equal(label, expected);
        assert_true(art_iso_volume_label_valid(label));
}

static void volume_label_rules(void **state)
{
        (void)state;
        assert_label("pxe-node01", 0x12345678, "PXF_PXE_NODE01_12345678");
        assert_label(NULL, 0xdeadbeef00000000ULL, "PXF_DEADBEEF");
        assert_label("", 1, "PXF_00000001");
        assert_label("--weird__host--", 5, "PXF_WEIRD_HOST_00000005");
        assert_label("\xc3\x9c"
                     "n\xc3\xaf"
                     "code",
                     7, "PXF_N_CODE_00000007");
        /* 32 characters at most: the host part is cut to 19. */
        assert_label("my.very-long.hostname.example.com", 0xabcdef,
                     "PXF_MY_VERY_LONG_HOSTNA_00ABCDEF");
        assert_label("abcdefghijklmnopqr.stuv", 0, "PXF_ABCDEFGHIJKLMNOPQR_00000000");

        /* Different builds, different labels; never a fixed name. */
        for (uint64_t u = 0; u < 64; u++) {
                _cleanup_free_ char *a = art_iso_volume_label("node", u);
                _cleanup_free_ char *b = art_iso_volume_label("node", u + 1);
                assert_true(strlen(a) <= ART_ISO_LABEL_MAX);
                assert_true(art_iso_volume_label_valid(a));
                assert_string_not_equal(a, b);
                assert_string_not_equal(a, "CDROM");
        }

        assert_false(art_iso_volume_label_valid(NULL));
        assert_false(art_iso_volume_label_valid(""));
        assert_false(art_iso_volume_label_valid("pxf_lower"));
        assert_false(art_iso_volume_label_valid("PXF-DASH"));
        assert_false(art_iso_volume_label_valid("PXF SPACE"));
        assert_false(art_iso_volume_label_valid("A23456789012345678901234567890123")); /* 33 */
        assert_true(art_iso_volume_label_valid("A2345678901234567890123456789012"));   /* 32 */
}

/* ---- dracut version ----------------------------------------------------------------- */

static void assert_dracut(const char *s, int expected)
{
        int v = -1;

        assert_int_equal(art_dracut_major_version(s, &v), 0);
        assert_int_equal(v, expected);
}

static void dracut_version_parse(void **state)
{
        static const char *const bad[] = {"",    "abc", "v059", "59abc",   "0",
                                          "000", "-59", ":059", "1234567", "059/1"};
        (void)state;
        assert_dracut("059", 59);
        assert_dracut("059-4", 59);
        assert_dracut("059-4+deb12u1", 59);
        assert_dracut("1:059-4", 59);
        assert_dracut("103", 103);
        assert_dracut("106-5", 106);
        assert_dracut("110-1.fc42", 110);
        assert_dracut("102-7.azl3", 102);
        assert_dracut("059\n", 59);
        assert_dracut("  110", 110);
        for (size_t i = 0; i < PXF_ELEMENTSOF(bad); i++) {
                int v = -1;
                assert_int_equal(art_dracut_major_version(bad[i], &v), -EINVAL);
                assert_int_equal(v, -1);
        }
        assert_int_equal(art_dracut_major_version(NULL, &(int){0}), -EINVAL);
}

/* A tree whose dpkg database has what the bootstrap needs, with dracut at VERSION. */
static char *tree_with_dracut(const char *version)
{
        static const char *const others[] = {"dracut-live", "dracut-network", "curl", "procps",
                                             "isc-dhcp-client"};
        char *dir = tt_make("bootstrap-check");
        char *status = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&status, &len);

        assert_non_null(f);
        fprintf(f, "Package: dracut\nStatus: install ok installed\nVersion: %s\n\n", version);
        for (size_t i = 0; i < PXF_ELEMENTSOF(others); i++)
                fprintf(f, "Package: %s\nStatus: install ok installed\nVersion: 1.0\n\n",
                        others[i]);
        assert_int_equal(fclose(f), 0);
        tt_write_text(dir, "var/lib/dpkg/status", status, 0644);
        free(status);
        return dir;
}

/* Debian 12's and 13's dracut pass; one older or newer than the arguments pxeforge knows
 * is refused with the version found and the range. */
static void bootstrap_check_dracut_range(void **state)
{
        static const struct {
                const char *version;
                int major;
        } known[] = {{"059-4+deb12u1", 59}, {"106-6", 106}, {"110-1", 110}};
        static const char *const unknown[] = {"058-1", "111-1"};
        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(known); i++) {
                char *dir = tree_with_dracut(known[i].version);
                struct pxf_error err = {0};
                int major = 0;

                assert_int_equal(art_bootstrap_check(dir, &major, &err), 0);
                assert_int_equal(major, known[i].major);
                tt_remove(dir);
        }
        for (size_t i = 0; i < PXF_ELEMENTSOF(unknown); i++) {
                char *dir = tree_with_dracut(unknown[i]);
                struct pxf_error err = {0};
                char found[32];

                assert_int_equal(art_bootstrap_check(dir, &(int){0}, &err), -ENOTSUP);
                snprintf(found, sizeof found, "version %.3s;", unknown[i]);
                assert_non_null(strstr(err.msg, found));
                assert_non_null(strstr(err.msg, "dracut 059 to 110"));
                tt_remove(dir);
        }
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(grub_paths_per_flavor),
            cmocka_unit_test(args_bootstrap_pxe_dracut059),
            cmocka_unit_test(args_bootstrap_pxe_dracut110),
            cmocka_unit_test(args_bootstrap_iso),
            cmocka_unit_test(args_full_os),
            cmocka_unit_test(args_drop_conflicting_base),
            cmocka_unit_test(args_of_os_section),
            cmocka_unit_test(args_refuse_grub_chars),
            cmocka_unit_test(args_refuse_in_base_and_url),
            cmocka_unit_test(args_missing_inputs),
            cmocka_unit_test(grub_cfg_debian_pxe_bootstrap),
            cmocka_unit_test(grub_cfg_debian_pxe_file_url),
            cmocka_unit_test(grub_cfg_pxe_http_first),
            cmocka_unit_test(grub_cfg_iso_ignores_http),
            cmocka_unit_test(report_url_on_pxe_menus_only),
            cmocka_unit_test(ipxe_script_relative_urls),
            cmocka_unit_test(grub_cfg_iso_bootstrap),
            cmocka_unit_test(grub_cfg_azure_full_os),
            cmocka_unit_test(grub_cfg_azure_pxe_bootstrap),
            cmocka_unit_test(grub_cfg_refuses_bad_entries),
            cmocka_unit_test(url_from_base_url),
            cmocka_unit_test(url_from_file_url),
            cmocka_unit_test(url_unsafe_iso_name),
            cmocka_unit_test(url_default_and_missing),
            cmocka_unit_test(volume_label_rules),
            cmocka_unit_test(dracut_version_parse),
            cmocka_unit_test(bootstrap_check_dracut_range),
        };
        return pxf_test_main(tests, argc, argv);
}
