/* train.c: the trainer over the model graph (forward, backward from the loss layers, frozen
 * frontier, dropout, truncated BPTT, NaN checks, updates) and the epoch/iteration driver. */
#include "runtime/train/train.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/data/data.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/base/rng.h"
#include "runtime/nn/updater.h"

/* What the trainer keeps between steps for one model. A source (the node feeding a layer's
 * input slot) is a layer index (>= 0) or a model input (-1 - index). */
typedef struct trainer {
    model *m;
    int n;                    /* layers when built */
    int *order;               /* topological order */
    int *in_off;              /* layer i's sources are src[in_off[i] .. in_off[i + 1]) */
    int *src;
    bool *active;             /* an ancestor of (or) a loss output: forward needed */
    bool *rg;                 /* needs backward: trainable, or a trainable layer below it */
    bool *trainable;          /* not frozen and has parameters */
    int *out_layer;           /* per model output: its layer index */
    tensor *act;              /* per layer: output activations */
    tensor *grad;             /* per layer: dL/d(output), for rg layers */
    tensor *drop_in;          /* per source slot: the dropped copy of the input */
    tensor *drop_mask;        /* per source slot: 0 or 1/(1-p) */
    tensor *drop_din;         /* per source slot: din w.r.t. the dropped input */
    bool *dropped;            /* per source slot: dropout applied this iteration */
    const float **in_mask;    /* per layer: the step mask reaching it */
    const float **out_mask;   /* per layer: the step mask of its output */
    const tensor **ins;       /* scratch for fwd/bwd contexts (max_in) */
    tensor **dins;
    int max_in;
    rng drop_rng;
    int tb_fwd, tb_bwd;
    bool warned_tbptt;
} trainer;

/* ---- small helpers ---- */

/* Diagnostics that tolerate a NULL context (callers that only want the status). */
#define TR_FMT __attribute__((format(printf, 3, 4)))
static void tr_error(diag_ctx *d, src_loc loc, const char *fmt, ...) TR_FMT;
static void tr_warning(diag_ctx *d, src_loc loc, const char *fmt, ...) TR_FMT;
static void tr_note(diag_ctx *d, src_loc loc, const char *fmt, ...) TR_FMT;
#undef TR_FMT
#define TR_MSG(kind)                                                                  \
    static void tr_##kind(diag_ctx *d, src_loc loc, const char *fmt, ...)            \
    {                                                                                 \
        if (!d)                                                                       \
            return;                                                                   \
        char buf[512];                                                                \
        va_list ap;                                                                   \
        va_start(ap, fmt);                                                            \
        vsnprintf(buf, sizeof buf, fmt, ap);                                          \
        va_end(ap);                                                                   \
        diag_##kind(d, loc, "%s", buf);                                               \
    }
TR_MSG(error)
TR_MSG(warning)
TR_MSG(note)
#undef TR_MSG

static void *xcalloc(size_t n, size_t sz) { return calloc(n ? n : 1, sz); }

static bool is_dropout_type(const layer *L) { return (L->type->flags & LT_STOCHASTIC) != 0; }

/* Makes t hold the given shape, reusing its buffer when the element count matches (the
 * contents are then stale; a new buffer is zeroed). Returns 0, or -1 when memory runs out. */
static int ensure(tensor *t, int ndim, const int64_t *shape)
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

static int shape_for(const act_shape *s, int64_t B, int64_t T, int64_t *shape)
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
        shape[0] = B;
        shape[1] = s->h;
        shape[2] = s->w;
        shape[3] = s->c;
        return 4;
    case SHAPE_FF:
        break;
    }
    shape[0] = B;
    shape[1] = s->size;
    return 2;
}

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

uint64_t train_options_seed(const model *m, const train_options *o)
{
    if (o->seed_set)
        return o->seed;
    if (m->training.set_mask & TC_SEED)
        return m->training.seed;
    return m->seed;
}

/* ---- fine-tune and tbptt settings ---- */

void train_apply_fine_tune(model *m, const train_conf *ft)
{
    const unsigned lr = TC_LEARNING_RATE;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (L->frozen)
            continue;
        const unsigned own = L->script_set_mask;
        train_conf tmp = *ft;
        /* The script's own settings on the layer win. */
        tmp.set_mask &= ~own;
        /* An updater the script set carries its own learning rate. */
        if (own & TC_UPDATER)
            tmp.set_mask &= ~lr;
        /* A fine-tune updater brings its learning rate: it replaces one the base model stored
         * on the layer (a learning rate the script set on the layer stays). */
        if ((tmp.set_mask & TC_UPDATER) && !(tmp.set_mask & lr) && !(own & lr))
            L->train.set_mask &= ~lr;
        train_conf_apply(&L->train, &tmp);
    }
    if ((ft->set_mask & TC_UPDATER) && !(ft->set_mask & lr))
        m->training.set_mask &= ~lr;
    train_conf_apply(&m->training, ft);
}

void train_tbptt_lengths(const model *m, int *forward, int *backward)
{
    const train_conf *tc = NULL;
    if (m->training.set_mask & TC_BACKPROP)
        tc = &m->training;
    for (int i = 0; !tc && i < m->n_layers; i++)
        if (m->layers[i]->train.set_mask & TC_BACKPROP)
            tc = &m->layers[i]->train;
    *forward = tc && tc->tbptt_forward > 0 ? tc->tbptt_forward : 0;
    *backward = *forward ? (tc->tbptt_backward > 0 ? tc->tbptt_backward : *forward) : 0;
}

/* ---- building the trainer ---- */

static void trainer_free(trainer *t)
{
    if (!t)
        return;
    int slots = t->in_off ? t->in_off[t->n] : 0;
    for (int i = 0; i < t->n; i++) {
        if (t->act)
            tensor_release(&t->act[i]);
        if (t->grad)
            tensor_release(&t->grad[i]);
    }
    for (int k = 0; k < slots; k++) {
        if (t->drop_in)
            tensor_release(&t->drop_in[k]);
        if (t->drop_mask)
            tensor_release(&t->drop_mask[k]);
        if (t->drop_din)
            tensor_release(&t->drop_din[k]);
    }
    free(t->order);
    free(t->in_off);
    free(t->src);
    free(t->active);
    free(t->rg);
    free(t->trainable);
    free(t->out_layer);
    free(t->act);
    free(t->grad);
    free(t->drop_in);
    free(t->drop_mask);
    free(t->drop_din);
    free(t->dropped);
    free(t->in_mask);
    free(t->out_mask);
    free(t->ins);
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
    trainer *t = xcalloc(1, sizeof *t);
    if (!t) {
        oom(d, o, "trainer");
        return NULL;
    }
    t->m = m;
    t->n = n;
    t->order = xcalloc((size_t)n, sizeof *t->order);
    t->in_off = xcalloc((size_t)n + 1, sizeof *t->in_off);
    if (!t->order || !t->in_off) {
        oom(d, o, "trainer");
        trainer_free(t);
        return NULL;
    }
    if (model_infer_shapes(m, d) != 0 || model_topo_order(m, t->order, d) != 0) {
        trainer_free(t);
        return NULL;
    }
    int slots = 0;
    for (int i = 0; i < n; i++) {
        t->in_off[i] = slots;
        slots += m->layers[i]->n_inputs;
        if (m->layers[i]->n_inputs > t->max_in)
            t->max_in = m->layers[i]->n_inputs;
    }
    t->in_off[n] = slots;
    t->src = xcalloc((size_t)slots, sizeof *t->src);
    t->active = xcalloc((size_t)n, sizeof *t->active);
    t->rg = xcalloc((size_t)n, sizeof *t->rg);
    t->trainable = xcalloc((size_t)n, sizeof *t->trainable);
    t->out_layer = xcalloc((size_t)m->n_outputs, sizeof *t->out_layer);
    t->act = xcalloc((size_t)n, sizeof *t->act);
    t->grad = xcalloc((size_t)n, sizeof *t->grad);
    t->drop_in = xcalloc((size_t)slots, sizeof *t->drop_in);
    t->drop_mask = xcalloc((size_t)slots, sizeof *t->drop_mask);
    t->drop_din = xcalloc((size_t)slots, sizeof *t->drop_din);
    t->dropped = xcalloc((size_t)slots, sizeof *t->dropped);
    t->in_mask = xcalloc((size_t)n, sizeof *t->in_mask);
    t->out_mask = xcalloc((size_t)n, sizeof *t->out_mask);
    t->ins = xcalloc((size_t)t->max_in, sizeof *t->ins);
    t->dins = xcalloc((size_t)t->max_in, sizeof *t->dins);
    if (!t->src || !t->active || !t->rg || !t->trainable || !t->out_layer || !t->act ||
        !t->grad || !t->drop_in || !t->drop_mask || !t->drop_din || !t->dropped || !t->in_mask ||
        !t->out_mask || !t->ins || !t->dins) {
        oom(d, o, "trainer");
        trainer_free(t);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const layer *L = m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            int li = model_layer_index(m, L->inputs[k]);
            int ii = li < 0 ? model_input_index(m, L->inputs[k]) : -1;
            assert(li >= 0 || ii >= 0);   /* model_topo_order checked the edges */
            t->src[t->in_off[i] + k] = li >= 0 ? li : -1 - ii;
        }
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
        t->active[li] = true;
    }
    /* Forward is needed for every ancestor of an output (reverse topological sweep). */
    for (int r = n - 1; r >= 0; r--) {
        int i = t->order[r];
        if (!t->active[i])
            continue;
        for (int k = t->in_off[i]; k < t->in_off[i + 1]; k++)
            if (t->src[k] >= 0)
                t->active[t->src[k]] = true;
    }
    /* Backward is needed for a layer that is trainable or has a trainable ancestor. */
    bool any_trainable = false;
    for (int r = 0; r < n; r++) {
        int i = t->order[r];
        layer *L = m->layers[i];
        t->trainable[i] = !L->frozen && updater_param_count(L) > 0 && t->active[i];
        bool rg = t->trainable[i];
        for (int k = t->in_off[i]; k < t->in_off[i + 1]; k++)
            if (t->src[k] >= 0 && t->rg[t->src[k]])
                rg = true;
        t->rg[i] = rg && t->active[i];
        any_trainable |= t->trainable[i];
        if (t->active[i] && L->type->param_specs) {
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
    /* A later fit of the same model continues with other masks than the first one drew. */
    rng_seed_stream(&t->drop_rng,
                    train_options_seed(m, o) ^ (0x9E3779B97F4A7C15ull * (uint64_t)m->iteration_count),
                    "dropout");
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

static const tensor *source_tensor(const trainer *t, const seg *s, int src)
{
    return src >= 0 ? &t->act[src] : s->inputs[-1 - src];
}

/* Inverted dropout of input slot k into t->drop_in[k], with its multipliers in t->drop_mask[k]
 * (the same masks as a `dropout` layer in that place would draw). */
static int apply_dropout(trainer *t, int k, const tensor *x, double p)
{
    if (ensure(&t->drop_in[k], x->ndim, x->shape) || ensure(&t->drop_mask[k], x->ndim, x->shape))
        return -1;
    dropout_fill(&t->drop_rng, p, x->data, t->drop_in[k].data, t->drop_mask[k].data, x->size);
    return 0;
}

static int forward_pass(trainer *t, const seg *s, train_options *o, diag_ctx *d)
{
    model *m = t->m;
    for (int r = 0; r < t->n; r++) {
        int i = t->order[r];
        if (!t->active[i])
            continue;
        layer *L = m->layers[i];
        bool frozen_dropout = L->frozen && is_dropout_type(L);
        /* Frozen layers run in inference mode unless a trainable layer below needs their
         * backward (then in training mode for the cache, still without dropout). */
        bool training = (!L->frozen || t->rg[i]) && !frozen_dropout;
        double p = L->train.dropout;
        bool drop = training && !L->frozen && p > 0.0 && !is_dropout_type(L) &&
                    !(L->type->flags & LT_INDEX_INPUT);
        const float *mask = NULL;
        for (int k = 0; k < L->n_inputs; k++) {
            int sk = t->in_off[i] + k, src = t->src[sk];
            const tensor *x = source_tensor(t, s, src);
            const float *xm = src >= 0 ? t->out_mask[src] : (s->masks ? s->masks[-1 - src] : NULL);
            if (!mask)
                mask = xm;
            t->dropped[sk] = false;
            if (drop) {
                if (apply_dropout(t, sk, x, p)) {
                    oom(d, o, L->name);
                    return -1;
                }
                x = &t->drop_in[sk];
                t->dropped[sk] = true;
            }
            t->ins[k] = x;
        }
        t->in_mask[i] = mask;
        t->out_mask[i] = L->out_shape.kind == SHAPE_RNN ? mask : NULL;
        int64_t shape[TENSOR_MAX_DIMS];
        int nd = shape_for(&L->out_shape, s->B, s->T, shape);
        if (ensure(&t->act[i], nd, shape)) {
            oom(d, o, L->name);
            return -1;
        }
        if (frozen_dropout) {
            memcpy(t->act[i].data, t->ins[0]->data, (size_t)t->act[i].size * sizeof(float));
            continue;
        }
        char err[256] = "";
        fwd_ctx c = {.in = t->ins, .n_in = L->n_inputs, .out = &t->act[i], .training = training,
                     .rng = &t->drop_rng, .mask = mask, .carry_state = s->carry,
                     .err = err, .err_len = sizeof err};
        /* A layer's input dropout is the trainer's (above), the one implementation for every
         * layer type; only the `dropout` layer type drops (with c.rng) in its own forward. */
        if (L->type->forward(L, &c) != 0) {
            if (err[0])
                tr_error(d, o->loc, "%s", err);
            else
                oom(d, o, L->name);
            return -1;
        }
    }
    return 0;
}

static int backward_pass(trainer *t, const seg *s, train_options *o, diag_ctx *d)
{
    model *m = t->m;
    for (int i = 0; i < t->n; i++) {
        if (!t->rg[i])
            continue;
        if (ensure(&t->grad[i], t->act[i].ndim, t->act[i].shape)) {
            oom(d, o, m->layers[i]->name);
            return -1;
        }
        tensor_zero(&t->grad[i]);
        if (t->trainable[i])
            updater_layer_zero_grads(m->layers[i]);
    }
    for (int r = t->n - 1; r >= 0; r--) {
        int i = t->order[r];
        if (!t->rg[i])
            continue;
        layer *L = m->layers[i];
        const tensor *labels = NULL;
        const float *label_mask = NULL;
        for (int j = 0; j < m->n_outputs; j++)
            if (t->out_layer[j] == i) {
                labels = &s->labels[j];
                label_mask = s->label_masks && s->label_masks[j] ? s->label_masks[j]
                                                                 : t->in_mask[i];
            }
        bool any_din = false;
        for (int k = 0; k < L->n_inputs; k++) {
            int sk = t->in_off[i] + k, src = t->src[sk];
            t->ins[k] = t->dropped[sk] ? &t->drop_in[sk] : source_tensor(t, s, src);
            t->dins[k] = NULL;
            if (src < 0 || !t->rg[src] || (L->type->flags & LT_INDEX_INPUT))
                continue;
            any_din = true;
            if (t->dropped[sk]) {
                if (ensure(&t->drop_din[sk], t->grad[src].ndim, t->grad[src].shape)) {
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
            bwd_ctx c = {.in = t->ins, .n_in = L->n_inputs, .out = &t->act[i],
                         .dout = &t->grad[i], .din = t->dins,
                         .grads = t->trainable[i] ? L->grads : NULL, .labels = labels,
                         .mask = t->in_mask[i], .label_mask = label_mask};
            o->backward_calls++;
            if (L->type->backward(L, &c) != 0) {
                oom(d, o, L->name);
                return -1;
            }
        }
        for (int k = 0; k < L->n_inputs; k++) {
            int sk = t->in_off[i] + k;
            if (!t->dins[k] || !t->dropped[sk])
                continue;
            float *dx = t->grad[t->src[sk]].data;
            const float *dd = t->drop_din[sk].data, *mk = t->drop_mask[sk].data;
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
        const float *lm = s->label_masks && s->label_masks[j] ? s->label_masks[j] : t->in_mask[li];
        total += loss_layer_score(m->layers[li], &t->act[li], &s->labels[j], lm);
    }
    *loss = total;
    if (backward_pass(t, s, o, d) != 0)
        return -1;
    if (!isfinite(total)) {
        /* Name the first layer in backward order whose gradient is not finite, if any. */
        int bad_layer = -1, bad_param = -1;
        for (int r = t->n - 1; r >= 0 && bad_layer < 0; r--) {
            int i = t->order[r];
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
        int i = t->order[r];
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
        int nd = shape_for(&L->out_shape, *B, *T, want);
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
static int step_batch(model *m, const train_batch *b, train_options *o, int64_t max_updates,
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
    tensor *xv = xcalloc((size_t)ni, sizeof *xv);
    const tensor **xp = xcalloc((size_t)ni, sizeof *xp);
    tensor *yv = xcalloc((size_t)no, sizeof *yv);
    const float **mv = xcalloc((size_t)ni, sizeof *mv);
    const float **lv = xcalloc((size_t)no, sizeof *lv);
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
    int rc = step_batch(m, b, o, INT64_MAX, &l, d);
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

/* ---- the driver ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "?");
        return;
    }
    long long x = (long long)(s + 0.5);
    if (x >= 3600)
        snprintf(buf, n, "%lld:%02lld:%02lld", x / 3600, x / 60 % 60, x % 60);
    else
        snprintf(buf, n, "%lld:%02lld", x / 60, x % 60);
}

typedef struct progress {
    FILE *out;
    bool live;
    const char *name;
    double start, last_draw;
    int last_len;
} progress;

static void progress_live(progress *p, const train_options *o, int64_t epoch, int64_t batch,
                          double loss, int64_t examples, double done_frac, bool force)
{
    double now = now_seconds();
    if (!force && now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    double el = now - p->start;
    char eta[32], ep[48];
    fmt_duration(eta, sizeof eta, done_frac > 0 ? el * (1.0 - done_frac) / done_frac : -1);
    if (o->iterations > 0)
        snprintf(ep, sizeof ep, "epoch %lld", (long long)epoch + 1);
    else
        snprintf(ep, sizeof ep, "epoch %lld/%lld", (long long)epoch + 1, (long long)o->epochs);
    char line[256];
    int len = snprintf(line, sizeof line, "fit %s: %s  batch %lld  loss %.4f  %.0f ex/s  ETA %s",
                       p->name, ep, (long long)batch, loss, el > 0 ? (double)examples / el : 0.0,
                       eta);
    int pad = p->last_len > len ? p->last_len - len : 0;
    fprintf(p->out, "\r%s%*s", line, pad, "");
    fflush(p->out);
    p->last_len = len;
}

static void progress_epoch(progress *p, const train_options *o, int64_t epoch, double loss,
                           int64_t examples, double epoch_seconds)
{
    char ep[48];
    if (o->iterations > 0)
        snprintf(ep, sizeof ep, "epoch %lld", (long long)epoch + 1);
    else
        snprintf(ep, sizeof ep, "epoch %lld/%lld", (long long)epoch + 1, (long long)o->epochs);
    char line[256];
    int len = snprintf(line, sizeof line, "fit %s: %s  loss %.4f  %.0f ex/s  %.1f s", p->name,
                       ep, loss, epoch_seconds > 0 ? (double)examples / epoch_seconds : 0.0,
                       epoch_seconds);
    if (p->live) {
        int pad = p->last_len > len ? p->last_len - len : 0;
        fprintf(p->out, "\r%s%*s\n", line, pad, "");
        p->last_len = 0;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

int train_fit(model *m, const train_source *src, train_options *o, train_result *r,
              diag_ctx *d)
{
    train_result res = {0};
    progress pg = {.out = o->progress, .name = o->data_name ? o->data_name : "data"};
    if (pg.out)
        pg.live = o->progress_mode == TRAIN_PROGRESS_LIVE ||
                  (o->progress_mode == TRAIN_PROGRESS_AUTO && isatty(fileno(pg.out)));
    pg.start = now_seconds();
    int64_t start_iter = m->iteration_count;
    int64_t epochs = o->iterations > 0 ? INT64_MAX : o->epochs;
    int rc = 0;
    for (int64_t e = 0; rc == 0 && e < epochs; e++) {
        if (o->iterations > 0 && m->iteration_count - start_iter >= o->iterations)
            break;
        if (src->reset && src->reset(src->ctx, m->epoch_count, d) != 0) {
            rc = -1;
            break;
        }
        double e_start = now_seconds(), e_loss = 0.0;
        int64_t e_examples = 0, batches = 0;
        bool stopped = false;
        for (;;) {
            train_batch b;
            int64_t ex = 0;
            int got = src->next(src->ctx, &b, &ex, d);
            if (got < 0) {
                rc = -1;
                break;
            }
            if (got == 0)
                break;   /* the epoch is complete */
            if (o->iterations > 0 && m->iteration_count - start_iter >= o->iterations) {
                stopped = true;
                break;
            }
            double loss = 0.0;
            int64_t cap = o->iterations > 0 ? o->iterations - (m->iteration_count - start_iter)
                                            : INT64_MAX;
            if (step_batch(m, &b, o, cap, &loss, d) != 0) {
                rc = -1;
                break;
            }
            batches++;
            e_examples += ex;
            e_loss += loss * (double)ex;
            res.examples += ex;
            if (o->log) {
                fprintf(o->log, "{\"iteration\":%lld,\"epoch\":%lld,\"loss\":%.9g}\n",
                        (long long)m->iteration_count, (long long)m->epoch_count + 1, loss);
            }
            if (pg.out && pg.live) {
                double frac;
                if (o->iterations > 0)
                    frac = (double)(m->iteration_count - start_iter) / (double)o->iterations;
                else if (src->examples_per_epoch > 0)
                    frac = ((double)e + (double)e_examples / (double)src->examples_per_epoch) /
                           (double)o->epochs;
                else
                    frac = -1;
                progress_live(&pg, o, e, batches, loss, res.examples, frac, false);
            }
        }
        if (rc != 0)
            break;
        if (batches == 0) {
            tr_error(d, o->loc, "cannot train: data '%s' yields no batches", pg.name);
            rc = -1;
            break;
        }
        res.last_epoch_loss = e_examples > 0 ? e_loss / (double)e_examples : 0.0;
        if (!stopped) {
            m->epoch_count++;
            res.epochs++;
        }
        if (pg.out)
            progress_epoch(&pg, o, e, res.last_epoch_loss, e_examples, now_seconds() - e_start);
        if (o->log)
            fflush(o->log);
    }
    if (pg.out && pg.live && pg.last_len > 0) {
        fputc('\n', pg.out);
        fflush(pg.out);
    }
    res.iterations = m->iteration_count - start_iter;
    res.seconds = now_seconds() - pg.start;
    if (r)
        *r = res;
    return rc;
}

/* ---- datasets of runtime/data.h ---- */

typedef struct ds_source {
    dataset *ds;
    uint64_t seed;
    batch b;
    const tensor *x[1];
    const float *mask[1];
    const float *label_mask[1];
} ds_source;

uint64_t train_epoch_shuffle_seed(uint64_t seed, int64_t epoch)
{
    rng r;
    rng_seed_stream(&r, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(epoch + 1)), "shuffle");
    return rng_next(&r);
}

static int ds_reset(void *ctx, int64_t epoch, diag_ctx *d)
{
    (void)d;
    ds_source *s = ctx;
    return data_reset(s->ds, train_epoch_shuffle_seed(s->seed, epoch));
}

static int ds_next(void *ctx, train_batch *tb, int64_t *examples, diag_ctx *d)
{
    ds_source *s = ctx;
    int got = data_next(s->ds, &s->b, d);
    if (got <= 0)
        return got;
    s->x[0] = &s->b.x;
    s->mask[0] = s->b.mask.data;
    s->label_mask[0] = s->b.label_mask.data;
    tb->inputs = s->x;
    tb->labels = &s->b.y;
    tb->masks = s->mask;
    tb->label_masks = s->label_mask;
    *examples = s->b.n;
    return 1;
}

int train_fit_dataset(model *m, dataset *ds, train_options *o, train_result *r, diag_ctx *d)
{
    if (m->n_inputs != 1 || m->n_outputs != 1) {
        tr_error(d, o->loc,
                   "cannot train on data '%s': the model has %d inputs and %d outputs (one of "
                   "each is needed)", data_name(ds), m->n_inputs, m->n_outputs);
        return -1;
    }
    ds_source s = {.ds = ds, .seed = train_options_seed(m, o)};
    train_source src = {.ctx = &s, .reset = ds_reset, .next = ds_next,
                        .examples_per_epoch = data_count(ds)};
    const char *saved = o->data_name;
    if (!o->data_name)
        o->data_name = data_name(ds);
    int rc = train_fit(m, &src, o, r, d);
    o->data_name = saved;
    batch_release(&s.b);
    return rc;
}
