/* cli_common.h: option parsing shared by the subcommands (--set, unknown options). */
#ifndef SURGERY_CLI_COMMON_H
#define SURGERY_CLI_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include "compiler/frontend.h"

/* Ownership: the strings stored in a param_override by cli_set_option point into argv (the
 * key is copied: free it with free((char *)o->key)). A script_args owns its arrays and the
 * --set keys (script_args_release frees them); the script names and values point into argv. */

/* Recognises `--set NAME=VALUE` (two arguments) and `--set=NAME=VALUE` at argv[*i]. Returns 1
 * when it was one (filling *o and advancing *i past a separate value), 0 when it was not, -1
 * when malformed (reported on stderr as "surgery CMD: error: ..."). */
int cli_set_option(const char *cmd, int argc, char **argv, int *i, param_override *o);

/* The status of a command whose input had errors: 1, or 4 when an error was running out of
 * memory (the machine failed, not the input). */
int cli_error_status(const diag_ctx *d);

/* Reports an unknown option with a "did you mean" among the command's options (NULL-ended);
 * always returns EXIT_USAGE. */
int cli_unknown_option(const char *cmd, const char *arg, const char *const *known);

/* A command's own option: `--name VALUE`, `--name=VALUE` (takes_value) or a flag; `alias` is
 * a short form such as "-o" (or NULL). Exactly one of value / flag is set. */
typedef struct cli_opt {
    const char *name;
    const char *alias;
    const char **value;
    bool *flag;
} cli_opt;

/* What the commands that take scripts (check, plan, run, compile) share. */
typedef struct script_args {
    const char **scripts;
    int n_scripts;
    param_override *sets;
    int n_sets;
    diag_color_mode color;
} script_args;

enum { CLI_PARSED = 0, CLI_HELP = -1, CLI_TAKEN = -2, CLI_NOT_COMMON = -3 };

/* The options every command takes, at one argument: --color=WHEN and -h/--help (usage(stdout)
 * prints the help). Returns CLI_TAKEN (go on to the next argument), CLI_NOT_COMMON (neither),
 * or the status to exit with: EXIT_OK after the help, EXIT_USAGE for a bad --color (reported). */
int cli_common_option(const char *arg, diag_color_mode *color, void (*usage)(FILE *));

/* Parses argv[1..argc): scripts, --set, --color, -h/--help, `--` (the rest are scripts) and the
 * command's own options (opts, ended by a zeroed entry); at most max_scripts scripts (0: any
 * number), at least one. Returns CLI_PARSED, CLI_HELP when help was asked for, or EXIT_USAGE /
 * EXIT_RUNTIME after reporting the problem on stderr ("surgery CMD: error: ..."). */
int cli_parse_script_args(const char *cmd, int argc, char **argv, const cli_opt *opts,
                          int max_scripts, script_args *out);
void script_args_release(script_args *a);

#endif
