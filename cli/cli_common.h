/* cli_common.h: option parsing shared by the subcommands (--set, unknown options). */
#ifndef SURGERY_CLI_COMMON_H
#define SURGERY_CLI_COMMON_H

#include "../compiler/frontend.h"

/* Ownership: the strings stored in a param_override by cli_set_option point into argv (the
 * key is copied: free it with free((char *)o->key)). */

/* Recognises `--set NAME=VALUE` (two arguments) and `--set=NAME=VALUE` at argv[*i]. Returns 1
 * when it was one (filling *o and advancing *i past a separate value), 0 when it was not, -1
 * when malformed (reported on stderr as "surgery CMD: error: ..."). */
int cli_set_option(const char *cmd, int argc, char **argv, int *i, param_override *o);

/* Reports an unknown option with a "did you mean" among the command's options (NULL-ended);
 * always returns EXIT_USAGE. */
int cli_unknown_option(const char *cmd, const char *arg, const char *const *known);

#endif
