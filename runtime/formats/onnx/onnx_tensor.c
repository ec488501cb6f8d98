/* onnx_tensor.c: decodes an ONNX TensorProto's values from raw_data, the typed repeated fields
 * or external data (a file beside the model, bounds-checked), checked against its shape. */
#include "runtime/formats/onnx/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.pb-c.h"
#include "runtime/base/checked.h"
#include "runtime/base/util.h"

enum { T_FLOAT = 1, T_UINT8 = 2, T_INT8 = 3, T_INT32 = 6, T_INT64 = 7, T_BOOL = 9,
       T_DOUBLE = 11 };

static int elem_bytes(int type)
{
    switch (type) {
    case T_FLOAT: case T_INT32: return 4;
    case T_INT64: case T_DOUBLE: return 8;
    case T_UINT8: case T_INT8: case T_BOOL: return 1;
    default: return 0;
    }
}

static const char *entry(const Onnx__TensorProto *t, const char *key)
{
    for (size_t k = 0; k < t->n_external_data; k++)
        if (t->external_data[k]->key && !strcmp(t->external_data[k]->key, key))
            return t->external_data[k]->value;
    return NULL;
}

static int parse_count(const char *s, int64_t *out)
{
    if (!s) {
        *out = -1;
        return 0;
    }
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Reads the external bytes of t into *buf (malloc'd, *len bytes). */
static int read_external(const Onnx__TensorProto *t, const char *model_path, int64_t want,
                         unsigned char **buf, char *err, size_t err_len)
{
    const char *loc = entry(t, "location");
    int64_t offset, length;
    if (!loc || !*loc) {
        snprintf(err, err_len, "external data without a location");
        return -1;
    }
    if (loc[0] == '/' || !strcmp(loc, "..") || !strncmp(loc, "../", 3) || strstr(loc, "/../") ||
        str_ends_with(loc, "/..")) {
        snprintf(err, err_len, "external data location '%s' must stay inside the model's folder "
                 "(no absolute path, no '..')", loc);
        return -1;
    }
    if (parse_count(entry(t, "offset"), &offset) || parse_count(entry(t, "length"), &length)) {
        snprintf(err, err_len, "external data offset or length is not a whole number");
        return -1;
    }
    if (offset < 0)
        offset = 0;
    if (length >= 0 && length != want) {
        snprintf(err, err_len, "external data length %lld disagrees with the shape (%lld bytes)",
                 (long long)length, (long long)want);
        return -1;
    }
    char *path = path_beside_file(model_path, loc);
    FILE *fp = fopen(path, "rb");
    struct stat st;
    int rc = -1;
    if (!fp || fstat(fileno(fp), &st) != 0) {
        snprintf(err, err_len, "cannot open external data '%s'", path);
    } else if (offset > st.st_size || want > st.st_size - offset) {
        snprintf(err, err_len, "external data '%s': bytes [%lld, %lld) lie past its end (%lld bytes)",
                 path, (long long)offset, (long long)(offset + want), (long long)st.st_size);
    } else if (!(*buf = malloc(want ? (size_t)want : 1))) {
        snprintf(err, err_len, "out of memory");
    } else if (fseeko(fp, offset, SEEK_SET) != 0 || fread(*buf, 1, (size_t)want, fp) != (size_t)want) {
        snprintf(err, err_len, "read error in external data '%s'", path);
        free(*buf);
        *buf = NULL;
    } else {
        rc = 0;
    }
    if (fp)
        fclose(fp);
    free(path);
    return rc;
}

static void from_bytes(const unsigned char *p, int type, int64_t n, float *f, int64_t *iv)
{
    for (int64_t k = 0; k < n; k++) {
        switch (type) {
        case T_FLOAT: { float v; memcpy(&v, p + 4 * k, 4); f[k] = v; break; }
        case T_DOUBLE: { double v; memcpy(&v, p + 8 * k, 8); f[k] = (float)v; break; }
        case T_INT64: { int64_t v; memcpy(&v, p + 8 * k, 8); iv[k] = v; break; }
        case T_INT32: { int32_t v; memcpy(&v, p + 4 * k, 4); iv[k] = v; break; }
        case T_INT8: iv[k] = (int8_t)p[k]; break;
        default: iv[k] = p[k]; break;
        }
    }
}

int onnx_tensor_values(const Onnx__TensorProto *t, const char *model_path, float **f,
                       int64_t **i, int64_t *count, char *err, size_t err_len)
{
    *f = NULL;
    *i = NULL;
    int64_t n = 1, bytes;
    for (size_t k = 0; k < t->n_dims; k++)
        if (t->dims[k] < 0 || !checked_mul(n, t->dims[k], &n)) {
            snprintf(err, err_len, "bad dimension %lld", (long long)t->dims[k]);
            return -1;
        }
    int es = elem_bytes(t->data_type);
    if (!es) {
        snprintf(err, err_len, "element type %d is not read (float, double and integers are)",
                 t->data_type);
        return -1;
    }
    if (!checked_mul(n, es, &bytes) || bytes > ((int64_t)1 << 40)) {
        snprintf(err, err_len, "too large");
        return -1;
    }
    bool floats = t->data_type == T_FLOAT || t->data_type == T_DOUBLE;
    bool external = t->has_data_location &&
                    t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    /* what the file holds, checked before anything of the shape's size is allocated (the
     * external data's length against its file in read_external) */
    if (!external && t->has_raw_data && (int64_t)t->raw_data.len != bytes) {
        snprintf(err, err_len, "raw_data holds %zu bytes but the shape needs %lld",
                 t->raw_data.len, (long long)bytes);
        return -1;
    }
    int64_t have = external || t->has_raw_data        ? n
                   : t->data_type == T_FLOAT          ? (int64_t)t->n_float_data
                   : t->data_type == T_DOUBLE         ? (int64_t)t->n_double_data
                   : t->data_type == T_INT64          ? (int64_t)t->n_int64_data
                                                      : (int64_t)t->n_int32_data;
    if (have != n) {
        snprintf(err, err_len, "holds %lld values but its shape needs %lld", (long long)have,
                 (long long)n);
        return -1;
    }
    unsigned char *buf = NULL;
    if (external && read_external(t, model_path, bytes, &buf, err, err_len) != 0)
        return -1;
    void *out = calloc((size_t)(n ? n : 1), floats ? sizeof(float) : sizeof(int64_t));
    if (!out) {
        free(buf);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    float *fv = floats ? out : NULL;
    int64_t *iv = floats ? NULL : out;
    if (external) {
        from_bytes(buf, t->data_type, n, fv, iv);
        free(buf);
    } else if (t->has_raw_data) {
        from_bytes(t->raw_data.data, t->data_type, n, fv, iv);
    } else if (t->data_type == T_FLOAT) {
        for (int64_t k = 0; k < n; k++)
            fv[k] = t->float_data[k];
    } else if (t->data_type == T_DOUBLE) {
        for (int64_t k = 0; k < n; k++)
            fv[k] = (float)t->double_data[k];
    } else if (t->data_type == T_INT64) {
        for (int64_t k = 0; k < n; k++)
            iv[k] = t->int64_data[k];
    } else {
        for (int64_t k = 0; k < n; k++)
            iv[k] = t->int32_data[k];
    }
    *f = fv;
    *i = iv;
    *count = n;
    return 0;
}
