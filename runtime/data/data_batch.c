/* data_batch.c: a dataset's epochs and shuffling, its batches, normalisation and content
 * hash. */
#include "runtime/data/data_impl.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/rng.h"

/* ---- epochs ---- */

int data_reset_in_order(dataset *ds)
{
    ds->cursor = 0;
    ds->in_order = true;
    return 0;
}

int data_reset(dataset *ds, uint64_t seed)
{
    ds->cursor = 0;
    ds->in_order = false;
    if (!ds->shuffle)
        return 0;
    if (!ds->order) {
        ds->order = malloc((size_t)ds->count * sizeof *ds->order);
        if (!ds->order)
            return -1;
        data_hold(ds, ds->count * (int64_t)sizeof *ds->order);
        ds->index_bytes += (size_t)ds->count * sizeof *ds->order;
    }
    for (int64_t i = 0; i < ds->count; i++)
        ds->order[i] = i;
    rng r;
    rng_seed(&r, seed);
    rng_shuffle(&r, ds->order, ds->count);
    return 0;
}

void batch_release(batch *b)
{
    if (!b)
        return;
    tensor_release(&b->x);
    tensor_release(&b->y);
    tensor_release(&b->mask);
    tensor_release(&b->label_mask);
    b->n = 0;
}

static size_t batch_bytes(const batch *b)
{
    size_t n = 0;
    if (b->x.data)
        n += (size_t)b->x.size;
    if (b->y.data)
        n += (size_t)b->y.size;
    if (b->mask.data)
        n += (size_t)b->mask.size;
    if (b->label_mask.data)
        n += (size_t)b->label_mask.size;
    return n * sizeof(float);
}

/* Fills b with ids in [first, first + n) of the epoch order, without normalising. */
static int fill_range(dataset *ds, int64_t first, int64_t n, bool use_order, batch *b, diag_ctx *d)
{
    int64_t stack_ids[256];
    int64_t *ids = stack_ids;
    size_t scratch = 0;
    if (use_order && ds->order && !ds->in_order) {
        ids = ds->order + first;
    } else {
        if (n > 256) {
            scratch = (size_t)n * sizeof *ids;
            ids = malloc(scratch);
            if (!ids) {
                diag_error(d, ds->loc, "out of memory");
                return -1;
            }
        }
        for (int64_t i = 0; i < n; i++)
            ids[i] = first + i;
    }
    data_hold(ds, (int64_t)scratch);
    memset(b, 0, sizeof *b);
    int rc = ds->ops->fill(ds, ids, n, b, d);
    if (rc == 0) {
        b->n = n;
        size_t total = ds->held + batch_bytes(b);
        if (total > ds->peak)
            ds->peak = total;
    } else {
        batch_release(b);
    }
    data_hold(ds, -(int64_t)scratch);
    if (scratch)
        free(ids);
    return rc;
}

int data_next_n(dataset *ds, int64_t max, batch *b, diag_ctx *d)
{
    assert(max >= 1);
    batch_release(b);
    if (ds->cursor >= ds->count)
        return 0;
    int64_t n = ds->count - ds->cursor;
    if (n > max)
        n = max;
    if (fill_range(ds, ds->cursor, n, true, b, d) != 0)
        return -1;
    ds->cursor += n;
    if (ds->norm.kind != NORM_NONE)
        data_normalizer_apply(&ds->norm, &b->x, b->mask.data ? &b->mask : NULL);
    return 1;
}

int data_next(dataset *ds, batch *b, diag_ctx *d)
{
    return data_next_n(ds, ds->batch, b, d);
}

/* ---- normalisation ---- */

void data_normalizer_release(normalizer *n)
{
    if (!n)
        return;
    free(n->shift);
    free(n->scale);
    memset(n, 0, sizeof *n);
}

int data_normalizer_copy(normalizer *dst, const normalizer *src)
{
    normalizer t = {0};
    if (src && src->kind != NORM_NONE) {
        t.kind = src->kind;
        t.n = src->n;
        t.shift = malloc((size_t)src->n * sizeof(float));
        t.scale = malloc((size_t)src->n * sizeof(float));
        if (!t.shift || !t.scale) {
            data_normalizer_release(&t);
            return -1;
        }
        memcpy(t.shift, src->shift, (size_t)src->n * sizeof(float));
        memcpy(t.scale, src->scale, (size_t)src->n * sizeof(float));
    }
    data_normalizer_release(dst);
    *dst = t;
    return 0;
}

void data_normalizer_apply(const normalizer *n, tensor *x, const tensor *mask)
{
    if (!n || n->kind == NORM_NONE || !x->data)
        return;
    assert(x->ndim >= 1 && x->size % n->n == 0);   /* rows of n: [B, F], [T, B, F] or [B, C, H, W] */
    int64_t rows = x->size / n->n;
    const float *m = mask && mask->data ? mask->data : NULL;
    assert(!m || mask->size == rows);
    for (int64_t r = 0; r < rows; r++) {
        if (m && m[r] == 0.0f)
            continue;
        float *row = x->data + r * n->n;
        for (int64_t f = 0; f < n->n; f++)
            row[f] = (row[f] - n->shift[f]) * n->scale[f];
    }
}

int data_set_normalizer(dataset *ds, const normalizer *n)
{
    if (n && n->kind != NORM_NONE && n->n != ds->features)
        return -1;
    return data_normalizer_copy(&ds->norm, n);
}

int data_fit_normalizer(dataset *ds, norm_kind kind, normalizer *out, diag_ctx *d)
{
    data_normalizer_release(out);
    if (kind == NORM_NONE)
        return 0;
    int64_t F = ds->features;
    double *acc = calloc((size_t)F * 2, sizeof *acc);   /* mean/m2 or min/max */
    if (!acc) {
        diag_error(d, ds->loc, "out of memory");
        return -1;
    }
    data_hold(ds, F * 2 * (int64_t)sizeof *acc);
    double *a0 = acc, *a1 = acc + F;
    for (int64_t f = 0; f < F; f++) {
        a0[f] = kind == NORM_MINMAX ? INFINITY : 0.0;
        a1[f] = kind == NORM_MINMAX ? -INFINITY : 0.0;
    }
    int64_t seen = 0;
    int rc = 0;
    batch b = {0};
    for (int64_t first = 0; first < ds->count && rc == 0; first += ds->batch) {
        int64_t n = ds->count - first < ds->batch ? ds->count - first : ds->batch;
        if (fill_range(ds, first, n, false, &b, d) != 0) {
            rc = -1;
            break;
        }
        int64_t rows = b.x.size / F;
        const float *m = b.mask.data;
        for (int64_t r = 0; r < rows; r++) {
            if (m && m[r] == 0.0f)
                continue;
            const float *row = b.x.data + r * F;
            seen++;
            if (kind == NORM_MINMAX) {
                for (int64_t f = 0; f < F; f++) {
                    if (row[f] < a0[f])
                        a0[f] = row[f];
                    if (row[f] > a1[f])
                        a1[f] = row[f];
                }
            } else {   /* Welford */
                for (int64_t f = 0; f < F; f++) {
                    double delta = row[f] - a0[f];
                    a0[f] += delta / (double)seen;
                    a1[f] += delta * (row[f] - a0[f]);
                }
            }
        }
        batch_release(&b);
    }
    if (rc == 0) {
        out->shift = malloc((size_t)F * sizeof(float));
        out->scale = malloc((size_t)F * sizeof(float));
        if (!out->shift || !out->scale) {
            diag_error(d, ds->loc, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        out->kind = kind;
        out->n = F;
        for (int64_t f = 0; f < F; f++) {
            double shift, range;
            if (kind == NORM_MINMAX) {
                shift = a0[f];
                range = a1[f] - a0[f];
            } else {
                shift = a0[f];
                range = seen ? sqrt(a1[f] / (double)seen) : 0.0;
            }
            out->shift[f] = (float)shift;
            out->scale[f] = range > 1e-12 ? (float)(1.0 / range) : 1.0f;
        }
    } else {
        data_normalizer_release(out);
    }
    data_hold(ds, -F * 2 * (int64_t)sizeof *acc);
    free(acc);
    return rc;
}

/* ---- content hash ---- */

int data_content_hash(dataset *ds, uint64_t *hash, diag_ctx *d)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h || XXH3_64bits_reset(h) != XXH_OK) {
        XXH3_freeState(h);
        diag_error(d, ds->loc, "out of memory");
        return -1;
    }
    XXH3_64bits_update(h, "surgery-data/2;", 15);
    XXH3_64bits_update(h, ds->settings, strlen(ds->settings));
    if (ds->vocab)
        XXH3_64bits_update(h, ds->vocab, (size_t)ds->vocab_len);
    if (ds->ops->hash(ds, h, d) != 0) {
        XXH3_freeState(h);
        return -1;
    }
    if (ds->norm.kind != NORM_NONE) {
        int32_t k = (int32_t)ds->norm.kind;
        XXH3_64bits_update(h, &k, sizeof k);
        XXH3_64bits_update(h, ds->norm.shift, (size_t)ds->norm.n * sizeof(float));
        XXH3_64bits_update(h, ds->norm.scale, (size_t)ds->norm.n * sizeof(float));
    }
    *hash = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

void data_hash_hex(uint64_t hash, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[hash & 15];
        hash >>= 4;
    }
    out[16] = '\0';
}
