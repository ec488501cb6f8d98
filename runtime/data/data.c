/* data.c: the dataset front door: source dispatch, option checking, open, probe and close;
 * data_records.c holds what the readers share, data_batch.c the epochs and batches. */
#include "runtime/data/data_impl.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

const char *const data_source_names[DATA_SOURCE_COUNT] = {"csv", "csv_sequence", "npy", "idx", "text", "images"};

/* What each source accepts: its arguments (by name, or by position in this order; the first
 * is the path) and its options. */
typedef struct source_spec {
    const char *const *params;
    const char *const *options;
    int (*open)(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe);
} source_spec;

static const char *const path_only[] = {"path", NULL};
static const char *const path_labels[] = {"path", "labels", NULL};
static const char *const images_labels[] = {"images", "labels", NULL};
static const char *const seq_params[] = {"pattern", "labels", "first", "last", NULL};
static const char *const csv_options[] = {"label", "classes", "label_count", "header", "delimiter",
                                          "batch", "shuffle", "normalize", "limit", NULL};
static const char *const seq_options[] = {"classes", "label", "header", "delimiter", "batch",
                                          "shuffle", "normalize", "align", "per_sequence", NULL};
static const char *const npy_options[] = {"classes", "layout", "batch", "shuffle", "normalize", "limit", NULL};
static const char *const idx_options[] = {"classes", "batch", "shuffle", "normalize", "limit", NULL};
static const char *const images_options[] = {"height", "width", "channels", "mean", "std", "split", "part",
                                             "skip_bad", "batch", "shuffle", "limit", NULL};
static const char *const text_options[] = {"seq_length", "batch", "shuffle", "vocab", "limit", NULL};

static const source_spec specs[DATA_SOURCE_COUNT] = {
    [DATA_CSV] = {path_only, csv_options, csv_open},
    [DATA_CSV_SEQUENCE] = {seq_params, seq_options, csv_sequence_open},
    [DATA_NPY] = {path_labels, npy_options, npy_data_open},
    [DATA_IDX] = {images_labels, idx_options, idx_open},
    [DATA_TEXT] = {path_only, text_options, text_open},
    [DATA_IMAGES] = {path_only, images_options, images_open},
};

static int list_len(const char *const *l)
{
    int n = 0;
    while (l[n])
        n++;
    return n;
}

static bool in_list(const char *const *l, const char *s)
{
    for (int i = 0; l[i]; i++)
        if (!strcmp(l[i], s))
            return true;
    return false;
}

/* ---- options ---- */

const conf_arg *data_opt(const data_spec *spec, const char *key)
{
    for (int i = 0; i < spec->n_opts; i++)
        if (spec->opts[i].name && !strcmp(spec->opts[i].name, key))
            return &spec->opts[i];
    return NULL;
}

static bool is_integer(double v)
{
    return isfinite(v) && v == floor(v) && fabs(v) < 9.0e15;
}

int opt_int(const data_spec *spec, const char *key, int64_t lo, int64_t hi, int64_t *out, diag_ctx *d)
{
    const conf_arg *a = data_opt(spec, key);
    if (!a)
        return 0;
    const conf_value *v = a->value;
    if (v->kind != CV_NUM || !is_integer(v->num)) {
        diag_error(d, v->loc, "`%s` must be a whole number", key);
        return -1;
    }
    if (v->num < (double)lo || (hi >= 0 && v->num > (double)hi)) {
        if (hi >= 0)
            diag_error(d, v->loc, "`%s` must be between %lld and %lld, not %.17g", key,
                       (long long)lo, (long long)hi, v->num);
        else
            diag_error(d, v->loc, "`%s` must be at least %lld, not %.17g", key, (long long)lo, v->num);
        return -1;
    }
    *out = (int64_t)v->num;
    return 0;
}

int opt_bool(const data_spec *spec, const char *key, bool *out, diag_ctx *d)
{
    const conf_arg *a = data_opt(spec, key);
    if (!a)
        return 0;
    if (a->value->kind != CV_BOOL) {
        diag_error(d, a->value->loc, "`%s` must be true or false", key);
        return -1;
    }
    *out = a->value->num != 0;
    return 0;
}

int opt_ident(const data_spec *spec, const char *key, const char *const *names, int n, int *out, diag_ctx *d)
{
    const conf_arg *a = data_opt(spec, key);
    if (!a)
        return 0;
    const conf_value *v = a->value;
    if (v->kind == CV_IDENT || v->kind == CV_STR) {
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], v->str)) {
                *out = i;
                return 0;
            }
    }
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, i ? (i == n - 1 ? " or " : ", ") : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    const char *hint = (v->kind == CV_IDENT || v->kind == CV_STR) ? diag_suggest(v->str, names, n) : NULL;
    if (hint)
        diag_error(d, v->loc, "`%s` must be %s; did you mean `%s`?", key, list, hint);
    else
        diag_error(d, v->loc, "`%s` must be %s", key, list);
    return -1;
}

int opt_string(const data_spec *spec, const char *key, const char **out, diag_ctx *d)
{
    const conf_arg *a = data_opt(spec, key);
    if (!a)
        return 0;
    if (a->value->kind != CV_STR) {
        diag_error(d, a->value->loc, "`%s` must be a string", key);
        return -1;
    }
    *out = a->value->str;
    return 0;
}

const conf_value *src_arg(const data_spec *spec, const char *name, int position)
{
    const conf_value *call = spec->source;
    if (!call || call->kind != CV_CALL)
        return NULL;
    int pos = 0;
    for (int i = 0; i < call->n_args; i++) {
        const conf_arg *a = &call->args[i];
        if (a->name ? !strcmp(a->name, name) : pos++ == position)
            return a->value;
    }
    return NULL;
}

char *src_path_arg(const data_spec *spec, const char *name, int position, const char *what, diag_ctx *d)
{
    const conf_value *v = src_arg(spec, name, position);
    if (!v) {
        if (position > 0)
            diag_error(d, spec->source->loc, "%s(...) needs %s: %s = \"PATH\"", spec->source->str, what, name);
        else
            diag_error(d, spec->source->loc, "%s(...) needs %s as its first argument", spec->source->str, what);
        return NULL;
    }
    if (v->kind != CV_STR) {
        diag_error(d, v->loc, "%s must be a string (a path relative to the script)", what);
        return NULL;
    }
    char *p = path_beside_file(spec->loc.file, v->str);
    if (!p)
        diag_error(d, v->loc, "out of memory");
    return p;
}

static const char *const norm_names[] = {"standardize", "minmax"};

int data_common_options(dataset *ds, const data_spec *spec, bool allow_normalize, bool allow_limit,
                        int64_t *limit, diag_ctx *d)
{
    int err = 0;
    ds->batch = 32;
    err |= opt_int(spec, "batch", 1, -1, &ds->batch, d);
    err |= opt_bool(spec, "shuffle", &ds->shuffle, d);
    if (allow_normalize) {
        int k = -1;
        err |= opt_ident(spec, "normalize", norm_names, 2, &k, d);
        ds->normalize = k == 0 ? NORM_STANDARDIZE : k == 1 ? NORM_MINMAX : NORM_NONE;
    }
    *limit = -1;
    if (allow_limit)
        err |= opt_int(spec, "limit", 1, -1, limit, d);
    return err ? -1 : 0;
}

/* ---- open, probe, close ---- */

static int source_index(const char *name)
{
    for (int i = 0; i < DATA_SOURCE_COUNT; i++)
        if (!strcmp(data_source_names[i], name))
            return i;
    return -1;
}

/* Checks the source call's shape and the option names. Returns the source, or -1 (reported). */
static int check_spec(const data_spec *spec, diag_ctx *d)
{
    const conf_value *call = spec->source;
    if (!call || call->kind != CV_CALL) {
        diag_error(d, call ? call->loc : spec->loc,
                   "a data source is a call such as csv(\"file.csv\"), npy(...), idx(...), text(...), images(...)");
        return -1;
    }
    int s = source_index(call->str);
    if (s < 0) {
        const char *hint = diag_suggest(call->str, data_source_names, DATA_SOURCE_COUNT);
        if (hint)
            diag_error(d, call->loc, "unknown data source `%s`; did you mean `%s`?", call->str, hint);
        else
            diag_error(d, call->loc, "unknown data source `%s` (csv, csv_sequence, npy, idx, text or images)", call->str);
        return -1;
    }
    const source_spec *sp = &specs[s];
    int errors = 0, positional = 0, n_params = list_len(sp->params);
    for (int i = 0; i < call->n_args; i++)
        positional += call->args[i].name == NULL;
    for (int i = 0, pos = 0; i < call->n_args; i++) {
        const conf_arg *a = &call->args[i];
        if (!a->name) {
            if (++pos > n_params) {
                char list[64] = "";
                for (int k = 0; k < n_params; k++) {
                    strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
                    strncat(list, sp->params[k], sizeof list - strlen(list) - 1);
                }
                diag_error(d, a->value->loc, "%s(...) takes at most %d argument%s (%s)", call->str, n_params,
                           n_params == 1 ? "" : "s", list);
                errors++;
            }
            continue;
        }
        int k = 0;
        while (sp->params[k] && strcmp(sp->params[k], a->name))
            k++;
        if (!sp->params[k]) {
            const char *hint = diag_suggest(a->name, sp->params, n_params);
            if (hint)
                diag_error(d, a->name_loc, "%s(...) has no argument `%s`; did you mean `%s`?", call->str, a->name, hint);
            else
                diag_error(d, a->name_loc, "%s(...) has no argument `%s`", call->str, a->name);
            errors++;
            continue;
        }
        bool twice = k < positional;
        for (int j = 0; j < i && !twice; j++)
            twice = call->args[j].name && !strcmp(call->args[j].name, a->name);
        if (twice) {
            diag_error(d, a->name_loc, "argument `%s` is given twice", a->name);
            errors++;
        }
    }
    for (int i = 0; i < spec->n_opts; i++) {
        const conf_arg *o = &spec->opts[i];
        if (!o->name)
            continue;
        if (!in_list(sp->options, o->name)) {
            const char *hint = diag_suggest(o->name, sp->options, list_len(sp->options));
            if (hint)
                diag_error(d, o->name_loc, "%s data has no option `%s`; did you mean `%s`?", call->str, o->name, hint);
            else
                diag_error(d, o->name_loc, "%s data has no option `%s`", call->str, o->name);
            errors++;
            continue;
        }
        for (int j = 0; j < i; j++)
            if (spec->opts[j].name && !strcmp(spec->opts[j].name, o->name)) {
                diag_error(d, o->name_loc, "option `%s` is given twice", o->name);
                diag_note(d, spec->opts[j].name_loc, "first given here");
                errors++;
                break;
            }
    }
    return errors ? -1 : s;
}

static dataset *dataset_new(const data_spec *spec, int source)
{
    dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->source = (data_source)source;
    ds->loc = spec->loc;
    ds->name = strdup(spec->name ? spec->name : "");
    if (!ds->name) {
        free(ds);
        return NULL;
    }
    ds->batch = 32;
    data_setting(ds, "source=%s", data_source_names[source]);
    return ds;
}

static void dataset_free(dataset *ds)
{
    if (!ds)
        return;
    if (ds->ops && ds->ops->close)
        ds->ops->close(ds);
    free(ds->order);
    free(ds->vocab);
    data_normalizer_release(&ds->norm);
    free(ds->name);
    free(ds);
}

dataset *data_open(const data_spec *spec, diag_ctx *d)
{
    int s = check_spec(spec, d);
    if (s < 0)
        return NULL;
    dataset *ds = dataset_new(spec, s);
    if (!ds) {
        diag_error(d, spec->loc, "out of memory");
        return NULL;
    }
    if (specs[s].open(ds, spec, d, false) != 0) {
        dataset_free(ds);
        return NULL;
    }
    assert(ds->ops && ds->count > 0 && ds->features > 0 && ds->outputs > 0);
    return ds;
}

int data_probe_info(const data_spec *spec, diag_ctx *d, data_info *info)
{
    int s = check_spec(spec, d);
    if (s < 0)
        return -1;
    dataset *ds = dataset_new(spec, s);
    if (!ds) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    int rc = specs[s].open(ds, spec, d, true);
    if (rc == 0 && info) {
        info->source = ds->source;
        info->features = ds->features;
        info->sequence = ds->sequence;
        info->classes = ds->classes;
        info->outputs = ds->outputs;
        info->channels = ds->image_c;
        info->height = ds->image_h;
        info->width = ds->image_w;
    }
    dataset_free(ds);
    return rc;
}

int data_probe(const data_spec *spec, diag_ctx *d, int64_t *features, bool *sequence, int64_t *classes)
{
    data_info info;
    if (data_probe_info(spec, d, &info) != 0)
        return -1;
    if (features)
        *features = info.features;
    if (sequence)
        *sequence = info.sequence;
    if (classes)
        *classes = info.classes;
    return 0;
}

void data_close(dataset *ds)
{
    dataset_free(ds);
}

const char *data_name(const dataset *ds) { return ds->name; }
data_source data_source_of(const dataset *ds) { return ds->source; }
src_loc data_loc(const dataset *ds) { return ds->loc; }
int64_t data_features(const dataset *ds) { return ds->features; }
int64_t data_classes(const dataset *ds) { return ds->classes; }
int64_t data_outputs(const dataset *ds) { return ds->outputs; }
bool data_is_sequence(const dataset *ds) { return ds->sequence; }
int64_t data_count(const dataset *ds) { return ds->count; }
int64_t data_batch_size(const dataset *ds) { return ds->batch; }
bool data_shuffles(const dataset *ds) { return ds->shuffle; }
bool data_aligns_end(const dataset *ds) { return ds->align_end; }
int64_t data_fixed_steps(const dataset *ds) { return ds->sequence ? ds->steps : 1; }
norm_kind data_normalize_option(const dataset *ds) { return ds->normalize; }
size_t data_peak_bytes(const dataset *ds) { return ds->peak; }
size_t data_index_bytes(const dataset *ds) { return ds->index_bytes; }

const unsigned char *data_vocab(const dataset *ds, int64_t *len)
{
    if (len)
        *len = ds->vocab ? ds->vocab_len : 0;
    return ds->vocab;
}
