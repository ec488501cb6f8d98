/* boundary.c: the frozen boundary of a model for featurize and the top model above it. */
#include "runtime/featurize/featurize_impl.h"

#include <stdlib.h>
#include <string.h>

/* bottom[i]: layer i and all its ancestors are frozen. */
int compute_bottom(const model *m, bool *bottom)
{
    int n = m->n_layers;
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order || model_topo_order(m, order, NULL) != 0) {
        free(order);
        return -1;
    }
    for (int p = 0; p < n; p++) {
        int i = order[p];
        const layer *L = m->layers[i];
        bool b = L->frozen;
        for (int k = 0; k < L->n_inputs && b; k++) {
            int j = model_layer_index(m, L->inputs[k]);
            if (j >= 0 && !bottom[j])
                b = false;
        }
        bottom[i] = b;
    }
    free(order);
    return 0;
}

static bool has_name(char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return true;
    return false;
}

/* Boundary nodes: inputs and bottom layers that non-bottom layers consume, in definition
 * order of the consumers. Returns the count, or -1 when there are too many. */
int boundary_nodes(const model *m, const bool *bottom, char **names)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (bottom[i])
            continue;
        const layer *L = m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            const char *in = L->inputs[k];
            int j = model_layer_index(m, in);
            bool is_boundary = j >= 0 ? bottom[j] : model_input_index(m, in) >= 0;
            if (!is_boundary || has_name(names, n, in))
                continue;
            if (n == MAX_NODES)
                return -1;
            names[n++] = (char *)in;
        }
    }
    return n;
}

act_shape node_shape(const model *m, const char *name)
{
    act_shape s = {0};
    int j = model_layer_index(m, name);
    if (j >= 0)
        return m->layers[j]->out_shape;
    int k = model_input_index(m, name);
    if (k >= 0) {
        s.kind = m->inputs[k].kind == INPUT_RECURRENT ? SHAPE_RNN : SHAPE_FF;
        s.size = m->inputs[k].size;
    }
    return s;
}

/* The sub-model of the non-bottom layers, fed by the boundary nodes. */
model *build_top(const model *m, const bool *bottom, char **nodes, int n_nodes, diag_ctx *d)
{
    model *top = model_new(m->name);
    if (!top)
        return NULL;
    for (int k = 0; k < n_nodes; k++) {
        act_shape s = node_shape(m, nodes[k]);
        if (model_add_input(top, nodes[k], s.kind == SHAPE_RNN ? INPUT_RECURRENT : INPUT_FEED_FORWARD,
                            s.size, loc_none()) != 0)
            goto fail;
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (bottom[i])
            continue;
        layer *c = layer_clone(m->layers[i]);
        if (!c)
            goto fail;
        model_add_layer(top, c);
    }
    model_set_outputs(top, (const char *const *)m->outputs, m->n_outputs);
    top->seed = m->seed;
    top->weight_init = m->weight_init;
    top->training = m->training;
    top->weights_loaded = true;
    if (model_infer_shapes(top, d) != 0)
        goto fail;
    return top;
fail:
    model_free(top);
    return NULL;
}
