/* safetensors.c: reading (mmap, every offset and size checked, header JSON through libyaml's
 * event parser) and writing of safetensors files. */
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
#include <yaml.h>

#include "runtime/tensor/tensor_parts.h"

#define ST_NAME_ITEM(e, s, n) s,
#define ST_SIZE_ITEM(e, s, n) n,
const char *const st_dtype_names[ST_DTYPE_COUNT] = {ST_DTYPES(ST_NAME_ITEM)};
const int st_dtype_sizes[ST_DTYPE_COUNT] = {ST_DTYPES(ST_SIZE_ITEM)};
#undef ST_NAME_ITEM
#undef ST_SIZE_ITEM

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

/* ---- the header parser ---- */

typedef struct hdr_parser {
    yaml_parser_t yp;
    yaml_event_t ev;
    bool have_ev;
    st_file *f;
    const char *name;           /* file name for messages */
    char *err;
    size_t err_len;
    int cap_tensors, cap_meta;
} hdr_parser;

static void drop_event(hdr_parser *p)
{
    if (p->have_ev) {
        yaml_event_delete(&p->ev);
        p->have_ev = false;
    }
}

/* The next event; refuses YAML-only constructs (aliases, anchors, tags) that JSON cannot have. */
static int next_event(hdr_parser *p)
{
    drop_event(p);
    if (!yaml_parser_parse(&p->yp, &p->ev)) {
        fail(p->err, p->err_len, "%s: malformed JSON header at byte %zu: %s%s%s", p->name,
             (size_t)p->yp.problem_mark.index + 8, p->yp.problem ? p->yp.problem : "syntax error",
             p->yp.context ? " " : "", p->yp.context ? p->yp.context : "");
        return -1;
    }
    p->have_ev = true;
    const yaml_event_t *e = &p->ev;
    bool yamlish = e->type == YAML_ALIAS_EVENT ||
                   (e->type == YAML_SCALAR_EVENT && (e->data.scalar.anchor || e->data.scalar.tag)) ||
                   (e->type == YAML_MAPPING_START_EVENT &&
                    (e->data.mapping_start.anchor || e->data.mapping_start.tag ||
                     e->data.mapping_start.style != YAML_FLOW_MAPPING_STYLE)) ||
                   (e->type == YAML_SEQUENCE_START_EVENT &&
                    (e->data.sequence_start.anchor || e->data.sequence_start.tag ||
                     e->data.sequence_start.style != YAML_FLOW_SEQUENCE_STYLE));
    if (yamlish) {
        fail(p->err, p->err_len, "%s: malformed JSON header at byte %zu: not JSON", p->name,
             (size_t)e->start_mark.index + 8);
        return -1;
    }
    return 0;
}

static size_t ev_pos(const hdr_parser *p) { return (size_t)p->ev.start_mark.index + 8; }

static const char *scalar_text(const hdr_parser *p) { return (const char *)p->ev.data.scalar.value; }

/* The current event must be a JSON string. */
static int expect_string(hdr_parser *p, const char *what)
{
    if (p->ev.type != YAML_SCALAR_EVENT || p->ev.data.scalar.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE) {
        fail(p->err, p->err_len, "%s: malformed JSON header at byte %zu: expected a string (%s)",
             p->name, ev_pos(p), what);
        return -1;
    }
    if (strlen(scalar_text(p)) != p->ev.data.scalar.length) {
        fail(p->err, p->err_len, "%s: malformed JSON header at byte %zu: NUL character in a string",
             p->name, ev_pos(p));
        return -1;
    }
    return 0;
}

/* The current event must be a non-negative JSON integer that fits in 64 bits (max_ok). */
static int expect_uint(hdr_parser *p, const char *tensor, const char *what, uint64_t max_ok,
                       uint64_t *out)
{
    if (p->ev.type != YAML_SCALAR_EVENT || p->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        fail(p->err, p->err_len, "%s: tensor '%s': %s must be a list of non-negative integers",
             p->name, tensor, what);
        return -1;
    }
    const char *s = scalar_text(p);
    if (s[0] == '-' && s[1] >= '0' && s[1] <= '9') {
        fail(p->err, p->err_len, "%s: tensor '%s': negative value %s in %s", p->name, tensor, s,
             what);
        return -1;
    }
    uint64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n != p->ev.data.scalar.length || (n > 1 && s[0] == '0')) {
        fail(p->err, p->err_len, "%s: tensor '%s': '%s' in %s is not an integer", p->name, tensor,
             s, what);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            fail(p->err, p->err_len, "%s: tensor '%s': '%s' in %s is not an integer", p->name,
                 tensor, s, what);
            return -1;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            fail(p->err, p->err_len, "%s: tensor '%s': %s in %s overflows", p->name, tensor, s,
                 what);
            return -1;
        }
        v = v * 10 + d;
    }
    if (v > max_ok) {
        fail(p->err, p->err_len, "%s: tensor '%s': %s in %s is too large", p->name, tensor, s,
             what);
        return -1;
    }
    *out = v;
    return 0;
}

/* Skips the value starting at the current event (an unknown key's value). */
static int skip_value(hdr_parser *p)
{
    int depth = 0;
    for (;;) {
        yaml_event_type_t t = p->ev.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
            depth--;
        if (depth <= 0)
            return 0;
        if (next_event(p))
            return -1;
    }
}

static int parse_metadata(hdr_parser *p)
{
    st_file *f = p->f;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        fail(p->err, p->err_len, "%s: __metadata__ must be an object of strings", p->name);
        return -1;
    }
    if (f->meta_keys) {
        fail(p->err, p->err_len, "%s: __metadata__ appears twice", p->name);
        return -1;
    }
    p->cap_meta = 4;
    f->meta_keys = calloc((size_t)p->cap_meta, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)p->cap_meta, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) {
        fail(p->err, p->err_len, "%s: out of memory", p->name);
        return -1;
    }
    for (;;) {
        if (next_event(p))
            return -1;
        if (p->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (expect_string(p, "metadata key"))
            return -1;
        char *key = strdup(scalar_text(p));
        if (!key) {
            fail(p->err, p->err_len, "%s: out of memory", p->name);
            return -1;
        }
        for (int i = 0; i < f->n_meta; i++)
            if (!strcmp(f->meta_keys[i], key)) {
                fail(p->err, p->err_len, "%s: __metadata__ key '%s' appears twice", p->name, key);
                free(key);
                return -1;
            }
        if (next_event(p) || expect_string(p, "metadata values are strings")) {
            free(key);
            return -1;
        }
        char *val = strdup(scalar_text(p));
        if (f->n_meta == p->cap_meta) {
            p->cap_meta *= 2;
            char **k2 = realloc(f->meta_keys, (size_t)p->cap_meta * sizeof *k2);
            if (k2)
                f->meta_keys = k2;
            char **v2 = realloc(f->meta_values, (size_t)p->cap_meta * sizeof *v2);
            if (v2)
                f->meta_values = v2;
            if (!k2 || !v2) {
                free(key);
                free(val);
                fail(p->err, p->err_len, "%s: out of memory", p->name);
                return -1;
            }
        }
        if (!val) {
            free(key);
            fail(p->err, p->err_len, "%s: out of memory", p->name);
            return -1;
        }
        f->meta_keys[f->n_meta] = key;
        f->meta_values[f->n_meta] = val;
        f->n_meta++;
    }
}

static int parse_dtype(hdr_parser *p, st_tensor *t)
{
    if (expect_string(p, "dtype"))
        return -1;
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (!strcmp(scalar_text(p), st_dtype_names[i])) {
            t->dtype = (st_dtype)i;
            return 0;
        }
    fail(p->err, p->err_len, "%s: tensor '%s': unknown dtype '%s'", p->name, t->name,
         scalar_text(p));
    return -1;
}

static int parse_shape(hdr_parser *p, st_tensor *t)
{
    if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
        fail(p->err, p->err_len, "%s: tensor '%s': shape must be a list of non-negative integers",
             p->name, t->name);
        return -1;
    }
    t->ndim = 0;
    for (;;) {
        if (next_event(p))
            return -1;
        if (p->ev.type == YAML_SEQUENCE_END_EVENT)
            return 0;
        uint64_t v;
        if (expect_uint(p, t->name, "shape", INT64_MAX, &v))
            return -1;
        if (t->ndim == ST_MAX_DIMS) {
            fail(p->err, p->err_len, "%s: tensor '%s': more than %d dimensions", p->name, t->name,
                 ST_MAX_DIMS);
            return -1;
        }
        t->shape[t->ndim++] = (int64_t)v;
    }
}

static int parse_offsets(hdr_parser *p, st_tensor *t)
{
    if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
        fail(p->err, p->err_len,
             "%s: tensor '%s': data_offsets must be a list of two non-negative integers", p->name,
             t->name);
        return -1;
    }
    uint64_t v[2];
    int n = 0;
    for (;;) {
        if (next_event(p))
            return -1;
        if (p->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        uint64_t x;
        if (expect_uint(p, t->name, "data_offsets", UINT64_MAX, &x))
            return -1;
        if (n < 2)
            v[n] = x;
        n++;
    }
    if (n != 2) {
        fail(p->err, p->err_len, "%s: tensor '%s': data_offsets has %d entries, not 2 [begin, end]",
             p->name, t->name, n);
        return -1;
    }
    t->begin = v[0];
    t->end = v[1];
    return 0;
}

static int parse_tensor(hdr_parser *p, char *name)
{
    st_file *f = p->f;
    if (f->n_tensors == p->cap_tensors) {
        int cap = p->cap_tensors ? p->cap_tensors * 2 : 16;
        st_tensor *nt = realloc(f->tensors, (size_t)cap * sizeof *nt);
        if (!nt) {
            free(name);
            fail(p->err, p->err_len, "%s: out of memory", p->name);
            return -1;
        }
        f->tensors = nt;
        p->cap_tensors = cap;
    }
    st_tensor *t = &f->tensors[f->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = name;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        fail(p->err, p->err_len, "%s: tensor '%s': expected an object with dtype, shape and data_offsets",
             p->name, name);
        return -1;
    }
    bool have_dtype = false, have_shape = false, have_offsets = false;
    for (;;) {
        if (next_event(p))
            return -1;
        if (p->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (expect_string(p, "key"))
            return -1;
        char key[16];
        snprintf(key, sizeof key, "%s", scalar_text(p));
        bool *seen = !strcmp(key, "dtype")          ? &have_dtype
                     : !strcmp(key, "shape")        ? &have_shape
                     : !strcmp(key, "data_offsets") ? &have_offsets
                                                    : NULL;
        if (seen && *seen) {
            fail(p->err, p->err_len, "%s: tensor '%s': '%s' appears twice", p->name, name, key);
            return -1;
        }
        if (next_event(p))
            return -1;
        int rc = !seen ? skip_value(p)
                 : seen == &have_dtype ? parse_dtype(p, t)
                 : seen == &have_shape ? parse_shape(p, t)
                                       : parse_offsets(p, t);
        if (rc)
            return -1;
        if (seen)
            *seen = true;
    }
    const char *missing = !have_dtype ? "dtype" : !have_shape ? "shape" : !have_offsets ? "data_offsets" : NULL;
    if (missing) {
        fail(p->err, p->err_len, "%s: tensor '%s': no %s", p->name, name, missing);
        return -1;
    }
    return 0;
}

static int parse_header_events(hdr_parser *p)
{
    if (next_event(p) || p->ev.type != YAML_STREAM_START_EVENT)
        return -1;
    if (next_event(p))
        return -1;
    if (p->ev.type != YAML_DOCUMENT_START_EVENT || !p->ev.data.document_start.implicit) {
        fail(p->err, p->err_len, "%s: malformed JSON header: expected an object", p->name);
        return -1;
    }
    if (next_event(p))
        return -1;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        fail(p->err, p->err_len, "%s: malformed JSON header: expected an object", p->name);
        return -1;
    }
    for (;;) {
        if (next_event(p))
            return -1;
        if (p->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (expect_string(p, "tensor name"))
            return -1;
        bool meta = !strcmp(scalar_text(p), "__metadata__");
        char *name = meta ? NULL : strdup(scalar_text(p));
        if (!meta && !name) {
            fail(p->err, p->err_len, "%s: out of memory", p->name);
            return -1;
        }
        if (next_event(p)) {
            free(name);
            return -1;
        }
        if (meta ? parse_metadata(p) : parse_tensor(p, name))
            return -1;
    }
    if (next_event(p))
        return -1;
    if (p->ev.type != YAML_DOCUMENT_END_EVENT) {
        fail(p->err, p->err_len, "%s: malformed JSON header: text after the object", p->name);
        return -1;
    }
    if (next_event(p))
        return -1;
    if (p->ev.type != YAML_STREAM_END_EVENT) {
        fail(p->err, p->err_len, "%s: malformed JSON header: text after the object", p->name);
        return -1;
    }
    return 0;
}

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
            fail(err, err_len, "%s: tensor '%s' appears twice in the header", name,
                 f->tensors[i].name);
            return -1;
        }
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        uint64_t bytes;
        if (byte_size(t, &bytes)) {
            fail(err, err_len, "%s: tensor '%s': the element count of its shape overflows", name,
                 t->name);
            return -1;
        }
        int64_t count = 1;
        for (int k = 0; k < t->ndim; k++)
            if (__builtin_mul_overflow(count, t->shape[k], &count)) {
                fail(err, err_len, "%s: tensor '%s': the element count of its shape overflows",
                     name, t->name);
                return -1;
            }
        if (t->begin > t->end) {
            fail(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                 "] end before they begin", name, t->name, t->begin, t->end);
            return -1;
        }
        if (t->end > f->data_len) {
            fail(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
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
            fail(err, err_len, "%s: tensor '%s': shape %s of %s is %" PRIu64
                 " bytes but data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64, name,
                 t->name, sb, st_dtype_names[t->dtype], bytes, t->begin, t->end,
                 t->end - t->begin);
            return -1;
        }
    }
    if (f->n_tensors == 0) {
        if (f->data_len != 0) {
            fail(err, err_len, "%s: %" PRIu64 " bytes of data that no tensor claims", name,
                 f->data_len);
            return -1;
        }
        return 0;
    }
    const st_tensor **order = malloc((size_t)(unsigned)f->n_tensors * sizeof *order);
    if (!order) {
        fail(err, err_len, "%s: out of memory", name);
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
            fail(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                 "] overlap tensor '%s' [%" PRIu64 ", %" PRIu64 "]", name, t->name, t->begin,
                 t->end, prev->name, prev->begin, prev->end);
            rc = -1;
        } else if (t->begin > pos) {
            fail(err, err_len, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                 "] leave a gap of %" PRIu64 " bytes before them (offsets must be contiguous)",
                 name, t->name, t->begin, t->end, t->begin - pos);
            rc = -1;
        }
        pos = t->end;
        prev = t;
    }
    if (!rc && pos != f->data_len) {
        fail(err, err_len, "%s: %" PRIu64 " bytes of data after the last tensor ('%s' ends at %"
             PRIu64 ")", name, f->data_len - pos, prev->name, pos);
        rc = -1;
    }
    free(order);
    return rc;
}

st_file *st_parse(const void *buf, size_t len, const char *name, char *err, size_t err_len)
{
    const unsigned char *b = buf;
    if (len < 8) {
        fail(err, err_len, "%s: not a safetensors file: %zu bytes, shorter than the 8-byte header length",
             name, len);
        return NULL;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | b[i];
    if (hlen > ST_MAX_HEADER) {
        fail(err, err_len, "%s: not a safetensors file: header length %" PRIu64
             " is absurd (limit %u)", name, hlen, ST_MAX_HEADER);
        return NULL;
    }
    if (hlen > len - 8) {
        fail(err, err_len, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
             name, hlen, len);
        return NULL;
    }
    if (hlen < 2 || b[8] != '{') {
        fail(err, err_len, "%s: not a safetensors file: the header does not start with '{'", name);
        return NULL;
    }
    if (memchr(b + 8, 0, (size_t)hlen)) {
        fail(err, err_len, "%s: malformed JSON header: NUL byte at byte %zu", name,
             (size_t)((const unsigned char *)memchr(b + 8, 0, (size_t)hlen) - b));
        return NULL;
    }
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name))) {
        free(f);
        fail(err, err_len, "%s: out of memory", name);
        return NULL;
    }
    f->fd = -1;
    f->data = b + 8 + hlen;
    f->data_len = (uint64_t)len - 8 - hlen;

    hdr_parser p;
    memset(&p, 0, sizeof p);
    p.f = f;
    p.name = name;
    p.err = err;
    p.err_len = err_len;
    if (!yaml_parser_initialize(&p.yp)) {
        st_close(f);
        fail(err, err_len, "%s: out of memory", name);
        return NULL;
    }
    yaml_parser_set_input_string(&p.yp, b + 8, (size_t)hlen);
    yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
    int rc = parse_header_events(&p);
    drop_event(&p);
    yaml_parser_delete(&p.yp);
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
        fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        fail(err, err_len, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        fail(err, err_len, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t len = (size_t)sb.st_size;
    if (len < 8) {
        close(fd);
        fail(err, err_len, "%s: not a safetensors file: %zu bytes, shorter than the 8-byte header length",
             path, len);
        return NULL;
    }
    /* Private and writable: tensors borrow from it read-only by contract, and a stray write
     * would change this process's copy only, never the file. */
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int e = errno;
    if (map == MAP_FAILED) {
        close(fd);
        fail(err, err_len, "%s: cannot map: %s", path, strerror(e));
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

static uint64_t load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

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
        fail(err, err_len, "%s: tensor '%s' has dtype %s; weights must be F32, F64, F16 or BF16",
             f->path, t->name, st_dtype_names[t->dtype]);
        return -1;
    }
    if (t->ndim > TENSOR_MAX_DIMS) {
        fail(err, err_len, "%s: tensor '%s' has %d dimensions (at most %d are supported)",
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
        fail(err, err_len, "%s: tensor '%s': out of memory", f->path, t->name);
        return -1;
    }
    int es = st_dtype_sizes[t->dtype];
    for (int64_t i = 0; i < out->size; i++) {
        const unsigned char *p = src + (size_t)i * (size_t)es;
        uint64_t bits = load_le(p, es);
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

/* ---- writing ---- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"')
            sb_puts(b, "\\\"");
        else if (*p == '\\')
            sb_puts(b, "\\\\");
        else if (*p < 0x20 || *p == 0x7f)
            sb_printf(b, "\\u%04x", *p);
        else
            sb_add(b, (const char *)p, 1);
    }
    sb_puts(b, "\"");
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

int st_header(const st_entry *entries, int n, const char *const *meta, int n_meta,
              char **header, size_t *header_len, st_entry **sorted_out, char *err,
              size_t err_len)
{
    *header = NULL;
    *header_len = 0;
    *sorted_out = NULL;
    st_entry *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    if (!sorted) {
        fail(err, err_len, "out of memory");
        return -1;
    }
    if (n > 0)
        memcpy(sorted, entries, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_entry);
    for (int i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1].name, sorted[i].name)) {
            fail(err, err_len, "tensor '%s' given twice", sorted[i].name);
            free(sorted);
            return -1;
        }
    sbuf h = {0};
    sb_add(&h, "\0\0\0\0\0\0\0\0", 8);   /* the length, filled in below */
    sb_puts(&h, "{");
    if (n_meta > 0) {
        sb_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                sb_puts(&h, ",");
            sb_json_string(&h, meta[2 * i]);
            sb_puts(&h, ":");
            sb_json_string(&h, meta[2 * i + 1]);
        }
        sb_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const tensor *t = sorted[i].t;
        if (n_meta > 0 || i)
            sb_puts(&h, ",");
        sb_json_string(&h, sorted[i].name);
        sb_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++)
            sb_printf(&h, k ? ",%" PRId64 : "%" PRId64, t->shape[k]);
        uint64_t bytes = (uint64_t)t->size * 4;
        sb_printf(&h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + bytes);
        off += bytes;
    }
    sb_puts(&h, "}");
    while (!h.oom && h.n % 8 != 0)
        sb_puts(&h, " ");
    if (h.oom) {
        free(h.s);
        free(sorted);
        fail(err, err_len, "out of memory");
        return -1;
    }
    uint64_t json_len = (uint64_t)h.n - 8;
    for (int i = 0; i < 8; i++)
        h.s[i] = (char)(unsigned char)(json_len >> (8 * i));
    *header = h.s;
    *header_len = h.n;
    *sorted_out = sorted;
    return 0;
}

/* n floats as little-endian F32 (src NULL: zeros). */
static bool write_floats(FILE *fp, const float *src, int64_t n)
{
    static const float zeros[4096];
    const bool le = tensor_host_little_endian();
    while (n > 0) {
        int64_t k = src || n < 4096 ? n : 4096;
        if (!src) {
            if (fwrite(zeros, sizeof(float), (size_t)k, fp) != (size_t)k)
                return false;
        } else if (le) {
            if (fwrite(src, sizeof(float), (size_t)k, fp) != (size_t)k)
                return false;
        } else {
            for (int64_t j = 0; j < k; j++) {
                uint32_t bits;
                memcpy(&bits, &src[j], 4);
                unsigned char b[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                                      (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
                if (fwrite(b, 1, 4, fp) != 4)
                    return false;
            }
        }
        n -= k;
        if (src)
            src += k;
    }
    return true;
}

static int write_run(void *ctx, const float *src, int64_t n)
{
    return write_floats(ctx, src, n) ? 0 : -1;
}

int st_write(FILE *fp, const st_entry *entries, int n, const char *const *meta, int n_meta,
             char *err, size_t err_len)
{
    char *h;
    size_t hn;
    st_entry *sorted;
    if (st_header(entries, n, meta, n_meta, &h, &hn, &sorted, err, err_len) != 0)
        return -1;
    bool ok = fwrite(h, 1, hn, fp) == hn;
    free(h);
    for (int i = 0; ok && i < n; i++) {
        const tensor *t = sorted[i].t;
        if (t->size == 0)
            continue;
        if (t->parts) {
            ok = tensor_parts_each_run(t->parts, write_run, fp) == 0;
        } else if (!t->data) {
            fail(err, err_len, "tensor '%s' has no data", sorted[i].name);
            free(sorted);
            return -1;
        } else {
            ok = write_floats(fp, t->data, t->size);
        }
    }
    free(sorted);
    if (!ok) {
        fail(err, err_len, "write failed: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
