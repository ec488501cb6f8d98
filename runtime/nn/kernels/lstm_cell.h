/* lstm_cell.h: the LSTM math shared by the lstm and graves_lstm layer types (shape inference,
 * parameter layout, forward over time-major sequences, backpropagation through time). */
#ifndef SURGERY_LSTM_CELL_H
#define SURGERY_LSTM_CELL_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/nn/layer.h"

/* Ownership: every function works on a layer it borrows. lstm_forward creates L->state (an
 * opaque workspace that holds reusable buffers, the training cache and the final h, c of the
 * last forward call for carry_state); lstm_free_state releases it and resets L->state to NULL
 * (a layer without state is a no-op). Releasing the state also forgets the carried h, c, so a
 * trainer keeps it across the segments of one truncated-BPTT sequence.
 *
 * Layout (DL4J): W [n_in, 4n], RW [n, 4n] (peepholes: [n, 4n + 3]), b [4n]. Gate blocks in the
 * 4n columns: block input a (layer activation) | forget f | output o | input gate i (sigmoid).
 * Peephole columns 4n, 4n+1, 4n+2: forget (c[t-1]), output (c[t]), input gate (c[t-1]).
 *   f = sigmoid(zf + pf c[t-1]), i = sigmoid(zi + pi c[t-1]), a = act(za),
 *   c[t] = f c[t-1] + i a, o = sigmoid(zo + po c[t]), h[t] = o act(c[t]).
 * Masked steps ([time, batch] 0/1 mask) output zero and carry h and c through unchanged.
 * The cell applies no dropout: the trainer drops a layer's input before its forward (train.c),
 * as for every layer type, and the cell trains on the input it is given. */

/* Shape inference for both types: one recurrent input; sets L->n_in; out is recurrent n_out.
 * Activations softmax and gelu are refused (one-line reason in msg). */
int lstm_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg, size_t msg_len);
/* W, RW and (when has_bias, the default) b, with DL4J's fans (fan_in = n_out, fan_out =
 * n_in + n_out). Without a bias the gates get none. */
int lstm_param_specs(const layer *L, param_spec *specs, bool peephole);
/* Input [T, B, n_in] -> output [T, B, n_out]. Returns 0, or -1 when memory runs out. */
int lstm_forward(layer *L, const fwd_ctx *c, bool peephole);
/* Backpropagation through the whole sequence of the last training-mode forward call (its cache
 * is consumed: one backward per training forward). Adds parameter gradients into c->grads
 * (when not NULL) and the input gradient into c->din[0] (when not NULL). Returns 0 or -1. */
int lstm_backward(layer *L, const bwd_ctx *c, bool peephole);
void lstm_free_state(layer *L);

/* The layer reading its sequence last step first (ONNX's reverse direction, the backward half
 * of a bidirectional layer): lstm_forward over the time-reversed input and mask (from zero
 * state, never carried), its output reversed back, so that output step t is the reversed
 * pass's state after reading steps T-1 .. t. The backward pairs with it the same way (the
 * state keeps the reversed copies). Returns 0 or -1. */
bool lstm_initial_state(const layer *L);   /* its option initial_state (h0, c0 parameters) */
bool lstm_reversed(const layer *L);   /* its option reverse (false for a type without it) */
int lstm_forward_reversed(layer *L, const fwd_ctx *c, bool peephole);
int lstm_backward_reversed(layer *L, const bwd_ctx *c, bool peephole);
/* dst[t] = src[t'] with t' = T - 1 - t for a time-major [T, B, F] tensor (dst shaped like src);
 * the same for a [T, B] mask; a [T, B, F] tensor in t (kept when it already has that shape;
 * 0, or -1 when memory runs out). */
void lstm_reverse_time(const tensor *src, tensor *dst);
void lstm_reverse_mask(const float *mask, int64_t T, int64_t B, float *dst);
/* dst[t] += src[T - 1 - t] for time-major [T, B, F] tensors of one shape: a reversed pass's
 * input gradient added to the layer's. */
void lstm_add_reversed(const tensor *src, tensor *dst);
int lstm_tensor_like(tensor *t, int64_t T, int64_t B, int64_t F);

#endif
