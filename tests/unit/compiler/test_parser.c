/* test_parser.c: the front end: every test script parses and lowers, the tree and IR of a few
 * statements, error recovery, includes and their cycles, --set, diagnostics, and fmt
 * (idempotent, comments kept). */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/ast.h"
#include "runtime/base/diag.h"
#include "compiler/frontend.h"
#include "runtime/script/ir.h"
#include "compiler/parse.h"
#include "tests/unit/test_support.h"

/* Every script of tests/scripts (and its common/ folder). */
static glob_t script_paths(void)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    cr_assert_eq(glob("tests/scripts/*.surgery", 0, NULL, &g), 0);
    glob("tests/scripts/common/*.surgery", GLOB_APPEND, NULL, &g);
    cr_assert_geq(g.gl_pathc, 7, "expected the language examples under tests/scripts");
    return g;
}

/* A temporary folder holding files written by the tests. */
static char tmp_dir[64];

static char *write_tmp(const char *name, const char *text)
{
    char *path = malloc(strlen(tmp_dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", tmp_dir, name);
    test_write_file(path, text);
    return path;
}

static ast_file *parse_string(diag_capture *c, const char *text, int *errors)
{
    return parse_text("t.surgery", text, strlen(text), c->d, errors);
}

Test(parser, every_test_script_parses_and_lowers)
{
    glob_t g = script_paths();
    for (size_t i = 0; i < g.gl_pathc; i++) {
        diag_capture c;
        capture_open(&c);
        int errors = -1;
        bool unreadable = true;
        script_file *sf = script_load(g.gl_pathv[i], c.d, &errors, &unreadable);
        cr_assert(sf, "%s", g.gl_pathv[i]);
        cr_assert_eq(errors, 0, "%s:\n%s", g.gl_pathv[i], capture_text(&c));
        cr_assert_gt(sf->ast->n_stmts, 0);
        ir_script *s = NULL;
        cr_assert_eq(lower_script(sf, NULL, 0, c.d, &s), FE_OK, "%s:\n%s", g.gl_pathv[i], capture_text(&c));
        cr_assert(s);
        ir_script_free(s);
        script_file_free(sf);
        capture_close(&c);
    }
    globfree(&g);
}

Test(parser, language_examples_pass_the_model_independent_checks)
{
    glob_t g;
    cr_assert_eq(glob("tests/scripts/*.surgery", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        diag_capture c;
        capture_open(&c);
        ir_script *s = NULL;
        int st = frontend_compile(g.gl_pathv[i], NULL, 0, c.d, &s);
        cr_assert_eq(st, FE_OK, "%s:\n%s", g.gl_pathv[i], capture_text(&c));
        ir_script_free(s);
        capture_close(&c);
    }
    globfree(&g);
}

Test(parser, statements_keep_their_keyword_structure)
{
    diag_capture c;
    capture_open(&c);
    int errors;
    ast_file *f = parse_string(&c,
                               "add dense \"fc3\" from \"a\", \"b\" { n_out = 2 * h  activation = relu }\n"
                               "remove \"p\" keep connections; remove last 2\n"
                               "narrow \"fc2\" drop [3, 17, 42]\n"
                               "resize \"fc3\" n_in 1024 { init = xavier }\n"
                               "fit train iterations 30\n"
                               "featurize train into \"cache/x\"\n"
                               "expect accuracy(test) >= 0.75\n"
                               "freeze through \"fc2\"\n",
                               &errors);
    cr_assert_eq(errors, 0, "%s", capture_text(&c));
    cr_assert_eq(f->n_stmts, 9);
    ast_stmt **s = f->stmts;
    cr_assert_eq(s[0]->kind, IR_ADD);
    cr_assert_str_eq(s[0]->type.s, "dense");
    cr_assert_str_eq(s[0]->name.s, "fc3");
    cr_assert_eq(s[0]->names.n, 2);
    cr_assert_str_eq(s[0]->names.v[1].s, "b");
    cr_assert_eq(s[0]->names.v[1].loc.col, 27);
    cr_assert_eq(s[0]->names.v[1].loc.len, 3);
    cr_assert_eq(s[0]->block->pairs.n, 2);
    cr_assert_str_eq(s[0]->block->pairs.v[0].name, "n_out");
    const ast_expr *e = s[0]->block->pairs.v[0].value;
    cr_assert_eq(e->kind, AX_BINOP);
    cr_assert_eq(e->op, '*');
    cr_assert_eq(e->rhs->kind, AX_IDENT);
    cr_assert_eq(s[0]->block->pairs.v[1].value->kind, AX_IDENT);
    cr_assert_eq(s[1]->kind, IR_REMOVE);
    cr_assert(s[1]->flags & IRF_KEEP_CONNECTIONS);
    cr_assert_eq(s[2]->kind, IR_REMOVE_LAST);
    cr_assert_str_eq(s[2]->count->text, "2");
    cr_assert_eq(s[2]->loc.line, 2);
    cr_assert_eq(s[3]->kind, IR_NARROW);
    cr_assert(s[3]->flags & IRF_DROP);
    cr_assert_eq(s[3]->value->kind, AX_LIST);
    cr_assert_eq(s[3]->value->args.n, 3);
    cr_assert_eq(s[4]->kind, IR_RESIZE);
    cr_assert(s[4]->flags & IRF_N_IN);
    cr_assert_eq(s[5]->kind, IR_FIT);
    cr_assert(s[5]->flags & IRF_ITERATIONS);
    cr_assert_eq(s[6]->kind, IR_FEATURIZE);
    cr_assert(s[6]->flags & IRF_HAS_INTO);
    cr_assert_str_eq(s[6]->name2.s, "cache/x");
    cr_assert_eq(s[7]->kind, IR_EXPECT);
    cr_assert_str_eq(s[7]->metric.s, "accuracy");
    cr_assert_str_eq(s[7]->name.s, "test");
    cr_assert_eq(s[7]->cmp, CMP_GE);
    cr_assert_eq(s[8]->kind, IR_FREEZE_THROUGH);
    ast_file_free(f);
    capture_close(&c);
}

Test(parser, keywords_serve_as_identifiers_where_a_word_is_expected)
{
    diag_capture c;
    capture_open(&c);
    int errors;
    ast_file *f = parse_string(&c,
                               "add output \"o\" from \"h\" { loss = mcxent  weight_init = relu  last = 3 }\n"
                               "data output = csv(\"x.csv\", last = 4, first = 0)\n"
                               "fit output epochs 1\n"
                               "set \"o\" { bias_updater = sgd(learning_rate = 1e-3)  n_out = 2 }\n",
                               &errors);
    cr_assert_eq(errors, 0, "%s", capture_text(&c));
    cr_assert_eq(f->n_stmts, 4);
    cr_assert_str_eq(f->stmts[0]->type.s, "output");
    cr_assert_str_eq(f->stmts[0]->block->pairs.v[2].name, "last");
    cr_assert_str_eq(f->stmts[1]->name.s, "output");
    cr_assert_str_eq(f->stmts[1]->value->args.v[1].name, "last");
    cr_assert_str_eq(f->stmts[2]->name.s, "output");
    ast_file_free(f);
    capture_close(&c);
}

Test(parser, strings_numbers_and_comments)
{
    diag_capture c;
    capture_open(&c);
    int errors;
    ast_file *f = parse_string(&c,
                               "# header comment\n"
                               "save \"a\\\"b\\\\c\\nd\\te\"   # trailing\n"
                               "fit d epochs 1.5E+3 ; fit d epochs 5e-5\n",
                               &errors);
    cr_assert_eq(errors, 0, "%s", capture_text(&c));
    cr_assert_str_eq(f->stmts[0]->name.s, "a\"b\\c\nd\te");
    cr_assert_str_eq(f->stmts[1]->count->text, "1.5E+3");
    cr_assert_float_eq(f->stmts[1]->count->num, 1500.0, 1e-9);
    cr_assert_float_eq(f->stmts[2]->count->num, 5e-5, 1e-12);
    cr_assert_eq(f->n_comments, 2);
    cr_assert(f->comments[0].own_line);
    cr_assert_eq(f->comments[1].line, 2);
    cr_assert(!f->comments[1].own_line);
    cr_assert_str_eq(f->comments[1].text, "# trailing");
    ast_file_free(f);
    capture_close(&c);
}

Test(parser, error_recovery_reports_several_errors)
{
    diag_capture c;
    capture_open(&c);
    int errors;
    ast_file *f = parse_string(&c,
                               "base \"m.yaml\"\n"
                               "remvoe \"x\"\n"
                               "add dense \"a\" form \"b\" { n_out = 3 }\n"
                               "set \"a\" {\n"
                               "  l2 = = 3\n"
                               "  dropout = 0.5\n"
                               "}\n"
                               "save \"unterminated\n"
                               "fit train epochs 3\n",
                               &errors);
    cr_assert_eq(errors, 4, "%s", capture_text(&c));
    const char *out = capture_text(&c);
    cr_assert(strstr(out, "t.surgery:2:1: error: unknown statement 'remvoe' (did you mean 'remove'?)"), "%s", out);
    cr_assert(strstr(out, "t.surgery:3:15: error: expected 'from', found identifier 'form'"), "%s", out);
    cr_assert(strstr(out, "t.surgery:5:8: error: expected a value, found '='"), "%s", out);
    cr_assert(strstr(out, "t.surgery:8:6: error: unterminated string"), "%s", out);
    /* the statements around the errors still parsed */
    cr_assert_eq(f->stmts[0]->kind, IR_BASE);
    cr_assert_eq(f->stmts[f->n_stmts - 1]->kind, IR_FIT);
    ast_file_free(f);
    capture_close(&c);
}

Test(parser, unclosed_brackets_end_at_the_next_statement)
{
    diag_capture c;
    capture_open(&c);
    int errors;
    ast_file *f = parse_string(&c,
                               "add dense \"a\" from \"b\" {\n"
                               "  n_out = 3\n"
                               "fit train epochs 3\n"
                               "data t = csv(\"t.csv\" { classes = 2 }\n"
                               "evaluate t\n",
                               &errors);
    cr_assert_eq(errors, 2, "%s", capture_text(&c));
    cr_assert(strstr(capture_text(&c), "t.surgery:1:24: error: unclosed '{'"), "%s", capture_text(&c));
    cr_assert(strstr(capture_text(&c), "t.surgery:4:13: error: unclosed '('"), "%s", capture_text(&c));
    cr_assert_eq(f->n_stmts, 4);
    cr_assert_eq(f->stmts[1]->kind, IR_FIT);
    cr_assert_eq(f->stmts[3]->kind, IR_EVALUATE);
    ast_file_free(f);
    capture_close(&c);
}

Test(parser, deep_nesting_is_refused_without_crashing)
{
    diag_capture c;
    capture_open(&c);
    size_t n = 20000;
    char *text = malloc(2 * n + 64);
    strcpy(text, "param x = ");
    size_t o = strlen(text);
    for (size_t i = 0; i < n; i++)
        text[o++] = '(';
    text[o++] = '1';
    for (size_t i = 0; i < n; i++)
        text[o++] = ')';
    strcpy(text + o, "\nparam y = 1");
    int errors;
    ast_file *f = parse_text("t.surgery", text, strlen(text), c.d, &errors);
    cr_assert_gt(errors, 0);
    ast_file_free(f);
    free(text);
    capture_close(&c);
}

Test(parser, lowering_evaluates_parameters_and_overrides)
{
    diag_capture c;
    capture_open(&c);
    param_override sets[] = {{"hidden", "64"}, {"act", "tanh"}};
    ir_script *s = NULL;
    int st = frontend_compile("tests/scripts/expressions.surgery", sets, 2, c.d, &s);
    cr_assert_eq(st, FE_OK, "%s", capture_text(&c));
    const ir_stmt *width = NULL, *fc_a = NULL, *fit = NULL, *fc_c = NULL;
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *x = &s->stmts[i];
        if (x->kind == IR_PARAM && !strcmp(x->name, "width"))
            width = x;
        if (x->kind == IR_ADD && !strcmp(x->name, "fc_a"))
            fc_a = x;
        if (x->kind == IR_ADD && !strcmp(x->name, "fc_c"))
            fc_c = x;
        if (x->kind == IR_FIT)
            fit = x;
    }
    cr_assert(width && fc_a && fit && fc_c);
    cr_assert_eq(width->value->kind, CV_NUM);
    cr_assert_float_eq(width->value->num, 2 * 64 + 16, 1e-9);
    const conf_arg *n_out = ir_opt(fc_a, "n_out");
    cr_assert(n_out);
    cr_assert_float_eq(n_out->value->num, 144, 1e-9);
    const conf_arg *act = ir_opt(fc_a, "activation");
    cr_assert_eq(act->value->kind, CV_IDENT);
    cr_assert_str_eq(act->value->str, "tanh");
    cr_assert_float_eq(ir_opt(fc_a, "dropout")->value->num, 0.25, 1e-12);
    cr_assert_float_eq(ir_opt(fc_c, "n_out")->value->num, 500, 1e-9);
    cr_assert_eq(ir_opt(fc_c, "bias_updater")->value->kind, CV_CALL);
    cr_assert_eq(fit->count, 1);
    cr_assert_eq(fc_a->loc.line, 11);
    cr_assert_str_eq(fc_a->loc.file, "tests/scripts/expressions.surgery");
    ir_script_free(s);
    capture_close(&c);
}

Test(parser, fit_takes_checkpoint_options)
{
    diag_capture c;
    capture_open(&c);
    test_make_dir(tmp_dir, sizeof tmp_dir, "parser");
    char *path = write_tmp("fit.surgery",
                           "base \"m.yaml\"\nparam k = 3\ndata d = csv(\"x.csv\")\n"
                           "fit d epochs 9 { checkpoint = \"ck/\"  every = k }\n"
                           "fit d iterations 40\n");
    ir_script *s = NULL;
    int st = frontend_compile(path, NULL, 0, c.d, &s);
    cr_assert_eq(st, FE_OK, "%s", capture_text(&c));
    const ir_stmt *fit = &s->stmts[3], *plain = &s->stmts[4];
    cr_assert_eq(fit->kind, IR_FIT);
    cr_assert_eq(fit->count, 9);
    cr_assert_str_eq(ir_opt(fit, "checkpoint")->value->str, "ck/");
    cr_assert_float_eq(ir_opt(fit, "every")->value->num, 3, 1e-12);
    cr_assert_eq(fit->opts_loc.line, 4);
    cr_assert_eq(fit->opts_loc.col, 16);
    cr_assert_eq(plain->n_opts, 0);
    cr_assert(plain->flags & IRF_ITERATIONS);
    ir_script_free(s);
    free(path);
    test_remove_dir(tmp_dir);
    capture_close(&c);
}

Test(parser, includes_are_spliced_in_order)
{
    diag_capture c;
    capture_open(&c);
    ir_script *s = NULL;
    int st = frontend_compile("tests/scripts/header.surgery", NULL, 0, c.d, &s);
    cr_assert_eq(st, FE_OK, "%s", capture_text(&c));
    cr_assert_eq(s->n_files, 2);
    cr_assert_str_eq(s->files[1], "tests/scripts/common/finetune.surgery");
    cr_assert_eq(s->stmts[s->n_stmts - 1].kind, IR_FINE_TUNE);
    cr_assert_str_eq(s->stmts[s->n_stmts - 1].loc.file, "tests/scripts/common/finetune.surgery");
    cr_assert_eq(s->stmts[s->n_stmts - 2].kind, IR_PARAM);
    cr_assert_str_eq(s->stmts[s->n_stmts - 2].name, "hidden");
    ir_script_free(s);
    capture_close(&c);
}

Test(parser, include_cycles_name_the_chain)
{
    test_make_dir(tmp_dir, sizeof tmp_dir, "parser");
    char *a = write_tmp("a.surgery", "base \"m.yaml\"\ninclude \"sub/b.surgery\"\n");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s/sub", tmp_dir);
    cr_assert_eq(mkdir(cmd, 0700), 0);
    char *b = write_tmp("sub/b.surgery", "param x = 1\n\ninclude \"../a.surgery\"\n");
    diag_capture c;
    capture_open(&c);
    ir_script *s = NULL;
    cr_assert_eq(frontend_compile(a, NULL, 0, c.d, &s), FE_SCRIPT_ERRORS);
    cr_assert_null(s);
    char want[512];
    snprintf(want, sizeof want, "%s/sub/b.surgery:3:9: error: include cycle: %s/a.surgery -> %s/sub/b.surgery -> %s/a.surgery",
             tmp_dir, tmp_dir, tmp_dir, tmp_dir);
    cr_assert(strstr(capture_text(&c), want), "%s\nwanted: %s", capture_text(&c), want);
    cr_assert_eq(diag_error_count(c.d), 1);
    capture_close(&c);
    free(a);
    free(b);
    test_remove_dir(tmp_dir);
}

Test(parser, missing_include_is_reported_at_the_include_line)
{
    test_make_dir(tmp_dir, sizeof tmp_dir, "parser");
    char *a = write_tmp("a.surgery", "base \"m.yaml\"\ninclude \"nope.surgery\"\n");
    diag_capture c;
    capture_open(&c);
    ir_script *s = NULL;
    cr_assert_eq(frontend_compile(a, NULL, 0, c.d, &s), FE_SCRIPT_ERRORS);
    cr_assert(strstr(capture_text(&c), "a.surgery:2:9: error: cannot read '"), "%s", capture_text(&c));
    capture_close(&c);
    free(a);
    test_remove_dir(tmp_dir);
}

Test(parser, parameter_errors)
{
    test_make_dir(tmp_dir, sizeof tmp_dir, "parser");
    char *a = write_tmp("a.surgery",
                        "base \"m.yaml\"\n"
                        "param hidden = 4\n"
                        "param zero = 0\n"
                        "add dense \"x\" from \"in\" { n_out = hiden * 2 }\n"
                        "add dense \"y\" from \"x\" { n_out = hidden / zero }\n"
                        "add dense \"z\" from \"y\" { n_out = later }\n"
                        "param later = 3\n");
    diag_capture c;
    capture_open(&c);
    ir_script *s = NULL;
    cr_assert_eq(frontend_compile(a, NULL, 0, c.d, &s), FE_SCRIPT_ERRORS);
    const char *out = capture_text(&c);
    cr_assert(strstr(out, "undefined parameter 'hiden' (did you mean 'hidden'?)"), "%s", out);
    cr_assert(strstr(out, "a.surgery:5:43: error: division by zero"), "%s", out);
    cr_assert(strstr(out, "parameter 'later' is used before its definition"), "%s", out);
    cr_assert(strstr(out, "note: 'later' is defined here"), "%s", out);
    cr_assert_eq(diag_error_count(c.d), 3);
    capture_close(&c);
    free(a);
    test_remove_dir(tmp_dir);
}

Test(parser, unknown_set_key_is_a_usage_error)
{
    diag_capture c;
    capture_open(&c);
    param_override sets[] = {{"hiden", "3"}};
    ir_script *s = NULL;
    cr_assert_eq(frontend_compile("tests/scripts/expressions.surgery", sets, 1, c.d, &s), FE_USAGE);
    cr_assert_null(s);
    cr_assert_str_eq(capture_text(&c), "surgery: error: --set: unknown parameter 'hiden' (did you mean 'hidden'?)\n");
    capture_close(&c);
}

Test(parser, unreadable_script_is_a_usage_error)
{
    diag_capture c;
    capture_open(&c);
    ir_script *s = NULL;
    cr_assert_eq(frontend_compile("tests/scripts/no_such.surgery", NULL, 0, c.d, &s), FE_USAGE);
    cr_assert(strstr(capture_text(&c), "surgery: error: cannot read 'tests/scripts/no_such.surgery'"));
    capture_close(&c);
}

/* Formats text (as a file) and returns the result (NULL on syntax errors). */
static char *fmt_text(const char *text)
{
    diag_capture c;
    capture_open(&c);
    int errors;
    ast_file *f = parse_text("f.surgery", text, strlen(text), c.d, &errors);
    char *out = errors ? NULL : format_ast(f);
    ast_file_free(f);
    capture_close(&c);
    return out;
}

static int count_char(const char *s, char ch)
{
    int n = 0;
    for (; *s; s++)
        n += *s == ch;
    return n;
}

Test(fmt, idempotent_on_every_script_and_keeps_comments)
{
    glob_t g = script_paths();
    for (size_t i = 0; i < g.gl_pathc; i++) {
        diag_capture c;
        capture_open(&c);
        char *once = NULL;
        cr_assert_eq(format_script(g.gl_pathv[i], c.d, &once), FE_OK, "%s", capture_text(&c));
        char *twice = fmt_text(once);
        cr_assert(twice, "formatted %s does not parse:\n%s", g.gl_pathv[i], once);
        cr_assert_str_eq(once, twice, "%s", g.gl_pathv[i]);
        size_t len;
        char *orig = parse_read_file(g.gl_pathv[i], &len);
        cr_assert_eq(count_char(orig, '#'), count_char(once, '#'), "%s lost a comment:\n%s", g.gl_pathv[i], once);
        free(orig);
        free(once);
        free(twice);
        capture_close(&c);
    }
    globfree(&g);
}

Test(fmt, canonical_layout)
{
    char *out = fmt_text("# lead\n"
                         "base   \"m.yaml\"   # the model\n"
                         "\n\n\n"
                         "add dense \"a\" from \"in\",\"x\" {n_out=2*h,activation=relu;dropout=0.5}\n"
                         "fit   t epochs 1.5E+3;evaluate t # both\n"
                         "set \"a\" {\n"
                         "  # own line\n"
                         "  l2 = 1e-4   # why\n"
                         "\n"
                         "  l1 = 0 }\n"
                         "data train = csv(\"a/very/long/path/to/the/training/data.csv\", labels = \"x\") { classes = 3  batch = 32 }\n"
                         "narrow \"a\" drop [ 1,2 , 3 ]\n"
                         "expect accuracy( t ) >= -x\n");
    cr_assert(out);
    cr_assert_str_eq(out,
                     "# lead\n"
                     "base \"m.yaml\"  # the model\n"
                     "\n"
                     "add dense \"a\" from \"in\", \"x\" { n_out = 2 * h  activation = relu  dropout = 0.5 }\n"
                     "fit t epochs 1.5E+3\n"
                     "evaluate t  # both\n"
                     "set \"a\" {\n"
                     "  # own line\n"
                     "  l2 = 1e-4  # why\n"
                     "\n"
                     "  l1 = 0\n"
                     "}\n"
                     "data train = csv(\"a/very/long/path/to/the/training/data.csv\", labels = \"x\") {\n"
                     "  classes = 3\n"
                     "  batch = 32\n"
                     "}\n"
                     "narrow \"a\" drop [1, 2, 3]\n"
                     "expect accuracy(t) >= -x\n");
    char *again = fmt_text(out);
    cr_assert_str_eq(again, out);
    free(again);
    free(out);
}

Test(fmt, trailing_comments_of_neighbouring_lines_share_a_column)
{
    /* a comment line under a trailing comment, in its column, continues it */
    char *out = fmt_text("remove output # a\nremove last 2 # b\n              # b continued\n# own\nsave \"x\"\n");
    cr_assert_str_eq(out, "remove output  # a\n"
                          "remove last 2  # b\n"
                          "               # b continued\n"
                          "# own\n"
                          "save \"x\"\n");
    char *again = fmt_text(out);
    cr_assert_str_eq(again, out);
    free(again);
    free(out);
}

Test(fmt, syntax_errors_are_reported_not_formatted)
{
    test_make_dir(tmp_dir, sizeof tmp_dir, "parser");
    char *p = write_tmp("bad.surgery", "base \"m.yaml\"\nremvoe \"x\"\n");
    diag_capture c;
    capture_open(&c);
    char *text = NULL;
    cr_assert_eq(format_script(p, c.d, &text), FE_SCRIPT_ERRORS);
    cr_assert_null(text);
    cr_assert_eq(diag_error_count(c.d), 1);
    capture_close(&c);
    free(p);
    test_remove_dir(tmp_dir);
}

Test(diag, format_with_source_line_caret_and_notes)
{
    diag_capture c;
    capture_open(&c);
    const char *path = diag_intern_path(c.d, "x.surgery");
    const char *text = "base \"m.yaml\"\n\tadd dense \"fc\" from \"in\"\n";
    diag_set_text(c.d, path, text, strlen(text));
    src_loc at = {path, 2, 6, 5};
    diag_error(c.d, at, "unknown layer type '%s'", "dense");
    src_loc first = {path, 1, 6, 8};
    diag_note(c.d, first, "base here");
    diag_error(c.d, loc_none(), "plain");
    src_loc file_only = {path, 0, 0, 0};
    diag_warning(c.d, file_only, "whole file");
    cr_assert_str_eq(capture_text(&c),
                     "x.surgery:2:6: error: unknown layer type 'dense'\n"
                     "    2 | \tadd dense \"fc\" from \"in\"\n"
                     "      | \t    ^~~~~\n"
                     "x.surgery:1:6: note: base here\n"
                     "    1 | base \"m.yaml\"\n"
                     "      |      ^~~~~~~~\n"
                     "surgery: error: plain\n"
                     "x.surgery: warning: whole file\n");
    cr_assert_eq(diag_error_count(c.d), 2);
    cr_assert_eq(diag_warning_count(c.d), 1);
    capture_close(&c);
}

Test(diag, colour_when_asked)
{
    diag_capture c;
    memset(&c, 0, sizeof c);
    c.fp = open_memstream(&c.buf, &c.len);
    c.d = diag_new(c.fp, DIAG_COLOR_ALWAYS);
    diag_error(c.d, loc_none(), "x");
    cr_assert(strstr(capture_text(&c), "\033[1;31merror:"), "%s", capture_text(&c));
    capture_close(&c);
}

Test(diag, edit_distance_and_suggestions)
{
    cr_assert_eq(diag_edit_distance("", "abc"), 3);
    cr_assert_eq(diag_edit_distance("kitten", "sitting"), 3);
    cr_assert_eq(diag_edit_distance("form", "from"), 1);
    cr_assert_eq(diag_edit_distance("same", "same"), 0);
    const char *const words[] = {"remove", "rename", "replace", "resize"};
    cr_assert_str_eq(diag_suggest("remvoe", words, 4), "remove");
    cr_assert_str_eq(diag_suggest("resise", words, 4), "resize");
    cr_assert_null(diag_suggest("zzz", words, 4));
    cr_assert_null(diag_suggest("x", words, 4));
}

Test(parser, join_paths)
{
    char *p = script_join_path("tests/golden/include/b.surgery", "../a.surgery");
    cr_assert_str_eq(p, "tests/golden/a.surgery");
    free(p);
    p = script_join_path("a.surgery", "./common//x.surgery");
    cr_assert_str_eq(p, "common/x.surgery");
    free(p);
    p = script_join_path("a.surgery", "../../x.surgery");
    cr_assert_str_eq(p, "../../x.surgery");
    free(p);
    p = script_join_path("/srv/a/b.surgery", "../../../x.surgery");
    cr_assert_str_eq(p, "/x.surgery");
    free(p);
    p = script_join_path("d/b.surgery", "/abs/x.surgery");
    cr_assert_str_eq(p, "/abs/x.surgery");
    free(p);
}

Test(parser, every_byte_value_in_every_context)
{
    /* each byte value after a word, inside a string, a comment, a number and a block */
    static const char *const prefixes[] = {"", "base", "base \"", "# c", "fit d epochs 1", "set \"x\" { a = ", "\xd3\xd3"};
    FILE *sink = fopen("/dev/null", "w");
    cr_assert(sink);
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++)
        for (int b = 0; b < 256; b++) {
            char text[64];
            size_t n = strlen(prefixes[p]);
            memcpy(text, prefixes[p], n);
            text[n] = (char)b;
            memcpy(text + n + 1, "\xff\xfe x }\n", 7);
            diag_ctx *d = diag_new(sink, DIAG_COLOR_NEVER);
            int errors;
            ast_file *f = parse_text("b.surgery", text, n + 8, d, &errors);
            cr_assert(f);
            cr_assert_eq(errors, diag_error_count(d));
            ast_file_free(f);
            diag_free(d);
        }
    fclose(sink);
}
