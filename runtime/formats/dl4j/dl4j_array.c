/* dl4j_array.c: decodes Nd4j.write arrays: two big-endian buffers (shape information, data),
 * each an allocation mode, a length, a data type and the elements. */
#include "runtime/formats/dl4j/dl4j_array.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/checked.h"

typedef struct reader {
    const unsigned char *p;
    size_t len, at;
    size_t total;      /* the array's length: its data may go on past the len bytes at p */
    char *err;
    size_t err_len;
} reader;

static int fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* A Java writeUTF string (u16 length, then bytes) into s (at most n - 1 bytes kept). */
static int read_utf(reader *r, const char *what, char *s, size_t n)
{
    if (r->len - r->at < 2)
        return fail(r, "truncated %s: the file ends at byte %zu", what, r->at);
    size_t k = (size_t)be(r->p + r->at, 2);
    r->at += 2;
    if (r->len - r->at < k)
        return fail(r, "truncated %s: %zu bytes declared, %zu left", what, k, r->len - r->at);
    size_t keep = k < n - 1 ? k : n - 1;
    memcpy(s, r->p + r->at, keep);
    s[keep] = '\0';
    r->at += k;
    return 0;
}

typedef enum { T_FLOAT, T_DOUBLE, T_HALF, T_INT, T_LONG } elem_type;
static const char *const type_names[] = {"FLOAT", "DOUBLE", "HALF", "INT", "LONG"};
static const int type_sizes[] = {4, 8, 2, 4, 8};

typedef struct buffer {
    elem_type type;
    int64_t length;
    const unsigned char *elems;
} buffer;

static int read_buffer(reader *r, const char *what, buffer *b)
{
    char mode[32], type[32];
    if (read_utf(r, what, mode, sizeof mode) != 0)
        return -1;
    int len_bytes;
    if (!strcmp(mode, "DIRECT") || !strcmp(mode, "HEAP") || !strcmp(mode, "JAVACPP"))
        len_bytes = 4;
    else if (!strcmp(mode, "LONG_SHAPE") || !strcmp(mode, "MIXED_DATA_TYPES"))
        len_bytes = 8;
    else
        return fail(r, "%s: unknown allocation mode '%s' (DIRECT, HEAP, JAVACPP, LONG_SHAPE or "
                    "MIXED_DATA_TYPES)", what, mode);
    if (r->len - r->at < (size_t)len_bytes)
        return fail(r, "truncated %s: no length", what);
    uint64_t raw = be(r->p + r->at, len_bytes);
    r->at += (size_t)len_bytes;
    int64_t length = len_bytes == 4 ? (int64_t)(int32_t)raw : (int64_t)raw;
    if (length < 0)
        return fail(r, "%s: negative length %" PRId64, what, length);
    if (read_utf(r, what, type, sizeof type) != 0)
        return -1;
    int t = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(type, type_names[i]))
            t = i;
    if (t < 0)
        return fail(r, "%s: unknown data type '%s' (FLOAT, DOUBLE, HALF, INT or LONG)", what, type);
    int64_t bytes;
    if (!checked_mul(length, type_sizes[t], &bytes) || (uint64_t)bytes > r->total - r->at)
        return fail(r, "truncated %s: %" PRId64 " %s values declared, %zu bytes left", what,
                    length, type, r->total - r->at);
    b->type = (elem_type)t;
    b->length = length;
    b->elems = r->p + r->at;
    r->at += (size_t)bytes;
    return 0;
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0)
        v = ldexpf((float)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 1024), e - 25);
    return sign ? -v : v;
}

static double elem(const buffer *b, int64_t i)
{
    const unsigned char *p = b->elems + i * type_sizes[b->type];
    switch (b->type) {
    case T_FLOAT: {
        uint32_t u = (uint32_t)be(p, 4);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case T_DOUBLE: {
        uint64_t u = be(p, 8);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    case T_HALF: return half_to_float((uint16_t)be(p, 2));
    case T_INT: return (double)(int32_t)be(p, 4);
    case T_LONG: return (double)(int64_t)be(p, 8);
    }
    return 0;
}

/* The shape information and the data buffer's header: out's rank, shape and count, the strides
 * and the order, and the data buffer (its elements checked to lie within r's length). */
static int read_header(reader *r, nd4j_array *out, int64_t *stride, buffer *data)
{
    buffer info;
    if (read_buffer(r, "shape information", &info) != 0)
        return -1;
    if (r->at > r->len)
        return fail(r, "shape information of more than %zu bytes", r->len);
    if (info.type != T_INT && info.type != T_LONG)
        return fail(r, "shape information of type %s (expected INT or LONG)", type_names[info.type]);
    if (info.length < 1)
        return fail(r, "empty shape information");
    /* compared as read: a LONG near 2^63 does not fit back into an int64 */
    double rank_value = elem(&info, 0);
    if (!(rank_value >= 0 && rank_value <= LIMIT_ND4J_RANK))
        return fail(r, "rank %.0f (at most %d)", rank_value, LIMIT_ND4J_RANK);
    int64_t rank = (int64_t)rank_value;
    if (info.length != 2 * rank + 4)
        return fail(r, "shape information of %" PRId64 " values for rank %" PRId64
                    " (expected %" PRId64 ")", info.length, rank, 2 * rank + 4);
    int64_t count = 1, extent = 1;
    for (int i = 0; i < rank; i++) {
        double s = elem(&info, 1 + i), st = elem(&info, 1 + rank + i);
        if (s < 0 || s > (double)LIMIT_TENSOR_ELEMENTS || st < 0 || st > (double)INT64_MAX / 4)
            return fail(r, "dimension %d: size %.0f, stride %.0f out of range", i, s, st);
        out->shape[i] = (int64_t)s;
        stride[i] = (int64_t)st;
        if (!checked_mul(count, out->shape[i], &count) || count > LIMIT_TENSOR_ELEMENTS)
            return fail(r, "more than %" PRId64 " elements (the limit on a tensor)",
                        (int64_t)LIMIT_TENSOR_ELEMENTS);
    }
    double order = elem(&info, 2 * rank + 3);
    if (order != 'c' && order != 'f')
        return fail(r, "order %.0f (expected 99 'c' or 102 'f')", order);
    if (read_buffer(r, "data buffer", data) != 0)
        return -1;
    if (data->type == T_INT || data->type == T_LONG)
        return fail(r, "data of type %s (expected FLOAT, DOUBLE or HALF)", type_names[data->type]);
    if (count > 0) {
        for (int i = 0; i < rank; i++) {
            int64_t span;
            if (!checked_mul(out->shape[i] - 1, stride[i], &span) || !checked_add(extent, span, &extent))
                return fail(r, "strides out of range");
        }
        if (extent > data->length)
            return fail(r, "the shape and strides reach element %" PRId64 " of a data buffer of %"
                        PRId64, extent, data->length);
    }
    out->rank = (int)rank;
    out->count = count;
    return 0;
}

/* Whether element k of the logical row-major order is element k of the data (the strides of
 * the dimensions longer than 1 are those of a packed 'c' array). */
static bool row_major_contiguous(const int64_t *shape, const int64_t *stride, int rank)
{
    int64_t want = 1;
    for (int i = rank - 1; i >= 0; i--) {
        if (shape[i] == 1)
            continue;
        if (stride[i] != want)
            return false;
        want *= shape[i];
    }
    return true;
}

int nd4j_array_plain_floats(const unsigned char *head, size_t len, size_t total, int64_t *count,
                            size_t *data_at, char *err, size_t err_len)
{
    /* Everything but the data's values lies within head (their bytes are counted, not read). */
    reader r = {head, len < total ? len : total, 0, total, err, err_len};
    nd4j_array a = {0};
    int64_t stride[LIMIT_ND4J_RANK];
    buffer data;
    if (read_header(&r, &a, stride, &data) != 0)
        return -1;
    if (data.type != T_FLOAT || !row_major_contiguous(a.shape, stride, a.rank))
        return 1;
    *count = a.count;
    *data_at = (size_t)(data.elems - head);
    return 0;
}

int nd4j_array_decode(const unsigned char *buf, size_t len, nd4j_array *out, size_t *used,
                      char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    reader r = {buf, len, 0, len, err, err_len};
    buffer data;
    int64_t stride[LIMIT_ND4J_RANK];
    if (read_header(&r, out, stride, &data) != 0)
        return -1;
    const int64_t count = out->count;
    const int rank = out->rank;
    out->data = malloc((size_t)(count > 0 ? count : 1) * sizeof *out->data);
    if (!out->data)
        return fail(&r, "out of memory for %" PRId64 " values", count);
    if (data.type == T_FLOAT && row_major_contiguous(out->shape, stride, (int)rank)) {
        /* the common case (a parameter vector): the values in order, only their bytes swapped */
        for (int64_t k = 0; k < count; k++) {
            const unsigned char *p = data.elems + 4 * k;
            uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            memcpy(&out->data[k], &u, 4);
        }
        if (used)
            *used = r.at;
        return 0;
    }
    int64_t idx[LIMIT_ND4J_RANK] = {0};
    int64_t off = 0;
    for (int64_t k = 0; k < count; k++) {
        out->data[k] = (float)elem(&data, off);
        for (int i = (int)rank - 1; i >= 0; i--) {
            if (++idx[i] < out->shape[i]) {
                off += stride[i];
                break;
            }
            off -= (idx[i] - 1) * stride[i];
            idx[i] = 0;
        }
    }
    if (used)
        *used = r.at;
    return 0;
}

void nd4j_array_free(nd4j_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

size_t nd4j_put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
    return (size_t)n;
}

size_t nd4j_put_utf(unsigned char *p, const char *s)
{
    size_t n = strlen(s);
    nd4j_put_be(p, n, 2);
    memcpy(p + 2, s, n);
    return n + 2;
}
