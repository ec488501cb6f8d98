/* test_mutation.c: thousands of byte-mutated versions of the test scripts (fixed seed) through
 * the front end: no crash or leak, errors reported whenever the parse fails, and every script
 * that parses formats to text that parses again and formats to itself. */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/ast.h"
#include "runtime/base/diag.h"
#include "compiler/frontend.h"
#include "compiler/parse.h"

#define VARIANTS_PER_SCRIPT 300

static uint64_t mut_state;

static uint64_t mut_next(void)
{
    uint64_t x = mut_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return mut_state = x;
}

static size_t mut_below(size_t n)
{
    return n ? (size_t)(mut_next() % n) : 0;
}

/* Bytes that matter to the scanner and parser, so mutations reach deep states. */
static char mut_byte(void)
{
    static const char interesting[] = "{}()[],;=+-*/<>\"\\#\n\t .0123456789eE_azA\r";
    if (mut_below(8) == 0)
        return (char)mut_below(256);
    return interesting[mut_below(sizeof interesting - 1)];
}

/* Applies 1 to 4 random edits to buf (len bytes, capacity cap); returns the new length. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
    int edits = 1 + (int)mut_below(4);
    for (int e = 0; e < edits; e++) {
        size_t at = mut_below(len + 1);
        switch (mut_below(5)) {
        case 0: /* replace */
            if (len)
                buf[mut_below(len)] = mut_byte();
            break;
        case 1: /* insert */
            if (len + 1 < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = mut_byte();
                len++;
            }
            break;
        case 2: { /* delete a run */
            size_t n = 1 + mut_below(16);
            if (at + n > len)
                n = len - at;
            memmove(buf + at, buf + at + n, len - at - n);
            len -= n;
            break;
        }
        case 3: { /* duplicate a run somewhere else */
            size_t from = mut_below(len + 1), n = 1 + mut_below(32);
            if (from + n > len)
                n = len - from;
            if (len + n < cap) {
                char tmp[32];
                memcpy(tmp, buf + from, n);
                memmove(buf + at + n, buf + at, len - at);
                memcpy(buf + at, tmp, n);
                len += n;
            }
            break;
        }
        default: /* cut the text short */
            if (mut_below(4) == 0)
                len = at;
            break;
        }
    }
    return len;
}

/* One variant through the front end. */
static void run_variant(const char *text, size_t len, FILE *sink)
{
    diag_ctx *d = diag_new(sink, DIAG_COLOR_NEVER);
    int errors = -1;
    ast_file *f = parse_text("m.surgery", text, len, d, &errors);
    cr_assert(f);
    cr_assert_eq(errors, diag_error_count(d));
    if (errors == 0) {
        script_file sf = {f, NULL};
        ir_script *s = NULL;
        int st = lower_script(&sf, NULL, 0, d, &s);
        if (st == FE_OK) {
            cr_assert(s);
            int before = diag_error_count(d);
            int n = sema_check(s, d);
            cr_assert_eq(n, diag_error_count(d) - before);
            ir_script_free(s);
        } else {
            cr_assert_null(s);
            cr_assert_gt(diag_error_count(d), 0, "lowering failed without an error");
        }
        char *once = format_ast(f);
        int again_errors = -1;
        diag_ctx *d2 = diag_new(sink, DIAG_COLOR_NEVER);
        ast_file *g = parse_text("f.surgery", once, strlen(once), d2, &again_errors);
        cr_assert_eq(again_errors, 0, "formatted text does not parse:\n%s\nfrom:\n%.*s", once, (int)len, text);
        char *twice = format_ast(g);
        cr_assert_str_eq(once, twice, "fmt is not idempotent; from:\n%.*s", (int)len, text);
        free(once);
        free(twice);
        ast_file_free(g);
        diag_free(d2);
    }
    ast_file_free(f);
    diag_free(d);
}

Test(mutation, mutated_scripts_never_crash_and_always_explain)
{
    glob_t g;
    cr_assert_eq(glob("tests/scripts/*.surgery", 0, NULL, &g), 0);
    glob("tests/golden/*.surgery", GLOB_APPEND, NULL, &g);
    FILE *sink = fopen("/dev/null", "w");
    cr_assert(sink);
    mut_state = 0x9E3779B97F4A7C15ull;
    int variants = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len;
        char *orig = parse_read_file(g.gl_pathv[i], &len);
        cr_assert(orig, "%s", g.gl_pathv[i]);
        size_t cap = 2 * len + 256;
        char *buf = malloc(cap);
        for (int v = 0; v < VARIANTS_PER_SCRIPT; v++) {
            memcpy(buf, orig, len);
            size_t n = mutate(buf, len, cap);
            run_variant(buf, n, sink);
            variants++;
        }
        free(buf);
        free(orig);
    }
    cr_assert_gt(variants, 2000);
    fclose(sink);
    globfree(&g);
}
