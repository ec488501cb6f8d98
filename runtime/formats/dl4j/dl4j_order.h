/* dl4j_order.h: DL4J's parameters lie in 'f' (column-major) order in the flat vector; surgery's
 * tensors are row-major. The conversion of a matrix, by cache-sized blocks. */
#ifndef SURGERY_DL4J_ORDER_H
#define SURGERY_DL4J_ORDER_H

#include <stdint.h>

/* Ownership: borrows both buffers (rows * cols floats each, not overlapping). */

/* dst[r * cols + c] = src[r + c * rows] for every r < rows, c < cols. */
void dl4j_f_to_rows(float *dst, const float *src, int64_t rows, int64_t cols);

#endif
