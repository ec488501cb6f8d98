/* train_impl.h: what the files of runtime/train share: diagnostics that tolerate a NULL
 * context and the step of a batch capped at a number of updates (train_fit's). */
#ifndef SURGERY_TRAIN_IMPL_H
#define SURGERY_TRAIN_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/base/diag.h"
#include "runtime/base/loc.h"
#include "runtime/base/rng.h"
#include "runtime/train/train.h"

/* Ownership: nothing here allocates; arguments are borrowed for the call. */

/* Diagnostics that tolerate a NULL context (callers that only want the status); train.c. */
#define TR_FMT __attribute__((format(printf, 3, 4)))
void tr_error(diag_ctx *d, src_loc loc, const char *fmt, ...) TR_FMT;
void tr_warning(diag_ctx *d, src_loc loc, const char *fmt, ...) TR_FMT;
void tr_note(diag_ctx *d, src_loc loc, const char *fmt, ...) TR_FMT;
#undef TR_FMT

/* train_step_batch making at most max_updates updates (truncated BPTT segments); train_step.c. */
int train_step_capped(model *m, const train_batch *b, train_options *o, int64_t max_updates,
                      double *loss, diag_ctx *d);

/* The dropout generator of o's trainer: true with *out set, false before the first step;
 * train_step.c. */
bool train_dropout_rng(const train_options *o, rng *out);

#endif
