/* featurize.h: the outputs of a model's frozen part, computed once per data set and kept in a
 * content-addressed cache on disk, and training/evaluation of the unfrozen part from them
 * (DL4J's TransferLearningHelper featurize / fitFeaturized / outputFromFeaturized). */
#ifndef SURGERY_FEATURIZE_H
#define SURGERY_FEATURIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "runtime/data/data.h"
#include "runtime/train/eval.h"
#include "runtime/graph/model.h"
#include "runtime/train/train.h"
#include "runtime/base/diag.h"

/* Ownership: a feature_set owns its mapped shard files, the sub-model of the unfrozen layers
 * (with its own copies of their parameters and updater state) and its path strings;
 * feature_set_free(NULL) is a no-op. The model and dataset passed in are borrowed: the model
 * must outlive the feature set, and train-from-features copies the trained parameters back
 * into it. */
typedef struct feature_set feature_set;

/* The cache entry for (frozen part of m, its weights, the data's bytes and options) under
 * cache_dir: reused when complete, otherwise computed a group of consecutive batches at a time,
 * one shard per group (memory bounded by two groups: one computed while the previous one is
 * written), into a temporary folder renamed into place when complete. `reused` tells which.
 * Errors (nothing frozen, an unwritable or full disk) are reported at loc; returns NULL then. */
feature_set *featurize(model *m, dataset *ds, const char *cache_dir, src_loc loc, bool *reused,
                       diag_ctx *d);
/* The checks of featurize that need only the architecture (one input, a frozen part, a
 * boundary of at most a fixed number of nodes), for `surgery check`: 0, or -1 reported at loc. */
int featurize_check_model(const model *m, src_loc loc, diag_ctx *d);
void feature_set_free(feature_set *fs);

/* The cache entry's folder (for reports). */
const char *feature_set_path(const feature_set *fs);
int64_t feature_set_count(const feature_set *fs);

/* Trains the unfrozen part from the cached features with the same batches, in the same order,
 * as train_fit_dataset would use on the data set, then copies its parameters back into m. */
int featurized_fit(model *m, feature_set *fs, dataset *ds, train_options *o, train_result *r,
                   diag_ctx *d);
/* Evaluates the model on the data set through the cached features (unfrozen part only). */
int featurized_evaluate(model *m, feature_set *fs, dataset *ds, evaluation *e, diag_ctx *d);

#endif
