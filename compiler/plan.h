/* plan.h: the before/after view of a script's edits: a table of every layer (type, shapes,
 * parameters, state) with trainable and frozen totals, and the edited graph as Graphviz DOT. */
#ifndef SURGERY_PLAN_H
#define SURGERY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "runtime/edits/edit.h"
#include "runtime/graph/model.h"

/* Ownership: every argument is borrowed. before is the base architecture with its shapes,
 * after the edited one (as check_script_model_plan returns them), log the removed layers. */

/* One row of the plan (a layer of the edited model, or a removed one). */
typedef struct plan_row {
    const char *name;          /* name after the edits (the base name for removed layers) */
    const char *old_name;      /* base name when renamed, else NULL */
    const char *type;
    bool has_before, has_after;
    int64_t in_before, out_before, in_after, out_after;
    /* the shapes in and out, shown C x H x W where convolutional (kind SHAPE_FF, size 0 when
     * not known) */
    act_shape in_shape_before, out_shape_before, in_shape_after, out_shape_after;
    int64_t params_before, params_after;
    bool frozen_before, frozen_after;
    edit_state state;
    char state_text[160];      /* "widened, renamed from 'fc2', frozen" */
} plan_row;

/* The rows in plan order: the edited model's layers in definition order, then the removed
 * ones. *rows is malloc'd (free it); returns the count, or -1 when memory runs out. */
int plan_rows(const model *before, const model *after, const edit_log *log, plan_row **rows);

/* Prints the table and the totals. color adds ANSI colours to the state column. */
void plan_print(FILE *out, const char *script, const model *before, const model *after,
                const edit_log *log, bool color);

/* Writes the edited graph as Graphviz DOT to path (atomically): new layers green, changed
 * (resized, widened, narrowed, replaced, renamed) amber, frozen blue, removed layers dashed red
 * with dashed edges from their former inputs, model outputs double-bordered. Returns 0, or -1
 * with the reason in err. */
int plan_write_dot(const char *path, const model *before, const model *after,
                   const edit_log *log, char *err, size_t err_len);

#endif
