/* pxeforge validate-config: static checks of a configuration file. */
#include <getopt.h>
#include <stdio.h>

#include "common/common.h"
#include "pxeforge/commands.h"

static const char usage[] =
    "Usage: pxeforge validate-config --config-file FILE [--validate-files]\n"
    "\n"
    "Checks a configuration file without touching any image: syntax, known keys,\n"
    "types, allowed values, required and conflicting fields. Every problem is\n"
    "reported as FILE:LINE:COLUMN: KEY.PATH: MESSAGE.\n"
    "\n"
    "  --config-file FILE  the configuration to check\n"
    "  --validate-files    also check that every file and directory it names exists\n"
    "  --log-level LEVEL   error, warning, info or debug\n"
    "  --help              print this help\n";

int cmd_validate_config(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config-file", required_argument, NULL, 'c'},
            {"validate-files", no_argument, NULL, 'f'},
            {"log-level", required_argument, NULL, 'l'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        const char *config = NULL;
        bool files = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 'f':
                        files = true;
                        break;
                case 'l':
                        if (set_log_level(optarg) != PXF_EXIT_OK)
                                return PXF_EXIT_USAGE;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return PXF_EXIT_OK;
                default:
                        fputs(usage, stderr);
                        return PXF_EXIT_USAGE;
                }
        }
        if (!config || optind != argc) {
                log_error("validate-config needs --config-file and no other arguments");
                fputs(usage, stderr);
                return PXF_EXIT_USAGE;
        }
        r = load_config(config, files, &cfg);
        if (r == PXF_EXIT_OK)
                log_info("%s: valid", config);
        return r;
}
