/* conv_layer.c: the options, input check, forward and backward the convolutional layer types
 * share (one convolution, or a depthwise one followed by a pointwise one), with activation. */
#include "runtime/nn/kernels/conv_layer.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

/* ---- options (DL4J's defaults: a 5 x 5 kernel, stride 1, ConvolutionMode.Truncate) ---- */

#define CONV_MAX_SIZE (1 << 20)

const layer_option conv_opt_kernel = {
    .name = "kernel", .kind = LOPT_INT_LIST, .len = 2, .items = "[height, width]", .lo = 1,
    .hi = CONV_MAX_SIZE, .defs = {5, 5}, .write = LOPT_WRITE_ALWAYS,
    .set_rule = LOPT_SET_REPARAMS, .doc = "the kernel's height and width"};
const layer_option conv_opt_stride = {
    .name = "stride", .kind = LOPT_INT_LIST, .len = 2, .items = "[height, width]", .lo = 1,
    .hi = CONV_MAX_SIZE, .defs = {1, 1}, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_RESHAPES, .doc = "the step between windows, down and across"};
const layer_option conv_opt_padding = {
    .name = "padding", .kind = LOPT_PADDING, .hi = CONV_MAX_SIZE, .defs = {PAD_VALID},
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_RESHAPES,
    .doc = "zeros around the input: same (out = ceil(in / stride), the odd cell at the bottom "
           "and right), valid (none) or explicit sides"};
const layer_option conv_opt_dilation = {
    .name = "dilation", .kind = LOPT_INT_LIST, .len = 2, .items = "[height, width]", .lo = 1,
    .hi = CONV_MAX_SIZE, .defs = {1, 1}, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_RESHAPES, .doc = "the step between kernel taps (1: adjacent cells)"};
const layer_option conv_opt_groups = {
    .name = "groups", .kind = LOPT_INTEGER, .lo = 1, .hi = CONV_MAX_SIZE, .def = 1,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_REPARAMS,
    .doc = "channel groups: each filter sees n_in / groups input channels; both n_in and n_out "
           "divisible by it"};
const layer_option conv_opt_multiplier = {
    .name = "multiplier", .kind = LOPT_INTEGER, .lo = 1, .hi = CONV_MAX_SIZE, .def = 1,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_REPARAMS,
    .doc = "filters per input channel of the depthwise convolution"};

/* ---- geometry ---- */

static void get_ints(const layer *L, const layer_option *o, int64_t *out)
{
    double v[LOPT_MAX_VALUES];
    layer_option_get_values(o, L, v);
    for (int i = 0; i < layer_option_width(o); i++)
        out[i] = (int64_t)v[i];
}

int64_t conv_layer_int(const layer *L, const layer_option *o)
{
    int64_t v;
    get_ints(L, o, &v);
    return v;
}

int conv_layer_geom(layer *L, const char *type_name, const act_shape *in, int n_in,
                    int64_t c_out, int64_t groups, conv_geom *g, char *msg, size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "%s takes one input, got %d", type_name, n_in);
    if (in[0].kind != SHAPE_CNN || in[0].c < 1)
        return layer_msg(msg, msg_len, "%s needs a convolutional input [batch, channels, height, "
                         "width]; its input is %s [batch, %lld]", type_name,
                         shape_kind_name(in[0].kind), (long long)in[0].size);
    if (L->n_in_given && L->n_in != in[0].c)
        return layer_msg(msg, msg_len, "expects %lld input channels (n_in), '%s' gives %lld "
                         "(%lld x %lld x %lld, C x H x W)", (long long)L->n_in,
                         L->n_inputs > 0 ? L->inputs[0] : "its input", (long long)in[0].c,
                         (long long)in[0].c, (long long)in[0].h, (long long)in[0].w);
    L->n_in = in[0].c;
    int64_t k[2], s[2], d[2], pad[PADDING_VALUES];
    get_ints(L, &conv_opt_kernel, k);
    get_ints(L, &conv_opt_stride, s);
    get_ints(L, &conv_opt_dilation, d);
    get_ints(L, &conv_opt_padding, pad);
    *g = (conv_geom){.c_in = in[0].c, .h_in = in[0].h, .w_in = in[0].w, .c_out = c_out,
                     .kh = k[0], .kw = k[1], .sh = s[0], .sw = s[1], .dh = d[0], .dw = d[1],
                     .groups = groups};
    if (in[0].c % groups || c_out % groups)
        return layer_msg(msg, msg_len, "groups = %lld must divide both the %lld input channels "
                         "and n_out = %lld", (long long)groups, (long long)in[0].c,
                         (long long)c_out);
    return conv_geom_complete(g, (int)pad[0], pad + 1, msg, msg_len);
}

int conv_layer_check_activation(const layer *L, const char *type_name, char *msg, size_t n)
{
    if (act_is_row_wise(L->activation))
        return layer_msg(msg, n, "%s: %s over convolutional activations is not supported",
                         type_name, activation_names[L->activation]);
    return 0;
}

/* ---- forward and backward ---- */

typedef struct conv_state {
    tensor col;     /* im2col scratch */
    tensor mid;     /* the output of stage 0 when there are two stages */
    tensor dmid;
    tensor z;       /* pre-activation, kept when the activation's backward needs it */
    tensor dz;
} conv_state;

static conv_state *state_get(layer *L)
{
    if (!L->state)
        L->state = calloc(1, sizeof(conv_state));
    return L->state;
}

void conv_free_state(layer *L)
{
    conv_state *s = L->state;
    if (!s)
        return;
    tensor_release(&s->col);
    tensor_release(&s->mid);
    tensor_release(&s->dmid);
    tensor_release(&s->z);
    tensor_release(&s->dz);
    free(s);
    L->state = NULL;
}

static int64_t out_count(const conv_geom *g) { return g->c_out * g->h_out * g->w_out; }
static int64_t in_count(const conv_geom *g) { return g->c_in * g->h_in * g->w_in; }

static int64_t col_size(const conv_plan *p, int64_t batch)
{
    int64_t n = 1;
    for (int s = 0; s < p->n_stages; s++) {
        int64_t k = conv_scratch_size(&p->stage[s], batch);
        n = k > n ? k : n;
    }
    return n;
}

static const float *bias_of(const layer *L, const conv_plan *p)
{
    return L->has_bias ? L->params[p->n_stages].data : NULL;
}

int conv_layer_forward(layer *L, const conv_plan *p, const fwd_ctx *c)
{
    const conv_geom *last = &p->stage[p->n_stages - 1];
    const int64_t batch = c->in[0]->size / in_count(&p->stage[0]);
    conv_state *s = state_get(L);
    if (!s || scratch2(&s->col, 1, col_size(p, batch)))
        return -1;
    if (p->n_stages > 1 && scratch2(&s->mid, batch, out_count(&p->stage[0])))
        return -1;
    float *y = c->out->data;
    const float *x = c->in[0]->data;
    const int64_t rows = batch * last->c_out, cols = last->h_out * last->w_out;
    conv_act act = {.kind = L->activation, .params = layer_act_params(L)};
    if (c->training && act_backward_needs_x(L->activation)) {
        if (scratch2(&s->z, rows, cols))
            return -1;
        act.z = s->z.data;
    }
    for (int st = 0; st < p->n_stages; st++) {
        bool is_last = st == p->n_stages - 1;
        float *to = is_last ? y : s->mid.data;
        conv_forward(&p->stage[st], batch, x, L->params[st].data, is_last ? bias_of(L, p) : NULL,
                     is_last ? &act : NULL, to, s->col.data);
        x = to;
    }
    return 0;
}

int conv_layer_backward(layer *L, const conv_plan *p, const bwd_ctx *c)
{
    const conv_geom *last = &p->stage[p->n_stages - 1];
    const int64_t batch = c->in[0]->size / in_count(&p->stage[0]);
    const int64_t rows = batch * last->c_out, cols = last->h_out * last->w_out;
    conv_state *s = state_get(L);
    if (!s || scratch2(&s->dz, rows, cols) || scratch2(&s->col, 1, col_size(p, batch)))
        return -1;
    act_backward(L->activation, layer_act_params(L), s->z.data, c->out->data, c->dout->data,
                 s->dz.data, rows, cols);
    float *din = c->din && c->din[0] ? c->din[0]->data : NULL;
    const float *dy = s->dz.data;
    for (int st = p->n_stages - 1; st >= 0; st--) {
        const conv_geom *g = &p->stage[st];
        const float *x = st == 0 ? c->in[0]->data : s->mid.data;
        float *dx = din;
        if (st > 0) {
            if (scratch2(&s->dmid, batch, in_count(g)))
                return -1;
            memset(s->dmid.data, 0, (size_t)s->dmid.size * sizeof(float));
            dx = s->dmid.data;
        }
        float *dW = c->grads ? c->grads[st].data : NULL;
        float *db = c->grads && L->has_bias && st == p->n_stages - 1
                        ? c->grads[p->n_stages].data : NULL;
        if (!dx && !dW && !db)
            break;
        conv_backward(g, batch, x, L->params[st].data, dy, dx, dW, db, s->col.data);
        dy = s->dmid.data;
    }
    return 0;
}
