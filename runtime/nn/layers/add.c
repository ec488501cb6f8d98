/* add.c: the add vertex: the element-wise sum of same-shaped inputs. */
#include "runtime/nn/layer.h"
#include "runtime/nn/layers/elementwise.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const add_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, NULL};

static int add_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                     size_t msg_len)
{
    return elementwise_infer("add", L, in, n_in, out, msg, msg_len);
}

static int add_forward(layer *L, const fwd_ctx *c)
{
    (void)L;
    return elementwise_forward(c, 1.0f);
}

static int add_backward(layer *L, const bwd_ctx *c)
{
    (void)L;
    return elementwise_backward(c, 1.0f);
}

const layer_type layer_type_add = {
    .name = "add",
    .flags = LT_VERTEX | LT_MULTI_INPUT | LT_ELEMENTWISE,
    .options = add_options,
    .infer = add_infer,
    .param_specs = NULL,
    .forward = add_forward,
    .backward = add_backward,
    .free_state = NULL,     /* keeps no forward cache */
};
