/* Internal interfaces of the artifacts module: the live ISO; not for use outside
 * artifacts/ (and its tests).
 *
 * Two parts:
 *   - the squashfs writer (squashfs.c): the OS tree as LiveOS/squashfs.img, by mksquashfs;
 *   - the ISO writer (iso.c): a staging folder as a UEFI-bootable hybrid ISO (a virtual or
 *     real CD drive, or the same bytes written to a USB stick), by mkfs.vfat, mtools and
 *     xorriso. Nothing is ever mounted: the host may have no vfat or iso9660 driver.
 *
 * Both write out_path through out_path.partial and a rename, and remove the partial file
 * on failure. A missing program gives -ENOENT with a message naming its Debian package.
 */
#pragma once

#include <stdint.h>

#include "common/common.h"

/* ---- the squashfs (squashfs.c) ------------------------------------------------------ */

/* zstd level of art_squashfs_write: the knee of size against time on the Debian test
 * image's tree (numbers in squashfs.c). */
#define ART_SQUASHFS_ZSTD_LEVEL 9

/* Writes the tree as a zstd-compressed squashfs at out_path. exclude: NULL-terminated
 * tree-relative paths left out with their subtrees (may be NULL; "/etc/fstab", "./boot"
 * and "boot/" are taken as "etc/fstab" and "boot"; "." or ".." components are refused).
 * threads <= 0: one per online CPU. Extended attributes and hard links are kept; the root
 * directory gets mode 0755. Never crosses into other file systems: a mount point below the
 * tree becomes an empty directory (with the mode and owner of the mounted file system's
 * root), as in art_cpio_write. Logs the size. */
int art_squashfs_write(const char *tree, const char *const *exclude, int threads,
                       const char *out_path, struct pxf_error *err);

/* The same with the zstd level given (1 to 22), for measurements and tests. */
int art_squashfs_write_level(const char *tree, const char *const *exclude, int threads,
                             int zstd_level, const char *out_path, struct pxf_error *err);

/* ---- the live ISO (iso.c) ------------------------------------------------------------ */

/* The ISO writer's inputs. Every path may be relative to the working directory. */
struct art_iso_spec {
        /* The folder that becomes the ISO's file tree: the caller has put vmlinuz,
         * initrd.img, LiveOS/squashfs.img, boot/grub/grub.cfg etc. in it. It is only read:
         * what the writer adds (below) is grafted next to it in the ISO. */
        const char *staging_dir;
        /* The UEFI boot chain, as the firmware finds it on removable media: */
        const char *shim_path;       /* shim, becomes EFI/BOOT/BOOTX64.EFI */
        const char *grub_path;       /* the GRUB for CDs, becomes EFI/BOOT/grubx64.efi */
        const char *mokmanager_path; /* optional (NULL): shim's MokManager, EFI/BOOT/mmx64.efi */
        const char *volume_label;    /* 1 to 32 characters out of A-Z 0-9 _ */
        /* Optional (both NULL: UEFI only): GRUB's El Torito image for BIOS and its MBR boot
         * code (art_bios_grub, ART_BIOS_GRUB_CD). With them the ISO boots on BIOS too: the
         * image becomes boot/grub/bios.img, the first El Torito entry, which reads the same
         * boot/grub/grub.cfg, and the MBR code loads it from a BIOS machine's USB stick. */
        const char *bios_image, *bios_mbr;
        const char *out_path; /* the ISO; replaced atomically */
        const char *work_dir; /* exists; a private subfolder is made and removed */
};

/* Builds the EFI system image efiboot.img (FAT, holding EFI/BOOT/ with the boot chain),
 * then the ISO: ISO 9660 level 3 (files over 4 GiB) with Rock Ridge, the staging folder's
 * tree plus EFI/BOOT/ (the same files as in efiboot.img: firmware and tools such as Rufus
 * look there), boot/efiboot.img and, if the staging folder has none, .disk/info (which
 * Debian's GRUB searches for: see iso.c). Those added files replace files of the same name
 * in the staging folder. El Torito: one no-emulation UEFI entry, boot/efiboot.img, after
 * the BIOS one (boot/grub/bios.img) when the spec has GRUB for BIOS. Hybrid: an MBR whose
 * partition 2 (type 0xEF) is an appended copy of efiboot.img, and with GRUB for BIOS its
 * boot code, so the ISO written to a USB stick boots too. */
int art_iso_write(const struct art_iso_spec *spec, struct pxf_error *err);

/* The size in KiB to make a FAT image that holds n files of the given sizes in bytes in
 * two directory levels (EFI/BOOT): every file rounded up to 4 KiB clusters, FAT, root
 * directory and directories, 5% (at least 256 KiB) slack, rounded up to whole MiB. */
uint64_t art_efiboot_size_kib(const uint64_t *file_sizes, size_t n);

/* The largest EFI image an El Torito entry describes whole: its load size field counts
 * 512-byte sectors in 16 bits, and firmware may load no more than that. */
#define ART_EFIBOOT_MAX_KIB 32767
