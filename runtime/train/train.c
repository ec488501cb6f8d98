/* train.c: the epoch/iteration driver over a batch source (and over a dataset), the training
 * seeds, the fine-tune and truncated-BPTT settings, and the trainer's diagnostics. */
#include "runtime/train/train.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/base/rng.h"
#include "runtime/data/data.h"
#include "runtime/train/progress.h"
#include "runtime/train/train_impl.h"

#define TR_MSG(kind)                                                                  \
    void tr_##kind(diag_ctx *d, src_loc loc, const char *fmt, ...)                   \
    {                                                                                 \
        if (!d)                                                                       \
            return;                                                                   \
        va_list ap;                                                                   \
        va_start(ap, fmt);                                                            \
        diag_v##kind(d, loc, fmt, ap);                                                \
        va_end(ap);                                                                   \
    }
TR_MSG(error)
TR_MSG(warning)
TR_MSG(note)
#undef TR_MSG

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

/* ---- the driver ---- */

int train_fit(model *m, const train_source *src, train_options *o, train_result *r,
              diag_ctx *d)
{
    train_result res = {0};
    progress pg = {.out = o->progress, .name = o->data_name ? o->data_name : "data"};
    if (pg.out)
        pg.live = o->progress_mode == TRAIN_PROGRESS_LIVE ||
                  (o->progress_mode == TRAIN_PROGRESS_AUTO && isatty(fileno(pg.out)));
    pg.epochs = o->iterations > 0 ? 0 : o->epochs;
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
            if (train_step_capped(m, &b, o, cap, &loss, d) != 0) {
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
                progress_live(&pg, e, batches, loss, res.examples, frac, false);
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
            progress_epoch(&pg, e, res.last_epoch_loss, e_examples, now_seconds() - e_start);
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
