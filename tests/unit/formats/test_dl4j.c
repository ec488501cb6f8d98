/* test_dl4j.c: DL4J files written by DL4J itself: every parameter of the 0.8 linspace models at
 * its place, their layer settings, and the 1.0.0-beta4 char model reproducing DL4J's recorded
 * output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/frontend.h"
#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "runtime/script/exec.h"
#include "tests/unit/formats/dl4j_build.h"
#include "tests/unit/test_support.h"

#define DL4J "tests/data/dl4j/"

/* Element (r, c) of a DL4J [rows, cols] parameter at flat offset `off` of a linspace vector
 * (values 1..N) is 1 + off + r + c * rows: 'f' order. */
static void linspace_param(const tensor *t, int64_t off, const char *what)
{
    if (t->ndim == 1) {
        for (int64_t j = 0; j < t->shape[0]; j++)
            cr_assert_float_eq(t->data[j], (float)(1 + off + j), 0, "%s[%ld]", what, (long)j);
        return;
    }
    cr_assert_eq(t->ndim, 2);
    int64_t rows = t->shape[0], cols = t->shape[1];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            cr_assert_float_eq(t->data[r * cols + c], (float)(1 + off + r + c * rows), 0,
                               "%s[%ld][%ld]", what, (long)r, (long)c);
}

Test(dl4j, mlp1_every_parameter_at_its_place)
{
    model *m = test_load_model(DL4J "080_ModelSerializer_Regression_MLP_1.zip");
    cr_assert_eq(m->n_inputs, 1);
    cr_assert_eq(m->inputs[0].kind, INPUT_FEED_FORWARD);
    cr_assert_eq(m->inputs[0].size, 3);
    cr_assert_eq(m->n_layers, 2);
    layer *d = m->layers[0], *o = m->layers[1];
    cr_assert_str_eq(d->name, "layer0");
    cr_assert_str_eq(d->type->name, "dense");
    cr_assert_eq(d->activation, ACT_RELU);
    cr_assert_eq(d->n_in, 3);
    cr_assert_eq(d->n_out, 4);
    cr_assert_str_eq(o->type->name, "output");
    cr_assert_eq(o->activation, ACT_SOFTMAX);
    cr_assert_eq(o->loss, LOSS_MCXENT);
    cr_assert_eq(o->n_out, 5);
    cr_assert_eq(d->train.updater.kind, UPD_NESTEROVS);
    cr_assert_float_eq(d->train.updater.learning_rate, 0.15, 1e-12);
    cr_assert_float_eq(d->train.updater.momentum, 0.9, 1e-12);
    cr_assert_eq(d->train.weight_init.kind, INIT_XAVIER);
    cr_assert_eq(m->seed, 12345u);
    linspace_param(&d->params[0], 0, "layer0.W");
    linspace_param(&d->params[1], 12, "layer0.b");
    linspace_param(&o->params[0], 16, "layer1.W");
    linspace_param(&o->params[1], 36, "layer1.b");
    cr_assert_eq(model_param_count(m), 41);
    cr_assert_str_eq(m->outputs[0], "layer1");
    model_free(m);
}

Test(dl4j, mlp2_leaky_relu_dropout_mse)
{
    model *m = test_load_model(DL4J "080_ModelSerializer_Regression_MLP_2.zip");
    layer *d = m->layers[0], *o = m->layers[1];
    cr_assert_eq(d->activation, ACT_LEAKYRELU);
    cr_assert_float_eq(d->alpha, 0.01, 1e-12);
    /* DL4J's dropOut 0.6 keeps 60% of the inputs: ours drops 40%. */
    cr_assert(d->train.set_mask & TC_DROPOUT);
    cr_assert_float_eq(d->train.dropout, 0.4, 1e-12);
    cr_assert_eq(o->activation, ACT_IDENTITY);
    cr_assert_eq(o->loss, LOSS_MSE);
    linspace_param(&d->params[0], 0, "layer0.W");
    linspace_param(&d->params[1], 12, "layer0.b");
    linspace_param(&o->params[0], 16, "layer1.W");
    linspace_param(&o->params[1], 36, "layer1.b");
    model_free(m);
}

/* GravesLSTM + GravesBidirectionalLSTM (softsign, the directions added) + RnnOutputLayer. */
Test(dl4j, lstm1_every_parameter_at_its_place_with_bidirectional)
{
    model *m = test_load_model(DL4J "080_ModelSerializer_Regression_LSTM_1.zip");
    cr_assert_eq(m->n_layers, 3);
    layer *bi = m->layers[1];
    cr_assert_str_eq(bi->type->name, "bidirectional");
    cr_assert_eq(bi->activation, ACT_SOFTSIGN);
    cr_assert_eq(bi->n_params, 6);
    cr_assert_str_eq(m->layers[0]->type->name, "graves_lstm");
    cr_assert_eq(m->layers[2]->n_in, 4, "the directions are added: 4 features");
    cr_assert_eq(check_linspace_f(m), 477);
    cr_assert_eq(m->training.tbptt_forward, 0, "Standard backprop: the tbptt lengths are unused");
    model_free(m);
}

/* DL4J's [batch, features, time] input as the predict API's [time, batch, features]; *x and
 * *in are the caller's. */
static void char_input(tensor *x, nd4j_array *in)
{
    *in = nd4j_read_file(DL4J "GravesLSTMCharModelingExample_Input_100b4.bin");
    cr_assert_eq(in->rank, 3);
    int64_t B = in->shape[0], F = in->shape[1], T = in->shape[2];
    memset(x, 0, sizeof *x);
    cr_assert_eq(tensor_alloc3(x, T, B, F), 0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t t = 0; t < T; t++)
                x->data[(t * B + b) * F + f] = in->data[(b * F + f) * T + t];
}

Test(dl4j, char_model_reproduces_dl4j_output)
{
    model *m = test_load_model(DL4J "GravesLSTMCharModelingExample_100b4.bin");
    cr_assert_eq(m->inputs[0].kind, INPUT_RECURRENT);
    cr_assert_eq(m->inputs[0].size, 77);
    cr_assert_eq(m->n_layers, 3);
    cr_assert_str_eq(m->layers[0]->type->name, "lstm");
    cr_assert_str_eq(m->layers[2]->type->name, "rnn_output");
    cr_assert_eq(m->layers[0]->train.updater.kind, UPD_ADAM);
    cr_assert_float_eq(m->layers[0]->train.updater.learning_rate, 0.005, 1e-12);
    cr_assert_float_eq(m->layers[0]->train.l2, 1e-4, 1e-12);
    cr_assert_eq(m->training.tbptt_forward, 50);
    cr_assert_eq(m->training.tbptt_backward, 50);
    nd4j_array in;
    tensor x;
    char_input(&x, &in);
    nd4j_array want = nd4j_read_file(DL4J "GravesLSTMCharModelingExample_Output_100b4.bin");
    cr_assert_eq(in.rank, 3);
    int64_t B = in.shape[0], F = in.shape[1], T = in.shape[2];
    cr_assert_eq(F, 77);
    cr_assert_eq(want.shape[0], B);
    cr_assert_eq(want.shape[2], T);
    int64_t K = want.shape[1];
    const tensor *inputs[1] = {&x};
    tensor out = {0};
    char err[256];
    cr_assert_eq(model_predict(m, inputs, &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.size, B * K * T);
    double worst = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t t = 0; t < T; t++) {
                double diff = fabs(out.data[(t * B + b) * K + k] - want.data[(b * K + k) * T + t]);
                worst = diff > worst ? diff : worst;
            }
    cr_assert(worst <= 1e-5, "max abs diff %g", worst);
    tensor_release(&x);
    tensor_release(&out);
    nd4j_array_free(&in);
    nd4j_array_free(&want);
    model_free(m);
}

/* The seed's flow: base "char_model.bin", widen "layer0" by 8, save as the native format; the
 * widened model computes what the DL4J one does. */
Test(dl4j, char_model_widened_and_saved)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4j-seed");
    size_t len;
    char *bytes = test_read_file(DL4J "GravesLSTMCharModelingExample_100b4.bin", &len);
    snprintf(path, sizeof path, "%s/char_model.bin", dir);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    free(bytes);
    snprintf(path, sizeof path, "%s/seed.surgery", dir);
    test_write_file(path, "base \"char_model.bin\"\nwiden \"layer0\" by 8\nsave \"wide.yaml\"\n");
    diag_capture c;
    capture_open(&c);
    ir_script *s = NULL;
    int rc = frontend_compile(path, NULL, 0, c.d, &s);
    if (rc == 0) {
        exec_options o = {.out = NULL, .progress = NULL, .log = NULL, .quiet = true};
        rc = exec_script(s, &o, c.d);
    }
    cr_assert_eq(rc, 0, "%s", capture_text(&c));
    ir_script_free(s);
    capture_close(&c);
    snprintf(path, sizeof path, "%s/wide.yaml", dir);
    model *wide = test_load_model(path);
    model *orig = test_load_model(DL4J "GravesLSTMCharModelingExample_100b4.bin");
    cr_assert_eq(wide->layers[0]->n_out, 208);
    nd4j_array in;
    tensor x;
    char_input(&x, &in);
    const tensor *inputs[1] = {&x};
    tensor a = {0}, b = {0};
    char err[256];
    cr_assert_eq(model_predict(orig, inputs, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_predict(wide, inputs, &b, err, sizeof err), 0, "%s", err);
    cr_assert(tensor_max_abs_diff(&a, &b) <= 1e-6, "diff %g", tensor_max_abs_diff(&a, &b));
    tensor_release(&a);
    tensor_release(&b);
    tensor_release(&x);
    nd4j_array_free(&in);
    model_free(wide);
    model_free(orig);
    test_remove_dir(dir);
}
