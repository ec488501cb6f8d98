/* output.c: the output layer: dense + activation + loss on feed-forward data; its
 * backward given labels is the loss gradient (softmax + mcxent fused as p - y). */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const output_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_loss, &layer_opt_alpha,
    &layer_opt_has_bias, NULL};

static int output_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                        size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "output takes one input, got %d", n_in);
    if (in[0].kind == SHAPE_RNN)
        return layer_msg(msg, msg_len,
                         "output takes feed-forward input, got recurrent (use rnn_output for "
                         "a loss at every time step)");
    if (loss_layer_check(L, "output", msg, msg_len) != 0)
        return -1;
    L->n_in = in[0].size;
    *out = (act_shape){.kind = SHAPE_FF, .size = L->n_out};
    return 0;
}

static int output_forward(layer *L, const fwd_ctx *c) { return dense_like_forward(L, c); }
static int output_backward(layer *L, const bwd_ctx *c) { return dense_like_backward(L, c, true); }

const layer_type layer_type_output = {
    .name = "output",
    .flags = LT_LOSS | LT_HAS_ACTIVATION | LT_WIDENABLE,
    .options = output_options,
    .default_activation = ACT_SOFTMAX,
    .infer = output_infer,
    .param_specs = dense_param_specs,
    .forward = output_forward,
    .backward = output_backward,
    .free_state = dense_free_state,
    .units = &dense_unit_layout,
};
