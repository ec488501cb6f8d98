/* checked.h: size arithmetic that reports overflow instead of wrapping, for every size that
 * comes from a file (headers, shapes, counts). */
#ifndef SURGERY_CHECKED_H
#define SURGERY_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

/* Ownership: pure functions on values; nothing is allocated or kept. */

/* *out = a * b and true; false (with *out unspecified) when either factor is negative or the
 * product does not fit in int64_t. */
static inline bool checked_mul(int64_t a, int64_t b, int64_t *out)
{
    return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, out);
}

/* *out = a + b and true; false when either term is negative or the sum does not fit. */
static inline bool checked_add(int64_t a, int64_t b, int64_t *out)
{
    return a >= 0 && b >= 0 && !__builtin_add_overflow(a, b, out);
}

/* *out = a * b * c and true; false as for checked_mul. */
static inline bool checked_mul3(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    int64_t ab;
    return checked_mul(a, b, &ab) && checked_mul(ab, c, out);
}

#endif
