/* test_data.c: the data readers (csv, csv_sequence, npy, idx, text) on the fixtures in
 * tests/data/data/ (made by tools/make_data_fixtures.py): batching, layouts, shuffling
 * determinism, normalisation, hashing, bounded memory and every bad-input message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/script/ir.h"
#include "runtime/base/conf.h"
#include "runtime/data/data.h"
#include "runtime/script/data_stmt.h"
#include "runtime/tensor/npy.h"
#include "runtime/base/rng.h"

#include "tests/unit/data/data_fixture.h"

static void assert_close(float a, float b)
{
    cr_assert(fabsf(a - b) < 1e-5f, "%g != %g", a, b);
}

static int64_t argmax_row(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* ---- csv ---- */

Test(data, csv_classification_batches)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv(\"small.csv\")", "header = 1", "classes = 3", "batch = 4", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_features(ds), 4);
    cr_assert_eq(data_classes(ds), 3);
    cr_assert_eq(data_outputs(ds), 3);
    cr_assert_eq(data_count(ds), 10);
    cr_assert_eq(data_batch_size(ds), 4);
    cr_assert(!data_is_sequence(ds));
    batch b = {0};
    int64_t sizes[3], seen = 0;
    int nb = 0, rc;
    data_reset(ds, 1);
    while ((rc = data_next(ds, &b, c.d)) == 1) {
        cr_assert_eq(b.x.ndim, 2);
        cr_assert_eq(b.x.shape[1], 4);
        cr_assert_eq(b.y.shape[1], 3);
        cr_assert_null(b.mask.data);
        for (int64_t i = 0; i < b.n; i++) {
            int64_t row = seen + i;
            assert_close(b.x.data[i * 4 + 0], (float)row);
            assert_close(b.x.data[i * 4 + 1], (float)row * 0.5f);
            assert_close(b.x.data[i * 4 + 2], -(float)row);
            assert_close(b.x.data[i * 4 + 3], 1.0f + (float)row / 10.0f);
            cr_assert_eq(argmax_row(b.y.data + i * 3, 3), row % 3);
            float sum = b.y.data[i * 3] + b.y.data[i * 3 + 1] + b.y.data[i * 3 + 2];
            assert_close(sum, 1.0f);
        }
        sizes[nb++] = b.n;
        seen += b.n;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(nb, 3);
    cr_assert_eq(sizes[0], 4);
    cr_assert_eq(sizes[1], 4);
    cr_assert_eq(sizes[2], 2);
    cr_assert_null(b.x.data, "the end of an epoch leaves the batch empty");
    /* a second epoch gives the same first batch */
    data_reset(ds, 1);
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    assert_close(b.x.data[4], 1.0f);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_label_first_tab_crlf_blank_lines)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv(\"small_tab.tsv\")", "label = 0", "classes = 2", "delimiter = \"\\t\"",
                          "batch = 10", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), 6);
    cr_assert_eq(data_features(ds), 2);
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_eq(b.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_close(b.x.data[i * 2], (float)i + 0.25f);
        assert_close(b.x.data[i * 2 + 1], 10.0f - (float)i);
        cr_assert_eq(argmax_row(b.y.data + i * 2, 2), i % 2);
    }
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_regression_targets)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv(\"regression.csv\")", "label_count = 2", "batch = 8", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_classes(ds), 0);
    cr_assert_eq(data_outputs(ds), 2);
    cr_assert_eq(data_features(ds), 3);
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_eq(b.y.shape[1], 2);
    for (int i = 0; i < 8; i++) {
        const float *x = b.x.data + i * 3, *y = b.y.data + i * 2;
        assert_close(y[0], x[0] + x[1]);
        assert_close(y[1], 2 * x[2]);
    }
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_limit_and_iris)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv(\"iris.csv\")", "header = 1", "classes = 3", "batch = 150", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), 150);
    cr_assert_eq(data_features(ds), 4);
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    assert_close(b.x.data[0], 5.1f);
    int64_t per_class[3] = {0};
    for (int i = 0; i < 150; i++)
        per_class[argmax_row(b.y.data + i * 3, 3)]++;
    cr_assert_eq(per_class[0], 50);
    cr_assert_eq(per_class[1], 50);
    cr_assert_eq(per_class[2], 50);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);

    st = mk_stmt(&c, "csv(\"iris.csv\")", "header = 1", "classes = 3", "limit = 7", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), 7);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, probe_reads_the_first_record_only)
{
    diag_capture c;
    capture_open(&c);
    /* bad_number.csv is broken on line 4: the probe never gets there */
    ir_stmt *st = mk_stmt(&c, "csv(\"bad_number.csv\")", "classes = 3", NULL);
    data_spec spec;
    int64_t features = 0, classes = 0;
    bool seq = true;
    spec = data_stmt_spec(st);
    cr_assert_eq(data_probe(&spec, c.d, &features, &seq, &classes), 0, "%s", capture_text(&c));
    cr_assert_eq(features, 4);
    cr_assert_eq(classes, 3);
    cr_assert(!seq);
    free_stmt(st);
    st = mk_stmt(&c, "csv_sequence(\"seq/%d.csv\", labels = \"seqlabels/%d.csv\", first = 0, last = 9)",
                 "classes = 3", NULL);
    spec = data_stmt_spec(st);
    cr_assert_eq(data_probe(&spec, c.d, &features, &seq, &classes), 0, "%s", capture_text(&c));
    cr_assert_eq(features, 2);
    cr_assert(seq);
    free_stmt(st);
    st = mk_stmt(&c, "idx(\"images.idx3\", labels = \"labels.idx1\")", NULL);
    data_info info;
    spec = data_stmt_spec(st);
    cr_assert_eq(data_probe_info(&spec, c.d, &info), 0, "%s", capture_text(&c));
    cr_assert_eq(info.features, 6);
    cr_assert_eq(info.classes, 10);
    cr_assert_eq(info.outputs, 10);
    free_stmt(st);
    st = mk_stmt(&c, "text(\"small.txt\")", "seq_length = 4", NULL);
    spec = data_stmt_spec(st);
    cr_assert_eq(data_probe_info(&spec, c.d, &info), 0, "%s", capture_text(&c));
    cr_assert_eq(info.features, 10);
    cr_assert(info.sequence);
    free_stmt(st);
    cr_assert_eq(diag_error_count(c.d), 0);
    capture_close(&c);
}

/* Reads a whole epoch and returns the first feature of every example, in order. */
static void epoch_keys(dataset *ds, uint64_t seed, float *keys, diag_capture *c)
{
    batch b = {0};
    int64_t k = 0;
    data_reset(ds, seed);
    while (data_next(ds, &b, c->d) == 1)
        for (int64_t i = 0; i < b.n; i++)
            keys[k++] = b.x.data[i * data_features(ds)];
    cr_assert_eq(k, data_count(ds));
    batch_release(&b);
}

Test(data, shuffling_is_seeded_and_deterministic)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv(\"iris.csv\")", "header = 1", "classes = 3", "batch = 16", "shuffle = true", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert(data_shuffles(ds));
    float a[150], b[150], e[150];
    epoch_keys(ds, 7, a, &c);
    epoch_keys(ds, 7, b, &c);
    epoch_keys(ds, 8, e, &c);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "the same seed gives the same order");
    cr_assert_neq(memcmp(a, e, sizeof a), 0, "another seed gives another order");
    /* a permutation: the multiset of examples is the file's */
    dataset *plain;
    ir_stmt *st2 = mk_stmt(&c, "csv(\"iris.csv\")", "header = 1", "classes = 3", "batch = 16", NULL);
    plain = open_ok(&c, st2);
    float f[150];
    epoch_keys(plain, 7, f, &c);
    double sa = 0, sf = 0;
    bool moved = false;
    for (int i = 0; i < 150; i++) {
        sa += a[i];
        sf += f[i];
        moved |= a[i] != f[i];
    }
    cr_assert(fabs(sa - sf) < 1e-3);
    cr_assert(moved);
    /* data_reset_in_order reads the shuffling data set in file order; the next data_reset
     * shuffles again exactly as before */
    data_reset_in_order(ds);
    batch bt = {0};
    int64_t k = 0;
    while (data_next(ds, &bt, c.d) == 1)
        for (int64_t i = 0; i < bt.n; i++, k++)
            cr_assert_eq(bt.x.data[i * 4], f[k]);
    cr_assert_eq(k, 150);
    epoch_keys(ds, 7, e, &c);
    cr_assert_eq(memcmp(a, e, sizeof a), 0);
    data_close(plain);
    free_stmt(st2);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_bad_inputs)
{
    EXPECT_ERROR(DIR "bad_fields.csv:4:1: error: expected 5 fields (as on line 2), found 4", "csv(\"bad_fields.csv\")",
                 "header = 1", "classes = 3", NULL);
    EXPECT_ERROR(DIR "bad_number.csv:4:4: error: field 2 is not a number: 'abc'", "csv(\"bad_number.csv\")",
                 "classes = 3", NULL);
    EXPECT_ERROR(DIR "bad_label.csv:4:13: error: class label 3 is outside [0, 3) (classes = 3)",
                 "csv(\"bad_label.csv\")", "classes = 3", NULL);
    EXPECT_ERROR(DIR "bad_fraction.csv:2:13: error: class label 1.5 is not a whole number", "csv(\"bad_fraction.csv\")",
                 "classes = 3", NULL);
    EXPECT_ERROR(DIR "bad_nan.csv:3:7: error: field 3 is not a finite number: 'nan'", "csv(\"bad_nan.csv\")",
                 "classes = 3", NULL);
    EXPECT_ERROR(DIR "bad_inf.csv:2:4: error: field 2 is not a finite number: '-inf'", "csv(\"bad_inf.csv\")", NULL);
    EXPECT_ERROR(DIR "bad_empty_field.csv:2:4: error: field 2 is empty", "csv(\"bad_empty_field.csv\")", NULL);
    EXPECT_ERROR("has no records after its header lines", "csv(\"header_only.csv\")", "header = 1", NULL);
    EXPECT_ERROR("header = 5, but " DIR "header_only.csv has only 1 line", "csv(\"header_only.csv\")", "header = 5", NULL);
    EXPECT_ERROR(DIR "t.surgery:1:14: error: cannot open '" DIR "missing.csv': No such file or directory",
                 "csv(\"missing.csv\")", NULL);
    EXPECT_ERROR("label = 9, but " DIR "small.csv has 5 columns", "csv(\"small.csv\")", "header = 1",
                 "label = 9", "classes = 3", NULL);
    EXPECT_ERROR("t.surgery:2:3: error: csv data has no option `labl`", "csv(\"small.csv\")", "labl = 3", NULL);
    EXPECT_ERROR("t.surgery:2:9: error: `batch` must be at least 1, not 0", "csv(\"small.csv\")", "batch = 0", NULL);
    EXPECT_ERROR("`delimiter` must be a single character", "csv(\"small.csv\")", "delimiter = \";;\"", NULL);
    EXPECT_ERROR("`label_count` is for regression targets", "csv(\"small.csv\")", "classes = 3", "label_count = 2", NULL);
    EXPECT_ERROR("`classes` must be at least 2", "csv(\"small.csv\")", "classes = 1", NULL);
    EXPECT_ERROR("`shuffle` must be true or false", "csv(\"small.csv\")", "shuffle = 1", NULL);
    EXPECT_ERROR("`normalize` must be standardize or minmax", "csv(\"small.csv\")", "normalize = zscore", NULL);
    EXPECT_ERROR("unknown data source `cvs`", "cvs(\"small.csv\")", NULL);
    EXPECT_ERROR("csv(...) takes at most 1 argument (path)", "csv(\"small.csv\", \"other.csv\")", NULL);
    EXPECT_ERROR("argument `path` is given twice", "csv(\"small.csv\", path = \"other.csv\")", NULL);
    EXPECT_ERROR("csv(...) needs the CSV file as its first argument", "csv()", NULL);
    EXPECT_ERROR("option `batch` is given twice", "csv(\"small.csv\")", "batch = 2", "batch = 3", NULL);
    EXPECT_ERROR("note: if line 1 is a header, skip it with `header = 1`", "csv(\"small.csv\")", "classes = 3", NULL);
    /* errors in a data file point back at the data statement */
    EXPECT_ERROR("t.surgery:1:1: note: in the data `d` declared here", "csv(\"bad_number.csv\")", "classes = 3", NULL);
}

/* ---- normalisation and hashing ---- */

Test(data, normalizer_fit_and_apply)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv(\"regression.csv\")", "label_count = 2", "batch = 3", "normalize = standardize", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_normalize_option(ds), NORM_STANDARDIZE);
    normalizer n = {0};
    cr_assert_eq(data_fit_normalizer(ds, NORM_STANDARDIZE, &n, c.d), 0);
    cr_assert_eq(n.n, 3);
    /* column 0 is 0..7: mean 3.5, population std sqrt(5.25) */
    assert_close(n.shift[0], 3.5f);
    assert_close(n.scale[0], (float)(1.0 / sqrt(5.25)));
    assert_close(n.shift[1], 7.0f);
    assert_close(n.scale[1], (float)(1.0 / sqrt(21.0)));
    cr_assert_eq(data_set_normalizer(ds, &n), 0);
    batch b = {0};
    double sum[3] = {0}, sq[3] = {0};
    int64_t rows = 0;
    data_reset(ds, 0);
    while (data_next(ds, &b, c.d) == 1)
        for (int64_t i = 0; i < b.n; i++, rows++)
            for (int f = 0; f < 3; f++) {
                sum[f] += b.x.data[i * 3 + f];
                sq[f] += b.x.data[i * 3 + f] * b.x.data[i * 3 + f];
            }
    cr_assert_eq(rows, 8);
    for (int f = 0; f < 3; f++) {
        cr_assert(fabs(sum[f] / 8) < 1e-5, "mean %g", sum[f] / 8);
        cr_assert(fabs(sq[f] / 8 - 1) < 1e-4, "variance %g", sq[f] / 8);
    }
    normalizer m = {0};
    cr_assert_eq(data_fit_normalizer(ds, NORM_MINMAX, &m, c.d), 0);
    assert_close(m.shift[0], 0.0f);
    assert_close(m.scale[0], 1.0f / 7.0f);
    assert_close(m.shift[2], -6.0f);
    cr_assert_eq(data_set_normalizer(ds, &m), 0);
    data_reset(ds, 0);
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    assert_close(b.x.data[0], 0.0f);
    assert_close(b.x.data[2], 1.0f);   /* x2 = 1 is the maximum */
    normalizer wrong = {NORM_MINMAX, 5, m.shift, m.scale};
    cr_assert_eq(data_set_normalizer(ds, &wrong), -1);
    batch_release(&b);
    data_normalizer_release(&n);
    data_normalizer_release(&m);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, sequence_normalizer_skips_masked_steps)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv_sequence(\"seq/%d.csv\", labels = \"seqlabels/%d.csv\", first = 0, last = 3)",
                          "classes = 3", "batch = 4", NULL);
    dataset *ds = open_ok(&c, st);
    normalizer n = {0};
    cr_assert_eq(data_fit_normalizer(ds, NORM_MINMAX, &n, c.d), 0);
    /* the first feature is s*10 + t over the 12 real steps: min 0, max 33 (no padding zeros) */
    assert_close(n.shift[0], 0.0f);
    assert_close(n.scale[0], 1.0f / 33.0f);
    cr_assert_eq(data_fit_normalizer(ds, NORM_STANDARDIZE, &n, c.d), 0);
    double mean = (0 + 1 + 2 + 10 + 11 + 12 + 20 + 21 + 30 + 31 + 32 + 33) / 12.0;
    assert_close(n.shift[0], (float)mean);
    data_normalizer_release(&n);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, content_hash)
{
    diag_capture c;
    capture_open(&c);
    const char *src = "csv(\"small.csv\")";
    ir_stmt *s1 = mk_stmt(&c, src, "header = 1", "classes = 3", "batch = 4", NULL);
    ir_stmt *s2 = mk_stmt(&c, src, "header = 1", "classes = 3", "batch = 2", "shuffle = true", NULL);
    ir_stmt *s3 = mk_stmt(&c, src, "header = 1", "classes = 3", "limit = 4", NULL);
    ir_stmt *s4 = mk_stmt(&c, "csv(\"iris.csv\")", "header = 1", "classes = 3", NULL);
    dataset *a = open_ok(&c, s1), *b = open_ok(&c, s2), *l = open_ok(&c, s3), *o = open_ok(&c, s4);
    uint64_t ha, hb, hl, ho, hn;
    cr_assert_eq(data_content_hash(a, &ha, c.d), 0);
    cr_assert_eq(data_content_hash(b, &hb, c.d), 0);
    cr_assert_eq(data_content_hash(l, &hl, c.d), 0);
    cr_assert_eq(data_content_hash(o, &ho, c.d), 0);
    cr_assert_eq(ha, hb, "batch and shuffle do not change the examples");
    cr_assert_neq(ha, hl);
    cr_assert_neq(ha, ho);
    normalizer n = {0};
    cr_assert_eq(data_fit_normalizer(a, NORM_STANDARDIZE, &n, c.d), 0);
    data_set_normalizer(a, &n);
    cr_assert_eq(data_content_hash(a, &hn, c.d), 0);
    cr_assert_neq(ha, hn, "the normaliser changes what the data yields");
    char hex[17];
    data_hash_hex(0x0123456789abcdefull, hex);
    cr_assert_str_eq(hex, "0123456789abcdef");
    data_normalizer_release(&n);
    data_close(a);
    data_close(b);
    data_close(l);
    data_close(o);
    free_stmt(s1);
    free_stmt(s2);
    free_stmt(s3);
    free_stmt(s4);
    capture_close(&c);
}

/* ---- streaming: a CSV much larger than a batch stays out of memory ---- */

Test(data, csv_streams_with_bounded_memory)
{
    char dir[] = "/tmp/surgery-data-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[128], script[128];
    snprintf(path, sizeof path, "%s/big.csv", dir);
    snprintf(script, sizeof script, "%s/t.surgery", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    const int rows = 20000, F = 8;
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < F; j++)
            fprintf(f, "%d.%03d,", r % 997, (r * 7 + j) % 1000);
        fprintf(f, "%d\n", r % 5);
    }
    long file_size = ftell(f);
    fclose(f);

    diag_capture c;
    capture_open(&c);
    script_path = script;
    ir_stmt *st = mk_stmt(&c, "csv(\"big.csv\")", "classes = 5", "batch = 16", "shuffle = true", NULL);
    script_path = DIR "t.surgery";
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), rows);
    batch b = {0};
    int64_t seen = 0, label_sum = 0, expect_sum = 0;
    for (int r = 0; r < rows; r++)
        expect_sum += r % 5;
    data_reset(ds, 3);
    while (data_next(ds, &b, c.d) == 1) {
        cr_assert(b.n <= 16);
        for (int64_t i = 0; i < b.n; i++)
            label_sum += argmax_row(b.y.data + i * 5, 5);
        seen += b.n;
    }
    cr_assert_eq(seen, rows);
    cr_assert_eq(label_sum, expect_sum);
    size_t batch_bytes = (size_t)16 * (size_t)(F + 5) * sizeof(float);
    size_t index = data_index_bytes(ds);
    size_t line_buffer = 16384 + 1024;   /* one read of consecutive records, and parsed values */
    size_t peak = data_peak_bytes(ds);
    cr_assert(index >= (size_t)rows * 16, "the index holds a record offset and an order slot per record");
    cr_assert(index <= (size_t)rows * 16 * 2, "the index holds offsets, not values (%zu bytes)", index);
    cr_assert(peak <= index + batch_bytes + line_buffer, "peak %zu > index %zu + batch %zu + line buffer",
              peak, index, batch_bytes);
    cr_assert(peak < (size_t)file_size / 2, "peak %zu bytes for a %ld-byte file", peak, file_size);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
    unlink(path);
    rmdir(dir);
}

/* ---- csv_sequence ---- */

#define SEQ_SRC "csv_sequence(\"seq/%d.csv\", labels = \"seqlabels/%d.csv\", first = 0, last = 3)"

/* seq s, step t: features (s*10 + t, (s + t) % 5 - 2), label (s + t) % 3; lengths 3, 3, 2, 4. */
static void check_step(const batch *b, int64_t slot, int64_t t, int s, int step)
{
    int64_t n = b->n;
    const float *x = b->x.data + (t * n + slot) * 2;
    assert_close(x[0], (float)(s * 10 + step));
    assert_close(x[1], (float)((s + step) % 5 - 2));
}

Test(data, csv_sequence_equal_lengths_with_masks)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, SEQ_SRC, "classes = 3", "batch = 4", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert(data_is_sequence(ds));
    cr_assert(!data_aligns_end(ds));
    cr_assert_eq(data_features(ds), 2);
    cr_assert_eq(data_count(ds), 4);
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_eq(b.x.ndim, 3);
    cr_assert_eq(b.x.shape[0], 4);   /* T = the longest sequence */
    cr_assert_eq(b.x.shape[1], 4);
    cr_assert_eq(b.x.shape[2], 2);
    cr_assert_eq(b.y.shape[2], 3);
    cr_assert_not_null(b.mask.data);
    cr_assert_not_null(b.label_mask.data);
    static const int len[4] = {3, 3, 2, 4};
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 4; t++) {
            float m = t < len[s] ? 1.0f : 0.0f;
            assert_close(b.mask.data[t * 4 + s], m);
            assert_close(b.label_mask.data[t * 4 + s], m);
            if (t < len[s]) {
                check_step(&b, s, t, s, t);
                cr_assert_eq(argmax_row(b.y.data + (t * 4 + s) * 3, 3), (s + t) % 3);
            } else {
                assert_close(b.x.data[(t * 4 + s) * 2], 0.0f);
            }
        }
    cr_assert_eq(data_next(ds, &b, c.d), 0);
    data_close(ds);
    free_stmt(st);

    /* sequences 0 and 1 have the same length: no masks at all */
    st = mk_stmt(&c, "csv_sequence(\"seq/%d.csv\", labels = \"seqlabels/%d.csv\", first = 0, last = 1)",
                 "classes = 3", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_eq(b.x.shape[0], 3);
    cr_assert_null(b.mask.data);
    cr_assert_null(b.label_mask.data);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_sequence_align_end_and_per_sequence)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, SEQ_SRC, "classes = 3", "batch = 4", "align = end", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert(data_aligns_end(ds));
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    /* sequence 2 (2 steps) sits at steps 2..3 of 4 */
    assert_close(b.mask.data[0 * 4 + 2], 0.0f);
    assert_close(b.mask.data[1 * 4 + 2], 0.0f);
    assert_close(b.mask.data[2 * 4 + 2], 1.0f);
    check_step(&b, 2, 2, 2, 0);
    check_step(&b, 2, 3, 2, 1);
    check_step(&b, 0, 1, 0, 0);
    cr_assert_eq(argmax_row(b.y.data + (3 * 4 + 2) * 3, 3), (2 + 1) % 3);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);

    /* one label per sequence, at its last step */
    st = mk_stmt(&c, "csv_sequence(\"seq/%d.csv\", labels = \"seqone/%d.csv\", first = 0, last = 3)", "classes = 2",
                 "per_sequence = true", "batch = 4", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_not_null(b.label_mask.data);
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 4; t++) {
            bool last = t == 3;
            assert_close(b.label_mask.data[t * 4 + s], last ? 1.0f : 0.0f);
            if (last)
                cr_assert_eq(argmax_row(b.y.data + (t * 4 + s) * 2, 2), s % 2);
            else
                assert_close(b.y.data[(t * 4 + s) * 2] + b.y.data[(t * 4 + s) * 2 + 1], 0.0f);
        }
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_sequence_label_column_and_regression)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "csv_sequence(\"seqboth/%d.csv\", first = 0, last = 3)", "classes = 3", "batch = 2",
                          NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_features(ds), 2);
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_eq(b.n, 2);
    check_step(&b, 1, 2, 1, 2);
    cr_assert_eq(argmax_row(b.y.data + (2 * 2 + 1) * 3, 3), (1 + 2) % 3);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);

    st = mk_stmt(&c, "csv_sequence(\"seq/%d.csv\", labels = \"seqreg/%d.csv\", first = 2, last = 3)", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_classes(ds), 0);
    cr_assert_eq(data_outputs(ds), 2);
    cr_assert_eq(data_count(ds), 2);
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    /* slot 1 is sequence 3, step 3: targets (3 + 3, -3) */
    assert_close(b.y.data[(3 * 2 + 1) * 2], 6.0f);
    assert_close(b.y.data[(3 * 2 + 1) * 2 + 1], -3.0f);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_sequence_shuffle_is_deterministic)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, SEQ_SRC, "classes = 3", "batch = 1", "shuffle = true", NULL);
    dataset *ds = open_ok(&c, st);
    float a[4], b[4];
    epoch_keys(ds, 11, a, &c);
    epoch_keys(ds, 11, b, &c);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    float sum = a[0] + a[1] + a[2] + a[3];
    assert_close(sum, 0 + 10 + 20 + 30);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, csv_sequence_bad_inputs)
{
    EXPECT_ERROR(DIR "seq/4.csv: error: cannot open sequence file: No such file or directory",
                 "csv_sequence(\"seq/%d.csv\", labels = \"seqlabels/%d.csv\", first = 0, last = 5)", "classes = 3",
                 NULL);
    EXPECT_ERROR(DIR "seqshort/1.csv: error: has 2 label rows but " DIR "seq/1.csv has 3 steps",
                 "csv_sequence(\"seq/%d.csv\", labels = \"seqshort/%d.csv\", first = 0, last = 3)", "classes = 3",
                 NULL);
    EXPECT_ERROR(DIR "seqbad/0.csv:2:5: error: class label 7 is outside [0, 3)",
                 "csv_sequence(\"seqbad/%d.csv\", first = 0, last = 0)", "classes = 3", NULL);
    EXPECT_ERROR("needs exactly one %d", "csv_sequence(\"seq/0.csv\", first = 0, last = 0)", NULL);
    EXPECT_ERROR("last = 1 comes before first = 2", "csv_sequence(\"seq/%d.csv\", first = 2, last = 1)", NULL);
    EXPECT_ERROR("needs last = N", "csv_sequence(\"seq/%d.csv\", first = 0)", NULL);
    EXPECT_ERROR("per_sequence = true needs labels", "csv_sequence(\"seqboth/%d.csv\", first = 0, last = 1)",
                 "per_sequence = true", NULL);
    EXPECT_ERROR("a label file holds one class index per row",
                 "csv_sequence(\"seq/%d.csv\", labels = \"seqreg/%d.csv\", first = 0, last = 1)", "classes = 3", NULL);
    EXPECT_ERROR("`align` must be equal, start or end", SEQ_SRC, "align = middle", NULL);
    EXPECT_ERROR("csv_sequence(...) has no argument `label`", "csv_sequence(\"seq/%d.csv\", label = 2, first = 0, last = 1)",
                 NULL);
}

/* ---- idx ---- */

Test(data, idx_images_and_labels)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "idx(\"images.idx3\", labels = \"labels.idx1\")", "batch = 2", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_features(ds), 6);
    cr_assert_eq(data_classes(ds), 10);
    cr_assert_eq(data_count(ds), 5);
    static const int labels[5] = {3, 1, 4, 1, 5};
    batch b = {0};
    int64_t k = 0;
    while (data_next(ds, &b, c.d) == 1)
        for (int64_t i = 0; i < b.n; i++, k++) {
            for (int j = 0; j < 6; j++)
                assert_close(b.x.data[i * 6 + j], (float)((k * 6 + j) * 37 % 256) / 255.0f);
            cr_assert_eq(argmax_row(b.y.data + i * 10, 10), labels[k]);
        }
    cr_assert_eq(k, 5);
    data_close(ds);
    free_stmt(st);

    /* shuffled: each image still arrives with its own label */
    st = mk_stmt(&c, "idx(\"images.idx3\", labels = \"labels.idx1\")", "batch = 3", "shuffle = true", NULL);
    ds = open_ok(&c, st);
    data_reset(ds, 5);
    while (data_next(ds, &b, c.d) == 1)
        for (int64_t i = 0; i < b.n; i++) {
            int64_t id = -1;
            for (int64_t r = 0; r < 5; r++)
                if ((r * 6 * 37) % 256 == (int64_t)lroundf(b.x.data[i * 6] * 255.0f))
                    id = r;
            cr_assert(id >= 0);
            cr_assert_eq(argmax_row(b.y.data + i * 10, 10), labels[id]);
        }
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, idx_bad_inputs)
{
    EXPECT_ERROR(DIR "bad_magic.idx3: error: not an idx3-ubyte image file: magic number 0x00000802, expected 0x00000803",
                 "idx(\"bad_magic.idx3\", labels = \"labels.idx1\")", NULL);
    EXPECT_ERROR(DIR "truncated.idx3: error: truncated: the header promises 5 images of 2x3 (46 bytes), the file has 42",
                 "idx(\"truncated.idx3\", labels = \"labels.idx1\")", NULL);
    EXPECT_ERROR(DIR "labels_short.idx1: error: has 4 labels, but " DIR "images.idx3 has 5 images",
                 "idx(\"images.idx3\", labels = \"labels_short.idx1\")", NULL);
    EXPECT_ERROR(DIR "labels_big.idx1: error: the label at index 2 is 12, outside [0, 10) (classes = 10)",
                 "idx(\"images.idx3\", labels = \"labels_big.idx1\")", NULL);
    EXPECT_ERROR("the label at index 4 is 5, outside [0, 5)", "idx(\"images.idx3\", labels = \"labels.idx1\")",
                 "classes = 5", NULL);
    EXPECT_ERROR("not an idx1-ubyte label file: magic number 0x00000803",
                 "idx(\"images.idx3\", labels = \"images.idx3\")", NULL);
    EXPECT_ERROR("idx(...) needs the idx1-ubyte label file: labels = \"PATH\"", "idx(\"images.idx3\")", NULL);
}

/* ---- text ---- */

Test(data, text_char_sequences)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "text(\"small.txt\")", "seq_length = 5", "batch = 3", NULL);
    dataset *ds = open_ok(&c, st);
    /* "hello world\nhello there\n": 24 bytes, windows of 5 starting every 5 bytes */
    cr_assert_eq(data_count(ds), 4);
    int64_t V;
    const unsigned char *vocab = data_vocab(ds, &V);
    cr_assert_eq(V, 10);
    cr_assert_eq(memcmp(vocab, "\n dehlortw", 10), 0);
    cr_assert_eq(data_features(ds), 10);
    cr_assert_eq(data_classes(ds), 10);
    cr_assert(data_is_sequence(ds));
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_eq(b.x.shape[0], 5);
    cr_assert_eq(b.x.shape[1], 3);
    cr_assert_eq(b.x.shape[2], 10);
    const char *text = "hello world\nhello there\n";
    for (int64_t i = 0; i < 3; i++)
        for (int64_t t = 0; t < 5; t++) {
            int64_t xi = argmax_row(b.x.data + (t * 3 + i) * 10, 10), yi = argmax_row(b.y.data + (t * 3 + i) * 10, 10);
            cr_assert_eq(vocab[xi], (unsigned char)text[i * 5 + t]);
            cr_assert_eq(vocab[yi], (unsigned char)text[i * 5 + t + 1]);
        }
    batch_release(&b);
    data_close(ds);
    free_stmt(st);

    st = mk_stmt(&c, "text(\"small.txt\")", "seq_length = 3", "vocab = \"\\n ehlowrdt\"", NULL);
    ds = open_ok(&c, st);
    vocab = data_vocab(ds, &V);
    cr_assert_eq(V, 10);
    cr_assert_eq(vocab[2], 'e', "a given vocab keeps its order");
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, text_bad_inputs)
{
    EXPECT_ERROR(DIR "small.txt:1:5: error: 'o' is not in the vocab", "text(\"small.txt\")", "vocab = \"hel\"",
                 "seq_length = 5", NULL);
    EXPECT_ERROR("`vocab` holds 'l' twice", "text(\"small.txt\")", "vocab = \"hell\"", NULL);
    EXPECT_ERROR("has 24 bytes; seq_length = 30 needs at least 31", "text(\"small.txt\")", "seq_length = 30", NULL);
    EXPECT_ERROR("text data has no option `normalize`", "text(\"small.txt\")", "normalize = minmax", NULL);
}

/* ---- npy ---- */

Test(data, npy_features_and_labels)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "npy(\"x.npy\", labels = \"y.npy\")", "classes = 3", "batch = 4", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_features(ds), 3);
    cr_assert_eq(data_count(ds), 6);
    static const int y[6] = {0, 1, 2, 1, 0, 2};
    batch b = {0};
    int64_t k = 0;
    while (data_next(ds, &b, c.d) == 1)
        for (int64_t i = 0; i < b.n; i++, k++) {
            for (int j = 0; j < 3; j++)
                assert_close(b.x.data[i * 3 + j], (float)(k * 3 + j) / 4.0f);
            cr_assert_eq(argmax_row(b.y.data + i * 3, 3), y[k]);
        }
    cr_assert_eq(k, 6);
    data_close(ds);
    free_stmt(st);

    st = mk_stmt(&c, "npy(\"x.npy\", labels = \"y_onehot.npy\")", "classes = 3", "batch = 6", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(argmax_row(b.y.data + i * 3, 3), y[i]);
    data_close(ds);
    free_stmt(st);

    st = mk_stmt(&c, "npy(\"x.npy\", labels = \"y_reg.npy\")", "batch = 6", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_classes(ds), 0);
    cr_assert_eq(data_outputs(ds), 2);
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    for (int i = 0; i < 6; i++) {
        assert_close(b.y.data[i * 2], b.x.data[i * 3] + b.x.data[i * 3 + 1]);
        assert_close(b.y.data[i * 2 + 1], 2 * b.x.data[i * 3 + 2]);
    }
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, arguments_by_position_or_name)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "npy(\"x.npy\", \"y.npy\")", "classes = 3", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), 6);
    data_close(ds);
    free_stmt(st);
    st = mk_stmt(&c, "csv_sequence(\"seq/%d.csv\", \"seqlabels/%d.csv\", 1, 2)", "classes = 3", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), 2);
    data_close(ds);
    free_stmt(st);
    st = mk_stmt(&c, "idx(images = \"images.idx3\", labels = \"labels.idx1\")", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), 5);
    data_close(ds);
    free_stmt(st);
    st = mk_stmt(&c, "csv(path = \"small.csv\")", "header = 1", NULL);
    ds = open_ok(&c, st);
    cr_assert_eq(data_count(ds), 10);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(data, npy_sequences_become_time_major)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "npy(\"xseq.npy\", labels = \"yseq.npy\")", "classes = 3", "batch = 4", NULL);
    dataset *ds = open_ok(&c, st);
    cr_assert(data_is_sequence(ds));
    cr_assert_eq(data_features(ds), 2);
    batch b = {0};
    cr_assert_eq(data_next(ds, &b, c.d), 1);
    cr_assert_eq(b.x.shape[0], 5);
    cr_assert_eq(b.x.shape[1], 4);
    cr_assert_eq(b.x.shape[2], 2);
    cr_assert_null(b.mask.data);
    for (int n = 0; n < 4; n++)
        for (int t = 0; t < 5; t++) {
            /* batch-first xs[n, t, f] = n*10 + t*2 + f */
            assert_close(b.x.data[(t * 4 + n) * 2], (float)(n * 10 + t * 2));
            assert_close(b.x.data[(t * 4 + n) * 2 + 1], (float)(n * 10 + t * 2 + 1));
            cr_assert_eq(argmax_row(b.y.data + (t * 4 + n) * 3, 3), (n * 5 + t) % 3);
        }
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

/* Writes x [n, T, F] (or [n, F] when T is 0) with x[i, t, f] = i * 100000 + t * 50000 + f and
 * class-index labels y[i, t] = (i + t) % 3 as float32 .npy files in dir. */
static void write_npy_pair(const char *dir, int64_t n, int64_t T, int64_t F)
{
    tensor x = {0}, y = {0};
    int64_t steps = T ? T : 1;
    cr_assert_eq(T ? tensor_alloc3(&x, n, T, F) : tensor_alloc2(&x, n, F), 0);
    cr_assert_eq(T ? tensor_alloc2(&y, n, T) : tensor_alloc(&y, 1, &n), 0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < steps; t++) {
            for (int64_t f = 0; f < F; f++)
                x.data[(i * steps + t) * F + f] = (float)(i * 100000 + t * 50000 + f);
            y.data[i * steps + t] = (float)((i + t) % 3);
        }
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    cr_assert_eq(npy_save_float(path, &x, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    cr_assert_eq(npy_save_float(path, &y, err, sizeof err), 0, "%s", err);
    tensor_release(&x);
    tensor_release(&y);
}

/* Every example of an epoch (order[k] = file row of position k) lands in its batch slot with
 * its own features and labels, whatever runs of consecutive rows the order holds. */
static void check_npy_epoch(diag_capture *c, dataset *ds, uint64_t seed, const int64_t *order, int64_t n, int64_t T,
                            int64_t F)
{
    int64_t steps = T ? T : 1;
    batch b = {0};
    int64_t k = 0;
    cr_assert_eq(data_reset(ds, seed), 0);
    while (data_next(ds, &b, c->d) == 1) {
        int64_t B = b.n;
        for (int64_t s = 0; s < B; s++, k++) {
            int64_t row = order[k];
            for (int64_t t = 0; t < steps; t++) {
                const float *xv = b.x.data + (t * B + s) * F;   /* [B, F] or time-major [T, B, F] */
                for (int64_t f = 0; f < F; f += F > 7 ? F / 7 : 1)
                    cr_assert_eq(xv[f], (float)(row * 100000 + t * 50000 + f),
                                 "position %lld (row %lld) step %lld feature %lld: %g", (long long)k,
                                 (long long)row, (long long)t, (long long)f, xv[f]);
                cr_assert_eq(xv[F - 1], (float)(row * 100000 + t * 50000 + F - 1));
                cr_assert_eq(argmax_row(b.y.data + (t * B + s) * 3, 3), (row + t) % 3,
                             "labels of position %lld (row %lld) step %lld", (long long)k, (long long)row,
                             (long long)t);
            }
        }
    }
    cr_assert_eq(k, n);
    batch_release(&b);
}

Test(data, npy_runs_and_shuffled_batches_hold_the_right_examples)
{
    char dir[] = "/tmp/surgery-npy-runs.XXXXXX";
    cr_assert(mkdtemp(dir));
    /* Sequence rows of 70,000 floats: runs longer than the reader's staging chunk are split. */
    static const int64_t shapes[2][2] = {{0, 5000}, {2, 35000}};
    for (int v = 0; v < 2; v++) {
        int64_t n = 23, T = shapes[v][0], F = shapes[v][1];
        write_npy_pair(dir, n, T, F);
        diag_capture c;
        capture_open(&c);
        char src[1200];
        snprintf(src, sizeof src, "npy(\"%s/x.npy\", labels = \"%s/y.npy\")", dir, dir);
        int64_t order[23];
        for (int64_t i = 0; i < n; i++)
            order[i] = i;
        ir_stmt *st = mk_stmt(&c, src, "classes = 3", "batch = 10", NULL);
        dataset *ds = open_ok(&c, st);
        check_npy_epoch(&c, ds, 1, order, n, T, F);
        data_close(ds);
        free_stmt(st);
        st = mk_stmt(&c, src, "classes = 3", "batch = 10", "shuffle = true", NULL);
        ds = open_ok(&c, st);
        for (uint64_t seed = 1; seed <= 3; seed++) {
            rng r;
            rng_seed(&r, seed);
            for (int64_t i = 0; i < n; i++)
                order[i] = i;
            rng_shuffle(&r, order, n);
            check_npy_epoch(&c, ds, seed, order, n, T, F);
        }
        data_close(ds);
        free_stmt(st);
        cr_assert_eq(diag_error_count(c.d), 0, "%s", capture_text(&c));
        capture_close(&c);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    unlink(path);
    rmdir(dir);
}

Test(data, npy_bad_inputs)
{
    EXPECT_ERROR("features must be float32 or float64; " DIR "x_int.npy holds i4", "npy(\"x_int.npy\", labels = \"y.npy\")",
                 "classes = 3", NULL);
    EXPECT_ERROR("labels [5] do not fit features [6, 3]", "npy(\"x.npy\", labels = \"y_short.npy\")", "classes = 3",
                 NULL);
    EXPECT_ERROR(DIR "x_nan.npy: error: example 4, feature 1 is nan", "npy(\"x_nan.npy\", labels = \"y.npy\")",
                 "classes = 3", NULL);
    EXPECT_ERROR(DIR "y_bad.npy: error: example 3: class label 7 is outside [0, 3)", "npy(\"x.npy\", labels = \"y_bad.npy\")",
                 "classes = 3", NULL);
    EXPECT_ERROR("say how many classes with classes = K", "npy(\"x.npy\", labels = \"y.npy\")", NULL);
    EXPECT_ERROR("one-hot labels [6, 3] have 3 columns, but classes = 4", "npy(\"x.npy\", labels = \"y_onehot.npy\")",
                 "classes = 4", NULL);
    EXPECT_ERROR("labels [4, 5] do not fit features [6, 3]", "npy(\"x.npy\", labels = \"yseq.npy\")", "classes = 3", NULL);
    EXPECT_ERROR("cannot", "npy(\"nothere.npy\", labels = \"y.npy\")", "classes = 3", NULL);
}

/* ---- batches read together ---- */

/* data_next_n over `max` examples (a multiple of the batch size) gives the examples of the
 * batches data_next would give, in the same order, laid out as one batch (rows of [B, F] or
 * columns of time-major [T, B, F]). */
static void same_as_batches(ir_stmt *st, int64_t max, uint64_t seed)
{
    diag_capture c;
    capture_open(&c);
    dataset *one = open_ok(&c, st), *many = open_ok(&c, st);
    cr_assert_eq(data_reset(one, seed), 0);
    cr_assert_eq(data_reset(many, seed), 0);
    batch g = {0}, b = {0};
    int64_t seen = 0;
    while (data_next_n(many, max, &g, c.d) == 1) {
        int64_t left = data_count(many) - seen;
        cr_assert_eq(g.n, left < max ? left : max, "%lld examples of %lld left, max %lld", (long long)g.n,
                     (long long)left, (long long)max);
        int64_t T = g.x.ndim == 3 ? g.x.shape[0] : 1, F = g.x.shape[g.x.ndim - 1];
        int64_t K = g.y.shape[g.y.ndim - 1];
        for (int64_t r = 0; r < g.n;) {
            cr_assert_eq(data_next(one, &b, c.d), 1, "%s", capture_text(&c));
            cr_assert_leq(r + b.n, g.n, "a batch crosses the end of the group");
            cr_assert_eq(b.x.ndim, g.x.ndim);
            cr_assert_eq(b.x.ndim == 3 ? b.x.shape[0] : 1, T);
            cr_assert_eq(b.mask.data != NULL, g.mask.data != NULL);
            cr_assert_eq(b.label_mask.data != NULL, g.label_mask.data != NULL);
            for (int64_t t = 0; t < T; t++)
                for (int64_t i = 0; i < b.n; i++) {
                    cr_assert(!memcmp(b.x.data + (t * b.n + i) * F, g.x.data + (t * g.n + r + i) * F,
                                      (size_t)F * sizeof(float)), "step %lld example %lld", (long long)t,
                              (long long)(seen + r + i));
                    cr_assert(!memcmp(b.y.data + (t * b.n + i) * K, g.y.data + (t * g.n + r + i) * K,
                                      (size_t)K * sizeof(float)));
                    if (b.mask.data)
                        cr_assert_eq(b.mask.data[t * b.n + i], g.mask.data[t * g.n + r + i]);
                    if (b.label_mask.data)
                        cr_assert_eq(b.label_mask.data[t * b.n + i], g.label_mask.data[t * g.n + r + i]);
                }
            r += b.n;
        }
        seen += g.n;
    }
    cr_assert_eq(data_next(one, &b, c.d), 0, "data_next_n stopped early");
    cr_assert_eq(seen, data_count(one));
    batch_release(&g);
    data_close(one);
    data_close(many);
    capture_close(&c);
    free_stmt(st);
}

Test(data, batches_read_together_equal_batches_read_apart)
{
    diag_capture c;
    capture_open(&c);
    /* 10 rows in batches of 2: groups of 4, 4 and 2 (the last one a single batch) */
    same_as_batches(mk_stmt(&c, "csv(\"small.csv\")", "header = 1", "classes = 3", "batch = 2", NULL), 4, 0);
    same_as_batches(mk_stmt(&c, "csv(\"small.csv\")", "header = 1", "classes = 3", "batch = 2", "shuffle = true", NULL), 4, 7);
    same_as_batches(mk_stmt(&c, "npy(\"xseq.npy\", labels = \"yseq.npy\")", "classes = 3", "batch = 1", NULL), 3, 0);
    same_as_batches(mk_stmt(&c, "text(\"small.txt\")", "seq_length = 4", "batch = 2", "shuffle = true", NULL), 6, 3);
    /* per_sequence labels: every batch has the same label mask */
    same_as_batches(mk_stmt(&c, "csv_sequence(\"seq/%d.csv\", labels = \"seqone/%d.csv\", first = 0, last = 1)",
                            "classes = 2", "per_sequence = true", "batch = 1", NULL), 2, 0);
    capture_close(&c);
}

Test(data, fixed_steps_tell_when_batches_pad)
{
    diag_capture c;
    capture_open(&c);
    struct {
        const char *source, *opt, *opt2;
        int64_t steps;
    } cases[] = {
        {"csv(\"small.csv\")", "header = 1", "classes = 3", 1},
        {"npy(\"xseq.npy\", labels = \"yseq.npy\")", "classes = 3", "batch = 2", 5},
        {"text(\"small.txt\")", "seq_length = 4", "batch = 2", 4},
        {SEQ_SRC, "classes = 3", "batch = 2", 0},                         /* 3, 3, 2, 4 steps */
        {"csv_sequence(\"seq/%d.csv\", labels = \"seqlabels/%d.csv\", first = 0, last = 1)", "classes = 3",
         "batch = 2", 3},
        /* one label per sequence: 3 feature steps, 1 labelled step, in every batch */
        {"csv_sequence(\"seq/%d.csv\", labels = \"seqone/%d.csv\", first = 0, last = 1)", "classes = 2",
         "per_sequence = true", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ir_stmt *st = mk_stmt(&c, cases[i].source, cases[i].opt, cases[i].opt2, NULL);
        dataset *ds = open_ok(&c, st);
        cr_expect_eq(data_fixed_steps(ds), cases[i].steps, "%s: %lld steps, expected %lld", cases[i].source,
                     (long long)data_fixed_steps(ds), (long long)cases[i].steps);
        data_close(ds);
        free_stmt(st);
    }
    capture_close(&c);
}
