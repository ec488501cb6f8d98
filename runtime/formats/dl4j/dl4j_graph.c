/* dl4j_graph.c: a DL4J ComputationGraph configuration (vertices, vertexInputs, networkInputs,
 * networkOutputs) as surgery layers and vertices in DL4J's topological order, the order in
 * which the vertices' parameters follow one another in coefficients.bin. */
#include "runtime/formats/dl4j/dl4j_impl.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/base/limits.h"
#include "runtime/base/util.h"
#include "runtime/nn/layer.h"

/* The most inputs of one vertex, and inputs and outputs of the network. */
#define MAX_VERTEX_INPUTS 1024

typedef struct gnode {
    const char *name;
    json_t *v;            /* the vertex (NULL for a network input) */
    int n_in;
    int *in;              /* node indices */
} gnode;

typedef struct gctx {
    dl4j_map *mp;
    gnode *nodes;
    int n_inputs, n;      /* network inputs first, then the vertices in stored order */
    json_t *index;        /* name -> node index */
} gctx;

static int node_of(const gctx *g, const char *name)
{
    json_t *v = json_object_get(g->index, name);
    return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

/* DL4J's order: topologicalOrderStr when stored (1.0), else Kahn's algorithm as
 * ComputationGraph.topologicalSortOrder runs it (a FIFO queue started with the nodes without
 * inputs in index order, each node's consumers visited in index order, an input named twice
 * counted once). Fills order with node indices; returns its length (< g->n on a cycle), or -1
 * when memory runs out. */
static int topo_order(gctx *g, json_t *root, int *order)
{
    json_t *stored = json_object_get(root, "topologicalOrderStr");
    if (json_is_array(stored) && (int)json_array_size(stored) == g->n) {
        int k = 0;
        size_t i;
        json_t *s;
        json_array_foreach(stored, i, s) {
            int j = json_is_string(s) ? node_of(g, json_string_value(s)) : -1;
            if (j < 0)
                return 0;
            order[k++] = j;
        }
        return k;
    }
    /* The edges (producer from[e], consumer to[e]) in consumer order, an input named twice
     * once; then the consumers of node v: cons[start[v] .. start[v + 1]), ascending. */
    size_t total = 0;
    for (int i = 0; i < g->n; i++)
        total += (size_t)g->nodes[i].n_in;
    const size_t nn = g->n > 0 ? (size_t)g->n : 1, ne = total ? total : 1;
    int *deg = calloc(nn, sizeof *deg), *start = calloc(nn + 1, sizeof *start);
    int *seen = calloc(nn, sizeof *seen), *next = malloc(nn * sizeof *next);
    int *from = malloc(ne * sizeof *from), *to = malloc(ne * sizeof *to);
    int *cons = malloc(ne * sizeof *cons);
    int n_edges = 0, tail = -1;
    if (!deg || !start || !seen || !next || !from || !to || !cons)
        goto out;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            const int v = g->nodes[i].in[k];
            if (seen[v] == i + 1)   /* node i has counted input v */
                continue;
            seen[v] = i + 1;
            from[n_edges] = v;
            to[n_edges++] = i;
            start[v + 1]++;
            deg[i]++;
        }
    for (int v = 0; v < g->n; v++)
        start[v + 1] += start[v];
    memcpy(next, start, nn * sizeof *next);
    for (int e = 0; e < n_edges; e++)
        cons[next[from[e]]++] = to[e];
    int head = 0;
    tail = 0;
    for (int i = 0; i < g->n; i++)
        if (!deg[i])
            order[tail++] = i;
    while (head < tail) {
        int v = order[head++];
        for (int e = start[v]; e < start[v + 1]; e++)
            if (--deg[cons[e]] == 0)
                order[tail++] = cons[e];
    }
out:
    free(deg);
    free(start);
    free(seen);
    free(next);
    free(from);
    free(to);
    free(cons);
    return tail;
}

/* A LayerVertex's preprocessor: none, or one that is an identity for surgery's layers. */
static void check_preprocessor(dl4j_map *mp, const char *name, json_t *pre)
{
    if (!pre || json_is_null(pre))
        return;
    char cls[128];
    json_t *f;
    if (dl4j_poly(pre, NULL, cls, sizeof cls, &f) &&
        (!strcmp(cls, "RnnToFeedForwardPreProcessor") || !strcmp(cls, "rnnToFeedForward") ||
         !strcmp(cls, "FeedForwardToRnnPreProcessor") || !strcmp(cls, "feedForwardToRnn") ||
         !strcmp(cls, "CnnToFeedForwardPreProcessor") || !strcmp(cls, "cnnToFeedForward")))
        return;
    dl4j_problem(mp, -1, name, "preProcessor", "%s not supported",
                 json_is_object(pre) ? cls : "a preprocessor of an unknown shape");
}

/* One vertex as surgery layer `index`. */
static int map_vertex(gctx *g, const gnode *nd, int index)
{
    dl4j_map *mp = g->mp;
    const char *ins[MAX_VERTEX_INPUTS];
    int n_in = nd->n_in < MAX_VERTEX_INPUTS ? nd->n_in : MAX_VERTEX_INPUTS;
    for (int k = 0; k < n_in; k++)
        ins[k] = g->nodes[nd->in[k]].name;
    char cls[128];
    json_t *f;
    if (!dl4j_poly(nd->v, NULL, cls, sizeof cls, &f) || !f) {
        dl4j_problem(mp, index, nd->name, "?", "a vertex of an unknown shape");
        return 0;
    }
    const layer_type *type = NULL;
    if (!strcmp(cls, "LayerVertex")) {
        check_preprocessor(mp, nd->name, json_object_get(f, "preProcessor"));
        return dl4j_map_layer(mp, json_object_get(f, "layerConf"), index, nd->name, ins, n_in);
    } else if (!strcmp(cls, "MergeVertex")) {
        type = &layer_type_merge;
    } else if (!strcmp(cls, "ElementWiseVertex")) {
        json_t *op = json_object_get(f, "op");
        const char *o = json_is_string(op) ? json_string_value(op) : "?";
        if (!strcmp(o, "Add"))
            type = &layer_type_add;
        else if (!strcmp(o, "Average"))
            type = &layer_type_average;
        else
            dl4j_problem(mp, index, nd->name, cls, "op %s (surgery's element-wise vertices are "
                         "add and average)", o);
    } else {
        dl4j_problem(mp, index, nd->name, cls, "vertex type not supported");
    }
    if (!type)
        return 0;
    layer *L = layer_new(type, nd->name);
    if (!L)
        return -1;
    layer_set_inputs(L, ins, n_in);
    model_builder_add_layer(mp->b, L);
    return 0;
}

static void free_nodes(gctx *g)
{
    for (int i = 0; g->nodes && i < g->n; i++)
        free(g->nodes[i].in);
    free(g->nodes);
}

int dl4j_map_graph(dl4j_map *mp, json_t *root)
{
    json_t *vertices = json_object_get(root, "vertices"), *vin = json_object_get(root, "vertexInputs");
    json_t *nin = json_object_get(root, "networkInputs");
    mp->graph = true;
    if (!json_is_array(nin) || !json_array_size(nin) || !json_is_object(vin)) {
        dl4j_problem(mp, -1, "?", "ComputationGraph", "no networkInputs or vertexInputs");
        return 0;
    }
    if (json_array_size(nin) > MAX_VERTEX_INPUTS) {
        dl4j_problem(mp, -1, "?", "ComputationGraph", "%zu networkInputs (at most %d)",
                     json_array_size(nin), MAX_VERTEX_INPUTS);
        return 0;
    }
    gctx g = {.mp = mp, .n_inputs = (int)json_array_size(nin), .index = json_object()};
    g.n = g.n_inputs + (int)json_object_size(vertices);
    g.nodes = calloc((size_t)g.n, sizeof *g.nodes);
    int *order = calloc((size_t)g.n, sizeof *order);
    int rc = 0;
    if (!g.nodes || !order || !g.index) {
        rc = -1;
        goto out;
    }
    size_t i;
    json_t *s;
    json_array_foreach(nin, i, s)
        g.nodes[i].name = json_is_string(s) ? json_string_value(s) : "?";
    const char *key;
    int k = g.n_inputs;
    json_object_foreach(vertices, key, s) {
        g.nodes[k].name = key;
        g.nodes[k++].v = s;
    }
    for (k = 0; k < g.n; k++) {
        if (json_object_get(g.index, g.nodes[k].name)) {
            dl4j_problem(mp, -1, g.nodes[k].name, "network input", "also the name of a vertex "
                         "or of another network input");
            continue;
        }
        if (json_object_set_new(g.index, g.nodes[k].name, json_integer(k))) {
            rc = -1;
            goto out;
        }
    }
    for (k = g.n_inputs; k < g.n; k++) {
        gnode *nd = &g.nodes[k];
        json_t *list = json_object_get(vin, nd->name);
        int n = json_is_array(list) ? (int)json_array_size(list) : 0;
        if (n < 1 || n > MAX_VERTEX_INPUTS) {
            dl4j_problem(mp, -1, nd->name, "vertex", "%d inputs in vertexInputs (1 to %d)", n,
                         MAX_VERTEX_INPUTS);
            continue;
        }
        if (!(nd->in = calloc((size_t)n, sizeof *nd->in))) {
            rc = -1;
            goto out;
        }
        for (int j = 0; j < n; j++) {
            json_t *x = json_array_get(list, (size_t)j);
            int at = json_is_string(x) ? node_of(&g, json_string_value(x)) : -1;
            if (at < 0)
                dl4j_problem(mp, -1, nd->name, "vertex", "input '%s' is neither a vertex nor a "
                             "network input", json_is_string(x) ? json_string_value(x) : "?");
            else
                nd->in[nd->n_in++] = at;
        }
    }
    if (mp->n_problems)
        goto out;
    int n_order = topo_order(&g, root, order);
    if (n_order < 0) {
        rc = -1;
        goto out;
    }
    if (n_order != g.n) {
        dl4j_problem(mp, -1, "?", "ComputationGraph", "the vertices form a cycle, or "
                     "topologicalOrderStr does not list them");
        goto out;
    }
    int index = 0;
    for (k = 0; k < g.n && rc == 0; k++)
        if (order[k] >= g.n_inputs)
            rc = map_vertex(&g, &g.nodes[order[k]], index++);
out:
    free(order);
    free_nodes(&g);
    json_decref(g.index);
    return rc;
}

/* The first layer (in order) that reads input `name` directly. */
static const layer *first_reader(const model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_inputs; k++)
            if (!strcmp(m->layers[i]->inputs[k], name) && m->layers[i]->n_in_given)
                return m->layers[i];
    return NULL;
}

int dl4j_graph_finish(dl4j_map *mp, json_t *root, src_loc at)
{
    model *m = model_builder_model(mp->b);
    json_t *nin = json_object_get(root, "networkInputs"), *nout = json_object_get(root, "networkOutputs");
    size_t i;
    json_t *s;
    int problems = 0;
    json_array_foreach(nin, i, s) {
        const char *name = json_string_value(s);
        const layer *L = first_reader(m, name);
        if (!L || L->type->flags & LT_CHANNELS_IN) {
            dl4j_problem(mp, -1, name, "network input", L ? "convolutional graph inputs are not "
                         "read yet" : "its size is not known (it feeds no layer with nin)");
            problems++;
            continue;
        }
        bool rnn = L->type->flags & LT_RECURRENT || L->type == &layer_type_rnn_output;
        if (model_builder_add_input(mp->b, name, rnn ? INPUT_RECURRENT : INPUT_FEED_FORWARD,
                                    L->type->flags & LT_INDEX_INPUT ? 1 : L->n_in, NULL, at))
            return -1;
    }
    int n = json_is_array(nout) && json_array_size(nout) <= MAX_VERTEX_INPUTS
                ? (int)json_array_size(nout) : -1;
    const char *outs[MAX_VERTEX_INPUTS];
    int k = 0;
    json_array_foreach(nout, i, s)
        if (json_is_string(s) && k < MAX_VERTEX_INPUTS)
            outs[k++] = json_string_value(s);
    if (k != n || !k) {
        dl4j_problem(mp, -1, "?", "ComputationGraph", "networkOutputs is not a list of 1 to %d "
                     "names", MAX_VERTEX_INPUTS);
        problems++;
    }
    model_builder_set_outputs(mp->b, outs, k);
    return problems ? 1 : 0;
}
