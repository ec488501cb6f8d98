/* data_fixture.h: what the data reader tests share: `data` statements built from text (source
 * call and "key = value" options), resolved against DIR "t.surgery" (DIR is tests/data/data/),
 * with diagnostics captured by tests/unit/test_support.h. Included by one test file each. */
#ifndef SURGERY_TEST_DATA_FIXTURE_H
#define SURGERY_TEST_DATA_FIXTURE_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/conf.h"
#include "runtime/base/diag.h"
#include "runtime/data/data.h"
#include "runtime/script/data_stmt.h"
#include "runtime/script/ir.h"
#include "tests/unit/test_support.h"

/* Ownership: a statement from mk_stmt is the caller's (free_stmt); expect_error frees the
 * statement it is given. */

#define DIR "tests/data/data/"

/* ---- data statements built from text: the source call and "key = value" options ---- */

/* The script the statements belong to (a test may point it elsewhere for a while). */
static const char *script_path = DIR "t.surgery";

static inline src_loc line_loc(int line, int col)
{
    src_loc l = {script_path, line, col, 1};
    return l;
}

/* data d = SOURCE { opts... }: the source on line 1, option i on line i + 2. */
static inline ir_stmt *mk_stmt(diag_capture *c, const char *source, ...)
{
    ir_stmt *st = calloc(1, sizeof *st);
    cr_assert(st);
    st->kind = IR_DATA;
    st->loc = line_loc(1, 1);
    st->name = strdup("d");
    st->value = conf_parse_text(source, line_loc(1, 10), c->d);
    cr_assert(st->value, "source '%s' does not parse: %s", source, capture_text(c));
    va_list ap;
    va_start(ap, source);
    const char *opt;
    while ((opt = va_arg(ap, const char *)) != NULL) {
        const char *eq = strchr(opt, '=');
        cr_assert(eq, "option '%s' needs key = value", opt);
        size_t kl = (size_t)(eq - opt);
        while (kl && opt[kl - 1] == ' ')
            kl--;
        st->opts = realloc(st->opts, (size_t)(st->n_opts + 1) * sizeof *st->opts);
        conf_arg *a = &st->opts[st->n_opts];
        a->name = strndup(opt, kl);
        a->name_loc = line_loc(st->n_opts + 2, 3);
        a->value = conf_parse_text(eq + 1, line_loc(st->n_opts + 2, (int)(eq - opt) + 2), c->d);
        cr_assert(a->value, "option '%s' does not parse: %s", opt, capture_text(c));
        st->n_opts++;
    }
    va_end(ap);
    return st;
}

static inline void free_stmt(ir_stmt *st)
{
    free(st->name);
    conf_value_free(st->value);
    conf_args_free(st->opts, st->n_opts);
    free(st);
}

/* Opens a dataset that must open cleanly. */
static inline dataset *open_ok(diag_capture *c, ir_stmt *st)
{
    dataset *ds = data_stmt_open(st, c->d);
    cr_assert(ds, "data_open failed: %s", capture_text(c));
    cr_assert_eq(diag_error_count(c->d), 0, "%s", capture_text(c));
    return ds;
}

/* Opens a dataset that must fail with `expect` in the diagnostics. */
static inline void expect_error(ir_stmt *st, const char *expect)
{
    diag_capture c;
    capture_open(&c);
    dataset *ds = data_stmt_open(st, c.d);
    const char *text = capture_text(&c);
    cr_expect_null(ds, "opened although '%s' was expected", expect);
    cr_expect(diag_error_count(c.d) > 0);
    cr_expect(strstr(text, expect), "expected '%s' in:\n%s", expect, text);
    data_close(ds);
    capture_close(&c);
    free_stmt(st);
}

/* Builds the statement with a throwaway context and expects an error from data_open. */
#define EXPECT_ERROR(expect, source, ...)                       \
    do {                                                        \
        diag_capture mk_;                                               \
        capture_open(&mk_);                                        \
        ir_stmt *st_ = mk_stmt(&mk_, source, __VA_ARGS__);      \
        capture_close(&mk_);                                       \
        expect_error(st_, expect);                              \
    } while (0)

#endif
