/* lstm_cell.c: LSTM forward and backpropagation through time over time-major [T, B, F] data,
 * with DL4J's gate layout, optional peepholes, masks and carried state: cblas_sgemm for every
 * matrix product (the input projection of all steps, each step's recurrent product, the weight
 * and input gradients) and fused, auto-vectorisable gate loops in plain C. */
#include "runtime/nn/kernels/lstm_cell.h"

#include <assert.h>
#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/nn/kernels/activation.h"
#include "runtime/nn/layer_options.h"
#include "runtime/base/vectorize.h"

/* ---- scalar math ----------------------------------------------------------------------------
 * Written so that a compiler vectorises the gate loops below at its ordinary optimisation level:
 * no branches (selections are bit masks built from comparisons, vec_select in vectorize.h, which
 * a vectoriser turns into lane masks even where an arm is arithmetic) and no library calls
 * except for softplus. exp is Cephes' expf (range reduction by ln 2, degree-6 polynomial, about
 * 1 ulp), so the sigmoid and tanh built on it stay within 2e-7 absolute of the exact values; a
 * NaN argument gives NaN. */

#define INLINE static inline __attribute__((always_inline))

static_assert(sizeof(float) == sizeof(uint32_t), "float is 32 bits (IEEE binary32)");

/* x limited to [lo, hi]; NaN stays NaN */
INLINE float fclamp(float x, float lo, float hi)
{
    x = vec_select(x < lo, lo, x);
    return vec_select(x > hi, hi, x);
}

INLINE float fexp(float x)
{
    x = fclamp(x, -87.0f, 88.0f);
    /* v = 1.5 * 2^23 + r with r = round(x / ln 2): adding and subtracting the magic number
     * rounds to integer, and r sits in the low bits of v's mantissa */
    const float magic = 12582912.0f;
    const float v = x * 1.44269504088896341f + magic, r = v - magic;
    float g = x - r * 0.693359375f - r * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * g + 1.3981999507e-3f;
    p = p * g + 8.3334519073e-3f;
    p = p * g + 4.1665795894e-2f;
    p = p * g + 1.6666665459e-1f;
    p = p * g + 5.0000001201e-1f;
    p = p * (g * g) + g + 1.0f;
    /* 2^r from r's bits: r is an integer in [-126, 127] (for a NaN x, p is NaN already) */
    uint32_t vb;
    memcpy(&vb, &v, sizeof vb);
    const uint32_t e = (vb - 0x4B400000u + 127u) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

INLINE float fsigmoid(float x)
{
    return 1.0f / (1.0f + fexp(-x));
}

/* tanh(x) = 1 - 2 / (1 + exp(2x)) */
INLINE float ftanh(float x)
{
    return 1.0f - 2.0f / (1.0f + fexp(x + x));
}

/* act(x) for the layer activation (one of LSTM_ACTIVATIONS: lstm_infer refuses the others). Called with
 * a constant k, so the switch folds away. */
INLINE float fact(activation_kind k, float alpha, float x)
{
    switch (k) {
    case ACT_TANH:
        return ftanh(x);
    case ACT_IDENTITY:
        return x;
    case ACT_RELU:
        return vec_select(x > 0.0f, x, 0.0f);
    case ACT_LEAKYRELU:
        return vec_select(x > 0.0f, x, x * alpha);
    case ACT_ELU:
        return vec_select(x > 0.0f, x, (fexp(x) - 1.0f) * alpha);
    case ACT_SIGMOID:
        return fsigmoid(x);
    case ACT_HARDSIGMOID:
        return fclamp(x * 0.2f + 0.5f, 0.0f, 1.0f);
    case ACT_SOFTPLUS:
        /* log(1 + e^x), linear above 20, as activation.c */
        return x > 20.0f ? x : log1pf(expf(x));
    case ACT_SOFTSIGN:
        return x / (1.0f + fabsf(x));
    default:
        assert(!"activation refused by lstm_infer");
        return x;
    }
}

/* f'(x) computed from y = f(x) (valid for every activation lstm_infer accepts, alpha > 0). */
INLINE float fdact(activation_kind k, float alpha, float y)
{
    switch (k) {
    case ACT_TANH:
        return 1.0f - y * y;
    case ACT_IDENTITY:
        return 1.0f;
    case ACT_RELU:
        return vec_select(y > 0.0f, 1.0f, 0.0f);
    case ACT_LEAKYRELU:
        return vec_select(y > 0.0f, 1.0f, alpha);
    case ACT_ELU:
        return vec_select(y > 0.0f, 1.0f, y + alpha);
    case ACT_SIGMOID:
        return y * (1.0f - y);
    case ACT_HARDSIGMOID:
        return vec_select((y > 0.0f) & (y < 1.0f), 0.2f, 0.0f);
    case ACT_SOFTPLUS:
        return -expm1f(-y);
    case ACT_SOFTSIGN:
        return (1.0f - fabsf(y)) * (1.0f - fabsf(y));
    default:
        assert(!"activation refused by lstm_infer");
        return 1.0f;
    }
}

/* ---- gate loops -----------------------------------------------------------------------------
 * One time step for all B examples after the step's matrix product. Each combination of
 * activation and peepholes has its own row functions (instantiated by ROW_DEFS below), so nothing
 * is decided per element; their loops over the units run on restrict-qualified parameters in
 * blocks of 16 (then one of 8) with a constant trip count, which a vectoriser takes even at -O2's
 * cost model, plus a scalar remainder. Each row function is built for several instruction sets
 * (VEC_CLONES, vectorize.h), so a block of 16 units is four SSE vectors, two AVX2 vectors or one
 * AVX-512 vector, with bit-identical results. */

#define LSTM_ACTIVATIONS(X) \
    X(ACT_TANH) X(ACT_IDENTITY) X(ACT_RELU) X(ACT_LEAKYRELU) X(ACT_ELU) X(ACT_SIGMOID) \
    X(ACT_HARDSIGMOID) X(ACT_SOFTPLUS) X(ACT_SOFTSIGN)

typedef struct cell_args {
    int64_t n;
    activation_kind act;
    float alpha;
    const float *bias;              /* [4n] (zeros when the layer has none) */
    const float *pf, *po, *pi;      /* peepholes [n] each, or NULL */
} cell_args;

/* Forward of one example (row) at one step. za..zi [n] (the gate blocks of the row's z) hold the
 * pre-activations without bias and receive the gates a, f, o, i (kept for backward); ba..bi:
 * the bias blocks; pf, po, pi: peepholes (NULL without); cp: c[t-1]; writes c[t] to cn, h[t] to
 * h, act(c[t]) to ac. */
#define FWD_ROW_PARAMS                                                                          \
    int64_t n, float alpha, float *restrict za, float *restrict zf, float *restrict zo,        \
        float *restrict zi, const float *restrict ba, const float *restrict bf,               \
        const float *restrict bo, const float *restrict bi, const float *restrict pf,          \
        const float *restrict po, const float *restrict pi, const float *restrict cp,          \
        float *restrict cn, float *restrict h, float *restrict ac
#define FWD_ROW_ARGS n, alpha, za, zf, zo, zi, ba, bf, bo, bi, pf, po, pi, cp, cn, h, ac
typedef void fwd_row_fn(FWD_ROW_PARAMS);

/* Unit k of the row. */
INLINE void fwd_unit(activation_kind act, bool peep, int64_t k, FWD_ROW_PARAMS)
{
    (void)n;
    const float c0 = cp[k];
    float f = zf[k] + bf[k], i = zi[k] + bi[k], o = zo[k] + bo[k];
    if (peep) {
        f += pf[k] * c0;
        i += pi[k] * c0;
    }
    const float a = fact(act, alpha, za[k] + ba[k]);
    f = fsigmoid(f);
    i = fsigmoid(i);
    const float c1 = f * c0 + i * a;
    if (peep)
        o += po[k] * c1;
    o = fsigmoid(o);
    const float act_c = fact(act, alpha, c1);
    cn[k] = c1;
    h[k] = o * act_c;
    ac[k] = act_c;
    za[k] = a;
    zf[k] = f;
    zo[k] = o;
    zi[k] = i;
}

INLINE void fwd_row(activation_kind act, bool peep, FWD_ROW_PARAMS)
{
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int64_t j = 0; j < 16; j++)
            fwd_unit(act, peep, k + j, FWD_ROW_ARGS);
    if (k + 8 <= n) {
        for (int64_t j = 0; j < 8; j++)
            fwd_unit(act, peep, k + j, FWD_ROW_ARGS);
        k += 8;
    }
    for (; k < n; k++)
        fwd_unit(act, peep, k, FWD_ROW_ARGS);
}

/* Backward of one row at one step. za..zi hold the gates a, f, o, i and receive dz; cp, cc:
 * c[t-1], c[t]; ac: act(c[t]); dy: dL/dy[t]; dhr: dL/dh[t] through the recurrence; dc: in
 * dL/dc[t] from step t+1, out dL/dc[t-1]; dpf, dpo, dpi: peephole gradients (added to; NULL
 * without peepholes). */
#define BWD_ROW_PARAMS                                                                          \
    int64_t n, float alpha, float *restrict za, float *restrict zf, float *restrict zo,        \
        float *restrict zi, const float *restrict pf, const float *restrict po,               \
        const float *restrict pi, const float *restrict cp, const float *restrict cc,          \
        const float *restrict ac, const float *restrict dy, const float *restrict dhr,         \
        float *restrict dc, float *restrict dpf, float *restrict dpo, float *restrict dpi
#define BWD_ROW_ARGS n, alpha, za, zf, zo, zi, pf, po, pi, cp, cc, ac, dy, dhr, dc, dpf, dpo, dpi
typedef void bwd_row_fn(BWD_ROW_PARAMS);

INLINE void bwd_unit(activation_kind act, bool peep, int64_t k, BWD_ROW_PARAMS)
{
    (void)n;
    const float a = za[k], f = zf[k], o = zo[k], i = zi[k];
    const float dh = dy[k] + dhr[k], act_c = ac[k], c0 = cp[k];
    float dcv = dc[k];
    const float dzo = dh * act_c * o * (1.0f - o);
    dcv += dh * o * fdact(act, alpha, act_c);
    if (peep)
        dcv += dzo * po[k];
    const float dza = dcv * i * fdact(act, alpha, a);
    const float dzf = dcv * c0 * f * (1.0f - f);
    const float dzi = dcv * a * i * (1.0f - i);
    float dcp = dcv * f;
    if (peep) {
        dcp += dzf * pf[k] + dzi * pi[k];
        dpf[k] += dzf * c0;
        dpo[k] += dzo * cc[k];
        dpi[k] += dzi * c0;
    }
    za[k] = dza;
    zf[k] = dzf;
    zo[k] = dzo;
    zi[k] = dzi;
    dc[k] = dcp;
}

INLINE void bwd_row(activation_kind act, bool peep, BWD_ROW_PARAMS)
{
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int64_t j = 0; j < 16; j++)
            bwd_unit(act, peep, k + j, BWD_ROW_ARGS);
    if (k + 8 <= n) {
        for (int64_t j = 0; j < 8; j++)
            bwd_unit(act, peep, k + j, BWD_ROW_ARGS);
        k += 8;
    }
    for (; k < n; k++)
        bwd_unit(act, peep, k, BWD_ROW_ARGS);
}

/* The instantiations, and tables of them by [activation][peepholes]. */
#define ROW_DEFS(K)                                                                             \
    VEC_CLONES static void fwd_row_##K##_0(FWD_ROW_PARAMS) { fwd_row(K, false, FWD_ROW_ARGS); }    \
    VEC_CLONES static void fwd_row_##K##_1(FWD_ROW_PARAMS) { fwd_row(K, true, FWD_ROW_ARGS); }     \
    VEC_CLONES static void bwd_row_##K##_0(BWD_ROW_PARAMS) { bwd_row(K, false, BWD_ROW_ARGS); }    \
    VEC_CLONES static void bwd_row_##K##_1(BWD_ROW_PARAMS) { bwd_row(K, true, BWD_ROW_ARGS); }
LSTM_ACTIVATIONS(ROW_DEFS)
#undef ROW_DEFS

#define FWD_ROW_ENTRY(K) [K] = {fwd_row_##K##_0, fwd_row_##K##_1},
#define BWD_ROW_ENTRY(K) [K] = {bwd_row_##K##_0, bwd_row_##K##_1},
static fwd_row_fn *const fwd_rows[ACT_COUNT][2] = {LSTM_ACTIVATIONS(FWD_ROW_ENTRY)};
static bwd_row_fn *const bwd_rows[ACT_COUNT][2] = {LSTM_ACTIVATIONS(BWD_ROW_ENTRY)};
#undef FWD_ROW_ENTRY
#undef BWD_ROW_ENTRY

/* One time step for all B examples. z [B, 4n]; cp, cn, hp, h, y, ac [B, n]; h == y when there
 * is no mask. A masked example keeps cp and hp and outputs zero. */
static void fwd_step(const cell_args *A, float *z, const float *cp, float *cn, const float *hp,
                     float *h, float *y, float *ac, const float *mask, int64_t B)
{
    const int64_t n = A->n, G = 4 * n;
    const size_t row = (size_t)n * sizeof(float);
    fwd_row_fn *fn = fwd_rows[A->act][A->pf != NULL];
    assert(fn && "activation refused by lstm_infer");
    const float *b = A->bias;
    for (int64_t r = 0; r < B; r++) {
        float *zr = z + r * G, *hr = h + r * n, *yr = y + r * n;
        if (mask && mask[r] == 0.0f) {
            assert(h != y);
            memcpy(cn + r * n, cp + r * n, row);
            memcpy(hr, hp + r * n, row);
            memset(yr, 0, row);
            continue;
        }
        fn(n, A->alpha, zr, zr + n, zr + 2 * n, zr + 3 * n, b, b + n, b + 2 * n, b + 3 * n,
           A->pf, A->po, A->pi, cp + r * n, cn + r * n, hr, ac + r * n);
        if (y != h)
            memcpy(yr, hr, row);
    }
}

/* One backward step for all B examples (arrays as fwd_step; dp [3n] with peepholes, else
 * NULL). A masked example passes dc on unchanged and gets no gate gradient. */
static void bwd_step(const cell_args *A, float *z, const float *cp, const float *cc,
                     const float *ac, const float *dy, const float *dhr, float *dc, float *dp,
                     const float *mask, int64_t B)
{
    const int64_t n = A->n, G = 4 * n;
    const bool peep = A->pf != NULL;
    bwd_row_fn *fn = bwd_rows[A->act][peep];
    assert(fn && "activation refused by lstm_infer");
    for (int64_t r = 0; r < B; r++) {
        float *zr = z + r * G;
        if (mask && mask[r] == 0.0f) {
            memset(zr, 0, (size_t)G * sizeof(float));
            continue;
        }
        const int64_t o = r * n;
        fn(n, A->alpha, zr, zr + n, zr + 2 * n, zr + 3 * n, A->pf, A->po, A->pi, cp + o, cc + o,
           ac + o, dy + o, dhr + o, dc + o, peep ? dp : NULL, peep ? dp + n : NULL,
           peep ? dp + 2 * n : NULL);
    }
}

/* ---- state --------------------------------------------------------------------------------- */

typedef struct fbuf {
    float *p;
    size_t cap;
} fbuf;

/* Ensures room for count floats (contents not kept). */
static int fbuf_need(fbuf *b, size_t count)
{
    if (count <= b->cap)
        return 0;
    float *p = malloc((count ? count : 1) * sizeof(float));
    if (!p)
        return -1;
    free(b->p);
    b->p = p;
    b->cap = count;
    return 0;
}

typedef struct lstm_state {
    fbuf z;         /* [T, B, 4n]: input projections, then gates (training), then dz */
    fbuf cs;        /* cell states: training [T, B, n]; inference 2 x [B, n] */
    fbuf hs;        /* hidden states when masked (else the output is the state): as cs */
    fbuf ac;        /* act(c): training [T, B, n]; inference [B, n] (scratch) */
    fbuf mask;      /* [T, B] copy (training) */
    fbuf h0, c0;    /* initial state of the last call [B, n] */
    fbuf hN, cN;    /* final state of the last call [B, n] (carry_state) */
    fbuf peep;      /* pf | po | pi [3n] */
    fbuf zb;        /* zeros [4n]: the gate bias of a layer without one */
    fbuf dh;        /* backward: 2 x [B, n] */
    fbuf dc;        /* backward: [B, n] */
    fbuf dp;        /* backward: peephole gradients [3n] */
    fbuf ones;      /* backward: [T * B] of 1 (bias gradient as a matrix-vector product) */
    tensor xr, yr, dyr, dxr;    /* reverse: the sequence, output and gradients, time reversed */
    fbuf mask_r;    /* reverse: the mask, time reversed [T, B] */
    bool have_carry;
    int64_t carry_b, carry_n;
    /* the cached training forward */
    bool cached, masked, from_carry;
    int64_t T, B, n_in, n;
} lstm_state;

void lstm_free_state(layer *L)
{
    lstm_state *s = L->state;
    if (!s)
        return;
    fbuf *all[] = {&s->z, &s->cs, &s->hs, &s->ac, &s->mask, &s->h0, &s->c0, &s->hN, &s->cN,
                   &s->peep, &s->zb, &s->dh, &s->dc, &s->dp, &s->ones, &s->mask_r};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->p);
    tensor *ts[] = {&s->xr, &s->yr, &s->dyr, &s->dxr};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        tensor_release(ts[i]);
    free(s);
    L->state = NULL;
}

/* ---- shape inference and layout ------------------------------------------------------------ */

int lstm_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg, size_t msg_len)
{
    const char *tn = L->type->name;
    if (n_in != 1) {
        snprintf(msg, msg_len, "%s takes exactly one input, got %d", tn, n_in);
        return -1;
    }
    if (in[0].kind == SHAPE_FF) {
        snprintf(msg, msg_len,
                 "%s needs a recurrent input [time, batch, features]; its input is feed-forward "
                 "[batch, %" PRId64 "]", tn, in[0].size);
        return -1;
    }
    if (in[0].kind == SHAPE_CNN) {
        snprintf(msg, msg_len,
                 "%s needs a recurrent input [time, batch, features]; its input is convolutional "
                 "[batch, %" PRId64 ", %" PRId64 ", %" PRId64 "]", tn, in[0].c, in[0].h, in[0].w);
        return -1;
    }
    if (L->n_in_given && L->n_in != in[0].size) {
        snprintf(msg, msg_len, "n_in %" PRId64 " does not match the input's %" PRId64
                 " features per step", L->n_in, in[0].size);
        return -1;
    }
    if (L->n_out < 1) {
        snprintf(msg, msg_len, "%s needs n_out (>= 1)", tn);
        return -1;
    }
    if (!fwd_rows[L->activation][0]) {
        snprintf(msg, msg_len, "%s cannot use activation %s (the cell needs an element-wise "
                 "activation whose derivative follows from its output: tanh, sigmoid, "
                 "hardsigmoid, relu, leakyrelu, elu, softplus, softsign or identity)", tn,
                 activation_names[L->activation]);
        return -1;
    }
    L->n_in = in[0].size;
    memset(out, 0, sizeof *out);
    out->kind = SHAPE_RNN;
    out->size = L->n_out;
    return 0;
}

int lstm_param_specs(const layer *L, param_spec *specs, bool peephole)
{
    const int64_t n = L->n_out, nin = L->n_in;
    const int64_t fan_in = n, fan_out = nin + n;   /* DL4J's LSTM parameter initializers */
    specs[0] = (param_spec){.key = "W", .role = PARAM_WEIGHT, .ndim = 2,
                            .shape = {nin, 4 * n}, .fan_in = fan_in, .fan_out = fan_out};
    const int64_t rw_cols = 4 * n + (peephole ? 3 : 0);
    specs[1] = (param_spec){.key = "RW", .role = PARAM_RECURRENT, .ndim = 2,
                            .shape = {n, rw_cols}, .fan_in = fan_in, .fan_out = fan_out};
    int k = 2;
    if (L->has_bias)
        specs[k++] = (param_spec){.key = "b", .role = PARAM_BIAS, .ndim = 1,
                                  .shape = {4 * n, 0}, .fan_in = fan_in, .fan_out = fan_out};
    if (lstm_initial_state(L)) {
        specs[k++] = (param_spec){.key = "h0", .role = PARAM_STATE, .ndim = 1, .shape = {n},
                                  .state_init = 0.0};
        specs[k++] = (param_spec){.key = "c0", .role = PARAM_STATE, .ndim = 1, .shape = {n},
                                  .state_init = 0.0};
    }
    return k;
}

bool lstm_initial_state(const layer *L)
{
    double v = 0;
    if (layer_option_find(L->type, "initial_state"))
        layer_option_get_values(&layer_opt_initial_state, L, &v);
    return v != 0;
}

/* h0 and c0 (zeros without the parameters) broadcast over the B rows of h and c. */
static void initial_state(const layer *L, float *h, float *c, int64_t B, int64_t n)
{
    const size_t Bn = (size_t)(B * n);
    if (!lstm_initial_state(L)) {
        memset(h, 0, Bn * sizeof(float));
        memset(c, 0, Bn * sizeof(float));
        return;
    }
    const int k = L->has_bias ? 3 : 2;
    for (int64_t r = 0; r < B; r++) {
        memcpy(h + r * n, L->params[k].data, (size_t)n * sizeof(float));
        memcpy(c + r * n, L->params[k + 1].data, (size_t)n * sizeof(float));
    }
}


/* ---- forward ------------------------------------------------------------------------------- */

static lstm_state *state_get(layer *L)
{
    if (!L->state)
        L->state = calloc(1, sizeof(lstm_state));
    return L->state;
}

/* Reports a failed allocation through c->err (when given); returns -1. */
static int fwd_oom(const layer *L, const fwd_ctx *c)
{
    if (c->err && c->err_len)
        snprintf(c->err, c->err_len, "%s: out of memory for its workspace (%" PRId64
                 " steps, %" PRId64 " examples, %" PRId64 " units)", L->type->name,
                 c->in[0]->shape[0], c->in[0]->shape[1], L->n_out);
    return -1;
}

int lstm_forward(layer *L, const fwd_ctx *c, bool peephole)
{
    assert(c->n_in == 1 && c->in[0]->ndim == 3);
    const tensor *xin = c->in[0];
    const int64_t T = xin->shape[0], B = xin->shape[1], nin = xin->shape[2];
    const int64_t n = L->n_out, G = 4 * n, ldr = peephole ? G + 3 : G;
    const bool init = lstm_initial_state(L);
    assert(nin == L->n_in && L->n_params == (L->has_bias ? 3 : 2) + (init ? 2 : 0));
    assert(c->out->size == T * B * n);
    assert(L->params[1].shape[1] == ldr);
    lstm_state *s = state_get(L);
    if (!s)
        return fwd_oom(L, c);
    s->cached = false;
    if (T == 0 || B == 0) {
        /* nothing to compute; a training call still pairs with a (trivial) backward */
        s->cached = c->training;
        s->T = T;
        s->B = B;
        s->n_in = nin;
        s->n = n;
        return 0;
    }

    const bool train = c->training, masked = c->mask != NULL;
    const size_t TB = (size_t)(T * B), Bn = (size_t)(B * n);
    const size_t steps = train ? (size_t)T : 2;
    if (fbuf_need(&s->z, TB * (size_t)G) || fbuf_need(&s->cs, steps * Bn) ||
        (masked && fbuf_need(&s->hs, steps * Bn)) ||
        fbuf_need(&s->ac, train ? TB * (size_t)n : Bn) ||
        (train && masked && fbuf_need(&s->mask, TB)) ||
        fbuf_need(&s->h0, Bn) || fbuf_need(&s->c0, Bn) || fbuf_need(&s->hN, Bn) ||
        fbuf_need(&s->cN, Bn) || (peephole && fbuf_need(&s->peep, 3 * (size_t)n)) ||
        (!L->has_bias && fbuf_need(&s->zb, (size_t)G)))
        return fwd_oom(L, c);

    const float *W = L->params[0].data, *RW = L->params[1].data;
    const float *bias = L->params[2].data;
    if (!L->has_bias) {
        memset(s->zb.p, 0, (size_t)G * sizeof(float));
        bias = s->zb.p;
    }
    cell_args A = {.n = n, .act = L->activation,
                   .alpha = (float)act_alpha(L->activation, L->alpha), .bias = bias};
    if (peephole) {
        float *p = s->peep.p;
        for (int64_t k = 0; k < n; k++) {
            p[k] = RW[k * ldr + G];
            p[n + k] = RW[k * ldr + G + 1];
            p[2 * n + k] = RW[k * ldr + G + 2];
        }
        A.pf = p;
        A.po = p + n;
        A.pi = p + 2 * n;
    }

    const float *x = xin->data;

    const bool carry = c->carry_state && s->have_carry && s->carry_b == B && s->carry_n == n;
    if (carry) {
        memcpy(s->h0.p, s->hN.p, Bn * sizeof(float));
        memcpy(s->c0.p, s->cN.p, Bn * sizeof(float));
    } else {
        initial_state(L, s->h0.p, s->c0.p, B, n);
    }

    /* the input projection of every step at once */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, (int)G, (int)nin, 1.0f, x,
                (int)nin, W, (int)G, 0.0f, s->z.p, (int)G);

    /* the time loop: each step adds h[t-1] RW[:, 0:4n] to its projection (nothing to add at
     * the first step of a sequence that starts from zeros), then runs the gate loop */
    const float *hp = s->h0.p, *cp = s->c0.p;
    float *out = c->out->data;
    for (int64_t t = 0; t < T; t++) {
        float *zt = s->z.p + (size_t)t * B * G;
        const size_t slot = train ? (size_t)t : (size_t)(t & 1);
        float *ct = s->cs.p + slot * Bn;
        float *yt = out + (size_t)t * Bn;
        float *ht = masked ? s->hs.p + slot * Bn : yt;
        if (t > 0 || carry || init)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)G, (int)n, 1.0f,
                        hp, (int)n, RW, (int)ldr, 1.0f, zt, (int)G);
        float *act = train ? s->ac.p + (size_t)t * Bn : s->ac.p;
        fwd_step(&A, zt, cp, ct, hp, ht, yt, act, masked ? c->mask + (size_t)t * B : NULL, B);
        hp = ht;
        cp = ct;
    }
    memcpy(s->hN.p, hp, Bn * sizeof(float));
    memcpy(s->cN.p, cp, Bn * sizeof(float));
    s->have_carry = true;
    s->carry_b = B;
    s->carry_n = n;

    if (train) {
        if (masked)
            memcpy(s->mask.p, c->mask, TB * sizeof(float));
        s->cached = true;
        s->masked = masked;
        s->from_carry = carry || init;   /* h[-1] is not zero: RW's gradient takes it */
        s->T = T;
        s->B = B;
        s->n_in = nin;
        s->n = n;
    }
    return 0;
}

/* ---- backward ------------------------------------------------------------------------------ */

int lstm_backward(layer *L, const bwd_ctx *c, bool peephole)
{
    lstm_state *s = L->state;
    assert(s && s->cached && "lstm backward without a training forward");
    const int64_t T = s->T, B = s->B, nin = s->n_in, n = s->n, G = 4 * n;
    const int64_t ldr = peephole ? G + 3 : G;
    assert(c->dout->size == T * B * n && n == L->n_out);
    const size_t TB = (size_t)(T * B), Bn = (size_t)(B * n);
    float *dx_out = c->din && c->din[0] ? c->din[0]->data : NULL;
    if (fbuf_need(&s->dh, 2 * Bn) || fbuf_need(&s->dc, Bn) ||
        (peephole && fbuf_need(&s->dp, 3 * (size_t)n)) || fbuf_need(&s->ones, TB))
        return -1;
    s->cached = false;
    if (T == 0 || B == 0)
        return 0;

    const float *RW = L->params[1].data;
    cell_args A = {.n = n, .act = L->activation,
                   .alpha = (float)act_alpha(L->activation, L->alpha)};
    float *dp = NULL;
    if (peephole) {
        A.pf = s->peep.p;
        A.po = s->peep.p + n;
        A.pi = s->peep.p + 2 * n;
        dp = s->dp.p;
        memset(dp, 0, 3 * (size_t)n * sizeof(float));
    }

    /* backpropagation through time: at each step the gate loop turns the gates into dz, and
     * dz RW[:, 0:4n]^T is the gradient reaching h[t-1] through the recurrence */
    float *dc = s->dc.p, *dh_cur = s->dh.p, *dh_next = s->dh.p + Bn;
    memset(dh_cur, 0, Bn * sizeof(float));
    memset(dc, 0, Bn * sizeof(float));
    const float *dout = c->dout->data;
    for (int64_t t = T - 1; t >= 0; t--) {
        float *zt = s->z.p + (size_t)t * B * G;
        const float *cc = s->cs.p + (size_t)t * Bn;
        const float *cp = t > 0 ? cc - Bn : s->c0.p;
        const float *mt = s->masked ? s->mask.p + (size_t)t * B : NULL;
        bwd_step(&A, zt, cp, cc, s->ac.p + (size_t)t * Bn, dout + (size_t)t * Bn, dh_cur, dc, dp,
                 mt, B);
        if (t == 0)
            break;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)n, (int)G, 1.0f, zt,
                    (int)G, RW, (int)ldr, 0.0f, dh_next, (int)n);
        if (mt)
            for (int64_t r = 0; r < B; r++)
                if (mt[r] == 0.0f)      /* h[t] was h[t-1]: its gradient passes on unchanged */
                    memcpy(dh_next + r * n, dh_cur + r * n, (size_t)n * sizeof(float));
        float *tmp = dh_cur;
        dh_cur = dh_next;
        dh_next = tmp;
    }

    /* z now holds dL/dz for every step and example */
    float *z = s->z.p;
    const float *x = c->in[0]->data;
    if (c->grads) {
        float *dW = c->grads[0].data, *dRW = c->grads[1].data;
        float *db = L->has_bias ? c->grads[2].data : NULL;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nin, (int)G, (int)TB, 1.0f, x,
                    (int)nin, z, (int)G, 1.0f, dW, (int)G);
        if (s->from_carry)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)G, (int)B, 1.0f,
                        s->h0.p, (int)n, z, (int)G, 1.0f, dRW, (int)ldr);
        if (T > 1) {
            const float *H = s->masked ? s->hs.p : c->out->data;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)G, (int)((T - 1) * B),
                        1.0f, H, (int)n, z + (size_t)B * G, (int)G, 1.0f, dRW, (int)ldr);
        }
        if (db) {
            float *ones = s->ones.p;
            for (size_t j = 0; j < TB; j++)
                ones[j] = 1.0f;
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)TB, (int)G, 1.0f, z, (int)G, ones, 1,
                        1.0f, db, 1);
        }
        if (peephole)
            for (int64_t k = 0; k < n; k++) {
                dRW[k * ldr + G] += dp[k];
                dRW[k * ldr + G + 1] += dp[n + k];
                dRW[k * ldr + G + 2] += dp[2 * n + k];
            }
    }
    if (dx_out) {
        /* dx += dz W^T */
        const float *W = L->params[0].data;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, (int)nin, (int)G, 1.0f, z,
                    (int)G, W, (int)G, 1.0f, dx_out, (int)nin);
    }
    return 0;
}

/* ---- the reversed sequence ----------------------------------------------------------------- */

bool lstm_reversed(const layer *L)
{
    double v = 0;
    if (layer_option_find(L->type, "reverse"))
        layer_option_get_values(&layer_opt_reverse, L, &v);
    return v != 0;
}

void lstm_add_reversed(const tensor *src, tensor *dst)
{
    const int64_t T = src->shape[0], step = T > 0 ? src->size / T : 0;
    for (int64_t t = 0; t < T; t++) {
        float *d = dst->data + t * step;
        const float *from = src->data + (T - 1 - t) * step;
        for (int64_t k = 0; k < step; k++)
            d[k] += from[k];
    }
}

void lstm_reverse_time(const tensor *src, tensor *dst)
{
    const int64_t T = src->shape[0], step = src->size / (T > 0 ? T : 1);
    for (int64_t t = 0; t < T; t++)
        memcpy(dst->data + t * step, src->data + (T - 1 - t) * step, (size_t)step * sizeof(float));
}

void lstm_reverse_mask(const float *mask, int64_t T, int64_t B, float *dst)
{
    for (int64_t t = 0; t < T; t++)
        memcpy(dst + t * B, mask + (T - 1 - t) * B, (size_t)B * sizeof(float));
}

int lstm_tensor_like(tensor *t, int64_t T, int64_t B, int64_t F)
{
    if (t->data && t->ndim == 3 && t->shape[0] == T && t->shape[1] == B && t->shape[2] == F)
        return 0;
    tensor_release(t);
    return tensor_alloc3(t, T, B, F);
}

int lstm_forward_reversed(layer *L, const fwd_ctx *c, bool peephole)
{
    const tensor *x = c->in[0];
    const int64_t T = x->shape[0], B = x->shape[1], F = x->shape[2], n = L->n_out;
    if (T == 0 || B == 0)
        return lstm_forward(L, c, peephole);
    lstm_state *s = state_get(L);
    if (!s || lstm_tensor_like(&s->xr, T, B, F) || lstm_tensor_like(&s->yr, T, B, n) ||
        (c->mask && fbuf_need(&s->mask_r, (size_t)(T * B))))
        return fwd_oom(L, c);
    lstm_reverse_time(x, &s->xr);
    if (c->mask)
        lstm_reverse_mask(c->mask, T, B, s->mask_r.p);
    const tensor *xr[1] = {&s->xr};
    fwd_ctx cr = *c;
    cr.in = xr;
    cr.out = &s->yr;
    cr.mask = c->mask ? s->mask_r.p : NULL;
    cr.carry_state = false;     /* a reversed pass starts at the sequence's end */
    if (lstm_forward(L, &cr, peephole))
        return -1;
    lstm_reverse_time(&s->yr, c->out);
    return 0;
}

int lstm_backward_reversed(layer *L, const bwd_ctx *c, bool peephole)
{
    lstm_state *s = L->state;
    assert(s && s->cached && "lstm backward without a training forward");
    const int64_t T = s->T, B = s->B, F = s->n_in, n = s->n;
    if (T == 0 || B == 0)
        return lstm_backward(L, c, peephole);
    tensor *din = c->din ? c->din[0] : NULL;
    if (lstm_tensor_like(&s->dyr, T, B, n) || (din && lstm_tensor_like(&s->dxr, T, B, F)))
        return -1;
    lstm_reverse_time(c->dout, &s->dyr);
    tensor *dxr = NULL;
    if (din) {
        memset(s->dxr.data, 0, (size_t)s->dxr.size * sizeof(float));
        dxr = &s->dxr;
    }
    const tensor *xr[1] = {&s->xr};
    bwd_ctx cr = *c;
    cr.in = xr;
    cr.out = &s->yr;
    cr.dout = &s->dyr;
    cr.din = &dxr;
    cr.mask = c->mask ? s->mask_r.p : NULL;
    if (lstm_backward(L, &cr, peephole))
        return -1;
    if (din)
        lstm_add_reversed(&s->dxr, din);
    return 0;
}
