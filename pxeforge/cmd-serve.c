/* pxeforge serve: the appliance on an existing artifacts folder. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "pxeforge/appliance.h"
#include "pxeforge/commands.h"

static const char usage[] =
    "Usage: pxeforge serve --artifacts DIR [OPTIONS]\n"
    "\n"
    "Serves a PXE artifacts folder (from `customize` with pxe-dir) to the network: TFTP\n"
    "for the boot files, HTTP for the same folder (image.iso of a bootstrap build), and,\n"
    "unless --dhcp off, DHCP through a supervised dnsmasq. Binds its ports as root, then\n"
    "serves as an unprivileged user. Stops everything it started on SIGTERM or Ctrl-C.\n"
    "\n"
    "  --artifacts DIR         the folder to serve (required; it and the folders above\n"
    "                          it must be readable by the serving user)\n"
    "  --interface IF          the network to serve; required for DHCP\n"
    "  --address ADDR          the IPv4 address to serve on (default: the interface's,\n"
    "                          or all addresses without --interface)\n"
    "  --dhcp MODE             proxy (default: the LAN has a DHCP server, pxeforge adds\n"
    "                          the boot information), authoritative (an isolated\n"
    "                          network: pxeforge hands out addresses), or off\n"
    "  --dhcp-range START,END  addresses to hand out (authoritative)\n"
    "  --netmask MASK          of the range (default: the interface's)\n"
    "  --router ADDR           default gateway to hand out (authoritative; default none)\n"
    "  --tftp-port N           default 69\n"
    "  --http-port N           default 80\n"
    "  --user USER             serve as USER (default nobody)\n"
    "  --runtime-dir DIR       dnsmasq's config and leases (default /run/pxeforge/PID)\n"
    "  --log-level LEVEL       error, warning, info (default) or debug\n"
    "  --help                  print this help\n"
    "\n"
    "Exit status: 0 stopped by a signal, 1 failed to start, 2 bad command line.\n";

enum {
        OPT_ARTIFACTS = 256,
        OPT_INTERFACE,
        OPT_ADDRESS,
        OPT_DHCP,
        OPT_RANGE,
        OPT_NETMASK,
        OPT_ROUTER,
        OPT_TFTP_PORT,
        OPT_HTTP_PORT,
        OPT_USER,
        OPT_RUNTIME_DIR,
        OPT_LOG_LEVEL,
};

static const struct option long_options[] = {
    {"artifacts", required_argument, NULL, OPT_ARTIFACTS},
    {"interface", required_argument, NULL, OPT_INTERFACE},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"dhcp", required_argument, NULL, OPT_DHCP},
    {"dhcp-range", required_argument, NULL, OPT_RANGE},
    {"netmask", required_argument, NULL, OPT_NETMASK},
    {"router", required_argument, NULL, OPT_ROUTER},
    {"tftp-port", required_argument, NULL, OPT_TFTP_PORT},
    {"http-port", required_argument, NULL, OPT_HTTP_PORT},
    {"user", required_argument, NULL, OPT_USER},
    {"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, 'h'},
    {0},
};

static int parse_dhcp_mode(const char *s, enum appliance_dhcp *ret)
{
        static const char *const names[] = {
            [APPLIANCE_DHCP_OFF] = "off",
            [APPLIANCE_DHCP_PROXY] = "proxy",
            [APPLIANCE_DHCP_AUTHORITATIVE] = "authoritative",
        };

        for (size_t i = 0; i < PXF_ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum appliance_dhcp)i;
                        return PXF_EXIT_OK;
                }
        log_error("unknown --dhcp mode '%s' (expected proxy, authoritative or off)", s);
        return PXF_EXIT_USAGE;
}

static int parse_port(const char *what, const char *s, uint16_t *ret)
{
        char *end;
        long v = strtol(s, &end, 10);

        if (end == s || *end || v < 1 || v > 65535) {
                log_error("invalid %s '%s' (expected 1 to 65535)", what, s);
                return PXF_EXIT_USAGE;
        }
        *ret = (uint16_t)v;
        return PXF_EXIT_OK;
}

/* "START,END" into two strings that live in s (which is modified). */
static int parse_range(char *s, struct appliance_opts *o)
{
        char *comma = strchr(s, ',');

        if (!comma || comma == s || !comma[1]) {
                log_error("invalid --dhcp-range '%s' (expected START,END)", s);
                return PXF_EXIT_USAGE;
        }
        *comma = '\0';
        o->range_start = s;
        o->range_end = comma + 1;
        return PXF_EXIT_OK;
}

static int parse_option(int c, struct appliance_opts *o)
{
        switch (c) {
        case OPT_ARTIFACTS:
                o->artifacts = optarg;
                return PXF_EXIT_OK;
        case OPT_INTERFACE:
                o->interface = optarg;
                return PXF_EXIT_OK;
        case OPT_ADDRESS:
                o->address = optarg;
                return PXF_EXIT_OK;
        case OPT_DHCP:
                return parse_dhcp_mode(optarg, &o->dhcp);
        case OPT_RANGE:
                return parse_range(optarg, o);
        case OPT_NETMASK:
                o->netmask = optarg;
                return PXF_EXIT_OK;
        case OPT_ROUTER:
                o->router = optarg;
                return PXF_EXIT_OK;
        case OPT_TFTP_PORT:
                return parse_port("--tftp-port", optarg, &o->tftp_port);
        case OPT_HTTP_PORT:
                return parse_port("--http-port", optarg, &o->http_port);
        case OPT_USER:
                o->user = optarg;
                return PXF_EXIT_OK;
        case OPT_RUNTIME_DIR:
                o->runtime_dir = optarg;
                return PXF_EXIT_OK;
        case OPT_LOG_LEVEL:
                return set_log_level(optarg);
        default:
                return PXF_EXIT_USAGE;
        }
}

static int parse_args(int argc, char **argv, struct appliance_opts *o)
{
        int c, r;

        while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
                if (c == 'h') {
                        fputs(usage, stdout);
                        return -1;
                }
                r = parse_option(c, o);
                if (r != PXF_EXIT_OK) {
                        fputs(usage, stderr);
                        return r;
                }
        }
        if (!o->artifacts || optind != argc) {
                log_error("serve needs --artifacts and no other arguments");
                fputs(usage, stderr);
                return PXF_EXIT_USAGE;
        }
        if (o->dhcp == APPLIANCE_DHCP_AUTHORITATIVE && !o->range_start) {
                log_error("--dhcp authoritative needs --dhcp-range START,END");
                return PXF_EXIT_USAGE;
        }
        return PXF_EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
        struct appliance_opts o = {.dhcp = APPLIANCE_DHCP_PROXY};
        struct pxf_error err = {0};
        _cleanup_free_ char *artifacts = NULL, *cwd = NULL;
        int r = parse_args(argc, argv, &o);

        if (r != PXF_EXIT_OK)
                return r < 0 ? PXF_EXIT_OK : r;
        /* Absolute, but not resolved: a symlink swapped to a new folder is followed. */
        cwd = getcwd(NULL, 0);
        artifacts = cwd ? pxf_path_resolve(cwd, o.artifacts) : NULL;
        if (!artifacts) {
                log_error("cannot resolve '%s': %m", o.artifacts);
                return PXF_EXIT_FAILED;
        }
        o.artifacts = artifacts;
        r = appliance_run(&o, &err);
        if (r < 0) {
                log_error("%s", err.msg);
                return PXF_EXIT_FAILED;
        }
        return PXF_EXIT_OK;
}
