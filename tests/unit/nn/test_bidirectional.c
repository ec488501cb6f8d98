/* test_bidirectional.c: the bidirectional layer computes an lstm / graves_lstm over the sequence
 * and another over the reversed one (what an lstm / graves_lstm with reverse = true computes),
 * joined by its mode; widen, narrow and net2net change both
 * directions (a widened or net2net-widened model computes what the original did). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/frontend.h"
#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"
#include "runtime/script/exec.h"
#include "tests/unit/test_support.h"

enum { T = 5, B = 2, NIN = 4, N = 3 };

static layer *make(const layer_type *type, int cell, int mode, tensor *x)
{
    layer *L = layer_new(type, "l");
    cr_assert(L);
    L->n_out = N;
    if (type == &layer_type_bidirectional) {
        double c = cell, md = mode;
        layer_option_set_values(layer_option_find(type, "layer"), L, &c);
        layer_option_set_values(layer_option_find(type, "mode"), L, &md);
    }
    act_shape in = {.kind = SHAPE_RNN, .size = NIN}, out;
    char msg[256];
    cr_assert_eq(type->infer(L, &in, 1, &out, msg, sizeof msg), 0, "%s", msg);
    L->in_shape = in;
    L->out_shape = out;
    (void)x;
    return L;
}

static void forward(layer *L, const tensor *x, tensor *y)
{
    const int64_t F = L->out_shape.size;
    cr_assert_eq(tensor_alloc3(y, T, B, F), 0);
    const tensor *in[1] = {x};
    fwd_ctx c = {.in = in, .n_in = 1, .out = y};
    cr_assert_eq(L->type->forward(L, &c), 0);
}

static void reverse(const tensor *x, tensor *r)
{
    cr_assert_eq(tensor_alloc3(r, x->shape[0], x->shape[1], x->shape[2]), 0);
    const int64_t step = x->shape[1] * x->shape[2];
    for (int64_t t = 0; t < x->shape[0]; t++)
        memcpy(r->data + t * step, x->data + (x->shape[0] - 1 - t) * step,
               (size_t)step * sizeof(float));
}

Test(bidirectional, directions_joined_by_every_mode)
{
    unsigned seed = 1;
    tensor x = {0};
    cr_assert_eq(tensor_alloc3(&x, T, B, NIN), 0);
    for (int64_t i = 0; i < x.size; i++)
        x.data[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
    for (int cell = 0; cell < 2; cell++)
        for (int mode = 0; mode < 4; mode++) {
            const layer_type *ct = cell ? &layer_type_graves_lstm : &layer_type_lstm;
            layer *bi = make(&layer_type_bidirectional, cell, mode, &x);
            layer *dir[2] = {make(ct, 0, 0, &x), make(ct, 0, 0, &x)};
            /* the backward direction as one layer reading backward (reverse = true) */
            layer *rv = make(ct, 0, 0, &x);
            const double on = 1;
            layer_option_set_values(layer_option_find(ct, "reverse"), rv, &on);
            param_spec ps[LAYER_MAX_PARAMS];
            int n = bi->type->param_specs(bi, ps);
            cr_assert_eq(n, 6);
            bi->n_params = n;
            for (int k = 0; k < n; k++) {
                cr_assert_eq(tensor_alloc(&bi->params[k], ps[k].ndim, ps[k].shape), 0);
                for (int64_t i = 0; i < bi->params[k].size; i++)
                    bi->params[k].data[i] = (float)(rand_r(&seed) % 2001 - 1000) / 2000.0f;
                layer *D = dir[k / 3];
                cr_assert_eq(tensor_copy(&D->params[k % 3], &bi->params[k]), 0);
                D->n_params = 3;
                if (k >= 3) {
                    cr_assert_eq(tensor_copy(&rv->params[k % 3], &bi->params[k]), 0);
                    rv->n_params = 3;
                }
            }
            tensor y = {0}, yf = {0}, xr = {0}, yr = {0}, yv = {0};
            forward(bi, &x, &y);
            forward(rv, &x, &yv);
            forward(dir[0], &x, &yf);
            reverse(&x, &xr);
            forward(dir[1], &xr, &yr);
            for (int64_t t = 0; t < T; t++)
                for (int64_t b = 0; b < B; b++)
                    for (int64_t j = 0; j < N; j++) {
                        float f = yf.data[(t * B + b) * N + j];
                        float r = yr.data[((T - 1 - t) * B + b) * N + j];
                        const float *o = y.data + (t * B + b) * (mode == 0 ? 2 * N : N);
                        cr_assert_float_eq(yv.data[(t * B + b) * N + j], r, 1e-6, "reverse");
                        if (mode == 0) {
                            cr_assert_float_eq(o[j], f, 1e-6);
                            cr_assert_float_eq(o[N + j], r, 1e-6);
                        } else {
                            float want = mode == 1 ? f + r : mode == 2 ? f * r : 0.5f * (f + r);
                            cr_assert_float_eq(o[j], want, 1e-6, "mode %d", mode);
                        }
                    }
            tensor_release(&y);
            tensor_release(&yf);
            tensor_release(&xr);
            tensor_release(&yr);
            tensor_release(&yv);
            layer_free(rv);
            layer_free(bi);
            layer_free(dir[0]);
            layer_free(dir[1]);
        }
    tensor_release(&x);
}

static const char model_yaml[] =
    "format: surgery-model/1\n"
    "name: bi\n"
    "inputs:\n"
    "  - name: in\n"
    "    type: recurrent\n"
    "    size: 4\n"
    "layers:\n"
    "  - name: bi\n"
    "    type: bidirectional\n"
    "    inputs: [in]\n"
    "    n_out: 3\n"
    "    layer: %s\n"
    "    mode: %s\n"
    "  - name: out\n"
    "    type: rnn_output\n"
    "    inputs: [bi]\n"
    "    n_out: 2\n"
    "    activation: softmax\n"
    "    loss: mcxent\n"
    "outputs: [out]\n"
    "init: {seed: 5}\n";

static void run(const char *dir, const char *script)
{
    char path[512];
    snprintf(path, sizeof path, "%s/s.surgery", dir);
    test_write_file(path, script);
    diag_capture c;
    capture_open(&c);
    ir_script *s = NULL;
    int rc = frontend_compile(path, NULL, 0, c.d, &s);
    if (rc == 0) {
        exec_options o = {.quiet = true};
        rc = exec_script(s, &o, c.d);
    }
    cr_assert_eq(rc, 0, "%s", capture_text(&c));
    ir_script_free(s);
    capture_close(&c);
}

/* The outputs of the model saved as `name` in dir on x. */
static void predict(const char *dir, const char *name, const tensor *x, tensor *y)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    model *m = test_load_model(path);
    const tensor *in[1] = {x};
    char err[256];
    cr_assert_eq(model_predict(m, in, y, err, sizeof err), 0, "%s", err);
    model_free(m);
}

Test(bidirectional, widen_narrow_and_net2net_change_both_directions)
{
    static const char *const cells[] = {"lstm", "graves_lstm"};
    static const char *const modes[] = {"concat", "add", "mul", "average"};
    char dir[256], path[512], text[2048];
    test_make_dir(dir, sizeof dir, "bidirectional");
    tensor x = {0};
    cr_assert_eq(tensor_alloc3(&x, T, B, NIN), 0);
    for (int64_t i = 0; i < x.size; i++)
        x.data[i] = (float)sin(0.7 * (double)i);
    for (int ci = 0; ci < 2; ci++)
        for (int mi = 0; mi < 4; mi++) {
            snprintf(path, sizeof path, "%s/m.yaml", dir);
            snprintf(text, sizeof text, model_yaml, cells[ci], modes[mi]);
            test_write_file(path, text);
            run(dir, "base \"m.yaml\"\nsave \"m0.yaml\"\n"
                     "widen \"bi\" by 2\nsave \"w.yaml\"\n");
            run(dir, "base \"m0.yaml\"\nwiden \"bi\" to 7 { method = net2net }\nsave \"n.yaml\"\n");
            run(dir, "base \"m0.yaml\"\nnarrow \"bi\" drop [1]\nsave \"d.yaml\"\n");
            tensor a = {0}, w = {0}, n = {0}, d = {0};
            predict(dir, "m0.yaml", &x, &a);
            predict(dir, "w.yaml", &x, &w);
            predict(dir, "n.yaml", &x, &n);
            predict(dir, "d.yaml", &x, &d);
            cr_assert(tensor_max_abs_diff(&a, &w) <= 1e-6, "%s %s widen: %g", cells[ci],
                      modes[mi], tensor_max_abs_diff(&a, &w));
            cr_assert(tensor_max_abs_diff(&a, &n) <= 1e-5, "%s %s net2net: %g", cells[ci],
                      modes[mi], tensor_max_abs_diff(&a, &n));
            cr_assert_eq(d.size, a.size);
            snprintf(path, sizeof path, "%s/n.yaml", dir);
            model *m = test_load_model(path);
            const layer *bi = m->layers[0];
            cr_assert_eq(bi->n_out, 7);
            cr_assert_eq(bi->params[0].shape[1], 28);
            cr_assert_eq(bi->params[3].shape[1], 28, "the backward direction widened too");
            cr_assert_eq(m->layers[1]->n_in, mi == 0 ? 14 : 7);
            model_free(m);
            tensor_release(&a);
            tensor_release(&w);
            tensor_release(&n);
            tensor_release(&d);
        }
    tensor_release(&x);
    test_remove_dir(dir);
}
