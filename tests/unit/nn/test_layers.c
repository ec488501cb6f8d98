/* test_layers.c: layer forward passes, every activation and every loss against PyTorch
 * references (tests/data/layers, from tools/gen_golden_layers.py), max abs diff <= 1e-5. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/tensor/tensor.h"

#define TOL 1e-5
#define GOLD_MAX 16

typedef struct golden {
    int n;
    char name[GOLD_MAX][32];
    bool is_scalar[GOLD_MAX];
    double scalar[GOLD_MAX];
    tensor t[GOLD_MAX];
} golden;

static void gold_free(golden *g)
{
    for (int i = 0; i < g->n; i++)
        tensor_release(&g->t[i]);
    g->n = 0;
}

static void gold_load(golden *g, const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/layers/%s.txt", file);
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char word[32];
    while (fscanf(f, "%31s", word) == 1) {
        if (word[0] == '#') {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            continue;
        }
        cr_assert(g->n < GOLD_MAX, "too many items in %s", path);
        int i = g->n++;
        if (strcmp(word, "scalar") == 0) {
            cr_assert_eq(fscanf(f, "%31s %lf", g->name[i], &g->scalar[i]), 2);
            g->is_scalar[i] = true;
            continue;
        }
        cr_assert_str_eq(word, "tensor", "bad item '%s' in %s", word, path);
        int ndim;
        int64_t shape[TENSOR_MAX_DIMS];
        cr_assert_eq(fscanf(f, "%31s %d", g->name[i], &ndim), 2);
        cr_assert(ndim >= 1 && ndim <= TENSOR_MAX_DIMS);
        for (int d = 0; d < ndim; d++) {
            long long v;
            cr_assert_eq(fscanf(f, "%lld", &v), 1);
            shape[d] = v;
        }
        cr_assert_eq(tensor_alloc(&g->t[i], ndim, shape), 0);
        for (int64_t k = 0; k < g->t[i].size; k++) {
            double v;
            cr_assert_eq(fscanf(f, "%lf", &v), 1, "short data in %s", path);
            g->t[i].data[k] = (float)v;
        }
    }
    fclose(f);
}

static const tensor *gold_t(golden *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (!g->is_scalar[i] && strcmp(g->name[i], name) == 0)
            return &g->t[i];
    cr_assert_fail("no tensor '%s' in the golden file", name);
    return NULL;
}

static double gold_s(golden *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->is_scalar[i] && strcmp(g->name[i], name) == 0)
            return g->scalar[i];
    cr_assert_fail("no scalar '%s' in the golden file", name);
    return 0;
}

static void expect_close(const tensor *got, const tensor *want, const char *what)
{
    cr_assert_eq(got->size, want->size, "%s: size %lld, want %lld", what, (long long)got->size,
                 (long long)want->size);
    double d = tensor_max_abs_diff(got, want);
    cr_expect(d <= TOL, "%s: max abs diff %g > %g", what, d, TOL);
}

/* A layer of `type` on one input of the given shape, params copied from the golden file. */
static layer *make_layer(const layer_type *type, act_shape in, int64_t n_out, activation_kind act,
                         golden *g)
{
    layer *L = layer_new(type, "l");
    cr_assert_not_null(L);
    L->n_out = n_out;
    L->activation = act;
    act_shape out;
    char msg[200] = "";
    if (type->flags & LT_INDEX_INPUT)
        L->n_in = gold_t(g, "W")->shape[0];
    cr_assert_eq(type->infer(L, &in, 1, &out, msg, sizeof msg), 0, "infer: %s", msg);
    if (type->param_specs) {
        param_spec specs[LAYER_MAX_PARAMS];
        L->n_params = type->param_specs(L, specs);
        for (int k = 0; k < L->n_params; k++) {
            const tensor *src = gold_t(g, specs[k].key);
            cr_assert_eq(src->size, shape_count(specs[k].ndim, specs[k].shape));
            cr_assert_eq(tensor_copy(&L->params[k], src), 0);
        }
    }
    return L;
}

static void alloc_like(tensor *t, const tensor *like)
{
    cr_assert_eq(tensor_alloc(t, like->ndim, like->shape), 0);
}

static void run_forward(layer *L, const tensor *x, tensor *out, bool training)
{
    const tensor *in[1] = {x};
    fwd_ctx c = {.in = in, .n_in = 1, .out = out, .training = training};
    cr_assert_eq(L->type->forward(L, &c), 0);
}

static void dense_golden(const char *file, activation_kind act, shape_kind kind)
{
    golden g;
    gold_load(&g, file);
    const tensor *x = gold_t(&g, "x"), *want = gold_t(&g, "out");
    act_shape in = {.kind = kind, .size = x->shape[x->ndim - 1]};
    layer *L = make_layer(&layer_type_dense, in, want->shape[want->ndim - 1], act, &g);
    tensor out;
    alloc_like(&out, want);
    run_forward(L, x, &out, false);
    expect_close(&out, want, file);
    tensor_release(&out);
    layer_free(L);
    gold_free(&g);
}

Test(layers, dense_feed_forward) { dense_golden("dense_ff", ACT_SIGMOID, SHAPE_FF); }
Test(layers, dense_per_time_step) { dense_golden("dense_rnn", ACT_RELU, SHAPE_RNN); }

/* The dense backward ADDS into din and the weight gradients, computes into a scratch buffer
 * the layer keeps (the same memory on every call at one size), and applies no dropout of its
 * own: the trainer drops a layer's inputs (train.c). */
Test(layers, dense_backward_adds_and_reuses_its_scratch)
{
    enum { B = 3, NI = 4, NO = 2 };
    layer *L = layer_new(&layer_type_dense, "d");
    cr_assert_not_null(L);
    L->n_out = NO;
    L->activation = ACT_TANH;
    L->train.dropout = 0.5;
    act_shape in = {.kind = SHAPE_FF, .size = NI}, out;
    char msg[200] = "";
    cr_assert_eq(layer_type_dense.infer(L, &in, 1, &out, msg, sizeof msg), 0, "%s", msg);
    param_spec specs[LAYER_MAX_PARAMS];
    L->n_params = layer_type_dense.param_specs(L, specs);
    for (int k = 0; k < L->n_params; k++) {
        cr_assert_eq(tensor_alloc(&L->params[k], specs[k].ndim, specs[k].shape), 0);
        cr_assert_eq(tensor_alloc(&L->grads[k], specs[k].ndim, specs[k].shape), 0);
        for (int64_t e = 0; e < L->params[k].size; e++)
            L->params[k].data[e] = (float)(0.1 * (double)((e * 7) % 11) - 0.5);
    }
    tensor x = {0}, y = {0}, yi = {0}, dy = {0}, din = {0};
    cr_assert_eq(tensor_alloc2(&x, B, NI), 0);
    cr_assert_eq(tensor_alloc2(&y, B, NO), 0);
    cr_assert_eq(tensor_alloc2(&yi, B, NO), 0);
    cr_assert_eq(tensor_alloc2(&dy, B, NO), 0);
    cr_assert_eq(tensor_alloc2(&din, B, NI), 0);
    for (int64_t e = 0; e < x.size; e++)
        x.data[e] = (float)(0.3 * (double)((e * 5) % 7) - 0.9);
    for (int64_t e = 0; e < dy.size; e++)
        dy.data[e] = (float)(0.25 * (double)(e % 5) - 0.5);
    rng r;
    rng_seed(&r, 1);
    const tensor *ins[1] = {&x};
    fwd_ctx fc = {.in = ins, .n_in = 1, .out = &y, .training = true, .rng = &r};
    cr_assert_eq(layer_type_dense.forward(L, &fc), 0);
    run_forward(L, &x, &yi, false);
    cr_assert_eq(tensor_max_abs_diff(&y, &yi), 0.0, "the layer dropped its own input");
    /* din = (dy * (1 - y^2)) W^T, added to what din holds */
    double want[B][NI];
    const float *W = L->params[0].data;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < NI; i++) {
            double acc = 0;
            for (int j = 0; j < NO; j++) {
                double yv = y.data[b * NO + j];
                acc += dy.data[b * NO + j] * (1 - yv * yv) * W[i * NO + j];
            }
            want[b][i] = acc;
        }
    for (int64_t e = 0; e < din.size; e++)
        din.data[e] = 1.0f;
    tensor *dins[1] = {&din};
    bwd_ctx bc = {.in = ins, .n_in = 1, .out = &y, .dout = &dy, .din = dins, .grads = L->grads};
    cr_assert_eq(layer_type_dense.backward(L, &bc), 0);
    const dense_state *st = L->state;
    cr_assert_not_null(st);
    const float *scratch = st->dz.data;
    cr_assert_not_null(scratch);
    float db_once = L->grads[1].data[0];
    cr_assert_eq(layer_type_dense.backward(L, &bc), 0);
    cr_assert_eq(((const dense_state *)L->state)->dz.data, scratch, "a new scratch buffer");
    for (int b = 0; b < B; b++)
        for (int i = 0; i < NI; i++)
            cr_assert_float_eq(din.data[b * NI + i], 1.0 + 2 * want[b][i], 1e-5,
                               "din[%d][%d]: %g, want %g", b, i, din.data[b * NI + i],
                               1.0 + 2 * want[b][i]);
    cr_assert_float_eq(L->grads[1].data[0], 2 * db_once, 1e-6);
    tensor_release(&x);
    tensor_release(&y);
    tensor_release(&yi);
    tensor_release(&dy);
    tensor_release(&din);
    layer_free(L);
}

static void output_golden(const layer_type *type, const char *file, shape_kind kind)
{
    golden g;
    gold_load(&g, file);
    const tensor *x = gold_t(&g, "x"), *want = gold_t(&g, "out"), *labels = gold_t(&g, "labels");
    act_shape in = {.kind = kind, .size = x->shape[x->ndim - 1]};
    layer *L = make_layer(type, in, want->shape[want->ndim - 1], ACT_SOFTMAX, &g);
    cr_assert_eq(L->loss, LOSS_MCXENT, "output layers default to mcxent");
    tensor out;
    alloc_like(&out, want);
    run_forward(L, x, &out, true);
    expect_close(&out, want, file);

    const float *mask = NULL;
    for (int i = 0; i < g.n; i++)
        if (!g.is_scalar[i] && strcmp(g.name[i], "mask") == 0)
            mask = g.t[i].data;
    double score = loss_layer_score(L, &out, labels, mask);
    cr_expect(fabs(score - gold_s(&g, "score")) <= TOL, "%s score %.9g, want %.9g", file, score,
              gold_s(&g, "score"));

    tensor grads[2], dx;
    alloc_like(&grads[0], gold_t(&g, "dW"));
    alloc_like(&grads[1], gold_t(&g, "db"));
    alloc_like(&dx, x);
    tensor *din[1] = {&dx};
    const tensor *ins[1] = {x};
    bwd_ctx b = {.in = ins, .n_in = 1, .out = &out, .dout = NULL, .din = din, .grads = grads,
                 .labels = labels, .label_mask = mask};
    cr_assert_eq(L->type->backward(L, &b), 0);
    expect_close(&grads[0], gold_t(&g, "dW"), "dW");
    expect_close(&grads[1], gold_t(&g, "db"), "db");
    expect_close(&dx, gold_t(&g, "dx"), "dx");
    tensor_release(&grads[0]);
    tensor_release(&grads[1]);
    tensor_release(&dx);
    tensor_release(&out);
    layer_free(L);
    gold_free(&g);
}

Test(layers, output_softmax_mcxent) { output_golden(&layer_type_output, "output", SHAPE_FF); }
Test(layers, rnn_output_with_label_mask) { output_golden(&layer_type_rnn_output, "rnn_output", SHAPE_RNN); }

static void merge_golden(const char *file, shape_kind kind)
{
    golden g;
    gold_load(&g, file);
    const tensor *a = gold_t(&g, "a"), *b = gold_t(&g, "b"), *want = gold_t(&g, "out");
    layer *L = layer_new(&layer_type_merge, "m");
    act_shape in[2] = {{.kind = kind, .size = a->shape[a->ndim - 1]},
                       {.kind = kind, .size = b->shape[b->ndim - 1]}};
    act_shape out;
    char msg[200];
    cr_assert_eq(L->type->infer(L, in, 2, &out, msg, sizeof msg), 0);
    cr_expect_eq(out.size, want->shape[want->ndim - 1]);
    cr_expect_eq(out.kind, kind);
    tensor o;
    alloc_like(&o, want);
    const tensor *ins[2] = {a, b};
    fwd_ctx c = {.in = ins, .n_in = 2, .out = &o};
    cr_assert_eq(L->type->forward(L, &c), 0);
    expect_close(&o, want, file);
    tensor_release(&o);
    layer_free(L);
    gold_free(&g);
}

Test(layers, merge_feed_forward) { merge_golden("merge_ff", SHAPE_FF); }
Test(layers, merge_recurrent) { merge_golden("merge_rnn", SHAPE_RNN); }

Test(layers, merge_refuses_mixed_kinds)
{
    layer *L = layer_new(&layer_type_merge, "m");
    act_shape in[2] = {{.kind = SHAPE_FF, .size = 3}, {.kind = SHAPE_RNN, .size = 2}};
    act_shape out;
    char msg[200] = "";
    cr_expect_eq(L->type->infer(L, in, 2, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "feed-forward") && strstr(msg, "recurrent"), "message: %s", msg);
    layer_free(L);
}

Test(layers, add_and_average_name_the_sizes)
{
    const layer_type *types[2] = {&layer_type_add, &layer_type_average};
    for (int i = 0; i < 2; i++) {
        layer *L = layer_new(types[i], "v");
        act_shape in[2] = {{.kind = SHAPE_FF, .size = 3}, {.kind = SHAPE_FF, .size = 4}};
        act_shape out;
        char msg[200] = "";
        cr_expect_eq(L->type->infer(L, in, 2, &out, msg, sizeof msg), -1);
        cr_expect(strstr(msg, "3, 4") != NULL, "message: %s", msg);
        layer_free(L);
    }
}

Test(layers, add_and_average_values)
{
    float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {0.5f, -1, 2, 0, 1, -6};
    tensor a = {.data = av, .ndim = 2, .shape = {2, 3}, .size = 6, .borrowed = true};
    tensor b = {.data = bv, .ndim = 2, .shape = {2, 3}, .size = 6, .borrowed = true};
    const tensor *ins[2] = {&a, &b};
    const layer_type *types[2] = {&layer_type_add, &layer_type_average};
    for (int i = 0; i < 2; i++) {
        layer *L = layer_new(types[i], "v");
        act_shape in[2] = {{.kind = SHAPE_FF, .size = 3}, {.kind = SHAPE_FF, .size = 3}}, out;
        char msg[200];
        cr_assert_eq(L->type->infer(L, in, 2, &out, msg, sizeof msg), 0);
        tensor o;
        cr_assert_eq(tensor_alloc2(&o, 2, 3), 0);
        fwd_ctx c = {.in = ins, .n_in = 2, .out = &o};
        cr_assert_eq(L->type->forward(L, &c), 0);
        for (int k = 0; k < 6; k++) {
            float want = (av[k] + bv[k]) * (i ? 0.5f : 1.0f);
            cr_expect_float_eq(o.data[k], want, 1e-6);
        }
        tensor_release(&o);
        layer_free(L);
    }
}

Test(layers, embedding_lookup)
{
    golden g;
    gold_load(&g, "embedding");
    const tensor *x = gold_t(&g, "x"), *want = gold_t(&g, "out");
    act_shape in = {.kind = SHAPE_FF, .size = 1};
    layer *L = make_layer(&layer_type_embedding, in, want->shape[1], ACT_IDENTITY, &g);
    tensor out;
    alloc_like(&out, want);
    run_forward(L, x, &out, false);
    expect_close(&out, want, "embedding");
    tensor_release(&out);
    layer_free(L);
    gold_free(&g);
}

Test(layers, embedding_index_out_of_range_is_an_error)
{
    golden g;
    gold_load(&g, "embedding");
    act_shape in = {.kind = SHAPE_FF, .size = 1};
    layer *L = make_layer(&layer_type_embedding, in, 4, ACT_IDENTITY, &g);
    float bad[3][2] = {{0, 6}, {1, -1}, {2, 1.5f}};
    for (int k = 0; k < 3; k++) {
        tensor x = {.data = bad[k], .ndim = 2, .shape = {2, 1}, .size = 2, .borrowed = true};
        tensor out;
        cr_assert_eq(tensor_alloc2(&out, 2, 4), 0);
        char err[200] = "";
        const tensor *ins[1] = {&x};
        fwd_ctx c = {.in = ins, .n_in = 1, .out = &out, .err = err, .err_len = sizeof err};
        cr_expect_eq(L->type->forward(L, &c), -1, "index %g accepted", (double)bad[k][1]);
        cr_expect(strstr(err, "[0, 6)") != NULL, "message: %s", err);
        tensor_release(&out);
    }
    layer_free(L);
    gold_free(&g);
}

Test(layers, embedding_needs_vocabulary_and_single_index)
{
    layer *L = layer_new(&layer_type_embedding, "e");
    L->n_out = 4;
    act_shape in = {.kind = SHAPE_FF, .size = 1}, out;
    char msg[200] = "";
    cr_expect_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "n_in") != NULL, "message: %s", msg);
    L->n_in = 10;
    in.size = 3;
    cr_expect_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "size 3") != NULL, "message: %s", msg);
    layer_free(L);
}

static void activation_golden(const char *file, activation_kind act)
{
    golden g;
    gold_load(&g, file);
    const tensor *x = gold_t(&g, "x"), *dy = gold_t(&g, "dy");
    act_params alpha = {.alpha = gold_s(&g, "alpha")};
    tensor y, dx;
    alloc_like(&y, x);
    alloc_like(&dx, x);
    act_forward(act, alpha, x->data, y.data, x->shape[0], x->shape[1]);
    expect_close(&y, gold_t(&g, "y"), file);
    act_backward(act, alpha, x->data, y.data, dy->data, dx.data, x->shape[0], x->shape[1]);
    expect_close(&dx, gold_t(&g, "dx"), file);
    /* in place: y may alias x, dx may alias dy */
    tensor z = {0};
    cr_assert_eq(tensor_copy(&z, x), 0);
    act_forward(act, alpha, z.data, z.data, x->shape[0], x->shape[1]);
    expect_close(&z, gold_t(&g, "y"), file);
    cr_assert_eq(tensor_copy(&z, dy), 0);
    act_backward(act, alpha, x->data, y.data, z.data, z.data, x->shape[0], x->shape[1]);
    expect_close(&z, gold_t(&g, "dx"), file);
    tensor_release(&z);
    tensor_release(&y);
    tensor_release(&dx);
    gold_free(&g);
}

Test(activations, identity) { activation_golden("act_identity", ACT_IDENTITY); }
Test(activations, relu) { activation_golden("act_relu", ACT_RELU); }
Test(activations, leakyrelu_default_alpha) { activation_golden("act_leakyrelu", ACT_LEAKYRELU); }
Test(activations, leakyrelu_alpha) { activation_golden("act_leakyrelu_0.2", ACT_LEAKYRELU); }
Test(activations, elu_default_alpha) { activation_golden("act_elu", ACT_ELU); }
Test(activations, elu_alpha) { activation_golden("act_elu_0.5", ACT_ELU); }
Test(activations, tanh) { activation_golden("act_tanh", ACT_TANH); }
Test(activations, sigmoid) { activation_golden("act_sigmoid", ACT_SIGMOID); }
Test(activations, hardsigmoid) { activation_golden("act_hardsigmoid", ACT_HARDSIGMOID); }
Test(activations, softmax) { activation_golden("act_softmax", ACT_SOFTMAX); }
Test(activations, softplus) { activation_golden("act_softplus", ACT_SOFTPLUS); }
Test(activations, gelu) { activation_golden("act_gelu", ACT_GELU); }

Test(activations, softmax_is_stable_for_large_inputs)
{
    float x[3] = {1000.0f, 1001.0f, 999.0f}, y[3];
    act_forward(ACT_SOFTMAX, (act_params){0}, x, y, 1, 3);
    float s = y[0] + y[1] + y[2];
    cr_expect_float_eq(s, 1.0f, 1e-6);
    cr_expect(y[1] > y[0] && y[0] > y[2] && isfinite(y[2]));
}

static void loss_golden(const char *file, loss_kind loss, activation_kind act)
{
    golden g;
    gold_load(&g, file);
    const tensor *z = gold_t(&g, "z"), *y = gold_t(&g, "labels");
    const int64_t rows = z->shape[0], cols = z->shape[1];
    cr_assert(loss_supports(loss, act), "%s should support %s", loss_names[loss],
              activation_names[act]);
    tensor p, dz;
    alloc_like(&p, z);
    alloc_like(&dz, z);
    act_forward(act, (act_params){0}, z->data, p.data, rows, cols);
    expect_close(&p, gold_t(&g, "p"), file);
    double score = loss_value(loss, act, p.data, y->data, NULL, rows, cols) / (double)rows;
    double want = gold_s(&g, "score");
    cr_expect(fabs(score - want) <= TOL * fmax(1.0, fabs(want)), "%s: score %.9g, want %.9g",
              file, score, want);
    loss_grad(loss, act, (act_params){0}, z->data, p.data, y->data, NULL, rows, cols, 1.0 / (double)rows, dz.data);
    expect_close(&dz, gold_t(&g, "dz"), file);
    tensor_release(&p);
    tensor_release(&dz);
    gold_free(&g);
}

Test(losses, mcxent_softmax) { loss_golden("loss_mcxent_softmax", LOSS_MCXENT, ACT_SOFTMAX); }
Test(losses, nll_softmax) { loss_golden("loss_negative_log_likelihood_softmax", LOSS_NLL, ACT_SOFTMAX); }
Test(losses, kl_softmax) { loss_golden("loss_kl_divergence_softmax", LOSS_KL, ACT_SOFTMAX); }
Test(losses, xent_sigmoid) { loss_golden("loss_xent_sigmoid", LOSS_XENT, ACT_SIGMOID); }
Test(losses, mse_identity) { loss_golden("loss_mse_identity", LOSS_MSE, ACT_IDENTITY); }
Test(losses, l1_identity) { loss_golden("loss_l1_identity", LOSS_L1, ACT_IDENTITY); }
Test(losses, hinge_identity) { loss_golden("loss_hinge_identity", LOSS_HINGE, ACT_IDENTITY); }
Test(losses, hinge_zero_one_labels) { loss_golden("loss_hinge_tanh_01", LOSS_HINGE, ACT_TANH); }
Test(losses, mcxent_sigmoid) { loss_golden("loss_mcxent_sigmoid", LOSS_MCXENT, ACT_SIGMOID); }
Test(losses, mse_sigmoid) { loss_golden("loss_mse_sigmoid", LOSS_MSE, ACT_SIGMOID); }
Test(losses, mse_gelu) { loss_golden("loss_mse_gelu", LOSS_MSE, ACT_GELU); }
Test(losses, l1_tanh) { loss_golden("loss_l1_tanh", LOSS_L1, ACT_TANH); }
Test(losses, xent_softmax) { loss_golden("loss_xent_softmax", LOSS_XENT, ACT_SOFTMAX); }
Test(losses, kl_sigmoid) { loss_golden("loss_kl_divergence_sigmoid", LOSS_KL, ACT_SIGMOID); }

/* log_softmax + negative_log_likelihood (PyTorch's LogSoftmax + NLLLoss) is softmax + mcxent:
 * the same score and the same gradient with respect to the pre-activation. */
Test(losses, nll_of_log_softmax_is_mcxent_of_softmax)
{
    enum { R = 3, C = 4 };
    const float z[R * C] = {0.5f, -1.2f, 2.0f, 0.1f, 3.0f, 2.9f, -0.4f, 0.0f,
                            -2.0f, 1.5f, 0.7f, -0.3f};
    const float y[R * C] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 0.25f, 0.75f, 0};
    float p[R * C], lp[R * C], dz[R * C], dlz[R * C];
    cr_assert(loss_supports(LOSS_NLL, ACT_LOG_SOFTMAX));
    cr_expect(!loss_supports(LOSS_MCXENT, ACT_LOG_SOFTMAX));
    cr_expect(!loss_supports(LOSS_KL, ACT_LOG_SOFTMAX));
    cr_expect(!loss_supports(LOSS_XENT, ACT_LOG_SOFTMAX));
    act_forward(ACT_SOFTMAX, (act_params){0}, z, p, R, C);
    act_forward(ACT_LOG_SOFTMAX, (act_params){0}, z, lp, R, C);
    double a = loss_value(LOSS_MCXENT, ACT_SOFTMAX, p, y, NULL, R, C);
    double b = loss_value(LOSS_NLL, ACT_LOG_SOFTMAX, lp, y, NULL, R, C);
    cr_expect(fabs(a - b) <= 1e-5 * fabs(a), "scores %.9g and %.9g", a, b);
    loss_grad(LOSS_MCXENT, ACT_SOFTMAX, (act_params){0}, z, p, y, NULL, R, C, 1.0 / R, dz);
    loss_grad(LOSS_NLL, ACT_LOG_SOFTMAX, (act_params){0}, z, lp, y, NULL, R, C, 1.0 / R, dlz);
    for (int i = 0; i < R * C; i++)
        cr_expect(fabsf(dz[i] - dlz[i]) <= 1e-6f, "dz[%d]: %g and %g", i, (double)dz[i],
                  (double)dlz[i]);
}

Test(losses, supports_table)
{
    cr_expect(loss_supports(LOSS_MCXENT, ACT_SOFTMAX));
    cr_expect(!loss_supports(LOSS_MCXENT, ACT_RELU));
    cr_expect(!loss_supports(LOSS_XENT, ACT_IDENTITY));
    cr_expect(loss_supports(LOSS_MSE, ACT_GELU));
    cr_expect(!loss_supports(LOSS_NONE, ACT_SOFTMAX));
    char buf[100];
    cr_expect_str_eq(loss_supported_list(LOSS_MCXENT, buf, sizeof buf), "sigmoid, softmax");
}

Test(losses, output_infer_refuses_unsupported_activation)
{
    layer *L = layer_new(&layer_type_output, "out");
    L->n_out = 3;
    L->activation = ACT_RELU;
    act_shape in = {.kind = SHAPE_FF, .size = 4}, out;
    char msg[200] = "";
    cr_expect_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "mcxent") && strstr(msg, "relu"), "message: %s", msg);
    layer_free(L);
}

Test(layers, defaults_follow_dl4j)
{
    struct { const char *type; activation_kind act; loss_kind loss; } want[] = {
        {"dense", ACT_SIGMOID, LOSS_NONE}, {"output", ACT_SOFTMAX, LOSS_MCXENT},
        {"rnn_output", ACT_SOFTMAX, LOSS_MCXENT}, {"lstm", ACT_TANH, LOSS_NONE},
        {"graves_lstm", ACT_TANH, LOSS_NONE}, {"activation", ACT_IDENTITY, LOSS_NONE},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const layer_type *t = layer_type_find(want[i].type);
        cr_assert_not_null(t, "%s not registered", want[i].type);
        layer *L = layer_new(t, "x");
        cr_expect_eq(L->activation, want[i].act, "%s activation", want[i].type);
        cr_expect_eq(L->loss, want[i].loss, "%s loss", want[i].type);
        cr_expect(L->has_bias);
        cr_expect_float_eq(L->forget_gate_bias, 1.0, 1e-12);
        layer_free(L);
    }
    cr_expect_null(layer_type_find("dens"));
    const char *names[64];
    cr_assert(layer_type_count <= 64);
    layer_type_names(names);
    cr_expect_str_eq(names[0], "dense");
}

Test(layers, clone_copies_parameters_and_inputs)
{
    layer *L = layer_new(&layer_type_dense, "d");
    const char *ins[2] = {"a", "b"};
    layer_set_inputs(L, ins, 1);
    L->n_in = 2;
    L->n_out = 3;
    cr_expect_eq(layer_param_count(L), 9);
    cr_expect_eq(layer_param_index(L, "b"), 1);
    cr_expect_eq(layer_param_index(L, "RW"), -1);
    L->n_params = 2;
    cr_assert_eq(tensor_alloc2(&L->params[0], 2, 3), 0);
    L->params[0].data[4] = 7.0f;
    layer *C = layer_clone(L);
    cr_assert_not_null(C);
    cr_expect_str_eq(C->inputs[0], "a");
    cr_expect_neq(C->params[0].data, L->params[0].data);
    cr_expect_float_eq(C->params[0].data[4], 7.0f, 0);
    layer_free(L);
    layer_free(C);
    layer_free(NULL);
    L = layer_new(&layer_type_dense, "nb");
    L->has_bias = false;
    L->n_in = 2;
    L->n_out = 3;
    cr_expect_eq(layer_param_count(L), 6);
    cr_expect_eq(layer_param_index(L, "b"), -1);
    layer_free(L);
}

Test(tensors, alloc_copy_and_overflow)
{
    tensor t, u = {0};
    int64_t huge[2] = {INT64_MAX / 2, 4};
    cr_expect_eq(tensor_alloc(&t, 2, huge), -1);
    cr_expect_null(t.data);
    cr_assert_eq(tensor_alloc3(&t, 2, 3, 4), 0);
    cr_expect_eq(t.size, 24);
    t.data[23] = 5.0f;
    cr_assert_eq(tensor_copy(&u, &t), 0);
    cr_expect(tensor_same_shape(&t, &u));
    cr_expect_float_eq(tensor_max_abs_diff(&t, &u), 0.0, 0);
    char buf[32];
    cr_expect_str_eq(shape_str(buf, sizeof buf, t.ndim, t.shape), "[2, 3, 4]");
    tensor b = {.data = t.data, .ndim = 1, .shape = {24}, .size = 24, .borrowed = true};
    cr_assert_eq(tensor_make_owned(&b), 0);
    cr_expect(!b.borrowed && b.data != t.data && b.data[23] == 5.0f);
    tensor_release(&b);
    tensor_release(&t);
    tensor_release(&u);
    tensor_release(&u);
}
