/* arch_hash.h: the architecture hash that pairs a model's architecture with a weights file,
 * independent of the format either is stored in. */
#ifndef SURGERY_ARCH_HASH_H
#define SURGERY_ARCH_HASH_H

#include <stdint.h>
#include "runtime/graph/model.h"

/* Ownership: both functions only read the model; model_arch_hash_hex writes into out. */

/* FNV-1a 64 of a canonical text of the architecture: a version line ("surgery-model/1"), the
 * inputs (in order: name, kind, sizes), the layers sorted by name (name, type, inputs in order,
 * n_in, n_out, every parameter's key and shape), the outputs in order. Not hashed: activations,
 * losses, training settings, the frozen set, the initialisation, the normaliser. Shapes must
 * have been inferred. */
uint64_t model_arch_hash(const model *m);

/* model_arch_hash as 16 lower-case hex digits and a NUL. */
void model_arch_hash_hex(const model *m, char out[17]);

#endif
