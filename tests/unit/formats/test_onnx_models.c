/* test_onnx_models.c: real torch exports read by the ONNX reader (tests/data/onnx/models, made
 * by tools/gen-onnx-models.py with seeded weights): predict matches torch's outputs within a
 * relative max difference of 1e-4, and the layers carry the module paths as names. The
 * torchvision models the generator writes to build/onnx-models are checked when present. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "tests/unit/test_support.h"

/* [B, T, n] <-> [T, B, n] */
static void swap01(const tensor *a, tensor *b)
{
    int64_t d0 = a->shape[0], d1 = a->shape[1], n = a->shape[2];
    cr_assert_eq(tensor_alloc3(b, d1, d0, n), 0);
    for (int64_t i = 0; i < d0; i++)
        for (int64_t j = 0; j < d1; j++)
            memcpy(b->data + (j * d0 + i) * n, a->data + (i * d1 + j) * n,
                   (size_t)n * sizeof(float));
}

/* The relative max difference of predict on dir/name.onnx from torch's output; -1 when the
 * files are absent. */
static double compare(const char *dir, const char *name)
{
    char p[512];
    tensor x = {0}, y = {0}, xs = {0}, out = {0}, os = {0};
    snprintf(p, sizeof p, "%s/%s_x.txt", dir, name);
    if (!test_load_txt(p, &x))
        return -1;
    snprintf(p, sizeof p, "%s/%s_y.txt", dir, name);
    cr_assert(test_load_txt(p, &y));
    snprintf(p, sizeof p, "%s/%s.onnx", dir, name);
    diag_capture c;
    capture_open(&c);
    model *m = model_load(p, true, c.d);
    cr_assert(m, "%s: %s", p, capture_text(&c));
    capture_close(&c);
    if (x.ndim == 1) {   /* embedding indices: one a sample, [batch, 1] */
        x.ndim = 2;
        x.shape[1] = 1;
    }
    bool seq = x.ndim == 3;
    if (seq)
        swap01(&x, &xs);
    char err[256];
    const tensor *in[1] = {seq ? &xs : &x};
    cr_assert_eq(model_predict(m, in, &out, err, sizeof err), 0, "%s: %s", name, err);
    if (seq)
        swap01(&out, &os);
    const tensor *got = seq ? &os : &out;
    cr_assert_eq(got->size, y.size, "%s: %lld outputs, torch %lld", name, (long long)got->size,
                 (long long)y.size);
    double worst = 0, scale = 1e-6;
    for (int64_t k = 0; k < y.size; k++) {
        scale = fmax(scale, fabs(y.data[k]));
        worst = fmax(worst, fabs(got->data[k] - y.data[k]));
    }
    tensor_release(&x);
    tensor_release(&y);
    tensor_release(&xs);
    tensor_release(&out);
    tensor_release(&os);
    model_free(m);
    return worst / scale;
}

static void expect_match(const char *dir, const char *name)
{
    double d = compare(dir, name);
    cr_assert_geq(d, 0, "%s/%s is missing", dir, name);
    cr_log_info("%s: relative max diff %g", name, d);
    cr_expect_leq(d, 1e-4, "%s: relative max diff %g", name, d);
}

#define SMALL "tests/data/onnx/models"

Test(onnx_models, cnn_with_folded_batch_norm) { expect_match(SMALL, "cnn_bn"); }
Test(onnx_models, cnn_with_batch_norm_preserved) { expect_match(SMALL, "cnn_bn_preserve"); }
Test(onnx_models, vgg_style_body) { expect_match(SMALL, "vgg_body"); }
Test(onnx_models, mlp) { expect_match(SMALL, "mlp"); }
Test(onnx_models, lstm_batch_first) { expect_match(SMALL, "lstm"); }

/* torch's SELU fused into the first Gemm, its LogSoftmax into the output layer, which then
 * takes negative_log_likelihood (PyTorch's LogSoftmax + NLLLoss). */
Test(onnx_models, selu_and_log_softmax)
{
    expect_match(SMALL, "mlp_selu");
    model *m = model_load(SMALL "/mlp_selu.onnx", true, NULL);
    cr_assert(m);
    cr_expect_eq(model_find_layer(m, "gemm_0")->activation, ACT_SELU);
    const layer *out = model_find_layer(m, "gemm_2");
    cr_expect_eq(out->type, &layer_type_output);
    cr_expect_eq(out->activation, ACT_LOG_SOFTMAX);
    cr_expect_eq(out->loss, LOSS_NLL);
    model_free(m);
}

Test(onnx_models, module_paths_name_the_layers)
{
    model *m = model_load(SMALL "/cnn_bn_preserve.onnx", true, NULL);
    cr_assert(m);
    cr_expect(model_find_layer(m, "conv1"));
    cr_expect(model_find_layer(m, "bn1"));
    cr_expect(model_find_layer(m, "fc"));
    cr_expect_eq(model_find_layer(m, "bn2")->type, &layer_type_batch_norm);
    model_free(m);
    m = model_load(SMALL "/vgg_body.onnx", true, NULL);
    cr_assert(m);
    cr_expect(model_find_layer(m, "features.0"));
    cr_expect(model_find_layer(m, "classifier.3"));
    model_free(m);
}

/* Written by the generator into build/ (too large to commit); skipped when absent. */
Test(onnx_models, torchvision_when_generated)
{
    static const char *const names[] = {"resnet18", "mobilenet_v2", "squeezenet1_1"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        double d = compare("build/onnx-models", names[k]);
        if (d >= 0)
            cr_log_info("%s: relative max diff %g", names[k], d);
        if (d >= 0)
            cr_expect_leq(d, 1e-4, "%s: relative max diff %g", names[k], d);
    }
}

/* The refusals of tests/bad-input/hand/onnx_*.onnx (tools/gen-onnx-bad-input.py) name the node,
 * its index and operator and the reason; several unsupported operators make one error. */
Test(onnx_models, refusals_name_the_node_and_the_reason)
{
    static const struct { const char *file, *says; } cases[] = {
        {"onnx_unsupported_ops", "3 operators of this opset-13 model cannot be mapped"},
        {"onnx_unsupported_ops", "node 0 '/act/Selu' (Selu): surgery's selu has the fixed alpha"},
        {"onnx_unsupported_ops", "node 1 '/gate/Mul' (Mul): multiplies activations of other shapes"},
        {"onnx_unsupported_ops", "node 2 '/head/LogSoftmax' (LogSoftmax)"},
        {"onnx_dynamic_axis", "input 'x' axis 1 has a dynamic size"},
        {"onnx_weights_as_input", "node 0 '/conv/Conv' (Conv): needs constant float weights"},
        {"onnx_reflect_pad", "(Pad): only mode 'constant' (zeros) is mapped"},
        {"onnx_clip_bounds", "(Clip): clips to [2, -2]: clip(min, max) needs min < max"},
        {"onnx_conv_groups", "weights [4, 3, ...] do not fit 4 input channels in 2 groups"},
        {"onnx_optional_input", "input 'x' has no tensor shape"},
        {"onnx_lstm_initial_state", "(LSTM): a non-zero initial state is mapped for one direction and the same in "
                                    "every batch row only"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char p[256];
        snprintf(p, sizeof p, "tests/bad-input/hand/%s.onnx", cases[k].file);
        diag_capture c;
        capture_open(&c);
        model *m = model_load(p, true, c.d);
        cr_expect_null(m, "%s loaded", p);
        model_free(m);
        cr_expect(strstr(capture_text(&c), cases[k].says), "%s: %s", p, capture_text(&c));
        capture_close(&c);
    }
}

Test(onnx_models, grouped_dilated_pad_folded_pools_concat)
{
    expect_match(SMALL, "cnn_ops");
    model *m = model_load(SMALL "/cnn_ops.onnx", true, NULL);
    cr_assert(m);
    /* torch's Pad before the AveragePool that counts its padding is the pool's own padding */
    cr_expect_eq(model_find_layer(m, "pool_pad")->type, &layer_type_subsampling);
    cr_expect_eq(model_find_layer(m, "stem")->activation, ACT_LEAKYRELU);
    cr_expect_eq(model_find_layer(m, "grouped")->activation, ACT_HARDTANH);
    for (int k = 0; k < m->n_layers; k++)
        cr_expect_neq(m->layers[k]->type, &layer_type_zero_padding, "%s", m->layers[k]->name);
    model_free(m);
}

/* Two stacked layers: the Slices of one ConstantOfShape of zeros fold, and torch's numbering of
 * the second node names it. */
Test(onnx_models, stacked_lstm_layers)
{
    expect_match(SMALL, "lstm2");
    model *m = model_load(SMALL "/lstm2.onnx", true, NULL);
    cr_assert(m);
    cr_expect(model_find_layer(m, "lstm"));
    cr_expect(model_find_layer(m, "lstm_1"));
    model_free(m);
}

/* A batch-first bidirectional nn.LSTM: one bidirectional layer (concat), torch's Transpose and
 * Reshape of Y joining the directions. */
Test(onnx_models, bidirectional_lstm_batch_first)
{
    expect_match(SMALL, "bilstm");
    model *m = model_load(SMALL "/bilstm.onnx", true, NULL);
    cr_assert(m);
    const layer *L = model_find_layer(m, "lstm");
    cr_assert(L);
    cr_expect_eq(L->type, &layer_type_bidirectional);
    cr_expect_eq(L->out_shape.size, 10);
    model_free(m);
}

/* A model saved to dir/file and read back: its one layer still reads backward and predicts as
 * before on x. */
static void expect_reverse_kept(model *m, const char *dir, const char *file, tensor *x)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(model_save_mode(m, p, SAVE_ATOMIC, c.d), 0, "%s: %s", p, capture_text(&c));
    model *back = model_load(p, true, c.d);
    cr_assert(back, "%s: %s", p, capture_text(&c));
    capture_close(&c);
    cr_expect_eq(lstm_reversed(back->layers[0]), lstm_reversed(m->layers[0]),
                 "%s: reverse lost", file);
    cr_expect_eq(lstm_initial_state(back->layers[0]), lstm_initial_state(m->layers[0]),
                 "%s: initial_state lost", file);
    tensor ya = {0}, yb = {0};
    const tensor *in[1] = {x};
    char err[256];
    cr_assert_eq(model_predict(m, in, &ya, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_predict(back, in, &yb, err, sizeof err), 0, "%s", err);
    cr_expect_leq(tensor_max_abs_diff(&ya, &yb), 1e-6, "%s: max diff %g", file,
                  tensor_max_abs_diff(&ya, &yb));
    tensor_release(&ya);
    tensor_release(&yb);
    model_free(back);
}

/* A one-layer LSTM fixture: predict matches its reference within 1e-5, and it loads as one
 * layer of type t. */
static model *lstm_fixture(const char *name, const layer_type *t)
{
    double d = compare(SMALL, name);
    cr_assert_geq(d, 0, "%s is missing", name);
    cr_log_info("%s: relative max diff %g", name, d);
    cr_expect_leq(d, 1e-5, "%s: relative max diff %g", name, d);
    char p[512];
    snprintf(p, sizeof p, SMALL "/%s.onnx", name);
    model *m = model_load(p, true, NULL);
    cr_assert(m);
    cr_assert_eq(m->n_layers, 1);
    cr_expect_eq(m->layers[0]->type, t);
    return m;
}

/* m written as ONNX and in surgery's format reads back unchanged; DL4J refuses it, naming
 * `says`. */
static void expect_kept_not_dl4j(model *m, const char *dir, const char *says)
{
    tensor x = {0};
    cr_assert_eq(tensor_alloc3(&x, 6, 3, 4), 0);
    for (int64_t q = 0; q < x.size; q++)
        x.data[q] = (float)sin(0.7 * (double)q);
    expect_reverse_kept(m, dir, "again.onnx", &x);
    expect_reverse_kept(m, dir, "again.yaml", &x);
    tensor_release(&x);
    char p[512];
    snprintf(p, sizeof p, "%s/refused.zip", dir);
    diag_capture c;
    capture_open(&c);
    cr_expect_eq(model_save_mode(m, p, SAVE_ATOMIC, c.d), -1);
    cr_expect(strstr(capture_text(&c), says), "%s", capture_text(&c));
    capture_close(&c);
}

/* ONNX LSTMs with direction "reverse" (onnx.helper, time-major, without and with peepholes):
 * an lstm or graves_lstm with reverse = true, within 1e-5 of onnx's reference; written as ONNX
 * (direction "reverse") and in surgery's format and read back unchanged; DL4J refuses them. */
Test(onnx_models, reverse_lstm, .timeout = 60)
{
    static const char *const names[2] = {"lstm_reverse", "lstm_reverse_peepholes"};
    char dir[256];
    test_make_dir(dir, sizeof dir, "onnx-reverse");
    for (int k = 0; k < 2; k++) {
        model *m = lstm_fixture(names[k], k ? &layer_type_graves_lstm : &layer_type_lstm);
        cr_expect(lstm_reversed(m->layers[0]));
        cr_expect(!lstm_initial_state(m->layers[0]));
        expect_kept_not_dl4j(m, dir, "reverse");
        model_free(m);
    }
    test_remove_dir(dir);
}

/* ONNX LSTMs whose initial_h and initial_c are constant non-zero initializers (forward, and
 * reverse with peepholes) or Expands of one row to the batch: the state becomes the layer's h0 and c0, predict matches onnx's
 * reference, and ONNX (initial_h and initial_c expanded to the batch) and surgery's format
 * keep it; DL4J refuses it. */
Test(onnx_models, lstm_constant_initial_state, .timeout = 60)
{
    static const char *const names[3] = {"lstm_initial_state",
                                         "lstm_initial_state_reverse_peepholes",
                                         "lstm_initial_state_expand"};
    char dir[256];
    test_make_dir(dir, sizeof dir, "onnx-initial-state");
    for (int k = 0; k < 3; k++) {
        model *m = lstm_fixture(names[k], k == 1 ? &layer_type_graves_lstm : &layer_type_lstm);
        const layer *L = m->layers[0];
        cr_expect_eq(lstm_reversed(L), k == 1);
        cr_assert(lstm_initial_state(L));
        param_spec ps[LAYER_MAX_PARAMS];
        cr_assert_eq(L->type->param_specs(L, ps), 5);
        cr_assert_eq(L->n_params, 5);
        cr_expect_str_eq(ps[3].key, "h0");
        cr_expect_str_eq(ps[4].key, "c0");
        cr_expect_eq(ps[3].role, PARAM_STATE);
        cr_expect_neq(L->params[3].data[0], 0.0f, "h0 read as zero");
        expect_kept_not_dl4j(m, dir, "initial_state");
        model_free(m);
    }
    test_remove_dir(dir);
}

/* nn.Embedding: torch's Gather of the weight's rows by an int64 input of rank 1. */
Test(onnx_models, embedding)
{
    expect_match(SMALL, "embedding");
    model *m = model_load(SMALL "/embedding.onnx", true, NULL);
    cr_assert(m);
    cr_expect_eq(model_find_layer(m, "emb")->type, &layer_type_embedding);
    model_free(m);
}

/* torch's F.pad: a chain of ConstantOfShape, Concat, Reshape, Slice (step -1), Transpose and
 * Cast computes the pads; before a max pool they stay a zero_padding layer (zeros can win a
 * max), before an average pool and a convolution they become the layer's own padding. */
Test(onnx_models, torch_pad_chains)
{
    expect_match(SMALL, "pad_pool");
    model *m = model_load(SMALL "/pad_pool.onnx", true, NULL);
    cr_assert(m);
    int pads = 0;
    for (int k = 0; k < m->n_layers; k++)
        pads += m->layers[k]->type == &layer_type_zero_padding;
    cr_expect_eq(pads, 1);
    model_free(m);
}

/* Mul of two activations (a sigmoid gate on images, a tanh gate on features) is a multiply
 * vertex; Clip of any bounds is clip(min, max) (fused into the convolution before it), a
 * missing bound the largest float. */
Test(onnx_models, multiply_gates_and_clip_bounds)
{
    expect_match(SMALL, "gate_clip");
    model *m = model_load(SMALL "/gate_clip.onnx", true, NULL);
    cr_assert(m);
    int products = 0, clips = 0;
    for (int k = 0; k < m->n_layers; k++) {
        const layer *L = m->layers[k];
        products += L->type == &layer_type_multiply;
        clips += L->activation == ACT_CLIP;
    }
    cr_expect_eq(products, 2);
    cr_expect_eq(clips, 3);
    const layer *c = model_find_layer(m, "conv");
    cr_expect_eq(c->activation, ACT_CLIP);
    cr_expect_eq(c->clip_min, -0.5);
    cr_expect_eq(c->clip_max, 0.75);
    const layer *c2 = model_find_layer(m, "conv2");
    cr_expect_eq(c2->activation, ACT_CLIP);
    cr_expect_eq(c2->clip_min, (double)-0.05f);
    cr_expect_eq(c2->clip_max, FLT_MAX);
    model_free(m);
}
