/* test_featurize_group.c: featurize runs the frozen part over groups of whole batches, one shard
 * per group: every shard equals the frozen part's outputs on its batches one at a time
 * (feed-forward and fixed-length sequence data, several groups, a last partial batch, shuffled
 * order), padded sequences keep one pass and one shard per batch, and training from padded
 * sequence features matches training through the frozen layers. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "compiler/frontend.h"
#include "runtime/data/data.h"
#include "runtime/script/data_stmt.h"
#include "runtime/script/exec.h"
#include "runtime/featurize/featurize.h"
#include "runtime/formats/format.h"
#include "runtime/tensor/npy.h"
#include "runtime/base/rng.h"
#include "tests/unit/test_support.h"

static char gtmp[PATH_MAX];
static char groot[PATH_MAX];

static void group_setup(void)
{
    cr_assert(getcwd(groot, sizeof groot));
    test_make_dir(gtmp, sizeof gtmp, "featurize-group");
}

static void group_teardown(void) { test_remove_dir(gtmp); }

TestSuite(featurize_group, .init = group_setup, .fini = group_teardown);

static void gpath(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", gtmp, name);
}

static void write_text(const char *name, const char *text)
{
    char p[PATH_MAX + 64];
    gpath(p, sizeof p, name);
    test_write_file(p, text);
}

/* An npy file of the given shape: uniform values in [-1, 1), or whole numbers in [0, classes)
 * when classes > 0. */
static void write_npy(const char *name, int ndim, const int64_t *shape, int classes, uint64_t seed)
{
    tensor t = {0};
    cr_assert_eq(tensor_alloc(&t, ndim, shape), 0);
    rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < t.size; i++) {
        double u = rng_uniform(&r);
        t.data[i] = classes > 0 ? (float)floor(u * classes) : (float)(2.0 * u - 1.0);
    }
    char p[PATH_MAX + 64], err[256];
    gpath(p, sizeof p, name);
    cr_assert_eq(npy_save_float(p, &t, err, sizeof err), 0, "%s", err);
    tensor_release(&t);
}

/* The model and data set of a script holding `base`, `freeze through` and one `data`
 * statement; the model's parameters initialised from its seed. */
typedef struct setup {
    ir_script *script;
    const ir_stmt *data;
    model *m;
    diag_ctx *d;
} setup;

static void open_setup(setup *s, const char *script_text, const char *model_name, const char *freeze)
{
    memset(s, 0, sizeof *s);
    write_text("s.surgery", script_text);
    char p[PATH_MAX + 64];
    gpath(p, sizeof p, "s.surgery");
    s->d = diag_new(stderr, DIAG_COLOR_NEVER);
    cr_assert_eq(frontend_compile(p, NULL, 0, s->d, &s->script), 0);
    for (int i = 0; i < s->script->n_stmts; i++)
        if (s->script->stmts[i].kind == IR_DATA)
            s->data = &s->script->stmts[i];
    cr_assert(s->data);
    gpath(p, sizeof p, model_name);
    s->m = model_load(p, false, s->d);
    cr_assert(s->m);
    cr_assert_eq(model_init_params(s->m), 0);
    cr_assert_eq(model_freeze_through(s->m, freeze), 0);
}

static void close_setup(setup *s)
{
    model_free(s->m);
    ir_script_free(s->script);
    diag_free(s->d);
}

/* [T, B, F] time-major -> [B, T, F]; 2-D arrays stay as they are. */
static void batch_first(const tensor *src, tensor *dst)
{
    if (src->ndim != 3) {
        cr_assert_eq(tensor_copy(dst, src), 0);
        return;
    }
    int64_t T = src->shape[0], B = src->shape[1], F = src->shape[2];
    cr_assert_eq(tensor_alloc3(dst, B, T, F), 0);
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            memcpy(dst->data + (b * T + t) * F, src->data + (t * B + b) * F, (size_t)F * sizeof(float));
}

/* [T, B] -> [B, T]. */
static void mask_first(const tensor *src, tensor *dst)
{
    int64_t T = src->shape[0], B = src->shape[1];
    cr_assert_eq(tensor_alloc2(dst, B, T), 0);
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            dst->data[b * T + t] = src->data[t * B + b];
}

static bool shard_file(const feature_set *fs, int64_t s, const char *what, tensor *out)
{
    char p[PATH_MAX + 64], err[256];
    snprintf(p, sizeof p, "%s/%06lld.%s.npy", feature_set_path(fs), (long long)s, what);
    struct stat sb;
    if (stat(p, &sb) != 0)
        return false;
    cr_assert_eq(npy_read_float(p, out, err, sizeof err), 0, "%s", err);
    return true;
}

static void same_array(const tensor *got, const tensor *want, int64_t s, const char *what, double tol)
{
    cr_assert_eq(got->ndim, want->ndim, "shard %lld %s: %d dims, expected %d", (long long)s, what,
                 got->ndim, want->ndim);
    for (int k = 0; k < got->ndim; k++)
        cr_assert_eq(got->shape[k], want->shape[k], "shard %lld %s: dim %d is %lld, expected %lld",
                     (long long)s, what, k, (long long)got->shape[k], (long long)want->shape[k]);
    double diff = tensor_max_abs_diff(got, want);
    cr_assert_leq(diff, tol, "shard %lld %s differs by %g", (long long)s, what, diff);
}

/* Appends src's rows (first dimension) to dst; both batch-first with the same row shape. */
static void append_rows(tensor *dst, const tensor *src)
{
    if (!dst->data) {
        cr_assert_eq(tensor_copy(dst, src), 0);
        return;
    }
    cr_assert_eq(dst->ndim, src->ndim);
    for (int k = 1; k < src->ndim; k++)
        cr_assert_eq(dst->shape[k], src->shape[k], "batches of one shard differ in dim %d", k);
    tensor t = {0};
    int64_t shape[TENSOR_MAX_DIMS];
    for (int k = 0; k < src->ndim; k++)
        shape[k] = src->shape[k];
    shape[0] = dst->shape[0] + src->shape[0];
    cr_assert_eq(tensor_alloc(&t, src->ndim, shape), 0);
    memcpy(t.data, dst->data, (size_t)dst->size * sizeof(float));
    memcpy(t.data + dst->size, src->data, (size_t)src->size * sizeof(float));
    tensor_release(dst);
    *dst = t;
}

/* What a shard should hold: per-batch results, appended. */
typedef struct expected {
    tensor a[4];                     /* x00, y, mask, label_mask */
    bool has[4];
    int64_t rows, batches;
} expected;

static const char *const array_names[4] = {"x00", "y", "mask", "label_mask"};

/* Featurizes the data, then checks every shard against forward passes of the frozen part over
 * the shard's batches one at a time (read in featurize's order: data_reset with seed 0).
 * rows[] lists the expected examples per shard, steps[] (when given) its time steps. */
static void check_shards(setup *s, const char *node, const int64_t *rows, int64_t n_shards,
                         const int64_t *steps)
{
    char cache[PATH_MAX + 64];
    gpath(cache, sizeof cache, "cache");
    dataset *ds = data_stmt_open(s->data, s->d);
    cr_assert(ds);
    bool reused = true;
    feature_set *fs = featurize(s->m, ds, cache, s->data->loc, &reused, s->d);
    cr_assert(fs);
    cr_assert(!reused);
    data_close(ds);

    ds = data_stmt_open(s->data, s->d);
    cr_assert(ds);
    cr_assert_eq(data_reset(ds, 0), 0);
    batch b = {0};
    int64_t total = 0;
    for (int64_t shard = 0; shard < n_shards; shard++) {
        expected e;
        memset(&e, 0, sizeof e);
        while (e.rows < rows[shard]) {
            cr_assert_eq(data_next(ds, &b, s->d), 1, "the data ended inside shard %lld", (long long)shard);
            const tensor *in[1] = {&b.x};
            const float *masks[1] = {b.mask.data};
            const char *names[1] = {node};
            tensor out = {0}, bf = {0};
            char err[256];
            cr_assert_eq(model_predict_nodes(s->m, in, masks, names, 1, &out, err, sizeof err), 0, "%s", err);
            const tensor *parts[4] = {&out, &b.y, &b.mask, &b.label_mask};
            for (int k = 0; k < 4; k++) {
                bool has = parts[k]->data != NULL;
                cr_assert(e.batches == 0 || e.has[k] == has, "shard %lld: batches differ in their %s",
                          (long long)shard, array_names[k]);
                e.has[k] = has;
                if (!has)
                    continue;
                if (k < 2)
                    batch_first(parts[k], &bf);
                else
                    mask_first(parts[k], &bf);
                append_rows(&e.a[k], &bf);
                tensor_release(&bf);
            }
            tensor_release(&out);
            e.rows += b.n;
            e.batches++;
        }
        cr_assert_eq(e.rows, rows[shard], "shard %lld would split a batch", (long long)shard);
        for (int k = 0; k < 4; k++) {
            tensor got = {0};
            bool have = shard_file(fs, shard, array_names[k], &got);
            cr_assert_eq(have, e.has[k], "shard %lld: %s file %s", (long long)shard, array_names[k],
                         have ? "written for batches without one" : "missing");
            if (have) {
                if (k == 0 && steps)
                    cr_assert_eq(got.shape[1], steps[shard], "shard %lld has %lld steps, expected %lld",
                                 (long long)shard, (long long)got.shape[1], (long long)steps[shard]);
                same_array(&got, &e.a[k], shard, array_names[k], k == 0 ? 1e-6 : 0.0);
            }
            tensor_release(&got);
            tensor_release(&e.a[k]);
        }
        total += e.rows;
    }
    cr_assert_eq(data_next(ds, &b, s->d), 0, "batches left after the last expected shard");
    batch_release(&b);
    tensor extra = {0};
    cr_assert(!shard_file(fs, n_shards, "x00", &extra), "a shard past the last expected one");
    cr_assert_eq(feature_set_count(fs), total);
    feature_set_free(fs);
    data_close(ds);
}

static const char ff_model[] =
    "format: surgery-model/1\n"
    "name: ff\n"
    "inputs:\n"
    "  - {name: in, type: feed_forward, size: 5}\n"
    "layers:\n"
    "  - {name: h1, type: dense, n_out: 7, activation: relu}\n"
    "  - {name: h2, type: dense, n_out: 6, activation: tanh}\n"
    "  - {name: out, type: output, n_out: 3, activation: softmax, loss: mcxent}\n"
    "outputs: [out]\n"
    "init: {seed: 11, weight_init: xavier}\n";

/* 1450 examples in batches of 300: groups of three batches, so shards of 900 examples and of the
 * last 550 (a full batch and a partial one). */
static void ff_case(bool shuffle)
{
    write_text("ff.yaml", ff_model);
    write_npy("x.npy", 2, (int64_t[]){1450, 5}, 0, 3);
    write_npy("y.npy", 1, (int64_t[]){1450}, 3, 4);
    char script[512];
    snprintf(script, sizeof script,
             "base \"ff.yaml\"\n"
             "freeze through \"h2\"\n"
             "data d = npy(\"x.npy\", labels = \"y.npy\") { classes = 3  batch = 300  shuffle = %s }\n",
             shuffle ? "true" : "false");
    setup s;
    open_setup(&s, script, "ff.yaml", "h2");
    static const int64_t rows[] = {900, 550};
    check_shards(&s, "h2", rows, 2, NULL);
    close_setup(&s);
}

Test(featurize_group, feed_forward_shards_equal_per_batch_passes)
{
    ff_case(false);
}

Test(featurize_group, shuffled_feed_forward_shards_equal_per_batch_passes)
{
    ff_case(true);
}

static const char seq_model[] =
    "format: surgery-model/1\n"
    "name: seq\n"
    "inputs:\n"
    "  - {name: in, type: recurrent, size: %d}\n"
    "layers:\n"
    "  - {name: rec, type: lstm, n_out: 4, activation: tanh}\n"
    "  - {name: out, type: rnn_output, n_out: 3, activation: softmax, loss: mcxent}\n"
    "outputs: [out]\n"
    "init: {seed: 5, weight_init: xavier}\n";

/* 1030 sequences of 4 steps in batches of 500: groups of two batches, so shards of 1000 and 30
 * sequences. */
Test(featurize_group, fixed_length_sequence_shards_equal_per_batch_passes)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, seq_model, 3);
    write_text("seq.yaml", yaml);
    write_npy("xs.npy", 3, (int64_t[]){1030, 4, 3}, 0, 8);
    write_npy("ys.npy", 2, (int64_t[]){1030, 4}, 3, 9);
    setup s;
    open_setup(&s,
               "base \"seq.yaml\"\n"
               "freeze through \"rec\"\n"
               "data d = npy(\"xs.npy\", labels = \"ys.npy\") { classes = 3  batch = 500 }\n",
               "seq.yaml", "rec");
    static const int64_t rows[] = {1000, 30}, steps[] = {4, 4};
    check_shards(&s, "rec", rows, 2, steps);
    close_setup(&s);
}

/* Sequences of 3, 3, 2 and 4 steps in batches of two: one shard per batch, each padded to its
 * own longest sequence (3 steps without a mask, then 4 steps with masks). */
Test(featurize_group, padded_sequences_keep_their_batch_shapes)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, seq_model, 2);
    write_text("seq.yaml", yaml);
    char script[2 * PATH_MAX + 256];
    snprintf(script, sizeof script,
             "base \"seq.yaml\"\n"
             "freeze through \"rec\"\n"
             "data d = csv_sequence(\"%s/tests/data/data/seq/%%d.csv\", labels = \"%s/tests/data/data/seqlabels/%%d.csv\", first = 0, last = 3) { classes = 3  batch = 2 }\n",
             groot, groot);
    setup s;
    open_setup(&s, script, "seq.yaml", "rec");
    static const int64_t rows[] = {2, 2}, steps[] = {3, 4};
    check_shards(&s, "rec", rows, 2, steps);
    close_setup(&s);
}

/* Runs a script in the temporary folder; returns its status. */
static int run_group_script(const char *name, const char *text)
{
    write_text(name, text);
    char p[PATH_MAX + 64];
    gpath(p, sizeof p, name);
    diag_ctx *d = diag_new(stderr, DIAG_COLOR_NEVER);
    ir_script *sc = NULL;
    int rc = frontend_compile(p, NULL, 0, d, &sc);
    if (rc == 0) {
        exec_options o = {.out = NULL, .progress = NULL, .log = NULL, .quiet = true};
        rc = exec_script(sc, &o, d);
    }
    ir_script_free(sc);
    diag_free(d);
    return rc;
}

/* Shuffled batches of padded sequences (their lengths and masks change from batch to batch):
 * training from the cached features gives the weights of training through the frozen layers. */
Test(featurize_group, fit_from_padded_sequence_features_matches_whole_model_fit)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, seq_model, 2);
    write_text("seq.yaml", yaml);
    const char *outs[2] = {"whole.yaml", "feat.yaml"};
    for (int k = 0; k < 2; k++) {
        char script[2 * PATH_MAX + 512];
        snprintf(script, sizeof script,
                 "base \"seq.yaml\"\n"
                 "fine_tune { updater = sgd(learning_rate = 0.5)  seed = 3 }\n"
                 "freeze through \"rec\"\n"
                 "data d = csv_sequence(\"%s/tests/data/data/seq/%%d.csv\", labels = \"%s/tests/data/data/seqlabels/%%d.csv\", first = 0, last = 3) { classes = 3  batch = 2  shuffle = true  align = end }\n"
                 "%s"
                 "fit d epochs 8\n"
                 "save \"%s\"\n",
                 groot, groot, k ? "featurize d into \"cache\"\n" : "", outs[k]);
        cr_assert_eq(run_group_script("fit.surgery", script), 0);
    }
    char p[PATH_MAX + 64];
    model *m[3];
    const char *names[3] = {"whole.yaml", "feat.yaml", "seq.yaml"};
    for (int k = 0; k < 3; k++) {
        gpath(p, sizeof p, names[k]);
        diag_ctx *d = diag_new(stderr, DIAG_COLOR_NEVER);
        m[k] = model_load(p, k < 2, d);
        diag_free(d);
        cr_assert(m[k], "cannot load %s", p);
    }
    cr_assert_eq(model_init_params(m[2]), 0);
    const layer *lw = model_find_layer(m[0], "out"), *lf = model_find_layer(m[1], "out");
    const layer *l0 = model_find_layer(m[2], "out");
    cr_assert(lw && lf && l0);
    double worst = 0;
    for (int k = 0; k < lw->n_params; k++) {
        double diff = tensor_max_abs_diff(&lw->params[k], &lf->params[k]);
        worst = diff > worst ? diff : worst;
    }
    cr_expect_leq(worst, 1e-6, "featurized fit differs from the whole-model fit by %g", worst);
    cr_expect_gt(tensor_max_abs_diff(&l0->params[0], &lf->params[0]), 1e-4, "training changed nothing");
    for (int k = 0; k < 3; k++)
        model_free(m[k]);
}
