/* The bootstrap initramfs: the image's own dracut, run natively in a chroot of the
 * exported tree (65 s here, against 350 s inside the appliance under TCG), with the live
 * modules that download image.iso and switch to it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "builder/builder-internal.h"
#include "builder/live-internal.h"

#define DPKG_STATUS_MAX (64u * 1024 * 1024)
#define INITRD_IN_TREE  "var/tmp/pxeforge-bootstrap-initrd.img"

/* Packages the bootstrap initramfs needs in a Debian-family image. dracut 059's
 * systemd-networkd module never runs livenet's download, so older dracut uses the
 * network-legacy module with dhclient (platform notes); dracut-ng 103+ fixed that. */
static const char *const debian_needs[] = {"dracut", "dracut-live", "dracut-network",
                                           "curl",   "procps",      NULL};
static const char *const debian_needs_legacy[] = {"isc-dhcp-client", NULL};
#define DRACUT_NETWORKD_FIXED 103

/* The "Status:" and "Version:" of a package in a dpkg status file; NULL when absent. */
static const char *dpkg_field(const char *status, const char *package, const char *field,
                              size_t *ret_len)
{
        _cleanup_free_ char *needle = pxf_asprintf("Package: %s\n", package);
        size_t flen = strlen(field);

        for (const char *p = status; (p = strstr(p, needle)); p += strlen(needle)) {
                if (p != status && p[-1] != '\n')
                        continue;
                const char *end = strstr(p, "\n\n");
                for (const char *line = p; line && (!end || line < end);) {
                        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
                                const char *v = line + flen + 1 + (line[flen + 1] == ' ');
                                *ret_len = strcspn(v, "\n");
                                return v;
                        }
                        line = strchr(line, '\n');
                        line = line ? line + 1 : NULL;
                }
                return NULL;
        }
        return NULL;
}

static bool dpkg_installed(const char *status, const char *package)
{
        size_t len;
        const char *v = dpkg_field(status, package, "Status", &len);

        return v && len == strlen("install ok installed") &&
               strncmp(v, "install ok installed", len) == 0;
}

static void list_missing(const char *status, const char *const *names, char **missing)
{
        for (size_t i = 0; names[i]; i++) {
                if (dpkg_installed(status, names[i]))
                        continue;
                char *old = *missing;
                *missing = pxf_asprintf("%s%s%s", old ? old : "", old ? " " : "", names[i]);
                free(old);
        }
}

static int dracut_version(const char *status, int *ret, struct pxf_error *err)
{
        size_t len;
        const char *v = dpkg_field(status, "dracut", "Version", &len);
        _cleanup_free_ char *text = v ? strndup(v, len) : NULL;

        if (!text || bld_dracut_major_version(text, ret) < 0)
                return pxf_error_set(err, -EINVAL,
                                     "cannot tell the version of the image's "
                                     "dracut");
        return 0;
}

/* Checks the image can build the bootstrap initramfs; names every missing package. */
int bld_bootstrap_check(const char *tree, int *ret_dracut_major, struct pxf_error *err)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/var/lib/dpkg/status", tree);
        _cleanup_free_ char *status = NULL, *missing = NULL;
        int major = 0;
        int r = pxf_read_file(path, DPKG_STATUS_MAX, &status, NULL);

        if (r < 0)
                return pxf_error_set(err, -EOPNOTSUPP,
                                     "the bootstrap initramfs is built for "
                                     "Debian-family images (no dpkg "
                                     "database in the image)");
        list_missing(status, debian_needs, &missing);
        if (!missing)
                r = dracut_version(status, &major, err);
        if (r >= 0 && major < DRACUT_NETWORKD_FIXED)
                list_missing(status, debian_needs_legacy, &missing);
        if (missing)
                return pxf_error_set(err, -ENOPKG,
                                     "the image lacks packages that the bootstrap initramfs "
                                     "needs: %s; add them to os.packages.install",
                                     missing);
        if (r >= 0)
                *ret_dracut_major = major;
        return r;
}

/* Runs dracut in the tree for kver and moves its initramfs to out. */
int bld_bootstrap_initrd(const char *tree, const char *kver, int dracut_major, const char *out,
                         struct pxf_error *err)
{
        bool legacy = dracut_major < DRACUT_NETWORKD_FIXED;
        struct pxf_spawn_opts opts = {.stdout_fd = -1, .chroot_dir = tree, .stderr_to_log = true};
        _cleanup_free_ char *built = pxf_asprintf("%s/%s", tree, INITRD_IN_TREE);
        const char *argv[] = {
            "dracut",
            "--force",
            "--no-hostonly",
            "--reproducible",
            "--kver",
            kver,
            "--add",
            legacy ? "dmsquash-live livenet network-legacy" : "dmsquash-live livenet network",
            "--omit",
            legacy ? "plymouth systemd-networkd network-manager" : "plymouth",
            "--add-drivers",
            "overlay squashfs loop iso9660",
            "/" INITRD_IN_TREE,
            NULL,
        };
        int r = pxf_spawn_run(argv, &opts, err);

        if (r < 0)
                return pxf_error_prefix(err, "building the bootstrap initramfs with the image's "
                                             "dracut");
        if (rename(built, out) < 0 &&
            pxf_spawn_run((const char *[]){"mv", "--", built, out, NULL}, NULL, err) < 0)
                return pxf_error_prefix(err, "cannot move the bootstrap initramfs");
        return chmod(out, 0644) < 0 ? pxf_error_set(err, -errno, "cannot chmod '%s': %m", out) : 0;
}
