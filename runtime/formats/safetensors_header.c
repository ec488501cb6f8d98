/* safetensors_header.c: the JSON header of a safetensors file, read through libyaml's event
 * parser into the file's tensor table and metadata. */
#include "runtime/formats/safetensors_impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "runtime/base/diag.h"

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
        diag_format(p->err, p->err_len, "%s: malformed JSON header at byte %zu: %s%s%s", p->name,
                    (size_t)p->yp.problem_mark.index + 8,
                    p->yp.problem ? p->yp.problem : "syntax error", p->yp.context ? " " : "",
                    p->yp.context ? p->yp.context : "");
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
        diag_format(p->err, p->err_len, "%s: malformed JSON header at byte %zu: not JSON", p->name,
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
        diag_format(p->err, p->err_len,
                    "%s: malformed JSON header at byte %zu: expected a string (%s)", p->name,
                    ev_pos(p), what);
        return -1;
    }
    if (strlen(scalar_text(p)) != p->ev.data.scalar.length) {
        diag_format(p->err, p->err_len,
                    "%s: malformed JSON header at byte %zu: NUL character in a string", p->name,
                    ev_pos(p));
        return -1;
    }
    return 0;
}

/* The current event must be a non-negative JSON integer that fits in 64 bits (max_ok). */
static int expect_uint(hdr_parser *p, const char *tensor, const char *what, uint64_t max_ok,
                       uint64_t *out)
{
    if (p->ev.type != YAML_SCALAR_EVENT || p->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        diag_format(p->err, p->err_len,
                    "%s: tensor '%s': %s must be a list of non-negative integers", p->name, tensor,
                    what);
        return -1;
    }
    const char *s = scalar_text(p);
    if (s[0] == '-' && s[1] >= '0' && s[1] <= '9') {
        diag_format(p->err, p->err_len, "%s: tensor '%s': negative value %s in %s", p->name, tensor,
                    s, what);
        return -1;
    }
    uint64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n != p->ev.data.scalar.length || (n > 1 && s[0] == '0')) {
        diag_format(p->err, p->err_len, "%s: tensor '%s': '%s' in %s is not an integer", p->name,
                    tensor, s, what);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            diag_format(p->err, p->err_len, "%s: tensor '%s': '%s' in %s is not an integer",
                        p->name, tensor, s, what);
            return -1;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            diag_format(p->err, p->err_len, "%s: tensor '%s': %s in %s overflows", p->name, tensor,
                        s, what);
            return -1;
        }
        v = v * 10 + d;
    }
    if (v > max_ok) {
        diag_format(p->err, p->err_len, "%s: tensor '%s': %s in %s is too large", p->name, tensor,
                    s, what);
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
        diag_format(p->err, p->err_len, "%s: __metadata__ must be an object of strings", p->name);
        return -1;
    }
    if (f->meta_keys) {
        diag_format(p->err, p->err_len, "%s: __metadata__ appears twice", p->name);
        return -1;
    }
    p->cap_meta = 4;
    f->meta_keys = calloc((size_t)p->cap_meta, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)p->cap_meta, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) {
        diag_format(p->err, p->err_len, "%s: out of memory", p->name);
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
            diag_format(p->err, p->err_len, "%s: out of memory", p->name);
            return -1;
        }
        for (int i = 0; i < f->n_meta; i++)
            if (!strcmp(f->meta_keys[i], key)) {
                diag_format(p->err, p->err_len, "%s: __metadata__ key '%s' appears twice", p->name,
                            key);
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
                diag_format(p->err, p->err_len, "%s: out of memory", p->name);
                return -1;
            }
        }
        if (!val) {
            free(key);
            diag_format(p->err, p->err_len, "%s: out of memory", p->name);
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
    diag_format(p->err, p->err_len, "%s: tensor '%s': unknown dtype '%s'", p->name, t->name,
                scalar_text(p));
    return -1;
}

static int parse_shape(hdr_parser *p, st_tensor *t)
{
    if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
        diag_format(p->err, p->err_len,
                    "%s: tensor '%s': shape must be a list of non-negative integers", p->name,
                    t->name);
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
            diag_format(p->err, p->err_len, "%s: tensor '%s': more than %d dimensions", p->name,
                        t->name, ST_MAX_DIMS);
            return -1;
        }
        t->shape[t->ndim++] = (int64_t)v;
    }
}

static int parse_offsets(hdr_parser *p, st_tensor *t)
{
    if (p->ev.type != YAML_SEQUENCE_START_EVENT) {
        diag_format(p->err, p->err_len,
                    "%s: tensor '%s': data_offsets must be a list of two non-negative integers",
                    p->name, t->name);
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
        diag_format(p->err, p->err_len,
                    "%s: tensor '%s': data_offsets has %d entries, not 2 [begin, end]", p->name,
                    t->name, n);
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
            diag_format(p->err, p->err_len, "%s: out of memory", p->name);
            return -1;
        }
        f->tensors = nt;
        p->cap_tensors = cap;
    }
    st_tensor *t = &f->tensors[f->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = name;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        diag_format(p->err, p->err_len,
                    "%s: tensor '%s': expected an object with dtype, shape and data_offsets",
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
            diag_format(p->err, p->err_len, "%s: tensor '%s': '%s' appears twice", p->name, name,
                        key);
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
        diag_format(p->err, p->err_len, "%s: tensor '%s': no %s", p->name, name, missing);
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
        diag_format(p->err, p->err_len, "%s: malformed JSON header: expected an object", p->name);
        return -1;
    }
    if (next_event(p))
        return -1;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        diag_format(p->err, p->err_len, "%s: malformed JSON header: expected an object", p->name);
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
            diag_format(p->err, p->err_len, "%s: out of memory", p->name);
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
        diag_format(p->err, p->err_len, "%s: malformed JSON header: text after the object",
                    p->name);
        return -1;
    }
    if (next_event(p))
        return -1;
    if (p->ev.type != YAML_STREAM_END_EVENT) {
        diag_format(p->err, p->err_len, "%s: malformed JSON header: text after the object",
                    p->name);
        return -1;
    }
    return 0;
}

int st_read_header(st_file *f, const unsigned char *json, size_t len, const char *name,
                   char *err, size_t err_len)
{
    hdr_parser p;
    memset(&p, 0, sizeof p);
    p.f = f;
    p.name = name;
    p.err = err;
    p.err_len = err_len;
    if (!yaml_parser_initialize(&p.yp)) {
        diag_format(err, err_len, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&p.yp, json, len);
    yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
    int rc = parse_header_events(&p);
    drop_event(&p);
    yaml_parser_delete(&p.yp);
    return rc;
}
