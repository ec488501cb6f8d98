/* executor.c: the execution plan over a model graph and its forward pass. */
#include "runtime/graph/executor.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"

void *exec_calloc(size_t n, size_t size) { return calloc(n ? n : 1, size); }

void exec_plan_free(exec_plan *p)
{
    if (!p)
        return;
    int slots = p->in_off ? p->in_off[p->n] : 0;
    for (int i = 0; i < p->n && p->act; i++)
        tensor_release(&p->act[i]);
    for (int k = 0; k < slots; k++) {
        if (p->drop_in)
            tensor_release(&p->drop_in[k]);
        if (p->drop_mask)
            tensor_release(&p->drop_mask[k]);
    }
    free(p->order);
    free(p->in_off);
    free(p->src);
    free(p->run);
    free(p->act);
    free(p->times);
    free(p->in_mask);
    free(p->out_mask);
    free(p->keep);
    free(p->last_use);
    free(p->drop_in);
    free(p->drop_mask);
    free(p->dropped);
    free(p->ins);
    free(p);
}

exec_status exec_plan_build(exec_plan **out, model *m, struct diag_ctx *d)
{
    *out = NULL;
    int n = m->n_layers;
    exec_plan *p = exec_calloc(1, sizeof *p);
    if (!p)
        return EXEC_NO_MEMORY;
    p->m = m;
    p->n = n;
    p->failed_layer = -1;
    p->order = exec_calloc((size_t)n, sizeof *p->order);
    p->in_off = exec_calloc((size_t)n + 1, sizeof *p->in_off);
    if (!p->order || !p->in_off) {
        exec_plan_free(p);
        return EXEC_NO_MEMORY;
    }
    if (model_infer_shapes(m, d) != 0 || model_topo_order(m, p->order, d) != 0) {
        exec_plan_free(p);
        return EXEC_GRAPH_ERRORS;
    }
    int slots = 0;
    for (int i = 0; i < n; i++) {
        p->in_off[i] = slots;
        slots += m->layers[i]->n_inputs;
        if (m->layers[i]->n_inputs > p->max_in)
            p->max_in = m->layers[i]->n_inputs;
    }
    p->in_off[n] = slots;
    p->src = exec_calloc((size_t)slots, sizeof *p->src);
    p->run = exec_calloc((size_t)n, sizeof *p->run);
    p->act = exec_calloc((size_t)n, sizeof *p->act);
    p->times = exec_calloc((size_t)n, sizeof *p->times);
    p->in_mask = exec_calloc((size_t)n, sizeof *p->in_mask);
    p->out_mask = exec_calloc((size_t)n, sizeof *p->out_mask);
    p->keep = exec_calloc((size_t)n, sizeof *p->keep);
    p->last_use = exec_calloc((size_t)n, sizeof *p->last_use);
    p->drop_in = exec_calloc((size_t)slots, sizeof *p->drop_in);
    p->drop_mask = exec_calloc((size_t)slots, sizeof *p->drop_mask);
    p->dropped = exec_calloc((size_t)slots, sizeof *p->dropped);
    p->ins = exec_calloc((size_t)p->max_in, sizeof *p->ins);
    if (!p->src || !p->run || !p->act || !p->times || !p->in_mask || !p->out_mask || !p->keep ||
        !p->last_use || !p->drop_in || !p->drop_mask || !p->dropped || !p->ins) {
        exec_plan_free(p);
        return EXEC_NO_MEMORY;
    }
    for (int i = 0; i < n; i++) {
        const layer *L = m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            int li = model_layer_index(m, L->inputs[k]);
            int ii = li < 0 ? model_input_index(m, L->inputs[k]) : -1;
            assert(li >= 0 || ii >= 0);   /* model_topo_order checked the edges */
            p->src[p->in_off[i] + k] = li >= 0 ? li : -1 - ii;
        }
        p->last_use[i] = -1;
    }
    *out = p;
    return EXEC_OK;
}

int exec_plan_select(exec_plan *p, const char *const *names, int n_names, bool release_early)
{
    const model *m = p->m;
    for (int i = 0; i < p->n; i++) {
        p->run[i] = (exec_layer_run){0};
        p->keep[i] = false;
        p->last_use[i] = -1;
    }
    p->release_early = release_early;
    for (int j = 0; j < n_names; j++) {
        int li = model_layer_index(m, names[j]);
        if (li >= 0) {
            p->keep[li] = true;
            p->run[li].active = true;
        } else if (model_input_index(m, names[j]) < 0) {
            return j + 1;
        }
    }
    /* Every ancestor of a selected layer (reverse topological sweep). */
    for (int r = p->n - 1; r >= 0; r--) {
        int i = p->order[r];
        if (!p->run[i].active)
            continue;
        for (int k = p->in_off[i]; k < p->in_off[i + 1]; k++)
            if (p->src[k] >= 0)
                p->run[p->src[k]].active = true;
    }
    for (int r = 0; r < p->n; r++) {
        int i = p->order[r];
        if (!p->run[i].active)
            continue;
        for (int k = p->in_off[i]; k < p->in_off[i + 1]; k++)
            if (p->src[k] >= 0)
                p->last_use[p->src[k]] = r;
    }
    return 0;
}

int exec_act_shape(const act_shape *s, int64_t B, int64_t T, int64_t *shape)
{
    switch (s->kind) {
    case SHAPE_RNN:
        shape[0] = T;
        shape[1] = B;
        shape[2] = s->size;
        return 3;
    case SHAPE_CNN:
        if (s->h <= 0)
            break;
        shape[0] = B;       /* NCHW */
        shape[1] = s->c;
        shape[2] = s->h;
        shape[3] = s->w;
        return 4;
    case SHAPE_FF:
        break;
    }
    shape[0] = B;
    shape[1] = s->size;
    return 2;
}

int exec_ensure(tensor *t, int ndim, const int64_t *shape)
{
    int64_t n = shape_count(ndim, shape);
    if (n < 0)
        return -1;
    if (t->data && !t->borrowed && t->size == n) {
        t->ndim = ndim;
        for (int i = 0; i < TENSOR_MAX_DIMS; i++)
            t->shape[i] = i < ndim ? shape[i] : 0;
        return 0;
    }
    tensor_release(t);
    return tensor_alloc(t, ndim, shape);
}

/* Inverted dropout of input slot k into p->drop_in[k], with its multipliers in
 * p->drop_mask[k] (the same masks as a `dropout` layer in that place would draw). */
static int apply_dropout(exec_plan *p, int k, const tensor *x, double rate, rng *r)
{
    if (exec_ensure(&p->drop_in[k], x->ndim, x->shape) ||
        exec_ensure(&p->drop_mask[k], x->ndim, x->shape))
        return -1;
    dropout_fill(r, rate, x->data, p->drop_in[k].data, p->drop_mask[k].data, x->size);
    return 0;
}

static int failed(exec_plan *p, int i)
{
    p->failed_layer = i;
    return -1;
}

static bool has_weights(const layer *L, const exec_feed *f)
{
    if (!L->type->param_specs)
        return true;
    param_spec specs[LAYER_MAX_PARAMS];
    int np = L->type->param_specs(L, specs);
    for (int k = 0; k < np; k++) {
        if (!L->params[k].data ||
            L->params[k].size != shape_count(specs[k].ndim, specs[k].shape)) {
            if (f->err && f->err_len)
                snprintf(f->err, f->err_len,
                         "layer '%s' has no weights for %s (load or initialise them)", L->name,
                         specs[k].key);
            return false;
        }
    }
    return true;
}

/* The inputs of layer i (dropped in training when asked), the mask reaching it and the time
 * steps of its recurrent inputs (-1 when it has none). */
static int gather_inputs(exec_plan *p, const exec_feed *f, int i, const float **mask,
                         int64_t *t_steps)
{
    const model *m = p->m;
    const layer *L = m->layers[i];
    const exec_layer_run *run = &p->run[i];
    *mask = NULL;
    *t_steps = -1;
    for (int k = 0; k < L->n_inputs; k++) {
        int sk = p->in_off[i] + k, src = p->src[sk];
        const tensor *x = src >= 0 ? &p->act[src] : f->inputs[-1 - src];
        const float *xm = src >= 0 ? p->out_mask[src] : (f->masks ? f->masks[-1 - src] : NULL);
        if (!*mask)
            *mask = xm;
        bool rnn = src >= 0 ? m->layers[src]->out_shape.kind == SHAPE_RNN
                            : m->inputs[-1 - src].kind == INPUT_RECURRENT;
        if (rnn) {
            int64_t ts = src >= 0 ? p->times[src] : x->shape[0];
            if (*t_steps >= 0 && ts != *t_steps) {
                if (f->err && f->err_len)
                    snprintf(f->err, f->err_len,
                             "layer '%s': its inputs have %lld and %lld time steps", L->name,
                             (long long)*t_steps, (long long)ts);
                return -1;
            }
            *t_steps = ts;
        }
        p->dropped[sk] = false;
        if (run->input_dropout > 0.0) {
            if (apply_dropout(p, sk, x, run->input_dropout, f->rng))
                return -1;
            x = &p->drop_in[sk];
            p->dropped[sk] = true;
        }
        p->ins[k] = x;
    }
    if (f->first_input_mask)
        *mask = f->masks && m->n_inputs > 0 ? f->masks[0] : NULL;
    return 0;
}

int exec_forward(exec_plan *p, const exec_feed *f)
{
    model *m = p->m;
    p->failed_layer = -1;
    if (f->err && f->err_len)
        f->err[0] = '\0';
    for (int r = 0; r < p->n; r++) {
        int i = p->order[r];
        const exec_layer_run *run = &p->run[i];
        if (!run->active)
            continue;
        layer *L = m->layers[i];
        if (f->check_weights && !has_weights(L, f))
            return failed(p, i);
        const float *mask;
        int64_t t_steps;
        if (gather_inputs(p, f, i, &mask, &t_steps) != 0)
            return failed(p, i);
        p->in_mask[i] = mask;
        p->out_mask[i] = L->out_shape.kind == SHAPE_RNN ? mask : NULL;
        if (L->out_shape.kind == SHAPE_RNN) {
            if (t_steps < 0)
                t_steps = f->time;
            if (t_steps < 0) {
                if (f->err && f->err_len)
                    snprintf(f->err, f->err_len,
                             "layer '%s' gives recurrent output from feed-forward input",
                             L->name);
                return failed(p, i);
            }
            p->times[i] = t_steps;
        }
        int64_t shape[TENSOR_MAX_DIMS];
        int nd = exec_act_shape(&L->out_shape, f->batch, p->times[i], shape);
        if (exec_ensure(&p->act[i], nd, shape))
            return failed(p, i);
        if (run->identity) {
            memcpy(p->act[i].data, p->ins[0]->data, (size_t)p->act[i].size * sizeof(float));
            continue;
        }
        char ferr[256] = "";
        fwd_ctx c = {.in = p->ins, .n_in = L->n_inputs, .out = &p->act[i],
                     .training = run->training, .rng = f->rng, .mask = mask,
                     .carry_state = f->carry_state, .err = ferr, .err_len = sizeof ferr};
        /* A layer's input dropout is the plan's (above), the one implementation for every
         * layer type; only the `dropout` layer type drops (with c.rng) in its own forward. */
        if (L->type->forward(L, &c) != 0) {
            if (ferr[0] && f->err && f->err_len)
                snprintf(f->err, f->err_len, "%s", ferr);
            return failed(p, i);
        }
        if (!p->release_early)
            continue;
        /* Release activations whose last consumer has run. */
        for (int k = p->in_off[i]; k < p->in_off[i + 1]; k++) {
            int s = p->src[k];
            if (s >= 0 && p->last_use[s] == r && !p->keep[s])
                tensor_release(&p->act[s]);
        }
    }
    return 0;
}
