/* test_sema.c: the model-independent checks of a script, on IRs built by hand: error counts,
 * messages, "did you mean", notes, all errors in one pass. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "compiler/frontend.h"
#include "runtime/script/ir.h"
#include "tests/unit/test_support.h"

/* Builder: statements of a script named "s.surgery" (not on disk: diagnostics print no source
 * line), each at its own line. */
typedef struct builder {
    ir_script *s;
    int line;
} builder;

static src_loc bloc(builder *b, int col, int len)
{
    src_loc l = {b->s->files[0], b->line, col, len};
    return l;
}

static ir_stmt *stmt(builder *b, ir_kind kind)
{
    b->line++;
    return ir_append(b->s, kind, bloc(b, 1, 4));
}

static ir_stmt *named(builder *b, ir_kind kind, const char *name)
{
    ir_stmt *st = stmt(b, kind);
    st->name = strdup(name);
    st->name_loc = bloc(b, 10, (int)strlen(name) + 2);
    return st;
}

/* Parses `text` as an option value and appends `key = value` at a column of its own. */
static void opt(builder *b, ir_stmt *st, const char *key, const char *text)
{
    int col = 20 + 30 * st->n_opts;
    conf_value *v = conf_parse_text(text, bloc(b, col + (int)strlen(key) + 3, (int)strlen(text)),
                                    NULL);
    cr_assert(v, "bad test value %s", text);
    st->opts = realloc(st->opts, (size_t)(st->n_opts + 1) * sizeof *st->opts);
    st->opts[st->n_opts].name = strdup(key);
    st->opts[st->n_opts].name_loc = bloc(b, col, (int)strlen(key));
    st->opts[st->n_opts].value = v;
    st->n_opts++;
}

static builder start(void)
{
    builder b = {ir_script_new("s.surgery"), 0};
    return b;
}

static void add_base(builder *b)
{
    named(b, IR_BASE, "m.yaml");
}

static ir_stmt *add_layer(builder *b, ir_kind kind, const char *type, const char *name)
{
    ir_stmt *st = named(b, kind, name);
    st->layer_type = strdup(type);
    st->layer_type_loc = bloc(b, 5, (int)strlen(type));
    if (kind == IR_ADD) {
        st->names = calloc(1, sizeof *st->names);
        st->name_locs = calloc(1, sizeof *st->name_locs);
        st->names[0] = strdup("fc2");
        st->name_locs[0] = bloc(b, 16, 5);
        st->n_names = 1;
    }
    return st;
}

static ir_stmt *add_data(builder *b, const char *name, const char *source)
{
    ir_stmt *st = named(b, IR_DATA, name);
    st->value = conf_parse_text(source, bloc(b, 14, (int)strlen(source)), NULL);
    cr_assert(st->value);
    return st;
}

/* Runs sema; returns its error count with the output in c. */
static int run(builder *b, diag_capture *c)
{
    capture_open(c);
    int n = sema_check(b->s, c->d);
    cr_assert_eq(n, diag_error_count(c->d));
    ir_script_free(b->s);
    return n;
}

static void expect_msg(diag_capture *c, const char *fragment)
{
    cr_assert(strstr(capture_text(c), fragment), "missing \"%s\" in:\n%s", fragment, capture_text(c));
}

Test(sema, a_valid_script_has_no_errors)
{
    builder b = start();
    ir_stmt *v = stmt(&b, IR_VERSION);
    v->count = 1;
    add_base(&b);
    ir_stmt *ft = stmt(&b, IR_FINE_TUNE);
    opt(&b, ft, "updater", "nesterovs(learning_rate = 5e-5, momentum = 0.9)");
    opt(&b, ft, "dropout", "0.2");
    opt(&b, ft, "weight_init", "uniform(-0.1, 0.1)");
    opt(&b, ft, "backprop", "tbptt(forward = 50, backward = 50)");
    ir_stmt *add = add_layer(&b, IR_ADD, "output", "out2");
    opt(&b, add, "n_out", "5");
    opt(&b, add, "activation", "softmax");
    opt(&b, add, "loss", "negative_log_likelihood");
    ir_stmt *set = named(&b, IR_SET, "fc2");
    opt(&b, set, "learning_rate", "1e-3");
    opt(&b, set, "activation", "relu");
    ir_stmt *rs = named(&b, IR_RESIZE, "fc2");
    rs->count = 1024;
    opt(&b, rs, "init", "xavier");
    opt(&b, rs, "next_init", "normal(0, 0.01)");
    ir_stmt *w = named(&b, IR_WIDEN, "lstm1");
    w->count = 4;
    opt(&b, w, "outgoing", "zeros");
    ir_stmt *n = named(&b, IR_NARROW, "fc2");
    n->flags = IRF_DROP;
    n->indices = calloc(3, sizeof *n->indices);
    n->indices[1] = 17;
    n->indices[2] = 42;
    n->n_indices = 3;
    ir_stmt *dp = named(&b, IR_DEEPEN, "fc2");
    dp->layer_type = strdup("dense");
    ir_stmt *d = add_data(&b, "train", "csv(\"train.csv\")");
    opt(&b, d, "label", "4");
    opt(&b, d, "classes", "3");
    opt(&b, d, "shuffle", "true");
    opt(&b, d, "delimiter", "\";\"");
    add_data(&b, "seq", "csv_sequence(\"s/%d.csv\", labels = \"l/%d.csv\", first = 0, last = 9)");
    ir_stmt *fit = named(&b, IR_FIT, "train");
    fit->count = 3;
    named(&b, IR_EVALUATE, "seq");
    ir_stmt *e = named(&b, IR_EXPECT, "train");
    e->metric = strdup("accuracy");
    e->threshold = 0.75;
    named(&b, IR_SAVE, "out/model.yaml");
    diag_capture c;
    cr_assert_eq(run(&b, &c), 0, "%s", capture_text(&c));
    capture_close(&c);
}

Test(sema, missing_base_points_at_line_1)
{
    builder b = start();
    named(&b, IR_SAVE, "out.yaml");
    diag_capture c;
    cr_assert_eq(run(&b, &c), 1);
    expect_msg(&c, "s.surgery:1:1: error: the script has no 'base' statement");
    capture_close(&c);
}

Test(sema, duplicate_base_and_version_rules)
{
    builder b = start();
    add_base(&b);
    ir_stmt *v = stmt(&b, IR_VERSION);
    v->count = 2;
    v->count_loc = bloc(&b, 9, 1);
    add_base(&b);
    diag_capture c;
    cr_assert_eq(run(&b, &c), 3, "%s", capture_text(&c));
    expect_msg(&c, "s.surgery:2:1: error: 'surgery 2' must be the first statement");
    expect_msg(&c, "s.surgery:1:1: note: this statement comes before it");
    expect_msg(&c, "s.surgery:2:9: error: unsupported language version 2");
    expect_msg(&c, "s.surgery:3:1: error: 'base' is given twice");
    expect_msg(&c, "s.surgery:1:1: note: first given here");
    capture_close(&c);
}

Test(sema, fine_tune_keys_and_values)
{
    builder b = start();
    add_base(&b);
    ir_stmt *ft = stmt(&b, IR_FINE_TUNE);
    opt(&b, ft, "learnng_rate", "0.1");
    opt(&b, ft, "dropout", "1.5");
    opt(&b, ft, "n_out", "3");
    opt(&b, ft, "l2", "1e-4");
    opt(&b, ft, "l2", "1e-3");
    opt(&b, ft, "updater", "adamm");
    diag_capture c;
    cr_assert_eq(run(&b, &c), 5, "%s", capture_text(&c));
    expect_msg(&c, "s.surgery:2:20: error: unknown fine_tune option 'learnng_rate' (did you mean "
                   "'learning_rate'?)");
    expect_msg(&c, "s.surgery:2:60: error: 'dropout' must be in [0, 1), got 1.5");
    expect_msg(&c, "'n_out' is a layer option; fine_tune takes only the training keys");
    expect_msg(&c, "s.surgery:2:140: error: option 'l2' given twice");
    expect_msg(&c, "s.surgery:2:110: note: first given here");
    expect_msg(&c, "unknown updater 'adamm' (did you mean 'adam'?)");
    capture_close(&c);
}

Test(sema, layer_types_and_options)
{
    builder b = start();
    add_base(&b);
    ir_stmt *a = add_layer(&b, IR_ADD, "densse", "x");
    opt(&b, a, "n_out", "3");
    a = add_layer(&b, IR_ADD, "dense", "y");
    opt(&b, a, "n_ot", "3");
    opt(&b, a, "loss", "mcxent");
    opt(&b, a, "n_out", "0");
    opt(&b, a, "activation", "relux");
    a = add_layer(&b, IR_REPLACE, "output", "out");
    opt(&b, a, "loss", "mse");
    opt(&b, a, "dropout", "-1");
    a = add_layer(&b, IR_INSERT, "merge", "m");
    opt(&b, a, "updater", "adam");
    diag_capture c;
    cr_assert_eq(run(&b, &c), 7, "%s", capture_text(&c));
    expect_msg(&c, "s.surgery:2:5: error: unknown layer type 'densse' (did you mean 'dense'?)");
    expect_msg(&c, "s.surgery:3:20: error: unknown option 'n_ot' for a dense layer (did you mean "
                   "'n_out'?)");
    expect_msg(&c, "option 'loss' does not apply to a dense layer");
    expect_msg(&c, "'n_out' must be >= 1, got 0");
    expect_msg(&c, "unknown activation 'relux' (did you mean 'relu'?)");
    expect_msg(&c, "'dropout' must be in [0, 1), got -1");
    expect_msg(&c, "option 'updater' does not apply to a merge layer");
    capture_close(&c);
}

Test(sema, set_refuses_shape_options)
{
    builder b = start();
    add_base(&b);
    ir_stmt *s = named(&b, IR_SET, "fc2");
    opt(&b, s, "n_out", "3");
    opt(&b, s, "activaton", "relu");
    opt(&b, s, "loss", "mse");
    opt(&b, s, "l1", "-1");
    opt(&b, s, "has_bias", "false");
    diag_capture c;
    cr_assert_eq(run(&b, &c), 4, "%s", capture_text(&c));
    expect_msg(&c, "'set' cannot change 'n_out' (it changes shapes); use resize \"fc2\" n_out N");
    expect_msg(&c, "unknown option 'activaton' (did you mean 'activation'?)");
    expect_msg(&c, "'l1' must be >= 0, got -1");
    expect_msg(&c, "'set' cannot change 'has_bias'");
    capture_close(&c);
}

Test(sema, counts_and_indices)
{
    builder b = start();
    add_base(&b);
    ir_stmt *st = stmt(&b, IR_REMOVE_LAST);
    st->count = 0;
    st = named(&b, IR_WIDEN, "a");
    st->count = 0;
    st = named(&b, IR_WIDEN, "a");
    st->count = -2;
    st->flags = IRF_TO;
    st = named(&b, IR_NARROW, "a");
    st->flags = IRF_TO;
    st = named(&b, IR_NARROW, "a");
    st->flags = IRF_DROP;
    st->indices = calloc(4, sizeof *st->indices);
    st->indices[0] = -1;
    st->indices[1] = 3;
    st->indices[2] = 3;
    st->indices[3] = 5;
    st->n_indices = 4;
    st = named(&b, IR_NARROW, "a");
    st->flags = IRF_DROP;
    st = named(&b, IR_RESIZE, "a");
    st->count = 0;
    diag_capture c;
    cr_assert_eq(run(&b, &c), 8, "%s", capture_text(&c));
    expect_msg(&c, "remove last N needs N >= 1, got 0");
    expect_msg(&c, "widen by K needs K >= 1, got 0");
    expect_msg(&c, "widen to N needs N >= 1, got -2");
    expect_msg(&c, "narrow to N needs N >= 1, got 0");
    expect_msg(&c, "unit index -1 is negative");
    expect_msg(&c, "unit 3 is listed twice");
    expect_msg(&c, "narrow drop needs at least one unit index");
    expect_msg(&c, "resize needs a size >= 1, got 0");
    capture_close(&c);
}

Test(sema, widen_resize_deepen_options)
{
    builder b = start();
    add_base(&b);
    ir_stmt *w = named(&b, IR_WIDEN, "a");
    w->count = 2;
    opt(&b, w, "method", "net2net");
    opt(&b, w, "outgoing", "xavier");
    w = named(&b, IR_WIDEN, "a");
    w->count = 2;
    opt(&b, w, "method", "net2nett");
    w = named(&b, IR_WIDEN, "a");
    w->count = 2;
    opt(&b, w, "noise", "0.1");
    opt(&b, w, "outgoin", "zeros");
    ir_stmt *r = named(&b, IR_RESIZE, "a");
    r->count = 5;
    r->flags = IRF_N_IN;
    opt(&b, r, "next_init", "xavier");
    opt(&b, r, "init", "uniform(1, 0)");
    ir_stmt *d = named(&b, IR_DEEPEN, "a");
    d->layer_type = strdup("output");
    d = named(&b, IR_DEEPEN, "a");
    d->layer_type = strdup("lstm");
    opt(&b, d, "n_out", "3");
    diag_capture c;
    cr_assert_eq(run(&b, &c), 8, "%s", capture_text(&c));
    expect_msg(&c, "'outgoing' does not apply to method = net2net");
    expect_msg(&c, "note: net2net chosen here");
    expect_msg(&c, "unknown method 'net2nett' (did you mean 'net2net'?)");
    expect_msg(&c, "'noise' applies to method = net2net only");
    expect_msg(&c, "unknown option 'outgoin' for widen (did you mean 'outgoing'?)");
    expect_msg(&c, "'next_init' applies to resize n_out");
    expect_msg(&c, "uniform(lower, upper) needs lower < upper");
    expect_msg(&c, "deepen inserts an identity-initialised dense, lstm or conv2d layer, not output");
    expect_msg(&c, "deepen takes no options");
    capture_close(&c);
}

Test(sema, data_sources_and_names)
{
    builder b = start();
    add_base(&b);
    ir_stmt *fit = named(&b, IR_FIT, "train");
    fit->count = 1;
    ir_stmt *d = add_data(&b, "train", "csv(\"a.csv\")");
    opt(&b, d, "batch", "0");
    opt(&b, d, "shufle", "true");
    opt(&b, d, "normalize", "zscore");
    opt(&b, d, "delimiter", "\";;\"");
    add_data(&b, "train", "csv(\"b.csv\")");
    add_data(&b, "t2", "cvs(\"a.csv\")");
    add_data(&b, "t3", "csv()");
    add_data(&b, "t4", "csv_sequence(\"s/%d.csv\", first = 5)");
    add_data(&b, "t5", "csv_sequence(\"s.csv\", first = 5, last = 2)");
    add_data(&b, "t6", "npy(\"x.npy\", lables = \"y.npy\")");
    ir_stmt *e = add_data(&b, "t7", "csv(\"a.csv\", batch = 3)");
    opt(&b, e, "classes", "1");
    named(&b, IR_EVALUATE, "trian");
    ir_stmt *f = named(&b, IR_FIT, "train");
    f->count = 0;
    f->flags = IRF_ITERATIONS;
    diag_capture c;
    cr_assert_eq(run(&b, &c), 16, "%s", capture_text(&c));
    expect_msg(&c, "s.surgery:2:10: error: data 'train' is used before it is defined");
    expect_msg(&c, "s.surgery:3:10: note: defined here, later in the script");
    expect_msg(&c, "'batch' must be >= 1, got 0");
    expect_msg(&c, "unknown option 'shufle' for csv data (did you mean 'shuffle'?)");
    expect_msg(&c, "unknown normalize 'zscore' (expected one of: standardize, minmax)");
    expect_msg(&c, "'delimiter' must be a single character");
    expect_msg(&c, "s.surgery:4:10: error: data 'train' is defined twice");
    expect_msg(&c, "s.surgery:3:10: note: first defined here");
    expect_msg(&c, "unknown data source 'cvs' (did you mean 'csv'?)");
    expect_msg(&c, "csv() needs a path");
    expect_msg(&c, "csv_sequence() needs first and last");
    expect_msg(&c, "needs %d where the sequence number goes");
    expect_msg(&c, "'last' (2) is before 'first' (5)");
    expect_msg(&c, "unknown argument 'lables' of npy() (did you mean 'labels'?)");
    expect_msg(&c, "'batch' is an option of csv(): write it in the block");
    expect_msg(&c, "'classes' must be >= 2, got 1");
    expect_msg(&c, "unknown data 'trian' (did you mean 'train'?)");
    expect_msg(&c, "fit needs at least 1 iteration, got 0");
    capture_close(&c);
}

Test(sema, expect_metrics_and_thresholds)
{
    builder b = start();
    add_base(&b);
    add_data(&b, "test", "csv(\"t.csv\")");
    ir_stmt *e = named(&b, IR_EXPECT, "test");
    e->metric = strdup("acuracy");
    e->metric_loc = bloc(&b, 8, 7);
    e = named(&b, IR_EXPECT, "test");
    e->metric = strdup("f1");
    e->threshold = 1.5;
    e = named(&b, IR_EXPECT, "test");
    e->metric = strdup("mse");
    e->threshold = -0.1;
    e->cmp = CMP_LE;
    e = named(&b, IR_EXPECT, "test");
    e->metric = strdup("r2");
    e->threshold = -3;
    e = named(&b, IR_EXPECT, "nope");
    e->metric = strdup("loss");
    named(&b, IR_SAVE, "out/model.yml");
    diag_capture c;
    cr_assert_eq(run(&b, &c), 5, "%s", capture_text(&c));
    expect_msg(&c, "s.surgery:3:8: error: unknown metric 'acuracy' (did you mean 'accuracy'?)");
    expect_msg(&c, "f1 is a fraction in [0, 1]; the threshold 1.5 is outside it");
    expect_msg(&c, "mse is never negative; the threshold -0.1 is below 0");
    expect_msg(&c, "unknown data 'nope'");
    expect_msg(&c, "the path must end in .yaml, .onnx or .zip, got \"out/model.yml\"");
    capture_close(&c);
}

Test(sema, name_lists_without_repeats)
{
    builder b = start();
    add_base(&b);
    ir_stmt *st = stmt(&b, IR_FREEZE);
    st->names = calloc(3, sizeof *st->names);
    st->name_locs = calloc(3, sizeof *st->name_locs);
    const char *n[] = {"a", "b", "a"};
    for (int i = 0; i < 3; i++) {
        st->names[i] = strdup(n[i]);
        st->name_locs[i] = bloc(&b, 8 + 5 * i, 3);
    }
    st->n_names = 3;
    diag_capture c;
    cr_assert_eq(run(&b, &c), 1, "%s", capture_text(&c));
    expect_msg(&c, "s.surgery:2:18: error: 'a' is listed twice");
    expect_msg(&c, "s.surgery:2:8: note: first listed here");
    capture_close(&c);
}

Test(sema, ir_round_trip_keeps_sema_results)
{
    /* A checked script survives emit + load and checks the same. */
    builder b = start();
    add_base(&b);
    ir_stmt *d = add_data(&b, "train", "csv(\"a.csv\")");
    opt(&b, d, "batch", "0");
    char dir[] = "/tmp/surgery-sema-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/x.ir.yaml", dir);
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(ir_emit_yaml(b.s, path, c.d), 0);
    ir_script *t = ir_load_yaml(path, c.d);
    cr_assert(t);
    cr_assert_eq(sema_check(t, c.d), 1);
    expect_msg(&c, "'batch' must be >= 1, got 0");
    ir_script_free(t);
    ir_script_free(b.s);
    remove(path);
    rmdir(dir);
    capture_close(&c);
}
