/* pxeforge convert: one disk image written in another disk format, as the reference
 * tool's convert does, with no customization. */
#include <stddef.h>
#include <unistd.h>

#include "builder/builder.h"
#include "common/common.h"
#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

#define ARG(m) offsetof(struct bld_options, m)

static const struct cli_option options[] = {
    {"image-file", "FILE", CLI_STRING, ARG(image_path), NULL, true,
     "the input disk image: raw, qcow2, vhd or vhdx, told apart by content (an ISO is "
     "refused)"},
    {"output-image-file", "PATH", CLI_STRING, ARG(output_path), NULL, true,
     "the output file, written whole through a temporary name"},
    {"output-path", "PATH", CLI_STRING, ARG(output_path), NULL, false,
     "the same as --output-image-file"},
    {"output-image-format", "FMT", CLI_CUSTOM, ARG(output_format), cli_parse_image_format, false,
     "raw, qcow2, vhd, vhd-fixed or vhdx (required)"},
    {"build-dir", "DIR", CLI_STRING, ARG(build_dir), NULL, false,
     "scratch space for the run's log (default " BLD_DEFAULT_BUILD_DIR ")"},
    {"cosi-compression-level", "LEVEL", CLI_REFUSED, 0, NULL, false,
     "pxeforge writes no COSI files"},
    {"tools-dir", "DIR", CLI_REFUSED, 0, NULL, false, "convert needs no tools of the image"},
};

static void init(void *args)
{
        ((struct bld_options *)args)->show_progress = isatty(STDERR_FILENO);
}

static int check(void *args)
{
        if (((struct bld_options *)args)->output_format)
                return PXF_EXIT_OK;
        log_error("convert needs --output-image-format");
        return PXF_EXIT_USAGE;
}

static int run(void *args)
{
        struct pxf_error err = {0};
        int r = bld_convert(args, &err);

        return build_exit_status(r, &err);
}

const struct cli_command cli_cmd_convert = {
    .name = "convert",
    .synopsis = "--image-file FILE --output-image-file PATH --output-image-format FMT",
    .summary = "write a disk image in another disk format, unchanged",
    .description = "Writes a disk image (raw, qcow2, vhd or vhdx; detected from its content) in\n"
                   "another disk format with qemu-img, without customizing it. The input is only\n"
                   "read; the output appears only when complete, and an interrupted or failed run\n"
                   "leaves it untouched.\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 success, 1 failed, 2 bad command line, 130 interrupted.",
    .args_size = sizeof(struct bld_options),
    .init = init,
    .check = check,
    .run = run,
};
