/* summary.h: DL4J-style model summary tables (layer, nIn/nOut, parameter counts and shapes,
 * vertex inputs for graphs, frozen layers marked) with total/trainable/frozen totals. */
#ifndef SURGERY_SUMMARY_H
#define SURGERY_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>
#include "runtime/graph/model.h"

/* Ownership: the model and fp are borrowed. */

/* Whether the model is a plain chain: one input, every layer fed by the one before it (the first
 * by the input), one output, the last layer. Graphs get input rows and a Vertex Inputs column. */
bool model_is_chain(const model *m);

/* Writes the summary table of m (shapes inferred; weights not needed) to fp, layers in
 * topological order. Returns 0, or -1 on a write error or when memory runs out. */
int model_summary(const model *m, FILE *fp);

#endif
