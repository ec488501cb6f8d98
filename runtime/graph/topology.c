/* topology.c: the resolved edges of the model graph, its dangling inputs, topological order
 * and cycles. */
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/graph/graph_impl.h"
#include "runtime/graph/model.h"
#include "runtime/graph/validate.h"

void graph_free(graph *g)
{
    free(g->src_start);
    free(g->src);
}

/* Every edge resolved through the model's name index, so that building the graph is linear in
 * its size; a layer wins over an input of the same name, as in model_layer_index. */
int graph_build(const model *m, graph *g)
{
    memset(g, 0, sizeof *g);
    g->n = m->n_layers;
    int total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += m->layers[i]->n_inputs;
    g->src_start = malloc((size_t)(m->n_layers + 1) * sizeof(int));
    g->src = malloc((size_t)(total > 0 ? total : 1) * sizeof(int));
    if (!g->src_start || !g->src) {
        graph_free(g);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        g->src_start[i] = k;
        for (int j = 0; j < L->n_inputs; j++) {
            int li, ii;
            index_find(m, L->inputs[j], &li, &ii);
            g->src[k++] = li >= 0 ? li : ii >= 0 ? -(ii + 1) : NODE_UNDEFINED;
        }
    }
    g->src_start[m->n_layers] = k;
    return 0;
}

int graph_check_inputs_on(const model *m, const graph *g, const graph_blame *b,
                         struct diag_ctx *d)
{
    bool early = b && b->arity_early;
    int errors = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        graph_problem p = {.layer = i};
        if (early && L->n_inputs == 0) {
            p.kind = GRAPH_NO_INPUTS;
            errors += graph_report(b, d, m, &p);
            continue;
        }
        for (int j = 0; j < L->n_inputs; j++) {
            if (g->src[g->src_start[i] + j] != NODE_UNDEFINED)
                continue;
            p.kind = GRAPH_DANGLING_INPUT;
            p.input = j;
            errors += graph_report(b, d, m, &p);
        }
        if (early && L->n_inputs > 1 && !(L->type->flags & LT_MULTI_INPUT)) {
            p.kind = GRAPH_ONE_INPUT_ONLY;
            errors += graph_report(b, d, m, &p);
        }
    }
    return errors;
}

/* Reports every cycle among the layers Kahn's algorithm could not order (done[i] false): a
 * depth-first walk against the data flow over them, in definition order, reports each edge
 * that closes a cycle with the path it closes. */
static void report_cycles(const model *m, const graph *g, const bool *done, const graph_blame *b,
                          struct diag_ctx *d, int *errors)
{
    int n = m->n_layers;
    unsigned char *color = calloc((size_t)n, 1);   /* 0 new, 1 on the path, 2 finished */
    int *stack = malloc((size_t)n * sizeof *stack);
    int *next = malloc((size_t)n * sizeof *next);   /* per path entry: its next edge */
    int *cycle = malloc((size_t)n * sizeof *cycle);
    if (!color || !stack || !next || !cycle) {
        (*errors)++;
        if (d)
            diag_error(d, loc_none(), "out of memory while checking the model graph for cycles");
        goto out;
    }
    for (int root = 0; root < n; root++) {
        if (done[root] || color[root])
            continue;
        int sp = 0;
        stack[0] = root;
        next[0] = g->src_start[root];
        color[root] = 1;
        while (sp >= 0) {
            int v = stack[sp];
            if (next[sp] == g->src_start[v + 1]) {
                color[v] = 2;
                sp--;
                continue;
            }
            int u = g->src[next[sp]++];
            if (u < 0 || done[u] || color[u] == 2)
                continue;
            if (color[u] == 0) {
                color[u] = 1;
                stack[++sp] = u;
                next[sp] = g->src_start[u];
                continue;
            }
            /* u is on the path: u feeds stack[sp], which feeds stack[sp - 1] ... down to u */
            int from = sp, len = 0;
            while (from > 0 && stack[from] != u)
                from--;
            cycle[len++] = u;
            for (int k = sp; k > from; k--)
                cycle[len++] = stack[k];
            graph_problem p = {.kind = GRAPH_CYCLE, .layer = u, .cycle = cycle, .cycle_len = len};
            *errors += graph_report(b, d, m, &p);
        }
    }
out:
    free(color);
    free(stack);
    free(next);
    free(cycle);
}

/* Kahn's algorithm over a built graph; ties go to definition order. Returns the number of
 * errors (reported through d when given). */
int graph_order_on(const model *m, const graph *g, int *order, const graph_blame *b,
                   struct diag_ctx *d)
{
    int errors = 0;
    int n = m->n_layers;
    if (n == 0)
        return 0;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *cons_start = calloc((size_t)n + 1, sizeof *cons_start);
    int *cons = malloc((size_t)(g->src_start[n] > 0 ? g->src_start[n] : 1) * sizeof *cons);
    bool *done = calloc((size_t)n, sizeof *done);
    /* ready layers as a min-heap of indices */
    int *heap = malloc((size_t)n * sizeof *heap);
    int *fill = calloc((size_t)n, sizeof *fill);
    if (!indeg || !cons_start || !cons || !done || !heap || !fill) {
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
    for (int i = 0; i < n; i++)
        for (int k = g->src_start[i]; k < g->src_start[i + 1]; k++)
            if (g->src[k] >= 0) {
                int s = g->src[k];
                cons[cons_start[s] + fill[s]++] = i;
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
        report_cycles(m, g, done, b, d, &errors);
out:
    free(indeg);
    free(cons_start);
    free(cons);
    free(done);
    free(heap);
    free(fill);
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
    int errors = graph_check_inputs_on(m, &g, NULL, d);
    if (!errors)
        errors = graph_order_on(m, &g, order, NULL, d);
    graph_free(&g);
    return errors ? -1 : 0;
}
