/* edit_impl.h: the state shared by the files of the edit module while a script's edits are
 * applied, and their internal functions. The calls go one way: edit.c (the driver and the final
 * graph) calls the statements (statements.c, widen.c, deepen.c), which call the graph
 * operations (graph_ops.c) and the consumers (consumers.c), which call context.c. */
#ifndef SURGERY_EDIT_IMPL_H
#define SURGERY_EDIT_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/edits/edit.h"
#include "runtime/nn/init.h"
#include "runtime/graph/model.h"
#include "runtime/graph/validate.h"
#include "runtime/graph/mapping.h"
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
    NK_MERGE,     /* merge: concatenation of its inputs' features (convolutional: channels) */
    NK_ELEM,      /* add, average, multiply: element-wise, all inputs the same size */
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

/* ---- context.c ---- */
/* Grows *pp (an array of elem-sized items with capacity *cap) to hold need items; false,
 * reported, when memory runs out. */
bool ectx_ensure(ectx *E, void *pp, int *cap, int need, size_t elem);
#define ENSURE(E, arr, n, cap) ectx_ensure((E), &(arr), &(cap), (n) + 1, sizeof *(arr))
/* Frees what E owns (not E itself, nor the model, script, diagnostics or log). */
void ectx_free(ectx *E);
const ir_stmt *ectx_stmt(const ectx *E, int i);
src_loc ectx_loc(const ectx *E);                 /* the current statement's keyword */
node_kind node_kind_of(const ectx *E, const char *name, layer **L);
node_kind type_node_kind(const layer_type *t);
const char *type_article(const layer_type *t);
/* "a, b and c" (last_sep " and ") into buf, truncated to len. */
void join_names(char *buf, size_t len, const char *const *names, int n, const char *last_sep);    /* "a" or "an" before the type's name */
/* Features the node emits with the current shapes; -1 when unknown. */
int64_t node_size(const ectx *E, const char *name);
/* Channels a convolutional node emits with the current shapes (those edits change); -1 when
 * unknown or not convolutional. */
int64_t node_channels(const ectx *E, const char *name);
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

/* ---- consumers.c ---- */
/* A parameterised layer reached from a node through pass-through layers and merges, with the
 * offset of the node's features in that layer's input. */
typedef struct row_target {
    layer *L;
    int64_t offset;       /* in rows of its input (channels, or features) */
    int64_t rows;         /* rows of its input per unit of the edited layer (a flattened
                           * channel: its H*W features; behind a depthwise layer: multiplier) */
    bool follows;         /* batch norm, depthwise: its parameters follow (copied, not scaled)
                           * and so do its outputs */
} row_target;
/* Collects the targets of `name` (sorted by layer, then offset descending) and marks the
 * pass-through layers and merges on the way as changed by the current statement. Reports (at
 * the current statement) consumers that cannot follow: add/average vertices, embeddings and
 * unknown types; what = "widening", "narrowing", "resizing". Returns the count, or -1. */
int collect_targets(ectx *E, const char *name, const char *what, row_target **out);
/* The same for the layers of a coupled group at once (their outputs meet in add or average
 * vertices, which then pass the change on); the first one's name is said in reports. */
int collect_group_targets(ectx *E, layer *const *group, int n_group, const char *what,
                          row_target **out);

/* Rows of C's input parameter per unit of its input (its unit layout; 1 without one). */
static inline int64_t input_rows_per_unit(const layer *C)
{
    const unit_layout *ul = layer_units(C);
    return ul && ul->input_rows > 0 ? ul->input_rows : 1;
}
/* The unit layout's multiplier for C (1 without one). */
static inline int64_t unit_multiplier(const layer *C)
{
    const unit_layout *ul = layer_units(C);
    return ul && ul->multiplier ? ul->multiplier(C) : 1;
}
/* How many times L's output holds its units (bidirectional concat: 2; 1 without a layout). */
static inline int64_t unit_copies(const layer *L)
{
    const unit_layout *ul = layer_units(L);
    return ul && ul->out_copies ? ul->out_copies(L) : 1;
}
/* A target's widths when the edited layer gains delta units (loses, when negative): its input
 * by delta rows per unit; a follower's output as its multiplier says. */
static inline void grow_target_widths(const row_target *t, int64_t delta)
{
    layer *C = t->L;
    const unit_layout *ul = layer_units(C);   /* as it was: the widths below may decide it */
    const int64_t m = unit_multiplier(C);
    C->n_in += delta * t->rows * input_rows_per_unit(C);
    if (t->follows) {
        C->n_out += delta * t->rows * m;
        if (ul && ul->resized)
            ul->resized(C);
    }
}

/* ---- remap.c ---- */
/* Which old unit each new unit comes from, and how its outgoing weights are scaled. */
typedef struct unit_map {
    int64_t n_old, n_new;
    int64_t *src;        /* [n_new]: old unit index, or -1 for a new unit */
    float *scale;        /* [n_new]: factor on the unit's outgoing weights */
    bool out_zero;       /* new units' outgoing weights are zero (else drawn from out_init) */
    init_spec in_init;   /* new units' incoming weights */
    init_spec out_init;
    double noise;        /* relative noise on replicas' copied incoming weights (net2net) */
} unit_map;
/* Applies the unit map to L (n_out from u->n_old to u->n_new) and the input rows of every
 * target (with weights, as their unit layouts say; else the widths alone), and marks L with st
 * as changed by the current statement. Reports running out of memory. */
void apply_unit_map(ectx *E, layer *L, const unit_map *u, row_target *tg, int nt,
                    edit_state st);
/* The same for a coupled group of layers, each changed by the same unit map. */
void apply_group_unit_map(ectx *E, layer *const *group, int n_group, const unit_map *u,
                          row_target *tg, int nt, edit_state st);

/* ---- widen.c ---- */
void do_widen(ectx *E, const ir_stmt *st);
void do_narrow(ectx *E, const ir_stmt *st);

/* ---- deepen.c ---- */
void do_deepen(ectx *E, const ir_stmt *st);

/* ---- graph_ops.c ---- */
/* Appends L to the model (which owns it from then on); false, reported, when memory runs out
 * (L is then freed). */
bool add_layer(ectx *E, layer *L);
/* Places the layer at index `from` right after index `after` in m->layers. */
void place_after(model *m, int from, int after);
/* Every consumer slot and output entry naming `from` now names `to` (except layer `skip`). */
void redirect_consumers(ectx *E, const char *from, const char *to, const layer *skip);

/* ---- context.c (internal helpers) ---- */
void free_strs(char **v, int n);
char **dup_strs(ectx *E, char *const *v, int n);
const char *stmt_word(const ectx *E, int i);
int64_t input_features(const model_input *in);
linfo *linfo_find(const ectx *E, const layer *L);
void linfo_forget(ectx *E, const layer *L);
void set_size_stmt(ectx *E, layer *L);
void push_hist(ectx *E, const char *name, const char *other);
pending_conn *find_pending(ectx *E, const char *name);
/* Reports an unknown node name: what happened to it, or the closest existing name. */
void report_unknown(ectx *E, const char *name, src_loc loc, const char *what);
/* A node that may be used as an input: a layer, a model input, or a name removed with
 * `keep connections` that a later statement brings back. */
bool node_usable(ectx *E, const char *name, src_loc loc);
/* New names must be free. */
bool check_new_name(ectx *E, const char *name, src_loc loc);
const layer_type *resolve_type(ectx *E, const ir_stmt *st);
/* Records that the current statement created L (add, replace, insert): its shapes and any
 * explicit n_in come from this statement, and its parameters are initialised fresh. */
void mark_created(ectx *E, layer *L);
/* ---- graph_ops.c (internal helpers) ---- */
void rename_in_list(char **v, int n, const char *from, const char *to, ectx *E);
void drop_open_end(ectx *E, const char *name);
void add_open_end(ectx *E, const char *name);
void clear_open_ends(ectx *E);
void unlog_removed(ectx *E, const char *base_name, int stmt);
/* Removes layer idx. Without keep, every edge to it goes too (consumers lose the input slot,
 * the output list loses the name); with keep, the edges stay and wait for a new layer of the
 * same name. */
void remove_layer_at(ectx *E, int idx, bool keep);
/* ---- statements.c (internal helpers) ---- */
void do_remove(ectx *E, const ir_stmt *st);
void do_remove_output(ectx *E, const ir_stmt *st);
void do_remove_last(ectx *E, const ir_stmt *st);
void do_add(ectx *E, const ir_stmt *st);
void do_replace(ectx *E, const ir_stmt *st);
void do_insert(ectx *E, const ir_stmt *st);
void do_resize(ectx *E, const ir_stmt *st);
void do_rename(ectx *E, const ir_stmt *st);
void do_set(ectx *E, const ir_stmt *st);
void do_outputs(ectx *E, const ir_stmt *st);
void do_inputs(ectx *E, const ir_stmt *st);
void collect_freeze(ectx *E, const ir_stmt *st);

#endif
