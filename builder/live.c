/* Live outputs (pxe-dir, pxe-tar, iso): the image's root tree leaves the appliance
 * (export.c) into the work dir as soon as the image is open, the appliance is closed, the
 * customization steps run on the tree (tree.c: file operations resolved inside it,
 * programs in a container), and the artifacts module makes the output from it. */
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

static char *tree_path(const struct bld_job *job)
{
        return pxf_asprintf("%s/rootfs", job->work_dir);
}

int bld_live_export(const struct bld_job *job, struct bld_guest *gs, bool network,
                    struct bld_progress *prog, struct pxf_error *err)
{
        _cleanup_free_ char *tree = tree_path(job);
        int r;

        bld_progress_begin(prog, "export the image's tree");
        r = bld_progress_end(prog, export_tree(gs, tree, err));
        if (r >= 0) {
                bld_progress_begin(prog, "close image");
                r = bld_progress_end(prog, bld_guest_switch_to_tree(gs, tree, network, err));
        }
        return r;
}

int bld_live_make(const struct bld_job *job, const struct bld_live_cache *lc,
                  struct bld_progress *prog, struct pxf_error *err)
{
        _cleanup_free_ char *tree = tree_path(job);
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
            .cache = lc->cache,
            .tree_key = lc->cache ? lc->tree_key : NULL,
        };
        int r;

        bld_progress_begin(prog, job->format == CFG_FORMAT_ISO ? "make the live ISO"
                                                               : "make PXE artifacts");
        r = bld_progress_end(prog, art_make(&req, err));
        return r < 0 ? r : art_publish(&req, err);
}
