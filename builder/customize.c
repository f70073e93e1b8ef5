/* The customization pipeline: open the input through a qcow2 overlay, apply the config's
 * steps in the documented order, write the output beside its final path and rename it.
 * Runs in the supervised child started by bld_run() (supervise.c). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "artifacts/artifacts.h"
#include "builder/builder-internal.h"
#include "builder/run-internal.h"

/* The order the reference tool documents, which existing configs rely on. */
static const struct bld_step *const steps[] = {
    &bld_step_packages,
    &bld_step_hostname,
    &bld_step_groups,
    &bld_step_users,
    &bld_step_dirs,
    &bld_step_files,
    &bld_step_services,
    &bld_step_boot_report, /* pxeforge's own (server.bootReport): a file and a unit */
    &bld_step_modules,
    &bld_step_history,
    &bld_step_bootloader,
    &bld_step_selinux,
    &bld_step_post_scripts,
    &bld_step_remove_package_manager,
    &bld_step_selinux_labels,
    &bld_step_finalize_scripts,
    /* pxeforge's own, after everything that may add files */
    &bld_step_live_root,
};

static unsigned count_steps(const struct cfg_config *cfg, enum cfg_image_format format,
                            const struct bld_live_cache *lc)
{
        /* open, close, write output; or open, export, close, make artifacts (and keep the
         * image's tree, the customized tree and the output in the cache), or restore the
         * image's tree instead of the first three; or, from the cache, restore the tree,
         * make artifacts and keep them; or restore the output */
        unsigned n = cfg_image_format_is_disk(format) ? 3 + bld_extras_wanted(cfg)
                     : lc->cache                      ? 6
                                                      : 4;

        if (lc->images)
                n = lc->image.archive ? n - 2 : n + 1;
        if (lc->output_hit)
                return 1;
        if (lc->archive)
                return 3;
        for (size_t i = 0; i < PXF_ELEMENTSOF(steps); i++)
                n += steps[i]->wanted(cfg);
        return n;
}

static void release_image_lock(struct bld_live_cache *lc)
{
        if (lc->image_lock >= 0)
                (void)close(lc->image_lock);
        lc->image_lock = -1;
}

/* The image's bytes, hashed once for the keys of both trees. */
static int image_digest(const char *image, char hex[CACHE_KEY_HEX + 1], struct pxf_error *err)
{
        struct cache_key *k = cache_key_new("input image");
        int r = cache_key_add_file(k, "image", image, err);

        if (r >= 0)
                cache_key_finish(k, hex); /* frees k */
        else
                cache_key_free(k);
        return r;
}

/* On a miss of the customized tree: the image's own tree. Trouble there only costs the
 * export. */
static void plan_image_tree(const struct bld_job *job, struct bld_live_cache *lc,
                            const char *image_sha256)
{
        struct pxf_error err = {0};
        int r = cache_open(job->image_tree_cache_dir, BLD_CACHE_MAX_BYTES, &lc->images, &err);

        if (r >= 0)
                r = bld_image_tree_key(image_sha256, lc->image_key, &err);
        /* Another build may be exporting it now: it is kept when that one is done. On a
         * miss the lock stays until this build has kept it (save_image_tree). */
        if (r >= 0)
                lc->image_lock = cache_lock_making(lc->images, lc->image_key);
        if (r >= 0)
                r = bld_image_tree_take(lc->images, lc->image_key, job->work_dir, &lc->image, &err);
        if (r != 0)
                release_image_lock(lc);
        if (r < 0) {
                log_warning("the image's tree is neither taken from nor kept in '%s': %s",
                            job->image_tree_cache_dir, err.msg);
                lc->images = cache_close(lc->images);
        } else {
                log_info("the image's tree %.12s: %s", lc->image_key,
                         r == 1 ? "from the cache" : "not in the cache, exported now");
        }
}

/* Looks the output up, then the customized tree, then the image's tree; any trouble with
 * the cache only costs the time it would have saved. */
static void plan_live_cache(const struct bld_job *job, struct bld_live_cache *lc)
{
        struct pxf_error err = {0};
        char image_sha256[CACHE_KEY_HEX + 1];
        int r;

        if (!job->cache_dir)
                return;
        r = cache_open(job->cache_dir, BLD_CACHE_MAX_BYTES, &lc->cache, &err);
        if (r >= 0)
                r = image_digest(job->image, image_sha256, &err);
        if (r >= 0)
                r = bld_tree_key(job->opts->cfg, &job->opts->sources, image_sha256, lc->tree_key,
                                 &err);
        if (r >= 0)
                r = bld_live_fetch_output(job, lc, &err);
        if (r == 0)
                r = bld_cache_take(lc->cache, lc->tree_key, NULL, true, job->work_dir, &lc->archive,
                                   &err);
        if (r < 0) {
                log_warning("the build cache is not used: %s", err.msg);
                lc->cache = cache_close(lc->cache);
        } else if (lc->output_hit) {
                log_info("output %.12s of customized tree %.12s: from the cache", lc->output_key,
                         lc->tree_key);
        } else {
                log_info("customized tree %.12s: %s", lc->tree_key,
                         r == 1 ? "from the cache" : "not in the cache, built now");
        }
        if (r == 0)
                plan_image_tree(job, lc, image_sha256);
}

static void live_cache_clear(struct bld_live_cache *lc)
{
        lc->cache = cache_close(lc->cache);
        lc->images = cache_close(lc->images);
        release_image_lock(lc);
        bld_image_tree_clear(&lc->image);
        free(lc->archive);
        lc->archive = NULL;
        free(lc->output_archive);
        lc->output_archive = NULL;
}

/* Keeping the tree is worth a warning when it fails, not a failed build. */
static int save_tree(const struct bld_job *job, const struct bld_live_cache *lc)
{
        _cleanup_free_ char *tree = bld_live_tree_path(job);
        struct pxf_error err = {0};

        if (bld_cache_keep(lc->cache, lc->tree_key, tree, true, job->work_dir, &err) < 0)
                log_warning("the customized tree is not kept in the cache: %s", err.msg);
        return 0;
}

/* Right after the export, before any step changes the tree; a warning when it fails. */
static int save_image_tree(const struct bld_job *job, struct bld_live_cache *lc,
                           const struct bld_guest *gs)
{
        _cleanup_free_ char *tree = bld_live_tree_path(job);
        struct pxf_error err = {0};

        if (bld_image_tree_keep(lc->images, lc->image_key, gs, tree, job->work_dir, &err) < 0)
                log_warning("the image's tree is not kept in the cache: %s", err.msg);
        release_image_lock(lc);
        return 0;
}

/* Package managers and the config's scripts may fetch from the network. */
static bool steps_need_network(const struct cfg_config *cfg)
{
        return bld_packages_wanted(cfg) || cfg->n_post_customization > 0 ||
               cfg->n_finalize_customization > 0;
}

/* The appliance gets the network only when the steps run in it (disk outputs). */
static int open_guest(const struct bld_job *job, struct bld_guest *gs, struct pxf_error *err)
{
        const struct cfg_config *cfg = job->opts->cfg;
        bool live = !cfg_image_format_is_disk(job->format);
        enum bld_disk_format fmt;
        struct bld_guest_params p = {
            .disk = job->overlay,
            .format = "qcow2",
            .image_name = job->image,
            .tmpdir = job->work_dir,
            .network = !live && steps_need_network(cfg),
            .live = live,
        };
        int r = bld_detect_disk_format(job->image, &fmt, err);

        if (r >= 0)
                log_info("input image '%s' is %s", job->image, bld_disk_format_qemu_name(fmt));
        if (r >= 0)
                r = bld_image_check(job->image, fmt, err);
        if (r >= 0)
                r = bld_overlay_create(job->image, fmt, job->overlay, err);
        if (r >= 0)
                r = bld_guest_open(gs, &p, err);
        return r;
}

static int apply_steps(struct bld_guest *gs, const struct cfg_config *cfg,
                       struct bld_progress *prog, struct pxf_error *err)
{
        for (size_t i = 0; i < PXF_ELEMENTSOF(steps); i++) {
                int r;
                if (!steps[i]->wanted(cfg))
                        continue;
                bld_progress_begin(prog, steps[i]->name);
                r = bld_progress_end(prog, steps[i]->apply(gs, cfg, err));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A live build whose customized tree is in the cache: unpack it, make the artifacts. */
static int live_from_cache(const struct bld_job *job, const struct bld_live_cache *lc,
                           struct bld_progress *prog, struct pxf_error *err)
{
        _cleanup_free_ char *tree = bld_live_tree_path(job);
        int r;

        bld_progress_begin(prog, "restore the customized tree from the cache");
        r = bld_progress_end(prog, bld_tree_unpack(lc->archive, tree, err));
        return r < 0 ? r : bld_live_make(job, lc, prog, err);
}

/* A live build whose image's tree is in the cache: that tree instead of the appliance. */
static int restore_image_tree(const struct bld_job *job, const struct bld_live_cache *lc,
                              struct bld_guest *gs, struct bld_progress *prog,
                              struct pxf_error *err)
{
        _cleanup_free_ char *tree = bld_live_tree_path(job);
        int r;

        bld_progress_begin(prog, "restore the image's tree from the cache");
        r = bld_tree_unpack(lc->image.archive, tree, err);
        if (r >= 0)
                r = bld_guest_open_tree(gs, job->image, lc->image.distro, lc->image.major_version,
                                        tree, steps_need_network(job->opts->cfg), err);
        return bld_progress_end(prog, r);
}

/* The appliance, and for a live output the export (kept in the cache when it has one). */
static int open_image(const struct bld_job *job, struct bld_live_cache *lc, struct bld_guest *gs,
                      struct bld_progress *prog, struct pxf_error *err)
{
        const struct cfg_config *cfg = job->opts->cfg;
        bool live = !cfg_image_format_is_disk(job->format);
        int r;

        if (live && lc->image.archive)
                return restore_image_tree(job, lc, gs, prog, err);
        bld_progress_begin(prog, "open image");
        r = bld_progress_end(prog, open_guest(job, gs, err));
        if (r >= 0 && live)
                r = bld_live_export(job, gs, steps_need_network(cfg), prog, err);
        if (r >= 0 && live && lc->images) {
                bld_progress_begin(prog, "keep the image's tree in the cache");
                r = bld_progress_end(prog, save_image_tree(job, lc, gs));
        }
        return r;
}

/* Disk outputs are customized in the appliance and written back; live outputs leave the
 * appliance as a tree first and are customized there at native speed (live.c). */
static int customize(const struct bld_job *job, struct bld_live_cache *lc,
                     struct bld_progress *prog, struct pxf_error *err)
{
        const struct cfg_config *cfg = job->opts->cfg;
        bool live = !cfg_image_format_is_disk(job->format);
        struct bld_guest gs = {.tree_fd = -1};
        int r;

        if (lc->output_hit)
                return bld_live_restore(job, lc, prog, err);
        if (lc->archive)
                return live_from_cache(job, lc, prog, err);
        r = open_image(job, lc, &gs, prog, err);
        if (r >= 0)
                r = bld_selinux_live_mode_check(&gs, cfg, err);
        gs.sources = &job->opts->sources;
        gs.work_dir = job->work_dir;
        if (r >= 0 && live && job->cache_dir)
                gs.package_cache =
                    pxf_asprintf("%s/packages/%s-%d", job->cache_dir, gs.distro, gs.major_version);
        if (r >= 0)
                r = apply_steps(&gs, cfg, prog, err);
        if (r >= 0 && live)
                r = bld_selinux_live_check(&gs, cfg, art_live_initramfs(cfg, job->format), err);
        if (r >= 0 && live && lc->cache) {
                bld_progress_begin(prog, "keep the customized tree in the cache");
                r = bld_progress_end(prog, save_tree(job, lc));
        }
        if (r >= 0 && live)
                r = bld_live_make(job, lc, prog, err);
        if (r >= 0 && !live && bld_extras_wanted(cfg)) {
                bld_progress_begin(prog, "copy boot files and policy out of the image");
                r = bld_progress_end(prog, bld_copy_extras(&gs, cfg, err));
        }
        if (r >= 0 && !live) {
                bld_progress_begin(prog, "close image");
                r = bld_progress_end(prog, bld_guest_close(&gs, err));
        }
        bld_guest_abort(&gs);
        return r;
}

/* Writes src as the job's disk output through its partial path. */
static int write_output(const struct bld_job *job, const char *src, const char *src_format,
                        struct pxf_error *err)
{
        int r = bld_disk_convert(src, src_format, job->format, job->partial,
                                 job->opts->show_progress, err);

        if (r < 0)
                return pxf_error_prefix(err, "cannot write '%s'", job->output);
        r = pxf_publish_file(job->partial, job->output);
        if (r < 0)
                return pxf_error_set(err, r, "cannot move the output into place at '%s': %s",
                                     job->output, strerror(-r));
        return 0;
}

int bld_job_convert(const struct bld_job *job, struct pxf_error *err)
{
        enum bld_disk_format fmt;
        int r = bld_detect_disk_format(job->image, &fmt, err);

        if (r >= 0 && bld_is_iso9660(job->image))
                r = pxf_error_set(err, -EMEDIUMTYPE,
                                  "input image '%s' is an ISO 9660 image; convert takes disk "
                                  "images (raw, qcow2, vhd, vhdx)",
                                  job->image);
        if (r >= 0)
                r = bld_image_check(job->image, fmt, err);
        if (r < 0)
                return r;
        log_info("writing '%s' (%s) as %s: %s", job->image, bld_disk_format_qemu_name(fmt),
                 cfg_image_format_to_string(job->format), job->output);
        return write_output(job, job->image, bld_disk_format_qemu_name(fmt), err);
}

int bld_job_customize(const struct bld_job *job, struct pxf_error *err)
{
        struct bld_live_cache lc = {.image_lock = -1};
        struct bld_progress prog;
        int r = bld_extras_check(job->opts->cfg, job->format, err);

        if (r >= 0)
                r = bld_sources_check(&job->opts->sources, err);
        if (r < 0)
                return r;
        if (!cfg_image_format_is_disk(job->format))
                plan_live_cache(job, &lc);
        bld_progress_init(&prog, count_steps(job->opts->cfg, job->format, &lc),
                          job->opts->show_progress, job->opts->progress_json);
        r = customize(job, &lc, &prog, err);
        live_cache_clear(&lc);
        if (r >= 0 && cfg_image_format_is_disk(job->format)) {
                bld_progress_begin(&prog, "write output");
                r = bld_progress_end(&prog, write_output(job, job->overlay, "qcow2", err));
        }
        bld_progress_done(&prog);
        if (r >= 0)
                log_info("wrote %s (%s)", job->output, cfg_image_format_to_string(job->format));
        return r;
}
