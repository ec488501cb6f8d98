/* merge.c: the merge vertex: concatenates its inputs' features (all inputs feed-forward, or
 * all recurrent with equal time and batch), or the channels of convolutional inputs of one
 * height and width (DL4J's MergeVertex, ONNX Concat on axis 1, torch.cat(dim=1)). */
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
        if (in[i].kind != in[0].kind)
            return layer_msg(msg, msg_len,
                             "merge needs inputs of one kind, got %s (input 1) and %s (input %d)",
                             shape_kind_name(in[0].kind), shape_kind_name(in[i].kind), i + 1);
        if (in[i].kind == SHAPE_CNN && (in[i].h != in[0].h || in[i].w != in[0].w)) {
            char a[64], b[64];
            return layer_msg(msg, msg_len, "merge concatenates channels of one height and "
                             "width, got %s (input 1) and %s (input %d) (C x H x W)",
                             act_shape_text(&in[0], a, sizeof a),
                             act_shape_text(&in[i], b, sizeof b), i + 1);
        }
        total += in[i].size;
        channels += in[i].c;
    }
    L->n_in = 0;
    L->n_out = total;
    *out = in[0].kind == SHAPE_CNN ? act_shape_cnn(channels, in[0].h, in[0].w)
                                   : (act_shape){.kind = in[0].kind, .size = total};
    return 0;
}

/* Per example (or step) the inputs' rows side by side: an NCHW example is its channels one
 * after the other, so this concatenates channels too. */
static int merge_forward(layer *L, const fwd_ctx *c)
{
    const int64_t cols = L->n_out;
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
    const int64_t cols = L->n_out;
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
