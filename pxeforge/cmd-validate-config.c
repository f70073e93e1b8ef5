/* pxeforge validate-config: static checks of a configuration file. */
#include <stddef.h>
#include <stdio.h>

#include "common/common.h"
#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

struct validate_args {
        const char *config;
        bool files;
};

static const struct cli_option options[] = {
    {"config-file", "FILE", CLI_STRING, offsetof(struct validate_args, config), NULL, true,
     "the configuration to check"},
    {"validate-files", NULL, CLI_FLAG, offsetof(struct validate_args, files), NULL, false,
     "also check that every file and directory it names exists"},
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
