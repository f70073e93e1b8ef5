/* Package operations with the image's own package manager, run inside the libguestfs
 * appliance with its network enabled.
 *
 * Why inside the appliance and not on an extracted tree: the result has to land in the
 * disk image, and a package install costs ~20 s in the appliance (platform notes) while
 * extracting and re-packing a 1 GB tree costs over a minute each way. */
#include <errno.h>
#include <string.h>

#include "builder/builder-internal.h"

#define APT_ENV "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8"
#define APT_GET                                                                                    \
        APT_ENV, "apt-get", "-y", "-q", "-o", "Dpkg::Options::=--force-confdef", "-o",             \
            "Dpkg::Options::=--force-confold"

struct pkg_commands {
        const char *const *refresh;
        const char *const *upgrade_all;
        const char *const *install;
        const char *const *remove;
        const char *const *update;
        const char *const *clean;
};

static const char *const apt_refresh[] = {APT_GET, "update", NULL};
static const char *const apt_upgrade[] = {APT_GET, "upgrade", NULL};
static const char *const apt_install[] = {APT_GET, "install", NULL};
static const char *const apt_remove[] = {APT_GET, "remove", NULL};
static const char *const apt_update[] = {APT_GET, "install", "--only-upgrade", NULL};
static const char *const apt_clean[] = {APT_ENV, "apt-get", "clean", NULL};

static const char *const dnf_refresh[] = {"dnf", "-y", "makecache", NULL};
static const char *const dnf_upgrade[] = {"dnf", "-y", "upgrade", NULL};
static const char *const dnf_install[] = {"dnf", "-y", "install", NULL};
static const char *const dnf_remove[] = {"dnf", "-y", "remove", NULL};
static const char *const dnf_update[] = {"dnf", "-y", "upgrade", NULL};
static const char *const dnf_clean[] = {"dnf", "clean", "all", NULL};

static const char *const tdnf_refresh[] = {"tdnf", "-y", "makecache", NULL};
static const char *const tdnf_upgrade[] = {"tdnf", "-y", "upgrade", NULL};
static const char *const tdnf_install[] = {"tdnf", "-y", "install", NULL};
static const char *const tdnf_remove[] = {"tdnf", "-y", "remove", NULL};
static const char *const tdnf_update[] = {"tdnf", "-y", "upgrade", NULL};
static const char *const tdnf_clean[] = {"tdnf", "clean", "all", NULL};

static const struct pkg_commands package_managers[] = {
    [BLD_PKG_APT] = {apt_refresh, apt_upgrade, apt_install, apt_remove, apt_update, apt_clean},
    [BLD_PKG_DNF] = {dnf_refresh, dnf_upgrade, dnf_install, dnf_remove, dnf_update, dnf_clean},
    [BLD_PKG_TDNF] = {tdnf_refresh, tdnf_upgrade, tdnf_install, tdnf_remove, tdnf_update,
                      tdnf_clean},
};

/* man-db's trigger rebuilds the manual page index after every install (tens of seconds)
 * while this file exists; a live build sets it aside and puts it back. */
#define MANDB_AUTO_UPDATE "/var/lib/man-db/auto-update"

/* Keeps maintainer scripts from starting services inside the appliance. */
#define POLICY_RC_D "/usr/sbin/policy-rc.d"
static const char policy_rc_d[] = "#!/bin/sh\n# written by pxeforge during a build\nexit 101\n";

/* base + names. For a live output, whose tree is packed right after, the build skips
 * what buys nothing there: INITRD=No tells Debian's kernel and initramfs hooks
 * (initramfs-tools and dracut alike) to leave the image's initramfs alone (the output
 * has its own), and dpkg does not fsync every file it unpacks. */
static int run_with(struct bld_guest *gs, const char *const *base, char *const *names,
                    struct pxf_error *err)
{
        _cleanup_free_ const char **argv = NULL;
        size_t nb = 0, nn = pxf_strv_length(names), n = 0;

        while (base[nb])
                nb++;
        argv = pxf_calloc(nb + nn + 4 + BLD_SOURCES_MAX_OPTIONS, sizeof(char *));
        for (size_t i = 0; i < nb; i++) {
                argv[n++] = base[i];
                if (i == 0 && gs->live && strcmp(base[0], "/usr/bin/env") == 0)
                        argv[n++] = "INITRD=No";
                if (gs->live && strcmp(base[i], "apt-get") == 0) {
                        argv[n++] = "-o";
                        argv[n++] = "Dpkg::Options::=--force-unsafe-io";
                }
                bld_sources_options(gs, base[i], &argv, &n);
        }
        for (size_t i = 0; i < nn; i++)
                argv[n++] = names[i];
        return bld_guest_run(gs, argv, err);
}

/* The packages named in the config plus those of its list files. */
static int gather(char *const *names, char *const *lists, char ***ret, struct pxf_error *err)
{
        _cleanup_strv_free_ char **all = NULL;
        struct cfg_diags diags = {0};

        for (size_t i = 0; names && names[i]; i++)
                pxf_strv_push(&all, names[i]);
        for (size_t i = 0; lists && lists[i]; i++)
                if (cfg_load_package_list(lists[i], &all, &diags) < 0) {
                        _cleanup_free_ char *msg =
                            diags.n ? cfg_diag_format(&diags.items[0]) : pxf_strdup(lists[i]);
                        cfg_diags_clear(&diags);
                        return pxf_error_set(err, -EINVAL, "package list: %s", msg);
                }
        *ret = TAKE_PTR(all);
        return 0;
}

static int step(struct bld_guest *gs, const char *const *cmd, char *const *names,
                char *const *lists, const char *what, struct pxf_error *err)
{
        _cleanup_strv_free_ char **all = NULL;
        int r = gather(names, lists, &all, err);

        if (r < 0 || !all)
                return r;
        log_info("  %s: %zu package(s)", what, pxf_strv_length(all));
        r = run_with(gs, cmd, all, err);
        /* Which list failed, as the config names it: the package manager's own message
         * (which package) follows. */
        return r < 0 ? pxf_error_prefix(err, "os.packages.%s", what) : r;
}

/* Downloaded .deb files of earlier builds of the same release, into apt's cache in the
 * tree (before) and the new ones out of it (before apt-get clean): apt checks each against
 * the signed index before it uses one, so a file of the image's cannot slip in. */
#define APT_ARCHIVES "/var/cache/apt/archives"

static void share_downloads(struct bld_guest *gs, bool into_tree)
{
        int n;

        if (!gs->package_cache || gs->pkg != BLD_PKG_APT)
                return;
        n = bld_tree_share(gs, gs->package_cache, APT_ARCHIVES, ".deb", into_tree);
        if (n < 0)
                log_warning("  the package cache '%s' is not used: %s", gs->package_cache,
                            strerror(-n));
        else if (n > 0)
                log_info("  %d package(s) %s the package cache", n,
                         into_tree ? "offered from" : "kept in");
}

static int apply_in_order(struct bld_guest *gs, const struct cfg_packages *p,
                          const struct pkg_commands *pm, struct pxf_error *err)
{
        int r;

        share_downloads(gs, true);
        r = run_with(gs, pm->refresh, NULL, err);

        if (r < 0)
                return pxf_error_prefix(err, "refreshing the package index (package "
                                             "operations need network access to the "
                                             "image's mirrors)");
        if (p->update_existing) {
                log_info("  updating existing packages");
                r = run_with(gs, pm->upgrade_all, NULL, err);
        }
        if (r >= 0)
                r = step(gs, pm->remove, p->remove, p->remove_lists, "remove", err);
        if (r >= 0)
                r = step(gs, pm->install, p->install, p->install_lists, "install", err);
        if (r >= 0)
                r = step(gs, pm->update, p->update, p->update_lists, "update", err);
        if (r >= 0)
                share_downloads(gs, false);
        if (r >= 0)
                r = run_with(gs, pm->clean, NULL, err);
        return r;
}

/* The result of a build step, then of undoing its set-up: the first error wins. */
static int first_error(int r, int undo, const struct pxf_error *undo_err, struct pxf_error *err)
{
        if (r < 0)
                return r;
        if (undo < 0)
                *err = *undo_err;
        return undo;
}

static int packages_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const struct pkg_commands *pm = &package_managers[gs->pkg];
        bool own_policy = gs->pkg == BLD_PKG_APT && !bld_guest_exists(gs, POLICY_RC_D);
        bool mandb_aside = gs->live && bld_guest_exists(gs, MANDB_AUTO_UPDATE);
        struct pxf_error undo_err = {0};
        int r = 0;

        if (own_policy)
                r = bld_guest_write(gs, POLICY_RC_D, policy_rc_d, strlen(policy_rc_d), 0755, err);
        if (r >= 0 && mandb_aside)
                r = bld_guest_remove(gs, MANDB_AUTO_UPDATE, err);
        if (r >= 0)
                r = bld_sources_install(gs, err);
        if (r >= 0)
                r = apply_in_order(gs, &cfg->os.packages, pm, err);
        /* What the build set up is undone whatever happened. */
        r = first_error(r, bld_sources_remove(gs, &undo_err), &undo_err, err);
        if (own_policy)
                r = first_error(r, bld_guest_remove(gs, POLICY_RC_D, &undo_err), &undo_err, err);
        if (mandb_aside)
                r = first_error(r, bld_guest_write(gs, MANDB_AUTO_UPDATE, "", 0, 0644, &undo_err),
                                &undo_err, err);
        return r;
}

bool bld_packages_wanted(const struct cfg_config *cfg)
{
        const struct cfg_packages *p = &cfg->os.packages;

        return p->update_existing || p->install || p->remove || p->update || p->install_lists ||
               p->remove_lists || p->update_lists;
}

const struct bld_step bld_step_packages = {"packages", bld_packages_wanted, packages_apply};

/* os.packages.removePackageManager, as the reference tool does it on Debian-family
 * images: apt goes (dpkg stays: its database is the record of what the image holds), with
 * what it leaves behind. A live output still needs apt's company to build its initramfs,
 * so this is for disk outputs. */
static const char *const apt_purge_self[] = {
    APT_ENV, "apt-get", "-y", "-q", "remove", "--auto-remove", "--allow-remove-essential",
    "--",    NULL};
static const char *const apt_leftovers[] = {"/var/lib/apt", "/var/cache/apt"};
static const char *const apt_packages[] = {"apt", "apt-utils"};

/* Which of apt_packages are installed, from dpkg-query's "NAME STATUS" lines. */
static char **installed_apt_packages(const char *listing)
{
        char **found = NULL;

        for (const char *line = listing; line && *line;) {
                size_t len = strcspn(line, "\n");
                size_t name_len = strcspn(line, " \n");

                for (size_t i = 0; i < PXF_ELEMENTSOF(apt_packages); i++)
                        if (name_len == strlen(apt_packages[i]) &&
                            strncmp(line, apt_packages[i], name_len) == 0 &&
                            memmem(line, len, " install ok installed", 21))
                                pxf_strv_push(&found, apt_packages[i]);
                line += len + (line[len] == '\n');
        }
        return found;
}

static int remove_package_manager(struct bld_guest *gs, const struct cfg_config *cfg,
                                  struct pxf_error *err)
{
        _cleanup_strv_free_ char **installed = NULL;
        _cleanup_free_ char *listing = NULL;
        int r;

        (void)cfg; /* live outputs are refused before any work (bld_extras_check) */
        if (gs->pkg != BLD_PKG_APT)
                return pxf_error_set(err, -EOPNOTSUPP,
                                     "os.packages.removePackageManager: implemented for Debian "
                                     "and Ubuntu images");
        r = bld_guest_capture(
            gs, (const char *[]){"dpkg-query", "-W", "-f=${Package} ${Status}\\n", NULL}, &listing,
            err);
        installed = r >= 0 ? installed_apt_packages(listing) : NULL;
        if (r >= 0 && installed)
                r = run_with(gs, apt_purge_self, installed, err);
        for (size_t i = 0; r >= 0 && i < PXF_ELEMENTSOF(apt_leftovers); i++)
                r = bld_guest_remove(gs, apt_leftovers[i], err);
        return r < 0 ? pxf_error_prefix(err, "os.packages.removePackageManager") : r;
}

static bool remove_package_manager_wanted(const struct cfg_config *cfg)
{
        return cfg->os.packages.remove_package_manager;
}

const struct bld_step bld_step_remove_package_manager = {
    "remove the package manager", remove_package_manager_wanted, remove_package_manager};
