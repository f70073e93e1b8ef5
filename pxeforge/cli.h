/* The command line of every pxeforge subcommand, from one table per command.
 *
 * A command is described once (struct cli_command): its synopsis, what it does, its
 * options with their help, and its exit status. Parsing, `--help`, the man page
 * pxeforge(1) (`pxeforge manual`) and the README's usage blocks all come from these
 * tables, so they cannot drift apart (tests/integration/manual.sh compares them).
 * Every command takes --log-level and --help besides its own options.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cli_kind {
        CLI_STRING,  /* a const char * field takes the value as it is */
        CLI_FLAG,    /* a bool field is set */
        CLI_CUSTOM,  /* parse("--name", value, field) checks and stores: PXF_EXIT_OK or _USAGE */
        CLI_REFUSED, /* a flag of the reference tool pxeforge refuses; help says why */
};

struct cli_option {
        const char *name;    /* without the leading "--" */
        const char *metavar; /* "FILE"; NULL for a flag */
        enum cli_kind kind;
        size_t offset; /* of the field in the command's argument struct */
        int (*parse)(const char *option, const char *value, void *field); /* "--name" */
        bool required;
        const char *help; /* sentences, wrapped when printed */
};

struct cli_command {
        const char *name;        /* "customize" */
        const char *synopsis;    /* after "pxeforge NAME ": "--config-file FILE [OPTIONS]" */
        const char *summary;     /* one line for `pxeforge --help` */
        const char *description; /* paragraphs separated by blank lines */
        const struct cli_option *options;
        size_t n_options;
        /* Words after the options, each into a const char * field from operands_offset on
         * (consecutive), exactly n_operands of them, named in the synopsis. */
        size_t n_operands;
        size_t operands_offset;
        const char *exit_status;
        size_t args_size;         /* of the argument struct run takes */
        void (*init)(void *args); /* defaults before parsing, or NULL */
        int (*check)(void *args); /* rules between options, or NULL */
        int (*run)(void *args);   /* returns an exit status */
};

/* The commands of pxeforge, in the order the help lists them. */
extern const struct cli_command *const cli_commands[];
extern const size_t cli_n_commands;

/* Parses argv (argv[0] is the command's name) into args. Returns PXF_EXIT_OK, -1 when
 * --help was printed, or PXF_EXIT_USAGE after saying what is wrong. */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *args);
/* Runs the command: parse, check, run; its exit status. */
int cli_run(const struct cli_command *cmd, int argc, char **argv);
void cli_print_help(const struct cli_command *cmd, FILE *f);
void cli_print_main_help(FILE *f);
/* pxeforge(1) in troff (man macros). */
void cli_print_manual(FILE *f);
/* The options every command takes and pxeforge itself before the command (--log-level,
 * --log-file, --log-format, --disable-telemetry): applies one; PXF_EXIT_OK or
 * PXF_EXIT_USAGE after saying what is wrong. */
int cli_global_option(const char *name, const char *value);
/* The common option named by the len bytes of name, or NULL. */
const struct cli_option *cli_find_global_option(const char *name, size_t len);
