/* Host name, services, kernel modules and initramfs: small edits of the image's
 * configuration, each done the way the image's distribution expects. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "builder/builder-internal.h"

#define ETC_FILE_MAX (1024u * 1024)
/* modprobe reads its files in name order and the last `options` for a parameter wins;
 * the name sorts after distribution files (systemd.conf sets `numdummies=0`, for one). */
#define MODPROBE_CONF     "/etc/modprobe.d/zz-pxeforge.conf"
#define MODULES_LOAD_CONF "/etc/modules-load.d/pxeforge.conf"

__attribute__((format(printf, 2, 3))) static void append(char **buf, const char *fmt, ...)
{
        char *old = *buf, *piece = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&piece, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        *buf = pxf_asprintf("%s%s", old ? old : "", piece);
        free(old);
        free(piece);
}

/* ---- hostname ---------------------------------------------------------------------- */

char *bld_config_value(const char *text, const char *key)
{
        size_t key_len = strlen(key);
        char *value = NULL;

        for (const char *line = text; line && *line;) {
                size_t len = strcspn(line, "\n");

                if (len > key_len && strncmp(line, key, key_len) == 0 && line[key_len] == '=') {
                        const char *v = line + key_len + 1;
                        size_t v_len = len - key_len - 1;
                        if (v_len > 0 && (v[0] == '"' || v[0] == '\'')) {
                                v++;
                                v_len--;
                        }
                        free(value);
                        value = pxf_asprintf("%.*s", (int)v_len, v);
                        value[strcspn(value, " \t\r\"'")] = '\0';
                }
                line += len + (line[len] == '\n');
        }
        return value;
}

char *bld_os_release_id(const char *text)
{
        char *id = bld_config_value(text, "ID");

        if (id && (!id[0] || id[strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789._-")])) {
                free(id);
                id = NULL;
        }
        return id;
}

char *bld_hosts_with_hostname(const char *hosts, const char *hostname)
{
        char *out = NULL;
        bool replaced = false;

        for (const char *line = hosts; line && *line;) {
                size_t len = strcspn(line, "\n");
                bool ours =
                    strncmp(line, "127.0.1.1", 9) == 0 && (line[9] == ' ' || line[9] == '\t');
                if (ours && !replaced)
                        append(&out, "127.0.1.1\t%s\n", hostname);
                else if (!ours)
                        append(&out, "%.*s\n", (int)len, line);
                replaced |= ours;
                line += len + (line[len] == '\n');
        }
        if (!replaced)
                append(&out, "127.0.1.1\t%s\n", hostname);
        return out;
}

static int hostname_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const char *hostname = cfg->os.hostname;
        _cleanup_free_ char *line = pxf_asprintf("%s\n", hostname);
        _cleanup_free_ char *hosts = NULL, *updated = NULL;
        int r = bld_guest_write(gs, "/etc/hostname", line, strlen(line), 0644, err);

        if (r < 0)
                return r;
        r = bld_guest_read(gs, "/etc/hosts", ETC_FILE_MAX, &hosts, err);
        if (r < 0 && r != -ENOENT)
                return r;
        updated = bld_hosts_with_hostname(hosts, hostname);
        return bld_guest_write(gs, "/etc/hosts", updated, strlen(updated), 0644, err);
}

/* ---- services ---------------------------------------------------------------------- */

static int systemctl_each(struct bld_guest *gs, const char *verb, char *const *units,
                          struct pxf_error *err)
{
        for (size_t i = 0; units && units[i]; i++) {
                int r = bld_guest_run(gs, (const char *[]){"systemctl", verb, units[i], NULL}, err);
                if (r < 0)
                        return pxf_error_prefix(err, "os.services.%s '%s'", verb, units[i]);
        }
        return 0;
}

static int services_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const struct cfg_os *os = &cfg->os;
        int r = systemctl_each(gs, "enable", os->services_enable, err);

        return r < 0 ? r : systemctl_each(gs, "disable", os->services_disable, err);
}

/* ---- kernel modules ---------------------------------------------------------------- */

char *bld_modprobe_conf(const struct cfg_module *mods, size_t n)
{
        char *out = pxf_strdup("# Written by pxeforge from os.modules\n");

        for (size_t i = 0; i < n; i++) {
                if (mods[i].load_mode == CFG_MODULE_DISABLE)
                        append(&out, "blacklist %s\n", mods[i].name);
                if (mods[i].options)
                        append(&out, "options %s %s\n", mods[i].name, mods[i].options);
        }
        return out;
}

char *bld_modules_load_conf(const struct cfg_module *mods, size_t n)
{
        char *out = pxf_strdup("# Written by pxeforge from os.modules\n");

        for (size_t i = 0; i < n; i++)
                if (mods[i].load_mode == CFG_MODULE_ALWAYS)
                        append(&out, "%s\n", mods[i].name);
        return out;
}

/* Without `blacklist NAME` lines: a module set to always or auto must not stay disabled
 * by the image's own configuration. Returns NULL when nothing changed. */
static char *drop_blacklist(const char *text, const char *name)
{
        _cleanup_free_ char *needle = pxf_asprintf("blacklist %s", name);
        char *out = pxf_strdup("");
        bool changed = false;

        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n");
                if (len == strlen(needle) && strncmp(line, needle, len) == 0)
                        changed = true;
                else
                        append(&out, "%.*s\n", (int)len, line);
                line += len + (line[len] == '\n');
        }
        if (!changed)
                out = (free(out), NULL);
        return out;
}

static int unblacklist(struct bld_guest *gs, const char *name, struct pxf_error *err)
{
        _cleanup_strv_free_ char **entries = bld_guest_ls(gs, "/etc/modprobe.d");

        for (size_t i = 0; entries && entries[i]; i++) {
                _cleanup_free_ char *path = pxf_asprintf("/etc/modprobe.d/%s", entries[i]);
                _cleanup_free_ char *text = NULL, *changed = NULL;
                if (strcmp(path, MODPROBE_CONF) == 0 || bld_guest_is_dir(gs, path))
                        continue;
                int r = bld_guest_read(gs, path, ETC_FILE_MAX, &text, err);
                if (r < 0)
                        return r;
                changed = drop_blacklist(text, name);
                if (changed)
                        r = bld_guest_write(gs, path, changed, strlen(changed), 0644, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int modules_write(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const struct cfg_os *os = &cfg->os;
        _cleanup_free_ char *modprobe = bld_modprobe_conf(os->modules, os->n_modules);
        _cleanup_free_ char *load = bld_modules_load_conf(os->modules, os->n_modules);
        int r = 0;

        for (size_t i = 0; r >= 0 && i < os->n_modules; i++)
                if (os->modules[i].load_mode == CFG_MODULE_ALWAYS ||
                    os->modules[i].load_mode == CFG_MODULE_AUTO)
                        r = unblacklist(gs, os->modules[i].name, err);
        if (r >= 0)
                r = bld_guest_mkdir_p(gs, "/etc/modprobe.d", 0755, err);
        if (r >= 0)
                r = bld_guest_write(gs, MODPROBE_CONF, modprobe, strlen(modprobe), 0644, err);
        if (r >= 0)
                r = bld_guest_mkdir_p(gs, "/etc/modules-load.d", 0755, err);
        if (r >= 0)
                r = bld_guest_write(gs, MODULES_LOAD_CONF, load, strlen(load), 0644, err);
        return r;
}

static bool same_module_char(char a, char b)
{
        return a == b || ((a == '-' || a == '_') && (b == '-' || b == '_'));
}

/* Whether base (a file name) is module.ko with an optional compression suffix. */
static bool is_module_file(const char *base, size_t len, const char *module)
{
        static const char *const suffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};
        size_t ml = strlen(module);

        if (len <= ml)
                return false;
        for (size_t i = 0; i < ml; i++)
                if (!same_module_char(base[i], module[i]))
                        return false;
        for (size_t i = 0; i < PXF_ELEMENTSOF(suffixes); i++)
                if (len - ml == strlen(suffixes[i]) &&
                    strncmp(base + ml, suffixes[i], len - ml) == 0)
                        return true;
        return false;
}

bool bld_listing_has_module(const char *listing, const char *module)
{
        for (const char *line = listing; line && *line;) {
                size_t len = strcspn(line, "\n");
                const char *base = memrchr(line, '/', len);
                base = base ? base + 1 : line;
                if (is_module_file(base, len - (size_t)(base - line), module))
                        return true;
                line += len + (line[len] == '\n');
        }
        return false;
}

static int initrd_holds_modules(struct bld_guest *gs, const char *initrd, const struct cfg_os *os,
                                bool *ret, struct pxf_error *err)
{
        _cleanup_free_ char *listing = NULL;
        int r = bld_guest_capture(gs, (const char *[]){"lsinitramfs", initrd, NULL}, &listing, err);

        for (size_t i = 0; r >= 0 && !*ret && i < os->n_modules; i++)
                *ret = bld_listing_has_module(listing, os->modules[i].name);
        return r;
}

/* Rebuilding a Debian initramfs costs minutes under emulation, so it happens only when
 * the initramfs actually carries a configured module. */
static int debian_initramfs_needs_update(struct bld_guest *gs, const struct cfg_os *os, bool *ret,
                                         struct pxf_error *err)
{
        _cleanup_strv_free_ char **boot = bld_guest_ls(gs, "/boot");
        int r = 0;

        *ret = false;
        for (size_t i = 0; r >= 0 && !*ret && boot && boot[i]; i++) {
                if (strncmp(boot[i], "initrd.img-", 11) != 0)
                        continue;
                _cleanup_free_ char *path = pxf_asprintf("/boot/%s", boot[i]);
                r = initrd_holds_modules(gs, path, os, ret, err);
        }
        return r;
}

static int initramfs_update_for_modules(struct bld_guest *gs, const struct cfg_os *os,
                                        struct pxf_error *err)
{
        bool needed = true;
        int r = 0;

        if (gs->live)
                return 0;
        if (gs->pkg == BLD_PKG_APT)
                r = debian_initramfs_needs_update(gs, os, &needed, err);
        if (r < 0)
                return r;
        if (!needed) {
                log_info("  the initramfs holds none of these modules: left as it is");
                return 0;
        }
        log_info("  the initramfs holds a configured module: regenerating it");
        if (gs->pkg == BLD_PKG_APT)
                return bld_guest_run(
                    gs, (const char *[]){"update-initramfs", "-u", "-k", "all", NULL}, err);
        return bld_guest_run(gs, (const char *[]){"dracut", "--regenerate-all", "--force", NULL},
                             err);
}

/* The module files, then the image's initramfs if it holds one of the modules, so the
 * early boot sees the options and the blacklist too. */
static int modules_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        int r = modules_write(gs, cfg, err);

        return r < 0 ? r : initramfs_update_for_modules(gs, &cfg->os, err);
}

static bool hostname_wanted(const struct cfg_config *cfg)
{
        return cfg->os.hostname != NULL;
}

static bool services_wanted(const struct cfg_config *cfg)
{
        return cfg->os.services_enable || cfg->os.services_disable;
}

static bool modules_wanted(const struct cfg_config *cfg)
{
        return cfg->os.n_modules > 0;
}

const struct bld_step bld_step_hostname = {"hostname", hostname_wanted, hostname_apply};
const struct bld_step bld_step_services = {"services", services_wanted, services_apply};
const struct bld_step bld_step_modules = {"kernel modules", modules_wanted, modules_apply};
