/* dl4j_build.h: what the DL4J reader's tests build and check: Nd4j.write arrays of either
 * generation, zips of named entries, the parameters of a model read from a linspace vector. */
#ifndef SURGERY_TEST_DL4J_BUILD_H
#define SURGERY_TEST_DL4J_BUILD_H

/* Ownership: the caller's buffers; entries are borrowed while write_zip runs. Helpers fail the
 * running test (cr_assert) when libzip refuses. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/graph/model.h"

typedef struct entry {
    const char *name;
    const void *data;
    size_t len;
} entry;

/* An Nd4j.write array: the 0.x generation (JAVACPP, INT shape information) or the 1.0 one
 * (MIXED_DATA_TYPES, LONG), `stored` values of type dtype in buf (big enough). Returns its
 * length. */
size_t build_array(unsigned char *buf, bool gen10, const char *dtype, int rank,
                   const int64_t *shape, const int64_t *stride, char order, const double *vals,
                   int64_t stored);
/* A row vector [1, n] of the values 1..stored. */
size_t linspace_row(unsigned char *buf, bool gen10, const char *dtype, int64_t n, int64_t stored);
/* A zip of the n entries at path. */
void write_zip(const char *path, const entry *e, int n);
/* The Nd4j.write array in the file at path (the test fails when it does not decode); the
 * caller frees it (nd4j_array_free). */
nd4j_array nd4j_read_file(const char *path);
/* Every parameter of m, layer by layer in its order, each in its parameter order, holds the
 * next values of the flat vector 1..N as a view in 'f' order of its shape (DL4J's dense and
 * recurrent layers); returns N. */
int64_t check_linspace_f(const model *m);

#endif
