/* npy.c: NumPy .npy reading (header dictionary parsed, dtype converted) and float32 writing. */
#include "runtime/tensor/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/base/checked.h"
#include "runtime/base/limits.h"
#include "runtime/base/atomic_file.h"

#define NPY_NAME_ITEM(e, s, n) s,
#define NPY_SIZE_ITEM(e, s, n) n,
const char *const npy_dtype_names[NPY_DTYPE_COUNT] = {NPY_DTYPES(NPY_NAME_ITEM)};
static const int npy_dtype_sizes[NPY_DTYPE_COUNT] = {NPY_DTYPES(NPY_SIZE_ITEM)};
#undef NPY_NAME_ITEM
#undef NPY_SIZE_ITEM

static void fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ---- the header dictionary: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } ---- */

typedef struct dict_parser {
    const char *p, *end;
} dict_parser;

static void skip_ws(dict_parser *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
        d->p++;
}

static bool eat(dict_parser *d, char c)
{
    skip_ws(d);
    if (d->p < d->end && *d->p == c) {
        d->p++;
        return true;
    }
    return false;
}

/* A quoted Python string (no escapes are needed by any key or dtype); copies at most n-1. */
static bool parse_pystr(dict_parser *d, char *out, size_t n)
{
    skip_ws(d);
    if (d->p >= d->end || (*d->p != '\'' && *d->p != '"'))
        return false;
    char q = *d->p++;
    const char *s = d->p;
    while (d->p < d->end && *d->p != q)
        d->p++;
    if (d->p >= d->end)
        return false;
    size_t len = (size_t)(d->p - s);
    d->p++;
    if (len >= n)
        len = n - 1;
    memcpy(out, s, len);
    out[len] = 0;
    return true;
}

static bool parse_word(dict_parser *d, const char *w)
{
    skip_ws(d);
    size_t n = strlen(w);
    if ((size_t)(d->end - d->p) >= n && !memcmp(d->p, w, n)) {
        d->p += n;
        return true;
    }
    return false;
}

static int parse_header(npy_file *f, const char *h, size_t n, char *err, size_t err_len)
{
    dict_parser d = {h, h + n};
    bool have_descr = false, have_order = false, have_shape = false;
    char descr[64] = "";
    if (!eat(&d, '{'))
        goto malformed;
    for (;;) {
        if (eat(&d, '}'))
            break;
        char key[32];
        if (!parse_pystr(&d, key, sizeof key) || !eat(&d, ':'))
            goto malformed;
        if (!strcmp(key, "descr")) {
            skip_ws(&d);
            if (d.p < d.end && *d.p == '[') {
                fail(err, err_len, "%s: structured (record) arrays are not supported; save a plain numeric array",
                     f->path);
                return -1;
            }
            if (!parse_pystr(&d, descr, sizeof descr))
                goto malformed;
            have_descr = true;
        } else if (!strcmp(key, "fortran_order")) {
            if (parse_word(&d, "False")) {
                have_order = true;
            } else if (parse_word(&d, "True")) {
                fail(err, err_len, "%s: Fortran-order arrays are not supported; save with "
                     "np.ascontiguousarray(x) (C order)", f->path);
                return -1;
            } else {
                goto malformed;
            }
        } else if (!strcmp(key, "shape")) {
            if (!eat(&d, '('))
                goto malformed;
            f->ndim = 0;
            for (;;) {
                if (eat(&d, ')'))
                    break;
                skip_ws(&d);
                int64_t v = 0;
                const char *s = d.p;
                while (d.p < d.end && *d.p >= '0' && *d.p <= '9') {
                    if (v > (INT64_MAX - 9) / 10) {
                        fail(err, err_len, "%s: a dimension of the shape overflows", f->path);
                        return -1;
                    }
                    v = v * 10 + (*d.p++ - '0');
                }
                if (d.p == s)
                    goto malformed;
                if (d.p < d.end && *d.p == 'L')
                    d.p++;
                if (f->ndim == NPY_MAX_DIMS) {
                    fail(err, err_len, "%s: more than %d dimensions", f->path, NPY_MAX_DIMS);
                    return -1;
                }
                f->shape[f->ndim++] = v;
                if (!eat(&d, ',')) {
                    if (!eat(&d, ')'))
                        goto malformed;
                    break;
                }
            }
            have_shape = true;
        } else {
            goto malformed;
        }
        if (!eat(&d, ',')) {
            if (!eat(&d, '}'))
                goto malformed;
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        goto malformed;

    /* The dtype: byte order, kind, size. */
    char order = descr[0];
    const char *ts = descr + 1;
    if (order != '<' && order != '>' && order != '|' && order != '=') {
        order = '=';
        ts = descr;
    }
    int found = -1;
    for (int i = 0; i < NPY_DTYPE_COUNT; i++)
        if (!strcmp(ts, npy_dtype_names[i]))
            found = i;
    if (found < 0) {
        const char *what = strchr("OSUaV", ts[0]) && ts[0] ? "object, string or void"
                           : ts[0] == 'c'                    ? "complex"
                           : ts[0] == 'M' || ts[0] == 'm'    ? "date/time"
                                                             : "unsupported";
        fail(err, err_len, "%s: dtype '%s' is %s; use a numeric array (float32/float64 or "
             "integers)", f->path, descr, what);
        return -1;
    }
    f->dtype = (npy_dtype)found;
    f->itemsize = npy_dtype_sizes[found];
    if (f->itemsize > 1 && order == '>') {
        fail(err, err_len, "%s: dtype '%s' is big-endian; convert with x.astype(x.dtype.newbyteorder('<'))",
             f->path, descr);
        return -1;
    }
    if (f->itemsize > 1 && order != '<') {
        fail(err, err_len, "%s: dtype '%s' has no explicit little-endian byte order", f->path, descr);
        return -1;
    }
    return 0;
malformed:
    fail(err, err_len, "%s: malformed .npy header dictionary: %.*s", f->path,
         (int)(n > 120 ? 120 : n), h);
    return -1;
}

npy_file *npy_open(const char *path, char *err, size_t err_len)
{
    npy_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        fail(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    char *h = NULL;
    f->fp = fopen(path, "rb");
    if (!f->fp) {
        fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f->fp);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fail(err, err_len, "%s: not a .npy file (no \\x93NUMPY magic)", path);
        goto fail;
    }
    unsigned major = pre[6];
    uint64_t hlen;
    long hstart;
    if (major == 1) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f->fp) != 2) {
            fail(err, err_len, "%s: truncated .npy header", path);
            goto fail;
        }
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
               (uint64_t)pre[11] << 24;
        hstart = 12;
    } else {
        fail(err, err_len, "%s: .npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)",
             path, major, pre[7]);
        goto fail;
    }
    if (hlen > LIMIT_NPY_HEADER_BYTES) {
        fail(err, err_len, "%s: .npy header length %" PRIu64 " is over the limit of %u bytes",
             path, hlen, LIMIT_NPY_HEADER_BYTES);
        goto fail;
    }
    h = malloc((size_t)hlen + 1);
    if (!h) {
        fail(err, err_len, "%s: out of memory", path);
        goto fail;
    }
    if (fread(h, 1, (size_t)hlen, f->fp) != (size_t)hlen) {
        fail(err, err_len, "%s: truncated .npy header", path);
        goto fail;
    }
    h[hlen] = 0;
    if (parse_header(f, h, (size_t)hlen, err, err_len))
        goto fail;
    free(h);
    h = NULL;
    f->data_offset = hstart + (long)hlen;
    f->count = 1;
    f->row_elems = 1;
    for (int i = 0; i < f->ndim; i++)
        if (!checked_mul(f->count, f->shape[i], &f->count) || f->count > INT64_MAX / 8 ||
            (i > 0 && (!checked_mul(f->row_elems, f->shape[i], &f->row_elems) ||
                       f->row_elems > INT64_MAX / 8))) {
            fail(err, err_len, "%s: the element count of the shape overflows", path);
            goto fail;
        }
    f->rows = f->ndim ? f->shape[0] : 1;
    struct stat sb;
    if (fstat(fileno(f->fp), &sb) == 0) {
        uint64_t need = (uint64_t)f->data_offset + (uint64_t)f->count * (uint64_t)f->itemsize;
        if ((uint64_t)sb.st_size < need) {
            fail(err, err_len, "%s: truncated: the header's shape needs %" PRIu64
                 " bytes of data, the file has %" PRIu64, path,
                 need - (uint64_t)f->data_offset,
                 (uint64_t)sb.st_size > (uint64_t)f->data_offset
                     ? (uint64_t)sb.st_size - (uint64_t)f->data_offset : 0);
            goto fail;
        }
    }
    return f;
fail:
    free(h);
    npy_close(f);
    return NULL;
}

void npy_close(npy_file *f)
{
    if (!f)
        return;
    if (f->fp)
        fclose(f->fp);
    free(f->path);
    free(f);
}

static double half_to_double(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v = exp == 0 ? ldexp(man, -24) : exp == 31 ? (man ? NAN : INFINITY)
                                                      : ldexp(man | 0x400, exp - 25);
    return (h & 0x8000) ? -v : v;
}

/* One element as a double (exact for every integer up to 2^53). */
static double elem_value(npy_dtype t, const unsigned char *p, int size)
{
    uint64_t b = tensor_load_le(p, size);
    switch (t) {
    case NPY_F2: return half_to_double((uint16_t)b);
    case NPY_F4: {
        uint32_t u = (uint32_t)b;
        float x;
        memcpy(&x, &u, 4);
        return x;
    }
    case NPY_F8: {
        double x;
        memcpy(&x, &b, 8);
        return x;
    }
    case NPY_I1: return (int8_t)b;
    case NPY_I2: return (int16_t)b;
    case NPY_I4: return (int32_t)b;
    case NPY_I8: return (double)(int64_t)b;
    case NPY_U1: case NPY_U2: case NPY_U4: case NPY_U8: return (double)b;
    case NPY_B1: return b != 0;
    case NPY_DTYPE_COUNT: break;
    }
    return 0;
}

/* Calls fn on chunks of [elem0, elem0 + n) elements, decoded into a scratch buffer. */
static int read_elems(npy_file *f, int64_t elem0, int64_t n, char *err, size_t err_len,
                      int (*fn)(void *ctx, int64_t first, const unsigned char *raw, int64_t k),
                      void *ctx)
{
    if (fseek(f->fp, f->data_offset + (long)(elem0 * f->itemsize), SEEK_SET) != 0) {
        fail(err, err_len, "%s: cannot seek: %s", f->path, strerror(errno));
        return -1;
    }
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc((size_t)(n < CHUNK ? (n > 0 ? n : 1) : CHUNK) * (size_t)f->itemsize);
    if (!buf) {
        fail(err, err_len, "%s: out of memory", f->path);
        return -1;
    }
    int rc = 0;
    for (int64_t done = 0; done < n && !rc;) {
        int64_t k = n - done < CHUNK ? n - done : CHUNK;
        if (fread(buf, (size_t)f->itemsize, (size_t)k, f->fp) != (size_t)k) {
            fail(err, err_len, "%s: truncated data", f->path);
            rc = -1;
            break;
        }
        rc = fn(ctx, done, buf, k);
        done += k;
    }
    free(buf);
    return rc;
}

typedef struct float_sink {
    npy_file *f;
    float *dst;
} float_sink;

static int to_float(void *ctx, int64_t first, const unsigned char *raw, int64_t k)
{
    float_sink *s = ctx;
    if (s->f->dtype == NPY_F4) {
        for (int64_t i = 0; i < k; i++) {
            uint32_t u = (uint32_t)tensor_load_le(raw + 4 * i, 4);
            memcpy(&s->dst[first + i], &u, 4);
        }
        return 0;
    }
    for (int64_t i = 0; i < k; i++)
        s->dst[first + i] = (float)elem_value(s->f->dtype, raw + i * s->f->itemsize, s->f->itemsize);
    return 0;
}

int npy_read_rows(npy_file *f, int64_t row0, int64_t nrows, float *dst, char *err, size_t err_len)
{
    if (row0 < 0 || nrows < 0 || row0 > f->rows || nrows > f->rows - row0) {
        fail(err, err_len, "%s: rows [%" PRId64 ", %" PRId64 ") out of range (%" PRId64 " rows)",
             f->path, row0, row0 + nrows, f->rows);
        return -1;
    }
    if (f->dtype == NPY_F4 && tensor_host_little_endian()) {
        /* The common case reads straight into place. */
        size_t count = (size_t)(nrows * f->row_elems);
        if (fseek(f->fp, f->data_offset + (long)(row0 * f->row_elems * 4), SEEK_SET) != 0) {
            fail(err, err_len, "%s: cannot seek: %s", f->path, strerror(errno));
            return -1;
        }
        if (count && fread(dst, 4, count, f->fp) != count) {
            fail(err, err_len, "%s: truncated data", f->path);
            return -1;
        }
        return 0;
    }
    float_sink s = {f, dst};
    return read_elems(f, row0 * f->row_elems, nrows * f->row_elems, err, err_len, to_float, &s);
}

/* Refuses the first value of v[0..f->count) that is not finite: element k of f, described by
 * its index and its value in the file (a float64 past the float32 range reads as infinite). */
static int check_finite(npy_file *f, const float *v, char *err, size_t err_len)
{
    int64_t k = 0;
    while (k < f->count && isfinite(v[k]))
        k++;
    if (k == f->count)
        return 0;
    char index[160];
    int64_t rest = k;
    size_t used = 0;
    for (int i = f->ndim - 1; i >= 0; i--) {   /* the index, last axis first */
        char part[24];
        snprintf(part, sizeof part, "%" PRId64, f->shape[i] ? rest % f->shape[i] : 0);
        rest = f->shape[i] ? rest / f->shape[i] : 0;
        size_t n = strlen(part), sep = i == f->ndim - 1 ? 0 : 2;
        if (used + n + sep + 1 > sizeof index)
            break;
        memmove(index + n + sep, index, used);
        memcpy(index, part, n);
        if (sep)
            memcpy(index + n, ", ", 2);
        used += n + sep;
    }
    index[used] = 0;
    double in_file = NAN;
    unsigned char raw[8];
    if (fseek(f->fp, f->data_offset + (long)(k * f->itemsize), SEEK_SET) == 0 &&
        fread(raw, 1, (size_t)f->itemsize, f->fp) == (size_t)f->itemsize)
        in_file = elem_value(f->dtype, raw, f->itemsize);
    if (isfinite(in_file))
        fail(err, err_len, "%s: element %" PRId64 " (index [%s]) is %g, outside the float32 range",
             f->path, k, index, in_file);
    else
        fail(err, err_len, "%s: element %" PRId64 " (index [%s]) is %s; the values must be finite numbers",
             f->path, k, index, isnan(v[k]) ? "NaN" : v[k] > 0 ? "infinite" : "minus infinite");
    return -1;
}

int npy_read_float(const char *path, tensor *out, char *err, size_t err_len)
{
    tensor_release(out);
    npy_file *f = npy_open(path, err, err_len);
    if (!f)
        return -1;
    if (f->ndim > TENSOR_MAX_DIMS) {
        fail(err, err_len, "%s: %d dimensions (at most %d are supported)", path, f->ndim,
             TENSOR_MAX_DIMS);
        npy_close(f);
        return -1;
    }
    if (tensor_alloc(out, f->ndim, f->shape) != 0) {
        fail(err, err_len, "%s: out of memory for %" PRId64 " elements", path, f->count);
        npy_close(f);
        return -1;
    }
    int rc = npy_read_rows(f, 0, f->rows, out->data, err, err_len);
    if (rc == 0)
        rc = check_finite(f, out->data, err, err_len);
    npy_close(f);
    if (rc)
        tensor_release(out);
    return rc;
}

typedef struct label_sink {
    npy_file *f;
    int64_t *dst;
    char *err;
    size_t err_len;
} label_sink;

static int to_label(void *ctx, int64_t first, const unsigned char *raw, int64_t k)
{
    label_sink *s = ctx;
    npy_file *f = s->f;
    for (int64_t i = 0; i < k; i++) {
        const unsigned char *p = raw + i * f->itemsize;
        int64_t v;
        if (f->dtype == NPY_I8) {
            v = (int64_t)tensor_load_le(p, 8);
        } else if (f->dtype == NPY_U8) {
            uint64_t u = tensor_load_le(p, 8);
            if (u > INT64_MAX) {
                fail(s->err, s->err_len, "%s: label at element %" PRId64 " is too large", f->path,
                     first + i);
                return -1;
            }
            v = (int64_t)u;
        } else {
            double x = elem_value(f->dtype, p, f->itemsize);
            if (!(x == floor(x)) || fabs(x) > 9.0e15) {
                fail(s->err, s->err_len, "%s: label at element %" PRId64 " is %g, not a whole number",
                     f->path, first + i, x);
                return -1;
            }
            v = (int64_t)x;
        }
        s->dst[first + i] = v;
    }
    return 0;
}

int npy_read_labels(const char *path, int64_t **labels, int64_t *count, int *ndim,
                    int64_t shape[NPY_MAX_DIMS], char *err, size_t err_len)
{
    *labels = NULL;
    *count = 0;
    npy_file *f = npy_open(path, err, err_len);
    if (!f)
        return -1;
    int64_t *buf = malloc((size_t)(f->count > 0 ? f->count : 1) * sizeof *buf);
    if (!buf) {
        fail(err, err_len, "%s: out of memory", path);
        npy_close(f);
        return -1;
    }
    label_sink s = {f, buf, err, err_len};
    if (read_elems(f, 0, f->count, err, err_len, to_label, &s)) {
        free(buf);
        npy_close(f);
        return -1;
    }
    *labels = buf;
    *count = f->count;
    *ndim = f->ndim;
    memcpy(shape, f->shape, sizeof f->shape);
    npy_close(f);
    return 0;
}

int npy_write_float(FILE *fp, const tensor *t, char *err, size_t err_len)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%" PRId64 "%s", t->shape[i],
                      t->ndim == 1 || i + 1 < t->ndim ? ", " : "");
    if (t->ndim == 1)
        n -= 1;          /* "(3,)" */
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Pad with spaces and a final newline so the data starts on a 64-byte boundary. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    bool ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(dict, 1, (size_t)n, fp) == (size_t)n;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', fp) != EOF;
    ok = ok && fputc('\n', fp) != EOF;
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    if (ok && t->size > 0) {
        if (first == 1) {
            ok = fwrite(t->data, sizeof(float), (size_t)t->size, fp) == (size_t)t->size;
        } else {
            for (int64_t i = 0; ok && i < t->size; i++) {
                uint32_t u;
                memcpy(&u, &t->data[i], 4);
                unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                                      (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
                ok = fwrite(b, 1, 4, fp) == 4;
            }
        }
    }
    if (!ok) {
        fail(err, err_len, "write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int npy_save_float(const char *path, const tensor *t, char *err, size_t err_len)
{
    atomic_file af;
    if (atomic_open(&af, path, err, err_len) != 0)
        return -1;
    char e2[256];
    if (npy_write_float(af.fp, t, e2, sizeof e2) != 0) {
        fail(err, err_len, "%s: %s", path, e2);
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, err_len);
}
