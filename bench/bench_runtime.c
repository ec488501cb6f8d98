/* bench_runtime.c: times inference and training steps of the benchmark models (LSTM(32->256) +
 * rnn_output(10), batch 64, 50 steps; MLP 784-1024-1024-10, batch 128; the CNN 3x32x32 -
 * conv3x3x32 same relu - maxpool 2 - conv3x3x64 same relu - maxpool 2 - output 10, batch 64),
 * the inference of a VGG11-sized convolutional body at 3x224x224 (batch 1 and 8), or the sgemm
 * peak, and prints one line per measurement: NAME ms gflops peak_rss_mb cpu_ms, where ms is
 * the fastest of the repetitions (the least disturbed by other work on the machine) and cpu_ms
 * the least process CPU time of one repetition (all threads). Threads: OpenBLAS's own
 * (OPENBLAS_NUM_THREADS). Usage: bench-runtime lstm|mlp|cnn|vgg11|sgemm (one model a process,
 * so peak memory is the model's own). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h>

#include "runtime/base/conf.h"
#include "runtime/base/diag.h"
#include "runtime/base/rng.h"
#include "runtime/graph/builder.h"
#include "runtime/graph/model.h"
#include "runtime/train/train.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static layer *mk(model *m, const char *type, const char *name, const char *input, int64_t n_out,
                 activation_kind act, loss_kind loss)
{
    layer *L = layer_new(layer_type_find(type), name);
    const char *ins[1] = {input};
    layer_set_inputs(L, ins, 1);
    L->n_out = n_out;
    L->activation = act;
    L->loss = loss;
    model_add_layer(m, L);
    return L;
}

static model *lstm_model(void)
{
    model *m = model_new("bench_lstm");
    model_add_input(m, "in", INPUT_RECURRENT, 32, loc_none());
    mk(m, "lstm", "lstm1", "in", 256, ACT_TANH, LOSS_NONE);
    mk(m, "rnn_output", "out", "lstm1", 10, ACT_SOFTMAX, LOSS_MCXENT);
    const char *outs[1] = {"out"};
    model_set_outputs(m, outs, 1);
    return m;
}

static model *mlp_model(void)
{
    model *m = model_new("bench_mlp");
    model_add_input(m, "in", INPUT_FEED_FORWARD, 784, loc_none());
    mk(m, "dense", "fc1", "in", 1024, ACT_RELU, LOSS_NONE);
    mk(m, "dense", "fc2", "fc1", 1024, ACT_RELU, LOSS_NONE);
    mk(m, "output", "out", "fc2", 10, ACT_SOFTMAX, LOSS_MCXENT);
    const char *outs[1] = {"out"};
    model_set_outputs(m, outs, 1);
    return m;
}

static void fill(tensor *t, rng *r)
{
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = (float)(rng_uniform(r) * 2 - 1);
}

static void one_hot(tensor *y, rng *r)
{
    int64_t k = y->shape[y->ndim - 1], rows = y->size / k;
    for (int64_t i = 0; i < rows; i++)
        y->data[i * k + (int64_t)rng_below(r, (uint64_t)k)] = 1.0f;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double least(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

/* Times reps inference passes and, unless y is NULL, reps training steps (SGD), each after two
 * untimed ones; a training step counts as three forward passes of arithmetic. */
static void bench(const char *name, model *m, tensor *x, tensor *y, double flops_fwd, int reps)
{
    m->training.set_mask |= TC_UPDATER;
    m->training.updater.kind = UPD_SGD;
    m->training.updater.learning_rate = 1e-3;
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i]->train.set_mask |= TC_UPDATER;
        m->layers[i]->train.updater = m->training.updater;
    }
    double t[64], cpu[64];
    tensor out = {0};
    char err[256];
    const tensor *in[1] = {x};
    for (int i = 0; i < reps + 2; i++) {
        double t0 = now_ms(), c0 = cpu_ms();
        if (model_predict(m, in, &out, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", name, err);
            exit(1);
        }
        if (i >= 2) {
            t[i - 2] = now_ms() - t0;
            cpu[i - 2] = cpu_ms() - c0;
        }
    }
    tensor_release(&out);
    double inf = least(t, reps);
    printf("%s_inference %.3f %.1f %.0f %.3f\n", name, inf, flops_fwd / inf / 1e6, peak_rss_mb(),
           least(cpu, reps));
    if (!y)
        return;
    train_options o;
    train_options_init(&o);
    double loss;
    for (int i = 0; i < reps + 2; i++) {
        double t0 = now_ms(), c0 = cpu_ms();
        if (train_step(m, in, y, NULL, NULL, &o, &loss, NULL) != 0) {
            fprintf(stderr, "%s: training step failed\n", name);
            exit(1);
        }
        if (i >= 2) {
            t[i - 2] = now_ms() - t0;
            cpu[i - 2] = cpu_ms() - c0;
        }
    }
    train_options_release(&o);
    double tr = least(t, reps);
    printf("%s_train_step %.3f %.1f %.0f %.3f\n", name, tr, 3 * flops_fwd / tr / 1e6,
           peak_rss_mb(), least(cpu, reps));
}

/* The machine's sgemm rate: C = A B for 1024^3, the fastest of 9 (the ceiling for every
 * GFLOP/s). */
static void sgemm_peak(void)
{
    const int n = 1024;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)rng_uniform(&r);
        b[i] = (float)rng_uniform(&r);
    }
    double t[9], cpu[9];
    for (int i = 0; i < 11; i++) {
        double t0 = now_ms(), c0 = cpu_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (i >= 2) {
            t[i - 2] = now_ms() - t0;
            cpu[i - 2] = cpu_ms() - c0;
        }
    }
    double ms = least(t, 9);
    printf("sgemm_1024 %.3f %.1f %.0f %.3f\n", ms, 2.0 * n * n * n / ms / 1e6, peak_rss_mb(),
           least(cpu, 9));
    free(a);
    free(b);
    free(c);
}

static int bench_lstm(void)
{
    rng r;
    rng_seed(&r, 1);
    model *m = lstm_model();
    if (model_infer_shapes(m, NULL) != 0 || model_init_params(m) != 0)
        return 1;
    tensor x = {0}, y = {0};
    tensor_alloc3(&x, 50, 64, 32);
    tensor_alloc3(&y, 50, 64, 10);
    fill(&x, &r);
    one_hot(&y, &r);
    double lstm_flops = 2.0 * 50 * 64 * ((32 + 256) * 4 * 256 + 256 * 10);
    bench("lstm", m, &x, &y, lstm_flops, 15);
    tensor_release(&x);
    tensor_release(&y);
    model_free(m);
    return 0;
}

static int bench_mlp(void)
{
    rng r;
    rng_seed(&r, 1);
    model *m = mlp_model();
    if (model_infer_shapes(m, NULL) != 0 || model_init_params(m) != 0)
        return 1;
    tensor x = {0}, y = {0};
    tensor_alloc2(&x, 128, 784);
    tensor_alloc2(&y, 128, 10);
    fill(&x, &r);
    one_hot(&y, &r);
    double mlp_flops = 2.0 * 128 * (784 * 1024 + 1024 * 1024 + 1024 * 10);
    bench("mlp", m, &x, &y, mlp_flops, 31);
    tensor_release(&x);
    tensor_release(&y);
    model_free(m);
    return 0;
}

/* One layer of a convolutional benchmark model: its type, name and options as `key = value`
 * text separated by ';' (the model YAML's spellings); each layer's input is the one before. */
typedef struct {
    const char *type, *name, *options;
} layer_spec;

/* Builds a chain model on a convolutional input of chw through the format-neutral builder, its
 * parameters initialised. NULL (reported on stderr) on any error. */
static model *conv_chain(const char *name, const int64_t chw[3], const layer_spec *specs, int n)
{
    diag_ctx *d = diag_new(stderr, DIAG_COLOR_NEVER);
    model_builder *b = model_builder_new(name);
    if (!d || !b || model_builder_add_input(b, "in", INPUT_CONVOLUTIONAL,
                                            chw[0] * chw[1] * chw[2], chw, loc_none()) != 0) {
        model_builder_free(b);
        diag_free(d);
        return NULL;
    }
    const char *prev = "in";
    for (int i = 0; i < n; i++) {
        layer *L = layer_new(layer_type_find(specs[i].type), specs[i].name);
        layer_set_inputs(L, &prev, 1);
        char opts[256];
        snprintf(opts, sizeof opts, "%s", specs[i].options);
        for (char *save = NULL, *item = strtok_r(opts, ";", &save); item;
             item = strtok_r(NULL, ";", &save)) {
            char *eq = strchr(item, '='), key[64];
            if (!eq)
                continue;
            *eq = '\0';
            conf_value *v = conf_parse_text(eq + 1, loc_none(), d);
            int rc = v && sscanf(item, " %63s", key) == 1
                         ? layer_set_option(L, key, loc_none(), v, d) : -1;
            conf_value_free(v);
            if (rc != 0) {
                fprintf(stderr, "%s: layer %s: option %s refused\n", name, specs[i].name, item);
                layer_free(L);
                model_builder_free(b);
                diag_free(d);
                return NULL;
            }
        }
        model_builder_add_layer(b, L);
        prev = specs[i].name;
    }
    model_builder_set_outputs(b, &prev, 1);
    model *m = model_builder_finish(b, true, loc_none(), d);
    diag_free(d);
    return m;
}

/* Forward arithmetic of the conv2d layers of m (2 * output cells * kernel cells * in channels)
 * and of its output layer, per example, from the inferred shapes. */
static double conv_chain_flops(const model *m)
{
    double f = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        if (L->n_params > 0)
            f += 2.0 * (double)L->params[0].size * (double)(L->out_shape.size / L->n_out);
    }
    return f;
}

static int bench_conv(const char *name, const int64_t chw[3], const layer_spec *specs, int n,
                      int64_t batch, bool train, int reps)
{
    rng r;
    rng_seed(&r, 1);
    model *m = conv_chain(name, chw, specs, n);
    if (!m)
        return 1;
    tensor x = {0}, y = {0};
    int64_t xshape[4] = {batch, chw[0], chw[1], chw[2]};
    tensor_alloc(&x, 4, xshape);
    tensor_alloc2(&y, batch, 10);
    fill(&x, &r);
    one_hot(&y, &r);
    bench(name, m, &x, train ? &y : NULL, (double)batch * conv_chain_flops(m), reps);
    tensor_release(&x);
    tensor_release(&y);
    model_free(m);
    return 0;
}

static int bench_cnn(void)
{
    static const layer_spec cnn[] = {
        {"conv2d", "conv1", "n_out = 32; kernel = [3, 3]; padding = same; activation = relu"},
        {"subsampling", "pool1", "pooling = max; kernel = [2, 2]; stride = [2, 2]"},
        {"conv2d", "conv2", "n_out = 64; kernel = [3, 3]; padding = same; activation = relu"},
        {"subsampling", "pool2", "pooling = max; kernel = [2, 2]; stride = [2, 2]"},
        {"output", "out", "n_out = 10; activation = softmax; loss = negative_log_likelihood"},
    };
    const int64_t chw[3] = {3, 32, 32};
    return bench_conv("cnn", chw, cnn, (int)(sizeof cnn / sizeof cnn[0]), 64, true, 15);
}

/* VGG11's convolutional body (configuration A: 64, M, 128, M, 256, 256, M, 512, 512, M, 512,
 * 512, M; 3x3 same convolutions with relu, 2x2 max pooling), inference only. */
static int bench_vgg11(void)
{
#define CONV(n, c) {"conv2d", n, "n_out = " #c "; kernel = [3, 3]; padding = same; activation = relu"}
#define POOL(n) {"subsampling", n, "pooling = max; kernel = [2, 2]; stride = [2, 2]"}
    static const layer_spec vgg[] = {
        CONV("conv1", 64),  POOL("pool1"), CONV("conv2", 128), POOL("pool2"),
        CONV("conv3a", 256), CONV("conv3b", 256), POOL("pool3"),
        CONV("conv4a", 512), CONV("conv4b", 512), POOL("pool4"),
        CONV("conv5a", 512), CONV("conv5b", 512), POOL("pool5"),
    };
#undef CONV
#undef POOL
    const int64_t chw[3] = {3, 224, 224};
    int n = (int)(sizeof vgg / sizeof vgg[0]);
    if (bench_conv("vgg11_b1", chw, vgg, n, 1, false, 5) != 0)
        return 1;
    return bench_conv("vgg11_b8", chw, vgg, n, 8, false, 3);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "lstm"))
        return bench_lstm();
    if (!strcmp(what, "mlp"))
        return bench_mlp();
    if (!strcmp(what, "cnn"))
        return bench_cnn();
    if (!strcmp(what, "vgg11"))
        return bench_vgg11();
    if (!strcmp(what, "sgemm")) {
        sgemm_peak();
        return 0;
    }
    fprintf(stderr, "usage: bench-runtime lstm|mlp|cnn|vgg11|sgemm\n");
    return 2;
}
