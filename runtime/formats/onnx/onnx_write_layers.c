/* onnx_write_layers.c: the ONNX operators of the feed-forward and recurrent layer types
 * (dense, output, rnn_output, activation, dropout, embedding, flatten, the vertices merge,
 * add and average, lstm and graves_lstm); docs/format.md ("ONNX writing") lists them. */
#include "runtime/formats/onnx/onnx_write_impl.h"

#include <string.h>

#include "runtime/formats/onnx/onnx_lstm.h"
#include "runtime/nn/kernels/activation.h"

static int rank_of(const act_shape *s)
{
    return s->kind == SHAPE_CNN ? 4 : s->kind == SHAPE_RNN ? 3 : 2;
}

/* The activation of L from pre to out over values of shape s: softmax of convolutional
 * activations runs over each example's C * H * W features, as surgery's does. */
static int activation_of(ow_ctx *c, activation_kind k, act_params p, const char *pre,
                         const char *out, const act_shape *s)
{
    if (k != ACT_SOFTMAX || s->kind != SHAPE_CNN)
        return ow_activation(c, k, p, pre, out, rank_of(s));
    const char *flat = ow_tmp(c, "softmax_flat"), *sm = ow_tmp(c, "softmax");
    ow_attr_int(c, ow_node1(c, "Flatten", pre, flat), "axis", 1);
    ow_activation(c, k, p, flat, sm, 2);
    int64_t shape[4] = {-1, s->c, s->h, s->w};
    const char *ins[2] = {sm, ow_ints(c, ow_tmp(c, "shape"), shape, 4)};
    ow_node(c, "Reshape", ins, 2, out);
    return 0;
}

/* Where a layer's linear part writes: straight to out without an activation. */
static const char *linear_out(ow_ctx *c, const layer *L, const char *out)
{
    return L->activation == ACT_IDENTITY ? out : ow_tmp(c, "linear");
}

static int finish_activation(ow_ctx *c, const layer *L, const char *pre, const char *out)
{
    if (pre == out)
        return c->failed ? -1 : 0;
    act_shape s = L->out_shape;
    return activation_of(c, L->activation, layer_act_params(L), pre, out, &s);
}

/* dense, output, rnn_output: Gemm (x W + b) on [N, n] (Flatten first for convolutional
 * input), MatMul and Add on time-major sequences; then the activation. */
static int emit_dense(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    const char *x = ins[0];
    if (L->in_shape.kind == SHAPE_CNN) {
        const char *flat = ow_tmp(c, "flat");
        ow_attr_int(c, ow_node1(c, "Flatten", x, flat), "axis", 1);
        x = flat;
    }
    const char *W = ow_param(c, L, "W"), *b = L->has_bias ? ow_param(c, L, "b") : NULL;
    if (!W || (L->has_bias && !b))
        return -1;
    const char *pre = linear_out(c, L, out);
    if (L->in_shape.kind == SHAPE_RNN) {
        const char *mm = b ? ow_tmp(c, "matmul") : pre;
        const char *i1[2] = {x, W};
        ow_node(c, "MatMul", i1, 2, mm);
        if (b) {
            const char *i2[2] = {mm, b};
            ow_node(c, "Add", i2, 2, pre);
        }
    } else {
        const char *i1[3] = {x, W, b};
        ow_node(c, "Gemm", i1, b ? 3 : 2, pre);
    }
    return finish_activation(c, L, pre, out);
}

static int emit_activation(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    act_shape s = L->out_shape;
    return activation_of(c, L->activation, layer_act_params(L), ins[0], out, &s);
}

/* dropout: the inference form, ONNX Dropout without training_mode (the identity). */
static int emit_dropout(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    (void)L;
    ow_node1(c, "Dropout", ins[0], out);
    return 0;
}

/* embedding: Gather of W's rows by the indices (Cast to int64), the index axis squeezed,
 * then the bias and the activation. */
static int emit_embedding(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    const char *W = ow_param(c, L, "W"), *b = L->has_bias ? ow_param(c, L, "b") : NULL;
    if (!W || (L->has_bias && !b))
        return -1;
    const char *idx = ow_tmp(c, "indices"), *rows = ow_tmp(c, "rows");
    ow_attr_int(c, ow_node1(c, "Cast", ins[0], idx), "to", 7);
    const char *i1[2] = {W, idx};
    ow_node(c, "Gather", i1, 2, rows);
    int64_t axis = L->in_shape.kind == SHAPE_RNN ? 2 : 1;
    const char *pre = linear_out(c, L, out);
    const char *sq = b ? ow_tmp(c, "vectors") : pre;
    const char *i2[2] = {rows, ow_ints(c, ow_tmp(c, "axes"), &axis, 1)};
    ow_node(c, "Squeeze", i2, 2, sq);
    if (b) {
        const char *i3[2] = {sq, b};
        ow_node(c, "Add", i3, 2, pre);
    }
    return finish_activation(c, L, pre, out);
}

static int emit_flatten(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    if (L->in_shape.kind == SHAPE_CNN)
        ow_attr_int(c, ow_node1(c, "Flatten", ins[0], out), "axis", 1);
    else
        ow_node1(c, "Identity", ins[0], out);
    return 0;
}

/* merge: Concat over the feature axis (the last). */
static int emit_merge(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    Onnx__NodeProto *n = ow_node(c, "Concat", ins, L->n_inputs, out);
    act_shape s = L->out_shape;
    ow_attr_int(c, n, "axis", rank_of(&s) - 1);
    return 0;
}

/* add: Add of two inputs, Sum of more; average: Mean. */
static int emit_add(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    ow_node(c, L->n_inputs == 2 ? "Add" : L->n_inputs == 1 ? "Identity" : "Sum", ins,
            L->n_inputs, out);
    return 0;
}

static int emit_average(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    ow_node(c, L->n_inputs == 1 ? "Identity" : "Mean", ins, L->n_inputs, out);
    return 0;
}

/* The ONNX name of an LSTM's cell activation g = h, and how many of alpha, beta it takes. */
static const char *lstm_activation(activation_kind k, double alpha, float *a, float *b, int *n)
{
    *n = 0;
    switch (k) {
    case ACT_TANH: return "Tanh";
    case ACT_SIGMOID: return "Sigmoid";
    case ACT_RELU: return "Relu";
    case ACT_SOFTPLUS: return "Softplus";
    case ACT_IDENTITY: *a = 1.0f; *b = 0.0f; *n = 2; return "Affine";
    case ACT_LEAKYRELU: *a = (float)alpha; *n = 1; return "LeakyRelu";
    case ACT_ELU: *a = (float)alpha; *n = 1; return "Elu";
    case ACT_HARDSIGMOID: *a = 0.2f; *b = 0.5f; *n = 2; return "HardSigmoid";
    default: return NULL;
    }
}

bool ow_lstm_activation_ok(activation_kind k)
{
    float a = 0, b = 0;
    int n = 0;
    return lstm_activation(k, 0.0, &a, &b, &n) != NULL;
}

/* lstm, graves_lstm: ONNX LSTM over the time-major sequence (gates re-ordered to i, o, f, c;
 * B = [Wb, 0]; graves' peepholes as P), Y's direction axis squeezed. */
static int emit_lstm(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    const int64_t h = L->n_out, in = L->n_in;
    const bool peep = L->type == &layer_type_graves_lstm;
    const float *W = ow_param_data(c, L, "W"), *RW = ow_param_data(c, L, "RW");
    const float *b = L->has_bias ? ow_param_data(c, L, "b") : NULL;
    if (!W || !RW || (L->has_bias && !b))
        return -1;
    float a[2] = {0}, bt[2] = {0};
    int np = 0;
    const char *act = lstm_activation(L->activation, act_alpha(L->activation, L->alpha), &a[0],
                                      &bt[0], &np);
    if (!act)
        return ow_fail(c, "layer '%s': an LSTM with activation %s has no ONNX form", L->name,
                       activation_names[L->activation]);
    onnx_lstm_weights ow;
    if (onnx_lstm_to_onnx(W, RW, b, in, h, peep, &ow) != 0)
        return ow_fail(c, "out of memory");
    int64_t dw[3] = {1, 4 * h, in}, dr[3] = {1, 4 * h, h}, db[2] = {1, 8 * h}, dp[2] = {1, 3 * h};
    const char *args[8] = {ins[0], ow_floats(c, ow_strf(c, "%s.onnx_W", L->name), ow.w, 3, dw),
                           ow_floats(c, ow_strf(c, "%s.onnx_R", L->name), ow.r, 3, dr), NULL,
                           NULL, NULL, NULL, NULL};
    int n_args = 3;
    if (b) {
        args[3] = ow_floats(c, ow_strf(c, "%s.onnx_B", L->name), ow.b, 2, db);
        n_args = 4;
    }
    if (peep) {
        args[7] = ow_floats(c, ow_strf(c, "%s.onnx_P", L->name), ow.p, 2, dp);
        n_args = 8;
    }
    onnx_lstm_weights_free(&ow);
    const char *y = ow_tmp(c, "Y");
    Onnx__NodeProto *n = ow_node(c, "LSTM", args, n_args, y);
    ow_attr_int(c, n, "hidden_size", h);
    if (L->activation != ACT_TANH) {
        const char *acts[3] = {"Sigmoid", act, act};
        ow_attr_strings(c, n, "activations", acts, 3);
        /* consumed in the order of the activations that take them: g, then h */
        float al[2] = {a[0], a[0]}, be[2] = {bt[0], bt[0]};
        if (np >= 1)
            ow_attr_floats(c, n, "activation_alpha", al, 2);
        if (np == 2)
            ow_attr_floats(c, n, "activation_beta", be, 2);
    }
    int64_t axis = 1;
    const char *sq[2] = {y, ow_ints(c, ow_tmp(c, "axes"), &axis, 1)};
    ow_node(c, "Squeeze", sq, 2, out);
    return 0;
}

ow_emit_fn ow_emitter_layers(const layer_type *t)
{
    if (t == &layer_type_dense || t == &layer_type_output || t == &layer_type_rnn_output)
        return emit_dense;
    if (t == &layer_type_activation)
        return emit_activation;
    if (t == &layer_type_dropout)
        return emit_dropout;
    if (t == &layer_type_embedding)
        return emit_embedding;
    if (t == &layer_type_flatten)
        return emit_flatten;
    if (t == &layer_type_merge)
        return emit_merge;
    if (t == &layer_type_add)
        return emit_add;
    if (t == &layer_type_average)
        return emit_average;
    if (t == &layer_type_lstm || t == &layer_type_graves_lstm)
        return emit_lstm;
    return NULL;
}
