/* Unit tests of the live ISO's writers (builder/iso.c, builder/squashfs.c): ISOs and
 * squashfs images of small trees, read back with the tools' own readers (xorriso, osirrox,
 * mtools, unsquashfs) and by parsing the MBR; nothing is mounted, the host may have no
 * iso9660 or vfat driver. Needs root (tmpfs mounts, a private mount namespace) and
 * xorriso, mtools, dosfstools and squashfs-tools.
 *
 * Built a second time with PXF_ISO_WRITER_TOOL defined, this file is iso-writer-tool, the
 * command-line wrapper that tests/integration/iso-boot.sh drives (see the end). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts/iso-internal.h"
#include "artifacts/loaders-internal.h"

#ifndef PXF_ISO_WRITER_TOOL

#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <cmocka.h>

#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

#define LABEL      "PXF_UNIT_TEST_0123ABCDEF_LONG_32" /* 32: longer than Joliet's 16 */
#define SHIM       "shim: a dummy EFI binary\n"
#define GRUB       "grub: a dummy EFI binary\n"
#define MOKMANAGER "mokmanager: a dummy EFI binary\n"
#define CAPTURE    (1024 * 1024)

static const char *const mtools_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL=C.UTF-8",
    "MTOOLS_SKIP_CHECK=1",
    NULL,
};

struct fixture {
        char *dir;
        char staging[96];
        char work[96];
        char out[96];
        char shim[96];
        char grub[96];
        char mm[96];
        char extract[96];
        struct art_iso_spec spec;
};

/* ---- files -------------------------------------------------------------------------- */

static void assert_file(const char *dir, const char *rel, const char *want)
{
        _cleanup_free_ char *got = tt_read(dir, rel);

        assert_string_equal(got, want);
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static size_t count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* ---- running the readers ------------------------------------------------------------ */

/* Runs argv and returns its stdout (at most CAPTURE bytes); fails the test unless it
 * exits 0. */
static char *capture_env(const char *const *argv, const char *const *envp)
{
        int fd = memfd_create("capture", MFD_CLOEXEC);
        struct pxf_spawn_opts opts = {.stdout_fd = fd, .envp = envp};
        struct pxf_error err = {0};
        char *out = pxf_calloc(CAPTURE + 1, 1);
        ssize_t n;

        assert_true(fd >= 0);
        if (pxf_spawn_run(argv, &opts, &err) < 0)
                fail_msg("%s", err.msg);
        n = pread(fd, out, CAPTURE, 0);
        assert_true(n >= 0);
        out[n] = '\0';
        close(fd);
        return out;
}

static char *capture(const char *const *argv)
{
        return capture_env(argv, NULL);
}

static void run(const char *const *argv)
{
        free(capture(argv));
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int setup(void **state)
{
        struct fixture *f = pxf_calloc(1, sizeof(*f));

        f->dir = tt_make("iso");
        snprintf(f->staging, sizeof f->staging, "%s/staging", f->dir);
        snprintf(f->work, sizeof f->work, "%s/work", f->dir);
        snprintf(f->out, sizeof f->out, "%s/live.iso", f->dir);
        snprintf(f->shim, sizeof f->shim, "%s/efi/shimx64.efi.signed", f->dir);
        snprintf(f->grub, sizeof f->grub, "%s/efi/gcdx64.efi.signed", f->dir);
        snprintf(f->mm, sizeof f->mm, "%s/efi/mmx64.efi.signed", f->dir);
        snprintf(f->extract, sizeof f->extract, "%s/extract", f->dir);
        if (pxf_mkdir_p(f->work, 0755) < 0 || pxf_mkdir_p(f->staging, 0755) < 0)
                return -1;
        f->spec = (struct art_iso_spec){
            .staging_dir = f->staging,
            .shim_path = f->shim,
            .grub_path = f->grub,
            .mokmanager_path = f->mm,
            .volume_label = LABEL,
            .out_path = f->out,
            .work_dir = f->work,
        };
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        tt_remove(f->dir);
        free(f);
        return 0;
}

/* A small live tree as the caller stages it, and dummy EFI binaries. */
static struct fixture *iso_fixture(void **state)
{
        struct fixture *f = *state;

        tt_write_text(f->staging, "vmlinuz", "kernel\n", 0644);
        tt_write_text(f->staging, "initrd.img", "initrd\n", 0644);
        tt_write_text(f->staging, "LiveOS/squashfs.img", "squashfs\n", 0644);
        tt_write_text(f->staging, "boot/grub/grub.cfg", "menuentry 'x' {\n}\n", 0644);
        tt_write_text(f->staging, "-starts-with-a-dash/Mixed Case name.txt", "rock ridge\n", 0644);
        tt_write_text(f->dir, "efi/shimx64.efi.signed", SHIM, 0644);
        tt_write_text(f->dir, "efi/gcdx64.efi.signed", GRUB, 0644);
        tt_write_text(f->dir, "efi/mmx64.efi.signed", MOKMANAGER, 0644);
        return f;
}

static void build_iso(struct fixture *f)
{
        struct pxf_error err = {0};

        if (art_iso_write(&f->spec, &err) < 0)
                fail_msg("%s", err.msg);
}

/* The Rock Ridge tree: without it, names would be ECMA-119 ones ("LIVEOS/SQUASHFS.IMG")
 * and GRUB would take the label from the Joliet descriptor, cut to 16 characters. */
static void extract_iso(struct fixture *f)
{
        run((const char *[]){"osirrox", "-read_fs", "nojoliet", "-indev", f->out, "-extract", "/",
                             f->extract, NULL});
}

/* The Joliet tree, for Windows: mixed-case names read without Rock Ridge. */
static void assert_joliet(struct fixture *f)
{
        char dst[128];

        tt_path(dst, sizeof dst, f->dir, "joliet-squashfs.img");
        run((const char *[]){"osirrox", "-read_fs", "norock", "-indev", f->out, "-extract",
                             "/LiveOS/squashfs.img", dst, NULL});
        assert_file(f->dir, "joliet-squashfs.img", "squashfs\n");
}

/* Nothing of a run may stay behind: no partial ISO, no private folder in the work dir. */
static void assert_clean(const struct fixture *f)
{
        char partial[128];

        snprintf(partial, sizeof partial, "%s.partial", f->out);
        assert_false(exists(partial));
        assert_int_equal(count_entries(f->work), 0);
}

/* ---- the EFI image's size ----------------------------------------------------------- */

static void efiboot_size_computation(void **state)
{
        /* Debian bookworm's shimx64.efi.signed, gcdx64.efi.signed and mmx64.efi.signed. */
        static const uint64_t real[] = {1048504, 3835328, 851128};
        static const uint64_t tiny[] = {1, 2, 3};
        uint64_t big = 31ull * 1024 * 1024, prev = 0;

        (void)state;
        assert_int_equal(art_efiboot_size_kib(NULL, 0), 1024);
        assert_int_equal(art_efiboot_size_kib(tiny, 3), 1024);
        /* 5.5 MiB of files in 4 KiB clusters, FATs, 64 KiB fixed, 5% slack: 6 MiB. */
        assert_int_equal(art_efiboot_size_kib(real, 3), 6144);
        assert_true(art_efiboot_size_kib(&big, 1) > ART_EFIBOOT_MAX_KIB);
        /* Never shrinks when a file grows, always whole MiB, always room for the data. */
        for (uint64_t size = 0; size < 8 * 1024 * 1024; size += 97 * 1024 + 13) {
                uint64_t kib = art_efiboot_size_kib(&size, 1);
                assert_true(kib >= prev);
                assert_int_equal(kib % 1024, 0);
                assert_true(kib * 1024 >= size + 256 * 1024);
                prev = kib;
        }
}

/* Files of the real boot chain's sizes fit into the image of the computed size. */
static void efiboot_real_sizes_fit(void **state)
{
        static const struct {
                const char *name;
                off_t size;
        } files[] = {{"shimx64.efi.signed", 1048504},
                     {"gcdx64.efi.signed", 3835328},
                     {"mmx64.efi.signed", 851128}};
        struct fixture *f = iso_fixture(state);
        char p[256], img[256];
        _cleanup_free_ char *listing = NULL;

        _cleanup_free_ char *bytes = pxf_calloc(4 * 1024 * 1024, 1);

        /* Not sparse: FAT has no holes, every byte takes room. */
        memset(bytes, 0xa5, 4 * 1024 * 1024);
        for (size_t i = 0; i < PXF_ELEMENTSOF(files); i++) {
                char dir[128];
                int fd;
                tt_path(dir, sizeof dir, f->dir, "efi");
                tt_path(p, sizeof p, dir, files[i].name);
                fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, bytes, (size_t)files[i].size), (ssize_t)files[i].size);
                assert_int_equal(close(fd), 0);
        }
        build_iso(f);
        extract_iso(f);
        tt_path(img, sizeof img, f->extract, "boot/efiboot.img");
        listing = capture_env((const char *[]){"mdir", "-a", "-b", "-i", img, "::/EFI/BOOT", NULL},
                              mtools_env);
        assert_non_null(strstr(listing, "::/EFI/BOOT/BOOTX64.EFI"));
        assert_non_null(strstr(listing, "::/EFI/BOOT/grubx64.efi"));
        assert_non_null(strstr(listing, "::/EFI/BOOT/mmx64.efi"));
        assert_clean(f);
}

/* ---- the ISO ------------------------------------------------------------------------ */

struct mbr_part {
        uint8_t type;
        uint32_t start, sectors;
};

static uint32_t le32(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static struct mbr_part read_mbr_part(const char *iso, int n)
{
        unsigned char mbr[512];
        const unsigned char *e = mbr + 446 + 16 * (n - 1);
        int fd = open(iso, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, mbr, sizeof mbr, 0), (ssize_t)sizeof mbr);
        close(fd);
        assert_int_equal(mbr[510], 0x55);
        assert_int_equal(mbr[511], 0xaa);
        return (struct mbr_part){.type = e[4], .start = le32(e + 8), .sectors = le32(e + 12)};
}

/* MBR partition 2 (the USB stick's ESP) holds the same bytes as boot/efiboot.img. */
static void assert_appended_partition(const struct fixture *f, const char *img)
{
        struct mbr_part p2 = read_mbr_part(f->out, 2);
        _cleanup_free_ char *want = NULL, *got = NULL;
        size_t len = 0;
        int fd;

        assert_int_equal(p2.type, 0xef);
        assert_int_equal(pxf_read_file(img, 64 * 1024 * 1024, &want, &len), 0);
        assert_int_equal((uint64_t)p2.sectors * 512, len);
        got = pxf_calloc(len, 1);
        fd = open(f->out, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, got, len, (off_t)p2.start * 512), (ssize_t)len);
        close(fd);
        assert_memory_equal(got, want, len);
}

static void assert_efiboot(const char *img, bool with_mm)
{
        _cleanup_free_ char *listing = NULL, *shim = NULL, *label = NULL;

        listing = capture_env((const char *[]){"mdir", "-a", "-b", "-i", img, "::/EFI/BOOT", NULL},
                              mtools_env);
        assert_non_null(strstr(listing, "::/EFI/BOOT/BOOTX64.EFI"));
        assert_non_null(strstr(listing, "::/EFI/BOOT/grubx64.efi"));
        assert_int_equal(strstr(listing, "::/EFI/BOOT/mmx64.efi") != NULL, with_mm);
        shim = capture_env((const char *[]){"mtype", "-i", img, "::/EFI/BOOT/BOOTX64.EFI", NULL},
                           mtools_env);
        assert_string_equal(shim, SHIM);
        label = capture_env((const char *[]){"mlabel", "-s", "-i", img, "::", NULL}, mtools_env);
        assert_non_null(strstr(label, "EFIBOOT"));
}

static void iso_build_and_inspect(void **state)
{
        struct fixture *f = iso_fixture(state);
        _cleanup_free_ char *pvd = NULL, *eltorito = NULL, *area = NULL;
        char img[256];

        tt_write_text(f->dir, "live.iso", "an older ISO\n", 0644);
        build_iso(f);
        assert_clean(f);
        /* The staging folder is only read. */
        assert_false(tt_exists(f->staging, ".disk"));
        assert_false(tt_exists(f->staging, "EFI"));

        pvd = capture((const char *[]){"xorriso", "-indev", f->out, "-pvd_info", NULL});
        assert_true(pxf_text_has_line(pvd, "Volume Id    : " LABEL));
        eltorito = capture(
            (const char *[]){"xorriso", "-indev", f->out, "-report_el_torito", "plain", NULL});
        assert_true(pxf_text_has_line(eltorito, "El Torito img path :   1  /boot/efiboot.img"));
        assert_non_null(strstr(eltorito, "El Torito boot img :   1  UEFI  y   none"));
        area = capture(
            (const char *[]){"xorriso", "-indev", f->out, "-report_system_area", "plain", NULL});
        assert_non_null(strstr(area, "MBR partition      :   2   0x00  0xef"));

        extract_iso(f);
        assert_joliet(f);
        assert_file(f->extract, "vmlinuz", "kernel\n");
        assert_file(f->extract, "initrd.img", "initrd\n");
        assert_file(f->extract, "LiveOS/squashfs.img", "squashfs\n");
        assert_file(f->extract, "boot/grub/grub.cfg", "menuentry 'x' {\n}\n");
        assert_file(f->extract, "-starts-with-a-dash/Mixed Case name.txt", "rock ridge\n");
        assert_file(f->extract, ".disk/info", "pxeforge live " LABEL "\n");
        assert_file(f->extract, "EFI/BOOT/BOOTX64.EFI", SHIM);
        assert_file(f->extract, "EFI/BOOT/grubx64.efi", GRUB);
        assert_file(f->extract, "EFI/BOOT/mmx64.efi", MOKMANAGER);
        tt_path(img, sizeof img, f->extract, "boot/efiboot.img");
        assert_efiboot(img, true);
        assert_appended_partition(f, img);
}

/* With GRUB's i386-pc modules (grub-pc-bin): a BIOS El Torito entry first, the UEFI one
 * second, GRUB's hybrid MBR code, and the ESP still appended as partition 2. */
static void iso_with_bios(void **state)
{
        struct fixture *f = iso_fixture(state);
        _cleanup_free_ char *eltorito = NULL, *area = NULL, *hybrid = NULL, *mbr = NULL;
        size_t len = 0;
        int fd;

        char *grub = tt_make("iso-bios"); /* an empty tree: this host's grub-pc-bin */
        char image[256], mbr_path[256];
        enum art_bios_grub_source source = ART_BIOS_GRUB_IMAGE;
        struct pxf_error err = {0};

        tt_path(image, sizeof image, grub, "bios.img");
        tt_path(mbr_path, sizeof mbr_path, grub, "boot_hybrid.img");
        if (art_bios_grub(
                &(struct art_bios_grub_request){
                    .tree = grub, .kind = ART_BIOS_GRUB_CD, .out = image, .mbr_out = mbr_path},
                &source, &err) < 0)
                fail_msg("%s (tests/deps.sh installs grub-pc-bin)", err.msg);
        assert_int_equal(source, ART_BIOS_GRUB_HOST);
        f->spec.bios_image = image;
        f->spec.bios_mbr = mbr_path;
        build_iso(f);
        assert_clean(f);
        eltorito = capture(
            (const char *[]){"xorriso", "-indev", f->out, "-report_el_torito", "plain", NULL});
        assert_non_null(strstr(eltorito, "El Torito boot img :   1  BIOS  y   none"));
        assert_true(pxf_text_has_line(eltorito, "El Torito img path :   1  /boot/grub/bios.img"));
        assert_non_null(
            strstr(eltorito, "El Torito img opts :   1  boot-info-table grub2-boot-info"));
        assert_non_null(strstr(eltorito, "El Torito boot img :   2  UEFI  y   none"));
        area = capture(
            (const char *[]){"xorriso", "-indev", f->out, "-report_system_area", "plain", NULL});
        assert_non_null(strstr(area, "MBR partition      :   2   0x00  0xef"));
        /* The MBR's boot code is GRUB's (its first 440 bytes, before the disk signature;
         * xorriso patches the core image's address in, after byte 0x1b0). */
        assert_int_equal(
            pxf_read_file("/usr/lib/grub/i386-pc/boot_hybrid.img", 1024, &hybrid, &len), 0);
        mbr = pxf_calloc(512, 1);
        fd = open(f->out, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, mbr, 512, 0), 512);
        close(fd);
        assert_memory_equal(mbr, hybrid, 0x1b0);
        tt_remove(grub);
}

/* Without MokManager, with the caller's own .disk/info and EFI/BOOT files of the same names
 * in the staging folder: the spec's boot chain wins, the caller's .disk/info stays. */
static void iso_staging_variants(void **state)
{
        struct fixture *f = iso_fixture(state);
        char img[256];

        f->spec.mokmanager_path = NULL;
        tt_write_text(f->staging, ".disk/info", "the caller's own\n", 0644);
        tt_write_text(f->staging, "EFI/BOOT/BOOTX64.EFI", "stale\n", 0644);
        tt_write_text(f->staging, "EFI/BOOT/fbx64.efi", "kept\n", 0644);
        build_iso(f);
        assert_clean(f);
        extract_iso(f);
        assert_file(f->extract, ".disk/info", "the caller's own\n");
        assert_file(f->extract, "EFI/BOOT/BOOTX64.EFI", SHIM);
        assert_file(f->extract, "EFI/BOOT/fbx64.efi", "kept\n");
        assert_false(tt_exists(f->extract, "EFI/BOOT/mmx64.efi"));
        tt_path(img, sizeof img, f->extract, "boot/efiboot.img");
        assert_efiboot(img, false);
}

/* A failed run leaves neither the output nor a partial file nor its private folder. */
static void assert_failed(struct fixture *f, int want_r, const char *want_msg)
{
        struct pxf_error err = {0};

        assert_int_equal(art_iso_write(&f->spec, &err), want_r);
        if (!strstr(err.msg, want_msg))
                fail_msg("'%s' does not contain '%s'", err.msg, want_msg);
        assert_false(exists(f->out));
        assert_clean(f);
}

static void iso_missing_staging(void **state)
{
        struct fixture *f = iso_fixture(state);
        char missing[128], msg[384];

        snprintf(missing, sizeof missing, "%s/no-such-folder", f->dir);
        f->spec.staging_dir = missing;
        snprintf(msg, sizeof msg,
                 "cannot write ISO '%s': cannot use staging folder '%s': No such file or "
                 "directory",
                 f->out, missing);
        assert_failed(f, -ENOENT, msg);

        f->spec.staging_dir = f->shim;
        assert_failed(f, -ENOTDIR, "is not a directory");
}

static void iso_missing_efi_binary(void **state)
{
        struct fixture *f = iso_fixture(state);
        char missing[128], msg[384];

        snprintf(missing, sizeof missing, "%s/efi/grubx64.efi.signed", f->dir);
        f->spec.grub_path = missing;
        snprintf(msg, sizeof msg, "cannot use GRUB '%s': No such file or directory", missing);
        assert_failed(f, -ENOENT, msg);

        f->spec.grub_path = f->grub;
        f->spec.mokmanager_path = f->staging;
        assert_failed(f, -EINVAL, "MokManager");

        f->spec.mokmanager_path = f->mm;
        f->spec.shim_path = NULL;
        assert_failed(f, -EINVAL, "no shim given");
}

static void iso_bad_inputs(void **state)
{
        struct fixture *f = iso_fixture(state);
        char out[128];
        off_t big = 33 * 1024 * 1024;
        int fd;

        f->spec.volume_label = "lower_case";
        assert_failed(f, -EINVAL, "invalid ISO volume label 'lower_case'");
        f->spec.volume_label = "PXF_0123456789_0123456789_0123456"; /* 33 */
        assert_failed(f, -EINVAL, "invalid ISO volume label");
        f->spec.volume_label = LABEL;

        snprintf(out, sizeof out, "%s/no-such-folder/live.iso", f->dir);
        f->spec.out_path = out;
        assert_failed(f, -ENOENT, "no-such-folder/live.iso");
        f->spec.out_path = f->out;

        /* Too big for an El Torito entry (sparse: never written, only its size counts). */
        fd = open(f->grub, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, big), 0);
        assert_int_equal(close(fd), 0);
        assert_failed(f, -EFBIG, "an El Torito entry holds at most 32767 KiB");
}

/* In a child limited to files of max_bytes, the writer's tool fails while it writes the
 * partial output. Returns the child's verdict (0: failed cleanly). */
static int run_with_file_limit(struct fixture *f, rlim_t max_bytes, bool squashfs, const char *tree)
{
        pid_t pid = fork();
        int status = 0;

        assert_true(pid >= 0);
        if (pid == 0) {
                struct rlimit lim = {.rlim_cur = max_bytes, .rlim_max = max_bytes};
                struct pxf_error err = {0};
                char partial[128];
                int r;
                if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
                        _exit(2);
                r = squashfs ? art_squashfs_write(tree, NULL, 1, f->out, &err)
                             : art_iso_write(&f->spec, &err);
                snprintf(partial, sizeof partial, "%s.partial", f->out);
                /* xorriso reports the EFBIG; mksquashfs dies of SIGXFSZ. */
                if (r != -ECHILD ||
                    !(strstr(err.msg, "File too large") || strstr(err.msg, "was killed by signal")))
                        _exit(3);
                _exit(exists(partial) || exists(f->out) ? 4 : 0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* The ISO is over 2 MiB (two copies of the 1 MiB EFI image): a limit of 1.5 MiB lets
 * mkfs.vfat finish and stops xorriso. */
static void iso_failure_removes_partial(void **state)
{
        struct fixture *f = iso_fixture(state);

        assert_int_equal(run_with_file_limit(f, 1536 * 1024, false, NULL), 0);
        assert_clean(f);
}

/* ---- the squashfs ------------------------------------------------------------------- */

static void make_tree(const struct fixture *f, char *tree, size_t size)
{
        char p[256];

        tt_path(tree, size, f->dir, "tree");
        tt_write_text(tree, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
        tt_write_text(tree, "etc/fstab", "excluded\n", 0644);
        tt_write_text(tree, "etc2/boot/kept", "not the excluded boot\n", 0644);
        tt_write_text(tree, "boot/vmlinuz", "excluded with its folder\n", 0644);
        tt_write_text(tree, "usr/bin/tool", "#!/bin/sh\n", 0644);
        tt_write_text(tree, "-dash/file", "dash\n", 0644);
        tt_path(p, sizeof p, tree, "usr/bin/tool");
        assert_int_equal(chmod(p, 0755), 0);
        assert_int_equal(lsetxattr(p, "user.pxf", "kept", 4, 0), 0);
        tt_path(p, sizeof p, tree, "usr/bin/link");
        assert_int_equal(symlink("tool", p), 0);
        /* A private root, as mkdtemp makes it: the image's root must still be 0755. */
        assert_int_equal(chmod(tree, 0700), 0);
}

static char *list_squashfs(const struct fixture *f)
{
        return capture((const char *[]){"unsquashfs", "-lln", "-d", "", f->out, NULL});
}

/* The listing's line for path ("" for the root), or NULL. */
static const char *listed(const char *listing, const char *path)
{
        char name[256];
        size_t len;

        snprintf(name, sizeof name, " /%s", path);
        if (!path[0])
                snprintf(name, sizeof name, " ");
        len = strlen(name);
        for (const char *p = listing; *p;) {
                size_t n = strcspn(p, "\n");
                /* "drwxr-xr-x 0/0 38 2024-01-01 00:00 /etc" */
                if (n >= len && strncmp(p + n - len, name, len) == 0 &&
                    (path[0] || p[n - 1] == ' '))
                        return p;
                p += n + (p[n] == '\n');
        }
        return NULL;
}

static void squashfs_write_and_list(void **state)
{
        static const char *const excludes[] = {"/boot/", "./etc/fstab", "nothing/there", NULL};
        struct fixture *f = *state;
        struct pxf_error err = {0};
        _cleanup_free_ char *listing = NULL;
        char tree[128], p[256], value[16] = {0};

        make_tree(f, tree, sizeof tree);
        tt_write_text(f->dir, "live.iso", "an older file\n", 0644);
        if (art_squashfs_write(tree, excludes, 2, f->out, &err) < 0)
                fail_msg("%s", err.msg);
        assert_clean(f);
        listing = list_squashfs(f);
        assert_non_null(listed(listing, "etc/passwd"));
        assert_non_null(listed(listing, "etc2/boot/kept"));
        assert_non_null(listed(listing, "-dash/file"));
        assert_non_null(listed(listing, "usr/bin/link -> tool"));
        assert_null(listed(listing, "etc/fstab"));
        assert_null(listed(listing, "boot"));
        assert_null(listed(listing, "boot/vmlinuz"));
        assert_true(strncmp(listing, "drwxr-xr-x 0/0 ", 15) == 0);

        /* Contents and extended attributes survive. */
        run((const char *[]){"unsquashfs", "-d", f->extract, f->out, NULL});
        assert_file(f->extract, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
        tt_path(p, sizeof p, f->extract, "usr/bin/tool");
        assert_int_equal(lgetxattr(p, "user.pxf", value, sizeof value - 1), 4);
        assert_string_equal(value, "kept");
}

/* A file system mounted in the tree (a chroot's /proc, /dev): an empty directory with the
 * mounted root's mode, as art_cpio_write does; nested and excluded ones add nothing. */
static void squashfs_mount_points(void **state)
{
        static const char *const excludes[] = {"boot", NULL};
        struct fixture *f = *state;
        struct pxf_error err = {0};
        _cleanup_free_ char *listing = NULL;
        char tree[128], proc[256], nested[256], boot[256], spaced[256];
        const char *line;
        int r;

        make_tree(f, tree, sizeof tree);
        tt_path(proc, sizeof proc, tree, "proc");
        tt_path(nested, sizeof nested, proc, "nested");
        tt_path(boot, sizeof boot, tree, "boot");
        tt_path(spaced, sizeof spaced, tree, "run/a \"quoted\" dir");
        assert_int_equal(pxf_mkdir_p(proc, 0755), 0);
        assert_int_equal(pxf_mkdir_p(spaced, 0755), 0);
        assert_int_equal(mount("tmpfs", proc, "tmpfs", 0, "mode=0555"), 0);
        assert_int_equal(mount("tmpfs", boot, "tmpfs", 0, "mode=0700"), 0);
        assert_int_equal(mount("tmpfs", spaced, "tmpfs", 0, "mode=1777"), 0);
        tt_write_text(proc, "inside", "must not be in the image\n", 0644);
        assert_int_equal(mkdir(nested, 0755), 0);
        assert_int_equal(mount("tmpfs", nested, "tmpfs", 0, "mode=0755"), 0);

        r = art_squashfs_write(tree, excludes, 1, f->out, &err);
        (void)umount2(nested, MNT_DETACH);
        (void)umount2(proc, MNT_DETACH);
        (void)umount2(boot, MNT_DETACH);
        (void)umount2(spaced, MNT_DETACH);
        if (r < 0)
                fail_msg("%s", err.msg);
        listing = list_squashfs(f);
        line = listed(listing, "proc");
        assert_non_null(line);
        assert_true(strncmp(line, "dr-xr-xr-x 0/0 ", 15) == 0);
        line = listed(listing, "run/a \"quoted\" dir");
        assert_non_null(line);
        assert_true(strncmp(line, "drwxrwxrwt 0/0 ", 15) == 0);
        assert_null(listed(listing, "proc/inside"));
        assert_null(listed(listing, "proc/nested"));
        assert_null(listed(listing, "boot"));
        assert_non_null(listed(listing, "etc/passwd"));
}

static void squashfs_bad_inputs(void **state)
{
        static const char *const dotdot[] = {"etc/../usr", NULL};
        struct fixture *f = *state;
        struct pxf_error err = {0};
        char tree[128], missing[128], msg[384];

        make_tree(f, tree, sizeof tree);
        snprintf(missing, sizeof missing, "%s/no-such-tree", f->dir);
        assert_int_equal(art_squashfs_write(missing, NULL, 1, f->out, &err), -ENOENT);
        snprintf(msg, sizeof msg,
                 "cannot write squashfs '%s': cannot read tree '%s': No such file or directory",
                 f->out, missing);
        assert_string_equal(err.msg, msg);
        assert_false(exists(f->out));

        tt_write_text(f->dir, "file", "not a directory\n", 0644);
        tt_path(missing, sizeof missing, f->dir, "file");
        assert_int_equal(art_squashfs_write(missing, NULL, 1, f->out, &err), -ENOTDIR);

        assert_int_equal(art_squashfs_write(tree, dotdot, 1, f->out, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "cannot exclude 'etc/../usr'"));
        assert_int_equal(art_squashfs_write_level(tree, NULL, 1, 23, f->out, &err), -EINVAL);

        snprintf(missing, sizeof missing, "%s/no-such-folder/squashfs.img", f->dir);
        assert_int_equal(art_squashfs_write(tree, NULL, 1, missing, &err), -ECHILD);
        assert_non_null(strstr(err.msg, "mksquashfs exited with status"));
        assert_false(exists(f->out));
        assert_clean(f);
}

/* 4 MiB that do not compress, so the image outgrows a 1 MiB file size limit. */
static void squashfs_failure_removes_partial(void **state)
{
        struct fixture *f = *state;
        char tree[128], p[256];
        unsigned char *buf = pxf_calloc(4 * 1024 * 1024, 1);
        uint64_t s = 0x9e3779b97f4a7c15ULL;
        int fd;

        make_tree(f, tree, sizeof tree);
        for (size_t i = 0; i < 4 * 1024 * 1024; i++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                buf[i] = (unsigned char)(s >> 56);
        }
        tt_path(p, sizeof p, tree, "random");
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, 4 * 1024 * 1024), 4 * 1024 * 1024);
        assert_int_equal(close(fd), 0);
        free(buf);
        assert_int_equal(run_with_file_limit(f, 1024 * 1024, true, tree), 0);
        assert_clean(f);
}

/* ---- missing programs --------------------------------------------------------------- */

static int hide(const char *dir)
{
        return mount("tmpfs", dir, "tmpfs", 0, "mode=0755");
}

/* In a child with a private mount namespace, tmpfs over /usr/bin and /usr/sbin hides the
 * tools one by one; each error names the Debian package. Returns the failed step or 0. */
static int missing_tools_child(struct fixture *f, const char *tree)
{
        char real_bin[128], link[160];
        struct pxf_error err = {0};

        snprintf(real_bin, sizeof real_bin, "%s/real-bin", f->dir);
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mkdir(real_bin, 0755) < 0 || mount("/usr/bin", real_bin, NULL, MS_BIND, NULL) < 0)
                return 1;
        if (hide("/usr/bin") < 0)
                return 2;
        if (art_squashfs_write(tree, NULL, 1, f->out, &err) != -ENOENT ||
            !strstr(err.msg, "mksquashfs is not installed (Debian package squashfs-tools)"))
                return 3;
        if (art_iso_write(&f->spec, &err) != -ENOENT ||
            !strstr(err.msg, "mcopy is not installed (Debian package mtools)"))
                return 4;
        snprintf(link, sizeof link, "%s/mtools", real_bin);
        if (symlink(link, "/usr/bin/mcopy") < 0)
                return 5;
        if (art_iso_write(&f->spec, &err) != -ENOENT ||
            !strstr(err.msg, "xorriso is not installed (Debian package xorriso)"))
                return 6;
        if (hide("/usr/sbin") < 0)
                return 7;
        if (art_iso_write(&f->spec, &err) != -ENOENT ||
            !strstr(err.msg, "mkfs.vfat is not installed (Debian package dosfstools)"))
                return 8;
        return exists(f->out) || count_entries(f->work) != 0 ? 9 : 0;
}

static void missing_tools_name_packages(void **state)
{
        struct fixture *f = iso_fixture(state);
        char tree[128];
        int status = 0;
        pid_t pid;

        make_tree(f, tree, sizeof tree);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(missing_tools_child(f, tree));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(efiboot_size_computation),
            cmocka_unit_test_setup_teardown(efiboot_real_sizes_fit, setup, teardown),
            cmocka_unit_test_setup_teardown(iso_build_and_inspect, setup, teardown),
            cmocka_unit_test_setup_teardown(iso_with_bios, setup, teardown),
            cmocka_unit_test_setup_teardown(iso_staging_variants, setup, teardown),
            cmocka_unit_test_setup_teardown(iso_missing_staging, setup, teardown),
            cmocka_unit_test_setup_teardown(iso_missing_efi_binary, setup, teardown),
            cmocka_unit_test_setup_teardown(iso_bad_inputs, setup, teardown),
            cmocka_unit_test_setup_teardown(iso_failure_removes_partial, setup, teardown),
            cmocka_unit_test_setup_teardown(squashfs_write_and_list, setup, teardown),
            cmocka_unit_test_setup_teardown(squashfs_mount_points, setup, teardown),
            cmocka_unit_test_setup_teardown(squashfs_bad_inputs, setup, teardown),
            cmocka_unit_test_setup_teardown(squashfs_failure_removes_partial, setup, teardown),
            cmocka_unit_test_setup_teardown(missing_tools_name_packages, setup, teardown),
        };
        return pxf_test_main(tests, argc, argv);
}

#else /* PXF_ISO_WRITER_TOOL */

/* iso-writer-tool: art_iso_write and art_squashfs_write_level from the command line, for
 * tests/integration/iso-boot.sh.
 *
 *   iso-writer-tool iso STAGING SHIM GRUB MOKMANAGER|- LABEL OUT WORKDIR [BIOS_IMAGE BIOS_MBR]
 *   iso-writer-tool squashfs TREE OUT ZSTD_LEVEL THREADS [EXCLUDE...]
 *   iso-writer-tool bios-grub TREE BIOS_IMAGE BIOS_MBR
 *
 * squashfs prints "<size in bytes> <seconds>" on stdout; bios-grub, whose grub-pc-bin made
 * GRUB for BIOS ("the image" or "this host"). */
static int usage(void)
{
        fprintf(stderr, "usage: iso-writer-tool iso STAGING SHIM GRUB MOKMANAGER|- LABEL OUT "
                        "WORKDIR [BIOS_IMAGE BIOS_MBR]\n"
                        "       iso-writer-tool squashfs TREE OUT ZSTD_LEVEL THREADS "
                        "[EXCLUDE...]\n"
                        "       iso-writer-tool bios-grub TREE BIOS_IMAGE BIOS_MBR\n");
        return 2;
}

static int iso(char **argv, bool bios)
{
        struct art_iso_spec spec = {
            .staging_dir = argv[0],
            .shim_path = argv[1],
            .grub_path = argv[2],
            .mokmanager_path = strcmp(argv[3], "-") ? argv[3] : NULL,
            .volume_label = argv[4],
            .out_path = argv[5],
            .work_dir = argv[6],
            .bios_image = bios ? argv[7] : NULL,
            .bios_mbr = bios ? argv[8] : NULL,
        };
        struct pxf_error err = {0};

        if (art_iso_write(&spec, &err) < 0) {
                fprintf(stderr, "iso-writer-tool: %s\n", err.msg);
                return 1;
        }
        return 0;
}

static int squashfs(char **argv)
{
        struct pxf_error err = {0};
        uint64_t start = pxf_now_usec();
        struct stat st;

        if (art_squashfs_write_level(argv[0], (const char *const *)argv + 4, atoi(argv[3]),
                                     atoi(argv[2]), argv[1], &err) < 0) {
                fprintf(stderr, "iso-writer-tool: %s\n", err.msg);
                return 1;
        }
        if (stat(argv[1], &st) < 0)
                return 1;
        printf("%lld %.1f\n", (long long)st.st_size, (double)(pxf_now_usec() - start) / 1e6);
        return 0;
}

static int bios_grub(char **argv)
{
        struct art_bios_grub_request req = {
            .tree = argv[0], .kind = ART_BIOS_GRUB_CD, .out = argv[1], .mbr_out = argv[2]};
        enum art_bios_grub_source source;
        struct pxf_error err = {0};

        if (art_bios_grub(&req, &source, &err) < 0) {
                fprintf(stderr, "iso-writer-tool: %s\n", err.msg);
                return 1;
        }
        printf("%s\n", source == ART_BIOS_GRUB_IMAGE ? "the image" : "this host");
        return 0;
}

int main(int argc, char **argv)
{
        pxf_log_set_level(PXF_LOG_INFO);
        if ((argc == 9 || argc == 11) && strcmp(argv[1], "iso") == 0)
                return iso(argv + 2, argc == 11);
        if (argc == 5 && strcmp(argv[1], "bios-grub") == 0)
                return bios_grub(argv + 2);
        if (argc >= 6 && strcmp(argv[1], "squashfs") == 0)
                return squashfs(argv + 2);
        return usage();
}

#endif /* PXF_ISO_WRITER_TOOL */
