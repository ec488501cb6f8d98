/* dl4j_impl.h: what the DL4J reader's files share: the mapping of a MultiLayerNetwork's or a
 * ComputationGraph's layers and vertices onto surgery's, and the problems it collects. */
#ifndef SURGERY_DL4J_IMPL_H
#define SURGERY_DL4J_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/graph/builder.h"
#include "runtime/nn/layer.h"

/* Ownership: a dl4j_map borrows the builder; it owns the problem text and the per-layer
 * parameter key lists (dl4j_map_free). */

typedef struct dl4j_map {
    model_builder *b;
    char *problems;          /* "; "-separated: every unsupported layer type and option */
    size_t problems_len;
    int n_problems;
    char ***vars;            /* per layer: DL4J's parameter keys in flat-vector order */
    int *n_vars;
    int n_layers;
    int64_t first_n_in;      /* the first layer that states nin: the model input's size */
    bool recurrent_input;
    bool graph;              /* a ComputationGraph: problems name vertices */
    bool cnn_input;          /* the first layer that states nin takes convolutional input */
    int size_at;             /* -1, or the layer whose input is size_h x size_w (a preprocessor
                              * says so) */
    int64_t size_h, size_w;
} dl4j_map;

/* Adds a problem "layer I 'NAME' (TYPE): WHAT". */
void dl4j_problem(dl4j_map *mp, int index, const char *name, const char *type, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
/* A polymorphic value: {"@class": "pkg.Name", fields...} (1.0), {"Name": {fields}} (0.x) or a
 * plain "NAME" string. *name gets the class or type name without `strip` at its start. */
bool dl4j_poly(json_t *v, const char *strip, char *name, size_t n, json_t **fields);
/* Maps a layer configuration (an element of `confs`, a LayerVertex's layerConf) to a surgery
 * layer appended to the builder as layer `index`, called vname (NULL: its layerName, else
 * layer<index>), taking the named inputs. Problems are collected in mp; a layer is added
 * whenever its type is known. Returns -1 only when out of memory. */
int dl4j_map_layer(dl4j_map *mp, json_t *conf, int index, const char *vname,
                   const char *const *inputs, int n_inputs);
/* dl4j_graph.c: a ComputationGraph's vertices (in DL4J's topological order, the order of their
 * parameters) as layers appended to the builder; its network inputs and outputs are kept in mp
 * for dl4j_graph_finish. Returns -1 only when out of memory. */
int dl4j_map_graph(dl4j_map *mp, json_t *root);
/* Adds the graph's inputs (their kind and size from the layers they feed) and outputs. */
int dl4j_graph_finish(dl4j_map *mp, json_t *root, src_loc at);
/* The model-level settings of the top-level object (backprop type and tbptt lengths). */
void dl4j_map_network(dl4j_map *mp, json_t *root);
void dl4j_map_free(dl4j_map *mp);

/* dl4j_conv.c: the options of a convolutional layer L (conv2d, separable_conv2d,
 * depthwise_conv2d, subsampling, global_pooling, zero_padding, cropping, upsampling, batch_norm)
 * from its DL4J fields f; problems go to mp. Other types are left alone. */
void dl4j_map_conv(dl4j_map *mp, int index, const char *name, const char *tname, layer *L,
                   json_t *f);
/* Whether L's flat values start with its bias, its last key (DL4J's convolutions). */
bool dl4j_bias_first(const layer *L);
/* surgery's key for DL4J parameter key `key` of L (batch norm's log10stdev is its var). */
const char *dl4j_param_key(const layer *L, const char *key);
/* Fills t (allocated to its surgery shape) from the flat values at its offset when DL4J lays
 * this parameter out other than as an 'f'-order view of surgery's shape (convolution kernels
 * are 'c'-order views, depthwise kernels permuted, log10stdev converted); false otherwise. */
bool dl4j_fill_param(const layer *L, const char *key, tensor *t, const float *flat);
/* Whether dl4j_fill_param lays out this parameter of L (t allocated to its surgery shape). */
bool dl4j_param_own_order(const layer *L, const char *key, const tensor *t);
/* The inverse of dl4j_fill_param: t's values (row-major data of t->size values) into flat in
 * DL4J's order. false when the parameter has no layout of its own (then it is 'f' order). */
bool dl4j_flatten_param(const layer *L, const char *key, const tensor *t, const float *data,
                        float *flat);

#endif
