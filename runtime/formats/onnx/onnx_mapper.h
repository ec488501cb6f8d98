/* onnx_mapper.h: the state the ONNX operator mapping shares between its files (the value table,
 * the collected errors, the helpers that add layers and move weights) and the entry point of
 * each operator family; internal to runtime/formats/onnx/. */
#ifndef SURGERY_ONNX_MAPPER_H
#define SURGERY_ONNX_MAPPER_H

#include <stdbool.h>
#include <stdint.h>

#include "onnx.pb-c.h"
#include "runtime/graph/builder.h"

/* Ownership: a mapper owns its value table and each value's constant data (f, i); values borrow
 * their names from the graph and point at layers the builder owns. */

#define SYM INT64_MIN      /* a symbolic (batch) dimension inside a folded shape */
#define MAXR 8

typedef enum { V_UNDEF, V_CONST, V_ACT } vkind;
/* Activation layouts: flat [batch, features...]; sequences batch-first [B, T, n], time-major
 * [T, B, n] (surgery's own), LSTM's Y [T, dirs, B, n], a bidirectional one's transposed to
 * [T, B, 2, n], one direction of it [T, 1, B, n] (Gather) and the two joined [T, 1, B, n]
 * (Add, Mul); images NCHW [B, C, H, W]. */
typedef enum { L_FLAT, L_BT, L_TB, L_LSTM_Y, L_CHW, L_LSTM_YT, L_LSTM_DIR, L_LSTM_JOIN } layout;

typedef struct value {
    const char *name;
    vkind kind;
    int ndim;
    int64_t dims[MAXR];
    float *f;                 /* V_CONST floats, or ... */
    int64_t *i;               /* ... integers */
    int64_t count;
    bool zeros;               /* V_CONST of a symbolic shape, all zero (ConstantOfShape) */
    layer *L;                 /* V_ACT: its producer (NULL: a model input) */
    const char *node;         /* V_ACT: the surgery node's name */
    layout lay;
    int64_t size;             /* V_ACT: features per sample (per step) */
    int64_t pads[4];          /* V_ACT: zeros a Pad still owes its consumer (top, left, bottom,
                               * right), folded into a pool or conv; the node is unpadded */
    int direction;            /* L_LSTM_DIR: 0 forward, 1 reverse; L_LSTM_JOIN: its mode */
    int uses;
    bool graph_output;
} value;

typedef struct mapper {
    const Onnx__GraphProto *g;
    const char *path;
    int64_t opset;
    struct model_builder *b;
    struct diag_ctx *d;
    value *v;
    int nv, cap;
    char unsupported[4096];
    int n_unsupported;
    int errors;
} mapper;

/* The value called name, or NULL; def adds it when missing. */
value *onnx_find(mapper *mp, const char *name);
value *onnx_def(mapper *mp, const char *name);
/* Adds node idx to the one error of operators that cannot be mapped, with the reason. */
void onnx_unsupported(mapper *mp, int idx, const Onnx__NodeProto *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name);
int64_t onnx_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def_v);
double onnx_attr_f(const Onnx__NodeProto *n, const char *name, double def_v);
/* The values of an integer-list attribute into v (at most max); returns the count, or def_n
 * with v filled by def_v when the node has no such attribute. */
int onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *v, int max, int def_n,
                   int64_t def_v);

/* Input j of node n (NULL when absent or empty). */
value *onnx_in(mapper *mp, const Onnx__NodeProto *n, size_t j);
static inline bool onnx_is_const(const value *v) { return v && v->kind == V_CONST; }
static inline bool onnx_is_act(const value *v) { return v && v->kind == V_ACT; }
static inline int64_t onnx_axis(int64_t a, int rank) { return a < 0 ? a + rank : a; }

/* A layer of type t named after node n, reading the surgery nodes of in[0..n_in). */
layer *onnx_add_layer(mapper *mp, const Onnx__NodeProto *n, int idx, const layer_type *t,
                      value *const *in, int n_in, int64_t n_out);
/* out becomes the activation of L (layout, features per sample; dims copied from like). */
void onnx_set_act(value *out, layer *L, layout lay, int64_t size, const value *like);
/* out becomes a copy of in (constants duplicated), keeping its own name and uses. */
void onnx_alias(value *out, const value *in);
/* out becomes the 1-D integer constant src[0..n). */
void onnx_set_ints(value *out, const int64_t *src, int64_t n);
/* v becomes the constant of tensor t; on a problem writes a reason into err, returns -1. */
int onnx_tensor_value(mapper *mp, const Onnx__TensorProto *t, value *v, char *err, size_t el);
/* A float parameter of L copied from data, of shape [d0] (ndim 1), [d0, d1] or the n dims of
 * shape (ndim > 2: shape given). Returns model_builder_set_param's result. */
int onnx_give(mapper *mp, layer *L, const char *key, const float *data, int ndim,
              const int64_t *shape);
int onnx_give2(mapper *mp, layer *L, const char *key, const float *data, int ndim, int64_t d0,
               int64_t d1);
/* Whether x's producer is a layer of type t that only this use reads and that is no graph
 * output: a bias, activation or batch norm can fuse into it. */
bool onnx_fusable(const value *x, const layer_type *t);
/* An activation applied to x: fused into a dense or convolutional producer without one, or an
 * activation layer. */
void onnx_activation(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out,
                     activation_kind k, double alpha);

/* The operator families: each maps node idx when it knows its operator (returns true, having
 * set out or reported it unsupported) and returns false for an operator it does not know.
 * x is the node's first input (may be NULL), out its first output. */
bool onnx_ops_dense(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out);
bool onnx_ops_rnn(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out);
bool onnx_ops_conv(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out);
bool onnx_fold(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out);

#endif
