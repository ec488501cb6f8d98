/* commands.h: the subcommands of the surgery CLI; each returns the process exit status. */
#ifndef SURGERY_COMMANDS_H
#define SURGERY_COMMANDS_H

/* Ownership: argv is borrowed; argv[0] is the command name. */

/* Exit statuses (docs/language.md): */
enum {
    EXIT_OK = 0,
    EXIT_SCRIPT_ERRORS = 1,
    EXIT_USAGE = 2,
    EXIT_EXPECT_FAILED = 3,
    EXIT_RUNTIME = 4
};

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

int cmd_check(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_fmt(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Shared option parsing: --color=auto|always|never. Returns 1 when argv[i] was a colour
 * option (and sets *mode), 0 when not, -1 on a bad value (reported on stderr). */
#include "runtime/base/diag.h"
int cli_color_option(const char *arg, diag_color_mode *mode);

/* Whether path is a file the command can read: 0, or -1 after "surgery CMD: error: PATH:
 * REASON" on stderr (a folder is "Is a directory"); the caller exits with EXIT_USAGE. */
int cli_readable_file(const char *cmd, const char *path);

#endif
