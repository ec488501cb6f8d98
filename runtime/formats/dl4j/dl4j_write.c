/* dl4j_write.c: the DL4J writer: a chain model as a ModelSerializer zip DL4J 1.0.0-beta4 and
 * later restores with restoreMultiLayerNetwork: configuration.json (dl4j_write_conf.c) and
 * coefficients.bin, one Nd4j array in the 1.0 format (big-endian) holding every parameter in 'f'
 * order at its place in the flat vector (convolutions' bias first and their kernels in DL4J's own
 * layouts, dl4j_conv.c), converted a block at a time on its way to the file.
 * The zip's entries are stored (zip64 when they need it), with a fixed date, so the same model
 * makes the same bytes; it is written to a temporary beside the path and renamed into place. */
#include "runtime/formats/dl4j/dl4j.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <zlib.h>

#include "runtime/base/atomic_file.h"
#include "runtime/base/diag.h"
#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/formats/dl4j/dl4j_impl.h"
#include "runtime/formats/dl4j/dl4j_write_impl.h"
#include "runtime/tensor/tensor_parts.h"

/* The bytes of coefficients.bin before the values: the shape-information buffer of a [1, N]
 * 'c' array and the data buffer's header, as DL4J 1.0.0-beta4 writes them. */
#define HEADER_MAX 160
#define STAGE_BYTES (4u << 20)   /* transposing a parameter to 'f' order: block size */
#define TILE 64

typedef struct coef_param {
    const tensor *t;
    float *flat;                 /* a layout of DL4J's own (convolution kernels), owned; or NULL */
    int64_t rows, cols;          /* as a matrix: rows = shape[0], cols = the rest */
} coef_param;

/* The state of the coefficients.bin source: header, then each parameter in 'f' order. */
typedef struct coef_src {
    unsigned char header[HEADER_MAX];
    size_t header_len;
    coef_param *params;
    int n_params;
    uint64_t total;              /* bytes of the entry */
    int p;                       /* the parameter being converted */
    int64_t col;                 /* its next column */
    float *segment;              /* part of a row of a pending parameter */
    size_t segment_len;
    unsigned char *stage;        /* big-endian 'f'-order bytes of a block of columns */
    size_t stage_len;
} coef_src;

static void coef_header(coef_src *s, int64_t n)
{
    unsigned char *p = s->header;
    size_t k = 0;
    k += nd4j_put_utf(p + k, "MIXED_DATA_TYPES");
    k += nd4j_put_be(p + k, 8, 8);
    k += nd4j_put_utf(p + k, "LONG");
    /* rank, shape, strides (1, 1 for a row vector, as DL4J writes them), data type bits
     * (FLOAT), element-wise stride, order 'c' */
    const uint64_t info[8] = {2, 1, (uint64_t)n, 1, 1, 8192, 1, 'c'};
    for (int i = 0; i < 8; i++)
        k += nd4j_put_be(p + k, info[i], 8);
    k += nd4j_put_utf(p + k, "MIXED_DATA_TYPES");
    k += nd4j_put_be(p + k, (uint64_t)n, 8);
    k += nd4j_put_utf(p + k, "FLOAT");
    s->header_len = k;
}

/* Elements [e, e + n) of a pending tensor, row-major, into out, from the spans that describe
 * it (the kept values where they lie, the fresh ones, zeros): no copy of the whole tensor. */
static void pending_range(tensor_parts *p, int64_t e, int64_t n, float *out)
{
    int64_t base = 0;
    for (int g = 0; g < p->n_groups && n > 0; g++) {
        const tp_group *G = &p->groups[g];
        int64_t rowlen = 0;
        for (int k = G->first; k < G->first + G->count; k++)
            rowlen += p->spans[k].len;
        const int64_t size = G->rows * rowlen;
        while (n > 0 && e < base + size) {
            int64_t r = (e - base) / rowlen, col = (e - base) % rowlen, at = 0;
            for (int k = G->first; k < G->first + G->count && n > 0; k++) {
                const tp_span *S = &p->spans[k];
                if (col < at + S->len) {
                    int64_t off = col - at, m = S->len - off < n ? S->len - off : n;
                    if (S->src)
                        memcpy(out, S->src + r * S->stride + off, (size_t)m * sizeof *out);
                    else
                        memset(out, 0, (size_t)m * sizeof *out);
                    out += m;
                    n -= m;
                    e += m;
                    col += m;
                }
                at += S->len;
            }
        }
        base += size;
    }
}

/* Fills the stage with the next block of columns of the current parameter, big-endian, each
 * column's rows in order ('f' order of [rows, cols]). Returns 0, or -1 out of memory. */
static int stage_next(coef_src *s)
{
    coef_param *cp = &s->params[s->p];
    const float *data = cp->flat ? cp->flat : cp->t->data;
    int64_t block = (int64_t)(STAGE_BYTES / 4) / (cp->rows > 0 ? cp->rows : 1);
    if (block < 1)
        block = 1;
    if (block > cp->cols - s->col)
        block = cp->cols - s->col;
    size_t need = (size_t)(block * cp->rows) * 4;
    if (need > s->stage_len) {
        unsigned char *b = realloc(s->stage, need);
        if (!b)
            return -1;
        s->stage = b;
    }
    s->stage_len = need;
    if (!data) {
        if ((size_t)block > s->segment_len) {
            float *b = realloc(s->segment, (size_t)block * sizeof *b);
            if (!b)
                return -1;
            s->segment = b;
            s->segment_len = (size_t)block;
        }
        tensor_parts_ready(cp->t->parts);
    }
    const int64_t rows = cp->rows, cols = cp->cols, c0 = s->col;
    /* by tiles of rows: the reads are TILE runs of `block` values, the writes `block` runs of
     * TILE values */
    for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
        int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows;
        for (int64_t r = r0; r < r1; r++) {
            const float *row = data + r * cols + c0;
            if (!data) {
                pending_range(cp->t->parts, r * cols + c0, block, s->segment);
                row = s->segment;
            }
            for (int64_t j = 0; j < block; j++) {
                uint32_t u;
                memcpy(&u, &row[j], 4);
                unsigned char *o = s->stage + ((size_t)(j * rows + r)) * 4;
                o[0] = (unsigned char)(u >> 24);
                o[1] = (unsigned char)(u >> 16);
                o[2] = (unsigned char)(u >> 8);
                o[3] = (unsigned char)u;
            }
        }
    }
    s->col += block;
    return 0;
}

/* cp's tensor in DL4J's own layout into cp->flat (a single column). Returns 0, or -1 out of
 * memory. */
static int flatten(const layer *L, const char *key, coef_param *cp)
{
    const tensor *t = cp->t;
    float *tmp = NULL;
    const float *data = t->data;
    if (!data) {
        if (!(tmp = malloc((size_t)t->size * sizeof *tmp)))
            return -1;
        tensor_parts_ready(t->parts);
        pending_range(t->parts, 0, t->size, tmp);
        data = tmp;
    }
    cp->flat = malloc((size_t)t->size * sizeof *cp->flat);
    if (cp->flat)
        dl4j_flatten_param(L, key, t, data, cp->flat);
    free(tmp);
    cp->rows = t->size;
    cp->cols = 1;
    return cp->flat ? 0 : -1;
}

/* The parameters of the chain in flat-vector order, each checked against its layer's specs. */
static int collect_params(const model *m, const layer *const *order, coef_src *s, const char *path,
                          struct diag_ctx *d)
{
    int cap = m->n_layers * LAYER_MAX_PARAMS;
    s->params = calloc((size_t)(cap > 0 ? cap : 1), sizeof *s->params);
    if (!s->params) {
        model_format_error(d, path, "out of memory");
        return -1;
    }
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = order[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int k = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        /* DL4J's convolutions hold their bias (the last key) before the kernels */
        bool bias_first = dl4j_bias_first(L) && k > 1;
        for (int j = 0; j < k; j++) {
            int p = bias_first ? (j == 0 ? k - 1 : j - 1) : j;
            const tensor *t = &L->params[p];
            if (!tensor_has_values(t) || t->ndim != specs[p].ndim ||
                memcmp(t->shape, specs[p].shape, (size_t)specs[p].ndim * sizeof(int64_t))) {
                char a[96], b[96];
                model_format_error(d, path, "cannot save: parameter %s.%s %s (needs %s)", L->name,
                                   specs[p].key, tensor_has_values(t) ? shape_str(b, sizeof b,
                                   t->ndim, t->shape) : "has no data",
                                   shape_str(a, sizeof a, specs[p].ndim, specs[p].shape));
                return -1;
            }
            coef_param *cp = &s->params[s->n_params];
            cp->t = t;
            if (dl4j_param_own_order(L, specs[p].key, t)) {
                /* laid out whole in DL4J's order: one column of t->size values */
                if (flatten(L, specs[p].key, cp) != 0) {
                    model_format_error(d, path, "out of memory");
                    return -1;
                }
                s->n_params++;
                n += t->size;
                continue;
            }
            if (t->ndim > 2) {
                model_format_error(d, path, "cannot save: parameter %s.%s has %d dimensions (the "
                                   "DL4J writer writes matrices and vectors)", L->name,
                                   specs[p].key, t->ndim);
                return -1;
            }
            s->n_params++;
            /* 'f' order of [rows, cols]; a vector is one column */
            cp->rows = t->ndim == 2 ? t->shape[0] : t->size;
            cp->cols = t->ndim == 2 ? t->shape[1] : 1;
            n += t->size;
        }
    }
    coef_header(s, n);
    s->total = s->header_len + (uint64_t)n * 4;
    return 0;
}

/* ---- the zip: stored entries, sizes and CRC in the local headers ---- */

#define ZIP_MAX_ENTRIES 3
#define ZIP32_MAX 0xffffffffu      /* in a 32-bit field: "see the zip64 record" */
#define ZIP64_FROM ZIP32_MAX       /* sizes and offsets from which zip64 records are needed */
#define DOS_DATE 0x0021          /* 1980-01-01, 00:00 */

typedef struct zip_entry {
    const char *name;
    uint64_t offset, size;
    uint32_t crc;
} zip_entry;

typedef struct zip_out {
    FILE *fp;
    zip_entry entries[ZIP_MAX_ENTRIES];
    int n;
    uint32_t crc;                /* of the entry being written */
    bool failed;
} zip_out;

static void le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static void zo_bytes(zip_out *z, const void *p, size_t n)
{
    if (!z->failed && n && fwrite(p, 1, n, z->fp) != n)
        z->failed = true;
}

/* Entry data: added to its CRC and written a piece at a time, so that the write copies each
 * piece from the cache the CRC has just read it into. */
#define WRITE_PIECE ((size_t)256 << 10)
static void zo_data(zip_out *z, const void *p, size_t n)
{
    for (size_t at = 0; at < n;) {
        size_t k = n - at > WRITE_PIECE ? WRITE_PIECE : n - at;
        z->crc = (uint32_t)crc32(z->crc, (const Bytef *)p + at, (uInt)k);
        zo_bytes(z, (const unsigned char *)p + at, k);
        at += k;
    }
}

/* The local header of a stored entry of `size` bytes; its CRC is filled in by zo_end. */
static void zo_begin(zip_out *z, const char *name, uint64_t size)
{
    zip_entry *e = &z->entries[z->n++];
    off_t at = ftello(z->fp);
    if (at < 0)
        z->failed = true;
    e->name = name;
    e->offset = (uint64_t)(at < 0 ? 0 : at);
    e->size = size;
    bool big = size >= ZIP64_FROM;
    unsigned char h[30 + 20];
    size_t nl = strlen(name);
    le(h, 0x04034b50, 4);
    le(h + 4, big ? 45 : 20, 2);       /* version needed: zip64 4.5, else 2.0 */
    le(h + 6, 0x0800, 2);              /* UTF-8 names */
    le(h + 8, 0, 2);                   /* stored */
    le(h + 10, 0, 2);
    le(h + 12, DOS_DATE, 2);
    le(h + 14, 0, 4);
    le(h + 18, big ? ZIP32_MAX : size, 4);
    le(h + 22, big ? ZIP32_MAX : size, 4);
    le(h + 26, nl, 2);
    le(h + 28, big ? 20 : 0, 2);
    zo_bytes(z, h, 30);
    zo_bytes(z, name, nl);
    if (big) {
        le(h, 1, 2);
        le(h + 2, 16, 2);
        le(h + 4, size, 8);
        le(h + 12, size, 8);
        zo_bytes(z, h, 20);
    }
    z->crc = (uint32_t)crc32(0, Z_NULL, 0);
}

/* Puts the entry's CRC into its local header. */
static void zo_end(zip_out *z)
{
    zip_entry *e = &z->entries[z->n - 1];
    e->crc = z->crc;
    unsigned char c[4];
    le(c, e->crc, 4);
    if (z->failed || fseeko(z->fp, (off_t)(e->offset + 14), SEEK_SET) != 0 ||
        fwrite(c, 1, 4, z->fp) != 4 || fseeko(z->fp, 0, SEEK_END) != 0)
        z->failed = true;
}

/* The central directory and its end records (zip64 ones when an entry or offset needs them). */
static void zo_finish(zip_out *z)
{
    off_t cd_at = ftello(z->fp);
    if (cd_at < 0) {
        z->failed = true;
        return;
    }
    bool any64 = false;
    for (int i = 0; i < z->n; i++) {
        const zip_entry *e = &z->entries[i];
        bool big = e->size >= ZIP64_FROM, far = e->offset >= ZIP64_FROM;
        any64 |= big || far;
        unsigned char h[46], x[28];
        size_t nl = strlen(e->name), xl = 0;
        if (big || far) {
            le(x, 1, 2);
            xl = 4;
            if (big) {
                le(x + xl, e->size, 8);
                le(x + xl + 8, e->size, 8);
                xl += 16;
            }
            if (far) {
                le(x + xl, e->offset, 8);
                xl += 8;
            }
            le(x + 2, xl - 4, 2);
        }
        le(h, 0x02014b50, 4);
        le(h + 4, 3 << 8 | 45, 2);         /* made by: Unix, 4.5 */
        le(h + 6, big || far ? 45 : 20, 2);
        le(h + 8, 0x0800, 2);
        le(h + 10, 0, 2);
        le(h + 12, 0, 2);
        le(h + 14, DOS_DATE, 2);
        le(h + 16, e->crc, 4);
        le(h + 20, big ? ZIP32_MAX : e->size, 4);
        le(h + 24, big ? ZIP32_MAX : e->size, 4);
        le(h + 28, nl, 2);
        le(h + 30, xl, 2);
        le(h + 32, 0, 2);
        le(h + 34, 0, 2);
        le(h + 36, 0, 2);
        le(h + 38, (uint64_t)0100644 << 16, 4);
        le(h + 42, far ? ZIP32_MAX : e->offset, 4);
        zo_bytes(z, h, 46);
        zo_bytes(z, e->name, nl);
        zo_bytes(z, x, xl);
    }
    off_t end_at = ftello(z->fp);
    if (end_at < 0) {
        z->failed = true;
        return;
    }
    uint64_t cd_size = (uint64_t)(end_at - cd_at), cd_off = (uint64_t)cd_at;
    any64 |= cd_off >= ZIP64_FROM;
    unsigned char r[56];
    if (any64) {
        le(r, 0x06064b50, 4);
        le(r + 4, 44, 8);
        le(r + 12, 3 << 8 | 45, 2);
        le(r + 14, 45, 2);
        le(r + 16, 0, 4);
        le(r + 20, 0, 4);
        le(r + 24, (uint64_t)z->n, 8);
        le(r + 32, (uint64_t)z->n, 8);
        le(r + 40, cd_size, 8);
        le(r + 48, cd_off, 8);
        zo_bytes(z, r, 56);
        le(r, 0x07064b50, 4);
        le(r + 4, 0, 4);
        le(r + 8, (uint64_t)end_at, 8);
        le(r + 16, 1, 4);
        zo_bytes(z, r, 20);
    }
    le(r, 0x06054b50, 4);
    le(r + 4, 0, 2);
    le(r + 6, 0, 2);
    le(r + 8, (uint64_t)z->n, 2);
    le(r + 10, (uint64_t)z->n, 2);
    le(r + 12, cd_size >= ZIP64_FROM ? ZIP32_MAX : cd_size, 4);
    le(r + 16, any64 ? ZIP32_MAX : cd_off, 4);
    le(r + 20, 0, 2);
    zo_bytes(z, r, 22);
}

/* Writes the zip to fp: configuration.json, coefficients.bin (converted block by block) and,
 * for a model without parameters, noParams.marker. Returns 0, or -1 with errno's reason. */
static int write_zip(FILE *fp, const char *conf, coef_src *s)
{
    zip_out z = {.fp = fp};
    zo_begin(&z, "configuration.json", strlen(conf));
    zo_data(&z, conf, strlen(conf));
    zo_end(&z);
    zo_begin(&z, "coefficients.bin", s->total);
    zo_data(&z, s->header, s->header_len);
    for (s->p = 0; s->p < s->n_params && !z.failed; s->p++)
        for (s->col = 0; s->col < s->params[s->p].cols && !z.failed;) {
            if (stage_next(s) != 0) {
                errno = ENOMEM;
                return -1;
            }
            zo_data(&z, s->stage, s->stage_len);
        }
    zo_end(&z);
    if (s->n_params == 0) {
        zo_begin(&z, "noParams.marker", 0);
        zo_end(&z);
    }
    zo_finish(&z);
    if (z.failed && !errno)
        errno = EIO;
    return z.failed ? -1 : 0;
}

static int dl4j_write(const model *m, const char *path, save_mode mode, struct diag_ctx *d)
{
    char err[2048];
    const layer **order = calloc((size_t)(m->n_layers > 0 ? m->n_layers : 1), sizeof *order);
    if (!order) {
        model_format_error(d, path, "out of memory");
        return -1;
    }
    if (dl4j_chain_of(m, order, err, sizeof err) != 0) {
        model_format_error(d, path, "cannot save as DL4J: %s", err);
        free(order);
        return -1;
    }
    coef_src s = {0};
    char *conf = NULL;
    int rc = -1;
    if (collect_params(m, order, &s, path, d) != 0)
        goto done;
    if (!(conf = dl4j_conf_text(m, order))) {
        model_format_error(d, path, "out of memory");
        goto done;
    }
    if (m->norm.kind != NORM_NONE && d) {
        src_loc at = {diag_intern_path(d, path), 0, 0, 0};
        diag_warning(d, at, "the model's normalizer is not saved: DL4J keeps it in a file of "
                     "its own (normalizer.bin), which surgery does not write");
    }
    atomic_file af;
    if (atomic_open(&af, path, err, sizeof err) != 0) {
        model_format_error(d, path, "%s", err);
        goto done;
    }
    af.durable = mode == SAVE_DURABLE;
    errno = 0;
    if (write_zip(af.fp, conf, &s) != 0) {
        model_format_error(d, path, "cannot write the DL4J zip: %s", strerror(errno));
        atomic_abort(&af);
        goto done;
    }
    if (atomic_commit(&af, err, sizeof err) != 0) {
        model_format_error(d, path, "%s", err);
        goto done;
    }
    rc = 0;
done:
    free(s.segment);
    free(s.stage);
    for (int i = 0; i < s.n_params; i++)
        free(s.params[i].flat);
    free(s.params);
    free(conf);
    free(order);
    return rc;
}

/* The writer's check: the chain and the layers, as dl4j_write refuses them. */
static int dl4j_check(const model *m, char *err, size_t err_len)
{
    const layer **order = calloc((size_t)(m->n_layers > 0 ? m->n_layers : 1), sizeof *order);
    if (!order) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int rc = dl4j_chain_of(m, order, err, err_len);
    free(order);
    return rc;
}

/* .zip only: DL4J's own examples name these files .bin too, and surgery reads them whatever
 * their name, but other frameworks' files end in .bin as well (docs/format.md). */
static const char *const dl4j_suffixes[] = {".zip", NULL};

const model_writer dl4j_writer = {
    .name = "dl4j",
    .suffixes = dl4j_suffixes,
    .saved_as = "NAME.zip (a DL4J MultiLayerNetwork)",
    .write = dl4j_write,
    .check = dl4j_check,
};
