/* merge.c: the merge vertex: concatenates its inputs' features (all inputs feed-forward,
 * or all recurrent with equal time and batch), or the channels of convolutional inputs of one
 * height and width (ONNX Concat on axis 1, torch.cat(dim=1)). */
#include <string.h>

#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const merge_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, NULL};

static int merge_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                       size_t msg_len)
{
    if (n_in < 1)
        return layer_msg(msg, msg_len, "merge needs at least one input");
    int64_t total = 0, channels = 0;
    for (int i = 0; i < n_in; i++) {
        if (in[i].kind == SHAPE_CNN && in[0].kind == SHAPE_CNN &&
            (in[i].h != in[0].h || in[i].w != in[0].w))
            return layer_msg(msg, msg_len, "merge of convolutional inputs needs one height and "
                             "width, got %lld x %lld (input 1) and %lld x %lld (input %d)",
                             (long long)in[0].h, (long long)in[0].w, (long long)in[i].h,
                             (long long)in[i].w, i + 1);
        if (in[i].kind != in[0].kind)
            return layer_msg(msg, msg_len,
                             "merge needs inputs of one kind, got %s (input 1) and %s (input %d)",
                             shape_kind_name(in[0].kind), shape_kind_name(in[i].kind), i + 1);
        total += in[i].size;
        channels += in[i].c;
    }
    L->n_in = 0;
    if (in[0].kind == SHAPE_CNN) {
        L->n_out = channels;
        *out = act_shape_cnn(channels, in[0].h, in[0].w);
        return 0;
    }
    L->n_out = total;
    *out = (act_shape){.kind = in[0].kind, .size = total};
    return 0;
}

/* Features per row of the output: NCHW rows are images, each input's channels one block. */
static int64_t merge_cols(const layer *L)
{
    return L->out_shape.kind == SHAPE_CNN ? L->out_shape.size : L->n_out;
}

static int merge_forward(layer *L, const fwd_ctx *c)
{
    const int64_t cols = merge_cols(L);
    const int64_t rows = cols > 0 ? c->out->size / cols : 0;
    float *y = c->out->data;
    int64_t off = 0;
    for (int i = 0; i < c->n_in; i++) {
        const tensor *t = c->in[i];
        const int64_t w = rows > 0 ? t->size / rows : 0;
        for (int64_t r = 0; r < rows; r++)
            memcpy(y + r * cols + off, t->data + r * w, (size_t)w * sizeof(float));
        off += w;
    }
    return 0;
}

static int merge_backward(layer *L, const bwd_ctx *c)
{
    const int64_t cols = merge_cols(L);
    const int64_t rows = cols > 0 ? c->dout->size / cols : 0;
    const float *dy = c->dout->data;
    int64_t off = 0;
    for (int i = 0; i < c->n_in; i++) {
        const int64_t w = rows > 0 ? c->in[i]->size / rows : 0;
        if (c->din && c->din[i]) {
            float *d = c->din[i]->data;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < w; j++)
                    d[r * w + j] += dy[r * cols + off + j];
        }
        off += w;
    }
    return 0;
}

const layer_type layer_type_merge = {
    .name = "merge",
    .flags = LT_VERTEX | LT_MULTI_INPUT | LT_CONCAT,
    .options = merge_options,
    .infer = merge_infer,
    .param_specs = NULL,
    .forward = merge_forward,
    .backward = merge_backward,
    .free_state = NULL,     /* keeps no forward cache */
};
