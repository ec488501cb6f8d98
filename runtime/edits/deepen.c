/* deepen.c: Net2DeeperNet: a new layer after an existing one, initialised so that the network
 * computes what it did, as the new layer's type builds its identity (deepen_spec: dense W = I,
 * b = 0 with the layer's own idempotent activation; lstm with identity activation, block-input
 * weights I and saturated gates). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/edits/edit_impl.h"

/* phi(phi(x)) = phi(x): only then is phi(I phi(v) + 0) = phi(v). */
static bool idempotent(activation_kind a)
{
    return a == ACT_RELU || a == ACT_IDENTITY;
}

/* The types deepen builds, "a, b or c", in registry order. */
static void deepen_type_names(char *buf, size_t len)
{
    const char *names[64];
    int n = 0;
    for (int i = 0; i < layer_type_count && n < 64; i++)
        if (layer_types[i]->deepen)
            names[n++] = layer_types[i]->name;
    join_names(buf, len, names, n, " or ");
}

void do_deepen(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    const char *x = st->name;
    if (!x || !st->name2)
        return;
    const layer_type *type = st->layer_type ? layer_type_find(st->layer_type) : NULL;
    if (!type || !type->deepen) {
        char names[256];
        deepen_type_names(names, sizeof names);
        diag_error(E->d, st->layer_type_loc.line ? st->layer_type_loc : st->loc,
                   "deepen builds a %s layer, not '%s'", names,
                   st->layer_type ? st->layer_type : "");
        poison(E, st->name2);
        return;
    }
    const deepen_spec *ds = type->deepen;
    layer *X = NULL;
    node_kind xk = node_kind_of(E, x, &X);
    if (xk == NK_NONE) {
        find_layer_or_report(E, x, st->name_loc);
        poison(E, st->name2);
        return;
    }
    if (X && (X->type->flags & LT_LOSS)) {
        diag_error(E->d, st->name_loc, "'%s' is an output layer: nothing can follow it", x);
        note_defined(E, X);
        poison(E, st->name2);
        return;
    }
    activation_kind act = ACT_IDENTITY;
    if (ds->keeps_activation && X && (X->type->flags & LT_HAS_ACTIVATION)) {
        act = X->activation;
        if (!idempotent(act)) {
            diag_error(E->d, st->name_loc, "deepen needs an activation with phi(phi(x)) = phi(x) "
                       "(relu, identity); '%s' uses %s", x, activation_names[act]);
            note_defined(E, X);
            poison(E, st->name2);
            return;
        }
    }
    int64_t size = node_size(E, x);
    if (type->flags & LT_CHANNELS_IN) {    /* an identity convolution: as many channels */
        int ii = model_input_index(m, x);
        if (X && (X->type->flags & (LT_CHANNELS_IN | LT_CHANNELS_THROUGH)) &&
            X->out_shape.kind == SHAPE_CNN) {
            size = X->n_out;
        } else if (ii >= 0 && m->inputs[ii].kind == INPUT_CONVOLUTIONAL) {
            size = m->inputs[ii].c;
        } else {
            diag_error(E->d, st->name_loc, "deepen with %s needs '%s' to be a convolutional or "
                       "normalisation layer with convolutional output (its channels)",
                       type->name, x);
            poison(E, st->name2);
            return;
        }
    }
    if (size < 1) {
        diag_error(E->d, st->name_loc, "the width of '%s' is unknown here, so deepen cannot "
                   "build an identity layer after it", x);
        poison(E, st->name2);
        return;
    }
    for (int i = 0; i < st->n_opts; i++)
        diag_error(E->d, st->opts[i].name_loc, "deepen takes no options (the new layer is "
                   "initialised to the identity)");
    if (st->n_opts > 0)
        return;
    if (model_has_node(m, st->name2)) {
        layer *D = model_find_layer(m, st->name2);
        diag_error(E->d, st->name2_loc, "a layer named '%s' already exists", st->name2);
        if (D)
            note_defined(E, D);
        return;
    }
    layer *L = layer_new(type, st->name2);
    if (!L) {
        ectx_oom(E);
        return;
    }
    L->loc = st->name2_loc;
    L->n_in = size;
    L->n_out = size;
    L->activation = act;
    L->has_bias = true;
    if (ds->configure)
        ds->configure(L);
    const char *in[1] = {x};
    layer_set_inputs(L, in, 1);
    L->edit = EDIT_NEW;
    if (E->wmode && ds->identity_params(L) != 0) {
        ectx_oom(E);
        layer_free(L);
        return;
    }
    redirect_consumers(E, x, st->name2, NULL);
    if (!add_layer(E, L))
        return;
    place_after(m, m->n_layers - 1, model_layer_index(m, x));
    linfo *li = linfo_get(E, L);
    if (li)
        li->size_stmt = E->cur;
    if (ds->caveat && !E->wmode)   /* once, at check time (run applies the edits twice) */
        diag_warning(E->d, st->loc, "'%s' %s", st->name2, ds->caveat);
}
