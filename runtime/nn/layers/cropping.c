/* cropping.c: removes rows and columns at the borders of each plane of convolutional
 * activations (DL4J's Cropping2D, Keras's Cropping2D); `cropping` is [top, left, bottom, right]
 * as padding is, or [height, width] for both sides (DL4J writes [top, bottom, left, right]). */
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"
#include "runtime/nn/layers/border.h"

static const layer_option opt_cropping = {
    .name = "cropping", .kind = LOPT_PADDING, .hi = 1 << 20,
    .defs = {PAD_EXPLICIT, 0, 0, 0, 0}, .write = LOPT_WRITE_ALWAYS,
    .set_rule = LOPT_SET_RESHAPES,
    .doc = "cells removed: [top, left, bottom, right], [height, width] or one number for all"};

static const layer_option *const cropping_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_cropping, NULL};

static const border cropping = {.option = &opt_cropping, .sign = -1};

static int cropping_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                          size_t msg_len)
{
    return border_infer(&cropping, L, in, n_in, out, msg, msg_len);
}
static int cropping_forward(layer *L, const fwd_ctx *c) { return border_forward(&cropping, L, c); }
static int cropping_backward(layer *L, const bwd_ctx *c) { return border_backward(&cropping, L, c); }

const layer_type layer_type_cropping = {
    .name = "cropping",
    .flags = LT_CHANNELS_THROUGH,
    .options = cropping_options,
    .infer = cropping_infer,
    .forward = cropping_forward,
    .backward = cropping_backward,
};
