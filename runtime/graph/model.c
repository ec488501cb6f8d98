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
#include "runtime/graph/graph_impl.h"
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

static void free_strings(char **s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
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
    free_strings(m->outputs, m->n_outputs);
    free(m->norm.shift);
    free(m->norm.scale);
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
    char **copy = n > 0 ? calloc((size_t)n, sizeof *copy) : NULL;
    int got = 0;
    if (copy)
        for (; got < n; got++)
            if (!(copy[got] = str_dup(names[got])))
                break;
    free_strings(m->outputs, m->n_outputs);
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

/* ---- inference ---- */

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Checks an input tensor against the model input's declared shape; sets *batch and *time. */
static int check_input(const model_input *mi, const tensor *t, int64_t *batch, int64_t *time,
                       char *err, size_t err_len)
{
    char got[96] = "(none)", want[96];
    if (t && t->data)
        shape_str(got, sizeof got, t->ndim, t->shape);
    bool good = t && t->data;
    int64_t b = 0, tm = 0;
    switch (mi->kind) {
    case INPUT_FEED_FORWARD:
        snprintf(want, sizeof want, "[batch, %lld]", (long long)mi->size);
        good = good && t->ndim == 2 && t->shape[1] == mi->size;
        b = good ? t->shape[0] : 0;
        break;
    case INPUT_RECURRENT:
        snprintf(want, sizeof want, "[time, batch, %lld]", (long long)mi->size);
        good = good && t->ndim == 3 && t->shape[2] == mi->size;
        tm = good ? t->shape[0] : 0;
        b = good ? t->shape[1] : 0;
        break;
    case INPUT_CONVOLUTIONAL:
        snprintf(want, sizeof want, "[batch, %lld, %lld, %lld]", (long long)mi->h,
                 (long long)mi->w, (long long)mi->c);
        good = good && ((t->ndim == 4 && t->shape[1] == mi->h && t->shape[2] == mi->w &&
                         t->shape[3] == mi->c) ||
                        (t->ndim == 2 && t->shape[1] == mi->h * mi->w * mi->c));
        b = good ? t->shape[0] : 0;
        break;
    }
    if (!good) {
        if (err && err_len)
            snprintf(err, err_len, "input '%s': expected %s, got %s", mi->name, want, got);
        return -1;
    }
    if (*batch >= 0 && b != *batch) {
        if (err && err_len)
            snprintf(err, err_len, "input '%s': batch size %lld differs from another input's %lld",
                     mi->name, (long long)b, (long long)*batch);
        return -1;
    }
    *batch = b;
    *time = tm;
    return 0;
}

int model_predict_nodes(model *m, const tensor *const *inputs, const float *const *masks,
                        const char *const *names, int n_names, tensor *outputs, char *err,
                        size_t err_len)
{
    /* One mask for the recurrent layers: the first input's (single-input sequence models). */
    const float *step_mask = masks && m->n_inputs > 0 ? masks[0] : NULL;
    if (err && err_len)
        err[0] = '\0';
    for (int j = 0; j < n_names; j++)
        tensor_release(&outputs[j]);
    const int n = m->n_layers;
    int rc = -1;
    graph g;
    if (graph_build(m, &g))
        return fail(err, err_len, "out of memory");
    int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    int *last = malloc((size_t)(n > 0 ? n : 1) * sizeof *last);
    bool *needed = calloc((size_t)(n > 0 ? n : 1), sizeof *needed);
    bool *is_output = calloc((size_t)(n > 0 ? n : 1), sizeof *is_output);
    int64_t *times = calloc((size_t)(n > 0 ? n : 1), sizeof *times);
    int64_t *in_times = calloc((size_t)(m->n_inputs > 0 ? m->n_inputs : 1), sizeof *in_times);
    tensor *acts = calloc((size_t)(n > 0 ? n : 1), sizeof *acts);
    const tensor **args = NULL;
    int args_cap = 0;
    if (!order || !last || !needed || !is_output || !times || !in_times || !acts) {
        fail(err, err_len, "out of memory");
        goto out;
    }
    if (infer_all(m, &g, order, NULL) != 0) {
        fail(err, err_len, "model '%s' has graph or shape errors (see `surgery check`)",
             m->name ? m->name : "");
        goto out;
    }
    /* outputs and what they need */
    for (int j = 0; j < n_names; j++) {
        int li = model_layer_index(m, names[j]);
        if (li >= 0) {
            is_output[li] = true;
            needed[li] = true;
        } else if (model_input_index(m, names[j]) < 0) {
            fail(err, err_len, "output '%s' is not defined", names[j]);
            goto out;
        }
    }
    for (int p = n - 1; p >= 0; p--) {
        int i = order[p];
        if (!needed[i])
            continue;
        for (int k = g.src_start[i]; k < g.src_start[i + 1]; k++)
            if (g.src[k] >= 0)
                needed[g.src[k]] = true;
    }
    for (int i = 0; i < n; i++)
        last[i] = -1;
    for (int p = 0; p < n; p++) {
        int i = order[p];
        if (!needed[i])
            continue;
        for (int k = g.src_start[i]; k < g.src_start[i + 1]; k++)
            if (g.src[k] >= 0)
                last[g.src[k]] = p;
    }
    /* inputs */
    int64_t batch = -1;
    for (int k = 0; k < m->n_inputs; k++)
        if (check_input(&m->inputs[k], inputs ? inputs[k] : NULL, &batch, &in_times[k], err,
                        err_len))
            goto out;
    if (batch < 0)
        batch = 0;

    for (int p = 0; p < n; p++) {
        int i = order[p];
        if (!needed[i])
            continue;
        layer *L = m->layers[i];
        /* weights present? */
        if (L->type->param_specs) {
            param_spec specs[LAYER_MAX_PARAMS];
            int np = L->type->param_specs(L, specs);
            for (int k = 0; k < np; k++) {
                if (!L->params[k].data ||
                    L->params[k].size != shape_count(specs[k].ndim, specs[k].shape)) {
                    fail(err, err_len, "layer '%s' has no weights for %s (load or initialise them)",
                         L->name, specs[k].key);
                    goto out;
                }
            }
        }
        int ni = L->n_inputs;
        if (ni > args_cap) {
            const tensor **a = realloc(args, (size_t)ni * sizeof *a);
            if (!a) {
                fail(err, err_len, "out of memory");
                goto out;
            }
            args = a;
            args_cap = ni;
        }
        int64_t t_steps = -1;
        for (int k = 0; k < ni; k++) {
            int s = g.src[g.src_start[i] + k];
            const tensor *t = s >= 0 ? &acts[s] : inputs[-s - 1];
            int64_t ts = s >= 0 ? times[s] : in_times[-s - 1];
            args[k] = t;
            bool rnn = s >= 0 ? m->layers[s]->out_shape.kind == SHAPE_RNN
                              : m->inputs[-s - 1].kind == INPUT_RECURRENT;
            if (rnn) {
                if (t_steps >= 0 && ts != t_steps) {
                    fail(err, err_len, "layer '%s': its inputs have %lld and %lld time steps",
                         L->name, (long long)t_steps, (long long)ts);
                    goto out;
                }
                t_steps = ts;
            }
        }
        act_shape os = L->out_shape;
        int alloc_rc;
        if (os.kind == SHAPE_RNN) {
            if (t_steps < 0) {
                fail(err, err_len, "layer '%s' gives recurrent output from feed-forward input",
                     L->name);
                goto out;
            }
            times[i] = t_steps;
            alloc_rc = tensor_alloc3(&acts[i], t_steps, batch, os.size);
        } else if (os.kind == SHAPE_CNN && os.h > 0) {
            int64_t shape[4] = {batch, os.h, os.w, os.c};
            alloc_rc = tensor_alloc(&acts[i], 4, shape);
        } else {
            alloc_rc = tensor_alloc2(&acts[i], batch, os.size);
        }
        if (alloc_rc) {
            fail(err, err_len, "out of memory computing layer '%s'", L->name);
            goto out;
        }
        char ferr[256] = "";
        fwd_ctx c = {.in = args, .n_in = ni, .out = &acts[i], .training = false, .rng = NULL,
                     .mask = step_mask, .carry_state = false, .err = ferr, .err_len = sizeof ferr};
        if (L->type->forward(L, &c) != 0) {
            if (ferr[0])
                fail(err, err_len, "%s", ferr);
            else
                fail(err, err_len, "out of memory computing layer '%s'", L->name);
            goto out;
        }
        /* release activations whose last consumer has run */
        for (int k = g.src_start[i]; k < g.src_start[i + 1]; k++) {
            int s = g.src[k];
            if (s >= 0 && last[s] == p && !is_output[s])
                tensor_release(&acts[s]);
        }
    }
    for (int j = 0; j < n_names; j++) {
        int li = model_layer_index(m, names[j]);
        const tensor *src = li >= 0 ? &acts[li] : inputs[model_input_index(m, names[j])];
        bool later = false;
        for (int k = j + 1; k < n_names && li >= 0; k++)
            later = later || strcmp(names[k], names[j]) == 0;
        if (li >= 0 && !later) {
            outputs[j] = acts[li];
            memset(&acts[li], 0, sizeof acts[li]);
        } else if (tensor_copy(&outputs[j], src)) {
            fail(err, err_len, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        for (int j = 0; j < n_names; j++)
            tensor_release(&outputs[j]);
    if (acts)
        for (int i = 0; i < n; i++)
            tensor_release(&acts[i]);
    free(acts);
    free(args);
    free(order);
    free(last);
    free(needed);
    free(is_output);
    free(times);
    free(in_times);
    graph_free(&g);
    return rc;
}

int model_predict(model *m, const tensor *const *inputs, tensor *outputs, char *err, size_t err_len)
{
    return model_predict_nodes(m, inputs, NULL, (const char *const *)m->outputs, m->n_outputs,
                               outputs, err, err_len);
}

