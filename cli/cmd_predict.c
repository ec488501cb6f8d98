/* cmd_predict.c: `surgery predict MODEL --input X [-o Y]`: runs a model on .npy or .csv input
 * (batch-first, normalised with the model's normaliser) and writes .npy or .csv output. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "runtime/base/atomic_file.h"
#include "runtime/formats/format.h"
#include "runtime/tensor/npy.h"
#include "runtime/tensor/tensor_csv.h"

static void predict_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery predict MODEL.yaml --input X [-o Y] [--header N] [--output NAME]\n"
            "                       [--classes] [--color=WHEN]\n"
            "\n"
            "Runs the model (with its weights; a model without `weights:` is initialised from its\n"
            "seed) on X and writes the activations of its output. The model's normaliser, when it\n"
            "has one, is applied to X first.\n"
            "\n"
            "input layouts (X is .npy of any numeric dtype, or .csv of numbers; NaN and infinite\n"
            "values are errors):\n"
            "  feed-forward model   .npy [batch, features] (or [features]: one example);\n"
            "                       .csv one example per row, one column per feature\n"
            "  recurrent model      .npy [batch, time, features] (or [time, features]: one\n"
            "                       sequence); .csv one sequence, one time step per row\n"
            "  convolutional model  .npy [batch, channels, height, width] or [batch, c*h*w];\n"
            "                       images of another height and width when no layer's\n"
            "                       parameters depend on them (no dense layer over the image)\n"
            "\n"
            "output layouts (Y's extension chooses .npy or .csv; without -o, CSV on stdout):\n"
            "  feed-forward model   .npy float32 [batch, outputs]; .csv one row per example\n"
            "  recurrent model      .npy float32 [batch, time, outputs] ([time, outputs] for a\n"
            "                       [time, features] input); .csv one row per example and step:\n"
            "                       example index, step index, then the outputs\n"
            "\n"
            "options:\n"
            "  --input X, -i X  the input file (required)\n"
            "  -o Y             the output file, .npy or .csv, written atomically\n"
            "  --header N       lines to skip at the top of a CSV input (default 0)\n"
            "  --output NAME    which of the model's outputs to write (default: the first)\n"
            "  --classes        write the predicted class (the largest output) instead of the\n"
            "                   outputs, as CSV: the class index, then its name when the model\n"
            "                   keeps class names (a fit on images() data stores the folder\n"
            "                   names); recurrent: example index, step index, class, name\n"
            "  --color=WHEN     colour diagnostics: auto (default), always, never\n"
            "\n"
            "exit status: 0 success, 1 errors in the model or the input data, 2 bad usage or an\n"
            "unreadable file, 4 a runtime failure (nothing is left behind at Y).\n");
}

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot : "";
}

/* [B, T, F] <-> [T, B, F] (the same permutation both ways). */
static int swap01(const tensor *src, tensor *dst)
{
    int64_t A = src->shape[0], B = src->shape[1], F = src->shape[2];
    if (tensor_alloc3(dst, B, A, F) != 0)
        return -1;
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < B; b++)
            memcpy(dst->data + (b * A + a) * F, src->data + (a * B + b) * F, (size_t)F * sizeof(float));
    return 0;
}

typedef struct predict_args {
    const char *model, *input, *output, *out_name;
    int header;
    bool classes;
    diag_color_mode color;
} predict_args;

static int parse_args(int argc, char **argv, predict_args *a)
{
    memset(a, 0, sizeof *a);
    a->color = DIAG_COLOR_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int c = cli_color_option(s, &a->color);
        if (c < 0)
            return EXIT_USAGE;
        if (c > 0)
            continue;
        const char **slot = NULL;
        const char *val = NULL;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            predict_usage(stdout);
            return -1;
        } else if (!strcmp(s, "--input") || !strcmp(s, "-i") || !strncmp(s, "--input=", 8)) {
            slot = &a->input;
            val = !strncmp(s, "--input=", 8) ? s + 8 : NULL;
        } else if (!strcmp(s, "-o") || !strcmp(s, "--out") || !strncmp(s, "--out=", 6)) {
            slot = &a->output;
            val = !strncmp(s, "--out=", 6) ? s + 6 : NULL;
        } else if (!strcmp(s, "--output") || !strncmp(s, "--output=", 9)) {
            slot = &a->out_name;
            val = !strncmp(s, "--output=", 9) ? s + 9 : NULL;
        } else if (!strcmp(s, "--header") || !strncmp(s, "--header=", 9)) {
            const char *v = !strncmp(s, "--header=", 9) ? s + 9 : (i + 1 < argc ? argv[++i] : NULL);
            char *end;
            long n = v ? strtol(v, &end, 10) : -1;
            if (!v || !*v || *end || n < 0 || n > 1000000) {
                fprintf(stderr, "surgery predict: error: --header takes a number of lines\n");
                return EXIT_USAGE;
            }
            a->header = (int)n;
            continue;
        } else if (!strcmp(s, "--classes")) {
            a->classes = true;
            continue;
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "surgery predict: error: unknown option '%s'\n", s);
            return EXIT_USAGE;
        } else if (!a->model) {
            a->model = s;
            continue;
        } else {
            fprintf(stderr, "surgery predict: error: one model at a time ('%s' and '%s')\n",
                    a->model, s);
            return EXIT_USAGE;
        }
        if (!val)
            val = i + 1 < argc ? argv[++i] : NULL;
        if (!val || !*val) {
            fprintf(stderr, "surgery predict: error: %s needs a value\n", s);
            return EXIT_USAGE;
        }
        *slot = val;
    }
    if (!a->model || !a->input) {
        if (!a->model)
            fprintf(stderr, "surgery predict: error: no model given\n");
        else
            fprintf(stderr, "surgery predict: error: no --input given\n");
        fprintf(stderr, "run 'surgery predict --help' for the input and output layouts\n");
        return EXIT_USAGE;
    }
    const char *ie = ext_of(a->input);
    if (strcmp(ie, ".npy") && strcmp(ie, ".csv")) {
        fprintf(stderr, "surgery predict: error: --input %s: expected a .npy or .csv file\n", a->input);
        return EXIT_USAGE;
    }
    if (a->output && strcmp(ext_of(a->output), ".npy") && strcmp(ext_of(a->output), ".csv")) {
        fprintf(stderr, "surgery predict: error: -o %s: expected a .npy or .csv file name\n", a->output);
        return EXIT_USAGE;
    }
    if (a->classes && a->output && strcmp(ext_of(a->output), ".csv")) {
        fprintf(stderr, "surgery predict: error: --classes writes CSV; -o %s is not a .csv file\n",
                a->output);
        return EXIT_USAGE;
    }
    const char *files[2] = {a->model, a->input};
    for (int k = 0; k < 2; k++)
        if (cli_readable_file("predict", files[k]) != 0)
            return EXIT_USAGE;
    return EXIT_OK;
}

/* Reads X and shapes it for the model's input: FF [B, F]; recurrent time-major [T, B, F].
 * *single_seq tells a recurrent [T, F] input. Returns an exit status. */
static int read_input(const predict_args *a, model *m, tensor *x, bool *single_seq, diag_ctx *d)
{
    const model_input *mi = &m->inputs[0];
    char why[600] = "";
    tensor raw = {0};
    *single_seq = false;
    if (!strcmp(ext_of(a->input), ".npy")) {
        char err[1024];
        if (npy_read_float(a->input, &raw, err, sizeof err) != 0) {
            fprintf(stderr, "surgery predict: error: %s\n", err);
            return strstr(err, "out of memory") ? EXIT_RUNTIME : EXIT_SCRIPT_ERRORS;
        }
    } else if (tensor_csv_read(a->input, a->header, ',', &raw, d) != 0) {
        return cli_error_status(d);
    }
    char got[96];
    shape_str(got, sizeof got, raw.ndim, raw.shape);
    int64_t F = mi->size;
    bool ok = false;
    if (mi->kind == INPUT_FEED_FORWARD) {
        if (raw.ndim == 1 && raw.shape[0] == F) {
            raw.ndim = 2;
            raw.shape[0] = 1;
            raw.shape[1] = F;
        }
        ok = raw.ndim == 2 && raw.shape[1] == F;
        if (ok) {
            *x = raw;
            return EXIT_OK;
        }
    } else if (mi->kind == INPUT_RECURRENT) {
        if (raw.ndim == 2 && raw.shape[1] == F) {
            *single_seq = true;
            raw.ndim = 3;
            raw.shape[2] = F;
            raw.shape[1] = 1;          /* [T, 1, F]: already time-major */
            *x = raw;
            return EXIT_OK;
        }
        ok = raw.ndim == 3 && raw.shape[2] == F;
        if (ok) {
            int rc = swap01(&raw, x);
            tensor_release(&raw);
            if (rc) {
                fprintf(stderr, "surgery predict: error: out of memory\n");
                return EXIT_RUNTIME;
            }
            return EXIT_OK;
        }
    } else {
        /* Images of another size: a model whose parameters do not depend on it runs on them. */
        if (raw.ndim == 4 && raw.shape[1] == mi->c && (raw.shape[2] != mi->h || raw.shape[3] != mi->w) &&
            model_resize_input(m, 0, raw.shape[2], raw.shape[3], why, sizeof why) != 0)
            snprintf(why + strlen(why), sizeof why - strlen(why), " (%s)", a->model);
        else
            why[0] = '\0';
        int64_t chw = mi->c * mi->h * mi->w;
        ok = (raw.ndim == 4 && raw.shape[1] == mi->c && raw.shape[2] == mi->h && raw.shape[3] == mi->w) ||
             (raw.ndim == 2 && raw.shape[1] == chw);
        if (ok) {
            *x = raw;
            return EXIT_OK;
        }
    }
    const char *want = mi->kind == INPUT_FEED_FORWARD ? "[batch, %lld]"
                       : mi->kind == INPUT_RECURRENT  ? "[batch, time, %lld] or [time, %lld]"
                                                      : "[batch, channels, height, width]";
    char wbuf[96];
    snprintf(wbuf, sizeof wbuf, want, (long long)F, (long long)F);
    if (why[0])
        fprintf(stderr, "surgery predict: error: %s: shape %s: %s\n", a->input, got, why);
    else
        fprintf(stderr, "surgery predict: error: %s: shape %s does not fit input '%s' of the "
                "model, which takes %s\n", a->input, got, mi->name, wbuf);
    tensor_release(&raw);
    return EXIT_SCRIPT_ERRORS;
}

static void normalise(const normalizer *nz, tensor *x)
{
    if (nz->kind == NORM_NONE || nz->n <= 0)
        return;
    int64_t F = x->shape[x->ndim - 1];
    if (x->ndim == 4)   /* convolutional [B, C, H, W]: the normaliser's C * H * W features */
        F = x->shape[1] * x->shape[2] * x->shape[3];
    if (F != nz->n)
        return;
    for (int64_t i = 0; i < x->size; i++) {
        int64_t j = i % F;
        x->data[i] = (x->data[i] - nz->shift[j]) * nz->scale[j];
    }
}

/* A CSV field: as it is, or double-quoted (quotes doubled) when it holds a comma, a quote or a
 * line break. */
static void csv_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

/* The class of each row of y (FF [B, K]; sequences [B, T, K]): the index of its largest output
 * (the first of equals), then its name when names is not NULL; sequences prefixed by example
 * and step. Returns 0, or -1 when a write failed. */
static int write_classes(FILE *fp, const tensor *y, bool seq, const char *const *names)
{
    const int64_t K = y->shape[y->ndim - 1];
    const int64_t T = seq ? y->shape[1] : 1;
    const int64_t rows = K > 0 ? y->size / K : 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *v = y->data + r * K;
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (v[k] > v[best])
                best = k;
        if (seq)
            fprintf(fp, "%lld,%lld,", (long long)(r / T), (long long)(r % T));
        fprintf(fp, "%lld", (long long)best);
        if (names) {
            fputc(',', fp);
            csv_field(fp, names[best]);
        }
        fputc('\n', fp);
    }
    return ferror(fp) ? -1 : 0;
}

/* Writes y (FF [B, K]; sequences batch-first [B, T, K]) to path or stdout: its values, or with
 * classes set, the class of each row (write_classes; names may be NULL). */
static int write_output(const char *path, const tensor *y, bool seq, bool single_seq,
                        bool classes, const char *const *names)
{
    char err[1024];
    atomic_file af = {0};
    FILE *fp = stdout;
    if (path) {
        if (atomic_open(&af, path, err, sizeof err) != 0) {
            fprintf(stderr, "surgery predict: error: %s\n", err);
            return EXIT_RUNTIME;
        }
        fp = af.fp;
    }
    bool npy = path && !strcmp(ext_of(path), ".npy");
    int rc;
    if (classes) {
        rc = write_classes(fp, y, seq, names);
        if (rc)
            snprintf(err, sizeof err, "write failed: %s", strerror(errno));
    } else if (npy) {
        tensor view = *y;
        view.borrowed = true;
        if (seq && single_seq) {     /* [1, T, K] -> [T, K] */
            view.ndim = 2;
            view.shape[0] = y->shape[1];
            view.shape[1] = y->shape[2];
        }
        rc = npy_write_float(fp, &view, err, sizeof err);
    } else {
        rc = seq ? tensor_csv_write_seq(fp, y, ',') : tensor_csv_write(fp, y, ',');
        if (rc)
            snprintf(err, sizeof err, "write failed: %s", strerror(errno));
    }
    if (rc) {
        fprintf(stderr, "surgery predict: error: %s%s%s\n", path ? path : "", path ? ": " : "", err);
        if (path)
            atomic_abort(&af);
        return EXIT_RUNTIME;
    }
    if (path) {
        if (atomic_commit(&af, err, sizeof err) != 0) {
            fprintf(stderr, "surgery predict: error: %s\n", err);
            return EXIT_RUNTIME;
        }
    } else if (fflush(stdout) != 0) {
        fprintf(stderr, "surgery predict: error: cannot write to standard output: %s\n", strerror(errno));
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

int cmd_predict(int argc, char **argv)
{
    predict_args a;
    int status = parse_args(argc, argv, &a);
    if (status < 0)
        return EXIT_OK;
    if (status != EXIT_OK)
        return status;
    diag_ctx *d = diag_new(stderr, a.color);
    model *m = model_load(a.model, true, d);
    tensor x = {0}, *outs = NULL, y = {0};
    bool single_seq = false;
    if (!m) {
        status = cli_error_status(d);
        goto done;
    }
    if (m->n_inputs != 1) {
        fprintf(stderr, "surgery predict: error: %s: predict runs single-input models; this one has %d inputs\n",
                a.model, m->n_inputs);
        status = EXIT_USAGE;
        goto done;
    }
    int out_idx = 0;
    if (a.out_name) {
        out_idx = -1;
        for (int j = 0; j < m->n_outputs; j++)
            if (!strcmp(m->outputs[j], a.out_name))
                out_idx = j;
        if (out_idx < 0) {
            const char *hint = diag_suggest(a.out_name, (const char *const *)m->outputs, m->n_outputs);
            fprintf(stderr, "surgery predict: error: '%s' is not an output of the model%s%s%s\n",
                    a.out_name, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
            status = EXIT_USAGE;
            goto done;
        }
    }
    if (m->params_initialised > 0) {
        src_loc at = {diag_intern_path(d, a.model), 0, 0, 0};
        diag_warning(d, at, "the model has no weights file: its parameters were initialised from seed %llu",
                     (unsigned long long)m->seed);
    }
    status = read_input(&a, m, &x, &single_seq, d);
    if (status != EXIT_OK)
        goto done;
    normalise(&m->norm, &x);
    outs = calloc((size_t)m->n_outputs, sizeof *outs);
    char err[1024];
    const tensor *ins[1] = {&x};
    if (!outs) {
        fprintf(stderr, "surgery predict: error: out of memory\n");
        status = EXIT_RUNTIME;
        goto done;
    }
    if (model_predict(m, ins, outs, err, sizeof err) != 0) {
        fprintf(stderr, "surgery predict: error: %s\n", err);
        status = EXIT_RUNTIME;
        goto done;
    }
    const tensor *o = &outs[out_idx];
    bool seq = o->ndim == 3;
    if (seq) {
        if (swap01(o, &y) != 0) {
            fprintf(stderr, "surgery predict: error: out of memory\n");
            status = EXIT_RUNTIME;
            goto done;
        }
        o = &y;
    }
    /* the class names describe the first output */
    const char *const *names = out_idx == 0 && model_classes_layer(m)
                                   ? (const char *const *)m->classes : NULL;
    status = write_output(a.output, o, seq, single_seq, a.classes, names);
done:
    if (outs && m)
        for (int j = 0; j < m->n_outputs; j++)
            tensor_release(&outs[j]);
    free(outs);
    tensor_release(&x);
    tensor_release(&y);
    model_free(m);
    diag_free(d);
    return status;
}
