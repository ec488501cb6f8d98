/* diag.c: compiler-style diagnostics: location header, the source line with a caret and tildes
 * under the span, notes, colour on terminals, error counts and "did you mean" suggestions. */
#include "runtime/base/diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runtime/base/util.h"

/* One file known to the context: its interned path and, once needed, its text and line table. */
typedef struct src_file {
    char *path;
    char *text;             /* NULL until registered or read */
    size_t len;
    bool tried;             /* text registered, or a disk read attempted */
    size_t *line_starts;    /* built on first use */
    int n_lines;
} src_file;

struct diag_ctx {
    FILE *out;
    bool color;
    int errors, warnings;
    int oom_errors;         /* errors that say "out of memory" */
    bool muted;             /* the last error or warning was not shown: neither are its notes */
    bool told_hidden;       /* "N more errors not shown" printed for the current count */
    src_file **files;
    int n_files, cap_files;
    src_file *last;         /* the most recently used file (lookups repeat) */
};

static bool want_color(FILE *out, diag_color_mode mode)
{
    if (mode == DIAG_COLOR_ALWAYS)
        return true;
    if (mode == DIAG_COLOR_NEVER)
        return false;
    const char *term = getenv("TERM");
    if (getenv("NO_COLOR") || !term || !strcmp(term, "dumb"))
        return false;
    return isatty(fileno(out)) == 1;
}

diag_ctx *diag_new(FILE *out, diag_color_mode color)
{
    diag_ctx *d = xrealloc(NULL, sizeof *d);
    memset(d, 0, sizeof *d);
    d->out = out;
    d->color = want_color(out, color);
    return d;
}

static void file_free(src_file *f)
{
    free(f->path);
    free(f->text);
    free(f->line_starts);
    free(f);
}

void diag_free(diag_ctx *d)
{
    if (!d)
        return;
    diag_report_hidden(d);
    for (int i = 0; i < d->n_files; i++)
        file_free(d->files[i]);
    free(d->files);
    free(d);
}

/* The registry entry of a path (by pointer first, then by content), created when absent. */
static src_file *file_get(diag_ctx *d, const char *path)
{
    if (d->last && (d->last->path == path || !strcmp(d->last->path, path)))
        return d->last;
    for (int i = 0; i < d->n_files; i++)
        if (d->files[i]->path == path || !strcmp(d->files[i]->path, path))
            return d->last = d->files[i];
    if (d->n_files == d->cap_files) {
        d->cap_files = d->cap_files ? d->cap_files * 2 : 8;
        d->files = xrealloc(d->files, (size_t)d->cap_files * sizeof *d->files);
    }
    src_file *f = xrealloc(NULL, sizeof *f);
    memset(f, 0, sizeof *f);
    f->path = xstrdup(path);
    d->files[d->n_files++] = f;
    return d->last = f;
}

const char *diag_intern_path(diag_ctx *d, const char *path)
{
    return file_get(d, path)->path;
}

void diag_set_text(diag_ctx *d, const char *path, const char *text, size_t len)
{
    src_file *f = file_get(d, path);
    free(f->text);
    free(f->line_starts);
    f->line_starts = NULL;
    f->n_lines = 0;
    f->text = xrealloc(NULL, len + 1);
    memcpy(f->text, text, len);
    f->text[len] = 0;
    f->len = len;
    f->tried = true;
}

/* Reads the file's text from disk the first time a line of it is printed. */
static void file_load(src_file *f)
{
    if (f->tried)
        return;
    f->tried = true;
    FILE *fp = fopen(f->path, "rb");
    if (!fp)
        return;
    size_t cap = 4096, len = 0;
    char *buf = xrealloc(NULL, cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return;
    }
    f->text = buf;
    f->len = len;
}

/* The bytes of line `line` (1-based) without its newline; false when out of range. */
static bool file_line(src_file *f, int line, const char **start, size_t *len)
{
    file_load(f);
    if (!f->text || line < 1)
        return false;
    if (!f->line_starts) {
        int n = 1;
        for (size_t i = 0; i < f->len; i++)
            n += f->text[i] == '\n';
        f->line_starts = xrealloc(NULL, (size_t)(n + 1) * sizeof *f->line_starts);
        int k = 0;
        f->line_starts[k++] = 0;
        for (size_t i = 0; i < f->len; i++)
            if (f->text[i] == '\n')
                f->line_starts[k++] = i + 1;
        f->line_starts[k] = f->len + 1;
        f->n_lines = n;
    }
    if (line > f->n_lines)
        return false;
    size_t a = f->line_starts[line - 1];
    size_t b = f->line_starts[line] - 1; /* the newline, or the end of the text */
    if (a > f->len)
        return false;
    if (b > f->len)
        b = f->len;
    while (b > a && f->text[b - 1] == '\r')
        b--;
    *start = f->text + a;
    *len = b - a;
    return true;
}

/* The part [*from, *to) of a line of len bytes that is shown: all of it when it has at most
 * DIAG_LINE_WIDTH bytes, else DIAG_LINE_WIDTH bytes around column col (0-based), cut at
 * character boundaries (never inside a UTF-8 sequence). */
static void line_window(const char *text, size_t len, size_t col, size_t *from, size_t *to)
{
    *from = 0;
    *to = len;
    if (len <= DIAG_LINE_WIDTH)
        return;
    size_t a = col > DIAG_LINE_WIDTH / 2 ? col - DIAG_LINE_WIDTH / 2 : 0;
    if (a > len - DIAG_LINE_WIDTH)
        a = len - DIAG_LINE_WIDTH;
    size_t b = a + DIAG_LINE_WIDTH;
    *from = a;
    *to = b;
    while (a > 0 && a < b && ((unsigned char)text[a] & 0xC0) == 0x80)
        a++;
    while (b > a && b < len && ((unsigned char)text[b] & 0xC0) == 0x80)
        b--;
    if (a < b) {   /* else the window is all continuation bytes (not UTF-8): cut it as it is */
        *from = a;
        *to = b;
    }
}

typedef enum { K_ERROR, K_WARNING, K_NOTE } diag_kind;

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"

static void emit(diag_ctx *d, diag_kind kind, src_loc loc, const char *fmt, va_list ap)
{
    static const char *const labels[] = {"error", "warning", "note"};
    static const char *const colors[] = {"\033[1;31m", "\033[1;35m", "\033[1;36m"};
    FILE *o = d->out;
    const char *bold = d->color ? C_BOLD : "";
    const char *reset = d->color ? C_RESET : "";
    if (loc.line > 0 && loc.file)
        fprintf(o, "%s%s:%d:%d:%s ", bold, loc.file, loc.line, loc.col, reset);
    else if (loc.file)
        fprintf(o, "%s%s:%s ", bold, loc.file, reset);
    else
        fprintf(o, "%ssurgery:%s ", bold, reset);
    fprintf(o, "%s%s:%s %s", d->color ? colors[kind] : "", labels[kind], reset, bold);
    vfprintf(o, fmt, ap);
    fprintf(o, "%s\n", reset);

    const char *text;
    size_t len;
    if (loc.line <= 0 || !loc.file || !file_line(file_get(d, loc.file), loc.line, &text, &len))
        return;
    size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
    size_t span = loc.len > 1 ? (size_t)loc.len : 1;
    if (col >= len)
        span = 1;
    else if (col + span > len)
        span = len - col;
    size_t from, to;
    line_window(text, len, col, &from, &to);
    if (span > 1 && col + span > to)
        span = to > col ? to - col : 1;
    const char *cut = "...";
    fprintf(o, "%5d | %s", loc.line, from > 0 ? cut : "");
    fwrite(text + from, 1, to - from, o);
    fprintf(o, "%s\n      | %s", to < len ? cut : "", from > 0 ? "   " : "");
    for (size_t i = from; i < col; i++)
        fputc(i < len && text[i] == '\t' ? '\t' : ' ', o);
    fputs(d->color ? "\033[1;32m" : "", o);
    fputc('^', o);
    for (size_t i = 1; i < span; i++)
        fputc('~', o);
    fprintf(o, "%s\n", reset);
}

/* Errors and warnings past the first DIAG_MAX_ERRORS errors are counted, not printed. */
static bool over_limit(const diag_ctx *d)
{
    return d->errors >= DIAG_MAX_ERRORS;
}

/* An error or a warning: printed while under the limit; its notes follow it either way. */
static void emit_counted(diag_ctx *d, diag_kind kind, src_loc loc, const char *fmt, va_list ap)
{
    d->muted = over_limit(d);
    if (!d->muted)
        emit(d, kind, loc, fmt, ap);
}

void diag_verror(diag_ctx *d, src_loc loc, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    emit_counted(d, K_ERROR, loc, fmt, ap);
    char head[256];
    vsnprintf(head, sizeof head, fmt, again);
    va_end(again);
    if (strstr(head, "out of memory"))
        d->oom_errors++;
    d->errors++;
    d->told_hidden = false;
}

void diag_vwarning(diag_ctx *d, src_loc loc, const char *fmt, va_list ap)
{
    emit_counted(d, K_WARNING, loc, fmt, ap);
    d->warnings++;
}

void diag_vnote(diag_ctx *d, src_loc loc, const char *fmt, va_list ap)
{
    if (d->muted)
        return;
    emit(d, K_NOTE, loc, fmt, ap);
}

void diag_error(diag_ctx *d, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, loc, fmt, ap);
    va_end(ap);
}

void diag_warning(diag_ctx *d, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vwarning(d, loc, fmt, ap);
    va_end(ap);
}

void diag_note(diag_ctx *d, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vnote(d, loc, fmt, ap);
    va_end(ap);
}

int diag_format(char *buf, size_t n, const char *fmt, ...)
{
    if (buf && n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int diag_hidden_count(const diag_ctx *d)
{
    return d->errors > DIAG_MAX_ERRORS ? d->errors - DIAG_MAX_ERRORS : 0;
}

void diag_report_hidden(diag_ctx *d)
{
    int hidden = diag_hidden_count(d);
    if (hidden == 0 || d->told_hidden)
        return;
    const char *bold = d->color ? C_BOLD : "";
    const char *reset = d->color ? C_RESET : "";
    fprintf(d->out, "%ssurgery:%s %d more error%s not shown\n", bold, reset, hidden,
            hidden == 1 ? "" : "s");
    fflush(d->out);
    d->told_hidden = true;
}

int diag_error_count(const diag_ctx *d)
{
    return d->errors;
}

bool diag_saw_oom(const diag_ctx *d)
{
    return d->oom_errors > 0;
}

int diag_warning_count(const diag_ctx *d)
{
    return d->warnings;
}

/* Levenshtein distance in which swapping two adjacent characters also counts as one edit
 * (the commonest typing slip: "form" for "from"). */
int diag_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n == 0 || m == 0)
        return (int)(n + m);
    int *block = xrealloc(NULL, 3 * (m + 1) * sizeof(int));
    int *prev2 = block, *prev = block + (m + 1), *cur = prev + (m + 1);
    for (size_t j = 0; j <= m; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    int r = prev[m];
    free(block);
    return r;
}

const char *diag_suggest(const char *word, const char *const *candidates, int n_candidates)
{
    if (!word)
        return NULL;
    int limit = (int)strlen(word) / 3;
    if (limit < 1)
        limit = 1;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n_candidates; i++) {
        if (!candidates[i])
            continue;
        int dist = diag_edit_distance(word, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    return best;
}
