/* graves_lstm.c: the graves_lstm layer type (DL4J's GravesLSTM: an LSTM with peephole
 * connections, stored as the last three columns of RW); the math is in lstm_cell.c. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const graves_lstm_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_alpha, &layer_opt_has_bias,
    &layer_opt_forget_gate_bias, &layer_opt_reverse, &layer_opt_initial_state, NULL};

static int graves_specs(const layer *L, param_spec *specs)
{
    return lstm_param_specs(L, specs, true);
}

static int graves_fwd(layer *L, const fwd_ctx *c)
{
    return lstm_reversed(L) ? lstm_forward_reversed(L, c, true) : lstm_forward(L, c, true);
}

static int graves_bwd(layer *L, const bwd_ctx *c)
{
    return lstm_reversed(L) ? lstm_backward_reversed(L, c, true) : lstm_backward(L, c, true);
}

/* As lstm, and the three peephole columns of RW's row j (after the gate blocks) are unit j's. */
static const unit_layout graves_units = {
    .n_params = 5,
    .params = {{.key = "W", .col_blocks = 4, .forget_gate_block = -1},
               {.key = "RW", .col_blocks = 4, .owns_row = true, .tail_cols = 3,
                .forget_gate_block = -1},
               {.key = "b", .col_blocks = 4, .forget_gate_block = 1},
               {.key = "h0", .col_blocks = 1, .forget_gate_block = -1},
               {.key = "c0", .col_blocks = 1, .forget_gate_block = -1}},
    .input_key = "W",
    .input_rows = 1,
};

const layer_type layer_type_graves_lstm = {
    .name = "graves_lstm",
    .flags = LT_RECURRENT | LT_WIDENABLE | LT_HAS_ACTIVATION,
    .options = graves_lstm_options,
    .default_activation = ACT_TANH,
    .infer = lstm_infer,
    .param_specs = graves_specs,
    .forward = graves_fwd,
    .backward = graves_bwd,
    .free_state = lstm_free_state,
    .units = &graves_units,
};
