/* batch_norm.c: batch normalisation per channel (convolutional input) or per feature
 * (feed-forward), as DL4J's BatchNormalization: y = gamma (x - mean) / sqrt(var + eps) + beta
 * with the batch's statistics in training (the running ones updated as
 * decay * running + (1 - decay) * batch), the running ones in inference and when frozen. */
#include <math.h>
#include <stdlib.h>

#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

static const layer_option opt_eps = {
    .name = "eps", .kind = LOPT_NUMBER, .range = RANGE_GT0, .def = 1e-5,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_ALLOWED,
    .doc = "added to the variance before its square root"};
static const layer_option opt_decay = {
    .name = "decay", .kind = LOPT_NUMBER, .range = RANGE_UNIT_OPEN_RIGHT, .def = 0.9,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_ALLOWED,
    .doc = "running = decay * running + (1 - decay) * batch, per training step (PyTorch's "
           "momentum is 1 - decay)"};
static const layer_option opt_lock = {
    .name = "lock_gamma_beta", .kind = LOPT_BOOL, .def = 0, .write = LOPT_WRITE_CHANGED,
    .set_rule = LOPT_SET_REPARAMS,
    .doc = "gamma and beta are the constants below, not parameters"};
static const layer_option opt_gamma = {
    .name = "gamma", .kind = LOPT_NUMBER, .range = RANGE_ANY, .def = 1.0,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_ALLOWED,
    .doc = "the initial gamma (the constant one when locked)"};
static const layer_option opt_beta = {
    .name = "beta", .kind = LOPT_NUMBER, .range = RANGE_ANY, .def = 0.0,
    .write = LOPT_WRITE_CHANGED, .set_rule = LOPT_SET_ALLOWED,
    .doc = "the initial beta (the constant one when locked)"};

static const layer_option *const batch_norm_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out_inferred, &opt_eps, &opt_decay, &opt_lock,
    &opt_gamma, &opt_beta, NULL};

static double value(const layer_option *o, const layer *L)
{
    double v;
    layer_option_get_values(o, L, &v);
    return v;
}

static bool locked(const layer *L) { return value(&opt_lock, L) != 0; }

static int batch_norm_param_specs(const layer *L, param_spec *ps)
{
    const int64_t n = L->n_out;
    int k = 0;
    if (!locked(L)) {
        ps[k++] = (param_spec){.key = "gamma", .role = PARAM_WEIGHT, .ndim = 1, .shape = {n},
                               .fan_in = n, .fan_out = n, .const_init = true,
                               .state_init = value(&opt_gamma, L)};
        ps[k++] = (param_spec){.key = "beta", .role = PARAM_WEIGHT, .ndim = 1, .shape = {n},
                               .fan_in = n, .fan_out = n, .const_init = true,
                               .state_init = value(&opt_beta, L)};
    }
    ps[k++] = (param_spec){.key = "mean", .role = PARAM_STATE, .ndim = 1, .shape = {n},
                           .state_init = 0.0};
    ps[k++] = (param_spec){.key = "var", .role = PARAM_STATE, .ndim = 1, .shape = {n},
                           .state_init = 1.0};
    return k;
}

/* Each unit (channel or feature) owns element j of every parameter, and follows its input's
 * unit j: a new one starts at gamma 1, beta 0, mean 0, var 1 (a replica copies its source's). */
static const unit_layout batch_norm_units = {
    .n_params = 4,
    .params = {{.key = "gamma", .col_blocks = 1, .forget_gate_block = -1},
               {.key = "beta", .col_blocks = 1, .forget_gate_block = -1},
               {.key = "mean", .col_blocks = 1, .forget_gate_block = -1},
               {.key = "var", .col_blocks = 1, .forget_gate_block = -1}},
    .flow = UNITS_FOLLOW,
    .n_follow = 4,
    .follow = {"gamma", "beta", "mean", "var"},
};

typedef struct batch_norm_state {
    float *xhat;        /* the normalised input of the last training forward */
    float *inv_std;     /* per unit */
    int64_t size, n;
    bool batch_stats;   /* the forward used the batch's statistics */
} batch_norm_state;

static int batch_norm_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                            size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "batch_norm takes one input, got %d", n_in);
    if (in[0].kind == SHAPE_RNN)
        return layer_msg(msg, msg_len, "batch_norm needs feed-forward or convolutional input, "
                         "got recurrent");
    L->n_in = L->n_out = in[0].kind == SHAPE_CNN ? in[0].c : in[0].size;
    *out = in[0];
    return 0;
}

static void batch_norm_free_state(layer *L)
{
    batch_norm_state *s = L->state;
    if (s) {
        free(s->xhat);
        free(s->inv_std);
    }
    free(s);
    L->state = NULL;
}

/* The layout: batch blocks of n units of `plane` consecutive values each. */
typedef struct bn_dims {
    int64_t batch, n, plane;
} bn_dims;

static bn_dims dims_of(const layer *L, int64_t size)
{
    bn_dims d = {.n = L->n_out, .plane = L->in_shape.kind == SHAPE_CNN ?
                                             L->in_shape.h * L->in_shape.w : 1};
    d.batch = size / (d.n * d.plane);
    return d;
}

#define AT(d, b, j, i) (((b) * (d).n + (j)) * (d).plane + (i))

static int ensure_state(layer *L, int64_t size, int64_t n)
{
    if (!L->state && !(L->state = calloc(1, sizeof(batch_norm_state))))
        return -1;
    batch_norm_state *s = L->state;
    if (s->size != size || s->n != n) {
        free(s->xhat);
        free(s->inv_std);
        s->size = s->n = 0;
        s->xhat = malloc((size_t)size * sizeof *s->xhat);
        s->inv_std = malloc((size_t)n * sizeof *s->inv_std);
        if (!s->xhat || !s->inv_std)
            return -1;
        s->size = size;
        s->n = n;
    }
    return 0;
}

static int batch_norm_forward(layer *L, const fwd_ctx *c)
{
    const bool lk = locked(L);
    const int base = lk ? 0 : 2;
    tensor *mean_t = &L->params[base], *var_t = &L->params[base + 1];
    const float *x = c->in[0]->data;
    float *y = c->out->data;
    const bn_dims d = dims_of(L, c->in[0]->size);
    const double eps = value(&opt_eps, L), decay = value(&opt_decay, L);
    const double gamma_c = value(&opt_gamma, L), beta_c = value(&opt_beta, L);
    const bool batch_stats = c->training && !L->frozen;
    const int64_t m = d.batch * d.plane;
    batch_norm_state *s = NULL;
    if (c->training) {
        if (ensure_state(L, c->in[0]->size, d.n))
            return -1;
        s = L->state;
        s->batch_stats = batch_stats;
    }
    if (batch_stats && (tensor_make_owned(mean_t) || tensor_make_owned(var_t)))
        return -1;
    for (int64_t j = 0; j < d.n; j++) {
        double mu, var;
        if (batch_stats) {
            double sum = 0.0, sq = 0.0;
            for (int64_t b = 0; b < d.batch; b++)
                for (int64_t i = 0; i < d.plane; i++)
                    sum += x[AT(d, b, j, i)];
            mu = m > 0 ? sum / (double)m : 0.0;
            for (int64_t b = 0; b < d.batch; b++)
                for (int64_t i = 0; i < d.plane; i++) {
                    double e = x[AT(d, b, j, i)] - mu;
                    sq += e * e;
                }
            var = m > 0 ? sq / (double)m : 0.0;     /* biased, as DL4J's running update too */
            mean_t->data[j] = (float)(decay * mean_t->data[j] + (1.0 - decay) * mu);
            var_t->data[j] = (float)(decay * var_t->data[j] + (1.0 - decay) * var);
        } else {
            mu = mean_t->data[j];
            var = var_t->data[j];
        }
        const double inv = 1.0 / sqrt(var + eps);
        const double g = lk ? gamma_c : L->params[0].data[j];
        const double be = lk ? beta_c : L->params[1].data[j];
        if (s)
            s->inv_std[j] = (float)inv;
        for (int64_t b = 0; b < d.batch; b++)
            for (int64_t i = 0; i < d.plane; i++) {
                const int64_t at = AT(d, b, j, i);
                const double xh = (x[at] - mu) * inv;
                if (s)
                    s->xhat[at] = (float)xh;
                y[at] = (float)(g * xh + be);
            }
    }
    return 0;
}

static int batch_norm_backward(layer *L, const bwd_ctx *c)
{
    batch_norm_state *s = L->state;
    if (!s || s->size != c->dout->size)
        return -1;   /* backward without a training forward */
    const bool lk = locked(L);
    const bn_dims d = dims_of(L, c->dout->size);
    const double gamma_c = value(&opt_gamma, L);
    const float *dy = c->dout->data;
    float *dx = c->din && c->din[0] ? c->din[0]->data : NULL;
    const double m = (double)(d.batch * d.plane);
    for (int64_t j = 0; j < d.n; j++) {
        double sum_dy = 0.0, sum_dy_xh = 0.0;
        for (int64_t b = 0; b < d.batch; b++)
            for (int64_t i = 0; i < d.plane; i++) {
                const int64_t at = AT(d, b, j, i);
                sum_dy += dy[at];
                sum_dy_xh += (double)dy[at] * s->xhat[at];
            }
        if (c->grads && !lk) {
            c->grads[0].data[j] += (float)sum_dy_xh;
            c->grads[1].data[j] += (float)sum_dy;
        }
        if (!dx)
            continue;
        const double g = lk ? gamma_c : L->params[0].data[j];
        const double k = g * s->inv_std[j];
        for (int64_t b = 0; b < d.batch; b++)
            for (int64_t i = 0; i < d.plane; i++) {
                const int64_t at = AT(d, b, j, i);
                if (s->batch_stats)
                    dx[at] += (float)(k * (dy[at] - sum_dy / m - s->xhat[at] * sum_dy_xh / m));
                else
                    dx[at] += (float)(k * dy[at]);
            }
    }
    return 0;
}

const layer_type layer_type_batch_norm = {
    .name = "batch_norm",
    .flags = LT_BATCH_STATS | LT_CHANNELS_THROUGH | LT_CHANNELS_IN,
    .options = batch_norm_options,
    .infer = batch_norm_infer,
    .param_specs = batch_norm_param_specs,
    .forward = batch_norm_forward,
    .backward = batch_norm_backward,
    .free_state = batch_norm_free_state,
    .units = &batch_norm_units,
};
