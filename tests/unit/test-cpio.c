/* Unit tests of the full-OS initramfs writer: a temporary tree with every file type is
 * written with each compression and read back with libarchive's reader, entry by entry.
 * Needs root (device nodes, ownership); the unit tests run as root. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "artifacts/live-internal.h"
#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

#define BIG_SIZE   (3u * 1024 * 1024)
#define BIG_SEED   0x9e3779b97f4a7c15ULL
#define PASSWD     "root:x:0:0::/root:/bin/sh\n"
#define OLD_MTIME  1700000000
#define HARDLINKED "hardlinked\n"

static const char *const excludes[] = {"boot", "etc/fstab", NULL};

/* ---- the tree ----------------------------------------------------------------------- */

/* The big file's bytes: a fixed pseudo-random stream, so the reader can check every byte
 * without keeping a copy. */
static uint64_t next_rand(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static void fill_big(unsigned char *buf, size_t n, uint64_t *seed)
{
        for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)(next_rand(seed) >> 56);
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ULL;
        return h;
}

static uint64_t big_checksum(void)
{
        static unsigned char buf[BIG_SIZE];
        uint64_t seed = BIG_SEED;

        fill_big(buf, BIG_SIZE, &seed);
        return fnv1a(0xcbf29ce484222325ULL, buf, BIG_SIZE);
}

static void mk_big(const struct tt_work *f, const char *rel)
{
        static unsigned char buf[BIG_SIZE];
        uint64_t seed = BIG_SEED;
        char p[256];
        int fd;

        tt_path(p, sizeof p, f->tree, rel);
        fill_big(buf, BIG_SIZE, &seed);
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, BIG_SIZE), (ssize_t)BIG_SIZE);
        assert_int_equal(close(fd), 0);
}

static void mk_node(const struct tt_work *f, const char *rel, mode_t mode, dev_t dev)
{
        char p[256];

        tt_path(p, sizeof p, f->tree, rel);
        assert_int_equal(mknod(p, mode, dev), 0);
        assert_int_equal(chmod(p, mode & 07777), 0);
}

static void mk_socket(const struct tt_work *f, const char *rel)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        tt_path(sa.sun_path, sizeof sa.sun_path, f->tree, rel);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        close(fd);
}

static void chown_at(const struct tt_work *f, const char *rel, uid_t uid, gid_t gid)
{
        char p[256];

        tt_path(p, sizeof p, f->tree, rel);
        assert_int_equal(lchown(p, uid, gid), 0);
}

static void link_at(const struct tt_work *f, const char *from, const char *to)
{
        char a[256], b[256];

        tt_path(a, sizeof a, f->tree, from);
        tt_path(b, sizeof b, f->tree, to);
        assert_int_equal(link(a, b), 0);
}

static void build_tree(const struct tt_work *f)
{
        char p[256];

        assert_int_equal(mkdir(f->tree, 0755), 0);
        tt_mkdir(f->tree, "a", 0755);
        tt_write_text(f->tree, "a/b", "b\n", 0644);
        tt_write_text(f->tree, "a-b", "ab\n", 0644); /* '-' sorts before '/': a, a/b, a-b */
        tt_mkdir(f->tree, "bin", 0755);
        tt_write_text(f->tree, "bin/sh", "#!/bin/true\n", 0755);
        tt_write_text(f->tree, "bin/su", "su\n", 04755);
        tt_mkdir(f->tree, "boot", 0755); /* excluded with all it holds */
        tt_write_text(f->tree, "boot/vmlinuz", "kernel\n", 0644);
        tt_mkdir(f->tree, "boot/grub", 0755);
        tt_write_text(f->tree, "boot/grub/grub.cfg", "cfg\n", 0644);
        tt_write_text(f->tree, "bootstrap", "not excluded\n", 0600); /* "boot" is no prefix match */
        tt_mkdir(f->tree, "dev", 0755);
        mk_node(f, "dev/null", S_IFCHR | 0666, makedev(1, 3));
        mk_node(f, "dev/loop0", S_IFBLK | 0660, makedev(7, 0));
        chown_at(f, "dev/loop0", 0, 6);
        tt_mkdir(f->tree, "etc", 0755);
        tt_write_text(f->tree, "etc/empty", "", 0644);
        tt_write_text(f->tree, "etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n", 0644);
        tt_write_text(f->tree, "etc/passwd", PASSWD, 0644);
        link_at(f, "etc/passwd", "boot/passwd-link"); /* a link from an excluded path */
        tt_path(p, sizeof p, f->tree, "etc/passwd");
        assert_int_equal(
            utimensat(AT_FDCWD, p, (struct timespec[]){{OLD_MTIME, 0}, {OLD_MTIME, 0}}, 0), 0);
        tt_write_text(f->tree, "etc/shadow", "root:*:19000::::::\n", 0640);
        chown_at(f, "etc/shadow", 0, 42);
        tt_mkdir(f->tree, "home", 0755);
        tt_mkdir(f->tree, "home/user", 0700);
        chown_at(f, "home/user", 1000, 1000);
        tt_path(p, sizeof p, f->tree, "lib");
        assert_int_equal(symlink("usr/lib", p), 0);
        tt_mkdir(f->tree, "run", 0755);
        mk_node(f, "run/fifo", S_IFIFO | 0600, 0);
        mk_socket(f, "run/sock"); /* left out */
        tt_mkdir(f->tree, "usr", 0755);
        tt_mkdir(f->tree, "usr/bin", 0755);
        tt_write_text(f->tree, "usr/bin/link-a", HARDLINKED, 0755);
        link_at(f, "usr/bin/link-a", "usr/bin/link-b");
        tt_mkdir(f->tree, "usr/lib", 0755);
        mk_big(f, "usr/lib/big.bin");
}

static int setup(void **state)
{
        *state = tt_work_new("cpio", "tree", "initrd.img");
        return 0;
}

static int teardown(void **state)
{
        tt_work_free(*state);
        return 0;
}

static struct tt_work *tree_fixture(void **state)
{
        struct tt_work *f = *state;

        if (geteuid() != 0)
                skip(); /* device nodes and ownership need root */
        build_tree(f);
        return f;
}

/* ---- reading the archive back ------------------------------------------------------- */

struct expect {
        const char *path;
        mode_t type;
        mode_t perm;
        uid_t uid;
        gid_t gid;
        const char *data; /* regular files and symlink targets; NULL: not checked here */
        int64_t size;
        unsigned nlink;
        const char *hardlink;
        dev_t rdev;
};

#define DIR_(p, perm)                                                                              \
        {                                                                                          \
                p, AE_IFDIR, perm, 0, 0, NULL, 0, 2, NULL, 0                                       \
        }
#define REG_(p, perm, data)                                                                        \
        {                                                                                          \
                p, AE_IFREG, perm, 0, 0, data, sizeof(data) - 1, 1, NULL, 0                        \
        }

static const struct expect expected[] = {
    DIR_("a", 0755),
    REG_("a/b", 0644, "b\n"),
    REG_("a-b", 0644, "ab\n"),
    DIR_("bin", 0755),
    REG_("bin/sh", 0755, "#!/bin/true\n"),
    REG_("bin/su", 04755, "su\n"),
    REG_("bootstrap", 0600, "not excluded\n"),
    DIR_("dev", 0755),
    {"dev/loop0", AE_IFBLK, 0660, 0, 6, NULL, 0, 1, NULL, 0x0700},
    {"dev/null", AE_IFCHR, 0666, 0, 0, NULL, 0, 1, NULL, 0x0103},
    DIR_("etc", 0755),
    REG_("etc/empty", 0644, ""),
    REG_("etc/passwd", 0644, PASSWD), /* nlink 1: its other name is excluded */
    {"etc/shadow", AE_IFREG, 0640, 0, 42, "root:*:19000::::::\n", 19, 1, NULL, 0},
    DIR_("home", 0755),
    {"home/user", AE_IFDIR, 0700, 1000, 1000, NULL, 0, 2, NULL, 0},
    {"lib", AE_IFLNK, 0777, 0, 0, "usr/lib", 0, 1, NULL, 0},
    DIR_("run", 0755),
    {"run/fifo", AE_IFIFO, 0600, 0, 0, NULL, 0, 1, NULL, 0},
    DIR_("usr", 0755),
    DIR_("usr/bin", 0755),
    /* newc: the data goes with the last name, the earlier ones are empty. */
    {"usr/bin/link-a", AE_IFREG, 0755, 0, 0, "", 0, 2, NULL, 0},
    {"usr/bin/link-b", AE_IFREG, 0755, 0, 0, HARDLINKED, 11, 2, "usr/bin/link-a", 0},
    DIR_("usr/lib", 0755),
    {"usr/lib/big.bin", AE_IFREG, 0644, 0, 0, NULL, BIG_SIZE, 1, NULL, 0},
};

static void check_data(struct archive *a, const struct expect *x)
{
        char buf[64] = {0};
        la_ssize_t n = archive_read_data(a, buf, sizeof buf);

        assert_true(n >= 0);
        assert_int_equal(n, strlen(x->data));
        assert_memory_equal(buf, x->data, (size_t)n);
}

static void check_big(struct archive *a)
{
        static unsigned char want[BIG_SIZE], got[BIG_SIZE];
        uint64_t seed = BIG_SEED;
        size_t total = 0;
        la_ssize_t n;

        fill_big(want, BIG_SIZE, &seed);
        while ((n = archive_read_data(a, got + total, BIG_SIZE - total)) > 0)
                total += (size_t)n;
        assert_int_equal(n, 0);
        assert_int_equal(total, BIG_SIZE);
        assert_memory_equal(got, want, BIG_SIZE);
        assert_true(fnv1a(0xcbf29ce484222325ULL, got, BIG_SIZE) == big_checksum());
}

static void check_entry(struct archive *a, struct archive_entry *e, const struct expect *x)
{
        const char *hl = archive_entry_hardlink(e);

        assert_string_equal(archive_entry_pathname(e), x->path);
        assert_int_equal(archive_entry_filetype(e), x->type);
        assert_int_equal(archive_entry_perm(e), x->perm);
        assert_int_equal(archive_entry_uid(e), x->uid);
        assert_int_equal(archive_entry_gid(e), x->gid);
        assert_int_equal(archive_entry_nlink(e), x->nlink);
        assert_int_equal(archive_entry_dev(e), 0);
        if (x->hardlink)
                assert_string_equal(hl, x->hardlink);
        else
                assert_null(hl);
        if (x->type == AE_IFLNK) {
                assert_string_equal(archive_entry_symlink(e), x->data);
                return;
        }
        if (x->type == AE_IFCHR || x->type == AE_IFBLK)
                assert_int_equal(archive_entry_rdev(e), makedev(x->rdev >> 8, x->rdev & 0xff));
        if (x->type != AE_IFREG)
                return;
        assert_int_equal(archive_entry_size(e), x->size);
        if (x->data)
                check_data(a, x);
        else
                check_big(a);
}

/* Reads the archive and checks every entry against expected[], in order. */
static void check_archive(const char *path)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        int64_t inos[PXF_ELEMENTSOF(expected)];
        size_t n = 0;
        int r;

        assert_non_null(a);
        archive_read_support_format_cpio(a);
        archive_read_support_filter_all(a);
        assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                assert_true(n < PXF_ELEMENTSOF(expected));
                check_entry(a, e, &expected[n]);
                if (strcmp(expected[n].path, "etc/passwd") == 0)
                        assert_int_equal(archive_entry_mtime(e), OLD_MTIME);
                inos[n++] = archive_entry_ino64(e);
        }
        assert_int_equal(r, ARCHIVE_EOF);
        assert_int_equal(n, PXF_ELEMENTSOF(expected));
        assert_int_equal(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
        assert_int_equal(archive_read_free(a), ARCHIVE_OK);
        /* One inode number per file: shared by the two hard links only. */
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++) {
                        bool pair = strcmp(expected[i].path, "usr/bin/link-a") == 0 &&
                                    strcmp(expected[j].path, "usr/bin/link-b") == 0;
                        assert_true(pair ? inos[i] == inos[j] : inos[i] != inos[j]);
                }
}

static size_t read_head(const char *path, unsigned char *buf, size_t n)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t got;

        assert_true(fd >= 0);
        got = read(fd, buf, n);
        close(fd);
        assert_true(got >= 0);
        return (size_t)got;
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static void assert_no_partial(const struct tt_work *f)
{
        char partial[256];

        snprintf(partial, sizeof partial, "%s.partial", f->out);
        assert_false(exists(partial));
}

static void write_ok_excluding(const struct tt_work *f, const char *const *exclude,
                               enum art_cpio_compression comp, int threads)
{
        struct pxf_error err = {0};
        struct stat st;
        int r = art_cpio_write(f->tree, exclude, comp, threads, f->out, &err);

        if (r < 0)
                print_error("art_cpio_write: %s\n", err.msg);
        assert_int_equal(r, 0);
        assert_no_partial(f);
        assert_int_equal(stat(f->out, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644); /* TFTP serves as nobody */
        check_archive(f->out);
}

static void write_ok(const struct tt_work *f, enum art_cpio_compression comp, int threads)
{
        write_ok_excluding(f, excludes, comp, threads);
}

static void write_text(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        assert_int_equal(close(fd), 0);
}

/* The names in an archive, in order, NULL-terminated. */
static char **archive_names(const char *path)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        char **names = NULL;

        archive_read_support_format_cpio(a);
        archive_read_support_filter_all(a);
        assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK)
                pxf_strv_push(&names, archive_entry_pathname(e));
        assert_int_equal(archive_read_free(a), ARCHIVE_OK);
        return names;
}

static bool strv_has(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

/* ---- cases -------------------------------------------------------------------------- */

static void cpio_none(void **state)
{
        struct tt_work *f = tree_fixture(state);
        unsigned char head[6];

        write_text(f->out, "an older initrd\n"); /* replaced as a whole */
        write_ok(f, ART_CPIO_NONE, 1);
        assert_int_equal(read_head(f->out, head, 6), 6);
        assert_memory_equal(head, "070701", 6);
}

static void cpio_gzip(void **state)
{
        static const char *const spelled[] = {"/boot/", "./etc/fstab", NULL};
        struct tt_work *f = tree_fixture(state);
        unsigned char head[2];

        write_ok(f, ART_CPIO_GZIP, 2);
        assert_int_equal(read_head(f->out, head, 2), 2);
        assert_int_equal(head[0], 0x1f);
        assert_int_equal(head[1], 0x8b);
        /* The same exclusions, spelled with slashes. */
        write_ok_excluding(f, spelled, ART_CPIO_GZIP, 1);
}

static void cpio_zstd(void **state)
{
        struct tt_work *f = tree_fixture(state);
        static const unsigned char magic[] = {0x28, 0xb5, 0x2f, 0xfd};
        unsigned char head[4];

        write_ok(f, ART_CPIO_ZSTD, 2);
        assert_int_equal(read_head(f->out, head, 4), 4);
        assert_memory_equal(head, magic, 4);
}

/* The kernel's xz decoder needs CRC32 checks: byte 7 of the stream header (the second
 * byte of the stream flags) is the check type, 0x01 for CRC32 (0x04 would be CRC64). */
static void cpio_xz(void **state)
{
        struct tt_work *f = tree_fixture(state);
        static const unsigned char magic[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
        unsigned char head[12];

        write_ok(f, ART_CPIO_XZ, 0); /* 0: one thread per CPU */
        assert_int_equal(read_head(f->out, head, 12), 12);
        assert_memory_equal(head, magic, 6);
        assert_int_equal(head[6], 0x00);
        assert_int_equal(head[7], 0x01);
}

/* The same tree gives the same bytes: no time stamps, real inode numbers or readdir
 * order leak into the archive. */
static void cpio_reproducible(void **state)
{
        static const enum art_cpio_compression comps[] = {ART_CPIO_NONE, ART_CPIO_GZIP,
                                                          ART_CPIO_ZSTD};
        struct tt_work *f = tree_fixture(state);
        char second[128];

        snprintf(second, sizeof second, "%s/second.img", f->dir);
        for (size_t i = 0; i < PXF_ELEMENTSOF(comps); i++) {
                _cleanup_free_ char *a = NULL, *b = NULL;
                size_t la = 0, lb = 0;
                struct pxf_error err = {0};
                assert_int_equal(art_cpio_write(f->tree, excludes, comps[i], 1, f->out, &err), 0);
                sleep(i == 0 ? 1 : 0); /* a time stamp would now differ */
                assert_int_equal(art_cpio_write(f->tree, excludes, comps[i], 1, second, &err), 0);
                assert_int_equal(pxf_read_file(f->out, 64u << 20, &a, &la), 0);
                assert_int_equal(pxf_read_file(second, 64u << 20, &b, &lb), 0);
                assert_int_equal(la, lb);
                assert_memory_equal(a, b, la);
        }
}

static void cpio_missing_tree(void **state)
{
        struct tt_work *f = *state;
        char missing[128], file[128], msg[256];
        struct pxf_error err = {0};

        snprintf(missing, sizeof missing, "%s/nope", f->dir);
        assert_int_equal(art_cpio_write(missing, NULL, ART_CPIO_NONE, 1, f->out, &err), -ENOENT);
        snprintf(msg, sizeof msg, "cannot open tree '%s': No such file or directory", missing);
        assert_string_equal(err.msg, msg);
        assert_false(exists(f->out));
        assert_no_partial(f);

        snprintf(file, sizeof file, "%s/file", f->dir);
        write_text(file, "not a directory\n");
        assert_int_equal(art_cpio_write(file, NULL, ART_CPIO_GZIP, 1, f->out, &err), -ENOTDIR);
        assert_false(exists(f->out));
        assert_no_partial(f);
}

/* As an unprivileged user (root writes anywhere), in a child process. */
static int write_as_nobody(const struct tt_work *f, const char *out)
{
        pid_t pid = fork();
        int status = 0;

        assert_true(pid >= 0);
        if (pid == 0) {
                struct pxf_error err = {0};
                int r;
                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(2);
                r = art_cpio_write(f->tree, excludes, ART_CPIO_GZIP, 1, out, &err);
                _exit(r == -EACCES && strncmp(err.msg, "cannot create '", 15) == 0 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void cpio_unwritable_output(void **state)
{
        struct tt_work *f = tree_fixture(state);
        char out[160], msg[320];
        struct pxf_error err = {0};

        snprintf(out, sizeof out, "%s/missing/initrd.img", f->dir);
        assert_int_equal(art_cpio_write(f->tree, excludes, ART_CPIO_GZIP, 1, out, &err), -ENOENT);
        snprintf(msg, sizeof msg, "cannot create '%s.partial': No such file or directory", out);
        assert_string_equal(err.msg, msg);

        snprintf(out, sizeof out, "%s/etc/passwd/initrd.img", f->tree);
        assert_int_equal(art_cpio_write(f->tree, excludes, ART_CPIO_XZ, 1, out, &err), -ENOTDIR);

        snprintf(out, sizeof out, "%s/root-only", f->dir);
        assert_int_equal(mkdir(out, 0755), 0);
        assert_int_equal(chmod(f->dir, 0755), 0);
        snprintf(out, sizeof out, "%s/root-only/initrd.img", f->dir);
        assert_int_equal(write_as_nobody(f, out), 0);
        assert_false(exists(out));
        snprintf(out, sizeof out, "%s/root-only/initrd.img.partial", f->dir);
        assert_false(exists(out));
}

/* A failure after the archive was started leaves nothing behind, whatever the compressor. */
static void cpio_failure_removes_partial(void **state)
{
        static const enum art_cpio_compression comps[] = {ART_CPIO_NONE, ART_CPIO_GZIP,
                                                          ART_CPIO_ZSTD, ART_CPIO_XZ};
        struct tt_work *f = tree_fixture(state);
        char huge[256];
        int fd;

        /* Sparse, one byte over what newc's 8 hex digits hold. */
        tt_path(huge, sizeof huge, f->tree, "usr/lib/huge.img");
        fd = open(huge, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)1 << 32), 0);
        assert_int_equal(close(fd), 0);
        for (size_t i = 0; i < PXF_ELEMENTSOF(comps); i++) {
                struct pxf_error err = {0};
                assert_int_equal(art_cpio_write(f->tree, excludes, comps[i], 2, f->out, &err),
                                 -EFBIG);
                assert_string_equal(err.msg, "'usr/lib/huge.img' is 4294967296 bytes; a cpio "
                                             "archive holds files of at most 4 GiB - 1 bytes");
                assert_false(exists(f->out));
                assert_no_partial(f);
        }
        assert_int_equal(unlink(huge), 0);

        /* The last step fails: the output path is a directory. */
        {
                struct pxf_error err = {0};
                struct stat st;
                assert_int_equal(mkdir(f->out, 0755), 0);
                assert_true(art_cpio_write(f->tree, excludes, ART_CPIO_NONE, 1, f->out, &err) < 0);
                assert_non_null(strstr(err.msg, "cannot move"));
                assert_no_partial(f);
                assert_int_equal(stat(f->out, &st), 0);
                assert_true(S_ISDIR(st.st_mode));
        }
}

/* A file system mounted in the tree (a chroot's /proc, say) shows as an empty directory. */
static void cpio_other_file_system(void **state)
{
        struct tt_work *f = tree_fixture(state);
        _cleanup_strv_free_ char **names = NULL;
        struct pxf_error err = {0};
        char mnt[256], inside[300];
        int r;

        tt_path(mnt, sizeof mnt, f->tree, "proc");
        assert_int_equal(mkdir(mnt, 0555), 0);
        if (mount("pxf-test", mnt, "tmpfs", 0, "size=1m") < 0)
                skip();
        snprintf(inside, sizeof inside, "%s/inside", mnt);
        write_text(inside, "from another file system\n");
        r = art_cpio_write(f->tree, excludes, ART_CPIO_NONE, 1, f->out, &err);
        assert_int_equal(umount2(mnt, MNT_DETACH), 0);
        assert_int_equal(r, 0);
        names = archive_names(f->out);
        assert_true(strv_has(names, "proc"));
        assert_false(strv_has(names, "proc/inside"));
        assert_true(strv_has(names, "run/fifo"));
}

static void kernel_config_compression(void **state)
{
        enum art_cpio_compression c = ART_CPIO_NONE;
        (void)state;
        assert_int_equal(art_kernel_cpio_compression("# Linux/x86 6.1.0 Kernel Configuration\n"
                                                     "CONFIG_RD_GZIP=y\n"
                                                     "CONFIG_RD_XZ=y\n"
                                                     "# CONFIG_RD_ZSTD is not set\n",
                                                     false, &c),
                         0);
        assert_int_equal(c, ART_CPIO_GZIP);
        assert_int_equal(art_kernel_cpio_compression("CONFIG_RD_XZ=y\nCONFIG_RD_ZSTD=y", false, &c),
                         0);
        assert_int_equal(c, ART_CPIO_ZSTD);
        assert_int_equal(
            art_kernel_cpio_compression("CONFIG_RD_XZ=y\nCONFIG_RD_GZIP=m\n", false, &c), 0);
        assert_int_equal(c, ART_CPIO_XZ);
        assert_int_equal(art_kernel_cpio_compression(
                             "CONFIG_RD_ZSTD=yes\nXCONFIG_RD_GZIP=y\n CONFIG_RD_XZ=y\n", false, &c),
                         0);
        assert_int_equal(c, ART_CPIO_NONE);
        c = ART_CPIO_XZ;
        assert_int_equal(art_kernel_cpio_compression("", false, &c), 0);
        assert_int_equal(c, ART_CPIO_NONE);
        assert_int_equal(art_kernel_cpio_compression(NULL, false, &c), -EINVAL);
        /* smallest: xz first, then zstd, then gzip */
        assert_int_equal(art_kernel_cpio_compression("CONFIG_RD_XZ=y\nCONFIG_RD_ZSTD=y", true, &c),
                         0);
        assert_int_equal(c, ART_CPIO_XZ);
        /* the x86 filter only for the smallest, and only when the decoder has it */
        assert_int_equal(art_kernel_cpio_compression(
                             "CONFIG_RD_XZ=y\nCONFIG_XZ_DEC_X86=y\nCONFIG_RD_ZSTD=y\n", true, &c),
                         0);
        assert_int_equal(c, ART_CPIO_XZ_X86);
        assert_int_equal(art_kernel_cpio_compression(
                             "CONFIG_RD_XZ=y\n# CONFIG_XZ_DEC_X86 is not set\n", true, &c),
                         0);
        assert_int_equal(c, ART_CPIO_XZ);
        assert_int_equal(
            art_kernel_cpio_compression("CONFIG_RD_XZ=y\nCONFIG_XZ_DEC_X86=y\n", false, &c), 0);
        assert_int_equal(c, ART_CPIO_XZ);
        assert_int_equal(
            art_kernel_cpio_compression("CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n", true, &c), 0);
        assert_int_equal(c, ART_CPIO_ZSTD);
        assert_int_equal(art_kernel_cpio_compression("CONFIG_RD_GZIP=y\n", true, &c), 0);
        assert_int_equal(c, ART_CPIO_GZIP);
}

/* A newc entry: header, name with its NUL padded to 4, data padded to 4. */
static size_t put_entry(unsigned char *buf, const char *name, const char *data)
{
        size_t nlen = strlen(name) + 1, dlen = strlen(data), n;

        n = (size_t)snprintf((char *)buf, 111,
                             "070701%08x%08x%08x%08x%08x%08x%08zx%08x%08x%08x%08x%08zx%08x", 1,
                             0100644, 0, 0, 1, 0, dlen, 0, 0, 0, 0, nlen, 0);
        memcpy(buf + n, name, nlen);
        n = (n + nlen + 3) & ~(size_t)3;
        memcpy(buf + n, data, dlen);
        return (n + dlen + 3) & ~(size_t)3;
}

static void early_cpio_length(void **state)
{
        unsigned char buf[4096] = {0};
        size_t n;
        (void)state;

        /* microcode archive, its trailer, 512 bytes of zero padding, then compressed data */
        n = put_entry(buf, "kernel/x86/microcode/GenuineIntel.bin", "ucode");
        n += put_entry(buf + n, "TRAILER!!!", "");
        n += 512;
        memcpy(buf + n, "\x28\xb5\x2f\xfd", 4);
        assert_int_equal(art_initrd_early_length(buf, n + 4), n);
        /* the same archive with nothing after it is not an early one */
        assert_int_equal(art_initrd_early_length(buf, n), 0);
        /* a main archive (no kernel/ entries) stays whole */
        memset(buf, 0, sizeof buf);
        n = put_entry(buf, "usr/lib/x", "data");
        n += put_entry(buf + n, "TRAILER!!!", "");
        assert_int_equal(art_initrd_early_length(buf, n + 16), 0);
        /* compressed or truncated data */
        assert_int_equal(art_initrd_early_length((const unsigned char *)"\x1f\x8b\x08", 3), 0);
        n = put_entry(buf, "kernel/x86/microcode/AuthenticAMD.bin", "ucode");
        assert_int_equal(art_initrd_early_length(buf, n - 4), 0);
        /* a size field that is not hex */
        memcpy(buf + 54, "zzzzzzzz", 8);
        assert_int_equal(art_initrd_early_length(buf, sizeof buf), 0);
}

static void write_sized(const char *path, off_t size)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        close(fd);
}

/* The minimum memory: the unpacked initramfs read back from the cpio (each file in whole
 * pages), with the compressed initramfs or the bootstrap ISO and the reserves beside it. */
static void min_memory(void **state)
{
        const unsigned mib = 1024 * 1024, step = ART_MEMORY_STEP_MIB;
        struct tt_work *f = *state;
        struct pxf_error err = {0};
        struct art_memory m;
        char file[256], iso[256];
        unsigned unpacked_mib = 4; /* 3 MiB + 1 byte, in pages, with two entries */

        (void)mkdir(f->tree, 0755);
        snprintf(file, sizeof file, "%s/blob", f->tree);
        write_sized(file, 3 * (off_t)mib + 1);
        assert_int_equal(art_cpio_write(f->tree, NULL, ART_CPIO_XZ, 1, f->out, &err), 0);
        assert_int_equal(art_min_memory(f->out, NULL, &m, &err), 0);
        assert_int_equal(m.initrd_mib, unpacked_mib);
        assert_int_equal(m.iso_mib, 0);
        /* twice the files (the root's tmpfs gets half the memory), the compressed
         * initramfs (almost nothing: zeros) and the kernel: 104 + 6.01 + a little */
        assert_int_equal(m.min_mib, (ART_KERNEL_MIB + 2 * 3 + step) / step * step);
        snprintf(iso, sizeof iso, "%s/image.iso", f->dir);
        write_sized(iso, 100 * (off_t)mib);
        assert_int_equal(art_min_memory(f->out, iso, &m, &err), 0);
        assert_int_equal(m.iso_mib, 100);
        assert_int_equal(m.min_mib, (100 + ART_BOOTSTRAP_RESERVE_MIB + ART_KERNEL_MIB + 3 + step) /
                                        step * step);
        /* not an initramfs */
        write_sized(f->out, 4096);
        assert_true(art_min_memory(f->out, NULL, &m, &err) < 0);
        assert_non_null(strstr(err.msg, f->out));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(cpio_none, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_gzip, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_zstd, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_xz, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_reproducible, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_missing_tree, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_unwritable_output, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_failure_removes_partial, setup, teardown),
            cmocka_unit_test_setup_teardown(cpio_other_file_system, setup, teardown),
            cmocka_unit_test(kernel_config_compression),
            cmocka_unit_test(early_cpio_length),
            cmocka_unit_test_setup_teardown(min_memory, setup, teardown),
        };
        return pxf_test_main(tests, argc, argv);
}
