/* exec.h: the executor behind `surgery run`: loads the base model with its weights, applies the
 * edits, then runs the data steps (data, featurize, fit, evaluate, expect, save) in order. */
#ifndef SURGERY_EXEC_H
#define SURGERY_EXEC_H

#include <stdbool.h>
#include <stdio.h>
#include "runtime/base/diag.h"
#include "runtime/script/ir.h"

/* Ownership: the script, the options and their FILE pointers are borrowed for the call. */

typedef struct exec_options {
    FILE *out;             /* reports: evaluations, saved paths, cache use (stdout) */
    FILE *progress;        /* training progress (stderr), NULL for none */
    FILE *log;             /* JSON lines of training and evaluation, or NULL */
    bool quiet;            /* no reports on `out` except errors */
    bool sync;             /* saves are durable (SAVE_DURABLE), not only atomic */
    bool resume;           /* continue from the last fit checkpoint (docs/training.md); the
                            * statements before that fit are skipped */
} exec_options;

/* Runs a script that has passed frontend_compile and check_script_model. Returns the exit
 * status: 0, 3 when an `expect` fails (later statements do not run), 4 on a runtime failure
 * (I/O, NaN loss, out of memory, a checkpoint that cannot be resumed; reported through d). The base model's files are only read;
 * every output is written atomically, so a failed run leaves no half-written file. */
int exec_script(const ir_script *s, const exec_options *o, diag_ctx *d);

#endif
