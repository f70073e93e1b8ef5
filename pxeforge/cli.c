/* See cli.h: parsing, help and the manual from the command tables. */
#include <getopt.h>
#include <string.h>

#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

#define HELP_WIDTH  80
#define HELP_COLUMN 28 /* where an option's help starts */
#define OPT_BASE    256
#define OPT_COMMON  1024

/* Options every command takes (and pxeforge itself, before the command). */
static const struct cli_option common_options[] = {
    {.name = "log-level",
     .metavar = "LEVEL",
     .help = "error, warning, info (default) or debug (also the reference tool's panic, fatal, "
             "warn and trace)"},
    {.name = "log-file",
     .metavar = "FILE",
     .help = "also append every message, at every level, to FILE"},
    {.name = "log-format",
     .metavar = "FORMAT",
     .help = "text (default) or json: each message as one JSON object a line with level, msg "
             "and time"},
    {.name = "log-color",
     .metavar = "WHEN",
     .help = "always, auto or never: accepted for the reference tool's scripts; pxeforge's "
             "log has no colors"},
    {.name = "disable-telemetry",
     .help = "accepted for the reference tool's scripts: pxeforge sends no telemetry"},
    {.name = "help", .help = "print this help"},
};

int cli_global_option(const char *name, const char *value)
{
        enum pxf_log_level level;
        int r;

        if (strcmp(name, "log-level") == 0) {
                if (pxf_log_level_from_string(value, &level) < 0) {
                        log_error("invalid --log-level '%s' (expected error, warning, info or "
                                  "debug)",
                                  value);
                        return PXF_EXIT_USAGE;
                }
                pxf_log_set_level(level);
        } else if (strcmp(name, "log-file") == 0) {
                r = pxf_log_open_user_file(value);
                if (r < 0) {
                        log_error("cannot open --log-file '%s': %s", value, strerror(-r));
                        return PXF_EXIT_USAGE;
                }
        } else if (strcmp(name, "log-format") == 0) {
                if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0) {
                        log_error("invalid --log-format '%s' (expected text or json)", value);
                        return PXF_EXIT_USAGE;
                }
                pxf_log_set_json(strcmp(value, "json") == 0);
        } else if (strcmp(name, "log-color") == 0) {
                if (strcmp(value, "always") != 0 && strcmp(value, "auto") != 0 &&
                    strcmp(value, "never") != 0) {
                        log_error("invalid --log-color '%s' (expected always, auto or never)",
                                  value);
                        return PXF_EXIT_USAGE;
                }
        } else if (strcmp(name, "disable-telemetry") != 0) {
                return PXF_EXIT_USAGE;
        }
        return PXF_EXIT_OK;
}

/* The option of t named by the len bytes of name, or with prefix the first whose name
 * starts with them; NULL if none. */
static const struct cli_option *lookup(const struct cli_option *t, size_t n, const char *name,
                                       size_t len, bool prefix)
{
        for (size_t i = 0; i < n; i++)
                if (strncmp(t[i].name, name, len) == 0 && (prefix || strlen(t[i].name) == len))
                        return &t[i];
        return NULL;
}

const struct cli_option *cli_find_global_option(const char *name, size_t len)
{
        return lookup(common_options, PXF_ELEMENTSOF(common_options), name, len, false);
}

/* ---- parsing ------------------------------------------------------------------------ */

static struct option *getopt_table(const struct cli_command *cmd)
{
        size_t n = cmd->n_options;
        struct option *t = pxf_calloc(n + PXF_ELEMENTSOF(common_options) + 1, sizeof *t);

        for (size_t i = 0; i < n; i++)
                t[i] = (struct option){cmd->options[i].name,
                                       cmd->options[i].metavar ? required_argument : no_argument,
                                       NULL, OPT_BASE + (int)i};
        for (size_t i = 0; i < PXF_ELEMENTSOF(common_options); i++)
                t[n + i] =
                    (struct option){common_options[i].name,
                                    common_options[i].metavar ? required_argument : no_argument,
                                    NULL, OPT_COMMON + (int)i};
        return t;
}

static int store(const struct cli_option *o, const char *value, void *args)
{
        void *field = (char *)args + o->offset;

        switch (o->kind) {
        case CLI_STRING:
                *(const char **)field = value;
                return PXF_EXIT_OK;
        case CLI_FLAG:
                *(bool *)field = true;
                return PXF_EXIT_OK;
        case CLI_CUSTOM: {
                _cleanup_free_ char *option = pxf_asprintf("--%s", o->name);
                return o->parse(option, value, field);
        }
        case CLI_REFUSED:
                log_error("--%s is not supported by pxeforge: %s", o->name, o->help);
                return PXF_EXIT_USAGE;
        }
        return PXF_EXIT_USAGE;
}

/* The command's or common option named by the len bytes of name (prefix: the first whose
 * name starts with them, for a hint), or NULL. */
static const struct cli_option *find_option(const struct cli_command *cmd, const char *name,
                                            size_t len, bool prefix)
{
        const struct cli_option *o = lookup(cmd->options, cmd->n_options, name, len, prefix);

        return o ? o : lookup(common_options, PXF_ELEMENTSOF(common_options), name, len, prefix);
}

/* getopt_long takes any unambiguous prefix of a long option: --image would be read as
 * --image-file, where the reference tool's --image means an OCI image. Every option must
 * be written in full. */
static int check_full_names(const struct cli_command *cmd, int argc, char **argv)
{
        for (int k = 1; k < argc && strcmp(argv[k], "--") != 0; k++) {
                const char *name = argv[k] + 2;
                size_t len = strcspn(name, "=");
                const struct cli_option *o, *full;

                if (strncmp(argv[k], "--", 2) != 0)
                        continue;
                o = find_option(cmd, name, len, false);
                if (o) {
                        k += o->metavar && !name[len]; /* its value is the next argument */
                        continue;
                }
                full = find_option(cmd, name, len, true);
                if (full)
                        log_error("unknown option '--%.*s' (options are never abbreviated: "
                                  "--%s?)",
                                  (int)len, name, full->name);
                else
                        log_error("unknown option '--%.*s'", (int)len, name);
                return PXF_EXIT_USAGE;
        }
        return PXF_EXIT_OK;
}

static int check_required(const struct cli_command *cmd, const void *args)
{
        for (size_t i = 0; i < cmd->n_options; i++) {
                const struct cli_option *o = &cmd->options[i];
                if (o->required && !*(const char *const *)((const char *)args + o->offset)) {
                        log_error("%s needs --%s", cmd->name, o->name);
                        return PXF_EXIT_USAGE;
                }
        }
        return PXF_EXIT_OK;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *args)
{
        _cleanup_free_ struct option *table = getopt_table(cmd);
        int c, r = PXF_EXIT_OK;

        r = check_full_names(cmd, argc, argv);
        optind = 0; /* a fresh scan: getopt keeps state between calls */
        while (r == PXF_EXIT_OK && (c = getopt_long(argc, argv, "h", table, NULL)) != -1) {
                const struct cli_option *common =
                    c >= OPT_COMMON ? &common_options[c - OPT_COMMON] : NULL;

                if (c == 'h' || (common && strcmp(common->name, "help") == 0)) {
                        cli_print_help(cmd, stdout);
                        return -1;
                }
                if (common)
                        r = cli_global_option(common->name, optarg);
                else if (c >= OPT_BASE && (size_t)(c - OPT_BASE) < cmd->n_options)
                        r = store(&cmd->options[c - OPT_BASE], optarg, args);
                else
                        r = PXF_EXIT_USAGE; /* getopt said what */
        }
        if (r == PXF_EXIT_OK && (size_t)(argc - optind) != cmd->n_operands) {
                if (cmd->n_operands)
                        log_error("%s takes %zu argument%s besides options: %s", cmd->name,
                                  cmd->n_operands, cmd->n_operands == 1 ? "" : "s", cmd->synopsis);
                else
                        log_error("%s takes no arguments besides options: '%s'", cmd->name,
                                  argv[optind]);
                r = PXF_EXIT_USAGE;
        }
        for (size_t i = 0; r == PXF_EXIT_OK && i < cmd->n_operands; i++)
                ((const char **)((char *)args + cmd->operands_offset))[i] = argv[optind + (int)i];
        if (r == PXF_EXIT_OK)
                r = check_required(cmd, args);
        if (r == PXF_EXIT_OK && cmd->check)
                r = cmd->check(args);
        if (r != PXF_EXIT_OK)
                fprintf(stderr, "Run 'pxeforge %s --help' for its options.\n", cmd->name);
        return r;
}

int cli_run(const struct cli_command *cmd, int argc, char **argv)
{
        _cleanup_free_ void *args = pxf_calloc(1, cmd->args_size);
        int r;

        if (cmd->init)
                cmd->init(args);
        r = cli_parse(cmd, argc, argv, args);
        if (r != PXF_EXIT_OK)
                return r < 0 ? PXF_EXIT_OK : r;
        return cmd->run(args);
}

/* ---- help --------------------------------------------------------------------------- */

/* Prints text wrapped at HELP_WIDTH, every line but the first indented to column. */
static void print_wrapped(FILE *f, const char *text, size_t start, size_t column)
{
        size_t at = start;
        bool first = true;

        while (*text) {
                size_t word = strcspn(text, " ");
                if (!first && at + 1 + word > HELP_WIDTH) {
                        fprintf(f, "\n%*s", (int)column, "");
                        at = column;
                } else if (!first) {
                        fputc(' ', f);
                        at++;
                }
                first = false;
                fprintf(f, "%.*s", (int)word, text);
                at += word;
                text += word;
                text += strspn(text, " ");
        }
        fputc('\n', f);
}

static void print_option(FILE *f, const struct cli_option *o)
{
        int n =
            fprintf(f, "  --%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");

        if (n + 2 > HELP_COLUMN) {
                fprintf(f, "\n%*s", HELP_COLUMN, "");
                n = HELP_COLUMN;
        } else {
                fprintf(f, "%*s", HELP_COLUMN - n, "");
                n = HELP_COLUMN;
        }
        print_wrapped(f, o->help, (size_t)n, HELP_COLUMN);
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
        fprintf(f, "Usage: pxeforge %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->description);
        for (size_t i = 0; i < cmd->n_options; i++)
                print_option(f, &cmd->options[i]);
        for (size_t i = 0; i < PXF_ELEMENTSOF(common_options); i++)
                print_option(f, &common_options[i]);
        fprintf(f, "\nExit status: ");
        print_wrapped(f, cmd->exit_status, 13, 0);
}

static const char main_description[] =
    "Customize Linux disk images and turn them into network-boot artifacts, and serve\n"
    "them: TFTP, HTTP and DHCP (proxy or authoritative) from one process tree.\n";

static const char main_exit_status[] =
    "0 success, 1 failure, 2 bad command line, 3 invalid configuration, 130 interrupted.";

void cli_print_main_help(FILE *f)
{
        fprintf(f, "Usage: pxeforge [--log-level LEVEL] COMMAND [OPTIONS]\n\n%s\nCommands:\n",
                main_description);
        for (size_t i = 0; i < cli_n_commands; i++)
                fprintf(f, "  %-17s%s\n", cli_commands[i]->name, cli_commands[i]->summary);
        fprintf(f, "\nWithout a COMMAND, the options are those of customize (as with the "
                   "reference\ntool).\n\nOptions:\n");
        for (size_t i = 0; i < PXF_ELEMENTSOF(common_options); i++)
                if (strcmp(common_options[i].name, "help") != 0)
                        print_option(f, &common_options[i]);
        fprintf(f, "  --version                 print the version and exit\n"
                   "  --help                    print this help and exit\n"
                   "\nRun 'pxeforge COMMAND --help' for the options of a command.\n\n"
                   "Exit status: ");
        print_wrapped(f, main_exit_status, 13, 0);
}

/* ---- the manual --------------------------------------------------------------------- */

static void man_option(FILE *f, const struct cli_option *o)
{
        fputs(".TP\n\\fB\\-\\-", f);
        pxf_troff_text(f, o->name);
        fputs("\\fR", f);
        if (o->metavar) {
                fputs(" \\fI", f);
                pxf_troff_text(f, o->metavar);
                fputs("\\fR", f);
        }
        fputc('\n', f);
        pxf_troff_text(f, o->help);
        fputs("\n", f);
}

/* Paragraphs: a blank line in the text starts a new one. */
static void man_paragraphs(FILE *f, const char *text)
{
        _cleanup_free_ char *copy = pxf_strdup(text);
        char *p = copy, *blank;

        while ((blank = strstr(p, "\n\n"))) {
                *blank = '\0';
                pxf_troff_text(f, p);
                fputs("\n.PP\n", f);
                p = blank + 2;
        }
        pxf_troff_text(f, p);
        fputc('\n', f);
}

static void man_command(FILE *f, const struct cli_command *cmd)
{
        fputs(".SS \"pxeforge ", f);
        pxf_troff_text(f, cmd->name);
        fputs(" ", f);
        pxf_troff_text(f, cmd->synopsis);
        fputs("\"\n", f);
        man_paragraphs(f, cmd->description);
        for (size_t i = 0; i < cmd->n_options; i++)
                man_option(f, &cmd->options[i]);
        for (size_t i = 0; i < PXF_ELEMENTSOF(common_options); i++)
                man_option(f, &common_options[i]);
        fputs(".PP\nExit status: ", f);
        pxf_troff_text(f, cmd->exit_status);
        fputc('\n', f);
}

void cli_print_manual(FILE *f)
{
        fprintf(f,
                ".\\\" Generated by `pxeforge manual` from the command tables; do not edit.\n"
                ".TH PXEFORGE 1 \"\" \"pxeforge %s\" \"User Commands\"\n"
                ".SH NAME\npxeforge \\- customize Linux disk images into network\\-boot "
                "artifacts and serve them\n"
                ".SH SYNOPSIS\n.B pxeforge\n[\\fB\\-\\-log\\-level\\fR \\fILEVEL\\fR] "
                "\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.SH DESCRIPTION\n",
                PXF_VERSION);
        pxf_troff_text(f, main_description);
        fputs(".SH COMMANDS\n", f);
        for (size_t i = 0; i < cli_n_commands; i++)
                man_command(f, cli_commands[i]);
        fputs(".SH EXIT STATUS\n", f);
        pxf_troff_text(f, main_exit_status);
        fputs("\n.SH FILES\n.TP\n/etc/pxeforge/\\fINAME\\fR.yaml\nthe configuration of the "
              "service pxeforge@\\fINAME\\fR (pxeforge up)\n.TP\n/var/lib/pxeforge/\\fINAME\\fR\n"
              "its builds and the served artifacts\n"
              ".SH SEE ALSO\n.BR pxeforge.yaml (5),\n.BR dnsmasq (8)\n",
              f);
}
