/* format.c: the canonical form of a .surgery file (surgery fmt): one statement per line,
 * canonical spacing, short option blocks inline and long ones one pair per line, comments and
 * single blank lines between groups kept, numbers as written. Idempotent. */
#include "compiler/frontend.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/parse.h"
#include "runtime/base/strbuf.h"

/* Blocks that would make their line longer than this are written one pair per line. */
#define MAX_INLINE 90

static void put_string(strbuf *b, const char *s)
{
    strbuf_putc(b, '"');
    for (; *s; s++) {
        switch (*s) {
        case '"': strbuf_puts(b, "\\\""); break;
        case '\\': strbuf_puts(b, "\\\\"); break;
        case '\n': strbuf_puts(b, "\\n"); break;
        case '\t': strbuf_puts(b, "\\t"); break;
        default: strbuf_putc(b, *s); break;
        }
    }
    strbuf_putc(b, '"');
}

static void put_expr(strbuf *b, const ast_expr *e);

static void put_args(strbuf *b, const ast_args *a)
{
    for (int i = 0; i < a->n; i++) {
        if (i)
            strbuf_puts(b, ", ");
        if (a->v[i].name) {
            strbuf_puts(b, a->v[i].name);
            strbuf_puts(b, " = ");
        }
        put_expr(b, a->v[i].value);
    }
}

static void put_expr(strbuf *b, const ast_expr *e)
{
    switch (e->kind) {
    case AX_NUM:
    case AX_IDENT:
        strbuf_puts(b, e->text);
        break;
    case AX_STR:
        put_string(b, e->text);
        break;
    case AX_BOOL:
        strbuf_puts(b, e->num != 0 ? "true" : "false");
        break;
    case AX_LIST:
        strbuf_putc(b, '[');
        put_args(b, &e->args);
        strbuf_putc(b, ']');
        break;
    case AX_CALL:
        strbuf_puts(b, e->text);
        strbuf_putc(b, '(');
        put_args(b, &e->args);
        strbuf_putc(b, ')');
        break;
    case AX_BINOP:
        put_expr(b, e->lhs);
        strbuf_putc(b, ' ');
        strbuf_putc(b, e->op);
        strbuf_putc(b, ' ');
        put_expr(b, e->rhs);
        break;
    case AX_NEG:
        strbuf_putc(b, '-');
        put_expr(b, e->lhs);
        break;
    case AX_PAREN:
        strbuf_putc(b, '(');
        put_expr(b, e->lhs);
        strbuf_putc(b, ')');
        break;
    }
}

static void put_names(strbuf *b, const ast_strs *n)
{
    for (int i = 0; i < n->n; i++) {
        strbuf_puts(b, i ? ", " : " ");
        put_string(b, n->v[i].s);
    }
}

static void put_word(strbuf *b, const char *kw, const char *word)
{
    strbuf_puts(b, kw);
    strbuf_putc(b, ' ');
    strbuf_puts(b, word);
}

static void put_str(strbuf *b, const char *kw, const char *s)
{
    strbuf_puts(b, kw);
    strbuf_putc(b, ' ');
    put_string(b, s);
}

/* The statement up to (not including) its option block. */
static void put_head(strbuf *b, const ast_stmt *st)
{
    static const char *const cmp[] = {">=", ">", "<=", "<", "=="};
    switch (st->kind) {
    case IR_VERSION: strbuf_puts(b, "surgery "); put_expr(b, st->count); break;
    case IR_BASE: put_str(b, "base", st->name.s); break;
    case AST_INCLUDE: put_str(b, "include", st->name.s); break;
    case IR_SAVE: put_str(b, "save", st->name.s); break;
    case IR_PARAM: put_word(b, "param", st->name.s); strbuf_puts(b, " = "); put_expr(b, st->value); break;
    case IR_FINE_TUNE: strbuf_puts(b, "fine_tune"); break;
    case IR_FREEZE_THROUGH: strbuf_puts(b, "freeze through"); put_names(b, &st->names); break;
    case IR_FREEZE: strbuf_puts(b, "freeze"); put_names(b, &st->names); break;
    case IR_UNFREEZE: strbuf_puts(b, "unfreeze"); put_names(b, &st->names); break;
    case IR_OUTPUTS: strbuf_puts(b, "outputs"); put_names(b, &st->names); break;
    case IR_INPUTS: strbuf_puts(b, "inputs"); put_names(b, &st->names); break;
    case IR_REMOVE:
        put_str(b, "remove", st->name.s);
        if (st->flags & IRF_KEEP_CONNECTIONS)
            strbuf_puts(b, " keep connections");
        break;
    case IR_REMOVE_OUTPUT: strbuf_puts(b, "remove output"); break;
    case IR_REMOVE_LAST: strbuf_puts(b, "remove last "); put_expr(b, st->count); break;
    case IR_ADD:
        put_word(b, "add", st->type.s);
        strbuf_putc(b, ' ');
        put_string(b, st->name.s);
        strbuf_puts(b, " from");
        put_names(b, &st->names);
        break;
    case IR_REPLACE:
        put_str(b, "replace", st->name.s);
        strbuf_puts(b, " with ");
        strbuf_puts(b, st->type.s);
        break;
    case IR_INSERT:
        put_word(b, "insert", st->type.s);
        strbuf_putc(b, ' ');
        put_string(b, st->name.s);
        strbuf_puts(b, " after ");
        put_string(b, st->name2.s);
        break;
    case IR_RESIZE:
        put_str(b, "resize", st->name.s);
        strbuf_puts(b, st->flags & IRF_N_IN ? " n_in " : " n_out ");
        put_expr(b, st->count);
        break;
    case IR_WIDEN:
        put_str(b, "widen", st->name.s);
        strbuf_puts(b, st->flags & IRF_TO ? " to " : " by ");
        put_expr(b, st->count);
        break;
    case IR_NARROW:
        put_str(b, "narrow", st->name.s);
        if (st->flags & IRF_DROP) {
            strbuf_puts(b, " drop ");
            put_expr(b, st->value);
        } else {
            strbuf_puts(b, " to ");
            put_expr(b, st->count);
        }
        break;
    case IR_DEEPEN:
        put_str(b, "deepen", st->name.s);
        strbuf_puts(b, " with ");
        strbuf_puts(b, st->type.s);
        strbuf_putc(b, ' ');
        put_string(b, st->name2.s);
        break;
    case IR_RENAME:
        put_str(b, "rename", st->name.s);
        strbuf_puts(b, " to ");
        put_string(b, st->name2.s);
        break;
    case IR_SET: put_str(b, "set", st->name.s); break;
    case IR_DATA:
        put_word(b, "data", st->name.s);
        strbuf_puts(b, " = ");
        put_expr(b, st->value);
        break;
    case IR_FEATURIZE:
        put_word(b, "featurize", st->name.s);
        if (st->flags & IRF_HAS_INTO) {
            strbuf_puts(b, " into ");
            put_string(b, st->name2.s);
        }
        break;
    case IR_FIT:
        put_word(b, "fit", st->name.s);
        strbuf_puts(b, st->flags & IRF_ITERATIONS ? " iterations " : " epochs ");
        put_expr(b, st->count);
        break;
    case IR_EVALUATE: put_word(b, "evaluate", st->name.s); break;
    case IR_EXPECT:
        put_word(b, "expect", st->metric.s);
        strbuf_putc(b, '(');
        strbuf_puts(b, st->name.s);
        strbuf_puts(b, ") ");
        strbuf_puts(b, cmp[st->cmp]);
        strbuf_putc(b, ' ');
        put_expr(b, st->value);
        break;
    default:
        break;
    }
}

/* One output line before comments are woven in: its text and the source lines it covers. */
typedef struct out_line {
    char *text;
    int a, b;
    bool inner;         /* inside a block: indented, as are the comments before it */
    bool no_blank;      /* never preceded by a blank line (first in a block, closing brace) */
} out_line;

typedef struct line_list {
    out_line *v;
    int n, cap;
} line_list;

static void add_line(line_list *L, strbuf *text, int a, int b, bool inner, bool no_blank)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 64;
        L->v = xrealloc(L->v, (size_t)L->cap * sizeof *L->v);
    }
    out_line *o = &L->v[L->n++];
    o->text = text->s ? text->s : xstrdup("");
    o->a = a;
    o->b = b < a ? a : b;
    o->inner = inner;
    o->no_blank = no_blank;
    *text = (strbuf){.abort_on_oom = true};
}

static void layout_stmt(line_list *L, const ast_stmt *st)
{
    strbuf b = {.abort_on_oom = true};
    put_head(&b, st);
    const ast_block *blk = st->block;
    if (!blk) {
        add_line(L, &b, st->first_line, st->last_line, false, false);
        return;
    }
    bool multi = blk->open_line != blk->close_line;
    if (!multi) {
        size_t head = b.n;
        strbuf_puts(&b, blk->pairs.n ? " {" : " {}");
        for (int i = 0; i < blk->pairs.n; i++) {
            strbuf_puts(&b, i ? "  " : " ");
            strbuf_puts(&b, blk->pairs.v[i].name);
            strbuf_puts(&b, " = ");
            put_expr(&b, blk->pairs.v[i].value);
        }
        if (blk->pairs.n)
            strbuf_puts(&b, " }");
        if (b.n <= MAX_INLINE) {
            add_line(L, &b, st->first_line, st->last_line, false, false);
            return;
        }
        b.n = head;
        b.s[head] = 0;
        multi = true;
    }
    strbuf_puts(&b, " {");
    add_line(L, &b, st->first_line, blk->open_line, false, false);
    for (int i = 0; i < blk->pairs.n; i++) {
        const ast_arg *g = &blk->pairs.v[i];
        strbuf_puts(&b, g->name);
        strbuf_puts(&b, " = ");
        put_expr(&b, g->value);
        add_line(L, &b, g->first_line, g->last_line, true, i == 0);
    }
    strbuf_putc(&b, '}');
    add_line(L, &b, blk->close_line, blk->close_line, false, true);
}

/* A line of the output: code with an optional trailing comment, or a comment alone. */
typedef struct entry {
    bool blank_before;
    bool indent;
    bool cont;              /* a comment line continuing the trailing comment above it */
    const char *code;       /* NULL for a comment line */
    const ast_comment *comment;
} entry;

typedef struct entry_list {
    entry *v;
    int n, cap;
} entry_list;

static void add_entry(entry_list *E, bool blank, bool indent, const char *code,
                      const ast_comment *comment)
{
    if (E->n == E->cap) {
        E->cap = E->cap ? E->cap * 2 : 64;
        E->v = xrealloc(E->v, (size_t)E->cap * sizeof *E->v);
    }
    bool cont = false;
    if (!code && !blank && E->n > 0) {
        const entry *p = &E->v[E->n - 1];
        cont = p->comment && (p->code || p->cont) && p->comment->line + 1 == comment->line &&
               p->comment->col == comment->col;
    }
    entry e = {blank, indent, cont, code, comment};
    E->v[E->n++] = e;
}

/* Weaves the comments into the lines: own-line comments before the line they precede, the
 * last comment within a line's source span after it. */
static void weave(const ast_file *f, const line_list *L, entry_list *E)
{
    int ci = 0, prev = 0;
    bool suppress = false;  /* right after an opening brace */
    for (int i = 0; i <= L->n; i++) {
        const out_line *o = i < L->n ? &L->v[i] : NULL;
        int a = o ? o->a : INT_MAX;
        bool indent = o && (o->inner || (o->no_blank && o->text[0] == '}'));
        for (; ci < f->n_comments && f->comments[ci].line < a; ci++) {
            const ast_comment *c = &f->comments[ci];
            add_entry(E, prev > 0 && c->line > prev + 1 && !suppress, indent, NULL, c);
            prev = c->line;
            suppress = false;
        }
        if (!o)
            break;
        int cap = o->b;
        if (i + 1 < L->n && L->v[i + 1].a <= cap)
            cap = L->v[i + 1].a - 1;
        int end = ci;
        while (end < f->n_comments && f->comments[end].line <= cap)
            end++;
        bool blank = prev > 0 && a > prev + 1 && !suppress && !o->no_blank;
        for (; end - ci > 1; ci++) {
            add_entry(E, blank, indent, NULL, &f->comments[ci]);
            blank = false;
        }
        add_entry(E, blank, o->inner, o->text, ci < end ? &f->comments[ci++] : NULL);
        prev = o->b;
        size_t tl = strlen(o->text);
        suppress = tl > 0 && o->text[tl - 1] == '{' && !o->inner;
    }
}

/* Writes the entries; trailing comments of consecutive lines share one column. */
static char *render(const entry_list *E)
{
    strbuf out = {.abort_on_oom = true};
    for (int i = 0; i < E->n;) {
        int j = i + 1;
        size_t width = 0;
        if (E->v[i].code && E->v[i].comment) {
            while (j < E->n && ((E->v[j].code && E->v[j].comment) || E->v[j].cont) &&
                   !E->v[j].blank_before)
                j++;
            for (int k = i; k < j; k++) {
                if (!E->v[k].code)
                    continue;
                size_t w = strlen(E->v[k].code) + (E->v[k].indent ? 2 : 0);
                if (w > width)
                    width = w;
            }
        }
        for (int k = i; k < j; k++) {
            const entry *e = &E->v[k];
            if (e->blank_before)
                strbuf_putc(&out, '\n');
            size_t w = 0;
            if (e->indent && !e->cont) {
                strbuf_puts(&out, "  ");
                w += 2;
            }
            if (e->code) {
                strbuf_puts(&out, e->code);
                w += strlen(e->code);
            }
            if ((e->code && e->comment) || e->cont) {
                for (; w < width; w++)
                    strbuf_putc(&out, ' ');
                strbuf_puts(&out, "  ");
            }
            if (e->comment)
                strbuf_puts(&out, e->comment->text);
            strbuf_putc(&out, '\n');
        }
        i = j;
    }
    return out.s ? out.s : xstrdup("");
}

int format_script(const char *path, diag_ctx *d, char **text)
{
    *text = NULL;
    size_t len;
    char *src = parse_read_file(path, &len);
    if (!src) {
        diag_error(d, loc_none(), "cannot read '%s': %s", path, strerror(errno));
        return FE_USAGE;
    }
    int errors = 0;
    ast_file *f = parse_text(path, src, len, d, &errors);
    free(src);
    if (errors) {
        ast_file_free(f);
        return FE_SCRIPT_ERRORS;
    }
    *text = format_ast(f);
    ast_file_free(f);
    return FE_OK;
}

char *format_ast(const ast_file *f)
{
    line_list L = {0};
    for (int i = 0; i < f->n_stmts; i++)
        layout_stmt(&L, f->stmts[i]);
    entry_list E = {0};
    weave(f, &L, &E);
    char *text = render(&E);
    free(E.v);
    for (int i = 0; i < L.n; i++)
        free(L.v[i].text);
    free(L.v);
    return text;
}
