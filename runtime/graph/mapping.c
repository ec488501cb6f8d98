/* mapping.c: drops and prefetches pages of a model's weights mapping, and settles pending
 * parameters into owned memory. */
#include "runtime/graph/mapping.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/tensor/tensor_parts.h"

void model_drop_mapped(const model *m, const void *begin, const void *end, const void *from,
                       const void *to)
{
    if (!m || !m->mapping || !begin || !end)
        return;
    uintptr_t mb = (uintptr_t)m->mapping, me = mb + m->mapping_len;
    uintptr_t b = (uintptr_t)begin, e = (uintptr_t)end, f = (uintptr_t)from, t = (uintptr_t)to;
    if (b < mb || e > me || b >= e || f < b || t > e || f >= t)
        return;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t pg = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t lo = f / pg * pg, first_whole = (b + pg - 1) / pg * pg;
    if (lo < first_whole)
        lo = first_whole;
    uintptr_t hi = t / pg * pg;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void model_prefetch_mapped(const model *m, const void *begin, const void *end)
{
    if (!m || !m->mapping || !begin || !end)
        return;
    uintptr_t mb = (uintptr_t)m->mapping, me = mb + m->mapping_len;
    uintptr_t b = (uintptr_t)begin, e = (uintptr_t)end;
    if (b < mb || e > me || b >= e)
        return;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t pg = ps > 0 ? (uintptr_t)ps : 4096, lo = b / pg * pg;
    (void)madvise((void *)lo, e - lo, MADV_WILLNEED);
}

int model_settle(model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        for (int k = 0; k < LAYER_MAX_PARAMS; k++) {
            tensor *t = &L->params[k];
            if (!t->parts)
                continue;
            const tensor *kept = &t->parts->keep;
            const float *kb = kept->data, *ke = kept->data ? kept->data + kept->size : NULL;
            bool mapped = kept->borrowed;
            if (tensor_settle(t) != 0)
                return -1;
            if (mapped)
                model_drop_mapped(m, kb, ke, kb, ke);
        }
    }
    return 0;
}
