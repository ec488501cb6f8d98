/* test_edit.c: the edits: which trained parameters each keeps (bitwise), which it
 * re-initialises, the shapes it leaves, and the exactness of widen (preserve, net2net), narrow
 * and deepen measured on model_predict outputs (dense chains, lstm, graves_lstm, merge). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/check.h"
#include "runtime/base/diag.h"
#include "compiler/frontend.h"
#include "runtime/script/ir.h"
#include "runtime/edits/edit.h"
#include "runtime/nn/init.h"
#include "runtime/nn/layer_options.h"
#include "runtime/graph/model.h"
#include "runtime/formats/format.h"
#include "runtime/formats/weights_store.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/tensor.h"

#define TE_EXACT 1e-6

/* ---- helpers ------------------------------------------------------------------------------ */

static model *te_load(const char *name, bool weights)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/edit/%s.yaml", name);
    /* no diagnostics context: the model's locations then point at its own path */
    model *m = model_load(path, weights, NULL);
    cr_assert_not_null(m, "cannot load %s", path);
    return m;
}

/* Compiles script text (written to a temporary file whose base is the fixture `base`). */
static ir_script *te_script(const char *base, const char *text, diag_ctx *d)
{
    static int counter;
    char path[256];
    snprintf(path, sizeof path, "/tmp/surgery-test-edit-%d-%d.surgery", (int)getpid(), counter++);
    char cwd[1024];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "base \"%s/tests/data/edit/%s.yaml\"\n%s\n", cwd, base, text);
    fclose(f);
    ir_script *s = NULL;
    int rc = frontend_compile(path, NULL, 0, d, &s);
    unlink(path);
    cr_assert_eq(rc, FE_OK, "script did not compile:\n%s", text);
    return s;
}

/* Applies the script to m; returns the error count and (when msgs) the diagnostics text. */
static int te_apply_msgs(model *m, const char *base, const char *text, char *msgs, size_t n)
{
    FILE *out = tmpfile();
    cr_assert_not_null(out);
    diag_ctx *d = diag_new(out, DIAG_COLOR_NEVER);
    ir_script *s = te_script(base, text, d);
    int errors = edit_apply(m, s, d);
    if (errors == 0)
        errors = model_infer_shapes(m, d);
    fflush(out);
    rewind(out);
    size_t got = fread(msgs, 1, n - 1, out);
    msgs[got] = '\0';
    fclose(out);
    diag_free(d);
    ir_script_free(s);
    return errors;
}

static void te_apply(model *m, const char *base, const char *text)
{
    char msgs[4096];
    int errors = te_apply_msgs(m, base, text, msgs, sizeof msgs);
    cr_assert_eq(errors, 0, "unexpected errors for:\n%s\n%s", text, msgs);
}

static int te_errors(const char *base, bool weights, const char *text, const char *want)
{
    model *m = te_load(base, weights);
    char msgs[4096];
    int errors = te_apply_msgs(m, base, text, msgs, sizeof msgs);
    if (want)
        cr_expect(strstr(msgs, want), "expected '%s' in:\n%s", want, msgs);
    model_free(m);
    return errors;
}

static const tensor *te_param(const model *m, const char *layer_name, const char *key)
{
    const layer *L = model_find_layer(m, layer_name);
    cr_assert_not_null(L, "no layer %s", layer_name);
    int i = layer_param_index(L, key);
    cr_assert_geq(i, 0, "%s has no %s", layer_name, key);
    cr_assert_not_null(L->params[i].data, "%s.%s has no data", layer_name, key);
    return &L->params[i];
}

static float te_at(const tensor *t, int64_t r, int64_t c)
{
    return t->data[r * t->shape[1] + c];
}

static void te_random(tensor *t, int ndim, const int64_t *shape, uint64_t seed)
{
    cr_assert_eq(tensor_alloc(t, ndim, shape), 0);
    rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
}

/* Input for a model's single input: FF [8, size], recurrent [5, 3, size]. */
static void te_input(const model *m, tensor *x, uint64_t seed)
{
    const model_input *in = &m->inputs[0];
    if (in->kind == INPUT_RECURRENT) {
        int64_t s[3] = {5, 3, in->size};
        te_random(x, 3, s, seed);
    } else if (in->kind == INPUT_CONVOLUTIONAL) {
        int64_t s[4] = {4, in->c, in->h, in->w};
        te_random(x, 4, s, seed);
    } else {
        int64_t s[2] = {8, in->size};
        te_random(x, 2, s, seed);
    }
}

static void te_predict(model *m, const tensor *x, tensor *y)
{
    char err[256] = "";
    const tensor *ins[1] = {x};
    memset(y, 0, sizeof *y);
    cr_assert_eq(model_predict(m, ins, y, err, sizeof err), 0, "predict: %s", err);
}

/* Applies the script to a copy of the fixture and compares outputs on random inputs. */
static double te_output_diff(const char *base, const char *text, const char *prep_script,
                             void (*prep)(model *))
{
    model *m = te_load(base, true);
    if (prep_script)
        te_apply(m, base, prep_script);
    if (prep)
        prep(m);
    cr_assert_eq(model_infer_shapes(m, NULL), 0);
    tensor x, y0, y1;
    te_input(m, &x, 99);
    te_predict(m, &x, &y0);
    te_apply(m, base, text);
    te_predict(m, &x, &y1);
    cr_assert(tensor_same_shape(&y0, &y1));
    double diff = tensor_max_abs_diff(&y0, &y1);
    tensor_release(&x);
    tensor_release(&y0);
    tensor_release(&y1);
    model_free(m);
    return diff;
}

/* Every parameter of layer `name` in a and b is bitwise identical. */
static void te_same_layer(const model *a, const model *b, const char *name)
{
    const layer *x = model_find_layer(a, name), *y = model_find_layer(b, name);
    cr_assert(x && y, "layer %s missing", name);
    cr_assert_eq(x->n_params, y->n_params, "%s: parameter count", name);
    for (int k = 0; k < x->n_params; k++) {
        cr_assert(tensor_same_shape(&x->params[k], &y->params[k]), "%s: shape of param %d",
                  name, k);
        cr_assert_eq(memcmp(x->params[k].data, y->params[k].data,
                            (size_t)x->params[k].size * sizeof(float)), 0,
                     "%s: param %d changed", name, k);
    }
}

/* ---- widen -------------------------------------------------------------------------------- */

Test(edit, widen_dense_keeps_every_weight_and_zeroes_outgoing)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "widen \"fc1\" by 3");
    const tensor *w0 = te_param(base, "fc1", "W"), *w1 = te_param(m, "fc1", "W");
    cr_assert_eq(w1->shape[0], 6);
    cr_assert_eq(w1->shape[1], 11);
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 8; c++)
            cr_assert_eq(te_at(w1, r, c), te_at(w0, r, c));
    const tensor *b0 = te_param(base, "fc1", "b"), *b1 = te_param(m, "fc1", "b");
    cr_assert_eq(b1->size, 11);
    cr_assert_eq(memcmp(b1->data, b0->data, 8 * sizeof(float)), 0);
    const tensor *v0 = te_param(base, "fc2", "W"), *v1 = te_param(m, "fc2", "W");
    cr_assert_eq(v1->shape[0], 11);
    for (int r = 0; r < 11; r++)
        for (int c = 0; c < 5; c++)
            cr_assert_eq(te_at(v1, r, c), r < 8 ? te_at(v0, r, c) : 0.0f, "row %d col %d", r, c);
    /* new units' incoming weights come from the init: not all zero */
    double s = 0;
    for (int r = 0; r < 6; r++)
        s += fabs(te_at(w1, r, 9));
    cr_assert_gt(s, 0);
    te_same_layer(base, m, "out");
    cr_assert_eq(model_find_layer(m, "fc1")->edit, EDIT_WIDENED);
    cr_assert_eq(model_find_layer(m, "fc2")->n_in, 11);
    model_free(m);
    model_free(base);
}

Test(edit, widen_dense_preserve_outputs_unchanged)
{
    cr_expect_lt(te_output_diff("mlp", "widen \"fc1\" by 3\nwiden \"fc2\" to 9", NULL, NULL),
                 TE_EXACT);
}

Test(edit, widen_dense_net2net_outputs_unchanged)
{
    double d = te_output_diff("mlp", "widen \"fc1\" to 20 { method = net2net }\n"
                              "widen \"fc2\" by 4 { method = net2net }", NULL, NULL);
    cr_expect_lt(d, TE_EXACT);
}

Test(edit, widen_net2net_copies_incoming_and_splits_outgoing)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "widen \"fc1\" by 4 { method = net2net }");
    const tensor *w0 = te_param(base, "fc1", "W"), *w1 = te_param(m, "fc1", "W");
    const tensor *v0 = te_param(base, "fc2", "W"), *v1 = te_param(m, "fc2", "W");
    /* each new unit is a copy of some old unit: its column equals that unit's column */
    int count[8] = {1, 1, 1, 1, 1, 1, 1, 1}, src[12];
    for (int j = 0; j < 12; j++) {
        src[j] = j;
        if (j < 8)
            continue;
        src[j] = -1;
        for (int u = 0; u < 8 && src[j] < 0; u++) {
            bool same = true;
            for (int r = 0; r < 6; r++)
                same = same && te_at(w1, r, j) == te_at(w0, r, u);
            if (same)
                src[j] = u;
        }
        cr_assert_geq(src[j], 0, "new unit %d copies no old unit", j);
        count[src[j]]++;
    }
    for (int j = 0; j < 12; j++)
        for (int c = 0; c < 5; c++)
            cr_assert_float_eq(te_at(v1, j, c), te_at(v0, src[j], c) / (float)count[src[j]], 1e-7);
    model_free(m);
    model_free(base);
}

Test(edit, widen_outgoing_init_wires_new_units_in)
{
    model *m = te_load("mlp", true);
    te_apply(m, "mlp", "widen \"fc1\" by 2 { outgoing = uniform(0.5, 1.0) }");
    const tensor *v = te_param(m, "fc2", "W");
    for (int c = 0; c < 5; c++) {
        cr_assert_geq(te_at(v, 8, c), 0.5f);
        cr_assert_geq(te_at(v, 9, c), 0.5f);
    }
    model_free(m);
}

Test(edit, widen_output_adds_classes_keeping_trained_ones)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "widen \"out\" by 2");
    const tensor *w0 = te_param(base, "out", "W"), *w1 = te_param(m, "out", "W");
    cr_assert_eq(w1->shape[1], 5);
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++)
            cr_assert_eq(te_at(w1, r, c), te_at(w0, r, c));
    te_same_layer(base, m, "fc1");
    te_same_layer(base, m, "fc2");
    model_free(m);
    model_free(base);
}

Test(edit, widen_through_activation_and_dropout)
{
    cr_expect_lt(te_output_diff("tanh", "widen \"fc1\" by 3", NULL, NULL), TE_EXACT);
    cr_expect_lt(te_output_diff("tanh", "widen \"fc1\" by 3 { method = net2net }", NULL, NULL),
                 TE_EXACT);
}

Test(edit, widen_lstm_preserve_keeps_gate_blocks)
{
    model *base = te_load("lstm", true);
    model *m = model_clone(base, true);
    te_apply(m, "lstm", "widen \"lstm1\" by 2");
    const int n = 6, nn = 8;
    const tensor *w0 = te_param(base, "lstm1", "W"), *w1 = te_param(m, "lstm1", "W");
    const tensor *r0 = te_param(base, "lstm1", "RW"), *r1 = te_param(m, "lstm1", "RW");
    const tensor *b0 = te_param(base, "lstm1", "b"), *b1 = te_param(m, "lstm1", "b");
    cr_assert_eq(w1->shape[1], 4 * nn);
    cr_assert_eq(r1->shape[0], nn);
    cr_assert_eq(r1->shape[1], 4 * nn);
    for (int g = 0; g < 4; g++)
        for (int j = 0; j < n; j++) {
            for (int r = 0; r < 5; r++)
                cr_assert_eq(te_at(w1, r, g * nn + j), te_at(w0, r, g * n + j));
            for (int r = 0; r < n; r++)
                cr_assert_eq(te_at(r1, r, g * nn + j), te_at(r0, r, g * n + j));
            cr_assert_eq(b1->data[g * nn + j], b0->data[g * n + j]);
        }
    /* new units send nothing: their RW rows and their rows in lstm2's W are zero */
    for (int r = n; r < nn; r++)
        for (int c = 0; c < 4 * nn; c++)
            cr_assert_eq(te_at(r1, r, c), 0.0f);
    const tensor *v1 = te_param(m, "lstm2", "W");
    cr_assert_eq(v1->shape[0], nn);
    for (int r = n; r < nn; r++)
        for (int c = 0; c < 16; c++)
            cr_assert_eq(te_at(v1, r, c), 0.0f);
    /* the new units' forget-gate bias is the layer's forget_gate_bias */
    cr_assert_eq(b1->data[nn + 6], 1.0f);
    cr_assert_eq(b1->data[nn + 7], 1.0f);
    te_same_layer(base, m, "out");
    model_free(m);
    model_free(base);
}

Test(edit, widen_lstm_outputs_unchanged)
{
    cr_expect_lt(te_output_diff("lstm", "widen \"lstm1\" by 3\nwiden \"lstm2\" to 7", NULL, NULL),
                 TE_EXACT);
    cr_expect_lt(te_output_diff("lstm", "widen \"lstm1\" by 5 { method = net2net }\n"
                                "widen \"lstm2\" by 2 { method = net2net }", NULL, NULL),
                 TE_EXACT);
}

Test(edit, widen_graves_lstm_outputs_unchanged)
{
    cr_expect_lt(te_output_diff("graves", "widen \"g1\" by 3\nwiden \"g2\" by 1", NULL, NULL),
                 TE_EXACT);
    cr_expect_lt(te_output_diff("graves", "widen \"g1\" by 4 { method = net2net }\n"
                                "widen \"g2\" to 6 { method = net2net }", NULL, NULL),
                 TE_EXACT);
}

Test(edit, widen_graves_keeps_peepholes)
{
    model *base = te_load("graves", true);
    model *m = model_clone(base, true);
    te_apply(m, "graves", "widen \"g1\" by 2 { method = net2net }");
    const tensor *r0 = te_param(base, "g1", "RW"), *r1 = te_param(m, "g1", "RW");
    cr_assert_eq(r1->shape[1], 4 * 7 + 3);
    for (int r = 0; r < 5; r++)
        for (int p = 0; p < 3; p++)
            cr_assert_eq(te_at(r1, r, 28 + p), te_at(r0, r, 20 + p));
    model_free(m);
    model_free(base);
}

Test(edit, widen_through_merge_outputs_unchanged)
{
    cr_expect_lt(te_output_diff("merge", "widen \"a\" by 2\nwiden \"b\" by 3", NULL, NULL),
                 TE_EXACT);
    cr_expect_lt(te_output_diff("merge", "widen \"a\" by 3 { method = net2net }\n"
                                "widen \"b\" to 7 { method = net2net }", NULL, NULL), TE_EXACT);
}

Test(edit, widen_through_merge_inserts_rows_at_the_offset)
{
    model *base = te_load("merge", true);
    model *m = model_clone(base, true);
    te_apply(m, "merge", "widen \"b\" by 2");
    /* joined = [a (4) | b (3)]: fc and fc2 gain rows 7, 8 (zero); rows 0..6 keep theirs */
    const char *const consumers[] = {"fc", "fc2"};
    for (int k = 0; k < 2; k++) {
        const tensor *v0 = te_param(base, consumers[k], "W"), *v1 = te_param(m, consumers[k], "W");
        cr_assert_eq(v1->shape[0], 9);
        for (int r = 0; r < 9; r++)
            for (int c = 0; c < 5; c++)
                cr_assert_eq(te_at(v1, r, c), r < 7 ? te_at(v0, r, c) : 0.0f);
    }
    te_same_layer(base, m, "a");
    model_free(m);
    model_free(base);
}

Test(edit, widen_behind_a_model_input_in_a_merge)
{
    const char *prep = "remove \"fc2\" keep connections\n"
                       "add merge \"fc2\" from \"in\", \"fc1\"\n"
                       "resize \"out\" n_in 14";
    cr_expect_lt(te_output_diff("mlp", "widen \"fc1\" by 2", prep, NULL), TE_EXACT);
    cr_expect_lt(te_output_diff("mlp", "widen \"fc1\" by 3 { method = net2net }", prep, NULL),
                 TE_EXACT);
    cr_expect_lt(te_output_diff("mlp", "deepen \"fc2\" with dense \"mix\"", prep, NULL),
                 TE_EXACT);
}

Test(edit, widen_through_an_add_whose_inputs_all_change_alike)
{
    const char *prep = "add merge \"m2\" from \"a\", \"b\"\n"
                       "add add \"s2\" from \"m2\", \"joined\"\n"
                       "add dense \"h\" from \"s2\" { n_out = 2 }\n"
                       "outputs \"h\"";
    cr_expect_lt(te_output_diff("merge", "widen \"a\" by 2", prep, NULL), TE_EXACT);
    cr_expect_lt(te_output_diff("merge", "widen \"b\" by 3 { method = net2net }", prep, NULL),
                 TE_EXACT);
}

Test(edit, widen_embedding_outputs_unchanged)
{
    model *m = te_load("embed", true);
    tensor x, y0, y1;
    int64_t s[2] = {6, 1};
    cr_assert_eq(tensor_alloc(&x, 2, s), 0);
    for (int i = 0; i < 6; i++)
        x.data[i] = (float)i;
    te_predict(m, &x, &y0);
    te_apply(m, "embed", "widen \"emb\" by 3");
    cr_assert_eq(te_param(m, "emb", "W")->shape[1], 7);
    te_predict(m, &x, &y1);
    cr_expect_lt(tensor_max_abs_diff(&y0, &y1), TE_EXACT);
    tensor_release(&x);
    tensor_release(&y0);
    tensor_release(&y1);
    model_free(m);
}

/* ---- narrow ------------------------------------------------------------------------------- */

static void te_zero_outgoing_fc1(model *m)
{
    layer *L = model_find_layer(m, "fc2");
    tensor *w = &L->params[layer_param_index(L, "W")];
    for (int c = 0; c < 5; c++) {
        w->data[1 * 5 + c] = 0;
        w->data[4 * 5 + c] = 0;
    }
}

Test(edit, narrow_drop_units_without_outgoing_weights_is_exact)
{
    cr_expect_lt(te_output_diff("mlp", "narrow \"fc1\" drop [1, 4]", NULL, te_zero_outgoing_fc1),
                 TE_EXACT);
}

Test(edit, narrow_drop_keeps_the_other_units_bitwise)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "narrow \"fc1\" drop [1, 4]");
    const int keep[6] = {0, 2, 3, 5, 6, 7};
    const tensor *w0 = te_param(base, "fc1", "W"), *w1 = te_param(m, "fc1", "W");
    const tensor *v0 = te_param(base, "fc2", "W"), *v1 = te_param(m, "fc2", "W");
    cr_assert_eq(w1->shape[1], 6);
    cr_assert_eq(v1->shape[0], 6);
    for (int j = 0; j < 6; j++) {
        for (int r = 0; r < 6; r++)
            cr_assert_eq(te_at(w1, r, j), te_at(w0, r, keep[j]));
        for (int c = 0; c < 5; c++)
            cr_assert_eq(te_at(v1, j, c), te_at(v0, keep[j], c));
    }
    cr_assert_eq(model_find_layer(m, "fc1")->edit, EDIT_NARROWED);
    model_free(m);
    model_free(base);
}

static void te_shrink_fc1_units_2_5(model *m)
{
    layer *L = model_find_layer(m, "fc1");
    tensor *w = &L->params[layer_param_index(L, "W")];
    for (int r = 0; r < 6; r++) {
        w->data[r * 8 + 2] *= 1e-3f;
        w->data[r * 8 + 5] *= 1e-3f;
    }
}

Test(edit, narrow_to_drops_the_smallest_incoming_norms)
{
    model *m = te_load("mlp", true);
    te_shrink_fc1_units_2_5(m);
    model *base = model_clone(m, true);
    te_apply(m, "mlp", "narrow \"fc1\" to 6");
    const int keep[6] = {0, 1, 3, 4, 6, 7};
    const tensor *w0 = te_param(base, "fc1", "W"), *w1 = te_param(m, "fc1", "W");
    for (int j = 0; j < 6; j++)
        for (int r = 0; r < 6; r++)
            cr_assert_eq(te_at(w1, r, j), te_at(w0, r, keep[j]));
    model_free(m);
    model_free(base);
}

static void te_zero_outgoing_lstm1_unit3(model *m)
{
    layer *L = model_find_layer(m, "lstm1");
    tensor *rw = &L->params[layer_param_index(L, "RW")];
    for (int64_t c = 0; c < rw->shape[1]; c++)
        rw->data[3 * rw->shape[1] + c] = 0;
    layer *C = model_find_layer(m, "lstm2");
    tensor *w = &C->params[layer_param_index(C, "W")];
    for (int64_t c = 0; c < w->shape[1]; c++)
        w->data[3 * w->shape[1] + c] = 0;
}

static void te_zero_outgoing_g1_unit1(model *m)
{
    layer *L = model_find_layer(m, "g1");
    tensor *rw = &L->params[layer_param_index(L, "RW")];
    for (int64_t c = 0; c < 4 * 5; c++)   /* gate columns; its peepholes are its own */
        rw->data[1 * rw->shape[1] + c] = 0;
    layer *C = model_find_layer(m, "g2");
    tensor *w = &C->params[layer_param_index(C, "W")];
    for (int64_t c = 0; c < w->shape[1]; c++)
        w->data[1 * w->shape[1] + c] = 0;
}

Test(edit, narrow_lstm_and_graves_exact_when_outgoing_zero)
{
    cr_expect_lt(te_output_diff("lstm", "narrow \"lstm1\" drop [3]", NULL,
                                te_zero_outgoing_lstm1_unit3), TE_EXACT);
    cr_expect_lt(te_output_diff("graves", "narrow \"g1\" drop [1]", NULL,
                                te_zero_outgoing_g1_unit1), TE_EXACT);
}

Test(edit, narrow_lstm_shapes)
{
    model *m = te_load("graves", true);
    te_apply(m, "graves", "narrow \"g1\" to 3");
    cr_assert_eq(te_param(m, "g1", "W")->shape[1], 12);
    cr_assert_eq(te_param(m, "g1", "RW")->shape[0], 3);
    cr_assert_eq(te_param(m, "g1", "RW")->shape[1], 15);
    cr_assert_eq(te_param(m, "g1", "b")->size, 12);
    cr_assert_eq(te_param(m, "g2", "W")->shape[0], 3);
    model_free(m);
}

Test(edit, widen_then_narrow_back_is_identity)
{
    model *base = te_load("lstm", true);
    model *m = model_clone(base, true);
    te_apply(m, "lstm", "widen \"lstm1\" by 3\nnarrow \"lstm1\" drop [6, 7, 8]");
    te_same_layer(base, m, "lstm1");
    te_same_layer(base, m, "lstm2");
    te_same_layer(base, m, "out");
    model_free(m);
    model_free(base);
}

/* ---- unit layouts, for every widenable type ------------------------------------------------ */

/* The fixtures that hold, between them, a layer of every widenable type. */
static const char *const te_unit_fixtures[] = {"mlp", "tanh", "embed", "lstm", "graves", "bidir",
                                               "merge", "conv", "resid", "resid2", "cat", "mobile"};
#define TE_N_UNIT_FIXTURES (int)(sizeof te_unit_fixtures / sizeof te_unit_fixtures[0])

static bool te_widenable(const layer_type *t)
{
    return (t->flags & LT_WIDENABLE) && t->units;
}

/* Whether the graph lets `widen NAME by 2` through (an add vertex refuses a change to only
 * some of its inputs). */
static bool te_graph_allows_widen(const model *base, const char *fx, const char *name)
{
    char text[256];
    snprintf(text, sizeof text, "widen \"%s\" by 2", name);
    model *m = model_clone(base, false);
    char msgs[2048];
    int errors = te_apply_msgs(m, fx, text, msgs, sizeof msgs);
    model_free(m);
    return errors == 0;
}

/* Input for the fixture: te_input's values, or valid indices when a layer takes indices. */
static void te_unit_input(const model *m, tensor *x)
{
    te_input(m, x, 7);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->type->flags & LT_INDEX_INPUT)
            for (int64_t k = 0; k < x->size; k++)
                x->data[k] = (float)(k % m->layers[i]->n_in);
}

/* Every registered type with a unit layout appears in some fixture, so that the tests below
 * reach it (a new widenable type needs a layer in one of them). */
Test(edit, unit_layouts_every_widenable_type_has_a_fixture)
{
    bool seen[64] = {false};
    cr_assert_leq(layer_type_count, 64);
    for (int f = 0; f < TE_N_UNIT_FIXTURES; f++) {
        model *m = te_load(te_unit_fixtures[f], false);
        for (int i = 0; i < m->n_layers; i++)
            for (int t = 0; t < layer_type_count; t++)
                if (m->layers[i]->type == layer_types[t])
                    seen[t] = true;
        model_free(m);
    }
    for (int t = 0; t < layer_type_count; t++) {
        const layer_type *ty = layer_types[t];
        if (te_widenable(ty))
            cr_expect(seen[t], "no edit fixture has a %s layer", ty->name);
        if (ty->units)   /* a layout names parameters of the type */
            for (int k = 0; k < ty->units->n_params; k++)
                cr_expect(ty->units->params[k].col_blocks >= 1, "%s.%s: no column blocks",
                          ty->name, ty->units->params[k].key);
    }
}

/* Widening any widenable layer by 2 and dropping the two new units gives back every parameter
 * of the model bit for bit: the layout places old and new units where narrow finds them. */
Test(edit, unit_layouts_widen_then_narrow_back_is_bitwise)
{
    int checked = 0;
    for (int f = 0; f < TE_N_UNIT_FIXTURES; f++) {
        const char *fx = te_unit_fixtures[f];
        model *base = te_load(fx, true);
        for (int i = 0; i < base->n_layers; i++) {
            const layer *L = base->layers[i];
            if (!te_widenable(L->type) || !te_graph_allows_widen(base, fx, L->name))
                continue;
            char text[256];
            snprintf(text, sizeof text, "widen \"%s\" by 2\nnarrow \"%s\" drop [%lld, %lld]",
                     L->name, L->name, (long long)L->n_out, (long long)L->n_out + 1);
            model *m = model_clone(base, true);
            te_apply(m, fx, text);
            for (int j = 0; j < base->n_layers; j++)
                te_same_layer(base, m, base->layers[j]->name);
            model_free(m);
            checked++;
        }
        model_free(base);
    }
    cr_expect_geq(checked, 6);
}

/* Net2WiderNet on any widenable hidden layer keeps the outputs (within float rounding): the
 * replicas' incoming columns and the split outgoing rows sit where the layouts say. */
Test(edit, unit_layouts_net2net_keeps_outputs)
{
    int checked = 0;
    for (int f = 0; f < TE_N_UNIT_FIXTURES; f++) {
        const char *fx = te_unit_fixtures[f];
        model *base = te_load(fx, true);
        cr_assert_eq(model_infer_shapes(base, NULL), 0);
        for (int i = 0; i < base->n_layers; i++) {
            const layer *L = base->layers[i];
            if (!te_widenable(L->type) || (L->type->flags & LT_LOSS) ||
                !te_graph_allows_widen(base, fx, L->name))
                continue;
            char text[256];
            snprintf(text, sizeof text, "widen \"%s\" by 3 { method = net2net }", L->name);
            model *m = model_clone(base, true);
            tensor x, y0, y1;
            te_unit_input(m, &x);
            te_predict(m, &x, &y0);
            te_apply(m, fx, text);
            te_predict(m, &x, &y1);
            cr_assert(tensor_same_shape(&y0, &y1));
            double d = tensor_max_abs_diff(&y0, &y1);
            tensor_release(&x);
            tensor_release(&y0);
            tensor_release(&y1);
            model_free(m);
            cr_expect_lt(d, TE_EXACT, "%s in %s: net2net changed the outputs by %g", L->name,
                         fx, d);
            checked++;
        }
        model_free(base);
    }
    cr_expect_geq(checked, 4);
}

/* ---- convolutional channels --------------------------------------------------------------- */

/* Batch norm with trained-looking statistics and affine parameters (not its 1, 0, 0, 1 start),
 * so that the edits are seen to carry them. */
static void te_random_batch_norm(model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (strcmp(L->type->name, "batch_norm"))
            continue;
        rng r;
        rng_seed(&r, 40 + (uint64_t)i);
        for (int k = 0; k < L->n_params; k++)
            for (int64_t j = 0; j < L->params[k].size; j++)
                L->params[k].data[j] = (float)(0.5 + rng_uniform(&r));
    }
}

Test(edit, conv_net2net_through_batch_norm_pool_depthwise_and_flatten_keeps_outputs)
{
    cr_expect_lt(te_output_diff("conv", "widen \"c1\" to 7 { method = net2net }", NULL,
                                te_random_batch_norm), TE_EXACT);
    cr_expect_lt(te_output_diff("conv", "widen \"sep\" by 3 { method = net2net }\n"
                                "widen \"c3\" by 2 { method = net2net }", NULL,
                                te_random_batch_norm), TE_EXACT);
}

Test(edit, conv_widen_carries_batch_norm_depthwise_and_flatten_widths)
{
    model *m = te_load("conv", true);
    te_random_batch_norm(m);
    te_apply(m, "conv", "widen \"c1\" by 2\nwiden \"sep\" by 1\nwiden \"c3\" by 1");
    cr_assert_eq(model_find_layer(m, "bn1")->n_out, 6);
    cr_assert_eq(model_find_layer(m, "sep")->n_in, 6);
    cr_assert_eq(model_find_layer(m, "dw")->n_out, 12);
    cr_assert_eq(model_find_layer(m, "c3")->n_in, 12);
    cr_assert_eq(model_find_layer(m, "fc")->n_in, 4 * 4 * 4);
    const tensor *gamma = te_param(m, "bn1", "gamma"), *var = te_param(m, "bn1", "var");
    const tensor *mean = te_param(m, "bn1", "mean"), *beta = te_param(m, "bn1", "beta");
    for (int j = 4; j < 6; j++) {   /* new channels: the identity normalisation */
        cr_expect_eq(gamma->data[j], 1.0f);
        cr_expect_eq(beta->data[j], 0.0f);
        cr_expect_eq(mean->data[j], 0.0f);
        cr_expect_eq(var->data[j], 1.0f);
    }
    const tensor *w = te_param(m, "fc", "W");   /* c3's new channel: 16 zero rows */
    for (int64_t r = 3 * 16; r < 4 * 16; r++)
        for (int c = 0; c < 6; c++)
            cr_expect_eq(te_at(w, r, c), 0.0f);
    model_free(m);
    cr_expect_lt(te_output_diff("conv", "widen \"c1\" by 2\nwiden \"sep\" by 1\n"
                                "widen \"c3\" by 1\nnarrow \"c1\" to 3", NULL, NULL), 1e9);
}

Test(edit, conv_residual_add_widens_its_coupled_group)
{
    model *m = te_load("resid", true);
    te_apply(m, "resid", "widen \"c2\" by 2");
    cr_expect_eq(model_find_layer(m, "c0")->n_out, 6);
    cr_expect_eq(model_find_layer(m, "c2")->n_out, 6);
    cr_expect_eq(model_find_layer(m, "c1")->n_in, 6);
    cr_expect_eq(model_find_layer(m, "bn1")->n_out, 4);
    cr_expect_eq(model_find_layer(m, "out")->n_in, 6);
    model_free(m);
    cr_expect_lt(te_output_diff("resid", "widen \"c0\" by 3 { method = net2net }\n"
                                "narrow \"c2\" to 5", NULL, te_random_batch_norm), 1e9);
    cr_expect_lt(te_output_diff("resid", "widen \"c0\" by 3 { method = net2net }", NULL,
                                te_random_batch_norm), TE_EXACT);
}

/* Each script of edits leaves fixture's outputs as they were. */
static void te_expect_outputs_kept(const char *fixture, const char *const *edits, size_t n,
                                   void (*prep)(model *))
{
    for (size_t i = 0; i < n; i++)
        cr_expect_lt(te_output_diff(fixture, edits[i], NULL, prep), TE_EXACT,
                     "%s changed the outputs", edits[i]);
}

/* Chained residual adds (resnet's identity shortcuts): sum2 reads sum1 through a relu, so c3
 * couples with sum1's inputs c0 and c2; net2net through both keeps the outputs. */
Test(edit, conv_chained_residual_adds_couple_through_the_first)
{
    model *m = te_load("resid2", true);
    te_apply(m, "resid2", "narrow \"c3\" to 3");
    /* n_in, n_out after the narrow: c1's own units stay */
    static const struct { const char *name; int64_t n_in, n_out; } want[] = {
        {"c0", 2, 3}, {"c1", 3, 4}, {"c2", 4, 3}, {"c3", 3, 3}, {"out", 3, 2}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const layer *L = model_find_layer(m, want[i].name);
        cr_expect(L->n_in == want[i].n_in && L->n_out == want[i].n_out, "%s: %lld -> %lld",
                  want[i].name, (long long)L->n_in, (long long)L->n_out);
    }
    model_free(m);
    static const char *const edits[] = {
        "widen \"c0\" by 2 { method = net2net }",
        "widen \"c3\" by 3 { method = net2net }",
        "widen \"c2\" by 1 { method = net2net }\nwiden \"c1\" by 2 { method = net2net }",
    };
    te_expect_outputs_kept("resid2", edits, sizeof edits / sizeof edits[0], NULL);
    cr_expect_lt(te_output_diff("resid2", "narrow \"c0\" to 2", NULL, NULL), 1e9);
}

/* A widened input of a merge of convolutional inputs moves the channels behind it: e1's new
 * channels sit at offset 4 + 3 of cat (after c0's 4 and e1's own 3), in bn and in the inputs of
 * c2 and g; e3's channels move up by two. */
Test(edit, conv_concat_maps_channels_at_the_offset)
{
    model *base = te_load("cat", true);
    te_random_batch_norm(base);
    model *m = model_clone(base, true);
    te_apply(m, "cat", "widen \"e1\" by 2");
    cr_assert_eq(model_find_layer(m, "bn")->n_out, 11);
    cr_assert_eq(model_find_layer(m, "c2")->n_in, 11);
    cr_assert_eq(model_find_layer(m, "g")->n_in, 11);
    const tensor *g0 = te_param(base, "bn", "gamma"), *g1 = te_param(m, "bn", "gamma");
    const tensor *w0 = te_param(base, "g", "W"), *w1 = te_param(m, "g", "W");   /* [4, C, 1, 1] */
    for (int64_t c = 0; c < 11; c++) {
        int64_t from = c < 7 ? c : c < 9 ? -1 : c - 2;   /* -1: a new channel */
        cr_expect_eq(g1->data[c], from < 0 ? 1.0f : g0->data[from], "bn gamma[%lld]",
                     (long long)c);
        for (int64_t o = 0; o < 4; o++)
            cr_expect_eq(w1->data[o * 11 + c], from < 0 ? 0.0f : w0->data[o * 9 + from],
                         "g W[%lld, %lld]", (long long)o, (long long)c);
    }
    model_free(m);
    model_free(base);
}

/* Net2WiderNet through the concatenations (fire and cat), batch norm and a product leaves the
 * outputs as they were. */
Test(edit, conv_net2net_through_concat_and_multiply_keeps_outputs)
{
    static const char *const edits[] = {
        "widen \"e1\" by 2 { method = net2net }",
        "widen \"e3\" by 3 { method = net2net }",
        "widen \"c0\" by 2 { method = net2net }",
        "widen \"s\" to 5 { method = net2net }",
        "widen \"c2\" by 2 { method = net2net }",
        "widen \"e1\" by 1 { method = net2net }\nwiden \"g\" by 3 { method = net2net }",
    };
    te_expect_outputs_kept("cat", edits, sizeof edits / sizeof edits[0], te_random_batch_norm);
}

/* The inputs of a multiply vertex are coupled as an add's are: widening or narrowing one
 * changes the other alike. */
Test(edit, conv_multiply_couples_its_inputs)
{
    model *m = te_load("cat", true);
    te_apply(m, "cat", "widen \"c2\" by 2");
    cr_expect_eq(model_find_layer(m, "g")->n_out, 6);
    cr_expect_eq(model_find_layer(m, "out")->n_in, 6);
    te_apply(m, "cat", "narrow \"g\" to 3");
    cr_expect_eq(model_find_layer(m, "c2")->n_out, 3);
    cr_expect_eq(model_find_layer(m, "g")->n_out, 3);
    cr_expect_eq(model_find_layer(m, "out")->n_in, 3);
    model_free(m);
    /* preserve mode: new channels' outgoing weights are zero, so the product's new channels
     * do not reach the output */
    cr_expect_lt(te_output_diff("cat", "widen \"g\" by 2", NULL, te_random_batch_norm),
                 TE_EXACT);
}

/* A conv2d of one group per input channel is a depthwise convolution: its filters, biases,
 * outputs and groups follow its input's channels, and net2net through it keeps the outputs. */
Test(edit, conv_depthwise_conv2d_follows_its_input)
{
    model *m = te_load("mobile", true);
    te_apply(m, "mobile", "widen \"c0\" by 2");
    layer *dw = model_find_layer(m, "dw");
    double g;
    layer_option_get_values(layer_option_find(dw->type, "groups"), dw, &g);
    cr_expect_eq(dw->n_in, 6);
    cr_expect_eq(dw->n_out, 12);
    cr_expect_eq(g, 6.0);
    cr_expect_eq(model_find_layer(m, "pw")->n_in, 12);
    cr_expect_eq(te_param(m, "dw", "W")->shape[0], 12);
    model_free(m);
    cr_expect_lt(te_output_diff("mobile", "widen \"c0\" by 3 { method = net2net }", NULL, NULL),
                 TE_EXACT);
    /* preserve: the new channels' filters in dw are drawn, pw's rows for them are zero */
    cr_expect_lt(te_output_diff("mobile", "widen \"c0\" by 2", NULL, NULL), TE_EXACT);
    cr_expect_eq(te_errors("mobile", false, "widen \"dw\" by 1", "its channels follow its "
                           "input's"), 1);
}

/* Grouped convolutions refuse to move channels, as the widened layer and as a consumer. */
Test(edit, conv_grouped_refuses_saying_why)
{
    cr_expect_eq(te_errors("grouped", false, "widen \"gc\" by 2", "2 channel groups (2 in, 2 "
                           "out each) must change alike"), 1);
    cr_expect_eq(te_errors("grouped", false, "narrow \"c0\" to 2", "cannot change the input "
                           "channels of conv2d 'gc'"), 1);
    cr_expect_eq(te_errors("grouped", false, "widen \"c1\" by 1", "is a model input, whose "
                           "channels are fixed"), 1);
}

Test(edit, conv_deepen_identity_is_exact)
{
    cr_expect_lt(te_output_diff("conv", "deepen \"c1\" with conv2d \"c1b\"\n"
                                "deepen \"bn1\" with conv2d \"bnb\"", NULL,
                                te_random_batch_norm), TE_EXACT);
    cr_expect_lt(te_output_diff("resid", "deepen \"c0\" with conv2d \"c0b\"", NULL, NULL),
                 TE_EXACT);
}

Test(edit, conv_refusals_say_why)
{
    cr_expect_eq(te_errors("conv", false, "widen \"dw\" by 1", "its channels follow its "
                           "input's"), 1);
    cr_expect_eq(te_errors("conv", false, "widen \"bn1\" by 1", "its channels follow its "
                           "input's"), 1);
    cr_expect_eq(te_errors("conv", false, "deepen \"fc\" with conv2d \"x\"",
                           "convolutional output"), 1);
    cr_expect_eq(te_errors("conv", false, "set \"c1\" { activation = tanh }\n"
                           "deepen \"c1\" with conv2d \"x\"", "phi(phi(x))"), 1);
}

/* ---- deepen ------------------------------------------------------------------------------- */

Test(edit, deepen_dense_relu_is_exact)
{
    cr_expect_lt(te_output_diff("mlp", "deepen \"fc1\" with dense \"fc1b\"\n"
                                "deepen \"fc2\" with dense \"fc2b\"", NULL, NULL), TE_EXACT);
    model *m = te_load("mlp", true);
    te_apply(m, "mlp", "deepen \"fc1\" with dense \"fc1b\"");
    layer *L = model_find_layer(m, "fc1b");
    cr_assert_eq(L->activation, ACT_RELU);
    cr_assert_str_eq(model_find_layer(m, "fc2")->inputs[0], "fc1b");
    const tensor *w = te_param(m, "fc1b", "W");
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            cr_assert_eq(te_at(w, r, c), r == c ? 1.0f : 0.0f);
    model_free(m);
}

Test(edit, deepen_lstm_is_identity_to_float_rounding)
{
    cr_expect_lt(te_output_diff("lstm", "deepen \"lstm1\" with lstm \"deep\"", NULL, NULL),
                 TE_EXACT);
    cr_expect_lt(te_output_diff("graves", "deepen \"g2\" with lstm \"deep\"", NULL, NULL),
                 TE_EXACT);
}

Test(edit, deepen_after_merge_is_exact)
{
    cr_expect_lt(te_output_diff("merge", "deepen \"joined\" with dense \"mix\"", NULL, NULL),
                 TE_EXACT);
}

Test(edit, deepen_refuses_non_idempotent_activation)
{
    cr_expect_eq(te_errors("tanh", false, "deepen \"fc1\" with dense \"x\"",
                           "deepen needs an activation with phi(phi(x)) = phi(x) (relu, "
                           "identity); 'fc1' uses tanh"), 1);
}

/* ---- DL4J-equivalent structural edits ----------------------------------------------------- */

Test(edit, resize_n_out_reinitialises_layer_and_fan_out)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp",
             "resize \"fc1\" n_out 10 { init = uniform(2, 3)  next_init = uniform(-3, -2) }");
    const tensor *w1 = te_param(m, "fc1", "W"), *v1 = te_param(m, "fc2", "W");
    cr_assert_eq(w1->shape[1], 10);
    cr_assert_eq(v1->shape[0], 10);
    for (int64_t i = 0; i < w1->size; i++)
        cr_assert(w1->data[i] >= 2 && w1->data[i] < 3);
    for (int64_t i = 0; i < v1->size; i++)
        cr_assert(v1->data[i] >= -3 && v1->data[i] < -2);
    te_same_layer(base, m, "out");
    cr_assert_eq(model_find_layer(m, "fc1")->edit, EDIT_RESIZED);
    cr_assert_eq(model_find_layer(m, "fc2")->edit, EDIT_RESIZED);
    cr_assert_eq(model_find_layer(m, "out")->edit, EDIT_KEPT);
    model_free(m);
    model_free(base);
}

Test(edit, resize_through_merge_resizes_the_merge_consumers)
{
    model *base = te_load("merge", true);
    model *m = model_clone(base, true);
    te_apply(m, "merge", "resize \"a\" n_out 6");
    cr_assert_eq(te_param(m, "fc", "W")->shape[0], 9);
    cr_assert_eq(te_param(m, "fc2", "W")->shape[0], 9);
    cr_assert_eq(model_find_layer(m, "fc")->edit, EDIT_RESIZED);
    te_same_layer(base, m, "b");
    te_same_layer(base, m, "out");
    model_free(m);
    model_free(base);
}

Test(edit, resize_n_in_reinitialises_that_layer_only)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "remove \"fc1\" keep connections\n"
             "add dense \"fc1\" from \"in\" { n_out = 4  activation = relu }\n"
             "resize \"fc2\" n_in 4 { init = ones }");
    const tensor *v = te_param(m, "fc2", "W");
    cr_assert_eq(v->shape[0], 4);
    for (int64_t i = 0; i < v->size; i++)
        cr_assert_eq(v->data[i], 1.0f);
    te_same_layer(base, m, "out");
    model_free(m);
    model_free(base);
}

Test(edit, remove_keep_connections_and_add_reconnects)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "remove \"fc2\" keep connections\n"
             "add dense \"fc2\" from \"fc1\" { n_out = 5  activation = relu }");
    layer *L = model_find_layer(m, "fc2");
    cr_assert_eq(L->edit, EDIT_REPLACED);
    cr_assert_str_eq(model_find_layer(m, "out")->inputs[0], "fc2");
    te_same_layer(base, m, "fc1");
    te_same_layer(base, m, "out");
    model_free(m);
    model_free(base);
}

Test(edit, replace_keeps_wiring_and_neighbours)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "replace \"fc2\" with dense { activation = identity }");
    layer *L = model_find_layer(m, "fc2");
    cr_assert_eq(L->edit, EDIT_REPLACED);
    cr_assert_eq(L->n_out, 5);
    cr_assert_eq(L->activation, ACT_IDENTITY);
    cr_assert_str_eq(L->inputs[0], "fc1");
    te_same_layer(base, m, "fc1");
    te_same_layer(base, m, "out");
    model_free(m);
    model_free(base);
}

Test(edit, insert_goes_between_a_layer_and_its_consumers)
{
    double d = te_output_diff("mlp", "insert dropout \"drop\" after \"fc1\" { dropout = 0.5 }",
                              NULL, NULL);
    cr_expect_lt(d, TE_EXACT);   /* dropout is the identity at inference */
    model *m = te_load("mlp", false);
    te_apply(m, "mlp", "insert dense \"adapter\" after \"fc1\" { n_out = 8  activation = relu }");
    cr_assert_str_eq(model_find_layer(m, "fc2")->inputs[0], "adapter");
    cr_assert_str_eq(model_find_layer(m, "adapter")->inputs[0], "fc1");
    cr_assert_eq(model_find_layer(m, "adapter")->n_in, 8);
    model_free(m);
}

Test(edit, remove_output_then_add_a_new_head)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "remove output\n"
             "add output \"head\" from \"fc2\" { n_out = 4  activation = softmax  loss = mcxent }");
    cr_assert_eq(m->n_outputs, 1);
    cr_assert_str_eq(m->outputs[0], "head");
    cr_assert_null(model_find_layer(m, "out"));
    cr_assert_eq(te_param(m, "head", "W")->shape[0], 5);
    te_same_layer(base, m, "fc1");
    te_same_layer(base, m, "fc2");
    model_free(m);
    model_free(base);
}

Test(edit, remove_last_cuts_a_chain)
{
    model *m = te_load("mlp", false);
    edit_log *log = edit_log_new();
    FILE *out = tmpfile();
    diag_ctx *d = diag_new(out, DIAG_COLOR_NEVER);
    ir_script *s = te_script("mlp", "remove last 2", d);
    cr_assert_eq(edit_apply_log(m, s, d, log), 0);
    cr_assert_eq(m->n_layers, 1);
    cr_assert_str_eq(m->outputs[0], "fc1");
    cr_assert_eq(log->n_removed, 2);
    cr_assert_eq(log->removed[0].params + log->removed[1].params, 45 + 18);
    ir_script_free(s);
    diag_free(d);
    fclose(out);
    edit_log_free(log);
    model_free(m);
}

Test(edit, rename_updates_every_reference)
{
    model *base = te_load("mlp", true);
    model *m = model_clone(base, true);
    te_apply(m, "mlp", "rename \"fc2\" to \"features\"\nfreeze through \"features\"\n"
             "rename \"out\" to \"head\"");
    layer *L = model_find_layer(m, "features");
    cr_assert_not_null(L);
    cr_assert_str_eq(L->old_name, "fc2");
    cr_assert_eq(L->edit, EDIT_RENAMED);
    cr_assert(L->frozen);
    cr_assert_str_eq(model_find_layer(m, "head")->inputs[0], "features");
    cr_assert_str_eq(m->outputs[0], "head");
    layer *a = model_find_layer(base, "fc2");
    cr_assert_eq(memcmp(a->params[0].data, L->params[0].data, 40 * sizeof(float)), 0);
    model_free(m);
    model_free(base);
}

Test(edit, freeze_through_set_and_fine_tune)
{
    model *m = te_load("mlp", false);
    te_apply(m, "mlp", "fine_tune { l2 = 0.5  dropout = 0.25 }\n"
             "set \"out\" { l2 = 0.125 }\n"
             "freeze through \"fc2\"\nunfreeze \"fc2\"");
    layer *fc1 = model_find_layer(m, "fc1"), *fc2 = model_find_layer(m, "fc2"),
          *out = model_find_layer(m, "out");
    cr_assert(fc1->frozen);
    cr_assert(!fc2->frozen);
    cr_assert(!out->frozen);
    cr_assert_eq(fc2->train.l2, 0.5);
    cr_assert_eq(out->train.l2, 0.125);        /* the script's own setting wins */
    cr_assert_eq(out->train.dropout, 0.25);
    cr_assert_eq(fc1->train.l2, 0.0);          /* frozen: fine_tune does not reach it */
    cr_assert_eq(m->training.l2, 0.5);
    cr_assert(out->script_set_mask & TC_L2);
    model_free(m);
}

Test(edit, new_layers_take_fine_tune_defaults_unless_set)
{
    model *m = te_load("mlp", false);
    te_apply(m, "mlp", "fine_tune { learning_rate = 0.5 }\n"
             "insert dense \"x\" after \"fc2\" { n_out = 5  learning_rate = 0.25 }\n"
             "insert dense \"y\" after \"x\" { n_out = 5 }");
    cr_assert_eq(model_find_layer(m, "x")->train.learning_rate, 0.25);
    cr_assert_eq(model_find_layer(m, "y")->train.learning_rate, 0.5);
    model_free(m);
}

/* The fine-tune rules hold through edit_apply (the trainer's implementation, train.h). */
Test(edit, fine_tune_updater_replaces_a_stored_learning_rate)
{
    model *m = te_load("mlp", false);
    /* the base model stored learning rates on fc2 and out */
    const char *const names[] = {"fc2", "out"};
    for (int i = 0; i < 2; i++) {
        layer *L = model_find_layer(m, names[i]);
        L->train.learning_rate = 0.5;
        L->train.set_mask |= TC_LEARNING_RATE;
    }
    te_apply(m, "mlp", "fine_tune { updater = adam(learning_rate = 1e-4)  l2 = 0.01 }\n"
             "set \"out\" { learning_rate = 0.25 }");
    layer *fc2 = model_find_layer(m, "fc2"), *out = model_find_layer(m, "out");
    cr_assert_eq(fc2->train.updater.kind, UPD_ADAM);
    cr_assert_eq(train_conf_learning_rate(&fc2->train), 1e-4);
    cr_assert_eq(fc2->train.l2, 0.01);
    /* the script's own learning rate on out wins over both */
    cr_assert_eq(out->train.updater.kind, UPD_ADAM);
    cr_assert_eq(train_conf_learning_rate(&out->train), 0.25);
    model_free(m);
}

Test(edit, set_updater_replaces_a_stored_learning_rate)
{
    model *m = te_load("mlp", false);
    const char *const names[] = {"fc2", "out"};
    for (int i = 0; i < 2; i++) {
        layer *L = model_find_layer(m, names[i]);
        L->train.learning_rate = 0.5;
        L->train.set_mask |= TC_LEARNING_RATE;
    }
    te_apply(m, "mlp", "set \"fc2\" { updater = adam(learning_rate = 1e-3) }\n"
             "set \"out\" { updater = sgd(learning_rate = 1e-2)  learning_rate = 0.125 }");
    layer *fc2 = model_find_layer(m, "fc2"), *out = model_find_layer(m, "out");
    /* the updater the script sets brings its own rate ... */
    cr_assert_eq(fc2->train.updater.kind, UPD_ADAM);
    cr_assert_eq(train_conf_learning_rate(&fc2->train), 1e-3);
    /* ... unless the script also sets learning_rate on the layer */
    cr_assert_eq(out->train.updater.kind, UPD_SGD);
    cr_assert_eq(train_conf_learning_rate(&out->train), 0.125);
    model_free(m);
}

Test(edit, fine_tune_learning_rate_leaves_a_script_updater_alone)
{
    model *m = te_load("mlp", false);
    te_apply(m, "mlp", "fine_tune { learning_rate = 1e-3  dropout = 0.125 }\n"
             "set \"out\" { updater = nesterovs(learning_rate = 0.25, momentum = 0.5) }\n"
             "freeze \"fc1\"");
    layer *fc1 = model_find_layer(m, "fc1"), *fc2 = model_find_layer(m, "fc2"),
          *out = model_find_layer(m, "out");
    cr_assert_eq(out->train.updater.kind, UPD_NESTEROVS);
    cr_assert_eq(train_conf_learning_rate(&out->train), 0.25);
    cr_assert_eq(out->train.dropout, 0.125);
    cr_assert_eq(train_conf_learning_rate(&fc2->train), 1e-3);
    cr_assert_eq(fc2->train.dropout, 0.125);
    /* frozen: nothing */
    cr_assert(fc1->frozen);
    cr_assert_eq(fc1->train.set_mask, 0u);
    cr_assert_eq(fc1->train.dropout, 0.0);
    model_free(m);
}

Test(edit, new_layers_take_every_fine_tune_field_as_default)
{
    model *m = te_load("mlp", false);
    te_apply(m, "mlp", "fine_tune { updater = adam(learning_rate = 1e-4)  l2 = 0.01  dropout = 0.1 "
             "gradient_normalization = clip_element_wise(threshold = 2) }\n"
             "insert dense \"x\" after \"fc2\" { n_out = 5  l2 = 0.5 }\n"
             "insert dense \"y\" after \"x\" { n_out = 5  updater = sgd(learning_rate = 0.75) }\n"
             "deepen \"fc1\" with dense \"fc1b\"");
    layer *x = model_find_layer(m, "x"), *y = model_find_layer(m, "y"),
          *deep = model_find_layer(m, "fc1b");
    cr_assert_not_null(deep);
    /* x: fine_tune's values, its own l2 */
    cr_assert_eq(x->train.updater.kind, UPD_ADAM);
    cr_assert_eq(train_conf_learning_rate(&x->train), 1e-4);
    cr_assert_eq(x->train.l2, 0.5);
    cr_assert_eq(x->train.dropout, 0.1);
    cr_assert_eq(x->train.grad_norm, GN_CLIP_ELEMENT_WISE);
    cr_assert_eq(x->train.grad_norm_threshold, 2.0);
    /* y: its own updater and learning rate, the rest from fine_tune */
    cr_assert_eq(y->train.updater.kind, UPD_SGD);
    cr_assert_eq(train_conf_learning_rate(&y->train), 0.75);
    cr_assert_eq(y->train.l2, 0.01);
    cr_assert_eq(y->train.dropout, 0.1);
    /* deepen's new layer: everything from fine_tune */
    cr_assert_eq(deep->train.updater.kind, UPD_ADAM);
    cr_assert_eq(train_conf_learning_rate(&deep->train), 1e-4);
    cr_assert_eq(deep->train.l2, 0.01);
    cr_assert_eq(deep->train.dropout, 0.1);
    model_free(m);
}

Test(edit, deterministic_in_the_seed)
{
    const char *script = "widen \"fc1\" by 5\nresize \"fc2\" n_out 7\n"
                         "insert dense \"z\" after \"fc2\" { n_out = 7 }";
    model *a = te_load("mlp", true), *b = te_load("mlp", true);
    te_apply(a, "mlp", script);
    te_apply(b, "mlp", script);
    const char *const names[] = {"fc1", "fc2", "z", "out"};
    for (int i = 0; i < 4; i++)
        te_same_layer(a, b, names[i]);
    model *c = te_load("mlp", true);
    te_apply(c, "mlp", "fine_tune { seed = 77 }\nwiden \"fc1\" by 5");
    cr_assert_neq(memcmp(te_param(a, "fc1", "W")->data + 8, te_param(c, "fc1", "W")->data + 8,
                         3 * sizeof(float)), 0);
    model_free(a);
    model_free(b);
    model_free(c);
}

Test(edit, architecture_mode_changes_shapes_only)
{
    model *m = te_load("lstm", false);
    te_apply(m, "lstm", "widen \"lstm1\" by 4\nnarrow \"lstm2\" to 2\n"
             "deepen \"lstm2\" with lstm \"deep\"\nresize \"out\" n_out 7");
    cr_assert_eq(model_find_layer(m, "lstm1")->n_out, 10);
    cr_assert_eq(model_find_layer(m, "lstm2")->n_in, 10);
    cr_assert_eq(model_find_layer(m, "lstm2")->n_out, 2);
    cr_assert_eq(model_find_layer(m, "deep")->n_in, 2);
    cr_assert_eq(model_find_layer(m, "out")->n_in, 2);
    cr_assert_eq(model_find_layer(m, "out")->n_out, 7);
    for (int i = 0; i < m->n_layers; i++)
        cr_assert_null(m->layers[i]->params[0].data);
    model_free(m);
}

Test(edit, check_script_model_reports_nothing_for_a_valid_script)
{
    char cwd[1024];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    FILE *out = tmpfile();
    diag_ctx *d = diag_new(out, DIAG_COLOR_NEVER);
    ir_script *s = te_script("merge", "widen \"a\" by 2\nfreeze through \"joined\"", d);
    model *after = NULL;
    cr_assert_eq(check_script_model(s, d, &after), 0);
    cr_assert_not_null(after);
    cr_assert_eq(model_find_layer(after, "fc")->n_in, 9);
    cr_assert(model_find_layer(after, "b")->frozen);
    model_free(after);
    ir_script_free(s);
    diag_free(d);
    fclose(out);
}

/* ---- errors ------------------------------------------------------------------------------- */

Test(edit, errors_unknown_names_suggest)
{
    cr_expect_eq(te_errors("mlp", false, "widen \"fc3\" by 2", "unknown layer 'fc3' (did you "
                           "mean 'fc1'?)"), 1);
    cr_expect_eq(te_errors("mlp", false, "remove \"fc2\"\nwiden \"fc2\" by 1",
                           "unknown layer 'fc2': it was removed"), 2);
}

Test(edit, errors_edits_that_do_not_apply)
{
    cr_expect_eq(te_errors("merge", false, "widen \"joined\" by 2", "'joined' is a merge vertex"),
                 1);
    cr_expect_eq(te_errors("merge", false, "resize \"fc\" n_out 7", "add vertex 'sum'"), 1);
    cr_expect_eq(te_errors("merge", false, "resize \"sum\" n_out 3", "resize applies to layers "
                           "with parameters"), 1);
    cr_expect_eq(te_errors("mlp", false, "widen \"fc1\" to 8", "already has 8 units"), 1);
    cr_expect_eq(te_errors("mlp", false, "narrow \"fc1\" to 8", "has 8 units"), 1);
    cr_expect_eq(te_errors("mlp", false, "narrow \"fc1\" drop [9]", "out of range"), 1);
    cr_expect_eq(te_errors("embed", false, "widen \"in\" by 1", "'in' is a model input"), 1);
}

Test(edit, errors_graph_structure)
{
    cr_expect_eq(te_errors("mlp", false, "remove \"fc1\"", "removing 'fc1' leaves 'fc2' without "
                           "inputs"), 1);
    cr_expect_eq(te_errors("mlp", false, "add dense \"fc1\" from \"in\" { n_out = 2 }",
                           "a layer named 'fc1' already exists"), 1);
    cr_expect_eq(te_errors("mlp", false, "remove \"fc2\" keep connections",
                           "no layer named 'fc2' is added back"), 1);
    cr_expect_eq(te_errors("mlp", false, "remove \"fc1\" keep connections\n"
                           "add dense \"fc1\" from \"fc2\" { n_out = 8 }", "creates a cycle"), 1);
    cr_expect_eq(te_errors("merge", false, "remove last 1", "chain models"), 1);
    cr_expect_eq(te_errors("mlp", false, "freeze \"out\"", "output layers cannot be frozen"), 1);
    cr_expect_eq(te_errors("mlp", false, "freeze through \"fc2\"\nfreeze \"fc1\"\n"
                           "data d = csv(\"x.csv\") { classes = 3 }\nfit d epochs 1", NULL), 0);
    cr_expect_eq(te_errors("mlp", false, "remove output\nfreeze through \"fc2\"\n"
                           "data d = csv(\"x.csv\") { classes = 3 }\nfit d epochs 1",
                           "nothing to train"), 1);
}

Test(edit, errors_weights_that_no_longer_fit)
{
    cr_expect_eq(te_errors("mlp", false, "insert dense \"x\" after \"fc1\" { n_out = 3 }",
                           "changes the input of 'fc2' from 8 to 3 features"), 1);
    cr_expect_eq(te_errors("mlp", false, "insert dense \"x\" after \"fc1\" { n_out = 3 }\n"
                           "resize \"fc2\" n_in 3", NULL), 0);
    cr_expect_eq(te_errors("mlp", false, "resize \"fc2\" n_in 4", "n_in 4 of 'fc2' disagrees "
                           "with the 8 features"), 1);
}

/* ---- only the new units are drawn; mapped weights ---------------------------------------- */

/* The next n values of a parameter's own stream (seed, "LAYER.KEY") drawn as `init` draws the
 * whole parameter of L as it is now, at row-major position `first`. */
static void te_stream_values(const layer *L, const char *key, uint64_t seed, init_spec init,
                             param_stream *s)
{
    param_spec sp[LAYER_MAX_PARAMS];
    L->type->param_specs(L, sp);
    int k = layer_param_index(L, key);
    cr_assert_geq(k, 0);
    rng r;
    cr_assert_eq(param_rng(&r, seed, L->name, key), 0);
    cr_assert_eq(param_stream_init(s, &sp[k], &init, 0, &r), 0);
}

Test(edit, widen_draws_the_new_units_alone_from_the_layer_stream)
{
    model *m = te_load("mlp", true);
    te_apply(m, "mlp", "widen \"fc1\" by 3 { outgoing = normal(0, 0.5) }");
    /* fc1.W [6, 11]: columns 8..10 are the first 18 values of the stream fc1.W, row by row,
     * drawn with the fans of the whole widened W (xavier, the model's init, seed 11) */
    param_stream s;
    te_stream_values(model_find_layer(m, "fc1"), "W", 11, (init_spec){INIT_XAVIER, 0, 0}, &s);
    const tensor *w = te_param(m, "fc1", "W");
    for (int64_t r = 0; r < 6; r++) {
        float v[3];
        param_stream_fill(&s, v, r * 11 + 8, 3);
        for (int j = 0; j < 3; j++)
            cr_assert_eq(te_at(w, r, 8 + j), v[j], "fc1.W[%d, %d]", (int)r, 8 + j);
    }
    /* fc2.W [11, 5]: rows 8..10 from the stream fc2.W with outgoing's normal(0, 0.5) */
    te_stream_values(model_find_layer(m, "fc2"), "W", 11, (init_spec){INIT_NORMAL, 0, 0.5}, &s);
    const tensor *v = te_param(m, "fc2", "W");
    for (int64_t r = 8; r < 11; r++) {
        float row[5];
        param_stream_fill(&s, row, r * 5, 5);
        for (int c = 0; c < 5; c++)
            cr_assert_eq(te_at(v, r, c), row[c], "fc2.W[%d, %d]", (int)r, c);
    }
    model_free(m);
}

Test(edit, widen_lstm_outgoing_init_draws_recurrent_rows_after_the_incoming_values)
{
    model *a = te_load("lstm", true), *b = te_load("lstm", true);
    const char *script = "widen \"lstm1\" by 2 { outgoing = uniform(0.5, 1.0) }";
    te_apply(a, "lstm", script);
    te_apply(b, "lstm", script);
    te_same_layer(a, b, "lstm1");
    te_same_layer(a, b, "lstm2");
    /* RW [8, 32]: the new rows (what units 6 and 7 send to the gates) come from outgoing;
     * the old rows' new columns from the layer's init (xavier: small, of both signs) */
    const tensor *rw = te_param(a, "lstm1", "RW");
    for (int r = 6; r < 8; r++)
        for (int c = 0; c < 32; c++)
            cr_assert(te_at(rw, r, c) >= 0.5f && te_at(rw, r, c) < 1.0f, "RW[%d, %d]", r, c);
    bool negative = false;
    for (int r = 0; r < 6; r++)
        for (int g = 0; g < 4; g++)
            negative = negative || te_at(rw, r, g * 8 + 6) < 0 || te_at(rw, r, g * 8 + 7) < 0;
    cr_assert(negative, "the old rows' new columns come from the layer's init");
    model_free(a);
    model_free(b);
}

/* A model (its YAML text, with an init seed) initialised, saved as DIR/saved.yaml in a new
 * temporary folder written to dir, and loaded back: its weights borrow the mapping. *owned
 * receives the model it was saved from. */
static model *te_saved_model(char *dir, size_t n, const char *yaml_text, model **owned)
{
    snprintf(dir, n, "/tmp/surgery-test-edit-map-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/init.yaml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(yaml_text, f);
    fclose(f);
    model *m0 = model_load(path, true, NULL);
    cr_assert_not_null(m0);
    snprintf(path, sizeof path, "%s/saved.yaml", dir);
    cr_assert_eq(model_save(m0, path, NULL), 0);
    model *m = model_load(path, true, NULL);
    cr_assert_not_null(m);
    cr_assert_not_null(m->mapping);
    cr_assert(m->layers[0]->params[0].borrowed, "fc1.W borrows the mapping");
    *owned = m0;
    return m;
}

/* A model of a few MB saved beside `dir` and loaded back: its weights borrow the mapping. */
static model *te_mapped_model(char *dir, size_t n, model **owned)
{
    return te_saved_model(dir, n,
                          "format: surgery-model/1\nname: mapped\ninputs:\n  - {name: in, type: "
                          "feed_forward, size: 1100}\nlayers:\n  - {name: fc1, type: dense, "
                          "inputs: [in], n_out: 1024, activation: relu}\n  - {name: fc2, type: "
                          "dense, inputs: [fc1], n_out: 1100, activation: relu}\n  - {name: out, "
                          "type: output, inputs: [fc2], n_out: 3, activation: softmax, loss: "
                          "mcxent}\noutputs: [out]\ninit: {seed: 3}\n",
                          owned);
}

static void te_rm_dir(const char *dir)
{
    const char *const files[] = {"init.yaml", "saved.yaml", "saved.safetensors", "edited.yaml",
                                 "edited.safetensors", "settled.yaml", "settled.safetensors"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* Applies script text to m, compiled against the base `yaml` (not a fixture); pending: widened
 * parameters may stay described (edit_apply_pending), as `run` leaves them for a save. */
static void te_apply_at_mode(model *m, const char *yaml, const char *text, bool pending)
{
    char path[512];
    snprintf(path, sizeof path, "%s.surgery", yaml);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "base \"%s\"\n%s\n", yaml, text);
    fclose(f);
    diag_ctx *d = diag_new(stderr, DIAG_COLOR_NEVER);
    ir_script *s = NULL;
    cr_assert_eq(frontend_compile(path, NULL, 0, d, &s), FE_OK);
    unlink(path);
    cr_assert_eq(pending ? edit_apply_pending(m, s, d) : edit_apply(m, s, d), 0);
    cr_assert_eq(model_infer_shapes(m, d), 0);
    diag_free(d);
    ir_script_free(s);
}

static void te_apply_at(model *m, const char *yaml, const char *text)
{
    te_apply_at_mode(m, yaml, text, false);
}

static bool te_files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    cr_assert(fa && fb, "cannot open %s or %s", a, b);
    bool same = true;
    int ca, cb;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        same = ca == cb;
    } while (same && ca != EOF);
    fclose(fa);
    fclose(fb);
    return same;
}

/* Saves a as DIR/edited.yaml and b as DIR/settled.yaml; asserts the weights files are equal
 * byte for byte (te_rm_dir removes them). */
static void te_saves_equal(const char *dir, const model *a, const model *b, const char *what)
{
    char pa[512], pb[512], wa[512], wb[512];
    snprintf(pa, sizeof pa, "%s/edited.yaml", dir);
    snprintf(pb, sizeof pb, "%s/settled.yaml", dir);
    snprintf(wa, sizeof wa, "%s/edited.safetensors", dir);
    snprintf(wb, sizeof wb, "%s/settled.safetensors", dir);
    cr_assert_eq(model_save(a, pa, NULL), 0);
    cr_assert_eq(model_save(b, pb, NULL), 0);
    cr_assert(te_files_equal(wa, wb), "%s: weights files differ", what);
}

static int te_pending_count(const model *m)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < LAYER_MAX_PARAMS; k++)
            n += m->layers[i]->params[k].parts != NULL;
    return n;
}

Test(edit, pending_widen_saves_the_same_files_as_an_assembled_one)
{
    /* widened tensors described (kept rows from the mapping, new values beside them) and
     * streamed into the file must give the bytes of the same edit done in memory */
    const struct {
        const char *script;
        int pending;    /* parameters left described */
    } cases[] = {
        {"widen \"fc1\" by 5", 2},                                   /* fc1.W, fc2.W */
        {"widen \"fc1\" by 5 { outgoing = uniform(-0.1, 0.1) }", 2},
        {"widen \"fc1\" to 1030\nwiden \"fc2\" by 2", 3},  /* fc2.W settled, re-described */
        {"widen \"out\" by 2", 1},
        {"widen \"fc1\" by 4 { method = net2net }", 0},             /* built in memory */
        {"widen \"fc1\" by 3\nnarrow \"fc2\" to 1000", 0},  /* narrow assembles them first */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char dir[64], yaml[128];
        model *orig;
        model *a = te_mapped_model(dir, sizeof dir, &orig);
        snprintf(yaml, sizeof yaml, "%s/saved.yaml", dir);
        model *b = model_load(yaml, true, NULL);
        cr_assert_not_null(b);
        te_apply_at_mode(a, yaml, cases[k].script, true);
        te_apply_at_mode(b, yaml, cases[k].script, false);
        cr_assert_eq(te_pending_count(a), cases[k].pending, "%s", cases[k].script);
        cr_assert_eq(te_pending_count(b), 0);
        te_saves_equal(dir, a, b, cases[k].script);
        /* the pending model, assembled afterwards, holds the same values */
        cr_assert_eq(model_settle(a), 0);
        cr_assert_eq(te_pending_count(a), 0);
        const char *const names[] = {"fc1", "fc2", "out"};
        for (int i = 0; i < 3; i++)
            te_same_layer(a, b, names[i]);
        model_free(a);
        model_free(b);
        model_free(orig);
        te_rm_dir(dir);
    }
}

Test(edit, large_saves_stream_pending_and_mapped_tensors_like_small_ones)
{
    /* a model past the size from which saving uses direct I/O (64 MB): its save, a pending
     * widen of it and the same widen assembled give the files small saves give */
    char dir[64], yaml[512], pa[512];
    model *m0;
    model *a = te_saved_model(dir, sizeof dir,
                              "format: surgery-model/1\nname: large\ninputs:\n  - {name: in, "
                              "type: feed_forward, size: 4300}\nlayers:\n  - {name: fc1, type: "
                              "dense, inputs: [in], n_out: 4096, activation: relu}\n  - {name: "
                              "out, type: output, inputs: [fc1], n_out: 7, activation: softmax, "
                              "loss: mcxent}\noutputs: [out]\ninit: {seed: 5}\n",
                              &m0);
    snprintf(yaml, sizeof yaml, "%s/saved.yaml", dir);
    model *b = model_load(yaml, true, NULL);
    cr_assert_not_null(b);
    te_same_layer(a, m0, "fc1");
    te_same_layer(a, m0, "out");
    const char *text = "widen \"fc1\" by 9 { outgoing = uniform(-0.2, 0.2) }";
    te_apply_at_mode(a, yaml, text, true);
    te_apply_at_mode(b, yaml, text, false);
    cr_assert_eq(te_pending_count(a), 2);
    te_saves_equal(dir, a, b, text);
    /* the same save, atomic only (page cache, no direct I/O, no fsync), over the durable one */
    char pb[512], wa[512], wb[512];
    snprintf(pb, sizeof pb, "%s/settled.yaml", dir);
    snprintf(wa, sizeof wa, "%s/edited.safetensors", dir);
    snprintf(wb, sizeof wb, "%s/settled.safetensors", dir);
    cr_assert_eq(model_save_mode(a, pb, SAVE_ATOMIC, NULL), 0);
    cr_assert(te_files_equal(wa, wb), "an atomic save writes the durable save's bytes");
    snprintf(pa, sizeof pa, "%s/edited.yaml", dir);
    model *c = model_load(pa, true, NULL);
    cr_assert_not_null(c);
    te_same_layer(c, b, "fc1");
    te_same_layer(c, b, "out");
    model_free(c);
    model_free(a);
    model_free(b);
    model_free(m0);
    te_rm_dir(dir);
}

Test(edit, pending_widen_of_an_lstm_saves_the_same_values)
{
    model *a = te_load("lstm", true), *b = te_load("lstm", true);
    const char *text = "widen \"lstm1\" by 3 { outgoing = normal(0, 0.1) }\nwiden \"lstm2\" to 7";
    char yaml[512], cwd[256];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(yaml, sizeof yaml, "%s/tests/data/edit/lstm.yaml", cwd);
    te_apply_at_mode(a, yaml, text, true);
    te_apply_at_mode(b, yaml, text, false);
    cr_assert_gt(te_pending_count(a), 0, "owned weights are described too");
    char dir[] = "/tmp/surgery-test-edit-lstm-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    te_saves_equal(dir, a, b, text);
    te_rm_dir(dir);
    model_free(a);
    model_free(b);
}

Test(edit, edits_on_mapped_weights_match_owned_ones_and_keep_the_file_data)
{
    const char *const scripts[] = {
        "widen \"fc1\" by 5 { outgoing = uniform(-0.1, 0.1) }",
        "narrow \"fc1\" to 1000",
        "widen \"fc2\" by 3 { method = net2net }",
    };
    for (size_t k = 0; k < sizeof scripts / sizeof *scripts; k++) {
        char dir[64], yaml[128];
        model *orig;
        model *a = te_mapped_model(dir, sizeof dir, &orig);
        model *b = model_clone(a, true);
        cr_assert_not(b->layers[0]->params[0].borrowed);
        snprintf(yaml, sizeof yaml, "%s/saved.yaml", dir);
        /* a's replaced tensors leave memory page by page; the result is the same */
        te_apply_at(a, yaml, scripts[k]);
        te_apply_at(b, yaml, scripts[k]);
        const char *const names[] = {"fc1", "fc2", "out"};
        for (int i = 0; i < 3; i++)
            te_same_layer(a, b, names[i]);
        /* the mapping still reads the file: the layers the edit left alone are the original */
        if (k < 2)
            te_same_layer(a, orig, "out");
        /* saving streams borrowed tensors and drops their pages; they stay readable */
        char out[128];
        snprintf(out, sizeof out, "%s/edited.yaml", dir);
        cr_assert_eq(model_save(a, out, NULL), 0);
        for (int i = 0; i < 3; i++)
            te_same_layer(a, b, names[i]);
        model *c = model_load(out, true, NULL);
        cr_assert_not_null(c);
        for (int i = 0; i < 3; i++)
            te_same_layer(c, b, names[i]);
        model_free(c);
        model_free(a);
        model_free(b);
        model_free(orig);
        te_rm_dir(dir);
    }
}

Test(edit, dropping_mapped_pages_keeps_data_and_ignores_owned_memory)
{
    char dir[64];
    model *orig;
    model *m = te_mapped_model(dir, sizeof dir, &orig);
    const tensor *w = te_param(m, "fc1", "W"), *b = te_param(m, "fc1", "b");
    /* an unaligned piece in the middle, then the whole tensor: data unchanged, and so is the
     * neighbour's (fc1.b shares a page with fc1.W's end) */
    model_drop_mapped(m, w->data, w->data + w->size, w->data + 1001, w->data + 300001);
    model_drop_mapped(m, w->data, w->data + w->size, w->data, w->data + w->size);
    te_same_layer(m, orig, "fc1");
    cr_assert(b->borrowed);
    /* owned memory is never touched: only ranges inside the mapping are dropped */
    const tensor *o = te_param(orig, "fc2", "W");
    tensor copy = {0};
    cr_assert_eq(tensor_copy(&copy, o), 0);
    model_drop_mapped(m, o->data, o->data + o->size, o->data, o->data + o->size);
    model_drop_mapped(orig, o->data, o->data + o->size, o->data, o->data + o->size);
    cr_assert_eq(memcmp(copy.data, o->data, (size_t)o->size * sizeof(float)), 0);
    tensor_release(&copy);
    model_free(m);
    model_free(orig);
    te_rm_dir(dir);
}
