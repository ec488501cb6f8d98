/* dl4j_zip.c: reads the entries of a DL4J model zip with libzip, refusing what a zip bomb does:
 * too many entries, sizes over the limits, ratios over the cap, more bytes than declared. */
#include "runtime/formats/dl4j/dl4j_zip.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "runtime/base/limits.h"

struct dl4j_zip {
    zip_t *za;
    int64_t total;    /* uncompressed bytes read so far */
};

dl4j_zip *dl4j_zip_open(const char *path, char *err, size_t err_len)
{
    int code = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY, &code);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        snprintf(err, err_len, "not a readable zip archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return NULL;
    }
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n > LIMIT_ZIP_ENTRIES) {
        snprintf(err, err_len, "the zip has %" PRId64 " entries (at most %d)", (int64_t)n,
                 LIMIT_ZIP_ENTRIES);
        zip_discard(za);
        return NULL;
    }
    dl4j_zip *z = calloc(1, sizeof *z);
    if (!z) {
        snprintf(err, err_len, "out of memory");
        zip_discard(za);
        return NULL;
    }
    z->za = za;
    return z;
}

int dl4j_zip_has(dl4j_zip *z, const char *name)
{
    return zip_name_locate(z->za, name, 0) >= 0;
}

/* Finds entry `name` and checks its declared sizes against the limits: 0 with *idx and *st
 * set, 1 when there is no such entry, -1 with the reason in err. */
static int check_entry(dl4j_zip *z, const char *name, zip_int64_t *idx, zip_stat_t *st, char *err,
                       size_t err_len)
{
    *idx = zip_name_locate(z->za, name, 0);
    if (*idx < 0)
        return 1;
    zip_stat_init(st);
    if (zip_stat_index(z->za, (zip_uint64_t)*idx, 0, st) != 0 || !(st->valid & ZIP_STAT_SIZE) ||
        !(st->valid & ZIP_STAT_COMP_SIZE)) {
        snprintf(err, err_len, "entry %s: no sizes in the central directory", name);
        return -1;
    }
    if (st->size > (zip_uint64_t)LIMIT_ZIP_ENTRY_BYTES) {
        snprintf(err, err_len, "entry %s declares %" PRIu64 " bytes (at most %" PRId64 ")", name,
                 (uint64_t)st->size, (int64_t)LIMIT_ZIP_ENTRY_BYTES);
        return -1;
    }
    if (st->size > (zip_uint64_t)LIMIT_ZIP_RATIO_FREE_BYTES &&
        st->size / (st->comp_size ? st->comp_size : 1) > LIMIT_ZIP_RATIO) {
        snprintf(err, err_len, "entry %s expands %" PRIu64 " bytes to %" PRIu64 " (a ratio over %d:"
                 " refused as a zip bomb)", name, (uint64_t)st->comp_size, (uint64_t)st->size,
                 LIMIT_ZIP_RATIO);
        return -1;
    }
    if ((int64_t)st->size > LIMIT_ZIP_TOTAL_BYTES - z->total) {
        snprintf(err, err_len, "entry %s: the entries read exceed %" PRId64 " bytes", name,
                 (int64_t)LIMIT_ZIP_TOTAL_BYTES);
        return -1;
    }
    return 0;
}

int dl4j_zip_read(dl4j_zip *z, const char *name, unsigned char **data, size_t *len, char *err,
                  size_t err_len)
{
    *data = NULL;
    *len = 0;
    zip_int64_t idx;
    zip_stat_t st;
    int rc = check_entry(z, name, &idx, &st, err, err_len);
    if (rc != 0)
        return rc;
    zip_file_t *f = zip_fopen_index(z->za, (zip_uint64_t)idx, 0);
    if (!f) {
        snprintf(err, err_len, "entry %s: %s", name, zip_strerror(z->za));
        return -1;
    }
    size_t want = (size_t)st.size;
    unsigned char *buf = malloc(want + 1);
    if (!buf) {
        zip_fclose(f);
        snprintf(err, err_len, "entry %s: out of memory for %zu bytes", name, want);
        return -1;
    }
    /* One byte more than declared: an entry that holds more is refused, not read on. */
    size_t got = 0;
    for (;;) {
        zip_int64_t r = zip_fread(f, buf + got, want + 1 - got);
        if (r < 0) {
            snprintf(err, err_len, "entry %s is damaged: %s", name, zip_file_strerror(f));
            rc = -1;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > want) {
            snprintf(err, err_len, "entry %s holds more than the %zu bytes it declares", name, want);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && got != want) {
        snprintf(err, err_len, "entry %s holds %zu bytes but declares %zu", name, got, want);
        rc = -1;
    }
    zip_fclose(f);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    buf[got] = '\0';
    z->total += (int64_t)got;
    *data = buf;
    *len = got;
    return 0;
}

struct dl4j_zip_stream {
    zip_file_t *f;
    const char *name;
    uint64_t size, got;
};

int dl4j_zip_stream_open(dl4j_zip *z, const char *name, dl4j_zip_stream **out, uint64_t *size,
                         char *err, size_t err_len)
{
    *out = NULL;
    zip_int64_t idx;
    zip_stat_t st;
    int rc = check_entry(z, name, &idx, &st, err, err_len);
    if (rc != 0)
        return rc;
    dl4j_zip_stream *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "entry %s: out of memory", name);
        return -1;
    }
    if (!(s->f = zip_fopen_index(z->za, (zip_uint64_t)idx, 0))) {
        snprintf(err, err_len, "entry %s: %s", name, zip_strerror(z->za));
        free(s);
        return -1;
    }
    s->name = name;
    s->size = st.size;
    z->total += (int64_t)st.size;
    *size = st.size;
    *out = s;
    return 0;
}

int dl4j_zip_stream_read(dl4j_zip_stream *s, void *buf, size_t n, char *err, size_t err_len)
{
    if (n > s->size - s->got) {
        snprintf(err, err_len, "entry %s: reading past the %" PRIu64 " bytes it declares", s->name,
                 s->size);
        return -1;
    }
    size_t got = 0;
    while (got < n) {
        zip_int64_t r = zip_fread(s->f, (unsigned char *)buf + got, n - got);
        if (r < 0) {
            snprintf(err, err_len, "entry %s is damaged: %s", s->name, zip_file_strerror(s->f));
            return -1;
        }
        if (r == 0) {
            snprintf(err, err_len, "entry %s holds %" PRIu64 " bytes but declares %" PRIu64,
                     s->name, s->got + got, s->size);
            return -1;
        }
        got += (size_t)r;
    }
    s->got += n;
    return 0;
}

int dl4j_zip_stream_close(dl4j_zip_stream *s, bool drain, char *err, size_t err_len)
{
    if (!s)
        return 0;
    int rc = 0;
    unsigned char skip[4096];
    for (zip_int64_t r = 1; drain && r > 0;) {
        r = zip_fread(s->f, skip, sizeof skip);
        if (r < 0) {
            snprintf(err, err_len, "entry %s is damaged: %s", s->name, zip_file_strerror(s->f));
            rc = -1;
        }
    }
    zip_fclose(s->f);
    free(s);
    return rc;
}

void dl4j_zip_close(dl4j_zip *z)
{
    if (!z)
        return;
    zip_discard(z->za);
    free(z);
}
