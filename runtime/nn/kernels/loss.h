/* loss.h: the loss functions of output layers: score values, gradients with respect to the
 * pre-activation (fused where the activation allows), and which activations each loss accepts. */
#ifndef SURGERY_LOSS_H
#define SURGERY_LOSS_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/nn/kernels/activation.h"
#include "runtime/tensor/tensor.h"

/* Ownership: no state; every buffer is borrowed for the duration of the call. */

struct layer;

/* Semantics (DL4J's, per row = one example, or one time step of one sequence):
 *   mcxent, negative_log_likelihood: -sum_j y_j log p_j            (p clipped at 1e-10)
 *   negative_log_likelihood after log_softmax: -sum_j y_j p_j (p is log-probabilities)
 *   kl_divergence:                    sum_j y_j (log y_j - log p_j)  (terms with y_j = 0 are 0)
 *   xent (binary):                   -sum_j [y_j log p_j + (1 - y_j) log(1 - p_j)]  (p in [1e-7, 1 - 1e-7])
 *   hinge:                            sum_j max(0, 1 - t_j p_j), t_j = 1 when y_j > 0 else -1
 *                                     (labels in {-1, 1} or {0, 1})
 *   mse:                              mean_j (p_j - y_j)^2        (averaged over outputs, as DL4J)
 *   l1:                               mean_j |p_j - y_j|          (DL4J's mean absolute error)
 * where p is the layer's activation output and y the labels. A layer's score is the sum over
 * valid rows (mask 1) divided by the minibatch size: for rnn_output the steps of a sequence are
 * summed, then averaged over sequences. For feed-forward data this equals PyTorch's
 * reduction='mean' for mse and l1, and reduction='sum' / batch for the others. */

/* Sum over rows (skipping rows whose mask is 0; mask NULL = all valid) of the per-row loss. */
double loss_value(loss_kind loss, activation_kind act, const float *p, const float *y,
                  const float *mask, int64_t rows, int64_t cols);

/* dz = scale * d(sum of per-row losses)/dz, for rows with mask 1 (0 elsewhere). p = act(z) is
 * the activation output; z is only read when act_backward_needs_x(act) and the pair is not
 * fused. Fused pairs (exact): softmax with mcxent / negative_log_likelihood / kl_divergence
 * gives p * sum(y) - y (p - y for one-hot labels); log_softmax with negative_log_likelihood
 * (whose value is then -sum_j y_j p_j) gives e^p sum(y) - y; sigmoid with xent gives p - y. dz is
 * overwritten. */
void loss_grad(loss_kind loss, activation_kind act, act_params ap, const float *z, const float *p,
               const float *y, const float *mask, int64_t rows, int64_t cols, double scale, float *dz);

/* Whether `loss` is defined on the outputs of activation `act` (e.g. mcxent needs outputs in
 * (0, 1): softmax or sigmoid). LOSS_NONE supports nothing. */
bool loss_supports(loss_kind loss, activation_kind act);
/* The activations a loss supports, as a comma-separated list for messages. */
const char *loss_supported_list(loss_kind loss, char *buf, size_t n);

/* The score of an output layer (output: out [B, F]; rnn_output: out [T, B, F]) against labels
 * of the same shape: loss_value over every row / B. label_mask: NULL, [B] or [T, B]. */
double loss_layer_score(const struct layer *L, const tensor *out, const tensor *labels,
                        const float *label_mask);
/* Whether L (may be NULL) is a loss layer with a loss, so that loss_layer_score applies. */
bool loss_layer_has_score(const struct layer *L);

#endif
