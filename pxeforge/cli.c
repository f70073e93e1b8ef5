/* See cli.h: parsing, help and the manual from the command tables. */
#include <getopt.h>
#include <string.h>

#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

#define HELP_WIDTH  80
#define HELP_COLUMN 28 /* where an option's help starts */
#define OPT_BASE    256

static const struct cli_option common_options[] = {
    {.name = "log-level", .metavar = "LEVEL", .help = "error, warning, info (default) or debug"},
    {.name = "help", .help = "print this help"},
};

/* ---- parsing ------------------------------------------------------------------------ */

static struct option *getopt_table(const struct cli_command *cmd)
{
        size_t n = cmd->n_options;
        struct option *t = pxf_calloc(n + PXF_ELEMENTSOF(common_options) + 1, sizeof *t);

        for (size_t i = 0; i < n; i++)
                t[i] = (struct option){cmd->options[i].name,
                                       cmd->options[i].metavar ? required_argument : no_argument,
                                       NULL, OPT_BASE + (int)i};
        t[n] = (struct option){"log-level", required_argument, NULL, 'l'};
        t[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
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
        }
        return PXF_EXIT_USAGE;
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

        optind = 0; /* a fresh scan: getopt keeps state between calls */
        while (r == PXF_EXIT_OK && (c = getopt_long(argc, argv, "h", table, NULL)) != -1) {
                if (c == 'h') {
                        cli_print_help(cmd, stdout);
                        return -1;
                }
                if (c == 'l')
                        r = set_log_level(optarg);
                else if (c >= OPT_BASE && (size_t)(c - OPT_BASE) < cmd->n_options)
                        r = store(&cmd->options[c - OPT_BASE], optarg, args);
                else
                        r = PXF_EXIT_USAGE; /* getopt said what */
        }
        if (r == PXF_EXIT_OK && optind != argc) {
                log_error("%s takes no arguments besides options: '%s'", cmd->name, argv[optind]);
                r = PXF_EXIT_USAGE;
        }
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
        fprintf(f, "\nOptions:\n"
                   "  --log-level LEVEL  error, warning, info (default) or debug\n"
                   "  --version          print the version and exit\n"
                   "  --help             print this help and exit\n"
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
