/* average.c: the average vertex: the element-wise mean of same-shaped inputs. */
#include "runtime/nn/layer.h"
#include "runtime/nn/layers/elementwise.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const average_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, NULL};

static int average_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                         size_t msg_len)
{
    return elementwise_infer("average", L, in, n_in, out, msg, msg_len);
}

static int average_forward(layer *L, const fwd_ctx *c)
{
    (void)L;
    return elementwise_forward(c, 1.0f / (float)c->n_in);
}

static int average_backward(layer *L, const bwd_ctx *c)
{
    (void)L;
    return elementwise_backward(c, 1.0f / (float)c->n_in);
}

const layer_type layer_type_average = {
    .name = "average",
    .flags = LT_VERTEX | LT_MULTI_INPUT | LT_ELEMENTWISE,
    .options = average_options,
    .infer = average_infer,
    .param_specs = NULL,
    .forward = average_forward,
    .backward = average_backward,
    .free_state = NULL,     /* keeps no forward cache */
};
