/* onnx_ops_conv.c: the ONNX operators on images (NCHW): Conv as conv2d (grouped) or
 * depthwise_conv2d, MaxPool and AveragePool as subsampling, GlobalAveragePool and GlobalMaxPool
 * as global_pooling, BatchNormalization as batch_norm, and Pad: folded into the convolution or
 * average pool that follows it, else a zero_padding layer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/onnx/onnx_mapper.h"
#include "runtime/nn/kernels/pool.h"

/* The largest kernel, stride, dilation or pad read (the layers' own option limit). */
#define WINDOW_MAX (1 << 20)

/* The 2-D window of a Conv or pool node: kernel, strides, dilations and the padding of each
 * side (top, left, bottom, right) with auto_pad resolved for input h x w. */
typedef struct window {
    int64_t k[2], s[2], d[2], pad[4];
} window;

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t lo, int64_t hi)
{
    return (in + lo + hi - d * (k - 1) - 1) / s + 1;
}

/* Reads the window attributes of node n for input x (the kernel from kernel_shape, or ks when
 * given: a Conv's weights); returns 0, or -1 after reporting the node. */
static int read_window(mapper *mp, const Onnx__NodeProto *n, int idx, const value *x,
                       const int64_t *ks, window *w)
{
    int64_t v[8];
    if (ks) {
        w->k[0] = ks[0];
        w->k[1] = ks[1];
    } else if (onnx_attr_ints(n, "kernel_shape", v, 8, 0, 0) != 2) {
        onnx_unsupported(mp, idx, n, "needs a 2-D kernel_shape");
        return -1;
    } else {
        w->k[0] = v[0];
        w->k[1] = v[1];
    }
    if (onnx_attr_ints(n, "strides", w->s, 2, 2, 1) != 2 ||
        onnx_attr_ints(n, "dilations", w->d, 2, 2, 1) != 2 ||
        onnx_attr_ints(n, "pads", w->pad, 4, 4, 0) != 4) {
        onnx_unsupported(mp, idx, n, "strides, dilations and pads must be 2-D");
        return -1;
    }
    for (int a = 0; a < 2; a++)
        if (w->k[a] < 1 || w->s[a] < 1 || w->d[a] < 1 || w->k[a] > WINDOW_MAX ||
            w->s[a] > WINDOW_MAX || w->d[a] > WINDOW_MAX) {
            onnx_unsupported(mp, idx, n, "kernel, strides and dilations must be 1 to %d",
                             WINDOW_MAX);
            return -1;
        }
    for (int a = 0; a < 4; a++)
        if (w->pad[a] < 0 || w->pad[a] > WINDOW_MAX) {
            onnx_unsupported(mp, idx, n, "pads must be 0 to %d", WINDOW_MAX);
            return -1;
        }
    /* ONNX [x1_begin, x2_begin, x1_end, x2_end] is surgery's [top, left, bottom, right] */
    const Onnx__AttributeProto *ap = onnx_attr(n, "auto_pad");
    const char *mode = ap && ap->has_s ? (const char *)ap->s.data : NULL;
    size_t ml = ap && ap->has_s ? ap->s.len : 0;
    if (mode && ml && !(ml == 6 && !memcmp(mode, "NOTSET", 6))) {
        bool valid = ml == 5 && !memcmp(mode, "VALID", 5);
        bool upper = ml == 10 && !memcmp(mode, "SAME_UPPER", 10);
        bool lower = ml == 10 && !memcmp(mode, "SAME_LOWER", 10);
        if (!valid && !upper && !lower) {
            onnx_unsupported(mp, idx, n, "auto_pad '%.*s' is not one of NOTSET, VALID, "
                             "SAME_UPPER, SAME_LOWER", (int)ml, mode);
            return -1;
        }
        for (int a = 0; a < 2; a++) {
            int64_t in = x->dims[2 + a], out = (in + w->s[a] - 1) / w->s[a];
            int64_t total = valid ? 0 : (out - 1) * w->s[a] + (w->k[a] - 1) * w->d[a] + 1 - in;
            if (total < 0)
                total = 0;
            int64_t small = total / 2, big = total - small;
            w->pad[a] = upper ? small : big;
            w->pad[2 + a] = upper ? big : small;
        }
    }
    for (int a = 0; a < 4; a++) {
        w->pad[a] += x->pads[a];   /* a Pad folded in */
        if (w->pad[a] < 0) {
            onnx_unsupported(mp, idx, n, "negative pads are not mapped");
            return -1;
        }
    }
    return 0;
}

/* Sets an option of L from its value as the model YAML writes it. */
static void option(mapper *mp, layer *L, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void option(mapper *mp, layer *L, const char *key, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    src_loc loc = {.file = mp->path};
    conf_value *v = conf_parse_text(text, loc, mp->d);
    if (!v || layer_set_option(L, key, loc, v, mp->d) != 0)
        mp->errors++;
    conf_value_free(v);
}

static void window_options(mapper *mp, layer *L, const window *w, bool dilation)
{
    option(mp, L, "kernel", "[%lld, %lld]", (long long)w->k[0], (long long)w->k[1]);
    option(mp, L, "stride", "[%lld, %lld]", (long long)w->s[0], (long long)w->s[1]);
    option(mp, L, "padding", "[%lld, %lld, %lld, %lld]", (long long)w->pad[0],
           (long long)w->pad[1], (long long)w->pad[2], (long long)w->pad[3]);
    if (dilation)
        option(mp, L, "dilation", "[%lld, %lld]", (long long)w->d[0], (long long)w->d[1]);
}

static void set_image(value *out, layer *L, const value *x, int64_t c, int64_t h, int64_t w)
{
    onnx_set_act(out, L, L_CHW, c * h * w, x);
    out->ndim = 4;
    out->dims[1] = c;
    out->dims[2] = h;
    out->dims[3] = w;
    memset(out->pads, 0, sizeof out->pads);
}

/* x's owed Pad zeros as a zero_padding layer named after node n, for a consumer that cannot
 * take them as its own padding. */
static value *settle(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *tmp)
{
    if (!x->pads[0] && !x->pads[1] && !x->pads[2] && !x->pads[3])
        return x;
    value *in[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, &layer_type_zero_padding, in, 1, 0);
    option(mp, L, "padding", "[%lld, %lld, %lld, %lld]", (long long)x->pads[0],
           (long long)x->pads[1], (long long)x->pads[2], (long long)x->pads[3]);
    *tmp = *x;
    tmp->name = x->name;
    set_image(tmp, L, x, x->dims[1], x->dims[2] + x->pads[0] + x->pads[2],
              x->dims[3] + x->pads[1] + x->pads[3]);
    return tmp;
}

static void map_conv(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    value *w = onnx_in(mp, n, 1), *b = onnx_in(mp, n, 2);
    if (!onnx_is_const(w) || !w->f || w->ndim != 4 || (b && (!onnx_is_const(b) || !b->f))) {
        onnx_unsupported(mp, idx, n, "needs constant float weights of rank 4 (a 2-D "
                         "convolution) and a constant bias");
        return;
    }
    int64_t groups = onnx_attr_i(n, "group", 1), c = x->dims[1], m = w->dims[0];
    if (groups < 1 || c % groups || m % groups || w->dims[1] != c / groups) {
        onnx_unsupported(mp, idx, n, "weights [%lld, %lld, ...] do not fit %lld input channels "
                         "in %lld groups", (long long)m, (long long)w->dims[1], (long long)c,
                         (long long)groups);
        return;
    }
    if (b && b->count != m) {
        onnx_unsupported(mp, idx, n, "the bias has %lld values for %lld filters",
                         (long long)b->count, (long long)m);
        return;
    }
    window win;
    if (read_window(mp, n, idx, x, w->dims + 2, &win))
        return;
    int64_t oh = conv_out(x->dims[2], win.k[0], win.s[0], win.d[0], win.pad[0], win.pad[2]);
    int64_t ow = conv_out(x->dims[3], win.k[1], win.s[1], win.d[1], win.pad[1], win.pad[3]);
    if (oh < 1 || ow < 1) {
        onnx_unsupported(mp, idx, n, "the kernel does not fit the %lld x %lld input",
                         (long long)x->dims[2], (long long)x->dims[3]);
        return;
    }
    bool depthwise = groups > 1 && groups == c;
    value *in[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, depthwise ? &layer_type_depthwise_conv2d
                                                    : &layer_type_conv2d, in, 1, m);
    L->activation = ACT_IDENTITY;
    L->has_bias = b != NULL;
    window_options(mp, L, &win, true);
    if (depthwise) {
        option(mp, L, "multiplier", "%lld", (long long)(m / c));
    } else if (groups > 1) {
        option(mp, L, "groups", "%lld", (long long)groups);
    }
    onnx_give(mp, L, "W", w->f, 4, w->dims);
    if (b)
        onnx_give2(mp, L, "b", b->f, 1, m, 0);
    set_image(out, L, x, m, oh, ow);
}

static void map_pool(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out,
                     bool max)
{
    for (size_t j = 1; j < n->n_output; j++) {
        value *o = *n->output[j] ? onnx_find(mp, n->output[j]) : NULL;
        if (o && (o->uses || o->graph_output)) {
            onnx_unsupported(mp, idx, n, "the indices output is not mapped");
            return;
        }
    }
    value tmp;
    bool own_pads = false, count_pad = !max && onnx_attr_i(n, "count_include_pad", 0);
    window win;
    if (read_window(mp, n, idx, x, NULL, &win))
        return;
    for (int a = 0; a < 4; a++)
        own_pads |= win.pad[a] != x->pads[a];
    /* max pads with -inf, and an average not counting its own pads cannot hold Pad's zeros */
    bool fold = !max && (count_pad || !own_pads);
    for (int a = 0; a < 4; a++)
        fold = fold && win.pad[a] < win.k[a % 2];
    if (!fold && (x->pads[0] || x->pads[1] || x->pads[2] || x->pads[3])) {
        x = settle(mp, n, idx, x, &tmp);
        if (read_window(mp, n, idx, x, NULL, &win))
            return;
    } else if (!own_pads && !max) {
        count_pad = true;   /* only Pad's zeros: counted, as the cells they are */
    }
    if (win.d[0] != 1 || win.d[1] != 1) {
        onnx_unsupported(mp, idx, n, "dilated pooling is not mapped");
        return;
    }
    bool ceil_mode = onnx_attr_i(n, "ceil_mode", 0) != 0;
    int64_t oh = pool_out_size(x->dims[2], win.k[0], win.s[0], win.pad[0], win.pad[2], ceil_mode);
    int64_t ow = pool_out_size(x->dims[3], win.k[1], win.s[1], win.pad[1], win.pad[3], ceil_mode);
    if (oh < 1 || ow < 1 || win.pad[0] >= win.k[0] || win.pad[2] >= win.k[0] ||
        win.pad[1] >= win.k[1] || win.pad[3] >= win.k[1]) {
        onnx_unsupported(mp, idx, n, "the window does not fit the input, or a pad is not "
                         "smaller than the kernel");
        return;
    }
    value *in[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, &layer_type_subsampling, in, 1, 0);
    option(mp, L, "pooling", "%s", max ? "max" : "avg");
    window_options(mp, L, &win, false);
    if (ceil_mode)
        option(mp, L, "ceil_mode", "true");
    if (!max)
        option(mp, L, "count_padding", "%s", count_pad ? "true" : "false");
    set_image(out, L, x, x->dims[1], oh, ow);
}

static void map_batch_norm(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    value *p[4];
    for (size_t j = 1; j < 5; j++) {
        p[j - 1] = onnx_in(mp, n, j);
        if (!onnx_is_const(p[j - 1]) || !p[j - 1]->f) {
            onnx_unsupported(mp, idx, n, "needs constant scale, B, mean and var");
            return;
        }
    }
    for (size_t j = 1; j < n->n_output; j++) {
        value *o = *n->output[j] ? onnx_find(mp, n->output[j]) : NULL;
        if (o && (o->uses || o->graph_output)) {
            onnx_unsupported(mp, idx, n, "the training outputs (running statistics) are not "
                             "mapped: export in inference mode");
            return;
        }
    }
    if (!onnx_attr_i(n, "spatial", 1)) {
        onnx_unsupported(mp, idx, n, "spatial = 0 (statistics per element, not per channel) is "
                         "not mapped");
        return;
    }
    bool image = x->lay == L_CHW;
    if (!image && (x->lay != L_FLAT || x->ndim != 2)) {
        onnx_unsupported(mp, idx, n, "normalises images (NCHW) or flat [batch, features] only");
        return;
    }
    int64_t ch = image ? x->dims[1] : x->size;
    for (int k = 0; k < 4; k++)
        if (p[k]->count != ch) {
            onnx_unsupported(mp, idx, n, "its parameters have %lld values for %lld channels",
                             (long long)p[k]->count, (long long)ch);
            return;
        }
    value tmp;
    x = settle(mp, n, idx, x, &tmp);
    value *in[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, &layer_type_batch_norm, in, 1, 0);
    option(mp, L, "eps", "%.9g", onnx_attr_f(n, "epsilon", 1e-5));
    double momentum = onnx_attr_f(n, "momentum", 0.9);
    if (momentum >= 0 && momentum < 1)
        option(mp, L, "decay", "%.9g", momentum);
    static const char *const keys[4] = {"gamma", "beta", "mean", "var"};
    for (int k = 0; k < 4; k++)
        onnx_give2(mp, L, keys[k], p[k]->f, 1, ch, 0);
    onnx_set_act(out, L, x->lay, x->size, x);
}

static void map_global_pool(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out,
                            bool max)
{
    value tmp;
    x = settle(mp, n, idx, x, &tmp);
    value *in[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, &layer_type_global_pooling, in, 1, 0);
    option(mp, L, "pooling", "%s", max ? "max" : "avg");
    /* [batch, C, 1, 1] as flat features: Flatten and Reshape then keep it as it is */
    onnx_set_act(out, L, L_FLAT, x->dims[1], x);
    out->dims[2] = out->dims[3] = 1;
}

/* Pad: zeros owed to a Conv or AveragePool that reads it alone (folded into its padding),
 * else a zero_padding layer. */
static void map_pad(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    int64_t pads[8];
    int np = 0;
    double cval = onnx_attr_f(n, "value", 0.0);
    const Onnx__AttributeProto *ma = onnx_attr(n, "mode");
    if (ma && ma->has_s && !(ma->s.len == 8 && !memcmp(ma->s.data, "constant", 8))) {
        onnx_unsupported(mp, idx, n, "only mode 'constant' (zeros) is mapped");
        return;
    }
    if (mp->opset < 11) {
        np = onnx_attr_ints(n, "pads", pads, 8, 0, 0);
    } else {
        value *p = onnx_in(mp, n, 1), *cv = onnx_in(mp, n, 2);
        if (!onnx_is_const(p) || !p->i || onnx_in(mp, n, 3)) {
            onnx_unsupported(mp, idx, n, "needs constant pads (and no axes)");
            return;
        }
        np = p->count == 8 ? 8 : -1;
        if (np == 8)
            memcpy(pads, p->i, sizeof pads);
        if (cv && (!onnx_is_const(cv) || cv->count > 1 || (cv->f && cv->f[0] != 0) ||
                   (cv->i && cv->i[0] != 0)))
            cval = 1;
    }
    if (np != 8 || pads[0] || pads[1] || pads[4] || pads[5] || cval != 0.0) {
        onnx_unsupported(mp, idx, n, "only zeros around the height and width of NCHW images "
                         "are mapped");
        return;
    }
    int64_t sides[4] = {pads[2], pads[3], pads[6], pads[7]};
    for (int a = 0; a < 4; a++)
        if (sides[a] < 0 || sides[a] > WINDOW_MAX) {
            onnx_unsupported(mp, idx, n, "pads must be 0 to %d (negative ones, cropping, are "
                             "not mapped)", WINDOW_MAX);
            return;
        }
    bool foldable = !out->graph_output && out->uses > 0 && !x->pads[0] && !x->pads[1] &&
                    !x->pads[2] && !x->pads[3];
    for (size_t k = 0; k < mp->g->n_node && foldable; k++) {
        const Onnx__NodeProto *c = mp->g->node[k];
        for (size_t j = 0; j < c->n_input; j++)
            if (!strcmp(c->input[j], out->name))
                foldable = j == 0 && (!strcmp(c->op_type, "Conv") ||
                                      !strcmp(c->op_type, "AveragePool"));
    }
    onnx_alias(out, x);
    memcpy(out->pads, sides, sizeof sides);
    if (!foldable) {
        value tmp;
        *out = *settle(mp, n, idx, out, &tmp);
    }
}

bool onnx_ops_conv(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    static const char *const ops[] = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                      "GlobalMaxPool", "BatchNormalization", "Pad", NULL};
    int op = -1;
    for (int k = 0; ops[k]; k++)
        if (!strcmp(n->op_type, ops[k]))
            op = k;
    if (op < 0)
        return false;
    if (op != 5 && (!onnx_is_act(x) || x->lay != L_CHW || x->ndim != 4)) {
        onnx_unsupported(mp, idx, n, "needs a 2-D image activation (NCHW)");
        return true;
    }
    if (op == 5 && !onnx_is_act(x)) {
        onnx_unsupported(mp, idx, n, "needs an activation");
        return true;
    }
    switch (op) {
    case 0: map_conv(mp, n, idx, x, out); break;
    case 1: map_pool(mp, n, idx, x, out, true); break;
    case 2: map_pool(mp, n, idx, x, out, false); break;
    case 3: map_global_pool(mp, n, idx, x, out, false); break;
    case 4: map_global_pool(mp, n, idx, x, out, true); break;
    case 5: map_batch_norm(mp, n, idx, x, out); break;
    default: map_pad(mp, n, idx, x, out); break;
    }
    return true;
}
