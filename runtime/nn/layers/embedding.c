/* embedding.c: looks up row `index` of W [vocabulary, n_out] (plus b, then the
 * activation) for every index of [batch, 1] or [time, batch, 1] input. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const embedding_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_alpha,
    &layer_opt_has_bias, NULL};

static int embedding_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                           size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "embedding takes one input, got %d", n_in);
    if (in[0].kind == SHAPE_CNN)
        return layer_msg(msg, msg_len, "embedding takes indices, got convolutional input");
    if (in[0].size != 1)
        return layer_msg(msg, msg_len,
                         "embedding takes one index per example (input size 1), got size %lld",
                         (long long)in[0].size);
    if (L->n_in < 1)
        return layer_msg(msg, msg_len, "embedding needs n_in (the vocabulary size)");
    if (L->n_out < 1)
        return layer_msg(msg, msg_len, "embedding needs n_out (the vector size)");
    *out = (act_shape){.kind = in[0].kind, .size = L->n_out};
    return 0;
}

static int embedding_forward(layer *L, const fwd_ctx *c)
{
    const tensor *in = c->in[0];
    const int64_t rows = in->size, n_out = L->n_out, vocab = L->n_in;
    const float *W = L->params[0].data;
    const float *b = L->has_bias ? L->params[1].data : NULL;
    float *y = c->out->data;
    assert(c->out->size == rows * n_out);
    for (int64_t r = 0; r < rows; r++) {
        float v = in->data[r];
        if (!(v >= 0.0f && v < (float)vocab) || v != floorf(v)) {
            if (c->err && c->err_len)
                snprintf(c->err, c->err_len,
                         "embedding '%s': index %g at row %lld is not an integer in [0, %lld)",
                         L->name, (double)v, (long long)r, (long long)vocab);
            return -1;
        }
        const float *w = W + (int64_t)v * n_out;
        float *yr = y + r * n_out;
        if (b)
            for (int64_t j = 0; j < n_out; j++)
                yr[j] = w[j] + b[j];
        else
            memcpy(yr, w, (size_t)n_out * sizeof(float));
    }
    if (c->training && act_backward_needs_x(L->activation)) {
        dense_state *s = dense_state_get(L);
        if (!s || scratch2(&s->z, rows, n_out))
            return -1;
        memcpy(s->z.data, y, (size_t)(rows * n_out) * sizeof(float));
    }
    act_forward(L->activation, layer_act_params(L), y, y, rows, n_out);
    return 0;
}

/* Indices carry no gradient: din is left untouched. */
static int embedding_backward(layer *L, const bwd_ctx *c)
{
    if (!c->grads)
        return 0;
    const tensor *in = c->in[0];
    const int64_t rows = in->size, n_out = L->n_out;
    dense_state *s = L->state;
    tensor dz = {0};
    if (scratch2(&dz, rows, n_out))
        return -1;
    act_backward(L->activation, layer_act_params(L), s && s->z.data ? s->z.data : NULL, c->out->data,
                 c->dout->data, dz.data, rows, n_out);
    float *dW = c->grads[0].data;
    float *db = L->has_bias ? c->grads[1].data : NULL;
    for (int64_t r = 0; r < rows; r++) {
        const float *d = dz.data + r * n_out;
        float *w = dW + (int64_t)in->data[r] * n_out;
        for (int64_t j = 0; j < n_out; j++)
            w[j] += d[j];
        if (db)
            for (int64_t j = 0; j < n_out; j++)
                db[j] += d[j];
    }
    tensor_release(&dz);
    return 0;
}

/* Unit j: column j of W [vocabulary, n_out] and b[j]; the input holds indices, not units. */
static const unit_layout embedding_units = {
    .n_params = 2,
    .params = {{.key = "W", .col_blocks = 1, .forget_gate_block = -1},
               {.key = "b", .col_blocks = 1, .forget_gate_block = -1}},
};

const layer_type layer_type_embedding = {
    .name = "embedding",
    .flags = LT_HAS_ACTIVATION | LT_INDEX_INPUT | LT_WIDENABLE,
    .options = embedding_options,
    .default_activation = ACT_IDENTITY,
    .infer = embedding_infer,
    .param_specs = dense_param_specs,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .free_state = dense_free_state,
    .units = &embedding_units,
};
