/* onnx_fold.c: the ONNX operators folded into constants: Constant, and the Shape / Gather /
 * Unsqueeze / Squeeze / Concat / ConstantOfShape / Expand chains that static shapes make
 * constant, and Slice, Reshape, Transpose and Cast of constants (torch's pads chains). */
#include <stdlib.h>
#include <string.h>

#include "runtime/base/checked.h"
#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx.h"
#include "runtime/formats/onnx/onnx_mapper.h"

/* The most values a folded constant made by ConstantOfShape, Reshape, Slice or Transpose has. */
#define FOLD_MAX (1 << 16)

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
        const Onnx__AttributeProto *a = onnx_attr(n, "value");
        float *f = NULL, fill = 0.0f;
        int64_t *iv = NULL, c = 0, ifill = 0;
        char err[128];
        bool ints = false;
        if (a && a->t && onnx_tensor_values(a->t, mp->path, &f, &iv, &c, err, sizeof err) == 0 &&
            c == 1) {
            ints = iv != NULL;
            fill = f ? f[0] : 0.0f;
            ifill = iv ? iv[0] : 0;
        }
        free(f);
        free(iv);
        /* a static shape of a few values: the values themselves (torch's pads chains) */
        int64_t total = 1;
        bool known = x->count <= MAXR;
        for (int64_t k = 0; k < x->count && known; k++)
            known = x->i[k] >= 0 && x->i[k] != SYM && checked_mul(total, x->i[k], &total) &&
                    total <= FOLD_MAX;
        out->kind = V_CONST;
        out->zeros = ints ? ifill == 0 : fill == 0.0f;
        if (known) {
            out->ndim = (int)x->count;
            memcpy(out->dims, x->i, (size_t)x->count * sizeof(int64_t));
            out->count = total;
            if (ints) {
                out->i = xmalloc((size_t)(total ? total : 1) * sizeof(int64_t));
                for (int64_t k = 0; k < total; k++)
                    out->i[k] = ifill;
            } else {
                out->f = xmalloc((size_t)(total ? total : 1) * sizeof(float));
                for (int64_t k = 0; k < total; k++)
                    out->f[k] = fill;
            }
            return;
        }
        /* a symbolic (batch) shape: only all zeros is kept, as an LSTM's initial state */
        out->count = 0;
        out->f = out->zeros ? calloc(1, sizeof(float)) : NULL;
        return;
    }
    onnx_unsupported(mp, idx, n, "only constant Shape/Gather/Unsqueeze/Concat chains are folded");
}

/* out: a constant of x's kind (integers or floats) of the given dims and count, values unset. */
static void const_like(value *out, const value *x, int ndim, const int64_t *dims, int64_t count)
{
    out->kind = V_CONST;
    out->ndim = ndim;
    memcpy(out->dims, dims, (size_t)ndim * sizeof(int64_t));
    out->count = count;
    if (x->i)
        out->i = xmalloc((size_t)(count ? count : 1) * sizeof(int64_t));
    else
        out->f = xmalloc((size_t)(count ? count : 1) * sizeof(float));
}

static void copy_value(value *out, int64_t to, const value *x, int64_t from)
{
    if (x->i)
        out->i[to] = x->i[from];
    else
        out->f[to] = x->f[from];
}

/* Whether x holds its values (not a symbolic-shape constant of zeros) with dims that multiply
 * to its count. */
static bool has_values(const value *x)
{
    if (!(x->i || x->f) || (x->zeros && !x->count && x->ndim == 0 && !x->i))
        return false;
    int64_t total = 1;
    for (int k = 0; k < x->ndim; k++)
        if (!checked_mul(total, x->dims[k], &total))
            return false;
    return total == x->count;
}

/* Slice of a constant: of zeros (an LSTM's initial states, torch's per-layer slices of one
 * ConstantOfShape), zeros; else the strided slice of its values along the given axes (steps
 * may be negative: torch's pads chains reverse a matrix's rows). */
static void fold_slice(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    if (x->zeros && !has_values(x)) {
        onnx_alias(out, x);
        return;
    }
    int64_t b[MAXR], e[MAXR], ax[MAXR], st[MAXR];
    int nb, ne, na, ns;
    if (mp->opset < 10) {
        nb = onnx_attr_ints(n, "starts", b, MAXR, 0, 0);
        ne = onnx_attr_ints(n, "ends", e, MAXR, 0, 0);
        na = onnx_attr_ints(n, "axes", ax, MAXR, nb, 0);
        ns = nb;
        for (int k = 0; k < MAXR; k++)
            st[k] = 1;
        if (!onnx_attr(n, "axes"))
            for (int k = 0; k < nb && k < MAXR; k++)
                ax[k] = k;
    } else {
        value *in[4];
        int64_t *dst[4] = {b, e, ax, st};
        int cnt[4] = {0, 0, -1, -1};
        for (size_t j = 1; j < 5; j++) {
            in[j - 1] = onnx_in(mp, n, j);
            value *v = in[j - 1];
            if (v && (!onnx_is_const(v) || !v->i || v->count > MAXR)) {
                onnx_unsupported(mp, idx, n, "needs constant starts, ends, axes and steps");
                return;
            }
            if (v) {
                memcpy(dst[j - 1], v->i, (size_t)v->count * sizeof(int64_t));
                cnt[j - 1] = (int)v->count;
            }
        }
        nb = cnt[0];
        ne = cnt[1];
        na = cnt[2] < 0 ? nb : cnt[2];
        ns = cnt[3] < 0 ? nb : cnt[3];
        for (int k = 0; cnt[2] < 0 && k < nb; k++)
            ax[k] = k;
        for (int k = 0; cnt[3] < 0 && k < nb; k++)
            st[k] = 1;
    }
    if (!has_values(x) || nb != ne || nb != na || nb != ns || nb > x->ndim) {
        onnx_unsupported(mp, idx, n, "only slices of zeros and of constants are folded");
        return;
    }
    int64_t lo[MAXR], step[MAXR], len[MAXR];
    for (int a = 0; a < x->ndim; a++) {
        lo[a] = 0;
        step[a] = 1;
        len[a] = x->dims[a];
    }
    for (int k = 0; k < nb; k++) {
        int64_t a = ax[k] < 0 ? ax[k] + x->ndim : ax[k], d = a >= 0 && a < x->ndim ? x->dims[a] : 0;
        if (a < 0 || a >= x->ndim || st[k] == 0 || st[k] < -FOLD_MAX || st[k] > FOLD_MAX) {
            onnx_unsupported(mp, idx, n, "axis %lld or step %lld is out of range",
                             (long long)ax[k], (long long)st[k]);
            return;
        }
        int64_t s0 = b[k] < 0 ? (b[k] < -d ? 0 : b[k] + d) : b[k];
        int64_t e0 = e[k] < 0 ? (e[k] < -d ? -1 : e[k] + d) : e[k];
        if (st[k] > 0) {
            s0 = s0 > d ? d : s0;
            e0 = e0 < 0 ? 0 : e0 > d ? d : e0;
            len[a] = e0 > s0 ? (e0 - s0 + st[k] - 1) / st[k] : 0;
        } else {
            s0 = s0 > d - 1 ? d - 1 : s0;
            e0 = e0 > d - 1 ? d - 1 : e0;
            len[a] = s0 > e0 ? (s0 - e0 - st[k] - 1) / -st[k] : 0;
        }
        lo[a] = s0;
        step[a] = st[k];
    }
    int64_t total = 1;
    for (int a = 0; a < x->ndim; a++)
        total *= len[a];   /* at most x->count */
    const_like(out, x, x->ndim, len, total);
    int64_t at[MAXR] = {0};
    for (int64_t q = 0; q < total; q++) {
        int64_t src = 0;
        for (int a = 0; a < x->ndim; a++)
            src = src * x->dims[a] + lo[a] + at[a] * step[a];
        copy_value(out, q, x, src);
        for (int a = x->ndim - 1; a >= 0 && ++at[a] == len[a]; a--)
            at[a] = 0;
    }
}

/* Transpose of a constant by perm (default: the axes reversed). */
static void fold_transpose(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    int64_t perm[MAXR];
    int np = onnx_attr_ints(n, "perm", perm, MAXR, 0, 0);
    if (!onnx_attr(n, "perm"))
        for (int k = 0; k < x->ndim; k++)
            perm[np++] = x->ndim - 1 - k;
    bool seen[MAXR] = {false};
    bool ok = has_values(x) && np == x->ndim;
    for (int k = 0; ok && k < np; k++) {
        ok = perm[k] >= 0 && perm[k] < x->ndim && !seen[perm[k]];
        if (ok)
            seen[perm[k]] = true;
    }
    if (!ok) {
        onnx_unsupported(mp, idx, n, "perm does not fit the constant's %d axes", x->ndim);
        return;
    }
    int64_t dims[MAXR], stride[MAXR], at[MAXR] = {0};
    int64_t sd = 1;
    for (int a = x->ndim - 1; a >= 0; a--) {
        stride[a] = sd;
        sd *= x->dims[a];   /* at most x->count: has_values checked the product */
    }
    for (int k = 0; k < np; k++)
        dims[k] = x->dims[perm[k]];
    const_like(out, x, np, dims, x->count);
    for (int64_t q = 0; q < x->count; q++) {
        int64_t src = 0;
        for (int k = 0; k < np; k++)
            src += at[k] * stride[perm[k]];
        copy_value(out, q, x, src);
        for (int k = np - 1; k >= 0 && ++at[k] == dims[k]; k--)
            at[k] = 0;
    }
}

/* Reshape of a constant to the shape of a constant (0 keeps an axis, -1 takes the rest). */
static void fold_reshape(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *s,
                         value *out)
{
    int64_t dims[MAXR], known = 1;
    int neg = -1;
    bool ok = has_values(x) && onnx_is_const(s) && s->i && s->count <= MAXR;
    for (int k = 0; ok && k < (int)s->count; k++) {
        int64_t d = s->i[k];
        if (d == 0 && !onnx_attr_i(n, "allowzero", 0))
            d = k < x->ndim ? x->dims[k] : -2;
        if (d == -1 && neg < 0) {
            neg = k;
            dims[k] = 1;
            continue;
        }
        ok = d >= 0 && checked_mul(known, d, &known);
        dims[k] = d;
    }
    if (ok && neg >= 0) {
        ok = known > 0 && x->count % known == 0;
        dims[neg] = ok ? x->count / known : 0;
        known = x->count;
    }
    if (!ok || known != x->count) {
        onnx_unsupported(mp, idx, n, "the shape does not fit the constant's %lld values",
                         (long long)x->count);
        return;
    }
    onnx_alias(out, x);
    out->ndim = (int)s->count;
    memcpy(out->dims, dims, (size_t)s->count * sizeof(int64_t));
}

/* Cast: of a constant, its values as integers or floats; of a float activation to a float
 * type, nothing. */
static void fold_cast(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    int64_t to = onnx_attr_i(n, "to", 0);
    bool to_float = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                    to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
                    to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
                    to == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    if (onnx_is_act(x)) {
        if (to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)
            onnx_alias(out, x);
        else
            onnx_unsupported(mp, idx, n, "casts an activation to another type than float");
        return;
    }
    if (!has_values(x)) {
        onnx_unsupported(mp, idx, n, "casts a constant without values");
        return;
    }
    out->kind = V_CONST;
    out->ndim = x->ndim;
    memcpy(out->dims, x->dims, sizeof out->dims);
    out->count = x->count;
    size_t nb = (size_t)(x->count ? x->count : 1);
    if (to_float) {
        out->f = xmalloc(nb * sizeof(float));
        for (int64_t k = 0; k < x->count; k++)
            out->f[k] = x->f ? x->f[k] : (float)x->i[k];
    } else {
        out->i = xmalloc(nb * sizeof(int64_t));
        for (int64_t k = 0; k < x->count; k++)
            out->i[k] = x->i ? x->i[k]
                        : to == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL ? x->f[k] != 0.0f
                        : x->f[k] > 9e18f || x->f[k] < -9e18f || x->f[k] != x->f[k] ? 0
                        : (int64_t)x->f[k];
    }
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
    if (!strcmp(op, "Transpose") && onnx_is_const(x)) {
        fold_transpose(mp, n, idx, x, out);
        return true;
    }
    if (!strcmp(op, "Reshape") && onnx_is_const(x)) {
        fold_reshape(mp, n, idx, x, onnx_in(mp, n, 1), out);
        return true;
    }
    if (!strcmp(op, "Cast") && x) {
        fold_cast(mp, n, idx, x, out);
        return true;
    }
    if (!strcmp(op, "Expand") && onnx_is_const(x)) {
        /* a constant broadcast to a (possibly symbolic) shape: kept when all zero, as the
         * zero initial state of an LSTM is; float values (an LSTM's constant initial state,
         * the same for every example) are kept as they are, to broadcast where they are used */
        bool zero = x->zeros || x->count > 0;
        for (int64_t k = 0; k < x->count && zero; k++)
            zero = x->f ? x->f[k] == 0.0f : x->i[k] == 0;
        if (!zero && x->f && x->count > 0) {
            onnx_alias(out, x);
            return true;
        }
        if (!zero) {
            onnx_unsupported(mp, idx, n, "only an Expand of zeros or of floats is folded");
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
