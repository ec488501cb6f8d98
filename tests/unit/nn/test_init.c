/* test_init.c: param_stream, initialisation in pieces: filling every position piecewise gives
 * exactly param_init's values, a subset gets the whole parameter's distribution, and
 * position-dependent schemes (identity) follow the position in the whole tensor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/init.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/tensor.h"

Test(init, pieces_in_order_give_param_init_exactly)
{
    const init_spec inits[] = {
        {INIT_XAVIER, 0, 0}, {INIT_XAVIER_UNIFORM, 0, 0}, {INIT_RELU, 0, 0},
        {INIT_RELU_UNIFORM, 0, 0}, {INIT_LECUN_NORMAL, 0, 0}, {INIT_UNIFORM, -0.2, 0.4},
        {INIT_NORMAL, 0.1, 0.3}, {INIT_ZEROS, 0, 0}, {INIT_ONES, 0, 0}, {INIT_IDENTITY, 0, 0},
    };
    /* odd sizes and odd pieces: normal pairs straddle the pieces */
    const int64_t pieces[] = {1, 3, 2, 7, 1, 1, 5, 11};
    for (int role = 0; role < 2; role++)
        for (size_t k = 0; k < sizeof inits / sizeof *inits; k++) {
            param_spec ps = {.key = "W", .role = role ? PARAM_BIAS : PARAM_WEIGHT, .ndim = 2,
                             .shape = {7, 9}, .fan_in = 7, .fan_out = 9};
            tensor whole = {0}, parts = {0};
            cr_assert_eq(tensor_alloc(&whole, 2, ps.shape), 0);
            cr_assert_eq(tensor_alloc(&parts, 2, ps.shape), 0);
            rng r1, r2;
            rng_seed_stream(&r1, 17, "x.W");
            r2 = r1;
            cr_assert_eq(param_init(&whole, &ps, &inits[k], 0.25, &r1), 0);
            param_stream s;
            cr_assert_eq(param_stream_init(&s, &ps, &inits[k], 0.25, &r2), 0);
            int64_t at = 0;
            for (int p = 0; at < parts.size; p = (p + 1) % 8) {
                int64_t n = pieces[p] < parts.size - at ? pieces[p] : parts.size - at;
                param_stream_fill(&s, parts.data + at, at, n);
                at += n;
            }
            cr_assert_eq(memcmp(whole.data, parts.data, (size_t)whole.size * sizeof(float)), 0,
                         "%s (%s): pieces differ from param_init", init_names[inits[k].kind],
                         role ? "bias" : "weight");
            tensor_release(&whole);
            tensor_release(&parts);
        }
}

Test(init, a_subset_has_the_whole_parameters_distribution)
{
    /* 64 new columns of a [4000, 1064] weight: xavier with the fans of the whole matrix */
    const int64_t rows = 4000, cols = 1064, first_new = 1000;
    param_spec ps = {.key = "W", .role = PARAM_WEIGHT, .ndim = 2,
                     .shape = {rows, cols}, .fan_in = rows, .fan_out = cols};
    init_spec xavier = {INIT_XAVIER, 0, 0};
    rng r;
    rng_seed_stream(&r, 5, "fc.W");
    param_stream s;
    cr_assert_eq(param_stream_init(&s, &ps, &xavier, 0, &r), 0);
    const int64_t k = cols - first_new;
    float *v = malloc((size_t)(rows * k) * sizeof *v);
    cr_assert_not_null(v);
    for (int64_t i = 0; i < rows; i++)
        param_stream_fill(&s, v + i * k, i * cols + first_new, k);
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < rows * k; i++) {
        sum += v[i];
        sum2 += (double)v[i] * v[i];
    }
    double n = (double)(rows * k), mean = sum / n, var = sum2 / n - mean * mean;
    double want = 2.0 / (double)(rows + cols);
    cr_expect_lt(fabs(mean), 0.01 * sqrt(want));
    cr_expect_lt(fabs(var / want - 1), 0.02, "variance %g, want %g", var, want);
    free(v);
}

Test(init, identity_follows_the_position_in_the_whole_tensor)
{
    param_spec ps = {.key = "W", .role = PARAM_WEIGHT, .ndim = 2,
                     .shape = {6, 9}, .fan_in = 6, .fan_out = 9};
    init_spec eye = {INIT_IDENTITY, 0, 0};
    rng r;
    rng_seed(&r, 1);
    param_stream s;
    cr_assert_eq(param_stream_init(&s, &ps, &eye, 0, &r), 0);
    /* columns 4..8 of every row: ones where row == column */
    for (int64_t i = 0; i < 6; i++) {
        float v[5];
        param_stream_fill(&s, v, i * 9 + 4, 5);
        for (int64_t j = 0; j < 5; j++)
            cr_assert_eq(v[j], i == j + 4 ? 1.0f : 0.0f, "row %d col %d", (int)i, (int)(j + 4));
    }
}
