/* native_yaml.c: the native reader's view of a YAML document: reading the file, locations of
 * libyaml's nodes in lines and byte columns, and typed readers of keys and values. */
#include "runtime/formats/native_yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/base/limits.h"
#include "runtime/base/yaml_limits.h"

void yerr(yctx *y, src_loc loc, const char *fmt, ...)
{
    y->errors++;
    if (!y->d)
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_verror(y->d, loc, fmt, ap);
    va_end(ap);
}

void ynote(yctx *y, src_loc loc, const char *fmt, ...)
{
    if (!y->d)
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_vnote(y->d, loc, fmt, ap);
    va_end(ap);
}

/* Byte column (1-based) of a libyaml mark, whose column counts characters. */
static int byte_col(const yctx *y, yaml_mark_t mk)
{
    if ((int)mk.line >= y->n_lines || y->ascii)
        return (int)mk.column + 1;
    size_t p = y->line_start[mk.line];
    for (size_t c = 0; c < mk.column && p < y->len && y->text[p] != '\n'; c++) {
        p++;
        while (p < y->len && ((unsigned char)y->text[p] & 0xC0) == 0x80)
            p++;
    }
    return (int)(p - y->line_start[mk.line]) + 1;
}

src_loc mark_loc(const yctx *y, yaml_mark_t mk)
{
    src_loc l = {y->path, (int)mk.line + 1, byte_col(y, mk), 1};
    return l;
}

src_loc node_loc(const yctx *y, const yaml_node_t *n)
{
    src_loc l = mark_loc(y, n->start_mark);
    if (n->end_mark.line == n->start_mark.line && n->type == YAML_SCALAR_NODE) {
        int end = byte_col(y, n->end_mark);
        if (end > l.col)
            l.len = end - l.col;
    }
    return l;
}

yaml_node_t *node(yctx *y, int i) { return yaml_document_get_node(&y->doc, i); }

const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? "a scalar" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
}

/* The keys of a mapping, checked against `allowed` (NULL-terminated; NULL allows any):
 * duplicate and unknown keys are reported. vals[i] receives the value node of allowed[i]. */
void read_mapping(yctx *y, yaml_node_t *map, const char *what, const char *const *allowed,
                         yaml_node_t **vals, yaml_node_t **keys)
{
    int n_allowed = 0;
    while (allowed[n_allowed])
        n_allowed++;
    for (int i = 0; i < n_allowed; i++) {
        vals[i] = NULL;
        if (keys)
            keys[i] = NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(y, p->key), *v = node(y, p->value);
        const char *ks = scalar(k);
        if (!ks) {
            yerr(y, node_loc(y, k), "%s keys must be plain names", what);
            continue;
        }
        int idx = -1;
        for (int i = 0; i < n_allowed; i++)
            if (!strcmp(ks, allowed[i]))
                idx = i;
        if (idx < 0) {
            const char *hint = diag_suggest(ks, allowed, n_allowed);
            if (hint)
                yerr(y, node_loc(y, k), "unknown %s key '%s' (did you mean '%s'?)", what, ks, hint);
            else
                yerr(y, node_loc(y, k), "unknown %s key '%s'", what, ks);
            continue;
        }
        if (vals[idx]) {
            yerr(y, node_loc(y, k), "duplicate key '%s'", ks);
            if (keys && keys[idx])
                ynote(y, node_loc(y, keys[idx]), "first given here");
            continue;
        }
        vals[idx] = v;
        if (keys)
            keys[idx] = k;
    }
}

const char *expect_string(yctx *y, yaml_node_t *n, const char *what)
{
    const char *s = scalar(n);
    if (!s) {
        yerr(y, node_loc(y, n), "%s must be a name, not %s", what, node_kind(n));
        return NULL;
    }
    if (strlen(s) != n->data.scalar.length) {
        yerr(y, node_loc(y, n), "%s contains a NUL character", what);
        return NULL;
    }
    if (!*s) {
        yerr(y, node_loc(y, n), "%s is empty", what);
        return NULL;
    }
    return s;
}

int expect_int(yctx *y, yaml_node_t *n, const char *what, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s = scalar(n);
    if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        yerr(y, node_loc(y, n), "%s must be a whole number", what);
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno) {
        yerr(y, node_loc(y, n), "%s must be a whole number, not '%s'", what, s);
        return -1;
    }
    if (v < lo || v > hi) {
        yerr(y, node_loc(y, n), "%s must be between %" PRId64 " and %" PRId64 ", not %lld", what, lo,
             hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* A list of names: a sequence of scalars, or one scalar. Returns the count (-1 on error);
 * names/locs are malloc'd arrays of borrowed strings. */
int name_list(yctx *y, yaml_node_t *n, const char *what, const char ***names, src_loc **locs)
{
    *names = NULL;
    *locs = NULL;
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = expect_string(y, n, what);
        if (!s)
            return -1;
        *names = malloc(sizeof **names);
        *locs = malloc(sizeof **locs);
        if (!*names || !*locs)
            goto oom;
        (*names)[0] = s;
        (*locs)[0] = node_loc(y, n);
        return 1;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        yerr(y, node_loc(y, n), "%s must be a list of names, not %s", what, node_kind(n));
        return -1;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    *names = malloc((size_t)(count > 0 ? count : 1) * sizeof **names);
    *locs = malloc((size_t)(count > 0 ? count : 1) * sizeof **locs);
    if (!*names || !*locs)
        goto oom;
    int bad = 0;
    for (int i = 0; i < count; i++) {
        yaml_node_t *it = node(y, n->data.sequence.items.start[i]);
        const char *s = expect_string(y, it, what);
        if (!s)
            bad++;
        (*names)[i] = s;
        (*locs)[i] = node_loc(y, it);
    }
    if (bad) {
        free(*names);
        free(*locs);
        *names = NULL;
        *locs = NULL;
        return -1;
    }
    return count;
oom:
    free(*names);
    free(*locs);
    *names = NULL;
    *locs = NULL;
    yerr(y, node_loc(y, n), "out of memory");
    return -1;
}

/* A YAML value as a conf_value for layer_set_option/train_conf_set: plain scalars in the
 * script's value syntax (numbers, names, true/false, calls such as adam(learning_rate = 0.01)),
 * quoted scalars as strings (or calls, when they are one), sequences as lists. */
conf_value *yaml_value(yctx *y, yaml_node_t *n, int depth)
{
    src_loc loc = node_loc(y, n);
    if (depth > 16) {
        yerr(y, loc, "value nested too deeply");
        return NULL;
    }
    if (n->type == YAML_MAPPING_NODE) {
        yerr(y, loc, "expected a value (number, name, call or list), found a mapping");
        return NULL;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        conf_value *list = conf_list(loc);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yaml_node_t *c = node(y, *it);
            conf_value *v = yaml_value(y, c, depth + 1);
            if (!v) {
                conf_value_free(list);
                return NULL;
            }
            conf_push_arg(list, NULL, loc_none(), v);
        }
        return list;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        yerr(y, loc, "value contains a NUL character");
        return NULL;
    }
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        src_loc at = loc;
        at.len = 1;
        conf_value *v = conf_parse_text(s, at, y->d);
        if (!v)
            y->errors++;
        return v;
    }
    src_loc inner = loc;
    inner.col += 1;
    inner.len = 1;
    conf_value *v = conf_parse_text(s, inner, NULL);
    if (v && v->kind == CV_CALL)
        return v;
    conf_value_free(v);
    return conf_str(CV_STR, s, loc);
}

static int read_file(const char *path, char **text, size_t *len, char *err, size_t err_len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, err_len, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0 || n > LIMIT_YAML_BYTES)
            break;
    }
    bool oom = !buf, big = !oom && n > LIMIT_YAML_BYTES, bad = oom || big || ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        if (big)
            snprintf(err, err_len, "the file is larger than %d MiB (the limit on a model YAML)",
                     LIMIT_YAML_BYTES >> 20);
        else
            snprintf(err, err_len, "%s", oom ? "out of memory" : "read error");
        return -1;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

int yaml_read_text(yctx *y, const char *path)
{
    char err[512];
    struct diag_ctx *d = y->d;
    if (read_file(path, &y->text, &y->len, err, sizeof err) != 0) {
        if (d)
            diag_error(d, (src_loc){y->path, 0, 0, 0}, "%s", err);
        return -1;
    }
    if (d)
        diag_set_text(d, y->path, y->text, y->len);
    /* Line starts, for byte columns. */
    int cap = 64;
    y->line_start = malloc((size_t)cap * sizeof *y->line_start);
    y->ascii = true;
    if (y->line_start) {
        y->line_start[y->n_lines++] = 0;
        for (size_t i = 0; i < y->len && y->line_start; i++) {
            if ((unsigned char)y->text[i] & 0x80)
                y->ascii = false;
            if (y->text[i] == '\n') {
                if (y->n_lines == cap) {
                    size_t *ns = realloc(y->line_start, (size_t)(cap *= 2) * sizeof *ns);
                    if (!ns) {
                        free(y->line_start);
                        y->line_start = NULL;
                        break;
                    }
                    y->line_start = ns;
                }
                y->line_start[y->n_lines++] = i + 1;
            }
        }
    }
    if (!y->line_start) {
        if (d)
            diag_error(d, (src_loc){y->path, 0, 0, 0}, "out of memory");
        return -1;
    }
    return 0;
}

/* Refuses, at its place, what passes a limit of runtime/base/limits.h, before libyaml builds
 * the document (quadratic in the nesting depth). Returns true when the text is within them. */
static bool within_limits(yctx *y)
{
    yaml_parser_t scan;
    if (!yaml_parser_initialize(&scan)) {
        yerr(y, (src_loc){y->path, 0, 0, 0}, "out of memory");
        return false;
    }
    yaml_parser_set_input_string(&scan, (const unsigned char *)y->text, y->len);
    yaml_limit_hit hit;
    int over = yaml_scan_limits(&scan, &hit);
    yaml_parser_delete(&scan);
    if (over) {
        yaml_mark_t mk = {.line = hit.line, .column = hit.column};
        yerr(y, mark_loc(y, mk), "%s", hit.msg);
    }
    return !over;
}

void yaml_parse_text(yctx *y, void (*parse)(yctx *y, yaml_node_t *root))
{
    if (!within_limits(y))
        return;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)y->text, y->len);
    bool have_doc = false;
    if (!yaml_parser_load(&parser, &y->doc)) {
        src_loc at = mark_loc(y, parser.problem_mark);
        if (parser.error == YAML_MEMORY_ERROR)   /* status 4, not a syntax error */
            yerr(y, (src_loc){y->path, 0, 0, 0}, "out of memory while reading the YAML");
        else
            yerr(y, at, "YAML syntax error: %s", parser.problem ? parser.problem : "malformed YAML");
        if (parser.context && parser.error != YAML_MEMORY_ERROR)
            ynote(y, mark_loc(y, parser.context_mark), "%s", parser.context);
    } else {
        have_doc = true;
        parse(y, yaml_document_get_root_node(&y->doc));
        yaml_document_t extra;
        if (!y->errors && yaml_parser_load(&parser, &extra)) {
            if (yaml_document_get_root_node(&extra))
                yerr(y, mark_loc(y, extra.start_mark), "a model file holds one YAML document");
            yaml_document_delete(&extra);
        } else if (!y->errors && parser.error == YAML_MEMORY_ERROR) {
            yerr(y, (src_loc){y->path, 0, 0, 0}, "out of memory while reading the YAML");
        } else if (!y->errors) {
            yerr(y, mark_loc(y, parser.problem_mark), "YAML syntax error: %s",
                 parser.problem ? parser.problem : "malformed YAML");
        }
    }
    yaml_parser_delete(&parser);
    if (have_doc)
        yaml_document_delete(&y->doc);
}

void yaml_read_done(yctx *y)
{
    free(y->line_start);
    free(y->text);
    free(y->broken);
    for (int i = 0; i < y->cap_in_locs; i++)
        free(y->in_locs[i]);
    free(y->in_locs);
}
