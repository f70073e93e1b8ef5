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
        const char *range;
};

static int parse_dhcp_mode(const char *option, const char *value, void *field)
{
        static const char *const names[] = {
            [APPLIANCE_DHCP_OFF] = "off",
            [APPLIANCE_DHCP_PROXY] = "proxy",
            [APPLIANCE_DHCP_AUTHORITATIVE] = "authoritative",
        };

        for (size_t i = 0; i < PXF_ELEMENTSOF(names); i++)
                if (strcmp(value, names[i]) == 0) {
                        *(enum appliance_dhcp *)field = (enum appliance_dhcp)i;
                        return PXF_EXIT_OK;
                }
        log_error("unknown %s mode '%s' (expected proxy, authoritative or off)", option, value);
        return PXF_EXIT_USAGE;
}

static int parse_port(const char *option, const char *value, void *field)
{
        char *end;
        long v = strtol(value, &end, 10);

        if (end == value || *end || v < 1 || v > 65535) {
                log_error("invalid %s '%s' (expected 1 to 65535)", option, value);
                return PXF_EXIT_USAGE;
        }
        *(uint16_t *)field = (uint16_t)v;
        return PXF_EXIT_OK;
}

#define ARG(m) offsetof(struct serve_args, m)

static const struct cli_option options[] = {
    {"artifacts", "DIR", CLI_STRING, ARG(o.artifacts), NULL, true,
     "the folder to serve (it and the folders above it must be readable by the serving "
     "user)"},
    {"interface", "IF", CLI_STRING, ARG(o.interface), NULL, false,
     "the network to serve; required for DHCP"},
    {"address", "ADDR", CLI_STRING, ARG(o.address), NULL, false,
     "the IPv4 address to serve on (default: the interface's, or all addresses without "
     "--interface)"},
    {"dhcp", "MODE", CLI_CUSTOM, ARG(o.dhcp), parse_dhcp_mode, false,
     "proxy (default: the LAN has a DHCP server, pxeforge adds the boot information), "
     "authoritative (an isolated network: pxeforge hands out addresses), or off"},
    {"dhcp-range", "START,END", CLI_STRING, ARG(range), NULL, false,
     "addresses to hand out (authoritative)"},
    {"netmask", "MASK", CLI_STRING, ARG(o.netmask), NULL, false,
     "of the range (default: the interface's)"},
    {"router", "ADDR", CLI_STRING, ARG(o.router), NULL, false,
     "default gateway to hand out (authoritative; default none)"},
    {"tftp-port", "N", CLI_CUSTOM, ARG(o.tftp_port), parse_port, false, "default 69"},
    {"http-port", "N", CLI_CUSTOM, ARG(o.http_port), parse_port, false, "default 80"},
    {"user", "USER", CLI_STRING, ARG(o.user), NULL, false, "serve as USER (default nobody)"},
    {"runtime-dir", "DIR", CLI_STRING, ARG(o.runtime_dir), NULL, false,
     "dnsmasq's config and leases (default /run/pxeforge/PID)"},
};

static void init(void *args)
{
        struct serve_args *a = args;

        a->o.dhcp = APPLIANCE_DHCP_PROXY;
}

/* "START,END" into the two ends, which live in the argument (modified). */
static int check(void *args)
{
        struct serve_args *a = args;
        char *comma;

        if (a->o.dhcp == APPLIANCE_DHCP_AUTHORITATIVE && !a->range) {
                log_error("--dhcp authoritative needs --dhcp-range START,END");
                return PXF_EXIT_USAGE;
        }
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

static int run(void *args)
{
        struct appliance_opts *o = &((struct serve_args *)args)->o;
        struct pxf_error err = {0};
        _cleanup_free_ char *artifacts = NULL, *cwd = NULL;
        int r;

        /* Absolute, but not resolved: a symlink swapped to a new folder is followed. */
        cwd = getcwd(NULL, 0);
        artifacts = cwd ? pxf_path_resolve(cwd, o->artifacts) : NULL;
        if (!artifacts) {
                log_error("cannot resolve '%s': %m", o->artifacts);
                return PXF_EXIT_FAILED;
        }
        o->artifacts = artifacts;
        r = check_artifacts(artifacts);
        if (r != PXF_EXIT_OK)
                return r;
        r = appliance_run(o, &err);
        return exit_status(r, &err);
}

const struct cli_command cli_cmd_serve = {
    .name = "serve",
    .synopsis = "--artifacts DIR [OPTIONS]",
    .summary = "serve PXE artifacts: TFTP, HTTP and DHCP (proxy or authoritative)",
    .description =
        "Serves a PXE artifacts folder (from `customize` with pxe-dir) to the network: TFTP\n"
        "for the boot files, HTTP for the same folder (image.iso of a bootstrap build), and,\n"
        "unless --dhcp off, DHCP through a supervised dnsmasq. Binds its ports as root, then\n"
        "serves as an unprivileged user. Stops everything it started on SIGTERM or Ctrl-C.\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 stopped by a signal, 1 failed to start, 2 bad command line.",
    .args_size = sizeof(struct serve_args),
    .init = init,
    .check = check,
    .run = run,
};
