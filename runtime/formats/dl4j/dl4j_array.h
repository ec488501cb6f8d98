/* dl4j_array.h: Nd4j.write arrays (the format of DL4J's coefficients.bin and of its saved
 * INDArrays): both generations, FLOAT, DOUBLE and HALF data, any stored order and strides. */
#ifndef SURGERY_DL4J_ARRAY_H
#define SURGERY_DL4J_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/base/limits.h"

/* Ownership: an nd4j_array owns data (nd4j_array_free releases it; a zeroed array is empty). */

typedef struct nd4j_array {
    int rank;
    int64_t shape[LIMIT_ND4J_RANK];
    int64_t count;     /* product of shape */
    float *data;       /* count values in logical row-major ('c') order, whatever was stored */
} nd4j_array;

/* Decodes the array at the start of buf (len bytes): the shape-information buffer, then the
 * data buffer, each checked against what is left before anything is allocated. *used (may be
 * NULL) receives the bytes the array took. Returns 0, or -1 with the reason in err ("truncated
 * data buffer: 164 of 400 bytes", "unknown data type 'UTF8'"). */
int nd4j_array_decode(const unsigned char *buf, size_t len, nd4j_array *out, size_t *used,
                      char *err, size_t err_len);
void nd4j_array_free(nd4j_array *a);

/* The bytes before an array's values are fewer than this (any rank up to LIMIT_ND4J_RANK). */
#define ND4J_HEADER_MAX 1024

/* For reading an array in pieces: head holds its first len bytes (at least ND4J_HEADER_MAX, or
 * all of it), total its length. Checks the header as nd4j_array_decode does; for a FLOAT array
 * whose values lie in logical row-major order (as DL4J writes a parameter vector) sets *count
 * and *data_at, the offset of the first value (big-endian float32 from there on), and returns
 * 0. Returns 1 for any other valid header (decode the array whole), -1 with the reason in err. */
int nd4j_array_plain_floats(const unsigned char *head, size_t len, size_t total, int64_t *count,
                            size_t *data_at, char *err, size_t err_len);

/* For writing arrays: stores v as n big-endian bytes at p; stores s as Java's writeUTF does
 * (a 2-byte big-endian length, then the bytes; s is ASCII). Each returns the bytes it wrote. */
size_t nd4j_put_be(unsigned char *p, uint64_t v, int n);
size_t nd4j_put_utf(unsigned char *p, const char *s);

#endif
