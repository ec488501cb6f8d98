/* deepen.c: Net2DeeperNet: a new layer after an existing one, initialised so that the network
 * computes what it did: dense W = I, b = 0 with the layer's own idempotent activation; lstm
 * with identity activation, block-input weights I and saturated gates. */
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

/* Dense identity: W = I [n, n], b = 0. */
static int identity_dense(ectx *E, layer *L)
{
    param_spec ps[LAYER_MAX_PARAMS];
    int cnt = L->type->param_specs(L, ps);
    for (int k = 0; k < cnt; k++) {
        if (tensor_alloc(&L->params[k], ps[k].ndim, ps[k].shape) != 0) {
            ectx_oom(E);
            return -1;
        }
        if (!strcmp(ps[k].key, "W"))
            for (int64_t i = 0; i < L->n_out; i++)
                L->params[k].data[i * L->n_out + i] = 1.0f;
    }
    L->n_params = cnt;
    return 0;
}

/* LSTM as close to the identity as an LSTM gets, exact to float32 rounding for any input:
 * activation identity; W's block-input columns I, the gates' input weights 0; RW 0; biases:
 * block input 0, forget gate -S, output gate +S, input gate +S (S = 30: sigmoid(S) rounds to
 * 1.0f, sigmoid(-S) ~ 9e-14). Then c[t] = i*a + f*c[t-1] = x[t] (+ ~1e-13 c[t-1]) and
 * h[t] = o * c[t] = x[t]. */
static int identity_lstm(ectx *E, layer *L)
{
    param_spec ps[LAYER_MAX_PARAMS];
    int cnt = L->type->param_specs(L, ps);
    const int64_t n = L->n_out;
    const float S = (float)EDIT_LSTM_GATE_SATURATION;
    for (int k = 0; k < cnt; k++) {
        if (tensor_alloc(&L->params[k], ps[k].ndim, ps[k].shape) != 0) {
            ectx_oom(E);
            return -1;
        }
        float *p = L->params[k].data;
        if (!strcmp(ps[k].key, "W")) {
            for (int64_t i = 0; i < n; i++)
                p[i * 4 * n + i] = 1.0f;        /* block input a = x */
        } else if (!strcmp(ps[k].key, "b")) {
            for (int64_t j = 0; j < n; j++) {
                p[n + j] = -S;                  /* forget */
                p[2 * n + j] = S;               /* output */
                p[3 * n + j] = S;               /* input gate */
            }
        }
    }
    L->n_params = cnt;
    return 0;
}

void do_deepen(ectx *E, const ir_stmt *st)
{
    model *m = E->m;
    const char *x = st->name;
    if (!x || !st->name2)
        return;
    bool lstm = st->layer_type && !strcmp(st->layer_type, "lstm");
    if (!st->layer_type || (!lstm && strcmp(st->layer_type, "dense"))) {
        diag_error(E->d, st->layer_type_loc.line ? st->layer_type_loc : st->loc,
                   "deepen builds a dense or lstm layer, not '%s'",
                   st->layer_type ? st->layer_type : "");
        poison(E, st->name2);
        return;
    }
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
    if (!lstm && X && (X->type->flags & LT_HAS_ACTIVATION)) {
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
    layer *L = layer_new(lstm ? &layer_type_lstm : &layer_type_dense, st->name2);
    if (!L) {
        ectx_oom(E);
        return;
    }
    L->loc = st->name2_loc;
    L->n_in = size;
    L->n_out = size;
    L->activation = act;
    L->has_bias = true;
    if (lstm)
        L->forget_gate_bias = -EDIT_LSTM_GATE_SATURATION;
    const char *in[1] = {x};
    layer_set_inputs(L, in, 1);
    L->edit = EDIT_NEW;
    if (E->wmode && (lstm ? identity_lstm(E, L) : identity_dense(E, L)) != 0) {
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
    if (lstm && !E->wmode)   /* once, at check time (run applies the edits twice) */
        diag_warning(E->d, st->loc, "'%s' starts as an identity LSTM (identity activation, "
                     "forget gate 0, input and output gates 1): outputs are unchanged, but its "
                     "saturated gates learn slowly", st->name2);
}
