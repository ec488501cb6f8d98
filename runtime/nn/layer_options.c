/* layer_options.c: the layer options several types share, lookups in the per-type option
 * tables, and what derives from them: written values, the cache digest and the documentation. */
#include "runtime/nn/layer_options.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/layer.h"

/* ---- accessors ---- */

static double get_n_in(const layer *L) { return (double)L->n_in; }
static void set_n_in(layer *L, double v)
{
    L->n_in = (int64_t)v;
    L->n_in_given = v > 0;   /* the default, 0, leaves it to shape inference */
}
static double get_n_out(const layer *L) { return (double)L->n_out; }
static void set_n_out(layer *L, double v) { L->n_out = (int64_t)v; }
static double get_activation(const layer *L) { return (double)L->activation; }
static void set_activation(layer *L, double v) { L->activation = (activation_kind)v; }
static double get_loss(const layer *L) { return (double)L->loss; }
static void set_loss(layer *L, double v) { L->loss = (loss_kind)v; }
static double get_alpha(const layer *L) { return L->alpha; }
static void set_alpha(layer *L, double v) { L->alpha = v; }
static double get_has_bias(const layer *L) { return L->has_bias ? 1.0 : 0.0; }
static void set_has_bias(layer *L, double v) { L->has_bias = v != 0; }
static double get_forget_gate_bias(const layer *L) { return L->forget_gate_bias; }
static void set_forget_gate_bias(layer *L, double v) { L->forget_gate_bias = v; }

static double type_activation(const layer_type *t) { return (double)t->default_activation; }

/* ---- the shared options ---- */

#define SIZE_OPTION(opt_name, get_fn, set_fn, written, default_text, line)                    \
    {.name = opt_name, .kind = LOPT_INTEGER, .lo = 1, .hi = 1e12, .def = 0,                    \
     .default_doc = default_text, .write = written, .set_rule = LOPT_SET_RESHAPES,            \
     .doc = line, .get = get_fn, .set = set_fn}

const layer_option layer_opt_n_in = SIZE_OPTION(
    "n_in", get_n_in, set_n_in, LOPT_WRITE_CHANGED, "inferred",
    "input features: inferred from the input, checked against it when given");
const layer_option layer_opt_n_in_inferred = SIZE_OPTION(
    "n_in", get_n_in, set_n_in, LOPT_WRITE_NEVER, "inferred",
    "set by shape inference (accepted, not written to the model file)");
const layer_option layer_opt_n_out = SIZE_OPTION(
    "n_out", get_n_out, set_n_out, LOPT_WRITE_CHANGED, "—",
    "output features (units); set by shape inference where the input determines them");
const layer_option layer_opt_n_out_inferred = SIZE_OPTION(
    "n_out", get_n_out, set_n_out, LOPT_WRITE_NEVER, "inferred",
    "set by shape inference (accepted, not written to the model file)");

const layer_option layer_opt_activation = {
    .name = "activation", .kind = LOPT_ACTIVATION, .names = activation_names, .count = ACT_COUNT,
    .from_name = activation_from_name, .what = "activation", .type_default = type_activation,
    .write = LOPT_WRITE_ALWAYS, .set_rule = LOPT_SET_ALLOWED,
    .doc = "the activation function, or clip(min, max) (see Activations)",
    .get = get_activation, .set = set_activation};

const layer_option layer_opt_loss = {
    .name = "loss", .kind = LOPT_ENUM, .names = loss_names, .count = LOSS_COUNT,
    .from_name = loss_from_name, .what = "loss", .def = LOSS_MCXENT,
    .write = LOPT_WRITE_ALWAYS, .set_rule = LOPT_SET_ALLOWED,
    .doc = "the loss scored against the labels (see Losses)",
    .get = get_loss, .set = set_loss};

const layer_option layer_opt_alpha = {
    .name = "alpha", .kind = LOPT_NUMBER, .range = RANGE_GT0, .def = 0,
    .default_doc = "0 (the activation's own)", .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_ALLOWED, .doc = "the slope of leakyrelu (0.01), the alpha of elu (1.0)",
    .get = get_alpha, .set = set_alpha};

const layer_option layer_opt_has_bias = {
    .name = "has_bias", .kind = LOPT_BOOL, .def = 1, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_REPARAMS, .doc = "whether the layer has the bias b",
    .get = get_has_bias, .set = set_has_bias};

const layer_option layer_opt_forget_gate_bias = {
    .name = "forget_gate_bias", .kind = LOPT_NUMBER, .range = RANGE_ANY, .def = 1.0,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_REPARAMS,
    .doc = "the initial bias of the forget gate (DL4J's)",
    .get = get_forget_gate_bias, .set = set_forget_gate_bias};

const layer_option layer_opt_reverse = {
    .name = "reverse", .kind = LOPT_BOOL, .def = 0, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_ALLOWED,
    .doc = "whether the layer reads its sequence last step first (ONNX's reverse direction)"};

const layer_option layer_opt_initial_state = {
    .name = "initial_state", .kind = LOPT_BOOL, .def = 0, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_ALLOWED,
    .doc = "whether every sequence starts from the constant state parameters h0 and c0 "
           "(not trained) instead of zeros"};

const layer_option *const layer_common_options[] = {
    &layer_opt_n_out, &layer_opt_n_in, &layer_opt_activation, &layer_opt_loss, &layer_opt_alpha,
    &layer_opt_has_bias, &layer_opt_forget_gate_bias, NULL};

/* ---- lookups ---- */

static const layer_option *find_in(const layer_option *const *opts, const char *key)
{
    for (; opts && *opts; opts++)
        if (!strcmp((*opts)->name, key))
            return *opts;
    return NULL;
}

bool layer_type_takes_n_out(const layer_type *t)
{
    return find_in(t->options, "n_out") == &layer_opt_n_out;
}

const layer_option *layer_option_find(const layer_type *t, const char *key)
{
    if (t)
        return find_in(t->options, key);
    const layer_option *o = find_in(layer_common_options, key);
    for (int i = 0; !o && i < layer_type_count; i++)
        o = find_in(layer_types[i]->options, key);
    return o;
}

/* ---- values ---- */

int layer_option_slot(const layer_type *t, const layer_option *o)
{
    int slot = 0;
    for (const layer_option *const *p = t ? t->options : NULL; p && *p; p++) {
        if (*p == o) {
            assert(slot + layer_option_width(o) <= LAYER_OPT_STORE);
            return slot;
        }
        if (layer_option_stored(*p))
            slot += layer_option_width(*p);
    }
    assert(!t);   /* only a scratch layer holds an option of no table */
    return 0;
}

void layer_option_get_values(const layer_option *o, const layer *L, double *v)
{
    if (!layer_option_stored(o)) {
        v[0] = o->get(L);
        if (o->kind == LOPT_ACTIVATION) {
            v[1] = L->clip_min;
            v[2] = L->clip_max;
        }
        return;
    }
    int slot = layer_option_slot(L->type, o);
    for (int i = 0; i < layer_option_width(o); i++)
        v[i] = L->opt_store[slot + i];
}

void layer_option_default_values(const layer_option *o, const layer_type *t, double *v)
{
    if (o->kind == LOPT_INT_LIST || o->kind == LOPT_PADDING)
        memcpy(v, o->defs, (size_t)layer_option_width(o) * sizeof *v);
    else
        v[0] = layer_option_default(o, t);
    if (o->kind == LOPT_ACTIVATION)
        v[1] = v[2] = 0;
}

void layer_option_set_values(const layer_option *o, layer *L, const double *v)
{
    if (!layer_option_stored(o)) {
        o->set(L, v[0]);
        if (o->kind == LOPT_ACTIVATION) {
            L->clip_min = v[1];
            L->clip_max = v[2];
        }
        return;
    }
    int slot = layer_option_slot(L->type, o);
    for (int i = 0; i < layer_option_width(o); i++)
        L->opt_store[slot + i] = v[i];
}

void layer_set_option_defaults(layer *L)
{
    for (const layer_option *const *o = L->type->options; o && *o; o++) {
        double v[LOPT_MAX_VALUES];
        layer_option_default_values(*o, L->type, v);
        layer_option_set_values(*o, L, v);
    }
}

bool layer_option_is_default(const layer_option *o, const layer *L)
{
    double v[LOPT_MAX_VALUES], def[LOPT_MAX_VALUES];
    layer_option_get_values(o, L, v);
    layer_option_default_values(o, L->type, def);
    for (int i = 0; i < layer_option_width(o); i++)
        if (v[i] != def[i])
            return false;
    return true;
}

int layer_option_list_items(const layer_option *o, const double *v, int64_t *items)
{
    int n = 0;
    if (o->kind == LOPT_INT_LIST)
        for (; n < o->len; n++)
            items[n] = (int64_t)v[n];
    else if (o->kind == LOPT_PADDING && (int)v[0] == PAD_EXPLICIT)
        for (; n < PADDING_VALUES - 1; n++)
            items[n] = (int64_t)v[n + 1];
    return n;
}

static const char *const padding_mode_names[] = {[PAD_VALID] = "valid", [PAD_SAME] = "same"};

const char *layer_option_format(const layer_option *o, const double *v, char *buf, size_t n)
{
    int64_t items[LOPT_MAX_VALUES];
    int count = layer_option_list_items(o, v, items);
    if (count > 0) {
        size_t used = 0;
        for (int i = 0; i < count && used < n; i++) {
            int w = snprintf(buf + used, n - used, "%s%" PRId64, i ? ", " : "[", items[i]);
            used += w > 0 ? (size_t)w : 0;
        }
        if (used < n)
            snprintf(buf + used, n - used, "]");
        return buf;
    }
    switch (o->kind) {
    case LOPT_INTEGER:
        snprintf(buf, n, "%" PRId64, (int64_t)v[0]);
        break;
    case LOPT_NUMBER:
        conf_format_num(v[0], buf, n);
        break;
    case LOPT_BOOL:
        snprintf(buf, n, "%s", v[0] != 0 ? "true" : "false");
        break;
    case LOPT_ENUM: {
        int k = (int)v[0];
        snprintf(buf, n, "%s", k >= 0 && k < o->count ? o->names[k] : "?");
        break;
    }
    case LOPT_ACTIVATION: {
        int k = (int)v[0];
        if (k == ACT_CLIP) {
            char lo[32], hi[32];
            snprintf(buf, n, "clip(%s, %s)", conf_format_num(v[1], lo, sizeof lo),
                     conf_format_num(v[2], hi, sizeof hi));
        } else {
            snprintf(buf, n, "%s", k >= 0 && k < o->count ? o->names[k] : "?");
        }
        break;
    }
    case LOPT_PADDING:
        snprintf(buf, n, "%s", padding_mode_names[(int)v[0] == PAD_SAME]);
        break;
    case LOPT_INT_LIST:
        break;
    }
    return buf;
}

bool layer_option_written(const layer_option *o, const layer *L)
{
    switch (o->write) {
    case LOPT_WRITE_ALWAYS: return true;
    case LOPT_WRITE_NEVER: return false;
    case LOPT_WRITE_CHANGED: break;
    }
    return !layer_option_is_default(o, L);
}

/* ---- the cache digest ---- */

/* The options every layer's digest starts with, whether its type takes them or not. */
static const layer_option *const digest_base[] = {
    &layer_opt_n_in, &layer_opt_n_out, &layer_opt_activation, &layer_opt_alpha,
    &layer_opt_has_bias};
#define N_DIGEST_BASE (sizeof digest_base / sizeof digest_base[0])

static int digest_value(const layer_option *o, const double *v, char *buf, size_t n)
{
    switch (o->kind) {
    case LOPT_INTEGER: return snprintf(buf, n, "%lld", (long long)v[0]);
    case LOPT_NUMBER: return snprintf(buf, n, "%.17g", v[0]);
    case LOPT_BOOL:
    case LOPT_ENUM: break;
    case LOPT_ACTIVATION:
        /* the kind's number; clip adds its bounds */
        if ((int)v[0] == ACT_CLIP)
            return snprintf(buf, n, "%d,%.17g,%.17g", (int)v[0], v[1], v[2]);
        break;
    case LOPT_INT_LIST:
    case LOPT_PADDING: {
        /* list items comma-separated; padding as its mode, then the sides when explicit */
        int used = 0, width = layer_option_width(o);
        if (o->kind == LOPT_PADDING && (int)v[0] != PAD_EXPLICIT)
            width = 1;
        for (int i = 0; i < width; i++) {
            int w = snprintf((size_t)used < n ? buf + used : NULL, (size_t)used < n ? n - (size_t)used : 0,
                             "%s%lld", i ? "," : "", (long long)v[i]);
            used += w > 0 ? w : 0;
        }
        return used;
    }
    }
    return snprintf(buf, n, "%d", (int)v[0]);
}

int layer_options_digest(const layer *L, char *buf, size_t n)
{
    size_t used = 0;
    char value[64];
#define APPEND(...)                                                                       \
    do {                                                                                  \
        int w_ = snprintf(used < n ? buf + used : NULL, used < n ? n - used : 0, __VA_ARGS__); \
        if (w_ > 0)                                                                       \
            used += (size_t)w_;                                                           \
    } while (0)
    APPEND("%s", L->type->name);
    for (size_t i = 0; i < N_DIGEST_BASE; i++) {
        double v[LOPT_MAX_VALUES];
        layer_option_get_values(digest_base[i], L, v);
        digest_value(digest_base[i], v, value, sizeof value);
        APPEND("|%s", value);
    }
    for (const layer_option *const *o = L->type->options; o && *o; o++) {
        bool in_base = false;
        for (size_t i = 0; i < N_DIGEST_BASE; i++)
            in_base = in_base || !strcmp(digest_base[i]->name, (*o)->name);
        if (in_base || layer_option_is_default(*o, L))
            continue;
        double v[LOPT_MAX_VALUES];
        layer_option_get_values(*o, L, v);
        digest_value(*o, v, value, sizeof value);
        APPEND("|%s=%s", (*o)->name, value);
    }
#undef APPEND
    return (int)used;
}

/* ---- documentation ---- */

static void describe_value(const layer_option *o, char *buf, size_t n)
{
    static const char *const ranges[] = {
        [RANGE_ANY] = "", [RANGE_GE0] = " >= 0", [RANGE_GT0] = " > 0",
        [RANGE_UNIT_OPEN] = " in (0, 1)", [RANGE_UNIT_OPEN_RIGHT] = " in [0, 1)"};
    switch (o->kind) {
    case LOPT_INTEGER:
        snprintf(buf, n, "integer >= %.0f", o->lo);
        return;
    case LOPT_NUMBER:
        snprintf(buf, n, "number%s", ranges[o->range]);
        return;
    case LOPT_BOOL:
        snprintf(buf, n, "true/false");
        return;
    case LOPT_ENUM:
        snprintf(buf, n, "%s name", o->what);
        return;
    case LOPT_ACTIVATION:
        snprintf(buf, n, "%s name or `clip(min, max)`", o->what);
        return;
    case LOPT_INT_LIST:
        snprintf(buf, n, "%d integers >= %.0f, %s (one number: all %d)", o->len, o->lo, o->items,
                 o->len);
        return;
    case LOPT_PADDING:
        snprintf(buf, n, "`same`, `valid`, [top, left, bottom, right] or [h, w]");
        return;
    }
}

char *layer_options_markdown(const layer_type *t)
{
    size_t cap = 256, len = 0;
    char *out = NULL;
    for (int pass = 0; pass < 2; pass++) {
        len = 0;
#define EMIT(...)                                                                         \
        do {                                                                              \
            int w_ = snprintf(out ? out + len : NULL, out ? cap - len : 0, __VA_ARGS__);  \
            if (w_ > 0)                                                                   \
                len += (size_t)w_;                                                        \
        } while (0)
        EMIT("Options of `%s`:\n\n| option | value | default | description |\n|---|---|---|---|\n",
             t->name);
        for (const layer_option *const *o = t->options; o && *o; o++) {
            char value[96], def[64];
            describe_value(*o, value, sizeof value);
            if ((*o)->default_doc)
                snprintf(def, sizeof def, "%s", (*o)->default_doc);
            else {
                char text[48];
                double v[LOPT_MAX_VALUES];
                layer_option_default_values(*o, t, v);
                layer_option_format(*o, v, text, sizeof text);
                snprintf(def, sizeof def, "`%s`", text);
            }
            EMIT("| `%s` | %s | %s | %s |\n", (*o)->name, value, def, (*o)->doc);
        }
#undef EMIT
        if (pass == 0) {
            cap = len + 1;
            out = malloc(cap);
            if (!out)
                return NULL;
        }
    }
    return out;
}
