/* updater.c: gradient normalisation, regularisation, the updaters and learning-rate schedules. */
#include "runtime/nn/updater.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "runtime/base/vectorize.h"

/* Element-wise loops run in blocks of 16 with a scalar tail, a shape the compiler vectorises at
 * -O2 (with the widest vectors the processor has in the VEC_CLONES functions); every element
 * still sees exactly the same operations (results are bit-identical). */
#define EACH(i, n, ...)                                                                  \
    do {                                                                                 \
        const int64_t i##_n = (n);                                                       \
        int64_t i##_blk = 0;                                                             \
        for (; i##_blk + 16 <= i##_n; i##_blk += 16)                                     \
            for (int i##_k = 0; i##_k < 16; i##_k++) {                                   \
                const int64_t i = i##_blk + i##_k;                                       \
                __VA_ARGS__                                                              \
            }                                                                            \
        for (int64_t i = i##_blk; i < i##_n; i++) {                                      \
            __VA_ARGS__                                                                  \
        }                                                                                \
    } while (0)

/* Non-finite detection without branches: (|bits| + 2^23) reaches the sign bit exactly when the
 * exponent is all ones (NaN or infinity); OR-ing these over an array keeps the answer. */
static inline uint32_t nonfinite_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7fffffffu) + 0x00800000u;
}
#define NONFINITE(acc) (((acc) & 0x80000000u) != 0)

double updater_learning_rate(const updater_conf *u, double base_lr, int64_t iteration)
{
    switch (u->schedule) {
    case SCHED_STEP: {
        double steps = u->decay_steps > 0 ? u->decay_steps : 1;
        return base_lr * pow(u->decay_rate, floor((double)iteration / steps));
    }
    case SCHED_EXPONENTIAL:
        return base_lr * pow(u->decay_rate, (double)iteration);
    case SCHED_NONE:
        break;
    }
    return base_lr;
}

int updater_state_count(updater_kind kind)
{
    switch (kind) {
    case UPD_NESTEROVS:
    case UPD_RMSPROP:
    case UPD_ADAGRAD:
        return 1;
    case UPD_ADAM:
    case UPD_ADAMW:
        return 2;
    default:
        return 0;
    }
}

float updater_state_init(const updater_conf *u)
{
    if (u->kind == UPD_RMSPROP || u->kind == UPD_ADAGRAD)
        return (float)u->epsilon;
    return 0.0f;
}

/* update = lr g. */
VEC_CLONES static void step_sgd(float *restrict g, int64_t n, float lr)
{
    EACH(i, n, g[i] *= lr;);
}

/* v' = mu v - lr g;  update = mu v - (1 + mu) v'  (DL4J's Nesterovs, params -= update). */
VEC_CLONES static void step_nesterovs(float *restrict g, float *restrict v, int64_t n, float lr,
                                      float mu)
{
    EACH(i, n,
        float prev = v[i];
        float cur = mu * prev - lr * g[i];
        v[i] = cur;
        g[i] = mu * prev - (1.0f + mu) * cur;
    );
}

/* m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 * update = lr sqrt(1-b2^t) / (1-b1^t) * m / (sqrt(v) + eps), t = iteration + 1. */
static void step_adam(const updater_conf *u, double lr, int64_t iteration, float *g, float *m,
                      float *v, int64_t n)
{
    double t = (double)iteration + 1.0;
    double b1t = pow(u->beta1, t), b2t = pow(u->beta2, t);
    double alpha = lr * sqrt(1.0 - b2t) / (1.0 - b1t);
    if (isnan(alpha) || alpha == 0.0)
        alpha = u->epsilon;
    float b1 = (float)u->beta1, b2 = (float)u->beta2, eps = (float)u->epsilon;
    float a = (float)alpha;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        g[i] = a * mi / (sqrtf(vi) + eps);
    }
}

/* s = d s + (1-d) g^2;  update = lr g / (sqrt(s) + eps). */
static void step_rmsprop(float *g, float *s, int64_t n, float lr, float decay, float eps)
{
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float si = decay * s[i] + (1.0f - decay) * gi * gi;
        s[i] = si;
        g[i] = lr * gi / (sqrtf(si) + eps);
    }
}

/* h = h + g^2;  update = lr g / (sqrt(h) + eps). */
static void step_adagrad(float *g, float *h, int64_t n, float lr, float eps)
{
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float hi = h[i] + gi * gi;
        h[i] = hi;
        g[i] = lr * gi / (sqrtf(hi) + eps);
    }
}

void updater_step(const updater_conf *u, double lr, int64_t iteration, float *g, float *s0,
                  float *s1, int64_t n)
{
    float flr = (float)lr;
    switch (u->kind) {
    case UPD_SGD:
        step_sgd(g, n, flr);
        break;
    case UPD_NESTEROVS:
        assert(s0);
        step_nesterovs(g, s0, n, flr, (float)u->momentum);
        break;
    case UPD_ADAM:
    case UPD_ADAMW:
        assert(s0 && s1);
        step_adam(u, lr, iteration, g, s0, s1, n);
        break;
    case UPD_RMSPROP:
        assert(s0);
        step_rmsprop(g, s0, n, flr, (float)u->rms_decay, (float)u->epsilon);
        break;
    case UPD_ADAGRAD:
        assert(s0);
        step_adagrad(g, s0, n, flr, (float)u->epsilon);
        break;
    case UPD_NONE:
    case UPD_COUNT:
        memset(g, 0, (size_t)n * sizeof *g);
        break;
    }
}

const updater_conf *updater_for_param(const layer *L, param_role role, double *base_lr)
{
    const train_conf *tc = &L->train;
    if (role == PARAM_BIAS && (tc->set_mask & TC_BIAS_UPDATER)) {
        *base_lr = tc->bias_updater.learning_rate;
        return &tc->bias_updater;
    }
    *base_lr = (tc->set_mask & TC_LEARNING_RATE) ? tc->learning_rate : tc->updater.learning_rate;
    return &tc->updater;
}

/* The roles of L's parameters (from its type's layout); returns their count. */
static int layer_roles(const layer *L, param_role *roles)
{
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type && L->type->param_specs ? L->type->param_specs(L, specs) : 0;
    assert(n >= 0 && n <= LAYER_MAX_PARAMS);
    for (int p = 0; p < n; p++)
        roles[p] = specs[p].role;
    return n;
}

int updater_param_count(const layer *L)
{
    param_role roles[LAYER_MAX_PARAMS];
    return layer_roles(L, roles);
}

static int alloc_like(tensor *t, const tensor *like, float fill)
{
    if (t->data && t->size == like->size && !t->borrowed) {
        t->ndim = like->ndim;
        memcpy(t->shape, like->shape, sizeof t->shape);
        return 0;
    }
    tensor_release(t);
    if (tensor_alloc(t, like->ndim, like->shape) != 0)
        return -1;
    if (fill != 0.0f)
        for (int64_t i = 0; i < t->size; i++)
            t->data[i] = fill;
    return 0;
}

int updater_layer_prepare(layer *L)
{
    param_role roles[LAYER_MAX_PARAMS];
    int n = layer_roles(L, roles);
    for (int p = 0; p < n; p++) {
        const tensor *w = &L->params[p];
        assert(w->data);
        if (alloc_like(&L->grads[p], w, 0.0f) != 0)
            return -1;
        tensor_zero(&L->grads[p]);
        double lr;
        const updater_conf *u = updater_for_param(L, roles[p], &lr);
        int ns = param_role_trained(roles[p]) ? updater_state_count(u->kind) : 0;
        for (int k = 0; k < 2; k++) {
            tensor *s = &L->upd_state[p][k];
            if (k >= ns) {
                tensor_release(s);
                continue;
            }
            if (s->data && s->size == w->size && !s->borrowed)
                continue;   /* continue from the moments of an earlier fit */
            float init = k == 0 ? updater_state_init(u) : 0.0f;
            tensor_release(s);
            if (alloc_like(s, w, init) != 0)
                return -1;
        }
    }
    return 0;
}

void updater_layer_release(layer *L)
{
    for (int p = 0; p < LAYER_MAX_PARAMS; p++) {
        tensor_release(&L->grads[p]);
        tensor_release(&L->upd_state[p][0]);
        tensor_release(&L->upd_state[p][1]);
    }
}

void updater_layer_zero_grads(layer *L)
{
    for (int p = 0; p < LAYER_MAX_PARAMS; p++)
        if (L->grads[p].data)
            tensor_zero(&L->grads[p]);
}

void updater_normalize_gradients(layer *L)
{
    grad_norm_kind kind = L->train.grad_norm;
    double t = L->train.grad_norm_threshold;
    int np = updater_param_count(L);
    if (kind == GN_NONE)
        return;
    if (kind == GN_CLIP_ELEMENT_WISE) {
        float ft = (float)t;
        for (int p = 0; p < np; p++) {
            float *g = L->grads[p].data;
            for (int64_t i = 0; i < L->grads[p].size; i++)
                g[i] = g[i] > ft ? ft : g[i] < -ft ? -ft : g[i];
        }
        return;
    }
    double ss = 0;
    for (int p = 0; p < np; p++) {
        const float *g = L->grads[p].data;
        for (int64_t i = 0; i < L->grads[p].size; i++)
            ss += (double)g[i] * g[i];
    }
    double norm = sqrt(ss);
    double scale;
    if (kind == GN_CLIP_L2_PER_LAYER) {
        if (!(norm > t))
            return;
        scale = t / norm;
    } else {
        if (!(norm > 0))
            return;
        scale = 1.0 / norm;
    }
    float fs = (float)scale;
    for (int p = 0; p < np; p++) {
        float *g = L->grads[p].data;
        for (int64_t i = 0; i < L->grads[p].size; i++)
            g[i] *= fs;
    }
}

bool updater_all_finite(const float *x, int64_t n)
{
    uint32_t acc = 0;
    EACH(i, n, acc |= nonfinite_bits(x[i]););
    return !NONFINITE(acc);
}

/* sgd in one pass: the gradient check, l1/l2, lr g, weight decay c w and the update check. */
static void sgd_fused(float *restrict g, const float *restrict w, int64_t n, float lr, float l1,
                      float l2, float c, uint32_t *bad_in, uint32_t *bad_out)
{
    uint32_t bi = 0, bo = 0;
    EACH(i, n,
        float gi = g[i], wi = w[i];
        bi |= nonfinite_bits(gi);
        gi = (gi + (wi > 0.0f ? l1 : wi < 0.0f ? -l1 : 0.0f)) + l2 * wi;
        float u = lr * gi + c * wi;
        g[i] = u;
        bo |= nonfinite_bits(u);
    );
    *bad_in = bi;
    *bad_out = bo;
}

/* The gradient check, then l1 (sign) and l2 added to the gradient. */
static uint32_t regularize(float *restrict g, const float *restrict w, int64_t n, float l1,
                           float l2)
{
    uint32_t bad = 0;
    if (l1 == 0.0f && l2 == 0.0f) {
        EACH(i, n, bad |= nonfinite_bits(g[i]););
        return bad;
    }
    EACH(i, n,
        float gi = g[i], wi = w[i];
        bad |= nonfinite_bits(gi);
        g[i] = (gi + (wi > 0.0f ? l1 : wi < 0.0f ? -l1 : 0.0f)) + l2 * wi;
    );
    return bad;
}

/* Weight decay c w added to the update, then the update check. */
static uint32_t add_decay(float *restrict g, const float *restrict w, int64_t n, float c)
{
    uint32_t bad = 0;
    if (c == 0.0f) {
        EACH(i, n, bad |= nonfinite_bits(g[i]););
        return bad;
    }
    EACH(i, n,
        float v = g[i] + c * w[i];
        g[i] = v;
        bad |= nonfinite_bits(v);
    );
    return bad;
}

static void subtract(float *restrict w, const float *restrict g, int64_t n)
{
    EACH(i, n, w[i] -= g[i];);
}

int updater_layer_compute(layer *L, int64_t iteration, bool *bad_gradient)
{
    param_role roles[LAYER_MAX_PARAMS];
    int n = layer_roles(L, roles);
    updater_normalize_gradients(L);
    const train_conf *tc = &L->train;
    for (int p = 0; p < n; p++) {
        if (!param_role_trained(roles[p]))
            continue;
        tensor *gt = &L->grads[p];
        const float *w = L->params[p].data;
        float *g = gt->data;
        int64_t sz = gt->size;
        assert(g && w && sz == L->params[p].size);
        double base_lr;
        const updater_conf *u = updater_for_param(L, roles[p], &base_lr);
        bool bias = roles[p] == PARAM_BIAS;
        float l1 = (float)(bias ? tc->l1_bias : tc->l1);
        float l2 = (float)(bias ? tc->l2_bias : tc->l2);
        double lr = updater_learning_rate(u, base_lr, iteration);
        double decay = bias ? 0.0 : tc->weight_decay;
        if (u->kind == UPD_ADAMW)
            decay += u->weight_decay;
        float c = (float)(lr * decay);
        uint32_t bad_in = 0, bad_out = 0;
        if (u->kind == UPD_NONE) {
            bad_in = regularize(g, w, sz, 0.0f, 0.0f);
            memset(g, 0, (size_t)sz * sizeof *g);
        } else if (u->kind == UPD_SGD) {
            sgd_fused(g, w, sz, (float)lr, l1, l2, c, &bad_in, &bad_out);
        } else {
            bad_in = regularize(g, w, sz, l1, l2);
            updater_step(u, lr, iteration, g, L->upd_state[p][0].data, L->upd_state[p][1].data,
                         sz);
            bad_out = add_decay(g, w, sz, c);
        }
        if (NONFINITE(bad_in) || NONFINITE(bad_out)) {
            if (bad_gradient)
                *bad_gradient = NONFINITE(bad_in);
            return p;
        }
    }
    return -1;
}

int updater_layer_apply(layer *L)
{
    int np = updater_param_count(L);
    for (int p = 0; p < np; p++) {
        tensor *w = &L->params[p];
        const float *g = L->grads[p].data;
        if (!g)
            continue;
        if (w->borrowed && tensor_make_owned(w) != 0)
            return -1;
        subtract(w->data, g, w->size);
    }
    return 0;
}
