/* test_support.c: what the unit tests share: diagnostics captured in memory, whole files read
 * and written (.npy arrays too), temporary folders made and removed. */
#define _XOPEN_SOURCE 700
#include "tests/unit/test_support.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/formats/format.h"
#include "runtime/graph/model.h"

void capture_open(diag_capture *c)
{
    memset(c, 0, sizeof *c);
    c->fp = open_memstream(&c->buf, &c->len);
    cr_assert(c->fp);
    c->d = diag_new(c->fp, DIAG_COLOR_NEVER);
    cr_assert(c->d);
}

const char *capture_text(diag_capture *c)
{
    fflush(c->fp);
    return c->buf ? c->buf : "";
}

void capture_close(diag_capture *c)
{
    diag_free(c->d);
    fclose(c->fp);
    free(c->buf);
    memset(c, 0, sizeof *c);
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    cr_assert(n >= 0, "cannot size %s", path);
    char *s = malloc((size_t)n + 1);
    cr_assert(s);
    cr_assert_eq(fread(s, 1, (size_t)n, fp), (size_t)n, "cannot read %s", path);
    s[n] = '\0';
    fclose(fp);
    if (len)
        *len = (size_t)n;
    return s;
}

void test_write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    cr_assert(fp, "cannot write %s", path);
    fputs(text, fp);
    cr_assert_eq(fclose(fp), 0, "cannot write %s", path);
}

void test_write_npy(const char *path, const char *descr, const char *shape, const void *data, size_t n)
{
    char header[256];
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    cr_assert(len > 0 && (size_t)len < sizeof header, "npy header too long");
    int padded = ((10 + len + 1 + 63) / 64) * 64 - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(padded & 0xff),
                             (unsigned char)(padded >> 8)};
    FILE *fp = fopen(path, "wb");
    cr_assert(fp, "cannot write %s", path);
    cr_assert_eq(fwrite(pre, 1, 10, fp), 10);
    cr_assert_eq(fwrite(header, 1, (size_t)len, fp), (size_t)len);
    for (int i = len; i < padded - 1; i++)
        fputc(' ', fp);
    fputc('\n', fp);
    for (size_t i = 0; i < n; i++)
        fputc(data ? ((const unsigned char *)data)[i] : 0, fp);
    cr_assert_eq(fclose(fp), 0, "cannot write %s", path);
}

void test_make_dir(char *dir, size_t cap, const char *tag)
{
    int n = snprintf(dir, cap, "/tmp/surgery-%s-XXXXXX", tag);
    cr_assert(n > 0 && (size_t)n < cap, "folder name too long for its buffer");
    cr_assert(mkdtemp(dir), "cannot make %s", dir);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_remove_dir(const char *dir)
{
    cr_assert_eq(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0, "cannot remove %s", dir);
}

model *test_load_model(const char *path)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(path, true, c.d);
    cr_assert(m, "%s", capture_text(&c));
    capture_close(&c);
    return m;
}

bool test_load_txt(const char *path, tensor *t)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    char line[256];
    cr_assert(fgets(line, sizeof line, fp));
    int64_t shape[4];
    int nd = 0;
    for (char *p = strtok(line, " \n"); p && nd < 4; p = strtok(NULL, " \n"))
        shape[nd++] = atoll(p);
    cr_assert_eq(tensor_alloc(t, nd, shape), 0);
    for (int64_t k = 0; k < t->size; k++)
        cr_assert_eq(fscanf(fp, "%f", &t->data[k]), 1);
    fclose(fp);
    return true;
}

char *test_load_error(const char *path)
{
    diag_capture c;
    capture_open(&c);
    model *m = model_load(path, true, c.d);
    cr_assert_null(m, "%s loaded", path);
    char *t = strdup(capture_text(&c));
    cr_assert(t);
    capture_close(&c);
    return t;
}
