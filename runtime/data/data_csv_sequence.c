/* data_csv_sequence.c: the csv_sequence(PATTERN, labels = PATTERN, first = N, last = M) source:
 * one CSV file per sequence (one row per time step), labels per step or per sequence, aligned
 * at the start or the end with masks, batched time-major. */
#include "runtime/data/data_impl.h"

#include "runtime/base/limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { ALIGN_EQUAL, ALIGN_START, ALIGN_END };
static const char *const align_names[] = {"equal", "start", "end"};

typedef struct seq_impl {
    char *feat_pattern, *label_pattern;    /* resolved; label_pattern NULL: label column */
    int64_t first, last, header;
    char delim;
    bool classify, per_sequence;
    int align;
    int64_t label_col;                     /* in the feature file when label_pattern is NULL */
    int64_t ncols, lcols;                  /* columns of feature / label files */
    int64_t *steps;                        /* per sequence: feature rows, label rows (the index) */
    char *line;
    size_t line_cap;
    double *vals;
    size_t vals_cap;
    char *path;
    size_t path_cap;
} seq_impl;

static void seq_close(dataset *ds)
{
    seq_impl *s = ds->impl;
    if (!s)
        return;
    free(s->feat_pattern);
    free(s->label_pattern);
    free(s->steps);
    free(s->line);
    free(s->vals);
    free(s->path);
    free(s);
    ds->impl = NULL;
}

/* Checks a file-name pattern: exactly one %d (or %0Nd, zero-padded to N digits); %% is a '%'. */
static int check_pattern(const char *p, const conf_value *v, diag_ctx *d)
{
    int conversions = 0;
    for (const char *c = p; *c; c++) {
        if (*c != '%')
            continue;
        c++;
        if (*c == '%')
            continue;
        while (*c >= '0' && *c <= '9')
            c++;
        if (*c != 'd') {
            diag_error(d, v->loc, "a sequence file pattern may only hold %%d (or %%0Nd, and %%%% for a '%%')");
            return -1;
        }
        conversions++;
    }
    if (conversions != 1) {
        diag_error(d, v->loc, "a sequence file pattern needs exactly one %%d for the sequence number, as in \"seq/%%d.csv\"");
        return -1;
    }
    return 0;
}

/* Writes pattern with %d replaced by i into s->path. */
static int expand(dataset *ds, seq_impl *s, const char *pattern, int64_t i)
{
    size_t need = strlen(pattern) + 32;
    if (data_grow(ds, (void **)&s->path, &s->path_cap, need) != 0)
        return -1;
    char *o = s->path;
    for (const char *c = pattern; *c; c++) {
        if (*c != '%') {
            *o++ = *c;
            continue;
        }
        c++;
        if (*c == '%') {
            *o++ = '%';
            continue;
        }
        int width = 0;
        bool zero = *c == '0';
        while (*c >= '0' && *c <= '9')
            width = width * 10 + (*c++ - '0');
        if (width > 20)
            width = 20;
        o += sprintf(o, zero ? "%0*lld" : "%*lld", width, (long long)i);
    }
    *o = '\0';
    return 0;
}

/* Where one file's rows go while a batch is filled. */
typedef struct sink {
    batch *b;
    int64_t slot, t0, n;     /* batch column, first time step, batch size */
} sink;

/* Reads one sequence file (features or labels): checks every row (column count, numbers,
 * classes) against *ncols and, with a sink, writes the rows into the batch. Returns the row count, or -1 (reported). */
static int64_t scan_file(dataset *ds, seq_impl *s, bool labels, const int64_t *ncols, const sink *out,
                         diag_ctx *d)
{
    const char *path = s->path;
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(d, file_loc(d, path, 0, 0, 0), "cannot open sequence file: %s", strerror(errno));
        data_note(ds, d);
        return -1;
    }
    int64_t line_no = 0, rows = 0, first_line = 0, rc = 0;
    size_t len = 0;
    for (;;) {
        int64_t got = csv_read_line(f, &s->line, &s->line_cap, &len, ds);
        if (got < 0) {
            char msg[128];
            csv_read_problem(errno, msg, sizeof msg);
            diag_error(d, file_loc(d, path, line_no + 1, 1, 0), "%s", msg);
            rc = -1;
            break;
        }
        if (got == 0)
            break;
        line_no++;
        if (line_no <= s->header || csv_blank(s->line, len))
            continue;
        if (data_grow(ds, (void **)&s->vals, &s->vals_cap, (size_t)(*ncols + 1) * sizeof(double)) != 0) {
            diag_error(d, ds->loc, "out of memory");
            rc = -1;
            break;
        }
        if (!first_line)
            first_line = line_no;
        csv_error e;
        int64_t fields = csv_parse(s->line, len, s->delim, s->vals, *ncols, &e);
        if (fields < 0) {
            diag_error(d, file_loc(d, path, line_no, e.col, e.len), "%s", e.msg);
            rc = -1;
            break;
        }
        if (fields != *ncols) {
            diag_error(d, file_loc(d, path, line_no, 1, (int64_t)len),
                       "expected %lld fields (as in the first %s file), found %lld", (long long)*ncols,
                       labels ? "label" : "sequence", (long long)fields);
            rc = -1;
            break;
        }
        int64_t lab = labels ? 0 : s->label_col;
        if (s->classify && (labels || !s->label_pattern) &&
            check_class_label(s->vals[lab], ds->classes, &e) != 0) {
            int64_t col, flen;
            csv_field_span(s->line, len, s->delim, lab, &col, &flen);
            diag_error(d, file_loc(d, path, line_no, col, flen), "%s", e.msg);
            rc = -1;
            break;
        }
        if (labels && s->per_sequence && rows == 1) {
            diag_error(d, file_loc(d, path, line_no, 1, (int64_t)len),
                       "per_sequence = true takes one label row per sequence; this file has more");
            rc = -1;
            break;
        }
        if (out) {
            int64_t t = out->t0 + rows;
            int64_t cell = t * out->n + out->slot;
            bool write_y = labels || !s->label_pattern;
            if (!labels) {
                float *x = out->b->x.data + cell * ds->features;
                for (int64_t j = 0, k = 0; j < *ncols; j++)
                    if (s->label_pattern || j != s->label_col)
                        x[k++] = (float)s->vals[j];
            }
            if (write_y) {
                float *y = out->b->y.data + cell * ds->outputs;
                if (s->classify)
                    y[(int64_t)s->vals[lab]] = 1.0f;
                else if (labels)
                    for (int64_t k = 0; k < ds->outputs; k++)
                        y[k] = (float)s->vals[k];
                else
                    y[0] = (float)s->vals[lab];
            }
        }
        rows++;
    }
    fclose(f);
    if (rc == 0 && rows == 0) {
        diag_error(d, file_loc(d, path, 0, 0, 0), "the sequence file has no rows%s",
                   s->header ? " after its header lines" : "");
        rc = -1;
    }
    if (rc != 0) {
        data_note(ds, d);
        return -1;
    }
    return rows;
}

/* Counts the fields of the first data row of s->path. Returns the count, or -1 when the file
 * cannot be opened or has no rows (reported). */
static int64_t first_row_width(dataset *ds, seq_impl *s, diag_ctx *d)
{
    FILE *f = fopen(s->path, "rb");
    if (!f) {
        diag_error(d, file_loc(d, s->path, 0, 0, 0), "cannot open sequence file: %s", strerror(errno));
        data_note(ds, d);
        return -1;
    }
    int64_t line_no = 0, n = 0;
    size_t len = 0;
    int64_t got;
    while ((got = csv_read_line(f, &s->line, &s->line_cap, &len, ds)) > 0) {
        line_no++;
        if (line_no <= s->header || csv_blank(s->line, len))
            continue;
        n = 1;
        for (size_t i = 0; i < len; i++)
            n += s->line[i] == s->delim;
        break;
    }
    int read_errno = errno;
    fclose(f);
    if (got < 0)
        return csv_report_read(ds, s->path, line_no + 1, read_errno, d);
    if (csv_check_fields(ds, s->path, line_no, n, d) != 0)
        return -1;
    if (n == 0) {
        diag_error(d, file_loc(d, s->path, 0, 0, 0), "the file has no rows%s",
                   s->header ? " after its header lines" : "");
        data_note(ds, d);
        return -1;
    }
    return n;
}

static int seq_fill(dataset *ds, const int64_t *ids, int64_t n, batch *b, diag_ctx *d)
{
    seq_impl *s = ds->impl;
    int64_t T = 0;
    bool ragged = false, unlabelled = false;
    for (int64_t i = 0; i < n; i++) {
        int64_t ft = s->steps[2 * ids[i]], lt = s->steps[2 * ids[i] + 1];
        int64_t m = ft > lt ? ft : lt;
        if (m > T)
            T = m;
    }
    for (int64_t i = 0; i < n; i++) {
        ragged |= s->steps[2 * ids[i]] != T;
        unlabelled |= s->steps[2 * ids[i] + 1] != T;
    }
    if (tensor_alloc3(&b->x, T, n, ds->features) != 0 || tensor_alloc3(&b->y, T, n, ds->outputs) != 0 ||
        (ragged && tensor_alloc2(&b->mask, T, n) != 0) ||
        ((ragged || unlabelled) && tensor_alloc2(&b->label_mask, T, n) != 0)) {
        diag_error(d, ds->loc, "out of memory for a batch of %lld sequences of %lld steps", (long long)n, (long long)T);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t id = ids[i], seq = s->first + id;
        int64_t ft = s->steps[2 * id], lt = s->steps[2 * id + 1];
        int64_t f0 = s->align == ALIGN_END ? T - ft : 0;
        int64_t l0 = s->align == ALIGN_END ? T - lt : 0;
        if (b->mask.data)
            for (int64_t t = f0; t < f0 + ft; t++)
                b->mask.data[t * n + i] = 1.0f;
        if (b->label_mask.data)
            for (int64_t t = l0; t < l0 + lt; t++)
                b->label_mask.data[t * n + i] = 1.0f;
        sink fs = {b, i, f0, n};
        int64_t cols = s->ncols;
        if (expand(ds, s, s->feat_pattern, seq) != 0) {
            diag_error(d, ds->loc, "out of memory");
            return -1;
        }
        int64_t rows = scan_file(ds, s, false, &cols, &fs, d);
        if (rows < 0)
            return -1;
        if (rows != ft)
            goto changed;
        if (s->label_pattern) {
            sink ls = {b, i, l0, n};
            cols = s->lcols;
            if (expand(ds, s, s->label_pattern, seq) != 0) {
                diag_error(d, ds->loc, "out of memory");
                return -1;
            }
            rows = scan_file(ds, s, true, &cols, &ls, d);
            if (rows < 0)
                return -1;
            if (rows != lt)
                goto changed;
        }
    }
    return 0;
changed:
    diag_error(d, file_loc(d, s->path, 0, 0, 0),
               "the file changed after it was checked (was it written while being read?)");
    data_note(ds, d);
    return -1;
}

static int seq_hash(dataset *ds, XXH3_state_t *h, diag_ctx *d)
{
    seq_impl *s = ds->impl;
    for (int64_t i = s->first; i <= s->last; i++) {
        const char *pats[2] = {s->feat_pattern, s->label_pattern};
        for (int k = 0; k < 2; k++) {
            if (!pats[k])
                continue;
            if (expand(ds, s, pats[k], i) != 0) {
                diag_error(d, ds->loc, "out of memory");
                return -1;
            }
            if (hash_file(h, s->path, d, file_loc(d, s->path, 0, 0, 0)) != 0)
                return -1;
        }
    }
    return 0;
}

static const data_reader seq_reader = {seq_fill, seq_hash, seq_close};

/* first/last: whole numbers >= 0. */
static int index_arg(const data_spec *spec, const char *name, int position, int64_t *out, diag_ctx *d)
{
    const conf_value *v = src_arg(spec, name, position);
    if (!v) {
        diag_error(d, spec->source->loc, "csv_sequence(...) needs %s = N (the %s sequence number)", name, name);
        return -1;
    }
    if (v->kind != CV_NUM || v->num < 0 || v->num != (double)(int64_t)v->num) {
        diag_error(d, v->loc, "`%s` must be a whole number >= 0", name);
        return -1;
    }
    *out = (int64_t)v->num;
    return 0;
}

int csv_sequence_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe)
{
    seq_impl *s = calloc(1, sizeof *s);
    if (!s) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    ds->impl = s;
    ds->ops = &seq_reader;
    ds->sequence = true;
    int64_t limit = -1;
    const char *delim = ",";
    int align = -1;
    s->label_col = -1;
    int err = data_common_options(ds, spec, true, false, &limit, d);
    err |= opt_int(spec, "classes", 2, -1, &ds->classes, d);
    err |= opt_int(spec, "label", 0, -1, &s->label_col, d);
    err |= opt_int(spec, "header", 0, -1, &s->header, d);
    err |= opt_string(spec, "delimiter", &delim, d);
    err |= opt_ident(spec, "align", align_names, 3, &align, d);
    err |= opt_bool(spec, "per_sequence", &s->per_sequence, d);
    const conf_arg *dl = data_opt(spec, "delimiter");
    if (dl && dl->value->kind == CV_STR && strlen(delim) != 1) {
        diag_error(d, dl->value->loc, "`delimiter` must be a single character, such as \",\" or \"\\t\"");
        err = -1;
    }
    err |= index_arg(spec, "first", 2, &s->first, d);
    err |= index_arg(spec, "last", 3, &s->last, d);
    if (!err && s->last < s->first) {
        diag_error(d, src_arg(spec, "last", 3)->loc, "last = %lld comes before first = %lld",
                   (long long)s->last, (long long)s->first);
        err = -1;
    }
    s->feat_pattern = src_path_arg(spec, "pattern", 0, "the sequence file pattern", d);
    if (!s->feat_pattern || check_pattern(s->feat_pattern, src_arg(spec, "pattern", 0), d) != 0)
        err = -1;
    const conf_value *lv = src_arg(spec, "labels", 1);
    if (lv) {
        s->label_pattern = src_path_arg(spec, "labels", 1, "the label file pattern", d);
        if (!s->label_pattern || check_pattern(s->label_pattern, lv, d) != 0)
            err = -1;
        const conf_arg *la = data_opt(spec, "label");
        if (la) {
            diag_error(d, la->name_loc, "`label` names a column of the sequence files; with labels = \"...\" the labels come from their own files");
            err = -1;
        }
    }
    if (s->per_sequence) {
        if (!lv) {
            diag_error(d, data_opt(spec, "per_sequence")->value->loc,
                       "per_sequence = true needs labels = \"PATTERN\" (one label row per sequence)");
            err = -1;
        }
        if (align == ALIGN_EQUAL) {
            diag_error(d, data_opt(spec, "align")->value->loc,
                       "per_sequence labels are one step long: use align = end (the default) or start");
            err = -1;
        }
        if (align < 0)
            align = ALIGN_END;
    }
    if (err)
        return -1;
    s->align = align < 0 ? ALIGN_EQUAL : align;
    ds->align_end = s->align == ALIGN_END;
    s->delim = delim[0];
    s->classify = ds->classes > 0;
    int64_t count = s->last - s->first + 1;

    /* Columns from the first sequence's files. */
    if (expand(ds, s, s->feat_pattern, s->first) != 0) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    s->ncols = first_row_width(ds, s, d);
    if (s->ncols < 0)
        return -1;
    if (s->label_pattern) {
        ds->features = s->ncols;
        if (expand(ds, s, s->label_pattern, s->first) != 0) {
            diag_error(d, spec->loc, "out of memory");
            return -1;
        }
        s->lcols = first_row_width(ds, s, d);
        if (s->lcols < 0)
            return -1;
        if (s->classify && s->lcols != 1) {
            diag_error(d, file_loc(d, s->path, s->header + 1, 1, 0),
                       "a label file holds one class index per row; this one has %lld columns", (long long)s->lcols);
            data_note(ds, d);
            return -1;
        }
        ds->outputs = s->classify ? ds->classes : s->lcols;
    } else {
        if (s->label_col < 0)
            s->label_col = s->ncols - 1;
        if (s->label_col >= s->ncols) {
            const conf_arg *la = data_opt(spec, "label");
            diag_error(d, la ? la->value->loc : spec->loc, "label = %lld, but %s has %lld column%s",
                       (long long)s->label_col, s->path, (long long)s->ncols, s->ncols == 1 ? "" : "s");
            return -1;
        }
        ds->features = s->ncols - 1;
        ds->outputs = s->classify ? ds->classes : 1;
        if (ds->features < 1) {
            diag_error(d, file_loc(d, s->path, s->header + 1, 1, 0),
                       "no feature columns: the only column is the label (add labels = \"PATTERN\")");
            data_note(ds, d);
            return -1;
        }
    }
    ds->count = count;
    data_setting(ds, "first=%lld", (long long)s->first);
    data_setting(ds, "last=%lld", (long long)s->last);
    data_setting(ds, "classes=%lld", (long long)ds->classes);
    data_setting(ds, "label=%lld", (long long)s->label_col);
    data_setting(ds, "labels=%d", s->label_pattern != NULL);
    data_setting(ds, "header=%lld", (long long)s->header);
    data_setting(ds, "delimiter=%d", s->delim);
    data_setting(ds, "align=%s", align_names[s->align]);
    data_setting(ds, "per_sequence=%d", s->per_sequence);
    if (probe)
        return 0;

    /* The validating pass: every file exists and is well formed; step counts recorded. */
    size_t steps_cap = 0;
    if (data_grow(ds, (void **)&s->steps, &steps_cap, (size_t)count * 2 * sizeof(int64_t)) != 0) {
        diag_error(d, spec->loc, "out of memory for %lld sequences", (long long)count);
        return -1;
    }
    ds->index_bytes = steps_cap;
    bool uniform = true;
    for (int64_t i = 0; i < count; i++) {
        int64_t cols = s->ncols;
        if (expand(ds, s, s->feat_pattern, s->first + i) != 0) {
            diag_error(d, spec->loc, "out of memory");
            return -1;
        }
        int64_t ft = scan_file(ds, s, false, &cols, NULL, d);
        if (ft < 0)
            return -1;
        int64_t lt = ft;
        if (s->label_pattern) {
            char *feat = strdup(s->path);
            if (!feat) {
                diag_error(d, spec->loc, "out of memory");
                return -1;
            }
            cols = s->lcols;
            if (expand(ds, s, s->label_pattern, s->first + i) != 0) {
                free(feat);
                diag_error(d, spec->loc, "out of memory");
                return -1;
            }
            lt = scan_file(ds, s, true, &cols, NULL, d);
            if (lt >= 0 && s->align == ALIGN_EQUAL && lt != ft) {
                diag_error(d, file_loc(d, s->path, 0, 0, 0),
                           "has %lld label row%s but %s has %lld step%s; align = equal needs as many labels as steps (or use align = start or end)",
                           (long long)lt, lt == 1 ? "" : "s", feat, (long long)ft, ft == 1 ? "" : "s");
                data_note(ds, d);
                lt = -1;
            }
            free(feat);
            if (lt < 0)
                return -1;
        }
        s->steps[2 * i] = ft;
        s->steps[2 * i + 1] = lt;
        uniform = uniform && ft == s->steps[0] && lt == s->steps[1];
    }
    /* Batches pad only when sequences differ in their feature or label rows. */
    ds->steps = uniform ? (s->steps[0] > s->steps[1] ? s->steps[0] : s->steps[1]) : 0;
    return 0;
}
