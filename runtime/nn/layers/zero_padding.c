/* zero_padding.c: pads convolutional activations with zeros around each plane (DL4J's
 * ZeroPaddingLayer, Keras's ZeroPadding2D); `padding` is [top, left, bottom, right] as for
 * convolutions (DL4J writes [top, bottom, left, right]). */
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option opt_padding = {
    .name = "padding", .kind = LOPT_PADDING, .hi = 1 << 20,
    .defs = {PAD_EXPLICIT, 0, 0, 0, 0}, .write = LOPT_WRITE_ALWAYS,
    .set_rule = LOPT_SET_RESHAPES,
    .doc = "zeros added: [top, left, bottom, right], [height, width] or one number for all"};

static const layer_option *const zero_padding_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_padding, NULL};

static void sides(const layer *L, int64_t *s)
{
    double p[PADDING_VALUES];
    layer_option_get_values(&opt_padding, L, p);
    for (int i = 0; i < 4; i++)
        s[i] = p[0] == PAD_EXPLICIT ? (int64_t)p[i + 1] : 0;
}

static int zero_padding_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                              size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "zero_padding takes one input, got %d", n_in);
    if (in[0].kind != SHAPE_CNN)
        return layer_msg(msg, msg_len, "zero_padding needs convolutional input, got %s",
                         shape_kind_name(in[0].kind));
    double p[PADDING_VALUES];
    layer_option_get_values(&opt_padding, L, p);
    if (p[0] != PAD_EXPLICIT)
        return layer_msg(msg, msg_len, "zero_padding takes numbers: [top, left, bottom, right], "
                         "[height, width] or one number, not same or valid");
    int64_t s[4];
    sides(L, s);
    L->n_in = L->n_out = in[0].c;
    *out = in[0];
    out->h = in[0].h + s[0] + s[2];
    out->w = in[0].w + s[1] + s[3];
    out->size = out->c * out->h * out->w;
    return 0;
}

static int zero_padding_forward(layer *L, const fwd_ctx *c)
{
    int64_t s[4];
    sides(L, s);
    const act_shape *i = &L->in_shape, *o = &L->out_shape;
    planes_shift(c->in[0]->size / (i->h * i->w), i->h, i->w, o->h, o->w, s[0], s[1],
                 c->in[0]->data, c->out->data);
    return 0;
}

static int zero_padding_backward(layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    int64_t s[4];
    sides(L, s);
    const act_shape *i = &L->in_shape, *o = &L->out_shape;
    planes_shift_backward(c->in[0]->size / (i->h * i->w), i->h, i->w, o->h, o->w, s[0], s[1],
                          c->dout->data, c->din[0]->data);
    return 0;
}

const layer_type layer_type_zero_padding = {
    .name = "zero_padding",
    .flags = LT_CHANNELS_THROUGH,
    .options = zero_padding_options,
    .infer = zero_padding_infer,
    .forward = zero_padding_forward,
    .backward = zero_padding_backward,
};
