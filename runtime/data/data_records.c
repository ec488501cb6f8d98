/* data_records.c: what the data readers share: places in data files, the settings that enter
 * the hash, memory accounting, the CSV record parser, class label checks and file hashing. */
#include "runtime/data/data_impl.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/limits.h"

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
    size_t n = 0;
    int c = 0;
    errno = 0;
    /* byte by byte, so that a line past the limit never reaches the allocator */
    while ((c = getc_unlocked(f)) != EOF) {
        if (n > LIMIT_CSV_LINE_BYTES) {   /* the newline may follow the limit's last byte */
            errno = EFBIG;
            return -1;
        }
        if (n + 2 > *cap) {
            size_t nc = *cap ? 2 * *cap : 256;
            if (nc > (size_t)LIMIT_CSV_LINE_BYTES + 2)
                nc = (size_t)LIMIT_CSV_LINE_BYTES + 2;
            char *p = realloc(*buf, nc);
            if (!p)
                return -1;
            data_hold(ds, (int64_t)(nc - *cap));
            *buf = p;
            *cap = nc;
        }
        (*buf)[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (ferror(f))
        return -1;
    if (n == 0)
        return 0;
    size_t l = n;
    if (l && (*buf)[l - 1] == '\n')
        l--;
    if (l && (*buf)[l - 1] == '\r')
        l--;
    (*buf)[l] = '\0';
    *len = l;
    return (int64_t)n;
}

void csv_read_problem(int err, char *msg, size_t len)
{
    if (err == EFBIG)
        snprintf(msg, len, "a line longer than %d MiB (the limit on a CSV line)",
                 LIMIT_CSV_LINE_BYTES >> 20);
    else
        snprintf(msg, len, "read error: %s", strerror(err ? err : EIO));
}

int csv_report_read(dataset *ds, const char *path, int64_t line, int err, diag_ctx *d)
{
    char msg[128];
    csv_read_problem(err, msg, sizeof msg);
    diag_error(d, file_loc(d, path, line, 1, 0), "%s", msg);
    data_note(ds, d);
    return -1;
}

int csv_check_fields(dataset *ds, const char *path, int64_t line, int64_t fields, diag_ctx *d)
{
    if (fields <= LIMIT_CSV_FIELDS)
        return 0;
    diag_error(d, file_loc(d, path, line, 1, 0), "%lld fields, over the limit of %d fields in a "
               "CSV record", (long long)fields, LIMIT_CSV_FIELDS);
    data_note(ds, d);
    return -1;
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
