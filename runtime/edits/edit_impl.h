/* edit_impl.h: the state shared by edit.c, widen.c and deepen.c while a script's edits are
 * applied (internal to the edit module). */
#ifndef SURGERY_EDIT_IMPL_H
#define SURGERY_EDIT_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/edits/edit.h"
#include "runtime/nn/init.h"
#include "runtime/graph/model.h"
#include "runtime/formats/weights_store.h"
#include "runtime/base/diag.h"
#include "runtime/script/ir.h"

/* Ownership: an ectx lives for one edit_apply call and owns every array below (and their
 * strings); the model, script, diagnostics context and log are borrowed. */

/* How a node takes part in edits that move units. */
typedef enum {
    NK_NONE,      /* no such node */
    NK_INPUT,     /* a model input */
    NK_PARAM,     /* dense, output, rnn_output, lstm, graves_lstm, embedding */
    NK_PASS,      /* activation, dropout: same features out as in */
    NK_MERGE,     /* merge: concatenation of its inputs' features */
    NK_ELEM,      /* add, average: element-wise, all inputs the same size */
    NK_OTHER      /* a type the edits do not know how to see through */
} node_kind;

/* Edit bookkeeping per live layer (keyed by the layer pointer). */
typedef struct linfo {
    layer *L;
    int size_stmt;        /* last statement that changed the features this node emits */
    int nin_stmt;         /* last statement that set its n_in explicitly (resize n_in, add n_in) */
    int emptied_stmt;     /* the remove that took its last input away */
    char *emptied_by;     /* ...and the name it removed */
    bool reinit;          /* its parameters are (re)initialised at the end: new or resized */
    bool has_init;        /* init override for that initialisation (resize init/next_init) */
    init_spec init;
} linfo;

/* A layer removed with `keep connections`, waiting for a layer of the same name. */
typedef struct pending_conn {
    char *name;
    char **inputs;
    int n_inputs;
    int stmt;
    int index;            /* its position in m->layers, where a new layer of its name goes */
    bool restored;
    /* what the plan knows of the removed layer, carried to its replacement */
    bool was_base;
    char *old_name;
    int64_t old_n_in, old_n_out;
    bool frozen;
} pending_conn;

/* A name that went away: removed (other == NULL) or renamed to `other`. */
typedef struct name_event {
    char *name;
    char *other;
    int stmt;
} name_event;

/* A freeze, freeze through or unfreeze statement, applied at the end (names follow renames). */
typedef struct freeze_op {
    ir_kind kind;
    int stmt;
    char **names;
    src_loc *locs;
    int n;
} freeze_op;

typedef struct ectx {
    model *m;
    const ir_script *s;
    diag_ctx *d;
    edit_log *log;
    bool wmode;            /* parameters hold data */
    uint64_t seed;         /* for new parameters: fine_tune seed, else the model's */
    train_conf ft;         /* every fine_tune block merged */
    int cur;               /* index of the statement being applied */
    int errors_at_start;

    linfo *info;
    int n_info, cap_info;
    pending_conn *pend;
    int n_pend, cap_pend;
    name_event *hist;
    int n_hist, cap_hist;
    freeze_op *fz;
    int n_fz, cap_fz;
    char **poison;         /* names whose defining statement failed: later uses stay quiet */
    int n_poison, cap_poison;
    char **open_ends;      /* outputs put there by remove output / remove last */
    int n_open, cap_open;
    int outputs_stmt;      /* last `outputs` statement, -1 */
    int outputs_emptied_stmt;
    int inputs_stmt;       /* last `inputs` statement, -1 */
    bool oom;
} ectx;

/* ---- helpers (edit.c) ---- */
const ir_stmt *ectx_stmt(const ectx *E, int i);
src_loc ectx_loc(const ectx *E);                 /* the current statement's keyword */
node_kind node_kind_of(const ectx *E, const char *name, layer **L);
node_kind type_node_kind(const layer_type *t);
const char *type_article(const layer_type *t);    /* "a" or "an" before the type's name */
/* Features the node emits with the current shapes; -1 when unknown. */
int64_t node_size(const ectx *E, const char *name);
linfo *linfo_get(ectx *E, layer *L);             /* creates on first use */
bool is_poisoned(const ectx *E, const char *name);
void poison(ectx *E, const char *name);
/* Finds a layer named in a statement; reports unknown names (did you mean, removed at,
 * renamed to) unless poisoned. */
layer *find_layer_or_report(ectx *E, const char *name, src_loc loc);
/* Notes "'x' is defined here" at the layer's definition. */
void note_defined(ectx *E, const layer *L);
void ectx_oom(ectx *E);
char *estrdup(ectx *E, const char *s);
/* The layer's weight initialisation in effect for new parameters (script setting, else
 * fine_tune, else its own, else the model's), and its bias init. */
init_spec effective_init(const ectx *E, const layer *L);
double effective_bias_init(const ectx *E, const layer *L);
/* Parses an init option value (xavier, uniform(a, b), ...); -1 after reporting. */
int parse_init_value(ectx *E, const conf_arg *a, init_spec *out);
/* Marks a layer's edit state for the plan (new/replaced win, then resized, then the latest
 * of widened/narrowed). */
void mark_edit(layer *L, edit_state e);
/* Releases the layer's parameters so that they are initialised afresh at the end. */
void schedule_reinit(ectx *E, layer *L, const init_spec *init);
/* Fresh values for one parameter of L as initialisation would give them (shape from spec);
 * out is released first (release_param). */
int fresh_param(ectx *E, const layer *L, const param_spec *ps, const init_spec *init,
                tensor *out);
/* The same values in pieces (param_stream_fill), for edits that create only part of a
 * parameter: the distribution of the whole parameter ps, the stream LAYER.KEY of the same seed.
 * Returns 0, or -1 after reporting. */
int fresh_stream(ectx *E, const layer *L, const param_spec *ps, const init_spec *init,
                 param_stream *out);
/* A borrowed parameter's elements [from, to) are no longer needed: the pages of the weights
 * mapping that hold only them (and earlier elements of t) leave memory (model_drop_mapped).
 * The data stays readable. Nothing happens for owned data. */
void drop_param_pages(ectx *E, const tensor *t, int64_t from, int64_t to);
/* Releases a parameter an edit replaces or discards (tensor_release), dropping a borrowed
 * one's pages of the weights mapping from memory first. */
void release_param(ectx *E, tensor *t);
bool layer_has_data(const layer *L);

/* A parameterised layer reached from a node through pass-through layers and merges, with the
 * offset of the node's features in that layer's input. */
typedef struct row_target {
    layer *L;
    int64_t offset;
} row_target;
/* Collects the targets of `name` (sorted by layer, then offset descending) and marks the
 * pass-through layers and merges on the way as changed by the current statement. Reports (at
 * the current statement) consumers that cannot follow: add/average vertices, embeddings and
 * unknown types; what = "widening", "narrowing", "resizing". Returns the count, or -1. */
int collect_targets(ectx *E, const char *name, const char *what, row_target **out);

/* ---- widen.c ---- */
void do_widen(ectx *E, const ir_stmt *st);
void do_narrow(ectx *E, const ir_stmt *st);

/* ---- deepen.c ---- */
void do_deepen(ectx *E, const ir_stmt *st);
/* Appends L to the model (which owns it from then on); false, reported, when memory runs out
 * (L is then freed). */
bool add_layer(ectx *E, layer *L);
/* Places the layer at index `from` right after index `after` in m->layers. */
void place_after(model *m, int from, int after);
/* Every consumer slot and output entry naming `from` now names `to` (except layer `skip`). */
void redirect_consumers(ectx *E, const char *from, const char *to, const layer *skip);

#endif
