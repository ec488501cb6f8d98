/* parse.c: reads .surgery files, runs the scanner and parser over them, and loads a script
 * with the files its `include` statements name (relative paths, cycles reported). */
#include "compiler/parse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/base/limits.h"
#include "parser.h"
#include "scanner.h"

src_loc parse_src_loc(const parse_state *ps, parse_loc l)
{
    src_loc s;
    s.file = ps->file;
    s.line = l.first_line;
    s.col = l.first_column;
    s.len = l.first_line == l.last_line ? l.last_column - l.first_column : 1;
    if (s.len < 0)
        s.len = 0;
    return s;
}

char *parse_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 1 << 14, n = 0, got;
    char *buf = xmalloc(cap);
    /* at most one byte past the limit: parse_text refuses what is larger */
    while (n <= LIMIT_SCRIPT_BYTES && (got = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    if (ferror(fp)) {
        int e = errno ? errno : EIO;
        fclose(fp);
        free(buf);
        errno = e;
        return NULL;
    }
    fclose(fp);
    buf[n] = 0;
    *len = n;
    return buf;
}

ast_file *parse_text(const char *path, const char *text, size_t len, diag_ctx *d, int *n_errors)
{
    int before = diag_error_count(d);
    const char *file = diag_intern_path(d, path);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) { /* a UTF-8 byte order mark */
        text += 3;
        len -= 3;
    }
    diag_set_text(d, file, text, len);
    parse_state ps;
    memset(&ps, 0, sizeof ps);
    ps.d = d;
    ps.file = file;
    ps.out = ast_file_new(file);
    ps.line = ps.col = 1;
    ps.line_start = true;
    ps.last_queued = NL;
    if (len > LIMIT_SCRIPT_BYTES) {
        src_loc at = {file, 0, 0, 0};
        diag_error(d, at, "the script is larger than %d MiB (the limit on a script file)",
                   LIMIT_SCRIPT_BYTES >> 20);
    } else {
        yyscan_t sc;
        if (surg_lex_init_extra(&ps, &sc) != 0) {
            fputs("surgery: out of memory\n", stderr);
            abort();
        }
        YY_BUFFER_STATE b = surg__scan_bytes(text, (int)len, sc);
        surg_parse(sc, &ps);
        surg__delete_buffer(b, sc);
        surg_lex_destroy(sc);
    }
    parse_filter_release(&ps);
    *n_errors = diag_error_count(d) - before;
    return ps.out;
}

ast_file *parse_file(const char *path, src_loc at, diag_ctx *d, int *n_errors)
{
    size_t len;
    char *text = parse_read_file(path, &len);
    if (!text) {
        diag_error(d, at, "cannot read '%s': %s", path, strerror(errno));
        *n_errors = 1;
        return NULL;
    }
    ast_file *f = parse_text(path, text, len, d, n_errors);
    free(text);
    return f;
}

/* ---- scripts with their includes ---- */

char *script_join_path(const char *from_file, const char *rel)
{
    const char *slash = from_file ? strrchr(from_file, '/') : NULL;
    size_t dir = rel[0] == '/' || !slash ? 0 : (size_t)(slash - from_file) + 1;
    size_t n = strlen(rel);
    char *joined = xmalloc(dir + n + 1);
    memcpy(joined, from_file, dir);
    memcpy(joined + dir, rel, n + 1);
    /* lexical clean-up: drop empty and "." segments, fold "name/.." pairs */
    bool abs = joined[0] == '/';
    const char **seg = xmalloc((dir + n + 1) * sizeof *seg);
    size_t *seg_len = xmalloc((dir + n + 1) * sizeof *seg_len);
    int k = 0;
    for (const char *p = joined; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool dot = len == 1 && p[0] == '.';
        bool up = len == 2 && p[0] == '.' && p[1] == '.';
        if (len == 0 || dot) {
        } else if (up && k > 0 && !(seg_len[k - 1] == 2 && !memcmp(seg[k - 1], "..", 2))) {
            k--;
        } else if (!(up && abs)) {
            seg[k] = p;
            seg_len[k++] = len;
        }
        p += len + (e ? 1 : 0);
    }
    char *out = xmalloc(dir + n + 3);
    size_t o = 0;
    if (abs)
        out[o++] = '/';
    for (int i = 0; i < k; i++) {
        if (i > 0)
            out[o++] = '/';
        memcpy(out + o, seg[i], seg_len[i]);
        o += seg_len[i];
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = 0;
    free(seg);
    free(seg_len);
    free(joined);
    return out;
}

typedef struct chain_link {
    const char *path;
    dev_t dev;
    ino_t ino;
    const struct chain_link *up;
    int depth;              /* 0 for the script, 1 for the files it includes, ... */
    int *n_included;        /* files included so far by the whole script */
} chain_link;

static void load_includes(script_file *sf, const chain_link *chain, diag_ctx *d, int *errors);

static script_file *load(const char *path, src_loc at, const chain_link *up, diag_ctx *d,
                         int *errors)
{
    if (up->depth + 1 > LIMIT_INCLUDE_DEPTH) {
        diag_error(d, at, "includes nested deeper than %d files (the limit on a chain of "
                   "includes)", LIMIT_INCLUDE_DEPTH);
        (*errors)++;
        return NULL;
    }
    if (++*up->n_included > LIMIT_INCLUDED_FILES) {
        if (*up->n_included == LIMIT_INCLUDED_FILES + 1) {   /* said once */
            diag_error(d, at, "more than %d included files (the limit on the files a script "
                       "includes, each time it includes them)", LIMIT_INCLUDED_FILES);
            (*errors)++;
        }
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        diag_error(d, at, "cannot read '%s': %s", path, strerror(errno));
        (*errors)++;
        return NULL;
    }
    int n = 0;
    ast_file *f = parse_file(path, at, d, &n);
    *errors += n;
    if (!f)
        return NULL;
    script_file *sf = xmalloc(sizeof *sf);
    memset(sf, 0, sizeof *sf);
    sf->ast = f;
    chain_link me = {f->path, st.st_dev, st.st_ino, up, up->depth + 1, up->n_included};
    load_includes(sf, &me, d, errors);
    return sf;
}

/* Writes "a -> b -> ... -> path" for the cycle closed by including `path`. */
static char *cycle_text(const chain_link *chain, const chain_link *target, const char *path)
{
    size_t len = strlen(path) + 1;
    int n = 0;
    for (const chain_link *c = chain; c; c = c->up) {
        len += strlen(c->path) + 4;
        n++;
        if (c == target)
            break;
    }
    const chain_link **order = xmalloc((size_t)n * sizeof *order);
    int k = n;
    for (const chain_link *c = chain; k > 0; c = c->up)
        order[--k] = c;
    char *s = xmalloc(len + 1);
    size_t o = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, "%s -> ", order[i]->path);
    sprintf(s + o, "%s", path);
    free(order);
    return s;
}

static void load_includes(script_file *sf, const chain_link *chain, diag_ctx *d, int *errors)
{
    ast_file *f = sf->ast;
    for (int i = 0; i < f->n_stmts; i++) {
        ast_stmt *st = f->stmts[i];
        if (st->kind != AST_INCLUDE)
            continue;
        if (!sf->includes) {
            sf->includes = xmalloc((size_t)f->n_stmts * sizeof *sf->includes);
            memset(sf->includes, 0, (size_t)f->n_stmts * sizeof *sf->includes);
        }
        char *path = script_join_path(f->path, st->name.s);
        struct stat stt;
        const chain_link *hit = NULL;
        if (stat(path, &stt) == 0)
            for (const chain_link *c = chain; c && !hit; c = c->up)
                if (c->dev == stt.st_dev && c->ino == stt.st_ino)
                    hit = c;
        if (hit) {
            char *text = cycle_text(chain, hit, path);
            diag_error(d, st->name.loc, "include cycle: %s", text);
            free(text);
            (*errors)++;
        } else {
            sf->includes[i] = load(path, st->name.loc, chain, d, errors);
        }
        free(path);
    }
}

script_file *script_load(const char *path, diag_ctx *d, int *n_errors, bool *unreadable)
{
    *n_errors = 0;
    *unreadable = false;
    struct stat st;
    size_t len;
    char *text = stat(path, &st) == 0 ? parse_read_file(path, &len) : NULL;
    if (!text) {
        diag_error(d, loc_none(), "cannot read '%s': %s", path, strerror(errno));
        *unreadable = true;
        *n_errors = 1;
        return NULL;
    }
    int n = 0;
    ast_file *f = parse_text(path, text, len, d, &n);
    free(text);
    script_file *sf = xmalloc(sizeof *sf);
    memset(sf, 0, sizeof *sf);
    sf->ast = f;
    *n_errors = n;
    int n_included = 0;
    chain_link me = {f->path, st.st_dev, st.st_ino, NULL, 0, &n_included};
    load_includes(sf, &me, d, n_errors);
    return sf;
}

void script_file_free(script_file *sf)
{
    if (!sf)
        return;
    if (sf->includes)
        for (int i = 0; i < sf->ast->n_stmts; i++)
            script_file_free(sf->includes[i]);
    free(sf->includes);
    ast_file_free(sf->ast);
    free(sf);
}
