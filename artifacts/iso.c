/* The live ISO: a staging folder made into a UEFI-bootable hybrid ISO, without mounting
 * anything (the host may have no vfat or iso9660 driver): mkfs.vfat makes the EFI system
 * image, mtools fills it, xorriso writes the ISO.
 *
 * How the boot goes. The firmware finds the El Torito UEFI entry (from a CD) or the MBR
 * partition of type 0xEF (the same bytes on a USB stick), both a FAT image with
 * EFI/BOOT/BOOTX64.EFI: shim, which loads grubx64.efi from its own directory. That GRUB
 * must then find the ISO 9660 file system and its grub.cfg.
 *
 * Which GRUB. Debian's grub-efi-amd64-signed (2.06-13+deb12u2 checked) ships signed
 * monolithic images that all hold what a live ISO needs (iso9660, serial, search_label,
 * linux, ...; grubx64 has more, for installed systems) and the same memdisk script; they
 * differ in the prefix built in with grub-mkimage -p (debian/build-efi-images):
 *   gcdx64.efi.signed     /boot/grub   (for CDs)
 *   grubx64.efi.signed    /EFI/debian  (installed systems)
 *   grubnetx64.efi.signed /grub        (network boot)
 * The memdisk script (read with `strings` from the binaries) is:
 *     if [ -z "$prefix" -o ! -e "$prefix" ]; then
 *             if ! search --file --set=root /.disk/info; then
 *                     search --file --set=root /.disk/mini-info
 *             fi
 *             set prefix=($root)/boot/grub
 *     fi
 *     if [ -e $prefix/x86_64-efi/grub.cfg ]; then source $prefix/x86_64-efi/grub.cfg
 *     elif [ -e $prefix/grub.cfg ]; then source $prefix/grub.cfg
 *     else source $cmdpath/grub.cfg; fi
 * The prefix's device, and the first $root, is the one GRUB was loaded from. Booted from
 * El Torito (a CD, and OVMF finds El Torito on disks too), GRUB takes that to be the whole
 * disc, so gcdx64's /boot/grub exists and grub.cfg is read at once; grubx64's /EFI/debian
 * does not, its search runs and, without /.disk/info, fails with two error lines but
 * leaves $root on the disc, so it boots too. Booted from MBR partition 2 (firmware that
 * ignores El Torito on a USB stick), GRUB starts on the FAT file system, where /boot/grub
 * is not: only the search for /.disk/info leads it to the ISO file system; without that
 * file it stops at its prompt. All of this was seen under OVMF (tests/integration/
 * iso-boot.sh boots gcdx64 from a CD under Secure Boot, as a disk, and through partition 2
 * with El Torito disabled). Hence the ISO needs /.disk/info and /boot/grub/grub.cfg, and
 * gcdx64 is the GRUB to use; grubx64 works as a fallback.
 *
 * Joliet (long names for Windows) is safe only because there is Rock Ridge too: GRUB's
 * iso9660 driver takes the volume label from the Joliet descriptor, which holds 16 UCS-2
 * characters, when the file system has no Rock Ridge, and `search --label` (grub.cfg finds
 * the ISO by its label) would then miss the 32-character labels of art_iso_volume_label.
 * With Rock Ridge it keeps the primary descriptor's label; blkid (dracut's CDLABEL=) reads
 * the full label either way.
 *
 * Layout (xorriso's documented UEFI-compliant MBR variant, `man xorrisofs`, "Now for
 * EFI"): El Torito entry boot/efiboot.img in the ISO tree, and an appended copy as MBR
 * partition 2 (0xEF), so the ESP does not overlap the ISO partition. -isohybrid-gpt-basdat
 * is left out: it only works together with an isohybrid MBR for BIOS (-isohybrid-mbr),
 * which this UEFI-only ISO does not have. -partition_offset 16 starts partition 1 at block
 * 64 instead of 0, which partitioning tools handle better on the USB stick.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "artifacts/iso-internal.h"
#include "artifacts/live-internal.h"

#define CLUSTER_SIZE   4096u        /* mkfs.fat uses 2 KiB clusters for images up to 32 MiB */
#define FAT_FIXED      (64u * 1024) /* boot sector, reserved sectors, 512-entry root dir */
#define SLACK_MIN      (256u * 1024)
#define COPY_CHUNK     (1024 * 1024)
#define EFIBOOT_IN_ISO "boot/efiboot.img"
#define BIOS_IN_ISO    "boot/grub/bios.img"
#define EFIBOOT_LABEL  "EFIBOOT"
#define N_EFI_FILES    3

/* mtools' geometry sanity checks add nothing for an image that mkfs.vfat made a moment
 * ago; skipping them keeps an unusual image size from ever being refused. */
static const char *const mtools_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL=C.UTF-8",
    "HOME=/root",
    "MTOOLS_SKIP_CHECK=1",
    NULL,
};

struct efi_file {
        const char *src;
        const char *name; /* in EFI/BOOT/ */
        uint64_t size;
};

struct iso {
        const struct art_iso_spec *spec;
        char *staging; /* realpath */
        char *partial; /* absolute: xorriso runs in dir */
        char *dir;     /* private, in the work dir */
        char *extra;   /* dir/tree: grafted over the staging folder */
        char *efiboot; /* extra/boot/efiboot.img */
        char *bios;    /* extra/boot/grub/bios.img, or NULL: UEFI only */
        struct efi_file files[N_EFI_FILES];
        size_t n_files;
        uint64_t efiboot_kib;
        struct pxf_error *err;
};

static uint64_t round_up(uint64_t n, uint64_t unit)
{
        return (n + unit - 1) / unit * unit;
}

uint64_t art_efiboot_size_kib(const uint64_t *file_sizes, size_t n)
{
        uint64_t data = 2 * CLUSTER_SIZE, total, slack; /* EFI/ and EFI/BOOT/ */

        for (size_t i = 0; i < n; i++)
                data += round_up(file_sizes[i], CLUSTER_SIZE);
        /* Two FATs of at most 2 bytes per 2 KiB cluster. */
        total = data + data / 1024 * 2 + FAT_FIXED;
        slack = total / 20 > SLACK_MIN ? total / 20 : SLACK_MIN;
        return round_up(total + slack, 1024 * 1024) / 1024;
}

static void iso_done(struct iso *iso)
{
        if (iso->dir) {
                int r = pxf_rm_rf(iso->dir);
                if (r < 0)
                        log_warning("cannot remove '%s': %s", iso->dir, strerror(-r));
        }
        free(iso->staging);
        free(iso->partial);
        free(iso->dir);
        free(iso->extra);
        free(iso->efiboot);
        free(iso->bios);
}

/* ---- checking the inputs ------------------------------------------------------------ */

static int check_dir(struct iso *iso, const char *what, const char *path, char **ret_real)
{
        _cleanup_free_ char *real = NULL;
        struct stat st;

        if (!path)
                return pxf_error_set(iso->err, -EINVAL, "no %s given", what);
        real = realpath(path, NULL);
        if (!real || stat(real, &st) < 0)
                return pxf_error_set(iso->err, -errno, "cannot use %s '%s': %m", what, path);
        if (!S_ISDIR(st.st_mode))
                return pxf_error_set(iso->err, -ENOTDIR, "%s '%s' is not a directory", what, path);
        if (ret_real)
                *ret_real = TAKE_PTR(real);
        return 0;
}

static int add_efi_file(struct iso *iso, const char *what, const char *src, const char *name)
{
        struct stat st;

        if (!src)
                return pxf_error_set(iso->err, -EINVAL, "no %s given", what);
        if (stat(src, &st) < 0)
                return pxf_error_set(iso->err, -errno, "cannot use %s '%s': %m", what, src);
        if (!S_ISREG(st.st_mode))
                return pxf_error_set(iso->err, -EINVAL, "%s '%s' is not a regular file", what, src);
        iso->files[iso->n_files++] =
            (struct efi_file){.src = src, .name = name, .size = (uint64_t)st.st_size};
        return 0;
}

/* The partial ISO's absolute path: xorriso runs in the private folder. */
static int set_partial(struct iso *iso)
{
        const char *out = iso->spec->out_path;
        _cleanup_free_ char *dir = NULL, *real = NULL;
        const char *base;

        if (!out || !out[0] || out[strlen(out) - 1] == '/')
                return pxf_error_set(iso->err, -EINVAL, "invalid ISO output path '%s'",
                                     out ? out : "");
        dir = pxf_dirname(out);
        real = realpath(dir, NULL);
        if (!real)
                return pxf_error_set(iso->err, -errno, "cannot write '%s': %m", out);
        base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
        iso->partial = pxf_asprintf("%s/%s.partial", strcmp(real, "/") ? real : "", base);
        return 0;
}

/* Before anything is copied: the boot chain must fit one El Torito entry. */
static int check_efiboot_size(struct iso *iso)
{
        uint64_t sizes[N_EFI_FILES];

        for (size_t i = 0; i < iso->n_files; i++)
                sizes[i] = iso->files[i].size;
        iso->efiboot_kib = art_efiboot_size_kib(sizes, iso->n_files);
        if (iso->efiboot_kib > ART_EFIBOOT_MAX_KIB)
                return pxf_error_set(iso->err, -EFBIG,
                                     "the EFI boot files need a %llu KiB FAT image; an El Torito "
                                     "entry holds at most %d KiB",
                                     (unsigned long long)iso->efiboot_kib, ART_EFIBOOT_MAX_KIB);
        return 0;
}

static int check_spec(struct iso *iso)
{
        const struct art_iso_spec *s = iso->spec;
        int r;

        if (!art_iso_volume_label_valid(s->volume_label))
                return pxf_error_set(iso->err, -EINVAL,
                                     "invalid ISO volume label '%s' (expected 1 to 32 characters "
                                     "out of A-Z 0-9 _)",
                                     s->volume_label ? s->volume_label : "");
        r = check_dir(iso, "staging folder", s->staging_dir, &iso->staging);
        if (r >= 0)
                r = check_dir(iso, "work folder", s->work_dir, NULL);
        if (r >= 0)
                r = add_efi_file(iso, "shim", s->shim_path, "BOOTX64.EFI");
        if (r >= 0)
                r = add_efi_file(iso, "GRUB", s->grub_path, "grubx64.efi");
        if (r >= 0 && s->mokmanager_path)
                r = add_efi_file(iso, "MokManager", s->mokmanager_path, "mmx64.efi");
        if (r >= 0 && !s->bios_image != !s->bios_mbr)
                r = pxf_error_set(iso->err, -EINVAL,
                                  "GRUB for BIOS needs both its El Torito image and its MBR code");
        if (r >= 0)
                r = check_efiboot_size(iso);
        if (r >= 0)
                r = set_partial(iso);
        return r;
}

/* ---- the tree grafted over the staging folder --------------------------------------- */

static int copy_fd(int in, int out, char *buf)
{
        for (;;) {
                ssize_t n = read(in, buf, COPY_CHUNK);
                int r;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                r = pxf_write_all(out, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}

static int copy_file(struct iso *iso, const char *src, const char *dst)
{
        _cleanup_close_ int in = -1, out = -1;
        _cleanup_free_ char *buf = NULL;
        int r;

        in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (in < 0)
                return pxf_error_set(iso->err, -errno, "cannot read '%s': %m", src);
        out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0)
                return pxf_error_set(iso->err, -errno, "cannot create '%s': %m", dst);
        buf = malloc(COPY_CHUNK);
        if (!buf)
                abort();
        r = copy_fd(in, out, buf);
        if (r < 0)
                return pxf_error_set(iso->err, r, "cannot copy '%s' to '%s': %s", src, dst,
                                     strerror(-r));
        if (close(TAKE_FD(out)) < 0)
                return pxf_error_set(iso->err, -errno, "cannot write '%s': %m", dst);
        return 0;
}

static int write_text(struct iso *iso, const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        int r;

        if (fd < 0)
                return pxf_error_set(iso->err, -errno, "cannot create '%s': %m", path);
        r = pxf_write_all(fd, text, strlen(text));
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r < 0)
                return pxf_error_set(iso->err, r, "cannot write '%s': %s", path, strerror(-r));
        return 0;
}

static int make_dir(struct iso *iso, const char *path)
{
        int r = pxf_mkdir_p(path, 0755);

        if (r < 0)
                return pxf_error_set(iso->err, r, "cannot create '%s': %s", path, strerror(-r));
        return 0;
}

/* The private folder and, in it, tree/EFI/BOOT/ with the boot chain and tree/boot/. */
static int make_tree(struct iso *iso)
{
        _cleanup_free_ char *tmpl = pxf_asprintf("%s/pxf-iso.XXXXXX", iso->spec->work_dir);
        _cleanup_free_ char *efi_dir = NULL, *boot_dir = NULL;
        int r;

        if (!mkdtemp(tmpl))
                return pxf_error_set(iso->err, -errno, "cannot create a folder in '%s': %m",
                                     iso->spec->work_dir);
        iso->dir = realpath(tmpl, NULL);
        if (!iso->dir) {
                iso->dir = TAKE_PTR(tmpl);
                return pxf_error_set(iso->err, -errno, "cannot resolve '%s': %m", iso->dir);
        }
        iso->extra = pxf_asprintf("%s/tree", iso->dir);
        iso->efiboot = pxf_asprintf("%s/%s", iso->extra, EFIBOOT_IN_ISO);
        efi_dir = pxf_asprintf("%s/EFI/BOOT", iso->extra);
        boot_dir = pxf_dirname(iso->efiboot);
        r = make_dir(iso, efi_dir);
        if (r >= 0)
                r = make_dir(iso, boot_dir);
        for (size_t i = 0; r >= 0 && i < iso->n_files; i++) {
                _cleanup_free_ char *dst = pxf_asprintf("%s/%s", efi_dir, iso->files[i].name);
                r = copy_file(iso, iso->files[i].src, dst);
        }
        return r;
}

/* /.disk/info is what Debian's GRUB searches for when it was not loaded from the ISO file
 * system itself (see the top of this file). The caller's own one is kept. */
static int add_disk_info(struct iso *iso)
{
        _cleanup_free_ char *theirs = pxf_asprintf("%s/.disk/info", iso->staging);
        _cleanup_free_ char *dir = NULL, *ours = NULL, *text = NULL;
        struct stat st;
        int r;

        if (lstat(theirs, &st) == 0)
                return 0;
        if (errno != ENOENT && errno != ENOTDIR)
                return pxf_error_set(iso->err, -errno, "cannot check '%s': %m", theirs);
        dir = pxf_asprintf("%s/.disk", iso->extra);
        ours = pxf_asprintf("%s/info", dir);
        text = pxf_asprintf("pxeforge live %s\n", iso->spec->volume_label);
        r = make_dir(iso, dir);
        return r < 0 ? r : write_text(iso, ours, text);
}

/* ---- efiboot.img -------------------------------------------------------------------- */

static int make_efiboot(struct iso *iso)
{
        _cleanup_free_ char *efi_dir = pxf_asprintf("%s/EFI", iso->extra);
        const struct pxf_spawn_opts mtools = {.stdout_fd = -1, .envp = mtools_env};
        char kib_arg[32];
        int r;

        snprintf(kib_arg, sizeof kib_arg, "%llu", (unsigned long long)iso->efiboot_kib);
        r = pxf_spawn_tool(
            (const char *[]){"mkfs.vfat", "-C", "-n", EFIBOOT_LABEL, iso->efiboot, kib_arg, NULL},
            "dosfstools", NULL, iso->err);
        if (r < 0)
                return r;
        /* One recursive copy of EFI/: the image then holds exactly the ISO's EFI/BOOT/. */
        return pxf_spawn_tool(
            (const char *[]){"mcopy", "-s", "-m", "-i", iso->efiboot, efi_dir, "::/", NULL},
            "mtools", &mtools, iso->err);
}

/* ---- the BIOS GRUB -------------------------------------------------------------------- */

/* GRUB's El Torito image for BIOS, where the first El Torito entry names it. */
static int add_bios(struct iso *iso)
{
        _cleanup_free_ char *grub_dir = NULL;
        int r;

        if (!iso->spec->bios_image)
                return 0;
        iso->bios = pxf_asprintf("%s/%s", iso->extra, BIOS_IN_ISO);
        grub_dir = pxf_dirname(iso->bios);
        r = make_dir(iso, grub_dir);
        return r < 0 ? r : copy_file(iso, iso->spec->bios_image, iso->bios);
}

/* ---- xorriso ------------------------------------------------------------------------ */

static int run_xorriso(struct iso *iso)
{
        const struct pxf_spawn_opts opts = {.stdout_fd = -1, .cwd = iso->dir};
        /* BIOS, when asked for: the first El Torito entry (GRUB patches its own location
         * in, --grub2-boot-info) and GRUB's hybrid MBR code, which loads the same image
         * from a USB stick. */
        const char *const bios[] = {"-b",
                                    BIOS_IN_ISO,
                                    "-no-emul-boot",
                                    "-boot-load-size",
                                    "4",
                                    "-boot-info-table",
                                    "--grub2-boot-info",
                                    "--grub2-mbr",
                                    iso->spec->bios_mbr,
                                    "-eltorito-alt-boot"};
        const size_t n_bios = iso->bios ? PXF_ELEMENTSOF(bios) : 0;
        const char *const head[] = {
            "xorriso", "-no_rc", "-as", "mkisofs",
            /* files over 4 GiB; Rock Ridge for Linux and GRUB, Joliet for Windows */
            "-iso-level", "3", "-full-iso9660-filenames", "-rational-rock", "-joliet",
            "-joliet-long", "-volid", iso->spec->volume_label};
        const char *const tail[] = {
            /* the UEFI El Torito entry */
            "-e", EFIBOOT_IN_ISO, "-no-emul-boot",
            /* the USB stick's ESP, and partition 1 (the ISO) starting at block 64 */
            "-append_partition", "2", "0xef", iso->efiboot, "-partition_offset", "16",
            /* the staging folder first: for files in both trees, the later one wins */
            "-output", iso->partial, iso->staging, iso->extra, NULL};
        const char *argv[PXF_ELEMENTSOF(head) + PXF_ELEMENTSOF(bios) + PXF_ELEMENTSOF(tail)];
        size_t n = 0;

        for (size_t i = 0; i < PXF_ELEMENTSOF(head); i++)
                argv[n++] = head[i];
        for (size_t i = 0; i < n_bios; i++)
                argv[n++] = bios[i];
        for (size_t i = 0; i < PXF_ELEMENTSOF(tail); i++)
                argv[n++] = tail[i];

        /* The cwd is the private folder, where no .mkisofsrc can set defaults. */
        if (unlink(iso->partial) < 0 && errno != ENOENT)
                return pxf_error_set(iso->err, -errno, "cannot remove '%s': %m", iso->partial);
        return pxf_spawn_tool(argv, "xorriso", &opts, iso->err);
}

static int publish(struct iso *iso)
{
        int r = pxf_publish_file(iso->partial, iso->spec->out_path);

        if (r < 0)
                return pxf_error_set(iso->err, r, "cannot move '%s' into place: %s",
                                     iso->spec->out_path, strerror(-r));
        return 0;
}

static void log_size(const struct iso *iso, uint64_t start)
{
        struct stat st;

        if (stat(iso->spec->out_path, &st) == 0)
                log_debug("ISO %s (%s): %.1f MiB in %.1f s", iso->spec->out_path,
                          iso->spec->volume_label, (double)st.st_size / (1024.0 * 1024.0),
                          (double)(pxf_now_usec() - start) / 1e6);
}

int art_iso_write(const struct art_iso_spec *spec, struct pxf_error *err)
{
        struct iso iso = {.spec = spec, .err = err};
        uint64_t start = pxf_now_usec();
        int r = check_spec(&iso);

        if (r >= 0)
                r = make_tree(&iso);
        if (r >= 0)
                r = add_disk_info(&iso);
        if (r >= 0)
                r = make_efiboot(&iso);
        if (r >= 0)
                r = add_bios(&iso);
        if (r >= 0)
                r = run_xorriso(&iso);
        if (r >= 0)
                r = publish(&iso);
        if (r < 0 && iso.partial)
                (void)unlink(iso.partial);
        iso_done(&iso);
        if (r < 0) {
                pxf_error_prefix(err, "cannot write ISO '%s'",
                                 spec->out_path ? spec->out_path : "");
                return r;
        }
        log_size(&iso, start);
        return 0;
}
