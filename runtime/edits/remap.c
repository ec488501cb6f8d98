/* remap.c: applies a unit map (which old unit each new unit comes from) to a layer's own
 * parameters and its consumers' input rows, as the unit layouts of their types place the units:
 * copied, scaled, drawn afresh or described as old values beside new ones (tensor_parts). */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "runtime/edits/edit_impl.h"
#include "runtime/tensor/tensor_parts.h"

static bool any_new(const unit_map *u)
{
    for (int64_t j = 0; j < u->n_new; j++)
        if (u->src[j] < 0)
            return true;
    return false;
}

/* ---- weight remapping ----------------------------------------------------------------------- */

/* Rows of an old borrowed tensor copied between two drops of its pages (about 4 MB). */
static int64_t drop_every(int64_t row_len)
{
    int64_t r = ((int64_t)4 << 20) / (int64_t)sizeof(float) / (row_len > 0 ? row_len : 1);
    return r > 0 ? r : 1;
}

/* A large new tensor that is about to be written in full gets its pages in one call
 * (MADV_POPULATE_WRITE) instead of one page fault each (widening a 400 MB matrix takes about a
 * fifth less time). A kernel without it (before Linux 5.14) faults them in as usual. */
static void prefault(const tensor *t)
{
#ifdef MADV_POPULATE_WRITE
    size_t bytes = (size_t)t->size * sizeof(float);
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || bytes < ((size_t)16 << 20))
        return;
    uintptr_t pg = (uintptr_t)ps, a = ((uintptr_t)t->data + pg - 1) / pg * pg,
              b = ((uintptr_t)t->data + bytes) / pg * pg;
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
    (void)t;
#endif
}

/* How many leading units keep their own index (src[j] == j): copied as one block. */
static int64_t kept_prefix(const unit_map *u)
{
    int64_t p = 0, lim = u->n_old < u->n_new ? u->n_old : u->n_new;
    while (p < lim && u->src[p] == p)
        p++;
    return p;
}

/* Every old unit keeps its index and every new unit is fresh (the default widen): the new
 * tensors are the old ones with spans of new values beside them, described (tensor_parts)
 * rather than copied. */
static bool appends_only(const unit_map *u)
{
    if (u->n_new <= u->n_old || kept_prefix(u) != u->n_old)
        return false;
    for (int64_t j = u->n_old; j < u->n_new; j++)
        if (u->src[j] >= 0)
            return false;
    return true;
}

/* Assembles the pending parameters of L (an earlier edit's description) before they are read. */
static int settle_params(ectx *E, layer *L)
{
    for (int k = 0; k < L->n_params; k++)
        if (tensor_settle(&L->params[k]) != 0) {
            ectx_oom(E);
            return -1;
        }
    return 0;
}

/* The new values of a described widening, drawn on the description's filler thread in the
 * order and at the stream positions an in-memory widen draws them: `rows` rows of `blocks` runs
 * of k values, run (r, g) stored at fresh + (r * blocks + g) * k, drawn at position
 * r * row_len + first + g * block_stride. */
typedef struct fresh_fill {
    param_stream stream;
    float *fresh;
    int64_t rows, k, row_len, first, block_stride;
    int blocks;
} fresh_fill;

static void fresh_fill_run(tensor_parts *p, void *arg)
{
    fresh_fill *f = arg;
    const int64_t per_row = f->blocks * f->k;
    int64_t told = 0;
    for (int64_t r = 0; r < f->rows; r++) {
        for (int g = 0; g < f->blocks; g++)
            param_stream_fill(&f->stream, f->fresh + (r * f->blocks + g) * f->k,
                              r * f->row_len + f->first + g * f->block_stride, f->k);
        if ((r + 1) * per_row - told >= ((int64_t)1 << 16)) {   /* readers may go on */
            told = (r + 1) * per_row;
            tensor_parts_filled(p, told);
        }
    }
    free(f);
}

/* W [R, blocks * n] widened to [R, blocks * nn] by new units appended to each block, as a
 * description: the old tensor (taken from *o) and a fresh [R, blocks * (nn - n)] buffer of the
 * new units' values, drawn from fin meanwhile (fresh_fill). */
static int append_columns(ectx *E, tensor *o, const param_spec *ps, int blocks, int64_t n,
                          int64_t nn, const param_stream *fin, tensor *out)
{
    const int64_t R = ps->shape[0], nc = ps->shape[1], oc = o->shape[1], k = nn - n;
    float *fresh = malloc((size_t)(R * blocks * k > 0 ? R * blocks * k : 1) * sizeof *fresh);
    fresh_fill *f = malloc(sizeof *f);
    tensor_parts *p = fresh && f ? tensor_parts_new(NULL, fresh, R * blocks * k) : NULL;
    if (!p) {
        free(fresh);
        free(f);
        ectx_oom(E);
        return -1;
    }
    *f = (fresh_fill){.stream = *fin, .fresh = fresh, .rows = R, .k = k, .row_len = nc,
                      .first = n, .block_stride = nn, .blocks = blocks};
    tensor_parts_fill(p, fresh_fill_run, f);
    const float *old = o->data;
    p->keep = *o;
    memset(o, 0, sizeof *o);
    int bad = tensor_parts_group(p, R);
    for (int g = 0; g < blocks; g++) {
        bad |= tensor_parts_span(p, old + g * n, oc, n);
        bad |= tensor_parts_span(p, fresh + g * k, blocks * k, k);
    }
    assert(!bad);
    (void)bad;
    memset(out, 0, sizeof *out);
    out->ndim = 2;
    out->shape[0] = R;
    out->shape[1] = nc;
    out->size = R * nc;
    out->parts = p;
    return 0;
}

/* New units' values for one row of a column block: every run of new units drawn in order. */
static void fill_new_units(const unit_map *u, param_stream *ps, float *row, int64_t row_pos,
                           int64_t from)
{
    for (int64_t j = from; j < u->n_new;) {
        if (u->src[j] >= 0) {
            j++;
            continue;
        }
        int64_t e = j;
        while (e < u->n_new && u->src[e] < 0)
            e++;
        param_stream_fill(ps, row + j, row_pos + j, e - j);
        j = e;
    }
}

/* The layer's own parameters for its new width, as its unit layout places the units: column
 * blocks (4 gate blocks for LSTMs) follow the unit map; rows a unit owns (an LSTM's RW: what
 * each unit sends to the gates) follow it too, scaled like any outgoing weight, with the tail
 * columns of such a row (graves_lstm peepholes). Kept values are copied; only the new units'
 * values are drawn, from the parameter's own stream with the distribution of the whole widened
 * parameter, in row-major order (for owned rows, the incoming values first, then the new rows'
 * outgoing ones when they are not zero). Parameters the layout does not name are kept. */
static int remap_self(ectx *E, layer *L, const unit_map *u)
{
    const int64_t n = u->n_old, nn = u->n_new;
    param_spec os[LAYER_MAX_PARAMS], ns[LAYER_MAX_PARAMS];
    int on = L->type->param_specs(L, os);
    assert(L->n_out == n && on == L->n_params);
    if (settle_params(E, L) != 0)
        return -1;
    tensor old[LAYER_MAX_PARAMS];
    memcpy(old, L->params, sizeof old);
    L->n_out = nn;
    int cnt = L->type->param_specs(L, ns);
    assert(cnt == on);
    tensor nw[LAYER_MAX_PARAMS];
    memset(nw, 0, sizeof nw);
    rng noise_rng;
    char stream[512];
    snprintf(stream, sizeof stream, "%s.noise", L->name);
    rng_seed_stream(&noise_rng, E->seed, stream);
    const bool fresh_needed = any_new(u);
    const int64_t keep = kept_prefix(u);
    const bool appends = appends_only(u);
    bool taken[LAYER_MAX_PARAMS] = {false};   /* old[k] moved into nw[k]'s description */
    bool same[LAYER_MAX_PARAMS] = {false};    /* not in the unit layout: kept as it is */
    int rc = 0;
    for (int k = 0; k < cnt && rc == 0; k++) {
        const param_spec *ps = &ns[k];
        tensor *o = &old[k];
        assert(!strcmp(os[k].key, ps->key));
        const unit_param_layout *up = unit_layout_param(layer_units(L), ps->key);
        if (!up) {
            same[k] = true;
            continue;
        }
        const int blocks = up->col_blocks;
        const bool rw = up->owns_row;
        if (appends && ps->ndim == 2 && !rw && o->data) {
            param_stream fin;
            if (fresh_stream(E, L, ps, &u->in_init, &fin) != 0 ||
                append_columns(E, o, ps, blocks, n, nn, &fin, &nw[k]) != 0) {
                rc = -1;
                break;
            }
            taken[k] = true;
            continue;
        }
        if (tensor_alloc(&nw[k], ps->ndim, ps->shape) != 0) {
            ectx_oom(E);
            rc = -1;
            break;
        }
        prefault(&nw[k]);
        param_stream fin, fout;
        if (fresh_needed && fresh_stream(E, L, ps, &u->in_init, &fin) != 0) {
            rc = -1;
            break;
        }
        bool out_drawn = rw && fresh_needed && !u->out_zero;
        if (out_drawn && fresh_stream(E, L, ps, &u->out_init, &fout) != 0) {
            rc = -1;
            break;
        }
        if (o->borrowed)     /* read ahead when the weights file is not in the page cache */
            model_prefetch_mapped(E->m, o->data, o->data + o->size);
        float *dst = nw[k].data;
        if (ps->ndim == 1) {                         /* b: [blocks * n] */
            for (int g = 0; g < blocks; g++)
                for (int64_t j = 0; j < nn; j++) {
                    int64_t s = u->src[j], at = g * nn + j;
                    if (s >= 0) {
                        dst[at] = o->data[g * n + s];
                    } else {
                        param_stream_fill(&fin, dst + at, at, 1);
                        if (g == up->forget_gate_block)   /* DL4J's LSTM forget-gate bias */
                            dst[at] = (float)L->forget_gate_bias;
                    }
                }
        } else if (up->leading) {                    /* W: [n, ...]: unit j the slice [j] */
            const int64_t slice = o->size / n;
            assert(nw[k].size == nn * slice);
            for (int64_t j = 0; j < nn; j++) {
                const int64_t s = u->src[j];
                float *d = dst + j * slice;
                if (s < 0) {
                    param_stream_fill(&fin, d, j * slice, slice);
                    continue;
                }
                const float *from = o->data + s * slice;
                for (int64_t c = 0; c < slice; c++) {
                    float v = from[c];
                    if (j >= n && u->noise > 0)
                        v *= (float)(1.0 + u->noise * rng_normal(&noise_rng));
                    d[c] = v;
                }
            }
        } else if (!rw) {                            /* W: [rows, blocks * n] */
            const int64_t R = ps->shape[0], oc = o->shape[1], nc = ps->shape[1];
            const int64_t every = drop_every(oc);
            int64_t dropped = 0;
            for (int64_t r = 0; r < R; r++) {
                const float *orow = o->data + r * oc;
                float *drow = dst + r * nc;
                for (int g = 0; g < blocks; g++) {
                    memcpy(drow + g * nn, orow + g * n, (size_t)keep * sizeof(float));
                    for (int64_t j = keep; j < nn; j++) {
                        int64_t s = u->src[j];
                        if (s < 0)
                            continue;
                        float v = orow[g * n + s];
                        if (j >= n && u->noise > 0)
                            v *= (float)(1.0 + u->noise * rng_normal(&noise_rng));
                        drow[g * nn + j] = v;
                    }
                    if (fresh_needed)
                        fill_new_units(u, &fin, drow + g * nn, r * nc + g * nn, keep);
                }
                if ((r + 1) % every == 0 || r + 1 == R) {   /* old rows done: out of memory */
                    drop_param_pages(E, o, dropped, (r + 1) * oc);
                    dropped = (r + 1) * oc;
                }
            }
        } else {                             /* owned rows: [n, blocks * n + tail columns] */
            const int64_t oc = o->shape[1], nc = ps->shape[1], peep = nc - blocks * nn;
            assert(peep == up->tail_cols || up->tail_cols < 0);
            for (int64_t r = 0; r < nn; r++) {
                int64_t sr = u->src[r];
                float *drow = dst + r * nc;
                for (int g = 0; g < blocks; g++) {
                    if (sr < 0)       /* a new unit's outgoing recurrent weights: zero here */
                        continue;
                    for (int64_t j = 0; j < nn; j++) {
                        int64_t sj = u->src[j];
                        if (sj < 0)
                            continue;
                        float v = o->data[sr * oc + g * n + sj] * u->scale[r];
                        if (j >= n && u->noise > 0)
                            v *= (float)(1.0 + u->noise * rng_normal(&noise_rng));
                        drow[g * nn + j] = v;
                    }
                    if (fresh_needed)   /* new units' incoming recurrent weights */
                        fill_new_units(u, &fin, drow + g * nn, r * nc + g * nn, 0);
                }
                for (int64_t p = 0; p < peep; p++)
                    if (sr >= 0)
                        drow[blocks * nn + p] = o->data[sr * oc + blocks * n + p];
                    else
                        param_stream_fill(&fin, drow + blocks * nn + p,
                                          r * nc + blocks * nn + p, 1);
            }
            if (out_drawn) {    /* the new rows' outgoing weights, the stream continued */
                fout.r = fin.r;
                for (int64_t r = 0; r < nn; r++)
                    if (u->src[r] < 0)
                        param_stream_fill(&fout, dst + r * nc, r * nc, blocks * nn);
            }
        }
    }
    if (rc != 0) {
        for (int k = 0; k < cnt; k++)
            if (taken[k])    /* the old tensor stays L's: the description lets go of it */
                memset(&nw[k].parts->keep, 0, sizeof nw[k].parts->keep);
        for (int k = 0; k < cnt; k++)
            tensor_release(&nw[k]);
        L->n_out = n;
        return -1;
    }
    for (int k = 0; k < cnt; k++) {
        if (same[k])
            continue;
        if (!taken[k])
            release_param(E, &L->params[k]);
        L->params[k] = nw[k];
    }
    L->n_params = cnt;
    return 0;
}

/* Every kept unit's outgoing weights are copied unscaled. */
static bool scales_one(const unit_map *u)
{
    for (int64_t j = 0; j < u->n_old && j < u->n_new; j++)
        if (u->scale[j] != 1.0f)
            return false;
    return true;
}

/* A consumer's input parameter, seen as R input units of cols values each, with new units'
 * values inserted after unit offset + n_old, as a description: the old units (the tensor taken
 * from *o) around the new ones, which are zeros or drawn from out_init as an in-memory remap
 * draws them. */
static int append_rows(ectx *E, layer *C, tensor *o, const param_spec *ps, int64_t offset,
                       const unit_map *u, int64_t R, int64_t cols, tensor *out)
{
    const int64_t delta = u->n_new - u->n_old;
    const int64_t split = offset + u->n_old;
    float *fresh = NULL;
    fresh_fill *f = NULL;
    param_stream fr;
    if (!u->out_zero) {
        if (fresh_stream(E, C, ps, &u->out_init, &fr) != 0)
            return -1;
        fresh = malloc((size_t)(delta * cols > 0 ? delta * cols : 1) * sizeof *fresh);
        f = malloc(sizeof *f);
        if (!fresh || !f) {
            free(fresh);
            free(f);
            ectx_oom(E);
            return -1;
        }
    }
    tensor_parts *p = tensor_parts_new(NULL, fresh, delta * cols);
    if (!p) {
        free(fresh);
        free(f);
        ectx_oom(E);
        return -1;
    }
    if (f) {
        *f = (fresh_fill){.stream = fr, .fresh = fresh, .rows = delta, .k = cols,
                          .row_len = cols, .first = split * cols, .blocks = 1};
        tensor_parts_fill(p, fresh_fill_run, f);
    }
    const float *old = o->data;
    p->keep = *o;
    memset(o, 0, sizeof *o);
    int bad = tensor_parts_group(p, split);
    bad |= tensor_parts_span(p, old, cols, cols);
    bad |= tensor_parts_group(p, delta);
    bad |= tensor_parts_span(p, fresh, cols, cols);
    bad |= tensor_parts_group(p, R - split);
    bad |= tensor_parts_span(p, old + split * cols, cols, cols);
    assert(!bad);
    (void)bad;
    memset(out, 0, sizeof *out);
    out->ndim = ps->ndim;
    memcpy(out->shape, ps->shape, sizeof ps->shape);
    out->size = (R + delta) * cols;
    assert(out->size == shape_count(ps->ndim, ps->shape));
    out->parts = p;
    return 0;
}

/* Input units [offset, offset + n_old) of consumer C become n_new units in the parameter its
 * unit layout names (input_rows consecutive rows each: one row of a dense or lstm W): kept
 * units' rows (scaled), new units' rows zero or drawn from out_init (that parameter's stream,
 * the distribution of the whole new parameter, the new rows in order). Every other parameter
 * is untouched. */
static int remap_rows(ectx *E, layer *C, const char *key, int64_t offset, int64_t rows_per_unit,
                      const unit_map *u)
{
    const int64_t delta = u->n_new - u->n_old;
    const unit_layout *ul = layer_units(C);
    assert(ul && key && ul->input_rows >= 1);
    int wi = layer_param_index(C, key);
    assert(wi >= 0 && tensor_has_values(&C->params[wi]));
    tensor *o = &C->params[wi];
    if (tensor_settle(o) != 0) {
        ectx_oom(E);
        return -1;
    }
    /* R input units of cols values each (a unit's rows are consecutive) */
    const int64_t R = o->shape[0] / rows_per_unit, cols = o->size / (R ? R : 1);
    assert(offset + u->n_old <= R);
    C->n_in += delta * rows_per_unit;
    param_spec ns[LAYER_MAX_PARAMS];
    C->type->param_specs(C, ns);
    tensor nw = {0};
    param_stream fr;
    if (appends_only(u) && scales_one(u)) {
        if (append_rows(E, C, o, &ns[wi], offset, u, R, cols, &nw) != 0) {
            C->n_in -= delta * rows_per_unit;
            return -1;
        }
        *o = nw;
        return 0;
    }
    if (tensor_alloc(&nw, ns[wi].ndim, ns[wi].shape) != 0) {
        C->n_in -= delta * rows_per_unit;
        ectx_oom(E);
        return -1;
    }
    prefault(&nw);
    if (!u->out_zero && any_new(u) && fresh_stream(E, C, &ns[wi], &u->out_init, &fr) != 0) {
        tensor_release(&nw);
        C->n_in -= delta * rows_per_unit;
        return -1;
    }
    assert(nw.size == (R + delta) * cols);
    if (o->borrowed)
        model_prefetch_mapped(E->m, o->data, o->data + o->size);
    /* later[i]: the lowest kept unit the rows of units i.. still read (n_old when none), so
     * that the old rows already read can leave memory as the copy goes on */
    int64_t *later = malloc(((size_t)u->n_new + 1) * sizeof *later);
    if (!later) {
        tensor_release(&nw);
        C->n_in -= delta * rows_per_unit;
        ectx_oom(E);
        return -1;
    }
    later[u->n_new] = u->n_old;
    for (int64_t i = u->n_new - 1; i >= 0; i--)
        later[i] = u->src[i] >= 0 && u->src[i] < later[i + 1] ? u->src[i] : later[i + 1];
    const int64_t every = drop_every(cols);
    int64_t dropped = 0;
    for (int64_t r = 0; r < R + delta; r++) {
        float *d = nw.data + r * cols;
        int64_t low;     /* the first old row still to be read after this one */
        if (r < offset) {
            memcpy(d, o->data + r * cols, (size_t)cols * sizeof(float));
            low = r + 1;
        } else if (r < offset + u->n_new) {
            int64_t i = r - offset, s = u->src[i];
            if (s >= 0 && u->scale[i] == 1.0f) {
                memcpy(d, o->data + (offset + s) * cols, (size_t)cols * sizeof(float));
            } else if (s >= 0) {
                const float *srow = o->data + (offset + s) * cols;
                for (int64_t c = 0; c < cols; c++)
                    d[c] = srow[c] * u->scale[i];
            } else if (u->out_zero) {
                memset(d, 0, (size_t)cols * sizeof(float));
            } else {
                param_stream_fill(&fr, d, r * cols, cols);
            }
            low = offset + later[i + 1];
        } else {
            memcpy(d, o->data + (r - delta) * cols, (size_t)cols * sizeof(float));
            low = r - delta + 1;
        }
        if (low * cols - dropped >= every * cols || r + 1 == R + delta) {
            if (r + 1 == R + delta)
                low = R;
            drop_param_pages(E, o, dropped, low * cols);
            dropped = low * cols > dropped ? low * cols : dropped;
        }
    }
    free(later);
    release_param(E, o);
    *o = nw;
    return 0;
}

/* One parameter of C seen as [outer, R, inner], with the edited layer's units as blocks of
 * `per` consecutive rows along its dimension `dim` from row `offset`: the blocks follow the
 * unit map. follows: replicas copy their source's rows unscaled and new units start as new
 * parameters do (constants such as batch norm's gamma 1 and var 1, else the weight or bias
 * init); otherwise (an input parameter) kept rows are scaled and new ones are zero or drawn
 * from out_init. Values are drawn at their positions in the new tensor (shape ns). */
static int remap_slab(ectx *E, layer *C, int pi, const param_spec *ns, int dim, int64_t offset,
                      int64_t per, const unit_map *u, bool follows)
{
    tensor *o = &C->params[pi];
    if (tensor_settle(o) != 0) {
        ectx_oom(E);
        return -1;
    }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < o->ndim; d++)
        if (d < dim)
            outer *= o->shape[d];
        else if (d > dim)
            inner *= o->shape[d];
    const int64_t R = o->shape[dim], nR = ns->shape[dim];
    assert(nR == R + (u->n_new - u->n_old) * per && offset + u->n_old * per <= R);
    tensor nw = {0};
    if (tensor_alloc(&nw, ns->ndim, ns->shape) != 0) {
        ectx_oom(E);
        return -1;
    }
    bool drawn = false;
    float constant = 0.0f;
    param_stream fr;
    if (any_new(u)) {
        if (follows && (ns->role == PARAM_STATE || ns->const_init)) {
            constant = (float)ns->state_init;
        } else if (follows || !u->out_zero) {
            init_spec init = follows ? effective_init(E, C) : u->out_init;
            if (fresh_stream(E, C, ns, &init, &fr) != 0) {
                tensor_release(&nw);
                return -1;
            }
            drawn = true;
        }
    }
    const int64_t block = per * inner, tail = R - offset - u->n_old * per;
    for (int64_t a = 0; a < outer; a++) {
        const float *src = o->data + a * R * inner;
        float *dst = nw.data + a * nR * inner;
        memcpy(dst, src, (size_t)(offset * inner) * sizeof(float));
        for (int64_t i = 0; i < u->n_new; i++) {
            float *d = dst + (offset + i * per) * inner;
            const int64_t s = u->src[i];
            if (s >= 0) {
                const float *from = src + (offset + s * per) * inner;
                const float scale = follows ? 1.0f : u->scale[i];
                for (int64_t c = 0; c < block; c++)
                    d[c] = scale == 1.0f ? from[c] : from[c] * scale;
            } else if (drawn) {
                param_stream_fill(&fr, d, d - nw.data, block);
            } else {
                for (int64_t c = 0; c < block; c++)
                    d[c] = constant;
            }
        }
        memcpy(dst + (offset + u->n_new * per) * inner, src + (offset + u->n_old * per) * inner,
               (size_t)(tail * inner) * sizeof(float));
    }
    release_param(E, o);
    *o = nw;
    return 0;
}

static bool follows_key(const unit_layout *ul, const char *key)
{
    for (int i = 0; i < ul->n_follow; i++)
        if (!strcmp(ul->follow[i], key))
            return true;
    return false;
}

/* A target's parameters for the unit map: its input rows (a dense W's rows, a convolution's
 * input channels) and the parameters that follow its input's units. */
static int remap_target(ectx *E, const row_target *t, const unit_map *u)
{
    layer *C = t->L;
    const unit_layout *ul = layer_units(C);
    if (!t->follows && ul->input_dim == 0 && ul->n_follow == 0 && t->offset % t->rows == 0) {
        const int64_t rpu = t->rows * input_rows_per_unit(C);
        int rc = remap_rows(E, C, ul->input_key, t->offset / t->rows, rpu, u);
        if (rc == 0 && ul->input_key2) {
            C->n_in -= (u->n_new - u->n_old) * rpu;   /* the second key's rows: n_in once */
            rc = remap_rows(E, C, ul->input_key2, t->offset / t->rows, rpu, u);
        }
        return rc;
    }
    const int64_t m = unit_multiplier(C), per = t->rows * m, off = t->offset * m;
    grow_target_widths(t, u->n_new - u->n_old);
    param_spec ns[LAYER_MAX_PARAMS];
    int cnt = C->type->param_specs(C, ns);
    assert(cnt == C->n_params);
    for (int k = 0; k < cnt; k++) {
        const bool input = !t->follows && ul->input_key &&
                           (!strcmp(ns[k].key, ul->input_key) ||
                            (ul->input_key2 && !strcmp(ns[k].key, ul->input_key2)));
        const bool follow = follows_key(ul, ns[k].key);
        if ((input || follow) &&
            remap_slab(E, C, k, &ns[k], input ? ul->input_dim : 0, off, per, u, follow) != 0)
            return -1;
    }
    return 0;
}

void apply_group_unit_map(ectx *E, layer *const *group, int n_group, const unit_map *u,
                          row_target *tg, int nt, edit_state st)
{
    const int64_t delta = u->n_new - u->n_old;
    for (int g = 0; g < n_group; g++) {
        layer *L = group[g];
        if (E->wmode && layer_has_data(L)) {
            if (remap_self(E, L, u) != 0)
                return;
        } else {
            L->n_out = u->n_new;
        }
    }
    for (int i = 0; i < nt; i++) {
        if (E->wmode && layer_has_data(tg[i].L)) {
            if (remap_target(E, &tg[i], u) != 0)
                return;
        } else {
            grow_target_widths(&tg[i], delta);
        }
    }
    for (int g = 0; g < n_group; g++) {
        mark_edit(group[g], st);
        linfo *li = linfo_get(E, group[g]);
        if (li)
            li->size_stmt = E->cur;
    }
}

/* Applies the unit map to the layer and all its consumers. */
void apply_unit_map(ectx *E, layer *L, const unit_map *u, row_target *tg, int nt,
                    edit_state st)
{
    apply_group_unit_map(E, &L, 1, u, tg, nt, st);
}
