/* What a disk build copies out of the customized image beside its output, before the
 * image is closed: boot files (output.artifacts: shim/ and bootloader/ folders, as the
 * reference tool lays them out) and the SELinux policy (output.selinuxPolicyPath). Each
 * file or folder appears whole, through a temporary name and a rename. The guest's files
 * reach the host only through libguestfs (download, tar-out into the export's unpacker),
 * never through a mount. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "artifacts/artifacts.h"
#include "builder/builder-internal.h"

/* One boot file: where the image may keep it, and the name the reference tool gives the
 * copy. */
struct boot_file {
        const char *item;      /* the output.artifacts item, also the subfolder */
        const char *esp_name;  /* in the distribution's folder on the ESP */
        const char *alternate; /* the removable-media path */
        const char *name;
};

static const struct boot_file boot_files[] = {
    {"shim", "shimx64.efi", "/boot/efi/EFI/BOOT/BOOTX64.EFI", "bootx64.efi"},
    {"bootloader", "grubx64.efi", "/boot/efi/EFI/BOOT/grubx64.efi", "grubx64.efi"},
};

static int copy_boot_file(struct bld_guest *gs, const char *dir, const struct boot_file *b,
                          struct pxf_error *err)
{
        _cleanup_free_ char *own = pxf_asprintf("/boot/efi/EFI/%s/%s", gs->distro, b->esp_name);
        _cleanup_free_ char *sub = pxf_asprintf("%s/%s", dir, b->item);
        _cleanup_free_ char *dst = pxf_asprintf("%s/%s", sub, b->name);
        _cleanup_free_ char *tmp = pxf_asprintf("%s.partial", dst);
        const char *src = bld_guest_exists(gs, own) ? own : b->alternate;
        int r;

        if (!bld_guest_exists(gs, src))
                return pxf_error_set(err, -ENOENT,
                                     "output.artifacts: item '%s': the image has neither %s nor %s",
                                     b->item, own, b->alternate);
        r = pxf_mkdir_p(sub, 0755);
        if (r < 0)
                return pxf_error_set(err, r, "cannot create '%s': %s", sub, strerror(-r));
        if (guestfs_download(gs->g, src, tmp) < 0) {
                (void)unlink(tmp);
                return bld_guest_error(gs, err, "output.artifacts: cannot copy %s", src);
        }
        r = pxf_publish_file(tmp, dst);
        if (r < 0) {
                (void)unlink(tmp);
                return pxf_error_set(err, r, "cannot move '%s' into place: %s", dst, strerror(-r));
        }
        log_info("  %s: %s from %s", b->item, dst, src);
        return 0;
}

static int copy_artifacts(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        static const unsigned bits[] = {CFG_ARTIFACT_SHIM, CFG_ARTIFACT_BOOTLOADER};
        int r = 0;

        _Static_assert(PXF_ELEMENTSOF(bits) == PXF_ELEMENTSOF(boot_files), "one bit a file");
        for (size_t i = 0; r >= 0 && i < PXF_ELEMENTSOF(boot_files); i++)
                if (cfg->artifacts & bits[i])
                        r = copy_boot_file(gs, cfg->artifacts_path, &boot_files[i], err);
        return r;
}

/* /etc/selinux/TYPE of the image into PATH/TYPE. */
static int copy_selinux_policy(struct bld_guest *gs, const char *path, struct pxf_error *err)
{
        _cleanup_free_ char *guest_dir = NULL, *dst = NULL, *tmp = NULL;
        int r = bld_selinux_policy_dir(gs, &guest_dir, err);

        if (r < 0)
                return pxf_error_prefix(err, "output.selinuxPolicyPath");
        if (!bld_guest_is_dir(gs, guest_dir))
                return pxf_error_set(err, -ENOENT, "output.selinuxPolicyPath: the image has no %s",
                                     guest_dir);
        dst = pxf_asprintf("%s/%s", path, strrchr(guest_dir, '/') + 1);
        tmp = pxf_asprintf("%s.partial", dst);
        (void)pxf_rm_rf(tmp);
        r = pxf_mkdir_p(tmp, 0755);
        if (r < 0)
                return pxf_error_set(err, r, "cannot create '%s': %s", tmp, strerror(-r));
        r = bld_export_dir(gs, guest_dir, tmp, err);
        if (r >= 0 && (pxf_rm_rf(dst) < 0 || rename(tmp, dst) < 0))
                r = pxf_error_set(err, -errno, "cannot move '%s' into place: %m", dst);
        if (r < 0)
                (void)pxf_rm_rf(tmp);
        else
                log_info("  SELinux policy: %s from %s", dst, guest_dir);
        return r;
}

/* A live output carries SELinux labels in its squashfs only: the full-os initramfs is a
 * cpio archive, which has no extended attributes (the config refuses full-os when it
 * names it; this is the default's case). The tree is labelled on the host, which needs
 * root to set security.selinux. */
static int live_labels_check(const struct cfg_config *cfg, enum cfg_image_format format,
                             struct pxf_error *err)
{
        const char *mode = cfg_selinux_mode_name(cfg->os.selinux_mode);
        const char *section = format == CFG_FORMAT_ISO ? "iso" : "pxe";

        if (art_live_initramfs(cfg, format) == CFG_INITRAMFS_FULL_OS)
                return pxf_error_set(err, -EINVAL,
                                     "os.selinux.mode '%s' needs a bootstrap initramfs with %s: "
                                     "the full-os one (the default for %s) is a cpio archive, "
                                     "which carries no SELinux labels; set %s.initramfsType: "
                                     "bootstrap, or os.selinux.mode: disabled",
                                     mode, cfg_image_format_to_string(format),
                                     cfg_image_format_to_string(format), section);
        if (geteuid() != 0)
                return pxf_error_set(err, -EPERM,
                                     "os.selinux.mode '%s' with %s: labelling the live tree "
                                     "sets security.selinux attributes, which needs root; run "
                                     "pxeforge as root",
                                     mode, cfg_image_format_to_string(format));
        return 0;
}

int bld_extras_check(const struct cfg_config *cfg, enum cfg_image_format format,
                     struct pxf_error *err)
{
        enum cfg_selinux_mode mode = cfg->os.selinux_mode;
        bool labels = mode != CFG_SELINUX_UNSET && mode != CFG_SELINUX_DISABLED;
        const char *what = cfg->artifacts             ? "output.artifacts"
                           : cfg->selinux_policy_path ? "output.selinuxPolicyPath"
                           : cfg->os.packages.remove_package_manager
                               ? "os.packages.removePackageManager"
                               : NULL;

        if (cfg->live_root_omit && cfg_image_format_is_disk(format))
                return pxf_error_set(err, -EOPNOTSUPP,
                                     "liveRoot.omit works with live outputs (iso, pxe-dir, "
                                     "pxe-tar), not %s",
                                     cfg_image_format_to_string(format));
        if (cfg_image_format_is_disk(format))
                return 0;
        if (labels) {
                int r = live_labels_check(cfg, format, err);

                if (r < 0)
                        return r;
        }
        if (!what)
                return 0;
        return pxf_error_set(err, -EOPNOTSUPP,
                             "%s works with disk outputs (raw, qcow2, vhd, vhd-fixed, vhdx), not "
                             "%s",
                             what, cfg_image_format_to_string(format));
}

int bld_copy_extras(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        int r = 0;

        if (cfg->artifacts)
                r = copy_artifacts(gs, cfg, err);
        if (r >= 0 && cfg->selinux_policy_path)
                r = copy_selinux_policy(gs, cfg->selinux_policy_path, err);
        return r;
}

bool bld_extras_wanted(const struct cfg_config *cfg)
{
        return cfg->artifacts || cfg->selinux_policy_path;
}
