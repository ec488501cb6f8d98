/* native_read.c: the native format's reader: the model YAML's sections (inputs, layers and
 * their options, outputs, frozen set, init, training, normaliser) into a model builder, the
 * weights from the safetensors file the YAML names. */
#include "runtime/formats/native.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/base/limits.h"
#include "runtime/base/path.h"
#include "runtime/base/util.h"
#include "runtime/formats/native_yaml.h"
#include "runtime/formats/weights_store.h"
#include "runtime/graph/builder.h"
#include "runtime/nn/layer_options.h"

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

/* ---- reading: the sections ---- */

static const char *const top_keys[] = {"format", "name", "inputs", "layers", "outputs", "frozen",
                                       "init", "training", "normalizer", "weights", "classes",
                                       NULL};
enum { K_FORMAT, K_NAME, K_INPUTS, K_LAYERS, K_OUTPUTS, K_FROZEN, K_INIT, K_TRAINING, K_NORM,
       K_WEIGHTS, K_CLASSES, K_COUNT };

static void read_inputs(yctx *y, yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(y, node_loc(y, n), "'inputs' must be a list of {name, type, size}");
        return;
    }
    static const char *const keys[] = {"name", "type", "size", "channels", "height", "width",
                                       NULL};
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *in = node(y, *it);
        if (in->type != YAML_MAPPING_NODE) {
            yerr(y, node_loc(y, in), "each input must be a mapping {name, type, size}");
            continue;
        }
        yaml_node_t *v[6];
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
        int64_t size = 0, chw[3] = {0, 0, 0};
        bool named = v[3] || v[4] || v[5];
        if (kind == INPUT_CONVOLUTIONAL && named) {
            /* channels, height, width; or the older size: [height, width, channels] */
            static const char *const dims[] = {"channels", "height", "width"};
            if (v[2])
                yerr(y, node_loc(y, v[2]), "input '%s' gives both 'size' and channels, height, "
                     "width", name ? name : "?");
            for (int k = 0; k < 3; k++)
                if (!v[3 + k])
                    yerr(y, node_loc(y, in), "input '%s' has no '%s'", name ? name : "?", dims[k]);
                else
                    expect_int(y, v[3 + k], dims[k], 1, (int64_t)1 << 31, &chw[k]);
            size = chw[0] * chw[1] * chw[2];
        } else if (named) {
            yerr(y, node_loc(y, v[v[3] ? 3 : v[4] ? 4 : 5]), "only a convolutional input has "
                 "channels, height and width; input '%s' has a 'size'", name ? name : "?");
        } else if (!v[2]) {
            yerr(y, node_loc(y, in), "input '%s' has no '%s'", name ? name : "?",
                 kind == INPUT_CONVOLUTIONAL ? "channels', 'height' and 'width" : "size");
        } else if (kind == INPUT_CONVOLUTIONAL) {
            yaml_node_t *s = v[2];
            int cnt = s->type == YAML_SEQUENCE_NODE
                          ? (int)(s->data.sequence.items.top - s->data.sequence.items.start) : 0;
            if (cnt != 3) {
                yerr(y, node_loc(y, s), "a convolutional input's size is [height, width, channels] "
                     "(or give channels, height and width)");
            } else {
                int64_t hwc[3] = {0, 0, 0};
                for (int k = 0; k < 3; k++)
                    expect_int(y, node(y, s->data.sequence.items.start[k]), "a size", 1,
                               (int64_t)1 << 31, &hwc[k]);
                chw[0] = hwc[2];
                chw[1] = hwc[0];
                chw[2] = hwc[1];
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
        if (model_builder_add_input(y->b, name, (input_kind)kind, size, chw, node_loc(y, v[0])) != 0)
            yerr(y, node_loc(y, v[0]), "out of memory");
    }
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
    /* n_out defines the parameters' sizes unless shape inference sets it (depthwise_conv2d) */
    if (type_has_params(type) && layer_type_takes_n_out(type) &&
        L->n_out <= 0 && !has_key(y, n, "n_out"))
        yerr(y, name_loc, "layer '%s' (%s) needs 'n_out'", name, type->name);
    /* Added even when an option was wrong, so later references to it raise no second error
     * (the model is discarded anyway). */
    model_builder_add_layer(y->b, L);
}

static void read_layers(yctx *y, yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(y, node_loc(y, n), "'layers' must be a list of layers");
        return;
    }
    if (n->data.sequence.items.top - n->data.sequence.items.start > LIMIT_MODEL_LAYERS) {
        yerr(y, node_loc(y, n), "more than %d layers (the limit on a model's layers)",
             LIMIT_MODEL_LAYERS);
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
        model_builder_set_outputs(y->b, names, cnt);
    free(names);
    free(locs);
}

static void read_frozen(yctx *y, yaml_node_t *n)
{
    const char **names;
    src_loc *locs;
    int cnt = name_list(y, n, "a frozen layer", &names, &locs);
    for (int i = 0; i < cnt; i++) {
        if (model_builder_freeze(y->b, names[i]) != 0)
            suggest_node(y, names[i], locs[i], "frozen layer");
    }
    free(names);
    free(locs);
}

/* The names of the first output's classes: as many as it has outputs. */
static void read_classes(yctx *y, yaml_node_t *n)
{
    const char **names;
    src_loc *locs;
    int cnt = name_list(y, n, "a class name", &names, &locs);
    if (cnt < 0)
        return;
    model *m = y->m;
    const layer *L = m->n_outputs > 0 ? model_find_layer(m, m->outputs[0]) : NULL;
    if (L && L->n_out != cnt)
        yerr(y, node_loc(y, n), "'classes' names %d class%s, but the output '%s' has %lld units",
             cnt, cnt == 1 ? "" : "es", L->name, (long long)L->n_out);
    else if (L && model_set_classes(m, names, cnt) != 0)
        yerr(y, node_loc(y, n), "out of memory");
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
        model_builder_set_seed(y->b, tc.seed);
    if (tc.set_mask & TC_WEIGHT_INIT)
        model_builder_set_weight_init(y->b, &tc.weight_init);
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
        if (train_conf_set(model_builder_training(y->b), ks, node_loc(y, k), cv, y->d) != 0)
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
    model_builder_set_normalizer(y->b, (norm_kind)kind, ns, shift, scale);
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
    if (v[K_CLASSES])
        read_classes(y, v[K_CLASSES]);
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
    const char *b = path_base_name(path);
    size_t n = strlen(b);
    if (str_ends_with(b, ".yaml"))
        n -= 5;
    else if (str_ends_with(b, ".yml"))
        n -= 4;
    return strndup(b, n);
}

/* The parameters from the safetensors file `weights:` names, beside the YAML. */
static int native_weights(model *m, void *ctx, struct diag_ctx *d)
{
    yctx *y = ctx;
    char *wpath = path_beside(y->real_path, m->weights_file);
    if (!wpath) {
        yerr(y, y->weights_loc, "out of memory");
        return 1;
    }
    int errors = weights_store_load(m, wpath, m->weights_file, y->weights_loc, d);
    free(wpath);
    return errors;
}

static model *native_read(const char *yaml_path, bool load_weights_too, struct diag_ctx *d)
{
    yctx y;
    memset(&y, 0, sizeof y);
    y.d = d;
    y.real_path = yaml_path;
    char *stem = stem_of(yaml_path);
    y.b = model_builder_new(stem);
    free(stem);
    y.m = y.b ? model_builder_model(y.b) : NULL;
    if (!y.m || !(y.m->path = str_dup(yaml_path))) {
        model_builder_free(y.b);
        if (d)
            diag_error(d, loc_none(), "out of memory");
        return NULL;
    }
    y.path = d ? diag_intern_path(d, yaml_path) : y.m->path;
    if (yaml_read_text(&y, yaml_path) != 0) {
        yaml_read_done(&y);
        model_builder_free(y.b);
        return NULL;
    }
    yaml_parse_text(&y, parse_document);
    if (!y.errors)
        check_layer_inputs(&y);
    model *m = NULL;
    if (!y.errors) {
        if (load_weights_too && y.m->weights_file)
            model_builder_params_from(y.b, native_weights, &y);
        m = model_builder_finish(y.b, load_weights_too && !y.m->weights_file,
                                 (src_loc){y.path, 0, 0, 0}, d);
    } else {
        model_builder_free(y.b);
    }
    yaml_read_done(&y);
    return m;
}

/* Text, as YAML is: no NUL or other control byte but tab, line feed and carriage return (a
 * UTF-16 or UTF-32 byte order mark lets libyaml judge the rest). An empty file is a model YAML
 * with nothing in it (reported as such). */
static bool native_sniff(const unsigned char *head, size_t n)
{
    if (n >= 2 && ((head[0] == 0xFE && head[1] == 0xFF) || (head[0] == 0xFF && head[1] == 0xFE)))
        return true;
    for (size_t i = 0; i < n; i++)
        if ((head[i] < 0x20 && head[i] != '\t' && head[i] != '\n' && head[i] != '\r') ||
            head[i] == 0x7F)
            return false;
    return true;
}

const model_reader native_reader = {
    .name = MODEL_FORMAT,
    .expected = "a surgery model YAML (format: " MODEL_FORMAT ", with its weights in NAME.safetensors beside it)",
    .sniff = native_sniff,
    .read = native_read,
};
