/* tensor.h: dense float32 tensors (row-major, up to 4 dimensions) and their allocation. */
#ifndef SURGERY_TENSOR_H
#define SURGERY_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Ownership: a tensor owns `data` unless `borrowed` is set (then data points into a buffer owned
 * by someone else, e.g. a model's mapped weights file, and must be copied before writing:
 * tensor_make_owned). A tensor may instead be pending: `parts` (owned) describes its values as
 * spans of other buffers and `data` is NULL until tensor_settle assembles it (an edit's output
 * that is only saved is never assembled: tensor_parts.h). tensor_release frees owned data and
 * parts and resets the struct; releasing a zeroed tensor is a no-op. Tensors are plain values:
 * copying the struct does not copy the data. */
#define TENSOR_MAX_DIMS 4

typedef struct tensor {
    float *data;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t size;       /* product of shape; 1 for ndim 0 */
    bool borrowed;
    struct tensor_parts *parts;   /* set: pending, data NULL (see above) */
} tensor;

/* What tensor.c needs of a pending tensor's description, so that plain tensors do not depend on
 * the description's code (tensor_parts.h, whose first member points at its ops): writing every
 * value row-major to dst, and freeing the description (NULL is a no-op). */
typedef struct tensor_pending_ops {
    void (*assemble)(struct tensor_parts *p, float *dst);
    void (*free)(struct tensor_parts *p);
} tensor_pending_ops;

/* Whether this machine stores numbers little-endian: float32 data then has the byte layout of
 * the files' F32 / <f4 arrays and moves without conversion. */
static inline bool tensor_host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* The unsigned number stored little-endian in p[0..n), n at most 8. */
static inline uint64_t tensor_load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Whether the tensor has values: data, or parts that tensor_settle turns into data. */
static inline bool tensor_has_values(const tensor *t)
{
    return t->data != NULL || t->parts != NULL;
}

/* Allocates zero-filled data of the given shape. Returns 0, or -1 when the element count would
 * overflow or memory runs out (t is then left zeroed). */
int tensor_alloc(tensor *t, int ndim, const int64_t *shape);
int tensor_alloc2(tensor *t, int64_t d0, int64_t d1);
int tensor_alloc3(tensor *t, int64_t d0, int64_t d1, int64_t d2);
void tensor_release(tensor *t);
/* Deep copy into dst (which is released first); a pending src is assembled into the copy. */
int tensor_copy(tensor *dst, const tensor *src);
/* Assembles a pending tensor's values into owned data (no-op for any other tensor). Returns 0,
 * or -1 when memory runs out (the tensor is then still pending). */
int tensor_settle(tensor *t);
/* Replaces borrowed data by an owned copy. */
int tensor_make_owned(tensor *t);
void tensor_zero(tensor *t);
bool tensor_same_shape(const tensor *a, const tensor *b);
/* Element count of a shape; -1 on overflow past INT64_MAX/sizeof(float) or a negative dim. */
int64_t shape_count(int ndim, const int64_t *shape);
/* "[2, 3]" into buf. */
const char *shape_str(char *buf, size_t n, int ndim, const int64_t *shape);
/* Max absolute difference between two same-size tensors (for tests and exactness checks). */
double tensor_max_abs_diff(const tensor *a, const tensor *b);

#endif
