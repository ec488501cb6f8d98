/* data_text.c: the text(PATH) source for character-level language models: windows of
 * seq_length bytes one-hot over a vocabulary, each step labelled with the byte that follows. */
#include "runtime/data/data_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct text_impl {
    char *path;
    FILE *f;
    int64_t seq_length;
    int16_t map[256];        /* byte -> vocabulary index, -1 when absent */
    unsigned char *buf;
    size_t buf_cap;
} text_impl;

static void text_close(dataset *ds)
{
    text_impl *t = ds->impl;
    if (!t)
        return;
    if (t->f)
        fclose(t->f);
    free(t->path);
    free(t->buf);
    free(t);
    ds->impl = NULL;
}

static int text_fill(dataset *ds, const int64_t *ids, int64_t n, batch *b, diag_ctx *d)
{
    text_impl *t = ds->impl;
    int64_t L = t->seq_length, V = ds->features;
    if (tensor_alloc3(&b->x, L, n, V) != 0 || tensor_alloc3(&b->y, L, n, V) != 0) {
        diag_error(d, ds->loc, "out of memory for a batch of %lld sequences", (long long)n);
        return -1;
    }
    if (data_grow(ds, (void **)&t->buf, &t->buf_cap, (size_t)L + 1) != 0) {
        diag_error(d, ds->loc, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (read_at(t->f, ids[i] * L, t->buf, (size_t)L + 1) != 0) {
            diag_error(d, file_loc(d, t->path, 0, 0, 0), "cannot read sequence %lld (was the file changed?)",
                       (long long)ids[i]);
            return -1;
        }
        for (int64_t s = 0; s <= L; s++) {
            int c = t->map[t->buf[s]];
            if (c < 0) {
                diag_error(d, file_loc(d, t->path, 0, 0, 0), "the file changed after it was checked");
                return -1;
            }
            if (s < L)
                b->x.data[(s * n + i) * V + c] = 1.0f;
            if (s > 0)
                b->y.data[((s - 1) * n + i) * V + c] = 1.0f;
        }
    }
    return 0;
}

static int text_hash(dataset *ds, XXH3_state_t *h, diag_ctx *d)
{
    text_impl *t = ds->impl;
    return hash_file(h, t->path, d, file_loc(d, t->path, 0, 0, 0));
}

static const data_reader text_reader = {text_fill, text_hash, text_close};

static void describe_byte(char *out, size_t n, unsigned char c)
{
    if (c >= 0x20 && c < 0x7f && c != '\'')
        snprintf(out, n, "'%c'", c);
    else
        snprintf(out, n, "byte 0x%02x", c);
}

int text_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe)
{
    text_impl *t = calloc(1, sizeof *t);
    if (!t) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    ds->impl = t;
    ds->ops = &text_reader;
    ds->sequence = true;
    t->seq_length = 50;
    int64_t limit = -1;
    const char *vocab = NULL;
    int err = data_common_options(ds, spec, false, true, &limit, d);
    err |= opt_int(spec, "seq_length", 1, -1, &t->seq_length, d);
    err |= opt_string(spec, "vocab", &vocab, d);
    for (int i = 0; i < 256; i++)
        t->map[i] = -1;
    if (vocab) {
        const conf_value *vv = data_opt(spec, "vocab")->value;
        if (!vocab[0]) {
            diag_error(d, vv->loc, "`vocab` is empty");
            err = -1;
        }
        for (int i = 0; vocab[i]; i++) {
            unsigned char c = (unsigned char)vocab[i];
            if (t->map[c] >= 0) {
                char desc[16];
                describe_byte(desc, sizeof desc, c);
                diag_error(d, vv->loc, "`vocab` holds %s twice", desc);
                err = -1;
                break;
            }
            t->map[c] = (int16_t)i;
        }
    }
    t->path = src_path_arg(spec, "path", 0, "the text file", d);
    if (err || !t->path)
        return -1;
    const conf_value *pv = src_arg(spec, "path", 0);
    t->f = fopen(t->path, "rb");
    struct stat sb;
    if (!t->f || fstat(fileno(t->f), &sb) != 0) {
        diag_error(d, pv->loc, "cannot open '%s': %s", t->path, strerror(errno));
        return -1;
    }
    int64_t size = (int64_t)sb.st_size;
    ds->steps = t->seq_length;
    if (size < t->seq_length + 1) {
        diag_error(d, pv->loc, "'%s' has %lld byte%s; seq_length = %lld needs at least %lld", t->path,
                   (long long)size, size == 1 ? "" : "s", (long long)t->seq_length, (long long)t->seq_length + 1);
        return -1;
    }
    /* One pass: the vocabulary (or a check against the given one). */
    if (!vocab || !probe) {
        int64_t seen[256] = {0};
        unsigned char chunk[16384];
        int64_t line = 1, col = 1;
        size_t m;
        while ((m = fread(chunk, 1, sizeof chunk, t->f)) > 0) {
            for (size_t i = 0; i < m; i++) {
                unsigned char c = chunk[i];
                if (vocab && t->map[c] < 0) {
                    char desc[16];
                    describe_byte(desc, sizeof desc, c);
                    diag_error(d, file_loc(d, t->path, line, col, 1), "%s is not in the vocab", desc);
                    data_note(ds, d);
                    return -1;
                }
                seen[c]++;
                if (c == '\n') {
                    line++;
                    col = 1;
                } else {
                    col++;
                }
            }
        }
        if (ferror(t->f)) {
            diag_error(d, pv->loc, "error reading '%s'", t->path);
            return -1;
        }
        if (!vocab) {
            int16_t k = 0;
            for (int c = 0; c < 256; c++)
                if (seen[c])
                    t->map[c] = k++;
        }
    }
    int64_t V = 0;
    for (int c = 0; c < 256; c++)
        V += t->map[c] >= 0;
    ds->vocab = malloc((size_t)V);
    if (!ds->vocab) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    for (int c = 0; c < 256; c++)
        if (t->map[c] >= 0)
            ds->vocab[t->map[c]] = (unsigned char)c;
    ds->vocab_len = V;
    ds->features = ds->classes = ds->outputs = V;
    int64_t n = (size - 1) / t->seq_length;
    ds->count = limit > 0 && limit < n ? limit : n;
    data_setting(ds, "seq_length=%lld", (long long)t->seq_length);
    data_setting(ds, "vocab=%d", vocab != NULL);
    data_setting(ds, "limit=%lld", (long long)limit);
    return 0;
}
