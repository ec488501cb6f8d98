/* data_npy.c: the npy(PATH, labels = PATH) source: float32/float64 features [N, F], images
 * [N, C, H, W] (or [N, H, W, C] with layout = nhwc, transposed on read) or batch-first sequences
 * [N, T, F] (batched time-major), with class indices, one-hot rows or regression targets as
 * labels; read through runtime/npy.h one call per run of consecutive rows. */
#include "runtime/data/data_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tensor/npy.h"

typedef enum { LAB_INDEX, LAB_ONEHOT, LAB_TARGETS } label_kind;

/* Staging buffer limit in floats (1 MiB): runs of rows are read in chunks that fit it (always at
 * least one row), so the reader holds at most this much beyond the batch. */
#define NPY_CHUNK_FLOATS ((int64_t)1 << 18)

typedef struct npy_impl {
    npy_file *x, *y;
    int64_t steps;           /* T for sequences, 1 otherwise */
    label_kind lk;
    bool nhwc;               /* 4-D features stored [N, H, W, C] */
    float *buf;
    size_t buf_cap;          /* bytes */
} npy_impl;

static void npyd_close(dataset *ds)
{
    npy_impl *p = ds->impl;
    if (!p)
        return;
    npy_close(p->x);
    npy_close(p->y);
    free(p->buf);
    free(p);
    ds->impl = NULL;
}

static int npyd_hash(dataset *ds, XXH3_state_t *h, diag_ctx *d)
{
    npy_impl *p = ds->impl;
    if (hash_file(h, p->x->path, d, file_loc(d, p->x->path, 0, 0, 0)) != 0)
        return -1;
    return hash_file(h, p->y->path, d, file_loc(d, p->y->path, 0, 0, 0));
}

static int grow_buf(dataset *ds, npy_impl *p, int64_t floats, diag_ctx *d)
{
    if (data_grow(ds, (void **)&p->buf, &p->buf_cap, (size_t)floats * sizeof(float)) != 0) {
        diag_error(d, ds->loc, "out of memory");
        return -1;
    }
    return 0;
}

/* Checks one label row (row_elems values) of example `ex`. Returns 0, or -1 (reported). */
static int check_label_row(dataset *ds, npy_impl *p, const float *v, int64_t ex, diag_ctx *d)
{
    int64_t m = p->y->row_elems;
    for (int64_t j = 0; j < m; j++) {
        if (!isfinite(v[j])) {
            diag_error(d, file_loc(d, p->y->path, 0, 0, 0), "the labels of example %lld hold %g (element %lld)",
                       (long long)ex, v[j], (long long)j);
            data_note(ds, d);
            return -1;
        }
        if (p->lk == LAB_INDEX) {
            csv_error e;
            if (check_class_label(v[j], ds->classes, &e) != 0) {
                if (p->steps > 1)
                    diag_error(d, file_loc(d, p->y->path, 0, 0, 0), "example %lld, step %lld: %s",
                               (long long)ex, (long long)j, e.msg);
                else
                    diag_error(d, file_loc(d, p->y->path, 0, 0, 0), "example %lld: %s", (long long)ex, e.msg);
                data_note(ds, d);
                return -1;
            }
        }
    }
    return 0;
}

/* Writes one example's label row into column i of y ([B, K] or [T, B, K]). */
static void put_labels(dataset *ds, npy_impl *p, const float *v, int64_t i, int64_t n, batch *b)
{
    int64_t K = ds->outputs;
    for (int64_t t = 0; t < p->steps; t++) {
        float *y = b->y.data + (t * n + i) * K;
        if (p->lk == LAB_INDEX)
            y[(int64_t)v[t]] = 1.0f;
        else
            memcpy(y, v + t * K, (size_t)K * sizeof(float));
    }
}

/* True when no value is NaN or infinite: the exponent bits of every value are checked in
 * fixed-size blocks, without branches, which compilers turn into vector code. */
static bool all_finite(const float *v, int64_t n)
{
    enum { BLOCK = 64 };
    uint32_t bad = 0;
    int64_t j = 0;
    for (; j + BLOCK <= n; j += BLOCK)
        for (int k = 0; k < BLOCK; k++) {
            uint32_t u;
            memcpy(&u, v + j + k, sizeof u);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
        }
    for (; j < n; j++)
        bad |= !isfinite(v[j]);
    return !bad;
}

/* Rows per chunk for rows of `row` floats: as many as fit NPY_CHUNK_FLOATS, at least one. */
static int64_t chunk_rows(int64_t row)
{
    int64_t r = row > 0 ? NPY_CHUNK_FLOATS / row : NPY_CHUNK_FLOATS;
    return r > 0 ? r : 1;
}

/* Length of the run of consecutive ids starting at ids[i] (ids[i], ids[i] + 1, ...), at most
 * max. */
static int64_t run_length(const int64_t *ids, int64_t i, int64_t n, int64_t max)
{
    int64_t r = 1;
    while (i + r < n && r < max && ids[i + r] == ids[i] + r)
        r++;
    return r;
}

static int npyd_fill(dataset *ds, const int64_t *ids, int64_t n, batch *b, diag_ctx *d)
{
    npy_impl *p = ds->impl;
    int64_t F = ds->features, T = p->steps;
    int64_t xr = p->x->row_elems, yr = p->y->row_elems;
    char err[256];
    bool ok = ds->sequence ? tensor_alloc3(&b->x, T, n, F) == 0 && tensor_alloc3(&b->y, T, n, ds->outputs) == 0
                           : image_batch_alloc(ds, &b->x, n) == 0 && tensor_alloc2(&b->y, n, ds->outputs) == 0;
    if (!ok) {
        diag_error(d, ds->loc, "out of memory for a batch of %lld examples", (long long)n);
        return -1;
    }
    /* Features: [N, F] rows go straight into the batch, one read per run; sequences [T, F] and
     * [H, W, C] images are staged a chunk at a time and scattered to time-major or to [C, H, W]. */
    bool staged = ds->sequence || p->nhwc;
    int64_t xchunk = staged ? chunk_rows(xr) : INT64_MAX;
    for (int64_t i = 0; i < n;) {
        int64_t r = run_length(ids, i, n, xchunk);
        float *dst = b->x.data + i * F;
        if (staged) {
            if (grow_buf(ds, p, r * xr, d) != 0)
                return -1;
            dst = p->buf;
        }
        if (npy_read_rows(p->x, ids[i], r, dst, err, sizeof err) != 0) {
            diag_error(d, file_loc(d, p->x->path, 0, 0, 0), "%s", err);
            return -1;
        }
        if (ds->sequence)
            for (int64_t t = 0; t < T; t++)   /* batch-first [r, T, F] to time-major [T, n, F] */
                for (int64_t k = 0; k < r; k++)
                    memcpy(b->x.data + (t * n + i + k) * F, p->buf + (k * T + t) * F, (size_t)F * sizeof(float));
        if (p->nhwc) {   /* [r, H, W, C] to [r, C, H, W] */
            int64_t C = ds->image_c, HW = ds->image_h * ds->image_w;
            for (int64_t k = 0; k < r; k++) {
                const float *src = p->buf + k * F;
                float *out = b->x.data + (i + k) * F;
                for (int64_t q = 0; q < HW; q++)
                    for (int64_t c = 0; c < C; c++)
                        out[c * HW + q] = src[q * C + c];
            }
        }
        i += r;
    }
    /* Labels: a chunk of rows per read, checked again and spread into y. */
    int64_t ychunk = chunk_rows(yr);
    for (int64_t i = 0; i < n;) {
        int64_t r = run_length(ids, i, n, ychunk);
        if (grow_buf(ds, p, r * yr, d) != 0)
            return -1;
        if (npy_read_rows(p->y, ids[i], r, p->buf, err, sizeof err) != 0) {
            diag_error(d, file_loc(d, p->y->path, 0, 0, 0), "%s", err);
            return -1;
        }
        for (int64_t k = 0; k < r; k++) {
            const float *v = p->buf + k * yr;
            if (p->lk == LAB_INDEX)
                for (int64_t t = 0; t < T; t++)
                    if (v[t] < 0 || v[t] >= (float)ds->classes || v[t] != floorf(v[t])) {
                        diag_error(d, file_loc(d, p->y->path, 0, 0, 0), "the labels changed after they were checked");
                        return -1;
                    }
            put_labels(ds, p, v, i + k, n, b);
        }
        i += r;
    }
    return 0;
}

static const data_reader npy_reader = {npyd_fill, npyd_hash, npyd_close};

static const char *shape_text(char *buf, size_t n, const npy_file *f)
{
    int64_t s[NPY_MAX_DIMS];
    for (int i = 0; i < f->ndim; i++)
        s[i] = f->shape[i];
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < f->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

static bool is_float(npy_dtype t)
{
    return t == NPY_F2 || t == NPY_F4 || t == NPY_F8;
}

/* Decides how the labels are read from their dtype, shape and `classes`. */
static int settle_labels(dataset *ds, npy_impl *p, const conf_value *lv, diag_ctx *d)
{
    npy_file *x = p->x, *y = p->y;
    char xs[96], ys[96];
    shape_text(xs, sizeof xs, x);
    shape_text(ys, sizeof ys, y);
    int base = ds->sequence ? 2 : 1;   /* dims of one label per example (and step) */
    if (y->ndim < base || y->ndim > base + 1 || y->shape[0] != x->shape[0] ||
        (ds->sequence && y->shape[1] != x->shape[1])) {
        diag_error(d, lv->loc, "labels %s do not fit features %s: expected %s", ys, xs,
                   ds->sequence ? "[N, T] class indices or [N, T, K] rows with N and T as in the features"
                                : "[N] class indices or [N, K] rows with N as in the features");
        return -1;
    }
    bool indices = y->ndim == base;
    if (!is_float(y->dtype)) {
        if (!indices) {
            diag_error(d, lv->loc, "integer labels %s (dtype %s) must be class indices of shape %s", ys,
                       npy_dtype_names[y->dtype], ds->sequence ? "[N, T]" : "[N]");
            return -1;
        }
        if (!ds->classes) {
            diag_error(d, lv->loc, "the labels are integer class indices (dtype %s): say how many classes with classes = K",
                       npy_dtype_names[y->dtype]);
            return -1;
        }
        p->lk = LAB_INDEX;
        ds->outputs = ds->classes;
        return 0;
    }
    if (ds->classes) {
        if (indices) {
            p->lk = LAB_INDEX;
        } else if (y->shape[y->ndim - 1] != ds->classes) {
            diag_error(d, lv->loc, "one-hot labels %s have %lld columns, but classes = %lld", ys,
                       (long long)y->shape[y->ndim - 1], (long long)ds->classes);
            return -1;
        } else {
            p->lk = LAB_ONEHOT;
        }
        ds->outputs = ds->classes;
    } else {
        p->lk = LAB_TARGETS;
        ds->outputs = indices ? 1 : y->shape[y->ndim - 1];
        if (ds->outputs < 1) {
            diag_error(d, lv->loc, "regression targets %s have no columns", ys);
            return -1;
        }
    }
    return 0;
}

int npy_data_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe)
{
    npy_impl *p = calloc(1, sizeof *p);
    if (!p) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    ds->impl = p;
    ds->ops = &npy_reader;
    int64_t limit = -1;
    int err = data_common_options(ds, spec, true, true, &limit, d);
    err |= opt_int(spec, "classes", 2, -1, &ds->classes, d);
    char *xpath = src_path_arg(spec, "path", 0, "the feature file", d);
    char *ypath = src_path_arg(spec, "labels", 1, "the label file", d);
    if (err || !xpath || !ypath) {
        free(xpath);
        free(ypath);
        return -1;
    }
    const conf_value *xv = src_arg(spec, "path", 0), *lv = src_arg(spec, "labels", 1);
    char msg[512];
    p->x = npy_open(xpath, msg, sizeof msg);
    if (!p->x)
        diag_error(d, xv->loc, "%s", msg);
    p->y = npy_open(ypath, msg, sizeof msg);
    if (!p->y)
        diag_error(d, lv->loc, "%s", msg);
    free(xpath);
    free(ypath);
    if (!p->x || !p->y)
        return -1;
    npy_file *x = p->x;
    char xs[96];
    shape_text(xs, sizeof xs, x);
    if (x->dtype != NPY_F4 && x->dtype != NPY_F8) {
        diag_error(d, xv->loc, "features must be float32 or float64; %s holds %s", x->path, npy_dtype_names[x->dtype]);
        return -1;
    }
    if (x->ndim < 2 || x->ndim > 4) {
        diag_error(d, xv->loc, "features %s: expected [N, F], batch-first sequences [N, T, F] or images "
                   "[N, C, H, W]", xs);
        return -1;
    }
    if (x->row_elems < 1 || x->shape[0] < 1) {
        diag_error(d, xv->loc, "features %s hold no data", xs);
        return -1;
    }
    static const char *const layouts[] = {"nchw", "nhwc"};
    int layout = 0;
    if (opt_ident(spec, "layout", layouts, 2, &layout, d) != 0)
        return -1;
    if (data_opt(spec, "layout") && x->ndim != 4) {
        diag_error(d, data_opt(spec, "layout")->value->loc, "`layout` is for 4-D image features; %s are %s", x->path, xs);
        return -1;
    }
    ds->sequence = x->ndim == 3;
    p->steps = ds->sequence ? x->shape[1] : 1;
    ds->steps = p->steps;
    ds->features = ds->sequence ? x->shape[2] : x->row_elems;
    if (x->ndim == 4) {
        p->nhwc = layout == 1;
        ds->image_c = x->shape[p->nhwc ? 3 : 1];
        ds->image_h = x->shape[p->nhwc ? 1 : 2];
        ds->image_w = x->shape[p->nhwc ? 2 : 3];
        ds->image_batches = !(spec->input && spec->input->kind == INPUT_FEED_FORWARD);
        data_setting(ds, "layout=%s", layouts[layout]);
    }
    if (settle_labels(ds, p, lv, d) != 0)
        return -1;
    int64_t n = x->shape[0];
    ds->count = limit > 0 && limit < n ? limit : n;
    data_setting(ds, "classes=%lld", (long long)ds->classes);
    data_setting(ds, "limit=%lld", (long long)limit);
    if (probe)
        return 0;
    /* Every value once, a chunk of rows per read: finite features, valid labels. */
    int64_t xchunk = chunk_rows(x->row_elems), ychunk = chunk_rows(p->y->row_elems);
    for (int64_t i0 = 0; i0 < ds->count; i0 += xchunk) {
        int64_t r = ds->count - i0 < xchunk ? ds->count - i0 : xchunk;
        if (grow_buf(ds, p, r * x->row_elems, d) != 0)
            return -1;
        if (npy_read_rows(x, i0, r, p->buf, msg, sizeof msg) != 0) {
            diag_error(d, file_loc(d, x->path, 0, 0, 0), "%s", msg);
            data_note(ds, d);
            return -1;
        }
        if (all_finite(p->buf, r * x->row_elems))
            continue;
        for (int64_t k = 0; k < r; k++) {
            const float *v = p->buf + k * x->row_elems;
            int64_t i = i0 + k;
            for (int64_t j = 0; j < x->row_elems; j++)
                if (!isfinite(v[j])) {
                    if (ds->sequence)
                        diag_error(d, file_loc(d, x->path, 0, 0, 0), "example %lld, step %lld, feature %lld is %g",
                                   (long long)i, (long long)(j / ds->features), (long long)(j % ds->features), v[j]);
                    else
                        diag_error(d, file_loc(d, x->path, 0, 0, 0), "example %lld, feature %lld is %g",
                                   (long long)i, (long long)j, v[j]);
                    data_note(ds, d);
                    return -1;
                }
        }
    }
    for (int64_t i0 = 0; i0 < ds->count; i0 += ychunk) {
        int64_t r = ds->count - i0 < ychunk ? ds->count - i0 : ychunk;
        if (grow_buf(ds, p, r * p->y->row_elems, d) != 0)
            return -1;
        if (npy_read_rows(p->y, i0, r, p->buf, msg, sizeof msg) != 0) {
            diag_error(d, file_loc(d, p->y->path, 0, 0, 0), "%s", msg);
            data_note(ds, d);
            return -1;
        }
        for (int64_t k = 0; k < r; k++)
            if (check_label_row(ds, p, p->buf + k * p->y->row_elems, i0 + k, d) != 0)
                return -1;
    }
    return 0;
}
