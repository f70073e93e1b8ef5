/* grub.cfg of the PXE folder and the live ISO, and where each GRUB looks for it. Pure text,
 * unit-tested. */
#include <errno.h>
#include <string.h>

#include "artifacts/live-internal.h"

#define DEFAULT_TITLE "pxeforge"

/* Serial and console both: a rack machine or a test VM is often watched over serial only,
 * and GRUB's menu should show up wherever the kernel's console does. */
#define GRUB_HEADER                                                                                \
        "# Written by pxeforge\n"                                                                  \
        "serial --unit=0 --speed=115200\n"                                                         \
        "terminal_input console serial\n"                                                          \
        "terminal_output console serial\n"                                                         \
        "set timeout=3\n"                                                                          \
        "set default=0\n"                                                                          \
        "\n"

static const char *const debian_paths[] = {"grub/grub.cfg", "boot/grub2/grub.cfg", NULL};
static const char *const azure_paths[] = {"boot/grub2/grub.cfg", NULL};

const char *const *art_grub_cfg_paths(enum art_grub_flavor flavor)
{
        switch (flavor) {
        case ART_GRUB_DEBIAN:
                return debian_paths;
        case ART_GRUB_AZURE:
                return azure_paths;
        }
        return NULL;
}

/* The kernel and initrd are single files at the root of the TFTP tree or of the ISO. */
static int check_file_name(const char *what, const char *name, struct pxf_error *err)
{
        if (!name || !name[0] || strchr(name, '/') || name[0] == '-' || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0 || art_grub_unsafe_char(name))
                return pxf_error_set(err, -EINVAL, "invalid %s file name '%s'", what,
                                     name ? name : "");
        return 0;
}

/* The title sits in single quotes, where only a quote or a line break could end it. */
static int check_title(const char *title, struct pxf_error *err)
{
        for (const char *p = title; *p; p++)
                if (*p == '\'' || (unsigned char)*p < ' ' || *p == 0x7f)
                        return pxf_error_set(err, -EINVAL,
                                             "menu title '%s' must not contain quotes or control "
                                             "characters",
                                             title);
        return 0;
}

static int check_entry(const struct art_live_boot *b, struct pxf_error *err)
{
        int r = check_file_name("kernel", b->kernel, err);

        if (r >= 0)
                r = check_file_name("initrd", b->initrd, err);
        if (r >= 0 && b->title)
                r = check_title(b->title, err);
        if (r >= 0 && b->medium == ART_LIVE_ISO && !art_iso_volume_label_valid(b->volume_label))
                r = pxf_error_set(err, -EINVAL,
                                  "invalid ISO volume label '%s' (expected 1 to 32 characters out "
                                  "of A-Z 0-9 _)",
                                  b->volume_label ? b->volume_label : "");
        return r;
}

static char *join_args(char *const *args)
{
        char *out = pxf_strdup("");

        for (size_t i = 0; args && args[i]; i++) {
                char *old = out;
                out = pxf_asprintf("%s %s", old, args[i]);
                free(old);
        }
        return out;
}

/* The entry checked, and its kernel arguments as one string with a leading space each.
 * With a boot report, the last one names the appliance's report URL on server: the
 * loader's variable for the server it was loaded from, so the folder works from any
 * address. */
static int entry_args(const struct art_live_boot *b, const char *server, char **ret,
                      struct pxf_error *err)
{
        _cleanup_strv_free_ char **args = NULL;
        int r = check_entry(b, err);

        if (r >= 0)
                r = art_live_kernel_args(b, &args, err);
        if (r >= 0 && b->boot_report && b->medium == ART_LIVE_PXE && b->http_port) {
                _cleanup_free_ char *report =
                    pxf_asprintf("pxeforge.report=http://%s:%u" PXF_API_PREFIX PXF_API_REPORT,
                                 server, b->http_port);
                pxf_strv_push(&args, report);
        }
        if (r >= 0)
                *ret = join_args(args);
        return r;
}

/* The entry's loading lines. Over PXE with an HTTP port, GRUB tries the server it came
 * from over HTTP first: a GRUB without an HTTP client (Debian 12's 2.06) fails at once,
 * saying the disk is not found, and loads over TFTP as before. */
static char *load_lines(const struct art_live_boot *b, const char *args)
{
        _cleanup_free_ char *dev = NULL;

        if (b->medium != ART_LIVE_PXE || !b->http_port)
                return pxf_asprintf("\tlinux /%s%s\n\tinitrd /%s\n", b->kernel, args, b->initrd);
        dev = b->http_port == 80 ? pxf_strdup("(http,${net_default_server})")
                                 : pxf_asprintf("(http,${net_default_server}:%u)", b->http_port);
        return pxf_asprintf("\t# over HTTP from the server GRUB came from, else over TFTP\n"
                            "\tif linux %s/%s%s; then\n"
                            "\t\tinitrd %s/%s\n"
                            "\telse\n"
                            "\t\tlinux /%s%s\n"
                            "\t\tinitrd /%s\n"
                            "\tfi\n",
                            dev, b->kernel, args, dev, b->initrd, b->kernel, args, b->initrd);
}

int art_grub_cfg(const struct art_live_boot *b, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *joined = NULL, *search = NULL, *load = NULL;
        int r = entry_args(b, "${net_default_server}", &joined, err);

        if (r < 0)
                return r;
        /* Over PXE, GRUB's $root already is the TFTP server it was loaded from; on the ISO
         * it is the El Torito boot image, so the ISO file system is found by its label. */
        if (b->medium == ART_LIVE_ISO)
                search =
                    pxf_asprintf("\tsearch --no-floppy --set=root --label %s\n", b->volume_label);
        load = load_lines(b, joined);
        *ret = pxf_asprintf(GRUB_HEADER "menuentry '%s' {\n"
                                        "%s"
                                        "%s"
                                        "}\n",
                            b->title ? b->title : DEFAULT_TITLE, search ? search : "", load);
        return 0;
}

int art_ipxe_script(const struct art_live_boot *b, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *joined = NULL;
        int r = entry_args(b, "${next-server}", &joined, err);

        if (r < 0)
                return r;
        *ret = pxf_asprintf("#!ipxe\n"
                            "# Written by pxeforge: kernel and initramfs over HTTP, beside this "
                            "script\n"
                            ":retry\n"
                            "echo pxeforge: loading %s and %s over HTTP\n"
                            "kernel %s initrd=%s%s || goto failed\n"
                            "initrd %s || goto failed\n"
                            "boot || goto failed\n"
                            ":failed\n"
                            "echo pxeforge: the boot failed; trying again in 10 seconds\n"
                            "sleep 10\n"
                            "goto retry\n",
                            b->kernel, b->initrd, b->kernel, b->initrd, joined, b->initrd);
        return 0;
}
