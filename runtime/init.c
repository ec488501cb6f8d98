/* init.c: DL4J's weight-initialisation schemes, deterministic per (seed, layer, parameter). */
#include "init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int param_init(tensor *t, const param_spec *ps, const init_spec *init, double bias_init, rng *r)
{
    if (!t->data && t->size > 0)
        return -1;
    if (t->size != shape_count(ps->ndim, ps->shape))
        return -1;
    int64_t n = t->size;
    float *x = t->data;
    if (ps->role == PARAM_BIAS) {
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)bias_init;
        return 0;
    }
    double fan_in = ps->fan_in > 0 ? (double)ps->fan_in : 1.0;
    double fan_out = ps->fan_out > 0 ? (double)ps->fan_out : 1.0;
    double lo = 0, hi = 0, mean = 0, std = 0;
    bool normal = false;
    switch (init->kind) {
    case INIT_XAVIER:
        normal = true;
        std = sqrt(2.0 / (fan_in + fan_out));
        break;
    case INIT_XAVIER_UNIFORM:
        hi = sqrt(6.0 / (fan_in + fan_out));
        lo = -hi;
        break;
    case INIT_RELU:
        normal = true;
        std = sqrt(2.0 / fan_in);
        break;
    case INIT_RELU_UNIFORM:
        hi = sqrt(6.0 / fan_in);
        lo = -hi;
        break;
    case INIT_LECUN_NORMAL:
        normal = true;
        std = sqrt(1.0 / fan_in);
        break;
    case INIT_UNIFORM:
        lo = init->a;
        hi = init->b;
        break;
    case INIT_NORMAL:
        normal = true;
        mean = init->a;
        std = init->b;
        break;
    case INIT_ZEROS:
    case INIT_ONES:
        for (int64_t i = 0; i < n; i++)
            x[i] = init->kind == INIT_ONES ? 1.0f : 0.0f;
        return 0;
    case INIT_IDENTITY: {
        int64_t rows = t->ndim >= 1 ? t->shape[0] : 1;
        int64_t cols = t->ndim >= 2 ? n / (rows ? rows : 1) : 1;
        memset(x, 0, (size_t)n * sizeof *x);
        for (int64_t i = 0; i < rows && i < cols; i++)
            x[i * cols + i] = 1.0f;
        return 0;
    }
    case INIT_COUNT:
        return -1;
    }
    if (normal)
        /* Box-Muller, both values of each pair used (half the transcendental calls of
         * drawing them one at a time). */
        for (int64_t i = 0; i < n; i += 2) {
            double u1 = rng_uniform(r), u2 = rng_uniform(r);
            if (u1 < 1e-300)
                u1 = 1e-300;
            double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
            x[i] = (float)(mean + std * rad * cos(th));
            if (i + 1 < n)
                x[i + 1] = (float)(mean + std * rad * sin(th));
        }
    else
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(lo + (hi - lo) * rng_uniform(r));
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
        if (L->params[i].data || shape_count(specs[i].ndim, specs[i].shape) == 0) {
            if (L->params[i].data &&
                (L->params[i].ndim != specs[i].ndim ||
                 memcmp(L->params[i].shape, specs[i].shape, (size_t)specs[i].ndim * sizeof(int64_t))))
                goto fail;
            if (!L->params[i].data && tensor_alloc(&L->params[i], specs[i].ndim, specs[i].shape))
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
        if (specs[i].role == PARAM_BIAS && (L->type->flags & LT_RECURRENT) &&
            L->params[i].size == 4 * L->n_out)
            for (int64_t j = L->n_out; j < 2 * L->n_out; j++)
                L->params[i].data[j] = (float)L->forget_gate_bias;
    }
    L->n_params = n;
    return 0;
fail:
    for (int i = 0; i < n; i++)
        if (fresh[i])
            tensor_release(&L->params[i]);
    return -1;
}

int model_init_params(model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        if (layer_init_params(m->layers[i], &m->weight_init, m->seed))
            return -1;
    m->weights_loaded = true;
    return 0;
}
