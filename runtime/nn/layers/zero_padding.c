/* zero_padding.c: pads convolutional activations with zeros around each plane (DL4J's
 * ZeroPaddingLayer, Keras's ZeroPadding2D); `padding` is [top, left, bottom, right] as for
 * convolutions (DL4J writes [top, bottom, left, right]). */
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"
#include "runtime/nn/layers/border.h"

static const layer_option opt_padding = {
    .name = "padding", .kind = LOPT_PADDING, .hi = 1 << 20,
    .defs = {PAD_EXPLICIT, 0, 0, 0, 0}, .write = LOPT_WRITE_ALWAYS,
    .set_rule = LOPT_SET_RESHAPES,
    .doc = "zeros added: [top, left, bottom, right], [height, width] or one number for all"};

static const layer_option *const zero_padding_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_padding, NULL};

static const border padding = {.option = &opt_padding, .sign = 1};

static int zero_padding_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                              size_t msg_len)
{
    return border_infer(&padding, L, in, n_in, out, msg, msg_len);
}
static int zero_padding_forward(layer *L, const fwd_ctx *c)
{
    return border_forward(&padding, L, c);
}
static int zero_padding_backward(layer *L, const bwd_ctx *c)
{
    return border_backward(&padding, L, c);
}

const layer_type layer_type_zero_padding = {
    .name = "zero_padding",
    .flags = LT_CHANNELS_THROUGH,
    .options = zero_padding_options,
    .infer = zero_padding_infer,
    .forward = zero_padding_forward,
    .backward = zero_padding_backward,
};
