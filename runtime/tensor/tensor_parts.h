/* tensor_parts.h: a tensor described as rows of spans of other buffers (trained values kept in
 * place, freshly drawn ones, zeros), assembled in memory only when something needs its values
 * and otherwise streamed straight into the file that saves it. */
#ifndef SURGERY_TENSOR_PARTS_H
#define SURGERY_TENSOR_PARTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/tensor/tensor.h"

/* Ownership: a tensor_parts owns `keep` (the tensor its kept values live in: owned data is freed
 * with it, borrowed data let go) and `fresh` (malloc'd); every span points into one of the two,
 * or is zeros. A tensor whose `parts` is set owns that tensor_parts and has no `data` until
 * tensor_settle assembles it. The fresh values may still be being drawn by a filler thread the
 * description owns: every function below that reads them waits for it first. */

#define TP_MAX_GROUPS 4
#define TP_MAX_SPANS 8

/* One span of every row of a group: `len` elements from src + r * stride in the group's row r
 * (src NULL: zeros). */
typedef struct tp_span {
    const float *src;
    int64_t stride;
    int64_t len;
} tp_span;

/* `rows` rows, each the spans [first, first + count) laid end to end. */
typedef struct tp_group {
    int64_t rows;
    int first, count;
} tp_group;

typedef struct tensor_parts tensor_parts;
struct tensor_parts {
    const tensor_pending_ops *ops;   /* first: what tensor.c calls (tensor_release, tensor_settle) */
    tensor keep;
    float *fresh;
    int64_t fresh_size;          /* elements of fresh */
    tp_group groups[TP_MAX_GROUPS];
    int n_groups;
    tp_span spans[TP_MAX_SPANS];
    int n_spans;
    /* the filler thread drawing `fresh` front to back (tensor_parts_fill); `filled` elements
     * are done, under `lock` (readers wait on `progress` for the ones they need) */
    bool filling;
    pthread_t filler;
    void (*fill)(tensor_parts *p, void *arg);
    void *fill_arg;
    pthread_mutex_t lock;
    pthread_cond_t progress;
    int64_t filled;
};

/* A new empty description that takes over *keep (which is zeroed; NULL: nothing to keep) and
 * fresh (fresh_size elements); NULL when memory runs out (then nothing is taken). */
tensor_parts *tensor_parts_new(tensor *keep, float *fresh, int64_t fresh_size);
/* Appends a group of rows; its spans follow with tensor_parts_span. Returns 0, or -1 past the
 * fixed limits (a programming error: the callers' layouts fit). */
int tensor_parts_group(tensor_parts *p, int64_t rows);
int tensor_parts_span(tensor_parts *p, const float *src, int64_t stride, int64_t len);
/* Has fill(p, arg) write the fresh values front to back on a thread of its own, telling its
 * progress with tensor_parts_filled, so that drawing them overlaps what the caller does next:
 * whatever reads a fresh value waits only until that value is drawn. Without a thread it runs
 * here and now. fill owns arg (frees it). */
void tensor_parts_fill(tensor_parts *p, void (*fill)(tensor_parts *p, void *arg), void *arg);
/* For fill: the first n elements of fresh are drawn. */
void tensor_parts_filled(tensor_parts *p, int64_t n);
/* Waits until every fresh value is drawn. */
void tensor_parts_ready(tensor_parts *p);
/* Element count of the described tensor. */
int64_t tensor_parts_size(const tensor_parts *p);
/* Writes the whole tensor, row-major, to dst (tensor_parts_size elements). */
void tensor_parts_assemble(tensor_parts *p, float *dst);

/* Called with each run of the tensor in order: n elements at src (src NULL: n zeros). Runs that
 * are contiguous in memory are merged into one call. A nonzero return stops the walk. */
typedef int (*tp_run_fn)(void *ctx, const float *src, int64_t n);
int tensor_parts_each_run(tensor_parts *p, tp_run_fn fn, void *ctx);

/* tensor_parts_free(NULL) is a no-op. */
void tensor_parts_free(tensor_parts *p);

#endif
