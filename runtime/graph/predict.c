/* predict.c: inference on the execution plan (model_predict, model_predict_nodes, and a plan
 * reused over many batches). */
#include "runtime/graph/predict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Checks an input tensor against the model input's declared shape; sets *batch. */
static int check_input(const model_input *mi, const tensor *t, int64_t *batch, char *err,
                       size_t err_len)
{
    char got[96] = "(none)", want[96];
    if (t && t->data)
        shape_str(got, sizeof got, t->ndim, t->shape);
    bool good = t && t->data;
    int64_t b = 0;
    switch (mi->kind) {
    case INPUT_FEED_FORWARD:
        snprintf(want, sizeof want, "[batch, %lld]", (long long)mi->size);
        good = good && t->ndim == 2 && t->shape[1] == mi->size;
        b = good ? t->shape[0] : 0;
        break;
    case INPUT_RECURRENT:
        snprintf(want, sizeof want, "[time, batch, %lld]", (long long)mi->size);
        good = good && t->ndim == 3 && t->shape[2] == mi->size;
        b = good ? t->shape[1] : 0;
        break;
    case INPUT_CONVOLUTIONAL:
        snprintf(want, sizeof want, "[batch, %lld, %lld, %lld] (NCHW)", (long long)mi->c,
                 (long long)mi->h, (long long)mi->w);
        good = good && ((t->ndim == 4 && t->shape[1] == mi->c && t->shape[2] == mi->h &&
                         t->shape[3] == mi->w) ||
                        (t->ndim == 2 && t->shape[1] == mi->h * mi->w * mi->c));
        b = good ? t->shape[0] : 0;
        break;
    }
    if (!good) {
        if (err && err_len)
            snprintf(err, err_len, "input '%s': expected %s, got %s", mi->name, want, got);
        return -1;
    }
    if (*batch >= 0 && b != *batch) {
        if (err && err_len)
            snprintf(err, err_len, "input '%s': batch size %lld differs from another input's %lld",
                     mi->name, (long long)b, (long long)*batch);
        return -1;
    }
    *batch = b;
    return 0;
}

int exec_plan_for_nodes(exec_plan **out, model *m, const char *const *names, int n_names,
                        char *err, size_t err_len)
{
    switch (exec_plan_build(out, m, NULL)) {
    case EXEC_OK:
        break;
    case EXEC_NO_MEMORY:
        return fail(err, err_len, "out of memory");
    case EXEC_GRAPH_ERRORS:
        return fail(err, err_len, "model '%s' has graph or shape errors (see `surgery check`)",
                    m->name ? m->name : "");
    }
    int bad = exec_plan_select(*out, names, n_names, true);
    if (bad > 0) {
        exec_plan_free(*out);
        *out = NULL;
        return fail(err, err_len, "output '%s' is not defined", names[bad - 1]);
    }
    return 0;
}

int exec_predict(exec_plan *p, const tensor *const *inputs, const float *const *masks,
                 const char *const *names, int n_names, tensor *outputs, char *err,
                 size_t err_len)
{
    model *m = p->m;
    if (err && err_len)
        err[0] = '\0';
    for (int j = 0; j < n_names; j++)
        tensor_release(&outputs[j]);
    int rc = -1;
    int64_t batch = -1;
    for (int k = 0; k < m->n_inputs; k++)
        if (check_input(&m->inputs[k], inputs ? inputs[k] : NULL, &batch, err, err_len))
            goto out;
    if (batch < 0)
        batch = 0;
    exec_feed f = {.inputs = inputs, .masks = masks, .first_input_mask = true, .batch = batch,
                   .time = -1, .check_weights = true, .err = err, .err_len = err_len};
    if (exec_forward(p, &f) != 0) {
        if (!err || !err_len || !err[0])
            fail(err, err_len, "out of memory computing layer '%s'",
                 m->layers[p->failed_layer]->name);
        goto out;
    }
    for (int j = 0; j < n_names; j++) {
        int li = model_layer_index(m, names[j]);
        const tensor *src = li >= 0 ? &p->act[li] : inputs[model_input_index(m, names[j])];
        bool later = false;
        for (int k = j + 1; k < n_names && li >= 0; k++)
            later = later || strcmp(names[k], names[j]) == 0;
        if (li >= 0 && !later) {
            outputs[j] = p->act[li];
            memset(&p->act[li], 0, sizeof p->act[li]);
        } else if (tensor_copy(&outputs[j], src)) {
            fail(err, err_len, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        for (int j = 0; j < n_names; j++)
            tensor_release(&outputs[j]);
    for (int i = 0; i < p->n; i++)
        tensor_release(&p->act[i]);
    return rc;
}

int model_predict_nodes(model *m, const tensor *const *inputs, const float *const *masks,
                        const char *const *names, int n_names, tensor *outputs, char *err,
                        size_t err_len)
{
    if (err && err_len)
        err[0] = '\0';
    for (int j = 0; j < n_names; j++)
        tensor_release(&outputs[j]);
    exec_plan *p;
    if (exec_plan_for_nodes(&p, m, names, n_names, err, err_len) != 0)
        return -1;
    int rc = exec_predict(p, inputs, masks, names, n_names, outputs, err, err_len);
    exec_plan_free(p);
    return rc;
}

int model_predict(model *m, const tensor *const *inputs, tensor *outputs, char *err, size_t err_len)
{
    return model_predict_nodes(m, inputs, NULL, (const char *const *)m->outputs, m->n_outputs,
                               outputs, err, err_len);
}
