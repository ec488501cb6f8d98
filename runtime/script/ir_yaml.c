/* ir_yaml.c: the script IR as a YAML document (format surgery-ir/1), emitted with libyaml's
 * emitter; ir_yaml_read.c loads it back, lossless so that load(emit(x)) emits the same bytes
 * as x. */
#include "runtime/script/ir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "runtime/base/diag.h"
#include "runtime/base/atomic_file.h"
#include "runtime/base/yaml_out.h"
#include "runtime/script/ir_yaml_impl.h"

/* ======================================================================== emitting */

typedef struct emitter {
    yaml_out out;
    const ir_script *s;
    const char **files;     /* s->files plus any file a loc names that s did not intern */
    int n_files;
} emitter;

/* Numbers in their shortest round-trip form; YAML's spellings for the non-finite ones. */
static void emit_num(emitter *em, double x)
{
    char buf[40];
    if (isnan(x))
        yo_plain(&em->out, ".nan");
    else if (isinf(x))
        yo_plain(&em->out, x < 0 ? "-.inf" : ".inf");
    else
        yo_plain(&em->out, conf_format_num(x, buf, sizeof buf));
}

/* "file:line:col+len" */
static void emit_loc(emitter *em, const char *key, src_loc l)
{
    if (l.line <= 0)
        return;
    size_t n = (l.file ? strlen(l.file) : 0) + 48;
    char *buf = malloc(n);
    if (!buf) {
        em->out.failed = true;
        return;
    }
    snprintf(buf, n, "%s:%d:%d+%d", l.file ? l.file : "", l.line, l.col, l.len);
    yo_plain(&em->out, key);
    yo_plain(&em->out, buf);
    free(buf);
}

static void emit_value(emitter *em, const conf_value *v);

static void emit_args(emitter *em, const conf_arg *args, int n)
{
    yo_seq_start(&em->out, false);
    for (int i = 0; i < n; i++) {
        yo_map_start(&em->out, false);
        if (args[i].name) {
            yo_plain(&em->out, "key");
            yo_plain(&em->out, args[i].name);
        }
        emit_loc(em, "loc", args[i].name_loc);
        yo_plain(&em->out, "value");
        emit_value(em, args[i].value);
        yo_map_end(&em->out);
    }
    yo_seq_end(&em->out);
}

/* A typed value: {num|str|ident|bool: X, loc: L}, or a block mapping for calls and lists. */
static void emit_value(emitter *em, const conf_value *v)
{
    bool compound = v->kind == CV_CALL || v->kind == CV_LIST;
    yo_map_start(&em->out, !compound);
    switch (v->kind) {
    case CV_NUM:
        yo_plain(&em->out, "num");
        emit_num(em, v->num);
        break;
    case CV_STR:
        yo_plain(&em->out, "str");
        yo_quoted(&em->out, v->str);
        break;
    case CV_IDENT:
        yo_plain(&em->out, "ident");
        yo_plain(&em->out, v->str);
        break;
    case CV_BOOL:
        yo_plain(&em->out, "bool");
        yo_plain(&em->out, v->num != 0 ? "true" : "false");
        break;
    case CV_CALL:
        yo_plain(&em->out, "call");
        yo_plain(&em->out, v->str);
        break;
    case CV_LIST:
        emit_loc(em, "loc", v->loc);
        yo_plain(&em->out, "list");
        emit_args(em, v->args, v->n_args);
        break;
    }
    if (v->kind != CV_LIST)
        emit_loc(em, "loc", v->loc);
    if (v->kind == CV_CALL && v->n_args) {
        yo_plain(&em->out, "args");
        emit_args(em, v->args, v->n_args);
    }
    yo_map_end(&em->out);
}

static void emit_stmt(emitter *em, const ir_stmt *st)
{
    unsigned f = kind_fields[st->kind];
    yo_map_start(&em->out, false);
    yo_plain(&em->out, "kind");
    yo_plain(&em->out, ir_kind_names[st->kind]);
    emit_loc(em, "loc", st->loc);
    if ((f & F_FLAGS) && st->flags) {
        yo_plain(&em->out, "flags");
        yo_seq_start(&em->out, true);
        for (int i = 0; i < N_FLAGS; i++)
            if (st->flags & (1u << i))
                yo_plain(&em->out, flag_names[i]);
        yo_seq_end(&em->out);
    }
    if ((f & F_TYPE) && st->layer_type) {
        yo_plain(&em->out, "layer_type");
        yo_plain(&em->out, st->layer_type);
        emit_loc(em, "layer_type_loc", st->layer_type_loc);
    }
    if (f & F_EXPECT) {
        if (st->metric) {
            yo_plain(&em->out, "metric");
            yo_plain(&em->out, st->metric);
            emit_loc(em, "metric_loc", st->metric_loc);
        }
        yo_plain(&em->out, "cmp");
        yo_quoted(&em->out, (unsigned)st->cmp < (unsigned)N_CMPS ? cmp_names[st->cmp] : "?");
        yo_plain(&em->out, "threshold");
        emit_num(em, st->threshold);
    }
    if ((f & F_NAME) && st->name) {
        yo_plain(&em->out, "name");
        yo_quoted(&em->out, st->name);
        emit_loc(em, "name_loc", st->name_loc);
    }
    if ((f & F_NAME2) && st->name2) {
        yo_plain(&em->out, "name2");
        yo_quoted(&em->out, st->name2);
        emit_loc(em, "name2_loc", st->name2_loc);
    }
    if ((f & F_NAMES) && st->n_names) {
        yo_plain(&em->out, "names");
        yo_seq_start(&em->out, false);
        for (int i = 0; i < st->n_names; i++) {
            yo_map_start(&em->out, true);
            yo_plain(&em->out, "name");
            yo_quoted(&em->out, st->names[i]);
            if (st->name_locs)
                emit_loc(em, "loc", st->name_locs[i]);
            yo_map_end(&em->out);
        }
        yo_seq_end(&em->out);
    }
    if (f & F_COUNT) {
        yo_plain(&em->out, "count");
        yo_int(&em->out, st->count);
        emit_loc(em, "count_loc", st->count_loc);
    }
    if ((f & F_INDICES) && st->n_indices) {
        yo_plain(&em->out, "indices");
        yo_seq_start(&em->out, true);
        for (int i = 0; i < st->n_indices; i++)
            yo_int(&em->out, st->indices[i]);
        yo_seq_end(&em->out);
        emit_loc(em, "indices_loc", st->indices_loc);
    }
    if ((f & F_VALUE) && st->value) {
        yo_plain(&em->out, "value");
        emit_value(em, st->value);
    }
    if (f & F_OPTS) {
        emit_loc(em, "opts_loc", st->opts_loc);
        if (st->n_opts) {
            yo_plain(&em->out, "opts");
            emit_args(em, st->opts, st->n_opts);
        }
    }
    yo_map_end(&em->out);
}

/* Every loc's file must be in the files list; files named only by a loc join the end. */
static void note_file(emitter *em, const char *file)
{
    if (!file)
        return;
    for (int i = 0; i < em->n_files; i++)
        if (!strcmp(em->files[i], file))
            return;
    const char **f = realloc(em->files, (size_t)(em->n_files + 1) * sizeof *f);
    if (!f) {
        em->out.failed = true;
        return;
    }
    em->files = f;
    em->files[em->n_files++] = file;
}

static void note_value_files(emitter *em, const conf_value *v)
{
    if (!v)
        return;
    note_file(em, v->loc.file);
    for (int i = 0; i < v->n_args; i++) {
        note_file(em, v->args[i].name_loc.file);
        note_value_files(em, v->args[i].value);
    }
}

static void collect_files(emitter *em)
{
    const ir_script *s = em->s;
    if (s->path)
        note_file(em, s->path);
    for (int i = 0; i < s->n_files; i++)
        note_file(em, s->files[i]);
    for (int i = 0; i < s->n_stmts; i++) {
        const ir_stmt *st = &s->stmts[i];
        note_file(em, st->loc.file);
        note_file(em, st->name_loc.file);
        note_file(em, st->name2_loc.file);
        note_file(em, st->layer_type_loc.file);
        for (int k = 0; st->name_locs && k < st->n_names; k++)
            note_file(em, st->name_locs[k].file);
        note_file(em, st->count_loc.file);
        note_file(em, st->indices_loc.file);
        note_file(em, st->opts_loc.file);
        note_file(em, st->metric_loc.file);
        for (int k = 0; k < st->n_opts; k++) {
            note_file(em, st->opts[k].name_loc.file);
            note_value_files(em, st->opts[k].value);
        }
        note_value_files(em, st->value);
    }
}

static void emit_document(emitter *em)
{
    yo_begin(&em->out);
    yo_map_start(&em->out, false);
    yo_plain(&em->out, "format");
    yo_plain(&em->out, IR_FORMAT);
    if (em->s->path) {
        yo_plain(&em->out, "script");
        yo_quoted(&em->out, em->s->path);
    }
    yo_plain(&em->out, "files");
    yo_seq_start(&em->out, false);
    for (int i = 0; i < em->n_files; i++)
        yo_quoted(&em->out, em->files[i]);
    yo_seq_end(&em->out);
    yo_plain(&em->out, "statements");
    yo_seq_start(&em->out, false);
    for (int i = 0; i < em->s->n_stmts; i++)
        emit_stmt(em, &em->s->stmts[i]);
    yo_seq_end(&em->out);
    yo_map_end(&em->out);
    yo_end(&em->out);
}

int ir_emit_yaml(const ir_script *s, const char *out_path, struct diag_ctx *d)
{
    src_loc where = loc_none();
    where.file = diag_intern_path(d, out_path);
    char err[256];
    atomic_file af;
    if (atomic_open(&af, out_path, err, sizeof err)) {
        diag_error(d, where, "cannot write the IR: %s", err);
        return -1;
    }
    emitter em = {.s = s};
    if (yaml_out_init(&em.out) != 0) {
        atomic_abort(&af);
        diag_error(d, where, "cannot write the IR: out of memory");
        return -1;
    }
    yaml_emitter_set_output_file(&em.out.e, af.fp);
    collect_files(&em);
    emit_document(&em);
    if (!em.out.failed && !yaml_emitter_flush(&em.out.e))
        em.out.failed = true;
    const char *problem = em.out.e.problem;
    bool failed = em.out.failed;
    if (failed)
        snprintf(err, sizeof err, "%s", problem ? problem : "out of memory");
    yaml_out_delete(&em.out);
    free(em.files);
    if (failed) {
        atomic_abort(&af);
        diag_error(d, where, "cannot write the IR: %s", err);
        return -1;
    }
    if (atomic_commit(&af, err, sizeof err)) {
        diag_error(d, where, "cannot write the IR: %s", err);
        return -1;
    }
    return 0;
}
