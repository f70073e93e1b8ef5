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

char *bld_live_tree_path(const struct bld_job *job)
{
        return pxf_asprintf("%s/rootfs", job->work_dir);
}

int bld_live_export(const struct bld_job *job, struct bld_guest *gs, bool network,
                    struct bld_progress *prog, struct pxf_error *err)
{
        _cleanup_free_ char *tree = bld_live_tree_path(job);
        int r;

        bld_progress_begin(prog, "export the image's tree");
        r = bld_progress_end(prog, export_tree(gs, tree, err));
        if (r >= 0) {
                bld_progress_begin(prog, "close image");
                r = bld_progress_end(prog, bld_guest_switch_to_tree(gs, tree, network, err));
        }
        return r;
}

static struct art_request live_request(const struct bld_job *job, const struct bld_live_cache *lc,
                                       struct bld_progress *prog, const char *tree)
{
        return (struct art_request){
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
}

/* Keeping the output is worth a warning when it fails, not a failed build. */
static int save_output(const struct bld_job *job, const struct bld_live_cache *lc,
                       const struct art_request *req)
{
        struct pxf_error err = {0};
        bool is_dir;
        _cleanup_free_ char *made = art_made_path(req, &is_dir);

        if (bld_cache_keep(lc->cache, lc->output_key, made, is_dir, job->work_dir, &err) < 0)
                log_warning("the output is not kept in the cache: %s", err.msg);
        return 0;
}

int bld_live_make(const struct bld_job *job, const struct bld_live_cache *lc,
                  struct bld_progress *prog, struct pxf_error *err)
{
        _cleanup_free_ char *tree = bld_live_tree_path(job);
        const struct art_request req = live_request(job, lc, prog, tree);
        int r;

        bld_progress_begin(prog, job->format == CFG_FORMAT_ISO ? "make the live ISO"
                                                               : "make PXE artifacts");
        r = bld_progress_end(prog, art_make(&req, err));
        if (r >= 0 && lc->cache) {
                bld_progress_begin(prog, "keep the output in the cache");
                r = bld_progress_end(prog, save_output(job, lc, &req));
        }
        return r < 0 ? r : art_publish(&req, err);
}

int bld_live_fetch_output(const struct bld_job *job, struct bld_live_cache *lc,
                          struct pxf_error *err)
{
        const struct art_request req = live_request(job, lc, NULL, NULL);
        bool is_dir;
        _cleanup_free_ char *made = art_made_path(&req, &is_dir);
        int r =
            bld_output_key(job->opts->cfg, lc->tree_key, cfg_image_format_to_string(job->format),
                           job->opts->default_bootstrap_base_url, lc->output_key, err);

        if (r >= 0)
                r = bld_cache_take(lc->cache, lc->output_key, made, is_dir, job->work_dir,
                                   &lc->output_archive, err);
        lc->output_hit = r == 1;
        return r;
}

static int restore_output(const struct art_request *req, const char *archive, struct pxf_error *err)
{
        bool is_dir;
        _cleanup_free_ char *made = art_made_path(req, &is_dir);
        int r = archive ? bld_tree_unpack(archive, made, err) : 0;

        return r < 0 ? r : art_publish(req, err);
}

int bld_live_restore(const struct bld_job *job, const struct bld_live_cache *lc,
                     struct bld_progress *prog, struct pxf_error *err)
{
        const struct art_request req = live_request(job, lc, prog, NULL);

        bld_progress_begin(prog, "restore the output from the cache");
        return bld_progress_end(prog, restore_output(&req, lc->output_archive, err));
}
