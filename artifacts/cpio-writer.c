/* The full-OS initramfs: a directory tree written as an SVR4 "newc" cpio archive, the only
 * format the kernel's initramfs unpacker reads, compressed with something it can unpack.
 *
 * The tree is walked here rather than with archive_read_disk so that the rules are ours:
 * every component is opened relative to its parent's descriptor without following
 * symlinks, no other file system is entered (a chroot's /proc or /dev mounted in the tree
 * must not end up in the archive), and entries come in a reproducible order: names sorted
 * byte-wise, each directory before its contents.
 *
 * Inode numbers are made up (1, 2, 3, ... in archive order, one number per hard-linked
 * file) and the device is 0: the kernel pairs hard links by (device, inode) and would link
 * unrelated files whose real 64-bit inode numbers collide once cut to newc's 32 bits, and
 * real numbers would make every build's archive differ. Hard links are counted in a first,
 * metadata-only pass, so a file's nlink is the number of its names inside the archive
 * (links from excluded paths or from outside the tree do not count).
 *
 * Extended attributes are not stored: newc has no place for them (which is why SELinux
 * cannot be enforced with a full-OS initramfs).
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "artifacts/archive-internal.h"
#include "artifacts/live-internal.h"

#define DEPTH_MAX      256
#define CPIO_FIELD_MAX 0xffffffffULL /* newc header fields are 8 hex digits */
#define THREADS_MAX    256

static const char *const pigz_paths[] = {"/usr/bin/pigz", "/bin/pigz"};
static const char *const xz_paths[] = {"/usr/bin/xz", "/bin/xz"};

/* A hard-linked regular file: its names inside the archive and its made-up inode number. */
struct link_count {
        dev_t dev;
        ino_t ino;
        unsigned names;
        uint32_t archive_ino;
};

struct exclude {
        const char *path;
        size_t len;
};

struct writer {
        bool counting; /* the first pass: only hard links are counted */
        struct archive *a;
        struct archive_entry_linkresolver *links;
        dev_t root_dev;
        struct exclude *excludes;
        size_t n_excludes;
        struct link_count *counts;
        size_t n_counts;
        uint32_t next_ino;
        char path[PATH_MAX]; /* the current entry, relative to the tree */
        unsigned char *buf;
        struct pxf_error *err;
};

static int walk_dir(struct writer *w, int dir_fd, size_t path_len, unsigned depth);

/* ---- hard-link counts --------------------------------------------------------------- */

static int link_count_cmp(const void *a, const void *b)
{
        const struct link_count *x = a, *y = b;

        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return 0;
}

static void count_link(struct writer *w, const struct stat *st)
{
        w->counts = pxf_reallocarray(w->counts, w->n_counts + 1, sizeof(*w->counts));
        w->counts[w->n_counts++] = (struct link_count){.dev = st->st_dev, .ino = st->st_ino};
}

/* Sorts the recorded (dev, ino) pairs and merges each inode's names into one count. */
static void merge_link_counts(struct writer *w)
{
        size_t out = 0;

        if (w->n_counts == 0)
                return;
        qsort(w->counts, w->n_counts, sizeof(*w->counts), link_count_cmp);
        for (size_t i = 0; i < w->n_counts; i++) {
                if (out > 0 && link_count_cmp(&w->counts[out - 1], &w->counts[i]) == 0) {
                        w->counts[out - 1].names++;
                        continue;
                }
                w->counts[out] = w->counts[i];
                w->counts[out++].names = 1;
        }
        w->n_counts = out;
}

static struct link_count *find_link_count(struct writer *w, const struct stat *st)
{
        struct link_count key = {.dev = st->st_dev, .ino = st->st_ino};

        if (w->n_counts == 0)
                return NULL;
        return bsearch(&key, w->counts, w->n_counts, sizeof(*w->counts), link_count_cmp);
}

/* ---- entries ------------------------------------------------------------------------ */

static int archive_failed(struct writer *w, const char *step)
{
        return art_archive_failed(w->a, step, w->err);
}

static struct archive_entry *new_entry(struct writer *w, const struct stat *st)
{
        struct archive_entry *e = archive_entry_new();
        time_t mtime = st->st_mtim.tv_sec;

        if (!e)
                abort();
        archive_entry_copy_pathname(e, w->path);
        archive_entry_set_mode(e, st->st_mode);
        archive_entry_set_uid(e, st->st_uid);
        archive_entry_set_gid(e, st->st_gid);
        /* newc holds unsigned 32-bit seconds. */
        if (mtime < 0)
                mtime = 0;
        else if ((unsigned long long)mtime > CPIO_FIELD_MAX)
                mtime = (time_t)CPIO_FIELD_MAX;
        archive_entry_set_mtime(e, mtime, 0);
        archive_entry_set_dev(e, 0);
        archive_entry_set_ino(e, ++w->next_ino);
        archive_entry_set_nlink(e, S_ISDIR(st->st_mode) ? 2 : 1);
        archive_entry_set_size(e, 0); /* newc wants one; files set theirs */
        return e;
}

static int write_header(struct writer *w, struct archive_entry *e)
{
        if (archive_write_header(w->a, e) != ARCHIVE_OK)
                return art_archive_entry_failed(w->a, archive_entry_pathname(e), w->err);
        return 0;
}

/* Writes an entry that has no data of its own and frees it. */
static int write_entry(struct writer *w, struct archive_entry *e)
{
        int r = write_header(w, e);

        archive_entry_free(e);
        return r;
}

/* Opens a regular file and checks it is still the one fstatat saw. */
static int open_file(struct writer *w, int dir_fd, const char *name, const struct stat *seen,
                     struct stat *st)
{
        int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

        if (fd < 0)
                return pxf_error_set(w->err, -errno, "cannot open '%s': %m", w->path);
        if (fstat(fd, st) < 0) {
                int r = pxf_error_set(w->err, -errno, "cannot stat '%s': %m", w->path);
                close(fd);
                return r;
        }
        if (!S_ISREG(st->st_mode) || st->st_dev != seen->st_dev || st->st_ino != seen->st_ino) {
                close(fd);
                return pxf_error_set(w->err, -ESTALE, "'%s' changed while the archive was written",
                                     w->path);
        }
        if ((unsigned long long)st->st_size > CPIO_FIELD_MAX) {
                close(fd);
                return pxf_error_set(w->err, -EFBIG,
                                     "'%s' is %lld bytes; a cpio archive holds files of at most "
                                     "4 GiB - 1 bytes",
                                     w->path, (long long)st->st_size);
        }
        return fd;
}

/* A file with names elsewhere in the archive gets their count as nlink and their shared
 * inode number; the link resolver then holds its entries back and stores the data once,
 * with the last name, as newc wants. */
static void set_link(struct writer *w, struct archive_entry *e, const struct stat *st)
{
        struct link_count *lc = st->st_nlink > 1 ? find_link_count(w, st) : NULL;

        if (!lc || lc->names < 2)
                return;
        if (lc->archive_ino == 0)
                lc->archive_ino = (uint32_t)archive_entry_ino(e);
        archive_entry_set_ino(e, lc->archive_ino);
        archive_entry_set_nlink(e, lc->names);
}

static int emit_file(struct writer *w, int dir_fd, const char *name, const struct stat *seen)
{
        struct archive_entry *e, *entry, *last = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r = 0;

        fd = open_file(w, dir_fd, name, seen, &st);
        if (fd < 0)
                return fd;
        e = new_entry(w, &st);
        archive_entry_set_size(e, st.st_size);
        set_link(w, e, &st);
        entry = e;
        archive_entry_linkify(w->links, &entry, &last);
        /* entry: e itself, NULL (held back) or an earlier name of the file, now without
         * data; last: e, when it completes its file's names. Both are ours to free. */
        if (entry) {
                r = write_header(w, entry);
                if (r >= 0 && entry == e)
                        r = art_archive_copy_data(w->a, fd, w->path, (uint64_t)st.st_size, w->buf,
                                                  w->err);
                archive_entry_free(entry);
        }
        if (last) {
                if (r >= 0)
                        r = write_header(w, last);
                if (r >= 0)
                        r = art_archive_copy_data(w->a, fd, w->path, (uint64_t)st.st_size, w->buf,
                                                  w->err);
                archive_entry_free(last);
        }
        return r;
}

static int emit_symlink(struct writer *w, int dir_fd, const char *name, const struct stat *st)
{
        char target[PATH_MAX + 1];
        struct archive_entry *e;
        ssize_t n = readlinkat(dir_fd, name, target, sizeof target);

        if (n < 0)
                return pxf_error_set(w->err, -errno, "cannot read link '%s': %m", w->path);
        if ((size_t)n >= sizeof target)
                return pxf_error_set(w->err, -ENAMETOOLONG, "link '%s' is too long", w->path);
        target[n] = '\0';
        e = new_entry(w, st);
        archive_entry_copy_symlink(e, target); /* newc stores the target as the data */
        return write_entry(w, e);
}

static int emit_special(struct writer *w, const struct stat *st)
{
        struct archive_entry *e = new_entry(w, st);

        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                archive_entry_set_rdev(e, st->st_rdev);
        return write_entry(w, e);
}

/* ---- the walk ----------------------------------------------------------------------- */

static bool excluded(const struct writer *w, size_t path_len)
{
        for (size_t i = 0; i < w->n_excludes; i++)
                if (w->excludes[i].len == path_len &&
                    memcmp(w->excludes[i].path, w->path, path_len) == 0)
                        return true;
        return false;
}

static int visit_dir(struct writer *w, int dir_fd, const char *name, const struct stat *st,
                     size_t path_len, unsigned depth)
{
        struct stat opened;
        int fd, r;

        if (!w->counting) {
                r = write_entry(w, new_entry(w, st));
                if (r < 0)
                        return r;
        }
        if (st->st_dev != w->root_dev) {
                log_debug("%s: another file system is mounted here; its contents are left out",
                          w->path);
                return 0;
        }
        if (depth >= DEPTH_MAX)
                return pxf_error_set(w->err, -ELOOP, "'%s': directories nest deeper than %d",
                                     w->path, DEPTH_MAX);
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return pxf_error_set(w->err, -errno, "cannot open '%s': %m", w->path);
        if (fstat(fd, &opened) < 0 || opened.st_dev != st->st_dev || opened.st_ino != st->st_ino) {
                close(fd);
                return pxf_error_set(w->err, -ESTALE, "'%s' changed while the archive was written",
                                     w->path);
        }
        return walk_dir(w, fd, path_len, depth + 1);
}

static int visit(struct writer *w, int dir_fd, const char *name, size_t path_len, unsigned depth)
{
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return pxf_error_set(w->err, -errno, "cannot stat '%s': %m", w->path);
        if (S_ISDIR(st.st_mode))
                return visit_dir(w, dir_fd, name, &st, path_len, depth);
        if (st.st_dev != w->root_dev) {
                log_debug("%s: on another file system (a bind mount); left out", w->path);
                return 0;
        }
        if (S_ISSOCK(st.st_mode)) {
                log_debug("%s: a socket belongs to a running program; left out", w->path);
                return 0;
        }
        if (w->counting) {
                if (S_ISREG(st.st_mode) && st.st_nlink > 1)
                        count_link(w, &st);
                return 0;
        }
        if (S_ISREG(st.st_mode))
                return emit_file(w, dir_fd, name, &st);
        if (S_ISLNK(st.st_mode))
                return emit_symlink(w, dir_fd, name, &st);
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode))
                return emit_special(w, &st);
        log_warning("%s: unknown file type 0%o; left out", w->path, st.st_mode & S_IFMT);
        return 0;
}

/* The directory's entry names, sorted byte-wise (not by locale: the order must not depend
 * on the build host). */
static int read_names(struct writer *w, DIR *d, char ***ret)
{
        _cleanup_strv_free_ char **names = pxf_calloc(1, sizeof(char *));
        size_t n = 0;
        struct dirent *de;

        for (errno = 0; (de = readdir(d)); errno = 0) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                names = pxf_reallocarray(names, n + 2, sizeof(char *));
                names[n++] = pxf_strdup(de->d_name);
                names[n] = NULL;
        }
        if (errno != 0)
                return pxf_error_set(w->err, -errno, "cannot list '%s': %m",
                                     w->path[0] ? w->path : ".");
        pxf_strv_sort(names);
        *ret = TAKE_PTR(names);
        return 0;
}

/* Walks the directory open at dir_fd (taking it over); w->path[0..path_len) names it. */
static int walk_dir(struct writer *w, int dir_fd, size_t path_len, unsigned depth)
{
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = fdopendir(dir_fd);
        int r;

        if (!d) {
                r = pxf_error_set(w->err, -errno, "cannot list '%s': %m", w->path);
                close(dir_fd);
                return r;
        }
        r = read_names(w, d, &names);
        for (size_t i = 0; r >= 0 && names[i]; i++) {
                size_t sep = path_len > 0, len = path_len + sep + strlen(names[i]);
                if (len >= sizeof w->path) {
                        r = pxf_error_set(w->err, -ENAMETOOLONG, "'%s/%s' is too long", w->path,
                                          names[i]);
                        break;
                }
                if (sep)
                        w->path[path_len] = '/';
                strcpy(w->path + path_len + sep, names[i]);
                if (!excluded(w, len))
                        r = visit(w, dirfd(d), names[i], len, depth);
                w->path[path_len] = '\0';
        }
        closedir(d);
        return r;
}

static int walk_tree(struct writer *w, int root_fd)
{
        int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return pxf_error_set(w->err, -errno, "cannot open the tree: %m");
        w->path[0] = '\0';
        return walk_dir(w, fd, 0, 0);
}

/* Lets callers write "/etc/fstab", "./boot" or "boot/". */
static void set_excludes(struct writer *w, const char *const *exclude)
{
        for (size_t i = 0; exclude && exclude[i]; i++) {
                size_t len;
                const char *p = pxf_path_trim(exclude[i], &len);
                if (len == 0)
                        continue;
                w->excludes =
                    pxf_reallocarray(w->excludes, w->n_excludes + 1, sizeof(*w->excludes));
                w->excludes[w->n_excludes++] = (struct exclude){.path = p, .len = len};
        }
}

/* ---- compression -------------------------------------------------------------------- */

static const char *find_program(const char *const *paths, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (access(paths[i], X_OK) == 0)
                        return paths[i];
        return NULL;
}

/* Commands for archive_write_add_filter_program are built only from the constant program
 * paths above and an integer, never from user text. (libarchive 3.6.2 splits the string
 * itself and starts it with posix_spawnp, without a shell; were it a shell, this would
 * still hold nothing to interpret.) */
static int add_filter(struct writer *w, enum art_cpio_compression comp, int threads)
{
        const char *prog;
        char cmd[128], value[16];
        int r;

        snprintf(value, sizeof value, "%d", threads);
        switch (comp) {
        case ART_CPIO_NONE:
                return ARCHIVE_OK;
        case ART_CPIO_GZIP:
                /* libarchive's gzip is single-threaded; pigz is the same format in parallel. */
                prog = threads > 1 ? find_program(pigz_paths, PXF_ELEMENTSOF(pigz_paths)) : NULL;
                if (prog) {
                        snprintf(cmd, sizeof cmd, "%s -n -p %d", prog, threads);
                        return archive_write_add_filter_program(w->a, cmd);
                }
                r = archive_write_add_filter_gzip(w->a);
                /* No time stamp in the gzip header: the same tree gives the same bytes. */
                return r != ARCHIVE_OK
                           ? r
                           : archive_write_set_filter_option(w->a, "gzip", "timestamp", NULL);
        case ART_CPIO_ZSTD:
                /* libarchive 3.6 passes "threads" to libzstd (ZSTD_c_nbWorkers). */
                r = archive_write_add_filter_zstd(w->a);
                return r != ARCHIVE_OK
                           ? r
                           : archive_write_set_filter_option(w->a, "zstd", "threads", value);
        case ART_CPIO_XZ:
        case ART_CPIO_XZ_X86:
                /* The kernel's xz decoder checks CRC32 (or nothing) but not libarchive's
                 * CRC64, and libarchive 3.6.2's xz filter has no option to choose the check:
                 * use xz itself, with the settings of the kernel's own build for initramfs
                 * data (cmd_xzmisc in scripts/Makefile.lib). */
                prog = find_program(xz_paths, PXF_ELEMENTSOF(xz_paths));
                if (!prog) {
                        archive_set_error(w->a, ENOENT, "xz is not installed (package xz-utils)");
                        return ARCHIVE_FATAL;
                }
                snprintf(cmd, sizeof cmd, "%s --check=crc32 %s--lzma2=dict=1MiB -T%d", prog,
                         comp == ART_CPIO_XZ_X86 ? "--x86 " : "", threads);
                return archive_write_add_filter_program(w->a, cmd);
        }
        archive_set_error(w->a, EINVAL, "unknown compression %d", (int)comp);
        return ARCHIVE_FATAL;
}

static int open_archive(struct writer *w, enum art_cpio_compression comp, int threads, int fd)
{
        w->a = archive_write_new();
        w->links = archive_entry_linkresolver_new();
        if (!w->a || !w->links)
                abort();
        archive_entry_linkresolver_set_strategy(w->links, ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
        if (archive_write_set_format_cpio_newc(w->a) != ARCHIVE_OK ||
            add_filter(w, comp, pxf_thread_count(threads, THREADS_MAX)) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
            archive_write_open_fd(w->a, fd) != ARCHIVE_OK)
                return archive_failed(w, "cannot start the cpio archive");
        return 0;
}

/* Hard-linked files whose names were not all seen (the tree changed between the passes)
 * would lose their data: refuse instead. */
static int flush_links(struct writer *w)
{
        for (;;) {
                struct archive_entry *e = NULL, *spare = NULL;
                int r = 0;
                archive_entry_linkify(w->links, &e, &spare);
                if (!e)
                        return 0;
                if (archive_entry_size(e) > 0)
                        r = pxf_error_set(w->err, -ESTALE,
                                          "'%s' changed while the archive was written",
                                          archive_entry_pathname(e));
                if (r < 0)
                        archive_entry_free(e);
                else
                        r = write_entry(w, e);
                if (r < 0)
                        return r;
        }
}

static int write_archive(struct writer *w, int root_fd, enum art_cpio_compression comp, int threads,
                         int out_fd)
{
        int r;

        w->counting = true;
        r = walk_tree(w, root_fd);
        if (r < 0)
                return r;
        merge_link_counts(w);
        w->counting = false;
        r = open_archive(w, comp, threads, out_fd);
        if (r >= 0)
                r = walk_tree(w, root_fd);
        if (r >= 0)
                r = flush_links(w);
        /* Closing also reaps a compressor program, so it is done on failure too. */
        if (archive_write_close(w->a) != ARCHIVE_OK && r >= 0)
                r = archive_failed(w, "cannot finish the cpio archive");
        return r;
}

static void writer_done(struct writer *w)
{
        if (w->a)
                archive_write_free(w->a);
        if (w->links)
                archive_entry_linkresolver_free(w->links);
        free(w->counts);
        free(w->excludes);
        free(w->buf);
}

static int write_to(const char *tree, int root_fd, const char *const *exclude,
                    enum art_cpio_compression comp, int threads, int out_fd, struct pxf_error *err)
{
        struct writer w = {.err = err, .buf = malloc(ART_ARCHIVE_CHUNK)};
        struct stat st;
        bool blocked;
        int r;

        if (!w.buf)
                abort();
        if (fstat(root_fd, &st) < 0) {
                writer_done(&w);
                return pxf_error_set(err, -errno, "cannot stat tree '%s': %m", tree);
        }
        w.root_dev = st.st_dev;
        set_excludes(&w, exclude);
        blocked = pxf_sigpipe_block();
        r = write_archive(&w, root_fd, comp, threads, out_fd);
        writer_done(&w);
        pxf_sigpipe_unblock(blocked);
        return r;
}

int art_cpio_write(const char *tree, const char *const *exclude, enum art_cpio_compression comp,
                   int threads, const char *out_path, struct pxf_error *err)
{
        _cleanup_free_ char *partial = NULL;
        _cleanup_close_ int root_fd = -1;
        int out_fd, r;

        root_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return pxf_error_set(err, -errno, "cannot open tree '%s': %m", tree);
        /* World-readable: TFTP servers serve as an unprivileged user. */
        out_fd = pxf_open_partial(out_path, 0644, &partial, err);
        if (out_fd < 0)
                return out_fd;
        r = write_to(tree, root_fd, exclude, comp, threads, out_fd, err);
        return pxf_finish_partial(out_fd, partial, out_path, r, err);
}

/* ---- the kernel's decompressors ----------------------------------------------------- */

int art_kernel_cpio_compression(const char *kernel_config_text, bool smallest,
                                enum art_cpio_compression *ret)
{
        /* zstd unpacks fastest at a size close to xz's; xz is smallest, for what travels
         * over TFTP; gzip is everywhere. */
        static const struct {
                const char *line;
                enum art_cpio_compression comp;
        } fastest[] = {{"CONFIG_RD_ZSTD=y", ART_CPIO_ZSTD},
                       {"CONFIG_RD_GZIP=y", ART_CPIO_GZIP},
                       {"CONFIG_RD_XZ=y", ART_CPIO_XZ}},
          small[] = {{"CONFIG_RD_XZ=y", ART_CPIO_XZ},
                     {"CONFIG_RD_ZSTD=y", ART_CPIO_ZSTD},
                     {"CONFIG_RD_GZIP=y", ART_CPIO_GZIP}};

        if (!kernel_config_text)
                return -EINVAL;
        for (size_t i = 0; i < PXF_ELEMENTSOF(fastest); i++) {
                const char *line = smallest ? small[i].line : fastest[i].line;
                if (pxf_text_has_line(kernel_config_text, line)) {
                        *ret = smallest ? small[i].comp : fastest[i].comp;
                        /* The filter turns relative calls and jumps into absolute
                         * addresses, which repeat, in the programs and libraries that
                         * are most of an initramfs: 2% smaller (Debian 13 bootstrap). */
                        if (*ret == ART_CPIO_XZ && smallest &&
                            pxf_text_has_line(kernel_config_text, "CONFIG_XZ_DEC_X86=y"))
                                *ret = ART_CPIO_XZ_X86;
                        return 0;
                }
        }
        *ret = ART_CPIO_NONE;
        return 0;
}
