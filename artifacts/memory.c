/* The memory a machine needs to boot the artifacts, for the manifest and the build's log.
 *
 * A full-OS machine holds the compressed initramfs while the kernel unpacks it into the
 * root file system, a tmpfs that the kernel sizes to half of the memory it has then (the
 * compressed initramfs not counted): the unpacked files must fit in that half. Measured
 * with the Debian 12 test image's full-OS artifacts (216 MiB compressed, 770 MiB of
 * files): "Initramfs unpacking failed: write error" at 1600 MiB of RAM. A bootstrap
 * machine holds the unpacked bootstrap initramfs while it downloads image.iso into
 * memory, where the ISO stays as the live root's lower layer; its check before the
 * download (livenet-check.sh) asks for the ISO plus ART_BOOTSTRAP_RESERVE_MIB available.
 * The unpacked size is read from the initramfs itself (libarchive walks its cpio), every
 * file rounded up to whole pages as the kernel holds it. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "artifacts/archive-internal.h"
#include "artifacts/live-internal.h"

#define PAGE        4096u
#define ENTRY_BYTES 1024u /* an inode and a dentry, roughly, for each file of a tmpfs */
#define MIB         (1024u * 1024u)

static uint64_t file_size(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int sum_entries(const unsigned char *data, size_t len, uint64_t *ret, struct pxf_error *err)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        uint64_t sum = 0;
        int r = 0, ar;

        if (!a)
                abort();
        archive_read_support_filter_all(a);
        archive_read_support_format_cpio(a);
        ar = archive_read_open_memory(a, data, len);
        while (ar == ARCHIVE_OK && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                la_int64_t size = archive_entry_size(e);
                sum += ENTRY_BYTES + (size > 0 ? ((uint64_t)size + PAGE - 1) / PAGE * PAGE : 0);
                ar = archive_read_data_skip(a);
        }
        if (ar != ARCHIVE_EOF)
                r = art_archive_failed(a, "cannot read the initramfs", err);
        archive_read_free(a);
        *ret = sum;
        return r;
}

/* The bytes the initramfs takes once unpacked: the early cpio (CPU microcode) as it is,
 * the rest through libarchive's decompressors. */
static int unpacked_size(const char *path, uint64_t *ret, struct pxf_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        unsigned char *map;
        size_t early;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
                return pxf_error_set(err, fd < 0 ? -errno : -EIO, "cannot read '%s'", path);
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
                return pxf_error_set(err, -errno, "cannot map '%s': %m", path);
        early = art_initrd_early_length(map, (size_t)st.st_size);
        r = sum_entries(map + early, (size_t)st.st_size - early, ret, err);
        (void)munmap(map, (size_t)st.st_size);
        if (r >= 0)
                *ret += early;
        return r < 0 ? pxf_error_prefix(err, "'%s'", path) : 0;
}

static unsigned round_mib(uint64_t bytes)
{
        const uint64_t step = ART_MEMORY_STEP_MIB * (uint64_t)MIB;

        return (unsigned)((bytes + step - 1) / step * ART_MEMORY_STEP_MIB);
}

static unsigned to_mib(uint64_t bytes)
{
        return (unsigned)((bytes + MIB - 1) / MIB);
}

int art_min_memory(const char *initrd, const char *iso, struct art_memory *ret,
                   struct pxf_error *err)
{
        uint64_t unpacked = 0, iso_bytes = iso ? file_size(iso) : 0, need;
        int r = unpacked_size(initrd, &unpacked, err);

        if (r < 0)
                return r;
        ret->initrd_mib = to_mib(unpacked);
        ret->iso_mib = to_mib(iso_bytes);
        if (iso) /* what the check before the download asks for, with the initramfs */
                need = iso_bytes + (uint64_t)ART_BOOTSTRAP_RESERVE_MIB * MIB + unpacked;
        else /* the compressed initramfs, and twice the files for the tmpfs's half */
                need = file_size(initrd) + 2 * unpacked;
        ret->min_mib = round_mib(need + (uint64_t)ART_KERNEL_MIB * MIB);
        return 0;
}
