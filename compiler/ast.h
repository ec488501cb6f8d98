/* ast.h: the syntax tree of one .surgery file: statements with their keyword structure,
 * unevaluated expressions, option blocks, comments and source spans. */
#ifndef SURGERY_AST_H
#define SURGERY_AST_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/script/ir.h"
#include "runtime/base/loc.h"
#include "runtime/base/util.h"

/* Ownership: an ast_file owns its statements, comments and every string and expression they
 * point to; each node owns its children. src_loc.file inside the tree is borrowed from the
 * diag_ctx the file was parsed with (diag_intern_path). Every *_free(NULL) is a no-op. */

/* Statement kinds: the ir_kind values, plus `include` which lowering splices away. */
enum { AST_INCLUDE = IR_KIND_COUNT, AST_KIND_COUNT };

typedef enum {
    AX_NUM,     /* text = the number as written, num = its value */
    AX_STR,     /* text = decoded string */
    AX_IDENT,   /* text = name (parameter or enum value) */
    AX_BOOL,    /* num = 0 or 1 */
    AX_LIST,    /* args = items (unnamed) */
    AX_CALL,    /* text = callee, args = positional and named arguments */
    AX_BINOP,   /* op is one of + - * /, lhs and rhs */
    AX_NEG,     /* unary minus of lhs */
    AX_PAREN    /* ( lhs ), kept so the formatter prints what was written */
} ast_expr_kind;

typedef struct ast_expr ast_expr;

/* A named or positional argument, a list item, or a `key = value` pair of an option block. */
typedef struct ast_arg {
    char *name;               /* NULL for positional arguments and list items */
    src_loc name_loc;
    ast_expr *value;
    int first_line, last_line;
} ast_arg;

typedef struct ast_args {
    ast_arg *v;
    int n, cap;
} ast_args;

struct ast_expr {
    ast_expr_kind kind;
    src_loc loc;              /* the whole expression (first line only when it spans lines) */
    char *text;
    double num;
    char op;
    int depth;                /* nesting depth, bounded by the parser */
    ast_expr *lhs, *rhs;
    ast_args args;
};

/* A string literal or a word, with where it was written. */
typedef struct ast_str {
    char *s;
    src_loc loc;
} ast_str;

typedef struct ast_strs {
    ast_str *v;
    int n, cap;
} ast_strs;

/* `{ key = value ... }` */
typedef struct ast_block {
    ast_args pairs;
    src_loc loc;              /* the opening brace */
    int open_line, close_line;
} ast_block;

/* Field use per kind mirrors ir_stmt (compiler/ir.h); expressions stay unevaluated:
 *  VERSION count; BASE/INCLUDE/SAVE name (string); PARAM name (word), value;
 *  FINE_TUNE block; FREEZE_THROUGH/FREEZE/UNFREEZE/OUTPUTS/INPUTS names;
 *  REMOVE name (+IRF_KEEP_CONNECTIONS); REMOVE_OUTPUT; REMOVE_LAST count;
 *  ADD type, name, names (from), block; REPLACE name, type, block;
 *  INSERT type, name, name2 (after), block; RESIZE name, count (+IRF_N_IN), block;
 *  WIDEN name, count (+IRF_TO), block; NARROW name, count (IRF_TO) or value = list (IRF_DROP);
 *  DEEPEN name, type, name2, block; RENAME name, name2; SET name, block;
 *  DATA name (word), value (the source call), block; FEATURIZE name (+IRF_HAS_INTO name2);
 *  FIT name, count (+IRF_ITERATIONS), block; EVALUATE name; EXPECT metric, name, cmp, value. */
typedef struct ast_stmt {
    int kind;                 /* an ir_kind or AST_INCLUDE */
    src_loc loc;              /* the statement's keyword */
    int first_line, last_line;
    unsigned flags;           /* IRF_* of compiler/ir.h */
    ast_str name, name2, type, metric;
    ast_strs names;
    ast_expr *count;
    ast_expr *value;
    ir_cmp cmp;
    ast_block *block;         /* NULL when the statement has no option block */
} ast_stmt;

typedef struct ast_comment {
    int line, col;
    bool own_line;            /* nothing but whitespace before it on its line */
    char *text;               /* from '#' to the end of the line, trailing blanks removed */
} ast_comment;

typedef struct ast_file {
    const char *path;         /* interned in the diag_ctx */
    ast_stmt **stmts;
    int n_stmts, cap_stmts;
    ast_comment *comments;    /* in source order */
    int n_comments, cap_comments;
} ast_file;

/* Node constructors; they never return NULL (out of memory aborts, as for every small
 * configuration object of the project). */
ast_file *ast_file_new(const char *path);
void ast_file_free(ast_file *f);
void ast_file_push(ast_file *f, ast_stmt *st);
void ast_file_add_comment(ast_file *f, int line, int col, bool own_line, const char *text,
                          size_t len);

ast_stmt *ast_stmt_new(int kind, src_loc loc);
void ast_stmt_free(ast_stmt *st);

ast_expr *ast_expr_new(ast_expr_kind kind, src_loc loc);
void ast_expr_free(ast_expr *e);

ast_block *ast_block_new(src_loc loc);
void ast_block_free(ast_block *b);

void ast_args_push(ast_args *a, char *name, src_loc name_loc, ast_expr *value, int first_line,
                   int last_line);
void ast_args_clear(ast_args *a);
ast_args *ast_args_new(void);
void ast_args_free(ast_args *a);

void ast_strs_push(ast_strs *s, char *str, src_loc loc);
void ast_strs_clear(ast_strs *s);
ast_strs *ast_strs_new(void);
void ast_strs_free(ast_strs *s);

/* The keyword spelling of a statement kind ("freeze through", "include", ...). */
const char *ast_kind_name(int kind);

#endif
