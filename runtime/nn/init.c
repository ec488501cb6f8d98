/* init.c: DL4J's weight-initialisation schemes, deterministic per (seed, layer, parameter). */
#include "runtime/nn/init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PS_CONSTANT, PS_UNIFORM, PS_NORMAL, PS_IDENTITY };

int param_stream_init(param_stream *s, const param_spec *ps, const init_spec *init,
                      double bias_init, const rng *r)
{
    memset(s, 0, sizeof *s);
    s->r = *r;
    s->cols = ps->ndim >= 2 ? shape_count(ps->ndim - 1, ps->shape + 1) : 1;
    if (ps->role == PARAM_BIAS || ps->role == PARAM_STATE || ps->const_init) {
        s->mode = PS_CONSTANT;
        s->a = ps->role == PARAM_BIAS && !ps->const_init ? bias_init : ps->state_init;
        return 0;
    }
    double fan_in = ps->fan_in > 0 ? (double)ps->fan_in : 1.0;
    double fan_out = ps->fan_out > 0 ? (double)ps->fan_out : 1.0;
    switch (init->kind) {
    case INIT_XAVIER:
        s->mode = PS_NORMAL;
        s->b = sqrt(2.0 / (fan_in + fan_out));
        return 0;
    case INIT_XAVIER_UNIFORM:
        s->mode = PS_UNIFORM;
        s->b = sqrt(6.0 / (fan_in + fan_out));
        s->a = -s->b;
        return 0;
    case INIT_RELU:
        s->mode = PS_NORMAL;
        s->b = sqrt(2.0 / fan_in);
        return 0;
    case INIT_RELU_UNIFORM:
        s->mode = PS_UNIFORM;
        s->b = sqrt(6.0 / fan_in);
        s->a = -s->b;
        return 0;
    case INIT_LECUN_NORMAL:
        s->mode = PS_NORMAL;
        s->b = sqrt(1.0 / fan_in);
        return 0;
    case INIT_UNIFORM:
        s->mode = PS_UNIFORM;
        s->a = init->a;
        s->b = init->b;
        return 0;
    case INIT_NORMAL:
        s->mode = PS_NORMAL;
        s->a = init->a;
        s->b = init->b;
        return 0;
    case INIT_ZEROS:
    case INIT_ONES:
        s->mode = PS_CONSTANT;
        s->a = init->kind == INIT_ONES ? 1.0 : 0.0;
        return 0;
    case INIT_IDENTITY:
        s->mode = PS_IDENTITY;
        return 0;
    case INIT_COUNT:
        break;
    }
    return -1;
}

void param_stream_fill(param_stream *s, float *dst, int64_t first, int64_t n)
{
    switch (s->mode) {
    case PS_CONSTANT:
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)s->a;
        return;
    case PS_UNIFORM: {
        const double lo = s->a, hi = s->b;
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)(lo + (hi - lo) * rng_uniform(&s->r));
        return;
    }
    case PS_NORMAL: {
        /* Box-Muller, both values of each pair used (half the transcendental calls of drawing
         * them one at a time); the second waits for the next position. */
        const double mean = s->a, std = s->b;
        int64_t i = 0;
        if (n > 0 && s->has_spare) {
            dst[i++] = (float)s->spare;
            s->has_spare = 0;
        }
        for (; i < n; i += 2) {
            double u1 = rng_uniform(&s->r), u2 = rng_uniform(&s->r);
            if (u1 < 1e-300)
                u1 = 1e-300;
            double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
            dst[i] = (float)(mean + std * rad * cos(th));
            double second = mean + std * rad * sin(th);
            if (i + 1 < n) {
                dst[i + 1] = (float)second;
            } else {
                s->spare = second;
                s->has_spare = 1;
            }
        }
        return;
    }
    case PS_IDENTITY: {
        /* ones on the main diagonal of the whole tensor (rows of s->cols values) */
        memset(dst, 0, (size_t)(n > 0 ? n : 0) * sizeof *dst);
        if (n <= 0 || s->cols <= 0)
            return;
        for (int64_t row = first / s->cols; row <= (first + n - 1) / s->cols; row++) {
            int64_t p = row * s->cols + row;
            if (row < s->cols && p >= first && p < first + n)
                dst[p - first] = 1.0f;
        }
        return;
    }
    }
}

int param_init(tensor *t, const param_spec *ps, const init_spec *init, double bias_init, rng *r)
{
    if (!t->data && t->size > 0)
        return -1;
    if (t->size != shape_count(ps->ndim, ps->shape))
        return -1;
    param_stream s;
    if (param_stream_init(&s, ps, init, bias_init, r) != 0)
        return -1;
    /* identity follows the tensor's own rows (a rectangular matrix keeps as many inputs as it
     * can) */
    int64_t rows = t->ndim >= 1 ? t->shape[0] : 1;
    s.cols = t->ndim >= 2 ? t->size / (rows ? rows : 1) : 1;
    param_stream_fill(&s, t->data, 0, t->size);
    *r = s.r;
    return 0;
}

int param_rng(rng *r, uint64_t seed, const char *layer_name, const char *key)
{
    size_t n = strlen(layer_name) + strlen(key) + 2;
    char stackbuf[256];
    char *s = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!s)
        return -1;
    size_t ln = strlen(layer_name);
    memcpy(s, layer_name, ln);
    s[ln] = '.';
    memcpy(s + ln + 1, key, strlen(key) + 1);
    rng_seed_stream(r, seed, s);
    if (s != stackbuf)
        free(s);
    return 0;
}

init_spec layer_weight_init(const layer *L, const init_spec *fallback)
{
    if (L->train.set_mask & TC_WEIGHT_INIT)
        return L->train.weight_init;
    return *fallback;
}

uint64_t layer_init_seed(const layer *L, uint64_t fallback)
{
    return (L->train.set_mask & TC_SEED) ? L->train.seed : fallback;
}

int layer_init_params(layer *L, const init_spec *fallback_init, uint64_t fallback_seed)
{
    if (!L->type->param_specs) {
        L->n_params = 0;
        return 0;
    }
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type->param_specs(L, specs);
    bool fresh[LAYER_MAX_PARAMS] = {false};
    for (int i = 0; i < n; i++) {
        if (tensor_has_values(&L->params[i]) || shape_count(specs[i].ndim, specs[i].shape) == 0) {
            if (tensor_has_values(&L->params[i]) &&
                (L->params[i].ndim != specs[i].ndim ||
                 memcmp(L->params[i].shape, specs[i].shape, (size_t)specs[i].ndim * sizeof(int64_t))))
                goto fail;
            if (!tensor_has_values(&L->params[i]) && tensor_alloc(&L->params[i], specs[i].ndim, specs[i].shape))
                goto fail;
            continue;
        }
        if (tensor_alloc(&L->params[i], specs[i].ndim, specs[i].shape))
            goto fail;
        fresh[i] = true;
    }
    init_spec wi = layer_weight_init(L, fallback_init);
    uint64_t seed = layer_init_seed(L, fallback_seed);
    double bias_init = (L->train.set_mask & TC_BIAS_INIT) ? L->train.bias_init : 0.0;
    for (int i = 0; i < n; i++) {
        if (!fresh[i])
            continue;
        rng r;
        if (param_rng(&r, seed, L->name, specs[i].key) ||
            param_init(&L->params[i], &specs[i], &wi, bias_init, &r))
            goto fail;
        layer_set_forget_gate_bias(L, &specs[i], &L->params[i]);
    }
    L->n_params = n;
    return 0;
fail:
    for (int i = 0; i < n; i++)
        if (fresh[i])
            tensor_release(&L->params[i]);
    return -1;
}
