/* test_diag_limits.c: the limits that keep a flood of diagnostics readable: at most
 * DIAG_MAX_ERRORS errors printed (the count stays exact), then one "N more errors not shown"
 * line; quoted source lines cut to DIAG_LINE_WIDTH bytes around the caret. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "tests/unit/test_support.h"

static int occurrences(const char *text, const char *word)
{
    int n = 0;
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        n++;
    return n;
}

Test(diag_limits, errors_past_the_limit_are_counted_not_printed)
{
    diag_capture c;
    capture_open(&c);
    diag_set_text(c.d, "s.surgery", "freeze \"a\"\n", 11);
    for (int i = 0; i < DIAG_MAX_ERRORS + 12; i++) {
        src_loc at = {"s.surgery", 1, 8, 3};
        diag_error(c.d, at, "error number %d", i);
        diag_note(c.d, at, "note of error %d", i);
    }
    cr_assert_eq(diag_error_count(c.d), DIAG_MAX_ERRORS + 12);
    cr_assert_eq(diag_hidden_count(c.d), 12);
    const char *t = capture_text(&c);
    cr_assert_eq(occurrences(t, ": error: "), DIAG_MAX_ERRORS);
    cr_assert_eq(occurrences(t, ": note: "), DIAG_MAX_ERRORS, "notes of hidden errors are hidden");
    cr_assert(strstr(t, "error number 49\n"));
    cr_assert_null(strstr(t, "error number 50\n"));
    cr_assert_null(strstr(t, "more errors not shown"));
    diag_report_hidden(c.d);
    diag_report_hidden(c.d);
    t = capture_text(&c);
    cr_assert_eq(occurrences(t, "surgery: 12 more errors not shown\n"), 1, "%s", t);
    capture_close(&c);
}

Test(diag_limits, diag_free_reports_the_hidden_errors)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cr_assert(fp);
    diag_ctx *d = diag_new(fp, DIAG_COLOR_NEVER);
    for (int i = 0; i < DIAG_MAX_ERRORS + 1; i++)
        diag_error(d, loc_none(), "e");
    diag_free(d);
    fclose(fp);
    size_t tail = strlen("surgery: 1 more error not shown\n");
    cr_assert(len >= tail);
    cr_assert_str_eq(buf + len - tail, "surgery: 1 more error not shown\n");
    free(buf);
}

Test(diag_limits, no_count_line_under_the_limit)
{
    diag_capture c;
    capture_open(&c);
    for (int i = 0; i < DIAG_MAX_ERRORS; i++)
        diag_error(c.d, loc_none(), "e");
    diag_report_hidden(c.d);
    cr_assert_eq(diag_hidden_count(c.d), 0);
    cr_assert_null(strstr(capture_text(&c), "not shown"));
    capture_close(&c);
}

/* The quoted line and the caret line of the only diagnostic in `t`. */
static void quoted_lines(const char *t, char *line, char *caret, size_t cap)
{
    const char *a = strchr(t, '\n');
    cr_assert(a);
    const char *b = strchr(a + 1, '\n');
    cr_assert(b);
    const char *e = strchr(b + 1, '\n');
    cr_assert(e);
    cr_assert((size_t)(b - a) < cap && (size_t)(e - b) < cap);
    memcpy(line, a + 1, (size_t)(b - a - 1));
    line[b - a - 1] = 0;
    memcpy(caret, b + 1, (size_t)(e - b - 1));
    caret[e - b - 1] = 0;
}

Test(diag_limits, long_lines_are_cut_around_the_caret)
{
    enum { N = 5000 };
    char *src = malloc(N + 2);
    cr_assert(src);
    for (int i = 0; i < N; i++)
        src[i] = (char)('a' + i % 26);
    memcpy(src + 2500, "HERE", 4);
    src[N] = '\n';
    src[N + 1] = 0;
    diag_capture c;
    capture_open(&c);
    diag_set_text(c.d, "s.surgery", src, N + 1);
    src_loc at = {"s.surgery", 1, 2501, 4};
    diag_error(c.d, at, "x");
    static char line[8192], caret[8192];
    quoted_lines(capture_text(&c), line, caret, sizeof line);
    cr_assert(strncmp(line, "    1 | ...", 11) == 0, "%s", line);
    size_t n = strlen(line);
    cr_assert(n >= 3 && !strcmp(line + n - 3, "..."));
    cr_assert_eq(n, strlen("    1 | ...") + DIAG_LINE_WIDTH + 3);
    const char *here = strstr(line, "HERE");
    const char *mark = strchr(caret, '^');
    cr_assert(here && mark);
    cr_assert_eq(here - line, mark - caret, "the caret stays under the span");
    cr_assert(!strncmp(mark, "^~~~", 4) && mark[4] == 0);
    capture_close(&c);
    free(src);
}

Test(diag_limits, a_caret_near_the_start_keeps_the_start)
{
    enum { N = 1000 };
    char src[N + 1];
    memset(src, 'x', N);
    src[N] = 0;
    diag_capture c;
    capture_open(&c);
    diag_set_text(c.d, "s.surgery", src, N);
    src_loc at = {"s.surgery", 1, 3, 1};
    diag_error(c.d, at, "x");
    static char line[4096], caret[4096];
    quoted_lines(capture_text(&c), line, caret, sizeof line);
    cr_assert(strncmp(line, "    1 | xxx", 11) == 0);
    cr_assert_eq(strlen(line), strlen("    1 | ") + DIAG_LINE_WIDTH + 3);
    cr_assert_str_eq(caret, "      |   ^");
    capture_close(&c);
}

Test(diag_limits, cuts_fall_between_utf8_characters)
{
    /* 600 two-byte characters: every cut must leave whole characters */
    enum { N = 600 };
    char src[2 * N + 1];
    for (int i = 0; i < N; i++) {
        src[2 * i] = (char)0xC3;
        src[2 * i + 1] = (char)0xA9;   /* é */
    }
    src[2 * N] = 0;
    diag_capture c;
    capture_open(&c);
    diag_set_text(c.d, "s.surgery", src, 2 * N);
    src_loc at = {"s.surgery", 1, 601, 1};
    diag_error(c.d, at, "x");
    static char line[4096], caret[4096];
    quoted_lines(capture_text(&c), line, caret, sizeof line);
    const char *body = line + strlen("    1 | ...");
    size_t n = strlen(body) - 3;
    cr_assert((unsigned char)body[0] == 0xC3, "starts on a character");
    cr_assert((unsigned char)body[n - 1] == 0xA9, "ends on a whole character");
    cr_assert(n % 2 == 0 && n <= DIAG_LINE_WIDTH);
    capture_close(&c);
}

Test(diag_limits, short_lines_are_shown_whole)
{
    diag_capture c;
    capture_open(&c);
    diag_set_text(c.d, "s.surgery", "widen \"h\" by 2\n", 15);
    src_loc at = {"s.surgery", 1, 7, 3};
    diag_error(c.d, at, "x");
    cr_assert_str_eq(capture_text(&c), "s.surgery:1:7: error: x\n    1 | widen \"h\" by 2\n      |       ^~~\n");
    capture_close(&c);
}
