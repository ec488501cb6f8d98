/* layer_util.c: the dense-like forward/backward shared by dense, output and rnn_output, the
 * inverted-dropout mask, and small helpers for the layer implementations. */
#include "runtime/nn/kernels/layer_util.h"

#include <assert.h>
#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/kernels/loss.h"

const char *shape_kind_name(shape_kind k)
{
    switch (k) {
    case SHAPE_FF: return "feed-forward";
    case SHAPE_RNN: return "recurrent";
    case SHAPE_CNN: return "convolutional";
    }
    return "?";
}

int scratch2(tensor *t, int64_t d0, int64_t d1)
{
    int64_t n = d0 * d1;
    if (t->data && !t->borrowed && t->size == n) {
        t->ndim = 2;
        t->shape[0] = d0;
        t->shape[1] = d1;
        return 0;
    }
    tensor_release(t);
    return tensor_alloc2(t, d0, d1);
}

dense_state *dense_state_get(layer *L)
{
    if (!L->state)
        L->state = calloc(1, sizeof(dense_state));
    return L->state;
}

void dense_free_state(layer *L)
{
    dense_state *s = L->state;
    if (!s)
        return;
    tensor_release(&s->z);
    tensor_release(&s->dz);
    free(s);
    L->state = NULL;
}

int dense_param_specs(const layer *L, param_spec *specs)
{
    specs[0] = (param_spec){.key = "W", .role = PARAM_WEIGHT, .ndim = 2,
                            .shape = {L->n_in, L->n_out}, .fan_in = L->n_in, .fan_out = L->n_out};
    if (!L->has_bias)
        return 1;
    specs[1] = (param_spec){.key = "b", .role = PARAM_BIAS, .ndim = 1, .shape = {L->n_out, 0},
                            .fan_in = L->n_in, .fan_out = L->n_out};
    return 2;
}

const unit_layout dense_unit_layout = {
    .n_params = 2,
    .params = {{.key = "W", .col_blocks = 1, .forget_gate_block = -1},
               {.key = "b", .col_blocks = 1, .forget_gate_block = -1}},
    .input_key = "W",
    .input_rows = 1,
};

void dropout_fill(rng *r, double p, const float *x, float *y, float *mask, int64_t n)
{
    const float keep = (float)(1.0 / (1.0 - p));
    for (int64_t i = 0; i < n; i++) {
        float m = rng_uniform(r) < p ? 0.0f : keep;
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

int dense_like_forward(layer *L, const fwd_ctx *c)
{
    const tensor *in = c->in[0];
    const int64_t n_in = L->n_in, n_out = L->n_out;
    const int64_t rows = n_in > 0 ? in->size / n_in : 0;
    assert(rows * n_in == in->size && c->out->size == rows * n_out);
    const float *x = in->data;
    float *y = c->out->data;
    const tensor *W = &L->params[0];
    assert(W->data && W->size == n_in * n_out);

    if (rows == 0)
        return 0;
    float beta = 0.0f;
    if (L->has_bias) {
        const float *b = L->params[1].data;
        for (int64_t r = 0; r < rows; r++)
            memcpy(y + r * n_out, b, (size_t)n_out * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)n_out, (int)n_in, 1.0f,
                x, (int)n_in, W->data, (int)n_out, beta, y, (int)n_out);
    if (c->training && act_backward_needs_x(L->activation)) {
        dense_state *s = dense_state_get(L);
        if (!s || scratch2(&s->z, rows, n_out))
            return -1;
        memcpy(s->z.data, y, (size_t)(rows * n_out) * sizeof(float));
    }
    act_forward(L->activation, layer_act_params(L), y, y, rows, n_out);
    return 0;
}

void affine_backward(layer *L, const float *x, const float *dz, int64_t rows, tensor *grads,
                     float *din)
{
    const int64_t n_in = L->n_in, n_out = L->n_out;
    if (rows == 0)
        return;
    if (grads && x) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_in, (int)n_out, (int)rows,
                    1.0f, x, (int)n_in, dz, (int)n_out, 1.0f, grads[0].data, (int)n_out);
    }
    if (grads && L->has_bias) {
        float *db = grads[1].data;
        for (int64_t r = 0; r < rows; r++) {
            const float *dr = dz + r * n_out;
            for (int64_t j = 0; j < n_out; j++)
                db[j] += dr[j];
        }
    }
    if (din) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n_in, (int)n_out, 1.0f,
                    dz, (int)n_out, L->params[0].data, (int)n_out, 1.0f, din, (int)n_in);
    }
}

int dense_like_backward(layer *L, const bwd_ctx *c, bool use_loss)
{
    const tensor *in = c->in[0];
    const int64_t n_in = L->n_in, n_out = L->n_out;
    const int64_t rows = n_in > 0 ? in->size / n_in : 0;
    dense_state *s = dense_state_get(L);
    if (!s || scratch2(&s->dz, rows, n_out))
        return -1;
    const float *z = s->z.data;
    float *dz = s->dz.data;
    if (use_loss && c->labels) {
        const tensor *out = c->out;
        int64_t batch = out->ndim == 3 ? out->shape[1] : out->shape[0];
        assert(c->labels->size == out->size);
        loss_grad(L->loss, L->activation, layer_act_params(L), z, out->data, c->labels->data, c->label_mask,
                  rows, n_out, batch > 0 ? 1.0 / (double)batch : 0.0, dz);
    } else {
        assert(c->dout && c->dout->size == rows * n_out);
        act_backward(L->activation, layer_act_params(L), z, c->out->data, c->dout->data, dz, rows, n_out);
    }
    float *din = c->din && c->din[0] ? c->din[0]->data : NULL;
    affine_backward(L, in->data, dz, rows, c->grads, din);
    return 0;
}

int loss_layer_check(const layer *L, const char *type_name, char *msg, size_t msg_len)
{
    if (L->n_out < 1)
        return layer_msg(msg, msg_len, "%s needs n_out (the number of outputs)", type_name);
    if (L->loss == LOSS_NONE)
        return layer_msg(msg, msg_len, "%s needs a loss", type_name);
    if (!loss_supports(L->loss, L->activation)) {
        char buf[160];
        return layer_msg(msg, msg_len, "loss %s does not work with activation %s (it takes: %s)",
                         loss_names[L->loss], activation_names[L->activation],
                         loss_supported_list(L->loss, buf, sizeof buf));
    }
    return 0;
}
