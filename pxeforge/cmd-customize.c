/* pxeforge customize: the command line of a build. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "builder/builder.h"
#include "common/common.h"
#include "pxeforge/commands.h"

static const char usage[] =
    "Usage: pxeforge customize --config-file FILE [OPTIONS]\n"
    "\n"
    "Opens a Linux disk image (raw, qcow2, vhd or vhdx; detected from its content),\n"
    "applies the configuration's `os` and `scripts` sections inside the image, and\n"
    "writes the result: a disk image, a live ISO, or PXE artifacts (a folder or a\n"
    ".tar.gz) with a full-OS or a bootstrap initramfs (see the `pxe` and `iso`\n"
    "sections). The input image is never modified; the output appears only when\n"
    "complete, and an interrupted or failed run leaves it untouched.\n"
    "\n"
    "  --config-file FILE           the YAML configuration (required)\n"
    "  --image-file FILE            input image (overrides input.image.path)\n"
    "  --output-path PATH           output file or folder (overrides\n"
    "  --output-image-file PATH       output.image.path); the two are the same\n"
    "  --output-image-format FMT    raw, qcow2, vhd, vhd-fixed, vhdx, iso, pxe-dir or\n"
    "                               pxe-tar (overrides output.image.format;\n"
    "                               default: from the output's extension: .raw .img\n"
    "                               .qcow2 .vhd .vhdx .iso .tar.gz)\n"
    "  --build-dir DIR              scratch space (default " BLD_DEFAULT_BUILD_DIR ")\n"
    "  --bootstrap-base-url URL     where a bootstrap initramfs fetches image.iso\n"
    "                               when the config sets no pxe.bootstrap*Url\n"
    "  --log-level LEVEL            error, warning, info (default) or debug\n"
    "  --help                       print this help\n"
    "\n"
    "Exit status: 0 success, 1 build failed, 2 bad command line, 3 invalid\n"
    "configuration, 130 interrupted.\n";

enum {
        OPT_IMAGE = 256,
        OPT_CONFIG,
        OPT_BUILD_DIR,
        OPT_FORMAT,
        OPT_OUTPUT,
        OPT_LOG_LEVEL,
        OPT_BOOTSTRAP_URL,
};

static const struct option long_options[] = {
    {"image-file", required_argument, NULL, OPT_IMAGE},
    {"config-file", required_argument, NULL, OPT_CONFIG},
    {"build-dir", required_argument, NULL, OPT_BUILD_DIR},
    {"output-image-format", required_argument, NULL, OPT_FORMAT},
    {"output-path", required_argument, NULL, OPT_OUTPUT},
    {"output-image-file", required_argument, NULL, OPT_OUTPUT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"bootstrap-base-url", required_argument, NULL, OPT_BOOTSTRAP_URL},
    {"help", no_argument, NULL, 'h'},
    {0},
};

struct customize_args {
        struct bld_options build;
        const char *config;
};

static int parse_option(int c, struct customize_args *a)
{
        switch (c) {
        case OPT_IMAGE:
                a->build.image_path = optarg;
                return PXF_EXIT_OK;
        case OPT_CONFIG:
                a->config = optarg;
                return PXF_EXIT_OK;
        case OPT_BUILD_DIR:
                a->build.build_dir = optarg;
                return PXF_EXIT_OK;
        case OPT_OUTPUT:
                a->build.output_path = optarg;
                return PXF_EXIT_OK;
        case OPT_FORMAT:
                if (cfg_image_format_from_string(optarg, &a->build.output_format) < 0) {
                        log_error("unknown --output-image-format '%s' (expected raw, qcow2, "
                                  "vhd, vhd-fixed, vhdx, iso, pxe-dir or pxe-tar)",
                                  optarg);
                        return PXF_EXIT_USAGE;
                }
                return PXF_EXIT_OK;
        case OPT_LOG_LEVEL:
                return set_log_level(optarg);
        case OPT_BOOTSTRAP_URL:
                a->build.default_bootstrap_base_url = optarg;
                return PXF_EXIT_OK;
        default:
                return PXF_EXIT_USAGE;
        }
}

static int parse_args(int argc, char **argv, struct customize_args *a)
{
        int c, r;

        while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
                if (c == 'h') {
                        fputs(usage, stdout);
                        return -1;
                }
                r = parse_option(c, a);
                if (r != PXF_EXIT_OK) {
                        fputs(usage, stderr);
                        return r;
                }
        }
        if (!a->config || optind != argc) {
                log_error("customize needs --config-file and no other arguments");
                fputs(usage, stderr);
                return PXF_EXIT_USAGE;
        }
        return PXF_EXIT_OK;
}

int cmd_customize(int argc, char **argv)
{
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        struct customize_args a = {.build.show_progress = isatty(STDERR_FILENO)};
        struct pxf_error err = {0};
        int r = parse_args(argc, argv, &a);

        if (r != PXF_EXIT_OK)
                return r < 0 ? PXF_EXIT_OK : r;
        r = load_config(a.config, true, &cfg);
        if (r != PXF_EXIT_OK)
                return r;
        a.build.cfg = cfg;
        r = bld_run(&a.build, &err);
        if (r == -ECANCELED) {
                log_error("interrupted; the output was not written");
                return PXF_EXIT_INTERRUPTED;
        }
        if (r < 0) {
                log_error("%s", err.msg);
                return PXF_EXIT_FAILED;
        }
        return PXF_EXIT_OK;
}
