/* format.c: the registry of model formats: a file goes to the reader that recognises its first
 * bytes, a save to the writer of its path's suffix. */
#include "runtime/formats/format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/base/util.h"

const model_reader *model_reader_for(const unsigned char *head, size_t n)
{
    for (int i = 0; model_readers[i]; i++)
        if (model_readers[i]->sniff(head, n))
            return model_readers[i];
    return NULL;
}

/* path ends in suffix after a non-empty file name. */
static bool takes_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n > k && str_ends_with(path, suffix) && path[n - k - 1] != '/';
}

const model_writer *model_writer_for(const char *path)
{
    for (int i = 0; model_writers[i]; i++)
        for (int k = 0; model_writers[i]->suffixes[k]; k++)
            if (takes_suffix(path, model_writers[i]->suffixes[k]))
                return model_writers[i];
    return NULL;
}

int model_save_check(const model *m, const char *path, const char **format, char *err,
                     size_t err_len)
{
    const model_writer *w = model_writer_for(path);
    if (format)
        *format = w ? w->name : NULL;
    err[0] = '\0';
    return w && w->check ? w->check(m, err, err_len) : 0;
}

/* Appends the items of a list to buf: "a", "a or b", "a, b or c". */
static void append_item(char *buf, size_t len, const char *item, int index, bool last)
{
    size_t at = strlen(buf);
    snprintf(buf + at, len - at, "%s%s", index == 0 ? "" : last ? " or " : ", ", item);
}

void model_format_error(struct diag_ctx *d, const char *path, const char *fmt, ...)
{
    if (!d)
        return;
    src_loc l = {diag_intern_path(d, path), 0, 0, 0};
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, l, fmt, ap);
    va_end(ap);
}

model *model_load(const char *path, bool load_weights, struct diag_ctx *d)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        model_format_error(d, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    unsigned char head[MODEL_SNIFF_BYTES];
    size_t n = fread(head, 1, sizeof head, fp);
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        model_format_error(d, path, "read error");
        return NULL;
    }
    const model_reader *r = model_reader_for(head, n);
    if (r)
        return r->read(path, load_weights, d);
    int count = 0;
    while (model_readers[count])
        count++;
    char expected[1024] = "";
    for (int i = 0; i < count; i++)
        append_item(expected, sizeof expected, model_readers[i]->expected, i, i == count - 1);
    model_format_error(d, path, "not a model file surgery reads: expected %s", expected);
    return NULL;
}

int model_save(const model *m, const char *path, struct diag_ctx *d)
{
    return model_save_mode(m, path, SAVE_DURABLE, d);
}

int model_save_mode(const model *m, const char *path, save_mode mode, struct diag_ctx *d)
{
    const model_writer *w = model_writer_for(path);
    if (w)
        return w->write(m, path, mode, d);
    char saved_as[512] = "", suffixes[256] = "";
    int n_writers = 0, n_suffixes = 0, at = 0;
    while (model_writers[n_writers]) {
        for (int k = 0; model_writers[n_writers]->suffixes[k]; k++)
            n_suffixes++;
        n_writers++;
    }
    for (int i = 0; i < n_writers; i++) {
        append_item(saved_as, sizeof saved_as, model_writers[i]->saved_as, i, i == n_writers - 1);
        for (int k = 0; model_writers[i]->suffixes[k]; k++, at++)
            append_item(suffixes, sizeof suffixes, model_writers[i]->suffixes[k], at,
                        at == n_suffixes - 1);
    }
    model_format_error(d, path, "a model is saved as %s: the path must end in %s", saved_as, suffixes);
    return -1;
}
