/* check.h: the checks that need the base model's architecture (never its weights): the edits
 * applied symbolically, shapes through the whole edited graph, data files' feature counts. */
#ifndef SURGERY_CHECK_H
#define SURGERY_CHECK_H

#include "diag.h"
#include "ir.h"
#include "../runtime/model.h"

/* Ownership: s is borrowed; *after (when non-NULL and the check passes) receives the edited
 * architecture, owned by the caller (model_free). */

/* Loads the base model's YAML only, applies every edit of s in order with shape inference,
 * and reports every error at the script line that causes it. Returns the error count. */
int check_script_model(const ir_script *s, diag_ctx *d, model **after);

#endif
