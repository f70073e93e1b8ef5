/* Internal interfaces of the artifacts module: the boot configuration and the
 * initramfs of the live outputs (PXE folder and live ISO); not for use outside
 * artifacts/ (and its tests).
 *
 * Two parts:
 *   - the boot configuration (live-args.c, grub-cfg.c): kernel arguments, grub.cfg text,
 *     the bootstrap ISO's URL and file name, the ISO volume label. Pure: no I/O, so every
 *     line a machine boots with is unit-tested as text;
 *   - the full-OS initramfs writer (cpio-writer.c): a directory tree as a newc cpio archive
 *     for the kernel's initramfs unpacker.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "config/config.h"

/* ---- boot configuration (live-args.c, grub-cfg.c) --------------------------------- */

/* Which GRUB binary boots the artifacts; it decides where grub.cfg must be. */
enum art_grub_flavor {
        ART_GRUB_DEBIAN, /* grubnetx64.efi: prefix /grub, reads grub/grub.cfg */
        ART_GRUB_AZURE,  /* Azure Linux's GRUB: reads boot/grub2/grub.cfg */
};

enum art_live_medium {
        ART_LIVE_PXE, /* kernel and initrd come over TFTP */
        ART_LIVE_ISO, /* kernel and initrd at the root of the ISO */
};

#define ART_ISO_LABEL_MAX    32 /* ISO9660 volume identifier */
#define ART_BOOTSTRAP_ISO    "image.iso"
#define ART_DRACUT_OVERLAY_V 110 /* dracut-ng renamed rd.live.overlay.overlayfs here */
/* The dracut versions whose live-boot arguments pxeforge knows: from Debian 12's 059 (the
 * oldest booted by the tests; Debian 13 has 106) to the newest whose renames are known. */
#define ART_DRACUT_OLDEST 59
#define ART_DRACUT_NEWEST ART_DRACUT_OVERLAY_V

/* One boot: what the menu entry loads and the kernel command line it passes. */
struct art_live_boot {
        enum cfg_initramfs_type initramfs; /* bootstrap or full-os */
        enum art_live_medium medium;
        const char *kernel;        /* file name, e.g. "vmlinuz" */
        const char *initrd;        /* file name, e.g. "initrd.img" */
        int dracut_major;          /* the image's dracut: 59 (bookworm), 103+, 110+ */
        const char *volume_label;  /* the ISO's label: ISO boots and bootstrap from ISO */
        const char *bootstrap_url; /* URL of the ISO: PXE + bootstrap only */
        char *const *base_args;    /* the image's own kernel args; NULL-terminated or NULL */
        char *const *os_args;      /* os.selinux.mode's and os.kernelCommandLine's, which
                                    * a live tree's grub.cfg lacks (it is never rebuilt) */
        char *const *extra_args;   /* pxe/iso kernelCommandLine.extraCommandLine */
        const char *title;         /* menu entry title; NULL: "pxeforge" */
        unsigned http_port;        /* PXE: GRUB tries kernel and initrd over HTTP on this
                                    * port of its server first; 0: TFTP only */
        bool boot_report;          /* PXE: pxeforge.report= names the appliance's report URL
                                    * (server.bootReport), on its http_port */
};

/* The grub.cfg paths (relative to the artifacts folder / TFTP root) to write for a GRUB
 * flavor, NULL-terminated; NULL for an unknown flavor. Debian gets grub/grub.cfg, which its
 * network GRUB reads, and the boot/grub2/grub.cfg copy of the documented layout. */
const char *const *art_grub_cfg_paths(enum art_grub_flavor flavor);

/* The kernel arguments: the image's base args, then the os section's (both without
 * those that would conflict with a live boot), then the mode's args, then the user's
 * extra args. -EINVAL with a message
 * naming the argument for one GRUB would mis-parse, or for missing inputs. */
int art_live_kernel_args(const struct art_live_boot *b, char ***ret, struct pxf_error *err);

/* The whole grub.cfg text: serial + console terminal, timeout, one menu entry. */
int art_grub_cfg(const struct art_live_boot *b, char **ret, struct pxf_error *err);

/* The iPXE script of a PXE folder (boot.ipxe): kernel and initrd by URLs relative to the
 * script's own, so it works from wherever it is served; `initrd=` names the initrd for the
 * kernel's EFI stub under iPXE's UEFI builds. */
int art_ipxe_script(const struct art_live_boot *b, char **ret, struct pxf_error *err);
/* The first character of s that GRUB would not take literally in an unquoted word (or
 * NULL): quotes, expansion, separators, whitespace, control characters. */
const char *art_grub_unsafe_char(const char *s);

/* The bootstrap ISO's URL and its file name in the artifacts folder: bootstrapFileUrl
 * wins, else bootstrapBaseUrl + "/image.iso", else default_base_url + "/image.iso"
 * (default_base_url may be NULL). */
int art_bootstrap_url(const struct cfg_pxe *pxe, const char *default_base_url, char **ret_url,
                      char **ret_iso_name, struct pxf_error *err);

/* A volume label unique to this build, "PXF_<HOST>_<8 hex digits of unique>": at most 32
 * characters out of A-Z 0-9 _. Never a fixed name: dracut and GRUB find the medium by its
 * label, and a fixed one can match another disk of the machine. */
char *art_iso_volume_label(const char *hostname_or_null, uint64_t unique);
bool art_iso_volume_label_valid(const char *label);

/* The major version of dracut from a package or `dracut --version` version string: "059",
 * "059-4", "1:059-4", "103", "110-1.fc42". -EINVAL when there is none. */
int art_dracut_major_version(const char *version_string, int *ret);

/* ---- the full-OS initramfs (cpio-writer.c) ---------------------------------------- */

enum art_cpio_compression {
        ART_CPIO_GZIP,
        ART_CPIO_ZSTD,
        ART_CPIO_XZ,
        ART_CPIO_XZ_X86, /* xz with the x86 branch filter in front, for executables */
        ART_CPIO_NONE,
};

/* Writes the tree as a newc cpio archive at out_path (through out_path.partial and a
 * rename). exclude: NULL-terminated tree-relative paths left out with their subtrees (may
 * be NULL). threads <= 0: one per online CPU. Never follows symlinks or crosses into other
 * file systems; entries are in a reproducible order, each directory before its contents. */
int art_cpio_write(const char *tree, const char *const *exclude, enum art_cpio_compression comp,
                   int threads, const char *out_path, struct pxf_error *err);

/* A compression the kernel can unpack, from the text of its config (/boot/config-<ver>):
 * zstd, else gzip, else xz, else none; with smallest: xz (with the x86 filter when the
 * kernel's xz decoder has it), else zstd, else gzip. */
int art_kernel_cpio_compression(const char *kernel_config_text, bool smallest,
                                enum art_cpio_compression *ret);

/* ---- the bootstrap initramfs (bootstrap.c) ----------------------------------------- */

/* Checks that the exported tree has what dracut's
 * live boot needs (every missing package named in the error) and tells the dracut major
 * version; then builds the initramfs with the image's dracut in a container on the tree. */
int art_bootstrap_check(const char *tree, int *ret_dracut_major, struct pxf_error *err);

/* The memory a bootstrap machine needs available, beside image.iso, when the download
 * starts (artifacts/livenet-check.sh refuses to download with less). The ISO stays in
 * memory as the live root's lower layer; the system booted from it runs in what the
 * unpacked initramfs frees at the switch to the live root. Measured with the Debian 13
 * test image's artifacts (69 MiB of initramfs unpacked): a 315 MiB ISO booted to a login
 * prompt with 11 MiB available beside it at the check (496 MiB of RAM), a 274 MiB one with
 * 6 MiB (448 MiB of RAM). */
#define ART_BOOTSTRAP_RESERVE_MIB 16u

/* The rest of the minimum memory of artifacts (memory.c): what the firmware and kernel
 * keep and use before the initramfs runs (the RAM less what was available at the check,
 * less the unpacked initramfs: 101 MiB at 448, 496 and 512 MiB of RAM under OVMF). */
#define ART_KERNEL_MIB      104u
#define ART_MEMORY_STEP_MIB 32u /* the minimum is rounded up to a multiple of this */

struct art_memory {
        unsigned min_mib;    /* the least RAM the artifacts boot in */
        unsigned initrd_mib; /* the initramfs, unpacked */
        unsigned iso_mib;    /* bootstrap: image.iso, held in memory; 0 for full-OS */
};
/* The memory the initramfs at initrd needs, with iso (a bootstrap's image.iso) or without
 * (full-OS). */
int art_min_memory(const char *initrd, const char *iso, struct art_memory *ret,
                   struct pxf_error *err);

struct art_bootstrap_initrd {
        const char *tree;
        const char *kver;
        int dracut_major;
        bool with_nfs;                         /* the ISO is fetched over NFS */
        enum art_cpio_compression compression; /* a method the kernel unpacks */
};
int art_bootstrap_initrd(const struct art_bootstrap_initrd *b, const char *out,
                         struct pxf_error *err);
/* The length of the uncompressed early cpio (CPU microcode) at the start of an initramfs,
 * with the zero padding after it; 0 when there is none. */
size_t art_initrd_early_length(const unsigned char *data, size_t len);
