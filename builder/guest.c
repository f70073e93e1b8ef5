/* The libguestfs session: one appliance launch per build, inspection, mounting, and thin
 * wrappers that turn libguestfs errors into struct pxf_error at the call; the same
 * operations go to the exported tree (tree.c) once a live build has switched to it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "builder/builder-internal.h"

/* Distributions whose package manager pxeforge knows. apt is exercised by the VM tests,
 * dnf by integration.rpm-sources (packages only: no RPM-family image boots in the tests). */
static const struct {
        const char *distro;
        enum bld_pkg_family pkg;
} supported_distros[] = {
    {"debian", BLD_PKG_APT},    {"ubuntu", BLD_PKG_APT},   {"fedora", BLD_PKG_DNF},
    {"rhel", BLD_PKG_DNF},      {"centos", BLD_PKG_DNF},   {"rocky", BLD_PKG_DNF},
    {"almalinux", BLD_PKG_DNF}, {"mariner", BLD_PKG_TDNF}, {"azurelinux", BLD_PKG_TDNF},
};

/* The releases the VM tests boot; any other of the Debian family builds with a warning. */
static const struct {
        const char *distro;
        int major;
} proven_releases[] = {{"debian", 12}, {"debian", 13}};
#define PROVEN_RELEASES_TEXT "Debian 12 (bookworm) and Debian 13 (trixie)"

bool bld_release_proven(const char *distro, int major)
{
        for (size_t i = 0; distro && i < PXF_ELEMENTSOF(proven_releases); i++)
                if (strcmp(distro, proven_releases[i].distro) == 0 &&
                    major == proven_releases[i].major)
                        return true;
        return false;
}

int bld_guest_error(struct bld_guest *gs, struct pxf_error *err, const char *fmt, ...)
{
        const char *msg = guestfs_last_error(gs->g);
        int e = guestfs_last_errno(gs->g);
        char what[1024];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        return pxf_error_set(err, e > 0 ? -e : -EIO, "%s: %s", what,
                             msg ? msg : "unknown libguestfs error");
}

static void on_guestfs_event(guestfs_h *g, void *opaque, uint64_t event, int handle, int flags,
                             const char *buf, size_t len, const uint64_t *array, size_t n)
{
        (void)g, (void)opaque, (void)event, (void)handle, (void)flags, (void)array, (void)n;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                len--;
        if (len > 0)
                log_debug("guestfs: %.*s", (int)len, buf);
}

static guestfs_h *new_handle(const struct bld_guest_params *p, bool force_tcg)
{
        /* The environment is parsed on purpose: LIBGUESTFS_BACKEND_SETTINGS and friends
         * are how users tune libguestfs on their machine. */
        guestfs_h *g = guestfs_create_flags(GUESTFS_CREATE_NO_CLOSE_ON_EXIT);

        if (!g)
                return NULL;
        guestfs_set_error_handler(g, NULL, NULL);
        if (pxf_log_get_level() >= PXF_LOG_DEBUG)
                (void)guestfs_set_event_callback(g, on_guestfs_event,
                                                 GUESTFS_EVENT_LIBRARY | GUESTFS_EVENT_WARNING |
                                                     GUESTFS_EVENT_APPLIANCE,
                                                 0, NULL);
        if (force_tcg)
                (void)guestfs_set_backend_setting(g, "force_tcg", "1");
        /* QEMU and libguestfs' recovery process get their own process groups: stopping
         * the build's group must not kill the recovery process, which is what stops
         * QEMU once the build is gone. */
        (void)guestfs_set_pgroup(g, 1);
        (void)guestfs_set_tmpdir(g, p->tmpdir);
        (void)guestfs_set_memsize(g, 2048); /* package managers need more than 1.2 GiB */
        (void)guestfs_set_smp(g, 2);
        (void)guestfs_set_network(g, p->network);
        return g;
}

static bool tcg_forced(guestfs_h *g)
{
        char *v;

        guestfs_push_error_handler(g, NULL, NULL);
        v = guestfs_get_backend_setting(g, "force_tcg");
        guestfs_pop_error_handler(g);
        bool set = v != NULL;
        free(v);
        return set;
}

static int launch_once(struct bld_guest *gs, const struct bld_guest_params *p, bool force_tcg,
                       struct pxf_error *err)
{
        gs->g = new_handle(p, force_tcg);
        if (!gs->g)
                return pxf_error_set(err, -ENOMEM, "cannot create a libguestfs handle");
        if (guestfs_add_drive_opts(gs->g, p->disk, GUESTFS_ADD_DRIVE_OPTS_FORMAT, p->format,
                                   GUESTFS_ADD_DRIVE_OPTS_CACHEMODE, "unsafe", -1) < 0)
                return bld_guest_error(gs, err, "cannot add '%s'", p->image_name);
        if (guestfs_launch(gs->g) < 0)
                return bld_guest_error(gs, err, "cannot launch the libguestfs appliance");
        return 0;
}

/* KVM may be present but unusable (nested virtualization); libguestfs then aborts the
 * launch. Retrying once under TCG keeps the fast path on machines where KVM works. */
static int launch(struct bld_guest *gs, const struct bld_guest_params *p, struct pxf_error *err)
{
        int r = launch_once(gs, p, false, err);

        if (r >= 0 || !gs->g || tcg_forced(gs->g))
                return r;
        log_warning("the libguestfs appliance failed to start with KVM; retrying with "
                    "software emulation (TCG), which is several times slower");
        guestfs_close(gs->g);
        gs->g = NULL;
        return launch_once(gs, p, true, err);
}

/* From the release inspection found (gs->distro, gs->major_version). */
static int pick_package_manager(struct bld_guest *gs, struct pxf_error *err)
{
        for (size_t i = 0; gs->distro && i < PXF_ELEMENTSOF(supported_distros); i++)
                if (strcmp(gs->distro, supported_distros[i].distro) == 0) {
                        gs->pkg = supported_distros[i].pkg;
                        if (gs->pkg == BLD_PKG_APT &&
                            !bld_release_proven(gs->distro, gs->major_version))
                                log_warning("image '%s' holds %s %d, a release pxeforge has not "
                                            "been proven on (proven: " PROVEN_RELEASES_TEXT
                                            "); the build goes on: boot the result before "
                                            "relying on it",
                                            gs->image, gs->distro, gs->major_version);
                        return 0;
                }
        return pxf_error_set(err, -EMEDIUMTYPE,
                             "image '%s' holds the Linux distribution '%s', which pxeforge "
                             "does not support (supported: debian and ubuntu with apt; fedora, "
                             "rhel, centos, rocky and almalinux with dnf; mariner and "
                             "azurelinux with tdnf)",
                             gs->image, gs->distro ? gs->distro : "unknown");
}

/* libguestfs names only the distributions it knew when it was released: Debian 12's
 * (1.48) calls Azure Linux and CBL-Mariner "unknown". Their os-release says what they are
 * (read once the file systems are mounted). */
static void distro_from_os_release(struct bld_guest *gs)
{
        static const char *const paths[] = {"/etc/os-release", "/usr/lib/os-release"};

        for (size_t i = 0; i < PXF_ELEMENTSOF(paths); i++) {
                _cleanup_free_ char *text = NULL;
                char *id;
                if (!bld_guest_exists(gs, paths[i]) ||
                    bld_guest_read(gs, paths[i], 65536, &text, NULL) < 0)
                        continue;
                id = bld_os_release_id(text);
                if (!id)
                        continue;
                log_debug("libguestfs names no distribution; %s says ID=%s", paths[i], id);
                free(gs->distro);
                gs->distro = id;
                return;
        }
}

static int pick_distro(struct bld_guest *gs, const char *root, struct pxf_error *err)
{
        _cleanup_free_ char *type = guestfs_inspect_get_type(gs->g, root);

        if (!type || strcmp(type, "linux") != 0)
                return pxf_error_set(err, -EMEDIUMTYPE,
                                     "image '%s' holds a '%s' operating system; pxeforge "
                                     "customizes Linux images only",
                                     gs->image, type ? type : "unknown");
        gs->distro = guestfs_inspect_get_distro(gs->g, root);
        gs->major_version = guestfs_inspect_get_major_version(gs->g, root);
        return 0;
}

static int compare_mountpoint_len(const void *a, const void *b)
{
        size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

        return (la > lb) - (la < lb);
}

/* File systems the appliance reads only with an extra Debian package on the host. For
 * xfs libguestfs says whether it can (its "xfs" feature); for the others the package is
 * named as what to try. */
static const struct {
        const char *type, *feature, *package;
} fs_packages[] = {
    {"xfs", "xfs", "libguestfs-xfs"},        {"reiserfs", NULL, "libguestfs-reiserfs"},
    {"hfsplus", NULL, "libguestfs-hfsplus"}, {"zfs_member", NULL, "libguestfs-zfs"},
    {"jfs", NULL, "libguestfs-jfs"},         {"nilfs2", NULL, "libguestfs-nilfs"},
    {"gfs2", NULL, "libguestfs-gfs2"},
};

/* The first file system of the image that the appliance may not read, as a hint for an
 * error: "; it holds an xfs file system (/dev/sda2), which ...". "" when none. */
static void fs_package_hint(struct bld_guest *gs, char *buf, size_t size)
{
        _cleanup_strv_free_ char **fs = guestfs_list_filesystems(gs->g);

        buf[0] = '\0';
        for (size_t i = 0; fs && fs[i] && fs[i + 1] && !buf[0]; i += 2)
                for (size_t k = 0; k < PXF_ELEMENTSOF(fs_packages) && !buf[0]; k++) {
                        const char *groups[] = {fs_packages[k].feature, NULL};
                        if (strcmp(fs[i + 1], fs_packages[k].type) != 0)
                                continue;
                        if (fs_packages[k].feature &&
                            guestfs_feature_available(gs->g, (char **)groups) == 1)
                                continue;
                        (void)snprintf(buf, size,
                                       "; it holds a file system of type %s (%s), which "
                                       "libguestfs reads only with the Debian package %s: "
                                       "install it on this host",
                                       fs[i + 1], fs[i], fs_packages[k].package);
                }
}

/* Mounts shortest mount point first, so / comes before /boot before /boot/efi. */
static int mount_all(struct bld_guest *gs, const char *root, struct pxf_error *err)
{
        _cleanup_strv_free_ char **mps = guestfs_inspect_get_mountpoints(gs->g, root);
        size_t n;

        if (!mps)
                return bld_guest_error(gs, err, "cannot read the mount points of '%s'", gs->image);
        n = pxf_strv_length(mps) / 2;
        qsort(mps, n, 2 * sizeof(char *), compare_mountpoint_len);
        for (size_t i = 0; i < n; i++) {
                log_debug("mounting %s on %s", mps[2 * i + 1], mps[2 * i]);
                if (guestfs_mount(gs->g, mps[2 * i + 1], mps[2 * i]) < 0) {
                        int r = bld_guest_error(gs, err, "cannot mount %s on %s (from /etc/fstab)",
                                                mps[2 * i + 1], mps[2 * i]);
                        char hint[256];
                        fs_package_hint(gs, hint, sizeof hint);
                        if (err && hint[0]) {
                                size_t len = strlen(err->msg);
                                (void)snprintf(err->msg + len, sizeof err->msg - len, "%s", hint);
                        }
                        return r;
                }
        }
        return 0;
}

static int inspect_and_mount(struct bld_guest *gs, struct pxf_error *err)
{
        _cleanup_strv_free_ char **roots = guestfs_inspect_os(gs->g);
        size_t n;
        int r;

        if (!roots)
                return bld_guest_error(gs, err,
                                       "cannot read the file systems of '%s' (is the "
                                       "image corrupted?)",
                                       gs->image);
        n = pxf_strv_length(roots);
        if (n == 0) {
                char hint[256];
                fs_package_hint(gs, hint, sizeof hint);
                return pxf_error_set(
                    err, -EMEDIUMTYPE, "no operating system found in image '%s'%s", gs->image,
                    hint[0] ? hint : ": it is blank, corrupted, or not a Linux disk image");
        }
        if (n > 1)
                return pxf_error_set(err, -EMEDIUMTYPE,
                                     "image '%s' holds %zu operating systems; pxeforge needs "
                                     "exactly one",
                                     gs->image, n);
        r = pick_distro(gs, roots[0], err);
        if (r >= 0)
                r = mount_all(gs, roots[0], err);
        if (r < 0)
                return r;
        if (!gs->distro || strcmp(gs->distro, "unknown") == 0)
                distro_from_os_release(gs);
        r = pick_package_manager(gs, err);
        if (r >= 0)
                log_info("found %s %d in '%s'", gs->distro, gs->major_version, gs->image);
        return r;
}

int bld_guest_open(struct bld_guest *gs, const struct bld_guest_params *p, struct pxf_error *err)
{
        int r;

        *gs =
            (struct bld_guest){.tree_fd = -1, .image = pxf_strdup(p->image_name), .live = p->live};
        r = launch(gs, p, err);
        if (r >= 0)
                r = inspect_and_mount(gs, err);
        if (r < 0)
                bld_guest_abort(gs);
        return r;
}

int bld_guest_open_tree(struct bld_guest *gs, const char *image_name, const char *distro,
                        int major_version, const char *tree, bool network, struct pxf_error *err)
{
        int r;

        *gs = (struct bld_guest){.tree_fd = -1,
                                 .image = pxf_strdup(image_name),
                                 .distro = pxf_strdup(distro),
                                 .major_version = major_version,
                                 .live = true};
        r = pick_package_manager(gs, err);
        if (r >= 0) {
                log_info("found %s %d in '%s' (its tree from the cache)", gs->distro,
                         gs->major_version, gs->image);
                r = bld_tree_attach(gs, tree, network, err);
        }
        if (r < 0)
                bld_guest_abort(gs);
        return r;
}

void bld_guest_abort(struct bld_guest *gs)
{
        if (gs->g)
                guestfs_close(gs->g);
        bld_tree_detach(gs);
        free(gs->package_cache);
        free(gs->image);
        free(gs->distro);
        *gs = (struct bld_guest){.g = NULL, .tree_fd = -1};
}

static int close_appliance(struct bld_guest *gs, struct pxf_error *err)
{
        int r = 0;

        if (guestfs_umount_all(gs->g) < 0 || guestfs_shutdown(gs->g) < 0)
                r = bld_guest_error(gs, err, "cannot write the customized image back");
        guestfs_close(gs->g);
        gs->g = NULL;
        return r;
}

int bld_guest_close(struct bld_guest *gs, struct pxf_error *err)
{
        int r = gs->g ? close_appliance(gs, err) : 0;

        bld_guest_abort(gs);
        return r;
}

int bld_guest_switch_to_tree(struct bld_guest *gs, const char *tree, bool network,
                             struct pxf_error *err)
{
        int r = close_appliance(gs, err);

        return r < 0 ? r : bld_tree_attach(gs, tree, network, err);
}

static void log_output(const char *prog, const char *out)
{
        while (out && *out) {
                size_t len = strcspn(out, "\n");
                if (len > 0)
                        log_debug("%s: %.*s", prog, (int)len, out);
                out += len + (out[len] == '\n');
        }
}

int bld_guest_capture(struct bld_guest *gs, const char *const *argv, char **ret,
                      struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_capture(gs, argv, ret, err);
        log_debug("running in the image: %s", argv[0]);
        *ret = guestfs_command(gs->g, (char *const *)argv);
        if (!*ret)
                return bld_guest_error(gs, err, "%s failed in the image", argv[0]);
        return 0;
}

/* In the appliance, stdout and stderr become one stream, in order, only through a shell of
 * the image: the program's argv passes through "$@" untouched, and its exit status comes
 * back as the last line. tail keeps what returns within libguestfs' message size. */
#define EXIT_MARK "pxeforge-exit-status="
static const char run_script[] = "{ \"$@\" 2>&1; echo \"" EXIT_MARK "$?\"; } | tail -c 2000000";

static int run_in_appliance(struct bld_guest *gs, const char *const *argv, struct pxf_error *err)
{
        size_t n = 0;
        _cleanup_free_ char **wrapped = NULL;
        _cleanup_free_ char *out = NULL;
        char *mark, what[64];
        int status;

        while (argv[n])
                n++;
        wrapped = pxf_calloc(n + 5, sizeof *wrapped);
        wrapped[0] = (char *)"/bin/sh", wrapped[1] = (char *)"-c";
        wrapped[2] = (char *)run_script, wrapped[3] = (char *)"sh";
        memcpy(wrapped + 4, argv, (n + 1) * sizeof *argv);
        log_debug("running in the image: %s", argv[0]);
        out = guestfs_command(gs->g, wrapped);
        if (!out)
                return bld_guest_error(gs, err, "%s failed in the image", argv[0]);
        mark = NULL; /* the last one: the program's own output may hold the marker too */
        for (char *p = strstr(out, EXIT_MARK); p; p = strstr(p + 1, EXIT_MARK))
                mark = p;
        if (!mark || sscanf(mark + strlen(EXIT_MARK), "%d", &status) != 1)
                return pxf_error_set(err, -EIO, "%s in the image: no exit status came back",
                                     argv[0]);
        *mark = '\0';
        log_output(argv[0], out);
        if (status == 0)
                return 0;
        (void)snprintf(what, sizeof what, "exited with status %d in the image", status);
        return pxf_spawn_failure(argv, what, out, strlen(out), false, err);
}

int bld_guest_run(struct bld_guest *gs, const char *const *argv, struct pxf_error *err)
{
        return gs->tree ? bld_tree_run(gs, argv, err) : run_in_appliance(gs, argv, err);
}

int bld_guest_write(struct bld_guest *gs, const char *path, const char *data, size_t len,
                    mode_t mode, struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_write(gs, path, data, len, mode, err);
        if (guestfs_write(gs->g, path, data, len) < 0)
                return bld_guest_error(gs, err, "cannot write %s in the image", path);
        if (guestfs_chmod(gs->g, (int)mode, path) < 0)
                return bld_guest_error(gs, err, "cannot set the mode of %s", path);
        return 0;
}

int bld_guest_read(struct bld_guest *gs, const char *path, size_t max, char **ret,
                   struct pxf_error *err)
{
        _cleanup_free_ char *data = NULL;
        int64_t size;
        size_t len;

        if (gs->tree)
                return bld_tree_read(gs, path, max, ret, err);
        if (!bld_guest_exists(gs, path))
                return -ENOENT;
        size = guestfs_filesize(gs->g, path);
        if (size < 0)
                return bld_guest_error(gs, err, "cannot read %s in the image", path);
        if ((uint64_t)size > max)
                return pxf_error_set(err, -EFBIG, "%s in the image is larger than %zu bytes", path,
                                     max);
        data = guestfs_read_file(gs->g, path, &len);
        if (!data)
                return bld_guest_error(gs, err, "cannot read %s in the image", path);
        *ret = pxf_calloc(len + 1, 1);
        memcpy(*ret, data, len);
        return 0;
}

int bld_guest_mkdir_p(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_mkdir_p(gs, path, mode, err);
        if (bld_guest_is_dir(gs, path))
                return 0;
        if (guestfs_mkdir_p(gs->g, path) < 0 || guestfs_chmod(gs->g, (int)mode, path) < 0)
                return bld_guest_error(gs, err, "cannot create directory %s in the image", path);
        return 0;
}

int bld_guest_upload(struct bld_guest *gs, const char *host_path, const char *guest_path,
                     mode_t mode, struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_upload(gs, host_path, guest_path, mode, err);
        if (guestfs_upload(gs->g, host_path, guest_path) < 0)
                return bld_guest_error(gs, err, "cannot copy '%s' to %s in the image", host_path,
                                       guest_path);
        if (guestfs_chmod(gs->g, (int)mode, guest_path) < 0)
                return bld_guest_error(gs, err, "cannot set the mode of %s", guest_path);
        return 0;
}

static int probe(struct bld_guest *gs, int (*fn)(guestfs_h *, const char *), const char *path)
{
        int r;

        guestfs_push_error_handler(gs->g, NULL, NULL);
        r = fn(gs->g, path);
        guestfs_pop_error_handler(gs->g);
        return r;
}

bool bld_guest_exists(struct bld_guest *gs, const char *path)
{
        if (gs->tree)
                return bld_tree_exists(gs, path);
        return probe(gs, guestfs_exists, path) > 0;
}

bool bld_guest_is_dir(struct bld_guest *gs, const char *path)
{
        if (gs->tree)
                return bld_tree_is_dir(gs, path);
        return probe(gs, guestfs_is_dir, path) > 0;
}

int bld_guest_remove(struct bld_guest *gs, const char *path, struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_remove(gs, path, err);
        if (guestfs_rm_rf(gs->g, path) < 0)
                return bld_guest_error(gs, err, "cannot remove %s in the image", path);
        return 0;
}

int bld_guest_chmod(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_chmod(gs, path, mode, err);
        if (guestfs_chmod(gs->g, (int)mode, path) < 0)
                return bld_guest_error(gs, err, "cannot set the mode of %s", path);
        return 0;
}

int bld_guest_symlink(struct bld_guest *gs, const char *target, const char *path,
                      struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_symlink(gs, target, path, err);
        if (guestfs_ln_sf(gs->g, target, path) < 0)
                return bld_guest_error(gs, err, "cannot create link %s", path);
        return 0;
}

char **bld_guest_ls(struct bld_guest *gs, const char *dir)
{
        return gs->tree ? bld_tree_ls(gs, dir) : guestfs_ls(gs->g, dir);
}

int bld_guest_chown(struct bld_guest *gs, const char *path, uid_t uid, gid_t gid,
                    struct pxf_error *err)
{
        if (gs->tree)
                return bld_tree_chown(gs, path, uid, gid, err);
        if (guestfs_lchown(gs->g, (int)uid, (int)gid, path) < 0)
                return bld_guest_error(gs, err, "cannot change the owner of %s", path);
        return 0;
}
