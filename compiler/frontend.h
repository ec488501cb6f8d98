/* frontend.h: from a .surgery file to a checked IR: scan, parse (following includes), lower
 * (evaluating parameters with --set overrides) and run the checks that need no model. */
#ifndef SURGERY_FRONTEND_H
#define SURGERY_FRONTEND_H

#include "runtime/base/diag.h"
#include "runtime/script/ir.h"

/* Ownership: overrides are borrowed for the call; *out (when set) belongs to the caller. */

typedef struct param_override {
    const char *key;
    const char *value;      /* parsed as a number; otherwise taken as a string */
} param_override;

/* Exit-status style results shared by the front end and the CLI. */
enum { FE_OK = 0, FE_SCRIPT_ERRORS = 1, FE_USAGE = 2 };

/* Parses and lowers `path` (a .surgery script; a file ending in .ir.yaml is loaded as IR
 * instead), then runs sema_check. Every error is reported through d. Returns FE_OK with *out
 * set, FE_SCRIPT_ERRORS, or FE_USAGE (e.g. an unknown --set key, an unreadable file). */
int frontend_compile(const char *path, const param_override *sets, int n_sets, diag_ctx *d,
                     ir_script **out);

/* The checks that need no model: statement and option names (per layer type), value types and
 * ranges, undefined parameters and data names, duplicates. Returns the number of errors. */
int sema_check(ir_script *s, diag_ctx *d);

/* Canonical formatting of one script file (comments kept; includes not followed). Returns 0
 * with *text (malloc'd) set, or FE_SCRIPT_ERRORS on a syntax error (reported through d). */
int format_script(const char *path, diag_ctx *d, char **text);

#endif
