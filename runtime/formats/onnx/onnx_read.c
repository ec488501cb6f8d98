/* onnx_read.c: the ONNX reader: recognises a ModelProto by its first field tags, parses it with
 * protobuf-c, folds constants, maps the operators to surgery layers (onnx_map.c) and hands them
 * to the model builder with the metadata the writer keeps (frozen set, training settings); a
 * file surgery wrote whose graph is unchanged is rebuilt from that metadata (onnx_restore.c). */
#include "runtime/formats/onnx/onnx_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "runtime/base/diag.h"
#include "runtime/base/util.h"
#include "runtime/graph/builder.h"

/* A ModelProto starts with one of its fields: ir_version (1, varint), producer_name (2),
 * producer_version (3), domain (4), model_version (5, varint), doc_string (6), graph (7),
 * opset_import (8), metadata_props (14): tag bytes 0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a,
 * 0x42, 0x72. The varint ir_version must be small and a second field must follow. */
static bool onnx_sniff(const unsigned char *h, size_t n)
{
    if (n < 4)
        return false;
    if (h[0] == 0x08)
        return h[1] >= ONNX_MIN_IR && h[1] <= 15 && (h[2] == 0x12 || h[2] == 0x1a ||
               h[2] == 0x22 || h[2] == 0x28 || h[2] == 0x32 || h[2] == 0x3a || h[2] == 0x42);
    return h[0] == 0x3a || h[0] == 0x42;
}

static unsigned char *slurp(const char *path, size_t *len, char *err, size_t err_len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, err_len, "cannot open");
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > ((size_t)1 << 31)) {
                snprintf(err, err_len, "larger than 2 GiB: keep the weights as external data");
                free(buf);
                fclose(fp);
                return NULL;
            }
            cap = cap ? 2 * cap : 65536;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        snprintf(err, err_len, "read error");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static const char *meta(const Onnx__ModelProto *mp, const char *key)
{
    for (size_t k = 0; k < mp->n_metadata_props; k++)
        if (mp->metadata_props[k]->key && !strcmp(mp->metadata_props[k]->key, key))
            return mp->metadata_props[k]->value;
    return NULL;
}

/* Applies "surgery.layer.NAME.KEY" / "surgery.training.KEY" entries: values in the script's
 * syntax, applied as the native reader applies them. */
static int apply_settings(const Onnx__ModelProto *mp, model_builder *b, const char *path,
                          struct diag_ctx *d)
{
    int errors = 0;
    model *m = model_builder_model(b);
    src_loc loc = {.file = path};
    for (size_t k = 0; k < mp->n_metadata_props; k++) {
        const char *key = mp->metadata_props[k]->key, *val = mp->metadata_props[k]->value;
        if (!key || !val)
            continue;
        bool training = !strncmp(key, ONNX_META_TRAINING, strlen(ONNX_META_TRAINING));
        if (!training && strncmp(key, ONNX_META_LAYER, strlen(ONNX_META_LAYER)))
            continue;
        const char *rest = key + strlen(training ? ONNX_META_TRAINING : ONNX_META_LAYER);
        const char *opt = strrchr(rest, '.');
        layer *L = NULL;
        if (!training) {
            if (!opt) 
                continue;
            char *lname = xstrndup(rest, (size_t)(opt - rest));
            L = model_find_layer(m, lname);
            free(lname);
            opt++;
            if (!L || !strcmp(opt, "type"))
                continue;
        } else {
            opt = rest;
        }
        conf_value *v = conf_parse_text(val, loc, d);
        if (!v) {
            errors++;
            continue;
        }
        int rc = training ? train_conf_set(model_builder_training(b), opt, loc, v, d)
                          : layer_set_option(L, opt, loc, v, d);
        if (rc != 0) {
            if (rc > 0)
                model_format_error(d, path, "metadata '%s': unknown training key", key);
            errors++;
        }
        conf_value_free(v);
    }
    const char *frozen = meta(mp, ONNX_META_FROZEN);
    for (const char *p = frozen; p && *p;) {
        const char *e = strchr(p, '\n');
        char *name = xstrndup(p, e ? (size_t)(e - p) : strlen(p));
        if (*name && model_builder_freeze(b, name) != 0) {
            model_format_error(d, path, "metadata '%s' names '%s', which is no layer",
                               ONNX_META_FROZEN, name);
            errors++;
        }
        free(name);
        p = e ? e + 1 : p + strlen(p);
    }
    return errors;
}

static char *model_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (str_ends_with(base, ".onnx") && n > 5)
        n -= 5;
    return xstrndup(base, n);
}

/* Every node has an operator and every initializer, graph input and graph output a name: the
 * fields the mapping looks things up by (optional in the protobuf schema). Reports the first
 * one missing; returns whether all are there. */
static bool graph_names_present(const Onnx__GraphProto *g, const char *path, struct diag_ctx *d)
{
    for (size_t k = 0; k < g->n_node; k++)
        if (!g->node[k]->op_type || !*g->node[k]->op_type) {
            model_format_error(d, path, "node %zu has no operator type", k);
            return false;
        }
    for (size_t k = 0; k < g->n_initializer; k++)
        if (!g->initializer[k]->name) {
            model_format_error(d, path, "initializer %zu has no name", k);
            return false;
        }
    for (size_t k = 0; k < g->n_input; k++)
        if (!g->input[k]->name || !*g->input[k]->name) {
            model_format_error(d, path, "graph input %zu has no name", k);
            return false;
        }
    for (size_t k = 0; k < g->n_output; k++)
        if (!g->output[k]->name || !*g->output[k]->name) {
            model_format_error(d, path, "graph output %zu has no name", k);
            return false;
        }
    return true;
}

static model *onnx_read(const char *path, bool load_weights, struct diag_ctx *d)
{
    (void)load_weights;   /* the weights are in the file: always read */
    char err[512];
    size_t len = 0;
    unsigned char *buf = slurp(path, &len, err, sizeof err);
    if (!buf) {
        model_format_error(d, path, "%s", err);
        return NULL;
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!mp) {
        model_format_error(d, path, "not a valid ONNX protobuf (truncated, a length past the "
                           "end or a wrong wire type)");
        return NULL;
    }
    int64_t opset = -1;
    for (size_t k = 0; k < mp->n_opset_import; k++)
        if (!mp->opset_import[k]->domain || !*mp->opset_import[k]->domain ||
            !strcmp(mp->opset_import[k]->domain, "ai.onnx"))
            opset = mp->opset_import[k]->version;
    model *m = NULL;
    if (!mp->has_ir_version || mp->ir_version < ONNX_MIN_IR || mp->ir_version > ONNX_MAX_IR) {
        model_format_error(d, path, "IR version %lld is not read (versions %d to %d are)",
                           (long long)mp->ir_version, ONNX_MIN_IR, ONNX_MAX_IR);
    } else if (opset < ONNX_MIN_OPSET || opset > ONNX_MAX_OPSET) {
        model_format_error(d, path, "opset %lld is not read (opsets %d to %d are)",
                           (long long)opset, ONNX_MIN_OPSET, ONNX_MAX_OPSET);
    } else if (!mp->graph) {
        model_format_error(d, path, "the model has no graph");
    } else if (!graph_names_present(mp->graph, path, d)) {
        /* reported */
    } else {
        char *stem = model_stem(path);
        model_builder *b = model_builder_new(stem);
        int restored = 0;   /* 1: the model surgery wrote, rebuilt from its metadata */
        free(stem);
        if (!b) {
            model_format_error(d, path, "out of memory");
        } else if ((restored = onnx_restore(mp, path, b, d)) < 0 ||
                   (!restored && onnx_map_graph(mp->graph, opset, meta, mp, path, b, d) != 0) ||
                   apply_settings(mp, b, path, d) != 0 ||
                   (restored && onnx_restore_params(mp, path, b, d) != 0)) {
            model_builder_free(b);
        } else {
            src_loc where = {.file = path};
            m = model_builder_finish(b, true, where, d);
            if (m) {
                free(m->path);
                m->path = str_dup(path);
            }
        }
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return m;
}

const model_reader onnx_reader = {
    .name = "onnx",
    .expected = "an ONNX model (a protobuf ModelProto)",
    .sniff = onnx_sniff,
    .read = onnx_read,
};
