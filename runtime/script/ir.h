/* ir.h: the typed intermediate representation of a .surgery script: one node per statement,
 * parameters evaluated, includes spliced, each node carrying its source span. */
#ifndef SURGERY_IR_H
#define SURGERY_IR_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/base/loc.h"

/* Ownership: an ir_script owns its statements and everything they point to (strings, option
 * values, the interned file paths its locs point at). ir_script_free(NULL) is a no-op. */

#define IR_STMT_KINDS(X) \
    X(IR_VERSION, "surgery") X(IR_BASE, "base") X(IR_PARAM, "param") \
    X(IR_FINE_TUNE, "fine_tune") X(IR_FREEZE_THROUGH, "freeze through") \
    X(IR_FREEZE, "freeze") X(IR_UNFREEZE, "unfreeze") X(IR_REMOVE, "remove") \
    X(IR_REMOVE_OUTPUT, "remove output") X(IR_REMOVE_LAST, "remove last") X(IR_ADD, "add") \
    X(IR_REPLACE, "replace") X(IR_INSERT, "insert") X(IR_RESIZE, "resize") \
    X(IR_WIDEN, "widen") X(IR_NARROW, "narrow") X(IR_DEEPEN, "deepen") \
    X(IR_RENAME, "rename") X(IR_SET, "set") X(IR_OUTPUTS, "outputs") X(IR_INPUTS, "inputs") \
    X(IR_DATA, "data") X(IR_FEATURIZE, "featurize") X(IR_FIT, "fit") \
    X(IR_EVALUATE, "evaluate") X(IR_EXPECT, "expect") X(IR_SAVE, "save")

#define IR_ENUM_ITEM(e, s) e,
typedef enum { IR_STMT_KINDS(IR_ENUM_ITEM) IR_KIND_COUNT } ir_kind;
#undef IR_ENUM_ITEM
extern const char *const ir_kind_names[IR_KIND_COUNT];

/* Flags on a statement. */
enum {
    IRF_KEEP_CONNECTIONS = 1u << 0,   /* remove "x" keep connections */
    IRF_TO = 1u << 1,                 /* widen/narrow ... to N (else: by K / drop [...]) */
    IRF_DROP = 1u << 2,               /* narrow "x" drop [...] */
    IRF_N_IN = 1u << 3,               /* resize "x" n_in N (else n_out) */
    IRF_ITERATIONS = 1u << 4,         /* fit d iterations N (else epochs N) */
    IRF_HAS_INTO = 1u << 5            /* featurize d into "dir" */
};

typedef enum { CMP_GE, CMP_GT, CMP_LE, CMP_LT, CMP_EQ } ir_cmp;

/* Field use per kind (unused fields are zero):
 *  VERSION   count = language version
 *  BASE      name = model path (as written; relative to the statement's file's folder)
 *  PARAM     name = parameter, value = evaluated value (after --set)
 *  FINE_TUNE opts
 *  FREEZE_THROUGH / FREEZE / UNFREEZE / OUTPUTS / INPUTS   names[]
 *  REMOVE    name, flags IRF_KEEP_CONNECTIONS;  REMOVE_OUTPUT: nothing;  REMOVE_LAST: count
 *  ADD       layer_type, name, names[] = inputs ("from"), opts
 *  REPLACE   name, layer_type, opts
 *  INSERT    layer_type, name = new layer, name2 = the layer it goes after, opts
 *  RESIZE    name, count = new size, flags IRF_N_IN, opts (init, next_init)
 *  WIDEN     name, count (by K, or to N with IRF_TO), opts (outgoing, method, init)
 *  NARROW    name, count with IRF_TO, or indices[] with IRF_DROP
 *  DEEPEN    name, layer_type (dense|lstm), name2 = new layer, opts
 *  RENAME    name -> name2
 *  SET       name, opts
 *  DATA      name, value = the source call (csv("f", ...)), opts
 *  FEATURIZE name, name2 = folder when IRF_HAS_INTO
 *  FIT       name, count (epochs, or iterations with IRF_ITERATIONS), opts (checkpoint,
 *            every)
 *  EVALUATE  name
 *  EXPECT    metric, name = data, cmp, threshold
 *  SAVE      name = path */
typedef struct ir_stmt {
    ir_kind kind;
    src_loc loc;              /* the statement's keyword */
    unsigned flags;
    char *name;
    src_loc name_loc;
    char *name2;
    src_loc name2_loc;
    char *layer_type;
    src_loc layer_type_loc;
    char **names;
    src_loc *name_locs;
    int n_names;
    int64_t count;
    src_loc count_loc;
    int64_t *indices;
    src_loc indices_loc;
    int n_indices;
    conf_arg *opts;           /* option block, in source order */
    int n_opts;
    src_loc opts_loc;
    conf_value *value;
    char *metric;
    src_loc metric_loc;
    ir_cmp cmp;
    double threshold;
} ir_stmt;

typedef struct ir_script {
    char *path;               /* the main script */
    ir_stmt *stmts;
    int n_stmts;
    int cap_stmts;            /* capacity of stmts (grown geometrically by ir_append) */
    char **files;             /* every file read (main first, then includes); locs point here */
    int n_files;
} ir_script;

/* A script for the main file `path` (NULL: none yet), which becomes files[0]. */
ir_script *ir_script_new(const char *path);
void ir_script_free(ir_script *s);
/* Appends a zeroed statement of the given kind and returns it (valid until the next append). */
ir_stmt *ir_append(ir_script *s, ir_kind kind, src_loc loc);
/* Interns a file path in the script (returns the stored copy, for src_loc.file). */
const char *ir_intern_file(ir_script *s, const char *path);
/* Option lookup in a statement's block; NULL when absent. */
const conf_arg *ir_opt(const ir_stmt *st, const char *key);
/* A path written in a statement, resolved against the folder of the file the statement came
 * from; returns a malloc'd string. */
char *ir_resolve_path(const ir_stmt *st, const char *path);

/* The IR as YAML (libyaml emitter): stable, diffable; load(emit(x)) emits identical bytes.
 * Both return 0, or -1 with the reason reported through d. */
struct diag_ctx;
int ir_emit_yaml(const ir_script *s, const char *out_path, struct diag_ctx *d);
ir_script *ir_load_yaml(const char *path, struct diag_ctx *d);

#endif
