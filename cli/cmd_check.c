/* cmd_check.c: `surgery check SCRIPT... [--set NAME=VALUE]...`: every check that needs no
 * weights, all errors of every script reported, nothing executed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "compiler/check.h"
#include "compiler/frontend.h"

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery check SCRIPT... [--set NAME=VALUE]... [--color=WHEN] [-v]\n"
            "\n"
            "Proves that each SCRIPT (a .surgery file, or an .ir.yaml written by `surgery\n"
            "compile`) will run: syntax, includes, parameters, statement and option names, value\n"
            "types and ranges, data names, and the shapes through the whole edited graph, computed\n"
            "from the base model's architecture and the data files' headers (no weight is read).\n"
            "Every error is reported as path:line:col with the source line; nothing is executed.\n"
            "\n"
            "options:\n"
            "  --set NAME=VALUE  override `param NAME` (repeatable; unknown names are an error)\n"
            "  --color=WHEN      colour diagnostics: auto (default: on a terminal), always, never\n"
            "  -v, --verbose     print 'SCRIPT: ok' for each script without errors\n"
            "  -h, --help        this help\n"
            "\n"
            "exit status: 0 every script is valid, 1 a script has errors, 2 bad usage (unknown\n"
            "option, unreadable script, unknown --set parameter), 4 out of memory.\n");
}

int cmd_check(int argc, char **argv)
{
    bool verbose = false;
    const cli_opt opts[] = {{"--verbose", "-v", NULL, &verbose}, {0}};
    script_args args;
    int status = cli_parse_script_args("check", argc, argv, opts, 0, &args);
    if (status == CLI_HELP) {
        check_usage(stdout);
        status = EXIT_OK;
        goto out;
    }
    if (status != CLI_PARSED)
        goto out;
    const char **scripts = args.scripts;
    int n_scripts = args.n_scripts;

    diag_ctx *d = diag_new(stderr, args.color);
    status = EXIT_OK;
    for (int i = 0; i < n_scripts; i++) {
        ir_script *s = NULL;
        int fe = frontend_compile(scripts[i], args.sets, args.n_sets, d, &s);
        int st = fe == FE_OK ? EXIT_OK : fe == FE_USAGE ? EXIT_USAGE : cli_error_status(d);
        if (fe == FE_OK && check_script_model(s, d, NULL) > 0)
            st = cli_error_status(d);
        if (st == EXIT_OK && verbose)
            printf("%s: ok (%d statement%s)\n", scripts[i], s->n_stmts, s->n_stmts == 1 ? "" : "s");
        if (st > status)
            status = st;
        ir_script_free(s);
    }
    diag_free(d);
out:
    script_args_release(&args);
    return status;
}
