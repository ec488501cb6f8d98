/* bidirectional.c: the bidirectional layer type (DL4J's Bidirectional wrapper and
 * GravesBidirectionalLSTM, ONNX's bidirectional LSTM): an lstm or graves_lstm of n_out units
 * reading the sequence forward and another reading it backward, their outputs joined by `mode`
 * (concat: forward then backward features; add, mul, average: element-wise); the math of each
 * direction is lstm_cell.c's. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "runtime/nn/layer_options.h"

typedef enum { BI_CONCAT, BI_ADD, BI_MUL, BI_AVERAGE, BI_MODE_COUNT } bi_mode;
static const char *const mode_names[BI_MODE_COUNT] = {"concat", "add", "mul", "average"};
static const char *const cell_names[2] = {"lstm", "graves_lstm"};

static int mode_from_name(const char *s)
{
    for (int k = 0; k < BI_MODE_COUNT; k++)
        if (!strcasecmp(s, mode_names[k]))
            return k;
    return -1;
}

static int cell_from_name(const char *s)
{
    for (int k = 0; k < 2; k++)
        if (!strcasecmp(s, cell_names[k]))
            return k;
    return -1;
}

static const layer_option opt_layer = {
    .name = "layer", .kind = LOPT_ENUM, .names = cell_names, .count = 2,
    .from_name = cell_from_name, .what = "recurrent layer", .def = 0, .write = LOPT_WRITE_ALWAYS,
    .set_rule = LOPT_SET_REPARAMS,
    .doc = "the layer of each direction: lstm or graves_lstm (with peepholes)"};
static const layer_option opt_mode = {
    .name = "mode", .kind = LOPT_ENUM, .names = mode_names, .count = BI_MODE_COUNT,
    .from_name = mode_from_name, .what = "mode", .def = BI_CONCAT, .write = LOPT_WRITE_ALWAYS,
    .set_rule = LOPT_SET_RESHAPES,
    .doc = "how the directions join: concat (2 n_out features, forward first), add, mul or "
           "average"};

static const layer_option *const bidirectional_options[] = {
    &layer_opt_n_in, &layer_opt_n_out, &opt_layer, &opt_mode, &layer_opt_activation,
    &layer_opt_alpha, &layer_opt_has_bias, &layer_opt_forget_gate_bias, NULL};

static int value(const layer_option *o, const layer *L)
{
    double v;
    layer_option_get_values(o, L, &v);
    return (int)v;
}

static bool peephole(const layer *L) { return value(&opt_layer, L) == 1; }
static bi_mode mode_of(const layer *L) { return (bi_mode)value(&opt_mode, L); }

static int bidirectional_infer(layer *L, const act_shape *in, int n_in, act_shape *out,
                               char *msg, size_t msg_len)
{
    if (lstm_infer(L, in, n_in, out, msg, msg_len))
        return -1;
    if (mode_of(L) == BI_CONCAT)
        out->size = 2 * L->n_out;
    return 0;
}

/* The forward direction's W, RW, b, then the backward one's (DL4J's GravesBidirectionalLSTM
 * keys). */
static int bidirectional_param_specs(const layer *L, param_spec *specs)
{
    static const char *const keys[2][3] = {{"WF", "RWF", "bF"}, {"WB", "RWB", "bB"}};
    param_spec one[LAYER_MAX_PARAMS];
    int n = lstm_param_specs(L, one, peephole(L));
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < n; k++) {
            specs[d * n + k] = one[k];
            specs[d * n + k].key = keys[d][k];
        }
    return 2 * n;
}

/* The two directions run as layers of the cell's type that borrow this layer's parameters;
 * the buffers keep what backward needs. */
typedef struct bi_state {
    layer *dir[2];
    tensor xr, yf, yr, dy, dyr, dxr;
    float *mask_r;
    size_t mask_cap;
} bi_state;

static void bidirectional_free_state(layer *L)
{
    bi_state *s = L->state;
    if (!s)
        return;
    for (int d = 0; d < 2; d++)
        layer_free(s->dir[d]);
    tensor *all[] = {&s->xr, &s->yf, &s->yr, &s->dy, &s->dyr, &s->dxr};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        tensor_release(all[k]);
    free(s->mask_r);
    free(s);
    L->state = NULL;
}

/* The state with both directions in step with L (its cell type, sizes, settings and the current
 * parameter data). NULL when memory runs out. */
static bi_state *state_get(layer *L)
{
    const layer_type *cell = peephole(L) ? &layer_type_graves_lstm : &layer_type_lstm;
    bi_state *s = L->state;
    if (s && (!s->dir[0] || !s->dir[1] || s->dir[0]->type != cell))
        bidirectional_free_state(L);
    if (!L->state) {
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        L->state = s;
        for (int d = 0; d < 2; d++)
            if (!(s->dir[d] = layer_new(cell, L->name)))
                return NULL;
    }
    s = L->state;
    const int per = L->n_params / 2;
    for (int d = 0; d < 2; d++) {
        layer *D = s->dir[d];
        D->n_in = L->n_in;
        D->n_out = L->n_out;
        D->activation = L->activation;
        D->alpha = L->alpha;
        D->has_bias = L->has_bias;
        D->n_params = per;
        for (int k = 0; k < per; k++) {
            D->params[k] = L->params[d * per + k];
            D->params[k].borrowed = true;
            D->params[k].parts = NULL;
        }
    }
    return s;
}

static int bidirectional_forward(layer *L, const fwd_ctx *c)
{
    bi_state *s = state_get(L);
    const tensor *x = c->in[0];
    const int64_t T = x->shape[0], B = x->shape[1], n = L->n_out;
    if (!s || lstm_tensor_like(&s->xr, T, B, x->shape[2]) || lstm_tensor_like(&s->yf, T, B, n) ||
        lstm_tensor_like(&s->yr, T, B, n))
        return -1;
    const bool pp = peephole(L);
    fwd_ctx cf = *c;
    cf.out = &s->yf;
    if (lstm_forward(s->dir[0], &cf, pp))
        return -1;
    /* The backward direction reads the reversed sequence (and mask), from zero state. */
    lstm_reverse_time(x, &s->xr);
    const float *mask_r = NULL;
    if (c->mask) {
        const size_t TB = (size_t)(T * B);
        if (s->mask_cap < TB) {
            float *p = realloc(s->mask_r, TB * sizeof *p);
            if (!p)
                return -1;
            s->mask_r = p;
            s->mask_cap = TB;
        }
        lstm_reverse_mask(c->mask, T, B, s->mask_r);
        mask_r = s->mask_r;
    }
    const tensor *xr[1] = {&s->xr};
    fwd_ctx cb = *c;
    cb.in = xr;
    cb.out = &s->yr;
    cb.mask = mask_r;
    cb.carry_state = false;
    if (lstm_forward(s->dir[1], &cb, pp))
        return -1;
    const bi_mode mode = mode_of(L);
    float *y = c->out->data;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            const float *f = s->yf.data + (t * B + b) * n;
            const float *r = s->yr.data + ((T - 1 - t) * B + b) * n;
            float *o = y + (t * B + b) * (mode == BI_CONCAT ? 2 * n : n);
            for (int64_t j = 0; j < n; j++) {
                switch (mode) {
                case BI_CONCAT: o[j] = f[j]; o[n + j] = r[j]; break;
                case BI_ADD: o[j] = f[j] + r[j]; break;
                case BI_MUL: o[j] = f[j] * r[j]; break;
                default: o[j] = 0.5f * (f[j] + r[j]); break;
                }
            }
        }
    return 0;
}

static int bidirectional_backward(layer *L, const bwd_ctx *c)
{
    bi_state *s = L->state;
    const tensor *x = c->in[0];
    const int64_t T = x->shape[0], B = x->shape[1], F = x->shape[2], n = L->n_out;
    if (!s || lstm_tensor_like(&s->dy, T, B, n) || lstm_tensor_like(&s->dyr, T, B, n))
        return -1;
    /* dL/d(forward output) into dy, dL/d(backward output) in its own (reversed) time into dyr. */
    const bi_mode mode = mode_of(L);
    const float *dout = c->dout->data;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            const int64_t rt = (T - 1 - t) * B + b;
            const float *g = dout + (t * B + b) * (mode == BI_CONCAT ? 2 * n : n);
            const float *f = s->yf.data + (t * B + b) * n, *r = s->yr.data + rt * n;
            float *df = s->dy.data + (t * B + b) * n, *dr = s->dyr.data + rt * n;
            for (int64_t j = 0; j < n; j++) {
                switch (mode) {
                case BI_CONCAT: df[j] = g[j]; dr[j] = g[n + j]; break;
                case BI_ADD: df[j] = dr[j] = g[j]; break;
                case BI_MUL: df[j] = g[j] * r[j]; dr[j] = g[j] * f[j]; break;
                default: df[j] = dr[j] = 0.5f * g[j]; break;
                }
            }
        }
    const bool pp = peephole(L);
    const int per = L->n_params / 2;
    tensor *din = c->din ? c->din[0] : NULL;
    bwd_ctx bf = *c;
    bf.out = &s->yf;
    bf.dout = &s->dy;
    bf.labels = NULL;
    if (lstm_backward(s->dir[0], &bf, pp))
        return -1;
    tensor *dxr = NULL;
    if (din) {
        if (lstm_tensor_like(&s->dxr, T, B, F))
            return -1;
        memset(s->dxr.data, 0, (size_t)s->dxr.size * sizeof(float));
        dxr = &s->dxr;
    }
    const tensor *xr[1] = {&s->xr};
    bwd_ctx bb = *c;
    bb.in = xr;
    bb.out = &s->yr;
    bb.dout = &s->dyr;
    bb.din = &dxr;
    bb.grads = c->grads ? c->grads + per : NULL;
    bb.labels = NULL;
    bb.mask = c->mask ? s->mask_r : NULL;
    if (lstm_backward(s->dir[1], &bb, pp))
        return -1;
    if (din)
        lstm_add_reversed(&s->dxr, din);
    return 0;
}

/* With concat the output holds the units twice: forward at [0, n), backward at [n, 2n). */
static int64_t bidirectional_out_copies(const layer *L)
{
    return mode_of(L) == BI_CONCAT ? 2 : 1;
}

/* Unit j of both directions: column j of each gate block of W and RW, row j of RW with its
 * peephole columns (graves_lstm), b[j] of each block (the second the forget gate); an input
 * unit: row j of both W. */
static const unit_layout bidirectional_units = {
    .n_params = 6,
    .params = {{.key = "WF", .col_blocks = 4, .forget_gate_block = -1},
               {.key = "RWF", .col_blocks = 4, .owns_row = true, .tail_cols = -1,
                .forget_gate_block = -1},
               {.key = "bF", .col_blocks = 4, .forget_gate_block = 1},
               {.key = "WB", .col_blocks = 4, .forget_gate_block = -1},
               {.key = "RWB", .col_blocks = 4, .owns_row = true, .tail_cols = -1,
                .forget_gate_block = -1},
               {.key = "bB", .col_blocks = 4, .forget_gate_block = 1}},
    .input_key = "WF",
    .input_key2 = "WB",
    .input_rows = 1,
    .out_copies = bidirectional_out_copies,
};

const layer_type layer_type_bidirectional = {
    .name = "bidirectional",
    .flags = LT_RECURRENT | LT_WIDENABLE | LT_HAS_ACTIVATION,
    .options = bidirectional_options,
    .default_activation = ACT_TANH,
    .infer = bidirectional_infer,
    .param_specs = bidirectional_param_specs,
    .forward = bidirectional_forward,
    .backward = bidirectional_backward,
    .free_state = bidirectional_free_state,
    .units = &bidirectional_units,
};
