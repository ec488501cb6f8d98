/* fit_checkpoint.c: the checkpoint files of a script's fits, the identities a checkpoint is
 * checked against (the script's statements, the base model's bytes) and the fit a resumed run
 * continues. */
#include "runtime/script/fit_checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "runtime/base/util.h"

int64_t fit_ordinal(const ir_script *s, int index)
{
    int64_t n = 0;
    for (int i = 0; i <= index && i < s->n_stmts; i++)
        n += s->stmts[i].kind == IR_FIT;
    return n;
}

char *fit_checkpoint_path(const ir_script *s, int index)
{
    const ir_stmt *st = &s->stmts[index];
    const conf_arg *dir = ir_opt(st, "checkpoint");
    if (!dir || !dir->value || !dir->value->str)
        return NULL;
    char *folder = ir_resolve_path(st, dir->value->str);
    size_t n = strlen(folder) + 48;
    char *path = xmalloc(n);
    size_t len = strlen(folder);
    while (len > 1 && folder[len - 1] == '/')
        folder[--len] = '\0';
    snprintf(path, n, "%s/fit-%lld.ckpt", folder, (long long)fit_ordinal(s, index));
    free(folder);
    return path;
}

int64_t fit_checkpoint_every(const ir_stmt *st)
{
    const conf_arg *every = ir_opt(st, "every");
    if (every && every->value && every->value->kind == CV_NUM && every->value->num >= 1)
        return (int64_t)every->value->num;
    return (st->flags & IRF_ITERATIONS) ? FIT_CHECKPOINT_EVERY_ITERATIONS : 1;
}

/* ---- identities ---- */

static void hash_str(XXH3_state_t *h, const char *s)
{
    if (s)
        XXH3_64bits_update(h, s, strlen(s) + 1);
    else
        XXH3_64bits_update(h, "", 1);
}

static void hash_i64(XXH3_state_t *h, int64_t v)
{
    XXH3_64bits_update(h, &v, sizeof v);
}

static void hash_value(XXH3_state_t *h, const conf_value *v)
{
    char *text = v ? conf_value_to_text(v) : NULL;
    hash_str(h, text);
    free(text);
}

static bool is_data_step(ir_kind k)
{
    return k == IR_DATA || k == IR_FEATURIZE || k == IR_FIT || k == IR_EVALUATE ||
           k == IR_EXPECT || k == IR_SAVE;
}

static void hash_stmt(XXH3_state_t *h, const ir_stmt *st)
{
    hash_i64(h, st->kind);
    hash_i64(h, st->flags);
    hash_str(h, st->name);
    hash_str(h, st->name2);
    hash_str(h, st->layer_type);
    hash_i64(h, st->n_names);
    for (int i = 0; i < st->n_names; i++)
        hash_str(h, st->names[i]);
    hash_i64(h, st->count);
    hash_i64(h, st->n_indices);
    for (int i = 0; i < st->n_indices; i++)
        hash_i64(h, st->indices[i]);
    for (int i = 0; i < st->n_opts; i++) {
        const char *key = st->opts[i].name;
        if (st->kind == IR_FIT && key && (!strcmp(key, "checkpoint") || !strcmp(key, "every")))
            continue;
        hash_str(h, key);
        hash_value(h, st->opts[i].value);
    }
    hash_value(h, st->value);
    hash_str(h, st->metric);
    hash_i64(h, st->cmp);
    XXH3_64bits_update(h, &st->threshold, sizeof st->threshold);
}

uint64_t fit_script_hash(const ir_script *s, int index)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h) {
        fputs("surgery: out of memory\n", stderr);
        abort();
    }
    XXH3_64bits_reset(h);
    hash_str(h, "surgery fit identity 1");
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *st = &s->stmts[i];
        if (i <= index || !is_data_step(st->kind))
            hash_stmt(h, st);
    }
    uint64_t v = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return v;
}

static int hash_file(XXH3_state_t *h, const char *path, src_loc loc, diag_ctx *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(d, loc, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    size_t got;
    while (buf && (got = fread(buf, 1, CHUNK, f)) > 0)
        XXH3_64bits_update(h, buf, got);
    bool bad = !buf || ferror(f);
    free(buf);
    fclose(f);
    if (bad) {
        diag_error(d, loc, "cannot read '%s'", path);
        return -1;
    }
    return 0;
}

int fit_base_hash(const char *path, const char *weights, src_loc loc, uint64_t *hash,
                  diag_ctx *d)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h) {
        diag_error(d, loc, "out of memory");
        return -1;
    }
    XXH3_64bits_reset(h);
    int rc = hash_file(h, path, loc, d);
    if (rc == 0 && weights) {
        char *wpath = path_beside_file(path, weights);
        rc = hash_file(h, wpath, loc, d);
        free(wpath);
    }
    *hash = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return rc;
}

/* ---- the fit a run resumes ---- */

int fit_find_resume(const ir_script *s, int *index, train_checkpoint **ck, diag_ctx *d)
{
    *ck = NULL;
    for (int i = s->n_stmts - 1; i >= 0; i--) {
        const ir_stmt *st = &s->stmts[i];
        char *path = st->kind == IR_FIT ? fit_checkpoint_path(s, i) : NULL;
        if (!path)
            continue;
        char err[1024];
        train_checkpoint *got = NULL;
        int r = checkpoint_read(path, &got, err, sizeof err);
        if (r < 0) {
            diag_error(d, st->loc, "cannot resume: %s", err);
            free(path);
            return -1;
        }
        if (r == 0) {
            free(path);
            continue;
        }
        if (got->id.script != fit_script_hash(s, i) || got->id.fit != fit_ordinal(s, i)) {
            diag_error(d, st->loc, "cannot resume: the checkpoint %s was written by another "
                       "script (or by this one before its statements changed); run without "
                       "--resume to start again", path);
            checkpoint_free(got);
            free(path);
            return -1;
        }
        free(path);
        *index = i;
        *ck = got;
        return 1;
    }
    return 0;
}
