/* lstm.c: the lstm layer type (DL4J's LSTM, no peepholes); the math is in lstm_cell.c. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const lstm_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_alpha, &layer_opt_has_bias,
    &layer_opt_forget_gate_bias, &layer_opt_reverse, &layer_opt_initial_state, NULL};

/* The gate-bias magnitude of the identity LSTM that deepen builds: forget gate -S, input and
 * output gates +S (sigmoid(30) rounds to 1.0f in float32, sigmoid(-30) is about 9e-14). */
#define IDENTITY_GATE_SATURATION 30.0

static int lstm_specs(const layer *L, param_spec *specs)
{
    return lstm_param_specs(L, specs, false);
}

static int lstm_fwd(layer *L, const fwd_ctx *c)
{
    return lstm_reversed(L) ? lstm_forward_reversed(L, c, false) : lstm_forward(L, c, false);
}

static int lstm_bwd(layer *L, const bwd_ctx *c)
{
    return lstm_reversed(L) ? lstm_backward_reversed(L, c, false) : lstm_backward(L, c, false);
}

/* Unit j: column j of each of the four gate blocks of W and RW, row j of RW (what it sends
 * back to the gates) and b[j] of each block, the second one the forget gate. An input unit:
 * row j of W. */
static const unit_layout lstm_units = {
    .n_params = 5,
    .params = {{.key = "W", .col_blocks = 4, .forget_gate_block = -1},
               {.key = "RW", .col_blocks = 4, .owns_row = true, .forget_gate_block = -1},
               {.key = "b", .col_blocks = 4, .forget_gate_block = 1},
               {.key = "h0", .col_blocks = 1, .forget_gate_block = -1},
               {.key = "c0", .col_blocks = 1, .forget_gate_block = -1}},
    .input_key = "W",
    .input_rows = 1,
};

static void lstm_identity_configure(layer *L)
{
    L->forget_gate_bias = -IDENTITY_GATE_SATURATION;
}

/* An LSTM as close to the identity as an LSTM gets, exact to float32 rounding for any input:
 * activation identity; W's block-input columns I, the gates' input weights 0; RW 0; biases:
 * block input 0, forget gate -S, output gate +S, input gate +S. Then
 * c[t] = i*a + f*c[t-1] = x[t] (+ ~1e-13 c[t-1]) and h[t] = o * c[t] = x[t]. */
static int lstm_identity_params(layer *L)
{
    param_spec ps[LAYER_MAX_PARAMS];
    int cnt = lstm_param_specs(L, ps, false);
    const int64_t n = L->n_out;
    const float S = (float)IDENTITY_GATE_SATURATION;
    L->n_params = cnt;
    for (int k = 0; k < cnt; k++) {
        if (tensor_alloc(&L->params[k], ps[k].ndim, ps[k].shape) != 0)
            return -1;
        float *p = L->params[k].data;
        if (ps[k].role == PARAM_WEIGHT) {
            for (int64_t i = 0; i < n; i++)
                p[i * 4 * n + i] = 1.0f;        /* block input a = x */
        } else if (ps[k].role == PARAM_BIAS) {
            for (int64_t j = 0; j < n; j++) {
                p[n + j] = -S;                  /* forget */
                p[2 * n + j] = S;               /* output */
                p[3 * n + j] = S;               /* input gate */
            }
        }
    }
    return 0;
}

static const deepen_spec lstm_deepen = {
    .keeps_activation = false,
    .configure = lstm_identity_configure,
    .identity_params = lstm_identity_params,
    .caveat = "starts as an identity LSTM (identity activation, forget gate 0, input and output "
              "gates 1): outputs are unchanged, but its saturated gates learn slowly",
};

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
    .units = &lstm_units,
    .deepen = &lstm_deepen,
};
