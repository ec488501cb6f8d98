/* separable_conv2d.c: the depthwise separable 2-D convolution (DL4J's SeparableConvolution2D,
 * Keras' SeparableConv2D): a depthwise convolution (`multiplier` filters per input channel, no
 * bias) with the layer's kernel, stride, padding and dilation, then a pointwise 1 x 1
 * convolution to n_out channels with the bias and the activation. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/conv_layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const separable_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &conv_opt_multiplier, &conv_opt_kernel, &conv_opt_stride,
    &conv_opt_padding, &conv_opt_dilation, &layer_opt_activation, &layer_opt_alpha,
    &layer_opt_has_bias, NULL};

static int separable_plan(layer *L, const act_shape *in, int n_in, conv_plan *p, char *msg,
                          size_t msg_len)
{
    p->n_stages = 2;
    int64_t channels = n_in == 1 && in[0].kind == SHAPE_CNN ? in[0].c : 1;
    int64_t mid = channels * conv_layer_int(L, &conv_opt_multiplier);
    if (conv_layer_geom(L, "separable_conv2d", in, n_in, mid, channels, &p->stage[0], msg,
                        msg_len))
        return -1;
    const conv_geom *d = &p->stage[0];
    p->stage[1] = (conv_geom){.c_in = mid, .h_in = d->h_out, .w_in = d->w_out, .c_out = L->n_out,
                              .h_out = d->h_out, .w_out = d->w_out, .kh = 1, .kw = 1, .sh = 1,
                              .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    return 0;
}

static int separable_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                           size_t msg_len)
{
    if (L->n_out < 1)
        return layer_msg(msg, msg_len, "separable_conv2d needs n_out (the number of filters)");
    conv_plan p;
    if (separable_plan(L, in, n_in, &p, msg, msg_len) ||
        conv_layer_check_activation(L, "separable_conv2d", msg, msg_len))
        return -1;
    *out = act_shape_cnn(L->n_out, p.stage[1].h_out, p.stage[1].w_out);
    return 0;
}

/* DL4J's keys: W the depthwise kernels [n_in * multiplier, 1, kH, kW], pW the pointwise ones
 * [n_out, n_in * multiplier, 1, 1], b [n_out]. */
static int separable_param_specs(const layer *L, param_spec *specs)
{
    double k[2];
    layer_option_get_values(&conv_opt_kernel, L, k);
    const int64_t kh = (int64_t)k[0], kw = (int64_t)k[1];
    const int64_t mult = conv_layer_int(L, &conv_opt_multiplier), mid = L->n_in * mult;
    specs[0] = (param_spec){.key = "W", .role = PARAM_WEIGHT, .ndim = 4,
                            .shape = {mid, 1, kh, kw}, .fan_in = kh * kw,
                            .fan_out = mult * kh * kw};
    specs[1] = (param_spec){.key = "pW", .role = PARAM_WEIGHT, .ndim = 4,
                            .shape = {L->n_out, mid, 1, 1}, .fan_in = mid, .fan_out = L->n_out};
    if (!L->has_bias)
        return 2;
    specs[2] = (param_spec){.key = "b", .role = PARAM_BIAS, .ndim = 1, .shape = {L->n_out},
                            .fan_in = mid, .fan_out = L->n_out};
    return 3;
}

CONV_LAYER_PASSES(separable, separable_plan)

static int64_t separable_multiplier(const layer *L)
{
    return conv_layer_int(L, &conv_opt_multiplier);
}

/* Output channel j: the pointwise filter pW[j, :, :, :] and b[j]. Input channel j: its
 * multiplier depthwise filters W[j * multiplier ..] (they follow, unscaled) and the pointwise
 * weights that read them, pW[:, j * multiplier .., :, :]. */
static const unit_layout separable_units = {
    .n_params = 2,
    .params = {{.key = "pW", .col_blocks = 1, .forget_gate_block = -1, .leading = true},
               {.key = "b", .col_blocks = 1, .forget_gate_block = -1}},
    .input_key = "pW",
    .input_rows = 1,
    .input_dim = 1,
    .n_follow = 1,
    .follow = {"W"},
    .multiplier = separable_multiplier,
};

const layer_type layer_type_separable_conv2d = {
    .name = "separable_conv2d",
    .flags = LT_HAS_ACTIVATION | LT_CHANNELS_IN | LT_WIDENABLE,
    .options = separable_options,
    .default_activation = ACT_IDENTITY,
    .infer = separable_infer,
    .param_specs = separable_param_specs,
    .forward = separable_forward,
    .backward = separable_backward,
    .free_state = conv_free_state,
    .units = &separable_units,
};
