/* dl4j_coef.c: coefficients.bin into the layers' tensors, parameter after parameter: a FLOAT
 * vector streamed from the zip a block of columns at a time (big-endian values scattered into
 * row-major rows), any other array decoded whole and then copied out in 'f' order. */
#include "runtime/formats/dl4j/dl4j_coef.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/formats/dl4j/dl4j_order.h"

#define BLOCK_BYTES ((size_t)4 << 20)   /* values read per piece */
#define TILE 64

struct dl4j_coef {
    dl4j_zip_stream *s;          /* streaming a plain FLOAT vector, or NULL */
    nd4j_array whole;            /* any other array, decoded */
    int64_t count, at;           /* values in the array, values given */
    unsigned char head[ND4J_HEADER_MAX];
    size_t pend_at, pend_len;    /* bytes of values already read with the header */
    unsigned char *block;
    size_t block_len;
};

/* Reads n bytes of values: those read with the header first, then from the stream. */
static int read_values(dl4j_coef *c, unsigned char *dst, size_t n, char *err, size_t err_len)
{
    size_t k = c->pend_len < n ? c->pend_len : n;
    memcpy(dst, c->head + c->pend_at, k);
    c->pend_at += k;
    c->pend_len -= k;
    return n > k ? dl4j_zip_stream_read(c->s, dst + k, n - k, err, err_len) : 0;
}

int dl4j_coef_open(dl4j_zip *z, const char *entry, bool empty_ok, dl4j_coef **out, char *err,
                   size_t err_len)
{
    *out = NULL;
    dl4j_coef *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    uint64_t size;
    int rc = dl4j_zip_stream_open(z, entry, &c->s, &size, err, err_len);
    if (rc != 0) {
        free(c);
        return rc;
    }
    if (size == 0 && empty_ok) {
        dl4j_zip_stream_close(c->s, false, err, err_len);
        c->s = NULL;
        *out = c;
        return 0;
    }
    size_t hl = size < sizeof c->head ? (size_t)size : sizeof c->head;
    size_t data_at = 0;
    if (dl4j_zip_stream_read(c->s, c->head, hl, err, err_len) != 0)
        goto fail;
    rc = nd4j_array_plain_floats(c->head, hl, (size_t)size, &c->count, &data_at, err, err_len);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        c->pend_at = data_at < hl ? data_at : hl;
        c->pend_len = hl - c->pend_at;
        if (data_at > hl) {    /* not seen: the header fits in ND4J_HEADER_MAX */
            snprintf(err, err_len, "a header of more than %zu bytes", hl);
            goto fail;
        }
        *out = c;
        return 0;
    }
    /* decoded whole: the rest of the entry after the header bytes */
    unsigned char *all = malloc((size_t)size);
    if (!all) {
        snprintf(err, err_len, "out of memory for %llu bytes", (unsigned long long)size);
        goto fail;
    }
    memcpy(all, c->head, hl);
    rc = dl4j_zip_stream_read(c->s, all + hl, (size_t)size - hl, err, err_len);
    if (rc == 0)
        rc = dl4j_zip_stream_close(c->s, true, err, err_len);
    else
        dl4j_zip_stream_close(c->s, false, err, err_len);
    c->s = NULL;
    if (rc == 0)
        rc = nd4j_array_decode(all, (size_t)size, &c->whole, NULL, err, err_len);
    free(all);
    if (rc != 0) {
        dl4j_coef_close(c);
        return -1;
    }
    c->count = c->whole.count;
    *out = c;
    return 0;
fail:
    dl4j_coef_close(c);
    return -1;
}

int64_t dl4j_coef_count(const dl4j_coef *c) { return c ? c->count : 0; }

/* Any shape from decoded values: row-major element (i0, i1, ...) of the shape is at
 * flat[i0 + i1*s0 + ...] ('f' order). */
static void fill_f_order(tensor *t, const float *flat)
{
    if (t->ndim <= 2) {
        dl4j_f_to_rows(t->data, flat, t->ndim == 2 ? t->shape[0] : t->size,
                       t->ndim == 2 ? t->shape[1] : 1);
        return;
    }
    int64_t idx[TENSOR_MAX_DIMS] = {0};
    for (int64_t k = 0; k < t->size; k++) {
        int64_t off = 0, mul = 1;
        for (int d = 0; d < t->ndim; d++) {
            off += idx[d] * mul;
            mul *= t->shape[d];
        }
        t->data[k] = flat[off];
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d])
                break;
            idx[d] = 0;
        }
    }
}

static float be_float(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A [rows, cols] matrix streamed column block by column block; a vector is one column. Higher
 * ranks are read whole into a scratch buffer and reordered. */
static int fill_streamed(dl4j_coef *c, tensor *t, char *err, size_t err_len)
{
    if (t->ndim > 2) {
        float *tmp = malloc((size_t)t->size * sizeof *tmp);
        if (!tmp || read_values(c, (unsigned char *)tmp, (size_t)t->size * 4, err, err_len) != 0) {
            if (!tmp)
                snprintf(err, err_len, "out of memory");
            free(tmp);
            return -1;
        }
        for (int64_t k = 0; k < t->size; k++)
            tmp[k] = be_float((const unsigned char *)&tmp[k]);
        fill_f_order(t, tmp);
        free(tmp);
        return 0;
    }
    const int64_t rows = t->ndim == 2 ? t->shape[0] : t->size, cols = t->ndim == 2 ? t->shape[1] : 1;
    int64_t per = (int64_t)(BLOCK_BYTES / 4) / (rows > 0 ? rows : 1);
    per = per < 1 ? 1 : per;
    for (int64_t c0 = 0; c0 < cols; c0 += per) {
        int64_t nc = cols - c0 < per ? cols - c0 : per;
        size_t need = (size_t)(nc * rows) * 4;
        if (need > c->block_len) {
            unsigned char *b = realloc(c->block, need);
            if (!b) {
                snprintf(err, err_len, "out of memory");
                return -1;
            }
            c->block = b;
            c->block_len = need;
        }
        if (read_values(c, c->block, need, err, err_len) != 0)
            return -1;
        /* column j of the block holds rows 0..rows-1 of column c0 + j */
        for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
            int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows;
            for (int64_t r = r0; r < r1; r++) {
                float *dst = t->data + r * cols + c0;
                for (int64_t j = 0; j < nc; j++)
                    dst[j] = be_float(c->block + (size_t)(j * rows + r) * 4);
            }
        }
    }
    return 0;
}

int dl4j_coef_fill(dl4j_coef *c, tensor *t, char *err, size_t err_len)
{
    if (t->size > c->count - c->at) {
        snprintf(err, err_len, "%lld values, fewer than the parameters need", (long long)c->count);
        return -1;
    }
    int rc = 0;
    if (c->s)
        rc = fill_streamed(c, t, err, err_len);
    else
        fill_f_order(t, c->whole.data + c->at);
    c->at += t->size;
    return rc;
}

int dl4j_coef_take(dl4j_coef *c, float *dst, int64_t n, char *err, size_t err_len)
{
    if (n > c->count - c->at) {
        snprintf(err, err_len, "%lld values, fewer than the parameters need", (long long)c->count);
        return -1;
    }
    if (c->s) {
        if (read_values(c, (unsigned char *)dst, (size_t)n * 4, err, err_len) != 0)
            return -1;
        for (int64_t k = 0; k < n; k++)
            dst[k] = be_float((const unsigned char *)&dst[k]);
    } else {
        memcpy(dst, c->whole.data + c->at, (size_t)n * sizeof *dst);
    }
    c->at += n;
    return 0;
}

int dl4j_coef_finish(dl4j_coef *c, char *err, size_t err_len)
{
    if (!c || !c->s)
        return 0;
    /* whatever follows the values taken, to the end, where libzip checks the entry's CRC */
    int rc = dl4j_zip_stream_close(c->s, true, err, err_len);
    c->s = NULL;
    return rc;
}

void dl4j_coef_close(dl4j_coef *c)
{
    if (!c)
        return;
    char err[8];
    dl4j_zip_stream_close(c->s, false, err, sizeof err);
    nd4j_array_free(&c->whole);
    free(c->block);
    free(c);
}
