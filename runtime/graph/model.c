/* model.c: the model graph: construction, copying and freeing, the layer list, and inference
 * over the DAG. */
#include "runtime/graph/model.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/base/util.h"

model *model_new(const char *name)
{
    model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (name && !(m->name = str_dup(name))) {
        free(m);
        return NULL;
    }
    m->outputs_loc = loc_none();
    m->weight_init.kind = INIT_XAVIER;
    train_conf_defaults(&m->training);
    return m;
}

void model_free(model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_layers; i++)
        layer_free(m->layers[i]);
    free(m->layers);
    for (int i = 0; i < m->n_inputs; i++)
        free(m->inputs[i].name);
    free(m->inputs);
    str_array_free(m->outputs, m->n_outputs);
    free(m->norm.shift);
    free(m->norm.scale);
    str_array_free(m->classes, m->n_classes);
    free(m->weights_file);
    free(m->name);
    free(m->path);
    if (m->mapping) {
        munmap(m->mapping, m->mapping_len);
        if (m->mapping_fd >= 0)
            close(m->mapping_fd);
    }
    model_index_invalidate(m);
    free(m);
}

static float *dup_floats(const float *p, int64_t n)
{
    if (!p || n <= 0)
        return NULL;
    float *q = malloc((size_t)n * sizeof(float));
    if (q)
        memcpy(q, p, (size_t)n * sizeof(float));
    return q;
}

model *model_clone(const model *m, bool with_weights)
{
    if (!m)
        return NULL;
    model *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = *m;
    c->name = NULL;
    c->path = NULL;
    c->inputs = NULL;
    c->n_inputs = 0;
    c->layers = NULL;
    c->n_layers = 0;
    c->outputs = NULL;
    c->n_outputs = 0;
    c->norm.shift = c->norm.scale = NULL;
    c->classes = NULL;
    c->n_classes = 0;
    c->weights_file = NULL;
    c->mapping = NULL;
    c->mapping_len = 0;
    c->mapping_fd = -1;
    c->index = NULL;
    c->layers_mem = NULL;
    c->layers_cap = 0;

    bool ok = (!m->name || (c->name = str_dup(m->name))) && (!m->path || (c->path = str_dup(m->path)));
    if (ok && m->n_inputs > 0) {
        ok = (c->inputs = calloc((size_t)m->n_inputs, sizeof *c->inputs)) != NULL;
        for (int i = 0; ok && i < m->n_inputs; i++) {
            c->inputs[i] = m->inputs[i];
            c->inputs[i].name = str_dup(m->inputs[i].name);
            c->n_inputs = i + 1;
            ok = c->inputs[i].name != NULL;
        }
    }
    if (ok && m->n_layers > 0) {
        ok = (c->layers = calloc((size_t)m->n_layers, sizeof *c->layers)) != NULL;
        for (int i = 0; ok && i < m->n_layers; i++) {
            layer *L = layer_clone(m->layers[i]);
            ok = L != NULL;
            if (!ok)
                break;
            c->layers[c->n_layers++] = L;
            /* The clone does not share the original's mapping: own every parameter. */
            for (int k = 0; k < LAYER_MAX_PARAMS; k++) {
                if (!with_weights) {
                    tensor_release(&L->params[k]);
                    tensor_release(&L->grads[k]);
                    tensor_release(&L->upd_state[k][0]);
                    tensor_release(&L->upd_state[k][1]);
                } else if (tensor_make_owned(&L->params[k]) || tensor_make_owned(&L->grads[k]) ||
                           tensor_make_owned(&L->upd_state[k][0]) ||
                           tensor_make_owned(&L->upd_state[k][1])) {
                    ok = false;
                }
            }
        }
    }
    if (ok && m->n_outputs > 0) {
        ok = (c->outputs = calloc((size_t)m->n_outputs, sizeof *c->outputs)) != NULL;
        for (int i = 0; ok && i < m->n_outputs; i++) {
            c->n_outputs = i + 1;
            ok = (c->outputs[i] = str_dup(m->outputs[i])) != NULL;
        }
    }
    if (ok && m->norm.kind != NORM_NONE && m->norm.n > 0) {
        c->norm.shift = dup_floats(m->norm.shift, m->norm.n);
        c->norm.scale = dup_floats(m->norm.scale, m->norm.n);
        ok = (!m->norm.shift || c->norm.shift) && (!m->norm.scale || c->norm.scale);
    }
    if (ok && m->n_classes > 0)
        ok = model_set_classes(c, (const char *const *)m->classes, m->n_classes) == 0;
    if (ok && with_weights && m->weights_file)
        ok = (c->weights_file = str_dup(m->weights_file)) != NULL;
    if (!with_weights)
        c->weights_loaded = false;
    if (!ok) {
        model_free(c);
        return NULL;
    }
    return c;
}


/* ---- the layer list ---- */

int model_add_input(model *m, const char *name, input_kind kind, int64_t size, src_loc loc)
{
    if (!name || model_has_node(m, name))
        return -1;
    bool current = model_index_current(m);
    model_input *p = realloc(m->inputs, (size_t)(m->n_inputs + 1) * sizeof *p);
    if (!p)
        return -1;
    m->inputs = p;
    model_input *in = &m->inputs[m->n_inputs];
    memset(in, 0, sizeof *in);
    if (!(in->name = str_dup(name)))
        return -1;
    in->kind = kind;
    in->size = size;
    in->loc = loc;
    m->n_inputs++;
    model_index_added_input(m, current);
    return 0;
}

/* On allocation failure the layer is freed and the model is unchanged. */
void model_add_layer(model *m, layer *L)
{
    if (!L)
        return;
    bool current = model_index_current(m);
    /* geometric growth: loading or building a large model copies the array O(log n) times */
    if (m->layers != m->layers_mem || m->layers_cap < m->n_layers + 1) {
        int cap = m->n_layers < 8 ? 16 : 2 * m->n_layers;
        layer **p = realloc(m->layers, (size_t)cap * sizeof *p);
        if (!p) {
            layer_free(L);
            return;
        }
        m->layers = m->layers_mem = p;
        m->layers_cap = cap;
    }
    m->layers[m->n_layers++] = L;
    model_index_added_layer(m, current);
}

void model_remove_layer(model *m, int i)
{
    assert(i >= 0 && i < m->n_layers);
    layer_free(m->layers[i]);
    memmove(&m->layers[i], &m->layers[i + 1], (size_t)(m->n_layers - i - 1) * sizeof *m->layers);
    m->n_layers--;
    model_index_invalidate(m);
}

void model_move_layer(model *m, int from, int to)
{
    assert(from >= 0 && from < m->n_layers && to >= 0 && to < m->n_layers);
    if (from == to)
        return;
    bool current = model_index_current(m);
    layer *L = m->layers[from];
    if (to < from)
        memmove(&m->layers[to + 1], &m->layers[to], (size_t)(from - to) * sizeof *m->layers);
    else
        memmove(&m->layers[from], &m->layers[from + 1], (size_t)(to - from) * sizeof *m->layers);
    m->layers[to] = L;
    model_index_moved_layer(m, current, from, to);
}

void model_set_outputs(model *m, const char *const *names, int n)
{
    int got;
    char **copy = str_array_copy(names, n, &got);
    str_array_free(m->outputs, m->n_outputs);
    m->outputs = copy;
    m->n_outputs = got;
}

int model_node_names(const model *m, const char **names, int max)
{
    int n = 0;
    for (int i = 0; i < m->n_inputs && n < max; i++)
        names[n++] = m->inputs[i].name;
    for (int i = 0; i < m->n_layers && n < max; i++)
        names[n++] = m->layers[i]->name;
    return n;
}

int model_set_classes(model *m, const char *const *names, int n)
{
    str_array_free(m->classes, m->n_classes);
    m->classes = NULL;
    m->n_classes = 0;
    if (n <= 0)
        return 0;
    int copied = 0;
    char **c = str_array_copy(names, n, &copied);
    if (copied < n) {
        str_array_free(c, copied);
        return -1;
    }
    m->classes = c;
    m->n_classes = n;
    return 0;
}

const layer *model_classes_layer(const model *m)
{
    if (m->n_classes <= 0 || m->n_outputs < 1)
        return NULL;
    const layer *L = model_find_layer(m, m->outputs[0]);
    return L && L->n_out == m->n_classes ? L : NULL;
}
