/* data.h: datasets named by `data` statements (csv, csv_sequence, npy, idx, text, images), read batch
 * by batch with bounded memory, seeded shuffling, feature normalisation and content hashing. */
#ifndef SURGERY_DATA_H
#define SURGERY_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "runtime/graph/model.h"
#include "runtime/tensor/tensor.h"
#include "runtime/base/conf.h"
#include "runtime/base/diag.h"
#include "runtime/base/loc.h"

/* Ownership: a dataset owns its open files, its record index, its copy of the normaliser and
 * its vocabulary; data_close(NULL) is a no-op. The spec passed to data_open/data_probe, and
 * everything it points to, is borrowed for the call only. A batch filled by data_next belongs to the caller, who releases
 * it with batch_release (releasing a zeroed batch is a no-op); data_next releases the batch it
 * is given before filling it, so one batch struct can be reused across calls. Normalisers
 * returned by data_fit_normalizer own their arrays (free them with data_normalizer_release). */

/* One minibatch. Feed-forward data: x [B, F], y [B, K]. Image data (images, 4-D npy, and idx
 * for a convolutional model input): x [B, C, H, W] (NCHW; F = C * H * W), y [B, K]; flattened to
 * [B, F] in that order when the model input is feed-forward. Sequence data (time-major): x [T, B, F],
 * y [T, B, K]. y is one-hot for classification (K = classes) and the targets for regression
 * (K = outputs). mask [T, B] marks the steps that carry features and label_mask [T, B] the steps
 * that carry labels; both are empty (ndim 0, data NULL) when every step of the batch does. */
typedef struct batch {
    tensor x;
    tensor y;
    tensor mask;
    tensor label_mask;
    int64_t n;               /* examples in the batch (B) */
} batch;

typedef enum { DATA_CSV, DATA_CSV_SEQUENCE, DATA_NPY, DATA_IDX, DATA_TEXT, DATA_IMAGES, DATA_SOURCE_COUNT } data_source;
extern const char *const data_source_names[DATA_SOURCE_COUNT];

typedef struct dataset dataset;

/* What the header (or first record) of a data source says, for `surgery check`. */
typedef struct data_info {
    data_source source;
    int64_t features;        /* per example (per step for sequences) */
    bool sequence;
    int64_t classes;         /* 0 = regression */
    int64_t outputs;         /* width of y: classes, or regression targets */
    int64_t channels, height, width;   /* image data (features = C * H * W); 0 otherwise */
} data_info;

/* What a `data` statement says, as the readers take it (the script executor and the checker
 * fill it from the statement; nothing here knows the statement itself). */
typedef struct data_spec {
    const char *name;           /* the dataset's name */
    src_loc loc;                /* the statement's keyword; paths resolve against loc.file's folder */
    const conf_value *source;   /* the source call: csv("f.csv", ...), npy(...), ... */
    const conf_arg *opts;       /* the option block, in source order */
    int n_opts;
    const model_input *input;   /* the model input the data feeds, or NULL when not known: idx
                                 * images are [B, 1, H, W] for a convolutional input ([B, H*W]
                                 * otherwise); images and 4-D npy are NCHW unless it is feed-forward */
} data_spec;

/* Opens the data of a spec: resolves its paths against the script's folder,
 * validates the source's arguments and options, opens the files and reads every record once to
 * validate it (field counts, numbers, labels, finiteness) and to build the record index. Every
 * problem is reported through d at the script's option or at file:line:col; returns NULL then. */
dataset *data_open(const data_spec *spec, diag_ctx *d);
void data_close(dataset *ds);

/* Reads only what the header or the first record needs (no full pass, except a text source
 * without `vocab`, whose vocabulary is the file's distinct bytes). Returns 0, or -1 with the
 * errors reported. data_probe is the short form of data_probe_info. */
int data_probe_info(const data_spec *spec, diag_ctx *d, data_info *info);
int data_probe(const data_spec *spec, diag_ctx *d, int64_t *features, bool *sequence, int64_t *classes);

const char *data_name(const dataset *ds);            /* the statement's name */
data_source data_source_of(const dataset *ds);
src_loc data_loc(const dataset *ds);                 /* the statement's keyword */
int64_t data_features(const dataset *ds);
int64_t data_classes(const dataset *ds);             /* 0 = regression */
int64_t data_outputs(const dataset *ds);             /* width of y */
bool data_is_sequence(const dataset *ds);
int64_t data_count(const dataset *ds);               /* examples (after `limit`) */
int64_t data_batch_size(const dataset *ds);
bool data_shuffles(const dataset *ds);
/* Sequences of different lengths are padded at the start (align = end) rather than the end. */
bool data_aligns_end(const dataset *ds);
/* The steps of every batch when no batch pads: 1 for feed-forward data, T for sequences that all
 * have T steps (and the same labelled steps); 0 when batches pad to their longest sequence.
 * When it is not 0, an example's rows of x, y, mask and label_mask are the same whatever
 * examples share its batch, so consecutive batches may be read as one (data_next_n) and split. */
int64_t data_fixed_steps(const dataset *ds);
/* The `normalize` option (NORM_NONE when absent); the runtime fits it on training data. */
norm_kind data_normalize_option(const dataset *ds);
/* Image data: channels, height and width of one example (all 0 for other data). */
void data_image_shape(const dataset *ds, int64_t *channels, int64_t *height, int64_t *width);
/* images sources: the class names (the class folders, sorted; class i is name i), borrowed from
 * the dataset, *n set to data_classes; NULL (and *n = 0) for other sources. Whoever saves the
 * model takes them from here so predictions map back to names. */
const char *const *data_class_names(const dataset *ds, int64_t *n);
/* text sources: the vocabulary (byte i is class/feature i); NULL for other sources. */
const unsigned char *data_vocab(const dataset *ds, int64_t *len);

/* Starts an epoch: examples in file order, or, with shuffle = true, in an order drawn from
 * seed (the same seed always gives the same order): the identity 0..count-1 permuted by
 * rng_shuffle after rng_seed(seed). Returns 0, or -1 when out of memory. */
int data_reset(dataset *ds, uint64_t seed);
/* Starts an epoch in file order whatever the shuffle option says. Returns 0. */
int data_reset_in_order(dataset *ds);
/* The next batch of the epoch (the last one may be smaller). Returns 1 with b filled, 0 at the
 * end of the epoch (b left empty), -1 on an error reported through d. */
int data_next(dataset *ds, batch *b, diag_ctx *d);
/* Like data_next with max (>= 1) examples in place of the batch size (fewer at the end of the
 * epoch). With max a multiple of the batch size it holds the examples of the next max / batch
 * batches, in their order; they are padded together when the steps are not fixed. */
int data_next_n(dataset *ds, int64_t max, batch *b, diag_ctx *d);
void batch_release(batch *b);

/* One streaming pass in file order (not disturbing the epoch) that fits a normaliser to the
 * features: standardize (shift = mean, scale = 1/std, population std; a constant feature gets
 * scale 1) or minmax (shift = min, scale = 1/(max - min), or 1 for a constant feature). Masked
 * steps of sequences are left out. out is overwritten. Returns 0, or -1 (reported). */
int data_fit_normalizer(dataset *ds, norm_kind kind, normalizer *out, diag_ctx *d);
/* Applies x' = (x - shift) * scale to every batch data_next returns from now on (a copy is
 * kept; NULL or NORM_NONE stops normalising). Returns -1 when n differs from the features. */
int data_set_normalizer(dataset *ds, const normalizer *n);
/* The normaliser helpers shared with inference (x: [B, F] or [T, B, F]; mask [T, B] or NULL). */
void data_normalizer_apply(const normalizer *n, tensor *x, const tensor *mask);
int data_normalizer_copy(normalizer *dst, const normalizer *src);
void data_normalizer_release(normalizer *n);

/* A 64-bit XXH3 hash of everything that decides what data_next yields except grouping and
 * order: the source kind, the bytes of every file read, the options that change examples
 * (label, classes, header, delimiter, limit, align, seq_length, vocab, ...) and the normaliser
 * in use. batch and shuffle are not part of it. Returns 0, or -1 on a read error (reported). */
int data_content_hash(dataset *ds, uint64_t *hash, diag_ctx *d);
/* 16 lowercase hex digits and a NUL. */
void data_hash_hex(uint64_t hash, char out[17]);

/* The largest number of bytes the reader held at once: its index and buffers plus the batch it
 * was filling. Lets tests assert that memory stays bounded by a batch plus the index. */
size_t data_peak_bytes(const dataset *ds);
size_t data_index_bytes(const dataset *ds);

#endif
