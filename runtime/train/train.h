/* train.h: training a model graph: one step (forward in training mode, backward from the loss
 * layers, updates), fine-tune settings, frozen layers, dropout, truncated BPTT, and the
 * epoch/iteration driver over a batch source with progress output (docs/training.md). */
#ifndef SURGERY_TRAIN_H
#define SURGERY_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "runtime/base/conf.h"
#include "runtime/base/loc.h"
#include "runtime/graph/model.h"
#include "runtime/tensor/tensor.h"

/* Ownership: train_options is a caller-owned value; its `state` (activation buffers, dropout
 * masks, the dropout generator) is created by the first train_step on a model and released by
 * train_options_release, which must be called once training is over (or before the model
 * changes shape or its frozen set). FILE pointers in the options are borrowed. Every tensor
 * and mask passed in is borrowed for the duration of the call. The model's parameters are
 * updated in place; its layers' gradients and updater state are owned by the layers (layer.h);
 * the model's iteration_count and epoch_count advance. */

struct diag_ctx;
struct trainer;

typedef enum {
    TRAIN_PROGRESS_AUTO,   /* live line when `progress` is a terminal, else one line per epoch */
    TRAIN_PROGRESS_LIVE,   /* a line rewritten with \r after every batch */
    TRAIN_PROGRESS_LINES   /* one line per epoch */
} train_progress_mode;

typedef struct train_options {
    int64_t epochs;                /* train_fit: passes over the data (when iterations is 0) */
    int64_t iterations;            /* train_fit: stop after this many updates instead (> 0) */
    bool seed_set;                 /* seed given: training randomness comes from it, otherwise */
    uint64_t seed;                 /* from train_options_seed's fallbacks */
    src_loc loc;                   /* the fit statement: runtime errors point at it */
    const char *data_name;         /* for progress lines */
    FILE *progress;                /* NULL: silent */
    train_progress_mode progress_mode;
    FILE *log;                     /* JSON lines {"iteration":..,"epoch":..,"loss":..}, or NULL */
    /* Checkpoints (runtime/train/checkpoint.h), both borrowed: */
    const struct checkpoint_plan *checkpoint;  /* train_fit writes them as it goes; NULL: none */
    const struct train_checkpoint *resume;     /* train_fit continues from it; NULL: from the start */
    /* Filled in by training: */
    int64_t backward_calls;        /* layer backward calls made (all steps) */
    struct trainer *state;         /* internal, see train_options_release */
} train_options;

/* Zeroes o and sets epochs = 1 and the AUTO progress mode. */
void train_options_init(train_options *o);
/* Releases the internal state created by train_step (NULL-safe; o stays reusable). */
void train_options_release(train_options *o);

/* One minibatch: inputs[i] for m->inputs[i] (feed-forward [B, size]; recurrent time-major
 * [T, B, size]); labels[j] for m->outputs[j] in the layout of that output's activations;
 * masks[i] an optional [T, B] 0/1 mask of valid steps for input i, label_masks[j] likewise for
 * output j (the arrays themselves or any entry may be NULL; an output without a label mask
 * uses the feature mask that reaches it, as DL4J). */
typedef struct train_batch {
    const tensor *const *inputs;
    const tensor *labels;
    const float *const *masks;
    const float *const *label_masks;
} train_batch;

/* One training step on one minibatch (with truncated BPTT: one update per segment of the
 * sequences): forward in training mode over the graph in topological order, backward in
 * reverse order from the loss outputs, gradient checks, updates of every trainable layer.
 * *loss receives the summed score of the loss outputs (with truncated BPTT summed over the
 * segments, which is the score of the whole sequences). A NaN or infinite loss, gradient or
 * update stops with an error naming the iteration and the first layer (in backward order) at
 * fault, before any parameter changes. d may be NULL (no messages). Returns 0, or -1 with the
 * error reported through d at o->loc (exit status 4 for the CLI). train_step_batch is the
 * same with the batch in one struct. */
int train_step(model *m, const tensor *const *inputs, const tensor *labels,
               const float *const *masks, const float *const *label_masks, train_options *o,
               double *loss, struct diag_ctx *d);
int train_step_batch(model *m, const train_batch *b, train_options *o, double *loss,
                     struct diag_ctx *d);

/* A source of minibatches for train_fit. */
typedef struct train_source {
    void *ctx;
    /* Starts epoch `epoch` (0-based). Returns 0, or -1 on a reported error. */
    int (*reset)(void *ctx, int64_t epoch, struct diag_ctx *d);
    /* The next batch of the epoch: returns 1 with *b filled (valid until the next call), 0 at
     * the end of the epoch, -1 on a reported error. */
    int (*next)(void *ctx, train_batch *b, int64_t *examples, struct diag_ctx *d);
    int64_t examples_per_epoch;    /* for progress and ETA; <= 0 when unknown */
} train_source;

typedef struct train_result {
    int64_t iterations;            /* updates made by this fit */
    int64_t epochs;                /* epochs completed */
    int64_t examples;              /* examples seen */
    double last_epoch_loss;        /* example-weighted mean loss of the last (partial) epoch */
    double seconds;
} train_result;

/* Trains for o->epochs passes over src (or o->iterations updates, restarting epochs as
 * needed), writing progress to o->progress and JSON lines to o->log. With o->checkpoint it
 * writes a checkpoint every `every` epochs (or iterations, for a fit that counts them) and a
 * final one marked complete; with o->resume it first puts the checkpoint's state into m and
 * continues where it stopped (an epoch begun is restarted with the same order and its trained
 * batches read past), so the result is the uninterrupted fit's. Returns 0, or -1 with the error
 * reported (train_step's, the source's, an empty source, a checkpoint that fails). */
int train_fit(model *m, const train_source *src, train_options *o, train_result *r,
              struct diag_ctx *d);

/* train_fit over a dataset of runtime/data.h, for single-input single-output models; the
 * dataset's batches are used as they come (time-major for sequences). A shuffling dataset
 * draws the order of the model's epoch number e (m->epoch_count) from the training seed (as
 * for dropout) and e, so every epoch has its own order and a rerun repeats them all. */
struct dataset;
int train_fit_dataset(model *m, struct dataset *ds, train_options *o, train_result *r,
                      struct diag_ctx *d);

/* The seed training draws its randomness from: o->seed when seed_set, else the model's
 * training seed (fine_tune seed), else its init seed. Dropout masks use the stream "dropout"
 * of it (rng_seed_stream). */
uint64_t train_options_seed(const model *m, const train_options *o);
/* The seed handed to data_reset for the model's epoch number `epoch` (0-based, counted over the
 * model's life: m->epoch_count), derived from train_options_seed: each epoch its own order,
 * the same on every run. */
uint64_t train_epoch_shuffle_seed(uint64_t seed, int64_t epoch);

/* DL4J's FineTuneConfiguration: every field set in ft overrides that field on every non-frozen
 * layer, except fields the script set on the layer itself (L->script_set_mask: `set` and the
 * options of `add` win). Frozen layers get nothing. An updater in ft replaces a learning_rate
 * the base model stored on a layer (the updater's own learning rate applies); a learning_rate in
 * ft does not reach a layer whose updater the script set. The set fields are also recorded in
 * m->training. The one implementation: edit_apply calls it after the last edit. */
void train_apply_fine_tune(model *m, const train_conf *ft);

/* The truncated-BPTT lengths in effect: m->training's backprop when set, else the first layer
 * in definition order whose own backprop is set; both 0 for standard backprop. */
void train_tbptt_lengths(const model *m, int *forward, int *backward);

#endif
