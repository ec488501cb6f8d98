/* model.h: a model is a DAG of named inputs, layers and vertices with DL4J ComputationGraph
 * semantics (a chain is the special case); graph queries, shape inference and inference. */
#ifndef SURGERY_MODEL_H
#define SURGERY_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/nn/layer.h"
#include "runtime/base/loc.h"
#include "runtime/tensor/tensor.h"

/* Ownership: a model owns its strings, inputs, layers (and their tensors), outputs, frozen set
 * normaliser and class names, the mapping of its weights file (tensors may borrow from it) and its name
 * index. model_free(NULL) is a no-op. src_loc.file of the model's locations points at
 * model->path. */

struct diag_ctx;

typedef enum { INPUT_FEED_FORWARD, INPUT_RECURRENT, INPUT_CONVOLUTIONAL } input_kind;

typedef struct model_input {
    char *name;
    input_kind kind;
    int64_t size;            /* features (per step for recurrent) */
    int64_t h, w, c;         /* convolutional */
    src_loc loc;
} model_input;

/* Feature normalisation fitted on training data and stored with the model. */
typedef enum { NORM_NONE, NORM_STANDARDIZE, NORM_MINMAX } norm_kind;
typedef struct normalizer {
    norm_kind kind;
    int64_t n;               /* features */
    float *shift, *scale;    /* x' = (x - shift) * scale */
} normalizer;

typedef struct model {
    char *name;
    char *path;              /* the YAML it was read from (for diagnostics), or NULL */
    model_input *inputs;
    int n_inputs;
    layer **layers;          /* in definition order */
    int n_layers;
    char **outputs;
    int n_outputs;
    src_loc outputs_loc;
    uint64_t seed;           /* init: seed */
    init_spec weight_init;   /* init: weight_init (default xavier) */
    train_conf training;     /* model-level training settings (fine_tune), stored in the YAML */
    int64_t iteration_count; /* updates made by the trainer so far (schedules, adam's bias
                              * correction continue across fits); 0 for a loaded model */
    int64_t epoch_count;     /* epochs completed by the trainer so far */
    normalizer norm;
    char **classes;          /* the names of the first output's classes (class i is classes[i]):
                              * the folders of the images() data a fit trained on, or the model
                              * file's `classes`; NULL when unknown */
    int n_classes;
    char *weights_file;      /* bare file name from `weights:`, NULL = initialise */
    bool weights_loaded;     /* every layer's params hold data */
    int64_t params_initialised; /* parameter tensors model_init_params drew from the seed
                              * because the file did not hold them */
    void *mapping;           /* mmap of the weights file (tensors borrow from it) */
    size_t mapping_len;
    int mapping_fd;          /* that file, open for reading while mapping is set (model_save
                              * copies borrowed tensors from it); -1 when not open */
    struct model_index *index; /* name lookup cache (model.c; see model_index_invalidate) */
    layer **layers_mem;      /* model.c: the block model_add_layer last gave `layers`, and its */
    int layers_cap;          /* length (trusted only while layers == layers_mem) */
} model;

model *model_new(const char *name);
void model_free(model *m);
/* Deep copy; with_weights false copies the architecture only (params left unallocated). */
model *model_clone(const model *m, bool with_weights);

int model_add_input(model *m, const char *name, input_kind kind, int64_t size, src_loc loc);
/* Appends L (the model takes ownership). */
void model_add_layer(model *m, layer *L);
/* Moves the layer at index `from` to index `to`, shifting the layers between by one. */
void model_move_layer(model *m, int from, int to);
/* Removes and frees the layer at index i (edges to it are not touched). */
void model_remove_layer(model *m, int i);
/* Lookups by name (the first layer / input of that name). They go through a hash index kept on
 * the model, built on the first lookup (so concurrent lookups on one model are not safe) and
 * kept current by model_add_input, model_add_layer, model_move_layer, model_remove_layer and
 * model_rename_*; a lookup also rebuilds it when m->layers or m->inputs were replaced or
 * resized, or when a name it finds no longer sits where the index says. */
int model_layer_index(const model *m, const char *name);
layer *model_find_layer(const model *m, const char *name);
int model_input_index(const model *m, const char *name);
bool model_has_node(const model *m, const char *name);   /* an input or a layer */
/* Indices of the layers that take `name` as an input, in increasing order; returns the count
 * (<= max). */
int model_consumers(const model *m, const char *name, int *idx, int max);
/* Renames layer i / input k to a copy of `to`, keeping the name index current (edges naming
 * the old name are not touched). Returns 0, or -1 when out of memory (nothing changed). */
int model_rename_layer(model *m, int i, const char *to);
int model_rename_input(model *m, int k, const char *to);
/* Drops the name index; the next lookup rebuilds it. Code that changes names in place other than
 * by model_rename_* (or puts another layer into a slot of m->layers, or reorders m->layers other
 * than by model_move_layer) must call it before the next lookup: only then is a name that
 * appeared that way found. */
void model_index_invalidate(model *m);
/* Tells the index that layers' input lists changed in place (edges renamed, redirected, added
 * or removed, layer_set_inputs on a layer of m): model_consumers then sees the new edges.
 * model_index_invalidate covers this too. */
void model_index_edges_changed(model *m);
void model_set_outputs(model *m, const char *const *names, int n);
/* Replaces the class names by a copy of names[0..n) (n 0: none). Returns 0, or -1 when out of
 * memory (the model then has none). */
int model_set_classes(model *m, const char *const *names, int n);
/* The first output layer when it has n_classes outputs, the layer the class names describe;
 * NULL otherwise. */
const layer *model_classes_layer(const model *m);
/* Every node name (inputs then layers) for "did you mean"; returns the count. */
int model_node_names(const model *m, const char **names, int max);

/* The graph checks with their default wording (runtime/graph/validate.h has them with a blame
 * hook). Topological order of the layers (indices into m->layers). Reports dangling inputs and
 * cycles (naming the chain) through d at the layers' locs; returns -1 on error. order has
 * n_layers. */
int model_topo_order(const model *m, int *order, struct diag_ctx *d);
/* Infers every layer's n_in and output shape from the inputs, in topological order, with no
 * weights; checks explicit n_in. Errors reported at the layers' locs. Returns the error count. */
int model_infer_shapes(model *m, struct diag_ctx *d);
/* Gives convolutional input k the height h and width w and infers the shapes again, for a
 * model whose parameters do not depend on them (no dense layer over the flattened image).
 * Returns 0, or -1 with the reason in err and the model as it was. */
int model_resize_input(model *m, int k, int64_t h, int64_t w, char *err, size_t err_len);

/* Parameter totals (after shape inference). */
int64_t model_param_count(const model *m);
int64_t model_frozen_param_count(const model *m);

/* DL4J setFeatureExtractor: marks `name` and every ancestor frozen. */
int model_freeze_through(model *m, const char *name);

/* Allocates and initialises every parameter that has no data, from the layer's weight init
 * (or the model's), deterministic in (model seed, layer name, key). */
int model_init_params(model *m);

/* Inference (predict.c, on the execution plan of executor.h). inputs[i] for m->inputs[i]: FF [batch, size], recurrent [time, batch, size]
 * (time-major). outputs[j] (released first) receive m->outputs[j]'s activations, same layouts.
 * Returns 0, or -1 with a message in err. */
int model_predict(model *m, const tensor *const *inputs, tensor *outputs, char *err, size_t err_len);
/* The same for any nodes (layers or inputs) instead of the model's outputs, computing only what
 * they need. masks[i] (the array or entries may be NULL) is a [time, batch] 0/1 mask of valid
 * steps for input i; recurrent layers use the first input's. */
int model_predict_nodes(model *m, const tensor *const *inputs, const float *const *masks,
                        const char *const *names, int n_names, tensor *outputs, char *err,
                        size_t err_len);

/* For the files of runtime/graph only: the name index's upkeep by the layer list (name_index.c).
 * Whether the model's index exists and describes its current arrays. */
bool model_index_current(const model *m);
/* After the layer list appended an input / a layer, or moved layer `from` to `to`: keeps the
 * index current when it was (was_current, asked before the change), else drops it. */
void model_index_added_input(model *m, bool was_current);
void model_index_added_layer(model *m, bool was_current);
void model_index_moved_layer(model *m, bool was_current, int from, int to);

#endif
