/* edit.h: applies the model-editing statements of a script (remove, add, replace, insert,
 * resize, widen, narrow, deepen, rename, set, outputs, inputs, freeze, fine_tune) to a model,
 * on the architecture alone or together with its weights. */
#ifndef SURGERY_EDIT_H
#define SURGERY_EDIT_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/graph/model.h"
#include "runtime/script/ir.h"

/* Ownership: edit_apply borrows the script and the diagnostics context and edits m in place
 * (m is the caller's copy of the base model). Layers the script adds keep src_locs that point
 * into the script's interned file names: keep the script alive as long as the edited model's
 * locations may be printed. An edit_log owns its entries (names, input lists);
 * edit_log_free(NULL) is a no-op. */

struct diag_ctx;

/* A layer of the base model that the script removed, as the plan shows it. */
typedef struct edit_removed {
    char *name;              /* its name in the base model */
    const char *type;        /* its type name (static) */
    int64_t n_in, n_out;     /* its shapes in the base model */
    int64_t params;          /* its parameter count in the base model */
    bool frozen;             /* frozen in the base model */
    char **inputs;           /* the nodes it took as inputs when it was removed */
    int n_inputs;
    int stmt;                /* index of the removing statement in the script */
} edit_removed;

/* The coupled group a widen or narrow changed together: layers whose channels meet in an
 * element-wise vertex (add, average, multiply), as the plan lists them. */
typedef struct edit_coupled {
    int stmt;                /* index of the widen or narrow in the script */
    const char *what;        /* "widen" or "narrow" (static) */
    int line;                /* its line in the script */
    char **names;            /* the group, the layer the statement names first */
    int n;
    char **vertices;         /* the element-wise vertices where they meet */
    int n_vertices;
} edit_coupled;

/* What edit_apply_log records beside the edited model. */
typedef struct edit_log {
    edit_removed *removed;
    int n_removed;
    edit_coupled *coupled;
    int n_coupled;
    bool structure_ok;       /* no dangling input, cycle or missing output was found: the graph
                              * can be ordered and its shapes inferred */
} edit_log;

edit_log *edit_log_new(void);
void edit_log_free(edit_log *log);

/* Applies every model-editing statement of s, in order, to m; base, param, data, featurize,
 * fit, evaluate, expect and save are left alone. Freeze statements and fine_tune are applied
 * after the last edit, on the final graph. Works on the architecture alone (no parameter
 * holds data: only shapes change) and on a model whose parameters hold data (trained weights
 * kept, moved or re-initialised as each edit says; new parameters initialised at the end,
 * deterministically from the fine_tune seed, else m->seed, with one random stream per
 * LAYER.KEY). Every error is reported through d at the statement that causes it, with notes
 * at the layer's definition, and application continues to find more. Returns the number of
 * errors (0: m is a valid edited model). */
int edit_apply(model *m, const ir_script *s, struct diag_ctx *d);
/* The same, recording removed layers and the structure verdict in log (may be NULL). */
int edit_apply_log(model *m, const ir_script *s, struct diag_ctx *d, edit_log *log);
/* edit_apply, except that a widened parameter may be left pending (tensor.h): described as the
 * old values beside the new ones instead of assembled, so that a model that is only saved
 * afterwards never holds the widened copy; model_settle assembles them before any computing. */
int edit_apply_pending(model *m, const ir_script *s, struct diag_ctx *d);

/* "kept", "new", "resized", "widened", "narrowed", "renamed", "replaced", "removed". */
const char *edit_state_name(edit_state e);

#endif
