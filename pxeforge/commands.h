/* The pxeforge program: subcommands and the exit codes they share. */
#pragma once

#include "common/common.h"
#include "config/config.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct cfg_config *, cfg_free)

enum pxf_exit {
        PXF_EXIT_OK = 0,
        PXF_EXIT_FAILED = 1, /* the build or check failed; the message says why */
        PXF_EXIT_USAGE = 2,  /* bad command line */
        PXF_EXIT_CONFIG = 3, /* the configuration file is invalid */
        PXF_EXIT_INTERRUPTED = 130,
};

struct cli_command;
extern const struct cli_command cli_cmd_customize;
extern const struct cli_command cli_cmd_convert;
extern const struct cli_command cli_cmd_validate_config;
extern const struct cli_command cli_cmd_serve;
extern const struct cli_command cli_cmd_up;
extern const struct cli_command cli_cmd_status;
extern const struct cli_command cli_cmd_machine;

/* Loads a config and logs every diagnostic; with check_files also checks referenced
 * files. Returns PXF_EXIT_OK or PXF_EXIT_CONFIG. */
int load_config(const char *path, bool check_files, struct cfg_config **ret);
struct appliance_opts;
/* Fills the settings o leaves unset (NULL or 0) from a config's `server` section; DHCP is
 * off without an interface. What the command line set wins. */
void server_settings(struct appliance_opts *o, const struct cfg_server *s, bool dhcp_set);
struct grp_set;
/* server.machines as the rules pxeforge-server and dnsmasq apply (status/groups.h) into
 * *ret; names (NULL-terminated, at least one) are the builds served, the first being
 * what machines no group holds boot by default. -EINVAL with err naming the config's
 * file, line and key of a build that is not served. */
int machine_groups_from_config(const struct cfg_config *cfg, const char *const *names,
                               struct grp_set *ret, struct pxf_error *err);
/* Whether the config's server.machines says anything. */
bool machine_groups_given(const struct cfg_config *cfg);
/* On SIGHUP: server.machines of config_path read again into *ret (said nothing: every
 * machine boots names[0]); -EINVAL, logged, when the file or its groups are not valid,
 * and the running groups stay. */
int machine_groups_reload(const char *config_path, const char *const *names, struct grp_set *ret);
/* A command's exit status from its last result: PXF_EXIT_OK, or PXF_EXIT_FAILED after
 * logging err's message. */
int exit_status(int r, const struct pxf_error *err);
/* The same for a build (customize, convert): an interrupted one says the output was not
 * written and returns PXF_EXIT_INTERRUPTED. */
int build_exit_status(int r, const struct pxf_error *err);
/* --output-image-format FMT into an enum cfg_image_format field (a cli_option parser);
 * Image Customizer's formats pxeforge does not write are refused with the reason. */
int cli_parse_image_format(const char *option, const char *value, void *field);
/* A port number, 1 to 65535, into a uint16_t field (a cli_option parser). */
int cli_parse_port(const char *option, const char *value, void *field);
