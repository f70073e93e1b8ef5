/* The bootstrap initramfs: the image's own dracut, run natively in a container on the
 * exported tree (65 s here, against 350 s inside the appliance under TCG), with the live
 * modules that download image.iso and switch to it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "artifacts/live-internal.h"
#include "livenet-check.h"

#define DPKG_STATUS_MAX (64u * 1024 * 1024)
#define INITRD_IN_TREE  "var/tmp/pxeforge-bootstrap-initrd.img"
/* A folder made at the tree's top for dracut's --include, removed after the build. */
#define INCLUDE_DIR        ".pxeforge-initrd-include"
#define LIVENETROOT_DRACUT "/usr/lib/dracut/modules.d/90livenet/livenetroot.sh"
#define CPIO_HEADER        110 /* newc: "070701" and 13 fields of 8 hex digits */

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

        if (!text || art_dracut_major_version(text, ret) < 0)
                return pxf_error_set(err, -EINVAL,
                                     "cannot tell the version of the image's "
                                     "dracut");
        return 0;
}

/* Checks the image can build the bootstrap initramfs; names every missing package. */
int art_bootstrap_check(const char *tree, int *ret_dracut_major, struct pxf_error *err)
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
        if (r >= 0 && !missing && (major < ART_DRACUT_OLDEST || major > ART_DRACUT_NEWEST))
                return pxf_error_set(err, -ENOTSUP,
                                     "the image's dracut is version %03d; pxeforge knows the "
                                     "live-boot arguments of dracut %03d to %03d (Debian 12 "
                                     "has 059, Debian 13 106): install a dracut in that range "
                                     "in the image",
                                     major, ART_DRACUT_OLDEST, ART_DRACUT_NEWEST);
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

/* What the generic bootstrap initramfs leaves out. On Debian 12 dracut's generic mode took
 * 203 MiB before compression (61 MiB gzip); the root of a live boot is the squashfs inside
 * the ISO, where the booted system finds every other module, so the initramfs needs only
 * what fetches or finds that ISO:
 *   - file systems other than the live medium's (ext4, xfs, btrfs, ...: 35 MiB), and their
 *     fsck and btrfs tools (a squashfs is never checked);
 *   - SAN and RAID host adapters (Fibre Channel, SAS, iSCSI offload: 15 MiB), which never
 *     hold the ISO: it comes over the network or from a CD or USB drive;
 *   - the Wi-Fi stack, DRM graphics, Ceph, the SCSI target, DLM, bcache, QAT crypto, UFS
 *     and a staging card reader (9 MiB), none of which fetches or holds the ISO;
 *   - dracut modules for roots on LVM, MD RAID, dm-crypt, iSCSI, NBD, NVDIMM, virtiofs,
 *     9p, resume from hibernation, and NFS unless the ISO is fetched over NFS;
 *   - on Debian 13 (dracut-ng 106, whose kernel modules come xz-compressed, so the outer
 *     compression cannot shrink them): udev's hardware database (13 MiB, vendor names and
 *     key maps; network names come from udev's builtin), the console's keymaps and fonts,
 *     and the TPM measurements and battery check of the initrd, none of which the
 *     download needs; and the kernel modules the dm, nvme and hid dracut modules bring
 *     beyond what a live boot uses (2.3 MiB xz): MD RAID, device-mapper targets other
 *     than snapshot, mirror and verity, DRBD, the NVMe target, scsi_debug, and vendor HID
 *     drivers (keyboards work through hid-generic).
 * Kept: every Ethernet, USB network and InfiniBand driver, SATA/AHCI, SCSI disks and CD
 * drives, USB storage, virtio, NVMe and input devices. (Names are anchored regular
 * expressions matched against module names, with underscores for dashes as kmod spells
 * them and no dash inside a pattern: dracut turns a pattern's first dash into one.) */
#define OMIT_DRIVERS                                                                               \
        "lpfc qla2xxx qla4xxx bfa mpt3sas mpi3mr megaraid.* aacraid aic7xxx aic79xx aic94xx "      \
        "pm80xx isci ipr hpsa smartpqi arcmsr mvsas mvumi esas2r csiostor cxgb3i cxgb4i be2iscsi " \
        "bnx2fc bnx2i qedf qedi fnic snic libfc libfcoe fcoe myrb myrs 3w_.* hptiop stex pmcraid " \
        "dc395x dmx3191d initio a100u2w atp870u BusLogic advansys fdomain.* qla1280 qlogicfas408 " \
        "am53c974 zfcp cfg80211 mac80211 drm drm_.* libceph ceph rbd target_core_.* dlm bcache "   \
        "intel_qat qat_.* rts5208 ufshcd.* md_mod md_cluster raid0 raid1 raid10 raid456 "          \
        "dm_raid dm_cache.* dm_era dm_thin_pool dm_zoned dm_writecache dm_integrity dm_crypt "     \
        "dm_multipath dm_queue_length dm_round_robin dm_service_time dm_historical_service_time "  \
        "dm_io_affinity dm_log_writes dm_flakey dm_delay dm_dust dm_ebs dm_switch dm_unstripe "    \
        "dm_vdo dm_persistent_data dm_bio_prison drbd nvmet.* scsi_debug hid_[^g].* "              \
        "hid_g[^e].* wacom surface_.*"
#define OMIT_MODULES                                                                               \
        "plymouth crypt dmraid lvm mdraid nvdimm iscsi lunmask nbd resume virtiofs virtfs hwdb "   \
        "i18n console-setup systemd-pcrphase systemd-battery-check btrfs"
#define FILESYSTEMS     "squashfs isofs overlay"
#define NFS_FILESYSTEMS " nfs nfsv3 nfsv4"

static unsigned long hex8(const unsigned char *p)
{
        unsigned long v = 0;

        for (int i = 0; i < 8; i++) {
                int c = p[i];
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (d < 0)
                        return ULONG_MAX;
                v = v * 16 + (unsigned long)d;
        }
        return v;
}

static size_t align4(size_t v)
{
        return (v + 3) & ~(size_t)3;
}

/* The length of the early (uncompressed) cpio archive at the start of an initramfs, with
 * the zero padding after it: dracut puts CPU microcode there, which the kernel reads before
 * it unpacks anything, so it must stay uncompressed. 0 when the data has none. */
size_t art_initrd_early_length(const unsigned char *data, size_t len)
{
        size_t pos = 0;
        bool early = false;

        while (pos + CPIO_HEADER <= len && memcmp(data + pos, "070701", 6) == 0) {
                unsigned long namesize = hex8(data + pos + 94), filesize = hex8(data + pos + 54);
                const char *name = (const char *)data + pos + CPIO_HEADER;
                size_t name_end, next;
                if (namesize == 0 || namesize > len || filesize > len)
                        return 0;
                name_end = align4(pos + CPIO_HEADER + namesize);
                next = align4(name_end + filesize);
                if (name_end > len || next > len)
                        return 0;
                if (namesize == sizeof "TRAILER!!!" && memcmp(name, "TRAILER!!!", namesize) == 0) {
                        if (!early)
                                return 0;
                        while (next < len && data[next] == 0)
                                next++;
                        return next < len ? next : 0;
                }
                early = early || strncmp(name, "kernel/", 7) == 0;
                pos = next;
        }
        return 0;
}

/* The host's compressor for a method, with the settings the kernel's unpacker takes: xz
 * needs CRC32 checks; a 32 MiB dictionary is what brings the Debian 12 bootstrap
 * initramfs under 30 MB (the kernel allocates the dictionary as the header asks). */
static const char *const *compressor(enum art_cpio_compression comp)
{
        static const char *const xz[] = {
            "xz", "--check=crc32", "--lzma2=preset=9,dict=32MiB", "-T0", "-c", NULL};
        static const char *const xz_x86[] = {
            "xz", "--check=crc32", "--x86", "--lzma2=preset=9,dict=32MiB", "-T0", "-c", NULL};
        static const char *const zstd[] = {"zstd", "-19", "-T0", "-q", "-c", NULL};
        static const char *const gzip[] = {"gzip", "-9", "-n", "-c", NULL};

        switch (comp) {
        case ART_CPIO_XZ:
                return xz;
        case ART_CPIO_XZ_X86:
                return xz_x86;
        case ART_CPIO_ZSTD:
                return zstd;
        case ART_CPIO_GZIP:
                return gzip;
        case ART_CPIO_NONE:
                break;
        }
        return NULL;
}

/* out = the early cpio as it is + the rest through the compressor (the whole file as it
 * is when the kernel unpacks no compression). */
static int compress_initrd(const char *in, enum art_cpio_compression comp, const char *out,
                           struct pxf_error *err)
{
        _cleanup_free_ char *partial = NULL;
        _cleanup_close_ int in_fd = open(in, O_RDONLY | O_CLOEXEC);
        const char *const *cmd = compressor(comp);
        struct stat st;
        void *map = MAP_FAILED;
        size_t early = 0;
        int fd, r;

        if (in_fd < 0 || fstat(in_fd, &st) < 0 || st.st_size == 0)
                return pxf_error_set(err, -EIO, "dracut wrote no initramfs at '%s'", in);
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, in_fd, 0);
        if (map == MAP_FAILED)
                return pxf_error_set(err, -errno, "cannot map '%s': %m", in);
        early = cmd ? art_initrd_early_length(map, (size_t)st.st_size) : (size_t)st.st_size;
        fd = r = pxf_open_partial(out, 0644, &partial, err);
        if (fd >= 0 && (r = pxf_write_all(fd, map, early)) < 0)
                pxf_error_set(err, r, "cannot write '%s': %s", partial, strerror(-r));
        (void)munmap(map, (size_t)st.st_size);
        if (r >= 0 && cmd && lseek(in_fd, (off_t)early, SEEK_SET) < 0)
                r = pxf_error_set(err, -errno, "cannot seek in '%s': %m", in);
        if (r >= 0 && cmd) {
                struct pxf_spawn_opts opts = {.stdin_fd = in_fd, .stdout_fd = fd};
                r = pxf_spawn_run(cmd, &opts, err);
        }
        if (fd < 0)
                return r;
        return pxf_finish_partial(fd, partial, out, r, err);
}

/* mkdir name in dir_fd, and open it without following a link put there since. */
static int make_dir_at(int dir_fd, const char *name)
{
        int fd;

        if (dir_fd < 0)
                return dir_fd;
        if (mkdirat(dir_fd, name, 0755) < 0)
                return -errno;
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* The files dracut lays over the initramfs (--include DIR /): pxeforge's livenetroot
 * (livenet-check.sh), which makes sure the ISO can be fetched and held in memory before it
 * runs dracut's own. Written into a fresh folder at the tree's top through descriptors, so
 * no symlink of the guest's tree leads a write out of it. */
static int write_include_dir(const char *tree, struct pxf_error *err)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", tree, INCLUDE_DIR);
        _cleanup_free_ char *text = pxf_asprintf("#!/bin/sh\nreserve_mib=%u\n%s",
                                                 ART_BOOTSTRAP_RESERVE_MIB, livenet_check_sh);
        _cleanup_close_ int tree_fd = -1, dir_fd = -1, sbin_fd = -1, fd = -1;
        int r = pxf_rm_rf(path); /* a leftover of a build that was killed */

        if (r >= 0 && (tree_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                r = -errno;
        dir_fd = r < 0 ? r : make_dir_at(tree_fd, INCLUDE_DIR);
        sbin_fd = make_dir_at(dir_fd, "sbin");
        fd = sbin_fd < 0 ? sbin_fd
                         : openat(sbin_fd, "livenetroot",
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
        if (fd < 0 && sbin_fd >= 0)
                fd = -errno;
        r = fd < 0 ? fd : pxf_write_all(fd, text, strlen(text));
        if (r >= 0 && fchmod(fd, 0755) < 0) /* whatever the umask */
                r = -errno;
        if (r < 0)
                return pxf_error_set(err, r, "cannot write '%s' for dracut: %s", path,
                                     strerror(-r));
        return 0;
}

/* Runs dracut in the tree for kver and writes its initramfs, compressed, to out. */
int art_bootstrap_initrd(const struct art_bootstrap_initrd *b, const char *out,
                         struct pxf_error *err)
{
        bool legacy = b->dracut_major < DRACUT_NETWORKD_FIXED;
        struct pxf_spawn_opts opts = {.stdout_fd = -1, .container_root = b->tree};
        _cleanup_free_ char *built = pxf_asprintf("%s/%s", b->tree, INITRD_IN_TREE);
        _cleanup_free_ char *include = pxf_asprintf("%s/%s", b->tree, INCLUDE_DIR);
        _cleanup_free_ char *omit =
            pxf_asprintf("%s%s%s", OMIT_MODULES, legacy ? " systemd-networkd network-manager" : "",
                         b->with_nfs ? "" : " nfs");
        _cleanup_free_ char *filesystems =
            pxf_asprintf("%s%s", FILESYSTEMS, b->with_nfs ? NFS_FILESYSTEMS : "");
        const char *argv[] = {
            "dracut",
            "--force",
            "--no-hostonly",
            "--reproducible",
            "--kver",
            b->kver,
            "--add",
            legacy ? "dmsquash-live livenet network-legacy" : "dmsquash-live livenet network",
            "--omit",
            omit,
            "--filesystems",
            filesystems,
            "--omit-drivers",
            OMIT_DRIVERS,
            "--nofscks",
            "--add-drivers",
            "overlay squashfs loop iso9660",
            /* Compressed on the host: the image may lack the compressor (Debian's minimal
             * images have no xz), and the host's can use every core. */
            "--no-compress",
            /* the folder first: its livenetroot replaces dracut's, then dracut's goes
             * beside it under another name */
            "--include",
            "/" INCLUDE_DIR,
            "/",
            "--include",
            LIVENETROOT_DRACUT,
            "/sbin/livenetroot.dracut",
            "/" INITRD_IN_TREE,
            NULL,
        };
        int r = write_include_dir(b->tree, err);

        if (r >= 0 && (r = pxf_spawn_run(argv, &opts, err)) < 0)
                pxf_error_prefix(err, "building the bootstrap initramfs with the image's dracut");
        (void)pxf_rm_rf(include);
        if (r >= 0)
                r = compress_initrd(built, b->compression, out, err);
        (void)unlink(built);
        return r;
}
