/* multiply.c: the multiply vertex: the element-wise product of same-shaped inputs (DL4J's
 * ElementWiseVertex with Op.Product, ONNX Mul, a gate such as squeeze-and-excitation's). */
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
    return elementwise_product_forward(c);
}

static int multiply_backward(layer *L, const bwd_ctx *c)
{
    (void)L;
    return elementwise_product_backward(c);
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
