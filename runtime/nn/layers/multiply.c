/* multiply.c: the multiply vertex: the element-wise product of same-shaped inputs (DL4J's
 * ElementWiseVertex with Op.Product, ONNX Mul, a gate such as squeeze-and-excitation's). */
#include <string.h>

#include "runtime/nn/layer.h"
#include "runtime/nn/layers/elementwise.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const multiply_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, NULL};

static int multiply_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                          size_t msg_len)
{
    return elementwise_infer("multiply", L, in, n_in, out, msg, msg_len);
}

static int multiply_forward(layer *L, const fwd_ctx *c)
{
    (void)L;
    float *y = c->out->data;
    const int64_t n = c->out->size;
    memcpy(y, c->in[0]->data, (size_t)n * sizeof(float));
    for (int i = 1; i < c->n_in; i++) {
        const float *x = c->in[i]->data;
        for (int64_t k = 0; k < n; k++)
            y[k] *= x[k];
    }
    return 0;
}

/* din[i] += dout * the product of the other inputs (computed, not divided out, so that zeros
 * in the inputs are exact). */
static int multiply_backward(layer *L, const bwd_ctx *c)
{
    (void)L;
    const float *dy = c->dout->data;
    const int64_t n = c->dout->size;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->din || !c->din[i])
            continue;
        float *d = c->din[i]->data;
        for (int64_t k = 0; k < n; k++) {
            float p = dy[k];
            for (int j = 0; j < c->n_in; j++)
                if (j != i)
                    p *= c->in[j]->data[k];
            d[k] += p;
        }
    }
    return 0;
}

const layer_type layer_type_multiply = {
    .name = "multiply",
    .flags = LT_VERTEX | LT_MULTI_INPUT | LT_ELEMENTWISE,
    .options = multiply_options,
    .infer = multiply_infer,
    .param_specs = NULL,
    .forward = multiply_forward,
    .backward = multiply_backward,
    .free_state = NULL,     /* keeps no forward cache */
};
