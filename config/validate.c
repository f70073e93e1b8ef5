/* validate: rules that span sections of a loaded config, and the check that the host
 * files a config refers to exist. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "config/config-internal.h"

static void diag_at(struct cfg_diags *diags, const struct cfg_config *cfg, struct cfg_loc loc,
                    const char *key_path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void diag_at(struct cfg_diags *diags, const struct cfg_config *cfg, struct cfg_loc loc,
                    const char *key_path, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        cfg_diag_addv(diags, cfg_loc_file(cfg, loc), loc.line, loc.column, key_path, fmt, ap);
        va_end(ap);
}

static bool loc_before(struct cfg_loc a, struct cfg_loc b)
{
        return a.line < b.line || (a.line == b.line && a.column < b.column);
}

static void check_pxe_urls(const struct cfg_config *cfg, struct cfg_diags *diags)
{
        const struct cfg_pxe *p = &cfg->pxe;
        bool base_second = loc_before(p->bootstrap_file_url_loc, p->bootstrap_base_url_loc);

        if (p->bootstrap_base_url && p->bootstrap_file_url)
                diag_at(diags, cfg,
                        base_second ? p->bootstrap_base_url_loc : p->bootstrap_file_url_loc,
                        base_second ? "pxe.bootstrapBaseUrl" : "pxe.bootstrapFileUrl",
                        "cannot set both 'bootstrapBaseUrl' and 'bootstrapFileUrl'");
        if (p->live.initramfs_type != CFG_INITRAMFS_FULL_OS)
                return;
        if (p->bootstrap_base_url)
                diag_at(diags, cfg, p->bootstrap_base_url_loc, "pxe.bootstrapBaseUrl",
                        "'bootstrapBaseUrl' cannot be used with initramfsType 'full-os' (only "
                        "the bootstrap initramfs downloads the image)");
        if (p->bootstrap_file_url)
                diag_at(diags, cfg, p->bootstrap_file_url_loc, "pxe.bootstrapFileUrl",
                        "'bootstrapFileUrl' cannot be used with initramfsType 'full-os' (only "
                        "the bootstrap initramfs downloads the image)");
}

/* A full-os initramfs is a cpio archive, which carries no SELinux labels (xattrs); Image
 * Customizer refuses any mode but disabled with it, and so does pxeforge (the builder
 * checks the image's own mode when the config sets none). */
static void check_selinux(const struct cfg_config *cfg, struct cfg_diags *diags)
{
        const struct cfg_live *lives[] = {&cfg->iso, &cfg->pxe.live};
        const char *names[] = {"iso", "pxe"};
        enum cfg_selinux_mode mode = cfg->os.selinux_mode;

        if (mode == CFG_SELINUX_UNSET || mode == CFG_SELINUX_DISABLED)
                return;
        for (size_t i = 0; i < PXF_ELEMENTSOF(lives); i++)
                if (lives[i]->initramfs_type == CFG_INITRAMFS_FULL_OS)
                        diag_at(diags, cfg, cfg->os.selinux_mode_loc, "os.selinux.mode",
                                "selinux mode '%s' cannot be used with %s.initramfsType "
                                "'full-os' (a cpio initramfs carries no SELinux labels); use "
                                "initramfsType bootstrap or mode disabled",
                                cfg_selinux_mode_name(mode), names[i]);
}

/* DHCP: an authoritative server needs its range and an interface; any DHCP needs the
 * interface it answers on. */
static void check_server(const struct cfg_config *cfg, struct cfg_diags *diags)
{
        const struct cfg_server *s = &cfg->server;
        enum cfg_dhcp_mode mode = s->dhcp ? s->dhcp : CFG_DHCP_PROXY;

        if (s->secure_boot && s->ipxe == CFG_IPXE_ALWAYS)
                diag_at(diags, cfg, s->ipxe_loc, "server.ipxe",
                        "ipxe 'always' cannot be used with secureBoot: true (Debian's iPXE is not "
                        "signed for Secure Boot, so such machines would refuse it); use "
                        "'fallback', which keeps shim and GRUB for UEFI PXE clients");
        if (!s->dhcp)
                return; /* no server section, or DHCP left to `up`'s flags */
        if (mode != CFG_DHCP_OFF && !s->interface)
                diag_at(diags, cfg, s->dhcp_loc, "server.dhcp",
                        "DHCP needs 'server.interface' (the network it answers on), or set "
                        "dhcp: off");
        if (mode == CFG_DHCP_AUTHORITATIVE && !s->range_start)
                diag_at(diags, cfg, s->dhcp_loc, "server.dhcp",
                        "dhcp 'authoritative' needs 'server.dhcpRange' (start and end)");
}

void cfg_validate_semantics(const struct cfg_config *cfg, struct cfg_diags *diags)
{
        check_pxe_urls(cfg, diags);
        check_selinux(cfg, diags);
        check_server(cfg, diags);
}

/* ---- host files --------------------------------------------------------------------- */

struct path_walk {
        cfg_host_path_fn *fn;
        void *userdata;
};

static void visit(struct path_walk *w, const char *path, bool is_dir, struct cfg_loc loc,
                  const char *key_path)
{
        if (path)
                w->fn(path, is_dir, loc, key_path, w->userdata);
}

static void walk_files(struct path_walk *w, const struct cfg_file *files, size_t n,
                       const char *section)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *key = pxf_asprintf("%s[%zu].source", section, i);

                visit(w, files[i].source, false, files[i].source_loc, key);
        }
}

static void walk_dirs(struct path_walk *w, const struct cfg_os *os)
{
        for (size_t i = 0; i < os->n_additional_dirs; i++) {
                const struct cfg_dir *d = &os->additional_dirs[i];
                _cleanup_free_ char *key = pxf_asprintf("os.additionalDirs[%zu].source", i);

                visit(w, d->source, true, d->source_loc, key);
        }
}

/* A list of paths with an optional parallel array of locations. */
static void walk_path_list(struct path_walk *w, char *const *paths, const struct cfg_loc *locs,
                           const char *key_path)
{
        for (size_t i = 0; paths && paths[i]; i++) {
                _cleanup_free_ char *key = pxf_asprintf("%s[%zu]", key_path, i);

                visit(w, paths[i], false, locs ? locs[i] : (struct cfg_loc){0}, key);
        }
}

static void walk_users(struct path_walk *w, const struct cfg_os *os)
{
        for (size_t i = 0; i < os->n_users; i++) {
                const struct cfg_user *u = &os->users[i];
                _cleanup_free_ char *keys = pxf_asprintf("os.users[%zu].sshPublicKeyPaths", i);
                _cleanup_free_ char *pw = pxf_asprintf("os.users[%zu].password.value", i);

                walk_path_list(w, u->ssh_public_key_paths, u->ssh_public_key_path_locs, keys);
                if (u->has_password && (u->password.type == CFG_PASSWORD_PLAIN_TEXT_FILE ||
                                        u->password.type == CFG_PASSWORD_HASHED_FILE))
                        visit(w, u->password.value, false, u->password.value_loc, pw);
        }
}

static void walk_scripts(struct path_walk *w, const struct cfg_script *s, size_t n,
                         const char *section)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *key = pxf_asprintf("%s[%zu].path", section, i);

                visit(w, s[i].path, false, s[i].path_loc, key);
        }
}

static void walk_packages(struct path_walk *w, const struct cfg_packages *p)
{
        walk_path_list(w, p->install_lists, p->install_lists_locs, "os.packages.installLists");
        walk_path_list(w, p->remove_lists, p->remove_lists_locs, "os.packages.removeLists");
        walk_path_list(w, p->update_lists, p->update_lists_locs, "os.packages.updateLists");
}

void cfg_for_each_host_path(const struct cfg_config *cfg, cfg_host_path_fn *fn, void *userdata)
{
        struct path_walk w = {.fn = fn, .userdata = userdata};

        walk_packages(&w, &cfg->os.packages);
        walk_files(&w, cfg->os.additional_files, cfg->os.n_additional_files, "os.additionalFiles");
        walk_dirs(&w, &cfg->os);
        walk_users(&w, &cfg->os);
        walk_scripts(&w, cfg->post_customization, cfg->n_post_customization,
                     "scripts.postCustomization");
        walk_scripts(&w, cfg->finalize_customization, cfg->n_finalize_customization,
                     "scripts.finalizeCustomization");
        walk_files(&w, cfg->iso.additional_files, cfg->iso.n_additional_files,
                   "iso.additionalFiles");
        walk_files(&w, cfg->pxe.live.additional_files, cfg->pxe.live.n_additional_files,
                   "pxe.additionalFiles");
}

struct file_check {
        const struct cfg_config *cfg;
        struct cfg_diags *diags;
        unsigned n_missing;
};

/* Checks one host path: a folder when want_dir, a regular file otherwise. */
static void check_host_path(const char *path, bool want_dir, struct cfg_loc loc,
                            const char *key_path, void *userdata)
{
        struct file_check *c = userdata;
        const char *what = want_dir ? "directory" : "file";
        struct stat st;

        if (stat(path, &st) < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        diag_at(c->diags, c->cfg, loc, key_path, "%s '%s' does not exist", what,
                                path);
                else
                        diag_at(c->diags, c->cfg, loc, key_path, "cannot access %s '%s': %s", what,
                                path, strerror(errno));
        } else if (want_dir && !S_ISDIR(st.st_mode)) {
                diag_at(c->diags, c->cfg, loc, key_path, "'%s' is not a directory", path);
        } else if (!want_dir && !S_ISREG(st.st_mode)) {
                diag_at(c->diags, c->cfg, loc, key_path, "'%s' is not a regular file", path);
        } else {
                return;
        }
        c->n_missing++;
}

int cfg_validate_files(const struct cfg_config *cfg, struct cfg_diags *diags)
{
        struct cfg_diags local = {0};
        struct file_check c = {.cfg = cfg, .diags = diags ? diags : &local};
        size_t first = c.diags->n;

        cfg_for_each_host_path(cfg, check_host_path, &c);
        cfg_diags_sort(c.diags, first);
        cfg_diags_clear(&local);
        return c.n_missing ? -ENOENT : 0;
}
