/* SELinux (os.selinux.mode): the mode in /etc/selinux/config, checked against the policy
 * the image has, and for any mode but disabled the file systems labelled with that
 * policy's file contexts, after the postCustomization scripts (the reference tool's
 * order), so that what they wrote is labelled too: a disk by the image's own setfiles in
 * the appliance, a live output's tree by the host's (its squashfs keeps the labels). The
 * kernel arguments of the mode are the boot loader step's (bootloader.c), and for live
 * outputs the boot menu's (artifacts/make.c). */
#include <errno.h>
#include <string.h>

#include "builder/builder-internal.h"

#define SELINUX_CONFIG     "/etc/selinux/config"
#define SELINUX_CONFIG_MAX (64u * 1024)
#define CONTEXTS_MAX       (16u << 20)

static bool labels_wanted_for(enum cfg_selinux_mode mode)
{
        return mode == CFG_SELINUX_PERMISSIVE || mode == CFG_SELINUX_ENFORCING ||
               mode == CFG_SELINUX_FORCE_ENFORCING;
}

char *bld_selinux_config_type(const char *text)
{
        return bld_config_value(text, "SELINUXTYPE");
}

char *bld_selinux_config_with_mode(const char *text, const char *mode)
{
        char *out = pxf_strdup("");
        bool replaced = false;

        for (const char *line = text; line && *line;) {
                size_t len = strcspn(line, "\n");
                bool ours = strncmp(line, "SELINUX=", 8) == 0;
                char *next = ours ? pxf_asprintf("%sSELINUX=%s\n", out, mode)
                                  : pxf_asprintf("%s%.*s\n", out, (int)len, line);

                free(out);
                out = next;
                replaced |= ours;
                line += len + (line[len] == '\n');
        }
        if (!replaced) {
                char *next = pxf_asprintf("%sSELINUX=%s\n", out, mode);

                free(out);
                out = next;
        }
        return out;
}

static int read_config(struct bld_guest *gs, char **ret, struct pxf_error *err)
{
        int r = bld_guest_read(gs, SELINUX_CONFIG, SELINUX_CONFIG_MAX, ret, err);

        if (r == -ENOENT)
                return pxf_error_set(err, r,
                                     "the image has no SELinux (no %s); install a policy with "
                                     "os.packages.install (Debian: selinux-basics "
                                     "selinux-policy-default)",
                                     SELINUX_CONFIG);
        return r;
}

/* "/etc/selinux/TYPE", the folder of the policy the config names. */
static char *policy_dir_of(const char *config)
{
        _cleanup_free_ char *type = bld_selinux_config_type(config);

        return pxf_asprintf("/etc/selinux/%s", type && type[0] ? type : "default");
}

int bld_selinux_policy_dir(struct bld_guest *gs, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *config = NULL;
        int r = read_config(gs, &config, err);

        if (r >= 0)
                *ret = policy_dir_of(config);
        return r;
}

/* The file contexts of the image's policy, or an error that says what to install. */
static int file_contexts(struct bld_guest *gs, const char *config, char **ret,
                         struct pxf_error *err)
{
        _cleanup_free_ char *dir = policy_dir_of(config);
        _cleanup_free_ char *path = pxf_asprintf("%s/contexts/files/file_contexts", dir);

        if (!bld_guest_exists(gs, path))
                return pxf_error_set(err, -ENOENT,
                                     "the image's SELinux policy has no %s; install one with "
                                     "os.packages.install (Debian: selinux-policy-default)",
                                     path);
        *ret = TAKE_PTR(path);
        return 0;
}

static int mode_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        enum cfg_selinux_mode mode = cfg->os.selinux_mode;
        _cleanup_free_ char *config = NULL, *contexts = NULL, *changed = NULL;
        int r;

        if (mode == CFG_SELINUX_DISABLED && !bld_guest_exists(gs, SELINUX_CONFIG)) {
                log_info("  the image has no SELinux configuration: selinux=0 on the kernel "
                         "command line is all there is to do");
                return 0;
        }
        r = read_config(gs, &config, err);
        if (r >= 0 && labels_wanted_for(mode))
                r = file_contexts(gs, config, &contexts, err);
        if (r < 0)
                return pxf_error_prefix(err, "os.selinux.mode");
        /* force-enforcing is enforcing plus enforcing=1 on the kernel command line */
        changed = bld_selinux_config_with_mode(config, mode == CFG_SELINUX_FORCE_ENFORCING
                                                           ? "enforcing"
                                                           : cfg_selinux_mode_name(mode));
        return bld_guest_write(gs, SELINUX_CONFIG, changed, strlen(changed), 0644, err);
}

/* setfiles skips what cannot hold labels: the kernel's own file systems and vfat (the
 * ESP). */
static char **setfiles_argv(struct bld_guest *gs, const char *contexts)
{
        static const char *const kernel_fs[] = {"/proc", "/sys", "/dev", "/run"};
        _cleanup_strv_free_ char **mounts = guestfs_mountpoints(gs->g);
        char **argv = NULL;

        pxf_strv_push(&argv, "setfiles");
        pxf_strv_push(&argv, "-F");
        for (size_t i = 0; i < PXF_ELEMENTSOF(kernel_fs); i++) {
                pxf_strv_push(&argv, "-e");
                pxf_strv_push(&argv, kernel_fs[i]);
        }
        for (size_t i = 0; mounts && mounts[i] && mounts[i + 1]; i += 2) {
                _cleanup_free_ char *type = guestfs_vfs_type(gs->g, mounts[i]);

                if (!type || strcmp(type, "vfat") != 0)
                        continue;
                pxf_strv_push(&argv, "-e");
                pxf_strv_push(&argv, mounts[i + 1]);
        }
        pxf_strv_push(&argv, contexts);
        pxf_strv_push(&argv, "/");
        return argv;
}

/* The policy's file-context files, copied out of the tree into dir as text: the host's
 * setfiles reads them there, never the tree's compiled .bin files, whose format follows
 * the image's libselinux and not the host's. */
static int copy_contexts(struct bld_guest *gs, const char *contexts, const char *dir,
                         struct pxf_error *err)
{
        static const char *const suffixes[] = {"", ".homedirs", ".local", ".subs", ".subs_dist"};
        int r = 0;

        for (size_t i = 0; r >= 0 && i < PXF_ELEMENTSOF(suffixes); i++) {
                _cleanup_free_ char *src = pxf_asprintf("%s%s", contexts, suffixes[i]);
                _cleanup_free_ char *dst = pxf_asprintf("%s/file_contexts%s", dir, suffixes[i]);
                _cleanup_free_ char *text = NULL;

                r = bld_guest_read(gs, src, CONTEXTS_MAX, &text, err);
                if (r == -ENOENT && i > 0)
                        r = 0; /* only file_contexts itself must be there */
                else if (r >= 0)
                        r = pxf_write_file_atomic(dst, text, strlen(text), 0644, err);
                else if (r == -ENOENT)
                        r = pxf_error_set(err, r, "the image has no %s", src);
        }
        return r;
}

/* A live output's tree, labelled on the host by the host's setfiles (policycoreutils)
 * with the image's file contexts: the labels must be set outside the guest's container,
 * which has no CAP_SYS_ADMIN. -m: the host's mounts say nothing of the tree's. */
static int label_tree(struct bld_guest *gs, const char *contexts, struct pxf_error *err)
{
        _cleanup_free_ char *dir = pxf_asprintf("%s-contexts-XXXXXX", gs->tree), *fc = NULL;
        int r;

        log_info("  labelling the tree with the host's setfiles and %s", contexts);
        if (!mkdtemp(dir))
                return pxf_error_set(err, -errno, "cannot make a folder beside '%s': %m", gs->tree);
        fc = pxf_asprintf("%s/file_contexts", dir);
        r = copy_contexts(gs, contexts, dir, err);
        if (r >= 0)
                r = pxf_spawn_tool(
                    (const char *[]){"setfiles", "-m", "-F", "-r", gs->tree, fc, gs->tree, NULL},
                    "policycoreutils", NULL, err);
        (void)pxf_rm_rf(dir);
        return r;
}

/* A live root is an overlay whose top directory dracut makes on a tmpfs before the policy
 * loads: it reads as tmpfs_t, and under enforcing confined services (journald, networkd,
 * getty) cannot even search "/", so the boot never reaches a login prompt. This unit
 * labels it once the policy is in, before those start; on a disk boot it does nothing. */
#define LIVE_LABEL_UNIT  "pxeforge-live-selinux-label.service"
#define LIVE_LABEL_PATH  "/etc/systemd/system/" LIVE_LABEL_UNIT
#define LIVE_LABEL_WANTS "/etc/systemd/system/sysinit.target.wants"
#define RESTORECON       "/sbin/restorecon"

static const char live_label_unit[] =
    "# Written by pxeforge (os.selinux.mode on a live output): the live root's top directory\n"
    "# is made on a tmpfs before the policy loads; this gives it its label.\n"
    "[Unit]\n"
    "Description=Label the live root's top directory for SELinux\n"
    "DefaultDependencies=no\n"
    "ConditionSecurity=selinux\n"
    "ConditionKernelCommandLine=rd.live.image\n"
    "Before=sysinit.target systemd-journald.service systemd-networkd.service "
    "systemd-modules-load.service kmod-static-nodes.service "
    "systemd-network-generator.service\n"
    "\n"
    "[Service]\n"
    "Type=oneshot\n"
    "ExecStart=" RESTORECON " /\n"
    "\n"
    "[Install]\n"
    "WantedBy=sysinit.target\n";

/* Seen booting: Debian 12's policy denies every process the use of the loop device's
 * file the live root is read from (kernel_t's fd, opened before the policy loaded), so an
 * enforcing live boot stops before getty; Debian 13's allows it. */
int bld_selinux_live_mode_check(const struct bld_guest *gs, const struct cfg_config *cfg,
                                struct pxf_error *err)
{
        enum cfg_selinux_mode mode = cfg->os.selinux_mode;

        if (!gs->live || (mode != CFG_SELINUX_ENFORCING && mode != CFG_SELINUX_FORCE_ENFORCING))
                return 0;
        if (!gs->distro || strcmp(gs->distro, "debian") != 0 || gs->major_version > 12)
                return 0;
        return pxf_error_set(err, -EOPNOTSUPP,
                             "os.selinux.mode: '%s' on a live output of Debian %d: its policy "
                             "denies every process the files of the live root's loop device "
                             "(fd use of kernel_t), and the boot stops before a login prompt; "
                             "use permissive, a disk output, or a Debian 13 image",
                             cfg_selinux_mode_name(mode), gs->major_version);
}

static int add_live_label_unit(struct bld_guest *gs, struct pxf_error *err)
{
        int r;

        if (!bld_guest_exists(gs, RESTORECON))
                return pxf_error_set(err, -ENOENT,
                                     "a live output's boot labels its root's top directory with "
                                     "%s, which the image lacks: install policycoreutils "
                                     "(os.packages.install)",
                                     RESTORECON);
        r = bld_guest_write(gs, LIVE_LABEL_PATH, live_label_unit, strlen(live_label_unit), 0644,
                            err);
        if (r >= 0)
                r = bld_guest_mkdir_p(gs, LIVE_LABEL_WANTS, 0755, err);
        if (r >= 0)
                r = bld_guest_symlink(gs, LIVE_LABEL_PATH, LIVE_LABEL_WANTS "/" LIVE_LABEL_UNIT,
                                      err);
        return r;
}

static int labels_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        _cleanup_free_ char *config = NULL, *contexts = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        int r = read_config(gs, &config, err);

        (void)cfg;
        if (r >= 0)
                r = file_contexts(gs, config, &contexts, err);
        if (r < 0)
                return pxf_error_prefix(err, "os.selinux.mode");
        if (gs->tree && gs->live)
                r = add_live_label_unit(gs, err);
        if (r < 0)
                return pxf_error_prefix(err, "os.selinux.mode");
        if (gs->tree)
                r = label_tree(gs, contexts, err);
        else {
                argv = setfiles_argv(gs, contexts);
                r = bld_guest_run(gs, (const char *const *)argv, err);
        }
        return r < 0 ? pxf_error_prefix(err, "os.selinux.mode: labelling the file systems") : r;
}

bool bld_grub_cfg_enables_selinux(const char *grub_cfg)
{
        if (!grub_cfg)
                return false;
        if (strstr(grub_cfg, "security=selinux"))
                return true;
        for (const char *p = strstr(grub_cfg, "lsm="); p; p = strstr(p + 4, "lsm=")) {
                size_t len = strcspn(p + 4, " \t\n");

                if (memmem(p + 4, len, "selinux", 7))
                        return true;
        }
        return false;
}

/* Whether the image boots with SELinux on: a mode other than disabled in its config and,
 * on Debian-family images, whose kernels start AppArmor unless told otherwise, a GRUB
 * menu that selects SELinux (a policy installed but never activated leaves it off). */
static int image_runs_selinux(struct bld_guest *gs, char **ret_mode, struct pxf_error *err)
{
        _cleanup_free_ char *config = NULL, *grub = NULL, *mode = NULL;
        int r = bld_guest_read(gs, SELINUX_CONFIG, SELINUX_CONFIG_MAX, &config, err);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        mode = bld_config_value(config, "SELINUX");
        if (!mode || strcmp(mode, "disabled") == 0)
                return 0;
        if (gs->pkg == BLD_PKG_APT) {
                r = bld_guest_read(gs, "/boot/grub/grub.cfg", 16u << 20, &grub, err);
                if (r == -ENOENT || (r >= 0 && !bld_grub_cfg_enables_selinux(grub)))
                        return 0;
                if (r < 0)
                        return r;
        }
        *ret_mode = TAKE_PTR(mode);
        return 1;
}

int bld_selinux_live_check(struct bld_guest *gs, const struct cfg_config *cfg,
                           enum cfg_initramfs_type initramfs, struct pxf_error *err)
{
        _cleanup_free_ char *mode = NULL;
        int r;

        if (initramfs != CFG_INITRAMFS_FULL_OS || cfg->os.selinux_mode == CFG_SELINUX_DISABLED)
                return 0;
        r = image_runs_selinux(gs, &mode, err);
        if (r <= 0)
                return r;
        return pxf_error_set(err, -EINVAL,
                             "the image runs SELinux (SELINUX=%s in %s), and a full-os "
                             "initramfs carries no SELinux labels: set os.selinux.mode: "
                             "disabled, or use initramfsType bootstrap",
                             mode, SELINUX_CONFIG);
}

static bool mode_wanted(const struct cfg_config *cfg)
{
        return cfg->os.selinux_mode != CFG_SELINUX_UNSET;
}

static bool labels_wanted(const struct cfg_config *cfg)
{
        return labels_wanted_for(cfg->os.selinux_mode);
}

const struct bld_step bld_step_selinux = {"SELinux mode", mode_wanted, mode_apply};
const struct bld_step bld_step_selinux_labels = {"SELinux labels", labels_wanted, labels_apply};
