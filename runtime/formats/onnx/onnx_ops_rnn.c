/* onnx_ops_rnn.c: the ONNX LSTM as an lstm or graves_lstm layer (gates re-ordered, biases
 * summed, peepholes), a bidirectional one as a bidirectional layer, and the Transpose,
 * Squeeze and Reshape torch's exporter and surgery's writer wrap around them. */
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx_lstm.h"
#include "runtime/formats/onnx/onnx_mapper.h"
#include "runtime/nn/layer_options.h"

static void map_lstm(mapper *mp, const Onnx__NodeProto *n, int idx, value *out)
{
    value *x = onnx_in(mp, n, 0), *w = onnx_in(mp, n, 1), *r = onnx_in(mp, n, 2), *bb = onnx_in(mp, n, 3);
    const char *dir = onnx_attr(n, "direction") ? (const char *)onnx_attr(n, "direction")->s.data : "forward";
    size_t dlen = onnx_attr(n, "direction") ? onnx_attr(n, "direction")->s.len : 7;
    const int dirs = dlen == 13 && !strncmp(dir, "bidirectional", 13) ? 2 : 1;
    const bool reverse = dlen == 7 && !strncmp(dir, "reverse", 7);
    if (dirs == 1 && !reverse && (dlen != 7 || strncmp(dir, "forward", 7))) {
        onnx_unsupported(mp, idx, n, "direction '%.*s' is none of forward, reverse and "
                         "bidirectional", (int)dlen, dir);
        return;
    }
    const Onnx__AttributeProto *acts = onnx_attr(n, "activations");
    static const char *const defaults[3] = {"Sigmoid", "Tanh", "Tanh"};
    bool default_acts = !acts || acts->n_strings == (size_t)(3 * dirs);
    for (size_t k = 0; acts && default_acts && k < acts->n_strings; k++)
        default_acts = acts->strings[k].len == strlen(defaults[k % 3]) &&
                       !memcmp(acts->strings[k].data, defaults[k % 3], acts->strings[k].len);
    if (!default_acts || onnx_attr(n, "clip") || onnx_attr_i(n, "input_forget", 0) ||
        onnx_attr_i(n, "layout", 0)) {
        onnx_unsupported(mp, idx, n, "activations, clip, input_forget and layout must keep their defaults");
        return;
    }
    if (onnx_in(mp, n, 4)) {
        onnx_unsupported(mp, idx, n, "sequence_lens is not mapped (surgery masks sequences instead)");
        return;
    }
    /* initial_h, initial_c: absent, a folded ConstantOfShape of zeros, or constant floats */
    const value *init[2] = {NULL, NULL};
    for (size_t j = 5; j < 7; j++) {
        value *s = onnx_in(mp, n, j);
        bool zero = !s || (onnx_is_const(s) && s->zeros);
        for (int64_t q = 0; !zero && s && onnx_is_const(s) && s->f && q < s->count; q++)
            if (s->f[q] != 0.0f) {
                init[j - 5] = s;
                break;
            }
        zero = zero || (onnx_is_const(s) && s->f && !init[j - 5]);
        if (!zero && !init[j - 5]) {
            onnx_unsupported(mp, idx, n, "the initial state must be zero or constant");
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
    if (w->count != dirs * 4 * h * in || r->count != dirs * 4 * h * h ||
        (bb && bb->count != dirs * 8 * h) || (p && p->count != dirs * 3 * h)) {
        onnx_unsupported(mp, idx, n, "W, R, B or P disagree with hidden_size %lld", (long long)h);
        return;
    }
    /* a constant initial state: [1, rows, h], the same in every row, is h0 / c0 */
    for (int j = 0; j < 2; j++) {
        const value *s = init[j];
        if (!s)
            continue;
        bool same = dirs == 1 && h > 0 && s->count > 0 && s->count % h == 0;
        for (int64_t q = h; same && q < s->count; q++)
            same = s->f[q] == s->f[q % h];
        if (!same) {
            onnx_unsupported(mp, idx, n, "a non-zero initial state is mapped for one direction "
                             "and the same in every batch row only");
            return;
        }
    }
    /* one direction: lstm or graves_lstm; two: a bidirectional layer of either (its mode
     * concat until the operators after it say otherwise) */
    static const char *const keys[2][2][3] = {{{"W", "RW", "b"}, {"", "", ""}},
                                              {{"WF", "RWF", "bF"}, {"WB", "RWB", "bB"}}};
    const layer_type *t = dirs == 2 ? &layer_type_bidirectional
                          : p       ? &layer_type_graves_lstm
                                    : &layer_type_lstm;
    value *ins[1] = {x};
    layer *L = onnx_add_layer(mp, n, idx, t, ins, 1, h);
    if (dirs == 2) {
        double cell[LOPT_MAX_VALUES] = {p ? 1 : 0};
        const layer_option *o = layer_option_find(t, "layer");
        if (o)
            layer_option_set_values(o, L, cell);
    }
    if (reverse) {
        const double on[LOPT_MAX_VALUES] = {1};
        layer_option_set_values(&layer_opt_reverse, L, on);
    }
    if (init[0] || init[1]) {
        const double on[LOPT_MAX_VALUES] = {1};
        layer_option_set_values(&layer_opt_initial_state, L, on);
        float *zeros = xmalloc((size_t)h * sizeof(float));
        memset(zeros, 0, (size_t)h * sizeof(float));
        onnx_give2(mp, L, "h0", init[0] ? init[0]->f : zeros, 1, h, 0);
        onnx_give2(mp, L, "c0", init[1] ? init[1]->f : zeros, 1, h, 0);
        free(zeros);
    }
    int64_t cols = 4 * h + (p ? 3 : 0);
    float *W = xmalloc((size_t)(in * 4 * h) * sizeof(float));
    float *RW = xmalloc((size_t)(h * cols) * sizeof(float)), *B = xmalloc((size_t)(4 * h) * sizeof(float));
    for (int d = 0; d < dirs; d++) {
        onnx_lstm_from_onnx(w->f + d * 4 * h * in, r->f + d * 4 * h * h,
                            bb ? bb->f + d * 8 * h : NULL, p ? p->f + d * 3 * h : NULL, in, h,
                            p != NULL, W, RW, B);
        onnx_give2(mp, L, keys[dirs - 1][d][0], W, 2, in, 4 * h);
        onnx_give2(mp, L, keys[dirs - 1][d][1], RW, 2, h, cols);
        onnx_give2(mp, L, keys[dirs - 1][d][2], B, 1, 4 * h, 0);
    }
    free(W);
    free(RW);
    free(B);
    onnx_set_act(out, L, L_LSTM_Y, h, NULL);
    out->ndim = 4;   /* Y [T, dirs, B, h] */
    out->dims[0] = x->dims[0];
    out->dims[1] = dirs;
    out->dims[2] = x->dims[1];
    out->dims[3] = h;
}

/* Y [T, 2, B, h] of a bidirectional LSTM transposed to [T, B, 2, h] (perm [0, 2, 1, 3]), then
 * reshaped to [T, B, 2h]: the concat mode, forward features first. */
static void map_bidirectional_join(mapper *mp, const Onnx__NodeProto *n, int idx, value *x,
                                   value *out)
{
    if (!strcmp(n->op_type, "Transpose")) {
        int64_t perm[4];
        if (onnx_attr_ints(n, "perm", perm, 4, 0, 0) != 4 || perm[0] != 0 || perm[1] != 2 ||
            perm[2] != 1 || perm[3] != 3) {
            onnx_unsupported(mp, idx, n, "a bidirectional LSTM's Y is mapped transposed by perm "
                             "[0, 2, 1, 3] only");
            return;
        }
        onnx_alias(out, x);
        out->lay = L_LSTM_YT;
        out->dims[1] = x->dims[2];
        out->dims[2] = x->dims[1];
        return;
    }
    value *s = onnx_in(mp, n, 1);
    const int64_t T = x->dims[0], B = x->dims[1], F = x->dims[2] * x->dims[3];
    bool ok = onnx_is_const(s) && s->i && s->count == 3;
    ok = ok && (s->i[0] == 0 || s->i[0] == T) && (s->i[2] == -1 || s->i[2] == F) &&
         (s->i[1] == 0 || s->i[1] == B || (s->i[1] == -1 && s->i[2] == F));
    if (!ok) {
        onnx_unsupported(mp, idx, n, "a bidirectional LSTM's transposed Y is mapped reshaped to "
                         "[T, B, 2 hidden] only");
        return;
    }
    onnx_alias(out, x);
    out->lay = L_TB;
    out->ndim = 3;
    out->dims[2] = F;
    out->size = F;
}

static void set_mode(layer *L, int mode)
{
    double v[LOPT_MAX_VALUES] = {mode};
    const layer_option *o = layer_option_find(L->type, "mode");
    if (o)
        layer_option_set_values(o, L, v);
}

/* The writer's other modes: Gather of each direction of Y on axis 1, Add (add) or Mul (mul)
 * of the two, Mul of the sum by 0.5 (average); then Squeeze of axis 1 (onnx_ops_rnn). Modes: 1 add, 2 mul,
 * 3 average (bidirectional.c's order). Returns false when n is none of these. */
static bool map_direction_ops(mapper *mp, const Onnx__NodeProto *n, int idx, value *x,
                              value *out)
{
    const char *op = n->op_type;
    value *y = onnx_in(mp, n, 1);
    if (!strcmp(op, "Gather") && x->lay == L_LSTM_Y && x->dims[1] == 2) {
        if (onnx_attr_i(n, "axis", 0) != 1 || !onnx_is_const(y) || !y->i || y->count != 1 ||
            y->ndim != 1 || (y->i[0] != 0 && y->i[0] != 1)) {
            onnx_unsupported(mp, idx, n, "a direction of a bidirectional LSTM's Y is mapped "
                             "gathered by index [0] or [1] on axis 1 only");
            return true;
        }
        onnx_alias(out, x);
        out->lay = L_LSTM_DIR;
        out->dims[1] = 1;
        out->direction = (int)y->i[0];
        return true;
    }
    if ((!strcmp(op, "Add") || !strcmp(op, "Mul")) && x->lay == L_LSTM_DIR) {
        if (n->n_input != 2 || !onnx_is_act(y) || y->lay != L_LSTM_DIR || y->L != x->L ||
            x->direction == y->direction) {
            onnx_unsupported(mp, idx, n, "the directions of a bidirectional LSTM are mapped "
                             "joined with each other only");
            return true;
        }
        onnx_alias(out, x);
        out->lay = L_LSTM_JOIN;
        out->direction = !strcmp(op, "Add") ? 1 : 2;
        set_mode(x->L, out->direction);
        return true;
    }
    if (!strcmp(op, "Mul") && x->lay == L_LSTM_JOIN) {
        if (x->direction != 1 || x->uses != 1 || !onnx_is_const(y) || !y->f || y->count != 1 ||
            y->f[0] != 0.5f) {
            onnx_unsupported(mp, idx, n, "the joined directions of a bidirectional LSTM are "
                             "mapped scaled by 0.5 after their sum only (average)");
            return true;
        }
        onnx_alias(out, x);
        out->direction = 3;
        set_mode(x->L, 3);
        return true;
    }
    if (x->lay == L_LSTM_DIR || (x->lay == L_LSTM_JOIN && strcmp(op, "Squeeze"))) {
        onnx_unsupported(mp, idx, n, "a direction of a bidirectional LSTM is mapped joined by "
                         "Add, Mul (and Mul by 0.5) and then squeezed only");
        return true;
    }
    return false;
}

bool onnx_ops_rnn(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    const char *op = n->op_type;
    if (onnx_is_act(x) && map_direction_ops(mp, n, idx, x, out))
        return true;
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
    if (((!strcmp(op, "Transpose") && x && x->lay == L_LSTM_Y && x->dims[1] == 2) ||
         (!strcmp(op, "Reshape") && x && x->lay == L_LSTM_YT)) && onnx_is_act(x)) {
        map_bidirectional_join(mp, n, idx, x, out);
        return true;
    }
    if (!strcmp(op, "Squeeze") && onnx_is_act(x) && x->lay == L_LSTM_Y && x->dims[1] == 2) {
        onnx_unsupported(mp, idx, n, "a bidirectional LSTM's Y is mapped transposed and "
                         "reshaped (concat) only");
        return true;
    }
    if (!strcmp(op, "Squeeze") && onnx_is_act(x) && (x->lay == L_LSTM_Y || x->lay == L_LSTM_JOIN)) {
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
