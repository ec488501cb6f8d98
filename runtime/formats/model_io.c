/* model_io.c: loading and saving models: the YAML architecture through libyaml's document
 * parser (every key's line:col kept for diagnostics) and emitter, the weights through the
 * safetensors reader/writer, and the architecture hash that pairs the two files. */
#include "runtime/formats/model_io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <yaml.h>

#include "runtime/base/diag.h"
#include "runtime/base/atomic_file.h"
#include "runtime/nn/init.h"
#include "runtime/formats/safetensors.h"
#include "runtime/tensor/tensor_csv.h"
#include "runtime/tensor/tensor_parts.h"
#include "runtime/formats/weights_out.h"
#include "runtime/base/util.h"

/* ---- small helpers ---- */

char *model_weights_path(const char *yaml_path)
{
    size_t n = strlen(yaml_path);
    size_t stem = str_ends_with(yaml_path, ".yaml") ? n - 5 : str_ends_with(yaml_path, ".yml") ? n - 4 : 0;
    if (!stem || yaml_path[stem - 1] == '/')
        return NULL;
    char *p = malloc(stem + sizeof ".safetensors");
    if (!p)
        return NULL;
    memcpy(p, yaml_path, stem);
    memcpy(p + stem, ".safetensors", sizeof ".safetensors");
    return p;
}

/* The path of `rel` relative to the folder of `base` (rel itself when absolute). */
static char *path_beside(const char *base, const char *rel)
{
    if (rel[0] == '/')
        return str_dup(rel);
    const char *slash = strrchr(base, '/');
    size_t dn = slash ? (size_t)(slash - base + 1) : 0;
    char *p = malloc(dn + strlen(rel) + 1);
    if (!p)
        return NULL;
    memcpy(p, base, dn);
    strcpy(p + dn, rel);
    return p;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- the architecture hash ---- */

typedef struct fnv {
    uint64_t h;
} fnv;

static void fnv_bytes(fnv *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        f->h = (f->h ^ b[i]) * 0x100000001B3ull;
}

static void fnv_printf(fnv *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fnv_printf(fnv *f, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        fnv_bytes(f, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A name, length-prefixed so that no name can run into the next field. */
static void fnv_name(fnv *f, const char *s)
{
    size_t n = strlen(s);
    fnv_printf(f, "%zu:", n);
    fnv_bytes(f, s, n);
}

static int cmp_layer_name(const void *a, const void *b)
{
    return strcmp((*(const layer *const *)a)->name, (*(const layer *const *)b)->name);
}

static const char *const input_kind_names[] = {"feed_forward", "recurrent", "convolutional"};

uint64_t model_arch_hash(const model *m)
{
    fnv f = {0xCBF29CE484222325ull};
    fnv_printf(&f, "%s\n", MODEL_FORMAT);
    for (int i = 0; i < m->n_inputs; i++) {
        const model_input *in = &m->inputs[i];
        fnv_printf(&f, "input ");
        fnv_name(&f, in->name);
        if (in->kind == INPUT_CONVOLUTIONAL)
            fnv_printf(&f, " %s %" PRId64 " %" PRId64 " %" PRId64 "\n", input_kind_names[in->kind],
                       in->h, in->w, in->c);
        else
            fnv_printf(&f, " %s %" PRId64 "\n", input_kind_names[in->kind], in->size);
    }
    const layer **sorted = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *sorted);
    if (sorted) {
        for (int i = 0; i < m->n_layers; i++)
            sorted[i] = m->layers[i];
        qsort(sorted, (size_t)m->n_layers, sizeof *sorted, cmp_layer_name);
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = sorted ? sorted[i] : m->layers[i];
        fnv_printf(&f, "layer ");
        fnv_name(&f, L->name);
        fnv_printf(&f, " %s in", L->type->name);
        for (int k = 0; k < L->n_inputs; k++) {
            fnv_printf(&f, " ");
            fnv_name(&f, L->inputs[k]);
        }
        fnv_printf(&f, " n_in %" PRId64 " n_out %" PRId64, L->n_in, L->n_out);
        if (L->type->param_specs) {
            param_spec specs[LAYER_MAX_PARAMS];
            int n = L->type->param_specs(L, specs);
            for (int p = 0; p < n; p++) {
                fnv_printf(&f, " %s[", specs[p].key);
                for (int k = 0; k < specs[p].ndim; k++)
                    fnv_printf(&f, k ? ",%" PRId64 : "%" PRId64, specs[p].shape[k]);
                fnv_printf(&f, "]");
            }
        }
        fnv_printf(&f, "\n");
    }
    free(sorted);
    for (int i = 0; i < m->n_outputs; i++) {
        fnv_printf(&f, "output ");
        fnv_name(&f, m->outputs[i]);
        fnv_printf(&f, "\n");
    }
    return f.h;
}

/* ---- reading: the YAML document ---- */

typedef struct yctx {
    const char *path;        /* for locations */
    const char *real_path;   /* as given, for opening files beside it */
    char *text;
    size_t len;
    size_t *line_start;
    int n_lines;
    bool ascii;              /* no byte >= 0x80: a mark's column is its byte column */
    yaml_document_t doc;
    struct diag_ctx *d;
    int errors;
    model *m;
    src_loc weights_loc;
    const char **broken;     /* names of layers dropped for errors (no cascading errors) */
    int n_broken;
    int dropped_inputs;      /* model inputs dropped for errors */
    src_loc **in_locs;       /* per layer (model index): where each of its inputs is named */
    int cap_in_locs;
} yctx;

static void yerr(yctx *y, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void yerr(yctx *y, src_loc loc, const char *fmt, ...)
{
    y->errors++;
    if (!y->d)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(y->d, loc, "%s", msg);
}

static void ynote(yctx *y, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ynote(yctx *y, src_loc loc, const char *fmt, ...)
{
    if (!y->d)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_note(y->d, loc, "%s", msg);
}

/* Byte column (1-based) of a libyaml mark, whose column counts characters. */
static int byte_col(const yctx *y, yaml_mark_t mk)
{
    if ((int)mk.line >= y->n_lines || y->ascii)
        return (int)mk.column + 1;
    size_t p = y->line_start[mk.line];
    for (size_t c = 0; c < mk.column && p < y->len && y->text[p] != '\n'; c++) {
        p++;
        while (p < y->len && ((unsigned char)y->text[p] & 0xC0) == 0x80)
            p++;
    }
    return (int)(p - y->line_start[mk.line]) + 1;
}

static src_loc mark_loc(const yctx *y, yaml_mark_t mk)
{
    src_loc l = {y->path, (int)mk.line + 1, byte_col(y, mk), 1};
    return l;
}

static src_loc node_loc(const yctx *y, const yaml_node_t *n)
{
    src_loc l = mark_loc(y, n->start_mark);
    if (n->end_mark.line == n->start_mark.line && n->type == YAML_SCALAR_NODE) {
        int end = byte_col(y, n->end_mark);
        if (end > l.col)
            l.len = end - l.col;
    }
    return l;
}

static yaml_node_t *node(yctx *y, int i) { return yaml_document_get_node(&y->doc, i); }

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? "a scalar" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
}

/* The keys of a mapping, checked against `allowed` (NULL-terminated; NULL allows any):
 * duplicate and unknown keys are reported. vals[i] receives the value node of allowed[i]. */
static void read_mapping(yctx *y, yaml_node_t *map, const char *what, const char *const *allowed,
                         yaml_node_t **vals, yaml_node_t **keys)
{
    int n_allowed = 0;
    while (allowed[n_allowed])
        n_allowed++;
    for (int i = 0; i < n_allowed; i++) {
        vals[i] = NULL;
        if (keys)
            keys[i] = NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(y, p->key), *v = node(y, p->value);
        const char *ks = scalar(k);
        if (!ks) {
            yerr(y, node_loc(y, k), "%s keys must be plain names", what);
            continue;
        }
        int idx = -1;
        for (int i = 0; i < n_allowed; i++)
            if (!strcmp(ks, allowed[i]))
                idx = i;
        if (idx < 0) {
            const char *hint = diag_suggest(ks, allowed, n_allowed);
            if (hint)
                yerr(y, node_loc(y, k), "unknown %s key '%s' (did you mean '%s'?)", what, ks, hint);
            else
                yerr(y, node_loc(y, k), "unknown %s key '%s'", what, ks);
            continue;
        }
        if (vals[idx]) {
            yerr(y, node_loc(y, k), "duplicate key '%s'", ks);
            if (keys && keys[idx])
                ynote(y, node_loc(y, keys[idx]), "first given here");
            continue;
        }
        vals[idx] = v;
        if (keys)
            keys[idx] = k;
    }
}

static const char *expect_string(yctx *y, yaml_node_t *n, const char *what)
{
    const char *s = scalar(n);
    if (!s) {
        yerr(y, node_loc(y, n), "%s must be a name, not %s", what, node_kind(n));
        return NULL;
    }
    if (strlen(s) != n->data.scalar.length) {
        yerr(y, node_loc(y, n), "%s contains a NUL character", what);
        return NULL;
    }
    if (!*s) {
        yerr(y, node_loc(y, n), "%s is empty", what);
        return NULL;
    }
    return s;
}

static int expect_int(yctx *y, yaml_node_t *n, const char *what, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s = scalar(n);
    if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        yerr(y, node_loc(y, n), "%s must be a whole number", what);
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno) {
        yerr(y, node_loc(y, n), "%s must be a whole number, not '%s'", what, s);
        return -1;
    }
    if (v < lo || v > hi) {
        yerr(y, node_loc(y, n), "%s must be between %" PRId64 " and %" PRId64 ", not %lld", what, lo,
             hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* A list of names: a sequence of scalars, or one scalar. Returns the count (-1 on error);
 * names/locs are malloc'd arrays of borrowed strings. */
static int name_list(yctx *y, yaml_node_t *n, const char *what, const char ***names, src_loc **locs)
{
    *names = NULL;
    *locs = NULL;
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = expect_string(y, n, what);
        if (!s)
            return -1;
        *names = malloc(sizeof **names);
        *locs = malloc(sizeof **locs);
        if (!*names || !*locs)
            goto oom;
        (*names)[0] = s;
        (*locs)[0] = node_loc(y, n);
        return 1;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(y, node_loc(y, n), "%s must be a list of names, not %s", what, node_kind(n));
        return -1;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    *names = malloc((size_t)(count > 0 ? count : 1) * sizeof **names);
    *locs = malloc((size_t)(count > 0 ? count : 1) * sizeof **locs);
    if (!*names || !*locs)
        goto oom;
    int bad = 0;
    for (int i = 0; i < count; i++) {
        yaml_node_t *it = node(y, n->data.sequence.items.start[i]);
        const char *s = expect_string(y, it, what);
        if (!s)
            bad++;
        (*names)[i] = s;
        (*locs)[i] = node_loc(y, it);
    }
    if (bad) {
        free(*names);
        free(*locs);
        *names = NULL;
        *locs = NULL;
        return -1;
    }
    return count;
oom:
    free(*names);
    free(*locs);
    *names = NULL;
    *locs = NULL;
    yerr(y, node_loc(y, n), "out of memory");
    return -1;
}

/* A YAML value as a conf_value for layer_set_option/train_conf_set: plain scalars in the
 * script's value syntax (numbers, names, true/false, calls such as adam(learning_rate = 0.01)),
 * quoted scalars as strings (or calls, when they are one), sequences as lists. */
static conf_value *yaml_value(yctx *y, yaml_node_t *n, int depth)
{
    src_loc loc = node_loc(y, n);
    if (depth > 16) {
        yerr(y, loc, "value nested too deeply");
        return NULL;
    }
    if (n->type == YAML_MAPPING_NODE) {
        yerr(y, loc, "expected a value (number, name, call or list), found a mapping");
        return NULL;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        conf_value *list = conf_list(loc);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yaml_node_t *c = node(y, *it);
            conf_value *v = yaml_value(y, c, depth + 1);
            if (!v) {
                conf_value_free(list);
                return NULL;
            }
            conf_push_arg(list, NULL, loc_none(), v);
        }
        return list;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        yerr(y, loc, "value contains a NUL character");
        return NULL;
    }
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        src_loc at = loc;
        at.len = 1;
        conf_value *v = conf_parse_text(s, at, y->d);
        if (!v)
            y->errors++;
        return v;
    }
    src_loc inner = loc;
    inner.col += 1;
    inner.len = 1;
    conf_value *v = conf_parse_text(s, inner, NULL);
    if (v && v->kind == CV_CALL)
        return v;
    conf_value_free(v);
    return conf_str(CV_STR, s, loc);
}

/* ---- reading: the sections ---- */

static const char *const top_keys[] = {"format", "name", "inputs", "layers", "outputs", "frozen",
                                       "init", "training", "normalizer", "weights", NULL};
enum { K_FORMAT, K_NAME, K_INPUTS, K_LAYERS, K_OUTPUTS, K_FROZEN, K_INIT, K_TRAINING, K_NORM,
       K_WEIGHTS, K_COUNT };

static void read_inputs(yctx *y, yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(y, node_loc(y, n), "'inputs' must be a list of {name, type, size}");
        return;
    }
    static const char *const keys[] = {"name", "type", "size", NULL};
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *in = node(y, *it);
        if (in->type != YAML_MAPPING_NODE) {
            yerr(y, node_loc(y, in), "each input must be a mapping {name, type, size}");
            continue;
        }
        yaml_node_t *v[3];
        int before = y->errors;
        read_mapping(y, in, "input", keys, v, NULL);
        const char *name = v[0] ? expect_string(y, v[0], "an input's name") : NULL;
        if (!v[0])
            yerr(y, node_loc(y, in), "input has no 'name'");
        int kind = -1;
        if (!v[1]) {
            yerr(y, node_loc(y, in), "input '%s' has no 'type' (feed_forward, recurrent or convolutional)",
                 name ? name : "?");
        } else if (scalar(v[1])) {
            for (int k = 0; k < 3; k++)
                if (!strcmp(scalar(v[1]), input_kind_names[k]))
                    kind = k;
            if (kind < 0) {
                const char *hint = diag_suggest(scalar(v[1]), input_kind_names, 3);
                yerr(y, node_loc(y, v[1]), "unknown input type '%s'%s%s%s", scalar(v[1]),
                     hint ? " (did you mean '" : " (feed_forward, recurrent or convolutional",
                     hint ? hint : "", hint ? "'?)" : ")");
            }
        } else {
            yerr(y, node_loc(y, v[1]), "an input's type must be a name, not %s", node_kind(v[1]));
        }
        int64_t size = 0, hwc[3] = {0, 0, 0};
        if (!v[2]) {
            yerr(y, node_loc(y, in), "input '%s' has no 'size'", name ? name : "?");
        } else if (kind == INPUT_CONVOLUTIONAL) {
            yaml_node_t *s = v[2];
            int cnt = s->type == YAML_SEQUENCE_NODE
                          ? (int)(s->data.sequence.items.top - s->data.sequence.items.start) : 0;
            if (cnt != 3) {
                yerr(y, node_loc(y, s), "a convolutional input's size is [height, width, channels]");
            } else {
                for (int k = 0; k < 3; k++)
                    expect_int(y, node(y, s->data.sequence.items.start[k]), "a size", 1,
                               (int64_t)1 << 31, &hwc[k]);
                size = hwc[0] * hwc[1] * hwc[2];
            }
        } else {
            expect_int(y, v[2], "an input's size", 1, (int64_t)1 << 40, &size);
        }
        if (name && model_has_node(y->m, name)) {
            yerr(y, node_loc(y, v[0]), "duplicate input name '%s'", name);
            continue;
        }
        if (y->errors != before || !name || kind < 0) {
            y->dropped_inputs++;
            continue;
        }
        if (model_add_input(y->m, name, (input_kind)kind, size, node_loc(y, v[0])) != 0) {
            yerr(y, node_loc(y, v[0]), "out of memory");
            continue;
        }
        model_input *mi = &y->m->inputs[y->m->n_inputs - 1];
        mi->h = hwc[0];
        mi->w = hwc[1];
        mi->c = hwc[2];
    }
}

/* Whether a type has parameters (and so needs n_out): its layout for a 1-in, 1-out probe (a
 * value on the stack: param_specs only reads the layer). */
static bool type_has_params(const layer_type *t)
{
    if (!t->param_specs)
        return false;
    layer probe = {.name = "probe", .type = t, .n_in = 1, .n_out = 1, .has_bias = true};
    param_spec specs[LAYER_MAX_PARAMS];
    return t->param_specs(&probe, specs) > 0;
}

static bool has_key(yctx *y, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *ks = scalar(node(y, p->key));
        if (ks && !strcmp(ks, key))
            return true;
    }
    return false;
}

static void read_layer(yctx *y, yaml_node_t *n, int index)
{
    if (n->type != YAML_MAPPING_NODE) {
        yerr(y, node_loc(y, n), "each layer must be a mapping (name, type, inputs, options)");
        return;
    }
    yaml_node_t *name_n = NULL, *type_n = NULL, *inputs_n = NULL;
    yaml_node_t *name_k = NULL, *type_k = NULL, *inputs_k = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(y, p->key);
        const char *ks = scalar(k);
        yaml_node_t **slot = !ks ? NULL : !strcmp(ks, "name") ? &name_n : !strcmp(ks, "type") ? &type_n
                                            : !strcmp(ks, "inputs") ? &inputs_n : NULL;
        yaml_node_t **kslot = slot == &name_n ? &name_k : slot == &type_n ? &type_k : &inputs_k;
        if (slot && *slot) {
            yerr(y, node_loc(y, k), "duplicate key '%s'", ks);
            ynote(y, node_loc(y, *kslot), "first given here");
        } else if (slot) {
            *slot = node(y, p->value);
            *kslot = k;
        }
    }
    const char *name = NULL;
    if (!name_n)
        yerr(y, node_loc(y, n), "layer has no 'name'");
    else
        name = expect_string(y, name_n, "a layer's name");
    const layer_type *type = NULL;
    if (!type_n) {
        yerr(y, node_loc(y, n), "layer '%s' has no 'type'", name ? name : "?");
    } else if (!scalar(type_n)) {
        yerr(y, node_loc(y, type_n), "a layer's type must be a name, not %s", node_kind(type_n));
    } else if (!(type = layer_type_find(scalar(type_n)))) {
        const char *names[64];
        int nn = layer_type_count < 64 ? layer_type_count : 64;
        layer_type_names(names);
        const char *hint = diag_suggest(scalar(type_n), names, nn);
        if (hint)
            yerr(y, node_loc(y, type_n), "unknown layer type '%s' (did you mean '%s'?)",
                 scalar(type_n), hint);
        else
            yerr(y, node_loc(y, type_n), "unknown layer type '%s'", scalar(type_n));
    }
    if (name && !type) {
        const char **nb = realloc(y->broken, (size_t)(y->n_broken + 1) * sizeof *nb);
        if (nb) {
            y->broken = nb;
            y->broken[y->n_broken++] = name;
        }
    }
    if (!name || !type)
        return;
    src_loc name_loc = node_loc(y, name_n);
    if (model_has_node(y->m, name)) {
        yerr(y, name_loc, "duplicate name '%s'", name);
        int li = model_layer_index(y->m, name), ii = model_input_index(y->m, name);
        if (li >= 0)
            ynote(y, y->m->layers[li]->loc, "layer '%s' is defined here", name);
        else if (ii >= 0)
            ynote(y, y->m->inputs[ii].loc, "input '%s' is defined here", name);
        return;
    }
    layer *L = layer_new(type, name);
    if (!L) {
        yerr(y, name_loc, "out of memory");
        return;
    }
    L->loc = name_loc;
    /* inputs: given, or (a chain) the previous layer, or the only model input. */
    if (inputs_n) {
        const char **names;
        src_loc *locs;
        int cnt = name_list(y, inputs_n, "a layer input", &names, &locs);
        if (cnt == 0)
            yerr(y, node_loc(y, inputs_n), "layer '%s' has an empty 'inputs' list", name);
        else if (cnt > 0)
            layer_set_inputs(L, names, cnt);
        free(names);
        int at = y->m->n_layers;
        if (cnt > 0 && at >= y->cap_in_locs) {
            int cap = y->cap_in_locs ? 2 * y->cap_in_locs : 16;
            while (cap <= at)
                cap *= 2;
            src_loc **nl = realloc(y->in_locs, (size_t)cap * sizeof *nl);
            if (nl) {
                memset(nl + y->cap_in_locs, 0, (size_t)(cap - y->cap_in_locs) * sizeof *nl);
                y->in_locs = nl;
                y->cap_in_locs = cap;
            }
        }
        if (cnt > 0 && at < y->cap_in_locs) {
            y->in_locs[at] = locs;
            locs = NULL;
        }
        free(locs);
    } else if (type->flags & LT_VERTEX) {
        yerr(y, name_loc, "%s vertex '%s' needs 'inputs' (the layers it combines)", type->name, name);
    } else if (index > 0 && y->m->n_layers > 0) {
        const char *prev = y->m->layers[y->m->n_layers - 1]->name;
        layer_set_inputs(L, &prev, 1);
    } else if (y->m->n_inputs == 1) {
        const char *in = y->m->inputs[0].name;
        layer_set_inputs(L, &in, 1);
    } else if (y->dropped_inputs) {
        y->errors++;        /* the input it would take was reported already */
    } else {
        yerr(y, name_loc, "layer '%s' needs 'inputs' (the model has %d inputs)", name, y->m->n_inputs);
    }
    /* Every other key is an option of the layer type. */
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(y, p->key);
        const char *ks = scalar(k);
        if (!ks) {
            yerr(y, node_loc(y, k), "layer keys must be plain names");
            continue;
        }
        if (!strcmp(ks, "name") || !strcmp(ks, "type") || !strcmp(ks, "inputs"))
            continue;
        bool dup = false;
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p && !dup; q++) {
            const char *qs = scalar(node(y, q->key));
            if (qs && !strcmp(qs, ks)) {
                yerr(y, node_loc(y, k), "duplicate key '%s'", ks);
                ynote(y, node_loc(y, node(y, q->key)), "first given here");
                dup = true;
            }
        }
        if (dup)
            continue;
        conf_value *v = yaml_value(y, node(y, p->value), 0);
        if (!v)
            continue;
        if (layer_set_option(L, ks, node_loc(y, k), v, y->d) != 0)
            y->errors++;
        conf_value_free(v);
    }
    if (type_has_params(type) && L->n_out <= 0 && !has_key(y, n, "n_out"))
        yerr(y, name_loc, "layer '%s' (%s) needs 'n_out'", name, type->name);
    /* Added even when an option was wrong, so later references to it raise no second error
     * (the model is discarded anyway). */
    model_add_layer(y->m, L);
}

static void read_layers(yctx *y, yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(y, node_loc(y, n), "'layers' must be a list of layers");
        return;
    }
    int i = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
        read_layer(y, node(y, *it), i++);
}

static void suggest_node(yctx *y, const char *name, src_loc loc, const char *what)
{
    for (int i = 0; i < y->n_broken; i++)
        if (!strcmp(y->broken[i], name)) {
            y->errors++;    /* already reported where the layer is defined */
            return;
        }
    int total = y->m->n_inputs + y->m->n_layers;
    const char **names = malloc((size_t)(total > 0 ? total : 1) * sizeof *names);
    int n = names ? model_node_names(y->m, names, total) : 0;
    const char *hint = names ? diag_suggest(name, names, n) : NULL;
    if (hint)
        yerr(y, loc, "%s '%s' is not a layer of the model (did you mean '%s'?)", what, name, hint);
    else
        yerr(y, loc, "%s '%s' is not a layer of the model", what, name);
    free(names);
}

/* Every layer input names an input or a layer: reported where the name is written. */
static void check_layer_inputs(yctx *y)
{
    model *m = y->m;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            if (model_has_node(m, L->inputs[k]))
                continue;
            src_loc at = i < y->cap_in_locs && y->in_locs[i] ? y->in_locs[i][k] : L->loc;
            int total = m->n_inputs + m->n_layers;
            const char **names = malloc((size_t)(total > 0 ? total : 1) * sizeof *names);
            int n = names ? model_node_names(m, names, total) : 0;
            const char *hint = names ? diag_suggest(L->inputs[k], names, n) : NULL;
            if (hint)
                yerr(y, at, "layer '%s' takes input '%s', which is not defined (did you mean '%s'?)",
                     L->name, L->inputs[k], hint);
            else
                yerr(y, at, "layer '%s' takes input '%s', which is not defined", L->name,
                     L->inputs[k]);
            free(names);
        }
    }
}

static void read_outputs(yctx *y, yaml_node_t *n)
{
    const char **names;
    src_loc *locs;
    int cnt = name_list(y, n, "an output", &names, &locs);
    if (cnt < 0)
        return;
    y->m->outputs_loc = node_loc(y, n);
    int bad = 0;
    if (cnt == 0) {
        yerr(y, node_loc(y, n), "'outputs' is empty");
        bad++;
    }
    for (int i = 0; i < cnt; i++) {
        if (model_layer_index(y->m, names[i]) < 0) {
            suggest_node(y, names[i], locs[i], "output");
            bad++;
            continue;
        }
        for (int k = 0; k < i; k++)
            if (!strcmp(names[k], names[i])) {
                yerr(y, locs[i], "output '%s' is listed twice", names[i]);
                bad++;
            }
    }
    if (!bad)
        model_set_outputs(y->m, names, cnt);
    free(names);
    free(locs);
}

static void read_frozen(yctx *y, yaml_node_t *n)
{
    const char **names;
    src_loc *locs;
    int cnt = name_list(y, n, "a frozen layer", &names, &locs);
    for (int i = 0; i < cnt; i++) {
        layer *L = model_find_layer(y->m, names[i]);
        if (!L)
            suggest_node(y, names[i], locs[i], "frozen layer");
        else
            L->frozen = true;
    }
    free(names);
    free(locs);
}

static void read_init(yctx *y, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        yerr(y, node_loc(y, n), "'init' must be a mapping {seed, weight_init}");
        return;
    }
    static const char *const keys[] = {"seed", "weight_init", NULL};
    yaml_node_t *v[2], *k[2];
    read_mapping(y, n, "init", keys, v, k);
    train_conf tc;
    train_conf_defaults(&tc);
    for (int i = 0; i < 2; i++) {
        if (!v[i])
            continue;
        conf_value *cv = yaml_value(y, v[i], 0);
        if (!cv)
            continue;
        if (train_conf_set(&tc, keys[i], node_loc(y, k[i]), cv, y->d) != 0)
            y->errors++;
        conf_value_free(cv);
    }
    if (tc.set_mask & TC_SEED)
        y->m->seed = tc.seed;
    if (tc.set_mask & TC_WEIGHT_INIT)
        y->m->weight_init = tc.weight_init;
}

static void read_training(yctx *y, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        yerr(y, node_loc(y, n), "'training' must be a mapping of training settings");
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(y, p->key);
        const char *ks = scalar(k);
        if (!ks) {
            yerr(y, node_loc(y, k), "training keys must be plain names");
            continue;
        }
        int n_keys = 0;
        bool known = false;
        while (train_conf_keys[n_keys]) {
            known = known || !strcmp(train_conf_keys[n_keys], ks);
            n_keys++;
        }
        if (!known) {
            const char *hint = diag_suggest(ks, train_conf_keys, n_keys);
            if (hint)
                yerr(y, node_loc(y, k), "unknown training key '%s' (did you mean '%s'?)", ks, hint);
            else
                yerr(y, node_loc(y, k), "unknown training key '%s'", ks);
            continue;
        }
        conf_value *cv = yaml_value(y, node(y, p->value), 0);
        if (!cv)
            continue;
        if (train_conf_set(&y->m->training, ks, node_loc(y, k), cv, y->d) != 0)
            y->errors++;
        conf_value_free(cv);
    }
}

static float *float_list(yctx *y, yaml_node_t *n, const char *what, int64_t *count)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(y, node_loc(y, n), "normalizer %s must be a list of numbers", what);
        return NULL;
    }
    int64_t cnt = n->data.sequence.items.top - n->data.sequence.items.start;
    float *v = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *v);
    if (!v) {
        yerr(y, node_loc(y, n), "out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < cnt; i++) {
        yaml_node_t *it = node(y, n->data.sequence.items.start[i]);
        const char *s = scalar(it);
        char *end = NULL;
        double x = s ? strtod(s, &end) : NAN;
        if (!s || end == s || *end || !isfinite(x) || fabs(x) > 3.4e38) {
            yerr(y, node_loc(y, it), "normalizer %s: expected a finite number", what);
            free(v);
            return NULL;
        }
        v[i] = (float)x;
    }
    *count = cnt;
    return v;
}

static void read_normalizer(yctx *y, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        yerr(y, node_loc(y, n), "'normalizer' must be a mapping {kind, shift, scale}");
        return;
    }
    static const char *const keys[] = {"kind", "shift", "scale", NULL};
    yaml_node_t *v[3];
    int before = y->errors;
    read_mapping(y, n, "normalizer", keys, v, NULL);
    static const char *const kinds[] = {"none", "standardize", "minmax"};
    int kind = -1;
    if (!v[0]) {
        yerr(y, node_loc(y, n), "normalizer has no 'kind' (standardize or minmax)");
    } else {
        const char *s = scalar(v[0]);
        for (int i = 0; s && i < 3; i++)
            if (!strcmp(s, kinds[i]))
                kind = i;
        if (kind < 0)
            yerr(y, node_loc(y, v[0]), "unknown normalizer kind '%s' (standardize or minmax)",
                 s ? s : "");
    }
    if (kind == NORM_NONE)
        return;
    int64_t ns = 0, nc = 0;
    float *shift = NULL, *scale = NULL;
    if (!v[1] || !v[2])
        yerr(y, node_loc(y, n), "normalizer needs 'shift' and 'scale' lists");
    if (v[1])
        shift = float_list(y, v[1], "shift", &ns);
    if (v[2])
        scale = float_list(y, v[2], "scale", &nc);
    if (shift && scale && ns != nc)
        yerr(y, node_loc(y, v[2]), "normalizer has %" PRId64 " shift values but %" PRId64
             " scale values", ns, nc);
    else if (shift && scale && ns == 0)
        yerr(y, node_loc(y, v[1]), "normalizer lists are empty");
    else if (shift && scale && y->m->n_inputs > 0 && y->m->inputs[0].size != ns)
        yerr(y, node_loc(y, v[1]), "normalizer has %" PRId64 " values, but input '%s' has %" PRId64
             " features", ns, y->m->inputs[0].name, y->m->inputs[0].size);
    if (y->errors != before) {
        free(shift);
        free(scale);
        return;
    }
    y->m->norm.kind = (norm_kind)kind;
    y->m->norm.n = ns;
    y->m->norm.shift = shift;
    y->m->norm.scale = scale;
}

/* ---- reading: the weights ---- */

static void hex64(char *buf, uint64_t h) { snprintf(buf, 17, "%016" PRIx64, h); }

/* Reports up to `max` concrete differences between the file and the architecture as notes
 * (in_error: as errors); returns how many differences there are. */
static int weight_differences(yctx *y, const st_file *f, const char *fname, bool as_errors, int max)
{
    int found = 0;
    char a[96], b[96];
    for (int i = 0; i < y->m->n_layers; i++) {
        layer *L = y->m->layers[i];
        if (!L->type->param_specs)
            continue;
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs(L, specs);
        for (int p = 0; p < n; p++) {
            char tn[512];
            snprintf(tn, sizeof tn, "%s.%s", L->name, specs[p].key);
            const st_tensor *t = st_find(f, tn);
            shape_str(a, sizeof a, specs[p].ndim, specs[p].shape);
            const char *what = NULL;
            if (!t) {
                what = "missing";
            } else if (t->ndim != specs[p].ndim ||
                       memcmp(t->shape, specs[p].shape, (size_t)t->ndim * sizeof(int64_t))) {
                what = "shape";
                if (t->ndim <= TENSOR_MAX_DIMS)
                    shape_str(b, sizeof b, t->ndim, t->shape);
                else
                    snprintf(b, sizeof b, "(%d dimensions)", t->ndim);
            }
            if (!what)
                continue;
            if (found++ >= max)
                continue;
            if (as_errors) {
                if (what[0] == 'm')
                    yerr(y, y->weights_loc, "weights file %s has no tensor '%s' (layer '%s' needs %s)",
                         fname, tn, L->name, a);
                else
                    yerr(y, y->weights_loc, "tensor '%s' in weights file %s has shape %s, but layer '%s' needs %s",
                         tn, fname, b, L->name, a);
                ynote(y, L->loc, "layer '%s' is defined here", L->name);
            } else if (what[0] == 'm') {
                ynote(y, L->loc, "the file has no tensor '%s' (layer '%s' needs %s)", tn, L->name, a);
            } else {
                ynote(y, L->loc, "tensor '%s' has shape %s in the file, layer '%s' needs %s", tn, b,
                      L->name, a);
            }
        }
    }
    for (int i = 0; i < f->n_tensors; i++) {
        const char *tn = f->tensors[i].name;
        const char *dot = strrchr(tn, '.');
        bool known = false;
        if (dot) {
            char *ln = strndup(tn, (size_t)(dot - tn));
            layer *L = ln ? model_find_layer(y->m, ln) : NULL;
            known = L && layer_param_index(L, dot + 1) >= 0;
            free(ln);
        }
        if (known)
            continue;
        if (found++ >= max)
            continue;
        if (as_errors)
            yerr(y, y->weights_loc, "weights file %s has a tensor '%s' that no layer of the model has",
                 fname, tn);
        else
            ynote(y, y->weights_loc, "the file has a tensor '%s' that no layer of the model has", tn);
    }
    return found;
}

static void load_weights(yctx *y)
{
    model *m = y->m;
    char *wpath = path_beside(y->real_path, m->weights_file);
    if (!wpath) {
        yerr(y, y->weights_loc, "out of memory");
        return;
    }
    const char *fname = m->weights_file;
    char err[1024];
    st_file *f = st_open(wpath, err, sizeof err);
    if (!f) {
        yerr(y, y->weights_loc, "cannot load weights: %s", err);
        free(wpath);
        return;
    }
    const char *fmt = st_meta(f, "format");
    const char *hash = st_meta(f, "architecture_hash");
    char want[17];
    hex64(want, model_arch_hash(m));
    if (fmt && strcmp(fmt, MODEL_FORMAT) != 0) {
        yerr(y, y->weights_loc, "weights file %s has format '%s' (this version reads %s)", fname,
             fmt, MODEL_FORMAT);
    } else if (hash && strcmp(hash, want) != 0) {
        yerr(y, y->weights_loc, "weights file %s was saved for a different architecture", fname);
        ynote(y, y->weights_loc, "its architecture hash is %s, this YAML's is %s", hash, want);
        weight_differences(y, f, fname, false, 5);
    } else {
        weight_differences(y, f, fname, true, 20);
    }
    if (y->errors) {
        st_close(f);
        free(wpath);
        return;
    }
    bool borrowed = false;
    for (int i = 0; i < m->n_layers && !y->errors; i++) {
        layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        for (int p = 0; p < n; p++) {
            char tn[512];
            snprintf(tn, sizeof tn, "%s.%s", L->name, specs[p].key);
            const st_tensor *t = st_find(f, tn);
            if (st_tensor_load(f, t, &L->params[p], true, err, sizeof err) != 0) {
                yerr(y, y->weights_loc, "%s", err);
                break;
            }
            borrowed = borrowed || L->params[p].borrowed;
        }
        L->n_params = n;
    }
    if (!y->errors && borrowed) {
        m->mapping = st_take_mapping(f, &m->mapping_len);
        m->mapping_fd = st_take_fd(f);
    }
    if (y->errors) {
        /* Tensors may borrow from the mapping st_close releases: drop them all first. */
        for (int i = 0; i < m->n_layers; i++)
            for (int p = 0; p < LAYER_MAX_PARAMS; p++)
                tensor_release(&m->layers[i]->params[p]);
    } else {
        m->weights_loaded = true;
    }
    st_close(f);
    free(wpath);
}

/* ---- model_load ---- */

static int read_file(const char *path, char **text, size_t *len, char *err, size_t err_len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, err_len, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0)
            break;
    }
    bool oom = !buf, bad = oom || ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        snprintf(err, err_len, "%s", oom ? "out of memory" : "read error");
        return -1;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

static void parse_document(yctx *y, yaml_node_t *root)
{
    model *m = y->m;
    if (!root) {
        yerr(y, (src_loc){y->path, 1, 1, 1}, "empty model file (expected format, inputs, layers, outputs)");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        yerr(y, node_loc(y, root), "a model file is a mapping (format, name, inputs, layers, outputs, ...)");
        return;
    }
    yaml_node_t *v[K_COUNT], *k[K_COUNT];
    read_mapping(y, root, "top-level", top_keys, v, k);
    src_loc top = node_loc(y, root);
    if (!v[K_FORMAT]) {
        yerr(y, top, "missing 'format: %s'", MODEL_FORMAT);
    } else if (!scalar(v[K_FORMAT]) || strcmp(scalar(v[K_FORMAT]), MODEL_FORMAT) != 0) {
        yerr(y, node_loc(y, v[K_FORMAT]), "unsupported format '%s' (this version reads %s)",
             scalar(v[K_FORMAT]) ? scalar(v[K_FORMAT]) : node_kind(v[K_FORMAT]), MODEL_FORMAT);
        return;
    }
    if (v[K_NAME]) {
        const char *s = expect_string(y, v[K_NAME], "the model's name");
        if (s) {
            free(m->name);
            m->name = str_dup(s);
        }
    }
    if (!v[K_INPUTS])
        yerr(y, top, "missing 'inputs' (the model's inputs: name, type, size)");
    else
        read_inputs(y, v[K_INPUTS]);
    if (!v[K_LAYERS])
        yerr(y, top, "missing 'layers'");
    else
        read_layers(y, v[K_LAYERS]);
    if (!v[K_OUTPUTS])
        yerr(y, top, "missing 'outputs' (the layers whose activations the model returns)");
    else
        read_outputs(y, v[K_OUTPUTS]);
    if (v[K_FROZEN])
        read_frozen(y, v[K_FROZEN]);
    if (v[K_INIT])
        read_init(y, v[K_INIT]);
    if (v[K_TRAINING])
        read_training(y, v[K_TRAINING]);
    if (v[K_NORM])
        read_normalizer(y, v[K_NORM]);
    if (v[K_WEIGHTS]) {
        const char *s = expect_string(y, v[K_WEIGHTS], "'weights'");
        if (s) {
            m->weights_file = str_dup(s);
            y->weights_loc = node_loc(y, v[K_WEIGHTS]);
        }
    }
}

static char *stem_of(const char *path)
{
    const char *b = base_name(path);
    size_t n = strlen(b);
    if (str_ends_with(b, ".yaml"))
        n -= 5;
    else if (str_ends_with(b, ".yml"))
        n -= 4;
    return strndup(b, n);
}

model *model_load(const char *yaml_path, bool load_weights_too, struct diag_ctx *d)
{
    yctx y;
    memset(&y, 0, sizeof y);
    y.d = d;
    y.real_path = yaml_path;
    char *stem = stem_of(yaml_path);
    y.m = model_new(stem);
    free(stem);
    if (!y.m || !(y.m->path = str_dup(yaml_path))) {
        model_free(y.m);
        if (d)
            diag_error(d, loc_none(), "out of memory");
        return NULL;
    }
    y.path = d ? diag_intern_path(d, yaml_path) : y.m->path;
    char err[512];
    if (read_file(yaml_path, &y.text, &y.len, err, sizeof err) != 0) {
        if (d)
            diag_error(d, (src_loc){y.path, 0, 0, 0}, "%s", err);
        model_free(y.m);
        return NULL;
    }
    if (d)
        diag_set_text(d, y.path, y.text, y.len);
    /* Line starts, for byte columns. */
    int cap = 64;
    y.line_start = malloc((size_t)cap * sizeof *y.line_start);
    y.ascii = true;
    if (y.line_start) {
        y.line_start[y.n_lines++] = 0;
        for (size_t i = 0; i < y.len && y.line_start; i++) {
            if ((unsigned char)y.text[i] & 0x80)
                y.ascii = false;
            if (y.text[i] == '\n') {
                if (y.n_lines == cap) {
                    size_t *ns = realloc(y.line_start, (size_t)(cap *= 2) * sizeof *ns);
                    if (!ns) {
                        free(y.line_start);
                        y.line_start = NULL;
                        break;
                    }
                    y.line_start = ns;
                }
                y.line_start[y.n_lines++] = i + 1;
            }
        }
    }
    if (!y.line_start) {
        if (d)
            diag_error(d, (src_loc){y.path, 0, 0, 0}, "out of memory");
        free(y.text);
        model_free(y.m);
        return NULL;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)y.text, y.len);
    bool have_doc = false;
    if (!yaml_parser_load(&parser, &y.doc)) {
        src_loc at = mark_loc(&y, parser.problem_mark);
        yerr(&y, at, "YAML syntax error: %s", parser.problem ? parser.problem : "malformed YAML");
        if (parser.context)
            ynote(&y, mark_loc(&y, parser.context_mark), "%s", parser.context);
    } else {
        have_doc = true;
        parse_document(&y, yaml_document_get_root_node(&y.doc));
        yaml_document_t extra;
        if (!y.errors && yaml_parser_load(&parser, &extra)) {
            if (yaml_document_get_root_node(&extra))
                yerr(&y, mark_loc(&y, extra.start_mark), "a model file holds one YAML document");
            yaml_document_delete(&extra);
        } else if (!y.errors) {
            yerr(&y, mark_loc(&y, parser.problem_mark), "YAML syntax error: %s",
                 parser.problem ? parser.problem : "malformed YAML");
        }
    }
    yaml_parser_delete(&parser);
    if (have_doc)
        yaml_document_delete(&y.doc);
    model *m = y.m;
    if (!y.errors)
        check_layer_inputs(&y);
    if (!y.errors) {
        int *order = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *order);
        if (!order)
            yerr(&y, loc_none(), "out of memory");
        else if (model_topo_order(m, order, d) < 0)
            y.errors++;
        else if (model_infer_shapes(m, d) > 0)
            y.errors++;
        free(order);
    }
    if (!y.errors)
        for (int i = 0; i < m->n_layers; i++) {
            param_spec specs[LAYER_MAX_PARAMS];
            layer *L = m->layers[i];
            L->n_params = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
            /* A written n_in was checked against the graph; from here on it follows the graph
             * like an inferred one (edits upstream may change it). */
            L->n_in_given = false;
        }
    if (!y.errors && load_weights_too) {
        if (m->weights_file)
            load_weights(&y);
        else if (model_init_params(m) != 0)
            yerr(&y, (src_loc){y.path, 0, 0, 0}, "out of memory initialising the parameters");
    }
    free(y.line_start);
    free(y.text);
    free(y.broken);
    for (int i = 0; i < y.cap_in_locs; i++)
        free(y.in_locs[i]);
    free(y.in_locs);
    if (y.errors) {
        model_free(m);
        return NULL;
    }
    return m;
}

/* ---- writing: the YAML ---- */

typedef struct outbuf {
    char *s;
    size_t n, cap;
    bool oom;
} outbuf;

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    outbuf *b = data;
    if (b->n + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->n + size + 1 > cap)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return 0;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, buffer, size);
    b->n += size;
    b->s[b->n] = 0;
    return 1;
}

typedef struct emitter {
    yaml_emitter_t e;
    bool failed;
} emitter;

static void emit(emitter *em, yaml_event_t *ev)
{
    if (em->failed) {
        yaml_event_delete(ev);
        return;
    }
    if (!yaml_emitter_emit(&em->e, ev))
        em->failed = true;
}

/* Whether a string written plain would read back as something other than a string. */
static bool looks_typed(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "null", "y", "n",
                                        "~", ""};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (!strcasecmp(s, words[i]))
            return true;
    char *end;
    strtod(s, &end);
    if (end != s && !*end)
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static void emit_scalar_style(emitter *em, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style)) {
        em->failed = true;
        return;
    }
    emit(em, &ev);
}

/* A name or other string: plain unless it would read back as a number, bool or null. */
static void emit_str(emitter *em, const char *s)
{
    emit_scalar_style(em, s, looks_typed(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
}

/* A value in the script's syntax (a number, a name, a call): plain. */
static void emit_value(emitter *em, const char *s) { emit_scalar_style(em, s, YAML_PLAIN_SCALAR_STYLE); }

static void emit_int(emitter *em, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    emit_value(em, b);
}

static void map_start(emitter *em, bool flow)
{
    yaml_event_t ev;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                        flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
    emit(em, &ev);
}

static void map_end(emitter *em)
{
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    emit(em, &ev);
}

static void seq_start(emitter *em, bool flow)
{
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                         flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    emit(em, &ev);
}

static void seq_end(emitter *em)
{
    yaml_event_t ev;
    yaml_sequence_end_event_initialize(&ev);
    emit(em, &ev);
}

static void emit_names(emitter *em, char *const *names, int n)
{
    seq_start(em, true);
    for (int i = 0; i < n; i++)
        emit_str(em, names[i]);
    seq_end(em);
}

static void emit_options(emitter *em, conf_arg *opts, int n)
{
    for (int i = 0; i < n; i++) {
        char *text = conf_value_to_text(opts[i].value);
        if (!text) {
            em->failed = true;
            return;
        }
        emit_value(em, opts[i].name);
        emit_value(em, text);
        free(text);
    }
}

static void emit_layer(emitter *em, const layer *L)
{
    char text[48];
    map_start(em, false);
    emit_value(em, "name");
    emit_str(em, L->name);
    emit_value(em, "type");
    emit_value(em, L->type->name);
    emit_value(em, "inputs");
    emit_names(em, L->inputs, L->n_inputs);
    for (const layer_option *const *o = L->type->options; o && *o; o++) {
        if (!layer_option_written(*o, L))
            continue;
        emit_value(em, (*o)->name);
        emit_value(em, layer_option_format(*o, (*o)->get(L), text, sizeof text));
    }
    conf_arg *opts = NULL;
    int n = train_conf_to_options(&L->train, ~0u, &opts);
    emit_options(em, opts, n);
    conf_args_free(opts, n);
    map_end(em);
}

static void emit_floats(emitter *em, const float *v, int64_t n)
{
    char num[32];
    seq_start(em, true);
    for (int64_t i = 0; i < n; i++)
        emit_value(em, tensor_csv_format_float(v[i], num, sizeof num));
    seq_end(em);
}

/* libyaml writes a block sequence under a mapping key without indenting it; the format's style
 * indents it by two spaces. Lines that belong to such a sequence start with '-' or (continuing
 * an item) ' ' after a "- " line at column 0; scalars never span lines (no width limit, and
 * control characters are escaped in double quotes). */
static char *indent_sequences(const char *s, size_t n, size_t *out_len)
{
    size_t lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    char *o = malloc(n + 2 * lines + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    bool in_seq = false;
    for (size_t i = 0; i < n;) {
        const char *eol = memchr(s + i, '\n', n - i);
        size_t len = eol ? (size_t)(eol - (s + i)) + 1 : n - i;
        if (s[i] == '-' && !(len >= 3 && !strncmp(s + i, "---", 3)))
            in_seq = true;
        else if (s[i] != ' ')
            in_seq = false;
        if (in_seq) {
            o[k++] = ' ';
            o[k++] = ' ';
        }
        memcpy(o + k, s + i, len);
        k += len;
        i += len;
    }
    o[k] = 0;
    *out_len = k;
    return o;
}

static char *model_yaml_text(const model *m, const char *weights_name, size_t *len)
{
    outbuf buf = {0};
    emitter em;
    memset(&em, 0, sizeof em);
    if (!yaml_emitter_initialize(&em.e))
        return NULL;
    yaml_emitter_set_output(&em.e, write_handler, &buf);
    yaml_emitter_set_indent(&em.e, 2);
    yaml_emitter_set_width(&em.e, -1);
    yaml_emitter_set_unicode(&em.e, 1);
    yaml_emitter_set_break(&em.e, YAML_LN_BREAK);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    emit(&em, &ev);
    map_start(&em, false);

    emit_value(&em, "format");
    emit_value(&em, MODEL_FORMAT);
    emit_value(&em, "name");
    emit_str(&em, m->name ? m->name : "model");

    emit_value(&em, "inputs");
    seq_start(&em, false);
    for (int i = 0; i < m->n_inputs; i++) {
        const model_input *in = &m->inputs[i];
        map_start(&em, false);
        emit_value(&em, "name");
        emit_str(&em, in->name);
        emit_value(&em, "type");
        emit_value(&em, input_kind_names[in->kind]);
        emit_value(&em, "size");
        if (in->kind == INPUT_CONVOLUTIONAL) {
            seq_start(&em, true);
            emit_int(&em, in->h);
            emit_int(&em, in->w);
            emit_int(&em, in->c);
            seq_end(&em);
        } else {
            emit_int(&em, in->size);
        }
        map_end(&em);
    }
    seq_end(&em);

    emit_value(&em, "layers");
    seq_start(&em, false);
    for (int i = 0; i < m->n_layers; i++)
        emit_layer(&em, m->layers[i]);
    seq_end(&em);

    emit_value(&em, "outputs");
    emit_names(&em, m->outputs, m->n_outputs);

    int n_frozen = 0;
    for (int i = 0; i < m->n_layers; i++)
        n_frozen += m->layers[i]->frozen;
    if (n_frozen) {
        emit_value(&em, "frozen");
        seq_start(&em, true);
        for (int i = 0; i < m->n_layers; i++)
            if (m->layers[i]->frozen)
                emit_str(&em, m->layers[i]->name);
        seq_end(&em);
    }

    emit_value(&em, "init");
    map_start(&em, true);
    emit_value(&em, "seed");
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, m->seed);
    emit_value(&em, num);
    emit_value(&em, "weight_init");
    train_conf wi;
    train_conf_defaults(&wi);
    wi.weight_init = m->weight_init;
    wi.set_mask = TC_WEIGHT_INIT;
    conf_arg *opts = NULL;
    int n = train_conf_to_options(&wi, TC_WEIGHT_INIT, &opts);
    char *text = n == 1 ? conf_value_to_text(opts[0].value) : NULL;
    emit_value(&em, text ? text : init_names[m->weight_init.kind]);
    free(text);
    conf_args_free(opts, n);
    map_end(&em);

    if (m->training.set_mask) {
        emit_value(&em, "training");
        map_start(&em, false);
        opts = NULL;
        n = train_conf_to_options(&m->training, ~0u, &opts);
        emit_options(&em, opts, n);
        conf_args_free(opts, n);
        map_end(&em);
    }

    if (m->norm.kind != NORM_NONE && m->norm.n > 0) {
        emit_value(&em, "normalizer");
        map_start(&em, false);
        emit_value(&em, "kind");
        emit_value(&em, m->norm.kind == NORM_STANDARDIZE ? "standardize" : "minmax");
        emit_value(&em, "shift");
        emit_floats(&em, m->norm.shift, m->norm.n);
        emit_value(&em, "scale");
        emit_floats(&em, m->norm.scale, m->norm.n);
        map_end(&em);
    }

    emit_value(&em, "weights");
    emit_str(&em, weights_name);

    map_end(&em);
    yaml_document_end_event_initialize(&ev, 1);
    emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    emit(&em, &ev);
    yaml_emitter_delete(&em.e);
    if (em.failed || buf.oom || !buf.s) {
        free(buf.s);
        return NULL;
    }
    char *out = indent_sequences(buf.s, buf.n, len);
    free(buf.s);
    return out;
}

/* ---- model_save ---- */

static void save_error(struct diag_ctx *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void save_error(struct diag_ctx *d, const char *path, const char *fmt, ...)
{
    if (!d)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    src_loc l = {diag_intern_path(d, path), 0, 0, 0};
    diag_error(d, l, "%s", msg);
}

/* Weights files at least this large are written with direct I/O when the save is durable
 * (weights_out.h). */
#define SAVE_DIRECT_MIN ((uint64_t)64 << 20)

/* Writes the weights file's header and data into the temporary af: on a little-endian host
 * through weights_out (data still in the base weights file copied from it, pending tensors
 * streamed without being assembled), elsewhere through st_write's byte-order conversion. */
static int write_weights(const model *m, atomic_file *af, const st_entry *entries, int n,
                         const char *const *meta, int n_meta, char *err, size_t err_len)
{
    const bool durable = af->durable;
    if (!tensor_host_little_endian())
        return st_write(af->fp, entries, n, meta, n_meta, err, err_len);
    char *header;
    size_t header_len;
    st_entry *sorted;
    if (st_header(entries, n, meta, n_meta, &header, &header_len, &sorted, err, err_len) != 0)
        return -1;
    uint64_t total = header_len;
    for (int i = 0; i < n; i++)
        total += (uint64_t)sorted[i].t->size * sizeof(float);
    const int src_fd = m->mapping ? m->mapping_fd : -1;
    weights_out w;
    bool ok, direct = false;
    if (durable && total >= SAVE_DIRECT_MIN)   /* when it fails, w is begun for the page cache */
        direct = wo_begin_direct(&w, af->tmp_path, total, fileno(af->fp), src_fd, m->mapping,
                                 m->mapping_len) == 0;
    else
        wo_begin(&w, fileno(af->fp), header_len, durable, src_fd, m->mapping, m->mapping_len);
    if (direct) {
        /* front to back; pending tensors' new values are drawn ahead of the writing */
        ok = wo_bytes(&w, header, header_len) == 0;
        for (int i = 0; i < n && ok; i++)
            ok = wo_tensor(&w, sorted[i].t) == 0;
    } else {
        /* through the page cache, pending tensors last: their new values may still be being
         * drawn (tensor_parts_fill) while the others are copied */
        ok = fwrite(header, 1, header_len, af->fp) == header_len && fflush(af->fp) == 0;
        if (!ok)
            w.error = errno;
        for (int pass = 0; pass < 2 && ok; pass++) {
            uint64_t at = header_len;
            for (int i = 0; i < n && ok; i++) {
                const tensor *t = sorted[i].t;
                if ((t->parts != NULL) == (pass == 1))
                    ok = wo_seek(&w, at) == 0 && wo_tensor(&w, t) == 0;
                at += (uint64_t)t->size * sizeof(float);
            }
        }
    }
    ok = wo_end(&w) == 0 && ok;
    free(header);
    free(sorted);
    if (!ok) {
        snprintf(err, err_len, "write failed: %s", strerror(w.error ? w.error : EIO));
        return -1;
    }
    return 0;
}

int model_save(const model *m, const char *yaml_path, struct diag_ctx *d)
{
    return model_save_mode(m, yaml_path, SAVE_DURABLE, d);
}

int model_save_mode(const model *m, const char *yaml_path, save_mode mode, struct diag_ctx *d)
{
    char *wpath = model_weights_path(yaml_path);
    if (!wpath) {
        save_error(d, yaml_path, "a model is saved as NAME.yaml (with NAME.safetensors beside it)");
        return -1;
    }
    /* Every parameter, in the layers' spec order, must be there. */
    int total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += m->layers[i]->type->param_specs ? LAYER_MAX_PARAMS : 0;
    st_entry *entries = malloc((size_t)(total > 0 ? total : 1) * sizeof *entries);
    char **names = malloc((size_t)(total > 0 ? total : 1) * sizeof *names);
    int n = 0, rc = -1;
    char *yaml = NULL;
    if (!entries || !names) {
        save_error(d, yaml_path, "out of memory");
        goto done;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        if (!L->type->param_specs)
            continue;
        param_spec specs[LAYER_MAX_PARAMS];
        int k = L->type->param_specs(L, specs);
        for (int p = 0; p < k; p++) {
            const tensor *t = &L->params[p];
            if ((!tensor_has_values(t) && t->size > 0) || t->ndim != specs[p].ndim ||
                memcmp(t->shape, specs[p].shape, (size_t)specs[p].ndim * sizeof(int64_t))) {
                char a[96], b[96];
                save_error(d, yaml_path, "cannot save: parameter %s.%s %s (needs %s)", L->name,
                           specs[p].key, tensor_has_values(t) ? shape_str(b, sizeof b, t->ndim, t->shape) : "has no data",
                           shape_str(a, sizeof a, specs[p].ndim, specs[p].shape));
                goto done;
            }
            size_t len = strlen(L->name) + strlen(specs[p].key) + 2;
            if (!(names[n] = malloc(len))) {
                save_error(d, yaml_path, "out of memory");
                goto done;
            }
            snprintf(names[n], len, "%s.%s", L->name, specs[p].key);
            entries[n].name = names[n];
            entries[n].t = t;
            n++;
        }
    }
    size_t yaml_len = 0;
    yaml = model_yaml_text(m, base_name(wpath), &yaml_len);
    if (!yaml) {
        save_error(d, yaml_path, "cannot write the model YAML (out of memory)");
        goto done;
    }
    char hash[17], err[1024];
    hex64(hash, model_arch_hash(m));
    const char *meta[] = {"format", MODEL_FORMAT, "architecture_hash", hash};
    atomic_file ya, wa;
    if (atomic_open(&ya, yaml_path, err, sizeof err) != 0) {
        save_error(d, yaml_path, "%s", err);
        goto done;
    }
    if (atomic_open(&wa, wpath, err, sizeof err) != 0) {
        atomic_abort(&ya);
        save_error(d, wpath, "%s", err);
        goto done;
    }
    ya.durable = wa.durable = mode == SAVE_DURABLE;
    if (fwrite(yaml, 1, yaml_len, ya.fp) != yaml_len) {
        save_error(d, yaml_path, "write failed: %s", strerror(errno));
        atomic_abort(&ya);
        atomic_abort(&wa);
        goto done;
    }
    if (write_weights(m, &wa, entries, n, meta, 2, err, sizeof err) != 0) {
        save_error(d, wpath, "%s", err);
        atomic_abort(&ya);
        atomic_abort(&wa);
        goto done;
    }
    if (atomic_commit_pair(&ya, &wa, err, sizeof err) != 0) {
        save_error(d, yaml_path, "%s", err);
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(entries);
    free(yaml);
    free(wpath);
    return rc;
}
