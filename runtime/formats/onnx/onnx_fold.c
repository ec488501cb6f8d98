/* onnx_fold.c: the ONNX operators folded into constants: Constant, and the Shape / Gather /
 * Unsqueeze / Squeeze / Concat / ConstantOfShape / Expand chains that static shapes make
 * constant, Slice of zeros and of shapes, and the transpose of a constant matrix. */
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx.h"
#include "runtime/formats/onnx/onnx_mapper.h"

static void fold_shape_ops(mapper *mp, const Onnx__NodeProto *n, int idx, value *out)
{
    const char *op = n->op_type;
    value *x = onnx_in(mp, n, 0), *y = onnx_in(mp, n, 1);
    if (!strcmp(op, "Shape") && x && x->ndim) {
        int64_t s = onnx_axis(onnx_attr_i(n, "start", 0), x->ndim), e = onnx_axis(onnx_attr_i(n, "end", x->ndim), x->ndim);
        if (s < 0) s = 0;
        if (e > x->ndim) e = x->ndim;
        onnx_set_ints(out, x->dims + s, e > s ? e - s : 0);
        return;
    }
    if (!strcmp(op, "Gather") && onnx_is_const(x) && x->i && onnx_is_const(y) && y->i && x->ndim == 1) {
        int64_t v[MAXR];
        if (y->count > MAXR) {
            onnx_unsupported(mp, idx, n, "gathers %lld values of a shape: at most %d are folded",
                             (long long)y->count, MAXR);
            return;
        }
        for (int64_t k = 0; k < y->count; k++) {
            int64_t at = y->i[k] < 0 ? y->i[k] + x->count : y->i[k];
            if (at < 0 || at >= x->count) {
                onnx_unsupported(mp, idx, n, "index %lld out of range", (long long)y->i[k]);
                return;
            }
            v[k] = x->i[at];
        }
        onnx_set_ints(out, v, y->count);
        out->ndim = y->ndim;
        return;
    }
    if ((!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) && onnx_is_const(x) && x->count <= 1) {
        onnx_alias(out, x);
        out->ndim = !strcmp(op, "Unsqueeze") ? 1 : 0;
        out->dims[0] = x->count;
        return;
    }
    if (!strcmp(op, "Concat") && onnx_is_const(x)) {
        int64_t v[64], cnt = 0;
        for (size_t j = 0; j < n->n_input; j++) {
            value *c = onnx_in(mp, n, j);
            if (!onnx_is_const(c) || !c->i || cnt + c->count > 64) {
                onnx_unsupported(mp, idx, n, "mixes constants and activations");
                return;
            }
            memcpy(v + cnt, c->i, (size_t)c->count * sizeof(int64_t));
            cnt += c->count;
        }
        onnx_set_ints(out, v, cnt);
        return;
    }
    if (!strcmp(op, "ConstantOfShape") && onnx_is_const(x) && x->i) {
        out->kind = V_CONST;
        out->zeros = true;
        out->f = calloc(1, sizeof(float));
        out->count = 0;
        const Onnx__AttributeProto *a = onnx_attr(n, "value");
        if (a && a->t) {
            float *f = NULL;
            int64_t *iv = NULL, c = 0;
            char err[128];
            if (onnx_tensor_values(a->t, mp->path, &f, &iv, &c, err, sizeof err) == 0 && c == 1)
                out->zeros = f ? f[0] == 0.0f : iv[0] == 0;
            free(f);
            free(iv);
        }
        return;
    }
    onnx_unsupported(mp, idx, n, "only constant Shape/Gather/Unsqueeze/Concat chains are folded");
}

/* Slice of a constant: of zeros (an LSTM's initial states, torch's per-layer slices of one
 * ConstantOfShape), zeros; of a 1-D integer constant (a shape), its slice along axis 0. */
static void fold_slice(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    if (x->zeros) {
        onnx_alias(out, x);
        return;
    }
    int64_t b[1], e[1], ax[1] = {0}, st[1] = {1};
    int nb = 0, ne = 0, na = 1, ns = 1;
    if (mp->opset < 10) {
        nb = onnx_attr_ints(n, "starts", b, 1, 0, 0);
        ne = onnx_attr_ints(n, "ends", e, 1, 0, 0);
        na = onnx_attr_ints(n, "axes", ax, 1, 1, 0);
    } else {
        value *in[4];
        for (size_t j = 1; j < 5; j++)
            in[j - 1] = onnx_in(mp, n, j);
        for (int j = 0; j < 4; j++)
            if (in[j] && (!onnx_is_const(in[j]) || !in[j]->i || in[j]->count != 1)) {
                onnx_unsupported(mp, idx, n, "needs constant scalar starts, ends, axes, steps");
                return;
            }
        nb = in[0] ? 1 : 0;
        ne = in[1] ? 1 : 0;
        if (nb)
            b[0] = in[0]->i[0];
        if (ne)
            e[0] = in[1]->i[0];
        if (in[2])
            ax[0] = in[2]->i[0];
        if (in[3])
            st[0] = in[3]->i[0];
    }
    if (!x->i || x->ndim != 1 || nb != 1 || ne != 1 || na != 1 || ns != 1 ||
        onnx_axis(ax[0], 1) != 0 || st[0] != 1) {
        onnx_unsupported(mp, idx, n, "only slices of zeros and of a shape are folded");
        return;
    }
    int64_t len = x->count, lo = b[0] < 0 ? b[0] + len : b[0], hi = e[0] < 0 ? e[0] + len : e[0];
    lo = lo < 0 ? 0 : lo > len ? len : lo;
    hi = hi < lo ? lo : hi > len ? len : hi;
    onnx_set_ints(out, x->i + lo, hi - lo);
}

bool onnx_fold(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    const char *op = n->op_type;
    (void)x;
    if (!strcmp(op, "Constant")) {
        const Onnx__AttributeProto *a = onnx_attr(n, "value");
        char err[256];
        if (a && a->t && onnx_tensor_value(mp, a->t, out, err, sizeof err) != 0)
            onnx_unsupported(mp, idx, n, "%s", err);
        else if (a && a->t)
            return true;
        else if ((a = onnx_attr(n, "value_ints")))
            onnx_set_ints(out, a->ints, (int64_t)a->n_ints);
        else if ((a = onnx_attr(n, "value_int")))
            onnx_set_ints(out, &a->i, 1), out->ndim = 0;
        else
            onnx_unsupported(mp, idx, n, "only tensor and integer constants are read");
        return true;
    }
    if (!strcmp(op, "Transpose") && onnx_is_const(x) && x->f && x->ndim == 2) {
        int64_t perm[2] = {1, 0};
        onnx_attr_ints(n, "perm", perm, 2, 2, 0);
        if (perm[0] == 0 && perm[1] == 1) {
            onnx_alias(out, x);
            return true;
        }
        if (perm[0] != 1 || perm[1] != 0)
            return false;
        int64_t r = x->dims[0], c = x->dims[1];
        out->kind = V_CONST;
        out->ndim = 2;
        out->dims[0] = c;
        out->dims[1] = r;
        out->count = x->count;
        out->f = xmalloc((size_t)(x->count ? x->count : 1) * sizeof(float));
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++)
                out->f[j * r + i] = x->f[i * c + j];
        return true;
    }
    if (!strcmp(op, "Expand") && onnx_is_const(x)) {
        /* a constant broadcast to a (possibly symbolic) shape: kept when all zero, as the
         * zero initial state of an LSTM is */
        bool zero = x->zeros || x->count > 0;
        for (int64_t k = 0; k < x->count && zero; k++)
            zero = x->f ? x->f[k] == 0.0f : x->i[k] == 0;
        if (!zero) {
            onnx_unsupported(mp, idx, n, "only an Expand of zeros is folded");
            return true;
        }
        out->kind = V_CONST;
        out->zeros = true;
        out->f = calloc(1, sizeof(float));
        out->count = 0;
        return true;
    }
    if (!strcmp(op, "Slice") && onnx_is_const(x)) {
        fold_slice(mp, n, idx, x, out);
        return true;
    }
    static const char *const fold_ops[] = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat",
                                           "ConstantOfShape", "Expand", "Slice", NULL};
    for (int k = 0; fold_ops[k]; k++)
        if (!strcmp(op, fold_ops[k])) {
            fold_shape_ops(mp, n, idx, out);
            return true;
        }
    return false;
}
