/* Unit tests of the finished artifacts folder: the pxe-tar tarball, read back with
 * libarchive's reader entry by entry, and the manifest (SHA256SUMS checked by the real
 * sha256sum; manifest compared as text). Known SHA-256 values were computed with
 * sha256sum; the big file's is computed here with libcrypto, independently of the code
 * under test. The unit tests run as root (one case drops to nobody in a child). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "artifacts/artifacts.h"
#include "artifacts/folder-internal.h"
#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

#define BIG_SIZE  (5u * 1024 * 1024)
#define BIG_SEED  0x9e3779b97f4a7c15ULL
#define OLD_MTIME 1700000000

#define SHA_HELLO   "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define SHA_EMPTY   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_GRUBCFG "08dd82f2276d1bf17d946235af46a697fc8382dcedfd7f590689d216a71a1211"
#define SHA_A       "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"
#define SHA_NESTED  "370a8c04b8a65bb4494275eec227f1b694db04c76da6b0b8ae88ed1ab19790a3"
#define SHA_JELLO   "8b128914480c08c1d7a9c8a8ef78487f4f21cbc802a8134aa3850c9501571a15"
#define SHA_CHANGED "7f8b1dfc466b6249f06cbe55c9174df2578e7754da793fded244ef5cba2a38f1"

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t next_rand(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* The big file's bytes: a fixed pseudo-random stream (incompressible, so pigz and zlib
 * cut it into blocks differently). */
static unsigned char *big_data(void)
{
        static unsigned char buf[BIG_SIZE];
        uint64_t seed = BIG_SEED;

        for (size_t i = 0; i < BIG_SIZE; i++)
                buf[i] = (unsigned char)(next_rand(&seed) >> 56);
        return buf;
}

static void hex_of(const unsigned char *md, char hex[65])
{
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        assert_int_equal(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
        assert_int_equal(md_len, 32);
        hex_of(md, hex);
}

static void set_mtime(const struct tt_work *f, const char *rel, time_t t)
{
        char p[256];

        tt_path(p, sizeof p, f->tree, rel);
        assert_int_equal(utimensat(AT_FDCWD, p, (struct timespec[]){{t, 0}, {t, 123456789}},
                                   AT_SYMLINK_NOFOLLOW),
                         0);
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static void assert_no_partial(const char *out)
{
        _cleanup_free_ char *partial = pxf_asprintf("%s.partial", out);

        assert_false(exists(partial));
}

static char *read_text(const char *path)
{
        char *text = NULL;

        assert_int_equal(pxf_read_file(path, 64u << 20, &text, NULL), 0);
        return text;
}

static bool same_bytes(const char *a, const char *b)
{
        _cleanup_free_ char *x = NULL, *y = NULL;
        size_t lx = 0, ly = 0;

        assert_int_equal(pxf_read_file(a, 64u << 20, &x, &lx), 0);
        assert_int_equal(pxf_read_file(b, 64u << 20, &y, &ly), 0);
        return lx == ly && memcmp(x, y, lx) == 0;
}

static void assert_gzip(const char *path)
{
        unsigned char head[2] = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(read(fd, head, 2), 2);
        close(fd);
        assert_int_equal(head[0], 0x1f);
        assert_int_equal(head[1], 0x8b);
}

/* ---- the folders -------------------------------------------------------------------- */

/* The tarball's folder: the PXE layout, nested directories, a 5 MiB file, a symlink to a
 * directory, modes 0600, 0644, 0700, 0755, names whose byte order differs from a
 * directory-first walk ("other-user-artifacts.txt" < "other-user-artifacts/"). */
static void build_pxe_folder(const struct tt_work *f)
{
        assert_int_equal(mkdir(f->tree, 0755), 0);
        tt_write_text(f->tree, "bootx64.efi", "shim\n", 0644);
        tt_write_text(f->tree, "grubx64.efi", "grub\n", 0644);
        tt_mkdir(f->tree, "boot", 0755);
        tt_mkdir(f->tree, "boot/grub2", 0755);
        tt_write_text(f->tree, "boot/grub2/grub.cfg", "set timeout=5\n", 0644);
        tt_write_text(f->tree, "boot/grub2/grubenv", "# GRUB Environment Block\n", 0600);
        tt_symlink(f->tree, "grub", "boot/grub2");
        tt_write_text(f->tree, "vmlinuz", "kernel\n", 0755);
        set_mtime(f, "vmlinuz", OLD_MTIME);
        tt_write(f->tree, "initrd.img", big_data(), BIG_SIZE, 0644);
        tt_mkdir(f->tree, "empty", 0700);
        tt_write_text(f->tree, "other-user-artifacts.txt", "notes\n", 0600);
        tt_mkdir(f->tree, "other-user-artifacts", 0755);
        tt_write_text(f->tree, "other-user-artifacts/hello", "hello\n", 0644);
}

/* The manifest's folder: small files of known SHA-256. */
static void build_small_folder(const struct tt_work *f)
{
        assert_int_equal(mkdir(f->tree, 0755), 0);
        tt_write_text(f->tree, "hello", "hello\n", 0644);
        tt_write_text(f->tree, "empty", "", 0600);
        tt_write_text(f->tree, "boot-a", "a\n", 0755);
        tt_mkdir(f->tree, "boot", 0755);
        tt_mkdir(f->tree, "boot/grub2", 0755);
        tt_write_text(f->tree, "boot/grub2/grub.cfg", "set timeout=5\n", 0644);
        tt_mkdir(f->tree, "sub", 0755);
        tt_write_text(f->tree, "sub/manifest", "nested\n",
                      0644);                  /* only the top-level one is ours */
        tt_symlink(f->tree, "link", "hello"); /* no contents of its own: not listed */
        tt_write_text(f->tree, ART_SHA256SUMS, "stale\n", 0600); /* replaced, never listed */
        tt_write_text(f->tree, ART_MANIFEST ".partial", "left by an interrupted run\n", 0600);
}

static int setup(void **state)
{
        *state = tt_work_new("artifacts", "folder", "pxe.tar.gz");
        return 0;
}

static int teardown(void **state)
{
        tt_work_free(*state);
        return 0;
}

static struct tt_work *pxe_fixture(void **state)
{
        struct tt_work *f = *state;

        build_pxe_folder(f);
        return f;
}

static struct tt_work *small_fixture(void **state)
{
        struct tt_work *f = *state;

        build_small_folder(f);
        return f;
}

/* ---- reading the tarball back ------------------------------------------------------- */

struct expect {
        const char *path;
        mode_t type;
        mode_t perm;
        const char *data; /* file contents or symlink target; NULL: the big file */
        const char *src;  /* the entry's path in the folder, for its mtime */
};

#define BIG_PATH "initrd.img"

static const struct expect expected[] = {
    {"boot/", AE_IFDIR, 0755, "", "boot"},
    {"boot/grub2/", AE_IFDIR, 0755, "", "boot/grub2"},
    {"boot/grub2/grub.cfg", AE_IFREG, 0644, "set timeout=5\n", "boot/grub2/grub.cfg"},
    {"boot/grub2/grubenv", AE_IFREG, 0600, "# GRUB Environment Block\n", "boot/grub2/grubenv"},
    {"bootx64.efi", AE_IFREG, 0644, "shim\n", "bootx64.efi"},
    {"empty/", AE_IFDIR, 0700, "", "empty"},
    {"grub", AE_IFLNK, 0777, "boot/grub2", "grub"},
    {"grubx64.efi", AE_IFREG, 0644, "grub\n", "grubx64.efi"},
    {BIG_PATH, AE_IFREG, 0644, NULL, BIG_PATH},
    {"other-user-artifacts.txt", AE_IFREG, 0600, "notes\n", "other-user-artifacts.txt"},
    {"other-user-artifacts/", AE_IFDIR, 0755, "", "other-user-artifacts"},
    {"other-user-artifacts/hello", AE_IFREG, 0644, "hello\n", "other-user-artifacts/hello"},
    {"vmlinuz", AE_IFREG, 0755, "kernel\n", "vmlinuz"},
};

/* Streams the entry's data through SHA-256. */
static void entry_sha256(struct archive *a, char hex[65], int64_t *ret_size)
{
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        int64_t size = 0;
        la_ssize_t n;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
                assert_int_equal(EVP_DigestUpdate(ctx, buf, (size_t)n), 1);
                size += n;
        }
        assert_int_equal(n, 0);
        assert_int_equal(EVP_DigestFinal_ex(ctx, md, &md_len), 1);
        EVP_MD_CTX_free(ctx);
        hex_of(md, hex);
        *ret_size = size;
}

static void check_contents(const struct tt_work *f, struct archive *a, struct archive_entry *e,
                           const struct expect *x)
{
        char got[65], want[65], src[256];
        struct stat st;
        int64_t size = 0;

        tt_path(src, sizeof src, f->tree, x->src);
        assert_int_equal(lstat(src, &st), 0);
        assert_int_equal(archive_entry_mtime(e), st.st_mtim.tv_sec);
        if (strcmp(x->src, "vmlinuz") == 0)
                assert_int_equal(archive_entry_mtime(e), OLD_MTIME);
        if (x->type == AE_IFLNK) {
                assert_string_equal(archive_entry_symlink(e), x->data);
                assert_int_equal(archive_entry_size(e), 0);
                return;
        }
        if (x->data)
                sha256_hex(x->data, strlen(x->data), want);
        else
                sha256_hex(big_data(), BIG_SIZE, want);
        entry_sha256(a, got, &size);
        assert_int_equal(archive_entry_size(e), x->data ? strlen(x->data) : BIG_SIZE);
        assert_int_equal(size, archive_entry_size(e));
        assert_string_equal(got, want);
}

static void check_entry(const struct tt_work *f, struct archive *a, struct archive_entry *e,
                        const struct expect *x)
{
        assert_string_equal(archive_entry_pathname(e), x->path);
        assert_int_equal(archive_entry_filetype(e), x->type);
        assert_int_equal(archive_entry_perm(e), x->perm);
        assert_int_equal(archive_entry_uid(e), 0);
        assert_int_equal(archive_entry_gid(e), 0);
        assert_string_equal(archive_entry_uname(e), "root");
        assert_string_equal(archive_entry_gname(e), "root");
        assert_null(archive_entry_hardlink(e));
        check_contents(f, a, e, x);
}

/* Reads the tarball and checks every entry against expected[], in order. */
static void check_tarball(const struct tt_work *f, const char *path)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        size_t n = 0;
        int r;

        assert_non_null(a);
        archive_read_support_format_tar(a);
        archive_read_support_filter_gzip(a);
        assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                assert_true(n < PXF_ELEMENTSOF(expected));
                check_entry(f, a, e, &expected[n++]);
        }
        assert_int_equal(r, ARCHIVE_EOF);
        assert_int_equal(n, PXF_ELEMENTSOF(expected));
        assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
        /* Restricted pax with nothing ustar cannot hold: plain ustar headers. */
        assert_int_equal(archive_format(a), ARCHIVE_FORMAT_TAR_USTAR);
        assert_int_equal(archive_read_free(a), ARCHIVE_OK);
}

static void write_tar_ok(const struct tt_work *f, const char *out)
{
        struct pxf_error err = {0};
        struct stat st;
        int r = art_tar_write(f->tree, 2, out, &err);

        if (r < 0)
                print_error("art_tar_write: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_no_partial(out);
        assert_int_equal(stat(out, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
}

static void write_gzip_ok(const struct tt_work *f, bool use_pigz, const char *out)
{
        struct pxf_error err = {0};
        int r = art_tar_write_gzip(f->tree, use_pigz, 2, out, &err);

        if (r < 0)
                print_error("art_tar_write_gzip: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_no_partial(out);
        assert_gzip(out);
        check_tarball(f, out);
}

/* ---- tarball cases ------------------------------------------------------------------ */

static void tar_round_trip(void **state)
{
        struct tt_work *f = pxe_fixture(state);
        int fd = open(f->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0); /* an older tarball: replaced as a whole */
        assert_int_equal(write(fd, "old\n", 4), 4);
        assert_int_equal(close(fd), 0);
        write_tar_ok(f, f->out);
        assert_gzip(f->out);
        check_tarball(f, f->out);
}

/* Whichever compressor is installed ran, and both give gzip. The public function is
 * compared byte for byte with each compressor chosen explicitly: each is reproducible,
 * and on 5 MiB of random data pigz and zlib cut blocks differently. */
static void tar_pigz_or_libarchive(void **state)
{
        struct tt_work *f = pxe_fixture(state);
        bool installed = access("/usr/bin/pigz", X_OK) == 0 || access("/bin/pigz", X_OK) == 0;
        const char *pigz = art_tar_pigz();
        char lib_out[160], pigz_out[160];

        snprintf(lib_out, sizeof lib_out, "%s/libarchive.tar.gz", f->dir);
        snprintf(pigz_out, sizeof pigz_out, "%s/pigz.tar.gz", f->dir);
        assert_int_equal(pigz != NULL, installed);
        write_tar_ok(f, f->out);
        assert_gzip(f->out);
        check_tarball(f, f->out);
        write_gzip_ok(f, false, lib_out);
        if (pigz) {
                write_gzip_ok(f, true, pigz_out);
                assert_true(same_bytes(f->out, pigz_out));
                assert_false(same_bytes(pigz_out, lib_out));
                print_message("pigz (%s) compressed the tarball\n", pigz);
        } else {
                struct pxf_error err = {0};
                assert_int_equal(art_tar_write_gzip(f->tree, true, 2, pigz_out, &err), -ENOENT);
                assert_string_equal(err.msg, "pigz is not installed");
                assert_false(exists(pigz_out));
                assert_no_partial(pigz_out);
                assert_true(same_bytes(f->out, lib_out));
                print_message("pigz is not installed: libarchive's gzip compressed the tarball\n");
        }
}

/* In a child: as nobody (root writes anywhere), or with a file size limit that makes the
 * compressor's writes fail half way. Exits 0 when art_tar_write_gzip failed as expected. */
static void child_write(const struct tt_work *f, bool as_nobody, bool use_pigz, const char *out)
{
        struct pxf_error err = {0};
        struct rlimit lim = {.rlim_cur = 1 << 20, .rlim_max = 1 << 20};
        int r;

        if (as_nobody && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
                _exit(2);
        if (!as_nobody && (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &lim)))
                _exit(3);
        r = art_tar_write_gzip(f->tree, use_pigz, 2, out, &err);
        if (as_nobody)
                _exit(r == -EACCES && strncmp(err.msg, "cannot create '", 15) == 0 ? 0 : 1);
        _exit(r < 0 && err.msg[0] ? 0 : 1);
}

static int run_child(const struct tt_work *f, bool as_nobody, bool use_pigz, const char *out)
{
        pid_t pid = fork();
        int status = 0;

        assert_true(pid >= 0);
        if (pid == 0)
                child_write(f, as_nobody, use_pigz, out);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void tar_failure_leaves_no_partial(void **state)
{
        struct tt_work *f = pxe_fixture(state);
        char out[160], msg[320];
        struct pxf_error err = {0};

        /* The output directory is missing. */
        snprintf(out, sizeof out, "%s/missing/pxe.tar.gz", f->dir);
        assert_int_equal(art_tar_write(f->tree, 2, out, &err), -ENOENT);
        snprintf(msg, sizeof msg, "cannot create '%s.partial': No such file or directory", out);
        assert_string_equal(err.msg, msg);
        assert_no_partial(out);

        /* The output directory is not writable for the user building (who can list the
         * folder: that comes first). */
        snprintf(out, sizeof out, "%s/root-only", f->dir);
        assert_int_equal(mkdir(out, 0755), 0);
        assert_int_equal(chmod(f->dir, 0755), 0);
        tt_path(msg, sizeof msg, f->tree, "empty");
        assert_int_equal(chmod(msg, 0755), 0);
        snprintf(out, sizeof out, "%s/root-only/pxe.tar.gz", f->dir);
        assert_int_equal(run_child(f, true, false, out), 0);
        assert_false(exists(out));
        assert_no_partial(out);

        /* Writing fails half way (the disk is full, say), with either compressor. */
        for (int pigz = 0; pigz <= (art_tar_pigz() != NULL); pigz++) {
                assert_int_equal(run_child(f, false, pigz, f->out), 0);
                assert_false(exists(f->out));
                assert_no_partial(f->out);
        }

        /* The last step fails: the output path is a directory. */
        assert_int_equal(mkdir(f->out, 0755), 0);
        assert_true(art_tar_write(f->tree, 2, f->out, &err) < 0);
        snprintf(msg, sizeof msg, "cannot move '%s' into place: Is a directory", f->out);
        assert_string_equal(err.msg, msg);
        assert_no_partial(f->out);
}

static void tar_refuses_fifo(void **state)
{
        struct tt_work *f = pxe_fixture(state);
        struct pxf_error err = {0};
        char fifo[256], msg[512];

        tt_path(fifo, sizeof fifo, f->tree, "boot/grub2/fifo");
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(art_tar_write(f->tree, 2, f->out, &err), -EINVAL);
        snprintf(msg, sizeof msg,
                 "cannot list the artifacts folder '%s': 'boot/grub2/fifo' is a fifo; an "
                 "artifacts folder holds only regular files, directories and symlinks",
                 f->tree);
        assert_string_equal(err.msg, msg);
        assert_false(exists(f->out));
        assert_no_partial(f->out);
        /* The manifest follows the same listing. */
        assert_int_equal(art_manifest_write(f->tree,
                                            &(struct art_manifest_info){
                                                .kernel_version = "6.1.0-27-amd64",
                                                .initramfs_type = "full-os",
                                            },
                                            &err),
                         -EINVAL);
        assert_string_equal(err.msg, msg);
}

/* ---- manifest cases ----------------------------------------------------------------- */

static char *const kernel_args[] = {"console=ttyS0,115200", "pxf.x=1", NULL};

static const struct art_manifest_info full_info = {
    .kernel_version = "6.1.0-27-amd64",
    .initramfs_type = "full-os",
    .kernel_args = kernel_args,
    .bootstrap_url = "http://10.0.0.1/pxe/image.iso",
};

static void write_manifest_ok(const struct tt_work *f, const struct art_manifest_info *info)
{
        struct pxf_error err = {0};
        int r = art_manifest_write(f->tree, info, &err);

        if (r < 0)
                print_error("art_manifest_write: %s\n", err.msg);
        assert_int_equal(r, 0);
}

static void assert_file(const struct tt_work *f, const char *rel, const char *text, mode_t mode)
{
        _cleanup_free_ char *got = NULL;
        char p[256];
        struct stat st;

        tt_path(p, sizeof p, f->tree, rel);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, mode);
        got = read_text(p);
        assert_string_equal(got, text);
}

#define SUMS_TEXT                                                                                  \
        SHA_A "  boot-a\n" SHA_GRUBCFG "  boot/grub2/grub.cfg\n" SHA_EMPTY "  empty\n" SHA_HELLO   \
              "  hello\n" SHA_NESTED "  sub/manifest\n"

#define FILE_LINES                                                                                 \
        "file: 2 " SHA_A " boot-a\n"                                                               \
        "file: 14 " SHA_GRUBCFG " boot/grub2/grub.cfg\n"                                           \
        "file: 0 " SHA_EMPTY " empty\n"                                                            \
        "file: 6 " SHA_HELLO " hello\n"                                                            \
        "file: 7 " SHA_NESTED " sub/manifest\n"

static void manifest_text(void **state)
{
        struct tt_work *f = small_fixture(state);
        mode_t old_umask = umask(077);
        char partial[256];

        write_manifest_ok(f, &full_info);
        umask(old_umask);
        assert_file(f, ART_SHA256SUMS, SUMS_TEXT, 0644);
        assert_file(f, ART_MANIFEST,
                    "# pxeforge artifacts manifest\n"
                    "format-version: 1\n"
                    "pxeforge-version: " PXF_VERSION "\n"
                    "kernel-version: 6.1.0-27-amd64\n"
                    "initramfs-type: full-os\n"
                    "kernel-command-line: console=ttyS0,115200 pxf.x=1\n"
                    "bootstrap-url: http://10.0.0.1/pxe/image.iso\n" FILE_LINES,
                    0644);
        tt_path(partial, sizeof partial, f->tree, ART_MANIFEST ".partial");
        assert_false(exists(partial));
        tt_path(partial, sizeof partial, f->tree, ART_SHA256SUMS ".partial");
        assert_false(exists(partial));

        /* No arguments, no bootstrap URL; written again over the first one. */
        write_manifest_ok(f, &(struct art_manifest_info){.kernel_version = "6.12.9-azl3",
                                                         .initramfs_type = "bootstrap"});
        assert_file(f, ART_SHA256SUMS, SUMS_TEXT, 0644);
        assert_file(f, ART_MANIFEST,
                    "# pxeforge artifacts manifest\n"
                    "format-version: 1\n"
                    "pxeforge-version: " PXF_VERSION "\n"
                    "kernel-version: 6.12.9-azl3\n"
                    "initramfs-type: bootstrap\n"
                    "kernel-command-line:\n" FILE_LINES,
                    0644);
}

static void manifest_bad_info(void **state)
{
        struct tt_work *f = small_fixture(state);
        static char *const bad_args[] = {"quiet", "pxf.x=1\nfile: 0 x y", NULL};
        struct art_manifest_info info = full_info;
        struct pxf_error err = {0};
        char sums[256];

        info.kernel_version = NULL;
        assert_int_equal(art_manifest_write(f->tree, &info, &err), -EINVAL);
        assert_string_equal(err.msg, "the manifest needs a kernel-version");
        info = full_info;
        info.kernel_args = bad_args;
        assert_int_equal(art_manifest_write(f->tree, &info, &err), -EINVAL);
        assert_string_equal(err.msg, "kernel argument 'pxf.x=1\nfile: 0 x y' holds a control "
                                     "character; the manifest is one line per value");
        assert_file(f, ART_SHA256SUMS, "stale\n", 0600); /* nothing was written */

        tt_write_text(f->tree, "back\\slash", "x\n", 0644);
        assert_int_equal(art_manifest_write(f->tree, &full_info, &err), -EINVAL);
        assert_string_equal(err.msg, "'back\\slash': a path with a control character or a "
                                     "backslash cannot be listed in SHA256SUMS");
        tt_path(sums, sizeof sums, f->tree, ART_MANIFEST);
        assert_false(exists(sums));
}

/* The real sha256sum checks the folder, nested directories and the 5 MiB file included. */
static void manifest_sha256sum_check(void **state)
{
        static const char *const argv[] = {"sha256sum", "--check",      "--strict",
                                           "--quiet",   ART_SHA256SUMS, NULL};
        struct tt_work *f = pxe_fixture(state);
        const struct pxf_spawn_opts opts = {.cwd = f->tree, .stdout_fd = -1};
        _cleanup_free_ char *sums = NULL;
        struct pxf_error err = {0};
        char path[256], big_line[128], big_hex[65];
        size_t lines = 0;
        int r;

        write_manifest_ok(f, &full_info);
        r = pxf_spawn_run(argv, &opts, &err);
        if (r < 0)
                print_error("sha256sum: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_int_equal(art_manifest_verify(f->tree, &err), 0);

        tt_path(path, sizeof path, f->tree, ART_SHA256SUMS);
        sums = read_text(path);
        for (const char *p = sums; *p; p++)
                lines += *p == '\n';
        assert_int_equal(lines, 8); /* every regular file; no symlink, directory or itself */
        sha256_hex(big_data(), BIG_SIZE, big_hex);
        snprintf(big_line, sizeof big_line, "%s  " BIG_PATH "\n", big_hex);
        assert_non_null(strstr(sums, big_line));
        /* The tarball holds the manifest like any other file. */
        write_tar_ok(f, f->out);
}

static void manifest_verify_modified(void **state)
{
        struct tt_work *f = small_fixture(state);
        struct pxf_error err = {0};

        write_manifest_ok(f, &full_info);
        assert_int_equal(art_manifest_verify(f->tree, &err), 0);
        tt_write_text(f->tree, "sub/manifest", "changed\n", 0644);
        tt_write_text(f->tree, "hello", "jello\n", 0644); /* the same size */
        assert_int_equal(art_manifest_verify(f->tree, &err), -EBADMSG);
        /* The first mismatch in SHA256SUMS order. */
        assert_string_equal(err.msg, "'hello' does not match SHA256SUMS: its sha256 is " SHA_JELLO
                                     ", not " SHA_HELLO);
        tt_write_text(f->tree, "hello", "hello\n", 0644);
        assert_int_equal(art_manifest_verify(f->tree, &err), -EBADMSG);
        assert_string_equal(err.msg, "'sub/manifest' does not match SHA256SUMS: its sha256 "
                                     "is " SHA_CHANGED ", not " SHA_NESTED);
}

static void manifest_verify_missing(void **state)
{
        struct tt_work *f = small_fixture(state);
        struct pxf_error err = {0};
        char p[256];

        write_manifest_ok(f, &full_info);
        tt_path(p, sizeof p, f->tree, "boot/grub2/grub.cfg");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(art_manifest_verify(f->tree, &err), -ENOENT);
        assert_string_equal(err.msg, "'boot/grub2/grub.cfg' is listed in SHA256SUMS but missing");
        tt_path(p, sizeof p, f->tree, "boot");
        assert_int_equal(pxf_rm_rf(p), 0);
        assert_int_equal(art_manifest_verify(f->tree, &err), -ENOENT);
        assert_string_equal(err.msg, "'boot/grub2/grub.cfg' is listed in SHA256SUMS but missing");
        tt_path(p, sizeof p, f->tree, ART_SHA256SUMS);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(art_manifest_verify(f->tree, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "SHA256SUMS': No such file or directory"));
}

/* SHA256SUMS is data: a folder being served must not make pxeforge vouch for files
 * elsewhere. */
static void manifest_verify_unsafe(void **state)
{
        static const struct {
                const char *line;
                int code;
                const char *msg;
        } cases[] = {
            {SHA_HELLO "  ../hello\n", -EBADMSG,
             "SHA256SUMS line 1 names a path outside the folder"},
            {SHA_HELLO "  /etc/hostname\n", -EBADMSG,
             "SHA256SUMS line 1 names a path outside the folder"},
            {SHA_HELLO "  sub/./manifest\n", -EBADMSG,
             "SHA256SUMS line 1 names a path outside the folder"},
            {SHA_HELLO "  link\n", -ELOOP, "'link' goes through a symlink"},
            {SHA_HELLO "  linkdir/manifest\n", -ELOOP, "'linkdir/manifest' goes through a symlink"},
            {SHA_HELLO "  sub\n", -EBADMSG, "'sub' is not a regular file"},
            {SHA_HELLO " hello\n", -EBADMSG, "SHA256SUMS line 1 is malformed"},
            {SHA_HELLO "  hello\n\n", -EBADMSG, "SHA256SUMS line 2 is malformed"},
            {"5891b5b5  hello\n", -EBADMSG, "SHA256SUMS line 1 is malformed"},
            {SHA_HELLO "  hello", 0, NULL}, /* the last newline may be missing */
            {SHA_HELLO " *hello\n", 0, NULL},
        };
        struct tt_work *f = small_fixture(state);

        tt_symlink(f->tree, "linkdir", "sub");
        for (size_t i = 0; i < PXF_ELEMENTSOF(cases); i++) {
                struct pxf_error err = {0};
                tt_write_text(f->tree, ART_SHA256SUMS, cases[i].line, 0644);
                assert_int_equal(art_manifest_verify(f->tree, &err), cases[i].code);
                if (cases[i].msg)
                        assert_string_equal(err.msg, cases[i].msg);
        }
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(tar_round_trip, setup, teardown),
            cmocka_unit_test_setup_teardown(tar_pigz_or_libarchive, setup, teardown),
            cmocka_unit_test_setup_teardown(tar_failure_leaves_no_partial, setup, teardown),
            cmocka_unit_test_setup_teardown(tar_refuses_fifo, setup, teardown),
            cmocka_unit_test_setup_teardown(manifest_text, setup, teardown),
            cmocka_unit_test_setup_teardown(manifest_bad_info, setup, teardown),
            cmocka_unit_test_setup_teardown(manifest_sha256sum_check, setup, teardown),
            cmocka_unit_test_setup_teardown(manifest_verify_modified, setup, teardown),
            cmocka_unit_test_setup_teardown(manifest_verify_missing, setup, teardown),
            cmocka_unit_test_setup_teardown(manifest_verify_unsafe, setup, teardown),
        };
        return pxf_test_main(tests, argc, argv);
}
