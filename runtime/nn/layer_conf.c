/* layer_conf.c: parsing and validation of layer and training options for the model YAML loader
 * and the scripts: values read by the type's option table (layer_options.h) or the training
 * keys, ranges, "did you mean". */
#include "runtime/nn/layer.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/nn/layer_options.h"

const char *const train_conf_keys[] = {
    "updater", "bias_updater", "learning_rate", "seed", "l1", "l2", "l1_bias", "l2_bias",
    "weight_decay", "dropout", "weight_init", "bias_init", "gradient_normalization", "backprop",
    NULL};

#define MAX_KEYS 64

static void report(struct diag_ctx *d, src_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(struct diag_ctx *d, src_loc loc, const char *fmt, ...)
{
    if (!d)
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, loc, fmt, ap);
    va_end(ap);
}

/* ---- scalar values ---- */

/* A finite number. Returns 0 or -1 (reported). */
static int get_num(const char *key, src_loc key_loc, const conf_value *v, struct diag_ctx *d,
                   double *out)
{
    if (v->kind != CV_NUM) {
        report(d, conf_loc(v, key_loc), "'%s' takes a number, got %s", key, conf_kind_desc(v));
        return -1;
    }
    if (!isfinite(v->num)) {
        report(d, conf_loc(v, key_loc), "'%s' must be a finite number", key);
        return -1;
    }
    *out = v->num;
    return 0;
}

/* A finite number within a range: >= 0, > 0, (0, 1) or [0, 1). */
static int get_ranged(const char *key, src_loc key_loc, const conf_value *v, struct diag_ctx *d,
                      option_range r, double *out)
{
    double x;
    if (get_num(key, key_loc, v, d, &x))
        return -1;
    const char *want = NULL;
    switch (r) {
    case RANGE_ANY: break;
    case RANGE_GE0: if (!(x >= 0)) want = ">= 0"; break;
    case RANGE_GT0: if (!(x > 0)) want = "> 0"; break;
    case RANGE_UNIT_OPEN: if (!(x > 0 && x < 1)) want = "in (0, 1)"; break;
    case RANGE_UNIT_OPEN_RIGHT: if (!(x >= 0 && x < 1)) want = "in [0, 1)"; break;
    }
    if (want) {
        report(d, conf_loc(v, key_loc), "'%s' must be %s, got %g", key, want, x);
        return -1;
    }
    *out = x;
    return 0;
}

/* An integer in [lo, hi]. */
static int get_int(const char *key, src_loc key_loc, const conf_value *v, struct diag_ctx *d,
                   double lo, double hi, int64_t *out)
{
    double x;
    if (get_num(key, key_loc, v, d, &x))
        return -1;
    if (x != floor(x)) {
        report(d, conf_loc(v, key_loc), "'%s' must be a whole number, got %g", key, x);
        return -1;
    }
    if (x < lo || x > hi) {
        report(d, conf_loc(v, key_loc), "'%s' must be %s %.0f, got %g", key, x < lo ? ">=" : "<=",
               x < lo ? lo : hi, x);
        return -1;
    }
    *out = (int64_t)x;
    return 0;
}

/* A name: an identifier or a string. */
static const char *get_name(const char *key, src_loc key_loc, const conf_value *v,
                            struct diag_ctx *d)
{
    if (v->kind == CV_IDENT || v->kind == CV_STR)
        return v->str;
    report(d, conf_loc(v, key_loc), "'%s' takes a name, got %s", key, conf_kind_desc(v));
    return NULL;
}

static int get_bool(const char *key, src_loc key_loc, const conf_value *v, struct diag_ctx *d,
                    bool *out)
{
    if (v->kind == CV_BOOL) {
        *out = v->num != 0;
        return 0;
    }
    if ((v->kind == CV_IDENT || v->kind == CV_STR) &&
        (!strcmp(v->str, "true") || !strcmp(v->str, "false"))) {
        *out = v->str[0] == 't';
        return 0;
    }
    report(d, conf_loc(v, key_loc), "'%s' takes true or false, got %s", key, conf_kind_desc(v));
    return -1;
}

/* An enum value by name (or the callee of a call, for the kinds that take arguments), with
 * "did you mean" among the canonical names. */
static int get_enum(const char *key, src_loc key_loc, const conf_value *v, struct diag_ctx *d,
                    const char *what, int (*from_name)(const char *),
                    const char *const *names, int n)
{
    const char *s = v->kind == CV_CALL ? v->str : get_name(key, key_loc, v, d);
    if (!s)
        return -1;
    int k = from_name(s);
    if (k >= 0)
        return k;
    const char *hint = diag_suggest(s, names, n);
    if (hint)
        report(d, conf_loc(v, key_loc), "unknown %s '%s' (did you mean '%s'?)", what, s, hint);
    else
        report(d, conf_loc(v, key_loc), "unknown %s '%s'", what, s);
    return -1;
}

/* A value that may be a call given as text in YAML (a quoted or plain scalar such as
 * adam(learning_rate=0.001)): parsed into *owned (freed by the caller); other values are
 * returned as they are. */
static const conf_value *maybe_parse(const conf_value *v, struct diag_ctx *d, conf_value **owned,
                                     bool *failed)
{
    *owned = NULL;
    *failed = false;
    if ((v->kind != CV_STR && v->kind != CV_IDENT) || !strchr(v->str, '('))
        return v;
    *owned = conf_parse_text(v->str, v->loc, d);
    if (!*owned) {
        *failed = true;
        return NULL;
    }
    return *owned;
}

/* ---- calls ---- */

/* Binds a call's arguments to parameter names (positional in order, then by name); reports
 * unknown names (with "did you mean"), duplicates and surplus positional arguments. */
static int bind_args(const conf_value *call, const char *const *params, int n_params,
                     const conf_value **bound, struct diag_ctx *d)
{
    for (int i = 0; i < n_params; i++)
        bound[i] = NULL;
    int pos = 0, rc = 0;
    for (int i = 0; i < call->n_args; i++) {
        const conf_arg *a = &call->args[i];
        int slot = -1;
        if (!a->name) {
            if (pos >= n_params) {
                if (n_params == 0)
                    report(d, conf_loc(a->value, call->loc), "%s() takes no arguments", call->str);
                else
                    report(d, conf_loc(a->value, call->loc), "%s() takes at most %d argument%s",
                           call->str, n_params, n_params == 1 ? "" : "s");
                rc = -1;
                continue;
            }
            slot = pos++;
        } else {
            for (int k = 0; k < n_params; k++)
                if (!strcmp(params[k], a->name))
                    slot = k;
            if (slot < 0) {
                src_loc l = a->name_loc.line > 0 ? a->name_loc : call->loc;
                const char *hint = diag_suggest(a->name, params, n_params);
                if (n_params == 0) {
                    report(d, l, "%s() takes no arguments", call->str);
                } else if (hint) {
                    report(d, l, "unknown argument '%s' of %s() (did you mean '%s'?)", a->name,
                           call->str, hint);
                } else {
                    char list[256] = "";
                    for (int k = 0; k < n_params; k++) {
                        size_t len = strlen(list);
                        snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "",
                                 params[k]);
                    }
                    report(d, l, "unknown argument '%s' of %s() (it takes %s)", a->name,
                           call->str, list);
                }
                rc = -1;
                continue;
            }
        }
        if (bound[slot]) {
            report(d, a->name_loc.line > 0 ? a->name_loc : conf_loc(a->value, call->loc),
                   "argument '%s' of %s() given twice", params[slot], call->str);
            rc = -1;
            continue;
        }
        bound[slot] = a->value;
    }
    return rc;
}

static const char *const updater_params[UPD_COUNT][6] = {
    [UPD_SGD] = {"learning_rate", "schedule", NULL},
    [UPD_NESTEROVS] = {"learning_rate", "momentum", "schedule", NULL},
    [UPD_ADAM] = {"learning_rate", "beta1", "beta2", "epsilon", "schedule", NULL},
    [UPD_ADAMW] = {"learning_rate", "beta1", "beta2", "epsilon", "weight_decay", "schedule"},
    [UPD_RMSPROP] = {"learning_rate", "rms_decay", "epsilon", "schedule", NULL},
    [UPD_ADAGRAD] = {"learning_rate", "epsilon", "schedule", NULL},
    [UPD_NONE] = {NULL},
};

static int count_params(const char *const *p, int max)
{
    int n = 0;
    while (n < max && p[n])
        n++;
    return n;
}

static int set_schedule(updater_conf *u, const conf_value *v, struct diag_ctx *d)
{
    if (v->kind == CV_IDENT && !strcmp(v->str, "none")) {
        u->schedule = SCHED_NONE;
        return 0;
    }
    if (v->kind != CV_CALL ||
        (strcmp(v->str, "step") && strcmp(v->str, "exponential"))) {
        report(d, v->loc, "'schedule' takes step(decay_rate, decay_steps), "
                          "exponential(decay_rate) or none");
        return -1;
    }
    bool step = !strcmp(v->str, "step");
    static const char *const params[] = {"decay_rate", "decay_steps"};
    const conf_value *b[2];
    if (bind_args(v, params, step ? 2 : 1, b, d))
        return -1;
    if (!b[0] || (step && !b[1])) {
        report(d, v->loc, "%s() needs %s", v->str, step ? "decay_rate and decay_steps"
                                                         : "decay_rate");
        return -1;
    }
    double rate;
    int64_t steps = 0;
    if (get_ranged("decay_rate", v->loc, b[0], d, RANGE_GT0, &rate))
        return -1;
    if (step && get_int("decay_steps", v->loc, b[1], d, 1, 9007199254740992.0, &steps))
        return -1;
    u->schedule = step ? SCHED_STEP : SCHED_EXPONENTIAL;
    u->decay_rate = rate;
    u->decay_steps = (double)steps;
    return 0;
}

/* updater = sgd | adam | adam(learning_rate = 1e-3, ...) | none */
static int set_updater(updater_conf *out, const char *key, src_loc key_loc, const conf_value *v,
                       struct diag_ctx *d)
{
    if (v->kind != CV_CALL && v->kind != CV_IDENT && v->kind != CV_STR) {
        report(d, conf_loc(v, key_loc), "'%s' takes an updater such as adam(learning_rate = 1e-3), "
               "got %s", key, conf_kind_desc(v));
        return -1;
    }
    int kind = get_enum(key, key_loc, v, d, "updater", updater_from_name, updater_names,
                        UPD_COUNT);
    if (kind < 0)
        return -1;
    updater_conf u;
    updater_conf_defaults(&u, (updater_kind)kind);
    if (v->kind == CV_CALL) {
        const char *const *params = updater_params[kind];
        int np = count_params(params, 6);
        const conf_value *b[6];
        if (bind_args(v, params, np, b, d))
            return -1;
        for (int i = 0; i < np; i++) {
            if (!b[i])
                continue;
            const char *p = params[i];
            int rc = 0;
            if (!strcmp(p, "learning_rate"))
                rc = get_ranged(p, v->loc, b[i], d, RANGE_GT0, &u.learning_rate);
            else if (!strcmp(p, "momentum"))
                rc = get_ranged(p, v->loc, b[i], d, RANGE_UNIT_OPEN_RIGHT, &u.momentum);
            else if (!strcmp(p, "beta1"))
                rc = get_ranged(p, v->loc, b[i], d, RANGE_UNIT_OPEN_RIGHT, &u.beta1);
            else if (!strcmp(p, "beta2"))
                rc = get_ranged(p, v->loc, b[i], d, RANGE_UNIT_OPEN_RIGHT, &u.beta2);
            else if (!strcmp(p, "epsilon"))
                rc = get_ranged(p, v->loc, b[i], d, RANGE_GT0, &u.epsilon);
            else if (!strcmp(p, "rms_decay"))
                rc = get_ranged(p, v->loc, b[i], d, RANGE_UNIT_OPEN_RIGHT, &u.rms_decay);
            else if (!strcmp(p, "weight_decay"))
                rc = get_ranged(p, v->loc, b[i], d, RANGE_GE0, &u.weight_decay);
            else
                rc = set_schedule(&u, b[i], d);
            if (rc)
                return -1;
        }
    }
    *out = u;
    return 0;
}

/* weight_init = xavier | ... | uniform(lower, upper) | normal(mean, std) */
static int set_init(init_spec *out, const char *key, src_loc key_loc, const conf_value *v,
                    struct diag_ctx *d)
{
    if (v->kind != CV_CALL && v->kind != CV_IDENT && v->kind != CV_STR) {
        report(d, conf_loc(v, key_loc), "'%s' takes an initialisation such as xavier or "
               "uniform(-0.1, 0.1), got %s", key, conf_kind_desc(v));
        return -1;
    }
    int kind = get_enum(key, key_loc, v, d, "weight initialisation", init_from_name,
                        init_names, INIT_COUNT);
    if (kind < 0)
        return -1;
    init_spec w = {(init_kind)kind, 0, 0};
    bool dist = kind == INIT_UNIFORM || kind == INIT_NORMAL;
    if (dist && v->kind != CV_CALL) {
        report(d, conf_loc(v, key_loc), "%s needs its parameters: %s", init_names[kind],
               kind == INIT_UNIFORM ? "uniform(lower, upper)" : "normal(mean, std)");
        return -1;
    }
    if (v->kind == CV_CALL) {
        static const char *const up[] = {"lower", "upper"}, *const np[] = {"mean", "std"};
        const conf_value *b[2];
        if (bind_args(v, kind == INIT_UNIFORM ? up : np, dist ? 2 : 0, b, d))
            return -1;
        if (dist) {
            const char *const *names = kind == INIT_UNIFORM ? up : np;
            for (int i = 0; i < 2; i++)
                if (!b[i]) {
                    report(d, v->loc, "%s() needs '%s'", v->str, names[i]);
                    return -1;
                }
            if (get_num(names[0], v->loc, b[0], d, &w.a) ||
                get_num(names[1], v->loc, b[1], d, &w.b))
                return -1;
            if (kind == INIT_UNIFORM && !(w.a < w.b)) {
                report(d, v->loc, "uniform(lower, upper) needs lower < upper, got %g, %g", w.a,
                       w.b);
                return -1;
            }
            if (kind == INIT_NORMAL && !(w.b > 0)) {
                report(d, conf_loc(b[1], v->loc), "'std' must be > 0, got %g", w.b);
                return -1;
            }
        }
    }
    *out = w;
    return 0;
}

/* gradient_normalization = none | clip_element_wise(threshold) | clip_l2_per_layer(threshold)
 * | renormalize_l2_per_layer */
static int set_grad_norm(train_conf *tc, const char *key, src_loc key_loc, const conf_value *v,
                         struct diag_ctx *d)
{
    if (v->kind != CV_CALL && v->kind != CV_IDENT && v->kind != CV_STR) {
        report(d, conf_loc(v, key_loc), "'%s' takes clip_element_wise(threshold), "
               "clip_l2_per_layer(threshold), renormalize_l2_per_layer or none, got %s", key,
               conf_kind_desc(v));
        return -1;
    }
    int kind = get_enum(key, key_loc, v, d, "gradient normalization", grad_norm_from_name,
                        grad_norm_names, GN_COUNT);
    if (kind < 0)
        return -1;
    double threshold = 1.0;
    if (v->kind == CV_CALL) {
        static const char *const params[] = {"threshold"};
        bool takes = kind == GN_CLIP_ELEMENT_WISE || kind == GN_CLIP_L2_PER_LAYER;
        const conf_value *b[1];
        if (bind_args(v, params, takes ? 1 : 0, b, d))
            return -1;
        if (takes && b[0] && get_ranged("threshold", v->loc, b[0], d, RANGE_GT0, &threshold))
            return -1;
    }
    tc->grad_norm = (grad_norm_kind)kind;
    tc->grad_norm_threshold = threshold;
    return 0;
}

/* backprop = standard | tbptt(forward, backward) */
static int set_backprop(train_conf *tc, const char *key, src_loc key_loc, const conf_value *v,
                        struct diag_ctx *d)
{
    const char *name = v->kind == CV_CALL || v->kind == CV_IDENT || v->kind == CV_STR
                           ? v->str : NULL;
    static const char *const kinds[] = {"standard", "tbptt"};
    if (!name || (strcmp(name, "standard") && strcmp(name, "tbptt"))) {
        const char *hint = name ? diag_suggest(name, kinds, 2) : NULL;
        if (hint)
            report(d, conf_loc(v, key_loc), "unknown backprop '%s' (did you mean '%s'?)", name,
                   hint);
        else
            report(d, conf_loc(v, key_loc), "'%s' takes standard or tbptt(forward, backward)", key);
        return -1;
    }
    if (!strcmp(name, "standard")) {
        if (v->kind == CV_CALL && v->n_args) {
            report(d, v->loc, "standard() takes no arguments");
            return -1;
        }
        tc->tbptt_forward = tc->tbptt_backward = 0;
        return 0;
    }
    if (v->kind != CV_CALL) {
        report(d, conf_loc(v, key_loc),
               "tbptt needs its segment lengths: tbptt(forward, backward)");
        return -1;
    }
    static const char *const params[] = {"forward", "backward"};
    const conf_value *b[2];
    if (bind_args(v, params, 2, b, d))
        return -1;
    if (!b[0]) {
        report(d, v->loc, "tbptt() needs 'forward'");
        return -1;
    }
    int64_t f, bw;
    if (get_int("forward", v->loc, b[0], d, 1, 1e9, &f))
        return -1;
    bw = f;
    if (b[1] && get_int("backward", v->loc, b[1], d, 1, 1e9, &bw))
        return -1;
    if (bw > f) {
        report(d, conf_loc(b[1], v->loc), "tbptt backward length %lld exceeds the forward length "
               "%lld", (long long)bw, (long long)f);
        return -1;
    }
    tc->tbptt_forward = (int)f;
    tc->tbptt_backward = (int)bw;
    return 0;
}

static int train_key_bit(const char *key)
{
    static const struct { const char *key; unsigned bit; } bits[] = {
        {"updater", TC_UPDATER}, {"bias_updater", TC_BIAS_UPDATER}, {"seed", TC_SEED},
        {"l1", TC_L1}, {"l2", TC_L2}, {"l1_bias", TC_L1_BIAS}, {"l2_bias", TC_L2_BIAS},
        {"weight_decay", TC_WEIGHT_DECAY}, {"dropout", TC_DROPOUT},
        {"weight_init", TC_WEIGHT_INIT}, {"bias_init", TC_BIAS_INIT},
        {"gradient_normalization", TC_GRAD_NORM}, {"backprop", TC_BACKPROP},
        {"learning_rate", TC_LEARNING_RATE}};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (!strcmp(bits[i].key, key))
            return (int)bits[i].bit;
    return 0;
}

static int apply_train(train_conf *tc, const char *key, unsigned bit, src_loc key_loc,
                       const conf_value *v, struct diag_ctx *d)
{
    switch (bit) {
    case TC_UPDATER: return set_updater(&tc->updater, key, key_loc, v, d);
    case TC_BIAS_UPDATER: return set_updater(&tc->bias_updater, key, key_loc, v, d);
    case TC_SEED: {
        int64_t seed;
        if (get_int(key, key_loc, v, d, 0, 9007199254740992.0, &seed))
            return -1;
        tc->seed = (uint64_t)seed;
        return 0;
    }
    case TC_L1: return get_ranged(key, key_loc, v, d, RANGE_GE0, &tc->l1);
    case TC_L2: return get_ranged(key, key_loc, v, d, RANGE_GE0, &tc->l2);
    case TC_L1_BIAS: return get_ranged(key, key_loc, v, d, RANGE_GE0, &tc->l1_bias);
    case TC_L2_BIAS: return get_ranged(key, key_loc, v, d, RANGE_GE0, &tc->l2_bias);
    case TC_WEIGHT_DECAY: return get_ranged(key, key_loc, v, d, RANGE_GE0, &tc->weight_decay);
    case TC_DROPOUT: return get_ranged(key, key_loc, v, d, RANGE_UNIT_OPEN_RIGHT, &tc->dropout);
    case TC_WEIGHT_INIT: return set_init(&tc->weight_init, key, key_loc, v, d);
    case TC_BIAS_INIT: return get_num(key, key_loc, v, d, &tc->bias_init);
    case TC_GRAD_NORM: return set_grad_norm(tc, key, key_loc, v, d);
    case TC_BACKPROP: return set_backprop(tc, key, key_loc, v, d);
    case TC_LEARNING_RATE: return get_ranged(key, key_loc, v, d, RANGE_GT0, &tc->learning_rate);
    }
    return -1;
}

int train_conf_set(train_conf *tc, const char *key, src_loc key_loc, const conf_value *v,
                   struct diag_ctx *d)
{
    int bit = train_key_bit(key);
    if (!bit)
        return 1;
    conf_value *owned;
    bool failed;
    const conf_value *val = maybe_parse(v, d, &owned, &failed);
    if (failed)
        return -1;
    /* Work on a copy so that a rejected value leaves tc as it was. */
    train_conf t = *tc;
    int rc = apply_train(&t, key, (unsigned)bit, key_loc, val, d);
    conf_value_free(owned);
    if (rc)
        return -1;
    *tc = t;
    tc->set_mask |= (unsigned)bit;
    return 0;
}

int init_spec_from_value(init_spec *out, const char *key, src_loc key_loc, const conf_value *v,
                         struct diag_ctx *d)
{
    conf_value *owned;
    bool failed;
    const conf_value *val = maybe_parse(v, d, &owned, &failed);
    if (failed)
        return -1;
    init_spec w;
    int rc = set_init(&w, key, key_loc, val, d);
    conf_value_free(owned);
    if (rc == 0)
        *out = w;
    return rc;
}

/* ---- layer options ---- */

static int add_key(const char **keys, int n, int max, const char *k)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], k))
            return n;
    if (n < max)
        keys[n++] = k;
    return n;
}

static int add_options(const char **keys, int n, int max, const layer_option *const *opts)
{
    for (; opts && *opts; opts++)
        n = add_key(keys, n, max, (*opts)->name);
    return n;
}

int layer_option_keys(const layer_type *type, const char **keys, int max)
{
    int n = 0;
    if (type) {
        n = add_options(keys, n, max, type->options);
    } else {
        n = add_options(keys, n, max, layer_common_options);
        for (int i = 0; i < layer_type_count; i++)
            n = add_options(keys, n, max, layer_types[i]->options);
    }
    if (!type || !(type->flags & LT_VERTEX))
        for (const char *const *k = train_conf_keys; *k; k++)
            n = add_key(keys, n, max, *k);
    return n;
}

/* A list of o->len whole numbers in [lo, hi], or one number standing for all of them. */
static int get_int_list(const layer_option *o, src_loc key_loc, const conf_value *v,
                        struct diag_ctx *d, double *out)
{
    const char *key = o->name;
    if (v->kind == CV_NUM) {
        int64_t x;
        if (get_int(key, key_loc, v, d, o->lo, o->hi, &x))
            return -1;
        for (int i = 0; i < o->len; i++)
            out[i] = (double)x;
        return 0;
    }
    if (v->kind != CV_LIST) {
        report(d, conf_loc(v, key_loc), "'%s' takes a list of %d whole numbers %s, got %s", key,
               o->len, o->items, conf_kind_desc(v));
        return -1;
    }
    if (v->n_args != o->len) {
        report(d, conf_loc(v, key_loc), "'%s' takes %d whole numbers %s, got %d", key, o->len,
               o->items, v->n_args);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < o->len; i++) {
        int64_t x;
        if (get_int(key, key_loc, v->args[i].value, d, o->lo, o->hi, &x))
            rc = -1;
        else
            out[i] = (double)x;
    }
    return rc;
}

/* same | valid | [top, left, bottom, right] | [h, w] | one number for every side. */
static int get_padding(const layer_option *o, src_loc key_loc, const conf_value *v,
                       struct diag_ctx *d, double *out)
{
    static const char *const modes[] = {"same", "valid"};
    const char *key = o->name;
    memset(out, 0, PADDING_VALUES * sizeof *out);
    if (v->kind == CV_IDENT || v->kind == CV_STR) {
        if (!strcmp(v->str, "same") || !strcmp(v->str, "valid")) {
            out[0] = v->str[0] == 's' ? PAD_SAME : PAD_VALID;
            return 0;
        }
        const char *hint = diag_suggest(v->str, modes, 2);
        if (hint)
            report(d, conf_loc(v, key_loc), "unknown padding '%s' (did you mean '%s'?)", v->str, hint);
        else
            report(d, conf_loc(v, key_loc), "unknown padding '%s' (same, valid or [top, left, "
                   "bottom, right])", v->str);
        return -1;
    }
    out[0] = PAD_EXPLICIT;
    if (v->kind == CV_NUM) {
        int64_t x;
        if (get_int(key, key_loc, v, d, 0, o->hi, &x))
            return -1;
        for (int i = 1; i < PADDING_VALUES; i++)
            out[i] = (double)x;
        return 0;
    }
    if (v->kind != CV_LIST || (v->n_args != 4 && v->n_args != 2)) {
        if (v->kind == CV_LIST)
            report(d, conf_loc(v, key_loc), "'%s' takes [top, left, bottom, right] or [height, "
                   "width], got a list of %d", key, v->n_args);
        else
            report(d, conf_loc(v, key_loc), "'%s' takes same, valid or [top, left, bottom, right], "
                   "got %s", key, conf_kind_desc(v));
        return -1;
    }
    int64_t side[4];
    int rc = 0;
    for (int i = 0; i < v->n_args; i++)
        if (get_int(key, key_loc, v->args[i].value, d, 0, o->hi, &side[i]))
            rc = -1;
    if (rc)
        return -1;
    if (v->n_args == 2) {   /* [h, w]: h at the top and bottom, w at the left and right */
        side[2] = side[0];
        side[3] = side[1];
    }
    for (int i = 0; i < 4; i++)
        out[i + 1] = (double)side[i];
    return 0;
}

/* An activation: a name, or clip(min, max) with min < max (named or in order). */
static int get_activation(const layer_option *o, src_loc key_loc, const conf_value *v,
                          struct diag_ctx *d, double *out)
{
    const char *key = o->name;
    out[1] = out[2] = 0;
    int k = get_enum(key, key_loc, v, d, o->what, o->from_name, o->names, o->count);
    if (k < 0)
        return -1;
    out[0] = k;
    if (k != ACT_CLIP) {
        if (v->kind == CV_CALL) {
            report(d, conf_loc(v, key_loc), "activation %s takes no arguments (only clip(min, "
                   "max) does)", o->names[k]);
            return -1;
        }
        return 0;
    }
    if (v->kind != CV_CALL) {
        report(d, conf_loc(v, key_loc), "activation clip needs its bounds: clip(min, max)");
        return -1;
    }
    static const char *const bounds[2] = {"min", "max"};
    int given = 0;
    for (int i = 0; i < v->n_args; i++) {
        const char *name = v->args[i].name;
        if (name && strcmp(name, "min") && strcmp(name, "max")) {
            src_loc at = v->args[i].name_loc.line ? v->args[i].name_loc
                                                  : conf_loc(v->args[i].value, v->loc);
            report(d, at, "clip has no argument '%s' (min, max)", name);
            return -1;
        }
    }
    for (int b = 0; b < 2; b++) {
        const conf_value *x = conf_arg_get(v, bounds[b], b);
        if (!x)
            continue;
        char what[16];
        snprintf(what, sizeof what, "clip's %s", bounds[b]);
        if (get_num(what, key_loc, x, d, &out[1 + b]))
            return -1;
        given++;
    }
    if (given != 2 || v->n_args != 2) {
        report(d, conf_loc(v, key_loc), "clip takes two numbers, clip(min, max), got %d "
               "argument%s", v->n_args, v->n_args == 1 ? "" : "s");
        return -1;
    }
    if (!(out[1] < out[2])) {
        report(d, conf_loc(v, key_loc), "clip(min, max) needs min < max, got clip(%g, %g)",
               out[1], out[2]);
        return -1;
    }
    return 0;
}

/* Reads v as a value of o into out (layer_option_width(o) numbers). Returns 0, or -1
 * (reported). */
static int option_value(const layer_option *o, src_loc key_loc, const conf_value *v,
                        struct diag_ctx *d, double *out)
{
    const char *key = o->name;
    switch (o->kind) {
    case LOPT_INTEGER: {
        int64_t x;
        if (get_int(key, key_loc, v, d, o->lo, o->hi, &x))
            return -1;
        *out = (double)x;
        return 0;
    }
    case LOPT_NUMBER:
        return get_ranged(key, key_loc, v, d, o->range, out);
    case LOPT_BOOL: {
        bool b;
        if (get_bool(key, key_loc, v, d, &b))
            return -1;
        *out = b;
        return 0;
    }
    case LOPT_ENUM: {
        if (v->kind == CV_CALL) {
            report(d, conf_loc(v, key_loc), "'%s' takes a name, got a call", key);
            return -1;
        }
        int k = get_enum(key, key_loc, v, d, o->what, o->from_name, o->names, o->count);
        if (k < 0)
            return -1;
        *out = k;
        return 0;
    }
    case LOPT_ACTIVATION:
        return get_activation(o, key_loc, v, d, out);
    case LOPT_INT_LIST:
        return get_int_list(o, key_loc, v, d, out);
    case LOPT_PADDING:
        return get_padding(o, key_loc, v, d, out);
    }
    return -1;
}

int layer_set_option(layer *L, const char *key, src_loc key_loc, const conf_value *v,
                     struct diag_ctx *d)
{
    const char *keys[MAX_KEYS];
    int n = layer_option_keys(L->type, keys, MAX_KEYS);
    bool known = false;
    for (int i = 0; i < n; i++)
        known = known || !strcmp(keys[i], key);
    const char *tname = L->type ? L->type->name : "layer";
    if (!known) {
        const char *all[MAX_KEYS];
        int n_all = layer_option_keys(NULL, all, MAX_KEYS);
        bool elsewhere = false;
        for (int i = 0; i < n_all; i++)
            elsewhere = elsewhere || !strcmp(all[i], key);
        const char *hint = diag_suggest(key, keys, n);
        if (elsewhere)
            report(d, key_loc, "option '%s' does not apply to a %s layer", key, tname);
        else if (hint)
            report(d, key_loc, "unknown option '%s' for a %s layer (did you mean '%s'?)", key,
                   tname, hint);
        else
            report(d, key_loc, "unknown option '%s' for a %s layer", key, tname);
        return -1;
    }
    int rc = train_conf_set(&L->train, key, key_loc, v, d);
    if (rc <= 0)
        return rc;
    const layer_option *o = layer_option_find(L->type, key);
    assert(o);
    double x[LOPT_MAX_VALUES];
    if (option_value(o, key_loc, v, d, x))
        return -1;
    layer_option_set_values(o, L, x);
    return 0;
}
