/* test_npy.c: the .npy reader against files written by numpy (tools/gen_npy_fixtures.py), its
 * refusals, and the float32 writer read back. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/tensor/npy.h"
#include "tests/unit/test_support.h"

#define NPY_DIR "tests/data/npy/"

/* The values gen_npy_fixtures.py puts in its 3x4 arrays. */
static float base_value(int i) { return (float)(((double)i - 5.5) / 4.0); }

static void expect_base(const char *name)
{
    tensor t = {0};
    char err[512];
    cr_assert_eq(npy_read_float(NPY_DIR "f4.npy", &t, err, sizeof err), 0, "%s", err);
    tensor_release(&t);
    cr_assert_eq(npy_read_float(name, &t, err, sizeof err), 0, "%s: %s", name, err);
    cr_assert_eq(t.ndim, 2, "%s", name);
    cr_assert_eq(t.shape[0], 3);
    cr_assert_eq(t.shape[1], 4);
    for (int i = 0; i < 12; i++)
        cr_assert_float_eq(t.data[i], base_value(i), 1e-6, "%s[%d] = %g", name, i, t.data[i]);
    tensor_release(&t);
}

Test(npy, reads_float_arrays_of_every_version)
{
    expect_base(NPY_DIR "f4.npy");
    expect_base(NPY_DIR "f8.npy");
    expect_base(NPY_DIR "f2.npy");
    expect_base(NPY_DIR "f4_v2.npy");
    expect_base(NPY_DIR "f4_v3.npy");
}

static void expect_values(const char *name, int ndim, const float *want, int n)
{
    tensor t = {0};
    char err[512];
    cr_assert_eq(npy_read_float(name, &t, err, sizeof err), 0, "%s: %s", name, err);
    cr_assert_eq(t.ndim, ndim, "%s", name);
    cr_assert_eq(t.size, n, "%s", name);
    for (int i = 0; i < n; i++)
        cr_assert_float_eq(t.data[i], want[i], 0, "%s[%d]: %g != %g", name, i, t.data[i], want[i]);
    tensor_release(&t);
}

Test(npy, converts_integer_and_bool_arrays)
{
    expect_values(NPY_DIR "i1.npy", 1, (float[]){-128, -1, 0, 127}, 4);
    expect_values(NPY_DIR "i2.npy", 1, (float[]){-32768, 5, 32767}, 3);
    expect_values(NPY_DIR "i4.npy", 2, (float[]){0, 1, 2, 3, 4, 2147483647.0f}, 6);
    expect_values(NPY_DIR "i8.npy", 1, (float[]){0, 9, -3, 1099511627776.0f}, 4);
    expect_values(NPY_DIR "u1.npy", 1, (float[]){0, 200, 255}, 3);
    expect_values(NPY_DIR "u2.npy", 1, (float[]){65535}, 1);
    expect_values(NPY_DIR "u4.npy", 1, (float[]){4000000000.0f}, 1);
    expect_values(NPY_DIR "u8.npy", 1, (float[]){7, 2}, 2);
    expect_values(NPY_DIR "b1.npy", 1, (float[]){1, 0, 1}, 3);
    expect_values(NPY_DIR "scalar.npy", 0, (float[]){3.5f}, 1);
    float seq[24];
    for (int i = 0; i < 24; i++)
        seq[i] = (float)i;
    expect_values(NPY_DIR "seq.npy", 3, seq, 24);
    expect_values(NPY_DIR "empty.npy", 2, NULL, 0);
}

Test(npy, header_and_row_ranges)
{
    char err[512];
    npy_file *f = npy_open(NPY_DIR "seq.npy", err, sizeof err);
    cr_assert(f, "%s", err);
    cr_assert_eq(f->dtype, NPY_F4);
    cr_assert_eq(f->ndim, 3);
    cr_assert_eq(f->rows, 2);
    cr_assert_eq(f->row_elems, 12);
    float row[12];
    cr_assert_eq(npy_read_rows(f, 1, 1, row, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(row[0], 12.0f, 0);
    cr_assert_float_eq(row[11], 23.0f, 0);
    cr_assert_eq(npy_read_rows(f, 2, 1, row, err, sizeof err), -1);
    cr_assert(strstr(err, "out of range"), "%s", err);
    npy_close(f);
    npy_close(NULL);
}

Test(npy, labels_from_integers_and_whole_floats)
{
    int64_t *l, n, shape[NPY_MAX_DIMS];
    int nd;
    char err[512];
    cr_assert_eq(npy_read_labels(NPY_DIR "i8.npy", &l, &n, &nd, shape, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 4);
    cr_assert_eq(l[3], (int64_t)1 << 40);
    cr_assert_eq(l[2], -3);
    free(l);
    cr_assert_eq(npy_read_labels(NPY_DIR "labels_float.npy", &l, &n, &nd, shape, err, sizeof err), 0);
    cr_assert_eq(l[1], 2);
    free(l);
    cr_assert_eq(npy_read_labels(NPY_DIR "i4.npy", &l, &n, &nd, shape, err, sizeof err), 0);
    cr_assert_eq(nd, 2);
    cr_assert_eq(shape[1], 3);
    free(l);
    cr_assert_eq(npy_read_labels(NPY_DIR "labels_fraction.npy", &l, &n, &nd, shape, err, sizeof err), -1);
    cr_assert(strstr(err, "element 1") && strstr(err, "2.5"), "%s", err);
    cr_assert_null(l);
}

static void expect_refused(const char *name, const char *part)
{
    tensor t = {0};
    char err[512] = "";
    cr_assert_eq(npy_read_float(name, &t, err, sizeof err), -1, "%s accepted", name);
    cr_assert(strstr(err, name), "message does not name the file: %s", err);
    cr_assert(strstr(err, part), "%s: message '%s' lacks '%s'", name, err, part);
    cr_assert_null(t.data);
}

Test(npy, refuses_what_it_cannot_read)
{
    expect_refused(NPY_DIR "fortran.npy", "Fortran");
    expect_refused(NPY_DIR "big_endian.npy", "big-endian");
    expect_refused(NPY_DIR "object.npy", "object");
    expect_refused(NPY_DIR "strings.npy", "string");
    expect_refused(NPY_DIR "complex.npy", "complex");
    expect_refused(NPY_DIR "structured.npy", "structured");
    expect_refused(NPY_DIR "truncated.npy", "truncated");
    expect_refused(NPY_DIR "bad_magic.npy", "not a .npy file");
    expect_refused(NPY_DIR "five_d.npy", "5 dimensions");
    expect_refused(NPY_DIR "missing.npy", "cannot open");
}

Test(npy, writes_float32_that_reads_back)
{
    char dir[] = "/tmp/surgery-npy-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/out.npy", dir);
    int64_t shapes[3][3] = {{2, 3, 0}, {4, 0, 0}, {2, 2, 2}};
    int ndims[3] = {2, 1, 3};
    for (int s = 0; s < 3; s++) {
        tensor t = {0}, back = {0};
        cr_assert_eq(tensor_alloc(&t, ndims[s], shapes[s]), 0);
        for (int64_t i = 0; i < t.size; i++)
            t.data[i] = (float)i * 0.1f - 0.3f;
        char err[512];
        cr_assert_eq(npy_save_float(path, &t, err, sizeof err), 0, "%s", err);
        FILE *fp = fopen(path, "rb");
        unsigned char head[10];
        cr_assert_eq(fread(head, 1, 10, fp), 10);
        fclose(fp);
        cr_assert_eq((10 + head[8] + 256 * head[9]) % 64, 0, "data aligned to 64 bytes");
        cr_assert_eq(npy_read_float(path, &back, err, sizeof err), 0, "%s", err);
        cr_assert(tensor_same_shape(&t, &back));
        cr_assert_eq(tensor_max_abs_diff(&t, &back), 0.0);
        tensor_release(&t);
        tensor_release(&back);
    }
    unlink(path);
    rmdir(dir);
}

/* Whole-array reads (predict's input) refuse values that are not finite, naming the element by
 * its flat position and its index, and the value as the file holds it. */
Test(npy, refuses_values_that_are_not_finite)
{
    char dir[256], path[320];
    test_make_dir(dir, sizeof dir, "npy-finite");
    snprintf(path, sizeof path, "%s/x.npy", dir);
    float f4[6] = {0, 1, 2, 3, NAN, 5};
    test_write_npy(path, "<f4", "(2, 3)", f4, sizeof f4);
    expect_refused(path, ": element 4 (index [1, 1]) is NaN; the values must be finite numbers");
    f4[4] = 4;
    f4[5] = -INFINITY;
    test_write_npy(path, "<f4", "(2, 3)", f4, sizeof f4);
    expect_refused(path, "element 5 (index [1, 2]) is minus infinite");
    double f8[4] = {0.5, 1e300, 0, 0};
    test_write_npy(path, "<f8", "(2, 1, 2)", f8, sizeof f8);
    expect_refused(path, "element 1 (index [0, 0, 1]) is 1e+300, outside the float32 range");
    uint16_t f2[3] = {0x3c00, 0x3c00, 0x7c00};   /* 1, 1, +inf */
    test_write_npy(path, "<f2", "(3,)", f2, sizeof f2);
    expect_refused(path, "element 2 (index [2]) is infinite");
    /* finite values at the edges of float32 are read */
    double edge[2] = {3.4e38, -1e-45};
    test_write_npy(path, "<f8", "(2,)", edge, sizeof edge);
    tensor t = {0};
    char err[512];
    cr_assert_eq(npy_read_float(path, &t, err, sizeof err), 0, "%s", err);
    tensor_release(&t);
    test_remove_dir(dir);
}
