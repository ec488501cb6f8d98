/* test_save_commit.c: the native save's commit protocol: a complete save leaves exactly
 * NAME.yaml naming NAME.safetensors; a save whose commit fails removes what it created and
 * leaves the previous pair; leftovers of interrupted saves (and only those) are removed by the
 * next save of the same target; a YAML left naming its generation file loads. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/formats/format.h"

#define MLP "tests/data/models/mlp.yaml"

/* A folder for one test and the paths inside it. */
typedef struct save_dir {
    char root[64];
    char path[600];
} save_dir;

static void sd_make(save_dir *s)
{
    snprintf(s->root, sizeof s->root, "/tmp/surgery-commit-XXXXXX");
    cr_assert(mkdtemp(s->root));
}

static const char *sd_at(save_dir *s, const char *name)
{
    snprintf(s->path, sizeof s->path, "%s/%s", s->root, name);
    return s->path;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder's entries, sorted, separated by spaces, in out. */
static void sd_listing(const save_dir *s, char *out, size_t cap)
{
    char *names[64];
    int n = 0;
    DIR *dp = opendir(s->root);
    cr_assert(dp);
    struct dirent *e;
    while ((e = readdir(dp)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, by_name);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, names[i], cap - strlen(out) - 1);
        free(names[i]);
    }
}

static void sd_remove(save_dir *s)
{
    DIR *dp = opendir(s->root);
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        const char *p = sd_at(s, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    if (dp)
        closedir(dp);
    rmdir(s->root);
}

static void sd_touch(save_dir *s, const char *name)
{
    FILE *fp = fopen(sd_at(s, name), "w");
    cr_assert(fp);
    fputs("leftover", fp);
    fclose(fp);
}

/* The whole file, NUL-terminated (the caller frees it). */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    char *buf = NULL;
    size_t n = 0, cap = 0, r;
    do {
        if (cap - n < 4096)
            cr_assert((buf = realloc(buf, cap = cap * 2 + 4096)));
        r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
    } while (r > 0);
    fclose(fp);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* One test's state: the loaded model, diagnostics captured in msg, a fresh folder. */
typedef struct commit_case {
    char *msg;
    size_t msg_len;
    FILE *err;
    diag_ctx *d;
    model *m;
    save_dir s;
} commit_case;

static void cc_open(commit_case *c)
{
    memset(c, 0, sizeof *c);
    c->err = open_memstream(&c->msg, &c->msg_len);
    cr_assert(c->err);
    c->d = diag_new(c->err, DIAG_COLOR_NEVER);
    c->m = model_load(MLP, true, c->d);
    cr_assert(c->m && c->m->weights_loaded);
    sd_make(&c->s);
}

static const char *cc_text(commit_case *c)
{
    fflush(c->err);
    return c->msg ? c->msg : "";
}

static void cc_close(commit_case *c)
{
    sd_remove(&c->s);
    model_free(c->m);
    diag_free(c->d);
    fclose(c->err);
    free(c->msg);
}

Test(save_commit, a_complete_save_leaves_the_pair_naming_NAME_safetensors)
{
    commit_case c;
    cc_open(&c);
    char list[1024];
    for (int durable = 0; durable < 2; durable++) {
        cr_assert_eq(model_save_mode(c.m, sd_at(&c.s, "m.yaml"), durable ? SAVE_DURABLE : SAVE_ATOMIC, c.d), 0);
        sd_listing(&c.s, list, sizeof list);
        cr_assert_str_eq(list, "m.safetensors m.yaml");
        char *yaml = slurp(sd_at(&c.s, "m.yaml"), NULL);
        cr_assert(strstr(yaml, "\nweights: m.safetensors\n"), "the YAML names m.safetensors: %s", yaml);
        free(yaml);
    }
    model *back = model_load(sd_at(&c.s, "m.yaml"), true, c.d);
    cr_assert(back && back->weights_loaded);
    model_free(back);
    cc_close(&c);
}

Test(save_commit, a_failed_commit_leaves_the_previous_pair_and_nothing_else)
{
    commit_case c;
    cc_open(&c);
    cr_assert_eq(model_save(c.m, sd_at(&c.s, "m.yaml"), c.d), 0);
    size_t before_len;
    char *before = slurp(sd_at(&c.s, "m.safetensors"), &before_len);
    /* the YAML's name is taken by a folder: the commit's rename fails */
    cr_assert_eq(unlink(sd_at(&c.s, "m.yaml")), 0);
    cr_assert_eq(mkdir(sd_at(&c.s, "m.yaml"), 0755), 0);
    char list[1024], want[1024];
    sd_listing(&c.s, want, sizeof want);
    for (int durable = 0; durable < 2; durable++) {
        cr_assert_eq(model_save_mode(c.m, sd_at(&c.s, "m.yaml"), durable ? SAVE_DURABLE : SAVE_ATOMIC, c.d), -1);
        cr_assert(strstr(cc_text(&c), sd_at(&c.s, "m.yaml")), "the error names the YAML: %s", c.msg);
        cr_assert(strstr(c.msg, "Is a directory"), "%s", c.msg);
        sd_listing(&c.s, list, sizeof list);
        cr_assert_str_eq(list, want, "the failed save left files behind");
        size_t after_len;
        char *after = slurp(sd_at(&c.s, "m.safetensors"), &after_len);
        cr_assert(after_len == before_len && !memcmp(after, before, before_len),
                  "the previous weights changed");
        free(after);
    }
    free(before);
    cc_close(&c);
}

Test(save_commit, the_next_save_removes_leftovers_of_interrupted_saves_only)
{
    commit_case c;
    cc_open(&c);
    cr_assert_eq(model_save(c.m, sd_at(&c.s, "m.yaml"), c.d), 0);
    /* what killed saves of m.yaml leave: removed */
    sd_touch(&c.s, "m.save-Ab12Cd.safetensors");
    sd_touch(&c.s, "m.yaml.tmp-xY12zZ");
    sd_touch(&c.s, "m.safetensors.tmp-QQ77qq");
    /* files of the user and of other targets: kept */
    sd_touch(&c.s, "m.save-abc.safetensors");
    sd_touch(&c.s, "m.save-Ab12C_.safetensors");
    sd_touch(&c.s, "m.backup.safetensors");
    sd_touch(&c.s, "n.save-Ab12Cd.safetensors");
    sd_touch(&c.s, "m.yaml.tmp-1234567");
    cr_assert_eq(model_save(c.m, sd_at(&c.s, "m.yaml"), c.d), 0);
    char list[1024];
    sd_listing(&c.s, list, sizeof list);
    cr_assert_str_eq(list, "m.backup.safetensors m.safetensors m.save-Ab12C_.safetensors "
                           "m.save-abc.safetensors m.yaml m.yaml.tmp-1234567 "
                           "n.save-Ab12Cd.safetensors");
    cc_close(&c);
}

Test(save_commit, a_yaml_naming_its_generation_file_loads_and_is_replaced_by_the_next_save)
{
    commit_case c;
    cc_open(&c);
    cr_assert_eq(model_save(c.m, sd_at(&c.s, "m.yaml"), c.d), 0);
    /* the state a save killed just after its commit leaves */
    char gen[600];
    snprintf(gen, sizeof gen, "%s", sd_at(&c.s, "m.save-Zz9Zz9.safetensors"));
    cr_assert_eq(rename(sd_at(&c.s, "m.safetensors"), gen), 0);
    size_t len;
    char *yaml = slurp(sd_at(&c.s, "m.yaml"), &len);
    char *w = strstr(yaml, "weights: m.safetensors\n");
    cr_assert(w);
    FILE *fp = fopen(sd_at(&c.s, "m.yaml"), "w");
    fprintf(fp, "%.*sweights: m.save-Zz9Zz9.safetensors\n", (int)(w - yaml), yaml);
    fclose(fp);
    model *back = model_load(sd_at(&c.s, "m.yaml"), true, c.d);
    cr_assert(back && back->weights_loaded, "the committed YAML names its generation file");
    /* a save of another target in the folder leaves it alone */
    cr_assert_eq(model_save(back, sd_at(&c.s, "n.yaml"), c.d), 0);
    char list[1024];
    sd_listing(&c.s, list, sizeof list);
    cr_assert_str_eq(list, "m.save-Zz9Zz9.safetensors m.yaml n.safetensors n.yaml");
    /* the next save of m.yaml (from the model that borrows the generation file) replaces it */
    cr_assert_eq(model_save(back, sd_at(&c.s, "m.yaml"), c.d), 0);
    sd_listing(&c.s, list, sizeof list);
    cr_assert_str_eq(list, "m.safetensors m.yaml n.safetensors n.yaml");
    char *again = slurp(sd_at(&c.s, "m.yaml"), NULL);
    cr_assert_str_eq(again, yaml, "the YAML is the complete save's again");
    free(again);
    free(yaml);
    model_free(back);
    cc_close(&c);
}

Test(save_commit, weights_that_cannot_take_their_name_keep_the_generation_name)
{
    commit_case c;
    cc_open(&c);
    /* NAME.safetensors is taken by a folder: no link can replace it */
    cr_assert_eq(mkdir(sd_at(&c.s, "m.safetensors"), 0755), 0);
    cr_assert_eq(model_save(c.m, sd_at(&c.s, "m.yaml"), c.d), 0);
    cr_assert(strstr(cc_text(&c), "could not take the name m.safetensors"), "%s", c.msg);
    cr_assert_eq(diag_error_count(c.d), 0);
    char *yaml = slurp(sd_at(&c.s, "m.yaml"), NULL);
    const char *w = strstr(yaml, "\nweights: m.save-");
    cr_assert(w, "the YAML names its generation file: %s", yaml);
    char gen[64];
    cr_assert_eq(sscanf(w, "\nweights: %63s", gen), 1);
    char list[1024], want[1024];
    snprintf(want, sizeof want, "m.safetensors %s m.yaml", gen);
    sd_listing(&c.s, list, sizeof list);
    cr_assert_str_eq(list, want);
    model *back = model_load(sd_at(&c.s, "m.yaml"), true, c.d);
    cr_assert(back && back->weights_loaded);
    model_free(back);
    free(yaml);
    cc_close(&c);
}
