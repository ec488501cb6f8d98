/* consumers.c: the parameterised layers that see a node's features (through pass-through layers,
 * merges and element-wise vertices), with the offset of those features in their input (a merge
 * of convolutional inputs: of its channels, DenseNet's and SqueezeNet's concatenations). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/edits/edit_impl.h"

/* ---- consumers ---------------------------------------------------------------------------- */

typedef struct tlist {
    row_target *v;
    int n, cap;
    row_target *elem;     /* add/average/multiply vertices reached: (vertex, slot offset) per slot */
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

static bool collect_rec(ectx *E, const char *name, int64_t offset, int64_t rows,
                        const char *what, const char *origin, int depth, tlist *out);

/* Whether C sees convolutional input as features (dense, output, flatten): each channel is
 * then H*W consecutive rows. */
static int64_t plane_rows(const layer *C)
{
    const unsigned aware = LT_CHANNELS_IN | LT_CHANNELS_THROUGH | LT_PASS_THROUGH | LT_VERTEX;
    if (C->in_shape.kind != SHAPE_CNN || (C->type->flags & aware))
        return 1;
    return C->in_shape.h * C->in_shape.w;
}

/* C's channels follow its input's (batch norm, depthwise, flatten): its parameters are a
 * target, and the change carries on through its output. */
static bool follow_through(ectx *E, layer *C, int64_t offset, int64_t rows, const char *what,
                           const char *origin, int depth, tlist *out)
{
    const unit_layout *ul = layer_units(C);
    if (ul->n_follow > 0) {
        if (!ENSURE(E, out->v, out->n, out->cap))
            return false;
        out->v[out->n++] = (row_target){C, offset, rows, true};
    }
    set_size_stmt(E, C);
    const int64_t m = unit_multiplier(C);
    return collect_rec(E, C->name, offset * m, rows * m, what, origin, depth + 1, out);
}

static bool collect_rec(ectx *E, const char *name, int64_t offset, int64_t rows,
                        const char *what, const char *origin, int depth, tlist *out)
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
            const unit_layout *ul = layer_units(C);
            const int64_t plane = plane_rows(C);
            const int64_t at = offset * plane, per = rows * plane;
            if (ul && ul->flow == UNITS_FOLLOW) {
                ok = follow_through(E, C, at, per, what, origin, depth, out) && ok;
                continue;
            }
            node_kind ck = type_node_kind(C->type);
            if (ck == NK_PARAM && !(C->type->flags & LT_INDEX_INPUT) &&
                !(ul && ul->input_key))
                ck = NK_OTHER;   /* its input units have no place in its parameters */
            if (ck == NK_OTHER && (C->type->flags & LT_CHANNELS_THROUGH) && !C->type->param_specs)
                ck = NK_PASS;    /* pooling, padding, cropping, upsampling */
            char why[200];
            if (ck == NK_PARAM && ul && ul->refuse && ul->refuse(C, why, sizeof why)) {
                diag_error(E->d, ectx_loc(E), "%s '%s' cannot change the input channels of %s "
                           "'%s': %s", what, origin, C->type->name, C->name, why);
                note_defined(E, C);
                ok = false;
                continue;
            }
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
                out->v[out->n++] = (row_target){C, at, per, false};
                break;
            case NK_PASS:
                set_size_stmt(E, C);
                ok = collect_rec(E, C->name, at, per, what, origin, depth + 1, out) && ok;
                break;
            case NK_MERGE: {
                /* the rows of the earlier inputs come first: their features, or for a
                 * merge of convolutional inputs their channels */
                const bool cnn = C->out_shape.kind == SHAPE_CNN;
                int64_t off = at;
                for (int j = 0; j < k; j++) {
                    int64_t s = cnn ? node_channels(E, C->inputs[j]) : node_size(E, C->inputs[j]);
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
                ok = collect_rec(E, C->name, off, per, what, origin, depth + 1, out) && ok;
                break;
            }
            case NK_ELEM:
                /* decided once every path is known: fine when all its inputs change alike */
                if (!ENSURE(E, out->elem, out->n_elem, out->cap_elem) ||
                    !ENSURE(E, out->elem_slot, out->n_elem, out->cap_slot))
                    return false;
                out->elem_slot[out->n_elem] = k;
                out->elem[out->n_elem++] = (row_target){C, at, per, false};
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

/* Whether every input slot of the add/average/multiply vertex V has been reached, once each, at one
 * offset (returned in *off). */
static bool elem_complete(const tlist *t, const layer *V, int64_t *off, int64_t *rows,
                          bool *oom)
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
        if (first) {
            *off = t->elem[i].offset;
            *rows = t->elem[i].rows;
        }
        first = false;
        if (t->elem[i].offset != *off || t->elem[i].rows != *rows || seen[t->elem_slot[i]])
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

/* An add/average/multiply vertex passes the change on when every one of its inputs changes the same
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
            int64_t off = 0, rows = 1;
            bool oom = false;
            if (!elem_complete(t, V, &off, &rows, &oom)) {
                if (oom) {
                    ectx_oom(E);
                    return false;
                }
                continue;
            }
            drop_elem(t, V);
            set_size_stmt(E, V);
            ok = collect_rec(E, V->name, off, rows, what, origin, 0, t) && ok;
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
    layer *L = model_find_layer(E->m, name);
    assert(L);
    return collect_group_targets(E, &L, 1, what, out);
}

int collect_group_targets(ectx *E, layer *const *group, int n_group, const char *what,
                          row_target **out)
{
    tlist t = {0};
    bool ok = true;
    /* Every copy of the units in the output (bidirectional concat: n_out features apart). */
    for (int g = 0; g < n_group; g++)
        for (int64_t k = 0; k < unit_copies(group[g]); k++)
            ok = collect_rec(E, group[g]->name, k * group[g]->n_out, 1, what, group[0]->name, 0,
                             &t) && ok;
    ok = resolve_elems(E, what, group[0]->name, &t) && ok;
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
