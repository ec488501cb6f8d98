/* dl4j_coef.h: coefficients.bin read parameter by parameter: one flat Nd4j array whose values
 * fill the layers' tensors in turn, each in 'f' (column-major) order. A FLOAT vector, as DL4J
 * writes it, streams from the zip straight into the tensors (no copy of the whole entry); any
 * other array is decoded whole first. */
#ifndef SURGERY_DL4J_COEF_H
#define SURGERY_DL4J_COEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/formats/dl4j/dl4j_zip.h"
#include "runtime/tensor/tensor.h"

/* Ownership: a dl4j_coef owns its stream or decoded array and borrows the archive (which must
 * stay open until dl4j_coef_close); dl4j_coef_close(NULL) is a no-op. */

typedef struct dl4j_coef dl4j_coef;

/* Opens `entry` of z and reads its array's header. An empty entry is no values when empty_ok
 * (ModelSerializer's noParams.marker), else an error. Returns 0 with *out set, 1 when there is
 * no such entry, -1 with the reason in err ("truncated data buffer: ..."). */
int dl4j_coef_open(dl4j_zip *z, const char *entry, bool empty_ok, dl4j_coef **out, char *err,
                   size_t err_len);
/* The number of values the array holds. */
int64_t dl4j_coef_count(const dl4j_coef *c);
/* Fills t (allocated, of its parameter's shape) with the next t->size values: row-major element
 * (i0, i1, ...) from offset i0 + i1 * shape[0] + ... of them. Returns 0, or -1 with the reason
 * in err. */
int dl4j_coef_fill(dl4j_coef *c, tensor *t, char *err, size_t err_len);
/* Copies the next n values, in the file's order, to dst: for parameters DL4J lays out in an
 * order of their own. Returns 0, or -1 with the reason in err. */
int dl4j_coef_take(dl4j_coef *c, float *dst, int64_t n, char *err, size_t err_len);
/* After the last fill: reads what is left of the entry, checking that it is whole (its CRC).
 * Returns 0, or -1 with the reason in err. */
int dl4j_coef_finish(dl4j_coef *c, char *err, size_t err_len);
void dl4j_coef_close(dl4j_coef *c);

#endif
