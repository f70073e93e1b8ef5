/* builder: turns an input disk image and a configuration into a customized image.
 *
 * The builder opens the image through the libguestfs C API (never by mounting guest file
 * systems on the host), applies the `os` and `scripts` sections of the configuration in a
 * fixed order (the reference tool's), and then writes one of:
 *   - a disk image (raw, qcow2, vhd, vhd-fixed, vhdx): the steps run inside the appliance
 *     (guest programs such as apt too), and qemu-img converts the result;
 *   - a live output (iso, pxe-dir, pxe-tar): the image's root tree is exported from the
 *     appliance into the work directory first, the steps run on it (guest programs in a
 *     container on the tree, common/container.c), and the artifacts module
 *     (artifacts/artifacts.h) makes the boot artifacts from it.
 * It owns a private work directory under the build dir for the duration of a run and
 * removes it afterwards; the output path only ever receives a complete result, by rename.
 *
 * bld_run() does the work in a child process in its own process group, so that a signal
 * or a crash while reading an untrusted image cannot leave half-written files behind: the
 * parent removes the work directory and the partial output whatever the child did.
 */
#pragma once

#include <stdbool.h>

#include "common/common.h"
#include "config/config.h"

/* Disk image container formats, as QEMU names them. */
enum bld_disk_format {
        BLD_DISK_RAW,
        BLD_DISK_QCOW2,
        BLD_DISK_VPC, /* VHD */
        BLD_DISK_VHDX,
};

#define BLD_DEFAULT_BUILD_DIR "/var/tmp/pxeforge"

/* Package sources for the package steps of one build only (--rpm-source,
 * --disable-base-image-rpm-repos): folders of .deb files and apt source files (.list,
 * .sources), in the order given; the image keeps its own sources. */
#define BLD_MAX_PACKAGE_SOURCES 16
struct bld_package_sources {
        const char *paths[BLD_MAX_PACKAGE_SOURCES];
        size_t n;
        bool disable_image_sources; /* the image's own apt sources are not used */
};

struct bld_options {
        const struct cfg_config *cfg;
        const char *image_path;              /* input image; overrides cfg->input_image_path */
        const char *build_dir;               /* scratch space; created if missing */
        const char *output_path;             /* overrides cfg->output_image_path */
        enum cfg_image_format output_format; /* overrides cfg->output_image_format */
        bool show_progress; /* a live elapsed-time line on long steps (a terminal) */
        /* Progress as JSON lines on stderr for programs to read (one object a line, each
         * with "event"; see bld_progress_*), besides the log; no live line. */
        bool progress_json;
        /* Where a bootstrap initramfs fetches image.iso from when the config sets neither
         * pxe.bootstrapBaseUrl nor pxe.bootstrapFileUrl (`pxeforge up`: its own HTTP). */
        const char *default_bootstrap_base_url;
        /* The build cache for live outputs (NULL: BUILD_DIR/cache); no_cache bypasses it. */
        const char *cache_dir;
        /* Where the trees exported from input images are kept (NULL: the build cache):
         * several build dirs may share one. no_cache bypasses it too. */
        const char *image_tree_cache_dir;
        struct bld_package_sources sources;
        bool no_cache;
};

/* The build cache's bound: the entries used longest ago go first beyond it. */
#define BLD_CACHE_MAX_BYTES (8ull << 30)

/* Runs a whole customization in a supervised child. Returns 0 on success, -ECANCELED
 * when interrupted by SIGINT/SIGTERM, or another negative errno with err filled. */
int bld_run(const struct bld_options *opts, struct pxf_error *err);
/* The same supervision for `convert`: opts->image_path written to opts->output_path in
 * opts->output_format (a disk format; cfg is not used), with no customization. */
int bld_convert(const struct bld_options *opts, struct pxf_error *err);
/* Whether the file is an ISO 9660 image (a CD001 volume descriptor at 32 KiB). */
bool bld_is_iso9660(const char *path);

/* Detects the container format of an image from its content (never its name). Pure
 * apart from reading the file's first and last sectors. */
int bld_detect_disk_format(const char *path, enum bld_disk_format *ret, struct pxf_error *err);
/* The same from the first bytes of a file and its last 512 bytes (for VHD's footer). */
enum bld_disk_format bld_disk_format_from_bytes(const unsigned char *head, size_t head_len,
                                                const unsigned char *tail, size_t tail_len);
const char *bld_disk_format_qemu_name(enum bld_disk_format f);
