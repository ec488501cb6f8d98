/* onnx_map.c: the operator table of the ONNX reader: values are constants (folded) or
 * activations of surgery layers; each node folds, aliases, fuses into its producer or adds a
 * layer; what cannot be mapped is collected into one error. */
#include "runtime/formats/onnx/onnx_map.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "runtime/base/util.h"
#include "runtime/graph/builder.h"

#define SYM INT64_MIN      /* a symbolic (batch) dimension inside a folded shape */
#define MAXR 8

typedef enum { V_UNDEF, V_CONST, V_ACT } vkind;
/* Activation layouts: flat [batch, features...]; sequences batch-first [B, T, n], time-major
 * [T, B, n] (surgery's own) and LSTM's Y [T, 1, B, n]. */
typedef enum { L_FLAT, L_BT, L_TB, L_LSTM_Y } layout;

typedef struct value {
    const char *name;
    vkind kind;
    int ndim;
    int64_t dims[MAXR];
    float *f;                 /* V_CONST floats, or ... */
    int64_t *i;               /* ... integers */
    int64_t count;
    bool zeros;               /* V_CONST of a symbolic shape, all zero (ConstantOfShape) */
    layer *L;                 /* V_ACT: its producer (NULL: a model input) */
    const char *node;         /* V_ACT: the surgery node's name */
    layout lay;
    int64_t size;             /* V_ACT: features per sample (per step) */
    int uses;
    bool graph_output;
} value;

typedef struct mapper {
    const Onnx__GraphProto *g;
    const char *path;
    int64_t opset;
    model_builder *b;
    struct diag_ctx *d;
    value *v;
    int nv, cap;
    char unsupported[4096];
    int n_unsupported;
    int errors;
} mapper;

static value *find(mapper *mp, const char *name)
{
    for (int k = 0; k < mp->nv; k++)
        if (!strcmp(mp->v[k].name, name))
            return &mp->v[k];
    return NULL;
}

static value *def(mapper *mp, const char *name)
{
    value *v = find(mp, name);
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

static void unsupported(mapper *mp, int idx, const Onnx__NodeProto *n, const char *fmt, ...)
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

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t k = 0; k < n->n_attribute; k++)
        if (!strcmp(n->attribute[k]->name, name))
            return n->attribute[k];
    return NULL;
}
static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t def_v)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a ? a->i : def_v;
}
static double attr_f(const Onnx__NodeProto *n, const char *name, double def_v)
{
    const Onnx__AttributeProto *a = attr(n, name);
    return a ? a->f : def_v;
}

/* ---- names: torch's module paths ---- */

static bool name_taken(mapper *mp, const char *s)
{
    return model_has_node(model_builder_model(mp->b), s);
}

/* "/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1"; else the node name; else op_index. */
static char *layer_name(mapper *mp, const Onnx__NodeProto *n, int idx)
{
    char out[512] = "";
    const char *nm = n->name ? n->name : "";
    if (nm[0] == '/') {
        const char *p = nm + 1, *last = strrchr(nm, '/');
        while (p < last) {
            const char *e = strchr(p, '/');
            size_t len = (size_t)(e - p), ol = strlen(out);
            if (ol && len > ol && !strncmp(p, out, ol) && p[ol] == '.')
                snprintf(out, sizeof out, "%.*s", (int)len, p);
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
    if (!*out || isdigit((unsigned char)out[0]))
        snprintf(out, sizeof out, "%s_%d", n->op_type, idx);
    for (char *c = out; *c; c++)
        *c = (char)(isupper((unsigned char)*c) && !*out ? tolower((unsigned char)*c) : *c);
    char cand[600];
    snprintf(cand, sizeof cand, "%s", out);
    if (name_taken(mp, cand))
        snprintf(cand, sizeof cand, "%s_%s", out, n->op_type);
    for (int k = 2; name_taken(mp, cand); k++)
        snprintf(cand, sizeof cand, "%s_%s%d", out, n->op_type, k);
    for (char *c = cand; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return str_dup(cand);
}

static layer *add_layer(mapper *mp, const Onnx__NodeProto *n, int idx, const layer_type *t,
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

static void set_act(value *out, layer *L, layout lay, int64_t size, const value *like)
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

static void alias(value *out, const value *in)
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

static void set_ints(value *out, const int64_t *src, int64_t n)
{
    out->kind = V_CONST;
    out->ndim = 1;
    out->dims[0] = n;
    out->count = n;
    out->i = xmalloc((size_t)(n ? n : 1) * sizeof(int64_t));
    memcpy(out->i, src, (size_t)n * sizeof(int64_t));
}

static int tensor_value(mapper *mp, const Onnx__TensorProto *t, value *v, char *err, size_t el)
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

/* A float tensor of the given values moved into a layer's parameter. */
static int give(mapper *mp, layer *L, const char *key, float *data, int ndim, int64_t d0, int64_t d1)
{
    tensor t = {0};
    int64_t shape[2] = {d0, d1};
    if (tensor_alloc(&t, ndim, shape) != 0)
        return -1;
    memcpy(t.data, data, (size_t)(ndim == 1 ? d0 : d0 * d1) * sizeof(float));
    return model_builder_set_param(mp->b, L, key, &t);
}

static bool is_const(const value *v) { return v && v->kind == V_CONST; }
static bool is_act(const value *v) { return v && v->kind == V_ACT; }

/* An activation node fused into its producer (a dense layer still without one) or added. */
static void activation(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out,
                       activation_kind k, double alpha)
{
    if (x->L && (x->L->type == &layer_type_dense) && x->L->activation == ACT_IDENTITY &&
        x->uses == 1 && !x->graph_output) {
        x->L->activation = k;
        x->L->alpha = alpha;
        alias(out, x);
        return;
    }
    value *in[1] = {x};
    layer *L = add_layer(mp, n, idx, &layer_type_activation, in, 1, 0);
    L->activation = k;
    L->alpha = alpha;
    set_act(out, L, x->lay, x->size, x);
}

/* ---- the operators ---- */

static value *in_v(mapper *mp, const Onnx__NodeProto *n, size_t j)
{
    return j < n->n_input && *n->input[j] ? find(mp, n->input[j]) : NULL;
}

static int64_t axis_norm(int64_t a, int rank) { return a < 0 ? a + rank : a; }

/* Gemm / MatMul: y = x W (+ b) with W = alpha * B' [K, N], b = beta * C. */
static void map_dense(mapper *mp, const Onnx__NodeProto *n, int idx, value *out, bool gemm)
{
    value *x = in_v(mp, n, 0), *w = in_v(mp, n, 1), *c = gemm ? in_v(mp, n, 2) : NULL;
    bool tb = gemm && attr_i(n, "transB", 0), ta = gemm && attr_i(n, "transA", 0);
    double alpha = gemm ? attr_f(n, "alpha", 1.0) : 1.0, beta = gemm ? attr_f(n, "beta", 1.0) : 1.0;
    if (!is_act(x) || !is_const(w) || !w->f || w->ndim != 2 || (c && (!is_const(c) || !c->f))) {
        unsupported(mp, idx, n, "needs an activation times a constant float matrix");
        return;
    }
    if (ta) {
        unsupported(mp, idx, n, "transA = 1 would transpose the batch axis of an activation");
        return;
    }
    int64_t K = tb ? w->dims[1] : w->dims[0], N = tb ? w->dims[0] : w->dims[1];
    if (K != x->size) {
        unsupported(mp, idx, n, "the input has %lld features but the weights take %lld",
                    (long long)x->size, (long long)K);
        return;
    }
    if (c && c->count != N && c->count != 1) {
        unsupported(mp, idx, n, "C has %lld values, not %lld or 1", (long long)c->count, (long long)N);
        return;
    }
    float *W = xmalloc((size_t)(K * N) * sizeof(float));
    for (int64_t r = 0; r < K; r++)
        for (int64_t q = 0; q < N; q++)
            W[r * N + q] = (float)(alpha * (tb ? w->f[q * K + r] : w->f[r * N + q]));
    value *in[1] = {x};
    layer *L = add_layer(mp, n, idx, &layer_type_dense, in, 1, N);
    L->activation = ACT_IDENTITY;
    L->has_bias = c != NULL || !gemm;
    give(mp, L, "W", W, 2, K, N);
    free(W);
    if (c) {
        float *bv = xmalloc((size_t)N * sizeof(float));
        for (int64_t q = 0; q < N; q++)
            bv[q] = (float)(beta * c->f[c->count == 1 ? 0 : q]);
        give(mp, L, "b", bv, 1, N, 0);
        free(bv);
    }
    set_act(out, L, x->lay, N, x);
    if (!gemm) {
        out->f = NULL;   /* MatMul: the bias follows in an Add, else zero */
        L->has_bias = true;
        float *z = calloc((size_t)N, sizeof(float));
        give(mp, L, "b", z, 1, N, 0);
        free(z);
    }
    out->dims[out->ndim - 1] = N;
}

static void map_add(mapper *mp, const Onnx__NodeProto *n, int idx, value *out)
{
    value *a = in_v(mp, n, 0), *c = in_v(mp, n, 1);
    if (is_const(a) && is_act(c)) {
        value *t = a; a = c; c = t;
    }
    int n_acts = 0;
    value *acts[16];
    for (size_t j = 0; j < n->n_input && j < 16; j++) {
        value *v = in_v(mp, n, j);
        if (is_act(v))
            acts[n_acts++] = v;
    }
    if (n_acts == (int)n->n_input && n_acts >= 2) {
        for (int k = 1; k < n_acts; k++)
            if (acts[k]->size != acts[0]->size || acts[k]->lay != acts[0]->lay) {
                unsupported(mp, idx, n, "its inputs differ in size or layout");
                return;
            }
        layer *L = add_layer(mp, n, idx, &layer_type_add, acts, n_acts, 0);
        set_act(out, L, acts[0]->lay, acts[0]->size, acts[0]);
        return;
    }
    if (!strcmp(n->op_type, "Add") && is_act(a) && is_const(c) && c->f && a->L &&
        a->L->type == &layer_type_dense && a->uses == 1 && !a->graph_output &&
        a->L->activation == ACT_IDENTITY && (c->count == a->size || c->count == 1)) {
        float *bv = xmalloc((size_t)a->size * sizeof(float));
        for (int64_t q = 0; q < a->size; q++)
            bv[q] = c->f[c->count == 1 ? 0 : q];
        give(mp, a->L, "b", bv, 1, a->size, 0);
        free(bv);
        alias(out, a);
        return;
    }
    unsupported(mp, idx, n, "only a bias after MatMul/Gemm or a sum of activations is mapped");
}

static void map_lstm(mapper *mp, const Onnx__NodeProto *n, int idx, value *out)
{
    value *x = in_v(mp, n, 0), *w = in_v(mp, n, 1), *r = in_v(mp, n, 2), *bb = in_v(mp, n, 3);
    const char *dir = attr(n, "direction") ? (const char *)attr(n, "direction")->s.data : "forward";
    size_t dlen = attr(n, "direction") ? attr(n, "direction")->s.len : 7;
    if (dlen != 7 || strncmp(dir, "forward", 7)) {
        unsupported(mp, idx, n, "direction '%.*s': only forward LSTMs are mapped yet", (int)dlen, dir);
        return;
    }
    if (attr(n, "activations") || attr(n, "clip") || attr_i(n, "input_forget", 0) ||
        attr_i(n, "layout", 0)) {
        unsupported(mp, idx, n, "activations, clip, input_forget and layout must keep their defaults");
        return;
    }
    if (in_v(mp, n, 4)) {
        unsupported(mp, idx, n, "sequence_lens is not mapped (surgery masks sequences instead)");
        return;
    }
    for (size_t j = 5; j < 7; j++) {
        value *s = in_v(mp, n, j);
        /* absent, a folded ConstantOfShape of zeros, or float values that are all zero */
        bool zero = !s || (is_const(s) && (s->zeros || s->f));
        for (int64_t q = 0; zero && s && s->f && q < s->count; q++)
            zero = s->f[q] == 0.0f;
        if (!zero) {
            unsupported(mp, idx, n, "the initial state must be zero");
            return;
        }
    }
    value *p = in_v(mp, n, 7);
    for (size_t j = 1; j < n->n_output; j++) {
        value *o = *n->output[j] ? find(mp, n->output[j]) : NULL;
        if (o && (o->uses || o->graph_output)) {
            unsupported(mp, idx, n, "Y_h and Y_c are not mapped: use Y");
            return;
        }
    }
    if (!is_act(x) || (x->lay != L_TB) || !is_const(w) || !is_const(r) || !w->f || !r->f ||
        (bb && (!is_const(bb) || !bb->f)) || (p && (!is_const(p) || !p->f))) {
        unsupported(mp, idx, n, "needs a time-major sequence and constant W, R, B, P");
        return;
    }
    int64_t h = attr_i(n, "hidden_size", r->ndim == 3 ? r->dims[2] : 0), in = x->size;
    if (w->count != 4 * h * in || r->count != 4 * h * h || (bb && bb->count != 8 * h) ||
        (p && p->count != 3 * h)) {
        unsupported(mp, idx, n, "W, R, B or P disagree with hidden_size %lld", (long long)h);
        return;
    }
    /* ONNX's blocks i, o, f, c; ours a (= c), f, o, i. */
    static const int onnx_block[4] = {3, 2, 1, 0};
    int64_t cols = 4 * h + (p ? 3 : 0);
    float *W = xmalloc((size_t)(in * 4 * h) * sizeof(float));
    float *RW = xmalloc((size_t)(h * cols) * sizeof(float)), *B = xmalloc((size_t)(4 * h) * sizeof(float));
    for (int blk = 0; blk < 4; blk++)
        for (int64_t u = 0; u < h; u++) {
            int64_t src = onnx_block[blk] * h + u, dst = blk * h + u;
            for (int64_t k = 0; k < in; k++)
                W[k * 4 * h + dst] = w->f[src * in + k];
            for (int64_t k = 0; k < h; k++)
                RW[k * cols + dst] = r->f[src * h + k];
            B[dst] = bb ? bb->f[src] + bb->f[4 * h + src] : 0.0f;
        }
    for (int64_t u = 0; p && u < h; u++) {
        RW[u * cols + 4 * h] = p->f[2 * h + u];
        RW[u * cols + 4 * h + 1] = p->f[h + u];
        RW[u * cols + 4 * h + 2] = p->f[u];
    }
    value *ins[1] = {x};
    layer *L = add_layer(mp, n, idx, p ? &layer_type_graves_lstm : &layer_type_lstm, ins, 1, h);
    give(mp, L, "W", W, 2, in, 4 * h);
    give(mp, L, "RW", RW, 2, h, cols);
    give(mp, L, "b", B, 1, 4 * h, 0);
    free(W);
    free(RW);
    free(B);
    set_act(out, L, L_LSTM_Y, h, NULL);
}

static void fold_shape_ops(mapper *mp, const Onnx__NodeProto *n, int idx, value *out)
{
    const char *op = n->op_type;
    value *x = in_v(mp, n, 0), *y = in_v(mp, n, 1);
    if (!strcmp(op, "Shape") && x && x->ndim) {
        int64_t s = axis_norm(attr_i(n, "start", 0), x->ndim), e = axis_norm(attr_i(n, "end", x->ndim), x->ndim);
        if (s < 0) s = 0;
        if (e > x->ndim) e = x->ndim;
        set_ints(out, x->dims + s, e > s ? e - s : 0);
        return;
    }
    if (!strcmp(op, "Gather") && is_const(x) && x->i && is_const(y) && y->i && x->ndim == 1) {
        int64_t v[MAXR];
        for (int64_t k = 0; k < y->count && k < MAXR; k++) {
            int64_t at = axis_norm(y->i[k], (int)x->count);
            if (at < 0 || at >= x->count) {
                unsupported(mp, idx, n, "index %lld out of range", (long long)y->i[k]);
                return;
            }
            v[k] = x->i[at];
        }
        set_ints(out, v, y->count);
        out->ndim = y->ndim;
        return;
    }
    if ((!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) && is_const(x) && x->count <= 1) {
        alias(out, x);
        out->ndim = !strcmp(op, "Unsqueeze") ? 1 : 0;
        out->dims[0] = x->count;
        return;
    }
    if (!strcmp(op, "Concat") && is_const(x)) {
        int64_t v[64], cnt = 0;
        for (size_t j = 0; j < n->n_input; j++) {
            value *c = in_v(mp, n, j);
            if (!is_const(c) || !c->i || cnt + c->count > 64) {
                unsupported(mp, idx, n, "mixes constants and activations");
                return;
            }
            memcpy(v + cnt, c->i, (size_t)c->count * sizeof(int64_t));
            cnt += c->count;
        }
        set_ints(out, v, cnt);
        return;
    }
    if (!strcmp(op, "ConstantOfShape") && is_const(x) && x->i) {
        out->kind = V_CONST;
        out->zeros = true;
        out->f = calloc(1, sizeof(float));
        out->count = 0;
        const Onnx__AttributeProto *a = attr(n, "value");
        if (a && a->t) {
            float *f = NULL;
            int64_t *iv = NULL, c = 0;
            char err[128];
            if (onnx_tensor_values(a->t, mp->path, &f, &iv, &c, err, sizeof err) == 0 && c == 1)
                out->zeros = f ? f[0] == 0.0f : iv[0] == 0;
            free(f);
            free(iv);
        }
        return;
    }
    unsupported(mp, idx, n, "only constant Shape/Gather/Unsqueeze/Concat chains are folded");
}

static void map_node(mapper *mp, int idx)
{
    const Onnx__NodeProto *n = mp->g->node[idx];
    const char *op = n->op_type;
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) {
        unsupported(mp, idx, n, "domain '%s' is not read", n->domain);
        return;
    }
    if (!n->n_output || !*n->output[0])
        return;
    value *out = find(mp, n->output[0]), *x = in_v(mp, n, 0);
    for (size_t j = 0; j < n->n_input; j++)
        if (*n->input[j] && find(mp, n->input[j])->kind == V_UNDEF)
            return;   /* an input that could not be mapped: already listed */
    static const struct { const char *op; activation_kind k; double alpha; } acts[] = {
        {"Relu", ACT_RELU, 0}, {"LeakyRelu", ACT_LEAKYRELU, 0.01}, {"Elu", ACT_ELU, 1.0},
        {"Sigmoid", ACT_SIGMOID, 0}, {"Tanh", ACT_TANH, 0}, {"Softplus", ACT_SOFTPLUS, 0},
    };
    for (size_t k = 0; k < sizeof acts / sizeof *acts; k++)
        if (!strcmp(op, acts[k].op)) {
            if (!is_act(x))
                break;
            activation(mp, n, idx, x, out, acts[k].k, attr_f(n, "alpha", acts[k].alpha));
            return;
        }
    if (!strcmp(op, "Softmax") && is_act(x)) {
        int64_t axis = axis_norm(attr_i(n, "axis", mp->opset >= 13 ? -1 : 1), x->ndim);
        if (x->lay != L_FLAT || !(axis == x->ndim - 1 && (x->ndim == 2 || mp->opset < 13)) ||
            (mp->opset < 13 && axis != 1)) {
            unsupported(mp, idx, n, "softmax over axis %lld of a rank-%d tensor: only over the "
                        "features of a flat one", (long long)axis, x->ndim);
            return;
        }
        activation(mp, n, idx, x, out, ACT_SOFTMAX, 0);
        return;
    }
    if (!strcmp(op, "Constant")) {
        const Onnx__AttributeProto *a = attr(n, "value");
        char err[256];
        if (a && a->t && tensor_value(mp, a->t, out, err, sizeof err) != 0)
            unsupported(mp, idx, n, "%s", err);
        else if (a && a->t)
            return;
        else if ((a = attr(n, "value_ints")))
            set_ints(out, a->ints, (int64_t)a->n_ints);
        else if ((a = attr(n, "value_int")))
            set_ints(out, &a->i, 1), out->ndim = 0;
        else
            unsupported(mp, idx, n, "only tensor and integer constants are read");
        return;
    }
    if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
        if (x && x->kind != V_UNDEF && !(is_act(x) && !x->L && out->graph_output))
            alias(out, x);
        else if (x && is_act(x))
            activation(mp, n, idx, x, out, ACT_IDENTITY, 0);
        for (size_t j = 1; j < n->n_output; j++) {
            value *o = *n->output[j] ? find(mp, n->output[j]) : NULL;
            if (o && (o->uses || o->graph_output))
                unsupported(mp, idx, n, "the dropout mask is not mapped");
        }
        return;
    }
    if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) {
        map_dense(mp, n, idx, out, !strcmp(op, "Gemm"));
        return;
    }
    if (!strcmp(op, "Add") || !strcmp(op, "Sum")) {
        map_add(mp, n, idx, out);
        return;
    }
    if ((!strcmp(op, "Flatten") || !strcmp(op, "Reshape")) && is_act(x) && x->lay == L_FLAT) {
        value *s = in_v(mp, n, 1);
        bool flat = !strcmp(op, "Flatten") ? attr_i(n, "axis", 1) == 1 : false;
        if (is_const(s) && s->i && s->count == 2) {
            int64_t b0 = s->i[0], b1 = s->i[1];
            flat = (b0 == SYM || b0 == 0 || b0 == -1 || b0 == x->dims[0]) &&
                   (b1 == -1 || b1 == x->size) && !(b0 == -1 && b1 == -1);
        }
        if (!flat) {
            unsupported(mp, idx, n, "only flattening to [batch, features] is mapped");
            return;
        }
        alias(out, x);
        out->ndim = 2;
        out->dims[1] = x->size;
        return;
    }
    if (!strcmp(op, "Transpose") && is_act(x) && (x->lay == L_BT || x->lay == L_TB)) {
        const Onnx__AttributeProto *p = attr(n, "perm");
        if (!p || p->n_ints != 3 || p->ints[0] != 1 || p->ints[1] != 0 || p->ints[2] != 2) {
            unsupported(mp, idx, n, "only perm [1, 0, 2] (batch <-> time) is mapped");
            return;
        }
        alias(out, x);
        out->lay = x->lay == L_BT ? L_TB : L_BT;
        return;
    }
    if (!strcmp(op, "Squeeze") && is_act(x) && x->lay == L_LSTM_Y) {
        const Onnx__AttributeProto *a = attr(n, "axes");
        value *ax = in_v(mp, n, 1);
        int64_t axis = a && a->n_ints == 1 ? a->ints[0] : is_const(ax) && ax->i && ax->count == 1 ? ax->i[0] : -9;
        if (axis != 1) {
            unsupported(mp, idx, n, "only the direction axis (1) of an LSTM's Y is squeezed");
            return;
        }
        alias(out, x);
        out->lay = L_TB;
        return;
    }
    if (!strcmp(op, "Concat") && is_act(x)) {
        value *ins[16];
        int cnt = 0;
        int64_t total = 0;
        for (size_t j = 0; j < n->n_input && j < 16; j++) {
            value *v = in_v(mp, n, j);
            if (!is_act(v) || v->lay != x->lay) {
                unsupported(mp, idx, n, "mixes constants and activations");
                return;
            }
            ins[cnt++] = v;
            total += v->size;
        }
        int64_t axis = axis_norm(attr_i(n, "axis", 1), x->ndim);
        if (x->lay != L_FLAT || x->ndim != 2 || axis != 1) {
            unsupported(mp, idx, n, "only concatenating the features of flat activations is mapped");
            return;
        }
        layer *L = add_layer(mp, n, idx, &layer_type_merge, ins, cnt, 0);
        set_act(out, L, L_FLAT, total, x);
        out->dims[1] = total;
        return;
    }
    if (!strcmp(op, "LSTM")) {
        map_lstm(mp, n, idx, out);
        return;
    }
    static const char *const conv_ops[] = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                           "GlobalMaxPool", "BatchNormalization", "Pad", NULL};
    for (int k = 0; conv_ops[k]; k++)
        if (!strcmp(op, conv_ops[k])) {
            unsupported(mp, idx, n, "not yet: comes with the convolutional layers");
            return;
        }
    static const char *const fold_ops[] = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat",
                                           "ConstantOfShape", NULL};
    for (int k = 0; fold_ops[k]; k++)
        if (!strcmp(op, fold_ops[k])) {
            fold_shape_ops(mp, n, idx, out);
            return;
        }
    if (!strcmp(op, "Selu") || !strcmp(op, "LogSoftmax")) {
        unsupported(mp, idx, n, "surgery has no %s activation", op);
        return;
    }
    unsupported(mp, idx, n, "no surgery layer for this operator");
}

static int input_layout(mapper *mp, const char *name)
{
    for (size_t k = 0; k < mp->g->n_node; k++) {
        const Onnx__NodeProto *n = mp->g->node[k];
        for (size_t j = 0; j < n->n_input; j++)
            if (!strcmp(n->input[j], name) && (!strcmp(n->op_type, "Transpose") || !strcmp(n->op_type, "LSTM")))
                return !strcmp(n->op_type, "Transpose") ? L_BT : L_TB;
    }
    return L_FLAT;
}

static int add_inputs(mapper *mp)
{
    const Onnx__GraphProto *g = mp->g;
    int errors = 0;
    for (size_t k = 0; k < g->n_input; k++) {
        const Onnx__ValueInfoProto *vi = g->input[k];
        value *v = find(mp, vi->name);
        if (v && v->kind == V_CONST)
            continue;   /* an initializer listed as an input (IR < 4) */
        v = def(mp, vi->name);
        const Onnx__TypeProto__Tensor *tt = vi->type ? vi->type->tensor_type : NULL;
        if (!tt || !tt->shape || tt->shape->n_dim < 2) {
            model_format_error(mp->d, mp->path, "input '%s' has no tensor shape of rank 2 or more",
                               vi->name);
            errors++;
            continue;
        }
        layout lay = (layout)input_layout(mp, vi->name);
        int rank = (int)tt->shape->n_dim;
        if (lay != L_FLAT && rank != 3)
            lay = L_FLAT;
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
            } else {
                size *= dm->dim_value;
            }
        }
        v->kind = V_ACT;
        v->node = vi->name;
        v->lay = lay;
        v->size = size;
        if (model_builder_add_input(mp->b, vi->name, lay == L_FLAT ? INPUT_FEED_FORWARD : INPUT_RECURRENT,
                                    size, NULL, (src_loc){.file = mp->path}) != 0)
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
                ready = !*n->input[j] || find(mp, n->input[j]);
            if (!ready)
                continue;
            for (size_t j = 0; j < n->n_output; j++)
                if (*n->output[j])
                    def(mp, n->output[j]);
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
            if (*n->input[j] && !find(mp, n->input[j]))
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
            value *v = *g->node[k]->input[j] ? find(mp, g->node[k]->input[j]) : NULL;
            if (v)
                v->uses++;
        }
    return 0;
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
        if (find(&mp, g->initializer[k]->name)) {
            model_format_error(d, path, "initializer '%s' is defined twice",
                               g->initializer[k]->name);
            mp.errors++;
            continue;
        }
        value *v = def(&mp, g->initializer[k]->name);
        if (tensor_value(&mp, g->initializer[k], v, err, sizeof err) != 0) {
            model_format_error(d, path, "initializer '%s': %s", v->name, err);
            mp.errors++;
        }
    }
    if (mp.errors || add_inputs(&mp) || node_order(&mp, order) != 0)
        goto out;
    for (size_t k = 0; k < g->n_output; k++) {
        value *v = find(&mp, g->output[k]->name);
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
        value *v = find(&mp, g->output[k]->name);
        if (!is_act(v)) {
            model_format_error(d, path, "graph output '%s' is %s", g->output[k]->name,
                               v ? "a constant" : "defined by no node");
            goto out;
        }
        if (v->L && v->L->type == &layer_type_dense) {
            char key[600];
            snprintf(key, sizeof key, ONNX_META_LAYER "%s.type", v->L->name);
            const char *t = meta(model_proto, key);
            if (!t || !strcmp(t, "output")) {
                v->L->type = v->lay == L_FLAT ? &layer_type_output : &layer_type_rnn_output;
                v->L->loss = v->L->activation == ACT_SOFTMAX ? LOSS_MCXENT : LOSS_MSE;
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
