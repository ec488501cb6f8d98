/* arch_hash.c: the architecture hash: FNV-1a 64 over a canonical text of the graph. */
#include "runtime/graph/arch_hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/strbuf.h"
#include "runtime/graph/builder.h"

/* The first line of the hashed text: the version of this canonical form (the native format's
 * name, which it was introduced with). */
#define ARCH_HASH_VERSION "surgery-model/1"

/* A name, length-prefixed so that no name can run into the next field. */
static void put_name(strbuf *t, const char *s)
{
    size_t n = strlen(s);
    strbuf_printf(t, "%zu:", n);
    strbuf_add(t, s, n);
}

static int cmp_layer_name(const void *a, const void *b)
{
    return strcmp((*(const layer *const *)a)->name, (*(const layer *const *)b)->name);
}

uint64_t model_arch_hash(const model *m)
{
    strbuf t = {.abort_on_oom = true};
    strbuf_printf(&t, "%s\n", ARCH_HASH_VERSION);
    for (int i = 0; i < m->n_inputs; i++) {
        const model_input *in = &m->inputs[i];
        strbuf_puts(&t, "input ");
        put_name(&t, in->name);
        if (in->kind == INPUT_CONVOLUTIONAL)
            strbuf_printf(&t, " %s %" PRId64 " %" PRId64 " %" PRId64 "\n", input_kind_names[in->kind],
                       in->c, in->h, in->w);
        else
            strbuf_printf(&t, " %s %" PRId64 "\n", input_kind_names[in->kind], in->size);
    }
    const layer **sorted = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *sorted);
    if (sorted) {
        for (int i = 0; i < m->n_layers; i++)
            sorted[i] = m->layers[i];
        qsort(sorted, (size_t)m->n_layers, sizeof *sorted, cmp_layer_name);
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = sorted ? sorted[i] : m->layers[i];
        strbuf_puts(&t, "layer ");
        put_name(&t, L->name);
        strbuf_printf(&t, " %s in", L->type->name);
        for (int k = 0; k < L->n_inputs; k++) {
            strbuf_puts(&t, " ");
            put_name(&t, L->inputs[k]);
        }
        strbuf_printf(&t, " n_in %" PRId64 " n_out %" PRId64, L->n_in, L->n_out);
        if (L->type->param_specs) {
            param_spec specs[LAYER_MAX_PARAMS];
            int n = L->type->param_specs(L, specs);
            for (int p = 0; p < n; p++) {
                strbuf_printf(&t, " %s[", specs[p].key);
                for (int k = 0; k < specs[p].ndim; k++)
                    strbuf_printf(&t, k ? ",%" PRId64 : "%" PRId64, specs[p].shape[k]);
                strbuf_puts(&t, "]");
            }
        }
        strbuf_puts(&t, "\n");
    }
    free(sorted);
    for (int i = 0; i < m->n_outputs; i++) {
        strbuf_puts(&t, "output ");
        put_name(&t, m->outputs[i]);
        strbuf_puts(&t, "\n");
    }
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < t.n; i++)
        h = (h ^ (unsigned char)t.s[i]) * 0x100000001B3ull;
    free(t.s);
    return h;
}

void model_arch_hash_hex(const model *m, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, model_arch_hash(m));
}
