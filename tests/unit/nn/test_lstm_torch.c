/* test_lstm_torch.c: lstm and graves_lstm forward and backward against PyTorch golden files
 * (tools/gen_golden_lstm.py), masks, carried state, no dropout of the cell's own, shape
 * inference, and a finite-difference check of graves_lstm's gradients (peepholes included). */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/unit/nn/lstm_fixture.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/tensor.h"

#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4
#define PREFILL 0.5f    /* gradients start here: backward must ADD into them */

static layer *layer_from_fixture(fixture *f, const char *xname)
{
    tensor *x = fixture_get(f, xname), *RW = fixture_get(f, "RW");
    const int64_t n = RW->shape[0];
    const bool peep = RW->shape[1] == 4 * n + 3;
    layer *L = lstm_make(peep ? &layer_type_graves_lstm : &layer_type_lstm, x->shape[2], n);
    lstm_set_param(L, "W", fixture_get(f, "W"));
    lstm_set_param(L, "RW", RW);
    lstm_set_param(L, "b", fixture_get(f, "b"));
    return L;
}

static void fill(tensor *t, float v)
{
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = v;
}

/* Runs backward with dout = R into prefilled gradients and compares them (minus the prefill)
 * with the fixture's dx (named dxname), dW, dRW, db. */
static void check_backward(layer *L, fixture *f, const tensor *x, const tensor *y,
                           const char *rname, const char *dxname, const char *what)
{
    tensor dx = {0};
    cr_assert_eq(tensor_alloc(&dx, x->ndim, x->shape), 0);
    fill(&dx, PREFILL);
    for (int i = 0; i < L->n_params; i++)
        fill(&L->grads[i], PREFILL);
    tensor *dins[1] = {&dx};
    const tensor *ins[1] = {x};
    bwd_ctx bc = {.in = ins, .n_in = 1, .out = y, .dout = fixture_get(f, rname), .din = dins,
                  .grads = L->grads};
    cr_assert_eq(L->type->backward(L, &bc), 0);
    static const char *const keys[3] = {"dW", "dRW", "db"};
    for (int i = 0; i < 4; i++) {
        const tensor *got = i < 3 ? &L->grads[i] : &dx;
        const tensor *want = fixture_get(f, i < 3 ? keys[i] : dxname);
        cr_assert_eq(got->size, want->size);
        double d = 0.0;
        for (int64_t j = 0; j < got->size; j++) {
            double e = fabs((double)got->data[j] - PREFILL - want->data[j]);
            if (!(e <= d))
                d = e;
        }
        cr_expect_leq(d, GRAD_TOL, "%s: %s: max |ours - torch| = %g", what,
                      i < 3 ? keys[i] : dxname, d);
    }
    tensor_release(&dx);
}

/* Forward in inference and training mode, then backward, against one golden file. */
static void check_golden(const char *path)
{
    const char *what = path;
    fixture f;
    fixture_load(&f, path);
    layer *L = layer_from_fixture(&f, "x");
    if (strstr(path, "sigmoid"))
        L->activation = ACT_SIGMOID;
    tensor *x = fixture_get(&f, "x"), *want = fixture_get(&f, "y");
    const float *mask = fixture_has(&f, "mask") ? fixture_get(&f, "mask")->data : NULL;
    tensor y = {0};
    cr_assert_eq(tensor_alloc(&y, 3, want->shape), 0);
    lstm_run(L, x, &y, mask, false, false);
    double d = max_abs_diff_n(y.data, want->data, y.size);
    cr_expect_leq(d, FWD_TOL, "%s: inference: max |ours - torch| = %g", what, d);
    tensor_zero(&y);
    lstm_run(L, x, &y, mask, true, false);
    d = max_abs_diff_n(y.data, want->data, y.size);
    cr_expect_leq(d, FWD_TOL, "%s: training: max |ours - torch| = %g", what, d);
    check_backward(L, &f, x, &y, "R", "dx", what);
    tensor_release(&y);
    layer_free(L);
    fixture_free(&f);
}

Test(lstm_torch, small) { check_golden("tests/data/lstm/torch_lstm_small.txt"); }
Test(lstm_torch, units_not_multiple_of_8) { check_golden("tests/data/lstm/torch_lstm_tail.txt"); }
Test(lstm_torch, masked) { check_golden("tests/data/lstm/torch_lstm_mask.txt"); }
Test(lstm_torch, graves_peepholes) { check_golden("tests/data/lstm/torch_graves.txt"); }
Test(lstm_torch, graves_masked) { check_golden("tests/data/lstm/torch_graves_mask.txt"); }
Test(lstm_torch, graves_sigmoid_activation)
{
    check_golden("tests/data/lstm/torch_graves_sigmoid.txt");
}

/* Truncated BPTT: the second segment starts from the first's final h and c; gradients stop at
 * the segment boundary. */
Test(lstm_torch, carry_state)
{
    fixture f;
    fixture_load(&f, "tests/data/lstm/torch_lstm_carry.txt");
    layer *L = layer_from_fixture(&f, "x");
    tensor *x = fixture_get(&f, "x"), *x2 = fixture_get(&f, "x2");
    tensor *want1 = fixture_get(&f, "y"), *want2 = fixture_get(&f, "y2");
    tensor y = {0}, y2 = {0};
    cr_assert_eq(tensor_alloc(&y, 3, want1->shape), 0);
    cr_assert_eq(tensor_alloc(&y2, 3, want2->shape), 0);
    for (int mode = 0; mode < 2; mode++) {
        /* the first segment in inference or training mode: both leave the final state */
        lstm_run(L, x, &y, NULL, mode == 1, true);  /* carry with nothing stored: zeros */
        double d = max_abs_diff_n(y.data, want1->data, y.size);
        cr_expect_leq(d, FWD_TOL, "segment 1: %g", d);
        lstm_run(L, x2, &y2, NULL, true, true);
        d = max_abs_diff_n(y2.data, want2->data, y2.size);
        cr_expect_leq(d, FWD_TOL, "segment 2 (carried): %g", d);
        check_backward(L, &f, x2, &y2, "R2", "dx2", "carry");
        /* without carry_state the second segment starts from zeros again */
        lstm_run(L, x2, &y2, NULL, false, false);
        d = max_abs_diff_n(y2.data, want2->data, y2.size);
        cr_expect_gt(d, 1e-3, "segment 2 without carry must differ from the carried one");
        layer *fresh = layer_from_fixture(&f, "x");
        tensor y3 = {0};
        cr_assert_eq(tensor_alloc(&y3, 3, want2->shape), 0);
        lstm_run(fresh, x2, &y3, NULL, false, false);
        cr_expect_leq(max_abs_diff_n(y2.data, y3.data, y3.size), 0.0);
        tensor_release(&y3);
        layer_free(fresh);
        /* release the state: nothing carried afterwards */
        L->type->free_state(L);
        cr_assert_null(L->state);
    }
    tensor_release(&y);
    tensor_release(&y2);
    layer_free(L);
    fixture_free(&f);
}

/* A carried state is used only by a call with the same batch size; otherwise zeros. */
Test(lstm_torch, carry_state_other_batch_starts_from_zero)
{
    fixture f;
    fixture_load(&f, "tests/data/lstm/torch_lstm_carry.txt");
    layer *L = layer_from_fixture(&f, "x");
    tensor *x = fixture_get(&f, "x");
    tensor y = {0}, part = {0}, y_part = {0}, y_ref = {0};
    const int64_t T = x->shape[0], B = x->shape[1], nin = x->shape[2], n = L->n_out;
    cr_assert_eq(tensor_alloc3(&y, T, B, n), 0);
    lstm_run(L, x, &y, NULL, false, false);
    /* the first example alone, as a batch of one */
    cr_assert_eq(tensor_alloc3(&part, T, 1, nin), 0);
    for (int64_t t = 0; t < T; t++)
        memcpy(part.data + t * nin, x->data + t * B * nin, (size_t)nin * sizeof(float));
    cr_assert_eq(tensor_alloc3(&y_part, T, 1, n), 0);
    cr_assert_eq(tensor_alloc3(&y_ref, T, 1, n), 0);
    lstm_run(L, &part, &y_part, NULL, false, true);
    for (int64_t t = 0; t < T; t++)
        memcpy(y_ref.data + t * n, y.data + t * B * n, (size_t)n * sizeof(float));
    cr_expect_leq(max_abs_diff_n(y_part.data, y_ref.data, y_ref.size), 1e-6);
    tensor_release(&y);
    tensor_release(&part);
    tensor_release(&y_part);
    tensor_release(&y_ref);
    layer_free(L);
    fixture_free(&f);
}

/* A `dropout` setting changes nothing inside the cell: the trainer drops a layer's input before
 * its forward (train.c), so a training forward and backward with dropout 0.4 and a generator
 * give the same bytes as without, and draw nothing from the generator. */
Test(lstm_torch, no_dropout_of_its_own)
{
    fixture f;
    fixture_load(&f, "tests/data/lstm/torch_graves.txt");
    layer *L = layer_from_fixture(&f, "x");
    layer *plain = layer_from_fixture(&f, "x");
    L->train.dropout = 0.4;
    tensor *x = fixture_get(&f, "x"), *R = fixture_get(&f, "R");
    tensor y = {0}, y_ref = {0}, dx = {0}, dx_ref = {0};
    cr_assert_eq(tensor_alloc(&dx, 3, x->shape), 0);
    cr_assert_eq(tensor_alloc(&dx_ref, 3, x->shape), 0);
    cr_assert_eq(tensor_alloc(&y, 3, R->shape), 0);
    cr_assert_eq(tensor_alloc(&y_ref, 3, R->shape), 0);
    rng r, fresh;
    rng_seed(&r, 99);
    rng_seed(&fresh, 99);
    const tensor *ins[1] = {x};
    fwd_ctx c = {.in = ins, .n_in = 1, .out = &y, .training = true, .rng = &r};
    cr_assert_eq(L->type->forward(L, &c), 0);
    fwd_ctx c_ref = {.in = ins, .n_in = 1, .out = &y_ref, .training = true};
    cr_assert_eq(plain->type->forward(plain, &c_ref), 0);
    cr_expect_eq(memcmp(y.data, y_ref.data, (size_t)y.size * sizeof(float)), 0,
                 "the training output depends on the layer's dropout");
    cr_expect_eq(rng_next(&r), rng_next(&fresh), "the forward drew from the dropout generator");
    tensor *dins[1] = {&dx}, *dins_ref[1] = {&dx_ref};
    bwd_ctx b = {.in = ins, .n_in = 1, .out = &y, .dout = R, .din = dins, .grads = L->grads};
    bwd_ctx b_ref = {.in = ins, .n_in = 1, .out = &y_ref, .dout = R, .din = dins_ref,
                     .grads = plain->grads};
    cr_assert_eq(L->type->backward(L, &b), 0);
    cr_assert_eq(plain->type->backward(plain, &b_ref), 0);
    cr_expect_eq(memcmp(dx.data, dx_ref.data, (size_t)dx.size * sizeof(float)), 0,
                 "the input gradient depends on the layer's dropout");
    for (int i = 0; i < 3; i++)
        cr_expect_eq(memcmp(L->grads[i].data, plain->grads[i].data,
                            (size_t)L->grads[i].size * sizeof(float)), 0,
                     "gradient %d depends on the layer's dropout", i);
    /* and the training output is the inference output */
    lstm_run(L, x, &y_ref, NULL, false, false);
    cr_expect_leq(max_abs_diff_n(y.data, y_ref.data, y.size), 0.0);
    tensor_release(&y);
    tensor_release(&y_ref);
    tensor_release(&dx);
    tensor_release(&dx_ref);
    layer_free(L);
    layer_free(plain);
    fixture_free(&f);
}

/* Frozen layers (grads NULL) and model inputs (din NULL) are handled. */
Test(lstm_torch, backward_without_grads_or_din)
{
    fixture f;
    fixture_load(&f, "tests/data/lstm/torch_lstm_small.txt");
    layer *L = layer_from_fixture(&f, "x");
    tensor *x = fixture_get(&f, "x"), *R = fixture_get(&f, "R");
    tensor y = {0};
    cr_assert_eq(tensor_alloc(&y, 3, R->shape), 0);
    const tensor *ins[1] = {x};
    lstm_run(L, x, &y, NULL, true, false);
    bwd_ctx b = {.in = ins, .n_in = 1, .out = &y, .dout = R, .din = NULL, .grads = NULL};
    cr_assert_eq(L->type->backward(L, &b), 0);
    lstm_run(L, x, &y, NULL, true, false);
    tensor *dins[1] = {NULL};
    b.din = dins;
    cr_assert_eq(L->type->backward(L, &b), 0);
    tensor_release(&y);
    layer_free(L);
    fixture_free(&f);
}

/* ---- finite differences for graves_lstm --------------------------------------------------
 * J = sum(y * R) with y computed in float32 and J summed in double. Each y carries a relative
 * rounding error of a few float32 ulps (~2e-7 with the cell's exp-based sigmoid/tanh), so with
 * |R| <= 1 and T*B*n = 72 terms J is known to ~72 * 2e-7 ~ 1.5e-5 at worst (random-walk
 * ~2e-6). With eps = 1e-2 the central difference's rounding noise is <= 1.5e-5 / 2e-2 ~ 8e-4
 * (typically ~1e-4) and its truncation error eps^2 / 6 * |J'''| ~ 2e-5 * |J'''|, with J'''
 * O(1) for these bounded saturating functions. Tolerance 1e-3 + 1e-2 * |g| leaves a margin of
 * ~10x over both, while a missing or mis-wired term (e.g. a peephole gradient taken from
 * c[t] instead of c[t-1], or a lost recurrence step) shows up at O(0.05) or more. */
#define FD_EPS 1e-2
#define FD_ATOL 1e-3
#define FD_RTOL 1e-2

static double fd_objective(layer *L, const tensor *x, tensor *y, const tensor *R,
                           const float *mask)
{
    lstm_run(L, x, y, mask, true, false);
    double j = 0.0;
    for (int64_t i = 0; i < y->size; i++)
        j += (double)y->data[i] * R->data[i];
    return j;
}

static void fd_check(const char *path)
{
    fixture f;
    fixture_load(&f, path);
    layer *L = layer_from_fixture(&f, "x");
    tensor *x = fixture_get(&f, "x"), *R = fixture_get(&f, "R");
    const float *mask = fixture_has(&f, "mask") ? fixture_get(&f, "mask")->data : NULL;
    tensor y = {0}, dx = {0};
    cr_assert_eq(tensor_alloc(&y, 3, R->shape), 0);
    cr_assert_eq(tensor_alloc(&dx, 3, x->shape), 0);
    (void)fd_objective(L, x, &y, R, mask);
    const tensor *ins[1] = {x};
    tensor *dins[1] = {&dx};
    bwd_ctx b = {.in = ins, .n_in = 1, .out = &y, .dout = R, .din = dins, .grads = L->grads};
    cr_assert_eq(L->type->backward(L, &b), 0);
    tensor *targets[4] = {&L->params[0], &L->params[1], &L->params[2], x};
    const tensor *analytic[4] = {&L->grads[0], &L->grads[1], &L->grads[2], &dx};
    static const char *const names[4] = {"W", "RW", "b", "x"};
    int checked_peep = 0;
    for (int k = 0; k < 4; k++) {
        int bad = 0;
        for (int64_t i = 0; i < targets[k]->size; i++) {
            float v = targets[k]->data[i];
            targets[k]->data[i] = (float)(v + FD_EPS);
            double jp = fd_objective(L, x, &y, R, mask);
            targets[k]->data[i] = (float)(v - FD_EPS);
            double jm = fd_objective(L, x, &y, R, mask);
            targets[k]->data[i] = v;
            double num = (jp - jm) / (2 * FD_EPS), a = analytic[k]->data[i];
            if (fabs(a - num) > FD_ATOL + FD_RTOL * fmax(fabs(a), fabs(num)) && bad++ < 3)
                cr_expect(false, "%s: d/d%s[%lld]: analytic %.7g, numerical %.7g", path,
                          names[k], (long long)i, a, num);
            if (k == 1 && i % targets[1]->shape[1] >= 4 * L->n_out)
                checked_peep++;
        }
        cr_expect_eq(bad, 0, "%s: %d entries of d%s differ", path, bad, names[k]);
    }
    cr_expect_eq(checked_peep, 3 * L->n_out);
    tensor_release(&y);
    tensor_release(&dx);
    layer_free(L);
    fixture_free(&f);
}

Test(lstm_torch, graves_finite_differences)
{
    fd_check("tests/data/lstm/torch_graves_sigmoid.txt");
}

/* ---- shape inference ------------------------------------------------------------------- */

Test(lstm_torch, infer_and_param_specs)
{
    layer *L = layer_new(&layer_type_graves_lstm, "g");
    L->n_out = 7;
    act_shape in = {.kind = SHAPE_RNN, .size = 5}, out;
    char msg[256] = "";
    cr_assert_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), 0, "%s", msg);
    cr_expect_eq(L->n_in, 5);
    cr_expect_eq(out.kind, SHAPE_RNN);
    cr_expect_eq(out.size, 7);
    param_spec s[LAYER_MAX_PARAMS];
    cr_assert_eq(L->type->param_specs(L, s), 3);
    cr_expect_str_eq(s[0].key, "W");
    cr_expect(s[0].shape[0] == 5 && s[0].shape[1] == 28);
    cr_expect_str_eq(s[1].key, "RW");
    cr_expect(s[1].shape[0] == 7 && s[1].shape[1] == 31);
    cr_expect_eq(s[1].role, PARAM_RECURRENT);
    cr_expect_str_eq(s[2].key, "b");
    cr_expect(s[2].ndim == 1 && s[2].shape[0] == 28);
    cr_expect_eq(s[2].role, PARAM_BIAS);
    layer_free(L);

    L = layer_new(&layer_type_lstm, "l");
    L->n_out = 7;
    cr_assert_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(L->type->param_specs(L, s), 3);
    cr_expect(s[1].shape[0] == 7 && s[1].shape[1] == 28);
    cr_expect(s[0].fan_in == 7 && s[0].fan_out == 12);

    /* feed-forward input: refused, naming the shape */
    act_shape ff = {.kind = SHAPE_FF, .size = 784};
    cr_expect_eq(L->type->infer(L, &ff, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "feed-forward [batch, 784]") && strstr(msg, "recurrent"), "%s", msg);
    act_shape cnn = {.kind = SHAPE_CNN, .size = 24, .h = 2, .w = 3, .c = 4};
    cr_expect_eq(L->type->infer(L, &cnn, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "convolutional [batch, 4, 2, 3]"), "%s", msg);
    /* a given n_in is checked */
    L->n_in = 4;
    L->n_in_given = true;
    cr_expect_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "n_in 4") && strstr(msg, "5"), "%s", msg);
    L->n_in_given = false;
    /* softmax is no cell activation */
    L->activation = ACT_SOFTMAX;
    cr_expect_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "softmax"), "%s", msg);
    L->activation = ACT_TANH;
    L->n_out = 0;
    cr_expect_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "n_out"), "%s", msg);
    layer_free(L);
}

/* ---- OpenBLAS threads ------------------------------------------------------------------- */

/* Forward (with mask and carried state) and backward of one random graves_lstm with OpenBLAS
 * at `threads` threads (its matrix products may then split their work across threads). */
static void run_threads_case(int threads, tensor *y, tensor *dx, tensor grads[3])
{
    const int64_t T = 5, B = 37, nin = 6, n = 19;
    openblas_set_num_threads(threads);
    layer *L = lstm_make(&layer_type_graves_lstm, nin, n);
    rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < 3; i++)
        for (int64_t j = 0; j < L->params[i].size; j++)
            L->params[i].data[j] = (float)(rng_uniform(&r) - 0.5);
    tensor x = {0}, mask = {0}, R = {0};
    cr_assert_eq(tensor_alloc3(&x, T, B, nin), 0);
    cr_assert_eq(tensor_alloc2(&mask, T, B), 0);
    cr_assert_eq(tensor_alloc3(&R, T, B, n), 0);
    for (int64_t j = 0; j < x.size; j++)
        x.data[j] = (float)(2 * rng_uniform(&r) - 1);
    for (int64_t j = 0; j < R.size; j++)
        R.data[j] = (float)(2 * rng_uniform(&r) - 1);
    for (int64_t j = 0; j < mask.size; j++)
        mask.data[j] = rng_uniform(&r) < 0.8 ? 1.0f : 0.0f;
    cr_assert_eq(tensor_alloc3(y, T, B, n), 0);
    cr_assert_eq(tensor_alloc3(dx, T, B, nin), 0);
    lstm_run(L, &x, y, NULL, false, false);
    lstm_run(L, &x, y, mask.data, true, true);
    const tensor *ins[1] = {&x};
    tensor *dins[1] = {dx};
    bwd_ctx b = {.in = ins, .n_in = 1, .out = y, .dout = &R, .din = dins, .grads = L->grads};
    cr_assert_eq(L->type->backward(L, &b), 0);
    for (int i = 0; i < 3; i++) {
        grads[i] = L->grads[i];
        memset(&L->grads[i], 0, sizeof L->grads[i]);
    }
    tensor_release(&x);
    tensor_release(&mask);
    tensor_release(&R);
    layer_free(L);
}

static void check_blas_threads(void)
{
    const int saved = openblas_get_num_threads();
    tensor y1 = {0}, dx1 = {0}, g1[3], y2 = {0}, dx2 = {0}, g2[3];
    run_threads_case(1, &y1, &dx1, g1);
    run_threads_case(2, &y2, &dx2, g2);
    openblas_set_num_threads(saved);
    cr_expect_leq(max_abs_diff_n(y1.data, y2.data, y1.size), 1e-6);
    cr_expect_leq(max_abs_diff_n(dx1.data, dx2.data, dx1.size), 1e-5);
    for (int i = 0; i < 3; i++) {
        cr_expect_leq(max_abs_diff_n(g1[i].data, g2[i].data, g1[i].size), 1e-4, "param %d", i);
        tensor_release(&g1[i]);
        tensor_release(&g2[i]);
    }
    tensor_release(&y1);
    tensor_release(&dx1);
    tensor_release(&y2);
    tensor_release(&dx2);
}

Test(lstm_torch, blas_threads_match_one_thread)
{
    check_blas_threads();
}

/* has_bias = false: no b parameter, the gates get no bias. */
Test(lstm_torch, without_bias)
{
    fixture f;
    fixture_load(&f, "tests/data/lstm/torch_graves.txt");
    tensor *x = fixture_get(&f, "x"), *R = fixture_get(&f, "R");
    layer *ref = layer_from_fixture(&f, "x");
    tensor_zero(&ref->params[2]);
    layer *L = layer_new(&layer_type_graves_lstm, "nb");
    L->has_bias = false;
    L->n_out = ref->n_out;
    act_shape in = {.kind = SHAPE_RNN, .size = x->shape[2]}, out;
    char msg[256];
    cr_assert_eq(L->type->infer(L, &in, 1, &out, msg, sizeof msg), 0);
    param_spec s[LAYER_MAX_PARAMS];
    L->n_params = L->type->param_specs(L, s);
    cr_assert_eq(L->n_params, 2);
    cr_assert_eq(layer_param_index(L, "b"), -1);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tensor_copy(&L->params[i], &ref->params[i]), 0);
        cr_assert_eq(tensor_alloc(&L->grads[i], s[i].ndim, s[i].shape), 0);
    }
    tensor y = {0}, y_ref = {0};
    cr_assert_eq(tensor_alloc(&y, 3, R->shape), 0);
    cr_assert_eq(tensor_alloc(&y_ref, 3, R->shape), 0);
    lstm_run(L, x, &y, NULL, true, false);
    lstm_run(ref, x, &y_ref, NULL, true, false);
    cr_expect_leq(max_abs_diff_n(y.data, y_ref.data, y.size), 0.0);
    const tensor *ins[1] = {x};
    bwd_ctx b = {.in = ins, .n_in = 1, .out = &y, .dout = R, .grads = L->grads};
    bwd_ctx b_ref = {.in = ins, .n_in = 1, .out = &y_ref, .dout = R, .grads = ref->grads};
    cr_assert_eq(L->type->backward(L, &b), 0);
    cr_assert_eq(ref->type->backward(ref, &b_ref), 0);
    for (int i = 0; i < 2; i++)
        cr_expect_leq(max_abs_diff_n(L->grads[i].data, ref->grads[i].data, L->grads[i].size),
                      0.0);
    tensor_release(&y);
    tensor_release(&y_ref);
    layer_free(L);
    layer_free(ref);
    fixture_free(&f);
}

/* A batch with no time steps: nothing to compute, and backward pairs with it. */
Test(lstm_torch, empty_sequence)
{
    layer *L = lstm_make(&layer_type_lstm, 3, 4);
    tensor x = {0}, y = {0}, dy = {0};
    cr_assert_eq(tensor_alloc3(&x, 0, 2, 3), 0);
    cr_assert_eq(tensor_alloc3(&y, 0, 2, 4), 0);
    cr_assert_eq(tensor_alloc3(&dy, 0, 2, 4), 0);
    lstm_run(L, &x, &y, NULL, true, false);
    const tensor *ins[1] = {&x};
    bwd_ctx b = {.in = ins, .n_in = 1, .out = &y, .dout = &dy, .grads = L->grads};
    cr_assert_eq(L->type->backward(L, &b), 0);
    for (int i = 0; i < L->n_params; i++)
        for (int64_t j = 0; j < L->grads[i].size; j++)
            cr_expect_eq(L->grads[i].data[j], 0.0f, "gradients stay zero");
    tensor_release(&x);
    tensor_release(&y);
    tensor_release(&dy);
    layer_free(L);
}
