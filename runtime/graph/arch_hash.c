/* arch_hash.c: the architecture hash: FNV-1a 64 over a canonical text of the graph. */
#include "runtime/graph/arch_hash.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/graph/builder.h"

/* The first line of the hashed text: the version of this canonical form (the native format's
 * name, which it was introduced with). */
#define ARCH_HASH_VERSION "surgery-model/1"

typedef struct fnv {
    uint64_t h;
} fnv;

static void fnv_bytes(fnv *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        f->h = (f->h ^ b[i]) * 0x100000001B3ull;
}

static void fnv_printf(fnv *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fnv_printf(fnv *f, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        fnv_bytes(f, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A name, length-prefixed so that no name can run into the next field. */
static void fnv_name(fnv *f, const char *s)
{
    size_t n = strlen(s);
    fnv_printf(f, "%zu:", n);
    fnv_bytes(f, s, n);
}

static int cmp_layer_name(const void *a, const void *b)
{
    return strcmp((*(const layer *const *)a)->name, (*(const layer *const *)b)->name);
}

uint64_t model_arch_hash(const model *m)
{
    fnv f = {0xCBF29CE484222325ull};
    fnv_printf(&f, "%s\n", ARCH_HASH_VERSION);
    for (int i = 0; i < m->n_inputs; i++) {
        const model_input *in = &m->inputs[i];
        fnv_printf(&f, "input ");
        fnv_name(&f, in->name);
        if (in->kind == INPUT_CONVOLUTIONAL)
            fnv_printf(&f, " %s %" PRId64 " %" PRId64 " %" PRId64 "\n", input_kind_names[in->kind],
                       in->c, in->h, in->w);
        else
            fnv_printf(&f, " %s %" PRId64 "\n", input_kind_names[in->kind], in->size);
    }
    const layer **sorted = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *sorted);
    if (sorted) {
        for (int i = 0; i < m->n_layers; i++)
            sorted[i] = m->layers[i];
        qsort(sorted, (size_t)m->n_layers, sizeof *sorted, cmp_layer_name);
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = sorted ? sorted[i] : m->layers[i];
        fnv_printf(&f, "layer ");
        fnv_name(&f, L->name);
        fnv_printf(&f, " %s in", L->type->name);
        for (int k = 0; k < L->n_inputs; k++) {
            fnv_printf(&f, " ");
            fnv_name(&f, L->inputs[k]);
        }
        fnv_printf(&f, " n_in %" PRId64 " n_out %" PRId64, L->n_in, L->n_out);
        if (L->type->param_specs) {
            param_spec specs[LAYER_MAX_PARAMS];
            int n = L->type->param_specs(L, specs);
            for (int p = 0; p < n; p++) {
                fnv_printf(&f, " %s[", specs[p].key);
                for (int k = 0; k < specs[p].ndim; k++)
                    fnv_printf(&f, k ? ",%" PRId64 : "%" PRId64, specs[p].shape[k]);
                fnv_printf(&f, "]");
            }
        }
        fnv_printf(&f, "\n");
    }
    free(sorted);
    for (int i = 0; i < m->n_outputs; i++) {
        fnv_printf(&f, "output ");
        fnv_name(&f, m->outputs[i]);
        fnv_printf(&f, "\n");
    }
    return f.h;
}

void model_arch_hash_hex(const model *m, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, model_arch_hash(m));
}
