/* cmd_convert.c: `surgery convert IN OUT`: reads a model in any format the registry reads and
 * writes it in the format OUT's suffix names, printing what each layer became. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "runtime/base/util.h"
#include "runtime/formats/format.h"
#include "runtime/formats/onnx/onnx.h"

static void convert_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery convert IN OUT [--opset N] [--external-data] [--quiet] [--color=WHEN]\n"
            "\n"
            "Reads the model IN (any format surgery reads, recognised by its content: a surgery\n"
            "model YAML, an ONNX model, a DL4J zip) with its weights and writes it to OUT in the\n"
            "format OUT's suffix names (.yaml: YAML + safetensors; .onnx: ONNX; .zip: a DL4J\n"
            "MultiLayerNetwork), atomically.\n"
            "Prints each layer's name and type, and for ONNX the operators it became.\n"
            "\n"
            "options:\n"
            "  --opset N        the ONNX opset to write, %d to %d (default %d)\n"
            "  --external-data  keep the ONNX weights in OUT.data beside OUT (always done\n"
            "                   above 2 GiB)\n"
            "  -q, --quiet      print nothing but errors\n"
            "  --color=WHEN     colour diagnostics: auto (default), always, never\n"
            "\n"
            "exit status: 0 success, 1 IN has errors (or cannot be mapped), 2 bad usage, an\n"
            "unreadable IN or an OUT no writer takes, 4 a write failure or out of memory.\n",
            ONNX_WRITE_MIN_OPSET, ONNX_MAX_OPSET, ONNX_WRITE_OPSET);
}

static void report_layer(void *ctx, const char *name, const char *type, const char *ops)
{
    (void)ctx;
    printf("  %-24s %-18s -> %s\n", name, type, ops);
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int cmd_convert(int argc, char **argv)
{
    diag_color_mode color = DIAG_COLOR_AUTO;
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    onnx_write_opts opts = {0};
    bool quiet = false, onnx_opts = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int c = cli_common_option(a, &color, convert_usage);
        if (c == CLI_TAKEN)
            continue;
        if (c != CLI_NOT_COMMON)
            return c;
        if (!strcmp(a, "--opset") || !strncmp(a, "--opset=", 8)) {
            const char *v = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : NULL;
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || *end || n < ONNX_WRITE_MIN_OPSET || n > ONNX_MAX_OPSET) {
                fprintf(stderr, "surgery convert: error: --opset takes a number from %d to %d\n",
                        ONNX_WRITE_MIN_OPSET, ONNX_MAX_OPSET);
                return EXIT_USAGE;
            }
            opts.opset = (int)n;
            onnx_opts = true;
            continue;
        }
        if (!strcmp(a, "--external-data")) {
            opts.external_data = onnx_opts = true;
            continue;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            static const char *const known[] = {"--opset", "--external-data", "--quiet",
                                                "--color", "--help", NULL};
            return cli_unknown_option("convert", a, known);
        }
        if (n_paths == 2) {
            fprintf(stderr, "surgery convert: error: one input and one output ('%s' is a third)\n", a);
            return EXIT_USAGE;
        }
        paths[n_paths++] = a;
    }
    if (n_paths < 2) {
        convert_usage(stderr);
        return EXIT_USAGE;
    }
    const char *in = paths[0], *out = paths[1];
    if (cli_readable_file("convert", in) != 0)
        return EXIT_USAGE;
    const model_writer *w = model_writer_for(out);
    diag_ctx *d = diag_new(stderr, color);
    int status = EXIT_OK;
    model *m = NULL;
    if (!w) {
        /* the registry's own message: what the writers make and the suffixes they take */
        model_save_mode(NULL, out, SAVE_ATOMIC, d);
        status = EXIT_USAGE;
        goto done;
    }
    if (onnx_opts && w != &onnx_writer) {
        fprintf(stderr, "surgery convert: error: %s: --opset and --external-data are for an "
                "ONNX output (.onnx)\n", out);
        status = EXIT_USAGE;
        goto done;
    }
    if (same_file(in, out)) {
        fprintf(stderr, "surgery convert: error: %s: the output is the input\n", out);
        status = EXIT_USAGE;
        goto done;
    }
    if (!(m = model_load(in, true, d))) {
        status = cli_error_status(d);
        goto done;
    }
    if (!quiet)
        printf("%s -> %s (%s)\n", in, out, w->name);
    int rc;
    if (w == &onnx_writer) {
        opts.report = quiet ? NULL : report_layer;
        rc = onnx_write_model(m, out, SAVE_ATOMIC, &opts, d);
    } else {
        for (int i = 0; i < m->n_layers && !quiet; i++)
            printf("  %-24s %s\n", m->layers[i]->name, m->layers[i]->type->name);
        rc = model_save_mode(m, out, SAVE_ATOMIC, d);
    }
    if (rc != 0) {
        status = EXIT_RUNTIME;
        goto done;
    }
    if (!quiet) {
        int64_t params = 0;
        for (int i = 0; i < m->n_layers; i++)
            params += layer_param_count(m->layers[i]);
        printf("wrote %s: %d layer%s, %lld parameters\n", out, m->n_layers,
               m->n_layers == 1 ? "" : "s", (long long)params);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "surgery convert: error: cannot write to standard output: %s\n",
                strerror(errno));
        status = EXIT_RUNTIME;
    }
done:
    model_free(m);
    diag_free(d);
    return status;
}
