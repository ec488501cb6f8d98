/* conv_layer.h: what the convolutional layer types (conv2d, depthwise_conv2d,
 * separable_conv2d) share: their kernel, stride, padding, dilation, groups and multiplier
 * options, the check of their input, and forward and backward through one or two chained
 * convolutions (depthwise then pointwise) with the layer's activation. */
#ifndef SURGERY_CONV_LAYER_H
#define SURGERY_CONV_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/nn/kernels/conv.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_option.h"

/* Ownership: a conv_state lives in layer->state and owns its tensors; conv_free_state releases
 * them (safe on a layer without state). Option descriptors are static. */

extern const layer_option conv_opt_kernel, conv_opt_stride, conv_opt_padding, conv_opt_dilation,
    conv_opt_groups, conv_opt_multiplier;

/* The convolutions of a layer: stage 0 reads the layer's input, the last writes its output;
 * stage s uses params[s] as its weights, and the last adds the bias params[n_stages] when the
 * layer has one. */
#define CONV_MAX_STAGES 2
typedef struct conv_plan {
    int n_stages;
    conv_geom stage[CONV_MAX_STAGES];
} conv_plan;

/* Checks that a layer of type `type_name` has one convolutional input, sets L->n_in to its
 * channels (checking a given n_in) and fills g's input and kernel part from L's kernel, stride
 * and dilation, with c_out and groups as given, then completes it for L's padding. Returns 0,
 * or -1 with the reason in msg. */
int conv_layer_geom(layer *L, const char *type_name, const act_shape *in, int n_in,
                    int64_t c_out, int64_t groups, conv_geom *g, char *msg, size_t msg_len);

/* The integer value of a stored scalar option (groups, multiplier) of L. */
int64_t conv_layer_int(const layer *L, const layer_option *o);

/* Checks the activation of a convolutional layer (softmax over channels is not supported). */
int conv_layer_check_activation(const layer *L, const char *type_name, char *msg, size_t n);

/* Forward and backward of L through plan p (as layer.h's forward and backward). */
int conv_layer_forward(layer *L, const conv_plan *p, const fwd_ctx *c);
int conv_layer_backward(layer *L, const conv_plan *p, const bwd_ctx *c);
void conv_free_state(layer *L);

/* Defines a type's forward and backward, NAME_forward and NAME_backward, over the plan that
 * PLAN_FN(layer *, const act_shape *in, int n_in, conv_plan *, char *msg, size_t) makes for
 * the layer's inferred input shape. */
#define CONV_LAYER_PASSES(NAME, PLAN_FN)                                                      \
    static int NAME##_forward(layer *L, const fwd_ctx *c)                                    \
    {                                                                                         \
        conv_plan p;                                                                          \
        return PLAN_FN(L, &L->in_shape, 1, &p, NULL, 0) ? -1 : conv_layer_forward(L, &p, c); \
    }                                                                                         \
    static int NAME##_backward(layer *L, const bwd_ctx *c)                                   \
    {                                                                                         \
        conv_plan p;                                                                          \
        return PLAN_FN(L, &L->in_shape, 1, &p, NULL, 0) ? -1 : conv_layer_backward(L, &p, c); \
    }

#endif
