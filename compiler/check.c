/* check.c: the checks that need the base model: its architecture loaded (never its weights),
 * the script's edits applied with shape inference, data sources probed against the model. */
#include "compiler/check.h"
#include "compiler/check_steps.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"
#include "runtime/script/data_stmt.h"
#include "runtime/edits/edit.h"
#include "runtime/formats/format.h"

static const ir_stmt *find_base(const ir_script *s)
{
    for (int i = 0; i < s->n_stmts; i++)
        if (s->stmts[i].kind == IR_BASE)
            return &s->stmts[i];
    return NULL;
}

/* The single loss layer among the outputs, or NULL. */
static const layer *single_output_layer(const model *m)
{
    if (m->n_outputs != 1)
        return NULL;
    const layer *L = model_find_layer(m, m->outputs[0]);
    return L && (L->type->flags & LT_LOSS) ? L : NULL;
}

/* Every data statement's source, probed from its header or first record, against the edited
 * model's input (features, sequence or not) and its output layer (classes or targets). */
static void check_data(const ir_script *s, const model *m, diag_ctx *d)
{
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *st = &s->stmts[i];
        if (st->kind != IR_DATA)
            continue;
        data_info info;
        data_spec spec = data_stmt_spec(st);
        spec.input = m->n_inputs == 1 ? &m->inputs[0] : NULL;
        if (data_probe_info(&spec, d, &info) != 0)
            continue;
        check_expect_metrics(s, st, &info, d);
        if (m->n_inputs == 1) {
            const model_input *in = &m->inputs[0];
            int64_t want = in->kind == INPUT_CONVOLUTIONAL ? in->h * in->w * in->c : in->size;
            bool rnn = in->kind == INPUT_RECURRENT;
            bool image = info.channels > 0 && in->kind == INPUT_CONVOLUTIONAL;
            if (image && (info.channels != in->c || info.height != in->h || info.width != in->w)) {
                char got[64], exp[64];
                act_shape g = act_shape_cnn(info.channels, info.height, info.width);
                act_shape e = act_shape_cnn(in->c, in->h, in->w);
                diag_error(d, st->loc, "data '%s' gives %s images (C x H x W), but the model's "
                           "input '%s' expects %s", st->name, act_shape_text(&g, got, sizeof got),
                           in->name, act_shape_text(&e, exp, sizeof exp));
                if (in->loc.line > 0)
                    diag_note(d, in->loc, "'%s' is defined here", in->name);
            } else if (info.sequence != rnn) {
                diag_error(d, st->loc, "data '%s' is %s, but the model's input '%s' is %s",
                           st->name, info.sequence ? "a sequence source" : "not a sequence source",
                           in->name, rnn ? "recurrent" : "not recurrent");
                if (in->loc.line > 0)
                    diag_note(d, in->loc, "'%s' is defined here", in->name);
            } else if (info.features != want) {
                diag_error(d, st->loc, "data '%s' has %" PRId64 " feature%s per %s, but the "
                           "model's input '%s' takes %" PRId64, st->name, info.features,
                           info.features == 1 ? "" : "s", info.sequence ? "step" : "example",
                           in->name, want);
                if (in->loc.line > 0)
                    diag_note(d, in->loc, "'%s' is defined here", in->name);
            }
        }
        const layer *out = single_output_layer(m);
        if (out && info.outputs > 0 && out->n_out != info.outputs) {
            if (info.classes > 0)
                diag_error(d, st->loc, "data '%s' has %" PRId64 " classes, but output layer '%s' "
                           "has %" PRId64 " units", st->name, info.classes, out->name, out->n_out);
            else
                diag_error(d, st->loc, "data '%s' has %" PRId64 " regression target%s, but "
                           "output layer '%s' has %" PRId64 " units", st->name, info.outputs,
                           info.outputs == 1 ? "" : "s", out->name, out->n_out);
            if (out->loc.line > 0)
                diag_note(d, out->loc, "'%s' is defined here", out->name);
        }
    }
}

int check_script_model_plan(const ir_script *s, diag_ctx *d, model **before, model **after,
                            struct edit_log **log_out)
{
    int start = diag_error_count(d);
    if (before)
        *before = NULL;
    if (after)
        *after = NULL;
    if (log_out)
        *log_out = NULL;
    const ir_stmt *base = find_base(s);
    if (!base)
        return 0;   /* the front end reports a missing base */
    char *path = ir_resolve_path(base, base->name);
    if (!path) {
        diag_error(d, base->loc, "out of memory");
        return diag_error_count(d) - start;
    }
    model *m = model_load(path, false, d);
    if (!m) {
        free(path);
        diag_note(d, base->name_loc.line ? base->name_loc : base->loc, "base model named here");
        return diag_error_count(d) - start;
    }
    check_save_targets(s, path, m, d);
    free(path);
    model *b = before ? model_clone(m, false) : NULL;
    edit_log *log = edit_log_new();
    if (!log || (before && !b)) {
        diag_error(d, loc_none(), "out of memory");
        edit_log_free(log);
        model_free(b);
        model_free(m);
        return diag_error_count(d) - start;
    }
    /* edit_apply ends with the graph checks (dangling inputs, cycles, outputs) and the shape
     * inference of every layer in topological order (each layer type's infer, as
     * model_infer_shapes runs it), with each error placed on the script line that causes it */
    edit_apply_log(m, s, d, log);
    if (log->structure_ok) {
        /* the steps are checked against edits without errors (no cascades) */
        bool edits_ok = diag_error_count(d) == start;
        check_data(s, m, d);
        if (edits_ok)
            check_run_steps(s, m, d);
    }
    int errors = diag_error_count(d) - start;
    if (before)
        *before = b;
    if (log_out)
        *log_out = log;
    else
        edit_log_free(log);
    if (after)
        *after = m;
    else
        model_free(m);
    return errors;
}

int check_script_model(const ir_script *s, diag_ctx *d, model **after)
{
    model *m = NULL;
    int errors = check_script_model_plan(s, d, NULL, after ? &m : NULL, NULL);
    if (after) {
        if (errors == 0) {
            *after = m;
        } else {
            *after = NULL;
            model_free(m);
        }
    }
    return errors;
}
