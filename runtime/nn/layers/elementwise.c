/* elementwise.c: shape inference, forward and backward shared by the add, average and multiply
 * vertices (element-wise sums and products of same-shaped inputs). */
#include "runtime/nn/layers/elementwise.h"

#include <stdio.h>
#include <string.h>

#include "runtime/nn/kernels/layer_util.h"

int elementwise_infer(const char *what, layer *L, const act_shape *in, int n_in, act_shape *out,
                      char *msg, size_t msg_len)
{
    if (n_in < 1)
        return layer_msg(msg, msg_len, "%s needs at least one input", what);
    bool same = true;
    for (int i = 1; i < n_in; i++) {
        if (in[i].kind != in[0].kind)
            return layer_msg(msg, msg_len,
                             "%s needs inputs of one kind, got %s (input 1) and %s (input %d)",
                             what, shape_kind_name(in[0].kind), shape_kind_name(in[i].kind), i + 1);
        if (in[i].size != in[0].size || in[i].h != in[0].h || in[i].w != in[0].w ||
            in[i].c != in[0].c)
            same = false;
    }
    if (!same) {
        char sizes[200];
        size_t used = 0;
        sizes[0] = '\0';
        for (int i = 0; i < n_in && used < sizeof sizes; i++) {
            char one[64];
            int w = snprintf(sizes + used, sizeof sizes - used, "%s%s", i ? ", " : "",
                             act_shape_text(&in[i], one, sizeof one));
            if (w < 0)
                break;
            used += (size_t)w;
        }
        return layer_msg(msg, msg_len, "%s needs inputs of equal size, got sizes %s%s", what,
                         sizes, in[0].kind == SHAPE_CNN ? " (C x H x W)" : "");
    }
    L->n_in = 0;
    L->n_out = in[0].size;
    *out = in[0];
    return 0;
}

/* out = in[0], then the other inputs added (or multiplied) in, element by element. */
static void fold_inputs(const fwd_ctx *c, bool product)
{
    float *y = c->out->data;
    const int64_t n = c->out->size;
    memcpy(y, c->in[0]->data, (size_t)n * sizeof(float));
    for (int i = 1; i < c->n_in; i++) {
        const float *x = c->in[i]->data;
        if (product)
            for (int64_t k = 0; k < n; k++)
                y[k] *= x[k];
        else
            for (int64_t k = 0; k < n; k++)
                y[k] += x[k];
    }
}

/* din[i] += scale * dout, times the other inputs for a product. */
static void fold_backward(const bwd_ctx *c, float scale, bool product)
{
    const float *dy = c->dout->data;
    const int64_t n = c->dout->size;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->din || !c->din[i])
            continue;
        float *d = c->din[i]->data;
        for (int64_t k = 0; k < n; k++) {
            float p = scale * dy[k];
            for (int j = 0; product && j < c->n_in; j++)
                if (j != i)
                    p *= c->in[j]->data[k];
            d[k] += p;
        }
    }
}

int elementwise_product_forward(const fwd_ctx *c)
{
    fold_inputs(c, true);
    return 0;
}

int elementwise_product_backward(const bwd_ctx *c)
{
    fold_backward(c, 1.0f, true);
    return 0;
}

int elementwise_forward(const fwd_ctx *c, float scale)
{
    float *y = c->out->data;
    const int64_t n = c->out->size;
    fold_inputs(c, false);
    if (scale != 1.0f)
        for (int64_t k = 0; k < n; k++)
            y[k] *= scale;
    return 0;
}

int elementwise_backward(const bwd_ctx *c, float scale)
{
    fold_backward(c, scale, false);
    return 0;
}
