/* conv.h: 2-D convolution over NCHW float32 data, forward and backward, by im2col and sgemm
 * (OpenBLAS): forward one product an image and group, the images split across threads;
 * backward one product a group for a chunk of images; the geometry of a convolution (output size, `same`
 * padding) shared by the convolutional layer types. */
#ifndef SURGERY_CONV_H
#define SURGERY_CONV_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/nn/kernels/activation.h"

/* Ownership: no state; every buffer is borrowed for the duration of the call. */

/* The shape of one convolution: input c_in x h_in x w_in, c_out filters of kh x kw over
 * c_in / groups channels each, stride, dilation and the zero padding of each side. */
typedef struct conv_geom {
    int64_t c_in, h_in, w_in;
    int64_t c_out, h_out, w_out;
    int64_t kh, kw, sh, sw, dh, dw;
    int64_t pt, pl, pb, pr;     /* top, left, bottom, right */
    int64_t groups;
} conv_geom;

/* Completes g (c_in, h_in, w_in, c_out, kernel, stride, dilation and groups set) for the padding
 * `mode` (padding_mode of layer_option.h: valid, same, explicit with sides[4] = top, left,
 * bottom, right): the padding of each side and the output size. `same` gives
 * out = ceil(in / stride) with the odd cell of padding at the bottom and right. Returns 0, or -1
 * with the reason in msg when the kernel does not fit the padded input. */
int conv_geom_complete(conv_geom *g, int mode, const int64_t *sides, char *msg, size_t msg_len);

/* Floats of scratch the forward and backward of g over batch images need (the im2col matrix
 * and the product of one group, for a chunk of the images). */
int64_t conv_scratch_size(const conv_geom *g, int64_t batch);

/* The activation applied to a convolution's output: y = f(y) after the bias; z, when not NULL,
 * receives the values before it ([batch, c_out, h_out, w_out]). */
typedef struct conv_act {
    activation_kind kind;
    act_params params;
    float *z;
} conv_act;

/* y [batch, c_out, h_out, w_out] = act(conv(x [batch, c_in, h_in, w_in], W [c_out, c_in / groups,
 * kh, kw]) + b) (b NULL: no bias; act NULL: none). scratch holds conv_scratch_size(g, batch) floats. An
 * image's output is the same bits whatever the batch and thread count. */
void conv_forward(const conv_geom *g, int64_t batch, const float *x, const float *W,
                  const float *b, const conv_act *act, float *y, float *scratch);

/* Adds the gradients of conv_forward for dy: dW += dL/dW, db += dL/db, dx += dL/dx; each may be
 * NULL when not wanted. scratch holds conv_scratch_size(g, batch) floats. */
void conv_backward(const conv_geom *g, int64_t batch, const float *x, const float *W,
                   const float *dy, float *dx, float *dW, float *db, float *scratch);

#endif
