/* server.machines as the rules pxeforge-server and dnsmasq apply (status/groups.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pxeforge/commands.h"
#include "status/groups.h"

/* "local", "ignore" or a build the appliance serves, as a target; err says which key of
 * which file names a build that is not served. */
static int target_of(const struct cfg_config *cfg, const char *value, struct cfg_loc loc,
                     const char *key, const char *const *names, struct grp_target *ret,
                     struct pxf_error *err)
{
        _cleanup_free_ char *list = NULL, *spec = NULL;

        if (strcmp(value, "local") != 0 && strcmp(value, "ignore") != 0) {
                if (!pxf_strv_contains((char *const *)names, value)) {
                        list = pxf_strv_join((char *const *)names, ", ");
                        return pxf_error_set(err, -EINVAL,
                                             "%s:%u:%u: %s: no build named '%s' is served "
                                             "(served: %s)",
                                             cfg_loc_file(cfg, loc), loc.line, loc.column, key,
                                             value, list);
                }
                spec = pxf_asprintf("build:%s", value);
        }
        return grp_target_parse(spec ? spec : value, ret) < 0
                   ? pxf_error_set(err, -EINVAL, "%s: '%s' is no target", key, value)
                   : 0;
}

/* One rule per MAC pattern of the group (one for any MAC when it names none). */
static int add_group(const struct cfg_config *cfg, size_t index, const char *const *names,
                     struct grp_set *set, struct pxf_error *err)
{
        const struct cfg_machine_group *g = &cfg->server.machines.groups[index];
        char key[64];
        struct grp_rule rule = {.arches = g->arch, .once = g->boot_once};
        int r;

        (void)snprintf(key, sizeof key, "server.machines.groups[%zu].boot", index);
        r = target_of(cfg, g->boot, g->boot_loc, key, names, &rule.target, err);
        if (r < 0)
                return r;
        if (!g->macs || !g->macs[0])
                grp_add(set, &rule);
        for (size_t i = 0; g->macs && g->macs[i]; i++) {
                int len = pxf_mac_parse(g->macs[i], rule.mac);
                rule.mac_len = len > 0 ? (unsigned)len : 0;
                grp_add(set, &rule);
        }
        return 0;
}

bool machine_groups_given(const struct cfg_config *cfg)
{
        return cfg->server.machines.n_groups || cfg->server.machines.default_boot;
}

int machine_groups_reload(const char *config_path, const char *const *names, struct grp_set *ret)
{
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        struct pxf_error err = {0};

        if (load_config(config_path, false, &cfg) != PXF_EXIT_OK) {
                log_error("SIGHUP: %s is not valid: the machine groups stay as they were",
                          config_path);
                return -EINVAL;
        }
        if (!machine_groups_given(cfg)) { /* none any more: everybody boots the first build */
                *ret = (struct grp_set){0};
                (void)snprintf(ret->fallback.build, sizeof ret->fallback.build, "%s", names[0]);
                return 0;
        }
        if (machine_groups_from_config(cfg, names, ret, &err) < 0) {
                log_error("SIGHUP: %s; the machine groups stay as they were", err.msg);
                return -EINVAL;
        }
        return 0;
}

int machine_groups_from_config(const struct cfg_config *cfg, const char *const *names,
                               struct grp_set *ret, struct pxf_error *err)
{
        const struct cfg_machines *m = &cfg->server.machines;
        struct grp_set set = {0};
        int r = 0;

        if (m->default_boot)
                r = target_of(cfg, m->default_boot, m->default_loc, "server.machines.default",
                              names, &set.fallback, err);
        else /* the first build: names are checked already (grp_name_valid) */
                (void)snprintf(set.fallback.build, sizeof set.fallback.build, "%s", names[0]);
        for (size_t i = 0; r >= 0 && i < m->n_groups; i++)
                r = add_group(cfg, i, names, &set, err);
        if (r < 0) {
                grp_clear(&set);
                return r;
        }
        set.complete = true;
        *ret = set;
        return 0;
}
