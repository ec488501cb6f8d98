/* activation.h: element-wise (and row-wise softmax) activation functions, forward and backward,
 * over contiguous [rows, cols] float32 buffers. */
#ifndef SURGERY_ACTIVATION_H
#define SURGERY_ACTIVATION_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/base/conf.h"

/* Ownership: no state; every buffer is borrowed for the duration of the call. */

/* The parameters of an activation: alpha (leakyrelu, elu; see act_alpha) and the bounds of
 * clip(lo, hi), lo < hi; the others ignore them. */
typedef struct act_params {
    double alpha;
    double lo, hi;
} act_params;

/* SELU's fixed constants (PyTorch's torch.nn.SELU, ONNX's Selu defaults). */
#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f

/* True for the activations that work on each row of values together (softmax, log_softmax)
 * rather than on each value. */
bool act_is_row_wise(activation_kind a);

/* The alpha an activation uses: `alpha` when positive, else the activation's default
 * (leakyrelu 0.01, elu 1.0). A layer's alpha of 0 (the default) means "the default". */
double act_alpha(activation_kind a, double alpha);

/* y = f(x) over n = rows * cols values; softmax and log_softmax work on each row of `cols`
 * values (max-subtracted). y may alias x. */
void act_forward(activation_kind a, act_params p, const float *x, float *y, int64_t rows, int64_t cols);

/* True when act_backward needs the pre-activation x (gelu, swish); every other activation computes its
 * derivative from the output y alone, and x may then be NULL. */
bool act_backward_needs_x(activation_kind a);

/* dx = dy * f'(x) (softmax: the row-wise Jacobian-vector product y * (dy - sum(dy * y));
 * log_softmax: dy - e^y sum(dy)).
 * dx is overwritten and may alias dy. clip passes dy where lo < y < hi (PyTorch's hardtanh
 * and clamp pass it on the bounds too; the difference is a set of measure zero). */
void act_backward(activation_kind a, act_params p, const float *x, const float *y, const float *dy,
                  float *dx, int64_t rows, int64_t cols);

#endif
