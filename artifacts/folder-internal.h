/* Internal interfaces of the artifacts module: the artifacts folder once it is complete;
 * not for use outside artifacts/ (and its tests).
 *
 * Three parts:
 *   - the folder's entries (manifest.c): one sorted listing that both the tarball and the
 *     manifest follow, so they agree on what the folder holds and in which order;
 *   - the `pxe-tar` output (tarball.c): the folder as a .tar.gz;
 *   - the manifest (manifest.c): SHA256SUMS and manifest, written into the folder (and
 *     art_manifest_verify, in artifacts.h, which `pxeforge serve` runs before serving).
 *
 * An artifacts folder holds only regular files, directories and symlinks; anything else
 * (a fifo, a socket, a device node) is refused with an error naming it.
 *
 * The manifest file (format-version 1) is UTF-8 text, one "key: value" per line, keys in
 * this order; a value is never empty except kernel-command-line's, and then the line is
 * "kernel-command-line:" with nothing after the colon:
 *
 *   # pxeforge artifacts manifest
 *   format-version: 1
 *   pxeforge-version: <the pxeforge that wrote it>
 *   kernel-version: <uname -r of the image's kernel>
 *   initramfs-type: <bootstrap | full-os>
 *   kernel-command-line: <the arguments, separated by single spaces>
 *   bootstrap-url: <URL of the ISO>                    (only when there is one)
 *   file: <size in bytes> <sha256, 64 lower-case hex> <path relative to the folder>
 *
 * with one "file:" line per regular file (not SHA256SUMS or manifest themselves), in the
 * order of the listing below. SHA256SUMS lists the same files in the same order in the
 * format of `sha256sum`: "<sha256>  <path>\n".
 */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

#include "common/common.h"

/* ---- the folder's entries (manifest.c) -------------------------------------------- */

#define ART_SHA256SUMS "SHA256SUMS"
#define ART_MANIFEST   "manifest"

struct art_artifact {
        char *path;        /* relative to the folder, no "./", no trailing '/' */
        struct stat st;    /* lstat of the entry when it was listed */
        char *link_target; /* symlinks only */
};

/* Every entry below the folder open at root_fd (dir names it in messages), without the
 * folder itself. Sorted byte-wise by path, a directory's path compared as if it ended in
 * '/': that is the order of `LC_ALL=C sort` over the paths with directories slash-
 * terminated, and each directory comes before its contents. Never follows symlinks.
 * -EINVAL with a message naming the entry for anything but a regular file, a directory or
 * a symlink. */
int art_artifacts_list(int root_fd, const char *dir, struct art_artifact **ret, size_t *ret_n,
                       struct pxf_error *err);
void art_artifacts_free(struct art_artifact *list, size_t n);

/* Opens the listed regular file at path below root_fd for reading and checks that it is
 * still the file that was listed. Returns the descriptor. */
int art_artifact_open(int root_fd, const struct art_artifact *a, struct pxf_error *err);

/* ---- the pxe-tar output (tarball.c) ------------------------------------------------ */

/* Writes the folder dir as a gzip-compressed tar archive (restricted pax: plain ustar
 * unless a name or size needs more) at out_path, through out_path.partial and a rename;
 * the partial file is removed on failure. Entries in the order of art_artifacts_list,
 * directories with a trailing '/', owned by 0:0 (root/root), modes and modification times
 * kept. Compressed by pigz with threads threads when it is installed (threads <= 0: one
 * per online CPU), else by libarchive's gzip, on one thread, with a warning. */
int art_tar_write(const char *dir, int threads, const char *out_path, struct pxf_error *err);

/* The installed pigz, or NULL. */
const char *art_tar_pigz(void);

/* art_tar_write with the compressor chosen by the caller (tests use both): pigz (-ENOENT
 * when it is not installed) or libarchive's own gzip. Each gives the same bytes whenever
 * it compresses the same folder with the same threads. */
int art_tar_write_gzip(const char *dir, bool use_pigz, int threads, const char *out_path,
                       struct pxf_error *err);

/* ---- the manifest (manifest.c) ----------------------------------------------------- */

struct art_manifest_info {
        const char *kernel_version; /* required */
        const char *initramfs_type; /* required: "bootstrap" or "full-os" */
        char *const *kernel_args;   /* NULL-terminated, or NULL for none */
        const char *bootstrap_url;  /* NULL: no bootstrap-url line */
        const char *ipxe;           /* PXE: server.ipxe, "off", "fallback" or "always" */
        const char *grub_http;      /* PXE: "yes" when the network GRUB speaks HTTP */
        const char *bios;           /* PXE: "none", "grub from the image" or "... this host" */
        const char *secure_boot;    /* PXE: "signed", or "unsigned: FILE, FILE" */
        unsigned min_memory_mib;    /* PXE: the least RAM to boot them; 0: no line */
};

/* Hashes every regular file of the folder and writes SHA256SUMS and manifest into it
 * (each through a temporary name and a rename, mode 0644). Values and paths must not hold
 * control characters or (paths) backslashes: -EINVAL with a message naming them. */
int art_manifest_write(const char *dir, const struct art_manifest_info *info,
                       struct pxf_error *err);
