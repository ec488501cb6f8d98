/* test_images.c: the images source on the committed tree tests/data/images/ (made once by
 * tools/gen_images.py, with reference values from PIL and torch in tests/data/images_ref/):
 * decoded pixels, resizing, channels, labels, split parts, shuffling, hashing and bad files;
 * and the image shapes of 4-D npy (NCHW and NHWC) and idx for a convolutional model input. */
#include <math.h>
#include <time.h>

#include "runtime/data/image_decode.h"
#include "runtime/graph/model.h"
#include "runtime/tensor/tensor.h"
#include "tests/unit/data/data_fixture.h"

#define REF "tests/data/images_ref/ref.txt"

/* The values of reference `name` (dims and values as the generator wrote them). */
typedef struct ref_values {
    int64_t dims[4];
    int ndim;
    double *v;
    int64_t n;
} ref_values;

static ref_values ref_load(const char *name)
{
    FILE *f = fopen(REF, "r");
    cr_assert(f, "cannot open " REF);
    char *line = NULL;
    size_t cap = 0;
    ref_values r = {0};
    while (getline(&line, &cap, f) > 0) {
        size_t nl = strlen(name);
        if (strncmp(line, name, nl) || line[nl] != ' ')
            continue;
        char *p = line + nl, *end;
        /* dims first (the count is fixed per name prefix: 3 for planar images) */
        for (r.ndim = 0; r.ndim < 3; r.ndim++) {
            r.dims[r.ndim] = strtoll(p, &end, 10);
            p = end;
        }
        r.n = r.dims[0] * r.dims[1] * r.dims[2];
        r.v = malloc((size_t)r.n * sizeof *r.v);
        for (int64_t i = 0; i < r.n; i++) {
            r.v[i] = strtod(p, &end);
            cr_assert(end != p, "%s: value %lld missing", name, (long long)i);
            p = end;
        }
        break;
    }
    free(line);
    fclose(f);
    cr_assert(r.v, "no reference '%s' in " REF, name);
    return r;
}

/* The first batch (all examples when batch is large) in file order. */
static void first_batch(diag_capture *c, dataset *ds, batch *b)
{
    data_reset_in_order(ds);
    cr_assert_eq(data_next(ds, b, c->d), 1, "%s", capture_text(c));
}

static float max_diff_to_ref(const float *x, const ref_values *r, double scale)
{
    double worst = 0;
    for (int64_t i = 0; i < r->n; i++) {
        double e = fabs((double)x[i] - r->v[i] * scale);
        if (e > worst)
            worst = e;
    }
    return (float)worst;
}

/* The tree opened with up to four options (NULL for none) and its first batch read in order. */
typedef struct opened {
    diag_capture c;
    ir_stmt *st;
    dataset *ds;
    batch b;
} opened;

static void open_first(opened *o, const char *o1, const char *o2, const char *o3, const char *o4)
{
    capture_open(&o->c);
    o->st = mk_stmt(&o->c, "images(\"../images/\")", o1, o2, o3, o4, NULL);
    o->ds = open_ok(&o->c, o->st);
    memset(&o->b, 0, sizeof o->b);
    first_batch(&o->c, o->ds, &o->b);
}

static void close_opened(opened *o)
{
    batch_release(&o->b);
    data_close(o->ds);
    free_stmt(o->st);
    capture_close(&o->c);
}

/* ---- layout, labels, decoding ---- */

Test(images, classes_sorted_and_interleaved)
{
    opened o;
    open_first(&o, "height = 5", "width = 7", "batch = 100", NULL);
    dataset *ds = o.ds;
    int64_t n;
    const char *const *names = data_class_names(ds, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[0], "ant");
    cr_assert_str_eq(names[1], "moose");
    cr_assert_str_eq(names[2], "zebra");
    cr_assert_eq(data_classes(ds), 3);
    cr_assert_eq(data_count(ds), 12, "README.txt beside the classes and .hidden are not examples");
    cr_assert_eq(data_features(ds), 3 * 5 * 7);
    int64_t ch, h, w;
    data_image_shape(ds, &ch, &h, &w);
    cr_assert(ch == 3 && h == 5 && w == 7);
    const batch *b = &o.b;
    cr_assert_eq(b->x.ndim, 4);
    cr_assert(b->x.shape[0] == 12 && b->x.shape[1] == 3 && b->x.shape[2] == 5 && b->x.shape[3] == 7);
    /* first of each class, then the second of each, ...: ant has 4 files, moose 3, zebra 5 */
    const int want[12] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 2};
    for (int i = 0; i < 12; i++)
        for (int k = 0; k < 3; k++)
            cr_assert_eq(b->y.data[i * 3 + k], k == want[i] ? 1.0f : 0.0f, "example %d class %d", i, k);
    for (int64_t i = 0; i < b->x.size; i++)
        cr_assert(b->x.data[i] >= 0.0f && b->x.data[i] <= 1.0f);
    close_opened(&o);
}

Test(images, png_pixels_exact)
{
    opened o;
    open_first(&o, "height = 5", "width = 7", NULL, NULL);
    ref_values r = ref_load("a0_raw");   /* ant/a0.png, the first example */
    cr_assert_eq(r.n, 3 * 5 * 7);
    for (int64_t i = 0; i < r.n; i++)
        cr_assert_eq(o.b.x.data[i], (float)r.v[i] / 255.0f, "value %lld", (long long)i);
    free(r.v);
    close_opened(&o);
}

Test(images, grey_is_pil_convert_L)
{
    opened o;
    open_first(&o, "height = 5", "width = 7", "channels = 1", NULL);
    cr_assert_eq(o.b.x.shape[1], 1);
    ref_values r = ref_load("a0_grey");
    for (int64_t i = 0; i < r.n; i++)
        cr_assert_eq(o.b.x.data[i], (float)r.v[i] / 255.0f, "value %lld", (long long)i);
    free(r.v);
    close_opened(&o);
}

Test(images, jpeg_matches_pil_decode)
{
    opened o;
    open_first(&o, "height = 9", "width = 12", NULL, NULL);
    ref_values r = ref_load("a2_pil");   /* ant/a2.jpg, example 6, at its own size */
    float worst = max_diff_to_ref(o.b.x.data + 6 * 3 * 9 * 12, &r, 1.0 / 255.0);
    cr_assert(worst <= 1.0f / 255.0f + 1e-6f, "JPEG decode differs from PIL's by %g", worst);
    free(r.v);
    close_opened(&o);
}

Test(images, bilinear_resize_matches_torch)
{
    const int sizes[4][2] = {{3, 4}, {11, 13}, {5, 10}, {8, 3}};
    for (int s = 0; s < 4; s++) {
        char hs[32], ws[32], name[64];
        snprintf(hs, sizeof hs, "height = %d", sizes[s][0]);
        snprintf(ws, sizeof ws, "width = %d", sizes[s][1]);
        snprintf(name, sizeof name, "a0_resize_%dx%d", sizes[s][0], sizes[s][1]);
        opened o;
        open_first(&o, hs, ws, "batch = 1", NULL);
        ref_values r = ref_load(name);
        cr_assert_eq(r.n, o.b.x.size);
        float worst = max_diff_to_ref(o.b.x.data, &r, 1.0);
        cr_assert(worst <= 1e-5f, "%s: max abs diff %g against torch", name, worst);
        free(r.v);
        close_opened(&o);
    }
}

Test(images, mean_and_std_per_channel)
{
    opened o;
    open_first(&o, "height = 4", "width = 6", "mean = [0.485, 0.456, 0.406]", "std = [0.229, 0.224, 0.225]");
    ref_values r = ref_load("a0_norm_4x6");
    float worst = max_diff_to_ref(o.b.x.data, &r, 1.0);
    cr_assert(worst <= 1e-5f, "max abs diff %g against torch", worst);
    free(r.v);
    close_opened(&o);
}

Test(images, every_png_and_jpeg_kind_decodes)
{
    /* palette, RGBA, 16-bit grey, grey PNG and grey JPEG, to 3 and to 1 channels */
    for (int channels = 1; channels <= 3; channels += 2) {
        diag_capture c;
        capture_open(&c);
        char opt[32];
        snprintf(opt, sizeof opt, "channels = %d", channels);
        ir_stmt *st = mk_stmt(&c, "images(\"../images/\")", "height = 6", "width = 6", opt, "batch = 5", NULL);
        dataset *ds = open_ok(&c, st);
        batch b = {0};
        int64_t seen = 0;
        data_reset_in_order(ds);
        while (data_next(ds, &b, c.d) == 1) {
            cr_assert_eq(b.x.shape[1], channels);
            seen += b.n;
        }
        cr_assert_eq(seen, 12);
        cr_assert_eq(diag_error_count(c.d), 0, "%s", capture_text(&c));
        batch_release(&b);
        data_close(ds);
        free_stmt(st);
        capture_close(&c);
    }
}

Test(images, size_defaults_to_the_first_image_and_probe_reports_it)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "images(\"../images/\")", "channels = 1", NULL);
    data_spec spec = data_stmt_spec(st);
    data_info info;
    cr_assert_eq(data_probe_info(&spec, c.d, &info), 0, "%s", capture_text(&c));
    cr_assert_eq(info.source, DATA_IMAGES);
    cr_assert(info.channels == 1 && info.height == 5 && info.width == 7);
    cr_assert_eq(info.features, 35);
    cr_assert_eq(info.classes, 3);
    cr_assert_eq(info.outputs, 3);
    cr_assert(!info.sequence);
    free_stmt(st);
    capture_close(&c);
}

Test(images, flattened_for_a_feed_forward_input)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "images(\"../images/\")", "height = 5", "width = 7", NULL);
    data_spec spec = data_stmt_spec(st);
    model_input in = {.name = "in", .kind = INPUT_FEED_FORWARD, .size = 105};
    spec.input = &in;
    dataset *ds = data_open(&spec, c.d);
    cr_assert(ds, "%s", capture_text(&c));
    batch b = {0};
    first_batch(&c, ds, &b);
    cr_assert(b.x.ndim == 2 && b.x.shape[1] == 105);
    ref_values r = ref_load("a0_raw");   /* the same values, C, H, W order */
    for (int64_t i = 0; i < r.n; i++)
        cr_assert_eq(b.x.data[i], (float)r.v[i] / 255.0f);
    free(r.v);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

/* ---- split, shuffle, hash ---- */

/* A hash of each example's pixels, in epoch order. */
static int64_t example_hashes(diag_capture *c, dataset *ds, uint64_t *out, bool shuffled, uint64_t seed)
{
    if (shuffled)
        data_reset(ds, seed);
    else
        data_reset_in_order(ds);
    batch b = {0};
    int64_t n = 0;
    while (data_next(ds, &b, c->d) == 1) {
        int64_t F = data_features(ds);
        for (int64_t i = 0; i < b.n; i++) {
            uint64_t h = 1469598103934665603ull;
            const unsigned char *p = (const unsigned char *)(b.x.data + i * F);
            for (size_t k = 0; k < (size_t)F * sizeof(float); k++)
                h = (h ^ p[k]) * 1099511628211ull;
            out[n++] = h;
        }
    }
    batch_release(&b);
    return n;
}

static dataset *open_part(diag_capture *c, ir_stmt **st, const char *split, const char *part)
{
    *st = mk_stmt(c, "images(\"../images/\")", "height = 4", "width = 4", "batch = 3", split, part, NULL);
    return open_ok(c, *st);
}

Test(images, split_parts_are_disjoint_and_cover)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *s_all, *s0, *s1;
    dataset *all = open_part(&c, &s_all, "shuffle = false", "limit = 100");
    dataset *p0 = open_part(&c, &s0, "split = [0.7, 0.3]", "part = 0");
    dataset *p1 = open_part(&c, &s1, "split = [0.7, 0.3]", "part = 1");
    uint64_t ha[16], h0[16], h1[16];
    int64_t na = example_hashes(&c, all, ha, false, 0);
    int64_t n0 = example_hashes(&c, p0, h0, false, 0);
    int64_t n1 = example_hashes(&c, p1, h1, false, 0);
    cr_assert_eq(na, 12);
    /* ant 4 files -> 3 + 1, moose 3 -> 2 + 1, zebra 5 -> 4 + 1 (dealt 0, 1, 0, 0, 1) */
    cr_assert_eq(n0, 9);
    cr_assert_eq(n1, 3);
    for (int64_t i = 0; i < n0; i++)
        for (int64_t j = 0; j < n1; j++)
            cr_assert_neq(h0[i], h1[j], "an image is in both parts");
    for (int64_t i = 0; i < na; i++) {
        int found = 0;
        for (int64_t j = 0; j < n0; j++)
            found += ha[i] == h0[j];
        for (int64_t j = 0; j < n1; j++)
            found += ha[i] == h1[j];
        cr_assert_eq(found, 1, "example %lld is in %d parts", (long long)i, found);
    }
    uint64_t k0, k1;
    cr_assert_eq(data_content_hash(p0, &k0, c.d), 0);
    cr_assert_eq(data_content_hash(p1, &k1, c.d), 0);
    cr_assert_neq(k0, k1);
    data_close(all);
    data_close(p0);
    data_close(p1);
    free_stmt(s_all);
    free_stmt(s0);
    free_stmt(s1);
    capture_close(&c);
}

Test(images, shuffle_is_deterministic)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st;
    dataset *ds = open_part(&c, &st, "shuffle = true", "limit = 100");
    uint64_t a[16], b2[16], other[16], plain[16];
    cr_assert_eq(example_hashes(&c, ds, a, true, 7), 12);
    cr_assert_eq(example_hashes(&c, ds, b2, true, 7), 12);
    example_hashes(&c, ds, other, true, 8);
    example_hashes(&c, ds, plain, false, 0);
    cr_assert_arr_eq(a, b2, sizeof a[0] * 12, "the same seed gives the same order");
    cr_assert(memcmp(a, other, sizeof a[0] * 12) != 0, "another seed gives another order");
    cr_assert(memcmp(a, plain, sizeof a[0] * 12) != 0, "shuffled differs from file order");
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(images, hash_covers_options_and_files)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *s1 = mk_stmt(&c, "images(\"../images/\")", "height = 4", "width = 4", NULL);
    ir_stmt *s2 = mk_stmt(&c, "images(\"../images/\")", "height = 4", "width = 4", "batch = 2", "shuffle = true", NULL);
    ir_stmt *s3 = mk_stmt(&c, "images(\"../images/\")", "height = 4", "width = 5", NULL);
    ir_stmt *s4 = mk_stmt(&c, "images(\"../images/\")", "height = 4", "width = 4", "mean = 0.5", NULL);
    dataset *d1 = open_ok(&c, s1), *d2 = open_ok(&c, s2), *d3 = open_ok(&c, s3), *d4 = open_ok(&c, s4);
    uint64_t h1, h2, h3, h4;
    cr_assert_eq(data_content_hash(d1, &h1, c.d), 0);
    cr_assert_eq(data_content_hash(d2, &h2, c.d), 0);
    cr_assert_eq(data_content_hash(d3, &h3, c.d), 0);
    cr_assert_eq(data_content_hash(d4, &h4, c.d), 0);
    cr_assert_eq(h1, h2, "batch and shuffle do not change the examples");
    cr_assert_neq(h1, h3);
    cr_assert_neq(h1, h4);
    data_close(d1);
    data_close(d2);
    data_close(d3);
    data_close(d4);
    free_stmt(s1);
    free_stmt(s2);
    free_stmt(s3);
    free_stmt(s4);
    capture_close(&c);
}

/* ---- bad files and options ---- */

#define BAD_DIR DIR "../images_bad/"

Test(images, non_image_file_is_an_error_naming_it)
{
    EXPECT_ERROR(BAD_DIR "mixed/notes.txt: error: not a PNG or JPEG image", "images(\"../images_bad/\")", NULL);
}

Test(images, corrupt_data_is_an_error_naming_the_file_when_read)
{
    diag_capture c;
    capture_open(&c);
    /* the first four examples: good/g0.png, mixed/cut.jpg, good/g1.png, mixed/cut.png; the
     * truncated files have good headers, so the error comes with the batch that decodes them */
    ir_stmt *st = mk_stmt(&c, "images(\"../images_bad/\")", "limit = 4", "batch = 1", NULL);
    dataset *ds = open_ok(&c, st);
    batch b = {0};
    data_reset_in_order(ds);
    cr_assert_eq(data_next(ds, &b, c.d), 1, "%s", capture_text(&c));
    cr_assert_eq(data_next(ds, &b, c.d), -1);
    cr_assert(strstr(capture_text(&c), BAD_DIR "mixed/cut.jpg: error: truncated JPEG"), "%s", capture_text(&c));
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
    /* the truncated PNG: its header reads, its data does not */
    image_file img;
    char msg[256];
    cr_assert_eq(image_open(&img, BAD_DIR "mixed/cut.png", msg, sizeof msg), 0, "%s", msg);
    cr_assert(img.format == IMAGE_PNG && img.width == 32 && img.height == 32 && img.channels == 3);
    unsigned char *px = malloc((size_t)image_bytes(&img));
    cr_assert_eq(image_decode(&img, px, msg, sizeof msg), -1);
    cr_assert(strstr(msg, "corrupt PNG"), "%s", msg);
    image_close(&img);
    image_close(&img);   /* closing twice is harmless */
    free(px);
}

/* Found by the images fuzz target: an 81-byte JPEG whose APP0 marker claims 65283 bytes took
 * 2 s to refuse (libjpeg fed itself a fake marker and a warning per two bytes past the end). It
 * is refused at the first end-of-file warning. */
Test(images, jpeg_marker_past_the_end_is_refused_at_once)
{
    image_file img;
    char msg[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(image_open(&img, "tests/data/fuzz_found/jpeg_marker_past_end.jpg", msg, sizeof msg), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(strstr(msg, "truncated JPEG: the file ends inside its header"), "%s", msg);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_assert_lt(ms, 200.0, "took %.0f ms", ms);
}

Test(images, skip_bad_warns_and_leaves_bad_files_out)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "images(\"../images_bad/\")", "skip_bad = true", "batch = 10", NULL);
    dataset *ds = open_ok(&c, st);
    const char *text = capture_text(&c);
    cr_assert_eq(diag_warning_count(c.d), 3, "%s", text);
    cr_assert(strstr(text, BAD_DIR "mixed/notes.txt: warning: skipped (skip_bad = true): not a PNG or JPEG"), "%s", text);
    cr_assert(strstr(text, BAD_DIR "mixed/cut.jpg: warning: skipped"), "%s", text);
    cr_assert(strstr(text, BAD_DIR "mixed/cut.png: warning: skipped"), "%s", text);
    cr_assert_eq(data_count(ds), 3);
    batch b = {0};
    first_batch(&c, ds, &b);
    cr_assert_eq(b.n, 3);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(images, bad_options)
{
    EXPECT_ERROR("`channels` must be 1 (grey) or 3 (RGB), not 2", "images(\"../images/\")", "channels = 2", NULL);
    EXPECT_ERROR("`split` fractions must add up to 1, not 0.9", "images(\"../images/\")", "split = [0.7, 0.2]", NULL);
    EXPECT_ERROR("`part` needs `split`", "images(\"../images/\")", "part = 1", NULL);
    EXPECT_ERROR("`part` must be between 0 and 1, not 2", "images(\"../images/\")", "split = [0.5, 0.5]", "part = 2", NULL);
    EXPECT_ERROR("`mean` has 2 values; give one, or one per channel (3)", "images(\"../images/\")", "mean = [0.5, 0.5]", NULL);
    EXPECT_ERROR("`std` values must be greater than 0", "images(\"../images/\")", "std = 0", NULL);
    EXPECT_ERROR("`height` must be between 1 and 16384, not 20000", "images(\"../images/\")", "height = 20000", NULL);
    EXPECT_ERROR("images data has no option `normalize`", "images(\"../images/\")", "normalize = standardize", NULL);
    EXPECT_ERROR("cannot read the image folder", "images(\"../no_such_folder/\")", NULL);
    EXPECT_ERROR("has 0 class folders; it needs one subfolder per class, at least two", "images(\"../images/ant\")", NULL);
}

/* ---- 4-D npy and idx ---- */

static void expect_nchw_batch(diag_capture *c, const char *path, const char *layout)
{
    char src[128];
    snprintf(src, sizeof src, "npy(\"../images_ref/%s\", labels = \"../images_ref/y.npy\")", path);
    ir_stmt *st = layout ? mk_stmt(c, src, "classes = 3", "batch = 8", layout, NULL)
                         : mk_stmt(c, src, "classes = 3", "batch = 8", NULL);
    dataset *ds = open_ok(c, st);
    int64_t ch, h, w;
    data_image_shape(ds, &ch, &h, &w);
    cr_assert(ch == 2 && h == 3 && w == 4);
    cr_assert_eq(data_features(ds), 24);
    batch b = {0};
    first_batch(c, ds, &b);
    cr_assert(b.x.ndim == 4 && b.x.shape[0] == 5 && b.x.shape[1] == 2 && b.x.shape[2] == 3 && b.x.shape[3] == 4);
    /* the same values as the NCHW file, whatever the file's layout */
    ir_stmt *ref = mk_stmt(c, "npy(\"../images_ref/x_nchw.npy\", labels = \"../images_ref/y.npy\")", "classes = 3",
                           "batch = 8", NULL);
    dataset *rds = open_ok(c, ref);
    batch rb = {0};
    first_batch(c, rds, &rb);
    cr_assert_arr_eq(b.x.data, rb.x.data, (size_t)b.x.size * sizeof(float));
    cr_assert_arr_eq(b.y.data, rb.y.data, (size_t)b.y.size * sizeof(float));
    batch_release(&b);
    batch_release(&rb);
    data_close(ds);
    data_close(rds);
    free_stmt(st);
    free_stmt(ref);
}

Test(images, npy_4d_nchw_and_nhwc)
{
    diag_capture c;
    capture_open(&c);
    expect_nchw_batch(&c, "x_nchw.npy", NULL);
    expect_nchw_batch(&c, "x_nchw.npy", "layout = nchw");
    expect_nchw_batch(&c, "x_nhwc.npy", "layout = nhwc");
    /* the NHWC file read as NCHW is the transposed shape */
    ir_stmt *st = mk_stmt(&c, "npy(\"../images_ref/x_nhwc.npy\", labels = \"../images_ref/y.npy\")", "classes = 3", NULL);
    dataset *ds = open_ok(&c, st);
    int64_t ch, h, w;
    data_image_shape(ds, &ch, &h, &w);
    cr_assert(ch == 3 && h == 4 && w == 2);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
    EXPECT_ERROR("`layout` is for 4-D image features", "npy(\"x.npy\", labels = \"y.npy\")",
                 "layout = nhwc", NULL);
    EXPECT_ERROR("`layout` must be nchw or nhwc", "npy(\"../images_ref/x_nchw.npy\", labels = \"../images_ref/y.npy\")",
                 "classes = 3", "layout = chw", NULL);
}

static void idx_shape(const model_input *in, int want_ndim)
{
    diag_capture c;
    capture_open(&c);
    ir_stmt *st = mk_stmt(&c, "idx(\"images.idx3\", labels = \"labels.idx1\")", "batch = 2", NULL);
    data_spec spec = data_stmt_spec(st);
    spec.input = in;
    dataset *ds = data_open(&spec, c.d);
    cr_assert(ds, "%s", capture_text(&c));
    batch b = {0};
    first_batch(&c, ds, &b);
    cr_assert_eq(b.x.ndim, want_ndim);
    if (want_ndim == 4)
        cr_assert(b.x.shape[0] == 2 && b.x.shape[1] == 1 && b.x.shape[2] == 2 && b.x.shape[3] == 3);
    else
        cr_assert(b.x.shape[0] == 2 && b.x.shape[1] == 6);
    batch_release(&b);
    data_close(ds);
    free_stmt(st);
    capture_close(&c);
}

Test(images, idx_is_nchw_for_a_convolutional_input)
{
    model_input conv = {.name = "in", .kind = INPUT_CONVOLUTIONAL, .h = 2, .w = 3, .c = 1};
    model_input ff = {.name = "in", .kind = INPUT_FEED_FORWARD, .size = 6};
    idx_shape(&conv, 4);
    idx_shape(&ff, 2);
    idx_shape(NULL, 2);
}
