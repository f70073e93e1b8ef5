/* Live outputs (pxe-dir, pxe-tar, iso): after customization the root tree leaves the
 * appliance (export.c) into the work dir, the appliance is closed, and the artifacts
 * module makes the output from the tree on the host. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "artifacts/artifacts.h"
#include "builder/builder-internal.h"
#include "builder/run-internal.h"

static int export_tree(struct bld_guest *gs, const char *tree, struct pxf_error *err)
{
        if (mkdir(tree, 0755) < 0)
                return pxf_error_set(err, -errno, "cannot create '%s': %m", tree);
        return bld_export_tree(gs, tree, err);
}

static void on_artifact(const char *name, uint64_t bytes, double seconds, void *userdata)
{
        bld_progress_artifact(userdata, name, bytes, seconds);
}

int bld_live_make(const struct bld_job *job, struct bld_guest *gs, struct bld_progress *prog,
                  struct pxf_error *err)
{
        _cleanup_free_ char *tree = pxf_asprintf("%s/rootfs", job->work_dir);
        const struct art_request req = {
            .cfg = job->opts->cfg,
            .format = job->format,
            .tree = tree,
            .work_dir = job->work_dir,
            .output = job->output,
            .partial = job->partial,
            .default_bootstrap_base_url = job->opts->default_bootstrap_base_url,
            .on_artifact = on_artifact,
            .userdata = prog,
        };
        int r;

        bld_progress_begin(prog, "export the customized tree");
        r = bld_progress_end(prog, export_tree(gs, tree, err));
        if (r >= 0) {
                bld_progress_begin(prog, "close image");
                r = bld_progress_end(prog, bld_guest_close(gs, err));
        }
        if (r >= 0) {
                bld_progress_begin(prog, job->format == CFG_FORMAT_ISO ? "make the live ISO"
                                                                       : "make PXE artifacts");
                r = bld_progress_end(prog, art_make(&req, err));
        }
        return r < 0 ? r : art_publish(&req, err);
}
