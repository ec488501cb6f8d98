/* tensor_parts.c: tensors described as rows of spans, assembled or walked run by run. */
#include "runtime/tensor/tensor_parts.h"

#include <stdlib.h>
#include <string.h>

static const tensor_pending_ops parts_ops = {tensor_parts_assemble, tensor_parts_free};

tensor_parts *tensor_parts_new(tensor *keep, float *fresh, int64_t fresh_size)
{
    tensor_parts *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ops = &parts_ops;
    if (keep) {
        p->keep = *keep;
        memset(keep, 0, sizeof *keep);
    }
    p->fresh = fresh;
    p->fresh_size = fresh ? fresh_size : 0;
    p->filled = p->fresh_size;
    return p;
}

int tensor_parts_group(tensor_parts *p, int64_t rows)
{
    if (p->n_groups >= TP_MAX_GROUPS || rows < 0)
        return -1;
    p->groups[p->n_groups++] = (tp_group){.rows = rows, .first = p->n_spans, .count = 0};
    return 0;
}

int tensor_parts_span(tensor_parts *p, const float *src, int64_t stride, int64_t len)
{
    if (p->n_groups == 0 || p->n_spans >= TP_MAX_SPANS || len < 0)
        return -1;
    p->spans[p->n_spans++] = (tp_span){.src = src, .stride = stride, .len = len};
    p->groups[p->n_groups - 1].count++;
    return 0;
}

static void *filler_main(void *arg)
{
    tensor_parts *p = arg;
    p->fill(p, p->fill_arg);
    tensor_parts_filled(p, p->fresh_size);
    return NULL;
}

void tensor_parts_fill(tensor_parts *p, void (*fill)(tensor_parts *p, void *arg), void *arg)
{
    tensor_parts_ready(p);
    p->fill = fill;
    p->fill_arg = arg;
    p->filled = 0;
    if (pthread_mutex_init(&p->lock, NULL) == 0) {
        if (pthread_cond_init(&p->progress, NULL) == 0) {
            p->filling = true;
            if (pthread_create(&p->filler, NULL, filler_main, p) == 0)
                return;
            p->filling = false;
            pthread_cond_destroy(&p->progress);
        }
        pthread_mutex_destroy(&p->lock);
    }
    fill(p, arg);
    p->filled = p->fresh_size;
}

void tensor_parts_filled(tensor_parts *p, int64_t n)
{
    if (!p->filling) {
        p->filled = n;
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->filled = n;
    pthread_cond_broadcast(&p->progress);
    pthread_mutex_unlock(&p->lock);
}

/* Waits until the fresh values before element `upto` are drawn. */
static void wait_filled(tensor_parts *p, int64_t upto)
{
    if (!p->filling)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->filled < upto)
        pthread_cond_wait(&p->progress, &p->lock);
    pthread_mutex_unlock(&p->lock);
    if (upto >= p->fresh_size)
        tensor_parts_ready(p);
}

void tensor_parts_ready(tensor_parts *p)
{
    if (p->filling) {
        pthread_join(p->filler, NULL);
        p->filling = false;
        pthread_cond_destroy(&p->progress);
        pthread_mutex_destroy(&p->lock);
    }
}

int64_t tensor_parts_size(const tensor_parts *p)
{
    int64_t n = 0;
    for (int g = 0; g < p->n_groups; g++) {
        const tp_group *G = &p->groups[g];
        int64_t row = 0;
        for (int s = G->first; s < G->first + G->count; s++)
            row += p->spans[s].len;
        n += G->rows * row;
    }
    return n;
}

void tensor_parts_assemble(tensor_parts *p, float *dst)
{
    tensor_parts_ready(p);
    for (int g = 0; g < p->n_groups; g++) {
        const tp_group *G = &p->groups[g];
        for (int64_t r = 0; r < G->rows; r++)
            for (int s = G->first; s < G->first + G->count; s++) {
                const tp_span *S = &p->spans[s];
                if (S->src)
                    memcpy(dst, S->src + r * S->stride, (size_t)S->len * sizeof *dst);
                else
                    memset(dst, 0, (size_t)S->len * sizeof *dst);
                dst += S->len;
            }
    }
}

int tensor_parts_each_run(tensor_parts *p, tp_run_fn fn, void *ctx)
{
    tensor_parts_ready(p);
    const float *run = NULL;
    int64_t run_n = 0;
    for (int g = 0; g < p->n_groups; g++) {
        const tp_group *G = &p->groups[g];
        for (int64_t r = 0; r < G->rows; r++)
            for (int s = G->first; s < G->first + G->count; s++) {
                const tp_span *S = &p->spans[s];
                if (S->len == 0)
                    continue;
                const float *src = S->src ? S->src + r * S->stride : NULL;
                if (src && p->filling && src >= p->fresh && src < p->fresh + p->fresh_size)
                    wait_filled(p, (src - p->fresh) + S->len);
                if (run_n > 0 && (src ? run && run + run_n == src : !run)) {
                    run_n += S->len;
                    continue;
                }
                if (run_n > 0 && fn(ctx, run, run_n) != 0)
                    return -1;
                run = src;
                run_n = S->len;
            }
    }
    return run_n > 0 ? fn(ctx, run, run_n) : 0;
}

void tensor_parts_free(tensor_parts *p)
{
    if (!p)
        return;
    tensor_parts_ready(p);
    tensor_release(&p->keep);
    free(p->fresh);
    free(p);
}
