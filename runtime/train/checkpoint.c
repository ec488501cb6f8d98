/* checkpoint.c: the checkpoint file of a fit: writing it atomically, reading and checking it,
 * and putting its state back into a model.
 *
 * Layout (little-endian): the magic line "surgery checkpoint\n", u32 version, the identity
 * (u64 script, base, data; i64 fit), the position (i64 epoch, batches, epochs_done, iterations,
 * examples; f64 epoch_loss_sum; i64 epoch_examples; f64 last_epoch_loss; u8 complete), the
 * model's i64 iteration_count and epoch_count, u8 has_dropout and 4 x u64 of the generator,
 * u32 layer count, then per layer: u32 name length and the name, u32 parameter count, and per
 * parameter the tensor and its two updater state tensors (u8 present, then the tensor). A tensor
 * is u32 ndim, i64 shape[ndim] and its float32 values. Last comes the XXH3-64 of every byte
 * before it. */
#include "runtime/train/checkpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "runtime/base/atomic_file.h"
#include "runtime/base/checked.h"
#include "runtime/nn/layer.h"

#define CKPT_MAGIC "surgery checkpoint\n"
#define CKPT_VERSION 1u

struct checkpoint_layer {
    char *name;
    int n_params;
    tensor params[LAYER_MAX_PARAMS];
    tensor state[LAYER_MAX_PARAMS][2];
};

static void set_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

static bool checkpointed(const layer *L)
{
    return !L->frozen && L->n_params > 0;
}

/* ---- writing ---- */

typedef struct writer {
    FILE *fp;
    XXH3_state_t *h;
    bool failed;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (fwrite(p, 1, n, w->fp) != n)
        w->failed = true;
    XXH3_64bits_update(w->h, p, n);
}

static void put_u8(writer *w, uint8_t v) { put(w, &v, 1); }
static void put_u32(writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(writer *w, uint64_t v) { put(w, &v, 8); }
static void put_i64(writer *w, int64_t v) { put(w, &v, 8); }
static void put_f64(writer *w, double v) { put(w, &v, 8); }

static void put_tensor(writer *w, const tensor *t)
{
    put_u32(w, (uint32_t)t->ndim);
    for (int k = 0; k < t->ndim; k++)
        put_i64(w, t->shape[k]);
    put(w, t->data, (size_t)t->size * sizeof(float));
}

static void put_body(writer *w, const checkpoint_identity *id, const model *m,
                     const fit_position *pos, const rng *dropout)
{
    put(w, CKPT_MAGIC, strlen(CKPT_MAGIC));
    put_u32(w, CKPT_VERSION);
    put_u64(w, id->script);
    put_u64(w, id->base);
    put_u64(w, id->data);
    put_i64(w, id->fit);
    put_i64(w, pos->epoch);
    put_i64(w, pos->batches);
    put_i64(w, pos->epochs_done);
    put_i64(w, pos->iterations);
    put_i64(w, pos->examples);
    put_f64(w, pos->epoch_loss_sum);
    put_i64(w, pos->epoch_examples);
    put_f64(w, pos->last_epoch_loss);
    put_u8(w, pos->complete);
    put_i64(w, m->iteration_count);
    put_i64(w, m->epoch_count);
    put_u8(w, dropout != NULL);
    for (int k = 0; k < 4; k++)
        put_u64(w, dropout ? dropout->s[k] : 0);
    uint32_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        n += checkpointed(m->layers[i]);
    put_u32(w, n);
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        if (!checkpointed(L))
            continue;
        put_u32(w, (uint32_t)strlen(L->name));
        put(w, L->name, strlen(L->name));
        put_u32(w, (uint32_t)L->n_params);
        for (int p = 0; p < L->n_params; p++) {
            put_tensor(w, &L->params[p]);
            for (int k = 0; k < 2; k++) {
                const tensor *s = &L->upd_state[p][k];
                put_u8(w, s->data != NULL);
                if (s->data)
                    put_tensor(w, s);
            }
        }
    }
}

int checkpoint_write(const char *path, const checkpoint_identity *id, const model *m,
                     const fit_position *pos, const rng *dropout, bool durable, char *err,
                     size_t err_len)
{
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        for (int p = 0; checkpointed(L) && p < L->n_params; p++)
            if (!L->params[p].data) {
                set_err(err, err_len, "cannot checkpoint: layer '%s' has parameters without "
                        "values", L->name);
                return -1;
            }
    }
    atomic_file af = {0};
    char why[512];
    if (atomic_open(&af, path, why, sizeof why) != 0) {
        set_err(err, err_len, "cannot write the checkpoint: %s", why);
        return -1;
    }
    af.durable = durable;
    writer w = {.fp = af.fp, .h = XXH3_createState()};
    if (!w.h) {
        atomic_abort(&af);
        set_err(err, err_len, "out of memory while writing the checkpoint %s", path);
        return -1;
    }
    XXH3_64bits_reset(w.h);
    put_body(&w, id, m, pos, dropout);
    uint64_t sum = XXH3_64bits_digest(w.h);
    put_u64(&w, sum);
    XXH3_freeState(w.h);
    if (w.failed) {
        int e = errno;
        atomic_abort(&af);
        set_err(err, err_len, "cannot write the checkpoint %s: %s", path, strerror(e));
        return -1;
    }
    if (atomic_commit(&af, why, sizeof why) != 0) {
        set_err(err, err_len, "cannot write the checkpoint: %s", why);
        return -1;
    }
    return 0;
}

/* ---- reading ---- */

typedef struct reader {
    const unsigned char *p, *end;
    bool short_read;
} reader;

static bool get(reader *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->short_read = true;
        memset(out, 0, n);
        return false;
    }
    memcpy(out, r->p, n);
    r->p += n;
    return true;
}

static uint8_t get_u8(reader *r) { uint8_t v; get(r, &v, 1); return v; }
static uint32_t get_u32(reader *r) { uint32_t v; get(r, &v, 4); return v; }
static uint64_t get_u64(reader *r) { uint64_t v; get(r, &v, 8); return v; }
static int64_t get_i64(reader *r) { int64_t v; get(r, &v, 8); return v; }
static double get_f64(reader *r) { double v; get(r, &v, 8); return v; }

static int get_tensor(reader *r, tensor *t)
{
    uint32_t ndim = get_u32(r);
    int64_t shape[TENSOR_MAX_DIMS] = {0};
    if (r->short_read || ndim > TENSOR_MAX_DIMS)
        return -1;
    for (uint32_t k = 0; k < ndim; k++)
        shape[k] = get_i64(r);
    int64_t count = shape_count((int)ndim, shape);
    int64_t bytes;
    if (r->short_read || count < 0 || !checked_mul(count, (int64_t)sizeof(float), &bytes) ||
        r->end - r->p < bytes || tensor_alloc(t, (int)ndim, shape) != 0)
        return -1;
    get(r, t->data, (size_t)bytes);
    return 0;
}

static int read_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        set_err(err, n, "cannot open the checkpoint %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, used = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        used += fread(b + used, 1, cap - used, f);
        if (used < cap)
            break;
        unsigned char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        set_err(err, n, bad ? "cannot read the checkpoint %s" : "out of memory while reading "
                "the checkpoint %s", path);
        return -1;
    }
    *buf = b;
    *len = used;
    return 1;
}

static int parse_layers(reader *r, train_checkpoint *ck)
{
    uint32_t n = get_u32(r);
    /* a layer's record takes at least 8 bytes (its name's length and its parameter count) */
    if (r->short_read || n > (uint32_t)((r->end - r->p) / 8))
        return -1;
    ck->layers = calloc(n ? n : 1, sizeof *ck->layers);
    if (!ck->layers)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        checkpoint_layer *cl = &ck->layers[ck->n_layers++];
        uint32_t len = get_u32(r);
        if (r->short_read || len > (uint32_t)(r->end - r->p) || !(cl->name = malloc(len + 1u)))
            return -1;
        get(r, cl->name, len);
        cl->name[len] = '\0';
        uint32_t np = get_u32(r);
        if (r->short_read || np > LAYER_MAX_PARAMS)
            return -1;
        cl->n_params = (int)np;
        for (int p = 0; p < cl->n_params; p++) {
            if (get_tensor(r, &cl->params[p]) != 0)
                return -1;
            for (int k = 0; k < 2; k++)
                if (get_u8(r) && get_tensor(r, &cl->state[p][k]) != 0)
                    return -1;
        }
    }
    return r->short_read ? -1 : 0;
}

int checkpoint_read(const char *path, train_checkpoint **out, char *err, size_t err_len)
{
    *out = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    int got = read_file(path, &buf, &len, err, err_len);
    if (got <= 0)
        return got;
    size_t magic = strlen(CKPT_MAGIC);
    if (len < magic + 4 + 8 || memcmp(buf, CKPT_MAGIC, magic) != 0) {
        set_err(err, err_len, "%s is not a surgery checkpoint", path);
        free(buf);
        return -1;
    }
    uint64_t sum;
    memcpy(&sum, buf + len - 8, 8);
    if (XXH3_64bits(buf, len - 8) != sum) {
        set_err(err, err_len, "the checkpoint %s is damaged (its checksum does not match)", path);
        free(buf);
        return -1;
    }
    reader r = {buf + magic, buf + len - 8, false};
    uint32_t version = get_u32(&r);
    if (version != CKPT_VERSION) {
        set_err(err, err_len, "the checkpoint %s has version %u; this surgery reads version %u",
                path, version, CKPT_VERSION);
        free(buf);
        return -1;
    }
    train_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        set_err(err, err_len, "out of memory while reading the checkpoint %s", path);
        free(buf);
        return -1;
    }
    ck->id.script = get_u64(&r);
    ck->id.base = get_u64(&r);
    ck->id.data = get_u64(&r);
    ck->id.fit = get_i64(&r);
    fit_position *pos = &ck->pos;
    pos->epoch = get_i64(&r);
    pos->batches = get_i64(&r);
    pos->epochs_done = get_i64(&r);
    pos->iterations = get_i64(&r);
    pos->examples = get_i64(&r);
    pos->epoch_loss_sum = get_f64(&r);
    pos->epoch_examples = get_i64(&r);
    pos->last_epoch_loss = get_f64(&r);
    pos->complete = get_u8(&r) != 0;
    ck->iteration_count = get_i64(&r);
    ck->epoch_count = get_i64(&r);
    ck->has_dropout = get_u8(&r) != 0;
    for (int k = 0; k < 4; k++)
        ck->dropout.s[k] = get_u64(&r);
    bool ok = parse_layers(&r, ck) == 0 && r.p == r.end && pos->epoch >= 0 &&
              pos->batches >= 0 && pos->iterations >= 0;
    free(buf);
    if (!ok) {
        set_err(err, err_len, "the checkpoint %s is malformed", path);
        checkpoint_free(ck);
        return -1;
    }
    *out = ck;
    return 1;
}

void checkpoint_free(train_checkpoint *ck)
{
    if (!ck)
        return;
    for (int i = 0; i < ck->n_layers; i++) {
        checkpoint_layer *cl = &ck->layers[i];
        free(cl->name);
        for (int p = 0; p < LAYER_MAX_PARAMS; p++) {
            tensor_release(&cl->params[p]);
            tensor_release(&cl->state[p][0]);
            tensor_release(&cl->state[p][1]);
        }
    }
    free(ck->layers);
    free(ck);
}

/* ---- applying ---- */

static const checkpoint_layer *find_layer(const train_checkpoint *ck, const char *name)
{
    for (int i = 0; i < ck->n_layers; i++)
        if (!strcmp(ck->layers[i].name, name))
            return &ck->layers[i];
    return NULL;
}

int checkpoint_apply(const train_checkpoint *ck, model *m, char *err, size_t err_len)
{
    int trained = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (!checkpointed(L))
            continue;
        trained++;
        const checkpoint_layer *cl = find_layer(ck, L->name);
        if (!cl || cl->n_params != L->n_params) {
            set_err(err, err_len, "the checkpoint does not hold the trained layer '%s'", L->name);
            return -1;
        }
        for (int p = 0; p < L->n_params; p++) {
            if (!tensor_same_shape(&cl->params[p], &L->params[p])) {
                set_err(err, err_len, "the checkpoint holds another shape for a parameter of "
                        "layer '%s'", L->name);
                return -1;
            }
            for (int k = 0; k < 2; k++)   /* an updater's moments are shaped as their parameter */
                if (cl->state[p][k].data && !tensor_same_shape(&cl->state[p][k], &L->params[p])) {
                    set_err(err, err_len, "the checkpoint holds another shape for the updater "
                            "state of a parameter of layer '%s'", L->name);
                    return -1;
                }
            if (tensor_copy(&L->params[p], &cl->params[p]) != 0)
                goto oom;
            for (int k = 0; k < 2; k++) {
                tensor *s = &L->upd_state[p][k];
                if (!cl->state[p][k].data)
                    tensor_release(s);
                else if (tensor_copy(s, &cl->state[p][k]) != 0)
                    goto oom;
            }
        }
    }
    if (trained != ck->n_layers) {
        set_err(err, err_len, "the checkpoint holds %d trained layers; the model has %d",
                ck->n_layers, trained);
        return -1;
    }
    m->iteration_count = ck->iteration_count;
    m->epoch_count = ck->epoch_count;
    return 0;
oom:
    set_err(err, err_len, "out of memory while restoring the checkpoint");
    return -1;
}
