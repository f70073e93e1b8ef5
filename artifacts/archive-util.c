/* See archive-internal.h. */
#include <archive.h>
#include <errno.h>
#include <unistd.h>

#include "artifacts/archive-internal.h"

int art_archive_failed(struct archive *a, const char *step, struct pxf_error *err)
{
        const char *msg = archive_error_string(a);
        int e = archive_errno(a);

        return pxf_error_set(err, e > 0 ? -e : -EIO, "%s: %s", step,
                             msg ? msg : "unknown libarchive error");
}

int art_archive_entry_failed(struct archive *a, const char *path, struct pxf_error *err)
{
        _cleanup_free_ char *step = pxf_asprintf("cannot write '%s' to the archive", path);

        return art_archive_failed(a, step, err);
}

static int write_all(struct archive *a, const unsigned char *buf, size_t n, const char *path,
                     struct pxf_error *err)
{
        for (size_t done = 0; done < n;) {
                la_ssize_t m = archive_write_data(a, buf + done, n - done);
                if (m <= 0)
                        return art_archive_entry_failed(a, path, err);
                done += (size_t)m;
        }
        return 0;
}

int art_archive_copy_data(struct archive *a, int fd, const char *path, uint64_t size,
                          unsigned char *buf, struct pxf_error *err)
{
        while (size > 0) {
                size_t want = size < ART_ARCHIVE_CHUNK ? (size_t)size : ART_ARCHIVE_CHUNK;
                ssize_t n = read(fd, buf, want);
                int r;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return pxf_error_set(err, -errno, "cannot read '%s': %m", path);
                if (n == 0)
                        return pxf_error_set(err, -ESTALE,
                                             "'%s' shrank while the archive was written", path);
                r = write_all(a, buf, (size_t)n, path, err);
                if (r < 0)
                        return r;
                size -= (uint64_t)n;
        }
        return 0;
}
