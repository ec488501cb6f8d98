/* layer.h: a layer or vertex of the model graph, and the small vtable every layer type
 * implements (one file per type under runtime/layer_*.c, one line in LAYER_TYPES). */
#ifndef SURGERY_LAYER_H
#define SURGERY_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/base/loc.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/tensor.h"

/* Ownership: a layer owns its name, its input-name strings, its parameter tensors, gradient
 * tensors, updater state and its forward cache (`state`, released by type->free_state).
 * layer_free(NULL) is a no-op. The type pointer refers to a static vtable. */

/* The activations flowing along an edge: feed-forward [batch, size]; recurrent is stored
 * time-major [time, batch, size] inside the runtime (the CLI converts from/to batch-first). */
typedef enum { SHAPE_FF, SHAPE_RNN, SHAPE_CNN } shape_kind;
/* Convolutional activations are NCHW: [batch, c, h, w]; a layer that takes features (dense,
 * output) sees them flattened channels-major, feature (ch * h + y) * w + x. */
typedef struct act_shape {
    shape_kind kind;
    int64_t size;           /* features (per step for SHAPE_RNN); CNN: c*h*w */
    int64_t h, w, c;        /* SHAPE_CNN only */
} act_shape;

/* A convolutional shape of c channels of h x w. */
static inline act_shape act_shape_cnn(int64_t c, int64_t h, int64_t w)
{
    return (act_shape){.kind = SHAPE_CNN, .size = c * h * w, .c = c, .h = h, .w = w};
}
/* The shape as diagnostics and tables show it: "3 x 32 x 32" (C x H x W) for a convolutional
 * one, else its size ("100"). Returns buf. */
const char *act_shape_text(const act_shape *s, char *buf, size_t n);

/* The role of a parameter tensor, used by initialisation, regularisation (no l1/l2 on biases
 * unless l1_bias/l2_bias) and the bias updater. PARAM_STATE is non-trained state that the
 * forward pass updates in training (e.g. running statistics): it starts at the spec's
 * state_init, takes no updater, no l1/l2 and no gradient normalisation, and is not part of
 * gradient checks; it is saved and loaded like every parameter. */
typedef enum { PARAM_WEIGHT, PARAM_RECURRENT, PARAM_BIAS, PARAM_STATE } param_role;

#define LAYER_MAX_PARAMS 6
/* Room for the values of a type's stored options (see struct layer's opt_store). */
#define LAYER_OPT_STORE 32
#define PARAM_MAX_DIMS 4
_Static_assert(PARAM_MAX_DIMS <= TENSOR_MAX_DIMS, "a parameter is a tensor");
typedef struct param_spec {
    const char *key;        /* "W", "RW", "b" (DL4J keys); tensor name is LAYER.KEY */
    param_role role;
    int ndim;
    int64_t shape[PARAM_MAX_DIMS];  /* a conv kernel: [n_out, n_in / groups, kH, kW] */
    int64_t fan_in, fan_out;   /* for xavier/relu/lecun initialisation */
    double state_init;      /* PARAM_STATE, or any role with const_init: every element's
                             * initial value */
    bool const_init;        /* a trained parameter that starts at state_init whatever the
                             * weight or bias init (batch norm's gamma and beta) */
} param_spec;

/* Whether a parameter of this role is trained (has an updater and a gradient check). */
static inline bool param_role_trained(param_role r) { return r != PARAM_STATE; }

typedef struct layer layer;
typedef struct layer_option layer_option;   /* one option of a type: runtime/nn/layer_option.h */

/* Forward: inputs in[0..n_in) with shapes as inferred, `out` already allocated by the caller
 * with the inferred output shape and batch/time. `mask` is an optional [time, batch] 0/1 mask of
 * valid steps for recurrent data (NULL: all valid). In training mode a layer may keep what its
 * backward needs in L->state. */
typedef struct fwd_ctx {
    const tensor *const *in;
    int n_in;
    tensor *out;
    bool training;
    rng *rng;               /* dropout masks; only used in training mode */
    const float *mask;
    bool carry_state;       /* recurrent layers start from the last step of their previous
                             * forward call (truncated BPTT segments) instead of zeros */
    char *err;              /* optional (NULL: none): where a forward that fails on bad input
                             * data (e.g. an embedding index out of range) describes why */
    size_t err_len;
} fwd_ctx;

/* Backward: dout is dL/d(out). din[i] (may be NULL when not needed, e.g. below the frozen
 * frontier or for a model input) receives dL/d(in[i]) ADDED to its contents (fan-out sums).
 * grads (NULL for frozen layers) receive dL/d(params) ADDED. Loss layers given `labels`
 * (same layout as out) compute their own fused gradient from the loss (softmax + mcxent as
 * p - y) and ignore dout; `label_mask` like `mask`. */
typedef struct bwd_ctx {
    const tensor *const *in;
    int n_in;
    const tensor *out;
    const tensor *dout;
    tensor **din;
    tensor *grads;
    const tensor *labels;
    const float *mask;
    const float *label_mask;
} bwd_ctx;

enum {
    LT_VERTEX = 1u << 0,        /* merge/add/average: no parameters, several inputs */
    LT_LOSS = 1u << 1,          /* output, rnn_output: activation + loss, ends a path */
    LT_RECURRENT = 1u << 2,     /* lstm, graves_lstm: needs SHAPE_RNN input */
    LT_WIDENABLE = 1u << 3,     /* widen / narrow apply */
    LT_MULTI_INPUT = 1u << 4,   /* accepts more than one input */
    LT_HAS_ACTIVATION = 1u << 5, /* has an `activation` option */
    LT_INDEX_INPUT = 1u << 6,   /* input holds integer indices (embedding): size 1 per row,
                                 * not differentiable (backward leaves din untouched); n_in is
                                 * the vocabulary, not the input's size */
    LT_PASS_THROUGH = 1u << 7,  /* activation, dropout: the same features out as in */
    LT_ELEMENTWISE = 1u << 8,   /* add, average, multiply: element-wise over inputs of one size */
    LT_CONCAT = 1u << 9,        /* merge: its inputs' features side by side, in input order */
    LT_STOCHASTIC = 1u << 10,   /* dropout: random in training; frozen, it runs as in inference
                                 * (the identity) */
    LT_CHANNELS_IN = 1u << 11,  /* conv2d and the like: n_in counts the channels of a
                                 * convolutional input, not its features; shape inference
                                 * checks it */
    LT_BATCH_STATS = 1u << 12,  /* batch_norm: in training normalises with the batch's statistics
                                 * (and updates its running ones); in inference and when frozen
                                 * with the running ones, so its training output differs */
    LT_CHANNELS_THROUGH = 1u << 13 /* batch_norm, pooling, padding, cropping, upsampling: the
                                 * channels of convolutional input come out as they went in
                                 * (height and width may change), channel j of the output from
                                 * channel j of the input: edits of channels pass through */
};

/* How the units of a layer sit in its parameters, for the edits that add, remove, replicate or
 * rescale units (widen, narrow, net2net, resize). One entry per parameter that depends on
 * n_out; the others are kept as they are. With n = n_out, output unit j owns: */
typedef struct unit_param_layout {
    const char *key;
    int col_blocks;          /* column j of each of col_blocks consecutive blocks of n columns
                              * (element j of each block of a 1-D parameter): what the unit
                              * receives (lstm gates: 4 blocks) */
    bool owns_row;           /* row j too: what the unit sends back to the blocks (lstm RW),
                              * scaled like every outgoing weight */
    int tail_cols;           /* with owns_row: columns after the blocks that belong to the row's
                              * unit alone (graves_lstm's 3 peepholes); -1: whatever columns
                              * the parameter's shape has after the blocks (bidirectional) */
    int forget_gate_block;   /* -1, or the block whose values are the layer's forget_gate_bias
                              * (in place of the bias init) for new units */
    bool leading;            /* instead of columns: the slice [j] along the first dimension
                              * (a convolution's filter W[j, :, :, :]) */
} unit_param_layout;

/* How the units of a layer's input reach its output, for edits that carry a change on. */
typedef enum {
    UNITS_STOP,     /* the layer's own output units are its own (dense, conv2d) */
    UNITS_FOLLOW    /* output unit j * m + i (i < m, m = multiplier) comes from input unit j:
                     * batch_norm and depthwise_conv2d (m = 1 and their multiplier) with
                     * parameters that follow too, flatten (a channel becomes its H*W features)
                     * without; edits of the input's units carry on through the layer */
} unit_flow;

typedef struct unit_layout {
    int n_params;
    unit_param_layout params[LAYER_MAX_PARAMS];
    /* One unit of the layer's input is input_rows consecutive rows of parameter input_key (dense
     * and lstm W: row j; a flattened channel: its H*W rows). NULL: the input's units cannot be
     * changed under this layer (embedding indices). */
    const char *input_key;
    const char *input_key2;  /* NULL, or a second parameter whose rows follow the input's units
                              * as input_key's do (bidirectional: both directions' W) */
    int input_rows;
    /* The dimension of input_key along which the input's units lie: 0 (rows of a dense or lstm
     * W), 1 (the input channels of a convolution's kernel W[:, j, :, :]). */
    int input_dim;
    unit_flow flow;
    /* Parameters whose slices along the first dimension follow the input's units, multiplier
     * slices per unit, copied (not scaled) for replicas and initialised as new parameters are
     * for new units (batch norm: gamma 1, beta 0, mean 0, var 1; depthwise kernels: the weight
     * init). */
    int n_follow;
    const char *follow[LAYER_MAX_PARAMS];
    /* Output units per input unit with UNITS_FOLLOW, and slices per input unit of the follow
     * parameters (NULL: 1). */
    int64_t (*multiplier)(const layer *L);
    /* How many times the output holds the units (NULL: once): copy k of unit j is output
     * feature k * n_out + j (bidirectional's concat: forward, then backward). */
    int64_t (*out_copies)(const layer *L);
    /* Why widen and narrow cannot change this layer's units now (NULL: they can, or the type
     * is not widenable): e.g. a grouped convolution. Writes a reason and returns true. */
    bool (*refuse)(const layer *L, char *why, size_t why_len);
    /* UNITS_FOLLOW: after the edits changed L's widths, sets the options that follow them (a
     * depthwise conv2d's groups, which stay its input channels); NULL: none. */
    void (*resized)(layer *L);
} unit_layout;

/* Net2DeeperNet: how a layer of this type is built as the identity after another one. */
typedef struct deepen_spec {
    bool keeps_activation;   /* takes the activation of the layer it follows, which must then be
                              * idempotent (phi(phi(x)) = phi(x)); else the identity activation */
    /* Sets the options of an identity layer of width L->n_out (may be NULL). */
    void (*configure)(layer *L);
    /* Allocates L's parameters (its param_specs) and fills them with the identity; returns 0 or
     * -1 when memory runs out (the caller releases what was allocated). */
    int (*identity_params)(layer *L);
    /* Said as a warning after "'NAME' " when the script is checked, or NULL. */
    const char *caveat;
} deepen_spec;

typedef struct layer_type {
    const char *name;
    unsigned flags;
    /* The options this type accepts in model YAML and scripts besides name, type, inputs and
     * the training keys, NULL-terminated, in the order the model YAML writes them (see
     * layer_options.h): parsing, saving, the featurize cache key and docs/layers.md derive
     * from it. */
    const layer_option *const *options;
    activation_kind default_activation;   /* the `activation` option's default (DL4J's) */
    /* Shape inference only, no weights: from the input shapes set L->n_in (when it has one) and
     * *out. On a mismatch writes a one-line reason into msg and returns -1. */
    int (*infer)(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg, size_t msg_len);
    /* Parameter layout for the current n_in/n_out; returns the count (<= LAYER_MAX_PARAMS). */
    int (*param_specs)(const layer *L, param_spec *specs);
    /* Returns 0, or -1 on allocation failure or bad input data (then described in c->err). */
    int (*forward)(layer *L, const fwd_ctx *c);
    int (*backward)(layer *L, const bwd_ctx *c);
    void (*free_state)(layer *L);
    /* Where the units sit in the parameters (NULL: no units edits can move); with LT_WIDENABLE
     * widen and narrow apply to it. */
    const unit_layout *units;
    /* The layout of a layer whose options decide it (a conv2d with one group per input channel
     * is a depthwise convolution, whose channels follow its input's); NULL: always `units`. */
    const unit_layout *(*units_of)(const layer *L);
    /* NULL: deepen does not build this type. */
    const deepen_spec *deepen;
} layer_type;

/* The unit layout of L: its type's units_of(L), else its type's units (NULL: none). */
const unit_layout *layer_units(const layer *L);
/* The entry of `units` for a parameter key, or NULL (also for u NULL). */
const unit_param_layout *unit_layout_param(const unit_layout *u, const char *key);
/* DL4J's LSTM forget-gate bias: when ps is a bias whose unit layout names a forget-gate block,
 * sets that block of t (the whole parameter, freshly initialised) to L->forget_gate_bias. */
void layer_set_forget_gate_bias(const layer *L, const param_spec *ps, tensor *t);

/* The registry: adding a type is one file plus one line here. */
#define LAYER_TYPES(X) \
    X(dense) X(output) X(lstm) X(graves_lstm) X(rnn_output) X(activation) X(dropout) \
    X(embedding) X(merge) X(add) X(average) X(multiply) X(conv2d) X(depthwise_conv2d) X(separable_conv2d) \
    X(batch_norm) X(global_pooling) X(subsampling) X(zero_padding) X(cropping) X(upsampling) \
    X(flatten) X(bidirectional)

#define DECLARE_LAYER_TYPE(n) extern const layer_type layer_type_##n;
LAYER_TYPES(DECLARE_LAYER_TYPE)
#undef DECLARE_LAYER_TYPE

extern const layer_type *const layer_types[];
extern const int layer_type_count;
const layer_type *layer_type_find(const char *name);
/* For "did you mean": fills names[] (layer_type_count entries). */
void layer_type_names(const char **names);

/* Edit state, for the plan: what the script did to this layer. */
typedef enum {
    EDIT_KEPT, EDIT_NEW, EDIT_RESIZED, EDIT_WIDENED, EDIT_NARROWED, EDIT_RENAMED,
    EDIT_REPLACED, EDIT_REMOVED
} edit_state;

struct layer {
    char *name;
    src_loc loc;                 /* where it is defined (model YAML, or the script's add) */
    const layer_type *type;
    char **inputs;               /* names of layers/vertices/model inputs */
    int n_inputs;
    int64_t n_in;                /* inferred (or given and checked); 0 when not applicable */
    int64_t n_out;
    bool n_in_given;
    activation_kind activation;
    double alpha;                /* leakyrelu slope (0.01), elu alpha (1.0) */
    double clip_min, clip_max;   /* the bounds of activation clip(min, max); 0 otherwise */
    loss_kind loss;
    bool has_bias;
    double forget_gate_bias;     /* lstm/graves_lstm forget-gate bias init (DL4J: 1.0) */
    /* The values of the options of its type that have no field here (kernel, stride, padding,
     * groups, ...), one after the other in the order of the type's table (layer_option_slot
     * in layer_options.h); read them with layer_option_get_values. */
    double opt_store[LAYER_OPT_STORE];
    train_conf train;            /* per-layer settings; set_mask marks explicit ones */
    unsigned script_set_mask;    /* fields set by the script (add options, `set`): these win
                                  * over fine_tune, unlike the base model's own settings */
    bool frozen;
    act_shape out_shape;         /* filled by shape inference */
    act_shape in_shape;          /* of the first input */

    int n_params;
    tensor params[LAYER_MAX_PARAMS];   /* in param_specs order; data NULL until loaded/initialised */
    tensor grads[LAYER_MAX_PARAMS];    /* allocated by the trainer */
    tensor upd_state[LAYER_MAX_PARAMS][2]; /* updater moments, allocated by the trainer */

    void *state;                 /* forward cache for backward (type-specific) */

    edit_state edit;             /* for plan */
    char *old_name;              /* before a rename, for plan */
    int64_t old_n_in, old_n_out; /* before an edit, for plan */
};

/* A new layer of a type with the defaults of its option table (DL4J's: the type's activation,
 * forget-gate bias 1.0, has_bias true), training settings default with empty set_mask. */
layer *layer_new(const layer_type *type, const char *name);
void layer_free(layer *L);
/* Deep copy, parameters included (borrowed tensors stay borrowed). */
layer *layer_clone(const layer *L);
void layer_set_inputs(layer *L, const char *const *names, int n);
/* Parameter count for the current shapes (from param_specs). */
int64_t layer_param_count(const layer *L);
/* Whether a parameter of L, at its current shapes, has more elements than
 * LIMIT_TENSOR_ELEMENTS (runtime/base/limits.h): 1 with *spec set to the first such parameter,
 * else 0. Shapes are multiplied with overflow checks. */
int layer_param_over_limit(const layer *L, param_spec *spec);
/* A parameter's shape as "R x C" into buf. */
void param_shape_text(const param_spec *spec, char *buf, size_t len);
/* Index of a parameter by key, or -1. */
int layer_param_index(const layer *L, const char *key);

/* Sets every option of L's type to its default (in layer_options.c, with the option tables). */
void layer_set_option_defaults(layer *L);
/* Applies one option (from model YAML or a script's option block) to a layer: an option of its
 * type's table or a training key of train_conf_set. Unknown keys, wrong types and out-of-range values are
 * reported at the value's loc (with "did you mean" for keys) and return -1. A scratch layer
 * with a NULL type accepts every key some type accepts (checking a value before the type of
 * the layer it will reach is known). */
struct diag_ctx;
int layer_set_option(layer *L, const char *key, src_loc key_loc, const conf_value *v,
                     struct diag_ctx *d);
/* Applies a training key (updater, bias_updater, seed, l1, l2, l1_bias, l2_bias, weight_decay,
 * dropout, weight_init, bias_init, gradient_normalization, backprop, learning_rate) to tc and
 * marks it set. Returns 1 when the key is not a training key (nothing reported), 0 when
 * applied, -1 on a reported error. */
int train_conf_set(train_conf *tc, const char *key, src_loc key_loc, const conf_value *v,
                   struct diag_ctx *d);
/* Reads a weight initialisation (xavier, ..., uniform(lower, upper), normal(mean, std); a
 * string holding that text is parsed) as for `weight_init`, reporting errors under the name
 * `key` (e.g. resize's `init`). Returns 0, or -1 on a reported error (*out unchanged). */
int init_spec_from_value(init_spec *out, const char *key, src_loc key_loc, const conf_value *v,
                         struct diag_ctx *d);
/* Every key layer_set_option accepts for this type (for "did you mean"): fills keys[] with at
 * most max entries and returns the count. A NULL type means every key some type accepts. */
int layer_option_keys(const layer_type *type, const char **keys, int max);
/* The training keys of train_conf_set, NULL-terminated, in documentation order. */
extern const char *const train_conf_keys[];

#endif
