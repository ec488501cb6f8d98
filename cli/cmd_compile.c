/* cmd_compile.c: `surgery compile SCRIPT -o OUT.ir.yaml`: check exactly as `surgery check`
 * does, then write the validated IR (atomically; nothing is written when the check fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "compiler/check.h"
#include "compiler/frontend.h"
#include "runtime/base/util.h"

static void compile_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery compile SCRIPT -o OUT.ir.yaml [--set NAME=VALUE]... [--color=WHEN]\n"
            "\n"
            "Checks SCRIPT exactly as `surgery check` does and writes its validated IR: every\n"
            "include spliced in, every parameter evaluated (with the --set values), one entry per\n"
            "statement with its source location. `surgery run OUT.ir.yaml` executes it, and\n"
            "compiling an .ir.yaml again writes the same bytes. Nothing is written when the\n"
            "script has errors.\n"
            "\n"
            "options:\n"
            "  -o, --output FILE  where to write the IR (the name must end in .ir.yaml)\n"
            "  --set NAME=VALUE   override `param NAME` (repeatable; unknown names are an error)\n"
            "  --color=WHEN       colour diagnostics: auto (default), always, never\n"
            "  -h, --help         this help\n"
            "\n"
            "exit status: 0 written, 1 the script has errors, 2 bad usage, 4 out of memory or\n"
            "the output could not be written.\n");
}

int cmd_compile(int argc, char **argv)
{
    const char *out_path = NULL;
    const cli_opt opts[] = {{"--output", "-o", &out_path, NULL}, {0}};
    script_args args;
    int status = cli_parse_script_args("compile", argc, argv, opts, 1, &args);
    if (status == CLI_HELP) {
        compile_usage(stdout);
        status = EXIT_OK;
        goto out;
    }
    if (status != CLI_PARSED)
        goto out;
    status = EXIT_USAGE;
    const char *script = args.scripts[0];
    if (!out_path) {
        fprintf(stderr, "surgery compile: error: no output given (-o OUT.ir.yaml)\n");
        compile_usage(stderr);
        goto out;
    }
    if (!str_ends_with(out_path, ".ir.yaml")) {
        fprintf(stderr, "surgery compile: error: the output name must end in .ir.yaml (so that "
                        "run and check read it as IR), got '%s'\n", out_path);
        goto out;
    }

    diag_ctx *d = diag_new(stderr, args.color);
    ir_script *s = NULL;
    int fe = frontend_compile(script, args.sets, args.n_sets, d, &s);
    if (fe != FE_OK)
        status = fe == FE_USAGE ? EXIT_USAGE : cli_error_status(d);
    else if (check_script_model(s, d, NULL) > 0)
        status = cli_error_status(d);
    else
        status = ir_emit_yaml(s, out_path, d) == 0 ? EXIT_OK : EXIT_RUNTIME;
    ir_script_free(s);
    diag_free(d);
out:
    script_args_release(&args);
    return status;
}
