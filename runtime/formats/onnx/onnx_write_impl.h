/* onnx_write_impl.h: what the parts of the ONNX writer share: the graph under construction
 * (nodes, initializers, value names), the helpers that add to it, and one emitter per family
 * of layer types (onnx_write_layers.c, onnx_write_conv.c). */
#ifndef SURGERY_ONNX_WRITE_IMPL_H
#define SURGERY_ONNX_WRITE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx.pb-c.h"
#include "runtime/formats/onnx/onnx.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"

/* Ownership: an ow_ctx owns every protobuf struct, string and converted tensor it hands out
 * (an arena freed by ow_free); tensors given to ow_param keep pointing at the model's data,
 * which the caller keeps alive until the file is written. */

typedef struct ow_ctx {
    const model *m;
    int opset;
    char err[512];
    bool failed;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    void **arena;
    size_t n_arena, cap_arena;
    tensor **settled;            /* copies of pending tensors, released by ow_free */
    size_t n_settled, cap_settled;
    const layer *cur;            /* the layer being emitted (node names) */
    int64_t bytes;               /* initializer bytes so far */
    char ops[256];               /* the operators the current layer became, for convert */
} ow_ctx;

/* An emitter: adds the nodes of L reading the values ins (in surgery's layouts: [N, n],
 * time-major [T, N, n], NCHW) and writing the value `out`. Returns 0, or -1 with c->err set. */
typedef int (*ow_emit_fn)(ow_ctx *c, const layer *L, const char *const *ins, const char *out);

/* The emitter of a layer type, or NULL (onnx_write_layers.c, onnx_write_conv.c). */
ow_emit_fn ow_emitter_layers(const layer_type *t);
ow_emit_fn ow_emitter_conv(const layer_type *t);
/* Whether an LSTM's cell activation has an ONNX name (onnx_write_layers.c). */
bool ow_lstm_activation_ok(activation_kind k);
/* What of m's architecture this writer cannot express (a type with no emitter, an LSTM
 * activation ONNX has not, an output that is a model input), every layer named in err.
 * Returns 0 or -1. */
int ow_check_model(const model *m, char *err, size_t err_len);

/* The graph of c->m into g (nodes, initializers, inputs, outputs), reporting each layer's
 * operators through report (may be NULL). Returns 0, or -1 with c->err set. */
int ow_build_graph(ow_ctx *c, Onnx__GraphProto *g, onnx_layer_report report, void *report_ctx);
/* Frees what c owns and zeroes it. */
void ow_free(ow_ctx *c);

/* ---- building blocks (onnx_write.c) ---- */
void *ow_alloc(ow_ctx *c, size_t n);               /* zeroed, owned by the arena */
char *ow_strf(ow_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ow_fail(ow_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A node of operator op reading ins (NULL or "" for an omitted optional input) and writing
 * out, named /LAYER/OP after the current layer. */
Onnx__NodeProto *ow_node(ow_ctx *c, const char *op, const char *const *ins, int n_in,
                         const char *out);
/* A one-input node; a value name for an intermediate result of the current layer. */
Onnx__NodeProto *ow_node1(ow_ctx *c, const char *op, const char *in, const char *out);
const char *ow_tmp(ow_ctx *c, const char *what);
void ow_attr_int(ow_ctx *c, Onnx__NodeProto *n, const char *name, int64_t v);
void ow_attr_float(ow_ctx *c, Onnx__NodeProto *n, const char *name, float v);
void ow_attr_floats(ow_ctx *c, Onnx__NodeProto *n, const char *name, const float *v, int k);
void ow_attr_ints(ow_ctx *c, Onnx__NodeProto *n, const char *name, const int64_t *v, int k);
void ow_attr_string(ow_ctx *c, Onnx__NodeProto *n, const char *name, const char *s);
void ow_attr_strings(ow_ctx *c, Onnx__NodeProto *n, const char *name, const char *const *s, int k);
/* Initializers: a parameter of L by key as it is ("LAYER.KEY"; NULL when L has none), floats
 * the arena owns (copied), and int64 values (shapes, axes, pads). Return the name. */
const char *ow_param(ow_ctx *c, const layer *L, const char *key);
const float *ow_param_data(ow_ctx *c, const layer *L, const char *key);
const char *ow_floats(ow_ctx *c, const char *name, const float *v, int ndim, const int64_t *dims);
const char *ow_ints(ow_ctx *c, const char *name, const int64_t *v, int64_t n);
/* An initializer of one float, for constants of the activations (shared by name). */
const char *ow_scalar(ow_ctx *c, float v);

/* The layer's activation applied to in, written to out (an Identity for `identity`): the
 * operators of docs/format.md ("ONNX writing"). rank is the value's rank (softmax over the
 * last axis). */
int ow_activation(ow_ctx *c, activation_kind k, act_params p, const char *in, const char *out,
                  int rank);
/* The shape of what a node (model input or layer) puts out. */
act_shape ow_shape_of(const ow_ctx *c, const char *node);
/* The values of an option of L's type by name (v holds LOPT_MAX_VALUES); false when absent. */
bool ow_option(const layer *L, const char *name, double *v);

#endif
