/* dense.c: the fully connected layer, out = act(x W + b), applied per time step on
 * recurrent input and to the flattened features of convolutional input. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

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

/* Net2DeeperNet's dense identity: W = I [n, n], b = 0, after a layer whose activation is
 * idempotent (then phi(I phi(v) + 0) = phi(v)). */
static int dense_identity_params(layer *L)
{
    param_spec ps[LAYER_MAX_PARAMS];
    int cnt = dense_param_specs(L, ps);
    L->n_params = cnt;
    for (int k = 0; k < cnt; k++) {
        if (tensor_alloc(&L->params[k], ps[k].ndim, ps[k].shape) != 0)
            return -1;
        if (ps[k].role == PARAM_WEIGHT)
            for (int64_t i = 0; i < L->n_out; i++)
                L->params[k].data[i * L->n_out + i] = 1.0f;
    }
    return 0;
}

static const deepen_spec dense_deepen = {
    .keeps_activation = true,
    .identity_params = dense_identity_params,
};

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
    .units = &dense_unit_layout,
    .deepen = &dense_deepen,
};
