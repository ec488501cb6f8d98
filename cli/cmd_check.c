/* cmd_check.c: `surgery check SCRIPT... [--set NAME=VALUE]...`: every check that needs no
 * weights, all errors of every script reported, nothing executed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "../compiler/check.h"
#include "../compiler/frontend.h"

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
            "option, unreadable script, unknown --set parameter).\n");
}

static const char *const check_options[] = {"--set", "--color", "--verbose", "--help", NULL};

int cmd_check(int argc, char **argv)
{
    diag_color_mode color = DIAG_COLOR_AUTO;
    bool verbose = false, no_more_options = false;
    param_override *sets = calloc((size_t)argc + 1, sizeof *sets);
    const char **scripts = calloc((size_t)argc + 1, sizeof *scripts);
    int n_sets = 0, n_scripts = 0, status = EXIT_USAGE;
    if (!sets || !scripts) {
        fputs("surgery check: error: out of memory\n", stderr);
        status = EXIT_RUNTIME;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (no_more_options || a[0] != '-' || !a[1]) {
            scripts[n_scripts++] = a;
            continue;
        }
        int c = cli_color_option(a, &color);
        if (c == 0)
            c = cli_set_option("check", argc, argv, &i, &sets[n_sets]);
        if (c < 0)
            goto out;
        if (c > 0) {
            if (sets[n_sets].key)
                n_sets++;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            check_usage(stdout);
            status = EXIT_OK;
            goto out;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (!strcmp(a, "--")) {
            no_more_options = true;
        } else {
            status = cli_unknown_option("check", a, check_options);
            goto out;
        }
    }
    if (n_scripts == 0) {
        fputs("surgery check: error: no script given\n", stderr);
        check_usage(stderr);
        goto out;
    }

    diag_ctx *d = diag_new(stderr, color);
    status = EXIT_OK;
    for (int i = 0; i < n_scripts; i++) {
        ir_script *s = NULL;
        int fe = frontend_compile(scripts[i], sets, n_sets, d, &s);
        int st = fe == FE_OK ? EXIT_OK : fe == FE_USAGE ? EXIT_USAGE : EXIT_SCRIPT_ERRORS;
        if (fe == FE_OK && check_script_model(s, d, NULL) > 0)
            st = EXIT_SCRIPT_ERRORS;
        if (st == EXIT_OK && verbose)
            printf("%s: ok (%d statement%s)\n", scripts[i], s->n_stmts, s->n_stmts == 1 ? "" : "s");
        if (st > status)
            status = st;
        ir_script_free(s);
    }
    diag_free(d);
out:
    for (int i = 0; sets && i < n_sets; i++)
        free((char *)sets[i].key);
    free(sets);
    free(scripts);
    return status;
}
