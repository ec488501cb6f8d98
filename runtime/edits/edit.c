/* edit.c: applies a script's structural edits (remove, add, replace, insert, resize, rename,
 * set, outputs, inputs), then the frozen set and fine_tune, and validates the final graph. */
#include "runtime/edits/edit.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/edits/edit_impl.h"
#include "runtime/nn/init.h"
#include "runtime/train/train.h"

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
static bool ensure(ectx *E, void *pp, int *cap, int need, size_t elem)
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
#define ENSURE(E, arr, n, cap) ensure((E), &(arr), &(cap), (n) + 1, sizeof *(arr))

static void free_strs(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **dup_strs(ectx *E, char *const *v, int n)
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

static const char *stmt_word(const ectx *E, int i)
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

static int64_t input_features(const model_input *in)
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
        return L->n_out > 0 ? L->n_out : -1;
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

/* ---- per-layer bookkeeping ---------------------------------------------------------------- */

static linfo *linfo_find(const ectx *E, const layer *L)
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

static void linfo_forget(ectx *E, const layer *L)
{
    linfo *li = linfo_find(E, L);
    if (!li)
        return;
    free(li->emptied_by);
    *li = E->info[--E->n_info];
}

static void set_size_stmt(ectx *E, layer *L)
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

static void push_hist(ectx *E, const char *name, const char *other)
{
    if (!ENSURE(E, E->hist, E->n_hist, E->cap_hist))
        return;
    name_event *h = &E->hist[E->n_hist];
    h->name = estrdup(E, name);
    h->other = other ? estrdup(E, other) : NULL;
    h->stmt = E->cur;
    E->n_hist++;
}

static pending_conn *find_pending(ectx *E, const char *name)
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
static void report_unknown(ectx *E, const char *name, src_loc loc, const char *what)
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
static bool node_usable(ectx *E, const char *name, src_loc loc)
{
    if (model_has_node(E->m, name) || find_pending(E, name))
        return true;
    report_unknown(E, name, loc, "layer or input");
    return false;
}

/* New names must be free. */
static bool check_new_name(ectx *E, const char *name, src_loc loc)
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

static const layer_type *resolve_type(ectx *E, const ir_stmt *st)
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
static void mark_created(ectx *E, layer *L)
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

/* ---- consumers ---------------------------------------------------------------------------- */

typedef struct tlist {
    row_target *v;
    int n, cap;
    row_target *elem;     /* add/average vertices reached: (vertex, slot offset) per slot */
    int *elem_slot;
    int n_elem, cap_elem, cap_slot;
} tlist;

static int cmp_target(const void *a, const void *b)
{
    const row_target *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->L, py = (uintptr_t)y->L;
    if (px != py)
        return px < py ? -1 : 1;
    return x->offset > y->offset ? -1 : x->offset < y->offset ? 1 : 0;
}

static bool collect_rec(ectx *E, const char *name, int64_t offset, const char *what,
                        const char *origin, int depth, tlist *out)
{
    model *m = E->m;
    if (depth > m->n_layers + 1)
        return true;
    bool ok = true;
    for (int li = 0; li < m->n_layers; li++) {
        layer *C = m->layers[li];
        for (int k = 0; k < C->n_inputs; k++) {
            if (strcmp(C->inputs[k], name))
                continue;
            node_kind ck = type_node_kind(C->type);
            if (ck == NK_PARAM && !(C->type->flags & LT_INDEX_INPUT) &&
                !(C->type->units && C->type->units->input_key))
                ck = NK_OTHER;   /* its input units have no place in its parameters */
            switch (ck) {
            case NK_PARAM:
                if (C->type->flags & LT_INDEX_INPUT) {
                    diag_error(E->d, ectx_loc(E), "%s '%s' would change the input of %s "
                               "'%s', which takes indices, not features", what, origin,
                               C->type->name, C->name);
                    note_defined(E, C);
                    ok = false;
                    break;
                }
                if (!ENSURE(E, out->v, out->n, out->cap))
                    return false;
                out->v[out->n++] = (row_target){C, offset};
                break;
            case NK_PASS:
                set_size_stmt(E, C);
                ok = collect_rec(E, C->name, offset, what, origin, depth + 1, out) && ok;
                break;
            case NK_MERGE: {
                int64_t off = offset;
                for (int j = 0; j < k; j++) {
                    int64_t s = node_size(E, C->inputs[j]);
                    if (s < 0) {
                        diag_error(E->d, ectx_loc(E), "%s '%s': the size of '%s', an earlier "
                                   "input of merge '%s', is unknown", what, origin,
                                   C->inputs[j], C->name);
                        ok = false;
                        s = 0;
                    }
                    off += s;
                }
                set_size_stmt(E, C);
                ok = collect_rec(E, C->name, off, what, origin, depth + 1, out) && ok;
                break;
            }
            case NK_ELEM:
                /* decided once every path is known: fine when all its inputs change alike */
                if (!ENSURE(E, out->elem, out->n_elem, out->cap_elem) ||
                    !ENSURE(E, out->elem_slot, out->n_elem, out->cap_slot))
                    return false;
                out->elem_slot[out->n_elem] = k;
                out->elem[out->n_elem++] = (row_target){C, offset};
                break;
            default:
                diag_error(E->d, ectx_loc(E), "%s '%s' cannot be carried through %s layer '%s'",
                           what, origin, C->type->name, C->name);
                note_defined(E, C);
                ok = false;
                break;
            }
        }
    }
    return ok;
}

/* Whether every input slot of the add/average vertex V has been reached, once each, at one
 * offset (returned in *off). */
static bool elem_complete(const tlist *t, const layer *V, int64_t *off, bool *oom)
{
    bool *seen = calloc((size_t)V->n_inputs + 1, sizeof *seen);
    if (!seen) {
        *oom = true;
        return false;
    }
    bool alike = true, first = true;
    for (int i = 0; i < t->n_elem; i++) {
        if (t->elem[i].L != V)
            continue;
        if (first)
            *off = t->elem[i].offset;
        first = false;
        if (t->elem[i].offset != *off || seen[t->elem_slot[i]])
            alike = false;
        seen[t->elem_slot[i]] = true;
    }
    for (int k = 0; k < V->n_inputs; k++)
        alike = alike && seen[k];
    free(seen);
    return alike;
}

static void drop_elem(tlist *t, const layer *V)
{
    int w = 0;
    for (int i = 0; i < t->n_elem; i++)
        if (t->elem[i].L != V) {
            t->elem[w] = t->elem[i];
            t->elem_slot[w] = t->elem_slot[i];
            w++;
        }
    t->n_elem = w;
}

/* An add/average vertex passes the change on when every one of its inputs changes the same
 * way (at the same offset); otherwise its inputs would disagree. Vertices are resolved as they
 * become complete (one may complete another); the rest are reported, once each. */
static bool resolve_elems(ectx *E, const char *what, const char *origin, tlist *t)
{
    bool ok = true, progress = true;
    int rounds = 0;
    while (progress && t->n_elem > 0 && rounds++ <= E->m->n_layers + 1) {
        progress = false;
        for (int i = 0; i < t->n_elem; i++) {
            layer *V = t->elem[i].L;
            int64_t off = 0;
            bool oom = false;
            if (!elem_complete(t, V, &off, &oom)) {
                if (oom) {
                    ectx_oom(E);
                    return false;
                }
                continue;
            }
            drop_elem(t, V);
            set_size_stmt(E, V);
            ok = collect_rec(E, V->name, off, what, origin, 0, t) && ok;
            progress = true;
            break;
        }
    }
    while (t->n_elem > 0) {
        layer *V = t->elem[0].L;
        int64_t s = node_size(E, V->inputs[0]);
        diag_error(E->d, ectx_loc(E), "%s '%s' would change the size of only some inputs of %s "
                   "vertex '%s' (its inputs must all have %" PRId64 " features)", what, origin,
                   V->type->name, V->name, s);
        note_defined(E, V);
        drop_elem(t, V);
        ok = false;
    }
    return ok;
}

int collect_targets(ectx *E, const char *name, const char *what, row_target **out)
{
    tlist t = {0};
    bool ok = collect_rec(E, name, 0, what, name, 0, &t);
    ok = resolve_elems(E, what, name, &t) && ok;
    free(t.elem);
    free(t.elem_slot);
    if (!ok || E->oom) {
        free(t.v);
        *out = NULL;
        return -1;
    }
    if (t.n > 1)
        qsort(t.v, (size_t)t.n, sizeof *t.v, cmp_target);
    *out = t.v;
    return t.n;
}

/* ---- graph surgery primitives ------------------------------------------------------------- */

bool add_layer(ectx *E, layer *L)
{
    model *m = E->m;
    model_add_layer(m, L);   /* frees L when the array cannot grow */
    if (m->n_layers > 0 && m->layers[m->n_layers - 1] == L)
        return true;
    ectx_oom(E);
    return false;
}

void place_after(model *m, int from, int after)
{
    assert(from >= 0 && from < m->n_layers && after < m->n_layers);
    int to = after + 1;
    if (after >= from)
        to = after;   /* after shifts down by one once `from` is taken out */
    model_move_layer(m, from, to);   /* the model's name index follows */
}

static void rename_in_list(char **v, int n, const char *from, const char *to, ectx *E)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], from)) {
            char *c = estrdup(E, to);
            if (c) {
                free(v[i]);
                v[i] = c;
            }
        }
}

void redirect_consumers(ectx *E, const char *from, const char *to, const layer *skip)
{
    model *m = E->m;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i] != skip)
            rename_in_list(m->layers[i]->inputs, m->layers[i]->n_inputs, from, to, E);
    model_index_edges_changed(m);
    rename_in_list(m->outputs, m->n_outputs, from, to, E);
    rename_in_list(E->open_ends, E->n_open, from, to, E);
}

static void drop_open_end(ectx *E, const char *name)
{
    for (int i = 0; i < E->n_open; i++)
        if (!strcmp(E->open_ends[i], name)) {
            free(E->open_ends[i]);
            E->open_ends[i--] = E->open_ends[--E->n_open];
        }
}

static void add_open_end(ectx *E, const char *name)
{
    if (!ENSURE(E, E->open_ends, E->n_open, E->cap_open))
        return;
    char *c = estrdup(E, name);
    if (c)
        E->open_ends[E->n_open++] = c;
}

static void clear_open_ends(ectx *E)
{
    for (int i = 0; i < E->n_open; i++)
        free(E->open_ends[i]);
    E->n_open = 0;
}

/* Parameter count of L with its base shapes. */
static int64_t base_param_count(layer *L)
{
    int64_t ni = L->n_in, no = L->n_out;
    L->n_in = L->old_n_in;
    L->n_out = L->old_n_out;
    int64_t c = layer_param_count(L);
    L->n_in = ni;
    L->n_out = no;
    return c;
}

static void log_removed(ectx *E, layer *L)
{
    if (!E->log || L->edit == EDIT_NEW)
        return;
    edit_log *g = E->log;
    edit_removed *r = realloc(g->removed, (size_t)(g->n_removed + 1) * sizeof *r);
    if (!r) {
        ectx_oom(E);
        return;
    }
    g->removed = r;
    r = &g->removed[g->n_removed];
    memset(r, 0, sizeof *r);
    r->name = estrdup(E, L->old_name ? L->old_name : L->name);
    if (!r->name)
        return;
    r->type = L->type->name;
    r->n_in = L->old_n_in;
    r->n_out = L->old_n_out;
    r->params = base_param_count(L);
    r->frozen = L->frozen;
    r->inputs = dup_strs(E, L->inputs, L->n_inputs);
    r->n_inputs = r->inputs ? L->n_inputs : 0;
    r->stmt = E->cur;
    g->n_removed++;
}

static void unlog_removed(ectx *E, const char *base_name, int stmt)
{
    if (!E->log)
        return;
    edit_log *g = E->log;
    for (int i = 0; i < g->n_removed; i++)
        if (g->removed[i].stmt == stmt && !strcmp(g->removed[i].name, base_name)) {
            free(g->removed[i].name);
            free_strs(g->removed[i].inputs, g->removed[i].n_inputs);
            memmove(&g->removed[i], &g->removed[i + 1],
                    (size_t)(g->n_removed - i - 1) * sizeof *g->removed);
            g->n_removed--;
            return;
        }
}

/* Removes layer idx. Without keep, every edge to it goes too (consumers lose the input slot,
 * the output list loses the name); with keep, the edges stay and wait for a new layer of the
 * same name. */
static void remove_layer_at(ectx *E, int idx, bool keep)
{
    model *m = E->m;
    layer *L = m->layers[idx];
    log_removed(E, L);
    push_hist(E, L->name, NULL);
    if (keep) {
        if (ENSURE(E, E->pend, E->n_pend, E->cap_pend)) {
            pending_conn *p = &E->pend[E->n_pend];
            memset(p, 0, sizeof *p);
            p->name = estrdup(E, L->name);
            p->inputs = dup_strs(E, L->inputs, L->n_inputs);
            p->n_inputs = p->inputs ? L->n_inputs : 0;
            p->stmt = E->cur;
            p->index = idx;
            p->was_base = L->edit != EDIT_NEW;
            p->old_name = L->old_name ? estrdup(E, L->old_name) : NULL;
            p->old_n_in = L->old_n_in;
            p->old_n_out = L->old_n_out;
            p->frozen = L->frozen;
            if (p->name)
                E->n_pend++;
        }
    } else {
        for (int i = 0; i < m->n_layers; i++) {
            layer *C = m->layers[i];
            if (C == L)
                continue;
            int w = 0;
            bool hit = false;
            for (int k = 0; k < C->n_inputs; k++) {
                if (!strcmp(C->inputs[k], L->name)) {
                    free(C->inputs[k]);
                    hit = true;
                } else {
                    C->inputs[w++] = C->inputs[k];
                }
            }
            if (!hit)
                continue;
            C->n_inputs = w;
            model_index_edges_changed(m);
            linfo *li = linfo_get(E, C);
            if (li) {
                if (type_node_kind(C->type) != NK_PARAM)
                    li->size_stmt = E->cur;   /* a merge now emits fewer features */
                if (w == 0) {
                    li->emptied_stmt = E->cur;
                    free(li->emptied_by);
                    li->emptied_by = estrdup(E, L->name);
                }
            }
        }
        int w = 0;
        for (int k = 0; k < m->n_outputs; k++) {
            if (!strcmp(m->outputs[k], L->name))
                free(m->outputs[k]);
            else
                m->outputs[w++] = m->outputs[k];
        }
        if (w == 0 && m->n_outputs > 0)
            E->outputs_emptied_stmt = E->cur;
        m->n_outputs = w;
        drop_open_end(E, L->name);
    }
    linfo_forget(E, L);
    model_remove_layer(m, idx);
}

/* ---- statements ---------------------------------------------------------------------------- */

static void do_remove(ectx *E, const ir_stmt *st)
{
    layer *L = find_layer_or_report(E, st->name, st->name_loc);
    if (!L)
        return;
    remove_layer_at(E, model_layer_index(E->m, st->name), (st->flags & IRF_KEEP_CONNECTIONS) != 0);
}

static void do_remove_output(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    if (m->n_outputs != 1) {
        diag_error(E->d, st->loc, "remove output needs a model with exactly one output; this "
                   "one has %d (remove one by name instead)", m->n_outputs);
        return;
    }
    layer *L = model_find_layer(m, m->outputs[0]);
    if (!L) {
        diag_error(E->d, st->loc, "the model's output '%s' is not a layer", m->outputs[0]);
        return;
    }
    char **ins = dup_strs(E, L->inputs, L->n_inputs);
    int n = ins ? L->n_inputs : 0;
    remove_layer_at(E, model_layer_index(m, L->name), false);
    model_set_outputs(m, (const char *const *)ins, n);
    for (int i = 0; i < n; i++)
        add_open_end(E, ins[i]);
    free_strs(ins, n);
}

/* Chains: one input, one output, every layer one input, every node at most one consumer. */
static bool check_chain(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    const char *why = NULL;
    char buf[256];
    if (m->n_inputs != 1) {
        snprintf(buf, sizeof buf, "the model has %d inputs", m->n_inputs);
        why = buf;
    } else if (m->n_outputs != 1) {
        snprintf(buf, sizeof buf, "the model has %d outputs", m->n_outputs);
        why = buf;
    }
    for (int i = 0; !why && i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (L->n_inputs != 1) {
            snprintf(buf, sizeof buf, "'%s' has %d inputs", L->name, L->n_inputs);
            why = buf;
        }
    }
    if (!why) {
        int *cnt = calloc((size_t)m->n_layers + 1, sizeof *cnt);
        if (!cnt) {
            ectx_oom(E);
            return false;
        }
        for (int i = 0; !why && i < m->n_layers; i++) {
            const char *src = m->layers[i]->inputs[0];
            int j = model_layer_index(m, src);
            int slot = j >= 0 ? j : m->n_layers;
            if (++cnt[slot] > 1) {
                snprintf(buf, sizeof buf, "'%s' feeds more than one layer", src);
                why = buf;
            }
        }
        free(cnt);
    }
    if (why)
        diag_error(E->d, st->loc, "remove last applies to chain models: %s (remove layers by "
                   "name instead)", why);
    return why == NULL;
}

static void do_remove_last(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    if (!check_chain(E, st))
        return;
    int64_t len = 0;
    for (const char *p = m->outputs[0]; len <= m->n_layers;) {
        layer *L = model_find_layer(m, p);
        if (!L)
            break;
        len++;
        p = L->inputs[0];
    }
    src_loc cl = st->count_loc.line ? st->count_loc : st->loc;
    if (st->count < 1) {
        diag_error(E->d, cl, "remove last needs a count of at least 1");
        return;
    }
    if (st->count >= len) {
        diag_error(E->d, cl, "remove last %" PRId64 " would leave no layer: the chain has %" PRId64
                   " layer%s", st->count, len, len == 1 ? "" : "s");
        return;
    }
    for (int64_t i = 0; i < st->count; i++) {
        layer *L = model_find_layer(m, m->outputs[0]);
        char *prev = estrdup(E, L->inputs[0]);
        if (!prev)
            return;
        remove_layer_at(E, model_layer_index(m, L->name), false);
        const char *o[1] = {prev};
        model_set_outputs(m, o, 1);
        drop_open_end(E, prev);
        if (i == st->count - 1)
            add_open_end(E, prev);
        free(prev);
    }
}

/* The training bits an option sets (for script_set_mask). */
static unsigned train_bit(const conf_arg *a)
{
    train_conf tmp;
    train_conf_defaults(&tmp);
    if (train_conf_set(&tmp, a->name, a->name_loc, a->value, NULL) == 0)
        return tmp.set_mask;
    return 0;
}

/* Applies an option block to a fresh layer; false after a reported error. */
static bool apply_options(ectx *E, layer *L, const ir_stmt *st)
{
    bool ok = true;
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *a = &st->opts[i];
        if (layer_set_option(L, a->name, a->name_loc, a->value, E->d) != 0) {
            ok = false;
            continue;
        }
        L->script_set_mask |= train_bit(a);
    }
    return ok;
}

static bool needs_n_out(ectx *E, layer *L, const ir_stmt *st)
{
    if (type_node_kind(L->type) == NK_PARAM && L->n_out < 1) {
        diag_error(E->d, st->loc, "%s %s '%s' needs n_out (the number of units)",
                   ir_kind_names[st->kind], L->type->name, L->name);
        return false;
    }
    return true;
}

/* n_in of a new parameterised layer from what flows into it. */
static void infer_new_n_in(ectx *E, layer *L)
{
    if (type_node_kind(L->type) != NK_PARAM || (L->type->flags & LT_INDEX_INPUT) ||
        L->n_in_given || L->n_inputs != 1)
        return;
    int64_t s = node_size(E, L->inputs[0]);
    if (s > 0)
        L->n_in = s;
}

/* Index after which a layer consuming `inputs` belongs (the last of them), or -1. */
static int last_input_index(const model *m, char *const *inputs, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        int j = model_layer_index(m, inputs[i]);
        if (j > best)
            best = j;
    }
    return best;
}

/* Adds a layer built by add/replace-of-a-removed-name; takes ownership of L. */
static void attach_new(ectx *E, layer *L, pending_conn *pc)
{
    model *m = E->m;
    L->edit = EDIT_NEW;
    if (pc) {
        pc->restored = true;
        if (pc->was_base) {
            L->edit = EDIT_REPLACED;
            free(L->old_name);
            L->old_name = pc->old_name ? estrdup(E, pc->old_name) : NULL;
            L->old_n_in = pc->old_n_in;
            L->old_n_out = pc->old_n_out;
            unlog_removed(E, pc->old_name ? pc->old_name : pc->name, pc->stmt);
        }
    }
    infer_new_n_in(E, L);
    int after = last_input_index(m, L->inputs, L->n_inputs);
    if (pc && pc->index - 1 > after && pc->index - 1 < m->n_layers)
        after = pc->index - 1;   /* where the removed layer of this name was */
    if (!add_layer(E, L))
        return;
    if (after >= 0)
        place_after(m, m->n_layers - 1, after);
    mark_created(E, L);
    /* a chain's open end (left by remove output / remove last) moves to the new layer */
    for (int i = 0; i < L->n_inputs; i++)
        for (int j = 0; j < E->n_open; j++)
            if (!strcmp(E->open_ends[j], L->inputs[i])) {
                rename_in_list(m->outputs, m->n_outputs, L->inputs[i], L->name, E);
                drop_open_end(E, L->inputs[i]);
                break;
            }
}

static void do_add(ectx *E, const ir_stmt *st)
{
    const layer_type *t = resolve_type(E, st);
    if (!t) {
        poison(E, st->name);
        return;
    }
    pending_conn *pc = model_has_node(E->m, st->name) ? NULL : find_pending(E, st->name);
    if (!check_new_name(E, st->name, st->name_loc))
        return;
    bool ok = true;
    char *const *ins = st->names;
    int n_ins = st->n_names;
    for (int i = 0; i < st->n_names; i++) {
        if (!strcmp(st->names[i], st->name)) {
            diag_error(E->d, st->name_locs[i], "'%s' cannot take itself as input", st->name);
            ok = false;
        } else if (!node_usable(E, st->names[i], st->name_locs[i])) {
            ok = false;
        }
    }
    if (n_ins == 0) {
        if (pc) {
            ins = pc->inputs;
            n_ins = pc->n_inputs;
        } else {
            diag_error(E->d, st->name_loc, "add needs its inputs: add %s \"%s\" from \"...\"",
                       t->name, st->name);
            ok = false;
        }
    }
    layer *L = layer_new(t, st->name);
    if (!L) {
        ectx_oom(E);
        return;
    }
    L->loc = st->name_loc;
    layer_set_inputs(L, (const char *const *)ins, n_ins);
    ok = apply_options(E, L, st) && ok;
    ok = needs_n_out(E, L, st) && ok;
    if (!ok) {
        layer_free(L);
        poison(E, st->name);
        return;
    }
    attach_new(E, L, pc);
}

static void do_replace(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    const layer_type *t = resolve_type(E, st);
    if (!t)
        return;
    int idx = model_layer_index(m, st->name);
    pending_conn *pc = idx < 0 ? find_pending(E, st->name) : NULL;
    if (idx < 0 && !pc) {
        find_layer_or_report(E, st->name, st->name_loc);
        return;
    }
    layer *old = idx >= 0 ? m->layers[idx] : NULL;
    layer *L = layer_new(t, st->name);
    if (!L) {
        ectx_oom(E);
        return;
    }
    L->loc = st->name_loc;
    if (old)
        layer_set_inputs(L, (const char *const *)old->inputs, old->n_inputs);
    else
        layer_set_inputs(L, (const char *const *)pc->inputs, pc->n_inputs);
    bool ok = apply_options(E, L, st);
    if (ok && old && type_node_kind(t) == NK_PARAM && L->n_out < 1 &&
        type_node_kind(old->type) == NK_PARAM)
        L->n_out = old->n_out;   /* same wiring, same width unless the block says otherwise */
    ok = ok && needs_n_out(E, L, st);
    if (!ok) {
        layer_free(L);
        return;
    }
    if (!old) {
        attach_new(E, L, pc);
        return;
    }
    L->edit = old->edit == EDIT_NEW ? EDIT_NEW : EDIT_REPLACED;
    L->old_name = old->old_name;
    old->old_name = NULL;
    L->old_n_in = old->old_n_in;
    L->old_n_out = old->old_n_out;
    infer_new_n_in(E, L);
    linfo_forget(E, old);
    m->layers[idx] = L;
    model_index_invalidate(m);   /* another layer in the slot */
    layer_free(old);
    mark_created(E, L);
}

static void do_insert(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    const layer_type *t = resolve_type(E, st);
    if (!t) {
        poison(E, st->name);
        return;
    }
    if (!check_new_name(E, st->name, st->name_loc))
        return;
    const char *x = st->name2;
    layer *X = NULL;
    node_kind xk = node_kind_of(E, x, &X);
    if (xk == NK_NONE) {
        report_unknown(E, x, st->name2_loc, "layer or input");
        poison(E, st->name);
        return;
    }
    if (X && (X->type->flags & LT_LOSS)) {
        diag_error(E->d, st->name2_loc, "'%s' is an output layer: nothing can follow it", x);
        note_defined(E, X);
        poison(E, st->name);
        return;
    }
    layer *L = layer_new(t, st->name);
    if (!L) {
        ectx_oom(E);
        return;
    }
    L->loc = st->name_loc;
    const char *in[1] = {x};
    layer_set_inputs(L, in, 1);
    bool ok = apply_options(E, L, st);
    ok = ok && needs_n_out(E, L, st);
    if (!ok) {
        layer_free(L);
        poison(E, st->name);
        return;
    }
    L->edit = EDIT_NEW;
    redirect_consumers(E, x, st->name, NULL);
    infer_new_n_in(E, L);
    if (!add_layer(E, L))
        return;
    place_after(m, m->n_layers - 1, model_layer_index(m, x));
    mark_created(E, L);
}

static void do_resize(ectx *E, const ir_stmt *st)
{
    layer *L = find_layer_or_report(E, st->name, st->name_loc);
    if (!L)
        return;
    bool n_in = (st->flags & IRF_N_IN) != 0;
    if (type_node_kind(L->type) != NK_PARAM) {
        diag_error(E->d, st->name_loc, "resize applies to layers with parameters; '%s' is %s %s "
                   "%s", L->name, type_article(L->type), L->type->name,
                   L->type->flags & LT_VERTEX ? "vertex" : "layer");
        note_defined(E, L);
        return;
    }
    src_loc cl = st->count_loc.line ? st->count_loc : st->loc;
    if (st->count < 1) {
        diag_error(E->d, cl, "resize needs a size of at least 1, got %" PRId64, st->count);
        return;
    }
    init_spec init, next;
    bool has_init = false, has_next = false, ok = true;
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *a = &st->opts[i];
        if (!strcmp(a->name, "init")) {
            ok = parse_init_value(E, a, &init) == 0 && ok;
            has_init = true;
        } else if (!strcmp(a->name, "next_init") && !n_in) {
            ok = parse_init_value(E, a, &next) == 0 && ok;
            has_next = true;
        } else {
            static const char *const keys[] = {"init", "next_init"};
            const char *hint = diag_suggest(a->name, keys, n_in ? 1 : 2);
            if (hint)
                diag_error(E->d, a->name_loc, "unknown option '%s' for resize (did you mean "
                           "'%s'?)", a->name, hint);
            else
                diag_error(E->d, a->name_loc, "unknown option '%s' for resize %s", a->name,
                           n_in ? "n_in (it takes init)" : "n_out (it takes init, next_init)");
            ok = false;
        }
    }
    if (!ok)
        return;
    if (n_in) {
        L->n_in = st->count;
        L->n_in_given = true;
        schedule_reinit(E, L, has_init ? &init : NULL);
        mark_edit(L, EDIT_RESIZED);
        linfo *li = linfo_get(E, L);
        if (li)
            li->nin_stmt = E->cur;
        return;
    }
    row_target *tg = NULL;
    int nt = collect_targets(E, L->name, "resizing", &tg);
    if (nt < 0)
        return;
    int64_t delta = st->count - L->n_out;
    L->n_out = st->count;
    schedule_reinit(E, L, has_init ? &init : NULL);
    mark_edit(L, EDIT_RESIZED);
    set_size_stmt(E, L);
    for (int i = 0; i < nt; i++) {
        layer *C = tg[i].L;
        C->n_in += delta * input_rows_per_unit(C);
        schedule_reinit(E, C, has_next ? &next : NULL);
        mark_edit(C, EDIT_RESIZED);
    }
    free(tg);
}

static void rename_everywhere(ectx *E, const char *from, const char *to)
{
    model *m = E->m;
    for (int i = 0; i < m->n_layers; i++)
        rename_in_list(m->layers[i]->inputs, m->layers[i]->n_inputs, from, to, E);
    model_index_edges_changed(m);
    rename_in_list(m->outputs, m->n_outputs, from, to, E);
    rename_in_list(E->open_ends, E->n_open, from, to, E);
    for (int i = 0; i < E->n_pend; i++)
        if (!E->pend[i].restored)
            rename_in_list(E->pend[i].inputs, E->pend[i].n_inputs, from, to, E);
    for (int i = 0; i < E->n_fz; i++)
        rename_in_list(E->fz[i].names, E->fz[i].n, from, to, E);
}

static void do_rename(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    const char *from = st->name, *to = st->name2;
    int ii = model_input_index(m, from);
    layer *L = model_find_layer(m, from);
    if (ii < 0 && !L) {
        report_unknown(E, from, st->name_loc, "layer or input");
        poison(E, to);
        return;
    }
    if (!strcmp(from, to))
        return;
    if (!check_new_name(E, to, st->name2_loc))
        return;
    /* through the model, which keeps its name index current */
    int rc = L ? model_rename_layer(m, model_layer_index(m, from), to)
               : model_rename_input(m, ii, to);
    if (rc != 0) {
        ectx_oom(E);
        return;
    }
    if (L) {
        if (!L->old_name && L->edit != EDIT_NEW)
            L->old_name = estrdup(E, from);
        if (L->edit == EDIT_KEPT)
            L->edit = EDIT_RENAMED;   /* a stronger state stays; the plan shows the old name */
    }
    rename_everywhere(E, from, to);
    pending_conn *pc = find_pending(E, to);
    if (pc)
        pc->restored = true;
    push_hist(E, from, to);
}

static void do_set(ectx *E, const ir_stmt *st)
{
    layer *L = find_layer_or_report(E, st->name, st->name_loc);
    if (!L)
        return;
    for (int i = 0; i < st->n_opts; i++) {
        const conf_arg *a = &st->opts[i];
        if (!strcmp(a->name, "n_in") || !strcmp(a->name, "n_out")) {
            diag_error(E->d, a->name_loc, "set cannot change shapes: use resize \"%s\" %s N",
                       L->name, a->name);
            continue;
        }
        if (layer_set_option(L, a->name, a->name_loc, a->value, E->d) == 0)
            L->script_set_mask |= train_bit(a);
    }
    /* As with fine_tune: an updater the script sets brings its own learning rate, replacing a
     * learning_rate the base model stored on the layer (unless the script sets that too). */
    if ((L->script_set_mask & TC_UPDATER) && !(L->script_set_mask & TC_LEARNING_RATE))
        L->train.set_mask &= ~(unsigned)TC_LEARNING_RATE;
}

static void do_outputs(ectx *E, const ir_stmt *st)
{
    bool ok = true;
    for (int i = 0; i < st->n_names; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(st->names[i], st->names[j])) {
                diag_error(E->d, st->name_locs[i], "'%s' is listed twice", st->names[i]);
                ok = false;
            }
        if (!node_usable(E, st->names[i], st->name_locs[i]))
            ok = false;
    }
    if (!ok)
        return;
    model_set_outputs(E->m, (const char *const *)st->names, st->n_names);
    clear_open_ends(E);
    E->outputs_stmt = E->cur;
    if (st->n_names == 0)
        E->outputs_emptied_stmt = E->cur;
}

static void do_inputs(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    bool ok = st->n_names > 0;
    if (!ok)
        diag_error(E->d, st->loc, "inputs needs at least one name");
    for (int i = 0; i < st->n_names; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(st->names[i], st->names[j])) {
                diag_error(E->d, st->name_locs[i], "'%s' is listed twice", st->names[i]);
                ok = false;
            }
        if (model_input_index(m, st->names[i]) >= 0)
            continue;
        layer *L = model_find_layer(m, st->names[i]);
        if (L) {
            diag_error(E->d, st->name_locs[i], "'%s' is a layer; inputs names the model's "
                       "inputs (their sizes come from the base model)", st->names[i]);
            note_defined(E, L);
        } else {
            report_unknown(E, st->names[i], st->name_locs[i], "input");
        }
        ok = false;
    }
    if (!ok)
        return;
    model_input *nv = calloc((size_t)st->n_names, sizeof *nv);
    if (!nv) {
        ectx_oom(E);
        return;
    }
    bool *taken = calloc((size_t)m->n_inputs + 1, sizeof *taken);
    if (!taken) {
        free(nv);
        ectx_oom(E);
        return;
    }
    for (int i = 0; i < st->n_names; i++) {
        int j = model_input_index(m, st->names[i]);
        nv[i] = m->inputs[j];
        taken[j] = true;
    }
    for (int j = 0; j < m->n_inputs; j++)
        if (!taken[j]) {
            push_hist(E, m->inputs[j].name, NULL);
            free(m->inputs[j].name);
        }
    free(taken);
    free(m->inputs);
    m->inputs = nv;
    m->n_inputs = st->n_names;
    model_index_invalidate(m);
    E->inputs_stmt = E->cur;
}

static void collect_freeze(ectx *E, const ir_stmt *st)
{
    if (!ENSURE(E, E->fz, E->n_fz, E->cap_fz))
        return;
    freeze_op *f = &E->fz[E->n_fz];
    memset(f, 0, sizeof *f);
    f->kind = st->kind;
    f->stmt = E->cur;
    f->names = dup_strs(E, st->names, st->n_names);
    f->locs = st->n_names > 0 ? malloc((size_t)st->n_names * sizeof *f->locs) : NULL;
    if (st->n_names > 0 && (!f->names || !f->locs)) {
        free_strs(f->names, f->names ? st->n_names : 0);
        free(f->locs);
        ectx_oom(E);
        return;
    }
    if (st->n_names > 0)
        memcpy(f->locs, st->name_locs, (size_t)st->n_names * sizeof *f->locs);
    f->n = st->n_names;
    E->n_fz++;
}

/* ---- the final graph ---------------------------------------------------------------------- */

/* Node ids: model inputs 0..ni-1, layers ni.. (in m->layers order); an open-addressing table
 * from names to ids keeps the final passes linear. */
typedef struct nindex {
    int *slot;        /* id + 1, 0 empty */
    int cap;
    const model *m;
} nindex;

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static const char *node_name(const model *m, int id)
{
    return id < m->n_inputs ? m->inputs[id].name : m->layers[id - m->n_inputs]->name;
}

static bool nindex_build(ectx *E, nindex *x)
{
    const model *m = E->m;
    int n = m->n_inputs + m->n_layers;
    x->m = m;
    x->cap = 16;
    while (x->cap < 2 * n + 1)
        x->cap *= 2;
    x->slot = calloc((size_t)x->cap, sizeof *x->slot);
    if (!x->slot) {
        ectx_oom(E);
        return false;
    }
    for (int id = 0; id < n; id++) {
        uint64_t h = hash_name(node_name(m, id)) & (uint64_t)(x->cap - 1);
        while (x->slot[h])
            h = (h + 1) & (uint64_t)(x->cap - 1);
        x->slot[h] = id + 1;
    }
    return true;
}

static int nindex_get(const nindex *x, const char *name)
{
    uint64_t h = hash_name(name) & (uint64_t)(x->cap - 1);
    while (x->slot[h]) {
        int id = x->slot[h] - 1;
        if (!strcmp(node_name(x->m, id), name))
            return id;
        h = (h + 1) & (uint64_t)(x->cap - 1);
    }
    return -1;
}

/* Latest script statement that defined one of the layers, for placing a cycle error. */
static int layer_stmt(ectx *E, layer *L)
{
    linfo *li = linfo_find(E, L);
    return li ? li->size_stmt : -1;
}

/* Reports layers whose inputs name nothing; returns false when the graph is incomplete. */
static bool check_inputs_exist(ectx *E, const nindex *x)
{
    model *m = E->m;
    bool ok = true;
    /* names removed with keep connections and never brought back */
    for (int i = 0; i < E->n_pend; i++) {
        pending_conn *p = &E->pend[i];
        if (p->restored || model_has_node(m, p->name))
            continue;
        bool first = true;
        for (int j = 0; j < m->n_layers; j++) {
            layer *C = m->layers[j];
            for (int k = 0; k < C->n_inputs; k++)
                if (!strcmp(C->inputs[k], p->name)) {
                    if (first)
                        diag_error(E->d, ectx_stmt(E, p->stmt)->loc, "'%s' was removed keeping "
                                   "its connections, but no layer named '%s' is added back",
                                   p->name, p->name);
                    first = false;
                    diag_note(E->d, C->loc.line ? C->loc : ectx_stmt(E, p->stmt)->loc,
                              "'%s' still takes '%s' as input", C->name, p->name);
                    ok = false;
                    break;
                }
        }
        for (int k = 0; k < m->n_outputs; k++)
            if (!strcmp(m->outputs[k], p->name)) {
                if (first)
                    diag_error(E->d, ectx_stmt(E, p->stmt)->loc, "'%s' was removed keeping its "
                               "connections, but no layer named '%s' is added back", p->name,
                               p->name);
                else
                    diag_note(E->d, ectx_stmt(E, p->stmt)->loc, "'%s' is also a model output",
                              p->name);
                first = false;
                ok = false;
            }
    }
    for (int j = 0; j < m->n_layers; j++) {
        layer *C = m->layers[j];
        if (C->n_inputs == 0) {
            linfo *li = linfo_find(E, C);
            if (li && li->emptied_stmt >= 0) {
                diag_error(E->d, ectx_stmt(E, li->emptied_stmt)->loc, "removing '%s' leaves '%s' "
                           "without inputs", li->emptied_by ? li->emptied_by : "?", C->name);
                note_defined(E, C);
            } else {
                diag_error(E->d, C->loc.line ? C->loc : ectx_loc(E), "'%s' has no inputs",
                           C->name);
            }
            ok = false;
            continue;
        }
        for (int k = 0; k < C->n_inputs; k++) {
            const char *in = C->inputs[k];
            if (nindex_get(x, in) >= 0 || find_pending(E, in) || is_poisoned(E, in))
                continue;
            if (E->inputs_stmt >= 0) {
                diag_error(E->d, ectx_stmt(E, E->inputs_stmt)->loc, "'%s' still takes '%s' as "
                           "input, which is no longer a model input", C->name, in);
                note_defined(E, C);
            } else {
                diag_error(E->d, C->loc.line ? C->loc : ectx_loc(E), "'%s' takes unknown input "
                           "'%s'", C->name, in);
            }
            ok = false;
        }
        if (C->n_inputs > 1 && !(C->type->flags & LT_MULTI_INPUT)) {
            linfo *li = linfo_find(E, C);
            src_loc at = li && li->size_stmt >= 0 ? ectx_stmt(E, li->size_stmt)->loc : C->loc;
            diag_error(E->d, at, "%s '%s' takes one input, got %d (join inputs with a merge "
                       "vertex first)", C->type->name, C->name, C->n_inputs);
            note_defined(E, C);
            ok = false;
        }
    }
    return ok;
}

/* Depth-first order of the layers (ids into m->layers); reports cycles. order has n_layers. */
static bool order_graph(ectx *E, const nindex *x, int *order, bool report)
{
    model *m = E->m;
    int ni = m->n_inputs, nl = m->n_layers;
    unsigned char *color = calloc((size_t)nl + 1, 1);
    int *stack = malloc(((size_t)nl + 1) * sizeof *stack);
    int *pos = malloc(((size_t)nl + 1) * sizeof *pos);
    if (!color || !stack || !pos) {
        free(color);
        free(stack);
        free(pos);
        ectx_oom(E);
        return false;
    }
    int n_order = 0;
    bool ok = true;
    for (int root = 0; root < nl; root++) {
        if (color[root])
            continue;
        int sp = 0;
        stack[sp] = root;
        pos[sp] = 0;
        color[root] = 1;
        while (sp >= 0) {
            int v = stack[sp];
            layer *L = m->layers[v];
            if (pos[sp] < L->n_inputs) {
                int id = nindex_get(x, L->inputs[pos[sp]++]);
                if (id < ni)
                    continue;
                int u = id - ni;
                if (color[u] == 0) {
                    color[u] = 1;
                    stack[++sp] = u;
                    pos[sp] = 0;
                } else if (color[u] == 1) {
                    ok = false;
                    if (report) {
                        /* the cycle is u .. v on the stack */
                        int from = sp;
                        while (from > 0 && stack[from] != u)
                            from--;
                        /* stack[k + 1] feeds stack[k], and u feeds v: u -> v -> ... -> u */
                        char buf[1024];
                        size_t len = (size_t)snprintf(buf, sizeof buf, "%s", m->layers[u]->name);
                        int latest = -1;
                        layer *culprit = m->layers[u];
                        for (int k = sp; k >= from && len < sizeof buf - 64; k--) {
                            layer *Lk = m->layers[stack[k]];
                            len += (size_t)snprintf(buf + len, sizeof buf - len, " -> %s",
                                                    Lk->name);
                            int ls = layer_stmt(E, Lk);
                            if (ls > latest) {
                                latest = ls;
                                culprit = Lk;
                            }
                        }
                        src_loc at = latest >= 0 ? ectx_stmt(E, latest)->loc : culprit->loc;
                        diag_error(E->d, at, "this edit creates a cycle: %s", buf);
                    }
                }
            } else {
                color[v] = 2;
                if (order)
                    order[n_order++] = v;
                sp--;
            }
        }
    }
    free(color);
    free(stack);
    free(pos);
    return ok;
}

static bool check_outputs(ectx *E, const nindex *x)
{
    model *m = E->m;
    if (m->n_outputs == 0) {
        int at = E->outputs_emptied_stmt;
        diag_error(E->d, at >= 0 ? ectx_stmt(E, at)->loc : ectx_loc(E), "the model is left "
                   "without outputs");
        return false;
    }
    bool ok = true;
    for (int i = 0; i < m->n_outputs; i++) {
        if (nindex_get(x, m->outputs[i]) >= 0 || find_pending(E, m->outputs[i]))
            continue;
        int at = E->outputs_stmt >= 0 ? E->outputs_stmt : E->cur;
        diag_error(E->d, ectx_stmt(E, at)->loc, "output '%s' is not in the final graph",
                   m->outputs[i]);
        ok = false;
    }
    return ok;
}

/* Features emitted by node id and the latest statement that changed them (memoised). */
typedef struct fsz {
    int64_t size;
    int cause;
    unsigned char state;   /* 0 new, 1 visiting, 2 done */
} fsz;

static int64_t flow_size(ectx *E, const nindex *x, fsz *memo, int id, int *cause)
{
    model *m = E->m;
    *cause = -1;
    if (id < 0)
        return -1;
    if (id < m->n_inputs)
        return input_features(&m->inputs[id]);
    fsz *f = &memo[id - m->n_inputs];
    if (f->state == 2) {
        *cause = f->cause;
        return f->size;
    }
    if (f->state == 1)
        return -1;
    f->state = 1;
    layer *L = m->layers[id - m->n_inputs];
    linfo *li = linfo_find(E, L);
    int c = li ? li->size_stmt : -1, ci;
    int64_t s = -1;
    switch (type_node_kind(L->type)) {
    case NK_PARAM:
        s = L->n_out > 0 ? L->n_out : -1;
        break;
    case NK_PASS:
    case NK_ELEM:
        if (L->n_inputs > 0) {
            s = flow_size(E, x, memo, nindex_get(x, L->inputs[0]), &ci);
            if (ci > c)
                c = ci;
        }
        break;
    case NK_MERGE:
        s = 0;
        for (int k = 0; k < L->n_inputs && s >= 0; k++) {
            int64_t t = flow_size(E, x, memo, nindex_get(x, L->inputs[k]), &ci);
            s = t < 0 ? -1 : s + t;
            if (ci > c)
                c = ci;
        }
        if (L->n_inputs == 0)
            s = -1;
        break;
    default:
        s = L->out_shape.size > 0 ? L->out_shape.size : -1;
        break;
    }
    f->size = s;
    f->cause = c;
    f->state = 2;
    *cause = c;
    return s;
}

/* Every parameterised layer's n_in (what its weights are shaped for) against what flows in. */
static void check_sizes(ectx *E, const nindex *x, fsz *memo)
{
    model *m = E->m;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (type_node_kind(L->type) != NK_PARAM || L->type == &layer_type_embedding ||
            L->n_inputs != 1)
            continue;
        int cause;
        int64_t flow = flow_size(E, x, memo, nindex_get(x, L->inputs[0]), &cause);
        if (flow < 0 || flow == L->n_in)
            continue;
        linfo *li = linfo_find(E, L);
        bool trained = !(li && li->reinit) && L->edit != EDIT_NEW && L->edit != EDIT_REPLACED;
        int nin_stmt = li ? li->nin_stmt : -1;
        if (trained && L->n_in > 0) {
            if (nin_stmt >= 0 && nin_stmt > cause) {
                diag_error(E->d, ectx_stmt(E, nin_stmt)->loc, "n_in %" PRId64 " of '%s' disagrees "
                           "with the %" PRId64 " features that flow into it", L->n_in, L->name,
                           flow);
            } else if (cause >= 0) {
                diag_error(E->d, ectx_stmt(E, cause)->loc, "this %s changes the input of '%s' "
                           "from %" PRId64 " to %" PRId64 " features: its trained weights no "
                           "longer fit (re-initialise it with: resize \"%s\" n_in %" PRId64 ")",
                           stmt_word(E, cause), L->name, L->n_in, flow, L->name, flow);
            } else {
                diag_error(E->d, L->loc.line ? L->loc : ectx_loc(E), "'%s' takes %" PRId64
                           " inputs but %" PRId64 " features flow into it", L->name, L->n_in,
                           flow);
            }
            note_defined(E, L);
        } else if (nin_stmt >= 0) {
            const ir_stmt *ns = ectx_stmt(E, nin_stmt);
            const conf_arg *a = ir_opt(ns, "n_in");
            src_loc at = a && a->value && a->value->loc.line ? a->value->loc : ns->loc;
            diag_error(E->d, at, "n_in %" PRId64 " of '%s' disagrees with the %" PRId64
                       " features that flow into it", L->n_in, L->name, flow);
            if (ectx_stmt(E, nin_stmt)->kind != IR_ADD)
                note_defined(E, L);
        } else if (L->n_in_given && L->edit == EDIT_NEW) {
            diag_error(E->d, L->loc, "n_in %" PRId64 " of '%s' disagrees with the %" PRId64
                       " features that flow into it", L->n_in, L->name, flow);
        } else {
            L->n_in = flow;
        }
    }
}

/* The most inputs any layer has (at least 1): the size of an input-shape buffer. */
static int max_inputs(const model *m)
{
    int n = 1;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->n_inputs > n)
            n = m->layers[i]->n_inputs;
    return n;
}

static act_shape input_act_shape(const model_input *mi)
{
    return (act_shape){.kind = mi->kind == INPUT_RECURRENT       ? SHAPE_RNN
                               : mi->kind == INPUT_CONVOLUTIONAL ? SHAPE_CNN
                                                                 : SHAPE_FF,
                       .size = input_features(mi), .h = mi->h, .w = mi->w, .c = mi->c};
}

/* Shape inference over the final graph in topological order, each failure reported at the
 * latest statement that changed what the layer receives or is (else at its definition). */
static void infer_report(ectx *E, const nindex *x, fsz *memo, const int *order)
{
    model *m = E->m;
    act_shape *in = malloc((size_t)max_inputs(m) * sizeof *in);
    unsigned char *done = calloc((size_t)m->n_layers + 1, 1);
    if (!in || !done) {
        free(in);
        free(done);
        ectx_oom(E);
        return;
    }
    for (int oi = 0; oi < m->n_layers; oi++) {
        int v = order[oi];
        layer *L = m->layers[v];
        bool ok = L->n_inputs > 0 && L->type->infer;
        for (int k = 0; k < L->n_inputs && ok; k++) {
            int id = nindex_get(x, L->inputs[k]);
            if (id < 0)
                ok = false;
            else if (id < m->n_inputs)
                in[k] = input_act_shape(&m->inputs[id]);
            else if ((ok = done[id - m->n_inputs]))
                in[k] = m->layers[id - m->n_inputs]->out_shape;
        }
        if (!ok)
            continue;
        int64_t given = L->n_in;
        act_shape out;
        char msg[256] = "";
        int rc = L->type->infer(L, in, L->n_inputs, &out, msg, sizeof msg);
        if (L->n_in_given)
            L->n_in = given;
        if (rc == 0) {
            L->out_shape = out;
            L->in_shape = in[0];
            done[v] = 1;
            continue;
        }
        int cause = memo[v].state == 2 ? memo[v].cause : -1, ci;
        for (int k = 0; k < L->n_inputs; k++) {
            flow_size(E, x, memo, nindex_get(x, L->inputs[k]), &ci);
            if (ci > cause)
                cause = ci;
        }
        linfo *li = linfo_find(E, L);
        if (li && li->nin_stmt > cause)
            cause = li->nin_stmt;
        if (li && li->size_stmt > cause)
            cause = li->size_stmt;
        if (cause >= 0 && !(L->loc.line > 0 && L->loc.file == ectx_stmt(E, cause)->name_loc.file &&
                             L->loc.line == ectx_stmt(E, cause)->name_loc.line)) {
            diag_error(E->d, ectx_stmt(E, cause)->loc, "after this %s, layer '%s': %s",
                       stmt_word(E, cause), L->name, msg);
            note_defined(E, L);
        } else {
            diag_error(E->d, L->loc.line ? L->loc : ectx_loc(E), "layer '%s': %s", L->name, msg);
        }
    }
    free(in);
    free(done);
}

static void note_last_freeze(ectx *E)
{
    for (int i = E->n_fz - 1; i >= 0; i--)
        if (E->fz[i].kind != IR_UNFREEZE) {
            diag_note(E->d, ectx_stmt(E, E->fz[i].stmt)->loc, "frozen here");
            return;
        }
}

/* The layer named in a freeze statement, in the final graph. */
static layer *freeze_target(ectx *E, const freeze_op *f, int i)
{
    layer *L = model_find_layer(E->m, f->names[i]);
    if (L)
        return L;
    int ii = model_input_index(E->m, f->names[i]);
    if (ii >= 0) {
        diag_error(E->d, f->locs[i], "'%s' is a model input; %s applies to layers",
                   f->names[i], ir_kind_names[f->kind]);
        return NULL;
    }
    if (find_pending(E, f->names[i]))
        return NULL;   /* reported with the remove */
    report_unknown(E, f->names[i], f->locs[i], "layer");
    return NULL;
}

static bool refuse_loss(ectx *E, layer *L, const freeze_op *f, int i, const char *through)
{
    if (!(L->type->flags & LT_LOSS))
        return false;
    if (through)
        diag_error(E->d, f->locs[i], "output layers cannot be frozen: '%s', an ancestor of "
                   "'%s', is %s %s layer", L->name, through, type_article(L->type),
                   L->type->name);
    else
        diag_error(E->d, f->locs[i], "output layers cannot be frozen: '%s' is %s %s layer",
                   L->name, type_article(L->type), L->type->name);
    note_defined(E, L);
    return true;
}

static void apply_freezes(ectx *E, const nindex *x)
{
    model *m = E->m;
    int ni = m->n_inputs, nl = m->n_layers;
    int *stack = malloc(((size_t)nl + 1) * sizeof *stack);
    unsigned char *seen = malloc((size_t)nl + 1);
    if (!stack || !seen) {
        free(stack);
        free(seen);
        ectx_oom(E);
        return;
    }
    for (int o = 0; o < E->n_fz; o++) {
        const freeze_op *f = &E->fz[o];
        for (int i = 0; i < f->n; i++) {
            layer *L = freeze_target(E, f, i);
            if (!L)
                continue;
            if (f->kind == IR_UNFREEZE) {
                L->frozen = false;
                continue;
            }
            if (f->kind == IR_FREEZE) {
                if (!refuse_loss(E, L, f, i, NULL))
                    L->frozen = true;
                continue;
            }
            /* freeze through: L and every ancestor */
            memset(seen, 0, (size_t)nl + 1);
            int sp = 0, root = model_layer_index(m, L->name);
            stack[sp++] = root;
            seen[root] = 1;
            bool bad = false;
            while (sp > 0) {
                layer *A = m->layers[stack[--sp]];
                if (refuse_loss(E, A, f, i, A == L ? NULL : L->name))
                    bad = true;
                for (int k = 0; k < A->n_inputs; k++) {
                    int id = nindex_get(x, A->inputs[k]);
                    if (id < ni || seen[id - ni])
                        continue;
                    seen[id - ni] = 1;
                    stack[sp++] = id - ni;
                }
            }
            if (!bad)
                for (int k = 0; k < nl; k++)
                    if (seen[k])
                        m->layers[k]->frozen = true;
        }
    }
    free(stack);
    free(seen);
}

static void check_trainable(ectx *E)
{
    int fit = -1;
    for (int i = 0; i < E->s->n_stmts; i++)
        if (E->s->stmts[i].kind == IR_FIT) {
            fit = i;
            break;
        }
    if (fit < 0)
        return;
    model *m = E->m;
    for (int i = 0; i < m->n_layers; i++)
        if (!m->layers[i]->frozen && layer_param_count(m->layers[i]) > 0)
            return;
    diag_error(E->d, ectx_stmt(E, fit)->loc, "nothing to train: every layer with parameters is "
               "frozen");
    note_last_freeze(E);
}

/* Weight mode: every parameter without data is initialised now, from its final shape. */
static void init_missing(ectx *E)
{
    model *m = E->m;
    for (int i = 0; i < m->n_layers && !E->oom; i++) {
        layer *L = m->layers[i];
        if (!L->type->param_specs)
            continue;
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs(L, specs);
        if (n <= 0)
            continue;
        bool have = true;
        for (int k = 0; k < n; k++)
            have = have && tensor_has_values(&L->params[k]);
        if (have && L->n_params == n)
            continue;
        linfo *li = linfo_find(E, L);
        init_spec init = li && li->has_init ? li->init : effective_init(E, L);
        for (int k = 0; k < n; k++)
            if (fresh_param(E, L, &specs[k], &init, &L->params[k]) != 0)
                return;
        L->n_params = n;
    }
}

/* Shapes before any edit: n_in of layers loaded without shape inference, quietly. */
static void initial_shapes(ectx *E)
{
    model *m = E->m;
    bool need = false;
    for (int i = 0; i < m->n_layers && !need; i++) {
        layer *L = m->layers[i];
        need = type_node_kind(L->type) == NK_PARAM && !(L->type->flags & LT_INDEX_INPUT) &&
               L->n_in <= 0;
    }
    if (!need)
        return;
    nindex x;
    if (!nindex_build(E, &x))
        return;
    int *order = malloc(((size_t)m->n_layers + 1) * sizeof *order);
    act_shape *in = malloc((size_t)max_inputs(m) * sizeof *in);
    unsigned char *done = calloc((size_t)m->n_layers + 1, 1);
    if (order && in && done && order_graph(E, &x, order, false)) {
        for (int oi = 0; oi < m->n_layers; oi++) {
            int v = order[oi];
            layer *L = m->layers[v];
            bool ok = L->n_inputs > 0;
            for (int k = 0; k < L->n_inputs && ok; k++) {
                int id = nindex_get(&x, L->inputs[k]);
                if (id < 0) {
                    ok = false;
                } else if (id < m->n_inputs) {
                    in[k] = input_act_shape(&m->inputs[id]);
                } else {
                    ok = done[id - m->n_inputs];
                    in[k] = m->layers[id - m->n_inputs]->out_shape;
                }
            }
            if (!ok || !L->type->infer)
                continue;
            int64_t keep = L->n_in;
            bool given = L->n_in_given;
            act_shape out;
            char msg[256];
            if (L->type->infer(L, in, L->n_inputs, &out, msg, sizeof msg) == 0) {
                L->out_shape = out;
                L->in_shape = in[0];
                done[v] = 1;
            }
            if (given)
                L->n_in = keep;
        }
    }
    free(order);
    free(in);
    free(done);
    free(x.slot);
}

static void finish(ectx *E)
{
    model *m = E->m;
    if (E->s->n_stmts == 0) {   /* nothing edited */
        if (E->log)
            E->log->structure_ok = true;
        return;
    }
    E->cur = E->s->n_stmts - 1;
    nindex x = {0};
    if (!nindex_build(E, &x))
        return;
    bool ok = check_inputs_exist(E, &x);
    ok = check_outputs(E, &x) && ok;
    int *order = malloc(((size_t)m->n_layers + 1) * sizeof *order);
    fsz *memo = calloc((size_t)m->n_layers + 1, sizeof *memo);
    if (!order || !memo)
        ectx_oom(E);
    ok = ok && order && memo && order_graph(E, &x, order, true);
    if (E->log)
        E->log->structure_ok = ok && !E->oom;
    if (ok) {
        check_sizes(E, &x, memo);
        infer_report(E, &x, memo, order);
    }
    free(order);
    free(memo);
    if (!E->wmode)
        for (int i = 0; i < m->n_layers; i++) {
            param_spec specs[LAYER_MAX_PARAMS];
            layer *L = m->layers[i];
            L->n_params = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        }
    apply_freezes(E, &x);
    train_apply_fine_tune(m, &E->ft);
    if (ok)
        check_trainable(E);
    if (ok && E->wmode && diag_error_count(E->d) == E->errors_at_start) {
        init_missing(E);
        m->weights_loaded = !E->oom;
    }
    /* layers the script added that reach no output (said once, at check time) */
    if (ok && !E->wmode) {
        bool *used = calloc((size_t)(m->n_inputs + m->n_layers) + 1, sizeof *used);
        if (used) {
            for (int i = 0; i < m->n_layers; i++)
                for (int k = 0; k < m->layers[i]->n_inputs; k++) {
                    int id = nindex_get(&x, m->layers[i]->inputs[k]);
                    if (id >= 0)
                        used[id] = true;
                }
            for (int k = 0; k < m->n_outputs; k++) {
                int id = nindex_get(&x, m->outputs[k]);
                if (id >= 0)
                    used[id] = true;
            }
            for (int i = 0; i < m->n_layers; i++) {
                layer *L = m->layers[i];
                if (!used[m->n_inputs + i] && L->edit == EDIT_NEW && L->loc.line > 0)
                    diag_warning(E->d, L->loc, "'%s' does not lead to any model output (list it "
                                 "with: outputs ...)", L->name);
            }
            free(used);
        } else {
            ectx_oom(E);
        }
    }
    free(x.slot);
}

/* ---- driver ------------------------------------------------------------------------------- */

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
    free(log);
}

static void ectx_free(ectx *E)
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

static void prescan_fine_tune(ectx *E)
{
    train_conf_defaults(&E->ft);
    for (int i = 0; i < E->s->n_stmts; i++) {
        const ir_stmt *st = &E->s->stmts[i];
        if (st->kind != IR_FINE_TUNE)
            continue;
        for (int k = 0; k < st->n_opts; k++)
            train_conf_set(&E->ft, st->opts[k].name, st->opts[k].name_loc, st->opts[k].value,
                           E->d);
    }
    E->seed = (E->ft.set_mask & TC_SEED) ? E->ft.seed : E->m->seed;
}

/* Whether an edit may read or rewrite parameter values: pending parameters (a widen's
 * descriptions) are assembled before it. Widen assembles the ones it reads itself, so that a
 * widen followed only by a save never builds the widened tensors in memory. */
static bool reads_weights(ir_kind k)
{
    switch (k) {
    case IR_WIDEN:
    case IR_RENAME:
    case IR_OUTPUTS:
    case IR_INPUTS:
    case IR_FREEZE_THROUGH:
    case IR_FREEZE:
    case IR_UNFREEZE:
        return false;
    case IR_REMOVE:
    case IR_REMOVE_OUTPUT:
    case IR_REMOVE_LAST:
    case IR_ADD:
    case IR_REPLACE:
    case IR_INSERT:
    case IR_RESIZE:
    case IR_NARROW:
    case IR_DEEPEN:
    case IR_SET:
        return true;
    default:
        return false;   /* base, param, fine_tune, data and the steps: no edit */
    }
}

static int apply_edits(model *m, const ir_script *s, struct diag_ctx *d, edit_log *log,
                       bool leave_pending)
{
    ectx E;
    memset(&E, 0, sizeof E);
    E.m = m;
    E.s = s;
    E.d = d;
    E.log = log;
    E.outputs_stmt = E.outputs_emptied_stmt = E.inputs_stmt = -1;
    E.errors_at_start = diag_error_count(d);
    for (int i = 0; i < m->n_layers; i++)
        if (layer_has_data(m->layers[i]))
            E.wmode = true;
    E.wmode = E.wmode || m->weights_loaded;
    if (log)
        log->structure_ok = false;

    initial_shapes(&E);
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        L->edit = EDIT_KEPT;
        free(L->old_name);
        L->old_name = NULL;
        L->old_n_in = L->n_in;
        L->old_n_out = L->n_out;
        L->script_set_mask = 0;
    }
    prescan_fine_tune(&E);

    for (int i = 0; i < s->n_stmts && !E.oom; i++) {
        const ir_stmt *st = &s->stmts[i];
        E.cur = i;
        if (E.wmode && reads_weights(st->kind) && model_settle(m) != 0) {
            ectx_oom(&E);
            break;
        }
        switch (st->kind) {
        case IR_REMOVE: do_remove(&E, st); break;
        case IR_REMOVE_OUTPUT: do_remove_output(&E, st); break;
        case IR_REMOVE_LAST: do_remove_last(&E, st); break;
        case IR_ADD: do_add(&E, st); break;
        case IR_REPLACE: do_replace(&E, st); break;
        case IR_INSERT: do_insert(&E, st); break;
        case IR_RESIZE: do_resize(&E, st); break;
        case IR_WIDEN: do_widen(&E, st); break;
        case IR_NARROW: do_narrow(&E, st); break;
        case IR_DEEPEN: do_deepen(&E, st); break;
        case IR_RENAME: do_rename(&E, st); break;
        case IR_SET: do_set(&E, st); break;
        case IR_OUTPUTS: do_outputs(&E, st); break;
        case IR_INPUTS: do_inputs(&E, st); break;
        case IR_FREEZE_THROUGH:
        case IR_FREEZE:
        case IR_UNFREEZE: collect_freeze(&E, st); break;
        default: break;   /* base, param, fine_tune (prescanned), data, fit, ... */
        }
    }
    if (!E.oom)
        finish(&E);
    if (!E.oom && !leave_pending && model_settle(m) != 0)
        ectx_oom(&E);
    ectx_free(&E);
    return diag_error_count(d) - E.errors_at_start;
}

int edit_apply_log(model *m, const ir_script *s, struct diag_ctx *d, edit_log *log)
{
    return apply_edits(m, s, d, log, false);
}

int edit_apply(model *m, const ir_script *s, struct diag_ctx *d)
{
    return apply_edits(m, s, d, NULL, false);
}

int edit_apply_pending(model *m, const ir_script *s, struct diag_ctx *d)
{
    return apply_edits(m, s, d, NULL, true);
}
