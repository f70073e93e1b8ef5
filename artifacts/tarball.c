/* The `pxe-tar` output: the artifacts folder as a .tar.gz, to be unpacked into a TFTP/HTTP
 * root elsewhere.
 *
 * Restricted pax: plain ustar headers, which every tar reads, with a pax extended header
 * only for what ustar cannot hold (a long name, a file of 8 GiB or more). Entries follow
 * art_artifacts_list (byte-wise by path, each directory before its contents), so the same
 * folder gives the same archive: no access or change times, no host user names (everything
 * is root:root, which is what the files are on the server once unpacked as root), no
 * extended attributes. A file with several names (an artifacts folder has none) is stored
 * whole under each, so that every entry unpacks on its own.
 *
 * An ISO or a full-OS initrd is gigabytes, and gzip on one core is the slowest step of a
 * pxe-tar build: pigz compresses on every core, in the same format. Without pigz,
 * libarchive's own gzip does it on one core.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "artifacts/archive-internal.h"
#include "artifacts/folder-internal.h"

#define THREADS_MAX 256

static const char *const pigz_paths[] = {"/usr/bin/pigz", "/bin/pigz"};

struct tar_writer {
        struct archive *a;
        int root_fd;
        unsigned char *buf;
        struct pxf_error *err;
};

const char *art_tar_pigz(void)
{
        for (size_t i = 0; i < PXF_ELEMENTSOF(pigz_paths); i++)
                if (access(pigz_paths[i], X_OK) == 0)
                        return pigz_paths[i];
        return NULL;
}

/* ---- entries ------------------------------------------------------------------------ */

static int archive_failed(struct tar_writer *w, const char *step)
{
        return art_archive_failed(w->a, step, w->err);
}

static struct archive_entry *new_entry(const struct art_artifact *art)
{
        struct archive_entry *e = archive_entry_new();

        if (!e)
                abort();
        if (S_ISDIR(art->st.st_mode)) {
                _cleanup_free_ char *path = pxf_asprintf("%s/", art->path);
                archive_entry_copy_pathname(e, path);
        } else {
                archive_entry_copy_pathname(e, art->path);
        }
        archive_entry_set_mode(e, art->st.st_mode); /* type and all permission bits */
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_copy_uname(e, "root");
        archive_entry_copy_gname(e, "root");
        archive_entry_set_mtime(e, art->st.st_mtim.tv_sec, art->st.st_mtim.tv_nsec);
        archive_entry_set_size(e, S_ISREG(art->st.st_mode) ? art->st.st_size : 0);
        if (S_ISLNK(art->st.st_mode))
                archive_entry_copy_symlink(e, art->link_target);
        return e;
}

static int write_file_data(struct tar_writer *w, const struct art_artifact *art)
{
        _cleanup_close_ int fd = art_artifact_open(w->root_fd, art, w->err);
        char extra;
        int r;

        if (fd < 0)
                return fd;
        r = art_archive_copy_data(w->a, fd, art->path, (uint64_t)art->st.st_size, w->buf, w->err);
        if (r >= 0 && read(fd, &extra, 1) > 0)
                r = pxf_error_set(w->err, -ESTALE, "'%s' grew while the archive was written",
                                  art->path);
        return r;
}

static int write_entry(struct tar_writer *w, const struct art_artifact *art)
{
        struct archive_entry *e = new_entry(art);
        int r = 0;

        /* ARCHIVE_WARN too: the entry would not read back as it is on disk. */
        if (archive_write_header(w->a, e) != ARCHIVE_OK)
                r = art_archive_entry_failed(w->a, art->path, w->err);
        archive_entry_free(e);
        if (r >= 0 && S_ISREG(art->st.st_mode))
                r = write_file_data(w, art);
        return r;
}

/* ---- the archive -------------------------------------------------------------------- */

/* The pigz command is built only from a constant path of pigz_paths and an integer, never
 * from user text: libarchive 3.6.2 splits it at spaces itself and starts it with
 * posix_spawnp, without a shell (and a shell would find nothing in it to interpret).
 * -n: no name or time stamp in the gzip header, so the same folder gives the same bytes. */
static int add_filter(struct tar_writer *w, const char *pigz, int threads)
{
        char cmd[128];
        int r;

        if (pigz) {
                snprintf(cmd, sizeof cmd, "%s -n -p %d", pigz,
                         pxf_thread_count(threads, THREADS_MAX));
                return archive_write_add_filter_program(w->a, cmd);
        }
        r = archive_write_add_filter_gzip(w->a);
        return r != ARCHIVE_OK ? r
                               : archive_write_set_filter_option(w->a, "gzip", "timestamp", NULL);
}

static int write_archive(struct tar_writer *w, const struct art_artifact *list, size_t n,
                         const char *pigz, int threads, int out_fd)
{
        int r = 0;

        w->a = archive_write_new();
        if (!w->a)
                abort();
        if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
            add_filter(w, pigz, threads) != ARCHIVE_OK ||
            archive_write_open_fd(w->a, out_fd) != ARCHIVE_OK)
                return archive_failed(w, "cannot start the tar archive");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = write_entry(w, &list[i]);
        /* Closing also reaps pigz, so it is done on failure too. */
        if (archive_write_close(w->a) != ARCHIVE_OK && r >= 0)
                r = archive_failed(w, "cannot finish the tar archive");
        return r;
}

static int write_to(int root_fd, const struct art_artifact *list, size_t n, const char *pigz,
                    int threads, int out_fd, struct pxf_error *err)
{
        struct tar_writer w = {.root_fd = root_fd, .buf = malloc(ART_ARCHIVE_CHUNK), .err = err};
        bool blocked;
        int r;

        if (!w.buf)
                abort();
        blocked = pxf_sigpipe_block();
        r = write_archive(&w, list, n, pigz, threads, out_fd);
        if (w.a)
                archive_write_free(w.a);
        pxf_sigpipe_unblock(blocked);
        free(w.buf);
        return r;
}

/* Writes the listed entries into out_path.partial, then renames it to out_path. */
static int write_partial(int root_fd, const struct art_artifact *list, size_t n, const char *pigz,
                         int threads, const char *out_path, struct pxf_error *err)
{
        _cleanup_free_ char *partial = NULL;
        /* World-readable: whoever unpacks it may serve it as an unprivileged user. */
        int out_fd = pxf_open_partial(out_path, 0644, &partial, err), r;

        if (out_fd < 0)
                return out_fd;
        r = write_to(root_fd, list, n, pigz, threads, out_fd, err);
        return pxf_finish_partial(out_fd, partial, out_path, r, err);
}

static int write_tar(const char *dir, const char *pigz, int threads, const char *out_path,
                     struct pxf_error *err)
{
        _cleanup_close_ int root_fd = -1;
        struct art_artifact *list = NULL;
        size_t n = 0;
        int r;

        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return pxf_error_set(err, -errno, "cannot open the artifacts folder '%s': %m", dir);
        /* Listed first: a fifo or a socket is refused before anything is written. */
        r = art_artifacts_list(root_fd, dir, &list, &n, err);
        if (r < 0)
                return r;
        r = write_partial(root_fd, list, n, pigz, threads, out_path, err);
        art_artifacts_free(list, n);
        return r;
}

int art_tar_write_gzip(const char *dir, bool use_pigz, int threads, const char *out_path,
                       struct pxf_error *err)
{
        const char *pigz = use_pigz ? art_tar_pigz() : NULL;

        if (use_pigz && !pigz)
                return pxf_error_set(err, -ENOENT, "pigz is not installed");
        return write_tar(dir, pigz, threads, out_path, err);
}

int art_tar_write(const char *dir, int threads, const char *out_path, struct pxf_error *err)
{
        const char *pigz = art_tar_pigz();

        if (!pigz)
                log_warning("pigz is not installed: '%s' is compressed on one CPU only; install "
                            "pigz to compress on all of them",
                            out_path);
        return write_tar(dir, pigz, threads, out_path, err);
}
