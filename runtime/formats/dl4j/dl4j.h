/* dl4j.h: the DL4J format: ModelSerializer zips (configuration.json + coefficients.bin), read
 * as surgery models and written from them (chain models, as MultiLayerNetworks). */
#ifndef SURGERY_DL4J_H
#define SURGERY_DL4J_H

#include "runtime/formats/format.h"

/* Ownership: a static table. */

extern const model_reader dl4j_reader;
extern const model_writer dl4j_writer;

#endif
