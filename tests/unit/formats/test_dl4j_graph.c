/* test_dl4j_graph.c: DL4J ComputationGraph files: vertices (layers, merge, element-wise add and
 * average) in DL4J's topological order, every parameter at its place, names from the vertices,
 * and the vertices surgery refuses listed by name. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "tests/unit/formats/dl4j_build.h"
#include "tests/unit/test_support.h"

#define DENSE(nin, nout)                                                                  \
    "{\"@class\": \"org.deeplearning4j.nn.conf.graph.LayerVertex\", \"preProcessor\": null," \
    " \"layerConf\": {\"variables\": [\"W\", \"b\"], \"layer\": {\"@class\":"              \
    " \"org.deeplearning4j.nn.conf.layers.DenseLayer\", \"nin\": " #nin ", \"nout\": " #nout "}}}"
#define FROZEN_DENSE(nin, nout)                                                           \
    "{\"@class\": \"org.deeplearning4j.nn.conf.graph.LayerVertex\", \"layerConf\": {"       \
    " \"variables\": [\"W\", \"b\"], \"layer\": {\"@class\":"                              \
    " \"org.deeplearning4j.nn.conf.layers.misc.FrozenLayer\", \"layer\": {\"@class\":"        \
    " \"org.deeplearning4j.nn.conf.layers.DenseLayer\", \"nin\": " #nin ", \"nout\": " #nout  \
    ", \"iupdater\": {\"@class\": \"org.nd4j.linalg.learning.config.Adam\","                 \
    " \"learningRate\": 0.01}}}}}"
#define OUTPUT(nin, nout)                                                                 \
    "{\"@class\": \"org.deeplearning4j.nn.conf.graph.LayerVertex\", \"layerConf\": {"       \
    " \"variables\": [\"W\", \"b\"], \"layer\": {\"@class\":"                              \
    " \"org.deeplearning4j.nn.conf.layers.OutputLayer\", \"nin\": " #nin ", \"nout\": " #nout "}}}"

/* Stored out of order: DL4J's topological order is d1, d2, s, m, o2, o1 (a FIFO from the
 * inputs, each vertex's consumers in stored order). */
static const char graph_json[] =
    "{\"networkInputs\": [\"a\", \"b\"], \"networkOutputs\": [\"o1\", \"o2\"],"
    " \"defaultConfiguration\": {\"seed\": 7}, \"backpropType\": \"TruncatedBPTT\","
    " \"tbpttFwdLength\": 12, \"tbpttBackLength\": 6,"
    " \"vertexInputs\": {\"o1\": [\"m\"], \"s\": [\"d1\", \"d2\"], \"d2\": [\"b\"],"
    " \"m\": [\"d1\", \"d2\"], \"d1\": [\"a\"], \"o2\": [\"s\"]},"
    " \"vertices\": {\"o1\": " OUTPUT(8, 2) ","
    " \"s\": {\"@class\": \"org.deeplearning4j.nn.conf.graph.ElementWiseVertex\", \"op\": \"Add\"},"
    " \"d2\": " DENSE(3, 4) ","
    " \"m\": {\"MergeVertex\": {}},"
    " \"d1\": " FROZEN_DENSE(3, 4) ","
    " \"o2\": " OUTPUT(4, 3) "}}";

static void write_model(const char *path, const char *json, int64_t n)
{
    unsigned char *coef = malloc((size_t)(256 + 4 * n));
    size_t len = linspace_row(coef, true, "FLOAT", n, n);
    entry e[2] = {{"configuration.json", json, strlen(json)}, {"coefficients.bin", coef, len}};
    write_zip(path, e, 2);
    free(coef);
}

/* W [rows, cols] in 'f' order then b, from flat offset off of the values 1..N. */
static void check_dense(const layer *L, int64_t off)
{
    const tensor *W = &L->params[0], *b = &L->params[1];
    int64_t rows = W->shape[0], cols = W->shape[1];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            cr_assert_float_eq(W->data[r * cols + c], (float)(1 + off + r + c * rows), 0,
                               "%s.W[%ld][%ld]", L->name, (long)r, (long)c);
    for (int64_t j = 0; j < cols; j++)
        cr_assert_float_eq(b->data[j], (float)(1 + off + rows * cols + j), 0, "%s.b[%ld]",
                           L->name, (long)j);
}

Test(dl4j_graph, vertices_in_topological_order_every_parameter_at_its_place)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4j-graph");
    snprintf(path, sizeof path, "%s/graph.zip", dir);
    write_model(path, graph_json, 65);
    model *m = test_load_model(path);
    static const char *const names[] = {"d1", "d2", "s", "m", "o2", "o1"};
    static const char *const types[] = {"dense", "dense", "add", "merge", "output", "output"};
    cr_assert_eq(m->n_layers, 6);
    for (int i = 0; i < 6; i++) {
        cr_assert_str_eq(m->layers[i]->name, names[i]);
        cr_assert_str_eq(m->layers[i]->type->name, types[i], "%s", names[i]);
    }
    cr_assert_eq(m->n_inputs, 2);
    cr_assert_str_eq(m->inputs[0].name, "a");
    cr_assert_eq(m->inputs[1].size, 3);
    cr_assert_eq(m->n_outputs, 2);
    cr_assert_str_eq(m->outputs[0], "o1");
    cr_assert_str_eq(m->layers[3]->inputs[1], "d2");
    cr_assert_eq(m->layers[5]->n_in, 8);
    cr_assert_eq(m->seed, 7u);
    cr_assert_eq(m->training.tbptt_forward, 12);
    cr_assert_eq(m->training.tbptt_backward, 6);
    cr_assert(m->layers[0]->frozen, "FrozenLayer: d1 in the frozen set");
    cr_assert(!m->layers[1]->frozen);
    cr_assert_eq(m->layers[0]->train.updater.kind, UPD_ADAM);
    cr_assert_float_eq(m->layers[0]->train.updater.learning_rate, 0.01, 1e-12);
    check_dense(m->layers[0], 0);
    check_dense(m->layers[1], 16);
    check_dense(m->layers[4], 32);
    check_dense(m->layers[5], 47);
    model_free(m);
    test_remove_dir(dir);
}

Test(dl4j_graph, refused_vertices_are_listed_by_name)
{
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4j-graph");
    snprintf(path, sizeof path, "%s/bad.zip", dir);
    static const char json[] =
        "{\"networkInputs\": [\"a\"], \"networkOutputs\": [\"p\"],"
        " \"vertexInputs\": {\"d\": [\"a\"], \"p\": [\"d\", \"d\"], \"q\": [\"d\"], \"r\": [\"zz\"]},"
        " \"vertices\": {\"d\": " DENSE(3, 4) ","
        " \"p\": {\"ElementWiseVertex\": {\"op\": \"Product\"}},"
        " \"q\": {\"@class\": \"org.deeplearning4j.nn.conf.graph.L2NormalizeVertex\"},"
        " \"r\": {\"MergeVertex\": {}}}}";
    write_model(path, json, 16);
    char *t = test_load_error(path);
    cr_assert(strstr(t, "bad.zip"), "%s", t);
    cr_assert(strstr(t, "vertex 'r' (vertex): input 'zz' is neither a vertex nor a network input"),
              "%s", t);
    free(t);
    /* Without the dangling input: every other refused vertex in one error. */
    static const char json2[] =
        "{\"networkInputs\": [\"a\"], \"networkOutputs\": [\"p\"],"
        " \"vertexInputs\": {\"d\": [\"a\"], \"p\": [\"d\", \"d\"], \"q\": [\"d\"]},"
        " \"vertices\": {\"d\": " DENSE(3, 4) ","
        " \"p\": {\"ElementWiseVertex\": {\"op\": \"Product\"}},"
        " \"q\": {\"@class\": \"org.deeplearning4j.nn.conf.graph.L2NormalizeVertex\"}}}";
    write_model(path, json2, 16);
    t = test_load_error(path);
    cr_assert(strstr(t, "2 things surgery does not read yet: vertex 'p' (ElementWiseVertex): op "
                        "Product (surgery's element-wise vertices are add and average); vertex "
                        "'q' (L2NormalizeVertex): vertex type not supported"), "%s", t);
    free(t);
    test_remove_dir(dir);
}

/* DL4J's own 0.8 graph: GravesLSTM "0" -> GravesBidirectionalLSTM "1" -> RnnOutputLayer "2",
 * every parameter at its place, the layers' settings. */
Test(dl4j_graph, cg_lstm1_every_parameter_at_its_place)
{
    model *m = test_load_model("tests/data/dl4j/080_ModelSerializer_Regression_CG_LSTM_1.zip");
    cr_assert_eq(m->n_inputs, 1);
    cr_assert_str_eq(m->inputs[0].name, "in");
    cr_assert_eq(m->inputs[0].kind, INPUT_RECURRENT);
    cr_assert_eq(m->inputs[0].size, 3);
    static const char *const names[] = {"0", "1", "2"};
    static const char *const types[] = {"graves_lstm", "bidirectional", "rnn_output"};
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(m->layers[i]->name, names[i]);
        cr_assert_str_eq(m->layers[i]->type->name, types[i]);
    }
    cr_assert_str_eq(m->outputs[0], "2");
    const layer *L = m->layers[0];
    cr_assert_eq(L->train.updater.kind, UPD_RMSPROP);
    cr_assert_float_eq(L->train.updater.learning_rate, 0.15, 1e-12);
    cr_assert_float_eq(L->train.l1, 0.1, 1e-12);
    cr_assert_float_eq(L->train.l2, 0.2, 1e-12);
    cr_assert_float_eq(L->train.dropout, 0.4, 1e-12, "DL4J keeps 60%%");
    cr_assert_eq(L->train.grad_norm, GN_CLIP_ELEMENT_WISE);
    cr_assert_float_eq(L->train.grad_norm_threshold, 1.5, 1e-12);
    cr_assert_eq(m->layers[1]->activation, ACT_SOFTSIGN);
    cr_assert_eq(m->seed, 12345u);
    cr_assert_eq(check_linspace_f(m), 477);
    model_free(m);
}

/* The 1.0 Bidirectional wrapper (CONCAT around an LSTM): its "fW", "fRW", "fb", "bW", "bRW",
 * "bb" are the forward and backward directions of surgery's bidirectional. */
Test(dl4j_graph, bidirectional_wrapper_concat)
{
    static const char json[] =
        "{\"confs\": [{\"layer\": {\"@class\": \"org.deeplearning4j.nn.conf.layers.recurrent."
        "Bidirectional\", \"mode\": \"CONCAT\", \"layerName\": \"bi\","
        " \"fwd\": {\"@class\": \"org.deeplearning4j.nn.conf.layers.LSTM\", \"nin\": 3,"
        " \"nout\": 2, \"activationFn\": {\"@class\": \"org.nd4j.linalg.activations.impl."
        "ActivationSoftSign\"}},"
        " \"bwd\": {\"@class\": \"org.deeplearning4j.nn.conf.layers.LSTM\", \"nin\": 3,"
        " \"nout\": 2}},"
        " \"variables\": [\"fW\", \"fRW\", \"fb\", \"bW\", \"bRW\", \"bb\"]},"
        "{\"layer\": {\"@class\": \"org.deeplearning4j.nn.conf.layers.RnnOutputLayer\","
        " \"nin\": 4, \"nout\": 2}, \"variables\": [\"W\", \"b\"]}]}";
    char dir[256], path[512];
    test_make_dir(dir, sizeof dir, "dl4j-graph");
    snprintf(path, sizeof path, "%s/bi.zip", dir);
    write_model(path, json, 106);
    model *m = test_load_model(path);
    const layer *bi = m->layers[0];
    cr_assert_str_eq(bi->name, "bi");
    cr_assert_str_eq(bi->type->name, "bidirectional");
    cr_assert_eq(bi->activation, ACT_SOFTSIGN);
    cr_assert_eq(m->inputs[0].kind, INPUT_RECURRENT);
    cr_assert_eq(m->layers[1]->n_in, 4, "concat: 2 x 2 features");
    cr_assert_eq(check_linspace_f(m), 106);
    model_free(m);
    /* A mode or wrapped layer surgery lacks. */
    static const char bad[] =
        "{\"confs\": [{\"layer\": {\"@class\": \"a.Bidirectional\", \"mode\": \"MAX\","
        " \"fwd\": {\"@class\": \"a.LSTM\", \"nin\": 3, \"nout\": 2}}},"
        "{\"layer\": {\"@class\": \"a.Bidirectional\", \"mode\": \"ADD\","
        " \"fwd\": {\"@class\": \"a.SimpleRnn\", \"nin\": 3, \"nout\": 2}}}]}";
    write_model(path, bad, 106);
    char *t = test_load_error(path);
    cr_assert(strstr(t, "2 things surgery does not read yet: layer 0 'layer0' (Bidirectional): "
                        "mode MAX; layer 1 'layer1' (Bidirectional): around SimpleRnn (surgery's "
                        "bidirectional takes LSTM and GravesLSTM)"), "%s", t);
    free(t);
    test_remove_dir(dir);
}
