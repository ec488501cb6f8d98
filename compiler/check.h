/* check.h: the checks that need the base model's architecture (never its weights): the edits
 * applied symbolically, shapes through the whole edited graph, data files' feature counts. */
#ifndef SURGERY_CHECK_H
#define SURGERY_CHECK_H

#include "runtime/base/diag.h"
#include "runtime/script/ir.h"
#include "runtime/graph/model.h"

/* Ownership: s is borrowed; *after (when non-NULL and the check passes) receives the edited
 * architecture, owned by the caller (model_free). */

/* Loads the base model's YAML only, applies every edit of s in order with shape inference,
 * and reports every error at the script line that causes it. Returns the error count. */
int check_script_model(const ir_script *s, diag_ctx *d, model **after);

/* The same check, keeping what `surgery plan` shows: *before (the base architecture with its
 * shapes), *after (the edited architecture) and *log (the layers the script removed), each set
 * when non-NULL and the base model loaded (even when later checks fail), owned by the caller
 * (model_free, edit_log_free). Returns the error count. */
struct edit_log;
int check_script_model_plan(const ir_script *s, diag_ctx *d, model **before, model **after,
                            struct edit_log **log);

#endif
