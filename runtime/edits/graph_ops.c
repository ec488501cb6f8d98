/* graph_ops.c: the graph surgery primitives of the edits: add, place, redirect and remove
 * layers, and the open ends and removal log that go with them. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/edits/edit_impl.h"

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

void rename_in_list(char **v, int n, const char *from, const char *to, ectx *E)
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

void drop_open_end(ectx *E, const char *name)
{
    for (int i = 0; i < E->n_open; i++)
        if (!strcmp(E->open_ends[i], name)) {
            free(E->open_ends[i]);
            E->open_ends[i--] = E->open_ends[--E->n_open];
        }
}

void add_open_end(ectx *E, const char *name)
{
    if (!ENSURE(E, E->open_ends, E->n_open, E->cap_open))
        return;
    char *c = estrdup(E, name);
    if (c)
        E->open_ends[E->n_open++] = c;
}

void clear_open_ends(ectx *E)
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

void unlog_removed(ectx *E, const char *base_name, int stmt)
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
void remove_layer_at(ectx *E, int idx, bool keep)
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
