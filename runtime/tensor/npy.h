/* npy.h: NumPy .npy arrays: header parsing (format versions 1-3), reading numeric arrays into
 * float32 tensors or int64 labels (whole or a row range at a time), writing float32 arrays. */
#ifndef SURGERY_NPY_H
#define SURGERY_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "runtime/tensor/tensor.h"

/* Ownership: an npy_file owns its FILE and its path copy; npy_close(NULL) is a no-op. Tensors
 * and label arrays filled by the readers belong to the caller. */

#define NPY_DTYPES(X) \
    X(NPY_F2, "f2", 2) X(NPY_F4, "f4", 4) X(NPY_F8, "f8", 8) X(NPY_I1, "i1", 1) \
    X(NPY_I2, "i2", 2) X(NPY_I4, "i4", 4) X(NPY_I8, "i8", 8) X(NPY_U1, "u1", 1) \
    X(NPY_U2, "u2", 2) X(NPY_U4, "u4", 4) X(NPY_U8, "u8", 8) X(NPY_B1, "b1", 1)

#define NPY_DTYPE_ITEM(e, s, n) e,
typedef enum { NPY_DTYPES(NPY_DTYPE_ITEM) NPY_DTYPE_COUNT } npy_dtype;
#undef NPY_DTYPE_ITEM

extern const char *const npy_dtype_names[NPY_DTYPE_COUNT];

#define NPY_MAX_DIMS 8

typedef struct npy_file {
    char *path;
    FILE *fp;
    npy_dtype dtype;
    int itemsize;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int64_t count;          /* elements */
    int64_t rows;           /* shape[0] (1 for a 0-d array) */
    int64_t row_elems;      /* elements per row: count / rows (product of shape[1..]) */
    long data_offset;       /* where the data starts in the file */
} npy_file;

/* Opens a file and validates its header: magic, version 1.0/2.0/3.0, a little-endian (or
 * single-byte) numeric dtype ('<f2' '<f4' '<f8' '<i1'..'<i8' '<u1'..'<u8' '|b1', also '|i1'
 * '|u1'), C order, and a file long enough for the data. Refuses Fortran order, big-endian,
 * object, string and structured dtypes with a message naming the file. Returns NULL then. */
npy_file *npy_open(const char *path, char *err, size_t err_len);
void npy_close(npy_file *f);

/* Reads rows [row0, row0 + nrows) (row = first-axis slice) converted to float into dst
 * (nrows * row_elems floats). Returns 0, or -1 with a message. */
int npy_read_rows(npy_file *f, int64_t row0, int64_t nrows, float *dst, char *err, size_t err_len);

/* A whole array as a float32 tensor of the same shape (at most TENSOR_MAX_DIMS dimensions).
 * out is released first. Every value must be finite: a NaN, an infinity or a float64 past the
 * float32 range is refused naming its element ("element 5 (index [1, 1]) is NaN"). Returns 0,
 * or -1 with a message naming the file. */
int npy_read_float(const char *path, tensor *out, char *err, size_t err_len);

/* A whole array of integer labels (any integer or bool dtype; float arrays whose values are
 * all whole numbers are accepted too): *labels (malloc'd, *count elements) and its shape.
 * Returns 0, or -1 with a message naming the file and the first offending element. */
int npy_read_labels(const char *path, int64_t **labels, int64_t *count, int *ndim,
                    int64_t shape[NPY_MAX_DIMS], char *err, size_t err_len);

/* Writes t as a version 1.0 '<f4' C-order array to fp (the caller owns fp: use an atomic_file
 * for files). Returns 0, or -1 with a message. */
int npy_write_float(FILE *fp, const tensor *t, char *err, size_t err_len);
/* Writes t to path atomically (temporary + rename): the old file or the complete new one. */
int npy_save_float(const char *path, const tensor *t, char *err, size_t err_len);

#endif
