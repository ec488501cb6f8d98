/* dl4j_order.c: a column-major matrix into row-major order, in square blocks so that both the
 * reads and the writes stay within the cache. */
#include "runtime/formats/dl4j/dl4j_order.h"

#define BLOCK 64

void dl4j_f_to_rows(float *dst, const float *src, int64_t rows, int64_t cols)
{
    for (int64_t c0 = 0; c0 < cols; c0 += BLOCK) {
        int64_t c1 = c0 + BLOCK < cols ? c0 + BLOCK : cols;
        for (int64_t r0 = 0; r0 < rows; r0 += BLOCK) {
            int64_t r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++)
                    dst[r * cols + c] = src[r + c * rows];
        }
    }
}
