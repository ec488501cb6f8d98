/* data_impl.h: what the data readers share: the dataset structure, the reader vtable, option
 * access, CSV record parsing, hashing and memory accounting. Private to runtime/data*.c. */
#ifndef SURGERY_DATA_IMPL_H
#define SURGERY_DATA_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>     /* XXH3 on the widest vector unit the processor has */
#endif
#endif
#include "runtime/data/data.h"

/* Ownership: a dataset owns `impl` (freed by its reader's close), `order`, `name`, `vocab` and
 * `norm`. Option values read through opt_* are borrowed from the spec during data_open. */

typedef struct data_reader {
    /* Fills b (zeroed on entry) with the examples ids[0..n), in that order. Returns 0 or -1
     * (reported through d). */
    int (*fill)(dataset *ds, const int64_t *ids, int64_t n, batch *b, diag_ctx *d);
    /* Feeds the bytes of every file the dataset reads to the hash. */
    int (*hash)(dataset *ds, XXH3_state_t *h, diag_ctx *d);
    void (*close)(dataset *ds);
} data_reader;

struct dataset {
    const data_reader *ops;
    data_source source;
    char *name;
    src_loc loc;
    int64_t features, classes, outputs, count, batch;
    bool sequence, shuffle;
    bool in_order;               /* this epoch ignores `order` */
    bool align_end;              /* sequences padded at the start (align = end) */
    int64_t steps;               /* sequences: the steps of every batch, 0 when batches pad */
    int64_t image_c, image_h, image_w;   /* image data: one example's shape; 0 otherwise */
    bool image_batches;          /* x is [B, C, H, W] rather than [B, F] */
    norm_kind normalize;         /* the option */
    normalizer norm;             /* applied when kind != NORM_NONE */
    int64_t *order;              /* epoch order when shuffling; NULL = file order */
    int64_t cursor;
    unsigned char *vocab;        /* text */
    int64_t vocab_len;
    char settings[512];          /* canonical example-changing options, for the hash */
    size_t held, peak, index_bytes;
    void *impl;
};

/* Reader entry points: each validates its own arguments/options, fills ds (features, classes,
 * outputs, count, sequence, impl, ops, settings) and reports errors. Return 0 or -1. With
 * probe set, only the header/first record is read and ds->impl may stay NULL. */
int csv_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe);
int csv_sequence_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe);
int npy_data_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe);
int idx_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe);
int text_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe);
int images_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe);

/* ---- options and source arguments ---- */

/* The option of the data statement, or NULL. */
const conf_arg *data_opt(const data_spec *spec, const char *key);
/* Integer option in [lo, hi] (hi < 0: no upper bound); *out keeps its default when absent.
 * Returns 0, or -1 (reported at the value). */
int opt_int(const data_spec *spec, const char *key, int64_t lo, int64_t hi, int64_t *out, diag_ctx *d);
int opt_bool(const data_spec *spec, const char *key, bool *out, diag_ctx *d);
/* An identifier option from names[0..n); *out = index. */
int opt_ident(const data_spec *spec, const char *key, const char *const *names, int n, int *out, diag_ctx *d);
/* A string option; *out borrowed from the spec (unchanged when absent). */
int opt_string(const data_spec *spec, const char *key, const char **out, diag_ctx *d);
/* A source-call argument given by name, or else as positional argument `position`; NULL when
 * absent. */
const conf_value *src_arg(const data_spec *spec, const char *name, int position);
/* A required string argument resolved against the script's folder (malloc'd), or NULL
 * (reported). what names it in the message ("the feature file"). */
char *src_path_arg(const data_spec *spec, const char *name, int position, const char *what, diag_ctx *d);
/* The common options batch, shuffle, normalize (when allowed) and limit. */
int data_common_options(dataset *ds, const data_spec *spec, bool allow_normalize, bool allow_limit,
                        int64_t *limit, diag_ctx *d);
/* Allocates x for n examples of image data: [n, C, H, W] when ds->image_batches, else [n, F].
 * Returns 0, or -1 when out of memory. */
int image_batch_alloc(dataset *ds, tensor *x, int64_t n);
/* A src_loc in a data file (path interned in d). */
src_loc file_loc(diag_ctx *d, const char *path, int64_t line, int64_t col, int64_t len);
/* Notes where the failing data statement is, after an error in one of its files. */
void data_note(const dataset *ds, diag_ctx *d);
/* Appends "key=value;" to ds->settings. */
void data_setting(dataset *ds, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- memory accounting ---- */
void data_hold(dataset *ds, int64_t delta);
/* Grows a buffer to at least n bytes, accounting for the growth. */
int data_grow(dataset *ds, void **buf, size_t *cap, size_t n);

/* ---- CSV records ---- */

/* A CSV record parser result: the number of fields, and on failure the field (1-based column
 * and byte length) and a reason. */
typedef struct csv_error {
    int64_t col, len;
    char msg[160];
} csv_error;

/* Reads one line (without the newline; "\r\n" handled) into *buf. Returns the number of
 * bytes consumed including the newline, 0 at end of file, -1 on a read error or (errno EFBIG)
 * a line longer than LIMIT_CSV_LINE_BYTES (runtime/base/limits.h). */
int64_t csv_read_line(FILE *f, char **buf, size_t *cap, size_t *len, dataset *ds);
/* The message for csv_read_line's -1 with errno err: the line limit, or the read error. */
void csv_read_problem(int err, char *msg, size_t len);
/* Reports csv_read_line's -1 (errno err) at path:line; returns -1. */
int csv_report_read(dataset *ds, const char *path, int64_t line, int err, diag_ctx *d);
/* Refuses (reported at path:line, 0 or -1) a record of more than LIMIT_CSV_FIELDS fields. */
int csv_check_fields(dataset *ds, const char *path, int64_t line, int64_t fields, diag_ctx *d);
/* True when the line holds only blanks. */
bool csv_blank(const char *s, size_t len);
/* Splits s[0..len) at delim and parses each field as a finite number into vals[0..max).
 * Returns the field count (fields past max are counted, not parsed), or -1 with *err set. */
int64_t csv_parse(const char *s, size_t len, char delim, double *vals, int64_t max, csv_error *err);
/* The 1-based column and byte length of field `field` (0-based) of a record. */
void csv_field_span(const char *s, size_t len, char delim, int64_t field, int64_t *col, int64_t *flen);
/* Checks that a class label is an integer in [0, classes). Returns 0, or -1 with *err->msg set. */
int check_class_label(double v, int64_t classes, csv_error *err);

/* ---- hashing (XXH3, 64 bit, streaming) ---- */
/* Feeds the whole file at path to h, then its length. Returns 0, or -1 (reported at loc). */
int hash_file(XXH3_state_t *h, const char *path, diag_ctx *d, src_loc loc);

/* Reads exactly n bytes at offset. Returns 0, or -1. */
int read_at(FILE *f, int64_t offset, void *buf, size_t n);

#endif
