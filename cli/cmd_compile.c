/* cmd_compile.c: `surgery compile SCRIPT -o OUT.ir.yaml`: check exactly as `surgery check`
 * does, then write the validated IR (atomically; nothing is written when the check fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "../compiler/check.h"
#include "../compiler/frontend.h"

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
            "exit status: 0 written, 1 the script has errors, 2 bad usage, 4 the output could\n"
            "not be written.\n");
}

static const char *const compile_options[] = {"--output", "--set", "--color", "--help", NULL};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int cmd_compile(int argc, char **argv)
{
    diag_color_mode color = DIAG_COLOR_AUTO;
    const char *script = NULL, *out_path = NULL;
    bool no_more_options = false;
    param_override *sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, status = EXIT_USAGE;
    if (!sets) {
        fputs("surgery compile: error: out of memory\n", stderr);
        return EXIT_RUNTIME;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (no_more_options || a[0] != '-' || !a[1]) {
            if (script) {
                fprintf(stderr, "surgery compile: error: one script at a time ('%s' and '%s')\n",
                        script, a);
                goto out;
            }
            script = a;
            continue;
        }
        int c = cli_color_option(a, &color);
        if (c == 0)
            c = cli_set_option("compile", argc, argv, &i, &sets[n_sets]);
        if (c < 0)
            goto out;
        if (c > 0) {
            if (sets[n_sets].key)
                n_sets++;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            compile_usage(stdout);
            status = EXIT_OK;
            goto out;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "surgery compile: error: %s needs a file name\n", a);
                goto out;
            }
            out_path = argv[++i];
        } else if (!strncmp(a, "--output=", 9)) {
            out_path = a + 9;
        } else if (!strcmp(a, "--")) {
            no_more_options = true;
        } else {
            status = cli_unknown_option("compile", a, compile_options);
            goto out;
        }
    }
    if (!script || !out_path) {
        fprintf(stderr, "surgery compile: error: %s\n",
                !script ? "no script given" : "no output given (-o OUT.ir.yaml)");
        compile_usage(stderr);
        goto out;
    }
    if (!ends_with(out_path, ".ir.yaml")) {
        fprintf(stderr, "surgery compile: error: the output name must end in .ir.yaml (so that "
                        "run and check read it as IR), got '%s'\n", out_path);
        goto out;
    }

    diag_ctx *d = diag_new(stderr, color);
    ir_script *s = NULL;
    int fe = frontend_compile(script, sets, n_sets, d, &s);
    if (fe != FE_OK)
        status = fe == FE_USAGE ? EXIT_USAGE : EXIT_SCRIPT_ERRORS;
    else if (check_script_model(s, d, NULL) > 0)
        status = EXIT_SCRIPT_ERRORS;
    else
        status = ir_emit_yaml(s, out_path, d) == 0 ? EXIT_OK : EXIT_RUNTIME;
    ir_script_free(s);
    diag_free(d);
out:
    for (int i = 0; i < n_sets; i++)
        free((char *)sets[i].key);
    free(sets);
    return status;
}
