/* test_onnx.c: the ONNX reader against torch's exports (tests/data/onnx, made by
 * tools/gen_onnx_fixtures.py) and on broken files. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "tests/unit/test_support.h"

static double rel_max_diff(const float *a, const float *b, int64_t n)
{
    double worst = 0, scale = 1e-6;
    for (int64_t k = 0; k < n; k++)
        scale = fmax(scale, fabs(b[k]));
    for (int64_t k = 0; k < n; k++)
        worst = fmax(worst, fabs(a[k] - b[k]));
    return worst / scale;
}

Test(onnx, mlp_matches_torch)
{
    model *m = model_load("tests/data/onnx/mlp.onnx", true, NULL);
    cr_assert(m);
    tensor x = {0}, y = {0}, out = {0};
    cr_assert(test_load_txt("tests/data/onnx/mlp_x.txt", &x));
    cr_assert(test_load_txt("tests/data/onnx/mlp_y.txt", &y));
    char err[256];
    const tensor *in[1] = {&x};
    cr_assert_eq(model_predict(m, in, &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.size, y.size);
    double d = rel_max_diff(out.data, y.data, y.size);
    cr_expect_leq(d, 1e-4, "relative max diff %g", d);
    tensor_release(&x);
    tensor_release(&y);
    tensor_release(&out);
    model_free(m);
}

Test(onnx, lstm_batch_first_matches_torch)
{
    model *m = model_load("tests/data/onnx/lstm.onnx", true, NULL);
    cr_assert(m);
    tensor x = {0}, y = {0}, xt = {0}, out = {0};
    cr_assert(test_load_txt("tests/data/onnx/lstm_x.txt", &x));   /* [B, T, n] */
    cr_assert(test_load_txt("tests/data/onnx/lstm_y.txt", &y));   /* [B, T, h] */
    int64_t B = x.shape[0], T = x.shape[1], n = x.shape[2], h = y.shape[2];
    cr_assert_eq(tensor_alloc3(&xt, T, B, n), 0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            memcpy(xt.data + (t * B + b) * n, x.data + (b * T + t) * n, (size_t)n * sizeof(float));
    char err[256];
    const tensor *in[1] = {&xt};
    cr_assert_eq(model_predict(m, in, &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.size, y.size);
    double worst = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < h; j++)
                worst = fmax(worst, fabs(out.data[(t * B + b) * h + j] - y.data[(b * T + t) * h + j]));
    cr_expect_leq(worst, 1e-4, "max diff %g", worst);
    tensor_release(&x);
    tensor_release(&y);
    tensor_release(&xt);
    tensor_release(&out);
    model_free(m);
}

Test(onnx, truncated_file_is_refused)
{
    FILE *fp = fopen("tests/data/onnx/mlp.onnx", "rb");
    cr_assert(fp);
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    const char *cut = "build/test_onnx_truncated.onnx";
    fp = fopen(cut, "wb");
    cr_assert(fp);
    fwrite(buf, 1, n / 2, fp);
    fclose(fp);
    cr_expect_null(model_load(cut, true, NULL));
    remove(cut);
}
