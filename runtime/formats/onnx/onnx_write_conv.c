/* onnx_write_conv.c: the ONNX operators of the convolutional layer types (conv2d,
 * depthwise_conv2d, separable_conv2d, subsampling, global_pooling, batch_norm, zero_padding,
 * cropping, upsampling); docs/format.md ("ONNX writing") lists them. */
#include "runtime/formats/onnx/onnx_write_impl.h"

#include <string.h>

#include "runtime/nn/kernels/conv.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer_option.h"

/* The explicit pads [top, left, bottom, right] of L's padding option over its input, for a
 * window kh x kw with strides and dilations as given: `same` as surgery computes it. */
static int pads_of(ow_ctx *c, const layer *L, const int64_t *k, const int64_t *s,
                   const int64_t *dil, int64_t groups, int64_t *pads)
{
    double p[LOPT_MAX_VALUES] = {PAD_VALID};
    ow_option(L, "padding", p);
    const act_shape *in = &L->in_shape;
    conv_geom g = {.c_in = in->c, .h_in = in->h, .w_in = in->w, .c_out = in->c,
                   .kh = k[0], .kw = k[1], .sh = s[0], .sw = s[1], .dh = dil[0], .dw = dil[1],
                   .groups = groups};
    int64_t sides[4] = {(int64_t)p[1], (int64_t)p[2], (int64_t)p[3], (int64_t)p[4]};
    char msg[256];
    if (p[0] == PAD_EXPLICIT) {
        memcpy(pads, sides, sizeof sides);
        return 0;
    }
    if (conv_geom_complete(&g, (int)p[0], sides, msg, sizeof msg) != 0)
        return ow_fail(c, "layer '%s': %s", L->name, msg);
    pads[0] = g.pt;
    pads[1] = g.pl;
    pads[2] = g.pb;
    pads[3] = g.pr;
    return 0;
}

static void pair_of(const layer *L, const char *name, int64_t def, int64_t *out)
{
    double v[LOPT_MAX_VALUES] = {(double)def, (double)def};
    ow_option(L, name, v);
    out[0] = (int64_t)v[0];
    out[1] = (int64_t)v[1];
}

/* One Conv node: x * W (+ b) with `groups`, into out; with geometry L's kernel, stride,
 * dilation and padding, else a 1 x 1 kernel (separable's pointwise stage). */
static int conv_node(ow_ctx *c, const layer *L, const char *x, const char *W, const char *b,
                     int64_t groups, bool geometry, const char *out)
{
    int64_t k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    if (geometry) {
        pair_of(L, "kernel", 1, k);
        pair_of(L, "stride", 1, s);
        pair_of(L, "dilation", 1, d);
        if (pads_of(c, L, k, s, d, groups, pads) != 0)
            return -1;
    }
    const char *ins[3] = {x, W, b};
    Onnx__NodeProto *n = ow_node(c, "Conv", ins, b ? 3 : 2, out);
    ow_attr_ints(c, n, "kernel_shape", k, 2);
    ow_attr_ints(c, n, "strides", s, 2);
    ow_attr_ints(c, n, "dilations", d, 2);
    ow_attr_ints(c, n, "pads", pads, 4);
    ow_attr_int(c, n, "group", groups);
    return 0;
}

static int activation_after(ow_ctx *c, const layer *L, const char *pre, const char *out)
{
    if (pre == out)
        return 0;
    return ow_activation(c, L->activation, layer_act_params(L), pre, out, 4);
}

static int emit_conv2d(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    double g = 1;
    ow_option(L, "groups", &g);
    const char *W = ow_param(c, L, "W"), *b = L->has_bias ? ow_param(c, L, "b") : NULL;
    if (!W || (L->has_bias && !b))
        return -1;
    const char *pre = L->activation == ACT_IDENTITY ? out : ow_tmp(c, "conv");
    if (conv_node(c, L, ins[0], W, b, (int64_t)g, true, pre) != 0)
        return -1;
    return activation_after(c, L, pre, out);
}

/* depthwise_conv2d: a Conv with group = the input's channels. */
static int emit_depthwise(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    const char *W = ow_param(c, L, "W"), *b = L->has_bias ? ow_param(c, L, "b") : NULL;
    if (!W || (L->has_bias && !b))
        return -1;
    const char *pre = L->activation == ACT_IDENTITY ? out : ow_tmp(c, "conv");
    if (conv_node(c, L, ins[0], W, b, L->in_shape.c, true, pre) != 0)
        return -1;
    return activation_after(c, L, pre, out);
}

/* separable_conv2d: the depthwise Conv (group = channels, no bias), then the pointwise 1 x 1
 * Conv with the bias. */
static int emit_separable(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    const char *W = ow_param(c, L, "W"), *pW = ow_param(c, L, "pW");
    const char *b = L->has_bias ? ow_param(c, L, "b") : NULL;
    if (!W || !pW || (L->has_bias && !b))
        return -1;
    const char *mid = ow_tmp(c, "depthwise");
    const char *pre = L->activation == ACT_IDENTITY ? out : ow_tmp(c, "pointwise");
    if (conv_node(c, L, ins[0], W, NULL, L->in_shape.c, true, mid) != 0 ||
        conv_node(c, L, mid, pW, b, 1, false, pre) != 0)
        return -1;
    return activation_after(c, L, pre, out);
}

/* subsampling: MaxPool, or AveragePool with count_include_pad = count_padding. */
static int emit_subsampling(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    double v[LOPT_MAX_VALUES] = {0};
    ow_option(L, "pooling", v);
    bool avg = (pool_kind)v[0] == POOL_AVG;
    int64_t k[2], s[2], d[2] = {1, 1}, pads[4];
    pair_of(L, "kernel", 2, k);
    pair_of(L, "stride", 2, s);
    if (pads_of(c, L, k, s, d, 1, pads) != 0)
        return -1;
    Onnx__NodeProto *n = ow_node1(c, avg ? "AveragePool" : "MaxPool", ins[0], out);
    ow_attr_ints(c, n, "kernel_shape", k, 2);
    ow_attr_ints(c, n, "strides", s, 2);
    ow_attr_ints(c, n, "pads", pads, 4);
    double ceil_mode = 0, count = 1;
    ow_option(L, "ceil_mode", &ceil_mode);
    ow_option(L, "count_padding", &count);
    if (ceil_mode)
        ow_attr_int(c, n, "ceil_mode", 1);
    if (avg)
        ow_attr_int(c, n, "count_include_pad", count != 0);
    return 0;
}

/* A reduction over axes, keepdims 0: ReduceMean and ReduceMax take their axes as an attribute
 * before opset 18 and as an input from it, ReduceSum as an input from opset 13. */
static void reduce(ow_ctx *c, const char *op, const char *x, const int64_t *axes, int n,
                   const char *out)
{
    bool as_input = !strcmp(op, "ReduceSum") || c->opset >= 18;
    const char *ins[2] = {x, as_input ? ow_ints(c, ow_tmp(c, "axes"), axes, n) : NULL};
    Onnx__NodeProto *node = ow_node(c, op, ins, as_input ? 2 : 1, out);
    if (!as_input)
        ow_attr_ints(c, node, "axes", axes, n);
    ow_attr_int(c, node, "keepdims", 0);
}

/* global_pooling: GlobalAveragePool / GlobalMaxPool then Flatten (ReduceSum over H, W for
 * sum); over time (recurrent input): ReduceMean / ReduceMax / ReduceSum over axis 0. */
static int emit_global_pooling(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    double v[LOPT_MAX_VALUES] = {0};
    ow_option(L, "pooling", v);
    pool_kind k = (pool_kind)v[0];
    static const char *const reduce_ops[POOL_KIND_COUNT] = {"ReduceMax", "ReduceMean", "ReduceSum"};
    if (L->in_shape.kind == SHAPE_RNN) {
        int64_t axis = 0;
        reduce(c, reduce_ops[k], ins[0], &axis, 1, out);
        return 0;
    }
    if (k == POOL_SUM) {
        int64_t axes[2] = {2, 3};
        reduce(c, "ReduceSum", ins[0], axes, 2, out);
        return 0;
    }
    const char *pooled = ow_tmp(c, "pooled");
    ow_node1(c, k == POOL_MAX ? "GlobalMaxPool" : "GlobalAveragePool", ins[0], pooled);
    ow_attr_int(c, ow_node1(c, "Flatten", pooled, out), "axis", 1);
    return 0;
}

/* batch_norm: BatchNormalization in its inference form (the running mean and variance);
 * locked gamma and beta become constant initializers. */
static int emit_batch_norm(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    double eps = 1e-5, lock = 0, gamma = 1, beta = 0;
    ow_option(L, "eps", &eps);
    ow_option(L, "lock_gamma_beta", &lock);
    ow_option(L, "gamma", &gamma);
    ow_option(L, "beta", &beta);
    const int64_t n = L->n_out;
    const char *sc, *bi;
    if (lock) {
        float *g = ow_alloc(c, (size_t)n * sizeof(float)), *b = ow_alloc(c, (size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++) {
            g[j] = (float)gamma;
            b[j] = (float)beta;
        }
        sc = ow_floats(c, ow_strf(c, "%s.locked_gamma", L->name), g, 1, &n);
        bi = ow_floats(c, ow_strf(c, "%s.locked_beta", L->name), b, 1, &n);
    } else {
        sc = ow_param(c, L, "gamma");
        bi = ow_param(c, L, "beta");
    }
    const char *mean = ow_param(c, L, "mean"), *var = ow_param(c, L, "var");
    if (!sc || !bi || !mean || !var)
        return -1;
    const char *args[5] = {ins[0], sc, bi, mean, var};
    Onnx__NodeProto *node = ow_node(c, "BatchNormalization", args, 5, out);
    ow_attr_float(c, node, "epsilon", (float)eps);
    return 0;
}

static void sides_of(const layer *L, const char *name, int64_t *s)
{
    double p[LOPT_MAX_VALUES] = {0};
    ow_option(L, name, p);
    for (int k = 0; k < 4; k++)
        s[k] = (int64_t)p[k + 1];
}

/* zero_padding: Pad (constant zeros) of H and W. */
static int emit_zero_padding(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    int64_t s[4];
    sides_of(L, "padding", s);
    int64_t pads[8] = {0, 0, s[0], s[1], 0, 0, s[2], s[3]};
    const char *args[2] = {ins[0], ow_ints(c, ow_tmp(c, "pads"), pads, 8)};
    ow_node(c, "Pad", args, 2, out);
    return 0;
}

/* cropping: Slice of H and W. */
static int emit_cropping(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    int64_t s[4];
    sides_of(L, "cropping", s);
    int64_t starts[2] = {s[0], s[1]}, ends[2] = {L->in_shape.h - s[2], L->in_shape.w - s[3]};
    int64_t axes[2] = {2, 3};
    const char *args[4] = {ins[0], ow_ints(c, ow_tmp(c, "starts"), starts, 2),
                           ow_ints(c, ow_tmp(c, "ends"), ends, 2),
                           ow_ints(c, ow_tmp(c, "axes"), axes, 2)};
    ow_node(c, "Slice", args, 4, out);
    return 0;
}

/* upsampling: Resize, nearest, by integer scales (asymmetric coordinates, floor). */
static int emit_upsampling(ow_ctx *c, const layer *L, const char *const *ins, const char *out)
{
    int64_t size[2];
    pair_of(L, "size", 2, size);
    float scales[4] = {1, 1, (float)size[0], (float)size[1]};
    int64_t four = 4;
    const char *args[3] = {ins[0], "", ow_floats(c, ow_tmp(c, "scales"), scales, 1, &four)};
    Onnx__NodeProto *n = ow_node(c, "Resize", args, 3, out);
    ow_attr_string(c, n, "mode", "nearest");
    ow_attr_string(c, n, "coordinate_transformation_mode", "asymmetric");
    ow_attr_string(c, n, "nearest_mode", "floor");
    return 0;
}

ow_emit_fn ow_emitter_conv(const layer_type *t)
{
    if (t == &layer_type_conv2d)
        return emit_conv2d;
    if (t == &layer_type_depthwise_conv2d)
        return emit_depthwise;
    if (t == &layer_type_separable_conv2d)
        return emit_separable;
    if (t == &layer_type_subsampling)
        return emit_subsampling;
    if (t == &layer_type_global_pooling)
        return emit_global_pooling;
    if (t == &layer_type_batch_norm)
        return emit_batch_norm;
    if (t == &layer_type_zero_padding)
        return emit_zero_padding;
    if (t == &layer_type_cropping)
        return emit_cropping;
    if (t == &layer_type_upsampling)
        return emit_upsampling;
    return NULL;
}
