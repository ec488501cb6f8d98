/* ast.c: constructors and destructors of the .surgery syntax tree. */
#include "compiler/ast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND_NAME(e, s) s,
static const char *const kind_names[AST_KIND_COUNT] = {IR_STMT_KINDS(KIND_NAME) "include"};
#undef KIND_NAME

const char *ast_kind_name(int kind)
{
    return kind >= 0 && kind < AST_KIND_COUNT ? kind_names[kind] : "?";
}

/* Grows a (pointer, count, capacity) array to hold one more element of size `size`. */
static void *grow(void *v, int n, int *cap, size_t size)
{
    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 4;
    return xrealloc(v, (size_t)*cap * size);
}

ast_file *ast_file_new(const char *path)
{
    ast_file *f = xmalloc(sizeof *f);
    memset(f, 0, sizeof *f);
    f->path = path;
    return f;
}

void ast_file_free(ast_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_stmts; i++)
        ast_stmt_free(f->stmts[i]);
    free(f->stmts);
    for (int i = 0; i < f->n_comments; i++)
        free(f->comments[i].text);
    free(f->comments);
    free(f);
}

void ast_file_push(ast_file *f, ast_stmt *st)
{
    f->stmts = grow(f->stmts, f->n_stmts, &f->cap_stmts, sizeof *f->stmts);
    f->stmts[f->n_stmts++] = st;
}

void ast_file_add_comment(ast_file *f, int line, int col, bool own_line, const char *text,
                          size_t len)
{
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r'))
        len--;
    f->comments = grow(f->comments, f->n_comments, &f->cap_comments, sizeof *f->comments);
    ast_comment *c = &f->comments[f->n_comments++];
    c->line = line;
    c->col = col;
    c->own_line = own_line;
    c->text = xstrndup(text, len);
}

ast_stmt *ast_stmt_new(int kind, src_loc loc)
{
    ast_stmt *st = xmalloc(sizeof *st);
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->loc = loc;
    st->first_line = st->last_line = loc.line;
    return st;
}

void ast_stmt_free(ast_stmt *st)
{
    if (!st)
        return;
    free(st->name.s);
    free(st->name2.s);
    free(st->type.s);
    free(st->metric.s);
    ast_strs_clear(&st->names);
    ast_expr_free(st->count);
    ast_expr_free(st->value);
    ast_block_free(st->block);
    free(st);
}

ast_expr *ast_expr_new(ast_expr_kind kind, src_loc loc)
{
    ast_expr *e = xmalloc(sizeof *e);
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    e->depth = 1;
    return e;
}

void ast_expr_free(ast_expr *e)
{
    if (!e)
        return;
    free(e->text);
    ast_expr_free(e->lhs);
    ast_expr_free(e->rhs);
    ast_args_clear(&e->args);
    free(e);
}

ast_block *ast_block_new(src_loc loc)
{
    ast_block *b = xmalloc(sizeof *b);
    memset(b, 0, sizeof *b);
    b->loc = loc;
    b->open_line = b->close_line = loc.line;
    return b;
}

void ast_block_free(ast_block *b)
{
    if (!b)
        return;
    ast_args_clear(&b->pairs);
    free(b);
}

void ast_args_push(ast_args *a, char *name, src_loc name_loc, ast_expr *value, int first_line,
                   int last_line)
{
    a->v = grow(a->v, a->n, &a->cap, sizeof *a->v);
    ast_arg *g = &a->v[a->n++];
    g->name = name;
    g->name_loc = name_loc;
    g->value = value;
    g->first_line = first_line;
    g->last_line = last_line;
}

void ast_args_clear(ast_args *a)
{
    for (int i = 0; i < a->n; i++) {
        free(a->v[i].name);
        ast_expr_free(a->v[i].value);
    }
    free(a->v);
    memset(a, 0, sizeof *a);
}

ast_args *ast_args_new(void)
{
    ast_args *a = xmalloc(sizeof *a);
    memset(a, 0, sizeof *a);
    return a;
}

void ast_args_free(ast_args *a)
{
    if (!a)
        return;
    ast_args_clear(a);
    free(a);
}

void ast_strs_push(ast_strs *s, char *str, src_loc loc)
{
    s->v = grow(s->v, s->n, &s->cap, sizeof *s->v);
    s->v[s->n].s = str;
    s->v[s->n].loc = loc;
    s->n++;
}

void ast_strs_clear(ast_strs *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i].s);
    free(s->v);
    memset(s, 0, sizeof *s);
}

ast_strs *ast_strs_new(void)
{
    ast_strs *s = xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    return s;
}

void ast_strs_free(ast_strs *s)
{
    if (!s)
        return;
    ast_strs_clear(s);
    free(s);
}
