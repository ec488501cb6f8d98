/* rnn_output.c: the recurrent output layer: dense + activation + loss at every time step
 * of [time, batch, features] data, with per-step label masks; the loss sums over steps. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const rnn_output_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_loss, &layer_opt_alpha,
    &layer_opt_has_bias, NULL};

static int rnn_output_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                            size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "rnn_output takes one input, got %d", n_in);
    if (in[0].kind != SHAPE_RNN)
        return layer_msg(msg, msg_len,
                         "rnn_output takes recurrent input [time, batch, features], got %s "
                         "(use output for feed-forward data)", shape_kind_name(in[0].kind));
    if (loss_layer_check(L, "rnn_output", msg, msg_len) != 0)
        return -1;
    L->n_in = in[0].size;
    *out = (act_shape){.kind = SHAPE_RNN, .size = L->n_out};
    return 0;
}

/* Rows of the [T*B, F] view are time-major, so the [T, B] label mask indexes them directly. */
static int rnn_output_forward(layer *L, const fwd_ctx *c) { return dense_like_forward(L, c); }
static int rnn_output_backward(layer *L, const bwd_ctx *c) { return dense_like_backward(L, c, true); }

const layer_type layer_type_rnn_output = {
    .name = "rnn_output",
    .flags = LT_LOSS | LT_HAS_ACTIVATION | LT_WIDENABLE,
    .options = rnn_output_options,
    .default_activation = ACT_SOFTMAX,
    .infer = rnn_output_infer,
    .param_specs = dense_param_specs,
    .forward = rnn_output_forward,
    .backward = rnn_output_backward,
    .free_state = dense_free_state,
    .units = &dense_unit_layout,
};
