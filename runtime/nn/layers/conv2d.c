/* conv2d.c: the 2-D convolution layer (DL4J's ConvolutionLayer, ONNX Conv, PyTorch Conv2d):
 * n_out filters of kernel [kH, kW] over n_in / groups input channels each, with stride,
 * padding, dilation, a bias and an activation; NCHW activations. */
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/conv_layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const conv2d_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &conv_opt_kernel, &conv_opt_stride, &conv_opt_padding,
    &conv_opt_dilation, &conv_opt_groups, &layer_opt_activation, &layer_opt_alpha,
    &layer_opt_has_bias, NULL};

static int conv2d_plan(layer *L, const act_shape *in, int n_in, conv_plan *p, char *msg,
                       size_t msg_len)
{
    p->n_stages = 1;
    return conv_layer_geom(L, "conv2d", in, n_in, L->n_out, conv_layer_int(L, &conv_opt_groups),
                           &p->stage[0], msg, msg_len);
}

static int conv2d_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                        size_t msg_len)
{
    if (L->n_out < 1)
        return layer_msg(msg, msg_len, "conv2d needs n_out (the number of filters)");
    conv_plan p;
    if (conv2d_plan(L, in, n_in, &p, msg, msg_len) ||
        conv_layer_check_activation(L, "conv2d", msg, msg_len))
        return -1;
    *out = act_shape_cnn(L->n_out, p.stage[0].h_out, p.stage[0].w_out);
    return 0;
}

static int conv2d_param_specs(const layer *L, param_spec *specs)
{
    double k[2];
    layer_option_get_values(&conv_opt_kernel, L, k);
    const int64_t kh = (int64_t)k[0], kw = (int64_t)k[1];
    const int64_t groups = conv_layer_int(L, &conv_opt_groups);
    const int64_t per_group = L->n_in / groups;
    double s[2];
    layer_option_get_values(&conv_opt_stride, L, s);
    /* DL4J's fans: fan_in = (n_in / groups) kH kW, fan_out = (n_out / groups) kH kW / strides */
    const int64_t fan_out = (int64_t)((double)(L->n_out / groups * kh * kw) / (s[0] * s[1]));
    specs[0] = (param_spec){.key = "W", .role = PARAM_WEIGHT, .ndim = 4,
                            .shape = {L->n_out, per_group, kh, kw}, .fan_in = per_group * kh * kw,
                            .fan_out = fan_out > 0 ? fan_out : 1};
    if (!L->has_bias)
        return 1;
    specs[1] = (param_spec){.key = "b", .role = PARAM_BIAS, .ndim = 1, .shape = {L->n_out},
                            .fan_in = per_group * kh * kw, .fan_out = specs[0].fan_out};
    return 2;
}

CONV_LAYER_PASSES(conv2d, conv2d_plan)

/* A grouped convolution's channels are tied to their groups: they cannot move one by one. */
static bool conv2d_refuse_units(const layer *L, char *why, size_t why_len)
{
    int64_t groups = conv_layer_int(L, &conv_opt_groups);
    if (groups == 1)
        return false;
    layer_msg(why, why_len, "its %lld channel groups (%lld in, %lld out each) must change alike, "
              "keeping both counts divisible by %lld; widen and narrow do not split channels "
              "among groups", (long long)groups, (long long)(L->n_in / groups),
              (long long)(L->n_out / groups), (long long)groups);
    return true;
}

/* Output channel j: the filter W[j, :, :, :] and b[j]; input channel j: W[:, j, :, :]. */
static const unit_layout conv2d_units = {
    .n_params = 2,
    .params = {{.key = "W", .col_blocks = 1, .forget_gate_block = -1, .leading = true},
               {.key = "b", .col_blocks = 1, .forget_gate_block = -1}},
    .input_key = "W",
    .input_rows = 1,
    .input_dim = 1,
    .refuse = conv2d_refuse_units,
};

/* A conv2d with one group per input channel (groups = n_in > 1) is a depthwise convolution:
 * input channel j owns the n_out / n_in filters and biases j * (n_out / n_in) .., its output
 * channels as many, as depthwise_conv2d's; its channels follow its input's, groups with them. */
static int64_t depthwise_like_multiplier(const layer *L)
{
    const int64_t groups = conv_layer_int(L, &conv_opt_groups);
    return groups > 0 ? L->n_out / groups : 1;
}

static void depthwise_like_resized(layer *L)
{
    double g = (double)L->n_in;
    layer_option_set_values(&conv_opt_groups, L, &g);
}

static const unit_layout conv2d_depthwise_units = {
    .flow = UNITS_FOLLOW,
    .n_follow = 2,
    .follow = {"W", "b"},
    .multiplier = depthwise_like_multiplier,
    .resized = depthwise_like_resized,
};

static const unit_layout *conv2d_units_of(const layer *L)
{
    const int64_t groups = conv_layer_int(L, &conv_opt_groups);
    return groups > 1 && groups == L->n_in ? &conv2d_depthwise_units : &conv2d_units;
}

/* Net2DeeperNet: a 3 x 3 kernel, stride 1, same padding, no dilation or groups. */
static void conv2d_deepen_configure(layer *L)
{
    double k[2] = {3, 3}, one[2] = {1, 1}, pad[LAYER_OPT_STORE] = {0}, groups = 1;
    layer_option_get_values(&conv_opt_padding, L, pad);
    pad[0] = PAD_SAME;
    layer_option_set_values(&conv_opt_kernel, L, k);
    layer_option_set_values(&conv_opt_stride, L, one);
    layer_option_set_values(&conv_opt_dilation, L, one);
    layer_option_set_values(&conv_opt_padding, L, pad);
    layer_option_set_values(&conv_opt_groups, L, &groups);
}

/* W[j, j, centre, centre] = 1, every other weight and the bias 0: the identity. */
static int conv2d_identity_params(layer *L)
{
    param_spec ps[LAYER_MAX_PARAMS];
    int cnt = conv2d_param_specs(L, ps);
    L->n_params = cnt;
    for (int k = 0; k < cnt; k++) {
        if (tensor_alloc(&L->params[k], ps[k].ndim, ps[k].shape) != 0)
            return -1;
        if (ps[k].role != PARAM_WEIGHT)
            continue;
        const int64_t kh = ps[k].shape[2], kw = ps[k].shape[3], n_in = ps[k].shape[1];
        for (int64_t j = 0; j < L->n_out; j++)
            L->params[k].data[((j * n_in + j) * kh + kh / 2) * kw + kw / 2] = 1.0f;
    }
    return 0;
}

static const deepen_spec conv2d_deepen = {
    .keeps_activation = true,
    .configure = conv2d_deepen_configure,
    .identity_params = conv2d_identity_params,
};

const layer_type layer_type_conv2d = {
    .name = "conv2d",
    .flags = LT_HAS_ACTIVATION | LT_CHANNELS_IN | LT_WIDENABLE,
    .options = conv2d_options,
    .default_activation = ACT_IDENTITY,
    .infer = conv2d_infer,
    .param_specs = conv2d_param_specs,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .free_state = conv_free_state,
    .units = &conv2d_units,
    .units_of = conv2d_units_of,
    .deepen = &conv2d_deepen,
};
