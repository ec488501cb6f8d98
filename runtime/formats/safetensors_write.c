/* safetensors_write.c: writing of safetensors files: the JSON header, sorted by name, and the
 * little-endian tensor data. */
#include "runtime/formats/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/base/strbuf.h"
#include "runtime/tensor/tensor_parts.h"

/* ---- writing ---- */

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json_string(strbuf *b, const char *s)
{
    strbuf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"')
            strbuf_puts(b, "\\\"");
        else if (*p == '\\')
            strbuf_puts(b, "\\\\");
        else if (*p < 0x20 || *p == 0x7f)
            strbuf_printf(b, "\\u%04x", *p);
        else
            strbuf_add(b, (const char *)p, 1);
    }
    strbuf_puts(b, "\"");
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

int st_header(const st_entry *entries, int n, const char *const *meta, int n_meta,
              char **header, size_t *header_len, st_entry **sorted_out, char *err,
              size_t err_len)
{
    *header = NULL;
    *header_len = 0;
    *sorted_out = NULL;
    st_entry *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    if (!sorted) {
        diag_format(err, err_len, "out of memory");
        return -1;
    }
    if (n > 0)
        memcpy(sorted, entries, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_entry);
    for (int i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1].name, sorted[i].name)) {
            diag_format(err, err_len, "tensor '%s' given twice", sorted[i].name);
            free(sorted);
            return -1;
        }
    strbuf h = {0};
    strbuf_add(&h, "\0\0\0\0\0\0\0\0", 8);   /* the length, filled in below */
    strbuf_puts(&h, "{");
    if (n_meta > 0) {
        strbuf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                strbuf_puts(&h, ",");
            sb_json_string(&h, meta[2 * i]);
            strbuf_puts(&h, ":");
            sb_json_string(&h, meta[2 * i + 1]);
        }
        strbuf_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const tensor *t = sorted[i].t;
        if (n_meta > 0 || i)
            strbuf_puts(&h, ",");
        sb_json_string(&h, sorted[i].name);
        strbuf_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++)
            strbuf_printf(&h, k ? ",%" PRId64 : "%" PRId64, t->shape[k]);
        uint64_t bytes = (uint64_t)t->size * 4;
        strbuf_printf(&h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + bytes);
        off += bytes;
    }
    strbuf_puts(&h, "}");
    while (!h.oom && h.n % 8 != 0)
        strbuf_puts(&h, " ");
    if (h.oom) {
        free(h.s);
        free(sorted);
        diag_format(err, err_len, "out of memory");
        return -1;
    }
    uint64_t json_len = (uint64_t)h.n - 8;
    for (int i = 0; i < 8; i++)
        h.s[i] = (char)(unsigned char)(json_len >> (8 * i));
    *header = h.s;
    *header_len = h.n;
    *sorted_out = sorted;
    return 0;
}

/* n floats as little-endian F32 (src NULL: zeros). */
static bool write_floats(FILE *fp, const float *src, int64_t n)
{
    static const float zeros[4096];
    const bool le = tensor_host_little_endian();
    while (n > 0) {
        int64_t k = src || n < 4096 ? n : 4096;
        if (!src) {
            if (fwrite(zeros, sizeof(float), (size_t)k, fp) != (size_t)k)
                return false;
        } else if (le) {
            if (fwrite(src, sizeof(float), (size_t)k, fp) != (size_t)k)
                return false;
        } else {
            for (int64_t j = 0; j < k; j++) {
                uint32_t bits;
                memcpy(&bits, &src[j], 4);
                unsigned char b[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                                      (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
                if (fwrite(b, 1, 4, fp) != 4)
                    return false;
            }
        }
        n -= k;
        if (src)
            src += k;
    }
    return true;
}

static int write_run(void *ctx, const float *src, int64_t n)
{
    return write_floats(ctx, src, n) ? 0 : -1;
}

int st_write(FILE *fp, const st_entry *entries, int n, const char *const *meta, int n_meta,
             char *err, size_t err_len)
{
    char *h;
    size_t hn;
    st_entry *sorted;
    if (st_header(entries, n, meta, n_meta, &h, &hn, &sorted, err, err_len) != 0)
        return -1;
    bool ok = fwrite(h, 1, hn, fp) == hn;
    free(h);
    for (int i = 0; ok && i < n; i++) {
        const tensor *t = sorted[i].t;
        if (t->size == 0)
            continue;
        if (t->parts) {
            ok = tensor_parts_each_run(t->parts, write_run, fp) == 0;
        } else if (!t->data) {
            diag_format(err, err_len, "tensor '%s' has no data", sorted[i].name);
            free(sorted);
            return -1;
        } else {
            ok = write_floats(fp, t->data, t->size);
        }
    }
    free(sorted);
    if (!ok) {
        diag_format(err, err_len, "write failed: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
