/* onnx_ops_rnn.c: the ONNX LSTM as an lstm or graves_lstm layer (gates re-ordered, biases
 * summed, peepholes), and the Transpose and Squeeze torch's exporter wraps around it. */
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx_mapper.h"

static void map_lstm(mapper *mp, const Onnx__NodeProto *n, int idx, value *out)
{
    value *x = onnx_in(mp, n, 0), *w = onnx_in(mp, n, 1), *r = onnx_in(mp, n, 2), *bb = onnx_in(mp, n, 3);
    const char *dir = onnx_attr(n, "direction") ? (const char *)onnx_attr(n, "direction")->s.data : "forward";
    size_t dlen = onnx_attr(n, "direction") ? onnx_attr(n, "direction")->s.len : 7;
    if (dlen != 7 || strncmp(dir, "forward", 7)) {
        onnx_unsupported(mp, idx, n, "direction '%.*s': only forward LSTMs are mapped yet", (int)dlen, dir);
        return;
    }
    const Onnx__AttributeProto *acts = onnx_attr(n, "activations");
    static const char *const defaults[3] = {"Sigmoid", "Tanh", "Tanh"};
    bool default_acts = !acts || acts->n_strings == 3;
    for (size_t k = 0; acts && default_acts && k < 3; k++)
        default_acts = acts->strings[k].len == strlen(defaults[k]) &&
                       !memcmp(acts->strings[k].data, defaults[k], acts->strings[k].len);
    if (!default_acts || onnx_attr(n, "clip") || onnx_attr_i(n, "input_forget", 0) ||
        onnx_attr_i(n, "layout", 0)) {
        onnx_unsupported(mp, idx, n, "activations, clip, input_forget and layout must keep their defaults");
        return;
    }
    if (onnx_in(mp, n, 4)) {
        onnx_unsupported(mp, idx, n, "sequence_lens is not mapped (surgery masks sequences instead)");
        return;
    }
    for (size_t j = 5; j < 7; j++) {
        value *s = onnx_in(mp, n, j);
        /* absent, a folded ConstantOfShape of zeros, or float values that are all zero */
        bool zero = !s || (onnx_is_const(s) && (s->zeros || s->f));
        for (int64_t q = 0; zero && s && s->f && q < s->count; q++)
            zero = s->f[q] == 0.0f;
        if (!zero) {
            onnx_unsupported(mp, idx, n, "the initial state must be zero");
            return;
        }
    }
    value *p = onnx_in(mp, n, 7);
    for (size_t j = 1; j < n->n_output; j++) {
        value *o = *n->output[j] ? onnx_find(mp, n->output[j]) : NULL;
        if (o && (o->uses || o->graph_output)) {
            onnx_unsupported(mp, idx, n, "Y_h and Y_c are not mapped: use Y");
            return;
        }
    }
    if (!onnx_is_act(x) || (x->lay != L_TB) || !onnx_is_const(w) || !onnx_is_const(r) || !w->f || !r->f ||
        (bb && (!onnx_is_const(bb) || !bb->f)) || (p && (!onnx_is_const(p) || !p->f))) {
        onnx_unsupported(mp, idx, n, "needs a time-major sequence and constant W, R, B, P");
        return;
    }
    int64_t h = onnx_attr_i(n, "hidden_size", r->ndim == 3 ? r->dims[2] : 0), in = x->size;
    if (w->count != 4 * h * in || r->count != 4 * h * h || (bb && bb->count != 8 * h) ||
        (p && p->count != 3 * h)) {
        onnx_unsupported(mp, idx, n, "W, R, B or P disagree with hidden_size %lld", (long long)h);
        return;
    }
    /* ONNX's blocks i, o, f, c; ours a (= c), f, o, i. */
    static const int onnx_block[4] = {3, 2, 1, 0};
    int64_t cols = 4 * h + (p ? 3 : 0);
    float *W = xmalloc((size_t)(in * 4 * h) * sizeof(float));
    float *RW = xmalloc((size_t)(h * cols) * sizeof(float)), *B = xmalloc((size_t)(4 * h) * sizeof(float));
    for (int blk = 0; blk < 4; blk++)
        for (int64_t u = 0; u < h; u++) {
            int64_t src = onnx_block[blk] * h + u, dst = blk * h + u;
            for (int64_t k = 0; k < in; k++)
                W[k * 4 * h + dst] = w->f[src * in + k];
            for (int64_t k = 0; k < h; k++)
                RW[k * cols + dst] = r->f[src * h + k];
            B[dst] = bb ? bb->f[src] + bb->f[4 * h + src] : 0.0f;
        }
    for (int64_t u = 0; p && u < h; u++) {
        RW[u * cols + 4 * h] = p->f[2 * h + u];
        RW[u * cols + 4 * h + 1] = p->f[h + u];
        RW[u * cols + 4 * h + 2] = p->f[u];
    }
    value *ins[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, p ? &layer_type_graves_lstm : &layer_type_lstm, ins, 1, h);
    onnx_give2(mp, L, "W", W, 2, in, 4 * h);
    onnx_give2(mp, L, "RW", RW, 2, h, cols);
    onnx_give2(mp, L, "b", B, 1, 4 * h, 0);
    free(W);
    free(RW);
    free(B);
    onnx_set_act(out, L, L_LSTM_Y, h, NULL);
    out->ndim = 4;   /* Y [T, 1, B, h] */
    out->dims[0] = x->dims[0];
    out->dims[1] = 1;
    out->dims[2] = x->dims[1];
    out->dims[3] = h;
}

bool onnx_ops_rnn(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    const char *op = n->op_type;
    if (!strcmp(op, "Transpose") && onnx_is_act(x) && (x->lay == L_BT || x->lay == L_TB)) {
        const Onnx__AttributeProto *p = onnx_attr(n, "perm");
        if (!p || p->n_ints != 3 || p->ints[0] != 1 || p->ints[1] != 0 || p->ints[2] != 2) {
            onnx_unsupported(mp, idx, n, "only perm [1, 0, 2] (batch <-> time) is mapped");
            return true;
        }
        onnx_alias(out, x);
        out->lay = x->lay == L_BT ? L_TB : L_BT;
        out->dims[0] = x->dims[1];
        out->dims[1] = x->dims[0];
        return true;
    }
    if (!strcmp(op, "Squeeze") && onnx_is_act(x) && x->lay == L_LSTM_Y) {
        const Onnx__AttributeProto *a = onnx_attr(n, "axes");
        value *ax = onnx_in(mp, n, 1);
        int64_t axis = a && a->n_ints == 1 ? a->ints[0] : onnx_is_const(ax) && ax->i && ax->count == 1 ? ax->i[0] : -9;
        if (axis != 1) {
            onnx_unsupported(mp, idx, n, "only the direction axis (1) of an LSTM's Y is squeezed");
            return true;
        }
        onnx_alias(out, x);
        out->lay = L_TB;
        out->ndim = 3;
        out->dims[1] = x->dims[2];
        out->dims[2] = x->dims[3];
        return true;
    }
    if (!strcmp(op, "LSTM")) {
        map_lstm(mp, n, idx, out);
        return true;
    }
    return false;
}
