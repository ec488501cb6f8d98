/* dense.c: the fully connected layer, out = act(x W + b), applied per time step on
 * recurrent input and to the flattened features of convolutional input. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"

static const layer_option *const dense_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_alpha,
    &layer_opt_has_bias, NULL};

static int dense_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                       size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "dense takes one input, got %d", n_in);
    if (L->n_out < 1)
        return layer_msg(msg, msg_len, "dense needs n_out (the number of units)");
    L->n_in = in[0].size;
    *out = (act_shape){.kind = in[0].kind == SHAPE_RNN ? SHAPE_RNN : SHAPE_FF, .size = L->n_out};
    return 0;
}

static int dense_forward(layer *L, const fwd_ctx *c) { return dense_like_forward(L, c); }
static int dense_backward(layer *L, const bwd_ctx *c) { return dense_like_backward(L, c, false); }

const layer_type layer_type_dense = {
    .name = "dense",
    .flags = LT_WIDENABLE | LT_HAS_ACTIVATION,
    .options = dense_options,
    .default_activation = ACT_SIGMOID,
    .infer = dense_infer,
    .param_specs = dense_param_specs,
    .forward = dense_forward,
    .backward = dense_backward,
    .free_state = dense_free_state,
};
