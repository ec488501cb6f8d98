/* elementwise.h: shape inference, forward and backward shared by the add, average and multiply
 * vertices; internal to runtime/nn/layers/. */
#ifndef SURGERY_LAYER_ELEMENTWISE_H
#define SURGERY_LAYER_ELEMENTWISE_H

#include <stddef.h>
#include "runtime/nn/layer.h"

/* Ownership: no state. */

/* All inputs of one kind and one size; the output has that shape. */
int elementwise_infer(const char *what, layer *L, const act_shape *in, int n_in, act_shape *out,
                      char *msg, size_t msg_len);
/* out = scale * sum of inputs; din[i] += scale * dout. */
int elementwise_forward(const fwd_ctx *c, float scale);
int elementwise_backward(const bwd_ctx *c, float scale);
/* out = the product of the inputs; din[i] += dout * the product of the other inputs (computed,
 * not divided out, so that zeros in the inputs are exact). */
int elementwise_product_forward(const fwd_ctx *c);
int elementwise_product_backward(const bwd_ctx *c);

#endif
