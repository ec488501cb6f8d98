/* check_steps.c: save targets that would overwrite the base model or a data file, and the run
 * steps (featurize, fit, evaluate, expect) the edited architecture cannot run, found before
 * anything runs. */
#include "compiler/check_steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/base/path.h"
#include "runtime/base/util.h"
#include "runtime/data/data.h"
#include "runtime/featurize/featurize.h"
#include "runtime/formats/format.h"
#include "runtime/formats/native.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/train/eval.h"

/* ---- save targets ---- */

/* A file a run reads and must never write. */
typedef struct input_file {
    char *path;
    char *what;             /* "the base model's YAML", "a file of data 'd'" */
    src_loc where;          /* the statement that names it */
    dev_t dev;
    ino_t ino;
} input_file;

typedef struct input_files {
    input_file *v;
    int n, cap;
} input_files;

/* Adds path when it names an existing file (takes path; frees it otherwise). */
static void add_input(input_files *in, char *path, const char *what, src_loc where)
{
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        free(path);
        return;
    }
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 8;
        in->v = xrealloc(in->v, (size_t)in->cap * sizeof *in->v);
    }
    in->v[in->n++] = (input_file){path, xstrdup(what), where, sb.st_dev, sb.st_ino};
}

/* Every string in a data source call (its paths among them), resolved against the statement. */
static void add_data_strings(input_files *in, const ir_stmt *st, const conf_value *v, const char *what)
{
    if (!v)
        return;
    if (v->kind == CV_STR)
        add_input(in, ir_resolve_path(st, v->str), what, v->loc.line ? v->loc : st->loc);
    for (int i = 0; i < v->n_args; i++)
        add_data_strings(in, st, v->args[i].value, what);
}

static const input_file *find_input(const input_files *in, const char *path)
{
    struct stat sb;
    if (!path || stat(path, &sb) != 0)
        return NULL;
    for (int i = 0; i < in->n; i++)
        if (in->v[i].dev == sb.st_dev && in->v[i].ino == sb.st_ino)
            return &in->v[i];
    return NULL;
}

static void check_one_save(const ir_stmt *st, const input_files *in, diag_ctx *d)
{
    src_loc at = st->name_loc.line ? st->name_loc : st->loc;
    char *yaml = ir_resolve_path(st, st->name);
    char *weights = model_weights_path(yaml);
    struct stat sb;
    const input_file *hit = find_input(in, yaml);
    const char *written = yaml;
    if (!hit && weights) {
        hit = find_input(in, weights);
        written = weights;
    }
    if (hit) {
        diag_error(d, at, "save would write '%s', which is %s ('%s'); a run never writes its "
                   "inputs: save under another name", written, hit->what, hit->path);
        if (hit->where.line > 0)
            diag_note(d, hit->where, "%s is named here", hit->what);
    } else if (!weights && str_ends_with(st->name, ".yaml")) {
        diag_error(d, at, "save writes NAME.yaml and NAME.safetensors: \"%s\" has no NAME",
                   st->name);
    } else if (str_ends_with(st->name, ".onnx") && !strcmp(path_base_name(st->name), ".onnx")) {
        diag_error(d, at, "save writes NAME.onnx: \"%s\" has no NAME", st->name);
    } else if (stat(yaml, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        diag_error(d, at, "save would write '%s', which is a folder", yaml);
    }
    free(weights);
    free(yaml);
}

void check_save_targets(const ir_script *s, const char *base_path, const model *base,
                        diag_ctx *d)
{
    input_files in = {0};
    const ir_stmt *base_st = NULL;
    for (int i = 0; i < s->n_stmts && !base_st; i++)
        if (s->stmts[i].kind == IR_BASE)
            base_st = &s->stmts[i];
    src_loc base_loc = base_st ? (base_st->name_loc.line ? base_st->name_loc : base_st->loc)
                               : loc_none();
    add_input(&in, xstrdup(base_path), "the base model's YAML", base_loc);
    if (base->weights_file) {
        /* the weights file is named relative to the folder of the base YAML */
        ir_stmt beside = {.loc = {.file = base_path}};
        add_input(&in, ir_resolve_path(&beside, base->weights_file), "the base model's weights",
                  base_loc);
    }
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *st = &s->stmts[i];
        if (st->kind != IR_DATA || !st->name)
            continue;
        char what[256];
        snprintf(what, sizeof what, "a file of data '%s'", st->name);
        add_data_strings(&in, st, st->value, what);
    }
    for (int i = 0; i < s->n_stmts; i++)
        if (s->stmts[i].kind == IR_SAVE && s->stmts[i].name)
            check_one_save(&s->stmts[i], &in, d);
    for (int i = 0; i < in.n; i++) {
        free(in.v[i].path);
        free(in.v[i].what);
    }
    free(in.v);
}

/* ---- run steps ---- */

/* A save whose format cannot hold the edited model, as its writer's check says. */
static void check_save_format(const ir_stmt *st, const model *m, diag_ctx *d)
{
    char err[2048];
    const char *format = NULL;
    if (model_save_check(m, st->name, &format, err, sizeof err) == 0)
        return;
    diag_error(d, st->name_loc.line ? st->name_loc : st->loc, "save \"%s\": the %s writer "
               "cannot hold the edited model: %s", st->name, format, err);
}

/* Whether a `featurize NAME` comes before statement `upto`. */
static bool featurized_before(const ir_script *s, int upto, const char *name)
{
    for (int i = 0; i < upto; i++)
        if (s->stmts[i].kind == IR_FEATURIZE && s->stmts[i].name &&
            !strcmp(s->stmts[i].name, name))
            return true;
    return false;
}

static void check_fit(const ir_stmt *st, const model *m, bool featurized, diag_ctx *d)
{
    if (!featurized && (m->n_inputs != 1 || m->n_outputs != 1)) {
        diag_error(d, st->loc, "cannot train on data '%s': the model has %d inputs and %d outputs "
                   "(one of each is needed)", st->name, m->n_inputs, m->n_outputs);
        return;
    }
    for (int j = 0; j < m->n_outputs; j++)
        if (!loss_layer_has_score(model_find_layer(m, m->outputs[j]))) {
            diag_error(d, st->loc, "cannot train: model output '%s' is not an output layer with a "
                       "loss (output or rnn_output)", m->outputs[j]);
            return;
        }
}

static bool check_evaluable(const ir_stmt *st, const model *m, bool featurized, diag_ctx *d)
{
    if (featurized || (m->n_inputs == 1 && m->n_outputs == 1))
        return true;
    diag_error(d, st->loc, "%s needs a model with one input and one output (this one has "
               "%d and %d)", ir_kind_names[st->kind], m->n_inputs, m->n_outputs);
    return false;
}

static void check_loss_metric(const ir_stmt *st, const model *m, diag_ctx *d)
{
    const layer *L = m->n_outputs == 1 ? model_find_layer(m, m->outputs[0]) : NULL;
    if (!L || loss_layer_has_score(L))
        return;
    diag_error(d, st->metric_loc.line ? st->metric_loc : st->loc, "metric 'loss' is not defined "
               "for data '%s': the model's output '%s' has no loss", st->name, L->name);
    if (L->loc.line > 0)
        diag_note(d, L->loc, "'%s' is defined here", L->name);
}

void check_expect_metrics(const ir_script *s, const ir_stmt *data, const data_info *info,
                          diag_ctx *d)
{
    bool cls = info->classes > 0;
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *st = &s->stmts[i];
        if (st->kind != IR_EXPECT || !st->metric || !st->name || strcmp(st->name, data->name) ||
            !strcmp(st->metric, "loss") || eval_metric_applies(st->metric, cls))
            continue;
        diag_error(d, st->metric_loc.line ? st->metric_loc : st->loc, "metric '%s' is not defined "
                   "for data '%s': it is %s data (%s)", st->metric, st->name,
                   cls ? "classification" : "regression",
                   cls ? "accuracy, precision, recall, f1 or loss apply"
                       : "mse, mae, rmse, r2 or loss apply");
        diag_note(d, data->loc, "data '%s' is defined here", st->name);
    }
}

void check_run_steps(const ir_script *s, const model *m, diag_ctx *d)
{
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *st = &s->stmts[i];
        if (!st->name)
            continue;
        bool featurized = featurized_before(s, i, st->name);
        switch (st->kind) {
        case IR_FEATURIZE:
            featurize_check_model(m, st->loc, d);
            break;
        case IR_FIT:
            check_fit(st, m, featurized, d);
            break;
        case IR_EVALUATE:
            check_evaluable(st, m, featurized, d);
            break;
        case IR_EXPECT:
            if (check_evaluable(st, m, featurized, d) && st->metric && !strcmp(st->metric, "loss"))
                check_loss_metric(st, m, d);
            break;
        case IR_SAVE:
            check_save_format(st, m, d);
            break;
        default:
            break;
        }
    }
}
