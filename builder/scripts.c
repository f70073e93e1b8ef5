/* scripts.postCustomization and scripts.finalizeCustomization: each script is copied into
 * the image and run there, chrooted by the libguestfs daemon, never on the host. */
#include <errno.h>
#include <string.h>

#include "builder/builder-internal.h"

#define SCRIPT_DIR      "/tmp/pxeforge-scripts"
#define SCRIPT_ARGS_MAX 256

static int stage(struct bld_guest *gs, const struct cfg_script *s, const char *dst,
                 struct pxf_error *err)
{
        if (s->content)
                return bld_guest_write(gs, dst, s->content, strlen(s->content), 0755, err);
        return bld_guest_upload(gs, s->path, dst, 0755, err);
}

static int run_one(struct bld_guest *gs, const struct cfg_script *s, const char *dst,
                   struct pxf_error *err)
{
        size_t ne = pxf_strv_length(s->environment), na = pxf_strv_length(s->arguments);
        _cleanup_free_ const char **argv = NULL;
        const char *interpreter = s->interpreter;
        size_t n = 0;

        if (ne + na > SCRIPT_ARGS_MAX)
                return pxf_error_set(err, -E2BIG, "too many arguments and variables");
        if (!interpreter && s->content)
                interpreter = "/bin/sh";
        argv = pxf_calloc(ne + na + 5, sizeof(char *));
        argv[n++] = "/usr/bin/env";
        for (size_t i = 0; i < ne; i++)
                argv[n++] = s->environment[i];
        if (interpreter)
                argv[n++] = interpreter;
        argv[n++] = dst;
        for (size_t i = 0; i < na; i++)
                argv[n++] = s->arguments[i];
        return bld_guest_run(gs, argv, err);
}

static int run_scripts(struct bld_guest *gs, const struct cfg_script *scripts, size_t n,
                       const char *kind, struct pxf_error *err)
{
        int r = bld_guest_mkdir_p(gs, SCRIPT_DIR, 0700, err);

        for (size_t i = 0; r >= 0 && i < n; i++) {
                const struct cfg_script *s = &scripts[i];
                _cleanup_free_ char *dst = pxf_asprintf("%s/%s-%zu", SCRIPT_DIR, kind, i);
                const char *label = s->name ? s->name : (s->path ? s->path : "inline");
                log_info("  %s[%zu]: %s", kind, i, label);
                r = stage(gs, s, dst, err);
                if (r >= 0)
                        r = run_one(gs, s, dst, err);
                if (r < 0)
                        r = pxf_error_prefix(err, "scripts.%s[%zu] (%s)", kind, i, label);
        }
        if (r >= 0)
                r = bld_guest_remove(gs, SCRIPT_DIR, err);
        else
                (void)bld_guest_remove(gs, SCRIPT_DIR, NULL);
        return r;
}

static int post_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        return run_scripts(gs, cfg->post_customization, cfg->n_post_customization,
                           "postCustomization", err);
}

static int finalize_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        return run_scripts(gs, cfg->finalize_customization, cfg->n_finalize_customization,
                           "finalizeCustomization", err);
}

static bool post_wanted(const struct cfg_config *cfg)
{
        return cfg->n_post_customization > 0;
}

static bool finalize_wanted(const struct cfg_config *cfg)
{
        return cfg->n_finalize_customization > 0;
}

const struct bld_step bld_step_post_scripts = {"postCustomization scripts", post_wanted,
                                               post_apply};
const struct bld_step bld_step_finalize_scripts = {"finalizeCustomization scripts", finalize_wanted,
                                                   finalize_apply};
