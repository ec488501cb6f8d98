/* safetensors.c: reading of safetensors files: the mapping, every offset and size checked, and
 * the conversion to float32; safetensors_header.c parses the JSON header, safetensors_write.c
 * writes the files. */
#include "runtime/formats/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/formats/safetensors_impl.h"

#define ST_NAME_ITEM(e, s, n) s,
#define ST_SIZE_ITEM(e, s, n) n,
const char *const st_dtype_names[ST_DTYPE_COUNT] = {ST_DTYPES(ST_NAME_ITEM)};
const int st_dtype_sizes[ST_DTYPE_COUNT] = {ST_DTYPES(ST_SIZE_ITEM)};
#undef ST_NAME_ITEM
#undef ST_SIZE_ITEM

/* ---- validation ---- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Byte size of a tensor from its shape; -1 on overflow. */
static int byte_size(const st_tensor *t, uint64_t *out)
{
    uint64_t n = (uint64_t)st_dtype_sizes[t->dtype];
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(n, (uint64_t)t->shape[i], &n))
            return -1;
    *out = n;
    return 0;
}

static int validate(st_file *f, const char *name, char *err, size_t err_len)
{
    if (f->n_tensors > 1)
        qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_name);
    for (int i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            diag_format(err, err_len, "%s: tensor '%s' appears twice in the header", name,
                        f->tensors[i].name);
            return -1;
        }
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        uint64_t bytes;
        if (byte_size(t, &bytes)) {
            diag_format(err, err_len, "%s: tensor '%s': the element count of its shape overflows",
                        name, t->name);
            return -1;
        }
        int64_t count = 1;
        for (int k = 0; k < t->ndim; k++)
            if (__builtin_mul_overflow(count, t->shape[k], &count)) {
                diag_format(err, err_len,
                            "%s: tensor '%s': the element count of its shape overflows", name,
                            t->name);
                return -1;
            }
        if (t->begin > t->end) {
            diag_format(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] end before they begin", name, t->name, t->begin, t->end);
            return -1;
        }
        if (t->end > f->data_len) {
            diag_format(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] out of range (the data section is %" PRIu64 " bytes)", name, t->name,
                        t->begin, t->end, f->data_len);
            return -1;
        }
        if (t->end - t->begin != bytes) {
            char sb[96];
            int64_t shp[ST_MAX_DIMS];
            memcpy(shp, t->shape, sizeof shp);
            if (t->ndim <= TENSOR_MAX_DIMS)
                shape_str(sb, sizeof sb, t->ndim, shp);
            else
                snprintf(sb, sizeof sb, "(%d dimensions)", t->ndim);
            diag_format(err, err_len, "%s: tensor '%s': shape %s of %s is %" PRIu64
                        " bytes but data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64, name,
                        t->name, sb, st_dtype_names[t->dtype], bytes, t->begin, t->end,
                        t->end - t->begin);
            return -1;
        }
    }
    if (f->n_tensors == 0) {
        if (f->data_len != 0) {
            diag_format(err, err_len, "%s: %" PRIu64 " bytes of data that no tensor claims", name,
                        f->data_len);
            return -1;
        }
        return 0;
    }
    const st_tensor **order = malloc((size_t)(unsigned)f->n_tensors * sizeof *order);
    if (!order) {
        diag_format(err, err_len, "%s: out of memory", name);
        return -1;
    }
    for (int i = 0; i < f->n_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_offset);
    uint64_t pos = 0;
    const st_tensor *prev = NULL;
    int rc = 0;
    for (int i = 0; i < f->n_tensors && !rc; i++) {
        const st_tensor *t = order[i];
        if (t->begin < pos) {
            diag_format(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] overlap tensor '%s' [%" PRIu64 ", %" PRIu64 "]", name, t->name, t->begin,
                        t->end, prev->name, prev->begin, prev->end);
            rc = -1;
        } else if (t->begin > pos) {
            diag_format(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] leave a gap of %" PRIu64
                        " bytes before them (offsets must be contiguous)", name, t->name, t->begin,
                        t->end, t->begin - pos);
            rc = -1;
        }
        pos = t->end;
        prev = t;
    }
    if (!rc && pos != f->data_len) {
        diag_format(err, err_len, "%s: %" PRIu64
                    " bytes of data after the last tensor ('%s' ends at %" PRIu64 ")", name,
                    f->data_len - pos, prev->name, pos);
        rc = -1;
    }
    free(order);
    return rc;
}

st_file *st_parse(const void *buf, size_t len, const char *name, char *err, size_t err_len)
{
    const unsigned char *b = buf;
    if (len < 8) {
        diag_format(err, err_len,
                    "%s: not a safetensors file: %zu bytes, shorter than the 8-byte header length",
                    name, len);
        return NULL;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | b[i];
    if (hlen > ST_MAX_HEADER) {
        diag_format(err, err_len, "%s: not a safetensors file: header length %" PRIu64
                    " is absurd (limit %u)", name, hlen, ST_MAX_HEADER);
        return NULL;
    }
    if (hlen > len - 8) {
        diag_format(err, err_len, "%s: header length %" PRIu64
                    " runs past the end of the file (%zu bytes)", name, hlen, len);
        return NULL;
    }
    if (hlen < 2 || b[8] != '{') {
        diag_format(err, err_len, "%s: not a safetensors file: the header does not start with '{'",
                    name);
        return NULL;
    }
    if (memchr(b + 8, 0, (size_t)hlen)) {
        diag_format(err, err_len, "%s: malformed JSON header: NUL byte at byte %zu", name,
                    (size_t)((const unsigned char *)memchr(b + 8, 0, (size_t)hlen) - b));
        return NULL;
    }
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name))) {
        free(f);
        diag_format(err, err_len, "%s: out of memory", name);
        return NULL;
    }
    f->fd = -1;
    f->data = b + 8 + hlen;
    f->data_len = (uint64_t)len - 8 - hlen;

    int rc = st_read_header(f, b + 8, (size_t)hlen, name, err, err_len);
    if (rc == 0)
        rc = validate(f, name, err, err_len);
    if (rc) {
        st_close(f);
        return NULL;
    }
    return f;
}

st_file *st_open(const char *path, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        diag_format(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        diag_format(err, err_len, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        diag_format(err, err_len, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t len = (size_t)sb.st_size;
    if (len < 8) {
        close(fd);
        diag_format(err, err_len,
                    "%s: not a safetensors file: %zu bytes, shorter than the 8-byte header length",
                    path, len);
        return NULL;
    }
    /* Private and writable: tensors borrow from it read-only by contract, and a stray write
     * would change this process's copy only, never the file. */
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int e = errno;
    if (map == MAP_FAILED) {
        close(fd);
        diag_format(err, err_len, "%s: cannot map: %s", path, strerror(e));
        return NULL;
    }
    st_file *f = st_parse(map, len, path, err, err_len);
    if (!f) {
        munmap(map, len);
        close(fd);
        return NULL;
    }
    f->map = map;
    f->map_len = len;
    f->fd = fd;
    return f;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    if (f->map)
        munmap(f->map, f->map_len);
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f);
}

void *st_take_mapping(st_file *f, size_t *len)
{
    void *m = f->map;
    *len = f->map_len;
    f->map = NULL;
    f->map_len = 0;
    return m;
}

int st_take_fd(st_file *f)
{
    int fd = f->fd;
    f->fd = -1;
    return fd;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[mid].name);
        if (c == 0)
            return &f->tensors[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key))
            return f->meta_values[i];
    return NULL;
}

/* ---- conversion to float32 ---- */

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {                 /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int st_tensor_load(const st_file *f, const st_tensor *t, tensor *out, bool allow_borrow,
                   char *err, size_t err_len)
{
    tensor_release(out);
    if (t->dtype != ST_F32 && t->dtype != ST_F64 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        diag_format(err, err_len,
                    "%s: tensor '%s' has dtype %s; weights must be F32, F64, F16 or BF16", f->path,
                    t->name, st_dtype_names[t->dtype]);
        return -1;
    }
    if (t->ndim > TENSOR_MAX_DIMS) {
        diag_format(err, err_len, "%s: tensor '%s' has %d dimensions (at most %d are supported)",
                    f->path, t->name, t->ndim, TENSOR_MAX_DIMS);
        return -1;
    }
    const unsigned char *src = f->data + t->begin;
    if (allow_borrow && t->dtype == ST_F32 && tensor_host_little_endian() &&
        ((uintptr_t)src % _Alignof(float)) == 0) {
        memset(out, 0, sizeof *out);
        out->ndim = t->ndim;
        memcpy(out->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
        out->size = shape_count(t->ndim, out->shape);
        out->data = (float *)(void *)src;
        out->borrowed = true;
        return 0;
    }
    if (tensor_alloc(out, t->ndim, t->shape) != 0) {
        diag_format(err, err_len, "%s: tensor '%s': out of memory", f->path, t->name);
        return -1;
    }
    int es = st_dtype_sizes[t->dtype];
    for (int64_t i = 0; i < out->size; i++) {
        const unsigned char *p = src + (size_t)i * (size_t)es;
        uint64_t bits = tensor_load_le(p, es);
        float v;
        if (t->dtype == ST_F32) {
            uint32_t b = (uint32_t)bits;
            memcpy(&v, &b, 4);
        } else if (t->dtype == ST_F64) {
            double d;
            memcpy(&d, &bits, 8);
            v = (float)d;
        } else if (t->dtype == ST_F16) {
            v = half_to_float((uint16_t)bits);
        } else {
            uint32_t b = (uint32_t)bits << 16;
            memcpy(&v, &b, 4);
        }
        out->data[i] = v;
    }
    return 0;
}
