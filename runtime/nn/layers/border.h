/* border.h: what zero_padding and cropping share: the four sides of their option (written as
 * padding is: [top, left, bottom, right], [height, width] or one number), shape inference, and
 * the shifted copy forward and backward; internal to zero_padding.c and cropping.c. */
#ifndef SURGERY_LAYER_BORDER_H
#define SURGERY_LAYER_BORDER_H

#include <stddef.h>
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_option.h"

/* Ownership: no state; the option descriptor is the type's static one. */

/* The border a type changes: its option, and +1 when it adds the sides (zero padding) or -1
 * when it removes them (cropping). */
typedef struct border {
    const layer_option *option;
    int sign;
} border;

int border_infer(const border *b, layer *L, const act_shape *in, int n_in, act_shape *out,
                 char *msg, size_t msg_len);
int border_forward(const border *b, layer *L, const fwd_ctx *c);
int border_backward(const border *b, layer *L, const bwd_ctx *c);

#endif
