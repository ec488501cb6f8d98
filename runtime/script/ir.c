/* ir.c: the script IR's storage: statements, interned file paths, option lookup, paths. */
#include "runtime/script/ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/base/util.h"

#define IR_NAME_ITEM(e, s) s,
const char *const ir_kind_names[IR_KIND_COUNT] = {IR_STMT_KINDS(IR_NAME_ITEM)};
#undef IR_NAME_ITEM

ir_script *ir_script_new(const char *path)
{
    ir_script *s = xrealloc(NULL, sizeof *s);
    memset(s, 0, sizeof *s);
    if (path) {
        s->path = xstrdup(path);
        ir_intern_file(s, path);
    }
    return s;
}

static void stmt_free(ir_stmt *st)
{
    free(st->name);
    free(st->name2);
    free(st->layer_type);
    for (int i = 0; i < st->n_names; i++)
        free(st->names[i]);
    free(st->names);
    free(st->name_locs);
    free(st->indices);
    conf_args_free(st->opts, st->n_opts);
    conf_value_free(st->value);
    free(st->metric);
}

void ir_script_free(ir_script *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_stmts; i++)
        stmt_free(&s->stmts[i]);
    free(s->stmts);
    for (int i = 0; i < s->n_files; i++)
        free(s->files[i]);
    free(s->files);
    free(s->path);
    free(s);
}

ir_stmt *ir_append(ir_script *s, ir_kind kind, src_loc loc)
{
    if (s->n_stmts == s->cap_stmts) {
        s->cap_stmts = s->cap_stmts ? s->cap_stmts * 2 : 64;
        s->stmts = xrealloc(s->stmts, (size_t)s->cap_stmts * sizeof *s->stmts);
    }
    ir_stmt *st = &s->stmts[s->n_stmts++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->loc = loc;
    return st;
}

const char *ir_intern_file(ir_script *s, const char *path)
{
    for (int i = 0; i < s->n_files; i++)
        if (!strcmp(s->files[i], path))
            return s->files[i];
    s->files = xrealloc(s->files, (size_t)(s->n_files + 1) * sizeof *s->files);
    s->files[s->n_files] = xstrdup(path);
    return s->files[s->n_files++];
}

const conf_arg *ir_opt(const ir_stmt *st, const char *key)
{
    for (int i = 0; i < st->n_opts; i++)
        if (st->opts[i].name && !strcmp(st->opts[i].name, key))
            return &st->opts[i];
    return NULL;
}

char *ir_resolve_path(const ir_stmt *st, const char *path)
{
    return path_beside_file(st->loc.file, path);
}
