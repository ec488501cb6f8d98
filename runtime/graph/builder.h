/* builder.h: puts a model together independently of the format it is read from: inputs,
 * layers with their options, parameters (owned or borrowed from a mapped file), outputs, the
 * frozen set, initialisation and training settings; finishing checks the graph (topological
 * order), infers the shapes and initialises what no format supplied. */
#ifndef SURGERY_BUILDER_H
#define SURGERY_BUILDER_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/graph/model.h"

/* Ownership: a builder owns the model under construction until model_builder_finish hands it
 * to the caller (or model_builder_free drops it). Layers given to model_builder_add_layer and
 * tensors given to model_builder_set_param become the model's; names are copied. A params
 * source's ctx is borrowed for the duration of model_builder_finish. */

struct diag_ctx;

/* The input kinds as formats spell them, indexed by input_kind. */
extern const char *const input_kind_names[3];

typedef struct model_builder model_builder;

/* A new builder of a model called name. NULL when out of memory. */
model_builder *model_builder_new(const char *name);
/* Drops the builder and the model under construction. NULL is a no-op. */
void model_builder_free(model_builder *b);

/* The model under construction, for lookups (model_has_node, model_find_layer, ...) and for the
 * settings a format keeps on it (path, weights_file). Borrowed: the builder owns it. */
model *model_builder_model(model_builder *b);

/* Adds an input; chw holds [channels, height, width] for a convolutional input (NCHW; size is
 * then their product) and may be NULL otherwise. Returns 0, or -1 when out of memory. */
int model_builder_add_input(model_builder *b, const char *name, input_kind kind, int64_t size,
                            const int64_t *chw, src_loc loc);
/* Appends a layer made with layer_new (its inputs set with layer_set_inputs, its options with
 * layer_set_option); the model takes ownership. */
void model_builder_add_layer(model_builder *b, layer *L);
/* The outputs, by name (copied). */
void model_builder_set_outputs(model_builder *b, const char *const *names, int n);
/* Marks a layer frozen; returns -1 when the model has no layer of that name. */
int model_builder_freeze(model_builder *b, const char *name);
/* The initialisation of parameters no format supplied: its seed and weight init. */
void model_builder_set_seed(model_builder *b, uint64_t seed);
void model_builder_set_weight_init(model_builder *b, const init_spec *weight_init);
/* The model-level training settings, to fill with train_conf_set. */
train_conf *model_builder_training(model_builder *b);
/* The feature normaliser (shift and scale of n values each, malloc'd: the model takes them). */
void model_builder_set_normalizer(model_builder *b, norm_kind kind, int64_t n, float *shift,
                                  float *scale);
/* Gives layer L (already added) the parameter `key`: *t moves into the model (t is left empty);
 * a borrowed tensor keeps pointing into a mapping the model owns (model->mapping). finish checks
 * its shape against the layer's. Returns -1 when the layer's type has no such parameter. */
int model_builder_set_param(model_builder *b, layer *L, const char *key, tensor *t);

/* Where parameters come from when they are read after shape inference (a weights file paired by
 * name and shape): called by finish once the shapes are known; returns the number of errors it
 * reported through d (0: every parameter it supplies holds data). */
typedef int (*model_params_source)(model *m, void *ctx, struct diag_ctx *d);
void model_builder_params_from(model_builder *b, model_params_source source, void *ctx);

/* Finishes the model: the topological order (cycles, dangling inputs) and shape inference,
 * each reported through d at the layers' locations; parameter counts; a written n_in, checked
 * against the graph, follows it from then on (n_in_given false); parameters given with
 * model_builder_set_param checked against their shapes; then the params source, if any; then,
 * with init_missing, every parameter still without data initialised (model_init_params),
 * running out of memory reported at `where`. Returns the model (the caller's: model_free) or
 * NULL when anything was reported; the builder is freed either way. */
model *model_builder_finish(model_builder *b, bool init_missing, src_loc where,
                            struct diag_ctx *d);

/* Whether a layer type has parameters (and so needs n_out): its layout for a 1-in, 1-out probe. */
bool type_has_params(const layer_type *t);

#endif
