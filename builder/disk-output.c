/* The working disk and the output file, both through qemu-img: a qcow2 overlay over the
 * untouched input, then one conversion into the requested format. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "builder/builder-internal.h"

/* qemu-img check's exit statuses (qemu-img(1)). */
enum {
        CHECK_CLEAN = 0,
        CHECK_CORRUPT = 2,
        CHECK_LEAKS_ONLY = 3,
        CHECK_UNSUPPORTED = 63,
};

int bld_image_check(const char *input, enum bld_disk_format fmt, struct pxf_error *err)
{
        int status = -1;
        struct pxf_spawn_opts opts = {.stdout_fd = -1, .exit_status = &status};
        int r = pxf_spawn_run((const char *[]){"qemu-img", "check", "-q", "-f",
                                               bld_disk_format_qemu_name(fmt), input, NULL},
                              &opts, err);

        if (r >= 0 || status == CHECK_LEAKS_ONLY || status == CHECK_UNSUPPORTED)
                return 0;
        if (status == CHECK_CORRUPT)
                return pxf_error_set(err, -EUCLEAN,
                                     "input image '%s' is corrupted or truncated (qemu-img "
                                     "check found errors in its %s metadata)",
                                     input, bld_disk_format_qemu_name(fmt));
        return pxf_error_prefix(err, "cannot check input image '%s'", input);
}

int bld_overlay_create(const char *input, enum bld_disk_format fmt, const char *path,
                       struct pxf_error *err)
{
        _cleanup_free_ char *abs = realpath(input, NULL);
        int r;

        if (!abs)
                return pxf_error_set(err, -errno, "cannot resolve '%s': %m", input);
        r = pxf_spawn_run((const char *[]){"qemu-img", "create", "-q", "-f", "qcow2", "-F",
                                           bld_disk_format_qemu_name(fmt), "-b", abs, path, NULL},
                          NULL, err);
        return r < 0 ? pxf_error_prefix(err, "cannot open input image '%s' as %s", input,
                                        bld_disk_format_qemu_name(fmt))
                     : 0;
}

struct output_format {
        const char *qemu;
        const char *options;
};

static int output_format(enum cfg_image_format fmt, struct output_format *ret)
{
        switch (fmt) {
        case CFG_FORMAT_RAW:
                *ret = (struct output_format){"raw", NULL};
                return 0;
        case CFG_FORMAT_QCOW2:
                *ret = (struct output_format){"qcow2", NULL};
                return 0;
        case CFG_FORMAT_VHD:
                /* force_size keeps the virtual size exact instead of rounding to CHS. */
                *ret = (struct output_format){"vpc", "subformat=dynamic,force_size=on"};
                return 0;
        case CFG_FORMAT_VHD_FIXED:
                *ret = (struct output_format){"vpc", "subformat=fixed,force_size=on"};
                return 0;
        case CFG_FORMAT_VHDX:
                *ret = (struct output_format){"vhdx", "subformat=dynamic"};
                return 0;
        default:
                return -EINVAL;
        }
}

int bld_disk_convert(const char *src, const char *src_format, enum cfg_image_format fmt,
                     const char *dst, bool progress, struct pxf_error *err)
{
        struct pxf_spawn_opts opts = {.stdout_fd = progress ? PXF_SPAWN_INHERIT : -1};
        const char *argv[16];
        struct output_format of;
        size_t n = 0;

        if (output_format(fmt, &of) < 0)
                return pxf_error_set(err, -EINVAL, "'%s' is not a disk image format",
                                     cfg_image_format_to_string(fmt));
        argv[n++] = "qemu-img";
        argv[n++] = "convert";
        if (progress)
                argv[n++] = "-p";
        argv[n++] = "-f", argv[n++] = src_format;
        argv[n++] = "-O", argv[n++] = of.qemu;
        if (of.options)
                argv[n++] = "-o", argv[n++] = of.options;
        argv[n++] = src;
        argv[n++] = dst;
        argv[n] = NULL;
        return pxf_spawn_run(argv, &opts, err);
}
