/* cropping.c: removes rows and columns at the borders of each plane of convolutional
 * activations (DL4J's Cropping2D, Keras's Cropping2D); `cropping` is [top, left, bottom, right]
 * as padding is, or [height, width] for both sides (DL4J writes [top, bottom, left, right]). */
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option opt_cropping = {
    .name = "cropping", .kind = LOPT_PADDING, .hi = 1 << 20,
    .defs = {PAD_EXPLICIT, 0, 0, 0, 0}, .write = LOPT_WRITE_ALWAYS,
    .set_rule = LOPT_SET_RESHAPES,
    .doc = "cells removed: [top, left, bottom, right], [height, width] or one number for all"};

static const layer_option *const cropping_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_cropping, NULL};

static void sides(const layer *L, int64_t *s)
{
    double p[PADDING_VALUES];
    layer_option_get_values(&opt_cropping, L, p);
    for (int i = 0; i < 4; i++)
        s[i] = p[0] == PAD_EXPLICIT ? (int64_t)p[i + 1] : 0;
}

static int cropping_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                          size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "cropping takes one input, got %d", n_in);
    if (in[0].kind != SHAPE_CNN)
        return layer_msg(msg, msg_len, "cropping needs convolutional input, got %s",
                         shape_kind_name(in[0].kind));
    double p[PADDING_VALUES];
    layer_option_get_values(&opt_cropping, L, p);
    if (p[0] != PAD_EXPLICIT)
        return layer_msg(msg, msg_len, "cropping takes numbers: [top, left, bottom, right], "
                         "[height, width] or one number, not same or valid");
    int64_t s[4];
    sides(L, s);
    int64_t h = in[0].h - s[0] - s[2], w = in[0].w - s[1] - s[3];
    if (h < 1 || w < 1)
        return layer_msg(msg, msg_len, "cropping [%lld, %lld, %lld, %lld] leaves nothing of the "
                         "%lld x %lld input", (long long)s[0], (long long)s[1], (long long)s[2],
                         (long long)s[3], (long long)in[0].h, (long long)in[0].w);
    L->n_in = L->n_out = in[0].c;
    *out = in[0];
    out->h = h;
    out->w = w;
    out->size = out->c * h * w;
    return 0;
}

static int cropping_forward(layer *L, const fwd_ctx *c)
{
    int64_t s[4];
    sides(L, s);
    const act_shape *i = &L->in_shape, *o = &L->out_shape;
    planes_shift(c->in[0]->size / (i->h * i->w), i->h, i->w, o->h, o->w, -s[0], -s[1],
                 c->in[0]->data, c->out->data);
    return 0;
}

static int cropping_backward(layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    int64_t s[4];
    sides(L, s);
    const act_shape *i = &L->in_shape, *o = &L->out_shape;
    planes_shift_backward(c->in[0]->size / (i->h * i->w), i->h, i->w, o->h, o->w, -s[0], -s[1],
                          c->dout->data, c->din[0]->data);
    return 0;
}

const layer_type layer_type_cropping = {
    .name = "cropping",
    .flags = LT_CHANNELS_THROUGH,
    .options = cropping_options,
    .infer = cropping_infer,
    .forward = cropping_forward,
    .backward = cropping_backward,
};
