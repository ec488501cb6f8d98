/* test_graph.c: the model graph: topological order, cycles, dangling inputs, shape inference
 * errors, the blame hook of the graph checks, freezing, cloning, and inference over a multi-input, multi-output DAG. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/nn/layer.h"
#include "runtime/graph/model.h"
#include "runtime/graph/validate.h"
#include "runtime/base/rng.h"
#include "tests/unit/test_support.h"

#define GRAPH_FILE "graph.yaml"
static const char graph_text[] =
    "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n"
    "line 11\nline 12\nline 13\nline 14\nline 15\nline 16\n";

/* A diag context writing into memory, with a registered source text. */
static void cap_open(diag_capture *c)
{
    capture_open(c);
    diag_intern_path(c->d, GRAPH_FILE);
    diag_set_text(c->d, GRAPH_FILE, graph_text, sizeof graph_text - 1);
}

static layer *add(model *m, const char *type, const char *name, int64_t n_out, int line,
                  const char *in0, const char *in1)
{
    const layer_type *t = layer_type_find(type);
    cr_assert_not_null(t, "no type %s", type);
    layer *L = layer_new(t, name);
    const char *ins[2] = {in0, in1};
    layer_set_inputs(L, ins, in1 ? 2 : (in0 ? 1 : 0));
    L->n_out = n_out;
    L->loc = (src_loc){.file = GRAPH_FILE, .line = line, .col = 3, .len = 4};
    model_add_layer(m, L);
    return L;
}

static model *new_model(void)
{
    model *m = model_new("g");
    cr_assert_not_null(m);
    cr_assert_eq(model_add_input(m, "in", INPUT_FEED_FORWARD, 4,
                                 (src_loc){.file = GRAPH_FILE, .line = 1, .col = 1}), 0);
    return m;
}

Test(graph, topological_order_and_ties_in_definition_order)
{
    model *m = new_model();
    add(m, "dense", "c", 3, 2, "b", NULL);      /* 0 */
    add(m, "dense", "y", 3, 3, "in", NULL);     /* 1 */
    add(m, "dense", "a", 3, 4, "in", NULL);     /* 2 */
    add(m, "dense", "b", 3, 5, "a", NULL);      /* 3 */
    add(m, "add", "s", 0, 6, "c", "y");         /* 4 */
    int order[5];
    cr_assert_eq(model_topo_order(m, order, NULL), 0);
    int want[5] = {1, 2, 3, 0, 4};
    for (int i = 0; i < 5; i++)
        cr_expect_eq(order[i], want[i], "position %d: got %s", i, m->layers[order[i]]->name);
    model_free(m);
}

Test(graph, a_cycle_is_named_as_a_chain)
{
    model *m = new_model();
    add(m, "dense", "a", 3, 2, "in", NULL);
    add(m, "add", "b", 0, 3, "a", "d");
    add(m, "dense", "c", 3, 4, "b", NULL);
    add(m, "dense", "d", 3, 5, "c", NULL);
    add(m, "dense", "e", 3, 6, "d", NULL);
    add(m, "dense", "self", 3, 7, "self", NULL);
    diag_capture c;
    cap_open(&c);
    int order[6];
    cr_expect_eq(model_topo_order(m, order, c.d), -1);
    const char *t = capture_text(&c);
    cr_expect(strstr(t, "'b' -> 'c' -> 'd' -> 'b'") != NULL, "got: %s", t);
    cr_expect(strstr(t, "'self' -> 'self'") != NULL, "got: %s", t);
    cr_expect(strstr(t, "graph.yaml:3:3") != NULL, "cycle reported at 'b': %s", t);
    cr_expect(strstr(t, "'e'") == NULL, "'e' is downstream, not in the cycle: %s", t);
    cr_expect_eq(diag_error_count(c.d), 2);
    cr_expect_gt(model_infer_shapes(m, NULL), 0);
    capture_close(&c);
    model_free(m);
}

Test(graph, dangling_input_with_suggestion)
{
    model *m = new_model();
    add(m, "dense", "fc_1", 3, 2, "in", NULL);
    add(m, "dense", "fc_2", 3, 3, "fc1", NULL);
    add(m, "dense", "fc_3", 3, 4, "zzzzzz", NULL);
    diag_capture c;
    cap_open(&c);
    int order[3];
    cr_expect_eq(model_topo_order(m, order, c.d), -1);
    const char *t = capture_text(&c);
    cr_expect(strstr(t, "layer 'fc_2' takes input 'fc1', which is not defined; did you mean 'fc_1'?"),
              "got: %s", t);
    cr_expect(strstr(t, "layer 'fc_3' takes input 'zzzzzz', which is not defined") != NULL, "got: %s", t);
    cr_expect(strstr(t, "graph.yaml:3:3") != NULL, "got: %s", t);
    cr_expect_eq(diag_error_count(c.d), 2);
    capture_close(&c);
    model_free(m);
}

/* A blame hook that records what it is given, reports cycles and shapes at a location of its
 * own, lets the graph word dangling inputs, and calls one input no problem. */
typedef struct test_blame {
    int cycles, shapes, dangling, ignored_seen;
    int cycle[8];
    int cycle_len;
    const char *ignore;     /* an input name that is not a problem */
} test_blame;

static graph_verdict test_report(void *ctx, struct diag_ctx *d, const model *m,
                                 const graph_problem *p)
{
    test_blame *t = ctx;
    src_loc there = {.file = GRAPH_FILE, .line = 16, .col = 1, .len = 4};
    switch (p->kind) {
    case GRAPH_CYCLE:
        t->cycles++;
        t->cycle_len = p->cycle_len;
        for (int k = 0; k < p->cycle_len && k < 8; k++)
            t->cycle[k] = p->cycle[k];
        diag_error(d, there, "hook: cycle through '%s'", m->layers[p->layer]->name);
        return GRAPH_SAID;
    case GRAPH_SHAPE:
        t->shapes++;
        diag_error(d, there, "hook: '%s' gets %d shapes: %s", m->layers[p->layer]->name, p->n_in,
                   p->msg);
        return GRAPH_SAID;
    case GRAPH_DANGLING_INPUT:
        if (t->ignore && strcmp(m->layers[p->layer]->inputs[p->input], t->ignore) == 0) {
            t->ignored_seen++;
            return GRAPH_NOT_A_PROBLEM;
        }
        t->dangling++;
        return GRAPH_SAY_DEFAULT;
    default:
        return GRAPH_SAY_DEFAULT;
    }
}

Test(graph, the_blame_hook_places_and_words_each_problem)
{
    model *m = new_model();
    add(m, "dense", "a", 3, 2, "in", NULL);     /* 0 */
    add(m, "dense", "b", 3, 3, "c", NULL);      /* 1: b <- c <- b */
    add(m, "dense", "c", 3, 4, "b", NULL);      /* 2 */
    add(m, "dense", "d", 3, 5, "a", NULL);      /* 3 */
    add(m, "dense", "e", 3, 6, "gone", NULL);   /* 4: not a problem for the hook */
    add(m, "dense", "f", 3, 7, "nowhere", NULL); /* 5: worded by the graph */
    test_blame t = {.ignore = "gone"};
    graph_blame b = {.report = test_report, .ctx = &t};
    diag_capture c;
    cap_open(&c);

    cr_expect_eq(graph_check_inputs(m, &b, c.d), 1);
    cr_expect_eq(t.ignored_seen, 1);
    cr_expect_eq(t.dangling, 1);
    cr_expect(strstr(capture_text(&c), "graph.yaml:7:3: error: layer 'f' takes input 'nowhere', "
                                   "which is not defined") != NULL, "got: %s", capture_text(&c));

    int order[6];
    cr_expect_eq(graph_order(m, order, &b, c.d), 1);
    cr_expect_eq(t.cycles, 1);
    /* in data-flow order from the member the depth-first walk reached first: b feeds c */
    cr_expect_eq(t.cycle_len, 2);
    cr_expect_eq(t.cycle[0], 1);
    cr_expect_eq(t.cycle[1], 2);
    cr_expect(strstr(capture_text(&c), "graph.yaml:16:1: error: hook: cycle through 'b'") != NULL,
              "got: %s", capture_text(&c));
    cr_expect(strstr(capture_text(&c), "the layers form a cycle") == NULL, "got: %s", capture_text(&c));
    cr_expect_eq(diag_error_count(c.d), 2);
    capture_close(&c);

    /* without the cycle, shapes: the ignored input leaves 'e' out, and a shape error goes
     * through the hook */
    layer *cl = m->layers[2];
    const char *in_a[1] = {"a"};
    layer_set_inputs(cl, in_a, 1);
    layer *dl = m->layers[3];
    dl->n_in = 9;
    dl->n_in_given = true;
    cap_open(&c);
    cr_expect_eq(graph_order(m, order, &b, c.d), 0);
    cr_expect_eq(graph_infer_shapes(m, order, &b, c.d), 1, "the n_in of 'd' by default: %s",
                 capture_text(&c));
    cr_expect(strstr(capture_text(&c), "layer 'd' has n_in = 9, but its input 'a' gives 3 features") !=
                  NULL, "got: %s", capture_text(&c));
    cr_expect_eq(m->layers[1]->out_shape.size, 3, "'b' inferred after 'c'");
    cr_expect_eq(m->layers[4]->in_shape.size, 0, "'e' is left out");
    capture_close(&c);

    add(m, "add", "s", 0, 8, "a", "in");        /* 3 features against 4 */
    cap_open(&c);
    int order7[7];
    cr_expect_eq(graph_order(m, order7, &b, c.d), 0);
    t.shapes = 0;
    cr_expect_eq(graph_infer_shapes(m, order7, &b, c.d), 2);
    cr_expect_eq(t.shapes, 1);
    cr_expect(strstr(capture_text(&c), "graph.yaml:16:1: error: hook: 's' gets 2 shapes") != NULL,
              "got: %s", capture_text(&c));
    capture_close(&c);
    model_free(m);
}

Test(graph, shape_errors_are_reported_once_at_the_layer)
{
    model *m = new_model();
    cr_assert_eq(model_add_input(m, "seq", INPUT_RECURRENT, 3, loc_none()), 0);
    layer *d = add(m, "dense", "d", 3, 2, "in", NULL);
    d->n_in = 5;
    d->n_in_given = true;
    add(m, "dense", "after_d", 2, 3, "d", NULL);      /* not reported again */
    add(m, "dense", "p", 3, 4, "in", NULL);
    add(m, "add", "sum", 0, 5, "in", "p");            /* 4 vs 3 */
    add(m, "rnn_output", "ro", 2, 6, "p", NULL);      /* feed-forward input */
    add(m, "merge", "mix", 0, 7, "p", "seq");         /* kinds differ */
    add(m, "dense", "two", 3, 8, "in", "p");          /* one input only */
    layer *ok = add(m, "dense", "fine", 7, 9, "seq", NULL);
    diag_capture c;
    cap_open(&c);
    int errors = model_infer_shapes(m, c.d);
    const char *t = capture_text(&c);
    cr_expect_eq(errors, 5, "got: %s", t);
    cr_expect(strstr(t, "layer 'd' has n_in = 5, but its input 'in' gives 4 features"), "got: %s", t);
    cr_expect(strstr(t, "after_d") == NULL, "cascaded: %s", t);
    cr_expect(strstr(t, "sizes 4, 3") && strstr(t, "'in' (size 4), 'p' (size 3)"), "got: %s", t);
    cr_expect(strstr(t, "graph.yaml:5:3") != NULL, "got: %s", t);
    cr_expect(strstr(t, "rnn_output takes recurrent input"), "got: %s", t);
    cr_expect(strstr(t, "merge needs inputs of one kind"), "got: %s", t);
    cr_expect(strstr(t, "layer 'two' (dense) takes one input, got 2"), "got: %s", t);
    cr_expect_eq(ok->n_in, 3);
    cr_expect_eq(ok->out_shape.kind, SHAPE_RNN);
    cr_expect_eq(d->n_in, 5, "the given n_in is kept for the message and the next check");
    capture_close(&c);
    model_free(m);
}

Test(graph, queries_freeze_and_counts)
{
    model *m = new_model();
    add(m, "dense", "a", 3, 2, "in", NULL);
    add(m, "dense", "b", 5, 3, "a", NULL);
    add(m, "dense", "side", 2, 4, "in", NULL);
    add(m, "merge", "m", 0, 5, "b", "side");
    add(m, "output", "out", 2, 6, "m", NULL);
    cr_assert_eq(model_infer_shapes(m, NULL), 0);
    cr_expect_eq(model_param_count(m), (4 * 3 + 3) + (3 * 5 + 5) + (4 * 2 + 2) + (7 * 2 + 2));
    cr_expect_eq(model_freeze_through(m, "b"), 0);
    cr_expect(m->layers[0]->frozen && m->layers[1]->frozen);
    cr_expect(!m->layers[2]->frozen && !m->layers[4]->frozen);
    cr_expect_eq(model_frozen_param_count(m), (4 * 3 + 3) + (3 * 5 + 5));
    cr_expect_eq(model_freeze_through(m, "nope"), -1);
    int idx[4];
    cr_expect_eq(model_consumers(m, "in", idx, 4), 2);
    cr_expect(idx[0] == 0 && idx[1] == 2);
    const char *names[8];
    cr_expect_eq(model_node_names(m, names, 8), 6);
    cr_expect_str_eq(names[0], "in");
    cr_expect_str_eq(names[5], "out");
    cr_expect(model_has_node(m, "side") && model_has_node(m, "in") && !model_has_node(m, "x"));
    cr_expect_eq(model_add_input(m, "a", INPUT_FEED_FORWARD, 2, loc_none()), -1, "duplicate name");
    model_remove_layer(m, 2);
    cr_expect_eq(m->n_layers, 4);
    cr_expect_null(model_find_layer(m, "side"));
    cr_expect_eq(model_layer_index(m, "out"), 3);
    model_free(m);
    model_free(NULL);
}

/* ---- inference ---- */

static void init_params(model *m, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        if (!L->type->param_specs)
            continue;
        param_spec specs[LAYER_MAX_PARAMS];
        L->n_params = L->type->param_specs(L, specs);
        for (int k = 0; k < L->n_params; k++) {
            cr_assert_eq(tensor_alloc(&L->params[k], specs[k].ndim, specs[k].shape), 0);
            for (int64_t j = 0; j < L->params[k].size; j++)
                L->params[k].data[j] = (float)(rng_uniform(&r) - 0.5);
        }
    }
}

/* Reference dense: act(x W + b) in double, rows of x. */
static void ref_dense(const layer *L, const float *x, int64_t rows, double *y)
{
    const int64_t ni = L->n_in, no = L->n_out;
    for (int64_t r = 0; r < rows; r++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < no; j++) {
            double s = L->params[1].data[j];
            for (int64_t k = 0; k < ni; k++)
                s += (double)x[r * ni + k] * L->params[0].data[k * no + j];
            switch (L->activation) {
            case ACT_RELU: s = s > 0 ? s : 0; break;
            case ACT_TANH: s = tanh(s); break;
            case ACT_IDENTITY: case ACT_SOFTMAX: break;
            default: cr_assert_fail("unexpected activation");
            }
            y[r * no + j] = s;
            mx = s > mx ? s : mx;
        }
        if (L->activation == ACT_SOFTMAX) {
            double sum = 0;
            for (int64_t j = 0; j < no; j++)
                sum += (y[r * no + j] = exp(y[r * no + j] - mx));
            for (int64_t j = 0; j < no; j++)
                y[r * no + j] /= sum;
        }
    }
}

static void expect_tensor(const tensor *t, const double *want, int64_t n, const char *what)
{
    cr_assert_eq(t->size, n, "%s: %lld values, want %lld", what, (long long)t->size, (long long)n);
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d = fmax(d, fabs(t->data[i] - want[i]));
    cr_expect(d <= 1e-5, "%s: max abs diff %g", what, d);
}

static model *dag_model(void)
{
    model *m = model_new("dag");
    cr_assert_eq(model_add_input(m, "x", INPUT_FEED_FORWARD, 4, loc_none()), 0);
    cr_assert_eq(model_add_input(m, "s", INPUT_RECURRENT, 3, loc_none()), 0);
    add(m, "merge", "m", 0, 2, "d1", "d2");          /* defined before its inputs */
    add(m, "dense", "d1", 5, 3, "x", NULL)->activation = ACT_RELU;
    add(m, "dense", "d2", 5, 4, "x", NULL)->activation = ACT_TANH;
    add(m, "add", "a", 0, 5, "d1", "d2");
    add(m, "output", "out1", 3, 6, "m", NULL);
    add(m, "dense", "out2", 2, 7, "a", NULL)->activation = ACT_IDENTITY;
    add(m, "rnn_output", "r", 4, 8, "s", NULL);
    add(m, "dense", "unused", 2, 9, "s", NULL)->activation = ACT_IDENTITY;
    const char *outs[4] = {"out1", "out2", "r", "d1"};
    model_set_outputs(m, outs, 4);
    cr_assert_eq(model_infer_shapes(m, NULL), 0);
    init_params(m, 5);
    return m;
}

Test(graph, predict_multi_input_multi_output_dag)
{
    model *m = dag_model();
    const int64_t B = 3, T = 2;
    tensor x, s;
    cr_assert_eq(tensor_alloc2(&x, B, 4), 0);
    cr_assert_eq(tensor_alloc3(&s, T, B, 3), 0);
    rng r;
    rng_seed(&r, 11);
    for (int64_t i = 0; i < x.size; i++)
        x.data[i] = (float)(2 * rng_uniform(&r) - 1);
    for (int64_t i = 0; i < s.size; i++)
        s.data[i] = (float)(2 * rng_uniform(&r) - 1);
    const tensor *ins[2] = {&x, &s};
    tensor outs[4] = {{0}};
    char err[256] = "";
    cr_assert_eq(model_predict(m, ins, outs, err, sizeof err), 0, "%s", err);

    double d1[15], d2[15], mg[30], ad[15], o1[9], o2[6], ro[24];
    float mgf[30], adf[15];
    ref_dense(model_find_layer(m, "d1"), x.data, B, d1);
    ref_dense(model_find_layer(m, "d2"), x.data, B, d2);
    for (int i = 0; i < 15; i++) {
        ad[i] = d1[i] + d2[i];
        adf[i] = (float)ad[i];
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < 10; j++) {
            mg[b * 10 + j] = j < 5 ? d1[b * 5 + j] : d2[b * 5 + j - 5];
            mgf[b * 10 + j] = (float)mg[b * 10 + j];
        }
    ref_dense(model_find_layer(m, "out1"), mgf, B, o1);
    ref_dense(model_find_layer(m, "out2"), adf, B, o2);
    ref_dense(model_find_layer(m, "r"), s.data, T * B, ro);
    expect_tensor(&outs[0], o1, 9, "out1");
    expect_tensor(&outs[1], o2, 6, "out2");
    expect_tensor(&outs[2], ro, 24, "r");
    expect_tensor(&outs[3], d1, 15, "d1");
    cr_expect(outs[0].ndim == 2 && outs[0].shape[0] == B && outs[0].shape[1] == 3);
    cr_expect(outs[2].ndim == 3 && outs[2].shape[0] == T && outs[2].shape[1] == B &&
              outs[2].shape[2] == 4);

    /* outputs are released and refilled on a second call; a repeated output is copied */
    const char *twice[2] = {"out2", "out2"};
    model_set_outputs(m, twice, 2);
    cr_assert_eq(model_predict(m, ins, outs, err, sizeof err), 0, "%s", err);
    expect_tensor(&outs[0], o2, 6, "out2 (first)");
    expect_tensor(&outs[1], o2, 6, "out2 (second)");
    cr_expect_neq(outs[0].data, outs[1].data);
    for (int j = 0; j < 4; j++)
        tensor_release(&outs[j]);
    tensor_release(&x);
    tensor_release(&s);
    model_free(m);
}

Test(graph, predict_reports_bad_inputs_and_missing_weights)
{
    model *m = dag_model();
    tensor x, s, bad;
    cr_assert_eq(tensor_alloc2(&x, 3, 4), 0);
    cr_assert_eq(tensor_alloc3(&s, 2, 3, 3), 0);
    cr_assert_eq(tensor_alloc2(&bad, 3, 5), 0);
    tensor outs[4] = {{0}};
    char err[256] = "";
    const tensor *wrong[2] = {&bad, &s};
    cr_expect_eq(model_predict(m, wrong, outs, err, sizeof err), -1);
    cr_expect(strstr(err, "input 'x': expected [batch, 4], got [3, 5]"), "got: %s", err);
    tensor s2;
    cr_assert_eq(tensor_alloc3(&s2, 2, 2, 3), 0);
    const tensor *batch[2] = {&x, &s2};
    cr_expect_eq(model_predict(m, batch, outs, err, sizeof err), -1);
    cr_expect(strstr(err, "batch size 2"), "got: %s", err);
    tensor_release(&model_find_layer(m, "d2")->params[0]);
    const tensor *good[2] = {&x, &s};
    cr_expect_eq(model_predict(m, good, outs, err, sizeof err), -1);
    cr_expect(strstr(err, "layer 'd2' has no weights"), "got: %s", err);
    for (int j = 0; j < 4; j++)
        cr_expect_null(outs[j].data, "no output left behind on failure");
    tensor_release(&x);
    tensor_release(&s);
    tensor_release(&s2);
    tensor_release(&bad);
    model_free(m);
}

Test(graph, predict_reports_embedding_index_errors)
{
    model *m = model_new("emb");
    cr_assert_eq(model_add_input(m, "ids", INPUT_FEED_FORWARD, 1, loc_none()), 0);
    layer *e = add(m, "embedding", "e", 3, 2, "ids", NULL);
    e->n_in = 4;
    const char *outs_names[1] = {"e"};
    model_set_outputs(m, outs_names, 1);
    cr_assert_eq(model_infer_shapes(m, NULL), 0);
    init_params(m, 3);
    float ids[2] = {1, 4};
    tensor x = {.data = ids, .ndim = 2, .shape = {2, 1}, .size = 2, .borrowed = true};
    const tensor *ins[1] = {&x};
    tensor out = {0};
    char err[256] = "";
    cr_expect_eq(model_predict(m, ins, &out, err, sizeof err), -1);
    cr_expect(strstr(err, "embedding 'e': index 4") && strstr(err, "[0, 4)"), "got: %s", err);
    ids[1] = 3;
    cr_expect_eq(model_predict(m, ins, &out, err, sizeof err), 0, "%s", err);
    cr_expect_float_eq(out.data[3], e->params[0].data[9] + e->params[1].data[0], 1e-6);
    tensor_release(&out);
    model_free(m);
}

Test(graph, clone_with_and_without_weights)
{
    model *m = dag_model();
    m->weights_file = strdup("dag.safetensors");
    model *c = model_clone(m, true);
    model *a = model_clone(m, false);
    cr_assert(c && a);
    cr_expect_eq(c->n_layers, m->n_layers);
    cr_expect_str_eq(c->outputs[2], "r");
    layer *L = model_find_layer(c, "d1");
    cr_expect_neq(L->params[0].data, model_find_layer(m, "d1")->params[0].data);
    cr_expect_float_eq(L->params[0].data[3], model_find_layer(m, "d1")->params[0].data[3], 0);
    cr_expect_str_eq(c->weights_file, "dag.safetensors");
    cr_expect_null(model_find_layer(a, "d1")->params[0].data);
    cr_expect_null(a->weights_file);
    cr_expect_eq(model_infer_shapes(a, NULL), 0);
    cr_expect_eq(model_param_count(a), model_param_count(m));
    model_free(m);
    model_free(c);
    model_free(a);
}

Test(graph, predict_refuses_unequal_time_steps)
{
    model *m = model_new("t");
    cr_assert_eq(model_add_input(m, "s1", INPUT_RECURRENT, 2, loc_none()), 0);
    cr_assert_eq(model_add_input(m, "s2", INPUT_RECURRENT, 3, loc_none()), 0);
    add(m, "merge", "m", 0, 2, "s1", "s2");
    const char *outs_names[1] = {"m"};
    model_set_outputs(m, outs_names, 1);
    cr_assert_eq(model_infer_shapes(m, NULL), 0);
    tensor a, b, out = {0};
    cr_assert_eq(tensor_alloc3(&a, 2, 1, 2), 0);
    cr_assert_eq(tensor_alloc3(&b, 3, 1, 3), 0);
    const tensor *ins[2] = {&a, &b};
    char err[256] = "";
    cr_expect_eq(model_predict(m, ins, &out, err, sizeof err), -1);
    cr_expect(strstr(err, "layer 'm': its inputs have 2 and 3 time steps"), "got: %s", err);
    tensor_release(&b);
    cr_assert_eq(tensor_alloc3(&b, 2, 1, 3), 0);
    cr_expect_eq(model_predict(m, ins, &out, err, sizeof err), 0, "%s", err);
    cr_expect(out.ndim == 3 && out.shape[0] == 2 && out.shape[2] == 5);
    tensor_release(&out);
    tensor_release(&a);
    tensor_release(&b);
    model_free(m);
}

/* ---- the name index ------------------------------------------------------------------------ */

/* What every lookup must answer, by linear search over the live model. */
static int ix_ref_layer(const model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        if (!strcmp(m->layers[i]->name, name))
            return i;
    return -1;
}

static int ix_ref_input(const model *m, const char *name)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (!strcmp(m->inputs[i].name, name))
            return i;
    return -1;
}

static int ix_ref_consumers(const model *m, const char *name, int *idx, int max)
{
    int n = 0;
    for (int i = 0; i < m->n_layers && n < max; i++)
        for (int k = 0; k < m->layers[i]->n_inputs; k++)
            if (!strcmp(m->layers[i]->inputs[k], name)) {
                idx[n++] = i;
                break;
            }
    return n;
}

/* Every lookup of `name` agrees with the linear reference. */
static void ix_expect(const model *m, const char *name)
{
    int li = ix_ref_layer(m, name), ii = ix_ref_input(m, name);
    cr_expect_eq(model_layer_index(m, name), li, "layer index of '%s'", name);
    cr_expect_eq(model_input_index(m, name), ii, "input index of '%s'", name);
    cr_expect_eq(model_has_node(m, name), li >= 0 || ii >= 0, "has_node '%s'", name);
    cr_expect_eq(model_find_layer(m, name), li >= 0 ? m->layers[li] : NULL, "find '%s'", name);
    int got[64], want[64];
    int ng = model_consumers(m, name, got, 64), nw = ix_ref_consumers(m, name, want, 64);
    cr_expect_eq(ng, nw, "consumer count of '%s': %d, want %d", name, ng, nw);
    for (int k = 0; k < ng && k < nw; k++)
        cr_expect_eq(got[k], want[k], "consumer %d of '%s'", k, name);
}

static void ix_expect_all(const model *m, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        ix_expect(m, names[i]);
}

Test(graph_index, lookups_follow_adds_moves_removes_and_announced_renames)
{
    model *m = new_model();
    add(m, "dense", "a", 4, 1, "in", NULL);
    add(m, "dense", "b", 4, 2, "a", NULL);
    add(m, "merge", "c", 0, 3, "a", "b");
    add(m, "dense", "d", 4, 4, "c", "c");   /* the same input twice: one consumer entry */
    const char *names[] = {"in", "in2", "a", "b", "c", "d", "e", "x", "nowhere"};
    const int n = (int)(sizeof names / sizeof names[0]);
    ix_expect_all(m, names, n);
    /* incremental additions */
    cr_assert_eq(model_add_input(m, "in2", INPUT_FEED_FORWARD, 3, loc_none()), 0);
    cr_assert_neq(model_add_input(m, "a", INPUT_FEED_FORWARD, 3, loc_none()), 0);
    add(m, "dense", "e", 2, 5, "in2", NULL);
    ix_expect_all(m, names, n);
    /* a move keeps every answer right */
    model_move_layer(m, 4, 0);
    ix_expect_all(m, names, n);
    model_move_layer(m, 0, 3);
    ix_expect_all(m, names, n);
    /* removal shifts the indices */
    model_remove_layer(m, 1);
    ix_expect_all(m, names, n);
    /* a rename in place, announced */
    layer *L = model_find_layer(m, "c");
    free(L->name);
    L->name = strdup("x");
    model_index_invalidate(m);
    ix_expect_all(m, names, n);
    /* renames through the model: a layer, an input, and a layer taking a duplicate's name */
    cr_assert_eq(model_rename_layer(m, model_layer_index(m, "x"), "c"), 0);
    ix_expect_all(m, names, n);
    cr_assert_eq(model_rename_input(m, model_input_index(m, "in2"), "x"), 0);
    ix_expect_all(m, names, n);
    cr_assert_eq(model_rename_input(m, model_input_index(m, "x"), "in2"), 0);
    int e = model_layer_index(m, "e");
    cr_assert_gt(e, model_layer_index(m, "a"));
    cr_assert_eq(model_rename_layer(m, e, "a"), 0);      /* a second "a" */
    ix_expect_all(m, names, n);
    cr_assert_eq(model_rename_layer(m, 0, "e"), 0);      /* the first "a" goes: "a" is e's */
    ix_expect_all(m, names, n);
    cr_assert_eq(model_layer_index(m, "a"), e);
    cr_assert_eq(model_rename_layer(m, 0, "a"), 0);      /* and comes back first */
    cr_assert_eq(model_rename_layer(m, e, "e"), 0);
    ix_expect_all(m, names, n);
    /* edges changed in place, announced */
    L = model_find_layer(m, "d");
    const char *ins[1] = {"in2"};
    layer_set_inputs(L, ins, 1);
    model_index_edges_changed(m);
    ix_expect_all(m, names, n);
    /* a clone has its own index */
    model *c = model_clone(m, false);
    ix_expect_all(c, names, n);
    model_free(c);
    model_free(m);
}

Test(graph_index, unannounced_reorders_and_array_changes_are_caught)
{
    model *m = new_model();
    add(m, "dense", "a", 4, 1, "in", NULL);
    add(m, "dense", "b", 4, 2, "a", NULL);
    add(m, "dense", "c", 4, 3, "b", NULL);
    const char *names[] = {"in", "in9", "a", "b", "c"};
    const int n = (int)(sizeof names / sizeof names[0]);
    ix_expect_all(m, names, n);
    /* layers swapped behind the index's back: hits are checked against the live names */
    layer *t = m->layers[0];
    m->layers[0] = m->layers[2];
    m->layers[2] = t;
    ix_expect_all(m, names, n);
    /* the inputs array replaced behind its back */
    model_input *nv = calloc(1, sizeof *nv);
    cr_assert_not_null(nv);
    nv[0] = m->inputs[0];
    free(nv[0].name);
    nv[0].name = strdup("in9");
    free(m->inputs);
    m->inputs = nv;
    ix_expect_all(m, names, n);
    model_free(m);
}

Test(graph_index, duplicate_names_resolve_to_the_first_as_before)
{
    model *m = new_model();
    add(m, "dense", "a", 4, 1, "in", NULL);
    add(m, "dense", "a", 5, 2, "in", NULL);
    add(m, "dense", "in", 5, 3, "a", NULL);   /* a layer named like the input */
    cr_assert_eq(model_layer_index(m, "a"), 0);
    cr_assert_eq(model_layer_index(m, "in"), 2);
    cr_assert_eq(model_input_index(m, "in"), 0);
    model_move_layer(m, 0, 1);                          /* the first "a" is now second */
    cr_assert_eq(model_layer_index(m, "a"), 0);
    cr_assert_eq(m->layers[0]->n_out, 5);
    model_free(m);
}

/* Random edits against the linear reference: adds, removes, moves, renames (through the model
 * or in place) and new edges (each announced as model.h asks), with every lookup checked after
 * each step; the names repeat, so duplicates come and go. */
Test(graph_index, random_edits_agree_with_linear_search)
{
    rng r;
    rng_seed(&r, 2024);
    model *m = new_model();
    char pool[40][16];
    const char *names[41];
    for (int i = 0; i < 40; i++) {
        snprintf(pool[i], sizeof pool[i], "n%d", i);
        names[i] = pool[i];
    }
    names[40] = "in";
    int next = 0;
    for (int step = 0; step < 1000; step++) {
        int op = (int)rng_below(&r, 5);
        if (op == 0 || m->n_layers < 2) {
            char name[16];
            snprintf(name, sizeof name, "n%d", next++ % 40);
            const char *in = m->n_layers ? m->layers[rng_below(&r, (uint64_t)m->n_layers)]->name
                                         : "in";
            add(m, "dense", name, 3, 1, in, NULL);
        } else if (op == 1) {
            model_remove_layer(m, (int)rng_below(&r, (uint64_t)m->n_layers));
        } else if (op == 2) {
            model_move_layer(m, (int)rng_below(&r, (uint64_t)m->n_layers),
                             (int)rng_below(&r, (uint64_t)m->n_layers));
        } else if (op == 3) {
            int i = (int)rng_below(&r, (uint64_t)m->n_layers);
            const char *to = names[rng_below(&r, 40)];
            if (rng_below(&r, 2)) {
                cr_assert_eq(model_rename_layer(m, i, to), 0);
            } else {
                free(m->layers[i]->name);
                m->layers[i]->name = strdup(to);
                model_index_invalidate(m);
            }
        } else {
            layer *L = m->layers[rng_below(&r, (uint64_t)m->n_layers)];
            const char *ins[2] = {names[rng_below(&r, 41)], names[rng_below(&r, 41)]};
            layer_set_inputs(L, ins, 2);
            model_index_edges_changed(m);
        }
        ix_expect_all(m, names, 41);
    }
    model_free(m);
}
