/* test_train.c: the trainer: parity with PyTorch training runs (tests/data/train, from
 * tools/gen_golden_train.py), frozen layers, determinism, NaN detection, fan-out gradients,
 * fine-tune semantics, truncated BPTT and convergence on iris. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/graph/model.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/tensor.h"
#include "runtime/train/train.h"
#include "runtime/nn/updater.h"

#define TR_PARITY_TOL 1e-4

/* ---- golden files: "tensor NAME NDIM D0 .." then the values ---- */

#define TR_GOLD_MAX 64
typedef struct tr_gold {
    int n;
    char name[TR_GOLD_MAX][48];
    tensor t[TR_GOLD_MAX];
} tr_gold;

static void tr_gold_load(tr_gold *g, const char *path)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char word[16];
    while (fscanf(f, "%15s", word) == 1) {
        cr_assert_str_eq(word, "tensor");
        cr_assert_lt(g->n, TR_GOLD_MAX);
        int nd;
        int64_t shape[TENSOR_MAX_DIMS];
        cr_assert_eq(fscanf(f, "%47s %d", g->name[g->n], &nd), 2);
        for (int k = 0; k < nd; k++)
            cr_assert_eq(fscanf(f, "%lld", (long long *)&shape[k]), 1);
        tensor *t = &g->t[g->n];
        cr_assert_eq(tensor_alloc(t, nd, shape), 0);
        for (int64_t i = 0; i < t->size; i++)
            cr_assert_eq(fscanf(f, "%f", &t->data[i]), 1);
        g->n++;
    }
    fclose(f);
}

static const tensor *tr_gold_get(const tr_gold *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->name[i], name))
            return &g->t[i];
    cr_assert_fail("golden tensor %s missing", name);
    return NULL;
}

static void tr_gold_free(tr_gold *g)
{
    for (int i = 0; i < g->n; i++)
        tensor_release(&g->t[i]);
}

/* A borrowed view of item `i` of the leading dimension of t. */
static tensor tr_item(const tensor *t, int64_t i)
{
    tensor v = {0};
    int64_t step = t->size / t->shape[0];
    v.data = t->data + i * step;
    v.ndim = t->ndim - 1;
    for (int k = 1; k < t->ndim; k++)
        v.shape[k - 1] = t->shape[k];
    v.size = step;
    v.borrowed = true;
    return v;
}

/* ---- model building ---- */

static layer *tr_add(model *m, const layer_type *type, const char *name, const char *const *inputs,
                     int n_inputs, int64_t n_out, activation_kind act)
{
    layer *L = layer_new(type, name);
    cr_assert_not_null(L);
    L->n_out = n_out;
    L->activation = act;
    layer_set_inputs(L, inputs, n_inputs);
    model_add_layer(m, L);
    return L;
}

/* Allocates every parameter after shape inference; fills from golden "PREFIXlayer.KEY" tensors
 * when g is given, else with a seeded uniform(-r, r), r = sqrt(6 / (fan_in + fan_out)). */
static void tr_params(model *m, const tr_gold *g, const char *prefix, uint64_t seed)
{
    cr_assert_eq(model_infer_shapes(m, NULL), 0);
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        L->n_params = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        rng r;
        rng_seed_stream(&r, seed, L->name);
        for (int p = 0; p < L->n_params; p++) {
            tensor_release(&L->params[p]);
            cr_assert_eq(tensor_alloc(&L->params[p], specs[p].ndim, specs[p].shape), 0);
            if (g) {
                char name[96];
                snprintf(name, sizeof name, "%s%s.%s", prefix, L->name, specs[p].key);
                const tensor *src = tr_gold_get(g, name);
                cr_assert_eq(src->size, L->params[p].size, "%s", name);
                memcpy(L->params[p].data, src->data, (size_t)src->size * sizeof(float));
            } else if (specs[p].role != PARAM_BIAS) {
                double a = sqrt(6.0 / (double)(specs[p].fan_in + specs[p].fan_out));
                for (int64_t e = 0; e < L->params[p].size; e++)
                    L->params[p].data[e] = (float)((2 * rng_uniform(&r) - 1) * a);
            }
        }
    }
}

static void tr_set_updater(model *m, updater_kind kind, double lr)
{
    for (int i = 0; i < m->n_layers; i++) {
        updater_conf_defaults(&m->layers[i]->train.updater, kind);
        m->layers[i]->train.updater.learning_rate = lr;
    }
}

/* in(6) -> fc1 dense(16, relu) -> out output(3, softmax, mcxent) */
static model *tr_dense_model(void)
{
    model *m = model_new("dense");
    cr_assert_eq(model_add_input(m, "in", INPUT_FEED_FORWARD, 6, loc_none()), 0);
    tr_add(m, &layer_type_dense, "fc1", (const char *[]){"in"}, 1, 16, ACT_RELU);
    layer *o = tr_add(m, &layer_type_output, "out", (const char *[]){"fc1"}, 1, 3, ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    return m;
}

/* in(4, recurrent) -> lstm(8) -> out rnn_output(3, softmax, mcxent) */
static model *tr_lstm_model(void)
{
    model *m = model_new("lstm");
    cr_assert_eq(model_add_input(m, "in", INPUT_RECURRENT, 4, loc_none()), 0);
    tr_add(m, &layer_type_lstm, "lstm", (const char *[]){"in"}, 1, 8, ACT_TANH);
    layer *o = tr_add(m, &layer_type_rnn_output, "out", (const char *[]){"lstm"}, 1, 3,
                      ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    return m;
}

static void tr_compare(const model *m, const tr_gold *g, const char *prefix)
{
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int np = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        for (int p = 0; p < np; p++) {
            char name[96];
            snprintf(name, sizeof name, "%s.%s.%s", prefix, L->name, specs[p].key);
            double diff = tensor_max_abs_diff(&L->params[p], tr_gold_get(g, name));
            cr_assert_leq(diff, TR_PARITY_TOL, "%s: max abs diff %g", name, diff);
        }
    }
}

/* Diagnostics into a memory buffer; tr_diag_done closes it (buf then holds the text). */
typedef struct tr_diagbuf {
    char *buf;
    size_t len;
    FILE *f;
    diag_ctx *d;
} tr_diagbuf;

static diag_ctx *tr_diag(tr_diagbuf *b)
{
    memset(b, 0, sizeof *b);
    b->f = open_memstream(&b->buf, &b->len);
    cr_assert_not_null(b->f);
    b->d = diag_new(b->f, DIAG_COLOR_NEVER);
    return b->d;
}

static void tr_diag_done(tr_diagbuf *b)
{
    diag_free(b->d);
    fclose(b->f);
}

/* ---- (a) parity with PyTorch ---- */

static void tr_dense_parity(const char *kind)
{
    tr_gold g;
    tr_gold_load(&g, "tests/data/train/dense.txt");
    model *m = tr_dense_model();
    tr_params(m, &g, "", 0);
    if (!strcmp(kind, "sgd") || !strcmp(kind, "sgd_l2") || !strcmp(kind, "sgd_clip"))
        tr_set_updater(m, UPD_SGD, 0.1);
    else if (!strcmp(kind, "nesterovs"))
        tr_set_updater(m, UPD_NESTEROVS, 0.05);
    else if (!strcmp(kind, "adam"))
        tr_set_updater(m, UPD_ADAM, 0.01);
    else if (!strcmp(kind, "adamw"))
        tr_set_updater(m, UPD_ADAMW, 0.01);
    else if (!strcmp(kind, "rmsprop"))
        tr_set_updater(m, UPD_RMSPROP, 0.01);
    else if (!strcmp(kind, "adagrad"))
        tr_set_updater(m, UPD_ADAGRAD, 0.1);
    for (int i = 0; i < m->n_layers; i++) {
        train_conf *tc = &m->layers[i]->train;
        if (!strcmp(kind, "adamw"))
            tc->updater.weight_decay = 0.05;
        if (!strcmp(kind, "sgd_l2"))
            tc->l2 = 0.01;
        if (!strcmp(kind, "sgd_clip")) {
            tc->grad_norm = GN_CLIP_ELEMENT_WISE;
            tc->grad_norm_threshold = 0.05;
        }
    }
    const tensor *x = tr_gold_get(&g, "x"), *y = tr_gold_get(&g, "y");
    tr_diagbuf db;
    diag_ctx *d = tr_diag(&db);
    train_options o;
    train_options_init(&o);
    for (int64_t s = 0; s < x->shape[0]; s++) {
        tensor xs = tr_item(x, s), ys = tr_item(y, s);
        const tensor *in[1] = {&xs};
        double loss;
        cr_assert_eq(train_step(m, in, &ys, NULL, NULL, &o, &loss, d), 0);
        cr_assert(isfinite(loss) && loss > 0);
    }
    cr_assert_eq(m->iteration_count, x->shape[0]);
    tr_compare(m, &g, kind);
    train_options_release(&o);
    tr_diag_done(&db);
    free(db.buf);
    model_free(m);
    tr_gold_free(&g);
}

Test(train_parity, dense_sgd) { tr_dense_parity("sgd"); }
Test(train_parity, dense_nesterovs) { tr_dense_parity("nesterovs"); }
Test(train_parity, dense_adam) { tr_dense_parity("adam"); }
Test(train_parity, dense_adamw) { tr_dense_parity("adamw"); }
Test(train_parity, dense_rmsprop) { tr_dense_parity("rmsprop"); }
Test(train_parity, dense_adagrad) { tr_dense_parity("adagrad"); }
Test(train_parity, dense_sgd_l2) { tr_dense_parity("sgd_l2"); }
Test(train_parity, dense_sgd_clip_element_wise) { tr_dense_parity("sgd_clip"); }

static void tr_lstm_parity(const char *kind)
{
    tr_gold g;
    tr_gold_load(&g, "tests/data/train/lstm.txt");
    model *m = tr_lstm_model();
    tr_params(m, &g, "", 0);
    bool masked = !strcmp(kind, "masked");
    tr_set_updater(m, !strcmp(kind, "adam") ? UPD_ADAM : UPD_SGD, !strcmp(kind, "adam") ? 0.01 : 0.1);
    if (!strcmp(kind, "tbptt")) {
        m->training.set_mask |= TC_BACKPROP;
        m->training.tbptt_forward = 2;
        m->training.tbptt_backward = 2;
    }
    const tensor *x = tr_gold_get(&g, "x"), *y = tr_gold_get(&g, "y");
    const tensor *mask = tr_gold_get(&g, "mask");
    tr_diagbuf db;
    diag_ctx *d = tr_diag(&db);
    train_options o;
    train_options_init(&o);
    for (int64_t s = 0; s < x->shape[0]; s++) {
        tensor xs = tr_item(x, s), ys = tr_item(y, s);
        const tensor *in[1] = {&xs};
        const float *masks[1] = {mask->data};
        double loss;
        cr_assert_eq(train_step(m, in, &ys, masked ? masks : NULL, NULL, &o, &loss, d), 0);
        cr_assert(isfinite(loss) && loss > 0);
    }
    /* tbptt over 6 steps in segments of 2: three updates per batch */
    cr_assert_eq(m->iteration_count, x->shape[0] * (strcmp(kind, "tbptt") ? 1 : 3));
    tr_compare(m, &g, kind);
    train_options_release(&o);
    tr_diag_done(&db);
    free(db.buf);
    model_free(m);
    tr_gold_free(&g);
}

Test(train_parity, lstm_sgd) { tr_lstm_parity("sgd"); }
Test(train_parity, lstm_adam) { tr_lstm_parity("adam"); }
Test(train_parity, lstm_masked_sequences) { tr_lstm_parity("masked"); }
Test(train_parity, lstm_tbptt) { tr_lstm_parity("tbptt"); }

/* tbptt(forward = 2, backward = 1): gradients flow through the whole segment (documented), with
 * one warning, so the weights equal those of tbptt(2, 2). */
Test(train_tbptt, backward_shorter_than_forward_warns_and_uses_the_segment)
{
    tr_gold g;
    tr_gold_load(&g, "tests/data/train/lstm.txt");
    model *m = tr_lstm_model();
    tr_params(m, &g, "", 0);
    tr_set_updater(m, UPD_SGD, 0.1);
    m->training.set_mask |= TC_BACKPROP;
    m->training.tbptt_forward = 2;
    m->training.tbptt_backward = 1;
    int fwd, bwd;
    train_tbptt_lengths(m, &fwd, &bwd);
    cr_assert_eq(fwd, 2);
    cr_assert_eq(bwd, 1);
    const tensor *x = tr_gold_get(&g, "x"), *y = tr_gold_get(&g, "y");
    tr_diagbuf db;
    diag_ctx *d = tr_diag(&db);
    train_options o;
    train_options_init(&o);
    for (int64_t s = 0; s < x->shape[0]; s++) {
        tensor xs = tr_item(x, s), ys = tr_item(y, s);
        const tensor *in[1] = {&xs};
        double loss;
        cr_assert_eq(train_step(m, in, &ys, NULL, NULL, &o, &loss, d), 0);
    }
    cr_assert_eq(diag_warning_count(d), 1);
    tr_compare(m, &g, "tbptt");
    train_options_release(&o);
    tr_diag_done(&db);
    cr_assert_not_null(strstr(db.buf, "whole 2-step segment"), "%s", db.buf);
    free(db.buf);
    model_free(m);
    tr_gold_free(&g);
}

/* ---- a small synthetic classification set for the behavioural tests ---- */

typedef struct tr_data {
    tensor x[4], y[4];   /* four batches of 8: x [8, 6], y one-hot [8, 3] */
} tr_data;

static void tr_data_make(tr_data *dd)
{
    rng r;
    rng_seed(&r, 99);
    for (int b = 0; b < 4; b++) {
        cr_assert_eq(tensor_alloc2(&dd->x[b], 8, 6), 0);
        cr_assert_eq(tensor_alloc2(&dd->y[b], 8, 3), 0);
        for (int i = 0; i < 8; i++) {
            int c = (int)rng_below(&r, 3);
            for (int k = 0; k < 6; k++)
                dd->x[b].data[i * 6 + k] = (float)(rng_normal(&r) + (k % 3 == c ? 1.5 : 0));
            dd->y[b].data[i * 3 + c] = 1.0f;
        }
    }
}

static void tr_data_free(tr_data *dd)
{
    for (int b = 0; b < 4; b++) {
        tensor_release(&dd->x[b]);
        tensor_release(&dd->y[b]);
    }
}

/* in(6) -> fc1 dense(12, tanh) -> fc2 dense(10, relu) -> out output(3, softmax, mcxent) */
static model *tr_chain_model(uint64_t seed)
{
    model *m = model_new("chain");
    cr_assert_eq(model_add_input(m, "in", INPUT_FEED_FORWARD, 6, loc_none()), 0);
    tr_add(m, &layer_type_dense, "fc1", (const char *[]){"in"}, 1, 12, ACT_TANH);
    tr_add(m, &layer_type_dense, "fc2", (const char *[]){"fc1"}, 1, 10, ACT_RELU);
    layer *o = tr_add(m, &layer_type_output, "out", (const char *[]){"fc2"}, 1, 3, ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    tr_params(m, NULL, "", seed);
    tr_set_updater(m, UPD_SGD, 0.1);
    return m;
}

static int tr_fit_steps(model *m, const tr_data *dd, int steps, train_options *o, diag_ctx *d)
{
    for (int s = 0; s < steps; s++) {
        const tensor *in[1] = {&dd->x[s % 4]};
        double loss;
        if (train_step(m, in, &dd->y[s % 4], NULL, NULL, o, &loss, d) != 0)
            return -1;
    }
    return 0;
}

static bool tr_same_params(const layer *a, const layer *b)
{
    for (int p = 0; p < LAYER_MAX_PARAMS; p++) {
        if (a->params[p].size != b->params[p].size)
            return false;
        if (a->params[p].size &&
            memcmp(a->params[p].data, b->params[p].data, (size_t)a->params[p].size * 4))
            return false;
    }
    return true;
}

/* ---- (b) frozen layers ---- */

Test(train_frozen, frozen_layers_untouched_and_no_backward_below_frontier)
{
    tr_data dd;
    tr_data_make(&dd);
    model *m = tr_chain_model(5);
    model *before = model_clone(m, true);
    cr_assert_not_null(before);
    cr_assert_eq(model_freeze_through(m, "fc2"), 0);
    cr_assert(m->layers[0]->frozen && m->layers[1]->frozen && !m->layers[2]->frozen);
    /* Frozen layers run in inference mode: their dropout must not matter. */
    m->layers[0]->train.dropout = 0.5;
    m->layers[1]->train.dropout = 0.5;
    train_options o;
    train_options_init(&o);
    cr_assert_eq(tr_fit_steps(m, &dd, 12, &o, NULL), 0);
    cr_assert(tr_same_params(m->layers[0], before->layers[0]), "fc1 changed");
    cr_assert(tr_same_params(m->layers[1], before->layers[1]), "fc2 changed");
    cr_assert(!tr_same_params(m->layers[2], before->layers[2]), "out did not train");
    /* Only the output layer's backward ran; frozen layers hold no gradients or state. */
    cr_assert_eq(o.backward_calls, 12);
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < LAYER_MAX_PARAMS; p++) {
            cr_assert_null(m->layers[i]->grads[p].data);
            cr_assert_null(m->layers[i]->upd_state[p][0].data);
        }
    train_options_release(&o);

    /* Same fit with the frozen layers' dropout at 0: bit-identical output layer. */
    model *m2 = model_clone(before, true);
    cr_assert_eq(model_freeze_through(m2, "fc2"), 0);
    train_options o2;
    train_options_init(&o2);
    cr_assert_eq(tr_fit_steps(m2, &dd, 12, &o2, NULL), 0);
    cr_assert(tr_same_params(m->layers[2], m2->layers[2]));
    train_options_release(&o2);
    model_free(m2);
    model_free(before);
    model_free(m);
    tr_data_free(&dd);
}

Test(train_frozen, frozen_middle_layer_passes_gradient_through)
{
    tr_data dd;
    tr_data_make(&dd);
    model *m = tr_chain_model(6);
    model *before = model_clone(m, true);
    m->layers[1]->frozen = true;   /* fc2 only: DL4J's FrozenLayerWithBackprop */
    train_options o;
    train_options_init(&o);
    cr_assert_eq(tr_fit_steps(m, &dd, 5, &o, NULL), 0);
    cr_assert(!tr_same_params(m->layers[0], before->layers[0]), "fc1 must train through fc2");
    cr_assert(tr_same_params(m->layers[1], before->layers[1]), "frozen fc2 changed");
    cr_assert_null(m->layers[1]->grads[0].data);
    cr_assert_eq(o.backward_calls, 15);   /* out, fc2 (for fc1's sake), fc1 */
    train_options_release(&o);
    model_free(before);
    model_free(m);
    tr_data_free(&dd);
}

/* ---- (c) determinism ---- */

Test(train_determinism, two_fits_identical_bytes)
{
    tr_data dd;
    tr_data_make(&dd);
    model *a = tr_chain_model(7), *b = tr_chain_model(7), *c = tr_chain_model(7);
    model *ms[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) {
            ms[k]->layers[i]->train.dropout = 0.3;
            updater_conf_defaults(&ms[k]->layers[i]->train.updater, UPD_ADAM);
        }
    for (int k = 0; k < 3; k++) {
        train_options o;
        train_options_init(&o);
        o.seed_set = true;
        o.seed = k == 2 ? 43 : 42;
        cr_assert_eq(tr_fit_steps(ms[k], &dd, 20, &o, NULL), 0);
        train_options_release(&o);
    }
    for (int i = 0; i < 3; i++)
        cr_assert(tr_same_params(a->layers[i], b->layers[i]), "layer %d differs", i);
    /* Another dropout seed gives other weights: dropout was really applied. */
    cr_assert(!tr_same_params(a->layers[2], c->layers[2]));
    model_free(a);
    model_free(b);
    model_free(c);
    tr_data_free(&dd);
}

/* ---- (d) NaN detection ---- */

Test(train_nan, huge_learning_rate_reports_iteration_and_keeps_weights)
{
    tr_data dd;
    tr_data_make(&dd);
    model *m = tr_chain_model(8);
    tr_set_updater(m, UPD_SGD, 1e30);
    tr_diagbuf db;
    diag_ctx *d = tr_diag(&db);
    train_options o;
    train_options_init(&o);
    int failed_at = -1;
    for (int s = 0; s < 20 && failed_at < 0; s++) {
        const tensor *in[1] = {&dd.x[s % 4]};
        double loss;
        if (train_step(m, in, &dd.y[s % 4], NULL, NULL, &o, &loss, d) != 0)
            failed_at = s + 1;
    }
    cr_assert_gt(failed_at, 0, "a learning rate of 1e30 must diverge");
    cr_assert_eq(m->iteration_count, failed_at - 1);
    cr_assert_geq(diag_error_count(d), 1);
    tr_diag_done(&db);
    const char *buf = db.buf;
    char want[64];
    snprintf(want, sizeof want, "at iteration %d", failed_at);
    cr_assert_not_null(strstr(buf, want), "message: %s", buf);
    cr_assert_not_null(strstr(buf, "layer '"), "message names no layer: %s", buf);
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i]->n_params; p++)
            cr_assert(updater_all_finite(m->layers[i]->params[p].data,
                                         m->layers[i]->params[p].size));
    train_options_release(&o);
    free(db.buf);
    model_free(m);
    tr_data_free(&dd);
}

/* ---- gradients through fan-out and merge, against central differences ---- */

Test(train_graph, fan_out_gradients_match_finite_differences)
{
    /* in -> fc1 -> {a, b} -> merge -> out: fc1's gradient sums over two consumers. */
    model *m = model_new("dag");
    cr_assert_eq(model_add_input(m, "in", INPUT_FEED_FORWARD, 6, loc_none()), 0);
    tr_add(m, &layer_type_dense, "fc1", (const char *[]){"in"}, 1, 5, ACT_TANH);
    tr_add(m, &layer_type_dense, "a", (const char *[]){"fc1"}, 1, 4, ACT_SIGMOID);
    tr_add(m, &layer_type_dense, "b", (const char *[]){"fc1"}, 1, 3, ACT_TANH);
    tr_add(m, &layer_type_merge, "mg", (const char *[]){"a", "b"}, 2, 0, ACT_IDENTITY);
    layer *o = tr_add(m, &layer_type_output, "out", (const char *[]){"mg"}, 1, 3, ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    tr_params(m, NULL, "", 3);
    /* sgd with learning rate 1: the update is the gradient. */
    tr_set_updater(m, UPD_SGD, 1.0);
    tr_data dd;
    tr_data_make(&dd);
    model *ref = model_clone(m, true);
    train_options opt;
    train_options_init(&opt);
    const tensor *in[1] = {&dd.x[0]};
    double loss;
    cr_assert_eq(train_step(m, in, &dd.y[0], NULL, NULL, &opt, &loss, NULL), 0);
    train_options_release(&opt);
    layer *f0 = ref->layers[0], *f1 = m->layers[0];
    int checked = 0;
    for (int p = 0; p < 2; p++)
        for (int64_t e = 0; e < f0->params[p].size; e += 3) {
            float keep = f0->params[p].data[e];
            double h = 1e-2, lp, lm;
            tensor out = {0};
            char err[128];
            f0->params[p].data[e] = keep + (float)h;
            cr_assert_eq(model_predict(ref, in, &out, err, sizeof err), 0, "%s", err);
            lp = loss_layer_score(ref->layers[4], &out, &dd.y[0], NULL);
            f0->params[p].data[e] = keep - (float)h;
            cr_assert_eq(model_predict(ref, in, &out, err, sizeof err), 0, "%s", err);
            lm = loss_layer_score(ref->layers[4], &out, &dd.y[0], NULL);
            tensor_release(&out);
            f0->params[p].data[e] = keep;
            double num = (lp - lm) / (2 * h);
            double got = (double)keep - (double)f1->params[p].data[e];
            cr_assert(fabs(num - got) <= 2e-3 + 2e-2 * fabs(num),
                      "fc1 param %d[%lld]: numeric %g, trainer %g", p, (long long)e, num, got);
            checked++;
        }
    cr_assert_gt(checked, 5);
    model_free(ref);
    model_free(m);
    tr_data_free(&dd);
}

/* ---- dropout: the trainer's, one implementation for every layer type ---- */

/* The loss train_step reports on a copy of `base` (fixed seed, so the same dropout masks on
 * every call: they depend on the shapes and the seed only); *after (when given) receives the
 * updated copy. */
static double tr_step_loss(const model *base, const tensor *const *in, const tensor *y,
                           model **after)
{
    model *m = model_clone(base, true);
    cr_assert_not_null(m);
    train_options o;
    train_options_init(&o);
    o.seed_set = true;
    o.seed = 31;
    double loss;
    cr_assert_eq(train_step(m, in, y, NULL, NULL, &o, &loss, NULL), 0);
    train_options_release(&o);
    if (after)
        *after = m;
    else
        model_free(m);
    return loss;
}

/* Central differences of the training-mode loss (dropout masks fixed) against one sgd step with
 * learning rate 1 (the update is the gradient), on every third parameter of every layer. */
static void tr_dropout_gradcheck(model *m, const tensor *const *in, const tensor *y)
{
    tr_set_updater(m, UPD_SGD, 1.0);
    model *after;
    double loss = tr_step_loss(m, in, y, &after);
    /* the dropout is real: the same step without any dropout has another loss */
    model *plain = model_clone(m, true);
    for (int i = 0; i < plain->n_layers; i++)
        plain->layers[i]->train.dropout = 0.0;
    double plain_loss = tr_step_loss(plain, in, y, NULL);
    cr_assert(fabs(loss - plain_loss) > 1e-4, "dropout changed nothing (%g vs %g)", loss,
              plain_loss);
    model_free(plain);
    int checked = 0, bad = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        for (int p = 0; p < L->n_params; p++)
            for (int64_t e = 0; e < L->params[p].size; e += 3) {
                float keep = L->params[p].data[e];
                const double h = 1e-2;
                L->params[p].data[e] = keep + (float)h;
                double lp = tr_step_loss(m, in, y, NULL);
                L->params[p].data[e] = keep - (float)h;
                double lm = tr_step_loss(m, in, y, NULL);
                L->params[p].data[e] = keep;
                double num = (lp - lm) / (2 * h);
                double got = (double)keep - (double)after->layers[i]->params[p].data[e];
                if (!(fabs(num - got) <= 2e-3 + 2e-2 * fabs(num)) && bad++ < 3)
                    cr_expect(false, "%s param %d[%lld]: numeric %g, trainer %g", L->name, p,
                              (long long)e, num, got);
                checked++;
            }
    }
    cr_assert_eq(bad, 0, "%d of %d gradient entries differ", bad, checked);
    cr_assert_gt(checked, 20);
    model_free(after);
}

Test(train_dropout, gradients_through_dense_merge_and_output_dropout)
{
    /* in -> fc1 -> {a, b} -> merge -> out, dropout on every input slot (two on the merge) */
    model *m = model_new("drop");
    cr_assert_eq(model_add_input(m, "in", INPUT_FEED_FORWARD, 6, loc_none()), 0);
    tr_add(m, &layer_type_dense, "fc1", (const char *[]){"in"}, 1, 5, ACT_TANH);
    tr_add(m, &layer_type_dense, "a", (const char *[]){"fc1"}, 1, 4, ACT_SIGMOID);
    tr_add(m, &layer_type_dense, "b", (const char *[]){"fc1"}, 1, 3, ACT_TANH);
    tr_add(m, &layer_type_merge, "mg", (const char *[]){"a", "b"}, 2, 0, ACT_IDENTITY);
    layer *o = tr_add(m, &layer_type_output, "out", (const char *[]){"mg"}, 1, 3, ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    tr_params(m, NULL, "", 3);
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i]->train.dropout = 0.3;
    tr_data dd;
    tr_data_make(&dd);
    const tensor *in[1] = {&dd.x[0]};
    tr_dropout_gradcheck(m, in, &dd.y[0]);
    model_free(m);
    tr_data_free(&dd);
}

/* Recurrent data [T, B, F] with one-hot labels at every step. */
static void tr_seq_data(tensor *x, tensor *y, int64_t T, int64_t B, int64_t F, int64_t C,
                        uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    cr_assert_eq(tensor_alloc3(x, T, B, F), 0);
    cr_assert_eq(tensor_alloc3(y, T, B, C), 0);
    for (int64_t i = 0; i < x->size; i++)
        x->data[i] = (float)(2 * rng_uniform(&r) - 1);
    for (int64_t k = 0; k < T * B; k++)
        y->data[k * C + (int64_t)rng_below(&r, (uint64_t)C)] = 1.0f;
}

Test(train_dropout, gradients_through_recurrent_dense_lstm_and_rnn_output_dropout)
{
    /* in(4, recurrent) -> d dense(5) per step -> lstm(4) -> out rnn_output(3) */
    model *m = model_new("drop_rnn");
    cr_assert_eq(model_add_input(m, "in", INPUT_RECURRENT, 4, loc_none()), 0);
    tr_add(m, &layer_type_dense, "d", (const char *[]){"in"}, 1, 5, ACT_TANH);
    tr_add(m, &layer_type_lstm, "lstm", (const char *[]){"d"}, 1, 4, ACT_TANH);
    layer *o = tr_add(m, &layer_type_rnn_output, "out", (const char *[]){"lstm"}, 1, 3,
                      ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    tr_params(m, NULL, "", 4);
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i]->train.dropout = 0.25;
    tensor x = {0}, y = {0};
    tr_seq_data(&x, &y, 5, 3, 4, 3, 12);
    const tensor *in[1] = {&x};
    tr_dropout_gradcheck(m, in, &y);
    model_free(m);
    tensor_release(&x);
    tensor_release(&y);
}

/* A layer's `dropout = p` is exactly a `dropout` layer of probability p in front of it: the same
 * masks, applied once (bit-identical losses and weights after several steps). */
static void tr_same_as_dropout_layer(bool recurrent)
{
    /* 0: the layer's dropout; 1: a dropout layer in front; 2: no dropout at all */
    model *ms[3];
    for (int k = 0; k < 3; k++) {
        model *m = model_new(recurrent ? "seq" : "ff");
        cr_assert_eq(model_add_input(m, "in", recurrent ? INPUT_RECURRENT : INPUT_FEED_FORWARD,
                                     6, loc_none()), 0);
        const layer_type *hidden = recurrent ? &layer_type_lstm : &layer_type_dense;
        const char *feed = "in";
        if (k == 1) {
            layer *dl = tr_add(m, &layer_type_dropout, "drop", (const char *[]){"in"}, 1, 0,
                               ACT_IDENTITY);
            dl->train.dropout = 0.4;
            feed = "drop";
        }
        layer *h = tr_add(m, hidden, "h", (const char *[]){feed}, 1, 7, ACT_TANH);
        if (k == 0)
            h->train.dropout = 0.4;
        layer *o = tr_add(m, recurrent ? &layer_type_rnn_output : &layer_type_output, "out",
                          (const char *[]){"h"}, 1, 3, ACT_SOFTMAX);
        o->loss = LOSS_MCXENT;
        model_set_outputs(m, (const char *[]){"out"}, 1);
        tr_params(m, NULL, "", 21);
        tr_set_updater(m, UPD_SGD, 0.5);
        ms[k] = m;
    }
    tensor x = {0}, y = {0};
    if (recurrent) {
        tr_seq_data(&x, &y, 4, 5, 6, 3, 8);
    } else {
        rng r;
        rng_seed(&r, 8);
        cr_assert_eq(tensor_alloc2(&x, 10, 6), 0);
        cr_assert_eq(tensor_alloc2(&y, 10, 3), 0);
        for (int64_t i = 0; i < x.size; i++)
            x.data[i] = (float)(2 * rng_uniform(&r) - 1);
        for (int64_t i = 0; i < 10; i++)
            y.data[i * 3 + (int64_t)rng_below(&r, 3)] = 1.0f;
    }
    const tensor *in[1] = {&x};
    double loss[3][4];
    for (int k = 0; k < 3; k++) {
        train_options o;
        train_options_init(&o);
        o.seed_set = true;
        o.seed = 5;
        for (int s = 0; s < 4; s++)
            cr_assert_eq(train_step(ms[k], in, &y, NULL, NULL, &o, &loss[k][s], NULL), 0);
        train_options_release(&o);
    }
    for (int s = 0; s < 4; s++)
        cr_assert_eq(loss[0][s], loss[1][s], "step %d: loss %.9g with the layer's dropout, %.9g "
                     "with a dropout layer", s, loss[0][s], loss[1][s]);
    layer *h0 = model_find_layer(ms[0], "h"), *h1 = model_find_layer(ms[1], "h");
    cr_assert(tr_same_params(h0, h1), "h differs");
    cr_assert(tr_same_params(model_find_layer(ms[0], "out"), model_find_layer(ms[1], "out")));
    /* and dropout did something: without it the first loss differs */
    cr_assert(fabs(loss[2][0] - loss[0][0]) > 1e-4, "dropout changed nothing (%g)", loss[0][0]);
    for (int k = 0; k < 3; k++)
        model_free(ms[k]);
    tensor_release(&x);
    tensor_release(&y);
}

Test(train_dropout, layer_dropout_equals_a_dropout_layer_dense)
{
    tr_same_as_dropout_layer(false);
}

Test(train_dropout, layer_dropout_equals_a_dropout_layer_lstm)
{
    tr_same_as_dropout_layer(true);
}

/* ---- fine-tune semantics ---- */

Test(train_fine_tune, overrides_trainable_layers_script_settings_win)
{
    model *m = tr_chain_model(1);
    layer *fc1 = m->layers[0], *fc2 = m->layers[1], *out = m->layers[2];
    fc1->frozen = true;
    /* The base model gave fc2 its own learning rate; the script set out's l2. */
    fc2->train.learning_rate = 0.5;
    fc2->train.set_mask |= TC_LEARNING_RATE;
    out->train.l2 = 0.25;
    out->train.set_mask |= TC_L2;
    out->script_set_mask |= TC_L2;
    train_conf ft;
    train_conf_defaults(&ft);
    updater_conf_defaults(&ft.updater, UPD_ADAM);
    ft.updater.learning_rate = 1e-4;
    ft.l2 = 1e-3;
    ft.dropout = 0.2;
    ft.set_mask = TC_UPDATER | TC_L2 | TC_DROPOUT;
    train_apply_fine_tune(m, &ft);
    /* frozen: nothing */
    cr_assert_eq(fc1->train.updater.kind, UPD_SGD);
    cr_assert_eq(fc1->train.l2, 0);
    cr_assert_eq(fc1->train.dropout, 0);
    /* fc2: everything; the fine-tune updater's learning rate replaces the base model's */
    cr_assert_eq(fc2->train.updater.kind, UPD_ADAM);
    cr_assert_eq(fc2->train.l2, 1e-3);
    cr_assert_eq(fc2->train.dropout, 0.2);
    double lr;
    updater_for_param(fc2, PARAM_WEIGHT, &lr);
    cr_assert_eq(lr, 1e-4);
    /* out: the script's l2 wins, the rest applies */
    cr_assert_eq(out->train.l2, 0.25);
    cr_assert_eq(out->train.updater.kind, UPD_ADAM);
    cr_assert(m->training.set_mask & TC_UPDATER);
    model_free(m);
}

/* A fine-tune block with every field set, each to a value no default has. */
static train_conf tr_full_fine_tune(void)
{
    train_conf ft;
    train_conf_defaults(&ft);
    updater_conf_defaults(&ft.updater, UPD_RMSPROP);
    ft.updater.learning_rate = 0.0125;
    updater_conf_defaults(&ft.bias_updater, UPD_ADAGRAD);
    ft.bias_updater.learning_rate = 0.03;
    ft.seed = 4242;
    ft.l1 = 0.11;
    ft.l2 = 0.22;
    ft.l1_bias = 0.33;
    ft.l2_bias = 0.44;
    ft.weight_decay = 0.055;
    ft.dropout = 0.35;
    ft.weight_init = (init_spec){.kind = INIT_UNIFORM, .a = -0.2, .b = 0.3};
    ft.bias_init = 0.75;
    ft.grad_norm = GN_CLIP_L2_PER_LAYER;
    ft.grad_norm_threshold = 2.5;
    ft.tbptt_forward = 7;
    ft.tbptt_backward = 5;
    ft.learning_rate = 0.0625;
    ft.set_mask = TC_UPDATER | TC_BIAS_UPDATER | TC_SEED | TC_L1 | TC_L2 | TC_WEIGHT_DECAY |
                  TC_DROPOUT | TC_WEIGHT_INIT | TC_BIAS_INIT | TC_GRAD_NORM | TC_BACKPROP |
                  TC_LEARNING_RATE | TC_L1_BIAS | TC_L2_BIAS;
    return ft;
}

static const unsigned tr_all_fields[] = {
    TC_UPDATER, TC_BIAS_UPDATER, TC_SEED, TC_L1, TC_L2, TC_WEIGHT_DECAY, TC_DROPOUT,
    TC_WEIGHT_INIT, TC_BIAS_INIT, TC_GRAD_NORM, TC_BACKPROP, TC_LEARNING_RATE, TC_L1_BIAS,
    TC_L2_BIAS};

static bool tr_updater_eq(const updater_conf *a, const updater_conf *b)
{
    return a->kind == b->kind && a->learning_rate == b->learning_rate &&
           a->momentum == b->momentum && a->beta1 == b->beta1 && a->beta2 == b->beta2 &&
           a->epsilon == b->epsilon && a->rms_decay == b->rms_decay &&
           a->weight_decay == b->weight_decay && a->schedule == b->schedule &&
           a->decay_rate == b->decay_rate && a->decay_steps == b->decay_steps;
}

/* Whether field `bit` holds the same value in a and b. */
static bool tr_field_eq(const train_conf *a, const train_conf *b, unsigned bit)
{
    switch (bit) {
    case TC_UPDATER: return tr_updater_eq(&a->updater, &b->updater);
    case TC_BIAS_UPDATER: return tr_updater_eq(&a->bias_updater, &b->bias_updater);
    case TC_SEED: return a->seed == b->seed;
    case TC_L1: return a->l1 == b->l1;
    case TC_L2: return a->l2 == b->l2;
    case TC_L1_BIAS: return a->l1_bias == b->l1_bias;
    case TC_L2_BIAS: return a->l2_bias == b->l2_bias;
    case TC_WEIGHT_DECAY: return a->weight_decay == b->weight_decay;
    case TC_DROPOUT: return a->dropout == b->dropout;
    case TC_WEIGHT_INIT:
        return a->weight_init.kind == b->weight_init.kind && a->weight_init.a == b->weight_init.a &&
               a->weight_init.b == b->weight_init.b;
    case TC_BIAS_INIT: return a->bias_init == b->bias_init;
    case TC_GRAD_NORM:
        return a->grad_norm == b->grad_norm && a->grad_norm_threshold == b->grad_norm_threshold;
    case TC_BACKPROP:
        return a->tbptt_forward == b->tbptt_forward && a->tbptt_backward == b->tbptt_backward;
    case TC_LEARNING_RATE: return a->learning_rate == b->learning_rate;
    }
    cr_assert_fail("unknown field %u", bit);
    return false;
}

Test(train_fine_tune, every_field_reaches_every_non_frozen_layer_and_no_frozen_one)
{
    model *m = tr_chain_model(1);
    layer *fc1 = m->layers[0];
    fc1->frozen = true;
    /* the base model's own settings on a frozen and on a trainable layer */
    fc1->train.l2 = 0.5;
    fc1->train.set_mask |= TC_L2;
    m->layers[1]->train.l2 = 0.5;
    m->layers[1]->train.set_mask |= TC_L2;
    train_conf frozen_before = fc1->train;
    train_conf ft = tr_full_fine_tune();
    train_apply_fine_tune(m, &ft);
    cr_assert_eq(fc1->train.set_mask, frozen_before.set_mask, "a frozen layer got settings");
    for (size_t k = 0; k < sizeof tr_all_fields / sizeof tr_all_fields[0]; k++)
        cr_assert(tr_field_eq(&fc1->train, &frozen_before, tr_all_fields[k]),
                  "a frozen layer got fine-tune field %u", tr_all_fields[k]);
    for (int i = 1; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        for (size_t k = 0; k < sizeof tr_all_fields / sizeof tr_all_fields[0]; k++) {
            unsigned bit = tr_all_fields[k];
            cr_assert(L->train.set_mask & bit, "%s: field %u not marked set", L->name, bit);
            cr_assert(tr_field_eq(&L->train, &ft, bit), "%s: field %u not overridden", L->name,
                      bit);
        }
    }
    cr_assert_eq(m->training.set_mask & ft.set_mask, ft.set_mask);
    cr_assert(tr_field_eq(&m->training, &ft, TC_L2));
    model_free(m);
}

Test(train_fine_tune, fields_the_script_set_win_one_by_one)
{
    const train_conf ft = tr_full_fine_tune();
    for (size_t k = 0; k < sizeof tr_all_fields / sizeof tr_all_fields[0]; k++) {
        unsigned bit = tr_all_fields[k];
        model *m = tr_chain_model(1);
        layer *L = m->layers[1];
        /* the script's value for `bit` (and only that bit): the defaults differ from ft */
        train_conf mine;
        train_conf_defaults(&mine);
        updater_conf_defaults(&mine.updater, UPD_NESTEROVS);
        mine.learning_rate = 0.5;
        mine.set_mask = bit;
        train_conf_apply(&L->train, &mine);
        L->script_set_mask = bit;
        train_conf before = L->train;
        cr_assert(!tr_field_eq(&before, &ft, bit), "field %u: pick a value fine_tune lacks", bit);
        train_apply_fine_tune(m, &ft);
        cr_assert(tr_field_eq(&L->train, &before, bit), "field %u set by the script was overridden",
                  bit);
        /* every other field still follows fine_tune (learning_rate aside under a script updater) */
        for (size_t j = 0; j < sizeof tr_all_fields / sizeof tr_all_fields[0]; j++) {
            unsigned other = tr_all_fields[j];
            if (other == bit || (bit == TC_UPDATER && other == TC_LEARNING_RATE))
                continue;
            cr_assert(tr_field_eq(&L->train, &ft, other), "field %u (script set %u) not applied",
                      other, bit);
        }
        model_free(m);
    }
}

Test(train_fine_tune, updater_replaces_the_base_models_learning_rate)
{
    model *m = tr_chain_model(1);
    layer *fc1 = m->layers[0], *fc2 = m->layers[1], *out = m->layers[2];
    /* the base model stored learning rates on every layer (and at model level) */
    for (int i = 0; i < 3; i++) {
        m->layers[i]->train.learning_rate = 0.5;
        m->layers[i]->train.set_mask |= TC_LEARNING_RATE;
    }
    m->training.learning_rate = 0.5;
    m->training.set_mask |= TC_LEARNING_RATE;
    /* the script set out's learning rate itself: that one stays */
    out->script_set_mask |= TC_LEARNING_RATE;
    fc1->frozen = true;
    train_conf ft;
    train_conf_defaults(&ft);
    updater_conf_defaults(&ft.updater, UPD_ADAM);
    ft.updater.learning_rate = 1e-4;
    ft.set_mask = TC_UPDATER;
    train_apply_fine_tune(m, &ft);
    double lr;
    updater_for_param(fc2, PARAM_WEIGHT, &lr);
    cr_assert_eq(fc2->train.updater.kind, UPD_ADAM);
    cr_assert_eq(lr, 1e-4, "the updater's own learning rate must apply, got %g", lr);
    cr_assert_eq(train_conf_learning_rate(&fc2->train), 1e-4);
    updater_for_param(out, PARAM_WEIGHT, &lr);
    cr_assert_eq(out->train.updater.kind, UPD_ADAM);
    cr_assert_eq(lr, 0.5, "the script's learning rate must win, got %g", lr);
    /* frozen: untouched */
    cr_assert_eq(fc1->train.updater.kind, UPD_SGD);
    cr_assert_eq(train_conf_learning_rate(&fc1->train), 0.5);
    /* the model-level record follows the same rule */
    cr_assert_eq(train_conf_learning_rate(&m->training), 1e-4);
    model_free(m);

    /* an updater together with a learning rate: the learning rate applies */
    m = tr_chain_model(1);
    fc2 = m->layers[1];
    fc2->train.learning_rate = 0.5;
    fc2->train.set_mask |= TC_LEARNING_RATE;
    ft.learning_rate = 3e-3;
    ft.set_mask = TC_UPDATER | TC_LEARNING_RATE;
    train_apply_fine_tune(m, &ft);
    updater_for_param(fc2, PARAM_WEIGHT, &lr);
    cr_assert_eq(lr, 3e-3);
    cr_assert_eq(fc2->train.updater.kind, UPD_ADAM);
    model_free(m);
}

Test(train_fine_tune, learning_rate_does_not_override_an_updater_the_script_set)
{
    model *m = tr_chain_model(1);
    layer *fc1 = m->layers[0], *fc2 = m->layers[1];
    /* the script gave fc2 its own updater; fc1's updater is the base model's */
    updater_conf_defaults(&fc2->train.updater, UPD_NESTEROVS);
    fc2->train.updater.learning_rate = 0.25;
    fc2->train.set_mask |= TC_UPDATER;
    fc2->script_set_mask |= TC_UPDATER;
    updater_conf_defaults(&fc1->train.updater, UPD_ADAM);
    fc1->train.updater.learning_rate = 0.5;
    fc1->train.set_mask |= TC_UPDATER;
    train_conf ft;
    train_conf_defaults(&ft);
    ft.learning_rate = 1e-3;
    ft.l2 = 0.01;
    ft.set_mask = TC_LEARNING_RATE | TC_L2;
    train_apply_fine_tune(m, &ft);
    double lr;
    updater_for_param(fc2, PARAM_WEIGHT, &lr);
    cr_assert_eq(fc2->train.updater.kind, UPD_NESTEROVS);
    cr_assert_eq(lr, 0.25, "fine_tune's learning_rate reached a script updater: %g", lr);
    cr_assert(!(fc2->train.set_mask & TC_LEARNING_RATE));
    cr_assert_eq(fc2->train.l2, 0.01);   /* the rest of the block still applies */
    /* the base model's updater takes the fine-tune learning rate */
    updater_for_param(fc1, PARAM_WEIGHT, &lr);
    cr_assert_eq(fc1->train.updater.kind, UPD_ADAM);
    cr_assert_eq(lr, 1e-3);
    model_free(m);
}

/* ---- (e) convergence on iris ---- */

typedef struct tr_iris {
    tensor x, y;        /* all 150: [150, 4], one-hot [150, 3] */
    int64_t order[150];
    int64_t pos;
    tensor bx, by;
    rng r;
} tr_iris;

static int tr_iris_reset(void *ctx, int64_t epoch, diag_ctx *d)
{
    (void)d;
    tr_iris *s = ctx;
    for (int64_t i = 0; i < 150; i++)
        s->order[i] = i;
    rng_seed(&s->r, 1000 + (uint64_t)epoch);
    rng_shuffle(&s->r, s->order, 150);
    s->pos = 0;
    return 0;
}

static int tr_iris_next(void *ctx, train_batch *b, int64_t *examples, diag_ctx *d)
{
    (void)d;
    tr_iris *s = ctx;
    if (s->pos >= 150)
        return 0;
    int64_t n = 150 - s->pos < 16 ? 150 - s->pos : 16;
    tensor_release(&s->bx);
    tensor_release(&s->by);
    cr_assert_eq(tensor_alloc2(&s->bx, n, 4), 0);
    cr_assert_eq(tensor_alloc2(&s->by, n, 3), 0);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = s->order[s->pos + i];
        memcpy(s->bx.data + i * 4, s->x.data + k * 4, 4 * sizeof(float));
        memcpy(s->by.data + i * 3, s->y.data + k * 3, 3 * sizeof(float));
    }
    s->pos += n;
    static const tensor *in[1];
    in[0] = &s->bx;
    b->inputs = in;
    b->labels = &s->by;
    b->masks = NULL;
    b->label_masks = NULL;
    *examples = n;
    return 1;
}

Test(train_converge, iris_mlp_reaches_90_percent)
{
    tr_iris s = {0};
    cr_assert_eq(tensor_alloc2(&s.x, 150, 4), 0);
    cr_assert_eq(tensor_alloc2(&s.y, 150, 3), 0);
    FILE *f = fopen("tests/data/train/iris.csv", "r");
    cr_assert_not_null(f);
    char line[256];
    cr_assert_not_null(fgets(line, sizeof line, f));   /* "150,4,setosa,..." */
    for (int i = 0; i < 150; i++) {
        float v[4];
        int c;
        cr_assert_eq(fscanf(f, "%f,%f,%f,%f,%d", &v[0], &v[1], &v[2], &v[3], &c), 5);
        memcpy(s.x.data + i * 4, v, sizeof v);
        s.y.data[i * 3 + c] = 1.0f;
    }
    fclose(f);
    /* standardise the features */
    for (int k = 0; k < 4; k++) {
        double mean = 0, var = 0;
        for (int i = 0; i < 150; i++)
            mean += s.x.data[i * 4 + k] / 150.0;
        for (int i = 0; i < 150; i++)
            var += pow(s.x.data[i * 4 + k] - mean, 2) / 150.0;
        for (int i = 0; i < 150; i++)
            s.x.data[i * 4 + k] = (float)((s.x.data[i * 4 + k] - mean) / sqrt(var));
    }
    model *m = model_new("iris");
    cr_assert_eq(model_add_input(m, "in", INPUT_FEED_FORWARD, 4, loc_none()), 0);
    tr_add(m, &layer_type_dense, "h", (const char *[]){"in"}, 1, 16, ACT_RELU);
    layer *o = tr_add(m, &layer_type_output, "out", (const char *[]){"h"}, 1, 3, ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    tr_params(m, NULL, "", 2024);
    tr_set_updater(m, UPD_ADAM, 0.01);

    char *pbuf = NULL, *lbuf = NULL;
    size_t plen = 0, llen = 0;
    FILE *pf = open_memstream(&pbuf, &plen), *lf = open_memstream(&lbuf, &llen);
    train_options opt;
    train_options_init(&opt);
    opt.epochs = 40;
    opt.data_name = "iris";
    opt.progress = pf;
    opt.progress_mode = TRAIN_PROGRESS_LINES;
    opt.log = lf;
    train_source src = {.ctx = &s, .reset = tr_iris_reset, .next = tr_iris_next,
                        .examples_per_epoch = 150};
    train_result r;
    cr_assert_eq(train_fit(m, &src, &opt, &r, NULL), 0);
    train_options_release(&opt);
    fclose(pf);
    fclose(lf);
    cr_assert_eq(r.epochs, 40);
    cr_assert_eq(r.iterations, 40 * 10);
    cr_assert_eq(r.examples, 40 * 150);
    cr_assert_lt(r.last_epoch_loss, 0.3);
    /* one progress line per epoch, one JSON line per batch */
    int lines = 0;
    for (char *p = pbuf; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 40, "%s", pbuf);
    cr_assert_not_null(strstr(pbuf, "fit iris: epoch 40/40  loss "));
    lines = 0;
    for (char *p = lbuf; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 400);
    cr_assert_not_null(strstr(lbuf, "{\"iteration\":400,\"epoch\":40,\"loss\":"));
    free(pbuf);
    free(lbuf);

    tensor out = {0};
    char err[128];
    const tensor *in[1] = {&s.x};
    cr_assert_eq(model_predict(m, in, &out, err, sizeof err), 0, "%s", err);
    int correct = 0;
    for (int i = 0; i < 150; i++) {
        int best = 0;
        for (int c = 1; c < 3; c++)
            if (out.data[i * 3 + c] > out.data[i * 3 + best])
                best = c;
        correct += s.y.data[i * 3 + best] == 1.0f;
    }
    cr_assert_geq(correct, 135, "training accuracy %d/150", correct);
    tensor_release(&out);
    tensor_release(&s.x);
    tensor_release(&s.y);
    tensor_release(&s.bx);
    tensor_release(&s.by);
    model_free(m);
}

Test(train_fit, iterations_mode_stops_exactly)
{
    tr_iris s = {0};
    cr_assert_eq(tensor_alloc2(&s.x, 150, 4), 0);
    cr_assert_eq(tensor_alloc2(&s.y, 150, 3), 0);
    for (int i = 0; i < 150; i++)
        s.y.data[i * 3 + i % 3] = 1.0f;
    model *m = model_new("it");
    cr_assert_eq(model_add_input(m, "in", INPUT_FEED_FORWARD, 4, loc_none()), 0);
    layer *o = tr_add(m, &layer_type_output, "out", (const char *[]){"in"}, 1, 3, ACT_SOFTMAX);
    o->loss = LOSS_MCXENT;
    model_set_outputs(m, (const char *[]){"out"}, 1);
    tr_params(m, NULL, "", 1);
    train_options opt;
    train_options_init(&opt);
    opt.iterations = 25;   /* 10 batches per epoch: two epochs and 5 batches */
    char *pbuf = NULL;
    size_t plen = 0;
    FILE *pf = open_memstream(&pbuf, &plen);
    opt.progress = pf;
    opt.progress_mode = TRAIN_PROGRESS_LIVE;
    opt.data_name = "it";
    train_source src = {.ctx = &s, .reset = tr_iris_reset, .next = tr_iris_next,
                        .examples_per_epoch = 150};
    train_result r;
    cr_assert_eq(train_fit(m, &src, &opt, &r, NULL), 0);
    fclose(pf);
    /* the live line: rewritten with \r, epoch, batch, loss, rate and ETA; a final newline */
    cr_assert_not_null(strstr(pbuf, "\rfit it: epoch 1  batch 1  loss "), "%s", pbuf);
    cr_assert_not_null(strstr(pbuf, " ex/s  ETA "), "%s", pbuf);
    cr_assert_not_null(strstr(pbuf, "\rfit it: epoch 3  loss "), "%s", pbuf);
    cr_assert_eq(pbuf[plen - 1], '\n');
    free(pbuf);
    cr_assert_eq(r.iterations, 25);
    cr_assert_eq(r.epochs, 2);
    cr_assert_eq(m->iteration_count, 25);
    cr_assert_eq(m->epoch_count, 2);
    train_options_release(&opt);
    tensor_release(&s.x);
    tensor_release(&s.y);
    tensor_release(&s.bx);
    tensor_release(&s.by);
    model_free(m);
}
