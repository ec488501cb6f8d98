/* test_fuzz_regressions.c: inputs the fuzz targets found that the data readers mishandled, each
 * refused with a clear error naming the file or the option. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/conf.h"
#include "runtime/base/diag.h"
#include "runtime/data/data.h"
#include "tests/unit/test_support.h"

typedef struct found {
    char dir[64];
    char *text;
    size_t len;
    FILE *out;
    diag_ctx *d;
} found;

static void found_open(found *f)
{
    strcpy(f->dir, "/tmp/surgery-found-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    f->out = open_memstream(&f->text, &f->len);
    f->d = diag_new(f->out, DIAG_COLOR_NEVER);
}

static void found_close(found *f)
{
    diag_free(f->d);
    fclose(f->out);
    free(f->text);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    cr_assert_eq(system(cmd), 0);
}

/* An .npy v1.0 file of `descr` and `shape` (a Python tuple) with n data bytes of zeros. */
static void write_npy(found *f, const char *name, const char *descr, const char *shape, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    test_write_npy(path, descr, shape, NULL, n);
}

/* data_open of `source` with no options, the paths beside DIR/s.surgery. */
static dataset *open_source(found *f, const char *source)
{
    char script[128];
    snprintf(script, sizeof script, "%s/s.surgery", f->dir);
    src_loc loc = {diag_intern_path(f->d, script), 1, 1, 4};
    conf_value *call = conf_parse_text(source, loc, f->d);
    cr_assert_not_null(call);
    data_spec spec = {.name = "train", .loc = loc, .source = call};
    dataset *ds = data_open(&spec, f->d);
    conf_value_free(call);
    fflush(f->out);
    return ds;
}

Test(fuzz_found, npy_regression_targets_without_columns)
{
    found f;
    found_open(&f);
    write_npy(&f, "x.npy", "<f4", "(6, 3)", 6 * 3 * 4);
    write_npy(&f, "y.npy", "<f2", "(6, 0)", 0);
    dataset *ds = open_source(&f, "npy(\"x.npy\", labels = \"y.npy\")");
    cr_assert_null(ds);
    cr_assert(strstr(f.text, "error: regression targets [6, 0] have no columns"), "%s", f.text);
    found_close(&f);
}
