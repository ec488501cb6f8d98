/* dl4j_write.c: the DL4J writer: a chain model as a ModelSerializer zip DL4J 1.0.0-beta4 and
 * later restores with restoreMultiLayerNetwork: configuration.json (dl4j_write_conf.c) and
 * coefficients.bin, one Nd4j array in the 1.0 format (big-endian) holding every parameter in 'f'
 * order at its place in the flat vector, streamed into the zip stored (not deflated). The zip
 * is written to a temporary beside the path and renamed into place. */
#include "runtime/formats/dl4j/dl4j.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "runtime/base/atomic_file.h"
#include "runtime/base/diag.h"
#include "runtime/formats/dl4j/dl4j_write_impl.h"
#include "runtime/tensor/tensor_parts.h"

/* The bytes of coefficients.bin before the values: the shape-information buffer of a [1, N]
 * 'c' array and the data buffer's header, as DL4J 1.0.0-beta4 writes them. */
#define HEADER_MAX 160
#define STAGE_BYTES (4u << 20)   /* transposing a parameter to 'f' order: block size */
#define TILE 64

typedef struct coef_param {
    const tensor *t;
    int64_t rows, cols;          /* as a matrix: rows = shape[0], cols = the rest */
} coef_param;

/* The state of the coefficients.bin source: header, then each parameter in 'f' order. */
typedef struct coef_src {
    unsigned char header[HEADER_MAX];
    size_t header_len;
    coef_param *params;
    int n_params;
    uint64_t total;              /* bytes of the entry */
    uint64_t at;                 /* bytes given so far */
    int p;                       /* the parameter being given */
    int64_t col;                 /* its next column */
    float *segment;              /* part of a row of a pending parameter */
    size_t segment_len;
    unsigned char *stage;        /* big-endian 'f'-order bytes of a block of columns */
    size_t stage_len, stage_at;
    zip_error_t error;
} coef_src;

static size_t put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
    return (size_t)n;
}

static size_t put_utf(unsigned char *p, const char *s)
{
    size_t n = strlen(s);
    put_be(p, n, 2);
    memcpy(p + 2, s, n);
    return n + 2;
}

static void coef_header(coef_src *s, int64_t n)
{
    unsigned char *p = s->header;
    size_t k = 0;
    k += put_utf(p + k, "MIXED_DATA_TYPES");
    k += put_be(p + k, 8, 8);
    k += put_utf(p + k, "LONG");
    /* rank, shape, strides (1, 1 for a row vector, as DL4J writes them), data type bits
     * (FLOAT), element-wise stride, order 'c' */
    const uint64_t info[8] = {2, 1, (uint64_t)n, 1, 1, 8192, 1, 'c'};
    for (int i = 0; i < 8; i++)
        k += put_be(p + k, info[i], 8);
    k += put_utf(p + k, "MIXED_DATA_TYPES");
    k += put_be(p + k, (uint64_t)n, 8);
    k += put_utf(p + k, "FLOAT");
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
    const float *data = cp->t->data;
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
    s->stage_at = 0;
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

static zip_int64_t coef_read(coef_src *s, unsigned char *out, zip_uint64_t len)
{
    zip_uint64_t done = 0;
    while (done < len && s->at < s->total) {
        if (s->at < s->header_len) {
            size_t k = s->header_len - (size_t)s->at;
            if (k > len - done)
                k = (size_t)(len - done);
            memcpy(out + done, s->header + s->at, k);
            done += k;
            s->at += k;
            continue;
        }
        if (s->stage_at == s->stage_len) {
            while (s->p < s->n_params && s->col >= s->params[s->p].cols) {
                s->p++;
                s->col = 0;
            }
            if (s->p >= s->n_params || stage_next(s) != 0) {
                zip_error_set(&s->error, ZIP_ER_MEMORY, 0);
                return -1;
            }
        }
        size_t k = s->stage_len - s->stage_at;
        if (k > len - done)
            k = (size_t)(len - done);
        memcpy(out + done, s->stage + s->stage_at, k);
        s->stage_at += k;
        done += k;
        s->at += k;
    }
    return (zip_int64_t)done;
}

static zip_int64_t coef_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    coef_src *s = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        s->at = 0;
        s->p = 0;
        s->col = 0;
        s->stage_at = s->stage_len = 0;
        return 0;
    case ZIP_SOURCE_READ:
        return coef_read(s, data, len);
    case ZIP_SOURCE_CLOSE:
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->size = s->total;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&s->error, data, len);
    case ZIP_SOURCE_FREE:
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                              -1);
    default:
        zip_error_set(&s->error, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
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
        for (int p = 0; p < k; p++) {
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
            if (t->ndim > 2) {
                model_format_error(d, path, "cannot save: parameter %s.%s has %d dimensions (the "
                                   "DL4J writer writes matrices and vectors)", L->name,
                                   specs[p].key, t->ndim);
                return -1;
            }
            coef_param *cp = &s->params[s->n_params++];
            cp->t = t;
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

static int zip_fail(const char *path, zip_t *z, const char *what, struct diag_ctx *d)
{
    model_format_error(d, path, "cannot write the DL4J zip (%s): %s", what, zip_strerror(z));
    return -1;
}

/* Writes the zip at tmp (which exists). */
static int write_zip(const char *path, const char *tmp, const char *conf, coef_src *s,
                     struct diag_ctx *d)
{
    int zerr = 0;
    zip_t *z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, zerr);
        model_format_error(d, path, "cannot write the DL4J zip: %s", zip_error_strerror(&e));
        zip_error_fini(&e);
        return -1;
    }
    zip_source_t *cs = zip_source_buffer(z, conf, strlen(conf), 0);
    zip_int64_t ci = cs ? zip_file_add(z, "configuration.json", cs, ZIP_FL_ENC_UTF_8) : -1;
    if (ci < 0) {
        zip_source_free(cs);
        zip_fail(path, z, "configuration.json", d);
        zip_discard(z);
        return -1;
    }
    zip_source_t *ps = zip_source_function(z, coef_cb, s);
    zip_int64_t pi = ps ? zip_file_add(z, "coefficients.bin", ps, ZIP_FL_ENC_UTF_8) : -1;
    if (pi < 0 || zip_set_file_compression(z, (zip_uint64_t)pi, ZIP_CM_STORE, 0) != 0) {
        if (pi < 0)
            zip_source_free(ps);
        zip_fail(path, z, "coefficients.bin", d);
        zip_discard(z);
        return -1;
    }
    if (s->n_params == 0) {
        zip_source_t *ms = zip_source_buffer(z, "", 0, 0);
        if (!ms || zip_file_add(z, "noParams.marker", ms, 0) < 0) {
            zip_source_free(ms);
            zip_fail(path, z, "noParams.marker", d);
            zip_discard(z);
            return -1;
        }
    }
    if (zip_close(z) != 0) {
        zip_fail(path, z, "writing", d);
        zip_discard(z);
        return -1;
    }
    return 0;
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
    zip_error_init(&s.error);
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
    if (write_zip(path, af.tmp_path, conf, &s, d) != 0) {
        atomic_abort(&af);
        goto done;
    }
    /* libzip wrote the zip to a file of its own and renamed it onto the temporary: flush that
     * one (atomic_commit flushes the descriptor it opened, and renames the temporary). */
    if (af.durable) {
        int fd = open(af.tmp_path, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) {
            model_format_error(d, path, "cannot flush the DL4J zip: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            atomic_abort(&af);
            goto done;
        }
        close(fd);
    }
    if (atomic_commit(&af, err, sizeof err) != 0) {
        model_format_error(d, path, "%s", err);
        goto done;
    }
    rc = 0;
done:
    free(s.segment);
    free(s.stage);
    free(s.params);
    zip_error_fini(&s.error);
    free(conf);
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
};
