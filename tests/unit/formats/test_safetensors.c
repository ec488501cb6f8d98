/* test_safetensors.c: the safetensors writer and the bounds-checked reader, with every kind of
 * malformed file it must refuse. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/formats/format.h"
#include "runtime/graph/arch_hash.h"
#include "runtime/formats/safetensors.h"

/* A file image: 8-byte little-endian header length, the header, then `data_len` data bytes
 * (0, 1, 2, ... mod 251). */
typedef struct image {
    unsigned char *b;
    size_t len;
} image;

static image make_image(const char *header, size_t data_len)
{
    size_t h = strlen(header);
    image im = {malloc(8 + h + data_len + 1), 8 + h + data_len};
    cr_assert(im.b);
    for (int i = 0; i < 8; i++)
        im.b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(im.b + 8, header, h);
    for (size_t i = 0; i < data_len; i++)
        im.b[8 + h + i] = (unsigned char)(i % 251);
    return im;
}

/* Parses `header` + data and expects a refusal whose message contains every given part. */
static void expect_refused(const char *header, size_t data_len, const char *part1, const char *part2)
{
    image im = make_image(header, data_len);
    char err[1024] = "";
    st_file *f = st_parse(im.b, im.len, "w.safetensors", err, sizeof err);
    cr_assert_null(f, "accepted: %s", header);
    cr_assert(strstr(err, "w.safetensors"), "message does not name the file: %s", err);
    cr_assert(strstr(err, part1), "message '%s' lacks '%s'", err, part1);
    if (part2)
        cr_assert(strstr(err, part2), "message '%s' lacks '%s'", err, part2);
    free(im.b);
}

static char *temp_path(const char *name)
{
    char dir[] = "/tmp/surgery-st-XXXXXX";
    cr_assert(mkdtemp(dir));
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void remove_temp(char *path)
{
    unlink(path);
    char *slash = strrchr(path, '/');
    *slash = 0;
    rmdir(path);
    free(path);
}

Test(safetensors, round_trip_sorted_aligned_with_metadata)
{
    tensor w = {0}, b = {0}, r = {0};
    cr_assert_eq(tensor_alloc2(&w, 2, 3), 0);
    int64_t bs[1] = {3};
    cr_assert_eq(tensor_alloc(&b, 1, bs), 0);
    cr_assert_eq(tensor_alloc2(&r, 1, 4), 0);
    for (int i = 0; i < 6; i++)
        w.data[i] = (float)i * 0.5f - 1.0f;
    for (int i = 0; i < 3; i++)
        b.data[i] = 10.0f + (float)i;
    for (int i = 0; i < 4; i++)
        r.data[i] = -3.25f * (float)i;
    st_entry entries[] = {{"z.RW", &r}, {"a.W", &w}, {"a.b", &b}};
    const char *meta[] = {"format", "surgery-model/1", "architecture_hash", "0123456789abcdef"};

    char *path = temp_path("m.safetensors");
    FILE *fp = fopen(path, "wb");
    char err[512];
    cr_assert_eq(st_write(fp, entries, 3, meta, 2, err, sizeof err), 0, "%s", err);
    fclose(fp);

    st_file *f = st_open(path, err, sizeof err);
    cr_assert(f, "%s", err);
    cr_assert_eq(f->n_tensors, 3);
    cr_assert_str_eq(f->tensors[0].name, "a.W");
    cr_assert_str_eq(f->tensors[1].name, "a.b");
    cr_assert_str_eq(f->tensors[2].name, "z.RW");
    /* Data laid out in name order, contiguous. */
    cr_assert_eq(f->tensors[0].begin, 0);
    cr_assert_eq(f->tensors[0].end, 24);
    cr_assert_eq(f->tensors[1].begin, 24);
    cr_assert_eq(f->tensors[2].end, 52);
    cr_assert_eq(f->data_len, 52);
    /* The header is padded to a multiple of 8 so the data is aligned. */
    const unsigned char *base = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | base[i];
    cr_assert_eq(hlen % 8, 0);
    cr_assert(base[8 + hlen - 1] == '}' || base[8 + hlen - 1] == ' ');
    cr_assert_str_eq(st_meta(f, "format"), "surgery-model/1");
    cr_assert_str_eq(st_meta(f, "architecture_hash"), "0123456789abcdef");
    cr_assert_null(st_meta(f, "nope"));

    tensor got = {0};
    const st_tensor *t = st_find(f, "a.W");
    cr_assert(t);
    cr_assert_eq(st_tensor_load(f, t, &got, true, err, sizeof err), 0, "%s", err);
    cr_assert(got.borrowed, "an aligned F32 tensor borrows the mapping");
    cr_assert_eq(got.ndim, 2);
    cr_assert_eq(got.shape[0], 2);
    cr_assert_eq(got.shape[1], 3);
    cr_assert_eq(tensor_max_abs_diff(&got, &w), 0.0);
    tensor_release(&got);
    cr_assert_eq(st_tensor_load(f, st_find(f, "z.RW"), &got, false, err, sizeof err), 0);
    cr_assert_not(got.borrowed);
    cr_assert_eq(tensor_max_abs_diff(&got, &r), 0.0);
    tensor_release(&got);
    cr_assert_eq(st_tensor_load(f, st_find(f, "a.b"), &got, true, err, sizeof err), 0);
    cr_assert_eq(got.ndim, 1);
    cr_assert_eq(tensor_max_abs_diff(&got, &b), 0.0);
    tensor_release(&got);
    cr_assert_null(st_find(f, "a.X"));
    st_close(f);
    remove_temp(path);
    tensor_release(&w);
    tensor_release(&b);
    tensor_release(&r);
}

Test(safetensors, writer_escapes_names_and_refuses_duplicates)
{
    tensor w = {0};
    cr_assert_eq(tensor_alloc2(&w, 1, 1), 0);
    w.data[0] = 2.0f;
    st_entry e[] = {{"we\"ird\\name\n.W", &w}};
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    char err[512];
    cr_assert_eq(st_write(fp, e, 1, NULL, 0, err, sizeof err), 0);
    fclose(fp);
    st_file *f = st_parse(buf, len, "mem", err, sizeof err);
    cr_assert(f, "%s", err);
    cr_assert_str_eq(f->tensors[0].name, "we\"ird\\name\n.W");
    st_close(f);
    free(buf);

    st_entry dup[] = {{"x.W", &w}, {"x.W", &w}};
    fp = open_memstream(&buf, &len);
    cr_assert_eq(st_write(fp, dup, 2, NULL, 0, err, sizeof err), -1);
    cr_assert(strstr(err, "x.W"));
    fclose(fp);
    free(buf);
    tensor_release(&w);
}

Test(safetensors, accepts_unpadded_headers_other_float_types_and_empty_files)
{
    /* F64 [2], F16 [2] (1.0, -2.0), BF16 [1] (1.5): 16 + 4 + 2 = 22 bytes. */
    const char *h = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},"
                    "\"z\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[20,22]},"
                    "\"__metadata__\":{\"k\":\"v\"}}";
    image im = make_image(h, 22);
    unsigned char *data = im.b + 8 + strlen(h);
    double dv[2] = {0.25, -7.5};
    memcpy(data, dv, 16);
    unsigned char half[4] = {0x00, 0x3c, 0x00, 0xc0};
    memcpy(data + 16, half, 4);
    unsigned char bf[2] = {0xc0, 0x3f};
    memcpy(data + 20, bf, 2);
    char err[512];
    st_file *f = st_parse(im.b, im.len, "mem", err, sizeof err);
    cr_assert(f, "%s", err);
    tensor t = {0};
    cr_assert_eq(st_tensor_load(f, st_find(f, "d"), &t, true, err, sizeof err), 0, "%s", err);
    cr_assert_not(t.borrowed);
    cr_assert_float_eq(t.data[0], 0.25f, 0);
    cr_assert_float_eq(t.data[1], -7.5f, 0);
    cr_assert_eq(st_tensor_load(f, st_find(f, "h"), &t, true, err, sizeof err), 0);
    cr_assert_float_eq(t.data[0], 1.0f, 0);
    cr_assert_float_eq(t.data[1], -2.0f, 0);
    cr_assert_eq(st_tensor_load(f, st_find(f, "z"), &t, true, err, sizeof err), 0);
    cr_assert_float_eq(t.data[0], 1.5f, 0);
    tensor_release(&t);
    cr_assert_str_eq(st_meta(f, "k"), "v");
    st_close(f);
    free(im.b);

    image e = make_image("{}      ", 0);
    f = st_parse(e.b, e.len, "mem", err, sizeof err);
    cr_assert(f, "%s", err);
    cr_assert_eq(f->n_tensors, 0);
    st_close(f);
    free(e.b);
}

Test(safetensors, refuses_short_files_and_bad_header_lengths)
{
    char err[512];
    unsigned char five[5] = {1, 2, 3, 4, 5};
    cr_assert_null(st_parse(five, 5, "w.safetensors", err, sizeof err));
    cr_assert(strstr(err, "w.safetensors") && strstr(err, "shorter than the 8-byte"), "%s", err);

    /* Header length 1000 in a 20-byte file. */
    unsigned char past[20] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}'};
    cr_assert_null(st_parse(past, sizeof past, "w.safetensors", err, sizeof err));
    cr_assert(strstr(err, "runs past the end"), "%s", err);

    unsigned char absurd[16] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};
    cr_assert_null(st_parse(absurd, sizeof absurd, "w.safetensors", err, sizeof err));
    cr_assert(strstr(err, "absurd"), "%s", err);

    /* A real truncated file on disk. */
    char *path = temp_path("t.safetensors");
    FILE *fp = fopen(path, "wb");
    fwrite("\x10\x00\x00", 1, 3, fp);
    fclose(fp);
    cr_assert_null(st_open(path, err, sizeof err));
    cr_assert(strstr(err, path) && strstr(err, "shorter"), "%s", err);
    remove_temp(path);

    cr_assert_null(st_open("tests/data/models/does-not-exist.safetensors", err, sizeof err));
    cr_assert(strstr(err, "cannot open"), "%s", err);
}

Test(safetensors, refuses_malformed_json)
{
    expect_refused("{\"a\":{\"dtype\":\"F32\",", 0, "malformed JSON header", NULL);
    expect_refused("{a: {dtype: F32, shape: [1], data_offsets: [0, 4]}}", 4, "malformed JSON header", NULL);
    expect_refused("[1, 2, 3]", 0, "does not start with '{'", NULL);
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4,
                   "malformed JSON header", NULL);
    expect_refused("{\"a\":&x {\"dtype\":\"F32\"}}", 0, "malformed JSON header", NULL);
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "'a'", "no data_offsets");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "'a'",
                   "not 2");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "'a'",
                   "not an integer");
    expect_refused("{\"__metadata__\":{\"k\":1}}", 0, "metadata", NULL);
}

Test(safetensors, refuses_unknown_dtype_naming_the_tensor)
{
    expect_refused("{\"l.W\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'l.W'",
                   "unknown dtype 'F33'");
}

Test(safetensors, refuses_offsets_out_of_range_overlapping_or_with_gaps)
{
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[25],\"data_offsets\":[0,100]}}", 24, "'a'",
                   "out of range");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[12,36]}}",
                   36, "overlap", "'a'");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}}",
                   28, "'b'", "gap");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "'a'",
                   "end before they begin");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12,
                   "8 bytes of data after the last tensor", NULL);
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                   "'a' appears twice", NULL);
}

Test(safetensors, refuses_shape_offset_disagreement_and_overflow)
{
    expect_refused("{\"l.W\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
                   "'l.W'", "24 bytes");
    expect_refused("{\"l.W\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                   4, "'l.W'", "overflows");
    expect_refused("{\"l.W\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}",
                   4, "'l.W'", "overflows");
    expect_refused("{\"l.W\":{\"dtype\":\"F32\",\"shape\":[-1,3],\"data_offsets\":[0,4]}}", 4,
                   "'l.W'", "negative");
    expect_refused("{\"l.W\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
                   4, "'l.W'", "overflows");
}

Test(safetensors, integer_dtypes_are_read_but_not_loaded_as_weights)
{
    image im = make_image("{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    char err[512];
    st_file *f = st_parse(im.b, im.len, "mem", err, sizeof err);
    cr_assert(f, "%s", err);
    tensor t = {0};
    cr_assert_eq(st_tensor_load(f, st_find(f, "i"), &t, true, err, sizeof err), -1);
    cr_assert(strstr(err, "'i'") && strstr(err, "I64"), "%s", err);
    st_close(f);
    free(im.b);
}

Test(safetensors, a_wrong_architecture_hash_is_refused)
{
    /* The tensors fit the YAML exactly; only the recorded hash differs. */
    char *yaml = temp_path("m.yaml");
    char *dir = strdup(yaml);
    *strrchr(dir, '/') = 0;
    char wpath[256];
    snprintf(wpath, sizeof wpath, "%s/m.safetensors", dir);
    FILE *fp = fopen(yaml, "w");
    fputs("format: surgery-model/1\ninputs:\n  - {name: x, type: feed_forward, size: 2}\n"
          "layers:\n  - {name: d, type: dense, inputs: [x], n_out: 1}\noutputs: [d]\n"
          "weights: m.safetensors\n", fp);
    fclose(fp);
    tensor W = {0}, b = {0};
    tensor_alloc2(&W, 2, 1);
    int64_t one[1] = {1};
    tensor_alloc(&b, 1, one);
    st_entry e[] = {{"d.W", &W}, {"d.b", &b}};
    char err[256];
    for (int round = 0; round < 2; round++) {
        model *arch = model_load(yaml, false, NULL);
        cr_assert(arch);
        char good[17];
        snprintf(good, sizeof good, "%016llx", (unsigned long long)model_arch_hash(arch));
        model_free(arch);
        const char *meta[] = {"format", "surgery-model/1", "architecture_hash",
                              round == 0 ? good : "0123456789abcdef"};
        fp = fopen(wpath, "wb");
        cr_assert_eq(st_write(fp, e, 2, meta, 2, err, sizeof err), 0);
        fclose(fp);
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        diag_ctx *d = diag_new(out, DIAG_COLOR_NEVER);
        model *m = model_load(yaml, true, d);
        fflush(out);
        if (round == 0) {
            cr_assert(m, "%s", buf);
        } else {
            cr_assert_null(m);
            cr_assert(strstr(buf, "m.yaml:7:10: error: weights file m.safetensors was saved for a different architecture"),
                      "%s", buf);
            cr_assert(strstr(buf, "its architecture hash is 0123456789abcdef"), "%s", buf);
        }
        model_free(m);
        diag_free(d);
        fclose(out);
        free(buf);
    }
    unlink(wpath);
    remove_temp(yaml);
    free(dir);
    tensor_release(&W);
    tensor_release(&b);
}
