/* updater.h: turning a layer's gradients into parameter updates: gradient normalisation,
 * l1/l2 regularisation, the updaters (sgd, nesterovs, adam, adamw, rmsprop, adagrad, none),
 * learning-rate schedules and weight decay, with DL4J's formulas (docs/training.md). */
#ifndef SURGERY_UPDATER_H
#define SURGERY_UPDATER_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/nn/layer.h"

/* Ownership: the functions below work on a layer's own tensors. updater_layer_prepare
 * allocates L->grads[p] and L->upd_state[p][*] (owned by the layer, released by
 * updater_layer_release or by layer_free); nothing else is allocated. */

/* The learning rate at a 0-based iteration after the updater's schedule:
 *   none:         lr
 *   step:         lr * decay_rate ^ floor(iteration / decay_steps)
 *   exponential:  lr * decay_rate ^ iteration */
double updater_learning_rate(const updater_conf *u, double base_lr, int64_t iteration);

/* State tensors per parameter the updater keeps: sgd 0, none 0, nesterovs 1, rmsprop 1,
 * adagrad 1, adam 2, adamw 2. */
int updater_state_count(updater_kind kind);
/* The value a fresh state tensor starts from: epsilon for rmsprop and adagrad (as DL4J), 0
 * otherwise. */
float updater_state_init(const updater_conf *u);

/* Turns the gradient g[0..n) into the update (in place), so that the caller then applies
 * w -= g. lr is the scheduled learning rate; iteration (0-based) drives adam's bias correction;
 * s0/s1 are the state arrays (NULL where the updater keeps none). Decoupled weight decay
 * (adamw) is not part of this function: see updater_layer_compute. */
void updater_step(const updater_conf *u, double lr, int64_t iteration, float *g, float *s0,
                  float *s1, int64_t n);

/* The updater and the base learning rate (before the schedule) used for parameter p of L:
 * biases use train.bias_updater when TC_BIAS_UPDATER is set; everything else uses
 * train.updater with train.learning_rate when TC_LEARNING_RATE is set. */
const updater_conf *updater_for_param(const layer *L, param_role role, double *base_lr);

/* The number of parameter tensors of L's layout (its type's param_specs; 0 without any). */
int updater_param_count(const layer *L);

/* Allocates zeroed gradients for every parameter of L and the updater state its settings need
 * (kept when it already exists with the right size, so that several fits continue from the
 * same moments). Returns 0, or -1 when memory runs out. */
int updater_layer_prepare(layer *L);
/* Releases L's gradients and updater state (a frozen layer holds neither). */
void updater_layer_release(layer *L);
/* Zeroes L's gradients (before a backward pass). */
void updater_layer_zero_grads(layer *L);

/* Gradient normalisation over the whole layer, in place on L->grads:
 *   clip_element_wise(t):        g = clamp(g, -t, t)
 *   clip_l2_per_layer(t):        g *= t / ||g||  when ||g|| > t
 *   renormalize_l2_per_layer:    g /= ||g||      when ||g|| > 0
 * where ||g|| is the L2 norm over all of the layer's parameter gradients together. */
void updater_normalize_gradients(layer *L);

/* Turns L->grads into updates, in DL4J's order: gradient normalisation; l1/l2 added to the
 * gradient (biases only with l1_bias/l2_bias); the updater; weight decay added to the update
 * (lr * weight_decay * w, weights only) and adamw's decoupled decay (lr * decay * w). Updater
 * state advances. iteration is the 0-based count of updates made before this one. Returns -1
 * when every gradient and update is finite; otherwise stops at the first parameter whose
 * gradient (as the updater receives it) or update holds a NaN or an infinity, returns its
 * index and sets *bad_gradient (when not NULL) to whether the gradient itself was at fault.
 * The parameters themselves are never touched. */
int updater_layer_compute(layer *L, int64_t iteration, bool *bad_gradient);
/* Applies the updates computed by updater_layer_compute: params -= grads (borrowed
 * parameters are copied first). Returns 0, or -1 when memory runs out. */
int updater_layer_apply(layer *L);

/* True when every element of x[0..n) is finite. */
bool updater_all_finite(const float *x, int64_t n);

#endif
