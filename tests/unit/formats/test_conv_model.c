/* test_conv_model.c: convolutional models in the native YAML: the input's named sizes and the
 * older `size: [height, width, channels]`, list-valued layer options, a byte-stable save and
 * load, and the messages for inputs that are wrong. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/formats/format.h"
#include "runtime/nn/layer.h"

static char dir[] = "/tmp/surgery-conv-XXXXXX";
static char *said;
static size_t said_len;
static FILE *said_fp;
static diag_ctx *d;

static void setup(void)
{
    cr_assert(mkdtemp(dir));
    said_fp = open_memstream(&said, &said_len);
    d = diag_new(said_fp, DIAG_COLOR_NEVER);
}

static void teardown(void)
{
    diag_free(d);
    fclose(said_fp);
    free(said);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert(s);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static const char *const model_text =
    "format: surgery-model/1\n"
    "name: tiny\n"
    "inputs:\n"
    "  - {name: img, type: convolutional, %s}\n"
    "layers:\n"
    "  - {name: c1, type: conv2d, n_out: 4, kernel: [3, 2], stride: 2, padding: same}\n"
    "  - {name: dw, type: depthwise_conv2d, multiplier: 2, kernel: 3, padding: [1, 0, 2, 1]}\n"
    "  - {name: out, type: output, n_out: 2, activation: softmax, loss: mcxent}\n"
    "outputs: [out]\n";

static model *load_with_input(const char *input_keys)
{
    char text[1024], path[128];
    snprintf(text, sizeof text, model_text, input_keys);
    snprintf(path, sizeof path, "%s/in.yaml", dir);
    write_file(path, text);
    model *m = model_load(path, true, d);
    fflush(said_fp);
    return m;
}

TestSuite(conv_model, .init = setup, .fini = teardown);

Test(conv_model, both_spellings_of_the_input_give_nchw_and_save_byte_stable)
{
    static const char *const spellings[] = {"channels: 3, height: 7, width: 5",
                                            "size: [7, 5, 3]"};
    char *first = NULL;
    for (int s = 0; s < 2; s++) {
        model *m = load_with_input(spellings[s]);
        cr_assert(m, "%s: %s", spellings[s], said);
        cr_assert_eq(m->inputs[0].c, 3);
        cr_assert_eq(m->inputs[0].h, 7);
        cr_assert_eq(m->inputs[0].w, 5);
        const layer *c1 = model_find_layer(m, "c1"), *dw = model_find_layer(m, "dw");
        cr_assert_eq(c1->n_in, 3);
        /* same, stride 2: ceil(7 / 2) x ceil(5 / 2) */
        cr_assert(c1->out_shape.kind == SHAPE_CNN && c1->out_shape.c == 4 &&
                  c1->out_shape.h == 4 && c1->out_shape.w == 3);
        /* kernel 3 padded [1, 0, 2, 1]: 4 + 3 - 2 = 5 rows, 3 + 1 - 2 = 2 columns */
        cr_assert(dw->n_out == 8 && dw->out_shape.h == 5 && dw->out_shape.w == 2,
                  "dw gives %lld x %lld x %lld", (long long)dw->out_shape.c,
                  (long long)dw->out_shape.h, (long long)dw->out_shape.w);
        cr_assert_eq(model_find_layer(m, "out")->n_in, 8 * 5 * 2);
        char path[128], again[128];
        snprintf(path, sizeof path, "%s/saved.yaml", dir);
        snprintf(again, sizeof again, "%s/again.yaml", dir);
        cr_assert_eq(model_save_mode(m, path, SAVE_ATOMIC, d), 0, "%s", said);
        model *back = model_load(path, true, d);
        cr_assert(back, "%s", said);
        cr_assert_eq(model_save_mode(back, again, SAVE_ATOMIC, d), 0, "%s", said);
        char *a = slurp(path), *b = slurp(again);
        cr_assert(strstr(a, "    channels: 3\n    height: 7\n    width: 5\n"), "%s", a);
        cr_assert(strstr(a, "    kernel: [3, 2]\n    stride: [2, 2]\n    padding: same\n"), "%s", a);
        cr_assert(strstr(a, "    kernel: [3, 3]\n    padding: [1, 0, 2, 1]\n"), "%s", a);
        /* the files differ only in the weights file's name */
        char *wa = strstr(a, "weights: "), *wb = strstr(b, "weights: ");
        cr_assert(wa && wb);
        *wa = *wb = '\0';
        cr_assert_str_eq(a, b);
        if (!first)
            first = strdup(a);
        else
            cr_assert_str_eq(first, a, "both spellings save the same model");
        free(a);
        free(b);
        model_free(back);
        model_free(m);
    }
    free(first);
}

Test(conv_model, wrong_inputs_are_named)
{
    static const struct {
        const char *keys, *message;
    } cases[] = {
        {"channels: 3, height: 7", "input 'img' has no 'width'"},
        {"size: [7, 5, 3], channels: 3, height: 7, width: 5",
         "input 'img' gives both 'size' and channels, height, width"},
        {"size: [7, 5]", "a convolutional input's size is [height, width, channels]"},
        {"channels: 3, height: 7, width: 1", "does not fit the 4 x 1 input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model *m = load_with_input(cases[i].keys);
        cr_expect_null(m, "%s accepted", cases[i].keys);
        model_free(m);
        cr_expect(strstr(said, cases[i].message), "%s: expected \"%s\", said:\n%s",
                  cases[i].keys, cases[i].message, said);
    }
}
