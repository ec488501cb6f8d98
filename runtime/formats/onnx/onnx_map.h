/* onnx_map.h: maps an ONNX graph's operators onto surgery layers in a model builder (constant
 * folding, fusion of bias adds and activations, torch's LSTM patterns), shared by the reader. */
#ifndef SURGERY_ONNX_MAP_H
#define SURGERY_ONNX_MAP_H

#include <stdint.h>
#include "runtime/formats/onnx/onnx.h"

/* Ownership: onnx_map_graph borrows the graph and metadata, and releases the data of each
 * initializer once it has read it (the tensors stay, empty); what it adds to the builder is the
 * builder's. */

/* The metadata_props keys the writer sets and the reader applies. */
#define ONNX_META_FROZEN "surgery.frozen"          /* layer names, one per line */
#define ONNX_META_LAYER "surgery.layer."           /* + NAME.KEY: an option or training key */
#define ONNX_META_TRAINING "surgery.training."     /* + KEY: a model-level training key */

struct Onnx__GraphProto;
struct Onnx__ModelProto;
struct model_builder;
struct diag_ctx;

typedef const char *(*onnx_meta_fn)(const struct Onnx__ModelProto *mp, const char *key);

/* Adds the graph's inputs, layers and outputs to b. Every operator that cannot be mapped is
 * listed in one error (node name, index, opset); returns 0 or -1 (then nothing should be used). */
int onnx_map_graph(const struct Onnx__GraphProto *g, int64_t opset, onnx_meta_fn meta,
                   const struct Onnx__ModelProto *mp, const char *path,
                   struct model_builder *b, struct diag_ctx *d);

#endif
