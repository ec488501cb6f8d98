/* widen.c: widen and narrow: a layer gains or loses units with every other trained weight kept
 * (preserving mode, Net2WiderNet replication, norm- or index-based pruning), and every
 * consumer's input rows follow, through pass-through layers and merge vertices. */
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

/* Which old unit each new unit comes from, and how its outgoing weights are scaled. */
typedef struct unit_map {
    int64_t n_old, n_new;
    int64_t *src;        /* [n_new]: old unit index, or -1 for a new unit */
    float *scale;        /* [n_new]: factor on the unit's outgoing weights */
    bool out_zero;       /* new units' outgoing weights are zero (else drawn from out_init) */
    init_spec in_init;   /* new units' incoming weights */
    init_spec out_init;
    double noise;        /* relative noise on replicas' copied incoming weights (net2net) */
} unit_map;

static bool any_new(const unit_map *u)
{
    for (int64_t j = 0; j < u->n_new; j++)
        if (u->src[j] < 0)
            return true;
    return false;
}

static bool widenable_type(const layer_type *t)
{
    return (t->flags & LT_WIDENABLE) && t->units;
}

static bool widenable(const layer *L)
{
    return widenable_type(L->type);
}

/* The widenable types for a message, "a, b and c": feed-forward ones first, then recurrent
 * ones, then those that take indices, each group in registry order. */
static void widenable_names(char *buf, size_t len)
{
    const layer_type *t[64];
    int n = 0;
    for (int group = 0; group < 3; group++)
        for (int i = 0; i < layer_type_count && n < 64; i++) {
            const layer_type *c = layer_types[i];
            int g = (c->flags & LT_INDEX_INPUT) ? 2 : (c->flags & LT_RECURRENT) ? 1 : 0;
            if (g == group && widenable_type(c))
                t[n++] = c;
        }
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ",
                               t[i]->name);
}

static void refuse_type(ectx *E, const ir_stmt *st, const layer *L)
{
    bool vertex = (L->type->flags & LT_VERTEX) != 0;
    char names[512];
    widenable_names(names, sizeof names);
    diag_error(E->d, st->name_loc, "%s applies to %s layers; '%s' is %s %s %s",
               ir_kind_names[st->kind], names, L->name, type_article(L->type), L->type->name,
               vertex ? "vertex" : "layer");
    note_defined(E, L);
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
        const unit_param_layout *up = unit_layout_param(L->type->units, ps->key);
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
            assert(peep == up->tail_cols);
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
                        param_stream_fill(&fin, drow + blocks * nn + p, r * nc + blocks * nn + p, 1);
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
static int remap_rows(ectx *E, layer *C, int64_t offset, const unit_map *u)
{
    const int64_t delta = u->n_new - u->n_old;
    const unit_layout *ul = C->type->units;
    assert(ul && ul->input_key && ul->input_rows >= 1);
    const int64_t rows_per_unit = input_rows_per_unit(C);
    int wi = layer_param_index(C, ul->input_key);
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

/* Applies the unit map to the layer and all its consumers. */
static void apply_map(ectx *E, layer *L, const unit_map *u, row_target *tg, int nt, edit_state st)
{
    const int64_t delta = u->n_new - u->n_old;
    if (E->wmode && layer_has_data(L)) {
        if (remap_self(E, L, u) != 0)
            return;
    } else {
        L->n_out = u->n_new;
    }
    for (int i = 0; i < nt; i++) {
        layer *C = tg[i].L;
        if (E->wmode && layer_has_data(C)) {
            if (remap_rows(E, C, tg[i].offset, u) != 0)
                return;
        } else {
            C->n_in += delta * input_rows_per_unit(C);
        }
    }
    mark_edit(L, st);
    linfo *li = linfo_get(E, L);
    if (li)
        li->size_stmt = E->cur;
}

/* ---- widen -------------------------------------------------------------------------------- */

static const char *const widen_keys[] = {"outgoing", "method", "init", "noise"};

static bool ident_is(const conf_value *v, const char *s)
{
    return v && (v->kind == CV_IDENT || v->kind == CV_STR) && v->str && !strcmp(v->str, s);
}

void do_widen(ectx *E, const ir_stmt *st)
{
    layer *L = find_layer_or_report(E, st->name, st->name_loc);
    if (!L)
        return;
    if (!widenable(L)) {
        refuse_type(E, st, L);
        return;
    }
    const int64_t n = L->n_out;
    src_loc cl = st->count_loc.line ? st->count_loc : st->loc;
    int64_t nn = (st->flags & IRF_TO) ? st->count : n + st->count;
    if (st->flags & IRF_TO) {
        if (st->count <= n) {
            diag_error(E->d, cl, "widen to %" PRId64 ": '%s' already has %" PRId64 " units "
                       "(narrow makes a layer smaller)", st->count, L->name, n);
            note_defined(E, L);
            return;
        }
    } else if (st->count < 1) {
        diag_error(E->d, cl, "widen by needs at least 1 unit, got %" PRId64, st->count);
        return;
    }
    bool net2net = false, ok = true, has_out = false;
    unit_map u = {.n_old = n, .n_new = nn, .out_zero = true};
    u.in_init = effective_init(E, L);
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *a = &st->opts[i];
        src_loc vl = a->value && a->value->loc.line ? a->value->loc : a->name_loc;
        if (!strcmp(a->name, "method")) {
            if (ident_is(a->value, "net2net"))
                net2net = true;
            else if (!ident_is(a->value, "preserve")) {
                diag_error(E->d, vl, "method takes preserve or net2net");
                ok = false;
            }
        } else if (!strcmp(a->name, "outgoing")) {
            has_out = true;
            if (ident_is(a->value, "zeros"))
                continue;
            init_spec is;
            if (parse_init_value(E, a, &is) != 0) {
                ok = false;
                continue;
            }
            u.out_zero = is.kind == INIT_ZEROS;
            u.out_init = is;
        } else if (!strcmp(a->name, "init")) {
            ok = parse_init_value(E, a, &u.in_init) == 0 && ok;
        } else if (!strcmp(a->name, "noise")) {
            if (!a->value || a->value->kind != CV_NUM || !(a->value->num >= 0)) {
                diag_error(E->d, vl, "noise takes a number >= 0");
                ok = false;
            } else {
                u.noise = a->value->num;
            }
        } else {
            const char *hint = diag_suggest(a->name, widen_keys, 4);
            if (hint)
                diag_error(E->d, a->name_loc, "unknown option '%s' for widen (did you mean "
                           "'%s'?)", a->name, hint);
            else
                diag_error(E->d, a->name_loc, "unknown option '%s' for widen (it takes "
                           "outgoing, method, init, noise)", a->name);
            ok = false;
        }
    }
    if (net2net && has_out) {
        diag_error(E->d, st->loc, "outgoing applies to method = preserve: net2net splits the "
                   "outgoing weights of the replicated units");
        ok = false;
    }
    if (net2net && (L->type->flags & LT_LOSS)) {
        diag_error(E->d, st->name_loc, "net2net would duplicate classes of output layer '%s': "
                   "widen it with the default method (new classes from init)", L->name);
        note_defined(E, L);
        ok = false;
    }
    if (u.noise > 0 && !net2net) {
        diag_error(E->d, st->loc, "noise applies to method = net2net");
        ok = false;
    }
    if (!ok)
        return;
    row_target *tg = NULL;
    int nt = collect_targets(E, L->name, "widening", &tg);
    if (nt < 0)
        return;
    u.src = malloc((size_t)nn * sizeof *u.src);
    u.scale = malloc((size_t)nn * sizeof *u.scale);
    int64_t *count = calloc((size_t)n + 1, sizeof *count);
    if (!u.src || !u.scale || !count) {
        ectx_oom(E);
    } else {
        rng r;
        char stream[512];
        snprintf(stream, sizeof stream, "%s.net2net", L->name);
        rng_seed_stream(&r, E->seed, stream);
        for (int64_t j = 0; j < nn; j++) {
            u.src[j] = j < n ? j : net2net && n > 0 ? (int64_t)rng_below(&r, (uint64_t)n) : -1;
            if (u.src[j] >= 0)
                count[u.src[j]]++;
        }
        for (int64_t j = 0; j < nn; j++)
            u.scale[j] = u.src[j] >= 0 ? 1.0f / (float)count[u.src[j]] : 1.0f;
        apply_map(E, L, &u, tg, nt, EDIT_WIDENED);
    }
    free(count);
    free(u.src);
    free(u.scale);
    free(tg);
}

/* ---- narrow ------------------------------------------------------------------------------- */

/* Squared L2 norm of each unit's incoming weights: its columns in every column block of the
 * two-dimensional parameters of its unit layout (LSTM: all four gate blocks of W and RW). */
static void unit_norms(const layer *L, double *norm)
{
    const int64_t n = L->n_out;
    for (int64_t j = 0; j < n; j++)
        norm[j] = 0;
    param_spec specs[LAYER_MAX_PARAMS];
    int cnt = L->type->param_specs(L, specs);
    for (int k = 0; k < L->n_params && k < cnt; k++) {
        const tensor *t = &L->params[k];
        const unit_param_layout *up = unit_layout_param(L->type->units, specs[k].key);
        if (!up || specs[k].ndim != 2)
            continue;
        const int blocks = up->col_blocks;
        const int64_t R = t->shape[0], cols = t->shape[1];
        for (int64_t r = 0; r < R; r++)
            for (int g = 0; g < blocks; g++)
                for (int64_t j = 0; j < n; j++) {
                    double v = t->data[r * cols + g * n + j];
                    norm[j] += v * v;
                }
    }
}

typedef struct unit_rank {
    double norm;
    int64_t idx;
} unit_rank;

/* Smallest norm first; among equal norms the higher index goes first. */
static int cmp_rank(const void *a, const void *b)
{
    const unit_rank *x = a, *y = b;
    if (x->norm != y->norm)
        return x->norm < y->norm ? -1 : 1;
    return x->idx > y->idx ? -1 : x->idx < y->idx ? 1 : 0;
}

void do_narrow(ectx *E, const ir_stmt *st)
{
    layer *L = find_layer_or_report(E, st->name, st->name_loc);
    if (!L)
        return;
    if (!widenable(L)) {
        refuse_type(E, st, L);
        return;
    }
    const int64_t n = L->n_out;
    bool *drop = calloc((size_t)n + 1, sizeof *drop);
    if (!drop) {
        ectx_oom(E);
        return;
    }
    int64_t nn;
    bool ok = true;
    if (st->flags & IRF_DROP) {
        src_loc il = st->indices_loc.line ? st->indices_loc : st->loc;
        int64_t n_drop = 0;
        for (int i = 0; i < st->n_indices; i++) {
            int64_t x = st->indices[i];
            if (x < 0 || x >= n) {
                diag_error(E->d, il, "unit %" PRId64 " is out of range: '%s' has %" PRId64
                           " units (0..%" PRId64 ")", x, L->name, n, n - 1);
                ok = false;
            } else if (drop[x]) {
                diag_error(E->d, il, "unit %" PRId64 " is listed twice", x);
                ok = false;
            } else {
                drop[x] = true;
                n_drop++;
            }
        }
        if (ok && st->n_indices == 0) {
            diag_error(E->d, il, "narrow drop needs at least one unit index");
            ok = false;
        }
        if (ok && n_drop >= n) {
            diag_error(E->d, il, "narrow would drop every unit of '%s' (it has %" PRId64 ")",
                       L->name, n);
            ok = false;
        }
        nn = n - n_drop;
    } else {
        src_loc cl = st->count_loc.line ? st->count_loc : st->loc;
        nn = st->count;
        if (nn >= n) {
            diag_error(E->d, cl, "narrow to %" PRId64 ": '%s' has %" PRId64 " units (widen "
                       "makes a layer larger)", nn, L->name, n);
            note_defined(E, L);
            ok = false;
        } else if (nn < 1) {
            diag_error(E->d, cl, "narrow to needs at least 1 unit, got %" PRId64, nn);
            ok = false;
        }
    }
    row_target *tg = NULL;
    int nt = ok ? collect_targets(E, L->name, "narrowing", &tg) : -1;
    if (nt < 0) {
        free(drop);
        return;
    }
    if (!(st->flags & IRF_DROP)) {
        if (E->wmode && layer_has_data(L)) {
            double *norm = malloc((size_t)n * sizeof *norm);
            unit_rank *rk = malloc((size_t)n * sizeof *rk);
            if (!norm || !rk) {
                free(norm);
                free(rk);
                free(drop);
                free(tg);
                ectx_oom(E);
                return;
            }
            unit_norms(L, norm);
            for (int64_t j = 0; j < n; j++)
                rk[j] = (unit_rank){norm[j], j};
            qsort(rk, (size_t)n, sizeof *rk, cmp_rank);
            for (int64_t j = 0; j < n - nn; j++)
                drop[rk[j].idx] = true;
            free(norm);
            free(rk);
        } else {
            for (int64_t j = nn; j < n; j++)   /* no weights: only the width matters */
                drop[j] = true;
        }
    }
    unit_map u = {.n_old = n, .n_new = nn, .out_zero = true};
    u.src = malloc((size_t)nn * sizeof *u.src);
    u.scale = malloc((size_t)nn * sizeof *u.scale);
    if (!u.src || !u.scale) {
        ectx_oom(E);
    } else {
        int64_t w = 0;
        for (int64_t j = 0; j < n; j++)
            if (!drop[j]) {
                u.src[w] = j;
                u.scale[w] = 1.0f;
                w++;
            }
        assert(w == nn);
        apply_map(E, L, &u, tg, nt, EDIT_NARROWED);
    }
    free(u.src);
    free(u.scale);
    free(drop);
    free(tg);
}
