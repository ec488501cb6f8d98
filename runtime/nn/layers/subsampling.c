/* subsampling.c: windowed max or average pooling of convolutional activations (DL4J's
 * SubsamplingLayer): kernel, stride, padding (same, valid or explicit), ceil mode, and whether
 * average pooling counts the padded cells of a window. */
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option opt_pooling = {
    .name = "pooling", .kind = LOPT_ENUM, .names = pool_kind_names, .count = POOL_SUM,
    .from_name = pool_kind_from_name, .what = "pooling", .def = POOL_MAX,
    .write = LOPT_WRITE_ALWAYS, .set_rule = LOPT_SET_ALLOWED,
    .doc = "max or avg (also average) over each window"};
static const layer_option opt_kernel = {
    .name = "kernel", .kind = LOPT_INT_LIST, .len = 2, .items = "[height, width]", .lo = 1,
    .hi = 1 << 20, .defs = {2, 2}, .write = LOPT_WRITE_ALWAYS, .set_rule = LOPT_SET_RESHAPES,
    .doc = "the window: [height, width], or one number for both"};
static const layer_option opt_stride = {
    .name = "stride", .kind = LOPT_INT_LIST, .len = 2, .items = "[height, width]", .lo = 1,
    .hi = 1 << 20, .defs = {2, 2}, .write = LOPT_WRITE_ALWAYS, .set_rule = LOPT_SET_RESHAPES,
    .doc = "the step between windows: [height, width], or one number for both"};
static const layer_option opt_padding = {
    .name = "padding", .kind = LOPT_PADDING, .hi = 1 << 20, .defs = {PAD_VALID},
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_RESHAPES,
    .doc = "same, valid or [top, left, bottom, right]; padded cells never win a max"};
static const layer_option opt_ceil_mode = {
    .name = "ceil_mode", .kind = LOPT_BOOL, .def = 0, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_RESHAPES,
    .doc = "also a last partial window (PyTorch's ceil_mode); it must start inside the input"};
static const layer_option opt_count_padding = {
    .name = "count_padding", .kind = LOPT_BOOL, .def = 1, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_ALLOWED,
    .doc = "avg divides by the window's cells including padding (PyTorch's count_include_pad, "
           "DL4J's avgPoolIncludePadInDivisor); false: by its input cells (ONNX's default)"};

static const layer_option *const subsampling_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_pooling, &opt_kernel, &opt_stride,
    &opt_padding, &opt_ceil_mode, &opt_count_padding, NULL};

/* The geometry for input shape in; *kind the pooling. Returns 0 or -1 with msg. */
static int geometry(const layer *L, const act_shape *in, pool2d_geom *g, pool_kind *kind,
                    char *msg, size_t msg_len)
{
    double k[2], s[2], p[PADDING_VALUES], v;
    layer_option_get_values(&opt_kernel, L, k);
    layer_option_get_values(&opt_stride, L, s);
    layer_option_get_values(&opt_padding, L, p);
    layer_option_get_values(&opt_pooling, L, &v);
    *kind = (pool_kind)v;
    layer_option_get_values(&opt_ceil_mode, L, &v);
    bool ceil_mode = v != 0;
    layer_option_get_values(&opt_count_padding, L, &v);
    *g = (pool2d_geom){.c = in->c, .h = in->h, .w = in->w, .kh = (int64_t)k[0],
                       .kw = (int64_t)k[1], .sh = (int64_t)s[0], .sw = (int64_t)s[1],
                       .count_padding = v != 0};
    if (p[0] == PAD_EXPLICIT) {
        g->pt = (int64_t)p[1];
        g->pl = (int64_t)p[2];
        g->pb = (int64_t)p[3];
        g->pr = (int64_t)p[4];
        if (g->pt >= g->kh || g->pb >= g->kh || g->pl >= g->kw || g->pr >= g->kw)
            return layer_msg(msg, msg_len, "padding [%lld, %lld, %lld, %lld] must be smaller "
                             "than the kernel [%lld, %lld]", (long long)g->pt, (long long)g->pl,
                             (long long)g->pb, (long long)g->pr, (long long)g->kh,
                             (long long)g->kw);
    } else if (p[0] == PAD_SAME) {
        /* out = ceil(in / stride), the extra cell at the bottom and right */
        int64_t oh = (g->h + g->sh - 1) / g->sh, ow = (g->w + g->sw - 1) / g->sw;
        int64_t th = (oh - 1) * g->sh + g->kh - g->h, tw = (ow - 1) * g->sw + g->kw - g->w;
        th = th > 0 ? th : 0;
        tw = tw > 0 ? tw : 0;
        g->pt = th / 2;
        g->pb = th - g->pt;
        g->pl = tw / 2;
        g->pr = tw - g->pl;
    }
    g->oh = pool_out_size(g->h, g->kh, g->sh, g->pt, g->pb, ceil_mode);
    g->ow = pool_out_size(g->w, g->kw, g->sw, g->pl, g->pr, ceil_mode);
    if (g->oh < 1 || g->ow < 1)
        return layer_msg(msg, msg_len, "a %lld x %lld window does not fit the %lld x %lld input",
                         (long long)g->kh, (long long)g->kw, (long long)g->h, (long long)g->w);
    return 0;
}

static int subsampling_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                             size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "subsampling takes one input, got %d", n_in);
    if (in[0].kind != SHAPE_CNN)
        return layer_msg(msg, msg_len, "subsampling needs convolutional input, got %s",
                         shape_kind_name(in[0].kind));
    pool2d_geom g;
    pool_kind kind;
    if (geometry(L, &in[0], &g, &kind, msg, msg_len))
        return -1;
    if (kind == POOL_SUM)
        return layer_msg(msg, msg_len, "subsampling pools with max or avg");
    L->n_in = L->n_out = in[0].c;
    *out = (act_shape){.kind = SHAPE_CNN, .c = in[0].c, .h = g.oh, .w = g.ow,
                       .size = in[0].c * g.oh * g.ow};
    return 0;
}

static void subsampling_free_state(layer *L) { pool_argmax_free(&L->state); }

static int subsampling_forward(layer *L, const fwd_ctx *c)
{
    pool2d_geom g;
    pool_kind kind;
    char msg[160];
    if (geometry(L, &L->in_shape, &g, &kind, msg, sizeof msg))
        return -1;
    const int64_t batch = c->in[0]->size / L->in_shape.size;
    if (kind == POOL_AVG) {
        avgpool2d_forward(&g, batch, c->in[0]->data, c->out->data);
        return 0;
    }
    int32_t *argmax = NULL;
    if (c->training && !(argmax = pool_argmax_reserve(&L->state, c->out->size)))
        return -1;
    maxpool2d_forward(&g, batch, c->in[0]->data, c->out->data, argmax);
    return 0;
}

static int subsampling_backward(layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    pool2d_geom g;
    pool_kind kind;
    char msg[160];
    if (geometry(L, &L->in_shape, &g, &kind, msg, sizeof msg))
        return -1;
    const int64_t batch = c->in[0]->size / L->in_shape.size;
    if (kind == POOL_AVG) {
        avgpool2d_backward(&g, batch, c->dout->data, c->din[0]->data);
        return 0;
    }
    const int32_t *argmax = pool_argmax_of(L->state, c->dout->size);
    if (!argmax)
        return -1;   /* backward without a training forward */
    maxpool2d_backward(&g, batch, argmax, c->dout->data, c->din[0]->data);
    return 0;
}

const layer_type layer_type_subsampling = {
    .name = "subsampling",
    .flags = LT_CHANNELS_THROUGH,
    .options = subsampling_options,
    .infer = subsampling_infer,
    .forward = subsampling_forward,
    .backward = subsampling_backward,
    .free_state = subsampling_free_state,
};
