/* train.c: the epoch/iteration driver over a batch source (and over a dataset), the training
 * seeds, the fine-tune and truncated-BPTT settings, and the trainer's diagnostics. */
#include "runtime/train/train.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/base/rng.h"
#include "runtime/data/data.h"
#include "runtime/train/checkpoint.h"
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

/* Writes the checkpoint of the fit at pos; -1 with the error reported. */
static int write_checkpoint(const model *m, const train_options *o, const fit_position *pos,
                            diag_ctx *d)
{
    rng dropout;
    bool has = train_dropout_rng(o, &dropout);
    char err[1024];
    if (checkpoint_write(o->checkpoint->path, &o->checkpoint->id, m, pos, has ? &dropout : NULL,
                         o->checkpoint->durable, err, sizeof err) != 0) {
        tr_error(d, o->loc, "%s", err);
        return -1;
    }
    return 0;
}

/* Puts o->resume into m and *pos; -1 with the error reported. */
static int resume_fit(model *m, const train_options *o, fit_position *pos, diag_ctx *d)
{
    char err[512];
    if (checkpoint_apply(o->resume, m, err, sizeof err) != 0) {
        tr_error(d, o->loc, "cannot resume: %s", err);
        return -1;
    }
    *pos = o->resume->pos;
    return 0;
}

/* Reads past the batches of the resumed epoch that were trained before the checkpoint. */
static int skip_batches(const train_source *src, int64_t n, const train_options *o, diag_ctx *d)
{
    for (int64_t k = 0; k < n; k++) {
        train_batch b;
        int64_t ex = 0;
        int got = src->next(src->ctx, &b, &ex, d);
        if (got < 0)
            return -1;
        if (got == 0) {
            tr_error(d, o->loc, "cannot resume: the data has fewer batches per epoch than the "
                     "checkpoint has trained (%lld)", (long long)n);
            return -1;
        }
    }
    return 0;
}

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
    fit_position at = {0};
    if (o->resume && resume_fit(m, o, &at, d) != 0)
        return -1;
    bool complete = at.complete;
    res.iterations = at.iterations;
    res.epochs = at.epochs_done;
    res.examples = at.examples;
    res.last_epoch_loss = at.last_epoch_loss;
    int64_t start_iter = m->iteration_count - at.iterations;
    int64_t epochs = o->iterations > 0 ? INT64_MAX : o->epochs;
    const checkpoint_plan *ck = o->checkpoint;
    int64_t next_mark = ck ? (at.iterations / ck->every + 1) * ck->every : 0;
    int rc = 0;
    for (int64_t e = at.epoch; rc == 0 && !complete && e < epochs; e++) {
        if (o->iterations > 0 && m->iteration_count - start_iter >= o->iterations)
            break;
        if (src->reset && src->reset(src->ctx, m->epoch_count, d) != 0) {
            rc = -1;
            break;
        }
        double e_start = now_seconds(), e_loss = 0.0;
        int64_t e_examples = 0, batches = 0;
        if (e == at.epoch && at.batches > 0) {
            if (skip_batches(src, at.batches, o, d) != 0) {
                rc = -1;
                break;
            }
            batches = at.batches;
            e_loss = at.epoch_loss_sum;
            e_examples = at.epoch_examples;
        }
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
            int64_t done = m->iteration_count - start_iter;
            if (ck && o->iterations > 0 && done >= next_mark && done < o->iterations) {
                fit_position p = {.epoch = e, .batches = batches, .epochs_done = res.epochs,
                                  .iterations = done, .examples = res.examples,
                                  .epoch_loss_sum = e_loss, .epoch_examples = e_examples,
                                  .last_epoch_loss = res.last_epoch_loss};
                if (write_checkpoint(m, o, &p, d) != 0) {
                    rc = -1;
                    break;
                }
                next_mark = (done / ck->every + 1) * ck->every;
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
        if (ck && o->iterations == 0 && res.epochs % ck->every == 0 && res.epochs < o->epochs) {
            fit_position p = {.epoch = e + 1, .epochs_done = res.epochs,
                              .iterations = m->iteration_count - start_iter,
                              .examples = res.examples, .last_epoch_loss = res.last_epoch_loss};
            if (write_checkpoint(m, o, &p, d) != 0)
                rc = -1;
        }
    }
    if (pg.out && pg.live && pg.last_len > 0) {
        fputc('\n', pg.out);
        fflush(pg.out);
    }
    res.iterations = m->iteration_count - start_iter;
    if (rc == 0 && ck && !complete) {
        fit_position p = {.epoch = res.epochs, .epochs_done = res.epochs,
                          .iterations = res.iterations, .examples = res.examples,
                          .last_epoch_loss = res.last_epoch_loss, .complete = true};
        rc = write_checkpoint(m, o, &p, d);
    }
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
