/* dl4j_build.c: Nd4j.write arrays and zips for the DL4J reader's tests (dl4j_build.h). */
#include "tests/unit/formats/dl4j_build.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "tests/unit/test_support.h"

/* An Nd4j.write array: the 0.x generation (JAVACPP, INT shape information) or the 1.0 one
 * (MIXED_DATA_TYPES, LONG), `stored` values of type dtype in buf (big enough). */
size_t build_array(unsigned char *buf, bool gen10, const char *dtype, int rank,
                          const int64_t *shape, const int64_t *stride, char order,
                          const double *vals, int64_t stored)
{
    size_t at = 0;
    const char *mode = gen10 ? "MIXED_DATA_TYPES" : "JAVACPP";
    int lb = gen10 ? 8 : 4, ib = gen10 ? 8 : 4;
    at += nd4j_put_utf(buf + at, mode);
    at += nd4j_put_be(buf + at, (uint64_t)(2 * rank + 4), lb);
    at += nd4j_put_utf(buf + at, gen10 ? "LONG" : "INT");
    at += nd4j_put_be(buf + at, (uint64_t)rank, ib);
    for (int i = 0; i < rank; i++)
        at += nd4j_put_be(buf + at, (uint64_t)shape[i], ib);
    for (int i = 0; i < rank; i++)
        at += nd4j_put_be(buf + at, (uint64_t)stride[i], ib);
    at += nd4j_put_be(buf + at, 0, ib);
    at += nd4j_put_be(buf + at, 1, ib);
    at += nd4j_put_be(buf + at, (uint64_t)order, ib);
    at += nd4j_put_utf(buf + at, mode);
    at += nd4j_put_be(buf + at, (uint64_t)stored, lb);
    at += nd4j_put_utf(buf + at, dtype);
    for (int64_t k = 0; k < stored; k++) {
        if (!strcmp(dtype, "DOUBLE")) {
            uint64_t u;
            memcpy(&u, &vals[k], 8);
            at += nd4j_put_be(buf + at, u, 8);
        } else if (!strcmp(dtype, "HALF")) {
            /* small whole numbers only: exact in half precision */
            int v = (int)vals[k], e = 0;
            uint16_t h = 0;
            if (v > 0) {
                while ((v >> e) > 1)
                    e++;
                h = (uint16_t)(((e + 15) << 10) | (((v << 10) >> e) & 1023));
            }
            at += nd4j_put_be(buf + at, h, 2);
        } else {
            float f = (float)vals[k];
            uint32_t u;
            memcpy(&u, &f, 4);
            at += nd4j_put_be(buf + at, u, 4);
        }
    }
    return at;
}

size_t linspace_row(unsigned char *buf, bool gen10, const char *dtype, int64_t n,
                           int64_t stored)
{
    double *v = calloc((size_t)(stored > 0 ? stored : 1), sizeof *v);
    for (int64_t k = 0; k < stored; k++)
        v[k] = (double)(k + 1);
    int64_t shape[2] = {1, n}, stride[2] = {n, 1};
    size_t len = build_array(buf, gen10, dtype, 2, shape, stride, 'c', v, stored);
    free(v);
    return len;
}

void write_zip(const char *path, const entry *e, int n)
{
    int err = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    cr_assert(za);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(za, e[i].data, e[i].len, 0);
        cr_assert(s);
        cr_assert(zip_file_add(za, e[i].name, s, ZIP_FL_OVERWRITE) >= 0);
    }
    cr_assert_eq(zip_close(za), 0);
}


int64_t check_linspace_f(const model *m)
{
    int64_t off = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        for (int p = 0; p < L->n_params; p++) {
            const tensor *t = &L->params[p];
            cr_assert(t->ndim == 1 || t->ndim == 2, "%s parameter %d", L->name, p);
            const int64_t rows = t->shape[0], cols = t->ndim == 2 ? t->shape[1] : 1;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++)
                    cr_assert_float_eq(t->data[r * cols + c], (float)(1 + off + r + c * rows), 0,
                                       "%s parameter %d [%ld][%ld]", L->name, p, (long)r,
                                       (long)c);
            off += t->size;
        }
    }
    return off;
}

nd4j_array nd4j_read_file(const char *path)
{
    size_t len;
    unsigned char *bytes = (unsigned char *)test_read_file(path, &len);
    nd4j_array a;
    char err[256];
    cr_assert_eq(nd4j_array_decode(bytes, len, &a, NULL, err, sizeof err), 0, "%s: %s", path, err);
    free(bytes);
    return a;
}
