/* Image container detection from content: the name of a file says nothing reliable, and
 * letting QEMU probe a raw image is a known hole (CVE-2010-3851). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/builder-internal.h"

#define SECTOR 512

enum bld_disk_format bld_disk_format_from_bytes(const unsigned char *head, size_t head_len,
                                                const unsigned char *tail, size_t tail_len)
{
        if (head_len >= 4 && memcmp(head, "QFI\xfb", 4) == 0)
                return BLD_DISK_QCOW2;
        if (head_len >= 8 && memcmp(head, "vhdxfile", 8) == 0)
                return BLD_DISK_VHDX;
        /* A dynamic VHD starts with a copy of its footer; a fixed one has it only at the
         * end. */
        if (head_len >= 8 && memcmp(head, "conectix", 8) == 0)
                return BLD_DISK_VPC;
        if (tail_len >= 8 && memcmp(tail, "conectix", 8) == 0)
                return BLD_DISK_VPC;
        return BLD_DISK_RAW;
}

const char *bld_disk_format_qemu_name(enum bld_disk_format f)
{
        static const char *const names[] = {
            [BLD_DISK_RAW] = "raw",
            [BLD_DISK_QCOW2] = "qcow2",
            [BLD_DISK_VPC] = "vpc",
            [BLD_DISK_VHDX] = "vhdx",
        };
        return names[f];
}

static ssize_t read_at(int fd, unsigned char *buf, size_t len, off_t off)
{
        ssize_t n;

        do
                n = pread(fd, buf, len, off);
        while (n < 0 && errno == EINTR);
        return n;
}

int bld_detect_disk_format(const char *path, enum bld_disk_format *ret, struct pxf_error *err)
{
        unsigned char head[SECTOR] = {0}, tail[SECTOR] = {0};
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t nh, nt = 0;
        struct stat st;

        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot open input image '%s': %m", path);
        if (fstat(fd, &st) < 0)
                return pxf_error_set(err, -errno, "cannot read input image '%s': %m", path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return pxf_error_set(err, -EINVAL, "input image '%s' is not a file", path);
        if (st.st_size < SECTOR)
                return pxf_error_set(err, -EMEDIUMTYPE,
                                     "input image '%s' is %lld bytes long: too small to be a "
                                     "disk image",
                                     path, (long long)st.st_size);
        nh = read_at(fd, head, sizeof head, 0);
        if (nh >= 0)
                nt = read_at(fd, tail, sizeof tail, st.st_size - SECTOR);
        if (nh < 0 || nt < 0)
                return pxf_error_set(err, -errno, "cannot read input image '%s': %m", path);
        *ret = bld_disk_format_from_bytes(head, (size_t)nh, tail, (size_t)nt);
        return 0;
}

bool bld_is_iso9660(const char *path)
{
        /* The primary volume descriptor: type 1 and "CD001" at sector 16 of 2048 bytes. */
        unsigned char id[6] = {0};
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        return fd >= 0 && read_at(fd, id, sizeof id, 16 * 2048) == (ssize_t)sizeof id &&
               memcmp(id, "\001CD001", sizeof id) == 0;
}
