/* layer.c: the layer-type registry and the type-independent layer operations (creation with
 * the defaults of the type's option table, cloning, parameter bookkeeping). */
#include "runtime/nn/layer.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/base/checked.h"
#include "runtime/base/limits.h"
#include "runtime/base/util.h"

#define LAYER_TYPE_PTR(n) &layer_type_##n,
const layer_type *const layer_types[] = {LAYER_TYPES(LAYER_TYPE_PTR)};
#undef LAYER_TYPE_PTR
const int layer_type_count = (int)(sizeof layer_types / sizeof layer_types[0]);

const layer_type *layer_type_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < layer_type_count; i++)
        if (strcmp(layer_types[i]->name, name) == 0)
            return layer_types[i];
    return NULL;
}

void layer_type_names(const char **names)
{
    for (int i = 0; i < layer_type_count; i++)
        names[i] = layer_types[i]->name;
}

const char *act_shape_text(const act_shape *s, char *buf, size_t n)
{
    if (s->kind == SHAPE_CNN)
        snprintf(buf, n, "%lld x %lld x %lld", (long long)s->c, (long long)s->h, (long long)s->w);
    else
        snprintf(buf, n, "%lld", (long long)s->size);
    return buf;
}

layer *layer_new(const layer_type *type, const char *name)
{
    assert(type);
    layer *L = calloc(1, sizeof *L);
    if (!L)
        return NULL;
    L->name = str_dup(name ? name : "");
    if (!L->name) {
        free(L);
        return NULL;
    }
    L->type = type;
    L->loc = loc_none();
    /* What a layer holds for the options its type does not take; then the type's defaults. */
    L->activation = ACT_IDENTITY;
    L->loss = LOSS_NONE;
    L->has_bias = true;
    L->forget_gate_bias = 1.0;
    layer_set_option_defaults(L);
    train_conf_defaults(&L->train);
    L->edit = EDIT_KEPT;
    return L;
}

void layer_free(layer *L)
{
    if (!L)
        return;
    if (L->state && L->type && L->type->free_state)
        L->type->free_state(L);
    assert(L->state == NULL);
    for (int i = 0; i < LAYER_MAX_PARAMS; i++) {
        tensor_release(&L->params[i]);
        tensor_release(&L->grads[i]);
        tensor_release(&L->upd_state[i][0]);
        tensor_release(&L->upd_state[i][1]);
    }
    str_array_free(L->inputs, L->n_inputs);
    free(L->name);
    free(L->old_name);
    free(L);
}

/* Copies an owned tensor's data, or the struct of a borrowed one; a pending tensor is copied
 * assembled. */
static int clone_tensor(tensor *dst, const tensor *src)
{
    memset(dst, 0, sizeof *dst);
    if (src->parts)
        return tensor_copy(dst, src);
    if (!src->data) {
        *dst = *src;
        return 0;
    }
    if (src->borrowed) {
        *dst = *src;
        return 0;
    }
    return tensor_copy(dst, src);
}

layer *layer_clone(const layer *L)
{
    if (!L)
        return NULL;
    layer *C = malloc(sizeof *C);
    if (!C)
        return NULL;
    *C = *L;
    C->name = NULL;
    C->old_name = NULL;
    C->inputs = NULL;
    C->n_inputs = 0;
    C->state = NULL;
    memset(C->params, 0, sizeof C->params);
    memset(C->grads, 0, sizeof C->grads);
    memset(C->upd_state, 0, sizeof C->upd_state);
    bool ok = (C->name = str_dup(L->name)) != NULL;
    if (ok && L->old_name)
        ok = (C->old_name = str_dup(L->old_name)) != NULL;
    if (ok && L->n_inputs > 0) {
        C->inputs = calloc((size_t)L->n_inputs, sizeof *C->inputs);
        ok = C->inputs != NULL;
        if (ok)
            C->n_inputs = L->n_inputs;
        for (int i = 0; ok && i < L->n_inputs; i++)
            ok = (C->inputs[i] = str_dup(L->inputs[i])) != NULL;
    }
    for (int i = 0; ok && i < LAYER_MAX_PARAMS; i++) {
        ok = clone_tensor(&C->params[i], &L->params[i]) == 0 &&
             clone_tensor(&C->grads[i], &L->grads[i]) == 0 &&
             clone_tensor(&C->upd_state[i][0], &L->upd_state[i][0]) == 0 &&
             clone_tensor(&C->upd_state[i][1], &L->upd_state[i][1]) == 0;
    }
    if (!ok) {
        layer_free(C);
        return NULL;
    }
    return C;
}

void layer_set_inputs(layer *L, const char *const *names, int n)
{
    int got;
    char **copy = str_array_copy(names, n, &got);
    str_array_free(L->inputs, L->n_inputs);
    L->inputs = copy;
    L->n_inputs = got;
}

int64_t layer_param_count(const layer *L)
{
    if (!L->type->param_specs)
        return 0;
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type->param_specs(L, specs);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t c = shape_count(specs[i].ndim, specs[i].shape);
        if (c > 0)
            total += c;
    }
    return total;
}

int layer_param_over_limit(const layer *L, param_spec *spec)
{
    if (!L->type->param_specs)
        return 0;
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type->param_specs(L, specs);
    for (int i = 0; i < n; i++) {
        int64_t c = 1;
        bool fits = true;
        for (int k = 0; k < specs[i].ndim && fits; k++)
            fits = checked_mul(c, specs[i].shape[k], &c) && c <= LIMIT_TENSOR_ELEMENTS;
        if (!fits) {
            *spec = specs[i];
            return 1;
        }
    }
    return 0;
}

void param_shape_text(const param_spec *spec, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int k = 0; k < spec->ndim && o < len; k++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRId64, k ? " x " : "", spec->shape[k]);
}

int layer_param_index(const layer *L, const char *key)
{
    if (!L->type->param_specs || !key)
        return -1;
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type->param_specs(L, specs);
    for (int i = 0; i < n; i++)
        if (strcmp(specs[i].key, key) == 0)
            return i;
    return -1;
}

const unit_param_layout *unit_layout_param(const unit_layout *u, const char *key)
{
    for (int i = 0; u && key && i < u->n_params; i++)
        if (strcmp(u->params[i].key, key) == 0)
            return &u->params[i];
    return NULL;
}

const unit_layout *layer_units(const layer *L)
{
    return L->type->units_of ? L->type->units_of(L) : L->type->units;
}

void layer_set_forget_gate_bias(const layer *L, const param_spec *ps, tensor *t)
{
    const unit_param_layout *up = unit_layout_param(layer_units(L), ps->key);
    if (!up || up->forget_gate_block < 0 || ps->role != PARAM_BIAS ||
        t->size != up->col_blocks * L->n_out)
        return;
    float *block = t->data + up->forget_gate_block * L->n_out;
    for (int64_t j = 0; j < L->n_out; j++)
        block[j] = (float)L->forget_gate_bias;
}
