/* test_checked_sizes.c: checked size arithmetic, and the readers given headers whose sizes overflow
 * (idx rows x columns and count x rows x columns, npy shapes): a clear error naming the file. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/checked.h"
#include "runtime/base/conf.h"
#include "runtime/base/diag.h"
#include "runtime/data/data.h"
#include "runtime/script/data_stmt.h"
#include "runtime/script/ir.h"
#include "runtime/tensor/npy.h"
#include "tests/unit/test_support.h"

Test(checked, multiplication_and_addition)
{
    int64_t r = 0;
    cr_assert(checked_mul(3, 4, &r) && r == 12);
    cr_assert(checked_mul(0, INT64_MAX, &r) && r == 0);
    cr_assert(checked_mul(INT64_MAX, 1, &r) && r == INT64_MAX);
    cr_assert_not(checked_mul(INT64_MAX, 2, &r));
    cr_assert_not(checked_mul(4294967295LL, 4294967295LL, &r));
    cr_assert_not(checked_mul(-1, 2, &r));
    cr_assert(checked_mul3(4294967295LL, 28, 28, &r) && r == 4294967295LL * 784);
    cr_assert_not(checked_mul3(4294967295LL, 4294967295LL, 1, &r));
    cr_assert_not(checked_mul3(4294967295LL, 65536, 65536, &r));
    cr_assert(checked_add(16, 10, &r) && r == 26);
    cr_assert_not(checked_add(INT64_MAX, 1, &r));
    cr_assert_not(checked_add(-5, 1, &r));
}

/* ---- crafted files in a fresh folder ---- */

static char folder[64];

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Writes an idx file: magic, dims, then `extra` zero bytes. */
static void write_idx(const char *name, uint32_t magic, const uint32_t *dims, int ndims, size_t extra)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    unsigned char h[16];
    put_be32(h, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(h + 4 + 4 * i, dims[i]);
    cr_assert_eq(fwrite(h, 1, 4 + 4 * (size_t)ndims, f), 4 + 4 * (size_t)ndims);
    for (size_t i = 0; i < extra; i++)
        fputc(0, f);
    cr_assert_eq(fclose(f), 0);
}

/* data_open on idx(images, labels = labels) in the folder must fail with `expect` naming the
 * image file. */
static void expect_idx_error(uint32_t count, uint32_t rows, uint32_t cols, const char *expect)
{
    test_make_dir(folder, sizeof folder, "checked");
    uint32_t dims[3] = {count, rows, cols}, ldims[1] = {count};
    write_idx("images.idx3", 0x803, dims, 3, 64);
    write_idx("labels.idx1", 0x801, ldims, 1, 4);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert(out);
    diag_ctx *d = diag_new(out, DIAG_COLOR_NEVER);
    char source[256];
    snprintf(source, sizeof source, "idx(\"%s/images.idx3\", labels = \"%s/labels.idx1\")",
             folder, folder);
    src_loc loc = {"t.surgery", 1, 10, 1};
    ir_stmt st = {.kind = IR_DATA, .loc = loc, .name = "d"};
    st.value = conf_parse_text(source, loc, d);
    cr_assert(st.value);
    dataset *ds = data_stmt_open(&st, d);
    fflush(out);
    cr_expect_null(ds);
    cr_expect_eq(diag_error_count(d), 1, "%s", buf);
    char want[256];
    snprintf(want, sizeof want, "%s/images.idx3: error: %s", folder, expect);
    cr_expect(strstr(buf, want), "expected '%s' in:\n%s", want, buf);
    data_close(ds);
    conf_value_free(st.value);
    diag_free(d);
    fclose(out);
    free(buf);
    test_remove_dir(folder);
}

Test(checked, idx_rows_times_columns_overflow)
{
    expect_idx_error(1, 4294967295u, 4294967295u, "the header says 1 images of 4294967295x4294967295: "
                     "a size no file can hold");
}

Test(checked, idx_count_times_image_overflow)
{
    expect_idx_error(4294967295u, 65536, 65536, "the header says 4294967295 images of 65536x65536: "
                     "a size no file can hold");
}

Test(checked, idx_large_but_representable_header_is_truncated)
{
    expect_idx_error(65536, 65536, 65536, "truncated: the header promises 65536 images of 65536x65536 "
                     "(281474976710672 bytes), the file has 80");
}

/* An npy file with the given shape text and no data. */
static void expect_npy_error(const char *shape, const char *expect)
{
    test_make_dir(folder, sizeof folder, "checked");
    char path[128];
    snprintf(path, sizeof path, "%s/x.npy", folder);
    char dict[128];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    size_t hlen = 64 * (((size_t)n + 11) / 64 + 1) - 10;
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(hlen & 0xff), f);
    fputc((int)(hlen >> 8), f);
    fwrite(dict, 1, (size_t)n, f);
    for (size_t i = (size_t)n; i + 1 < hlen; i++)
        fputc(' ', f);
    fputc('\n', f);
    cr_assert_eq(fclose(f), 0);
    char err[256] = "";
    npy_file *nf = npy_open(path, err, sizeof err);
    cr_expect_null(nf);
    char want[256];
    snprintf(want, sizeof want, "%s: %s", path, expect);
    cr_expect(strstr(err, want), "expected '%s' in '%s'", want, err);
    npy_close(nf);
    test_remove_dir(folder);
}

Test(checked, npy_shape_overflow)
{
    expect_npy_error("(4294967296, 4294967296, 4294967296)", "the element count of the shape overflows");
}

Test(checked, npy_empty_first_dimension_with_overflowing_rows)
{
    /* the element count is 0, but a row of 2^40 x 2^40 elements cannot exist */
    expect_npy_error("(0, 1099511627776, 1099511627776)", "the element count of the shape overflows");
}
