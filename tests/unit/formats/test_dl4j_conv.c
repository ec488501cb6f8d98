/* test_dl4j_conv.c: DL4J's convolutional MultiLayerNetwork files: every parameter of the 0.8
 * linspace CNN at its place, and the 1.0.0-beta4 synthetic CNN reproducing DL4J's recorded
 * output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "runtime/nn/layer_options.h"
#include "tests/unit/formats/dl4j_build.h"
#include "tests/unit/test_support.h"

#define DL4J "tests/data/dl4j/"

static void option(const layer *L, const char *key, double *v)
{
    const layer_option *o = layer_option_find(L->type, key);
    cr_assert(o, "%s has no option %s", L->type->name, key);
    layer_option_get_values(o, L, v);
}

/* Convolutions hold their bias first in the flat vector, then the kernel as a 'c'-order view of
 * [nOut, nIn, kH, kW]; the output layer's W [2028, 5] is 'f' order. */
Test(dl4j_conv, cnn1_every_parameter_at_its_place)
{
    model *m = test_load_model(DL4J "080_ModelSerializer_Regression_CNN_1.zip");
    cr_assert_eq(m->inputs[0].kind, INPUT_CONVOLUTIONAL);
    cr_assert_eq(m->inputs[0].c, 3);
    /* The preprocessor says 28 x 28 x 3, the output layer's nin 2028 = 3 x 26 x 26. */
    cr_assert_eq(m->inputs[0].h, 26);
    cr_assert_eq(m->inputs[0].w, 26);
    layer *c = m->layers[0], *p = m->layers[1], *o = m->layers[2];
    cr_assert_str_eq(c->type->name, "conv2d");
    cr_assert_str_eq(p->type->name, "subsampling");
    cr_assert_str_eq(o->type->name, "output");
    cr_assert_eq(c->activation, ACT_TANH);
    cr_assert_eq(c->train.updater.kind, UPD_RMSPROP);
    cr_assert_float_eq(c->train.updater.learning_rate, 0.15, 1e-12);
    double v[5];
    option(c, "kernel", v);
    cr_assert(v[0] == 2 && v[1] == 2);
    option(c, "padding", v);
    cr_assert_eq(v[0], PAD_SAME);
    option(p, "pooling", v);
    cr_assert_eq(v[0], 0);
    option(p, "stride", v);
    cr_assert(v[0] == 1 && v[1] == 1);
    const tensor *W = &c->params[0], *b = &c->params[1];
    for (int j = 0; j < 3; j++)
        cr_assert_float_eq(b->data[j], 1 + j, 0);
    for (int64_t k = 0; k < W->size; k++)
        cr_assert_float_eq(W->data[k], (float)(4 + k), 0, "layer0.W element %ld", (long)k);
    const tensor *oW = &o->params[0], *ob = &o->params[1];
    cr_assert_eq(oW->shape[0], 2028);
    for (int64_t r = 0; r < 2028; r++)
        for (int64_t q = 0; q < 5; q++)
            cr_assert_float_eq(oW->data[r * 5 + q], (float)(40 + r + q * 2028), 0,
                               "layer2.W[%ld][%ld]", (long)r, (long)q);
    for (int j = 0; j < 5; j++)
        cr_assert_float_eq(ob->data[j], (float)(40 + 10140 + j), 0);
    cr_assert_eq(model_param_count(m), 10184);
    model_free(m);
}

Test(dl4j_conv, synthetic_cnn_reproduces_dl4j_output)
{
    model *m = test_load_model(DL4J "SyntheticCNN_100b4.bin");
    static const char *const types[] = {
        "conv2d", "separable_conv2d", "subsampling", "zero_padding", "upsampling",
        "depthwise_conv2d", "subsampling", "cropping", "conv2d", "activation"};
    cr_assert_eq(m->n_layers, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(m->layers[i]->type->name, types[i], "layer %d", i);
    double v[5];
    option(m->layers[7], "cropping", v);
    cr_assert(v[0] == PAD_EXPLICIT && v[1] == 3 && v[2] == 2 && v[3] == 3 && v[4] == 2);
    option(m->layers[5], "multiplier", v);
    cr_assert_eq(v[0], 2);
    cr_assert_float_eq(m->layers[0]->train.l2, 1e-4, 1e-12);
    nd4j_array in = nd4j_read_file(DL4J "SyntheticCNN_Input_100b4.bin");
    nd4j_array want = nd4j_read_file(DL4J "SyntheticCNN_Output_100b4.bin");
    cr_assert_eq(in.rank, 4);
    /* The file does not store the input's height and width: the images give them. */
    char err[512];
    cr_assert_eq(model_resize_input(m, 0, in.shape[2], in.shape[3], err, sizeof err), 0, "%s", err);
    tensor x = {0}, out = {0};
    int64_t shape[4] = {in.shape[0], in.shape[1], in.shape[2], in.shape[3]};
    cr_assert_eq(tensor_alloc(&x, 4, shape), 0);
    memcpy(x.data, in.data, (size_t)in.count * sizeof *in.data);
    const tensor *inputs[1] = {&x};
    cr_assert_eq(model_predict(m, inputs, &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.size, want.count);
    double worst = 0;
    for (int64_t k = 0; k < want.count; k++) {
        double d = fabs(out.data[k] - want.data[k]);
        worst = d > worst ? d : worst;
    }
    cr_assert(worst <= 1e-5, "max abs diff %g", worst);
    /* A dense layer over flattened images would tie the size: the 0.8 CNN refuses another one. */
    model *c = test_load_model(DL4J "080_ModelSerializer_Regression_CNN_1.zip");
    cr_assert_neq(model_resize_input(c, 0, 28, 28, err, sizeof err), 0);
    cr_assert(strstr(err, "do not take 3 x 28 x 28"), "%s", err);
    cr_assert_eq(c->inputs[0].h, 26);
    model_free(c);
    tensor_release(&x);
    tensor_release(&out);
    nd4j_array_free(&in);
    nd4j_array_free(&want);
    model_free(m);
}
