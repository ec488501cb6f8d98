/* validate.c: the blame hook's dispatch, the default wording of graph problems (as model loading
 * reports them), and the graph checks on a model. */
#include "runtime/graph/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/graph/graph_impl.h"

static void report_dangling(struct diag_ctx *d, const model *m, const graph_problem *p)
{
    const layer *L = m->layers[p->layer];
    const char *in = L->inputs[p->input];
    int cap = m->n_inputs + m->n_layers;
    const char **names = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *names);
    const char *sugg = NULL;
    if (names) {
        int n = model_node_names(m, names, cap);
        sugg = diag_suggest(in, names, n);
    }
    if (sugg)
        diag_error(d, L->loc, "layer '%s' takes input '%s', which is not defined; did you mean '%s'?",
                   L->name, in, sugg);
    else
        diag_error(d, L->loc, "layer '%s' takes input '%s', which is not defined", L->name, in);
    free(names);
}

/* The chain in flow order from its member defined first, at that member, with a note at every
 * other member. */
static void report_cycle(struct diag_ctx *d, const model *m, const graph_problem *p)
{
    int cyc = p->cycle_len, lo = 0;
    for (int k = 1; k < cyc; k++)
        if (p->cycle[k] < p->cycle[lo])
            lo = k;
    size_t cap = 64;
    for (int k = 0; k < cyc; k++)
        cap += strlen(m->layers[p->cycle[k]]->name) + 8;
    cap += strlen(m->layers[p->cycle[lo]]->name) + 8;
    char *chain = malloc(cap);
    const layer *head = m->layers[p->cycle[lo]];
    if (!chain) {
        diag_error(d, head->loc, "layer '%s' is part of a cycle", head->name);
        return;
    }
    size_t used = 0;
    chain[0] = '\0';
    for (int s = 0; s <= cyc && used < cap; s++) {
        int w = snprintf(chain + used, cap - used, "%s'%s'", s ? " -> " : "",
                         m->layers[p->cycle[(lo + s) % cyc]]->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    diag_error(d, head->loc, "the layers form a cycle: %s", chain);
    for (int s = 1; s < cyc; s++) {
        const layer *L = m->layers[p->cycle[(lo + s) % cyc]];
        if (L->loc.line > 0)
            diag_note(d, L->loc, "'%s' is defined here", L->name);
    }
    free(chain);
}

static void report_shape(struct diag_ctx *d, const model *m, const graph_problem *p)
{
    const layer *L = m->layers[p->layer];
    if (p->n_in <= 1) {
        diag_error(d, L->loc, "layer '%s': %s", L->name, p->msg);
        return;
    }
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (int k = 0; k < p->n_in && used < sizeof list; k++) {
        int w = snprintf(list + used, sizeof list - used, "%s'%s' (size %lld)", k ? ", " : "",
                         L->inputs[k], (long long)p->in[k].size);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    diag_error(d, L->loc, "layer '%s': %s; inputs: %s", L->name, p->msg, list);
}

static void report_default(struct diag_ctx *d, const model *m, const graph_problem *p)
{
    const layer *L = m->layers[p->layer];
    switch (p->kind) {
    case GRAPH_NO_INPUTS:
        diag_error(d, L->loc, "layer '%s' has no inputs", L->name);
        break;
    case GRAPH_DANGLING_INPUT:
        report_dangling(d, m, p);
        break;
    case GRAPH_ONE_INPUT_ONLY:
        diag_error(d, L->loc, "layer '%s' (%s) takes one input, got %d", L->name, L->type->name,
                   L->n_inputs);
        break;
    case GRAPH_CYCLE:
        report_cycle(d, m, p);
        break;
    case GRAPH_SHAPE:
        report_shape(d, m, p);
        break;
    case GRAPH_N_IN:
    {
        char shape[80] = "";
        if (p->in && p->n_in > 0 && p->in[0].kind == SHAPE_CNN) {
            char t[64];
            snprintf(shape, sizeof shape, " (%s, C x H x W)", act_shape_text(&p->in[0], t, sizeof t));
        }
        diag_error(d, L->loc, "layer '%s' has n_in = %lld, but its input '%s' gives %lld features%s",
                   L->name, (long long)p->given, L->inputs[0], (long long)p->inferred, shape);
    }
        break;
    }
}

int graph_report(const graph_blame *b, struct diag_ctx *d, const model *m, const graph_problem *p)
{
    graph_verdict v = b && b->report ? b->report(b->ctx, d, m, p) : GRAPH_SAY_DEFAULT;
    if (v == GRAPH_NOT_A_PROBLEM)
        return 0;
    if (v == GRAPH_SAY_DEFAULT && d)
        report_default(d, m, p);
    return 1;
}

/* Builds the graph for one check; 0, or -1 with an error reported (`what` failed). */
static int build_for(const model *m, graph *g, struct diag_ctx *d, const char *what)
{
    if (graph_build(m, g) == 0)
        return 0;
    if (d)
        diag_error(d, loc_none(), "out of memory while %s", what);
    return -1;
}

int graph_check_inputs(const model *m, const graph_blame *b, struct diag_ctx *d)
{
    graph g;
    if (build_for(m, &g, d, "checking the model graph"))
        return 1;
    int errors = graph_check_inputs_on(m, &g, b, d);
    graph_free(&g);
    return errors;
}

int graph_order(const model *m, int *order, const graph_blame *b, struct diag_ctx *d)
{
    graph g;
    if (build_for(m, &g, d, "ordering the model graph"))
        return 1;
    int errors = graph_order_on(m, &g, order, b, d);
    graph_free(&g);
    return errors;
}

int graph_infer_shapes(model *m, const int *order, const graph_blame *b, struct diag_ctx *d)
{
    graph g;
    if (build_for(m, &g, d, "inferring shapes"))
        return 1;
    int errors = graph_infer_on(m, &g, order, b, d);
    graph_free(&g);
    return errors;
}
