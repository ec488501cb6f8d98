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

#include "runtime/base/checked.h"
#include "runtime/base/limits.h"
#include "runtime/edits/edit_impl.h"
#include "runtime/tensor/tensor_parts.h"

static bool widenable_type(const layer_type *t)
{
    return (t->flags & LT_WIDENABLE) && t->units;
}

/* A layer whose own units widen and narrow change (not one whose channels follow its input's,
 * such as a conv2d with one group per input channel). */
static bool widenable(const layer *L)
{
    const unit_layout *ul = layer_units(L);
    return widenable_type(L->type) && ul && ul->flow != UNITS_FOLLOW;
}

/* The widenable types for a message, "a, b and c": feed-forward ones first, then recurrent
 * ones, then those that take indices, each group in registry order. */
static void widenable_names(char *buf, size_t len)
{
    const char *names[64];
    int n = 0;
    for (int group = 0; group < 3; group++)
        for (int i = 0; i < layer_type_count && n < 64; i++) {
            const layer_type *c = layer_types[i];
            int g = (c->flags & LT_INDEX_INPUT) ? 2 : (c->flags & LT_RECURRENT) ? 1 : 0;
            if (g == group && widenable_type(c))
                names[n++] = c->name;
        }
    join_names(buf, len, names, n, " and ");
}

static void refuse_type(ectx *E, const ir_stmt *st, const layer *L)
{
    bool vertex = (L->type->flags & LT_VERTEX) != 0;
    if (layer_units(L) && layer_units(L)->flow == UNITS_FOLLOW) {   /* its input's channels */
        diag_error(E->d, st->name_loc, "%s cannot change %s layer '%s' on its own: its channels "
                   "follow its input's (%s the layer that feeds it)", ir_kind_names[st->kind],
                   L->type->name, L->name, ir_kind_names[st->kind]);
        note_defined(E, L);
        return;
    }
    char names[512];
    widenable_names(names, sizeof names);
    diag_error(E->d, st->name_loc, "%s applies to %s layers; '%s' is %s %s %s",
               ir_kind_names[st->kind], names, L->name, type_article(L->type), L->type->name,
               vertex ? "vertex" : "layer");
    note_defined(E, L);
}

/* Says why L's units cannot move now (a grouped convolution), or returns false. */
static bool refuse_units(ectx *E, const ir_stmt *st, const layer *L)
{
    char why[200];
    const unit_layout *ul = layer_units(L);
    if (!ul->refuse || !ul->refuse(L, why, sizeof why))
        return false;
    diag_error(E->d, st->name_loc, "%s cannot change the channels of %s '%s': %s",
               ir_kind_names[st->kind], L->type->name, L->name, why);
    note_defined(E, L);
    return true;
}

/* ---- coupled groups ------------------------------------------------------------------------- */

/* Layers through which a layer's units reach their consumers unchanged in number. */
static bool carries_units(const layer *C)
{
    const unit_layout *ul = layer_units(C);
    if (ul && ul->flow == UNITS_FOLLOW)
        return !(ul->multiplier && ul->multiplier(C) != 1);
    return (C->type->flags & LT_PASS_THROUGH) ||
           ((C->type->flags & LT_CHANNELS_THROUGH) && !C->type->param_specs);
}

typedef struct group {
    layer **v;
    int n, cap;
    layer **vertices;     /* the element-wise vertices that couple them */
    int n_vertices, cap_vertices;
} group;

static bool group_has(const group *g, const layer *L)
{
    for (int i = 0; i < g->n; i++)
        if (g->v[i] == L)
            return true;
    return false;
}

/* The producer of `name`'s units: up through layers that carry them. NULL for a model input
 * (or a vertex); *at is the node reached. */
static layer *producer_of(ectx *E, const char *name, const char **at)
{
    for (int depth = 0; depth <= E->m->n_layers; depth++) {
        *at = name;
        layer *L = model_find_layer(E->m, name);
        if (!L || (L->type->flags & LT_VERTEX))
            return NULL;
        if (!carries_units(L) || L->n_inputs != 1)
            return L;
        name = L->inputs[0];
    }
    return NULL;
}

static bool couple_from(ectx *E, const ir_stmt *st, const char *name, group *g, int depth);

/* The element-wise vertex C couples its inputs: puts the producers of their units into g (an
 * input that is itself such a vertex, as in a chain of residual adds, couples its own inputs),
 * then follows C's units down. Returns false after reporting one that cannot change. */
static bool couple_vertex(ectx *E, const ir_stmt *st, layer *C, group *g, int depth)
{
    model *m = E->m;
    for (int i = 0; i < g->n_vertices; i++)
        if (g->vertices[i] == C)
            return true;
    if (depth > m->n_layers)
        return true;
    if (!ENSURE(E, g->vertices, g->n_vertices, g->cap_vertices))
        return false;
    g->vertices[g->n_vertices++] = C;
    for (int k = 0; k < C->n_inputs; k++) {
        const char *at = NULL;
        layer *P = producer_of(E, C->inputs[k], &at);
        if (P && group_has(g, P))
            continue;
        layer *V = P ? NULL : model_find_layer(m, at);
        if (V && (V->type->flags & LT_VERTEX) && (V->type->flags & LT_ELEMENTWISE)) {
            if (!couple_vertex(E, st, V, g, depth + 1))
                return false;
            continue;
        }
        char why[200];
        if (!P || !widenable(P) ||
            (layer_units(P)->refuse && layer_units(P)->refuse(P, why, sizeof why))) {
            const char *what = model_input_index(m, at) >= 0 ? "is a model input, whose "
                               "channels are fixed" : "cannot be widened or narrowed";
            diag_error(E->d, st->name_loc, "%s '%s' must change '%s' too, which meets it in "
                       "%s vertex '%s', but '%s' %s", ir_kind_names[st->kind],
                       g->v[0]->name, at, C->type->name, C->name, at, what);
            note_defined(E, C);
            return false;
        }
        if (!ENSURE(E, g->v, g->n, g->cap))
            return false;
        g->v[g->n++] = P;
    }
    return couple_from(E, st, C->name, g, depth + 1);
}

/* Follows name's units down to the element-wise vertices they reach and couples each. Returns
 * false after reporting one that cannot change. */
static bool couple_from(ectx *E, const ir_stmt *st, const char *name, group *g, int depth)
{
    model *m = E->m;
    if (depth > m->n_layers)
        return true;
    for (int li = 0; li < m->n_layers; li++) {
        layer *C = m->layers[li];
        bool uses = false;
        for (int k = 0; k < C->n_inputs; k++)
            uses = uses || !strcmp(C->inputs[k], name);
        if (!uses)
            continue;
        if (carries_units(C)) {
            if (!couple_from(E, st, C->name, g, depth + 1))
                return false;
            continue;
        }
        if ((C->type->flags & LT_ELEMENTWISE) && !couple_vertex(E, st, C, g, depth))
            return false;
    }
    return true;
}

/* Records the group in the edit log, for the plan. */
static void log_group(ectx *E, const group *g)
{
    edit_log *log = E->log;
    if (!log)
        return;
    edit_coupled *nv = realloc(log->coupled, (size_t)(log->n_coupled + 1) * sizeof *nv);
    if (!nv) {
        ectx_oom(E);
        return;
    }
    log->coupled = nv;
    edit_coupled *c = &log->coupled[log->n_coupled];
    memset(c, 0, sizeof *c);
    c->stmt = E->cur;
    const ir_stmt *st = ectx_stmt(E, E->cur);
    c->what = st ? ir_kind_names[st->kind] : "";
    c->line = st ? st->loc.line : 0;
    c->names = calloc((size_t)g->n, sizeof *c->names);
    c->vertices = calloc((size_t)g->n_vertices + 1, sizeof *c->vertices);
    log->n_coupled++;
    if (!c->names || !c->vertices) {
        ectx_oom(E);
        return;
    }
    for (int i = 0; i < g->n; i++)
        if ((c->names[c->n] = estrdup(E, g->v[i]->name)))
            c->n++;
    for (int i = 0; i < g->n_vertices; i++)
        if ((c->vertices[c->n_vertices] = estrdup(E, g->vertices[i]->name)))
            c->n_vertices++;
}

/* The coupled group of L: L and every layer whose units meet L's in an add, average or multiply
 * vertex, transitively. Returns the count (g->v and g->vertices owned by the caller), or -1
 * after reporting. */
static int coupled_group(ectx *E, const ir_stmt *st, layer *L, group *g)
{
    if (!ENSURE(E, g->v, g->n, g->cap))
        return -1;
    g->v[g->n++] = L;
    for (int i = 0; i < g->n; i++)
        if (!couple_from(E, st, g->v[i]->name, g, 0) || E->oom)
            return -1;
    for (int i = 1; i < g->n; i++)
        if (g->v[i]->n_out != L->n_out) {
            diag_error(E->d, st->name_loc, "'%s' and '%s' meet in an element-wise vertex with "
                       "%" PRId64 " and %" PRId64 " units", L->name, g->v[i]->name, L->n_out,
                       g->v[i]->n_out);
            return -1;
        }
    if (g->n > 1 && !E->wmode) {   /* once, at check time: what else changes */
        char names[512];
        const char *list[64];
        int n = 0;
        for (int i = 1; i < g->n && n < 64; i++)
            list[n++] = g->v[i]->name;
        join_names(names, sizeof names, list, n, " and ");
        diag_note(E->d, st->name_loc, "'%s' is coupled with %s (their units meet in an "
                  "element-wise vertex): they change together", L->name, names);
    }
    if (g->n > 1)
        log_group(E, g);
    return g->n;
}

/* ---- widen -------------------------------------------------------------------------------- */

static const char *const widen_keys[] = {"outgoing", "method", "init", "noise"};

static bool ident_is(const conf_value *v, const char *s)
{
    return v && (v->kind == CV_IDENT || v->kind == CV_STR) && v->str && !strcmp(v->str, s);
}

/* The layer a widen or narrow names, when its units can move; NULL when it cannot (reported). */
static layer *layer_to_move_units(ectx *E, const ir_stmt *st)
{
    layer *L = find_layer_or_report(E, st->name, st->name_loc);
    if (!L)
        return NULL;
    if (!widenable(L)) {
        refuse_type(E, st, L);
        return NULL;
    }
    if (refuse_units(E, st, L))
        return NULL;
    return L;
}

void do_widen(ectx *E, const ir_stmt *st)
{
    layer *L = layer_to_move_units(E, st);
    if (!L)
        return;
    const int64_t n = L->n_out;
    src_loc cl = st->count_loc.line ? st->count_loc : st->loc;
    int64_t nn = st->count;
    if (!(st->flags & IRF_TO) && !checked_add(n, st->count, &nn))
        nn = INT64_MAX;   /* refused below: by a count < 1, or by the limit */
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
    if (nn > LIMIT_TENSOR_ELEMENTS) {
        diag_error(E->d, cl, "widening '%s' to %" PRId64 " units passes the limit of %" PRId64
                   " elements per tensor", L->name, nn, (int64_t)LIMIT_TENSOR_ELEMENTS);
        return;
    }
    group g = {0};
    int ng = coupled_group(E, st, L, &g);
    row_target *tg = NULL;
    int nt = ng < 0 ? -1 : collect_group_targets(E, g.v, ng, "widening", &tg);
    if (nt < 0) {
        free(g.v);
        free(g.vertices);
        return;
    }
    if (!E->wmode) {   /* shapes alone: no unit map, whose size is the layer's */
        apply_group_unit_map(E, g.v, ng, &u, tg, nt, EDIT_WIDENED);
        free(tg);
        free(g.v);
        free(g.vertices);
        return;
    }
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
        apply_group_unit_map(E, g.v, ng, &u, tg, nt, EDIT_WIDENED);
    }
    free(count);
    free(u.src);
    free(u.scale);
    free(tg);
    free(g.v);
    free(g.vertices);
}

/* ---- narrow ------------------------------------------------------------------------------- */

/* Squared L2 norm of each unit's incoming weights: its columns in every column block of the
 * two-dimensional parameters of its unit layout (LSTM: all four gate blocks of W and RW). */
static void unit_norms(const layer *L, double *norm)
{
    const int64_t n = L->n_out;
    param_spec specs[LAYER_MAX_PARAMS];
    int cnt = L->type->param_specs(L, specs);
    for (int k = 0; k < L->n_params && k < cnt; k++) {
        const tensor *t = &L->params[k];
        const unit_param_layout *up = unit_layout_param(layer_units(L), specs[k].key);
        if (up && up->leading && t->size > 0) {    /* a filter: its whole slice */
            const int64_t slice = t->size / n;
            for (int64_t j = 0; j < n; j++)
                for (int64_t c = 0; c < slice; c++) {
                    double v = t->data[j * slice + c];
                    norm[j] += v * v;
                }
            continue;
        }
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

typedef struct listed {
    int64_t value;
    int pos;
} listed;

static int cmp_listed(const void *a, const void *b)
{
    const listed *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->pos - y->pos;
}

/* repeat[i]: v[i] equals an earlier entry (by sorting: memory follows the list, not the
 * values). NULL when out of memory; the caller frees it. */
static bool *repeated_entries(const int64_t *v, int n)
{
    listed *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    bool *repeat = calloc((size_t)n + 1, sizeof *repeat);
    if (!s || !repeat) {
        free(s);
        free(repeat);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        s[i] = (listed){v[i], i};
    qsort(s, (size_t)n, sizeof *s, cmp_listed);
    for (int i = 1; i < n; i++)
        if (s[i].value == s[i - 1].value)
            repeat[s[i].pos] = true;
    free(s);
    return repeat;
}

void do_narrow(ectx *E, const ir_stmt *st)
{
    layer *L = layer_to_move_units(E, st);
    if (!L)
        return;
    const int64_t n = L->n_out;
    /* with weights, the units to drop; shapes alone need no array the layer's size */
    bool *drop = E->wmode ? calloc((size_t)n + 1, sizeof *drop) : NULL;
    if (E->wmode && !drop) {
        ectx_oom(E);
        return;
    }
    int64_t nn;
    bool ok = true;
    if (st->flags & IRF_DROP) {
        src_loc il = st->indices_loc.line ? st->indices_loc : st->loc;
        int64_t n_drop = 0;
        bool *repeat = repeated_entries(st->indices, st->n_indices);
        if (!repeat) {
            free(drop);
            ectx_oom(E);
            return;
        }
        for (int i = 0; i < st->n_indices; i++) {
            int64_t x = st->indices[i];
            if (x < 0 || x >= n) {
                diag_error(E->d, il, "unit %" PRId64 " is out of range: '%s' has %" PRId64
                           " units (0..%" PRId64 ")", x, L->name, n, n - 1);
                ok = false;
            } else if (repeat[i]) {
                diag_error(E->d, il, "unit %" PRId64 " is listed twice", x);
                ok = false;
            } else {
                if (drop)
                    drop[x] = true;
                n_drop++;
            }
        }
        free(repeat);
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
    group g = {0};
    int ng = ok ? coupled_group(E, st, L, &g) : -1;
    row_target *tg = NULL;
    int nt = ng > 0 ? collect_group_targets(E, g.v, ng, "narrowing", &tg) : -1;
    if (nt < 0) {
        free(drop);
        free(g.v);
        free(g.vertices);
        return;
    }
    if (!E->wmode) {   /* shapes alone: only the width matters */
        unit_map u = {.n_old = n, .n_new = nn, .out_zero = true};
        apply_group_unit_map(E, g.v, ng, &u, tg, nt, EDIT_NARROWED);
        free(tg);
        free(g.v);
        free(g.vertices);
        return;
    }
    if (!(st->flags & IRF_DROP)) {
        if (layer_has_data(L)) {
            double *norm = malloc((size_t)n * sizeof *norm);
            unit_rank *rk = malloc((size_t)n * sizeof *rk);
            if (!norm || !rk) {
                free(norm);
                free(rk);
                free(drop);
                free(tg);
                free(g.v);
                free(g.vertices);
                ectx_oom(E);
                return;
            }
            for (int64_t j = 0; j < n; j++)
                norm[j] = 0;
            for (int i = 0; i < ng; i++)    /* a coupled group: the sum of its members' */
                if (layer_has_data(g.v[i]))
                    unit_norms(g.v[i], norm);
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
        apply_group_unit_map(E, g.v, ng, &u, tg, nt, EDIT_NARROWED);
    }
    free(u.src);
    free(u.scale);
    free(drop);
    free(tg);
    free(g.v);
    free(g.vertices);
}
