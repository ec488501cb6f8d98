/* exec.c: runs a checked script: base model with weights, edits, then the data steps in order. */
#include "runtime/script/exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/data/data.h"
#include "runtime/script/data_stmt.h"
#include "runtime/script/fit_checkpoint.h"
#include "runtime/edits/edit.h"
#include "runtime/train/eval.h"
#include "runtime/featurize/featurize.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/graph/model.h"
#include "runtime/graph/predict.h"
#include "runtime/formats/format.h"
#include "runtime/formats/native.h"
#include "runtime/formats/weights_store.h"
#include "runtime/train/train.h"

/* What the run knows about each `data` name. */
typedef struct data_slot {
    const ir_stmt *st;
    dataset *ds;
    feature_set *features;     /* set by `featurize` */
    evaluation *last_eval;     /* the latest `evaluate` (or the one an `expect` ran) */
} data_slot;

typedef struct run_state {
    const ir_script *s;
    const exec_options *o;
    diag_ctx *d;
    model *m;
    data_slot *slots;
    int n_slots;
    bool normalizer_fitted;
    uint64_t base_hash;        /* of the base model's files, when a fit checkpoints */
    int resume_at;             /* --resume: the fit that continues from `resume`; -1: none */
    train_checkpoint *resume;
} run_state;

static data_slot *slot_find(run_state *rs, const char *name)
{
    for (int i = 0; i < rs->n_slots; i++)
        if (!strcmp(rs->slots[i].st->name, name))
            return &rs->slots[i];
    return NULL;
}

static void report(run_state *rs, const char *fmt, const char *a, const char *b)
{
    if (rs->o->quiet || !rs->o->out)
        return;
    fprintf(rs->o->out, fmt, a, b);
    fflush(rs->o->out);
}

/* Opens a data set when first used; the model's normaliser (when it has one) applies to it. */
static dataset *slot_open(run_state *rs, data_slot *sl)
{
    if (sl->ds)
        return sl->ds;
    data_spec spec = data_stmt_spec(sl->st);
    spec.input = rs->m && rs->m->n_inputs == 1 ? &rs->m->inputs[0] : NULL;   /* images take its shape */
    sl->ds = data_open(&spec, rs->d);
    if (sl->ds && rs->m->norm.kind != NORM_NONE && data_set_normalizer(sl->ds, &rs->m->norm) != 0) {
        diag_error(rs->d, sl->st->loc, "data '%s' has %lld features; the model's normaliser has %lld",
                   sl->st->name, (long long)data_features(sl->ds), (long long)rs->m->norm.n);
        data_close(sl->ds);
        sl->ds = NULL;
    }
    return sl->ds;
}

/* `normalize = ...` on the data a fit trains on: fitted there once, stored with the model and
 * applied to every data set from then on. */
static int maybe_fit_normalizer(run_state *rs, data_slot *sl)
{
    norm_kind kind = data_normalize_option(sl->ds);
    if (kind == NORM_NONE || rs->m->norm.kind != NORM_NONE)
        return 0;
    normalizer n = {0};
    if (data_fit_normalizer(sl->ds, kind, &n, rs->d) != 0)
        return -1;
    data_normalizer_release(&rs->m->norm);
    rs->m->norm = n;
    for (int i = 0; i < rs->n_slots; i++)
        if (rs->slots[i].ds && data_set_normalizer(rs->slots[i].ds, &rs->m->norm) != 0) {
            diag_error(rs->d, rs->slots[i].st->loc, "data '%s' does not have the %lld features the "
                       "normaliser was fitted on", rs->slots[i].st->name, (long long)n.n);
            return -1;
        }
    return 0;
}

static char *default_cache_dir(const ir_stmt *st)
{
    return ir_resolve_path(st, ".surgery-cache");
}

static int do_featurize(run_state *rs, const ir_stmt *st)
{
    data_slot *sl = slot_find(rs, st->name);
    if (!sl || !slot_open(rs, sl))
        return -1;
    char *dir = (st->flags & IRF_HAS_INTO) ? ir_resolve_path(st, st->name2) : default_cache_dir(st);
    if (!dir) {
        diag_error(rs->d, st->loc, "out of memory");
        return -1;
    }
    bool reused = false;
    feature_set_free(sl->features);
    sl->features = featurize(rs->m, sl->ds, dir, st->loc, &reused, rs->d);
    free(dir);
    if (!sl->features)
        return -1;
    if (!rs->o->quiet && rs->o->out) {
        if (reused)
            fprintf(rs->o->out, "featurize %s: reusing the cached features in %s (%lld examples)\n",
                    st->name, feature_set_path(sl->features),
                    (long long)feature_set_count(sl->features));
        else
            fprintf(rs->o->out, "featurize %s: computed %lld examples into %s\n", st->name,
                    (long long)feature_set_count(sl->features), feature_set_path(sl->features));
        fflush(rs->o->out);
    }
    return 0;
}

static int make_parent_dirs(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0) {
            struct stat sb;
            if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                free(p);
                return -1;
            }
        }
        *s = '/';
    }
    free(p);
    return 0;
}

/* A fit with `checkpoint`: the plan train_fit writes by (its identity, its file, whose folder
 * is created), and the check that a resumed checkpoint is of this data and base model. */
static int prepare_checkpoint(run_state *rs, int index, dataset *ds, checkpoint_plan *plan)
{
    const ir_stmt *st = &rs->s->stmts[index];
    plan->path = fit_checkpoint_path(rs->s, index);
    plan->every = fit_checkpoint_every(st);
    plan->durable = rs->o->sync;
    plan->id = (checkpoint_identity){.script = fit_script_hash(rs->s, index),
                                     .base = rs->base_hash, .fit = fit_ordinal(rs->s, index)};
    if (data_content_hash(ds, &plan->id.data, rs->d) != 0)
        return -1;
    if (make_parent_dirs(plan->path) != 0) {
        diag_error(rs->d, st->opts_loc, "cannot create the checkpoint folder of '%s'", plan->path);
        return -1;
    }
    if (rs->resume_at != index)
        return 0;
    const checkpoint_identity *had = &rs->resume->id;
    const char *what = had->base != plan->id.base ? "the base model's files"
                       : had->data != plan->id.data ? "the data" : NULL;
    if (what) {
        diag_error(rs->d, st->loc, "cannot resume: the checkpoint %s was written for other "
                   "inputs (%s differ); run without --resume to start again", plan->path, what);
        return -1;
    }
    return 0;
}

static void report_resume(run_state *rs, const ir_stmt *st, const checkpoint_plan *plan)
{
    if (rs->o->quiet || !rs->o->out)
        return;
    const fit_position *p = &rs->resume->pos;
    bool its = st->flags & IRF_ITERATIONS;
    if (p->complete)
        fprintf(rs->o->out, "fit %s: complete in %s\n", st->name, plan->path);
    else
        fprintf(rs->o->out, "fit %s: resuming from %s after %lld of %lld %s\n", st->name,
                plan->path, (long long)(its ? p->iterations : p->epochs_done),
                (long long)st->count, its ? "iterations" : "epochs");
    fflush(rs->o->out);
}

static int do_fit(run_state *rs, int index)
{
    const ir_stmt *st = &rs->s->stmts[index];
    data_slot *sl = slot_find(rs, st->name);
    if (!sl || !slot_open(rs, sl))
        return -1;
    if (maybe_fit_normalizer(rs, sl) != 0)
        return -1;
    checkpoint_plan plan = {0};
    if (ir_opt(st, "checkpoint") && prepare_checkpoint(rs, index, sl->ds, &plan) != 0) {
        free((char *)plan.path);
        return -1;
    }
    train_options to;
    train_options_init(&to);
    if (plan.path)
        to.checkpoint = &plan;
    if (rs->resume_at == index) {
        to.resume = rs->resume;
        report_resume(rs, st, &plan);
    }
    if (st->flags & IRF_ITERATIONS)
        to.iterations = st->count;
    else
        to.epochs = st->count;
    to.loc = st->loc;
    to.data_name = st->name;
    to.progress = rs->o->quiet ? NULL : rs->o->progress;
    to.log = rs->o->log;
    train_result tr = {0};
    int rc;
    if (sl->features)
        rc = featurized_fit(rs->m, sl->features, sl->ds, &to, &tr, rs->d);
    else
        rc = train_fit_dataset(rs->m, sl->ds, &to, &tr, rs->d);
    train_options_release(&to);
    free((char *)plan.path);
    if (rc != 0)
        return -1;
    if (!rs->o->quiet && rs->o->out) {
        fprintf(rs->o->out, "fit %s: %lld iterations, %lld epochs, loss %.6g%s (%.2f s)\n", st->name,
                (long long)tr.iterations, (long long)tr.epochs, tr.last_epoch_loss,
                sl->features ? ", from cached features" : "", tr.seconds);
        fflush(rs->o->out);
    }
    return 0;
}

/* Runs the model over a data set and accumulates an evaluation. */
static int evaluate_plain(run_state *rs, data_slot *sl, evaluation *e)
{
    model *m = rs->m;
    if (m->n_inputs != 1 || m->n_outputs != 1) {
        diag_error(rs->d, sl->st->loc, "evaluate needs a model with one input and one output "
                   "(this one has %d and %d)", m->n_inputs, m->n_outputs);
        return -1;
    }
    if (data_reset(sl->ds, 0) != 0) {
        diag_error(rs->d, sl->st->loc, "out of memory");
        return -1;
    }
    batch b = {0};
    int got, rc = 0;
    exec_plan *plan = NULL;   /* built with the first batch, reused by the others */
    const char *const *outputs = (const char *const *)m->outputs;
    while ((got = data_next(sl->ds, &b, rs->d)) == 1) {
        const tensor *in[1] = {&b.x};
        const float *masks[1] = {b.mask.data};
        tensor out = {0};
        char err[256];
        if ((!plan && exec_plan_for_nodes(&plan, m, outputs, 1, err, sizeof err) != 0) ||
            exec_predict(plan, in, masks, outputs, 1, &out, err, sizeof err) != 0) {
            diag_error(rs->d, sl->st->loc, "evaluate %s: %s", sl->st->name, err);
            rc = -1;
        } else if (eval_add(e, &out, &b.y, b.label_mask.data ? &b.label_mask : NULL, err,
                            sizeof err) != 0) {
            diag_error(rs->d, sl->st->loc, "evaluate %s: %s", sl->st->name, err);
            rc = -1;
        } else {
            const layer *L = model_find_layer(m, m->outputs[0]);
            if (loss_layer_has_score(L))
                eval_add_loss(e, loss_layer_score(L, &out, &b.y, b.label_mask.data), b.n);
        }
        tensor_release(&out);
        if (rc)
            break;
    }
    exec_plan_free(plan);
    batch_release(&b);
    return got < 0 ? -1 : rc;
}

static int evaluate_slot(run_state *rs, data_slot *sl, bool print)
{
    if (!slot_open(rs, sl))
        return -1;
    evaluation *e = eval_new(data_classes(sl->ds), data_outputs(sl->ds));
    if (!e) {
        diag_error(rs->d, sl->st->loc, "out of memory");
        return -1;
    }
    int rc = sl->features ? featurized_evaluate(rs->m, sl->features, sl->ds, e, rs->d)
                          : evaluate_plain(rs, sl, e);
    if (rc != 0) {
        eval_free(e);
        return -1;
    }
    eval_free(sl->last_eval);
    sl->last_eval = e;
    if (print && !rs->o->quiet && rs->o->out) {
        char title[256];
        snprintf(title, sizeof title, "evaluate %s", sl->st->name);
        eval_print(e, rs->o->out, title);
        fflush(rs->o->out);
    }
    if (rs->o->log) {
        eval_write_json(e, rs->o->log, sl->st->name);
        fputc('\n', rs->o->log);
    }
    return 0;
}

static const char *cmp_text(ir_cmp c)
{
    switch (c) {
    case CMP_GE: return ">=";
    case CMP_GT: return ">";
    case CMP_LE: return "<=";
    case CMP_LT: return "<";
    case CMP_EQ: return "==";
    }
    return "?";
}

static bool cmp_holds(ir_cmp c, double v, double t)
{
    switch (c) {
    case CMP_GE: return v >= t;
    case CMP_GT: return v > t;
    case CMP_LE: return v <= t;
    case CMP_LT: return v < t;
    case CMP_EQ: return v == t;
    }
    return false;
}

/* Returns 0 when met, 1 when not met (reported), -1 on an error. */
static int do_expect(run_state *rs, const ir_stmt *st)
{
    data_slot *sl = slot_find(rs, st->name);
    if (!sl)
        return -1;
    if (!sl->last_eval && evaluate_slot(rs, sl, false) != 0)
        return -1;
    bool ok = false;
    double v = eval_metric(sl->last_eval, st->metric, &ok);
    if (!ok || isnan(v)) {
        diag_error(rs->d, st->metric_loc, "metric '%s' is not defined for data '%s'", st->metric,
                   st->name);
        return -1;
    }
    if (cmp_holds(st->cmp, v, st->threshold)) {
        if (!rs->o->quiet && rs->o->out)
            fprintf(rs->o->out, "expect %s(%s) %s %g: met (%.6g)\n", st->metric, st->name,
                    cmp_text(st->cmp), st->threshold, v);
        return 0;
    }
    diag_error(rs->d, st->loc, "expectation not met: %s(%s) is %.6g, expected %s %g", st->metric,
               st->name, v, cmp_text(st->cmp), st->threshold);
    return 1;
}

static int do_save(run_state *rs, const ir_stmt *st)
{
    char *path = ir_resolve_path(st, st->name);
    if (!path) {
        diag_error(rs->d, st->loc, "out of memory");
        return -1;
    }
    int rc = 0;
    if (make_parent_dirs(path) != 0) {
        diag_error(rs->d, st->name_loc, "cannot create the folder of '%s'", path);
        rc = -1;
    } else if (model_save_mode(rs->m, path, rs->o->sync ? SAVE_DURABLE : SAVE_ATOMIC,
                               rs->d) != 0) {
        rc = -1;
    } else {
        char *w = model_weights_path(path);
        if (w)
            report(rs, "saved %s and %s\n", path, w);
        else
            report(rs, "saved %s%s\n", path, "");
        free(w);
    }
    free(path);
    return rc;
}

static const ir_stmt *base_stmt(const ir_script *s)
{
    for (int i = 0; i < s->n_stmts; i++)
        if (s->stmts[i].kind == IR_BASE)
            return &s->stmts[i];
    return NULL;
}

static model *load_base(run_state *rs)
{
    const ir_stmt *st = base_stmt(rs->s);
    if (!st) {
        diag_error(rs->d, loc_none(), "%s: the script has no `base` statement", rs->s->path);
        return NULL;
    }
    char *path = ir_resolve_path(st, st->name);
    if (!path) {
        diag_error(rs->d, st->loc, "out of memory");
        return NULL;
    }
    model *m = model_load(path, true, rs->d);
    free(path);
    return m;
}

/* The hash of the base model's files, when some fit writes checkpoints. */
static int hash_base(run_state *rs)
{
    bool needed = false;
    for (int i = 0; i < rs->s->n_stmts; i++)
        needed |= rs->s->stmts[i].kind == IR_FIT && ir_opt(&rs->s->stmts[i], "checkpoint");
    if (!needed)
        return 0;
    const ir_stmt *st = base_stmt(rs->s);
    char *path = ir_resolve_path(st, st->name);
    int rc = fit_base_hash(path, rs->m->weights_file, st->loc, &rs->base_hash, rs->d);
    free(path);
    return rc;
}

/* --resume: finds the fit to continue; the statements before it are skipped except those that
 * set up what it needs (data, featurize, the normaliser of a fit). */
static int find_resume(run_state *rs)
{
    rs->resume_at = -1;
    if (!rs->o->resume)
        return 0;
    int r = fit_find_resume(rs->s, &rs->resume_at, &rs->resume, rs->d);
    if (r < 0)
        return -1;
    if (r == 0) {
        rs->resume_at = -1;
        report(rs, "%s%s", "resume: no checkpoint found; running from the start\n", "");
    }
    return 0;
}

/* A statement before the resumed fit: 1 when it is skipped, 0 when it runs, -1 on an error. */
static int skip_before_resume(run_state *rs, int index)
{
    if (index >= rs->resume_at)
        return 0;
    const ir_stmt *st = &rs->s->stmts[index];
    switch (st->kind) {
    case IR_FIT: {
        /* its weights are in the checkpoint; the normaliser it fits is not */
        data_slot *sl = slot_find(rs, st->name);
        return sl && slot_open(rs, sl) && maybe_fit_normalizer(rs, sl) == 0 ? 1 : -1;
    }
    case IR_EVALUATE:
    case IR_EXPECT:
    case IR_SAVE:
        return 1;
    default:
        return 0;
    }
}

int exec_script(const ir_script *s, const exec_options *o, diag_ctx *d)
{
    run_state rs = {.s = s, .o = o, .d = d};
    if (find_resume(&rs) != 0)
        return 4;
    rs.m = load_base(&rs);
    if (!rs.m || hash_base(&rs) != 0) {
        model_free(rs.m);
        checkpoint_free(rs.resume);
        return 4;
    }
    int status = 0;
    if (edit_apply_pending(rs.m, s, d) != 0 || model_infer_shapes(rs.m, d) != 0) {
        status = 1;
        goto out;
    }
    if (model_init_params(rs.m) != 0) {
        diag_error(d, loc_none(), "out of memory while initialising new parameters");
        status = 4;
        goto out;
    }
    rs.slots = calloc((size_t)(s->n_stmts > 0 ? s->n_stmts : 1), sizeof *rs.slots);
    if (!rs.slots) {
        status = 4;
        goto out;
    }
    for (int i = 0; i < s->n_stmts && status == 0; i++) {
        const ir_stmt *st = &s->stmts[i];
        int skip = skip_before_resume(&rs, i);
        if (skip != 0) {
            status = skip < 0 ? 4 : 0;
            continue;
        }
        /* a step that computes with the model needs every widened tensor in memory; save
         * streams them into the file as they are */
        bool computes = st->kind == IR_FEATURIZE || st->kind == IR_FIT ||
                        st->kind == IR_EVALUATE || st->kind == IR_EXPECT;
        if (computes && model_settle(rs.m) != 0) {
            diag_error(d, st->loc, "out of memory while assembling the edited parameters");
            status = 4;
            break;
        }
        switch (st->kind) {
        case IR_DATA:
            rs.slots[rs.n_slots++].st = st;
            break;
        case IR_FEATURIZE:
            if (do_featurize(&rs, st) != 0)
                status = 4;
            break;
        case IR_FIT:
            if (do_fit(&rs, i) != 0)
                status = 4;
            break;
        case IR_EVALUATE: {
            data_slot *sl = slot_find(&rs, st->name);
            if (!sl || evaluate_slot(&rs, sl, true) != 0)
                status = 4;
            break;
        }
        case IR_EXPECT: {
            int r = do_expect(&rs, st);
            status = r < 0 ? 4 : r > 0 ? 3 : 0;
            break;
        }
        case IR_SAVE:
            if (do_save(&rs, st) != 0)
                status = 4;
            break;
        default:
            break;
        }
    }
out:
    for (int i = 0; i < rs.n_slots; i++) {
        feature_set_free(rs.slots[i].features);
        eval_free(rs.slots[i].last_eval);
        data_close(rs.slots[i].ds);
    }
    free(rs.slots);
    model_free(rs.m);
    checkpoint_free(rs.resume);
    return status;
}
