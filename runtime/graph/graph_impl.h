/* graph_impl.h: what the files of runtime/graph share: name lookups through the model's index,
 * the index's upkeep by the layer list, and the resolved edges of the graph. */
#ifndef SURGERY_GRAPH_IMPL_H
#define SURGERY_GRAPH_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/graph/model.h"

/* Ownership: a graph owns its two arrays (graph_free releases them); the model it was built
 * from is not referenced after graph_build returns. */

struct diag_ctx;
typedef struct graph_blame graph_blame;       /* runtime/graph/validate.h */
typedef struct graph_problem graph_problem;

/* name_index.c */
/* The first layer and input named `name` (-1: none). */
void index_find(const model *m, const char *name, int *layer_i, int *input_i);
/* (the index upkeep of the layer list is declared in model.h) */

/* validate.c */
/* Hands p to b's hook, or reports it the default way through d (when given); returns 1 when it
 * is an error, 0 when the hook says it is not a problem. */
int graph_report(const graph_blame *b, struct diag_ctx *d, const model *m, const graph_problem *p);

/* topology.c */
/* Where each layer input comes from: a layer index >= 0, a model input -(k + 1), or
 * NODE_UNDEFINED. */
#define NODE_UNDEFINED INT32_MIN

typedef struct graph {
    int n;
    int *src_start;     /* n + 1 offsets into src */
    int *src;           /* per layer input, in order */
} graph;

int graph_build(const model *m, graph *g);
void graph_free(graph *g);
/* graph_check_inputs and graph_order over a built graph. */
int graph_check_inputs_on(const model *m, const graph *g, const graph_blame *b,
                          struct diag_ctx *d);
int graph_order_on(const model *m, const graph *g, int *order, const graph_blame *b,
                   struct diag_ctx *d);

/* shapes.c */
/* graph_infer_shapes over a built graph. */
int graph_infer_on(model *m, const graph *g, const int *order, const graph_blame *b,
                   struct diag_ctx *d);
/* Checks the edges, orders the layers (order has n_layers) and infers shapes; returns the
 * error count, reported through d when given. */
int infer_all(model *m, const graph *g, int *order, struct diag_ctx *d);

#endif
