/* builder.c: puts a model together independently of its format, then checks the graph, infers
 * the shapes and initialises what is missing. */
#include "runtime/graph/builder.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"

const char *const input_kind_names[3] = {"feed_forward", "recurrent", "convolutional"};

struct model_builder {
    model *m;
    model_params_source source;
    void *source_ctx;
};

model_builder *model_builder_new(const char *name)
{
    model_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (!(b->m = model_new(name))) {
        free(b);
        return NULL;
    }
    return b;
}

void model_builder_free(model_builder *b)
{
    if (!b)
        return;
    model_free(b->m);
    free(b);
}

model *model_builder_model(model_builder *b) { return b->m; }

int model_builder_add_input(model_builder *b, const char *name, input_kind kind, int64_t size,
                            const int64_t *chw, src_loc loc)
{
    if (model_add_input(b->m, name, kind, size, loc) != 0)
        return -1;
    model_input *mi = &b->m->inputs[b->m->n_inputs - 1];
    mi->c = chw ? chw[0] : 0;
    mi->h = chw ? chw[1] : 0;
    mi->w = chw ? chw[2] : 0;
    return 0;
}

void model_builder_add_layer(model_builder *b, layer *L) { model_add_layer(b->m, L); }

void model_builder_set_outputs(model_builder *b, const char *const *names, int n)
{
    model_set_outputs(b->m, names, n);
}

int model_builder_freeze(model_builder *b, const char *name)
{
    layer *L = model_find_layer(b->m, name);
    if (!L)
        return -1;
    L->frozen = true;
    return 0;
}

void model_builder_set_seed(model_builder *b, uint64_t seed) { b->m->seed = seed; }

void model_builder_set_weight_init(model_builder *b, const init_spec *weight_init)
{
    b->m->weight_init = *weight_init;
}

train_conf *model_builder_training(model_builder *b) { return &b->m->training; }

void model_builder_set_normalizer(model_builder *b, norm_kind kind, int64_t n, float *shift,
                                  float *scale)
{
    free(b->m->norm.shift);
    free(b->m->norm.scale);
    b->m->norm.kind = kind;
    b->m->norm.n = n;
    b->m->norm.shift = shift;
    b->m->norm.scale = scale;
}

int model_builder_set_param(model_builder *b, layer *L, const char *key, tensor *t)
{
    (void)b;
    int p = layer_param_index(L, key);
    if (p < 0)
        return -1;
    tensor_release(&L->params[p]);
    L->params[p] = *t;
    memset(t, 0, sizeof *t);
    return 0;
}

void model_builder_params_from(model_builder *b, model_params_source source, void *ctx)
{
    b->source = source;
    b->source_ctx = ctx;
}

/* Parameters given before the shapes were known must have the shapes inferred for them. */
static int check_given_params(model *m, struct diag_ctx *d)
{
    int errors = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer *L = m->layers[i];
        param_spec specs[LAYER_MAX_PARAMS];
        int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
        for (int p = 0; p < n; p++) {
            const tensor *t = &L->params[p];
            if (!tensor_has_values(t))
                continue;
            if (t->ndim == specs[p].ndim &&
                !memcmp(t->shape, specs[p].shape, (size_t)t->ndim * sizeof(int64_t)))
                continue;
            char a[96], g[96];
            errors++;
            if (d)
                diag_error(d, L->loc, "parameter %s.%s has shape %s, but layer '%s' needs %s",
                           L->name, specs[p].key, shape_str(g, sizeof g, t->ndim, t->shape),
                           L->name, shape_str(a, sizeof a, specs[p].ndim, specs[p].shape));
        }
    }
    return errors;
}

model *model_builder_finish(model_builder *b, bool init_missing, src_loc where,
                            struct diag_ctx *d)
{
    model *m = b->m;
    int errors = 0;
    int *order = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *order);
    if (!order) {
        errors++;
        if (d)
            diag_error(d, loc_none(), "out of memory");
    } else if (model_topo_order(m, order, d) < 0) {
        errors++;
    } else if (model_infer_shapes(m, d) > 0) {
        errors++;
    }
    free(order);
    if (!errors)
        for (int i = 0; i < m->n_layers; i++) {
            param_spec specs[LAYER_MAX_PARAMS];
            layer *L = m->layers[i];
            L->n_params = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
            /* A written n_in was checked against the graph; from here on it follows the graph
             * like an inferred one (edits upstream may change it). */
            L->n_in_given = false;
        }
    if (!errors)
        errors += check_given_params(m, d);
    if (!errors && b->source)
        errors += b->source(m, b->source_ctx, d);
    if (!errors && init_missing && model_init_params(m) != 0) {
        errors++;
        if (d)
            diag_error(d, where, "out of memory initialising the parameters");
    }
    free(b);
    if (errors) {
        model_free(m);
        return NULL;
    }
    return m;
}

bool type_has_params(const layer_type *t)
{
    if (!t->param_specs)
        return false;
    layer probe = {.name = "probe", .type = t, .n_in = 1, .n_out = 1, .has_bias = true};
    layer_set_option_defaults(&probe);
    probe.n_in = probe.n_out = 1;
    probe.has_bias = true;
    param_spec specs[LAYER_MAX_PARAMS];
    return t->param_specs(&probe, specs) > 0;
}
