/* edit.c: applies a script's structural edits (remove, add, replace, insert, resize, rename,
 * set, outputs, inputs), then the frozen set and fine_tune, and validates the final graph. */
#include "runtime/edits/edit.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/checked.h"
#include "runtime/base/limits.h"
#include "runtime/edits/edit_impl.h"
#include "runtime/nn/init.h"
#include "runtime/train/train.h"

/* ---- the final graph ---------------------------------------------------------------------- */

/* The final graph is checked by the graph's own validation (runtime/graph/validate.h); the
 * hook below words each problem for a script and places it on the statement that caused it. */

/* Node ids: model inputs 0..ni-1, layers ni.. (in m->layers order); -1 for no node. A name is
 * resolved as the graph resolves it: a layer before an input of the same name. */
static int node_id(const model *m, const char *name)
{
    int li = model_layer_index(m, name);
    return li >= 0 ? m->n_inputs + li : model_input_index(m, name);
}

/* Latest script statement that defined one of the layers, for placing a cycle error. */
static int layer_stmt(ectx *E, layer *L)
{
    linfo *li = linfo_find(E, L);
    return li ? li->size_stmt : -1;
}

/* Reports names removed with keep connections and never brought back; returns false when
 * there is one. */
static bool check_pending_connections(ectx *E)
{
    model *m = E->m;
    bool ok = true;
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
    return ok;
}

static bool check_outputs(ectx *E)
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
        if (model_has_node(m, m->outputs[i]) || find_pending(E, m->outputs[i]))
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

static int64_t flow_size(ectx *E, fsz *memo, int id, int *cause)
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
        s = L->n_out > 0 ? L->n_out * unit_copies(L) : -1;
        if (L->type->flags & LT_CHANNELS_IN)   /* n_out channels of a size shapes tell */
            s = L->out_shape.kind == SHAPE_CNN && L->out_shape.c == L->n_out ? L->out_shape.size
                                                                              : -1;
        break;
    case NK_PASS:
    case NK_ELEM:
        if (L->n_inputs > 0) {
            s = flow_size(E, memo, node_id(m, L->inputs[0]), &ci);
            if (ci > c)
                c = ci;
        }
        break;
    case NK_MERGE:
        s = 0;
        for (int k = 0; k < L->n_inputs && s >= 0; k++) {
            int64_t t = flow_size(E, memo, node_id(m, L->inputs[k]), &ci);
            if (t < 0 || !checked_add(s, t, &s))
                s = -1;
            if (ci > c)
                c = ci;
        }
        if (L->n_inputs == 0)
            s = -1;
        break;
    default:
        s = L->out_shape.size > 0 ? L->out_shape.size : -1;
        /* channels edits reach these: their sizes are shape inference's to tell */
        if ((L->type->flags & LT_CHANNELS_THROUGH) ||
            (layer_units(L) && layer_units(L)->flow == UNITS_FOLLOW))   /* batch norm, depthwise */
            s = -1;
        break;
    }
    f->size = s;
    f->cause = c;
    f->state = 2;
    *cause = c;
    return s;
}

/* " (C x H x W text, C x H x W)" when node `name` emits `flow` features as a convolutional
 * shape, else "". Returns buf. */
static const char *cnn_shape_note(const ectx *E, const char *name, int64_t flow, char *buf,
                                  size_t n)
{
    buf[0] = '\0';
    const layer *P = model_find_layer(E->m, name);
    int ii = P ? -1 : model_input_index(E->m, name);
    act_shape s = P ? P->out_shape : (act_shape){0};
    if (ii >= 0 && E->m->inputs[ii].kind == INPUT_CONVOLUTIONAL)
        s = act_shape_cnn(E->m->inputs[ii].c, E->m->inputs[ii].h, E->m->inputs[ii].w);
    if (s.kind == SHAPE_CNN && s.size == flow) {
        char t[64];
        snprintf(buf, n, " (%s, C x H x W)", act_shape_text(&s, t, sizeof t));
    }
    return buf;
}

/* Every parameterised layer's n_in (what its weights are shaped for) against what flows in. */
static void check_sizes(ectx *E, fsz *memo)
{
    model *m = E->m;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (type_node_kind(L->type) != NK_PARAM ||
            (L->type->flags & (LT_INDEX_INPUT | LT_CHANNELS_IN)) || L->n_inputs != 1)
            continue;
        int cause;
        int64_t flow = flow_size(E, memo, node_id(m, L->inputs[0]), &cause);
        if (flow < 0 || flow == L->n_in)
            continue;
        linfo *li = linfo_find(E, L);
        char shape[96];
        cnn_shape_note(E, L->inputs[0], flow, shape, sizeof shape);
        bool trained = !(li && li->reinit) && L->edit != EDIT_NEW && L->edit != EDIT_REPLACED;
        int nin_stmt = li ? li->nin_stmt : -1;
        if (trained && L->n_in > 0) {
            if (nin_stmt >= 0 && nin_stmt > cause) {
                diag_error(E->d, ectx_stmt(E, nin_stmt)->loc, "n_in %" PRId64 " of '%s' disagrees "
                           "with the %" PRId64 " features that flow into it%s", L->n_in, L->name,
                           flow, shape);
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
                       " features that flow into it%s", L->n_in, L->name, flow, shape);
            if (ectx_stmt(E, nin_stmt)->kind != IR_ADD)
                note_defined(E, L);
        } else if (L->n_in_given && L->edit == EDIT_NEW) {
            diag_error(E->d, L->loc, "n_in %" PRId64 " of '%s' disagrees with the %" PRId64
                       " features that flow into it%s", L->n_in, L->name, flow, shape);
        } else {
            L->n_in = flow;
        }
    }
}

/* No parameter of the edited model passes LIMIT_TENSOR_ELEMENTS: reported at the latest
 * statement that sized the layer or what flows into it, before any weight is allocated. */
static void check_tensor_limit(ectx *E, fsz *memo)
{
    model *m = E->m;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        param_spec spec;
        if (!layer_param_over_limit(L, &spec))
            continue;
        linfo *li = linfo_find(E, L);
        int cause = li ? (li->size_stmt > li->nin_stmt ? li->size_stmt : li->nin_stmt) : -1;
        for (int k = 0; k < L->n_inputs; k++) {
            int c;
            flow_size(E, memo, node_id(m, L->inputs[k]), &c);
            if (c > cause)
                cause = c;
        }
        char shape[128];
        param_shape_text(&spec, shape, sizeof shape);
        diag_error(E->d, cause >= 0 ? ectx_stmt(E, cause)->loc : L->loc.line ? L->loc : ectx_loc(E),
                   "'%s' would have a parameter '%s' of %s elements, over the limit of %" PRId64
                   " elements per tensor", L->name, spec.key, shape,
                   (int64_t)LIMIT_TENSOR_ELEMENTS);
        if (cause >= 0)
            note_defined(E, L);
    }
}

/* What the blame hook needs: the edit state and the feature memo of check_sizes. */
typedef struct edit_blame {
    ectx *E;
    fsz *memo;
} edit_blame;

static void blame_no_inputs(ectx *E, layer *C)
{
    linfo *li = linfo_find(E, C);
    if (li && li->emptied_stmt >= 0) {
        diag_error(E->d, ectx_stmt(E, li->emptied_stmt)->loc, "removing '%s' leaves '%s' "
                   "without inputs", li->emptied_by ? li->emptied_by : "?", C->name);
        note_defined(E, C);
    } else {
        diag_error(E->d, C->loc.line ? C->loc : ectx_loc(E), "'%s' has no inputs", C->name);
    }
}

static graph_verdict blame_dangling(ectx *E, layer *C, const char *in)
{
    if (find_pending(E, in) || is_poisoned(E, in))
        return GRAPH_NOT_A_PROBLEM;   /* reported with the statement that removed it */
    if (E->inputs_stmt >= 0) {
        diag_error(E->d, ectx_stmt(E, E->inputs_stmt)->loc, "'%s' still takes '%s' as "
                   "input, which is no longer a model input", C->name, in);
        note_defined(E, C);
    } else {
        diag_error(E->d, C->loc.line ? C->loc : ectx_loc(E), "'%s' takes unknown input "
                   "'%s'", C->name, in);
    }
    return GRAPH_SAID;
}

static void blame_one_input(ectx *E, layer *C)
{
    linfo *li = linfo_find(E, C);
    src_loc at = li && li->size_stmt >= 0 ? ectx_stmt(E, li->size_stmt)->loc : C->loc;
    diag_error(E->d, at, "%s '%s' takes one input, got %d (join inputs with a merge "
               "vertex first)", C->type->name, C->name, C->n_inputs);
    note_defined(E, C);
}

/* At the latest statement that defined a member of the cycle, else at its first member. */
static void blame_cycle(ectx *E, const graph_problem *p)
{
    model *m = E->m;
    layer *u = m->layers[p->cycle[0]];
    char buf[1024];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s", u->name);
    int latest = -1;
    layer *culprit = u;
    for (int s = 1; s <= p->cycle_len && len < sizeof buf - 64; s++) {
        layer *Lk = m->layers[p->cycle[s % p->cycle_len]];
        len += (size_t)snprintf(buf + len, sizeof buf - len, " -> %s", Lk->name);
        int ls = layer_stmt(E, Lk);
        if (ls > latest) {
            latest = ls;
            culprit = Lk;
        }
    }
    src_loc at = latest >= 0 ? ectx_stmt(E, latest)->loc : culprit->loc;
    diag_error(E->d, at, "this edit creates a cycle: %s", buf);
}

/* At the latest statement that changed what the layer receives or is (else at its
 * definition). */
static void blame_shape(ectx *E, fsz *memo, const graph_problem *p)
{
    int v = p->layer;
    layer *L = E->m->layers[v];
    int cause = memo[v].state == 2 ? memo[v].cause : -1, ci;
    for (int k = 0; k < L->n_inputs; k++) {
        flow_size(E, memo, node_id(E->m, L->inputs[k]), &ci);
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
                   stmt_word(E, cause), L->name, p->msg);
        note_defined(E, L);
    } else {
        diag_error(E->d, L->loc.line ? L->loc : ectx_loc(E), "layer '%s': %s", L->name, p->msg);
    }
}

/* An n_in against the shapes' inference: check_sizes placed it when the features flowing in
 * were known from the edits; behind convolutional layers only shape inference knows them. */
static graph_verdict blame_n_in(ectx *E, fsz *memo, layer *L, const graph_problem *p)
{
    int cause;
    if (L->n_inputs == 1 && flow_size(E, memo, node_id(E->m, L->inputs[0]), &cause) >= 0)
        return GRAPH_NOT_A_PROBLEM;   /* check_sizes places these */
    char shape[80] = "";
    if (p->in && p->n_in > 0 && p->in[0].kind == SHAPE_CNN) {
        char t[64];
        snprintf(shape, sizeof shape, " (%s, C x H x W)", act_shape_text(&p->in[0], t, sizeof t));
    }
    linfo *li = linfo_find(E, L);
    const ir_stmt *ns = li && li->nin_stmt >= 0 ? ectx_stmt(E, li->nin_stmt) : NULL;
    const conf_arg *a = ns ? ir_opt(ns, "n_in") : NULL;
    src_loc at = a && a->value && a->value->loc.line ? a->value->loc
                 : ns ? ns->loc : L->loc.line ? L->loc : ectx_loc(E);
    diag_error(E->d, at, "n_in %lld of '%s' disagrees with the %lld features that flow into it "
               "from '%s'%s", (long long)p->given, L->name, (long long)p->inferred,
               L->n_inputs > 0 ? L->inputs[0] : "", shape);
    if (!ns || ns->kind != IR_ADD)
        note_defined(E, L);
    return GRAPH_SAID;
}

static graph_verdict edit_blame_report(void *ctx, struct diag_ctx *d, const model *m,
                                       const graph_problem *p)
{
    (void)d;   /* E->d, the same context */
    edit_blame *b = ctx;
    layer *L = m->layers[p->layer];
    switch (p->kind) {
    case GRAPH_NO_INPUTS: blame_no_inputs(b->E, L); break;
    case GRAPH_DANGLING_INPUT: return blame_dangling(b->E, L, L->inputs[p->input]);
    case GRAPH_ONE_INPUT_ONLY: blame_one_input(b->E, L); break;
    case GRAPH_CYCLE: blame_cycle(b->E, p); break;
    case GRAPH_SHAPE: blame_shape(b->E, b->memo, p); break;
    case GRAPH_N_IN: return blame_n_in(b->E, b->memo, L, p);
    }
    return GRAPH_SAID;
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

static void apply_freezes(ectx *E)
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
                    int id = node_id(m, A->inputs[k]);
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

/* The quiet hook of initial_shapes: only a cycle stops it. */
static graph_verdict quiet_report(void *ctx, struct diag_ctx *d, const model *m,
                                  const graph_problem *p)
{
    (void)ctx;
    (void)d;
    (void)m;
    return p->kind == GRAPH_CYCLE ? GRAPH_SAID : GRAPH_NOT_A_PROBLEM;
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
    graph_blame quiet = {.report = quiet_report};
    int *order = malloc(((size_t)m->n_layers + 1) * sizeof *order);
    if (order && graph_order(m, order, &quiet, NULL) == 0)
        graph_infer_shapes(m, order, &quiet, NULL);
    free(order);
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
    int *order = malloc(((size_t)m->n_layers + 1) * sizeof *order);
    fsz *memo = calloc((size_t)m->n_layers + 1, sizeof *memo);
    if (!order || !memo) {
        free(order);
        free(memo);
        ectx_oom(E);
        return;
    }
    edit_blame eb = {.E = E, .memo = memo};
    graph_blame blame = {.report = edit_blame_report, .ctx = &eb, .arity_early = true};
    bool ok = check_pending_connections(E);
    ok = graph_check_inputs(m, &blame, E->d) == 0 && ok;
    ok = check_outputs(E) && ok;
    ok = ok && graph_order(m, order, &blame, E->d) == 0;
    if (E->log)
        E->log->structure_ok = ok && !E->oom;
    if (ok) {
        check_sizes(E, memo);
        int before = diag_error_count(E->d);
        graph_infer_shapes(m, order, &blame, E->d);
        if (diag_error_count(E->d) == before)
            check_tensor_limit(E, memo);
    }
    free(order);
    free(memo);
    if (!E->wmode)
        for (int i = 0; i < m->n_layers; i++) {
            param_spec specs[LAYER_MAX_PARAMS];
            layer *L = m->layers[i];
            L->n_params = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        }
    apply_freezes(E);
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
                    int id = node_id(m, m->layers[i]->inputs[k]);
                    if (id >= 0)
                        used[id] = true;
                }
            for (int k = 0; k < m->n_outputs; k++) {
                int id = node_id(m, m->outputs[k]);
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
}

/* ---- driver ------------------------------------------------------------------------------- */

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
