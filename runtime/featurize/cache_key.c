/* cache_key.c: the content hash that names a featurize cache entry. */
#include "runtime/featurize/featurize_impl.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>     /* XXH3 on the widest vector unit the processor has */
#endif
#endif

#include "runtime/nn/layer_options.h"

static void hash_str(XXH3_state_t *h, const char *s)
{
    XXH3_64bits_update(h, s, strlen(s) + 1);
}

/* XXH3 hash of the frozen part (its architecture and weights), the boundary and the data.
 * Returns 0, or -1 when out of memory. */
static int cache_key(const model *m, const bool *bottom, char **nodes, int n_nodes, uint64_t data_hash,
                     uint64_t *key)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h || XXH3_64bits_reset(h) != XXH_OK) {
        XXH3_freeState(h);
        return -1;
    }
    hash_str(h, FEATURIZE_FORMAT);
    for (int k = 0; k < m->n_inputs; k++) {
        hash_str(h, m->inputs[k].name);
        XXH3_64bits_update(h, &m->inputs[k].size, sizeof m->inputs[k].size);
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (!bottom[i])
            continue;
        const layer *L = m->layers[i];
        char desc[512];
        layer_options_digest(L, desc, sizeof desc);
        hash_str(h, L->name);
        hash_str(h, desc);
        for (int k = 0; k < L->n_inputs; k++)
            hash_str(h, L->inputs[k]);
        for (int p = 0; p < L->n_params; p++)
            if (L->params[p].data)
                XXH3_64bits_update(h, L->params[p].data, (size_t)L->params[p].size * sizeof(float));
    }
    for (int k = 0; k < n_nodes; k++)
        hash_str(h, nodes[k]);
    if (m->norm.kind != NORM_NONE && m->norm.n > 0) {
        XXH3_64bits_update(h, m->norm.shift, (size_t)m->norm.n * sizeof(float));
        XXH3_64bits_update(h, m->norm.scale, (size_t)m->norm.n * sizeof(float));
    }
    XXH3_64bits_update(h, &data_hash, sizeof data_hash);
    *key = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

int featurize_cache_key(const model *m, const bool *bottom, char **nodes, int n_nodes,
                        uint64_t data_hash, uint64_t *key)
{
    return cache_key(m, bottom, nodes, n_nodes, data_hash, key);
}
