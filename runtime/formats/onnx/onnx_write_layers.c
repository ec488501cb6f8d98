/* onnx_write_layers.c: the ONNX operators of the feed-forward and recurrent layer types
 * (dense, output, rnn_output, activation, dropout, embedding, flatten, the vertices merge,
 * add, average and multiply, lstm, graves_lstm and bidirectional); docs/format.md ("ONNX writing") lists them. */
#include "runtime/formats/onnx/onnx_write_impl.h"

#include <string.h>

#include "runtime/formats/onnx/onnx_lstm.h"
#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "runtime/nn/layer_option.h"

static int rank_of(const act_shape *s)
{
    return s->kind == SHAPE_CNN ? 4 : s->kind == SHAPE_RNN ? 3 : 2;
}

/* The activation of L from pre to out over values of shape s: (log_)softmax of convolutional
 * activations runs over each example's C * H * W features, as surgery's does. */
static int activation_of(ow_ctx *c, activation_kind k, act_params p, const char *pre,
                         const char *out, const act_shape *s)
{
    if (!act_is_row_wise(k) || s->kind != SHAPE_CNN)
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

/* One ONNX LSTM node over x writing y [T, dirs, N, H]: the parameters of each direction d
 * (keys[d]: W, RW, b) re-ordered to gates i, o, f, c and stacked forward then reverse;
 * B = [Wb, 0]; graves' peepholes as P; one direction is "reverse" for a layer with reverse. */
/* initial_h and initial_c of a layer with h0 and c0: each a constant [1, 1, H] expanded to
 * [1, N, H], N the batch size (axis 1 of the time-major sequence x). */
static int lstm_state_inputs(ow_ctx *c, const layer *L, const char *x, const char **state)
{
    const int64_t h = L->n_out, one = 1, d3[3] = {1, 1, h};
    const char *shape = ow_tmp(c, "x_shape"), *batch = ow_tmp(c, "batch");
    ow_node1(c, "Shape", x, shape);
    const char *g[2] = {shape, ow_ints(c, ow_tmp(c, "batch_axis"), &one, 1)};
    ow_attr_int(c, ow_node(c, "Gather", g, 2, batch), "axis", 0);
    const char *cat[3] = {ow_ints(c, ow_tmp(c, "one"), &one, 1), batch,
                          ow_ints(c, ow_tmp(c, "hidden"), &h, 1)};
    const char *full = ow_tmp(c, "state_shape");
    ow_attr_int(c, ow_node(c, "Concat", cat, 3, full), "axis", 0);
    static const char *const keys[2] = {"h0", "c0"}, *const names[2] = {"initial_h", "initial_c"};
    for (int j = 0; j < 2; j++) {
        const float *v = ow_param_data(c, L, keys[j]);
        if (!v)
            return -1;
        const char *e[2] = {ow_floats(c, ow_strf(c, "%s.onnx_%s", L->name, keys[j]), v, 3, d3),
                            full};
        state[j] = ow_tmp(c, names[j]);
        ow_node(c, "Expand", e, 2, state[j]);
    }
    return c->failed ? -1 : 0;
}

static int lstm_node(ow_ctx *c, const layer *L, const char *x, int dirs, bool peep,
                     const char *const (*keys)[3], const char *y)
{
    const int64_t h = L->n_out, in = L->n_in;
    float a[2] = {0}, bt[2] = {0};
    int np = 0;
    const char *act = lstm_activation(L->activation, act_alpha(L->activation, L->alpha), &a[0],
                                      &bt[0], &np);
    if (!act)
        return ow_fail(c, "layer '%s': an LSTM with activation %s has no ONNX form", L->name,
                       activation_names[L->activation]);
    const int64_t nw = 4 * h * in, nr = 4 * h * h, nb = 8 * h, np3 = 3 * h;
    float *w = ow_alloc(c, (size_t)(dirs * nw + 1) * sizeof(float));
    float *r = ow_alloc(c, (size_t)(dirs * nr + 1) * sizeof(float));
    float *bb = ow_alloc(c, (size_t)(dirs * nb) * sizeof(float));
    float *pp = ow_alloc(c, (size_t)(dirs * np3 + 1) * sizeof(float));
    if (!w || !r || !bb || !pp)
        return ow_fail(c, "out of memory");
    for (int d = 0; d < dirs; d++) {
        const float *W = ow_param_data(c, L, keys[d][0]), *RW = ow_param_data(c, L, keys[d][1]);
        const float *b = L->has_bias ? ow_param_data(c, L, keys[d][2]) : NULL;
        if (!W || !RW || (L->has_bias && !b))
            return -1;
        onnx_lstm_weights ow;
        if (onnx_lstm_to_onnx(W, RW, b, in, h, peep, &ow) != 0)
            return ow_fail(c, "out of memory");
        memcpy(w + d * nw, ow.w, (size_t)nw * sizeof(float));
        memcpy(r + d * nr, ow.r, (size_t)nr * sizeof(float));
        if (b)
            memcpy(bb + d * nb, ow.b, (size_t)nb * sizeof(float));
        if (peep)
            memcpy(pp + d * np3, ow.p, (size_t)np3 * sizeof(float));
        onnx_lstm_weights_free(&ow);
    }
    int64_t dw[3] = {dirs, 4 * h, in}, dr[3] = {dirs, 4 * h, h}, db[2] = {dirs, nb},
            dp[2] = {dirs, np3};
    const char *args[8] = {x, ow_floats(c, ow_strf(c, "%s.onnx_W", L->name), w, 3, dw),
                           ow_floats(c, ow_strf(c, "%s.onnx_R", L->name), r, 3, dr), NULL,
                           NULL, NULL, NULL, NULL};
    int n_args = 3;
    if (L->has_bias) {
        args[3] = ow_floats(c, ow_strf(c, "%s.onnx_B", L->name), bb, 2, db);
        n_args = 4;
    }
    if (peep) {
        args[7] = ow_floats(c, ow_strf(c, "%s.onnx_P", L->name), pp, 2, dp);
        n_args = 8;
    }
    if (dirs == 1 && lstm_initial_state(L) && lstm_state_inputs(c, L, x, args + 5) != 0)
        return -1;
    if (args[5] && n_args < 7)
        n_args = 7;
    Onnx__NodeProto *n = ow_node(c, "LSTM", args, n_args, y);
    ow_attr_int(c, n, "hidden_size", h);
    if (dirs == 2)
        ow_attr_string(c, n, "direction", "bidirectional");
    else if (lstm_reversed(L))
        ow_attr_string(c, n, "direction", "reverse");
    if (L->activation != ACT_TANH) {
        /* f, g, h per direction; alpha and beta consumed in the order of the activations
         * that take them (g, then h, forward then reverse) */
        const char *acts[6] = {"Sigmoid", act, act, "Sigmoid", act, act};
        ow_attr_strings(c, n, "activations", acts, 3 * dirs);
        float al[4] = {a[0], a[0], a[0], a[0]}, be[4] = {bt[0], bt[0], bt[0], bt[0]};
        if (np >= 1)
            ow_attr_floats(c, n, "activation_alpha", al, 2 * dirs);
        if (np == 2)
            ow_attr_floats(c, n, "activation_beta", be, 2 * dirs);
    }
    return c->failed ? -1 : 0;
}

/* lstm, graves_lstm: ONNX LSTM over the time-major sequence, Y's direction axis squeezed. */
static int emit_lstm(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    static const char *const keys[1][3] = {{"W", "RW", "b"}};
    const char *y = ow_tmp(c, "Y");
    if (lstm_node(c, L, ins[0], 1, L->type == &layer_type_graves_lstm, keys, y) != 0)
        return -1;
    int64_t axis = 1;
    const char *sq[2] = {y, ow_ints(c, ow_tmp(c, "axes"), &axis, 1)};
    ow_node(c, "Squeeze", sq, 2, out);
    return 0;
}

/* bidirectional: one ONNX LSTM with direction "bidirectional" (Y [T, 2, N, H]); concat:
 * Transpose to [T, N, 2, H] and Reshape to [T, N, 2H] (forward first); add, mul, average:
 * Gather of each direction on axis 1 ([T, 1, N, H]), then Add, Mul, or Add and Mul by 0.5,
 * and Squeeze of axis 1. */
static int emit_bidirectional(ow_ctx *c, const layer *L, const char *const *ins,
                              const char *out)
{
    static const char *const keys[2][3] = {{"WF", "RWF", "bF"}, {"WB", "RWB", "bB"}};
    double cell[LOPT_MAX_VALUES] = {0}, mode[LOPT_MAX_VALUES] = {0};
    if (!ow_option(L, "layer", cell) || !ow_option(L, "mode", mode))
        return ow_fail(c, "layer '%s': a bidirectional layer without its layer or mode",
                       L->name);
    const char *y = ow_tmp(c, "Y");
    if (lstm_node(c, L, ins[0], 2, cell[0] == 1, keys, y) != 0)
        return -1;
    if (mode[0] == 0) {   /* concat */
        const char *tr = ow_tmp(c, "Y_t");
        int64_t perm[4] = {0, 2, 1, 3}, shape[3] = {0, 0, -1};
        ow_attr_ints(c, ow_node1(c, "Transpose", y, tr), "perm", perm, 4);
        const char *rs[2] = {tr, ow_ints(c, ow_tmp(c, "shape"), shape, 3)};
        ow_node(c, "Reshape", rs, 2, out);
        return c->failed ? -1 : 0;
    }
    const char *dir[2];
    for (int d = 0; d < 2; d++) {
        int64_t idx = d;
        dir[d] = ow_tmp(c, d ? "Y_reverse" : "Y_forward");
        const char *g[2] = {y, ow_ints(c, ow_tmp(c, d ? "reverse" : "forward"), &idx, 1)};
        ow_attr_int(c, ow_node(c, "Gather", g, 2, dir[d]), "axis", 1);
    }
    const char *joined = ow_tmp(c, "joined");
    if (mode[0] == 2) {
        ow_node(c, "Mul", dir, 2, joined);
    } else if (mode[0] == 1) {
        ow_node(c, "Add", dir, 2, joined);
    } else {
        const char *sum = ow_tmp(c, "sum");
        ow_node(c, "Add", dir, 2, sum);
        const char *half[2] = {sum, ow_scalar(c, 0.5f)};
        ow_node(c, "Mul", half, 2, joined);
    }
    int64_t axis = 1;
    const char *sq[2] = {joined, ow_ints(c, ow_tmp(c, "axes"), &axis, 1)};
    ow_node(c, "Squeeze", sq, 2, out);
    return c->failed ? -1 : 0;
}

/* multiply: Mul of two inputs, a chain of Mul for more. */
static int emit_multiply(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    if (L->n_inputs == 1) {
        ow_node1(c, "Identity", ins[0], out);
        return 0;
    }
    const char *acc = ins[0];
    for (int k = 1; k < L->n_inputs; k++) {
        const char *dst = k == L->n_inputs - 1 ? out : ow_tmp(c, ow_strf(c, "product%d", k));
        const char *two[2] = {acc, ins[k]};
        ow_node(c, "Mul", two, 2, dst);
        acc = dst;
    }
    return c->failed ? -1 : 0;
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
    if (t == &layer_type_bidirectional)
        return emit_bidirectional;
    if (t == &layer_type_multiply)
        return emit_multiply;
    return NULL;
}
