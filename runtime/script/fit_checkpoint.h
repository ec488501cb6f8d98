/* fit_checkpoint.h: what the script executor needs to checkpoint a fit statement and resume it:
 * the checkpoint file of a fit, the identity of the script and of the base model's files, and
 * the search for the fit a run resumes (docs/training.md, "Checkpoints and --resume"). */
#ifndef SURGERY_FIT_CHECKPOINT_H
#define SURGERY_FIT_CHECKPOINT_H

#include <stdint.h>
#include "runtime/base/diag.h"
#include "runtime/script/ir.h"
#include "runtime/train/checkpoint.h"

/* Ownership: returned strings are the caller's (free); a train_checkpoint returned through
 * *ck is the caller's (checkpoint_free). The script and statements are borrowed. */

/* `every` when the fit does not say: 1 epoch, or this many iterations. */
#define FIT_CHECKPOINT_EVERY_ITERATIONS 100

/* The 1-based number of the fit statement stmts[index] among the script's fits. */
int64_t fit_ordinal(const ir_script *s, int index);
/* The checkpoint file of the fit stmts[index]: FOLDER/fit-N.ckpt with FOLDER its `checkpoint`
 * option resolved against the statement's file; NULL when the fit has no `checkpoint`. */
char *fit_checkpoint_path(const ir_script *s, int index);
/* The fit's `every`, or its default. */
int64_t fit_checkpoint_every(const ir_stmt *st);

/* XXH3 of what decides the fit stmts[index] apart from the base model and the data: every
 * statement that is not a data step (edits, settings), and the data steps up to and including
 * the fit, without the checkpoint options themselves (where checkpoints go and how often does
 * not change a result). */
uint64_t fit_script_hash(const ir_script *s, int index);
/* XXH3 of the bytes of the base model's files: `path` and, when weights is not NULL, the
 * weights file it names beside path. Returns 0, or -1 with the error reported at loc. */
int fit_base_hash(const char *path, const char *weights, src_loc loc, uint64_t *hash,
                  diag_ctx *d);

/* For `surgery run --resume`: the last fit of the script with a checkpoint file. Returns 1 with
 * *index and *ck set, 0 when no fit has one, -1 when a checkpoint cannot be read or belongs to
 * another script (reported at the fit). */
int fit_find_resume(const ir_script *s, int *index, train_checkpoint **ck, diag_ctx *d);

#endif
