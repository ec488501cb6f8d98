/* dl4j_read.c: the DL4J reader: a ModelSerializer zip's configuration.json (a MultiLayerNetwork
 * or a ComputationGraph) into a model builder, its coefficients.bin (one flat Nd4j array) into
 * the layers' parameters, each at its place in the flat vector. */
#include "runtime/formats/dl4j/dl4j.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/base/path.h"
#include "runtime/base/util.h"
#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/formats/dl4j/dl4j_coef.h"
#include "runtime/formats/dl4j/dl4j_impl.h"
#include "runtime/formats/dl4j/dl4j_zip.h"
#include "runtime/nn/layer.h"

#define CONF_ENTRY "configuration.json"
#define COEF_ENTRY "coefficients.bin"

typedef struct params_ctx {
    const char *path;
    dl4j_map *mp;
    dl4j_coef *coef;       /* coefficients.bin, read parameter by parameter */
} params_ctx;

/* The position in surgery's parameter list of DL4J key `key`, or -1. */
static int spec_of(const param_spec *specs, int n, const char *key)
{
    for (int p = 0; p < n; p++)
        if (!strcmp(specs[p].key, key))
            return p;
    return -1;
}

static int dl4j_params(model *m, void *vctx, struct diag_ctx *d)
{
    params_ctx *c = vctx;
    int64_t need = 0;
    int errors = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        int nv = c->mp->n_vars[i] < 0 ? n : c->mp->n_vars[i];
        if (nv != n) {
            model_format_error(d, c->path, "entry " CONF_ENTRY ": layer %d '%s' lists %d parameters, "
                               "surgery's %s has %d", i, L->name, nv, L->type->name, n);
            errors++;
            continue;
        }
        for (int k = 0; k < nv; k++) {
            const char *key = c->mp->n_vars[i] < 0 ? specs[k].key : c->mp->vars[i][k];
            int p = spec_of(specs, n, dl4j_param_key(L, key));
            if (p < 0) {
                model_format_error(d, c->path, "entry " CONF_ENTRY ": layer %d '%s' has parameter "
                                   "'%s', which surgery's %s does not", i, L->name, key, L->type->name);
                errors++;
                continue;
            }
            need += shape_count(specs[p].ndim, specs[p].shape);
        }
    }
    if (errors)
        return errors;
    int64_t have = dl4j_coef_count(c->coef);
    if (have != need) {
        model_format_error(d, c->path, "entry " COEF_ENTRY " holds %" PRId64 " values, but the "
                           "architecture in " CONF_ENTRY " has %" PRId64 " parameters", have, need);
        return 1;
    }
    char err[512];
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        int first = dl4j_bias_first(L) ? n - 1 : 0;
        for (int j = 0; j < n; j++) {
            /* Convolutions hold their bias before the kernels although `variables` lists it
             * last. */
            int k = first ? (j == 0 ? n - 1 : j - 1) : j;
            const char *key = c->mp->n_vars[i] < 0 ? specs[k].key : c->mp->vars[i][k];
            int p = spec_of(specs, n, dl4j_param_key(L, key));
            if (tensor_alloc(&L->params[p], specs[p].ndim, specs[p].shape) != 0) {
                model_format_error(d, c->path, "out of memory for layer '%s' parameter %s",
                                   L->name, key);
                return 1;
            }
            if (dl4j_param_own_order(L, key, &L->params[p])) {
                float *flat = malloc((size_t)L->params[p].size * sizeof *flat);
                int rc = flat ? dl4j_coef_take(c->coef, flat, L->params[p].size, err, sizeof err)
                              : (snprintf(err, sizeof err, "out of memory"), -1);
                if (rc == 0)
                    dl4j_fill_param(L, key, &L->params[p], flat);
                free(flat);
                if (rc != 0) {
                    model_format_error(d, c->path, "entry " COEF_ENTRY ": %s", err);
                    return 1;
                }
            } else if (dl4j_coef_fill(c->coef, &L->params[p], err, sizeof err) != 0) {
                model_format_error(d, c->path, "entry " COEF_ENTRY ": %s", err);
                return 1;
            }
        }
        L->n_params = n;
    }
    if (dl4j_coef_finish(c->coef, err, sizeof err) != 0) {
        model_format_error(d, c->path, "%s", err);
        return 1;
    }
    m->weights_loaded = true;
    return 0;
}

/* The number under key of a preprocessor's fields, or 0. */
static int64_t pre_size(json_t *v, const char *key)
{
    json_t *x = json_object_get(v, key);
    return json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) <= (1 << 20)
               ? (int64_t)json_integer_value(x) : 0;
}

/* Input preprocessors: those between recurrent and feed-forward layers are identities for
 * surgery's layers (which apply per time step), and so is CnnToFeedForward (DL4J flattens
 * [C, H, W] channels-major, as surgery's dense layers see convolutional input); its height and
 * width, or those of a FeedForwardToCnn before the first layer, give the input's. Others are
 * refused. */
static void check_preprocessors(dl4j_map *mp, json_t *root)
{
    json_t *pre = json_object_get(root, "inputPreProcessors");
    const char *key;
    json_t *v;
    if (!json_is_object(pre))
        return;
    json_object_foreach(pre, key, v) {
        char *end;
        long at = strtol(key, &end, 10);
        const char *cls = NULL;
        json_t *fields = v;
        if (json_is_object(v) && json_is_string(json_object_get(v, "@class"))) {
            cls = strrchr(json_string_value(json_object_get(v, "@class")), '.');
        } else if (json_is_object(v) && json_object_size(v) == 1) {
            cls = json_object_iter_key(json_object_iter(v));
            fields = json_object_iter_value(json_object_iter(v));
        }
        cls = cls && *cls == '.' ? cls + 1 : cls;
        int index = *end || at < 0 || at >= mp->n_layers ? -1 : (int)at;
        if (cls && (!strcmp(cls, "RnnToFeedForwardPreProcessor") ||
                    !strcmp(cls, "FeedForwardToRnnPreProcessor") || !strcmp(cls, "rnnToFeedForward") ||
                    !strcmp(cls, "feedForwardToRnn")))
            continue;
        bool to_ff = cls && (!strcmp(cls, "CnnToFeedForwardPreProcessor") ||
                             !strcmp(cls, "cnnToFeedForward"));
        bool to_cnn = cls && (!strcmp(cls, "FeedForwardToCnnPreProcessor") ||
                              !strcmp(cls, "feedForwardToCnn"));
        int64_t h = pre_size(fields, "inputHeight"), w = pre_size(fields, "inputWidth");
        if (to_ff && index >= 0 && h && w) {
            if (mp->size_at < 0 || index < mp->size_at)
                mp->size_at = index, mp->size_h = h, mp->size_w = w;
            continue;
        }
        if (to_cnn && index == 0 && h && w && pre_size(fields, "numChannels")) {
            mp->size_at = 0, mp->size_h = h, mp->size_w = w;
            mp->cnn_input = true;
            mp->first_n_in = pre_size(fields, "numChannels");
            continue;
        }
        dl4j_problem(mp, index, NULL, "input preprocessor", "%s not supported%s",
                     cls ? cls : "an unknown preprocessor",
                     to_cnn ? " between layers (only before the first one)" : "");
    }
}

/* The height and width of the model's convolutional input. A MultiLayerNetwork's file does not
 * store them: they follow from the first CnnToFeedForward preprocessor (the size that reaches
 * it through the layers before it) or a FeedForwardToCnn before the first layer; without
 * either, the smallest square the layers accept (predict runs such a model on images of any
 * size, see model_resize_input). */
static void input_hw(model *m, const dl4j_map *mp, int64_t *h, int64_t *w)
{
    *h = *w = 0;
    if (mp->size_at == 0) {
        *h = mp->size_h, *w = mp->size_w;
        return;
    }
    int upto = mp->size_at > 0 ? mp->size_at : m->n_layers;
    /* A preprocessor whose size disagrees with the nin of the layer after it (DL4J's own 0.8
     * regression CNN says 28 x 28 x 3 before a layer of nin 2028): the nin wins, as the size of
     * a square image. */
    const layer *at = mp->size_at > 0 ? m->layers[mp->size_at] : NULL;
    bool by_nin = at && at->n_in_given && at->n_in % (mp->size_h * mp->size_w) != 0;
    for (int64_t s = 1; s <= 4096 && (!*h || !*w); s++) {
        act_shape in = act_shape_cnn(mp->first_n_in, s, s), out;
        char msg[256];
        bool ok = true;
        for (int i = 0; i < upto && ok; i++) {
            layer *L = m->layers[i];
            ok = L->type->infer(L, &in, 1, &out, msg, sizeof msg) == 0;
            in = out;
        }
        if (!ok)
            continue;
        if (mp->size_at < 0) {
            *h = *w = s;
        } else if (by_nin) {
            if (in.kind == SHAPE_CNN && in.h == in.w && in.size == at->n_in)
                *h = *w = s;
        } else if (in.kind == SHAPE_CNN) {
            if (!*h && in.h == mp->size_h)
                *h = s;
            if (!*w && in.w == mp->size_w)
                *w = s;
        }
    }
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i]->n_in = m->layers[i]->n_in_given ? m->layers[i]->n_in : 0;
}

/* A MultiLayerNetwork's input "input" (its kind and size from the first layer that states nin)
 * and its output, the last layer. Graphs have theirs from dl4j_graph_finish. */
static void add_chain_io(model *m, dl4j_map *mp)
{
    if (mp->graph)
        return;
    int64_t chw[3] = {mp->first_n_in > 0 ? mp->first_n_in : 1, 0, 0};
    if (mp->cnn_input) {
        input_hw(m, mp, &chw[1], &chw[2]);
        chw[1] = chw[1] ? chw[1] : 1;
        chw[2] = chw[2] ? chw[2] : 1;
    }
    model_builder_add_input(mp->b, "input", mp->cnn_input ? INPUT_CONVOLUTIONAL
                            : mp->recurrent_input ? INPUT_RECURRENT : INPUT_FEED_FORWARD,
                            mp->cnn_input ? chw[0] * chw[1] * chw[2] : chw[0],
                            mp->cnn_input ? chw : NULL, (src_loc){m->path, 0, 0, 0});
    const char *last = m->layers[m->n_layers - 1]->name;
    model_builder_set_outputs(mp->b, &last, 1);
}

static json_t *load_json(const char *path, dl4j_zip *z, struct diag_ctx *d)
{
    unsigned char *text;
    size_t len;
    char err[512];
    int rc = dl4j_zip_read(z, CONF_ENTRY, &text, &len, err, sizeof err);
    if (rc == 1) {
        model_format_error(d, path, "a zip without a " CONF_ENTRY " entry: not a DL4J model "
                           "(ModelSerializer writes " CONF_ENTRY " and " COEF_ENTRY ")");
        return NULL;
    }
    if (rc != 0) {
        model_format_error(d, path, "%s", err);
        return NULL;
    }
    if (len > LIMIT_DL4J_JSON_BYTES) {
        model_format_error(d, path, "entry " CONF_ENTRY ": %zu bytes (at most %d)", len,
                           LIMIT_DL4J_JSON_BYTES);
        free(text);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root) {
        model_format_error(d, path, "entry " CONF_ENTRY " line %d column %d: %s", je.line,
                           je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        model_format_error(d, path, "entry " CONF_ENTRY ": expected an object with \"confs\" "
                           "or \"vertices\", found another JSON value");
        json_decref(root);
        return NULL;
    }
    return root;
}

static int load_coefficients(const char *path, dl4j_zip *z, params_ctx *pc, struct diag_ctx *d)
{
    char err[512];
    int rc = dl4j_coef_open(z, COEF_ENTRY, dl4j_zip_has(z, "noParams.marker"), &pc->coef, err,
                            sizeof err);
    if (rc == 1) {
        model_format_error(d, path, "no " COEF_ENTRY " entry (the parameters)");
        return -1;
    }
    if (rc != 0) {
        model_format_error(d, path, "%s%s", strncmp(err, "entry ", 6) ? "entry " COEF_ENTRY ": "
                           : "", err);
        return -1;
    }
    return 0;
}

static char *stem_of(const char *path)
{
    const char *b = path_base_name(path);
    const char *dot = strrchr(b, '.');
    return strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
}

static model *dl4j_read(const char *path, bool load_weights, struct diag_ctx *d)
{
    char err[512];
    dl4j_zip *z = dl4j_zip_open(path, err, sizeof err);
    if (!z) {
        model_format_error(d, path, "%s", err);
        return NULL;
    }
    json_t *root = load_json(path, z, d);
    if (!root) {
        dl4j_zip_close(z);
        return NULL;
    }
    json_t *confs = json_object_get(root, "confs"), *vertices = json_object_get(root, "vertices");
    if (!json_is_array(confs) && !json_is_object(vertices)) {
        model_format_error(d, path, "entry " CONF_ENTRY ": expected \"confs\", the list of a "
                           "MultiLayerNetwork's layers, or \"vertices\", a ComputationGraph's");
        json_decref(root);
        dl4j_zip_close(z);
        return NULL;
    }
    bool graph = !json_is_array(confs);
    size_t n = graph ? json_object_size(vertices) : json_array_size(confs);
    if (n == 0 || n > LIMIT_MODEL_LAYERS) {
        model_format_error(d, path, "entry " CONF_ENTRY ": \"%s\" has %zu %s (1 to %d)",
                           graph ? "vertices" : "confs", n, graph ? "vertices" : "layers",
                           LIMIT_MODEL_LAYERS);
        json_decref(root);
        dl4j_zip_close(z);
        return NULL;
    }
    char *stem = stem_of(path);
    dl4j_map mp = {.b = model_builder_new(stem ? stem : "model"), .size_at = -1};
    free(stem);
    mp.vars = calloc(n, sizeof *mp.vars);
    mp.n_vars = calloc(n, sizeof *mp.n_vars);
    mp.n_layers = (int)n;
    model *m = mp.b ? model_builder_model(mp.b) : NULL;
    int oom = !m || !mp.vars || !mp.n_vars || !(m->path = str_dup(path));
    const char *prev = "input";
    for (size_t i = 0; i < n && !oom && !graph; i++) {
        int before = m->n_layers;
        oom = dl4j_map_layer(&mp, json_array_get(confs, i), (int)i, NULL, &prev, 1) != 0;
        if (m->n_layers > before)
            prev = m->layers[m->n_layers - 1]->name;
    }
    if (graph && !oom) {
        oom = dl4j_map_graph(&mp, root) < 0;
        if (!oom && !mp.n_problems)
            oom = dl4j_graph_finish(&mp, root, (src_loc){m->path, 0, 0, 0}) < 0;
    } else if (!oom) {
        check_preprocessors(&mp, root);
    }
    params_ctx pc = {.path = path, .mp = &mp};
    model *out = NULL;
    if (oom) {
        model_format_error(d, path, "out of memory");
    } else if (mp.n_problems) {
        model_format_error(d, path, "entry " CONF_ENTRY ": %d thing%s surgery does not read yet: %s",
                           mp.n_problems, mp.n_problems == 1 ? "" : "s", mp.problems);
    } else if (!load_weights || load_coefficients(path, z, &pc, d) == 0) {
        dl4j_map_network(&mp, root);
        add_chain_io(m, &mp);
        if (load_weights)
            model_builder_params_from(mp.b, dl4j_params, &pc);
        out = model_builder_finish(mp.b, false, (src_loc){d ? diag_intern_path(d, path)
                                   : m->path, 0, 0, 0}, d);
        mp.b = NULL;
    }
    model_builder_free(mp.b);
    dl4j_coef_close(pc.coef);
    dl4j_map_free(&mp);
    json_decref(root);
    dl4j_zip_close(z);
    return out;
}

/* A zip archive (local file header signature) naming a configuration.json entry in its first
 * bytes: ModelSerializer writes that entry first. */
static bool dl4j_sniff(const unsigned char *head, size_t n)
{
    static const char conf[] = CONF_ENTRY;
    const size_t k = sizeof conf - 1;
    if (n < 4 || head[0] != 'P' || head[1] != 'K' || head[2] != 3 || head[3] != 4)
        return false;
    for (size_t i = 30; i + k <= n; i++)
        if (!memcmp(head + i, conf, k))
            return true;
    return false;
}

const model_reader dl4j_reader = {
    .name = "dl4j",
    .expected = "a DL4J ModelSerializer zip (configuration.json and coefficients.bin, as .zip or .bin)",
    .sniff = dl4j_sniff,
    .read = dl4j_read,
};
