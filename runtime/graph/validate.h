/* validate.h: the checks of a model graph (dangling inputs, arity, cycles, shapes) with a blame
 * hook through which a caller words each problem and places it on the source that caused it. */
#ifndef SURGERY_GRAPH_VALIDATE_H
#define SURGERY_GRAPH_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/graph/model.h"

/* Ownership: everything here is borrowed for the duration of a call; a graph_problem and the
 * arrays it points at live only while the hook that receives it runs. */

struct diag_ctx;

typedef enum {
    GRAPH_NO_INPUTS,       /* layer has no inputs */
    GRAPH_DANGLING_INPUT,  /* layer's input `input` names no node */
    GRAPH_ONE_INPUT_ONLY,  /* layer takes one input but has several */
    GRAPH_CYCLE,           /* cycle[0] feeds cycle[1] ... feeds cycle[cycle_len - 1] feeds cycle[0] */
    GRAPH_SHAPE,           /* layer's type rejects the shapes in[0 .. n_in) with `msg` */
    GRAPH_N_IN             /* layer's explicit n_in `given` differs from the `inferred` one */
} graph_problem_kind;

typedef struct graph_problem {
    graph_problem_kind kind;
    int layer;             /* index into m->layers (GRAPH_CYCLE: cycle[0]) */
    int input;             /* GRAPH_DANGLING_INPUT: the position in the layer's inputs */
    const int *cycle;      /* GRAPH_CYCLE: layer indices in data-flow order */
    int cycle_len;
    const char *msg;       /* GRAPH_SHAPE: the layer type's explanation */
    const act_shape *in;   /* GRAPH_SHAPE, GRAPH_N_IN: the input shapes, one per input */
    int n_in;
    int64_t given, inferred; /* GRAPH_N_IN */
} graph_problem;

typedef enum {
    GRAPH_SAY_DEFAULT,     /* the graph reports it, at the layer's location */
    GRAPH_SAID,            /* the hook reported it (or it was reported elsewhere): an error */
    GRAPH_NOT_A_PROBLEM    /* not an error here: the checks go on as if it were fine (an
                            * input ignored this way is treated as an absent edge) */
} graph_verdict;

/* The blame hook. report (may be NULL: every problem gets the default report) receives each
 * problem as it is found, with the diagnostics context of the check (which may be NULL). With
 * arity_early, graph_check_inputs also checks that every layer has inputs and that single-input
 * layers have one, in definition order; otherwise graph_infer_shapes checks that, in
 * topological order among the shape errors. */
typedef struct graph_blame {
    graph_verdict (*report)(void *ctx, struct diag_ctx *d, const model *m, const graph_problem *p);
    void *ctx;
    bool arity_early;
} graph_blame;

/* Each returns the number of errors, reported through d (when given) and b (may be NULL).
 * Problems are reported in definition order, cycles as they are found, shapes in `order`. */
/* Every layer input names a node (and, with b->arity_early, arity). */
int graph_check_inputs(const model *m, const graph_blame *b, struct diag_ctx *d);
/* Topological order of the layers (Kahn's algorithm, ties in definition order) into order
 * (n_layers entries), with inputs that name no node left out; every cycle is reported. */
int graph_order(const model *m, int *order, const graph_blame *b, struct diag_ctx *d);
/* Infers every layer's n_in and shapes in `order` (a topological order, as graph_order gives),
 * skipping layers downstream of a failure or of an input that names no node. */
int graph_infer_shapes(model *m, const int *order, const graph_blame *b, struct diag_ctx *d);

#endif
