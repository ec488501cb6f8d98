/* activation.c: a stand-alone activation function layer (no parameters). */
#include <string.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const activation_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out, &layer_opt_activation, &layer_opt_alpha, NULL};

static int activation_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                            size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "activation takes one input, got %d", n_in);
    if (act_is_row_wise(L->activation) && in[0].kind == SHAPE_CNN)
        return layer_msg(msg, msg_len, "%s over convolutional activations is not supported",
                         activation_names[L->activation]);
    L->n_in = in[0].size;
    L->n_out = in[0].size;
    *out = in[0];
    return 0;
}

static int activation_forward(layer *L, const fwd_ctx *c)
{
    const tensor *in = c->in[0];
    int64_t cols = L->n_out > 0 ? L->n_out : 1;
    act_forward(L->activation, layer_act_params(L), in->data, c->out->data, in->size / cols, cols);
    return 0;
}

static int activation_backward(layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    const tensor *in = c->in[0];
    int64_t cols = L->n_out > 0 ? L->n_out : 1;
    tensor t = {0};
    if (scratch2(&t, in->size / cols, cols))
        return -1;
    act_backward(L->activation, layer_act_params(L), in->data, c->out->data, c->dout->data, t.data,
                 in->size / cols, cols);
    float *din = c->din[0]->data;
    for (int64_t i = 0; i < in->size; i++)
        din[i] += t.data[i];
    tensor_release(&t);
    return 0;
}

const layer_type layer_type_activation = {
    .name = "activation",
    .flags = LT_HAS_ACTIVATION | LT_PASS_THROUGH,
    .options = activation_options,
    .default_activation = ACT_IDENTITY,
    .infer = activation_infer,
    .param_specs = NULL,
    .forward = activation_forward,
    .backward = activation_backward,
    .free_state = NULL,     /* keeps no forward cache */
};
