/* test_lstm_onnx.c: lstm and graves_lstm against ONNX's LSTM (conformance cases from
 * libonnx-testdata and ONNX reference outputs, converted by tools/convert_onnx_lstm.py). */
#include <criterion/criterion.h>

#include "tests/unit/nn/lstm_fixture.h"
#include "runtime/nn/layer.h"
#include "runtime/tensor/tensor.h"

#define ONNX_TOL 1e-5

/* Runs the fixture's x through a layer built from its W, RW, b (peepholes when RW has 4n + 3
 * columns) and compares every step with y and the last step with y_h. */
static void check_onnx_case(const char *path)
{
    fixture f;
    fixture_load(&f, path);
    tensor *x = fixture_get(&f, "x"), *RW = fixture_get(&f, "RW"), *y = fixture_get(&f, "y");
    tensor *y_h = fixture_get(&f, "y_h");
    const int64_t T = x->shape[0], B = x->shape[1], n_in = x->shape[2], n = RW->shape[0];
    const bool peep = RW->shape[1] == 4 * n + 3;
    layer *L = lstm_make(peep ? &layer_type_graves_lstm : &layer_type_lstm, n_in, n);
    lstm_set_param(L, "W", fixture_get(&f, "W"));
    lstm_set_param(L, "RW", RW);
    lstm_set_param(L, "b", fixture_get(&f, "b"));
    tensor out = {0};
    cr_assert_eq(tensor_alloc3(&out, T, B, n), 0);
    cr_assert_eq(y->size, out.size);
    for (int training = 0; training < 2; training++) {
        tensor_zero(&out);
        lstm_run(L, x, &out, NULL, training, false);
        double d = max_abs_diff_n(out.data, y->data, out.size);
        cr_expect_leq(d, ONNX_TOL, "%s (%s mode): max |ours - onnx| = %g over all steps", path,
                      training ? "training" : "inference", d);
        double dh = max_abs_diff_n(out.data + (T - 1) * B * n, y_h->data, B * n);
        cr_expect_leq(dh, ONNX_TOL, "%s: max |ours - Y_h| = %g", path, dh);
    }
    tensor_release(&out);
    layer_free(L);
    fixture_free(&f);
}

Test(lstm_onnx, defaults) { check_onnx_case("tests/data/onnx/lstm_defaults.txt"); }
Test(lstm_onnx, with_initial_bias)
{
    check_onnx_case("tests/data/onnx/lstm_with_initial_bias.txt");
}
Test(lstm_onnx, with_peepholes) { check_onnx_case("tests/data/onnx/lstm_with_peepholes.txt"); }
Test(lstm_onnx, random_sequence) { check_onnx_case("tests/data/onnx/lstm_random.txt"); }
Test(lstm_onnx, random_sequence_peepholes)
{
    check_onnx_case("tests/data/onnx/lstm_random_peepholes.txt");
}
