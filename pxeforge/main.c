/* pxeforge: entry point and subcommand dispatch. */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "pxeforge/cli.h"
#include "pxeforge/appliance.h"
#include "pxeforge/commands.h"

const struct cli_command *const cli_commands[] = {
    &cli_cmd_customize, &cli_cmd_convert, &cli_cmd_validate_config, &cli_cmd_serve,
    &cli_cmd_up,        &cli_cmd_status,  &cli_cmd_machine,
};
const size_t cli_n_commands = PXF_ELEMENTSOF(cli_commands);

int cli_parse_image_format(const char *option, const char *value, void *field)
{
        int r = cfg_image_format_from_string(value, field);

        if (r == -EOPNOTSUPP)
                log_error("%s '%s' is not supported by pxeforge: %s", option, value,
                          cfg_image_format_refusal(value));
        else if (r < 0)
                log_error("unknown %s '%s' (expected raw, qcow2, vhd, vhd-fixed, vhdx, iso, "
                          "pxe-dir or pxe-tar)",
                          option, value);
        return r < 0 ? PXF_EXIT_USAGE : PXF_EXIT_OK;
}

int build_exit_status(int r, const struct pxf_error *err)
{
        if (r != -ECANCELED)
                return exit_status(r, err);
        log_error("interrupted; the output was not written");
        return PXF_EXIT_INTERRUPTED;
}

int exit_status(int r, const struct pxf_error *err)
{
        if (r >= 0)
                return PXF_EXIT_OK;
        log_error("%s", err->msg);
        return PXF_EXIT_FAILED;
}

int load_config(const char *path, bool check_files, struct cfg_config **ret)
{
        struct cfg_diags diags = {0};
        int r = cfg_load_file(path, ret, &diags);

        if (r >= 0 && check_files && cfg_validate_files(*ret, &diags) < 0) {
                *ret = cfg_free(*ret);
                r = -EINVAL;
        }
        for (size_t i = 0; i < diags.n; i++) {
                _cleanup_free_ char *line = cfg_diag_format(&diags.items[i]);
                log_error("%s", line);
        }
        if (r < 0 && diags.n == 0)
                log_error("%s: invalid configuration", path);
        cfg_diags_clear(&diags);
        return r < 0 ? PXF_EXIT_CONFIG : PXF_EXIT_OK;
}

static enum appliance_dhcp dhcp_mode(enum cfg_dhcp_mode m)
{
        switch (m) {
        case CFG_DHCP_OFF:
                return APPLIANCE_DHCP_OFF;
        case CFG_DHCP_AUTHORITATIVE:
                return APPLIANCE_DHCP_AUTHORITATIVE;
        case CFG_DHCP_UNSET:
        case CFG_DHCP_PROXY:
                break;
        }
        return APPLIANCE_DHCP_PROXY;
}

#define DEFAULT(field, value)                                                                      \
        do {                                                                                       \
                if (!(field))                                                                      \
                        (field) = (value);                                                         \
        } while (0)

void server_settings(struct appliance_opts *o, const struct cfg_server *s, bool dhcp_set)
{
        DEFAULT(o->interface, s->interface);
        DEFAULT(o->address, s->address);
        DEFAULT(o->tftp_port, (uint16_t)s->tftp_port);
        DEFAULT(o->http_port, (uint16_t)s->http_port);
        DEFAULT(o->netmask, s->netmask);
        DEFAULT(o->router, s->router);
        DEFAULT(o->user, s->user);
        DEFAULT(o->ipxe, s->ipxe);
        DEFAULT(o->state_dir, s->state_dir);
        if (s->status_loc.line && !s->status)
                o->no_status = true;
        if (!o->range_start) {
                o->range_start = s->range_start;
                o->range_end = s->range_end;
        }
        if (!dhcp_set)
                o->dhcp = o->interface ? dhcp_mode(s->dhcp) : APPLIANCE_DHCP_OFF;
#define LIMIT_DEFAULT(section, field) DEFAULT(o->section.field, s->section.field);
#define TFTP_DEFAULT(field, ...)      LIMIT_DEFAULT(tftp, field)
#define HTTP_DEFAULT(field, ...)      LIMIT_DEFAULT(http, field)
        TFTPD_LIMITS(TFTP_DEFAULT)
        HTTPD_LIMITS(HTTP_DEFAULT)
}

int main(int argc, char **argv)
{
        int i = 1;

        /* Guest file names are bytes in UTF-8; libarchive converts them through the
         * locale's character set, and the "C" locale cannot hold them. */
        if (!setlocale(LC_CTYPE, "C.UTF-8"))
                log_warning("the C.UTF-8 locale is missing: file names outside ASCII may fail");

        for (; i < argc && argv[i][0] == '-'; i++) {
                const char *name = argv[i] + 2, *value = NULL;
                size_t len = strcspn(name, "=");
                const struct cli_option *o =
                    strncmp(argv[i], "--", 2) == 0 ? cli_find_global_option(name, len) : NULL;

                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        cli_print_main_help(stdout);
                        return PXF_EXIT_OK;
                }
                if (strcmp(argv[i], "--version") == 0) {
                        printf("pxeforge %s\n", PXF_VERSION);
                        return PXF_EXIT_OK;
                }
                if (!o)
                        break; /* an option of customize, the default command */
                if (o->metavar)
                        value = name[len] ? name + len + 1 : i + 1 < argc ? argv[++i] : NULL;
                if (o->metavar && !value) {
                        log_error("--%s needs a value", o->name);
                        return PXF_EXIT_USAGE;
                }
                if (cli_global_option(o->name, value) != PXF_EXIT_OK)
                        return PXF_EXIT_USAGE;
        }
        if (i >= argc) {
                cli_print_main_help(stderr);
                return PXF_EXIT_USAGE;
        }
        /* Options with no command: customize, as the reference tool does (argv[i - 1],
         * the program or a global option, stands in for the command's name). */
        if (argv[i][0] == '-')
                return cli_run(&cli_cmd_customize, argc - i + 1, argv + i - 1);
        /* Not listed: the build writes the manual pages with it (man/). */
        if (strcmp(argv[i], "manual") == 0 && argc - i == 1) {
                cli_print_manual(stdout);
                return PXF_EXIT_OK;
        }
        if (strcmp(argv[i], "manual") == 0 && argc - i == 2 && strcmp(argv[i + 1], "config") == 0) {
                cfg_print_manual(stdout, PXF_VERSION);
                return PXF_EXIT_OK;
        }
        for (size_t c = 0; c < cli_n_commands; c++)
                if (strcmp(argv[i], cli_commands[c]->name) == 0)
                        return cli_run(cli_commands[c], argc - i, argv + i);
        log_error("unknown command '%s'", argv[i]);
        cli_print_main_help(stderr);
        return PXF_EXIT_USAGE;
}
