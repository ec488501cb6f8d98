/* safetensors.h: the safetensors weights format: a bounds-checked, memory-mapped reader and a
 * writer (8-byte little-endian header length, JSON header, raw little-endian tensor data). */
#ifndef SURGERY_SAFETENSORS_H
#define SURGERY_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "runtime/base/limits.h"
#include "runtime/tensor/tensor.h"

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
#define ST_MAX_HEADER LIMIT_SAFETENSORS_HEADER_BYTES

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
    int fd;                     /* st_open's file, open for reading until st_close (else -1) */
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
/* Hands st_open's descriptor of the file to the caller (st_close then leaves it open); -1 for
 * a file image st_parse validated. */
int st_take_fd(st_file *f);

/* One tensor to write: its name and float32 data (written as F32). */
typedef struct st_entry {
    const char *name;
    const tensor *t;
} st_entry;

/* The header of a safetensors file of these entries: the 8-byte little-endian length, then
 * the JSON (`__metadata__` from the n_meta key/value pairs meta[2i], meta[2i+1]; every entry's
 * dtype F32, shape and data_offsets, the data laid out contiguously in name order), padded
 * with spaces to a multiple of 8 bytes. *header (malloc'd, *header_len bytes) and *sorted
 * (malloc'd: the n entries in the order of their data) are the caller's to free. Duplicate
 * names are refused. Returns 0, or -1 with a message in err. */
int st_header(const st_entry *entries, int n, const char *const *meta, int n_meta,
              char **header, size_t *header_len, st_entry **sorted, char *err, size_t err_len);

/* Writes a complete safetensors file to fp: st_header, then every entry's data as
 * little-endian F32 (a pending tensor's values run by run, never assembled). Returns 0, or -1
 * with a message in err. */
int st_write(FILE *fp, const st_entry *entries, int n, const char *const *meta, int n_meta,
             char *err, size_t err_len);

#endif
