/* test_tensor_csv.c: numeric CSV into tensors (errors at file:line:col) and tensors out as CSV. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/tensor/tensor_csv.h"
#include "tests/unit/test_support.h"

typedef struct tcsv_env {
    char dir[64];
    char path[128];
    diag_capture cap;
    diag_ctx *d;                 /* cap.d */
} tcsv_env;

static void tcsv_open(tcsv_env *e, const char *text)
{
    memset(e, 0, sizeof *e);
    test_make_dir(e->dir, sizeof e->dir, "csv");
    snprintf(e->path, sizeof e->path, "%s/in.csv", e->dir);
    test_write_file(e->path, text);
    capture_open(&e->cap);
    e->d = e->cap.d;
}

static const char *tcsv_msgs(tcsv_env *e)
{
    return capture_text(&e->cap);
}

static void tcsv_close(tcsv_env *e)
{
    capture_close(&e->cap);
    test_remove_dir(e->dir);
}

Test(tensor_csv, reads_numbers_quotes_blank_lines_and_headers)
{
    tcsv_env e;
    tcsv_open(&e, "\xef\xbb\xbfx,y,z\r\n1, 2.5 ,\"-3e2\"\r\n\n  \n4,5,6\n");
    tensor t = {0};
    cr_assert_eq(tensor_csv_read(e.path, 1, ',', &t, e.d), 0, "%s", tcsv_msgs(&e));
    cr_assert_eq(t.ndim, 2);
    cr_assert_eq(t.shape[0], 2);
    cr_assert_eq(t.shape[1], 3);
    float want[] = {1, 2.5f, -300, 4, 5, 6};
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(t.data[i], want[i], 0);
    tensor_release(&t);
    tcsv_close(&e);
    tcsv_open(&e, "\xef\xbb\xbf" "7,8\n");
    cr_assert_eq(tensor_csv_read(e.path, 0, ',', &t, e.d), 0, "a byte-order mark is skipped: %s", tcsv_msgs(&e));
    cr_assert_float_eq(t.data[0], 7.0f, 0);
    tensor_release(&t);
    tcsv_close(&e);
}

static void tcsv_expect_error(const char *text, const char *where, const char *msg)
{
    tcsv_env e;
    tcsv_open(&e, text);
    tensor t = {0};
    cr_assert_eq(tensor_csv_read(e.path, 0, ',', &t, e.d), -1);
    cr_assert_null(t.data);
    char want[256];
    snprintf(want, sizeof want, "in.csv%s: error: %s", where, msg);
    cr_assert(strstr(tcsv_msgs(&e), want), "expected '%s' in:\n%s", want, tcsv_msgs(&e));
    tcsv_close(&e);
}

Test(tensor_csv, errors_name_the_line_and_column)
{
    tcsv_expect_error("1,2\n3,4\n5,6,7\n", ":3:1", "3 fields, but the first row has 2");
    tcsv_expect_error("1,2\n3,abc\n", ":2:3", "field 2 'abc' is not a finite number");
    tcsv_expect_error("1,,2\n", ":1:3", "field 2 is empty");
    tcsv_expect_error("1,nan\n", ":1:3", "field 2 'nan' is not a finite number");
    tcsv_expect_error("1,1e39\n", ":1:3", "field 2 '1e39' is outside the float32 range");
    tcsv_expect_error("\n\n", "", "no data rows");
}

Test(tensor_csv, writes_shortest_floats_and_sequences)
{
    tensor t = {0};
    cr_assert_eq(tensor_alloc2(&t, 2, 2), 0);
    t.data[0] = 0.1f;
    t.data[1] = -2.0f;
    t.data[2] = 1e-7f;
    t.data[3] = 123456.789f;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    cr_assert_eq(tensor_csv_write(fp, &t, ','), 0);
    fclose(fp);
    cr_assert_str_eq(buf, "0.1,-2\n1e-07,123456.79\n");
    free(buf);
    tensor s = {0};
    cr_assert_eq(tensor_alloc3(&s, 2, 2, 1), 0);
    for (int i = 0; i < 4; i++)
        s.data[i] = (float)i;
    fp = open_memstream(&buf, &len);
    cr_assert_eq(tensor_csv_write_seq(fp, &s, ','), 0);
    fclose(fp);
    cr_assert_str_eq(buf, "0,0,0\n0,1,1\n1,0,2\n1,1,3\n");
    free(buf);
    char num[32];
    for (float f = 1e-30f; f < 1e30f; f *= 7.3f)
        cr_assert_eq(strtof(tensor_csv_format_float(f, num, sizeof num), NULL), f, "%s", num);
    tensor_release(&t);
    tensor_release(&s);
}
