/* check_steps.h: the checks of a script's run steps that the architecture and the file system
 * decide without weights or data values: save targets that would overwrite an input, and the
 * featurize, fit, evaluate and expect steps that the edited model cannot run. */
#ifndef SURGERY_CHECK_STEPS_H
#define SURGERY_CHECK_STEPS_H

#include "runtime/base/diag.h"
#include "runtime/data/data.h"
#include "runtime/graph/model.h"
#include "runtime/script/ir.h"

/* Ownership: everything is borrowed for the call; nothing is kept. */

/* Every `save` of s whose YAML or weights file would be (by device and inode, so links and
 * other spellings count) the base model's YAML base_path, the base's weights file (named by
 * the base architecture `base`), or a file named by a `data` source; and a save whose YAML
 * path is a folder. Each reported at the save's path. */
void check_save_targets(const ir_script *s, const char *base_path, const model *base,
                        diag_ctx *d);

/* The steps that need something of the edited model `m`: featurize (one input, a frozen
 * part), fit (one input and one output unless featurized, every output a loss layer),
 * evaluate and expect (one input and one output unless featurized), `expect loss` (a loss
 * layer to measure), save (a format whose writer can hold the model). */
void check_run_steps(const ir_script *s, const model *m, diag_ctx *d);

/* Every `expect METRIC(NAME)` of the data statement `data`, probed as `info`, whose metric the
 * data's kind does not define (accuracy, precision, recall, f1 for classification; mse, mae,
 * rmse, r2 for regression), reported at the metric. */
void check_expect_metrics(const ir_script *s, const ir_stmt *data, const data_info *info,
                          diag_ctx *d);

#endif
