/* test_onnx_write.c: the ONNX writer: every layer type and activation written and read back
 * (tests/data/onnx_write, tests/data/edit) with identical architecture, tensors, settings and
 * predictions; opsets, external data, refused saves, and the operator mapping of an export
 * whose graph changed after it was written. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.pb-c.h"
#include "runtime/base/rng.h"
#include "runtime/formats/format.h"
#include "runtime/formats/onnx/onnx.h"
#include "runtime/graph/arch_hash.h"
#include "runtime/graph/model.h"
#include "tests/unit/test_support.h"

static const char *const fixtures[] = {
    "tests/data/onnx_write/acts.yaml",  "tests/data/onnx_write/cnn_a.yaml",
    "tests/data/onnx_write/cnn_b.yaml", "tests/data/onnx_write/embed_rnn.yaml",
    "tests/data/onnx_write/norm_mlp.yaml", "tests/data/onnx_write/rnn.yaml",
    "tests/data/onnx_write/norm_cnn.yaml", "tests/data/onnx_write/bidir.yaml",
    "tests/data/edit/conv.yaml",        "tests/data/edit/graves.yaml",
    "tests/data/edit/lstm.yaml",        "tests/data/edit/merge.yaml",
    "tests/data/edit/resid.yaml",       "tests/data/edit/tanh.yaml",
    NULL};

/* Random inputs for every model input: indices below 7 for a size-1 (embedding) input. */
static void make_inputs(const model *m, tensor *x)
{
    rng r;
    rng_seed(&r, 11);
    for (int k = 0; k < m->n_inputs; k++) {
        const model_input *in = &m->inputs[k];
        int64_t shape[4];
        int nd;
        if (in->kind == INPUT_CONVOLUTIONAL) {
            int64_t s[4] = {2, in->c, in->h, in->w};
            memcpy(shape, s, sizeof s);
            nd = 4;
        } else if (in->kind == INPUT_RECURRENT) {
            int64_t s[3] = {4, 2, in->size};
            memcpy(shape, s, sizeof s);
            nd = 3;
        } else {
            int64_t s[2] = {3, in->size};
            memcpy(shape, s, sizeof s);
            nd = 2;
        }
        cr_assert_eq(tensor_alloc(&x[k], nd, shape), 0);
        for (int64_t q = 0; q < x[k].size; q++)
            x[k].data[q] = in->size == 1 ? (float)rng_below(&r, 7)
                                         : (float)rng_uniform(&r) * 4.0f - 2.0f;
    }
}

static void expect_same_predictions(model *a, model *b, const char *what)
{
    tensor x[4] = {{0}}, ya[8] = {{0}}, yb[8] = {{0}};
    make_inputs(a, x);
    const tensor *in[4] = {&x[0], &x[1], &x[2], &x[3]};
    char err[256];
    cr_assert_eq(model_predict(a, in, ya, err, sizeof err), 0, "%s: %s", what, err);
    cr_assert_eq(model_predict(b, in, yb, err, sizeof err), 0, "%s: %s", what, err);
    for (int j = 0; j < a->n_outputs; j++) {
        cr_assert_eq(ya[j].size, yb[j].size, "%s", what);
        cr_expect_eq(memcmp(ya[j].data, yb[j].data, (size_t)ya[j].size * sizeof(float)), 0,
                     "%s: output %s differs (max %g)", what, a->outputs[j],
                     tensor_max_abs_diff(&ya[j], &yb[j]));
        tensor_release(&ya[j]);
        tensor_release(&yb[j]);
    }
    for (int k = 0; k < a->n_inputs; k++)
        tensor_release(&x[k]);
}

static char *settings_text(const train_conf *tc)
{
    conf_arg *opts = NULL;
    int n = train_conf_to_options(tc, ~0u, &opts);
    size_t cap = 4096, at = 0;
    char *s = calloc(cap, 1);
    for (int i = 0; i < n; i++) {
        char *v = conf_value_to_text(opts[i].value);
        at += (size_t)snprintf(s + at, cap - at, "%s=%s;", opts[i].name, v);
        free(v);
    }
    conf_args_free(opts, n);
    return s;
}

/* Everything surgery -> ONNX -> surgery must keep. */
static void expect_same_model(model *a, model *b, const char *what)
{
    char ha[17], hb[17];
    model_arch_hash_hex(a, ha);
    model_arch_hash_hex(b, hb);
    cr_expect_str_eq(ha, hb, "%s: architecture hash", what);
    cr_assert_eq(a->n_layers, b->n_layers, "%s", what);
    cr_expect_str_eq(a->name, b->name, "%s", what);
    cr_expect_eq(a->seed, b->seed, "%s", what);
    cr_expect_eq(a->norm.kind, b->norm.kind, "%s", what);
    cr_expect_eq(a->norm.n, b->norm.n, "%s", what);
    if (a->norm.n == b->norm.n && a->norm.n) {
        cr_expect_eq(memcmp(a->norm.shift, b->norm.shift, (size_t)a->norm.n * 4), 0);
        cr_expect_eq(memcmp(a->norm.scale, b->norm.scale, (size_t)a->norm.n * 4), 0);
    }
    char *ta = settings_text(&a->training), *tb = settings_text(&b->training);
    cr_expect_str_eq(ta, tb, "%s: model training settings", what);
    free(ta);
    free(tb);
    for (int i = 0; i < a->n_layers; i++) {
        const layer *La = a->layers[i], *Lb = b->layers[i];
        cr_expect_str_eq(La->name, Lb->name, "%s", what);
        cr_expect_eq(La->type, Lb->type, "%s: %s", what, La->name);
        cr_expect_eq(La->frozen, Lb->frozen, "%s: %s frozen", what, La->name);
        char *sa = settings_text(&La->train), *sb = settings_text(&Lb->train);
        cr_expect_str_eq(sa, sb, "%s: %s training settings", what, La->name);
        free(sa);
        free(sb);
        cr_assert_eq(La->n_params, Lb->n_params, "%s: %s", what, La->name);
        for (int p = 0; p < La->n_params; p++) {
            cr_assert(tensor_same_shape(&La->params[p], &Lb->params[p]), "%s: %s param %d",
                      what, La->name, p);
            cr_expect_eq(memcmp(La->params[p].data, Lb->params[p].data,
                                (size_t)La->params[p].size * sizeof(float)), 0,
                         "%s: %s param %d differs", what, La->name, p);
        }
    }
}

static model *roundtrip(const char *src, const char *dir, const onnx_write_opts *o, model **orig)
{
    diag_capture c;
    capture_open(&c);
    *orig = model_load(src, true, c.d);
    cr_assert(*orig, "%s: %s", src, capture_text(&c));
    char path[512];
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    cr_assert_eq(onnx_write_model(*orig, path, SAVE_ATOMIC, o, c.d), 0, "%s: %s", src,
                 capture_text(&c));
    model *back = model_load(path, true, c.d);
    cr_assert(back, "%s: %s", src, capture_text(&c));
    capture_close(&c);
    return back;
}

Test(onnx_write, every_fixture_round_trips_exactly)
{
    char dir[256];
    test_make_dir(dir, sizeof dir, "onnxw");
    for (int k = 0; fixtures[k]; k++) {
        model *orig, *back = roundtrip(fixtures[k], dir, NULL, &orig);
        expect_same_model(orig, back, fixtures[k]);
        expect_same_predictions(orig, back, fixtures[k]);
        model_free(orig);
        model_free(back);
    }
    test_remove_dir(dir);
}

Test(onnx_write, the_fixtures_hold_every_layer_type_and_activation)
{
    bool type_seen[64] = {false}, act_seen[ACT_COUNT] = {false};
    for (int k = 0; fixtures[k]; k++) {
        model *m = model_load(fixtures[k], false, NULL);
        cr_assert(m, "%s", fixtures[k]);
        for (int i = 0; i < m->n_layers; i++) {
            for (int t = 0; t < layer_type_count; t++)
                type_seen[t] |= layer_types[t] == m->layers[i]->type;
            if (m->layers[i]->type->flags & LT_HAS_ACTIVATION ||
                m->layers[i]->type == &layer_type_activation)
                act_seen[m->layers[i]->activation] = true;
        }
        model_free(m);
    }
    for (int t = 0; t < layer_type_count; t++)
        cr_expect(type_seen[t], "no fixture holds a %s layer", layer_types[t]->name);
    for (int a = 0; a < ACT_COUNT; a++)
        cr_expect(act_seen[a], "no fixture uses activation %s", activation_names[a]);
}

Test(onnx_write, opset_13_with_external_data)
{
    char dir[256], data[300];
    test_make_dir(dir, sizeof dir, "onnxw");
    onnx_write_opts o = {.opset = 13, .external_data = true};
    model *orig, *back = roundtrip("tests/data/edit/conv.yaml", dir, &o, &orig);
    snprintf(data, sizeof data, "%s/m.onnx.data", dir);
    struct stat st;
    cr_expect_eq(stat(data, &st), 0, "no external data file");
    expect_same_model(orig, back, "conv, opset 13, external data");
    expect_same_predictions(orig, back, "conv, opset 13, external data");
    size_t len;
    char *bytes = test_read_file(data, &len);
    Onnx__ModelProto *mp = NULL;
    char path[300];
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    char *file = test_read_file(path, &len);
    mp = onnx__model_proto__unpack(NULL, len, (const uint8_t *)file);
    cr_assert(mp);
    cr_expect_eq(mp->opset_import[0]->version, 13);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(file);
    free(bytes);
    model_free(orig);
    model_free(back);
    test_remove_dir(dir);
}

Test(onnx_write, refused_saves_name_the_file_and_leave_nothing)
{
    char dir[256], path[300];
    test_make_dir(dir, sizeof dir, "onnxw");
    model *m = model_load("tests/data/edit/mlp.yaml", true, NULL);
    cr_assert(m);
    diag_capture c;
    capture_open(&c);
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    onnx_write_opts o = {.opset = 12};
    cr_expect_eq(onnx_write_model(m, path, SAVE_ATOMIC, &o, c.d), -1);
    cr_expect(strstr(capture_text(&c), "m.onnx") && strstr(capture_text(&c), "opset 12"), "%s",
              capture_text(&c));
    struct stat st;
    cr_expect_neq(stat(path, &st), 0, "a refused save left a file");
    snprintf(path, sizeof path, "%s/missing/m.onnx", dir);
    cr_expect_eq(model_save_mode(m, path, SAVE_ATOMIC, c.d), -1);
    cr_expect(strstr(capture_text(&c), "missing/m.onnx"), "%s", capture_text(&c));
    /* an LSTM cell activation that ONNX's LSTM has no name for */
    model *l = model_load("tests/data/edit/lstm.yaml", true, NULL);
    cr_assert(l);
    l->layers[0]->activation = ACT_GELU;
    snprintf(path, sizeof path, "%s/l.onnx", dir);
    cr_expect_eq(model_save_mode(l, path, SAVE_ATOMIC, c.d), -1);
    cr_expect(strstr(capture_text(&c), "'lstm1'") && strstr(capture_text(&c), "gelu"), "%s",
              capture_text(&c));
    cr_expect_neq(stat(path, &st), 0, "a refused save left a file");
    capture_close(&c);
    model_free(l);
    model_free(m);
    test_remove_dir(dir);
}

/* Flips a digit of the graph digest surgery stored in the ONNX file at path, as if another
 * tool had changed its graph: the reader then maps its operators. lstm_direction (not NULL):
 * also the direction of every bidirectional LSTM, no longer than "bidirectional". */
static void change_digest(const char *path, const char *lstm_direction)
{
    size_t len;
    char *file = test_read_file(path, &len);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, (const uint8_t *)file);
    cr_assert(mp);
    free(file);
    bool changed = false;
    for (size_t k = 0; k < mp->n_metadata_props; k++)
        if (!strcmp(mp->metadata_props[k]->key, "surgery.graph_digest")) {
            mp->metadata_props[k]->value[0] = mp->metadata_props[k]->value[0] == '0' ? '1' : '0';
            changed = true;
        }
    cr_assert(changed);
    for (size_t k = 0; lstm_direction && k < mp->graph->n_node; k++)
        for (size_t a = 0; a < mp->graph->node[k]->n_attribute; a++) {
            Onnx__AttributeProto *at = mp->graph->node[k]->attribute[a];
            if (!strcmp(at->name, "direction") && strlen(lstm_direction) <= at->s.len) {
                memcpy(at->s.data, lstm_direction, strlen(lstm_direction));
                at->s.len = strlen(lstm_direction);
            }
        }
    len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(mp, buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    FILE *fp = fopen(path, "wb");
    cr_assert(fp);
    fwrite(buf, 1, len, fp);
    fclose(fp);
    free(buf);
}

/* The first outputs of a and b on x within 1e-6; releases x. */
static void expect_close_predictions(model *a, model *b, tensor *x)
{
    tensor ya = {0}, yb = {0};
    const tensor *in[1] = {x};
    char err[256];
    cr_assert_eq(model_predict(a, in, &ya, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_predict(b, in, &yb, err, sizeof err), 0, "%s", err);
    cr_expect_leq(tensor_max_abs_diff(&ya, &yb), 1e-6, "max diff %g",
                  tensor_max_abs_diff(&ya, &yb));
    tensor_release(x);
    tensor_release(&ya);
    tensor_release(&yb);
}

/* m saved to path as ONNX, its digest changed, read back by its operators. */
static model *reload_changed(model *m, const char *path)
{
    cr_assert_eq(model_save_mode(m, path, SAVE_ATOMIC, NULL), 0);
    change_digest(path, NULL);
    diag_capture c;
    capture_open(&c);
    model *back = model_load(path, true, c.d);
    cr_assert(back, "%s", capture_text(&c));
    capture_close(&c);
    return back;
}

/* A graph changed by another tool after surgery wrote it (here only its digest) is read by
 * mapping its operators; the names, the frozen set and the training settings still apply. */
Test(onnx_write, a_changed_graph_is_mapped_by_its_operators)
{
    char dir[256], path[300];
    test_make_dir(dir, sizeof dir, "onnxw");
    model *orig = model_load("tests/data/onnx_write/norm_mlp.yaml", true, NULL);
    cr_assert(orig);
    orig->norm.kind = NORM_NONE;   /* the mapping reads no normaliser */
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    model *back = reload_changed(orig, path);
    cr_assert_eq(back->n_layers, 3);
    cr_expect_str_eq(back->layers[0]->name, "fc1");
    cr_expect(back->layers[0]->frozen);
    cr_expect_eq(back->layers[2]->type, &layer_type_output);
    char *a = settings_text(&orig->layers[0]->train), *b = settings_text(&back->layers[0]->train);
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
    tensor x = {0};
    cr_assert_eq(tensor_alloc2(&x, 2, 3), 0);
    for (int q = 0; q < 6; q++)
        x.data[q] = (float)q * 0.25f - 0.5f;
    expect_close_predictions(orig, back, &x);
    model_free(orig);
    model_free(back);
    test_remove_dir(dir);
}

/* The writer's patterns of each bidirectional mode (Transpose and Reshape; Gather of each
 * direction, Add, Mul, Mul by 0.5, Squeeze) and Softsign read back by the operator mapping. */
Test(onnx_write, bidirectional_modes_are_mapped_by_their_operators)
{
    char dir[256], path[300];
    test_make_dir(dir, sizeof dir, "onnxw");
    model *orig = model_load("tests/data/onnx_write/bidir_chain.yaml", true, NULL);
    cr_assert(orig);
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    model *back = reload_changed(orig, path);
    static const char *const modes[] = {"bcat", "concat", "badd", "add", "bmul", "mul",
                                        "bavg", "average"};
    for (int k = 0; k < 4; k++) {
        const layer *L = model_find_layer(back, modes[2 * k]);
        cr_assert(L, "%s", modes[2 * k]);
        cr_expect_eq(L->type, &layer_type_bidirectional);
        cr_expect_eq(L->out_shape.size, k == 0 ? 8 : 3, "%s", modes[2 * k]);
        const layer *O = model_find_layer(orig, modes[2 * k]);
        cr_expect(tensor_same_shape(&L->params[0], &O->params[0]), "%s", modes[2 * k]);
        cr_expect_eq(L->n_params, O->n_params, "%s: %s", modes[2 * k], modes[2 * k + 1]);
    }
    tensor x = {0};
    cr_assert_eq(tensor_alloc3(&x, 4, 2, 3), 0);
    for (int q = 0; q < 24; q++)
        x.data[q] = (float)(q % 7) * 0.3f - 0.9f;
    expect_close_predictions(orig, back, &x);
    model_free(orig);
    model_free(back);
    test_remove_dir(dir);
}

/* A bidirectional LSTM relabelled reverse (weights of two directions for one) is refused with
 * the node named and the reason. */
Test(onnx_write, a_direction_the_weights_disagree_with_is_refused)
{
    char dir[256], path[300];
    test_make_dir(dir, sizeof dir, "onnxw");
    model *orig = model_load("tests/data/onnx_write/bidir_chain.yaml", true, NULL);
    cr_assert(orig);
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    cr_assert_eq(model_save_mode(orig, path, SAVE_ATOMIC, NULL), 0);
    change_digest(path, "reverse");
    diag_capture c;
    capture_open(&c);
    cr_expect_null(model_load(path, true, c.d));
    cr_expect(strstr(capture_text(&c), "/bcat/LSTM") &&
                  strstr(capture_text(&c), "W, R, B or P disagree with hidden_size 4"),
              "%s", capture_text(&c));
    capture_close(&c);
    model_free(orig);
    test_remove_dir(dir);
}
