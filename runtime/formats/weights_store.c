/* weights_store.c: a model's weights in a safetensors file: pairing it with the architecture,
 * the mapping the parameters borrow from, its page policy, and writing the file. */
#include "runtime/formats/weights_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/formats/native.h"
#include "runtime/formats/weights_out.h"
#include "runtime/graph/arch_hash.h"
#include "runtime/tensor/tensor_parts.h"

/* ---- pairing a file with the architecture ---- */

typedef struct pairing {
    model *m;
    struct diag_ctx *d;
    src_loc at;              /* where the file is named */
    int errors;
} pairing;

static void report(pairing *y, bool error, src_loc loc, const char *fmt, va_list ap)
{
    if (error)
        y->errors++;
    if (!y->d)
        return;
    if (error)
        diag_verror(y->d, loc, fmt, ap);
    else
        diag_vnote(y->d, loc, fmt, ap);
}

static void perr(pairing *y, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(pairing *y, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(y, true, loc, fmt, ap);
    va_end(ap);
}

static void pnote(pairing *y, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pnote(pairing *y, src_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(y, false, loc, fmt, ap);
    va_end(ap);
}

/* Reports up to `max` concrete differences between the file and the architecture as notes
 * (as_errors: as errors); returns how many differences there are. */
static int weight_differences(pairing *y, const st_file *f, const char *fname, bool as_errors, int max)
{
    int found = 0;
    char a[96], b[96];
    for (int i = 0; i < y->m->n_layers; i++) {
        layer *L = y->m->layers[i];
        if (!L->type->param_specs)
            continue;
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs(L, specs);
        for (int p = 0; p < n; p++) {
            char tn[512];
            snprintf(tn, sizeof tn, "%s.%s", L->name, specs[p].key);
            const st_tensor *t = st_find(f, tn);
            shape_str(a, sizeof a, specs[p].ndim, specs[p].shape);
            const char *what = NULL;
            if (!t) {
                what = "missing";
            } else if (t->ndim != specs[p].ndim ||
                       memcmp(t->shape, specs[p].shape, (size_t)t->ndim * sizeof(int64_t))) {
                what = "shape";
                if (t->ndim <= TENSOR_MAX_DIMS)
                    shape_str(b, sizeof b, t->ndim, t->shape);
                else
                    snprintf(b, sizeof b, "(%d dimensions)", t->ndim);
            }
            if (!what)
                continue;
            if (found++ >= max)
                continue;
            if (as_errors) {
                if (what[0] == 'm')
                    perr(y, y->at, "weights file %s has no tensor '%s' (layer '%s' needs %s)",
                         fname, tn, L->name, a);
                else
                    perr(y, y->at, "tensor '%s' in weights file %s has shape %s, but layer '%s' needs %s",
                         tn, fname, b, L->name, a);
                pnote(y, L->loc, "layer '%s' is defined here", L->name);
            } else if (what[0] == 'm') {
                pnote(y, L->loc, "the file has no tensor '%s' (layer '%s' needs %s)", tn, L->name, a);
            } else {
                pnote(y, L->loc, "tensor '%s' has shape %s in the file, layer '%s' needs %s", tn, b,
                      L->name, a);
            }
        }
    }
    for (int i = 0; i < f->n_tensors; i++) {
        const char *tn = f->tensors[i].name;
        const char *dot = strrchr(tn, '.');
        bool known = false;
        if (dot) {
            char *ln = strndup(tn, (size_t)(dot - tn));
            layer *L = ln ? model_find_layer(y->m, ln) : NULL;
            known = L && layer_param_index(L, dot + 1) >= 0;
            free(ln);
        }
        if (known)
            continue;
        if (found++ >= max)
            continue;
        if (as_errors)
            perr(y, y->at, "weights file %s has a tensor '%s' that no layer of the model has",
                 fname, tn);
        else
            pnote(y, y->at, "the file has a tensor '%s' that no layer of the model has", tn);
    }
    return found;
}

int weights_store_load(model *m, const char *path, const char *fname, src_loc at,
                       struct diag_ctx *d)
{
    pairing pr = {m, d, at, 0}, *y = &pr;
    char err[1024];
    st_file *f = st_open(path, err, sizeof err);
    if (!f) {
        perr(y, y->at, "cannot load weights: %s", err);
        return y->errors;
    }
    const char *fmt = st_meta(f, "format");
    const char *hash = st_meta(f, "architecture_hash");
    char want[17];
    model_arch_hash_hex(m, want);
    if (fmt && strcmp(fmt, MODEL_FORMAT) != 0) {
        perr(y, y->at, "weights file %s has format '%s' (this version reads %s)", fname,
             fmt, MODEL_FORMAT);
    } else if (hash && strcmp(hash, want) != 0) {
        perr(y, y->at, "weights file %s was saved for a different architecture", fname);
        pnote(y, y->at, "its architecture hash is %s, this YAML's is %s", hash, want);
        weight_differences(y, f, fname, false, 5);
    } else {
        weight_differences(y, f, fname, true, 20);
    }
    if (y->errors) {
        st_close(f);
        return y->errors;
    }
    bool borrowed = false;
    for (int i = 0; i < m->n_layers && !y->errors; i++) {
        layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        for (int p = 0; p < n; p++) {
            char tn[512];
            snprintf(tn, sizeof tn, "%s.%s", L->name, specs[p].key);
            const st_tensor *t = st_find(f, tn);
            if (st_tensor_load(f, t, &L->params[p], true, err, sizeof err) != 0) {
                perr(y, y->at, "%s", err);
                break;
            }
            borrowed = borrowed || L->params[p].borrowed;
        }
        L->n_params = n;
    }
    if (!y->errors && borrowed) {
        m->mapping = st_take_mapping(f, &m->mapping_len);
        m->mapping_fd = st_take_fd(f);
    }
    if (y->errors) {
        /* Tensors may borrow from the mapping st_close releases: drop them all first. */
        for (int i = 0; i < m->n_layers; i++)
            for (int p = 0; p < LAYER_MAX_PARAMS; p++)
                tensor_release(&m->layers[i]->params[p]);
    } else {
        m->weights_loaded = true;
    }
    st_close(f);
    return y->errors;
}

/* ---- the page policy ---- */

/* ---- writing ---- */

/* Weights files at least this large are written with direct I/O when the save is durable
 * (weights_out.h). */
#define SAVE_DIRECT_MIN ((uint64_t)64 << 20)

int weights_store_write(const model *m, atomic_file *af, const st_entry *entries, int n,
                        const char *const *meta, int n_meta, char *err, size_t err_len)
{
    const bool durable = af->durable;
    if (!tensor_host_little_endian())
        return st_write(af->fp, entries, n, meta, n_meta, err, err_len);
    char *header;
    size_t header_len;
    st_entry *sorted;
    if (st_header(entries, n, meta, n_meta, &header, &header_len, &sorted, err, err_len) != 0)
        return -1;
    uint64_t total = header_len;
    for (int i = 0; i < n; i++)
        total += (uint64_t)sorted[i].t->size * sizeof(float);
    const int src_fd = m->mapping ? m->mapping_fd : -1;
    weights_out w;
    bool ok, direct = false;
    if (durable && total >= SAVE_DIRECT_MIN)   /* when it fails, w is begun for the page cache */
        direct = wo_begin_direct(&w, af->tmp_path, total, fileno(af->fp), src_fd, m->mapping,
                                 m->mapping_len) == 0;
    else
        wo_begin(&w, fileno(af->fp), header_len, durable, src_fd, m->mapping, m->mapping_len);
    if (direct) {
        /* front to back; pending tensors' new values are drawn ahead of the writing */
        ok = wo_bytes(&w, header, header_len) == 0;
        for (int i = 0; i < n && ok; i++)
            ok = wo_tensor(&w, sorted[i].t) == 0;
    } else {
        /* through the page cache, pending tensors last: their new values may still be being
         * drawn (tensor_parts_fill) while the others are copied */
        ok = fwrite(header, 1, header_len, af->fp) == header_len && fflush(af->fp) == 0;
        if (!ok)
            w.error = errno;
        for (int pass = 0; pass < 2 && ok; pass++) {
            uint64_t at = header_len;
            for (int i = 0; i < n && ok; i++) {
                const tensor *t = sorted[i].t;
                if ((t->parts != NULL) == (pass == 1))
                    ok = wo_seek(&w, at) == 0 && wo_tensor(&w, t) == 0;
                at += (uint64_t)t->size * sizeof(float);
            }
        }
    }
    ok = wo_end(&w) == 0 && ok;
    free(header);
    free(sorted);
    if (!ok) {
        snprintf(err, err_len, "write failed: %s", strerror(w.error ? w.error : EIO));
        return -1;
    }
    return 0;
}
