/* test_pool_torch.c: the pooling kernels and the activations relu6, hardtanh and swish against
 * PyTorch's numbers (tests/data/pool, from tools/gen_golden_pool.py): forward and backward, odd
 * 7x5 planes, padding (asymmetric too), ceil mode, both avg divisors, masked time steps; max abs
 * diff <= 1e-5; batch_norm through its layer type. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer_options.h"
#include "tests/unit/nn/lstm_fixture.h"

#define TOL 1e-5

static void load(fixture *f, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/pool/%s.txt", name);
    fixture_load(f, path);
}

static void expect_close_n(const float *got, const tensor *want, const char *what)
{
    double d = max_abs_diff_n(got, want->data, want->size);
    cr_expect(d <= TOL, "%s: max abs diff %g", what, d);
}

static int64_t item(fixture *f, const char *name, int i)
{
    return (int64_t)fixture_get(f, name)->data[i];
}

static void pool_golden(const char *name, pool_kind kind)
{
    fixture f;
    load(&f, name);
    const tensor *x = fixture_get(&f, "x"), *y = fixture_get(&f, "y");
    pool2d_geom g = {.c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                     .kh = item(&f, "kernel", 0), .kw = item(&f, "kernel", 1),
                     .sh = item(&f, "stride", 0), .sw = item(&f, "stride", 1),
                     .pt = item(&f, "padding", 0), .pl = item(&f, "padding", 1),
                     .pb = item(&f, "padding", 2), .pr = item(&f, "padding", 3),
                     .count_padding = item(&f, "count_padding", 0) != 0};
    bool ceil_mode = item(&f, "ceil_mode", 0) != 0;
    g.oh = pool_out_size(g.h, g.kh, g.sh, g.pt, g.pb, ceil_mode);
    g.ow = pool_out_size(g.w, g.kw, g.sw, g.pl, g.pr, ceil_mode);
    cr_assert_eq(g.oh, y->shape[2], "%s: output height", name);
    cr_assert_eq(g.ow, y->shape[3], "%s: output width", name);
    const int64_t batch = x->shape[0];
    float *out = calloc((size_t)y->size, sizeof *out);
    float *dx = calloc((size_t)x->size, sizeof *dx);
    int32_t *arg = calloc((size_t)y->size, sizeof *arg);
    cr_assert(out && dx && arg);
    if (kind == POOL_MAX) {
        maxpool2d_forward(&g, batch, x->data, out, arg);
        maxpool2d_backward(&g, batch, arg, fixture_get(&f, "dy")->data, dx);
    } else {
        avgpool2d_forward(&g, batch, x->data, out);
        avgpool2d_backward(&g, batch, fixture_get(&f, "dy")->data, dx);
    }
    expect_close_n(out, y, name);
    expect_close_n(dx, fixture_get(&f, "dx"), name);
    free(out);
    free(dx);
    free(arg);
    fixture_free(&f);
}

Test(pool_torch, max_kernel3_stride2_pad1) { pool_golden("max_k3_s2_p1", POOL_MAX); }
Test(pool_torch, max_asymmetric_padding) { pool_golden("max_asym_k2x3", POOL_MAX); }
Test(pool_torch, max_ceil_mode) { pool_golden("max_ceil_k2_s2", POOL_MAX); }
Test(pool_torch, avg_counting_padding) { pool_golden("avg_k3_s2_p1_count", POOL_AVG); }
Test(pool_torch, avg_not_counting_padding) { pool_golden("avg_k3_s2_p1_nocount", POOL_AVG); }
Test(pool_torch, avg_ceil_counting_padding) { pool_golden("avg_ceil_k3_s2_p1_count", POOL_AVG); }
Test(pool_torch, avg_ceil_not_counting) { pool_golden("avg_ceil_k2_s2_nocount", POOL_AVG); }
Test(pool_torch, avg_asymmetric_counting) { pool_golden("avg_asym_k2x3_count", POOL_AVG); }
Test(pool_torch, avg_asymmetric_not_counting) { pool_golden("avg_asym_k2x3_nocount", POOL_AVG); }

Test(pool_torch, out_size_rules)
{
    cr_expect_eq(pool_out_size(7, 2, 2, 0, 0, false), 3);
    cr_expect_eq(pool_out_size(7, 2, 2, 0, 0, true), 4);
    /* the last ceil window would start in the high padding only: dropped */
    cr_expect_eq(pool_out_size(5, 3, 2, 1, 1, true), 3);
    cr_expect_eq(pool_out_size(6, 3, 2, 1, 1, true), 4);
    cr_expect_eq(pool_out_size(2, 3, 1, 0, 0, false), 0);
}

static void global_golden(const char *name, pool_kind kind, bool recurrent)
{
    fixture f;
    load(&f, name);
    const tensor *x = fixture_get(&f, "x"), *y = fixture_get(&f, "y");
    float *out = calloc((size_t)y->size, sizeof *out);
    float *dx = calloc((size_t)x->size, sizeof *dx);
    int32_t *arg = calloc((size_t)y->size, sizeof *arg);
    cr_assert(out && dx && arg);
    const float *dy = fixture_get(&f, "dy")->data;
    if (recurrent) {
        const float *mask = fixture_get(&f, "mask")->data;
        int64_t T = x->shape[0], B = x->shape[1], F = x->shape[2];
        global_pool_time(kind, T, B, F, x->data, mask, out, arg);
        global_pool_time_backward(kind, T, B, F, mask, arg, dy, dx);
    } else {
        int64_t B = x->shape[0], C = x->shape[1], hw = x->shape[2] * x->shape[3];
        global_pool_planes(kind, B, C, hw, x->data, out, arg);
        global_pool_planes_backward(kind, B, C, hw, arg, dy, dx);
    }
    expect_close_n(out, y, name);
    expect_close_n(dx, fixture_get(&f, "dx"), name);
    free(out);
    free(dx);
    free(arg);
    fixture_free(&f);
}

Test(pool_torch, global_avg_planes) { global_golden("global_cnn_avg", POOL_AVG, false); }
Test(pool_torch, global_max_planes) { global_golden("global_cnn_max", POOL_MAX, false); }
Test(pool_torch, global_sum_planes) { global_golden("global_cnn_sum", POOL_SUM, false); }
Test(pool_torch, global_avg_masked_time) { global_golden("global_rnn_avg", POOL_AVG, true); }
Test(pool_torch, global_max_masked_time) { global_golden("global_rnn_max", POOL_MAX, true); }
Test(pool_torch, global_sum_masked_time) { global_golden("global_rnn_sum", POOL_SUM, true); }

static void activation_golden(const char *name, activation_kind act)
{
    fixture f;
    load(&f, name);
    const tensor *x = fixture_get(&f, "x");
    const int64_t rows = x->shape[0], cols = x->shape[1];
    float *y = calloc((size_t)x->size, sizeof *y), *dx = calloc((size_t)x->size, sizeof *dx);
    cr_assert(y && dx);
    act_params p = {0};
    if (act == ACT_CLIP) {   /* clip's bounds come with its numbers */
        p.lo = fixture_get(&f, "lo")->data[0];
        p.hi = fixture_get(&f, "hi")->data[0];
    }
    act_forward(act, p, x->data, y, rows, cols);
    act_backward(act, p, x->data, y, fixture_get(&f, "dy")->data, dx, rows, cols);
    expect_close_n(y, fixture_get(&f, "y"), name);
    expect_close_n(dx, fixture_get(&f, "dx"), name);
    free(y);
    free(dx);
    fixture_free(&f);
}

Test(pool_torch, relu6) { activation_golden("act_relu6", ACT_RELU6); }
Test(pool_torch, hardtanh) { activation_golden("act_hardtanh", ACT_HARDTANH); }
Test(pool_torch, swish) { activation_golden("act_swish", ACT_SWISH); }
Test(pool_torch, clip) { activation_golden("act_clip", ACT_CLIP); }
Test(pool_torch, selu) { activation_golden("act_selu", ACT_SELU); }
Test(pool_torch, log_softmax) { activation_golden("act_log_softmax", ACT_LOG_SOFTMAX); }

/* batch_norm through its layer type: training (batch statistics, DL4J's running update, the
 * backward through the statistics) and inference (the running statistics, exactly). */
static void batch_norm_golden(const char *name, bool training)
{
    fixture f;
    load(&f, name);
    const tensor *x = fixture_get(&f, "x");
    layer *L = layer_new(&layer_type_batch_norm, "bn");
    cr_assert(L);
    const layer_option *decay = layer_option_find(L->type, "decay");
    const layer_option *eps = layer_option_find(L->type, "eps");
    double v = fixture_get(&f, "decay")->data[0];
    layer_option_set_values(decay, L, &v);
    v = fixture_get(&f, "eps")->data[0];
    layer_option_set_values(eps, L, &v);
    act_shape in = x->ndim == 4 ? (act_shape){.kind = SHAPE_CNN, .c = x->shape[1],
                                              .h = x->shape[2], .w = x->shape[3],
                                              .size = x->size / x->shape[0]}
                                : (act_shape){.kind = SHAPE_FF, .size = x->shape[1]};
    char msg[200];
    cr_assert_eq(L->type->infer(L, &in, 1, &L->out_shape, msg, sizeof msg), 0, "%s", msg);
    L->in_shape = in;
    param_spec ps[LAYER_MAX_PARAMS];
    L->n_params = L->type->param_specs(L, ps);
    cr_assert_eq(L->n_params, 4);
    static const char *const keys[4] = {"gamma", "beta", "mean", "var"};
    for (int k = 0; k < 4; k++) {
        cr_assert_str_eq(ps[k].key, keys[k]);
        cr_assert_eq(tensor_copy(&L->params[k], fixture_get(&f, ps[k].key)), 0);
        cr_assert_eq(tensor_alloc(&L->grads[k], ps[k].ndim, ps[k].shape), 0);
    }
    tensor y = {0}, dx = {0};
    cr_assert_eq(tensor_alloc(&y, x->ndim, x->shape), 0);
    cr_assert_eq(tensor_alloc(&dx, x->ndim, x->shape), 0);
    const tensor *ins[1] = {x};
    fwd_ctx c = {.in = ins, .n_in = 1, .out = &y, .training = training};
    cr_assert_eq(L->type->forward(L, &c), 0);
    expect_close_n(y.data, fixture_get(&f, "y"), name);
    expect_close_n(L->params[2].data, fixture_get(&f, "new_mean"), name);
    expect_close_n(L->params[3].data, fixture_get(&f, "new_var"), name);
    if (!training) {
        /* the backward of inference: a frozen layer's training forward, statistics unchanged */
        L->frozen = true;
        c.training = true;
        tensor y2 = {0};
        cr_assert_eq(tensor_alloc(&y2, x->ndim, x->shape), 0);
        c.out = &y2;
        cr_assert_eq(L->type->forward(L, &c), 0);
        cr_expect_eq(tensor_max_abs_diff(&y, &y2), 0.0, "%s: frozen forward differs", name);
        expect_close_n(L->params[3].data, fixture_get(&f, "var"), name);
        tensor_release(&y2);
    }
    tensor *din[1] = {&dx};
    bwd_ctx b = {.in = ins, .n_in = 1, .out = &y, .dout = fixture_get(&f, "dy"), .din = din,
                 .grads = L->grads};
    cr_assert_eq(L->type->backward(L, &b), 0);
    expect_close_n(dx.data, fixture_get(&f, "dx"), name);
    expect_close_n(L->grads[0].data, fixture_get(&f, "dgamma"), name);
    expect_close_n(L->grads[1].data, fixture_get(&f, "dbeta"), name);
    tensor_release(&y);
    tensor_release(&dx);
    layer_free(L);
    fixture_free(&f);
}

Test(pool_torch, batch_norm_channels_training) { batch_norm_golden("bn_cnn_train", true); }
Test(pool_torch, batch_norm_channels_inference) { batch_norm_golden("bn_cnn_infer", false); }
Test(pool_torch, batch_norm_features_training) { batch_norm_golden("bn_ff_train", true); }
Test(pool_torch, batch_norm_features_inference) { batch_norm_golden("bn_ff_infer", false); }
