/* layer_util.h: helpers shared by the layer implementations (dense-like affine maps with
 * activation, the inverted-dropout mask, scratch buffers); internal to runtime/ (the layer
 * implementations and the trainer). */
#ifndef SURGERY_LAYER_UTIL_H
#define SURGERY_LAYER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/base/diag.h"
#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer.h"
#include "runtime/tensor/tensor.h"

/* Ownership: a dense_state lives in layer->state and owns its tensors; dense_free_state
 * releases them (and is safe on a layer without state). */

/* The forward cache of dense, output, rnn_output and embedding layers (training mode only). */
typedef struct dense_state {
    tensor z;        /* pre-activation, kept only when the activation's backward needs it */
    tensor dz;       /* backward scratch: gradient at the pre-activation */
} dense_state;

/* The parameters of L's activation (alpha, clip's bounds). */
static inline act_params layer_act_params(const layer *L)
{
    return (act_params){.alpha = L->alpha, .lo = L->clip_min, .hi = L->clip_max};
}

/* layer_msg(msg, n, fmt, ...): writes a formatted reason into msg (for infer) and returns -1;
 * the layers' name for diag_format. */
#define layer_msg diag_format
/* "feed-forward", "recurrent", "convolutional". */
const char *shape_kind_name(shape_kind k);

/* Makes t a [d0, d1] tensor, reusing its buffer when the element count matches. Contents are
 * unspecified. Returns 0 or -1 (out of memory). */
int scratch2(tensor *t, int64_t d0, int64_t d1);

/* Gets (allocating on first use) the layer's dense_state; NULL when out of memory. */
dense_state *dense_state_get(layer *L);
void dense_free_state(layer *L);

/* W [n_in, n_out] (+ b [n_out] when has_bias). */
int dense_param_specs(const layer *L, param_spec *specs);
/* Unit j of a dense-like layer: column j of W and b[j]; an input unit: row j of W. */
extern const unit_layout dense_unit_layout;

/* Inverted dropout: fills mask with 0 (probability p) or 1 / (1 - p) and y = x * mask (the
 * dropout layer type's; a layer's own `dropout` setting is applied by the trainer to its
 * inputs, train.h). */
void dropout_fill(rng *r, double p, const float *x, float *y, float *mask, int64_t n);

/* out = act(x W + b) over x viewed as [rows, n_in] (rows = in->size / n_in), with the forward
 * cache in training mode. The layer's `dropout` is not applied here: the trainer drops the
 * layer's inputs before the call (train.c), as for every layer type. */
int dense_like_forward(layer *L, const fwd_ctx *c);
/* Backward of dense_like_forward: grads += dL/d(params), din ADDED to (as layer.h), with no
 * allocation after the first call at a given size (dz is kept in the layer's state). With
 * use_loss and c->labels set, dz comes from the layer's loss (scaled by 1 / batch); otherwise
 * from dout through the activation. */
int dense_like_backward(layer *L, const bwd_ctx *c, bool use_loss);

/* Adds dz^T-derived gradients: dW += x^T dz, db += column sums of dz; din += dz W^T. x may be
 * NULL when no weight gradient is wanted. */
void affine_backward(layer *L, const float *x, const float *dz, int64_t rows, tensor *grads,
                     float *din);

/* The checks every loss layer (output, rnn_output) makes on its own settings: n_out given, a
 * loss, and a loss that works with the activation. Returns 0, or -1 with the reason in msg. */
int loss_layer_check(const layer *L, const char *type_name, char *msg, size_t msg_len);

#endif
