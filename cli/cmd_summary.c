/* cmd_summary.c: `surgery summary MODEL`: the DL4J-style layer table of a model YAML. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "runtime/formats/format.h"
#include "runtime/graph/summary.h"

static void summary_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery summary MODEL.yaml [--color=WHEN]\n"
            "\n"
            "Prints the model's layers in topological order, DL4J style: LayerName (LayerType),\n"
            "nIn,nOut, TotalParams, ParamsShape, and for graphs the model inputs and each\n"
            "vertex's inputs; frozen layers are marked '(frozen TYPE)'. Then the total,\n"
            "trainable and frozen parameter counts. Only the architecture is read: the weights\n"
            "file is not opened.\n"
            "\n"
            "options:\n"
            "  --color=WHEN  colour diagnostics: auto (default), always, never\n"
            "\n"
            "exit status: 0 success, 1 the model file has errors, 2 bad usage or an unreadable\n"
            "file, 4 out of memory or a write failure.\n");
}

int cmd_summary(int argc, char **argv)
{
    diag_color_mode color = DIAG_COLOR_AUTO;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int c = cli_common_option(a, &color, summary_usage);
        if (c == CLI_TAKEN)
            continue;
        if (c != CLI_NOT_COMMON)
            return c;
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "surgery summary: error: unknown option '%s'\n", a);
            return EXIT_USAGE;
        }
        if (path) {
            fprintf(stderr, "surgery summary: error: one model at a time ('%s' and '%s')\n", path, a);
            return EXIT_USAGE;
        }
        path = a;
    }
    if (!path) {
        summary_usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_readable_file("summary", path) != 0)
        return EXIT_USAGE;
    diag_ctx *d = diag_new(stderr, color);
    model *m = model_load(path, false, d);
    int status = EXIT_OK;
    if (!m) {
        status = cli_error_status(d);
    } else if (model_summary(m, stdout) != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "surgery summary: error: cannot write the summary: %s\n", strerror(errno));
        status = EXIT_RUNTIME;
    }
    model_free(m);
    diag_free(d);
    return status;
}
