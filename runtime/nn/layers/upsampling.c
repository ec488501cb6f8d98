/* upsampling.c: nearest-neighbour upsampling of convolutional activations (DL4J's Upsampling2D,
 * PyTorch's Upsample(mode = "nearest") with an integer scale): each cell repeated size times
 * along the height and the width. */
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option opt_size = {
    .name = "size", .kind = LOPT_INT_LIST, .len = 2, .items = "[height, width]", .lo = 1,
    .hi = 1 << 16, .defs = {2, 2}, .write = LOPT_WRITE_ALWAYS, .set_rule = LOPT_SET_RESHAPES,
    .doc = "the repeats: [height, width], or one number for both"};

static const layer_option *const upsampling_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_size, NULL};

static void scale(const layer *L, int64_t *sh, int64_t *sw)
{
    double v[2];
    layer_option_get_values(&opt_size, L, v);
    *sh = (int64_t)v[0];
    *sw = (int64_t)v[1];
}

static int upsampling_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                            size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "upsampling takes one input, got %d", n_in);
    if (in[0].kind != SHAPE_CNN)
        return layer_msg(msg, msg_len, "upsampling needs convolutional input, got %s",
                         shape_kind_name(in[0].kind));
    int64_t sh, sw;
    scale(L, &sh, &sw);
    L->n_in = L->n_out = in[0].c;
    *out = in[0];
    out->h = in[0].h * sh;
    out->w = in[0].w * sw;
    out->size = out->c * out->h * out->w;
    return 0;
}

static int upsampling_forward(layer *L, const fwd_ctx *c)
{
    int64_t sh, sw;
    scale(L, &sh, &sw);
    const act_shape *i = &L->in_shape;
    planes_upsample(c->in[0]->size / (i->h * i->w), i->h, i->w, sh, sw, c->in[0]->data,
                    c->out->data);
    return 0;
}

static int upsampling_backward(layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    int64_t sh, sw;
    scale(L, &sh, &sw);
    const act_shape *i = &L->in_shape;
    planes_upsample_backward(c->in[0]->size / (i->h * i->w), i->h, i->w, sh, sw, c->dout->data,
                             c->din[0]->data);
    return 0;
}

const layer_type layer_type_upsampling = {
    .name = "upsampling",
    .flags = LT_CHANNELS_THROUGH,
    .options = upsampling_options,
    .infer = upsampling_infer,
    .forward = upsampling_forward,
    .backward = upsampling_backward,
};
