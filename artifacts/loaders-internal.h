/* Internal to artifacts/: the loaders a PXE folder carries besides the image's shim and
 * GRUB, and what its boot chain can do (loaders.c, bios-grub.c).
 *
 *   - iPXE from the building host's ipxe package (server.ipxe): ipxe/snponly.efi for UEFI
 *     (it drives the NIC through the firmware's own network stack, so it works wherever the
 *     firmware's PXE or HTTP boot did) and ipxe/undionly.kpxe for BIOS (through the PXE
 *     ROM's UNDI driver); boot.ipxe, the script they run, is written by make.c;
 *   - whether the image's network GRUB has an HTTP client (Debian 12's GRUB 2.06 has none,
 *     Debian 13's 2.12 has one), which decides how UEFI HTTP-boot clients are served;
 *   - whether a PE file (shim, GRUB, kernel) carries an Authenticode signature, which a
 *     Secure Boot machine needs at every step. */
#pragma once

#include <stdbool.h>

#include "common/common.h"
#include "config/config.h"

#define ART_IPXE_HOST_DIR "/usr/lib/ipxe" /* where Debian's ipxe package puts them */

struct art_ipxe_file {
        const char *name; /* in ART_IPXE_HOST_DIR */
        const char *path; /* in the artifacts folder */
};
extern const struct art_ipxe_file art_ipxe_files[];
extern const size_t art_ipxe_n_files;

/* Whether a build of cfg takes iPXE into its folder (server.ipxe fallback or always). */
bool art_ipxe_wanted(const struct cfg_config *cfg);
/* 0 when every iPXE file is readable in dir; -ENOENT naming the file and the package. */
int art_ipxe_check(const char *dir, struct pxf_error *err);

/* Where the BIOS GRUB was made from. */
enum art_bios_grub_source {
        ART_BIOS_GRUB_IMAGE, /* the image's grub-pc-bin, run in the container on the tree */
        ART_BIOS_GRUB_HOST,  /* this host's grub-pc-bin: the image has none */
};
enum art_bios_grub_kind {
        ART_BIOS_GRUB_PXE, /* core.0 for PXE ROMs, prefix (pxe)/grub */
        ART_BIOS_GRUB_CD,  /* El Torito image, prefix /boot/grub, and the MBR code */
};
struct art_bios_grub_request {
        const char *tree; /* the exported root tree */
        enum art_bios_grub_kind kind;
        const char *out;     /* the image; for PXE, GRUB's empty module lists go beside it */
        const char *mbr_out; /* CD only: GRUB's MBR boot code (boot_hybrid.img) */
};
/* Makes GRUB for BIOS (server.bios) with every module it needs built in, from the image's
 * grub-pc-bin or else this host's (*ret_source says which). -ENOENT naming grub-pc-bin
 * when neither has it. */
int art_bios_grub(const struct art_bios_grub_request *req, enum art_bios_grub_source *ret_source,
                  struct pxf_error *err);
/* Calls fn for each of this host's files a host-made GRUB for BIOS is made of (grub-mkimage,
 * its images and modules), as art_host_files does; missing ones are left out. */
void art_bios_grub_host_files(void (*fn)(const char *name, const char *path, void *userdata),
                              void *userdata);

/* *ret: the PE image at path has a PKCS#7 Authenticode certificate. -EINVAL when it is
 * not a PE image at all. */
int art_pe_signed(const char *path, bool *ret, struct pxf_error *err);

/* *ret: the GRUB image at path has GRUB's HTTP client built in. */
int art_grub_has_http(const char *path, bool *ret, struct pxf_error *err);
