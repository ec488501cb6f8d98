/* safetensors.h: the safetensors weights format: a bounds-checked, memory-mapped reader and a
 * writer (8-byte little-endian header length, JSON header, raw little-endian tensor data). */
#ifndef SURGERY_SAFETENSORS_H
#define SURGERY_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "tensor.h"

/* Ownership: an st_file owns its path copy, its tensor table (names included), its metadata
 * strings and the read-only mapping of the file, until st_take_mapping hands the mapping to the
 * caller (who then munmaps it). Tensors filled by st_tensor_load with borrowing allowed point
 * into the mapping and are valid only while it is mapped. st_close(NULL) is a no-op.
 * The writer borrows everything it is given for the duration of the call. */

/* Every dtype of the safetensors specification. */
#define ST_DTYPES(X) \
    X(ST_BOOL, "BOOL", 1) X(ST_U8, "U8", 1) X(ST_I8, "I8", 1) X(ST_F8_E5M2, "F8_E5M2", 1) \
    X(ST_F8_E4M3, "F8_E4M3", 1) X(ST_I16, "I16", 2) X(ST_U16, "U16", 2) X(ST_F16, "F16", 2) \
    X(ST_BF16, "BF16", 2) X(ST_I32, "I32", 4) X(ST_U32, "U32", 4) X(ST_F32, "F32", 4) \
    X(ST_F64, "F64", 8) X(ST_I64, "I64", 8) X(ST_U64, "U64", 8)

#define ST_DTYPE_ITEM(e, s, n) e,
typedef enum { ST_DTYPES(ST_DTYPE_ITEM) ST_DTYPE_COUNT } st_dtype;
#undef ST_DTYPE_ITEM

extern const char *const st_dtype_names[ST_DTYPE_COUNT];
extern const int st_dtype_sizes[ST_DTYPE_COUNT];

/* The most dimensions a tensor in a file may have (our tensors hold at most TENSOR_MAX_DIMS). */
#define ST_MAX_DIMS 8
/* Headers larger than this are refused as corrupt (the reference implementation's limit). */
#define ST_MAX_HEADER (100u * 1000u * 1000u)

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;        /* byte offsets into the data section */
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;                  /* the whole file, mapped read-only (private) */
    size_t map_len;
    const unsigned char *data;  /* the data section (after the header) */
    uint64_t data_len;
    st_tensor *tensors;         /* sorted by name */
    int n_tensors;
    char **meta_keys, **meta_values;   /* __metadata__ */
    int n_meta;
} st_file;

/* Maps and validates a whole file: header length, header JSON (parsed with libyaml), dtypes,
 * shapes, offsets (in range, contiguous, non-overlapping, covering the data section exactly,
 * each agreeing with its shape's byte size), duplicate names. Returns NULL with a message
 * naming the file (and the tensor) in err. */
st_file *st_open(const char *path, char *err, size_t err_len);
/* Validates a file image already in memory (not copied: it must outlive the result, which
 * never unmaps it). `name` is used in messages. */
st_file *st_parse(const void *buf, size_t len, const char *name, char *err, size_t err_len);
void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);
/* A metadata value, or NULL. */
const char *st_meta(const st_file *f, const char *key);

/* Makes a float32 tensor of an entry (at most TENSOR_MAX_DIMS dimensions; F32, F64, F16 and
 * BF16 are accepted, the others refused). With allow_borrow an aligned F32 entry on a
 * little-endian machine borrows the mapping (no copy); everything else is converted into owned
 * memory. out is released first. Returns 0, or -1 with a message in err. */
int st_tensor_load(const st_file *f, const st_tensor *t, tensor *out, bool allow_borrow,
                   char *err, size_t err_len);

/* Hands the mapping to the caller (st_close then leaves it mapped); *len receives its size. */
void *st_take_mapping(st_file *f, size_t *len);

/* One tensor to write: its name and float32 data (written as F32). */
typedef struct st_entry {
    const char *name;
    const tensor *t;
} st_entry;

/* Writes a complete safetensors file to fp: entries sorted by name (duplicates refused),
 * data laid out contiguously in that order, header padded with spaces to a multiple of 8
 * bytes, `__metadata__` from the n_meta key/value pairs (meta[2i], meta[2i+1]). Returns 0, or
 * -1 with a message in err. */
int st_write(FILE *fp, const st_entry *entries, int n, const char *const *meta, int n_meta,
             char *err, size_t err_len);

/* Tensor data is written in pieces of at most this many bytes. */
#define ST_WRITE_PIECE ((size_t)16 << 20)
/* Told after each piece of tensor data st_write_cb wrote to fp: the entry, the range [from, to)
 * of its elements just passed to fwrite (the source memory is no longer needed by the writer)
 * and the file offset after them. A nonzero return fails the write. */
typedef int (*st_write_fn)(void *ctx, FILE *fp, const st_entry *e, int64_t from, int64_t to,
                           uint64_t file_end);
/* st_write, calling fn (when not NULL) after every piece of tensor data: to start the file's
 * writeback early, or to let go of source memory as soon as it is written. The bytes written
 * are the same as st_write's. */
int st_write_cb(FILE *fp, const st_entry *entries, int n, const char *const *meta, int n_meta,
                st_write_fn fn, void *ctx, char *err, size_t err_len);

#endif
