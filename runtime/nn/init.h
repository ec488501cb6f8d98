/* init.h: parameter initialisation (DL4J's weight-init schemes) shared by model loading and the
 * surgery edits that create or grow parameters (add, resize, widen). */
#ifndef SURGERY_INIT_H
#define SURGERY_INIT_H

#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/nn/layer.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/tensor.h"

/* Ownership: everything is borrowed; t's data must already be allocated with ps's shape. */

/* Fills t (shape of ps) from `init` for weights (PARAM_WEIGHT, PARAM_RECURRENT), with the
 * constant state_init for state (PARAM_STATE) or with the
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

/* The values param_init would give a parameter, produced in pieces: for edits that need only
 * some entries of a parameter (the new units' columns or rows of a widened layer) without
 * drawing the whole tensor. The distribution is the one of the whole parameter (its spec's
 * shape, fan_in and fan_out); random values are drawn from the stream in the order of the
 * param_stream_fill calls, so filling every position in order gives exactly param_init's
 * values, and filling a subset in order gives that subset fresh draws of the same
 * distribution. Position-dependent schemes (identity) use the position in the whole tensor. */
typedef struct param_stream {
    rng r;
    int mode;            /* init.c: constant, uniform, normal or identity */
    double a, b;         /* constant value; uniform [a, b); normal mean a, std b */
    int64_t cols;        /* identity: the whole tensor's row length */
    double spare;        /* the second value of the last Box-Muller pair, when has_spare */
    int has_spare;
} param_stream;

/* Sets s up for parameter ps, drawing from a copy of r. Returns 0, or -1 for an unknown
 * scheme. */
int param_stream_init(param_stream *s, const param_spec *ps, const init_spec *init,
                      double bias_init, const rng *r);
/* Writes the values of n consecutive positions of the whole tensor, the first at row-major
 * position `first`, into dst. */
void param_stream_fill(param_stream *s, float *dst, int64_t first, int64_t n);

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
