/* tensor.c: allocation, copying and comparison of dense float32 tensors. */
#include "runtime/tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ops of a pending tensor's description: its first member. */
static const tensor_pending_ops *pending_ops(const struct tensor_parts *p)
{
    const tensor_pending_ops *ops;
    memcpy(&ops, (const void *)p, sizeof ops);
    return ops;
}

int64_t shape_count(int ndim, const int64_t *shape)
{
    const int64_t limit = INT64_MAX / (int64_t)sizeof(float);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > limit / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

int tensor_alloc(tensor *t, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        return -1;
    int64_t n = shape_count(ndim, shape);
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float))
        return -1;
    /* calloc(0) may return NULL; keep one element so data is never NULL for a valid tensor. */
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p)
        return -1;
    t->data = p;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->size = n;
    t->borrowed = false;
    return 0;
}

int tensor_alloc2(tensor *t, int64_t d0, int64_t d1)
{
    int64_t s[2] = {d0, d1};
    return tensor_alloc(t, 2, s);
}

int tensor_alloc3(tensor *t, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t s[3] = {d0, d1, d2};
    return tensor_alloc(t, 3, s);
}

void tensor_release(tensor *t)
{
    if (!t)
        return;
    if (!t->borrowed)
        free(t->data);
    if (t->parts)
        pending_ops(t->parts)->free(t->parts);
    memset(t, 0, sizeof *t);
}

int tensor_copy(tensor *dst, const tensor *src)
{
    tensor tmp;
    if (tensor_alloc(&tmp, src->ndim, src->shape) != 0)
        return -1;
    if (src->size > 0 && src->data)
        memcpy(tmp.data, src->data, (size_t)src->size * sizeof(float));
    else if (src->parts)
        pending_ops(src->parts)->assemble(src->parts, tmp.data);
    if (dst != src)
        tensor_release(dst);
    *dst = tmp;
    return 0;
}

int tensor_settle(tensor *t)
{
    if (!t->parts)
        return 0;
    tensor tmp;
    if (tensor_alloc(&tmp, t->ndim, t->shape) != 0)
        return -1;
    pending_ops(t->parts)->assemble(t->parts, tmp.data);
    tensor_release(t);
    *t = tmp;
    return 0;
}

int tensor_make_owned(tensor *t)
{
    if (t->parts)
        return tensor_settle(t);
    if (!t->borrowed)
        return 0;
    tensor src = *t;
    tensor tmp;
    if (tensor_alloc(&tmp, src.ndim, src.shape) != 0)
        return -1;
    if (src.size > 0 && src.data)
        memcpy(tmp.data, src.data, (size_t)src.size * sizeof(float));
    *t = tmp;
    return 0;
}

void tensor_zero(tensor *t)
{
    if (t->data && t->size > 0)
        memset(t->data, 0, (size_t)t->size * sizeof(float));
}

bool tensor_same_shape(const tensor *a, const tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

const char *shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    int w = snprintf(buf, n, "[");
    used = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < ndim && used < n; i++) {
        w = snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

double tensor_max_abs_diff(const tensor *a, const tensor *b)
{
    if (a->size != b->size)
        return INFINITY;
    double m = 0.0;
    for (int64_t i = 0; i < a->size; i++) {
        double d = fabs((double)a->data[i] - (double)b->data[i]);
        if (d != d)
            return INFINITY;
        if (d > m)
            m = d;
    }
    return m;
}
