/* init.h: parameter initialisation (DL4J's weight-init schemes) shared by model loading and the
 * surgery edits that create or grow parameters (add, resize, widen). */
#ifndef SURGERY_INIT_H
#define SURGERY_INIT_H

#include <stdint.h>
#include "conf.h"
#include "layer.h"
#include "rng.h"
#include "tensor.h"

/* Ownership: everything is borrowed; t's data must already be allocated with ps's shape. */

/* Fills t (shape of ps) from `init` for weights (PARAM_WEIGHT, PARAM_RECURRENT) or with the
 * constant bias_init for biases (PARAM_BIAS), drawing from r in row-major order:
 *   xavier          N(0, 2 / (fan_in + fan_out))        (variance)
 *   xavier_uniform  U(-s, s), s = sqrt(6 / (fan_in + fan_out))
 *   relu            N(0, 2 / fan_in)
 *   relu_uniform    U(-s, s), s = sqrt(6 / fan_in)
 *   lecun_normal    N(0, 1 / fan_in)
 *   zeros, ones     constants
 *   uniform(a, b)   U(a, b);  normal(mean, std)  N(mean, std^2)
 *   identity        ones on the main diagonal of a 2-D tensor, zeros elsewhere (a rectangular
 *                   matrix keeps as many inputs as it can, like PyTorch's eye_)
 * Returns 0, or -1 when t has no data or the wrong size. */
int param_init(tensor *t, const param_spec *ps, const init_spec *init, double bias_init, rng *r);

/* The random stream of parameter KEY of layer NAME: rng_seed_stream(seed, "NAME.KEY").
 * Returns 0, or -1 when memory for a very long name runs out. */
int param_rng(rng *r, uint64_t seed, const char *layer_name, const char *key);

/* The weight init in effect for a layer: its own `weight_init` when set, else `fallback`. */
init_spec layer_weight_init(const layer *L, const init_spec *fallback);
/* The seed in effect for a layer: its own `seed` when set, else `fallback`. */
uint64_t layer_init_seed(const layer *L, uint64_t fallback);

/* Allocates (with the shapes of L->type->param_specs) and initialises every parameter of L that
 * has no data, each from its own stream param_rng(seed, L->name, key); the forget-gate block
 * [n_out, 2*n_out) of an lstm/graves_lstm bias is set to L->forget_gate_bias. Parameters that
 * already hold data must have the specs' shapes. Returns 0, or -1 on allocation failure or a
 * shape mismatch (nothing is left half-allocated). */
int layer_init_params(layer *L, const init_spec *fallback_init, uint64_t fallback_seed);

#endif
