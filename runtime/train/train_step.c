/* train_step.c: one training step on the graph's execution plan: forward in training mode
 * (frozen frontier, dropout), backward from the loss layers, truncated BPTT segments, NaN
 * checks and updates. */
#include "runtime/train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/base/rng.h"
#include "runtime/graph/executor.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/nn/updater.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/train_impl.h"

/* What the trainer keeps between steps for one model, beside the plan (which holds the order,
 * the sources, the activations, the step masks and the dropped inputs). */
typedef struct trainer {
    model *m;
    int n;                    /* layers when built */
    exec_plan *plan;          /* active layers: the ancestors of (and) the loss outputs */
    bool *rg;                 /* needs backward: trainable, or a trainable layer below it */
    bool *trainable;          /* not frozen and has parameters */
    int *out_layer;           /* per model output: its layer index */
    tensor *grad;             /* per layer: dL/d(output), for rg layers */
    tensor *drop_din;         /* per source slot: din w.r.t. the dropped input */
    tensor **dins;            /* scratch for backward contexts (max_in) */
    rng drop_rng;
    int tb_fwd, tb_bwd;
    bool warned_tbptt;
} trainer;

static bool is_dropout_type(const layer *L) { return (L->type->flags & LT_STOCHASTIC) != 0; }

/* A borrowed view of the time slice [t0, t0 + len) of a time-major tensor. */
static void time_slice(tensor *v, const tensor *t, int64_t t0, int64_t len)
{
    *v = *t;
    int64_t step = t->size / (t->shape[0] > 0 ? t->shape[0] : 1);
    v->data = t->data + t0 * step;
    v->shape[0] = len;
    v->size = len * step;
    v->borrowed = true;
}

/* ---- building the trainer ---- */

static void trainer_free(trainer *t)
{
    if (!t)
        return;
    int slots = t->plan ? t->plan->in_off[t->n] : 0;
    for (int i = 0; i < t->n && t->grad; i++)
        tensor_release(&t->grad[i]);
    for (int k = 0; k < slots && t->drop_din; k++)
        tensor_release(&t->drop_din[k]);
    exec_plan_free(t->plan);
    free(t->rg);
    free(t->trainable);
    free(t->out_layer);
    free(t->grad);
    free(t->drop_din);
    free(t->dins);
    free(t);
}

static void oom(diag_ctx *d, const train_options *o, const char *what)
{
    tr_error(d, o->loc, "out of memory while training (%s)", what);
}

static trainer *trainer_build(model *m, train_options *o, diag_ctx *d)
{
    int n = m->n_layers;
    trainer *t = exec_calloc(1, sizeof *t);
    if (!t) {
        oom(d, o, "trainer");
        return NULL;
    }
    t->m = m;
    t->n = n;
    switch (exec_plan_build(&t->plan, m, d)) {
    case EXEC_OK:
        break;
    case EXEC_NO_MEMORY:
        oom(d, o, "trainer");
        trainer_free(t);
        return NULL;
    case EXEC_GRAPH_ERRORS:
        trainer_free(t);
        return NULL;
    }
    int slots = t->plan->in_off[n];
    t->rg = exec_calloc((size_t)n, sizeof *t->rg);
    t->trainable = exec_calloc((size_t)n, sizeof *t->trainable);
    t->out_layer = exec_calloc((size_t)m->n_outputs, sizeof *t->out_layer);
    t->grad = exec_calloc((size_t)n, sizeof *t->grad);
    t->drop_din = exec_calloc((size_t)slots, sizeof *t->drop_din);
    t->dins = exec_calloc((size_t)t->plan->max_in, sizeof *t->dins);
    if (!t->rg || !t->trainable || !t->out_layer || !t->grad || !t->drop_din || !t->dins) {
        oom(d, o, "trainer");
        trainer_free(t);
        return NULL;
    }
    /* Loss outputs. */
    for (int j = 0; j < m->n_outputs; j++) {
        int li = model_layer_index(m, m->outputs[j]);
        const layer *L = li >= 0 ? m->layers[li] : NULL;
        if (!L || !(L->type->flags & LT_LOSS) || L->loss == LOSS_NONE) {
            tr_error(d, o->loc,
                       "cannot train: model output '%s' is not an output layer with a loss "
                       "(output or rnn_output)", m->outputs[j]);
            trainer_free(t);
            return NULL;
        }
        t->out_layer[j] = li;
    }
    /* Forward is needed for every ancestor of an output. */
    exec_plan_select(t->plan, (const char *const *)m->outputs, m->n_outputs, false);
    /* Backward is needed for a layer that is trainable or has a trainable ancestor. */
    bool any_trainable = false;
    for (int r = 0; r < n; r++) {
        int i = t->plan->order[r];
        layer *L = m->layers[i];
        t->trainable[i] = !L->frozen && updater_param_count(L) > 0 && t->plan->run[i].active;
        bool rg = t->trainable[i];
        for (int k = t->plan->in_off[i]; k < t->plan->in_off[i + 1]; k++)
            if (t->plan->src[k] >= 0 && t->rg[t->plan->src[k]])
                rg = true;
        t->rg[i] = rg && t->plan->run[i].active;
        any_trainable |= t->trainable[i];
        if (t->plan->run[i].active && L->type->param_specs) {
            param_spec specs[LAYER_MAX_PARAMS];
            int np = L->type->param_specs(L, specs);
            for (int p = 0; p < np; p++)
                if (!L->params[p].data ||
                    L->params[p].size != shape_count(specs[p].ndim, specs[p].shape)) {
                    tr_error(d, o->loc, "cannot train: layer '%s' has no weights for %s",
                               L->name, specs[p].key);
                    trainer_free(t);
                    return NULL;
                }
        }
    }
    /* Gradients and updater state for trainable layers only; frozen layers hold neither. */
    for (int i = 0; i < n; i++) {
        layer *L = m->layers[i];
        if (!t->trainable[i]) {
            updater_layer_release(L);
            continue;
        }
        if (updater_layer_prepare(L) != 0) {
            oom(d, o, L->name);
            trainer_free(t);
            return NULL;
        }
    }
    if (!any_trainable)
        tr_warning(d, o->loc, "every layer that reaches an output is frozen: nothing to train");
    /* A later fit of the same model continues with other masks than the first one drew; a
     * resumed fit continues its generator where the checkpoint left it. */
    if (o->resume && o->resume->has_dropout)
        t->drop_rng = o->resume->dropout;
    else
        rng_seed_stream(&t->drop_rng, train_options_seed(m, o) ^
                        (0x9E3779B97F4A7C15ull * (uint64_t)m->iteration_count), "dropout");
    train_tbptt_lengths(m, &t->tb_fwd, &t->tb_bwd);
    return t;
}

static trainer *trainer_get(model *m, train_options *o, diag_ctx *d)
{
    if (o->state && (o->state->m != m || o->state->n != m->n_layers)) {
        trainer_free(o->state);
        o->state = NULL;
    }
    if (!o->state)
        o->state = trainer_build(m, o, d);
    return o->state;
}

bool train_dropout_rng(const train_options *o, rng *out)
{
    if (!o->state)
        return false;
    *out = o->state->drop_rng;
    return true;
}

void train_options_init(train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 1;
    o->progress_mode = TRAIN_PROGRESS_AUTO;
}

void train_options_release(train_options *o)
{
    if (!o || !o->state)
        return;
    model *m = o->state->m;
    for (int i = 0; i < m->n_layers && i < o->state->n; i++) {
        layer *L = m->layers[i];
        if (L->state && L->type->free_state)
            L->type->free_state(L);
    }
    trainer_free(o->state);
    o->state = NULL;
}

/* ---- one iteration ---- */

/* The inputs, labels and masks of one iteration (a whole batch, or one tbptt segment). */
typedef struct seg {
    const tensor *const *inputs;
    const tensor *labels;
    const float *const *masks;
    const float *const *label_masks;
    int64_t B, T;
    bool carry;
} seg;

static const tensor *source_tensor(const exec_plan *p, const seg *s, int src)
{
    return src >= 0 ? &p->act[src] : s->inputs[-1 - src];
}

/* How each layer runs in this forward pass; then the pass on the plan. */
static int forward_pass(trainer *t, const seg *s, train_options *o, diag_ctx *d)
{
    model *m = t->m;
    exec_plan *plan = t->plan;
    for (int r = 0; r < t->n; r++) {
        int i = plan->order[r];
        exec_layer_run *run = &plan->run[i];
        if (!run->active)
            continue;
        layer *L = m->layers[i];
        bool frozen_dropout = L->frozen && is_dropout_type(L);
        /* Frozen layers run in inference mode unless a trainable layer below needs their
         * backward (then in training mode for the cache, still without dropout). */
        bool training = (!L->frozen || t->rg[i]) && !frozen_dropout;
        double p = L->train.dropout;
        bool drop = training && !L->frozen && p > 0.0 && !is_dropout_type(L) &&
                    !(L->type->flags & LT_INDEX_INPUT);
        run->training = training;
        run->identity = frozen_dropout;   /* inference-mode dropout is the identity */
        run->input_dropout = drop ? p : 0.0;
    }
    char err[256] = "";
    exec_feed f = {.inputs = s->inputs, .masks = s->masks, .batch = s->B, .time = s->T,
                   .rng = &t->drop_rng, .carry_state = s->carry, .err = err,
                   .err_len = sizeof err};
    if (exec_forward(plan, &f) != 0) {
        if (err[0])
            tr_error(d, o->loc, "%s", err);
        else
            oom(d, o, m->layers[plan->failed_layer]->name);
        return -1;
    }
    return 0;
}

static int backward_pass(trainer *t, const seg *s, train_options *o, diag_ctx *d)
{
    model *m = t->m;
    for (int i = 0; i < t->n; i++) {
        if (!t->rg[i])
            continue;
        if (exec_ensure(&t->grad[i], t->plan->act[i].ndim, t->plan->act[i].shape)) {
            oom(d, o, m->layers[i]->name);
            return -1;
        }
        tensor_zero(&t->grad[i]);
        if (t->trainable[i])
            updater_layer_zero_grads(m->layers[i]);
    }
    for (int r = t->n - 1; r >= 0; r--) {
        int i = t->plan->order[r];
        if (!t->rg[i])
            continue;
        layer *L = m->layers[i];
        const tensor *labels = NULL;
        const float *label_mask = NULL;
        for (int j = 0; j < m->n_outputs; j++)
            if (t->out_layer[j] == i) {
                labels = &s->labels[j];
                label_mask = s->label_masks && s->label_masks[j] ? s->label_masks[j]
                                                                 : t->plan->in_mask[i];
            }
        bool any_din = false;
        for (int k = 0; k < L->n_inputs; k++) {
            int sk = t->plan->in_off[i] + k, src = t->plan->src[sk];
            t->plan->ins[k] = t->plan->dropped[sk] ? &t->plan->drop_in[sk] : source_tensor(t->plan, s, src);
            t->dins[k] = NULL;
            if (src < 0 || !t->rg[src] || (L->type->flags & LT_INDEX_INPUT))
                continue;
            any_din = true;
            if (t->plan->dropped[sk]) {
                if (exec_ensure(&t->drop_din[sk], t->grad[src].ndim, t->grad[src].shape)) {
                    oom(d, o, L->name);
                    return -1;
                }
                tensor_zero(&t->drop_din[sk]);
                t->dins[k] = &t->drop_din[sk];
            } else {
                t->dins[k] = &t->grad[src];
            }
        }
        if (L->frozen && is_dropout_type(L)) {
            /* Inference-mode dropout is the identity. */
            if (t->dins[0]) {
                float *dx = t->dins[0]->data;
                const float *dy = t->grad[i].data;
                for (int64_t e = 0; e < t->grad[i].size; e++)
                    dx[e] += dy[e];
            }
        } else if (t->trainable[i] || any_din) {
            bwd_ctx c = {.in = t->plan->ins, .n_in = L->n_inputs, .out = &t->plan->act[i],
                         .dout = &t->grad[i], .din = t->dins,
                         .grads = t->trainable[i] ? L->grads : NULL, .labels = labels,
                         .mask = t->plan->in_mask[i], .label_mask = label_mask};
            o->backward_calls++;
            if (L->type->backward(L, &c) != 0) {
                oom(d, o, L->name);
                return -1;
            }
        }
        for (int k = 0; k < L->n_inputs; k++) {
            int sk = t->plan->in_off[i] + k;
            if (!t->dins[k] || !t->plan->dropped[sk])
                continue;
            float *dx = t->grad[t->plan->src[sk]].data;
            const float *dd = t->drop_din[sk].data, *mk = t->plan->drop_mask[sk].data;
            for (int64_t e = 0; e < t->drop_din[sk].size; e++)
                dx[e] += dd[e] * mk[e];
        }
    }
    return 0;
}

static const char *nonfinite_name(double x) { return isnan(x) ? "NaN" : "infinite"; }

static const char *param_key(const layer *L, int p)
{
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
    return p >= 0 && p < n ? specs[p].key : "?";
}

static void diverged_note(diag_ctx *d, const train_options *o, long long it)
{
    if (it > 1)
        tr_note(d, o->loc, "the weights after iteration %lld are kept; a smaller learning rate "
                "or gradient_normalization may help", it - 1);
    else
        tr_note(d, o->loc, "the weights are unchanged; a smaller learning rate or "
                "gradient_normalization may help");
}

/* Forward, loss, backward, checks and updates for one iteration. */
static int iteration(trainer *t, const seg *s, train_options *o, double *loss, diag_ctx *d)
{
    model *m = t->m;
    long long it = (long long)m->iteration_count + 1;
    if (forward_pass(t, s, o, d) != 0)
        return -1;
    double total = 0.0;
    for (int j = 0; j < m->n_outputs; j++) {
        int li = t->out_layer[j];
        const float *lm = s->label_masks && s->label_masks[j] ? s->label_masks[j] : t->plan->in_mask[li];
        total += loss_layer_score(m->layers[li], &t->plan->act[li], &s->labels[j], lm);
    }
    *loss = total;
    if (backward_pass(t, s, o, d) != 0)
        return -1;
    if (!isfinite(total)) {
        /* Name the first layer in backward order whose gradient is not finite, if any. */
        int bad_layer = -1, bad_param = -1;
        for (int r = t->n - 1; r >= 0 && bad_layer < 0; r--) {
            int i = t->plan->order[r];
            if (!t->trainable[i])
                continue;
            layer *L = m->layers[i];
            int np = updater_param_count(L);
            for (int p = 0; p < np && bad_layer < 0; p++)
                if (!updater_all_finite(L->grads[p].data, L->grads[p].size)) {
                    bad_layer = i;
                    bad_param = p;
                }
        }
        if (bad_layer >= 0) {
            layer *L = m->layers[bad_layer];
            tr_error(d, o->loc,
                     "training diverged at iteration %lld: the loss is %s; the first non-finite "
                     "gradient (in backward order) is layer '%s' (%s.%s)", it,
                     nonfinite_name(total), L->name, L->name, param_key(L, bad_param));
            if (L->loc.line > 0)
                tr_note(d, L->loc, "layer '%s' is defined here", L->name);
        } else {
            tr_error(d, o->loc, "training diverged at iteration %lld: the loss is %s", it,
                     nonfinite_name(total));
        }
        diverged_note(d, o, it);
        return -1;
    }
    /* Updates in backward order, every one checked (with its gradient) before any parameter
     * changes. */
    for (int r = t->n - 1; r >= 0; r--) {
        int i = t->plan->order[r];
        if (!t->trainable[i])
            continue;
        layer *L = m->layers[i];
        bool bad_gradient = false;
        int bad = updater_layer_compute(L, m->iteration_count, &bad_gradient);
        if (bad >= 0) {
            tr_error(d, o->loc,
                     "training diverged at iteration %lld: the %s of layer '%s' (%s.%s) is not "
                     "finite", it, bad_gradient ? "gradient" : "update", L->name, L->name,
                     param_key(L, bad));
            if (L->loc.line > 0)
                tr_note(d, L->loc, "layer '%s' is defined here", L->name);
            diverged_note(d, o, it);
            return -1;
        }
    }
    for (int i = 0; i < t->n; i++)
        if (t->trainable[i] && updater_layer_apply(m->layers[i]) != 0) {
            oom(d, o, m->layers[i]->name);
            return -1;
        }
    m->iteration_count++;
    return 0;
}

/* Checks the batch against the model and finds B and T. */
static int batch_dims(const model *m, const trainer *t, const train_batch *b,
                      const train_options *o, int64_t *B, int64_t *T, diag_ctx *d)
{
    *B = -1;
    *T = 1;
    bool have_t = false;
    char s1[64];
    for (int i = 0; i < m->n_inputs; i++) {
        const model_input *in = &m->inputs[i];
        const tensor *x = b->inputs[i];
        int64_t bb, size;
        if (in->kind == INPUT_RECURRENT) {
            if (x->ndim != 3)
                goto bad_input;
            bb = x->shape[1];
            size = x->shape[2];
            if (have_t && x->shape[0] != *T) {
                tr_error(d, o->loc, "cannot train: recurrent inputs have %lld and %lld steps",
                           (long long)*T, (long long)x->shape[0]);
                return -1;
            }
            *T = x->shape[0];
            have_t = true;
        } else {
            if (x->ndim < 2)
                goto bad_input;
            bb = x->shape[0];
            size = x->size / (bb > 0 ? bb : 1);
        }
        if (size != (in->kind == INPUT_CONVOLUTIONAL ? in->h * in->w * in->c : in->size))
            goto bad_input;
        if (*B >= 0 && bb != *B) {
            tr_error(d, o->loc, "cannot train: inputs disagree on the batch size");
            return -1;
        }
        *B = bb;
        continue;
    bad_input:
        tr_error(d, o->loc, "cannot train: data of shape %s does not fit model input '%s'",
                   shape_str(s1, sizeof s1, x->ndim, x->shape), in->name);
        return -1;
    }
    for (int j = 0; j < m->n_outputs; j++) {
        const layer *L = m->layers[t->out_layer[j]];
        int64_t want[TENSOR_MAX_DIMS];
        int nd = exec_act_shape(&L->out_shape, *B, *T, want);
        const tensor *y = &b->labels[j];
        bool ok = y->ndim == nd && y->data;
        for (int k = 0; ok && k < nd; k++)
            ok = y->shape[k] == want[k];
        if (!ok) {
            char s2[64];
            tr_error(d, o->loc, "cannot train: labels of shape %s do not fit output '%s' %s",
                       shape_str(s1, sizeof s1, y->ndim, y->shape), L->name,
                       shape_str(s2, sizeof s2, nd, want));
            return -1;
        }
    }
    return 0;
}

/* A batch: one iteration, or one per truncated-BPTT segment (at most max_updates). */
int train_step_capped(model *m, const train_batch *b, train_options *o, int64_t max_updates,
                      double *loss, diag_ctx *d)
{
    trainer *t = trainer_get(m, o, d);
    if (!t)
        return -1;
    int64_t B, T;
    if (batch_dims(m, t, b, o, &B, &T, d) != 0)
        return -1;
    bool recurrent = false;
    for (int i = 0; i < m->n_inputs; i++)
        recurrent |= m->inputs[i].kind == INPUT_RECURRENT;
    int64_t seg_len = T;
    if (recurrent && t->tb_fwd > 0 && T > t->tb_fwd) {
        seg_len = t->tb_fwd;
        if (t->tb_bwd < t->tb_fwd && !t->warned_tbptt) {
            tr_warning(d, o->loc,
                         "tbptt backward length %d is shorter than forward length %d: gradients "
                         "flow through the whole %d-step segment", t->tb_bwd, t->tb_fwd,
                         t->tb_fwd);
            t->warned_tbptt = true;
        }
    }
    if (!recurrent || seg_len >= T) {
        seg s = {.inputs = b->inputs, .labels = b->labels, .masks = b->masks,
                 .label_masks = b->label_masks, .B = B, .T = T, .carry = false};
        return iteration(t, &s, o, loss, d);
    }
    /* Truncated BPTT: time slices of the recurrent inputs, labels and masks. */
    int ni = m->n_inputs, no = m->n_outputs;
    tensor *xv = exec_calloc((size_t)ni, sizeof *xv);
    const tensor **xp = exec_calloc((size_t)ni, sizeof *xp);
    tensor *yv = exec_calloc((size_t)no, sizeof *yv);
    const float **mv = exec_calloc((size_t)ni, sizeof *mv);
    const float **lv = exec_calloc((size_t)no, sizeof *lv);
    int rc = 0;
    if (!xv || !xp || !yv || !mv || !lv) {
        oom(d, o, "tbptt");
        rc = -1;
    }
    double sum = 0.0;
    int64_t done = 0;
    for (int64_t t0 = 0; rc == 0 && t0 < T && done < max_updates; t0 += seg_len, done++) {
        int64_t len = T - t0 < seg_len ? T - t0 : seg_len;
        for (int i = 0; i < ni; i++) {
            const tensor *x = b->inputs[i];
            bool rec = m->inputs[i].kind == INPUT_RECURRENT;
            if (rec)
                time_slice(&xv[i], x, t0, len);
            xp[i] = rec ? &xv[i] : x;
            const float *mk = b->masks ? b->masks[i] : NULL;
            mv[i] = mk && rec ? mk + t0 * B : mk;
        }
        for (int j = 0; j < no; j++) {
            const layer *L = m->layers[t->out_layer[j]];
            bool rec = L->out_shape.kind == SHAPE_RNN;
            if (rec)
                time_slice(&yv[j], &b->labels[j], t0, len);
            else
                yv[j] = b->labels[j];
            const float *lm = b->label_masks ? b->label_masks[j] : NULL;
            lv[j] = lm && rec ? lm + t0 * B : lm;
        }
        seg s = {.inputs = xp, .labels = yv, .masks = mv, .label_masks = lv, .B = B, .T = len,
                 .carry = t0 > 0};
        double l = 0.0;
        rc = iteration(t, &s, o, &l, d);
        sum += l;
    }
    free(xv);
    free(xp);
    free(yv);
    free(mv);
    free(lv);
    *loss = sum;
    return rc;
}

int train_step_batch(model *m, const train_batch *b, train_options *o, double *loss, diag_ctx *d)
{
    double l = 0.0;
    int rc = train_step_capped(m, b, o, INT64_MAX, &l, d);
    if (loss)
        *loss = l;
    return rc;
}

int train_step(model *m, const tensor *const *inputs, const tensor *labels,
               const float *const *masks, const float *const *label_masks, train_options *o,
               double *loss, diag_ctx *d)
{
    train_batch b = {.inputs = inputs, .labels = labels, .masks = masks,
                     .label_masks = label_masks};
    return train_step_batch(m, &b, o, loss, d);
}
