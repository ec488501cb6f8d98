/* onnx_write_file.c: the ONNX writer of the format registry: the ModelProto around the graph
 * (opset, IR version, the metadata that lets the reader rebuild the surgery model exactly),
 * packed straight into an atomic file, or with the weights as external data in NAME.onnx.data
 * committed as a pair with the model file. */
#include "runtime/formats/onnx/onnx_write_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/atomic_file.h"
#include "runtime/base/path.h"
#include "runtime/base/strbuf.h"
#include "runtime/base/util.h"
#include "runtime/formats/init_text.h"
#include "runtime/formats/onnx/onnx_meta.h"
#include "runtime/graph/builder.h"
#include "runtime/nn/layer_option.h"
#include "runtime/nn/layer_options.h"
#include "runtime/tensor/tensor_csv.h"

/* The line of the model file that names its external data, for the pair commit. */
#define EXTERNAL_KEY "surgery-external-data:"

typedef struct meta_list {
    Onnx__StringStringEntryProto **e;
    size_t n, cap;
} meta_list;

static void meta_add(ow_ctx *c, meta_list *l, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = ow_alloc(c, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = ow_strf(c, "%s", key);
    e->value = ow_strf(c, "%s", value);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->e = xrealloc(l->e, l->cap * sizeof *l->e);
    }
    l->e[l->n++] = e;
}

/* The text of option o of L as the script writes it: "[3, 3]", "same", "0.5". */
static char *option_text(ow_ctx *c, const layer_option *o, const layer *L)
{
    double v[LOPT_MAX_VALUES];
    int64_t items[LOPT_MAX_VALUES];
    char text[64];
    layer_option_get_values(o, L, v);
    int n = layer_option_list_items(o, v, items);
    if (n == 0)
        return ow_strf(c, "%s", layer_option_format(o, v, text, sizeof text));
    strbuf b = {.abort_on_oom = true};
    strbuf_puts(&b, "[");
    for (int i = 0; i < n; i++)
        strbuf_printf(&b, "%s%lld", i ? ", " : "", (long long)items[i]);
    strbuf_puts(&b, "]");
    char *s = ow_strf(c, "%s", b.s);
    free(b.s);
    return s;
}

static void training_meta(ow_ctx *c, meta_list *l, const train_conf *tc, const char *prefix)
{
    conf_arg *opts = NULL;
    int n = train_conf_to_options(tc, ~0u, &opts);
    for (int i = 0; i < n; i++) {
        char *text = conf_value_to_text(opts[i].value);
        if (text)
            meta_add(c, l, ow_strf(c, "%s%s", prefix, opts[i].name), text);
        free(text);
    }
    conf_args_free(opts, n);
}

/* Everything the graph's operators do not say: the architecture as surgery holds it (inputs,
 * layers with their types, inputs, options and training settings, outputs, frozen set, seed,
 * weight init, model-level training, normaliser). docs/format.md lists the keys. */
static void model_meta(ow_ctx *c, meta_list *l)
{
    const model *m = c->m;
    strbuf in = {.abort_on_oom = true}, layers = in, outs = in, frozen = in;
    meta_add(c, l, "surgery.format", ONNX_META_FORMAT);
    for (int k = 0; k < m->n_inputs; k++) {
        const model_input *x = &m->inputs[k];
        strbuf_puts(&in, x->name);
        strbuf_printf(&in, "\t%s", input_kind_names[x->kind]);
        if (x->kind == INPUT_CONVOLUTIONAL)
            strbuf_printf(&in, "\t%lld\t%lld\t%lld\n", (long long)x->c, (long long)x->h,
                          (long long)x->w);
        else
            strbuf_printf(&in, "\t%lld\n", (long long)x->size);
    }
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        strbuf_puts(&layers, L->name);
        strbuf_putc(&layers, '\t');
        strbuf_puts(&layers, L->type->name);
        for (int j = 0; j < L->n_inputs; j++) {
            strbuf_putc(&layers, '\t');
            strbuf_puts(&layers, L->inputs[j]);
        }
        strbuf_putc(&layers, '\n');
        if (L->frozen) {
            strbuf_puts(&frozen, L->name);
            strbuf_putc(&frozen, '\n');
        }
        meta_add(c, l, ow_strf(c, ONNX_META_LAYER "%s.type", L->name), L->type->name);
        for (const layer_option *const *o = L->type->options; o && *o; o++)
            if (layer_option_written(*o, L))
                meta_add(c, l, ow_strf(c, ONNX_META_LAYER "%s.%s", L->name, (*o)->name),
                         option_text(c, *o, L));
        training_meta(c, l, &L->train, ow_strf(c, ONNX_META_LAYER "%s.", L->name));
    }
    for (int k = 0; k < m->n_outputs; k++) {
        strbuf_puts(&outs, m->outputs[k]);
        strbuf_putc(&outs, '\n');
    }
    meta_add(c, l, ONNX_META_INPUTS, in.s ? in.s : "");
    meta_add(c, l, ONNX_META_LAYERS, layers.s ? layers.s : "");
    meta_add(c, l, ONNX_META_OUTPUTS, outs.s ? outs.s : "");
    if (frozen.s)
        meta_add(c, l, ONNX_META_FROZEN, frozen.s);
    meta_add(c, l, ONNX_META_SEED, ow_strf(c, "%llu", (unsigned long long)m->seed));
    char *text = weight_init_text(&m->weight_init);
    if (text)
        meta_add(c, l, ONNX_META_WEIGHT_INIT, text);
    free(text);
    if (m->training.set_mask)
        training_meta(c, l, &m->training, ONNX_META_TRAINING);
    if (m->norm.kind != NORM_NONE && m->norm.n > 0)
        meta_add(c, l, ONNX_META_NORMALIZER,
                 m->norm.kind == NORM_STANDARDIZE ? "standardize" : "minmax");
    free(in.s);
    free(layers.s);
    free(outs.s);
    free(frozen.s);
}

/* protobuf-c's output sink onto a FILE. */
typedef struct file_sink {
    ProtobufCBuffer base;
    FILE *fp;
    bool failed;
} file_sink;

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    file_sink *s = (file_sink *)b;
    if (!s->failed && fwrite(data, 1, len, s->fp) != len)
        s->failed = true;
}

static int write_single(Onnx__ModelProto *mp, const char *path, save_mode mode, char *err,
                        size_t err_len)
{
    atomic_file af;
    if (atomic_open(&af, path, err, err_len) != 0)
        return -1;
    af.durable = mode == SAVE_DURABLE;
    file_sink sink = {.base = {.append = sink_append}, .fp = af.fp};
    protobuf_c_message_pack_to_buffer(&mp->base, &sink.base);
    if (sink.failed || ferror(af.fp)) {
        snprintf(err, err_len, "write error");
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, err_len);
}

static Onnx__StringStringEntryProto *entry(ow_ctx *c, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = ow_alloc(c, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)key;
    e->value = (char *)value;
    return e;
}

/* Points every float initializer of more than 1 KiB at `location`, with the offsets its
 * bytes have in the data file. */
static void point_external(ow_ctx *c, Onnx__ModelProto *mp, const char *location,
                           const int64_t *offsets)
{
    Onnx__GraphProto *g = mp->graph;
    for (size_t k = 0; k < g->n_initializer; k++) {
        Onnx__TensorProto *t = g->initializer[k];
        if (offsets[k] < 0)
            continue;
        t->has_raw_data = false;
        t->has_data_location = true;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        t->n_external_data = 3;
        t->external_data = ow_alloc(c, 3 * sizeof *t->external_data);
        t->external_data[0] = entry(c, "location", location);
        t->external_data[1] = entry(c, "offset", ow_strf(c, "%lld", (long long)offsets[k]));
        t->external_data[2] = entry(c, "length", ow_strf(c, "%zu", t->raw_data.len));
    }
    mp->metadata_props[mp->n_metadata_props - 1]->value =
        ow_strf(c, "\n" EXTERNAL_KEY " %s\n", location);
}

static uint8_t *pack(Onnx__ModelProto *mp, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&mp->base);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(&mp->base, buf);
    return buf;
}

/* The weights in DATA (beside path: NAME.onnx.data), the model file naming them; both
 * committed as a pair (atomic_file.h). */
static int write_external(ow_ctx *c, Onnx__ModelProto *mp, const char *path, save_mode mode,
                          char *err, size_t err_len)
{
    char *data_path = xmalloc(strlen(path) + 6);
    sprintf(data_path, "%s.data", path);
    Onnx__GraphProto *g = mp->graph;
    int64_t *offsets = ow_alloc(c, (g->n_initializer + 1) * sizeof(int64_t));
    pair_commit pc;
    int rc = -1;
    uint8_t *gen = NULL, *fin = NULL;
    if (pair_begin(&pc, path, data_path, EXTERNAL_KEY, mode == SAVE_DURABLE, err, err_len) != 0)
        goto out;
    int64_t pos = 0;
    static const char zeros[64];
    for (size_t k = 0; k < g->n_initializer; k++) {
        Onnx__TensorProto *t = g->initializer[k];
        offsets[k] = -1;
        if (t->data_type != 1 || t->raw_data.len <= 1024)
            continue;
        int64_t pad = (64 - pos % 64) % 64;
        if (fwrite(zeros, 1, (size_t)pad, pc.data.fp) != (size_t)pad ||
            fwrite(t->raw_data.data, 1, t->raw_data.len, pc.data.fp) != t->raw_data.len) {
            snprintf(err, err_len, "%s: write error", data_path);
            pair_abort(&pc);
            goto out;
        }
        offsets[k] = pos + pad;
        pos += pad + (int64_t)t->raw_data.len;
    }
    size_t gen_len, fin_len;
    point_external(c, mp, pair_generation_name(&pc), offsets);
    gen = pack(mp, &gen_len);
    point_external(c, mp, path_base_name(data_path), offsets);
    fin = pack(mp, &fin_len);
    if (!gen || !fin) {
        snprintf(err, err_len, "out of memory");
        pair_abort(&pc);
        goto out;
    }
    rc = pair_commit_files(&pc, gen, gen_len, fin, fin_len, err, err_len);
out:
    free(gen);
    free(fin);
    free(data_path);
    return rc;
}

static int ir_version_for(int opset)
{
    return opset >= 15 ? 8 : 7;
}

int onnx_write_model(const model *m, const char *path, save_mode mode, const onnx_write_opts *o,
                     struct diag_ctx *d)
{
    onnx_write_opts def = {0};
    if (!o)
        o = &def;
    int opset = o->opset ? o->opset : ONNX_WRITE_OPSET;
    if (opset < ONNX_WRITE_MIN_OPSET || opset > ONNX_MAX_OPSET) {
        model_format_error(d, path, "opset %d is not written (opsets %d to %d are)", opset,
                           ONNX_WRITE_MIN_OPSET, ONNX_MAX_OPSET);
        return -1;
    }
    if (!tensor_host_little_endian()) {
        model_format_error(d, path, "ONNX is written on little-endian machines only");
        return -1;
    }
    ow_ctx c = {.m = m, .opset = opset};
    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = m->name ? m->name : "model";
    int rc = -1;
    meta_list meta = {0};
    if (ow_build_graph(&c, &g, o->report, o->report_ctx) != 0) {
        model_format_error(d, path, "cannot save: %s", c.err);
        goto out;
    }
    Onnx__OperatorSetIdProto ops;
    onnx__operator_set_id_proto__init(&ops);
    ops.domain = "";
    ops.has_version = true;
    ops.version = opset;
    Onnx__OperatorSetIdProto *opsp = &ops;
    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    mp.has_ir_version = true;
    mp.ir_version = ir_version_for(opset);
    mp.producer_name = "surgery";
    mp.n_opset_import = 1;
    mp.opset_import = &opsp;
    mp.graph = &g;
    model_meta(&c, &meta);
    mp.n_metadata_props = meta.n;
    mp.metadata_props = meta.e;
    char digest[17];
    onnx_graph_digest(&mp, digest);
    meta_add(&c, &meta, ONNX_META_DIGEST, digest);
    bool external = o->external_data || c.bytes > ONNX_EXTERNAL_THRESHOLD;
    if (external)
        meta_add(&c, &meta, ONNX_META_EXTERNAL, "");
    mp.n_metadata_props = meta.n;
    mp.metadata_props = meta.e;
    char err[1024];
    if ((external ? write_external(&c, &mp, path, mode, err, sizeof err)
                  : write_single(&mp, path, mode, err, sizeof err)) != 0) {
        /* the file helpers' reasons may start with the path the error names anyway */
        size_t pl = strlen(path);
        const char *why = !strncmp(err, path, pl) && err[pl] == ':' ? err + pl + 1 : err;
        model_format_error(d, path, "%s", why + (*why == ' '));
        goto out;
    }
    rc = 0;
out:
    free(meta.e);
    ow_free(&c);
    return rc;
}

static int onnx_write(const model *m, const char *path, save_mode mode, struct diag_ctx *d)
{
    return onnx_write_model(m, path, mode, NULL, d);
}

static const char *const onnx_suffixes[] = {".onnx", NULL};

const model_writer onnx_writer = {
    .name = "onnx",
    .suffixes = onnx_suffixes,
    .saved_as = "NAME.onnx (weights as initializers; above 2 GiB in NAME.onnx.data beside it)",
    .write = onnx_write,
    .check = ow_check_model,
};
