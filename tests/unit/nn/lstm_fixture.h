/* lstm_fixture.h: reading the LSTM test fixtures (tests/data/onnx, tests/data/lstm) and building
 * lstm / graves_lstm layers from them; shared by the LSTM unit tests. */
#ifndef SURGERY_TEST_LSTM_FIXTURE_H
#define SURGERY_TEST_LSTM_FIXTURE_H

/* Ownership: a fixture owns its tensors (fixture_free releases them); lstm_make returns a layer
 * the caller frees with layer_free. */

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/nn/layer.h"
#include "runtime/tensor/tensor.h"

#define FIXTURE_MAX 24

/* Named tensors from a text file: `tensor NAME NDIM D0 ...` then the values; `#` comments. */
typedef struct fixture {
    int n;
    char names[FIXTURE_MAX][32];
    tensor t[FIXTURE_MAX];
} fixture;

static inline void fixture_free(fixture *f)
{
    for (int i = 0; i < f->n; i++)
        tensor_release(&f->t[i]);
    f->n = 0;
}

static inline void fixture_load(fixture *f, const char *path)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "cannot open %s (tests run from the repository root)", path);
    char word[64];
    while (fscanf(fp, "%63s", word) == 1) {
        if (word[0] == '#') {
            int ch;
            while ((ch = fgetc(fp)) != EOF && ch != '\n')
                ;
            continue;
        }
        cr_assert_str_eq(word, "tensor", "%s: expected `tensor`, got %s", path, word);
        cr_assert_lt(f->n, FIXTURE_MAX, "%s: too many tensors", path);
        int ndim;
        int64_t shape[TENSOR_MAX_DIMS];
        cr_assert_eq(fscanf(fp, "%31s %d", f->names[f->n], &ndim), 2, "%s: bad header", path);
        cr_assert(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "%s: bad ndim", path);
        for (int d = 0; d < ndim; d++) {
            long long v;
            cr_assert_eq(fscanf(fp, "%lld", &v), 1, "%s: bad shape", path);
            shape[d] = v;
        }
        tensor *t = &f->t[f->n];
        cr_assert_eq(tensor_alloc(t, ndim, shape), 0);
        for (int64_t i = 0; i < t->size; i++)
            cr_assert_eq(fscanf(fp, "%f", &t->data[i]), 1, "%s: %s: value %lld missing", path,
                         f->names[f->n], (long long)i);
        f->n++;
    }
    fclose(fp);
}

static inline tensor *fixture_get(fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0)
            return &f->t[i];
    cr_assert_fail("fixture has no tensor %s", name);
    return NULL;
}

static inline bool fixture_has(const fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0)
            return true;
    return false;
}

/* A layer of `type` (lstm or graves_lstm) on a recurrent input of n_in features, with n_out
 * units and zeroed parameters (and gradients) of the inferred shapes. */
static inline layer *lstm_make(const layer_type *type, int64_t n_in, int64_t n_out)
{
    layer *L = layer_new(type, "lstm1");
    cr_assert_not_null(L);
    L->n_out = n_out;
    act_shape in = {.kind = SHAPE_RNN, .size = n_in}, out;
    char msg[256] = "";
    cr_assert_eq(type->infer(L, &in, 1, &out, msg, sizeof msg), 0, "infer: %s", msg);
    cr_assert_eq(out.kind, SHAPE_RNN);
    cr_assert_eq(out.size, n_out);
    cr_assert_eq(L->n_in, n_in);
    param_spec specs[LAYER_MAX_PARAMS];
    L->n_params = type->param_specs(L, specs);
    for (int i = 0; i < L->n_params; i++) {
        cr_assert_eq(tensor_alloc(&L->params[i], specs[i].ndim, specs[i].shape), 0);
        cr_assert_eq(tensor_alloc(&L->grads[i], specs[i].ndim, specs[i].shape), 0);
    }
    return L;
}

/* Copies a parameter from a fixture tensor of the same element count. */
static inline void lstm_set_param(layer *L, const char *key, const tensor *src)
{
    int i = layer_param_index(L, key);
    cr_assert_geq(i, 0, "no parameter %s", key);
    cr_assert_eq(L->params[i].size, src->size, "%s: %lld values, fixture has %lld", key,
                 (long long)L->params[i].size, (long long)src->size);
    memcpy(L->params[i].data, src->data, (size_t)src->size * sizeof(float));
}

/* y = forward(x); y is allocated [T, B, n_out] by the caller. */
static inline void lstm_run(layer *L, const tensor *x, tensor *y, const float *mask,
                            bool training, bool carry)
{
    const tensor *ins[1] = {x};
    fwd_ctx c = {.in = ins, .n_in = 1, .out = y, .training = training, .mask = mask,
                 .carry_state = carry};
    cr_assert_eq(L->type->forward(L, &c), 0, "forward failed");
}

static inline double max_abs_diff_n(const float *a, const float *b, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d;      /* NaN propagates as a failure */
    }
    return m;
}

#endif
