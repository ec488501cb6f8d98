/* test_limits.c: every reader's limits (runtime/base/limits.h), each passed by an input
 * generated here: deep and large YAML (model and IR), too many layers, long scalars, scripts
 * too large, includes too deep or too many, tensors beyond the element limit in a model and
 * after an edit, CSV lines and records; and check's memory independent of the layer sizes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/check.h"
#include "compiler/frontend.h"
#include "runtime/base/diag.h"
#include "runtime/base/limits.h"
#include "runtime/data/data_impl.h"
#include "runtime/formats/format.h"
#include "runtime/script/ir.h"
#include "tests/unit/test_support.h"

static char dir[64];

static void make_dir(void)
{
    test_make_dir(dir, sizeof dir, "limits");
}

static void remove_dir(void)
{
    test_remove_dir(dir);
}

/* dir/name, in a static buffer of its own per call site (two at a time). */
static const char *at(const char *name)
{
    static char paths[2][256];
    static int k;
    k ^= 1;
    snprintf(paths[k], sizeof paths[k], "%s/%s", dir, name);
    return paths[k];
}

static FILE *create(const char *name)
{
    FILE *f = fopen(at(name), "w");
    cr_assert(f, "cannot create %s", name);
    return f;
}

static void write_text(const char *name, const char *text)
{
    test_write_file(at(name), text);
}

/* head, then a list nested 100,000 deep: `[[[...]]]`. */
static void write_deep(const char *name, const char *head)
{
    FILE *f = create(name);
    fputs(head, f);
    for (int i = 0; i < 100000; i++)
        fputc('[', f);
    for (int i = 0; i < 100000; i++)
        fputc(']', f);
    fputc('\n', f);
    fclose(f);
}

static const char *const small_model =
    "format: surgery-model/1\n"
    "inputs:\n"
    "  - {name: in, type: feed_forward, size: 6}\n"
    "layers:\n"
    "  - {name: fc1, type: dense, n_out: 8}\n"
    "  - {name: fc2, type: dense, n_out: 5}\n"
    "  - {name: out, type: output, n_out: 3, activation: softmax, loss: mcxent}\n"
    "outputs: [out]\n";

/* Loads dir/name as a model (architecture only): the model or NULL, the messages in c. */
static model *load_model(diag_capture *c, const char *name)
{
    return model_load(at(name), false, c->d);
}

/* Compiles and checks dir/name against its base: the number of errors (usage counts 1). */
static int check_script(diag_capture *c, const char *name)
{
    ir_script *s = NULL;
    int fe = frontend_compile(at(name), NULL, 0, c->d, &s);
    int errors = fe != FE_OK ? 1 : check_script_model(s, c->d, NULL);
    ir_script_free(s);
    return errors;
}

/* Loading dir/name as a model fails, saying what (a part of the messages). */
static void assert_model_refused(const char *name, const char *what)
{
    diag_capture c;
    capture_open(&c);
    cr_assert_null(load_model(&c, name));
    cr_assert(strstr(capture_text(&c), what), "%s", capture_text(&c));
    capture_close(&c);
}

/* Checking the script dir/name finds errors, one of them saying what. */
static void assert_check_fails(const char *name, const char *what)
{
    diag_capture c;
    capture_open(&c);
    cr_assert_gt(check_script(&c, name), 0);
    cr_assert(strstr(capture_text(&c), what), "%s", capture_text(&c));
    capture_close(&c);
}

TestSuite(limits, .init = make_dir, .fini = remove_dir);

Test(limits, deep_model_yaml_is_refused_at_its_place)
{
    write_deep("deep.yaml", "format: surgery-model/1\nname: ");
    /* the mapping is level 1: the 64th '[' (column 70) opens level 65 */
    assert_model_refused("deep.yaml", "deep.yaml:2:70: error: YAML nested deeper than 64 levels");
}

Test(limits, deep_block_nesting_is_refused_too)
{
    FILE *f = create("block.yaml");
    fputs("format: surgery-model/1\nname:\n", f);
    for (int i = 0; i < 70; i++)
        fprintf(f, "%*s-\n", 2 * i, "");
    fclose(f);
    assert_model_refused("block.yaml", "error: YAML nested deeper than 64 levels");
}

Test(limits, long_scalar_is_refused)
{
    FILE *f = create("long.yaml");
    fputs("format: surgery-model/1\nname: ", f);
    for (int i = 0; i < LIMIT_YAML_SCALAR_BYTES + 1; i++)
        fputc('a', f);
    fputc('\n', f);
    fclose(f);
    assert_model_refused("long.yaml",
                         "long.yaml:2:7: error: a YAML scalar of 65537 bytes, over the "
                         "limit of 65536 bytes");
}

Test(limits, model_file_larger_than_the_limit_is_refused)
{
    FILE *f = create("big.yaml");
    fputs("format: surgery-model/1\n#", f);
    char spaces[4096];
    memset(spaces, ' ', sizeof spaces);
    for (long n = 0; n <= LIMIT_YAML_BYTES; n += (long)sizeof spaces)
        fwrite(spaces, 1, sizeof spaces, f);
    fclose(f);
    assert_model_refused("big.yaml",
                         "big.yaml: error: the file is larger than 64 MiB (the limit on "
                         "a model YAML)");
}

Test(limits, too_many_layers_are_refused)
{
    FILE *f = create("many.yaml");
    fputs("format: surgery-model/1\ninputs:\n  - {name: in, type: feed_forward, size: 1}\n"
          "layers:\n", f);
    for (int i = 0; i <= LIMIT_MODEL_LAYERS; i++)
        fputs("  - {type: dropout}\n", f);
    fputs("outputs: [x]\n", f);
    fclose(f);
    assert_model_refused("many.yaml",
                         "many.yaml:5:3: error: more than 100000 layers (the limit on a "
                         "model's layers)");
}

Test(limits, parameter_beyond_the_element_limit_in_a_model)
{
    write_text("huge.yaml", "format: surgery-model/1\n"
                            "inputs:\n"
                            "  - {name: in, type: feed_forward, size: 6}\n"
                            "layers:\n"
                            "  - {name: fc1, type: dense, n_out: 1000000000000}\n"
                            "  - {name: out, type: output, n_out: 3, loss: mcxent}\n"
                            "outputs: [out]\n");
    diag_capture c;
    capture_open(&c);
    cr_assert_null(model_load(at("huge.yaml"), true, c.d));
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "huge.yaml:5:12: error: layer 'fc1' would have a parameter 'W' of 6 x "
                        "1000000000000 elements, over the limit of 2147483648 elements per tensor"),
              "%s", t);
    cr_assert_not(diag_saw_oom(c.d));
    capture_close(&c);
}

Test(limits, widen_beyond_the_limit_is_a_check_error_at_its_count)
{
    write_text("m.yaml", small_model);
    write_text("w.surgery", "base \"m.yaml\"\nwiden \"fc1\" to 100000000000\n");
    assert_check_fails("w.surgery",
                       "w.surgery:2:16: error: widening 'fc1' to 100000000000 units "
                       "passes the limit of 2147483648 elements per tensor");
}

Test(limits, widen_whose_weights_pass_the_limit_is_blamed_on_the_widen)
{
    write_text("m.yaml", small_model);
    write_text("w.surgery", "base \"m.yaml\"\nwiden \"fc1\" to 1000000000\n");
    diag_capture c;
    capture_open(&c);
    cr_assert_gt(check_script(&c, "w.surgery"), 0);
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "w.surgery:2:1: error: 'fc1' would have a parameter 'W' of 6 x "
                        "1000000000 elements"), "%s", t);
    cr_assert(strstr(t, "w.surgery:2:1: error: 'fc2' would have a parameter 'W' of "
                        "1000000000 x 5 elements"), "%s", t);
    capture_close(&c);
}

/* Check applies edits to shapes alone: widening and narrowing a layer to hundreds of millions
 * of units (under the limit) keeps the process's peak memory small. */
Test(limits, check_memory_does_not_follow_layer_sizes)
{
    write_text("m.yaml", small_model);
    write_text("w.surgery", "base \"m.yaml\"\n"
                            "widen \"fc1\" to 300000000\n"
                            "narrow \"fc1\" drop [0, 5, 7]\n"
                            "narrow \"fc1\" to 200000000\n"
                            "widen \"out\" to 400000000\n");
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(check_script(&c, "w.surgery"), 0, "%s", capture_text(&c));
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    cr_assert_lt(ru.ru_maxrss, 400 * 1024, "peak %ld KB", ru.ru_maxrss);
    capture_close(&c);
}

Test(limits, narrow_drop_on_shapes_alone_still_checks_the_units)
{
    write_text("m.yaml", small_model);
    write_text("n.surgery", "base \"m.yaml\"\nnarrow \"fc1\" drop [3, 9]\n"
                            "narrow \"fc2\" drop [0, 1, 2, 3, 4]\nnarrow \"out\" drop [2, 0]\n");
    diag_capture c;
    capture_open(&c);
    cr_assert_eq(check_script(&c, "n.surgery"), 2, "%s", capture_text(&c));
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "n.surgery:2:19: error: unit 9 is out of range: 'fc1' has 8 units (0..7)"),
              "%s", t);
    cr_assert(strstr(t, "n.surgery:3:19: error: narrow would drop every unit of 'fc2' (it has 5)"),
              "%s", t);
    capture_close(&c);
}

Test(limits, deep_ir_yaml_is_refused)
{
    write_deep("deep.ir.yaml", "format: surgery-ir/1\nstatements: ");
    diag_capture c;
    capture_open(&c);
    cr_assert_null(ir_load_yaml(at("deep.ir.yaml"), c.d));
    const char *t = capture_text(&c);
    cr_assert(strstr(t, "deep.ir.yaml:2:76: error: YAML nested deeper than 64 levels"), "%s", t);
    capture_close(&c);
}

Test(limits, script_larger_than_the_limit_is_refused)
{
    FILE *f = create("big.surgery");
    char line[4096];
    memset(line, ' ', sizeof line);
    line[0] = '#';
    line[sizeof line - 1] = '\n';
    for (long n = 0; n <= LIMIT_SCRIPT_BYTES; n += (long)sizeof line)
        fwrite(line, 1, sizeof line, f);
    fclose(f);
    assert_check_fails("big.surgery",
                       "big.surgery: error: the script is larger than 16 MiB (the "
                       "limit on a script file)");
}

Test(limits, deep_expression_is_reported_once)
{
    FILE *f = create("deep.surgery");
    fputs("param x = ", f);
    for (int i = 0; i < 5000; i++)
        fputc('(', f);
    fputc('1', f);
    for (int i = 0; i < 5000; i++)
        fputc(')', f);
    fputc('\n', f);
    fclose(f);
    diag_capture c;
    capture_open(&c);
    cr_assert_gt(check_script(&c, "deep.surgery"), 0);
    const char *t = capture_text(&c);
    const char *first = strstr(t, "error: expression nested too deeply (more than 64 levels)");
    cr_assert(first, "%s", t);
    cr_assert_null(strstr(first + 20, "nested too deeply"), "%s", t);
    capture_close(&c);
}

Test(limits, include_chain_deeper_than_the_limit)
{
    for (int i = 0; i <= LIMIT_INCLUDE_DEPTH + 1; i++) {
        char name[32], text[64];
        snprintf(name, sizeof name, "i%d.surgery", i);
        snprintf(text, sizeof text, "include \"i%d.surgery\"\n", i + 1);
        write_text(name, text);
    }
    assert_check_fails("i0.surgery",
                       "i32.surgery:1:9: error: includes nested deeper than 32 files");
}

/* A diamond of includes: each level includes the next twice, 2^12 paths in all. */
Test(limits, included_files_beyond_the_limit)
{
    for (int i = 0; i < 12; i++) {
        char name[32], text[96];
        snprintf(name, sizeof name, "d%d.surgery", i);
        snprintf(text, sizeof text, "include \"d%d.surgery\"\ninclude \"d%d.surgery\"\n", i + 1,
                 i + 1);
        write_text(name, text);
    }
    write_text("d12.surgery", "param p = 1\n");
    diag_capture c;
    capture_open(&c);
    cr_assert_gt(check_script(&c, "d0.surgery"), 0);
    const char *t = capture_text(&c);
    const char *hit = strstr(t, "error: more than 1000 included files");
    cr_assert(hit, "%s", t);
    cr_assert_null(strstr(hit + 20, "more than 1000 included files"), "said once: %s", t);
    capture_close(&c);
}

Test(limits, csv_line_longer_than_the_limit)
{
    FILE *f = create("long.csv");
    fputs("1,2\n", f);
    char zeros[4096];
    memset(zeros, '0', sizeof zeros);
    for (long n = 0; n <= LIMIT_CSV_LINE_BYTES; n += (long)sizeof zeros)
        fwrite(zeros, 1, sizeof zeros, f);
    fputs("\n3,4\n", f);
    fclose(f);
    f = fopen(at("long.csv"), "rb");
    cr_assert(f);
    char *buf = NULL;
    size_t cap = 0, len = 0;
    cr_assert_eq(csv_read_line(f, &buf, &cap, &len, NULL), 4);
    cr_assert_str_eq(buf, "1,2");
    errno = 0;
    cr_assert_eq(csv_read_line(f, &buf, &cap, &len, NULL), -1);
    cr_assert_eq(errno, EFBIG);
    cr_assert_leq(cap, (size_t)2 * LIMIT_CSV_LINE_BYTES);
    char msg[128];
    csv_read_problem(errno, msg, sizeof msg);
    cr_assert_str_eq(msg, "a line longer than 64 MiB (the limit on a CSV line)");
    free(buf);
    fclose(f);
}

Test(limits, csv_record_with_too_many_fields_is_a_check_error)
{
    write_text("m.yaml", small_model);
    FILE *f = create("wide.csv");
    for (int i = 0; i <= LIMIT_CSV_FIELDS; i++)
        fputs(i ? ",0" : "0", f);
    fputc('\n', f);
    fclose(f);
    write_text("d.surgery", "base \"m.yaml\"\ndata train = csv(\"wide.csv\") { classes = 3 }\n"
                            "fit train epochs 1\n");
    assert_check_fails("d.surgery",
                       "wide.csv:1:1: error: 1048577 fields, over the limit of 1048576 "
                       "fields in a CSV record");
}
