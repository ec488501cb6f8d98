/* data_csv.c: the csv(PATH) source: one example per record, a label column (one-hot classes) or
 * regression targets, read through a byte-offset index so memory stays bounded. */
#include "runtime/data/data_impl.h"

#include "runtime/base/limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_impl {
    char *path;
    FILE *f;
    char delim;
    int64_t label, label_count, ncols;
    bool classify;
    int64_t *offsets;        /* byte offset of each record, then the end of the last (the index) */
    size_t offsets_cap;      /* bytes */
    char *line;
    size_t line_cap;
    double *vals;
    size_t vals_cap;         /* bytes */
} csv_impl;

static void csv_close(dataset *ds)
{
    csv_impl *c = ds->impl;
    if (!c)
        return;
    if (c->f)
        fclose(c->f);
    free(c->path);
    free(c->offsets);
    free(c->line);
    free(c->vals);
    free(c);
    ds->impl = NULL;
}

static int csv_hash(dataset *ds, XXH3_state_t *h, diag_ctx *d)
{
    csv_impl *c = ds->impl;
    return hash_file(h, c->path, d, file_loc(d, c->path, 0, 0, 0));
}

/* Copies one parsed record (vals[0..ncols)) into row i of x and y. */
static void put_record(const dataset *ds, const csv_impl *c, int64_t i, batch *b)
{
    float *x = b->x.data + i * ds->features;
    float *y = b->y.data + i * ds->outputs;
    int64_t lab_end = c->label + (c->classify ? 1 : c->label_count);
    int64_t f = 0;
    for (int64_t j = 0; j < c->ncols; j++) {
        if (j >= c->label && j < lab_end)
            continue;
        x[f++] = (float)c->vals[j];
    }
    if (c->classify)
        y[(int64_t)c->vals[c->label]] = 1.0f;
    else
        for (int64_t k = 0; k < c->label_count; k++)
            y[k] = (float)c->vals[c->label + k];
}

/* Records read with one read call at most (a longer single record is read whole). */
#define CSV_RUN_BYTES 16384

static int csv_fill(dataset *ds, const int64_t *ids, int64_t n, batch *b, diag_ctx *d)
{
    csv_impl *c = ds->impl;
    if (tensor_alloc2(&b->x, n, ds->features) != 0 || tensor_alloc2(&b->y, n, ds->outputs) != 0) {
        diag_error(d, ds->loc, "out of memory for a batch of %lld examples", (long long)n);
        return -1;
    }
    for (int64_t a = 0; a < n;) {
        /* a run of consecutive records, read at once */
        int64_t e = a + 1;
        while (e < n && ids[e] == ids[e - 1] + 1 &&
               c->offsets[ids[e] + 1] - c->offsets[ids[a]] <= CSV_RUN_BYTES)
            e++;
        int64_t off = c->offsets[ids[a]], bytes = c->offsets[ids[e - 1] + 1] - off;
        if (data_grow(ds, (void **)&c->line, &c->line_cap, (size_t)bytes + 1) != 0) {
            diag_error(d, ds->loc, "out of memory");
            return -1;
        }
        if (read_at(c->f, off, c->line, (size_t)bytes) != 0) {
            diag_error(d, file_loc(d, c->path, 0, 0, 0),
                       "cannot read record %lld (was the file changed while it was being read?)",
                       (long long)ids[a] + 1);
            return -1;
        }
        for (int64_t i = a; i < e; i++) {
            char *rec = c->line + (c->offsets[ids[i]] - off);
            size_t len = 0, room = (size_t)(c->offsets[ids[i] + 1] - c->offsets[ids[i]]);
            while (len < room && rec[len] != '\n')
                len++;
            if (len && rec[len - 1] == '\r')
                len--;
            csv_error err;
            int64_t fields = csv_parse(rec, len, c->delim, c->vals, c->ncols, &err);
            if (fields != c->ncols ||
                (c->classify && check_class_label(c->vals[c->label], ds->classes, &err) != 0)) {
                diag_error(d, file_loc(d, c->path, 0, 0, 0),
                           "record %lld changed after it was checked (was the file changed while it was being read?)",
                           (long long)ids[i] + 1);
                return -1;
            }
            put_record(ds, c, i, b);
        }
        a = e;
    }
    return 0;
}

static const data_reader csv_reader = {csv_fill, csv_hash, csv_close};

static int64_t count_fields(const char *s, size_t len, char delim)
{
    int64_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += s[i] == delim;
    return n;
}

/* Decides the label columns from the first record's column count. */
static int settle_columns(dataset *ds, csv_impl *c, const data_spec *spec, bool label_given,
                          int64_t line_no, diag_ctx *d)
{
    int64_t width = c->classify ? 1 : c->label_count;
    if (!label_given)
        c->label = c->ncols - width;
    if (c->label < 0 || c->label + width > c->ncols) {
        const conf_arg *a = data_opt(spec, label_given ? "label" : "label_count");
        src_loc at = a ? a->value->loc : spec->loc;
        if (c->classify)
            diag_error(d, at, "label = %lld, but %s has %lld column%s (line %lld)", (long long)c->label,
                       c->path, (long long)c->ncols, c->ncols == 1 ? "" : "s", (long long)line_no);
        else
            diag_error(d, at, "the %lld target column%s from label = %lld do not fit the %lld column%s of %s (line %lld)",
                       (long long)width, width == 1 ? "" : "s", (long long)c->label, (long long)c->ncols,
                       c->ncols == 1 ? "" : "s", c->path, (long long)line_no);
        return -1;
    }
    ds->features = c->ncols - width;
    if (ds->features < 1) {
        diag_error(d, file_loc(d, c->path, line_no, 1, 0),
                   "no feature columns: the record has %lld column%s and %lld of them %s labels",
                   (long long)c->ncols, c->ncols == 1 ? "" : "s", (long long)width, width == 1 ? "is" : "are");
        data_note(ds, d);
        return -1;
    }
    ds->outputs = c->classify ? ds->classes : c->label_count;
    return 0;
}

int csv_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe)
{
    int64_t limit = -1, header = 0;
    const char *delim = ",";
    csv_impl *c = calloc(1, sizeof *c);
    if (!c) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    ds->impl = c;
    ds->ops = &csv_reader;
    c->label = -1;
    c->label_count = 1;
    int err = data_common_options(ds, spec, true, true, &limit, d);
    err |= opt_int(spec, "label", 0, -1, &c->label, d);
    err |= opt_int(spec, "classes", 2, -1, &ds->classes, d);
    err |= opt_int(spec, "label_count", 1, -1, &c->label_count, d);
    err |= opt_int(spec, "header", 0, -1, &header, d);
    err |= opt_string(spec, "delimiter", &delim, d);
    const conf_arg *dl = data_opt(spec, "delimiter");
    if (dl && dl->value->kind == CV_STR && strlen(delim) != 1) {
        diag_error(d, dl->value->loc, "`delimiter` must be a single character, such as \",\" or \"\\t\"");
        err = -1;
    }
    const conf_arg *lc = data_opt(spec, "label_count");
    if (lc && ds->classes) {
        diag_error(d, lc->name_loc, "`label_count` is for regression targets; with `classes` the label is one column");
        err = -1;
    }
    c->path = src_path_arg(spec, "path", 0, "the CSV file", d);
    if (err || !c->path)
        return -1;
    c->delim = delim[0];
    c->classify = ds->classes > 0;
    bool label_given = data_opt(spec, "label") != NULL;
    const conf_value *pv = src_arg(spec, "path", 0);

    c->f = fopen(c->path, "rb");
    if (!c->f) {
        diag_error(d, pv->loc, "cannot open '%s': %s", c->path, strerror(errno));
        return -1;
    }
    int64_t line_no = 0, offset = 0, first_line = 0;
    size_t len = 0;
    for (int64_t h = 0; h < header; h++) {
        int64_t got = csv_read_line(c->f, &c->line, &c->line_cap, &len, ds);
        if (got <= 0) {
            diag_error(d, data_opt(spec, "header")->value->loc, "header = %lld, but %s has only %lld line%s",
                       (long long)header, c->path, (long long)line_no, line_no == 1 ? "" : "s");
            return -1;
        }
        line_no++;
        offset += got;
    }
    int64_t count = 0;
    for (;;) {
        int64_t got = csv_read_line(c->f, &c->line, &c->line_cap, &len, ds);
        if (got < 0)
            return csv_report_read(ds, c->path, line_no + 1, errno, d);
        if (got == 0)
            break;
        line_no++;
        int64_t rec_off = offset;
        offset += got;
        if (csv_blank(c->line, len))
            continue;
        if (count == 0) {
            c->ncols = count_fields(c->line, len, c->delim);
            first_line = line_no;
            if (csv_check_fields(ds, c->path, line_no, c->ncols, d) != 0)
                return -1;
            if (data_grow(ds, (void **)&c->vals, &c->vals_cap, (size_t)c->ncols * sizeof(double)) != 0) {
                diag_error(d, spec->loc, "out of memory");
                return -1;
            }
            if (settle_columns(ds, c, spec, label_given, line_no, d) != 0)
                return -1;
        }
        csv_error e;
        int64_t fields = csv_parse(c->line, len, c->delim, c->vals, c->ncols, &e);
        if (fields < 0) {
            diag_error(d, file_loc(d, c->path, line_no, e.col, e.len), "%s", e.msg);
            data_note(ds, d);
            if (count == 0 && strstr(e.msg, "not a number"))
                diag_note(d, spec->loc, "if line %lld is a header, skip it with `header = %lld`", (long long)line_no,
                          (long long)line_no);
            return -1;
        }
        if (fields != c->ncols) {
            diag_error(d, file_loc(d, c->path, line_no, 1, (int64_t)len),
                       "expected %lld fields (as on line %lld), found %lld", (long long)c->ncols,
                       (long long)first_line, (long long)fields);
            data_note(ds, d);
            return -1;
        }
        if (c->classify && check_class_label(c->vals[c->label], ds->classes, &e) != 0) {
            int64_t col, flen;
            csv_field_span(c->line, len, c->delim, c->label, &col, &flen);
            diag_error(d, file_loc(d, c->path, line_no, col, flen), "%s", e.msg);
            data_note(ds, d);
            return -1;
        }
        if (probe) {
            count = 1;
            break;
        }
        if (data_grow(ds, (void **)&c->offsets, &c->offsets_cap, (size_t)(count + 2) * sizeof(int64_t)) != 0) {
            diag_error(d, spec->loc, "out of memory");
            return -1;
        }
        c->offsets[count++] = rec_off;
        c->offsets[count] = offset;
        if (limit > 0 && count == limit)
            break;
    }
    if (count == 0) {
        diag_error(d, pv->loc, "'%s' has no records%s", c->path, header ? " after its header lines" : "");
        return -1;
    }
    ds->count = count;
    size_t exact = (size_t)(count + 1) * sizeof(int64_t);
    if (!probe && c->offsets_cap > exact) {   /* trim the index */
        int64_t *t = realloc(c->offsets, exact);
        if (t) {
            data_hold(ds, -(int64_t)(c->offsets_cap - exact));
            c->offsets = t;
            c->offsets_cap = exact;
        }
    }
    ds->index_bytes = c->offsets_cap;
    data_setting(ds, "label=%lld", (long long)c->label);
    data_setting(ds, "classes=%lld", (long long)ds->classes);
    data_setting(ds, "label_count=%lld", (long long)c->label_count);
    data_setting(ds, "header=%lld", (long long)header);
    data_setting(ds, "delimiter=%d", c->delim);
    data_setting(ds, "limit=%lld", (long long)limit);
    return 0;
}
