/* fuzz_common.c: the private folder, file writing and data reader driver of the fuzz targets. */
#include "tests/fuzz/fuzz_common.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/conf.h"
#include "runtime/base/diag.h"
#include "runtime/base/util.h"
#include "runtime/data/data.h"
#include "runtime/formats/format.h"
#include "runtime/graph/model.h"

static char dir[256];
static char path_buf[512];
static FILE *sink;

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

/* Where the private folder goes: $SURGERY_FUZZ_TMP, else /dev/shm (a tmpfs: the files never
 * reach a disk, which made writing and truncating them per input the larger part of a run),
 * else $TMPDIR, else /tmp. */
static const char *parent_dir(void)
{
    const char *own = getenv("SURGERY_FUZZ_TMP"), *tmp = getenv("TMPDIR");
    if (own && *own)
        return own;
    if (access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    return tmp && *tmp ? tmp : "/tmp";
}

const char *fuzz_dir(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/surgery-fuzz-XXXXXX", parent_dir());
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(remove_dir);
    }
    return dir;
}

const char *fuzz_path(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", fuzz_dir(), name);
    return path_buf;
}

const char *fuzz_write(const char *name, const void *bytes, size_t n)
{
    const char *p = fuzz_path(name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const unsigned char *b = bytes;
    size_t done = 0;
    while (fd >= 0 && done < n) {
        ssize_t w = write(fd, b + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (fd < 0 || done != n || close(fd) != 0) {
        perror(p);
        abort();
    }
    return p;
}

void fuzz_alias(const char *alias, const char *name)
{
    char target[512];
    snprintf(target, sizeof target, "%s", fuzz_path(name));
    const char *p = fuzz_path(alias);
    if (access(p, F_OK) == 0)
        return;
    if (access(target, F_OK) != 0)
        fuzz_write(name, "", 0);
    if (link(target, fuzz_path(alias)) != 0) {
        perror(p);
        abort();
    }
}

FILE *fuzz_sink(void)
{
    if (!sink)
        sink = fopen("/dev/null", "w");
    return sink;
}

void fuzz_split(const uint8_t *data, size_t size, const char *sep, size_t *first_len,
                const uint8_t **rest, size_t *rest_len)
{
    size_t k = strlen(sep);
    for (size_t i = 0; i + k <= size; i++) {
        if (memcmp(data + i, sep, k) == 0) {
            *first_len = i;
            *rest = data + i + k;
            *rest_len = size - i - k;
            return;
        }
    }
    *first_len = size;
    *rest = data + size;
    *rest_len = 0;
}

static void read_epoch(dataset *ds, diag_ctx *d)
{
    if (data_reset(ds, 7) != 0)
        return;
    batch b = {0};
    int r;
    int64_t seen = 0;
    while ((r = data_next(ds, &b, d)) == 1)
        seen += b.n;
    batch_release(&b);
    if (r < 0 && diag_error_count(d) == 0)
        abort(); /* a failure must be explained */
    if (r == 0 && seen != data_count(ds))
        abort(); /* an epoch yields every example once */
    uint64_t hash;
    if (data_content_hash(ds, &hash, d) != 0 && diag_error_count(d) == 0)
        abort();
}

void fuzz_data(const char *source, const char *const *opts)
{
    diag_ctx *d = diag_new(fuzz_sink(), DIAG_COLOR_NEVER);
    src_loc loc = {diag_intern_path(d, fuzz_path("fuzz.surgery")), 1, 1, 4};
    data_spec spec = {.name = "fuzz", .loc = loc};
    conf_value *call = conf_parse_text(source, loc, d);
    conf_arg args[8];
    int n = 0;
    for (; opts && opts[n] && n < 8; n++) {
        const char *eq = strchr(opts[n], '=');
        args[n].name = xstrdup(opts[n]);
        args[n].name[strcspn(args[n].name, " =")] = 0;
        args[n].name_loc = loc;
        args[n].value = conf_parse_text(eq + 1, loc, d);
        if (!args[n].value)
            abort(); /* the options are the target's own */
    }
    if (!call)
        abort();
    spec.source = call;
    spec.opts = args;
    spec.n_opts = n;
    data_info info;
    int probed = data_probe_info(&spec, d, &info);
    if (probed != 0 && diag_error_count(d) == 0)
        abort();
    dataset *ds = data_open(&spec, d);
    if (!ds && diag_error_count(d) == 0)
        abort();
    if (ds) {
        if (probed == 0 && info.features != data_features(ds))
            abort(); /* the probe and the full read agree */
        read_epoch(ds, d);
    }
    data_close(ds);
    for (int i = 0; i < n; i++) {
        free(args[i].name);
        conf_value_free(args[i].value);
    }
    conf_value_free(call);
    diag_free(d);
}

void fuzz_model(const char *path, bool weights)
{
    diag_ctx *d = diag_new(fuzz_sink(), DIAG_COLOR_NEVER);
    model *m = model_load(path, weights, d);
    if (!m && diag_error_count(d) == 0)
        abort(); /* a refusal must be explained */
    model_free(m);
    diag_free(d);
}
