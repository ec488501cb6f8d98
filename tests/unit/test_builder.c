/* test_builder.c: the format-neutral model builder: shapes inferred and missing parameters
 * initialised on finish, given parameters kept or refused by shape, graph errors reported. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/graph/builder.h"

typedef struct capture {
    char *buf;
    size_t len;
    FILE *fp;
    diag_ctx *d;
} capture;

static void cap_open(capture *c)
{
    memset(c, 0, sizeof *c);
    c->fp = open_memstream(&c->buf, &c->len);
    cr_assert(c->fp);
    c->d = diag_new(c->fp, DIAG_COLOR_NEVER);
}

static const char *cap_text(capture *c)
{
    fflush(c->fp);
    return c->buf ? c->buf : "";
}

static void cap_close(capture *c)
{
    diag_free(c->d);
    fclose(c->fp);
    free(c->buf);
}

/* A dense layer `name` of n_out units reading `from`, added to b. */
static layer *add_dense(model_builder *b, const char *name, const char *from, int n_out)
{
    layer *L = layer_new(layer_type_find("dense"), name);
    cr_assert(L);
    layer_set_inputs(L, &from, 1);
    conf_value *v = conf_num(n_out, loc_none());
    cr_assert_eq(layer_set_option(L, "n_out", loc_none(), v, NULL), 0);
    conf_value_free(v);
    model_builder_add_layer(b, L);
    return L;
}

/* in (3 features) -> fc (2) -> head (4), output head. */
static model_builder *small_mlp(void)
{
    model_builder *b = model_builder_new("mlp");
    cr_assert(b);
    cr_assert_eq(model_builder_add_input(b, "in", INPUT_FEED_FORWARD, 3, NULL, loc_none()), 0);
    add_dense(b, "fc", "in", 2);
    add_dense(b, "head", "fc", 4);
    const char *out = "head";
    model_builder_set_outputs(b, &out, 1);
    return b;
}

Test(builder, finish_infers_shapes_and_initialises_missing_parameters)
{
    model_builder *b = small_mlp();
    model_builder_set_seed(b, 7);
    cr_assert_eq(model_builder_freeze(b, "fc"), 0);
    cr_assert_eq(model_builder_freeze(b, "nope"), -1);
    model *m = model_builder_finish(b, true, loc_none(), NULL);
    cr_assert(m);
    layer *fc = model_find_layer(m, "fc"), *head = model_find_layer(m, "head");
    cr_assert_eq(fc->n_in, 3);
    cr_assert_eq(head->n_in, 2);
    cr_assert(fc->frozen && !head->frozen);
    cr_assert_eq(fc->n_params, 2);
    cr_assert(m->weights_loaded);
    cr_assert(tensor_has_values(&head->params[0]));
    cr_assert_eq(head->params[0].size, 8, "W holds n_in * n_out values");
    cr_assert_eq(model_param_count(m), 3 * 2 + 2 + 2 * 4 + 4);
    model_free(m);
}

Test(builder, architecture_only_leaves_parameters_empty)
{
    model *m = model_builder_finish(small_mlp(), false, loc_none(), NULL);
    cr_assert(m);
    cr_assert(!tensor_has_values(&model_find_layer(m, "fc")->params[0]));
    cr_assert(!m->weights_loaded);
    model_free(m);
}

Test(builder, given_parameters_are_kept_when_their_shape_fits)
{
    model_builder *b = small_mlp();
    layer *fc = model_find_layer(model_builder_model(b), "fc");
    tensor bias = {0};
    cr_assert_eq(tensor_alloc(&bias, 1, (int64_t[]){2}), 0);
    bias.data[0] = 0.5f;
    bias.data[1] = -0.25f;
    cr_assert_eq(model_builder_set_param(b, fc, "b", &bias), 0);
    cr_assert_null(bias.data, "the tensor moved into the model");
    tensor none = {0};
    cr_assert_eq(model_builder_set_param(b, fc, "gamma", &none), -1);
    model *m = model_builder_finish(b, true, loc_none(), NULL);
    cr_assert(m);
    const tensor *got = &model_find_layer(m, "fc")->params[1];
    cr_assert_eq(got->data[0], 0.5f);
    cr_assert_eq(got->data[1], -0.25f);
    model_free(m);
}

Test(builder, a_given_parameter_of_the_wrong_shape_is_refused)
{
    capture c;
    cap_open(&c);
    model_builder *b = small_mlp();
    layer *head = model_find_layer(model_builder_model(b), "head");
    tensor w = {0};
    cr_assert_eq(tensor_alloc(&w, 2, (int64_t[]){7, 7}), 0);
    memset(w.data, 0, (size_t)w.size * sizeof(float));
    cr_assert_eq(model_builder_set_param(b, head, "W", &w), 0);
    cr_assert_null(model_builder_finish(b, true, loc_none(), c.d));
    cr_assert(strstr(cap_text(&c), "parameter head.W has shape [7, 7], but layer 'head' needs"),
              "%s", cap_text(&c));
    cap_close(&c);
}

static int failing_source(model *m, void *ctx, struct diag_ctx *d)
{
    (void)m;
    (void)d;
    ++*(int *)ctx;
    return 1;
}

Test(builder, a_failing_params_source_fails_the_model)
{
    int calls = 0;
    model_builder *b = small_mlp();
    model_builder_params_from(b, failing_source, &calls);
    cr_assert_null(model_builder_finish(b, true, loc_none(), NULL));
    cr_assert_eq(calls, 1, "called once, after shape inference");
}

Test(builder, a_cycle_is_reported_and_no_source_is_asked)
{
    capture c;
    cap_open(&c);
    model_builder *b = model_builder_new("loop");
    cr_assert_eq(model_builder_add_input(b, "in", INPUT_FEED_FORWARD, 3, NULL, loc_none()), 0);
    add_dense(b, "a", "b", 2);
    add_dense(b, "b", "a", 2);
    const char *out = "b";
    model_builder_set_outputs(b, &out, 1);
    int calls = 0;
    model_builder_params_from(b, failing_source, &calls);
    cr_assert_null(model_builder_finish(b, true, loc_none(), c.d));
    cr_assert_eq(calls, 0);
    cr_assert(strstr(cap_text(&c), "cycle"), "%s", cap_text(&c));
    cap_close(&c);
}
