/* dl4j_write_impl.h: what the DL4J writer's files share: a model checked as the chain of layers
 * a MultiLayerNetwork holds, and its configuration.json. */
#ifndef SURGERY_DL4J_WRITE_IMPL_H
#define SURGERY_DL4J_WRITE_IMPL_H

#include <stddef.h>
#include "runtime/graph/model.h"

/* Ownership: order is the caller's array of m->n_layers pointers into m; the text returned by
 * dl4j_conf_text is malloc'd (the caller frees it). */

/* Puts m's layers into order as the chain DL4J's MultiLayerNetwork runs (one model input, each
 * layer taking the one before, the last one the model's one output) and checks that DL4J can
 * hold every layer. Returns 0, or -1 with the reason, naming every layer DL4J cannot hold, in
 * err. */
int dl4j_chain_of(const model *m, const layer **order, char *err, size_t err_len);

/* The MultiLayerNetwork configuration of the chain in DL4J 1.0's JSON (the fields and layout
 * DL4J 1.0.0-beta4 writes: @class names, keys sorted, two-space indents). NULL when memory
 * runs out. */
char *dl4j_conf_text(const model *m, const layer *const *order);

/* dl4j_write_conv.c: why DL4J cannot hold convolutional layer L's options (written into buf,
 * which is returned), or NULL; and the fields of L's DL4J class beside the common ones into the
 * JSON object o (jansson's json_t). */
const char *dl4j_conv_refusal(const layer *L, char *buf, size_t n);
struct json_t;
void dl4j_conv_fields(struct json_t *o, const layer *L);

#endif
