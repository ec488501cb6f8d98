/* context.c: the state of one edit_apply call: small utilities, node kinds and sizes, per-layer
 * bookkeeping, the names a script uses and their diagnostics, and new parameters' values. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/edits/edit_impl.h"

/* ---- small utilities ---------------------------------------------------------------------- */

void ectx_oom(ectx *E)
{
    if (!E->oom)
        diag_error(E->d, loc_none(), "out of memory while applying the edits");
    E->oom = true;
}

char *estrdup(ectx *E, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) {
        ectx_oom(E);
        return NULL;
    }
    memcpy(p, s, n);
    return p;
}

/* Grows *pp (an array of elem-sized items with capacity *cap) to hold need items. */
bool ectx_ensure(ectx *E, void *pp, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return true;
    void *p;
    memcpy(&p, pp, sizeof p);
    int nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *np = realloc(p, (size_t)nc * elem);
    if (!np) {
        ectx_oom(E);
        return false;
    }
    memcpy(pp, &np, sizeof np);
    *cap = nc;
    return true;
}

void free_strs(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char **dup_strs(ectx *E, char *const *v, int n)
{
    if (n <= 0)
        return NULL;
    char **out = calloc((size_t)n, sizeof *out);
    if (!out) {
        ectx_oom(E);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!(out[i] = estrdup(E, v[i]))) {
            free_strs(out, i);
            return NULL;
        }
    return out;
}

const ir_stmt *ectx_stmt(const ectx *E, int i)
{
    assert(i >= 0 && i < E->s->n_stmts);
    return &E->s->stmts[i];
}

src_loc ectx_loc(const ectx *E)
{
    return E->s->n_stmts > 0 ? ectx_stmt(E, E->cur)->loc : loc_none();
}

const char *stmt_word(const ectx *E, int i)
{
    return ir_kind_names[ectx_stmt(E, i)->kind];
}

bool layer_has_data(const layer *L)
{
    return L->n_params > 0 && tensor_has_values(&L->params[0]);
}

const char *edit_state_name(edit_state e)
{
    switch (e) {
    case EDIT_KEPT: return "kept";
    case EDIT_NEW: return "new";
    case EDIT_RESIZED: return "resized";
    case EDIT_WIDENED: return "widened";
    case EDIT_NARROWED: return "narrowed";
    case EDIT_RENAMED: return "renamed";
    case EDIT_REPLACED: return "replaced";
    case EDIT_REMOVED: return "removed";
    }
    return "kept";
}

void mark_edit(layer *L, edit_state e)
{
    if (L->edit == EDIT_NEW || L->edit == EDIT_REPLACED)
        return;
    if (L->edit == EDIT_RESIZED && e != EDIT_NEW && e != EDIT_REPLACED)
        return;
    L->edit = e;
}

void join_names(char *buf, size_t len, const char *const *names, int n, const char *last_sep)
{
    size_t at = 0;
    if (len)
        buf[0] = 0;
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s",
                               i == 0 ? "" : i + 1 == n ? last_sep : ", ", names[i]);
}

const char *type_article(const layer_type *t)
{
    return strchr("aeiou", t->name[0]) ? "an" : "a";
}

/* ---- node kinds and sizes ----------------------------------------------------------------- */

node_kind type_node_kind(const layer_type *t)
{
    if (t->flags & LT_PASS_THROUGH)
        return NK_PASS;
    if (t->flags & LT_CONCAT)
        return NK_MERGE;
    if (t->flags & LT_ELEMENTWISE)
        return NK_ELEM;
    if (t->param_specs && !(t->flags & LT_VERTEX))
        return NK_PARAM;
    return NK_OTHER;
}

node_kind node_kind_of(const ectx *E, const char *name, layer **out)
{
    if (out)
        *out = NULL;
    if (model_input_index(E->m, name) >= 0)
        return NK_INPUT;
    layer *L = model_find_layer(E->m, name);
    if (!L)
        return NK_NONE;
    if (out)
        *out = L;
    return type_node_kind(L->type);
}

int64_t input_features(const model_input *in)
{
    return in->kind == INPUT_CONVOLUTIONAL ? in->h * in->w * in->c : in->size;
}

static int64_t size_rec(const ectx *E, const char *name, int depth)
{
    const model *m = E->m;
    if (depth > m->n_layers + 1)
        return -1;
    int ii = model_input_index(m, name);
    if (ii >= 0)
        return input_features(&m->inputs[ii]);
    layer *L = model_find_layer(m, name);
    if (!L)
        return -1;
    switch (type_node_kind(L->type)) {
    case NK_PARAM:
        return L->n_out > 0 ? L->n_out * unit_copies(L) : -1;
    case NK_PASS:
    case NK_ELEM:
        return L->n_inputs > 0 ? size_rec(E, L->inputs[0], depth + 1) : -1;
    case NK_MERGE: {
        int64_t total = 0;
        for (int i = 0; i < L->n_inputs; i++) {
            int64_t s = size_rec(E, L->inputs[i], depth + 1);
            if (s < 0)
                return -1;
            total += s;
        }
        return L->n_inputs > 0 ? total : -1;
    }
    default:
        return L->out_shape.size > 0 ? L->out_shape.size : -1;
    }
}

int64_t node_size(const ectx *E, const char *name)
{
    return size_rec(E, name, 0);
}

static int64_t channels_rec(const ectx *E, const char *name, int depth)
{
    const model *m = E->m;
    if (depth > m->n_layers + 1)
        return -1;
    int ii = model_input_index(m, name);
    if (ii >= 0)
        return m->inputs[ii].kind == INPUT_CONVOLUTIONAL ? m->inputs[ii].c : -1;
    layer *L = model_find_layer(m, name);
    if (!L)
        return -1;
    const unit_layout *ul = layer_units(L);
    if (ul && ul->flow == UNITS_FOLLOW) {   /* batch norm, depthwise: a multiple of the input's */
        int64_t c = L->n_inputs > 0 ? channels_rec(E, L->inputs[0], depth + 1) : -1;
        return c < 0 ? -1 : c * (ul->multiplier ? ul->multiplier(L) : 1);
    }
    node_kind k = type_node_kind(L->type);
    if (k == NK_PARAM && (L->type->flags & LT_CHANNELS_IN))
        return L->n_out > 0 ? L->n_out : -1;
    if (k == NK_MERGE) {
        int64_t total = 0;
        for (int i = 0; i < L->n_inputs; i++) {
            int64_t c = channels_rec(E, L->inputs[i], depth + 1);
            if (c < 0)
                return -1;
            total += c;
        }
        return L->n_inputs > 0 ? total : -1;
    }
    if (k == NK_PASS || k == NK_ELEM ||
        ((L->type->flags & LT_CHANNELS_THROUGH) && !L->type->param_specs))
        return L->n_inputs > 0 ? channels_rec(E, L->inputs[0], depth + 1) : -1;
    return L->out_shape.kind == SHAPE_CNN ? L->out_shape.c : -1;
}

int64_t node_channels(const ectx *E, const char *name)
{
    return channels_rec(E, name, 0);
}

/* ---- per-layer bookkeeping ---------------------------------------------------------------- */

linfo *linfo_find(const ectx *E, const layer *L)
{
    for (int i = 0; i < E->n_info; i++)
        if (E->info[i].L == L)
            return &E->info[i];
    return NULL;
}

linfo *linfo_get(ectx *E, layer *L)
{
    linfo *li = linfo_find(E, L);
    if (li)
        return li;
    if (!ENSURE(E, E->info, E->n_info, E->cap_info))
        return NULL;
    li = &E->info[E->n_info++];
    memset(li, 0, sizeof *li);
    li->L = L;
    li->size_stmt = li->nin_stmt = li->emptied_stmt = -1;
    return li;
}

void linfo_forget(ectx *E, const layer *L)
{
    linfo *li = linfo_find(E, L);
    if (!li)
        return;
    free(li->emptied_by);
    *li = E->info[--E->n_info];
}

void set_size_stmt(ectx *E, layer *L)
{
    linfo *li = linfo_get(E, L);
    if (li)
        li->size_stmt = E->cur;
}

bool is_poisoned(const ectx *E, const char *name)
{
    for (int i = 0; i < E->n_poison; i++)
        if (!strcmp(E->poison[i], name))
            return true;
    return false;
}

void poison(ectx *E, const char *name)
{
    if (is_poisoned(E, name) || !ENSURE(E, E->poison, E->n_poison, E->cap_poison))
        return;
    char *c = estrdup(E, name);
    if (c)
        E->poison[E->n_poison++] = c;
}

void push_hist(ectx *E, const char *name, const char *other)
{
    if (!ENSURE(E, E->hist, E->n_hist, E->cap_hist))
        return;
    name_event *h = &E->hist[E->n_hist];
    h->name = estrdup(E, name);
    h->other = other ? estrdup(E, other) : NULL;
    h->stmt = E->cur;
    E->n_hist++;
}

pending_conn *find_pending(ectx *E, const char *name)
{
    for (int i = E->n_pend - 1; i >= 0; i--)
        if (!E->pend[i].restored && !strcmp(E->pend[i].name, name))
            return &E->pend[i];
    return NULL;
}

/* ---- names and diagnostics ---------------------------------------------------------------- */

void note_defined(ectx *E, const layer *L)
{
    if (L->loc.line > 0)
        diag_note(E->d, L->loc, "'%s' is defined here", L->name);
}

static void note_input_defined(ectx *E, const model_input *in)
{
    if (in->loc.line > 0)
        diag_note(E->d, in->loc, "'%s' is defined here", in->name);
}

/* Reports an unknown node name: what happened to it, or the closest existing name. */
void report_unknown(ectx *E, const char *name, src_loc loc, const char *what)
{
    if (is_poisoned(E, name))
        return;
    for (int i = E->n_hist - 1; i >= 0; i--) {
        const name_event *h = &E->hist[i];
        if (!h->name || strcmp(h->name, name))
            continue;
        if (h->other) {
            diag_error(E->d, loc, "unknown %s '%s': it was renamed to '%s'", what, name, h->other);
            diag_note(E->d, ectx_stmt(E, h->stmt)->loc, "renamed here");
        } else {
            diag_error(E->d, loc, "unknown %s '%s': it was removed", what, name);
            diag_note(E->d, ectx_stmt(E, h->stmt)->loc, "removed here");
        }
        return;
    }
    int n = E->m->n_inputs + E->m->n_layers;
    const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof *names);
    const char *hint = NULL;
    if (names) {
        int k = model_node_names(E->m, names, n);
        hint = diag_suggest(name, names, k);
    }
    if (hint)
        diag_error(E->d, loc, "unknown %s '%s' (did you mean '%s'?)", what, name, hint);
    else
        diag_error(E->d, loc, "unknown %s '%s'", what, name);
    free(names);
}

layer *find_layer_or_report(ectx *E, const char *name, src_loc loc)
{
    layer *L = model_find_layer(E->m, name);
    if (L)
        return L;
    int ii = model_input_index(E->m, name);
    if (ii >= 0) {
        diag_error(E->d, loc, "'%s' is a model input, not a layer", name);
        note_input_defined(E, &E->m->inputs[ii]);
        return NULL;
    }
    report_unknown(E, name, loc, "layer");
    return NULL;
}

/* A node that may be used as an input: a layer, a model input, or a name removed with
 * `keep connections` that a later statement brings back. */
bool node_usable(ectx *E, const char *name, src_loc loc)
{
    if (model_has_node(E->m, name) || find_pending(E, name))
        return true;
    report_unknown(E, name, loc, "layer or input");
    return false;
}

/* New names must be free. */
bool check_new_name(ectx *E, const char *name, src_loc loc)
{
    layer *L = model_find_layer(E->m, name);
    if (L) {
        diag_error(E->d, loc, "a layer named '%s' already exists", name);
        note_defined(E, L);
        return false;
    }
    int ii = model_input_index(E->m, name);
    if (ii >= 0) {
        diag_error(E->d, loc, "'%s' is already the name of a model input", name);
        note_input_defined(E, &E->m->inputs[ii]);
        return false;
    }
    return true;
}

const layer_type *resolve_type(ectx *E, const ir_stmt *st)
{
    const layer_type *t = st->layer_type ? layer_type_find(st->layer_type) : NULL;
    if (t)
        return t;
    const char *names[64];
    assert(layer_type_count <= 64);
    layer_type_names(names);
    const char *hint =
        st->layer_type ? diag_suggest(st->layer_type, names, layer_type_count) : NULL;
    src_loc loc = st->layer_type_loc.line ? st->layer_type_loc : st->loc;
    if (hint)
        diag_error(E->d, loc, "unknown layer type '%s' (did you mean '%s'?)",
                   st->layer_type ? st->layer_type : "", hint);
    else
        diag_error(E->d, loc, "unknown layer type '%s'", st->layer_type ? st->layer_type : "");
    return NULL;
}

/* ---- initialisation ----------------------------------------------------------------------- */

init_spec effective_init(const ectx *E, const layer *L)
{
    if (L->script_set_mask & TC_WEIGHT_INIT)
        return L->train.weight_init;
    if (E->ft.set_mask & TC_WEIGHT_INIT)
        return E->ft.weight_init;
    if (L->train.set_mask & TC_WEIGHT_INIT)
        return L->train.weight_init;
    return E->m->weight_init;
}

double effective_bias_init(const ectx *E, const layer *L)
{
    if (L->script_set_mask & TC_BIAS_INIT)
        return L->train.bias_init;
    if (E->ft.set_mask & TC_BIAS_INIT)
        return E->ft.bias_init;
    return L->train.bias_init;
}

int parse_init_value(ectx *E, const conf_arg *a, init_spec *out)
{
    train_conf tmp;
    train_conf_defaults(&tmp);
    if (train_conf_set(&tmp, "weight_init", a->name_loc, a->value, E->d) != 0)
        return -1;
    *out = tmp.weight_init;
    return 0;
}

/* The seed for a layer's new parameters, with the same precedence as its weight init. */
static uint64_t effective_seed(const ectx *E, const layer *L)
{
    if (L->script_set_mask & TC_SEED)
        return L->train.seed;
    if (E->ft.set_mask & TC_SEED)
        return E->ft.seed;
    if (L->train.set_mask & TC_SEED)
        return L->train.seed;
    return E->seed;
}

void drop_param_pages(ectx *E, const tensor *t, int64_t from, int64_t to)
{
    if (!t->borrowed || !t->data || from >= to)
        return;
    model_drop_mapped(E->m, t->data, t->data + t->size, t->data + from, t->data + to);
}

void release_param(ectx *E, tensor *t)
{
    drop_param_pages(E, t, 0, t->size);
    tensor_release(t);
}

int fresh_stream(ectx *E, const layer *L, const param_spec *ps, const init_spec *init,
                 param_stream *out)
{
    rng r;
    if (param_rng(&r, effective_seed(E, L), L->name, ps->key) != 0 ||
        param_stream_init(out, ps, init, effective_bias_init(E, L), &r) != 0) {
        ectx_oom(E);
        return -1;
    }
    return 0;
}

int fresh_param(ectx *E, const layer *L, const param_spec *ps, const init_spec *init, tensor *out)
{
    rng r;
    release_param(E, out);
    if (param_rng(&r, effective_seed(E, L), L->name, ps->key) != 0 ||
        tensor_alloc(out, ps->ndim, ps->shape) != 0 ||
        param_init(out, ps, init, effective_bias_init(E, L), &r) != 0) {
        tensor_release(out);
        ectx_oom(E);
        return -1;
    }
    layer_set_forget_gate_bias(L, ps, out);
    return 0;
}

/* Records that the current statement created L (add, replace, insert): its shapes and any
 * explicit n_in come from this statement, and its parameters are initialised fresh. */
void mark_created(ectx *E, layer *L)
{
    linfo *li = linfo_get(E, L);
    if (li) {
        li->size_stmt = E->cur;
        li->reinit = true;
        if (L->n_in_given)
            li->nin_stmt = E->cur;
    }
}

void schedule_reinit(ectx *E, layer *L, const init_spec *init)
{
    linfo *li = linfo_get(E, L);
    if (li) {
        li->reinit = true;
        li->has_init = init != NULL;
        if (init)
            li->init = *init;
    }
    for (int i = 0; i < LAYER_MAX_PARAMS; i++)
        release_param(E, &L->params[i]);
    L->n_params = 0;
}

/* ---- lifetime ----------------------------------------------------------------------------- */

edit_log *edit_log_new(void)
{
    edit_log *g = calloc(1, sizeof *g);
    return g;
}

void edit_log_free(edit_log *log)
{
    if (!log)
        return;
    for (int i = 0; i < log->n_removed; i++) {
        free(log->removed[i].name);
        free_strs(log->removed[i].inputs, log->removed[i].n_inputs);
    }
    free(log->removed);
    for (int i = 0; i < log->n_coupled; i++) {
        free_strs(log->coupled[i].names, log->coupled[i].n);
        free_strs(log->coupled[i].vertices, log->coupled[i].n_vertices);
    }
    free(log->coupled);
    free(log);
}

void ectx_free(ectx *E)
{
    for (int i = 0; i < E->n_info; i++)
        free(E->info[i].emptied_by);
    free(E->info);
    for (int i = 0; i < E->n_pend; i++) {
        free(E->pend[i].name);
        free(E->pend[i].old_name);
        free_strs(E->pend[i].inputs, E->pend[i].n_inputs);
    }
    free(E->pend);
    for (int i = 0; i < E->n_hist; i++) {
        free(E->hist[i].name);
        free(E->hist[i].other);
    }
    free(E->hist);
    for (int i = 0; i < E->n_fz; i++) {
        free_strs(E->fz[i].names, E->fz[i].n);
        free(E->fz[i].locs);
    }
    free(E->fz);
    free_strs(E->poison, E->n_poison);
    free_strs(E->open_ends, E->n_open);
}
