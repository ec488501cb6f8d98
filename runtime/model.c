/* model.c: the model graph: construction, queries, topological order, shape inference,
 * freezing and inference over the DAG. */
#include "model.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../compiler/diag.h"

static char *dupstr(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

model *model_new(const char *name)
{
    model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (name && !(m->name = dupstr(name))) {
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
    if (m->mapping)
        munmap(m->mapping, m->mapping_len);
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

    bool ok = (!m->name || (c->name = dupstr(m->name))) && (!m->path || (c->path = dupstr(m->path)));
    if (ok && m->n_inputs > 0) {
        ok = (c->inputs = calloc((size_t)m->n_inputs, sizeof *c->inputs)) != NULL;
        for (int i = 0; ok && i < m->n_inputs; i++) {
            c->inputs[i] = m->inputs[i];
            c->inputs[i].name = dupstr(m->inputs[i].name);
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
            ok = (c->outputs[i] = dupstr(m->outputs[i])) != NULL;
        }
    }
    if (ok && m->norm.kind != NORM_NONE && m->norm.n > 0) {
        c->norm.shift = dup_floats(m->norm.shift, m->norm.n);
        c->norm.scale = dup_floats(m->norm.scale, m->norm.n);
        ok = (!m->norm.shift || c->norm.shift) && (!m->norm.scale || c->norm.scale);
    }
    if (ok && with_weights && m->weights_file)
        ok = (c->weights_file = dupstr(m->weights_file)) != NULL;
    if (!with_weights)
        c->weights_loaded = false;
    if (!ok) {
        model_free(c);
        return NULL;
    }
    return c;
}

int model_add_input(model *m, const char *name, input_kind kind, int64_t size, src_loc loc)
{
    if (!name || model_has_node(m, name))
        return -1;
    model_input *p = realloc(m->inputs, (size_t)(m->n_inputs + 1) * sizeof *p);
    if (!p)
        return -1;
    m->inputs = p;
    model_input *in = &m->inputs[m->n_inputs];
    memset(in, 0, sizeof *in);
    if (!(in->name = dupstr(name)))
        return -1;
    in->kind = kind;
    in->size = size;
    in->loc = loc;
    m->n_inputs++;
    return 0;
}

/* On allocation failure the layer is freed and the model is unchanged. */
void model_add_layer(model *m, layer *L)
{
    if (!L)
        return;
    layer **p = realloc(m->layers, (size_t)(m->n_layers + 1) * sizeof *p);
    if (!p) {
        layer_free(L);
        return;
    }
    m->layers = p;
    m->layers[m->n_layers++] = L;
}

void model_remove_layer(model *m, int i)
{
    assert(i >= 0 && i < m->n_layers);
    layer_free(m->layers[i]);
    memmove(&m->layers[i], &m->layers[i + 1], (size_t)(m->n_layers - i - 1) * sizeof *m->layers);
    m->n_layers--;
}

int model_layer_index(const model *m, const char *name)
{
    for (int i = 0; name && i < m->n_layers; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            return i;
    return -1;
}

layer *model_find_layer(const model *m, const char *name)
{
    int i = model_layer_index(m, name);
    return i < 0 ? NULL : m->layers[i];
}

int model_input_index(const model *m, const char *name)
{
    for (int i = 0; name && i < m->n_inputs; i++)
        if (strcmp(m->inputs[i].name, name) == 0)
            return i;
    return -1;
}

bool model_has_node(const model *m, const char *name)
{
    return model_input_index(m, name) >= 0 || model_layer_index(m, name) >= 0;
}

int model_consumers(const model *m, const char *name, int *idx, int max)
{
    int n = 0;
    for (int i = 0; i < m->n_layers && n < max; i++) {
        const layer *L = m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            if (strcmp(L->inputs[k], name) == 0) {
                idx[n++] = i;
                break;
            }
        }
    }
    return n;
}

void model_set_outputs(model *m, const char *const *names, int n)
{
    char **copy = n > 0 ? calloc((size_t)n, sizeof *copy) : NULL;
    int got = 0;
    if (copy)
        for (; got < n; got++)
            if (!(copy[got] = dupstr(names[got])))
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

/* ---- graph structure ---- */

/* Where each layer input comes from: a layer index >= 0, a model input -(k + 1), or
 * NODE_UNDEFINED. */
#define NODE_UNDEFINED INT32_MIN

typedef struct graph {
    int n;
    int *src_start;     /* n + 1 offsets into src */
    int *src;           /* per layer input, in order */
} graph;

static void graph_free(graph *g)
{
    free(g->src_start);
    free(g->src);
}

/* A name -> node table (open addressing, FNV-1a) so that resolving every edge is linear in
 * the graph size. Values: layer index >= 0 or model input -(k + 1); layers win over inputs and
 * the first of equal names wins, as in model_layer_index / model_input_index. */
typedef struct name_table {
    size_t mask;
    const char **keys;
    int *vals;
} name_table;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001B3ull;
    return h;
}

static void table_put(name_table *t, const char *key, int val)
{
    for (size_t i = name_hash(key) & t->mask;; i = (i + 1) & t->mask) {
        if (!t->keys[i]) {
            t->keys[i] = key;
            t->vals[i] = val;
            return;
        }
        if (strcmp(t->keys[i], key) == 0)
            return;
    }
}

static int table_get(const name_table *t, const char *key)
{
    for (size_t i = name_hash(key) & t->mask; t->keys[i]; i = (i + 1) & t->mask)
        if (strcmp(t->keys[i], key) == 0)
            return t->vals[i];
    return NODE_UNDEFINED;
}

static int graph_build(const model *m, graph *g)
{
    memset(g, 0, sizeof *g);
    g->n = m->n_layers;
    int total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += m->layers[i]->n_inputs;
    size_t cap = 16;
    while (cap < 2 * (size_t)(m->n_layers + m->n_inputs))
        cap *= 2;
    name_table t = {.mask = cap - 1, .keys = calloc(cap, sizeof(char *)),
                    .vals = malloc(cap * sizeof(int))};
    g->src_start = malloc((size_t)(m->n_layers + 1) * sizeof(int));
    g->src = malloc((size_t)(total > 0 ? total : 1) * sizeof(int));
    if (!g->src_start || !g->src || !t.keys || !t.vals) {
        free(t.keys);
        free(t.vals);
        graph_free(g);
        return -1;
    }
    for (int i = 0; i < m->n_layers; i++)
        table_put(&t, m->layers[i]->name, i);
    for (int k = 0; k < m->n_inputs; k++)
        table_put(&t, m->inputs[k].name, -(k + 1));
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        g->src_start[i] = k;
        for (int j = 0; j < L->n_inputs; j++)
            g->src[k++] = table_get(&t, L->inputs[j]);
    }
    g->src_start[m->n_layers] = k;
    free(t.keys);
    free(t.vals);
    return 0;
}

static void report_dangling(const model *m, const graph *g, struct diag_ctx *d, int *errors)
{
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        for (int j = 0; j < L->n_inputs; j++) {
            if (g->src[g->src_start[i] + j] != NODE_UNDEFINED)
                continue;
            (*errors)++;
            if (!d)
                continue;
            int cap = m->n_inputs + m->n_layers;
            const char **names = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *names);
            const char *sugg = NULL;
            if (names) {
                int n = model_node_names(m, names, cap);
                sugg = diag_suggest(L->inputs[j], names, n);
            }
            if (sugg)
                diag_error(d, L->loc, "layer '%s' takes input '%s', which is not defined; did you mean '%s'?",
                           L->name, L->inputs[j], sugg);
            else
                diag_error(d, L->loc, "layer '%s' takes input '%s', which is not defined", L->name,
                           L->inputs[j]);
            free(names);
        }
    }
}

/* Reports every cycle among the layers Kahn's algorithm could not order (done[i] false). */
static void report_cycles(const model *m, const graph *g, const bool *done, struct diag_ctx *d,
                          int *errors)
{
    int n = m->n_layers;
    int *state = calloc((size_t)n, sizeof *state);   /* 0 new, 1 on the walk, 2 finished */
    int *walk = malloc((size_t)n * sizeof *walk);
    if (!state || !walk) {
        (*errors)++;
        if (d)
            diag_error(d, loc_none(), "out of memory while checking the model graph for cycles");
        free(state);
        free(walk);
        return;
    }
    for (int start = 0; start < n; start++) {
        if (done[start] || state[start])
            continue;
        int len = 0, v = start;
        /* Walk backwards along inputs that are themselves unordered: every unordered layer has
         * one, so the walk ends on a layer already seen. */
        while (state[v] == 0) {
            state[v] = 1;
            walk[len++] = v;
            int next = -1;
            for (int k = g->src_start[v]; k < g->src_start[v + 1]; k++) {
                int s = g->src[k];
                if (s >= 0 && !done[s]) {
                    next = s;
                    break;
                }
            }
            assert(next >= 0);
            v = next;
        }
        if (state[v] == 1) {
            int first = 0;
            while (walk[first] != v)
                first++;
            /* walk[first..len) goes against the data flow; print it reversed, in flow order,
             * starting from the member defined first. */
            int cyc = len - first, lo = first;
            for (int k = first; k < len; k++)
                if (walk[k] < walk[lo])
                    lo = k;
            size_t cap = 64;
            for (int k = first; k < len; k++)
                cap += strlen(m->layers[walk[k]]->name) + 8;
            cap += strlen(m->layers[walk[lo]]->name) + 8;
            char *chain = malloc(cap);
            (*errors)++;
            if (chain && d) {
                size_t used = 0;
                chain[0] = '\0';
                for (int s = 0; s <= cyc && used < cap; s++) {
                    int k = first + ((lo - first) - s + cyc * 2) % cyc;
                    int w = snprintf(chain + used, cap - used, "%s'%s'", s ? " -> " : "",
                                     m->layers[walk[k]]->name);
                    if (w < 0)
                        break;
                    used += (size_t)w;
                }
                const layer *head = m->layers[walk[lo]];
                diag_error(d, head->loc, "the layers form a cycle: %s", chain);
                for (int s = 1; s < cyc; s++) {
                    int k = first + ((lo - first) - s + cyc * 2) % cyc;
                    const layer *L = m->layers[walk[k]];
                    if (L->loc.line > 0)
                        diag_note(d, L->loc, "'%s' is defined here", L->name);
                }
            } else if (d) {
                diag_error(d, m->layers[walk[lo]]->loc, "layer '%s' is part of a cycle",
                           m->layers[walk[lo]]->name);
            }
            free(chain);
        }
        for (int k = 0; k < len; k++)
            state[walk[k]] = 2;
    }
    free(state);
    free(walk);
}

/* Kahn's algorithm over a built graph; ties go to definition order. Returns the number of
 * errors (reported through d when given). */
static int topo_with_graph(const model *m, const graph *g, int *order, struct diag_ctx *d)
{
    int errors = 0;
    report_dangling(m, g, d, &errors);
    if (errors)
        return errors;
    int n = m->n_layers;
    if (n == 0)
        return 0;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *cons_start = calloc((size_t)n + 1, sizeof *cons_start);
    int *cons = malloc((size_t)(g->src_start[n] > 0 ? g->src_start[n] : 1) * sizeof *cons);
    bool *done = calloc((size_t)n, sizeof *done);
    /* ready layers as a min-heap of indices */
    int *heap = malloc((size_t)n * sizeof *heap);
    if (!indeg || !cons_start || !cons || !done || !heap) {
        if (d)
            diag_error(d, loc_none(), "out of memory while ordering the model graph");
        errors = 1;
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = g->src_start[i]; k < g->src_start[i + 1]; k++)
            if (g->src[k] >= 0) {
                indeg[i]++;
                cons_start[g->src[k] + 1]++;
            }
    for (int i = 0; i < n; i++)
        cons_start[i + 1] += cons_start[i];
    {
        int *fill = calloc((size_t)n, sizeof *fill);
        if (!fill) {
            if (d)
                diag_error(d, loc_none(), "out of memory while ordering the model graph");
            errors = 1;
            goto out;
        }
        for (int i = 0; i < n; i++)
            for (int k = g->src_start[i]; k < g->src_start[i + 1]; k++)
                if (g->src[k] >= 0) {
                    int s = g->src[k];
                    cons[cons_start[s] + fill[s]++] = i;
                }
        free(fill);
    }
    int hn = 0, emitted = 0;
    for (int i = 0; i < n; i++) {
        if (indeg[i] == 0)
            heap[hn++] = i;     /* ascending: already a valid min-heap */
    }
    while (hn > 0) {
        int u = heap[0];
        /* pop */
        heap[0] = heap[--hn];
        for (int p = 0;;) {
            int l = 2 * p + 1, r = l + 1, s = p;
            if (l < hn && heap[l] < heap[s])
                s = l;
            if (r < hn && heap[r] < heap[s])
                s = r;
            if (s == p)
                break;
            int t = heap[p];
            heap[p] = heap[s];
            heap[s] = t;
            p = s;
        }
        order[emitted++] = u;
        done[u] = true;
        for (int k = cons_start[u]; k < cons_start[u + 1]; k++) {
            int v = cons[k];
            if (--indeg[v] == 0) {
                /* push */
                int p = hn++;
                heap[p] = v;
                while (p > 0 && heap[(p - 1) / 2] > heap[p]) {
                    int t = heap[p];
                    heap[p] = heap[(p - 1) / 2];
                    heap[(p - 1) / 2] = t;
                    p = (p - 1) / 2;
                }
            }
        }
    }
    if (emitted < n)
        report_cycles(m, g, done, d, &errors);
out:
    free(indeg);
    free(cons_start);
    free(cons);
    free(done);
    free(heap);
    return errors;
}

int model_topo_order(const model *m, int *order, struct diag_ctx *d)
{
    graph g;
    if (graph_build(m, &g)) {
        if (d)
            diag_error(d, loc_none(), "out of memory while ordering the model graph");
        return -1;
    }
    int errors = topo_with_graph(m, &g, order, d);
    graph_free(&g);
    return errors ? -1 : 0;
}

/* ---- shape inference ---- */

static act_shape input_shape(const model_input *in)
{
    act_shape s = {0};
    switch (in->kind) {
    case INPUT_FEED_FORWARD:
        s.kind = SHAPE_FF;
        s.size = in->size;
        break;
    case INPUT_RECURRENT:
        s.kind = SHAPE_RNN;
        s.size = in->size;
        break;
    case INPUT_CONVOLUTIONAL:
        s.kind = SHAPE_CNN;
        s.h = in->h;
        s.w = in->w;
        s.c = in->c;
        s.size = in->h * in->w * in->c;
        break;
    }
    return s;
}

/* Infers shapes in the given order; ok[i] tells whether layer i's shape is known. */
static int infer_in_order(model *m, const graph *g, const int *order, bool *ok, struct diag_ctx *d)
{
    int errors = 0;
    act_shape *shapes = NULL;
    int cap = 0;
    for (int p = 0; p < m->n_layers; p++) {
        int i = order[p];
        layer *L = m->layers[i];
        ok[i] = false;
        int n = L->n_inputs;
        if (n > cap) {
            act_shape *s = realloc(shapes, (size_t)n * sizeof *s);
            if (!s) {
                errors++;
                if (d)
                    diag_error(d, L->loc, "out of memory while inferring shapes");
                break;
            }
            shapes = s;
            cap = n;
        }
        bool inputs_ok = true;
        for (int k = 0; k < n; k++) {
            int s = g->src[g->src_start[i] + k];
            if (s >= 0) {
                inputs_ok = inputs_ok && ok[s];
                shapes[k] = m->layers[s]->out_shape;
            } else {
                shapes[k] = input_shape(&m->inputs[-s - 1]);
            }
        }
        if (!inputs_ok)
            continue;   /* the error upstream was already reported */
        if (n == 0) {
            errors++;
            if (d)
                diag_error(d, L->loc, "layer '%s' has no inputs", L->name);
            continue;
        }
        if (n > 1 && !(L->type->flags & LT_MULTI_INPUT)) {
            errors++;
            if (d)
                diag_error(d, L->loc, "layer '%s' (%s) takes one input, got %d", L->name,
                           L->type->name, n);
            continue;
        }
        int64_t given = L->n_in;
        char msg[256] = "";
        act_shape out = {0};
        if (L->type->infer(L, shapes, n, &out, msg, sizeof msg) != 0) {
            errors++;
            if (d) {
                if (n > 1) {
                    char list[256];
                    size_t used = 0;
                    list[0] = '\0';
                    for (int k = 0; k < n && used < sizeof list; k++) {
                        int w = snprintf(list + used, sizeof list - used, "%s'%s' (size %lld)",
                                         k ? ", " : "", L->inputs[k], (long long)shapes[k].size);
                        if (w < 0)
                            break;
                        used += (size_t)w;
                    }
                    diag_error(d, L->loc, "layer '%s': %s; inputs: %s", L->name, msg, list);
                } else {
                    diag_error(d, L->loc, "layer '%s': %s", L->name, msg);
                }
            }
            continue;
        }
        if (L->n_in_given && given != L->n_in) {
            int64_t inferred = L->n_in;
            L->n_in = given;
            errors++;
            if (d)
                diag_error(d, L->loc,
                           "layer '%s' has n_in = %lld, but its input '%s' gives %lld features",
                           L->name, (long long)given, L->inputs[0], (long long)inferred);
            continue;
        }
        L->in_shape = shapes[0];
        L->out_shape = out;
        ok[i] = true;
    }
    free(shapes);
    return errors;
}

static int infer_all(model *m, const graph *g, int *order, struct diag_ctx *d)
{
    int errors = topo_with_graph(m, g, order, d);
    if (errors)
        return errors;
    bool *ok = calloc((size_t)(m->n_layers > 0 ? m->n_layers : 1), sizeof *ok);
    if (!ok) {
        if (d)
            diag_error(d, loc_none(), "out of memory while inferring shapes");
        return 1;
    }
    errors = infer_in_order(m, g, order, ok, d);
    free(ok);
    return errors;
}

int model_infer_shapes(model *m, struct diag_ctx *d)
{
    graph g;
    int *order = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *order);
    if (!order || graph_build(m, &g)) {
        free(order);
        if (d)
            diag_error(d, loc_none(), "out of memory while inferring shapes");
        return 1;
    }
    int errors = infer_all(m, &g, order, d);
    graph_free(&g);
    free(order);
    return errors;
}

/* ---- totals and freezing ---- */

int64_t model_param_count(const model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        n += layer_param_count(m->layers[i]);
    return n;
}

int64_t model_frozen_param_count(const model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->frozen)
            n += layer_param_count(m->layers[i]);
    return n;
}

int model_freeze_through(model *m, const char *name)
{
    int start = model_layer_index(m, name);
    if (start < 0)
        return model_input_index(m, name) >= 0 ? 0 : -1;   /* an input has nothing to freeze */
    int n = m->n_layers;
    graph g;
    if (graph_build(m, &g))
        return -1;
    int *stack = malloc((size_t)n * sizeof *stack);
    bool *seen = calloc((size_t)n, sizeof *seen);
    if (!stack || !seen) {
        free(stack);
        free(seen);
        graph_free(&g);
        return -1;
    }
    int sp = 0;
    stack[sp++] = start;
    seen[start] = true;
    while (sp > 0) {
        int i = stack[--sp];
        m->layers[i]->frozen = true;
        for (int k = g.src_start[i]; k < g.src_start[i + 1]; k++) {
            int j = g.src[k];
            if (j >= 0 && !seen[j]) {
                seen[j] = true;
                stack[sp++] = j;
            }
        }
    }
    free(stack);
    free(seen);
    graph_free(&g);
    return 0;
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
