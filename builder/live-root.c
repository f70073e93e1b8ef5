/* liveRoot.omit (pxeforge's own key): what a live system can go without, removed from the
 * exported tree after every other step, so that the squashfs a bootstrap machine downloads
 * into memory, or the full-OS initramfs, is smaller. Only live outputs export a tree, and
 * bld_extras_check refuses the key for disk outputs before any work.
 *
 * Each package's copyright file stays: a system that carries a package's files carries its
 * license too. Folders stay (empty), since packages that add files later expect them. */
#include <errno.h>
#include <string.h>

#include "builder/builder-internal.h"

struct cut {
        unsigned flag;
        const char *name;         /* as in the config */
        const char *const *roots; /* tree paths whose entries go */
        const char *keep;         /* in each folder among them, the name that stays */
        bool folders_only;        /* files at the top of a root stay */
};

static const char *const doc_roots[] = {"/usr/share/doc", NULL};
static const char *const man_roots[] = {"/usr/share/man", "/usr/share/info", NULL};
static const char *const locale_roots[] = {"/usr/share/locale", NULL};

static const struct cut cuts[] = {
    {CFG_OMIT_DOCUMENTATION, "documentation", doc_roots, "copyright", false},
    {CFG_OMIT_MAN_PAGES, "manPages", man_roots, NULL, false},
    /* a folder per language; locale.alias and the like stay */
    {CFG_OMIT_LOCALES, "locales", locale_roots, NULL, true},
};

/* Removes what is in dir, but a file named keep; returns how many entries went. */
static int empty_dir(struct bld_guest *gs, const char *dir, const char *keep, unsigned *count,
                     struct pxf_error *err)
{
        _cleanup_strv_free_ char **names = bld_guest_ls(gs, dir);
        int r = 0;

        for (size_t i = 0; names && names[i] && r >= 0; i++) {
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, names[i]);
                if (keep && strcmp(names[i], keep) == 0)
                        continue;
                r = bld_guest_remove(gs, path, err);
                if (r >= 0)
                        (*count)++;
        }
        return r;
}

static int apply_cut(struct bld_guest *gs, const struct cut *c, struct pxf_error *err)
{
        unsigned count = 0;
        int r = 0;

        for (size_t i = 0; c->roots[i] && r >= 0; i++) {
                _cleanup_strv_free_ char **names = bld_guest_ls(gs, c->roots[i]);
                for (size_t j = 0; names && names[j] && r >= 0; j++) {
                        _cleanup_free_ char *path = pxf_asprintf("%s/%s", c->roots[i], names[j]);
                        bool dir = bld_guest_is_dir(gs, path);
                        if (dir && c->keep)
                                r = empty_dir(gs, path, c->keep, &count, err);
                        else if (dir || !c->folders_only) {
                                r = bld_guest_remove(gs, path, err);
                                count += r >= 0;
                        }
                }
        }
        if (r >= 0)
                log_info("  liveRoot.omit %s: %u entries removed", c->name, count);
        return r;
}

static bool live_root_wanted(const struct cfg_config *cfg)
{
        return cfg->live_root_omit != 0;
}

static int live_root_apply(struct bld_guest *gs, const struct cfg_config *cfg,
                           struct pxf_error *err)
{
        int r = 0;

        for (size_t i = 0; i < PXF_ELEMENTSOF(cuts) && r >= 0; i++)
                if (cfg->live_root_omit & cuts[i].flag)
                        r = apply_cut(gs, &cuts[i], err);
        return r;
}

const struct bld_step bld_step_live_root = {"live root cuts", live_root_wanted, live_root_apply};
