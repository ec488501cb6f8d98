/* runner.c: runs ONNX's backend test cases (a folder with model.onnx and test_data_set_N/
 * holding input_K.pb and output_K.pb TensorProtos) through surgery's ONNX reader and predict,
 * comparing with the expected outputs as ONNX's runner does (|got - want| <= atol + rtol |want|,
 * rtol 1e-3, atol 1e-7). A case whose graph inputs after the first are weights (Conv's W, an
 * LSTM's W, R, B) runs with those inputs as initializers: the model surgery would read.
 * Prints one line per case with -v, then the counts; exits 1 when a case that loads fails. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "runtime/base/diag.h"
#include "runtime/formats/format.h"
#include "runtime/formats/onnx/onnx.h"
#include "runtime/graph/model.h"

#define RTOL 1e-3
#define ATOL 1e-7

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static Onnx__TensorProto *read_pb(const char *path)
{
    size_t len = 0;
    unsigned char *buf = slurp(path, &len);
    if (!buf)
        return NULL;
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    return t;
}

/* The values of a tensor as floats (integers converted), *n of them; NULL on failure. */
static float *values(const Onnx__TensorProto *t, const char *path, int64_t *n)
{
    float *f = NULL;
    int64_t *iv = NULL;
    char err[256];
    if (onnx_tensor_values(t, path, &f, &iv, n, err, sizeof err) != 0)
        return NULL;
    if (iv) {
        f = malloc((size_t)(*n ? *n : 1) * sizeof *f);
        for (int64_t k = 0; k < *n; k++)
            f[k] = (float)iv[k];
        free(iv);
    }
    return f;
}

typedef struct counts {
    int cases, run, passed, failed, skipped;
} counts;

static bool verbose;

/* Writes mp with graph inputs [1, n_input) moved to initializers (their data from the first
 * data set's input_K.pb) to path; returns 0 or -1. */
static int write_with_weights(const Onnx__ModelProto *mp, const char *dir, const char *path)
{
    Onnx__GraphProto g = *mp->graph;
    Onnx__ModelProto m = *mp;
    m.graph = &g;
    size_t n_in = mp->graph->n_input, n_init = mp->graph->n_initializer;
    Onnx__TensorProto **inits = calloc(n_init + n_in + 1, sizeof *inits);
    Onnx__TensorProto **owned = calloc(n_in + 1, sizeof *owned);
    char **names = calloc(n_in + 1, sizeof *names);
    if (n_init)
        memcpy(inits, mp->graph->initializer, n_init * sizeof *inits);
    int rc = 0;
    for (size_t k = 1; k < n_in; k++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/test_data_set_0/input_%zu.pb", dir, k);
        Onnx__TensorProto *t = read_pb(p);
        if (!t) {
            rc = -1;
            break;
        }
        owned[k] = t;
        names[k] = t->name;
        t->name = mp->graph->input[k]->name;   /* borrowed for the pack */
        inits[g.n_initializer++] = t;
    }
    g.initializer = inits;
    g.n_input = 1;
    if (rc == 0) {
        size_t len = onnx__model_proto__get_packed_size(&m);
        unsigned char *buf = malloc(len ? len : 1);
        onnx__model_proto__pack(&m, buf);
        FILE *fp = fopen(path, "wb");
        rc = fp && fwrite(buf, 1, len, fp) == len ? 0 : -1;
        if (fp)
            fclose(fp);
        free(buf);
    }
    for (size_t k = 1; k < n_in; k++)
        if (owned[k]) {
            owned[k]->name = names[k];
            onnx__tensor_proto__free_unpacked(owned[k], NULL);
        }
    free(names);
    free(owned);
    free(inits);
    return rc;
}

/* Loads path, capturing diagnostics; the first line of them into why. */
static model *load_quiet(const char *path, char *why, size_t why_len)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    diag_ctx *d = diag_new(mem, DIAG_COLOR_NEVER);
    model *m = model_load(path, true, d);
    diag_free(d);
    fclose(mem);
    if (!m && why_len) {
        const char *p = text ? strstr(text, "error: ") : NULL;
        p = p ? p + 7 : text ? text : "";
        const char *nl = strstr(p, "cannot be mapped to surgery layers:\n  ");
        if (nl)
            p = nl + 38;
        size_t n = strcspn(p, "\n");
        snprintf(why, why_len, "%.*s", (int)(n < 200 ? n : 200), p);
    }
    free(text);
    return m;
}

/* Whether graph input name is first read by a Transpose (a batch-first sequence). */
static bool batch_first(const Onnx__GraphProto *g, const char *name)
{
    for (size_t k = 0; k < g->n_node; k++)
        for (size_t j = 0; j < g->node[k]->n_input; j++)
            if (!strcmp(g->node[k]->input[j], name))
                return !strcmp(g->node[k]->op_type, "Transpose");
    return false;
}

/* Runs data set ds of the case against m; returns 0 when every output matches. */
static int run_set(model *m, const Onnx__GraphProto *g, const char *ds, char *why, size_t wl)
{
    tensor in[16] = {{0}}, out[16] = {{0}};
    const tensor *inp[16];
    int rc = -1, n_in = m->n_inputs < 16 ? m->n_inputs : 16, n_out = 0;
    char p[4096], err[512];
    for (int k = 0; k < n_in; k++) {
        size_t gi = 0;
        while (gi < g->n_input && strcmp(g->input[gi]->name, m->inputs[k].name))
            gi++;
        snprintf(p, sizeof p, "%s/input_%zu.pb", ds, gi);
        Onnx__TensorProto *t = read_pb(p);
        int64_t cnt = 0;
        float *f = t ? values(t, p, &cnt) : NULL;
        if (!f) {
            snprintf(why, wl, "cannot read %s", p);
            if (t)
                onnx__tensor_proto__free_unpacked(t, NULL);
            goto out;
        }
        const model_input *mi = &m->inputs[k];
        int64_t b = t->n_dims ? t->dims[0] : 1;
        if (mi->kind == INPUT_CONVOLUTIONAL) {
            int64_t shape[4] = {b, mi->c, mi->h, mi->w};
            tensor_alloc(&in[k], 4, shape);
        } else if (mi->kind == INPUT_RECURRENT && t->n_dims == 3) {
            bool bt = batch_first(g, mi->name);
            int64_t T = bt ? t->dims[1] : t->dims[0], B = bt ? t->dims[0] : t->dims[1];
            tensor_alloc3(&in[k], T, B, mi->size);
            if (bt) {
                for (int64_t s = 0; s < T; s++)
                    for (int64_t q = 0; q < B; q++)
                        memcpy(in[k].data + (s * B + q) * mi->size, f + (q * T + s) * mi->size,
                               (size_t)mi->size * sizeof(float));
            }
            if (bt)
                cnt = 0;
        } else {
            tensor_alloc2(&in[k], b, mi->size);
        }
        if (cnt && cnt != in[k].size) {
            snprintf(why, wl, "input %s has %lld values, not %lld", mi->name, (long long)cnt,
                     (long long)in[k].size);
            free(f);
            onnx__tensor_proto__free_unpacked(t, NULL);
            goto out;
        }
        if (cnt)
            memcpy(in[k].data, f, (size_t)cnt * sizeof(float));
        free(f);
        onnx__tensor_proto__free_unpacked(t, NULL);
        inp[k] = &in[k];
    }
    n_out = m->n_outputs < 16 ? m->n_outputs : 16;
    if (model_predict_nodes(m, inp, NULL, (const char *const *)m->outputs, n_out, out, err,
                            sizeof err) != 0) {
        snprintf(why, wl, "predict: %s", err);
        goto out;
    }
    for (int j = 0; j < n_out; j++) {
        snprintf(p, sizeof p, "%s/output_%d.pb", ds, j);
        Onnx__TensorProto *t = read_pb(p);
        int64_t cnt = 0;
        float *want = t ? values(t, p, &cnt) : NULL;
        if (t)
            onnx__tensor_proto__free_unpacked(t, NULL);
        if (!want || cnt != out[j].size) {
            snprintf(why, wl, "output %d: %lld values, expected %lld", j,
                     (long long)out[j].size, (long long)cnt);
            free(want);
            goto out;
        }
        for (int64_t q = 0; q < cnt; q++) {
            double got = out[j].data[q], exp = want[q];
            if (!(fabs(got - exp) <= ATOL + RTOL * fabs(exp))) {
                snprintf(why, wl, "output %d [%lld]: %.8g, expected %.8g", j, (long long)q,
                         got, exp);
                free(want);
                goto out;
            }
        }
        free(want);
    }
    rc = 0;
out:
    for (int k = 0; k < 16; k++) {
        tensor_release(&in[k]);
        tensor_release(&out[k]);
    }
    return rc;
}

static void run_case(const char *dir, const char *tmp, counts *c)
{
    char path[4096], why[512] = "";
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    size_t len = 0;
    unsigned char *buf = slurp(path, &len);
    Onnx__ModelProto *mp = buf ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    free(buf);
    if (!mp || !mp->graph)
        return;
    c->cases++;
    model *m = load_quiet(path, why, sizeof why);
    if (!m && mp->graph->n_input > 1 && write_with_weights(mp, dir, tmp) == 0) {
        m = load_quiet(tmp, why, sizeof why);
    }
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (!m) {
        c->skipped++;
        if (verbose)
            printf("skip %s: %s\n", name, why);
        onnx__model_proto__free_unpacked(mp, NULL);
        return;
    }
    c->run++;
    bool ok = true;
    for (int s = 0; ok; s++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d", dir, s);
        struct stat st;
        if (stat(path, &st) != 0)
            break;
        ok = run_set(m, mp->graph, path, why, sizeof why) == 0;
    }
    if (ok) {
        c->passed++;
        if (verbose)
            printf("pass %s\n", name);
    } else {
        c->failed++;
        printf("FAIL %s: %s\n", name, why);
    }
    model_free(m);
    onnx__model_proto__free_unpacked(mp, NULL);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every case folder under root, in name order. */
static void run_root(const char *root, const char *tmp, counts *c)
{
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr, "onnx-node: cannot open %s\n", root);
        return;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (size_t k = 0; k < n; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, names[k]);
        run_case(dir, tmp, c);
        free(names[k]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    int a = 1;
    if (a < argc && !strcmp(argv[a], "-v")) {
        verbose = true;
        a++;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: onnx-node-runner [-v] DATA_DIR... (folders of test cases)\n");
        return 2;
    }
    char tmpdir[] = "/tmp/onnx-node-XXXXXX";
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s/model.onnx", tmpdir);
    int failed = 0;
    for (; a < argc; a++) {
        counts c = {0};
        run_root(argv[a], tmp, &c);
        printf("%s: %d cases, %d run, %d passed, %d failed, %d skipped as unsupported\n",
               argv[a], c.cases, c.run, c.passed, c.failed, c.skipped);
        failed += c.failed;
    }
    unlink(tmp);
    rmdir(tmpdir);
    return failed ? 1 : 0;
}
