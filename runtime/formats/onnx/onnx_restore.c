/* onnx_restore.c: rebuilds the surgery model an ONNX file written by surgery describes in its
 * metadata (inputs, layers, outputs, seed, weight init, normaliser) with the parameters from
 * its initializers, when the graph still has the digest the writer stored; the options,
 * training settings and frozen set follow as for any ONNX file (onnx_read.c). */
#include "runtime/formats/onnx/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "runtime/base/checked.h"
#include "runtime/base/diag.h"
#include "runtime/base/limits.h"
#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx_lstm.h"
#include "runtime/formats/onnx/onnx_meta.h"
#include "runtime/graph/builder.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "runtime/nn/layer_options.h"

/* ---- the digest: FNV-1a over the graph's structure ---- */

typedef struct fnv { uint64_t h; } fnv;

static void mix(fnv *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        f->h ^= b[i];
        f->h *= 0x100000001b3ull;
    }
}
static void mix_str(fnv *f, const char *s)
{
    if (s)
        mix(f, s, strlen(s) + 1);
    else
        mix(f, "", 1);
}
static void mix_i(fnv *f, int64_t v) { mix(f, &v, sizeof v); }

static void mix_value_infos(fnv *f, Onnx__ValueInfoProto *const *v, size_t n)
{
    mix_i(f, (int64_t)n);
    for (size_t k = 0; k < n; k++) {
        mix_str(f, v[k]->name);
        const Onnx__TypeProto__Tensor *tt = v[k]->type ? v[k]->type->tensor_type : NULL;
        if (!tt || !tt->shape)
            continue;
        for (size_t a = 0; a < tt->shape->n_dim; a++)
            mix_i(f, tt->shape->dim[a]->value_case ==
                             ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                         ? tt->shape->dim[a]->dim_value : -1);
    }
}

void onnx_graph_digest(const Onnx__ModelProto *mp, char hex[17])
{
    fnv f = {0xcbf29ce484222325ull};
    const Onnx__GraphProto *g = mp->graph;
    if (g) {
        mix_i(&f, (int64_t)g->n_node);
        for (size_t k = 0; k < g->n_node; k++) {
            const Onnx__NodeProto *n = g->node[k];
            mix_str(&f, n->op_type);
            mix_i(&f, (int64_t)n->n_input);
            for (size_t j = 0; j < n->n_input; j++)
                mix_str(&f, n->input[j]);
            mix_i(&f, (int64_t)n->n_output);
            for (size_t j = 0; j < n->n_output; j++)
                mix_str(&f, n->output[j]);
            for (size_t j = 0; j < n->n_attribute; j++) {
                const Onnx__AttributeProto *a = n->attribute[j];
                mix_str(&f, a->name);
                mix_i(&f, a->i);
                mix(&f, &a->f, sizeof a->f);
                mix(&f, a->s.data ? a->s.data : (const uint8_t *)"", a->s.len);
                mix(&f, a->ints, a->n_ints * sizeof *a->ints);
                mix(&f, a->floats, a->n_floats * sizeof *a->floats);
                for (size_t q = 0; q < a->n_strings; q++)
                    mix(&f, a->strings[q].data, a->strings[q].len);
            }
        }
        mix_i(&f, (int64_t)g->n_initializer);
        for (size_t k = 0; k < g->n_initializer; k++) {
            mix_str(&f, g->initializer[k]->name);
            mix(&f, g->initializer[k]->dims, g->initializer[k]->n_dims * sizeof(int64_t));
        }
        mix_value_infos(&f, g->input, g->n_input);
        mix_value_infos(&f, g->output, g->n_output);
    }
    snprintf(hex, 17, "%016llx", (unsigned long long)f.h);
}

/* ---- the restore ---- */

static const char *meta(const Onnx__ModelProto *mp, const char *key)
{
    for (size_t k = 0; k < mp->n_metadata_props; k++)
        if (mp->metadata_props[k]->key && !strcmp(mp->metadata_props[k]->key, key))
            return mp->metadata_props[k]->value;
    return NULL;
}

static const Onnx__TensorProto *initializer(const Onnx__ModelProto *mp, const char *name)
{
    for (size_t k = 0; k < mp->graph->n_initializer; k++)
        if (!strcmp(mp->graph->initializer[k]->name, name))
            return mp->graph->initializer[k];
    return NULL;
}

/* Splits text at newlines and each line at tabs: the fields of the line at *p, advancing *p.
 * Returns their count, 0 for a line too long for buf, -1 at the end. */
static int next_line(const char **p, char *buf, size_t len, char **fields, int max)
{
    while (**p == '\n')
        (*p)++;
    if (!**p)
        return -1;
    const char *e = strchr(*p, '\n');
    size_t n = e ? (size_t)(e - *p) : strlen(*p);
    *p += e ? n + 1 : n;
    if (n >= len)
        return 0;   /* longer than any line the writer makes */
    memcpy(buf, *p - n - (e ? 1 : 0), n);
    buf[n] = 0;
    int k = 0;
    for (char *s = buf; k < max;) {
        fields[k++] = s;
        char *t = strchr(s, '\t');
        if (!t)
            break;
        *t = 0;
        s = t + 1;
    }
    return k;
}

/* The values of a float initializer into a tensor of its own shape (or `shape` when given). */
static int load(const Onnx__ModelProto *mp, const char *path, const char *name, tensor *t,
                float **raw, int64_t *count, struct diag_ctx *d)
{
    const Onnx__TensorProto *tp = initializer(mp, name);
    if (!tp)
        return 1;
    char err[512];
    float *f = NULL;
    int64_t *iv = NULL, n = 0;
    int rc = onnx_tensor_values(tp, path, &f, &iv, &n, err, sizeof err);
    if (rc != 0 || !f) {
        model_format_error(d, path, "initializer '%s': %s", name, rc ? err : "not floats");
        free(f);
        free(iv);
        return -1;
    }
    if (raw) {
        *raw = f;
        *count = n;
        return 0;
    }
    if (tp->n_dims > TENSOR_MAX_DIMS) {
        model_format_error(d, path, "initializer '%s' has %zu dimensions (at most %d)", name,
                           tp->n_dims, TENSOR_MAX_DIMS);
        free(f);
        return -1;
    }
    /* the decoded values become the tensor's own (onnx_tensor_values checked them against
     * the shape) */
    memset(t, 0, sizeof *t);
    t->ndim = (int)tp->n_dims;
    t->size = n;
    for (int k = 0; k < t->ndim; k++)
        t->shape[k] = tp->dims[k];
    t->data = f;
    return 0;
}

/* An LSTM's initial state h0, c0 from its initializers LAYER.onnx_h0, _c0 ([1, 1, n_out]). */
static int lstm_state_params(const Onnx__ModelProto *mp, const char *path, model_builder *b,
                             layer *L, struct diag_ctx *d)
{
    static const char *const keys[2] = {"h0", "c0"};
    for (int j = 0; j < 2; j++) {
        char name[600];
        snprintf(name, sizeof name, "%s.onnx_%s", L->name, keys[j]);
        float *v = NULL;
        int64_t nv = 0;
        int rc = load(mp, path, name, NULL, &v, &nv, d);
        if (rc > 0)
            model_format_error(d, path, "layer '%s' has initial_state but no initializer '%s'",
                               L->name, name);
        if (rc != 0)
            return -1;
        tensor t = {0};
        int64_t h = L->n_out;
        if (nv != h || tensor_alloc(&t, 1, &h) != 0) {
            model_format_error(d, path, "initializer '%s': %lld values, not n_out %lld", name,
                               (long long)nv, (long long)h);
            free(v);
            return -1;
        }
        memcpy(t.data, v, (size_t)h * sizeof(float));
        free(v);
        model_builder_set_param(b, L, keys[j], &t);
    }
    return 0;
}

/* An LSTM's parameters from its ONNX-layout initializers LAYER.onnx_W, _R, _B, _P, one
 * direction (lstm, graves_lstm: W, RW, b) or two stacked forward then reverse (bidirectional:
 * WF, RWF, bF, then WB, RWB, bB). */
static int lstm_params(const Onnx__ModelProto *mp, const char *path, model_builder *b, layer *L,
                       struct diag_ctx *d)
{
    static const char *const keys[2][2][3] = {{{"W", "RW", "b"}, {"", "", ""}},
                                              {{"WF", "RWF", "bF"}, {"WB", "RWB", "bB"}}};
    const bool bi = L->type == &layer_type_bidirectional;
    const int dirs = bi ? 2 : 1;
    bool peep = L->type == &layer_type_graves_lstm;
    if (bi) {
        double cell[LOPT_MAX_VALUES] = {0};
        const layer_option *o = layer_option_find(L->type, "layer");
        if (o)
            layer_option_get_values(o, L, cell);
        peep = cell[0] == 1;
    }
    float *w = NULL, *r = NULL, *bb = NULL, *p = NULL;
    int64_t nw = 0, nr = 0, nb = 0, np = 0;
    char name[600];
    int rc = -1;
    int got;
    snprintf(name, sizeof name, "%s.onnx_W", L->name);
    if ((got = load(mp, path, name, NULL, &w, &nw, d)) == 0) {
        snprintf(name, sizeof name, "%s.onnx_R", L->name);
        got = load(mp, path, name, NULL, &r, &nr, d);
    }
    if (got != 0) {
        if (got > 0)
            model_format_error(d, path, "layer '%s' (%s): its initializer '%s' is missing",
                               L->name, L->type->name, name);
        goto out;
    }
    snprintf(name, sizeof name, "%s.onnx_B", L->name);
    if (load(mp, path, name, NULL, &bb, &nb, d) < 0)
        goto out;
    snprintf(name, sizeof name, "%s.onnx_P", L->name);
    if (peep && load(mp, path, name, NULL, &p, &np, d) < 0)
        goto out;
    const int64_t h = L->n_out, in = h > 0 ? nw / (4 * h * dirs) : 0,
                  cols = 4 * h + (peep ? 3 : 0);
    if (h < 1 || nw != dirs * 4 * h * in || nr != dirs * 4 * h * h ||
        (bb && nb != dirs * 8 * h) || (p && np != dirs * 3 * h)) {
        model_format_error(d, path, "layer '%s': its LSTM initializers disagree with n_out %lld",
                           L->name, (long long)h);
        goto out;
    }
    for (int dir = 0; dir < dirs; dir++) {
        tensor W = {0}, RW = {0}, B = {0};
        int64_t nbias = 4 * h;
        if (tensor_alloc2(&W, in, 4 * h) || tensor_alloc2(&RW, h, cols) ||
            (L->has_bias && tensor_alloc(&B, 1, &nbias))) {
            tensor_release(&W);
            tensor_release(&RW);
            model_format_error(d, path, "out of memory");
            goto out;
        }
        onnx_lstm_from_onnx(w + dir * 4 * h * in, r + dir * 4 * h * h,
                            bb ? bb + dir * 8 * h : NULL, p ? p + dir * 3 * h : NULL, in, h,
                            peep, W.data, RW.data, L->has_bias ? B.data : NULL);
        model_builder_set_param(b, L, keys[bi][dir][0], &W);
        model_builder_set_param(b, L, keys[bi][dir][1], &RW);
        if (L->has_bias)
            model_builder_set_param(b, L, keys[bi][dir][2], &B);
    }
    if (!bi && lstm_initial_state(L) && lstm_state_params(mp, path, b, L, d) != 0)
        goto out;
    rc = 0;
out:
    free(w);
    free(r);
    free(bb);
    free(p);
    return rc;
}

/* Every initializer LAYER.KEY whose key is a parameter of that layer. */
static int layer_params(const Onnx__ModelProto *mp, const char *path, model_builder *b,
                        struct diag_ctx *d)
{
    model *m = model_builder_model(b);
    int errors = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (L->type == &layer_type_lstm || L->type == &layer_type_graves_lstm ||
            L->type == &layer_type_bidirectional) {
            errors += lstm_params(mp, path, b, L, d) != 0;
            continue;
        }
        static const char *const keys[] = {"W", "pW", "RW", "b", "gamma", "beta", "mean", "var", NULL};
        for (int k = 0; keys[k]; k++) {
            char name[600];
            snprintf(name, sizeof name, "%s.%s", L->name, keys[k]);
            tensor t = {0};
            int rc = load(mp, path, name, &t, NULL, NULL, d);
            if (rc < 0)
                errors++;
            if (rc != 0)
                continue;
            if (model_builder_set_param(b, L, keys[k], &t) != 0) {
                model_format_error(d, path, "initializer '%s': layer '%s' (%s) has no parameter %s",
                                   name, L->name, L->type->name, keys[k]);
                tensor_release(&t);
                errors++;
            }
        }
    }
    return errors;
}

static int restore_inputs(const char *text, const char *path, model_builder *b, struct diag_ctx *d)
{
    char buf[1024], *f[8];
    int n, errors = 0;
    for (const char *p = text; (n = next_line(&p, buf, sizeof buf, f, 8)) >= 0;) {
        int kind = -1;
        for (int k = 0; k < 3 && n >= 3; k++)
            if (!strcmp(f[1], input_kind_names[k]))
                kind = k;
        if (kind < 0 || (kind == INPUT_CONVOLUTIONAL && n < 5)) {
            model_format_error(d, path, "metadata '%s': a bad line '%s'", ONNX_META_INPUTS,
                               n ? f[0] : "(too long)");
            errors++;
            continue;
        }
        int64_t chw[3] = {1, 1, 1}, size = 0;
        for (int k = 0; kind == INPUT_CONVOLUTIONAL && k < 3; k++)
            chw[k] = strtoll(f[2 + k], NULL, 10);
        if (kind != INPUT_CONVOLUTIONAL)
            chw[0] = strtoll(f[2], NULL, 10);
        if (chw[0] < 1 || chw[1] < 1 || chw[2] < 1 || !checked_mul3(chw[0], chw[1], chw[2], &size) ||
            size > LIMIT_TENSOR_ELEMENTS) {
            model_format_error(d, path, "metadata '%s': input '%s' has a size out of range",
                               ONNX_META_INPUTS, f[0]);
            errors++;
            continue;
        }
        errors += model_builder_add_input(b, f[0], (input_kind)kind, size,
                                          kind == INPUT_CONVOLUTIONAL ? chw : NULL,
                                          (src_loc){.file = path}) != 0;
    }
    return errors;
}

static int restore_layers(const char *text, const char *path, model_builder *b, struct diag_ctx *d)
{
    char buf[8192], *f[66];
    int n, errors = 0;
    for (const char *p = text; (n = next_line(&p, buf, sizeof buf, f, 66)) >= 0;) {
        const layer_type *t = n >= 2 ? layer_type_find(f[1]) : NULL;
        if (n == 0) {
            model_format_error(d, path, "metadata '%s': a line longer than %zu bytes",
                               ONNX_META_LAYERS, sizeof buf);
            errors++;
            continue;
        }
        if (n == 66) {
            model_format_error(d, path, "metadata '%s': layer '%s' has more than 64 inputs",
                               ONNX_META_LAYERS, f[0]);
            errors++;
            continue;
        }
        if (!t) {
            model_format_error(d, path, "metadata '%s': layer '%s' has no known type", ONNX_META_LAYERS, f[0]);
            errors++;
            continue;
        }
        layer *L = layer_new(t, f[0]);
        layer_set_inputs(L, (const char *const *)f + 2, n - 2);
        L->loc = (src_loc){.file = path};
        model_builder_add_layer(b, L);
    }
    return errors;
}

int onnx_restore(const Onnx__ModelProto *mp, const char *path, model_builder *b, struct diag_ctx *d)
{
    const char *format = meta(mp, "surgery.format"), *digest = meta(mp, ONNX_META_DIGEST);
    const char *inputs = meta(mp, ONNX_META_INPUTS), *layers = meta(mp, ONNX_META_LAYERS);
    const char *outputs = meta(mp, ONNX_META_OUTPUTS);
    if (!format || strcmp(format, ONNX_META_FORMAT) || !digest || !inputs || !layers || !outputs)
        return 0;
    char now[17];
    onnx_graph_digest(mp, now);
    if (strcmp(now, digest))
        return 0;   /* changed since surgery wrote it: map the operators */
    int errors = restore_inputs(inputs, path, b, d) + restore_layers(layers, path, b, d);
    model *m = model_builder_model(b);
    if (mp->graph->name && *mp->graph->name) {
        free(m->name);
        m->name = str_dup(mp->graph->name);
    }
    char buf[4096], *f[1];
    const char *outs[256];
    char *copies[256];
    int n_out = 0;
    int n;
    for (const char *p = outputs; (n = next_line(&p, buf, sizeof buf, f, 1)) >= 0;) {
        if (n == 0 || n_out == 256) {
            model_format_error(d, path, "metadata '%s': a line too long or more than 256 "
                               "outputs", ONNX_META_OUTPUTS);
            errors++;
            break;
        }
        outs[n_out] = copies[n_out] = str_dup(f[0]);
        n_out++;
    }
    model_builder_set_outputs(b, outs, n_out);
    for (int k = 0; k < n_out; k++)
        free(copies[k]);
    const char *seed = meta(mp, ONNX_META_SEED);
    if (seed)
        model_builder_set_seed(b, strtoull(seed, NULL, 10));
    const char *wi = meta(mp, ONNX_META_WEIGHT_INIT);
    if (wi) {
        src_loc loc = {.file = path};
        conf_value *v = conf_parse_text(wi, loc, d);
        init_spec spec;
        if (v && init_spec_from_value(&spec, "weight_init", loc, v, d) == 0)
            model_builder_set_weight_init(b, &spec);
        else
            errors++;
        conf_value_free(v);
    }
    const char *norm = meta(mp, ONNX_META_NORMALIZER);
    if (norm) {
        float *shift = NULL, *scale = NULL;
        int64_t ns = 0, nc = 0;
        if (load(mp, path, ONNX_META_NORMALIZER ".shift", NULL, &shift, &ns, d) != 0 ||
            load(mp, path, ONNX_META_NORMALIZER ".scale", NULL, &scale, &nc, d) != 0 || ns != nc) {
            model_format_error(d, path, "metadata '%s': the shift and scale initializers are "
                               "missing or differ in size", ONNX_META_NORMALIZER);
            free(shift);
            free(scale);
            errors++;
        } else {
            model_builder_set_normalizer(b, !strcmp(norm, "minmax") ? NORM_MINMAX : NORM_STANDARDIZE,
                                         ns, shift, scale);
        }
    }
    return errors ? -1 : 1;
}

/* The parameters, once the options are applied (onnx_read.c calls it after them). */
int onnx_restore_params(const Onnx__ModelProto *mp, const char *path, model_builder *b,
                        struct diag_ctx *d)
{
    return layer_params(mp, path, b, d) ? -1 : 0;
}
