/* test_layer_options.c: the per-type option tables: their shape, the defaults of new layers,
 * docs/layers.md against the rendered tables, and a save/load round trip of every option of
 * every type at a value other than its default. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/formats/format.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"
#include "tests/unit/test_support.h"

Test(layer_options, every_entry_is_complete_and_names_are_unique)
{
    for (int i = 0; i < layer_type_count; i++) {
        const layer_type *t = layer_types[i];
        cr_assert(t->options, "%s has no option table", t->name);
        for (const layer_option *const *o = t->options; *o; o++) {
            cr_assert((*o)->name && (*o)->doc && !(*o)->get == !(*o)->set,
                      "%s: incomplete option", t->name);
            if ((*o)->kind == LOPT_INT_LIST)
                cr_assert((*o)->len > 0 && (*o)->len < LOPT_MAX_VALUES && (*o)->items &&
                          !(*o)->get, "%s.%s: a list is kept in the option storage", t->name,
                          (*o)->name);
            if ((*o)->kind == LOPT_PADDING)
                cr_assert(!(*o)->get, "%s.%s: padding is kept in the option storage", t->name,
                          (*o)->name);
            cr_assert(!strchr((*o)->doc, '\n') && !strchr((*o)->doc, '|'),
                      "%s.%s: the doc must be one table cell", t->name, (*o)->name);
            if ((*o)->kind == LOPT_ENUM || (*o)->kind == LOPT_ACTIVATION)
                cr_assert((*o)->names && (*o)->count > 0 && (*o)->from_name && (*o)->what);
            for (const layer_option *const *p = t->options; p < o; p++)
                cr_assert_str_neq((*p)->name, (*o)->name, "%s lists '%s' twice", t->name,
                                  (*o)->name);
            cr_assert_eq(layer_option_find(t, (*o)->name), *o);
            cr_assert(layer_option_find(NULL, (*o)->name), "%s.%s is not found without a type",
                      t->name, (*o)->name);
        }
    }
    cr_assert_null(layer_option_find(&layer_type_dense, "loss"));
}

Test(layer_options, new_layers_hold_their_type_defaults)
{
    for (int i = 0; i < layer_type_count; i++) {
        const layer_type *t = layer_types[i];
        layer *L = layer_new(t, "x");
        cr_assert(L);
        int stored = 0;
        for (const layer_option *const *o = t->options; *o; o++) {
            cr_assert(layer_option_is_default(*o, L), "%s.%s", t->name, (*o)->name);
            if (layer_option_stored(*o))
                stored += layer_option_width(*o);
        }
        cr_assert_leq(stored, LAYER_OPT_STORE, "%s: its options need more room", t->name);
        cr_assert(!L->n_in_given);
        layer_free(L);
    }
    layer *L = layer_new(&layer_type_lstm, "x");
    cr_assert_eq(L->activation, ACT_TANH);
    cr_assert_eq(L->forget_gate_bias, 1.0);
    layer_free(L);
    L = layer_new(&layer_type_output, "x");
    cr_assert_eq(L->activation, ACT_SOFTMAX);
    cr_assert_eq(L->loss, LOSS_MCXENT);
    layer_free(L);
}

Test(layer_options, digest_keeps_the_fixed_fields_and_adds_changed_options)
{
    layer *L = layer_new(&layer_type_dense, "fc");
    L->n_in = 784;
    L->n_out = 100;
    char buf[256];
    layer_options_digest(L, buf, sizeof buf);
    cr_assert_str_eq(buf, "dense|784|100|5|0|1");
    layer_free(L);
    L = layer_new(&layer_type_lstm, "l");
    L->forget_gate_bias = 0.5;
    layer_options_digest(L, buf, sizeof buf);
    cr_assert_str_eq(buf, "lstm|0|0|4|0|1|forget_gate_bias=0.5");
    layer_free(L);
}

/* docs/layers.md shows every type's table exactly as rendered from the registry. */
Test(layer_options, docs_show_every_option_table)
{
    char *doc = test_read_file("docs/layers.md", NULL);
    for (int i = 0; i < layer_type_count; i++) {
        char *md = layer_options_markdown(layer_types[i]);
        cr_assert(md);
        cr_expect(strstr(doc, md), "docs/layers.md lacks the options of %s, which read:\n%s",
                  layer_types[i]->name, md);
        free(md);
    }
    free(doc);
}

/* ---- the round trip ---- */

/* Sets key to the script value `text` on L; 0 when accepted. */
static int set_text(layer *L, const char *key, const char *text)
{
    conf_value *v = conf_parse_text(text, loc_none(), NULL);
    if (!v)
        return -1;
    int rc = layer_set_option(L, key, loc_none(), v, NULL);
    conf_value_free(v);
    return rc;
}

/* The values to try for o besides its default, as script text, NULL-terminated in out. */
static int candidates(const layer_option *o, const char **out, int max)
{
    static const char *const integers[] = {"1", "2", "3", "6", NULL};
    static const char *const numbers[] = {"0.5", "2.5", "-0.5", NULL};
    static const char *const bools[] = {"false", "true", NULL};
    static const char *const lists[] = {"[2, 1]", "[1, 2]", "2", "1", NULL};
    static const char *const paddings[] = {"same", "[1, 0, 2, 1]", "[1, 1]", "valid", NULL};
    int n = 0;
    if (o->kind == LOPT_INT_LIST || o->kind == LOPT_PADDING) {
        for (const char *const *l = o->kind == LOPT_PADDING ? paddings : lists; *l && n < max - 1;
             l++)
            out[n++] = *l;
    } else if (o->kind == LOPT_ENUM || o->kind == LOPT_ACTIVATION) {
        /* clip comes with its bounds, first: a clip of layer types with any activation */
        if (o->kind == LOPT_ACTIVATION)
            out[n++] = "clip(-0.5, 2.25)";
        for (int k = 0; k < o->count && n < max - 1; k++)
            if (o->kind != LOPT_ACTIVATION || k != ACT_CLIP)
                out[n++] = o->names[k];
    } else {
        const char *const *list = o->kind == LOPT_INTEGER ? integers
                                  : o->kind == LOPT_NUMBER ? numbers : bools;
        for (; *list && n < max - 1; list++)
            out[n++] = *list;
    }
    out[n] = NULL;
    return n;
}

/* A model of one layer "x" of type t fed by inputs of the given kind and size 1 (two when t
 * takes several; convolutional: 6 x 12 x 12), with n_in 1 (6) and n_out 3 where t has them,
 * and o set to `text`. Returns NULL when t refuses that model (shape inference fails) or the
 * value. */
static model *one_layer_model(const layer_type *t, input_kind kind, const layer_option *o,
                              const char *text)
{
    static const char *const names[] = {"a", "b"};
    int n_inputs = (t->flags & LT_MULTI_INPUT) ? 2 : 1;
    model *m = model_new("options");
    cr_assert(m);
    bool conv = kind == INPUT_CONVOLUTIONAL;
    for (int i = 0; i < n_inputs; i++) {
        cr_assert_eq(model_add_input(m, names[i], kind, conv ? 6 * 12 * 12 : 1, loc_none()), 0);
        if (conv) {
            m->inputs[i].c = 6;
            m->inputs[i].h = m->inputs[i].w = 12;
        }
    }
    layer *L = layer_new(t, "x");
    cr_assert(L);
    layer_set_inputs(L, names, n_inputs);
    model_add_layer(m, L);
    const char *out = "x";
    model_set_outputs(m, &out, 1);
    if (layer_option_find(t, "n_in"))
        cr_assert_eq(set_text(L, "n_in", conv ? "6" : "1"), 0);
    if (layer_option_find(t, "n_out"))
        cr_assert_eq(set_text(L, "n_out", "3"), 0);
    if (set_text(L, o->name, text) != 0 || layer_option_is_default(o, L) ||
        model_infer_shapes(m, NULL) != 0 || layer_option_is_default(o, L) ||
        model_init_params(m) != 0) {
        model_free(m);
        return NULL;
    }
    return m;
}

Test(layer_options, every_option_survives_a_save_and_load)
{
    static const input_kind kinds[] = {INPUT_FEED_FORWARD, INPUT_RECURRENT, INPUT_CONVOLUTIONAL};
    char dir[] = "/tmp/surgery-opts-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[64], weights[64];
    snprintf(path, sizeof path, "%s/options.yaml", dir);
    snprintf(weights, sizeof weights, "%s/options.safetensors", dir);
    char *said = NULL;
    size_t said_len = 0;
    FILE *fp = open_memstream(&said, &said_len);
    cr_assert(fp);
    diag_ctx *d = diag_new(fp, DIAG_COLOR_NEVER);
    for (int i = 0; i < layer_type_count; i++) {
        const layer_type *t = layer_types[i];
        for (const layer_option *const *o = t->options; *o; o++) {
            if ((*o)->write == LOPT_WRITE_NEVER)
                continue;   /* set by shape inference, not read back */
            const char *texts[64];
            candidates(*o, texts, 64);
            model *m = NULL;
            const char *used = NULL;
            for (int k = 0; !m && k < 3; k++)
                for (int c = 0; !m && texts[c]; c++)
                    if ((m = one_layer_model(t, kinds[k], *o, texts[c])))
                        used = texts[c];
            cr_assert(m, "no model of type %s takes a non-default %s", t->name, (*o)->name);
            cr_assert_eq(model_save_mode(m, path, SAVE_ATOMIC, d), 0, "%s",
                         (fflush(fp), said));
            model *back = model_load(path, true, d);
            cr_assert(back, "%s %s = %s: %s", t->name, (*o)->name, used, (fflush(fp), said));
            const layer *a = model_find_layer(m, "x"), *b = model_find_layer(back, "x");
            cr_assert(b);
            for (const layer_option *const *p = t->options; *p; p++) {
                double va[LOPT_MAX_VALUES], vb[LOPT_MAX_VALUES];
                char ta[64], tb[64];
                layer_option_get_values(*p, a, va);
                layer_option_get_values(*p, b, vb);
                layer_option_format(*p, va, ta, sizeof ta);
                layer_option_format(*p, vb, tb, sizeof tb);
                cr_expect_str_eq(ta, tb, "%s with %s = %s: %s is %s, read back %s", t->name,
                                 (*o)->name, used, (*p)->name, ta, tb);
                cr_expect(!memcmp(va, vb, (size_t)layer_option_width(*p) * sizeof *va));
            }
            model_free(back);
            model_free(m);
        }
    }
    diag_free(d);
    fclose(fp);
    free(said);
    unlink(path);
    unlink(weights);
    rmdir(dir);
}

/* clip(min, max): its bounds are kept, written and digested; bare clip, wrong bounds and
 * arguments to another activation are refused. */
Test(layer_options, clip_takes_its_bounds)
{
    layer *L = layer_new(&layer_type_dense, "fc");
    L->n_in = 4;
    L->n_out = 2;
    cr_assert_eq(set_text(L, "activation", "clip(-1, 6.5)"), 0);
    cr_expect_eq(L->activation, ACT_CLIP);
    cr_expect_eq(L->clip_min, -1.0);
    cr_expect_eq(L->clip_max, 6.5);
    double v[LOPT_MAX_VALUES];
    char text[96];
    layer_option_get_values(&layer_opt_activation, L, v);
    cr_expect_str_eq(layer_option_format(&layer_opt_activation, v, text, sizeof text),
                     "clip(-1, 6.5)");
    cr_assert_eq(set_text(L, "activation", "clip(max = 2, min = 0)"), 0);
    cr_expect(L->clip_min == 0.0 && L->clip_max == 2.0);
    char buf[256];
    layer_options_digest(L, buf, sizeof buf);
    cr_expect_str_eq(buf, "dense|4|2|13,0,2|0|1");
    static const char *const bad[] = {"clip", "clip(1)", "clip(2, 1)", "clip(0, 1, 2)",
                                      "clip(low = 0, max = 1)", "relu(1)", "clip(0, \"a\")"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_neq(set_text(L, "activation", bad[i]), 0, "%s was accepted", bad[i]);
    cr_assert_eq(set_text(L, "activation", "relu"), 0);
    cr_expect(L->activation == ACT_RELU && L->clip_min == 0.0 && L->clip_max == 0.0);
    layer_free(L);
}
