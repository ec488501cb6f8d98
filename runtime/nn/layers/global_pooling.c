/* global_pooling.c: max, avg or sum over the height and width of convolutional activations or
 * over the valid time steps of recurrent ones, giving feed-forward [batch, channels] (DL4J's
 * GlobalPoolingLayer with its default collapseDimensions). */
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option opt_pooling = {
    .name = "pooling", .kind = LOPT_ENUM, .names = pool_kind_names, .count = POOL_KIND_COUNT,
    .from_name = pool_kind_from_name, .what = "pooling", .def = POOL_MAX,
    .write = LOPT_WRITE_ALWAYS, .set_rule = LOPT_SET_ALLOWED,
    .doc = "max, avg (also average) or sum over all positions (DL4J's default: max)"};

static const layer_option *const global_pooling_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_pooling, NULL};

static pool_kind kind_of(const layer *L)
{
    double v;
    layer_option_get_values(&opt_pooling, L, &v);
    return (pool_kind)v;
}

static int global_pooling_infer(layer *L, const act_shape *in, int n_in, act_shape *out,
                                char *msg, size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "global_pooling takes one input, got %d", n_in);
    if (in[0].kind == SHAPE_FF)
        return layer_msg(msg, msg_len, "global_pooling needs convolutional or recurrent input, "
                         "got feed-forward");
    int64_t n = in[0].kind == SHAPE_CNN ? in[0].c : in[0].size;
    L->n_in = L->n_out = n;
    *out = (act_shape){.kind = SHAPE_FF, .size = n};
    return 0;
}

static void global_pooling_free_state(layer *L) { pool_argmax_free(&L->state); }

static int global_pooling_forward(layer *L, const fwd_ctx *c)
{
    pool_kind kind = kind_of(L);
    int32_t *argmax = NULL;
    if (c->training && kind == POOL_MAX &&
        !(argmax = pool_argmax_reserve(&L->state, c->out->size)))
        return -1;
    const tensor *x = c->in[0];
    const int64_t n = L->n_out, batch = c->out->size / n;
    if (L->in_shape.kind == SHAPE_CNN)
        global_pool_planes(kind, batch, n, L->in_shape.h * L->in_shape.w, x->data, c->out->data,
                           argmax);
    else
        global_pool_time(kind, x->size / (batch * n), batch, n, x->data, c->mask, c->out->data,
                         argmax);
    return 0;
}

static int global_pooling_backward(layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    pool_kind kind = kind_of(L);
    const int32_t *argmax = pool_argmax_of(L->state, c->dout->size);
    if (kind == POOL_MAX && !argmax)
        return -1;   /* backward without a training forward */
    const int64_t n = L->n_out, batch = c->dout->size / n;
    if (L->in_shape.kind == SHAPE_CNN)
        global_pool_planes_backward(kind, batch, n, L->in_shape.h * L->in_shape.w, argmax,
                                    c->dout->data, c->din[0]->data);
    else
        global_pool_time_backward(kind, c->in[0]->size / (batch * n), batch, n, c->mask, argmax,
                                  c->dout->data, c->din[0]->data);
    return 0;
}

const layer_type layer_type_global_pooling = {
    .name = "global_pooling",
    .flags = LT_CHANNELS_THROUGH,
    .options = global_pooling_options,
    .infer = global_pooling_infer,
    .forward = global_pooling_forward,
    .backward = global_pooling_backward,
    .free_state = global_pooling_free_state,
};
