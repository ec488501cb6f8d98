/* depthwise_conv2d.c: the depthwise 2-D convolution (DL4J's DepthwiseConvolution2D, a grouped
 * ONNX Conv with group = channels): `multiplier` filters of kernel [kH, kW] per input channel,
 * each seeing that channel alone; n_out = n_in * multiplier, output channel c * multiplier + m
 * from input channel c. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/conv_layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const depthwise_options[] = {
    &layer_opt_n_in, &layer_opt_n_out_inferred, &conv_opt_multiplier, &conv_opt_kernel,
    &conv_opt_stride, &conv_opt_padding, &conv_opt_dilation, &layer_opt_activation,
    &layer_opt_alpha, &layer_opt_has_bias, NULL};

static int depthwise_plan(layer *L, const act_shape *in, int n_in, conv_plan *p, char *msg,
                          size_t msg_len)
{
    p->n_stages = 1;
    int64_t channels = n_in == 1 && in[0].kind == SHAPE_CNN ? in[0].c : 1;
    return conv_layer_geom(L, "depthwise_conv2d", in, n_in,
                           channels * conv_layer_int(L, &conv_opt_multiplier), channels,
                           &p->stage[0], msg, msg_len);
}

static int depthwise_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                           size_t msg_len)
{
    conv_plan p;
    if (depthwise_plan(L, in, n_in, &p, msg, msg_len) ||
        conv_layer_check_activation(L, "depthwise_conv2d", msg, msg_len))
        return -1;
    L->n_out = p.stage[0].c_out;
    *out = act_shape_cnn(L->n_out, p.stage[0].h_out, p.stage[0].w_out);
    return 0;
}

static int depthwise_param_specs(const layer *L, param_spec *specs)
{
    double k[2];
    layer_option_get_values(&conv_opt_kernel, L, k);
    const int64_t kh = (int64_t)k[0], kw = (int64_t)k[1];
    const int64_t mult = conv_layer_int(L, &conv_opt_multiplier);
    specs[0] = (param_spec){.key = "W", .role = PARAM_WEIGHT, .ndim = 4,
                            .shape = {L->n_in * mult, 1, kh, kw}, .fan_in = kh * kw,
                            .fan_out = mult * kh * kw};
    if (!L->has_bias)
        return 1;
    specs[1] = (param_spec){.key = "b", .role = PARAM_BIAS, .ndim = 1, .shape = {L->n_in * mult},
                            .fan_in = kh * kw, .fan_out = mult * kh * kw};
    return 2;
}

CONV_LAYER_PASSES(depthwise, depthwise_plan)

static int64_t depthwise_multiplier(const layer *L)
{
    return conv_layer_int(L, &conv_opt_multiplier);
}

/* Its channels follow its input's: input channel j owns the multiplier filters and biases
 * j * multiplier .. and output channels as many. */
static const unit_layout depthwise_units = {
    .flow = UNITS_FOLLOW,
    .n_follow = 2,
    .follow = {"W", "b"},
    .multiplier = depthwise_multiplier,
};

const layer_type layer_type_depthwise_conv2d = {
    .name = "depthwise_conv2d",
    .flags = LT_HAS_ACTIVATION | LT_CHANNELS_IN,
    .options = depthwise_options,
    .default_activation = ACT_IDENTITY,
    .infer = depthwise_infer,
    .param_specs = depthwise_param_specs,
    .forward = depthwise_forward,
    .backward = depthwise_backward,
    .free_state = conv_free_state,
    .units = &depthwise_units,
};
