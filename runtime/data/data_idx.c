/* data_idx.c: the idx(IMAGES, labels = LABELS) source: MNIST-style idx3-ubyte images (pixels
 * scaled to [0, 1]) with idx1-ubyte class labels, read by record offset; [B, H*W] rows, or
 * [B, 1, H, W] when the model input is convolutional. */
#include "runtime/data/data_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/base/checked.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u

typedef struct idx_impl {
    char *images, *labels;
    FILE *fi, *fl;
    int64_t rows, cols;
    unsigned char *buf;
    size_t buf_cap;
} idx_impl;

static void idx_close(dataset *ds)
{
    idx_impl *x = ds->impl;
    if (!x)
        return;
    if (x->fi)
        fclose(x->fi);
    if (x->fl)
        fclose(x->fl);
    free(x->images);
    free(x->labels);
    free(x->buf);
    free(x);
    ds->impl = NULL;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Opens an idx file and reads its header (magic + dims). Returns the file, or NULL (reported). */
static FILE *open_idx(dataset *ds, const char *path, const conf_value *arg, uint32_t magic, int ndims,
                      uint32_t *dims, int64_t *size, diag_ctx *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(d, arg->loc, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        diag_error(d, arg->loc, "cannot read '%s': %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    *size = (int64_t)sb.st_size;
    const char *what = magic == IDX_IMAGES_MAGIC ? "idx3-ubyte image file" : "idx1-ubyte label file";
    unsigned char h[16];
    size_t hl = 4 + 4 * (size_t)ndims;
    size_t got = fread(h, 1, hl, f);
    if (got >= 2 && h[0] == 0x1f && h[1] == 0x8b) {
        diag_error(d, file_loc(d, path, 0, 0, 0), "this is a gzip-compressed file; decompress it first (gunzip)");
        data_note(ds, d);
        fclose(f);
        return NULL;
    }
    if (got >= 4 && be32(h) != magic) {
        diag_error(d, file_loc(d, path, 0, 0, 0), "not an %s: magic number 0x%08x, expected 0x%08x", what,
                   be32(h), magic);
        data_note(ds, d);
        fclose(f);
        return NULL;
    }
    if (got < hl) {
        diag_error(d, file_loc(d, path, 0, 0, 0), "truncated %s: %zu header bytes, expected %zu", what, got, hl);
        data_note(ds, d);
        fclose(f);
        return NULL;
    }
    for (int i = 0; i < ndims; i++)
        dims[i] = be32(h + 4 + 4 * i);
    return f;
}

/* Reads the images and labels of ids[a..b) (consecutive records) into the batch rows a..b. */
static int read_run(dataset *ds, idx_impl *x, int64_t first_id, int64_t a, int64_t b, batch *bt, diag_ctx *d)
{
    int64_t F = ds->features, n = b - a;
    if (data_grow(ds, (void **)&x->buf, &x->buf_cap, (size_t)(n * F)) != 0) {
        diag_error(d, ds->loc, "out of memory");
        return -1;
    }
    if (read_at(x->fi, 16 + first_id * F, x->buf, (size_t)(n * F)) != 0) {
        diag_error(d, file_loc(d, x->images, 0, 0, 0), "cannot read image %lld (was the file changed?)",
                   (long long)first_id);
        return -1;
    }
    float *out = bt->x.data + a * F;
    for (int64_t i = 0; i < n * F; i++)
        out[i] = (float)x->buf[i] / 255.0f;
    if (read_at(x->fl, 8 + first_id, x->buf, (size_t)n) != 0) {
        diag_error(d, file_loc(d, x->labels, 0, 0, 0), "cannot read label %lld (was the file changed?)",
                   (long long)first_id);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (x->buf[i] >= ds->classes) {
            diag_error(d, file_loc(d, x->labels, 0, 0, 0), "label %lld changed after it was checked",
                       (long long)(first_id + i));
            return -1;
        }
        bt->y.data[(a + i) * ds->outputs + x->buf[i]] = 1.0f;
    }
    return 0;
}

static int idx_fill(dataset *ds, const int64_t *ids, int64_t n, batch *b, diag_ctx *d)
{
    idx_impl *x = ds->impl;
    if (image_batch_alloc(ds, &b->x, n) != 0 || tensor_alloc2(&b->y, n, ds->outputs) != 0) {
        diag_error(d, ds->loc, "out of memory for a batch of %lld images", (long long)n);
        return -1;
    }
    for (int64_t a = 0; a < n;) {
        int64_t e = a + 1;
        while (e < n && ids[e] == ids[e - 1] + 1)
            e++;
        if (read_run(ds, x, ids[a], a, e, b, d) != 0)
            return -1;
        a = e;
    }
    return 0;
}

static int idx_hash(dataset *ds, XXH3_state_t *h, diag_ctx *d)
{
    idx_impl *x = ds->impl;
    if (hash_file(h, x->images, d, file_loc(d, x->images, 0, 0, 0)) != 0)
        return -1;
    return hash_file(h, x->labels, d, file_loc(d, x->labels, 0, 0, 0));
}

static const data_reader idx_reader = {idx_fill, idx_hash, idx_close};

int idx_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe)
{
    idx_impl *x = calloc(1, sizeof *x);
    if (!x) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    ds->impl = x;
    ds->ops = &idx_reader;
    int64_t limit = -1;
    ds->classes = 10;
    int err = data_common_options(ds, spec, true, true, &limit, d);
    err |= opt_int(spec, "classes", 2, 256, &ds->classes, d);
    x->images = src_path_arg(spec, "images", 0, "the idx3-ubyte image file", d);
    x->labels = src_path_arg(spec, "labels", 1, "the idx1-ubyte label file", d);
    if (err || !x->images || !x->labels)
        return -1;
    uint32_t dims[3], ldims[1];
    int64_t isize, lsize;
    x->fi = open_idx(ds, x->images, src_arg(spec, "images", 0), IDX_IMAGES_MAGIC, 3, dims, &isize, d);
    if (!x->fi)
        return -1;
    x->fl = open_idx(ds, x->labels, src_arg(spec, "labels", 1), IDX_LABELS_MAGIC, 1, ldims, &lsize, d);
    if (!x->fl)
        return -1;
    int64_t n = dims[0];
    x->rows = dims[1];
    x->cols = dims[2];
    int64_t image_bytes = 0, want = 0;
    if (!checked_mul(x->rows, x->cols, &ds->features) ||
        !checked_mul(n, ds->features, &image_bytes) || !checked_add(16, image_bytes, &want)) {
        diag_error(d, file_loc(d, x->images, 0, 0, 0), "the header says %lld images of %lldx%lld: "
                   "a size no file can hold", (long long)n, (long long)x->rows, (long long)x->cols);
        data_note(ds, d);
        return -1;
    }
    ds->outputs = ds->classes;
    ds->image_c = 1;
    ds->image_h = x->rows;
    ds->image_w = x->cols;
    ds->image_batches = spec->input && spec->input->kind == INPUT_CONVOLUTIONAL;
    if (n == 0 || ds->features == 0) {
        diag_error(d, file_loc(d, x->images, 0, 0, 0), "the header says %lld images of %lldx%lld: nothing to read",
                   (long long)n, (long long)x->rows, (long long)x->cols);
        data_note(ds, d);
        return -1;
    }
    if (isize != want) {
        if (isize < want)
            diag_error(d, file_loc(d, x->images, 0, 0, 0),
                       "truncated: the header promises %lld images of %lldx%lld (%lld bytes), the file has %lld",
                       (long long)n, (long long)x->rows, (long long)x->cols, (long long)want, (long long)isize);
        else
            diag_error(d, file_loc(d, x->images, 0, 0, 0),
                       "%lld unexpected bytes after the last of the %lld images the header promises",
                       (long long)(isize - want), (long long)n);
        data_note(ds, d);
        return -1;
    }
    if (ldims[0] != (uint32_t)n) {
        diag_error(d, file_loc(d, x->labels, 0, 0, 0), "has %lu labels, but %s has %lld images",
                   (unsigned long)ldims[0], x->images, (long long)n);
        data_note(ds, d);
        return -1;
    }
    if (lsize != 8 + n) {
        if (lsize < 8 + n)
            diag_error(d, file_loc(d, x->labels, 0, 0, 0),
                       "truncated: the header promises %lld labels (%lld bytes), the file has %lld",
                       (long long)n, (long long)(8 + n), (long long)lsize);
        else
            diag_error(d, file_loc(d, x->labels, 0, 0, 0), "%lld unexpected bytes after the last label",
                       (long long)(lsize - 8 - n));
        data_note(ds, d);
        return -1;
    }
    ds->count = limit > 0 && limit < n ? limit : n;
    data_setting(ds, "classes=%lld", (long long)ds->classes);
    data_setting(ds, "limit=%lld", (long long)limit);
    if (probe)
        return 0;
    /* Check every label once, in chunks. */
    unsigned char chunk[4096];
    for (int64_t done = 0; done < ds->count;) {
        size_t m = (size_t)(ds->count - done < (int64_t)sizeof chunk ? ds->count - done : (int64_t)sizeof chunk);
        if (read_at(x->fl, 8 + done, chunk, m) != 0) {
            diag_error(d, file_loc(d, x->labels, 0, 0, 0), "read error: %s", strerror(errno));
            return -1;
        }
        for (size_t i = 0; i < m; i++)
            if (chunk[i] >= ds->classes) {
                diag_error(d, file_loc(d, x->labels, 0, 0, 0),
                           "the label at index %lld is %u, outside [0, %lld) (classes = %lld)",
                           (long long)(done + (int64_t)i), chunk[i], (long long)ds->classes, (long long)ds->classes);
                data_note(ds, d);
                return -1;
            }
        done += (int64_t)m;
    }
    return 0;
}
