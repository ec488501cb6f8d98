/* native_write.c: the native format's writer: the model YAML (through the shared libyaml
 * emitter, in the format's style) and the safetensors file beside it, committed as a pair by
 * one rename of the YAML. */
#include "runtime/formats/native.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/base/atomic_file.h"
#include "runtime/base/diag.h"
#include "runtime/base/path.h"
#include "runtime/base/util.h"
#include "runtime/base/yaml_out.h"
#include "runtime/formats/init_text.h"
#include "runtime/formats/weights_store.h"
#include "runtime/graph/arch_hash.h"
#include "runtime/graph/builder.h"
#include "runtime/nn/layer_options.h"
#include "runtime/nn/init.h"
#include "runtime/tensor/tensor_csv.h"

typedef yaml_out emitter;

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

/* A name or other string: plain unless it would read back as a number, bool or null. */
static void emit_str(emitter *em, const char *s)
{
    yo_scalar(em, s, looks_typed(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
}

/* A value in the script's syntax (a number, a name, a call): plain. */
static void emit_value(emitter *em, const char *s) { yo_plain(em, s); }

static void emit_names(emitter *em, char *const *names, int n)
{
    yo_seq_start(em, true);
    for (int i = 0; i < n; i++)
        emit_str(em, names[i]);
    yo_seq_end(em);
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

/* The value of option o on L: a flow sequence for a list ([3, 3]), else plain (same, relu). */
static void emit_option(emitter *em, const layer_option *o, const layer *L)
{
    double v[LOPT_MAX_VALUES];
    int64_t items[LOPT_MAX_VALUES];
    char text[96];
    layer_option_get_values(o, L, v);
    int n = layer_option_list_items(o, v, items);
    if (n == 0) {
        emit_value(em, layer_option_format(o, v, text, sizeof text));
        return;
    }
    yo_seq_start(em, true);
    for (int i = 0; i < n; i++)
        yo_int(em, items[i]);
    yo_seq_end(em);
}

static void emit_layer(emitter *em, const layer *L)
{
    yo_map_start(em, false);
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
        emit_option(em, *o, L);
    }
    if (L->type->flags & LT_VERTEX) {   /* no parameters: no training settings (and the
                                         * reader takes none for a vertex) */
        yo_map_end(em);
        return;
    }
    conf_arg *opts = NULL;
    int n = train_conf_to_options(&L->train, ~0u, &opts);
    emit_options(em, opts, n);
    conf_args_free(opts, n);
    yo_map_end(em);
}

static void emit_floats(emitter *em, const float *v, int64_t n)
{
    char num[32];
    yo_seq_start(em, true);
    for (int64_t i = 0; i < n; i++)
        emit_value(em, tensor_csv_format_float(v[i], num, sizeof num));
    yo_seq_end(em);
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
    yaml_buffer buf = {0};
    emitter em;
    if (yaml_out_init(&em) != 0)
        return NULL;
    yaml_out_to_buffer(&em, &buf);
    yaml_emitter_set_break(&em.e, YAML_LN_BREAK);
    yo_begin(&em);
    yo_map_start(&em, false);

    emit_value(&em, "format");
    emit_value(&em, MODEL_FORMAT);
    emit_value(&em, "name");
    emit_str(&em, m->name ? m->name : "model");

    emit_value(&em, "inputs");
    yo_seq_start(&em, false);
    for (int i = 0; i < m->n_inputs; i++) {
        const model_input *in = &m->inputs[i];
        yo_map_start(&em, false);
        emit_value(&em, "name");
        emit_str(&em, in->name);
        emit_value(&em, "type");
        emit_value(&em, input_kind_names[in->kind]);
        if (in->kind == INPUT_CONVOLUTIONAL) {
            emit_value(&em, "channels");
            yo_int(&em, in->c);
            emit_value(&em, "height");
            yo_int(&em, in->h);
            emit_value(&em, "width");
            yo_int(&em, in->w);
        } else {
            emit_value(&em, "size");
            yo_int(&em, in->size);
        }
        yo_map_end(&em);
    }
    yo_seq_end(&em);

    emit_value(&em, "layers");
    yo_seq_start(&em, false);
    for (int i = 0; i < m->n_layers; i++)
        emit_layer(&em, m->layers[i]);
    yo_seq_end(&em);

    emit_value(&em, "outputs");
    emit_names(&em, m->outputs, m->n_outputs);

    if (model_classes_layer(m)) {
        emit_value(&em, "classes");
        emit_names(&em, m->classes, m->n_classes);
    }

    int n_frozen = 0;
    for (int i = 0; i < m->n_layers; i++)
        n_frozen += m->layers[i]->frozen;
    if (n_frozen) {
        emit_value(&em, "frozen");
        yo_seq_start(&em, true);
        for (int i = 0; i < m->n_layers; i++)
            if (m->layers[i]->frozen)
                emit_str(&em, m->layers[i]->name);
        yo_seq_end(&em);
    }

    emit_value(&em, "init");
    yo_map_start(&em, true);
    emit_value(&em, "seed");
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, m->seed);
    emit_value(&em, num);
    emit_value(&em, "weight_init");
    char *text = weight_init_text(&m->weight_init);
    emit_value(&em, text ? text : init_names[m->weight_init.kind]);
    free(text);
    yo_map_end(&em);

    if (m->training.set_mask) {
        emit_value(&em, "training");
        yo_map_start(&em, false);
        conf_arg *opts = NULL;
        int n = train_conf_to_options(&m->training, ~0u, &opts);
        emit_options(&em, opts, n);
        conf_args_free(opts, n);
        yo_map_end(&em);
    }

    if (m->norm.kind != NORM_NONE && m->norm.n > 0) {
        emit_value(&em, "normalizer");
        yo_map_start(&em, false);
        emit_value(&em, "kind");
        emit_value(&em, m->norm.kind == NORM_STANDARDIZE ? "standardize" : "minmax");
        emit_value(&em, "shift");
        emit_floats(&em, m->norm.shift, m->norm.n);
        emit_value(&em, "scale");
        emit_floats(&em, m->norm.scale, m->norm.n);
        yo_map_end(&em);
    }

    emit_value(&em, "weights");
    emit_str(&em, weights_name);

    yo_map_end(&em);
    yo_end(&em);
    yaml_out_delete(&em);
    if (em.failed || buf.oom || !buf.s) {
        free(buf.s);
        return NULL;
    }
    char *out = indent_sequences(buf.s, buf.n, len);
    free(buf.s);
    return out;
}

/* ---- saving ---- */

static int native_write(const model *m, const char *yaml_path, save_mode mode, struct diag_ctx *d)
{
    char *wpath = model_weights_path(yaml_path);
    if (!wpath) {
        model_format_error(d, yaml_path, "out of memory");
        return -1;
    }
    /* Every parameter, in the layers' spec order, must be there. */
    int total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += m->layers[i]->type->param_specs ? LAYER_MAX_PARAMS : 0;
    st_entry *entries = malloc((size_t)(total > 0 ? total : 1) * sizeof *entries);
    char **names = malloc((size_t)(total > 0 ? total : 1) * sizeof *names);
    int n = 0, rc = -1;
    char *yaml = NULL, *gen_yaml = NULL;
    if (!entries || !names) {
        model_format_error(d, yaml_path, "out of memory");
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
                model_format_error(d, yaml_path, "cannot save: parameter %s.%s %s (needs %s)", L->name,
                           specs[p].key, tensor_has_values(t) ? shape_str(b, sizeof b, t->ndim, t->shape) : "has no data",
                           shape_str(a, sizeof a, specs[p].ndim, specs[p].shape));
                goto done;
            }
            size_t len = strlen(L->name) + strlen(specs[p].key) + 2;
            if (!(names[n] = malloc(len))) {
                model_format_error(d, yaml_path, "out of memory");
                goto done;
            }
            snprintf(names[n], len, "%s.%s", L->name, specs[p].key);
            entries[n].name = names[n];
            entries[n].t = t;
            n++;
        }
    }
    char hash[17], err[1024];
    model_arch_hash_hex(m, hash);
    const char *meta[] = {"format", MODEL_FORMAT, "architecture_hash", hash};
    /* The weights go to a generation file; the YAML naming it is the commit (docs/format.md). */
    pair_commit pc;
    if (pair_begin(&pc, yaml_path, wpath, "weights:", mode == SAVE_DURABLE, err, sizeof err) != 0) {
        model_format_error(d, yaml_path, "%s", err);
        goto done;
    }
    size_t gen_len = 0, final_len = 0;
    gen_yaml = model_yaml_text(m, pair_generation_name(&pc), &gen_len);
    yaml = model_yaml_text(m, path_base_name(wpath), &final_len);
    if (!yaml || !gen_yaml) {
        pair_abort(&pc);
        model_format_error(d, yaml_path, "cannot write the model YAML (out of memory)");
        goto done;
    }
    if (weights_store_write(m, &pc.data, entries, n, meta, 2, err, sizeof err) != 0) {
        model_format_error(d, wpath, "%s", err);
        pair_abort(&pc);
        goto done;
    }
    char *gen_name = str_dup(pair_generation_name(&pc));
    if (pair_commit_files(&pc, gen_yaml, gen_len, yaml, final_len, err, sizeof err) != 0) {
        model_format_error(d, yaml_path, "%s", err);
        free(gen_name);
        goto done;
    }
    if (pc.kept_generation && d) {
        src_loc at = {diag_intern_path(d, yaml_path), 0, 0, 0};
        diag_warning(d, at, "saved, but the weights could not take the name %s (a hard link "
                     "to them failed): the YAML names them as %s", path_base_name(wpath),
                     gen_name ? gen_name : "their generation file");
    }
    free(gen_name);
    rc = 0;
done:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(entries);
    free(yaml);
    free(gen_yaml);
    free(wpath);
    return rc;
}

static const char *const native_suffixes[] = {".yaml", ".yml", NULL};

const model_writer native_writer = {
    .name = MODEL_FORMAT,
    .suffixes = native_suffixes,
    .saved_as = "NAME.yaml (with NAME.safetensors beside it)",
    .write = native_write,
};
