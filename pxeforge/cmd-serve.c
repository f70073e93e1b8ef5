/* pxeforge serve: the appliance on an existing artifacts folder. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "artifacts/artifacts.h"
#include "pxeforge/appliance.h"
#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

struct serve_args {
        struct appliance_opts o;
        int dhcp; /* enum appliance_dhcp, or -1 when not given */
        const char *range;
        const char *config_path;
        char **builds; /* --build NAME=DIR, as given */
};

/* "NAME=DIR": the name's length when NAME is a build's name, else 0. */
static size_t build_name_length(const char *value)
{
        const char *eq = strchr(value, '=');
        char name[GRP_NAME_MAX + 1];
        size_t len = eq ? (size_t)(eq - value) : 0;

        if (!len || len > GRP_NAME_MAX || !eq[1])
                return 0;
        memcpy(name, value, len);
        name[len] = '\0';
        return grp_name_valid(name) ? len : 0;
}

/* --build NAME=DIR, as often as there are builds. */
static int parse_build(const char *option, const char *value, void *field)
{
        if (!build_name_length(value)) {
                log_error("invalid %s '%s' (expected NAME=DIR, NAME of letters, digits, '-', '_' "
                          "and '.')",
                          option, value);
                return PXF_EXIT_USAGE;
        }
        pxf_strv_push(field, value);
        return PXF_EXIT_OK;
}

static int parse_dhcp_mode(const char *option, const char *value, void *field)
{
        static const char *const names[] = {
            [APPLIANCE_DHCP_OFF] = "off",
            [APPLIANCE_DHCP_PROXY] = "proxy",
            [APPLIANCE_DHCP_AUTHORITATIVE] = "authoritative",
        };

        for (size_t i = 0; i < PXF_ELEMENTSOF(names); i++)
                if (strcmp(value, names[i]) == 0) {
                        *(int *)field = (int)i;
                        return PXF_EXIT_OK;
                }
        log_error("unknown %s mode '%s' (expected proxy, authoritative or off)", option, value);
        return PXF_EXIT_USAGE;
}

static int parse_ipxe_mode(const char *option, const char *value, void *field)
{
        if (cfg_ipxe_mode_from_name(value, field) == 0)
                return PXF_EXIT_OK;
        log_error("unknown %s mode '%s' (expected off, fallback or always)", option, value);
        return PXF_EXIT_USAGE;
}

/* A decimal number in [least, most] for option, or PXF_EXIT_USAGE after saying so. */
static int parse_in_range(const char *option, const char *value, long long least, long long most,
                          long long *ret)
{
        char *end;

        errno = 0;
        *ret = strtoll(value, &end, 10);
        if (errno || end == value || *end || *ret < least || *ret > most) {
                log_error("invalid %s '%s' (expected %lld to %lld)", option, value, least, most);
                return PXF_EXIT_USAGE;
        }
        return PXF_EXIT_OK;
}

int cli_parse_port(const char *option, const char *value, void *field)
{
        long long v;
        int r = parse_in_range(option, value, 1, 65535, &v);

        if (r == PXF_EXIT_OK)
                *(uint16_t *)field = (uint16_t)v;
        return r;
}

/* One of the servers' limits (TFTPD_LIMITS, HTTPD_LIMITS), in its range. */
struct limit_range {
        const char *option;
        unsigned least, most;
};
#define LIMIT_RANGE(field, key, flag, least, most, ...) {"--" flag, least, most},
static const struct limit_range limit_ranges[] = {TFTPD_LIMITS(LIMIT_RANGE)
                                                      HTTPD_LIMITS(LIMIT_RANGE)};

static int parse_limit(const char *option, const char *value, void *field)
{
        for (size_t i = 0; i < PXF_ELEMENTSOF(limit_ranges); i++) {
                const struct limit_range *l = &limit_ranges[i];
                long long v;
                int r;

                if (strcmp(option, l->option) != 0)
                        continue;
                r = parse_in_range(option, value, l->least, l->most, &v);
                if (r == PXF_EXIT_OK)
                        *(unsigned *)field = (unsigned)v;
                return r;
        }
        log_error("%s is not a limit", option);
        return PXF_EXIT_USAGE;
}

#define ARG(m) offsetof(struct serve_args, m)
#define LIMIT_OPTION(section, field, key, flag, least, most, def, what)                            \
        {flag,                                                                                     \
         "N",                                                                                      \
         CLI_CUSTOM,                                                                               \
         ARG(o.section.field),                                                                     \
         parse_limit,                                                                              \
         false,                                                                                    \
         what " (default " PXF_STRINGIFY(def) "; server." #section "." key ")"},
#define TFTP_OPTION(...) LIMIT_OPTION(tftp, __VA_ARGS__)
#define HTTP_OPTION(...) LIMIT_OPTION(http, __VA_ARGS__)

static const struct cli_option options[] = {
    {"artifacts", "[NAME=]DIR", CLI_STRING, ARG(o.artifacts), NULL, true,
     "the folder to serve (it and the folders above it must be readable by the serving "
     "user); with machine groups, the build NAME (default: default), which machines no "
     "group holds boot unless server.machines.default says otherwise"},
    {"build", "NAME=DIR", CLI_CUSTOM, ARG(builds), parse_build, false,
     "one more build to serve beside the artifacts, for the machines whose group "
     "(server.machines) names it; give it once per build"},
    {"config-file", "FILE", CLI_STRING, ARG(config_path), NULL, false,
     "take the settings of FILE's `server` section (see pxeforge.yaml(5)); options "
     "given here win over them"},
    {"interface", "IF", CLI_STRING, ARG(o.interface), NULL, false,
     "the network to serve; required for DHCP"},
    {"address", "ADDR", CLI_STRING, ARG(o.address), NULL, false,
     "the IPv4 address to serve on (default: the interface's, or all addresses without "
     "--interface)"},
    {"dhcp", "MODE", CLI_CUSTOM, ARG(dhcp), parse_dhcp_mode, false,
     "proxy (default: the LAN has a DHCP server, pxeforge adds the boot information), "
     "authoritative (an isolated network: pxeforge hands out addresses), or off"},
    {"dhcp-range", "START,END", CLI_STRING, ARG(range), NULL, false,
     "addresses to hand out (authoritative)"},
    {"netmask", "MASK", CLI_STRING, ARG(o.netmask), NULL, false,
     "of the range (default: the interface's)"},
    {"router", "ADDR", CLI_STRING, ARG(o.router), NULL, false,
     "default gateway to hand out (authoritative; default none)"},
    {"tftp-port", "N", CLI_CUSTOM, ARG(o.tftp_port), cli_parse_port, false, "default 69"},
    {"http-port", "N", CLI_CUSTOM, ARG(o.http_port), cli_parse_port, false, "default 80"},
    {"user", "USER", CLI_STRING, ARG(o.user), NULL, false,
     "serve TFTP and HTTP as USER (default pxeforge, the package's system user; nobody, "
     "with a warning, when it is missing); dnsmasq runs as nobody"},
    {"ipxe", "MODE", CLI_CUSTOM, ARG(o.ipxe), parse_ipxe_mode, false,
     "which clients are chained to the folder's iPXE: off, fallback (BIOS, and UEFI HTTP "
     "boot when GRUB has no HTTP client) or always (every client; no Secure Boot) "
     "(default: what the folder was built for, server.ipxe)"},
    {"runtime-dir", "DIR", CLI_STRING, ARG(o.runtime_dir), NULL, false,
     "dnsmasq's config and leases (default /run/pxeforge/PID)"},
    {"state-dir", "DIR", CLI_STRING, ARG(o.state_dir), NULL, false,
     "keep the boot timeline in DIR/status across restarts (server.stateDir; default: in "
     "memory only)"},
    {"no-status", NULL, CLI_FLAG, ARG(o.no_status), NULL, false,
     "serve no status page, API, metrics or boot reports under /.pxeforge/ and keep no boot "
     "timeline (server.status: false)"},
    TFTPD_LIMITS(TFTP_OPTION) HTTPD_LIMITS(HTTP_OPTION)};

static void init(void *args)
{
        struct serve_args *a = args;

        a->dhcp = -1;
}

/* "START,END" into the two ends, which live in the argument (modified). */
static int check(void *args)
{
        struct serve_args *a = args;
        char *comma;

        if (!a->range)
                return PXF_EXIT_OK;
        comma = strchr(a->range, ',');
        if (!comma || comma == a->range || !comma[1]) {
                log_error("invalid --dhcp-range '%s' (expected START,END)", a->range);
                return PXF_EXIT_USAGE;
        }
        *comma = '\0';
        a->o.range_start = a->range;
        a->o.range_end = comma + 1;
        return PXF_EXIT_OK;
}

/* A folder with SHA256SUMS is served only as it was built: a file changed or lost since
 * is said now, not found out by a machine that fails to boot. */
static int check_artifacts(const char *dir)
{
        _cleanup_free_ char *sums = pxf_asprintf("%s/SHA256SUMS", dir);
        struct pxf_error err = {0};
        struct stat st;

        if (stat(dir, &st) < 0) {
                log_error("cannot use the artifacts folder '%s': %m", dir);
                return PXF_EXIT_FAILED;
        }
        if (!S_ISDIR(st.st_mode)) {
                log_error("the artifacts path '%s' is not a folder", dir);
                return PXF_EXIT_FAILED;
        }
        if (access(sums, F_OK) < 0) {
                log_info("'%s' has no SHA256SUMS: serving it as it is", dir);
                return PXF_EXIT_OK;
        }
        if (art_manifest_verify(dir, &err) < 0) {
                log_error("the artifacts in '%s' do not match their SHA256SUMS: %s; build them "
                          "again, or remove SHA256SUMS to serve them as they are",
                          dir, err.msg);
                return PXF_EXIT_FAILED;
        }
        log_info("'%s' matches its SHA256SUMS", dir);
        return PXF_EXIT_OK;
}

/* The settings from the command line, then the config's, then the defaults. */
static int settle_settings(struct serve_args *a, struct cfg_config **cfg)
{
        int r;

        if (a->dhcp >= 0)
                a->o.dhcp = (enum appliance_dhcp)a->dhcp;
        if (a->config_path) {
                r = load_config(a->config_path, false, cfg);
                if (r != PXF_EXIT_OK)
                        return r;
                server_settings(&a->o, &(*cfg)->server, a->dhcp >= 0);
        } else if (a->dhcp < 0) {
                a->o.dhcp = APPLIANCE_DHCP_PROXY;
        }
        if (a->o.dhcp == APPLIANCE_DHCP_AUTHORITATIVE && !a->o.range_start) {
                log_error("authoritative DHCP needs a range: --dhcp-range START,END or "
                          "server.dhcpRange");
                return PXF_EXIT_USAGE;
        }
        return PXF_EXIT_OK;
}

/* The builds served: the artifacts first, then each --build. */
struct served {
        char **names;    /* NULL-terminated */
        char **specs;    /* "NAME=DIR" of each --build, DIR absolute */
        char *artifacts; /* absolute */
        struct grp_set groups;
};

static void served_free(struct served *s)
{
        pxf_strv_free(s->names);
        pxf_strv_free(s->specs);
        free(s->artifacts);
        grp_clear(&s->groups);
}

/* dir made absolute, but not resolved (a symlink swapped to a new folder is followed),
 * and checked. */
static int absolute_folder(const char *dir, char **ret)
{
        _cleanup_free_ char *cwd = getcwd(NULL, 0);

        *ret = cwd ? pxf_path_resolve(cwd, dir) : NULL;
        if (!*ret) {
                log_error("cannot resolve '%s': %m", dir);
                return PXF_EXIT_FAILED;
        }
        return check_artifacts(*ret);
}

static int add_build(struct served *s, const char *name, const char *dir)
{
        _cleanup_free_ char *abs = NULL;
        int r;

        if (pxf_strv_contains(s->names, name)) {
                log_error("two builds are named '%s': give each its own name", name);
                return PXF_EXIT_USAGE;
        }
        r = absolute_folder(dir, &abs);
        if (r != PXF_EXIT_OK)
                return r;
        pxf_strv_push(&s->names, name);
        if (!s->artifacts) {
                s->artifacts = TAKE_PTR(abs);
        } else {
                _cleanup_free_ char *spec = pxf_asprintf("%s=%s", name, abs);
                pxf_strv_push(&s->specs, spec);
        }
        return PXF_EXIT_OK;
}

static int gather_builds(const struct serve_args *a, struct served *s)
{
        size_t len = build_name_length(a->o.artifacts);
        _cleanup_free_ char *name =
            len ? pxf_asprintf("%.*s", (int)len, a->o.artifacts) : pxf_strdup("default");
        int r = add_build(s, name, len ? a->o.artifacts + len + 1 : a->o.artifacts);

        for (size_t i = 0; r == PXF_EXIT_OK && a->builds && a->builds[i]; i++) {
                _cleanup_free_ char *b = pxf_strdup(a->builds[i]);
                char *eq = strchr(b, '=');
                *eq = '\0';
                r = add_build(s, b, eq + 1);
        }
        return r;
}

/* server.machines, checked against the builds served. */
static int gather_groups(const struct serve_args *a, const struct cfg_config *cfg, struct served *s)
{
        struct pxf_error err = {0};

        if (!cfg || !machine_groups_given(cfg))
                return PXF_EXIT_OK;
        if (a->o.no_status) {
                log_error("%s: server.machines needs the boot timeline, which server.status: "
                          "false or --no-status turns off",
                          a->config_path);
                return PXF_EXIT_CONFIG;
        }
        if (machine_groups_from_config(cfg, (const char *const *)s->names, &s->groups, &err) < 0) {
                log_error("%s", err.msg);
                return PXF_EXIT_CONFIG;
        }
        return PXF_EXIT_OK;
}

/* What reload_groups needs: the config file and the builds' names. */
struct reload {
        const char *config_path;
        char **names;
};

/* On SIGHUP: server.machines of the config file as it is now. */
static int reload_groups(void *userdata, struct grp_set *ret)
{
        const struct reload *r = userdata;

        return machine_groups_reload(r->config_path, (const char *const *)r->names, ret);
}

static int run(void *args)
{
        struct serve_args *a = args;
        struct appliance_opts *o = &a->o;
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        struct pxf_error err = {0};
        struct served s = {0};
        struct reload reload = {a->config_path, NULL};
        int r = settle_settings(a, &cfg);

        if (r == PXF_EXIT_OK)
                r = gather_builds(a, &s);
        if (r == PXF_EXIT_OK)
                r = gather_groups(a, cfg, &s);
        if (r == PXF_EXIT_OK) {
                o->artifacts = s.artifacts;
                o->artifacts_name = s.names[0];
                o->builds = s.specs;
                o->groups = s.groups.complete ? &s.groups : NULL;
                reload.names = s.names;
                if (a->config_path && (o->groups || o->builds)) {
                        o->reload_groups = reload_groups;
                        o->userdata = &reload;
                }
                r = exit_status(appliance_run(o, &err), &err);
        }
        served_free(&s);
        pxf_strv_free(a->builds);
        return r;
}

const struct cli_command cli_cmd_serve = {
    .name = "serve",
    .synopsis = "--artifacts [NAME=]DIR [--build NAME=DIR...] [OPTIONS]",
    .summary = "serve PXE artifacts: TFTP, HTTP and DHCP (proxy or authoritative)",
    .description =
        "Serves a PXE artifacts folder (from `customize` with pxe-dir) to the network: TFTP\n"
        "for the boot files, HTTP for the same folder (image.iso of a bootstrap build), and,\n"
        "unless --dhcp off, DHCP through a supervised dnsmasq. Binds its ports as root, then\n"
        "serves as an unprivileged user. Stops everything it started on SIGTERM or Ctrl-C.\n"
        "\n"
        "With --config-file, the settings come from the config's `server` section, as for\n"
        "`up` (the pxeforge-serve@ unit serves /srv/pxeforge/NAME with /etc/pxeforge/NAME.yaml).\n"
        "\n"
        "With --build, more folders are served beside the artifacts, and the config's\n"
        "server.machines says which machine boots which, its disk, or nothing; on SIGHUP\n"
        "the groups are read again and apply to the next request.\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 stopped by a signal, 1 failed to start, 2 bad command line, 3 invalid "
                   "configuration.",
    .args_size = sizeof(struct serve_args),
    .init = init,
    .check = check,
    .run = run,
};
