/* onnx_meta.h: the metadata_props keys with which the ONNX writer describes the surgery model
 * it wrote and the reader rebuilds it (docs/format.md, "ONNX writing"). */
#ifndef SURGERY_ONNX_META_H
#define SURGERY_ONNX_META_H

#include "runtime/formats/onnx/onnx_map.h"

/* Ownership: constants only. Besides ONNX_META_FROZEN, ONNX_META_LAYER (+ NAME.KEY: an option,
 * a training key or `type`) and ONNX_META_TRAINING (+ KEY) of onnx_map.h: */
#define ONNX_META_FORMAT "surgery-onnx/1"
#define ONNX_META_INPUTS "surgery.inputs"          /* NAME \t KIND \t SIZE (or C \t H \t W) lines */
#define ONNX_META_LAYERS "surgery.layers"          /* NAME \t TYPE \t INPUT... lines, in order */
#define ONNX_META_OUTPUTS "surgery.outputs"        /* one name a line */
#define ONNX_META_SEED "surgery.seed"
#define ONNX_META_WEIGHT_INIT "surgery.weight_init"
#define ONNX_META_NORMALIZER "surgery.normalizer"  /* standardize | minmax; the shift and scale
                                                    * are initializers NORMALIZER.shift, .scale */
#define ONNX_META_DIGEST "surgery.graph_digest"    /* onnx_graph_digest of the graph written */
#define ONNX_META_EXTERNAL "surgery.external_data" /* the data file's name, for the commit */

#endif
