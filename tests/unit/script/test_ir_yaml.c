/* test_ir_yaml.c: the IR's YAML form: emit -> load -> emit gives identical bytes, loading
 * rebuilds the same statements, malformed files are refused with their line:column. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/script/ir.h"
#include "tests/unit/test_support.h"

static char irtest_dir[64];

static void irtest_setup(void) { test_make_dir(irtest_dir, sizeof irtest_dir, "irtest"); }

static void irtest_teardown(void) { test_remove_dir(irtest_dir); }

static char *irtest_path(const char *name)
{
    static char buf[4][160];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 160, "%s/%s", irtest_dir, name);
    return p;
}

static src_loc L(const char *file, int line, int col, int len)
{
    src_loc l = {file, line, col, len};
    return l;
}

static void set_name(ir_stmt *st, const char *name, src_loc l)
{
    st->name = strdup(name);
    st->name_loc = l;
}

static void add_names(ir_stmt *st, const char *const *names, int n, const char *file, int line)
{
    st->names = calloc((size_t)n, sizeof *st->names);
    st->name_locs = calloc((size_t)n, sizeof *st->name_locs);
    for (int i = 0; i < n; i++) {
        st->names[i] = strdup(names[i]);
        st->name_locs[i] = L(file, line, 10 + 8 * i, 6);
    }
    st->n_names = n;
}

static void add_opt(ir_stmt *st, const char *key, src_loc kl, conf_value *v)
{
    st->opts = realloc(st->opts, (size_t)(st->n_opts + 1) * sizeof *st->opts);
    st->opts[st->n_opts].name = strdup(key);
    st->opts[st->n_opts].name_loc = kl;
    st->opts[st->n_opts].value = v;
    st->n_opts++;
}

/* A script using every statement kind and every value kind. */
static ir_script *irtest_build(void)
{
    ir_script *s = ir_script_new("examples/x.surgery");
    const char *f = s->files[0];
    const char *inc = ir_intern_file(s, "examples/common/ft.surgery");
    int line = 1;
    ir_stmt *st = ir_append(s, IR_VERSION, L(f, line++, 1, 7));
    st->count = 1;
    st->count_loc = L(f, 1, 9, 1);
    st = ir_append(s, IR_BASE, L(f, line, 1, 4));
    set_name(st, "models/char lstm.yaml", L(f, line++, 6, 23));
    st = ir_append(s, IR_PARAM, L(f, line, 1, 5));
    set_name(st, "num_classes", L(f, line, 7, 11));
    st->value = conf_num(5, L(f, line++, 21, 1));
    st = ir_append(s, IR_PARAM, L(f, line, 1, 5));
    set_name(st, "label", L(f, line, 7, 5));
    st->value = conf_str(CV_STR, "a \"quoted\": name\n", L(f, line++, 15, 20));
    st = ir_append(s, IR_FINE_TUNE, L(inc, 1, 1, 9));
    st->opts_loc = L(inc, 1, 11, 1);
    conf_value *upd = conf_call("nesterovs", L(inc, 2, 13, 9));
    conf_push_arg(upd, "learning_rate", L(inc, 2, 23, 13), conf_num(5e-5, L(inc, 2, 39, 4)));
    conf_push_arg(upd, "momentum", L(inc, 2, 45, 8), conf_num(0.9, L(inc, 2, 56, 3)));
    conf_value *sched = conf_call("step", L(inc, 2, 70, 4));
    conf_push_arg(sched, NULL, loc_none(), conf_num(1.0 / 3, L(inc, 2, 75, 3)));
    conf_push_arg(sched, NULL, loc_none(), conf_num(100, L(inc, 2, 80, 3)));
    conf_push_arg(upd, "schedule", L(inc, 2, 60, 8), sched);
    add_opt(st, "updater", L(inc, 2, 3, 7), upd);
    add_opt(st, "seed", L(inc, 3, 3, 4), conf_num(12345, L(inc, 3, 10, 5)));
    add_opt(st, "l2", L(inc, 4, 3, 2), conf_num(0.1 + 0.2, L(inc, 4, 8, 5)));
    add_opt(st, "weight_init", L(inc, 5, 3, 11), conf_str(CV_IDENT, "xavier", L(inc, 5, 17, 6)));
    add_opt(st, "huge", L(inc, 6, 3, 4), conf_num(-1.7976931348623157e308, L(inc, 6, 10, 3)));
    add_opt(st, "tiny", L(inc, 7, 3, 4), conf_num(4.9e-324, L(inc, 7, 10, 3)));
    add_opt(st, "nan", L(inc, 8, 3, 3), conf_num(NAN, L(inc, 8, 10, 3)));
    add_opt(st, "inf", L(inc, 9, 3, 3), conf_num(-INFINITY, L(inc, 9, 10, 3)));
    conf_value *list = conf_list(L(inc, 10, 10, 12));
    conf_push_arg(list, NULL, loc_none(), conf_bool(true, L(inc, 10, 11, 4)));
    conf_push_arg(list, NULL, loc_none(), conf_str(CV_STR, "true", L(inc, 10, 17, 6)));
    conf_push_arg(list, NULL, loc_none(), conf_list(L(inc, 10, 25, 2)));
    add_opt(st, "things", L(inc, 10, 3, 6), list);
    add_opt(st, "noloc", loc_none(), conf_call("f", loc_none()));

    static const char *const through[] = {"fc2"};
    st = ir_append(s, IR_FREEZE_THROUGH, L(f, line, 1, 6));
    add_names(st, through, 1, f, line++);
    static const char *const two[] = {"embedding", "conv1"};
    st = ir_append(s, IR_FREEZE, L(f, line, 1, 6));
    add_names(st, two, 2, f, line++);
    st = ir_append(s, IR_UNFREEZE, L(f, line, 1, 8));
    add_names(st, through, 1, f, line++);
    st = ir_append(s, IR_REMOVE, L(f, line, 1, 6));
    set_name(st, "predictions", L(f, line++, 8, 13));
    st->flags = IRF_KEEP_CONNECTIONS;
    ir_append(s, IR_REMOVE_OUTPUT, L(f, line++, 1, 6));
    st = ir_append(s, IR_REMOVE_LAST, L(f, line, 1, 6));
    st->count = 2;
    st->count_loc = L(f, line++, 13, 1);
    st = ir_append(s, IR_ADD, L(f, line, 1, 3));
    st->layer_type = strdup("dense");
    st->layer_type_loc = L(f, line, 5, 5);
    set_name(st, "fc3", L(f, line, 11, 5));
    add_names(st, through, 1, f, line);
    st->opts_loc = L(f, line, 30, 1);
    add_opt(st, "n_out", L(f, line, 32, 5), conf_num(256, L(f, line, 40, 3)));
    add_opt(st, "activation", L(f, line, 45, 10), conf_str(CV_IDENT, "relu", L(f, line, 58, 4)));
    line++;
    st = ir_append(s, IR_REPLACE, L(f, line, 1, 7));
    set_name(st, "out", L(f, line, 9, 5));
    st->layer_type = strdup("rnn_output");
    st->layer_type_loc = L(f, line++, 20, 10);
    st = ir_append(s, IR_INSERT, L(f, line, 1, 6));
    st->layer_type = strdup("dense");
    set_name(st, "adapter", L(f, line, 14, 9));
    st->name2 = strdup("fc2");
    st->name2_loc = L(f, line++, 30, 5);
    st = ir_append(s, IR_RESIZE, L(f, line, 1, 6));
    set_name(st, "fc2", L(f, line, 8, 5));
    st->count = 1024;
    st->flags = IRF_N_IN;
    add_opt(st, "init", L(f, line, 30, 4), conf_str(CV_IDENT, "xavier", L(f, line, 37, 6)));
    line++;
    st = ir_append(s, IR_WIDEN, L(f, line, 1, 5));
    set_name(st, "lstm1", L(f, line, 7, 7));
    st->count = 4;
    add_opt(st, "outgoing", L(f, line, 20, 8),
            conf_parse_text("uniform(-0.1, 0.1)", L(f, line, 31, 18), NULL));
    line++;
    st = ir_append(s, IR_NARROW, L(f, line, 1, 6));
    set_name(st, "fc2", L(f, line, 8, 5));
    st->flags = IRF_DROP;
    st->indices = calloc(3, sizeof *st->indices);
    st->indices[0] = 3;
    st->indices[1] = 17;
    st->indices[2] = 42;
    st->n_indices = 3;
    st->indices_loc = L(f, line++, 19, 11);
    st = ir_append(s, IR_NARROW, L(f, line, 1, 6));
    set_name(st, "fc2", L(f, line, 8, 5));
    st->flags = IRF_TO;
    st->count = 512;
    line++;
    st = ir_append(s, IR_DEEPEN, L(f, line, 1, 6));
    set_name(st, "fc2", L(f, line, 8, 5));
    st->layer_type = strdup("dense");
    st->name2 = strdup("fc2b");
    line++;
    st = ir_append(s, IR_RENAME, L(f, line, 1, 6));
    set_name(st, "fc2", L(f, line, 8, 5));
    st->name2 = strdup("features");
    line++;
    st = ir_append(s, IR_SET, L(f, line, 1, 3));
    set_name(st, "fc3", L(f, line, 5, 5));
    add_opt(st, "learning_rate", L(f, line, 13, 13), conf_num(1e-3, L(f, line, 29, 4)));
    line++;
    static const char *const outs[] = {"newpredictions"};
    st = ir_append(s, IR_OUTPUTS, L(f, line, 1, 7));
    add_names(st, outs, 1, f, line++);
    static const char *const ins[] = {"in"};
    st = ir_append(s, IR_INPUTS, L(f, line, 1, 6));
    add_names(st, ins, 1, f, line++);
    st = ir_append(s, IR_DATA, L(f, line, 1, 4));
    set_name(st, "train", L(f, line, 6, 5));
    st->value = conf_parse_text("csv_sequence(\"seq/%d.csv\", labels = \"l/%d.csv\", first = 0, "
                                "last = 449)", L(f, line, 14, 60), NULL);
    add_opt(st, "classes", L(f, line, 80, 7), conf_num(6, L(f, line, 90, 1)));
    add_opt(st, "shuffle", L(f, line, 93, 7), conf_bool(false, L(f, line, 103, 5)));
    line++;
    st = ir_append(s, IR_FEATURIZE, L(f, line, 1, 9));
    set_name(st, "train", L(f, line, 11, 5));
    st->flags = IRF_HAS_INTO;
    st->name2 = strdup("cache/train_fc2");
    line++;
    st = ir_append(s, IR_FIT, L(f, line, 1, 3));
    set_name(st, "train", L(f, line, 5, 5));
    st->count = 30;
    st->flags = IRF_ITERATIONS;
    st->opts_loc = L(f, line, 26, 1);
    add_opt(st, "checkpoint", L(f, line, 28, 10), conf_str(CV_STR, "ckpt/", L(f, line, 41, 7)));
    add_opt(st, "every", L(f, line, 50, 5), conf_num(10, L(f, line, 58, 2)));
    line++;
    st = ir_append(s, IR_EVALUATE, L(f, line, 1, 8));
    set_name(st, "train", L(f, line++, 10, 5));
    st = ir_append(s, IR_EXPECT, L(f, line, 1, 6));
    st->metric = strdup("accuracy");
    st->metric_loc = L(f, line, 8, 8);
    set_name(st, "train", L(f, line, 17, 5));
    st->cmp = CMP_GE;
    st->threshold = 0.75;
    line++;
    st = ir_append(s, IR_SAVE, L(f, line, 1, 4));
    set_name(st, "out/model.yaml", L(f, line, 6, 16));
    return s;
}

static void emit_ok(const ir_script *s, const char *path)
{
    diag_capture c;
    capture_open(&c);
    int rc = ir_emit_yaml(s, path, c.d);
    cr_assert_eq(rc, 0, "emit failed: %s", capture_text(&c));
    capture_close(&c);
}

TestSuite(ir_yaml, .init = irtest_setup, .fini = irtest_teardown);

Test(ir_yaml, emit_load_emit_is_identical)
{
    ir_script *s = irtest_build();
    emit_ok(s, irtest_path("a.ir.yaml"));
    diag_capture c;
    capture_open(&c);
    ir_script *t = ir_load_yaml(irtest_path("a.ir.yaml"), c.d);
    cr_assert(t, "load failed: %s", capture_text(&c));
    capture_close(&c);
    emit_ok(t, irtest_path("b.ir.yaml"));
    size_t na, nb;
    char *a = test_read_file(irtest_path("a.ir.yaml"), &na);
    char *b = test_read_file(irtest_path("b.ir.yaml"), &nb);
    cr_assert_eq(na, nb);
    cr_assert(memcmp(a, b, na) == 0, "differs:\n%s\n----\n%s", a, b);
    cr_assert(strncmp(a, "format: surgery-ir/1\n", 21) == 0, "%s", a);

    /* The rebuilt statements equal the originals. */
    cr_assert_eq(t->n_stmts, s->n_stmts);
    cr_assert_eq(t->n_files, s->n_files);
    cr_assert_str_eq(t->path, s->path);
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *x = &s->stmts[i], *y = &t->stmts[i];
        cr_assert_eq(x->kind, y->kind);
        cr_assert_eq(x->flags, y->flags);
        cr_assert_eq(x->loc.line, y->loc.line);
        cr_assert_str_eq(x->loc.file, y->loc.file);
        cr_assert_eq(x->count, y->count);
        cr_assert_eq(x->n_opts, y->n_opts);
        for (int k = 0; k < x->n_opts; k++) {
            cr_assert_str_eq(x->opts[k].name, y->opts[k].name);
            cr_assert(conf_value_equal(x->opts[k].value, y->opts[k].value), "opt %s",
                      x->opts[k].name);
            cr_assert_eq(x->opts[k].name_loc.col, y->opts[k].name_loc.col);
        }
        cr_assert(conf_value_equal(x->value, y->value));
        cr_assert_eq(x->n_names, y->n_names);
        cr_assert_eq(x->n_indices, y->n_indices);
        cr_assert_eq(x->threshold, y->threshold);
    }
    /* Locations point into the loaded script's own file table. */
    cr_assert_eq(t->stmts[4].loc.file, t->files[1]);
    cr_assert_eq(t->stmts[4].opts[1].value->num, 12345);
    cr_assert_eq(t->stmts[4].opts[2].value->num, 0.1 + 0.2);
    cr_assert(isnan(t->stmts[4].opts[6].value->num));
    free(a);
    free(b);
    ir_script_free(s);
    ir_script_free(t);
}

Test(ir_yaml, empty_script_round_trips)
{
    ir_script *s = ir_script_new("empty.surgery");
    emit_ok(s, irtest_path("e.ir.yaml"));
    diag_capture c;
    capture_open(&c);
    ir_script *t = ir_load_yaml(irtest_path("e.ir.yaml"), c.d);
    cr_assert(t, "%s", capture_text(&c));
    cr_assert_eq(t->n_stmts, 0);
    cr_assert_eq(t->n_files, 1);
    capture_close(&c);
    ir_script_free(s);
    ir_script_free(t);
}

Test(ir_yaml, unwritable_target_is_reported)
{
    ir_script *s = ir_script_new("x.surgery");
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(ir_emit_yaml(s, irtest_path("no/such/dir/x.ir.yaml"), c.d), -1);
    cr_assert(strstr(capture_text(&c), "cannot write the IR"), "%s", capture_text(&c));
    capture_close(&c);
    ir_script_free(s);
}

/* Each case: file text, expected line:col prefix (after the path), message fragment. */
static const char *const bad_ir[][3] = {
    {"format: surgery-ir/1\nfiles: [a]\nstatements: [\n", "4:1", "malformed IR file"},
    {"format: surgery-ir/1\n  files: x\n", "2:8", "malformed IR file"},
    {"format: surgery-ir/9\nfiles: []\nstatements: []\n", "1:9", "'format' must be surgery-ir/1"},
    {"- 1\n", "1:1", "an IR document must be a mapping"},
    {"", NULL, "the file is empty"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements: []\nextra: 1\n", "4:1",
     "unknown field 'extra' in an IR document"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: bsae\n", "4:9",
     "unknown statement kind 'bsae' (did you mean 'base'?)"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: base\n  count: 3\n", "5:10",
     "a 'base' statement has no field 'count'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: add\n  name: x\n"
     "  layer_type: dense\n", "4:3", "a 'add' statement needs 'names'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: featurize\n  name: x\n"
     "  flags: [has_into]\n", "4:3", "with has_into needs 'name2'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: fit\n  name: d\n  count: x\n",
     "6:10", "'count' must be an integer, got 'x'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: base\n  name: m\n  loc: b:1:1+4\n",
     "6:8",
     "names a file missing from 'files': 'b'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: base\n  name: m\n  loc: a:1:x+4\n",
     "6:8",
     "must be a location FILE:LINE:COL+LEN"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: set\n  name: x\n  opts:\n"
     "  - key: l2\n    value: {num: abc}\n", "8:18", "'num' must be a number, got 'abc'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: set\n  name: x\n  opts:\n"
     "  - key: l2\n    value: {num: 1, str: x}\n", "8:26", "has both 'num' and 'str'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: set\n  name: x\n  opts:\n"
     "  - value: {num: 1}\n", "7:5", "every option needs a 'key'"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: expect\n  name: d\n"
     "  metric: accuracy\n  cmp: '=>'\n  threshold: 1\n", "7:8", "'cmp' must be one of"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: narrow\n  name: x\n"
     "  count: 1\n  flags: [drop, too]\n", "7:17", "unknown flag 'too' (did you mean 'to'?)"},
    {"format: surgery-ir/1\nscript: b\nfiles: [a]\nstatements: []\n", "3:8",
     "'files' must start with the script 'b'"},
    {"format: surgery-ir/1\nfiles: [a, a]\nstatements: []\n", "2:12", "file 'a' listed twice"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: base\n  kind: save\n", "5:3",
     "field 'kind' given twice"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements:\n- kind: set\n  name: x\n  opts:\n"
     "  - key: l2\n    value: &v {list: [{value: *v}]}\n", NULL, "nested too deeply"},
    {"format: surgery-ir/1\nfiles: [a]\nstatements: []\n---\nformat: x\n", "5:1",
     "an IR file holds one document"},
};

Test(ir_yaml, malformed_files_are_refused_with_positions)
{
    for (size_t i = 0; i < sizeof bad_ir / sizeof bad_ir[0]; i++) {
        const char *p = irtest_path("bad.ir.yaml");
        test_write_file(p, bad_ir[i][0]);
        diag_capture c;
        capture_open(&c);
        ir_script *s = ir_load_yaml(p, c.d);
        const char *out = capture_text(&c);
        cr_assert_null(s, "case %zu loaded", i);
        cr_assert_geq(diag_error_count(c.d), 1, "case %zu", i);
        cr_assert(strstr(out, bad_ir[i][2]), "case %zu: %s", i, out);
        if (bad_ir[i][1]) {
            char want[256];
            snprintf(want, sizeof want, "%s:%s: error:", p, bad_ir[i][1]);
            cr_assert(strstr(out, want), "case %zu: want %s, got %s", i, want, out);
        }
        capture_close(&c);
    }
}

Test(ir_yaml, missing_file_is_reported)
{
    diag_capture c;
    capture_open(&c);
    cr_assert_null(ir_load_yaml(irtest_path("none.ir.yaml"), c.d));
    cr_assert(strstr(capture_text(&c), "cannot read the IR"), "%s", capture_text(&c));
    capture_close(&c);
}

Test(ir, helpers)
{
    ir_script *s = ir_script_new("dir/sub/main.surgery");
    cr_assert_eq(s->n_files, 1);
    const char *a = ir_intern_file(s, "dir/inc.surgery");
    cr_assert_eq(ir_intern_file(s, "dir/inc.surgery"), a);
    cr_assert_eq(s->n_files, 2);
    src_loc l = {s->files[0], 1, 1, 4};
    ir_stmt *st = ir_append(s, IR_BASE, l);
    char *p = ir_resolve_path(st, "models/m.yaml");
    cr_assert_str_eq(p, "dir/sub/models/m.yaml");
    free(p);
    p = ir_resolve_path(st, "/abs/m.yaml");
    cr_assert_str_eq(p, "/abs/m.yaml");
    free(p);
    st->loc.file = a;
    p = ir_resolve_path(st, "x.csv");
    cr_assert_str_eq(p, "dir/x.csv");
    free(p);
    ir_stmt *set = ir_append(s, IR_SET, l);
    cr_assert_null(ir_opt(set, "l2"));
    set->opts = calloc(1, sizeof *set->opts);
    set->opts[0].name = strdup("l2");
    set->opts[0].value = conf_num(0.5, l);
    set->n_opts = 1;
    cr_assert_eq(ir_opt(set, "l2")->value->num, 0.5);
    cr_assert_str_eq(ir_kind_names[IR_FREEZE_THROUGH], "freeze through");
    cr_assert_str_eq(ir_kind_names[IR_SAVE], "save");
    ir_script_free(s);
    ir_script_free(NULL);
    ir_script *bare = ir_script_new("plain.surgery");
    src_loc pl = {bare->files[0], 1, 1, 1};
    p = ir_resolve_path(ir_append(bare, IR_BASE, pl), "m.yaml");
    cr_assert_str_eq(p, "m.yaml");
    free(p);
    ir_script_free(bare);
}
