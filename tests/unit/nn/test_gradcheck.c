/* test_gradcheck.c: finite-difference gradient checks over the whole layer registry (parameters
 * and inputs, feed-forward and recurrent data, dropout where a layer type applies it itself,
 * masks, losses with labels; convolutional data under every option combination that changes
 * the arithmetic: stride, asymmetric and `same` padding, dilation, groups, multiplier), and
 * over every activation and every loss. A layer's own `dropout`
 * setting is applied by the trainer to the layer's inputs: its gradients are checked through the
 * trainer in test_train.c. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/base/conf.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/tensor.h"

/* Central differences in float32: the objective J is accumulated in double, but every layer
 * output carries a relative rounding error of ~6e-8, so J itself is only known to ~1e-6. With
 * eps = 1e-2 that noise contributes ~1e-6 / 2e-2 = 5e-5 to a numerical derivative, and the
 * truncation error of the central difference is eps^2 / 6 * |J'''| ~ 1e-5 for the smooth
 * functions here (|J'''| = O(1)). A wrong gradient (a missing term, a transposed matrix, a
 * lost time step) is off by O(0.1) or more, so |a - n| <= 2e-3 + 2e-2 * max(|a|, |n|) separates
 * the two by two orders of magnitude. */
#define GC_EPS 1e-2
#define GC_ATOL 2e-3
#define GC_RTOL 2e-2

#define GC_T 4          /* time steps of recurrent inputs */
#define GC_B 3          /* batch */
#define GC_F 4          /* features of the first input */
#define GC_OUT 3        /* n_out of layers that have one */
#define GC_VOCAB 5      /* n_in of index-input layers */
#define GC_PREFILL 0.25f /* grads and din start here: backward must ADD */
#define GC_C 4          /* convolutional input: channels, height, width (odd, unequal) */
#define GC_H 7
#define GC_W 5

static bool close_enough(double a, double n)
{
    return fabs(a - n) <= GC_ATOL + GC_RTOL * fmax(fabs(a), fabs(n));
}

static bool smooth_activation(activation_kind a)
{
    /* softsign's second derivative jumps at 0: finite differences there are off by O(eps);
     * selu's first derivative jumps at 0 (scale vs scale * alpha) */
    return a != ACT_RELU && a != ACT_LEAKYRELU && a != ACT_HARDSIGMOID && a != ACT_RELU6 &&
           a != ACT_HARDTANH && a != ACT_SOFTSIGN && a != ACT_SELU;
}

static void fill_uniform(rng *r, tensor *t, double lo, double hi)
{
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = (float)(lo + (hi - lo) * rng_uniform(r));
}

/* Distinct values GC_SPACING apart in random order: no max-pooling window holds two values
 * within the finite-difference step of each other, so its winner never changes under it. */
#define GC_SPACING 0.03
static void fill_spaced(rng *r, tensor *t)
{
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = (float)(i * GC_SPACING);
    for (int64_t i = t->size - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(r, (uint64_t)i + 1);
        float v = t->data[i];
        t->data[i] = t->data[j];
        t->data[j] = v;
    }
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] -= (float)(t->size * GC_SPACING / 2);
}

static int alloc_act(tensor *t, act_shape s)
{
    if (s.kind == SHAPE_RNN)
        return tensor_alloc3(t, GC_T, GC_B, s.size);
    if (s.kind == SHAPE_CNN)
        return tensor_alloc(t, 4, (int64_t[]){GC_B, s.c, s.h, s.w});
    return tensor_alloc2(t, GC_B, s.size);
}

/* One configured check of one layer. */
typedef struct gc {
    layer *L;
    int n_in;
    act_shape in_shape[2];
    tensor in[2], out, R, labels, mask;
    bool use_labels, use_mask;
    uint64_t drop_seed;
    const char *what;
} gc;

static double objective(gc *g)
{
    rng r;
    rng_seed(&r, g->drop_seed);     /* the same dropout masks on every evaluation */
    const tensor *ins[2] = {&g->in[0], &g->in[1]};
    fwd_ctx c = {.in = ins, .n_in = g->n_in, .out = &g->out, .training = true, .rng = &r,
                 .mask = g->use_mask ? g->mask.data : NULL};
    cr_assert_eq(g->L->type->forward(g->L, &c), 0, "%s: forward failed", g->what);
    if (g->use_labels)
        return loss_layer_score(g->L, &g->out, &g->labels, g->use_mask ? g->mask.data : NULL);
    double j = 0.0;
    for (int64_t i = 0; i < g->out.size; i++)
        j += (double)g->out.data[i] * g->R.data[i];
    return j;
}

/* Labels for a loss layer, built from the current output so that kinks (l1 at p = y, hinge at
 * t p = 1) stay far from every evaluation point. */
static void make_labels(gc *g, rng *r)
{
    layer *L = g->L;
    (void)objective(g);
    const int64_t cols = g->out.shape[g->out.ndim - 1], rows = g->out.size / cols;
    cr_assert_eq(tensor_alloc(&g->labels, g->out.ndim, g->out.shape), 0);
    float *y = g->labels.data;
    const float *p = g->out.data;
    for (int64_t rr = 0; rr < rows; rr++) {
        float *yr = y + rr * cols;
        const float *pr = p + rr * cols;
        double s = 0.0;
        for (int64_t j = 0; j < cols; j++) {
            double u = rng_uniform(r);
            switch (L->loss) {
            case LOSS_MCXENT:
            case LOSS_NLL:
                yr[j] = j == (int64_t)rng_below(r, (uint64_t)cols) ? 1.0f : 0.0f;
                break;
            case LOSS_KL:
                yr[j] = (float)(0.1 + u);
                s += yr[j];
                break;
            case LOSS_XENT:
                yr[j] = u < 0.5 ? 0.0f : 1.0f;
                break;
            case LOSS_L1:
                yr[j] = pr[j] + (u < 0.5 ? -0.5f : 0.5f);
                break;
            case LOSS_HINGE:
                yr[j] = fabsf(1.0f - pr[j]) > 0.2f ? 1.0f : -1.0f;
                break;
            default:
                yr[j] = (float)(2.0 * u - 1.0);
                break;
            }
        }
        if (L->loss == LOSS_KL)
            for (int64_t j = 0; j < cols; j++)
                yr[j] = (float)(yr[j] / s);
    }
}

static void compare(gc *g, const char *kind, int k, const tensor *analytic, tensor *target)
{
    int bad = 0;
    for (int64_t i = 0; i < target->size; i++) {
        float v = target->data[i];
        target->data[i] = (float)(v + GC_EPS);
        double jp = objective(g);
        target->data[i] = (float)(v - GC_EPS);
        double jm = objective(g);
        target->data[i] = v;
        double num = (jp - jm) / (2.0 * GC_EPS);
        double a = analytic->data[i] - GC_PREFILL;
        if (!close_enough(a, num) && bad++ < 3)
            cr_expect(false, "%s: d/d%s[%d][%lld]: analytic %.6g, numerical %.6g", g->what, kind,
                      k, (long long)i, a, num);
    }
    cr_expect_eq(bad, 0, "%s: %d %s gradient entries differ", g->what, bad, kind);
}

/* Applies options written "key = value; key = value" (script values); false when the type
 * refuses one. */
static bool apply_options(layer *L, const char *opts)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", opts ? opts : "");
    for (char *save = NULL, *item = strtok_r(buf, ";", &save); item;
         item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        cr_assert(eq, "bad option text %s", item);
        *eq = '\0';
        char key[64];
        cr_assert_eq(sscanf(item, " %63s", key), 1);
        conf_value *v = conf_parse_text(eq + 1, loc_none(), NULL);
        cr_assert(v, "bad option value %s", eq + 1);
        int rc = layer_set_option(L, key, loc_none(), v, NULL);
        conf_value_free(v);
        if (rc)
            return false;
    }
    return true;
}

/* Builds the layer on inputs of `kind` (sizes from `sizes`; convolutional: GC_C x GC_H x GC_W)
 * with the options `opts`; false when the type refuses them. */
static bool gc_build(gc *g, const layer_type *type, shape_kind kind, const int64_t *sizes,
                     int activation, int loss, const char *opts, rng *r)
{
    memset(g, 0, sizeof *g);
    layer *L = layer_new(type, "g");
    cr_assert_not_null(L);
    L->n_out = GC_OUT;
    if (type->flags & LT_INDEX_INPUT) {
        L->n_in = GC_VOCAB;
        L->n_in_given = true;
    }
    if (activation >= 0)
        L->activation = (activation_kind)activation;
    if (loss >= 0)
        L->loss = (loss_kind)loss;
    g->L = L;
    g->n_in = (type->flags & LT_MULTI_INPUT) ? 2 : 1;
    if (!apply_options(L, opts)) {
        layer_free(L);
        g->L = NULL;
        return false;
    }
    for (int i = 0; i < g->n_in; i++)
        g->in_shape[i] = kind == SHAPE_CNN ? act_shape_cnn(GC_C, GC_H, GC_W)
                         : (act_shape){.kind = kind,
                                       .size = (type->flags & LT_INDEX_INPUT) ? 1 : sizes[i]};
    act_shape out;
    char msg[256];
    if (type->infer(L, g->in_shape, g->n_in, &out, msg, sizeof msg) != 0) {
        layer_free(L);
        g->L = NULL;
        return false;
    }
    L->in_shape = g->in_shape[0];
    L->out_shape = out;
    if (type->param_specs) {
        param_spec specs[LAYER_MAX_PARAMS];
        L->n_params = type->param_specs(L, specs);
        for (int k = 0; k < L->n_params; k++) {
            cr_assert_eq(tensor_alloc(&L->params[k], specs[k].ndim, specs[k].shape), 0);
            cr_assert_eq(tensor_alloc(&L->grads[k], specs[k].ndim, specs[k].shape), 0);
            fill_uniform(r, &L->params[k], -0.5, 0.5);
        }
    }
    for (int i = 0; i < g->n_in; i++) {
        cr_assert_eq(alloc_act(&g->in[i], g->in_shape[i]), 0);
        if (type->flags & LT_INDEX_INPUT)
            for (int64_t k = 0; k < g->in[i].size; k++)
                g->in[i].data[k] = (float)rng_below(r, GC_VOCAB);
        else if (kind == SHAPE_CNN && (type->flags & LT_CHANNELS_THROUGH))
            fill_spaced(r, &g->in[i]);   /* the poolings among them take maxima */
        else
            fill_uniform(r, &g->in[i], -1.0, 1.0);
    }
    cr_assert_eq(alloc_act(&g->out, out), 0);
    cr_assert_eq(alloc_act(&g->R, out), 0);
    fill_uniform(r, &g->R, -1.0, 1.0);
    if (kind == SHAPE_RNN)
        cr_assert_eq(tensor_alloc2(&g->mask, GC_T, GC_B), 0);
    else
        cr_assert_eq(tensor_alloc2(&g->mask, 1, GC_B), 0);
    for (int64_t i = 0; i < g->mask.size; i++)
        g->mask.data[i] = 1.0f;
    g->mask.data[g->mask.size - 1] = 0.0f;  /* the last step of the last example is padding */
    g->drop_seed = 99;
    return true;
}

static void gc_free(gc *g)
{
    layer_free(g->L);
    for (int i = 0; i < 2; i++)
        tensor_release(&g->in[i]);
    tensor_release(&g->out);
    tensor_release(&g->R);
    tensor_release(&g->labels);
    tensor_release(&g->mask);
    memset(g, 0, sizeof *g);
}

/* Runs the check: analytic gradients from one backward, then central differences on every
 * parameter and (non-index) input element; then the frozen path (no grads) must give the same
 * input gradient. */
static void gc_run(gc *g)
{
    layer *L = g->L;
    tensor din[2] = {{0}}, *dinp[2] = {NULL, NULL};
    const tensor *ins[2] = {&g->in[0], &g->in[1]};
    (void)objective(g);
    for (int k = 0; k < L->n_params; k++)
        for (int64_t i = 0; i < L->grads[k].size; i++)
            L->grads[k].data[i] = GC_PREFILL;
    for (int i = 0; i < g->n_in; i++) {
        cr_assert_eq(tensor_alloc(&din[i], g->in[i].ndim, g->in[i].shape), 0);
        for (int64_t k = 0; k < din[i].size; k++)
            din[i].data[k] = GC_PREFILL;
        dinp[i] = &din[i];
    }
    bwd_ctx b = {.in = ins, .n_in = g->n_in, .out = &g->out, .dout = &g->R, .din = dinp,
                 .grads = L->grads, .labels = g->use_labels ? &g->labels : NULL,
                 .mask = g->use_mask ? g->mask.data : NULL,
                 .label_mask = g->use_mask ? g->mask.data : NULL};
    cr_assert_eq(L->type->backward(L, &b), 0, "%s: backward failed", g->what);

    param_spec specs[LAYER_MAX_PARAMS];
    if (L->type->param_specs)
        L->type->param_specs(L, specs);
    for (int k = 0; k < L->n_params; k++) {
        if (!param_role_trained(specs[k].role))
            continue;   /* state the forward pass updates has no gradient */
        tensor analytic = {0};
        cr_assert_eq(tensor_copy(&analytic, &L->grads[k]), 0);
        compare(g, specs[k].key, k, &analytic, &L->params[k]);
        tensor_release(&analytic);
    }
    for (int i = 0; i < g->n_in; i++) {
        if (L->type->flags & LT_INDEX_INPUT) {
            for (int64_t k = 0; k < din[i].size; k++)
                cr_expect_eq(din[i].data[k], GC_PREFILL, "%s: index input got a gradient", g->what);
            continue;
        }
        compare(g, "input", i, &din[i], &g->in[i]);
    }

    /* frozen: no parameter gradients requested, the same input gradient */
    tensor din2[2] = {{0}}, *dinp2[2] = {NULL, NULL};
    for (int i = 0; i < g->n_in; i++) {
        cr_assert_eq(tensor_alloc(&din2[i], g->in[i].ndim, g->in[i].shape), 0);
        for (int64_t k = 0; k < din2[i].size; k++)
            din2[i].data[k] = GC_PREFILL;
        dinp2[i] = &din2[i];
    }
    (void)objective(g);
    b.din = dinp2;
    b.grads = NULL;
    cr_assert_eq(L->type->backward(L, &b), 0, "%s: backward without grads failed", g->what);
    for (int i = 0; i < g->n_in; i++) {
        double d = tensor_max_abs_diff(&din[i], &din2[i]);
        cr_expect(d <= 1e-6, "%s: input gradient differs without parameter gradients (%g)",
                  g->what, d);
        tensor_release(&din[i]);
        tensor_release(&din2[i]);
    }
}

/* Inference must equal training without dropout. */
static void gc_inference_matches(gc *g)
{
    tensor inf = {0};
    cr_assert_eq(tensor_alloc(&inf, g->out.ndim, g->out.shape), 0);
    const tensor *ins[2] = {&g->in[0], &g->in[1]};
    fwd_ctx c = {.in = ins, .n_in = g->n_in, .out = &inf, .training = false,
                 .mask = g->use_mask ? g->mask.data : NULL};
    cr_assert_eq(g->L->type->forward(g->L, &c), 0);
    (void)objective(g);
    double d = tensor_max_abs_diff(&inf, &g->out);
    cr_expect(d <= 1e-6, "%s: inference output differs from training output (%g)", g->what, d);
    tensor_release(&inf);
}

/* Layer types that apply dropout during their own forward: only the dropout layer type. Every
 * other type (dense, lstm, ...) leaves its `dropout` to the trainer, which drops its inputs
 * (train.c). */
static bool applies_own_dropout(const layer_type *type)
{
    return type == &layer_type_dropout;
}

typedef struct variant {
    double dropout;
    bool mask;
    int loss;               /* -1: objective sum(out * R); else this loss with labels */
    int activation;         /* -1: the type's default */
    const char *opts;       /* options "key = value; ..." (NULL: none) */
} variant;

/* Checks one type on one kind of data in one variant; false when the type refuses the data
 * (or the variant's activation / loss). */
static bool check_type(const layer_type *type, shape_kind kind, variant v)
{
    static const int64_t size_sets[2][2] = {{GC_F, 2}, {GC_F, GC_F}};
    rng r;
    rng_seed_stream(&r, 1234, type->name);
    gc g;
    bool built = false;
    for (int s = 0; s < 2 && !built; s++)
        built = gc_build(&g, type, kind, size_sets[s], v.activation, v.loss, v.opts, &r);
    if (!built)
        return false;
    g.L->train.dropout = v.dropout;
    g.use_mask = v.mask;
    char what[320];
    snprintf(what, sizeof what, "%s on %s input%s%s, dropout %.1f%s, %s/%s%s", type->name,
             kind == SHAPE_RNN ? "recurrent" : kind == SHAPE_CNN ? "convolutional" : "feed-forward",
             v.opts ? " with " : "", v.opts ? v.opts : "", v.dropout, v.mask ? ", masked" : "",
             activation_names[g.L->activation],
             (type->flags & LT_LOSS) ? loss_names[g.L->loss] : "-",
             v.loss >= 0 ? " with labels" : "");
    g.what = what;
    if (v.loss >= 0) {
        make_labels(&g, &r);
        g.use_labels = true;
    }
    /* Without dropout of its own, a layer's training forward equals its inference forward
     * whatever its `dropout` setting: the trainer drops its inputs, the layer does not. Batch
     * statistics differ by design (the convolutional block checks batch_norm's inference). */
    if ((v.dropout == 0.0 || !applies_own_dropout(type)) && !(type->flags & LT_BATCH_STATS))
        gc_inference_matches(&g);
    gc_run(&g);
    gc_free(&g);
    return true;
}

/* The option combinations that change a convolution's arithmetic, on the GC_C x GC_H x GC_W
 * input; each type takes those whose options it has. Returns how many it took. */
static int check_conv_options(const layer_type *type, variant plain)
{
    static const char *const sets[] = {
        "kernel = [3, 3]",
        "kernel = [3, 3]; stride = [2, 2]; padding = [1, 1]",
        "kernel = [3, 2]; stride = [2, 1]; padding = same",
        "kernel = [2, 3]; padding = same",
        "kernel = [2, 3]; padding = [0, 1, 2, 1]",
        "kernel = [3, 3]; dilation = [2, 1]; padding = [1, 0, 2, 1]",
        "kernel = [3, 2]; dilation = 2; stride = [1, 2]",
        "kernel = [1, 1]",
        "kernel = [1, 1]; stride = 2",
        "kernel = [3, 3]; has_bias = false",
        "kernel = [3, 3]; groups = 2; n_out = 4",
        "kernel = [3, 1]; groups = 4; n_out = 8; padding = [1, 0, 0, 1]",
        "kernel = [3, 3]; multiplier = 2; stride = 2; padding = same",
        "kernel = [2, 2]; multiplier = 3; dilation = [1, 2]; padding = [0, 1, 1, 0]",
        "kernel = [3, 3]; activation = tanh",
        "kernel = [3, 3]; activation = gelu; padding = same",
    };
    int taken = 0;
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        variant v = plain;
        v.opts = sets[i];
        taken += check_type(type, SHAPE_CNN, v);
    }
    return taken;
}

ParameterizedTestParameters(gradcheck, registry)
{
    static int idx[64];
    cr_assert(layer_type_count <= 64);
    for (int i = 0; i < layer_type_count; i++)
        idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)layer_type_count);
}

ParameterizedTest(int *ti, gradcheck, registry, .timeout = 120)
{
    const layer_type *type = layer_types[*ti];
    int kinds_ok = 0;
    const shape_kind kinds[3] = {SHAPE_FF, SHAPE_RNN, SHAPE_CNN};
    for (int k = 0; k < 3; k++) {
        shape_kind kind = kinds[k];
        variant plain = {.dropout = 0.0, .mask = false, .loss = -1, .activation = -1};
        if (!check_type(type, kind, plain))
            continue;
        kinds_ok++;
        if (kind == SHAPE_CNN) {
            int taken = check_conv_options(type, plain);
            /* the convolutions; poolings and batch_norm have their own block below */
            if ((type->flags & LT_CHANNELS_IN) && layer_option_find(type, "kernel"))
                cr_expect_geq(taken, 8, "%s took only %d of the convolution option sets",
                              type->name, taken);
        }
        variant dropped = plain;
        dropped.dropout = 0.3;
        check_type(type, kind, dropped);
        if (kind == SHAPE_RNN) {
            variant masked = plain;
            masked.mask = true;
            check_type(type, kind, masked);
        }
        if (kind == SHAPE_RNN && layer_option_find(type, "mode")) {
            /* bidirectional: every way of joining the directions, both cells, masks */
            static const char *const sets[] = {
                "mode = add", "mode = mul", "mode = average", "layer = graves_lstm",
                "layer = graves_lstm; mode = mul", "mode = average; has_bias = false"};
            for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
                variant v = plain;
                v.opts = sets[i];
                cr_expect(check_type(type, kind, v), "%s refused %s", type->name, sets[i]);
                v.mask = true;
                cr_expect(check_type(type, kind, v), "%s refused %s, masked", type->name, sets[i]);
            }
        }
        if (kind == SHAPE_RNN && layer_option_find(type, "reverse")) {
            /* lstm, graves_lstm read backward: plain, masked, without a bias; from the
             * constant (random, untrained) initial state h0, c0, both directions */
            static const char *const sets[] = {"reverse = true",
                                               "reverse = true; has_bias = false",
                                               "initial_state = true",
                                               "initial_state = true; has_bias = false",
                                               "reverse = true; initial_state = true"};
            for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
                variant v = plain;
                v.opts = sets[i];
                cr_expect(check_type(type, kind, v), "%s refused %s", type->name, sets[i]);
                v.mask = true;
                cr_expect(check_type(type, kind, v), "%s refused %s, masked", type->name, sets[i]);
            }
        }
        if (type->flags & LT_HAS_ACTIVATION) {
            /* every smooth activation the type accepts */
            for (int a = 0; a < ACT_COUNT; a++) {
                if (!smooth_activation((activation_kind)a))
                    continue;
                variant va = plain;
                va.activation = a;
                check_type(type, kind, va);     /* skipped when the type refuses it */
            }
        }
        if (type->flags & LT_LOSS) {
            /* every loss with every smooth activation it supports, through labels */
            for (int l = 0; l < LOSS_COUNT; l++) {
                for (int a = 0; a < ACT_COUNT; a++) {
                    if (l == LOSS_NONE || !smooth_activation((activation_kind)a) ||
                        !loss_supports((loss_kind)l, (activation_kind)a))
                        continue;
                    variant vl = plain;
                    vl.loss = l;
                    vl.activation = a;
                    vl.mask = kind == SHAPE_RNN && l == LOSS_MCXENT;
                    check_type(type, kind, vl);
                }
            }
        }
    }
    cr_expect_gt(kinds_ok, 0, "%s accepted no feed-forward, recurrent or convolutional test input",
                 type->name);
}

/* Points away from every kink (0 for the relu family, +-2.5 for hardsigmoid, +-1 for hardtanh;
 * relu6's 6 lies outside). */
static void kink_free(rng *r, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v;
        do
            v = (float)(6.0 * rng_uniform(r) - 3.0);
        while (fabsf(v) < 0.1f || fabsf(fabsf(v) - 2.5f) < 0.1f || fabsf(fabsf(v) - 1.0f) < 0.1f);
        x[i] = v;
    }
}

Test(gradcheck, every_activation)
{
    enum { ROWS = 3, COLS = 5, N = ROWS * COLS };
    const double alphas[2] = {0.0, 0.3};
    for (int a = 0; a < ACT_COUNT; a++) {
        for (int ai = 0; ai < 2; ai++) {
            rng r;
            rng_seed(&r, 7 + (uint64_t)a);
            float x[N], y[N], R[N], dx[N], yp[N], ym[N];
            kink_free(&r, x, N);
            for (int i = 0; i < N; i++)
                R[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
            /* clip's bounds at kinks kink_free avoids */
            act_params p = {.alpha = alphas[ai], .lo = ai ? -1.0 : -2.5, .hi = ai ? 2.5 : 1.0};
            act_forward((activation_kind)a, p, x, y, ROWS, COLS);
            act_backward((activation_kind)a, p, x, y, R, dx, ROWS, COLS);
            int bad = 0;
            for (int i = 0; i < N; i++) {
                float v = x[i];
                x[i] = (float)(v + GC_EPS);
                act_forward((activation_kind)a, p, x, yp, ROWS, COLS);
                x[i] = (float)(v - GC_EPS);
                act_forward((activation_kind)a, p, x, ym, ROWS, COLS);
                x[i] = v;
                double jp = 0, jm = 0;
                for (int k = 0; k < N; k++) {
                    jp += (double)yp[k] * R[k];
                    jm += (double)ym[k] * R[k];
                }
                double num = (jp - jm) / (2 * GC_EPS);
                if (!close_enough(dx[i], num))
                    bad++;
            }
            cr_expect_eq(bad, 0, "activation %s (alpha %g): %d wrong derivatives",
                         activation_names[a], alphas[ai], bad);
        }
    }
}

Test(gradcheck, every_loss_with_every_supported_activation)
{
    enum { ROWS = 4, COLS = 5, N = ROWS * COLS };
    const act_params lp = {.lo = -1.0, .hi = 2.5};   /* clip's bounds at kinks kink_free avoids */
    for (int l = 0; l < LOSS_COUNT; l++) {
        int pairs = 0;
        for (int a = 0; a < ACT_COUNT; a++) {
            if (!loss_supports((loss_kind)l, (activation_kind)a))
                continue;
            pairs++;
            rng r;
            rng_seed(&r, 100 + (uint64_t)(l * ACT_COUNT + a));
            float z[N], p[N], y[N], dz[N], mask[ROWS] = {1, 1, 0, 1};
            kink_free(&r, z, N);
            act_forward((activation_kind)a, lp, z, p, ROWS, COLS);
            for (int i = 0; i < N; i++) {
                double u = rng_uniform(&r);
                switch (l) {
                case LOSS_MCXENT: case LOSS_NLL: y[i] = (i % COLS) == (i / COLS) % COLS; break;
                case LOSS_KL: y[i] = (float)((0.1 + u) / (0.6 * COLS)); break;
                case LOSS_XENT: y[i] = u < 0.5; break;
                case LOSS_L1: y[i] = p[i] + (u < 0.5 ? -0.5f : 0.5f); break;
                case LOSS_HINGE: y[i] = fabsf(1.0f - p[i]) > 0.2f ? 1.0f : 0.0f; break;
                default: y[i] = (float)(2 * u - 1); break;
                }
            }
            loss_grad((loss_kind)l, (activation_kind)a, lp, z, p, y, mask, ROWS, COLS, 1.0 / ROWS, dz);
            int bad = 0;
            for (int i = 0; i < N; i++) {
                float v = z[i];
                z[i] = (float)(v + GC_EPS);
                act_forward((activation_kind)a, lp, z, p, ROWS, COLS);
                double jp = loss_value((loss_kind)l, (activation_kind)a, p, y, mask, ROWS, COLS) / ROWS;
                z[i] = (float)(v - GC_EPS);
                act_forward((activation_kind)a, lp, z, p, ROWS, COLS);
                double jm = loss_value((loss_kind)l, (activation_kind)a, p, y, mask, ROWS, COLS) / ROWS;
                z[i] = v;
                double num = (jp - jm) / (2 * GC_EPS);
                if (!close_enough(dz[i], num)) {
                    if (bad == 0)
                        cr_log_error("%s/%s z[%d]: analytic %g numerical %g", loss_names[l],
                                     activation_names[a], i, (double)dz[i], num);
                    bad++;
                }
            }
            act_forward((activation_kind)a, lp, z, p, ROWS, COLS);
            cr_expect_eq(bad, 0, "loss %s with %s: %d wrong derivatives", loss_names[l],
                         activation_names[a], bad);
        }
        if (l != LOSS_NONE)
            cr_expect_gt(pairs, 0, "loss %s supports no activation", loss_names[l]);
    }
}

/* clip(min, max) on a dense, an output and a convolutional layer, the bounds inside the range
 * of the pre-activations (the fixed seeds keep every point away from them). */
Test(gradcheck, clip_on_layers)
{
    variant v = {.dropout = 0.0, .mask = false, .loss = -1, .activation = -1,
                 .opts = "activation = clip(-0.3, 0.4)"};
    cr_expect(check_type(&layer_type_dense, SHAPE_FF, v));
    v.opts = "kernel = [3, 3]; activation = clip(-1.5, 2)";
    cr_expect(check_type(&layer_type_conv2d, SHAPE_CNN, v));
    v.opts = "activation = clip(-0.5, 0.5); loss = mse";
    v.loss = LOSS_MSE;
    cr_expect(check_type(&layer_type_output, SHAPE_FF, v));
}

/* ---- convolutional and normalisation layers: every option that changes the arithmetic ---- */

/* Checks `type` on convolutional (or, with recurrent, masked recurrent) input with the options
 * given as script text ("pooling = avg", ...); frozen and inference select batch_norm's fixed
 * statistics. */
static void check_options(const layer_type *type, const char *const *opts, int n_opts,
                          shape_kind kind, bool frozen, bool inference)
{
    rng r;
    rng_seed_stream(&r, 4321, type->name);
    const int64_t sizes[2] = {GC_F, GC_F};
    char text[256] = "";
    for (int i = 0, at = 0; i < n_opts && at < (int)sizeof text; i++)
        at += snprintf(text + at, sizeof text - (size_t)at, "%s%s", i ? "; " : "", opts[i]);
    gc g;
    cr_assert(gc_build(&g, type, kind, sizes, -1, -1, text, &r), "%s refused %s", type->name,
              text);
    g.L->frozen = frozen;
    g.use_mask = kind == SHAPE_RNN;
    if (kind == SHAPE_RNN)   /* example 1 keeps two steps only */
        g.mask.data[2 * GC_B + 1] = g.mask.data[3 * GC_B + 1] = 0.0f;
    if (kind == SHAPE_RNN)
        fill_spaced(&r, &g.in[0]);
    int vi = layer_param_index(g.L, "var");
    if (vi >= 0)
        for (int64_t i = 0; i < g.L->params[vi].size; i++)
            g.L->params[vi].data[i] = 0.5f + 0.25f * (float)i;
    char what[320];
    snprintf(what, sizeof what, "%s%s%s: %s", type->name, frozen ? " (frozen)" : "",
             inference ? " (inference)" : "", text);
    g.what = what;
    if (inference) {
        /* inference normalises with the running statistics, as a frozen layer's training
         * forward does (whose backward gc_run checks) */
        tensor inf = {0};
        cr_assert_eq(tensor_alloc(&inf, g.out.ndim, g.out.shape), 0);
        const tensor *ins[1] = {&g.in[0]};
        fwd_ctx c = {.in = ins, .n_in = 1, .out = &inf, .training = false};
        cr_assert_eq(type->forward(g.L, &c), 0);
        g.L->frozen = true;
        (void)objective(&g);
        double d = tensor_max_abs_diff(&inf, &g.out);
        cr_expect(d == 0.0, "%s: inference differs from the frozen forward (%g)", what, d);
        tensor_release(&inf);
    }
    gc_run(&g);
    gc_free(&g);
}

#define CHECK(type, kind, frozen, inference, ...)                                               \
    do {                                                                                        \
        static const char *const o_[] = {__VA_ARGS__};                                          \
        check_options(&layer_type_##type, o_, (int)(sizeof o_ / sizeof o_[0]), kind, frozen,    \
                      inference);                                                               \
    } while (0)

Test(gradcheck, subsampling_options, .timeout = 120)
{
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = max", "kernel = [2, 2]");
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = max", "kernel = [3, 2]",
          "stride = [2, 1]", "padding = [1, 0, 1, 1]");
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = max", "kernel = 2", "stride = 2",
          "ceil_mode = true");
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = avg", "kernel = 3", "stride = 2",
          "padding = [1, 1, 1, 1]");
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = avg", "kernel = 3", "stride = 2",
          "padding = [1, 1, 1, 1]", "count_padding = false");
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = avg", "kernel = 2", "stride = 2",
          "ceil_mode = true", "count_padding = false");
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = avg", "kernel = [2, 3]",
          "stride = [1, 2]", "padding = [0, 1, 1, 2]", "ceil_mode = true");
    CHECK(subsampling, SHAPE_CNN, false, false, "pooling = max", "kernel = 3", "stride = 2",
          "padding = same");
}

Test(gradcheck, global_pooling_options, .timeout = 120)
{
    CHECK(global_pooling, SHAPE_CNN, false, false, "pooling = max");
    CHECK(global_pooling, SHAPE_CNN, false, false, "pooling = avg");
    CHECK(global_pooling, SHAPE_CNN, false, false, "pooling = sum");
    CHECK(global_pooling, SHAPE_RNN, false, false, "pooling = max");
    CHECK(global_pooling, SHAPE_RNN, false, false, "pooling = avg");
    CHECK(global_pooling, SHAPE_RNN, false, false, "pooling = sum");
}

Test(gradcheck, batch_norm_options, .timeout = 120)
{
    CHECK(batch_norm, SHAPE_CNN, false, false, "eps = 0.001");
    CHECK(batch_norm, SHAPE_FF, false, false, "decay = 0.5");
    CHECK(batch_norm, SHAPE_CNN, false, false, "lock_gamma_beta = true", "gamma = 1.5",
          "beta = 0.25");
    CHECK(batch_norm, SHAPE_CNN, true, false, "eps = 0.001");
    CHECK(batch_norm, SHAPE_FF, false, true, "eps = 0.001");
    CHECK(batch_norm, SHAPE_CNN, false, true, "lock_gamma_beta = true", "gamma = 2");
}

Test(gradcheck, padding_cropping_upsampling, .timeout = 120)
{
    CHECK(zero_padding, SHAPE_CNN, false, false, "padding = [1, 0, 2, 1]");
    CHECK(zero_padding, SHAPE_CNN, false, false, "padding = [1, 1, 1, 1]");
    CHECK(cropping, SHAPE_CNN, false, false, "cropping = [1, 0, 2, 1]");
    CHECK(cropping, SHAPE_CNN, false, false, "cropping = [1, 1]");
    CHECK(upsampling, SHAPE_CNN, false, false, "size = 2");
    CHECK(upsampling, SHAPE_CNN, false, false, "size = [1, 3]");
}
