/* cmd_plan.c: `surgery plan SCRIPT [--set k=v]... [--dot FILE]`: check, then show every layer
 * before and after the edits, with trainable and frozen totals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "compiler/check.h"
#include "compiler/frontend.h"
#include "compiler/plan.h"

static void plan_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery plan SCRIPT [--set NAME=VALUE]... [--dot FILE] [--color=WHEN]\n"
            "\n"
            "Checks SCRIPT exactly as `surgery check` does (the base model's architecture only,\n"
            "no weights read), then prints every layer before and after the edits: name, type,\n"
            "n_in -> n_out (C x H x W where convolutional), parameter count and state (kept,\n"
            "new, resized (re-initialised), widened, narrowed, replaced, renamed, removed;\n"
            "frozen or unfrozen), the coupled groups that widen and narrow changed together\n"
            "(channels meeting in an add, average or multiply vertex), and the trainable and\n"
            "frozen parameter totals before and after.\n"
            "\n"
            "options:\n"
            "  --set NAME=VALUE  override `param NAME` (repeatable)\n"
            "  --dot FILE        also write the edited graph as Graphviz DOT to FILE: new layers\n"
            "                    green, changed ones amber, frozen ones blue, removed ones\n"
            "                    dashed red, model outputs double-bordered\n"
            "                    (render with: dot -Tsvg FILE -o plan.svg)\n"
            "  --color=WHEN      colour diagnostics and states: auto (default), always, never\n"
            "\n"
            "exit status: 0 success, 1 script errors (no plan printed), 2 bad usage,\n"
            "4 out of memory or the DOT file could not be written.\n");
}

static bool stdout_color(diag_color_mode mode)
{
    if (mode == DIAG_COLOR_ALWAYS)
        return true;
    if (mode == DIAG_COLOR_NEVER)
        return false;
    const char *term = getenv("TERM");
    return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && term && strcmp(term, "dumb");
}

int cmd_plan(int argc, char **argv)
{
    const char *dot = NULL;
    const cli_opt opts[] = {{"--dot", NULL, &dot, NULL}, {0}};
    script_args args;
    int status = cli_parse_script_args("plan", argc, argv, opts, 1, &args);
    if (status == CLI_HELP) {
        plan_usage(stdout);
        status = EXIT_OK;
        goto out;
    }
    if (status != CLI_PARSED)
        goto out;
    const char *script = args.scripts[0];
    diag_color_mode color = args.color;

    diag_ctx *d = diag_new(stderr, color);
    if (!d) {
        status = EXIT_RUNTIME;
        goto out;
    }
    ir_script *s = NULL;
    model *before = NULL, *after = NULL;
    edit_log *log = NULL;
    int fe = frontend_compile(script, args.sets, args.n_sets, d, &s);
    if (fe != FE_OK) {
        status = fe == FE_USAGE ? EXIT_USAGE : cli_error_status(d);
    } else if (check_script_model_plan(s, d, &before, &after, &log) != 0) {
        status = cli_error_status(d);
    } else if (!before || !after) {
        fprintf(stderr, "surgery plan: error: %s has no base model to plan against\n", script);
        status = EXIT_SCRIPT_ERRORS;
    } else {
        plan_print(stdout, script, before, after, log, stdout_color(color));
        status = EXIT_OK;
        char err[512];
        if (dot && plan_write_dot(dot, before, after, log, err, sizeof err) != 0) {
            fprintf(stderr, "surgery plan: error: %s\n", err);
            status = EXIT_RUNTIME;
        }
    }
    model_free(before);
    model_free(after);
    edit_log_free(log);
    ir_script_free(s);
    diag_free(d);
out:
    script_args_release(&args);
    return status;
}
