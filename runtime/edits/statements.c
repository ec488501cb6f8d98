/* statements.c: the structural statements of a script (remove, add, replace, insert, resize,
 * rename, set, outputs, inputs, freeze), applied one at a time to the model being edited. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/edits/edit_impl.h"
#include "runtime/nn/layer_options.h"

/* ---- statements ---------------------------------------------------------------------------- */

void do_remove(ectx *E, const ir_stmt *st)
{
    layer *L = find_layer_or_report(E, st->name, st->name_loc);
    if (!L)
        return;
    remove_layer_at(E, model_layer_index(E->m, st->name), (st->flags & IRF_KEEP_CONNECTIONS) != 0);
}

void do_remove_output(ectx *E, const ir_stmt *st)
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

void do_remove_last(ectx *E, const ir_stmt *st)
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
    if (type_node_kind(L->type) == NK_PARAM && layer_type_takes_n_out(L->type) && L->n_out < 1) {
        diag_error(E->d, st->loc, "%s %s '%s' needs n_out (the number of units)",
                   ir_kind_names[st->kind], L->type->name, L->name);
        return false;
    }
    return true;
}

/* n_in of a new parameterised layer from what flows into it. */
static void infer_new_n_in(ectx *E, layer *L)
{
    if (type_node_kind(L->type) != NK_PARAM || (L->type->flags & (LT_INDEX_INPUT | LT_CHANNELS_IN)) ||
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

void do_add(ectx *E, const ir_stmt *st)
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

void do_replace(ectx *E, const ir_stmt *st)
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

void do_insert(ectx *E, const ir_stmt *st)
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

void do_resize(ectx *E, const ir_stmt *st)
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
        grow_target_widths(&tg[i], delta);
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

void do_rename(ectx *E, const ir_stmt *st)
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

void do_set(ectx *E, const ir_stmt *st)
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

void do_outputs(ectx *E, const ir_stmt *st)
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

void do_inputs(ectx *E, const ir_stmt *st)
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

void collect_freeze(ectx *E, const ir_stmt *st)
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
