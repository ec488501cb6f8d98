/* executor.h: one execution plan over a model graph, built once from a model with its shapes
 * inferred (topological order, each layer's input sources, activation buffers sized for the
 * batch and time steps, step masks) and run forward in inference or training mode. Predict,
 * evaluate and featurize run it in inference mode; training (runtime/train) runs it in training
 * mode and adds backward and the updaters on the same plan. */
#ifndef SURGERY_EXECUTOR_H
#define SURGERY_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/base/rng.h"
#include "runtime/graph/model.h"
#include "runtime/tensor/tensor.h"

/* Ownership: a plan owns its arrays, the activation tensors and the dropped copies of inputs;
 * the model is borrowed and must outlive the plan, and its layers, edges and shapes must not
 * change while the plan is in use (build a new plan then). Tensors and masks given to
 * exec_forward are borrowed for the call; activations stay in the plan (buffers are reused by
 * the next pass when their size matches) until exec_plan_free, unless the plan releases them
 * early (see exec_plan_select). exec_plan_free(NULL) is a no-op. */

struct diag_ctx;

/* How one layer runs in the next forward pass. */
typedef struct exec_layer_run {
    bool active;             /* computed (an ancestor of, or, a selected node) */
    bool training;           /* fwd_ctx.training */
    bool identity;           /* copies its first input instead of running its forward */
    double input_dropout;    /* > 0: inverted dropout of every input, drawn from the feed's rng */
} exec_layer_run;

/* A source (the node feeding a layer's input slot) is a layer index (>= 0) or a model input
 * (-1 - index). */
typedef struct exec_plan {
    model *m;
    int n;                   /* layers when built */
    int *order;              /* topological order */
    int *in_off;             /* layer i's sources are src[in_off[i] .. in_off[i + 1]) */
    int *src;
    int max_in;              /* most inputs of one layer */
    exec_layer_run *run;     /* per layer */
    tensor *act;             /* per layer: output activations */
    int64_t *times;          /* per layer: time steps of a recurrent output */
    const float **in_mask;   /* per layer: the step mask reaching it */
    const float **out_mask;  /* per layer: the step mask of its output (recurrent outputs) */
    bool release_early;      /* release an activation once its last consumer has run */
    bool *keep;              /* per layer: a selected node (never released early) */
    int *last_use;           /* per layer: position in order of its last active consumer, or -1 */
    tensor *drop_in;         /* per source slot: the dropped copy of the input */
    tensor *drop_mask;       /* per source slot: 0 or 1/(1-p) */
    bool *dropped;           /* per source slot: dropout applied in the last pass */
    const tensor **ins;      /* scratch for forward and backward contexts (max_in) */
    int failed_layer;        /* the layer at fault after a failed exec_forward, or -1 */
} exec_plan;

typedef enum { EXEC_OK = 0, EXEC_NO_MEMORY = -1, EXEC_GRAPH_ERRORS = -2 } exec_status;

/* Infers m's shapes and topological order (errors reported through d, which may be NULL) and
 * builds a plan with no layer active. Returns EXEC_OK with *out set, EXEC_GRAPH_ERRORS after
 * graph or shape errors, or EXEC_NO_MEMORY. */
exec_status exec_plan_build(exec_plan **out, model *m, struct diag_ctx *d);
void exec_plan_free(exec_plan *p);

/* Makes the named nodes (layers or inputs) and the layers they need active, in inference mode,
 * and clears every other layer. With release_early, activations of layers that are not named
 * are released once their last consumer has run (bounded memory for inference). Returns 0, or
 * the index + 1 of the first name that is not a node. */
int exec_plan_select(exec_plan *p, const char *const *names, int n_names, bool release_early);

/* One forward pass. */
typedef struct exec_feed {
    const tensor *const *inputs;   /* per model input: FF [B, size], recurrent [T, B, size] */
    const float *const *masks;     /* per model input, a [T, B] step mask (array or entries NULL) */
    bool first_input_mask;         /* every layer gets the first input's mask, instead of the mask
                                    * reaching it through its first masked input */
    int64_t batch;
    int64_t time;                  /* time steps of a recurrent output without a recurrent input;
                                    * < 0: that is an error */
    bool check_weights;            /* fail on an active layer whose parameters hold no data */
    rng *rng;                      /* training mode and input dropout draw from it */
    bool carry_state;              /* recurrent layers continue from their previous call */
    char *err;                     /* on failure a message, or "" when memory ran out */
    size_t err_len;
} exec_feed;

/* Runs every active layer in topological order into p->act. Returns 0, or -1 with
 * p->failed_layer and the feed's err set. */
int exec_forward(exec_plan *p, const exec_feed *f);

/* The activation shape of s for batch B and T steps; returns the number of dimensions. */
int exec_act_shape(const act_shape *s, int64_t B, int64_t T, int64_t *shape);
/* Makes t hold the given shape, reusing its buffer when the element count matches (the contents
 * are then stale; a new buffer is zeroed). Returns 0, or -1 when memory runs out. */
int exec_ensure(tensor *t, int ndim, const int64_t *shape);
/* calloc that never asks for zero elements (n == 0 gives one): NULL only when memory runs out
 * (the per-layer and per-slot arrays of a plan and of its users). */
void *exec_calloc(size_t n, size_t size);

#endif
