/* onnx_ops_dense.c: the ONNX operators on feature vectors: Gemm and MatMul (+ Add bias) as
 * dense layers, the activations (fused into their producer when they can be), Softmax and
 * LogSoftmax, Selu (its default constants),
 * Clip (clip(min, max) or the activation it equals) and HardSigmoid, Identity and Dropout,
 * Add and Sum as add vertices, Mul of two activations as a multiply vertex, Flatten and Reshape to [batch, features], Concat of features or channels as a
 * merge vertex, and Gather of an initializer's rows as an embedding. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx_mapper.h"
#include "runtime/nn/kernels/activation.h"

void onnx_activation(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out,
                     activation_kind k, double alpha)
{
    bool conv = onnx_fusable(x, &layer_type_conv2d) ||
                onnx_fusable(x, &layer_type_depthwise_conv2d);
    if ((onnx_fusable(x, &layer_type_dense) || (conv && !act_is_row_wise(k))) &&
        x->L->activation == ACT_IDENTITY) {
        x->L->activation = k;
        x->L->alpha = alpha;
        onnx_alias(out, x);
        return;
    }
    value *in[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, &layer_type_activation, in, 1, 0);
    L->activation = k;
    L->alpha = alpha;
    onnx_set_act(out, L, x->lay, x->size, x);
}

/* Gemm / MatMul: y = x W (+ b) with W = alpha * B' [K, N], b = beta * C. */
static void map_dense(mapper *mp, const Onnx__NodeProto *n, int idx, value *out, bool gemm)
{
    value *x = onnx_in(mp, n, 0), *w = onnx_in(mp, n, 1), *c = gemm ? onnx_in(mp, n, 2) : NULL;
    bool tb = gemm && onnx_attr_i(n, "transB", 0), ta = gemm && onnx_attr_i(n, "transA", 0);
    double alpha = gemm ? onnx_attr_f(n, "alpha", 1.0) : 1.0, beta = gemm ? onnx_attr_f(n, "beta", 1.0) : 1.0;
    if (!onnx_is_act(x) || !onnx_is_const(w) || !w->f || w->ndim != 2 || (c && (!onnx_is_const(c) || !c->f))) {
        onnx_unsupported(mp, idx, n, "needs an activation times a constant float matrix");
        return;
    }
    if (c && mp->opset < 7 && !onnx_attr_i(n, "broadcast", 0) && c->ndim != 2) {
        onnx_unsupported(mp, idx, n, "C must have the output's shape without broadcast = 1");
        return;
    }
    if (ta) {
        onnx_unsupported(mp, idx, n, "transA = 1 would transpose the batch axis of an activation");
        return;
    }
    int64_t K = tb ? w->dims[1] : w->dims[0], N = tb ? w->dims[0] : w->dims[1];
    if (K != x->size) {
        onnx_unsupported(mp, idx, n, "the input has %lld features but the weights take %lld",
                    (long long)x->size, (long long)K);
        return;
    }
    if (c && c->count != N && c->count != 1) {
        onnx_unsupported(mp, idx, n, "C has %lld values, not %lld or 1", (long long)c->count, (long long)N);
        return;
    }
    float *W = xmalloc((size_t)(K * N) * sizeof(float));
    for (int64_t r = 0; r < K; r++)
        for (int64_t q = 0; q < N; q++)
            W[r * N + q] = (float)(alpha * (tb ? w->f[q * K + r] : w->f[r * N + q]));
    value *in[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, &layer_type_dense, in, 1, N);
    L->activation = ACT_IDENTITY;
    L->has_bias = c != NULL || !gemm;
    onnx_give2(mp, L, "W", W, 2, K, N);
    free(W);
    if (c) {
        float *bv = xmalloc((size_t)N * sizeof(float));
        for (int64_t q = 0; q < N; q++)
            bv[q] = (float)(beta * c->f[c->count == 1 ? 0 : q]);
        onnx_give2(mp, L, "b", bv, 1, N, 0);
        free(bv);
    }
    onnx_set_act(out, L, x->lay, N, x);
    if (!gemm) {
        out->f = NULL;   /* MatMul: the bias follows in an Add, else zero */
        L->has_bias = true;
        float *z = calloc((size_t)N, sizeof(float));
        onnx_give2(mp, L, "b", z, 1, N, 0);
        free(z);
    }
    if (out->ndim < 2) {
        out->ndim = 2;
        out->dims[0] = SYM;
    }
    out->dims[out->ndim - 1] = N;
}

static void map_add(mapper *mp, const Onnx__NodeProto *n, int idx, value *out)
{
    value *a = onnx_in(mp, n, 0), *c = onnx_in(mp, n, 1);
    if (onnx_is_const(a) && onnx_is_act(c)) {
        value *t = a; a = c; c = t;
    }
    int n_acts = 0;
    value *acts[16];
    for (size_t j = 0; j < n->n_input && j < 16; j++) {
        value *v = onnx_in(mp, n, j);
        if (onnx_is_act(v))
            acts[n_acts++] = v;
    }
    if (n_acts == 1 && n->n_input == 1) {
        onnx_alias(out, acts[0]);   /* a Sum of one */
        return;
    }
    if (n_acts == (int)n->n_input && n_acts >= 2) {
        for (int k = 1; k < n_acts; k++)
            if (acts[k]->size != acts[0]->size || acts[k]->lay != acts[0]->lay ||
                memcmp(acts[k]->dims + 1, acts[0]->dims + 1,
                       (size_t)(acts[0]->ndim - 1) * sizeof(int64_t))) {
                onnx_unsupported(mp, idx, n, "its inputs differ in size or layout");
                return;
            }
        layer *L = onnx_add_layer(mp, n, idx, &layer_type_add, acts, n_acts, 0);
        onnx_set_act(out, L, acts[0]->lay, acts[0]->size, acts[0]);
        return;
    }
    if (!strcmp(n->op_type, "Add") && onnx_is_act(a) && onnx_is_const(c) && c->f && a->L &&
        a->L->type == &layer_type_dense && a->uses == 1 && !a->graph_output &&
        a->L->activation == ACT_IDENTITY && (c->count == a->size || c->count == 1)) {
        float *bv = xmalloc((size_t)a->size * sizeof(float));
        for (int64_t q = 0; q < a->size; q++)
            bv[q] = c->f[c->count == 1 ? 0 : q];
        onnx_give2(mp, a->L, "b", bv, 1, a->size, 0);
        free(bv);
        onnx_alias(out, a);
        return;
    }
    onnx_unsupported(mp, idx, n, "only a bias after MatMul/Gemm or a sum of activations is mapped");
}

/* Flatten (axis 1) or Reshape to [batch, features]: flat activations stay as they are, images
 * go through a flatten layer. */
static void map_flatten(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    value *s = onnx_in(mp, n, 1);
    bool flat = !strcmp(n->op_type, "Flatten") && onnx_axis(onnx_attr_i(n, "axis", 1), x->ndim) == 1;
    if (onnx_is_const(s) && s->i && s->count == 2) {
        int64_t b0 = s->i[0], b1 = s->i[1];
        flat = (b0 == SYM || b0 == 0 || b0 == -1 || b0 == x->dims[0]) &&
               (b1 == -1 || b1 == x->size) && !(b0 == -1 && b1 == -1);
    }
    if (!flat) {
        onnx_unsupported(mp, idx, n, "only flattening to [batch, features] is mapped");
        return;
    }
    if (x->lay == L_CHW) {
        value *in[1] = {x};
        layer *L = onnx_add_layer(mp, n, idx, &layer_type_flatten, in, 1, 0);
        onnx_set_act(out, L, L_FLAT, x->size, x);
    } else {
        onnx_alias(out, x);
    }
    out->ndim = 2;
    out->dims[1] = x->size;
}

/* Clip as relu6 ([0, 6]), hardtanh ([-1, 1]), relu ([0, none]), nothing (no bounds), else
 * clip(min, max) with a missing bound at the largest float of its sign (every finite value
 * passes it; a model file has no infinite numbers). */
static void map_clip(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    double lo = -INFINITY, hi = INFINITY;
    if (mp->opset < 11) {
        lo = onnx_attr_f(n, "min", -INFINITY);
        hi = onnx_attr_f(n, "max", INFINITY);
    } else {
        for (size_t j = 1; j < 3; j++) {
            value *b = onnx_in(mp, n, j);
            if (!b)
                continue;
            if (!onnx_is_const(b) || b->count != 1) {
                onnx_unsupported(mp, idx, n, "needs constant scalar bounds");
                return;
            }
            double v = b->f ? b->f[0] : (double)b->i[0];
            *(j == 1 ? &lo : &hi) = v;
        }
    }
    if (isnan(lo) || isnan(hi) || !(lo < hi)) {
        onnx_unsupported(mp, idx, n, "clips to [%g, %g]: clip(min, max) needs min < max", lo, hi);
        return;
    }
    activation_kind k = lo == 0 && hi == 6 ? ACT_RELU6 : lo == -1 && hi == 1 ? ACT_HARDTANH
                        : lo == 0 && isinf(hi) ? ACT_RELU : isinf(lo) && isinf(hi) ? ACT_IDENTITY
                        : ACT_CLIP;
    onnx_activation(mp, n, idx, x, out, k, 0);
    if (k == ACT_CLIP && out->L) {
        out->L->clip_min = isinf(lo) ? -FLT_MAX : lo;
        out->L->clip_max = isinf(hi) ? FLT_MAX : hi;
    }
}

/* Gather of rows of a float initializer [vocabulary, dims] by integer indices: embedding. */
static void map_embedding(mapper *mp, const Onnx__NodeProto *n, int idx, value *w, value *ix,
                          value *out)
{
    if (!w->f || w->ndim != 2 || onnx_attr_i(n, "axis", 0) != 0 || ix->lay != L_FLAT ||
        ix->size != 1 || ix->ndim >= MAXR) {
        onnx_unsupported(mp, idx, n, "only rows of a constant [vocabulary, dims] matrix picked "
                         "by one index per sample (an embedding) are mapped");
        return;
    }
    value *in[1] = {ix};
    layer *L = onnx_add_layer(mp, n, idx, &layer_type_embedding, in, 1, w->dims[1]);
    L->activation = ACT_IDENTITY;
    L->has_bias = false;
    L->n_in = w->dims[0];
    onnx_give2(mp, L, "W", w->f, 2, w->dims[0], w->dims[1]);
    onnx_set_act(out, L, L_FLAT, w->dims[1], ix);
    out->dims[out->ndim] = w->dims[1];
    out->ndim++;
}

bool onnx_ops_dense(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    const char *op = n->op_type;
    static const struct { const char *op; activation_kind k; double alpha; } acts[] = {
        {"Relu", ACT_RELU, 0}, {"LeakyRelu", ACT_LEAKYRELU, 0.01}, {"Elu", ACT_ELU, 1.0},
        {"Sigmoid", ACT_SIGMOID, 0}, {"Tanh", ACT_TANH, 0}, {"Softplus", ACT_SOFTPLUS, 0},
        {"HardSigmoid", ACT_HARDSIGMOID, 0}, {"Softsign", ACT_SOFTSIGN, 0}, {"Clip", ACT_COUNT, 0},
    };
    for (size_t k = 0; k < sizeof acts / sizeof *acts; k++) {
        if (strcmp(op, acts[k].op))
            continue;
        if (!onnx_is_act(x))
            return false;
        if (acts[k].k == ACT_COUNT) {
            map_clip(mp, n, idx, x, out);
            return true;
        }
        if (acts[k].k == ACT_HARDSIGMOID && (fabs(onnx_attr_f(n, "alpha", 0.2) - 0.2) > 1e-7 ||
                                             fabs(onnx_attr_f(n, "beta", 0.5) - 0.5) > 1e-7)) {
            onnx_unsupported(mp, idx, n, "surgery's hardsigmoid is max(0, min(1, 0.2 x + 0.5)): "
                             "alpha %g, beta %g differ", onnx_attr_f(n, "alpha", 0.2),
                             onnx_attr_f(n, "beta", 0.5));
            return true;
        }
        onnx_activation(mp, n, idx, x, out, acts[k].k, onnx_attr_f(n, "alpha", acts[k].alpha));
        return true;
    }
    bool log_softmax = !strcmp(op, "LogSoftmax");
    if ((log_softmax || !strcmp(op, "Softmax")) && onnx_is_act(x)) {
        int64_t axis = onnx_axis(onnx_attr_i(n, "axis", mp->opset >= 13 ? -1 : 1), x->ndim);
        if (x->lay != L_FLAT || !(axis == x->ndim - 1 && (x->ndim == 2 || mp->opset < 13)) ||
            (mp->opset < 13 && axis != 1)) {
            onnx_unsupported(mp, idx, n, "%s over axis %lld of a rank-%d tensor: only over "
                             "the features of a flat one", log_softmax ? "log_softmax" : "softmax",
                             (long long)axis, x->ndim);
            return true;
        }
        onnx_activation(mp, n, idx, x, out, log_softmax ? ACT_LOG_SOFTMAX : ACT_SOFTMAX, 0);
        return true;
    }
    if (!strcmp(op, "Selu") && onnx_is_act(x)) {
        /* ONNX's defaults are PyTorch's constants rounded to float */
        double a = onnx_attr_f(n, "alpha", SELU_ALPHA), g = onnx_attr_f(n, "gamma", SELU_SCALE);
        if (fabs(a - SELU_ALPHA) > 1e-6 || fabs(g - SELU_SCALE) > 1e-6) {
            onnx_unsupported(mp, idx, n, "surgery's selu has the fixed alpha %.9g and gamma "
                             "%.9g: alpha %g, gamma %g differ", (double)SELU_ALPHA,
                             (double)SELU_SCALE, a, g);
            return true;
        }
        onnx_activation(mp, n, idx, x, out, ACT_SELU, 0);
        return true;
    }
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
        value *tm = onnx_in(mp, n, 2);
        bool training = !strcmp(op, "Dropout") &&
                        ((mp->opset < 7 && !onnx_attr_i(n, "is_test", 0)) ||
                         (onnx_is_const(tm) && tm->count == 1 && (tm->i ? tm->i[0] : tm->f[0])) ||
                         (tm && !onnx_is_const(tm)));
        if (training) {
            onnx_unsupported(mp, idx, n, "dropout in training mode is random: export in "
                             "inference mode");
            return true;
        }
        if (x && x->kind != V_UNDEF && !(onnx_is_act(x) && !x->L && out->graph_output))
            onnx_alias(out, x);
        else if (x && onnx_is_act(x))
            onnx_activation(mp, n, idx, x, out, ACT_IDENTITY, 0);
        for (size_t j = 1; j < n->n_output; j++) {
            value *o = *n->output[j] ? onnx_find(mp, n->output[j]) : NULL;
            if (o && (o->uses || o->graph_output))
                onnx_unsupported(mp, idx, n, "the dropout mask is not mapped");
        }
        return true;
    }
    if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) {
        map_dense(mp, n, idx, out, !strcmp(op, "Gemm"));
        return true;
    }
    if (!strcmp(op, "Add") || !strcmp(op, "Sum")) {
        map_add(mp, n, idx, out);
        return true;
    }
    if ((!strcmp(op, "Flatten") || !strcmp(op, "Reshape")) && onnx_is_act(x) &&
        (x->lay == L_FLAT || x->lay == L_CHW)) {
        map_flatten(mp, n, idx, x, out);
        return true;
    }
    value *y = onnx_in(mp, n, 1);
    if (!strcmp(op, "Gather") && onnx_is_const(x) && onnx_is_act(y)) {
        map_embedding(mp, n, idx, x, y, out);
        return true;
    }
    if (!strcmp(op, "Concat") && onnx_is_act(x)) {
        value *ins[16];
        int cnt = 0;
        int64_t total = 0;
        for (size_t j = 0; j < n->n_input && j < 16; j++) {
            value *v = onnx_in(mp, n, j);
            if (!onnx_is_act(v) || v->lay != x->lay || v->ndim != x->ndim ||
                (x->lay == L_CHW && (v->dims[2] != x->dims[2] || v->dims[3] != x->dims[3]))) {
                onnx_unsupported(mp, idx, n, "mixes constants and activations, or activations "
                                 "of other shapes");
                return true;
            }
            ins[cnt++] = v;
            total += v->size;
        }
        int64_t axis = onnx_axis(onnx_attr_i(n, "axis", 1), x->ndim);
        if ((x->lay != L_FLAT && x->lay != L_CHW) || (x->lay == L_FLAT && x->ndim != 2) ||
            axis != 1 || n->n_input > 16) {
            onnx_unsupported(mp, idx, n, "only concatenating the features of flat activations "
                             "or the channels of images is mapped");
            return true;
        }
        layer *L = onnx_add_layer(mp, n, idx, &layer_type_merge, ins, cnt, 0);
        onnx_set_act(out, L, x->lay, total, x);
        out->dims[1] = x->lay == L_CHW ? total / (x->dims[2] * x->dims[3]) : total;
        return true;
    }
    if (!strcmp(op, "Mul") && onnx_is_act(x) && onnx_is_act(y)) {
        if (x->size != y->size || x->lay != y->lay || x->ndim != y->ndim ||
            memcmp(x->dims + 1, y->dims + 1, (size_t)(x->ndim - 1) * sizeof(int64_t))) {
            onnx_unsupported(mp, idx, n, "multiplies activations of other shapes (no "
                             "broadcasting product)");
            return true;
        }
        value *ins[2] = {x, y};
        layer *L = onnx_add_layer(mp, n, idx, &layer_type_multiply, ins, 2, 0);
        onnx_set_act(out, L, x->lay, x->size, x);
        return true;
    }
    return false;
}
