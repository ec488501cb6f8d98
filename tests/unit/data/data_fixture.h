/* data_fixture.h: what the data reader tests share: a diagnostics context writing into memory
 * and `data` statements built from text (source call and "key = value" options), resolved
 * against DIR "t.surgery" (DIR is tests/data/data/). Included by one test file each. */
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

/* Ownership: a dcap owns its memory stream and diagnostics context (dcap_close); a statement
 * from mk_stmt is the caller's (free_stmt); expect_error frees the statement it is given. */

#define DIR "tests/data/data/"

/* ---- a diagnostics context writing into memory ---- */

typedef struct dcap {
    char *buf;
    size_t len;
    FILE *fp;
    diag_ctx *d;
} dcap;

static inline void dcap_open(dcap *c)
{
    memset(c, 0, sizeof *c);
    c->fp = open_memstream(&c->buf, &c->len);
    cr_assert(c->fp);
    c->d = diag_new(c->fp, DIAG_COLOR_NEVER);
}

static inline const char *dcap_text(dcap *c)
{
    fflush(c->fp);
    return c->buf ? c->buf : "";
}

static inline void dcap_close(dcap *c)
{
    diag_free(c->d);
    fclose(c->fp);
    free(c->buf);
}

/* ---- data statements built from text: the source call and "key = value" options ---- */

/* The script the statements belong to (a test may point it elsewhere for a while). */
static const char *script_path = DIR "t.surgery";

static inline src_loc line_loc(int line, int col)
{
    src_loc l = {script_path, line, col, 1};
    return l;
}

/* data d = SOURCE { opts... }: the source on line 1, option i on line i + 2. */
static inline ir_stmt *mk_stmt(dcap *c, const char *source, ...)
{
    ir_stmt *st = calloc(1, sizeof *st);
    cr_assert(st);
    st->kind = IR_DATA;
    st->loc = line_loc(1, 1);
    st->name = strdup("d");
    st->value = conf_parse_text(source, line_loc(1, 10), c->d);
    cr_assert(st->value, "source '%s' does not parse: %s", source, dcap_text(c));
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
        cr_assert(a->value, "option '%s' does not parse: %s", opt, dcap_text(c));
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
static inline dataset *open_ok(dcap *c, ir_stmt *st)
{
    dataset *ds = data_stmt_open(st, c->d);
    cr_assert(ds, "data_open failed: %s", dcap_text(c));
    cr_assert_eq(diag_error_count(c->d), 0, "%s", dcap_text(c));
    return ds;
}

/* Opens a dataset that must fail with `expect` in the diagnostics. */
static inline void expect_error(ir_stmt *st, const char *expect)
{
    dcap c;
    dcap_open(&c);
    dataset *ds = data_stmt_open(st, c.d);
    const char *text = dcap_text(&c);
    cr_expect_null(ds, "opened although '%s' was expected", expect);
    cr_expect(diag_error_count(c.d) > 0);
    cr_expect(strstr(text, expect), "expected '%s' in:\n%s", expect, text);
    data_close(ds);
    dcap_close(&c);
    free_stmt(st);
}

/* Builds the statement with a throwaway context and expects an error from data_open. */
#define EXPECT_ERROR(expect, source, ...)                       \
    do {                                                        \
        dcap mk_;                                               \
        dcap_open(&mk_);                                        \
        ir_stmt *st_ = mk_stmt(&mk_, source, __VA_ARGS__);      \
        dcap_close(&mk_);                                       \
        expect_error(st_, expect);                              \
    } while (0)

#endif
