/* test_weights_out.c: tensors described as spans (tensor_parts) and the weights file writer
 * (weights_out): the bytes written by every route equal the assembled values. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/formats/safetensors.h"
#include "runtime/tensor/tensor.h"
#include "runtime/tensor/tensor_parts.h"
#include "runtime/formats/weights_out.h"
#include "tests/unit/test_support.h"

/* ---- tensor_parts ------------------------------------------------------------------------- */

/* What tensor_parts_each_run passed on, concatenated, and how many calls it made. */
typedef struct runs_seen {
    float *out;
    int64_t n, cap;
    int calls;
} runs_seen;

static int collect_run(void *ctx, const float *src, int64_t n)
{
    runs_seen *r = ctx;
    cr_assert_leq(r->n + n, r->cap, "more elements than the tensor has");
    for (int64_t i = 0; i < n; i++)
        r->out[r->n + i] = src ? src[i] : 0.0f;
    r->n += n;
    r->calls++;
    return 0;
}

/* An [R, 4 * (n + k)] LSTM-like widening of old [R, 4 * n] by fresh [R, 4 * k]. */
static tensor_parts *four_blocks(tensor *old, float **fresh_out, int64_t R, int64_t n, int64_t k)
{
    cr_assert_eq(tensor_alloc2(old, R, 4 * n), 0);
    for (int64_t i = 0; i < old->size; i++)
        old->data[i] = (float)i;
    float *fresh = malloc((size_t)(R * 4 * k) * sizeof *fresh);
    cr_assert_not_null(fresh);
    for (int64_t i = 0; i < R * 4 * k; i++)
        fresh[i] = -1.0f - (float)i;
    const float *o = old->data;
    tensor_parts *p = tensor_parts_new(old, fresh, R * 4 * k);
    cr_assert_not_null(p);
    cr_assert_null(old->data, "the description took the old tensor");
    cr_assert_eq(tensor_parts_group(p, R), 0);
    for (int g = 0; g < 4; g++) {
        cr_assert_eq(tensor_parts_span(p, o + g * n, 4 * n, n), 0);
        cr_assert_eq(tensor_parts_span(p, fresh + g * k, 4 * k, k), 0);
    }
    *fresh_out = fresh;
    return p;
}

Test(tensor_parts, assembles_gate_blocks_with_new_units_after_each)
{
    const int64_t R = 3, n = 2, k = 1;
    tensor old;
    float *fresh;
    tensor_parts *p = four_blocks(&old, &fresh, R, n, k);
    cr_assert_eq(tensor_parts_size(p), R * 4 * (n + k));
    float got[36];
    tensor_parts_assemble(p, got);
    for (int64_t r = 0; r < R; r++)
        for (int g = 0; g < 4; g++) {
            for (int64_t j = 0; j < n; j++)
                cr_assert_eq(got[r * 12 + g * 3 + j], (float)(r * 8 + g * n + j));
            cr_assert_eq(got[r * 12 + g * 3 + n], -1.0f - (float)(r * 4 + g));
        }
    /* the runs give the same values */
    float again[36];
    runs_seen rs = {.out = again, .cap = 36};
    cr_assert_eq(tensor_parts_each_run(p, collect_run, &rs), 0);
    cr_assert_eq(rs.n, 36);
    cr_assert_eq(memcmp(got, again, sizeof got), 0);
    tensor_parts_free(p);
}

Test(tensor_parts, inserted_rows_are_three_runs_and_zeros_need_no_buffer)
{
    const int64_t R = 5, cols = 4, split = 2, k = 3;
    tensor old;
    cr_assert_eq(tensor_alloc2(&old, R, cols), 0);
    for (int64_t i = 0; i < old.size; i++)
        old.data[i] = (float)(i + 1);
    const float *o = old.data;
    tensor_parts *p = tensor_parts_new(&old, NULL, 0);
    cr_assert_not_null(p);
    cr_assert_eq(tensor_parts_group(p, split), 0);
    cr_assert_eq(tensor_parts_span(p, o, cols, cols), 0);
    cr_assert_eq(tensor_parts_group(p, k), 0);
    cr_assert_eq(tensor_parts_span(p, NULL, cols, cols), 0);
    cr_assert_eq(tensor_parts_group(p, R - split), 0);
    cr_assert_eq(tensor_parts_span(p, o + split * cols, cols, cols), 0);
    float got[32];
    runs_seen rs = {.out = got, .cap = 32};
    cr_assert_eq(tensor_parts_each_run(p, collect_run, &rs), 0);
    cr_assert_eq(rs.n, (R + k) * cols);
    cr_assert_eq(rs.calls, 3, "contiguous rows merge into one run per group");
    for (int64_t r = 0; r < R + k; r++)
        for (int64_t c = 0; c < cols; c++) {
            float want = r < split ? o[r * cols + c] : r < split + k ? 0.0f
                                                                      : o[(r - k) * cols + c];
            cr_assert_eq(got[r * cols + c], want, "row %lld col %lld", (long long)r, (long long)c);
        }
    tensor_parts_free(p);
}

Test(tensor_parts, pending_tensors_settle_copy_and_release)
{
    tensor old;
    float *fresh;
    tensor t = {0};
    t.parts = four_blocks(&old, &fresh, 2, 3, 2);
    t.ndim = 2;
    t.shape[0] = 2;
    t.shape[1] = 20;
    t.size = 40;
    cr_assert(tensor_has_values(&t));
    float want[40];
    tensor_parts_assemble(t.parts, want);
    tensor c = {0};
    cr_assert_eq(tensor_copy(&c, &t), 0);
    cr_assert_not_null(c.data);
    cr_assert_null(c.parts);
    cr_assert_eq(memcmp(c.data, want, sizeof want), 0);
    cr_assert_eq(tensor_settle(&t), 0);
    cr_assert_null(t.parts);
    cr_assert_not_null(t.data);
    cr_assert_eq(memcmp(t.data, want, sizeof want), 0);
    cr_assert_eq(tensor_settle(&t), 0, "settling a tensor with data is a no-op");
    tensor_release(&t);
    tensor_release(&c);
    /* a pending tensor released unsettled frees its description */
    tensor u = {0};
    u.parts = four_blocks(&old, &fresh, 2, 1, 1);
    tensor_release(&u);
    cr_assert_null(u.parts);
}

/* ---- weights_out -------------------------------------------------------------------------- */

/* A file of n floats (i * 0.5) mapped like a model's weights file. */
typedef struct src_file {
    char path[64];
    int fd;
    float *map;
    size_t len;
} src_file;

static void src_open(src_file *s, int64_t n)
{
    snprintf(s->path, sizeof s->path, "/tmp/surgery-test-wo-src-XXXXXX");
    int fd = mkstemp(s->path);
    cr_assert_geq(fd, 0);
    float *buf = malloc((size_t)n * sizeof *buf);
    cr_assert_not_null(buf);
    for (int64_t i = 0; i < n; i++)
        buf[i] = (float)i * 0.5f;
    cr_assert_eq(write(fd, buf, (size_t)n * sizeof *buf), (ssize_t)((size_t)n * sizeof *buf));
    free(buf);
    s->fd = fd;
    s->len = (size_t)n * sizeof(float);
    s->map = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    cr_assert_neq(s->map, MAP_FAILED);
}

static void src_close(src_file *s)
{
    munmap(s->map, s->len);
    close(s->fd);
    unlink(s->path);
}

/* A pending [R, oc + k] tensor: the first R rows of oc values of the mapped source file, each
 * followed by k new values (first, first + 1, ...). */
static tensor widened_rows(const src_file *src, int64_t R, int64_t oc, int64_t k, float first)
{
    tensor rows = {.data = src->map, .ndim = 2, .shape = {R, oc}, .size = R * oc,
                   .borrowed = true};
    float *fresh = malloc((size_t)(R * k) * sizeof *fresh);
    cr_assert_not_null(fresh);
    for (int64_t i = 0; i < R * k; i++)
        fresh[i] = first + (float)i;
    tensor wide = {.ndim = 2, .shape = {R, oc + k}, .size = R * (oc + k)};
    wide.parts = tensor_parts_new(&rows, fresh, R * k);
    cr_assert_not_null(wide.parts);
    cr_assert_eq(tensor_parts_group(wide.parts, R), 0);
    cr_assert_eq(tensor_parts_span(wide.parts, src->map, oc, oc), 0);
    cr_assert_eq(tensor_parts_span(wide.parts, fresh, k, k), 0);
    return wide;
}

/* Writes 8 bytes of stand-in header, then the tensors through weights_out (with the source
 * mapping, or without: every byte from memory) into a new file at path. */
static void write_via_wo(const char *path, const tensor *const *ts, int n, const src_file *src,
                         bool use_src)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "HEADER..", 8), 8);
    weights_out w;
    wo_begin(&w, fd, 8, use_src, use_src ? src->fd : -1, use_src ? src->map : NULL, src->len);
    for (int i = 0; i < n; i++)
        cr_assert_eq(wo_tensor(&w, ts[i]), 0, "errno %d", w.error);
    cr_assert_eq(wo_end(&w), 0);
    close(fd);
}

Test(weights_out, every_route_writes_the_same_bytes)
{
    /* a borrowed tensor big enough to be copied in the kernel, a small owned one, a pending
     * widening whose old rows live in the mapping, and zeros */
    const int64_t n = 600000, R = 300, oc = 1000, k = 7;
    src_file src;
    src_open(&src, n);
    tensor big = {.data = src.map + 1000, .ndim = 1, .shape = {500000}, .size = 500000,
                  .borrowed = true};
    tensor small;
    cr_assert_eq(tensor_alloc2(&small, 3, 5), 0);
    for (int i = 0; i < 15; i++)
        small.data[i] = (float)i - 7.0f;
    tensor wide = widened_rows(&src, R, oc, k, 100.0f);
    cr_assert_eq(tensor_parts_group(wide.parts, 2), 0);
    cr_assert_eq(tensor_parts_span(wide.parts, NULL, oc + k, oc + k), 0);
    wide.shape[0] = R + 2;
    wide.size = (R + 2) * (oc + k);
    const tensor *ts[] = {&big, &small, &wide};

    /* the expected bytes: every tensor assembled in memory */
    tensor flat = {0};
    cr_assert_eq(tensor_copy(&flat, &wide), 0);
    size_t want_len = 8 + (size_t)(big.size + small.size + flat.size) * sizeof(float);
    char *want = malloc(want_len);
    cr_assert_not_null(want);
    memcpy(want, "HEADER..", 8);
    char *at = want + 8;
    memcpy(at, big.data, (size_t)big.size * 4);
    at += big.size * 4;
    memcpy(at, small.data, (size_t)small.size * 4);
    at += small.size * 4;
    memcpy(at, flat.data, (size_t)flat.size * 4);

    char path[64];
    for (int use_src = 0; use_src < 2; use_src++) {
        snprintf(path, sizeof path, "/tmp/surgery-test-wo-out-%d-%d", (int)getpid(), use_src);
        write_via_wo(path, ts, 3, &src, use_src);
        size_t got_len;
        char *got = test_read_file(path, &got_len);
        cr_assert_eq(got_len, want_len, "route %d: length", use_src);
        cr_assert_eq(memcmp(got, want, want_len), 0, "route %d: bytes", use_src);
        free(got);
        unlink(path);
    }
    free(want);
    tensor_release(&flat);
    tensor_release(&small);
    tensor_release(&wide);
    src_close(&src);
}

Test(weights_out, a_file_it_cannot_write_is_an_error_with_errno)
{
    src_file src;
    src_open(&src, 200000);
    tensor big = {.data = src.map, .ndim = 1, .shape = {200000}, .size = 200000, .borrowed = true};
    int fd = open(src.path, O_RDONLY);
    cr_assert_geq(fd, 0);
    for (int use_src = 0; use_src < 2; use_src++) {
        weights_out w;
        wo_begin(&w, fd, 0, true, use_src ? src.fd : -1, use_src ? src.map : NULL, src.len);
        int rc = wo_tensor(&w, &big);
        rc = wo_end(&w) != 0 || rc != 0 ? -1 : 0;
        cr_assert_eq(rc, -1, "route %d: writing a read-only descriptor fails", use_src);
        cr_assert_eq(w.error, EBADF, "route %d: errno %d", use_src, w.error);
    }
    close(fd);
    src_close(&src);
}

Test(weights_out, st_write_streams_pending_tensors_like_assembled_ones)
{
    tensor old;
    cr_assert_eq(tensor_alloc2(&old, 4, 6), 0);
    for (int64_t i = 0; i < old.size; i++)
        old.data[i] = (float)i / 3.0f;
    const float *o = old.data;
    float *fresh = malloc(8 * sizeof *fresh);
    cr_assert_not_null(fresh);
    for (int i = 0; i < 8; i++)
        fresh[i] = 9.0f + (float)i;
    tensor p = {.ndim = 2, .shape = {4, 8}, .size = 32};
    p.parts = tensor_parts_new(&old, fresh, 8);
    cr_assert_eq(tensor_parts_group(p.parts, 4), 0);
    cr_assert_eq(tensor_parts_span(p.parts, o, 6, 6), 0);
    cr_assert_eq(tensor_parts_span(p.parts, fresh, 2, 2), 0);
    tensor a = {0};
    cr_assert_eq(tensor_copy(&a, &p), 0);
    const char *meta[] = {"format", "x"};
    char err[256];
    FILE *f1 = tmpfile(), *f2 = tmpfile();
    cr_assert(f1 && f2);
    st_entry e1 = {"w", &p}, e2 = {"w", &a};
    cr_assert_eq(st_write(f1, &e1, 1, meta, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(st_write(f2, &e2, 1, meta, 1, err, sizeof err), 0, "%s", err);
    long n1 = ftell(f1), n2 = ftell(f2);
    cr_assert_eq(n1, n2);
    rewind(f1);
    rewind(f2);
    char *x = malloc((size_t)n1), *y = malloc((size_t)n2);
    cr_assert(x && y);
    cr_assert_eq(fread(x, 1, (size_t)n1, f1), (size_t)n1);
    cr_assert_eq(fread(y, 1, (size_t)n2, f2), (size_t)n2);
    cr_assert_eq(memcmp(x, y, (size_t)n1), 0);
    /* st_header is the file's head */
    char *h;
    size_t hn;
    st_entry *sorted;
    cr_assert_eq(st_header(&e1, 1, meta, 1, &h, &hn, &sorted, err, sizeof err), 0);
    cr_assert_eq(hn % 8, 0);
    cr_assert_eq((long)(hn + 32 * 4), n1);
    cr_assert_eq(memcmp(h, x, hn), 0);
    free(h);
    free(sorted);
    free(x);
    free(y);
    fclose(f1);
    fclose(f2);
    tensor_release(&p);
    tensor_release(&a);
}

Test(weights_out, direct_io_writes_whole_chunks_and_the_unaligned_tail)
{
    /* several 8 MB chunks and a tail that is not a multiple of the 4 KB alignment: a borrowed
     * span read from the source file, a pending widening, owned values and zeros */
    const int64_t n = 3000000, R = 2000, oc = 1000, k = 3;
    src_file src;
    src_open(&src, n);
    tensor big = {.data = src.map + 7, .ndim = 1, .shape = {2900000}, .size = 2900000,
                  .borrowed = true};
    tensor wide = widened_rows(&src, R, oc, k, -3.0f);
    tensor small;
    cr_assert_eq(tensor_alloc2(&small, 1, 5), 0);
    for (int i = 0; i < 5; i++)
        small.data[i] = 0.25f * (float)i;
    tensor flat = {0};
    cr_assert_eq(tensor_copy(&flat, &wide), 0);
    const char head[] = "a header of 27 bytes......";
    size_t want_len = sizeof head + (size_t)(big.size + flat.size + small.size) * 4 + 1000;
    char *want = malloc(want_len);
    cr_assert_not_null(want);
    char *at = want;
    memcpy(at, head, sizeof head);
    at += sizeof head;
    memcpy(at, big.data, (size_t)big.size * 4);
    at += big.size * 4;
    memcpy(at, flat.data, (size_t)flat.size * 4);
    at += flat.size * 4;
    memcpy(at, small.data, (size_t)small.size * 4);
    at += small.size * 4;
    memset(at, 0, 1000);

    char path[64];
    snprintf(path, sizeof path, "/tmp/surgery-test-wo-direct-%d", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    weights_out w;
    /* where the file system has no direct I/O this is the page-cache route: same bytes */
    (void)wo_begin_direct(&w, path, want_len, fd, src.fd, src.map, src.len);
    cr_assert_eq(wo_bytes(&w, head, sizeof head), 0);
    cr_assert_eq(wo_tensor(&w, &big), 0);
    cr_assert_eq(wo_tensor(&w, &wide), 0);
    cr_assert_eq(wo_tensor(&w, &small), 0);
    cr_assert_eq(wo_bytes(&w, NULL, 1000), 0);
    cr_assert_eq(wo_end(&w), 0, "errno %d", w.error);
    cr_assert_eq(fsync(fd), 0);
    close(fd);
    size_t got_len;
    char *got = test_read_file(path, &got_len);
    cr_assert_eq(got_len, want_len, "the file is cut to its exact length");
    cr_assert_eq(memcmp(got, want, want_len), 0);
    free(got);
    free(want);
    unlink(path);
    tensor_release(&flat);
    tensor_release(&small);
    tensor_release(&wide);
    src_close(&src);
}

Test(weights_out, a_write_refused_midway_fails_every_route_with_its_errno)
{
    /* files may not grow past 1 MB in this test's process: the writes past it fail with EFBIG
     * (the signal that would stop the process is ignored), by either route */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = 1 << 20, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    tensor t;
    cr_assert_eq(tensor_alloc2(&t, 1024, 3000), 0);   /* 12 MB */
    char path[64];
    for (int direct = 0; direct < 2; direct++) {
        snprintf(path, sizeof path, "/tmp/surgery-test-wo-big-%d-%d", (int)getpid(), direct);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        cr_assert_geq(fd, 0);
        weights_out w;
        if (direct)
            (void)wo_begin_direct(&w, path, (uint64_t)t.size * 4, fd, -1, NULL, 0);
        else
            wo_begin(&w, fd, 0, false, -1, NULL, 0);
        int rc = wo_tensor(&w, &t);
        rc = wo_end(&w) != 0 || rc != 0 ? -1 : 0;
        cr_assert_eq(rc, -1, "route %d: the write past the limit fails", direct);
        cr_assert_eq(w.error, EFBIG, "route %d: errno %d", direct, w.error);
        close(fd);
        unlink(path);
    }
    tensor_release(&t);
}
