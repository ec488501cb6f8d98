/* ir_yaml_read.c: loads and validates a script IR YAML document (format surgery-ir/1, written
 * by ir_yaml.c) with libyaml's parser. */
#include "runtime/script/ir.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "runtime/base/diag.h"
#include "runtime/base/limits.h"
#include "runtime/base/yaml_limits.h"
#include "runtime/script/ir_yaml_impl.h"

/* The fields a statement of each kind cannot do without (count and the expect fields are
 * required wherever they are used). */
static const unsigned kind_required[IR_KIND_COUNT] = {
    [IR_BASE] = F_NAME, [IR_PARAM] = F_NAME | F_VALUE, [IR_FREEZE_THROUGH] = F_NAMES,
    [IR_FREEZE] = F_NAMES, [IR_UNFREEZE] = F_NAMES, [IR_REMOVE] = F_NAME,
    [IR_ADD] = F_TYPE | F_NAME | F_NAMES, [IR_REPLACE] = F_NAME | F_TYPE,
    [IR_INSERT] = F_TYPE | F_NAME | F_NAME2, [IR_RESIZE] = F_NAME, [IR_WIDEN] = F_NAME,
    [IR_NARROW] = F_NAME, [IR_DEEPEN] = F_NAME | F_TYPE | F_NAME2,
    [IR_RENAME] = F_NAME | F_NAME2, [IR_SET] = F_NAME, [IR_OUTPUTS] = F_NAMES,
    [IR_INPUTS] = F_NAMES, [IR_DATA] = F_NAME | F_VALUE, [IR_FEATURIZE] = F_NAME,
    [IR_FIT] = F_NAME, [IR_EVALUATE] = F_NAME, [IR_EXPECT] = F_NAME, [IR_SAVE] = F_NAME,
};

/* ======================================================================== loading */

typedef struct loader {
    yaml_document_t doc;
    const char *path;        /* interned in d */
    struct diag_ctx *d;
    ir_script *s;
    int errors;
} loader;

static void lerr(loader *L, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void lerr(loader *L, const yaml_node_t *n, const char *fmt, ...)
{
    src_loc l = {L->path, 0, 0, 0};
    if (n) {
        l.line = (int)n->start_mark.line + 1;
        l.col = (int)n->start_mark.column + 1;
        if (n->type == YAML_SCALAR_NODE && n->end_mark.line == n->start_mark.line)
            l.len = (int)(n->end_mark.column - n->start_mark.column);
    }
    va_list ap;
    va_start(ap, fmt);
    diag_verror(L->d, l, fmt, ap);
    va_end(ap);
    L->errors++;
}

static yaml_node_t *node(loader *L, int index)
{
    return yaml_document_get_node(&L->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The text of a scalar node, or NULL after reporting that `what` must be one. */
static const char *want_scalar(loader *L, const yaml_node_t *n, const char *what)
{
    const char *s = scalar(n);
    if (!s)
        lerr(L, n, "%s must be a single value", what);
    return s;
}

/* Checks a mapping's keys against the allowed ones (reporting unknown and repeated keys)
 * and returns the value nodes in `out` (NULL when absent), in the order of `keys`. */
static bool read_map(loader *L, yaml_node_t *n, const char *what, const char *const *keys,
                     int n_keys, yaml_node_t **out)
{
    for (int i = 0; i < n_keys; i++)
        out[i] = NULL;
    if (!n || n->type != YAML_MAPPING_NODE) {
        lerr(L, n, "%s must be a mapping", what);
        return false;
    }
    bool ok = true;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(L, p->key);
        const char *ks = scalar(k);
        int slot = -1;
        for (int i = 0; ks && i < n_keys; i++)
            if (!strcmp(keys[i], ks))
                slot = i;
        if (slot < 0) {
            const char *hint = ks ? diag_suggest(ks, keys, n_keys) : NULL;
            if (hint)
                lerr(L, k, "unknown field '%s' in %s (did you mean '%s'?)", ks, what, hint);
            else
                lerr(L, k, "unknown field '%s' in %s", ks ? ks : "?", what);
            ok = false;
        } else if (out[slot]) {
            lerr(L, k, "field '%s' given twice in %s", ks, what);
            ok = false;
        } else {
            out[slot] = node(L, p->value);
        }
    }
    return ok;
}

static bool parse_num_text(const char *s, double *x)
{
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN")) {
        *x = NAN;
        return true;
    }
    if (!strcmp(s, ".inf") || !strcmp(s, "+.inf")) {
        *x = INFINITY;
        return true;
    }
    if (!strcmp(s, "-.inf")) {
        *x = -INFINITY;
        return true;
    }
    if (!*s || strchr(" \t\n", *s))
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return false;
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    /* ERANGE also flags subnormal results, which are exact here; refuse only overflow and
     * underflow to zero. */
    return *end == 0 && (errno != ERANGE || (isfinite(*x) && *x != 0));
}

static bool read_num(loader *L, const yaml_node_t *n, const char *what, double *x)
{
    const char *s = want_scalar(L, n, what);
    if (!s)
        return false;
    if (!parse_num_text(s, x)) {
        lerr(L, n, "%s must be a number, got '%s'", what, s);
        return false;
    }
    return true;
}

static bool read_int(loader *L, const yaml_node_t *n, const char *what, int64_t *x)
{
    const char *s = want_scalar(L, n, what);
    if (!s)
        return false;
    const char *p = s + (*s == '-');
    bool digits = *p != 0;
    for (; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    errno = 0;
    long long v = digits ? strtoll(s, NULL, 10) : 0;
    if (!digits || errno == ERANGE) {
        lerr(L, n, "%s must be an integer, got '%s'", what, s);
        return false;
    }
    *x = v;
    return true;
}

static bool read_bool(loader *L, const yaml_node_t *n, const char *what, bool *b)
{
    const char *s = want_scalar(L, n, what);
    if (!s)
        return false;
    if (strcmp(s, "true") && strcmp(s, "false")) {
        lerr(L, n, "%s must be true or false, got '%s'", what, s);
        return false;
    }
    *b = s[0] == 't';
    return true;
}

/* Parses a non-negative decimal int spanning [p, end). */
static bool dec_span(const char *p, const char *end, int *out)
{
    if (p >= end || end - p > 9)
        return false;
    int v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

/* "file:line:col+len", the file one of the files list (or empty for none). */
static bool read_loc(loader *L, const yaml_node_t *n, const char *what, src_loc *out)
{
    const char *s = want_scalar(L, n, what);
    if (!s)
        return false;
    const char *plus = strrchr(s, '+');
    const char *c2 = NULL, *c1 = NULL;
    if (plus) {
        for (const char *p = plus; p > s; p--)
            if (p[-1] == ':') {
                if (!c2)
                    c2 = p - 1;
                else {
                    c1 = p - 1;
                    break;
                }
            }
    }
    src_loc l = loc_none();
    if (!c1 || !dec_span(c1 + 1, c2, &l.line) || !dec_span(c2 + 1, plus, &l.col) ||
        !dec_span(plus + 1, s + strlen(s), &l.len) || l.line < 1) {
        lerr(L, n, "%s must be a location FILE:LINE:COL+LEN, got '%s'", what, s);
        return false;
    }
    size_t flen = (size_t)(c1 - s);
    if (flen) {
        for (int i = 0; i < L->s->n_files; i++)
            if (strlen(L->s->files[i]) == flen && !strncmp(L->s->files[i], s, flen))
                l.file = L->s->files[i];
        if (!l.file) {
            lerr(L, n, "%s names a file missing from 'files': '%.*s'", what, (int)flen, s);
            return false;
        }
    }
    *out = l;
    return true;
}

static bool opt_loc(loader *L, const yaml_node_t *n, const char *what, src_loc *out)
{
    *out = loc_none();
    return !n || read_loc(L, n, what, out);
}

static char *dup_scalar(loader *L, const yaml_node_t *n, const char *what)
{
    const char *s = want_scalar(L, n, what);
    if (!s)
        return NULL;
    char *c = strdup(s);
    if (!c)
        lerr(L, n, "out of memory");
    return c;
}

static bool is_ident(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static conf_value *load_value(loader *L, yaml_node_t *n, int depth);

/* A sequence of {key?, loc?, value} into a call/list's arguments. */
static bool load_args(loader *L, yaml_node_t *n, conf_value *into, int depth, bool need_key)
{
    if (!n || n->type != YAML_SEQUENCE_NODE) {
        lerr(L, n, "arguments must be a sequence");
        return false;
    }
    static const char *const keys[] = {"key", "loc", "value"};
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *f[3];
        yaml_node_t *item = node(L, *it);
        if (!read_map(L, item, "an argument", keys, 3, f))
            return false;
        const char *key = NULL;
        if (need_key && !f[0]) {
            lerr(L, item, "every option needs a 'key'");
            return false;
        }
        if (f[0]) {
            key = want_scalar(L, f[0], "'key'");
            if (!key)
                return false;
            if (!is_ident(key)) {
                lerr(L, f[0], "'key' must be a name, got '%s'", key);
                return false;
            }
        }
        src_loc kl;
        if (!opt_loc(L, f[1], "'loc'", &kl))
            return false;
        if (!f[2]) {
            lerr(L, item, "an argument needs a 'value'");
            return false;
        }
        conf_value *v = load_value(L, f[2], depth + 1);
        if (!v)
            return false;
        conf_push_arg(into, key, kl, v);
    }
    return true;
}

static conf_value *load_value(loader *L, yaml_node_t *n, int depth)
{
    static const char *const keys[] = {"num", "str", "ident", "bool", "call", "list", "loc",
                                       "args"};
    yaml_node_t *f[8];
    if (depth > MAX_DEPTH) {
        lerr(L, n, "value nested too deeply");
        return NULL;
    }
    if (!read_map(L, n, "a value", keys, 8, f))
        return NULL;
    int which = -1;
    for (int i = 0; i < 6; i++)
        if (f[i]) {
            if (which >= 0) {
                lerr(L, f[i], "a value has one of num, str, ident, bool, call, list; "
                              "this one has both '%s' and '%s'", keys[which], keys[i]);
                return NULL;
            }
            which = i;
        }
    if (which < 0) {
        lerr(L, n, "a value needs one of num, str, ident, bool, call, list");
        return NULL;
    }
    if (f[7] && which != 4) {
        lerr(L, f[7], "only a call has 'args'");
        return NULL;
    }
    src_loc loc;
    if (!opt_loc(L, f[6], "'loc'", &loc))
        return NULL;
    yaml_node_t *x = f[which];
    switch (which) {
    case 0: {
        double num;
        return read_num(L, x, "'num'", &num) ? conf_num(num, loc) : NULL;
    }
    case 1:
    case 2: {
        const char *s = want_scalar(L, x, which == 1 ? "'str'" : "'ident'");
        if (!s)
            return NULL;
        if (which == 2 && !is_ident(s)) {
            lerr(L, x, "'ident' must be a name, got '%s'", s);
            return NULL;
        }
        return conf_str(which == 1 ? CV_STR : CV_IDENT, s, loc);
    }
    case 3: {
        bool b;
        return read_bool(L, x, "'bool'", &b) ? conf_bool(b, loc) : NULL;
    }
    case 4: {
        const char *s = want_scalar(L, x, "'call'");
        if (!s)
            return NULL;
        if (!is_ident(s)) {
            lerr(L, x, "'call' must be a name, got '%s'", s);
            return NULL;
        }
        conf_value *v = conf_call(s, loc);
        if (f[7] && !load_args(L, f[7], v, depth, false)) {
            conf_value_free(v);
            return NULL;
        }
        return v;
    }
    default: {
        conf_value *v = conf_list(loc);
        if (!load_args(L, x, v, depth, false)) {
            conf_value_free(v);
            return NULL;
        }
        return v;
    }
    }
}

enum {
    K_KIND, K_LOC, K_FLAGS, K_LAYER_TYPE, K_LAYER_TYPE_LOC, K_METRIC, K_METRIC_LOC, K_CMP,
    K_THRESHOLD, K_NAME, K_NAME_LOC, K_NAME2, K_NAME2_LOC, K_NAMES, K_COUNT, K_COUNT_LOC,
    K_INDICES, K_INDICES_LOC, K_VALUE, K_OPTS_LOC, K_OPTS, K_N
};
static const char *const stmt_keys[K_N] = {
    "kind", "loc", "flags", "layer_type", "layer_type_loc", "metric", "metric_loc", "cmp",
    "threshold", "name", "name_loc", "name2", "name2_loc", "names", "count", "count_loc",
    "indices", "indices_loc", "value", "opts_loc", "opts"};
/* The field group each key belongs to (0: every kind). */
static const unsigned key_field[K_N] = {
    0, 0, F_FLAGS, F_TYPE, F_TYPE, F_EXPECT, F_EXPECT, F_EXPECT, F_EXPECT, F_NAME, F_NAME,
    F_NAME2, F_NAME2, F_NAMES, F_COUNT, F_COUNT, F_INDICES, F_INDICES, F_VALUE, F_OPTS, F_OPTS};

static bool load_names(loader *L, yaml_node_t *n, ir_stmt *st)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        lerr(L, n, "'names' must be a sequence");
        return false;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    st->names = calloc((size_t)count + 1, sizeof *st->names);
    st->name_locs = calloc((size_t)count + 1, sizeof *st->name_locs);
    if (!st->names || !st->name_locs) {
        lerr(L, n, "out of memory");
        return false;
    }
    static const char *const keys[] = {"name", "loc"};
    for (int i = 0; i < count; i++) {
        yaml_node_t *f[2];
        yaml_node_t *item = node(L, n->data.sequence.items.start[i]);
        if (!read_map(L, item, "an item of 'names'", keys, 2, f))
            return false;
        if (!f[0]) {
            lerr(L, item, "an item of 'names' needs a 'name'");
            return false;
        }
        if (!opt_loc(L, f[1], "'loc'", &st->name_locs[i]))
            return false;
        st->names[i] = dup_scalar(L, f[0], "'name'");
        if (!st->names[i])
            return false;
        st->n_names = i + 1;
    }
    return true;
}

static bool load_indices(loader *L, yaml_node_t *n, ir_stmt *st)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        lerr(L, n, "'indices' must be a sequence");
        return false;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    st->indices = calloc((size_t)count + 1, sizeof *st->indices);
    if (!st->indices) {
        lerr(L, n, "out of memory");
        return false;
    }
    for (int i = 0; i < count; i++) {
        if (!read_int(L, node(L, n->data.sequence.items.start[i]), "an index", &st->indices[i]))
            return false;
        st->n_indices = i + 1;
    }
    return true;
}

static bool load_flags(loader *L, yaml_node_t *n, ir_stmt *st)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        lerr(L, n, "'flags' must be a sequence");
        return false;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *f = node(L, *it);
        const char *s = want_scalar(L, f, "a flag");
        if (!s)
            return false;
        int k = -1;
        for (int i = 0; i < N_FLAGS; i++)
            if (!strcmp(flag_names[i], s))
                k = i;
        if (k < 0) {
            const char *hint = diag_suggest(s, flag_names, N_FLAGS);
            if (hint)
                lerr(L, f, "unknown flag '%s' (did you mean '%s'?)", s, hint);
            else
                lerr(L, f, "unknown flag '%s'", s);
            return false;
        }
        st->flags |= 1u << k;
    }
    return true;
}

static bool load_stmt(loader *L, yaml_node_t *n)
{
    yaml_node_t *f[K_N];
    if (!read_map(L, n, "a statement", stmt_keys, K_N, f))
        return false;
    if (!f[K_KIND]) {
        lerr(L, n, "a statement needs a 'kind'");
        return false;
    }
    const char *ks = want_scalar(L, f[K_KIND], "'kind'");
    if (!ks)
        return false;
    int kind = -1;
    for (int i = 0; i < IR_KIND_COUNT; i++)
        if (!strcmp(ir_kind_names[i], ks))
            kind = i;
    if (kind < 0) {
        const char *hint = diag_suggest(ks, ir_kind_names, IR_KIND_COUNT);
        if (hint)
            lerr(L, f[K_KIND], "unknown statement kind '%s' (did you mean '%s'?)", ks, hint);
        else
            lerr(L, f[K_KIND], "unknown statement kind '%s'", ks);
        return false;
    }
    unsigned used = kind_fields[kind];
    for (int k = 0; k < K_N; k++)
        if (f[k] && key_field[k] && !(used & key_field[k])) {
            lerr(L, f[k], "a '%s' statement has no field '%s'", ks, stmt_keys[k]);
            return false;
        }
    static const struct { unsigned field; int key; } needs[] = {
        {F_NAME, K_NAME}, {F_NAME2, K_NAME2}, {F_TYPE, K_LAYER_TYPE}, {F_NAMES, K_NAMES},
        {F_VALUE, K_VALUE}, {F_EXPECT, K_METRIC}};
    for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++)
        if ((kind_required[kind] & needs[i].field) && !f[needs[i].key]) {
            lerr(L, n, "a '%s' statement needs '%s'", ks, stmt_keys[needs[i].key]);
            return false;
        }
    src_loc loc;
    if (!opt_loc(L, f[K_LOC], "'loc'", &loc))
        return false;
    ir_stmt *st = ir_append(L->s, (ir_kind)kind, loc);
    if (f[K_FLAGS] && !load_flags(L, f[K_FLAGS], st))
        return false;
    if (f[K_LAYER_TYPE] && !(st->layer_type = dup_scalar(L, f[K_LAYER_TYPE], "'layer_type'")))
        return false;
    if (!opt_loc(L, f[K_LAYER_TYPE_LOC], "'layer_type_loc'", &st->layer_type_loc))
        return false;
    if (f[K_METRIC] && !(st->metric = dup_scalar(L, f[K_METRIC], "'metric'")))
        return false;
    if (!opt_loc(L, f[K_METRIC_LOC], "'metric_loc'", &st->metric_loc))
        return false;
    if (used & F_EXPECT) {
        if (!f[K_CMP] || !f[K_THRESHOLD]) {
            lerr(L, n, "an 'expect' statement needs 'cmp' and 'threshold'");
            return false;
        }
        const char *c = want_scalar(L, f[K_CMP], "'cmp'");
        if (!c)
            return false;
        int k = -1;
        for (int i = 0; i < N_CMPS; i++)
            if (!strcmp(cmp_names[i], c))
                k = i;
        if (k < 0) {
            lerr(L, f[K_CMP], "'cmp' must be one of >=, >, <=, <, ==; got '%s'", c);
            return false;
        }
        st->cmp = (ir_cmp)k;
        if (!read_num(L, f[K_THRESHOLD], "'threshold'", &st->threshold))
            return false;
    }
    if (f[K_NAME] && !(st->name = dup_scalar(L, f[K_NAME], "'name'")))
        return false;
    if (!opt_loc(L, f[K_NAME_LOC], "'name_loc'", &st->name_loc))
        return false;
    if (f[K_NAME2] && !(st->name2 = dup_scalar(L, f[K_NAME2], "'name2'")))
        return false;
    if (!opt_loc(L, f[K_NAME2_LOC], "'name2_loc'", &st->name2_loc))
        return false;
    if ((st->flags & IRF_HAS_INTO) && kind == IR_FEATURIZE && !st->name2) {
        lerr(L, n, "a 'featurize' statement with has_into needs 'name2'");
        return false;
    }
    if (f[K_NAMES] && !load_names(L, f[K_NAMES], st))
        return false;
    if (used & F_COUNT) {
        if (!f[K_COUNT]) {
            lerr(L, n, "a '%s' statement needs a 'count'", ks);
            return false;
        }
        if (!read_int(L, f[K_COUNT], "'count'", &st->count))
            return false;
    }
    if (!opt_loc(L, f[K_COUNT_LOC], "'count_loc'", &st->count_loc))
        return false;
    if (f[K_INDICES] && !load_indices(L, f[K_INDICES], st))
        return false;
    if (!opt_loc(L, f[K_INDICES_LOC], "'indices_loc'", &st->indices_loc))
        return false;
    if (f[K_VALUE] && !(st->value = load_value(L, f[K_VALUE], 0)))
        return false;
    if (!opt_loc(L, f[K_OPTS_LOC], "'opts_loc'", &st->opts_loc))
        return false;
    if (f[K_OPTS]) {
        conf_value *list = conf_list(loc_none());
        bool ok = load_args(L, f[K_OPTS], list, 0, true);
        st->opts = list->args;
        st->n_opts = list->n_args;
        list->args = NULL;
        list->n_args = 0;
        conf_value_free(list);
        if (!ok)
            return false;
    }
    return true;
}

static bool load_document(loader *L, yaml_node_t *root)
{
    static const char *const keys[] = {"format", "script", "files", "statements"};
    yaml_node_t *f[4];
    if (!read_map(L, root, "an IR document", keys, 4, f))
        return false;
    const char *fmt = f[0] ? scalar(f[0]) : NULL;
    if (!fmt || strcmp(fmt, IR_FORMAT)) {
        lerr(L, f[0] ? f[0] : root, "not a surgery IR file: 'format' must be %s", IR_FORMAT);
        return false;
    }
    const char *script = NULL;
    if (f[1] && !(script = want_scalar(L, f[1], "'script'")))
        return false;
    /* The files are interned from the list below, which must start with the script. */
    L->s = ir_script_new(NULL);
    if (script && !(L->s->path = strdup(script))) {
        lerr(L, f[1], "out of memory");
        return false;
    }
    if (!f[2] || f[2]->type != YAML_SEQUENCE_NODE) {
        lerr(L, f[2] ? f[2] : root, "'files' must be a sequence of paths");
        return false;
    }
    for (yaml_node_item_t *it = f[2]->data.sequence.items.start;
         it < f[2]->data.sequence.items.top; it++) {
        yaml_node_t *fn = node(L, *it);
        const char *p = want_scalar(L, fn, "a file");
        if (!p)
            return false;
        int before = L->s->n_files;
        ir_intern_file(L->s, p);
        if (L->s->n_files == before) {
            lerr(L, fn, "file '%s' listed twice", p);
            return false;
        }
    }
    if (script && (L->s->n_files == 0 || strcmp(L->s->files[0], script))) {
        lerr(L, f[2], "'files' must start with the script '%s'", script);
        return false;
    }
    if (!f[3] || f[3]->type != YAML_SEQUENCE_NODE) {
        lerr(L, f[3] ? f[3] : root, "'statements' must be a sequence");
        return false;
    }
    for (yaml_node_item_t *it = f[3]->data.sequence.items.start;
         it < f[3]->data.sequence.items.top; it++)
        if (!load_stmt(L, node(L, *it)))
            return false;
    return true;
}

/* The file's size and a pass over its events against the limits of runtime/base/limits.h,
 * before libyaml builds the document; rewinds fp. False when a limit is passed (reported). */
static bool ir_within_limits(FILE *fp, src_loc where, struct diag_ctx *d)
{
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && st.st_size > LIMIT_YAML_BYTES) {
        diag_error(d, where, "the IR file is larger than %d MiB (the limit on a YAML file)",
                   LIMIT_YAML_BYTES >> 20);
        return false;
    }
    yaml_parser_t scan;
    if (!yaml_parser_initialize(&scan)) {
        diag_error(d, where, "cannot read the IR: out of memory");
        return false;
    }
    yaml_parser_set_input_file(&scan, fp);
    yaml_limit_hit hit;
    int over = yaml_scan_limits(&scan, &hit);
    yaml_parser_delete(&scan);
    rewind(fp);
    if (over) {
        src_loc at = {where.file, (int)hit.line + 1, (int)hit.column + 1, 1};
        diag_error(d, at, "%s", hit.msg);
    }
    return !over;
}

ir_script *ir_load_yaml(const char *path, struct diag_ctx *d)
{
    loader L = {.d = d};
    L.path = diag_intern_path(d, path);
    src_loc where = {L.path, 0, 0, 0};
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        diag_error(d, where, "cannot read the IR: %s", strerror(errno));
        return NULL;
    }
    if (!ir_within_limits(fp, where, d)) {
        fclose(fp);
        return NULL;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(fp);
        diag_error(d, where, "cannot read the IR: out of memory");
        return NULL;
    }
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &L.doc)) {
        src_loc l = where;
        l.line = (int)parser.problem_mark.line + 1;
        l.col = (int)parser.problem_mark.column + 1;
        if (parser.error == YAML_MEMORY_ERROR)   /* status 4, not a malformed file */
            diag_error(d, where, "out of memory while reading the IR");
        else if (parser.context)
            diag_error(d, l, "malformed IR file: %s %s", parser.problem ? parser.problem : "error",
                       parser.context);
        else
            diag_error(d, l, "malformed IR file: %s", parser.problem ? parser.problem : "error");
        yaml_parser_delete(&parser);
        fclose(fp);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (!root) {
        diag_error(d, where, "not a surgery IR file: the file is empty");
    } else if (load_document(&L, root)) {
        /* A second document in the stream is not part of the format. */
        yaml_document_t extra;
        if (yaml_parser_load(&parser, &extra)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&extra);
            if (r2)
                lerr(&L, r2, "an IR file holds one document");
            yaml_document_delete(&extra);
        } else {
            src_loc l = where;
            l.line = (int)parser.problem_mark.line + 1;
            l.col = (int)parser.problem_mark.column + 1;
            if (parser.error == YAML_MEMORY_ERROR)
                diag_error(d, where, "out of memory while reading the IR");
            else
                diag_error(d, l, "malformed IR file: %s", parser.problem ? parser.problem : "error");
            L.errors++;
        }
    } else if (!L.errors) {
        L.errors++;
    }
    yaml_document_delete(&L.doc);
    yaml_parser_delete(&parser);
    fclose(fp);
    if (!root || L.errors) {
        ir_script_free(L.s);
        return NULL;
    }
    return L.s;
}
