/* pxeforge validate-config: static checks of a configuration file. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

struct validate_args {
        const char *config;
        bool files;
        const char *build_dir;
};

/* The reference tool's --validate-resources: a comma-separated list of files, oci, all. */
static int parse_resources(const char *option, const char *value, void *field)
{
        _cleanup_free_ char *copy = pxf_strdup(value);
        char *save = NULL;

        for (char *kind = strtok_r(copy, ",", &save); kind; kind = strtok_r(NULL, ",", &save)) {
                if (strcmp(kind, "files") == 0 || strcmp(kind, "all") == 0) {
                        *(bool *)field = true;
                } else if (strcmp(kind, "oci") == 0) {
                        log_error("%s oci is not supported by pxeforge: it reads disk image files "
                                  "only",
                                  option);
                        return PXF_EXIT_USAGE;
                } else {
                        log_error("unknown %s '%s' (expected files, oci or all)", option, kind);
                        return PXF_EXIT_USAGE;
                }
        }
        return PXF_EXIT_OK;
}

static const struct cli_option options[] = {
    {"config-file", "FILE", CLI_STRING, offsetof(struct validate_args, config), NULL, true,
     "the configuration to check"},
    {"validate-files", NULL, CLI_FLAG, offsetof(struct validate_args, files), NULL, false,
     "also check that every file and directory it names exists"},
    {"validate-resources", "LIST", CLI_CUSTOM, offsetof(struct validate_args, files),
     parse_resources, false,
     "the reference tool's form: files (the same as --validate-files) or all; oci is refused"},
    {"build-dir", "DIR", CLI_STRING, offsetof(struct validate_args, build_dir), NULL, false,
     "accepted for the reference tool's scripts; validating needs no scratch space"},
};

static int run(void *args)
{
        struct validate_args *a = args;
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        int r = load_config(a->config, a->files, &cfg);

        if (r == PXF_EXIT_OK)
                log_info("%s: valid", a->config);
        return r;
}

const struct cli_command cli_cmd_validate_config = {
    .name = "validate-config",
    .synopsis = "--config-file FILE [--validate-files]",
    .summary = "check a configuration file without touching any image",
    .description = "Checks a configuration file without touching any image: syntax, known keys,\n"
                   "types, allowed values, required and conflicting fields. Every problem is\n"
                   "reported as FILE:LINE:COLUMN: KEY.PATH: MESSAGE.\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 valid, 2 bad command line, 3 invalid configuration.",
    .args_size = sizeof(struct validate_args),
    .run = run,
};
