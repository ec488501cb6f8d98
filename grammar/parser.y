/* parser.y: the pure bison grammar of .surgery scripts; actions build the syntax tree (ast.h). */

%define api.pure full
%define api.prefix {surg_}
%define api.location.type {parse_loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {void *scanner} {parse_state *ps}

%code requires {
#include "compiler/ast.h"
#include "compiler/parse.h"
}

%code {
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/base/diag.h"

int surg_raw_lex(SURG_STYPE *lval, parse_loc *lloc, void *scanner);
static int surg_lex(SURG_STYPE *lval, parse_loc *lloc, void *scanner, parse_state *ps);
static void surg_error(parse_loc *lloc, void *scanner, parse_state *ps, const char *msg);

/* Deeper expressions are refused, which bounds the recursion of every later pass. */
#include "runtime/base/limits.h"

#define L(l) parse_src_loc(ps, (l))

static ast_stmt *stmt(int kind, parse_loc l, parse_state *ps)
{
    return ast_stmt_new(kind, L(l));
}

static ast_str str_at(char *s, parse_loc l, parse_state *ps)
{
    ast_str a = {s, L(l)};
    return a;
}

/* Moves a list of names into a statement. */
static void take_names(ast_stmt *st, ast_strs *names)
{
    st->names = *names;
    free(names);
}

static ast_expr *leaf(ast_expr_kind kind, char *text, parse_loc l, parse_state *ps)
{
    ast_expr *e = ast_expr_new(kind, L(l));
    e->text = text;
    return e;
}

/* Gives a composite expression its depth; NULL (reported, e freed) when too deep. */
static ast_expr *nested(ast_expr *e, parse_state *ps)
{
    int d = 0;
    if (e->lhs && e->lhs->depth > d) d = e->lhs->depth;
    if (e->rhs && e->rhs->depth > d) d = e->rhs->depth;
    for (int i = 0; i < e->args.n; i++)
        if (e->args.v[i].value->depth > d) d = e->args.v[i].value->depth;
    e->depth = d + 1;
    if (e->depth <= LIMIT_EXPR_DEPTH)
        return e;
    if (!ps->reported_deep)    /* once: each enclosing level would say it again */
        diag_error(ps->d, e->loc, "expression nested too deeply (more than %d levels)",
                   LIMIT_EXPR_DEPTH);
    ps->reported_deep = true;
    ast_expr_free(e);
    return NULL;
}

static ast_expr *binop(char op, ast_expr *a, ast_expr *b, parse_loc l, parse_state *ps)
{
    ast_expr *e = ast_expr_new(AX_BINOP, L(l));
    e->op = op;
    e->lhs = a;
    e->rhs = b;
    return nested(e, ps);
}

static ast_expr *unary(ast_expr_kind kind, ast_expr *a, parse_loc l, parse_state *ps)
{
    ast_expr *e = ast_expr_new(kind, L(l));
    e->lhs = a;
    return nested(e, ps);
}

/* A list or call: takes the arguments (NULL for none). */
static ast_expr *with_args(ast_expr_kind kind, char *callee, ast_args *args, parse_loc l,
                           parse_state *ps)
{
    ast_expr *e = ast_expr_new(kind, L(l));
    e->text = callee;
    if (args) {
        e->args = *args;
        free(args);
    }
    return nested(e, ps);
}

static ast_args *push_arg(ast_args *a, char *name, parse_loc name_l, ast_expr *v, parse_loc l,
                          parse_state *ps)
{
    if (!a)
        a = ast_args_new();
    ast_args_push(a, name, name ? L(name_l) : loc_none(), v, l.first_line, l.last_line);
    return a;
}
}

%union {
    char *str;
    const char *kw;
    ast_expr *expr;
    ast_stmt *stmt;
    ast_block *block;
    ast_args *args;
    ast_strs *strs;
    int cmp;
}

%token <str> IDENT "identifier" STRING "string"
%token <expr> NUMBER "number"
%token NL "end of line"
%token GE ">=" LE "<=" EQ "=="
%token <kw> SURGERY "surgery" BASE "base" PARAM "param" INCLUDE "include"
%token <kw> FINE_TUNE "fine_tune" FREEZE "freeze" THROUGH "through" UNFREEZE "unfreeze"
%token <kw> REMOVE "remove" KEEP "keep" CONNECTIONS "connections" OUTPUT "output" LAST "last"
%token <kw> ADD "add" FROM "from" REPLACE "replace" WITH "with" INSERT "insert" AFTER "after"
%token <kw> RESIZE "resize" N_OUT "n_out" N_IN "n_in" WIDEN "widen" BY "by" TO "to"
%token <kw> NARROW "narrow" DROP "drop" DEEPEN "deepen" RENAME "rename" SET "set"
%token <kw> OUTPUTS "outputs" INPUTS "inputs" DATA "data" FEATURIZE "featurize" INTO "into"
%token <kw> FIT "fit" EPOCHS "epochs" ITERATIONS "iterations" EVALUATE "evaluate"
%token <kw> EXPECT "expect" SAVE "save" TRUE "true" FALSE "false"

%type <stmt> stmt
%type <str> word
%type <kw> keyword
%type <expr> expr
%type <block> block opt_block items
%type <args> list_items call_args opt_list_items opt_call_args
%type <strs> strings
%type <cmp> cmp

%destructor { free($$); } <str>
%destructor { ast_expr_free($$); } <expr>
%destructor { ast_stmt_free($$); } <stmt>
%destructor { ast_block_free($$); } <block>
%destructor { ast_args_free($$); } <args>
%destructor { ast_strs_free($$); } <strs>

%left '+' '-'
%left '*' '/'
%precedence UMINUS

%%

script
    : %empty
    | script term
    | script stmt term {
          $2->first_line = @2.first_line;
          $2->last_line = @2.last_line;
          ast_file_push(ps->out, $2);
      }
    | script error opt_block term { ast_block_free($3); yyerrok; }
    ;

term: NL | ';' ;

stmt
    : SURGERY expr                      { $$ = stmt(IR_VERSION, @1, ps); $$->count = $2; }
    | BASE STRING                       { $$ = stmt(IR_BASE, @1, ps); $$->name = str_at($2, @2, ps); }
    | PARAM word '=' expr               { $$ = stmt(IR_PARAM, @1, ps); $$->name = str_at($2, @2, ps); $$->value = $4; }
    | INCLUDE STRING                    { $$ = stmt(AST_INCLUDE, @1, ps); $$->name = str_at($2, @2, ps); }
    | FINE_TUNE block                   { $$ = stmt(IR_FINE_TUNE, @1, ps); $$->block = $2; }
    | FREEZE THROUGH strings            { $$ = stmt(IR_FREEZE_THROUGH, @1, ps); take_names($$, $3); }
    | FREEZE strings                    { $$ = stmt(IR_FREEZE, @1, ps); take_names($$, $2); }
    | UNFREEZE strings                  { $$ = stmt(IR_UNFREEZE, @1, ps); take_names($$, $2); }
    | REMOVE STRING                     { $$ = stmt(IR_REMOVE, @1, ps); $$->name = str_at($2, @2, ps); }
    | REMOVE STRING KEEP CONNECTIONS    {
          $$ = stmt(IR_REMOVE, @1, ps); $$->name = str_at($2, @2, ps);
          $$->flags |= IRF_KEEP_CONNECTIONS;
      }
    | REMOVE OUTPUT                     { $$ = stmt(IR_REMOVE_OUTPUT, @1, ps); }
    | REMOVE LAST expr                  { $$ = stmt(IR_REMOVE_LAST, @1, ps); $$->count = $3; }
    | ADD word STRING FROM strings opt_block {
          $$ = stmt(IR_ADD, @1, ps); $$->type = str_at($2, @2, ps); $$->name = str_at($3, @3, ps);
          take_names($$, $5); $$->block = $6;
      }
    | REPLACE STRING WITH word opt_block {
          $$ = stmt(IR_REPLACE, @1, ps); $$->name = str_at($2, @2, ps); $$->type = str_at($4, @4, ps);
          $$->block = $5;
      }
    | INSERT word STRING AFTER STRING opt_block {
          $$ = stmt(IR_INSERT, @1, ps); $$->type = str_at($2, @2, ps); $$->name = str_at($3, @3, ps);
          $$->name2 = str_at($5, @5, ps); $$->block = $6;
      }
    | RESIZE STRING N_OUT expr opt_block {
          $$ = stmt(IR_RESIZE, @1, ps); $$->name = str_at($2, @2, ps); $$->count = $4; $$->block = $5;
      }
    | RESIZE STRING N_IN expr opt_block {
          $$ = stmt(IR_RESIZE, @1, ps); $$->name = str_at($2, @2, ps); $$->count = $4; $$->block = $5;
          $$->flags |= IRF_N_IN;
      }
    | WIDEN STRING BY expr opt_block {
          $$ = stmt(IR_WIDEN, @1, ps); $$->name = str_at($2, @2, ps); $$->count = $4; $$->block = $5;
      }
    | WIDEN STRING TO expr opt_block {
          $$ = stmt(IR_WIDEN, @1, ps); $$->name = str_at($2, @2, ps); $$->count = $4; $$->block = $5;
          $$->flags |= IRF_TO;
      }
    | NARROW STRING TO expr {
          $$ = stmt(IR_NARROW, @1, ps); $$->name = str_at($2, @2, ps); $$->count = $4;
          $$->flags |= IRF_TO;
      }
    | NARROW STRING DROP expr {
          $$ = stmt(IR_NARROW, @1, ps); $$->name = str_at($2, @2, ps); $$->value = $4;
          $$->flags |= IRF_DROP;
      }
    | DEEPEN STRING WITH word STRING opt_block {
          $$ = stmt(IR_DEEPEN, @1, ps); $$->name = str_at($2, @2, ps); $$->type = str_at($4, @4, ps);
          $$->name2 = str_at($5, @5, ps); $$->block = $6;
      }
    | RENAME STRING TO STRING {
          $$ = stmt(IR_RENAME, @1, ps); $$->name = str_at($2, @2, ps); $$->name2 = str_at($4, @4, ps);
      }
    | SET STRING block                  { $$ = stmt(IR_SET, @1, ps); $$->name = str_at($2, @2, ps); $$->block = $3; }
    | OUTPUTS strings                   { $$ = stmt(IR_OUTPUTS, @1, ps); take_names($$, $2); }
    | INPUTS strings                    { $$ = stmt(IR_INPUTS, @1, ps); take_names($$, $2); }
    | DATA word '=' expr opt_block {
          $$ = stmt(IR_DATA, @1, ps); $$->name = str_at($2, @2, ps); $$->value = $4; $$->block = $5;
      }
    | FEATURIZE word                    { $$ = stmt(IR_FEATURIZE, @1, ps); $$->name = str_at($2, @2, ps); }
    | FEATURIZE word INTO STRING {
          $$ = stmt(IR_FEATURIZE, @1, ps); $$->name = str_at($2, @2, ps); $$->name2 = str_at($4, @4, ps);
          $$->flags |= IRF_HAS_INTO;
      }
    | FIT word EPOCHS expr opt_block {
          $$ = stmt(IR_FIT, @1, ps); $$->name = str_at($2, @2, ps); $$->count = $4; $$->block = $5;
      }
    | FIT word ITERATIONS expr opt_block {
          $$ = stmt(IR_FIT, @1, ps); $$->name = str_at($2, @2, ps); $$->count = $4; $$->block = $5;
          $$->flags |= IRF_ITERATIONS;
      }
    | EVALUATE word                     { $$ = stmt(IR_EVALUATE, @1, ps); $$->name = str_at($2, @2, ps); }
    | EXPECT word '(' word ')' cmp expr {
          $$ = stmt(IR_EXPECT, @1, ps); $$->metric = str_at($2, @2, ps); $$->name = str_at($4, @4, ps);
          $$->cmp = (ir_cmp)$6; $$->value = $7;
      }
    | SAVE STRING opt_block {
          $$ = stmt(IR_SAVE, @1, ps); $$->name = str_at($2, @2, ps); $$->block = $3;
      }
    ;

cmp
    : GE    { $$ = CMP_GE; }
    | '>'   { $$ = CMP_GT; }
    | LE    { $$ = CMP_LE; }
    | '<'   { $$ = CMP_LT; }
    | EQ    { $$ = CMP_EQ; }
    ;

strings
    : STRING                { $$ = ast_strs_new(); ast_strs_push($$, $1, L(@1)); }
    | strings ',' STRING    { $$ = $1; ast_strs_push($$, $3, L(@3)); }
    ;

opt_block
    : %empty    { $$ = NULL; }
    | block     { $$ = $1; }
    ;

block
    : '{' items '}' {
          $$ = $2;
          $$->loc = L(@1);
          $$->open_line = @1.first_line;
          $$->close_line = @3.first_line;
      }
    ;

items
    : %empty                { $$ = ast_block_new(loc_none()); }
    | items NL              { $$ = $1; }
    | items ','             { $$ = $1; }
    | items ';'             { $$ = $1; }
    | items word '=' expr   { $$ = $1; ast_args_push(&$$->pairs, $2, L(@2), $4, @2.first_line, @4.last_line); }
    | items error           { $$ = $1; }
    ;

expr
    : expr '+' expr         { $$ = binop('+', $1, $3, @$, ps); if (!$$) YYERROR; }
    | expr '-' expr         { $$ = binop('-', $1, $3, @$, ps); if (!$$) YYERROR; }
    | expr '*' expr         { $$ = binop('*', $1, $3, @$, ps); if (!$$) YYERROR; }
    | expr '/' expr         { $$ = binop('/', $1, $3, @$, ps); if (!$$) YYERROR; }
    | '-' expr %prec UMINUS { $$ = unary(AX_NEG, $2, @$, ps); if (!$$) YYERROR; }
    | '(' expr ')'          { $$ = unary(AX_PAREN, $2, @$, ps); if (!$$) YYERROR; }
    | NUMBER                { $$ = $1; }
    | STRING                { $$ = leaf(AX_STR, $1, @1, ps); }
    | word                  { $$ = leaf(AX_IDENT, $1, @1, ps); }
    | TRUE                  { $$ = leaf(AX_BOOL, NULL, @1, ps); $$->num = 1; }
    | FALSE                 { $$ = leaf(AX_BOOL, NULL, @1, ps); }
    | '[' opt_list_items ']'            { $$ = with_args(AX_LIST, NULL, $2, @$, ps); if (!$$) YYERROR; }
    | word '(' opt_call_args ')'        { $$ = with_args(AX_CALL, $1, $3, @$, ps); if (!$$) YYERROR; }
    | '(' error ')'         { $$ = leaf(AX_PAREN, NULL, @$, ps); $$->lhs = leaf(AX_BOOL, NULL, @2, ps); }
    | '[' error ']'         { $$ = with_args(AX_LIST, NULL, NULL, @$, ps); }
    | word '(' error ')'    { $$ = with_args(AX_CALL, $1, NULL, @$, ps); }
    ;

opt_list_items
    : %empty                { $$ = NULL; }
    | list_items            { $$ = $1; }
    | list_items ','        { $$ = $1; }
    ;

list_items
    : expr                  { $$ = push_arg(NULL, NULL, @1, $1, @1, ps); }
    | list_items ',' expr   { $$ = push_arg($1, NULL, @3, $3, @3, ps); }
    ;

opt_call_args
    : %empty                { $$ = NULL; }
    | call_args             { $$ = $1; }
    | call_args ','         { $$ = $1; }
    ;

call_args
    : expr                          { $$ = push_arg(NULL, NULL, @1, $1, @1, ps); }
    | word '=' expr                 { $$ = push_arg(NULL, $1, @1, $3, @$, ps); }
    | call_args ',' expr            { $$ = push_arg($1, NULL, @3, $3, @3, ps); }
    | call_args ',' word '=' expr   { $$ = push_arg($1, $3, @3, $5, @3, ps); }
    ;

word
    : IDENT                 { $$ = $1; }
    | keyword               { $$ = xstrdup($1); }
    ;

keyword
    : SURGERY | BASE | PARAM | INCLUDE | FINE_TUNE | FREEZE | THROUGH | UNFREEZE | REMOVE | KEEP
    | CONNECTIONS | OUTPUT | LAST | ADD | FROM | REPLACE | WITH | INSERT | AFTER | RESIZE | N_OUT
    | N_IN | WIDEN | BY | TO | NARROW | DROP | DEEPEN | RENAME | SET | OUTPUTS | INPUTS | DATA
    | FEATURIZE | INTO | FIT | EPOCHS | ITERATIONS | EVALUATE | EXPECT | SAVE
    ;

%%

/* ---- the token filter between the scanner and the parser ---- */

/* Statement keywords: one of these first on a line inside an unclosed bracket closes it. */
static bool starts_statement(int tok)
{
    switch (tok) {
    case SURGERY: case BASE: case PARAM: case INCLUDE: case FINE_TUNE: case FREEZE:
    case UNFREEZE: case REMOVE: case ADD: case REPLACE: case INSERT: case RESIZE: case WIDEN:
    case NARROW: case DEEPEN: case RENAME: case SET: case OUTPUTS: case INPUTS: case DATA:
    case FEATURIZE: case FIT: case EVALUATE: case EXPECT: case SAVE:
        return true;
    default:
        return false;
    }
}

static const char *const statement_words[] = {
    "surgery", "base", "param", "include", "fine_tune", "freeze", "unfreeze", "remove", "add",
    "replace", "insert", "resize", "widen", "narrow", "deepen", "rename", "set", "outputs",
    "inputs", "data", "featurize", "fit", "evaluate", "expect", "save"};

static void enqueue(parse_state *ps, int tok, const SURG_STYPE *v, parse_loc loc)
{
    if (ps->q_head + ps->q_len == ps->q_cap) {
        if (ps->q_head > 0) {
            memmove(ps->queue, ps->queue + ps->q_head, (size_t)ps->q_len * sizeof *ps->queue);
            ps->q_head = 0;
        } else {
            ps->q_cap = ps->q_cap ? ps->q_cap * 2 : 8;
            ps->queue = xrealloc(ps->queue, (size_t)ps->q_cap * sizeof *ps->queue);
        }
    }
    queued_token *q = &ps->queue[ps->q_head + ps->q_len++];
    memset(q, 0, sizeof *q);
    q->tok = tok;
    q->loc = loc;
    if (v) {
        if (tok == STRING || tok == IDENT)
            q->str = v->str;
        else if (tok == NUMBER)
            q->expr = v->expr;
        else
            q->kw = v->kw;
    }
    ps->last_queued = tok;
}

/* Closes the brackets left open above index `down_to`: reports the innermost one and queues
 * the closers of all of them at `at`. */
static void close_open(parse_state *ps, int down_to, parse_loc at)
{
    parse_loc z = at;
    z.last_line = z.first_line;
    z.last_column = z.first_column;
    if (ps->n_open > down_to)
        diag_error(ps->d, L(ps->open[ps->n_open - 1].loc), "unclosed '%c'", ps->open[ps->n_open - 1].ch);
    while (ps->n_open > down_to) {
        open_bracket *o = &ps->open[--ps->n_open];
        enqueue(ps, o->ch == '(' ? ')' : o->ch == '[' ? ']' : '}', NULL, z);
    }
}

/* Index of the innermost open brace, or -1. */
static int innermost_brace(const parse_state *ps)
{
    for (int i = ps->n_open - 1; i >= 0; i--)
        if (ps->open[i].ch == '{')
            return i;
    return -1;
}

/* Feeds one scanner token through the filter into the queue. */
static void feed(parse_state *ps, int tok, const SURG_STYPE *v, parse_loc loc)
{
    bool line_start = ps->line_start;
    ps->line_start = tok == NL;
    int top = ps->n_open ? ps->open[ps->n_open - 1].ch : 0;
    switch (tok) {
    case NL:
        if (top == '(' || top == '[')
            return;
        enqueue(ps, NL, NULL, loc);
        return;
    case 0:
        close_open(ps, 0, loc);
        if (ps->last_queued != NL)
            enqueue(ps, NL, NULL, loc);
        enqueue(ps, 0, NULL, loc);
        return;
    case '{':
    case '}': {
        int b = innermost_brace(ps);
        close_open(ps, b + 1, loc);
        if (tok == '}' && b >= 0)
            ps->n_open--;
        break;
    }
    case ')':
    case ']':
        if (top == '(' || top == '[') {
            char want = top == '(' ? ')' : ']';
            if (tok != want) {
                diag_error(ps->d, L(loc), "expected '%c', found '%c'", want, tok);
                diag_note(ps->d, L(ps->open[ps->n_open - 1].loc), "to close this '%c'", top);
                tok = want;
            }
            ps->n_open--;
        }
        break;
    default:
        if (line_start && ps->n_open && starts_statement(tok)) {
            close_open(ps, 0, loc);
            if (ps->last_queued != NL)
                enqueue(ps, NL, NULL, loc);
        }
        break;
    }
    if (tok == '{' || tok == '(' || tok == '[') {
        if (ps->n_open == ps->cap_open) {
            ps->cap_open = ps->cap_open ? ps->cap_open * 2 : 8;
            ps->open = xrealloc(ps->open, (size_t)ps->cap_open * sizeof *ps->open);
        }
        ps->open[ps->n_open].ch = (char)tok;
        ps->open[ps->n_open].loc = loc;
        ps->n_open++;
    }
    enqueue(ps, tok, v, loc);
}

static int surg_lex(SURG_STYPE *lval, parse_loc *lloc, void *scanner, parse_state *ps)
{
    while (ps->q_len == 0) {
        SURG_STYPE v;
        parse_loc l;
        memset(&v, 0, sizeof v);
        int tok = surg_raw_lex(&v, &l, scanner);
        feed(ps, tok, &v, l);
    }
    queued_token *q = &ps->queue[ps->q_head++];
    ps->q_len--;
    if (ps->q_len == 0)
        ps->q_head = 0;
    *lloc = q->loc;
    ps->tok_text = "";
    if (q->tok == STRING || q->tok == IDENT) {
        lval->str = q->str;
        ps->tok_text = q->str;
    } else if (q->tok == NUMBER) {
        lval->expr = q->expr;
        ps->tok_text = q->expr->text;
    } else {
        lval->kw = q->kw;
    }
    return q->tok;
}

void parse_filter_release(parse_state *ps)
{
    for (int i = 0; i < ps->q_len; i++) {
        queued_token *q = &ps->queue[ps->q_head + i];
        free(q->str);
        ast_expr_free(q->expr);
    }
    free(ps->queue);
    free(ps->open);
    ps->queue = NULL;
    ps->open = NULL;
    ps->q_len = ps->q_head = ps->q_cap = 0;
    ps->n_open = ps->cap_open = 0;
}

/* ---- syntax error messages ---- */

/* How a token is named in "expected ..." messages. */
static const char *expected_name(yysymbol_kind_t k, char *buf, size_t n)
{
    switch (k) {
    case YYSYMBOL_IDENT: return "an identifier";
    case YYSYMBOL_STRING: return "a string";
    case YYSYMBOL_NUMBER: return "a number";
    case YYSYMBOL_NL: return "end of line";
    case YYSYMBOL_YYEOF: return "end of file";
    default: break;
    }
    const char *s = yysymbol_name(k);
    if (s[0] == '\'')
        return s;
    snprintf(buf, n, "'%s'", s);
    return buf;
}

/* '-', '(' and '[' start a value too. */
static bool starts_value(yysymbol_kind_t k)
{
    const char *s = yysymbol_name(k);
    return !strcmp(s, "'-'") || !strcmp(s, "'('") || !strcmp(s, "'['");
}

/* The arithmetic operators: listed as expected only where nothing else would do. */
static bool binary_op(yysymbol_kind_t k)
{
    const char *s = yysymbol_name(k);
    return !strcmp(s, "'+'") || !strcmp(s, "'-'") || !strcmp(s, "'*'") || !strcmp(s, "'/'");
}

/* The spelling of a keyword token, or NULL when k is not one. */
static const char *keyword_text(yysymbol_kind_t k)
{
    return k >= YYSYMBOL_SURGERY && k <= YYSYMBOL_FALSE ? yysymbol_name(k) : NULL;
}

static void found_name(yysymbol_kind_t k, const parse_state *ps, char *buf, size_t n)
{
    char tmp[64];
    switch (k) {
    case YYSYMBOL_IDENT: snprintf(buf, n, "identifier '%.60s'", ps->tok_text); return;
    case YYSYMBOL_STRING: snprintf(buf, n, "string \"%.60s\"", ps->tok_text); return;
    case YYSYMBOL_NUMBER: snprintf(buf, n, "number %.60s", ps->tok_text); return;
    default: snprintf(buf, n, "%s", expected_name(k, tmp, sizeof tmp)); return;
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, parse_state *ps)
{
    (void)scanner;
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;
    yysymbol_kind_t tok = yypcontext_token(ctx);
    src_loc at = L(*yypcontext_location(ctx));
    char found[128];
    found_name(tok, ps, found, sizeof found);

    bool any_ident = false, any_value = false, statement = false;
    for (int i = 0; i < n; i++) {
        any_ident |= exp[i] == YYSYMBOL_IDENT;
        any_value |= exp[i] == YYSYMBOL_NUMBER;
        statement |= exp[i] == YYSYMBOL_BASE;
    }
    if (statement && any_ident == false) {
        if (tok == YYSYMBOL_IDENT) {
            const char *hint = diag_suggest(ps->tok_text, statement_words,
                                            (int)(sizeof statement_words / sizeof *statement_words));
            if (hint)
                diag_error(ps->d, at, "unknown statement '%.60s' (did you mean '%s'?)", ps->tok_text, hint);
            else
                diag_error(ps->d, at, "unknown statement '%.60s'", ps->tok_text);
        } else {
            diag_error(ps->d, at, "expected a statement, found %s", found);
        }
        return 0;
    }

    /* "expected A, B or C": keywords are left out where any identifier would do, and the
     * tokens that start a value are said as one. */
    char list[512] = "";
    const char *items[YYNTOKENS];
    char bufs[YYNTOKENS][48];
    int m = 0;
    const char *kws[YYNTOKENS];
    int n_kw = 0;
    if (any_value)
        items[m++] = "a value";
    for (int i = 0; i < n; i++) {
        yysymbol_kind_t k = exp[i];
        const char *kw = keyword_text(k);
        if (kw && k != YYSYMBOL_TRUE && k != YYSYMBOL_FALSE)
            kws[n_kw++] = kw;
        if (any_value && (k == YYSYMBOL_NUMBER || k == YYSYMBOL_STRING || k == YYSYMBOL_IDENT ||
                          k == YYSYMBOL_TRUE || k == YYSYMBOL_FALSE || starts_value(k) || kw))
            continue;
        if (any_ident && kw)
            continue;
        if (binary_op(k))
            continue;
        items[m++] = expected_name(k, bufs[i], sizeof bufs[i]);
    }
    size_t len = 0;
    for (int i = 0; i < m && len < sizeof list - 1; i++) {
        const char *sep = i == 0 ? "" : i == m - 1 ? " or " : ", ";
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", sep, items[i]);
    }
    const char *hint = NULL;
    if (tok == YYSYMBOL_IDENT && !any_ident && n_kw > 0)
        hint = diag_suggest(ps->tok_text, kws, n_kw);
    bool want_string = false;
    for (int i = 0; i < n; i++)
        want_string |= exp[i] == YYSYMBOL_STRING;
    if (tok == YYSYMBOL_IDENT && want_string && !any_ident && !any_value && !hint)
        diag_error(ps->d, at, "expected %s, found %s (names of layers and files are quoted: \"%.60s\")",
                   list, found, ps->tok_text);
    else if (m == 0)
        diag_error(ps->d, at, "unexpected %s", found);
    else if (hint)
        diag_error(ps->d, at, "expected %s, found %s (did you mean '%s'?)", list, found, hint);
    else
        diag_error(ps->d, at, "expected %s, found %s", list, found);
    return 0;
}

static void surg_error(parse_loc *lloc, void *scanner, parse_state *ps, const char *msg)
{
    (void)scanner;
    if (!strcmp(msg, "memory exhausted"))
        diag_error(ps->d, L(*lloc), "the script is nested too deeply to parse");
    else
        diag_error(ps->d, L(*lloc), "%s", msg);
}
