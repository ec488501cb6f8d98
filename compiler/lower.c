/* lower.c: syntax tree -> IR: includes spliced, parameters evaluated in order (with --set
 * overrides), arithmetic computed; and frontend_compile, the whole front end in one call. */
#include "compiler/frontend.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/parse.h"
#include "runtime/base/util.h"

/* A parameter in scope: its value lives in the IR's `param` statement. */
typedef struct param_def {
    const char *name;
    const conf_value *value;   /* NULL when its expression failed (already reported) */
    src_loc loc;
} param_def;

typedef struct lower_ctx {
    diag_ctx *d;
    ir_script *s;
    const param_override *sets;
    int n_sets;
    bool *set_used;
    param_def *params;
    int n_params, cap_params;
    int *slots;                /* open-addressing table of indices into params, -1 = empty */
    int n_slots;
    param_def *all;            /* every param statement of the script, defined or not yet */
    int n_all, cap_all;
    int *all_slots;
    int n_all_slots;
    const char *file;          /* the current file, interned in s */
    int errors;
} lower_ctx;

/* ---- parameter table ---- */

static unsigned hash_name(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* A table of parameters: an array plus an open-addressing index (-1 = empty slot). */
static int table_find(const param_def *defs, const int *slots, int n_slots, const char *name)
{
    if (!n_slots)
        return -1;
    unsigned mask = (unsigned)(n_slots - 1);
    for (unsigned i = hash_name(name) & mask;; i = (i + 1) & mask) {
        int k = slots[i];
        if (k < 0)
            return -1;
        if (!strcmp(defs[k].name, name))
            return k;
    }
}

static void slot_put(const param_def *defs, int *slots, int n_slots, int k)
{
    unsigned mask = (unsigned)(n_slots - 1);
    unsigned i = hash_name(defs[k].name) & mask;
    while (slots[i] >= 0)
        i = (i + 1) & mask;
    slots[i] = k;
}

static void table_add(param_def **defs, int *n, int *cap, int **slots, int *n_slots,
                      const char *name, const conf_value *v, src_loc loc)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *defs = xrealloc(*defs, (size_t)*cap * sizeof **defs);
    }
    (*defs)[*n].name = name;
    (*defs)[*n].value = v;
    (*defs)[*n].loc = loc;
    (*n)++;
    if (*n * 2 > *n_slots) {
        *n_slots = *n_slots ? *n_slots * 2 : 32;
        *slots = xrealloc(*slots, (size_t)*n_slots * sizeof **slots);
        for (int i = 0; i < *n_slots; i++)
            (*slots)[i] = -1;
        for (int k = 0; k < *n; k++)
            slot_put(*defs, *slots, *n_slots, k);
    } else {
        slot_put(*defs, *slots, *n_slots, *n - 1);
    }
}

static int param_find(const lower_ctx *c, const char *name)
{
    return table_find(c->params, c->slots, c->n_slots, name);
}

static void param_add(lower_ctx *c, const char *name, const conf_value *v, src_loc loc)
{
    table_add(&c->params, &c->n_params, &c->cap_params, &c->slots, &c->n_slots, name, v, loc);
}

/* Collects every `param` statement of the script and its includes (first definition wins). */
static void collect_params(lower_ctx *c, const script_file *sf)
{
    for (int i = 0; i < sf->ast->n_stmts; i++) {
        const ast_stmt *st = sf->ast->stmts[i];
        if (st->kind == IR_PARAM &&
            table_find(c->all, c->all_slots, c->n_all_slots, st->name.s) < 0)
            table_add(&c->all, &c->n_all, &c->cap_all, &c->all_slots, &c->n_all_slots,
                      st->name.s, NULL, st->name.loc);
        if (st->kind == AST_INCLUDE && sf->includes && sf->includes[i])
            collect_params(c, sf->includes[i]);
    }
}

static const char *param_suggest(const lower_ctx *c, const char *word)
{
    const char **names = xmalloc((size_t)(c->n_params + 1) * sizeof *names);
    for (int i = 0; i < c->n_params; i++)
        names[i] = c->params[i].name;
    const char *hint = diag_suggest(word, names, c->n_params);
    free(names);
    return hint;
}

/* Appends a copy of a lowered statement to the script. */
static ir_stmt *append(lower_ctx *c, const ir_stmt *st)
{
    ir_stmt *dst = ir_append(c->s, st->kind, st->loc);
    *dst = *st;
    return dst;
}

/* ---- expressions ---- */

static src_loc at(const lower_ctx *c, src_loc l)
{
    l.file = c->file;
    return l;
}

__attribute__((format(printf, 3, 4)))
static void error(lower_ctx *c, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->errors++;
    diag_verror(c->d, at(c, loc), fmt, ap);
    va_end(ap);
}

/* Enum-like words the language uses as values; a word close to a parameter's name but not one
 * of these is taken as a misspelt parameter. */
static bool known_value_word(const char *s)
{
    static const char *const words[] = {"standardize", "minmax", "start", "end", "equal",
                                        "preserve", "net2net", "standard", "chars", "zeros",
                                        "none"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (!strcmp(s, words[i]))
            return true;
    return activation_from_name(s) >= 0 || loss_from_name(s) >= 0 || init_from_name(s) >= 0 ||
           updater_from_name(s) >= 0 || grad_norm_from_name(s) >= 0;
}

static const char *kind_text(const conf_value *v)
{
    switch (v->kind) {
    case CV_STR: return "a string";
    case CV_IDENT: return "an identifier";
    case CV_BOOL: return "a boolean";
    case CV_CALL: return "a call";
    case CV_LIST: return "a list";
    default: return "a number";
    }
}

static conf_value *eval(lower_ctx *c, const ast_expr *e, bool arith);

/* A word used as a value: a parameter, or an identifier (enum value) when it is none. */
static conf_value *eval_word(lower_ctx *c, const ast_expr *e, bool arith)
{
    int k = param_find(c, e->text);
    if (k >= 0) {
        if (!c->params[k].value)
            return NULL;
        conf_value *v = conf_value_clone(c->params[k].value);
        v->loc = at(c, e->loc);
        return v;
    }
    int later = table_find(c->all, c->all_slots, c->n_all_slots, e->text);
    if (later >= 0) {
        error(c, e->loc, "parameter '%s' is used before its definition", e->text);
        diag_note(c->d, c->all[later].loc, "'%s' is defined here", e->text);
        return NULL;
    }
    const char *hint = arith || !known_value_word(e->text) ? param_suggest(c, e->text) : NULL;
    if (arith || hint) {
        if (hint)
            error(c, e->loc, "undefined parameter '%s' (did you mean '%s'?)", e->text, hint);
        else
            error(c, e->loc, "undefined parameter '%s'", e->text);
        return NULL;
    }
    return conf_str(CV_IDENT, e->text, at(c, e->loc));
}

/* Evaluates an operand of arithmetic: a number, or NULL (reported). */
static conf_value *eval_number(lower_ctx *c, const ast_expr *e)
{
    conf_value *v = eval(c, e, true);
    if (v && v->kind != CV_NUM) {
        error(c, e->loc, "arithmetic needs numbers, but this is %s", kind_text(v));
        conf_value_free(v);
        return NULL;
    }
    return v;
}

static conf_value *eval_binop(lower_ctx *c, const ast_expr *e)
{
    conf_value *a = eval_number(c, e->lhs);
    conf_value *b = eval_number(c, e->rhs);
    conf_value *r = NULL;
    if (a && b) {
        double x = a->num, y = b->num, z = 0;
        switch (e->op) {
        case '+': z = x + y; break;
        case '-': z = x - y; break;
        case '*': z = x * y; break;
        default:
            if (y == 0) {
                error(c, e->rhs->loc, "division by zero");
                goto out;
            }
            z = x / y;
            break;
        }
        if (!isfinite(z))
            error(c, e->loc, "the result of this arithmetic is out of range");
        else
            r = conf_num(z, at(c, e->loc));
    }
out:
    conf_value_free(a);
    conf_value_free(b);
    return r;
}

/* Arguments of a list or call; false when one failed. */
static bool eval_args(lower_ctx *c, const ast_args *args, conf_value *into)
{
    bool ok = true;
    for (int i = 0; i < args->n; i++) {
        const ast_arg *g = &args->v[i];
        conf_value *v = eval(c, g->value, false);
        if (!v) {
            ok = false;
            continue;
        }
        conf_push_arg(into, g->name, g->name ? at(c, g->name_loc) : loc_none(), v);
    }
    return ok;
}

static conf_value *eval(lower_ctx *c, const ast_expr *e, bool arith)
{
    conf_value *v = NULL;
    switch (e->kind) {
    case AX_NUM:
        return conf_num(e->num, at(c, e->loc));
    case AX_STR:
        v = conf_str(CV_STR, e->text, at(c, e->loc));
        break;
    case AX_BOOL:
        v = conf_bool(e->num != 0, at(c, e->loc));
        break;
    case AX_IDENT:
        return eval_word(c, e, arith);
    case AX_LIST:
        v = conf_list(at(c, e->loc));
        if (!eval_args(c, &e->args, v)) {
            conf_value_free(v);
            return NULL;
        }
        break;
    case AX_CALL:
        v = conf_call(e->text, at(c, e->loc));
        if (!eval_args(c, &e->args, v)) {
            conf_value_free(v);
            return NULL;
        }
        break;
    case AX_BINOP:
        return eval_binop(c, e);
    case AX_NEG:
        v = eval_number(c, e->lhs);
        if (v) {
            v->num = -v->num;
            v->loc = at(c, e->loc);
        }
        return v;
    case AX_PAREN:
        v = eval(c, e->lhs, arith);
        if (v)
            v->loc = at(c, e->loc);
        return v;
    }
    if (arith && v && v->kind != CV_NUM) {
        error(c, e->loc, "arithmetic needs numbers, but this is %s", kind_text(v));
        conf_value_free(v);
        return NULL;
    }
    return v;
}

/* A whole number (counts, sizes, indices); false when not (reported). */
static bool eval_int(lower_ctx *c, const ast_expr *e, int64_t *out)
{
    conf_value *v = eval(c, e, e->kind == AX_IDENT); /* a word here must be a parameter */
    if (!v)
        return false;
    bool ok = v->kind == CV_NUM && v->num == floor(v->num) && fabs(v->num) <= 9007199254740992.0;
    if (!ok) {
        char num[64];
        if (v->kind == CV_NUM)
            error(c, e->loc, "expected a whole number, found %s", conf_format_num(v->num, num, sizeof num));
        else
            error(c, e->loc, "expected a whole number, found %s", kind_text(v));
    } else {
        *out = (int64_t)v->num;
    }
    conf_value_free(v);
    return ok;
}

/* ---- statements ---- */

static void lower_block(lower_ctx *c, const ast_block *b, ir_stmt *st)
{
    if (!b)
        return;
    st->opts_loc = at(c, b->loc);
    if (b->pairs.n == 0)
        return;
    st->opts = xmalloc((size_t)b->pairs.n * sizeof *st->opts);
    for (int i = 0; i < b->pairs.n; i++) {
        const ast_arg *g = &b->pairs.v[i];
        conf_value *v = eval(c, g->value, false);
        if (!v)
            continue;
        conf_arg *o = &st->opts[st->n_opts++];
        o->name = xstrdup(g->name);
        o->name_loc = at(c, g->name_loc);
        o->value = v;
    }
}

static void lower_names(lower_ctx *c, const ast_strs *names, ir_stmt *st)
{
    if (names->n == 0)
        return;
    st->names = xmalloc((size_t)names->n * sizeof *st->names);
    st->name_locs = xmalloc((size_t)names->n * sizeof *st->name_locs);
    for (int i = 0; i < names->n; i++) {
        st->names[i] = xstrdup(names->v[i].s);
        st->name_locs[i] = at(c, names->v[i].loc);
    }
    st->n_names = names->n;
}

/* A value given with --set, typed like the parameter's default where the text allows. */
static conf_value *override_value(const char *text, const conf_value *def, src_loc loc)
{
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    if (*text && *text != ' ' && *text != '\t' && !*end && isfinite(x))
        return conf_num(x, loc);
    if (def && def->kind == CV_BOOL && (!strcmp(text, "true") || !strcmp(text, "false")))
        return conf_bool(!strcmp(text, "true"), loc);
    bool word = (*text >= 'A' && *text <= 'Z') || (*text >= 'a' && *text <= 'z') || *text == '_';
    for (const char *p = text; *p && word; p++)
        word = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
               (*p >= '0' && *p <= '9');
    if (def && def->kind == CV_IDENT && word)
        return conf_str(CV_IDENT, text, loc);
    return conf_str(CV_STR, text, loc);
}

static void lower_param(lower_ctx *c, const ast_stmt *a)
{
    int k = param_find(c, a->name.s);
    if (k >= 0) {
        error(c, a->name.loc, "parameter '%s' is already defined", a->name.s);
        diag_note(c->d, c->params[k].loc, "'%s' is first defined here", a->name.s);
        return;
    }
    conf_value *v = eval(c, a->value, false);
    for (int i = c->n_sets - 1; i >= 0; i--)
        if (!strcmp(c->sets[i].key, a->name.s)) {
            conf_value *o = override_value(c->sets[i].value, v, at(c, a->value->loc));
            conf_value_free(v);
            v = o;
            for (int j = 0; j < c->n_sets; j++)
                if (!strcmp(c->sets[j].key, a->name.s))
                    c->set_used[j] = true;
            break;
        }
    ir_stmt tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.kind = IR_PARAM;
    tmp.loc = at(c, a->loc);
    tmp.name = xstrdup(a->name.s);
    tmp.name_loc = at(c, a->name.loc);
    tmp.value = v;
    const ir_stmt *st = append(c, &tmp);
    param_add(c, st->name, v, at(c, a->name.loc));
}

static void lower_file(lower_ctx *c, const script_file *sf);

static void lower_stmt(lower_ctx *c, const script_file *sf, int index)
{
    const ast_stmt *a = sf->ast->stmts[index];
    if (a->kind == AST_INCLUDE) {
        const script_file *sub = sf->includes ? sf->includes[index] : NULL;
        if (sub) {
            const char *saved = c->file;
            lower_file(c, sub);
            c->file = saved;
        }
        return;
    }
    if (a->kind == IR_PARAM) {
        lower_param(c, a);
        return;
    }
    /* Everything is evaluated before the append, which may move earlier statements. */
    ir_stmt tmp;
    memset(&tmp, 0, sizeof tmp);
    ir_stmt *st = &tmp;
    st->kind = (ir_kind)a->kind;
    st->loc = at(c, a->loc);
    st->flags = a->flags;
    if (a->name.s) {
        st->name = xstrdup(a->name.s);
        st->name_loc = at(c, a->name.loc);
    }
    if (a->name2.s) {
        st->name2 = xstrdup(a->name2.s);
        st->name2_loc = at(c, a->name2.loc);
    }
    if (a->type.s) {
        st->layer_type = xstrdup(a->type.s);
        st->layer_type_loc = at(c, a->type.loc);
    }
    if (a->metric.s) {
        st->metric = xstrdup(a->metric.s);
        st->metric_loc = at(c, a->metric.loc);
    }
    lower_names(c, &a->names, st);
    if (a->count) {
        st->count_loc = at(c, a->count->loc);
        eval_int(c, a->count, &st->count);
    }
    lower_block(c, a->block, st);
    switch (a->kind) {
    case IR_NARROW:
        if (a->flags & IRF_DROP) {
            conf_value *v = eval(c, a->value, false);
            st->indices_loc = at(c, a->value->loc);
            if (v && v->kind != CV_LIST) {
                error(c, a->value->loc, "expected a list of unit indices such as [3, 17], found %s",
                      kind_text(v));
            } else if (v && v->n_args > 0) {
                st->indices = xmalloc((size_t)v->n_args * sizeof *st->indices);
                for (int i = 0; i < v->n_args; i++) {
                    const conf_value *x = v->args[i].value;
                    if (x->kind != CV_NUM || x->num != floor(x->num) || fabs(x->num) > 9007199254740992.0) {
                        c->errors++;
                        diag_error(c->d, x->loc, "a unit index is a whole number");
                        continue;
                    }
                    st->indices[st->n_indices++] = (int64_t)x->num;
                }
            }
            conf_value_free(v);
        }
        break;
    case IR_DATA:
        st->value = eval(c, a->value, false);
        if (st->value && st->value->kind != CV_CALL) {
            error(c, a->value->loc, "a data source is a call such as csv(\"train.csv\"), not %s",
                  kind_text(st->value));
        }
        break;
    case IR_EXPECT: {
        st->cmp = a->cmp;
        conf_value *v = eval(c, a->value, a->value->kind == AX_IDENT);
        if (v && v->kind != CV_NUM)
            error(c, a->value->loc, "expected a number to compare with, found %s", kind_text(v));
        else if (v)
            st->threshold = v->num;
        conf_value_free(v);
        break;
    }
    default:
        break;
    }
    append(c, &tmp);
}

static void lower_file(lower_ctx *c, const script_file *sf)
{
    c->file = ir_intern_file(c->s, sf->ast->path);
    for (int i = 0; i < sf->ast->n_stmts; i++)
        lower_stmt(c, sf, i);
}

int lower_script(const script_file *root, const param_override *sets, int n_sets, diag_ctx *d,
                 ir_script **out)
{
    *out = NULL;
    lower_ctx c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.s = ir_script_new(root->ast->path);
    c.sets = sets;
    c.n_sets = n_sets;
    c.set_used = xmalloc((size_t)(n_sets + 1) * sizeof *c.set_used);
    memset(c.set_used, 0, (size_t)(n_sets + 1) * sizeof *c.set_used);
    collect_params(&c, root);
    lower_file(&c, root);
    int status = c.errors ? FE_SCRIPT_ERRORS : FE_OK;
    for (int i = 0; i < n_sets; i++) {
        if (c.set_used[i])
            continue;
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= !strcmp(sets[j].key, sets[i].key);
        if (seen)
            continue;
        const char *hint = param_suggest(&c, sets[i].key);
        if (hint)
            diag_error(d, loc_none(), "--set: unknown parameter '%s' (did you mean '%s'?)", sets[i].key, hint);
        else
            diag_error(d, loc_none(), "--set: unknown parameter '%s'", sets[i].key);
        status = FE_USAGE;
    }
    free(c.set_used);
    free(c.params);
    free(c.slots);
    free(c.all);
    free(c.all_slots);
    if (status != FE_OK) {
        ir_script_free(c.s);
        return status;
    }
    *out = c.s;
    return FE_OK;
}

int frontend_compile(const char *path, const param_override *sets, int n_sets, diag_ctx *d,
                     ir_script **out)
{
    *out = NULL;
    ir_script *s = NULL;
    if (str_ends_with(path, ".ir.yaml")) {
        if (access(path, R_OK) != 0) {
            diag_error(d, loc_none(), "cannot read '%s': %s", path, strerror(errno));
            return FE_USAGE;
        }
        if (n_sets > 0) {
            diag_error(d, loc_none(), "--set: the parameters of a compiled script are fixed; "
                                      "compile the .surgery script again with --set");
            return FE_USAGE;
        }
        s = ir_load_yaml(path, d);
        if (!s)
            return FE_SCRIPT_ERRORS;
    } else {
        int errors = 0;
        bool unreadable = false;
        script_file *sf = script_load(path, d, &errors, &unreadable);
        if (!sf)
            return unreadable ? FE_USAGE : FE_SCRIPT_ERRORS;
        int status = errors ? FE_SCRIPT_ERRORS : lower_script(sf, sets, n_sets, d, &s);
        script_file_free(sf);
        if (status != FE_OK)
            return status;
    }
    if (sema_check(s, d) > 0) {
        ir_script_free(s);
        return FE_SCRIPT_ERRORS;
    }
    *out = s;
    return FE_OK;
}
