/* data_stmt.c: fills the data readers' spec from a `data` statement of the IR. */
#include "runtime/script/data_stmt.h"

#include <assert.h>

data_spec data_stmt_spec(const ir_stmt *st)
{
    assert(st && st->kind == IR_DATA);
    data_spec spec = {
        .name = st->name,
        .loc = st->loc,
        .source = st->value,
        .opts = st->opts,
        .n_opts = st->n_opts,
    };
    return spec;
}

dataset *data_stmt_open(const ir_stmt *st, diag_ctx *d)
{
    data_spec spec = data_stmt_spec(st);
    return data_open(&spec, d);
}
