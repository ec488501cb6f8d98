/* test_model_io.c: model YAML loading (the format's example, every error with its line:col),
 * save/load round trips, weights pairing (architecture hash, names, shapes), deterministic
 * initialisation and DL4J's initialisation statistics; the format registry and the model
 * builder formats read into (shapes inferred, given parameters checked, missing ones
 * initialised). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/nn/init.h"
#include "runtime/formats/format.h"
#include "runtime/formats/native.h"
#include "runtime/formats/onnx/onnx.h"
#include "runtime/graph/arch_hash.h"
#include "runtime/graph/builder.h"
#include "runtime/formats/safetensors.h"
#include "tests/unit/test_support.h"

#define MODELS "tests/data/models/"

static int mio_count_files(const char *dir)
{
    int n = 0;
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        n += e->d_name[0] != '.';
    if (dp)
        closedir(dp);
    return n;
}

/* ---- the format's example ---- */

Test(model_io, loads_the_format_example)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "char_lstm.yaml", false, c.d);
    cr_assert(m, "%s", capture_text(&c));
    cr_assert_str_eq(m->name, "char_lstm");
    cr_assert_eq(m->n_inputs, 1);
    cr_assert_str_eq(m->inputs[0].name, "in");
    cr_assert_eq(m->inputs[0].kind, INPUT_RECURRENT);
    cr_assert_eq(m->inputs[0].size, 77);
    cr_assert_eq(m->n_layers, 2);
    layer *l = m->layers[0], *o = m->layers[1];
    cr_assert_str_eq(l->type->name, "graves_lstm");
    cr_assert_eq(l->n_in, 77, "n_in inferred from the input");
    cr_assert_eq(l->n_out, 200);
    cr_assert_eq(l->activation, ACT_TANH);
    cr_assert(l->frozen);
    cr_assert_eq(l->loc.line, 8);
    cr_assert_eq(l->loc.col, 11);
    cr_assert_str_eq(o->type->name, "rnn_output");
    cr_assert_eq(o->n_in, 200);
    cr_assert_eq(o->loss, LOSS_MCXENT);
    cr_assert_eq(o->activation, ACT_SOFTMAX);
    cr_assert_not(o->frozen);
    cr_assert_eq(m->n_outputs, 1);
    cr_assert_str_eq(m->outputs[0], "out");
    cr_assert_eq(m->seed, 42);
    cr_assert_eq(m->weight_init.kind, INIT_XAVIER);
    cr_assert_str_eq(m->weights_file, "char_lstm.safetensors");
    cr_assert_not(m->weights_loaded);
    cr_assert_eq(l->n_params, 3);
    param_spec specs[LAYER_MAX_PARAMS];
    cr_assert_eq(l->type->param_specs(l, specs), 3);
    cr_assert_eq(specs[1].shape[0], 200);
    cr_assert_eq(specs[1].shape[1], 803, "graves_lstm RW is [n, 4n + 3]");
    cr_assert_eq(model_param_count(m), 77 * 800 + 200 * 803 + 800 + 200 * 77 + 77);
    cr_assert_eq(diag_error_count(c.d), 0);
    model_free(m);
    capture_close(&c);
}

Test(model_io, missing_weights_file_is_reported_at_the_weights_key)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "char_lstm.yaml", true, c.d);
    cr_assert_null(m);
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "char_lstm.yaml:22:10: error: cannot load weights:"), "%s", t);
    cr_assert(strstr(t, "char_lstm.safetensors: cannot open"), "%s", t);
    capture_close(&c);
}

/* ---- saving and loading ---- */

static void same_params(const model *a, const model *b)
{
    cr_assert_eq(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        const layer *x = a->layers[i], *y = b->layers[i];
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->n_params, y->n_params);
        for (int p = 0; p < x->n_params; p++) {
            cr_assert(tensor_same_shape(&x->params[p], &y->params[p]));
            cr_assert_eq(tensor_max_abs_diff(&x->params[p], &y->params[p]), 0.0, "%s param %d",
                         x->name, p);
        }
    }
}

Test(model_io, save_load_round_trip_is_identical)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "graph.yaml", true, c.d);
    cr_assert(m, "%s", capture_text(&c));
    cr_assert(m->weights_loaded, "no weights: initialised");
    char dir[64], p1[512], p2[512], w1[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p1, sizeof p1, "%s/saved.yaml", dir);
    snprintf(w1, sizeof w1, "%s/saved.safetensors", dir);
    cr_assert_eq(model_save(m, p1, c.d), 0, "%s", capture_text(&c));
    cr_assert_eq(mio_count_files(dir), 2, "exactly NAME.yaml and NAME.safetensors");
    struct stat sb;
    cr_assert_eq(stat(w1, &sb), 0);

    model *back = model_load(p1, true, c.d);
    cr_assert(back, "%s", capture_text(&c));
    cr_assert_not_null(back->mapping, "weights are mapped, not copied");
    cr_assert(back->layers[0]->params[0].borrowed);
    same_params(m, back);
    cr_assert_str_eq(back->name, "two_branch");
    cr_assert_str_eq(back->weights_file, "saved.safetensors");
    cr_assert(back->layers[0]->frozen);
    cr_assert_not(back->layers[1]->frozen);
    cr_assert_eq(back->seed, 7);
    cr_assert_eq(back->weight_init.kind, INIT_XAVIER_UNIFORM);
    cr_assert(back->layers[1]->train.set_mask & TC_L2);
    cr_assert_float_eq(back->layers[1]->train.l2, 1e-4, 1e-12);
    cr_assert_eq(model_arch_hash(back), model_arch_hash(m));

    /* Saving the reloaded model gives the same bytes. */
    snprintf(p2, sizeof p2, "%s/saved.yaml", dir);
    char *yaml1 = test_read_file(p1, NULL);
    size_t n1, n2;
    char *st1 = test_read_file(w1, &n1);
    char dir2[64];
    test_make_dir(dir2, sizeof dir2, "mio");
    snprintf(p2, sizeof p2, "%s/saved.yaml", dir2);
    cr_assert_eq(model_save(back, p2, c.d), 0, "%s", capture_text(&c));
    char *yaml2 = test_read_file(p2, NULL);
    snprintf(w1, sizeof w1, "%s/saved.safetensors", dir2);
    char *st2 = test_read_file(w1, &n2);
    cr_assert_str_eq(yaml1, yaml2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(st1, st2, n1), 0);
    free(yaml1);
    free(yaml2);
    free(st1);
    free(st2);
    model_free(back);
    model_free(m);
    test_remove_dir(dir);
    test_remove_dir(dir2);
    cr_assert_eq(diag_error_count(c.d), 0);
    capture_close(&c);
}

Test(model_io, saved_yaml_follows_the_format_style)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "char_lstm.yaml", false, c.d);
    cr_assert(m);
    /* Small weights are enough to write it: shrink nothing, initialise everything. */
    cr_assert_eq(model_init_params(m), 0);
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/char_lstm.yaml", dir);
    cr_assert_eq(model_save(m, p, c.d), 0, "%s", capture_text(&c));
    char *y = test_read_file(p, NULL);
    const char *want =
        "format: surgery-model/1\n"
        "name: char_lstm\n"
        "inputs:\n"
        "  - name: in\n"
        "    type: recurrent\n"
        "    size: 77\n"
        "layers:\n"
        "  - name: lstm1\n"
        "    type: graves_lstm\n"
        "    inputs: [in]\n"
        "    n_in: 77\n"
        "    n_out: 200\n"
        "    activation: tanh\n"
        "  - name: out\n"
        "    type: rnn_output\n"
        "    inputs: [lstm1]\n"
        "    n_in: 200\n"
        "    n_out: 77\n"
        "    activation: softmax\n"
        "    loss: mcxent\n"
        "outputs: [out]\n"
        "frozen: [lstm1]\n"
        "init: {seed: 42, weight_init: xavier}\n"
        "weights: char_lstm.safetensors\n";
    cr_assert_str_eq(y, want);
    free(y);
    /* Per-layer settings, a model-level training block and a normaliser are written too. */
    layer *L = m->layers[0];
    L->train.set_mask |= TC_LEARNING_RATE | TC_WEIGHT_INIT;
    L->train.learning_rate = 0.003;
    L->train.weight_init = (init_spec){INIT_UNIFORM, -0.1, 0.1};
    L->forget_gate_bias = 2.0;
    m->training.set_mask |= TC_L2;
    m->training.l2 = 1e-4;
    m->weight_init = (init_spec){INIT_NORMAL, 0, 0.01};
    m->norm.kind = NORM_MINMAX;
    m->norm.n = 77;
    m->norm.shift = calloc(77, sizeof(float));
    m->norm.scale = calloc(77, sizeof(float));
    for (int i = 0; i < 77; i++)
        m->norm.scale[i] = 0.5f;
    m->norm.shift[3] = 0.1f;
    cr_assert_eq(model_save(m, p, c.d), 0, "%s", capture_text(&c));
    y = test_read_file(p, NULL);
    cr_assert(strstr(y, "    forget_gate_bias: 2\n    learning_rate: 0.003\n    weight_init: uniform(-0.1, 0.1)\n"), "%s", y);
    cr_assert(strstr(y, "init: {seed: 42, weight_init: 'normal(0, 0.01)'}\n"), "%s", y);
    cr_assert(strstr(y, "training:\n  l2: 0.0001\n"), "%s", y);
    cr_assert(strstr(y, "normalizer:\n  kind: minmax\n  shift: [0, 0, 0, 0.1, 0,"), "%s", y);
    free(y);
    model *back = model_load(p, true, c.d);
    cr_assert(back, "%s", capture_text(&c));
    cr_assert_float_eq(back->layers[0]->train.learning_rate, 0.003, 1e-15);
    cr_assert_eq(back->layers[0]->train.weight_init.kind, INIT_UNIFORM);
    cr_assert_float_eq(back->layers[0]->train.weight_init.a, -0.1, 1e-15);
    cr_assert_float_eq(back->layers[0]->forget_gate_bias, 2.0, 0);
    cr_assert_eq(back->weight_init.kind, INIT_NORMAL);
    cr_assert_float_eq(back->weight_init.b, 0.01, 1e-15);
    cr_assert(back->training.set_mask & TC_L2);
    cr_assert_eq(back->norm.kind, NORM_MINMAX);
    cr_assert_eq(back->norm.n, 77);
    cr_assert_float_eq(back->norm.shift[3], 0.1f, 0);
    cr_assert_float_eq(back->norm.scale[76], 0.5f, 0);
    same_params(m, back);
    model_free(back);
    model_free(m);
    test_remove_dir(dir);
    capture_close(&c);
}

Test(model_io, save_refuses_bad_paths_and_missing_weights)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "graph.yaml", false, c.d);
    cr_assert(m);
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/x.json", dir);
    cr_assert_eq(model_save(m, p, c.d), -1);
    cr_assert(strstr(capture_text(&c), "NAME.yaml"), "%s", capture_text(&c));
    snprintf(p, sizeof p, "%s/x.yaml", dir);
    cr_assert_eq(model_save(m, p, c.d), -1, "parameters without data cannot be saved");
    cr_assert(strstr(capture_text(&c), "wide.W has no data"), "%s", capture_text(&c));
    snprintf(p, sizeof p, "%s/missing/x.yaml", dir);
    cr_assert_eq(model_init_params(m), 0);
    cr_assert_eq(model_save(m, p, c.d), -1);
    cr_assert_eq(mio_count_files(dir), 0, "nothing left behind");
    model_free(m);
    test_remove_dir(dir);
    capture_close(&c);
    char *w = model_weights_path("a/b.yml");
    cr_assert_str_eq(w, "a/b.safetensors");
    free(w);
    cr_assert_null(model_weights_path("a/.yaml"));
    cr_assert_null(model_weights_path("a/b.txt"));
}

Test(model_io, awkward_names_survive_a_round_trip)
{
    const char *names[] = {"a: b", "- x", "true", "42", "ünï cödé", "#hash", "q\"uote", "tab\there"};
    int n = (int)(sizeof names / sizeof *names);
    model *m = model_new("odd: name");
    cr_assert_eq(model_add_input(m, "in put", INPUT_FEED_FORWARD, 3, loc_none()), 0);
    const char *prev = "in put";
    for (int i = 0; i < n; i++) {
        layer *L = layer_new(layer_type_find("dense"), names[i]);
        L->n_out = 2;
        layer_set_inputs(L, &prev, 1);
        model_add_layer(m, L);
        prev = names[i];
    }
    model_set_outputs(m, &prev, 1);
    cr_assert_eq(model_infer_shapes(m, NULL), 0);
    cr_assert_eq(model_init_params(m), 0);
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/odd.yaml", dir);
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(model_save(m, p, c.d), 0, "%s", capture_text(&c));
    model *back = model_load(p, true, c.d);
    cr_assert(back, "%s\n%s", capture_text(&c), test_read_file(p, NULL));
    cr_assert_str_eq(back->name, "odd: name");
    cr_assert_str_eq(back->inputs[0].name, "in put");
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(back->layers[i]->name, names[i]);
    same_params(m, back);
    cr_assert_eq(model_arch_hash(m), model_arch_hash(back));
    model_free(back);
    model_free(m);
    capture_close(&c);
    test_remove_dir(dir);
}

/* ---- weights pairing ---- */

Test(model_io, loads_weights_written_by_other_tools)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "mlp.yaml", true, c.d);
    cr_assert(m, "%s", capture_text(&c));
    cr_assert(m->weights_loaded);
    cr_assert_eq(m->norm.kind, NORM_STANDARDIZE);
    cr_assert_eq(m->norm.n, 4);
    cr_assert_float_eq(m->norm.scale[2], 0.57f, 0);
    layer *h = model_find_layer(m, "hidden");
    cr_assert_eq(h->params[0].shape[0], 4);
    cr_assert_eq(h->params[0].shape[1], 8);
    cr_assert(h->params[0].borrowed);
    model_free(m);
    capture_close(&c);
}

Test(model_io, refuses_weights_with_the_wrong_shapes)
{
    diag_capture c;
    capture_open(&c);
    cr_assert_null(model_load(MODELS "mlp_wrong_shape.yaml", true, c.d));
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "mlp_wrong_shape.yaml:24:10: error: tensor 'hidden.W' in weights file "
                        "mlp.safetensors has shape [4, 8], but layer 'hidden' needs [4, 9]"), "%s", t);
    cr_assert(strstr(t, "tensor 'out.W' in weights file mlp.safetensors has shape [8, 3], but layer 'out' needs [9, 3]"), "%s", t);
    cr_assert(strstr(t, "note: layer 'hidden' is defined here"), "%s", t);
    capture_close(&c);
}

Test(model_io, refuses_weights_saved_for_another_architecture)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "graph.yaml", true, c.d);
    cr_assert(m);
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/g.yaml", dir);
    cr_assert_eq(model_save(m, p, c.d), 0);
    model_free(m);
    /* Same tensors, different wiring: the hash tells them apart. */
    char *y = test_read_file(p, NULL);
    char *at = strstr(y, "inputs: [wide, narrow]");
    cr_assert(at);
    memcpy(at, "inputs: [narrow, wide]", 22);
    test_write_file(p, y);
    free(y);
    cr_assert_null(model_load(p, true, c.d));
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "error: weights file g.safetensors was saved for a different architecture"), "%s", t);
    cr_assert(strstr(t, "note: its architecture hash is"), "%s", t);
    /* Without loading weights the architecture alone is fine. */
    model *arch = model_load(p, false, c.d);
    cr_assert(arch);
    model_free(arch);
    capture_close(&c);
    test_remove_dir(dir);
}

Test(model_io, refuses_unknown_and_missing_tensors)
{
    char dir[64], p[512], w[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/m.yaml", dir);
    snprintf(w, sizeof w, "%s/m.safetensors", dir);
    test_write_file(p, "format: surgery-model/1\n"
                 "inputs:\n  - {name: x, type: feed_forward, size: 2}\n"
                 "layers:\n  - {name: d, type: dense, inputs: [x], n_out: 1}\n"
                 "outputs: [d]\n"
                 "weights: m.safetensors\n");
    tensor W = {0}, extra = {0};
    tensor_alloc2(&W, 2, 1);
    tensor_alloc2(&extra, 1, 1);
    st_entry e[] = {{"d.W", &W}, {"e.W", &extra}, {"d.bias", &extra}};
    FILE *fp = fopen(w, "wb");
    char err[256];
    cr_assert_eq(st_write(fp, e, 3, NULL, 0, err, sizeof err), 0);
    fclose(fp);
    diag_capture c;
    capture_open(&c);
    cr_assert_null(model_load(p, true, c.d));
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "m.yaml:7:10: error: weights file m.safetensors has no tensor 'd.b' (layer 'd' needs [1])"), "%s", t);
    cr_assert(strstr(t, "error: weights file m.safetensors has a tensor 'e.W' that no layer of the model has"), "%s", t);
    cr_assert(strstr(t, "has a tensor 'd.bias'"), "%s", t);
    capture_close(&c);
    tensor_release(&W);
    tensor_release(&extra);
    test_remove_dir(dir);
}

/* ---- YAML errors, each at its line:col ---- */

/* Loads `yaml` (written to a temporary m.yaml) and expects the diagnostics to contain
 * "m.yaml:WHERE: error: MESSAGE". */
static void expect_yaml_error(const char *yaml, const char *where, const char *message)
{
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/m.yaml", dir);
    test_write_file(p, yaml);
    diag_capture c;
    capture_open(&c);
    model *m = model_load(p, false, c.d);
    const char *t = capture_text(&c);
    cr_assert_null(m, "accepted:\n%s", yaml);
    char want[1024];
    snprintf(want, sizeof want, "m.yaml:%s: error: %s", where, message);
    cr_assert(strstr(t, want), "expected '%s' in:\n%s", want, t);
    cr_assert_geq(diag_error_count(c.d), 1);
    capture_close(&c);
    test_remove_dir(dir);
}

#define HEAD "format: surgery-model/1\ninputs:\n  - name: in\n    type: feed_forward\n    size: 4\n"

Test(model_io, yaml_syntax_errors_point_at_the_problem)
{
    expect_yaml_error(HEAD "layers:\n  - name: a\n   type: dense\n", "8:4",
                      "YAML syntax error: did not find expected '-' indicator");
    expect_yaml_error(HEAD "layers: [\n", "7:1", "YAML syntax error:");
    expect_yaml_error("", "1:1", "empty model file");
    expect_yaml_error("- a\n- b\n", "1:1", "a model file is a mapping");
}

Test(model_io, unknown_keys_types_and_options)
{
    expect_yaml_error(HEAD "layer:\n  - {name: a, type: dense, n_out: 2}\noutputs: [a]\n", "6:1",
                      "unknown top-level key 'layer' (did you mean 'layers'?)");
    expect_yaml_error(HEAD "layers:\n  - name: a\n    type: dens\n    n_out: 2\noutputs: [a]\n", "8:11",
                      "unknown layer type 'dens' (did you mean 'dense'?)");
    expect_yaml_error(HEAD "layers:\n  - name: a\n    type: dense\n    n_ot: 2\noutputs: [a]\n", "9:5",
                      "unknown option 'n_ot' for a dense layer (did you mean 'n_out'?)");
    expect_yaml_error(HEAD "layers:\n  - name: a\n    type: dense\n    n_out: 2\n    activation: rleu\noutputs: [a]\n",
                      "10:17", "unknown activation 'rleu' (did you mean 'relu'?)");
    expect_yaml_error("format: surgery-model/1\ninputs:\n  - name: in\n    type: feed_foward\n    size: 4\n"
                      "layers: []\noutputs: []\n", "4:11",
                      "unknown input type 'feed_foward' (did you mean 'feed_forward'?)");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2}\noutputs: [a]\ntraining:\n  l3: 0\n",
                      "10:3", "unknown training key 'l3' (did you mean 'l1'?)");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2}\noutputs: [a]\ninit: {sed: 1}\n",
                      "9:8", "unknown init key 'sed' (did you mean 'seed'?)");
}

Test(model_io, missing_and_duplicate_keys)
{
    expect_yaml_error(HEAD "layers:\n  - type: dense\n    n_out: 2\noutputs: [a]\n", "7:5",
                      "layer has no 'name'");
    expect_yaml_error(HEAD "layers:\n  - name: a\n    n_out: 2\noutputs: [a]\n", "7:5",
                      "layer 'a' has no 'type'");
    expect_yaml_error(HEAD "layers:\n  - name: a\n    type: dense\noutputs: [a]\n", "7:11",
                      "layer 'a' (dense) needs 'n_out'");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2}\n  - {name: a, type: dense, n_out: 2}\n"
                      "outputs: [a]\n", "8:12", "duplicate name 'a'");
    expect_yaml_error(HEAD "layers:\n  - {name: in, type: dense, n_out: 2}\noutputs: [in]\n", "7:12",
                      "duplicate name 'in'");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2, n_out: 3}\noutputs: [a]\n",
                      "7:38", "duplicate key 'n_out'");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2}\n", "1:1", "missing 'outputs'");
    expect_yaml_error("inputs: []\nlayers: []\noutputs: []\n", "1:1", "missing 'format: surgery-model/1'");
    expect_yaml_error("format: surgery-model/2\n", "1:9",
                      "unsupported format 'surgery-model/2' (this version reads surgery-model/1)");
    expect_yaml_error(HEAD "layers:\n  - {name: m, type: merge}\noutputs: [m]\n", "7:12",
                      "merge vertex 'm' needs 'inputs'");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2}\noutputs: [b]\n", "8:11",
                      "output 'b' is not a layer of the model (did you mean 'a'?)");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2}\noutputs: [a]\nfrozen: [aa]\n",
                      "9:10", "frozen layer 'aa' is not a layer of the model (did you mean 'a'?)");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 0}\noutputs: [a]\n", "7:35", "'n_out' must be >= 1, got 0");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_out: 2}\noutputs: [a]\n"
                      "normalizer: {kind: standardize, shift: [0, 0], scale: [1, 1]}\n", "9:40",
                      "normalizer has 2 values, but input 'in' has 4 features");
}

/* Columns are byte columns: after multi-byte characters on the line, and in a file without
 * any (where a mark's character column is its byte column). */
Test(model_io, error_columns_count_bytes)
{
    /* "é" and "ü" are two bytes each: the option key starts at byte 20, character 18 */
    expect_yaml_error(HEAD "layers:\n  - {name: \"\xc3\xa9\xc3\xbc\", n_ot: 2, type: dense}\n"
                      "outputs: [a]\n", "7:20",
                      "unknown option 'n_ot' for a dense layer (did you mean 'n_out'?)");
    /* the same line in ASCII */
    expect_yaml_error(HEAD "layers:\n  - {name: \"eu\", n_ot: 2, type: dense}\noutputs: [a]\n", "7:18",
                      "unknown option 'n_ot' for a dense layer (did you mean 'n_out'?)");
    /* a multi-byte character earlier in the file does not shift a later line's columns */
    expect_yaml_error("# r\xc3\xa9sum\xc3\xa9\n" HEAD "layers:\n  - {name: eu, n_ot: 2, type: dense}\n"
                      "outputs: [a]\n", "8:16",
                      "unknown option 'n_ot' for a dense layer (did you mean 'n_out'?)");
}

Test(model_io, a_broken_layer_raises_no_second_error)
{
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/m.yaml", dir);
    test_write_file(p, HEAD "layers:\n  - {name: a, type: dens, n_out: 2}\noutputs: [a]\nfrozen: [a]\n");
    diag_capture c;
    capture_open(&c);
    cr_assert_null(model_load(p, false, c.d));
    cr_assert_eq(diag_error_count(c.d), 1, "%s", capture_text(&c));
    capture_close(&c);
    test_remove_dir(dir);
}

Test(model_io, graph_and_shape_errors)
{
    /* A cycle and a dangling input are reported by the graph checks at the layer. */
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, inputs: [b], n_out: 2}\n"
                      "  - {name: b, type: dense, inputs: [a], n_out: 2}\noutputs: [b]\n", "7:12",
                      "the layers form a cycle: 'a' -> 'b' -> 'a'");
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, inputs: [nope], n_out: 2}\noutputs: [a]\n",
                      "7:37", "layer 'a' takes input 'nope', which is not defined");
    expect_yaml_error(HEAD "layers:\n  - {name: abc, type: dense, n_out: 2}\n"
                      "  - {name: b, type: dense, inputs: [in, abd], n_out: 2}\noutputs: [b]\n", "8:41",
                      "layer 'b' takes input 'abd', which is not defined (did you mean 'abc'?)");
    /* An explicit n_in that disagrees with the input. */
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: dense, n_in: 5, n_out: 2}\noutputs: [a]\n", "7:12",
                      "layer 'a' has n_in = 5, but its input 'in' gives 4 features");
    /* An LSTM on feed-forward input. */
    expect_yaml_error(HEAD "layers:\n  - {name: a, type: lstm, n_out: 2}\noutputs: [a]\n", "7:12",
                      "layer 'a'");
}

Test(model_io, chains_may_leave_out_inputs)
{
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/chain.yaml", dir);
    test_write_file(p, HEAD "layers:\n  - {name: a, type: dense, n_out: 3}\n  - {name: b, type: output, n_out: 2}\n"
                 "outputs: [b]\n");
    diag_capture c;
    capture_open(&c);
    model *m = model_load(p, true, c.d);
    cr_assert(m, "%s", capture_text(&c));
    cr_assert_str_eq(m->layers[0]->inputs[0], "in");
    cr_assert_str_eq(m->layers[1]->inputs[0], "a");
    cr_assert_eq(m->layers[1]->n_in, 3);
    cr_assert_str_eq(m->name, "chain", "the name defaults to the file's");
    model_free(m);
    capture_close(&c);
    test_remove_dir(dir);
}

/* ---- the architecture hash ---- */

Test(model_io, architecture_hash_covers_shapes_and_wiring_only)
{
    model *a = model_load(MODELS "graph.yaml", false, NULL);
    model *b = model_load(MODELS "graph.yaml", false, NULL);
    cr_assert(a && b);
    uint64_t h = model_arch_hash(a);
    cr_assert_eq(h, model_arch_hash(b));
    b->layers[0]->activation = ACT_SIGMOID;
    b->layers[0]->frozen = false;
    b->layers[1]->train.l2 = 0.5;
    b->seed = 99;
    cr_assert_eq(h, model_arch_hash(b), "activation, frozen set, training and init are not hashed");
    b->layers[0]->n_out = 7;
    cr_assert_neq(h, model_arch_hash(b));
    b->layers[0]->n_out = 6;
    free(b->outputs[0]);
    b->outputs[0] = strdup("joined");
    cr_assert_neq(h, model_arch_hash(b));
    model_free(a);
    model_free(b);
}

/* ---- initialisation ---- */

Test(model_io, initialisation_is_deterministic_per_layer)
{
    model *a = model_load(MODELS "graph.yaml", true, NULL);
    model *b = model_load(MODELS "graph.yaml", true, NULL);
    cr_assert(a && b);
    same_params(a, b);
    /* A layer's values depend on the seed and its own name only. */
    layer *w = model_find_layer(a, "wide");
    rng r;
    param_rng(&r, 7, "wide", "W");
    float first = (float)(-sqrt(6.0 / 16.0) + 2 * sqrt(6.0 / 16.0) * rng_uniform(&r));
    cr_assert_float_eq(w->params[0].data[0], first, 1e-7);
    cr_assert_eq(w->params[1].data[0], 0.0f, "biases start at bias_init (0)");
    /* Another seed gives other values. */
    model *c = model_load(MODELS "graph.yaml", false, NULL);
    c->seed = 8;
    cr_assert_eq(model_init_params(c), 0);
    cr_assert_gt(tensor_max_abs_diff(&c->layers[0]->params[0], &w->params[0]), 0.0);
    /* Parameters that already hold data are kept. */
    c->layers[0]->params[0].data[0] = 42.0f;
    cr_assert_eq(model_init_params(c), 0);
    cr_assert_float_eq(c->layers[0]->params[0].data[0], 42.0f, 0);
    model_free(a);
    model_free(b);
    model_free(c);
}

Test(model_io, lstm_forget_gate_bias_block)
{
    model *m = model_load(MODELS "char_lstm.yaml", false, NULL);
    cr_assert(m);
    layer *L = m->layers[0];
    L->train.set_mask |= TC_BIAS_INIT;
    L->train.bias_init = 0.25;
    cr_assert_eq(model_init_params(m), 0);
    const tensor *b = &L->params[2];
    cr_assert_eq(b->size, 800);
    for (int j = 0; j < 800; j++) {
        float want = j >= 200 && j < 400 ? 1.0f : 0.25f;
        cr_assert_float_eq(b->data[j], want, 0, "b[%d] = %g", j, b->data[j]);
    }
    model_free(m);
}

static void stats(const tensor *t, double *mean, double *var, double *lo, double *hi)
{
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < t->size; i++) {
        s += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
        *lo = fmin(*lo, t->data[i]);
        *hi = fmax(*hi, t->data[i]);
    }
    *mean = s / (double)t->size;
    *var = s2 / (double)t->size - *mean * *mean;
}

Test(model_io, dl4j_initialisation_statistics)
{
    const int64_t fin = 200, fout = 300;
    param_spec ps = {.key = "W", .role = PARAM_WEIGHT, .ndim = 2,
                     .shape = {fin, fout}, .fan_in = fin, .fan_out = fout};
    tensor t = {0};
    cr_assert_eq(tensor_alloc2(&t, fin, fout), 0);
    struct {
        init_spec init;
        bool normal;
        double mean, var, bound;
    } cases[] = {
        {{INIT_XAVIER, 0, 0}, true, 0, 2.0 / (fin + fout), 0},
        {{INIT_XAVIER_UNIFORM, 0, 0}, false, 0, 0, sqrt(6.0 / (fin + fout))},
        {{INIT_RELU, 0, 0}, true, 0, 2.0 / fin, 0},
        {{INIT_RELU_UNIFORM, 0, 0}, false, 0, 0, sqrt(6.0 / fin)},
        {{INIT_LECUN_NORMAL, 0, 0}, true, 0, 1.0 / fin, 0},
        {{INIT_NORMAL, 0.5, 0.02}, true, 0.5, 0.0004, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        rng r;
        rng_seed(&r, 1234 + k);
        cr_assert_eq(param_init(&t, &ps, &cases[k].init, 0, &r), 0);
        double mean, var, lo, hi;
        stats(&t, &mean, &var, &lo, &hi);
        const char *name = init_names[cases[k].init.kind];
        if (cases[k].normal) {
            double sd = sqrt(cases[k].var);
            cr_assert_lt(fabs(mean - cases[k].mean), 0.01 * sd + 1e-4, "%s mean %g", name, mean);
            cr_assert_lt(fabs(var / cases[k].var - 1), 0.02, "%s var %g want %g", name, var, cases[k].var);
        } else {
            double b = cases[k].bound;
            cr_assert(lo >= -b && hi <= b, "%s outside ±%g", name, b);
            cr_assert_gt(hi, 0.99 * b, "%s does not reach its bound", name);
            cr_assert_lt(fabs(var / (b * b / 3) - 1), 0.02, "%s var %g", name, var);
        }
    }
    init_spec uni = {INIT_UNIFORM, 2, 3};
    rng r;
    rng_seed(&r, 5);
    param_init(&t, &ps, &uni, 0, &r);
    double mean, var, lo, hi;
    stats(&t, &mean, &var, &lo, &hi);
    cr_assert(lo >= 2 && hi < 3 && fabs(mean - 2.5) < 0.01, "uniform(2, 3): [%g, %g] mean %g", lo, hi, mean);
    init_spec ones = {INIT_ONES, 0, 0}, zeros = {INIT_ZEROS, 0, 0}, eye = {INIT_IDENTITY, 0, 0};
    param_init(&t, &ps, &ones, 0, &r);
    stats(&t, &mean, &var, &lo, &hi);
    cr_assert(lo == 1 && hi == 1);
    param_init(&t, &ps, &zeros, 0, &r);
    stats(&t, &mean, &var, &lo, &hi);
    cr_assert(lo == 0 && hi == 0);
    param_init(&t, &ps, &eye, 0, &r);
    for (int64_t i = 0; i < fin; i++)
        for (int64_t j = 0; j < fout; j++)
            cr_assert_eq(t.data[i * fout + j], i == j ? 1.0f : 0.0f);
    param_spec bs = {.key = "b", .role = PARAM_BIAS, .ndim = 1,
                     .shape = {fout, 0}, .fan_in = fin, .fan_out = fout};
    tensor b = {0};
    int64_t bshape[1] = {fout};
    tensor_alloc(&b, 1, bshape);
    param_init(&b, &bs, &cases[0].init, 0.3, &r);
    cr_assert_float_eq(b.data[0], 0.3f, 0);
    cr_assert_float_eq(b.data[fout - 1], 0.3f, 0);
    cr_assert_eq(param_init(&b, &ps, &cases[0].init, 0, &r), -1, "a wrong-size tensor is refused");
    tensor_release(&b);
    tensor_release(&t);
}

/* ---- the format registry ---- */

Test(model_io, a_file_no_format_reads_is_named_not_parsed)
{
    diag_capture c;
    capture_open(&c);
    char dir[64], p[512];
    test_make_dir(dir, sizeof dir, "mio");
    snprintf(p, sizeof p, "%s/model.h5", dir);
    FILE *fp = fopen(p, "wb");
    cr_assert(fp);
    fwrite("\x89HDF\r\n\x1a\n\0\0\0\0", 1, 12, fp);
    fclose(fp);
    cr_assert_null(model_load(p, true, c.d));
    char want[1024];
    snprintf(want, sizeof want, "%s: error: not a model file surgery reads: expected a surgery model "
             "YAML (format: surgery-model/1", p);
    cr_assert(strstr(capture_text(&c), want), "%s", capture_text(&c));
    cr_assert_null(strstr(capture_text(&c), "YAML syntax error"), "%s", capture_text(&c));
    cr_assert_null(model_load(p, false, NULL), "the same without diagnostics");
    test_remove_dir(dir);
    capture_close(&c);
}

Test(model_io, formats_are_recognised_by_content_and_written_by_suffix)
{
    const char *yaml = "format: surgery-model/1\n";
    cr_assert_eq(model_reader_for((const unsigned char *)yaml, strlen(yaml)), &native_reader);
    cr_assert_eq(model_reader_for((const unsigned char *)"", 0), &native_reader,
                 "an empty file is an empty model YAML");
    cr_assert_null(model_reader_for((const unsigned char *)"PK\3\4\24\0", 6), "a zip");
    cr_assert_eq(model_reader_for((const unsigned char *)"\x08\x07\x12\x04", 4), &onnx_reader,
                 "an ONNX ModelProto");
    cr_assert_eq(model_writer_for("a/b.yaml"), &native_writer);
    cr_assert_eq(model_writer_for("b.yml"), &native_writer);
    cr_assert_null(model_writer_for("a/.yaml"));
    cr_assert_eq(model_writer_for("a/b.onnx"), &onnx_writer);
    cr_assert_null(model_writer_for("a/.onnx"));
}

Test(model_io, saving_to_an_unknown_suffix_names_the_suffixes_written)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(MODELS "graph.yaml", true, c.d);
    cr_assert(m, "%s", capture_text(&c));
    cr_assert_eq(model_save(m, "/tmp/surgery-mio-none/x.h5", c.d), -1);
    cr_assert(strstr(capture_text(&c), "/tmp/surgery-mio-none/x.h5: error: a model is saved as "
                                      "NAME.yaml (with NAME.safetensors beside it), NAME.onnx "
                                      "(weights as initializers; above 2 GiB in NAME.onnx.data "
                                      "beside it) or NAME.zip (a DL4J MultiLayerNetwork): the path "
                                      "must end in .yaml, .yml, .onnx or .zip"),
              "%s", capture_text(&c));
    model_free(m);
    capture_close(&c);
}

/* ---- the model builder ---- */

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
    diag_capture c;
    capture_open(&c);
    model_builder *b = small_mlp();
    layer *head = model_find_layer(model_builder_model(b), "head");
    tensor w = {0};
    cr_assert_eq(tensor_alloc(&w, 2, (int64_t[]){7, 7}), 0);
    memset(w.data, 0, (size_t)w.size * sizeof(float));
    cr_assert_eq(model_builder_set_param(b, head, "W", &w), 0);
    cr_assert_null(model_builder_finish(b, true, loc_none(), c.d));
    cr_assert(strstr(capture_text(&c), "parameter head.W has shape [7, 7], but layer 'head' needs"),
              "%s", capture_text(&c));
    capture_close(&c);
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
    diag_capture c;
    capture_open(&c);
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
    cr_assert(strstr(capture_text(&c), "cycle"), "%s", capture_text(&c));
    capture_close(&c);
}
