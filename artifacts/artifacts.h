/* artifacts: turns an exported OS tree into what a machine boots from the network or a CD.
 *
 * The input is a folder on the host that holds a customized root file system (the
 * builder exports it from the libguestfs appliance). From it this module writes, with
 * native tools and libarchive, one of the live outputs:
 *   - `pxe-dir`: a folder with the signed boot chain (shim, network GRUB, MokManager), the
 *     kernel, an initramfs (the whole OS as a cpio, or a small dracut bootstrap that
 *     downloads image.iso), grub.cfg where the image's GRUB reads it, boot.ipxe for iPXE
 *     clients, iPXE itself with server.ipxe, GRUB for BIOS with server.bios, the
 *     bootstrap's image.iso, manifest and SHA256SUMS;
 *   - `pxe-tar`: the same folder as one .tar.gz;
 *   - `iso`: a hybrid UEFI live ISO (LiveOS/squashfs.img, or the whole OS as initramfs).
 * Nothing is mounted on the host and no guest file system is parsed here: the tree is
 * plain files. Guest programs run here only in the container of common/container.c on the
 * tree: the image's own dracut (bootstrap.c) and grub-mkimage (bios-grub.c).
 *
 * The module does not link libguestfs (its CMake target, pxf_artifacts, says so, and a
 * test checks its test executables). It owns the staging folder it is given while it
 * writes; the output path receives only a complete result, by rename (art_publish). */
#pragma once

#include "common/common.h"
#include "config/config.h"

struct cache;

/* Files of a PXE folder that `serve` hands to clients besides shim (bootx64.efi). */
#define ART_IPXE_SCRIPT "boot.ipxe"           /* for iPXE clients: kernel, initrd, arguments */
#define ART_IPXE_UEFI   "ipxe/snponly.efi"    /* iPXE for UEFI (server.ipxe) */
#define ART_IPXE_BIOS   "ipxe/undionly.kpxe"  /* iPXE for BIOS (server.ipxe) */
#define ART_BIOS_GRUB   "grub/i386-pc/core.0" /* GRUB for BIOS (server.bios) */

/* One live output to make. Every path is the caller's; the folders exist except stage,
 * which art_make creates. */
struct art_request {
        const struct cfg_config *cfg; /* the `pxe`, `iso` and `os.hostname` sections */
        enum cfg_image_format format; /* CFG_FORMAT_ISO, _PXE_DIR or _PXE_TAR */
        const char *tree;             /* the exported root tree */
        const char *work_dir;         /* scratch space for this build */
        const char *output;           /* the final path */
        const char *partial;          /* the output while it is written, beside output */
        /* Where a bootstrap initramfs fetches image.iso from when the config sets neither
         * pxe.bootstrapBaseUrl nor pxe.bootstrapFileUrl; NULL refuses such a build. */
        const char *default_bootstrap_base_url;
        /* Told of each artifact a long phase made (the initramfs, the squashfs root, ...),
         * besides the log line that says so; may be NULL. */
        void (*on_artifact)(const char *name, uint64_t bytes, double seconds, void *userdata);
        void *userdata;
        /* With both: the products that take long (squashfs root, initramfs) are taken from
         * the cache when the same tree (tree_key) made them before, and kept there. */
        struct cache *cache;
        const char *tree_key;
};

/* Calls fn for each file of this host, other than the tree and the config's own host
 * files, that a build of cfg copies or makes its artifacts from (iPXE with server.ipxe,
 * this host's GRUB for BIOS with server.bios), so that a build cache can key on them;
 * name is the file's place in the artifacts (or its host path, for what is only an
 * ingredient). Files that are missing are left out (the build itself says what to
 * install). */
void art_host_files(const struct cfg_config *cfg,
                    void (*fn)(const char *name, const char *path, void *userdata), void *userdata);

/* The initramfs a live output of cfg in format carries: the config's, or the reference
 * tool's default (bootstrap for iso, full-os for pxe-dir and pxe-tar). */
enum cfg_initramfs_type art_live_initramfs(const struct cfg_config *cfg,
                                           enum cfg_image_format format);

/* What can be refused before any work, from req's cfg, format and default URL alone: a
 * bootstrap PXE build without a URL for its ISO, or with a URL dracut cannot fetch; a PXE
 * build with server.ipxe on a host without the ipxe package. */
int art_check(const struct art_request *req, struct pxf_error *err);
/* Makes the artifacts of req from its tree into a staging folder (the partial output
 * for pxe-dir, a folder in the work dir otherwise). 0 or a negative errno with err
 * filled; a missing boot file or package names what to install in the image. */
int art_make(const struct art_request *req, struct pxf_error *err);
/* Moves what art_make staged to req->output: renames the folder over an existing one
 * (which is removed only once the new one is in place), or writes the tarball or the
 * ISO beside the output and renames it. */
int art_publish(const struct art_request *req, struct pxf_error *err);
/* Where art_make leaves what art_publish publishes, so that a build cache can keep it and
 * put it back: the staging folder (pxe-dir, pxe-tar; *ret_is_dir set) or the ISO file at
 * req->partial. The caller frees it. */
char *art_made_path(const struct art_request *req, bool *ret_is_dir);

/* Checks every file the folder's SHA256SUMS lists against its checksum, as `pxeforge
 * serve` does before serving a folder. The paths must stay inside the folder without going
 * through a symlink. The error names the first missing or mismatching file (-ENOENT,
 * -EBADMSG) or the first malformed line; a folder without SHA256SUMS is -ENOENT. */
int art_manifest_verify(const char *dir, struct pxf_error *err);
/* The value of a "key: value" line of the folder's manifest in *ret (freed by the
 * caller), NULL when the manifest has no such line (a folder made before the key). An
 * unreadable manifest is an error. */
int art_manifest_value(const char *dir, const char *key, char **ret, struct pxf_error *err);
