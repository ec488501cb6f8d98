/* sema.c: the checks of a lowered script that need no model: statement order and counts,
 * option names and values per statement (per layer type for add/replace/insert), data sources
 * and data names, expect metrics, with "did you mean" and notes at related places. */
#include "compiler/frontend.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/layer.h"
#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx.h"
#include "runtime/nn/layer_options.h"

#define MAX_KEYS 64
#define SUPPORTED_VERSION 1

typedef struct sema {
    ir_script *s;
    diag_ctx *d;
    const ir_stmt **data;    /* data statements seen so far, in order */
    int n_data;
} sema;

static void err(sema *c, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err(sema *c, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(c->d, loc, fmt, ap);
    va_end(ap);
}

static int count_list(const char *const *list)
{
    int n = 0;
    while (list[n])
        n++;
    return n;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

/* "unknown WHAT 'x' (did you mean 'y'?)" */
static void unknown(sema *c, src_loc loc, const char *what, const char *name,
                    const char *const *candidates, int n)
{
    const char *hint = diag_suggest(name, candidates, n);
    if (hint)
        err(c, loc, "unknown %s '%s' (did you mean '%s'?)", what, name, hint);
    else
        err(c, loc, "unknown %s '%s'", what, name);
}

/* When opts[i] repeats an earlier key of its block, reports it (at the repeat, with a note at
 * the first) and returns true. */
static bool repeated_key(sema *c, const ir_stmt *st, int i)
{
    const conf_arg *o = &st->opts[i];
    for (int j = 0; j < i; j++)
        if (o->name && st->opts[j].name && !strcmp(o->name, st->opts[j].name)) {
            err(c, o->name_loc, "option '%s' given twice", o->name);
            diag_note(c->d, st->opts[j].name_loc, "first given here");
            return true;
        }
    return false;
}

/* Reports the repeated keys of a block whose values are not checked further. */
static void check_repeated_keys(sema *c, const ir_stmt *st)
{
    for (int i = 0; i < st->n_opts; i++)
        repeated_key(c, st, i);
}

/* ---- small typed option values (data sources, widen, resize) ---- */

typedef enum {
    OT_INT,      /* whole number >= min */
    OT_NUM,      /* number >= min */
    OT_BOOL,
    OT_ENUM,     /* one of values[] (a name or a string) */
    OT_STR,      /* a string */
    OT_CHAR,     /* a one-character string */
    OT_INIT,     /* a weight initialisation */
    OT_NUMS      /* a number or a list of numbers (the reader checks counts and ranges) */
} opt_type;

typedef struct opt_spec {
    const char *key;
    opt_type type;
    double min;
    const char *const *values;
    double max;              /* OT_INT, OT_NUM: 0 for no upper bound */
} opt_spec;

static bool check_typed(sema *c, const char *key, src_loc key_loc, const conf_value *v,
                        const opt_spec *spec)
{
    src_loc at = conf_loc(v, key_loc);
    switch (spec->type) {
    case OT_INT:
    case OT_NUM:
        if (v->kind != CV_NUM) {
            err(c, at, "'%s' takes a number, got %s", key, conf_kind_desc(v));
            return false;
        }
        if (!isfinite(v->num)) {
            err(c, at, "'%s' must be a finite number", key);
            return false;
        }
        if (spec->type == OT_INT && v->num != floor(v->num)) {
            err(c, at, "'%s' must be a whole number, got %g", key, v->num);
            return false;
        }
        if (v->num < spec->min) {
            err(c, at, "'%s' must be >= %g, got %g", key, spec->min, v->num);
            return false;
        }
        if (spec->max > 0 && v->num > spec->max) {
            err(c, at, "'%s' must be <= %g, got %g", key, spec->max, v->num);
            return false;
        }
        return true;
    case OT_BOOL:
        if (v->kind == CV_BOOL ||
            ((v->kind == CV_IDENT || v->kind == CV_STR) &&
             (!strcmp(v->str, "true") || !strcmp(v->str, "false"))))
            return true;
        err(c, at, "'%s' takes true or false, got %s", key, conf_kind_desc(v));
        return false;
    case OT_ENUM: {
        if (v->kind != CV_IDENT && v->kind != CV_STR) {
            err(c, at, "'%s' takes a name, got %s", key, conf_kind_desc(v));
            return false;
        }
        if (in_list(spec->values, v->str))
            return true;
        const char *hint = diag_suggest(v->str, spec->values, count_list(spec->values));
        char choices[256] = "";
        for (const char *const *p = spec->values; *p; p++) {
            size_t n = strlen(choices);
            snprintf(choices + n, sizeof choices - n, "%s%s", n ? ", " : "", *p);
        }
        if (hint)
            err(c, at, "unknown %s '%s' (did you mean '%s'?)", key, v->str, hint);
        else
            err(c, at, "unknown %s '%s' (expected one of: %s)", key, v->str, choices);
        return false;
    }
    case OT_STR:
    case OT_CHAR:
        if (v->kind != CV_STR) {
            err(c, at, "'%s' takes a string, got %s", key, conf_kind_desc(v));
            return false;
        }
        if (spec->type == OT_CHAR && strlen(v->str) != 1) {
            err(c, at, "'%s' must be a single character, got \"%s\"", key, v->str);
            return false;
        }
        return true;
    case OT_INIT: {
        init_spec w;
        return init_spec_from_value(&w, key, key_loc, v, c->d) == 0;
    }
    case OT_NUMS:
        if (v->kind == CV_NUM)
            return true;
        for (int i = 0; v->kind == CV_LIST && i < v->n_args; i++)
            if (v->args[i].value->kind != CV_NUM) {
                err(c, conf_loc(v->args[i].value, at), "'%s' takes numbers, got %s", key, conf_kind_desc(v->args[i].value));
                return false;
            }
        if (v->kind == CV_LIST && v->n_args > 0)
            return true;
        err(c, at, "'%s' takes a number or a list of numbers, got %s", key, conf_kind_desc(v));
        return false;
    }
    return false;
}

/* Checks a block against a table: unknown keys (did you mean), duplicates, value types. */
static void check_block(sema *c, const ir_stmt *st, const opt_spec *specs, int n_specs,
                        const char *where)
{
    const char *keys[MAX_KEYS];
    for (int k = 0; k < n_specs && k < MAX_KEYS; k++)
        keys[k] = specs[k].key;
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *o = &st->opts[i];
        if (repeated_key(c, st, i))
            continue;
        const opt_spec *spec = NULL;
        for (int k = 0; k < n_specs; k++)
            if (!strcmp(specs[k].key, o->name))
                spec = &specs[k];
        if (!spec) {
            const char *hint = diag_suggest(o->name, keys, n_specs);
            if (n_specs == 0)
                err(c, o->name_loc, "%s takes no options", where);
            else if (hint)
                err(c, o->name_loc, "unknown option '%s' for %s (did you mean '%s'?)", o->name,
                    where, hint);
            else
                err(c, o->name_loc, "unknown option '%s' for %s", o->name, where);
            continue;
        }
        check_typed(c, o->name, o->name_loc, o->value, spec);
    }
}

static const conf_value *opt_value(const ir_stmt *st, const char *key)
{
    const conf_arg *a = ir_opt(st, key);
    return a ? a->value : NULL;
}

/* ---- statements ---- */

static void check_names_unique(sema *c, const ir_stmt *st)
{
    for (int i = 0; i < st->n_names; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(st->names[i], st->names[j])) {
                src_loc here = st->name_locs ? st->name_locs[i] : st->loc;
                err(c, here, "'%s' is listed twice", st->names[i]);
                if (st->name_locs)
                    diag_note(c->d, st->name_locs[j], "first listed here");
                break;
            }
}

static void check_fine_tune(sema *c, const ir_stmt *st)
{
    int n_train = count_list(train_conf_keys);
    train_conf scratch;
    train_conf_defaults(&scratch);
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *o = &st->opts[i];
        if (repeated_key(c, st, i))
            continue;
        if (train_conf_set(&scratch, o->name, o->name_loc, o->value, c->d) == 1) {
            const char *hint = diag_suggest(o->name, train_conf_keys, n_train);
            const char *layer_keys[MAX_KEYS];
            int n_layer = layer_option_keys(NULL, layer_keys, MAX_KEYS);
            bool layer_key = false;
            for (int k = 0; k < n_layer; k++)
                layer_key = layer_key || !strcmp(layer_keys[k], o->name);
            if (layer_key)
                err(c, o->name_loc, "'%s' is a layer option; fine_tune takes only the training "
                    "keys (updater, learning_rate, l1, l2, dropout, ...)", o->name);
            else if (hint)
                err(c, o->name_loc, "unknown fine_tune option '%s' (did you mean '%s'?)",
                    o->name, hint);
            else
                err(c, o->name_loc, "unknown fine_tune option '%s'", o->name);
        }
    }
}

/* add / replace / insert: the type, then every option on a scratch layer of that type. */
static void check_layer_options(sema *c, const ir_stmt *st)
{
    const layer_type *type = layer_type_find(st->layer_type);
    if (!type) {
        const char *names[64];
        int n = layer_type_count < 64 ? layer_type_count : 64;
        layer_type_names(names);
        unknown(c, st->layer_type_loc.line ? st->layer_type_loc : st->loc, "layer type",
                st->layer_type ? st->layer_type : "", names, n);
        check_repeated_keys(c, st);
        return;
    }
    layer scratch;
    memset(&scratch, 0, sizeof scratch);
    scratch.type = type;
    train_conf_defaults(&scratch.train);
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *o = &st->opts[i];
        if (!repeated_key(c, st, i))
            layer_set_option(&scratch, o->name, o->name_loc, o->value, c->d);
    }
}

/* Options `set` accepts: the training keys and the layer options that change no shape and no
 * parameter (layer_option.set_rule). */
static void check_set(sema *c, const ir_stmt *st)
{
    const char *keys[MAX_KEYS];
    int n = 0;
    const char *layer_keys[MAX_KEYS];
    int n_layer = layer_option_keys(NULL, layer_keys, MAX_KEYS);
    for (int k = 0; k < n_layer && n < MAX_KEYS; k++) {
        const layer_option *lo = layer_option_find(NULL, layer_keys[k]);
        if (lo && lo->set_rule == LOPT_SET_ALLOWED)
            keys[n++] = layer_keys[k];
    }
    for (const char *const *k = train_conf_keys; *k && n < MAX_KEYS; k++)
        keys[n++] = *k;
    layer scratch;
    memset(&scratch, 0, sizeof scratch);
    train_conf_defaults(&scratch.train);
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *o = &st->opts[i];
        if (repeated_key(c, st, i))
            continue;
        const layer_option *lo = layer_option_find(NULL, o->name);
        if (lo && lo->set_rule == LOPT_SET_RESHAPES) {
            err(c, o->name_loc, "'set' cannot change '%s' (it changes shapes); use "
                "resize \"%s\" %s N", o->name, st->name ? st->name : "LAYER", o->name);
            continue;
        }
        if (lo && lo->set_rule == LOPT_SET_REPARAMS) {
            err(c, o->name_loc, "'set' cannot change '%s' (it changes the parameters); "
                "use replace", o->name);
            continue;
        }
        bool known = false;
        for (int k = 0; k < n; k++)
            known = known || !strcmp(keys[k], o->name);
        if (!known) {
            unknown(c, o->name_loc, "option", o->name, keys, n);
            continue;
        }
        layer_set_option(&scratch, o->name, o->name_loc, o->value, c->d);
    }
}

static void check_resize(sema *c, const ir_stmt *st)
{
    static const opt_spec specs[] = {{"init", OT_INIT, 0, NULL, 0},
                                     {"next_init", OT_INIT, 0, NULL, 0}};
    if (st->count < 1)
        err(c, st->count_loc.line ? st->count_loc : st->loc,
            "resize needs a size >= 1, got %lld", (long long)st->count);
    check_block(c, st, specs, 2, "resize");
    const conf_arg *next = ir_opt(st, "next_init");
    if (next && (st->flags & IRF_N_IN))
        err(c, next->name_loc, "'next_init' applies to resize n_out (the layers it feeds); "
            "resize n_in re-initialises this layer only");
}

static void check_widen(sema *c, const ir_stmt *st)
{
    static const char *const methods[] = {"preserve", "net2net", NULL};
    static const opt_spec specs[] = {{"outgoing", OT_INIT, 0, NULL, 0},
                                     {"method", OT_ENUM, 0, methods, 0},
                                     {"init", OT_INIT, 0, NULL, 0},
                                     {"noise", OT_NUM, 0, NULL, 0}};
    src_loc cl = st->count_loc.line ? st->count_loc : st->loc;
    if (st->count < 1) {
        if (st->flags & IRF_TO)
            err(c, cl, "widen to N needs N >= 1, got %lld", (long long)st->count);
        else
            err(c, cl, "widen by K needs K >= 1, got %lld", (long long)st->count);
    }
    const conf_value *m = opt_value(st, "method");
    bool net2net = m && (m->kind == CV_IDENT || m->kind == CV_STR) && !strcmp(m->str, "net2net");
    bool preserve = !m || ((m->kind == CV_IDENT || m->kind == CV_STR) &&
                           !strcmp(m->str, "preserve"));
    if (net2net) {
        /* Net2WiderNet copies existing units: there is nothing to initialise. */
        static const char *const no[] = {"outgoing", "init"};
        for (int i = 0; i < 2; i++) {
            const conf_arg *a = ir_opt(st, no[i]);
            if (a) {
                err(c, a->name_loc, "'%s' does not apply to method = net2net (new units copy "
                    "existing ones)", no[i]);
                diag_note(c->d, m->loc, "net2net chosen here");
            }
        }
    } else if (preserve) {
        const conf_arg *a = ir_opt(st, "noise");
        if (a)
            err(c, a->name_loc, "'noise' applies to method = net2net only");
    }
    check_block(c, st, specs, 4, "widen");
}

static void check_narrow(sema *c, const ir_stmt *st)
{
    if (st->flags & IRF_DROP) {
        src_loc il = st->indices_loc.line ? st->indices_loc : st->loc;
        if (st->n_indices == 0)
            err(c, il, "narrow drop needs at least one unit index");
        for (int i = 0; i < st->n_indices; i++) {
            if (st->indices[i] < 0) {
                err(c, il, "unit index %lld is negative (indices start at 0)",
                    (long long)st->indices[i]);
                continue;
            }
            for (int j = 0; j < i; j++)
                if (st->indices[j] == st->indices[i]) {
                    err(c, il, "unit %lld is listed twice", (long long)st->indices[i]);
                    break;
                }
        }
    } else if (st->count < 1) {
        err(c, st->count_loc.line ? st->count_loc : st->loc,
            "narrow to N needs N >= 1, got %lld", (long long)st->count);
    }
    check_block(c, st, NULL, 0, "narrow");
}

static void check_deepen(sema *c, const ir_stmt *st)
{
    static const char *const kinds[] = {"dense", "lstm", "conv2d"};
    const layer_type *lt = st->layer_type ? layer_type_find(st->layer_type) : NULL;
    if (!lt || !lt->deepen) {
        src_loc at = st->layer_type_loc.line ? st->layer_type_loc : st->loc;
        const char *t = st->layer_type ? st->layer_type : "";
        const char *hint = diag_suggest(t, kinds, 3);
        if (layer_type_find(t))
            err(c, at, "deepen inserts an identity-initialised dense, lstm or conv2d layer, not "
                "%s", t);
        else if (hint)
            err(c, at, "unknown layer type '%s' (did you mean '%s'?)", t, hint);
        else
            err(c, at, "deepen inserts a dense, lstm or conv2d layer, not '%s'", t);
    }
    check_block(c, st, NULL, 0, "deepen");
}

/* ---- data ---- */

static const char *const normalizers[] = {"standardize", "minmax", NULL};
static const char *const aligns[] = {"start", "end", "equal", NULL};

#define O_INT(k, lo) {k, OT_INT, lo, NULL, 0}
#define O_BOOL(k) {k, OT_BOOL, 0, NULL, 0}
#define O_ENUM(k, values) {k, OT_ENUM, 0, values, 0}
static const opt_spec csv_opts[] = {
    O_INT("label", 0), O_INT("classes", 2), O_INT("label_count", 1), O_INT("header", 0),
    {"delimiter", OT_CHAR, 0, NULL, 0}, O_INT("batch", 1), O_BOOL("shuffle"),
    O_ENUM("normalize", normalizers), O_INT("limit", 1)};
static const opt_spec csv_sequence_opts[] = {
    O_INT("classes", 2), O_INT("label", 0), O_INT("header", 0),
    {"delimiter", OT_CHAR, 0, NULL, 0}, O_INT("batch", 1), O_BOOL("shuffle"),
    O_ENUM("normalize", normalizers), O_ENUM("align", aligns), O_BOOL("per_sequence")};
static const char *const layouts[] = {"nchw", "nhwc", NULL};
static const opt_spec npy_opts[] = {
    O_INT("classes", 2), O_ENUM("layout", layouts), O_INT("batch", 1), O_BOOL("shuffle"), O_ENUM("normalize", normalizers),
    O_INT("limit", 1)};
static const opt_spec idx_opts[] = {
    {"classes", OT_INT, 2, NULL, 256}, O_INT("batch", 1), O_BOOL("shuffle"),
    O_ENUM("normalize", normalizers), O_INT("limit", 1)};
static const opt_spec images_opts[] = {
    {"height", OT_INT, 1, NULL, 16384}, {"width", OT_INT, 1, NULL, 16384}, {"channels", OT_INT, 1, NULL, 3},
    {"mean", OT_NUMS, 0, NULL, 0}, {"std", OT_NUMS, 0, NULL, 0}, {"split", OT_NUMS, 0, NULL, 0},
    O_INT("part", 0), O_BOOL("skip_bad"), O_INT("batch", 1), O_BOOL("shuffle"), O_INT("limit", 1)};
static const opt_spec text_opts[] = {
    O_INT("seq_length", 1), O_INT("batch", 1), O_BOOL("shuffle"),
    {"vocab", OT_STR, 0, NULL, 0}, O_INT("limit", 1)};

typedef struct source_spec {
    const char *name;
    const char *const params[4];   /* positional order; the first is always the path */
    int n_params;
    int n_required;                /* params[0..n_required) must be given */
    bool needs_first_last;         /* csv_sequence: first and last are required too */
    const opt_spec *opts;
    int n_opts;
    const char *usage;
} source_spec;

#define NOPTS(a) ((int)(sizeof a / sizeof a[0]))
static const source_spec sources[] = {
    {"csv", {"path"}, 1, 1, false, csv_opts, NOPTS(csv_opts), "csv(\"file.csv\")"},
    {"csv_sequence", {"pattern", "labels", "first", "last"}, 4, 1, true, csv_sequence_opts,
     NOPTS(csv_sequence_opts),
     "csv_sequence(\"seq/%d.csv\", labels = \"labels/%d.csv\", first = 0, last = 99)"},
    {"npy", {"path", "labels"}, 2, 1, false, npy_opts, NOPTS(npy_opts),
     "npy(\"x.npy\", labels = \"y.npy\")"},
    {"idx", {"images", "labels"}, 2, 1, false, idx_opts, NOPTS(idx_opts),
     "idx(\"train-images-idx3-ubyte\", labels = \"train-labels-idx1-ubyte\")"},
    {"text", {"path"}, 1, 1, false, text_opts, NOPTS(text_opts), "text(\"corpus.txt\")"},
    {"images", {"path"}, 1, 1, false, images_opts, NOPTS(images_opts), "images(\"folder/\")"},
};
#define N_SOURCES ((int)(sizeof sources / sizeof sources[0]))

/* Binds the source call's arguments to the source's parameters; reports problems. */
static void check_source(sema *c, const ir_stmt *st)
{
    const conf_value *call = st->value;
    if (!call || call->kind != CV_CALL)
        return;   /* lowering has reported it */
    const source_spec *src = NULL;
    for (int i = 0; i < N_SOURCES; i++)
        if (!strcmp(sources[i].name, call->str))
            src = &sources[i];
    if (!src) {
        const char *names[N_SOURCES];
        for (int i = 0; i < N_SOURCES; i++)
            names[i] = sources[i].name;
        unknown(c, call->loc, "data source", call->str, names, N_SOURCES);
        check_repeated_keys(c, st);
        return;
    }
    const conf_value *bound[4] = {NULL, NULL, NULL, NULL};
    int pos = 0;
    bool ok = true;
    for (int i = 0; i < call->n_args; i++) {
        const conf_arg *a = &call->args[i];
        int slot = -1;
        if (!a->name) {
            if (pos >= src->n_params) {
                err(c, conf_loc(a->value, call->loc), "%s() takes at most %d argument%s; write %s",
                    src->name, src->n_params, src->n_params == 1 ? "" : "s", src->usage);
                ok = false;
                continue;
            }
            slot = pos++;
        } else {
            for (int k = 0; k < src->n_params; k++)
                if (!strcmp(src->params[k], a->name))
                    slot = k;
            if (slot < 0) {
                const char *hint = diag_suggest(a->name, src->params, src->n_params);
                bool is_opt = false;
                for (int k = 0; k < src->n_opts; k++)
                    is_opt = is_opt || !strcmp(src->opts[k].key, a->name);
                if (is_opt)
                    err(c, a->name_loc, "'%s' is an option of %s(): write it in the block, "
                        "%s { %s = ... }", a->name, src->name, src->usage, a->name);
                else if (hint)
                    err(c, a->name_loc, "unknown argument '%s' of %s() (did you mean '%s'?)",
                        a->name, src->name, hint);
                else
                    err(c, a->name_loc, "unknown argument '%s' of %s()", a->name, src->name);
                ok = false;
                continue;
            }
        }
        if (bound[slot]) {
            err(c, a->name_loc.line ? a->name_loc : conf_loc(a->value, call->loc),
                "argument '%s' of %s() given twice", src->params[slot], src->name);
            ok = false;
            continue;
        }
        bound[slot] = a->value;
    }
    if (ok) {
        for (int k = 0; k < src->n_required; k++)
            if (!bound[k]) {
                err(c, call->loc, "%s() needs a %s: %s", src->name, src->params[k], src->usage);
                ok = false;
            }
        if (src->needs_first_last && (!bound[2] || !bound[3])) {
            err(c, call->loc, "%s() needs first and last (the range of sequence numbers): %s",
                src->name, src->usage);
            ok = false;
        }
    }
    /* Paths are strings; first/last whole numbers with first <= last. */
    for (int k = 0; k < src->n_params; k++) {
        const conf_value *v = bound[k];
        if (!v)
            continue;
        const char *p = src->params[k];
        if (!strcmp(p, "first") || !strcmp(p, "last")) {
            opt_spec spec = {p, OT_INT, 0, NULL, 0};
            if (!check_typed(c, p, call->loc, v, &spec))
                bound[k] = NULL;
        } else if (v->kind != CV_STR) {
            err(c, conf_loc(v, call->loc), "the %s argument of %s() is a path (a string), got %s",
                p, src->name, conf_kind_desc(v));
        } else if (v->str[0] == 0) {
            err(c, conf_loc(v, call->loc), "the %s of %s() is empty", p, src->name);
        } else if (!strcmp(src->name, "csv_sequence") && !strstr(v->str, "%d")) {
            err(c, conf_loc(v, call->loc), "the %s of csv_sequence() needs %%d where the sequence "
                "number goes, e.g. \"seq/%%d.csv\"", p);
        }
    }
    if (src->needs_first_last && bound[2] && bound[3] && bound[3]->num < bound[2]->num) {
        err(c, bound[3]->loc, "'last' (%g) is before 'first' (%g)", bound[3]->num,
            bound[2]->num);
        diag_note(c->d, bound[2]->loc, "first given here");
    }

    char where[64];
    snprintf(where, sizeof where, "%s data", src->name);
    check_block(c, st, src->opts, src->n_opts, where);
    /* Combinations. */
    const conf_arg *lc = ir_opt(st, "label_count"), *cl = ir_opt(st, "classes");
    if (lc && cl) {
        err(c, lc->name_loc, "'label_count' is for regression targets; 'classes' makes this "
            "data a classification");
        diag_note(c->d, cl->name_loc, "classes given here");
    }
    const conf_arg *label = ir_opt(st, "label");
    if (!strcmp(src->name, "csv_sequence") && label && bound[1]) {
        err(c, label->name_loc, "'label' names a column of the feature files; the labels come "
            "from labels = here");
        diag_note(c->d, conf_loc(bound[1], call->loc), "labels given here");
    }
}

static const ir_stmt *find_data(const sema *c, const char *name)
{
    for (int i = 0; i < c->n_data; i++)
        if (!strcmp(c->data[i]->name, name))
            return c->data[i];
    return NULL;
}

static void check_data(sema *c, const ir_stmt *st)
{
    check_source(c, st);
    if (!st->name)
        return;
    const ir_stmt *prev = find_data(c, st->name);
    if (prev) {
        err(c, st->name_loc.line ? st->name_loc : st->loc, "data '%s' is defined twice",
            st->name);
        diag_note(c->d, prev->name_loc.line ? prev->name_loc : prev->loc, "first defined here");
        return;
    }
    c->data[c->n_data++] = st;
}

/* A data name used by featurize / fit / evaluate / expect must be defined before. */
static void check_data_use(sema *c, const ir_stmt *st)
{
    if (!st->name)
        return;
    if (find_data(c, st->name))
        return;
    src_loc at = st->name_loc.line ? st->name_loc : st->loc;
    for (int i = 0; i < c->s->n_stmts; i++) {
        const ir_stmt *later = &c->s->stmts[i];
        if (later->kind == IR_DATA && later->name && !strcmp(later->name, st->name)) {
            err(c, at, "data '%s' is used before it is defined", st->name);
            diag_note(c->d, later->name_loc.line ? later->name_loc : later->loc,
                      "defined here, later in the script");
            return;
        }
    }
    const char **names = malloc((size_t)(c->n_data + 1) * sizeof *names);
    for (int i = 0; names && i < c->n_data; i++)
        names[i] = c->data[i]->name;
    if (c->n_data == 0)
        err(c, at, "unknown data '%s' (no data is defined before this line; define it with "
            "data %s = csv(\"...\"))", st->name, st->name);
    else
        unknown(c, at, "data", st->name, names, names ? c->n_data : 0);
    free(names);
}

static const char *const metrics[] = {"accuracy", "precision", "recall", "f1", "mse", "mae",
                                      "rmse", "r2", "loss", NULL};

static void check_expect(sema *c, const ir_stmt *st)
{
    check_data_use(c, st);
    if (!st->metric)
        return;
    src_loc ml = st->metric_loc.line ? st->metric_loc : st->loc;
    if (!in_list(metrics, st->metric)) {
        unknown(c, ml, "metric", st->metric, metrics, count_list(metrics));
        return;
    }
    double t = st->threshold;
    const char *m = st->metric;
    if (!isfinite(t)) {
        err(c, st->loc, "the threshold of expect %s must be a finite number", m);
    } else if (!strcmp(m, "accuracy") || !strcmp(m, "precision") || !strcmp(m, "recall") ||
               !strcmp(m, "f1")) {
        if (t < 0 || t > 1)
            err(c, st->loc, "%s is a fraction in [0, 1]; the threshold %g is outside it", m, t);
    } else if (!strcmp(m, "r2")) {
        if (t > 1)
            err(c, st->loc, "r2 is at most 1; the threshold %g is above it", t);
    } else if (t < 0) {
        err(c, st->loc, "%s is never negative; the threshold %g is below 0", m, t);
    }
}

/* fit D epochs N { checkpoint = "dir"  every = K }: K counts what the fit counts. */
static void check_fit(sema *c, const ir_stmt *st)
{
    check_data_use(c, st);
    const char *unit = (st->flags & IRF_ITERATIONS) ? "iteration" : "epoch";
    if (st->count < 1)
        err(c, st->count_loc.line ? st->count_loc : st->loc, "fit needs at least 1 %s, got %lld",
            unit, (long long)st->count);
    static const opt_spec specs[] = {{"checkpoint", OT_STR, 0, NULL, 0},
                                     {"every", OT_INT, 1, NULL, 0}};
    int before = diag_error_count(c->d);
    check_block(c, st, specs, 2, "fit");
    if (diag_error_count(c->d) != before)
        return;
    const conf_value *dir = opt_value(st, "checkpoint");
    const conf_arg *every = ir_opt(st, "every");
    if (dir && !dir->str[0])
        err(c, conf_loc(dir, st->opts_loc), "'checkpoint' names a folder; got an empty string");
    if (every && !dir)
        err(c, every->name_loc, "'every' needs 'checkpoint' (the folder the checkpoints go to)");
    else if (every && st->count >= 1 && every->value->num > (double)st->count)
        diag_warning(c->d, conf_loc(every->value, every->name_loc),
                     "'every' is %g %ss but the fit runs %lld: only the final checkpoint will "
                     "be written", every->value->num, unit, (long long)st->count);
}

/* save's options: how an ONNX file is written (docs/language.md, `save`). */
static void check_save(sema *c, const ir_stmt *st)
{
    static const opt_spec specs[] = {{"opset", OT_INT, ONNX_WRITE_MIN_OPSET, NULL, ONNX_MAX_OPSET},
                                     {"external_data", OT_BOOL, 0, NULL, 0}};
    if (st->n_opts && st->name && !str_ends_with(st->name, ".onnx")) {
        err(c, st->opts_loc.line ? st->opts_loc : st->loc, "save takes options (opset, "
            "external_data) for an ONNX file only: \"%s\" is not .onnx", st->name);
        return;
    }
    check_block(c, st, specs, 2, "save");
}

static void check_stmt(sema *c, int index, const ir_stmt **base)
{
    const ir_stmt *st = &c->s->stmts[index];
    switch (st->kind) {
    case IR_VERSION:
        /* First in its own file: an included script may start with its own `surgery 1`. */
        for (int i = 0; i < index; i++)
            if (c->s->stmts[i].loc.file == st->loc.file) {
                err(c, st->loc, "'surgery %lld' must be the first statement of the script",
                    (long long)st->count);
                diag_note(c->d, c->s->stmts[i].loc, "this statement comes before it");
                break;
            }
        if (st->count != SUPPORTED_VERSION)
            err(c, st->count_loc.line ? st->count_loc : st->loc,
                "unsupported language version %lld (this surgery reads version %d)",
                (long long)st->count, SUPPORTED_VERSION);
        break;
    case IR_BASE:
        if (*base) {
            err(c, st->loc, "'base' is given twice (a script edits exactly one model)");
            diag_note(c->d, (*base)->loc, "first given here");
        } else {
            *base = st;
        }
        break;
    case IR_FINE_TUNE:
        check_fine_tune(c, st);
        break;
    case IR_FREEZE_THROUGH:
    case IR_FREEZE:
    case IR_UNFREEZE:
    case IR_OUTPUTS:
    case IR_INPUTS:
        check_names_unique(c, st);
        break;
    case IR_REMOVE_LAST:
        if (st->count < 1)
            err(c, st->count_loc.line ? st->count_loc : st->loc,
                "remove last N needs N >= 1, got %lld", (long long)st->count);
        break;
    case IR_ADD:
    case IR_REPLACE:
    case IR_INSERT:
        check_layer_options(c, st);
        if (st->kind == IR_ADD)
            check_names_unique(c, st);
        break;
    case IR_RESIZE:
        check_resize(c, st);
        break;
    case IR_WIDEN:
        check_widen(c, st);
        break;
    case IR_NARROW:
        check_narrow(c, st);
        break;
    case IR_DEEPEN:
        check_deepen(c, st);
        break;
    case IR_SET:
        check_set(c, st);
        break;
    case IR_DATA:
        check_data(c, st);
        break;
    case IR_FEATURIZE:
    case IR_EVALUATE:
        check_data_use(c, st);
        break;
    case IR_FIT:
        check_fit(c, st);
        break;
    case IR_EXPECT:
        check_expect(c, st);
        break;
    case IR_SAVE:
        check_save(c, st);
        if (st->name && !str_ends_with(st->name, ".yaml") && !str_ends_with(st->name, ".onnx") &&
            !str_ends_with(st->name, ".zip"))
            err(c, st->name_loc.line ? st->name_loc : st->loc,
                "save writes NAME.yaml (with NAME.safetensors), NAME.onnx or a DL4J NAME.zip: the "
                "path must end in .yaml, .onnx or .zip, got \"%s\"", st->name);
        break;
    case IR_PARAM:
    case IR_REMOVE:
    case IR_REMOVE_OUTPUT:
    case IR_RENAME:
    case IR_KIND_COUNT:
        break;
    }
}

int sema_check(ir_script *s, diag_ctx *d)
{
    int before = diag_error_count(d);
    sema c = {s, d, NULL, 0};
    c.data = malloc((size_t)(s->n_stmts + 1) * sizeof *c.data);
    if (!c.data) {
        diag_error(d, loc_none(), "out of memory");
        return 1;
    }
    const ir_stmt *base = NULL;
    for (int i = 0; i < s->n_stmts; i++)
        check_stmt(&c, i, &base);
    if (!base) {
        src_loc l = {s->n_files ? s->files[0] : s->path, 1, 1, 0};
        diag_error(d, l, "the script has no 'base' statement (write base \"model.yaml\" to "
                         "name the model it edits)");
    }
    free(c.data);
    return diag_error_count(d) - before;
}
