/* data_stmt.h: a `data` statement of the IR as the data readers' spec, for the executor, the
 * checker and tests. */
#ifndef SURGERY_DATA_STMT_H
#define SURGERY_DATA_STMT_H

#include "runtime/base/diag.h"
#include "runtime/data/data.h"
#include "runtime/script/ir.h"

/* Ownership: the spec borrows the statement's name, source call and options; it is valid while
 * the statement is. The dataset is the caller's (data_close). */

/* The spec of an IR_DATA statement. */
data_spec data_stmt_spec(const ir_stmt *st);
/* data_open on the statement's spec: NULL with the problems reported through d. */
dataset *data_stmt_open(const ir_stmt *st, diag_ctx *d);

#endif
