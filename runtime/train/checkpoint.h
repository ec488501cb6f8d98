/* checkpoint.h: the state of a fit in progress in one file (weights and updater moments of the
 * trained layers, the model's counters, the dropout generator, the fit's position in its data and
 * its progress counters, the identity of what it trains on), written atomically and read back so
 * that a resumed fit ends with the same bytes as an uninterrupted one (docs/training.md). */
#ifndef SURGERY_CHECKPOINT_H
#define SURGERY_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/base/rng.h"
#include "runtime/graph/model.h"

/* Ownership: a train_checkpoint owns its layer records and their tensors (checkpoint_free, NULL
 * is a no-op). checkpoint_write and checkpoint_apply borrow the model; checkpoint_apply copies
 * the checkpoint's tensors into it. Paths are borrowed. */

/* What a checkpoint belongs to: a checkpoint is used only when all four are equal. */
typedef struct checkpoint_identity {
    uint64_t script;           /* the statements that decide the fit (runtime/script) */
    uint64_t base;             /* the base model's files */
    uint64_t data;             /* the fit's data (data_content_hash) */
    int64_t fit;               /* which fit statement of the script (1-based) */
} checkpoint_identity;

/* Where a fit is: the loop of train_fit continues from here. */
typedef struct fit_position {
    int64_t epoch;             /* index of the current epoch within the fit */
    int64_t batches;           /* batches of that epoch already trained (0 at its start) */
    int64_t epochs_done;       /* epochs the fit completed */
    int64_t iterations;        /* updates the fit made */
    int64_t examples;          /* examples the fit saw */
    double epoch_loss_sum;     /* example-weighted loss of the current epoch so far */
    int64_t epoch_examples;
    double last_epoch_loss;
    bool complete;             /* the fit has finished: nothing is left to train */
} fit_position;

typedef struct checkpoint_layer checkpoint_layer;

typedef struct train_checkpoint {
    checkpoint_identity id;
    fit_position pos;
    int64_t iteration_count;   /* the model's counters */
    int64_t epoch_count;
    bool has_dropout;          /* the trainer's dropout generator (set once a step has run) */
    rng dropout;
    checkpoint_layer *layers;  /* every layer that is not frozen and has parameters */
    int n_layers;
} train_checkpoint;

/* What train_fit needs to write checkpoints (train_options.checkpoint). */
typedef struct checkpoint_plan {
    const char *path;          /* the checkpoint file (its folder exists) */
    int64_t every;             /* epochs, or iterations when the fit counts iterations (>= 1) */
    checkpoint_identity id;
    bool durable;              /* fsync each checkpoint and its folder (surgery run --sync) */
} checkpoint_plan;

/* Writes the checkpoint of m at pos to path through atomic_file.h: a temporary beside it, one
 * rename as the commit (fsyncs first when durable), so a killed run leaves the previous
 * checkpoint or the new one. dropout NULL: no step has run. Returns 0, or -1 with the reason in
 * err. */
int checkpoint_write(const char *path, const checkpoint_identity *id, const model *m,
                     const fit_position *pos, const rng *dropout, bool durable, char *err,
                     size_t err_len);
/* Reads a checkpoint file. Returns 1 with *out set, 0 when the file does not exist, -1 with the
 * reason in err (not a checkpoint, another version, truncated, damaged). */
int checkpoint_read(const char *path, train_checkpoint **out, char *err, size_t err_len);
void checkpoint_free(train_checkpoint *ck);
/* Puts the checkpoint's parameters, updater moments and counters into m, whose trained layers
 * must be those of the checkpoint with the same shapes. Returns 0, or -1 with the reason in err
 * (m is then partly updated). */
int checkpoint_apply(const train_checkpoint *ck, model *m, char *err, size_t err_len);

#endif
