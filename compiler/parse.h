/* parse.h: running the scanner and parser over one .surgery file (the state they share), and
 * loading a script with its includes. */
#ifndef SURGERY_PARSE_H
#define SURGERY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include "compiler/ast.h"
#include "runtime/base/diag.h"
#include "compiler/frontend.h"

/* Ownership: parse_text/parse_file return a tree owned by the caller (ast_file_free). A
 * parse_state lives for one parse only and is private to the scanner, parser and parse.c. */

/* Bison's location type: 1-based lines; columns in bytes, last_column one past the end. */
typedef struct parse_loc {
    int first_line, first_column, last_line, last_column;
} parse_loc;

/* A token held back by the token filter between the scanner and the parser (the filter closes
 * brackets left open and drops newlines inside parentheses and brackets). */
typedef struct queued_token {
    int tok;
    char *str;              /* STRING, IDENT */
    struct ast_expr *expr;  /* NUMBER */
    const char *kw;         /* keywords (static text) */
    parse_loc loc;
} queued_token;

typedef struct open_bracket {
    char ch;
    parse_loc loc;
} open_bracket;

typedef struct parse_state {
    diag_ctx *d;
    const char *file;       /* interned in d */
    ast_file *out;
    /* scanner position */
    int line, col;
    bool token_on_line;     /* a token precedes the current position on its line */
    /* token filter */
    queued_token *queue;
    int q_head, q_len, q_cap;
    open_bracket *open;
    int n_open, cap_open;
    bool line_start;
    int last_queued;
    const char *tok_text;   /* the text of the last token given to the parser (for messages;
                             * valid while that token is the parser's lookahead) */
    bool reported_deep;     /* an expression too deeply nested was reported */
} parse_state;

/* Parses `len` bytes of `text` as the file `path` (registered with diag_set_text so
 * diagnostics show the parsed line). Always returns a tree: with syntax errors (all reported
 * through d, counted in *n_errors) it holds the statements that parsed. */
ast_file *parse_text(const char *path, const char *text, size_t len, diag_ctx *d, int *n_errors);

/* Reads and parses a file. When it cannot be read, reports at `at` (or "surgery: error:" when
 * at.line is 0) and returns NULL with *n_errors = 1. */
ast_file *parse_file(const char *path, src_loc at, diag_ctx *d, int *n_errors);

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL with errno set on failure. */
char *parse_read_file(const char *path, size_t *len);

/* Converts a parser location into a src_loc of the file being parsed. */
src_loc parse_src_loc(const parse_state *ps, parse_loc l);

/* Releases the tokens the filter still holds (after the parser returns). */
void parse_filter_release(parse_state *ps);

/* A script file with the files its include statements brought in: includes[i] belongs to
 * statement i when it is an include that loaded (NULL otherwise; the array itself is NULL
 * when the file includes nothing). */
typedef struct script_file {
    ast_file *ast;
    struct script_file **includes;
} script_file;

/* Parses `path` and, recursively, every file it includes (paths relative to the including
 * file's folder). Syntax errors, unreadable includes and include cycles ("a -> b -> a") are
 * reported through d and counted in *n_errors. Returns NULL only when `path` itself cannot be
 * read (then *unreadable is set). */
script_file *script_load(const char *path, diag_ctx *d, int *n_errors, bool *unreadable);
void script_file_free(script_file *sf);

/* Lowers a loaded script to IR (frontend_compile without reading files or sema_check):
 * FE_OK with *out set, FE_SCRIPT_ERRORS, or FE_USAGE for an unknown --set parameter. */
int lower_script(const script_file *sf, const param_override *sets, int n_sets, diag_ctx *d,
                 ir_script **out);

/* The canonical text of a parsed file (format_script without the reading); malloc'd. */
char *format_ast(const ast_file *f);

/* `rel` resolved against the folder of `from_file` and cleaned lexically ("a/./b/../c" ->
 * "a/c"); an absolute `rel` stays absolute. Returns a malloc'd string. */
char *script_join_path(const char *from_file, const char *rel);

#endif
