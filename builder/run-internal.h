/* One build, as the supervisor (supervise.c) prepares it for the child that does it. */
#pragma once

#include "builder/builder.h"

struct bld_job {
        const struct bld_options *opts;
        const char *image;  /* input image */
        const char *output; /* final output path */
        enum cfg_image_format format;
        char *work_dir; /* private to this run; removed by the supervisor */
        char *overlay;  /* qcow2 over the input, inside work_dir */
        char *partial;  /* the output while it is written, beside output */
};

struct bld_guest;
struct bld_progress;

/* Live formats: exports the customized tree, closes the guest (on success) and makes and
 * publishes the artifacts. On failure the guest may still be open. */
int bld_live_make(const struct bld_job *job, struct bld_guest *gs, struct bld_progress *prog,
                  struct pxf_error *err);

/* The work of the child: customize and publish the output. */
int bld_job_customize(const struct bld_job *job, struct pxf_error *err);
