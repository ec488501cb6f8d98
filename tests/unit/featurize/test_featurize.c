/* test_featurize.c: training from featurized data gives the weights of training the whole
 * model with the same frozen set; the cache is reused, keyed by content, and never half-made. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "compiler/frontend.h"
#include "runtime/script/exec.h"
#include "runtime/formats/format.h"
#include "tests/unit/test_support.h"

static char tmpdir[PATH_MAX];
static char root[PATH_MAX];

static void setup(void)
{
    cr_assert(getcwd(root, sizeof root));
    test_make_dir(tmpdir, sizeof tmpdir, "featurize");
}

static void teardown(void) { test_remove_dir(tmpdir); }

/* Writes a transfer script into the temporary folder; with_featurize picks the path. */
static void write_script(const char *name, bool with_featurize, bool shuffle, const char *out)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f,
            "base \"%s/examples/digits/base.yaml\"\n"
            "fine_tune { updater = nesterovs(learning_rate = 5e-3, momentum = 0.9)  seed = 5  l2 = 1e-4 }\n"
            "freeze through \"fc2\"\n"
            "data train = csv(\"%s/examples/data/digits_5to9_train.csv\") { label = 64  classes = 5  batch = 16  shuffle = %s  limit = 200 }\n"
            "%s"
            "fit train epochs 3\n"
            "evaluate train\n"
            "save \"%s\"\n",
            root, root, shuffle ? "true" : "false", with_featurize ? "featurize train into \"cache\"\n" : "",
            out);
    fclose(f);
}

/* Runs a script; its diagnostics go to `messages` (a buffer of the test's) when given. */
static int run_script_to(const char *name, char *messages, size_t messages_len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *out = messages ? fmemopen(messages, messages_len, "w") : stderr;
    cr_assert(out);
    diag_ctx *d = diag_new(out, DIAG_COLOR_NEVER);
    ir_script *s = NULL;
    int rc = frontend_compile(path, NULL, 0, d, &s);
    if (rc == 0) {
        exec_options o = {.out = NULL, .progress = NULL, .log = NULL, .quiet = true};
        rc = exec_script(s, &o, d);
    }
    ir_script_free(s);
    diag_free(d);
    if (messages)
        fclose(out);
    return rc;
}

static int run_script(const char *name)
{
    return run_script_to(name, NULL, 0);
}

static model *load(const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    diag_ctx *d = diag_new(stderr, DIAG_COLOR_NEVER);
    model *m = model_load(path, true, d);
    diag_free(d);
    cr_assert(m, "cannot load %s", path);
    return m;
}

static double max_param_diff(const model *a, const model *b)
{
    double worst = 0;
    cr_assert_eq(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++)
        for (int p = 0; p < a->layers[i]->n_params; p++) {
            double d = tensor_max_abs_diff(&a->layers[i]->params[p], &b->layers[i]->params[p]);
            if (d > worst)
                worst = d;
        }
    return worst;
}

static void same_weights(bool shuffle)
{
    write_script("whole.surgery", false, shuffle, "whole.yaml");
    write_script("feat.surgery", true, shuffle, "feat.yaml");
    cr_assert_eq(run_script("whole.surgery"), 0);
    cr_assert_eq(run_script("feat.surgery"), 0);
    model *a = load("whole.yaml"), *b = load("feat.yaml");
    double d = max_param_diff(a, b);
    cr_expect_leq(d, 1e-6, "featurized fit differs from the whole-model fit by %g", d);
    char base_path[PATH_MAX + 64];
    snprintf(base_path, sizeof base_path, "%s/examples/digits/base.yaml", root);
    diag_ctx *dc = diag_new(stderr, DIAG_COLOR_NEVER);
    model *base = model_load(base_path, true, dc);
    diag_free(dc);
    cr_assert(base, "cannot load %s", base_path);
    const model *fitted[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        /* The frozen layers (through fc2) are bit-identical to the base model's in both. */
        static const char *const frozen[] = {"fc1", "fc2"};
        for (int i = 0; i < 2; i++) {
            const layer *L = model_find_layer(fitted[k], frozen[i]);
            const layer *B = model_find_layer(base, frozen[i]);
            cr_assert(L && B && L->n_params == B->n_params && L->n_params > 0);
            for (int p = 0; p < L->n_params; p++) {
                const tensor *t = &L->params[p], *u = &B->params[p];
                cr_assert_eq(t->size, u->size);
                cr_expect(!memcmp(t->data, u->data, (size_t)t->size * sizeof *t->data),
                          "frozen %s parameter %d differs from the base's", frozen[i], p);
            }
        }
        /* And training did change every parameter of the unfrozen output layer. */
        const layer *L = model_find_layer(fitted[k], "predictions");
        const layer *B = model_find_layer(base, "predictions");
        cr_assert(L && B && L->n_params == B->n_params && L->n_params > 0);
        for (int p = 0; p < L->n_params; p++) {
            double change = tensor_max_abs_diff(&L->params[p], &B->params[p]);
            cr_expect_gt(change, 1e-4, "fit left output parameter %d (almost) unchanged: %g", p,
                         change);
        }
    }
    model_free(base);
    model_free(a);
    model_free(b);
}

TestSuite(featurize, .init = setup, .fini = teardown);

Test(featurize, fit_from_features_matches_whole_model_fit)
{
    same_weights(false);
}

Test(featurize, fit_from_features_matches_with_shuffling)
{
    same_weights(true);
}

Test(featurize, cache_is_reused_and_complete)
{
    write_script("feat.surgery", true, true, "feat.yaml");
    cr_assert_eq(run_script("feat.surgery"), 0);
    char cache[PATH_MAX + 16];
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    char cmd[PATH_MAX * 4];
    /* exactly one complete entry, no temporary left behind */
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1 && ! ls '%s' | grep -q tmp && "
             "test -f '%s'/*/manifest.txt", cache, cache, cache);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "stat -c %%Y '%s'/*/manifest.txt > '%s/before'", cache, tmpdir);
    cr_assert_eq(system(cmd), 0);
    sleep(1);
    cr_assert_eq(run_script("feat.surgery"), 0);
    snprintf(cmd, sizeof cmd, "stat -c %%Y '%s'/*/manifest.txt | cmp -s - '%s/before'", cache, tmpdir);
    cr_assert_eq(system(cmd), 0, "the second run rewrote the cache instead of reusing it");
}

Test(featurize, damaged_cache_is_recomputed)
{
    write_script("feat.surgery", true, false, "feat.yaml");
    cr_assert_eq(run_script("feat.surgery"), 0);
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof cmd, "for f in '%s'/cache/*/000000.x00.npy; do : > \"$f\"; done", tmpdir);
    cr_assert_eq(system(cmd), 0);
    char messages[4096] = "";
    cr_assert_eq(run_script_to("feat.surgery", messages, sizeof messages), 0);
    cr_expect(strstr(messages, "warning: featurize: ignoring a damaged cache entry") != NULL,
              "unexpected messages: %s", messages);
    snprintf(cmd, sizeof cmd, "test -s \"$(ls -d '%s'/cache/*)/000000.x00.npy\"", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* A cache entry whose files disagree with its manifest or with the model (rows of another
 * width, a count no memory holds, no label columns) is ignored and computed again; it is never
 * read past its arrays or sized by its numbers alone. */
Test(featurize, inconsistent_cache_is_recomputed)
{
    write_script("feat.surgery", true, false, "feat.yaml");
    cr_assert_eq(run_script("feat.surgery"), 0);
    static const char *const damage[] = {
        "cp \"$e\"/000000.y.npy \"$e\"/000000.x00.npy",   /* the right rows, the wrong width */
        "sed -i 's/^count .*/count 2305843009213693952/' \"$e\"/manifest.txt",
        "sed -i 's/^outputs .*/outputs 0/' \"$e\"/manifest.txt",
        "sed -i 's/^outputs .*/outputs 4096/' \"$e\"/manifest.txt",
    };
    for (size_t i = 0; i < sizeof damage / sizeof *damage; i++) {
        char cmd[PATH_MAX * 4];
        snprintf(cmd, sizeof cmd, "e=$(ls -d '%s'/cache/*) && %s", tmpdir, damage[i]);
        cr_assert_eq(system(cmd), 0, "%s", damage[i]);
        char messages[4096] = "";
        cr_assert_eq(run_script_to("feat.surgery", messages, sizeof messages), 0, "%s: %s", damage[i], messages);
        cr_expect(strstr(messages, "warning: featurize: ignoring a damaged cache entry") != NULL,
                  "%s: unexpected messages: %s", damage[i], messages);
    }
}

Test(featurize, nothing_frozen_is_an_error)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/nofreeze.surgery", tmpdir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "base \"%s/examples/digits/base.yaml\"\n"
               "data train = csv(\"%s/examples/data/digits_5to9_train.csv\") { label = 64  classes = 5  limit = 20 }\n"
               "featurize train into \"cache\"\n", root, root);
    fclose(f);
    char messages[4096] = "";
    int rc = run_script_to("nofreeze.surgery", messages, sizeof messages);
    /* the executor's own guard (surgery check reports it first, with status 1) */
    cr_expect_eq(rc, 4, "featurize without a frozen part gave status %d", rc);
    cr_expect(strstr(messages, "nofreeze.surgery:3:1: error: featurize needs a frozen part") != NULL,
              "unexpected messages: %s", messages);
}
