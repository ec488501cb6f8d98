/* onnx_write.c: the ONNX writer's building blocks (nodes, attributes, initializers, the
 * activations) and the graph of a model: its inputs with the normaliser, each layer through
 * its family's emitter, the outputs in batch-first layouts. onnx_write_file.c adds the
 * metadata and writes the file. */
#include "runtime/formats/onnx/onnx_write_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "runtime/graph/model.h"
#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer_option.h"
#include "runtime/nn/layer_options.h"

enum { T_FLOAT = 1, T_INT64 = 7 };

static void *push(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *arr = xrealloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = p;
    return p;
}

void *ow_alloc(ow_ctx *c, size_t n)
{
    void *p = xmalloc(n ? n : 1);
    memset(p, 0, n ? n : 1);
    return push(&c->arena, &c->n_arena, &c->cap_arena, p);
}

char *ow_strf(ow_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = ow_alloc(c, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int ow_fail(ow_ctx *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof c->err, fmt, ap);
        va_end(ap);
    }
    c->failed = true;
    return -1;
}

static void note_op(ow_ctx *c, const char *op)
{
    size_t at = strlen(c->ops), len = strlen(op);
    for (const char *p = c->ops; (p = strstr(p, op)); p += len)
        if ((p == c->ops || p[-1] == ' ') && (p[len] == ',' || !p[len]))
            return;
    snprintf(c->ops + at, sizeof c->ops - at, "%s%s", at ? ", " : "", op);
}

Onnx__NodeProto *ow_node(ow_ctx *c, const char *op, const char *const *ins, int n_in,
                         const char *out)
{
    Onnx__NodeProto *n = ow_alloc(c, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    const char *owner = c->cur ? c->cur->name : "input";
    int same = 0;
    for (size_t k = 0; k < c->n_nodes; k++)
        if (!strcmp(c->nodes[k]->op_type, op) && c->nodes[k]->doc_string == owner)
            same++;
    n->name = same ? ow_strf(c, "/%s/%s_%d", owner, op, same) : ow_strf(c, "/%s/%s", owner, op);
    n->doc_string = (char *)owner;   /* cleared before packing */
    n->n_input = (size_t)n_in;
    n->input = ow_alloc(c, (size_t)(n_in ? n_in : 1) * sizeof(char *));
    for (int k = 0; k < n_in; k++)
        n->input[k] = (char *)(ins[k] ? ins[k] : "");
    n->n_output = 1;
    n->output = ow_alloc(c, sizeof(char *));
    n->output[0] = (char *)out;
    push((void ***)&c->nodes, &c->n_nodes, &c->cap_nodes, n);
    if (c->cur)
        note_op(c, op);
    return n;
}

Onnx__NodeProto *ow_node1(ow_ctx *c, const char *op, const char *in, const char *out)
{
    const char *ins[1] = {in};
    return ow_node(c, op, ins, 1, out);
}

const char *ow_tmp(ow_ctx *c, const char *what)
{
    return ow_strf(c, "%s/%s", c->cur ? c->cur->name : "input", what);
}

static Onnx__AttributeProto *attr(ow_ctx *c, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = ow_alloc(c, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = true;
    a->type = type;
    Onnx__AttributeProto **arr = ow_alloc(c, (n->n_attribute + 1) * sizeof *arr);
    if (n->n_attribute)
        memcpy(arr, n->attribute, n->n_attribute * sizeof *arr);
    arr[n->n_attribute++] = a;
    n->attribute = arr;
    return a;
}

void ow_attr_int(ow_ctx *c, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(c, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = true;
    a->i = v;
}

void ow_attr_float(ow_ctx *c, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(c, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = true;
    a->f = v;
}

void ow_attr_ints(ow_ctx *c, Onnx__NodeProto *n, const char *name, const int64_t *v, int k)
{
    Onnx__AttributeProto *a = attr(c, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)k;
    a->ints = ow_alloc(c, (size_t)(k ? k : 1) * sizeof(int64_t));
    memcpy(a->ints, v, (size_t)k * sizeof(int64_t));
}

void ow_attr_floats(ow_ctx *c, Onnx__NodeProto *n, const char *name, const float *v, int k)
{
    Onnx__AttributeProto *a = attr(c, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = (size_t)k;
    a->floats = ow_alloc(c, (size_t)(k ? k : 1) * sizeof(float));
    memcpy(a->floats, v, (size_t)k * sizeof(float));
}

void ow_attr_string(ow_ctx *c, Onnx__NodeProto *n, const char *name, const char *s)
{
    Onnx__AttributeProto *a = attr(c, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = true;
    a->s.data = (uint8_t *)s;
    a->s.len = strlen(s);
}

void ow_attr_strings(ow_ctx *c, Onnx__NodeProto *n, const char *name, const char *const *s, int k)
{
    Onnx__AttributeProto *a = attr(c, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    a->n_strings = (size_t)k;
    a->strings = ow_alloc(c, (size_t)k * sizeof *a->strings);
    for (int q = 0; q < k; q++) {
        a->strings[q].data = (uint8_t *)s[q];
        a->strings[q].len = strlen(s[q]);
    }
}

static Onnx__TensorProto *find_init(ow_ctx *c, const char *name)
{
    for (size_t k = 0; k < c->n_inits; k++)
        if (!strcmp(c->inits[k]->name, name))
            return c->inits[k];
    return NULL;
}

static const char *add_init(ow_ctx *c, const char *name, int type, const void *data,
                            size_t bytes, int ndim, const int64_t *dims)
{
    Onnx__TensorProto *t = ow_alloc(c, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = true;
    t->data_type = type;
    t->n_dims = (size_t)ndim;
    t->dims = ow_alloc(c, (size_t)(ndim ? ndim : 1) * sizeof(int64_t));
    if (ndim)
        memcpy(t->dims, dims, (size_t)ndim * sizeof(int64_t));
    t->has_raw_data = true;
    t->raw_data.data = (uint8_t *)data;
    t->raw_data.len = bytes;
    c->bytes += (int64_t)bytes;
    push((void ***)&c->inits, &c->n_inits, &c->cap_inits, t);
    return name;
}

/* The values of a parameter, settled into a copy when they are still pending. */
static const tensor *param_tensor(ow_ctx *c, const layer *L, const char *key)
{
    int p = layer_param_index(L, key);
    if (p < 0 || p >= L->n_params)
        return NULL;
    const tensor *t = &L->params[p];
    if (t->data)
        return t;
    if (!t->parts) {
        ow_fail(c, "parameter %s.%s has no values", L->name, key);
        return NULL;
    }
    tensor *copy = ow_alloc(c, sizeof *copy);
    if (tensor_copy(copy, t) != 0) {
        ow_fail(c, "out of memory assembling %s.%s", L->name, key);
        return NULL;
    }
    push((void ***)&c->settled, &c->n_settled, &c->cap_settled, copy);
    return copy;
}

const float *ow_param_data(ow_ctx *c, const layer *L, const char *key)
{
    const tensor *t = param_tensor(c, L, key);
    return t ? t->data : NULL;
}

const char *ow_param(ow_ctx *c, const layer *L, const char *key)
{
    const tensor *t = param_tensor(c, L, key);
    if (!t)
        return NULL;
    const char *name = ow_strf(c, "%s.%s", L->name, key);
    if (find_init(c, name))
        return name;
    return add_init(c, name, T_FLOAT, t->data, (size_t)t->size * sizeof(float), t->ndim, t->shape);
}

const char *ow_floats(ow_ctx *c, const char *name, const float *v, int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++)
        n *= dims[k];
    float *copy = ow_alloc(c, (size_t)n * sizeof(float));
    memcpy(copy, v, (size_t)n * sizeof(float));
    return add_init(c, name, T_FLOAT, copy, (size_t)n * sizeof(float), ndim, dims);
}

const char *ow_ints(ow_ctx *c, const char *name, const int64_t *v, int64_t n)
{
    int64_t *copy = ow_alloc(c, (size_t)n * sizeof(int64_t));
    memcpy(copy, v, (size_t)n * sizeof(int64_t));
    int64_t dims[1] = {n};
    return add_init(c, name, T_INT64, copy, (size_t)n * sizeof(int64_t), 1, dims);
}

const char *ow_scalar(ow_ctx *c, float v)
{
    char *name = ow_strf(c, "const.%.9g", (double)v);
    if (find_init(c, name))
        return name;
    float *copy = ow_alloc(c, sizeof(float));
    *copy = v;
    return add_init(c, name, T_FLOAT, copy, sizeof(float), 0, NULL);
}

int ow_activation(ow_ctx *c, activation_kind k, act_params p, const char *in, const char *out,
                  int rank)
{
    Onnx__NodeProto *n;
    const double alpha = act_alpha(k, p.alpha);   /* 0: the activation's own */
    switch (k) {
    case ACT_IDENTITY: ow_node1(c, "Identity", in, out); return 0;
    case ACT_RELU: ow_node1(c, "Relu", in, out); return 0;
    case ACT_TANH: ow_node1(c, "Tanh", in, out); return 0;
    case ACT_SIGMOID: ow_node1(c, "Sigmoid", in, out); return 0;
    case ACT_SOFTPLUS: ow_node1(c, "Softplus", in, out); return 0;
    case ACT_LEAKYRELU:
        n = ow_node1(c, "LeakyRelu", in, out);
        ow_attr_float(c, n, "alpha", (float)alpha);
        return 0;
    case ACT_ELU:
        n = ow_node1(c, "Elu", in, out);
        ow_attr_float(c, n, "alpha", (float)alpha);
        return 0;
    case ACT_HARDSIGMOID:
        n = ow_node1(c, "HardSigmoid", in, out);
        ow_attr_float(c, n, "alpha", 0.2f);
        ow_attr_float(c, n, "beta", 0.5f);
        return 0;
    case ACT_RELU6:
    case ACT_HARDTANH: {
        const char *ins[3] = {in, ow_scalar(c, k == ACT_RELU6 ? 0.0f : -1.0f),
                              ow_scalar(c, k == ACT_RELU6 ? 6.0f : 1.0f)};
        ow_node(c, "Clip", ins, 3, out);
        return 0;
    }
    case ACT_CLIP: {
        const char *ins[3] = {in, ow_scalar(c, (float)p.lo), ow_scalar(c, (float)p.hi)};
        ow_node(c, "Clip", ins, 3, out);
        return 0;
    }
    case ACT_SOFTSIGN: ow_node1(c, "Softsign", in, out); return 0;
    case ACT_SWISH: {
        const char *s = ow_tmp(c, "sigmoid");
        ow_node1(c, "Sigmoid", in, s);
        const char *ins[2] = {in, s};
        ow_node(c, "Mul", ins, 2, out);
        return 0;
    }
    case ACT_GELU: {
        /* 0.5 x (1 + erf(x / sqrt 2)) */
        const char *d = ow_tmp(c, "gelu_div"), *e = ow_tmp(c, "gelu_erf"),
                   *p = ow_tmp(c, "gelu_add"), *h = ow_tmp(c, "gelu_half");
        const char *i1[2] = {in, ow_scalar(c, 1.41421356237309505f)};
        ow_node(c, "Div", i1, 2, d);
        ow_node1(c, "Erf", d, e);
        const char *i2[2] = {e, ow_scalar(c, 1.0f)};
        ow_node(c, "Add", i2, 2, p);
        const char *i3[2] = {in, p};
        ow_node(c, "Mul", i3, 2, h);
        const char *i4[2] = {h, ow_scalar(c, 0.5f)};
        ow_node(c, "Mul", i4, 2, out);
        return 0;
    }
    case ACT_SOFTMAX:
    case ACT_LOG_SOFTMAX:
        n = ow_node1(c, k == ACT_SOFTMAX ? "Softmax" : "LogSoftmax", in, out);
        ow_attr_int(c, n, "axis", rank - 1);
        return 0;
    case ACT_SELU: ow_node1(c, "Selu", in, out); return 0;
    case ACT_COUNT:
        break;
    }
    return ow_fail(c, "activation %d has no ONNX operator", (int)k);
}

act_shape ow_shape_of(const ow_ctx *c, const char *node)
{
    const model *m = c->m;
    int k = model_input_index(m, node);
    if (k >= 0) {
        const model_input *in = &m->inputs[k];
        if (in->kind == INPUT_CONVOLUTIONAL)
            return act_shape_cnn(in->c, in->h, in->w);
        return (act_shape){.kind = in->kind == INPUT_RECURRENT ? SHAPE_RNN : SHAPE_FF,
                           .size = in->size};
    }
    const layer *L = model_find_layer(m, node);
    return L ? L->out_shape : (act_shape){0};
}

bool ow_option(const layer *L, const char *name, double *v)
{
    const layer_option *o = layer_option_find(L->type, name);
    if (!o)
        return false;
    layer_option_get_values(o, L, v);
    return true;
}

/* ---- the graph ---- */

static Onnx__ValueInfoProto *value_info(ow_ctx *c, const char *name, const int64_t *dims, int rank)
{
    Onnx__ValueInfoProto *vi = ow_alloc(c, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = (char *)name;
    Onnx__TypeProto *tp = ow_alloc(c, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = ow_alloc(c, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = true;
    tt->elem_type = T_FLOAT;
    Onnx__TensorShapeProto *sp = ow_alloc(c, sizeof *sp);
    onnx__tensor_shape_proto__init(sp);
    sp->n_dim = (size_t)rank;
    sp->dim = ow_alloc(c, (size_t)rank * sizeof *sp->dim);
    for (int a = 0; a < rank; a++) {
        Onnx__TensorShapeProto__Dimension *dm = ow_alloc(c, sizeof *dm);
        onnx__tensor_shape_proto__dimension__init(dm);
        if (dims[a] < 0) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = dims[a] == -1 ? "batch" : "time";
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = dims[a];
        }
        sp->dim[a] = dm;
    }
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

/* The dims of a value of shape s as the graph shows it (batch-first; -1 batch, -2 time). */
static int shape_dims(const act_shape *s, int64_t *dims)
{
    dims[0] = -1;
    if (s->kind == SHAPE_CNN) {
        dims[1] = s->c;
        dims[2] = s->h;
        dims[3] = s->w;
        return 4;
    }
    if (s->kind == SHAPE_RNN) {
        dims[1] = -2;
        dims[2] = s->size;
        return 3;
    }
    dims[1] = s->size;
    return 2;
}

static void transpose_bt(ow_ctx *c, const char *in, const char *out)
{
    static const int64_t perm[3] = {1, 0, 2};
    ow_attr_ints(c, ow_node1(c, "Transpose", in, out), "perm", perm, 3);
}

/* Model input k as a value in surgery's layout: normalised, and time-major when recurrent. */
static const char *emit_input(ow_ctx *c, int k, Onnx__ValueInfoProto **vi)
{
    const model *m = c->m;
    const model_input *in = &m->inputs[k];
    act_shape s = ow_shape_of(c, in->name);
    int64_t dims[4];
    int rank = shape_dims(&s, dims);
    *vi = value_info(c, in->name, dims, rank);
    const char *v = in->name;
    c->cur = NULL;
    if (k == 0 && m->norm.kind != NORM_NONE && m->norm.n > 0 && m->norm.n == in->size) {
        int64_t nd[1] = {m->norm.n};
        const char *shift = ow_floats(c, "surgery.normalizer.shift", m->norm.shift, 1, nd);
        const char *scale = ow_floats(c, "surgery.normalizer.scale", m->norm.scale, 1, nd);
        const char *src = v;
        if (s.kind == SHAPE_CNN) {
            src = ow_strf(c, "%s/flat", in->name);
            ow_attr_int(c, ow_node1(c, "Flatten", v, src), "axis", 1);
        }
        const char *i1[2] = {src, shift}, *sub = ow_strf(c, "%s/shifted", in->name);
        ow_node(c, "Sub", i1, 2, sub);
        const char *i2[2] = {sub, scale}, *mul = ow_strf(c, "%s/normalised", in->name);
        ow_node(c, "Mul", i2, 2, mul);
        v = mul;
        if (s.kind == SHAPE_CNN) {
            int64_t shape[4] = {-1, s.c, s.h, s.w};
            const char *i3[2] = {mul, ow_ints(c, ow_strf(c, "%s/shape", in->name), shape, 4)};
            v = ow_strf(c, "%s/planes", in->name);
            ow_node(c, "Reshape", i3, 2, v);
        }
    }
    if (s.kind == SHAPE_RNN) {
        const char *tm = ow_strf(c, "%s/time_major", in->name);
        transpose_bt(c, v, tm);
        v = tm;
    }
    return v;
}

/* The emitter of every layer of a type this writer knows. */
static ow_emit_fn emitter(const layer_type *t)
{
    ow_emit_fn f = ow_emitter_layers(t);
    return f ? f : ow_emitter_conv(t);
}

int ow_check_model(const model *m, char *err, size_t err_len)
{
    int count = 0;
    err[0] = '\0';
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        size_t at = strlen(err);
        const char *sep = count ? "; " : "";
        if (!emitter(L->type)) {
            snprintf(err + at, err_len - at, "%slayer '%s': type %s has no ONNX form", sep,
                     L->name, L->type->name);
            count++;
        } else if ((L->type == &layer_type_lstm || L->type == &layer_type_graves_lstm) &&
                   !ow_lstm_activation_ok(L->activation)) {
            snprintf(err + at, err_len - at, "%slayer '%s': an LSTM with activation %s has no "
                     "ONNX form", sep, L->name, activation_names[L->activation]);
            count++;
        }
    }
    for (int k = 0; k < m->n_outputs; k++)
        if (model_layer_index(m, m->outputs[k]) < 0) {
            size_t at = strlen(err);
            snprintf(err + at, err_len - at, "%soutput '%s' is a model input: an ONNX output "
                     "must be computed", count++ ? "; " : "", m->outputs[k]);
        }
    return count ? -1 : 0;
}

int ow_build_graph(ow_ctx *c, Onnx__GraphProto *g, onnx_layer_report report, void *report_ctx)
{
    const model *m = c->m;
    int *order = xmalloc((size_t)(m->n_layers + 1) * sizeof(int));
    const char **value = xmalloc((size_t)(m->n_inputs + m->n_layers + 1) * sizeof(char *));
    int rc = -1;
    if (model_topo_order(m, order, NULL) != 0) {
        ow_fail(c, "the model's graph has a cycle or an undefined input");
        goto out;
    }
    g->n_input = (size_t)m->n_inputs;
    g->input = ow_alloc(c, (size_t)(m->n_inputs ? m->n_inputs : 1) * sizeof *g->input);
    for (int k = 0; k < m->n_inputs; k++)
        value[k] = emit_input(c, k, &g->input[k]);
    for (int q = 0; q < m->n_layers && !c->failed; q++) {
        const layer *L = m->layers[order[q]];
        ow_emit_fn f = emitter(L->type);
        if (!f) {
            ow_fail(c, "layer '%s': type %s has no ONNX form", L->name, L->type->name);
            break;
        }
        const char *ins[64];
        for (int j = 0; j < L->n_inputs && j < 64; j++) {
            int ki = model_input_index(m, L->inputs[j]);
            int li = model_layer_index(m, L->inputs[j]);
            ins[j] = ki >= 0 ? value[ki] : li >= 0 ? value[m->n_inputs + li] : NULL;
            if (!ins[j]) {
                ow_fail(c, "layer '%s': input '%s' is not defined before it", L->name, L->inputs[j]);
                goto out;
            }
        }
        c->cur = L;
        c->ops[0] = 0;
        bool recurrent_out = L->out_shape.kind == SHAPE_RNN;
        bool is_output = false;
        for (int k = 0; k < m->n_outputs; k++)
            is_output |= !strcmp(m->outputs[k], L->name);
        /* a recurrent output is transposed to batch-first under the layer's name */
        const char *out = recurrent_out && is_output ? ow_strf(c, "%s/time_major", L->name)
                                                     : L->name;
        if (f(c, L, ins, out) != 0 && !c->failed)
            ow_fail(c, "layer '%s' cannot be written", L->name);
        value[m->n_inputs + order[q]] = out;
        if (!c->failed && report)
            report(report_ctx, L->name, L->type->name, c->ops);
    }
    c->cur = NULL;
    if (c->failed)
        goto out;
    g->n_output = (size_t)m->n_outputs;
    g->output = ow_alloc(c, (size_t)(m->n_outputs ? m->n_outputs : 1) * sizeof *g->output);
    for (int k = 0; k < m->n_outputs; k++) {
        const char *name = m->outputs[k];
        act_shape s = ow_shape_of(c, name);
        int li = model_layer_index(m, name);
        if (li < 0) {
            ow_fail(c, "output '%s' is a model input: an ONNX output must be computed", name);
            goto out;
        }
        if (s.kind == SHAPE_RNN)
            transpose_bt(c, value[m->n_inputs + li], name);
        int64_t dims[4];
        int rank = shape_dims(&s, dims);
        g->output[k] = value_info(c, name, dims, rank);
    }
    g->n_node = c->n_nodes;
    g->node = c->nodes;
    for (size_t k = 0; k < c->n_nodes; k++)
        c->nodes[k]->doc_string = NULL;
    g->n_initializer = c->n_inits;
    g->initializer = c->inits;
    rc = 0;
out:
    free(order);
    free(value);
    return rc;
}

void ow_free(ow_ctx *c)
{
    for (size_t k = 0; k < c->n_arena; k++)
        free(c->arena[k]);
    free(c->arena);
    for (size_t k = 0; k < c->n_settled; k++)
        tensor_release(c->settled[k]);
    free(c->settled);
    free(c->nodes);
    free(c->inits);
    memset(c, 0, sizeof *c);
}
