/* test_conv_torch.c: conv2d, depthwise_conv2d and separable_conv2d against PyTorch: forward
 * outputs and the gradients of sum(y * R) for the input and every parameter, on odd sizes
 * (7 x 5) with stride 2 and padding 1, dilation 2, groups 2, `same` with its odd cell at the
 * bottom and right, asymmetric explicit padding, depthwise multipliers and separable
 * convolutions (tests/data/conv, from tools/gen_golden_conv.py). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstm_fixture.h"
#include "runtime/nn/layer.h"

#define TOL 1e-5

/* The `# type:` and `# options:` lines of a fixture. */
static void read_header(const char *path, char *type, size_t type_n, char *opts, size_t opts_n)
{
    FILE *fp = fopen(path, "r");
    cr_assert(fp, "cannot open %s", path);
    char line[1024];
    type[0] = opts[0] = '\0';
    while (fgets(line, sizeof line, fp) && line[0] == '#') {
        line[strcspn(line, "\n")] = '\0';
        const char *v = NULL;
        if (!strncmp(line, "# type: ", 8) && strlen(v = line + 8) < type_n)
            memcpy(type, v, strlen(v) + 1);
        else if (!strncmp(line, "# options: ", 11) && strlen(v = line + 11) < opts_n)
            memcpy(opts, v, strlen(v) + 1);
    }
    fclose(fp);
    cr_assert(type[0] && opts[0], "%s: no type or options line", path);
}

static void set_options(layer *L, char *opts)
{
    for (char *save = NULL, *item = strtok_r(opts, ";", &save); item;
         item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        cr_assert(eq);
        *eq = '\0';
        char key[64];
        cr_assert_eq(sscanf(item, " %63s", key), 1);
        conf_value *v = conf_parse_text(eq + 1, loc_none(), NULL);
        cr_assert(v, "bad value %s", eq + 1);
        cr_assert_eq(layer_set_option(L, key, loc_none(), v, NULL), 0, "%s refused", key);
        conf_value_free(v);
    }
}

static void expect_close(const char *what, const char *name, const float *got,
                         const tensor *want)
{
    double d = max_abs_diff_n(got, want->data, want->size);
    cr_expect(d <= TOL, "%s: %s differs from PyTorch by %g", what, name, d);
}

static void check_case(const char *name)
{
    char path[256], type_name[64], opts[512];
    snprintf(path, sizeof path, "tests/data/conv/%s.txt", name);
    read_header(path, type_name, sizeof type_name, opts, sizeof opts);
    fixture f;
    fixture_load(&f, path);
    const tensor *x = fixture_get(&f, "x"), *R = fixture_get(&f, "R"), *y = fixture_get(&f, "y");
    const layer_type *t = layer_type_find(type_name);
    cr_assert(t, "%s: unknown type %s", name, type_name);
    layer *L = layer_new(t, name);
    cr_assert(L);
    set_options(L, opts);
    act_shape in = act_shape_cnn(x->shape[1], x->shape[2], x->shape[3]), out;
    char msg[256] = "";
    cr_assert_eq(t->infer(L, &in, 1, &out, msg, sizeof msg), 0, "%s: %s", name, msg);
    cr_assert(out.kind == SHAPE_CNN && out.c == y->shape[1] && out.h == y->shape[2] &&
                  out.w == y->shape[3],
              "%s: inferred %lld x %lld x %lld, PyTorch gives %lld x %lld x %lld", name,
              (long long)out.c, (long long)out.h, (long long)out.w, (long long)y->shape[1],
              (long long)y->shape[2], (long long)y->shape[3]);
    L->in_shape = in;
    L->out_shape = out;
    param_spec specs[LAYER_MAX_PARAMS];
    L->n_params = t->param_specs(L, specs);
    for (int k = 0; k < L->n_params; k++) {
        cr_assert_eq(tensor_alloc(&L->params[k], specs[k].ndim, specs[k].shape), 0);
        cr_assert_eq(tensor_alloc(&L->grads[k], specs[k].ndim, specs[k].shape), 0);
        const tensor *src = fixture_get(&f, specs[k].key);
        cr_assert_eq(src->ndim, specs[k].ndim, "%s: %s has %d dimensions", name, specs[k].key,
                     src->ndim);
        for (int d = 0; d < src->ndim; d++)
            cr_assert_eq(src->shape[d], specs[k].shape[d], "%s: %s dimension %d", name,
                         specs[k].key, d);
        lstm_set_param(L, specs[k].key, src);
    }
    cr_assert_eq(L->n_params, (f.n - 4) / 2, "%s: parameter count", name);   /* x R y dx, P and dP */

    tensor got = {0}, dx = {0};
    cr_assert_eq(tensor_alloc(&got, y->ndim, y->shape), 0);
    cr_assert_eq(tensor_alloc(&dx, x->ndim, x->shape), 0);
    const tensor *ins[1] = {x};
    fwd_ctx fc = {.in = ins, .n_in = 1, .out = &got, .training = true};
    cr_assert_eq(t->forward(L, &fc), 0);
    expect_close(name, "y", got.data, y);

    tensor *dxp[1] = {&dx};
    bwd_ctx bc = {.in = ins, .n_in = 1, .out = &got, .dout = R, .din = dxp, .grads = L->grads};
    cr_assert_eq(t->backward(L, &bc), 0);
    expect_close(name, "dx", dx.data, fixture_get(&f, "dx"));
    for (int k = 0; k < L->n_params; k++) {
        char key[40];
        snprintf(key, sizeof key, "d%s", specs[k].key);
        expect_close(name, key, L->grads[k].data, fixture_get(&f, key));
    }
    tensor_release(&got);
    tensor_release(&dx);
    layer_free(L);
    fixture_free(&f);
}

Test(conv_torch, conv2d_stride2_pad1) { check_case("conv_stride2_pad1"); }
Test(conv_torch, conv2d_dilation2) { check_case("conv_dilation2"); }
Test(conv_torch, conv2d_groups2_same) { check_case("conv_groups2_same"); }
Test(conv_torch, conv2d_same_stride2_odd_cell_bottom_right) { check_case("conv_same_stride2_odd"); }
Test(conv_torch, conv2d_asymmetric_padding) { check_case("conv_asymmetric"); }
Test(conv_torch, conv2d_1x1_without_bias) { check_case("conv_nobias_1x1"); }
Test(conv_torch, depthwise_multiplier2) { check_case("depthwise_mult2"); }
Test(conv_torch, depthwise_dilation2_same) { check_case("depthwise_dilation2_same"); }
Test(conv_torch, separable_same) { check_case("separable_same"); }
Test(conv_torch, separable_stride2_asymmetric) { check_case("separable_stride2_asym"); }
