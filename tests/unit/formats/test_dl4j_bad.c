/* test_dl4j_bad.c: Nd4j arrays decoded in every stored order and data type, and bad DL4J files
 * (no configuration.json, wrong coefficient counts, truncated arrays, unknown data types, JSON
 * of the wrong shape, unsupported layers, zip bombs) refused with errors naming the entry. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/dl4j/dl4j_array.h"
#include "runtime/formats/format.h"
#include "tests/unit/formats/dl4j_build.h"
#include "tests/unit/test_support.h"

/* A 1.0-style MultiLayerNetwork: dense(3->4, relu) + output(4->5, softmax, mcxent): 41 params. */
static const char mlp_json[] =
    "{\"backpropType\": \"Standard\", \"confs\": ["
    "{\"layer\": {\"@class\": \"org.deeplearning4j.nn.conf.layers.DenseLayer\","
    " \"activationFn\": {\"@class\": \"org.nd4j.linalg.activations.impl.ActivationReLU\"},"
    " \"nin\": 3, \"nout\": 4, \"layerName\": \"hidden\"}, \"variables\": [\"W\", \"b\"]},"
    "{\"layer\": {\"@class\": \"org.deeplearning4j.nn.conf.layers.OutputLayer\","
    " \"activationFn\": {\"@class\": \"org.nd4j.linalg.activations.impl.ActivationSoftmax\"},"
    " \"lossFn\": {\"@class\": \"org.nd4j.linalg.lossfunctions.impl.LossMCXENT\"},"
    " \"nin\": 4, \"nout\": 5}, \"variables\": [\"W\", \"b\"]}]}";

static void expect_error(const char *dir, const char *json, const void *coef, size_t coef_len,
                         const char *want)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    entry e[2] = {{"configuration.json", json, json ? strlen(json) : 0},
                  {"coefficients.bin", coef, coef_len}};
    write_zip(path, json ? e : e + 1, json ? 2 : 1);
    char *t = test_load_error(path);
    cr_assert(strstr(t, "model.bin"), "%s", t);
    cr_assert(strstr(t, want), "wanted \"%s\" in: %s", want, t);
    free(t);
}

/* ---- arrays ---- */

Test(dl4j_array, f_order_strides_double_and_half)
{
    unsigned char buf[512];
    double vals[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3}, fstride[2] = {1, 2};
    const char *types[] = {"FLOAT", "DOUBLE", "HALF"};
    for (int g = 0; g < 2; g++)
        for (int k = 0; k < 3; k++) {
            size_t len = build_array(buf, g, types[k], 2, shape, fstride, 'f', vals, 6);
            nd4j_array a;
            char err[256];
            size_t used = 0;
            cr_assert_eq(nd4j_array_decode(buf, len, &a, &used, err, sizeof err), 0, "%s", err);
            cr_assert_eq(used, len);
            cr_assert_eq(a.rank, 2);
            cr_assert_eq(a.count, 6);
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 3; c++)
                    cr_assert_float_eq(a.data[r * 3 + c], (float)(1 + r + 2 * c), 0, "%s", types[k]);
            nd4j_array_free(&a);
        }
}

Test(dl4j_array, truncated_and_unknown_types)
{
    unsigned char buf[512];
    size_t len = linspace_row(buf, true, "FLOAT", 41, 41);
    nd4j_array a;
    char err[256];
    for (size_t cut = 0; cut < len; cut += 7)
        cr_assert_eq(nd4j_array_decode(buf, cut, &a, NULL, err, sizeof err), -1, "cut %zu", cut);
    cr_assert_eq(nd4j_array_decode(buf, len - 1, &a, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "truncated data buffer"), "%s", err);
    len = linspace_row(buf, false, "UTF8", 3, 0);
    cr_assert_eq(nd4j_array_decode(buf, len, &a, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "unknown data type 'UTF8'"), "%s", err);
    /* strides reaching past the data */
    double v[4] = {1, 2, 3, 4};
    int64_t shape[2] = {2, 2}, stride[2] = {4, 1};
    len = build_array(buf, true, "FLOAT", 2, shape, stride, 'c', v, 4);
    cr_assert_eq(nd4j_array_decode(buf, len, &a, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "reach element"), "%s", err);
}

/* ---- files ---- */

Test(dl4j_bad, reads_a_generated_1_0_file_and_refuses_bad_ones)
{
    char dir[256];
    test_make_dir(dir, sizeof dir, "dl4j");
    unsigned char coef[1024];
    size_t len = linspace_row(coef, true, "FLOAT", 41, 41);
    char path[512];
    snprintf(path, sizeof path, "%s/good.zip", dir);
    entry e[2] = {{"configuration.json", mlp_json, strlen(mlp_json)}, {"coefficients.bin", coef, len}};
    write_zip(path, e, 2);
    model *m = test_load_model(path);
    cr_assert_str_eq(m->layers[0]->name, "hidden");
    cr_assert_str_eq(m->layers[1]->name, "layer1");
    cr_assert_float_eq(m->layers[1]->params[0].data[1], 17 + 4, 0, "W[0][1] in 'f' order");
    model_free(m);

    expect_error(dir, NULL, coef, len, "not a model file surgery reads: expected a surgery model "
                 "YAML");
    expect_error(dir, NULL, coef, len, "a DL4J ModelSerializer zip (configuration.json");
    len = linspace_row(coef, true, "FLOAT", 40, 40);
    expect_error(dir, mlp_json, coef, len, "entry coefficients.bin holds 40 values, but the "
                 "architecture in configuration.json has 41 parameters");
    len = linspace_row(coef, true, "FLOAT", 41, 41);
    expect_error(dir, mlp_json, coef, len - 9, "entry coefficients.bin: truncated data buffer");
    len = linspace_row(coef, true, "UTF8", 41, 0);
    expect_error(dir, mlp_json, coef, len, "entry coefficients.bin: data buffer: unknown data type 'UTF8'");
    len = linspace_row(coef, true, "FLOAT", 41, 41);
    expect_error(dir, "[1, 2]", coef, len, "entry configuration.json: expected an object");
    expect_error(dir, "{\"confs\": 3}", coef, len, "expected \"confs\"");
    expect_error(dir, "{\"confs\": [{\"layer\": 5}]}", coef, len, "layer 0 '?' (?): no \"layer\" object");
    expect_error(dir, "{\"confs\": [", coef, len, "entry configuration.json line 1");
    expect_error(dir, "{\"vertices\": {}}", coef, len, "\"vertices\" has 0 vertices");
    expect_error(dir,
                 "{\"confs\": [{\"layer\": {\"@class\": \"a.LocalResponseNormalization\", \"nin\": 1, \"nout\": 2}},"
                 "{\"layer\": {\"dense\": {\"activationFn\": {\"Cube\": {}}, \"nin\": 2, \"nout\": 3}}}]}",
                 coef, len, "2 things surgery does not read yet: layer 0 'layer0' (LocalResponseNormalization): "
                 "layer type not supported; layer 1 'layer1' (dense): activation Cube");
    test_remove_dir(dir);
}

/* Sets the sizes the central directory declares for `name` in the zip at path. */
static void patch_sizes(const char *path, const char *name, uint32_t comp, uint32_t size)
{
    size_t len;
    unsigned char *z = (unsigned char *)test_read_file(path, &len);
    size_t nl = strlen(name);
    bool done = false;
    for (size_t i = 0; i + 46 + nl <= len && !done; i++) {
        if (memcmp(z + i, "PK\1\2", 4) || memcmp(z + i + 46, name, nl))
            continue;
        for (int k = 0; k < 4; k++) {
            z[i + 20 + k] = (unsigned char)(comp >> (8 * k));
            z[i + 24 + k] = (unsigned char)(size >> (8 * k));
        }
        done = true;
    }
    cr_assert(done);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(z, 1, len, f), len);
    fclose(f);
    free(z);
}

Test(dl4j_bad, zip_bombs_are_refused_naming_the_entry)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4j-bomb");
    snprintf(path, sizeof path, "%s/bomb.zip", dir);
    unsigned char coef[1024];
    size_t len = linspace_row(coef, true, "FLOAT", 41, 41);
    entry e[2] = {{"configuration.json", mlp_json, strlen(mlp_json)}, {"coefficients.bin", coef, len}};
    write_zip(path, e, 2);
    /* A small entry declaring 4 GB. */
    patch_sizes(path, "coefficients.bin", 100, 0xFFFFFFF0u);
    char *t = test_load_error(path);
    cr_assert(strstr(t, "entry coefficients.bin") && strstr(t, "zip bomb"), "%s", t);
    free(t);
    /* One declaring fewer bytes than it holds. */
    write_zip(path, e, 2);
    patch_sizes(path, "coefficients.bin", 100, 10);
    t = test_load_error(path);
    cr_assert(strstr(t, "coefficients.bin"), "%s", t);
    free(t);
    test_remove_dir(dir);
}
