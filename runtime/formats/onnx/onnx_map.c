/* onnx_map.c: the core of the ONNX operator mapping: the table of values (constants, folded,
 * or activations of surgery layers), layer names from torch's module paths, the graph's inputs
 * and node order, the dispatch of each node to its operator family (onnx_ops_*.c, onnx_fold.c)
 * and the one error that lists what cannot be mapped. */
#include "runtime/formats/onnx/onnx_map.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/checked.h"
#include "runtime/base/limits.h"
#include "runtime/base/util.h"
#include "runtime/formats/onnx/onnx_mapper.h"

value *onnx_find(mapper *mp, const char *name)
{
    for (int k = 0; k < mp->nv; k++)
        if (!strcmp(mp->v[k].name, name))
            return &mp->v[k];
    return NULL;
}

value *onnx_def(mapper *mp, const char *name)
{
    value *v = onnx_find(mp, name);
    if (v)
        return v;
    if (mp->nv == mp->cap) {
        mp->cap = mp->cap ? 2 * mp->cap : 64;
        mp->v = xrealloc(mp->v, (size_t)mp->cap * sizeof *mp->v);
    }
    v = &mp->v[mp->nv++];
    memset(v, 0, sizeof *v);
    v->name = name;
    return v;
}

void onnx_unsupported(mapper *mp, int idx, const Onnx__NodeProto *n, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    size_t at = strlen(mp->unsupported);
    snprintf(mp->unsupported + at, sizeof mp->unsupported - at, "\n  node %d '%s' (%s): %s", idx,
             n->name && *n->name ? n->name : "", n->op_type, why);
    mp->n_unsupported++;
}

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t k = 0; k < n->n_attribute; k++)
        if (n->attribute[k]->name && !strcmp(n->attribute[k]->name, name))
            return n->attribute[k];
    return NULL;
}
int64_t onnx_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def_v)
{
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a ? a->i : def_v;
}
double onnx_attr_f(const Onnx__NodeProto *n, const char *name, double def_v)
{
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    return a ? a->f : def_v;
}

/* ---- names: torch's module paths ---- */

static bool name_taken(mapper *mp, const char *s)
{
    return model_has_node(model_builder_model(mp->b), s);
}

/* "/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1" (the PyTorch module path, as written);
 * else the node name; else the operator type and node index in lower case ("relu_3"). Other
 * characters than letters, digits, '_' and '.' become '_'. A name already taken gets torch's
 * number of the node within its module ("/lstm/LSTM_1" -> "lstm_1"), else the operator type
 * appended ("fc_add"), then a count ("fc_add2"): the same file always gives the same names. */
static char *layer_name(mapper *mp, const Onnx__NodeProto *n, int idx)
{
    char out[512] = "";
    const char *nm = n->name ? n->name : "";
    if (nm[0] == '/') {
        const char *p = nm + 1, *last = strrchr(nm, '/');
        while (p < last) {
            const char *e = strchr(p, '/');
            size_t len = (size_t)(e - p), ol = strlen(out);
            /* a child of a Sequential or ModuleList is "parent.k", parent being a tail of the
             * path so far ("layer1" then "layer1.0"; "features.1.conv.0" then "conv.0.0"):
             * the child replaces the longest such tail */
            size_t at = ol + 1;
            for (size_t st = 0; ol && st < ol && at > ol; st++) {
                if (st && out[st - 1] != '.')
                    continue;
                size_t tl = ol - st;
                if (len > tl && !strncmp(p, out + st, tl) && p[tl] == '.')
                    at = st;
            }
            if (at <= ol)
                snprintf(out + at, sizeof out - at, "%.*s", (int)len, p);
            else
                snprintf(out + ol, sizeof out - ol, "%s%.*s", ol ? "." : "", (int)len, p);
            p = e + 1;
        }
    } else if (*nm) {
        snprintf(out, sizeof out, "%s", nm);
    }
    for (char *c = out; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.')
            *c = '_';
    if (!*out || isdigit((unsigned char)out[0]) || out[0] == '.') {
        snprintf(out, sizeof out, "%s_%d", n->op_type, idx);
        for (char *c = out; *c; c++)
            *c = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '_';
    }
    char op[64];
    snprintf(op, sizeof op, "%s", n->op_type);
    for (char *c = op; *c; c++)
        *c = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '_';
    /* torch numbers the nodes of one operator within a module: "/lstm/LSTM_1" */
    const char *tail = strrchr(nm, '/') ? strrchr(nm, '/') + 1 : NULL;
    size_t tl = strlen(n->op_type);
    bool numbered = tail && !strncmp(tail, n->op_type, tl) && tail[tl] == '_' && tail[tl + 1] &&
                    strspn(tail + tl + 1, "0123456789") == strlen(tail + tl + 1);
    char cand[600];
    snprintf(cand, sizeof cand, "%s", out);
    if (name_taken(mp, cand) && numbered)
        snprintf(cand, sizeof cand, "%s%s", out, tail + tl);
    if (name_taken(mp, cand))
        snprintf(cand, sizeof cand, "%s_%s", out, op);
    for (int k = 2; name_taken(mp, cand); k++)
        snprintf(cand, sizeof cand, "%s_%s%d", out, op, k);
    return str_dup(cand);
}

layer *onnx_add_layer(mapper *mp, const Onnx__NodeProto *n, int idx, const layer_type *t,
                        value *const *in, int n_in, int64_t n_out)
{
    char *name = layer_name(mp, n, idx);
    layer *L = layer_new(t, name);
    free(name);
    const char *names[16];
    for (int k = 0; k < n_in && k < 16; k++)
        names[k] = in[k]->node;
    layer_set_inputs(L, names, n_in);
    L->n_out = n_out;
    L->loc = (src_loc){.file = mp->path};
    model_builder_add_layer(mp->b, L);
    return L;
}

void onnx_set_act(value *out, layer *L, layout lay, int64_t size, const value *like)
{
    out->kind = V_ACT;
    out->L = L;
    out->node = L->name;
    out->lay = lay;
    out->size = size;
    if (like) {
        out->ndim = like->ndim;
        memcpy(out->dims, like->dims, sizeof out->dims);
    }
}

void onnx_alias(value *out, const value *in)
{
    int uses = out->uses;
    bool go = out->graph_output;
    const char *nm = out->name;
    *out = *in;
    out->f = NULL;
    out->i = NULL;
    if (in->kind == V_CONST) {
        size_t sz = in->f ? sizeof(float) : sizeof(int64_t);
        void *c = xmalloc((size_t)(in->count ? in->count : 1) * sz);
        memcpy(c, in->f ? (void *)in->f : (void *)in->i, (size_t)in->count * sz);
        if (in->f)
            out->f = c;
        else
            out->i = c;
    }
    out->uses = uses;
    out->graph_output = go;
    out->name = nm;
}

void onnx_set_ints(value *out, const int64_t *src, int64_t n)
{
    out->kind = V_CONST;
    out->ndim = 1;
    out->dims[0] = n;
    out->count = n;
    out->i = xmalloc((size_t)(n ? n : 1) * sizeof(int64_t));
    memcpy(out->i, src, (size_t)n * sizeof(int64_t));
}

int onnx_tensor_value(mapper *mp, const Onnx__TensorProto *t, value *v, char *err, size_t el)
{
    if (t->n_dims > MAXR) {
        snprintf(err, el, "rank %zu is too high", t->n_dims);
        return -1;
    }
    if (onnx_tensor_values(t, mp->path, &v->f, &v->i, &v->count, err, el) != 0)
        return -1;
    v->kind = V_CONST;
    v->ndim = (int)t->n_dims;
    for (size_t k = 0; k < t->n_dims; k++)
        v->dims[k] = t->dims[k];
    return 0;
}


/* Whether x's producer is a layer of type t read by nothing else, and no graph output. */
bool onnx_fusable(const value *x, const layer_type *t)
{
    return x->L && x->L->type == t && x->uses == 1 && !x->graph_output;
}

value *onnx_in(mapper *mp, const Onnx__NodeProto *n, size_t j)
{
    return j < n->n_input && *n->input[j] ? onnx_find(mp, n->input[j]) : NULL;
}

int onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *v, int max, int def_n,
                   int64_t def_v)
{
    const Onnx__AttributeProto *a = onnx_attr(n, name);
    if (!a) {
        for (int k = 0; k < def_n && k < max; k++)
            v[k] = def_v;
        return def_n;
    }
    int cnt = 0;
    for (size_t k = 0; k < a->n_ints && cnt < max; k++)
        v[cnt++] = a->ints[k];
    return (int)a->n_ints;
}

int onnx_give(mapper *mp, layer *L, const char *key, const float *data, int ndim,
              const int64_t *shape)
{
    tensor t = {0};
    if (tensor_alloc(&t, ndim, shape) != 0)
        return -1;
    memcpy(t.data, data, (size_t)t.size * sizeof(float));
    return model_builder_set_param(mp->b, L, key, &t);
}

int onnx_give2(mapper *mp, layer *L, const char *key, const float *data, int ndim, int64_t d0,
               int64_t d1)
{
    int64_t shape[2] = {d0, d1};
    return onnx_give(mp, L, key, data, ndim, shape);
}

/* ---- the dispatch ---- */

/* Whether some operator family maps (or folds) operators of this type, at least in one form. */
static bool known_op(const char *op)
{
    static const char *const known[] = {
        "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Softsign", "HardSigmoid", "Clip",
        "Softmax", "Identity", "Dropout", "Gemm", "MatMul", "Add", "Sum", "Mul", "Flatten", "Reshape",
        "Gather", "Concat", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
        "GlobalMaxPool", "BatchNormalization", "Pad", "LSTM", "Transpose", "Squeeze",
        "Unsqueeze", "Shape", "ConstantOfShape", "Expand", "Slice", "Cast", "Constant", NULL};
    for (int k = 0; known[k]; k++)
        if (!strcmp(op, known[k]))
            return true;
    return false;
}

static void map_node(mapper *mp, int idx)
{
    const Onnx__NodeProto *n = mp->g->node[idx];
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) {
        onnx_unsupported(mp, idx, n, "domain '%s' is not read", n->domain);
        return;
    }
    if (!n->n_output || !*n->output[0])
        return;
    value *out = onnx_find(mp, n->output[0]), *x = onnx_in(mp, n, 0);
    if (out->kind != V_UNDEF || out->f || out->i) {
        onnx_unsupported(mp, idx, n, "its output '%s' is produced by an earlier node too",
                         n->output[0]);
        return;
    }
    for (size_t j = 0; j < n->n_input; j++)
        if (*n->input[j] && onnx_find(mp, n->input[j])->kind == V_UNDEF) {
            /* an input that could not be mapped (listed already): an operator no family
             * knows is listed too, so that the error names every one */
            if (!known_op(n->op_type))
                onnx_unsupported(mp, idx, n, "no surgery layer for this operator");
            return;
        }
    if (!onnx_ops_rnn(mp, n, idx, x, out) && !onnx_ops_dense(mp, n, idx, x, out) &&
        !onnx_ops_conv(mp, n, idx, x, out) && !onnx_fold(mp, n, idx, x, out))
        onnx_unsupported(mp, idx, n, "no surgery layer for this operator");
    /* a constant only this node reads (a weight, now copied into its layer) is dropped: the
     * peak memory of a large model stays near its file and its parameters */
    for (size_t j = 0; j < n->n_input; j++) {
        value *v = onnx_in(mp, n, j);
        if (onnx_is_const(v) && v->uses == 1 && !v->graph_output) {
            free(v->f);
            free(v->i);
            v->f = NULL;
            v->i = NULL;
        }
    }
}

/* The layout of a graph input, from its rank and what reads it: a sequence read by the
 * Transpose torch puts before an LSTM (batch-first) or by an LSTM (time-major), an NCHW image
 * (rank 4), else flat; *indices tells whether a Gather reads it as indices (an embedding). */
static layout input_layout(mapper *mp, const char *name, int rank, bool *indices)
{
    *indices = false;
    for (size_t k = 0; k < mp->g->n_node; k++) {
        const Onnx__NodeProto *n = mp->g->node[k];
        for (size_t j = 0; j < n->n_input; j++) {
            if (strcmp(n->input[j], name))
                continue;
            if (rank == 3 && !strcmp(n->op_type, "Transpose"))
                return L_BT;
            if (rank == 3 && !strcmp(n->op_type, "LSTM"))
                return L_TB;
            if (j == 1 && !strcmp(n->op_type, "Gather"))
                *indices = true;
        }
    }
    return rank == 4 ? L_CHW : L_FLAT;
}

static int add_inputs(mapper *mp)
{
    const Onnx__GraphProto *g = mp->g;
    int errors = 0;
    for (size_t k = 0; k < g->n_input; k++) {
        const Onnx__ValueInfoProto *vi = g->input[k];
        value *v = onnx_find(mp, vi->name);
        if (v && v->kind == V_CONST)
            continue;   /* an initializer listed as an input (IR < 4) */
        v = onnx_def(mp, vi->name);
        const Onnx__TypeProto__Tensor *tt = vi->type && vi->type->value_case ==
            ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? vi->type->tensor_type : NULL;
        int et = tt && tt->has_elem_type ? tt->elem_type : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        if (et == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
            et == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16 ||
            et == ONNX__TENSOR_PROTO__DATA_TYPE__STRING ||
            et == ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64 ||
            et == ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128 || et > 16) {
            model_format_error(mp->d, mp->path, "input '%s' has element type %d: surgery reads "
                               "float inputs and integer indices", vi->name, et);
            errors++;
            continue;
        }
        int rank = tt && tt->shape ? (int)tt->shape->n_dim : 0;
        bool indices = false;
        layout lay = input_layout(mp, vi->name, rank, &indices);
        if (rank > MAXR || rank < (indices ? 1 : 2)) {
            model_format_error(mp->d, mp->path, "input '%s' has %s: ranks 2 to %d are read (1 "
                               "for the indices of an embedding)", vi->name,
                               rank ? "a shape of another rank" : "no tensor shape", MAXR);
            errors++;
            continue;
        }
        int batch_axis = lay == L_TB ? 1 : 0, time_axis = lay == L_BT ? 1 : lay == L_TB ? 0 : -1;
        int64_t size = 1;
        v->ndim = rank;
        for (int a = 0; a < rank && a < MAXR; a++) {
            const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[a];
            bool known = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            v->dims[a] = known ? dm->dim_value : SYM;
            if (a == batch_axis || a == time_axis)
                continue;
            if (!known || dm->dim_value < 1) {
                model_format_error(mp->d, mp->path, "input '%s' axis %d has a dynamic size: only "
                                   "the batch (and a sequence's time) axis may", vi->name, a);
                errors++;
            } else if (!checked_mul(size, dm->dim_value, &size) ||
                       size > LIMIT_TENSOR_ELEMENTS) {
                model_format_error(mp->d, mp->path, "input '%s' has more than %lld values a "
                                   "sample", vi->name, (long long)LIMIT_TENSOR_ELEMENTS);
                errors++;
                break;
            }
        }
        v->kind = V_ACT;
        v->node = vi->name;
        v->lay = lay;
        v->size = size;
        input_kind kind = lay == L_FLAT ? INPUT_FEED_FORWARD
                          : lay == L_CHW ? INPUT_CONVOLUTIONAL : INPUT_RECURRENT;
        if (model_builder_add_input(mp->b, vi->name, kind, size,
                                    lay == L_CHW ? v->dims + 1 : NULL,
                                    (src_loc){.file = mp->path}) != 0)
            errors++;
    }
    return errors;
}

/* Kahn's order of the nodes; a cycle or an undefined input is reported naming the node. */
static int node_order(mapper *mp, int *order)
{
    const Onnx__GraphProto *g = mp->g;
    int nn = (int)g->n_node, done = 0;
    bool *placed = calloc((size_t)nn + 1, 1);
    for (int k = 0; k < mp->nv; k++)
        mp->v[k].uses = -1;   /* defined before any node */
    for (bool progress = true; progress && done < nn;) {
        progress = false;
        for (int k = 0; k < nn; k++) {
            if (placed[k])
                continue;
            const Onnx__NodeProto *n = g->node[k];
            bool ready = true;
            for (size_t j = 0; j < n->n_input && ready; j++)
                ready = !*n->input[j] || onnx_find(mp, n->input[j]);
            if (!ready)
                continue;
            for (size_t j = 0; j < n->n_output; j++)
                if (*n->output[j])
                    onnx_def(mp, n->output[j]);
            placed[k] = true;
            order[done++] = k;
            progress = true;
        }
    }
    for (int k = 0; k < nn && done < nn; k++) {
        if (placed[k])
            continue;
        const Onnx__NodeProto *n = g->node[k];
        const char *missing = "";
        for (size_t j = 0; j < n->n_input; j++)
            if (*n->input[j] && !onnx_find(mp, n->input[j]))
                missing = n->input[j];
        bool produced = false;
        for (size_t q = 0; q < g->n_node; q++)
            for (size_t j = 0; j < g->node[q]->n_output; j++)
                produced |= !strcmp(g->node[q]->output[j], missing);
        model_format_error(mp->d, mp->path, "node %d '%s' (%s): input '%s' %s", k,
                           n->name ? n->name : "", n->op_type, missing,
                           produced ? "depends on the node itself (the graph has a cycle)"
                                    : "is defined by no node, initializer or input");
        free(placed);
        return -1;
    }
    free(placed);
    for (int k = 0; k < mp->nv; k++)
        mp->v[k].uses = 0;
    for (int k = 0; k < nn; k++)
        for (size_t j = 0; j < g->node[k]->n_input; j++) {
            value *v = *g->node[k]->input[j] ? onnx_find(mp, g->node[k]->input[j]) : NULL;
            if (v)
                v->uses++;
        }
    return 0;
}

/* Frees the data of a tensor proto decoded into a value (raw_data or the float field), for the
 * peak memory of a large model; the proto stays valid, empty, and free_unpacked frees the rest. */
static void release_data(Onnx__TensorProto *t)
{
    free(t->raw_data.data);
    t->raw_data.data = NULL;
    t->raw_data.len = 0;
    t->has_raw_data = false;
    free(t->float_data);
    t->float_data = NULL;
    t->n_float_data = 0;
}

int onnx_map_graph(const Onnx__GraphProto *g, int64_t opset, onnx_meta_fn meta,
                   const Onnx__ModelProto *model_proto, const char *path, model_builder *b,
                   struct diag_ctx *d)
{
    mapper mp = {.g = g, .path = path, .opset = opset, .b = b, .d = d};
    char err[256];
    int rc = -1;
    int *order = xmalloc((g->n_node + 1) * sizeof(int));
    for (size_t k = 0; k < g->n_initializer; k++) {
        if (onnx_find(&mp, g->initializer[k]->name)) {
            model_format_error(d, path, "initializer '%s' is defined twice",
                               g->initializer[k]->name);
            mp.errors++;
            continue;
        }
        value *v = onnx_def(&mp, g->initializer[k]->name);
        if (onnx_tensor_value(&mp, g->initializer[k], v, err, sizeof err) != 0) {
            model_format_error(d, path, "initializer '%s': %s", v->name, err);
            mp.errors++;
        }
        release_data(g->initializer[k]);
    }
    if (mp.errors || add_inputs(&mp) || node_order(&mp, order) != 0)
        goto out;
    for (size_t k = 0; k < g->n_output; k++) {
        value *v = onnx_find(&mp, g->output[k]->name);
        if (v)
            v->graph_output = true;
    }
    for (size_t k = 0; k < g->n_node; k++)
        map_node(&mp, order[k]);
    if (mp.n_unsupported) {
        model_format_error(d, path, "%d operator%s of this opset-%lld model cannot be mapped to "
                           "surgery layers:%s", mp.n_unsupported, mp.n_unsupported > 1 ? "s" : "",
                           (long long)opset, mp.unsupported);
        goto out;
    }
    if (mp.errors)
        goto out;
    const char *outs[64];
    int n_out = 0;
    for (size_t k = 0; k < g->n_output && n_out < 64; k++) {
        value *v = onnx_find(&mp, g->output[k]->name);
        if (!onnx_is_act(v)) {
            model_format_error(d, path, "graph output '%s' is %s", g->output[k]->name,
                               onnx_is_const(v) ? "a constant"
                               : v ? "an output surgery does not map (an LSTM's Y_h or Y_c)"
                                   : "defined by no node");
            goto out;
        }
        if (v->L && v->L->type == &layer_type_dense) {
            char key[600];
            snprintf(key, sizeof key, ONNX_META_LAYER "%s.type", v->L->name);
            const char *t = meta(model_proto, key);
            if (!t || !strcmp(t, "output")) {
                v->L->type = v->lay == L_FLAT ? &layer_type_output : &layer_type_rnn_output;
                v->L->loss = v->L->activation == ACT_SOFTMAX       ? LOSS_MCXENT
                             : v->L->activation == ACT_LOG_SOFTMAX ? LOSS_NLL
                                                                   : LOSS_MSE;
            }
        }
        outs[n_out++] = v->node;
    }
    model_builder_set_outputs(b, outs, n_out);
    rc = 0;
out:
    for (int k = 0; k < mp.nv; k++) {
        free(mp.v[k].f);
        free(mp.v[k].i);
    }
    free(mp.v);
    free(order);
    return rc;
}
