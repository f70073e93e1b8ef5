/* Internal to the artifacts module: what its two libarchive writers (the full-OS cpio,
 * cpio-writer.c, and the pxe-tar tarball, tarball.c) share. */
#pragma once

#include <stdint.h>

#include "common/common.h"

struct archive;

#define ART_ARCHIVE_CHUNK (1024 * 1024) /* the size of the buffer art_archive_copy_data uses */

/* libarchive's last error on a as err: "STEP: message" with its errno (or -EIO). step
 * says what failed: "cannot write 'etc/passwd' to the archive", "cannot finish ...". */
int art_archive_failed(struct archive *a, const char *step, struct pxf_error *err);
/* The same for an entry: "cannot write 'PATH' to the archive: message". */
int art_archive_entry_failed(struct archive *a, const char *path, struct pxf_error *err);
/* Streams exactly size bytes of fd (the file path) into a's current entry, whose header
 * promised that many, through buf (ART_ARCHIVE_CHUNK bytes). A file that ends early is
 * -ESTALE ("shrank while the archive was written"). */
int art_archive_copy_data(struct archive *a, int fd, const char *path, uint64_t size,
                          unsigned char *buf, struct pxf_error *err);
