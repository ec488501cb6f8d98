/* border.c: the sides, shape inference and shifted copies shared by zero_padding and cropping. */
#include "runtime/nn/layers/border.h"

#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer_options.h"

/* top, left, bottom, right; false for same or valid. */
static bool sides(const border *b, const layer *L, int64_t *s)
{
    double p[PADDING_VALUES];
    layer_option_get_values(b->option, L, p);
    for (int i = 0; i < 4; i++)
        s[i] = p[0] == PAD_EXPLICIT ? (int64_t)p[i + 1] : 0;
    return p[0] == PAD_EXPLICIT;
}

int border_infer(const border *b, layer *L, const act_shape *in, int n_in, act_shape *out,
                 char *msg, size_t msg_len)
{
    const char *tn = L->type->name, *on = b->option->name;
    if (n_in != 1)
        return layer_msg(msg, msg_len, "%s takes one input, got %d", tn, n_in);
    if (in[0].kind != SHAPE_CNN)
        return layer_msg(msg, msg_len, "%s needs convolutional input, got %s", tn,
                         shape_kind_name(in[0].kind));
    int64_t s[4];
    if (!sides(b, L, s))
        return layer_msg(msg, msg_len, "%s takes numbers: [top, left, bottom, right], [height, "
                         "width] or one number, not same or valid", on);
    int64_t h = in[0].h + b->sign * (s[0] + s[2]), w = in[0].w + b->sign * (s[1] + s[3]);
    if (h < 1 || w < 1)
        return layer_msg(msg, msg_len, "%s [%lld, %lld, %lld, %lld] leaves nothing of the "
                         "%lld x %lld input", on, (long long)s[0], (long long)s[1],
                         (long long)s[2], (long long)s[3], (long long)in[0].h,
                         (long long)in[0].w);
    L->n_in = L->n_out = in[0].c;
    *out = act_shape_cnn(in[0].c, h, w);
    return 0;
}

int border_forward(const border *b, layer *L, const fwd_ctx *c)
{
    int64_t s[4];
    (void)sides(b, L, s);
    const act_shape *i = &L->in_shape, *o = &L->out_shape;
    planes_shift(c->in[0]->size / (i->h * i->w), i->h, i->w, o->h, o->w, b->sign * s[0],
                 b->sign * s[1], c->in[0]->data, c->out->data);
    return 0;
}

int border_backward(const border *b, layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    int64_t s[4];
    (void)sides(b, L, s);
    const act_shape *i = &L->in_shape, *o = &L->out_shape;
    planes_shift_backward(c->in[0]->size / (i->h * i->w), i->h, i->w, o->h, o->w,
                          b->sign * s[0], b->sign * s[1], c->dout->data, c->din[0]->data);
    return 0;
}
