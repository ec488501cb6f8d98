/* test_dl4j_write.c: the DL4J writer: DL4J's char model read and written again gives the same
 * coefficients.bin byte for byte and the same JSON keys for every layer; read(write(m)) gives
 * identical tensors and architecture for every layer type it writes (frozen set, settings,
 * preprocessors between recurrent and feed-forward layers); what DL4J cannot hold is refused
 * naming the layer, leaving no file. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/formats/dl4j/dl4j_zip.h"
#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "runtime/nn/layer_options.h"
#include "tests/unit/formats/dl4j_build.h"
#include "tests/unit/test_support.h"

#define DL4J "tests/data/dl4j/"
#define CHAR DL4J "GravesLSTMCharModelingExample_100b4.bin"
#define CNN DL4J "SyntheticCNN_100b4.bin"

static void save_ok(const model *m, const char *path)
{
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(model_save_mode(m, path, SAVE_ATOMIC, c.d), 0, "%s", capture_text(&c));
    capture_close(&c);
}

/* The bytes of one entry of a zip. */
static unsigned char *entry_of(const char *path, const char *name, size_t *len)
{
    char err[256];
    dl4j_zip *z = dl4j_zip_open(path, err, sizeof err);
    cr_assert(z, "%s", err);
    unsigned char *data = NULL;
    cr_assert_eq(dl4j_zip_read(z, name, &data, len, err, sizeof err), 0, "%s: %s", name, err);
    dl4j_zip_close(z);
    return data;
}

static json_t *conf_of(const char *path)
{
    size_t len;
    unsigned char *text = entry_of(path, "configuration.json", &len);
    json_error_t je;
    json_t *root = json_loadb((const char *)text, len, 0, &je);
    cr_assert(root, "%s: %s", path, je.text);
    free(text);
    return root;
}

/* Every key path under v ("/layer/iupdater/beta1"), sorted, joined by newlines, into sb. */
static void key_paths(json_t *v, const char *at, char **out, size_t *len)
{
    if (!json_is_object(v))
        return;
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", at, key);
        size_t k = strlen(path);
        *out = realloc(*out, *len + k + 2);
        memcpy(*out + *len, path, k);
        (*out)[*len + k] = '\n';
        *len += k + 1;
        (*out)[*len] = '\0';
        key_paths(x, path, out, len);
    }
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted key paths of v as one string (the caller frees it). */
static char *sorted_keys(json_t *v)
{
    char *text = NULL;
    size_t len = 0;
    key_paths(v, "", &text, &len);
    if (!text)
        return calloc(1, 1);
    char *lines[512];
    int n = 0;
    for (char *s = strtok(text, "\n"); s && n < 512; s = strtok(NULL, "\n"))
        lines[n++] = s;
    qsort(lines, (size_t)n, sizeof *lines, cmp_lines);
    char *out = calloc(1, len + 2);
    for (int i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
    }
    free(text);
    return out;
}

static void same_tensors(const model *a, const model *b)
{
    cr_assert_eq(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        const layer *x = a->layers[i], *y = b->layers[i];
        cr_assert_eq(x->n_params, y->n_params, "%s", x->name);
        for (int p = 0; p < x->n_params; p++) {
            const tensor *s = &x->params[p], *t = &y->params[p];
            cr_assert_eq(s->ndim, t->ndim, "%s param %d", x->name, p);
            cr_assert_eq(s->size, t->size, "%s param %d", x->name, p);
            cr_assert(!memcmp(s->shape, t->shape, (size_t)s->ndim * sizeof(int64_t)));
            cr_assert(!memcmp(s->data, t->data, (size_t)s->size * sizeof(float)),
                      "%s param %d differs", x->name, p);
        }
    }
}

static void same_architecture(const model *a, const model *b)
{
    cr_assert_eq(a->n_layers, b->n_layers);
    cr_assert_eq(a->inputs[0].kind, b->inputs[0].kind);
    if (a->inputs[0].kind == INPUT_CONVOLUTIONAL) {
        cr_assert_eq(a->inputs[0].c, b->inputs[0].c);
        cr_assert_eq(a->inputs[0].h, b->inputs[0].h);
        cr_assert_eq(a->inputs[0].w, b->inputs[0].w);
    } else {
        cr_assert_eq(a->inputs[0].size, b->inputs[0].size);
    }
    for (int i = 0; i < a->n_layers; i++) {
        const layer *x = a->layers[i], *y = b->layers[i];
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->type, y->type, "%s: %s vs %s", x->name, x->type->name, y->type->name);
        cr_assert_eq(x->n_in, y->n_in, "%s", x->name);
        cr_assert_eq(x->n_out, y->n_out, "%s", x->name);
        cr_assert_eq(x->has_bias, y->has_bias, "%s", x->name);
        cr_assert_eq(x->frozen, y->frozen, "%s", x->name);
        if (x->type->flags & LT_HAS_ACTIVATION)
            cr_assert_eq(x->activation, y->activation, "%s", x->name);
        if (x->type->flags & LT_LOSS)
            cr_assert_eq(x->loss, y->loss, "%s", x->name);
    }
    cr_assert_str_eq(a->outputs[0], b->outputs[0]);
}

/* The DL4J file `from` read and written again as DIR/again.zip (its path into path): the same
 * coefficients.bin, byte for byte. Returns the model read from `from`. */
static model *written_again(const char *from, const char *dir, char *path, size_t path_len)
{
    snprintf(path, path_len, "%s/again.zip", dir);
    model *m = test_load_model(from);
    save_ok(m, path);
    size_t la, lb;
    unsigned char *a = entry_of(from, "coefficients.bin", &la);
    unsigned char *b = entry_of(path, "coefficients.bin", &lb);
    cr_assert_eq(la, lb);
    cr_assert(!memcmp(a, b, la), "coefficients.bin differs");
    free(a);
    free(b);
    return m;
}

Test(dl4j_write, char_model_written_again_bit_for_bit)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-char");
    model *m = written_again(CHAR, dir, path, sizeof path);
    /* the same JSON keys, at the top and for each layer */
    json_t *ja = conf_of(CHAR), *jb = conf_of(path);
    char *ka = sorted_keys(ja), *kb = sorted_keys(jb);
    cr_assert_str_eq(ka, kb);
    free(ka);
    free(kb);
    json_t *ca = json_object_get(ja, "confs"), *cb = json_object_get(jb, "confs");
    cr_assert_eq(json_array_size(ca), 3);
    cr_assert_eq(json_array_size(cb), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *la_ = json_object_get(json_array_get(ca, i), "layer");
        json_t *lb_ = json_object_get(json_array_get(cb, i), "layer");
        cr_assert_str_eq(json_string_value(json_object_get(la_, "@class")),
                         json_string_value(json_object_get(lb_, "@class")));
        cr_assert(json_equal(json_object_get(la_, "iupdater"), json_object_get(lb_, "iupdater")));
        cr_assert(json_equal(json_object_get(la_, "regularization"),
                             json_object_get(lb_, "regularization")));
        cr_assert(json_equal(json_object_get(json_array_get(ca, i), "variables"),
                             json_object_get(json_array_get(cb, i), "variables")));
    }
    cr_assert(json_equal(json_object_get(ja, "tbpttFwdLength"), json_object_get(jb, "tbpttFwdLength")));
    json_decref(ja);
    json_decref(jb);
    model *r = test_load_model(path);
    same_architecture(m, r);
    same_tensors(m, r);
    model_free(r);
    model_free(m);
    test_remove_dir(dir);
}

/* The outputs of m and r for the same images of c x h x w (m's input resized to them). */
static void same_predictions(model *m, model *r, const tensor *x)
{
    char err[512];
    for (int k = 0; k < 2; k++)
        cr_assert_eq(model_resize_input(k ? r : m, 0, x->shape[2], x->shape[3], err, sizeof err),
                     0, "%s", err);
    const tensor *in[1] = {x};
    tensor ya = {0}, yb = {0};
    cr_assert_eq(model_predict(m, in, &ya, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_predict(r, in, &yb, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ya.size, yb.size);
    cr_assert(!memcmp(ya.data, yb.data, (size_t)ya.size * sizeof *ya.data), "outputs differ");
    tensor_release(&ya);
    tensor_release(&yb);
}

/* DL4J's synthetic CNN (every convolutional layer type but batch normalisation, and a
 * CnnLossLayer) read and written again: the same coefficients.bin byte for byte, the same JSON
 * key paths at the top and in each layer, the same values of the window fields, and read back
 * the same tensors and outputs. */
Test(dl4j_write, synthetic_cnn_written_again_bit_for_bit)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-cnn");
    model *m = written_again(CNN, dir, path, sizeof path);
    json_t *ja = conf_of(CNN), *jb = conf_of(path);
    json_t *ca = json_object_get(ja, "confs"), *cb = json_object_get(jb, "confs");
    cr_assert_eq(json_array_size(ca), 10);
    cr_assert_eq(json_array_size(cb), 10);
    static const char *const same[] = {"@class", "kernelSize", "stride", "padding", "dilation",
                                       "convolutionMode", "depthMultiplier", "nin", "nout",
                                       "poolingType", "size", "cropping", "hasBias",
                                       "activationFn", "iupdater", "regularization"};
    for (size_t i = 0; i < 10; i++) {
        char *ka = sorted_keys(json_array_get(ca, i)), *kb = sorted_keys(json_array_get(cb, i));
        cr_assert_str_eq(ka, kb, "layer %zu", i);
        free(ka);
        free(kb);
        json_t *x = json_object_get(json_array_get(ca, i), "layer");
        json_t *y = json_object_get(json_array_get(cb, i), "layer");
        for (size_t k = 0; k < sizeof same / sizeof *same; k++) {
            json_t *u = json_object_get(x, same[k]), *w = json_object_get(y, same[k]);
            cr_assert((!u && !w) || (u && w && json_equal(u, w)), "layer %zu: %s", i, same[k]);
        }
        cr_assert(json_equal(json_object_get(json_array_get(ca, i), "variables"),
                             json_object_get(json_array_get(cb, i), "variables")), "layer %zu", i);
    }
    json_object_del(ja, "confs");
    json_object_del(jb, "confs");
    cr_assert(json_equal(ja, jb), "the top-level fields differ");
    json_decref(ja);
    json_decref(jb);
    model *r = test_load_model(path);
    same_architecture(m, r);
    same_tensors(m, r);
    nd4j_array in = nd4j_read_file(DL4J "SyntheticCNN_Input_100b4.bin");
    cr_assert_eq(in.rank, 4);
    tensor x = {0};
    int64_t shape[4] = {in.shape[0], in.shape[1], in.shape[2], in.shape[3]};
    cr_assert_eq(tensor_alloc(&x, 4, shape), 0);
    memcpy(x.data, in.data, (size_t)in.count * sizeof *in.data);
    same_predictions(m, r, &x);
    tensor_release(&x);
    nd4j_array_free(&in);
    model_free(r);
    model_free(m);
    test_remove_dir(dir);
}

Test(dl4j_write, linspace_model_keeps_every_parameter)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-mlp");
    snprintf(path, sizeof path, "%s/mlp.zip", dir);
    model *m = test_load_model(DL4J "080_ModelSerializer_Regression_MLP_2.zip");
    save_ok(m, path);
    model *r = test_load_model(path);
    same_architecture(m, r);
    same_tensors(m, r);
    cr_assert_float_eq(r->layers[0]->alpha, m->layers[0]->alpha, 1e-12);
    cr_assert_float_eq(r->layers[0]->train.dropout, m->layers[0]->train.dropout, 1e-12);
    model_free(r);
    model_free(m);
    test_remove_dir(dir);
}

#define HEAD "format: surgery-model/1\nname: t\n"

/* Writes yaml to DIR/m.yaml, loads it (parameters initialised from the seed), saves it as
 * DIR/m.zip and loads that: both models for the caller to compare. */
static void round_trip(const char *dir, const char *yaml, model **orig, model **back)
{
    char path[512];
    snprintf(path, sizeof path, "%s/m.yaml", dir);
    test_write_file(path, yaml);
    *orig = test_load_model(path);
    cr_assert_eq(model_init_params(*orig), 0);
    snprintf(path, sizeof path, "%s/m.zip", dir);
    save_ok(*orig, path);
    *back = test_load_model(path);
    same_architecture(*orig, *back);
    same_tensors(*orig, *back);
}

Test(dl4j_write, every_layer_type_round_trips)
{
    char dir[256];
    test_make_dir(dir, sizeof dir, "dl4jw-types");
    model *a, *b;
    round_trip(dir, HEAD "inputs:\n  - {name: in, type: feed_forward, size: 5}\nlayers:\n"
               "  - {name: fc, type: dense, inputs: [in], n_out: 7, activation: leakyrelu, alpha: 0.2,"
               " l2: 0.001, dropout: 0.25, updater: 'nesterovs(learning_rate = 0.05, momentum = 0.8)'}\n"
               "  - {name: nb, type: dense, inputs: [fc], n_out: 4, has_bias: false, l1: 0.01}\n"
               "  - {name: drop, type: dropout, inputs: [nb], dropout: 0.5}\n"
               "  - {name: act, type: activation, inputs: [drop], activation: elu}\n"
               "  - {name: out, type: output, inputs: [act], n_out: 3, activation: sigmoid, loss: xent}\n"
               "outputs: [out]\nfrozen: [fc]\ninit: {seed: 3, weight_init: relu}\n", &a, &b);
    layer *fc = b->layers[0];
    cr_assert_eq(fc->activation, ACT_LEAKYRELU);
    cr_assert_float_eq(fc->alpha, 0.2, 1e-12);
    cr_assert_float_eq(fc->train.l2, 0.001, 1e-12);
    cr_assert_float_eq(fc->train.dropout, 0.25, 1e-12);
    cr_assert_eq(fc->train.updater.kind, UPD_NESTEROVS);
    cr_assert_float_eq(fc->train.updater.learning_rate, 0.05, 1e-12);
    cr_assert_float_eq(fc->train.updater.momentum, 0.8, 1e-12);
    cr_assert_float_eq(b->layers[1]->train.l1, 0.01, 1e-12);
    cr_assert_float_eq(b->layers[2]->train.dropout, 0.5, 1e-12);
    cr_assert_eq(b->seed, 3);
    model_free(a);
    model_free(b);

    round_trip(dir, HEAD "inputs:\n  - {name: in, type: feed_forward, size: 1}\nlayers:\n"
               "  - {name: emb, type: embedding, inputs: [in], n_in: 20, n_out: 6, has_bias: true}\n"
               "  - {name: out, type: output, inputs: [emb], n_out: 4, activation: softmax, loss: mcxent,"
               " updater: 'adam(learning_rate = 0.002)'}\n"
               "outputs: [out]\n", &a, &b);
    cr_assert_eq(b->layers[1]->train.updater.kind, UPD_ADAM);
    cr_assert_float_eq(b->layers[1]->train.updater.learning_rate, 0.002, 1e-12);
    model_free(a);
    model_free(b);
    test_remove_dir(dir);
}

Test(dl4j_write, recurrent_and_feed_forward_layers_mixed)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-rnn");
    model *a, *b;
    round_trip(dir, HEAD "inputs:\n  - {name: in, type: recurrent, size: 6}\nlayers:\n"
               "  - {name: g, type: graves_lstm, inputs: [in], n_out: 5, forget_gate_bias: 2}\n"
               "  - {name: d, type: dense, inputs: [g], n_out: 4, activation: tanh}\n"
               "  - {name: l, type: lstm, inputs: [d], n_out: 3}\n"
               "  - {name: o, type: rnn_output, inputs: [l], n_out: 2, activation: softmax, loss: mcxent}\n"
               "outputs: [o]\nfrozen: [g, d]\n"
               "training: {backprop: 'tbptt(12, 6)'}\n", &a, &b);
    cr_assert_float_eq(b->layers[0]->forget_gate_bias, 2, 1e-12);
    int fwd = b->training.tbptt_forward, back = b->training.tbptt_backward;
    cr_assert_eq(fwd, 12);
    cr_assert_eq(back, 6);
    snprintf(path, sizeof path, "%s/m.zip", dir);
    json_t *j = conf_of(path);
    json_t *pre = json_object_get(j, "inputPreProcessors");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(pre, "1"), "@class")),
                     "org.deeplearning4j.nn.conf.preprocessor.RnnToFeedForwardPreProcessor");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(pre, "2"), "@class")),
                     "org.deeplearning4j.nn.conf.preprocessor.FeedForwardToRnnPreProcessor");
    json_t *frozen = json_object_get(json_array_get(json_object_get(j, "confs"), 0), "layer");
    cr_assert_str_eq(json_string_value(json_object_get(frozen, "@class")),
                     "org.deeplearning4j.nn.conf.layers.misc.FrozenLayer");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(frozen, "layer"), "@class")),
                     "org.deeplearning4j.nn.conf.layers.GravesLSTM");
    json_decref(j);
    /* the same outputs, through the implied reshapes */
    tensor x;
    cr_assert_eq(tensor_alloc3(&x, 4, 2, 6), 0);
    for (int64_t k = 0; k < x.size; k++)
        x.data[k] = (float)((k * 7) % 11) / 11.0f - 0.5f;
    const tensor *in[1] = {&x};
    tensor ya = {0}, yb = {0};
    char err[256];
    cr_assert_eq(model_predict(a, in, &ya, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_predict(b, in, &yb, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tensor_max_abs_diff(&ya, &yb), 0);
    tensor_release(&x);
    tensor_release(&ya);
    tensor_release(&yb);
    model_free(a);
    model_free(b);
    test_remove_dir(dir);
}

/* The same outputs of a and b, bit for bit, for 2 sequences of 5 steps of `features`. */
static void same_sequence_outputs(model *a, model *b, int64_t features)
{
    tensor x, ya = {0}, yb = {0};
    cr_assert_eq(tensor_alloc3(&x, 2, 5, features), 0);
    for (int64_t e = 0; e < x.size; e++)
        x.data[e] = (float)((e * 5) % 13) / 13.0f - 0.5f;
    const tensor *in[1] = {&x};
    char err[256];
    cr_assert_eq(model_predict(a, in, &ya, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_predict(b, in, &yb, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tensor_max_abs_diff(&ya, &yb), 0);
    tensor_release(&x);
    tensor_release(&ya);
    tensor_release(&yb);
}

static int64_t pooling_of(const layer *L)
{
    double v = -1;
    const layer_option *opt = layer_option_find(L->type, "pooling");
    cr_assert(opt);
    layer_option_get_values(opt, L, &v);
    return (int64_t)v;
}

Test(dl4j_write, global_pooling_round_trips)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-pool");
    static const char *const pools[] = {"max", "avg", "sum"};
    for (int k = 0; k < 3; k++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, HEAD "inputs:\n  - {name: in, type: recurrent, size: 3}\n"
                 "layers:\n  - {name: l, type: lstm, inputs: [in], n_out: 4}\n"
                 "  - {name: p, type: global_pooling, inputs: [l], pooling: %s}\n"
                 "  - {name: o, type: output, inputs: [p], n_out: 2, activation: softmax, loss: mcxent}\n"
                 "outputs: [o]\n", pools[k]);
        model *a, *b;
        round_trip(dir, yaml, &a, &b);
        cr_assert_eq(pooling_of(b->layers[1]), pooling_of(a->layers[1]), "%s", pools[k]);
        cr_assert_eq(b->layers[1]->in_shape.kind, SHAPE_RNN);
        cr_assert_eq(b->layers[1]->out_shape.kind, SHAPE_FF);
        snprintf(path, sizeof path, "%s/m.zip", dir);
        json_t *j = conf_of(path);
        json_t *p = json_object_get(json_array_get(json_object_get(j, "confs"), 1), "layer");
        cr_assert_str_eq(json_string_value(json_object_get(p, "@class")),
                         "org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer");
        cr_assert(json_is_true(json_object_get(p, "collapseDimensions")));
        cr_assert_eq(json_object_size(json_object_get(j, "inputPreProcessors")), 0,
                     "global pooling takes recurrent data and gives feed-forward data itself");
        json_decref(j);
        same_sequence_outputs(a, b, 3);
        model_free(a);
        model_free(b);
    }
    test_remove_dir(dir);
}

/* Every activation the writer writes, and the inits DL4J keeps as a constant or a
 * distribution, read back as they were. */
Test(dl4j_write, activations_and_inits_round_trip)
{
    char dir[256];
    test_make_dir(dir, sizeof dir, "dl4jw-acts");
    static const char *const acts[] = {"identity", "relu", "leakyrelu", "elu", "tanh", "sigmoid",
                                       "hardsigmoid", "softmax", "softplus", "gelu", "relu6",
                                       "hardtanh", "swish", "softsign"};
    static const char *const inits[] = {"zeros", "ones", "'uniform(-0.25, 0.5)'",
                                        "'normal(0.1, 0.02)'", "xavier", "lecun_normal"};
    for (int k = 0; k < (int)(sizeof acts / sizeof *acts); k++) {
        const char *init = inits[k % (int)(sizeof inits / sizeof *inits)];
        char yaml[1024];
        snprintf(yaml, sizeof yaml, HEAD "inputs:\n  - {name: in, type: feed_forward, size: 3}\n"
                 "layers:\n  - {name: d, type: dense, inputs: [in], n_out: 4, activation: %s,"
                 " weight_init: %s}\n"
                 "  - {name: a, type: activation, inputs: [d], activation: %s}\n"
                 "  - {name: o, type: output, inputs: [a], n_out: 2, activation: softmax, loss: mcxent}\n"
                 "outputs: [o]\n", acts[k], init, acts[k]);
        model *a, *b;
        round_trip(dir, yaml, &a, &b);
        const layer *x = a->layers[0], *y = b->layers[0];
        cr_assert_eq(y->activation, x->activation, "%s", acts[k]);
        cr_assert_eq(b->layers[1]->activation, a->layers[1]->activation, "%s", acts[k]);
        cr_assert(y->train.set_mask & TC_WEIGHT_INIT, "%s", init);
        cr_assert_eq(y->train.weight_init.kind, x->train.weight_init.kind, "%s", init);
        cr_assert_float_eq(y->train.weight_init.a, x->train.weight_init.a, 1e-12, "%s", init);
        cr_assert_float_eq(y->train.weight_init.b, x->train.weight_init.b, 1e-12, "%s", init);
        model_free(a);
        model_free(b);
    }
    test_remove_dir(dir);
}

/* Saving yaml's model as DIR/x.zip fails with `want` in the message and leaves no file. */
static void refused(const char *dir, const char *yaml, const char *want)
{
    char path[512];
    snprintf(path, sizeof path, "%s/r.yaml", dir);
    test_write_file(path, yaml);
    model *m = test_load_model(path);
    cr_assert_eq(model_init_params(m), 0);
    snprintf(path, sizeof path, "%s/x.zip", dir);
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(model_save_mode(m, path, SAVE_ATOMIC, c.d), -1);
    cr_assert(strstr(capture_text(&c), want), "%s", capture_text(&c));
    capture_close(&c);
    cr_assert_neq(access(path, F_OK), 0, "a refused save left %s", path);
    /* the writer's check, on the architecture alone, gives the same reason */
    char err[2048];
    const char *format = NULL;
    cr_assert_eq(model_save_check(m, path, &format, err, sizeof err), -1);
    cr_assert_str_eq(format, "dl4j");
    const char *reason = strstr(want, "cannot save as DL4J: ");
    reason = reason ? reason + strlen("cannot save as DL4J: ") : want;
    cr_assert(strstr(err, reason), "%s", err);
    model_free(m);
}

Test(dl4j_write, refuses_what_a_multilayer_network_cannot_hold)
{
    char dir[256];
    test_make_dir(dir, sizeof dir, "dl4jw-refuse");
    refused(dir, HEAD "inputs:\n  - {name: in, type: convolutional, channels: 1, height: 6, width: 6}\n"
            "layers:\n  - {name: c, type: conv2d, inputs: [in], n_out: 2, kernel: [3, 3],"
            " padding: [1, 0, 2, 0]}\n"
            "  - {name: o, type: output, inputs: [c], n_out: 2, activation: softmax, loss: mcxent}\n"
            "outputs: [o]\n", "layer 'c' (conv2d): padding [1, 0, 2, 0] (top, left, bottom, right): "
            "DL4J pads both sides alike");
    refused(dir, HEAD "inputs:\n  - {name: in, type: feed_forward, size: 3}\nlayers:\n"
            "  - {name: a, type: dense, inputs: [in], n_out: 2}\n"
            "  - {name: b, type: dense, inputs: [in], n_out: 2}\n"
            "  - {name: m, type: merge, inputs: [a, b]}\n"
            "  - {name: o, type: output, inputs: [m], n_out: 2, activation: softmax, loss: mcxent}\n"
            "outputs: [o]\n", "'in' feeds both 'a' and 'b': a DL4J MultiLayerNetwork is a chain");
    refused(dir, HEAD "inputs:\n  - {name: in, type: feed_forward, size: 3}\nlayers:\n"
            "  - {name: a, type: dense, inputs: [in], n_out: 2, updater: adamw}\n"
            "  - {name: o, type: output, inputs: [a], n_out: 2, activation: softmax, loss: mcxent}\n"
            "outputs: [o]\n", "layer 'a' (dense): updater adamw, which DL4J 1.0 does not have");
    refused(dir, HEAD "inputs:\n  - {name: in, type: feed_forward, size: 3}\nlayers:\n"
            "  - {name: a, type: dense, inputs: [in], n_out: 2, activation: 'clip(-1, 2)'}\n"
            "  - {name: o, type: output, inputs: [a], n_out: 2, activation: softmax, loss: mcxent}\n"
            "outputs: [o]\n", "layer 'a' (dense): activation clip, which DL4J 1.0 does not have");
    test_remove_dir(dir);
}

/* The options named in opts that x's type has: the same values in y. */
static void same_options(const layer *x, const layer *y, const char *const *opts, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const layer_option *o = layer_option_find(x->type, opts[k]);
        if (!o)
            continue;
        double u[8] = {0}, w[8] = {0};
        layer_option_get_values(o, x, u);
        layer_option_get_values(o, y, w);
        cr_assert(!memcmp(u, w, sizeof u), "%s.%s", x->name, opts[k]);
    }
}

/* A surgery CNN as DL4J: convolutions (bias first, kernels in DL4J's layouts), pooling,
 * padding, cropping, upsampling, the CnnToFeedForward preprocessor before a dense layer (which
 * gives the image size back), and global pooling of images. */
Test(dl4j_write, convolutional_layers_round_trip)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-conv");
    model *a, *b;
    round_trip(dir, HEAD "inputs:\n  - {name: in, type: convolutional, channels: 2, height: 8, width: 8}\n"
               "layers:\n"
               "  - {name: c, type: conv2d, inputs: [in], n_out: 3, kernel: [3, 2], stride: [1, 1],"
               " padding: same, activation: relu}\n"
               "  - {name: s, type: separable_conv2d, inputs: [c], n_out: 4, kernel: [3, 3],"
               " multiplier: 2, padding: [1, 1, 1, 1]}\n"
               "  - {name: dw, type: depthwise_conv2d, inputs: [s], kernel: [2, 2], multiplier: 3,"
               " dilation: [2, 1], has_bias: false}\n"
               "  - {name: z, type: zero_padding, inputs: [dw], padding: [1, 2, 0, 3]}\n"
               "  - {name: cr, type: cropping, inputs: [z], cropping: [0, 1, 1, 0]}\n"
               "  - {name: u, type: upsampling, inputs: [cr], size: [2, 1]}\n"
               "  - {name: p, type: subsampling, inputs: [u], pooling: avg, kernel: [2, 2], stride: [1, 1]}\n"
               "  - {name: d, type: dense, inputs: [p], n_out: 5, activation: tanh}\n"
               "  - {name: o, type: output, inputs: [d], n_out: 3, activation: softmax, loss: mcxent}\n"
               "outputs: [o]\ninit: {seed: 9}\n", &a, &b);
    cr_assert_eq(b->inputs[0].kind, INPUT_CONVOLUTIONAL);
    cr_assert_eq(b->inputs[0].c, 2);
    cr_assert_eq(b->inputs[0].h, 8, "the preprocessor gives the image size back");
    cr_assert_eq(b->inputs[0].w, 8);
    static const char *const opts[] = {"kernel", "stride", "padding", "dilation", "multiplier",
                                       "pooling", "cropping", "size"};
    for (int i = 0; i < a->n_layers; i++)
        same_options(a->layers[i], b->layers[i], opts, sizeof opts / sizeof *opts);
    snprintf(path, sizeof path, "%s/m.zip", dir);
    json_t *j = conf_of(path);
    json_t *pre = json_object_get(json_object_get(j, "inputPreProcessors"), "7");
    cr_assert_str_eq(json_string_value(json_object_get(pre, "@class")),
                     "org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor");
    json_decref(j);
    tensor x = {0};
    int64_t shape[4] = {3, 2, 8, 8};
    cr_assert_eq(tensor_alloc(&x, 4, shape), 0);
    for (int64_t e = 0; e < x.size; e++)
        x.data[e] = (float)((e * 7) % 17) / 17.0f - 0.5f;
    same_predictions(a, b, &x);
    tensor_release(&x);
    model_free(a);
    model_free(b);
    /* no preprocessor: DL4J's file has no image size, read as the smallest the layers take,
     * and predict runs the model on images of any size */
    snprintf(path, sizeof path, "%s/g.yaml", dir);
    test_write_file(path, HEAD "inputs:\n  - {name: in, type: convolutional, channels: 3, height: 5,"
                    " width: 5}\nlayers:\n  - {name: c, type: conv2d, inputs: [in], n_out: 4, kernel: [2, 2]}\n"
                    "  - {name: g, type: global_pooling, inputs: [c], pooling: max}\n"
                    "  - {name: o, type: output, inputs: [g], n_out: 2, activation: softmax, loss: mcxent}\n"
                    "outputs: [o]\n");
    a = test_load_model(path);
    cr_assert_eq(model_init_params(a), 0);
    snprintf(path, sizeof path, "%s/g.zip", dir);
    save_ok(a, path);
    b = test_load_model(path);
    same_tensors(a, b);
    cr_assert_eq(b->layers[1]->type, a->layers[1]->type);
    int64_t shape5[4] = {2, 3, 5, 5};
    cr_assert_eq(tensor_alloc(&x, 4, shape5), 0);
    for (int64_t e = 0; e < x.size; e++)
        x.data[e] = (float)((e * 3) % 7) / 7.0f - 0.5f;
    same_predictions(a, b, &x);
    tensor_release(&x);
    model_free(a);
    model_free(b);
    test_remove_dir(dir);
}

/* The bidirectional layer as DL4J's Bidirectional wrapper (the cell in fwd and bwd, the mode,
 * the parameters fW, fRW, fb, bW, bRW, bb): read back the same cell, mode, tensors and outputs. */
Test(dl4j_write, bidirectional_round_trips)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-bi");
    static const char *const cells[] = {"lstm", "graves_lstm"};
    static const char *const modes[] = {"concat", "add", "mul", "average"};
    for (int k = 0; k < 4; k++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, HEAD "inputs:\n  - {name: in, type: recurrent, size: 4}\n"
                 "layers:\n  - {name: bi, type: bidirectional, inputs: [in], n_out: 3, layer: %s,"
                 " mode: %s}\n"
                 "  - {name: o, type: rnn_output, inputs: [bi], n_out: 2, activation: softmax, loss: mcxent}\n"
                 "outputs: [o]\n", cells[k % 2], modes[k]);
        model *a, *b;
        round_trip(dir, yaml, &a, &b);
        static const char *const opts[] = {"layer", "mode"};
        for (int q = 0; q < 2; q++) {
            const layer_option *o = layer_option_find(a->layers[0]->type, opts[q]);
            double u = -1, w = -2;
            layer_option_get_values(o, a->layers[0], &u);
            layer_option_get_values(o, b->layers[0], &w);
            cr_assert_eq(u, w, "%s %s: %s", cells[k % 2], modes[k], opts[q]);
        }
        snprintf(path, sizeof path, "%s/m.zip", dir);
        json_t *j = conf_of(path);
        json_t *c = json_array_get(json_object_get(j, "confs"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "layer"), "@class")),
                         "org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional");
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "variables"), 0)), "fW");
        json_decref(j);
        same_sequence_outputs(a, b, 4);
        model_free(a);
        model_free(b);
    }
    test_remove_dir(dir);
}

/* Loads yaml from DIR/bn.yaml, gives every parameter distinct values (variances positive),
 * saves it as DIR/bn.zip and loads that. */
static void batch_norm_trip(const char *dir, const char *yaml, model **orig, model **back)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bn.yaml", dir);
    test_write_file(path, yaml);
    *orig = test_load_model(path);
    cr_assert_eq(model_init_params(*orig), 0);
    for (int i = 0; i < (*orig)->n_layers; i++)
        for (int p = 0; p < (*orig)->layers[i]->n_params; p++) {
            tensor *t = &(*orig)->layers[i]->params[p];
            for (int64_t e = 0; e < t->size; e++)
                t->data[e] = 0.25f + (float)((e * 5 + p * 3 + i) % 11) / 8.0f;
        }
    snprintf(path, sizeof path, "%s/bn.zip", dir);
    save_ok(*orig, path);
    *back = test_load_model(path);
    same_architecture(*orig, *back);
    same_tensors(*orig, *back);
}

/* Batch normalisation as DL4J's BatchNormalization (gamma, beta, mean, var; useLogStd false):
 * after convolutions and after a dense layer, and with gamma and beta locked as constants. */
Test(dl4j_write, batch_norm_round_trips)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4jw-bn");
    model *a, *b;
    batch_norm_trip(dir, HEAD "inputs:\n  - {name: in, type: convolutional, channels: 2, height: 5,"
                    " width: 5}\nlayers:\n"
                    "  - {name: c, type: conv2d, inputs: [in], n_out: 3, kernel: [2, 2]}\n"
                    "  - {name: bn, type: batch_norm, inputs: [c], eps: 0.001, decay: 0.8}\n"
                    "  - {name: d, type: dense, inputs: [bn], n_out: 4}\n"
                    "  - {name: bf, type: batch_norm, inputs: [d], lock_gamma_beta: true, gamma: 1.5,"
                    " beta: -0.25}\n"
                    "  - {name: o, type: output, inputs: [bf], n_out: 2, activation: softmax, loss: mcxent}\n"
                    "outputs: [o]\ninit: {seed: 4}\n", &a, &b);
    cr_assert_eq(b->layers[1]->type, &layer_type_batch_norm);
    cr_assert_eq(b->layers[1]->n_params, 4);
    cr_assert_eq(b->layers[3]->n_params, 2, "locked: mean and var only");
    static const char *const opts[] = {"eps", "decay", "lock_gamma_beta", "gamma", "beta"};
    for (int i = 1; i <= 3; i += 2)
        same_options(a->layers[i], b->layers[i], opts, sizeof opts / sizeof *opts);
    snprintf(path, sizeof path, "%s/bn.zip", dir);
    json_t *j = conf_of(path);
    json_t *L = json_object_get(json_array_get(json_object_get(j, "confs"), 1), "layer");
    cr_assert_str_eq(json_string_value(json_object_get(L, "@class")),
                     "org.deeplearning4j.nn.conf.layers.BatchNormalization");
    cr_assert(json_is_false(json_object_get(L, "useLogStd")));
    json_t *vars = json_object_get(json_array_get(json_object_get(j, "confs"), 1), "variables");
    cr_assert_eq(json_array_size(vars), 4);
    cr_assert_str_eq(json_string_value(json_array_get(vars, 3)), "var");
    json_decref(j);
    tensor x = {0};
    int64_t shape[4] = {3, 2, 5, 5};
    cr_assert_eq(tensor_alloc(&x, 4, shape), 0);
    for (int64_t e = 0; e < x.size; e++)
        x.data[e] = (float)((e * 7) % 13) / 13.0f - 0.5f;
    same_predictions(a, b, &x);
    tensor_release(&x);
    model_free(a);
    model_free(b);
    test_remove_dir(dir);
}
