/* flatten.c: convolutional activations [batch, channels, height, width] as feed-forward
 * [batch, channels * height * width], channel by channel (each channel is height * width
 * consecutive features, as DL4J's CnnToFeedForwardPreProcessor on NCHW data); feed-forward
 * input passes unchanged. */
#include <string.h>

#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const flatten_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, NULL};

static int flatten_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                         size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "flatten takes one input, got %d", n_in);
    if (in[0].kind == SHAPE_RNN)
        return layer_msg(msg, msg_len, "flatten needs convolutional or feed-forward input, got "
                         "recurrent");
    L->n_in = L->n_out = in[0].size;
    *out = (act_shape){.kind = SHAPE_FF, .size = in[0].size};
    return 0;
}

/* NCHW is already channel by channel: the values are copied as they are. */
static int flatten_forward(layer *L, const fwd_ctx *c)
{
    (void)L;
    memcpy(c->out->data, c->in[0]->data, (size_t)c->in[0]->size * sizeof(float));
    return 0;
}

static int flatten_backward(layer *L, const bwd_ctx *c)
{
    (void)L;
    if (!c->din || !c->din[0])
        return 0;
    float *dx = c->din[0]->data;
    for (int64_t i = 0; i < c->dout->size; i++)
        dx[i] += c->dout->data[i];
    return 0;
}

/* Channel j of convolutional input becomes its H*W consecutive features: edits of the
 * channels carry on. */
static const unit_layout flatten_units = {.flow = UNITS_FOLLOW};

const layer_type layer_type_flatten = {
    .name = "flatten",
    .options = flatten_options,
    .infer = flatten_infer,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .units = &flatten_units,
};
