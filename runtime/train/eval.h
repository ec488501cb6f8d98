/* eval.h: evaluation of a model's predictions against labels, accumulated batch by batch:
 * accuracy, per-class and macro precision/recall/F1 and the confusion matrix for
 * classification; MSE, MAE, RMSE and R^2 for regression (as DL4J's Evaluation and
 * RegressionEvaluation). */
#ifndef SURGERY_EVAL_H
#define SURGERY_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "runtime/tensor/tensor.h"

/* Ownership: an evaluation owns its counters; eval_free(NULL) is a no-op. Tensors passed to
 * eval_add are borrowed for the call. */

typedef struct evaluation evaluation;

/* The metric names `expect` accepts, in a fixed order (for "did you mean"). */
#define EVAL_METRIC_COUNT 8
extern const char *const eval_metric_names[EVAL_METRIC_COUNT];

/* classes >= 2: classification over that many classes (outputs is ignored); classes == 0:
 * regression over `outputs` target columns. Returns NULL when out of memory. */
evaluation *eval_new(int64_t classes, int64_t outputs);
void eval_free(evaluation *e);

/* Accumulates one batch. pred and labels have the same shape, [B, K] or time-major [T, B, K]
 * (K = classes or outputs); mask (NULL or empty for none) has one entry per row ([B] or [T, B],
 * any shape with that many elements) and rows whose mask is 0 are skipped. For classification
 * the predicted class is the arg-max of a pred row and the actual class the arg-max of a label
 * row; label rows that are all zero are skipped (padding). Returns 0, or -1 with the reason. */
int eval_add(evaluation *e, const tensor *pred, const tensor *labels, const tensor *mask, char *err,
             size_t err_len);

/* Accumulates the model's loss score on a batch (the mean over its `examples`), so that
 * eval_metric(e, "loss") is the mean score over every example added this way. */
void eval_add_loss(evaluation *e, double batch_score, int64_t examples);

bool eval_is_classification(const evaluation *e);
int64_t eval_classes(const evaluation *e);       /* 0 for regression */
int64_t eval_outputs(const evaluation *e);       /* classes, or regression columns */
int64_t eval_count(const evaluation *e);         /* examples (or labelled steps) counted */

/* The overall metrics: accuracy, precision, recall, f1 (macro averages over the classes where
 * they are defined), mse, mae, rmse, r2 (averages over the regression columns). *ok is false
 * when the name is unknown or does not apply to this kind of evaluation (the result is NAN
 * then); a metric that applies but is undefined (no examples, constant targets for r2) is NAN
 * with *ok true. */
double eval_metric(const evaluation *e, const char *name, bool *ok);
/* Whether a metric other than "loss" applies to classification (or to regression) data. */
bool eval_metric_applies(const char *name, bool classification);

/* Classification details. Per-class precision/recall/f1 are NAN when undefined: precision when
 * the class was never predicted, recall when it never occurs, f1 when neither. */
int64_t eval_confusion(const evaluation *e, int64_t actual, int64_t predicted);
double eval_class_precision(const evaluation *e, int64_t c);
double eval_class_recall(const evaluation *e, int64_t c);
double eval_class_f1(const evaluation *e, int64_t c);
int64_t eval_class_support(const evaluation *e, int64_t c);   /* times c is the actual class */

/* Regression details, per column: "mse", "mae", "rmse", "r2" (NAN when unknown/undefined). */
double eval_column_metric(const evaluation *e, int64_t col, const char *name);

/* Optional display names for the classes (e.g. a text model's characters); borrowed for the
 * life of the evaluation. */
void eval_set_class_names(evaluation *e, const char *const *names);

/* The report in the spirit of DL4J's Evaluation.stats(): the overall metrics, a per-class
 * (or per-column) table and, for up to 32 classes, the confusion matrix. title names the data. */
void eval_print(const evaluation *e, FILE *out, const char *title);
/* The same as one JSON object (one line, no trailing newline); undefined values are null.
 * Returns 0, or -1 on a write error. */
int eval_write_json(const evaluation *e, FILE *out, const char *title);

#endif
