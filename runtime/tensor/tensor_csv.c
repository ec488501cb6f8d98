/* tensor_csv.c: reading numeric CSV files into tensors (errors at file:line:col) and writing
 * tensors as CSV. */
#include "runtime/tensor/tensor_csv.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"

static src_loc at(const char *file, int64_t line, size_t col, size_t len)
{
    src_loc l = {file, (int)line, (int)col + 1, (int)(len ? len : 1)};
    return l;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

int tensor_csv_read(const char *path, int header_lines, char delim, tensor *out,
                    struct diag_ctx *d)
{
    tensor_release(out);
    const char *file = d ? diag_intern_path(d, path) : path;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (d)
            diag_error(d, at(file, 0, 0, 0), "cannot open: %s", strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0, rows = 0, cols = -1;
    float *vals = NULL;
    size_t n_vals = 0, cap_vals = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (lineno == 1 && len >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) {
            memmove(line, line + 3, (size_t)len - 2);    /* a UTF-8 byte-order mark */
            len -= 3;
        }
        if (lineno <= header_lines || blank(line))
            continue;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        int64_t fields = 0;
        char *p = line;
        for (;;) {
            char *start = p;
            char *end = strchr(p, delim);
            if (!end)
                end = line + len;
            char *a = start, *b = end;
            while (a < b && (*a == ' ' || *a == '\t'))
                a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                b--;
            if (b - a >= 2 && *a == '"' && b[-1] == '"') {
                a++;
                b--;
            }
            char saved = *b;
            *b = 0;
            char *stop;
            errno = 0;
            double v = a < b ? strtod(a, &stop) : 0;
            bool ok = a < b && stop == b && isfinite(v) && fabs(v) <= 3.4028234663852886e38;
            if (!ok) {
                if (d) {
                    if (a == b)
                        diag_error(d, at(file, lineno, (size_t)(a - line), 1),
                                   "field %" PRId64 " is empty (expected a number)", fields + 1);
                    else if (stop == b && isfinite(v))
                        diag_error(d, at(file, lineno, (size_t)(a - line), (size_t)(b - a)),
                                   "field %" PRId64 " '%s' is outside the float32 range", fields + 1, a);
                    else
                        diag_error(d, at(file, lineno, (size_t)(a - line), (size_t)(b - a)),
                                   "field %" PRId64 " '%s' is not a finite number", fields + 1, a);
                }
                rc = -1;
                break;
            }
            *b = saved;
            if (n_vals == cap_vals) {
                size_t nc = cap_vals ? cap_vals * 2 : 1024;
                float *nv = realloc(vals, nc * sizeof *nv);
                if (!nv) {
                    if (d)
                        diag_error(d, at(file, lineno, 0, 0), "out of memory");
                    rc = -1;
                    break;
                }
                vals = nv;
                cap_vals = nc;
            }
            vals[n_vals++] = (float)v;
            fields++;
            if (end == line + len)
                break;
            p = end + 1;
        }
        if (rc)
            break;
        if (cols < 0) {
            cols = fields;
        } else if (fields != cols) {
            if (d)
                diag_error(d, at(file, lineno, 0, (size_t)len),
                           "%" PRId64 " fields, but the first row has %" PRId64, fields, cols);
            rc = -1;
            break;
        }
        rows++;
    }
    if (!rc && ferror(fp)) {
        if (d)
            diag_error(d, at(file, 0, 0, 0), "read error: %s", strerror(errno));
        rc = -1;
    }
    if (!rc && rows == 0) {
        if (d)
            diag_error(d, at(file, 0, 0, 0), "no data rows");
        rc = -1;
    }
    free(line);
    fclose(fp);
    if (!rc && tensor_alloc2(out, rows, cols) != 0) {
        if (d)
            diag_error(d, at(file, 0, 0, 0), "out of memory");
        rc = -1;
    }
    if (!rc)
        memcpy(out->data, vals, n_vals * sizeof *vals);
    free(vals);
    return rc;
}

char *tensor_csv_format_float(float f, char *buf, size_t n)
{
    if (isnan(f)) {
        snprintf(buf, n, "nan");
        return buf;
    }
    if (isinf(f)) {
        snprintf(buf, n, f < 0 ? "-inf" : "inf");
        return buf;
    }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    return buf;
}

static bool put_row(FILE *fp, const float *v, int64_t n, char delim, const char *prefix)
{
    char num[32];
    if (prefix && fputs(prefix, fp) == EOF)
        return false;
    for (int64_t j = 0; j < n; j++) {
        if (j && fputc(delim, fp) == EOF)
            return false;
        if (fputs(tensor_csv_format_float(v[j], num, sizeof num), fp) == EOF)
            return false;
    }
    return fputc('\n', fp) != EOF;
}

int tensor_csv_write(FILE *fp, const tensor *t, char delim)
{
    int64_t rows = t->ndim >= 1 ? t->shape[0] : 1;
    int64_t cols = t->ndim >= 2 ? t->size / (rows ? rows : 1) : 1;
    for (int64_t i = 0; i < rows; i++)
        if (!put_row(fp, t->data + i * cols, cols, delim, NULL))
            return -1;
    return 0;
}

int tensor_csv_write_seq(FILE *fp, const tensor *t, char delim)
{
    int64_t B = t->shape[0], T = t->shape[1], F = t->shape[2];
    char prefix[64];
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < T; s++) {
            snprintf(prefix, sizeof prefix, "%" PRId64 "%c%" PRId64 "%c", b, delim, s, delim);
            if (!put_row(fp, t->data + (b * T + s) * F, F, delim, prefix))
                return -1;
        }
    return 0;
}
