/* test_updater.c: each updater against hand-computed steps, schedules, regularisation, weight
 * decay, the bias updater and gradient normalisation. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "runtime/base/conf.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/updater.h"

#define CLOSE(a, b, tol) cr_assert(fabs((double)(a) - (double)(b)) <= (tol), \
                                   "%s = %.9g, expected %.9g", #a, (double)(a), (double)(b))

/* A dense layer with one input and n_out units: W [1, n_out], b [n_out]. */
static layer *upd_dense(int64_t n_out, const float *w, const float *b)
{
    layer *L = layer_new(&layer_type_dense, "d");
    L->n_in = 1;
    L->n_out = n_out;
    param_spec specs[LAYER_MAX_PARAMS];
    L->n_params = L->type->param_specs(L, specs);
    for (int p = 0; p < L->n_params; p++)
        cr_assert_eq(tensor_alloc(&L->params[p], specs[p].ndim, specs[p].shape), 0);
    memcpy(L->params[0].data, w, (size_t)n_out * sizeof(float));
    memcpy(L->params[1].data, b, (size_t)n_out * sizeof(float));
    return L;
}

static void upd_set_grads(layer *L, const float *gw, const float *gb)
{
    memcpy(L->grads[0].data, gw, (size_t)L->grads[0].size * sizeof(float));
    memcpy(L->grads[1].data, gb, (size_t)L->grads[1].size * sizeof(float));
}

static void run_step(const updater_conf *u, double lr, int64_t it, float *g, float *s0, float *s1)
{
    updater_step(u, lr, it, g, s0, s1, 1);
}

Test(updater, sgd)
{
    updater_conf u;
    updater_conf_defaults(&u, UPD_SGD);
    float g[2] = {1.0f, -2.0f};
    updater_step(&u, 0.1, 0, g, NULL, NULL, 2);
    CLOSE(g[0], 0.1, 1e-7);
    CLOSE(g[1], -0.2, 1e-7);
}

Test(updater, nesterovs_dl4j_formulation)
{
    updater_conf u;
    updater_conf_defaults(&u, UPD_NESTEROVS);
    cr_assert_eq(updater_state_count(UPD_NESTEROVS), 1);
    float v = 0.0f, g = 1.0f;
    /* v1 = 0.9*0 - 0.1*1 = -0.1; update = 0.9*0 - 1.9*(-0.1) = 0.19 */
    run_step(&u, 0.1, 0, &g, &v, NULL);
    CLOSE(v, -0.1, 1e-7);
    CLOSE(g, 0.19, 1e-7);
    /* v2 = 0.9*(-0.1) - 0.1 = -0.19; update = 0.9*(-0.1) - 1.9*(-0.19) = 0.271 */
    g = 1.0f;
    run_step(&u, 0.1, 1, &g, &v, NULL);
    CLOSE(v, -0.19, 1e-7);
    CLOSE(g, 0.271, 1e-6);
}

Test(updater, adam_two_steps)
{
    updater_conf u;
    updater_conf_defaults(&u, UPD_ADAM);
    cr_assert_eq(updater_state_count(UPD_ADAM), 2);
    float m = 0, v = 0, g = 0.5f;
    /* m = 0.05, v = 0.00025, alpha = 0.01 sqrt(0.001) / 0.1; update = alpha m / (sqrt v + eps) */
    run_step(&u, 0.01, 0, &g, &m, &v);
    CLOSE(m, 0.05, 1e-7);
    CLOSE(v, 0.00025, 1e-8);
    CLOSE(g, 0.01, 2e-7);
    /* m = -0.005, v = 0.00049975, alpha = 0.01 sqrt(1 - 0.999^2) / (1 - 0.9^2) */
    g = -0.5f;
    run_step(&u, 0.01, 1, &g, &m, &v);
    CLOSE(m, -0.005, 1e-7);
    CLOSE(v, 0.00049975, 1e-8);
    CLOSE(g, -0.000526318, 5e-8);
}

Test(updater, rmsprop_and_adagrad)
{
    updater_conf r;
    updater_conf_defaults(&r, UPD_RMSPROP);
    float s = updater_state_init(&r), g = 2.0f;
    CLOSE(s, 1e-8, 1e-12);
    /* s = 0.95e-8 + 0.05*4 = 0.2; update = 0.1 * 2 / (sqrt(0.2) + 1e-8) */
    run_step(&r, 0.1, 0, &g, &s, NULL);
    CLOSE(s, 0.2, 1e-7);
    CLOSE(g, 0.447213595, 1e-6);

    updater_conf a;
    updater_conf_defaults(&a, UPD_ADAGRAD);
    float h = updater_state_init(&a);
    CLOSE(h, 1e-6, 1e-12);
    g = 3.0f;
    /* h = 9.000001; update = 0.1 * 3 / (3.000000167 + 1e-6) */
    run_step(&a, 0.1, 0, &g, &h, NULL);
    CLOSE(h, 9.000001, 1e-5);
    CLOSE(g, 0.0999999611, 1e-7);
    g = 4.0f;
    /* h = 25.000001; update = 0.1 * 4 / (5 + 1e-6) */
    run_step(&a, 0.1, 1, &g, &h, NULL);
    CLOSE(g, 0.07999998, 1e-7);
}

Test(updater, none_changes_nothing)
{
    float w[2] = {1, 2}, b[2] = {3, 4};
    layer *L = upd_dense(2, w, b);
    updater_conf_defaults(&L->train.updater, UPD_NONE);
    L->train.l2 = 0.5;
    L->train.weight_decay = 0.5;
    cr_assert_eq(updater_layer_prepare(L), 0);
    upd_set_grads(L, (float[]){1, 1}, (float[]){1, 1});
    cr_assert_eq(updater_layer_compute(L, 0, NULL), -1);
    cr_assert_eq(updater_layer_apply(L), 0);
    CLOSE(L->params[0].data[1], 2, 0);
    CLOSE(L->params[1].data[0], 3, 0);
    layer_free(L);
}

Test(updater, schedules)
{
    updater_conf u;
    updater_conf_defaults(&u, UPD_SGD);
    CLOSE(updater_learning_rate(&u, 0.1, 1000), 0.1, 0);
    u.schedule = SCHED_STEP;
    u.decay_rate = 0.5;
    u.decay_steps = 10;
    CLOSE(updater_learning_rate(&u, 0.1, 0), 0.1, 1e-15);
    CLOSE(updater_learning_rate(&u, 0.1, 9), 0.1, 1e-15);
    CLOSE(updater_learning_rate(&u, 0.1, 10), 0.05, 1e-15);
    CLOSE(updater_learning_rate(&u, 0.1, 25), 0.025, 1e-15);
    u.schedule = SCHED_EXPONENTIAL;
    u.decay_rate = 0.9;
    CLOSE(updater_learning_rate(&u, 0.1, 2), 0.081, 1e-15);

    /* The schedule reaches the update through the layer pipeline. */
    float w[1] = {0}, b[1] = {0};
    layer *L = upd_dense(1, w, b);
    L->train.updater.learning_rate = 0.1;
    L->train.updater.schedule = SCHED_STEP;
    L->train.updater.decay_rate = 0.5;
    L->train.updater.decay_steps = 10;
    cr_assert_eq(updater_layer_prepare(L), 0);
    upd_set_grads(L, (float[]){1}, (float[]){1});
    cr_assert_eq(updater_layer_compute(L, 10, NULL), -1);
    CLOSE(L->grads[0].data[0], 0.05, 1e-8);
    layer_free(L);
}

Test(updater, l1_l2_weights_only_by_default)
{
    float w[2] = {2, -2}, b[2] = {2, -2};
    layer *L = upd_dense(2, w, b);
    L->train.updater.learning_rate = 0.1;
    L->train.l2 = 0.5;
    L->train.l1 = 0.25;
    cr_assert_eq(updater_layer_prepare(L), 0);
    upd_set_grads(L, (float[]){1, 1}, (float[]){1, 1});
    cr_assert_eq(updater_layer_compute(L, 0, NULL), -1);
    /* W: 0.1 * (1 + 0.5*2 + 0.25) = 0.225;  0.1 * (1 - 1 - 0.25) = -0.025 */
    CLOSE(L->grads[0].data[0], 0.225, 1e-7);
    CLOSE(L->grads[0].data[1], -0.025, 1e-7);
    /* b untouched by l1/l2 */
    CLOSE(L->grads[1].data[0], 0.1, 1e-7);
    cr_assert_eq(updater_layer_apply(L), 0);
    CLOSE(L->params[0].data[0], 1.775, 1e-6);
    CLOSE(L->params[1].data[1], -2.1, 1e-6);

    /* l2_bias reaches the bias. */
    L->train.l2_bias = 1.0;
    upd_set_grads(L, (float[]){0, 0}, (float[]){0, 0});
    cr_assert_eq(updater_layer_compute(L, 1, NULL), -1);
    CLOSE(L->grads[1].data[0], 0.1 * L->params[1].data[0], 1e-7);
    layer_free(L);
}

Test(updater, weight_decay_after_the_updater)
{
    float w[1] = {2}, b[1] = {2};
    layer *L = upd_dense(1, w, b);
    updater_conf_defaults(&L->train.updater, UPD_ADAM);
    L->train.updater.learning_rate = 0.01;
    L->train.weight_decay = 0.5;
    cr_assert_eq(updater_layer_prepare(L), 0);
    upd_set_grads(L, (float[]){0.5f}, (float[]){0.5f});
    cr_assert_eq(updater_layer_compute(L, 0, NULL), -1);
    /* adam's first step (0.01) + lr * wd * w = 0.01 + 0.01 * 0.5 * 2 */
    CLOSE(L->grads[0].data[0], 0.02, 1e-7);
    CLOSE(L->grads[1].data[0], 0.01, 1e-7);   /* no decay on biases */
    layer_free(L);

    /* adamw: its decoupled decay applies to every parameter it updates. */
    L = upd_dense(1, w, b);
    updater_conf_defaults(&L->train.updater, UPD_ADAMW);
    L->train.updater.learning_rate = 0.01;
    L->train.updater.weight_decay = 0.1;
    cr_assert_eq(updater_layer_prepare(L), 0);
    upd_set_grads(L, (float[]){0.5f}, (float[]){0.5f});
    cr_assert_eq(updater_layer_compute(L, 0, NULL), -1);
    CLOSE(L->grads[0].data[0], 0.01 + 0.01 * 0.1 * 2, 1e-7);
    CLOSE(L->grads[1].data[0], 0.01 + 0.01 * 0.1 * 2, 1e-7);
    layer_free(L);
}

Test(updater, bias_updater_and_learning_rate_shorthand)
{
    float w[1] = {0}, b[1] = {0};
    layer *L = upd_dense(1, w, b);
    updater_conf_defaults(&L->train.updater, UPD_SGD);
    L->train.updater.learning_rate = 0.1;
    L->train.learning_rate = 0.5;
    L->train.set_mask |= TC_LEARNING_RATE;
    updater_conf_defaults(&L->train.bias_updater, UPD_NESTEROVS);
    L->train.bias_updater.learning_rate = 1.0;
    L->train.set_mask |= TC_BIAS_UPDATER;
    cr_assert_eq(updater_layer_prepare(L), 0);
    cr_assert_null(L->upd_state[0][0].data);        /* sgd keeps no state for W */
    cr_assert_not_null(L->upd_state[1][0].data);    /* nesterovs' v for b */
    upd_set_grads(L, (float[]){1}, (float[]){1});
    cr_assert_eq(updater_layer_compute(L, 0, NULL), -1);
    CLOSE(L->grads[0].data[0], 0.5, 1e-7);          /* learning_rate wins over sgd's 0.1 */
    CLOSE(L->grads[1].data[0], 1.9, 1e-6);          /* nesterovs, lr 1: 0 - 1.9 * (-1) */
    /* Preparing again keeps the moments (a second fit continues). */
    float v = L->upd_state[1][0].data[0];
    cr_assert_eq(updater_layer_prepare(L), 0);
    CLOSE(L->upd_state[1][0].data[0], v, 0);
    updater_layer_release(L);
    cr_assert_null(L->grads[0].data);
    cr_assert_null(L->upd_state[1][0].data);
    layer_free(L);
}

Test(updater, gradient_normalization)
{
    float w[1] = {0}, b[1] = {0};
    layer *L = upd_dense(1, w, b);
    cr_assert_eq(updater_layer_prepare(L), 0);

    L->train.grad_norm = GN_CLIP_L2_PER_LAYER;
    L->train.grad_norm_threshold = 1.0;
    upd_set_grads(L, (float[]){3}, (float[]){4});
    updater_normalize_gradients(L);
    CLOSE(L->grads[0].data[0], 0.6, 1e-7);
    CLOSE(L->grads[1].data[0], 0.8, 1e-7);
    L->train.grad_norm_threshold = 10.0;   /* under the threshold: unchanged */
    upd_set_grads(L, (float[]){3}, (float[]){4});
    updater_normalize_gradients(L);
    CLOSE(L->grads[0].data[0], 3, 0);

    L->train.grad_norm = GN_RENORMALIZE_L2_PER_LAYER;
    upd_set_grads(L, (float[]){0.3f}, (float[]){0.4f});
    updater_normalize_gradients(L);
    CLOSE(L->grads[0].data[0], 0.6, 1e-6);
    CLOSE(L->grads[1].data[0], 0.8, 1e-6);

    L->train.grad_norm = GN_CLIP_ELEMENT_WISE;
    L->train.grad_norm_threshold = 1.0;
    upd_set_grads(L, (float[]){3}, (float[]){-0.5f});
    updater_normalize_gradients(L);
    CLOSE(L->grads[0].data[0], 1, 0);
    CLOSE(L->grads[1].data[0], -0.5, 0);
    upd_set_grads(L, (float[]){-7}, (float[]){0});
    updater_normalize_gradients(L);
    CLOSE(L->grads[0].data[0], -1, 0);
    layer_free(L);
}

Test(updater, non_finite_update_is_reported_before_applying)
{
    float w[2] = {1, 1}, b[2] = {1, 1};
    layer *L = upd_dense(2, w, b);
    L->train.updater.learning_rate = 1e38;
    cr_assert_eq(updater_layer_prepare(L), 0);
    upd_set_grads(L, (float[]){1, 1}, (float[]){1e10f, 1});
    bool bad_gradient = true;
    cr_assert_eq(updater_layer_compute(L, 0, &bad_gradient), 1);   /* b: 1e38 * 1e10 overflows */
    cr_assert(!bad_gradient);
    cr_assert(updater_all_finite(L->params[1].data, 2));
    /* A NaN gradient is reported as the gradient's fault, whatever the updater. */
    updater_conf_defaults(&L->train.updater, UPD_ADAM);
    cr_assert_eq(updater_layer_prepare(L), 0);
    upd_set_grads(L, (float[]){1, NAN}, (float[]){1, 1});
    cr_assert_eq(updater_layer_compute(L, 0, &bad_gradient), 0);
    cr_assert(bad_gradient);
    updater_conf_defaults(&L->train.updater, UPD_SGD);
    upd_set_grads(L, (float[]){1, 1}, (float[]){-INFINITY, 1});
    cr_assert_eq(updater_layer_compute(L, 0, &bad_gradient), 1);
    cr_assert(bad_gradient);
    CLOSE(L->params[0].data[0], 1, 0);
    cr_assert(!updater_all_finite((float[]){1, NAN}, 2));
    cr_assert(!updater_all_finite((float[]){INFINITY}, 1));
    cr_assert(!updater_all_finite((float[]){-INFINITY}, 1));
    cr_assert(updater_all_finite((float[]){3.4e38f, -3.4e38f, 1e-45f, -0.0f}, 4));
    float many[37];
    for (int i = 0; i < 37; i++)
        many[i] = (float)i;
    cr_assert(updater_all_finite(many, 37));
    many[36] = NAN;   /* in the scalar tail after two blocks of 16 */
    cr_assert(!updater_all_finite(many, 37));
    many[36] = 0;
    many[5] = -INFINITY;   /* inside a block */
    cr_assert(!updater_all_finite(many, 37));
    layer_free(L);
}
