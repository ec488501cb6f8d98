/* model_init.c: gives every layer of a model the parameters it does not have yet. */
#include "runtime/graph/model.h"

#include "runtime/nn/init.h"

int model_init_params(model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        for (int p = 0; p < L->n_params; p++)
            m->params_initialised += L->params[p].data == NULL;
        if (layer_init_params(m->layers[i], &m->weight_init, m->seed))
            return -1;
    }
    m->weights_loaded = true;
    return 0;
}
