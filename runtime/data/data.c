/* data.c: the dataset front door: source dispatch, option checking, epochs and shuffling,
 * normalisation, content hashing and the CSV record parser the csv readers share. */
#include "runtime/data/data_impl.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/rng.h"
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

src_loc file_loc(diag_ctx *d, const char *path, int64_t line, int64_t col, int64_t len)
{
    src_loc l;
    l.file = diag_intern_path(d, path);
    l.line = line > INT32_MAX ? INT32_MAX : (int)line;
    l.col = col > INT32_MAX ? INT32_MAX : (int)col;
    l.len = len > 200 ? 200 : (int)len;
    return l;
}

void data_note(const dataset *ds, diag_ctx *d)
{
    diag_note(d, ds->loc, "in the data `%s` declared here", ds->name ? ds->name : "?");
}

void data_setting(dataset *ds, const char *fmt, ...)
{
    size_t used = strlen(ds->settings);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ds->settings + used, sizeof ds->settings - used, fmt, ap);
    va_end(ap);
    used = strlen(ds->settings);
    if (used + 1 < sizeof ds->settings) {
        ds->settings[used] = ';';
        ds->settings[used + 1] = '\0';
    }
}

/* ---- memory accounting ---- */

void data_hold(dataset *ds, int64_t delta)
{
    if (!ds)
        return;
    assert(delta >= 0 || (size_t)-delta <= ds->held);
    ds->held = (size_t)((int64_t)ds->held + delta);
    if (ds->held > ds->peak)
        ds->peak = ds->held;
}

int data_grow(dataset *ds, void **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < n)
        nc *= 2;
    void *p = realloc(*buf, nc);
    if (!p)
        return -1;
    data_hold(ds, (int64_t)(nc - *cap));
    *buf = p;
    *cap = nc;
    return 0;
}

/* ---- CSV records ---- */

int64_t csv_read_line(FILE *f, char **buf, size_t *cap, size_t *len, dataset *ds)
{
    size_t before = *cap;
    errno = 0;
    ssize_t n = getline(buf, cap, f);
    if (*cap != before)
        data_hold(ds, (int64_t)*cap - (int64_t)before);
    if (n < 0)
        return ferror(f) ? -1 : 0;
    size_t l = (size_t)n;
    if (l && (*buf)[l - 1] == '\n')
        l--;
    if (l && (*buf)[l - 1] == '\r')
        l--;
    (*buf)[l] = '\0';
    *len = l;
    return n;
}

bool csv_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static void quote_field(char *out, size_t n, const char *s, size_t len)
{
    if (len > 40)
        snprintf(out, n, "%.37s...", s);
    else
        snprintf(out, n, "%.*s", (int)len, s);
}

int64_t csv_parse(const char *s, size_t len, char delim, double *vals, int64_t max, csv_error *err)
{
    int64_t field = 0;
    size_t i = 0;
    char tmp[128];
    for (;;) {
        size_t start = i;
        while (i < len && s[i] != delim)
            i++;
        if (field < max) {
            size_t a = start, b = i;
            while (a < b && (s[a] == ' ' || s[a] == '\t'))
                a++;
            while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
                b--;
            if (b - a >= 2 && s[a] == '"' && s[b - 1] == '"') {
                a++;
                b--;
            }
            err->col = (int64_t)a + 1;
            err->len = (int64_t)(b - a);
            if (a == b) {
                err->col = (int64_t)start + 1;
                err->len = 1;
                snprintf(err->msg, sizeof err->msg, "field %lld is empty", (long long)field + 1);
                return -1;
            }
            char q[48];
            quote_field(q, sizeof q, s + a, b - a);
            if (b - a >= sizeof tmp) {
                snprintf(err->msg, sizeof err->msg, "field %lld is not a number: '%s'", (long long)field + 1, q);
                return -1;
            }
            memcpy(tmp, s + a, b - a);
            tmp[b - a] = '\0';
            char *end;
            double v = strtod(tmp, &end);
            if (end == tmp || *end != '\0') {
                snprintf(err->msg, sizeof err->msg, "field %lld is not a number: '%s'", (long long)field + 1, q);
                return -1;
            }
            if (!isfinite(v)) {
                snprintf(err->msg, sizeof err->msg, "field %lld is not a finite number: '%s'",
                         (long long)field + 1, q);
                return -1;
            }
            vals[field] = v;
        }
        field++;
        if (i >= len)
            break;
        i++;
    }
    return field;
}

void csv_field_span(const char *s, size_t len, char delim, int64_t field, int64_t *col, int64_t *flen)
{
    size_t i = 0;
    for (int64_t k = 0; k < field && i < len; i++)
        if (s[i] == delim)
            k++;
    size_t j = i;
    while (j < len && s[j] != delim)
        j++;
    *col = (int64_t)i + 1;
    *flen = (int64_t)(j - i);
}

int check_class_label(double v, int64_t classes, csv_error *err)
{
    if (v != floor(v)) {
        snprintf(err->msg, sizeof err->msg, "class label %g is not a whole number", v);
        return -1;
    }
    if (v < 0 || v >= (double)classes) {
        snprintf(err->msg, sizeof err->msg, "class label %g is outside [0, %lld) (classes = %lld)", v,
                 (long long)classes, (long long)classes);
        return -1;
    }
    return 0;
}

/* ---- hashing ---- */

int hash_file(XXH3_state_t *h, const char *path, diag_ctx *d, src_loc loc)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        diag_error(d, loc, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    enum { CHUNK = 1 << 18 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        diag_error(d, loc, "out of memory");
        return -1;
    }
    uint64_t total = 0;
    int err = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        XXH3_64bits_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    free(buf);
    close(fd);
    if (err) {
        diag_error(d, loc, "error reading '%s': %s", path, strerror(err));
        return -1;
    }
    XXH3_64bits_update(h, &total, sizeof total);
    return 0;
}

int read_at(FILE *f, int64_t offset, void *buf, size_t n)
{
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0)
        return -1;
    return fread(buf, 1, n, f) == n ? 0 : -1;
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

/* ---- epochs ---- */

int data_reset_in_order(dataset *ds)
{
    ds->cursor = 0;
    ds->in_order = true;
    return 0;
}

int data_reset(dataset *ds, uint64_t seed)
{
    ds->cursor = 0;
    ds->in_order = false;
    if (!ds->shuffle)
        return 0;
    if (!ds->order) {
        ds->order = malloc((size_t)ds->count * sizeof *ds->order);
        if (!ds->order)
            return -1;
        data_hold(ds, ds->count * (int64_t)sizeof *ds->order);
        ds->index_bytes += (size_t)ds->count * sizeof *ds->order;
    }
    for (int64_t i = 0; i < ds->count; i++)
        ds->order[i] = i;
    rng r;
    rng_seed(&r, seed);
    rng_shuffle(&r, ds->order, ds->count);
    return 0;
}

void batch_release(batch *b)
{
    if (!b)
        return;
    tensor_release(&b->x);
    tensor_release(&b->y);
    tensor_release(&b->mask);
    tensor_release(&b->label_mask);
    b->n = 0;
}

static size_t batch_bytes(const batch *b)
{
    size_t n = 0;
    if (b->x.data)
        n += (size_t)b->x.size;
    if (b->y.data)
        n += (size_t)b->y.size;
    if (b->mask.data)
        n += (size_t)b->mask.size;
    if (b->label_mask.data)
        n += (size_t)b->label_mask.size;
    return n * sizeof(float);
}

/* Fills b with ids in [first, first + n) of the epoch order, without normalising. */
static int fill_range(dataset *ds, int64_t first, int64_t n, bool use_order, batch *b, diag_ctx *d)
{
    int64_t stack_ids[256];
    int64_t *ids = stack_ids;
    size_t scratch = 0;
    if (use_order && ds->order && !ds->in_order) {
        ids = ds->order + first;
    } else {
        if (n > 256) {
            scratch = (size_t)n * sizeof *ids;
            ids = malloc(scratch);
            if (!ids) {
                diag_error(d, ds->loc, "out of memory");
                return -1;
            }
        }
        for (int64_t i = 0; i < n; i++)
            ids[i] = first + i;
    }
    data_hold(ds, (int64_t)scratch);
    memset(b, 0, sizeof *b);
    int rc = ds->ops->fill(ds, ids, n, b, d);
    if (rc == 0) {
        b->n = n;
        size_t total = ds->held + batch_bytes(b);
        if (total > ds->peak)
            ds->peak = total;
    } else {
        batch_release(b);
    }
    data_hold(ds, -(int64_t)scratch);
    if (scratch)
        free(ids);
    return rc;
}

int data_next_n(dataset *ds, int64_t max, batch *b, diag_ctx *d)
{
    assert(max >= 1);
    batch_release(b);
    if (ds->cursor >= ds->count)
        return 0;
    int64_t n = ds->count - ds->cursor;
    if (n > max)
        n = max;
    if (fill_range(ds, ds->cursor, n, true, b, d) != 0)
        return -1;
    ds->cursor += n;
    if (ds->norm.kind != NORM_NONE)
        data_normalizer_apply(&ds->norm, &b->x, b->mask.data ? &b->mask : NULL);
    return 1;
}

int data_next(dataset *ds, batch *b, diag_ctx *d)
{
    return data_next_n(ds, ds->batch, b, d);
}

/* ---- normalisation ---- */

void data_normalizer_release(normalizer *n)
{
    if (!n)
        return;
    free(n->shift);
    free(n->scale);
    memset(n, 0, sizeof *n);
}

int data_normalizer_copy(normalizer *dst, const normalizer *src)
{
    normalizer t = {0};
    if (src && src->kind != NORM_NONE) {
        t.kind = src->kind;
        t.n = src->n;
        t.shift = malloc((size_t)src->n * sizeof(float));
        t.scale = malloc((size_t)src->n * sizeof(float));
        if (!t.shift || !t.scale) {
            data_normalizer_release(&t);
            return -1;
        }
        memcpy(t.shift, src->shift, (size_t)src->n * sizeof(float));
        memcpy(t.scale, src->scale, (size_t)src->n * sizeof(float));
    }
    data_normalizer_release(dst);
    *dst = t;
    return 0;
}

void data_normalizer_apply(const normalizer *n, tensor *x, const tensor *mask)
{
    if (!n || n->kind == NORM_NONE || !x->data)
        return;
    assert(x->ndim >= 1 && x->size % n->n == 0);   /* rows of n: [B, F], [T, B, F] or [B, C, H, W] */
    int64_t rows = x->size / n->n;
    const float *m = mask && mask->data ? mask->data : NULL;
    assert(!m || mask->size == rows);
    for (int64_t r = 0; r < rows; r++) {
        if (m && m[r] == 0.0f)
            continue;
        float *row = x->data + r * n->n;
        for (int64_t f = 0; f < n->n; f++)
            row[f] = (row[f] - n->shift[f]) * n->scale[f];
    }
}

int data_set_normalizer(dataset *ds, const normalizer *n)
{
    if (n && n->kind != NORM_NONE && n->n != ds->features)
        return -1;
    return data_normalizer_copy(&ds->norm, n);
}

int data_fit_normalizer(dataset *ds, norm_kind kind, normalizer *out, diag_ctx *d)
{
    data_normalizer_release(out);
    if (kind == NORM_NONE)
        return 0;
    int64_t F = ds->features;
    double *acc = calloc((size_t)F * 2, sizeof *acc);   /* mean/m2 or min/max */
    if (!acc) {
        diag_error(d, ds->loc, "out of memory");
        return -1;
    }
    data_hold(ds, F * 2 * (int64_t)sizeof *acc);
    double *a0 = acc, *a1 = acc + F;
    for (int64_t f = 0; f < F; f++) {
        a0[f] = kind == NORM_MINMAX ? INFINITY : 0.0;
        a1[f] = kind == NORM_MINMAX ? -INFINITY : 0.0;
    }
    int64_t seen = 0;
    int rc = 0;
    batch b = {0};
    for (int64_t first = 0; first < ds->count && rc == 0; first += ds->batch) {
        int64_t n = ds->count - first < ds->batch ? ds->count - first : ds->batch;
        if (fill_range(ds, first, n, false, &b, d) != 0) {
            rc = -1;
            break;
        }
        int64_t rows = b.x.size / F;
        const float *m = b.mask.data;
        for (int64_t r = 0; r < rows; r++) {
            if (m && m[r] == 0.0f)
                continue;
            const float *row = b.x.data + r * F;
            seen++;
            if (kind == NORM_MINMAX) {
                for (int64_t f = 0; f < F; f++) {
                    if (row[f] < a0[f])
                        a0[f] = row[f];
                    if (row[f] > a1[f])
                        a1[f] = row[f];
                }
            } else {   /* Welford */
                for (int64_t f = 0; f < F; f++) {
                    double delta = row[f] - a0[f];
                    a0[f] += delta / (double)seen;
                    a1[f] += delta * (row[f] - a0[f]);
                }
            }
        }
        batch_release(&b);
    }
    if (rc == 0) {
        out->shift = malloc((size_t)F * sizeof(float));
        out->scale = malloc((size_t)F * sizeof(float));
        if (!out->shift || !out->scale) {
            diag_error(d, ds->loc, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        out->kind = kind;
        out->n = F;
        for (int64_t f = 0; f < F; f++) {
            double shift, range;
            if (kind == NORM_MINMAX) {
                shift = a0[f];
                range = a1[f] - a0[f];
            } else {
                shift = a0[f];
                range = seen ? sqrt(a1[f] / (double)seen) : 0.0;
            }
            out->shift[f] = (float)shift;
            out->scale[f] = range > 1e-12 ? (float)(1.0 / range) : 1.0f;
        }
    } else {
        data_normalizer_release(out);
    }
    data_hold(ds, -F * 2 * (int64_t)sizeof *acc);
    free(acc);
    return rc;
}

/* ---- content hash ---- */

int data_content_hash(dataset *ds, uint64_t *hash, diag_ctx *d)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h || XXH3_64bits_reset(h) != XXH_OK) {
        XXH3_freeState(h);
        diag_error(d, ds->loc, "out of memory");
        return -1;
    }
    XXH3_64bits_update(h, "surgery-data/2;", 15);
    XXH3_64bits_update(h, ds->settings, strlen(ds->settings));
    if (ds->vocab)
        XXH3_64bits_update(h, ds->vocab, (size_t)ds->vocab_len);
    if (ds->ops->hash(ds, h, d) != 0) {
        XXH3_freeState(h);
        return -1;
    }
    if (ds->norm.kind != NORM_NONE) {
        int32_t k = (int32_t)ds->norm.kind;
        XXH3_64bits_update(h, &k, sizeof k);
        XXH3_64bits_update(h, ds->norm.shift, (size_t)ds->norm.n * sizeof(float));
        XXH3_64bits_update(h, ds->norm.scale, (size_t)ds->norm.n * sizeof(float));
    }
    *hash = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

void data_hash_hex(uint64_t hash, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[hash & 15];
        hash >>= 4;
    }
    out[16] = '\0';
}
