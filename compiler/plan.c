/* plan.c: the before/after table of a script's edits and the edited graph as Graphviz DOT. */
#include "compiler/plan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/atomic_file.h"

static const layer *before_layer(const model *before, const layer *L)
{
    if (L->edit == EDIT_NEW)
        return NULL;
    return model_find_layer(before, L->old_name ? L->old_name : L->name);
}

static void state_text(plan_row *r, const layer *L)
{
    char *b = r->state_text;
    size_t n = sizeof r->state_text, len = 0;
#define APPEND(...) (len += (size_t)snprintf(b + len, len < n ? n - len : 0, __VA_ARGS__))
    switch (r->state) {
    case EDIT_RESIZED: APPEND("resized (re-initialised)"); break;
    case EDIT_REPLACED: APPEND("replaced (new weights)"); break;
    case EDIT_RENAMED: APPEND("renamed"); break;
    default: APPEND("%s", edit_state_name(r->state)); break;
    }
    if (L && r->state == EDIT_KEPT && r->has_before && r->in_after != r->in_before)
        APPEND(", inputs %s", r->in_after > r->in_before ? "widened" : "narrowed");
    if (r->old_name)
        APPEND(", was '%s'", r->old_name);
    if (r->has_after && r->frozen_after)
        APPEND(", frozen");
    else if (r->has_after && r->has_before && r->frozen_before)
        APPEND(", unfrozen");
#undef APPEND
}

int plan_rows(const model *before, const model *after, const edit_log *log, plan_row **out)
{
    int n_removed = log ? log->n_removed : 0;
    int cap = after->n_layers + n_removed;
    plan_row *rows = calloc((size_t)(cap > 0 ? cap : 1), sizeof *rows);
    if (!rows)
        return -1;
    int n = 0;
    for (int i = 0; i < after->n_layers; i++) {
        const layer *L = after->layers[i];
        const layer *B = before_layer(before, L);
        plan_row *r = &rows[n++];
        r->name = L->name;
        r->old_name = L->old_name && strcmp(L->old_name, L->name) ? L->old_name : NULL;
        r->type = L->type->name;
        r->has_after = true;
        r->in_after = L->n_in;
        r->out_after = L->n_out > 0 ? L->n_out : L->out_shape.size;
        r->in_shape_after = L->in_shape;
        r->out_shape_after = L->out_shape;
        r->params_after = layer_param_count(L);
        r->frozen_after = L->frozen;
        r->state = L->edit;
        if (B) {
            r->has_before = true;
            r->in_before = B->n_in;
            r->out_before = B->n_out > 0 ? B->n_out : B->out_shape.size;
            r->in_shape_before = B->in_shape;
            r->out_shape_before = B->out_shape;
            r->params_before = layer_param_count(B);
            r->frozen_before = B->frozen;
        }
        state_text(r, L);
    }
    for (int i = 0; i < n_removed; i++) {
        const edit_removed *e = &log->removed[i];
        plan_row *r = &rows[n++];
        r->name = e->name;
        r->type = e->type;
        r->has_before = true;
        r->in_before = e->n_in;
        r->out_before = e->n_out;
        r->params_before = e->params;
        r->frozen_before = e->frozen;
        const layer *B = model_find_layer(before, e->name);
        if (B && B->n_out <= 0)
            r->out_before = B->out_shape.size;
        r->state = EDIT_REMOVED;
        state_text(r, NULL);
    }
    *out = rows;
    return n;
}

/* 1234567 -> "1,234,567" */
static const char *group(int64_t v, char *buf, size_t n)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%" PRId64, v < 0 ? -v : v);
    size_t len = strlen(raw), o = 0;
    if (v < 0 && o + 1 < n)
        buf[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* "in -> out"; a convolutional side as C x H x W ("3 x 32 x 32 -> 16 x 32 x 32"). */
static void shape_cell(char *buf, size_t n, bool has, int64_t in, int64_t out,
                       const act_shape *in_shape, const act_shape *out_shape)
{
    if (has && (in_shape->kind == SHAPE_CNN || out_shape->kind == SHAPE_CNN)) {
        char a[64], b[64];
        if (out_shape->kind == SHAPE_CNN)
            act_shape_text(out_shape, b, sizeof b);
        else
            snprintf(b, sizeof b, "%" PRId64, out);
        snprintf(buf, n, "%s -> %s", act_shape_text(in_shape, a, sizeof a), b);
        return;
    }
    if (!has)
        snprintf(buf, n, "-");
    else if (in > 0)
        snprintf(buf, n, "%" PRId64 " -> %" PRId64, in, out);
    else
        snprintf(buf, n, "-> %" PRId64, out);
}

static const char *state_color(const plan_row *r)
{
    switch (r->state) {
    case EDIT_NEW: return "\033[32m";
    case EDIT_REMOVED: return "\033[31m";
    case EDIT_KEPT: return r->frozen_after ? "\033[36m" : "";
    case EDIT_RENAMED: return r->frozen_after ? "\033[36m" : "\033[33m";
    default: return "\033[33m";
    }
}

typedef struct totals {
    int64_t trainable, frozen;
} totals;

static totals model_totals(const model *m)
{
    totals t = {0, 0};
    for (int i = 0; i < m->n_layers; i++) {
        int64_t c = layer_param_count(m->layers[i]);
        if (m->layers[i]->frozen)
            t.frozen += c;
        else
            t.trainable += c;
    }
    return t;
}

void plan_print(FILE *out, const char *script, const model *before, const model *after,
                const edit_log *log, bool color)
{
    plan_row *rows = NULL;
    int n = plan_rows(before, after, log, &rows);
    if (n < 0) {
        fprintf(out, "surgery: out of memory while building the plan\n");
        return;
    }
    enum { C_NAME, C_TYPE, C_BEFORE, C_AFTER, C_PB, C_PA, C_STATE, NC };
    static const char *const head[NC] = {"layer", "type", "before", "after", "params before",
                                         "params after", "state"};
    int w[NC];
    for (int c = 0; c < NC; c++)
        w[c] = (int)strlen(head[c]);
    char (*cells)[NC][96] = calloc((size_t)(n > 0 ? n : 1), sizeof *cells);
    if (!cells) {
        free(rows);
        fprintf(out, "surgery: out of memory while building the plan\n");
        return;
    }
    for (int i = 0; i < n; i++) {
        const plan_row *r = &rows[i];
        char g[40];
        shape_cell(cells[i][C_BEFORE], 96, r->has_before, r->in_before, r->out_before,
                   &r->in_shape_before, &r->out_shape_before);
        shape_cell(cells[i][C_AFTER], 96, r->has_after, r->in_after, r->out_after,
                   &r->in_shape_after, &r->out_shape_after);
        snprintf(cells[i][C_PB], 96, "%s",
                 r->has_before ? group(r->params_before, g, sizeof g) : "-");
        snprintf(cells[i][C_PA], 96, "%s",
                 r->has_after ? group(r->params_after, g, sizeof g) : "-");
        const char *text[NC] = {r->name, r->type, cells[i][C_BEFORE], cells[i][C_AFTER],
                                cells[i][C_PB], cells[i][C_PA], r->state_text};
        for (int c = 0; c < NC; c++) {
            int l = (int)strlen(text[c]);
            if (l > w[c])
                w[c] = l;
        }
    }
    fprintf(out, "plan for %s: %d layer%s before, %d after\n\n", script, before->n_layers,
            before->n_layers == 1 ? "" : "s", after->n_layers);
    fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %*s  %*s  %s\n", w[C_NAME], head[C_NAME],
            w[C_TYPE], head[C_TYPE], w[C_BEFORE], head[C_BEFORE], w[C_AFTER], head[C_AFTER],
            w[C_PB], head[C_PB], w[C_PA], head[C_PA], head[C_STATE]);
    for (int i = 0; i < n; i++) {
        const char *on = color ? state_color(&rows[i]) : "";
        fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %*s  %*s  %s%s%s\n", w[C_NAME], rows[i].name,
                w[C_TYPE], rows[i].type, w[C_BEFORE], cells[i][C_BEFORE], w[C_AFTER],
                cells[i][C_AFTER], w[C_PB], cells[i][C_PB], w[C_PA], cells[i][C_PA], on,
                rows[i].state_text, *on ? "\033[0m" : "");
    }
    if (log && log->n_coupled > 0) {
        /* what else each widen or narrow changed: its coupled group */
        fprintf(out, "\n  coupled channels (changed together):\n");
        for (int i = 0; i < log->n_coupled; i++) {
            const edit_coupled *c = &log->coupled[i];
            fprintf(out, "    line %d  %s \"%s\":  ", c->line, c->what, c->n ? c->names[0] : "");
            for (int k = 0; k < c->n; k++)
                fprintf(out, "%s%s", k ? ", " : "", c->names[k]);
            fprintf(out, "  (meeting in ");
            for (int k = 0; k < c->n_vertices; k++) {
                const layer *V = model_find_layer(after, c->vertices[k]);
                fprintf(out, "%s%s '%s'", k ? ", " : "", V ? V->type->name : "vertex",
                        c->vertices[k]);
            }
            fprintf(out, ")\n");
        }
    }
    totals tb = model_totals(before), ta = model_totals(after);
    char a[40], b[40];
    int tw = 13;
    fprintf(out, "\n  %-11s  %*s  %*s\n", "parameters", tw, "before", tw, "after");
    fprintf(out, "  %-11s  %*s  %*s\n", "trainable", tw, group(tb.trainable, a, sizeof a), tw,
            group(ta.trainable, b, sizeof b));
    fprintf(out, "  %-11s  %*s  %*s\n", "frozen", tw, group(tb.frozen, a, sizeof a), tw,
            group(ta.frozen, b, sizeof b));
    fprintf(out, "  %-11s  %*s  %*s\n", "total", tw, group(tb.trainable + tb.frozen, a, sizeof a),
            tw, group(ta.trainable + ta.frozen, b, sizeof b));
    free(cells);
    free(rows);
}

/* ---- DOT ---------------------------------------------------------------------------------- */

static void dot_id(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static bool is_output(const model *m, const char *name)
{
    for (int i = 0; i < m->n_outputs; i++)
        if (!strcmp(m->outputs[i], name))
            return true;
    return false;
}

static void dot_node(FILE *f, const model *after, const plan_row *r)
{
    char before[64], now[64];
    shape_cell(before, sizeof before, r->has_before, r->in_before, r->out_before,
               &r->in_shape_before, &r->out_shape_before);
    shape_cell(now, sizeof now, r->has_after, r->in_after, r->out_after, &r->in_shape_after,
               &r->out_shape_after);
    fputs("  ", f);
    dot_id(f, r->name);
    fputs(" [label=", f);
    /* the label: name, type and shapes (before -> after when they differ), state */
    char label[512];
    bool changed = r->has_before && r->has_after && strcmp(before, now);
    snprintf(label, sizeof label, "%s\n%s %s%s%s\n%s", r->name, r->type,
             changed ? before : r->has_after ? now : before, changed ? "  =>  " : "",
             changed ? now : "", r->state_text);
    dot_id(f, label);
    const char *fill = "white", *style = "rounded,filled", *color = "black";
    switch (r->state) {
    case EDIT_NEW: fill = "#d9ead3"; color = "#38761d"; break;
    case EDIT_REMOVED: fill = "white"; style = "rounded,dashed"; color = "#cc0000"; break;
    case EDIT_KEPT: break;
    default: fill = "#fff2cc"; color = "#b45f06"; break;
    }
    if (r->has_after && r->frozen_after) {
        fill = "#cfe2f3";
        if (r->state == EDIT_KEPT)
            color = "#0b5394";
    }
    fprintf(f, ", style=\"%s\", fillcolor=\"%s\", color=\"%s\"", style, fill, color);
    if (r->state == EDIT_REMOVED)
        fputs(", fontcolor=\"#cc0000\"", f);
    if (r->has_after && is_output(after, r->name))
        fputs(", peripheries=2", f);
    fputs("];\n", f);
}

static int write_dot(FILE *f, const model *before, const model *after, const edit_log *log)
{
    plan_row *rows = NULL;
    int n = plan_rows(before, after, log, &rows);
    if (n < 0)
        return -1;
    fputs("digraph plan {\n  rankdir=TB;\n"
          "  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [color=\"#444444\"];\n", f);
    for (int i = 0; i < after->n_inputs; i++) {
        const model_input *in = &after->inputs[i];
        char label[256];
        snprintf(label, sizeof label, "%s\ninput %" PRId64, in->name,
                 in->kind == INPUT_CONVOLUTIONAL ? in->h * in->w * in->c : in->size);
        fputs("  ", f);
        dot_id(f, in->name);
        fputs(" [shape=ellipse, label=", f);
        dot_id(f, label);
        fputs("];\n", f);
    }
    for (int i = 0; i < n; i++)
        dot_node(f, after, &rows[i]);
    for (int i = 0; i < after->n_layers; i++) {
        const layer *L = after->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            fputs("  ", f);
            dot_id(f, L->inputs[k]);
            fputs(" -> ", f);
            dot_id(f, L->name);
            fputs(";\n", f);
        }
    }
    for (int i = 0; log && i < log->n_removed; i++) {
        const edit_removed *e = &log->removed[i];
        for (int k = 0; k < e->n_inputs; k++) {
            bool known = model_has_node(after, e->inputs[k]);
            for (int j = 0; !known && j < log->n_removed; j++)
                known = !strcmp(log->removed[j].name, e->inputs[k]);
            if (!known)
                continue;
            fputs("  ", f);
            dot_id(f, e->inputs[k]);
            fputs(" -> ", f);
            dot_id(f, e->name);
            fputs(" [style=dashed, color=\"#cc0000\"];\n", f);
        }
    }
    fputs("}\n", f);
    free(rows);
    return ferror(f) ? -1 : 0;
}

int plan_write_dot(const char *path, const model *before, const model *after,
                   const edit_log *log, char *err, size_t err_len)
{
    atomic_file af;
    if (atomic_open(&af, path, err, err_len) != 0)
        return -1;
    if (write_dot(af.fp, before, after, log) != 0) {
        atomic_abort(&af);
        snprintf(err, err_len, "%s: could not write the graph", path);
        return -1;
    }
    return atomic_commit(&af, err, err_len);
}
