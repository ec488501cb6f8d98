/* shapes.c: shape inference over the model graph, parameter totals and freezing through a
 * layer's ancestors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/graph/graph_impl.h"
#include "runtime/graph/model.h"
#include "runtime/graph/validate.h"

/* ---- shape inference ---- */

static act_shape input_shape(const model_input *in)
{
    act_shape s = {0};
    switch (in->kind) {
    case INPUT_FEED_FORWARD:
        s.kind = SHAPE_FF;
        s.size = in->size;
        break;
    case INPUT_RECURRENT:
        s.kind = SHAPE_RNN;
        s.size = in->size;
        break;
    case INPUT_CONVOLUTIONAL:
        s.kind = SHAPE_CNN;
        s.h = in->h;
        s.w = in->w;
        s.c = in->c;
        s.size = in->h * in->w * in->c;
        break;
    }
    return s;
}

/* Infers shapes in the given order; ok[i] tells whether layer i's shape is known. */
static int infer_in_order(model *m, const graph *g, const int *order, bool *ok,
                          const graph_blame *b, struct diag_ctx *d)
{
    int errors = 0;
    act_shape *shapes = NULL;
    int cap = 0;
    for (int p = 0; p < m->n_layers; p++) {
        int i = order[p];
        layer *L = m->layers[i];
        ok[i] = false;
        int n = L->n_inputs;
        if (n > cap) {
            act_shape *s = realloc(shapes, (size_t)n * sizeof *s);
            if (!s) {
                errors++;
                if (d)
                    diag_error(d, L->loc, "out of memory while inferring shapes");
                break;
            }
            shapes = s;
            cap = n;
        }
        bool inputs_ok = true;
        for (int k = 0; k < n; k++) {
            int s = g->src[g->src_start[i] + k];
            if (s >= 0) {
                inputs_ok = inputs_ok && ok[s];
                shapes[k] = m->layers[s]->out_shape;
            } else if (s == NODE_UNDEFINED) {
                inputs_ok = false;
            } else {
                shapes[k] = input_shape(&m->inputs[-s - 1]);
            }
        }
        if (!inputs_ok)
            continue;   /* the error upstream was already reported */
        graph_problem pr = {.layer = i};
        if (n == 0) {
            pr.kind = GRAPH_NO_INPUTS;
            errors += graph_report(b, d, m, &pr);
            continue;
        }
        if (n > 1 && !(L->type->flags & LT_MULTI_INPUT)) {
            pr.kind = GRAPH_ONE_INPUT_ONLY;
            if (graph_report(b, d, m, &pr)) {
                errors++;
                continue;
            }
        }
        if (!L->type->infer)
            continue;
        int64_t given = L->n_in;
        char msg[256] = "";
        act_shape out = {0};
        if (L->type->infer(L, shapes, n, &out, msg, sizeof msg) != 0) {
            if (L->n_in_given)
                L->n_in = given;
            pr.kind = GRAPH_SHAPE;
            pr.msg = msg;
            pr.in = shapes;
            pr.n_in = n;
            errors += graph_report(b, d, m, &pr);
            continue;
        }
        if (L->n_in_given && given != L->n_in) {
            pr.kind = GRAPH_N_IN;
            pr.given = given;
            pr.inferred = L->n_in;
            pr.in = shapes;
            pr.n_in = n;
            L->n_in = given;
            if (graph_report(b, d, m, &pr)) {
                errors++;
                continue;
            }
        }
        L->in_shape = shapes[0];
        L->out_shape = out;
        ok[i] = true;
    }
    free(shapes);
    return errors;
}

int graph_infer_on(model *m, const graph *g, const int *order, const graph_blame *b,
                   struct diag_ctx *d)
{
    bool *ok = calloc((size_t)(m->n_layers > 0 ? m->n_layers : 1), sizeof *ok);
    if (!ok) {
        if (d)
            diag_error(d, loc_none(), "out of memory while inferring shapes");
        return 1;
    }
    int errors = infer_in_order(m, g, order, ok, b, d);
    free(ok);
    return errors;
}

int infer_all(model *m, const graph *g, int *order, struct diag_ctx *d)
{
    int errors = graph_check_inputs_on(m, g, NULL, d);
    if (!errors)
        errors = graph_order_on(m, g, order, NULL, d);
    if (errors)
        return errors;
    return graph_infer_on(m, g, order, NULL, d);
}

int model_infer_shapes(model *m, struct diag_ctx *d)
{
    graph g;
    int *order = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *order);
    if (!order || graph_build(m, &g)) {
        free(order);
        if (d)
            diag_error(d, loc_none(), "out of memory while inferring shapes");
        return 1;
    }
    int errors = infer_all(m, &g, order, d);
    graph_free(&g);
    free(order);
    return errors;
}

/* ---- totals and freezing ---- */

int64_t model_param_count(const model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        n += layer_param_count(m->layers[i]);
    return n;
}

int64_t model_frozen_param_count(const model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->frozen)
            n += layer_param_count(m->layers[i]);
    return n;
}

int model_freeze_through(model *m, const char *name)
{
    int start = model_layer_index(m, name);
    if (start < 0)
        return model_input_index(m, name) >= 0 ? 0 : -1;   /* an input has nothing to freeze */
    int n = m->n_layers;
    graph g;
    if (graph_build(m, &g))
        return -1;
    int *stack = malloc((size_t)n * sizeof *stack);
    bool *seen = calloc((size_t)n, sizeof *seen);
    if (!stack || !seen) {
        free(stack);
        free(seen);
        graph_free(&g);
        return -1;
    }
    int sp = 0;
    stack[sp++] = start;
    seen[start] = true;
    while (sp > 0) {
        int i = stack[--sp];
        m->layers[i]->frozen = true;
        for (int k = g.src_start[i]; k < g.src_start[i + 1]; k++) {
            int j = g.src[k];
            if (j >= 0 && !seen[j]) {
                seen[j] = true;
                stack[sp++] = j;
            }
        }
    }
    free(stack);
    free(seen);
    graph_free(&g);
    return 0;
}


/* ---- a convolutional input of another size ---- */

/* Whether every layer's parameters still have the shapes of its specs. */
static bool params_fit(const model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        if (n != L->n_params && L->n_params)
            return false;
        for (int p = 0; p < L->n_params && p < n; p++) {
            if (L->params[p].ndim != specs[p].ndim)
                return false;
            for (int k = 0; k < specs[p].ndim; k++)
                if (L->params[p].shape[k] != specs[p].shape[k])
                    return false;
        }
    }
    return true;
}

int model_resize_input(model *m, int k, int64_t h, int64_t w, char *err, size_t err_len)
{
    model_input *in = &m->inputs[k];
    if (in->kind != INPUT_CONVOLUTIONAL) {
        snprintf(err, err_len, "input '%s' is not convolutional", in->name);
        return -1;
    }
    if (in->h == h && in->w == w)
        return 0;
    const int64_t old_h = in->h, old_w = in->w;
    in->h = h;
    in->w = w;
    in->size = in->c * h * w;
    if (model_infer_shapes(m, NULL) == 0 && params_fit(m))
        return 0;
    snprintf(err, err_len, "input '%s' is %lld x %lld x %lld; the model's layers do not take "
             "%lld x %lld x %lld", in->name, (long long)in->c, (long long)old_h,
             (long long)old_w, (long long)in->c, (long long)h, (long long)w);
    in->h = old_h;
    in->w = old_w;
    in->size = in->c * old_h * old_w;
    model_infer_shapes(m, NULL);
    return -1;
}
