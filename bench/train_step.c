/* train_step.c: median training-step time of the trainer (sgd) for an LSTM(32->256) +
 * rnn_output(10) on [50, 64, 32] sequences and an MLP 784-1024-1024-10 on batches of 128;
 * prints "name ms" lines, comparable with bench/train_step_torch.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/layer.h"
#include "runtime/model.h"
#include "runtime/rng.h"
#include "runtime/train.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static layer *add(model *m, const layer_type *t, const char *name, const char *in, int64_t n,
                  activation_kind act)
{
    layer *L = layer_new(t, name);
    L->n_out = n;
    L->activation = act;
    layer_set_inputs(L, &in, 1);
    model_add_layer(m, L);
    updater_conf_defaults(&L->train.updater, UPD_SGD);
    L->train.updater.learning_rate = 0.01;
    return L;
}

/* Uniform(-r, r) weights, r = sqrt(6 / (fan_in + fan_out)); zero biases. */
static int init_params(model *m)
{
    if (model_infer_shapes(m, NULL) != 0)
        return -1;
    rng r;
    rng_seed(&r, 1);
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        param_spec s[LAYER_MAX_PARAMS];
        L->n_params = L->type->param_specs ? L->type->param_specs(L, s) : 0;
        for (int p = 0; p < L->n_params; p++) {
            if (tensor_alloc(&L->params[p], s[p].ndim, s[p].shape) != 0)
                return -1;
            double a = sqrt(6.0 / (double)(s[p].fan_in + s[p].fan_out));
            if (s[p].role != PARAM_BIAS)
                for (int64_t e = 0; e < L->params[p].size; e++)
                    L->params[p].data[e] = (float)((2 * rng_uniform(&r) - 1) * a);
        }
    }
    return 0;
}

static int run(const char *name, model *m, tensor *x, tensor *y, int reps)
{
    train_options o;
    train_options_init(&o);
    double *t = calloc((size_t)reps, sizeof *t);
    const tensor *in[1] = {x};
    int rc = 0;
    for (int i = 0; i < reps + 3 && rc == 0; i++) {
        double t0 = now_ms(), loss;
        rc = train_step(m, in, y, NULL, NULL, &o, &loss, NULL);
        if (i >= 3)
            t[i - 3] = now_ms() - t0;
    }
    if (rc == 0) {
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        printf("%s %.2f\n", name, t[reps / 2]);
        fflush(stdout);
    }
    free(t);
    train_options_release(&o);
    return rc;
}

static void fill(tensor *t, rng *r)
{
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = (float)rng_normal(r);
}

static void one_hot(tensor *y, rng *r)
{
    int64_t k = y->shape[y->ndim - 1];
    for (int64_t row = 0; row < y->size / k; row++)
        y->data[row * k + (int64_t)rng_below(r, (uint64_t)k)] = 1.0f;
}

int main(void)
{
    rng r;
    rng_seed(&r, 2);
    int rc = 0;

    model *lm = model_new("lstm");
    model_add_input(lm, "in", INPUT_RECURRENT, 32, loc_none());
    add(lm, &layer_type_lstm, "lstm", "in", 256, ACT_TANH);
    add(lm, &layer_type_rnn_output, "out", "lstm", 10, ACT_SOFTMAX)->loss = LOSS_MCXENT;
    model_set_outputs(lm, (const char *[]){"out"}, 1);
    tensor x = {0}, y = {0};
    if (init_params(lm) || tensor_alloc3(&x, 50, 64, 32) || tensor_alloc3(&y, 50, 64, 10))
        return 1;
    fill(&x, &r);
    one_hot(&y, &r);
    rc |= run("lstm_32_256_b64_t50", lm, &x, &y, 20);
    tensor_release(&x);
    tensor_release(&y);
    model_free(lm);

    model *mm = model_new("mlp");
    model_add_input(mm, "in", INPUT_FEED_FORWARD, 784, loc_none());
    add(mm, &layer_type_dense, "fc1", "in", 1024, ACT_RELU);
    add(mm, &layer_type_dense, "fc2", "fc1", 1024, ACT_RELU);
    add(mm, &layer_type_output, "out", "fc2", 10, ACT_SOFTMAX)->loss = LOSS_MCXENT;
    model_set_outputs(mm, (const char *[]){"out"}, 1);
    if (init_params(mm) || tensor_alloc2(&x, 128, 784) || tensor_alloc2(&y, 128, 10))
        return 1;
    fill(&x, &r);
    one_hot(&y, &r);
    rc |= run("mlp_784_1024_1024_10_b128", mm, &x, &y, 50);
    tensor_release(&x);
    tensor_release(&y);
    model_free(mm);
    return rc ? 1 : 0;
}
