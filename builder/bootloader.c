/* The boot loader step: the kernel arguments the installed system boots with (those of
 * os.selinux.mode, then os.kernelCommandLine) and, with os.bootloader.resetType
 * hard-reset, GRUB installed and configured anew by the image's own tools. A live output
 * boots from the menu the artifacts module writes for every build, so for it only the
 * files in the image change. */
#include <errno.h>
#include <string.h>

#include "builder/builder-internal.h"

#define GRUB_DROPIN_DIR "/etc/default/grub.d"
#define GRUB_DROPIN     GRUB_DROPIN_DIR "/pxeforge.cfg"

int bld_grub_default_dropin(char *const *args, bool reset, char **ret)
{
        _cleanup_free_ char *joined = NULL;

        /* The value sits in a double-quoted shell string that grub-mkconfig sources:
         * anything that could end or expand it is refused. */
        for (size_t i = 0; args && args[i]; i++)
                if (strpbrk(args[i], "\"$`\\\n"))
                        return -EINVAL;
        joined = pxf_strv_join(args, " ");
        if (reset)
                *ret = pxf_asprintf("# Written by pxeforge: the config's kernel command line "
                                    "only (os.bootloader.resetType hard-reset)\n"
                                    "GRUB_CMDLINE_LINUX=\"%s\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"\"\n",
                                    joined);
        else
                *ret = pxf_asprintf("# Written by pxeforge from os.kernelCommandLine and "
                                    "os.selinux.mode\n"
                                    "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX%s%s\"\n",
                                    joined[0] ? " " : "", joined);
        return 0;
}

/* Where the image's GRUB for EFI comes from: the signed build (with shim) when it is
 * installed, the plain one otherwise. */
static int grub_efi_flags(struct bld_guest *gs, const char **target, const char **secure_boot,
                          struct pxf_error *err)
{
        if (bld_guest_is_dir(gs, "/usr/lib/grub/x86_64-efi"))
                *target = "--target=x86_64-efi";
        else if (bld_guest_is_dir(gs, "/usr/lib/grub/arm64-efi"))
                *target = "--target=arm64-efi";
        else
                return pxf_error_set(err, -ENOENT,
                                     "hard-reset installs GRUB for EFI, and the image has none "
                                     "(/usr/lib/grub/x86_64-efi or arm64-efi: grub-efi-amd64-bin "
                                     "or grub-efi-arm64-bin); GRUB for BIOS is not reset");
        *secure_boot = bld_guest_is_dir(gs, "/usr/lib/grub/x86_64-efi-signed") ||
                               bld_guest_is_dir(gs, "/usr/lib/grub/arm64-efi-signed")
                           ? "--uefi-secure-boot"
                           : "--no-uefi-secure-boot";
        return 0;
}

/* GRUB from scratch: its files on the ESP written again by grub-install (shim and the
 * signed GRUB when the image has them, the removable-media copy when the image keeps
 * one), and grub.cfg by update-grub, after both configuration files are gone. */
static int grub_reinstall(struct bld_guest *gs, struct pxf_error *err)
{
        _cleanup_free_ char *esp_cfg = pxf_asprintf("/boot/efi/EFI/%s/grub.cfg", gs->distro);
        _cleanup_free_ char *id = pxf_asprintf("--bootloader-id=%s", gs->distro);
        const char *target = NULL, *secure_boot = NULL;
        bool removable = bld_guest_is_dir(gs, "/boot/efi/EFI/BOOT");
        int r;

        if (!bld_guest_is_dir(gs, "/boot/efi/EFI"))
                return pxf_error_set(err, -ENOENT,
                                     "hard-reset needs the EFI system partition mounted at "
                                     "/boot/efi, and the image has no /boot/efi/EFI");
        r = grub_efi_flags(gs, &target, &secure_boot, err);
        if (r >= 0)
                r = bld_guest_remove(gs, "/boot/grub/grub.cfg", err);
        if (r >= 0)
                r = bld_guest_remove(gs, esp_cfg, err);
        if (r >= 0)
                r = bld_guest_run(
                    gs,
                    (const char *[]){"grub-install", target, "--efi-directory=/boot/efi", id,
                                     secure_boot, "--no-nvram",
                                     removable ? "--force-extra-removable" : NULL, NULL},
                    err);
        return r;
}

static int bootloader_debian(struct bld_guest *gs, const struct cfg_config *cfg, char *const *args,
                             struct pxf_error *err)
{
        bool reset = cfg->os.bootloader_reset == CFG_BOOTLOADER_HARD_RESET;
        _cleanup_free_ char *dropin = NULL;
        int r;

        if (!bld_guest_exists(gs, "/etc/default/grub"))
                return pxf_error_set(err, -ENOENT,
                                     "the image has no /etc/default/grub; the "
                                     "kernel command line needs GRUB");
        if (bld_grub_default_dropin(args, reset, &dropin) < 0)
                return pxf_error_set(err, -EINVAL,
                                     "os.kernelCommandLine.extraCommandLine must not contain "
                                     "\" $ ` or \\");
        r = bld_guest_mkdir_p(gs, GRUB_DROPIN_DIR, 0755, err);
        if (r >= 0)
                r = bld_guest_write(gs, GRUB_DROPIN, dropin, strlen(dropin), 0644, err);
        if (r < 0 || gs->live)
                return r;
        if (reset)
                r = grub_reinstall(gs, err);
        if (r >= 0)
                r = bld_guest_run(gs, (const char *[]){"update-grub", NULL}, err);
        return r;
}

static int bootloader_grubby(struct bld_guest *gs, const struct cfg_config *cfg, char *const *args,
                             struct pxf_error *err)
{
        _cleanup_free_ char *joined = pxf_strv_join(args, " "), *opt = NULL;

        if (cfg->os.bootloader_reset == CFG_BOOTLOADER_HARD_RESET)
                return pxf_error_set(err, -EOPNOTSUPP,
                                     "os.bootloader.resetType hard-reset is implemented for "
                                     "Debian and Ubuntu images (GRUB with update-grub)");
        if (!joined[0])
                return 0;
        opt = pxf_asprintf("--args=%s", joined);
        return bld_guest_run(gs, (const char *[]){"grubby", "--update-kernel=ALL", opt, NULL}, err);
}

static int bootloader_apply(struct bld_guest *gs, const struct cfg_config *cfg,
                            struct pxf_error *err)
{
        _cleanup_strv_free_ char **args = cfg_os_kernel_args(&cfg->os);
        int r = gs->pkg == BLD_PKG_APT ? bootloader_debian(gs, cfg, args, err)
                                       : bootloader_grubby(gs, cfg, args, err);

        return r < 0 ? pxf_error_prefix(err, "os.bootloader, os.kernelCommandLine") : r;
}

static bool bootloader_wanted(const struct cfg_config *cfg)
{
        return cfg->os.extra_command_line || cfg->os.selinux_mode != CFG_SELINUX_UNSET ||
               cfg->os.bootloader_reset == CFG_BOOTLOADER_HARD_RESET;
}

const struct bld_step bld_step_bootloader = {"boot loader and kernel command line",
                                             bootloader_wanted, bootloader_apply};
