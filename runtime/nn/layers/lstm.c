/* lstm.c: the lstm layer type (DL4J's LSTM, no peepholes); the math is in lstm_cell.c. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/lstm_cell.h"

static const layer_option *const lstm_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_alpha, &layer_opt_has_bias,
    &layer_opt_forget_gate_bias, NULL};

static int lstm_specs(const layer *L, param_spec *specs)
{
    return lstm_param_specs(L, specs, false);
}

static int lstm_fwd(layer *L, const fwd_ctx *c)
{
    return lstm_forward(L, c, false);
}

static int lstm_bwd(layer *L, const bwd_ctx *c)
{
    return lstm_backward(L, c, false);
}

const layer_type layer_type_lstm = {
    .name = "lstm",
    .flags = LT_RECURRENT | LT_WIDENABLE | LT_HAS_ACTIVATION,
    .options = lstm_options,
    .default_activation = ACT_TANH,
    .infer = lstm_infer,
    .param_specs = lstm_specs,
    .forward = lstm_fwd,
    .backward = lstm_bwd,
    .free_state = lstm_free_state,
};
